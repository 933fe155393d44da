//! SMART scopes as the reference server understands them: the launch and identity scopes, and
//! resource scopes in v1 (`patient/Observation.read`) and v2 (`patient/Observation.rs`,
//! `?category=` constraints) syntax (SMART App Launch 2.2 §Scopes and Launch Context).

/// Whose data a resource scope reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Patient,
    User,
    System,
}

/// A FHIR interaction a scope may permit (v2 letters `c r u d s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceScope {
    pub context: Context,
    /// A resource type, or `*`.
    pub resource_type: String,
    pub create: bool,
    pub read: bool,
    pub update: bool,
    pub delete: bool,
    pub search: bool,
    /// A v2 `?category=` constraint (a code, optionally `system|code`).
    pub category: Option<String>,
    /// Written in SMART v1 syntax (`.read`, `.*`).
    pub v1: bool,
}

/// Scopes that are not resource scopes and that this server grants.
const OTHER_SCOPES: &[&str] = &[
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
];

impl ResourceScope {
    pub fn parse(scope: &str) -> Option<ResourceScope> {
        let (context, rest) = scope.split_once('/')?;
        let context = match context {
            "patient" => Context::Patient,
            "user" => Context::User,
            "system" => Context::System,
            _ => return None,
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (resource_type, permission) = rest.rsplit_once('.')?;
        if resource_type != "*"
            && !(resource_type.starts_with(|c: char| c.is_ascii_uppercase())
                && resource_type.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return None;
        }
        let letters_of = match permission {
            // SMART v1: read covers read and search, write covers create, update and delete.
            "read" => "rs",
            "write" => "cud",
            "*" => "cruds",
            letters => letters,
        };
        match permission {
            "read" | "write" | "*" => {}
            letters => {
                // SMART v2: a non-empty subsequence of "cruds", in that order.
                let mut last = None;
                for c in letters.chars() {
                    let index = "cruds".find(c)?;
                    if last.is_some_and(|l| index <= l) {
                        return None;
                    }
                    last = Some(index);
                }
                if letters.is_empty() {
                    return None;
                }
            }
        }
        let category = match query {
            None => None,
            Some(q) => Some(q.strip_prefix("category=")?.to_string()).filter(|c| !c.is_empty()),
        };
        if query.is_some() && category.is_none() {
            return None;
        }
        Some(ResourceScope {
            context,
            resource_type: resource_type.to_string(),
            create: letters_of.contains('c'),
            read: letters_of.contains('r'),
            update: letters_of.contains('u'),
            delete: letters_of.contains('d'),
            search: letters_of.contains('s'),
            category,
            v1: matches!(permission, "read" | "write" | "*"),
        })
    }

    fn permits(&self, resource_type: &str, interaction: Interaction) -> bool {
        (self.resource_type == "*" || self.resource_type == resource_type)
            && match interaction {
                Interaction::Create => self.create,
                Interaction::Read => self.read,
                Interaction::Update => self.update,
                Interaction::Delete => self.delete,
                Interaction::Search => self.search,
            }
    }

    /// Whether a resource satisfies the scope's `category` constraint.
    pub fn category_allows(&self, resource: &serde_json::Value) -> bool {
        let Some(wanted) = &self.category else {
            return true;
        };
        let (system, code) = match wanted.split_once('|') {
            Some((s, c)) => (Some(s), c),
            None => (None, wanted.as_str()),
        };
        resource["category"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["coding"].as_array())
            .flatten()
            .any(|coding| coding["code"] == code && system.is_none_or(|s| coding["system"] == s))
    }
}

/// Whether the server knows a scope (and so may grant it).
pub fn is_known(scope: &str) -> bool {
    OTHER_SCOPES.contains(&launch_base(scope)) || ResourceScope::parse(scope).is_some()
}

/// A launch context scope without its `?role=` (SMART 2.2: an EHR that does not know the role
/// returns the context it has for the type), or the scope as it is.
pub fn launch_base(scope: &str) -> &str {
    match scope.split_once("?role=") {
        Some((base, role)) if base.starts_with("launch/") && !role.is_empty() => base,
        _ => scope,
    }
}

/// Splits a space-separated scope string.
pub fn split(scope: &str) -> Vec<&str> {
    scope.split_ascii_whitespace().collect()
}

/// Whether every scope of `narrower` is in `wider`.
pub fn is_subset(narrower: &str, wider: &str) -> bool {
    let wider = split(wider);
    split(narrower).iter().all(|s| wider.contains(s))
}

/// Whether a scope string holds this scope.
pub fn has(scope: &str, wanted: &str) -> bool {
    split(scope)
        .iter()
        .any(|s| *s == wanted || launch_base(s) == wanted)
}

/// The resource scopes of a scope string that permit an interaction on a type.
pub fn permitting(
    scope: &str,
    resource_type: &str,
    interaction: Interaction,
) -> Vec<ResourceScope> {
    split(scope)
        .into_iter()
        .filter_map(ResourceScope::parse)
        .filter(|s| s.permits(resource_type, interaction))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_resource_scopes() {
        let s = ResourceScope::parse("patient/Observation.read").unwrap();
        assert_eq!(
            (s.context, s.resource_type.as_str(), s.read, s.search),
            (Context::Patient, "Observation", true, true)
        );
        let s = ResourceScope::parse("user/*.rs").unwrap();
        assert_eq!((s.context, s.read, s.search), (Context::User, true, true));
        let s = ResourceScope::parse("system/Patient.r").unwrap();
        assert!(s.read && !s.search);
        let s = ResourceScope::parse("patient/Observation.rs?category=laboratory").unwrap();
        assert_eq!(s.category.as_deref(), Some("laboratory"));
        let w = ResourceScope::parse("patient/Observation.write").unwrap();
        assert!(!w.read && w.create && w.update && w.delete);
        let s = ResourceScope::parse("user/Basic.cuds").unwrap();
        assert!(s.create && !s.read && s.update && s.delete && s.search);
    }

    #[test]
    fn malformed_scopes_are_not_resource_scopes() {
        for bad in [
            "patient/Observation",
            "patient/Observation.sr",
            "patient/Observation.rr",
            "patient/Observation.x",
            "family/Observation.read",
            "patient/observation.read",
            "patient/Observation.rs?code=1",
            "patient/Observation.",
        ] {
            assert!(ResourceScope::parse(bad).is_none(), "{bad}");
        }
        assert!(is_known("launch/patient"));
        assert!(is_known("launch/patient?role=https://example.org/any"));
        assert!(has("openid launch/patient?role=x", "launch/patient"));
        assert!(!is_known("launch/unknown?role=x"));
        assert!(!is_known("admin"));
    }

    #[test]
    fn subsets_and_permissions() {
        assert!(is_subset(
            "patient/*.rs",
            "openid patient/*.rs offline_access"
        ));
        assert!(!is_subset("patient/*.rs user/*.rs", "patient/*.rs"));
        assert_eq!(
            permitting(
                "patient/Observation.rs launch",
                "Observation",
                Interaction::Search
            )
            .len(),
            1
        );
        assert!(permitting("patient/Observation.r", "Observation", Interaction::Search).is_empty());
        assert!(permitting("patient/Observation.rs", "Condition", Interaction::Read).is_empty());
    }
}
