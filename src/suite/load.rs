//! Reads suite and target files, checks them strictly, and reports every problem with its
//! position. The only module that names the YAML crates.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use regex::Regex;

use super::error::{did_you_mean, LoadError};
use super::model::{
    Check, Condition, GroupLibrary, HeaderCheck, JsonCheck, Level, Requirement, Step, Suite, When,
    ACTIONS,
};
use super::ops::Op;
use super::position::{Location, PositionIndex};
use super::target::Target;
use super::template::{env_refs, Template};

mod checks;
mod steps;
mod suite_file;
mod target;

use checks::*;
use steps::*;
use suite_file::*;
pub use suite_file::{builtin_groups, BUILTIN_GROUPS};
use target::parse_target;

/// What kind of file `validate` was given.
#[derive(Debug)]
pub enum Loaded {
    Suite(Box<Suite>),
    Target(Box<Target>),
}

/// The largest suite or target file read (the biggest built-in suite is a few hundred
/// kilobytes); a larger one, or an endless one such as `/dev/zero`, is refused unread.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// The deepest nesting of `[` / `{` flow collections accepted: the YAML parser's time grows
/// with the square of it.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Reads a file as UTF-8 text (a byte order mark is dropped), at most [`MAX_FILE_BYTES`].
fn read(path: &Path) -> Result<String, Vec<LoadError>> {
    use std::io::Read;
    let file = path.display().to_string();
    let cannot = |e: std::io::Error| {
        vec![LoadError::whole_file(
            &file,
            format!("cannot read the file: {e}"),
        )]
    };
    use std::os::unix::fs::FileTypeExt;
    // A FIFO with no writer would otherwise hold the open for ever; a pipe with a writer
    // (`--target <(...)`) is read to its end.
    let handle = crate::files::open_without_waiting(path, false).map_err(cannot)?;
    let kind = handle.metadata().map(|m| m.file_type()).ok();
    if kind.is_some_and(|k| k.is_dir()) {
        return Err(vec![LoadError::whole_file(
            &file,
            "cannot read the file: it is a directory",
        )]);
    }
    let is_fifo = kind.is_some_and(|k| k.is_fifo());
    let mut bytes = Vec::new();
    handle
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if is_fifo && bytes.is_empty() {
        return Err(vec![LoadError::whole_file(
            &file,
            "cannot read the file: it is a FIFO that no program is writing to",
        )]);
    }
    text_of(&file, bytes)
}

/// The checks every file's bytes get before parsing: size, UTF-8, byte order mark, emptiness,
/// flow nesting.
fn text_of(file: &str, bytes: Vec<u8>) -> Result<String, Vec<LoadError>> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(vec![LoadError::whole_file(
            file,
            format!(
                "the file is larger than {} MiB; suite and target files are far smaller",
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        )]);
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let valid = String::from_utf8_lossy(&e.as_bytes()[..offset]).into_owned();
        let line = valid.matches('\n').count() + 1;
        let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        vec![LoadError::whole_file(
            file,
            format!("the file is not UTF-8 text (line {line}, column {column}, byte {offset})"),
        )]
    })?;
    let text = text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text);
    if text.trim().is_empty() {
        return Err(vec![LoadError::whole_file(file, "the file is empty")]);
    }
    if let Some((line, column)) = too_deep(&text) {
        return Err(vec![LoadError::new(
            file,
            &text,
            (line, column),
            format!("`[` / `{{` nested more than {MAX_FLOW_DEPTH} deep"),
        )]);
    }
    Ok(text)
}

