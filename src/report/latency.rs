//! How fast the server answered: per target and endpoint, the count, median, 95th percentile
//! and maximum of the exchanges' durations (those that got an answer), from the report itself
//! (so a merged report has them too).

use std::collections::BTreeMap;

use super::model::CaseReport;

pub use super::model::{Latency, TimeSplit};

impl TimeSplit {
    pub fn of(cases: &[CaseReport], wall_ms: u64) -> TimeSplit {
        let mut split = TimeSplit {
            wall_ms,
            ..TimeSplit::default()
        };
        for case in cases {
            split.cases_ms += case.duration_ms;
            for step in &case.steps {
                split.browser_ms += step.browser_ms;
                for exchange in step.exchange.iter().chain(&step.related) {
                    split.server_ms += exchange.duration_ms;
                }
            }
        }
        split.harness_ms = split
            .cases_ms
            .saturating_sub(split.server_ms + split.browser_ms);
        split
    }

    /// `case time 41.2 s in 12.0 s wall: server 30.1 s (73%), browser 9.0 s (22%), harness 2.1 s (5%)`
    pub fn describe(&self) -> String {
        let secs = |ms: u64| format!("{:.1} s", ms as f64 / 1000.0);
        let share = |ms: u64| {
            (ms * 100 + self.cases_ms / 2)
                .checked_div(self.cases_ms)
                .unwrap_or(0)
        };
        format!(
            "case time {} in {} wall: server {} ({}%), browser {} ({}%), harness {} ({}%)",
            secs(self.cases_ms),
            secs(self.wall_ms),
            secs(self.server_ms),
            share(self.server_ms),
            secs(self.browser_ms),
            share(self.browser_ms),
            secs(self.harness_ms),
            share(self.harness_ms)
        )
    }
}

/// Per target, the whole first, then each endpoint in name order.
pub fn of(cases: &[CaseReport]) -> Vec<Latency> {
    let mut by_endpoint: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for case in cases {
        for step in &case.steps {
            for exchange in step.exchange.iter().chain(&step.related) {
                if exchange.response.is_none() {
                    continue;
                }
                let endpoint = endpoint_of(&exchange.request.method, &exchange.request.url);
                for key in [endpoint, "*".to_string()] {
                    by_endpoint
                        .entry((case.target.clone(), key))
                        .or_default()
                        .push(exchange.duration_ms);
                }
            }
        }
    }
    let mut out: Vec<Latency> = by_endpoint
        .into_iter()
        .map(|((target, endpoint), mut durations)| {
            durations.sort_unstable();
            Latency {
                target,
                endpoint,
                count: durations.len(),
                median_ms: nearest_rank(&durations, 50),
                p95_ms: nearest_rank(&durations, 95),
                max_ms: *durations.last().unwrap_or(&0),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.target
            .cmp(&b.target)
            .then((b.endpoint == "*").cmp(&(a.endpoint == "*")))
            .then(a.endpoint.cmp(&b.endpoint))
    });
    out
}

/// The nearest-rank percentile of sorted values.
fn nearest_rank(sorted: &[u64], percent: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// `METHOD origin/path` with identifiers folded to `{id}`: a path segment with three or more
/// digits, or of 20 characters or more (resource ids, client ids, tokens in paths).
fn endpoint_of(method: &str, url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return format!("{method} {url}");
    };
    let path: Vec<String> = parsed
        .path_segments()
        .map(|segments| {
            segments
                .map(|s| {
                    let digits = s.chars().filter(char::is_ascii_digit).count();
                    if digits >= 3 || s.len() >= 20 {
                        "{id}".to_string()
                    } else {
                        s.to_string()
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "{method} {}/{}",
        parsed.origin().ascii_serialization(),
        path.join("/")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u64> = (1..=20).collect();
        assert_eq!(nearest_rank(&values, 50), 10);
        assert_eq!(nearest_rank(&values, 95), 19);
        assert_eq!(nearest_rank(&[7], 95), 7);
        assert_eq!(nearest_rank(&[], 50), 0);
    }

    #[test]
    fn ids_are_folded_and_queries_dropped() {
        assert_eq!(
            endpoint_of(
                "GET",
                "http://127.0.0.1:8080/fhir/Patient/smart-1288992?_format=json"
            ),
            "GET http://127.0.0.1:8080/fhir/Patient/{id}"
        );
        assert_eq!(
            endpoint_of("POST", "http://127.0.0.1:8080/oauth/token"),
            "POST http://127.0.0.1:8080/oauth/token"
        );
    }

    #[test]
    fn case_time_splits_into_server_browser_and_the_rest() {
        let golden: crate::report::RunReport =
            serde_json::from_str(include_str!("../../tests/golden/results.json")).unwrap();
        let mut cases = golden.cases.clone();
        for case in &mut cases {
            case.duration_ms = 1000;
            for step in &mut case.steps {
                step.browser_ms = 100;
                for exchange in step.exchange.iter_mut().chain(step.related.iter_mut()) {
                    exchange.duration_ms = 10;
                }
            }
        }
        let steps: u64 = cases.iter().map(|c| c.steps.len() as u64).sum();
        let exchanges: u64 = cases
            .iter()
            .flat_map(|c| &c.steps)
            .map(|s| s.exchange.iter().count() as u64 + s.related.len() as u64)
            .sum();
        assert!(exchanges > 0);
        let split = TimeSplit::of(&cases, 500);
        assert_eq!(split.wall_ms, 500);
        assert_eq!(split.cases_ms, 1000 * cases.len() as u64);
        assert_eq!(split.server_ms, 10 * exchanges);
        assert_eq!(split.browser_ms, 100 * steps);
        assert_eq!(
            split.harness_ms,
            split.cases_ms - split.server_ms - split.browser_ms
        );
        assert!(
            split.describe().starts_with("case time "),
            "{}",
            split.describe()
        );
    }
}
