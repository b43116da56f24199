//! The binary needs nothing from its source tree: a copy run from an empty
//! folder, with the checkout hidden under an empty tmpfs where the machine
//! allows a private mount namespace, runs the built-in suite against the
//! embedded reference and passes.

use std::path::Path;
use std::process::Command;

#[test]
fn a_copy_of_the_binary_runs_the_built_in_suite_with_the_checkout_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("alq-harness");
    std::fs::copy(env!("CARGO_BIN_EXE_alq-harness"), &exe).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let checkout = std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).unwrap();
    let run = format!("{} run --reports reports", exe.display());
    let hidden = format!("mount -t tmpfs none {} && {run}", checkout.display());
    let in_namespace = Command::new("unshare")
        .args(["--mount", "--fork", "sh", "-c", &hidden])
        .current_dir(&work)
        .output();
    let out = match in_namespace {
        Ok(out) if !String::from_utf8_lossy(&out.stderr).contains("unshare:") => out,
        _ => {
            println!("no private mount namespace here: the checkout stays visible");
            Command::new("sh")
                .args(["-c", &run])
                .current_dir(&work)
                .output()
                .unwrap()
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout
        .lines()
        .find(|l| l.contains(" scenarios against reference:"))
        .unwrap_or_default();
    assert!(summary.contains(" 0 fail, 0 warn,"), "{summary}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("reports/reference/report.json")).unwrap())
            .unwrap();
    let paths: Vec<&str> = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["path"].as_str())
        .collect();
    assert!(paths.len() >= 60, "{} scenarios", paths.len());
    assert!(
        paths.iter().all(|p| p.starts_with("scenarios/")),
        "{paths:?}"
    );
}
