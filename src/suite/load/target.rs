//! Reads a target file: each part of it (the top-level values, the browser, discovery, TLS and
//! headers, the redirect URI, the clients, the screens, the reads) checked by its own function,
//! every problem reported with its position, then the target with `${NAME}` resolved.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::{
    did_you_mean, from_serde, http_url, id_problem, is_header_name, regex, strip_comment,
    LoadError, Problems,
};
use crate::secret::Secret;
use crate::suite::position::PositionIndex;
use crate::suite::target::{StaticClient, Target, TargetFile};
use crate::suite::template::{env_refs, expand_env, Template};

/// `${NAME}` resolved, and a file named in the target resolved against the target's folder.
struct Resolve<'a> {
    expand: &'a dyn Fn(&str) -> String,
    in_dir: &'a dyn Fn(&str) -> String,
}

/// Reads and checks a target file; `env` gives the environment's variables.
pub(super) fn parse_target(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Target, Vec<LoadError>> {
    let raw: TargetFile =
        serde_yaml::from_str(text).map_err(|e| vec![from_serde(file, text, &e)])?;
    let mut p = Problems {
        file,
        text,
        index: PositionIndex::build(text),
        errors: Vec::new(),
        captures: None,
        target_refs: Vec::new(),
    };
    unset_variables(&mut p, env);
    if !p.errors.is_empty() {
        return Err(p.errors);
    }
    let expand = |s: &str| expand_env(s, env).unwrap_or_else(|_| s.to_string());
    // Relative key and CA files are relative to the target file, wherever the run starts.
    let target_dir = Path::new(file)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let in_dir = |f: &str| -> String {
        let f = expand(f);
        if Path::new(&f).is_relative() && !target_dir.as_os_str().is_empty() {
            target_dir.join(&f).display().to_string()
        } else {
            f
        }
    };
    let r = Resolve {
        expand: &expand,
        in_dir: &in_dir,
    };
    let (fhir_base, credential_origins) = top_level(&mut p, &raw, &r);
    browser(&mut p, &raw, &r);
    discovery(&mut p, &raw, &r);
    tls_and_headers(&mut p, &raw, &r);
    let redirect_uri = redirect_uri(&mut p, &raw, &r);
    clients(&mut p, &raw, &r);
    screens(&mut p, &raw, &r);
    reads(&mut p, &raw);
    if !p.errors.is_empty() {
        return Err(p.errors);
    }
    Ok(resolved(
        file,
        raw,
        fhir_base.expect("checked above"),
        credential_origins,
        redirect_uri,
        &r,
    ))
}

/// Every `${NAME}` in the file must be set: each missing one is reported where it is written.
fn unset_variables(p: &mut Problems, env: &dyn Fn(&str) -> Option<String>) {
    let (file, text) = (p.file, p.text);
    let mut reported = HashSet::new();
    for (line_no, line) in text.lines().enumerate() {
        let content = strip_comment(line);
        match env_refs(content) {
            Ok(refs) => {
                for r in refs {
                    if env(&r.name).is_none() && reported.insert(r.name.clone()) {
                        let mut error = LoadError::new(
                            file,
                            text,
                            (line_no + 1, r.offset + 1),
                            format!("environment variable `{}` is not set", r.name),
                        );
                        error.add_help(format!("export {}=... before the run; a target never reads an unset variable as empty", r.name));
                        p.errors.push(error);
                    }
                }
            }
            Err(e) => p.errors.push(LoadError::new(
                file,
                text,
                (line_no + 1, e.offset + 1),
                e.message,
            )),
        }
    }
}

/// The name, the FHIR base, the credential origins, the largest body and the SMART version.
fn top_level(p: &mut Problems, raw: &TargetFile, r: &Resolve) -> (Option<url::Url>, Vec<url::Url>) {
    let expand = r.expand;
    if let Some(problem) = id_problem(&raw.name) {
        p.at_value("name", format!("target name {problem}"))
            .add_expected(
            "lowercase letters, digits and single `-`, at most 100 characters, like `reference`",
        );
    }
    let fhir_base = http_url(
        p,
        "fhir-base",
        &expand(&raw.fhir_base),
        "the FHIR base URL, like `https://ehr.example.org/fhir`",
    );
    let credential_origins: Vec<url::Url> = raw
        .credential_origins
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            http_url(
                p,
                &format!("credential-origins[{i}]"),
                &expand(o),
                "an origin that may receive the target's credentials, like `https://auth.example.org`",
            )
        })
        .collect();
    if !(1024..=1 << 30).contains(&raw.max_response_bytes) {
        p.at_value(
            "max-response-bytes",
            format!(
                "{} bytes is out of range for the largest response body read",
                raw.max_response_bytes
            ),
        )
        .add_expected("from 1024 (1 KiB) to 1073741824 (1 GiB); the default is 5242880 (5 MiB)");
    }
    if !(1..=2).contains(&raw.smart_version) {
        p.at_value(
            "smart-version",
            format!(
                "SMART App Launch has no major version {}",
                raw.smart_version
            ),
        )
        .add_expected("1 (STU1) or 2 (2.x)");
    }
    (fhir_base, credential_origins)
}

