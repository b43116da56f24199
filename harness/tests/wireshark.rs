//! Wireshark decodes the harness's captures: with the Lua plugin, tshark finds
//! every framed message of every scenario's pcapng, with the same message
//! types and xids, in the same order, as the transcript in report.json, the
//! DHCP inside TLS included, read with the secrets the file carries and no key
//! file; every frame carries a comment; the plugin names the RFC 7724 statuses
//! and marks a malformed message without a Lua error.
//!
//! Runs whenever tshark is on PATH; CI installs it and sets
//! ALQ_REQUIRE_TSHARK=1 so that a missing tshark fails instead of skipping.

use alq_harness::run::spread::{cores, map_on_threads};
use alq_harness::wire::MessageType;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tshark_present() -> bool {
    Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What tshark with the plugin prints for `pcap` with `args`; stderr must
/// hold no Lua error.
fn tshark(pcap: &Path, args: &[&str]) -> String {
    let plugin = root().join("tools/wireshark/dhcp-over-tcp.lua");
    let out = Command::new("tshark")
        .arg("-X")
        .arg(format!("lua_script:{}", plugin.display()))
        .arg("-r")
        .arg(pcap)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", pcap.display());
    assert!(
        !stderr.contains("Lua Error"),
        "{}: {stderr}",
        pcap.display()
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !stdout.contains("Lua Error"),
        "{}: {stdout}",
        pcap.display()
    );
    stdout
}

/// (message type, xid) of every DHCP message tshark decodes, in packet
/// order, and each frame's comment.
fn tshark_messages(pcap: &Path) -> (Vec<(u8, u32)>, Vec<String>) {
    let out = tshark(
        pcap,
        &[
            "-T",
            "fields",
            "-e",
            "dhcp.option.dhcp",
            "-e",
            "dhcp.id",
            "-e",
            "frame.comment",
        ],
    );
    let mut messages = Vec::new();
    let mut comments = Vec::new();
    for line in out.lines() {
        let mut cols = line.split('\t');
        let (Some(types), Some(xids), Some(comment)) = (cols.next(), cols.next(), cols.next())
        else {
            continue;
        };
        comments.push(comment.to_string());
        if types.is_empty() {
            continue;
        }
        for (t, x) in types.split(',').zip(xids.split(',')) {
            let xid = u32::from_str_radix(x.trim_start_matches("0x"), 16).unwrap();
            messages.push((t.parse().unwrap(), xid));
        }
    }
    (messages, comments)
}

/// (message type, xid) of every message the transcript sent or received.
fn transcript_messages(scenario: &Value) -> Vec<(u8, u32)> {
    scenario["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["dir"] == "send" || e["dir"] == "recv")
        .flat_map(|e| {
            // A repeated send is one transcript entry ending in "(xN)".
            let text = e["text"].as_str().unwrap_or_default();
            let times = text
                .rsplit_once(" (x")
                .and_then(|(_, n)| n.strip_suffix(')'))
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(1);
            std::iter::repeat_n(e, times)
        })
        .filter_map(|e| {
            let text = e["text"].as_str()?;
            let (name, rest) = text.split_once(" xid=0x")?;
            let kind = match name.strip_prefix("message type(") {
                Some(n) => MessageType::from_u8(n.trim_end_matches(')').parse().ok()?),
                None => name.parse().ok()?,
            };
            let xid = u32::from_str_radix(rest.get(..8)?, 16).ok()?;
            Some((kind.to_u8(), xid))
        })
        .collect()
}

#[test]
fn tshark_with_the_plugin_agrees_with_every_transcript() {
    if !tshark_present() {
        assert!(
            std::env::var_os("ALQ_REQUIRE_TSHARK").is_none(),
            "tshark is required but not installed"
        );
        eprintln!("tshark not installed: Wireshark decoding not checked");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let reports = work.path().to_path_buf();
    let status = Command::new(env!("CARGO_BIN_EXE_alq-harness"))
        .current_dir(root())
        .args(["run", "--jobs", "2", "--reports", reports.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    let dir = reports.join("reference");
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    // One tshark per capture, as many at once as there are cores: each is a
    // process of its own that mostly starts up. Each gives the messages it
    // checked and whether it was a TLS scenario.
    let scenarios = report["scenarios"].as_array().unwrap();
    let counts = map_on_threads(scenarios, cores(), |scenario| {
        let id = scenario["id"].as_str().unwrap();
        let pcap = dir.join(scenario["pcap"].as_str().unwrap_or_default());
        assert!(pcap.is_file(), "{id}: no capture at {}", pcap.display());
        assert_eq!(pcap.extension().and_then(|e| e.to_str()), Some("pcapng"));
        let expected = transcript_messages(scenario);
        let (decoded, comments) = tshark_messages(&pcap);
        assert_eq!(
            decoded, expected,
            "{id}: tshark and the transcript disagree"
        );
        let checked = expected.len();
        // Every frame says which connection and step it belongs to.
        assert!(!comments.is_empty(), "{id}: no frames");
        assert!(
            comments.iter().all(|c| c.starts_with("connection ")),
            "{id}: a frame without a comment: {comments:?}"
        );
        if scenario["tls"] == true {
            // TLS records as they crossed, and DHCP read inside them from
            // the secrets the file carries: no key file is given.
            let inside = tshark(
                &pcap,
                &["-Y", "tls && dhcp", "-T", "fields", "-e", "frame.number"],
            );
            assert!(
                !inside.trim().is_empty(),
                "{id}: no DHCP decrypted from TLS"
            );
            assert!(
                dir.join(format!("pcap/{id}.keys")).is_file(),
                "{id}: no key log"
            );
        }
        (checked, scenario["tls"] == true)
    });
    let checked: usize = counts.iter().map(|(n, _)| n).sum();
    let tls_scenarios = counts.iter().filter(|(_, tls)| *tls).count();
    assert!(checked > 50, "only {checked} messages checked");
    assert!(tls_scenarios >= 2, "only {tls_scenarios} TLS scenarios");

    // A finding is on the frame that decided it.
    let catch_up = dir.join("pcap/ALQ-S-26-catch-up-complete.pcapng");
    let comments = tshark(&catch_up, &["-T", "fields", "-e", "frame.comment"]);
    assert!(comments.contains("finding: pass ALQ-S-26"), "{comments}");
    // RFC 7724's status 7 by name, which Wireshark's DHCP dissector lacks.
    let statuses = tshark(&catch_up, &["-T", "fields", "-e", "dhcp_lq_tcp.status"]);
    assert!(
        statuses.lines().any(|l| l.split(',').any(|s| s == "7")),
        "{statuses}"
    );
    let named = tshark(&catch_up, &["-V", "-Y", "dhcp_lq_tcp.status == 7"]);
    assert!(
        named.contains("Leasequery status: CatchUpComplete (7)"),
        "{named}"
    );
    // A message with a truncated option is marked malformed, not a Lua error.
    let truncated = dir.join("pcap/BLQ-S-32-truncated-option.pcapng");
    let marked = tshark(
        &truncated,
        &["-Y", "_ws.malformed || _ws.expert.severity == error"],
    );
    assert!(
        !marked.trim().is_empty(),
        "BLQ-S-32: nothing marked malformed"
    );
}
