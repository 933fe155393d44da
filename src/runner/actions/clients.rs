//! The case's clients and their registrations: `client` (a registered or static client of
//! each authentication kind), `register` (RFC 7591) and `read-registration`,
//! `update-registration`, `delete-registration` (RFC 7592).

use super::*;
use crate::suite::model::{ClientJwksAction, JwksChoice};

impl CaseState {
    /// `client`.
    pub async fn client(
        &mut self,
        step_id: &str,
        action: &ClientAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let named_by_target = run.target.registration == Registration::Static
            && if action.second {
                &run.target.other_clients
            } else {
                &run.target.clients
            }
            .contains_key(action.auth_method.as_str());
        if let Some(offered) = action.offered.as_ref().filter(|_| !named_by_target) {
            if let Err(reason) = crate::check::when_holds(offered, context) {
                return ActionResult::skip(format!(
                    "the server does not offer this client ({reason})"
                ));
            }
        }
        match run.target.registration {
            Registration::Static
                if action.jwks == JwksChoice::Uri
                    && static_jwks_url(run, action.second).is_none() =>
            {
                let section = if action.second { "other-clients" } else { "clients" };
                ActionResult::skip(format!(
                    "the target's static private_key_jwt client was not registered by a JWK Set URL: `{section}.private_key_jwt.jwks-url` in {} names the one it was (dynamic registration registers one itself)",
                    run.target.file
                ))
            }
            Registration::Static if action.jwks == JwksChoice::DuplicateKid => ActionResult::skip(format!(
                "registering a JWK Set with two keys under one kid needs dynamic registration; the target's clients are static ({})",
                run.target.file
            )),
            Registration::Static if action.second_redirect_uri => ActionResult::skip(format!(
                "a client with a second redirect URI needs dynamic registration; the target's clients are static ({})",
                run.target.file
            )),
            Registration::Static => self.static_client(step_id, action, run),
            Registration::Dynamic => self.register(step_id, action, run, context, settings).await,
        }
    }

    fn static_client(
        &mut self,
        step_id: &str,
        action: &ClientAction,
        run: &TargetRun,
    ) -> ActionResult {
        let method = action.auth_method.as_str();
        let (clients, section) = if action.second {
            (&run.target.other_clients, "other-clients")
        } else {
            (&run.target.clients, "clients")
        };
        let Some(given) = clients.get(method) else {
            let file = &run.target.file;
            return ActionResult::skip(if action.second {
                format!("the target names no second static `{method}` client, which this case needs besides the first (`{section}.{method}` in {file})")
            } else {
                format!(
                    "the target has no static `{method}` client (`{section}.{method}` in {file})"
                )
            });
        };
        let redirect_uri = run
            .target
            .redirect_uri
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_default();
        let auth = match action.auth_method {
            AuthMethod::None => ClientAuth::None,
            AuthMethod::ClientSecretBasic => {
                ClientAuth::Basic(Secret::new(given.client_secret.clone().unwrap_or_default()))
            }
            AuthMethod::ClientSecretPost => {
                ClientAuth::Post(Secret::new(given.client_secret.clone().unwrap_or_default()))
            }
            AuthMethod::PrivateKeyJwt => tri!(static_key_auth(given, action)),
        };
        let client = Client {
            client_id: given.client_id.clone(),
            auth,
            redirect_uri,
        };
        let mut document = json!({
            "client_id": client.client_id,
            "token_endpoint_auth_method": method,
            "redirect_uris": [client.redirect_uri],
            "registration": "static",
        });
        if let Some(scope) = &given.scope {
            document["scope"] = json!(scope);
        }
        if let Some(url) = &given.jwks_url {
            document["jwks_uri"] = json!(url);
        }
        self.clients.insert(step_id.to_string(), client);
        ActionResult {
            document: Some(document),
            ..Default::default()
        }
    }

