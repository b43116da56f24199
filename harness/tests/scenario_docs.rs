//! docs/scenarios.md names every top-level key, every step and every field of
//! each step that the scenario loader accepts. The accepted names come from
//! the loader itself: a scenario with an unknown name in each place is
//! refused with the list of names it expects.

use alq_harness::scenario::load::parse_scenario;
use std::path::Path;

const HEAD: &str =
    "id = \"ALQ-S-01-probe\"\ntitle = \"probe\"\nrole = \"requestor\"\ncovers = [\"ALQ-S-01\"]\n";

/// The names the loader lists when it refuses `text`; `None` when its error
/// lists none (a step that is not a table of fields).
fn accepted(text: &str) -> Option<Vec<String>> {
    let error = match parse_scenario(Path::new("probe.toml"), text) {
        Ok(_) => panic!("the probe was accepted:\n{text}"),
        Err(e) => e.to_string(),
    };
    let (_, expected) = error.split_once("expected")?;
    let names: Vec<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    (!names.is_empty()).then_some(names)
}

#[test]
fn the_scenario_page_names_every_key_step_and_field_the_loader_accepts() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/scenarios.md"))
            .unwrap();
    let mut missing = Vec::new();
    let mut check = |place: &str, names: Vec<String>| {
        for name in names {
            if !page.contains(&format!("`{name}`")) {
                missing.push(format!("{place}: {name}"));
            }
        }
    };
    check(
        "top level",
        accepted(&format!("{HEAD}zzz-unknown = 1\n")).expect("top-level keys"),
    );
    let steps = accepted(&format!("{HEAD}[[step]]\nzzz-unknown = {{}}\n")).expect("step names");
    assert!(steps.len() > 20, "{steps:?}");
    for step in &steps {
        let text = format!("{HEAD}[[step]]\n{step} = {{ zzz-unknown = 1 }}\n");
        if let Some(fields) = accepted(&text) {
            check(step, fields);
        }
    }
    check("steps", steps);
    assert!(
        missing.is_empty(),
        "docs/scenarios.md does not name {missing:?}"
    );
}
