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

mod target;
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

/// Reads a suite's text into its model, its cases' `variants` expanded; the positions of the
/// expanded cases are those of the case they were written as.
fn read_suite(file: &str, text: &str) -> Result<(Suite, PositionIndex), Vec<LoadError>> {
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| vec![from_serde(file, text, &e)])?;
    let index = PositionIndex::build(text);
    let origin = super::variants::expand(&mut doc).map_err(|problems| {
        problems
            .into_iter()
            .map(|(path, message)| LoadError::new(file, text, index.value(&path), message))
            .collect::<Vec<_>>()
    })?;
    let Some(origin) = origin else {
        let suite = serde_yaml::from_str(text).map_err(|e| vec![from_serde(file, text, &e)])?;
        return Ok((suite, index));
    };
    let index = index.with_cases_from(&origin);
    let suite = serde_path_to_error::deserialize(doc).map_err(|e| {
        let pos = index.key(&e.path().to_string());
        vec![serde_problem(file, text, pos, e.inner().to_string())]
    })?;
    Ok((suite, index))
}

fn parse_suite(file: &str, text: &str) -> Result<Suite, Vec<LoadError>> {
    let (mut suite, index) = read_suite(file, text)?;
    suite.file = file.to_string();
    let mut p = Problems {
        file,
        text,
        index,
        errors: Vec::new(),
        captures: None,
        target_refs: Vec::new(),
    };
    suite_header(&mut p, &suite);
    let suite_groups = suite.groups.clone();
    group_names(&mut p, &suite_groups);
    let mut ids = Ids::default();
    for (ci, case) in suite.cases.iter_mut().enumerate() {
        case_problems(&mut p, ci, case, &suite_groups, &mut ids);
    }
    if p.errors.is_empty() {
        suite.target_refs = std::mem::take(&mut p.target_refs);
        suite.target_refs.dedup();
        Ok(suite)
    } else {
        Err(p.errors)
    }
}

/// The ids a suite may use once: its cases', and its checks' (with the case each is in).
#[derive(Default)]
struct Ids {
    cases: HashSet<String>,
    checks: BTreeMap<String, String>,
}

/// The suite's own values: its id, spec version, SMART versions, and its cases' versions.
fn suite_header(p: &mut Problems, suite: &Suite) {
    if let Some(problem) = id_problem(&suite.suite) {
        p.at_value("suite", format!("suite id {problem}"))
        .add_expected("lowercase letters, digits and single `-`, at most 100 characters, like `smart-discovery`");
    }
    if suite.spec.major().is_none() {
        p.at_value(
            "spec.version",
            format!(
                "`{}` does not start with a major version number",
                suite.spec.version
            ),
        )
        .add_expected("a version like `2.2.0`");
    }
    if suite.cases.is_empty() {
        p.at_key("cases", "a suite needs at least one case");
    }
    for (vi, v) in suite.smart_versions.iter().enumerate() {
        if !(1..=2).contains(v) {
            p.at_value(
                &format!("smart-versions[{vi}]"),
                format!("SMART App Launch has no major version {v}"),
            )
            .add_expected("1 (STU1, 1.0) or 2 (2.x)");
        }
    }
    let suite_versions = suite.versions();
    for (ci, case) in suite.cases.iter().enumerate() {
        for (vi, v) in case.smart_versions.iter().enumerate() {
            if !suite_versions.contains(v) {
                p.at_value(
                    &format!("cases[{ci}].smart-versions[{vi}]"),
                    format!("the suite does not run against smart-version {v}"),
                )
                .add_expected(format!("a version of the suite's: {:?}", suite_versions));
            }
        }
    }
}

/// The suite's check groups: named like ids, and not empty.
fn group_names(p: &mut Problems, suite_groups: &BTreeMap<String, Vec<Check>>) {
    for (name, checks) in suite_groups {
        if let Some(problem) = id_problem(name) {
            p.at_key(&format!("groups.{name}"), format!("group name {problem}"));
        }
        if checks.is_empty() {
            p.at_key(
                &format!("groups.{name}"),
                format!("group `{name}` has no checks"),
            );
        }
    }
}

