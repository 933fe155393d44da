//! The scopes a flow asks for, in the server's own vocabulary.
//!
//! Suites write their requests in SMART's vocabulary (`launch/patient openid fhirUser
//! patient/*.rs offline_access`). A server with a vocabulary of its own (a payer API that
//! grants `patient/Patient.read patient/Coverage.read` and refuses `patient/*.rs`) would refuse
//! every such request, and the run would say nothing about the server but that. So each
//! scope a suite asks for that serves one of the [`Need`]s is chosen per server, in this
//! order:
//!
//! 1. the target's `scopes` map, when it names the need (an empty value: the server grants
//!    nothing for it, and the scope is left out);
//! 2. otherwise, when discovery lists `scopes_supported`: the scope itself when the list
//!    covers it (`patient/*.rs` covers `patient/Patient.rs`) or a capability implies it
//!    (`permission-offline` for `offline_access`: a server that lists the capability and
//!    refuses the scope is a finding, so the scope stays); for a resource read that the list
//!    does not cover, the read scopes it lists for that compartment; a scope neither covered
//!    nor implied is left out, since SMART's `scopes_supported` is "the scopes a client may
//!    request";
//! 3. otherwise (no list) the scope as the suite wrote it.
//!
//! Every change is recorded with its reason, so a report says what was asked and why.
//! Scopes that serve no need (`patient/Basic.cuds`, a `launch/patient?role=...` probe) are
//! sent as written: a suite that names them wants exactly them.

use std::collections::BTreeMap;

/// What a scope in a suite's request is there for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// `launch/patient`: a patient chosen in a standalone launch.
    LaunchPatient,
    /// `launch`: the context of an EHR launch.
    Launch,
    /// `openid`: an id_token.
    Openid,
    /// `fhirUser`: the user's FHIR resource in the id_token.
    FhirUser,
    /// `offline_access`: a refresh token that outlives the session.
    Offline,
    /// `online_access`: a refresh token for the session.
    Online,
    /// `patient/*.rs` (`patient/*.read` in SMART 1): reading the patient's data.
    PatientRead,
    /// `user/Practitioner.rs` (`.read`): reading the signed-in user.
    UserRead,
}

impl Need {
    pub const ALL: [Need; 8] = [
        Need::LaunchPatient,
        Need::Launch,
        Need::Openid,
        Need::FhirUser,
        Need::Offline,
        Need::Online,
        Need::PatientRead,
        Need::UserRead,
    ];

    /// The key naming the need in a target's `scopes` map.
    pub fn key(self) -> &'static str {
        match self {
            Need::LaunchPatient => "launch-patient",
            Need::Launch => "launch",
            Need::Openid => "openid",
            Need::FhirUser => "fhir-user",
            Need::Offline => "offline",
            Need::Online => "online",
            Need::PatientRead => "patient-read",
            Need::UserRead => "user-read",
        }
    }

    /// The need a scope of a suite's request serves, if any.
    pub fn of(scope: &str) -> Option<Need> {
        Some(match scope {
            "launch/patient" => Need::LaunchPatient,
            "launch" => Need::Launch,
            "openid" => Need::Openid,
            "fhirUser" => Need::FhirUser,
            "offline_access" => Need::Offline,
            "online_access" => Need::Online,
            "patient/*.rs" | "patient/*.read" => Need::PatientRead,
            "user/Practitioner.rs" | "user/Practitioner.read" => Need::UserRead,
            _ => return None,
        })
    }

    /// The SMART capability whose presence says the server supports the need's scope
    /// (SMART App Launch 2.2 §Capabilities), for the needs that have one.
    fn capability(self) -> Option<&'static str> {
        match self {
            Need::LaunchPatient => Some("context-standalone-patient"),
            Need::Launch => Some("launch-ehr"),
            Need::Openid | Need::FhirUser => Some("sso-openid-connect"),
            Need::Offline => Some("permission-offline"),
            Need::Online => Some("permission-online"),
            Need::PatientRead | Need::UserRead => None,
        }
    }
}

/// The target's `scopes` map: the server's own scopes for a need (empty: none).
pub type Vocabulary = BTreeMap<Need, String>;

/// What discovery says about scopes.
#[derive(Debug, Clone, Default)]
pub struct Offered {
    /// `scopes_supported`, when the server lists it.
    pub scopes: Option<Vec<String>>,
    pub capabilities: Vec<String>,
}

