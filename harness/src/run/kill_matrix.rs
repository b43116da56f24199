//! The kill matrix: the suite against the reference with each deliberate
//! defect, and which scenarios catch it with a verdict naming a requirement
//! the defect breaks.

use super::runner::{run_suite, selected, RunOptions};
use crate::iut::profile::TargetProfile;
use crate::outcome::Verdict;
use crate::reference::faults::{Fault, FaultSet, Side};
use crate::scenario::load::LoadedScenario;
use crate::scenario::model::Role;

#[derive(Debug, Clone)]
pub struct KillRow {
    pub fault: Fault,
    /// (requirement, scenario, verdict) of each broken check that names one of
    /// the requirements the fault breaks.
    pub caught_by: Vec<(String, String, Verdict)>,
    /// Other broken checks the fault caused (requirement, scenario).
    pub also: Vec<(String, String)>,
}

impl KillRow {
    pub fn caught(&self) -> bool {
        !self.caught_by.is_empty()
    }
}

/// Runs the scenarios of the right role against the reference with `fault`.
pub fn run_fault(fault: Fault, scenarios: &[LoadedScenario], jobs: usize) -> KillRow {
    let role = match fault.side() {
        Side::Server => Role::Requestor,
        Side::Requestor => Role::Server,
    };
    let chosen: Vec<&LoadedScenario> = selected(scenarios, &[])
        .into_iter()
        .filter(|l| l.scenario.role == role)
        .collect();
    let profile = TargetProfile {
        faults: FaultSet::one(fault),
        ..TargetProfile::reference()
    };
    let options = RunOptions {
        jobs,
        ..RunOptions::default()
    };
    let outcomes = run_suite(&chosen, &profile, &options, &|_| {});
    let mut row = KillRow {
        fault,
        caught_by: Vec::new(),
        also: Vec::new(),
    };
    for o in &outcomes {
        for f in o
            .findings
            .iter()
            .filter(|f| matches!(f.verdict, Verdict::Fail | Verdict::Warn))
        {
            let entry = (f.requirement.clone(), o.id.clone());
            if fault.breaks().contains(&f.requirement.as_str()) {
                if !row
                    .caught_by
                    .iter()
                    .any(|(r, s, _)| (r, s) == (&entry.0, &entry.1))
                {
                    row.caught_by.push((entry.0, entry.1, f.verdict));
                }
            } else if !row.also.contains(&entry) {
                row.also.push(entry);
            }
        }
    }
    row
}

/// Every fault, `workers` at a time, each fault's scenarios one at a time;
/// rows in the order of `Fault::ALL`.
pub fn kill_matrix(scenarios: &[LoadedScenario], workers: usize) -> Vec<KillRow> {
    super::spread::map_on_threads(Fault::ALL, workers, |f| run_fault(*f, scenarios, 1))
}
