//! The commands: what `run`, `validate` and `schema` do, given parsed options.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::browser::BrowserPool;
pub use crate::environment::Environment;
use crate::exit;
use crate::http::HttpClient;
use crate::redact::Redactor;
use crate::report::{self, console};
use crate::runner::{self, RunSettings, Selection, TargetRun};
use crate::suite::{self, LoadError, Loaded, Suite, Target};

mod commands;
mod outputs;

pub use commands::*;
pub use outputs::*;

/// Options of `smartcheck run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub targets: Vec<PathBuf>,
    pub suites: Vec<PathBuf>,
    /// Where the reports go.
    pub outputs: Outputs,
    /// The history database to append the run to (`--history`).
    pub history: Option<PathBuf>,
    pub strict: bool,
    pub selection: Selection,
    /// A remote WebDriver for every target.
    pub webdriver: Option<String>,
    /// At most this many browser sessions at once (`--browser-sessions`).
    pub browser_sessions: Option<usize>,
    /// Run a case again, up to this many times, while its steps error (`--retries`).
    pub retries: u32,
    /// Off a terminal, when a running case gets a `SLOW` line (`--slow-after`).
    pub slow_after: std::time::Duration,
    /// Expected verdicts to compare with (`--expect`).
    pub expect: Option<PathBuf>,
    /// Run against the built-in reference target (`demo`) instead of `targets`.
    pub reference_target: bool,
}

/// The variable the demo target reads the reference server's FHIR base from.
pub const DEMO_BASE_VAR: &str = "SMARTCHECK_REFERENCE_FHIR_BASE";

/// The variable the demo target reads the reference server's origin from (EHR simulator,
/// debug endpoints).
pub const DEMO_ORIGIN_VAR: &str = "SMARTCHECK_REFERENCE_ORIGIN";

/// The variable the demo target reads the reference users' password from.
pub const DEMO_PASSWORD_VAR: &str = "SMARTCHECK_REFERENCE_PASSWORD";

fn print_errors(errors: &[LoadError]) {
    let mut stderr = std::io::stderr().lock();
    for e in errors {
        let _ = writeln!(stderr, "{e}");
    }
}

/// Loads every target, reporting all errors.
pub fn load_targets(paths: &[PathBuf], env: &Environment) -> Result<Vec<Target>, Vec<LoadError>> {
    let files = suite::collect_target_files(paths).map_err(|e| vec![*e])?;
    let mut targets = Vec::new();
    let mut errors = Vec::new();
    for path in &files {
        match suite::load_target(path, &|n| env.var(n)) {
            Ok(t) => targets.push(t),
            Err(mut e) => errors.append(&mut e),
        }
    }
    let mut seen = BTreeMap::new();
    for t in &targets {
        if let Some(other) = seen.insert(t.name.clone(), t.file.clone()) {
            errors.push(LoadError::whole_file(
                &t.file,
                format!("target name `{}` is also used by {other}", t.name),
            ));
        }
    }
    if errors.is_empty() {
        Ok(targets)
    } else {
        Err(errors)
    }
}

/// The `--suite` value that stands for the suites compiled into the binary.
pub const BUILTIN_SUITES: &str = "builtin";

/// Loads every suite under the given files and directories, reporting all errors. The word
/// `builtin` (when no such file or folder exists) adds the built-in suites; a file suite with
/// a built-in suite's id then replaces it.
pub fn load_suites(paths: &[PathBuf]) -> Result<Vec<Suite>, Vec<LoadError>> {
    let builtin = |p: &PathBuf| p.as_os_str() == BUILTIN_SUITES && !p.exists();
    let (with_builtin, paths): (Vec<PathBuf>, Vec<PathBuf>) =
        paths.iter().cloned().partition(builtin);
    let from_files = if paths.is_empty() {
        Vec::new()
    } else {
        load_suite_files(&paths)?
    };
    if with_builtin.is_empty() {
        return Ok(from_files);
    }
    let mut suites: Vec<Suite> = crate::builtin::suites()?
        .into_iter()
        .filter(|b| !from_files.iter().any(|f| f.suite == b.suite))
        .collect();
    suites.extend(from_files);
    Ok(suites)
}

