//! The built-in steps of a suite file read and checked, by family: the flow steps, the token and
//! read steps, the search, wait, brand and register steps, the management steps.

use super::*;

/// Templates, step references and check kinds of the built-in steps.
pub(super) fn builtin_step(
    p: &mut Problems,
    path: &str,
    step: &Step,
    earlier: &[&str],
    launch_ids: &[String],
) {
    flow_steps(p, path, step, earlier, launch_ids);
    token_and_read_steps(p, path, step, earlier);
    search_wait_brand_register_steps(p, path, step, earlier);
    management_steps_and_results(p, path, step, earlier);
}

/// `id` names an earlier step of the case (the key at `path` said it).
pub(super) fn refers(p: &mut Problems, earlier: &[&str], path: &str, id: &str) {
    if !earlier.contains(&id) {
        p.at_value(path, format!("`{id}` is not an earlier step of this case"))
            .add_help_opt(did_you_mean(id, earlier.iter().copied()));
    }
}

/// The steps of a flow's start (`discover`, `client`, `authorize`, `exchange-code`): their
/// templates and the earlier steps they name.
pub(super) fn flow_steps(
    p: &mut Problems,
    path: &str,
    step: &Step,
    earlier: &[&str],
    launch_ids: &[String],
) {
    if let Some(base) = step.discover.as_ref().and_then(|d| d.base.as_ref()) {
        p.template(&format!("{path}.discover.base"), base, earlier);
    }
    if let Some(a) = &step.client {
        let apath = format!("{path}.client");
        for (key, t) in [
            ("registration-endpoint", &a.registration_endpoint),
            ("scope", &a.scope),
        ] {
            if let Some(t) = t {
                p.template(&format!("{apath}.{key}"), t, earlier);
            }
        }
    }
    if let Some(a) = &step.authorize {
        let apath = format!("{path}.authorize");
        p.template(&format!("{apath}.endpoint"), &a.endpoint, earlier);
        p.template(&format!("{apath}.scope"), &a.scope, earlier);
        if let Some(aud) = &a.aud {
            p.template(&format!("{apath}.aud"), aud, earlier);
        }
        for (key, t) in [
            ("client-id", &a.client_id),
            ("response-type", &a.response_type),
        ] {
            if let Some(t) = t {
                p.template(&format!("{apath}.{key}"), t, earlier);
            }
        }
        refers(p, earlier, &format!("{path}.authorize.client"), &a.client);
        if let Some(launch) = &a.ehr_launch {
            refers(p, earlier, &format!("{path}.authorize.ehr-launch"), launch);
            if earlier.contains(&launch.as_str()) && !launch_ids.contains(launch) {
                p.at_value(
                    &format!("{apath}.ehr-launch"),
                    format!("`{launch}` is not an `ehr-launch` step"),
                );
            }
            if a.launch == crate::suite::model::LaunchKind::Ehr {
                p.at_value(
                    &format!("{apath}.launch"),
                    "`launch: ehr` starts its own EHR launch; `ehr-launch` continues the one of an earlier step: give one of them",
                );
            }
        }
    }
    if let Some(a) = &step.exchange_code {
        let apath = format!("{path}.exchange-code");
        p.template(&format!("{apath}.endpoint"), &a.endpoint, earlier);
        for (key, t) in [
            ("code", &a.code),
            ("redirect-uri", &a.redirect_uri),
            ("origin", &a.origin),
        ] {
            if let Some(t) = t {
                p.template(&format!("{apath}.{key}"), t, earlier);
            }
        }
        refers(p, earlier, &format!("{path}.exchange-code.from"), &a.from);
        if let Some(c) = &a.client {
            refers(p, earlier, &format!("{path}.exchange-code.client"), c);
        }
    }
}