    async fn register(
        &mut self,
        step_id: &str,
        action: &ClientAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let endpoint = tri!(registration_endpoint(
            run,
            action.registration_endpoint.as_deref(),
            context
        ));
        let (metadata, redirect_uri) = tri!(self.registration_metadata(action, run, context).await);
        let request = registration_request(run, &endpoint, &metadata);
        let exchange = run.client.send(request, &settings.cancel).await;
        exchange.learn_secrets(&settings.redactor);
        let end = self
            .keep_registered(step_id, action, &exchange, redirect_uri)
            .err();
        ActionResult {
            exchange: Some(exchange),
            end,
            ..Default::default()
        }
    }

    /// The client metadata a `client` step registers, and the redirect URI the client uses.
    async fn registration_metadata(
        &mut self,
        action: &ClientAction,
        run: &TargetRun,
        context: &Value,
    ) -> Result<(Value, String), ActionEnd> {
        let redirect_uris = match self.listener(run).await {
            Ok(l) if action.second_redirect_uri => vec![l.redirect_uri(), l.second_uri()],
            Ok(l) => vec![l.redirect_uri()],
            Err(e) => return Err(ActionEnd::Error(e)),
        };
        let mut metadata = json!({
            "client_name": action.client_name.clone().unwrap_or_else(|| format!("smartcheck {}", self.case_name)),
            "redirect_uris": redirect_uris,
            "grant_types": action.grant_types,
            "token_endpoint_auth_method": action.auth_method.as_str(),
        });
        if action.grant_types.iter().any(|g| g == "authorization_code") {
            metadata["response_types"] = json!(["code"]);
        }
        if let Some(scope) = &action.scope {
            // The scopes the client will ask for, in the server's vocabulary (a server may
            // hold a client to the scopes it registered).
            let asked = render(scope, context)?;
            metadata["scope"] = json!(self.scope_for(&asked, run).scope);
        }
        if action.auth_method == AuthMethod::PrivateKeyJwt {
            self.add_client_keys(action, run, &mut metadata).await?;
        }
        let first = redirect_uris.into_iter().next().unwrap_or_default();
        Ok((metadata, first))
    }

    /// A `private_key_jwt` client's keys in its metadata: inline, a set with one kid twice,
    /// or a URL (the target's, or the listener's).
    async fn add_client_keys(
        &mut self,
        action: &ClientAction,
        run: &TargetRun,
        metadata: &mut Value,
    ) -> Result<(), ActionEnd> {
        match action.jwks {
            JwksChoice::Inline => {
                metadata["jwks"] = serde_json::from_str(CLIENT_JWKS).unwrap_or_default();
            }
            JwksChoice::DuplicateKid => {
                if action.alg != AssertionAlg::RS384 {
                    return Err(ActionEnd::Skip(
                        "a JWK Set with two keys under one kid is made for RS384 clients".into(),
                    ));
                }
                metadata["jwks"] = duplicate_kid_jwks(assertion_key(action.alg).2);
            }
            JwksChoice::Uri => {
                let url = match &run.target.client_jwks_url {
                    Some(url) => url.clone(),
                    None => {
                        if !server_on_loopback(run) {
                            return Err(ActionEnd::Skip(jwks_unreachable(run)));
                        }
                        let listener = self.listener(run).await.map_err(ActionEnd::Error)?;
                        // The keys a `client-jwks` step chose, else all of them.
                        match listener.jwks_fetches() {
                            Some(_) => listener.url_of(listener::JWKS_PATH),
                            None => listener.serve_jwks(CLIENT_JWKS.to_string(), "no-store"),
                        }
                    }
                };
                metadata["jwks_uri"] = json!(url);
            }
        }
        Ok(())
    }

