//! `alq-harness explain ID`: one requirement in one place: the catalog's
//! words, the scenario lines and per-message checks that judge it, the
//! deliberate defects and conformant variants that prove those checks, and
//! its last verdict from a report.

use crate::suite::{load_scenarios, read_report};
use alq_harness::catalog::requirement;
use alq_harness::checks::scenario::judged_by;
use alq_harness::reference::faults::Fault;
use alq_harness::reference::variants::{Side, Variant};
use alq_harness::scenario::model::Scenario;
use anyhow::Result;
use std::path::Path;

/// The steps of `s` that judge `id`, as the runner decides it
/// (`checks::scenario::judged_by`): where each stands, and its words.
fn judging_steps<'a>(s: &'a Scenario, id: &str) -> Vec<(String, &'a str)> {
    s.steps
        .iter()
        .enumerate()
        .filter(|(_, step)| judged_by(s.role, step).contains(&id))
        .map(|(i, _)| {
            let words = s.sources.get(i).map_or("", |w| w.words.as_str());
            (s.step_at(i), words)
        })
        .collect()
}

pub(crate) fn explain(id: &str, scenarios: Option<&Path>, report: Option<&Path>) -> Result<()> {
    let wanted = id.trim().to_uppercase();
    let Some(r) = requirement(&wanted) else {
        anyhow::bail!(
            "'{id}' is not a requirement of the catalog (IDs look like ALQ-S-26, BLQ-R-05, WIRE-01)"
        );
    };
    let report = report.map(read_report).transpose()?;
    let scenarios = load_scenarios(scenarios)?;
    say!("{}  {}  {}", r.id, r.level, r.rfc_section());
    if let Some(link) = r.rfc_link() {
        say!("  {link}");
    }
    say!("\n{}", r.text);
    if !r.test_idea.is_empty() {
        say!("\nTest idea: {}", r.test_idea);
    }
    if !r.black_box() {
        say!("\nDocumentation only: no automated verdict.");
    }

    say!("\nScenarios that judge it:");
    let mut any = false;
    for l in &scenarios {
        let s = &l.scenario;
        let covers = s.covers.contains(&r.id);
        let judging = judging_steps(s, &r.id);
        if !covers && judging.is_empty() {
            continue;
        }
        any = true;
        say!(
            "  {} ({}){}",
            s.id,
            l.path.display(),
            if covers { "" } else { ", not in its covers" }
        );
        for (at, words) in judging {
            say!("    {at}: {words}");
        }
    }
    if !any {
        say!("  none");
    }
    let relying: Vec<String> = scenarios
        .iter()
        .flat_map(|l| {
            let s = &l.scenario;
            s.steps
                .iter()
                .enumerate()
                .filter(|(_, step)| step.relies_on() == Some(r.id.as_str()))
                .map(move |(i, _)| s.step_at(i))
        })
        .collect();
    if !relying.is_empty() {
        say!("\nSet-up steps that need it (inconclusive when it is broken):");
        for at in relying {
            say!("  {at}");
        }
    }

    let checks = alq_harness::checks::checks_judging(&r.id);
    let framing = alq_harness::checks::stream::FRAMING.contains(&r.id.as_str());
    say!("\nChecked on every message:");
    if checks.is_empty() && !framing {
        say!("  no");
    }
    for (family, c) in &checks {
        say!(
            "  checks::{family}::{} ({:?}): {}",
            c.name,
            c.level,
            c.applies_to
        );
    }
    if framing {
        say!("  checks::stream framing: the length prefix of every message read");
    }

    let faults: Vec<&str> = Fault::ALL
        .iter()
        .filter(|f| f.breaks().contains(&r.id.as_str()))
        .map(|f| f.name())
        .collect();
    say!(
        "\nDefects of the reference it must catch (alq-harness run --fault NAME): {}",
        if faults.is_empty() {
            "none".to_string()
        } else {
            faults.join(", ")
        }
    );
    let side = if r.id.contains("-R-") {
        Side::Requestor
    } else {
        Side::Server
    };
    let variants: Vec<&str> = Variant::ALL
        .iter()
        .filter(|v| v.side() == side || v.side() == Side::Both)
        .map(|v| v.name())
        .collect();
    say!(
        "Conformant choices under which it must still pass (alq-harness variants): {}",
        variants.join(", ")
    );

    if let Some(report) = report {
        say!("\nLast verdict ({}, {}):", report.target, report.started);
        match report.requirements.iter().find(|row| row.id == r.id) {
            Some(row) => say!("  {}", row.verdict.label()),
            None => say!("  not judged in that run"),
        }
        for s in &report.scenarios {
            for f in s.findings.iter().filter(|f| f.requirement == r.id) {
                let evidence = f
                    .frame
                    .and_then(|i| {
                        s.transcript
                            .get(i)
                            .map(|e| format!(" [#{i} {} {} {}]", e.conn, e.dir, e.text))
                    })
                    .unwrap_or_default();
                say!("  {} {}: {}{evidence}", f.verdict.label(), s.id, f.text());
            }
        }
    }
    Ok(())
}
