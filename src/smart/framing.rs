//! Who may frame a page, as a browser reads its headers: the clickjacking defence of the
//! authorization server's sign-in and consent screens (RFC 6749 §10.13: "avoidance of iframes
//! can be enforced by the authorization server using the (non-standard) "x-frame-options"
//! header").
//!
//! A Content-Security-Policy `frame-ancestors` directive wins over `X-Frame-Options` where both
//! are sent (CSP Level 2 §7.7.1: browsers ignore `X-Frame-Options` then). EHRs launch apps in
//! frames of their own pages, so a list of allowed ancestors is as good as none at all.

/// How framing of a page is limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No site may frame it (`frame-ancestors 'none'`, `X-Frame-Options: DENY`).
    Denied,
    /// Only its own origin (`frame-ancestors 'self'`, `X-Frame-Options: SAMEORIGIN`).
    SameOrigin,
    /// A list of allowed ancestors without a wildcard.
    Listed,
    /// Any site (no directive, a wildcard, or only the obsolete `ALLOW-FROM`).
    Any,
}

impl Framing {
    pub fn as_str(self) -> &'static str {
        match self {
            Framing::Denied => "denied",
            Framing::SameOrigin => "same-origin",
            Framing::Listed => "listed",
            Framing::Any => "any",
        }
    }

    /// From the values of a page's `Content-Security-Policy` and `X-Frame-Options` headers
    /// (each header possibly sent more than once).
    pub fn of(csp: &[&str], x_frame_options: &[&str]) -> Framing {
        // Several policies are all enforced: the most restrictive frame-ancestors wins.
        let from_csp = csp
            .iter()
            .flat_map(|policy| policy.split(';'))
            .filter_map(|directive| {
                let mut words = directive.split_ascii_whitespace();
                let name = words.next()?;
                name.eq_ignore_ascii_case("frame-ancestors")
                    .then(|| ancestors(words.collect()))
            })
            .min_by_key(|f| f.rank());
        if let Some(framing) = from_csp {
            return framing;
        }
        // X-Frame-Options as the HTML standard processes it ("check a navigation response's
        // adherence to `X-Frame-Options`"): the values as a set; conflicting known values
        // block the frame, unknown ones (the obsolete ALLOW-FROM) allow it.
        let mut values: Vec<String> = x_frame_options
            .iter()
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty())
            .collect();
        values.sort();
        values.dedup();
        let known = |v: &String| matches!(v.as_str(), "deny" | "allowall" | "sameorigin");
        match values.as_slice() {
            [one] if one == "deny" => Framing::Denied,
            [one] if one == "sameorigin" => Framing::SameOrigin,
            many if many.len() > 1 && many.iter().any(known) => Framing::Denied,
            _ => Framing::Any,
        }
    }

    fn rank(self) -> u8 {
        match self {
            Framing::Denied => 0,
            Framing::SameOrigin => 1,
            Framing::Listed => 2,
            Framing::Any => 3,
        }
    }
}

/// A `frame-ancestors` source list.
fn ancestors(sources: Vec<&str>) -> Framing {
    let sources: Vec<String> = sources.iter().map(|s| s.to_ascii_lowercase()).collect();
    if sources.is_empty() || sources.iter().any(|s| s == "'none'") {
        // An empty list matches nothing, as 'none' does (CSP Level 2 §4.2.1).
        return Framing::Denied;
    }
    // A bare `*`, or a scheme alone (`https:`), lets any site of that scheme frame the page.
    if sources
        .iter()
        .any(|s| s == "*" || (s.ends_with(':') && !s.contains('/')))
    {
        return Framing::Any;
    }
    if sources.iter().all(|s| s == "'self'") {
        return Framing::SameOrigin;
    }
    Framing::Listed
}

#[cfg(test)]
mod tests {
    use super::Framing::{self, *};

    #[test]
    fn frame_ancestors_wins_over_x_frame_options() {
        assert_eq!(Framing::of(&["frame-ancestors *"], &["DENY"]), Any);
        assert_eq!(Framing::of(&["default-src 'none'"], &["DENY"]), Denied);
        assert_eq!(
            Framing::of(&["default-src 'none'; frame-ancestors 'self'"], &[]),
            SameOrigin
        );
        assert_eq!(
            Framing::of(&["frame-ancestors 'self' https://ehr.example"], &[]),
            Listed
        );
        assert_eq!(Framing::of(&["frame-ancestors 'none'"], &[]), Denied);
        assert_eq!(Framing::of(&["frame-ancestors https:"], &[]), Any);
        assert_eq!(Framing::of(&["frame-ancestors"], &[]), Denied);
    }

    #[test]
    fn the_strictest_of_several_policies_holds() {
        assert_eq!(
            Framing::of(&["frame-ancestors *", "frame-ancestors 'self'"], &[]),
            SameOrigin
        );
    }

    #[test]
    fn x_frame_options_is_read_as_the_html_standard_reads_it() {
        assert_eq!(Framing::of(&[], &["sameorigin"]), SameOrigin);
        assert_eq!(Framing::of(&[], &["DENY"]), Denied);
        assert_eq!(Framing::of(&[], &["ALLOW-FROM https://ehr.example"]), Any);
        assert_eq!(Framing::of(&[], &["SAMEORIGIN, sameorigin"]), SameOrigin);
        // Conflicting values block the frame altogether.
        assert_eq!(Framing::of(&[], &["DENY", "SAMEORIGIN"]), Denied);
        assert_eq!(Framing::of(&[], &[]), Any);
    }
}
