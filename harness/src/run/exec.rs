//! Runs one scenario's steps against a [`Backend`] and judges what comes back.

mod answer_bulk;
mod quota;
mod serve_tls;

use super::conn::{Closed, HarnessConn, Incoming};
use super::message_checks;
use super::verdict::{broken, Finding, Verdict};
use super::wire_checks;
use crate::capture::pcap::ConnectionTap;
use crate::scenario::expr::{self, Var, Vars};
use crate::scenario::model::*;
use crate::target::backend::Backend;
use crate::target::profile::TargetProfile;
use crate::wire::describe::summary;
use crate::wire::framing::{encode_frame, encode_frame_with_prefix};
use crate::wire::options::code;
use crate::wire::{
    DhcpOption, DhcpState, MessageBuilder, MessageType, OptionItem, RawMessage, RelayAgentInfo,
    Status, StatusCode,
};
use bytes::Bytes;
use serde::Serialize;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use tokio::time::Instant;

/// Who did what, when, on which connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Milliseconds since the scenario started (virtual on the paused clock).
    pub at_ms: u64,
    pub conn: String,
    /// "send", "recv" or "note".
    pub dir: &'static str,
    pub text: String,
}

/// Why a scenario stopped early.
enum Stop {
    /// A check failed; later steps would judge nonsense.
    Failed,
    /// The harness or target setup broke.
    Error(String),
}

pub struct Exec<'a> {
    scenario: &'a Scenario,
    strict: bool,
    backend: Backend,
    conns: HashMap<String, HarnessConn>,
    /// Connections whose name was reused by a later connect or accept.
    finished: Vec<(String, HarnessConn)>,
    /// Orders tap records of all connections.
    order: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Requirements the per-message checks evaluated at least once.
    checked: std::collections::BTreeSet<&'static str>,
    accepted: Vec<(String, Instant)>,
    vars: Vars,
    pub transcript: Vec<Entry>,
    pub findings: Vec<Finding>,
    start: Instant,
    step_start: Instant,
    timers: crate::session::timers::Timers,
    slack: Duration,
    expect_timeout: Duration,
    next_xid: u32,
}

/// The outcome of running one scenario's steps.
pub struct Ran {
    pub transcript: Vec<Entry>,
    pub connections: Vec<ConnectionTap>,
    pub findings: Vec<Finding>,
    pub error: Option<String>,
    pub elapsed: Duration,
}

fn parse_count(text: &str) -> Result<(usize, usize), String> {
    let t = text.trim();
    let bad = || format!("count '{text}' is not N, >= N, N..M, N.. or any");
    if t == "any" {
        return Ok((0, usize::MAX));
    }
    if let Some(n) = t.strip_prefix(">=") {
        return Ok((n.trim().parse().map_err(|_| bad())?, usize::MAX));
    }
    if let Some((a, b)) = t.split_once("..") {
        let min = a.trim().parse().map_err(|_| bad())?;
        let max = if b.trim().is_empty() {
            usize::MAX
        } else {
            b.trim().parse().map_err(|_| bad())?
        };
        return Ok((min, max));
    }
    let n = t.parse().map_err(|_| bad())?;
    Ok((n, n))
}

fn is_keepalive(msg: &RawMessage) -> bool {
    msg.message_type() == Ok(MessageType::LeaseQueryStatus)
        && matches!(msg.status(), Ok(Some(s)) if s.code == StatusCode::ConnectionActive)
}

impl<'a> Exec<'a> {
    pub fn new(
        scenario: &'a Scenario,
        profile: &TargetProfile,
        backend: Backend,
        strict: bool,
    ) -> Result<Self, String> {
        let timers = profile.timers;
        let now = Instant::now();
        Ok(Exec {
            scenario,
            strict,
            backend,
            conns: HashMap::new(),
            finished: Vec::new(),
            order: Default::default(),
            checked: Default::default(),
            accepted: Vec::new(),
            vars: Vars::new(),
            transcript: Vec::new(),
            findings: Vec::new(),
            start: now,
            step_start: now,
            timers,
            slack: expr::duration(&profile.slack, &timers).map_err(|e| e.to_string())?,
            expect_timeout: expr::duration(&profile.expect_timeout, &timers)
                .map_err(|e| e.to_string())?,
            next_xid: 0x0a1a_0001,
        })
    }

    fn open(&mut self, name: &str, io: crate::net::transport::BoxedIo, harness_is_client: bool) {
        if let Some(old) = self.conns.remove(name) {
            self.finished.push((name.to_string(), old));
        }
        let conn = HarnessConn::new(io, self.start, harness_is_client, self.order.clone());
        self.conns.insert(name.to_string(), conn);
    }