fn load_suite_files(paths: &[PathBuf]) -> Result<Vec<Suite>, Vec<LoadError>> {
    let files = suite::collect_suite_files(paths).map_err(|e| vec![*e])?;
    let mut suites: Vec<Suite> = Vec::new();
    let mut errors = Vec::new();
    for file in &files {
        match suite::load_suite(file) {
            Ok(s) => {
                if let Some(other) = suites.iter().find(|o| o.suite == s.suite) {
                    errors.push(LoadError::whole_file(
                        &s.file,
                        format!("suite id `{}` is also used by {}", s.suite, other.file),
                    ));
                }
                suites.push(s)
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(suites)
    } else {
        Err(errors)
    }
}

/// `smartcheck run`: loads, runs, writes the reports; returns the exit code.
///
/// A pipeline of four stages: load (the suites, targets, expectations and history, each
/// target's client), plan (the cases the selection keeps), execute (the cases on a runtime,
/// with Ctrl-C watched and the browser ended after), report (every report written, the exit
/// code judged). A stage that cannot go on returns the exit code.
pub fn run(options: RunOptions, env: &Environment) -> u8 {
    run_stages(&options, env).unwrap_or_else(|code| code)
}

fn run_stages(options: &RunOptions, env: &Environment) -> Result<u8, u8> {
    // Load.
    let inputs = load_inputs(options, env)?;
    let redactor = Redactor::new();
    crate::logging::redact_with(&redactor);
    let (runs, suites) = prepare_targets(inputs.targets, inputs.suites, &redactor)?;
    // Plan.
    let planned = plan_cases(&runs, &suites, &options.selection)?;
    // Execute.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            exit::HARNESS
        })?;
    let paths = report_paths(options)?;
    let executed = execute(&runtime, options, env, &runs, planned, &redactor, &paths);
    let Some(mut report) = executed.report else {
        return Ok(exit::SUCCESS);
    };
    report.browser = (executed.browser.sessions > 0).then_some(executed.browser);
    // Report.
    let code = finish(
        report,
        Finish {
            options,
            env,
            expected: inputs.expected,
            history: inputs.history,
            redactor: &redactor,
            paths,
            progress: &executed.progress,
        },
    );
    runtime.shutdown_background();
    Ok(code)
}

/// The cases of the suites for the targets, the notes on what was left out, and the
/// selection's cases among them.
fn plan_cases(
    runs: &[Arc<TargetRun>],
    suites: &[Arc<Suite>],
    selection: &runner::Selection,
) -> Result<Vec<runner::Planned>, u8> {
    let (planned, notes) = runner::plan(runs, suites);
    for note in &notes {
        eprintln!("note: {note}");
    }
    if planned.is_empty() {
        eprintln!("error: no case to run: no suite matches the targets' smart-version");
        return Err(exit::USAGE);
    }
    select(planned, selection)
}

/// What the execute stage came to: the run's report (none for `--list`) and the browser's
/// use.
struct Executed {
    report: Option<report::RunReport>,
    browser: crate::browser::driver::BrowserUse,
    /// The cases' progress, which the summary reads.
    progress: Arc<runner::Progress>,
}

/// The planned cases run, with Ctrl-C and SIGTERM watched (the reports so far are written on
/// an interrupt) and the browser pool ended after, also after an interrupt.
fn execute(
    runtime: &tokio::runtime::Runtime,
    options: &RunOptions,
    env: &Environment,
    runs: &[Arc<TargetRun>],
    planned: Vec<runner::Planned>,
    redactor: &Redactor,
    paths: &ReportPaths,
) -> Executed {
    let cancel = CancellationToken::new();
    let progress = Arc::new(runner::Progress::default());
    let partial = partial_reports(options, &progress, runs, redactor, paths);
    if let Err(e) = runtime.block_on(async { interrupt_watch(cancel.clone(), partial) }) {
        eprintln!("warning: cannot watch for signals ({e}); Ctrl-C and SIGTERM end the run without reports");
    }
    if !options.selection.list {
        probe_tls(runtime, runs);
    }
    let bound = options.browser_sessions.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    });
    let browser = Arc::new(BrowserPool::new(options.webdriver.clone(), bound));
    let settings = RunSettings {
        strict: options.strict,
        redactor: redactor.clone(),
        cancel,
        browser: browser.clone(),
        artifacts_dir: options.outputs.report_dir.join("artifacts"),
        retries: options.retries,
        board: Arc::default(),
    };
    let (selection, live) = live_output(options, env, runs, &settings);
    let report = runner::execute(
        runtime,
        runs,
        planned,
        &selection,
        settings,
        progress.clone(),
    );
    if let Some(live) = live {
        live.stop();
    }
    // Every session has been quit by its case; the driver and its processes end here.
    runtime.block_on(browser.shutdown());
    Executed {
        report,
        browser: browser.usage(),
        progress,
    }
}