    /// The client a registration answer gives, kept for the steps after (and the registration
    /// for the RFC 7592 steps and the clean-up); why not, when the answer gives none to use.
    fn keep_registered(
        &mut self,
        step_id: &str,
        action: &ClientAction,
        exchange: &Exchange,
        redirect_uri: String,
    ) -> Result<(), ActionEnd> {
        let answer: Option<Value> = exchange
            .response
            .as_ref()
            .and_then(|r| serde_json::from_str(&r.body).ok());
        let status = exchange.response.as_ref().map(|r| r.status);
        let client_id = answer
            .as_ref()
            .and_then(|a| a["client_id"].as_str())
            .map(str::to_string);
        let said = answer.as_ref().map(error_said).unwrap_or_default();
        if client_id.is_none()
            && action.jwks == JwksChoice::DuplicateKid
            && status.is_some_and(|s| (400..500).contains(&s))
        {
            // Refusing the ambiguous set outright is as good as failing its assertions.
            return Err(ActionEnd::Skip(format!(
                "the server refused to register a JWK Set with two keys under one kid (answered {}{said}), so no assertion can be ambiguous",
                status.unwrap_or_default()
            )));
        }
        let (Some(answer), Some(client_id)) = (answer, client_id) else {
            return Err(ActionEnd::Error(match (status, &exchange.error) {
                (Some(s), _) => {
                    format!("the registration endpoint answered {s} without a client_id{said}")
                }
                (None, Some(e)) => format!("registration failed: {e}"),
                (None, None) => "registration failed".to_string(),
            }));
        };
        let kid = assertion_key(action.alg).2;
        if action.jwks == JwksChoice::DuplicateKid
            && answer["jwks"]["keys"]
                .as_array()
                .is_some_and(|keys| keys.iter().filter(|k| k["kid"] == kid).count() < 2)
        {
            // The server replaced the set (RFC 7591 §3.2.1 lets it) and kept one key under the
            // kid: nothing is ambiguous, and accepting the assertion would be right. The client
            // is still deleted at the end of the case.
            self.registrations
                .insert(step_id.to_string(), Registered::from_answer(&answer));
            return Err(ActionEnd::Skip(
                "the server registered one key under the kid the JWK Set gave two (it replaced the set), so no assertion is ambiguous".into(),
            ));
        }
        let auth = registered_auth(action, &answer)?;
        self.registrations
            .insert(step_id.to_string(), Registered::from_answer(&answer));
        self.clients.insert(
            step_id.to_string(),
            Client {
                client_id,
                auth,
                redirect_uri,
            },
        );
        Ok(())
    }

    /// `register`.
    pub async fn register_client(
        &mut self,
        step_id: &str,
        action: &RegisterAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let endpoint = tri!(registration_endpoint(
            run,
            action.endpoint.as_deref(),
            context
        ));
        let metadata = tri!(render_json(&action.metadata, context));
        let exchange = run
            .client
            .send(
                registration_request(run, &endpoint, &metadata),
                &settings.cancel,
            )
            .await;
        exchange.learn_secrets(&settings.redactor);
        let answer: Value = exchange
            .response
            .as_ref()
            .and_then(|r| serde_json::from_str(&r.body).ok())
            .unwrap_or_default();
        self.registrations
            .insert(step_id.to_string(), Registered::from_answer(&answer));
        ActionResult {
            exchange: Some(exchange),
            ..Default::default()
        }
    }

