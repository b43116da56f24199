//! The harness proves its checks: the clean reference passes every scenario
//! without a warning, and each deliberate defect of the reference is caught by
//! a scenario whose failing (or, for SHOULD-level requirements, warning)
//! verdict names a requirement the defect breaks.

use alq_harness::iut::profile::TargetProfile;
use alq_harness::outcome::Verdict;
use alq_harness::reference::faults::Fault;
use alq_harness::run::kill_matrix::kill_matrix;
use alq_harness::run::runner::{run_suite, selected, RunOptions};
use alq_harness::run::spread::cores;
use alq_harness::scenario::load::load_dir;
use std::path::Path;

fn scenarios() -> Vec<alq_harness::scenario::load::LoadedScenario> {
    load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")).unwrap()
}

#[test]
fn the_clean_reference_passes_every_scenario_without_a_warning() {
    let all = scenarios();
    let chosen = selected(&all, &[]);
    let options = RunOptions {
        jobs: 2,
        ..RunOptions::default()
    };
    let outcomes = run_suite(&chosen, &TargetProfile::reference(), &options, &|_| {});
    assert_eq!(outcomes.len(), all.len());
    for o in &outcomes {
        let broken: Vec<_> = o
            .findings
            .iter()
            .filter(|f| !matches!(f.verdict, Verdict::Pass | Verdict::Info))
            .collect();
        assert!(broken.is_empty(), "{}: {broken:#?}", o.id);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.id);
    }
}

/// One defect, one finding: caught on a requirement it breaks, and no
/// failure or warning on any requirement it does not.
#[test]
fn every_fault_is_caught_by_a_verdict_naming_a_requirement_it_breaks_and_no_other() {
    let all = scenarios();
    let mut escaped = Vec::new();
    let mut beyond = Vec::new();
    for row in kill_matrix(&all, cores()) {
        for (requirement, scenario) in &row.also {
            beyond.push(format!(
                "{}: {requirement} in {scenario} (breaks {:?})",
                row.fault.name(),
                row.fault.breaks()
            ));
        }
        if !row.caught() {
            escaped.push(format!(
                "{} (breaks {:?}; found instead {:?})",
                row.fault.name(),
                row.fault.breaks(),
                row.also
            ));
        }
    }
    assert!(Fault::ALL.len() >= 40);
    assert!(
        escaped.is_empty(),
        "faults no scenario caught:\n{}",
        escaped.join("\n")
    );
    assert!(
        beyond.is_empty(),
        "findings on requirements the fault does not break:\n{}",
        beyond.join("\n")
    );
}

/// The suite's outcomes against the reference with `fault`, as a report.
fn report_with(fault: &str) -> alq_harness::report::RunReport {
    let all = scenarios();
    let chosen = selected(&all, &[]);
    let profile = TargetProfile {
        faults: alq_harness::reference::faults::FaultSet::one(Fault::from_name(fault).unwrap()),
        ..TargetProfile::reference()
    };
    let options = RunOptions {
        jobs: 2,
        ..RunOptions::default()
    };
    let outcomes = run_suite(&chosen, &profile, &options, &|_| {});
    alq_harness::report::RunReport::new(
        "reference",
        "reference",
        std::time::SystemTime::now(),
        std::time::Duration::ZERO,
        false,
        false,
        outcomes,
    )
}

/// A failure names what its step awaited, in the scenario's words, where
/// the step stands, and how long nothing came.
#[test]
fn a_missing_catch_up_complete_names_the_awaited_message_its_line_and_the_wait() {
    let report = report_with("no-catch-up-complete");
    let s = report
        .scenarios
        .iter()
        .find(|s| s.id == "ALQ-S-26-catch-up-complete")
        .unwrap();
    let f = s
        .findings
        .iter()
        .find(|f| f.requirement == "ALQ-S-26" && f.verdict == Verdict::Fail)
        .unwrap_or_else(|| panic!("{:#?}", s.findings));
    assert!(f.message.contains("nothing more within 5s"), "{f:?}");
    let awaited = f.awaited.as_deref().unwrap_or_default();
    for needle in [
        "type = \"LEASEQUERYSTATUS\"",
        "xid = 0x52",
        "\"CatchUpComplete\", \"DataMissing\"",
        "scenarios/server/ALQ-S-26-catch-up-complete.toml:53",
    ] {
        assert!(awaited.contains(needle), "no {needle} in {awaited}");
    }
}

/// One root cause is one group, whatever the message types it showed on.
#[test]
fn a_wrong_xid_is_one_group_of_alq_s_43_findings() {
    let report = report_with("wrong-xid");
    let groups = alq_harness::report::groups::grouped(&report, Verdict::Warn);
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(groups[0].requirement, Some("ALQ-S-43"));
    assert!(groups[0].places.len() > 30, "{}", groups[0].places.len());
}
