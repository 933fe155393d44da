//! What an https target's TLS is: the protocol version the server chose and when its
//! certificate expires. Facts for the reports, not a verdict: no requirement in SMART App
//! Launch or the OAuth RFCs says how long a certificate must stay valid, so a certificate that
//! expires soon is a warning in the console and a field in every report, never a failed check.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::suite::Target;

/// Days of validity under which the console warns.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// The TLS of one target, as a handshake with its FHIR base's host found it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsFacts {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// The certificate's subject, as text.
    pub subject: String,
    /// RFC 3339 end of the certificate's validity.
    pub not_after: String,
    /// Whole days from now to `not_after` (negative once expired).
    pub days_left: i64,
}

impl TlsFacts {
    /// One line for the console.
    pub fn describe(&self, target: &str) -> String {
        format!(
            "target `{target}`: {}, certificate for {} valid until {} ({} days)",
            self.version, self.subject, self.not_after, self.days_left
        )
    }

    /// The console's warning when the certificate expires within [`EXPIRY_WARNING_DAYS`].
    pub fn expiry_warning(&self, target: &str) -> Option<String> {
        if self.days_left < 0 {
            return Some(format!(
                "target `{target}`: the TLS certificate expired {} days ago ({}); clients that verify certificates refuse the server",
                -self.days_left, self.not_after
            ));
        }
        (self.days_left < EXPIRY_WARNING_DAYS).then(|| {
            format!(
                "target `{target}`: the TLS certificate expires in {} days ({}); clients will refuse the server from then on",
                self.days_left, self.not_after
            )
        })
    }
}

/// Shakes hands with the target's FHIR base host the way its HTTP client does (the same roots,
/// `tls.ca-file`, `tls.insecure`) and reads the version and the certificate. `None` for http
/// targets; `Err` says why there are no facts (the checks then report the failure).
pub async fn probe(target: &Target) -> Option<Result<TlsFacts, String>> {
    let url = &target.fhir_base;
    if url.scheme() != "https" {
        return None;
    }
    let limit = target.timeouts.connect + target.timeouts.request;
    Some(
        tokio::time::timeout(limit, handshake(target))
            .await
            .unwrap_or_else(|_| Err(format!("no TLS handshake within {limit:?}"))),
    )
}

async fn handshake(target: &Target) -> Result<TlsFacts, String> {
    let url = &target.fhir_base;
    let host = url
        .host_str()
        .ok_or("the FHIR base has no host")?
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = if target.tls.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &target.tls.ca_file {
            let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            use rustls::pki_types::pem::PemObject;
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("{path}: {e}"))?;
                roots.add(cert).map_err(|e| format!("{path}: {e}"))?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| format!("`{host}` is not a TLS server name: {e}"))?;
    let tcp = tokio::time::timeout(
        target.timeouts.connect.max(Duration::from_millis(1)),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| "cannot connect in time".to_string())?
    .map_err(|e| format!("cannot connect: {e}"))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    let (_, session) = tls.get_ref();
    let version = match session.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_string(),
    };
    let der = session
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("the server sent no certificate")?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("the server's certificate does not parse: {e}"))?;
    let not_after = cert.validity().not_after.timestamp();
    let now = chrono::Utc::now().timestamp();
    Ok(TlsFacts {
        version,
        subject: cert.subject().to_string(),
        not_after: chrono::DateTime::from_timestamp(not_after, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| not_after.to_string()),
        days_left: (not_after - now).div_euclid(86_400),
    })
}

/// `tls.insecure`: every certificate is accepted (the signatures of the handshake are still
/// checked, so the facts are the server's own).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