/// Loads a suite or a target from bytes, as [`load_any`] does from a file named `file` (for
/// the fuzz targets, and for files that do not come from disk).
pub fn load_bytes(
    file: &str,
    bytes: Vec<u8>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, Vec<LoadError>> {
    let text = text_of(file, bytes)?;
    load_text(file, &text, env)
}

/// Where flow collections first nest deeper than [`MAX_FLOW_DEPTH`] (1-based line and
/// column), outside quoted strings and comments.
fn too_deep(text: &str) -> Option<(usize, usize)> {
    if !text.contains(['[', '{']) {
        return None;
    }
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut previous = '\n';
    let mut in_comment = false;
    let (mut line, mut column) = (1usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
            in_comment = false;
            previous = c;
            continue;
        }
        if in_comment {
            continue;
        }
        match quote {
            Some('\'') if c == '\'' => {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    column += 1;
                } else {
                    quote = None;
                }
            }
            Some('"') if c == '\\' => {
                chars.next();
                column += 1;
            }
            Some('"') if c == '"' => quote = None,
            Some(_) => {}
            None => match c {
                '#' if previous.is_whitespace() => in_comment = true,
                // A quoted scalar starts a token (`it's` is plain text).
                '\'' | '"' if previous.is_whitespace() || matches!(previous, '[' | '{' | ',') => {
                    quote = Some(c)
                }
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some((line, column));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        previous = c;
    }
    None
}

/// Loads a suite or a target, telling them apart by the top-level `suite` key.
pub fn load_any(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, Vec<LoadError>> {
    let text = read(path)?;
    load_text(&path.display().to_string(), &text, env)
}

fn load_text(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, Vec<LoadError>> {
    // A suite has `suite:` or `cases:` at the top level; tell by the text, so that a file
    // with a YAML syntax error still gets the right kind of error.
    let is_suite = text
        .lines()
        .any(|l| l.starts_with("suite:") || l.starts_with("cases:"));
    let groups_line = text.lines().position(|l| l.starts_with("groups:"));
    let is_target = text
        .lines()
        .any(|l| l.starts_with("name:") || l.starts_with("fhir-base:"));
    if is_suite {
        parse_suite(file, text).map(|s| Loaded::Suite(Box::new(s)))
    } else if let (Some(line), false) = (groups_line, is_target) {
        let mut error = LoadError::new(
            file,
            text,
            (line + 1, 1),
            "check groups alone are neither a suite nor a target",
        );
        let builtin: Vec<&str> = builtin_groups().keys().map(String::as_str).collect();
        error.add_help(format!(
            "a suite's own groups go under `groups:` next to its `suite:` and `cases:`; the built-in groups ({}) are compiled into smartcheck and used with `use-checks`",
            builtin.join(", ")
        ));
        Err(vec![error])
    } else {
        parse_target(file, text, env).map(|t| Loaded::Target(Box::new(t)))
    }
}

/// Loads and checks one suite file.
pub fn load_suite(path: &Path) -> Result<Suite, Vec<LoadError>> {
    let text = read(path)?;
    parse_suite(&path.display().to_string(), &text)
}

/// Loads and checks one target file, reading `${NAME}` from `env`.
pub fn load_target(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Target, Vec<LoadError>> {
    let text = read(path)?;
    parse_target(&path.display().to_string(), &text, env)
}

/// Expands directories into their `*.yaml` / `*.yml` files, sorted; files stay as given.
pub fn collect_suite_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Box<LoadError>> {
    collect_yaml_files(paths, "suite")
}

/// Expands directories of target files (one server each) like [`collect_suite_files`].
pub fn collect_target_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Box<LoadError>> {
    collect_yaml_files(paths, "target")
}

fn collect_yaml_files(paths: &[PathBuf], what: &str) -> Result<Vec<PathBuf>, Box<LoadError>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| {
                Box::new(LoadError::whole_file(
                    &path.display().to_string(),
                    format!("cannot read the directory: {e}"),
                ))
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                })
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(Box::new(LoadError::whole_file(
                    &path.display().to_string(),
                    format!("the directory holds no {what} files (*.yaml, *.yml)"),
                )));
            }
            files.extend(found);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(Box::new(LoadError::whole_file(
                &path.display().to_string(),
                "no such file or directory",
            )));
        }
    }
    Ok(files)
}

/// Converts a serde_yaml error into a positioned error with a did-you-mean.
fn from_serde(file: &str, text: &str, err: &serde_yaml::Error) -> LoadError {
    let pos = err
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    let mut message = err.to_string();
    if let Some(cut) = message.rfind(" at line ") {
        message.truncate(cut);
    }
    serde_problem(file, text, pos, message)
}

