//! Sans-IO server side of a leasequery TCP connection (RFC 7724 §8, RFC 6926 §8).
//!
//! The runtime feeds received bytes, end of stream, TLS progress and time; it
//! polls for [`Output`]s (framed bytes to send, start TLS, close) and for the next
//! timer deadline. Replies are built when they are polled, from the lease store's
//! current state, so a connection that was blocked sends only the current state
//! of each changed binding (RFC 7724 §6).

use super::replies::{apply_faults, binding_reply, status_reply, ReplyPolicy, DEFAULT_PRL};
use crate::reference::faults::{Fault, FaultSet};
use crate::reference::leases::{Binding, Coverage, LeaseStore};
use crate::reference::shaping::shape;
use crate::reference::variants::{Variant, VariantSet};
use crate::session::timers::Timers;
use crate::wire::framing::encode_frame;
use crate::wire::{
    DecodeError, DhcpState, FrameDecoder, FrameError, MessageBuilder, MessageType, RawMessage,
    Received, StatusCode,
};
use indexmap::IndexSet;
use std::collections::{HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How the server treats Active Leasequery and TLS (RFC 7724 §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerMode {
    /// Active Leasequery off (the default): bulk queries only; DHCPTLS refused.
    BulkOnly,
    /// Active Leasequery in cleartext, enabled by its own switch; DHCPTLS refused.
    Insecure,
    /// Every connection must start with DHCPTLS and go through mutual TLS.
    Secure,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub server_id: Ipv4Addr,
    pub mode: ServerMode,
    pub timers: Timers,
    /// Answer bulk queries with no primary key (all configured addresses).
    pub all_configured_query: bool,
    /// Options never sent even when requested (RFC 7724 §3, §8.2).
    pub suppress: Vec<u8>,
    /// Requestor addresses allowed to connect; everyone when absent
    /// (RFC 6926 §8.1).
    pub allowed_requestors: Option<Vec<std::net::IpAddr>>,
    /// Deliberate defects (none in normal use).
    pub faults: FaultSet,
    /// Conformant choices (none by default).
    pub variants: VariantSet,
    /// When the first active query reached this server, for a server whose
    /// history starts then (shared by its connections).
    pub first_active_query: Arc<OnceLock<u32>>,
}

impl ServerConfig {
    /// The message type of statuses on an active connection.
    fn status_type(&self) -> MessageType {
        if self.faults.has(Fault::DoneOnActiveConnection) {
            MessageType::LeaseQueryDone
        } else {
            MessageType::LeaseQueryStatus
        }
    }

    fn has(&self, fault: Fault) -> bool {
        self.faults.has(fault)
    }

    fn chooses(&self, variant: Variant) -> bool {
        self.variants.has(variant)
    }

    /// The base-time of a status that need not carry one (ConnectionActive,
    /// CatchUpComplete; AMB-17).
    fn optional_base_time(&self, epoch: u32) -> Option<u32> {
        (!self.chooses(Variant::StatusWithoutBaseTime)).then_some(epoch)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            server_id: Ipv4Addr::LOCALHOST,
            mode: ServerMode::BulkOnly,
            timers: Timers::default(),
            all_configured_query: true,
            suppress: Vec::new(),
            allowed_requestors: None,
            faults: FaultSet::default(),
            variants: VariantSet::default(),
            first_active_query: Arc::default(),
        }
    }
}

/// Why the server closes a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// A message type not allowed on a leasequery TCP connection (RFC 7724 §8.1.1).
    Unsupported(Option<MessageType>),
    /// A message that is not DHCP at all, or a broken length prefix.
    Malformed(String),
    PeerClosed,
    /// Nothing (or no complete query) received for BULK_LQ_DATA_TIMEOUT.
    ReadStall,
    /// A write stayed blocked for ACTIVE_LQ_SEND_TIMEOUT (or BULK_LQ_DATA_TIMEOUT).
    SendBlocked,
    /// Secure mode: the connection did not start with DHCPTLS.
    NotTls,
    /// An error status was sent; the query ends with the connection.
    QueryFailed(StatusCode),
    Shutdown,
    /// The TLS handshake failed or timed out (RFC 7724 §8.1).
    TlsFailed(String),
    /// The change history moved on faster than this connection read it.
    HistoryOverrun,
    /// Every query was answered, and the server does not wait for another.
    Done,
}

/// What the runtime must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send these bytes (one framed message), then call
    /// [`ServerSession::on_write_completed`].
    Transmit(Vec<u8>),
    /// Run the TLS handshake as server on this connection, then call
    /// [`ServerSession::on_tls_established`] (or close on failure).
    StartTls,
    Close(CloseReason),
}

