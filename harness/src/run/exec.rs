//! Runs one scenario's steps against a [`Backend`] and judges what comes back.

mod accept;
mod addresses;
mod answer_bulk;
mod closing;
mod expect;
mod inconclusive;
mod probe;
mod quota;
mod send;
mod serve_tls;
mod start_tls;
mod transport;
mod trigger;

use super::conn::HarnessConn;
use super::conns::Conns;
use super::interrupt::Interrupt;
use super::transcript::{Line, Text, Transcript};
use crate::capture::pcap::ConnectionTap;
use crate::checks::reply::Granted;
use crate::checks::{self, stream};
use crate::iut::backend::{Backend, BackendError};
use crate::iut::profile::TargetProfile;
use crate::net::stream_reader::StreamEvent;
use crate::outcome::{broken, more_like_it, pattern, Direction, Entry, Finding, Verdict};
use crate::scenario::expr::{self, Var, Vars};
use crate::scenario::model::{
    Capture, CloseHow, Connect, Field, LevelOverride, Scenario, Source, Step, Value,
};
use crate::wire::describe::Brief;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use std::time::Duration;
use tokio::time::Instant;

/// Why a scenario stopped early.
enum Stop {
    /// A check failed; later steps would judge nonsense.
    Failed,
    /// The harness or target setup broke.
    Error(String),
    /// A set-up step (one that names no requirement) did not hold: what
    /// came instead, or that nothing came. No requirement is judged by it;
    /// the scenario's requirements are inconclusive.
    SetUp(String),
    /// The situation the scenario tests did not come about, for a reason
    /// the RFC allows (a requestor that does not retry): what it covers is
    /// inconclusive, not judged either way.
    Unmet(Unmet),
}

/// Why a scenario could not test what it covers, and which of its
/// requirements that leaves untested (every one when `only` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    pub reason: String,
    pub only: Vec<String>,
}

impl Unmet {
    /// Whether `requirement` is left untested.
    pub fn leaves(&self, requirement: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|r| r == requirement)
    }
}

/// What the backend could not set up stops the scenario as a harness error.
impl From<crate::iut::backend::BackendError> for Stop {
    fn from(e: crate::iut::backend::BackendError) -> Self {
        Stop::Error(e.to_string())
    }
}

pub struct Exec<'a> {
    scenario: &'a Scenario,
    strict: bool,
    /// Where each step is announced as it starts, for a live display.
    pub progress: super::progress::Progress,
    /// The step under way (1-based), stamped on every capture record.
    step: std::sync::Arc<std::sync::atomic::AtomicU32>,
    backend: Backend,
    conns: Conns,
    /// Connections whose name was reused by a later connect or accept.
    finished: Vec<(String, HarnessConn)>,
    /// Orders tap records of all connections.
    order: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Bytes the scenario's pcap may still record.
    pcap_budget: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Messages one `expect` reads at most.
    message_limit: usize,
    /// Requirements the per-message checks evaluated at least once.
    checked: checks::Judged,
    /// Requirements the steps run so far judged.
    judged: Vec<&'a str>,
    /// Per-message findings alike but for numbers, by connection.
    repeats: HashMap<(String, String, String), Repeats>,
    /// Per-message findings past [`PATTERNS_KEPT`] kinds, counted only.
    patterns_dropped: usize,
    /// A message framed: the framing requirement was judged.
    framed: bool,
    /// Every connection accepted, when, and its kind where a step asked.
    accepted: Vec<accept::Accepted>,
    /// Connections accepted so far, for the names they wait under.
    incoming: usize,
    vars: Vars,
    transcript: Transcript,
    pub findings: Vec<Finding>,
    start: Instant,
    step_start: Instant,
    durations: expr::Durations,
    /// When the bytes of the event `receive` returned last were read.
    arrived: Instant,
    /// A read time and its milliseconds since the start.
    arrived_ms: (Instant, u64),
    slack: Duration,
    expect_timeout: Duration,
    /// How far the target's clock may be from the harness's, in seconds.
    clock_skew: u32,
    /// When the scenario's last trigger completed, seconds since 1970.
    changed_at: Option<u32>,
    /// Lease changes the scenario's triggers made (binds, renewals,
    /// releases, declines).
    changes: usize,
    next_xid: u32,
    /// What the scenario's connections run over.
    transport: crate::iut::profile::Transport,
    /// The health probe run before the steps, against a server under test.
    probe: Option<probe::Probe>,
    /// The first of the scenario's connections to the target server that
    /// the target closed before it sent anything on it.
    turned_away: Option<String>,
}

