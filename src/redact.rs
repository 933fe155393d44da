//! One redactor per run: it learns every secret seen (from the target and from the server's
//! answers) and every writer passes its text through it at write time.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use crate::secret::Secret;

/// What replaces a secret in every output.
pub const MASK: &str = "[redacted]";

/// Header names whose values are always credentials (compared case-insensitively).
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// JSON member, form field and query parameter names whose values are credentials
/// (RFC 6749 §4.1.2, §5.1, §6; RFC 7591 §3.2.1; RFC 7636 §4.5; RFC 7523 §2.2; RFC 7662 §2.1).
const SECRET_FIELDS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "code",
    "code_verifier",
    "client_secret",
    "registration_access_token",
    "client_assertion",
    "assertion",
    "password",
    "token",
    "device_code",
    "private_key",
];

/// Values shorter than this are not replaced inside free text (they would mangle every
/// report); they are still masked wherever they appear as a header or a named field.
const MIN_FREE_TEXT_LEN: usize = 4;

/// Shared, thread-safe registry of the secrets of one run.
#[derive(Clone, Default)]
pub struct Redactor {
    state: Arc<RwLock<State>>,
    /// Bytes of text masked so far (free text, every pass): the work the tests count.
    masked_bytes: Arc<std::sync::atomic::AtomicUsize>,
}

/// The registered forms, in matchers built in batches.
///
/// A run registers secrets while it masks (each token a server hands out is learned between
/// two masked exchanges), so one matcher over every form, rebuilt after each registration,
/// costs the square of the run. Instead the forms live in batches whose sizes fall by more
/// than half from the oldest to the newest, as in a log-structured merge: new forms wait in
/// `pending` until text is next masked, then become a batch of their own, and batches of
/// like size are merged. A form is compiled O(log n) times in a run of n forms, and a text is
/// searched by O(log n) matchers.
#[derive(Default)]
struct State {
    /// Every registered form, to register each once (shared with the batches).
    known: HashSet<Arc<str>>,
    /// Forms not yet in a matcher.
    pending: Vec<Arc<str>>,
    /// The built batches, oldest (largest) first.
    batches: Vec<Arc<Matchers>>,
    /// Bytes of forms compiled into matchers so far: the work the tests count.
    compiled_bytes: usize,
}

/// The masking's work in a run, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaskingWork {
    /// Distinct forms of the registered secrets.
    pub forms: usize,
    /// Their bytes.
    pub form_bytes: usize,
    /// Bytes of forms compiled into matchers, counting each rebuild.
    pub compiled_bytes: usize,
    /// Matchers a text is searched by.
    pub matchers: usize,
    /// Memory the matchers hold.
    pub matcher_bytes: usize,
    /// Bytes of free text searched for secrets, counting each time a text is masked.
    pub masked_bytes: usize,
}

/// How many bytes at the end of each form the whole-match automaton holds. An automaton
/// over whole forms costs about ten times their bytes (a JWT access token has a dozen forms
/// of 700 bytes): a thousand targets' tokens took gigabytes. Over their last 16 bytes it is
/// small whatever the tokens' length; a match is then confirmed against the whole form.
const TAIL: usize = 16;

/// The matchers of one batch of forms.
struct Matchers {
    /// The batch's forms, sorted and distinct (prefix look-ups for secrets cut short).
    forms: Vec<Arc<str>>,
    /// The last [`TAIL`] bytes of every form; pattern `i` is `forms[i]`'s end. Every
    /// occurrence (overlapping) that the whole form confirms is masked, and the union of the
    /// matches: a secret that contains or overlaps another is masked whole.
    tails: aho_corasick::AhoCorasick,
    /// The distinct first [`MIN_CUT_PREFIX`] bytes (to a character boundary) of the forms
    /// longer than that: where a secret cut short may start.
    starts: aho_corasick::AhoCorasick,
    /// The longest form, in bytes: how far before a cut a secret can start.
    longest: usize,
}

/// An automaton over `patterns` (a contiguous NFA: small, and quick to build).
fn automaton<P: AsRef<[u8]>>(
    patterns: impl IntoIterator<Item = P>,
) -> Option<aho_corasick::AhoCorasick> {
    aho_corasick::AhoCorasick::builder()
        .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
        .build(patterns)
        .ok()
}

