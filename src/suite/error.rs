//! Errors in suite and target files, each with a position, rendered like a compiler error.

use std::fmt;

/// What is wrong with a suite or target file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// One line: what is wrong.
    pub message: String,
    /// What was expected there, if that helps.
    pub expected: Option<String>,
    /// A did-you-mean or another hint.
    pub help: Option<String>,
    /// The offending line of the file.
    pub source_line: Option<String>,
}

impl LoadError {
    pub fn new(
        file: &str,
        text: &str,
        (line, column): (usize, usize),
        message: impl Into<String>,
    ) -> Self {
        LoadError {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
            expected: None,
            help: None,
            source_line: text.lines().nth(line.saturating_sub(1)).map(str::to_string),
        }
    }

    /// An error about the file as a whole (unreadable, empty).
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        LoadError {
            file: file.to_string(),
            line: 1,
            column: 1,
            message: message.into(),
            expected: None,
            help: None,
            source_line: None,
        }
    }

    pub fn add_expected(&mut self, expected: impl Into<String>) -> &mut Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn add_help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }

    pub fn add_help_opt(&mut self, help: Option<String>) -> &mut Self {
        self.help = help;
        self
    }
}

impl std::error::Error for LoadError {}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        writeln!(f, "  --> {}:{}:{}", self.file, self.line, self.column)?;
        if let Some(source) = &self.source_line {
            let gutter = self.line.to_string();
            let pad = " ".repeat(gutter.len());
            let source: String = source
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let (source, col) = window(&source, self.column.max(1) - 1);
            let width = caret_width(&source, col).min(SHOWN_LINE_CHARS);
            writeln!(f, "{pad} |")?;
            writeln!(f, "{gutter} | {source}")?;
            writeln!(f, "{pad} | {}{}", " ".repeat(col), "^".repeat(width))?;
        }
        if let Some(expected) = &self.expected {
            writeln!(f, "  = expected: {expected}")?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

/// The most characters of a source line shown; a longer line is shown around the column.
const SHOWN_LINE_CHARS: usize = 120;

/// The part of `line` shown for column `col` (0-based, in characters), and the column in it.
fn window(line: &str, col: usize) -> (String, usize) {
    let count = line.chars().count();
    if count <= SHOWN_LINE_CHARS {
        return (line.to_string(), col);
    }
    let start = col.saturating_sub(SHOWN_LINE_CHARS / 3).min(count);
    let end = (start + SHOWN_LINE_CHARS).min(count);
    let mut shown = String::new();
    let mut shift = 0;
    if start > 0 {
        shown.push('…');
        shift = 1;
    }
    shown.extend(line.chars().skip(start).take(end - start));
    if end < count {
        shown.push('…');
    }
    (shown, col - start + shift)
}

/// The width of the token that starts at `col`: up to a `:` that ends a key, or whitespace.
fn caret_width(line: &str, col: usize) -> usize {
    let rest: String = line.chars().skip(col).collect();
    let token: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect::<String>()
        .trim_end_matches(':')
        .to_string();
    token.chars().count().max(1)
}

/// The closest of `candidates` to `word`, when it is close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_position_caret_and_hints() {
        let text = "suite: x\ncases:\n  - titel: y\n";
        let mut err = LoadError::new("s.yaml", text, (3, 5), "unknown key `titel`");
        err.add_expected("one of `id`, `title`")
            .add_help_opt(did_you_mean("titel", ["id", "title"]));
        let shown = err.to_string();
        assert_eq!(
            shown,
            "error: unknown key `titel`\n  --> s.yaml:3:5\n  |\n3 |   - titel: y\n  |     ^^^^^\n  = expected: one of `id`, `title`\n  = help: did you mean `title`?\n"
        );
    }

    #[test]
    fn a_long_line_is_shown_around_the_column() {
        let text = format!("suite: {}x{}\n", "[".repeat(500), "]".repeat(500));
        let err = LoadError::new("s.yaml", &text, (1, 508), "here");
        let shown = err.to_string();
        let lines: Vec<&str> = shown.lines().collect();
        assert!(lines[3].chars().count() < 130, "{}", lines[3]);
        let source_col = lines[3].chars().position(|c| c == 'x').unwrap();
        let caret_col = lines[4].chars().position(|c| c == '^').unwrap();
        assert_eq!(source_col, caret_col, "{shown}");
    }

    #[test]
    fn no_suggestion_for_distant_words() {
        assert_eq!(did_you_mean("zzzzzz", ["id", "title"]), None);
    }
}
