//! Reports: junit.xml read back by an independent JUnit parser with the right
//! counts, report.json in its versioned schema, a self-contained index.html,
//! and one pcap per scenario.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const FAILING: &str = r#"id = "ALQ-S-04-expects-the-wrong-answer"
title = "Deliberately wrong: expects TLS to be accepted by an insecure server"
role = "requestor"
covers = ["ALQ-S-05"]
needs = ["insecure"]

[[step]]
connect = {}

[[step]]
send = { type = "DHCPTLS", xid = 7 }

[[step]]
expect = { type = "DHCPTLS", xid = 7, status = "none", requirement = "ALQ-S-05" }
"#;

fn run(scenarios: &Path, reports: &Path) -> i32 {
    Command::new(env!("CARGO_BIN_EXE_alq-harness"))
        .current_dir(root())
        .args([
            "run",
            "--scenarios",
            scenarios.to_str().unwrap(),
            "--reports",
            reports.to_str().unwrap(),
        ])
        .output()
        .unwrap()
        .status
        .code()
        .unwrap_or(-1)
}

#[test]
fn junit_json_html_and_pcaps_describe_the_run() {
    let work = tempfile::tempdir().unwrap();
    let scenarios = work.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    for entry in walk(&root().join("scenarios"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        let name = entry.file_name().unwrap().to_owned();
        std::fs::copy(&entry, scenarios.join(name)).unwrap();
    }
    std::fs::write(scenarios.join("failing.toml"), FAILING).unwrap();
    let code = run(&scenarios, &work.path().join("out"));
    assert_eq!(code, 1, "one deliberate failure makes exit code 1");
    let dir = work.path().join("out/reference");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["schema"], "alq-harness/report");
    assert_eq!(report["version"], 1);
    let files = walk(&scenarios).len();
    let scenario_count = report["scenarios"].as_array().unwrap().len();
    assert_eq!(scenario_count, files);
    assert_eq!(report["scenario_counts"]["fail"], 1);
    assert_eq!(report["scenario_counts"]["pass"], files - 1);
    let alq_s_05 = report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "ALQ-S-05")
        .unwrap();
    assert_eq!(
        alq_s_05["verdict"], "fail",
        "a requirement takes its worst verdict"
    );
    assert_eq!(alq_s_05["section"], "RFC 7724 §8.1");

    let pairs: usize = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut reqs: Vec<&str> = s["covers"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            for f in s["findings"].as_array().unwrap() {
                let r = f["requirement"].as_str().unwrap();
                if !reqs.contains(&r) {
                    reqs.push(r);
                }
            }
            reqs.len()
        })
        .sum();
    let junit = junit_parser::from_reader(std::io::BufReader::new(
        std::fs::File::open(dir.join("junit.xml")).unwrap(),
    ))
    .unwrap();
    assert_eq!(
        junit.tests as usize, pairs,
        "one test case per scenario and requirement"
    );
    assert_eq!(junit.failures, 1);
    assert_eq!(junit.errors, 0);
    let suite = &junit.suites[0];
    let failed: Vec<_> = suite
        .cases
        .iter()
        .filter(|c| c.status.is_failure())
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].name,
        "ALQ-S-04-expects-the-wrong-answer::ALQ-S-05"
    );
    let failure = failed[0].status.failure_as_ref();
    assert!(
        failure.message.contains("RFC 7724 §8.1 MUST"),
        "{}",
        failure.message
    );
    assert!(
        failure
            .text
            .contains("DHCPTLS xid=0x00000007 status=TLSConnectionRefused"),
        "{}",
        failure.text
    );

    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("ALQ-S-04-expects-the-wrong-answer"));
    assert!(html.contains("RFC 7724 §8.1.1"));
    assert!(
        !html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http")
    );
    for s in report["scenarios"].as_array().unwrap() {
        let pcap = dir.join(format!("pcap/{}.pcap", s["id"].as_str().unwrap()));
        assert!(pcap.exists(), "{}", pcap.display());
    }
    let leftovers: Vec<_> = walk(&dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
