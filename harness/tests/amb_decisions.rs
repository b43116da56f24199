//! The catalog's decisions on its ambiguities (AMB-nn, docs/
//! leasequery-requirements.md §6), each held to what the harness does: a
//! test here named `amb_NN_…`, a reference variant whose basis names it (the
//! variant matrix proves the legal choice passes), a test elsewhere, or a
//! reason no behaviour of the harness follows from it.
//! `every_ambiguity_is_accounted_for` keeps the lists complete.

use alq_harness::checks::reply::{Arrival, ServerConn};
use alq_harness::checks::request::RequestorConn;
use alq_harness::checks::{self, Broken, Judged, Level};
use alq_harness::outcome::{broken, Verdict};
use alq_harness::reference::variants::Variant;
use alq_harness::wire::options::code;
use alq_harness::wire::{MessageBuilder, MessageType, OptionItem, RawMessage, Received};
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// Decisions applied and tested outside this module: (AMB, file, test).
const ELSEWHERE: &[(&str, &str, &str)] = &[
    (
        "AMB-08",
        "harness/tests/secure_transport.rs",
        "a_dhcptls_success_status_is_a_warning_and_the_scenarios_carry_on",
    ),
    (
        "AMB-10",
        "harness/tests/codec_props.rs",
        "framing_is_independent_of_how_the_stream_is_split",
    ),
    (
        "AMB-13",
        "scenarios/requestor/ALQ-R-10-no-dhcptls-answer.toml",
        "BULK_LQ_DATA_TIMEOUT",
    ),
    (
        "AMB-16",
        "scenarios/server/ALQ-S-40-connection-limit.toml",
        "refusal-ok = true",
    ),
    (
        "AMB-20",
        "scenarios/requestor/ALQ-R-26-duplicates-and-many-replies.toml",
        "duplicate and conflicting updates",
    ),
    (
        "AMB-21",
        "harness/src/reference/faults.rs",
        "BaseTimeFrom1900",
    ),
    (
        "AMB-24",
        "harness/src/run/judge.rs",
        "not_before_counts_from_the_step_or_from_the_last_message_when_idle",
    ),
];

/// Ambiguities from which no behaviour of the harness follows, and why.
const NOTHING_TO_APPLY: &[(&str, &str)] = &[
    ("AMB-02", "a dangling section reference in the RFC text"),
    ("AMB-03", "wrong nouns in the RFC text; the evident meaning is used"),
    ("AMB-04", "spelling slips in the RFC text; no new message types"),
    ("AMB-05", "two names of option 151"),
    (
        "AMB-23",
        "the harness sends base-times in increasing order only (BLQ-R-05), where the highest and the most recent agree",
    ),
    ("AMB-33", "DHCPv6 numbers: the codec has only the DHCPv4 table"),
    ("AMB-34", "Wireshark's decoding is never the oracle"),
];

const ACTIVE: ServerConn<'static> = ServerConn {
    active: true,
    catch_up_asked: false,
    first_of_xid: false,
    granted: None,
    sent_xids: &[7],
    requested: &[code::LEASE_TIME],
    repeated: false,
    after_done: false,
    arrival: None,
};

fn from_server(msg: &RawMessage, conn: &ServerConn<'_>) -> Vec<Broken> {
    checks::server_message(&Received::from_raw(msg), conn, &mut Judged::default())
}

fn on(requirement: &str, broken: &[Broken]) -> Vec<Level> {
    broken
        .iter()
        .filter(|b| b.requirement == requirement)
        .map(|b| b.level)
        .collect()
}

fn reply(kind: MessageType) -> MessageBuilder {
    MessageBuilder::reply(kind, 7).ciaddr(Ipv4Addr::new(192, 0, 2, 9))
}

#[test]
fn amb_01_done_on_an_active_connection_is_a_warning() {
    let done = MessageBuilder::reply(MessageType::LeaseQueryDone, 7).build();
    assert_eq!(
        on("ALQ-S-45", &from_server(&done, &ACTIVE)),
        [Level::Should]
    );
    let status = MessageBuilder::reply(MessageType::LeaseQueryStatus, 7).build();
    assert!(on("ALQ-S-45", &from_server(&status, &ACTIVE)).is_empty());
}

#[test]
fn amb_06_lower_case_obligations_warn_and_fail_only_when_strict() {
    // ALQ-S-45 is a lower-case "must" in the catalog.
    assert_eq!(broken("ALQ-S-45", None, false), Verdict::Warn);
    assert_eq!(broken("ALQ-S-45", None, true), Verdict::Fail);
    assert_eq!(broken("ALQ-S-26", None, false), Verdict::Fail);
}

