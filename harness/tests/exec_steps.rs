//! Step semantics of the executor that the catalog scenarios rely on, run
//! against the in-process reference on the paused clock.

use alq_harness::iut::profile::TargetProfile;
use alq_harness::outcome::ScenarioOutcome;
use alq_harness::outcome::Verdict;
use alq_harness::run::runner::{run_one, run_suite, RunOptions};
use alq_harness::scenario::load::{parse_scenario, LoadedScenario};
use std::path::PathBuf;

mod common;

fn scenario(name: &str, text: &str) -> LoadedScenario {
    let path = PathBuf::from(format!("{name}.toml"));
    LoadedScenario {
        scenario: parse_scenario(&path, text).unwrap(),
        path,
    }
}

/// Whether a line of the outcome's transcript contains `text`.
fn transcript_says(o: &ScenarioOutcome, text: &str) -> bool {
    o.transcript.iter().any(|e| e.text.contains(text))
}

/// A scenario that only waits 1 s, with `extra` (top-level TOML) added.
fn waiting(id: &str, extra: &str) -> LoadedScenario {
    scenario(
        id,
        &format!(
            "id = \"{id}\"\ntitle = \"t\"\nrole = \"requestor\"\ncovers = [\"BLQ-S-18\"]\n{extra}\n\n[[step]]\nwait = {{ for = \"1s\" }}\n"
        ),
    )
}

/// Runs `all`; the outcomes, and the ids in the order they finished.
fn run_in_order(
    all: &[LoadedScenario],
    profile: &TargetProfile,
    options: &RunOptions,
) -> (Vec<ScenarioOutcome>, Vec<String>) {
    let chosen: Vec<&LoadedScenario> = all.iter().collect();
    let finished = std::sync::Mutex::new(Vec::new());
    let outcomes = run_suite(&chosen, profile, options, &|o| {
        finished.lock().unwrap().push(o.id.clone())
    });
    (outcomes, finished.into_inner().unwrap())
}

#[test]
fn a_check_after_an_expect_graded_as_a_warning_is_skipped_not_an_error() {
    let l = scenario(
        "LQ-S-02-warned",
        r#"
id = "LQ-S-02-warned"
title = "t"
role = "requestor"
covers = ["LQ-S-02"]
needs = ["bulk"]

[[step]]
connect = {}

[[step]]
send = { type = "BULKLEASEQUERY", xid = 7, htype = 1, chaddr = "02:00:00:00:99:99", prl = [61] }

# Nothing is bound to this MAC: DHCPLEASEQUERYDONE comes instead.
[[step]]
expect = { type = "LEASEACTIVE", xid = 7, level = "should", requirement = "LQ-S-02" }

[[step]]
check = { present = [61], requirement = "LQ-S-02" }
"#,
    );
    let o = run_one(&l, &TargetProfile::reference(), &RunOptions::default());
    assert_eq!(o.error, None);
    assert_eq!(o.verdict, Verdict::Warn);
    assert!(transcript_says(&o, "check skipped"));
}

#[test]
fn exclusive_scenarios_run_before_the_others_and_outcomes_keep_file_order() {
    let all = [
        waiting("BLQ-S-18-a", "exclusive = false"),
        waiting("BLQ-S-18-b", "exclusive = false"),
        waiting("BLQ-S-18-c", "exclusive = true"),
    ];
    let options = RunOptions {
        jobs: 4,
        ..RunOptions::default()
    };
    let (outcomes, finished) = run_in_order(&all, &TargetProfile::reference(), &options);
    let ids: Vec<&str> = outcomes.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["BLQ-S-18-a", "BLQ-S-18-b", "BLQ-S-18-c"]);
    assert_eq!(finished.first().map(String::as_str), Some("BLQ-S-18-c"));
}