/// Chromium reads the host map as comma-separated resolver rules: a name or a target with a
/// comma or a space would add rules of its own; its flags start with `--`.
fn browser(p: &mut Problems, raw: &TargetFile, r: &Resolve) {
    let expand = r.expand;
    for (from, to) in &raw.browser.host_map {
        for (what, text) in [("name", from.as_str()), ("target", to.as_str())] {
            let text = expand(text);
            if text.is_empty() || text.contains([',', ' ', '\t', '\n']) {
                p.at_key(
                    &format!("browser.host-map.{from}"),
                    format!("the host map's {what} `{text}` is not a host name (or host:port)"),
                );
            }
        }
    }
    for (ai, arg) in raw.browser.chromium_args.iter().enumerate() {
        if !arg.starts_with("--") {
            p.at_value(
                &format!("browser.chromium-args[{ai}]"),
                format!("`{arg}` is not a Chromium flag (`--name` or `--name=value`)"),
            );
        }
    }
}

/// The discovery values a target gives: known fields, of their type, URLs absolute.
fn discovery(p: &mut Problems, raw: &TargetFile, r: &Resolve) {
    let expand = r.expand;
    for (key, value) in &raw.discovery {
        let kpath = format!("discovery.{key}");
        if !crate::smart::discovery::FIELDS.contains(&key.as_str()) {
            p.at_key(
                &kpath,
                format!("`{key}` is not a discovery field smartcheck reads"),
            )
            .add_expected(format!(
                "a smart-configuration field: {}",
                crate::smart::discovery::FIELDS.join(", ")
            ))
            .add_help_opt(did_you_mean(
                key,
                crate::smart::discovery::FIELDS.iter().copied(),
            ));
            continue;
        }
        let listy = key.ends_with("_supported") || key == "capabilities";
        let fits = if listy {
            value
                .as_array()
                .is_some_and(|items| items.iter().all(|i| i.is_string()))
        } else if key == "associated_endpoints" {
            value.is_array()
        } else {
            value.is_string()
        };
        if !fits {
            p.at_value(
                &kpath,
                if listy {
                    format!("`{key}` is a list of strings")
                } else {
                    format!("`{key}` is a URL or text, a string")
                },
            );
        }
        if key.ends_with("_endpoint") || key == "issuer" || key == "jwks_uri" {
            if let Some(text) = value.as_str().map(&expand) {
                if url::Url::parse(&text).is_err() {
                    p.at_value(&kpath, format!("`{text}` is not an absolute URL"));
                }
            }
        }
    }
}

/// The CA file exists; header names are header names.
fn tls_and_headers(p: &mut Problems, raw: &TargetFile, r: &Resolve) {
    let in_dir = r.in_dir;
    if let Some(ca) = &raw.tls.ca_file {
        let ca = in_dir(ca);
        if !Path::new(&ca).is_file() {
            p.at_value("tls.ca-file", format!("no such file: `{ca}`"));
        }
    }
    for name in raw.headers.keys() {
        if !is_header_name(name) {
            p.at_key(
                &format!("headers.{name}"),
                format!("`{name}` is not a valid header name"),
            );
        }
    }
}

