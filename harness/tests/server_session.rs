//! The sans-IO server session, driven without sockets: bytes and time in,
//! outputs out (RFC 7724 §8, RFC 6926 §8).

use alq_harness::reference::leases::{Client, LeaseStore};
use alq_harness::reference::server::{
    CloseReason, Output, ServerConfig, ServerMode, ServerSession,
};
use alq_harness::wire::framing::encode_frame;
use alq_harness::wire::options::code;
use alq_harness::wire::{
    DhcpOption, DhcpState, FrameDecoder, MessageBuilder, MessageType, OptionItem, RawMessage,
    Received, RelayAgentInfo, StatusCode,
};
use bytes::Bytes;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

const EPOCH0: u32 = 1_800_000_000;
const PRL: &[u8] = &[51, 61, 82, 91, 152, 153, 156, 157, 92];

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn addr(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, i)
}

struct Rig {
    session: ServerSession,
    store: LeaseStore,
    now: Duration,
    decoder: FrameDecoder,
    closed: Option<CloseReason>,
    tls_started: bool,
}

impl Rig {
    fn new(mode: ServerMode) -> Self {
        Self::with(
            ServerConfig {
                mode,
                ..ServerConfig::default()
            },
            64,
        )
    }

    fn with(config: ServerConfig, history: usize) -> Self {
        let store = LeaseStore::new((10..26).map(addr), history, 3600, EPOCH0);
        Rig {
            session: ServerSession::new(Arc::new(config), Duration::ZERO),
            store,
            now: Duration::ZERO,
            decoder: FrameDecoder::new(),
            closed: None,
            tls_started: false,
        }
    }

    fn epoch(&self) -> u32 {
        EPOCH0 + self.now.as_secs() as u32
    }

    fn bind(&mut self, last: u8, remote: &[u8]) -> Ipv4Addr {
        let client = Client {
            htype: 1,
            chaddr: vec![2, 0, 0, 0, 0, last],
            client_id: Some(Bytes::from(vec![1, 2, 0, 0, 0, 0, last])),
            relay_info: Some(
                RelayAgentInfo::default()
                    .with(1, Bytes::from(format!("port-{last}")))
                    .with(2, Bytes::copy_from_slice(remote))
                    .with(12, &b"relay-1"[..]),
            ),
            options: Vec::new(),
        };
        let epoch = self.epoch();
        self.store.bind(None, client, epoch).unwrap()
    }

    fn send(&mut self, msg: &RawMessage) {
        self.send_bytes(&encode_frame(&msg.encode()).unwrap());
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        let epoch = self.epoch();
        self.session
            .handle_input(self.now, bytes, &self.store, epoch);
    }

    /// Everything the session sends now, with every write completing at once.
    fn drain(&mut self) -> Vec<Received> {
        let mut out = Vec::new();
        loop {
            let epoch = self.epoch();
            match self.session.poll_output(self.now, &self.store, epoch) {
                Some(Output::Transmit(bytes)) => {
                    for f in self.decoder.decode(&bytes) {
                        out.push(Received::decode(f.unwrap().payload).unwrap());
                    }
                    self.session.on_write_completed(self.now);
                }
                Some(Output::StartTls) => self.tls_started = true,
                Some(Output::Close(reason)) => {
                    self.closed = Some(reason);
                    break;
                }
                None => break,
            }
        }
        out
    }

    /// Moves time on to `until`, firing every deadline on the way.
    fn advance(&mut self, until: Duration) -> Vec<Received> {
        let mut out = self.drain();
        while let Some(deadline) = self.session.poll_timeout() {
            if deadline > until || self.closed.is_some() {
                break;
            }
            self.now = deadline.max(self.now);
            let epoch = self.epoch();
            self.session.handle_timeout(self.now, epoch);
            out.extend(self.drain());
        }
        self.now = until.max(self.now);
        out
    }
}

fn active_query(xid: u32) -> MessageBuilder {
    MessageBuilder::request(MessageType::ActiveLeaseQuery, xid)
        .option(DhcpOption::ParameterRequestList(PRL.to_vec()))
}

