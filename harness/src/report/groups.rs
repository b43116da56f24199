//! One root cause, one line: findings of one requirement and verdict whose
//! messages differ only in numbers (xids, addresses, counts, times) are one
//! group, shown once with every scenario it occurred in.

use super::RunReport;
use crate::outcome::{pattern, Finding, Verdict};

/// Findings alike in requirement, verdict and message pattern (a harness
/// error whatever its requirement: an error is about the run, not about
/// what a scenario covers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingGroup<'a> {
    pub verdict: Verdict,
    /// `None` for a group of errors.
    pub requirement: Option<&'a str>,
    /// The first finding's text, as every member's reads but for numbers.
    pub text: String,
    /// Each scenario it occurred in, once, with the first finding's
    /// transcript entry there.
    pub places: Vec<(&'a str, Option<usize>)>,
}

/// The findings of `report` at `least` or worse, grouped, worst verdict
/// first and then in the order of their first occurrence.
pub fn grouped(report: &RunReport, least: Verdict) -> Vec<FindingGroup<'_>> {
    let mut groups: Vec<(String, FindingGroup<'_>)> = Vec::new();
    for s in &report.scenarios {
        for f in s.findings.iter().filter(|f| f.verdict >= least) {
            let key = key(f);
            let requirement = (f.verdict != Verdict::Error).then_some(f.requirement.as_str());
            match groups
                .iter_mut()
                .find(|(k, g)| *k == key && g.verdict == f.verdict && g.requirement == requirement)
            {
                Some((_, g)) => {
                    if !g.places.iter().any(|(id, _)| *id == s.id) {
                        g.places.push((&s.id, f.frame));
                    }
                }
                None => groups.push((
                    key,
                    FindingGroup {
                        verdict: f.verdict,
                        requirement,
                        text: f.text().into_owned(),
                        places: vec![(&s.id, f.frame)],
                    },
                )),
            }
        }
    }
    let mut out: Vec<FindingGroup<'_>> = groups.into_iter().map(|(_, g)| g).collect();
    // Stable: first occurrence order stays within each verdict.
    out.sort_by_key(|g| std::cmp::Reverse(g.verdict));
    out
}

fn key(f: &Finding) -> String {
    pattern(&f.message)
}
