//! Finished cases on disk. A run of a thousand targets holds hundreds of megabytes of
//! exchanges; each case is written here as it ends and kept in memory light (its exchanges
//! without headers and bodies, its step results without their findings), and the reports read
//! each one back, whole, when they write it.
//!
//! The file has no name (it is unlinked as it is made: nothing is left behind, also when the
//! process is killed) and is readable by this user only. Cases are written as they finished,
//! before masking. When the run's report is masked, with every secret the run learned, each
//! case is read back once, masked, and written again masked: the writers read that copy.

use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use super::model::CaseReport;
use crate::redact::Redactor;

/// An append-only file of cases, each one compact JSON.
pub struct Spool {
    file: std::fs::File,
    end: Mutex<u64>,
}

/// Where one case lies in the spool.
#[derive(Debug, Clone, Copy)]
struct Place {
    offset: u64,
    len: usize,
}

/// A light case's way back to its whole self, and the redactor its writers mask it with.
#[derive(Clone)]
pub struct Detail {
    spool: Arc<Spool>,
    place: Place,
    redactor: Option<Redactor>,
}

impl std::fmt::Debug for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Detail(spooled at {} +{}{})",
            self.place.offset,
            self.place.len,
            if self.redactor.is_some() {
                ", masked when read"
            } else {
                ""
            }
        )
    }
}

/// Writes at `at` and on.
struct Appender<'f> {
    file: &'f std::fs::File,
    at: u64,
}