impl Offered {
    /// From a `discover` step's document (smart-configuration field names).
    pub fn from_discovery(document: &serde_json::Value) -> Offered {
        let strings = |field: &str| {
            document[field].as_array().map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
        };
        Offered {
            scopes: strings("scopes_supported"),
            capabilities: strings("capabilities").unwrap_or_default(),
        }
    }
}

/// One scope of the suite's request that was not sent as written.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    /// The scope the suite asked for.
    pub asked: String,
    /// What was sent instead (empty: nothing).
    pub sent: String,
    pub why: String,
}

/// A request in the server's vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub scope: String,
    pub changes: Vec<Change>,
}

impl Chosen {
    /// The scopes left out, each with the reason (for a skip message).
    pub fn left_out(&self) -> String {
        self.changes
            .iter()
            .filter(|c| c.sent.is_empty())
            .map(|c| format!("`{}` ({})", c.asked, c.why))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The request `asked` (space-separated) in the server's vocabulary: see the module notes.
pub fn choose(asked: &str, vocabulary: &Vocabulary, offered: &Offered) -> Chosen {
    let mut sent: Vec<String> = Vec::new();
    let mut changes = Vec::new();
    for scope in asked.split_ascii_whitespace() {
        let (chosen, why) = match Need::of(scope) {
            None => (vec![scope.to_string()], None),
            Some(need) => choose_for(scope, need, vocabulary, offered),
        };
        if let Some(why) = why {
            changes.push(Change {
                asked: scope.to_string(),
                sent: chosen.join(" "),
                why,
            });
        }
        for s in chosen {
            if !sent.contains(&s) {
                sent.push(s);
            }
        }
    }
    Chosen {
        scope: sent.join(" "),
        changes,
    }
}

/// The scopes sent for one asked scope, and why they differ from it (`None`: they do not).
fn choose_for(
    scope: &str,
    need: Need,
    vocabulary: &Vocabulary,
    offered: &Offered,
) -> (Vec<String>, Option<String>) {
    let key = need.key();
    if let Some(own) = vocabulary.get(&need) {
        let own: Vec<String> = own.split_ascii_whitespace().map(str::to_string).collect();
        if own.len() == 1 && own[0] == scope {
            return (own, None);
        }
        let why = if own.is_empty() {
            format!("the target's `scopes.{key}` says the server grants no such scope")
        } else {
            format!("the target's `scopes.{key}` names the server's own scope")
        };
        return (own, Some(why));
    }
    let Some(listed) = &offered.scopes else {
        return (vec![scope.to_string()], None);
    };
    if listed.iter().any(|l| covers(l, scope)) {
        return (vec![scope.to_string()], None);
    }
    if let Some(capability) = need.capability() {
        if offered.capabilities.iter().any(|c| c == capability) {
            return (vec![scope.to_string()], None);
        }
        return (
            Vec::new(),
            Some(format!(
                "scopes_supported does not list `{scope}` and capabilities do not include `{capability}` (set `scopes.{key}` in the target to ask for it anyway)"
            )),
        );
    }
    let Some(wanted) = ResourceScope::parse(scope) else {
        return (vec![scope.to_string()], None);
    };
    let readable: Vec<ResourceScope> = listed
        .iter()
        .filter_map(|l| ResourceScope::parse(l))
        .filter(|l| l.compartment == wanted.compartment && l.resource != "*")
        .filter(|l| need != Need::UserRead || l.resource == wanted.resource)
        .filter(|l| l.permissions.contains(&'r') && l.query.is_none())
        .collect();
    // One scope per resource type, in the syntax the suite asked in where the list has it
    // (a server listing `patient/Patient.rs` and `patient/Patient.read` gets one of them).
    let mut instead: Vec<String> = Vec::new();
    let mut types: Vec<&str> = Vec::new();
    for l in &readable {
        if types.contains(&l.resource) {
            continue;
        }
        types.push(l.resource);
        let same_syntax = readable
            .iter()
            .filter(|o| o.resource == l.resource)
            .find(|o| o.is_v1() == wanted.is_v1())
            .unwrap_or(l);
        instead.push(same_syntax.narrowed_to_read());
    }
    if instead.is_empty() {
        // Nothing listed to read that compartment with: the suite's scope is the best guess.
        return (vec![scope.to_string()], None);
    }
    let why = format!(
        "scopes_supported lists no scope covering `{scope}`; asking for the {} read scopes it lists instead (a target's `scopes.{key}` chooses others)",
        wanted.compartment
    );
    (instead, Some(why))
}

/// Whether a listed scope covers an asked one: the same scope, or a resource scope of the
/// same compartment for every resource type (`*`) or the same one, with at least the asked
/// permissions and the same query.
pub fn covers(listed: &str, asked: &str) -> bool {
    if listed == asked {
        return true;
    }
    let (Some(l), Some(a)) = (ResourceScope::parse(listed), ResourceScope::parse(asked)) else {
        return false;
    };
    l.compartment == a.compartment
        && (l.resource == "*" || l.resource == a.resource)
        && l.query == a.query
        && a.permissions.iter().all(|p| l.permissions.contains(p))
}

/// A SMART resource scope, `patient/Observation.rs?category=...` (2.x) or
/// `patient/Observation.read` (1.0).
#[derive(Debug, Clone, PartialEq)]
struct ResourceScope<'a> {
    compartment: &'a str,
    resource: &'a str,
    /// The 2.x letters it grants (`cruds`); SMART 1's `read` is `rs`, `write` `cud`, `*` all.
    permissions: Vec<char>,
    /// The scope's own permission text, for narrowing.
    text: &'a str,
    query: Option<&'a str>,
}

impl<'a> ResourceScope<'a> {
    fn parse(scope: &'a str) -> Option<ResourceScope<'a>> {
        let (compartment, rest) = scope.split_once('/')?;
        if !matches!(compartment, "patient" | "user" | "system") {
            return None;
        }
        let (resource_and_perms, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (resource, text) = resource_and_perms.rsplit_once('.')?;
        let permissions: Vec<char> = match text {
            "read" => vec!['r', 's'],
            "write" => vec!['c', 'u', 'd'],
            "*" => vec!['c', 'r', 'u', 'd', 's'],
            letters
                if !letters.is_empty()
                    && letters.chars().all(|c| "cruds".contains(c))
                    && is_in_order(letters) =>
            {
                letters.chars().collect()
            }
            _ => return None,
        };
        Some(ResourceScope {
            compartment,
            resource,
            permissions,
            text,
            query,
        })
    }

    /// Written in SMART 1's syntax (`.read`, `.write`, `.*`).
    fn is_v1(&self) -> bool {
        matches!(self.text, "read" | "write" | "*")
    }

    /// This scope (which grants a read) asking for reading only: `.rs`, or `.r` where search
    /// is not granted; SMART 1's `read`.
    fn narrowed_to_read(&self) -> String {
        let permissions = match self.text {
            "read" | "*" => "read".to_string(),
            _ => self
                .permissions
                .iter()
                .filter(|p| matches!(p, 'r' | 's'))
                .collect(),
        };
        format!("{}/{}.{permissions}", self.compartment, self.resource)
    }
}

/// SMART 2.x permissions are written in the order `c r u d s`.
fn is_in_order(letters: &str) -> bool {
    let rank = |c: char| "cruds".find(c).unwrap_or(usize::MAX);
    letters
        .chars()
        .zip(letters.chars().skip(1))
        .all(|(a, b)| rank(a) < rank(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANDALONE: &str = "launch/patient openid fhirUser patient/*.rs offline_access";

    fn offered(scopes: &[&str], capabilities: &[&str]) -> Offered {
        Offered {
            scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
            capabilities: capabilities.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_server_without_a_list_gets_the_request_as_written() {
        let chosen = choose(STANDALONE, &Vocabulary::new(), &Offered::default());
        assert_eq!(chosen.scope, STANDALONE);
        assert!(chosen.changes.is_empty());
    }

    #[test]
    fn a_listed_wildcard_covers_a_resource_and_fewer_permissions() {
        assert!(covers("user/*.rs", "user/Practitioner.rs"));
        assert!(covers("patient/*.cruds", "patient/*.rs"));
        assert!(covers("patient/*.read", "patient/*.rs"));
        assert!(covers("patient/*.*", "patient/Observation.read"));
        assert!(!covers("patient/Patient.rs", "patient/*.rs"));
        assert!(!covers("patient/*.r", "patient/*.rs"));
        assert!(!covers("user/*.rs", "patient/*.rs"));
        assert!(!covers("patient/*.rs?category=x", "patient/*.rs"));
        assert!(
            !covers("patient/*.sr", "patient/*.rs"),
            "out of order is no 2.x scope"
        );
    }

    #[test]
    fn a_server_listing_its_own_resource_scopes_is_asked_for_those() {
        let server = offered(
            &[
                "launch/patient",
                "openid",
                "fhirUser",
                "offline_access",
                "patient/Patient.read",
                "patient/Coverage.cruds",
                "patient/Claim.c",
                "patient/Coverage.read",
                "user/Patient.read",
            ],
            &[],
        );
        let chosen = choose(STANDALONE, &Vocabulary::new(), &server);
        assert_eq!(
            chosen.scope,
            "launch/patient openid fhirUser patient/Patient.read patient/Coverage.rs offline_access"
        );
        assert_eq!(chosen.changes.len(), 1);
        assert_eq!(chosen.changes[0].asked, "patient/*.rs");
        assert!(chosen.changes[0]
            .why
            .contains("scopes_supported lists no scope covering"));
        // A SMART 1 request gets the SMART 1 form where both are listed.
        let chosen = choose("patient/*.read", &Vocabulary::new(), &server);
        assert_eq!(chosen.scope, "patient/Patient.read patient/Coverage.read");
        // The user read is of the Practitioner: another user scope is no substitute.
        let chosen = choose("user/Practitioner.rs", &Vocabulary::new(), &server);
        assert_eq!(chosen.scope, "user/Practitioner.rs");
        assert!(chosen.changes.is_empty());
    }

    #[test]
    fn an_unlisted_scope_stays_when_a_capability_implies_it_and_goes_when_none_does() {
        let listed = ["launch/patient", "openid", "fhirUser", "patient/*.rs"];
        let with = choose(
            STANDALONE,
            &Vocabulary::new(),
            &offered(&listed, &["permission-offline"]),
        );
        assert_eq!(with.scope, STANDALONE);
        let without = choose(STANDALONE, &Vocabulary::new(), &offered(&listed, &[]));
        assert_eq!(without.scope, "launch/patient openid fhirUser patient/*.rs");
        assert_eq!(
            without.changes,
            vec![Change {
                asked: "offline_access".into(),
                sent: String::new(),
                why: "scopes_supported does not list `offline_access` and capabilities do not include `permission-offline` (set `scopes.offline` in the target to ask for it anyway)".into(),
            }]
        );
    }

    #[test]
    fn the_targets_map_wins_and_an_empty_value_leaves_the_scope_out() {
        let vocabulary: Vocabulary = [
            (
                Need::PatientRead,
                "patient/Patient.read patient/Coverage.read".to_string(),
            ),
            (Need::FhirUser, String::new()),
            (Need::Offline, "offline_access".to_string()),
        ]
        .into_iter()
        .collect();
        // The map applies even where the list would have decided otherwise.
        let chosen = choose(STANDALONE, &vocabulary, &offered(&["openid"], &[]));
        assert_eq!(
            chosen.scope,
            "openid patient/Patient.read patient/Coverage.read offline_access"
        );
        let asked: Vec<&str> = chosen.changes.iter().map(|c| c.asked.as_str()).collect();
        assert_eq!(asked, ["launch/patient", "fhirUser", "patient/*.rs"]);
        assert!(chosen.changes[1].why.contains("grants no such scope"));
        // A request left with nothing says why, for the step's skip.
        let nothing = choose("fhirUser", &vocabulary, &Offered::default());
        assert_eq!(nothing.scope, "");
        assert_eq!(
            nothing.left_out(),
            "`fhirUser` (the target's `scopes.fhir-user` says the server grants no such scope)"
        );
    }

    #[test]
    fn scopes_that_serve_no_need_are_sent_as_written_once() {
        let asked = "patient/Basic.cuds launch/patient?role=x launch/patient launch/patient";
        let chosen = choose(asked, &Vocabulary::new(), &offered(&["openid"], &[]));
        assert_eq!(chosen.scope, "patient/Basic.cuds launch/patient?role=x");
        assert_eq!(chosen.changes.len(), 2);
    }
}
