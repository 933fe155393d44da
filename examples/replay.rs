//! The practical floor for a run without a browser: the HTTP exchanges of a smartcheck report,
//! sent again one after another with one keep-alive client and nothing else (no suites, no
//! templates, no checks, no reports). `scripts/bench` compares a run with its replay.
//!
//!     cargo run --release --example replay -- reports/results.json
//!
//! Requests go out as the report recorded them, so with their secrets masked: an answer may be a
//! refusal where the run got a success. Only the server's own origins are replayed (the
//! harness's listeners are gone when the run ends). Prints the count and the seconds taken.

use std::time::Instant;

use smartcheck::report::model::RunReport;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: replay RESULTS_JSON");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("replay: cannot read {path}: {e}");
            std::process::exit(2);
        }
    };
    let report: RunReport = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("replay: {path} is not a smartcheck report: {e}");
            std::process::exit(2);
        }
    };
    let servers: Vec<String> = report
        .targets
        .iter()
        .filter_map(|t| url::Url::parse(&t.fhir_base).ok())
        .map(|u| u.origin().ascii_serialization())
        .collect();
    let requests: Vec<_> = report
        .cases
        .iter()
        .flat_map(|c| c.steps.iter())
        .flat_map(|s| s.exchange.iter().chain(s.related.iter()))
        .map(|e| e.request.clone())
        .filter(|r| {
            url::Url::parse(&r.url)
                .is_ok_and(|u| servers.contains(&u.origin().ascii_serialization()))
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let started = Instant::now();
    let mut answered = 0;
    runtime.block_on(async {
        for request in &requests {
            let Ok(method) = reqwest::Method::from_bytes(request.method.as_bytes()) else {
                continue;
            };
            let mut builder = client.request(method, &request.url);
            for (name, value) in &request.headers {
                // The client sets these itself.
                if !name.eq_ignore_ascii_case("content-length")
                    && !name.eq_ignore_ascii_case("host")
                {
                    builder = builder.header(name, value);
                }
            }
            if let Some(body) = &request.body {
                builder = builder.body(body.clone());
            }
            if let Ok(response) = builder.send().await {
                if response.bytes().await.is_ok() {
                    answered += 1;
                }
            }
        }
    });
    println!(
        "{} requests, {answered} answered, in {:.3} s",
        requests.len(),
        started.elapsed().as_secs_f64()
    );
}
