//! The reference server and requestor run in-process over in-memory pipes on
//! tokio's paused clock: the 60, 120 and 300 s behaviours take no real time.

use alq_harness::net::clock::Clock;
use alq_harness::net::requestor::{initial_sync, run_active, Report, RequestorRuntime};
use alq_harness::net::server::{serve_connection, RunningServer, ServerRuntime, Shared};
use alq_harness::net::tls::{client_config, server_config, server_name, PemPair, TestPki};
use alq_harness::net::transport::{Dial, Incoming};
use alq_harness::reference::leases::{Client, LeaseStore};
use alq_harness::reference::requestor::{
    RequestorCloseReason, RequestorConfig, RequestorEvent, RequestorPolicy,
};
use alq_harness::reference::server::{CloseReason, ServerConfig, ServerMode};
use alq_harness::wire::framing::encode_frame;
use alq_harness::wire::{
    DhcpOption, FrameDecoder, MessageBuilder, MessageType, RawMessage, Received, StatusCode,
};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

const EPOCH0: u32 = 1_800_000_000;

fn shared() -> Arc<Shared> {
    let pool = (10..30).map(|i| Ipv4Addr::new(192, 0, 2, i));
    Shared::new(
        LeaseStore::new(pool, 256, 3600, EPOCH0),
        Clock::starting_at(EPOCH0),
    )
}

fn runtime(mode: ServerMode, shared: Arc<Shared>) -> ServerRuntime {
    ServerRuntime {
        config: Arc::new(ServerConfig {
            mode,
            ..ServerConfig::default()
        }),
        shared,
        tls: None,
        max_connections: 10,
        per_requestor: None,
    }
}

fn client(last: u8) -> Client {
    Client {
        htype: 1,
        chaddr: vec![2, 0, 0, 0, 0, last],
        ..Client::default()
    }
}

/// A harness-side peer on one in-memory connection to a server connection task.
struct Peer {
    io: DuplexStream,
    decoder: FrameDecoder,
    task: tokio::task::JoinHandle<CloseReason>,
}

fn connect(rt: ServerRuntime, buffer: usize) -> (Peer, watch::Sender<bool>) {
    let (ours, theirs) = tokio::io::duplex(buffer);
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(serve_connection(theirs, rt, rx));
    (
        Peer {
            io: ours,
            decoder: FrameDecoder::new(),
            task,
        },
        stop,
    )
}

impl Peer {
    async fn send(&mut self, msg: &RawMessage) {
        self.io
            .write_all(&encode_frame(&msg.encode()).unwrap())
            .await
            .unwrap();
    }

    /// The next message, or `None` at end of stream.
    async fn recv(&mut self) -> Option<Received> {
        let mut buf = [0u8; 4096];
        loop {
            let n = self.io.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            // Tests read one message at a time; keep any rest for later calls.
            let mut frames = self
                .decoder
                .decode(&buf[..n])
                .collect::<Vec<_>>()
                .into_iter();
            if let Some(frame) = frames.next() {
                assert!(
                    frames.next().is_none(),
                    "test peer expects one message per read"
                );
                return Some(Received::decode(frame.unwrap().payload).unwrap());
            }
        }
    }
}

fn status(m: &Received) -> Option<StatusCode> {
    m.status().unwrap().map(|s| s.code)
}

#[tokio::test(start_paused = true)]
async fn keepalives_every_sixty_seconds_on_an_idle_active_connection() {
    let (mut peer, _stop) = connect(runtime(ServerMode::Insecure, shared()), 64 * 1024);
    peer.send(&MessageBuilder::request(MessageType::ActiveLeaseQuery, 0x51).build())
        .await;
    let start = Instant::now();
    for n in 1..=3u64 {
        let m = peer.recv().await.unwrap();
        assert_eq!(status(&m), Some(StatusCode::ConnectionActive));
        assert_eq!(m.xid(), 0x51);
        assert_eq!(start.elapsed().as_secs(), 60 * n);
    }
}