impl Matchers {
    /// The matchers of `forms` (sorted and distinct).
    fn build(forms: Vec<Arc<str>>) -> Option<Self> {
        let tails = automaton(
            forms
                .iter()
                .map(|f| &f.as_bytes()[f.len().saturating_sub(TAIL)..]),
        )?;
        let heads: std::collections::BTreeSet<&str> = forms
            .iter()
            .filter_map(|f| {
                let head = f.ceil_char_boundary(MIN_CUT_PREFIX);
                (f.len() > head).then(|| &f[..head])
            })
            .collect();
        let starts = automaton(heads)?;
        let longest = forms.iter().map(|f| f.len()).max().unwrap_or(0);
        Some(Matchers {
            forms,
            tails,
            starts,
            longest,
        })
    }

    /// Every occurrence of a whole form in `text`, as byte spans.
    fn spans<'t>(&'t self, text: &'t str) -> impl Iterator<Item = (usize, usize)> + 't {
        self.tails.find_overlapping_iter(text).filter_map(move |m| {
            let form = &self.forms[m.pattern().as_usize()];
            let start = m.end().checked_sub(form.len())?;
            (text.as_bytes().get(start..m.end()) == Some(form.as_bytes()))
                .then_some((start, m.end()))
        })
    }

    /// Whether `piece` is the start of a longer form of this batch.
    fn starts_a_form(&self, piece: &str) -> bool {
        let at = self.forms.partition_point(|f| f.as_ref() < piece);
        // The forms that start with `piece` follow it in sorted order: the first one at or
        // after it, or the next when that one is `piece` itself.
        self.forms[at..]
            .iter()
            .take(2)
            .any(|f| f.len() > piece.len() && f.starts_with(piece))
    }
}

impl State {
    /// Turns the pending forms into a batch and merges batches of like size; returns them all.
    fn batches(&mut self) -> Vec<Arc<Matchers>> {
        if !self.pending.is_empty() {
            let forms = std::mem::take(&mut self.pending);
            self.push_batch(forms);
            while let [.., older, newer] = self.batches.as_slice() {
                if older.forms.len() > 2 * newer.forms.len() {
                    break;
                }
                let newer = self.batches.pop().map(|b| b.forms.clone());
                let older = self.batches.pop().map(|b| b.forms.clone());
                let mut forms = older.unwrap_or_default();
                forms.extend(newer.unwrap_or_default());
                self.push_batch(forms);
            }
        }
        self.batches.clone()
    }

    fn push_batch(&mut self, mut forms: Vec<Arc<str>>) {
        forms.sort_unstable();
        forms.dedup();
        self.compiled_bytes += forms.iter().map(|f| f.len()).sum::<usize>();
        if let Some(built) = Matchers::build(forms) {
            self.batches.push(Arc::new(built));
        }
    }
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret so that it is masked wherever it appears later.
    pub fn register(&self, secret: &Secret) {
        self.register_str(secret.expose_secret());
    }

    pub(crate) fn register_str(&self, value: &str) {
        let value = value.trim();
        if value.len() < MIN_FREE_TEXT_LEN {
            return;
        }
        let forms = encoded_forms(value);
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        for form in forms {
            if form.len() >= MIN_FREE_TEXT_LEN && !state.known.contains(form.as_str()) {
                let form: Arc<str> = form.into();
                state.known.insert(form.clone());
                state.pending.push(form);
            }
        }
    }

    /// Registers a value found by its name in free text or a cookie: only from
    /// [`MIN_CUT_PREFIX`] bytes on, so that `token=true` or a `lang=en-US` cookie does not mask
    /// every `true` of a report (credentials are far longer).
    fn register_guessed(&self, value: &str) {
        if value.trim().len() >= MIN_CUT_PREFIX {
            self.register_str(value);
        }
    }