/// A deserializer's message as a load error at `pos`, with what was expected.
fn serde_problem(file: &str, text: &str, pos: (usize, usize), message: String) -> LoadError {
    // serde_yaml prefixes the path (`cases[0].steps[1]: ...`); the caret shows where.
    let message = match message.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') && !path.contains('`') => rest.to_string(),
        _ => message,
    };
    let quoted = |s: &str| -> Vec<String> {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    for (prefix, noun) in [("unknown field ", "key"), ("unknown variant ", "value")] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let names = quoted(rest);
            if let Some((word, expected)) = names.split_first() {
                let list: Vec<String> = expected.iter().map(|e| format!("`{e}`")).collect();
                let expected_text = if rest.contains("there are no") || list.is_empty() {
                    format!("no {noun}s here")
                } else {
                    format!("one of {}", list.join(", "))
                };
                let mut error = LoadError::new(file, text, pos, format!("unknown {noun} `{word}`"));
                error
                    .add_expected(expected_text)
                    .add_help_opt(did_you_mean(word, expected.iter().map(String::as_str)));
                return error;
            }
        }
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return LoadError::new(file, text, pos, format!("missing key {rest}"));
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            let mut error = LoadError::new(file, text, pos, format!("wrong type: found {found}"));
            error.add_expected(expected.to_string());
            return error;
        }
    }
    LoadError::new(file, text, pos, message)
}

/// An RFC 9110 §5.1 field name (a token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The longest id or name accepted: case names (`target::suite::case`) stay readable, and the
/// console's column of names stays within what a formatter can pad.
pub const MAX_ID_CHARS: usize = 100;

/// What is wrong with an id or name (kebab-case, at most [`MAX_ID_CHARS`]), shown as
/// "`ID` PROBLEM" with a long id cut short.
pub(crate) fn id_problem(id: &str) -> Option<String> {
    let count = id.chars().count();
    let shown = if count > 40 {
        format!("{}…", id.chars().take(40).collect::<String>())
    } else {
        id.to_string()
    };
    if !is_kebab(id) {
        Some(format!("`{shown}` is not kebab-case"))
    } else if count > MAX_ID_CHARS {
        Some(format!(
            "`{shown}` is longer than {MAX_ID_CHARS} characters ({count})"
        ))
    } else {
        None
    }
}

fn is_kebab(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
        && !id.ends_with('-')
        && !id.contains("--")
}

/// Collects positioned errors while walking a parsed file.
struct Problems<'a> {
    file: &'a str,
    text: &'a str,
    index: PositionIndex,
    errors: Vec<LoadError>,
    /// Inside a case's step: the values its steps capture up to this one (what
    /// `{{ vars.NAME }}` may read); elsewhere none is known and none is checked.
    captures: Option<Vec<String>>,
    /// Every `{{ secrets.NAME }}` and `{{ target.vars.NAME }}` seen, for the run to check
    /// against its targets.
    target_refs: Vec<super::model::TargetRef>,
}

impl<'a> Problems<'a> {
    fn at_key(&mut self, path: &str, message: impl Into<String>) -> &mut LoadError {
        let pos = self.index.key(path);
        self.errors
            .push(LoadError::new(self.file, self.text, pos, message));
        self.errors.last_mut().expect("just pushed")
    }

    fn at_value(&mut self, path: &str, message: impl Into<String>) -> &mut LoadError {
        let pos = self.index.value(path);
        self.errors
            .push(LoadError::new(self.file, self.text, pos, message));
        self.errors.last_mut().expect("just pushed")
    }

    /// A position inside a string value, `offset` bytes in (quotes accounted for).
    fn inside_value(
        &mut self,
        path: &str,
        offset: usize,
        message: impl Into<String>,
    ) -> &mut LoadError {
        let pos = self.value_position(path, offset);
        self.errors
            .push(LoadError::new(self.file, self.text, pos, message));
        self.errors.last_mut().expect("just pushed")
    }

    /// Line and column of byte `offset` inside the value at `path` (its start when the value
    /// spans lines).
    fn value_position(&self, path: &str, offset: usize) -> (usize, usize) {
        let (line, col) = self.index.value(path);
        let source = self
            .text
            .lines()
            .nth(line.saturating_sub(1))
            .unwrap_or_default();
        let quote = source
            .chars()
            .nth(col.saturating_sub(1))
            .is_some_and(|c| c == '"' || c == '\'');
        let single_line = source.chars().skip(col.saturating_sub(1)).count() > offset;
        if single_line {
            (line, col + offset + usize::from(quote))
        } else {
            (line, col)
        }
    }

    fn location(&self, path: &str) -> Location {
        let (line, column) = self.index.key(path);
        Location {
            file: self.file.to_string(),
            line,
            column,
        }
    }

    fn id(&mut self, path: &str, id: &str, what: &str) {
        if let Some(problem) = id_problem(id) {
            self.at_value(&format!("{path}.id"), format!("{what} id {problem}"))
            .add_expected(
                "lowercase letters, digits and single `-`, at most 100 characters, like `token-response-cache-control`",
            );
        }
    }

    /// Checks every template of a string: syntax, roots, and which steps it may read.
    fn template(&mut self, path: &str, text: &str, visible_steps: &[&str]) {
        if let Ok(refs) = env_refs(text) {
            if let Some(first) = refs.first() {
                self.inside_value(path, first.offset, format!("`${{{}}}` in a suite file", first.name))
                    .add_help("environment variables are read only in target files; put the value in the target's `vars` or `secrets` and read `{{ target.vars.NAME }}` or `{{ secrets.NAME }}`");
                return;
            }
        }
        match Template::parse(text) {
            Err(err) => {
                self.inside_value(path, err.offset, format!("bad template: {}", err.message));
            }
            Ok(template) => {
                for expr in template.exprs() {
                    self.expression(path, expr, visible_steps);
                }
            }
        }
    }

    /// One `{{ ... }}` of a template: a step it names runs earlier, a captured value is
    /// captured earlier, a target key is one the context has; a `secrets` or `target.vars`
    /// name is kept for the run to check against the target.
    fn expression(&mut self, path: &str, expr: &super::template::Expr, visible_steps: &[&str]) {
        if expr.path[0] == "steps" {
            match expr.path.get(1) {
                None => {
                    self.inside_value(
                        path,
                        expr.offset,
                        "`steps` needs a step id, like `steps.config.json`",
                    );
                }
                Some(step) if !visible_steps.contains(&step.as_str()) => {
                    self.out_of_reach(
                        (path, expr.offset),
                        step,
                        visible_steps,
                        format!("no step `{step}` before this point of the case"),
                        "a step that runs earlier",
                    );
                }
                Some(_) => {
                    if let Some(field) = expr.path.get(2) {
                        self.known_name(
                            path,
                            expr.offset,
                            field,
                            crate::runner::case::STEP_FIELDS,
                            "step result field",
                        );
                    }
                }
            }
        } else if expr.path[0] == "vars" {
            if let (Some(name), Some(captured)) = (expr.path.get(1), &self.captures) {
                if !captured.contains(name) {
                    let captured: Vec<String> = captured.clone();
                    let visible: Vec<&str> = captured.iter().map(String::as_str).collect();
                    self.out_of_reach(
                        (path, expr.offset),
                        name,
                        &visible,
                        format!("no step of this case captures `{name}` before this point"),
                        "a value a step's `capture:` takes, here",
                    );
                }
            }
        } else if expr.path[0] == "secrets"
            || (expr.path[0] == "target" && expr.path.get(1).is_some_and(|k| k == "vars"))
        {
            let (map, at) = if expr.path[0] == "secrets" {
                ("secrets", 1)
            } else {
                ("vars", 2)
            };
            if let Some(name) = expr.path.get(at) {
                let (line, column) = self.value_position(path, expr.offset);
                self.target_refs.push(super::model::TargetRef {
                    map,
                    name: name.clone(),
                    location: Location {
                        file: self.file.to_string(),
                        line,
                        column,
                    },
                });
            }
        }
        if expr.path[0] == "target" {
            if let Some(key) = expr.path.get(1) {
                self.known_name(
                    path,
                    expr.offset,
                    key,
                    super::target::CONTEXT_KEYS,
                    "target field",
                );
            }
        }
    }

    /// Reports `name`, read at `at` (a value's path and an offset in it), as out of reach: the
    /// names in reach listed after `expected`, and the closest of them offered.
    fn out_of_reach(
        &mut self,
        at: (&str, usize),
        name: &str,
        in_reach: &[&str],
        message: String,
        expected: &str,
    ) {
        let hint = did_you_mean(name, in_reach.iter().copied());
        let listed = if in_reach.is_empty() {
            "none".to_string()
        } else {
            in_reach.join(", ")
        };
        self.inside_value(at.0, at.1, message)
            .add_expected(format!("{expected}: {listed}"))
            .add_help_opt(hint);
    }

    /// Reports `name` at a template expression unless it is one of `known`.
    fn known_name(&mut self, path: &str, offset: usize, name: &str, known: &[&str], what: &str) {
        if known.contains(&name) {
            return;
        }
        let hint = did_you_mean(name, known.iter().copied());
        self.inside_value(path, offset, format!("no {what} `{name}`"))
            .add_expected(format!("one of {}", known.join(", ")))
            .add_help_opt(hint);
    }
}

/// The part of a YAML line before a comment (a `#` at the start or after whitespace,
/// outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev_space => return &line[..i],
            None => {}
        }
        prev_space = c.is_whitespace();
    }
    line
}

#[cfg(test)]
mod tests;
