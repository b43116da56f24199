//! Sans-IO requestor side (RFC 7724 §7, RFC 6926 §7): one [`RequestorSession`]
//! per TCP connection, carrying either one active query or a series of bulk
//! queries, and a [`RequestorPolicy`] that keeps the base-time across
//! connections, spaces retries and plans the bulk query that fills a DataMissing
//! gap.

use crate::reference::faults::{Fault, FaultSet};
use crate::reference::shaping::shape;
use crate::reference::variants::{Variant, VariantSet};
use crate::session::timers::Timers;
use crate::wire::framing::encode_frame;
use crate::wire::options::code;
use crate::wire::{
    DhcpOption, DhcpState, FrameDecoder, MessageBuilder, MessageType, RawMessage, Received,
    RelayAgentInfo, StatusCode,
};
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Options the requestor asks for (RFC 6926 §7.2 suggests 152, 51, 153, 91).
pub const REQUESTOR_PRL: &[u8] = &[
    code::BASE_TIME,
    code::LEASE_TIME,
    code::START_TIME_OF_STATE,
    code::CLIENT_LAST_TRANSACTION_TIME,
    code::CLIENT_ID,
    code::RELAY_AGENT_INFO,
    code::DHCP_STATE,
    code::DATA_SOURCE,
];

/// The four options RFC 6926 §7.2 suggests, and nothing more.
pub const MINIMAL_PRL: &[u8] = &[
    code::BASE_TIME,
    code::LEASE_TIME,
    code::START_TIME_OF_STATE,
    code::CLIENT_LAST_TRANSACTION_TIME,
];

#[derive(Debug, Clone)]
pub struct RequestorConfig {
    pub timers: Timers,
    /// Open every connection with DHCPTLS and run TLS (secure mode).
    pub secure: bool,
    pub prl: Vec<u8>,
    /// Deliberate defects (none in normal use).
    pub faults: FaultSet,
    /// Conformant choices (none by default).
    pub variants: VariantSet,
}

impl Default for RequestorConfig {
    fn default() -> Self {
        RequestorConfig {
            timers: Timers::default(),
            secure: false,
            prl: REQUESTOR_PRL.to_vec(),
            faults: FaultSet::default(),
            variants: VariantSet::default(),
        }
    }
}

/// What a binding reply said.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BindingUpdate {
    pub xid: u32,
    pub addr: Ipv4Addr,
    /// True for DHCPLEASEACTIVE, false for DHCPLEASEUNASSIGNED.
    pub active: bool,
    /// dhcp-state; a DHCPLEASEACTIVE without option 156 counts as ACTIVE (RFC 6926 §6.2.7).
    pub state: String,
    pub base_time: Option<u32>,
    pub chaddr: String,
    pub client_id: Option<String>,
    pub lease_time: Option<u32>,
    pub client_last_transaction_time: Option<u32>,
    pub start_time_of_state: Option<u32>,
    pub remote_id: Option<String>,
    pub relay_id: Option<String>,
    pub circuit_id: Option<String>,
    /// data-source REMOTE bit (mask 0x01; absent means local).
    pub remote: bool,
}

fn hex(bytes: &[u8]) -> String {
    crate::wire::describe::hex(bytes, ":")
}

impl BindingUpdate {
    fn from_message(msg: &Received, active: bool) -> Self {
        let relay: Option<RelayAgentInfo> = msg.relay_agent_info().ok().flatten();
        let state = match msg.dhcp_state().ok().flatten() {
            Some(s) => s,
            None if active => DhcpState::Active,
            None => DhcpState::Other(0),
        };
        BindingUpdate {
            xid: msg.xid(),
            addr: msg.ciaddr(),
            active,
            state: state.to_string(),
            base_time: msg.base_time().ok().flatten(),
            chaddr: hex(msg.hardware_address()),
            client_id: msg.client_id().ok().flatten().map(|b| hex(&b)),
            lease_time: msg.lease_time().ok().flatten(),
            client_last_transaction_time: msg.client_last_transaction_time().ok().flatten(),
            start_time_of_state: msg.start_time_of_state().ok().flatten(),
            remote_id: relay.as_ref().and_then(|r| r.remote_id()).map(|b| hex(b)),
            relay_id: relay.as_ref().and_then(|r| r.relay_id()).map(|b| hex(b)),
            circuit_id: relay.as_ref().and_then(|r| r.circuit_id()).map(|b| hex(b)),
            remote: msg.data_source().ok().flatten().is_some_and(|d| d.remote()),
        }
    }
}

