//! How fast the server answered: per target and endpoint, the count, median, 95th percentile
//! and maximum of the exchanges' durations (those that got an answer), from the report itself
//! (so a merged report has them too).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::CaseReport;

/// The latency of one endpoint of one target (`endpoint` is `* ` for the target as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    pub target: String,
    /// `GET https://ehr.example.org/fhir/Patient/{id}`: method, origin and path, with ids
    /// folded and the query left out.
    pub endpoint: String,
    pub count: usize,
    pub median_ms: u64,
    pub p95_ms: u64,
    pub max_ms: u64,
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
}
