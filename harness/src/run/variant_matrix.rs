//! The variant matrix: the suite against the reference making each
//! conformant choice, and every finding that is not a pass. A conformant
//! variant must leave none: a failure or a warning there is a false verdict
//! of the harness.

use super::runner::{run_suite, selected, RunOptions};
use crate::iut::profile::TargetProfile;
use crate::outcome::{ScenarioOutcome, Verdict};
use crate::reference::variants::{Side, Variant, VariantSet};
use crate::scenario::load::LoadedScenario;
use crate::scenario::model::Role;

/// One finding a variant should not have drawn.
#[derive(Debug, Clone)]
pub struct FalseVerdict {
    pub scenario: String,
    pub requirement: String,
    pub verdict: Verdict,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct VariantRow {
    pub variant: Variant,
    /// Scenarios that applied (not "not applicable").
    pub ran: usize,
    /// Scenarios whose verdict was inconclusive: the variant's choice kept
    /// them from setting up what they test.
    pub inconclusive: Vec<String>,
    /// Failures, warnings and errors.
    pub false_verdicts: Vec<FalseVerdict>,
}

impl VariantRow {
    pub fn clean(&self) -> bool {
        self.false_verdicts.is_empty()
    }
}

/// The roles the harness plays against a variant's side.
fn roles(side: Side) -> &'static [Role] {
    match side {
        Side::Server => &[Role::Requestor],
        Side::Requestor => &[Role::Server],
        Side::Both => &[Role::Requestor, Role::Server],
    }
}

/// The outcomes of the scenarios that test `variant`'s side, run against
/// the reference making that choice.
pub fn outcomes(
    variant: Variant,
    scenarios: &[LoadedScenario],
    jobs: usize,
) -> Vec<ScenarioOutcome> {
    let wanted = roles(variant.side());
    let chosen: Vec<&LoadedScenario> = selected(scenarios, &[])
        .into_iter()
        .filter(|l| wanted.contains(&l.scenario.role))
        .collect();
    let profile = TargetProfile::reference_with(VariantSet::one(variant));
    let options = RunOptions {
        jobs,
        ..RunOptions::default()
    };
    run_suite(&chosen, &profile, &options, &|_| {})
}

/// What `outcomes` of `variant` drew.
pub fn summarize(variant: Variant, outcomes: &[ScenarioOutcome]) -> VariantRow {
    let mut row = VariantRow {
        variant,
        ran: 0,
        inconclusive: Vec::new(),
        false_verdicts: Vec::new(),
    };
    for o in outcomes {
        match o.verdict {
            Verdict::NotApplicable => continue,
            Verdict::Inconclusive => row.inconclusive.push(o.id.clone()),
            _ => {}
        }
        row.ran += 1;
        for f in o
            .findings
            .iter()
            .filter(|f| matches!(f.verdict, Verdict::Fail | Verdict::Warn | Verdict::Error))
        {
            row.false_verdicts.push(FalseVerdict {
                scenario: o.id.clone(),
                requirement: f.requirement.clone(),
                verdict: f.verdict,
                message: f.message.clone(),
            });
        }
    }
    row
}

/// Runs the scenarios that test `variant`'s side against the reference
/// making that choice.
pub fn run_variant(variant: Variant, scenarios: &[LoadedScenario], jobs: usize) -> VariantRow {
    summarize(variant, &outcomes(variant, scenarios, jobs))
}

/// Every variant, `workers` at a time, each variant's scenarios one at a
/// time; rows in the order of `Variant::ALL`.
pub fn variant_matrix(scenarios: &[LoadedScenario], workers: usize) -> Vec<VariantRow> {
    super::spread::map_on_threads(Variant::ALL, workers, |v| run_variant(*v, scenarios, 1))
}
