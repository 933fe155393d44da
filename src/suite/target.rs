//! The target file format: one server under test, its settings, and where its secrets come from.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::secret::Secret;

/// One server under test. Strings may read environment variables as `${NAME}`; that is the
/// only way secrets enter a run.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TargetFile {
    /// Short kebab-case name: the first part of every test name (`target::suite::case`).
    pub name: String,
    /// The FHIR base URL, e.g. `https://ehr.example.org/fhir`.
    pub fhir_base: String,
    /// The SMART App Launch major version the server claims (1 for STU1, 2 for 2.x). Suites
    /// for another major version are not run against it.
    #[serde(default = "default_smart_version")]
    pub smart_version: u32,
    /// The `Origin` sent where a suite checks CORS (`{{ target.origin }}`).
    #[serde(default = "default_origin")]
    pub origin: String,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Largest response body read, in bytes; a larger one errors the step.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    #[serde(default)]
    pub tls: Tls,
    /// Headers sent with every request (e.g. an API gateway key read from `${ENV}`);
    /// their values are treated as secrets.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Free values for suites, read as `{{ target.vars.NAME }}` (e.g. the expected patient).
    #[serde(default)]
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Named secrets for suites, read as `{{ secrets.NAME }}`, normally `${ENV_VAR}`. Their
    /// values are masked in every output.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

fn default_smart_version() -> u32 {
    2
}

fn default_origin() -> String {
    "https://app.smartcheck.invalid".to_string()
}

fn default_max_response_bytes() -> u64 {
    5 * 1024 * 1024
}

/// Timeouts, as durations like `500ms`, `5s`, `1m`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Timeouts {
    /// Time to establish a connection.
    #[serde(
        default = "default_connect",
        deserialize_with = "humantime_serde_compat::deserialize"
    )]
    #[schemars(with = "String")]
    pub connect: std::time::Duration,
    /// Time for a whole exchange, body included.
    #[serde(
        default = "default_request",
        deserialize_with = "humantime_serde_compat::deserialize"
    )]
    #[schemars(with = "String")]
    pub request: std::time::Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: default_connect(),
            request: default_request(),
        }
    }
}

fn default_connect() -> std::time::Duration {
    std::time::Duration::from_secs(5)
}

fn default_request() -> std::time::Duration {
    std::time::Duration::from_secs(30)
}

/// TLS settings for servers with private certificates.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Tls {
    /// A PEM file of extra root certificates to trust.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Accept any certificate (test servers only; reported in every report).
    #[serde(default)]
    pub insecure: bool,
}

mod humantime_serde_compat {
    use serde::Deserialize;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<std::time::Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration like `500ms`, `5s` or `1m`: {e}"
            ))
        })
    }
}

/// A loaded target: the file's settings with `${ENV}` resolved and secrets typed.
#[derive(Debug, Clone)]
pub struct Target {
    pub file: String,
    pub name: String,
    pub fhir_base: url::Url,
    pub smart_version: u32,
    pub origin: String,
    pub timeouts: Timeouts,
    pub max_response_bytes: u64,
    pub tls: Tls,
    pub headers: Vec<(String, Secret)>,
    pub vars: BTreeMap<String, serde_json::Value>,
    pub secrets: BTreeMap<String, Secret>,
}

impl Target {
    /// The FHIR base without a trailing slash, as suites join paths to it.
    pub fn fhir_base_str(&self) -> String {
        self.fhir_base.as_str().trim_end_matches('/').to_string()
    }

    /// What suites read as `{{ target.* }}` (no secrets).
    pub fn context(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "fhir-base": self.fhir_base_str(),
            "smart-version": self.smart_version,
            "origin": self.origin,
            "vars": self.vars,
        })
    }
}
