//! `junit.xml`: one test suite per run, one test case per scenario and
//! requirement. Failures carry the finding and a transcript excerpt.

use super::RunReport;
use crate::outcome::ScenarioOutcome;
use crate::outcome::{citation, Verdict};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

/// Transcript lines around `frame`, for a failure's description.
pub fn excerpt(s: &ScenarioOutcome, frame: Option<usize>) -> String {
    let Some(frame) = frame else {
        return String::new();
    };
    let from = frame.saturating_sub(4);
    s.transcript
        .iter()
        .enumerate()
        .skip(from)
        .take(frame - from + 2)
        .map(|(i, e)| {
            let mark = if i == frame { ">>" } else { "  " };
            format!("{mark} #{i} +{}ms {} {} {}", e.at_ms, e.conn, e.dir, e.text)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn render(report: &RunReport) -> Result<String, String> {
    let mut junit = Report::new("alq-harness");
    let mut suite = TestSuite::new(format!("alq-harness {}", report.target));
    for s in &report.scenarios {
        let mut requirements: Vec<&String> = s.covers.iter().collect();
        for f in &s.findings {
            if !requirements.contains(&&f.requirement) {
                requirements.push(&f.requirement);
            }
        }
        for req in requirements {
            let findings: Vec<_> = s
                .findings
                .iter()
                .filter(|f| &f.requirement == req)
                .collect();
            let worst = findings
                .iter()
                .map(|f| f.verdict)
                .max()
                .unwrap_or(Verdict::Pass);
            let decisive = findings.iter().find(|f| f.verdict == worst);
            let message = decisive
                .map(|f| format!("{} {req} ({}): {}", worst.label(), citation(req), f.message));
            let mut status = match worst {
                Verdict::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Verdict::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
                Verdict::NotApplicable | Verdict::Inconclusive => TestCaseStatus::skipped(),
                Verdict::Pass | Verdict::Info | Verdict::Warn => TestCaseStatus::success(),
            };
            if matches!(
                worst,
                Verdict::Fail | Verdict::Error | Verdict::NotApplicable | Verdict::Inconclusive
            ) {
                if let Some(m) = &message {
                    status.set_message(m.as_str());
                }
                if let Some(f) = decisive {
                    status.set_description(excerpt(s, f.frame));
                }
            }
            let mut case = TestCase::new(req.as_str(), status);
            case.set_classname(s.id.as_str());
            case.set_time(Duration::from_millis(s.elapsed_ms));
            if worst == Verdict::Warn {
                if let Some(m) = &message {
                    case.set_system_out(m.as_str());
                }
            }
            suite.add_test_case(case);
        }
    }
    junit.add_test_suite(suite);
    junit.to_string().map_err(|e| e.to_string())
}
