//! The command line: the decode subcommand and its errors.

use std::process::Command;

fn harness() -> Command {
    Command::new(env!("CARGO_BIN_EXE_alq-harness"))
}

fn fixture(name: &str) -> String {
    format!("{}/../fixtures/interop/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn decode_prints_every_message_of_the_kea_capture() {
    let out = harness()
        .args(["decode", &fixture("kea-3.0.4-blq4-loopback.pcap")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches("DHCPLEASEACTIVE xid=").count(), 9);
    assert_eq!(text.matches("DHCPLEASEQUERYDONE xid=").count(), 8);
    assert!(text.contains(
        "status-code: NotAllowed (4) \"query for all configured addresses is not supported\""
    ));
    assert!(text.contains(
        "relay-agent-info: circuit-id=\"port-0\" remote-id=\"remote-A\" relay-id=\"relay-1\""
    ));
    assert!(text.contains("27 messages decoded, 0 problems, 10 TCP conversations"));
}

#[test]
fn decode_port_filter_keeps_only_matching_conversations() {
    let out = harness()
        .args([
            "decode",
            "--port",
            "68",
            &fixture("kea-3.0.4-blq4-loopback.pcap"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("0 messages decoded, 0 problems, 0 TCP conversations"),
        "{text}"
    );
}

fn assert_one_line_error(args: &[&str], needle: &str) {
    let out = harness().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: ") && err.contains(needle), "{err}");
}

#[test]
fn missing_file_is_one_line_and_exit_2() {
    assert_one_line_error(
        &["decode", "/nonexistent/capture.pcap"],
        "/nonexistent/capture.pcap",
    );
}

#[test]
fn non_pcap_file_is_one_line_and_exit_2() {
    let manifest = format!("{}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
    assert_one_line_error(&["decode", &manifest], "is not a pcap file");
}

#[test]
fn truncated_pcap_is_one_line_and_exit_2() {
    let bytes = std::fs::read(fixture("kea-3.0.4-blq4-loopback.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truncated.pcap");
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    assert_one_line_error(&["decode", path.to_str().unwrap()], "cannot be read");
}

fn scenario_dir_with(name: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(format!("{name}.toml")), text).unwrap();
    dir
}

const SCENARIO: &str = r#"id = "ALQ-S-04-cli"
title = "t"
role = "requestor"
covers = ["ALQ-S-04"]
needs = ["insecure"]

[[step]]
connect = {}

[[step]]
send = { type = "DHCPTLS", xid = 1 }

[[step]]
expect = { type = "DHCPTLS", status = "TLSConnectionRefused", requirement = "ALQ-S-04" }
"#;

#[test]
fn run_against_the_reference_target_passes_a_good_scenario() {
    let dir = scenario_dir_with("good", SCENARIO);
    let out = harness()
        .args(["run", "--scenarios", dir.path().to_str().unwrap()])
        .args(["--reports", dir.path().join("reports").to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("1 pass, 0 fail"), "{text}");
}

/// Runs `run` on a directory holding one scenario; returns its one stderr line
/// after checking exit code 2.
fn one_line_run_error(dir: &std::path::Path) -> String {
    let out = harness()
        .args(["run", "--scenarios", dir.to_str().unwrap()])
        .args(["--reports", dir.join("reports").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[test]
fn a_misspelt_key_in_a_scenario_is_one_error_naming_file_line_and_key() {
    let bad = SCENARIO.replace(
        "status = \"TLSConnectionRefused\"",
        "stauts = \"TLSConnectionRefused\"",
    );
    let dir = scenario_dir_with("misspelt", &bad);
    let err = one_line_run_error(dir.path());
    assert!(
        err.contains("misspelt.toml:14:30: ")
            && err.contains("`stauts`")
            && err.contains("did you mean `status`?"),
        "{err}"
    );
    let check = harness()
        .args(["check", dir.path().join("misspelt.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(2));
}

#[test]
fn an_unknown_message_type_in_a_scenario_is_one_error_and_exit_2() {
    let bad = SCENARIO.replace("send = { type = \"DHCPTLS\"", "send = { type = \"DHCPTSL\"");
    let dir = scenario_dir_with("badtype", &bad);
    let err = one_line_run_error(dir.path());
    assert!(
        err.contains("badtype.toml:11:17: ") && err.contains("unknown message type 'DHCPTSL'"),
        "{err}"
    );
}

#[test]
fn check_rejects_a_covered_requirement_nothing_judges() {
    let unjudged = SCENARIO.replace(
        r#"covers = ["ALQ-S-04"]"#,
        r#"covers = ["ALQ-S-04", "ALQ-S-12"]"#,
    );
    let dir = scenario_dir_with("unjudged", &unjudged);
    let check = harness()
        .args(["check", dir.path().join("unjudged.toml").to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&check.stderr);
    assert_ne!(check.status.code(), Some(0), "{err}");
    assert!(
        err.contains("unjudged.toml: covers ALQ-S-12, which no step names"),
        "{err}"
    );
    // The scenario as it was names its one requirement's judge: it passes.
    let dir = scenario_dir_with("judged", SCENARIO);
    let check = harness()
        .args(["check", dir.path().join("judged.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0));
}

#[test]
fn a_run_where_nothing_applies_is_exit_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("bare.toml");
    // A launched requestor that declares nothing: every requestor scenario
    // needs a feature it lacks, and no server scenario fits its role.
    std::fs::write(
        &profile,
        "name = \"bare\"\nkind = \"launch\"\ncommand = [\"true\"]\nfeatures = []\n",
    )
    .unwrap();
    let out = harness()
        .args([
            "run",
            "--target",
            profile.to_str().unwrap(),
            "--filter",
            "ALQ-R-07",
            "--reports",
        ])
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(
            "nothing ran: no selected scenario applies to bare (features declared: none)"
        ),
        "{text}"
    );
}

#[test]
fn exclude_leaves_out_what_it_matches_after_the_filter() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alq-harness"))
        .args(["run", "--filter", "blq-s-33", "--exclude", "SPACED"])
        .args(["--reports", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("1 scenario against reference:"), "{stdout}");
    assert!(
        stdout.contains("BLQ-S-33-two-queries-one-segment"),
        "{stdout}"
    );
    assert!(!stdout.contains("BLQ-S-33-two-queries-spaced"), "{stdout}");
}

#[test]
fn explain_gives_the_catalog_text_the_scenario_lines_the_faults_and_the_last_verdict() {
    let work = tempfile::tempdir().unwrap();
    let ran = harness()
        .current_dir(work.path())
        .args([
            "run",
            "--fault",
            "no-catch-up-complete",
            "--filter",
            "ALQ-S-26",
        ])
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(1));
    let out = harness()
        .current_dir(work.path())
        .args([
            "explain",
            "alq-s-26",
            "--report",
            "reports/reference-fault-no-catch-up-complete/report.json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "ALQ-S-26  MUST  RFC 7724 §8.2",
        "https://www.rfc-editor.org/rfc/rfc7724.html#section-8.2",
        "Test idea: Conn 1: record latest base-time T0",
        // The step line that judges it, with its file and line number.
        "scenarios/server/ALQ-S-26-catch-up-complete.toml:53: expect = { conn = \"b\", type = \"LEASEQUERYSTATUS\"",
        "no-catch-up-complete",
        "catch-up-complete-twice",
        "secure-only",
        "Last verdict (reference-fault-no-catch-up-complete,",
        "  fail\n",
    ] {
        assert!(text.contains(needle), "no {needle:?} in\n{text}");
    }
    let unknown = harness().args(["explain", "ALQ-S-999"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("'ALQ-S-999' is not a requirement"));
}

#[test]
fn write_expect_lists_every_deviation_and_the_file_makes_the_next_run_pass() {
    let work = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        harness()
            .current_dir(work.path())
            .args(["run", "--fault", "no-done"])
            .args(extra)
            .output()
            .unwrap()
    };
    let first = run(&["--write-expect", "found.expect.toml"]);
    assert_eq!(
        first.status.code(),
        Some(1),
        "the deviations are failures still"
    );
    let text = std::fs::read_to_string(work.path().join("found.expect.toml")).unwrap();
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            work.path()
                .join("reports/reference-fault-no-done/report.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut broken: Vec<(String, String, String)> = Vec::new();
    for s in report["scenarios"].as_array().unwrap() {
        for f in s["findings"].as_array().unwrap() {
            let v = f["verdict"].as_str().unwrap();
            let key = (
                s["id"].as_str().unwrap().to_string(),
                f["requirement"].as_str().unwrap().to_string(),
                v.to_string(),
            );
            if (v == "fail" || v == "warn") && !broken.contains(&key) {
                broken.push(key);
            }
        }
    }
    assert!(!broken.is_empty());
    assert_eq!(
        text.matches("[[deviation]]").count(),
        broken.len(),
        "{text}"
    );
    assert_eq!(text.matches("reason = \"FILL IN").count(), broken.len());
    let second = run(&["--expect", "found.expect.toml"]);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    let nowhere = run(&["--write-expect", "no/such/folder/x.toml"]);
    assert_eq!(nowhere.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nowhere.stderr).contains("does not exist"));
}

#[test]
fn list_with_a_target_says_which_scenarios_run_and_why_not() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = harness()
        .current_dir(&root)
        .args(["list", "--target", "fixtures/targets/kea.toml"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no {id} in {text}"))
            .to_string()
    };
    // Kea declares bulk and not active; a requestor scenario tests the other role.
    assert!(line("BLQ-S-22-query-by-mac").ends_with(" runs"));
    assert!(line("ALQ-S-26-catch-up-complete")
        .contains("not-applicable: the target does not declare active"));
    assert!(
        line("ALQ-R-01-retry-spacing").contains("not-applicable: the scenario tests a requestor")
    );
    assert!(
        line("ALQ-S-19-keepalive-every-idle-timeout").contains(" timers "),
        "tags shown"
    );
    let runs = text.lines().filter(|l| l.ends_with(" runs")).count();
    let all = ["server", "requestor"]
        .iter()
        .map(|role| {
            std::fs::read_dir(root.join("scenarios").join(role))
                .unwrap()
                .count()
        })
        .sum::<usize>();
    assert!(
        text.contains(&format!("{runs} scenarios of {all} run against kea")),
        "{text}"
    );
}

#[test]
fn list_takes_the_filters_of_run() {
    let out = harness()
        .args(["list", "--filter", "CATCH", "--exclude", "from-bulk"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let (rows, total) = text.trim_end().rsplit_once('\n').unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    // Six scenarios are tagged catch-up, whatever their ids say.
    assert!(rows.len() >= 6, "{text}");
    for row in &rows {
        assert!(row.to_lowercase().contains("catch"), "{row}");
        assert!(!row.contains("from-bulk"), "{row}");
    }
    assert_eq!(total, format!("{} scenarios", rows.len()));

    let none = harness()
        .args(["list", "--filter", "no-such-scenario"])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no scenario matches"));
}

/// `run` in a pseudo-terminal (util-linux `script`), with what it wrote.
fn run_in_a_terminal(dir: &std::path::Path, args: &str) -> Option<String> {
    let script = std::process::Command::new("sh")
        .args(["-c", "command -v script"])
        .output()
        .ok()?;
    if !script.status.success() {
        println!("skipped: no script(1) for a pseudo-terminal");
        return None;
    }
    let line = format!("{} run {args}", env!("CARGO_BIN_EXE_alq-harness"));
    let out = std::process::Command::new("script")
        .current_dir(dir)
        .args(["-qec", &line, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap();
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn on_a_terminal_run_shows_the_waiting_step_live_and_colours_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    std::fs::write(
        scenarios.join("wait.toml"),
        "id = \"ALQ-R-01-waits\"\ntitle = \"waits for a requestor that never connects\"\nrole = \"server\"\ncovers = [\"ALQ-R-01\"]\nneeds = [\"active\"]\n\n[[step]]\naccept = { within = \"1s\", requirement = \"ALQ-R-01\" }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sleeper.toml"),
        "name = \"sleeper\"\nkind = \"launch\"\ncommand = [\"sleep\", \"30\"]\nfeatures = [\"active\", \"insecure\"]\n",
    )
    .unwrap();
    let Some(seen) = run_in_a_terminal(dir.path(), "--target sleeper.toml --scenarios scenarios")
    else {
        return;
    };
    assert!(
        seen.contains("ALQ-R-01-waits: step 1/1 accept, may wait 1s"),
        "the live line names the step and its wait: {seen:?}"
    );
    assert!(
        seen.contains("\u{1b}[1m\u{1b}[33mWARN"),
        "a warning in yellow: {seen:?}"
    );
    // Piped, the same run has neither the live line nor colour.
    let piped = harness()
        .current_dir(dir.path())
        .args([
            "run",
            "--target",
            "sleeper.toml",
            "--scenarios",
            "scenarios",
        ])
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&piped.stdout);
    assert!(
        !text.contains('\u{1b}') && !text.contains("may wait"),
        "{text}"
    );
    assert!(text.contains("Failures and warnings (1):"), "{text}");
    let never = run_in_a_terminal(
        dir.path(),
        "--target sleeper.toml --scenarios scenarios --color never",
    )
    .unwrap_or_default();
    assert!(!never.contains("\u{1b}[33m"), "--color never: {never:?}");
}
