//! Test servers written for one behaviour each: a recorder on a loopback address that keeps
//! every request it gets and answers as a function of the path, and a run of smartcheck on a
//! target written for one test.
// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;

/// Every request one server received, as text (method, URI, headers, body).
pub type Log = Arc<Mutex<Vec<String>>>;

/// How a recorder answers: (path, request body, its own address, the other server's address).
pub type Answer = fn(&str, &str, SocketAddr, SocketAddr) -> Response;

pub struct Recorder {
    pub addr: SocketAddr,
    pub log: Log,
    _runtime: tokio::runtime::Runtime,
}

/// A server on `ip` that records every request and answers with `answer`; `other` is passed
/// on to it (another server's address).
pub fn recorder(ip: &str, answer: Answer, other: SocketAddr) -> Recorder {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let log: Log = Arc::default();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(format!("{ip}:0")))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let state = (log.clone(), addr, other, answer);
    async fn handle(
        State((log, own, other, answer)): State<(Log, SocketAddr, SocketAddr, Answer)>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let mut text = format!("{method} {uri}\n");
        for (n, v) in &headers {
            text.push_str(&format!("{n}: {}\n", String::from_utf8_lossy(v.as_bytes())));
        }
        text.push_str(&String::from_utf8_lossy(&body));
        log.lock().unwrap().push(text);
        answer(uri.path(), &String::from_utf8_lossy(&body), own, other)
    }
    let app = axum::Router::new().fallback(handle).with_state(state);
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Recorder {
        addr,
        log,
        _runtime: runtime,
    }
}

/// Writes `target` (YAML) as `dir/target.yaml` and runs `smartcheck run` on it with `args`
/// and `env`, the reports in `dir`, no colour.
pub fn run_target(
    dir: &std::path::Path,
    target: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let path = dir.join("target.yaml");
    std::fs::write(&path, target).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["run", "--target"])
        .arg(&path)
        .args(["--color", "never", "--report-dir"])
        .arg(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("smartcheck runs")
}

/// `smartcheck run` of the reference target pointed at a port where nothing listens (every
/// case that runs errors at once), the reports in `dir`.
pub fn run_unreachable_reference(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .args(["run", "--target", "fixtures/targets/reference.yaml"])
        .arg("--report-dir")
        .arg(dir)
        .args(args)
        .env("SMARTCHECK_REFERENCE_FHIR_BASE", "http://127.0.0.1:9/fhir")
        .env("SMARTCHECK_REFERENCE_ORIGIN", "http://127.0.0.1:9")
        .env("SMARTCHECK_REFERENCE_PASSWORD", "unused")
        .output()
        .expect("smartcheck runs")
}

/// The reference server on a free loopback port with these faults and its debug endpoints.
pub fn reference_server(faults: &[&str]) -> smartcheck::reference::ReferenceServer {
    smartcheck::reference::ReferenceServer::start(
        "127.0.0.1",
        0,
        smartcheck::reference::Config {
            faults: smartcheck::reference::Faults::parse(faults).unwrap(),
            debug_endpoints: true,
            ..Default::default()
        },
    )
    .unwrap()
}

/// The reference target file's text, pointed at `server` (its password still read from
/// `SMARTCHECK_REFERENCE_PASSWORD`).
pub fn reference_target_for(server: &smartcheck::reference::ReferenceServer) -> String {
    std::fs::read_to_string("fixtures/targets/reference.yaml")
        .unwrap()
        .replace("${SMARTCHECK_REFERENCE_FHIR_BASE}", &server.fhir_base())
        .replace("${SMARTCHECK_REFERENCE_ORIGIN}", &server.origin())
}
