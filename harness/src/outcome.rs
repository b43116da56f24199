//! What a run concludes: verdicts per requirement (architecture.md
//! "Verdicts"), the findings that carry them, the transcript, and each
//! scenario's outcome. Everything here is plain data for the report layer.

use crate::capture::pcap::ConnectionTap;
use crate::catalog::{requirement, Strength};
use crate::scenario::model::{LevelOverride, Need, Role};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    /// Behaviour recorded where the RFC leaves a choice.
    Info,
    /// The target profile says the feature is absent.
    NotApplicable,
    /// The scenario ran, but nothing in it judged the requirement: the
    /// situation it tests never came about, or the scenario stopped first.
    Inconclusive,
    /// A SHOULD or lower-case obligation not followed.
    Warn,
    /// A MUST broken.
    Fail,
    /// The harness or the target setup failed, not the implementation.
    Error,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Info => "info",
            Verdict::NotApplicable => "not-applicable",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }
}

/// One judged check, citing its requirement and the transcript entry that
/// decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub requirement: String,
    pub verdict: Verdict,
    pub message: String,
    /// Index into the scenario's transcript.
    pub frame: Option<usize>,
    /// What the step that made the finding awaited, in the scenario's own
    /// words, and where it stands ("file:line"); none for a check made on
    /// every message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaited: Option<String>,
    /// The reason the target's expectations file gives for accepting this
    /// finding as a known deviation (its verdict is then `info`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviation: Option<String>,
}

impl Finding {
    /// What came, and what the step awaited where a step made the finding:
    /// the one line a report shows for it.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match &self.awaited {
            Some(awaited) => format!("{}; awaited {awaited}", self.message).into(),
            None => self.message.as_str().into(),
        }
    }
}

/// What a finding kept for a check that broke alike more times on one
/// connection says of the rest.
pub fn more_like_it(more: usize, conn: &str) -> String {
    format!("{MORE_LIKE_IT_START}{more}{MORE_LIKE_IT_MIDDLE}{conn}')")
}

const MORE_LIKE_IT_START: &str = " (and ";
const MORE_LIKE_IT_MIDDLE: &str = " more like it on '";

/// `message` with every run of digits (and the hex digits after `0x`) as
/// `#`: what findings of one cause share.
pub fn pattern(message: &str) -> String {
    // How many more alike a connection made is no part of the cause.
    let message = match message.rfind(MORE_LIKE_IT_START) {
        Some(at) if message[at..].contains(MORE_LIKE_IT_MIDDLE) => &message[..at],
        _ => message,
    };
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let hex = c == '0' && chars.peek() == Some(&'x');
            if hex {
                chars.next();
            }
            while chars
                .peek()
                .is_some_and(|n| n.is_ascii_digit() || (hex && n.is_ascii_hexdigit()) || *n == '.')
            {
                chars.next();
            }
            out.push('#');
        } else {
            out.push(c);
        }
    }
    out
}

/// The verdict a broken check earns.
pub fn broken(requirement_id: &str, level: Option<LevelOverride>, strict: bool) -> Verdict {
    let strength = match level {
        Some(LevelOverride::Must) => Strength::Must,
        Some(LevelOverride::Should) => Strength::Should,
        Some(LevelOverride::Info) => Strength::May,
        None => requirement(requirement_id).map_or(Strength::Must, |r| r.strength()),
    };
    match strength {
        Strength::Must => Verdict::Fail,
        Strength::Should if strict => Verdict::Fail,
        Strength::Should => Verdict::Warn,
        Strength::May => Verdict::Info,
    }
}

/// "RFC 7724 §8.2 MUST" for a requirement, for messages and reports.
pub fn citation(requirement_id: &str) -> String {
    match requirement(requirement_id) {
        Some(r) => format!("{} {}", r.rfc_section(), r.level),
        None => "not in catalog".to_string(),
    }
}

/// Who did what, when, on which connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Milliseconds since the scenario started (virtual on the paused clock).
    pub at_ms: u64,
    /// The capture records made before this entry are numbered below this:
    /// where in the pcap the entry's message or close is.
    #[serde(skip)]
    pub tap_seq: u64,
    pub conn: String,
    pub dir: Direction,
    pub text: String,
}