    /// What masking has cost so far, counted rather than timed (`SMARTCHECK_LOG=debug` prints
    /// it at the end of a run; the fleet tests read it).
    pub fn work(&self) -> MaskingWork {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        MaskingWork {
            forms: state.known.len(),
            form_bytes: state.known.iter().map(|f| f.len()).sum(),
            compiled_bytes: state.compiled_bytes,
            matchers: state.batches.len(),
            matcher_bytes: state
                .batches
                .iter()
                .map(|b| b.tails.memory_usage() + b.starts.memory_usage())
                .sum(),
            masked_bytes: self.masked_bytes.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Bytes of secret forms compiled into matchers so far in this run (a measure of the
    /// masking's work that does not depend on the machine's speed).
    pub fn compiled_bytes(&self) -> usize {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .compiled_bytes
    }

    /// Registers the credentials of HTTP Basic authentication (RFC 6749 §2.3.1: both parts
    /// form-encoded, then `user:password` in base64): the password and the encoded pair.
    pub fn register_basic(&self, user: &str, password: &Secret) {
        use base64::Engine;
        let form = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        self.register(password);
        for pair in [
            format!("{}:{}", form(user), form(password.expose_secret())),
            format!("{user}:{}", password.expose_secret()),
        ] {
            self.register_str(&base64::engine::general_purpose::STANDARD.encode(pair));
        }
    }

    /// Whether `text` holds a registered secret, in any registered form, as it is (a request
    /// about to be sent; control characters are not rewritten first, unlike [`Self::redact`]).
    pub fn finds_secret(&self, text: &str) -> bool {
        self.batches()
            .iter()
            .any(|m| m.spans(text).next().is_some())
    }

    /// The matchers of the registered forms, the pending ones built first.
    fn batches(&self) -> Vec<Arc<Matchers>> {
        {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            if state.pending.is_empty() {
                return state.batches.clone();
            }
        }
        self.state
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .batches()
    }

    /// Makes control characters visible (`\u{1b}`): a server's answer must not move the
    /// cursor, recolour or rewrite a terminal, nor break an XML report. Line feeds and tabs
    /// stay; a CR LF line end becomes a line feed.
    ///
    /// Then masks every registered secret in free text, in every form it is registered with
    /// (raw, URL-, form-, JSON-, XML-escaped), and any start of one that was cut short: a
    /// prefix of at least [`MIN_CUT_PREFIX`] bytes at the end of the text or before an
    /// ellipsis (text shortened for a report line). Where secrets overlap, their union is
    /// masked. The text is copied once per pass, never once per secret or per form.
    pub fn redact(&self, text: &str) -> String {
        let text = printable(text);
        self.masked_bytes
            .fetch_add(text.len(), std::sync::atomic::Ordering::Relaxed);
        let batches = self.batches();
        if batches.is_empty() {
            return text.into_owned();
        }
        let spans = batches.iter().flat_map(|m| m.spans(&text)).collect();
        let masked = mask_spans(&text, spans);
        let cuts = cuts(&masked);
        let cut = batches
            .iter()
            .flat_map(|m| cut_prefix_spans(&masked, &cuts, m))
            .collect();
        mask_spans(&masked, cut)
    }

    /// Whether a header carries credentials by its name alone.
    pub fn is_secret_header(name: &str) -> bool {
        SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// Whether a JSON member, form field or query parameter carries credentials by its name.
    pub fn is_secret_field(name: &str) -> bool {
        SECRET_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name))
    }

    /// A credential member of a JSON document. `code` is a credential only in forms and
    /// redirect queries (the authorization code); in JSON it is everywhere a FHIR code.
    pub fn is_secret_json_field(name: &str) -> bool {
        Self::is_secret_field(name) && !name.eq_ignore_ascii_case("code")
    }

    /// Masks a header value: the credentials of credential headers (the scheme of an
    /// `Authorization` is kept as evidence; a cookie keeps its name and attributes, its value
    /// masked), free-text masking otherwise.
    pub fn redact_header(&self, name: &str, value: &str) -> String {
        if name.eq_ignore_ascii_case("cookie") {
            // RFC 6265 §4.2.1: `name=value` pairs separated by "; ".
            let pairs: Vec<String> = value
                .split(';')
                .map(|p| mask_cookie_pair(p.trim()))
                .collect();
            return self.redact(&pairs.join("; "));
        }
        if name.eq_ignore_ascii_case("set-cookie") {
            // RFC 6265 §4.1.1: the first pair is the cookie; the attributes after it are not
            // secret (and say whether it is `Secure` and `HttpOnly`).
            let (pair, attributes) = value.split_once(';').unwrap_or((value, ""));
            let masked = match attributes {
                "" => mask_cookie_pair(pair.trim()),
                _ => format!("{};{attributes}", mask_cookie_pair(pair.trim())),
            };
            return self.redact(&masked);
        }
        if Self::is_secret_header(name) {
            match value.split_once(' ') {
                Some((scheme, _)) if !scheme.is_empty() && !scheme.contains('=') => {
                    format!("{scheme} {MASK}")
                }
                _ => MASK.to_string(),
            }
        } else {
            self.redact(value)
        }
    }

    /// Learns the values of the cookies a `Cookie` or `Set-Cookie` header carries: a session
    /// cookie is a credential wherever it shows up again (a page, a log line).
    pub fn learn_from_cookie_header(&self, name: &str, value: &str) {
        let pairs: Vec<&str> = if name.eq_ignore_ascii_case("set-cookie") {
            value.split(';').take(1).collect()
        } else {
            value.split(';').collect()
        };
        for pair in pairs {
            if let Some((_, v)) = pair.split_once('=') {
                self.register_guessed(v.trim().trim_matches('"'));
            }
        }
    }

    /// Learns the credentials named in a URL's query and fragment (a code or token the
    /// server sent anywhere the harness looked: a redirect, the page the browser stopped on).
    pub fn learn_from_url(&self, raw: &str) {
        if let Ok(url) = url::Url::parse(raw) {
            url.query().inspect(|q| self.learn_from_form(q));
            url.fragment().inspect(|f| self.learn_from_form(f));
        }
    }

    /// Learns the credentials of every `name=value` with a credential name in free text
    /// (a URL inside a log line, a page or a message: `?code=…`, `#access_token=…`), and of
    /// every JSON member `"name": "value"` in it (a JSON page quoted in a message), before the
    /// text is masked.
    pub fn learn_from_text(&self, text: &str) {
        for found in CREDENTIAL_JSON_MEMBER.captures_iter(text) {
            if let Some(value) = found.get(2) {
                self.register_guessed(value.as_str());
            }
        }
        for found in CREDENTIAL_PARAMETER.captures_iter(text) {
            if let Some(value) = found.get(2) {
                let decoded =
                    url::form_urlencoded::parse(format!("v={}", value.as_str()).as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                self.register_guessed(&decoded);
                self.register_guessed(value.as_str());
            }
        }
    }

    /// Learns the credentials a message carries in named fields (JSON members at any depth,
    /// `application/x-www-form-urlencoded` fields, URL query parameters, and Basic credentials),
    /// so that they are masked wherever they appear afterwards.
    pub fn learn_from_json(&self, value: &serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, member) in map {
                    if Self::is_secret_json_field(key) {
                        if let Some(text) = member.as_str() {
                            self.register_str(text);
                        }
                    }
                    self.learn_from_json(member);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| self.learn_from_json(v)),
            _ => {}
        }
    }

    /// See [`Redactor::learn_from_json`]; for `a=b&c=d` form bodies and query strings.
    pub fn learn_from_form(&self, encoded: &str) {
        for (key, value) in url::form_urlencoded::parse(encoded.as_bytes()) {
            if Self::is_secret_field(&key) {
                self.register_str(&value);
            }
        }
    }

    /// Learns the credentials of an `Authorization` header (Bearer token, Basic user:password).
    pub fn learn_from_authorization(&self, value: &str) {
        let Some((scheme, credentials)) = value.split_once(' ') else {
            self.register_str(value);
            return;
        };
        let credentials = credentials.trim();
        self.register_str(credentials);
        if scheme.eq_ignore_ascii_case("basic") {
            use base64::Engine;
            if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials) {
                if let Ok(text) = String::from_utf8(decoded) {
                    if let Some((user, password)) = text.split_once(':') {
                        // RFC 6749 §2.3.1: both parts are form-urlencoded.
                        let decode = |s: &str| {
                            url::form_urlencoded::parse(format!("v={s}").as_bytes())
                                .next()
                                .map(|(_, v)| v.into_owned())
                                .unwrap_or_default()
                        };
                        self.register_str(&decode(password));
                        let _ = user;
                    }
                }
            }
        }
    }