/// How a scenario's error begins when the target failed the health probe:
/// it could not take part, whatever the scenario tests.
pub const PROBE_FAILED: &str = "the target did not answer the health probe";

/// Per-message findings alike but for numbers kept on one connection.
const REPEATS_KEPT: usize = 3;
/// Kinds of per-message finding (requirement, connection and pattern) kept in
/// one scenario; a peer that makes more only adds to a count.
const PATTERNS_KEPT: usize = 256;

/// How often one per-message finding came on one connection.
struct Repeats {
    kept: usize,
    /// The last one kept, in `Exec::findings`.
    last: usize,
    more: usize,
}

/// The outcome of running one scenario's steps.
#[derive(Default)]
pub struct Ran {
    pub transcript: Vec<Entry>,
    pub connections: Vec<ConnectionTap>,
    pub findings: Vec<Finding>,
    /// Each covered requirement some step or check judged.
    pub judged: Vec<String>,
    pub error: Option<String>,
    /// Why the scenario stopped before setting up what it tests.
    pub unmet: Option<Unmet>,
    pub elapsed: Duration,
    /// What a launched implementation wrote on stdout and stderr.
    pub iut_output: Option<String>,
    /// The step the run was interrupted at, if it was.
    pub interrupted: Option<String>,
    /// The harness's TLS session secrets, as NSS key log lines.
    pub tls_secrets: Vec<String>,
    /// Each step's keyword, in order, for the capture's frame comments.
    pub steps: Vec<&'static str>,
    /// A connection the target closed before answering anything on it (see
    /// [`crate::run::runner::run_suite`]: such a scenario runs once more).
    pub turned_away: Option<String>,
}

