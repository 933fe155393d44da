//! The built-in requirement catalogue (`requirements/*.yaml`, embedded): entries with a stable
//! id, the published URL with its anchor, the level, whom the requirement binds, and the exact text.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The catalogue files, embedded so that the binary knows them wherever it runs.
pub const FILES: &[(&str, &str)] = &[
    (
        "requirements/smart-app-launch-2.2.yaml",
        include_str!("../../requirements/smart-app-launch-2.2.yaml"),
    ),
    (
        "requirements/smart-app-launch-1.0.yaml",
        include_str!("../../requirements/smart-app-launch-1.0.yaml"),
    ),
    (
        "requirements/rfc6749.yaml",
        include_str!("../../requirements/rfc6749.yaml"),
    ),
    (
        "requirements/rfc6750.yaml",
        include_str!("../../requirements/rfc6750.yaml"),
    ),
    (
        "requirements/rfc7009.yaml",
        include_str!("../../requirements/rfc7009.yaml"),
    ),
    (
        "requirements/rfc7517.yaml",
        include_str!("../../requirements/rfc7517.yaml"),
    ),
    (
        "requirements/rfc7523.yaml",
        include_str!("../../requirements/rfc7523.yaml"),
    ),
    (
        "requirements/rfc7591.yaml",
        include_str!("../../requirements/rfc7591.yaml"),
    ),
    (
        "requirements/rfc7592.yaml",
        include_str!("../../requirements/rfc7592.yaml"),
    ),
    (
        "requirements/rfc7636.yaml",
        include_str!("../../requirements/rfc7636.yaml"),
    ),
    (
        "requirements/rfc7662.yaml",
        include_str!("../../requirements/rfc7662.yaml"),
    ),
    (
        "requirements/rfc9700.yaml",
        include_str!("../../requirements/rfc9700.yaml"),
    ),
    (
        "requirements/oidc-core.yaml",
        include_str!("../../requirements/oidc-core.yaml"),
    ),
    (
        "requirements/oidc-discovery.yaml",
        include_str!("../../requirements/oidc-discovery.yaml"),
    ),
    (
        "requirements/fhir-r4.yaml",
        include_str!("../../requirements/fhir-r4.yaml"),
    ),
    (
        "requirements/s4s-debug.yaml",
        include_str!("../../requirements/s4s-debug.yaml"),
    ),
];

/// How strong a requirement is, as the source words it (RFC 2119 / BCP 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub enum ReqLevel {
    #[serde(rename = "SHALL")]
    Shall,
    #[serde(rename = "SHALL NOT")]
    ShallNot,
    #[serde(rename = "SHOULD")]
    Should,
    #[serde(rename = "SHOULD NOT")]
    ShouldNot,
    #[serde(rename = "MAY")]
    May,
}

impl ReqLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            ReqLevel::Shall => "SHALL",
            ReqLevel::ShallNot => "SHALL NOT",
            ReqLevel::Should => "SHOULD",
            ReqLevel::ShouldNot => "SHOULD NOT",
            ReqLevel::May => "MAY",
        }
    }

    /// 2 for an absolute requirement (SHALL, SHALL NOT), 1 for a recommendation, 0 for MAY.
    pub fn strength(self) -> u8 {
        match self {
            ReqLevel::Shall | ReqLevel::ShallNot => 2,
            ReqLevel::Should | ReqLevel::ShouldNot => 1,
            ReqLevel::May => 0,
        }
    }
}

/// Whom a requirement binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Binds {
    AuthorizationServer,
    ResourceServer,
    /// The EHR or FHIR server as a whole (authorization and resource server together).
    Ehr,
    Client,
}

impl Binds {
    pub fn as_str(self) -> &'static str {
        match self {
            Binds::AuthorizationServer => "authorization-server",
            Binds::ResourceServer => "resource-server",
            Binds::Ehr => "ehr",
            Binds::Client => "client",
        }
    }

    /// A duty a server-conformance check can hold a server to.
    pub fn is_server(self) -> bool {
        !matches!(self, Binds::Client)
    }
}

/// What kind of statement an entry is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A sentence with a BCP 14 keyword.
    #[default]
    Statement,
    /// A field a table or list labels required / recommended / conditional.
    Field,
    /// A server that lists a capability commits to supporting it.
    Capability,
    /// A rule the text states without a keyword.
    Implicit,
}

/// How the texts of a source are proven against the published text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verification {
    /// SMART App Launch 2.2.0 page sources (../shared/specs/smart-app-launch-2.2.0): text and anchor.
    SmartPages,
    /// An RFC's plain text (../shared/specs/rfc/rfcNNNN.txt): text within the cited section.
    RfcText,
    /// A tutorial of ../shared/seeds (`file`): the text occurs in it.
    Seed,
    /// Not in ../shared/specs: checked by hand, as the source's `checked` says.
    Manual,
}