/// With one worker every scenario is its: not-applicable ones are reported
/// first, then the worker runs its quickest first (as measured before; a
/// scenario never measured, on the paused clock, counts as quick), so that
/// quick results come while long ones wait.
#[test]
fn inapplicable_scenarios_are_reported_first_and_a_worker_runs_its_quickest_first() {
    let all = [
        waiting("BLQ-S-18-short", ""),
        waiting("BLQ-S-18-unknown", ""),
        waiting("BLQ-S-18-long", ""),
        waiting("BLQ-S-18-secure", "needs = [\"secure\"]"),
    ];
    let options = RunOptions {
        jobs: 1,
        durations: [
            ("BLQ-S-18-short".to_string(), 10),
            ("BLQ-S-18-long".to_string(), 900),
        ]
        .into_iter()
        .collect(),
        ..RunOptions::default()
    };
    let profile = TargetProfile {
        features: Vec::new(),
        ..TargetProfile::reference()
    };
    let (_, finished) = run_in_order(&all, &profile, &options);
    assert_eq!(
        finished,
        [
            "BLQ-S-18-secure",
            "BLQ-S-18-unknown",
            "BLQ-S-18-short",
            "BLQ-S-18-long"
        ]
    );
}

fn all_configured() -> LoadedScenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/server/BLQ-S-26-all-configured-addresses.toml");
    alq_harness::scenario::load::load_scenario(&path).unwrap()
}

#[test]
fn a_small_transcript_limit_keeps_the_head_and_the_tail_and_still_cites_evidence() {
    // 41 configured addresses: more messages than 8 entries hold.
    let profile = TargetProfile {
        transcript_limit: 8,
        ..TargetProfile::reference()
    };
    let o = run_one(&all_configured(), &profile, &RunOptions::default());
    assert_eq!(o.verdict, Verdict::Pass, "{:#?}", o.findings);
    assert_eq!(o.transcript.len(), 9, "8 kept and one note");
    assert!(transcript_says(&o, "transcript entries not kept"));
    for f in &o.findings {
        if let Some(i) = f.frame {
            assert!(i < o.transcript.len(), "{f:?}");
        }
    }
}

#[test]
fn a_small_pcap_limit_records_the_start_and_says_so() {
    let profile = TargetProfile {
        pcap_limit: 600,
        ..TargetProfile::reference()
    };
    let o = run_one(&all_configured(), &profile, &RunOptions::default());
    assert_eq!(o.verdict, Verdict::Pass);
    let recorded: usize = o
        .connections
        .iter()
        .flat_map(|c| &c.records)
        .map(|r| match &r.event {
            alq_harness::capture::pcap::TapEvent::FromClient(d)
            | alq_harness::capture::pcap::TapEvent::FromServer(d) => d.len(),
            _ => 0,
        })
        .sum();
    assert!(recorded > 0 && recorded <= 600, "{recorded}");
    assert!(transcript_says(&o, "pcap limit reached"));
}

#[test]
fn an_expect_gives_up_after_the_message_limit() {
    let profile = TargetProfile {
        message_limit: 5,
        ..TargetProfile::reference()
    };
    let o = run_one(&all_configured(), &profile, &RunOptions::default());
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(o
        .findings
        .iter()
        .any(|f| f.requirement == "BLQ-S-26" && f.message.contains("still sending after 5")));
}

/// A bulk query for a MAC the reference has never seen, on connection a.
const UNKNOWN_MAC_QUERY: &str = r#"
[[step]]
connect = {}

[[step]]
send = { type = "BULKLEASEQUERY", xid = 0x51, htype = 1, chaddr = "02:ff:ff:ff:ff:51", prl = [51] }
"#;

fn bulk_scenario(id: &str, covers: &str, steps: &str) -> LoadedScenario {
    scenario(
        id,
        &format!(
            "id = \"{id}\"\ntitle = \"t\"\nrole = \"requestor\"\ncovers = {covers}\nneeds = [\"bulk\"]\n{UNKNOWN_MAC_QUERY}{steps}"
        ),
    )
}

