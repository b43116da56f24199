//! The harness against a deliberately hostile server and requestor
//! (`alq-hostile`, fixtures/targets/hostile.toml): every case ends with a
//! verdict for every scenario, no panic, and peak memory under 100 MB.

use crate::{root, Running};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// Peak memory a hostile case may cost the harness.
const MEMORY_BOUND_KB: u64 = 100 * 1024;
/// What the reports of a hostile case may take on disk.
const REPORT_BOUND_BYTES: u64 = 10 * 1024 * 1024;

/// Bytes of every file below `dir`.
fn size_of(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                size_of(&p)
            } else {
                p.metadata().unwrap().len()
            }
        })
        .sum()
}

fn hostile_server(mode: &str) -> (Running, String) {
    let (server, line) = crate::start(
        Command::new(env!("CARGO_BIN_EXE_alq-hostile")).args(["serve", "--mode", mode]),
    );
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    (server, addr)
}

fn run(profile: &Path, reports: &Path, jobs: usize) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alq-harness"))
        .current_dir(root())
        .args([
            "run",
            "--jobs",
            &jobs.to_string(),
            "--skip-slow",
            "--target",
        ])
        .arg(profile)
        .arg("--reports")
        .arg(reports)
        .output()
        .unwrap()
}

/// Every scenario has a verdict (inconclusive where the hostile peer never
/// let a scenario get going), the hostile behaviour was found where
/// `found` (exit 1), nothing panicked, memory stayed bounded.
fn assert_judged(out: &Output, report_dir: &Path, found: bool, report_bound: u64) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let code = if found { 1 } else { 0 };
    assert_eq!(out.status.code(), Some(code), "{stdout}\n{stderr}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(report_dir.join("report.json")).unwrap()).unwrap();
    let scenarios = report["scenarios"].as_array().unwrap();
    let on_disk = std::fs::read_dir(root().join("scenarios/server"))
        .unwrap()
        .count()
        + std::fs::read_dir(root().join("scenarios/requestor"))
            .unwrap()
            .count();
    assert_eq!(scenarios.len(), on_disk);
    for s in scenarios {
        let verdict = s["verdict"].as_str().unwrap();
        assert!(
            [
                "pass",
                "info",
                "warn",
                "fail",
                "inconclusive",
                "not-applicable"
            ]
            .contains(&verdict),
            "{}: {verdict} {}",
            s["id"],
            s["error"]
        );
    }
    assert_eq!(scenarios.iter().any(|s| s["verdict"] == "fail"), found);
    let peak = report["peak_rss_kb"].as_u64().unwrap();
    assert!(peak < MEMORY_BOUND_KB, "peak RSS {peak} KiB");
    let written = size_of(report_dir);
    assert!(written < report_bound, "reports take {written} bytes");
    report
}

/// Every way the hostile server misbehaves.
const MODES: [&str; 9] = [
    "garbage",
    "huge-prefix",
    "endless",
    "slow",
    "reset",
    "tls-garbage",
    "plaintext-after-tls",
    "long-status",
    "bad-frames",
];

/// Scenarios at once against hostile server `mode`: each mostly waits out
/// deadlines, but the endless stream's memory bound is for four.
fn jobs(mode: &str) -> usize {
    if mode == "endless" {
        4
    } else {
        8
    }
}

/// A set of certificates `alq-harness certs` makes, in `dir`/certs.
fn certs_in(dir: &Path) -> std::path::PathBuf {
    let certs = dir.join("certs");
    let made = Command::new(env!("CARGO_BIN_EXE_alq-harness"))
        .arg("certs")
        .arg(&certs)
        .output()
        .unwrap();
    assert!(made.status.success());
    certs
}

/// One hostile server mode against the whole suite.
fn against_hostile_server(mode: &str) {
    let work = tempfile::tempdir().unwrap();
    let certs = certs_in(work.path());
    let (_server, addr) = hostile_server(mode);
    let fixture = std::fs::read_to_string(root().join("fixtures/targets/hostile.toml")).unwrap();
    let profile_text = fixture.replace("127.0.0.1:6790", &addr).replace(
        "\"all-configured-query\"]",
        "\"all-configured-query\", \"secure\"]",
    ) + "\n"
        + &crate::common::tls_table(&certs);
    assert!(profile_text.contains("\"secure\""));
    let profile = work.path().join("hostile.toml");
    std::fs::write(&profile, profile_text).unwrap();
    let reports = work.path().join("reports");
    let out = run(&profile, &reports, jobs(mode));
    // An endless valid stream fills each scenario's capture up to the
    // profile's pcap-limit (4 MiB) by design; the other modes stay small.
    let bound = if mode == "endless" {
        u64::MAX
    } else {
        REPORT_BOUND_BYTES
    };
    assert_judged(&out, &reports.join("hostile"), true, bound);
}

