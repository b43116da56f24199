//! docs/requirements-audit.md: for every black-box requirement of the
//! catalog, its "Fail:" clause, what judges it (the steps that name it, as
//! the runner decides it, and the checks made on every message), the
//! deliberate defects that prove the judge fires and the variants that prove
//! it does not fire on a conformant choice. `alq-harness audit` writes it; a
//! test holds the committed file to what this makes.

use crate::catalog::{catalog, edges, requirement, Requirement};
use crate::checks::scenario::judged_by;
use crate::checks::{checks_judging, stream};
use crate::reference::faults::Fault;
use crate::reference::variants::{Side, Variant};
use crate::scenario::load::LoadedScenario;
use std::fmt::Write as _;

/// Requirements no scenario can judge against a black box, and why.
const UNTESTABLE: [(&str, &str); 4] = [
    (
        "ALQ-S-32",
        "No scenario. Needs a reservation added while an active query runs; no trigger or \
         profile control command can add one to an arbitrary server, so a black-box run cannot \
         make the situation. A profile `control` command for reservations would make it testable.",
    ),
    (
        "ALQ-S-35",
        "No scenario. Needs DHCPACK latency with the active socket blocked against latency with \
         no active connection; the relay trigger does not time its exchanges, and on a shared \
         host the comparison is noise below a few milliseconds. Left to a later measurement step.",
    ),
    (
        "BLQ-S-02",
        "No scenario. Port 67 is privileged; the harness tests what the profile's `address` says \
         and never binds port 67 itself. A profile pointing at port 67 passes every other \
         scenario there, which is the evidence; the default cannot be observed without the \
         vendor's default configuration.",
    ),
    (
        "BLQ-S-28",
        "No scenario. Needs a server configured with VSS (VPN) pools and leases made inside a \
         VPN; the relay trigger sends no VSS information, so no reply about a non-default VPN \
         can be produced black-box.",
    ),
];

const INTRO: &str = "# Requirements audit

Written by `alq-harness audit` (harness/tests/requirements_audit.rs holds
this file to it). Every black-box requirement of the catalog
(docs/leasequery-requirements.md, §4, classes other than D), with the
catalog's \"Fail:\" clause, what in the harness judges it, the deliberate
defect of the reference that proves the judge fires (`alq-harness faults`),
and the conformant variants that prove it does not fire on a legitimate
choice (`alq-harness variants`).

- **Judged by** lists the scenarios with a step that names the requirement
  (a step that names none is set-up and judges nothing), with the step
  kinds, and the per-message checks (`checks/wire.rs`, `reply.rs`,
  `request.rs`, `stream.rs`) that judge it on every message they apply to.
- **Variants**: every variant of the side the requirement binds runs every
  scenario that applies with no failure, warning or error
  (`harness/tests/variants.rs`); those named are the ones whose choice the
  requirement is about.
- A requirement with no fault is judged, but no defect of the reference
  breaks it yet; those are listed at the end.
";

const SECTIONS: [(&str, &str); 6] = [
    ("RFC 7724, server", "ALQ-S"),
    ("RFC 7724, requestor", "ALQ-R"),
    ("RFC 6926, server", "BLQ-S"),
    ("RFC 6926, requestor", "BLQ-R"),
    ("RFC 4388 reply construction", "LQ-S"),
    ("Wire checks, both roles", "WIRE"),
];

/// Why the audit cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("judged by nothing and not listed as untestable: {}", .0.join(", "))]
pub struct Unjudged(pub Vec<String>);

/// The audit for `scenarios`.
pub fn requirements_audit(scenarios: &[LoadedScenario]) -> Result<String, Unjudged> {
    let mut out = String::from(INTRO);
    let mut without_fault = Vec::new();
    let mut unjudged = Vec::new();
    for (title, prefix) in SECTIONS {
        let _ = write!(
            out,
            "\n## {title}\n\n| Requirement | Level | Catalog fail clause | Judged by | Fault | Variants |\n|---|---|---|---|---|---|\n"
        );
        let rows = catalog().values().filter(|r| {
            r.black_box()
                && r.id
                    .strip_prefix(prefix)
                    .is_some_and(|n| n.starts_with('-'))
        });
        for r in rows {
            let untestable = UNTESTABLE
                .iter()
                .find(|(id, _)| *id == r.id)
                .map(|(_, why)| *why);
            let judges = judges(r, scenarios);
            if judges.is_empty() && untestable.is_none() {
                unjudged.push(r.id.clone());
            }
            let faults: Vec<String> = Fault::ALL
                .iter()
                .filter(|f| f.breaks().contains(&r.id.as_str()))
                .map(|f| format!("`{}`", f.name()))
                .collect();
            if faults.is_empty() && untestable.is_none() {
                without_fault.push(r.id.clone());
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                r.id,
                r.level,
                fail_clause(r).replace('|', "\\|"),
                untestable.map_or_else(|| judges.join("; "), str::to_string),
                if faults.is_empty() {
                    "—".to_string()
                } else {
                    faults.join(", ")
                },
                if untestable.is_some() {
                    "—".to_string()
                } else {
                    variants(r)
                },
            );
        }
    }
    let _ = write!(
        out,
        "\n## Judged, with no fault yet\n\n{}\n",
        without_fault.join(", ")
    );
    write_edges(&mut out, scenarios);
    if unjudged.is_empty() {
        Ok(out)
    } else {
        Err(Unjudged(unjudged))
    }
}