#[test]
fn a_covered_requirement_nothing_judged_is_inconclusive_not_pass() {
    // BLQ-S-18 is judged by the expect that names it; nothing judges
    // LQ-S-02, and no message it is judged on can arrive.
    let l = bulk_scenario(
        "BLQ-S-18-unjudged",
        r#"["BLQ-S-18", "LQ-S-02"]"#,
        "\n[[step]]\nexpect = { type = \"LEASEQUERYDONE\", xid = 0x51, requirement = \"BLQ-S-18\" }\n",
    );
    let o = run_one(&l, &TargetProfile::reference(), &RunOptions::default());
    let verdict_of = |id: &str| {
        o.findings
            .iter()
            .filter(|f| f.requirement == id)
            .map(|f| f.verdict)
            .collect::<Vec<_>>()
    };
    assert_eq!(verdict_of("BLQ-S-18"), [Verdict::Pass], "{:#?}", o.findings);
    assert_eq!(
        verdict_of("LQ-S-02"),
        [Verdict::Inconclusive],
        "{:#?}",
        o.findings
    );
    assert_eq!(o.verdict, Verdict::Inconclusive);
    assert_eq!(alq_harness::run::runner::exit_code(&[o], true), 0);
}

#[test]
fn a_close_is_judged_by_the_first_step_that_finds_it_and_no_later_one() {
    // A message type no leasequery connection carries: the server closes.
    let l = scenario(
        "ALQ-S-16-closed-twice",
        r#"
id = "ALQ-S-16-closed-twice"
title = "t"
role = "requestor"
covers = ["BLQ-S-18", "LQ-S-02", "ALQ-S-45"]
needs = ["bulk"]

[[step]]
connect = {}

[[step]]
send = { type = "DHCPDISCOVER", xid = 0x1601 }

[[step]]
expect = { type = "LEASEQUERYDONE", xid = 0x1601, within = "2s", level = "should", requirement = "BLQ-S-18" }

[[step]]
expect = { type = "LEASEACTIVE", xid = 0x1601, within = "2s", level = "should", requirement = "LQ-S-02" }

[[step]]
expect-silence = { for = "1s", type = "LEASEQUERYDONE", requirement = "ALQ-S-45" }
"#,
    );
    let o = run_one(&l, &TargetProfile::reference(), &RunOptions::default());
    assert_eq!(o.error, None);
    let of = |id: &str| {
        o.findings
            .iter()
            .filter(|f| f.requirement == id)
            .collect::<Vec<_>>()
    };
    let first = of("BLQ-S-18");
    assert_eq!(first.len(), 1, "{:#?}", o.findings);
    // A warning lets the scenario go on to the later steps.
    assert_eq!(first[0].verdict, Verdict::Warn);
    assert!(first[0].message.contains("closed"), "{}", first[0].message);
    for later in ["LQ-S-02", "ALQ-S-45"] {
        let f = of(later);
        assert_eq!(f.len(), 1, "{later}: {:#?}", o.findings);
        assert_eq!(f[0].verdict, Verdict::Inconclusive, "{later}");
        assert!(
            f[0].message.contains("step 3 judged that close"),
            "{}",
            f[0].message
        );
    }
}

#[test]
fn a_step_listing_requirements_makes_each_finding_on_all_of_them() {
    // No binding exists for the MAC: the expected DHCPLEASEACTIVE never comes.
    let l = bulk_scenario(
        "BLQ-S-16-alike",
        r#"["BLQ-S-16", "BLQ-S-19"]"#,
        "\n[[step]]\nexpect = { type = \"LEASEACTIVE\", xid = 0x51, within = \"1s\", requirement = [\"BLQ-S-16\", \"BLQ-S-19\"] }\n",
    );
    let o = run_one(&l, &TargetProfile::reference(), &RunOptions::default());
    for id in ["BLQ-S-16", "BLQ-S-19"] {
        let f = o
            .findings
            .iter()
            .find(|f| f.requirement == id)
            .unwrap_or_else(|| panic!("no finding on {id}: {:#?}", o.findings));
        assert_eq!(f.verdict, Verdict::Fail, "{f:?}");
    }
    let messages: Vec<&str> = o.findings.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(messages.first(), messages.get(1));
}

