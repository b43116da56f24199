//! Writing a report folder as a set: every file of a run goes into a fresh
//! folder beside the old one, created exclusively, and the finished folder
//! replaces the old in one rename. A reader sees the old set or the new one,
//! never a mix, and no file of an earlier run survives into a new report.

use super::{html, junit, RunReport};
use crate::outcome::{ScenarioOutcome, Verdict};
use std::io::Write;
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

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |error| ReportError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// A report folder being written: files go into a staging folder beside
/// `target`, which [`StagedDir::commit`] puts in its place. Dropped without
/// a commit, the staging folder is removed and `target` is left as it was.
#[derive(Debug)]
pub struct StagedDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Creates the staging folder for `target` (and `target`'s parents):
    /// what cannot be written fails here, before anything runs.
    pub fn create(target: &Path) -> Result<Self, ReportError> {
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let staging = parent.join(format!(".{name}.partial-{}-{stamp}", std::process::id()));
        // create_dir fails on anything already there, a link included.
        std::fs::create_dir(&staging).map_err(io_error(&staging))?;
        Ok(StagedDir {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// Where the files go until the commit.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Where the report will be.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Puts the staging folder in the target's place and removes the old
    /// report folder.
    pub fn commit(mut self) -> Result<PathBuf, ReportError> {
        let io = io_error(&self.target);
        let replaced = match std::fs::symlink_metadata(&self.target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::rename(&self.staging, &self.target).map_err(io)?;
                None
            }
            Err(e) => return Err(io(e)),
            Ok(_) => Some(exchange(&self.staging, &self.target).map_err(io)?),
        };
        self.committed = true;
        if let Some(old) = replaced {
            // The old report, now at the staging name (or aside).
            let _ = std::fs::remove_dir_all(&old);
        }
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// Swaps `new` and `old` in one rename where the file system can
/// (RENAME_EXCHANGE); else moves `old` aside first. Returns where the old
/// folder now is.
fn exchange(new: &Path, old: &Path) -> std::io::Result<PathBuf> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, new, CWD, old, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(new.to_path_buf()),
        Err(e)
            if e == rustix::io::Errno::INVAL
                || e == rustix::io::Errno::NOSYS
                || e == rustix::io::Errno::OPNOTSUPP =>
        {
            let aside = PathBuf::from(format!("{}.old", new.display()));
            std::fs::rename(old, &aside)?;
            std::fs::rename(new, old)?;
            Ok(aside)
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes `bytes` to the new file `path` in a staging folder, and flushes it
/// to disk: an existing file or link there is an error, never followed.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    write_new_with(path, |file| file.write_all(bytes))
}

/// As [`write_new`], with `write` writing the content straight into the
/// (buffered) file, so that it never has to be held whole in memory.
pub fn write_new_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<(), ReportError> {
    let io = io_error(path);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_error(path))?;
    let mut out = std::io::BufWriter::new(file);
    write(&mut out).map_err(io_error(path))?;
    let file = out
        .into_inner()
        .map_err(|e| io_error(path)(e.into_error()))?;
    file.sync_all().map_err(io)
}

/// Each finding that cites a transcript entry, placed on the capture record
/// that entry describes: (connection index, record sequence number, text).
fn findings_on_frames(outcome: &ScenarioOutcome) -> Vec<(usize, u64, String)> {
    use crate::outcome::Direction;
    let mut placed = Vec::new();
    for f in &outcome.findings {
        let Some(entry) = f.frame.and_then(|i| outcome.transcript.get(i)) else {
            continue;
        };
        // A name a later connection took again means the latest one opened
        // by the time of the entry.
        let Some((index, conn)) = outcome
            .connections
            .iter()
            .enumerate()
            .rfind(|(_, c)| c.name == entry.conn && c.opened_seq < entry.tap_seq)
        else {
            continue;
        };
        let from_peer = match entry.dir {
            Direction::Recv => Some(true),
            Direction::Send => Some(false),
            Direction::Note => None,
        };
        if let Some(seq) = crate::capture::pcap::record_before(conn, from_peer, entry.tap_seq) {
            placed.push((
                index,
                seq,
                format!("{} {}: {}", f.verdict.label(), f.requirement, f.message),
            ));
        }
    }
    placed
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
            let written = super::iut_log_name(&outcome.id)
                .map_err(|e| format!("scenario id {e}"))
                .and_then(|name| {
                    write_new(&self.dir.join(&name), output.as_bytes())
                        .map(|()| name)
                        .map_err(|e| e.to_string())
                });
            outcome.iut_log = kept(outcome, written, "requestor log");
        }
        if outcome.connections.is_empty() {
            return;
        }
        let base = self
            .started
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let notes = crate::capture::pcap::Notes {
            steps: &outcome.steps,
            findings: findings_on_frames(outcome),
            tls_secrets: &outcome.tls_secrets,
        };
        let written = super::pcap_name(&outcome.id)
            .map_err(|e| format!("scenario id {e}"))
            .and_then(|name| {
                write_new_with(&self.dir.join(&name), |file| {
                    crate::capture::pcap::render_into(file, &outcome.connections, base, &notes)
                        .map(drop)
                        .map_err(std::io::Error::other)
                })
                .map_err(|e| e.to_string())?;
                if !outcome.tls_secrets.is_empty() {
                    if let Some(keys) = super::keylog_name(&name) {
                        let mut log = outcome.tls_secrets.join("\n");
                        log.push('\n');
                        write_new(&self.dir.join(keys), log.as_bytes())
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(name)
            });
        outcome.tls = outcome.connections.iter().any(|c| c.tls);
        outcome.connections = Vec::new();
        outcome.pcap = kept(outcome, written, "pcap");
    }
}

/// The name a file of `outcome`'s was written under; where it was not, the
/// outcome is an error saying `what` was not written, and why.
fn kept(
    outcome: &mut ScenarioOutcome,
    written: Result<String, String>,
    what: &str,
) -> Option<String> {
    match written {
        Ok(name) => Some(name),
        Err(e) => {
            outcome
                .error
                .get_or_insert(format!("{what} not written: {e}"));
            outcome.verdict = Verdict::Error;
            None
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
        write_new(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}