/// The redirect URI: a loopback http URL with a port the harness can listen on.
fn redirect_uri(p: &mut Problems, raw: &TargetFile, r: &Resolve) -> Option<url::Url> {
    let expand = r.expand;
    raw.redirect_uri
        .as_deref()
        .map(expand)
        .and_then(|text| match url::Url::parse(&text) {
            Ok(u)
                if u.scheme() == "http"
                    && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
                    && u.port().is_some() =>
            {
                Some(u)
            }
            _ => {
                p.at_value(
                    "redirect-uri",
                    format!("`{text}` is not a loopback http URL with a port"),
                )
                .add_expected(
                    "a URL the harness can listen on, like `http://127.0.0.1:8765/callback`",
                );
                None
            }
        })
}

/// The static clients: known methods, what each method needs, a second client that is another.
fn clients(p: &mut Problems, raw: &TargetFile, r: &Resolve) {
    let expand = r.expand;
    // Public and client-secret clients are apps a person authorizes: they need the redirect
    // URI they were registered with. A target of private_key_jwt clients only may be a backend
    // service (its authorization-code cases are then skipped with the reason).
    let app_clients = raw
        .clients
        .keys()
        .chain(raw.other_clients.keys())
        .any(|method| method != "private_key_jwt");
    if raw.registration == crate::suite::target::Registration::Static
        && raw.redirect_uri.is_none()
        && app_clients
    {
        p.at_value(
            "registration",
            "static clients need a fixed `redirect-uri` (the one registered with the server)",
        );
    }
    for (method, other) in &raw.other_clients {
        if raw
            .clients
            .get(method)
            .is_some_and(|c| expand(&c.client_id) == expand(&other.client_id))
        {
            p.at_value(
                &format!("other-clients.{method}.client-id"),
                "the second client is the same client as `clients`; cross-client cases need another one",
            );
        }
    }
    let all_clients = raw.clients.iter().map(|(m, c)| ("clients", m, c)).chain(
        raw.other_clients
            .iter()
            .map(|(m, c)| ("other-clients", m, c)),
    );
    for (section, method, client) in all_clients {
        client_problems(p, section, method, client, r);
    }
}

/// One static client's problems.
fn client_problems(
    p: &mut Problems,
    section: &str,
    method: &str,
    client: &StaticClient,
    r: &Resolve,
) {
    let expand = r.expand;
    let cpath = format!("{section}.{method}");
    if ![
        "none",
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ]
    .contains(&method)
    {
        p.at_key(
            &cpath,
            format!("`{method}` is not a client authentication method"),
        )
        .add_expected("`none`, `client_secret_basic`, `client_secret_post` or `private_key_jwt`");
        return;
    }
    if method.starts_with("client_secret") && client.client_secret.is_none() {
        p.at_key(&cpath, format!("a `{method}` client needs `client-secret`"));
    }
    if let Some(url) = &client.jwks_url {
        if method != "private_key_jwt" {
            p.at_key(
                &format!("{cpath}.jwks-url"),
                format!("a `{method}` client has no JWK Set: `jwks-url` is for `private_key_jwt`"),
            );
        } else {
            http_url(
                p,
                &format!("{cpath}.jwks-url"),
                &expand(url),
                "the JWK Set URL the client was registered with, like `https://app.example.org/jwks.json`",
            );
        }
    }
    key_problems(p, &cpath, method, client, r);
}