/// One requirement.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Entry {
    pub id: String,
    pub url: String,
    pub level: ReqLevel,
    /// The keyword as the source writes it, where it differs from `level` (`REQUIRED`, `required`,
    /// `RECOMMENDED`, `CONDITIONAL`, `MUST`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    pub binds: Vec<Binds>,
    #[serde(default)]
    pub kind: Kind,
    /// The exact words of the source (`...` marks omitted words).
    pub text: String,
    /// Why no check can test this from outside the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untestable: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The entry whose keyword this one's words continue or take their force from (a fragment
    /// such as "and ensure that it has not expired"); its level is this entry's level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governed_by: Option<String>,
    /// The catalogue source the entry belongs to (set on load).
    #[serde(skip_deserializing, default)]
    pub source: String,
}

impl Entry {
    /// The strongest level a server check may take from this entry: 0 when it binds no server.
    pub fn server_strength(&self) -> u8 {
        if self.binds.iter().any(|b| b.is_server()) {
            self.level.strength()
        } else {
            0
        }
    }

    pub fn binds_text(&self) -> String {
        self.binds
            .iter()
            .map(|b| b.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One catalogue file: one published source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Source {
    /// Stable key, e.g. `rfc6749`.
    pub source: String,
    pub title: String,
    pub url: String,
    pub verify: Verification,
    /// For `verify: manual`: how the texts were checked.
    #[serde(default)]
    pub checked: Option<String>,
    /// For `verify: rfc-text`: the file under ../shared/specs/rfc; for `verify: seed`, under
    /// ../shared/seeds.
    #[serde(default)]
    pub file: Option<String>,
    pub requirements: Vec<Entry>,
    #[serde(skip)]
    pub path: String,
}

/// Every source, and an index by id.
#[derive(Debug)]
pub struct Catalogue {
    pub sources: Vec<Source>,
    index: BTreeMap<String, (usize, usize)>,
}

/// A catalogue file that does not load.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: requirement id `{id}` is used twice (also in {other})")]
    Duplicate {
        file: String,
        id: String,
        other: String,
    },
    #[error("{file}: requirement `{id}`: {message}")]
    Invalid {
        file: String,
        id: String,
        message: String,
    },
}

impl Catalogue {
    /// Parses catalogue files: `(path, text)` pairs.
    pub fn parse(files: &[(&str, &str)]) -> Result<Catalogue, CatalogueError> {
        let mut sources = Vec::new();
        let mut index = BTreeMap::new();
        for (path, text) in files {
            let mut source: Source =
                serde_yaml::from_str(text).map_err(|e| CatalogueError::Parse {
                    file: path.to_string(),
                    message: e.to_string(),
                })?;
            source.path = path.to_string();
            let si = sources.len();
            for (ei, entry) in source.requirements.iter_mut().enumerate() {
                entry.source = source.source.clone();
                let invalid = |message: &str| CatalogueError::Invalid {
                    file: path.to_string(),
                    id: entry.id.clone(),
                    message: message.to_string(),
                };
                if entry.binds.is_empty() {
                    return Err(invalid("`binds` names nobody"));
                }
                if entry.text.trim().is_empty() {
                    return Err(invalid("`text` is empty"));
                }
                if url::Url::parse(&entry.url).is_err() {
                    return Err(invalid("`url` is not an absolute URL"));
                }
                if let Some((osi, _)) = index.insert(entry.id.clone(), (si, ei)) {
                    let other: &Source = &sources[osi];
                    return Err(CatalogueError::Duplicate {
                        file: path.to_string(),
                        id: entry.id.clone(),
                        other: other.path.clone(),
                    });
                }
            }
            sources.push(source);
        }
        Ok(Catalogue { sources, index })
    }

    /// The catalogue built into the binary.
    pub fn builtin() -> &'static Catalogue {
        static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
        CATALOGUE.get_or_init(|| {
            // The embedded files are tested (tests/citations.rs and the unit test below); a
            // broken one is a build defect, not user input.
            Catalogue::parse(FILES)
                .unwrap_or_else(|e| panic!("built-in requirement catalogue: {e}"))
        })
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.index
            .get(id)
            .map(|(s, e)| &self.sources[*s].requirements[*e])
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.sources.iter().flat_map(|s| s.requirements.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_loads_with_unique_ids() {
        let c = Catalogue::builtin();
        assert!(c.entries().count() >= 181);
        let e = c.get("smart-cf-22").expect("S256 entry");
        assert_eq!(e.level, ReqLevel::Shall);
        assert!(e.text.contains("S256"));
    }

    #[test]
    fn every_catalogue_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/requirements");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| format!("requirements/{}", e.unwrap().file_name().to_string_lossy()))
            .filter(|n| n.ends_with(".yaml"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn duplicates_and_empty_binds_are_refused() {
        let one = "source: x\ntitle: X\nurl: https://x.example/\nverify: manual\nchecked: by hand\nrequirements:\n  - { id: a, url: 'https://x.example/#a', level: SHALL, binds: [client], text: t }\n";
        let err = Catalogue::parse(&[("a.yaml", one), ("b.yaml", one)]).unwrap_err();
        assert!(err.to_string().contains("`a` is used twice"), "{err}");
        let none = one.replace("[client]", "[]");
        let err = Catalogue::parse(&[("a.yaml", &none)]).unwrap_err();
        assert!(err.to_string().contains("names nobody"), "{err}");
    }
}