#[test]
fn requirements_of_different_levels_cannot_be_listed_together() {
    let text = format!(
        "id = \"BLQ-S-16-mixed\"\ntitle = \"t\"\nrole = \"requestor\"\ncovers = [\"BLQ-S-16\"]\n{UNKNOWN_MAC_QUERY}\n[[step]]\nexpect = {{ type = \"LEASEQUERYDONE\", requirement = [\"ALQ-S-26\", \"ALQ-S-19\"] }}\n"
    );
    let err = parse_scenario(&PathBuf::from("mixed.toml"), &text)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("mixed.toml:") && err.contains("'ALQ-S-19'"),
        "{err}"
    );
}

#[test]
fn a_silence_keeping_the_others_leaves_them_for_the_next_step() {
    let steps = |keep: bool| {
        format!(
            "\n[[step]]\nexpect-silence = {{ for = \"1s\", type = \"LEASEACTIVE\", keep-others = {keep}, requirement = \"BLQ-S-19\" }}\n[[step]]\nexpect = {{ type = \"LEASEQUERYDONE\", xid = 0x51, within = \"1s\", requirement = \"BLQ-S-16\" }}\n"
        )
    };
    let kept = bulk_scenario("BLQ-S-16-kept", r#"["BLQ-S-16", "BLQ-S-19"]"#, &steps(true));
    let o = run_one(&kept, &TargetProfile::reference(), &RunOptions::default());
    assert_eq!(o.verdict, Verdict::Pass, "{:#?}", o.findings);
    // Without it the silence passes over the DHCPLEASEQUERYDONE.
    let dropped = bulk_scenario(
        "BLQ-S-16-dropped",
        r#"["BLQ-S-16", "BLQ-S-19"]"#,
        &steps(false),
    );
    let o = run_one(
        &dropped,
        &TargetProfile::reference(),
        &RunOptions::default(),
    );
    assert_eq!(o.verdict, Verdict::Fail, "{:#?}", o.findings);
}

/// An active connection the harness stops reading while `renewals` change
/// one lease, then an `expect-close` allowing `blocked_past` bytes.
fn blocked_send(renewals: usize, blocked_past: &str) -> LoadedScenario {
    scenario(
        "ALQ-S-36-probe",
        &format!(
            r#"
id = "ALQ-S-36-probe"
title = "t"
role = "requestor"
covers = ["ALQ-S-36"]
needs = ["active", "trigger"]

[[step]]
connect = {{ recv-buffer = 2048 }}

[[step]]
send = {{ type = "ACTIVELEASEQUERY", xid = 0x71, prl = [51] }}

[[step]]
wait = {{ for = "SETTLE" }}

[[step]]
pause-reading = {{}}

[[step]]
trigger = {{ bind = 1 }}

[[step]]
trigger = {{ renew = 1, repeat = {renewals} }}

[[step]]
wait = {{ for = "5s" }}

[[step]]
resume-reading = {{}}

[[step]]
expect-close = {{ within = "2s", messages-before = "info", blocked-past = "{blocked_past}", requirement = "ALQ-S-36" }}
"#
        ),
    )
}

#[test]
fn a_close_that_never_came_is_inconclusive_only_while_nothing_shows_the_send_blocked() {
    let profile = TargetProfile::reference();
    // Two changes, both reported, in far fewer bytes than a send buffer:
    // nothing blocked, so ALQ-S-36 is not judged.
    let o = run_one(
        &blocked_send(1, "${send_buffer}"),
        &profile,
        &RunOptions::default(),
    );
    assert_eq!(o.verdict, Verdict::Inconclusive, "{:?}", o.findings);
    assert!(
        o.findings
            .iter()
            .any(|f| f.message.contains("may never have blocked")),
        "{:?}",
        o.findings
    );
    // More bytes than the bound allows: the send must have blocked, and the
    // connection still open is the SHOULD broken.
    let o = run_one(&blocked_send(1, "100"), &profile, &RunOptions::default());
    assert_eq!(o.verdict, Verdict::Warn, "{:?}", o.findings);
    // Fewer replies than changes: the server lost transitions, which it
    // does only while blocked (the 2 KiB pipe fills long before 2,000
    // replies), so the open connection is judged too.
    let o = run_one(
        &blocked_send(2_000, "${send_buffer}"),
        &profile,
        &RunOptions::default(),
    );
    assert_eq!(o.verdict, Verdict::Warn, "{:?}", o.findings);
}

/// The scenario was an error naming the health probe: the target took no
/// part, and none of its requirements got a verdict.
fn assert_probe_error(o: &ScenarioOutcome) {
    assert_eq!(o.verdict, Verdict::Error, "{:#?}", o.findings);
    assert!(
        o.error
            .as_deref()
            .is_some_and(|e| e.starts_with("the target did not answer the health probe")),
        "{:?}",
        o.error
    );
}

/// A TCP target at a port nothing listens on: every connection attempt is
/// answered with a reset; `probe` keeps the health probe.
fn refusing_target(dir: &std::path::Path, probe: bool) -> TargetProfile {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = dir.join("refusing.toml");
    std::fs::write(
        &path,
        format!("name = \"refusing\"\nkind = \"tcp\"\naddress = \"127.0.0.1:{port}\"\nfeatures = [\"bulk\"]\nhealth-probe = {probe}\n"),
    )
    .unwrap();
    TargetProfile::load(&path).unwrap()
}

#[test]
fn a_connection_the_target_refuses_is_no_harness_error_and_no_pass() {
    let dir = tempfile::tempdir().unwrap();
    let profile = refusing_target(dir.path(), false);
    // The query never reached the target: there is no answer to judge.
    let answered = bulk_scenario(
        "BLQ-S-18-refused",
        r#"["BLQ-S-18"]"#,
        "\n[[step]]\nexpect = { type = \"LEASEQUERYDONE\", xid = 0x51, requirement = \"BLQ-S-18\" }\n",
    );
    let o = run_one(&answered, &profile, &RunOptions::default());
    assert_eq!(o.error, None);
    assert_eq!(o.verdict, Verdict::Inconclusive, "{:#?}", o.findings);
    assert!(transcript_says(&o, "refused the connection"));
    // Nor is a close the answer to a query the target never read...
    let closed = |refusal_ok: bool| {
        bulk_scenario(
            "ALQ-S-28-refused",
            r#"["ALQ-S-28"]"#,
            &format!("\n[[step]]\nexpect-close = {{ within = \"1s\", refusal-ok = {refusal_ok}, requirement = \"ALQ-S-28\" }}\n"),
        )
    };
    let o = run_one(&closed(false), &profile, &RunOptions::default());
    assert_eq!(o.error, None, "{:#?}", o.transcript);
    assert_eq!(o.verdict, Verdict::Inconclusive, "{:#?}", o.findings);
    // ...unless a refusal is what the step awaits (a connection over a limit).
    let o = run_one(&closed(true), &profile, &RunOptions::default());
    assert_eq!(o.verdict, Verdict::Pass, "{:#?}", o.findings);
    // With the health probe, a target that refuses everything takes part in
    // no scenario: each is an error naming the probe, none passes.
    let probed = refusing_target(dir.path(), true);
    for s in [answered, closed(true)] {
        assert_probe_error(&run_one(&s, &probed, &RunOptions::default()));
    }
}

/// A TCP target profile whose `[trigger]` table is `trigger`; the server
/// address is never connected to.
fn triggered_target(dir: &std::path::Path, trigger: &str) -> TargetProfile {
    let path = dir.join("triggered.toml");
    std::fs::write(
        &path,
        format!("name = \"triggered\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\nfeatures = [\"bulk\"]\nhealth-probe = false\n\n[trigger]\n{trigger}\n"),
    )
    .unwrap();
    TargetProfile::load(&path).unwrap()
}

fn binding(id: &str) -> LoadedScenario {
    scenario(
        id,
        &format!("id = \"{id}\"\ntitle = \"t\"\nrole = \"requestor\"\ncovers = [\"BLQ-S-18\"]\nneeds = [\"bulk\", \"trigger\"]\n\n[[step]]\nwait = {{ for = \"10ms\" }}\n\n[[step]]\ntrigger = {{ bind = 1 }}\n"),
    )
}

/// What a set-up failure must come to: an error naming the step, and no
/// finding against a requirement.
fn assert_setup_error(o: &ScenarioOutcome, says: &[&str]) {
    assert_eq!(o.verdict, Verdict::Error, "{:#?}", o.findings);
    let error = o.error.clone().unwrap_or_default();
    assert!(error.starts_with("step 2 (trigger): "), "{error}");
    for text in says {
        assert!(error.contains(text), "{error}");
    }
    assert!(
        o.findings
            .iter()
            .all(|f| !matches!(f.verdict, Verdict::Fail | Verdict::Warn)),
        "{:#?}",
        o.findings
    );
}

#[test]
fn a_trigger_command_that_fails_is_an_error_of_its_step_with_its_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let profile = triggered_target(
        dir.path(),
        "kind = \"shell\"\ncommand = \"echo no such pool >&2; exit 3\"",
    );
    let o = run_one(&binding("BLQ-S-18-shell"), &profile, &RunOptions::default());
    assert_setup_error(&o, &["exited with status 3", "no such pool"]);
}