    /// Masks named credential fields in a JSON document, then free text.
    pub fn redact_json_text(&self, body: &str) -> String {
        match mask_named_json_fields(body) {
            Some(masked) => self.redact(&masked),
            None => self.redact(body),
        }
    }

    /// Masks named credential fields in a JSON value, then every registered secret in its
    /// strings.
    pub fn redact_json_value(&self, value: &serde_json::Value) -> serde_json::Value {
        fn walk(r: &Redactor, v: &mut serde_json::Value) {
            match v {
                serde_json::Value::String(s) => *s = r.redact(s),
                serde_json::Value::Array(items) => items.iter_mut().for_each(|i| walk(r, i)),
                serde_json::Value::Object(map) => map.values_mut().for_each(|i| walk(r, i)),
                _ => {}
            }
        }
        let mut copy = value.clone();
        mask_json(&mut copy);
        walk(self, &mut copy);
        copy
    }

    /// Masks named credential fields in a form body or query string, then free text.
    pub fn redact_form_text(&self, encoded: &str) -> String {
        self.redact(&mask_named_form_fields(encoded))
    }

    /// Masks credential query parameters in a URL, then free text.
    pub fn redact_url(&self, raw: &str) -> String {
        match url::Url::parse(raw) {
            Ok(mut parsed) if parsed.query().is_some() => {
                let query = parsed.query().unwrap_or_default().to_string();
                let masked = self.redact_form_text(&query);
                parsed.set_query(Some(&masked));
                self.redact(parsed.as_str())
            }
            _ => self.redact(raw),
        }
    }
}