/// What a run reads before it sends anything: the expected verdicts, the targets, the suites
/// and the history database (each refused, exit 2, before the run when it cannot be used).
struct Inputs {
    expected: Option<report::expect::Expected>,
    targets: Vec<Target>,
    suites: Vec<Suite>,
    history: Option<crate::history::History>,
}

fn load_inputs(options: &RunOptions, env: &Environment) -> Result<Inputs, u8> {
    let expected = match &options.expect {
        Some(path) => match report::expect::load(path) {
            Ok(e) => Some(e),
            Err(e) => {
                print_errors(&[*e]);
                return Err(exit::USAGE);
            }
        },
        None => None,
    };
    let loaded_targets = if options.reference_target {
        crate::builtin::reference_target(env).map(|t| vec![t])
    } else {
        load_targets(&options.targets, env)
    };
    let targets = match loaded_targets {
        Ok(t) => t,
        Err(e) => {
            print_errors(&e);
            return Err(exit::USAGE);
        }
    };
    // The built-in suites unless files are named.
    let loaded_suites = if options.suites.is_empty() {
        crate::builtin::suites()
    } else {
        load_suites(&options.suites)
    };
    let suites = match loaded_suites {
        Ok(s) => s,
        Err(e) => {
            print_errors(&e);
            return Err(exit::USAGE);
        }
    };
    // A history file that cannot be used is known before the run, not after it.
    let history = match (&options.history, options.selection.list) {
        (Some(path), false) => match crate::history::History::open(path, env) {
            Ok(h) => Some(h),
            Err(e) => {
                eprintln!("error: {e}");
                return Err(exit::USAGE);
            }
        },
        _ => None,
    };
    Ok(Inputs {
        expected,
        targets,
        suites,
        history,
    })
}

/// The targets ready to run (each with its HTTP client) and the suites, shared.
type Prepared = (Vec<Arc<TargetRun>>, Vec<Arc<Suite>>);

/// Each target with its HTTP client and its secrets known to the masker; the suites shared.
/// A value a suite reads that no target can supply is refused here (exit 2).
fn prepare_targets(
    targets: Vec<Target>,
    suites: Vec<Suite>,
    redactor: &Redactor,
) -> Result<Prepared, u8> {
    let mut runs = Vec::new();
    let mut connections = crate::http::client::Connections::default();
    for target in targets {
        for secret in target.known_secrets() {
            redactor.register(&secret);
        }
        for (client_id, secret) in target.basic_credentials() {
            redactor.register_basic(&client_id, &secret);
        }
        match HttpClient::for_target_in(&target, &mut connections) {
            Ok(client) => runs.push(Arc::new(TargetRun::new(target, client))),
            Err(e) => {
                eprintln!("error: target `{}` ({}): {e}", target.name, target.file);
                return Err(exit::USAGE);
            }
        }
    }
    let suites: Vec<Arc<Suite>> = suites.into_iter().map(Arc::new).collect();
    let unsupplied = unsupplied_values(&runs, &suites);
    if !unsupplied.is_empty() {
        for problem in &unsupplied {
            eprintln!("{problem}");
        }
        return Err(exit::USAGE);
    }
    Ok((runs, suites))
}

/// Where the reports go; two reports on one path are refused (exit 2).
fn report_paths(options: &RunOptions) -> Result<ReportPaths, u8> {
    options.outputs.paths().map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })
}

/// What the first Ctrl-C or SIGTERM writes: the cases finished so far (or, past the run's
/// end, nothing new: the run's own reports are awaited).
fn partial_reports(
    options: &RunOptions,
    progress: &Arc<runner::Progress>,
    runs: &[Arc<TargetRun>],
    redactor: &Redactor,
    paths: &ReportPaths,
) -> impl Fn() + Send + Sync + 'static {
    let (progress, runs, redactor, paths) = (
        progress.clone(),
        runs.to_vec(),
        redactor.clone(),
        paths.clone(),
    );
    let (strict, list) = (options.strict, options.selection.list);
    move || {
        // Past the run's end its own reports are being written, with every case: they
        // are awaited (a minute at most) rather than replaced by an empty one.
        if progress.stage() != runner::Progress::RUNNING {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while progress.stage() != runner::Progress::WRITTEN
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            return;
        }
        if !list {
            let report = progress.report(&runs, true, strict).redacted(&redactor);
            let (written, _) = paths.write(&report);
            eprintln!(
                "smartcheck: wrote the {} case(s) finished so far: {}",
                report.cases.len(),
                written.join(", ")
            );
        }
    }
}

