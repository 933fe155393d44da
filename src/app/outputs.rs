//! Where a run's reports go: the report folder and each report's path, checked before the run (two
//! reports on one path, a path that is no file).

use super::*;

/// Where the run's JUnit, JSON and HTML reports go, and the history the HTML shows.
#[derive(Clone)]
pub(super) struct ReportPaths {
    pub(super) junit: PathBuf,
    pub(super) json: PathBuf,
    pub(super) html: PathBuf,
    pub(super) metrics: Option<PathBuf>,
    pub(super) summary: Option<PathBuf>,
    pub(super) strips: Option<Arc<report::html::Strips>>,
}

/// Where the reports of `run`, `demo` and `merge` go: the report folder, and each report's own
/// path when given.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub report_dir: PathBuf,
    pub junit: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub metrics: Option<PathBuf>,
    pub summary: Option<PathBuf>,
}

impl Outputs {
    /// Each report's file: the one given, else its name in the report folder; two reports on
    /// one file are refused.
    pub(super) fn paths(&self) -> Result<ReportPaths, String> {
        let dir = &self.report_dir;
        let paths = ReportPaths {
            junit: self.junit.clone().unwrap_or_else(|| dir.join("junit.xml")),
            json: self
                .json
                .clone()
                .unwrap_or_else(|| dir.join("results.json")),
            html: self.html.clone().unwrap_or_else(|| dir.join("report.html")),
            metrics: self.metrics.clone(),
            summary: self.summary.clone(),
            strips: None,
        };
        paths.distinct()?;
        Ok(paths)
    }
}

impl ReportPaths {
    /// The reports by their flags.
    fn named(&self) -> Vec<(&'static str, &PathBuf)> {
        let mut named = vec![
            ("--junit", &self.junit),
            ("--json", &self.json),
            ("--html", &self.html),
        ];
        if let Some(metrics) = &self.metrics {
            named.push(("--metrics", metrics));
        }
        if let Some(summary) = &self.summary {
            named.push(("--summary", summary));
        }
        named
    }

    /// Refuses two reports on one file: the second would silently replace the first. A
    /// device or a FIFO (`/dev/null`, `/dev/stdout`, a pipe) may take several.
    fn distinct(&self) -> Result<(), String> {
        use std::os::unix::fs::FileTypeExt;
        let named = self.named();
        let shared = |path: &Path| {
            std::fs::metadata(path).is_ok_and(|m| {
                let kind = m.file_type();
                kind.is_char_device() || kind.is_fifo()
            })
        };
        for (i, (flag, path)) in named.iter().enumerate() {
            for (other_flag, other) in &named[i + 1..] {
                if file_key(path) == file_key(other) && !shared(path) {
                    return Err(format!(
                        "the {} and {} reports would both be written to {}; give each its own path",
                        &flag[2..],
                        &other_flag[2..],
                        path.display()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Writes every report; returns the paths written and whether one could not be. The
    /// reports are written at once, each on its own thread, unless two go to one device or
    /// FIFO (their lines would mix): then one after another.
    pub(super) fn write(&self, report: &report::RunReport) -> (Vec<String>, bool) {
        let mut written = Vec::new();
        let mut failed = false;
        let strips = self.strips.as_deref();
        type Writer<'a> = Box<dyn Fn() -> Result<(), report::ReportError> + Sync + 'a>;
        let mut writers: Vec<(&PathBuf, Writer<'_>)> = vec![
            (
                &self.junit,
                Box::new(|| report::junit::write(report, &self.junit)),
            ),
            (
                &self.json,
                Box::new(|| report::json::write(report, &self.json)),
            ),
            (
                &self.html,
                Box::new(move || report::html::write(report, strips, &self.html)),
            ),
        ];
        if let Some(metrics) = &self.metrics {
            writers.push((
                metrics,
                Box::new(move || report::metrics::write(report, metrics)),
            ));
        }
        let keys: std::collections::HashSet<PathBuf> =
            writers.iter().map(|(path, _)| file_key(path)).collect();
        let results: Vec<_> = if keys.len() < writers.len() {
            writers
                .iter()
                .map(|(path, write)| (*path, write()))
                .collect()
        } else {
            std::thread::scope(|scope| {
                let running: Vec<_> = writers
                    .iter()
                    .map(|(path, write)| (*path, scope.spawn(write)))
                    .collect();
                running
                    .into_iter()
                    .map(|(path, thread)| {
                        let result = thread
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                        (path, result)
                    })
                    .collect()
            })
        };
        for (path, result) in results {
            match result {
                Ok(()) => written.push(path.display().to_string()),
                Err(e) => {
                    eprintln!("error: {e}");
                    failed = true;
                }
            }
        }
        // Last: it names the reports written.
        if let Some(summary) = &self.summary {
            match report::summary::write(report, &written, summary) {
                Ok(()) => written.push(summary.display().to_string()),
                Err(e) => {
                    eprintln!("error: {e}");
                    failed = true;
                }
            }
        }
        (written, failed)
    }
}

/// A path as one file: absolute, its folder's links resolved (the file itself may not be
/// there yet).
fn file_key(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .unwrap_or_else(|_| dir.to_path_buf())
            .join(name),
        _ => absolute,
    }
}
