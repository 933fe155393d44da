//! The level rule: an entry's `level` follows from its own words, mechanically.
//!
//! - A statement or field carries a BCP 14 keyword (RFC 2119 / RFC 8174; the field tables of
//!   SMART and OpenID write `required`, `recommended`, `optional` or `CONDITIONAL`). The entry
//!   names that keyword (`keyword`, or its `level` when they are spelled alike) and the level is
//!   the keyword's.
//! - A fragment without a keyword of its own ("and ensure that it has not expired") names the
//!   entry whose sentence it continues (`governed-by`) and takes that entry's level.
//! - A capability a server lists is a claim the server makes about itself ("Any individual SMART
//!   server will publish a granular list of its capabilities"): `SHALL (implied)`.
//! - A rule the source states without any keyword (`kind: implicit`) is never absolute: SHOULD,
//!   SHOULD NOT or MAY.
//!
//! `tests` below hold the whole built-in catalogue to it.

use super::catalogue::{Catalogue, Entry, Kind, ReqLevel};

/// The keywords and the level each gives, longest first so that `MUST NOT` is not read as `MUST`.
const KEYWORDS: &[(&str, ReqLevel)] = &[
    ("NOT RECOMMENDED", ReqLevel::ShouldNot),
    ("SHALL NOT", ReqLevel::ShallNot),
    ("MUST NOT", ReqLevel::ShallNot),
    ("SHOULD NOT", ReqLevel::ShouldNot),
    ("CONDITIONAL", ReqLevel::Shall),
    ("RECOMMENDED", ReqLevel::Should),
    ("REQUIRED", ReqLevel::Shall),
    ("OPTIONAL", ReqLevel::May),
    ("SHALL", ReqLevel::Shall),
    ("MUST", ReqLevel::Shall),
    ("SHOULD", ReqLevel::Should),
    ("MAY", ReqLevel::May),
];

/// The keyword a capability entry carries: a listed capability is a claim of support.
pub const CAPABILITY_KEYWORD: &str = "SHALL (implied)";

/// The keywords a text carries, in the order they occur. A statement's keywords are upper case
/// (BCP 14 gives lower-case words no force); a field table's `required`, `recommended`,
/// `optional` and `conditional` count in either case (`CONDITIONAL` is required when its
/// condition holds, which the field's text states).
pub fn keywords_in(text: &str, kind: Kind) -> Vec<(&'static str, ReqLevel)> {
    let field_word = |k: &str| matches!(k, "REQUIRED" | "RECOMMENDED" | "OPTIONAL" | "CONDITIONAL");
    let upper = text.to_ascii_uppercase();
    let mut taken = vec![false; text.len()];
    let mut found = Vec::new();
    for &(keyword, level) in KEYWORDS {
        let case_free = kind == Kind::Field && field_word(keyword);
        if keyword == "CONDITIONAL" && kind != Kind::Field {
            continue;
        }
        let haystack = if case_free { &upper } else { text };
        for (at, _) in haystack.match_indices(keyword) {
            let end = at + keyword.len();
            let is_word = |i: Option<u8>| i.is_none_or(|c| !c.is_ascii_alphanumeric());
            let bounded = is_word(at.checked_sub(1).map(|i| text.as_bytes()[i]))
                && is_word(text.as_bytes().get(end).copied());
            if bounded && !taken[at..end].iter().any(|t| *t) {
                taken[at..end].iter_mut().for_each(|t| *t = true);
                found.push((at, keyword, level));
            }
        }
    }
    found.sort_by_key(|(at, _, _)| *at);
    found.into_iter().map(|(_, k, l)| (k, l)).collect()
}

/// Why an entry's level does not follow from its words, or `None` when it does.
pub fn level_finding(catalogue: &Catalogue, entry: &Entry) -> Option<String> {
    let level = entry.level.as_str();
    let own = keywords_in(&entry.text, entry.kind);
    if entry.kind == Kind::Capability {
        return (entry.level != ReqLevel::Shall
            || entry.keyword.as_deref() != Some(CAPABILITY_KEYWORD))
        .then(|| format!("a capability is `{CAPABILITY_KEYWORD}`, not {level}"));
    }
    if let Some(id) = &entry.governed_by {
        let Some(governing) = governing_entry(catalogue, entry) else {
            return Some(format!(
                "`governed-by: {id}` names no entry, or a chain that comes back to it"
            ));
        };
        if let Some((keyword, _)) = own.first() {
            return Some(format!(
                "its text carries `{keyword}` itself; `governed-by` is for words without one"
            ));
        }
        return (governing.level != entry.level).then(|| {
            format!(
                "it continues `{}` ({}), so its level is {}, not {level}",
                governing.id,
                governing.level.as_str(),
                governing.level.as_str()
            )
        });
    }
    if entry.kind == Kind::Implicit {
        if let Some((keyword, _)) = own.first() {
            return Some(format!(
                "`kind: implicit` is for words without a keyword, and its text carries `{keyword}`"
            ));
        }
        return (entry.level.strength() == 2).then(|| {
            format!(
                "its text carries no keyword and continues no entry, so it cannot be {level}: \
                 SHOULD at most, or name the entry it continues with `governed-by`"
            )
        });
    }
    if own.is_empty() {
        return Some(
            "its text carries no keyword: quote the words that do (`...` marks a gap), name \
             the entry it continues with `governed-by`, or make it `kind: implicit`"
                .to_string(),
        );
    }
    let declared = entry.keyword.as_deref().unwrap_or(level);
    let Some((_, keyword_level)) = own.iter().find(|(k, _)| k.eq_ignore_ascii_case(declared))
    else {
        let carried: Vec<&str> = own.iter().map(|(k, _)| *k).collect();
        return Some(format!(
            "it names `{declared}`, which its text does not carry (it carries {})",
            carried.join(", ")
        ));
    };
    (*keyword_level != entry.level)
        .then(|| format!("`{declared}` is {}, not {level}", keyword_level.as_str()))
}

