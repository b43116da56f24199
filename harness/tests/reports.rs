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

    // A test case per scenario and requirement it covers, and one per
    // scenario for findings on others: fixed by the scenario files alone.
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
            reqs.dedup();
            reqs.len() + 1
        })
        .sum();
    let junit = junit_parser::from_reader(std::io::BufReader::new(
        std::fs::File::open(dir.join("junit.xml")).unwrap(),
    ))
    .unwrap();
    assert_eq!(
        junit.tests as usize, pairs,
        "one test case per scenario and covered requirement, and one more per scenario"
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
    // Self-contained: no scripts, nothing loaded; the only links out are to
    // the RFC sections.
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
    let unescaped = html.replace("&#x2f;", "/");
    assert!(unescaped
        .match_indices("href=\"http")
        .all(|(at, _)| unescaped[at..].starts_with("href=\"https://www.rfc-editor.org/rfc/rfc")));
    for s in report["scenarios"].as_array().unwrap() {
        let pcap = dir.join(format!("pcap/{}.pcapng", s["id"].as_str().unwrap()));
        assert!(pcap.exists(), "{}", pcap.display());
    }
    let leftovers: Vec<_> = walk(&dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The test cases of a junit.xml, as "classname::name" in order, and the
/// parsed report.
fn junit_cases(path: &Path) -> (Vec<String>, junit_parser::TestSuites) {
    let junit =
        junit_parser::from_reader(std::io::BufReader::new(std::fs::File::open(path).unwrap()))
            .unwrap();
    let names = junit.suites[0]
        .cases
        .iter()
        .map(|c| c.name.clone())
        .collect();
    (names, junit)
}

#[test]
fn junit_has_the_same_cases_in_a_passing_and_a_failing_run_with_wall_times_and_run_facts() {
    let work = tempfile::tempdir().unwrap();
    let run_with = |reports: &str, extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_alq-harness"))
            .current_dir(work.path())
            .args(["run", "--reports", reports])
            .args(extra)
            .output()
            .unwrap();
        out.status.code()
    };
    assert_eq!(run_with("passing", &[]), Some(0));
    // A defect that fails catch-up scenarios mid-way: their later checks
    // never run and per-message checks see fewer messages.
    assert_eq!(run_with("failing", &["--fault", "no-done"]), Some(1));
    let (passing, pass_junit) = junit_cases(&work.path().join("passing/reference/junit.xml"));
    let (failing, fail_junit) = junit_cases(
        &work
            .path()
            .join("failing/reference-fault-no-done/junit.xml"),
    );
    assert_eq!(passing, failing, "the same test cases, in the same order");
    assert_eq!(pass_junit.failures, 0);
    assert!(fail_junit.failures > 0);

    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            work.path()
                .join("failing/reference-fault-no-done/report.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let suite = &fail_junit.suites[0];
    // Wall time: what a scenario took on the wall clock, shared over its
    // cases; never the virtual minutes the paused clock skipped.
    let virtual_ms: u64 = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["elapsed_ms"].as_u64().unwrap())
        .sum();
    let case_time: f64 = suite.cases.iter().map(|c| c.time).sum();
    let run_time = report["duration_ms"].as_u64().unwrap() as f64 / 1000.0;
    assert!(
        virtual_ms as f64 / 1000.0 > 10.0 * run_time,
        "the paused clock skipped time"
    );
    assert!(
        case_time <= run_time,
        "{case_time} s of cases in a {run_time} s run"
    );
    assert!(
        (suite.time - run_time).abs() < 0.001,
        "{} vs {run_time}",
        suite.time
    );
    assert!(suite.timestamp.is_some(), "the suite says when it ran");
    let properties: std::collections::HashMap<_, _> =
        suite.properties.vec.iter().cloned().collect();
    // A run with a deliberate defect says so in its name.
    assert_eq!(properties["target"], "reference-fault-no-done");
    assert_eq!(properties["harness-version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(properties["address"], "embedded, in-process");
    assert_eq!(properties["transport"], "TCP, and TLS after DHCPTLS");
    // What was tested: the declared features and the timers, stated as
    // report.json states them.
    let tested = &report["tested"];
    assert!(
        properties["declared-features"].starts_with("bulk, active, insecure, secure"),
        "{}",
        properties["declared-features"]
    );
    assert_eq!(tested["timers"]["ACTIVE_LQ_IDLE_TIMEOUT"], "1m", "{tested}");
    assert!(properties["timers"].contains("ACTIVE_LQ_IDLE_TIMEOUT 1m"));
    assert_eq!(properties["expectations"], "none");
    // Checks made on every message are requirements like any other: a
    // passing run reports them passed.
    let passing: serde_json::Value = serde_json::from_slice(
        &std::fs::read(work.path().join("passing/reference/report.json")).unwrap(),
    )
    .unwrap();
    for id in [
        "WIRE-01", "WIRE-02", "WIRE-03", "WIRE-04", "WIRE-05", "WIRE-06", "WIRE-08",
    ] {
        let row = passing["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id);
        assert_eq!(
            row.map(|r| r["verdict"].clone()),
            Some("pass".into()),
            "{id}"
        );
    }
    // Every case carries its verdict; a failure's is "fail".
    for c in &suite.cases {
        let verdict = c.properties.hashmap.get("verdict").unwrap();
        assert_eq!(c.status.is_failure(), verdict == "fail", "{}", c.name);
    }
}

#[test]
fn junit_marks_warnings_and_expected_deviations() {
    let work = tempfile::tempdir().unwrap();
    let run = |reports: &str, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_alq-harness"))
            .current_dir(work.path())
            .args(["run", "--reports", reports, "--fault", "no-keepalive"])
            .args(["--filter", "ALQ-S-19-keepalive-every-idle-timeout"])
            .args(extra)
            .output()
            .unwrap()
    };
    let marked = |reports: &str, verdict: &str| {
        let (_, junit) = junit_cases(
            &work
                .path()
                .join(reports)
                .join("reference-fault-no-keepalive/junit.xml"),
        );
        let cases: Vec<_> = junit.suites[0]
            .cases
            .iter()
            .filter(|c| c.original_name == "ALQ-S-19")
            .cloned()
            .collect();
        assert_eq!(cases.len(), 1);
        let case = &cases[0];
        assert_eq!(case.properties.hashmap["verdict"], verdict);
        assert!(
            case.status.is_success(),
            "{verdict} does not fail a CI build"
        );
        case.system_err.clone().unwrap_or_default()
    };
    let out = run("warned", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let line = marked("warned", "warn");
    assert!(line.starts_with("warn ALQ-S-19 (RFC 7724 §"), "{line}");

    std::fs::write(
        work.path().join("expect.toml"),
        "[[deviation]]\nscenario = \"ALQ-S-19-keepalive-every-idle-timeout\"\nrequirement = \"ALQ-S-19\"\nverdict = \"warn\"\nreason = \"known: no keepalives\"\n",
    )
    .unwrap();
    let out = run("expected", &["--expect", "expect.toml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let line = marked("expected", "info");
    assert!(
        line.contains("expected deviation (known: no keepalives)"),
        "{line}"
    );
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
