//! Hostile input files and folders, one test per way they once broke the
//! harness: each ends in exit 2 with a line naming what is wrong, quickly,
//! in little memory, and writes nothing outside the reports folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_alq-harness")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the harness with `args` in `dir`; the output, how long it took and,
/// where /usr/bin/time can tell, its peak memory in KiB.
fn harness(dir: &Path, args: &[&str]) -> (Output, Duration, Option<u64>) {
    let time = Path::new("/usr/bin/time");
    let started = Instant::now();
    let out = if time.exists() {
        Command::new(time)
            .args(["-f", "peak-kib=%M", exe()])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap()
    } else {
        Command::new(exe())
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap()
    };
    let took = started.elapsed();
    let peak = String::from_utf8_lossy(&out.stderr).lines().find_map(|l| {
        l.strip_prefix("peak-kib=")
            .and_then(|k| k.trim().parse().ok())
    });
    (out, took, peak)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("peak-kib="))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Exit 2 within 2 s and under 50 MB, with `says` on stderr.
fn assert_refused_quickly(out: &Output, took: Duration, peak: Option<u64>, says: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert!(stderr(out).contains(says), "{}", stderr(out));
    assert!(took < Duration::from_secs(2), "took {took:?}");
    if let Some(kib) = peak {
        assert!(kib < 50 * 1024, "{kib} KiB");
    } else {
        println!("peak memory not measured: /usr/bin/time is missing");
    }
}

/// A scenario of the project's own, as the hostile files below start from.
fn scenario() -> String {
    std::fs::read_to_string(root().join("scenarios/server/ALQ-S-04-insecure-refuses-dhcptls.toml"))
        .unwrap()
}

const ID: &str = "ALQ-S-04-insecure-refuses-dhcptls";
const TITLE: &str =
    "A cleartext-only server answers DHCPTLS with DHCPTLS carrying TLSConnectionRefused";

#[test]
fn a_profile_linked_to_dev_zero_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.toml")).unwrap();
    let (out, took, peak) = harness(dir.path(), &["run", "--target", "zero.toml"]);
    assert_refused_quickly(&out, took, peak, "zero.toml: not a regular file");
}

#[test]
fn a_scenarios_folder_with_two_links_to_itself_is_a_loop_error() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    std::fs::write(scenarios.join("a.toml"), scenario()).unwrap();
    std::os::unix::fs::symlink(".", scenarios.join("again")).unwrap();
    std::os::unix::fs::symlink(".", scenarios.join("more")).unwrap();
    let (out, took, peak) = harness(dir.path(), &["run", "--scenarios", "scenarios"]);
    assert_refused_quickly(&out, took, peak, "a link loop");
}

#[test]
fn a_scenario_file_over_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    let padded = format!("{}{}", scenario(), "# padding\n".repeat(200_000));
    std::fs::write(scenarios.join("big.toml"), padded).unwrap();
    let (out, took, peak) = harness(dir.path(), &["check", "scenarios/big.toml"]);
    assert_refused_quickly(&out, took, peak, "larger than the 1024 KiB");
}

#[test]
fn names_that_would_leave_the_reports_folder_do_not_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("escape.toml"),
        "name = \"../../escaped\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\n",
    )
    .unwrap();
    let (out, ..) = harness(
        dir.path(),
        &["run", "--target", "escape.toml", "--reports", "r/s"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("names the target's report folder"));
    assert!(!dir.path().join("escaped").exists());

    let id = scenario().replace(ID, "ALQ-S-04-x/../../escaped");
    std::fs::write(dir.path().join("id.toml"), id).unwrap();
    let (out, ..) = harness(dir.path(), &["check", "id.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("has '/'"), "{}", stderr(&out));
}

#[test]
fn a_timer_beyond_the_limit_is_a_profile_error_not_a_panic_later() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("slow.toml"),
        "name = \"slow\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\n[timers]\nbulk_data = \"500000000000y\"\n",
    )
    .unwrap();
    let (out, took, peak) = harness(dir.path(), &["run", "--target", "slow.toml"]);
    assert_refused_quickly(&out, took, peak, "the most a duration may be");
    assert!(stderr(&out).contains("slow.toml:"), "{}", stderr(&out));
}

