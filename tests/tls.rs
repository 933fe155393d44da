//! TLS as a user meets it: a server with a self-signed certificate is refused by default with
//! the cause and the fix (`tls.ca-file`) named; with that CA file the same server is checked;
//! an expired certificate is named as such; `tls.insecure: true` works but every report and the
//! console say the certificates were not verified.

use std::net::SocketAddr;
mod common;

use std::sync::Arc;

struct Served {
    addr: SocketAddr,
    ca_pem: String,
    _runtime: tokio::runtime::Runtime,
}

/// An https server on loopback whose certificate (for 127.0.0.1) is signed by a new CA, valid
/// now or expired; it answers every request with a small smart-configuration.
/// How long the server's certificate is valid.
enum Validity {
    /// rcgen's default: until 4096.
    Long,
    Expired,
    /// Expires this many days from now.
    Days(i64),
    /// The server's certificate is a self-signed CA certificate (basicConstraints CA:TRUE),
    /// given as the CA file too: what `openssl req -x509` makes by default.
    SelfSignedCa,
}

fn https_server(validity: Validity) -> Served {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "smartcheck test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    match validity {
        Validity::Long => {}
        Validity::Expired => {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        Validity::SelfSignedCa => {}
        Validity::Days(days) => {
            use chrono::Datelike;
            let end = chrono::Utc::now() + chrono::Duration::days(days);
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
        }
    }
    let (cert_der, ca_pem) = if let Validity::SelfSignedCa = validity {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let own = params.self_signed(&key).unwrap();
        (own.der().clone(), own.pem())
    } else {
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        (cert.der().clone(), ca.pem())
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert_der],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut seen = Vec::new();
                let mut buffer = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buffer[..n]),
                    }
                }
                let body = format!("{{\"issuer\": \"https://{addr}\"}}");
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Served {
        addr,
        ca_pem,
        _runtime: runtime,
    }
}

/// Runs the discovery suite's smart-configuration case; returns (console, results.json text).
fn run(served: &Served, tls: &str) -> (String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &served.ca_pem).unwrap();
    let target = format!(
        "name: tls\nfhir-base: https://{}/fhir\ntimeouts:\n  connect: 2s\n  request: 5s\n{}",
        served.addr,
        tls.replace("CA_FILE", ca.to_str().unwrap())
    );
    let out = common::run_target(
        dir.path(),
        &target,
        &[
            "--suite",
            "suites/smart-discovery.yaml",
            "--exact",
            "tls::smart-discovery::smart-configuration",
        ],
        &[],
    );
    let json = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        json,
        junit,
    )
}

fn status_verdict(json: &str) -> String {
    let report: serde_json::Value = serde_json::from_str(json).unwrap();
    report["cases"][0]["steps"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "smart-config-status")
        .map(|c| c["verdict"].as_str().unwrap().to_string())
        .unwrap()
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused_with_the_fix_named_and_accepted_with_ca_file() {
    let served = https_server(Validity::Long);
    let (console, json, _) = run(&served, "");
    assert_eq!(status_verdict(&json), "errored", "{console}");
    assert!(
        json.contains("not signed by an authority this machine trusts (self-signed, or a private CA): give that CA as the target's `tls.ca-file`"),
        "{console}"
    );
    let (console, json, _) = run(&served, "tls:\n  ca-file: CA_FILE\n");
    assert_eq!(status_verdict(&json), "passed", "{console}");
    assert!(!console.contains("not verified"), "{console}");
}

#[test]
fn a_self_signed_ca_certificate_as_the_servers_own_is_explained() {
    let served = https_server(Validity::SelfSignedCa);
    let (console, json, _) = run(&served, "tls:\n  ca-file: CA_FILE\n");
    assert_eq!(status_verdict(&json), "errored", "{console}");
    assert!(
        json.contains(
            "the server's TLS certificate is itself a CA certificate (basicConstraints CA:TRUE"
        ),
        "{json}"
    );
}

#[test]
fn an_expired_certificate_is_named_as_such() {
    let served = https_server(Validity::Expired);
    let (console, json, _) = run(&served, "tls:\n  ca-file: CA_FILE\n");
    assert_eq!(status_verdict(&json), "errored", "{console}");
    assert!(
        json.contains("the server's TLS certificate has expired"),
        "{console}"
    );
}

#[test]
fn insecure_tls_works_and_every_output_says_so() {
    let served = https_server(Validity::Expired);
    let (console, json, junit) = run(&served, "tls:\n  insecure: true\n");
    assert_eq!(status_verdict(&json), "passed", "{console}");
    let warning = "TLS certificates were not verified (`tls.insecure: true`)";
    assert!(
        console.contains(&format!("warning: target `tls`: {warning}")),
        "{console}"
    );
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["targets"][0]["tls_insecure"], true);
    assert!(
        junit.contains("TLS certificates were not verified"),
        "{junit}"
    );
}

#[test]
fn the_tls_version_and_certificate_validity_are_reported_and_a_near_expiry_warned() {
    let served = https_server(Validity::Long);
    let (console, json, junit) = run(&served, "tls:\n  ca-file: CA_FILE\n");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let tls = &report["targets"][0]["tls"];
    assert_eq!(tls["version"], "TLSv1.3", "{json}");
    assert!(tls["days_left"].as_i64().unwrap() > 365 * 100, "{tls}");
    assert!(junit.contains("tls-version"), "{junit}");
    assert!(!console.contains("expires in"), "{console}");

    let served = https_server(Validity::Days(5));
    let (console, json, _) = run(&served, "tls:\n  ca-file: CA_FILE\n");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let days = report["targets"][0]["tls"]["days_left"].as_i64().unwrap();
    assert!((4..=5).contains(&days), "{days}");
    assert!(
        console.contains(&format!(
            "warning: target `tls`: the TLS certificate expires in {days} days"
        )),
        "{console}"
    );
    // A fact, not a verdict: the check of the answer still passes.
    assert_eq!(status_verdict(&json), "passed", "{console}");
}
