//! The command line (clap derive). The only module that names clap.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app::{self, Environment, RunOptions, SchemaKind};
use crate::exit;
use crate::runner::Selection;

/// SMART on FHIR server-conformance test harness.
#[derive(Debug, Parser)]
#[command(name = "smartcheck", version, about, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 all checks passed; 1 a check failed or errored; \
2 usage error or bad suite/target file; 3 harness error; 130, 143, 129 interrupted by \
Ctrl-C, SIGTERM, SIGHUP (reports still written)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run suites against targets, print results like `cargo test`, write JUnit and JSON reports.
    Run(RunArgs),
    /// Load and check suite and target files without touching the network.
    Validate(ValidateArgs),
    /// Write a target file for a FHIR server from what it publishes (its smart-configuration,
    /// CapabilityStatement and OpenID configuration), with a comment on every value it could
    /// not find out; prints what the user still has to supply. Never writes a secret.
    Init(InitArgs),
    /// Print the JSON Schema of a file format (for yaml-language-server and other editors).
    Schema(SchemaArgs),
    /// Start the embedded reference server and run the built-in suites against it.
    Demo(DemoArgs),
    /// Serve the embedded SMART reference server; prints its FHIR base URL first.
    ServeReference(ServeArgs),
    /// Print the requirement catalogue against the suites: per requirement its level, whom it
    /// binds and the checks that test it, then the coverage per source and page.
    Requirements(RequirementsArgs),
    /// The target templates (compiled into the binary).
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// The built-in suites (compiled into the binary).
    #[command(subcommand)]
    Suites(SuitesCommand),
    /// What a `--history` database says: per target, the checks that changed verdict since
    /// the previous run, since when each failing check has failed, pass rates over the last
    /// runs and the latency trend.
    History(HistoryCommandArgs),
    /// Merge the JSON reports of a run's shards (`run --partition K/N`) into one JUnit and
    /// JSON report; exits 1 if a check failed or errored in any shard.
    Merge(MergeArgs),
    /// Check that this machine can play a server's screens: the chromedriver and Chromium a
    /// run would use and their versions, one browser started, and the clean state between
    /// cases proven; exits 1 when a run's browser flows could not work.
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check a remote WebDriver (a Selenium Grid) instead of the local chromedriver.
    #[arg(long, value_name = "URL")]
    pub webdriver: Option<String>,
}

#[derive(Debug, Args)]
pub struct HistoryCommandArgs {
    /// The database that `run --history FILE|URL` writes.
    #[arg(value_name = "FILE|URL")]
    pub file: PathBuf,
    /// How many of each target's last runs to look at.
    #[arg(long, value_name = "N", default_value_t = crate::history::DEFAULT_RUNS as u16, value_parser = clap::value_parser!(u16).range(1..))]
    pub runs: u16,
    /// Only this target.
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' JSON reports (results.json).
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    #[command(flatten)]
    pub output: ReportArgs,
    #[command(flatten)]
    pub history: HistoryArgs,
}

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Write the target templates (and the harness's public client JWK Set, for servers that
    /// fetch a `jwks_uri`) into DIR, to copy one for your server.
    Export {
        /// The folder to write into (created if missing).
        dir: PathBuf,
        /// Replace files that already exist there.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SuitesCommand {
    /// Write the built-in suites into DIR, to change them and run them with `--suite DIR`.
    Export {
        /// The folder to write into (created if missing).
        dir: PathBuf,
        /// Replace suite files that already exist there.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct RequirementsArgs {
    /// A suite file or a directory of them (repeatable) [default: the built-in suites];
    /// `builtin` adds the built-in suites, and a file suite with a built-in's id replaces it.
    #[arg(long = "suite", short = 's', value_name = "FILE_OR_DIR")]
    pub suites: Vec<PathBuf>,
    /// Print JSON: `{"requirements": [...], "summary": {...}}`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub reports: ReportArgs,
    #[command(flatten)]
    pub browser: BrowserArgs,
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Break one requirement of the reference server (repeatable); see docs/reference-server.md's fault table.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<String>,
    /// Count SHOULD requirements that are not met as failures, not warnings.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Break one requirement (repeatable); see docs/reference-server.md's fault table.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<String>,
    /// Also serve the S4S development endpoints `/oauth/debug/token` and `/oauth/debug/introspect`.
    #[arg(long)]
    pub debug_endpoints: bool,
    /// Hold back each answer this long (e.g. 20ms): a server at a realistic distance, for
    /// benchmarks.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub latency: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub inputs: InputArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub reports: ReportArgs,
    #[command(flatten)]
    pub browser: BrowserArgs,
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Count SHOULD requirements that are not met as failures, not warnings.
    #[arg(long)]
    pub strict: bool,
    /// Compare every verdict with this file of expected verdicts (`suite::case::check: verdict`)
    /// and exit 1 on any difference instead of on failed checks.
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,
}

/// What to run.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// A target file, or a directory of them (repeatable: several servers in one run).
    #[arg(
        long = "target",
        short = 't',
        value_name = "FILE_OR_DIR",
        required = true
    )]
    pub targets: Vec<PathBuf>,
    /// A suite file or a directory of them (repeatable) [default: the built-in suites];
    /// `builtin` adds the built-in suites, and a file suite with a built-in's id replaces it.
    #[arg(long = "suite", short = 's', value_name = "FILE_OR_DIR")]
    pub suites: Vec<PathBuf>,
}