fn bulk_query(xid: u32) -> MessageBuilder {
    MessageBuilder::request(MessageType::BulkLeaseQuery, xid)
        .option(DhcpOption::ParameterRequestList(PRL.to_vec()))
}

fn kinds(msgs: &[Received]) -> Vec<MessageType> {
    msgs.iter().map(|m| m.message_type().unwrap()).collect()
}

fn status(m: &Received) -> Option<StatusCode> {
    m.status().unwrap().map(|s| s.code)
}

#[test]
fn bulk_query_by_mac_returns_that_clients_lease_then_done() {
    let mut rig = Rig::new(ServerMode::BulkOnly);
    let a = rig.bind(1, b"r-A");
    rig.bind(2, b"r-B");
    rig.send(&bulk_query(7).hardware(1, &[2, 0, 0, 0, 0, 1]).build());
    let out = rig.drain();
    assert_eq!(
        kinds(&out),
        [MessageType::LeaseActive, MessageType::LeaseQueryDone]
    );
    assert_eq!(out[0].header().ciaddr, a);
    assert_eq!(out[0].header().xid, 7);
    assert_eq!(out[0].server_id(), Ok(Some(Ipv4Addr::LOCALHOST)));
    assert_eq!(
        out[1].server_id(),
        Ok(None),
        "server-id only in the first reply"
    );
    assert_eq!(status(&out[1]), None);
    assert!(out
        .iter()
        .all(|m| m.option(code::ASSOCIATED_IP) == Ok(None)));
    assert_eq!(out[0].base_time(), Ok(Some(EPOCH0)));
    assert_eq!(out[0].dhcp_state(), Ok(Some(DhcpState::Active)));
    assert_eq!(out[0].header().op, 2);
}

#[test]
fn bulk_queries_by_client_id_remote_id_and_relay_id() {
    let mut rig = Rig::new(ServerMode::BulkOnly);
    let a = rig.bind(1, b"r-A");
    let b = rig.bind(2, b"r-B");
    let c = rig.bind(3, b"r-A");
    let cases: Vec<(RawMessage, Vec<Ipv4Addr>)> = vec![
        (
            bulk_query(1)
                .option(DhcpOption::ClientId(Bytes::from_static(&[
                    1, 2, 0, 0, 0, 0, 2,
                ])))
                .build(),
            vec![b],
        ),
        (
            bulk_query(2)
                .option(DhcpOption::RelayAgentInfo(
                    RelayAgentInfo::default().with(2, &b"r-A"[..]),
                ))
                .build(),
            vec![a, c],
        ),
        (
            bulk_query(3)
                .option(DhcpOption::RelayAgentInfo(
                    RelayAgentInfo::default().with(12, &b"relay-1"[..]),
                ))
                .build(),
            vec![a, b, c],
        ),
    ];
    for (query, expected) in cases {
        rig.send(&query);
        let out = rig.drain();
        let (last, data) = out.split_last().unwrap();
        assert_eq!(last.message_type(), Ok(MessageType::LeaseQueryDone));
        let got: Vec<Ipv4Addr> = data.iter().map(|m| m.ciaddr()).collect();
        assert_eq!(got, expected);
        assert!(data.iter().all(|m| m.xid() == query.header.xid));
    }
}

#[test]
fn all_configured_query_reports_every_address_once() {
    let mut rig = Rig::new(ServerMode::BulkOnly);
    rig.bind(1, b"r");
    rig.bind(2, b"r");
    rig.send(&bulk_query(9).build());
    let out = rig.drain();
    assert_eq!(out.len(), 17);
    let active = out
        .iter()
        .filter(|m| m.message_type() == Ok(MessageType::LeaseActive))
        .count();
    let unassigned = out
        .iter()
        .filter(|m| m.message_type() == Ok(MessageType::LeaseUnassigned))
        .count();
    assert_eq!((active, unassigned), (2, 14));
    let mut addrs: Vec<_> = out[..16].iter().map(|m| m.ciaddr()).collect();
    addrs.dedup();
    assert_eq!(addrs.len(), 16);
    for m in &out[..16] {
        if m.message_type() == Ok(MessageType::LeaseUnassigned) {
            assert_eq!(m.dhcp_state(), Ok(Some(DhcpState::Available)));
            assert_eq!(m.lease_time(), Ok(None));
        }
    }
}

