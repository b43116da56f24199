//! `index.html`: one self-contained page (inline CSS, no scripts, no network)
//! rendered with minijinja.

use super::{pcap_name, RunReport};
use crate::outcome::Verdict;
use minijinja::{context, AutoEscape, Environment};
use serde::Serialize;
use std::collections::BTreeSet;

const TEMPLATE: &str = include_str!("report.html.j2");

/// Transcript entries shown per scenario; longer ones show the start and end.
const SHOWN_HEAD: usize = 300;
const SHOWN_TAIL: usize = 100;

#[derive(Serialize)]
struct Line {
    index: usize,
    at_ms: u64,
    conn: String,
    dir: &'static str,
    text: String,
    cited: bool,
}

#[derive(Serialize)]
struct ScenarioView<'a> {
    id: &'a str,
    title: &'a str,
    role: &'static str,
    verdict: &'static str,
    elapsed_ms: u64,
    path: String,
    pcap: Option<String>,
    decrypted: bool,
    findings: Vec<FindingView>,
    lines: Vec<Line>,
    omitted: usize,
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct FindingView {
    requirement: String,
    verdict: &'static str,
    message: String,
    frame: Option<usize>,
}

#[derive(Serialize)]
struct SectionView<'a> {
    section: &'a str,
    rows: Vec<&'a super::RequirementRow>,
}

pub fn render(report: &RunReport) -> Result<String, String> {
    let mut env = Environment::new();
    // Everything on the page comes from a profile, a scenario file or the
    // implementation under test: all of it is text, whatever the template's
    // name says about its kind.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_template("report", TEMPLATE)
        .map_err(|e| e.to_string())?;
    let mut sections: Vec<SectionView<'_>> = Vec::new();
    for row in &report.requirements {
        match sections.last_mut() {
            Some(s) if s.section == row.section => s.rows.push(row),
            _ => sections.push(SectionView {
                section: &row.section,
                rows: vec![row],
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
                elapsed_ms: s.elapsed_ms,
                path: s.path.display().to_string(),
                pcap: (!s.connections.is_empty())
                    .then(|| pcap_name(&s.id).ok())
                    .flatten(),
                decrypted: s.connections.iter().any(|c| c.decrypted_after_tls),
                findings: s
                    .findings
                    .iter()
                    .filter(|f| f.verdict != Verdict::Pass || s.verdict == Verdict::Pass)
                    .map(|f| FindingView {
                        requirement: f.requirement.clone(),
                        verdict: f.verdict.label(),
                        message: f.message.clone(),
                        frame: f.frame,
                    })
                    .collect(),
                omitted: n - lines.len(),
                lines,
                error: s.error.as_deref(),
            }
        })
        .collect();
    let template = env.get_template("report").map_err(|e| e.to_string())?;
    template
        .render(context! {
            report => report,
            sections => sections,
            scenarios => scenarios,
        })
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
            id: "ALQ-S-01-x".into(),
            title: format!("title {IMG}"),
            path: format!("scenarios/{SCRIPT}.toml").into(),
            role: Role::Requestor,
            covers: vec!["ALQ-S-01".into()],
            verdict: Verdict::Fail,
            findings: vec![Finding {
                requirement: "ALQ-S-01".into(),
                verdict: Verdict::Fail,
                message: format!("trigger printed {IMG}"),
                frame: Some(0),
            }],
            transcript: vec![Entry {
                at_ms: 0,
                conn: SCRIPT.into(),
                dir: Direction::Note,
                text: format!("stderr: {SCRIPT}"),
            }],
            elapsed_ms: 1,
            error: Some(IMG.into()),
            missing: Vec::new(),
            interrupted: false,
            connections: Vec::new(),
            iut_output: None,
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
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("&lt;img src=x onerror=alert(2)&gt;"),
            "{html}"
        );
        assert!(
            !html.contains("<script") && !html.contains("<img"),
            "{html}"
        );
    }
}