/// One case: its id, its steps in order (each seeing the steps before it), their checks, and
/// each refusal's positive control.
fn case_problems(
    p: &mut Problems,
    ci: usize,
    case: &mut super::model::Case,
    suite_groups: &BTreeMap<String, Vec<Check>>,
    ids: &mut Ids,
) {
    let cpath = format!("cases[{ci}]");
    case.location = p.location(&cpath);
    p.id(&cpath, &case.id, "case");
    if !ids.cases.insert(case.id.clone()) {
        p.at_value(
            &format!("{cpath}.id"),
            format!("case id `{}` is used twice in the suite", case.id),
        );
    }
    if case.steps.is_empty() {
        p.at_key(&format!("{cpath}.steps"), "a case needs at least one step");
    }
    let mut step_ids: Vec<String> = Vec::new();
    let launch_ids: Vec<String> = case
        .steps
        .iter()
        .filter(|s| s.ehr_launch.is_some())
        .map(|s| s.id.clone())
        .collect();
    let mut captured: Vec<String> = Vec::new();
    for (si, step) in case.steps.iter_mut().enumerate() {
        let spath = format!("{cpath}.steps[{si}]");
        // A step's checks read its own captures too (they are taken before the checks).
        captured.extend(step.capture.keys().cloned());
        p.captures = Some(captured.clone());
        let earlier: Vec<&str> = step_ids.iter().map(String::as_str).collect();
        step_problems(p, &spath, step, &earlier, &launch_ids);
        if step_ids.contains(&step.id) {
            p.at_value(
                &format!("{spath}.id"),
                format!("step id `{}` is used twice in the case", step.id),
            );
        }
        let own_id = step.id.clone();
        let mut with_self = earlier.clone();
        with_self.push(own_id.as_str());
        step_checks(
            p,
            &spath,
            step,
            &case.id,
            suite_groups,
            &with_self,
            &mut ids.checks,
        );
        step_ids.push(step.id.clone());
    }
    p.captures = None;
    controls(p, &cpath, case, &step_ids);
}

