//! `junit.xml`: one test suite per run, the same test cases in every run of
//! the same scenarios. Failures carry the finding and a transcript excerpt.

use super::RunReport;
use crate::outcome::ScenarioOutcome;
use crate::outcome::{citation, Finding, Verdict};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
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

/// The test case of a scenario that holds findings on requirements it does
/// not cover (the checks run on every message), so that every run of the same
/// scenarios has the same test cases whatever the target sent.
pub const OTHER_CHECKS: &str = "other requirements";

/// One test suite for the run: a test case per scenario and requirement it
/// covers, and one per scenario for the findings on other requirements. Times
/// are wall-clock: a scenario's time is shared out over its test cases.
pub fn render(report: &RunReport) -> Result<String, String> {
    let mut junit = Report::new("alq-harness");
    let mut suite = TestSuite::new(format!("alq-harness {}", report.target));
    let time = Duration::from_millis(report.duration_ms);
    if let Ok(started) = humantime::parse_rfc3339(&report.started) {
        let stamp = chrono::DateTime::<chrono::Utc>::from(started).fixed_offset();
        suite.set_timestamp(stamp);
        junit.set_timestamp(stamp);
    }
    suite.set_time(time);
    junit.set_time(time);
    let grading = if report.strict { "strict" } else { "lenient" };
    for (name, value) in [
        ("harness-version", report.harness_version.as_str()),
        ("target", report.target.as_str()),
        ("target-kind", report.target_kind.as_str()),
        ("address", report.address.as_str()),
        ("transport", report.transport.as_str()),
        ("grading", grading),
    ] {
        suite.add_property(Property::new(name, value));
    }
    for (name, value) in report.tested.iter().flat_map(|t| t.facts()) {
        suite.add_property(Property::new(name, value));
    }
    for s in &report.scenarios {
        for case in scenario_cases(s) {
            suite.add_test_case(case);
        }
    }
    junit.add_test_suite(suite);
    junit.to_string().map_err(|e| e.to_string())
}

fn scenario_cases(s: &ScenarioOutcome) -> Vec<TestCase> {
    let mut covered: Vec<&str> = Vec::new();
    for req in &s.covers {
        if !covered.contains(&req.as_str()) {
            covered.push(req);
        }
    }
    let count = u64::try_from(covered.len())
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let share = Duration::from_millis(s.wall_ms / count);
    let mut cases: Vec<TestCase> = covered
        .iter()
        .map(|req| {
            let findings: Vec<&Finding> = s
                .findings
                .iter()
                .filter(|f| f.requirement == *req)
                .collect();
            case(s, req, &findings)
        })
        .collect();
    let others: Vec<&Finding> = s
        .findings
        .iter()
        .filter(|f| !covered.contains(&f.requirement.as_str()))
        .collect();
    cases.push(case(s, OTHER_CHECKS, &others));
    for c in &mut cases {
        c.set_time(share);
    }
    cases
}

/// The test case for `name` in scenario `s`, judged on `findings`: the worst
/// verdict decides its status; warnings and infos (expected deviations among
/// them) pass, with a `verdict` property and a line that says so.
fn case(s: &ScenarioOutcome, name: &str, findings: &[&Finding]) -> TestCase {
    let worst = findings
        .iter()
        .map(|f| f.verdict)
        .max()
        .unwrap_or(match s.verdict {
            Verdict::NotApplicable | Verdict::Inconclusive | Verdict::Error => s.verdict,
            _ => Verdict::Pass,
        });
    let decisive = findings.iter().find(|f| f.verdict == worst);
    let line = |f: &Finding| {
        format!(
            "{} {} ({}): {}",
            f.verdict.label(),
            f.requirement,
            citation(&f.requirement),
            f.text()
        )
    };
    let message = decisive.map(|f| line(f)).or_else(|| {
        s.error
            .as_ref()
            .map(|e| format!("{}: {e}", worst.label()))
            .or_else(|| {
                s.findings
                    .iter()
                    .find(|f| f.verdict == worst)
                    .map(|f| format!("{}: {}", worst.label(), f.text()))
            })
    });
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
    let mut case = TestCase::new(name, status);
    case.set_classname(s.id.as_str());
    case.add_property(Property::new("verdict", worst.label()));
    if let Some(pcap) = &s.pcap {
        case.add_property(Property::new("capture", pcap.as_str()));
    }
    if let Some(log) = &s.iut_log {
        // Relative to the report folder, as a CI's attachment plugins read it.
        case.add_property(Property::new("requestor-log", log.as_str()));
        case.set_system_out(format!("[[ATTACHMENT|{log}]]"));
    }
    // A CI shows a passing test's output: warnings and expected deviations
    // stay visible there instead of reading as plain passes.
    let noted: Vec<String> = findings
        .iter()
        .filter(|f| matches!(f.verdict, Verdict::Warn | Verdict::Info))
        .map(|f| line(f))
        .collect();
    if !noted.is_empty() {
        case.set_system_err(noted.join("\n"));
    }
    case
}