/// A `private_key_jwt` client's keys: one `private-key-file` or a list of `keys`, files that
/// exist, RS384 or ES384, one key per algorithm.
fn key_problems(p: &mut Problems, cpath: &str, method: &str, client: &StaticClient, r: &Resolve) {
    let in_dir = r.in_dir;
    if !client.keys.is_empty() {
        if method != "private_key_jwt" {
            p.at_key(
                &format!("{cpath}.keys"),
                format!("a `{method}` client signs nothing: `keys` are for `private_key_jwt`"),
            );
        }
        if client.private_key_file.is_some() || client.kid.is_some() || client.alg.is_some() {
            p.at_key(
                &format!("{cpath}.keys"),
                "give the client's keys either as `keys` or as one `private-key-file`, `kid` and `alg`, not both",
            );
        }
        let mut algs = Vec::new();
        for (i, key) in client.keys.iter().enumerate() {
            let kpath = format!("{cpath}.keys[{i}]");
            if !Path::new(&in_dir(&key.private_key_file)).is_file() {
                p.at_value(
                    &format!("{kpath}.private-key-file"),
                    format!(
                        "no such file: `{}` (a relative path is relative to the target file)",
                        in_dir(&key.private_key_file)
                    ),
                );
            }
            if key.alg != "RS384" && key.alg != "ES384" {
                p.at_value(
                    &format!("{kpath}.alg"),
                    format!("`{}` is not RS384 or ES384", key.alg),
                );
            } else if algs.contains(&key.alg) {
                p.at_value(
                    &format!("{kpath}.alg"),
                    format!(
                        "a second {} key: each case signs with the one key of its algorithm",
                        key.alg
                    ),
                );
            }
            algs.push(key.alg.clone());
        }
    } else if method == "private_key_jwt" {
        match &client.private_key_file {
            None => {
                p.at_key(cpath, "a `private_key_jwt` client needs `private-key-file`");
            }
            Some(f) if !Path::new(&in_dir(f)).is_file() => {
                p.at_value(
                    &format!("{cpath}.private-key-file"),
                    format!(
                        "no such file: `{}` (a relative path is relative to the target file)",
                        in_dir(f)
                    ),
                );
            }
            _ => {}
        }
        if let Some(alg) = &client.alg {
            if alg != "RS384" && alg != "ES384" {
                p.at_value(
                    &format!("{cpath}.alg"),
                    format!("`{alg}` is not RS384 or ES384"),
                );
            }
        }
    }
}

/// The screens' steps (one action each, what it needs) and the EHR launch's URLs.
fn screens(p: &mut Problems, raw: &TargetFile, r: &Resolve) {
    let expand = r.expand;
    let no_steps = Vec::new();
    let screens = [
        ("browser.sign-in", &raw.browser.sign_in),
        ("browser.patient", &raw.browser.patient),
        ("browser.authorize", &raw.browser.authorize),
        ("browser.deny", &raw.browser.deny),
        (
            "ehr-launch.sign-in",
            raw.ehr_launch.as_ref().map_or(&no_steps, |e| &e.sign_in),
        ),
    ];
    if let Some(ehr) = &raw.ehr_launch {
        http_url(
            p,
            "ehr-launch.url",
            &expand(&ehr.url),
            "the EHR page that launches apps, like `https://ehr.example.org/launch-app`",
        );
        if let Some(base) = &ehr.fhir_base {
            http_url(
                p,
                "ehr-launch.fhir-base",
                &expand(base),
                "the FHIR base the EHR launches with, like `https://ehr.example.org/tenant-7/fhir`",
            );
        }
    }
    for (name, steps) in screens {
        for (i, step) in steps.iter().enumerate() {
            let spath = format!("{name}[{i}]");
            let actions = step.actions();
            if actions.len() != 1 {
                p.at_key(
                    &spath,
                    if actions.is_empty() {
                        "a screen step does nothing".to_string()
                    } else {
                        format!(
                            "a screen step has more than one action: {}",
                            actions.join(", ")
                        )
                    },
                )
                .add_expected(
                    "exactly one of `fill`, `click`, `select`, `check`, `wait-for`, `wait-for-url`",
                );
            }
            if (step.fill.is_some() || step.select.is_some()) && step.value.is_none() {
                p.at_key(&spath, "`fill` and `select` need a `value`");
            }
            if step.via != crate::suite::target::ClickVia::Webdriver
                && step.click.is_none()
                && step.check.is_none()
            {
                p.at_value(
                    &format!("{spath}.via"),
                    "`via` says how `click` and `check` reach their element; this step does neither",
                );
            }
            if let Some(re) = &step.wait_for_url {
                regex(p, &format!("{spath}.wait-for-url"), re);
            }
        }
    }
}