/// A step's own values: its id, `when`, `needs`, exactly one action, its request and captures.
fn step_problems(
    p: &mut Problems,
    spath: &str,
    step: &mut Step,
    earlier: &[&str],
    launch_ids: &[String],
) {
    step.location = p.location(spath);
    p.id(spath, &step.id, "step");
    if let Some(w) = &step.when {
        when(p, &format!("{spath}.when"), w, earlier);
    }
    if let Some(w) = step.client.as_ref().and_then(|c| c.offered.as_ref()) {
        when(p, &format!("{spath}.client.offered"), w, earlier);
    }
    for (ni, need) in step.needs.iter().enumerate() {
        if !earlier.contains(&need.as_str()) {
            p.at_value(
                &format!("{spath}.needs[{ni}]"),
                format!("`{need}` is not an earlier step of this case"),
            )
            .add_help_opt(did_you_mean(need, earlier.iter().copied()));
        }
    }
    let actions = step.actions();
    match actions.len() {
        1 => {}
        0 => {
            p.at_key(spath, format!("step `{}` does nothing", step.id))
                .add_expected(format!(
                    "exactly one action: {}",
                    ACTIONS
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
        }
        _ => {
            p.at_key(
                spath,
                format!(
                    "step `{}` has more than one action: {}",
                    step.id,
                    actions
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .add_help("split it into one step per action");
        }
    }
    builtin_step(p, spath, step, earlier, launch_ids);
    if let Some(req) = &step.request {
        request_problems(p, &format!("{spath}.request"), req, earlier);
    }
    for (name, capture) in &step.capture {
        let kpath = format!("{spath}.capture.{name}");
        let sources = [
            capture.json.is_some(),
            capture.header.is_some(),
            capture.status == Some(true),
        ];
        if sources.iter().filter(|b| **b).count() != 1 {
            p.at_key(
                &kpath,
                format!("capture `{name}` needs exactly one of `json`, `header`, `status: true`"),
            );
        }
        if let Some(path) = &capture.json {
            jsonpath(p, &format!("{kpath}.json"), path);
        }
    }
}

/// A plain HTTP request: templates that name earlier steps, an absolute URL, one body.
fn request_problems(
    p: &mut Problems,
    rpath: &str,
    req: &super::model::HttpRequest,
    earlier: &[&str],
) {
    p.template(&format!("{rpath}.url"), &req.url, earlier);
    if !req.url.contains("{{") {
        if let Err(e) = url::Url::parse(&req.url) {
            p.at_value(
                &format!("{rpath}.url"),
                format!("`{}` is not an absolute URL: {e}", req.url),
            );
        }
    }
    for (name, value) in &req.headers {
        p.template(&format!("{rpath}.headers.{name}"), value, earlier);
    }
    for (name, value) in &req.query {
        p.template(&format!("{rpath}.query.{name}"), value, earlier);
    }
    for (name, value) in req.form.iter().flatten() {
        p.template(&format!("{rpath}.form.{name}"), value, earlier);
    }
    if let Some(body) = &req.body {
        p.template(&format!("{rpath}.body"), body, earlier);
    }
    let bodies = [req.form.is_some(), req.json.is_some(), req.body.is_some()];
    if bodies.iter().filter(|b| **b).count() > 1 {
        p.at_key(rpath, "a request has at most one of `form`, `json`, `body`");
    }
}

/// A step's checks: those of the groups it uses first (their ids prefixed with the case id),
/// then its own, each id once in the suite.
fn step_checks(
    p: &mut Problems,
    spath: &str,
    step: &mut Step,
    case_id: &str,
    suite_groups: &BTreeMap<String, Vec<Check>>,
    with_self: &[&str],
    check_ids: &mut BTreeMap<String, String>,
) {
    // Checks of the groups the step uses come first, their ids prefixed with the case id.
    let mut expanded: Vec<(String, Check)> = Vec::new();
    for (ui, name) in step.use_checks.iter().enumerate() {
        let upath = format!("{spath}.use-checks[{ui}]");
        let group = suite_groups
            .get(name)
            .or_else(|| builtin_groups().get(name));
        match group {
            Some(checks) => {
                for check in checks {
                    let mut check = check.clone();
                    check.id = format!("{}-{}", case_id, check.id);
                    expanded.push((upath.clone(), check));
                }
            }
            None => {
                let known: Vec<&str> = suite_groups
                    .keys()
                    .chain(builtin_groups().keys())
                    .map(String::as_str)
                    .collect();
                p.at_value(&upath, format!("no check group `{name}`"))
                    .add_expected(format!(
                        "a group of the suite's `groups` or a built-in one: {}",
                        known.join(", ")
                    ))
                    .add_help_opt(did_you_mean(name, known.iter().copied()));
            }
        }
    }
    let own: Vec<(String, Check)> = std::mem::take(&mut step.checks)
        .into_iter()
        .enumerate()
        .map(|(ki, c)| (format!("{spath}.checks[{ki}]"), c))
        .collect();
    expanded.extend(own);
    for (kpath, mut check) in expanded {
        check.location = p.location(&kpath);
        p.id(&kpath, &check.id, "check");
        if let Some(other) = check_ids.insert(check.id.clone(), case_id.to_string()) {
            p.at_value(
                &format!("{kpath}.id"),
                format!(
                    "check id `{}` is used twice in the suite (also in case `{other}`)",
                    check.id
                ),
            )
            .add_help("check ids are JUnit names and JSON keys: keep them unique");
        }
        validate_check(p, &kpath, &mut check, with_self);
        step.checks.push(check);
    }
}

/// Each refusal's positive control: another step of the case, with checks.
fn controls(p: &mut Problems, cpath: &str, case: &super::model::Case, step_ids: &[String]) {
    for (si, step) in case.steps.iter().enumerate() {
        let Some(control) = &step.control else {
            continue;
        };
        let kpath = format!("{cpath}.steps[{si}].control");
        match case.steps.iter().find(|s| &s.id == control) {
            None => {
                p.at_value(&kpath, format!("`{control}` is not a step of this case"))
                    .add_help_opt(did_you_mean(control, step_ids.iter().map(String::as_str)));
            }
            Some(s) if s.id == step.id => {
                p.at_value(&kpath, "a step cannot be its own positive control");
            }
            Some(s) if s.checks.is_empty() => {
                p.at_value(
                    &kpath,
                    format!("the control step `{control}` has no checks"),
                )
                .add_help(
                    "give it the checks that say the valid request was accepted (a 200, a code)",
                );
            }
            Some(_) => {}
        }
    }
}

/// Templates, step references and check kinds of the built-in steps.
fn builtin_step(
    p: &mut Problems,
    path: &str,
    step: &Step,
    earlier: &[&str],
    launch_ids: &[String],
) {
    flow_steps(p, path, step, earlier, launch_ids);
    token_and_read_steps(p, path, step, earlier);
    search_wait_brand_register_steps(p, path, step, earlier);
    management_steps_and_results(p, path, step, earlier);
}

/// `id` names an earlier step of the case (the key at `path` said it).
fn refers(p: &mut Problems, earlier: &[&str], path: &str, id: &str) {
    if !earlier.contains(&id) {
        p.at_value(path, format!("`{id}` is not an earlier step of this case"))
            .add_help_opt(did_you_mean(id, earlier.iter().copied()));
    }
}

/// The steps of a flow's start (`discover`, `client`, `authorize`, `exchange-code`): their
/// templates and the earlier steps they name.
fn flow_steps(p: &mut Problems, path: &str, step: &Step, earlier: &[&str], launch_ids: &[String]) {
    if let Some(base) = step.discover.as_ref().and_then(|d| d.base.as_ref()) {
        p.template(&format!("{path}.discover.base"), base, earlier);
    }
    if let Some(a) = &step.client {
        let apath = format!("{path}.client");
        for (key, t) in [
            ("registration-endpoint", &a.registration_endpoint),
            ("scope", &a.scope),
        ] {
            if let Some(t) = t {
                p.template(&format!("{apath}.{key}"), t, earlier);
            }
        }
    }
    if let Some(a) = &step.authorize {
        let apath = format!("{path}.authorize");
        p.template(&format!("{apath}.endpoint"), &a.endpoint, earlier);
        p.template(&format!("{apath}.scope"), &a.scope, earlier);
        if let Some(aud) = &a.aud {
            p.template(&format!("{apath}.aud"), aud, earlier);
        }
        for (key, t) in [
            ("client-id", &a.client_id),
            ("response-type", &a.response_type),
        ] {
            if let Some(t) = t {
                p.template(&format!("{apath}.{key}"), t, earlier);
            }
        }
        refers(p, earlier, &format!("{path}.authorize.client"), &a.client);
        if let Some(launch) = &a.ehr_launch {
            refers(p, earlier, &format!("{path}.authorize.ehr-launch"), launch);
            if earlier.contains(&launch.as_str()) && !launch_ids.contains(launch) {
                p.at_value(
                    &format!("{apath}.ehr-launch"),
                    format!("`{launch}` is not an `ehr-launch` step"),
                );
            }
            if a.launch == super::model::LaunchKind::Ehr {
                p.at_value(
                    &format!("{apath}.launch"),
                    "`launch: ehr` starts its own EHR launch; `ehr-launch` continues the one of an earlier step: give one of them",
                );
            }
        }
    }
    if let Some(a) = &step.exchange_code {
        let apath = format!("{path}.exchange-code");
        p.template(&format!("{apath}.endpoint"), &a.endpoint, earlier);
        for (key, t) in [
            ("code", &a.code),
            ("redirect-uri", &a.redirect_uri),
            ("origin", &a.origin),
        ] {
            if let Some(t) = t {
                p.template(&format!("{apath}.{key}"), t, earlier);
            }
        }
        refers(p, earlier, &format!("{path}.exchange-code.from"), &a.from);
        if let Some(c) = &a.client {
            refers(p, earlier, &format!("{path}.exchange-code.client"), c);
        }
    }
}

/// The steps on tokens and reads (`verify-id-token`, `debug-token`, `client-credentials`,
/// `refresh`, `introspect`, `revoke`, `fhir-read`): their templates and the steps they name.
fn token_and_read_steps(p: &mut Problems, path: &str, step: &Step, earlier: &[&str]) {
    if let Some(a) = &step.verify_id_token {
        let apath = format!("{path}.verify-id-token");
        p.template(&format!("{apath}.token"), &a.token, earlier);
        p.template(&format!("{apath}.jwks-uri"), &a.jwks_uri, earlier);
        if let Some(t) = &a.algs {
            p.template(&format!("{apath}.algs"), t, earlier);
        }
        refers(
            p,
            earlier,
            &format!("{path}.verify-id-token.client"),
            &a.client,
        );
    }
    if let Some(a) = &step.debug_token {
        let apath = format!("{path}.debug-token");
        p.template(&format!("{apath}.scope"), &a.scope, earlier);
        for (key, t) in [
            ("endpoint", &a.endpoint),
            ("user", &a.user),
            ("patient", &a.patient),
        ] {
            if let Some(t) = t {
                p.template(&format!("{apath}.{key}"), t, earlier);
            }
        }
        refers(p, earlier, &format!("{path}.debug-token.client"), &a.client);
    }
    if let Some(a) = &step.client_credentials {
        let apath = format!("{path}.client-credentials");
        p.template(&format!("{apath}.endpoint"), &a.endpoint, earlier);
        p.template(&format!("{apath}.scope"), &a.scope, earlier);
        if let Some(aud) = &a.assertion.aud {
            p.template(&format!("{apath}.assertion.aud"), aud, earlier);
        }
        refers(
            p,
            earlier,
            &format!("{path}.client-credentials.client"),
            &a.client,
        );
        if let Some(r) = &a.replay {
            refers(p, earlier, &format!("{path}.client-credentials.replay"), r);
        }
    }
    if let Some(a) = &step.refresh {
        let apath = format!("{path}.refresh");
        p.template(&format!("{apath}.endpoint"), &a.endpoint, earlier);
        if let Some(scope) = &a.scope {
            p.template(&format!("{apath}.scope"), scope, earlier);
        }
        refers(p, earlier, &format!("{path}.refresh.from"), &a.from);
        refers(p, earlier, &format!("{path}.refresh.client"), &a.client);
    }
    if let Some(a) = &step.introspect {
        let apath = format!("{path}.introspect");
        p.template(&format!("{apath}.endpoint"), &a.endpoint, earlier);
        p.template(&format!("{apath}.token"), &a.token, earlier);
        if let Some(b) = &a.bearer {
            p.template(&format!("{apath}.bearer"), b, earlier);
        }
        refers(p, earlier, &format!("{path}.introspect.client"), &a.client);
    }
    if let Some(a) = &step.revoke {
        let apath = format!("{path}.revoke");
        p.template(&format!("{apath}.endpoint"), &a.endpoint, earlier);
        p.template(&format!("{apath}.token"), &a.token, earlier);
        refers(p, earlier, &format!("{path}.revoke.client"), &a.client);
    }
    if let Some(a) = &step.fhir_read {
        let apath = format!("{path}.fhir-read");
        p.template(&format!("{apath}.type"), &a.resource_type, earlier);
        for (key, t) in [("base", &a.base), ("id", &a.id), ("token", &a.token)] {
            if let Some(t) = t {
                p.template(&format!("{apath}.{key}"), t, earlier);
            }
        }
    }
}

/// `fhir-search`, `target-reads`, `wait-for-expiry`, `brand-bundle` and `register`: their
/// templates and the steps they name.
fn search_wait_brand_register_steps(p: &mut Problems, path: &str, step: &Step, earlier: &[&str]) {
    if let Some(a) = &step.fhir_search {
        let apath = format!("{path}.fhir-search");
        p.template(&format!("{apath}.type"), &a.resource_type, earlier);
        for (key, t) in [("base", &a.base), ("token", &a.token)] {
            if let Some(t) = t {
                p.template(&format!("{apath}.{key}"), t, earlier);
            }
        }
        for (name, value) in &a.params {
            p.template(&format!("{apath}.params.{name}"), value, earlier);
        }
    }
    if let Some(a) = &step.target_reads {
        p.template(&format!("{path}.target-reads.token"), &a.token, earlier);
    }
    if let Some(t) = step
        .client_jwks
        .as_ref()
        .and_then(|a| a.token_status.as_ref())
    {
        p.template(&format!("{path}.client-jwks.token-status"), t, earlier);
    }
    if let Some(a) = &step.wait_for_expiry {
        match (&a.expires_in, a.code) {
            (Some(t), false) => {
                p.template(&format!("{path}.wait-for-expiry.expires-in"), t, earlier);
            }
            (None, true) => {}
            (Some(_), true) => {
                p.at_value(
                    &format!("{path}.wait-for-expiry.code"),
                    "`code: true` waits for an authorization code, whose lifetime no answer states: give it or `expires-in`, not both",
                );
            }
            (None, false) => {
                p.at_key(
                    &format!("{path}.wait-for-expiry"),
                    "`wait-for-expiry` needs `expires-in` (a token's lifetime) or `code: true`",
                );
            }
        }
    }
    if let Some(a) = &step.brand_bundle {
        let apath = format!("{path}.brand-bundle");
        p.template(&format!("{apath}.bundle"), &a.bundle, earlier);
        for (key, t) in [("identifier", &a.identifier), ("fhir-base", &a.fhir_base)] {
            if let Some(t) = t {
                p.template(&format!("{apath}.{key}"), t, earlier);
            }
        }
    }
    if let Some(a) = &step.register {
        let apath = format!("{path}.register");
        if let Some(e) = &a.endpoint {
            p.template(&format!("{apath}.endpoint"), e, earlier);
        }
        json_value_templates(p, &format!("{apath}.metadata"), &a.metadata, earlier);
        if !a.metadata.is_object() {
            p.at_value(
                &format!("{apath}.metadata"),
                "the client metadata is a JSON object",
            );
        }
    }
}

/// RFC 7592 management (`read-`, `update-` and `delete-registration`: the step they name, the
/// metadata only an update sends), and the checks a built-in's result can take.
fn management_steps_and_results(p: &mut Problems, path: &str, step: &Step, earlier: &[&str]) {
    for (key, action) in [
        ("read-registration", &step.read_registration),
        ("update-registration", &step.update_registration),
        ("delete-registration", &step.delete_registration),
    ] {
        let Some(a) = action else { continue };
        refers(p, earlier, &format!("{path}.{key}.from"), &a.from);
        match (&a.metadata, key) {
            (Some(m), "update-registration") => {
                json_value_templates(p, &format!("{path}.{key}.metadata"), m, earlier);
            }
            (None, "update-registration") => {
                p.at_key(
                    &format!("{path}.{key}"),
                    "`update-registration` needs the replacement `metadata`",
                );
            }
            (Some(_), _) => {
                p.at_key(
                    &format!("{path}.{key}.metadata"),
                    format!("`{key}` sends no metadata"),
                );
            }
            (None, _) => {}
        }
    }
    if step.client.is_some() && !step.checks.is_empty() {
        p.at_key(
            &format!("{path}.checks"),
            "a `client` step has no checks (check registration in a registration suite)",
        );
    }
    if step.result_is_document() {
        for (i, check) in step.checks.iter().enumerate() {
            if check.status.is_some() || check.header.is_some() {
                p.at_key(
                    &format!("{path}.checks[{i}]"),
                    format!(
                        "check `{}` reads a status or header, but this step's result is a document: use `json`",
                        check.id
                    ),
                );
            }
        }
    }
}

/// Every template in the string values of a JSON value.
fn json_value_templates(p: &mut Problems, path: &str, value: &serde_json::Value, steps: &[&str]) {
    match value {
        serde_json::Value::String(s) => p.template(path, s, steps),
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                json_value_templates(p, &format!("{path}[{i}]"), v, steps);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                json_value_templates(p, &format!("{path}.{k}"), v, steps);
            }
        }
        _ => {}
    }
}

/// The built-in check groups (`suites/lib/check-groups.yaml`, embedded).
pub fn builtin_groups() -> &'static BTreeMap<String, Vec<Check>> {
    static GROUPS: std::sync::OnceLock<BTreeMap<String, Vec<Check>>> = std::sync::OnceLock::new();
    GROUPS.get_or_init(|| {
        // Tested (`builtin_groups_load_...` below, and the built-in suites use it): a broken
        // library is a build defect, not user input.
        let library: GroupLibrary = serde_yaml::from_str(BUILTIN_GROUPS)
            .unwrap_or_else(|e| panic!("suites/lib/check-groups.yaml: {e}"));
        library.groups
    })
}

/// The text of the built-in check groups.
pub const BUILTIN_GROUPS: &str = include_str!("../../suites/lib/check-groups.yaml");

/// Resolves a check's requirement ids in the catalogue and holds its level to its first
/// (primary) one, the requirement the check tests; the others are context and do not raise
/// it. A SHALL check needs a primary SHALL requirement that binds a server; any check needs a
/// primary server requirement at SHOULD or above unless it says what it infers (`implied`), and
/// then it is at most SHOULD.
fn requirements(p: &mut Problems, path: &str, check: &mut Check) {
    let catalogue = crate::requirements::Catalogue::builtin();
    let rpath = format!("{path}.requirement");
    if check.requirement.0.is_empty() {
        p.at_value(&rpath, format!("check `{}` cites no requirement", check.id))
            .add_expected(
                "a requirement id of the catalogue (`smartcheck requirements` lists them)",
            );
        return;
    }
    let Some(cited) = cited_entries(p, &rpath, check, catalogue) else {
        return;
    };
    level_bound(p, path, &rpath, check, &cited);
    check.cited = cited
        .iter()
        .map(|e| Requirement {
            id: e.id.as_str().into(),
            url: e.url.as_str().into(),
            level: e.level.as_str().into(),
            text: e.text.as_str().into(),
        })
        .collect();
}

/// The catalogue's entry of each requirement the check cites, or `None` (each unknown id
/// reported) when one is not there.
fn cited_entries<'c>(
    p: &mut Problems,
    rpath: &str,
    check: &Check,
    catalogue: &'c crate::requirements::Catalogue,
) -> Option<Vec<&'c crate::requirements::Entry>> {
    let mut cited = Vec::new();
    for (i, id) in check.requirement.0.iter().enumerate() {
        let ipath = if check.requirement.0.len() > 1 {
            format!("{rpath}[{i}]")
        } else {
            rpath.to_string()
        };
        match catalogue.get(id) {
            Some(entry) => cited.push(entry),
            None => {
                p.at_value(&ipath, format!("no requirement `{id}` in the catalogue"))
                    .add_expected("an id that `smartcheck requirements` lists")
                    .add_help_opt(did_you_mean(id, catalogue.ids()));
            }
        }
    }
    (cited.len() == check.requirement.0.len()).then_some(cited)
}