/// Which way a transcript entry went: the harness sent, received, or noted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Send,
    Recv,
    Note,
}

impl Direction {
    pub fn label(self) -> &'static str {
        match self {
            Direction::Send => "send",
            Direction::Recv => "recv",
            Direction::Note => "note",
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioOutcome {
    pub id: String,
    pub title: String,
    pub path: PathBuf,
    pub role: Role,
    pub covers: Vec<String>,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    pub transcript: Vec<Entry>,
    /// Harness time the scenario took (virtual on the paused clock).
    pub elapsed_ms: u64,
    /// Wall-clock time the scenario took, whatever clock it ran on.
    #[serde(default)]
    pub wall_ms: u64,
    /// Its capture, relative to the report folder, once written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcap: Option<String>,
    /// What the launched implementation wrote, relative to the report
    /// folder, once written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iut_log: Option<String>,
    /// The capture holds DHCP carried inside TLS, with the secrets to read it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
    /// Why the harness could not finish the scenario.
    pub error: Option<String>,
    /// Needs the target does not offer.
    pub missing: Vec<Need>,
    /// The run was interrupted while this scenario ran: what it covers and
    /// had not judged yet is inconclusive.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Why the scenario was run a second time (its first run stood on a
    /// connection the target closed before answering); this is the second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried: Option<String>,
    /// A connection the target closed before it sent anything on it.
    #[serde(skip)]
    pub turned_away: Option<String>,
    /// What went over each connection, for the pcap.
    #[serde(skip)]
    pub connections: Vec<ConnectionTap>,
    /// What a launched implementation wrote on stdout and stderr, for its log.
    #[serde(skip)]
    pub iut_output: Option<String>,
    /// The harness's TLS session secrets (NSS key log lines), for the capture.
    #[serde(skip)]
    pub tls_secrets: Vec<String>,
    /// Each step's keyword, for the capture's frame comments.
    #[serde(skip)]
    pub steps: Vec<&'static str>,
}

impl ScenarioOutcome {
    /// An outcome of scenario `id` with its verdict and nothing else yet.
    pub fn bare(id: &str, role: Role, verdict: Verdict) -> Self {
        ScenarioOutcome {
            id: id.to_string(),
            title: String::new(),
            path: PathBuf::new(),
            role,
            covers: Vec::new(),
            verdict,
            findings: Vec::new(),
            transcript: Vec::new(),
            elapsed_ms: 0,
            wall_ms: 0,
            pcap: None,
            iut_log: None,
            tls: false,
            error: None,
            missing: Vec::new(),
            interrupted: false,
            retried: None,
            turned_away: None,
            connections: Vec::new(),
            iut_output: None,
            tls_secrets: Vec::new(),
            steps: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grading_follows_level_and_strictness() {
        assert_eq!(broken("ALQ-S-26", None, false), Verdict::Fail);
        assert_eq!(broken("ALQ-S-19", None, false), Verdict::Warn);
        assert_eq!(broken("ALQ-S-19", None, true), Verdict::Fail);
        assert_eq!(
            broken("ALQ-S-26", Some(LevelOverride::Should), false),
            Verdict::Warn
        );
        assert_eq!(
            broken("ALQ-S-26", Some(LevelOverride::Info), true),
            Verdict::Info
        );
        assert!(Verdict::Error > Verdict::Fail && Verdict::Fail > Verdict::Warn);
        assert_eq!(citation("ALQ-S-16"), "RFC 7724 §8.1.1 MUST");
    }
}

#[cfg(test)]
mod pattern_tests {
    use super::pattern;

    #[test]
    fn numbers_addresses_and_xids_do_not_tell_findings_apart() {
        assert_eq!(
            pattern("xid 0x8000002a is the xid of no request sent on 192.0.2.10"),
            pattern("xid 0x80000051 is the xid of no request sent on 192.0.2.11")
        );
        assert_eq!(pattern("nothing more within 5s"), "nothing more within #s");
        assert_eq!(
            pattern(&format!(
                "xid 0x1 is wrong{}",
                super::more_like_it(39, "bulk")
            )),
            pattern("xid 0x2 is wrong")
        );
        assert_ne!(
            pattern("expected status CatchUpComplete, got no status"),
            pattern("expected status DataMissing, got no status")
        );
    }
}
