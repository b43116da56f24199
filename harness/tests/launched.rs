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
    // Linked from every report.
    let folder = reports.join("crashing");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("report.json")).unwrap()).unwrap();
    let linked = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| s["iut_log"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(folder.join(&linked).is_file(), "{linked:?}");
    let html = std::fs::read_to_string(folder.join("index.html")).unwrap();
    assert!(
        html.contains(&format!("href=\"{}\"", linked.replace('/', "&#x2f;")))
            || html.contains(&format!("href=\"{linked}\"")),
        "{linked}"
    );
    let junit = std::fs::read_to_string(folder.join("junit.xml")).unwrap();
    assert!(
        junit.contains(&format!("[[ATTACHMENT|{linked}]]")),
        "{junit}"
    );
}

/// Ctrl-C at a terminal goes to the whole foreground process group: the
/// launched requestor has a group of its own, so the signal reaches the
/// harness alone, which stops the requestor itself.
#[test]
fn a_launched_requestor_is_not_in_the_harness_process_group() {
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("target.toml");
    let groups = work.path().join("groups");
    std::fs::write(
        &target,
        format!(
            "name = \"grouped\"\nkind = \"launch\"\ncommand = [\"sh\", \"-c\", \"ps -o pgid= -p $$ -p $PPID > {}; exit 0\"]\nfeatures = [\"bulk\", \"active\", \"insecure\"]\n",
            groups.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_alq-harness"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["run", "--filter", "BLQ-R-01", "--target"])
        .arg(&target)
        .arg("--reports")
        .arg(work.path().join("reports"))
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&groups).unwrap_or_default();
    let ids: Vec<&str> = text.split_whitespace().collect();
    // The requestor's group and the harness's, in process order.
    assert_eq!(ids.len(), 2, "{text:?} {out:?}");
    assert_ne!(ids[0], ids[1], "{text:?}");
}