/// The steps on tokens and reads (`verify-id-token`, `debug-token`, `client-credentials`,
/// `refresh`, `introspect`, `revoke`, `fhir-read`): their templates and the steps they name.
pub(super) fn token_and_read_steps(p: &mut Problems, path: &str, step: &Step, earlier: &[&str]) {
    if let Some(a) = &step.verify_id_token {
        let apath = format!("{path}.verify-id-token");
        p.template(&format!("{apath}.token"), &a.token, earlier);
        p.template(&format!("{apath}.jwks-uri"), &a.jwks_uri, earlier);
        if let Some(t) = &a.algs {
            p.template(&format!("{apath}.algs"), t, earlier);
        }
        refers(
            p,
            earlier,
            &format!("{path}.verify-id-token.client"),
            &a.client,
        );
    }
    if let Some(a) = &step.debug_token {
        let apath = format!("{path}.debug-token");
        p.template(&format!("{apath}.scope"), &a.scope, earlier);
        for (key, t) in [
            ("endpoint", &a.endpoint),
            ("user", &a.user),
            ("patient", &a.patient),
        ] {
            if let Some(t) = t {
                p.template(&format!("{apath}.{key}"), t, earlier);
            }
        }
        refers(p, earlier, &format!("{path}.debug-token.client"), &a.client);
    }
    if let Some(a) = &step.client_credentials {
        let apath = format!("{path}.client-credentials");
        p.template(&format!("{apath}.endpoint"), &a.endpoint, earlier);
        p.template(&format!("{apath}.scope"), &a.scope, earlier);
        if let Some(aud) = &a.assertion.aud {
            p.template(&format!("{apath}.assertion.aud"), aud, earlier);
        }
        refers(
            p,
            earlier,
            &format!("{path}.client-credentials.client"),
            &a.client,
        );
        if let Some(r) = &a.replay {
            refers(p, earlier, &format!("{path}.client-credentials.replay"), r);
        }
    }
    if let Some(a) = &step.refresh {
        let apath = format!("{path}.refresh");
        p.template(&format!("{apath}.endpoint"), &a.endpoint, earlier);
        if let Some(scope) = &a.scope {
            p.template(&format!("{apath}.scope"), scope, earlier);
        }
        refers(p, earlier, &format!("{path}.refresh.from"), &a.from);
        refers(p, earlier, &format!("{path}.refresh.client"), &a.client);
    }
    if let Some(a) = &step.introspect {
        let apath = format!("{path}.introspect");
        p.template(&format!("{apath}.endpoint"), &a.endpoint, earlier);
        p.template(&format!("{apath}.token"), &a.token, earlier);
        if let Some(b) = &a.bearer {
            p.template(&format!("{apath}.bearer"), b, earlier);
        }
        refers(p, earlier, &format!("{path}.introspect.client"), &a.client);
    }
    if let Some(a) = &step.revoke {
        let apath = format!("{path}.revoke");
        p.template(&format!("{apath}.endpoint"), &a.endpoint, earlier);
        p.template(&format!("{apath}.token"), &a.token, earlier);
        refers(p, earlier, &format!("{path}.revoke.client"), &a.client);
    }
    if let Some(a) = &step.fhir_read {
        let apath = format!("{path}.fhir-read");
        p.template(&format!("{apath}.type"), &a.resource_type, earlier);
        for (key, t) in [("base", &a.base), ("id", &a.id), ("token", &a.token)] {
            if let Some(t) = t {
                p.template(&format!("{apath}.{key}"), t, earlier);
            }
        }
    }
}

