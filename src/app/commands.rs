//! The commands besides `run`: `validate`, `requirements`, `schema`, `demo`, `history`, `merge`,
//! `suites export`, `templates export` and `serve-reference`.

use super::*;

/// `smartcheck validate`: loads each file without touching the network.
pub fn validate(files: &[PathBuf], env: &Environment) -> u8 {
    let mut failed = false;
    for file in files {
        match suite::load_any(file, &|n| env.var(n)) {
            Ok(Loaded::Suite(s)) => {
                let checks: usize = s
                    .cases
                    .iter()
                    .flat_map(|c| &c.steps)
                    .map(|st| st.checks.len())
                    .sum();
                let plural =
                    |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
                println!(
                    "ok: {} (suite `{}`: {}, {})",
                    file.display(),
                    s.suite,
                    plural(s.cases.len(), "case"),
                    plural(checks, "check")
                );
            }
            Ok(Loaded::Target(t)) => println!(
                "ok: {} (target `{}`: {})",
                file.display(),
                t.name,
                t.fhir_base_shown()
            ),
            Err(errors) => {
                print_errors(&errors);
                failed = true;
            }
        }
    }
    if failed {
        exit::USAGE
    } else {
        exit::SUCCESS
    }
}

/// `smartcheck requirements`: the catalogue against the suites, as text or JSON.
pub fn requirements(suites: &[PathBuf], json: bool) -> u8 {
    let loaded = if suites.is_empty() {
        crate::builtin::suites()
    } else {
        load_suites(suites)
    };
    let suites = match loaded {
        Ok(s) => s,
        Err(errors) => {
            print_errors(&errors);
            return exit::USAGE;
        }
    };
    let catalogue = crate::requirements::Catalogue::builtin();
    let proofs: Vec<crate::requirements::coverage::FaultProof> = crate::reference::FAULTS
        .iter()
        .filter(|f| !f.is_variant())
        .map(|f| crate::requirements::coverage::FaultProof {
            fault: f.name,
            caught_by: f.caught_by,
            also_breaks: crate::reference::ALSO_BREAKS
                .iter()
                .find(|(name, _)| *name == f.name)
                .map_or(&[], |(_, ids)| *ids),
        })
        .collect();
    let coverage = crate::requirements::coverage::coverage(catalogue, &suites, &proofs);
    if json {
        match serde_json::to_string_pretty(&coverage) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: cannot serialize the catalogue: {e}");
                return exit::HARNESS;
            }
        }
    } else {
        print!("{}", crate::requirements::coverage::render_text(&coverage));
    }
    exit::SUCCESS
}

/// Which file format `smartcheck schema` prints.
#[derive(Debug, Clone, Copy)]
pub enum SchemaKind {
    Suite,
    Target,
}

/// `smartcheck schema`: the JSON Schema of a file format, for editors.
pub fn schema(kind: SchemaKind) -> u8 {
    let schema = match kind {
        SchemaKind::Suite => schemars::schema_for!(suite::Suite),
        SchemaKind::Target => schemars::schema_for!(suite::target::TargetFile),
    };
    match serde_json::to_string_pretty(&schema) {
        Ok(text) => {
            println!("{text}");
            exit::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot serialize the schema: {e}");
            exit::HARNESS
        }
    }
}

/// `smartcheck demo`: the reference server on a free loopback port, the built-in suites
/// against it, the reports in the report directory.
pub fn demo(options: RunOptions, faults: &[String], env: &Environment) -> u8 {
    // The demo serves the debug endpoints: the reference target takes tokens from them where a
    // suite needs one without a browser.
    let config = match reference_config(faults, true) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let server = match crate::reference::ReferenceServer::start("127.0.0.1", 0, config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start the reference server on 127.0.0.1: {e}");
            return exit::HARNESS;
        }
    };
    println!(
        "smartcheck demo: reference server at {}",
        server.fhir_base()
    );
    let mut env = env.clone();
    env.vars
        .insert(DEMO_BASE_VAR.to_string(), server.fhir_base());
    env.vars
        .insert(DEMO_ORIGIN_VAR.to_string(), server.origin());
    // The reference users' published demo password (fixtures/reference/users.json).
    env.vars
        .entry(DEMO_PASSWORD_VAR.to_string())
        .or_insert_with(|| "demo-password".to_string());
    let code = run(options, &env);
    drop(server);
    code
}

