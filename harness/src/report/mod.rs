//! Run reports: JSON (versioned schema, docs/report-schema.md), JUnit, a
//! single-file HTML page and one pcap per scenario, all under
//! `reports/<target>/`, each written atomically.

pub mod audit;
pub mod coverage;
pub mod groups;
pub mod health;
pub mod html;
pub mod junit;
pub mod merge;
pub mod write;

use crate::catalog::requirement;
use crate::outcome::ScenarioOutcome;
use crate::outcome::Verdict;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "alq-harness/report";
pub const SCHEMA_VERSION: u32 = 1;

/// A requirement's verdict across the scenarios that cover it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequirementRow {
    pub id: String,
    pub section: String,
    pub reference: String,
    pub level: String,
    pub text: String,
    pub verdict: Verdict,
    pub scenarios: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub info: usize,
    pub not_applicable: usize,
    #[serde(default)]
    pub inconclusive: usize,
    pub error: usize,
}

impl Counts {
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Pass => self.pass += 1,
            Verdict::Fail => self.fail += 1,
            Verdict::Warn => self.warn += 1,
            Verdict::Info => self.info += 1,
            Verdict::NotApplicable => self.not_applicable += 1,
            Verdict::Inconclusive => self.inconclusive += 1,
            Verdict::Error => self.error += 1,
        }
    }
}

/// Which part of a sharded run a report holds: shard `index` of `count`
/// (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// "K/N" with 1 <= K <= N.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("shard '{text}' is not K/N with 1 <= K <= N");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether the scenario at `position` of the selection belongs to this
    /// shard: round-robin, so every shard gets a spread of the suite.
    pub fn holds(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

fn schema_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if text == SCHEMA {
        Ok(text)
    } else {
        Err(serde::de::Error::custom(format!(
            "schema '{text}' is not {SCHEMA}"
        )))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    #[serde(deserialize_with = "schema_name")]
    pub schema: String,
    pub version: u32,
    /// The alq-harness version that made the report.
    #[serde(default)]
    pub harness_version: String,
    pub target: String,
    pub target_kind: String,
    /// Where the target was reached: its address, or how it was started.
    #[serde(default)]
    pub address: String,
    /// How the harness spoke to it: TCP, TLS after DHCPTLS, or both.
    #[serde(default)]
    pub transport: String,
    /// RFC 3339 wall-clock start of the run.
    pub started: String,
    pub duration_ms: u64,
    pub strict: bool,
    /// The run was stopped (Ctrl-C) before every scenario ran.
    pub interrupted: bool,
    pub scenario_counts: Counts,
    pub requirement_counts: Counts,
    pub requirements: Vec<RequirementRow>,
    pub scenarios: Vec<ScenarioOutcome>,
    /// Catalog coverage of the scenario set the run was drawn from.
    pub coverage: Option<coverage::Coverage>,
    /// The part of a sharded run this report holds; absent for a whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// Peak resident memory of the harness process in KiB (Linux), for runs
    /// made by the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_kb: Option<u64>,
    /// Where a server under test stopped answering the health probe, and
    /// what of the run may explain it; absent when it never did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_answering: Option<String>,
    /// What the run tested: what the profile declares and how the run was
    /// judged; absent in reports of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tested: Option<Tested>,
}

/// What a run tested, in the manner of a protocol implementation
/// conformance statement: what the target's profile declares, the
/// expectations it was judged with, and why the scenarios that did not run
/// did not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tested {
    /// The features the profile declares, as it names them.
    pub features: Vec<String>,
    /// The protocol timers the target runs with, by the RFC's names.
    pub timers: BTreeMap<String, String>,
    /// The expectations file the findings were judged against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expectations: Option<String>,
    /// Findings the expectations file accepted as known deviations.
    pub accepted_deviations: usize,
    /// Scenarios that did not apply, by the feature they need and the
    /// profile does not declare (one scenario may need several), or by the
    /// role they test when the target plays the other.
    pub not_run: BTreeMap<String, usize>,
}

