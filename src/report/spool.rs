//! Finished cases on disk. A run of a thousand targets holds hundreds of megabytes of
//! exchanges; each case is written here as it ends and kept in memory light (its exchanges
//! without headers and bodies, its step results without their findings), and the reports read
//! each one back, whole, when they write it.
//!
//! The file has no name (it is unlinked as it is made: nothing is left behind, also when the
//! process is killed) and is readable by this user only. Cases are written as they finished,
//! before masking: the writers mask what they read back, with every secret the run learned.

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
        let place = {
            let mut end = self.end.lock().unwrap_or_else(|e| e.into_inner());
            // Serialized straight into the file: a case with large answers is not first
            // made one large string.
            let mut out = std::io::BufWriter::new(Appender {
                file: &self.file,
                at: *end,
            });
            serde_json::to_writer(&mut out, &*case).map_err(std::io::Error::other)?;
            let written = out.into_inner().map_err(|e| e.into_error())?;
            let place = Place {
                offset: *end,
                len: (written.at - *end) as usize,
            };
            *end = written.at;
            place
        };
        case.lighten();
        case.detail = Some(Detail {
            spool: self.clone(),
            place,
            redactor: None,
        });
        Ok(())
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
    /// The same detail, masked with `redactor` when it is read back.
    pub fn masked_by(&self, redactor: &Redactor) -> Detail {
        Detail {
            redactor: Some(redactor.clone()),
            ..self.clone()
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