#[test]
fn amb_07_a_dhcptls_carries_only_its_message_type() {
    let query = MessageBuilder::request(MessageType::Tls, 9).build();
    let decoded = Received::from_raw(&query);
    let codes: Vec<u8> = decoded.tlvs().map(|(c, _)| c).collect();
    assert_eq!(codes, [code::MESSAGE_TYPE]);
    let conn = RequestorConn {
        xids: &HashSet::new(),
        after_active: false,
    };
    assert_eq!(
        checks::requestor_message(&decoded, &conn, &mut Judged::default()),
        []
    );
}

#[test]
fn amb_09_a_server_message_with_op_1_is_a_warning() {
    let request_op = MessageBuilder::request(MessageType::LeaseQueryStatus, 7).build();
    assert_eq!(
        on("WIRE-06", &from_server(&request_op, &ACTIVE)),
        [Level::Should]
    );
    let reply_op = MessageBuilder::reply(MessageType::LeaseQueryStatus, 7).build();
    assert!(on("WIRE-06", &from_server(&reply_op, &ACTIVE)).is_empty());
}

#[test]
fn amb_11_the_harness_offers_tls_1_2_and_1_3_only() {
    let offered: Vec<_> = alq_harness::net::tls::ALL_VERSIONS
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(
        offered,
        [
            rustls::ProtocolVersion::TLSv1_3,
            rustls::ProtocolVersion::TLSv1_2
        ]
    );
}

#[test]
fn amb_14_a_server_takes_bulk_active_and_dhcptls_only() {
    for n in 0..=u8::MAX {
        let kind = MessageType::from_u8(n);
        let allowed = matches!(
            kind,
            MessageType::BulkLeaseQuery | MessageType::ActiveLeaseQuery | MessageType::Tls
        );
        assert_eq!(kind.allowed_from_requestor(), allowed, "type {n}");
    }
}

#[test]
fn amb_26_lease_time_in_an_unassigned_needs_a_timed_state() {
    let lease_time = OptionItem::tlv(code::LEASE_TIME, vec![0, 0, 0, 60]);
    let bare = reply(MessageType::LeaseUnassigned)
        .item(lease_time.clone())
        .build();
    assert_eq!(on("LQ-S-03", &from_server(&bare, &ACTIVE)), [Level::Should]);
    // dhcp-state 4 (EXPIRED) runs a timer.
    let expired = reply(MessageType::LeaseUnassigned)
        .item(lease_time)
        .item(OptionItem::tlv(code::DHCP_STATE, vec![4]))
        .build();
    assert!(on("LQ-S-03", &from_server(&expired, &ACTIVE)).is_empty());
}

#[test]
fn amb_27_only_the_low_bit_of_data_source_means_remote() {
    use alq_harness::wire::types::DataSource;
    assert!(DataSource(0x01).remote());
    assert!(!DataSource(0x02).remote());
    assert!(DataSource(0x03).remote());
    let other_bits = reply(MessageType::LeaseActive)
        .item(OptionItem::tlv(code::DATA_SOURCE, vec![0x02]))
        .build();
    assert!(on("BLQ-S-10", &from_server(&other_bits, &ACTIVE)).is_empty());
}

#[test]
fn amb_28_dhcp_state_0_and_above_8_are_warnings() {
    for state in [0u8, 9, 255] {
        let msg = reply(MessageType::LeaseUnassigned)
            .item(OptionItem::tlv(code::DHCP_STATE, vec![state]))
            .build();
        assert_eq!(
            on("BLQ-S-07", &from_server(&msg, &ACTIVE)),
            [Level::Should],
            "dhcp-state {state}"
        );
    }
    let available = reply(MessageType::LeaseUnassigned)
        .item(OptionItem::tlv(code::DHCP_STATE, vec![1]))
        .build();
    assert!(on("BLQ-S-07", &from_server(&available, &ACTIVE)).is_empty());
}

#[test]
fn amb_29_two_primary_keys_are_answered_with_not_allowed() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios/server/BLQ-S-21-two-primary-keys-not-allowed.toml"),
    )
    .unwrap_or_default();
    assert!(text.contains("status = \"NotAllowed\""), "{text}");
    assert!(!text.contains("MalformedQuery"), "{text}");
}

#[test]
fn amb_32_244_octets_pass_and_a_missing_end_is_a_warning() {
    let msg = MessageBuilder::reply(MessageType::LeaseQueryDone, 7).build();
    assert!(on("WIRE-01", &from_server(&msg, &ACTIVE)).is_empty());
    let no_end = MessageBuilder::reply(MessageType::LeaseQueryDone, 7).build_without_end();
    let broken = from_server(&no_end, &ACTIVE);
    assert_eq!(on("WIRE-04", &broken), [Level::Should]);
}