    /// `read-registration`, `update-registration`, `delete-registration` (RFC 7592 §2.1-2.3).
    pub async fn manage_registration(
        &mut self,
        method: &str,
        action: &ManageAction,
        run: &TargetRun,
        context: &Value,
        settings: &RunSettings,
    ) -> ActionResult {
        let Some(registration) = self.registrations.get(&action.from) else {
            return ActionResult::skip(format!(
                "prerequisite missing: step `{}` made no registration",
                action.from
            ));
        };
        // The real cause first: a registration that was refused (no client_id and nothing to
        // manage it by) registered nothing.
        if registration.client_id.is_none() && registration.management.is_none() {
            return ActionResult::skip(format!(
                "prerequisite missing: step `{}` registered no client (its answer has no client_id)",
                action.from
            ));
        }
        let Some((uri, token)) = &registration.management else {
            return ActionResult::skip(
                "the registration answer has no registration_client_uri and registration_access_token: the server offers RFC 7591 registration without RFC 7592 management",
            );
        };
        let mut headers = vec![("Accept".to_string(), "application/json".to_string())];
        match action.token {
            RegistrationToken::Registered => headers.push((
                "Authorization".into(),
                format!("Bearer {}", token.expose_secret()),
            )),
            RegistrationToken::Wrong => headers.push((
                "Authorization".into(),
                format!("Bearer wrong-{}", pkce::random_urlsafe(16)),
            )),
            RegistrationToken::None => {}
        }
        let mut body = None;
        if let Some(metadata) = &action.metadata {
            let mut metadata = tri!(render_json(metadata, context));
            if let Value::Object(map) = &mut metadata {
                // RFC 7592 §2.2: the update carries the client_id it replaces.
                if !map.contains_key("client_id") {
                    let Some(id) = &registration.client_id else {
                        return ActionResult::skip(
                            "prerequisite missing: the registration response has no client_id for the update to carry",
                        );
                    };
                    map.insert("client_id".into(), json!(id));
                }
            }
            headers.push(("Content-Type".into(), "application/json".into()));
            body = Some(metadata.to_string());
        }
        let request = OutgoingRequest {
            method: method.into(),
            url: uri.clone(),
            headers,
            body,
        };
        let exchange = run.client.send(request, &settings.cancel).await;
        exchange.learn_secrets(&settings.redactor);
        let deleted = method == "DELETE"
            && action.token == RegistrationToken::Registered
            && exchange
                .response
                .as_ref()
                .is_some_and(|r| (200..300).contains(&r.status));
        if deleted {
            if let Some(r) = self.registrations.get_mut(&action.from) {
                r.deleted = true;
            }
        }
        ActionResult {
            exchange: Some(exchange),
            ..Default::default()
        }
    }
}

/// The registration endpoint: the target's override, else the step's (usually from discovery).
fn registration_endpoint(
    run: &TargetRun,
    given: Option<&str>,
    context: &Value,
) -> Result<String, ActionEnd> {
    if let Some(e) = &run.target.registration_endpoint {
        return Ok(e.clone());
    }
    let Some(given) = given else {
        return Err(ActionEnd::Error(
            "no registration endpoint: give the step an `endpoint` or the target a `registration-endpoint`".into(),
        ));
    };
    match render(given, context) {
        Ok(e) => Ok(e),
        Err(ActionEnd::Skip(_)) => Err(ActionEnd::Skip(
            "the server advertises no registration_endpoint (and the target sets no `registration-endpoint`)".into(),
        )),
        Err(e) => Err(e),
    }
}

/// An RFC 7591 §3.1 registration request, with the target's initial access token.
fn registration_request(run: &TargetRun, endpoint: &str, metadata: &Value) -> OutgoingRequest {
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("Accept".to_string(), "application/json".to_string()),
    ];
    if let Some(t) = &run.target.initial_access_token {
        headers.push((
            "Authorization".into(),
            format!("Bearer {}", t.expose_secret()),
        ));
    }
    OutgoingRequest {
        method: "POST".into(),
        url: endpoint.to_string(),
        headers,
        body: Some(metadata.to_string()),
    }
}

impl Builtin for ClientAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        let result = i
            .state
            .client(i.step_id, self, i.run, i.context, i.settings)
            .await;
        if let Some(ActionEnd::Skip(why) | ActionEnd::Error(why)) = &result.end {
            i.state.no_client.insert(i.step_id.to_string(), why.clone());
        }
        result
    }
}

impl Builtin for RegisterAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        i.state
            .register_client(i.step_id, self, i.run, i.context, i.settings)
            .await
    }
}

/// An RFC 7592 step: the HTTP method (`GET` read, `PUT` update, `DELETE` delete) and its action.
pub struct Manage<'a>(pub &'static str, pub &'a ManageAction);

impl Builtin for Manage<'_> {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        i.state
            .manage_registration(self.0, self.1, i.run, i.context, i.settings)
            .await
    }
}

