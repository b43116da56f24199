//! docs/profile.md names every key, table key and feature the profile loader
//! accepts. The accepted names come from the loader itself: a profile with an
//! unknown name in each place is refused with the list of names it expects.

use alq_harness::iut::profile::TargetProfile;
use std::path::Path;

/// The names the loader lists when it refuses `text`.
fn accepted(text: &str) -> Vec<String> {
    let error = match TargetProfile::parse(Path::new("probe.toml"), text) {
        Ok(_) => panic!("the probe was accepted:\n{text}"),
        Err(e) => e.to_string(),
    };
    let (_, expected) = error
        .split_once("expected")
        .unwrap_or_else(|| panic!("no list of expected names in: {error}"));
    let names: Vec<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(!names.is_empty(), "{error}");
    names
}

#[test]
fn the_profile_page_names_every_key_and_feature_the_loader_accepts() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/profile.md"))
            .unwrap();
    let head = "name = \"probe\"\nkind = \"tcp\"\naddress = \"127.0.0.1:1\"\n";
    let probes = [
        ("top level", format!("{head}zzz-unknown = 1\n")),
        (
            "[timers]",
            format!("{head}[timers]\nzzz-unknown = \"1s\"\n"),
        ),
        (
            "relay [trigger]",
            format!(
                "{head}[trigger]\nkind = \"relay\"\ndhcp = \"127.0.0.1:67\"\nzzz-unknown = 1\n"
            ),
        ),
        (
            "shell [trigger]",
            format!("{head}[trigger]\nkind = \"shell\"\ncommand = \"true\"\nzzz-unknown = 1\n"),
        ),
        (
            "trigger kinds",
            format!("{head}[trigger]\nkind = \"zzz-unknown\"\n"),
        ),
        ("[tls]", format!("{head}[tls]\nzzz-unknown = 1\n")),
        ("[control]", format!("{head}[control]\nzzz-unknown = 1\n")),
        ("features", format!("{head}features = [\"zzz-unknown\"]\n")),
        (
            "kinds",
            "name = \"probe\"\nkind = \"zzz-unknown\"\n".to_string(),
        ),
    ];
    let mut missing = Vec::new();
    let mut checked = 0;
    for (place, text) in &probes {
        for name in accepted(text) {
            checked += 1;
            if !page.contains(&format!("`{name}`")) {
                missing.push(format!("{place}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/profile.md does not name {missing:?}"
    );
    assert!(checked > 50, "only {checked} names were checked");
}

/// Every profile example of docs/profile.md loads, over the files
/// `alq-harness certs` writes.
#[test]
fn every_profile_example_loads_with_the_files_certs_writes() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/profile.md"))
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_alq-harness"))
        .arg("certs")
        .arg(&certs)
        .output()
        .unwrap();
    assert!(made.status.success());
    let examples: Vec<&str> = page
        .split("```toml\n")
        .skip(1)
        .filter_map(|block| block.split_once("\n```").map(|(toml, _)| toml))
        .filter(|toml| toml.contains("kind = "))
        .collect();
    assert!(examples.len() >= 4, "{}", examples.len());
    for (n, example) in examples.iter().enumerate() {
        let text = example.replace("\"certs/", &format!("\"{}/", certs.display()));
        let path = dir.path().join(format!("example-{n}.toml"));
        std::fs::write(&path, text).unwrap();
        if let Err(e) = TargetProfile::load(&path) {
            panic!("example {n} of docs/profile.md does not load: {e}\n{example}");
        }
    }
}