#[test]
fn a_trigger_commands_control_characters_are_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let profile = triggered_target(
        dir.path(),
        r#"kind = "shell"
command = "printf '\\033[31mred\\nnext' >&2; exit 1""#,
    );
    let o = run_one(
        &binding("BLQ-S-18-escapes"),
        &profile,
        &RunOptions::default(),
    );
    assert_setup_error(&o, &[r"\u{1b}[31mred\nnext"]);
    let error = o.error.unwrap_or_default();
    assert!(
        !error.contains('\u{1b}') && !error.contains('\n'),
        "{error:?}"
    );
}

/// A DHCP server on a loopback port that offers 192.0.2.7 and answers every
/// DHCPREQUEST with DHCPNAK; the number of REQUESTs it refused.
fn nakking_server() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use alq_harness::wire::{MessageBuilder, MessageType, RawMessage, Received};
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let nakked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = nakked.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let Ok(msg) = RawMessage::decode(&buf[..n]) else {
                continue;
            };
            let answer = match Received::from_raw(&msg).message_type() {
                Ok(MessageType::Discover) => MessageType::Offer,
                Ok(MessageType::Request) => {
                    count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    MessageType::Nak
                }
                _ => continue,
            };
            let mut reply = MessageBuilder::reply(answer, msg.header.xid).build();
            reply.header.giaddr = msg.header.giaddr;
            if answer == MessageType::Offer {
                reply.header.yiaddr = std::net::Ipv4Addr::new(192, 0, 2, 7);
            }
            let _ = socket.send_to(&reply.encode(), from);
        }
    });
    (addr, nakked)
}

