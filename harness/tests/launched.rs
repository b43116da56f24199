//! A launched requestor's life cycle: an exit before it connects is a set-up
//! error quoting its output, not a requirement's failure, and what it wrote
//! is kept beside the report.

use std::process::Command;

fn run_against(profile: &str) -> (Option<i32>, String, std::path::PathBuf, tempfile::TempDir) {
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("target.toml");
    std::fs::write(&target, profile).unwrap();
    let reports = work.path().join("reports");
    let out = Command::new(env!("CARGO_BIN_EXE_alq-harness"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["run", "--filter", "BLQ-R-01", "--target"])
        .arg(&target)
        .arg("--reports")
        .arg(&reports)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text, reports, work)
}

#[test]
fn a_requestor_that_exits_before_connecting_is_an_error_with_its_output() {
    let (code, text, reports, _work) = run_against(
        r#"
name = "crashing"
kind = "launch"
command = ["sh", "-c", "echo listening for {addr}; echo 'fatal: no configuration' >&2; exit 3"]
features = ["bulk", "active", "insecure"]
"#,
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("exited with status 3 before connecting"),
        "{text}"
    );
    assert!(text.contains("fatal: no configuration"), "{text}");
    assert!(text.contains("(accept)"), "the step is named: {text}");
    assert!(!text.contains("fail BLQ-R-01"), "{text}");
    let log = reports.join("crashing/iut");
    let logs: Vec<_> = std::fs::read_dir(&log).unwrap().collect();
    assert_eq!(logs.len(), 1, "{log:?}");
    let kept = std::fs::read_to_string(logs[0].as_ref().unwrap().path()).unwrap();
    assert!(kept.contains("listening for 127.0.0.1:"), "{kept}");
    assert!(kept.contains("fatal: no configuration"), "{kept}");
    assert!(kept.contains("exited with status 3"), "{kept}");
}
