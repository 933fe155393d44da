//! The in-process parts of a run, with criterion: loading the built-in suites and a target,
//! templating, evaluating checks on a real answer of the reference server, and writing the
//! reports of a large run. `cargo bench --bench inprocess`; figures in BENCHMARKS.md.

use std::collections::HashMap;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::{json, Value};

use smartcheck::app::Environment;
use smartcheck::check::eval;
use smartcheck::http::RecordedResponse;
use smartcheck::reference::{Config, Faults, ReferenceServer};
use smartcheck::report::model::RunReport;
use smartcheck::suite::template::Template;

fn environment() -> Environment {
    let vars: HashMap<String, String> = [
        ("SMARTCHECK_REFERENCE_FHIR_BASE", "http://127.0.0.1:9/fhir"),
        ("SMARTCHECK_REFERENCE_ORIGIN", "http://127.0.0.1:9"),
        ("SMARTCHECK_REFERENCE_PASSWORD", "demo-password"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Environment {
        vars,
        stderr_is_terminal: false,
        stdout_is_terminal: false,
    }
}

fn loading(c: &mut Criterion) {
    c.bench_function("load: every built-in suite", |b| {
        b.iter(|| black_box(smartcheck::builtin::suites().expect("the built-in suites load")))
    });
    let env = environment();
    c.bench_function("load: the reference target", |b| {
        b.iter(|| black_box(smartcheck::builtin::reference_target(&env).expect("it loads")))
    });
}

/// The reference server's smart-configuration, fetched for real.
fn smart_configuration() -> (String, RecordedResponse) {
    let server = ReferenceServer::start(
        "127.0.0.1",
        0,
        Config {
            faults: Faults::none(),
            debug_endpoints: false,
            ..Default::default()
        },
    )
    .expect("the reference server starts");
    let url = format!("{}/.well-known/smart-configuration", server.fhir_base());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (status, headers, body) = runtime.block_on(async {
        let response = reqwest::get(&url).await.expect("an answer");
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        (status, headers, response.text().await.expect("a body"))
    });
    (
        server.fhir_base(),
        RecordedResponse {
            status,
            headers,
            body_bytes: body.len(),
            body,
        },
    )
}

/// A case context as the runner builds it: the discovery step's answer and the target.
fn context(fhir_base: &str, response: &RecordedResponse) -> Value {
    let document: Value = serde_json::from_str(&response.body).expect("JSON");
    json!({
        "steps": { "config": { "status": response.status, "json": document } },
        "target": { "fhir-base": fhir_base, "vars": { "patient": "smart-1288992" }, "read-scope": "rs" },
        "vars": {},
    })
}

fn templating(c: &mut Criterion) {
    let (base, response) = smart_configuration();
    let context = context(&base, &response);
    let text = "{{ steps.config.json.authorization_endpoint }}?aud={{ target.fhir-base }}&patient={{ target.vars.patient }}&scope=patient/*.{{ target.read-scope }}";
    c.bench_function("template: parse", |b| {
        b.iter(|| black_box(Template::parse(black_box(text)).expect("parses")))
    });
    let template = Template::parse(text).expect("parses");
    c.bench_function("template: render a URL with four values", |b| {
        b.iter(|| black_box(template.render_string(&context).expect("renders")))
    });
}

fn checks(c: &mut Criterion) {
    let (base, response) = smart_configuration();
    let context = context(&base, &response);
    let suites = smartcheck::builtin::suites().expect("the built-in suites load");
    let discovery = suites
        .iter()
        .find(|s| s.suite == "smart-discovery")
        .expect("the discovery suite");
    let case = discovery
        .cases
        .iter()
        .find(|c| c.id == "smart-configuration")
        .expect("its smart-configuration case");
    let step = &case.steps[0];
    let groups = smartcheck::suite::load::builtin_groups();
    let checks: Vec<_> = step
        .use_checks
        .iter()
        .filter_map(|g| groups.get(g))
        .flatten()
        .chain(step.checks.iter())
        .collect();
    assert!(checks.len() > 10, "{} checks", checks.len());
    c.bench_function(
        &format!(
            "checks: the {} smart-configuration checks on a real answer",
            checks.len()
        ),
        |b| {
            b.iter(|| {
                for check in &checks {
                    black_box(eval::evaluate(check, &response, &context));
                }
            })
        },
    );
}

/// The golden report's cases, copied to `targets` targets.
fn large_report(targets: usize) -> RunReport {
    let text = std::fs::read_to_string("tests/golden/results.json").expect("the golden report");
    let mut report: RunReport = serde_json::from_str(&text).expect("a report");
    let one = std::mem::take(&mut report.cases);
    for t in 0..targets {
        for case in &one {
            let mut case = case.clone();
            case.target = format!("sandbox-{t}");
            case.name = case.name.replacen("reference", &case.target, 1);
            report.cases.push(case);
        }
    }
    report.summary = RunReport::summarize(&report.cases);
    report
}

fn reports(c: &mut Criterion) {
    let report = large_report(100);
    let cases = report.cases.len();
    let mut group = c.benchmark_group(format!("reports of {cases} cases"));
    group.sample_size(20);
    group.bench_function("JSON", |b| {
        b.iter(|| black_box(smartcheck::report::json::to_json(&report).expect("JSON")))
    });
    group.bench_function("JUnit XML", |b| {
        b.iter(|| black_box(smartcheck::report::junit::to_xml(&report).expect("XML")))
    });
    group.bench_function("HTML", |b| {
        b.iter(|| black_box(smartcheck::report::html::to_html(&report, None)))
    });
    group.bench_function("redaction", |b| {
        let redactor = smartcheck::redact::Redactor::default();
        b.iter_batched(
            || report.clone(),
            |r| black_box(r.redacted(&redactor)),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, loading, templating, checks, reports);
criterion_main!(benches);