/// Which cases, like `cargo test`. Case names are `target::suite::case`.
#[derive(Debug, Args)]
pub struct SelectionArgs {
    /// Run only cases whose `suite::case` contains FILTER (a FILTER with `::` is looked for in
    /// the whole `target::suite::case` name).
    #[arg(value_name = "FILTER")]
    pub filter: Option<String>,
    /// Match FILTER exactly instead of as a substring.
    #[arg(long)]
    pub exact: bool,
    /// Skip cases whose `suite::case` contains PATTERN (repeatable; with `::`, the whole name).
    #[arg(long, value_name = "PATTERN")]
    pub skip: Vec<String>,
    /// List the cases instead of running them; `--list=plain` prints only their full names,
    /// one per line, as a FILTER with `--exact` takes them back.
    #[arg(
        long,
        value_name = "FORMAT",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "tests"
    )]
    pub list: Option<ListFormat>,
    /// How many cases run at once [default: twice the number of CPUs, at least 4; browsers are
    /// bounded by --browser-sessions]. With more than one, the longest cases start first.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub test_threads: Option<u16>,
    /// Run shard K of N: a share of the cases fixed by each case name's hash, the same on
    /// every machine and run (for a CI job matrix; every case is in exactly one shard).
    #[arg(long, value_name = "K/N", value_parser = parse_partition)]
    pub partition: Option<crate::runner::Partition>,
    /// Colour the console output.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Run a case again, up to N more times, when a step errored (no answer, a reset, a
    /// timeout, a broken browser step) or got a 5xx answer; never for a failed check on an
    /// answer. A case that then passes is reported as flaky.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub retries: u32,
    /// Off a terminal, print a `SLOW` line for a case still running after this long, and
    /// again each time as long again passes (on a terminal, running cases show live).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = slow_after)]
    pub slow_after: std::time::Duration,
}

fn slow_after(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("not a duration like 30s: {e}"))?;
    if d < std::time::Duration::from_millis(100) {
        return Err("at least 100ms".into());
    }
    Ok(d)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

fn parse_partition(text: &str) -> Result<crate::runner::Partition, String> {
    crate::runner::Partition::parse(text)
}

impl ReportArgs {
    /// Where the reports go, for `run`, `demo` and `merge` alike.
    fn outputs(self) -> app::Outputs {
        app::Outputs {
            report_dir: self.report_dir,
            junit: self.junit,
            json: self.json,
            html: self.html,
            metrics: self.metrics,
            summary: self.summary,
        }
    }
}

