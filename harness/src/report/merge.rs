//! Merging the reports of a sharded run (`run --shard K/N`) into one.

use super::{RunReport, Shard};
use crate::outcome::ScenarioOutcome;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{}: not a sharded run's report (run with --shard K/N)", path.display())]
    NotSharded { path: PathBuf },
    #[error("{} is shard {index} of {count}, {} of {first_count}", path.display(), first.display())]
    CountMismatch {
        path: PathBuf,
        index: usize,
        count: usize,
        first: PathBuf,
        first_count: usize,
    },
    #[error("{} and {} are both shard {index}", first.display(), second.display())]
    DuplicateShard {
        index: usize,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("shard {missing} of {count} is missing")]
    MissingShard { missing: usize, count: usize },
    #[error("{} ran against {got}, {} against {want}", path.display(), first.display())]
    TargetMismatch {
        path: PathBuf,
        got: String,
        first: PathBuf,
        want: String,
    },
    #[error("{} ran with --strict {got}, {} with {want}", path.display(), first.display())]
    StrictMismatch {
        path: PathBuf,
        got: bool,
        first: PathBuf,
        want: bool,
    },
    #[error("scenario {id} is in two shards ({} and {})", first.display(), second.display())]
    DuplicateScenario {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("no report to merge")]
    Empty,
}

/// One report of the whole run from every shard's report: each shard exactly
/// once, the same target and strictness, scenarios in file order, counts and
/// requirement rows recomputed, the run as long as its longest shard.
pub fn merge(reports: Vec<(PathBuf, RunReport)>) -> Result<RunReport, MergeError> {
    let (first_path, first) = reports.first().ok_or(MergeError::Empty)?;
    let count = first
        .shard
        .ok_or_else(|| MergeError::NotSharded {
            path: first_path.clone(),
        })?
        .count;
    let mut seen: Vec<Option<PathBuf>> = vec![None; count];
    let mut outcomes: Vec<(PathBuf, ScenarioOutcome)> = Vec::new();
    let mut started: Option<SystemTime> = None;
    let mut longest = Duration::ZERO;
    let mut interrupted = false;
    let mut peak_rss_kb: Option<u64> = None;
    for (path, report) in &reports {
        let Some(Shard { index, count: n }) = report.shard else {
            return Err(MergeError::NotSharded { path: path.clone() });
        };
        if n != count {
            return Err(MergeError::CountMismatch {
                path: path.clone(),
                index,
                count: n,
                first: first_path.clone(),
                first_count: count,
            });
        }
        if let Some(Some(other)) = seen.get(index - 1) {
            return Err(MergeError::DuplicateShard {
                index,
                first: other.clone(),
                second: path.clone(),
            });
        }
        if let Some(slot) = seen.get_mut(index - 1) {
            *slot = Some(path.clone());
        }
        if report.target != first.target {
            return Err(MergeError::TargetMismatch {
                path: path.clone(),
                got: report.target.clone(),
                first: first_path.clone(),
                want: first.target.clone(),
            });
        }
        if report.strict != first.strict {
            return Err(MergeError::StrictMismatch {
                path: path.clone(),
                got: report.strict,
                first: first_path.clone(),
                want: first.strict,
            });
        }
        for s in &report.scenarios {
            if let Some((other, _)) = outcomes.iter().find(|(_, o)| o.id == s.id) {
                return Err(MergeError::DuplicateScenario {
                    id: s.id.clone(),
                    first: other.clone(),
                    second: path.clone(),
                });
            }
            outcomes.push((path.clone(), s.clone()));
        }
        if let Ok(t) = humantime::parse_rfc3339(&report.started) {
            started = Some(started.map_or(t, |s| s.min(t)));
        }
        longest = longest.max(Duration::from_millis(report.duration_ms));
        interrupted |= report.interrupted;
        peak_rss_kb = peak_rss_kb.max(report.peak_rss_kb);
    }
    if let Some(missing) = seen.iter().position(Option::is_none) {
        return Err(MergeError::MissingShard {
            missing: missing + 1,
            count,
        });
    }
    outcomes.sort_by(|(_, a), (_, b)| (&a.path, &a.id).cmp(&(&b.path, &b.id)));
    let merged = RunReport::new(
        &first.target,
        &first.target_kind,
        started.unwrap_or(SystemTime::UNIX_EPOCH),
        longest,
        first.strict,
        interrupted,
        outcomes.into_iter().map(|(_, o)| o).collect(),
    );
    // What each shard declared is the same; what it accepted and left out
    // adds up over the merged scenarios.
    let tested = first.tested.clone().map(|t| t.counted(&merged.scenarios));
    Ok(RunReport {
        address: first.address.clone(),
        transport: first.transport.clone(),
        coverage: first.coverage.clone(),
        peak_rss_kb,
        tested,
        ..merged
    })
}