#[tokio::test(start_paused = true)]
async fn live_update_follows_a_binding_change_at_once() {
    let shared = shared();
    let (mut peer, _stop) = connect(runtime(ServerMode::Insecure, shared.clone()), 64 * 1024);
    peer.send(&MessageBuilder::request(MessageType::ActiveLeaseQuery, 1).build())
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let addr = shared
        .update(|s, now| s.bind(None, client(1), now))
        .unwrap();
    let start = Instant::now();
    let m = peer.recv().await.unwrap();
    assert_eq!(m.message_type(), Ok(MessageType::LeaseActive));
    assert_eq!(m.ciaddr(), addr);
    assert_eq!(m.base_time(), Ok(Some(EPOCH0 + 5)));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn blocked_send_is_closed_after_active_lq_send_timeout() {
    let shared = shared();
    let (peer, _stop) = connect(runtime(ServerMode::Insecure, shared.clone()), 512);
    let mut peer = peer;
    peer.send(&MessageBuilder::request(MessageType::ActiveLeaseQuery, 1).build())
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The harness never reads: the 512-byte pipe fills after one reply.
    for last in 1..=6 {
        shared
            .update(|s, now| s.bind(None, client(last), now))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let blocked_at = Instant::now();
    let reason = peer.task.await.unwrap();
    assert_eq!(reason, CloseReason::SendBlocked);
    let waited = blocked_at.elapsed();
    assert!(
        waited >= Duration::from_secs(119) && waited <= Duration::from_secs(120),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn unsupported_message_type_closes_the_connection() {
    for t in [1u8, 10, 13, 15, 17] {
        let (mut peer, _stop) = connect(runtime(ServerMode::Insecure, shared()), 64 * 1024);
        peer.send(&MessageBuilder::request(MessageType::from_u8(t), 9).build())
            .await;
        assert!(peer.recv().await.is_none(), "type {t}");
        assert_eq!(
            peer.task.await.unwrap(),
            CloseReason::Unsupported(Some(MessageType::from_u8(t)))
        );
    }
}

#[tokio::test(start_paused = true)]
async fn stalled_read_is_closed_after_bulk_lq_data_timeout() {
    let (mut peer, _stop) = connect(runtime(ServerMode::Insecure, shared()), 64 * 1024);
    peer.io.write_all(&[0x01]).await.unwrap();
    let start = Instant::now();
    assert!(peer.recv().await.is_none());
    assert_eq!(start.elapsed(), Duration::from_secs(300));
    assert_eq!(peer.task.await.unwrap(), CloseReason::ReadStall);
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_the_active_query_with_query_terminated() {
    let (mut peer, stop) = connect(runtime(ServerMode::Insecure, shared()), 64 * 1024);
    peer.send(&MessageBuilder::request(MessageType::ActiveLeaseQuery, 4).build())
        .await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    stop.send_replace(true);
    let m = peer.recv().await.unwrap();
    assert_eq!(status(&m), Some(StatusCode::QueryTerminated));
    assert_eq!(m.base_time(), Ok(Some(EPOCH0 + 7)));
    assert!(peer.recv().await.is_none(), "nothing after QueryTerminated");
    assert_eq!(peer.task.await.unwrap(), CloseReason::Shutdown);
}

fn tls_runtime(mode: ServerMode, pki: &TestPki, allowed: Option<&PemPair>) -> ServerRuntime {
    let ca = pki.ca.chain().unwrap();
    let allowed = allowed.map(|p| p.chain().unwrap());
    let config = server_config(
        pki.server.chain().unwrap(),
        pki.server.private_key().unwrap(),
        &ca,
        allowed,
        alq_harness::net::tls::ALL_VERSIONS,
    )
    .unwrap();
    let mut rt = runtime(mode, shared());
    rt.tls = Some(tokio_rustls::TlsAcceptor::from(config));
    rt
}

async fn dhcptls(peer: &mut Peer) -> Received {
    peer.send(&MessageBuilder::request(MessageType::Tls, 0x18).build())
        .await;
    peer.recv().await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn insecure_server_refuses_dhcptls() {
    let (mut peer, _stop) = connect(runtime(ServerMode::Insecure, shared()), 64 * 1024);
    let reply = dhcptls(&mut peer).await;
    assert_eq!(reply.message_type(), Ok(MessageType::Tls));
    assert_eq!(status(&reply), Some(StatusCode::TlsConnectionRefused));
}

async fn tls_client(
    peer: Peer,
    pki: &TestPki,
    who: &PemPair,
) -> Result<tokio_rustls::client::TlsStream<DuplexStream>, std::io::Error> {
    let config = client_config(
        &pki.ca.chain().unwrap(),
        who.chain().unwrap(),
        who.private_key().unwrap(),
        alq_harness::net::tls::ALL_VERSIONS,
    )
    .unwrap();
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut tls = connector
        .connect(server_name("localhost").unwrap(), peer.io)
        .await?;
    // A rejected client certificate shows up on the first read under TLS 1.3.
    tls.write_all(
        &encode_frame(
            &MessageBuilder::request(MessageType::ActiveLeaseQuery, 3)
                .build()
                .encode(),
        )
        .unwrap(),
    )
    .await?;
    let mut buf = [0u8; 1];
    match tokio::time::timeout(Duration::from_secs(61), tls.read(&mut buf)).await {
        Ok(Ok(0)) => Err(std::io::ErrorKind::UnexpectedEof.into()),
        Ok(Ok(_)) => Ok(tls),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

#[tokio::test(start_paused = true)]
async fn secure_server_accepts_dhcptls_and_serves_inside_mutual_tls() {
    let pki = TestPki::generate().unwrap();
    let rt = tls_runtime(ServerMode::Secure, &pki, Some(&pki.client));
    let (mut peer, _stop) = connect(rt, 64 * 1024);
    let reply = dhcptls(&mut peer).await;
    assert_eq!(reply.message_type(), Ok(MessageType::Tls));
    assert_eq!(reply.status(), Ok(None));
    // The first byte inside TLS is a keepalive's length prefix, 60 s later.
    assert!(tls_client(peer, &pki, &pki.client).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn secure_server_rejects_clients_without_a_valid_allowed_certificate() {
    let pki = TestPki::generate().unwrap();
    for who in [&pki.untrusted_client, &pki.other_client] {
        let rt = tls_runtime(ServerMode::Secure, &pki, Some(&pki.client));
        let (mut peer, _stop) = connect(rt, 64 * 1024);
        dhcptls(&mut peer).await;
        let outcome = tls_client(peer, &pki, who).await;
        assert!(
            outcome.is_err(),
            "certificate {} was accepted",
            who.cert.len()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn secure_server_closes_a_connection_that_skips_dhcptls() {
    let pki = TestPki::generate().unwrap();
    let (mut peer, _stop) = connect(tls_runtime(ServerMode::Secure, &pki, None), 64 * 1024);
    peer.send(&MessageBuilder::request(MessageType::ActiveLeaseQuery, 1).build())
        .await;
    assert!(peer.recv().await.is_none());
    assert_eq!(peer.task.await.unwrap(), CloseReason::NotTls);
}

#[tokio::test(start_paused = true)]
async fn garbage_instead_of_a_tls_handshake_closes_the_connection() {
    let pki = TestPki::generate().unwrap();
    let (mut peer, _stop) = connect(tls_runtime(ServerMode::Secure, &pki, None), 64 * 1024);
    dhcptls(&mut peer).await;
    peer.io.write_all(&[0x47; 64]).await.unwrap();
    let reason = peer.task.await.unwrap();
    assert!(matches!(reason, CloseReason::TlsFailed(_)), "{reason:?}");
}

// ---- the reference requestor ----

struct Harness {
    server: RunningServer,
    dial: Dial,
}

fn start_server(mode: ServerMode, history: usize) -> Harness {
    let pool = (10..30).map(|i| Ipv4Addr::new(192, 0, 2, i));
    let shared = Shared::new(
        LeaseStore::new(pool, history, 3600, EPOCH0),
        Clock::starting_at(EPOCH0),
    );
    let (incoming, dial) = Incoming::memory();
    let server = RunningServer::start(incoming, runtime(mode, shared));
    Harness { server, dial }
}

fn requestor(
    dial: Dial,
    policy: Arc<Mutex<RequestorPolicy>>,
) -> (RequestorRuntime, mpsc::UnboundedReceiver<Report>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        RequestorRuntime {
            server: dial,
            tls: None,
            clock: Clock::starting_at(EPOCH0),
            policy,
            reports: tx,
        },
        rx,
    )
}

/// A secure reference requestor against `dial`, trusting `trust`'s CA and
/// presenting `trust`'s requestor certificate.
fn secure_requestor(
    dial: Dial,
    trust: &TestPki,
    first_xid: u32,
) -> (RequestorRuntime, mpsc::UnboundedReceiver<Report>) {
    let p = Arc::new(Mutex::new(RequestorPolicy::new(
        RequestorConfig {
            secure: true,
            ..RequestorConfig::default()
        },
        first_xid,
    )));
    let (mut req, rx) = requestor(dial, p);
    let config = client_config(
        &trust.ca.chain().unwrap(),
        trust.client.chain().unwrap(),
        trust.client.private_key().unwrap(),
        alq_harness::net::tls::ALL_VERSIONS,
    )
    .unwrap();
    req.tls = Some((
        tokio_rustls::TlsConnector::from(config),
        server_name("localhost").unwrap(),
    ));
    (req, rx)
}

fn policy() -> Arc<Mutex<RequestorPolicy>> {
    Arc::new(Mutex::new(RequestorPolicy::new(
        RequestorConfig::default(),
        0x100,
    )))
}

/// Starts an active-leasequery requestor with the default policy; it runs until
/// the returned sender is dropped.
fn spawn_active_requestor(dial: Dial) -> (mpsc::UnboundedReceiver<Report>, watch::Sender<bool>) {
    let (rt, rx) = requestor(dial, policy());
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(run_active(rt, shutdown));
    (rx, stop)
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<Report>) -> Report {
    tokio::time::timeout(Duration::from_secs(3600), rx.recv())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn requestor_syncs_in_bulk_then_catches_up_from_its_first_base_time() {
    let h = start_server(ServerMode::Insecure, 256);
    h.server.control.bind(None, client(1)).unwrap();
    let policy = policy();
    let (rt, mut rx) = requestor(h.dial.clone(), policy.clone());
    let (_stop, mut shutdown) = watch::channel(false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(initial_sync(&rt, &mut shutdown).await);
    assert_eq!(policy.lock().unwrap().base_time(), Some(EPOCH0 + 2));
    let mut seen = Vec::new();
    while let Ok(r) = rx.try_recv() {
        seen.push(r);
    }
    let bindings = seen
        .iter()
        .filter(|r| {
            matches!(
                r,
                Report::Event {
                    event: RequestorEvent::Binding(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(bindings, 20, "all configured addresses");
    assert!(seen.iter().any(|r| matches!(
        r,
        Report::Closed {
            reason: RequestorCloseReason::Finished,
            ..
        }
    )));

    tokio::time::sleep(Duration::from_secs(3)).await;
    h.server.control.bind(None, client(2)).unwrap();
    tokio::spawn(run_active(rt, shutdown.clone()));
    let mut order = Vec::new();
    loop {
        match next_event(&mut rx).await {
            Report::Event {
                event: RequestorEvent::Binding(b),
                ..
            } => order.push(format!("binding {}", b.addr)),
            Report::Event {
                event: RequestorEvent::CatchUpComplete { .. },
                ..
            } => {
                order.push("complete".into());
                break;
            }
            _ => {}
        }
    }
    assert_eq!(order, ["binding 192.0.2.11", "complete"]);
    assert_eq!(policy.lock().unwrap().base_time(), Some(EPOCH0 + 5));
}

#[tokio::test(start_paused = true)]
async fn requestor_keeps_its_old_base_time_when_the_connection_drops_before_catch_up_complete() {
    let mut p = RequestorPolicy::new(RequestorConfig::default(), 1);
    p.set_base_time(EPOCH0);
    let session = p.start_active(Duration::ZERO);
    assert_eq!(session.query_start(), Some(EPOCH0));
    let update = |t: u32| {
        RequestorEvent::Binding(alq_harness::reference::requestor::BindingUpdate {
            xid: 1,
            addr: Ipv4Addr::new(192, 0, 2, 10),
            active: true,
            state: "ACTIVE".into(),
            base_time: Some(t),
            chaddr: String::new(),
            client_id: None,
            lease_time: None,
            client_last_transaction_time: None,
            start_time_of_state: None,
            remote_id: None,
            relay_id: None,
            circuit_id: None,
            remote: false,
        })
    };
    p.observe_active(&update(EPOCH0 + 50));
    p.observe_active(&update(EPOCH0 + 40));
    p.connection_lost();
    assert_eq!(
        p.base_time(),
        Some(EPOCH0),
        "catch-up base-times are not adopted"
    );
    let next = p.start_active(Duration::from_secs(60));
    assert_eq!(next.query_start(), Some(EPOCH0));
    p.observe_active(&update(EPOCH0 + 70));
    p.observe_active(&RequestorEvent::CatchUpComplete { base_time: None });
    assert_eq!(p.base_time(), Some(EPOCH0 + 70));
    p.observe_active(&update(EPOCH0 + 90));
    assert_eq!(
        p.base_time(),
        Some(EPOCH0 + 90),
        "after catch-up the latest base-time is kept"
    );
}

#[tokio::test(start_paused = true)]
async fn requestor_fills_a_data_missing_gap_with_a_bulk_query_on_a_second_connection() {
    let h = start_server(ServerMode::Insecure, 256);
    tokio::time::sleep(Duration::from_secs(100)).await;
    h.server.control.bind(None, client(1)).unwrap();
    let p = policy();
    p.lock().unwrap().set_base_time(EPOCH0 - 1000);
    let (rt, mut rx) = requestor(h.dial.clone(), p.clone());
    let (_stop, shutdown) = watch::channel(false);
    tokio::spawn(run_active(rt, shutdown));
    let mut active_conn = None;
    let mut bulk_conn = None;
    let mut gap_done = false;
    while !gap_done {
        match next_event(&mut rx).await {
            Report::Connected { conn, active: true } => active_conn = Some(conn),
            Report::Connected {
                conn,
                active: false,
            } => bulk_conn = Some(conn),
            Report::Event {
                event:
                    RequestorEvent::DataMissing {
                        query_start,
                        base_time,
                    },
                ..
            } => {
                assert_eq!(query_start, Some(EPOCH0 - 1000));
                assert_eq!(base_time, Some(EPOCH0 + 100));
            }
            Report::Event {
                active: false,
                event: RequestorEvent::Done { status, .. },
                ..
            } => {
                assert_eq!(status, None);
                gap_done = true;
            }
            _ => {}
        }
    }
    assert_ne!(active_conn, bulk_conn);
    assert!(bulk_conn.is_some());
    // The gap is filled: base-times of the active connection are adopted again.
    h.server.control.bind(None, client(2)).unwrap();
    loop {
        if let Report::Event {
            active: true,
            event: RequestorEvent::Binding(_),
            ..
        } = next_event(&mut rx).await
        {
            break;
        }
    }
    assert_eq!(p.lock().unwrap().base_time(), Some(EPOCH0 + 100));
}

#[tokio::test(start_paused = true)]
async fn requestor_closes_after_active_lq_rcv_timeout_and_retries_no_faster_than_idle_timeout() {
    // A server that accepts and never says anything.
    let (incoming, dial) = Incoming::memory();
    let mut incoming = incoming;
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Some((io, _)) = incoming.accept().await {
            keep.lock().unwrap().push(io);
        }
    });
    let start = Instant::now();
    let (mut rx, _stop) = spawn_active_requestor(dial);
    let mut connects = Vec::new();
    while connects.len() < 3 {
        match next_event(&mut rx).await {
            Report::Connected { .. } => connects.push(start.elapsed().as_secs()),
            Report::Closed { reason, .. } => {
                assert_eq!(reason, RequestorCloseReason::ReceiveTimeout);
                assert_eq!(
                    start.elapsed().as_secs() - connects.last().copied().unwrap_or(0),
                    120
                );
            }
            _ => {}
        }
    }
    assert_eq!(connects, [0, 120, 240]);
}

#[tokio::test(start_paused = true)]
async fn requestor_retry_spacing_is_at_least_active_lq_idle_timeout() {
    // A server that closes every connection at once.
    let (incoming, dial) = Incoming::memory();
    let mut incoming = incoming;
    tokio::spawn(async move { while incoming.accept().await.is_some() {} });
    let start = Instant::now();
    let (mut rx, _stop) = spawn_active_requestor(dial);
    let mut connects = Vec::new();
    while connects.len() < 3 {
        if let Report::Connected { .. } = next_event(&mut rx).await {
            connects.push(start.elapsed().as_secs());
        }
    }
    assert_eq!(connects, [0, 60, 120]);
}

#[tokio::test(start_paused = true)]
async fn requestor_closes_on_tls_connection_refused() {
    let h = start_server(ServerMode::Insecure, 16);
    let p = Arc::new(Mutex::new(RequestorPolicy::new(
        RequestorConfig {
            secure: true,
            ..RequestorConfig::default()
        },
        7,
    )));
    let (rt, mut rx) = requestor(h.dial.clone(), p);
    let (_stop, shutdown) = watch::channel(false);
    tokio::spawn(run_active(rt, shutdown));
    loop {
        if let Report::Closed { reason, .. } = next_event(&mut rx).await {
            assert_eq!(reason, RequestorCloseReason::TlsRefused);
            break;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn requestor_runs_mutual_tls_against_a_secure_server() {
    let pki = TestPki::generate().unwrap();
    let rt = tls_runtime(ServerMode::Secure, &pki, Some(&pki.client));
    let (incoming, dial) = Incoming::memory();
    let server = RunningServer::start(incoming, rt);
    let (req, mut rx) = secure_requestor(dial, &pki, 7);
    let (_stop, shutdown) = watch::channel(false);
    tokio::spawn(run_active(req, shutdown));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let addr = server.control.bind(None, client(3)).unwrap();
    loop {
        match next_event(&mut rx).await {
            Report::Event {
                event: RequestorEvent::Binding(b),
                ..
            } => {
                assert_eq!(b.addr, addr);
                break;
            }
            Report::Closed { reason, .. } => panic!("closed: {reason:?}"),
            _ => {}
        }
    }
}

#[tokio::test(start_paused = true)]
async fn requestor_closes_a_connection_that_sends_a_foreign_xid() {
    let (incoming, dial) = Incoming::memory();
    let mut incoming = incoming;
    tokio::spawn(async move {
        while let Some((mut io, _)) = incoming.accept().await {
            let mut buf = [0u8; 1024];
            let _ = io.read(&mut buf).await;
            let bogus = MessageBuilder::reply(MessageType::LeaseActive, 0xdead)
                .ciaddr(Ipv4Addr::new(192, 0, 2, 99))
                .option(DhcpOption::BaseTime(EPOCH0))
                .build();
            let _ = io.write_all(&encode_frame(&bogus.encode()).unwrap()).await;
            tokio::time::sleep(Duration::from_secs(1000)).await;
        }
    });
    let (mut rx, _stop) = spawn_active_requestor(dial);
    loop {
        if let Report::Closed { reason, .. } = next_event(&mut rx).await {
            assert_eq!(reason, RequestorCloseReason::UnknownXid(0xdead));
            break;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn requestor_xids_are_unique_across_its_queries() {
    let mut p = RequestorPolicy::new(RequestorConfig::default(), 0xffff_fffe);
    let mut xids = std::collections::HashSet::new();
    for i in 0..50u64 {
        let mut s = p.start_active(Duration::from_secs(i * 60));
        if let Some(alq_harness::reference::requestor::RequestorOutput::Transmit(bytes)) =
            s.poll_output()
        {
            let msg = RawMessage::decode(&bytes[2..]).unwrap();
            assert!(xids.insert(msg.header.xid));
        }
        let mut b = p.start_bulk(None, None, Duration::ZERO);
        if let Some(alq_harness::reference::requestor::RequestorOutput::Transmit(bytes)) =
            b.poll_output()
        {
            let msg = RawMessage::decode(&bytes[2..]).unwrap();
            assert!(xids.insert(msg.header.xid));
        }
    }
    assert_eq!(xids.len(), 100);
}

#[tokio::test(start_paused = true)]
async fn connections_over_bulk_lq_max_conns_are_accepted_then_closed() {
    let (incoming, dial) = Incoming::memory();
    let mut rt = runtime(ServerMode::Insecure, shared());
    rt.max_connections = 2;
    let _server = RunningServer::start(incoming, rt);
    let mut kept = Vec::new();
    for _ in 0..2 {
        let mut io = dial.connect().await.unwrap();
        io.write_all(
            &encode_frame(
                &MessageBuilder::request(MessageType::ActiveLeaseQuery, 1)
                    .build()
                    .encode(),
            )
            .unwrap(),
        )
        .await
        .unwrap();
        kept.push(io);
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut third = dial.connect().await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(1), third.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "the connection over the limit is closed at once");
    // The two within the limit still get keepalives.
    let mut first = kept.remove(0);
    let n = tokio::time::timeout(Duration::from_secs(61), first.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(n > 0);
}

#[tokio::test(start_paused = true)]
async fn requestor_rejects_a_server_certificate_from_an_unknown_ca() {
    let pki = TestPki::generate().unwrap();
    let stranger = TestPki::generate().unwrap();
    let rt = tls_runtime(ServerMode::Secure, &pki, None);
    let (incoming, dial) = Incoming::memory();
    let _server = RunningServer::start(incoming, rt);
    // The requestor trusts another CA than the one that signed the server.
    let (req, mut rx) = secure_requestor(dial, &stranger, 9);
    let (_stop, shutdown) = watch::channel(false);
    tokio::spawn(run_active(req, shutdown));
    loop {
        match next_event(&mut rx).await {
            Report::Closed { reason, .. } => {
                assert!(
                    matches!(reason, RequestorCloseReason::TlsFailed(ref e) if e.contains("certificate")),
                    "{reason:?}"
                );
                break;
            }
            Report::Event {
                event: RequestorEvent::Binding(_),
                ..
            } => panic!("data over an unverified server"),
            _ => {}
        }
    }
}

#[tokio::test(start_paused = true)]
async fn ten_tricklers_do_not_hold_every_slot_past_bulk_lq_data_timeout() {
    let (incoming, dial) = Incoming::memory();
    let rt = runtime(ServerMode::Insecure, shared());
    assert_eq!(rt.max_connections, 10);
    let _server = RunningServer::start(incoming, rt);
    // Each declares a 4,095-octet message and sends it a byte a second: a
    // timer restarted by every byte would never fire.
    let mut tricklers = Vec::new();
    for _ in 0..10 {
        let mut io = dial.connect().await.unwrap();
        tricklers.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut byte = vec![0x0f, 0xff];
            while io.write_all(&byte).await.is_ok() {
                byte = vec![0];
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            started.elapsed()
        }));
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut refused = dial.connect().await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(1), refused.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "every slot is taken by a trickler");
    for t in tricklers {
        let lasted = tokio::time::timeout(Duration::from_secs(400), t)
            .await
            .expect("a trickler held its slot for 400 s")
            .unwrap();
        assert!(
            lasted <= Duration::from_secs(302),
            "a trickler lasted {lasted:?}"
        );
    }
    let mut fresh = dial.connect().await.unwrap();
    let query = MessageBuilder::request(MessageType::BulkLeaseQuery, 7).build();
    fresh
        .write_all(&encode_frame(&query.encode()).unwrap())
        .await
        .unwrap();
    let mut decoder = FrameDecoder::new();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), fresh.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the fresh query was not answered");
        let done = decoder.decode(&buf[..n]).any(|f| {
            Received::decode(f.unwrap().payload).unwrap().message_type()
                == Ok(MessageType::LeaseQueryDone)
        });
        if done {
            break;
        }
    }
}