/// The TLS of https targets, for the reports (a failure here is the checks' to report).
fn probe_tls(runtime: &tokio::runtime::Runtime, runs: &[Arc<TargetRun>]) {
    for run in runs {
        match runtime.block_on(crate::http::tls::probe(&run.target)) {
            Some(Ok(facts)) => {
                eprintln!("note: {}", facts.describe(&run.target.name));
                let _ = run.tls.set(facts);
            }
            Some(Err(e)) => eprintln!("note: target `{}`: no TLS facts: {e}", run.target.name),
            None => {}
        }
    }
}

/// The selection with its colour decided, and the live progress lines: a person at a
/// terminal gets them redrawn, a CI log plain lines.
fn live_output(
    options: &RunOptions,
    env: &Environment,
    runs: &[Arc<TargetRun>],
    settings: &RunSettings,
) -> (Selection, Option<runner::live::Live>) {
    let mut selection = options.selection.clone();
    let no_color = env.var("NO_COLOR").is_some_and(|v| !v.is_empty());
    let colour_auto = selection.color.as_deref().is_none_or(|c| c == "auto");
    // A person at a terminal (and no manual browser step that asks them things) gets the
    // live lines; standard output then goes through a pipe, so colour is decided here.
    let live_terminal = env.stdout_is_terminal
        && !selection.list
        && env.var("TERM").as_deref() != Some("dumb")
        && !runs
            .iter()
            .any(|r| r.target.browser.mode == crate::suite::target::BrowserMode::Manual);
    if colour_auto {
        if no_color {
            selection.color = Some("never".into());
        } else if live_terminal {
            selection.color = Some("always".into());
        }
    }
    let live = if selection.list {
        None
    } else if live_terminal {
        let threads = selection
            .test_threads
            .unwrap_or_else(runner::default_test_threads);
        let with_stderr = env.stderr_is_terminal;
        match runner::live::Live::terminal(settings.board.clone(), threads.max(1), with_stderr) {
            Ok(live) => Some(live),
            Err(e) => {
                eprintln!("note: no live progress lines: {e}");
                None
            }
        }
    } else {
        Some(runner::live::Live::plain(
            settings.board.clone(),
            options.slow_after,
        ))
    };
    (selection, live)
}

/// What the end of a run needs besides its report.
struct Finish<'a> {
    options: &'a RunOptions,
    env: &'a Environment,
    expected: Option<report::expect::Expected>,
    history: Option<crate::history::History>,
    redactor: &'a Redactor,
    paths: ReportPaths,
    progress: &'a runner::Progress,
}

/// Masks the report, records it in the history, writes every report and the console summary,
/// compares with the expected verdicts; the exit code.
fn finish(report: report::RunReport, f: Finish<'_>) -> u8 {
    let Finish {
        options,
        env,
        expected,
        mut history,
        redactor,
        paths,
        progress,
    } = f;
    let report = report.redacted(redactor);
    let mut paths = paths;
    let mut history_error = false;
    if let Some(history) = &mut history {
        // Tests hold the write open here to kill the process mid-transaction.
        let pause = env
            .var("SMARTCHECK_TEST_HISTORY_PAUSE_MS")
            .and_then(|ms| ms.parse().ok())
            .map(std::time::Duration::from_millis);
        match record_in_history(history, &report, pause) {
            Some(strips) => paths.strips = Some(strips),
            None => history_error = true,
        }
    }
    let (written, harness_error) = paths.write(&report);
    progress.written();
    if let Some(kb) = peak_resident_kb() {
        tracing::debug!("peak resident memory: {kb} kB");
    }
    let work = redactor.work();
    tracing::debug!(
        "masking work: {} bytes of text masked; {} forms of {} bytes, {} bytes compiled, {} matchers of {} bytes",
        work.masked_bytes,
        work.forms,
        work.form_bytes,
        work.compiled_bytes,
        work.matchers,
        work.matcher_bytes
    );
    let harness_error = harness_error || history_error;
    print!("{}", redactor.redact(&console::summary(&report, &written)));
    let differences = expected
        .as_ref()
        .map(|e| report::expect::compare(e, &report));
    if let (Some(differences), Some(e), Some(path)) = (&differences, &expected, &options.expect) {
        let of = e.server.as_deref().unwrap_or("the server");
        if differences.is_empty() {
            println!(
                "smartcheck: every verdict is as expected for {of} ({})",
                path.display()
            );
        } else {
            println!(
                "smartcheck: {} verdict(s) differ from the expected ones for {of} ({}):",
                differences.len(),
                path.display()
            );
            for line in differences {
                println!("  {}", redactor.redact(line));
            }
        }
    }
    let _ = std::io::stdout().flush();
    if report.interrupted {
        crate::interrupt::exit_code()
    } else if harness_error {
        exit::HARNESS
    } else if let Some(differences) = differences {
        if differences.is_empty() {
            exit::SUCCESS
        } else {
            exit::CHECKS_FAILED
        }
    } else if report.has_failures() {
        exit::CHECKS_FAILED
    } else {
        exit::SUCCESS
    }
}