#[test]
fn a_relay_trigger_the_server_keeps_refusing_is_an_error_of_its_step_after_asking_again() {
    let (server, nakked) = nakking_server();
    let dir = tempfile::tempdir().unwrap();
    let profile = triggered_target(
        dir.path(),
        &format!("kind = \"relay\"\ndhcp = \"{server}\"\ngiaddr = \"127.0.0.2\""),
    );
    let o = run_one(&binding("BLQ-S-18-nak"), &profile, &RunOptions::default());
    assert_setup_error(&o, &["DHCPNAK"]);
    assert_eq!(nakked.load(std::sync::atomic::Ordering::Relaxed), 3);
}

/// A secure server on a loopback port that answers DHCPTLS and resets the
/// connection as soon as the TLS handshake starts.
fn resetting_in_handshake() -> std::net::SocketAddr {
    use alq_harness::wire::framing::encode_frame;
    use alq_harness::wire::{MessageBuilder, MessageType, RawMessage};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut len = [0u8; 2];
                if stream.read_exact(&mut len).await.is_err() {
                    continue;
                }
                let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut query).await.is_err() {
                    continue;
                }
                let Ok(query) = RawMessage::decode(&query) else {
                    continue;
                };
                let answer = MessageBuilder::reply(MessageType::Tls, query.header.xid).build();
                let frame = encode_frame(&answer.encode()).unwrap();
                let _ = stream.write_all(&frame).await;
                let mut hello = [0u8; 1];
                let _ = stream.read(&mut hello).await;
                let _ = stream.set_zero_linger();
            }
        });
    });
    addr
}