#[test]
fn bulk_query_window_selects_bindings_changed_inside_it() {
    let mut rig = Rig::new(ServerMode::BulkOnly);
    let a = rig.bind(1, b"r");
    rig.now = secs(10);
    let b = rig.bind(2, b"r");
    rig.send(
        &bulk_query(1)
            .option(DhcpOption::QueryStartTime(EPOCH0 + 5))
            .build(),
    );
    let out = rig.drain();
    assert_eq!(out.iter().map(|m| m.ciaddr()).collect::<Vec<_>>()[..1], [b]);
    rig.send(
        &bulk_query(2)
            .option(DhcpOption::QueryEndTime(EPOCH0 + 5))
            .build(),
    );
    let out = rig.drain();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].header().ciaddr, a);
}

#[test]
fn several_bulk_queries_on_one_connection_each_end_in_their_own_done() {
    let mut rig = Rig::new(ServerMode::BulkOnly);
    rig.bind(1, b"r");
    let mut bytes = encode_frame(
        &bulk_query(0x10)
            .hardware(1, &[2, 0, 0, 0, 0, 1])
            .build()
            .encode(),
    )
    .unwrap();
    bytes.extend(
        encode_frame(
            &bulk_query(0x11)
                .hardware(1, &[2, 0, 0, 0, 0, 9])
                .build()
                .encode(),
        )
        .unwrap(),
    );
    rig.send_bytes(&bytes);
    let out = rig.drain();
    let seen: Vec<(MessageType, u32)> = out
        .iter()
        .map(|m| (m.message_type().unwrap(), m.xid()))
        .collect();
    assert_eq!(
        seen,
        [
            (MessageType::LeaseActive, 0x10),
            (MessageType::LeaseQueryDone, 0x10),
            (MessageType::LeaseQueryDone, 0x11)
        ]
    );
    assert_eq!(
        out[2].server_id(),
        Ok(Some(Ipv4Addr::LOCALHOST)),
        "a lone DONE is a first reply"
    );
    assert!(rig.closed.is_none());
}

#[test]
fn malformed_bulk_queries_get_done_with_the_catalogued_status() {
    let mut rig = Rig::new(ServerMode::BulkOnly);
    let cases: Vec<(RawMessage, StatusCode)> = vec![
        (
            bulk_query(1).ciaddr(addr(10)).build(),
            StatusCode::MalformedQuery,
        ),
        (
            bulk_query(2)
                .hardware(1, &[2, 0, 0, 0, 0, 1])
                .option(DhcpOption::ClientId(Bytes::from_static(&[1, 2])))
                .build(),
            StatusCode::NotAllowed,
        ),
        (
            bulk_query(3)
                .option(DhcpOption::RelayAgentInfo(
                    RelayAgentInfo::default()
                        .with(2, &b"x"[..])
                        .with(12, &b"y"[..]),
                ))
                .build(),
            StatusCode::NotAllowed,
        ),
        (
            bulk_query(4)
                .item(OptionItem::tlv(154, vec![1, 2, 3]))
                .build(),
            StatusCode::MalformedQuery,
        ),
        (
            bulk_query(5)
                .item(OptionItem::Raw(Bytes::from_static(&[154, 9, 1])))
                .build_without_end(),
            StatusCode::MalformedQuery,
        ),
    ];
    for (query, expected) in cases {
        rig.send(&query);
        let out = rig.drain();
        assert_eq!(out.len(), 1, "{query:?}");
        assert_eq!(out[0].message_type(), Ok(MessageType::LeaseQueryDone));
        assert_eq!(status(&out[0]), Some(expected));
        assert_eq!(out[0].header().xid, query.header.xid);
    }
    assert!(
        rig.closed.is_none(),
        "a failed bulk query keeps the connection"
    );
}

