//! Every scenario against the embedded reference target on the paused clock,
//! one test per scenario file. The normalized transcript and verdicts are
//! snapshotted (insta, YAML) so that any change in what the harness sends or
//! concludes shows up in review; the reference must pass every scenario.

use alq_harness::iut::profile::TargetProfile;
use alq_harness::outcome::Verdict;
use alq_harness::run::runner::{run_one, RunOptions};
use alq_harness::scenario::load::load_scenario;
use rstest::rstest;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Serialize)]
struct Snapshot {
    id: String,
    verdict: &'static str,
    findings: Vec<String>,
    /// "+ms conn dir text", times on the paused clock.
    transcript: Vec<String>,
}

#[rstest]
fn scenario(#[files("../scenarios/**/*.toml")] path: PathBuf) {
    let loaded = load_scenario(&path).unwrap();
    let outcome = run_one(&loaded, &TargetProfile::reference(), &RunOptions::default());
    let snapshot = Snapshot {
        id: outcome.id.clone(),
        verdict: outcome.verdict.label(),
        findings: outcome
            .findings
            .iter()
            .map(|f| {
                let frame = f.frame.map(|i| format!(" @#{i}")).unwrap_or_default();
                format!(
                    "{} {}: {}{frame}",
                    f.verdict.label(),
                    f.requirement,
                    f.message
                )
            })
            .collect(),
        transcript: outcome
            .transcript
            .iter()
            .enumerate()
            .map(|(i, e)| format!("#{i} +{}ms {} {} {}", e.at_ms, e.conn, e.dir, e.text))
            .collect(),
    };
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_yaml_snapshot!(outcome.id.clone(), snapshot);
    });
    assert_eq!(outcome.verdict, Verdict::Pass, "{:#?}", outcome.findings);
}

/// A covered requirement that no step names and no check judges would be
/// reported without evidence; the runner calls it inconclusive, and no
/// scenario of ours may have one.
#[rstest]
fn every_covered_requirement_is_judged(#[files("../scenarios/**/*.toml")] path: PathBuf) {
    let loaded = load_scenario(&path).unwrap();
    let unjudged = alq_harness::checks::scenario::unjudged(&loaded.scenario);
    assert!(
        unjudged.is_empty(),
        "{}: nothing judges {unjudged:?}",
        path.display()
    );
}