/// The extra reads: paths relative to the FHIR base, templates of the target only.
fn reads(p: &mut Problems, raw: &TargetFile) {
    for (i, read) in raw.reads.iter().enumerate() {
        let rpath = format!("reads[{i}].path");
        match Template::parse(&read.path) {
            Err(e) => {
                p.at_value(&rpath, e.message);
            }
            Ok(t) => {
                for expr in t.exprs() {
                    if expr.path[0] != "target" {
                        p.at_value(
                            &rpath,
                            format!("`{{{{ {} }}}}` is not known in a target", expr.source),
                        )
                        .add_expected("`{{ target.vars.NAME }}`, e.g. `{{ target.vars.patient }}`");
                    }
                }
            }
        }
        if read.path.starts_with('/') || read.path.contains("://") {
            p.at_value(
                &rpath,
                "the path is relative to the FHIR base (no leading `/`, no scheme)",
            )
            .add_expected("e.g. `Observation?patient={{ target.vars.patient }}`");
        }
    }
}

/// The target, every `${NAME}` resolved.
fn resolved(
    file: &str,
    raw: TargetFile,
    fhir_base: url::Url,
    credential_origins: Vec<url::Url>,
    redirect_uri: Option<url::Url>,
    r: &Resolve,
) -> Target {
    let (expand, in_dir) = (r.expand, r.in_dir);
    let vars = raw
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), expand_json(v, &expand)))
        .collect();
    let discovery = discovery_values(&raw, expand);
    Target {
        file: file.to_string(),
        name: raw.name,
        fhir_base,
        smart_version: raw.smart_version,
        origin: expand(&raw.origin),
        timeouts: raw.timeouts,
        max_response_bytes: raw.max_response_bytes,
        token_expiry_wait: raw.token_expiry_wait.unwrap_or_default(),
        code_expiry_wait: raw.code_expiry_wait.unwrap_or_default(),
        supports: raw.supports.clone(),
        introspection_scope: raw.introspection_scope.as_deref().map(expand),
        client_jwks_url: raw.client_jwks_url.as_deref().map(expand),
        other_fhir_base: raw
            .other_fhir_base
            .as_deref()
            .map(|b| expand(b).trim_end_matches('/').to_string()),
        credential_origins,
        tls: crate::suite::target::Tls {
            ca_file: raw.tls.ca_file.as_deref().map(in_dir),
            insecure: raw.tls.insecure,
        },
        headers: secret_map(&raw.headers, expand),
        vars,
        discovery,
        secrets: secret_map(&raw.secrets, expand),
        registration: raw.registration,
        clients: static_clients(&raw.clients, &expand, &in_dir),
        other_clients: static_clients(&raw.other_clients, &expand, &in_dir),
        initial_access_token: raw
            .initial_access_token
            .as_deref()
            .map(|t| Secret::new(expand(t))),
        registration_endpoint: raw.registration_endpoint.as_deref().map(expand),
        redirect_uri,
        ehr_launch: raw.ehr_launch.as_ref().map(|e| ehr_launch(e, expand)),
        browser: browser_resolved(&raw.browser, expand),
        debug_token_endpoint: raw.debug_token_endpoint.as_deref().map(expand),
        debug_introspect_endpoint: raw.debug_introspect_endpoint.as_deref().map(expand),
        introspection_auth: raw
            .introspection_auth
            .as_ref()
            .map(|h| (h.header.clone(), Secret::new(expand(&h.value)))),
        reads: raw
            .reads
            .iter()
            .map(|r| crate::suite::target::ExtraRead {
                path: expand(&r.path),
                title: r.title.clone(),
            })
            .collect(),
        authorize_params: raw
            .authorize_params
            .iter()
            .map(|(k, v)| (k.clone(), expand(v)))
            .collect(),
        scopes: raw.scopes.vocabulary(&expand),
    }
}