#[test]
fn unsupported_message_types_close_the_connection() {
    for t in [1u8, 3, 8, 10, 11, 12, 13, 15, 17, 19, 255] {
        let mut rig = Rig::new(ServerMode::Insecure);
        rig.send(&MessageBuilder::request(MessageType::from_u8(t), 1).build());
        let out = rig.drain();
        assert!(out.is_empty(), "type {t}: no reply");
        assert_eq!(
            rig.closed,
            Some(CloseReason::Unsupported(Some(MessageType::from_u8(t))))
        );
    }
    let mut rig = Rig::new(ServerMode::Insecure);
    let mut no_type = MessageBuilder::request(MessageType::ActiveLeaseQuery, 1).build();
    no_type.options.remove(0);
    rig.send(&no_type);
    assert!(rig.drain().is_empty());
    assert_eq!(rig.closed, Some(CloseReason::Unsupported(None)));
}

#[test]
fn a_bulk_only_server_closes_on_an_active_query() {
    let mut rig = Rig::new(ServerMode::BulkOnly);
    rig.send(&active_query(1).build());
    assert!(rig.drain().is_empty());
    assert_eq!(
        rig.closed,
        Some(CloseReason::Unsupported(Some(
            MessageType::ActiveLeaseQuery
        )))
    );
}

#[test]
fn dhcptls_is_refused_in_insecure_mode_and_accepted_in_secure_mode() {
    let mut rig = Rig::new(ServerMode::Insecure);
    rig.send(
        &MessageBuilder::request(MessageType::Tls, 0x77)
            .option(DhcpOption::ParameterRequestList(vec![1]))
            .build(),
    );
    let out = rig.drain();
    assert_eq!(kinds(&out), [MessageType::Tls]);
    assert_eq!(out[0].header().xid, 0x77);
    assert_eq!(status(&out[0]), Some(StatusCode::TlsConnectionRefused));
    assert!(!rig.tls_started);

    let mut rig = Rig::new(ServerMode::Secure);
    rig.send(&MessageBuilder::request(MessageType::Tls, 0x78).build());
    let out = rig.drain();
    assert_eq!(kinds(&out), [MessageType::Tls]);
    assert_eq!(out[0].status(), Ok(None));
    assert!(rig.tls_started);
    rig.session.on_tls_established(rig.now);
    rig.send(&active_query(5).build());
    assert!(rig.closed.is_none());
}

#[test]
fn secure_mode_closes_a_connection_that_skips_tls() {
    let mut rig = Rig::new(ServerMode::Secure);
    rig.bind(1, b"r");
    rig.send(&active_query(1).build());
    assert!(rig.drain().is_empty());
    assert_eq!(rig.closed, Some(CloseReason::NotTls));
}

#[test]
fn secure_mode_closes_at_once_on_cleartext_read_with_dhcptls() {
    // The cleartext is a whole message or the start of one: either way it
    // is where the ClientHello must come, and nothing waits for a handshake.
    for tail in [
        encode_frame(&active_query(2).build().encode()).unwrap(),
        b"\x00\x10GET".to_vec(),
    ] {
        let mut rig = Rig::new(ServerMode::Secure);
        let mut bytes = encode_frame(
            &MessageBuilder::request(MessageType::Tls, 0x79)
                .build()
                .encode(),
        )
        .unwrap();
        bytes.extend_from_slice(&tail);
        rig.send_bytes(&bytes);
        assert!(rig.drain().is_empty());
        assert!(!rig.tls_started);
        assert_eq!(
            rig.closed,
            Some(CloseReason::Malformed(
                "cleartext bytes after DHCPTLS".into()
            ))
        );
    }
}