#[derive(Debug)]
struct BulkQuery {
    xid: u32,
    prl: Vec<u8>,
    addrs: VecDeque<Ipv4Addr>,
    first_sent: bool,
}

#[derive(Debug)]
struct CatchUp {
    cursor: u64,
    end: u64,
    sent: HashSet<Ipv4Addr>,
    /// The addresses to report, when the set was taken on the query's
    /// arrival rather than read from the history as it goes.
    fixed: Option<VecDeque<Ipv4Addr>>,
}

#[derive(Debug)]
struct ActiveQuery {
    xid: u32,
    prl: Vec<u8>,
    first_sent: bool,
    catch_up: Option<CatchUp>,
    live_cursor: u64,
    /// Changes to report: one entry per address, or per change when the
    /// server never coalesces (then keyed by the change's sequence number).
    pending: IndexSet<(Ipv4Addr, u64)>,
}

/// One leasequery TCP connection, server side.
#[derive(Debug)]
pub struct ServerSession {
    config: Arc<ServerConfig>,
    decoder: FrameDecoder,
    queue: VecDeque<Output>,
    bulk: VecDeque<BulkQuery>,
    active: Option<ActiveQuery>,
    messages_received: usize,
    in_tls: bool,
    tls_pending: bool,
    closing: bool,
    peer_eof: bool,
    last_rx: Duration,
    /// When the first byte of a message not yet complete arrived: the
    /// message must be whole within BULK_LQ_DATA_TIMEOUT of it, however
    /// slowly the rest comes (RFC 7724 §8.1, RFC 6926 §8.1).
    partial_since: Option<Duration>,
    last_tx: Duration,
    write_started: Option<Duration>,
    /// The change history moved past what this connection had absorbed.
    history_overrun: bool,
}

fn frame(config: &ServerConfig, msg: &RawMessage) -> Output {
    let bytes = if config.faults.is_empty() && config.variants.is_empty() {
        msg.encode()
    } else {
        let mut changed = msg.clone();
        apply_faults(&mut changed, &config.faults);
        shape(&mut changed, &config.variants);
        changed.encode()
    };
    match encode_frame(&bytes) {
        Ok(bytes) => Output::Transmit(bytes),
        Err(e) => Output::Close(CloseReason::Malformed(e.to_string())),
    }
}

enum BulkKey {
    All,
    Mac(u8, Vec<u8>),
    ClientId(Vec<u8>),
    RemoteId(Vec<u8>),
    RelayId(Vec<u8>),
}

impl ServerSession {
    pub fn new(config: Arc<ServerConfig>, now: Duration) -> Self {
        ServerSession {
            config,
            decoder: FrameDecoder::new(),
            queue: VecDeque::new(),
            bulk: VecDeque::new(),
            active: None,
            messages_received: 0,
            in_tls: false,
            tls_pending: false,
            closing: false,
            peer_eof: false,
            last_rx: now,
            partial_since: None,
            last_tx: now,
            write_started: None,
            history_overrun: false,
        }
    }