/// `smartcheck history FILE`: what the recorded runs say, per target.
pub fn history(
    file: &std::path::Path,
    runs: usize,
    target: Option<&str>,
    json: bool,
    env: &Environment,
) -> u8 {
    let database = crate::history::is_database_url(&file.to_string_lossy());
    if !database && !file.exists() {
        eprintln!(
            "error: no history at {}: `smartcheck run --history {}` creates it",
            file.display(),
            file.display()
        );
        return exit::USAGE;
    }
    let view = crate::history::History::open(file, env).and_then(|mut h| h.view(runs, target));
    match view {
        Ok(view) if target.is_some() && view.targets.is_empty() => {
            eprintln!(
                "error: no completed run of target `{}` in {}",
                target.unwrap_or_default(),
                crate::history::label(file)
            );
            exit::USAGE
        }
        Ok(view) if json => match serde_json::to_string_pretty(&view) {
            Ok(text) => {
                println!("{text}");
                exit::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot serialize the history: {e}");
                exit::HARNESS
            }
        },
        Ok(view) => {
            print!("{}", view.render());
            exit::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
    }
}

/// `smartcheck merge REPORT...`: the shards' JSON reports as one report.
pub fn merge(
    reports: &[PathBuf],
    outputs: Outputs,
    history: Option<PathBuf>,
    env: &Environment,
) -> u8 {
    // A history file that cannot be used is known before the reports are read.
    let mut opened = match &history {
        Some(path) => match crate::history::History::open(path, env) {
            Ok(h) => Some(h),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        },
        None => None,
    };
    // Each shard's cases go to one spool as they are read: the merge holds one case whole at
    // a time, however many shards and exchanges there are.
    let spool = match report::spool::Spool::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot make the spool file for the cases: {e}");
            return exit::HARNESS;
        }
    };
    let mut loaded = Vec::new();
    for path in reports {
        let file = path.display().to_string();
        let parsed = std::fs::File::open(path)
            .map_err(|e| format!("cannot read {file}: {e}"))
            .and_then(|f| {
                report::RunReport::read_spooled(f, &spool)
                    .map_err(|e| format!("{file} is not a smartcheck JSON report: {e}"))
            });
        match parsed {
            Ok(r) => loaded.push((file, r)),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        }
    }
    let merged = match report::merge::merge(loaded) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let mut paths = match outputs.paths() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    // The shards of a run recorded as the one run they are.
    let mut history_error = false;
    if let Some(history) = &mut opened {
        match record_in_history(history, &merged, None) {
            Some(strips) => paths.strips = Some(strips),
            None => history_error = true,
        }
    }
    let (written, failed) = paths.write(&merged);
    if let Some(kb) = peak_resident_kb() {
        tracing::debug!("peak resident memory: {kb} kB");
    }
    let failed = failed || history_error;
    print!("{}", console::summary(&merged, &written));
    if failed {
        exit::HARNESS
    } else if merged.has_failures() {
        exit::CHECKS_FAILED
    } else {
        exit::SUCCESS
    }
}

/// `smartcheck suites export DIR`: the built-in suites as files.
pub fn export_suites(dir: &std::path::Path, force: bool) -> u8 {
    match crate::builtin::export(dir, force) {
        Ok(written) => {
            for path in &written {
                println!("{}", path.display());
            }
            eprintln!(
                "smartcheck: wrote {} built-in suites to {}; run them with `--suite {}`",
                written.len(),
                dir.display(),
                dir.display()
            );
            exit::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
    }
}

/// `smartcheck templates export DIR`.
pub fn export_templates(dir: &std::path::Path, force: bool) -> u8 {
    match crate::builtin::export_files(dir, force, crate::builtin::TEMPLATES) {
        Ok(written) => {
            for path in &written {
                println!("{}", path.display());
            }
            eprintln!(
                "smartcheck: wrote {} target templates to {}; copy one, set its variables, then `smartcheck validate` it (or start from `smartcheck init FHIR_BASE`)",
                written.len() - 1,
                dir.display()
            );
            exit::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
    }
}

/// `smartcheck serve-reference`: serves until Ctrl-C; the first stdout line is the FHIR base.
pub fn serve_reference(
    host: &str,
    port: u16,
    faults: &[String],
    debug_endpoints: bool,
    latency: std::time::Duration,
) -> u8 {
    let config = match reference_config(faults, debug_endpoints) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let server =
        match crate::reference::ReferenceServer::start_with_latency(host, port, config, latency) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot listen on {host}:{port}: {e}");
                return exit::USAGE;
            }
        };
    println!("{}", server.fhir_base());
    let _ = std::io::stdout().flush();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::HARNESS;
        }
    };
    let _ = runtime.block_on(tokio::signal::ctrl_c());
    drop(server);
    exit::SUCCESS
}

/// The reference server's configuration with these fault switches; a usage error names an
/// unknown one.
fn reference_config(
    faults: &[String],
    debug_endpoints: bool,
) -> Result<crate::reference::Config, u8> {
    let faults = crate::reference::Faults::parse(faults).map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })?;
    Ok(crate::reference::Config {
        faults,
        debug_endpoints,
        ..Default::default()
    })
}
