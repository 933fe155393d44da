//! `--metrics PATH`: the run in the Prometheus text format, read back by the Prometheus
//! project's own text-format parser (Python's `prometheus_client`), with the counts of the JSON
//! report, per target.

use std::process::Command;

#[test]
fn the_metrics_file_parses_as_prometheus_text_with_the_runs_counts() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("smartcheck.prom");
    // The demo with a fault that fails a check: a pass ratio below one.
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args([
            "demo",
            "--color",
            "never",
            "--fault",
            "pkce-plain-advertised",
        ])
        .arg("smart-discovery::")
        .arg("--report-dir")
        .arg(dir.path())
        .arg("--metrics")
        .arg(&metrics)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    assert family.type == "gauge", family.name
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}|{labels}|{s.value}")
"#;
    let python = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&metrics)
        .output()
        .expect("python3 runs (install it, and `pip install prometheus-client`)");
    assert!(
        python.status.success(),
        "the Prometheus parser could not read the metrics (is it installed? `pip install prometheus-client`): {}",
        String::from_utf8_lossy(&python.stderr)
    );
    let samples = String::from_utf8_lossy(&python.stdout).to_string();
    let value = |name: &str, labels: &str| -> f64 {
        samples
            .lines()
            .find_map(|l| {
                let mut parts = l.split('|');
                (parts.next() == Some(name) && parts.next() == Some(labels))
                    .then(|| parts.next().unwrap().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no {name}{{{labels}}} in\n{samples}"))
    };
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    let checks = &report["summary"]["checks"];
    let n = |k: &str| checks[k].as_f64().unwrap();
    for verdict in ["passed", "failed", "warned", "errored", "skipped"] {
        assert_eq!(
            value(
                "smartcheck_checks",
                &format!("target=reference,verdict={verdict}")
            ),
            n(verdict),
            "{verdict}"
        );
    }
    assert!(n("failed") >= 1.0);
    let judged = n("passed") + n("warned") + n("failed") + n("errored");
    let ratio = value("smartcheck_target_pass_ratio", "target=reference");
    assert!((ratio - (n("passed") + n("warned")) / judged).abs() < 1e-9);
    assert!(ratio < 1.0);
    assert!(value("smartcheck_answers", "endpoint=*,target=reference") > 0.0);
    assert_eq!(
        value(
            "smartcheck_run_info",
            &format!(
                "interrupted=false,strict=false,version={}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    // Listed with the reports.
    let console = String::from_utf8_lossy(&out.stdout);
    assert!(console.contains("smartcheck.prom"), "{console}");
}