#[test]
fn a_secure_target_that_resets_in_the_handshake_is_no_harness_error_and_no_pass() {
    let dir = tempfile::tempdir().unwrap();
    alq_harness::net::tls::TestPki::generate()
        .unwrap()
        .write(dir.path())
        .unwrap();
    let path = dir.path().join("secure.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"secure\"\nkind = \"tcp\"\naddress = \"{}\"\nfeatures = [\"bulk\", \"secure\"]\n{}",
            resetting_in_handshake(),
            common::tls_table(dir.path())
        ),
    )
    .unwrap();
    let profile = TargetProfile::load(&path).unwrap();
    let answered = bulk_scenario(
        "BLQ-S-18-reset-in-handshake",
        r#"["BLQ-S-18"]"#,
        "\n[[step]]\nexpect = { type = \"LEASEQUERYDONE\", xid = 0x51, requirement = \"BLQ-S-18\" }\n",
    );
    // The health probe meets the reset first: an error naming it.
    let o = run_one(&answered, &profile, &RunOptions::default());
    assert_probe_error(&o);
    assert!(transcript_says(&o, "during the TLS handshake"));
    // Without the probe the scenario's own connection meets it: no answer
    // to judge, and no pass.
    let unprobed = TargetProfile {
        health_probe: false,
        ..profile
    };
    let o = run_one(&answered, &unprobed, &RunOptions::default());
    assert_eq!(o.error, None, "{:#?}", o.transcript);
    assert_eq!(o.verdict, Verdict::Inconclusive, "{:#?}", o.findings);
    assert!(transcript_says(&o, "during the TLS handshake"));
}

#[test]
fn filters_match_id_tags_and_requirements_ignoring_case() {
    let tagged = waiting("ALQ-S-26-catch-up-example", "tags = [\"catch-up\"]");
    let other = waiting("BLQ-S-18-other", "");
    let all = [tagged, other];
    let ids = |filter: &[&str]| -> Vec<String> {
        let filter: Vec<String> = filter.iter().map(|f| f.to_string()).collect();
        alq_harness::run::runner::selected(&all, &filter)
            .iter()
            .map(|l| l.scenario.id.clone())
            .collect()
    };
    assert_eq!(ids(&["catch"]), ["ALQ-S-26-catch-up-example"]);
    assert_eq!(ids(&["CATCH-UP"]), ["ALQ-S-26-catch-up-example"]);
    assert_eq!(ids(&["OTHER"]), ["BLQ-S-18-other"]);
    // Both cover BLQ-S-18 (what `waiting` writes).
    assert_eq!(ids(&["blq-s-18"]).len(), 2);
    assert_eq!(ids(&[]).len(), 2);
    assert!(ids(&["nothing"]).is_empty());
}