/// Where the reports go.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Directory for the reports.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub report_dir: PathBuf,
    /// JUnit XML path [default: REPORT_DIR/junit.xml].
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// JSON report path [default: REPORT_DIR/results.json].
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// HTML report path, one self-contained page for a person [default: REPORT_DIR/report.html].
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Also write the run's counts, per-target pass ratios, latency and flaky cases in the
    /// Prometheus text format here (for the node exporter's textfile collector: a `*.prom` file).
    #[arg(long, value_name = "PATH")]
    pub metrics: Option<PathBuf>,
    /// Also write a short Markdown summary here: counts, each target, the failures grouped by
    /// cause with their requirements, flaky cases (GitHub Actions shows it when PATH is
    /// `$GITHUB_STEP_SUMMARY`; an existing file there is appended to).
    #[arg(long, value_name = "PATH")]
    pub summary: Option<PathBuf>,
}

/// The run's history.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Append the run (targets, verdicts, latency, time) to this SQLite database, created if
    /// missing, or to a PostgreSQL database (`postgres://user@host/db`; the password in
    /// PGPASSWORD); the HTML report then shows each check's last runs. See `smartcheck history`.
    #[arg(long = "history", value_name = "FILE|URL")]
    pub history: Option<PathBuf>,
}

/// The browser for authorization screens.
#[derive(Debug, Args)]
pub struct BrowserArgs {
    /// A remote WebDriver URL (e.g. a Selenium Grid) for every target, instead of spawning
    /// chromedriver from PATH.
    #[arg(long, value_name = "URL", value_parser = webdriver_url)]
    pub webdriver: Option<String>,
    /// At most N browser sessions open at once, across all targets; a case that needs one
    /// waits [default: the number of CPUs].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub browser_sessions: Option<u16>,
}

fn webdriver_url(text: &str) -> Result<String, String> {
    match url::Url::parse(text) {
        Ok(u) if u.scheme() == "http" => Ok(text.to_string()),
        Ok(u) => Err(format!(
            "{} WebDriver URLs are not supported; use http",
            u.scheme()
        )),
        Err(e) => Err(format!("not an absolute URL: {e}")),
    }
}

/// How `--list` prints the cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// As `cargo test --list` does: `NAME: test`.
    Tests,
    /// The names alone, one per line.
    Plain,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The server's FHIR base URL, e.g. https://ehr.example.org/fhir.
    #[arg(value_name = "FHIR_BASE")]
    pub fhir_base: String,
    /// Write the target here (the findings go to stdout); without it, the target goes to
    /// stdout and the findings to stderr.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The target's name [default: from the FHIR base's host].
    #[arg(long)]
    pub name: Option<String>,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub screens: ScreensArgs,
}

/// `init --screens`: learn the sign-in, patient and consent screens in a real browser.
#[derive(Debug, Args)]
pub struct ScreensArgs {
    /// Play one standalone authorization in Chromium and write the `browser:` steps that
    /// worked (needs --user and --password-env).
    #[arg(long, requires_all = ["user", "password_env"])]
    pub screens: bool,
    /// The test user's sign-in name (written into the target).
    #[arg(long, value_name = "NAME", requires = "screens")]
    pub user: Option<String>,
    /// The environment variable that holds the test user's password (the target reads it
    /// from there; the password is never written).
    #[arg(long, value_name = "VAR", requires = "screens")]
    pub password_env: Option<String>,
    /// A public client registered beforehand (else init registers one and deletes it).
    #[arg(long, value_name = "ID", requires = "screens")]
    pub client_id: Option<String>,
    /// The redirect URI that client is registered with [default: a free loopback port].
    #[arg(long, value_name = "URL", requires = "client_id")]
    pub redirect_uri: Option<String>,
    /// The patient to choose at a patient picker [default: the first offered].
    #[arg(long, value_name = "ID", requires = "screens")]
    pub patient: Option<String>,
    /// Another word on an approving control ("Freigeben"); may be given again.
    #[arg(long = "approve-word", value_name = "WORD", requires = "screens")]
    pub approve_words: Vec<String>,
    /// Another host the sign-in may go to (an identity provider); may be given again.
    #[arg(long = "allow-host", value_name = "HOST", requires = "screens")]
    pub allow_hosts: Vec<String>,
    /// A remote WebDriver (a Selenium Grid) instead of a local chromedriver.
    #[arg(long, value_name = "URL", requires = "screens")]
    pub webdriver: Option<String>,
    /// Where each screen's screenshot goes.
    #[arg(long, value_name = "DIR", default_value = "reports/init-screens")]
    pub screenshots: PathBuf,
}