#[test]
fn an_unwritable_reports_folder_fails_before_any_scenario_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "").unwrap();
    // A folder below a regular file cannot be made, not even by root.
    let (out, took, _) = harness(
        &root(),
        &[
            "run",
            "--reports",
            dir.path().join("file/reports").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("file/reports"), "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("[  1/"));
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// Every file below `dir`, relative to it.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_new_run_replaces_the_whole_report_folder_and_leaves_no_staging_behind() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let run = |filter: &str| {
        let (out, ..) = harness(
            &root(),
            &[
                "run",
                "--filter",
                filter,
                "--reports",
                reports.to_str().unwrap(),
            ],
        );
        assert!(out.status.code().is_some_and(|c| c < 2), "{}", stderr(&out));
    };
    run("BLQ-S-33");
    let before = files(&reports.join("reference"));
    assert!(
        before.iter().filter(|f| f.starts_with("pcap/")).count() >= 2,
        "{before:?}"
    );
    run("BLQ-S-33-two-queries-spaced");
    let after = files(&reports.join("reference"));
    assert_eq!(
        after,
        [
            "index.html",
            "junit.xml",
            "pcap/BLQ-S-33-two-queries-spaced.pcapng",
            "report.json"
        ],
    );
    let left: Vec<_> = std::fs::read_dir(&reports)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["reference"]);
}

#[test]
fn markup_in_a_scenario_title_is_text_in_the_html_report() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    let title = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    std::fs::write(scenarios.join("a.toml"), scenario().replace(TITLE, title)).unwrap();
    let (out, ..) = harness(
        dir.path(),
        &["run", "--scenarios", "scenarios", "--reports", "reports"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(dir.path().join("reports/reference/index.html")).unwrap();
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "{html}"
    );
    assert!(
        html.contains("&#60;img src=x onerror=alert(2)&#62;"),
        "{html}"
    );
}

#[test]
fn certs_writes_private_keys_for_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let (out, ..) = harness(dir.path(), &["certs", "certs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mode = |name: &str| {
        std::fs::metadata(certs.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    for key in [
        "server.key",
        "client.key",
        "other-client.key",
        "untrusted-client.key",
    ] {
        assert_eq!(mode(key), 0o600, "{key}");
    }
    assert_eq!(mode("ca.pem"), 0o644);
}

#[test]
fn decode_into_a_reader_that_stopped_ends_quietly() {
    let pcap = root().join("fixtures/interop/kea-3.0.4-blq4-loopback.pcap");
    let mut child = Command::new(exe())
        .arg("decode")
        .arg(&pcap)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reading end goes before anything is written, as `| head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

#[test]
fn merge_refuses_shard_reports_whose_names_would_leave_the_reports_folder() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let (out, ..) = harness(
        &root(),
        &[
            "run",
            "--filter",
            "BLQ-S-33-two-queries-spaced",
            "--shard",
            "1/1",
            "--reports",
            reports.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shard = reports.join("reference-shard-1-of-1/report.json");
    let json = std::fs::read_to_string(&shard).unwrap();
    for (from, to, says) in [
        (
            "\"target\": \"reference\"",
            "\"target\": \"../../escaped\"",
            "target",
        ),
        (
            "\"id\": \"BLQ-S-33-two-queries-spaced\"",
            "\"id\": \"BLQ-S-33-x/../../../escaped\"",
            "scenario",
        ),
    ] {
        assert!(json.contains(from), "{json}");
        std::fs::write(&shard, json.replace(from, to)).unwrap();
        let (out, ..) = harness(
            dir.path(),
            &["merge", shard.to_str().unwrap(), "--reports-dir", "merged"],
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
        assert!(!dir.path().join("escaped").exists());
        assert!(!dir.path().parent().unwrap().join("escaped").exists());
    }
}

#[test]
fn coverage_with_a_report_that_is_missing_or_not_a_report_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (out, ..) = harness(dir.path(), &["coverage", "--report", "missing.json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot read missing.json"),
        "{}",
        stderr(&out)
    );
    std::fs::write(dir.path().join("junk.json"), "{}").unwrap();
    let (out, ..) = harness(dir.path(), &["coverage", "--report", "junk.json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("junk.json is not an alq-harness report"));
    // With no report asked for and none at the default place, verdicts show
    // as "-" and the listing still comes.
    let (out, ..) = harness(dir.path(), &["coverage"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ALQ-S-26"));
}
