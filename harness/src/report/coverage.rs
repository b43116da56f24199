//! Requirement coverage: which black-box requirements of the catalog (class D
//! excluded) some scenario covers or has a step judge (what the runner
//! judges with: `checks::scenario::judged_by`).

use super::sort_key;
use crate::catalog::catalog;
use crate::checks::judged_on_every_message;
use crate::checks::scenario::judged_by;
use crate::scenario::load::LoadedScenario;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CoverageRow {
    pub id: String,
    pub level: String,
    pub class: String,
    pub scenarios: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Coverage {
    /// Black-box requirements with at least one scenario.
    pub covered: usize,
    /// Black-box requirements in the catalog (135).
    pub total: usize,
    pub rows: Vec<CoverageRow>,
    pub uncovered: Vec<String>,
}

impl Coverage {
    pub fn of(scenarios: &[LoadedScenario]) -> Self {
        let mut rows = Vec::new();
        let every_message = judged_on_every_message();
        for r in catalog().values().filter(|r| r.black_box()) {
            let mut covering: Vec<String> = scenarios
                .iter()
                .filter(|l| {
                    l.scenario.covers.contains(&r.id)
                        || l.scenario
                            .steps
                            .iter()
                            .any(|step| judged_by(l.scenario.role, step).contains(&r.id.as_str()))
                })
                .map(|l| l.scenario.id.clone())
                .collect();
            if every_message.contains(&r.id.as_str()) && !scenarios.is_empty() {
                covering.push("(checked on every message received)".to_string());
            }
            rows.push(CoverageRow {
                id: r.id.clone(),
                level: r.level.clone(),
                class: r.class.clone(),
                scenarios: covering,
            });
        }
        rows.sort_by_key(|r| sort_key(&r.id));
        let uncovered: Vec<String> = rows
            .iter()
            .filter(|r| r.scenarios.is_empty())
            .map(|r| r.id.clone())
            .collect();
        Coverage {
            covered: rows.len() - uncovered.len(),
            total: rows.len(),
            rows,
            uncovered,
        }
    }

    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        100.0 * self.covered as f64 / self.total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_suite_covers_none_of_the_135() {
        let c = Coverage::of(&[]);
        assert_eq!(c.total, 135);
        assert_eq!(c.covered, 0);
        assert_eq!(c.uncovered.len(), 135);
        assert_eq!(c.uncovered.first().map(String::as_str), Some("ALQ-R-01"));
    }
}