/// A credential parameter in free text: a credential name after the start of a query,
/// fragment or form (`?`, `&`, `#`, a quote, white space or the start), then `=` and a value.
static CREDENTIAL_PARAMETER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    let names = SECRET_FIELDS.join("|");
    regex::Regex::new(&format!(
        r#"(?i)(?:^|[?&#\s"'(;])({names})=([^&#\s"'<>\\;,)]+)"#
    ))
    .expect("a constant pattern")
});

/// A JSON member with a credential name and a string value in free text (`"code": "…"`).
static CREDENTIAL_JSON_MEMBER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    let names = SECRET_FIELDS.join("|");
    regex::Regex::new(&format!(r#"(?i)"({names})"\s*:\s*"([^"\\]+)""#)).expect("a constant pattern")
});

/// A form body or query string with the values of credential fields masked (by their names
/// alone: no secret needs to be known).
pub fn mask_named_form_fields(encoded: &str) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(encoded.as_bytes()) {
        if Redactor::is_secret_field(&k) {
            out.append_pair(&k, MASK);
        } else {
            out.append_pair(&k, &v);
        }
    }
    out.finish()
}

/// A JSON document pretty-printed with the values of credential members masked (by their
/// names alone), or `None` when the text is not JSON.
pub fn mask_named_json_fields(text: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    mask_json(&mut value);
    serde_json::to_string_pretty(&value).ok()
}

/// `name=value` with the value masked (a pair without `=` is kept as it is).
fn mask_cookie_pair(pair: &str) -> String {
    match pair.split_once('=') {
        Some((name, _)) => format!("{name}={MASK}"),
        None => pair.to_string(),
    }
}

fn mask_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, member) in map.iter_mut() {
                if Redactor::is_secret_json_field(key) && member.is_string() {
                    *member = serde_json::Value::String(MASK.to_string());
                } else {
                    mask_json(member);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_json),
        _ => {}
    }
}

/// The shortest start of a secret that is masked when the text was cut right after it.
pub const MIN_CUT_PREFIX: usize = 8;

/// `text` with control characters other than line feed and tab written as `\u{..}`.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let text = text.replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The WHATWG userinfo percent-encode set (what `url` uses for passwords).
const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'=')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'|');
/// The WHATWG query set.
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>');

/// Every form a secret takes on its way to an output: raw; percent-encoded (as a URL query,
/// path or userinfo, or a form body, with upper- or lower-case hex, once or twice); escaped
/// inside a JSON string, a Rust `{:?}` string and XML text or attributes.
fn encoded_forms(value: &str) -> Vec<String> {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let form = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let json = |s: &str| inside_quotes(&serde_json::to_string(s).unwrap_or_default());
    // Each form is kept once, as it is made: a large secret's many like forms are not all
    // held at once.
    let mut forms: Vec<String> = vec![value.to_string()];
    let keep = |form: String, forms: &mut Vec<String>| {
        if !forms.contains(&form) {
            forms.push(form);
        }
    };
    for e in [
        form(value),
        utf8_percent_encode(value, NON_ALPHANUMERIC).to_string(),
        utf8_percent_encode(value, USERINFO).to_string(),
        utf8_percent_encode(value, QUERY).to_string(),
    ] {
        keep(lower_hex(&e), &mut forms);
        keep(form(&e), &mut forms);
        keep(e, &mut forms);
    }
    let debug = inside_quotes(&format!("{value:?}"));
    for f in [json(value), debug, json(&json(value))] {
        keep(f, &mut forms);
    }
    for f in xml_forms(value).into_iter().chain(xml_forms(&json(value))) {
        keep(f, &mut forms);
    }
    // Text is made printable before it is masked: a secret with control characters is
    // matched in that form.
    let shown: Vec<String> = forms
        .iter()
        .filter_map(|f| match printable(f) {
            std::borrow::Cow::Owned(p) => Some(p),
            std::borrow::Cow::Borrowed(_) => None,
        })
        .collect();
    for f in shown {
        keep(f, &mut forms);
    }
    forms.sort();
    forms
}

