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
