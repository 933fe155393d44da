//! Proves catalogue texts against the published sources: SMART page texts and anchors against the
//! IG's Markdown pages, RFC texts against the RFC's plain text within the cited section.

use std::collections::BTreeMap;
use std::path::Path;

use super::catalogue::{Catalogue, Entry, Verification};

/// One catalogue entry whose text or anchor the source does not bear out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub id: String,
    pub message: String,
}

/// What a verification found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Entries proven against a local source text.
    pub proven: usize,
    /// Entries whose source is not in the specs folder (checked by hand, as the source says).
    pub manual: usize,
    pub problems: Vec<Problem>,
}

/// Why the sources could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error("the sources are not there: {0} is missing")]
    Missing(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

/// Compares text as people read it: Markdown and HTML markup, table pipes, citation markers,
/// typographic quotes and line breaks do not count.
pub fn normalize(text: &str) -> String {
    let mut s = text.replace(['\u{201c}', '\u{201d}'], "\"");
    s = s.replace(['\u{2018}', '\u{2019}'], "'");
    s = s.replace('\u{a0}', " ");
    // Jekyll includes ({%include exp.html%}) and Kramdown attribute lists ({: #id}).
    s = regex_replace(&s, r"\{%\s*include\s+([A-Za-z0-9_-]+)\.html\s*%\}", "$1");
    s = regex_replace(&s, r"\{:[^}]*\}", " ");
    // Links: [text](url) and [text][ref] keep their text.
    s = regex_replace(&s, r"\[([^\]]*)\]\([^)]*\)", "$1");
    s = regex_replace(&s, r"\[([^\]]*)\]\[[^\]]*\]", "$1");
    // RFC citation markers ([RFC6749], [JWT]).
    s = regex_replace(&s, r"\[[A-Z][A-Za-z0-9.-]*\]", " ");
    // HTML tags.
    s = regex_replace(&s, r"</?[A-Za-z][^>]*>", " ");
    s = s.replace(['*', '`'], "");
    s = s.replace('|', " ");
    // Words an RFC splits at a hyphen across lines.
    s = regex_replace(&s, r"([A-Za-z])-\n\s+([a-z])", "$1-$2");
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn regex_replace(text: &str, pattern: &str, with: &str) -> String {
    regex::Regex::new(pattern)
        .expect("static pattern")
        .replace_all(text, with)
        .into_owned()
}

/// Whether every `...`-separated fragment of `quote` occurs in `haystack`, in order.
pub fn contains_in_order(haystack: &str, quote: &str) -> Result<(), String> {
    let mut from = 0;
    for fragment in quote.split(['\u{2026}']).flat_map(|f| f.split("...")) {
        let fragment = normalize(fragment);
        if fragment.is_empty() {
            continue;
        }
        match haystack[from..].find(&fragment) {
            Some(at) => from += at + fragment.len(),
            None => {
                return Err(if haystack.contains(&fragment) {
                    format!("\"{fragment}\" is there, but not in the order quoted")
                } else {
                    format!("\"{fragment}\" is not in the section")
                })
            }
        }
    }
    Ok(())
}

/// The anchor ids of a Markdown page (as the IG publisher makes them) with their sections' text.
pub fn markdown_sections(page: &str) -> BTreeMap<String, String> {
    let lines: Vec<&str> = page.lines().collect();
    // (line index, level) of every heading outside code fences.
    let mut headings: Vec<(usize, usize)> = Vec::new();
    let mut fenced = false;
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let level = line.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&level) && line[level..].starts_with([' ', '\t']) {
            headings.push((i, level));
        }
    }
    let section_end = |hi: usize| -> usize {
        let (_, level) = headings[hi];
        headings[hi + 1..]
            .iter()
            .find(|(_, l)| *l <= level)
            .map(|(i, _)| *i)
            .unwrap_or(lines.len())
    };
    let text_of = |from: usize, to: usize| normalize(&lines[from..to].join("\n"));
    let mut sections = BTreeMap::new();
    sections.insert(String::new(), text_of(0, lines.len()));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (hi, (line, level)) in headings.iter().enumerate() {
        let title = lines[*line][*level..].trim();
        let mut id = heading_id(title);
        if let Some(n) = seen.get_mut(&id) {
            *n += 1;
            id = format!("{id}-{n}");
        } else {
            seen.insert(id.clone(), 0);
        }
        // An explicit `{: #id}` on the next line replaces the generated id.
        if let Some(explicit) = lines
            .get(line + 1)
            .and_then(|l| l.trim().strip_prefix("{: #"))
            .and_then(|l| l.strip_suffix('}'))
        {
            id = explicit.trim().to_string();
        }
        sections.insert(id, text_of(*line, section_end(hi)));
    }
    // `<a id="...">` anchors name the section of the heading that follows them.
    let anchor = regex::Regex::new(r#"<a (?:id|name)="([^"]+)""#).expect("static pattern");
    for (i, line) in lines.iter().enumerate() {
        for cap in anchor.captures_iter(line) {
            let end = headings
                .iter()
                .position(|(h, _)| *h > i)
                .map(section_end)
                .unwrap_or(lines.len());
            sections.insert(cap[1].to_string(), text_of(i, end));
        }
    }
    sections
}

/// The id kramdown (GFM mode) gives a heading.
pub fn heading_id(title: &str) -> String {
    let title = regex_replace(title, r"\{%\s*include\s+([A-Za-z0-9_-]+)\.html\s*%\}", "$1");
    let title = regex_replace(&title, r"\[([^\]]*)\]\([^)]*\)", "$1");
    title
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The sections of an RFC's plain text, by number (`4.1.2`): each with its subsections.
pub fn rfc_sections(text: &str) -> BTreeMap<String, String> {
    let page_break = regex::Regex::new(r"(?m)^(RFC \d+ .*|.*\[Page \d+\])$").expect("static");
    let cleaned = text.replace('\u{c}', "");
    let cleaned = page_break.replace_all(&cleaned, "");
    let lines: Vec<&str> = cleaned.lines().collect();
    let heading = regex::Regex::new(r"^(\d+(?:\.\d+)*)\.\s+\S").expect("static");
    let numbered: Vec<(usize, String)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| heading.captures(l).map(|c| (i, c[1].to_string())))
        .collect();
    let mut sections = BTreeMap::new();
    for (k, (start, number)) in numbered.iter().enumerate() {
        let prefix = format!("{number}.");
        let end = numbered[k + 1..]
            .iter()
            .find(|(_, n)| !n.starts_with(&prefix))
            .map(|(i, _)| *i)
            .unwrap_or(lines.len());
        sections.insert(number.clone(), normalize(&lines[*start..end].join("\n")));
    }
    sections
}

/// Splits a source text into its addressable parts (anchor or section number -> text).
type Splitter = fn(&str) -> BTreeMap<String, String>;

/// Proves every entry of the catalogue whose source is in `specs` (../shared/specs).
pub fn verify(catalogue: &Catalogue, specs: &Path) -> Result<Findings, SourcesError> {
    let mut findings = Findings::default();
    // Parsed sources by file: anchor or section number -> normalized text.
    let mut parsed: BTreeMap<std::path::PathBuf, BTreeMap<String, String>> = BTreeMap::new();
    for source in &catalogue.sources {
        for entry in &source.requirements {
            // Where the text must be: the file, how to split it, and which part.
            let file = source.file.clone().unwrap_or_default();
            let (path, split, part, label): (_, Splitter, _, _) = match source.verify {
                Verification::Manual => {
                    findings.manual += 1;
                    continue;
                }
                Verification::SmartPages => {
                    let Some((page, anchor)) = smart_page(&source.url, entry) else {
                        findings.problems.push(Problem {
                            id: entry.id.clone(),
                            message: format!("`{}` is not a page of {}", entry.url, source.url),
                        });
                        continue;
                    };
                    let dir = specs.join("smart-app-launch-2.2.0");
                    if !dir.is_dir() {
                        return Err(SourcesError::Missing(dir.display().to_string()));
                    }
                    let label = format!("{page}.html#{anchor}");
                    (
                        dir.join(format!("{page}.md")),
                        markdown_sections,
                        anchor,
                        label,
                    )
                }
                Verification::RfcText => {
                    let Some(section) = entry.url.split("#section-").nth(1) else {
                        findings.problems.push(Problem {
                            id: entry.id.clone(),
                            message: format!("`{}` names no #section-N", entry.url),
                        });
                        continue;
                    };
                    let label = format!("{file} section {section}");
                    (
                        specs.join("rfc").join(&file),
                        rfc_sections,
                        section.to_string(),
                        label,
                    )
                }
                Verification::Seed => {
                    let seeds = specs.parent().unwrap_or(specs).join("seeds");
                    (seeds.join(&file), whole_text, String::new(), file.clone())
                }
            };
            if !parsed.contains_key(&path) {
                let text = std::fs::read_to_string(&path).map_err(|source| SourcesError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                parsed.insert(path.clone(), split(&text));
            }
            let outcome = match parsed[&path].get(&part) {
                None => Err(format!("{label}: no such anchor or section")),
                Some(text) => {
                    contains_in_order(text, &entry.text).map_err(|m| format!("{label}: {m}"))
                }
            };
            match outcome {
                Ok(()) => findings.proven += 1,
                Err(message) => findings.problems.push(Problem {
                    id: entry.id.clone(),
                    message,
                }),
            }
        }
    }
    Ok(findings)
}

/// A file read as one part (key ``).
fn whole_text(text: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(String::new(), normalize(text))])
}

