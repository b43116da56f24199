//! When a server under test stopped taking part: the first scenario whose
//! health probe went unanswered, the scenario that ran before it, and the
//! findings of the run that may explain it (a target keeping connections the
//! harness closed fills its connection limit).

use crate::outcome::{ScenarioOutcome, Verdict};
use crate::run::exec::PROBE_FAILED;

/// Requirements whose breach leaves a server unable to take new
/// connections: a connection kept after its requestor left, a slot never
/// given back, no limit enforced on the connections that fill it.
const EXPLAIN_A_FULL_TARGET: [&str; 5] =
    ["ALQ-S-38", "ALQ-S-37", "BLQ-S-34", "ALQ-S-36", "BLQ-S-29"];

/// Where the run lost the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped<'a> {
    /// The first scenario whose probe went unanswered.
    pub at: &'a str,
    /// The scenario that ran before it, in report order.
    pub after: Option<&'a str>,
    /// How many scenarios the probe kept from running.
    pub scenarios: usize,
    /// "ALQ-S-38 in ALQ-S-38-requestor-close: ..." for each finding of the
    /// run that may explain it.
    pub explained_by: Vec<String>,
}

impl Stopped<'_> {
    /// One paragraph a vendor reads.
    pub fn line(&self) -> String {
        let after = self
            .after
            .map(|s| format!(" after {s}"))
            .unwrap_or_default();
        let mut line = format!(
            "The target stopped answering the health probe{after}: {} scenario{} from {} on could not run.",
            self.scenarios,
            if self.scenarios == 1 { "" } else { "s" },
            self.at
        );
        if !self.explained_by.is_empty() {
            line.push_str(&format!(
                " What may explain it: {}.",
                self.explained_by.join("; ")
            ));
        }
        line
    }
}

fn probe_failed(s: &ScenarioOutcome) -> bool {
    s.error
        .as_deref()
        .is_some_and(|e| e.starts_with(PROBE_FAILED))
}

/// Where the target of `scenarios` (a run's, in report order) stopped
/// answering, if it did.
pub fn stopped_answering(scenarios: &[ScenarioOutcome]) -> Option<Stopped<'_>> {
    let first = scenarios.iter().position(probe_failed)?;
    let after = scenarios[..first]
        .iter()
        .rev()
        .find(|s| s.verdict != Verdict::NotApplicable)
        .map(|s| s.id.as_str());
    let explained_by = scenarios
        .iter()
        .flat_map(|s| {
            s.findings
                .iter()
                .filter(|f| {
                    matches!(f.verdict, Verdict::Fail | Verdict::Warn)
                        && EXPLAIN_A_FULL_TARGET.contains(&f.requirement.as_str())
                })
                .map(move |f| format!("{} in {}: {}", f.requirement, s.id, f.message))
        })
        .collect();
    Some(Stopped {
        at: &scenarios[first].id,
        after,
        scenarios: scenarios.iter().filter(|s| probe_failed(s)).count(),
        explained_by,
    })
}
