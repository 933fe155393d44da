//! A suite file read and checked: its header, its groups, its cases and their steps (the built-in
//! steps in `steps`, the checks in `checks`).

use super::*;

/// Reads a suite's text into its model, its cases' `variants` expanded; the positions of the
/// expanded cases are those of the case they were written as.
pub(super) fn read_suite(file: &str, text: &str) -> Result<(Suite, PositionIndex), Vec<LoadError>> {
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| vec![from_serde(file, text, &e)])?;
    let index = PositionIndex::build(text);
    let origin = crate::suite::variants::expand(&mut doc).map_err(|problems| {
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

pub(super) fn parse_suite(file: &str, text: &str) -> Result<Suite, Vec<LoadError>> {
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
pub(super) struct Ids {
    pub(super) cases: HashSet<String>,
    pub(super) checks: BTreeMap<String, String>,
}

/// The suite's own values: its id, spec version, SMART versions, and its cases' versions.
pub(super) fn suite_header(p: &mut Problems, suite: &Suite) {
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
pub(super) fn group_names(p: &mut Problems, suite_groups: &BTreeMap<String, Vec<Check>>) {
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
pub(super) fn case_problems(
    p: &mut Problems,
    ci: usize,
    case: &mut crate::suite::model::Case,
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
pub(super) fn step_problems(
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
pub(super) fn request_problems(
    p: &mut Problems,
    rpath: &str,
    req: &crate::suite::model::HttpRequest,
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
pub(super) fn step_checks(
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
pub(super) fn controls(
    p: &mut Problems,
    cpath: &str,
    case: &crate::suite::model::Case,
    step_ids: &[String],
) {
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
pub const BUILTIN_GROUPS: &str = include_str!("../../../suites/lib/check-groups.yaml");