/// Appends `report` to `history` and returns the strips of the last runs the HTML
/// report shows; an error is printed and gives `None`.
fn record_in_history(
    history: &mut crate::history::History,
    report: &report::RunReport,
    pause: Option<std::time::Duration>,
) -> Option<Arc<report::html::Strips>> {
    let names: Vec<String> = report.targets.iter().map(|t| t.name.clone()).collect();
    match history
        .record(report, pause)
        .and_then(|run| Ok((run, history.strips(&names, crate::history::DEFAULT_RUNS)?)))
    {
        Ok((run, strips)) => {
            eprintln!("note: run #{run} recorded in {}", history.label());
            Some(Arc::new(strips))
        }
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

/// The cases a run keeps: those the FILTER, `--skip` and `--partition` select (smartcheck's own
/// selection; libtest's filter is not used). A filter that selects nothing is a usage error;
/// `--list=plain` prints the names here. `Err` is the exit code when the run stops here.
fn select(
    mut planned: Vec<runner::Planned>,
    selection: &runner::Selection,
) -> Result<Vec<runner::Planned>, u8> {
    // A filter that selects nothing is a mistake (a typo in a case name), not a passing run.
    if (selection.filter.is_some() || !selection.skip.is_empty())
        && !planned.iter().any(|p| selection.selects(&planned_name(p)))
    {
        no_case_matches(&planned, selection);
        return Err(exit::USAGE);
    }
    if let Some(partition) = selection.partition {
        let selected = |planned: &[runner::Planned]| {
            planned
                .iter()
                .filter(|p| selection.selects(&planned_name(p)))
                .count()
        };
        let before = selected(&planned);
        planned.retain(|p| selection.in_partition(&planned_name(p)));
        eprintln!(
            "note: shard {}/{} runs {} of the {before} selected cases",
            partition.index,
            partition.count,
            selected(&planned)
        );
    }
    // The selection is made here, not by libtest's own filter: that one looks for a pattern in
    // the whole name, so a target named `es384` would bring in every case of it.
    planned.retain(|p| selection.selects(&planned_name(p)));
    if selection.list && selection.list_plain {
        for p in &planned {
            println!("{}", planned_name(p));
        }
        return Err(exit::SUCCESS);
    }
    Ok(planned)
}

/// A planned case's full name, `target::suite::case`.
fn planned_name(p: &runner::Planned) -> String {
    runner::case::case_name(&p.run.target, &p.suite, &p.suite.cases[p.case_index])
}

/// Says that the FILTER and `--skip`s select no case, with the planned name nearest to the
/// filter (whole, or without its target).
fn no_case_matches(planned: &[runner::Planned], selection: &runner::Selection) {
    let filter = selection
        .filter
        .as_deref()
        .map(|f| format!(" `{f}`"))
        .unwrap_or_default();
    let skips = if selection.skip.is_empty() {
        String::new()
    } else {
        format!(" with --skip {}", selection.skip.join(", "))
    };
    eprintln!(
        "error: no case matches the filter{filter}{skips} ({} cases planned{}; `--list` shows their names)",
        planned.len(),
        if selection.exact { ", names compared whole (--exact)" } else { "" }
    );
    let Some(wanted) = &selection.filter else {
        return;
    };
    let names: Vec<String> = planned.iter().map(planned_name).collect();
    let parts: std::collections::BTreeSet<&str> = names
        .iter()
        .flat_map(|n| {
            [
                n.as_str(),
                n.split_once("::").map_or(n.as_str(), |(_, c)| c),
            ]
        })
        .collect();
    if let Some(near) = crate::suite::error::did_you_mean(wanted, parts.iter().copied()) {
        eprintln!("  help: {near}");
    }
}

/// The suites' `{{ secrets.NAME }}` that a target they run against has no secret for, and
/// their `{{ target.vars.NAME }}` that a target lacks while it has a var of a like name (a
/// typo): values the run can never supply. A var a target leaves out altogether is the
/// target's choice, and the checks that need it are skipped, saying so.
fn unsupplied_values(runs: &[Arc<TargetRun>], suites: &[Arc<Suite>]) -> Vec<String> {
    let mut problems = Vec::new();
    for run in runs {
        let target = &run.target;
        for suite in suites
            .iter()
            .filter(|s| s.versions().contains(&target.smart_version))
        {
            for reference in &suite.target_refs {
                let (known, hint): (Vec<&str>, Option<String>) = if reference.map == "secrets" {
                    let known: Vec<&str> = target.secrets.keys().map(String::as_str).collect();
                    if known.contains(&reference.name.as_str()) {
                        continue;
                    }
                    let hint =
                        crate::suite::error::did_you_mean(&reference.name, known.iter().copied());
                    (known, hint)
                } else {
                    let known: Vec<&str> = target.vars.keys().map(String::as_str).collect();
                    if known.contains(&reference.name.as_str()) {
                        continue;
                    }
                    match crate::suite::error::did_you_mean(&reference.name, known.iter().copied())
                    {
                        Some(hint) => (known, Some(hint)),
                        None => continue,
                    }
                };
                let written = if reference.map == "secrets" {
                    format!("{{{{ secrets.{} }}}}", reference.name)
                } else {
                    format!("{{{{ target.vars.{} }}}}", reference.name)
                };
                problems.push(format!(
                    "error: `{written}` names no {} of target `{}` ({}), which suite `{}` runs against\n  --> {}\n  = expected: one of its {}: {}{}",
                    if reference.map == "secrets" { "secret" } else { "var" },
                    target.name,
                    target.file,
                    suite.suite,
                    reference.location,
                    reference.map,
                    if known.is_empty() { "none".to_string() } else { known.join(", ") },
                    hint.map(|h| format!("\n  = help: {h}")).unwrap_or_default()
                ));
            }
        }
    }
    problems
}

/// This process's peak resident set since it started, in kB (Linux's `VmHWM`): what a run
/// took, which a parent's rusage cannot say (it counts the parent's own pages copied before
/// the exec).
fn peak_resident_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Watches for Ctrl-C (SIGINT), SIGTERM and SIGHUP, handled alike. The first: stop sending,
/// finish the cases as skipped, write the reports (the run's own end does). The second:
/// write the verdicts of the cases finished so far (`partial`), end the browsers, and leave
/// at once. Must be called within the runtime (the signal handlers are installed here).
fn interrupt_watch(
    cancel: CancellationToken,
    partial: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, Signal, SignalKind};
    // A signal the parent set to be ignored stays ignored: `nohup` ignores SIGHUP, and a
    // shell ignores SIGINT for the jobs it starts in the background.
    let watch = |kind: SignalKind, number: i32| -> std::io::Result<Option<Signal>> {
        if crate::interrupt::ignored_at_start(number) {
            Ok(None)
        } else {
            signal(kind).map(Some)
        }
    };
    let mut int = watch(SignalKind::interrupt(), libc::SIGINT)?;
    let mut term = watch(SignalKind::terminate(), libc::SIGTERM)?;
    let mut hup = watch(SignalKind::hangup(), libc::SIGHUP)?;
    async fn one(signal: &mut Option<Signal>) {
        match signal {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    async fn next(
        int: &mut Option<Signal>,
        term: &mut Option<Signal>,
        hup: &mut Option<Signal>,
    ) -> i32 {
        tokio::select! {
            _ = one(int) => libc::SIGINT,
            _ = one(term) => libc::SIGTERM,
            _ = one(hup) => libc::SIGHUP,
        }
    }
    tokio::spawn(async move {
        crate::interrupt::record(next(&mut int, &mut term, &mut hup).await);
        eprintln!(
            "\nsmartcheck: {}; finishing the run and writing the reports (again to quit now)",
            crate::interrupt::reason()
        );
        cancel.cancel();
        next(&mut int, &mut term, &mut hup).await;
        crate::runner::live::restore();
        eprintln!("smartcheck: interrupted twice; quitting now");
        crate::browser::kill_all_local_drivers();
        partial();
        std::process::exit(i32::from(crate::interrupt::exit_code()));
    });
    Ok(())
}