    /// True once an active query runs on this connection.
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// True once the session has decided to close.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    fn close(&mut self, reason: CloseReason) {
        if !self.closing {
            self.queue.push_back(Output::Close(reason));
            self.closing = true;
        }
    }

    fn close_now(&mut self, reason: CloseReason) {
        self.queue.clear();
        self.closing = false;
        self.close(reason);
    }

    /// Bytes received from the requestor (decrypted, when TLS is up).
    pub fn handle_input(&mut self, now: Duration, bytes: &[u8], store: &LeaseStore, epoch: u32) {
        if self.closing || bytes.is_empty() {
            return;
        }
        if self.config.has(Fault::ReadStallRestartsOnEveryByte) {
            self.last_rx = now;
        }
        if self.tls_pending {
            // Nothing may follow DHCPTLS in clear before the TLS handshake.
            self.close_now(CloseReason::Malformed(
                "cleartext bytes after DHCPTLS".into(),
            ));
            return;
        }
        let mut events: Vec<Result<_, FrameError>> = self.decoder.decode(bytes).collect();
        if self.config.has(Fault::DropsSecondQueryInOneRead) {
            events.truncate(1);
        }
        if !events.is_empty() {
            self.last_rx = now;
        }
        self.partial_since = match (self.decoder.buffered(), events.is_empty()) {
            (0, _) => None,
            // Still the message that was already under way.
            (_, true) => self.partial_since.or(Some(now)),
            // A new one began in these bytes.
            (_, false) => Some(now),
        };
        let mut events = events.into_iter().peekable();
        while let Some(event) = events.next() {
            if self.closing {
                break;
            }
            match event {
                Ok(frame) => self.handle_message(frame.payload, store, epoch),
                Err(e) => self.close_now(CloseReason::Malformed(e.to_string())),
            }
            if self.tls_pending {
                // The requestor waits for the answer to DHCPTLS before its
                // ClientHello (RFC 7724 §7.2): anything read with DHCPTLS is
                // cleartext where TLS must begin.
                if events.peek().is_some() || self.decoder.buffered() > 0 {
                    self.close_now(CloseReason::Malformed(
                        "cleartext bytes after DHCPTLS".into(),
                    ));
                }
                break;
            }
        }
    }

    fn handle_message(&mut self, payload: bytes::Bytes, store: &LeaseStore, epoch: u32) {
        let first = self.messages_received == 0;
        self.messages_received += 1;
        let (msg, decode_error) = Received::decode_partial(payload);
        let Some(msg) = msg else {
            let text = decode_error.map(|e| e.to_string()).unwrap_or_default();
            self.close_now(CloseReason::Malformed(text));
            return;
        };
        let Ok(kind) = msg.message_type() else {
            self.close_now(CloseReason::Unsupported(None));
            return;
        };
        let secure = self.config.mode == ServerMode::Secure;
        match kind {
            MessageType::Tls if first && !self.in_tls => {
                let reply = MessageBuilder::reply(MessageType::Tls, msg.xid());
                if !secure && self.config.has(Fault::TlsAcceptedInInsecureMode) {
                    self.queue.push_back(frame(&self.config, &reply.build()));
                } else if secure {
                    let reply = if self.config.has(Fault::DhcpTlsSuccessStatus) {
                        reply.option(crate::wire::DhcpOption::Status(crate::wire::Status::new(
                            StatusCode::Success,
                            "",
                        )))
                    } else {
                        reply
                    };
                    self.queue.push_back(frame(&self.config, &reply.build()));
                    self.queue.push_back(Output::StartTls);
                    self.tls_pending = true;
                } else {
                    let refused = reply
                        .option(crate::wire::DhcpOption::Status(crate::wire::Status::new(
                            StatusCode::TlsConnectionRefused,
                            "",
                        )))
                        .build();
                    self.queue.push_back(frame(&self.config, &refused));
                }
            }
            _ if secure && !self.in_tls && !self.config.has(Fault::CleartextServedInSecureMode) => {
                self.close_now(CloseReason::NotTls)
            }
            MessageType::BulkLeaseQuery if self.active.is_none() => {
                self.start_bulk(&msg, decode_error, store)
            }
            MessageType::ActiveLeaseQuery if self.config.mode != ServerMode::BulkOnly => {
                if self.active.is_some() || !self.bulk.is_empty() {
                    self.refuse_active(
                        msg.xid(),
                        StatusCode::NotAllowed,
                        "one query per active connection",
                        epoch,
                    );
                } else {
                    self.start_active(&msg, decode_error, store, epoch);
                }
            }
            MessageType::BulkLeaseQuery => {
                let xid = self.active.as_ref().map_or(msg.xid(), |a| a.xid);
                self.refuse_active(
                    xid,
                    StatusCode::NotAllowed,
                    "no bulk query on an active connection",
                    epoch,
                );
            }
            MessageType::ActiveLeaseQuery if self.config.has(Fault::KeepaliveWhenActiveOff) => {
                let keepalive = status_reply(
                    self.config.status_type(),
                    msg.xid(),
                    Some((StatusCode::ConnectionActive, "")),
                    Some(epoch),
                    Some(self.config.server_id),
                );
                self.queue.push_back(frame(&self.config, &keepalive));
                // After what is queued, unlike the close of a conformant one.
                self.close(CloseReason::Unsupported(Some(
                    MessageType::ActiveLeaseQuery,
                )));
            }
            _ if self.config.has(Fault::KeepConnectionOnUnsupported) => {}
            other => self.close_now(CloseReason::Unsupported(Some(other))),
        }
    }

    fn refuse_active(&mut self, xid: u32, status: StatusCode, text: &str, epoch: u32) {
        // A query beside a running active one may be refused by closing alone (AMB-15).
        if self.active.is_some() && self.config.chooses(Variant::RefusesByClose) {
            return self.close_now(CloseReason::QueryFailed(status));
        }
        // The first message for each xid carries it (AMB-18), a refusal of
        // a second query's xid as much as the first reply to the first.
        let server_id = match &self.active {
            Some(a) if a.first_sent && a.xid == xid => None,
            _ => Some(self.config.server_id),
        };
        let msg = status_reply(
            self.config.status_type(),
            xid,
            Some((status, text)),
            Some(epoch),
            server_id,
        );
        self.queue.push_back(frame(&self.config, &msg));
        self.close(CloseReason::QueryFailed(status));
    }

    fn bulk_done(&mut self, xid: u32, status: StatusCode, text: &str) {
        let msg = status_reply(
            MessageType::LeaseQueryDone,
            xid,
            Some((status, text)),
            None,
            Some(self.config.server_id),
        );
        self.queue.push_back(frame(&self.config, &msg));
    }

    fn bulk_key(&self, msg: &Received) -> Result<BulkKey, (StatusCode, &'static str)> {
        let malformed = |_| (StatusCode::MalformedQuery, "an option has a wrong length");
        let h = msg.header();
        let addresses_set =
            !h.ciaddr.is_unspecified() || !h.yiaddr.is_unspecified() || !h.siaddr.is_unspecified();
        if addresses_set && !self.config.has(Fault::NonzeroCiaddrServed) {
            return Err((
                StatusCode::MalformedQuery,
                "ciaddr, yiaddr and siaddr must be zero",
            ));
        }
        let mut keys = Vec::new();
        let hw = h.hardware_address();
        if !hw.is_empty() && hw.iter().any(|b| *b != 0) {
            keys.push(BulkKey::Mac(h.htype, hw.to_vec()));
        }
        if let Some(id) = msg.client_id().map_err(malformed)? {
            keys.push(BulkKey::ClientId(id.to_vec()));
        }
        if let Some(info) = msg.relay_agent_info().map_err(malformed)? {
            let remote = info.remote_id().map(|v| v.to_vec());
            let relay = info.relay_id().map(|v| v.to_vec());
            if remote.is_none() && relay.is_none() {
                return Err((
                    StatusCode::MalformedQuery,
                    "option 82 holds no remote-id or relay-id",
                ));
            }
            keys.extend(remote.map(BulkKey::RemoteId));
            keys.extend(relay.map(BulkKey::RelayId));
        }
        match keys.len() {
            0 if self.config.all_configured_query => Ok(BulkKey::All),
            0 => Err((
                StatusCode::NotAllowed,
                "query for all configured addresses is not enabled",
            )),
            1 => keys.pop().ok_or((StatusCode::UnspecFail, "")),
            _ if self.config.has(Fault::TwoKeysMalformed) => {
                Err((StatusCode::MalformedQuery, "multiple queries"))
            }
            _ => Err((StatusCode::NotAllowed, "more than one query key")),
        }
    }

    fn start_bulk(
        &mut self,
        msg: &Received,
        decode_error: Option<DecodeError>,
        store: &LeaseStore,
    ) {
        let xid = msg.xid();
        if decode_error.is_some() {
            return self.bulk_done(xid, StatusCode::MalformedQuery, "options do not decode");
        }
        let key = match self.bulk_key(msg) {
            Ok(key) => key,
            Err((status, text)) => return self.bulk_done(xid, status, text),
        };
        let window = match (msg.query_start_time(), msg.query_end_time()) {
            (Ok(start), Ok(end)) => (start, end),
            _ => {
                return self.bulk_done(
                    xid,
                    StatusCode::MalformedQuery,
                    "an option has a wrong length",
                )
            }
        };
        let vss_ok = match msg.vss() {
            Ok(None) => true,
            Ok(Some(vss)) => matches!(
                vss.kind,
                crate::wire::Vss::ALL_VPNS | crate::wire::Vss::GLOBAL
            ),
            Err(_) => {
                return self.bulk_done(xid, StatusCode::MalformedQuery, "option 221 is malformed")
            }
        };
        let prl = match msg.parameter_request_list() {
            Ok(prl) => prl.unwrap_or_else(|| DEFAULT_PRL.to_vec()),
            Err(_) => {
                return self.bulk_done(xid, StatusCode::MalformedQuery, "option 55 is malformed")
            }
        };
        let end_exclusive = self.config.has(Fault::WindowEndExclusive);
        let in_window = |b: &Binding| match window {
            (None, None) => true,
            (start, end) => {
                let changed = b.changed_at();
                b.ever_bound()
                    && start.is_none_or(|s| changed >= s)
                    && end.is_none_or(|e| changed < e || (changed == e && !end_exclusive))
            }
        };
        let bound = |b: &Binding| b.state == DhcpState::Active;
        let mut addrs: VecDeque<Ipv4Addr> = store
            .bindings()
            .filter(|b| vss_ok && in_window(b))
            .filter(|b| match &key {
                BulkKey::All => true,
                BulkKey::Mac(htype, hw) => bound(b) && b.htype == *htype && &b.chaddr == hw,
                BulkKey::ClientId(id) => bound(b) && b.client_id.as_deref() == Some(&id[..]),
                BulkKey::RemoteId(r) => {
                    bound(b)
                        && b.relay_info
                            .as_ref()
                            .and_then(|i| i.remote_id())
                            .map(|v| &v[..])
                            == Some(&r[..])
                }
                BulkKey::RelayId(r) => {
                    bound(b)
                        && b.relay_info
                            .as_ref()
                            .and_then(|i| i.relay_id())
                            .map(|v| &v[..])
                            == Some(&r[..])
                }
            })
            .map(|b| b.addr)
            .collect();
        if self.config.chooses(Variant::BulkRepliesReversed) {
            addrs.make_contiguous().reverse();
        }
        if addrs.is_empty()
            && !matches!(key, BulkKey::All)
            && self.config.has(Fault::LeaseUnknownOnBulk)
        {
            let unknown = MessageBuilder::reply(MessageType::LeaseUnknown, xid).build();
            self.queue.push_back(frame(&self.config, &unknown));
        }
        self.bulk.push_back(BulkQuery {
            xid,
            prl,
            addrs,
            first_sent: false,
        });
    }

    fn start_active(
        &mut self,
        msg: &Received,
        decode_error: Option<DecodeError>,
        store: &LeaseStore,
        epoch: u32,
    ) {
        let xid = msg.xid();
        let malformed = |s: &mut Self, text: &str| {
            s.refuse_active(xid, StatusCode::MalformedQuery, text, epoch)
        };
        let lax = self.config.has(Fault::MalformedActiveQueryServed);
        if decode_error.is_some() && !lax {
            return malformed(self, "options do not decode");
        }
        let h = msg.header();
        if !h.ciaddr.is_unspecified() && !lax {
            return malformed(self, "ciaddr must be zero");
        }
        if h.chaddr.iter().any(|b| *b != 0) && !lax {
            return malformed(self, "chaddr must be empty");
        }
        match msg.client_id() {
            Ok(Some(_)) if !lax => return malformed(self, "client-identifier not allowed"),
            Err(_) if !lax => return malformed(self, "option 61 is malformed"),
            _ => {}
        }
        let (start, end) = match (msg.query_start_time(), msg.query_end_time()) {
            (Ok(start), Ok(end)) => (start, end),
            _ if lax => (None, None),
            _ => return malformed(self, "an option has a wrong length"),
        };
        if end.is_some() && !self.config.has(Fault::QueryEndTimeAccepted) {
            return malformed(self, "query-end-time not allowed in an active query");
        }
        let prl = match msg.parameter_request_list() {
            Ok(prl) => prl.unwrap_or_else(|| DEFAULT_PRL.to_vec()),
            Err(_) => return malformed(self, "option 55 is malformed"),
        };
        let mut active = ActiveQuery {
            xid,
            prl,
            first_sent: false,
            catch_up: None,
            live_cursor: store.next_seq(),
            pending: IndexSet::new(),
        };
        let history_since = *self.config.first_active_query.get_or_init(|| epoch);
        let coverage = |start: u32| {
            let untracked =
                start < history_since && self.config.chooses(Variant::HistoryFromFirstActiveQuery);
            if untracked {
                Coverage::Missing
            } else {
                store.coverage(start)
            }
        };
        if let Some(start) = start {
            match coverage(start) {
                Coverage::Complete { from } => {
                    let fixed = self
                        .config
                        .chooses(Variant::CatchUpFixedOnArrival)
                        .then(|| {
                            let changed: IndexSet<Ipv4Addr> = (from..store.next_seq())
                                .filter_map(|seq| store.change(seq).map(|c| c.addr))
                                .collect();
                            changed.into_iter().collect()
                        });
                    active.catch_up = Some(CatchUp {
                        cursor: from,
                        end: store.next_seq(),
                        sent: HashSet::new(),
                        fixed,
                    })
                }
                Coverage::Missing if self.config.has(Fault::NeverDataMissing) => {
                    active.catch_up = Some(CatchUp {
                        cursor: store.oldest_seq(),
                        end: store.next_seq(),
                        sent: HashSet::new(),
                        fixed: None,
                    })
                }
                Coverage::Missing => {
                    let base =
                        (!self.config.has(Fault::DataMissingWithoutBaseTime)).then_some(epoch);
                    let msg = status_reply(
                        self.config.status_type(),
                        xid,
                        Some((StatusCode::DataMissing, "")),
                        base,
                        Some(self.config.server_id),
                    );
                    active.first_sent = true;
                    self.queue.push_back(frame(&self.config, &msg));
                }
            }
        } else if self.config.has(Fault::CatchUpCompleteUnasked) {
            // Ends a catch-up the query never asked for (AMB-19).
            let msg = status_reply(
                self.config.status_type(),
                xid,
                Some((StatusCode::CatchUpComplete, "")),
                self.config.optional_base_time(epoch),
                Some(self.config.server_id),
            );
            active.first_sent = true;
            self.queue.push_back(frame(&self.config, &msg));
        }
        self.active = Some(active);
    }

    /// Moves the store's new changes into the set of bindings to report, so
    /// that a connection whose sends are blocked still tracks what changed
    /// (and later sends only the current state of each, RFC 7724 §6). Call on
    /// every store change.
    pub fn absorb_changes(&mut self, store: &LeaseStore) {
        let Some(a) = self.active.as_mut() else {
            return;
        };
        if a.live_cursor < store.oldest_seq() {
            self.history_overrun = true;
            return;
        }
        let per_change = self.config.chooses(Variant::MessagePerChange);
        if a.catch_up.is_some() && self.config.has(Fault::ChangeDuringCatchUpDropped) {
            a.live_cursor = store.next_seq();
            return;
        }
        for seq in a.live_cursor..store.next_seq() {
            if let Some(change) = store.change(seq) {
                a.pending
                    .insert((change.addr, if per_change { seq } else { 0 }));
            }
        }
        a.live_cursor = store.next_seq();
    }

    /// The TLS handshake finished; DHCP continues inside it.
    pub fn on_tls_established(&mut self, now: Duration) {
        self.tls_pending = false;
        self.in_tls = true;
        self.last_rx = now;
        // The prefix of the next message starts afresh inside TLS.
        self.decoder = FrameDecoder::new();
        self.messages_received = 0;
    }

    /// The requestor closed its end (RFC 7724 §8.4, RFC 6926 §8.5).
    pub fn handle_eof(&mut self, _now: Duration) {
        self.peer_eof = true;
        if self.config.has(Fault::StaysOpenAfterRequestorCloses) {
            return;
        }
        if self.active.is_some() || self.bulk.is_empty() {
            self.close_now(CloseReason::PeerClosed);
        }
    }

    /// The last [`Output::Transmit`] was written in full.
    pub fn on_write_completed(&mut self, now: Duration) {
        self.write_started = None;
        self.last_tx = now;
    }

    /// Ends the query with QueryTerminated and a base-time, then closes
    /// (RFC 7724 §7.4, §8.4; RFC 6926 §8.5).
    pub fn shutdown(&mut self, epoch: u32) {
        if self.closing {
            return;
        }
        self.queue.clear();
        let terminated = Some((StatusCode::QueryTerminated, "server shutting down"));
        if self.config.has(Fault::SilentShutdown) {
            self.bulk.clear();
            self.close(CloseReason::Shutdown);
            return;
        }
        if let Some(a) = &self.active {
            let server_id = (!a.first_sent).then_some(self.config.server_id);
            let msg = status_reply(
                self.config.status_type(),
                a.xid,
                terminated,
                Some(epoch),
                server_id,
            );
            self.queue.push_back(frame(&self.config, &msg));
            if self.config.has(Fault::MessageAfterQueryTerminated) {
                let keepalive = status_reply(
                    self.config.status_type(),
                    a.xid,
                    Some((StatusCode::ConnectionActive, "")),
                    None,
                    None,
                );
                self.queue.push_back(frame(&self.config, &keepalive));
            }
        } else if let Some(q) = self.bulk.front() {
            let server_id = (!q.first_sent).then_some(self.config.server_id);
            let msg = status_reply(
                MessageType::LeaseQueryDone,
                q.xid,
                terminated,
                Some(epoch),
                server_id,
            );
            self.queue.push_back(frame(&self.config, &msg));
        }
        self.bulk.clear();
        self.close(CloseReason::Shutdown);
    }

    /// When an idle connection, or one whose message stalls, is dropped.
    /// A read stalled inside a message is kept open: the defect is in the
    /// stalled read alone, an idle connection still times out.
    fn stall_kept(&self) -> bool {
        let idle = self.partial_since.is_none();
        (self.config.has(Fault::ReadStallNeverClosed) && !idle)
            || (self.config.has(Fault::IdleBulkNeverClosed) && idle)
    }

    fn read_deadline(&self) -> Duration {
        let since = match self.partial_since {
            Some(first_byte) if !self.config.has(Fault::ReadStallRestartsOnEveryByte) => first_byte,
            _ => self.last_rx.max(self.last_tx),
        };
        since + self.config.timers.bulk_data
    }

    /// Silence after which ConnectionActive is sent: ACTIVE_LQ_IDLE_TIMEOUT,
    /// or a little later within the requestor's tolerance.
    fn keepalive_after(&self) -> Duration {
        let idle = self.config.timers.active_idle;
        if self.config.has(Fault::KeepaliveEarly) {
            return idle * 3 / 4;
        }
        let late = if self.config.chooses(Variant::KeepaliveLate) {
            Duration::from_millis(500)
        } else {
            Duration::ZERO
        };
        idle + late
    }

    fn send_timeout(&self) -> Duration {
        if self.active.is_some() {
            self.config.timers.active_send
        } else {
            self.config.timers.bulk_data
        }
    }

    /// The next deadline at which [`handle_timeout`](Self::handle_timeout) must run.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.closing && self.write_started.is_none() {
            return None;
        }
        if let Some(started) = self.write_started {
            if self.config.has(Fault::BlockedConnectionNeverClosed) {
                return None;
            }
            return Some(started + self.send_timeout());
        }
        if self.tls_pending {
            return Some(self.last_rx + self.config.timers.bulk_data);
        }
        if self.active.is_some() {
            if self.config.has(Fault::NoKeepalive) {
                return None;
            }
            return Some(self.last_tx + self.keepalive_after());
        }
        if self.bulk.is_empty() && self.queue.is_empty() && !self.stall_kept() {
            return Some(self.read_deadline());
        }
        None
    }

    pub fn handle_timeout(&mut self, now: Duration, epoch: u32) {
        if let Some(started) = self.write_started {
            if now >= started + self.send_timeout()
                && !self.config.has(Fault::BlockedConnectionNeverClosed)
            {
                // The blocked write is abandoned; nothing more is sent.
                self.write_started = None;
                self.close_now(CloseReason::SendBlocked);
            }
            return;
        }
        if self.closing {
            return;
        }
        let timers = self.config.timers;
        if self.tls_pending {
            if now >= self.last_rx + timers.bulk_data {
                self.close_now(CloseReason::ReadStall);
            }
            return;
        }
        if self.active.is_some() {
            let keepalive = !self.config.has(Fault::NoKeepalive);
            let due = self.last_tx + self.keepalive_after();
            let Some(a) = &mut self.active else {
                return;
            };
            if keepalive && now >= due && self.queue.is_empty() {
                let server_id = (!a.first_sent).then_some(self.config.server_id);
                a.first_sent = true;
                let msg = status_reply(
                    self.config.status_type(),
                    a.xid,
                    Some((StatusCode::ConnectionActive, "")),
                    self.config.optional_base_time(epoch),
                    server_id,
                );
                self.queue.push_back(frame(&self.config, &msg));
            }
            return;
        }
        if self.bulk.is_empty()
            && self.queue.is_empty()
            && !self.stall_kept()
            && now >= self.read_deadline()
        {
            self.close_now(CloseReason::ReadStall);
        }
    }

    /// The next thing to do, if any. Call until it returns `None`; after a
    /// `Transmit`, call again only once the write completed.
    pub fn poll_output(&mut self, now: Duration, store: &LeaseStore, epoch: u32) -> Option<Output> {
        if self.write_started.is_some() {
            return None;
        }
        let out = self
            .queue
            .pop_front()
            .or_else(|| self.next_stream_output(store, epoch));
        if let Some(Output::Transmit(_)) = &out {
            self.write_started = Some(now);
        }
        out
    }

    fn next_stream_output(&mut self, store: &LeaseStore, epoch: u32) -> Option<Output> {
        if self.closing || self.tls_pending {
            return None;
        }
        if self.active.is_some() {
            return self.next_active_output(store, epoch);
        }
        let config = self.config.clone();
        let (suppress, faults) = (&config.suppress, &config.faults);
        let server_id = config.server_id;
        if let Some(q) = self.bulk.front_mut() {
            let first = !q.first_sent;
            q.first_sent = true;
            let id = first.then_some(server_id);
            if let Some(addr) = q.addrs.pop_front() {
                if let Some(b) = store.get(addr) {
                    let policy = ReplyPolicy {
                        prl: &q.prl,
                        server_id: id,
                        suppress,
                        faults,
                        variants: &config.variants,
                    };
                    let reply = frame(&config, &binding_reply(b, q.xid, epoch, &policy));
                    if faults.has(Fault::AddressReportedTwice) && q.addrs.is_empty() {
                        // The query's last address once more, before its DONE.
                        self.queue.push_back(reply.clone());
                    }
                    if faults.has(Fault::DoneOneReplyEarly) && q.addrs.is_empty() {
                        // DONE ahead of the query's last reply.
                        let done =
                            status_reply(MessageType::LeaseQueryDone, q.xid, None, None, None);
                        self.bulk.pop_front();
                        self.queue.push_back(reply);
                        return Some(frame(&config, &done));
                    }
                    return Some(reply);
                }
            }
            let success = config
                .chooses(Variant::SuccessStatusWithText)
                .then_some((StatusCode::Success, "query complete"));
            let done = status_reply(MessageType::LeaseQueryDone, q.xid, success, None, id);
            self.bulk.pop_front();
            if faults.has(Fault::NoDone) {
                return None;
            }
            if faults.has(Fault::DataAfterDone) {
                // The query's last message, once more behind its DONE.
                self.queue.push_back(frame(&config, &done));
            }
            if config.chooses(Variant::ClosesAfterDone) && self.bulk.is_empty() {
                // Either side may close at any time (RFC 7724 §7.5).
                self.queue.push_back(frame(&config, &done));
                self.close(CloseReason::Done);
                return self.queue.pop_front();
            }
            return Some(frame(&config, &done));
        }
        if self.peer_eof && !faults.has(Fault::StaysOpenAfterRequestorCloses) {
            self.close(CloseReason::PeerClosed);
            return self.queue.pop_front();
        }
        None
    }

    fn next_active_output(&mut self, store: &LeaseStore, epoch: u32) -> Option<Output> {
        let config = self.config.clone();
        let (suppress, faults) = (&config.suppress, &config.faults);
        let server_id = config.server_id;
        self.absorb_changes(store);
        let overrun = self.history_overrun;
        let a = self.active.as_mut()?;
        if overrun {
            let id = (!a.first_sent).then_some(server_id);
            let msg = status_reply(
                config.status_type(),
                a.xid,
                Some((StatusCode::QueryTerminated, "change history overrun")),
                Some(epoch),
                id,
            );
            self.queue.push_back(frame(&self.config, &msg));
            self.close(CloseReason::HistoryOverrun);
            return self.queue.pop_front();
        }
        let first = !a.first_sent;
        let reply = |a: &ActiveQuery, b: &Binding| {
            let policy = ReplyPolicy {
                prl: &a.prl,
                server_id: first.then_some(server_id),
                suppress,
                faults,
                variants: &config.variants,
            };
            frame(&config, &binding_reply(b, a.xid, epoch, &policy))
        };
        // Live updates go out before the rest of the catch-up unless the
        // server finishes the catch-up first (both allowed, ALQ-T-02).
        let live_waits = a.catch_up.is_some() && config.chooses(Variant::CatchUpBeforeLive);
        if !live_waits {
            if let Some((addr, _)) = a.pending.shift_remove_index(0) {
                if let Some(b) = store.get(addr) {
                    a.first_sent = true;
                    return Some(reply(a, b));
                }
            }
        }
        while let Some(cu) = &mut a.catch_up {
            if cu.cursor < store.oldest_seq() && faults.has(Fault::NeverDataMissing) {
                cu.cursor = store.oldest_seq();
            }
            let status = if let Some(fixed) = &mut cu.fixed {
                let Some(addr) = fixed.pop_front() else {
                    a.catch_up = None;
                    a.first_sent = true;
                    let msg = status_reply(
                        config.status_type(),
                        a.xid,
                        Some((StatusCode::CatchUpComplete, "")),
                        config.optional_base_time(epoch),
                        first.then_some(server_id),
                    );
                    return Some(frame(&config, &msg));
                };
                if let Some(b) = store.get(addr) {
                    a.first_sent = true;
                    return Some(reply(a, b));
                }
                continue;
            } else if cu.cursor < store.oldest_seq() {
                StatusCode::DataMissing
            } else if cu.cursor >= cu.end {
                StatusCode::CatchUpComplete
            } else {
                let change = store.change(cu.cursor);
                cu.cursor += 1;
                if let Some(b) = change
                    .filter(|c| cu.sent.insert(c.addr))
                    .and_then(|c| store.get(c.addr))
                {
                    a.first_sent = true;
                    return Some(reply(a, b));
                }
                continue;
            };
            a.catch_up = None;
            a.first_sent = true;
            if status == StatusCode::CatchUpComplete && faults.has(Fault::NoCatchUpComplete) {
                return None;
            }
            let base = match status {
                StatusCode::DataMissing if faults.has(Fault::DataMissingWithoutBaseTime) => None,
                StatusCode::DataMissing => Some(epoch),
                _ => config.optional_base_time(epoch),
            };
            let msg = status_reply(
                config.status_type(),
                a.xid,
                Some((status, "")),
                base,
                first.then_some(server_id),
            );
            if status == StatusCode::CatchUpComplete && faults.has(Fault::CatchUpCompleteTwice) {
                self.queue.push_back(frame(&config, &msg));
            }
            return Some(frame(&config, &msg));
        }
        None
    }
}