    /// Every connection's tap, in order of opening, with synthesized addresses:
    /// the harness on 127.0.0.1, the target on 127.0.0.2, the server on port 67
    /// so Wireshark's leasequery plugin decodes it.
    fn taps(&mut self) -> Vec<ConnectionTap> {
        let mut all: Vec<(String, HarnessConn)> = std::mem::take(&mut self.finished);
        all.extend(self.conns.drain());
        all.sort_by_key(|(_, c)| c.opened_seq);
        all.into_iter()
            .enumerate()
            .map(|(i, (name, c))| {
                let ephemeral = 40_000 + u16::try_from(i).unwrap_or(u16::MAX - 40_000);
                let harness = Ipv4Addr::new(127, 0, 0, 1);
                let target = Ipv4Addr::new(127, 0, 0, 2);
                let (client, server) = if c.harness_is_client {
                    (
                        SocketAddrV4::new(harness, ephemeral),
                        SocketAddrV4::new(target, 67),
                    )
                } else {
                    (
                        SocketAddrV4::new(target, ephemeral),
                        SocketAddrV4::new(harness, 67),
                    )
                };
                ConnectionTap {
                    name,
                    client,
                    server,
                    opened_at: c.opened_at.duration_since(self.start),
                    opened_seq: c.opened_seq,
                    decrypted_after_tls: c.tls,
                    records: c.tap,
                }
            })
            .collect()
    }