/// A quoted string's text between its quotes.
fn inside_quotes(quoted: &str) -> String {
    quoted[1..quoted.len().saturating_sub(1).max(1)].to_string()
}

/// The forms of `s` in XML or HTML text and attributes. Escapers differ in which of `> " '`
/// they escape, and how. Only the escapes of characters the text holds make other forms: a
/// token without `> " '` has one XML form, not 24 copies of itself (a 1 MB token took 24 MB
/// here).
fn xml_forms(s: &str) -> Vec<String> {
    let base = s.replace('&', "&amp;").replace('<', "&lt;");
    let choices = |c: char, escapes: &'static [&'static str]| -> &'static [&'static str] {
        if base.contains(c) {
            escapes
        } else {
            &escapes[..1]
        }
    };
    let mut out = Vec::new();
    for gt in choices('>', &[">", "&gt;"]) {
        for quote in choices('"', &["\"", "&quot;", "&#34;"]) {
            for apos in choices('\'', &["'", "&apos;", "&#39;", "&#x27;"]) {
                out.push(
                    base.replace('>', gt)
                        .replace('"', quote)
                        .replace('\'', apos),
                );
            }
        }
    }
    out
}

/// Percent-encoded text with its hex digits in lower case.
fn lower_hex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 1..i + 3).unwrap_or("");
        out.push('%');
        out.push_str(&hex.to_ascii_lowercase());
        rest = &rest[(i + 1 + hex.len()).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

/// `text` with each union of overlapping `spans` replaced by [`MASK`].
fn mask_spans(text: &str, mut spans: Vec<(usize, usize)>) -> String {
    if spans.is_empty() {
        return text.to_string();
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut written = 0;
    let mut current: Option<(usize, usize)> = None;
    for (start, end) in spans {
        match current {
            Some((s, e)) if start <= e => current = Some((s, e.max(end))),
            _ => {
                if let Some((s, e)) = current {
                    out.push_str(&text[written..s]);
                    out.push_str(MASK);
                    written = e;
                }
                current = Some((start, end));
            }
        }
    }
    if let Some((s, e)) = current {
        out.push_str(&text[written..s]);
        out.push_str(MASK);
        written = e;
    }
    out.push_str(&text[written..]);
    out
}

/// Where `text` may have been cut short: at its end, and before each ellipsis (`…`) or `[...`
/// marker (text shortened for a report line).
fn cuts(text: &str) -> Vec<usize> {
    let mut cuts: Vec<usize> = vec![text.len()];
    for marker in ["…", "[..."] {
        cuts.extend(text.match_indices(marker).map(|(i, _)| i));
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// The starts of secrets where text was cut right after them, at each of `cuts`. Only the
/// stretch before each cut, as long as the longest secret, is searched, for the starts of all
/// secrets of the batch at once.
fn cut_prefix_spans(text: &str, cuts: &[usize], matchers: &Matchers) -> Vec<(usize, usize)> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for &cut in cuts {
        let before = text[..cut].trim_end();
        let end = before.len();
        let mut from = end.saturating_sub(matchers.longest);
        while !before.is_char_boundary(from) {
            from -= 1;
        }
        // The earliest start of a secret that runs on to the cut (the longest piece).
        let start = matchers
            .starts
            .find_overlapping_iter(&before[from..])
            .map(|m| from + m.start())
            .filter(|start| matchers.starts_a_form(&before[*start..]))
            .min();
        spans.extend(start.map(|start| (start, end)));
    }
    spans
}

#[cfg(test)]
mod tests;