impl std::io::Write for Appender<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.file.write_all_at(bytes, self.at)?;
        self.at += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Spool {
    /// A new spool in the system's temporary folder.
    pub fn new() -> std::io::Result<Arc<Spool>> {
        Ok(Arc::new(Spool {
            file: tempfile::tempfile()?,
            end: Mutex::new(0),
        }))
    }

    /// Writes `case` whole and makes it light, with the way back to what it lost.
    pub fn keep(self: &Arc<Self>, case: &mut CaseReport) -> std::io::Result<()> {
        let place = self.append(case)?;
        case.lighten();
        case.detail = Some(Detail {
            spool: self.clone(),
            place,
            redactor: None,
        });
        Ok(())
    }

    /// Writes `case` whole at the end of the file; where it lies.
    fn append(&self, case: &CaseReport) -> std::io::Result<Place> {
        let mut end = self.end.lock().unwrap_or_else(|e| e.into_inner());
        // Serialized straight into the file: a case with large answers is not first made one
        // large string.
        let mut out = std::io::BufWriter::new(Appender {
            file: &self.file,
            at: *end,
        });
        serde_json::to_writer(&mut out, case).map_err(std::io::Error::other)?;
        let written = out.into_inner().map_err(|e| e.into_error())?;
        let place = Place {
            offset: *end,
            len: (written.at - *end) as usize,
        };
        *end = written.at;
        Ok(place)
    }

    fn read(&self, place: Place) -> std::io::Result<CaseReport> {
        let mut bytes = vec![0; place.len];
        self.file.read_exact_at(&mut bytes, place.offset)?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        *self.end.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Detail {
    /// The same detail, masked with `redactor` once, now: the whole case is read back,
    /// masked and written again, and the copy returned points at the masked case, which its
    /// readers (every report writer) take as it is. Should the spool fail, the detail is
    /// masked each time it is read instead (and the read says what failed).
    pub fn masked_by(&self, redactor: &Redactor) -> Detail {
        let masked = self.spool.read(self.place).and_then(|mut case| {
            case.redact_in_place(redactor);
            self.spool.append(&case)
        });
        match masked {
            Ok(place) => Detail {
                spool: self.spool.clone(),
                place,
                redactor: None,
            },
            Err(_) => Detail {
                redactor: Some(redactor.clone()),
                ..self.clone()
            },
        }
    }

    /// The whole case, masked if the report it belongs to was.
    pub fn read(&self) -> Result<CaseReport, String> {
        let mut case = self
            .spool
            .read(self.place)
            .map_err(|e| format!("cannot read a finished case back from the spool file: {e}"))?;
        if let Some(redactor) = &self.redactor {
            case.redact_in_place(redactor);
        }
        Ok(case)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::RunReport;

    /// A token the server hands out in one case's answer, which the run learns only later.
    const TOKEN: &str = "tok-0123456789abcdefghijklmnop";

    /// A run report of `n` cases, each with one answer that holds [`TOKEN`], read as `merge`
    /// reads one: each case spooled and made light as it is parsed.
    fn spooled_report(n: usize, spool: &Arc<Spool>) -> RunReport {
        let location = serde_json::json!({ "file": "suites/s.yaml", "line": 1, "column": 1 });
        let cases: Vec<_> = (0..n)
            .map(|i| {
                serde_json::json!({
                    "name": format!("t::s::c{i}"), "target": "t", "suite": "s",
                    "suite_title": "S", "case": format!("c{i}"), "title": "C",
                    "spec": { "name": "SMART App Launch", "version": "2.2.0",
                              "url": "https://hl7.org/fhir/smart-app-launch/" },
                    "location": location, "outcome": "passed",
                    "started_at": "2026-12-06T09:00:00.000Z", "duration_ms": 1,
                    "steps": [{
                        "id": "token", "state": "ran", "location": location, "duration_ms": 1,
                        "exchange": {
                            "request": { "method": "POST", "url": "http://127.0.0.1:1/token",
                                         "headers": [] },
                            "response": { "status": 200,
                                          "headers": [["content-type", "text/plain"]],
                                          "body": format!("issued {TOKEN} to case {i}"),
                                          "body_bytes": 40 },
                            "started_at": "2026-12-06T09:00:00.000Z", "duration_ms": 1
                        },
                        "checks": []
                    }]
                })
            })
            .collect();
        let report = serde_json::json!({
            "format": "smartcheck-results", "version": 1, "smartcheck_version": "0",
            "started_at": "2026-12-06T09:00:00.000Z", "finished_at": "2026-12-06T09:00:01.000Z",
            "duration_ms": 1000, "interrupted": false, "strict": false, "targets": [],
            "summary": RunReport::summarize(&[]), "cases": cases
        });
        RunReport::read_spooled(report.to_string().as_bytes(), spool).unwrap()
    }

    fn bodies(case: &CaseReport) -> Vec<String> {
        let whole = case.full().unwrap();
        whole
            .steps
            .iter()
            .filter_map(|s| s.exchange.as_ref()?.response.as_ref())
            .map(|r| r.body.clone())
            .collect()
    }

    #[test]
    fn each_case_is_masked_once_whoever_reads_it_after() {
        let spool = Spool::new().unwrap();
        let report = spooled_report(8, &spool);
        assert!(report.cases.iter().all(|c| c.detail.is_some()));
        // Spooled before the token was known: as the server sent it.
        assert!(bodies(&report.cases[0])[0].contains(TOKEN));
        let redactor = Redactor::new();
        redactor.register_str(TOKEN);
        let report = report.redacted(&redactor);
        let after_masking = redactor.work().masked_bytes;
        assert!(after_masking > 0);
        // Every reader, any number of times, gets the case masked, and nothing is masked
        // again: the writers read the masked copy.
        for _ in 0..3 {
            for (i, case) in report.cases.iter().enumerate() {
                let body = &bodies(case)[0];
                assert!(!body.contains(TOKEN), "{body}");
                assert_eq!(body, &format!("issued {} to case {i}", crate::redact::MASK));
            }
        }
        assert_eq!(redactor.work().masked_bytes, after_masking);
        let dir = tempfile::tempdir().unwrap();
        crate::report::json::write(&report, &dir.path().join("results.json")).unwrap();
        crate::report::junit::write(&report, &dir.path().join("junit.xml")).unwrap();
        assert_eq!(redactor.work().masked_bytes, after_masking);
        let json = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
        assert_eq!(json.matches(crate::redact::MASK).count(), 8, "{json}");
        assert!(!json.contains(TOKEN));
    }

    #[test]
    fn a_case_the_spool_cannot_give_back_says_so_when_read() {
        let spool = Spool::new().unwrap();
        let mut report = spooled_report(1, &spool);
        let detail = report.cases[0].detail.as_mut().unwrap();
        // A place past the end of the file: the read fails, and masking it cannot help.
        detail.place.offset = spool.len() + 1000;
        let redactor = Redactor::new();
        redactor.register_str(TOKEN);
        let report = report.redacted(&redactor);
        let error = report.cases[0].full().map(|_| ()).unwrap_err();
        assert!(
            error.starts_with("cannot read a finished case back from the spool file"),
            "{error}"
        );
    }
}