/// A check is no stricter than the primary requirement it cites: SHALL only on a SHALL of the
/// server's, an implied check at SHOULD.
fn level_bound(
    p: &mut Problems,
    path: &str,
    rpath: &str,
    check: &Check,
    cited: &[&crate::requirements::Entry],
) {
    // Only the primary requirement bounds the level.
    let strongest = cited.first().map(|e| e.server_strength()).unwrap_or(0);
    let describe = |cited: &[&crate::requirements::Entry]| {
        cited
            .iter()
            .map(|e| {
                format!(
                    "`{}` is {} binding {}",
                    e.id,
                    e.level.as_str(),
                    e.binds_text()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    if check.implied.is_some() {
        if check.level == Level::Shall {
            p.at_key(
                &format!("{path}.implied"),
                format!(
                    "check `{}` is SHALL but says it tests what its requirements imply",
                    check.id
                ),
            )
            .add_expected("`level: SHOULD` for an implied check (a warning, not a failure)");
        }
    } else if strongest == 0 {
        p.at_value(rpath, format!("check `{}` cites no requirement that binds a server at SHOULD or above", check.id))
            .add_expected(describe(cited))
            .add_help("cite the server's own duty, or say what the check infers with `implied: REASON` and `level: SHOULD`");
    } else if check.level == Level::Shall && strongest < 2 {
        p.at_key(
            &format!("{path}.level"),
            format!(
                "check `{}` is SHALL, stricter than its requirements",
                check.id
            ),
        )
        .add_expected(describe(cited))
        .add_help(if cited.iter().skip(1).any(|e| e.server_strength() == 2) {
            "the first requirement is the one the check tests and the only one that bounds its level: put the SHALL requirement it rests on first, or use `level: SHOULD`"
        } else {
            "use `level: SHOULD`, or cite the SHALL requirement the check rests on"
        });
    }
}

fn validate_check(p: &mut Problems, path: &str, check: &mut Check, steps: &[&str]) {
    requirements(p, path, check);
    match check.subject_count() {
        1 => {}
        0 => {
            p.at_key(path, format!("check `{}` says nothing to check", check.id))
                .add_expected("one of `status`, `header`, `json`, `body`");
        }
        _ => {
            p.at_key(
                path,
                format!(
                    "check `{}` has more than one of `status`, `header`, `json`, `body`",
                    check.id
                ),
            )
            .add_help("split it into one check per requirement");
        }
    }
    if let Some(w) = &check.when {
        when(p, &format!("{path}.when"), w, steps);
    }
    if let Some(header) = &check.header {
        header_check(p, &format!("{path}.header"), header, steps);
    }
    if let Some(json) = &check.json {
        json_check(p, &format!("{path}.json"), json, steps);
    }
    if let Some(body) = &check.body {
        let bpath = format!("{path}.body");
        if body.count() != 1 {
            p.at_key(&bpath, "a body check needs exactly one of `is-json: true`, `is-json-object: true`, `contains`, `matches`");
        }
        if let Some(re) = &body.matches {
            regex(p, &format!("{bpath}.matches"), re);
        }
    }
}

fn operators(p: &mut Problems, path: &str, ops: &[Op], false_flags: &[&str], steps: &[&str]) {
    if let Some(flag) = false_flags.first() {
        p.at_value(
            &format!("{path}.{flag}"),
            format!("`{flag}: false` checks nothing"),
        )
        .add_help(match *flag {
            "present" => "write `absent: true` to require that the value is missing",
            "absent" => "write `present: true` to require the value",
            _ => "remove the line, or write `true`",
        });
    }
    match ops.len() {
        1 => {}
        0 if false_flags.is_empty() => {
            p.at_key(path, "no matcher operator")
                .add_expected("one of `present`, `absent`, `type`, `equals`, `one-of`, `contains`, `contains-any`, `excludes`, `starts-with`, `absolute-url`, `matches`, `subset-of`, `equals-as-set`, `items-type`, `not-empty`, `jwk-set`, `at-most`, `at-least`");
        }
        0 => {}
        _ => {
            let names: Vec<String> = ops.iter().map(|o| format!("`{}`", o.name())).collect();
            p.at_key(
                path,
                format!("more than one matcher operator: {}", names.join(", ")),
            )
            .add_help("write one check per operator, each with its own id");
        }
    }
    for op in ops {
        let opath = format!("{path}.{}", op.name());
        match op {
            Op::Matches(re) => regex(p, &opath, re),
            Op::SecondsFromNow(least, most) if least > most => {
                p.at_value(
                    &opath,
                    format!(
                        "`at-least` ({least}) is more than `at-most` ({most}): no time is both"
                    ),
                );
            }
            Op::StartsWith(s) | Op::SubsetOf(s) | Op::EqualsAsSet(s) => {
                p.template(&opath, s, steps)
            }
            Op::Equals(v) | Op::Contains(v) | Op::Excludes(v) => {
                json_templates(p, &opath, v, steps)
            }
            Op::OneOf(vs) | Op::ContainsAny(vs) => {
                for (i, v) in vs.iter().enumerate() {
                    json_templates(p, &format!("{opath}[{i}]"), v, steps);
                }
            }
            _ => {}
        }
    }
}

fn json_templates(p: &mut Problems, path: &str, value: &serde_json::Value, steps: &[&str]) {
    if let Some(s) = value.as_str() {
        p.template(path, s, steps);
    }
}

fn header_check(p: &mut Problems, path: &str, header: &HeaderCheck, steps: &[&str]) {
    let ops = header.operators();
    operators(p, path, &ops, &header.false_flags(), steps);
    for op in &ops {
        if !op.applies_to_header() {
            p.at_key(
                &format!("{path}.{}", op.name()),
                format!(
                    "`{}` does not apply to a header value (a string)",
                    op.name()
                ),
            );
        }
    }
    if !is_header_name(&header.name) {
        p.at_value(
            &format!("{path}.name"),
            format!("`{}` is not a valid header name", header.name),
        );
    }
}

fn json_check(p: &mut Problems, path: &str, json: &JsonCheck, steps: &[&str]) {
    jsonpath(p, &format!("{path}.path"), &json.path);
    let ops = json.operators();
    operators(p, path, &ops, &json.false_flags(), steps);
    if json.if_present && ops.iter().any(|o| matches!(o, Op::Present | Op::Absent)) {
        p.at_key(
            &format!("{path}.if-present"),
            "`if-present` with `present` or `absent` checks nothing",
        );
    }
}

/// A `when`: each of its conditions, and a list that names at least one.
fn when(p: &mut Problems, path: &str, w: &When, steps: &[&str]) {
    if w.conditions.is_empty() {
        p.at_value(path, "an empty `when` list holds always")
            .add_expected("one condition, or a list of them, each a `value` and one operator");
    }
    for (at, cond) in w.each(path) {
        condition(p, &at, cond, steps);
    }
}

fn condition(p: &mut Problems, path: &str, cond: &Condition, steps: &[&str]) {
    p.template(&format!("{path}.value"), &cond.value, steps);
    operators(p, path, &cond.operators(), &cond.false_flags(), steps);
}

fn jsonpath(p: &mut Problems, path: &str, text: &str) {
    if let Err(e) = serde_json_path::JsonPath::parse(text) {
        p.inside_value(
            path,
            e.position(),
            format!("`{text}` is not a JSONPath: {}", e.message()),
        )
        .add_expected("an RFC 9535 JSONPath like `$.token_endpoint` or `$.rest[*].security`");
    }
}

fn regex(p: &mut Problems, path: &str, text: &str) {
    if let Err(e) = Regex::new(text) {
        let detail = e.to_string();
        let last = detail.lines().last().unwrap_or_default().trim().to_string();
        p.at_value(
            path,
            format!("`{text}` is not a regular expression: {last}"),
        );
    }
}

/// An absolute http(s) URL with a host, or an error at `path` that says what is wrong.
fn http_url(p: &mut Problems, path: &str, text: &str, expected: &str) -> Option<url::Url> {
    match url::Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        Ok(u) => {
            p.at_value(path, format!("`{u}` is not an http(s) URL with a host"))
                .add_expected(expected);
            None
        }
        Err(e) => {
            p.at_value(path, format!("`{text}` is not an absolute URL: {e}"))
                .add_expected(expected);
            None
        }
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
mod tests {
    use super::*;

    #[test]
    fn every_target_context_key_is_one_templates_may_name() {
        let text = "name: t\nfhir-base: https://ehr.example.org/fhir\ndebug-token-endpoint: https://ehr.example.org/debug/token\ndebug-introspect-endpoint: https://ehr.example.org/debug/introspect\nintrospection-scope: system/*.rs\nother-fhir-base: https://ehr.example.org/other\ncode-expiry-wait: 11m\n";
        let target = parse_target("t.yaml", text, &|_| None).unwrap_or_else(|e| panic!("{e:?}"));
        let context = target.context();
        let keys: Vec<&str> = context
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut known = super::super::target::CONTEXT_KEYS.to_vec();
        known.sort_unstable();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, known);
    }

    #[test]
    fn an_endless_file_is_refused_after_the_size_limit() {
        let errors = load_suite(Path::new("/dev/zero")).unwrap_err();
        assert!(
            errors[0].message.contains("larger than 8 MiB"),
            "{errors:?}"
        );
    }

    #[test]
    fn flow_nesting_is_counted_outside_quotes_and_comments_only() {
        let deep = "[".repeat(65);
        assert_eq!(too_deep(&format!("a: {deep}")), Some((1, 68)));
        assert_eq!(too_deep(&format!("a: '{deep}'")), None);
        assert_eq!(too_deep(&format!("a: \"{deep}\"")), None);
        assert_eq!(too_deep(&format!("a: 1 # {deep}")), None);
        // An apostrophe inside a word starts no quoted string.
        assert_eq!(too_deep(&format!("a: it's {deep}")), Some((1, 73)));
        assert_eq!(too_deep("a: [[1], {b: [2]}]"), None);
    }

    #[test]
    fn kebab_ids() {
        assert!(is_kebab("token-response-cache-control"));
        assert!(is_kebab("s256"));
        assert!(!is_kebab("Token"));
        assert!(!is_kebab("a--b"));
        assert!(!is_kebab("-a"));
        assert!(!is_kebab(""));
    }

    #[test]
    fn comments_are_stripped_outside_quotes() {
        assert_eq!(strip_comment("a: b # c ${X}"), "a: b ");
        assert_eq!(strip_comment("a: \"b # c\""), "a: \"b # c\"");
        assert_eq!(strip_comment("a: b#c"), "a: b#c");
    }

    #[test]
    fn builtin_groups_load_and_every_check_cites_known_requirements() {
        let groups = builtin_groups();
        assert!(groups.contains_key("token-response"));
        for (name, checks) in groups {
            assert!(!checks.is_empty(), "{name}");
            for check in checks {
                assert_eq!(check.subject_count(), 1, "{name}: {}", check.id);
                for id in &check.requirement.0 {
                    assert!(
                        crate::requirements::Catalogue::builtin().get(id).is_some(),
                        "{name}: {} cites unknown {id}",
                        check.id
                    );
                }
            }
        }
    }

    const GROUP_SUITE: &str = "suite: s\ntitle: t\nspec: { name: S, version: 2.2.0, url: https://x.example/ }\ngroups:\n  mine:\n    - id: status\n      title: t\n      requirement: rfc6749-5.1-no-store\n      status: 200\ncases:\n  - id: one\n    title: t\n    steps:\n      - id: token\n        request: { url: https://x.example/token }\n        use-checks: [mine, token-response]\n        checks:\n          - id: own\n            title: t\n            requirement: rfc6749-5.1-no-store\n            header: { name: Cache-Control, contains: no-store }\n";

    #[test]
    fn used_groups_come_first_with_the_case_id_as_prefix_and_their_requirements_resolved() {
        let suite = parse_suite("s.yaml", GROUP_SUITE).unwrap();
        let checks = &suite.cases[0].steps[0].checks;
        let ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids[0], "one-status");
        assert_eq!(ids[1], "one-token-access-token");
        assert_eq!(ids.last(), Some(&"own"));
        assert_eq!(checks.len(), 2 + builtin_groups()["token-response"].len());
        // A group check is located at the `use-checks` line that runs it.
        assert_eq!(checks[0].location.line, 16);
        assert_eq!(&*checks[0].cited[0].id, "rfc6749-5.1-no-store");
        assert_eq!(&*checks[0].cited[0].level, "SHALL");
    }

    #[test]
    fn a_group_used_twice_in_a_case_is_a_duplicate_check_id() {
        let text = GROUP_SUITE.replace("[mine, token-response]", "[mine, mine]");
        let errors = parse_suite("s.yaml", &text).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.message.contains("check id `one-status` is used twice")),
            "{errors:?}"
        );
    }
}