/// The entry at the end of `entry`'s `governed-by` chain, or `None` for an unknown id or a loop.
fn governing_entry<'c>(catalogue: &'c Catalogue, entry: &Entry) -> Option<&'c Entry> {
    let mut current = catalogue.get(entry.governed_by.as_deref()?)?;
    for _ in 0..catalogue.entries().count() {
        match &current.governed_by {
            None => return (current.id != entry.id).then_some(current),
            Some(next) => current = catalogue.get(next)?,
        }
    }
    None
}

/// Every entry of `catalogue` whose level does not follow from its words, with the reason.
pub fn level_findings(catalogue: &Catalogue) -> Vec<String> {
    catalogue
        .entries()
        .filter_map(|e| level_finding(catalogue, e).map(|why| format!("{}: {why}", e.id)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(entries: &str) -> Catalogue {
        let text = format!(
            "source: x\ntitle: X\nurl: https://x.example/\nverify: manual\nchecked: by hand\nrequirements:\n{entries}"
        );
        Catalogue::parse(&[("x.yaml", &text)]).unwrap()
    }

    fn finding(entries: &str, id: &str) -> Option<String> {
        let c = parse(entries);
        level_finding(&c, c.get(id).unwrap())
    }

    #[test]
    fn keywords_are_read_longest_first_and_as_words() {
        let kinds = |t| {
            keywords_in(t, Kind::Statement)
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds("It MUST NOT and MAY, but MUSTARD"),
            ["MUST NOT", "MAY"]
        );
        assert_eq!(
            kinds("it may reject: lower case is no keyword"),
            Vec::<&str>::new()
        );
        let field = keywords_in("code required The code", Kind::Field);
        assert_eq!(field, [("REQUIRED", ReqLevel::Shall)]);
        assert!(keywords_in("required by the text", Kind::Statement).is_empty());
    }

    #[test]
    fn the_level_is_the_keyword_the_text_carries() {
        let e = |level: &str, keyword: &str, text: &str| {
            format!("  - {{ id: a, url: 'https://x.example/#a', level: {level}, {keyword} binds: [authorization-server], text: \"{text}\" }}\n")
        };
        assert_eq!(
            finding(&e("SHALL", "keyword: MUST,", "It MUST do"), "a"),
            None
        );
        assert_eq!(finding(&e("SHOULD", "", "It SHOULD do"), "a"), None);
        let optional = finding(
            &e(
                "SHALL",
                "keyword: OPTIONAL,",
                "x OPTIONAL. If issued, it MUST",
            ),
            "a",
        );
        assert_eq!(optional.as_deref(), Some("`OPTIONAL` is MAY, not SHALL"));
        let absent = finding(&e("SHALL", "keyword: MUST,", "It MAY do"), "a").unwrap();
        assert!(absent.contains("does not carry"), "{absent}");
        let bare = finding(&e("SHALL", "", "It does"), "a").unwrap();
        assert!(bare.contains("carries no keyword"), "{bare}");
        let implicit = e("SHALL", "kind: implicit,", "It does");
        assert!(finding(&implicit, "a").unwrap().contains("SHOULD at most"));
        assert_eq!(
            finding(&e("SHOULD", "kind: implicit,", "It does"), "a"),
            None
        );
    }

    #[test]
    fn a_fragment_takes_the_level_of_the_entry_it_continues() {
        let two = |level: &str, text: &str| {
            format!(
                "  - {{ id: lead, url: 'https://x.example/#a', level: SHALL, binds: [ehr], text: \"It SHALL check\" }}\n  - {{ id: frag, url: 'https://x.example/#a', level: {level}, governed-by: lead, binds: [ehr], text: \"{text}\" }}\n"
            )
        };
        assert_eq!(
            finding(&two("SHALL", "and that it has not expired"), "frag"),
            None
        );
        let weaker = finding(&two("SHOULD", "and that it has not expired"), "frag").unwrap();
        assert!(
            weaker.contains("its level is SHALL, not SHOULD"),
            "{weaker}"
        );
        let own = finding(&two("SHALL", "and it MAY"), "frag").unwrap();
        assert!(own.contains("carries `MAY` itself"), "{own}");
        let looped = "  - { id: a, url: 'https://x.example/#a', level: SHALL, governed-by: b, binds: [ehr], text: x }\n  - { id: b, url: 'https://x.example/#a', level: SHALL, governed-by: a, binds: [ehr], text: y }\n";
        assert!(finding(looped, "a").unwrap().contains("comes back"));
    }

    #[test]
    fn every_builtin_entry_takes_its_level_from_its_words() {
        let findings = level_findings(Catalogue::builtin());
        assert!(
            findings.is_empty(),
            "{} entries break the level rule:\n{}",
            findings.len(),
            findings.join("\n")
        );
    }
}