/// The modes run side by side: each spends its time waiting out the
/// deadlines a hostile peer makes it reach, not computing.
#[test]
fn a_hostile_server_gets_a_verdict_in_every_scenario() {
    side_by_side(&MODES, against_hostile_server);
}

/// Runs `case` for each of `modes` side by side; every mode that panicked
/// is named.
fn side_by_side(modes: &[&str], case: fn(&str)) {
    let failed: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = modes
            .iter()
            .map(|mode| (mode, scope.spawn(move || case(mode))))
            .collect();
        runs.into_iter()
            .filter_map(|(mode, run)| run.join().err().map(|_| mode.to_string()))
            .collect()
    });
    assert!(
        failed.is_empty(),
        "modes that failed (their panics are above): {failed:?}"
    );
}

#[test]
fn ten_thousand_connect_close_cycles_against_the_mock_server_get_verdicts() {
    let work = tempfile::tempdir().unwrap();
    let profile = work.path().join("cycles.toml");
    std::fs::write(
        &profile,
        format!(
            "name = \"cycles\"\nkind = \"launch\"\ncommand = [\"{}\", \"connect-cycles\", \"--server\", \"{{addr}}\", \"--cycles\", \"10000\"]\nfeatures = [\"active\", \"insecure\", \"bulk\"]\nexpect-timeout = \"2s\"\nslack = \"500ms\"\n[timers]\nbulk_data = \"6s\"\nactive_receive = \"4s\"\nactive_send = \"4s\"\nactive_idle = \"2s\"\n",
            env!("CARGO_BIN_EXE_alq-hostile")
        ),
    )
    .unwrap();
    let reports = work.path().join("reports");
    let out = run(&profile, &reports, 4);
    // A requestor that never sends a query breaks nothing a scenario can
    // name: every scenario that applies stops at its set-up.
    let report = assert_judged(&out, &reports.join("cycles"), false, REPORT_BOUND_BYTES);
    assert!(report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["verdict"] == "inconclusive" || s["verdict"] == "not-applicable"));
}

/// A server that resets every connection at accept, and a secure one that
/// closes after accepting DHCPTLS: the stimulus never reaches them, so no
/// scenario passes, whatever the step it stops at.
#[test]
fn a_server_that_never_takes_part_passes_no_scenario() {
    side_by_side(
        &["reset-at-accept", "close-after-dhcptls"],
        never_takes_part,
    );
}

fn never_takes_part(mode: &str) {
    let work = tempfile::tempdir().unwrap();
    let certs = certs_in(work.path());
    let (_server, addr) = hostile_server(mode);
    let fixture = std::fs::read_to_string(root().join("fixtures/targets/hostile.toml")).unwrap();
    // The secure mode is reached over DHCPTLS alone (no insecure feature).
    let mut profile_text = fixture.replace("127.0.0.1:6790", &addr);
    if mode == "close-after-dhcptls" {
        profile_text = profile_text.replace("\"insecure\", ", "").replace(
            "\"all-configured-query\"]",
            "\"all-configured-query\", \"secure\"]",
        ) + "\n"
            + &crate::common::tls_table(&certs);
    }
    let profile = work.path().join("hostile.toml");
    std::fs::write(&profile, profile_text).unwrap();
    let reports = work.path().join("reports");
    let out = run(&profile, &reports, 8);
    let stdout =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // A reset can beat the preflight's own connect: then the run stops
    // before any scenario, as for a target that is not there.
    let Ok(written) = std::fs::read(reports.join("hostile").join("report.json")) else {
        assert_eq!(out.status.code(), Some(2), "{stdout}");
        assert!(stdout.contains("is unreachable"), "{stdout}");
        return;
    };
    let report: Value = serde_json::from_slice(&written).unwrap();
    let scenarios = report["scenarios"].as_array().unwrap();
    assert!(
        scenarios.iter().any(|s| s["verdict"] != "not-applicable"),
        "{stdout}"
    );
    for s in scenarios {
        assert_ne!(s["verdict"], "pass", "{mode}: {} passed\n{stdout}", s["id"]);
    }
}