/// `fhir-search`, `target-reads`, `wait-for-expiry`, `brand-bundle` and `register`: their
/// templates and the steps they name.
pub(super) fn search_wait_brand_register_steps(
    p: &mut Problems,
    path: &str,
    step: &Step,
    earlier: &[&str],
) {
    if let Some(a) = &step.fhir_search {
        let apath = format!("{path}.fhir-search");
        p.template(&format!("{apath}.type"), &a.resource_type, earlier);
        for (key, t) in [("base", &a.base), ("token", &a.token)] {
            if let Some(t) = t {
                p.template(&format!("{apath}.{key}"), t, earlier);
            }
        }
        for (name, value) in &a.params {
            p.template(&format!("{apath}.params.{name}"), value, earlier);
        }
    }
    if let Some(a) = &step.target_reads {
        p.template(&format!("{path}.target-reads.token"), &a.token, earlier);
    }
    if let Some(t) = step
        .client_jwks
        .as_ref()
        .and_then(|a| a.token_status.as_ref())
    {
        p.template(&format!("{path}.client-jwks.token-status"), t, earlier);
    }
    if let Some(a) = &step.wait_for_expiry {
        match (&a.expires_in, a.code) {
            (Some(t), false) => {
                p.template(&format!("{path}.wait-for-expiry.expires-in"), t, earlier);
            }
            (None, true) => {}
            (Some(_), true) => {
                p.at_value(
                    &format!("{path}.wait-for-expiry.code"),
                    "`code: true` waits for an authorization code, whose lifetime no answer states: give it or `expires-in`, not both",
                );
            }
            (None, false) => {
                p.at_key(
                    &format!("{path}.wait-for-expiry"),
                    "`wait-for-expiry` needs `expires-in` (a token's lifetime) or `code: true`",
                );
            }
        }
    }
    if let Some(a) = &step.brand_bundle {
        let apath = format!("{path}.brand-bundle");
        p.template(&format!("{apath}.bundle"), &a.bundle, earlier);
        for (key, t) in [("identifier", &a.identifier), ("fhir-base", &a.fhir_base)] {
            if let Some(t) = t {
                p.template(&format!("{apath}.{key}"), t, earlier);
            }
        }
    }
    if let Some(a) = &step.register {
        let apath = format!("{path}.register");
        if let Some(e) = &a.endpoint {
            p.template(&format!("{apath}.endpoint"), e, earlier);
        }
        json_value_templates(p, &format!("{apath}.metadata"), &a.metadata, earlier);
        if !a.metadata.is_object() {
            p.at_value(
                &format!("{apath}.metadata"),
                "the client metadata is a JSON object",
            );
        }
    }
}

/// RFC 7592 management (`read-`, `update-` and `delete-registration`: the step they name, the
/// metadata only an update sends), and the checks a built-in's result can take.
pub(super) fn management_steps_and_results(
    p: &mut Problems,
    path: &str,
    step: &Step,
    earlier: &[&str],
) {
    for (key, action) in [
        ("read-registration", &step.read_registration),
        ("update-registration", &step.update_registration),
        ("delete-registration", &step.delete_registration),
    ] {
        let Some(a) = action else { continue };
        refers(p, earlier, &format!("{path}.{key}.from"), &a.from);
        match (&a.metadata, key) {
            (Some(m), "update-registration") => {
                json_value_templates(p, &format!("{path}.{key}.metadata"), m, earlier);
            }
            (None, "update-registration") => {
                p.at_key(
                    &format!("{path}.{key}"),
                    "`update-registration` needs the replacement `metadata`",
                );
            }
            (Some(_), _) => {
                p.at_key(
                    &format!("{path}.{key}.metadata"),
                    format!("`{key}` sends no metadata"),
                );
            }
            (None, _) => {}
        }
    }
    if step.client.is_some() && !step.checks.is_empty() {
        p.at_key(
            &format!("{path}.checks"),
            "a `client` step has no checks (check registration in a registration suite)",
        );
    }
    if step.result_is_document() {
        for (i, check) in step.checks.iter().enumerate() {
            if check.status.is_some() || check.header.is_some() {
                p.at_key(
                    &format!("{path}.checks[{i}]"),
                    format!(
                        "check `{}` reads a status or header, but this step's result is a document: use `json`",
                        check.id
                    ),
                );
            }
        }
    }
}

/// Every template in the string values of a JSON value.
pub(super) fn json_value_templates(
    p: &mut Problems,
    path: &str,
    value: &serde_json::Value,
    steps: &[&str],
) {
    match value {
        serde_json::Value::String(s) => p.template(path, s, steps),
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                json_value_templates(p, &format!("{path}[{i}]"), v, steps);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                json_value_templates(p, &format!("{path}.{k}"), v, steps);
            }
        }
        _ => {}
    }
}