/// `(page, anchor)` of a SMART URL under the source's base URL.
fn smart_page(base: &str, entry: &Entry) -> Option<(String, String)> {
    let rest = entry.url.strip_prefix(base)?;
    let (page, anchor) = rest.split_once('#').unwrap_or((rest, ""));
    let page = page.strip_suffix(".html")?;
    Some((page.to_string(), anchor.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_ids_follow_the_ig_publisher() {
        assert_eq!(
            heading_id("Considerations for Cross-Origin Resource Sharing (CORS) support"),
            "considerations-for-cross-origin-resource-sharing-cors-support"
        );
        assert_eq!(
            heading_id("Retrieve `.well-known/smart-configuration`"),
            "retrieve-well-knownsmart-configuration"
        );
        assert_eq!(
            heading_id(
                "Experimental: Authorization Details for Multiple Servers {%include exp.html%}"
            ),
            "experimental-authorization-details-for-multiple-servers-exp"
        );
    }

    #[test]
    fn repeated_headings_are_numbered_and_sections_hold_their_text() {
        let page = "## Request\nask **nicely**\n## Response\nThe `access_token` SHALL be\n### Detail\ninner\n## Response\nsecond\n";
        let s = markdown_sections(page);
        assert!(s["response"].contains("The access_token SHALL be ### Detail inner"));
        assert_eq!(s["response-1"], "## Response second");
        assert!(contains_in_order(&s["request"], "ask nicely").is_ok());
        assert!(contains_in_order(&s["response"], "access_token ... inner").is_ok());
        assert!(contains_in_order(&s["response"], "inner ... access_token").is_err());
        assert!(contains_in_order(&s["response"], "SHOULD be").is_err());
    }

    #[test]
    fn rfc_sections_include_subsections_and_skip_page_breaks() {
        let text = "5.  Issuing\n\n   The server MUST\n\n\nHardt   Standards Track   [Page 9]\n\u{c}\nRFC 6749   OAuth 2.0   October 2012\n\n   include the entity-\n   body.\n\n5.1.  Success\n\n   with a 200 (OK) [RFC2616] status code\n\n6.  Refreshing\n";
        let s = rfc_sections(text);
        assert!(
            contains_in_order(&s["5"], "The server MUST include the entity-body.").is_ok(),
            "{}",
            s["5"]
        );
        assert!(contains_in_order(&s["5"], "with a 200 (OK) status code").is_ok());
        assert!(contains_in_order(&s["5.1"], "The server MUST").is_err());
        assert!(!s["5"].contains("Refreshing"));
    }

    #[test]
    fn verify_reports_wrong_text_missing_anchors_and_missing_sources() {
        let specs = std::env::temp_dir().join(format!("smartcheck-specs-{}", std::process::id()));
        std::fs::create_dir_all(specs.join("smart-app-launch-2.2.0")).unwrap();
        std::fs::create_dir_all(specs.join("rfc")).unwrap();
        std::fs::write(
            specs.join("smart-app-launch-2.2.0/conformance.md"),
            "## Metadata\nThe S256 method **SHALL** be included in this list\n",
        )
        .unwrap();
        std::fs::write(
            specs.join("rfc/rfc1.txt"),
            "5.1.  Success\n\n   with a 200 (OK) status\n",
        )
        .unwrap();
        let smart = "source: s\ntitle: S\nurl: https://x.example/\nverify: smart-pages\nrequirements:\n  - { id: ok, url: 'https://x.example/conformance.html#metadata', level: SHALL, binds: [ehr], text: 'The S256 method SHALL be included' }\n  - { id: level, url: 'https://x.example/conformance.html#metadata', level: SHALL, binds: [ehr], text: 'The S256 method SHOULD be included' }\n  - { id: anchor, url: 'https://x.example/conformance.html#response', level: SHALL, binds: [ehr], text: 'The S256 method' }\n";
        let rfc = "source: r\ntitle: R\nurl: https://r.example/\nverify: rfc-text\nfile: rfc1.txt\nrequirements:\n  - { id: r-ok, url: 'https://r.example/#section-5.1', level: SHALL, binds: [ehr], text: 'with a 200 (OK) status' }\n  - { id: r-section, url: 'https://r.example/#section-5.2', level: SHALL, binds: [ehr], text: 'with a 200 (OK) status' }\n";
        let catalogue = Catalogue::parse(&[("s.yaml", smart), ("r.yaml", rfc)]).unwrap();
        let findings = verify(&catalogue, &specs).unwrap();
        assert_eq!(findings.proven, 2);
        let ids: Vec<&str> = findings.problems.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            ["level", "anchor", "r-section"],
            "{:?}",
            findings.problems
        );
        assert!(findings.problems[0]
            .message
            .contains("\"The S256 method SHOULD be included\" is not in the section"));
        std::fs::remove_dir_all(specs.join("smart-app-launch-2.2.0")).unwrap();
        assert!(matches!(
            verify(&catalogue, &specs),
            Err(SourcesError::Missing(_))
        ));
        std::fs::remove_dir_all(&specs).unwrap();
    }
}