#[test]
fn live_updates_flow_and_keepalives_fill_idle_minutes() {
    let mut rig = Rig::new(ServerMode::Insecure);
    rig.send(&active_query(0x51).build());
    assert!(
        rig.drain().is_empty(),
        "no catch-up without query-start-time"
    );
    rig.now = secs(1);
    let a = rig.bind(1, b"r");
    let out = rig.drain();
    assert_eq!(kinds(&out), [MessageType::LeaseActive]);
    assert_eq!(out[0].header().ciaddr, a);
    assert_eq!(out[0].server_id(), Ok(Some(Ipv4Addr::LOCALHOST)));
    let out = rig.advance(secs(150));
    assert_eq!(out.len(), 2, "keepalives at 61 s and 121 s");
    for m in &out {
        assert_eq!(m.message_type(), Ok(MessageType::LeaseQueryStatus));
        assert_eq!(status(m), Some(StatusCode::ConnectionActive));
        assert_eq!(m.xid(), 0x51);
        assert_eq!(m.server_id(), Ok(None));
    }
    assert!(out
        .iter()
        .all(|m| m.message_type() != Ok(MessageType::LeaseQueryDone)));
}

#[test]
fn catch_up_replays_changes_then_catch_up_complete() {
    let mut rig = Rig::new(ServerMode::Insecure);
    rig.now = secs(10);
    let a = rig.bind(1, b"r");
    let b = rig.bind(2, b"r");
    rig.now = secs(20);
    rig.store.release(a, rig.epoch()).unwrap();
    rig.send(
        &active_query(3)
            .option(DhcpOption::QueryStartTime(EPOCH0 + 5))
            .build(),
    );
    let out = rig.drain();
    assert_eq!(
        kinds(&out),
        [
            MessageType::LeaseUnassigned,
            MessageType::LeaseActive,
            MessageType::LeaseQueryStatus
        ]
    );
    assert_eq!(
        out[0].header().ciaddr,
        a,
        "the released address, reported once in its current state"
    );
    assert_eq!(out[0].dhcp_state(), Ok(Some(DhcpState::Released)));
    assert_eq!(out[1].header().ciaddr, b);
    assert_eq!(status(&out[2]), Some(StatusCode::CatchUpComplete));
    assert_eq!(
        out.iter()
            .filter(|m| m.server_id() == Ok(Some(Ipv4Addr::LOCALHOST)))
            .count(),
        1
    );
}

#[test]
fn data_missing_for_a_start_time_older_than_the_history() {
    let mut rig = Rig::new(ServerMode::Insecure);
    rig.now = secs(30);
    rig.send(
        &active_query(4)
            .option(DhcpOption::QueryStartTime(1))
            .build(),
    );
    let out = rig.drain();
    assert_eq!(kinds(&out), [MessageType::LeaseQueryStatus]);
    assert_eq!(status(&out[0]), Some(StatusCode::DataMissing));
    assert_eq!(out[0].base_time(), Ok(Some(EPOCH0 + 30)));
    rig.now = secs(31);
    rig.bind(1, b"r");
    let out = rig.drain();
    assert_eq!(
        kinds(&out),
        [MessageType::LeaseActive],
        "live updates go on"
    );
    assert!(rig.closed.is_none());
}

#[test]
fn data_missing_when_history_ages_out_during_catch_up() {
    let mut rig = Rig::with(
        ServerConfig {
            mode: ServerMode::Insecure,
            ..ServerConfig::default()
        },
        4,
    );
    rig.now = secs(5);
    for i in 1..=4 {
        rig.bind(i, b"r");
    }
    rig.send(
        &active_query(8)
            .option(DhcpOption::QueryStartTime(EPOCH0 + 1))
            .build(),
    );
    // The requestor reads one message, then stalls while the history moves on.
    let epoch = rig.epoch();
    let first = rig.session.poll_output(rig.now, &rig.store, epoch);
    assert!(matches!(first, Some(Output::Transmit(_))));
    for i in 5..=8 {
        rig.bind(i, b"r");
    }
    rig.session.on_write_completed(rig.now);
    let out = rig.drain();
    let statuses: Vec<StatusCode> = out.iter().filter_map(status).collect();
    assert_eq!(statuses, [StatusCode::DataMissing]);
    let missing = out
        .iter()
        .find(|m| status(m) == Some(StatusCode::DataMissing))
        .unwrap();
    assert_eq!(missing.base_time(), Ok(Some(rig.epoch())));
    assert_eq!(
        out.iter()
            .filter(|m| m.message_type() == Ok(MessageType::LeaseActive))
            .count(),
        4,
        "the live changes are still sent"
    );
}