#[test]
fn amb_18_the_first_message_for_an_active_query_carries_the_server_id_or_warns() {
    let first = ServerConn {
        first_of_xid: true,
        ..ACTIVE
    };
    let keepalive = MessageBuilder::reply(MessageType::LeaseQueryStatus, 7)
        .item(OptionItem::tlv(code::STATUS_CODE, vec![6]))
        .build();
    assert_eq!(
        on("BLQ-S-14", &from_server(&keepalive, &first)),
        [Level::Should]
    );
    let with_id = MessageBuilder::reply(MessageType::LeaseQueryStatus, 7)
        .item(OptionItem::tlv(code::STATUS_CODE, vec![6]))
        .item(OptionItem::tlv(code::SERVER_ID, vec![192, 0, 2, 1]))
        .build();
    assert!(on("BLQ-S-14", &from_server(&with_id, &first)).is_empty());
    // Later messages for the xid are not asked for it.
    assert!(on("BLQ-S-14", &from_server(&keepalive, &ACTIVE)).is_empty());
}

#[test]
fn amb_19_catch_up_complete_without_a_query_start_time_is_a_warning() {
    let complete = MessageBuilder::reply(MessageType::LeaseQueryStatus, 7)
        .item(OptionItem::tlv(code::STATUS_CODE, vec![7]))
        .build();
    assert_eq!(
        on("ALQ-S-26", &from_server(&complete, &ACTIVE)),
        [Level::Should]
    );
    let asked = ServerConn {
        catch_up_asked: true,
        ..ACTIVE
    };
    assert!(on("ALQ-S-26", &from_server(&complete, &asked)).is_empty());
}

#[test]
fn amb_30_every_query_the_harness_writes_carries_a_parameter_request_list() {
    use alq_harness::scenario::model::Step;
    // Scenarios that write a query's options byte by byte to test
    // something else.
    const RAW: &[&str] = &["BLQ-S-32-truncated-option"];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let scenarios = alq_harness::scenario::load::load_dir(&dir).unwrap_or_default();
    assert!(scenarios.len() > 60);
    let mut queries = 0;
    for l in scenarios
        .iter()
        .filter(|l| !RAW.contains(&l.scenario.id.as_str()))
    {
        for step in &l.scenario.steps {
            let Step::Send(send) = step else { continue };
            let query = send.kind.is_some_and(|k| {
                matches!(
                    k.0,
                    MessageType::BulkLeaseQuery | MessageType::ActiveLeaseQuery
                )
            });
            if query {
                queries += 1;
                assert!(
                    send.prl.is_some(),
                    "{}: a query without a PRL",
                    l.scenario.id
                );
            }
        }
    }
    assert!(queries > 50, "{queries}");
}

#[test]
fn amb_22_relative_times_allow_the_declared_skew() {
    // A client-last-transaction-time is measured from base-time when there
    // is one: a base-time a second off the harness's clock is no finding.
    let at = 1_800_000_000u32;
    let conn = ServerConn {
        arrival: Some(Arrival {
            at,
            opened: at,
            skew: 2,
        }),
        requested: &[code::BASE_TIME],
        ..ACTIVE
    };
    let msg = reply(MessageType::LeaseActive)
        .item(OptionItem::tlv(
            code::BASE_TIME,
            (at + 1).to_be_bytes().to_vec(),
        ))
        .build();
    assert!(on("ALQ-S-30", &from_server(&msg, &conn)).is_empty());
    let far = reply(MessageType::LeaseActive)
        .item(OptionItem::tlv(
            code::BASE_TIME,
            (at + 60).to_be_bytes().to_vec(),
        ))
        .build();
    assert_eq!(on("ALQ-S-30", &from_server(&far, &conn)), [Level::Must]);
}

/// The AMB ids of the catalog's §6, in order.
fn catalog_ambiguities() -> Vec<String> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/leasequery-requirements.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut ids: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- **AMB-"))
        .filter_map(|rest| rest.get(..2))
        .map(|n| format!("AMB-{n}"))
        .collect();
    ids.dedup();
    ids
}

#[test]
fn every_ambiguity_is_accounted_for() {
    let ambiguities = catalog_ambiguities();
    assert!(ambiguities.len() >= 34, "{ambiguities:?}");
    let here = include_str!("amb_decisions.rs");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for id in &ambiguities {
        let n = id.trim_start_matches("AMB-");
        let tested = here.contains(&format!("fn amb_{n}_"));
        let by_variant = Variant::ALL
            .iter()
            .any(|v| v.basis().split([',', ' ']).any(|part| part == id.as_str()));
        let elsewhere = ELSEWHERE
            .iter()
            .find(|(a, ..)| a == id)
            .map(|(_, file, what)| {
                let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
                assert!(text.contains(what), "{id}: {file} has no {what}");
            });
        let nothing = NOTHING_TO_APPLY.iter().any(|(a, _)| a == id);
        assert!(
            tested || by_variant || elsewhere.is_some() || nothing,
            "{id}: no test, variant or reason accounts for the catalog's decision"
        );
    }
    let listed = ELSEWHERE
        .iter()
        .map(|(id, ..)| *id)
        .chain(NOTHING_TO_APPLY.iter().map(|(id, _)| *id));
    for id in listed {
        assert!(
            ambiguities.iter().any(|a| a == id),
            "{id} is not in the catalog"
        );
    }
}
