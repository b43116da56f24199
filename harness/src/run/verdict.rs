//! Verdicts per requirement (architecture.md "Verdicts") and how broken checks
//! are graded from the catalog level.

use crate::catalog::{requirement, Strength};
use crate::scenario::model::LevelOverride;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    /// Behaviour recorded where the RFC leaves a choice.
    Info,
    /// The target profile says the feature is absent.
    NotApplicable,
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