#[test]
fn query_end_time_in_an_active_query_is_malformed_then_close() {
    let mut rig = Rig::new(ServerMode::Insecure);
    rig.send(
        &active_query(6)
            .option(DhcpOption::QueryStartTime(EPOCH0))
            .option(DhcpOption::QueryEndTime(EPOCH0 + 9))
            .build(),
    );
    let out = rig.drain();
    assert_eq!(kinds(&out), [MessageType::LeaseQueryStatus]);
    assert_eq!(status(&out[0]), Some(StatusCode::MalformedQuery));
    assert_eq!(
        rig.closed,
        Some(CloseReason::QueryFailed(StatusCode::MalformedQuery))
    );
}

#[test]
fn active_query_with_client_fields_is_malformed_then_close() {
    for query in [
        active_query(1).ciaddr(addr(10)).build(),
        active_query(2).hardware(1, &[2, 0, 0, 0, 0, 1]).build(),
        active_query(3)
            .option(DhcpOption::ClientId(Bytes::from_static(&[1, 2])))
            .build(),
        active_query(4)
            .item(OptionItem::tlv(154, vec![0, 0, 1]))
            .build(),
    ] {
        let mut rig = Rig::new(ServerMode::Insecure);
        rig.send(&query);
        let out = rig.drain();
        assert_eq!(out.len(), 1);
        assert_eq!(status(&out[0]), Some(StatusCode::MalformedQuery));
        assert!(matches!(rig.closed, Some(CloseReason::QueryFailed(_))));
    }
}

#[test]
fn a_second_query_on_an_active_connection_is_refused_then_close() {
    let mut rig = Rig::new(ServerMode::Insecure);
    rig.send(&active_query(1).build());
    rig.drain();
    rig.send(&bulk_query(2).build());
    let out = rig.drain();
    assert_eq!(status(&out[0]), Some(StatusCode::NotAllowed));
    assert_eq!(out[0].header().xid, 1);
    assert!(rig.closed.is_some());
}

#[test]
fn blocked_send_closes_after_active_lq_send_timeout() {
    let mut rig = Rig::new(ServerMode::Insecure);
    rig.send(&active_query(1).build());
    rig.drain();
    rig.now = secs(2);
    rig.bind(1, b"r");
    let epoch = rig.epoch();
    assert!(matches!(
        rig.session.poll_output(rig.now, &rig.store, epoch),
        Some(Output::Transmit(_))
    ));
    // The write never completes.
    assert_eq!(rig.session.poll_timeout(), Some(secs(122)));
    rig.session.handle_timeout(secs(121), epoch);
    assert_eq!(rig.session.poll_output(secs(121), &rig.store, epoch), None);
    rig.session.handle_timeout(secs(122), epoch);
    assert_eq!(
        rig.session.poll_output(secs(122), &rig.store, epoch),
        Some(Output::Close(CloseReason::SendBlocked))
    );
}

