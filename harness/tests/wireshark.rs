//! Wireshark decodes the harness's pcaps: with the Lua plugin, tshark finds
//! every framed message of every scenario's pcap, with the same message types
//! and xids, in the same order, as the transcript in report.json.
//!
//! Runs whenever tshark is on PATH; CI installs it and sets
//! ALQ_REQUIRE_TSHARK=1 so that a missing tshark fails instead of skipping.

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

/// (message type, xid) of every DHCP message tshark decodes, in packet order.
fn tshark_messages(pcap: &Path) -> Vec<(u8, u32)> {
    let plugin = root().join("tools/wireshark/dhcp-over-tcp.lua");
    let out = Command::new("tshark")
        .arg("-X")
        .arg(format!("lua_script:{}", plugin.display()))
        .arg("-r")
        .arg(pcap)
        .args(["-T", "fields", "-e", "dhcp.option.dhcp", "-e", "dhcp.id"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut messages = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut cols = line.split('\t');
        let (Some(types), Some(xids)) = (cols.next(), cols.next()) else {
            continue;
        };
        if types.is_empty() {
            continue;
        }
        for (t, x) in types.split(',').zip(xids.split(',')) {
            let xid = u32::from_str_radix(x.trim_start_matches("0x"), 16).unwrap();
            messages.push((t.parse().unwrap(), xid));
        }
    }
    messages
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
    let mut checked = 0;
    for scenario in report["scenarios"].as_array().unwrap() {
        let id = scenario["id"].as_str().unwrap();
        let pcap = dir.join("pcap").join(format!("{id}.pcap"));
        let expected = transcript_messages(scenario);
        assert!(pcap.exists(), "{id}: no pcap");
        let decoded = tshark_messages(&pcap);
        assert_eq!(
            decoded, expected,
            "{id}: tshark and the transcript disagree"
        );
        checked += expected.len();
    }
    assert!(checked > 50, "only {checked} messages checked");
}
