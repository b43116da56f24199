//! Writing report files: each goes to a temporary file first and is renamed
//! into place, so a reader never sees half a report.

use super::{html, junit, RunReport};
use crate::outcome::{ScenarioOutcome, Verdict};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot encode {what}: {reason}")]
    Encode { what: &'static str, reason: String },
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let io = |error| ReportError::Io {
        path: path.to_path_buf(),
        error,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The report directory (pcaps go to its `pcap/`) and the wall-clock time the
/// run started (the pcaps' time base).
#[derive(Debug, Clone)]
pub struct PcapSink {
    pub dir: PathBuf,
    pub started: std::time::SystemTime,
}

impl PcapSink {
    /// Writes the outcome's pcap and the launched implementation's output
    /// (`iut/<scenario>.log`), and drops them.
    pub fn take(&self, outcome: &mut ScenarioOutcome) {
        if let Some(output) = outcome.iut_output.take() {
            let path = self.dir.join(super::iut_log_name(&outcome.id));
            if let Err(e) = write_atomic(&path, output.as_bytes()) {
                outcome
                    .error
                    .get_or_insert(format!("requestor log not written: {e}"));
                outcome.verdict = Verdict::Error;
            }
        }
        if outcome.connections.is_empty() {
            return;
        }
        let base = self
            .started
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let path = self.dir.join(super::pcap_name(&outcome.id));
        let written = crate::capture::pcap::render(&outcome.connections, base)
            .map_err(|e| e.to_string())
            .and_then(|bytes| write_atomic(&path, &bytes).map_err(|e| e.to_string()));
        outcome.connections = Vec::new();
        if let Err(e) = written {
            outcome
                .error
                .get_or_insert(format!("pcap not written: {e}"));
            outcome.verdict = Verdict::Error;
        }
    }
}

/// Writes `report.json`, `junit.xml` and `index.html` into `dir` (the pcaps
/// are written as each scenario ends, by [`PcapSink`]).
pub fn write_documents(dir: &Path, report: &RunReport) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = Vec::new();
    let json = report.to_json().map_err(|e| ReportError::Encode {
        what: "report.json",
        reason: e.to_string(),
    })?;
    let junit = junit::render(report).map_err(|reason| ReportError::Encode {
        what: "junit.xml",
        reason,
    })?;
    let html = html::render(report).map_err(|reason| ReportError::Encode {
        what: "index.html",
        reason,
    })?;
    for (name, bytes) in [
        ("report.json", json),
        ("junit.xml", junit.into_bytes()),
        ("index.html", html.into_bytes()),
    ] {
        let path = dir.join(name);
        write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}