    fn log(&mut self, conn: &str, dir: &'static str, text: String) -> usize {
        self.transcript.push(Entry {
            at_ms: u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX),
            conn: conn.to_string(),
            dir,
            text,
        });
        self.transcript.len() - 1
    }

    fn default_requirement(&self) -> String {
        self.scenario.covers.first().cloned().unwrap_or_default()
    }

    /// Records a broken check; `Err(Stop::Failed)` when it is a failure.
    fn judge(
        &mut self,
        requirement: Option<&str>,
        level: Option<LevelOverride>,
        message: String,
        frame: Option<usize>,
    ) -> Result<(), Stop> {
        let req = requirement.map_or_else(|| self.default_requirement(), str::to_string);
        let verdict = broken(&req, level, self.strict);
        self.findings.push(Finding {
            requirement: req,
            verdict,
            message,
            frame,
        });
        if verdict == Verdict::Fail {
            Err(Stop::Failed)
        } else {
            Ok(())
        }
    }

    fn pass(&mut self, requirement: Option<&str>, message: String, frame: Option<usize>) {
        let req = requirement.map_or_else(|| self.default_requirement(), str::to_string);
        self.findings.push(Finding {
            requirement: req,
            verdict: Verdict::Pass,
            message,
            frame,
        });
    }

    fn duration(&self, e: &str) -> Result<Duration, Stop> {
        expr::duration(e, &self.timers).map_err(|e| Stop::Error(e.to_string()))
    }

    fn conn(&mut self, name: &str) -> Result<&mut HarnessConn, Stop> {
        self.conns.get_mut(name).ok_or_else(|| {
            Stop::Error(format!(
                "connection '{name}' is not open (connect or accept it first)"
            ))
        })
    }

    fn number(&self, v: &Value) -> Result<u32, Stop> {
        expr::number(v, &self.vars).map_err(|e| Stop::Error(e.to_string()))
    }

    fn bytes(&self, text: &str) -> Result<Vec<u8>, Stop> {
        expr::bytes(text, &self.vars).map_err(|e| Stop::Error(e.to_string()))
    }

    fn address(&self, v: &Value) -> Result<Ipv4Addr, Stop> {
        expr::address(v, &self.vars).map_err(|e| Stop::Error(e.to_string()))
    }

    /// Receives one event, logging messages and applying the WIRE checks the
    /// first time an event is seen.
    async fn receive(
        &mut self,
        conn: &str,
        deadline: Instant,
    ) -> Result<(Incoming, Option<usize>), Stop> {
        let (event, seen) = self.conn(conn)?.next(deadline).await;
        if seen.is_some() {
            return Ok((event, seen));
        }
        let frame = match &event {
            Incoming::Message(msg) => {
                let frame = self.log(conn, "recv", summary(msg));
                let mut broken = wire_checks::check(msg, self.scenario.role);
                let role = self.scenario.role;
                let checked = &mut self.checked;
                if let Some(c) = self.conns.get_mut(conn) {
                    broken.extend(match role {
                        Role::Requestor => {
                            let context = message_checks::ServerConn {
                                active: c.active_query_sent,
                                sent_xids: &c.sent_xids,
                                requested: &c.requested,
                                reported: &c.reported,
                            };
                            message_checks::server_message(msg, &context, checked)
                        }
                        Role::Server => {
                            let context = message_checks::RequestorConn {
                                xids: &c.request_xids,
                                after_active: c.active_query_received,
                            };
                            message_checks::requestor_message(msg, &context, checked)
                        }
                    });
                    match msg.message_type() {
                        Ok(MessageType::LeaseActive | MessageType::LeaseUnassigned) => {
                            c.reported.insert((msg.header.xid, msg.header.ciaddr));
                        }
                        Ok(MessageType::ActiveLeaseQuery) if role == Role::Server => {
                            c.active_query_received = true
                        }
                        _ => {}
                    }
                    if role == Role::Server {
                        c.request_xids.insert(msg.header.xid);
                    }
                }
                let mut failed = false;
                for (req, verdict, message) in broken {
                    let level = (verdict == Verdict::Warn).then_some(LevelOverride::Should);
                    failed |= self.judge(Some(req), level, message, Some(frame)).is_err();
                }
                if failed {
                    return Err(Stop::Failed);
                }
                Some(frame)
            }
            Incoming::Garbage(text) => {
                let frame = self.log(conn, "recv", format!("not a DHCP message: {text}"));
                let framing = if self.scenario.role == Role::Requestor {
                    "BLQ-S-01"
                } else {
                    "WIRE-01"
                };
                self.judge(Some(framing), None, text.clone(), Some(frame))?;
                Some(frame)
            }
            Incoming::Closed(kind) => {
                Some(self.log(conn, "note", format!("peer closed ({kind:?})")))
            }
            Incoming::Timeout => None,
        };
        Ok((event, frame))
    }

    pub async fn run(mut self) -> Ran {
        let steps = self.scenario.steps.clone();
        let mut error = None;
        for (index, step) in steps.iter().enumerate() {
            match self.step(step).await {
                Ok(()) => {}
                Err(Stop::Failed) => {
                    self.log(
                        "",
                        "note",
                        format!("stopped after step {} failed", index + 1),
                    );
                    break;
                }
                Err(Stop::Error(e)) => {
                    self.log(
                        "",
                        "note",
                        format!("step {}: harness error: {e}", index + 1),
                    );
                    error = Some(format!("step {}: {e}", index + 1));
                    break;
                }
            }
            self.step_start = Instant::now();
        }
        let elapsed = self.start.elapsed();
        for req in std::mem::take(&mut self.checked) {
            if !self.findings.iter().any(|f| f.requirement == req) {
                self.findings.push(Finding {
                    requirement: req.to_string(),
                    verdict: Verdict::Pass,
                    message: "held for every message received".into(),
                    frame: None,
                });
            }
        }
        let connections = self.taps();
        self.backend.finish().await;
        Ran {
            connections,
            transcript: self.transcript,
            findings: self.findings,
            error,
            elapsed,
        }
    }

    async fn step(&mut self, step: &Step) -> Result<(), Stop> {
        match step {
            Step::Connect(c) => self.connect(c).await,
            Step::Accept(a) => self.accept(a).await,
            Step::Send(s) => self.send(s).await,
            Step::Expect(e) => self.expect(e).await,
            Step::Check(e) => self.check(e),
            Step::ExpectClose(e) => self.expect_close(e).await,
            Step::ExpectSilence(e) => self.expect_silence(e).await,
            Step::ExpectAddresses(e) => self.expect_addresses(e),
            Step::StartTls(t) => self.start_tls(t).await,
            Step::ServeTls(t) => self.serve_tls(t).await,
            Step::OpenConnections(o) => self.open_connections(o).await,
            Step::AnswerBulk(a) => self.answer_bulk(a).await,
            Step::StopTarget(_) => {
                self.backend.stop().await.map_err(Stop::Error)?;
                self.log("", "note", "target server stopped".into());
                Ok(())
            }
            Step::PauseReading(c) => {
                self.conn(&c.conn)?.paused = true;
                self.log(&c.conn, "note", "reading paused".into());
                Ok(())
            }
            Step::ResumeReading(c) => {
                self.conn(&c.conn)?.paused = false;
                self.log(&c.conn, "note", "reading resumed".into());
                Ok(())
            }
            Step::Trigger(t) => self.trigger(t).await,
            Step::Capture(c) => self.capture(c),
            Step::Wait(w) => {
                let d = self.duration(&w.duration)?;
                tokio::time::sleep(d).await;
                Ok(())
            }
            Step::Close(c) => {
                let conn = self.conn(&c.conn)?;
                match c.how {
                    CloseHow::Half => conn.shutdown_write().await,
                    CloseHow::Full => conn.drop_stream(),
                }
                self.log(&c.conn, "note", format!("closed ({:?})", c.how));
                Ok(())
            }
        }
    }

    async fn connect(&mut self, c: &Connect) -> Result<(), Stop> {
        let denied = c.from == Some(Source::DeniedSource);
        let io = self
            .backend
            .connect(c.recv_buffer, c.reset_on_close, denied)
            .await
            .map_err(Stop::Error)?;
        self.open(&c.conn, io, true);
        self.conn(&c.conn)?.resets = c.reset_on_close;
        let from = if denied {
            " from the denied source"
        } else {
            ""
        };
        self.log(&c.conn, "note", format!("connected{from}"));
        Ok(())
    }

    async fn accept(&mut self, a: &Accept) -> Result<(), Stop> {
        let within = match &a.within {
            Some(w) => self.duration(w)?,
            None => self.expect_timeout,
        };
        let deadline = self.step_start + within + self.slack;
        match self.backend.accept(deadline).await.map_err(Stop::Error)? {
            None => {
                let frame = self.log(&a.conn, "note", "no connection".into());
                self.judge(
                    a.requirement.as_deref(),
                    None,
                    format!("the requestor did not connect within {within:?}"),
                    Some(frame),
                )?;
                // Later steps need the connection.
                Err(Stop::Failed)
            }
            Some(io) => {
                let now = Instant::now();
                let frame = self.log(&a.conn, "note", "accepted".into());
                if let Some(min) = &a.not_before {
                    let min = self.duration(min)?;
                    let since = match &a.since {
                        Some(name) => self
                            .accepted
                            .iter()
                            .rev()
                            .find(|(n, _)| n == name)
                            .map(|(_, t)| *t),
                        None => self.accepted.last().map(|(_, t)| *t),
                    };
                    if let Some(since) = since {
                        let gap = now - since;
                        if gap < min {
                            self.judge(
                                a.requirement.as_deref(),
                                None,
                                format!("reconnected after {gap:?}, sooner than {min:?}"),
                                Some(frame),
                            )?;
                        } else {
                            self.pass(
                                a.requirement.as_deref(),
                                format!("reconnected after {gap:?}"),
                                Some(frame),
                            );
                        }
                    }
                }
                self.accepted.push((a.conn.clone(), now));
                self.open(&a.conn, io, false);
                Ok(())
            }
        }
    }

    fn build(&mut self, s: &Send) -> Result<RawMessage, Stop> {
        let role = self.scenario.role;
        let xid = match &s.xid {
            Some(v) => self.number(v)?,
            None if role == Role::Server => self
                .conns
                .get(&s.conn)
                .and_then(|c| c.received.last())
                .map(|m| m.header.xid)
                .unwrap_or(0),
            None => {
                self.next_xid = self.next_xid.wrapping_add(1);
                self.next_xid
            }
        };
        let op = s.op.unwrap_or(if role == Role::Requestor { 1 } else { 2 });
        let mut b = match s.kind {
            Some(TypeName(t)) => MessageBuilder::request(t, xid),
            None => MessageBuilder::request(MessageType::Other(0), xid),
        };
        if let Some(hw) = &s.chaddr {
            let bytes = self.bytes(hw)?;
            b = b.hardware(s.htype.unwrap_or(1), &bytes);
        }
        if let Some(v) = &s.ciaddr {
            b = b.ciaddr(self.address(v)?);
        }
        if let Some(prl) = &s.prl {
            b = b.option(DhcpOption::ParameterRequestList(prl.clone()));
        }
        if let Some(id) = &s.client_id {
            b = b.option(DhcpOption::ClientId(Bytes::from(self.bytes(id)?)));
        }
        if let Some(relay) = RelayAgentInfo::from_text(
            s.circuit_id.as_deref(),
            s.remote_id.as_deref(),
            s.relay_id.as_deref(),
        ) {
            b = b.option(DhcpOption::RelayAgentInfo(relay));
        }
        if let Some(v) = &s.query_start_time {
            b = b.option(DhcpOption::QueryStartTime(self.number(v)?));
        }
        if let Some(v) = &s.query_end_time {
            b = b.option(DhcpOption::QueryEndTime(self.number(v)?));
        }
        if let Some(StatusName(Some(code))) = s.status {
            b = b.option(DhcpOption::Status(Status::new(
                code,
                s.status_text.as_deref().unwrap_or(""),
            )));
        }
        if let Some(v) = &s.base_time {
            b = b.option(DhcpOption::BaseTime(self.number(v)?));
        }
        if let Some(v) = &s.lease_time {
            b = b.option(DhcpOption::LeaseTime(self.number(v)?));
        }
        if let Some(state) = &s.dhcp_state {
            let state: DhcpState = state
                .parse()
                .map_err(|e: crate::wire::types::UnknownName| Stop::Error(e.to_string()))?;
            b = b.option(DhcpOption::DhcpState(state));
        }
        for raw in &s.options {
            let data = self.bytes(&raw.hex)?;
            let len = raw
                .length
                .unwrap_or(u8::try_from(data.len()).unwrap_or(u8::MAX));
            let mut bytes = vec![raw.code, len];
            bytes.extend_from_slice(&data);
            b = b.item(OptionItem::Raw(Bytes::from(bytes)));
        }
        let mut msg = if s.no_end {
            b.build_without_end()
        } else {
            b.build()
        };
        if s.kind.is_none() {
            msg.options.retain(
                |i| !matches!(i, OptionItem::Tlv { code: c, .. } if *c == code::MESSAGE_TYPE),
            );
        }
        msg.header.op = op;
        if let Some(h) = s.hlen {
            msg.header.hlen = h;
        }
        if let Some(v) = &s.yiaddr {
            msg.header.yiaddr = self.address(v)?;
        }
        if let Some(v) = &s.siaddr {
            msg.header.siaddr = self.address(v)?;
        }
        Ok(msg)
    }

    async fn send(&mut self, s: &Send) -> Result<(), Stop> {
        let (bytes, text) = match &s.raw_hex {
            Some(hex) => {
                let bytes = self.bytes(hex)?;
                let text = format!("{} raw bytes", bytes.len());
                (bytes, text)
            }
            None => {
                let msg = self.build(s)?;
                let conn = self.conn(&s.conn)?;
                conn.active_query_sent |= msg.message_type() == Ok(MessageType::ActiveLeaseQuery);
                conn.sent_xids.push(msg.header.xid);
                if let Ok(Some(prl)) = msg.parameter_request_list() {
                    conn.requested = prl;
                }
                let body = msg.encode();
                let framed = match s.length_prefix {
                    Some(p) => encode_frame_with_prefix(p, &body),
                    None => encode_frame(&body).map_err(|e| Stop::Error(e.to_string()))?,
                };
                let mut text = summary(&msg);
                if let Some(p) = s.length_prefix {
                    text.push_str(&format!(" (length prefix {p}, true length {})", body.len()));
                }
                (framed, text)
            }
        };
        let times = s.repeat.unwrap_or(1).max(1);
        let text = if times > 1 {
            format!("{text} (x{times})")
        } else {
            text
        };
        let bytes = bytes.repeat(times);
        self.log(&s.conn, "send", text);
        let mut cuts: Vec<usize> = s
            .split
            .iter()
            .copied()
            .filter(|c| *c < bytes.len())
            .collect();
        cuts.sort_unstable();
        cuts.push(bytes.len());
        let mut from = 0;
        for cut in cuts {
            let piece = bytes.get(from..cut).unwrap_or_default();
            if let Err(e) = self.conn(&s.conn)?.write(piece).await {
                self.log(&s.conn, "note", format!("write failed: {e}"));
                break;
            }
            from = cut;
            if from < bytes.len() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(())
    }

    /// Why `msg` does not match `e`, or `None` when it does.
    fn mismatch(&self, e: &Expect, msg: &RawMessage) -> Result<Option<String>, Stop> {
        let kind = msg.message_type().ok();
        if let Some(kinds) = &e.kind {
            let kinds: Vec<MessageType> = kinds.to_vec().into_iter().map(|k| k.0).collect();
            if kind.is_none_or(|k| !kinds.contains(&k)) {
                let want: Vec<String> = kinds.iter().map(ToString::to_string).collect();
                return Ok(Some(format!(
                    "expected {}, got {}",
                    want.join(" or "),
                    summary(msg)
                )));
            }
        }
        if let Some(x) = &e.xid {
            let want = self.number(x)?;
            if msg.header.xid != want {
                return Ok(Some(format!(
                    "expected xid 0x{want:08x}, got 0x{:08x}",
                    msg.header.xid
                )));
            }
        }
        if let Some(statuses) = &e.status {
            let got = msg.status().ok().flatten().map(|s| s.code);
            let wants: Vec<Option<StatusCode>> =
                statuses.to_vec().into_iter().map(|s| s.0).collect();
            if !wants.contains(&got) {
                let show = |s: Option<StatusCode>| {
                    s.map_or("no status".to_string(), |c| format!("status {c}"))
                };
                let want: Vec<String> = wants.iter().map(|s| show(*s)).collect();
                return Ok(Some(format!(
                    "expected {}, got {}",
                    want.join(" or "),
                    show(got)
                )));
            }
        }
        if let Some(c) = &e.ciaddr {
            let got = msg.header.ciaddr;
            let ok = match c {
                Value::Text(t) if t == "nonzero" => !got.is_unspecified(),
                Value::Text(t) if t == "zero" => got.is_unspecified(),
                other => got == self.address(other)?,
            };
            if !ok {
                return Ok(Some(format!("ciaddr {got} does not match {c:?}")));
            }
        }
        if let Some(hw) = &e.chaddr {
            let want = self.bytes(hw)?;
            if msg.header.hardware_address() != want.as_slice() {
                return Ok(Some(format!(
                    "chaddr {} is not {}",
                    crate::wire::describe::hex(msg.header.hardware_address(), ":"),
                    crate::wire::describe::hex(&want, ":")
                )));
            }
        }
        for c in &e.present {
            if msg.option_data(*c).ok().flatten().is_none() {
                return Ok(Some(format!("option {c} is missing from {}", summary(msg))));
            }
        }
        for c in &e.absent {
            if msg.option_data(*c).ok().flatten().is_some() {
                return Ok(Some(format!("option {c} is present in {}", summary(msg))));
            }
        }
        if let Some(want) = &e.dhcp_state {
            let want: DhcpState = want
                .parse()
                .map_err(|e: crate::wire::types::UnknownName| Stop::Error(e.to_string()))?;
            let got = msg.dhcp_state().ok().flatten();
            if got != Some(want) {
                let got = got.map_or("no dhcp-state".to_string(), |g| format!("dhcp-state {g}"));
                return Ok(Some(format!("expected dhcp-state {want}, got {got}")));
            }
        }
        for v in &e.when_present {
            let want = self.bytes(&v.hex)?;
            if let Some(got) = msg.option_data(v.code).ok().flatten() {
                if got.as_ref() != want.as_slice() {
                    return Ok(Some(format!(
                        "option {} is {}, expected {}",
                        v.code,
                        crate::wire::describe::hex(&got, " "),
                        crate::wire::describe::hex(&want, " ")
                    )));
                }
            }
        }
        for (want, got, name) in [
            (
                &e.query_start_time,
                msg.query_start_time().ok().flatten(),
                "query-start-time",
            ),
            (
                &e.query_end_time,
                msg.query_end_time().ok().flatten(),
                "query-end-time",
            ),
        ] {
            match want {
                Some(Value::Text(t)) if t == "none" => {
                    if let Some(g) = got {
                        return Ok(Some(format!("{name} {g} present, expected none")));
                    }
                }
                Some(v) => {
                    let want = self.number(v)?;
                    if got != Some(want) {
                        return Ok(Some(format!("{name} is {got:?}, expected {want}")));
                    }
                }
                None => {}
            }
        }
        Ok(None)
    }

    async fn expect(&mut self, e: &Expect) -> Result<(), Stop> {
        if self.conn(&e.conn)?.paused {
            return Err(Stop::Error(format!(
                "connection '{}' is paused; resume-reading first",
                e.conn
            )));
        }
        let (min, max) = match &e.count {
            Some(c) => parse_count(c).map_err(Stop::Error)?,
            None => (1, 1),
        };
        // A later `check` judges what this expect matches, or nothing.
        let conn = self.conn(&e.conn)?;
        conn.last_matched = None;
        conn.any_expect = true;
        let within = match &e.within {
            Some(w) => self.duration(w)?,
            None => self.expect_timeout,
        };
        let not_before = e
            .not_before
            .as_deref()
            .map(|d| self.duration(d))
            .transpose()?;
        let expects_keepalive = e.status.as_ref().is_some_and(|s| {
            s.to_vec()
                .iter()
                .any(|s| s.0 == Some(StatusCode::ConnectionActive))
        });
        let ignore_keepalives = e.ignore_keepalives.unwrap_or(!expects_keepalive);
        let req = e.requirement.as_deref();
        let mut matched = 0usize;
        let mut last_progress = self.step_start;
        let mut last_frame = None;
        let mut stop_reason = String::new();
        while matched < max {
            let deadline = last_progress + within + self.slack;
            let (event, frame) = self.receive(&e.conn, deadline).await?;
            match event {
                Incoming::Message(msg) => {
                    if e.idle {
                        // Any message ends the idle period the timer measures.
                        let now = Instant::now();
                        if self.mismatch(e, &msg)?.is_some() {
                            last_progress = now;
                        }
                    }
                    if ignore_keepalives && is_keepalive(&msg) && !expects_keepalive {
                        continue;
                    }
                    match self.mismatch(e, &msg)? {
                        None => {
                            matched += 1;
                            last_frame = frame;
                            self.conn(&e.conn)?.last_matched = Some((*msg).clone());
                            let now = Instant::now();
                            if let Some(min_wait) = not_before {
                                let waited = now - last_progress;
                                if waited + Duration::from_millis(1) < min_wait {
                                    self.judge(
                                        req,
                                        e.level,
                                        format!(
                                            "arrived after {waited:?}, sooner than {min_wait:?}"
                                        ),
                                        frame,
                                    )?;
                                }
                            }
                            last_progress = now;
                        }
                        Some(why) if e.skip_others => {
                            let _ = why;
                            continue;
                        }
                        Some(why) if matched >= min && e.count.is_some() => {
                            self.conn(&e.conn)?.unread(Incoming::Message(msg), frame);
                            stop_reason = why;
                            break;
                        }
                        Some(why) => return self.judge(req, e.level, why, frame),
                    }
                }
                Incoming::Timeout => {
                    stop_reason = format!("nothing more within {within:?}");
                    break;
                }
                Incoming::Closed(kind) => {
                    self.conn(&e.conn)?.unread(Incoming::Closed(kind), frame);
                    stop_reason = format!("connection closed ({kind:?})");
                    break;
                }
                Incoming::Garbage(_) => return Err(Stop::Failed),
            }
        }
        if matched < min {
            let what = if e.count.is_some() {
                format!(
                    "{matched} matching messages, expected {}: {stop_reason}",
                    e.count.as_deref().unwrap_or("1")
                )
            } else {
                format!("no matching message: {stop_reason}")
            };
            let frame = last_frame.or(self.transcript.len().checked_sub(1));
            return self.judge(req, e.level, what, frame);
        }
        self.pass(req, format!("{matched} matching message(s)"), last_frame);
        Ok(())
    }

    fn check(&mut self, e: &Expect) -> Result<(), Stop> {
        let conn = self.conn(&e.conn)?;
        let Some(msg) = conn.last_matched.clone() else {
            if !conn.any_expect {
                return Err(Stop::Error(format!(
                    "check on '{}' needs an expect before it",
                    e.conn
                )));
            }
            // The expect before it was graded a warning and matched nothing.
            self.log(
                &e.conn,
                "note",
                "check skipped: the expect before it matched nothing".into(),
            );
            return Ok(());
        };
        let frame = self
            .transcript
            .iter()
            .rposition(|t| t.conn == e.conn && t.dir == "recv");
        match self.mismatch(e, &msg)? {
            None => {
                self.pass(e.requirement.as_deref(), "holds".into(), frame);
                Ok(())
            }
            Some(why) => match self.judge(e.requirement.as_deref(), e.level, why, frame) {
                Err(Stop::Failed) | Ok(()) => Ok(()),
                Err(other) => Err(other),
            },
        }
    }

    async fn expect_close(&mut self, e: &ExpectClose) -> Result<(), Stop> {
        let within = match &e.within {
            Some(w) => self.duration(w)?,
            None => self.expect_timeout,
        };
        let deadline = self.step_start + within + self.slack;
        let req = e.requirement.as_deref();
        let mut before = 0usize;
        loop {
            let (event, frame) = self.receive(&e.conn, deadline).await?;
            match event {
                Incoming::Message(_) | Incoming::Garbage(_) => before += 1,
                Incoming::Closed(kind) => {
                    if before > 0 {
                        let level = e.messages_before.or(Some(LevelOverride::Should));
                        self.judge(
                            req,
                            level,
                            format!("{before} message(s) before the close"),
                            frame,
                        )?;
                    }
                    let ok = match e.how {
                        CloseKind::Any => true,
                        CloseKind::Fin => kind == Closed::Fin,
                        CloseKind::Rst => kind == Closed::Rst,
                    };
                    if ok {
                        self.pass(req, format!("closed ({kind:?})"), frame);
                        return Ok(());
                    }
                    return self.judge(
                        Some("BLQ-S-38"),
                        Some(LevelOverride::Should),
                        format!("closed with {kind:?}, expected {:?}", e.how),
                        frame,
                    );
                }
                Incoming::Timeout => {
                    let frame = self.log(&e.conn, "note", "still open".into());
                    return self.judge(
                        req,
                        e.level,
                        format!("connection still open after {within:?}"),
                        Some(frame),
                    );
                }
            }
        }
    }

    async fn expect_silence(&mut self, e: &ExpectSilence) -> Result<(), Stop> {
        let d = self.duration(&e.duration)?;
        let deadline = self.step_start + d;
        let req = e.requirement.as_deref();
        let filter = Expect {
            kind: e.kind.clone(),
            status: e.status.clone(),
            ..Expect::default()
        };
        loop {
            let (event, frame) = self.receive(&e.conn, deadline).await?;
            match event {
                Incoming::Timeout => {
                    self.pass(req, format!("silent for {d:?}"), None);
                    return Ok(());
                }
                Incoming::Closed(kind) if e.close_ok => {
                    self.conn(&e.conn)?.unread(Incoming::Closed(kind), frame);
                    self.pass(req, "closed, which counts as silence".into(), frame);
                    return Ok(());
                }
                Incoming::Closed(kind) => {
                    self.conn(&e.conn)?.unread(Incoming::Closed(kind), frame);
                    return self.judge(
                        req,
                        e.level,
                        format!("connection closed ({kind:?}) where silence was expected"),
                        frame,
                    );
                }
                Incoming::Message(msg) => {
                    if self.mismatch(&filter, &msg)?.is_none() {
                        return self.judge(
                            req,
                            e.level,
                            format!("expected silence, got {}", summary(&msg)),
                            frame,
                        );
                    }
                }
                Incoming::Garbage(g) => {
                    return self.judge(req, e.level, format!("expected silence, got {g}"), frame)
                }
            }
        }
    }

    fn expect_addresses(&mut self, e: &ExpectAddresses) -> Result<(), Stop> {
        let wanted =
            expr::addresses(&e.include, &self.vars).map_err(|err| Stop::Error(err.to_string()))?;
        let conn = self.conn(&e.conn)?;
        let received = conn.received.clone();
        if let Some(StatusName(Some(excuse))) = e.unless_status {
            if received
                .iter()
                .any(|m| matches!(m.status(), Ok(Some(s)) if s.code == excuse))
            {
                let frame = self.log(
                    &e.conn,
                    "note",
                    format!("{excuse} received: address check skipped"),
                );
                self.pass(
                    e.requirement.as_deref(),
                    format!("{excuse} excuses missing data"),
                    Some(frame),
                );
                return Ok(());
            }
        }
        let xid = e.xid.as_ref().map(|v| self.number(v)).transpose()?;
        let seen: Vec<Ipv4Addr> = received
            .iter()
            .filter(|m| xid.is_none_or(|x| m.header.xid == x))
            .filter(|m| {
                matches!(
                    m.message_type(),
                    Ok(MessageType::LeaseActive | MessageType::LeaseUnassigned)
                )
            })
            .map(|m| m.header.ciaddr)
            .collect();
        if let Some(list) = &e.exclude {
            let unwanted =
                expr::addresses(list, &self.vars).map_err(|err| Stop::Error(err.to_string()))?;
            let frame = self.transcript.len().checked_sub(1);
            if let Some(a) = unwanted.iter().find(|a| seen.contains(a)) {
                return self.judge(
                    e.requirement.as_deref(),
                    None,
                    format!("{a} was reported but should not match"),
                    frame,
                );
            }
        }
        let missing: Vec<String> = wanted
            .iter()
            .filter(|a| !seen.contains(a))
            .map(ToString::to_string)
            .collect();
        let frame = self.transcript.len().checked_sub(1);
        if let (Some(TypeName(want)), true) = (e.seen_as, missing.is_empty()) {
            for addr in &wanted {
                let seen = received
                    .iter()
                    .any(|m| m.header.ciaddr == *addr && m.message_type() == Ok(want));
                if !seen {
                    return self.judge(
                        e.requirement.as_deref(),
                        None,
                        format!("{addr} was never reported as {want}"),
                        frame,
                    );
                }
            }
        }
        if missing.is_empty() {
            self.pass(
                e.requirement.as_deref(),
                format!("all {} addresses reported", wanted.len()),
                frame,
            );
            Ok(())
        } else {
            self.judge(
                e.requirement.as_deref(),
                None,
                format!("never reported: {}", missing.join(", ")),
                frame,
            )
        }
    }

    async fn start_tls(&mut self, t: &StartTls) -> Result<(), Stop> {
        let (connector, name) = self.backend.tls_connector(t.cert).map_err(Stop::Error)?;
        let stream = self
            .conn(&t.conn)?
            .take_stream()
            .ok_or_else(|| Stop::Error(format!("connection '{}' is closed", t.conn)))?;
        let within = self.expect_timeout + self.slack;
        let handshake = tokio::time::timeout(within, connector.connect(name, stream)).await;
        let outcome: Result<(), String> = match handshake {
            Err(_) => Err("handshake timed out".into()),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(mut tls)) => {
                // Under TLS 1.3 a rejected client certificate arrives as an alert
                // after the client's side of the handshake is done.
                use tokio::io::AsyncReadExt;
                let mut probe = [0u8; 1];
                match tokio::time::timeout(
                    Duration::from_millis(500) + self.slack,
                    tls.read(&mut probe),
                )
                .await
                {
                    Ok(Ok(0)) => Err("closed right after the handshake".into()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Ok(Ok(_)) => Err("server sent application data before the query".into()),
                    Err(_) => {
                        self.conn(&t.conn)?.replace(Box::new(tls));
                        Ok(())
                    }
                }
            }
        };
        let frame = self.log(
            &t.conn,
            "note",
            format!("TLS with {:?} certificate: {outcome:?}", t.cert),
        );
        let req = t.requirement.as_deref();
        match (outcome, t.expect) {
            (Ok(()), Outcome::Ok) => {
                self.pass(req, "TLS established".into(), Some(frame));
                Ok(())
            }
            (Err(e), Outcome::Fail) => {
                self.conn(&t.conn)?.drop_stream();
                self.pass(req, format!("TLS refused: {e}"), Some(frame));
                Ok(())
            }
            (Ok(()), Outcome::Fail) => self.judge(
                req,
                None,
                format!("TLS accepted a {:?} client certificate", t.cert),
                Some(frame),
            ),
            (Err(e), Outcome::Ok) => self.judge(req, None, format!("TLS failed: {e}"), Some(frame)),
        }
    }

    async fn trigger(&mut self, t: &Trigger) -> Result<(), Stop> {
        let (mut bound, mut renewed, mut released) = (Vec::new(), 0usize, Vec::new());
        let mut declined = Vec::new();
        let mut options = Vec::new();
        for o in &t.client_options {
            options.push((o.code, Bytes::from(self.bytes(&o.hex)?)));
        }
        for _ in 0..t.repeat.unwrap_or(1).max(1) {
            for _ in 0..t.bind.unwrap_or(0) {
                let (addr, mac, client_id) =
                    self.backend.bind(&options).await.map_err(Stop::Error)?;
                if !self.vars.contains_key("mac") {
                    self.vars.insert("mac".into(), Var::Bytes(mac.to_vec()));
                    self.vars.insert("client_id".into(), Var::Bytes(client_id));
                }
                bound.push(addr);
            }
            let all = [
                expr::addresses("${bound}", &self.vars).unwrap_or_default(),
                bound.clone(),
            ]
            .concat();
            for addr in all.iter().take(t.renew.unwrap_or(0)) {
                self.backend.renew(*addr).await.map_err(Stop::Error)?;
                renewed += 1;
            }
            for addr in all.iter().take(t.release.unwrap_or(0)) {
                self.backend.release(*addr).await.map_err(Stop::Error)?;
                released.push(*addr);
            }
            for addr in all.iter().take(t.decline.unwrap_or(0)) {
                self.backend.decline(*addr).await.map_err(Stop::Error)?;
                declined.push(*addr);
            }
        }
        if t.reload {
            self.backend.reload().await.map_err(Stop::Error)?;
        }
        let list = |v: &[Ipv4Addr]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = Vec::new();
        if !bound.is_empty() {
            text.push(format!("bound {}", list(&bound)));
        }
        if renewed > 0 {
            text.push(format!("{renewed} renewals"));
        }
        if !released.is_empty() {
            text.push(format!("released {}", list(&released)));
        }
        if !declined.is_empty() {
            text.push(format!("declined {}", list(&declined)));
        }
        if t.reload {
            text.push("reload".to_string());
        }
        self.log("", "note", format!("trigger: {}", text.join("; ")));
        if !bound.is_empty() {
            self.vars
                .insert("last".into(), Var::Addresses(bound.clone()));
        }
        for (name, new) in [
            ("bound", bound),
            ("released", released),
            ("declined", declined),
        ] {
            if new.is_empty() {
                continue;
            }
            match self
                .vars
                .entry(name.into())
                .or_insert_with(|| Var::Addresses(Vec::new()))
            {
                Var::Addresses(existing) => existing.extend(new),
                other => *other = Var::Addresses(new),
            }
        }
        self.vars
            .insert("now".into(), Var::Number(self.backend.epoch()));
        Ok(())
    }

    fn capture(&mut self, c: &Capture) -> Result<(), Stop> {
        let conn = self.conn(&c.conn)?;
        let Some(msg) = conn
            .last_matched
            .clone()
            .or_else(|| conn.received.last().cloned())
        else {
            let frame = self.transcript.len().checked_sub(1);
            return self.judge(
                None,
                Some(LevelOverride::Must),
                format!(
                    "nothing received on '{}' to capture {:?} from",
                    c.conn, c.field
                ),
                frame,
            );
        };
        let value = match c.field {
            Field::Xid => Some(Var::Number(msg.header.xid)),
            Field::Ciaddr => Some(Var::Address(msg.header.ciaddr)),
            Field::BaseTime => msg.base_time().ok().flatten().map(Var::Number),
            Field::QueryStartTime => msg.query_start_time().ok().flatten().map(Var::Number),
            Field::QueryEndTime => msg.query_end_time().ok().flatten().map(Var::Number),
        };
        match value {
            Some(v) => {
                self.log(
                    &c.conn,
                    "note",
                    format!("captured {:?} = {v:?} into ${{{}}}", c.field, c.into),
                );
                self.vars.insert(c.into.clone(), v);
                Ok(())
            }
            None => {
                let frame = self.transcript.len().checked_sub(1);
                self.judge(
                    None,
                    None,
                    format!("the last message has no {:?} to capture", c.field),
                    frame,
                )
            }
        }
    }

    /// Sets `${now}` before the first step.
    pub fn seed_now(&mut self) {
        self.vars
            .insert("now".into(), Var::Number(self.backend.epoch()));
    }
}