impl Tested {
    /// The statement of a run against a target declaring `features`, with
    /// `timers`, judged against `expectations`, that gave `scenarios`.
    pub fn of(
        features: &[crate::scenario::model::Need],
        timers: &crate::session::timers::Timers,
        expectations: Option<String>,
        scenarios: &[ScenarioOutcome],
    ) -> Self {
        let shown = |d: std::time::Duration| humantime::format_duration(d).to_string();
        let timers = timers
            .by_name()
            .into_iter()
            .map(|(name, d)| (name.to_string(), shown(d)))
            .collect();
        Tested {
            features: features.iter().map(ToString::to_string).collect(),
            timers,
            expectations,
            accepted_deviations: 0,
            not_run: BTreeMap::new(),
        }
        .counted(scenarios)
    }

    /// The statement with what `scenarios` accepted and left out counted
    /// (a merged report counts its shards' scenarios again).
    pub fn counted(self, scenarios: &[ScenarioOutcome]) -> Self {
        let mut not_run = BTreeMap::new();
        for s in scenarios
            .iter()
            .filter(|s| s.verdict == Verdict::NotApplicable)
        {
            // Nothing missing: the scenario plays the other role.
            let other_role = match s.role {
                crate::scenario::model::Role::Server => "the requestor role",
                crate::scenario::model::Role::Requestor => "the server role",
            };
            let reasons: Vec<String> = if s.missing.is_empty() {
                vec![other_role.to_string()]
            } else {
                s.missing.iter().map(ToString::to_string).collect()
            };
            for reason in reasons {
                *not_run.entry(reason).or_insert(0) += 1;
            }
        }
        Tested {
            accepted_deviations: scenarios
                .iter()
                .flat_map(|s| &s.findings)
                .filter(|f| f.deviation.is_some())
                .count(),
            not_run,
            ..self
        }
    }

    /// The statement as (name, value) pairs, in the order every output
    /// shows them: the terminal, index.html and junit.xml's properties.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let or_none = |text: String| {
            if text.is_empty() {
                "none".to_string()
            } else {
                text
            }
        };
        let timers = self
            .timers
            .iter()
            .map(|(name, value)| format!("{name} {value}"))
            .collect::<Vec<_>>()
            .join(", ");
        let not_run = self
            .not_run
            .iter()
            .map(|(need, n)| format!("{n} need {need}"))
            .collect::<Vec<_>>()
            .join(", ");
        vec![
            ("declared-features", or_none(self.features.join(", "))),
            ("timers", timers),
            (
                "expectations",
                self.expectations
                    .clone()
                    .unwrap_or_else(|| "none".to_string()),
            ),
            ("accepted-deviations", self.accepted_deviations.to_string()),
            ("not-run", or_none(not_run)),
        ]
    }

    /// Why most scenarios did not apply, in a few words.
    fn why_not_run(&self) -> String {
        if self.features.is_empty() {
            return "the profile declares no features".to_string();
        }
        let mut needs: Vec<(&String, &usize)> = self.not_run.iter().collect();
        needs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let named: Vec<String> = needs
            .iter()
            .take(3)
            .map(|(need, n)| format!("{n} need {need}"))
            .collect();
        format!("of the rest, {}", named.join(", "))
    }
}

/// This process's peak resident memory in KiB (VmHWM), where /proc has it.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

impl RunReport {
    pub fn new(
        target: &str,
        target_kind: &str,
        started: std::time::SystemTime,
        duration: std::time::Duration,
        strict: bool,
        interrupted: bool,
        scenarios: Vec<ScenarioOutcome>,
    ) -> Self {
        let mut rows: BTreeMap<String, RequirementRow> = BTreeMap::new();
        for s in &scenarios {
            for f in &s.findings {
                let Some(r) = requirement(&f.requirement) else {
                    continue;
                };
                let row = rows.entry(r.id.clone()).or_insert_with(|| RequirementRow {
                    id: r.id.clone(),
                    section: r.rfc_section(),
                    reference: r.reference.clone(),
                    level: r.level.clone(),
                    text: r.text.clone(),
                    verdict: f.verdict,
                    scenarios: Vec::new(),
                });
                // Not-applicable only stands when nothing else was found.
                row.verdict = match (row.verdict, f.verdict) {
                    (Verdict::NotApplicable, v) | (v, Verdict::NotApplicable) => v,
                    (a, b) => a.max(b),
                };
                if !row.scenarios.contains(&s.id) {
                    row.scenarios.push(s.id.clone());
                }
            }
        }
        let mut requirements: Vec<RequirementRow> = rows.into_values().collect();
        requirements.sort_by(|a, b| {
            (a.section.as_str(), sort_key(&a.id)).cmp(&(b.section.as_str(), sort_key(&b.id)))
        });
        let mut scenario_counts = Counts::default();
        for s in &scenarios {
            scenario_counts.add(s.verdict);
        }
        let mut requirement_counts = Counts::default();
        for r in &requirements {
            requirement_counts.add(r.verdict);
        }
        let stopped_answering = health::stopped_answering(&scenarios).map(|s| s.line());
        RunReport {
            stopped_answering,
            schema: SCHEMA.to_string(),
            version: SCHEMA_VERSION,
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            target: target.to_string(),
            target_kind: target_kind.to_string(),
            address: String::new(),
            transport: String::new(),
            started: humantime::format_rfc3339_seconds(started).to_string(),
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            strict,
            interrupted,
            scenario_counts,
            requirement_counts,
            requirements,
            scenarios,
            coverage: None,
            shard: None,
            peak_rss_kb: None,
            tested: None,
        }
    }

    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec_pretty(self)
    }
}

