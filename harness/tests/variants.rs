//! The harness is specific as well as sensitive: the reference making any
//! of the conformant choices the RFCs allow (the variants, mirror of the
//! faults) draws no failure, warning or error from any scenario that
//! applies. Each variant must also show in what the scenarios saw, or its
//! clean row would prove nothing.

use alq_harness::iut::profile::TargetProfile;
use alq_harness::outcome::ScenarioOutcome;
use alq_harness::reference::variants::Variant;
use alq_harness::run::runner::{run_suite, selected, RunOptions};
use alq_harness::run::spread::{cores, map_on_threads};
use alq_harness::run::variant_matrix::{outcomes, summarize};
use alq_harness::scenario::load::{load_dir, LoadedScenario};
use std::collections::HashMap;
use std::path::Path;

fn scenarios() -> Vec<LoadedScenario> {
    load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")).unwrap()
}

/// What a scenario saw: its transcript, with when, and every connection's
/// bytes (the layout variants change nothing else).
fn seen(o: &ScenarioOutcome) -> [Vec<String>; 2] {
    let lines = o
        .transcript
        .iter()
        .map(|e| format!("{} {} {:?} {}", e.at_ms, e.conn, e.dir, e.text))
        .collect();
    let bytes = o
        .connections
        .iter()
        .map(|c| format!("{} {:?}", c.name, c.records))
        .collect();
    [lines, bytes]
}

#[test]
fn every_variant_passes_every_scenario_that_applies_and_shows_in_the_traffic() {
    let all = scenarios();
    let options = RunOptions {
        jobs: 2,
        ..RunOptions::default()
    };
    let clean_run = || -> HashMap<String, [Vec<String>; 2]> {
        run_suite(
            &selected(&all, &[]),
            &TargetProfile::reference(),
            &options,
            &|_| {},
        )
        .iter()
        .map(|o| (o.id.clone(), seen(o)))
        .collect()
    };
    // Only what the clean reference does the same way every time can tell
    // a variant apart (triggers draw client addresses from a counter of the
    // process, so their bytes differ from run to run).
    let (clean, again) = (clean_run(), clean_run());
    // Which of the two views of each scenario the clean reference repeats.
    let stable =
        |id: &str, view: usize| clean.get(id).map(|c| &c[view]) == again.get(id).map(|c| &c[view]);
    let steady = clean.keys().filter(|id| stable(id, 0)).count();
    assert!(
        steady * 10 >= all.len() * 9,
        "the clean reference's transcripts vary between runs"
    );
    assert!(Variant::ALL.len() >= 20, "{} variants", Variant::ALL.len());
    let mut drew = Vec::new();
    let mut invisible = Vec::new();
    // One variant per core, each variant's scenarios one at a time.
    let runs = map_on_threads(Variant::ALL, cores(), |v| outcomes(*v, &all, 1));
    for (variant, ran) in Variant::ALL.iter().zip(runs) {
        let row = summarize(*variant, &ran);
        assert!(row.ran > 0, "{}: no scenario applied", variant.name());
        for f in &row.false_verdicts {
            drew.push(format!(
                "{}: {} {} in {}: {}",
                variant.name(),
                f.verdict.label(),
                f.requirement,
                f.scenario,
                f.message
            ));
        }
        let differs = ran.iter().any(|o| {
            let now = seen(o);
            clean
                .get(&o.id)
                .is_some_and(|c| (0..2).any(|view| stable(&o.id, view) && c[view] != now[view]))
        });
        if !differs {
            invisible.push(variant.name());
        }
    }
    assert!(drew.is_empty(), "false verdicts:\n{}", drew.join("\n"));
    assert!(
        invisible.is_empty(),
        "variants no scenario saw: {invisible:?}"
    );
}
