//! docs/requirements-audit.md (written by `alq-harness audit`)
//! answers for every black-box requirement of the catalog, and every fault
//! and variant it names exists.

use alq_harness::catalog::catalog;
use alq_harness::reference::faults::Fault;
use alq_harness::reference::variants::Variant;
use std::path::Path;

fn audit() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/requirements-audit.md");
    std::fs::read_to_string(path).unwrap()
}

/// The cells of the audit row for `id`.
fn row<'a>(text: &'a str, id: &str) -> Option<Vec<&'a str>> {
    let start = format!("| {id} |");
    text.lines()
        .find(|l| l.starts_with(&start))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
}

/// The names written `like-this` in a cell.
fn quoted(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

#[test]
fn every_black_box_requirement_has_a_row_naming_real_faults_and_variants() {
    let text = audit();
    let black_box: Vec<_> = catalog().values().filter(|r| r.black_box()).collect();
    assert_eq!(black_box.len(), 135);
    for r in black_box {
        let cells = row(&text, &r.id).unwrap_or_else(|| panic!("{} has no row", r.id));
        assert_eq!(cells.len(), 6, "{}: {cells:?}", r.id);
        for name in quoted(cells[4]) {
            assert!(
                Fault::from_name(name).is_some(),
                "{}: no fault {name}",
                r.id
            );
        }
        for name in quoted(cells[5]) {
            assert!(
                Variant::from_name(name).is_some(),
                "{}: no variant {name}",
                r.id
            );
        }
        assert_ne!(
            cells[3], "—",
            "{}: nothing judges it and no reason is given",
            r.id
        );
    }
}

/// The committed audit is what `alq-harness audit` writes from the scenarios
/// as they are: regenerate it (`alq-harness audit --output
/// docs/requirements-audit.md`) when a scenario, check, fault or variant
/// changes.
#[test]
fn the_committed_audit_is_what_audit_writes_now() {
    let scenarios = alq_harness::scenario::load::load_embedded().unwrap();
    let now = alq_harness::report::audit::requirements_audit(&scenarios).unwrap();
    assert!(
        audit() == now,
        "docs/requirements-audit.md is stale: run `alq-harness audit --output docs/requirements-audit.md`"
    );
}

#[test]
fn every_edge_of_the_catalog_is_judged_and_its_faults_exist() {
    let text = audit();
    let edges = alq_harness::catalog::edges();
    let section = text.split_once("\n## Edges\n").map(|(_, s)| s).unwrap();
    assert!(
        section.contains(&format!("{} requirements have a value", edges.len())),
        "{section}"
    );
    for (id, edge) in edges {
        let start = format!("| {id} | {edge} |");
        let line = section
            .lines()
            .find(|l| l.starts_with(&start))
            .unwrap_or_else(|| panic!("{id} has no edge row"));
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 5, "{id}: {cells:?}");
        assert!(!cells[2].is_empty(), "{id}: nothing judges its edge");
        for name in quoted(cells[3]) {
            assert!(Fault::from_name(name).is_some(), "{id}: no fault {name}");
        }
    }
}
