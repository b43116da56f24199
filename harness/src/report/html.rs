//! `index.html`: one self-contained page (inline CSS, no scripts; links out
//! only to the RFC sections on rfc-editor.org) rendered with minijinja: the
//! overall verdict, then failures and warnings, then every requirement (a
//! CSS-only filter by verdict) and every scenario with its capture.
//! askama compiles the template (harness/templates/report.html) and escapes
//! every value it writes as HTML.

use super::{RequirementRow, RunReport};
use crate::catalog::requirement;
use crate::outcome::Verdict;
use askama::Template;
use std::collections::BTreeSet;

/// Transcript entries shown per scenario; longer ones show the start and end.
const SHOWN_HEAD: usize = 300;
const SHOWN_TAIL: usize = 100;

struct Line {
    index: usize,
    at_ms: u64,
    conn: String,
    dir: &'static str,
    text: String,
    cited: bool,
}

struct ScenarioView<'a> {
    id: &'a str,
    title: &'a str,
    role: &'static str,
    verdict: &'static str,
    /// Shown unfolded: anything but a pass or not-applicable.
    open: bool,
    elapsed_ms: u64,
    path: String,
    virtual_time: bool,
    pcap: Option<&'a str>,
    /// A launched requestor's log.
    iut_log: Option<&'a str>,
    tls: bool,
    keylog: Option<String>,
    findings: Vec<FindingView>,
    lines: Vec<Line>,
    omitted: usize,
    error: Option<&'a str>,
    retried: Option<&'a str>,
}

struct FindingView {
    requirement: String,
    verdict: &'static str,
    message: String,
    frame: Option<usize>,
}

struct SectionView<'a> {
    section: &'a str,
    rows: Vec<RowView<'a>>,
}

struct RowView<'a> {
    id: &'a str,
    reference: &'a str,
    level: &'a str,
    text: &'a str,
    verdict: &'static str,
    scenarios: &'a [String],
    link: Option<String>,
}

impl<'a> RowView<'a> {
    fn of(row: &'a RequirementRow) -> Self {
        RowView {
            id: &row.id,
            reference: &row.reference,
            level: &row.level,
            text: &row.text,
            verdict: row.verdict.label(),
            scenarios: &row.scenarios,
            link: requirement(&row.id).and_then(|r| r.rfc_link()),
        }
    }
}

/// The page: what the template reads.
#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    report: &'a RunReport,
    overall: OverallView,
    /// Where the target stopped answering the health probe, if it did.
    stopped: Option<String>,
    problems: Vec<ProblemView<'a>>,
    verdicts: Vec<&'static str>,
    sections: Vec<SectionView<'a>>,
    scenarios: Vec<ScenarioView<'a>>,
    /// What the run tested, as every output states it.
    tested: Vec<(&'static str, String)>,
    /// Findings the expectations file accepted.
    accepted: usize,
    /// Requirements some scenario judged (not only found not applicable).
    judged: usize,
}

/// A failure, warning or inconclusive finding, for the list at the top.
struct ProblemView<'a> {
    verdict: &'static str,
    requirement: &'a str,
    level: &'a str,
    section: String,
    link: Option<String>,
    message: String,
    /// The scenarios it occurred in, each with its deciding transcript entry.
    places: Vec<(&'a str, Option<usize>)>,
}

/// Every verdict a requirement row can have, for the filter.
const VERDICTS: [Verdict; 7] = [
    Verdict::Fail,
    Verdict::Error,
    Verdict::Warn,
    Verdict::Inconclusive,
    Verdict::Info,
    Verdict::Pass,
    Verdict::NotApplicable,
];

/// The findings a vendor reads first: errors and failures, then warnings,
/// then inconclusive ones, one row for findings alike but for numbers.
fn problems(report: &RunReport) -> Vec<ProblemView<'_>> {
    super::groups::grouped(report, Verdict::Inconclusive)
        .into_iter()
        .map(|g| {
            let catalog = g.requirement.and_then(requirement);
            ProblemView {
                verdict: g.verdict.label(),
                requirement: g.requirement.unwrap_or(""),
                level: catalog.map_or("", |r| r.level.as_str()),
                section: catalog.map_or_else(String::new, |r| r.rfc_section()),
                link: catalog.and_then(|r| r.rfc_link()),
                message: g.text,
                places: g.places,
            }
        })
        .collect()
}

struct OverallView {
    verdict: &'static str,
    line: String,
}

impl OverallView {
    fn of(report: &RunReport) -> Self {
        let overall = report.overall();
        OverallView {
            verdict: overall.verdict.label(),
            line: overall.line,
        }
    }
}