/// What the requestor learned, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestorEvent {
    Binding(BindingUpdate),
    CatchUpComplete {
        base_time: Option<u32>,
    },
    /// The server's history does not cover the query-start-time sent
    /// (`query_start`); `base_time` is the server time of the status.
    DataMissing {
        query_start: Option<u32>,
        base_time: Option<u32>,
    },
    ConnectionActive,
    /// A bulk query ended (DHCPLEASEQUERYDONE); `status` is absent on success.
    Done {
        xid: u32,
        status: Option<StatusCode>,
    },
    /// Any other status, for example QueryTerminated.
    Status {
        code: StatusCode,
        text: String,
        base_time: Option<u32>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestorCloseReason {
    /// Every bulk query was answered.
    Finished,
    PeerClosed,
    /// No answer to DHCPTLS within BULK_LQ_DATA_TIMEOUT (RFC 7724 §7.2, AMB-13).
    NoTlsReply,
    /// DHCPTLS answered with TLSConnectionRefused (RFC 7724 §7.2).
    TlsRefused,
    TlsFailed(String),
    /// Nothing received for ACTIVE_LQ_RCV_TIMEOUT (active) or
    /// BULK_LQ_DATA_TIMEOUT (bulk).
    ReceiveTimeout,
    /// A reply whose xid matches no outstanding query (RFC 6926 §7.3).
    UnknownXid(u32),
    /// QueryTerminated, or another error status that ends the query.
    Terminated(StatusCode),
    /// A message that breaks the protocol.
    ProtocolError(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestorOutput {
    Transmit(Vec<u8>),
    /// Run the TLS handshake as client, then call
    /// [`RequestorSession::on_tls_established`].
    StartTls,
    Close(RequestorCloseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitTlsReply { xid: u32 },
    Handshake,
    Streaming,
    Closed,
}

/// One requestor connection.
#[derive(Debug)]
pub struct RequestorSession {
    timers: Timers,
    phase: Phase,
    decoder: FrameDecoder,
    queries: VecDeque<RawMessage>,
    /// xid of the query being answered.
    outstanding: Option<u32>,
    active: bool,
    query_start: Option<u32>,
    queue: VecDeque<RequestorOutput>,
    events: VecDeque<RequestorEvent>,
    last_rx: Duration,
    faults: FaultSet,
    variants: VariantSet,
    prl: Vec<u8>,
    last_binding: Option<BindingUpdate>,
}

fn frame(variants: &VariantSet, msg: &RawMessage) -> RequestorOutput {
    let bytes = if variants.is_empty() {
        msg.encode()
    } else {
        let mut shaped = msg.clone();
        shape(&mut shaped, variants);
        shaped.encode()
    };
    match encode_frame(&bytes) {
        Ok(bytes) => RequestorOutput::Transmit(bytes),
        Err(e) => RequestorOutput::Close(RequestorCloseReason::ProtocolError(e.to_string())),
    }
}

impl RequestorSession {
    fn open(
        config: &RequestorConfig,
        queries: VecDeque<RawMessage>,
        active: bool,
        tls_xid: u32,
        now: Duration,
    ) -> Self {
        let query_start = queries
            .front()
            .and_then(|q| Received::from_raw(q).query_start_time().ok().flatten());
        let mut session = RequestorSession {
            timers: config.timers,
            phase: Phase::Streaming,
            decoder: FrameDecoder::new(),
            queries,
            outstanding: None,
            active,
            query_start,
            queue: VecDeque::new(),
            events: VecDeque::new(),
            last_rx: now,
            faults: config.faults.clone(),
            variants: config.variants.clone(),
            prl: config.prl.clone(),
            last_binding: None,
        };
        if config.secure && !config.faults.has(Fault::SkipsDhcpTls) {
            session.phase = Phase::AwaitTlsReply { xid: tls_xid };
            let mut tls = MessageBuilder::request(MessageType::Tls, tls_xid);
            if config.faults.has(Fault::OptionsInDhcpTls) {
                tls = tls.option(DhcpOption::ParameterRequestList(config.prl.clone()));
            }
            session
                .queue
                .push_back(frame(&config.variants, &tls.build()));
        } else {
            session.send_next_query();
        }
        session
    }

    /// A connection carrying one active query (RFC 7724 §7.3): no ciaddr, no
    /// chaddr, no client-identifier; query-start-time when catch-up is wanted.
    pub fn active(
        config: &RequestorConfig,
        xid: u32,
        query_start: Option<u32>,
        now: Duration,
    ) -> Self {
        let mut b = MessageBuilder::request(MessageType::ActiveLeaseQuery, xid)
            .option(DhcpOption::ParameterRequestList(config.prl.clone()));
        if config.variants.has(Variant::HardwareTypeInActiveQuery) {
            b = b.hardware(1, &[]);
        }
        if config.faults.has(Fault::ClientFieldsInActiveQuery) {
            b = b.ciaddr(std::net::Ipv4Addr::new(192, 0, 2, 99));
        }
        if let Some(start) = query_start {
            b = b.option(DhcpOption::QueryStartTime(start));
        }
        Self::open(
            config,
            VecDeque::from([b.build()]),
            true,
            xid.wrapping_add(1),
            now,
        )
    }

    /// A connection carrying bulk queries, sent one after another.
    pub fn bulk(
        config: &RequestorConfig,
        queries: Vec<RawMessage>,
        tls_xid: u32,
        now: Duration,
    ) -> Self {
        Self::open(config, queries.into(), false, tls_xid, now)
    }

    fn send_next_query(&mut self) {
        match self.queries.pop_front() {
            Some(q) => {
                self.outstanding = Some(q.header.xid);
                self.queue.push_back(frame(&self.variants, &q));
                if !self.active && self.faults.has(Fault::PipelinesWithoutDemux) {
                    let mut second = q;
                    second.header.xid = second.header.xid.wrapping_add(1);
                    self.queue.push_back(frame(&self.variants, &second));
                }
            }
            None => self.close(RequestorCloseReason::Finished),
        }
    }

    fn close(&mut self, reason: RequestorCloseReason) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.queue.push_back(RequestorOutput::Close(reason));
        }
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The configuration a query built on this connection uses.
    fn query_config(&self) -> RequestorConfig {
        RequestorConfig {
            prl: self.prl.clone(),
            ..RequestorConfig::default()
        }
    }

    pub fn query_start(&self) -> Option<u32> {
        self.query_start
    }

    pub fn poll_output(&mut self) -> Option<RequestorOutput> {
        self.queue.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<RequestorEvent> {
        self.events.pop_front()
    }

    pub fn on_tls_established(&mut self, now: Duration) {
        if self.phase == Phase::Handshake {
            self.phase = Phase::Streaming;
            self.last_rx = now;
            self.decoder = FrameDecoder::new();
            self.send_next_query();
        }
    }

    pub fn handle_eof(&mut self, _now: Duration) {
        self.close(RequestorCloseReason::PeerClosed);
    }

    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.phase {
            Phase::Closed => None,
            Phase::AwaitTlsReply { .. } | Phase::Handshake => {
                Some(self.last_rx + self.timers.bulk_data)
            }
            Phase::Streaming if self.active && self.faults.has(Fault::NoReceiveTimeout) => None,
            Phase::Streaming if self.active => Some(self.last_rx + self.timers.active_receive),
            Phase::Streaming => Some(self.last_rx + self.timers.bulk_data),
        }
    }

    pub fn handle_timeout(&mut self, now: Duration) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        let reason = match self.phase {
            Phase::AwaitTlsReply { .. } => RequestorCloseReason::NoTlsReply,
            Phase::Handshake => RequestorCloseReason::TlsFailed("handshake timed out".into()),
            _ => RequestorCloseReason::ReceiveTimeout,
        };
        self.close(reason);
    }

    pub fn handle_input(&mut self, now: Duration, bytes: &[u8]) {
        if self.phase == Phase::Closed || bytes.is_empty() {
            return;
        }
        self.last_rx = now;
        if self.phase == Phase::Handshake {
            return self.close(RequestorCloseReason::ProtocolError(
                "cleartext bytes before the TLS handshake".into(),
            ));
        }
        let events: Vec<_> = self.decoder.decode(bytes).collect();
        for event in events {
            if self.phase == Phase::Closed {
                break;
            }
            match event {
                Ok(frame) => match Received::decode(frame.payload) {
                    Ok(msg) => self.handle_message(&msg),
                    Err(e) => self.close(RequestorCloseReason::ProtocolError(e.to_string())),
                },
                Err(e) => self.close(RequestorCloseReason::ProtocolError(e.to_string())),
            }
        }
    }

    fn handle_message(&mut self, msg: &Received) {
        let kind = match msg.message_type() {
            Ok(kind) => kind,
            Err(e) => return self.close(RequestorCloseReason::ProtocolError(e.to_string())),
        };
        let xid = msg.xid();
        if let Phase::AwaitTlsReply { xid: tls_xid } = self.phase {
            if kind != MessageType::Tls {
                return self.close(RequestorCloseReason::ProtocolError(format!(
                    "{kind} before the DHCPTLS reply"
                )));
            }
            if xid != tls_xid {
                return self.close(RequestorCloseReason::UnknownXid(xid));
            }
            return match msg.status().ok().flatten().map(|s| s.code) {
                None | Some(StatusCode::Success) => {
                    self.phase = Phase::Handshake;
                    self.queue.push_back(RequestorOutput::StartTls);
                }
                Some(StatusCode::TlsConnectionRefused)
                    if self.faults.has(Fault::IgnoresTlsRefusal) =>
                {
                    self.phase = Phase::Streaming;
                    self.send_next_query();
                }
                Some(StatusCode::TlsConnectionRefused) => {
                    self.close(RequestorCloseReason::TlsRefused)
                }
                Some(other) => self.close(RequestorCloseReason::TlsFailed(format!(
                    "DHCPTLS answered with {other}"
                ))),
            };
        }
        if Some(xid) != self.outstanding && self.faults.has(Fault::KeepsForeignXid) {
            return;
        }
        if Some(xid) != self.outstanding {
            return self.close(RequestorCloseReason::UnknownXid(xid));
        }
        let status = msg.status().ok().flatten();
        let base_time = msg.base_time().ok().flatten();
        match kind {
            MessageType::LeaseActive | MessageType::LeaseUnassigned => {
                if msg.ciaddr().is_unspecified() {
                    return self.close(RequestorCloseReason::ProtocolError(format!(
                        "{kind} with ciaddr 0.0.0.0"
                    )));
                }
                let update = BindingUpdate::from_message(msg, kind == MessageType::LeaseActive);
                let repeated = self.last_binding.as_ref() == Some(&update);
                if repeated && self.faults.has(Fault::ClosesOnDuplicate) {
                    return self.close(RequestorCloseReason::ProtocolError(
                        "duplicate update".into(),
                    ));
                }
                self.last_binding = Some(update.clone());
                self.events.push_back(RequestorEvent::Binding(update));
            }
            MessageType::LeaseQueryStatus if self.active => {
                let code = status.as_ref().map_or(StatusCode::Success, |s| s.code);
                match code {
                    StatusCode::CatchUpComplete => self
                        .events
                        .push_back(RequestorEvent::CatchUpComplete { base_time }),
                    StatusCode::DataMissing if self.faults.has(Fault::BulkOnActiveConnection) => {
                        let gap = bulk_query(
                            &self.query_config(),
                            xid.wrapping_add(7),
                            self.query_start,
                            base_time,
                        );
                        self.queue.push_back(frame(&self.variants, &gap));
                    }
                    StatusCode::DataMissing => self.events.push_back(RequestorEvent::DataMissing {
                        query_start: self.query_start,
                        base_time,
                    }),
                    StatusCode::ConnectionActive => {
                        self.events.push_back(RequestorEvent::ConnectionActive)
                    }
                    StatusCode::Success => {}
                    other => {
                        let text = status
                            .map(|s| String::from_utf8_lossy(&s.text).into_owned())
                            .unwrap_or_default();
                        self.events.push_back(RequestorEvent::Status {
                            code: other,
                            text,
                            base_time,
                        });
                        self.close(RequestorCloseReason::Terminated(other));
                    }
                }
            }
            MessageType::LeaseQueryDone if self.active => {
                // AMB-01: a DONE on an active connection is treated as termination.
                let code = status.map_or(StatusCode::QueryTerminated, |s| s.code);
                self.close(RequestorCloseReason::Terminated(code));
            }
            MessageType::LeaseQueryDone => {
                let code = status.map(|s| s.code).filter(|c| *c != StatusCode::Success);
                self.events
                    .push_back(RequestorEvent::Done { xid, status: code });
                self.outstanding = None;
                self.send_next_query();
            }
            other => self.close(RequestorCloseReason::ProtocolError(format!(
                "unexpected {other}"
            ))),
        }
    }
}

/// A bulk query for all configured addresses (no primary key), optionally
/// restricted to a time window (RFC 6926 §7.2).
pub fn bulk_query(
    config: &RequestorConfig,
    xid: u32,
    start: Option<u32>,
    end: Option<u32>,
) -> RawMessage {
    let mut b = MessageBuilder::request(MessageType::BulkLeaseQuery, xid)
        .option(DhcpOption::ParameterRequestList(config.prl.clone()));
    if config.variants.has(Variant::HardwareTypeInActiveQuery) {
        b = b.hardware(1, &[]);
    }
    if let Some(s) = start {
        b = b.option(DhcpOption::QueryStartTime(s));
    }
    if let Some(e) = end {
        b = b.option(DhcpOption::QueryEndTime(e));
    }
    b.build()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tracking {
    /// Base-times are adopted as they arrive.
    Live,
    /// Catch-up is running: base-times wait for CatchUpComplete (RFC 7724 §7.3).
    CatchingUp,
    /// DataMissing arrived: base-times wait for the gap-filling bulk query.
    GapPending,
}

/// When a bulk sync beside the active query starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncBeside {
    /// Its connection opens before the active one and its query goes out
    /// at once.
    OpenedFirst,
    /// Its connection opens before the active one; nothing is sent on it
    /// until the server has answered on the active connection (or that
    /// connection ended).
    OpenedFirstQuiet,
    /// Its connection opens this long after the active query went out.
    After(Duration),
}

/// State kept across connections.
#[derive(Debug)]
pub struct RequestorPolicy {
    pub config: RequestorConfig,
    adopted: Option<u32>,
    provisional: Option<u32>,
    tracking: Tracking,
    next_xid: u32,
    last_attempt: Option<Duration>,
}

impl RequestorPolicy {
    pub fn new(config: RequestorConfig, first_xid: u32) -> Self {
        RequestorPolicy {
            config,
            adopted: None,
            provisional: None,
            tracking: Tracking::Live,
            next_xid: first_xid,
            last_attempt: None,
        }
    }

    /// The base-time the next active query will carry as query-start-time.
    pub fn base_time(&self) -> Option<u32> {
        self.adopted
    }

    /// Sets the starting base-time (for example the first base-time of an
    /// initial bulk sync).
    pub fn set_base_time(&mut self, base_time: u32) {
        self.adopted = Some(self.adopted.map_or(base_time, |a| a.max(base_time)));
    }

    fn xid(&mut self) -> u32 {
        let xid = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(2);
        xid
    }

    /// When, after it starts, the requestor runs an all-configured bulk sync
    /// on a connection of its own beside its active query (RFC 7724 §4);
    /// `None` when it does not.
    pub fn bulk_sync_beside_active(&self) -> Option<SyncBeside> {
        let variants = &self.config.variants;
        if variants.has(Variant::BulkSyncBesideActive) {
            Some(SyncBeside::OpenedFirst)
        } else if variants.has(Variant::SyncConnectionFirst) {
            Some(SyncBeside::OpenedFirstQuiet)
        } else if variants.has(Variant::BulkSyncAfterActive) {
            Some(SyncBeside::After(Duration::from_secs(1)))
        } else {
            None
        }
    }

    /// Earliest time of the next connection attempt: at most one per
    /// ACTIVE_LQ_IDLE_TIMEOUT (RFC 7724 §7.1).
    pub fn next_attempt_at(&self) -> Duration {
        let idle = self.config.timers.active_idle;
        let spacing = if self.config.faults.has(Fault::RetriesTooFast) {
            Duration::from_secs(1)
        } else if self.config.variants.has(Variant::RetriesLater) {
            idle + idle / 2
        } else {
            idle
        };
        self.last_attempt.map_or(Duration::ZERO, |t| t + spacing)
    }

    /// A new active connection; records the attempt.
    pub fn start_active(&mut self, now: Duration) -> RequestorSession {
        self.last_attempt = Some(now);
        self.provisional = None;
        self.tracking = if self.adopted.is_some() {
            Tracking::CatchingUp
        } else {
            Tracking::Live
        };
        let xid = self.xid();
        let start = match self.adopted {
            Some(t) if self.config.faults.has(Fault::ShiftedQueryStartTime) => {
                Some(t.wrapping_sub(3600))
            }
            other => other,
        };
        RequestorSession::active(&self.config, xid, start, now)
    }

    /// A bulk connection with one all-configured query over `[start, end]`.
    pub fn start_bulk(
        &mut self,
        start: Option<u32>,
        end: Option<u32>,
        now: Duration,
    ) -> RequestorSession {
        let xid = self.xid();
        let query = bulk_query(&self.config, xid, start, end);
        let tls_xid = self.xid();
        RequestorSession::bulk(&self.config, vec![query], tls_xid, now)
    }

    fn take(&mut self, base_time: Option<u32>) {
        if self.config.faults.has(Fault::AdoptsBaseTimeDuringCatchUp) {
            self.tracking = Tracking::Live;
        }
        let Some(t) = base_time else {
            return;
        };
        match self.tracking {
            Tracking::Live => self.set_base_time(t),
            _ => self.provisional = Some(self.provisional.map_or(t, |p| p.max(t))),
        }
    }

    /// Feeds an event of the active connection.
    pub fn observe_active(&mut self, event: &RequestorEvent) {
        match event {
            RequestorEvent::Binding(b) => self.take(b.base_time),
            RequestorEvent::CatchUpComplete { base_time }
                if self.tracking == Tracking::CatchingUp
                    && !self.config.faults.has(Fault::IgnoresCatchUpComplete) =>
            {
                self.tracking = Tracking::Live;
                let provisional = self.provisional.take();
                self.take(provisional);
                self.take(*base_time);
            }
            RequestorEvent::DataMissing { .. } => self.tracking = Tracking::GapPending,
            _ => {}
        }
    }

    /// The query-start-time and query-end-time of the bulk query that fills the
    /// gap a DataMissing leaves (RFC 7724 §7.4.1), on a connection of its own.
    pub fn gap_to_fill(&self, event: &RequestorEvent) -> Option<(Option<u32>, Option<u32>)> {
        match event {
            RequestorEvent::DataMissing {
                query_start,
                base_time,
            } if !self.config.faults.has(Fault::NoGapFill) => Some((*query_start, *base_time)),
            _ => None,
        }
    }

    /// The bulk query that filled a DataMissing gap finished successfully.
    pub fn gap_filled(&mut self) {
        if self.tracking == Tracking::GapPending {
            self.tracking = Tracking::Live;
            let provisional = self.provisional.take();
            self.take(provisional);
        }
    }

    /// The active connection ended: anything not adopted is forgotten.
    pub fn connection_lost(&mut self) {
        self.provisional = None;
        self.tracking = Tracking::Live;
    }
}