#[test]
fn after_a_blocked_period_only_current_state_is_sent() {
    let mut rig = Rig::new(ServerMode::Insecure);
    rig.send(&active_query(1).build());
    rig.drain();
    let a = rig.bind(1, b"r");
    let epoch = rig.epoch();
    assert!(matches!(
        rig.session.poll_output(rig.now, &rig.store, epoch),
        Some(Output::Transmit(_))
    ));
    // Blocked: the address is renewed, released and bound again meanwhile.
    rig.now = secs(30);
    rig.store.renew(a, rig.epoch()).unwrap();
    rig.store.release(a, rig.epoch()).unwrap();
    let b = rig.bind(2, b"r");
    rig.bind(1, b"r");
    rig.session.on_write_completed(rig.now);
    let out = rig.drain();
    let seen: Vec<(Ipv4Addr, MessageType)> = out
        .iter()
        .map(|m| (m.ciaddr(), m.message_type().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [(a, MessageType::LeaseActive), (b, MessageType::LeaseActive)]
    );
}

#[test]
fn read_stall_closes_after_bulk_lq_data_timeout() {
    let mut rig = Rig::new(ServerMode::Insecure);
    rig.send_bytes(&[0x01]);
    rig.advance(secs(299));
    assert!(rig.closed.is_none());
    rig.advance(secs(301));
    assert_eq!(rig.closed, Some(CloseReason::ReadStall));
}

#[test]
fn idle_bulk_connection_closes_300_s_after_done_and_a_query_restarts_the_timer() {
    let mut rig = Rig::new(ServerMode::BulkOnly);
    rig.send(&bulk_query(1).hardware(1, &[9, 9, 9, 9, 9, 9]).build());
    assert_eq!(rig.drain().len(), 1);
    rig.advance(secs(200));
    rig.send(&bulk_query(2).hardware(1, &[9, 9, 9, 9, 9, 9]).build());
    assert_eq!(rig.drain().len(), 1);
    rig.advance(secs(499));
    assert!(rig.closed.is_none());
    rig.advance(secs(500));
    assert_eq!(rig.closed, Some(CloseReason::ReadStall));
}

#[test]
fn requestor_close_makes_the_server_close() {
    let mut rig = Rig::new(ServerMode::Insecure);
    rig.send(&active_query(1).build());
    rig.drain();
    rig.session.handle_eof(rig.now);
    rig.drain();
    assert_eq!(rig.closed, Some(CloseReason::PeerClosed));
}

#[test]
fn bulk_answers_are_finished_before_closing_on_requestor_eof() {
    let mut rig = Rig::new(ServerMode::BulkOnly);
    rig.bind(1, b"r");
    rig.send(&bulk_query(1).build());
    rig.session.handle_eof(rig.now);
    let out = rig.drain();
    assert_eq!(out.len(), 17);
    assert_eq!(rig.closed, Some(CloseReason::PeerClosed));
}

#[test]
fn shutdown_sends_query_terminated_with_base_time_last() {
    let mut rig = Rig::new(ServerMode::Insecure);
    rig.send(&active_query(1).build());
    rig.now = secs(3);
    rig.bind(1, b"r");
    rig.session.shutdown(rig.epoch());
    let out = rig.drain();
    assert_eq!(kinds(&out), [MessageType::LeaseQueryStatus]);
    assert_eq!(status(&out[0]), Some(StatusCode::QueryTerminated));
    assert_eq!(out[0].base_time(), Ok(Some(EPOCH0 + 3)));
    assert_eq!(rig.closed, Some(CloseReason::Shutdown));
}

#[test]
fn suppressed_options_are_never_sent() {
    let mut rig = Rig::with(
        ServerConfig {
            mode: ServerMode::Insecure,
            suppress: vec![code::RELAY_AGENT_INFO],
            ..ServerConfig::default()
        },
        8,
    );
    rig.bind(1, b"r");
    rig.send(&bulk_query(1).hardware(1, &[2, 0, 0, 0, 0, 1]).build());
    let out = rig.drain();
    assert_eq!(out[0].relay_agent_info(), Ok(None));
    assert!(out[0].client_id().unwrap().is_some());
}

#[test]
fn reply_times_are_relative_to_base_time() {
    let mut rig = Rig::new(ServerMode::BulkOnly);
    rig.now = secs(100);
    rig.bind(1, b"r");
    rig.now = secs(160);
    rig.send(&bulk_query(1).hardware(1, &[2, 0, 0, 0, 0, 1]).build());
    let out = rig.drain();
    let m = &out[0];
    assert_eq!(m.base_time(), Ok(Some(EPOCH0 + 160)));
    assert_eq!(m.start_time_of_state(), Ok(Some(60)));
    assert_eq!(m.client_last_transaction_time(), Ok(Some(60)));
    assert_eq!(m.lease_time(), Ok(Some(3600 - 60)));
}
