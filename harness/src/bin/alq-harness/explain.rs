//! `alq-harness explain ID`: one requirement in one place: the catalog's
//! words, the scenario lines and per-message checks that judge it, the
//! deliberate defects and conformant variants that prove those checks, and
//! its last verdict from a report.

use crate::suite::{load_scenarios, read_report};
use alq_harness::catalog::requirement;
use alq_harness::reference::faults::Fault;
use alq_harness::reference::variants::{Side, Variant};
use anyhow::Result;
use std::path::Path;

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
    let quoted = format!("\"{}\"", r.id);
    let mut any = false;
    for l in &scenarios {
        let covers = l.scenario.covers.contains(&r.id);
        let text = alq_harness::scenario::load::source_text(l).unwrap_or_default();
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, line)| line.contains(&quoted) && !line.trim_start().starts_with("covers"))
            .map(|(n, line)| (n + 1, line.trim()))
            .collect();
        if !covers && lines.is_empty() {
            continue;
        }
        any = true;
        say!(
            "  {} ({}){}",
            l.scenario.id,
            l.path.display(),
            if covers { "" } else { ", not in its covers" }
        );
        for (n, line) in lines {
            say!("    {}:{n}: {line}", l.path.display());
        }
    }
    if !any {
        say!("  none");
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
                say!("  {} {}: {}{evidence}", f.verdict.label(), s.id, f.message);
            }
        }
    }
    Ok(())
}