/// The target's discovery values, `${NAME}` resolved, with `registration-endpoint` as the
/// `registration_endpoint` unless `discovery` names one.
fn discovery_values(
    raw: &TargetFile,
    expand: &dyn Fn(&str) -> String,
) -> serde_json::Map<String, serde_json::Value> {
    let mut discovery: serde_json::Map<String, serde_json::Value> = raw
        .discovery
        .iter()
        .map(|(k, v)| (k.clone(), expand_json(v, expand)))
        .collect();
    if let Some(endpoint) = &raw.registration_endpoint {
        discovery
            .entry("registration_endpoint")
            .or_insert_with(|| serde_json::Value::String(expand(endpoint)));
    }
    discovery
}

/// Values that are secrets (headers, named secrets), `${NAME}` resolved.
fn secret_map<K: Clone + Ord, C: FromIterator<(K, Secret)>>(
    values: &BTreeMap<K, String>,
    expand: &dyn Fn(&str) -> String,
) -> C {
    values
        .iter()
        .map(|(k, v)| (k.clone(), Secret::new(expand(v))))
        .collect()
}

/// A JSON value with `${NAME}` resolved in every string.
fn expand_json(value: &serde_json::Value, expand: &dyn Fn(&str) -> String) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => serde_json::Value::String(expand(s)),
        serde_json::Value::Array(items) => items.iter().map(|v| expand_json(v, expand)).collect(),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), expand_json(v, expand)))
            .collect(),
        other => other.clone(),
    }
}

/// Static clients with `${ENV}` resolved and key files relative to the target file.
fn static_clients(
    raw: &BTreeMap<String, crate::suite::target::StaticClient>,
    expand: &dyn Fn(&str) -> String,
    in_dir: &dyn Fn(&str) -> String,
) -> BTreeMap<String, crate::suite::target::StaticClient> {
    raw.iter()
        .map(|(k, c)| {
            (
                k.clone(),
                crate::suite::target::StaticClient {
                    client_id: expand(&c.client_id),
                    client_secret: c.client_secret.as_deref().map(expand),
                    private_key_file: c.private_key_file.as_deref().map(in_dir),
                    kid: c.kid.as_deref().map(expand),
                    alg: c.alg.clone(),
                    scope: c.scope.as_deref().map(expand),
                    keys: c
                        .keys
                        .iter()
                        .map(|k| crate::suite::target::ClientKey {
                            private_key_file: in_dir(&k.private_key_file),
                            kid: expand(&k.kid),
                            alg: k.alg.clone(),
                        })
                        .collect(),
                    jwks_url: c.jwks_url.as_deref().map(expand),
                },
            )
        })
        .collect()
}

/// Values typed at a screen, `${NAME}` resolved.
fn resolved_steps(steps: &mut [crate::suite::target::ScreenStep], expand: &dyn Fn(&str) -> String) {
    for step in steps.iter_mut() {
        step.value = step.value.as_deref().map(expand);
    }
}

/// The EHR launch, `${NAME}` resolved.
fn ehr_launch(
    e: &crate::suite::target::EhrLaunch,
    expand: &dyn Fn(&str) -> String,
) -> crate::suite::target::EhrLaunch {
    crate::suite::target::EhrLaunch {
        url: expand(&e.url),
        launch_uri_param: e.launch_uri_param.clone(),
        params: e
            .params
            .iter()
            .map(|(k, v)| (k.clone(), expand(v)))
            .collect(),
        fhir_base: e.fhir_base.as_deref().map(expand),
        sign_in: e
            .sign_in
            .iter()
            .map(|step| {
                let mut step = step.clone();
                step.value = step.value.as_deref().map(expand);
                step
            })
            .collect(),
    }
}

/// The browser settings, `${NAME}` resolved.
fn browser_resolved(
    browser: &crate::suite::target::BrowserSettings,
    expand: &dyn Fn(&str) -> String,
) -> crate::suite::target::BrowserSettings {
    let mut b = browser.clone();
    b.webdriver = b.webdriver.as_deref().map(expand);
    b.host_map = b
        .host_map
        .iter()
        .map(|(k, v)| (k.clone(), expand(v)))
        .collect();
    for steps in [
        &mut b.sign_in,
        &mut b.patient,
        &mut b.authorize,
        &mut b.deny,
    ] {
        resolved_steps(steps, expand);
    }
    b
}