pub fn render(report: &RunReport) -> Result<String, String> {
    let mut sections: Vec<SectionView<'_>> = Vec::new();
    for row in &report.requirements {
        match sections.last_mut() {
            Some(s) if s.section == row.section => s.rows.push(RowView::of(row)),
            _ => sections.push(SectionView {
                section: &row.section,
                rows: vec![RowView::of(row)],
            }),
        }
    }
    let scenarios: Vec<ScenarioView<'_>> = report
        .scenarios
        .iter()
        .map(|s| {
            let cited: BTreeSet<usize> = s.findings.iter().filter_map(|f| f.frame).collect();
            let n = s.transcript.len();
            let keep = |i: usize| {
                n <= SHOWN_HEAD + SHOWN_TAIL
                    || i < SHOWN_HEAD
                    || i >= n - SHOWN_TAIL
                    || cited.contains(&i)
            };
            let lines = s
                .transcript
                .iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(i, e)| Line {
                    index: i,
                    at_ms: e.at_ms,
                    conn: e.conn.clone(),
                    dir: e.dir.label(),
                    text: e.text.clone(),
                    cited: cited.contains(&i),
                })
                .collect::<Vec<_>>();
            ScenarioView {
                id: &s.id,
                title: &s.title,
                role: match s.role {
                    crate::scenario::model::Role::Requestor => "harness as requestor",
                    crate::scenario::model::Role::Server => "harness as server",
                },
                verdict: s.verdict.label(),
                open: !matches!(s.verdict, Verdict::Pass | Verdict::NotApplicable),
                elapsed_ms: s.elapsed_ms,
                path: s.path.display().to_string(),
                virtual_time: report.target_kind == "reference",
                pcap: s.pcap.as_deref(),
                iut_log: s.iut_log.as_deref(),
                tls: s.tls,
                keylog: s
                    .pcap
                    .as_deref()
                    .filter(|_| s.tls)
                    .and_then(super::keylog_name),
                findings: s
                    .findings
                    .iter()
                    .filter(|f| f.verdict != Verdict::Pass || s.verdict == Verdict::Pass)
                    .map(|f| FindingView {
                        requirement: f.requirement.clone(),
                        verdict: f.verdict.label(),
                        message: f.text().into_owned(),
                        frame: f.frame,
                    })
                    .collect(),
                omitted: n - lines.len(),
                lines,
                error: s.error.as_deref(),
                retried: s.retried.as_deref(),
            }
        })
        .collect();
    // Everything on the page comes from a profile, a scenario file or the
    // implementation under test: the template's .html name makes askama
    // escape all of it.
    Page {
        report,
        overall: OverallView::of(report),
        stopped: report.stopped_answering.clone(),
        problems: problems(report),
        verdicts: VERDICTS.iter().map(|v| v.label()).collect(),
        sections,
        scenarios,
        tested: report.tested.iter().flat_map(|t| t.facts()).collect(),
        accepted: report.tested.as_ref().map_or(0, |t| t.accepted_deviations),
        judged: report
            .requirements
            .iter()
            .filter(|r| r.verdict != Verdict::NotApplicable)
            .count(),
    }
    .render()
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Direction, Entry, Finding, ScenarioOutcome};
    use crate::scenario::model::Role;

    const SCRIPT: &str = "<script>alert(1)</script>";
    const IMG: &str = "<img src=x onerror=alert(2)>";

    #[test]
    fn markup_from_the_profile_the_scenario_and_the_target_is_shown_as_text() {
        let outcome = ScenarioOutcome {
            title: format!("title {IMG}"),
            path: format!("scenarios/{SCRIPT}.toml").into(),
            covers: vec!["ALQ-S-01".into()],
            findings: vec![Finding {
                deviation: None,
                awaited: None,
                requirement: "ALQ-S-01".into(),
                verdict: Verdict::Fail,
                message: format!("trigger printed {IMG}"),
                frame: Some(0),
            }],
            transcript: vec![Entry {
                at_ms: 0,
                tap_seq: 0,
                conn: SCRIPT.into(),
                dir: Direction::Note,
                text: format!("stderr: {SCRIPT}"),
            }],
            elapsed_ms: 1,
            error: Some(IMG.into()),
            ..ScenarioOutcome::bare("ALQ-S-01-x", Role::Requestor, Verdict::Fail)
        };
        let report = RunReport::new(
            SCRIPT,
            "tcp",
            std::time::SystemTime::UNIX_EPOCH,
            std::time::Duration::from_secs(1),
            false,
            false,
            vec![outcome],
        );
        let html = render(&report).unwrap_or_default();
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{html}"
        );
        assert!(
            html.contains("&#60;img src=x onerror=alert(2)&#62;"),
            "{html}"
        );
        assert!(
            !html.contains("<script") && !html.contains("<img"),
            "{html}"
        );
    }
}