impl<'a> Exec<'a> {
    pub fn new(
        scenario: &'a Scenario,
        profile: &TargetProfile,
        backend: Backend,
        strict: bool,
    ) -> Result<Self, String> {
        let durations = profile.durations();
        let now = Instant::now();
        Ok(Exec {
            scenario,
            strict,
            progress: Default::default(),
            step: Default::default(),
            backend,
            conns: Default::default(),
            finished: Vec::new(),
            order: Default::default(),
            pcap_budget: std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(
                profile.pcap_limit,
            )),
            message_limit: profile.message_limit.max(1),
            checked: Default::default(),
            judged: Vec::new(),
            repeats: HashMap::new(),
            patterns_dropped: 0,
            framed: false,
            accepted: Vec::new(),
            incoming: 0,
            vars: Vars::from([("send_buffer".to_string(), Var::Number(profile.send_buffer))]),
            transcript: Transcript::new(profile.transcript_limit),
            findings: Vec::new(),
            start: now,
            step_start: now,
            durations,
            arrived: now,
            arrived_ms: (now, 0),
            slack: expr::duration(&profile.slack, &durations).map_err(|e| e.to_string())?,
            expect_timeout: expr::duration(&profile.expect_timeout, &durations)
                .map_err(|e| e.to_string())?,
            clock_skew: profile.clock_skew_secs(),
            changed_at: None,
            changes: 0,
            next_xid: 0x0a1a_0001,
            transport: transport::of_scenario(scenario, profile.transport()),
            probe: (profile.health_probe
                && profile.kind == crate::iut::profile::TargetKind::Tcp
                && scenario.role == crate::scenario::model::Role::Requestor)
                .then(|| {
                    if profile.offers(crate::scenario::model::Need::Bulk) {
                        probe::Probe::Bulk
                    } else {
                        probe::Probe::Connection
                    }
                }),
            turned_away: None,
        })
    }

    fn open(&mut self, name: &str, io: crate::net::transport::BoxedIo) {
        let conn = self.new_conn(name, io);
        self.keep(conn);
    }

    /// A connection opened now, not kept yet.
    fn new_conn(&self, name: &str, io: crate::net::transport::BoxedIo) -> HarnessConn {
        let mut conn = HarnessConn::new(
            name,
            io,
            self.start,
            self.scenario.role,
            self.order.clone(),
            self.pcap_budget.clone(),
        );
        conn.tap.follow_steps(self.step.clone());
        conn.changes_before = self.changes;
        conn
    }

    /// Keeps `conn` under its name; a connection of that name before it is
    /// done with.
    fn keep(&mut self, conn: HarnessConn) {
        let name = conn.name.clone();
        self.retire(&name);
        self.conns.insert(&name, conn);
    }

    /// Keeps `conn` as `name`; lines already written about it under another
    /// name take this one.
    fn keep_as(&mut self, mut conn: HarnessConn, name: &str) {
        let was = std::mem::replace(&mut conn.name, name.to_string());
        self.keep(conn);
        if was != name {
            self.transcript.rename(&was, name);
        }
    }

    /// Takes, logs and judges what connection `name` has read and no step
    /// took: it crossed the wire, so it is in the pcap, and every message
    /// received is in the transcript and judged.
    fn take_the_rest(&mut self, name: &str) {
        loop {
            match self.receive_read(name) {
                Ok(Some(_)) | Err(Stop::Failed) => {}
                Ok(None) | Err(Stop::Error(_) | Stop::Unmet(_) | Stop::SetUp(_)) => return,
            }
        }
    }

    /// Connection `name` will not be read again: only its record stays.
    fn retire(&mut self, name: &str) {
        self.take_the_rest(name);
        if let Some(mut old) = self.conns.remove(name) {
            old.retire();
            self.finished.push((name.to_string(), old));
        }
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
                let (client, server) = if c.tap.harness_is_client() {
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
                    harness_is_client: c.tap.harness_is_client(),
                    client,
                    server,
                    opened_at: c.opened_at.duration_since(self.start),
                    opened_seq: c.opened_seq,
                    tls: c.tls,
                    refused: c.refused,
                    records: c.into_records(),
                }
            })
            .collect()
    }

    fn log(&mut self, conn: &str, dir: Direction, text: String) -> usize {
        self.log_text(conn, dir, Text::Plain(text))
    }

    fn log_text(&mut self, conn: &str, dir: Direction, text: Text) -> usize {
        let at = Instant::now();
        self.log_at(at, conn, dir, text)
    }

    fn log_at(&mut self, at: Instant, conn: &str, dir: Direction, text: Text) -> usize {
        let conn = self.transcript.conn_id(conn);
        self.transcript.push(Line {
            at_ms: ms_since(self.start, at),
            tap_seq: self.order.load(std::sync::atomic::Ordering::Relaxed),
            conn,
            dir,
            text,
        })
    }

    /// Repeats the findings `step` made on its first requirement, from
    /// `from` on, on each requirement its one observation decides alike.
    fn decide_alike(&mut self, step: &Step, from: usize) {
        let alike = step.decided_alike();
        let Some(first) = checks::scenario::judged_by(self.scenario.role, step)
            .into_iter()
            .next()
        else {
            return;
        };
        let made: Vec<Finding> = self
            .findings
            .get(from..)
            .unwrap_or_default()
            .iter()
            .filter(|f| f.requirement == first)
            .cloned()
            .collect();
        for f in made {
            // Loading made sure they share the first one's level.
            for other in alike {
                self.findings.push(Finding {
                    deviation: None,
                    requirement: other.clone(),
                    ..f.clone()
                });
            }
        }
    }

    /// Records what the step under way found broken; `Err(Stop::Failed)`
    /// when it is a failure. Without a requirement the step is set-up, and it
    /// stops the scenario with no finding: `Err(Stop::SetUp)`.
    fn judge(
        &mut self,
        requirement: Option<&str>,
        level: Option<LevelOverride>,
        message: String,
        frame: Option<usize>,
    ) -> Result<(), Stop> {
        let Some(req) = requirement else {
            return Err(Stop::SetUp(message));
        };
        let awaited = self.awaited();
        self.record(req, level, message, frame, awaited)
    }

    /// Records a broken check made on every message of `conn` (no step
    /// awaited it). Findings alike but for numbers are kept a few times per
    /// connection and counted after that, whatever the peer streams.
    fn judge_check(
        &mut self,
        conn: &str,
        requirement: &str,
        level: Option<LevelOverride>,
        message: String,
        frame: Option<usize>,
    ) -> Result<(), Stop> {
        let key = (conn.to_string(), requirement.to_string(), pattern(&message));
        let next = self.findings.len();
        let full = self.repeats.len() >= PATTERNS_KEPT;
        match self.repeats.get_mut(&key) {
            Some(r) if r.kept >= REPEATS_KEPT => {
                r.more = r.more.saturating_add(1);
                return self.stop_if_failure(requirement, level);
            }
            Some(r) => {
                r.kept += 1;
                r.last = next;
            }
            None if full => {
                self.patterns_dropped = self.patterns_dropped.saturating_add(1);
                return self.stop_if_failure(requirement, level);
            }
            None => {
                self.repeats.insert(
                    key,
                    Repeats {
                        kept: 1,
                        last: next,
                        more: 0,
                    },
                );
            }
        }
        self.record(requirement, level, message, frame, None)
    }

    /// `Err(Stop::Failed)` where breaking `requirement` is a failure.
    fn stop_if_failure(&self, requirement: &str, level: Option<LevelOverride>) -> Result<(), Stop> {
        match broken(requirement, level, self.strict) {
            Verdict::Fail => Err(Stop::Failed),
            _ => Ok(()),
        }
    }

    /// Says on the findings kept how many more alike were only counted.
    fn count_repeats(&mut self) {
        for ((conn, _, _), r) in std::mem::take(&mut self.repeats) {
            if r.more > 0 {
                if let Some(f) = self.findings.get_mut(r.last) {
                    f.message.push_str(&more_like_it(r.more, &conn));
                }
            }
        }
        if self.patterns_dropped > 0 {
            let dropped = self.patterns_dropped;
            self.log(
                "",
                Direction::Note,
                format!(
                    "{dropped} more broken checks of further kinds, past {PATTERNS_KEPT} kinds, were counted only"
                ),
            );
        }
    }

    fn record(
        &mut self,
        requirement: &str,
        level: Option<LevelOverride>,
        message: String,
        frame: Option<usize>,
        awaited: Option<String>,
    ) -> Result<(), Stop> {
        let verdict = broken(requirement, level, self.strict);
        self.findings.push(Finding {
            deviation: None,
            requirement: requirement.to_string(),
            verdict,
            message,
            frame,
            awaited,
        });
        if verdict == Verdict::Fail {
            Err(Stop::Failed)
        } else {
            Ok(())
        }
    }

    /// The step under way in the scenario's own words, and where it stands.
    fn awaited(&self) -> Option<String> {
        let index = usize::try_from(self.step.load(std::sync::atomic::Ordering::Relaxed))
            .ok()?
            .checked_sub(1)?;
        let source = self.scenario.sources.get(index)?;
        Some(format!(
            "{} ({})",
            source.words,
            self.scenario.step_at(index)
        ))
    }

    /// Records a check that held; a set-up step's holding is no verdict.
    fn pass(&mut self, requirement: Option<&str>, message: String, frame: Option<usize>) {
        let Some(req) = requirement else {
            return;
        };
        self.findings.push(Finding {
            deviation: None,
            awaited: None,
            requirement: req.to_string(),
            verdict: Verdict::Pass,
            message,
            frame,
        });
    }

    /// The earliest a timer of `d` may fire and still be on time: `d` less
    /// the profile's slack, but never less than 90% of it, so a timer 25%
    /// early is caught at 3 s as at 60 s (docs/profile.md, `slack`).
    fn early(&self, d: Duration) -> Duration {
        d.saturating_sub(self.slack.min(d / 10))
    }

    fn duration(&self, e: &str) -> Result<Duration, Stop> {
        expr::duration(e, &self.durations).map_err(|e| Stop::Error(e.to_string()))
    }

    /// Stops the scenario inconclusive when what the harness sent on `conn`
    /// may never have reached the target and the step judges the answer
    /// to it; `refusal_ok` when a refusal is itself what the step awaits.
    fn heard(&mut self, conn: &str, refusal_ok: bool) -> Result<(), Stop> {
        match &self.conn(conn)?.unheard {
            Some(why) if !refusal_ok => Err(Stop::Unmet(Unmet {
                reason: format!("{why}, so there is no answer to judge"),
                only: Vec::new(),
            })),
            _ => Ok(()),
        }
    }

    fn conn(&mut self, name: &str) -> Result<&mut HarnessConn, Stop> {
        self.conns.get_mut(name).ok_or_else(|| not_open(name))
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
    ) -> Result<(StreamEvent, Option<usize>), Stop> {
        if let Some(read) = self.receive_read(conn)? {
            return Ok(read);
        }
        let event = self.conn(conn)?.next(deadline).await;
        self.take(conn, |_| Some(event))
            .map(|taken| taken.unwrap_or((StreamEvent::Timeout, None)))
    }

    /// [`receive`](Self::receive) of an event already read, without waiting.
    fn receive_read(&mut self, conn: &str) -> Result<Option<(StreamEvent, Option<usize>)>, Stop> {
        self.take(conn, HarnessConn::next_read)
    }

    /// Takes an event from `conn` with `next` and logs and judges it, unless
    /// it was taken before and put back (it then has its transcript entry).
    fn take(
        &mut self,
        conn: &str,
        next: impl FnOnce(&mut HarnessConn) -> Option<(StreamEvent, Option<usize>)>,
    ) -> Result<Option<(StreamEvent, Option<usize>)>, Stop> {
        let c = self.conns.get_mut(conn).ok_or_else(|| not_open(conn))?;
        let Some((event, seen)) = next(c) else {
            return Ok(None);
        };
        self.arrived = c.read_at();
        if seen.is_some() {
            return Ok(Some((event, seen)));
        }
        if c.framing_lost && matches!(event, StreamEvent::Message(_) | StreamEvent::Garbage(_)) {
            // Boundaries after a framing error are guesses: what looks like
            // a message there is no evidence about the target.
            c.not_judged = c.not_judged.saturating_add(1);
            return Ok(Some((event, None)));
        }
        let frame = match &event {
            StreamEvent::Message(msg) => {
                let line_conn = match c.line_id {
                    Some(id) => id,
                    None => *c.line_id.insert(self.transcript.conn_id(&c.name)),
                };
                // Messages read together share a time, worked out once.
                let at_ms = match self.arrived_ms {
                    (at, ms) if at == self.arrived => ms,
                    _ => {
                        let ms = ms_since(self.start, self.arrived);
                        self.arrived_ms = (self.arrived, ms);
                        ms
                    }
                };
                let frame = self.transcript.push(Line {
                    at_ms,
                    tap_seq: self.order.load(std::sync::atomic::Ordering::Relaxed),
                    conn: line_conn,
                    dir: Direction::Recv,
                    text: Text::Message(Brief::of(msg)),
                });
                let clock = self.backend.clock();
                let arrival = crate::checks::reply::Arrival {
                    at: clock.epoch_of(self.arrived),
                    opened: clock.epoch_of(c.opened_at),
                    skew: self.clock_skew,
                };
                let granted = self.backend.grant(msg.ciaddr()).map(|g| {
                    let left = g.left_at(c.asked_at.unwrap_or(c.opened_at));
                    Granted {
                        lease: g.times.lease,
                        left: left.lease,
                        t1_left: left.t1,
                        t2_left: left.t2,
                    }
                });
                let broken = c
                    .peer
                    .received(msg, Some(arrival), granted, &mut self.checked);
                self.framed = true;
                let mut failed = false;
                for b in broken {
                    let level = (b.level == checks::Level::Should).then_some(LevelOverride::Should);
                    failed |= self
                        .judge_check(conn, b.requirement, level, b.message, Some(frame))
                        .is_err();
                }
                if failed {
                    return Err(Stop::Failed);
                }
                Some(frame)
            }
            StreamEvent::Garbage(text) => {
                c.lose_framing();
                let frame = self.log(conn, Direction::Recv, format!("not a DHCP message: {text}"));
                let framing = stream::framing(self.scenario.role);
                self.judge_check(conn, framing, None, text.clone(), Some(frame))?;
                Some(frame)
            }
            StreamEvent::Closed(kind) => {
                let unanswered = c.peer.last_received().is_none() && !c.refused;
                if unanswered
                    && self.scenario.role == crate::scenario::model::Role::Requestor
                    && conn != probe::PROBE_CONN
                    && self.turned_away.is_none()
                {
                    self.turned_away = Some(format!(
                        "the target closed connection '{conn}' ({kind}) before it sent anything on it"
                    ));
                }
                Some(self.log(conn, Direction::Note, format!("peer closed ({kind})")))
            }
            StreamEvent::Timeout => None,
        };
        Ok(Some((event, frame)))
    }

    /// A step found `conn` closed where it awaited something else: the first
    /// step to find it judges the close; a later one judges nothing and
    /// stops the scenario, since what it awaits can no longer come.
    fn close_once(&mut self, conn: &str) -> Result<(), Stop> {
        let step = self.step.load(std::sync::atomic::Ordering::Relaxed);
        let c = self.conn(conn)?;
        match c.close_judged_at {
            Some(at) if at != step => Err(Stop::Unmet(Unmet {
                reason: format!(
                    "the target closed connection '{conn}' before this step, and step {at} judged that close"
                ),
                only: Vec::new(),
            })),
            _ => {
                c.close_judged_at = Some(step);
                Ok(())
            }
        }
    }

    /// Runs the steps until one stops the scenario, or `interrupt` aborts
    /// the run (what happened so far is kept).
    pub async fn run(mut self, interrupt: &Interrupt) -> Ran {
        let mut error = None;
        let mut unmet = None;
        let mut interrupted = None;
        let scenario = self.scenario;
        let mut steps = scenario.steps.iter().enumerate();
        if let Some(probe) = self.probe {
            if let Err(why) = self.probe(probe).await {
                error = Some(format!("{PROBE_FAILED}: {why}"));
                steps = [].iter().enumerate();
            }
        }
        for (index, step) in steps {
            self.step.store(
                u32::try_from(index + 1).unwrap_or(u32::MAX),
                std::sync::atomic::Ordering::Relaxed,
            );
            self.progress.step(
                &scenario.id,
                index + 1,
                scenario.steps.len(),
                step.keyword(),
                step.waits_for(),
            );
            let before = self.findings.len();
            let done = tokio::select! {
                done = self.step(step) => Some(done),
                () = interrupt.until_aborted() => None,
            };
            let Some(done) = done else {
                let which = format!("step {} ({})", index + 1, step.keyword());
                self.log(
                    "",
                    Direction::Note,
                    format!("{which}: the run was interrupted"),
                );
                interrupted = Some(which);
                break;
            };
            self.decide_alike(step, before);
            if !matches!(done, Err(Stop::Error(_) | Stop::Unmet(_) | Stop::SetUp(_))) {
                for id in checks::scenario::judged_by(scenario.role, step) {
                    if !self.judged.contains(&id) {
                        self.judged.push(id);
                    }
                }
            }
            // Nothing reads a socket between steps (a paused connection
            // must not drain), whatever the step was.
            for conn in self.conns.iter_mut() {
                conn.settle().await;
            }
            match done {
                Ok(()) => {}
                Err(Stop::Failed) => {
                    self.log(
                        "",
                        Direction::Note,
                        format!("stopped after step {} failed", index + 1),
                    );
                    break;
                }
                Err(Stop::Unmet(why)) => {
                    self.log(
                        "",
                        Direction::Note,
                        format!("stopped at step {}: {}", index + 1, why.reason),
                    );
                    unmet = Some(Unmet {
                        reason: format!(
                            "step {} ({}): {}",
                            index + 1,
                            scenario.step_at(index),
                            why.reason
                        ),
                        ..why
                    });
                    break;
                }
                Err(Stop::SetUp(got)) => {
                    let reason = set_up_reason(scenario, index, step, &got);
                    self.log("", Direction::Note, format!("stopped: {reason}"));
                    unmet = Some(Unmet {
                        reason,
                        only: Vec::new(),
                    });
                    break;
                }
                Err(Stop::Error(e)) => {
                    let which = format!("step {} ({})", index + 1, step.keyword());
                    self.log("", Direction::Note, format!("{which}: harness error: {e}"));
                    error = Some(format!("{which}: {e}"));
                    break;
                }
            }
            self.step_start = Instant::now();
        }
        let open: Vec<String> = self.conns.iter().map(|(n, _)| n.clone()).collect();
        for name in open {
            self.take_the_rest(&name);
        }
        self.count_repeats();
        let unjudged: Vec<String> = self
            .finished
            .iter()
            .map(|(n, c)| (n, c))
            .chain(self.conns.iter())
            .filter(|(_, c)| c.not_judged > 0)
            .map(|(n, c)| format!("{} on '{n}'", c.not_judged))
            .collect();
        if !unjudged.is_empty() {
            self.log(
                "",
                Direction::Note,
                format!(
                    "read after a framing error and not judged: {}",
                    unjudged.join(", ")
                ),
            );
        }
        let elapsed = self.start.elapsed();
        let judged = self
            .scenario
            .covers
            .iter()
            .filter(|r| {
                self.judged.contains(&r.as_str())
                    || self.checked.judged(r)
                    || (self.framed && r.as_str() == stream::framing(self.scenario.role))
            })
            .cloned()
            .collect();
        for req in std::mem::take(&mut self.checked).held() {
            if !self.findings.iter().any(|f| f.requirement == req) {
                self.findings.push(Finding {
                    deviation: None,
                    awaited: None,
                    requirement: req.to_string(),
                    verdict: Verdict::Pass,
                    message: "held for every message received".into(),
                    frame: None,
                });
            }
        }
        let truncated: Vec<String> = self
            .finished
            .iter()
            .map(|(n, c)| (n, c))
            .chain(self.conns.iter())
            .filter(|(_, c)| c.capture_truncated())
            .map(|(n, _)| n.clone())
            .collect();
        if !truncated.is_empty() {
            self.log(
                "",
                Direction::Note,
                format!(
                    "pcap limit reached: later traffic on {} judged but not recorded",
                    truncated.join(", ")
                ),
            );
        }
        let connections = self.taps();
        // An interrupted run has seconds to exit: a launched requestor gets
        // one to stop before it is killed.
        let grace = match interrupted {
            Some(_) => Duration::from_secs(1),
            None => crate::iut::launched::STOP_GRACE,
        };
        // After the scenario's connections closed: what its leases do now
        // is no part of what it saw.
        match self.backend.give_back().await {
            (0, None) => {}
            (released, None) => {
                let text = format!("released the {released} leases the scenario still held");
                self.log("", Direction::Note, text);
            }
            (released, Some(e)) => {
                let text =
                    format!("released {released} of the leases the scenario still held; then: {e}");
                self.log("", Direction::Note, text);
            }
        }
        let tls_secrets = self.backend.tls_secrets();
        let iut_output = self.backend.finish(grace).await;
        let (transcript, index) = self.transcript.finish();
        for f in &mut self.findings {
            f.frame = f.frame.and_then(&index);
        }
        Ran {
            connections,
            transcript,
            findings: self.findings,
            judged,
            error,
            unmet,
            elapsed,
            iut_output,
            interrupted,
            tls_secrets,
            steps: self.scenario.steps.iter().map(|s| s.keyword()).collect(),
            turned_away: self.turned_away,
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
                self.backend.stop().await?;
                self.log("", Direction::Note, "target server stopped".into());
                Ok(())
            }
            Step::PauseReading(c) => {
                self.conn(&c.conn)?.paused = true;
                self.log(&c.conn, Direction::Note, "reading paused".into());
                Ok(())
            }
            Step::ResumeReading(c) => {
                self.conn(&c.conn)?.paused = false;
                self.log(&c.conn, Direction::Note, "reading resumed".into());
                Ok(())
            }
            Step::Trigger(t) => self.trigger(t).await,
            Step::Capture(c) => self.capture(c),
            Step::InconclusiveIf(i) => self.inconclusive_if(i),
            Step::Wait(w) => {
                let d = self.duration(&w.duration)?;
                tokio::time::sleep(d).await;
                Ok(())
            }
            Step::Repeat(_) => Err(Stop::Error(
                "a repeat step reached the executor unexpanded".into(),
            )),
            Step::Close(c) => {
                let conn = self.conn(&c.conn)?;
                match c.how {
                    CloseHow::Half => conn.shutdown_write().await,
                    CloseHow::Full => conn.drop_stream().await,
                }
                self.log(&c.conn, Direction::Note, format!("closed ({})", c.how));
                Ok(())
            }
        }
    }

    async fn connect(&mut self, c: &Connect) -> Result<(), Stop> {
        let denied = c.from == Some(Source::DeniedSource);
        let connected = self
            .backend
            .connect(c.recv_buffer, c.reset_on_close, denied)
            .await;
        let io = match connected {
            Ok(io) => io,
            Err(refused @ BackendError::Refused { .. }) => {
                let mut conn = HarnessConn::refused(
                    &c.conn,
                    self.start,
                    self.order.clone(),
                    self.pcap_budget.clone(),
                );
                conn.tap.follow_steps(self.step.clone());
                conn.changes_before = self.changes;
                self.keep(conn);
                self.log(&c.conn, Direction::Note, refused.to_string());
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        self.open(&c.conn, io);
        self.conn(&c.conn)?.resets = c.reset_on_close;
        let from = if denied {
            " from the denied source"
        } else {
            ""
        };
        self.log(&c.conn, Direction::Note, format!("connected{from}"));
        self.bring_to_transport(&c.conn).await
    }

    fn capture(&mut self, c: &Capture) -> Result<(), Stop> {
        let conn = self.conn(&c.conn)?;
        let Some(msg) = conn
            .last_matched
            .as_ref()
            .map(|(msg, _)| Rc::clone(msg))
            .or_else(|| conn.peer.last_received().cloned())
        else {
            let frame = self.transcript.last_seq();
            return self.judge(
                None,
                Some(LevelOverride::Must),
                format!(
                    "nothing received on '{}' to capture {} from",
                    c.conn, c.field
                ),
                frame,
            );
        };
        let view = &msg;
        let value = match c.field {
            Field::Xid => Some(Var::Number(msg.xid())),
            Field::Ciaddr => Some(Var::Address(msg.ciaddr())),
            Field::BaseTime => view.base_time().ok().flatten().map(Var::Number),
            Field::QueryStartTime => view.query_start_time().ok().flatten().map(Var::Number),
            Field::QueryEndTime => view.query_end_time().ok().flatten().map(Var::Number),
            Field::LastTransaction => match (
                view.base_time().ok().flatten(),
                view.client_last_transaction_time().ok().flatten(),
            ) {
                (Some(base), Some(ago)) => base.checked_sub(ago).map(Var::Number),
                _ => None,
            },
        };
        match value {
            Some(v) => {
                self.log(
                    &c.conn,
                    Direction::Note,
                    format!("captured {} = {v} into ${{{}}}", c.field, c.into),
                );
                self.vars.insert(c.into.clone(), v);
                Ok(())
            }
            None => {
                // Graded like the scenario's requirement, but later steps need
                // the value: the scenario ends here either way.
                let frame = self.transcript.last_seq();
                self.judge(
                    None,
                    None,
                    format!("the last message has no {} to capture", c.field),
                    frame,
                )?;
                Err(Stop::Failed)
            }
        }
    }

    /// Sets `${now}` before the first step.
    pub fn seed_now(&mut self) {
        self.vars
            .insert("now".into(), Var::Number(self.backend.epoch()));
    }
}
/// Why a scenario stopped at set-up step `index`: where the step stands, what
/// it awaited in the scenario's own words, what came, and the requirement the
/// scenario relied on the target to keep.
fn set_up_reason(scenario: &Scenario, index: usize, step: &Step, got: &str) -> String {
    let awaited = scenario
        .sources
        .get(index)
        .map(|s| s.words.as_str())
        .unwrap_or(step.keyword());
    let relied = step
        .relies_on()
        .map(|id| {
            let title = crate::catalog::requirement(id)
                .map(|r| format!(": {}", r.text))
                .unwrap_or_default();
            format!("; the scenario needs the target to keep {id}{title}")
        })
        .unwrap_or_default();
    format!(
        "set-up step {} ({}) did not hold: awaited {awaited}, got {got}{relied}",
        index + 1,
        scenario.step_at(index)
    )
}

fn not_open(name: &str) -> Stop {
    Stop::Error(format!(
        "connection '{name}' is not open (connect or accept it first)"
    ))
}

/// Milliseconds from `start` to `at`, as transcript lines carry them.
fn ms_since(start: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(start).as_millis()).unwrap_or(u64::MAX)
}