impl ScreensArgs {
    /// What `init` is asked to learn, when `--screens` is given.
    fn request(&self) -> Option<crate::init::ScreensRequest> {
        self.screens.then(|| crate::init::ScreensRequest {
            user: self.user.clone().unwrap_or_default(),
            password_env: self.password_env.clone().unwrap_or_default(),
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.clone(),
            patient: self.patient.clone(),
            webdriver: self.webdriver.clone(),
            approve_words: self.approve_words.clone(),
            allow_hosts: self.allow_hosts.clone(),
            screenshots: self.screenshots.clone(),
        })
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Suite and target files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[arg(value_enum)]
    pub kind: SchemaFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFormat {
    Suite,
    Target,
}

impl SelectionArgs {
    fn into_selection(self) -> Selection {
        Selection {
            filter: self.filter,
            exact: self.exact,
            skip: self.skip,
            list: self.list.is_some(),
            list_plain: self.list == Some(ListFormat::Plain),
            test_threads: self.test_threads.map(usize::from),
            partition: self.partition,
            color: Some(
                match self.color {
                    Color::Auto => "auto",
                    Color::Always => "always",
                    Color::Never => "never",
                }
                .to_string(),
            ),
        }
    }
}

impl RunArgs {
    fn into_options(self) -> RunOptions {
        RunOptions {
            targets: self.inputs.targets,
            suites: self.inputs.suites,
            outputs: self.reports.outputs(),
            history: self.history.history,
            strict: self.strict,
            retries: self.selection.retries,
            slow_after: self.selection.slow_after,
            selection: self.selection.into_selection(),
            webdriver: self.browser.webdriver,
            browser_sessions: self.browser.browser_sessions.map(usize::from),
            expect: self.expect,
            reference_target: false,
        }
    }
}

impl DemoArgs {
    fn into_options(self) -> (RunOptions, Vec<String>) {
        let options = RunOptions {
            targets: Vec::new(),
            suites: Vec::new(),
            outputs: self.reports.outputs(),
            history: self.history.history,
            strict: self.strict,
            retries: self.selection.retries,
            slow_after: self.selection.slow_after,
            selection: self.selection.into_selection(),
            webdriver: self.browser.webdriver,
            browser_sessions: self.browser.browser_sessions.map(usize::from),
            expect: None,
            reference_target: true,
        };
        (options, self.faults)
    }
}

/// Parses the command line and runs the command; returns the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>, env: &Environment) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::SUCCESS
                }
                _ => exit::USAGE,
            };
        }
    };
    match cli.command {
        Command::Run(args) => app::run(args.into_options(), env),
        Command::Validate(args) => app::validate(&args.files, env),
        Command::Init(args) => crate::init::main(
            &args.fhir_base,
            args.out.as_deref(),
            args.name.as_deref(),
            args.force,
            args.screens.request().as_ref(),
            env,
        ),
        Command::Suites(SuitesCommand::Export { dir, force }) => app::export_suites(&dir, force),
        Command::Templates(TemplatesCommand::Export { dir, force }) => {
            app::export_templates(&dir, force)
        }
        Command::Merge(args) => app::merge(
            &args.reports,
            args.output.outputs(),
            args.history.history,
            env,
        ),
        Command::Schema(args) => app::schema(match args.kind {
            SchemaFormat::Suite => SchemaKind::Suite,
            SchemaFormat::Target => SchemaKind::Target,
        }),
        Command::Demo(args) => {
            let (options, faults) = args.into_options();
            app::demo(options, &faults, env)
        }
        Command::ServeReference(args) => app::serve_reference(
            &args.host,
            args.port,
            &args.faults,
            args.debug_endpoints,
            args.latency,
        ),
        Command::Requirements(args) => app::requirements(&args.suites, args.json),
        Command::Doctor(args) => crate::doctor::main(args.webdriver.as_deref()),
        Command::History(args) => app::history(
            &args.file,
            usize::from(args.runs),
            args.target.as_deref(),
            args.json,
            env,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_lines() {
        let ok = [
            "smartcheck run --target t.yaml",
            "smartcheck run -t a.yaml -t b.yaml --suite suites --suite x.yaml discovery --exact",
            "smartcheck run --target t.yaml --skip cors --skip oidc --list --test-threads 4 --strict",
            "smartcheck run --target t.yaml --report-dir out --junit j.xml --json r.json --color never",
            "smartcheck validate a.yaml b.yaml",
            "smartcheck schema suite",
            "smartcheck schema target",
            "smartcheck demo",
            "smartcheck demo --fault pkce-plain-advertised --fault jwks-bad-key discovery --report-dir out",
            "smartcheck serve-reference --port 0 --fault smart-config-no-cors",
            "smartcheck run --target t.yaml --webdriver http://127.0.0.1:4444",
            "smartcheck run --target targets/ --browser-sessions 2 --test-threads 8",
            "smartcheck run --target t.yaml --retries 2 --slow-after 2m",
            "smartcheck run --target t.yaml --history h.sqlite --html r.html",
            "smartcheck history h.sqlite --runs 20 --target reference --json",
            "smartcheck demo --webdriver http://grid.example:4444/wd/hub",
            "smartcheck requirements",
            "smartcheck requirements --json --suite suites --suite my.yaml",
        ];
        for line in ok {
            let parsed = Cli::try_parse_from(line.split_whitespace());
            assert!(parsed.is_ok(), "{line}: {}", parsed.unwrap_err());
        }
        let bad = [
            "smartcheck",
            "smartcheck run",
            "smartcheck run --target t.yaml --test-threads 0",
            "smartcheck run --target t.yaml --test-threads x",
            "smartcheck run --target t.yaml --browser-sessions 0",
            "smartcheck run --target t.yaml --retries 11",
            "smartcheck run --target t.yaml --slow-after 0s",
            "smartcheck run --target t.yaml --slow-after soon",
            "smartcheck history",
            "smartcheck history h.sqlite --runs 0",
            "smartcheck run --target t.yaml --color purple",
            "smartcheck run --target t.yaml a b",
            "smartcheck validate",
            "smartcheck schema report-card",
            "smartcheck frobnicate",
            "smartcheck serve-reference --port 99999",
            "smartcheck demo --target t.yaml",
            "smartcheck run --target t.yaml --webdriver grid:4444",
            "smartcheck run --target t.yaml --webdriver https://grid.example",
            "smartcheck requirements --target t.yaml",
            "smartcheck requirements --json x",
        ];
        for line in bad {
            assert!(
                Cli::try_parse_from(line.split_whitespace()).is_err(),
                "{line} should not parse"
            );
        }
    }

    #[test]
    fn run_options_carry_the_selection() {
        let Command::Run(args) = Cli::try_parse_from(
            "smartcheck run -t t.yaml case --skip x --test-threads 3".split_whitespace(),
        )
        .unwrap()
        .command
        else {
            panic!("not run");
        };
        let options = args.into_options();
        assert_eq!(options.selection.filter.as_deref(), Some("case"));
        assert_eq!(options.selection.skip, vec!["x".to_string()]);
        assert_eq!(options.selection.test_threads, Some(3));
        assert_eq!(options.outputs.report_dir, PathBuf::from("reports"));
    }
}
