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
    let dir = std::env::temp_dir().join(format!("alq-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("truncated.pcap");
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    assert_one_line_error(&["decode", path.to_str().unwrap()], "cannot be read");
    std::fs::remove_dir_all(&dir).unwrap();
}