/// Whether the FHIR server is on this machine's loopback, and so can fetch what the case's
/// listener serves.
fn server_on_loopback(run: &TargetRun) -> bool {
    match run.target.fhir_base.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

fn jwks_unreachable(run: &TargetRun) -> String {
    format!(
        "the server is not on this machine's loopback, so it cannot fetch a JWK Set the harness serves; publish the harness's client JWK Set (`client-jwks.json`, which `smartcheck templates export DIR` writes) and name its URL as `client-jwks-url` in {}",
        run.target.file
    )
}

/// The JWK Set URL the target's static `private_key_jwt` client (the second one for
/// `second`) was registered with, when it was registered by URL.
fn static_jwks_url(run: &TargetRun, second: bool) -> Option<&str> {
    let clients = if second {
        &run.target.other_clients
    } else {
        &run.target.clients
    };
    clients.get("private_key_jwt")?.jwks_url.as_deref()
}

/// Where the client's JWK Set is published when the harness does not serve it: the static
/// client's registered URL, or the target's `client-jwks-url`; with the reason the harness
/// can neither change it nor count its fetches.
fn published_jwks(run: &TargetRun) -> Option<(String, String)> {
    let file = &run.target.file;
    if run.target.registration == Registration::Static {
        let why = match static_jwks_url(run, false) {
            Some(url) => format!("the static client's JWK Set is the one at the URL it was registered with ({url}, `clients.private_key_jwt.jwks-url` in {file}), which the harness cannot change or count fetches of"),
            None => format!("the target's clients are static ({file}): the harness serves no JWK Set for them"),
        };
        return Some((
            static_jwks_url(run, false).unwrap_or_default().to_string(),
            why,
        ));
    }
    run.target.client_jwks_url.as_ref().map(|url| {
        (
            url.clone(),
            format!("the client's JWK Set is the one published at the target's client-jwks-url ({file}), which the harness cannot change or count fetches of"),
        )
    })
}

impl Builtin for ClientJwksAction {
    async fn run(&self, i: StepInput<'_>) -> ActionResult {
        if let Some((url, why)) = published_jwks(i.run) {
            // The token request is judged all the same: a server that can reach the published
            // set has no reason to refuse the client.
            return match (&self.token_status, self.keys.is_some(), url.is_empty()) {
                (Some(t), false, false) => ActionResult {
                    document: Some(
                        json!({ "url": url, "token_status": tri!(render_value(t, i.context)) }),
                    ),
                    ..Default::default()
                },
                _ => ActionResult::skip(why),
            };
        }
        if !server_on_loopback(i.run) {
            return ActionResult::skip(jwks_unreachable(i.run));
        }
        let listener = match i.state.listener(i.run).await {
            Ok(l) => l,
            Err(e) => return ActionResult::error(e),
        };
        let url = match &self.keys {
            Some(kids) => {
                let all: Value = serde_json::from_str(CLIENT_JWKS).unwrap_or_default();
                let keys: Vec<Value> = all["keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|k| {
                        k["kid"]
                            .as_str()
                            .is_some_and(|kid| kids.iter().any(|w| w == kid))
                    })
                    .cloned()
                    .collect();
                let cache = self.cache_control.as_deref().unwrap_or("no-store");
                listener.serve_jwks(json!({ "keys": keys }).to_string(), cache)
            }
            None => listener.url_of(listener::JWKS_PATH),
        };
        let fetches = listener.jwks_fetches().unwrap_or_default();
        let mut document = json!({
            "url": url,
            "fetches": fetches.total,
            "fetches_since_change": fetches.since_change,
        });
        if let Some(t) = &self.token_status {
            let status = tri!(render_value(t, i.context));
            if fetches.total == 0 {
                return ActionResult::skip(format!(
                    "the server never fetched the client's JWK Set at {url} (the token request answered {status}); a server may refuse to fetch URLs on loopback (SSRF protection), so publish the harness's client JWK Set (`client-jwks.json`, which `smartcheck templates export DIR` writes) where it can reach it and name it as `client-jwks-url` in {}",
                    i.run.target.file
                ));
            }
            document["token_status"] = status;
        }
        ActionResult {
            document: Some(document),
            ..Default::default()
        }
    }
}