/// The run in one line: its worst scenario verdict, and the counts behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overall {
    /// Fail or error when a scenario has one; warn when a scenario passed
    /// with a warning; not-applicable when nothing applied; else pass.
    pub verdict: Verdict,
    pub interrupted: bool,
    pub line: String,
}

impl RunReport {
    pub fn overall(&self) -> Overall {
        let c = &self.scenario_counts;
        // A scenario that did not apply says nothing about the target; it
        // is the verdict only when no scenario applied.
        let ran = self
            .scenarios
            .iter()
            .map(|s| s.verdict)
            .filter(|v| *v != Verdict::NotApplicable);
        let verdict = match ran.max() {
            None => Verdict::NotApplicable,
            Some(Verdict::Info) => Verdict::Pass,
            Some(v) => v,
        };
        let mut parts = vec![format!(
            "{} of {} scenarios passed",
            c.pass + c.info,
            self.scenarios.len()
        )];
        for (n, what) in [
            (c.fail, "failed"),
            (c.error, "could not be run by the harness"),
            (c.warn, "passed with warnings"),
            (c.inconclusive, "were inconclusive"),
            (c.not_applicable, "did not apply to the target"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let head = match verdict {
            Verdict::Pass => "PASS",
            Verdict::Info => "PASS",
            Verdict::Warn => "PASS WITH WARNINGS",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::NotApplicable => "NOTHING RAN",
        };
        // A pass never reads bare when it rests on accepted deviations or
        // on a small part of the suite.
        let mut qualifiers = Vec::new();
        if let Some(tested) = &self.tested {
            let n = tested.accepted_deviations;
            if n > 0 {
                qualifiers.push(format!(
                    "with {n} accepted deviation{}",
                    if n == 1 { "" } else { "s" }
                ));
            }
            let applied = self.scenarios.len().saturating_sub(c.not_applicable);
            if applied > 0 && applied.saturating_mul(2) < self.scenarios.len() {
                qualifiers.push(format!(
                    "only {applied} of {} applied: {}",
                    self.scenarios.len(),
                    tested.why_not_run()
                ));
            }
        }
        let head = if qualifiers.is_empty() {
            head.to_string()
        } else {
            format!("{head} ({})", qualifiers.join("; "))
        };
        let mut line = format!("{head}: {}", parts.join(", "));
        if self.interrupted {
            line.push_str(" (interrupted: not every scenario ran)");
        }
        Overall {
            verdict,
            interrupted: self.interrupted,
            line,
        }
    }
}

/// "ALQ-S-7" sorts before "ALQ-S-16".
pub(crate) fn sort_key(id: &str) -> (String, u32) {
    let (prefix, number) = id.rsplit_once('-').unwrap_or((id, "0"));
    (prefix.to_string(), number.parse().unwrap_or(0))
}

/// The path of a scenario's pcap, relative to the report directory; none
/// for an id that could not be a file name.
pub fn pcap_name(id: &str) -> Result<String, crate::file_names::NameError> {
    crate::file_names::check(id)?;
    Ok(format!("pcap/{id}.pcapng"))
}

/// The TLS key log written beside capture `pcap` (`pcap/X.pcapng` to
/// `pcap/X.keys`), in the NSS key log format other tools read.
pub fn keylog_name(pcap: &str) -> Option<String> {
    let stem = pcap
        .strip_suffix(".pcapng")
        .or_else(|| pcap.strip_suffix(".pcap"))?;
    Some(format!("{stem}.keys"))
}

/// Where a scenario's log of the launched implementation goes, relative to
/// the report directory.
pub fn iut_log_name(id: &str) -> Result<String, crate::file_names::NameError> {
    crate::file_names::check(id)?;
    Ok(format!("iut/{id}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::Role;

    #[test]
    fn a_pass_over_accepted_deviations_or_a_small_part_of_the_suite_says_so() {
        let mut accepted = ScenarioOutcome::bare("S-0", Role::Requestor, Verdict::Pass);
        accepted.findings.push(crate::outcome::Finding {
            deviation: Some("known".into()),
            awaited: None,
            requirement: "BLQ-S-21".into(),
            verdict: Verdict::Info,
            message: "m".into(),
            frame: None,
        });
        let mut scenarios = vec![accepted];
        for i in 1..4 {
            let mut na =
                ScenarioOutcome::bare(&format!("S-{i}"), Role::Requestor, Verdict::NotApplicable);
            na.missing = vec![crate::scenario::model::Need::Active];
            scenarios.push(na);
        }
        let at = std::time::SystemTime::UNIX_EPOCH;
        let bare = RunReport::new("t", "tcp", at, Default::default(), false, false, scenarios);
        // Without a statement of what was tested, nothing qualifies the pass.
        assert!(
            bare.overall().line.starts_with("PASS: "),
            "{}",
            bare.overall().line
        );
        let timers = crate::session::timers::Timers::default();
        for (features, why) in [
            (vec![], "the profile declares no features"),
            (
                vec![crate::scenario::model::Need::Bulk],
                "of the rest, 3 need active",
            ),
        ] {
            let tested = Tested::of(&features, &timers, None, &bare.scenarios);
            assert_eq!(tested.accepted_deviations, 1);
            assert_eq!(tested.not_run.get("active"), Some(&3));
            let report = RunReport {
                tested: Some(tested),
                ..bare.clone()
            };
            assert_eq!(
                report.overall().line,
                format!("PASS (with 1 accepted deviation; only 1 of 4 applied: {why}): 1 of 4 scenarios passed, 3 did not apply to the target")
            );
        }
    }

    fn overall(verdicts: &[Verdict]) -> Overall {
        let scenarios = verdicts
            .iter()
            .enumerate()
            .map(|(i, v)| ScenarioOutcome::bare(&format!("S-{i}"), Role::Requestor, *v))
            .collect();
        let at = std::time::SystemTime::UNIX_EPOCH;
        RunReport::new("t", "tcp", at, Default::default(), false, false, scenarios).overall()
    }

    #[rstest::rstest]
    #[case::all_pass(&[Verdict::Pass, Verdict::Info], Verdict::Pass)]
    #[case::some_did_not_apply(&[Verdict::Pass, Verdict::NotApplicable], Verdict::Pass)]
    #[case::warn_beside_not_applicable(&[Verdict::NotApplicable, Verdict::Warn], Verdict::Warn)]
    #[case::inconclusive(&[Verdict::Inconclusive, Verdict::NotApplicable], Verdict::Inconclusive)]
    #[case::fail_over_warn(&[Verdict::Warn, Verdict::Fail, Verdict::Pass], Verdict::Fail)]
    #[case::error_over_fail(&[Verdict::Fail, Verdict::Error], Verdict::Error)]
    #[case::nothing_applied(&[Verdict::NotApplicable, Verdict::NotApplicable], Verdict::NotApplicable)]
    #[case::no_scenarios(&[], Verdict::NotApplicable)]
    fn the_overall_verdict_is_the_worst_of_the_scenarios_that_applied(
        #[case] verdicts: &[Verdict],
        #[case] expected: Verdict,
    ) {
        assert_eq!(overall(verdicts).verdict, expected);
    }

    #[test]
    fn the_overall_line_names_the_verdict_and_every_count() {
        let line = overall(&[Verdict::Pass, Verdict::NotApplicable, Verdict::Warn]).line;
        assert_eq!(
            line,
            "PASS WITH WARNINGS: 1 of 3 scenarios passed, 1 passed with warnings, 1 did not apply to the target"
        );
    }
}