/// The edge audit: each requirement with a value, a time, a bound, an order
/// or a set (catalog §4.9), its edge, what judges it, the faults one step
/// past it and the variants on its legal side.
fn write_edges(out: &mut String, scenarios: &[LoadedScenario]) {
    let rows: Vec<(&Requirement, &str)> = edges()
        .into_iter()
        .filter_map(|(id, edge)| Some((requirement(id)?, edge)))
        .collect();
    let past = |r: &Requirement| -> Vec<String> {
        Fault::ALL
            .iter()
            .filter(|f| f.breaks().contains(&r.id.as_str()))
            .map(|f| format!("`{}`", f.name()))
            .collect()
    };
    let with_fault = rows.iter().filter(|(r, _)| !past(r).is_empty()).count();
    let _ = write!(
        out,
        "\n## Edges\n\n{} requirements have a value, a time, a bound, an order or a set \
         (docs/leasequery-requirements.md §4.9); {with_fault} of them have a fault of the \
         reference one step past the edge.\n\n\
         | Requirement | Edge | Judged by | One step past | Legal side |\n|---|---|---|---|---|\n",
        rows.len()
    );
    for (r, edge) in rows {
        let faults = past(r);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            r.id,
            edge.replace('|', "\\|"),
            judges(r, scenarios).join("; "),
            if faults.is_empty() {
                "—".to_string()
            } else {
                faults.join(", ")
            },
            variants(r),
        );
    }
}

/// What judges `r`: each scenario with a step naming it (and the kinds of
/// those steps), then the checks made on every message.
fn judges(r: &Requirement, scenarios: &[LoadedScenario]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut by_id: Vec<&LoadedScenario> = scenarios.iter().collect();
    by_id.sort_by(|a, b| a.scenario.id.cmp(&b.scenario.id));
    for l in by_id {
        let mut kinds: Vec<&str> = Vec::new();
        for step in &l.scenario.steps {
            if judged_by(l.scenario.role, step).contains(&r.id.as_str())
                && !kinds.contains(&step.keyword())
            {
                kinds.push(step.keyword());
            }
        }
        if !kinds.is_empty() {
            out.push(format!("`{}` ({})", l.scenario.id, kinds.join(", ")));
        }
    }
    for (family, check) in checks_judging(&r.id) {
        out.push(format!(
            "check `{family}::{}` ({})",
            check.name, check.applies_to
        ));
    }
    if r.id == stream::FRAMING[0] {
        out.push("check `stream::FRAMING` (the byte stream of every connection: prefix and message boundaries)".into());
    }
    if r.id == stream::GRACEFUL_CLOSE {
        out.push("check `stream::GRACEFUL_CLOSE` (how the server closes: FIN, not RST)".into());
    }
    out
}

/// The catalog's fail clause for `r`: its test idea from "Fail" on, else
/// from a warning clause, else the whole idea (the requirement's text where
/// the catalog gives no test idea).
fn fail_clause(r: &Requirement) -> String {
    let text = if r.test_idea.is_empty() {
        &r.text
    } else {
        &r.test_idea
    };
    for word in ["Fail", "Warn", "warn"] {
        if let Some(at) = text.find(word) {
            return text[at..].trim().to_string();
        }
    }
    format!("(no Fail clause) {text}")
}

/// The side a requirement binds, by its ID.
fn side(id: &str) -> Side {
    if ["ALQ-S-", "BLQ-S-", "LQ-S-"]
        .iter()
        .any(|p| id.starts_with(p))
    {
        Side::Server
    } else if ["ALQ-R-", "BLQ-R-"].iter().any(|p| id.starts_with(p)) {
        Side::Requestor
    } else {
        Side::Both
    }
}

fn variants(r: &Requirement) -> String {
    let named: Vec<String> = Variant::ALL
        .iter()
        .filter(|v| v.basis().contains(r.id.as_str()))
        .map(|v| format!("`{}`", v.name()))
        .collect();
    let mine = side(&r.id);
    let n = Variant::ALL
        .iter()
        .filter(|v| mine == Side::Both || v.side() == mine || v.side() == Side::Both)
        .count();
    let all = format!("clean under each of the {n} variants of that side where it applies");
    if named.is_empty() {
        all
    } else {
        format!("{}; {all}", named.join(", "))
    }
}