/// The harness's RS384 public key and, under the same `kid`, an RSA key that is not the
/// client's (the reference server's published key).
fn duplicate_kid_jwks(kid: &str) -> Value {
    let ours: Value = serde_json::from_str(CLIENT_JWKS).unwrap_or_default();
    let others: Value = serde_json::from_str(OTHER_RSA_JWKS).unwrap_or_default();
    let mine = ours["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid))
        .cloned()
        .unwrap_or_default();
    let mut impostor = others["keys"][0].clone();
    impostor["kid"] = json!(kid);
    impostor["alg"] = json!("RS384");
    json!({ "keys": [mine, impostor] })
}

/// A static `private_key_jwt` client's key for the case's algorithm: one of its `keys`, or the
/// one key it has; a skip when it has none of that algorithm.
fn static_key_auth(
    given: &crate::suite::target::StaticClient,
    action: &ClientAction,
) -> Result<ClientAuth, ActionEnd> {
    let chosen = if given.keys.is_empty() {
        None
    } else {
        let found = given.keys.iter().find(|k| k.alg == action.alg.as_str());
        if found.is_none() {
            let algs: Vec<&str> = given.keys.iter().map(|k| k.alg.as_str()).collect();
            return Err(ActionEnd::Skip(format!(
                "the target's private_key_jwt client has keys for {}, not {}",
                algs.join(" and "),
                action.alg.as_str()
            )));
        }
        found
    };
    let given_alg = chosen.map(|k| k.alg.as_str()).or(given.alg.as_deref());
    let alg = match given_alg {
        Some("ES384") => Algorithm::ES384,
        _ => Algorithm::RS384,
    };
    if given_alg.is_some() && alg_name(alg) != action.alg.as_str() {
        return Err(ActionEnd::Skip(format!(
            "the target's private_key_jwt client signs with {}, not {}",
            alg_name(alg),
            action.alg.as_str()
        )));
    }
    let file = chosen
        .map(|k| k.private_key_file.clone())
        .or_else(|| given.private_key_file.clone())
        .unwrap_or_default();
    let pem =
        std::fs::read(&file).map_err(|e| ActionEnd::Error(format!("cannot read {file}: {e}")))?;
    let kid = chosen
        .map(|k| k.kid.clone())
        .or_else(|| given.kid.clone())
        .unwrap_or_default();
    crate::smart::client::private_key_jwt(&pem, &kid, alg)
        .map_err(|e| ActionEnd::Error(format!("{file}: {e}")))
}

/// The algorithm, private key and kid of the harness's client keys for `alg`.
fn assertion_key(alg: AssertionAlg) -> (Algorithm, &'static [u8], &'static str) {
    match alg {
        AssertionAlg::RS384 => (Algorithm::RS384, CLIENT_RS384_KEY, "client-rs384"),
        AssertionAlg::ES384 => (Algorithm::ES384, CLIENT_ES384_KEY, "client-es384"),
    }
}

/// `: error (description)` of an error answer, for a message; empty for another answer.
fn error_said(answer: &Value) -> String {
    match (
        answer["error"].as_str(),
        answer["error_description"].as_str(),
    ) {
        (Some(e), Some(d)) => format!(": {e} ({d})"),
        (Some(e), None) => format!(": {e}"),
        (None, _) => String::new(),
    }
}

/// How a registered client authenticates, by its method, with the secret the answer gave.
fn registered_auth(action: &ClientAction, answer: &Value) -> Result<ClientAuth, ActionEnd> {
    let secret = answer["client_secret"].as_str().map(Secret::new);
    match action.auth_method {
        AuthMethod::None => Ok(ClientAuth::None),
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
            let secret = secret.ok_or_else(|| ActionEnd::Error(
                "the registration answer has no client_secret for a confidential symmetric client".into(),
            ))?;
            Ok(if action.auth_method == AuthMethod::ClientSecretBasic {
                ClientAuth::Basic(secret)
            } else {
                ClientAuth::Post(secret)
            })
        }
        AuthMethod::PrivateKeyJwt => {
            let (alg, key_pem, kid) = assertion_key(action.alg);
            crate::smart::client::private_key_jwt(key_pem, kid, alg).map_err(ActionEnd::Error)
        }
    }
}
