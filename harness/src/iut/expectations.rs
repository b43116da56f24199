//! Known deviations of a target (`<profile>.expect.toml`): each names a
//! scenario, a requirement, the verdict the target earns today and why. An
//! expected verdict is reported as info; a deviation that no longer shows is a
//! failure, so a run goes red when the target changes either way.

use crate::catalog::requirement;
use crate::outcome::ScenarioOutcome;
use crate::outcome::{Finding, Verdict};
use crate::scenario::load::LoadedScenario;
use crate::toml_load::{load_toml, LoadError};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectedVerdict {
    Fail,
    Warn,
}

impl ExpectedVerdict {
    fn verdict(self) -> Verdict {
        match self {
            ExpectedVerdict::Fail => Verdict::Fail,
            ExpectedVerdict::Warn => Verdict::Warn,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Deviation {
    pub scenario: String,
    pub requirement: String,
    pub verdict: ExpectedVerdict,
    pub reason: String,
    /// The deviation shows in some runs only; its absence is not a change.
    #[serde(default)]
    pub intermittent: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expectations {
    #[serde(default, rename = "deviation")]
    pub deviations: Vec<Deviation>,
}

/// An expectations file listing every failure and warning of `outcomes`,
/// one deviation per scenario, requirement and verdict, each with a reason
/// to fill in (the finding's message, for a start).
pub fn draft(outcomes: &[ScenarioOutcome], target: &str, started: &str) -> Result<String, String> {
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        scenario: &'a str,
        requirement: &'a str,
        verdict: &'static str,
        reason: String,
    }
    #[derive(serde::Serialize)]
    struct File<'a> {
        deviation: Vec<Entry<'a>>,
    }
    let mut deviation: Vec<Entry<'_>> = Vec::new();
    for o in outcomes {
        for f in &o.findings {
            let verdict = match f.verdict {
                Verdict::Fail => "fail",
                Verdict::Warn => "warn",
                _ => continue,
            };
            let seen = deviation.iter().any(|d| {
                d.scenario == o.id && d.requirement == f.requirement && d.verdict == verdict
            });
            if !seen {
                deviation.push(Entry {
                    scenario: &o.id,
                    requirement: &f.requirement,
                    verdict,
                    reason: format!("FILL IN why this is known; the harness said: {}", f.message),
                });
            }
        }
    }
    let body = toml::to_string(&File { deviation }).map_err(|e| e.to_string())?;
    Ok(format!(
        "# Deviations of {target} seen in the run of {started}, written by\n\
         # `alq-harness run --write-expect`. Each one is reported as info while it\n\
         # is seen, and fails the run once it is gone. Replace every FILL IN with\n\
         # why the deviation is known (a bug number, a release that fixes it).\n\n{body}"
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum ExpectationError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{}: deviation {index} names scenario '{scenario}', which does not exist", path.display())]
    UnknownScenario {
        path: PathBuf,
        index: usize,
        scenario: String,
    },
    #[error("{}: deviation {index} names requirement '{requirement}', which is not in the catalog", path.display())]
    UnknownRequirement {
        path: PathBuf,
        index: usize,
        requirement: String,
    },
}

impl Expectations {
    /// Loads and checks an expectations file against the known scenarios.
    pub fn load(path: &Path, scenarios: &[LoadedScenario]) -> Result<Self, ExpectationError> {
        let loaded: Expectations = load_toml(path)?;
        for (i, d) in loaded.deviations.iter().enumerate() {
            if !scenarios.iter().any(|s| s.scenario.id == d.scenario) {
                return Err(ExpectationError::UnknownScenario {
                    path: path.to_path_buf(),
                    index: i + 1,
                    scenario: d.scenario.clone(),
                });
            }
            if requirement(&d.requirement).is_none() {
                return Err(ExpectationError::UnknownRequirement {
                    path: path.to_path_buf(),
                    index: i + 1,
                    requirement: d.requirement.clone(),
                });
            }
        }
        Ok(loaded)
    }

    /// `fixtures/targets/kea.toml` → `fixtures/targets/kea.expect.toml`.
    pub fn beside(profile: &Path) -> PathBuf {
        profile.with_extension("expect.toml")
    }

    /// Marks expected deviations in `outcome`, and flags those that vanished.
    pub fn apply(&self, outcome: &mut ScenarioOutcome) {
        if outcome.verdict == Verdict::NotApplicable {
            return;
        }
        for d in self.deviations.iter().filter(|d| d.scenario == outcome.id) {
            let mut seen = false;
            for f in outcome
                .findings
                .iter_mut()
                .filter(|f| f.requirement == d.requirement && f.verdict == d.verdict.verdict())
            {
                f.verdict = Verdict::Info;
                f.message = format!("expected deviation ({}): {}", d.reason, f.message);
                f.deviation = Some(d.reason.clone());
                seen = true;
            }
            if !seen && !d.intermittent {
                outcome.findings.push(Finding {
                    deviation: None,
                    awaited: None,
                    requirement: d.requirement.clone(),
                    verdict: Verdict::Fail,
                    message: format!(
                        "expected {} deviation no longer seen; the target changed, update the expectations file ({})",
                        d.verdict.verdict().label(), d.reason
                    ),
                    frame: None,
                });
            }
        }
        let worst = outcome
            .findings
            .iter()
            .map(|f| f.verdict)
            .max()
            .unwrap_or(Verdict::Pass);
        outcome.verdict = if worst == Verdict::Info {
            Verdict::Pass
        } else {
            worst
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::Role;

    fn outcome(findings: Vec<Finding>) -> ScenarioOutcome {
        let verdict = findings
            .iter()
            .map(|f| f.verdict)
            .max()
            .unwrap_or(Verdict::Pass);
        ScenarioOutcome {
            covers: vec!["BLQ-S-21".into()],
            findings,
            ..ScenarioOutcome::bare("BLQ-S-21-x", Role::Requestor, verdict)
        }
    }

    fn finding(verdict: Verdict) -> Finding {
        Finding {
            deviation: None,
            awaited: None,
            requirement: "BLQ-S-21".into(),
            verdict,
            message: "m".into(),
            frame: None,
        }
    }

    fn expectations() -> Expectations {
        Expectations {
            deviations: vec![Deviation {
                scenario: "BLQ-S-21-x".into(),
                requirement: "BLQ-S-21".into(),
                verdict: ExpectedVerdict::Fail,
                reason: "r".into(),
                intermittent: false,
            }],
        }
    }

    #[test]
    fn an_expected_failure_is_info_and_the_scenario_passes() {
        let mut o = outcome(vec![finding(Verdict::Fail)]);
        expectations().apply(&mut o);
        assert_eq!(o.verdict, Verdict::Pass);
        assert_eq!(o.findings[0].verdict, Verdict::Info);
        assert!(o.findings[0].message.starts_with("expected deviation (r)"));
    }

    #[test]
    fn an_expected_failure_that_passes_fails_the_run() {
        let mut o = outcome(vec![finding(Verdict::Pass)]);
        expectations().apply(&mut o);
        assert_eq!(o.verdict, Verdict::Fail);
        assert!(o.findings[1].message.contains("no longer seen"));
    }

    #[test]
    fn an_intermittent_deviation_may_be_absent() {
        let mut e = expectations();
        e.deviations[0].intermittent = true;
        let mut o = outcome(vec![finding(Verdict::Pass)]);
        e.apply(&mut o);
        assert_eq!(o.verdict, Verdict::Pass);
        assert_eq!(o.findings.len(), 1);
    }

    #[test]
    fn unknown_scenarios_and_requirements_are_load_errors() {
        let dir = std::env::temp_dir().join(format!("alq-expect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.expect.toml");
        std::fs::write(&path, "[[deviation]]\nscenario = \"nope\"\nrequirement = \"BLQ-S-21\"\nverdict = \"fail\"\nreason = \"r\"\n").unwrap();
        let err = Expectations::load(&path, &[]).unwrap_err().to_string();
        assert!(err.contains("scenario 'nope'"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
