//! Scenario files: declarative test cases, one per file (TOML). Every struct
//! and enum rejects unknown keys, so a typo is a load error, never a silently
//! skipped check.

use super::checked::{self, Count};
use crate::wire::{MessageType, StatusCode};
use serde::{Deserialize, Deserializer};

/// Which side the harness plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The harness is the requestor; the target is a server.
    Requestor,
    /// The harness is the server; the target is a requestor.
    Server,
}

/// What a connection carries, told by its first query (RFC 7724 §4: a
/// requestor may run its bulk sync on a connection beside its active one);
/// a step names the connection it means by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnKind {
    /// DHCPTLS came first and no query yet.
    Tls,
    /// It carries a DHCPACTIVELEASEQUERY.
    Active,
    /// It carries a DHCPBULKLEASEQUERY.
    Bulk,
    /// Its first message was neither a query nor DHCPTLS.
    Other,
}

impl ConnKind {
    /// The kind a connection whose first message is of type `kind` has.
    pub fn of(kind: Option<MessageType>) -> Self {
        match kind {
            Some(MessageType::Tls) => ConnKind::Tls,
            Some(MessageType::ActiveLeaseQuery) => ConnKind::Active,
            Some(MessageType::BulkLeaseQuery) => ConnKind::Bulk,
            _ => ConnKind::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ConnKind::Tls => "tls",
            ConnKind::Active => "active",
            ConnKind::Bulk => "bulk",
            ConnKind::Other => "other",
        }
    }
}

impl std::fmt::Display for ConnKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a scenario needs from the target; absent features make it
/// not-applicable.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Need {
    /// Bulk Leasequery (RFC 6926).
    Bulk,
    /// Active Leasequery (RFC 7724).
    Active,
    /// Active Leasequery in cleartext.
    Insecure,
    /// Active Leasequery over TLS after DHCPTLS.
    Secure,
    /// A way to change bindings on the target.
    Trigger,
    /// Waits of at least one default protocol timer.
    Slow,
    /// A bulk-only server (no Active Leasequery).
    BulkOnly,
    /// Bulk query for all configured addresses.
    AllConfiguredQuery,
    /// A change history small enough (about 4 entries) to age out during a
    /// catch-up the harness reads slowly.
    SmallHistory,
    /// The server is configured never to send relay-agent-information (82),
    /// even when requested (RFC 7724 §3, RFC 4388 §6.4.2 non-sensitive list).
    WithholdsRelayAgentInfo,
    /// The harness can stop the server gracefully (and start it again).
    Stop,
    /// The harness can make the server abort its queries by an administrative
    /// action (a reload) without stopping.
    Reload,
    /// The server allows one simultaneous connection per requestor.
    PerRequestorLimitOne,
    /// The trigger can make a client send options of the scenario's choice.
    ClientOptions,
    /// The server refuses leasequery connections from one address the harness
    /// can connect from (the profile's `denied-source`).
    DeniedSource,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub role: Role,
    pub covers: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub needs: Vec<Need>,
    /// How the embedded reference target is set up for this scenario.
    #[serde(default)]
    pub reference: ReferenceSetup,
    /// Runs alone, never beside another scenario (connection quotas, server
    /// restarts), so a shared target gives exact answers under `--jobs`.
    #[serde(default)]
    pub exclusive: bool,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
    /// The file the scenario was read from, as reports name it.
    #[serde(skip)]
    pub file: String,
    /// Where each step (after `repeat` expansion) stands in that file and
    /// its own words there: what a step that did not hold had awaited.
    #[serde(skip)]
    pub sources: Vec<StepSource>,
}

/// A step as its scenario file writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepSource {
    /// 1-based line the step (or the `repeat` it came from) starts on.
    pub line: usize,
    /// The step's own words, comments left out, on one line.
    pub words: String,
}

impl Scenario {
    /// The most connections the scenario holds open at once against a
    /// server whose limit is `limit`: a `connect` holds one until a full
    /// `close` of it, an `expect-close` on it (the server closed it) or a
    /// `connect` that reuses its name; `open-connections` holds its count
    /// (the limit when absent) to the end.
    pub fn connections_at_once(&self, limit: usize) -> usize {
        let mut open: Vec<&str> = Vec::new();
        let mut quota = 0usize;
        let mut most = 0usize;
        for step in &self.steps {
            match step {
                Step::Connect(c) if !open.contains(&c.conn.as_str()) => open.push(&c.conn),
                Step::Close(c) if c.how == CloseHow::Full => open.retain(|n| *n != c.conn),
                Step::ExpectClose(e) => open.retain(|n| *n != e.conn),
                Step::OpenConnections(o) => quota = quota.saturating_add(o.count.unwrap_or(limit)),
                _ => {}
            }
            most = most.max(open.len().saturating_add(quota));
        }
        most
    }

    /// Whether a step times a message from the connection's last one
    /// (`idle`): what other scenarios make a shared server send on the
    /// connection delays it.
    pub fn timed_from_idle(&self) -> bool {
        self.steps
            .iter()
            .any(|step| matches!(step, Step::Expect(e) if e.idle))
    }

    /// Leases the scenario's triggers bind, at most: what it needs of the
    /// target's pool while it runs (it gives them back when it ends).
    /// `None` when a trigger that binds repeats until it fills a buffer:
    /// how many depends on the target.
    pub fn addresses_bound(&self) -> Option<usize> {
        self.steps.iter().try_fold(0usize, |sum, step| {
            let Step::Trigger(t) = step else {
                return Some(sum);
            };
            let bind = t.bind.unwrap_or(0);
            if bind > 0 && t.fill.is_some() {
                return None;
            }
            Some(sum.saturating_add(bind.saturating_mul(t.repeat.unwrap_or(1).max(1))))
        })
    }

    /// "file:line" of step `index` (0-based).
    pub fn step_at(&self, index: usize) -> String {
        match self.sources.get(index) {
            Some(s) => format!("{}:{}", self.file, s.line),
            None => self.file.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReferenceSetup {
    /// Change-history entries of the reference server.
    pub history: Option<usize>,
}

/// A message type written by name ("LEASEACTIVE", "DHCPLEASEACTIVE") or number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeName(pub MessageType);

impl<'de> Deserialize<'de> for TypeName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = NameOrNumber::deserialize(d)?;
        match v {
            NameOrNumber::Number(n) => u8::try_from(n)
                .map(|n| TypeName(MessageType::from_u8(n)))
                .map_err(|_| {
                    serde::de::Error::custom(format!("message type {n} is out of range 0-255"))
                }),
            NameOrNumber::Name(s) => s
                .parse::<MessageType>()
                .map(TypeName)
                .map_err(|e| serde::de::Error::custom(e.to_string())),
        }
    }
}

/// A status code by name ("CatchUpComplete") or number, or "none" for absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusName(pub Option<StatusCode>);

impl<'de> Deserialize<'de> for StatusName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NameOrNumber::deserialize(d)? {
            NameOrNumber::Number(n) => u8::try_from(n)
                .map(|n| StatusName(Some(StatusCode::from_u8(n))))
                .map_err(|_| serde::de::Error::custom(format!("status {n} is out of range 0-255"))),
            NameOrNumber::Name(s) if s.eq_ignore_ascii_case("none") => Ok(StatusName(None)),
            NameOrNumber::Name(s) => s
                .parse::<StatusCode>()
                .map(|c| StatusName(Some(c)))
                .map_err(|e| serde::de::Error::custom(e.to_string())),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NameOrNumber {
    Number(i64),
    Name(String),
}

/// One value or a list of alternatives.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v,
        }
    }
}

/// The requirement a step judges, or several that its one observation
/// decides alike (a requestor closing on a foreign xid keeps both BLQ-R-01
/// and WIRE-07): every finding on the first is made on each of the others.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Requirements {
    One(String),
    Many(Vec<String>),
}

impl Requirements {
    pub fn as_slice(&self) -> &[String] {
        match self {
            Requirements::One(v) => std::slice::from_ref(v),
            Requirements::Many(v) => v,
        }
    }
}

/// The requirement a step's findings are made on, when it names one.
pub fn primary(r: &Option<Requirements>) -> Option<&str> {
    r.as_ref()
        .and_then(|r| r.as_slice().first())
        .map(String::as_str)
}

/// The requirements a step's findings are repeated on.
pub fn decided_alike(r: &Option<Requirements>) -> &[String] {
    r.as_ref()
        .and_then(|r| r.as_slice().get(1..))
        .unwrap_or_default()
}

/// A number, or text with `${variables}` and `+`/`-` terms, resolved when the
/// step runs (its shape is checked on loading: [`super::checked`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Number(u32),
    Text(String),
}

/// A duration: "5s", "ACTIVE_LQ_IDLE_TIMEOUT", "BULK_LQ_DATA_TIMEOUT + 10s".
pub type DurationExpr = String;

fn default_conn() -> String {
    "a".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Requestor role: open a connection to the target server.
    Connect(Connect),
    /// Server role: wait for the target requestor to connect.
    Accept(Accept),
    Send(Send),
    Expect(Expect),
    /// Judges the message the last `expect` on the connection matched again,
    /// against another requirement, without reading. A broken check does not
    /// stop the scenario.
    Check(Expect),
    ExpectClose(ExpectClose),
    ExpectSilence(ExpectSilence),
    /// Check the addresses seen so far on a connection.
    ExpectAddresses(ExpectAddresses),
    /// Requestor role: run the TLS handshake after a DHCPTLS success.
    StartTls(StartTls),
    /// Server role: answer the requestor's TLS handshake after a DHCPTLS
    /// success, with a good, an untrusted or a garbage server side.
    ServeTls(ServeTls),
    /// Server role: answer every bulk query received on a connection, the
    /// replies of different queries interleaved.
    AnswerBulk(AnswerBulk),
    /// Requestor role: open the target's whole connection quota at once.
    OpenConnections(OpenConnections),
    /// Requestor role: stop the target server gracefully.
    StopTarget(StopTarget),
    /// Stop reading a connection (the peer's sends block once buffers fill).
    PauseReading(ConnRef),
    ResumeReading(ConnRef),
    Trigger(Trigger),
    Capture(Capture),
    /// Stops the scenario as inconclusive when the connection received a
    /// status showing that the target chose, as the RFC allows, a way that
    /// keeps the situation under test from arising.
    InconclusiveIf(InconclusiveIf),
    Wait(Wait),
    Close(Close),
    /// Runs its steps once for each item of a list; expanded on loading, so
    /// a scenario that runs holds none.
    Repeat(Repeat),
}

impl Step {
    /// The duration the step may wait for, as the file writes it (an
    /// `expect` without `within` waits for the profile's expect-timeout).
    pub fn waits_for(&self) -> Option<&str> {
        match self {
            Step::Accept(a) => a.within.as_deref(),
            Step::Expect(e) => Some(e.within.as_deref().unwrap_or("expect-timeout")),
            Step::ExpectClose(e) => e.within.as_deref(),
            Step::ExpectSilence(e) => Some(&e.duration),
            Step::Wait(w) => Some(&w.duration),
            Step::Send(s) => s.trickle.as_ref().map(|t| t.duration.as_str()),
            _ => None,
        }
    }

    /// The step's name as scenario files spell it.
    pub fn keyword(&self) -> &'static str {
        match self {
            Step::Connect(_) => "connect",
            Step::Accept(_) => "accept",
            Step::Send(_) => "send",
            Step::Expect(_) => "expect",
            Step::Check(_) => "check",
            Step::ExpectClose(_) => "expect-close",
            Step::ExpectSilence(_) => "expect-silence",
            Step::ExpectAddresses(_) => "expect-addresses",
            Step::StartTls(_) => "start-tls",
            Step::ServeTls(_) => "serve-tls",
            Step::AnswerBulk(_) => "answer-bulk",
            Step::OpenConnections(_) => "open-connections",
            Step::StopTarget(_) => "stop-target",
            Step::PauseReading(_) => "pause-reading",
            Step::ResumeReading(_) => "resume-reading",
            Step::Trigger(_) => "trigger",
            Step::Capture(_) => "capture",
            Step::InconclusiveIf(_) => "inconclusive-if",
            Step::Wait(_) => "wait",
            Step::Close(_) => "close",
            Step::Repeat(_) => "repeat",
        }
    }
}

/// `repeat = { each = [{ conn = "t1", type = "DHCPDISCOVER" }, ...], steps =
/// [{ send = { conn = "${each.conn}", type = "${each.type}" } }, ...] }`: a
/// string that is all `${each.KEY}` becomes the item's value as it is (a
/// number stays a number), one that holds it takes the value as text.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    pub each: Vec<toml::Table>,
    pub steps: Vec<toml::Value>,
}

impl Step {
    /// The `requirement` a judging step has (absent, or one or more IDs);
    /// `None` for a step that only acts: send, wait, close, trigger.
    fn requirement(&self) -> Option<&Option<Requirements>> {
        match self {
            Step::Accept(a) => Some(&a.requirement),
            Step::Expect(e) | Step::Check(e) => Some(&e.requirement),
            Step::ExpectClose(e) => Some(&e.requirement),
            Step::ExpectSilence(e) => Some(&e.requirement),
            Step::ExpectAddresses(e) => Some(&e.requirement),
            Step::StartTls(t) => Some(&t.requirement),
            Step::ServeTls(t) => Some(&t.requirement),
            Step::OpenConnections(o) => Some(&o.requirement),
            Step::Send(Send {
                trickle: Some(t), ..
            }) => Some(&t.requirement),
            Step::Connect(_)
            | Step::Send(_)
            | Step::AnswerBulk(_)
            | Step::StopTarget(_)
            | Step::PauseReading(_)
            | Step::ResumeReading(_)
            | Step::Trigger(_)
            | Step::Capture(_)
            | Step::InconclusiveIf(_)
            | Step::Wait(_)
            | Step::Close(_)
            | Step::Repeat(_) => None,
        }
    }

    /// The requirements a step's findings are repeated on (see
    /// [`Requirements`]).
    pub fn decided_alike(&self) -> &[String] {
        self.requirement().map_or(&[], decided_alike)
    }

    /// The requirements this step can find broken: those it names. A step
    /// that names none is set-up: when it does not hold, the scenario stops
    /// inconclusive, with no finding on any requirement.
    pub fn judges(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .requirement()
            .and_then(Option::as_ref)
            .map(|r| r.as_slice().iter().map(String::as_str).collect())
            .unwrap_or_default();
        match self {
            Step::ServeTls(t) => out.extend(t.hello_requirement.as_deref()),
            Step::Expect(e) => out.extend(e.too_soon.as_deref()),
            _ => {}
        }
        out
    }

    /// The requirement a set-up step says the scenario relies on: what the
    /// target broke when the step did not hold.
    pub fn relies_on(&self) -> Option<&str> {
        match self {
            Step::Expect(e) | Step::Check(e) => e.relies_on.as_deref(),
            Step::ExpectClose(e) => e.relies_on.as_deref(),
            Step::Accept(a) => a.relies_on.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConnRef {
    #[serde(default = "default_conn")]
    pub conn: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Connect {
    #[serde(default = "default_conn")]
    pub conn: String,
    /// Receive buffer in bytes (SO_RCVBUF; the pipe size in memory), to make a
    /// server's sends block sooner.
    pub recv_buffer: Option<usize>,
    /// A full `close` of this connection sends RST (SO_LINGER 0) instead of FIN.
    #[serde(default)]
    pub reset_on_close: bool,
    /// Connect from another source address than usual.
    pub from: Option<Source>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The address the target is configured to refuse.
    DeniedSource,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Accept {
    #[serde(default = "default_conn")]
    pub conn: String,
    pub within: Option<DurationExpr>,
    /// The connection must not come sooner than this after connection `since`
    /// was accepted (retry spacing).
    pub not_before: Option<DurationExpr>,
    pub since: Option<String>,
    pub requirement: Option<Requirements>,
    /// For a set-up step (no `requirement`): the requirement whose breach
    /// keeps it from holding, named in the inconclusive reason.
    pub relies_on: Option<String>,
    /// Accept the next connection whose first query is of this kind; others
    /// that come first are set aside and served (a bulk query answered with
    /// DHCPLEASEQUERYDONE), never taken for this one. Any connection when
    /// absent.
    pub kind: Option<ConnKind>,
    /// What becomes of the connections that came while the step awaited
    /// this one and were not taken.
    #[serde(default)]
    pub beside: Beside,
    /// What it means when no connection comes in time.
    #[serde(default)]
    pub if_none: IfNone,
}

/// What the server does with a connection an `accept` did not take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Beside {
    /// Serves it as far as it showed what it is (a bulk query answered
    /// with DHCPLEASEQUERYDONE) and holds it open.
    #[default]
    Serve,
    /// Closes it: the scenario plays a server that treats every connection
    /// alike (one that closes after DHCPTLS closes them all).
    Close,
}

/// What an `accept` that sees no connection in time, or an `expect` that
/// sees nothing, concludes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IfNone {
    /// The step's requirement is broken.
    #[default]
    Judge,
    /// The target was free not to act (RFC 7724 §7.1: a requestor MAY
    /// retry), or its silence would break another requirement as well: the
    /// scenario stops and what it covers is inconclusive.
    Inconclusive,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawOption {
    #[serde(deserialize_with = "checked::option")]
    pub code: u8,
    /// The value as hex; `length` overrides the length octet (a lie on purpose).
    #[serde(deserialize_with = "checked::hex")]
    pub hex: String,
    pub length: Option<u8>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Send {
    #[serde(default = "default_conn")]
    pub conn: String,
    #[serde(rename = "type")]
    pub kind: Option<TypeName>,
    pub xid: Option<Value>,
    pub op: Option<u8>,
    pub htype: Option<u8>,
    pub hlen: Option<u8>,
    /// Client hardware address, colon-separated hex.
    #[serde(default, deserialize_with = "checked::optional_hex")]
    pub chaddr: Option<String>,
    pub ciaddr: Option<Value>,
    pub yiaddr: Option<Value>,
    pub siaddr: Option<Value>,
    #[serde(default, deserialize_with = "checked::optional_options")]
    pub prl: Option<Vec<u8>>,
    pub query_start_time: Option<Value>,
    pub query_end_time: Option<Value>,
    pub base_time: Option<Value>,
    pub lease_time: Option<Value>,
    pub status: Option<StatusName>,
    pub status_text: Option<String>,
    #[serde(default, deserialize_with = "checked::optional_hex")]
    pub client_id: Option<String>,
    pub circuit_id: Option<String>,
    pub remote_id: Option<String>,
    pub relay_id: Option<String>,
    #[serde(default, deserialize_with = "checked::optional_state")]
    pub dhcp_state: Option<String>,
    /// Extra options, written after the typed ones in this order.
    #[serde(default)]
    pub options: Vec<RawOption>,
    /// Leave out END.
    #[serde(default)]
    pub no_end: bool,
    /// Write this length prefix instead of the true one.
    pub length_prefix: Option<u16>,
    /// Write the framed message in pieces cut at these offsets.
    #[serde(default)]
    pub split: Vec<usize>,
    /// Send these bytes (hex) as they are, instead of a message.
    #[serde(default, deserialize_with = "checked::optional_hex")]
    pub raw_hex: Option<String>,
    /// Send the same message this many times.
    pub repeat: Option<usize>,
    /// Hold these bytes and write them in one write with the next step's,
    /// a `send` on the same connection: both messages reach the peer in one
    /// TCP segment, and so most likely in one read.
    #[serde(default)]
    pub with_next: bool,
    /// Write the framed message a byte at a time, as a slow peer would.
    pub trickle: Option<Trickle>,
}

/// `trickle = { every = "2s", for = "BULK_LQ_DATA_TIMEOUT - 5s" }`: one
/// byte per `every`, for at most `for` (the rest is never sent). The peer
/// closing before `for` is up breaks `requirement` (a read timer below its
/// default); closing later is for the next step to judge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Trickle {
    pub every: DurationExpr,
    #[serde(rename = "for")]
    pub duration: DurationExpr,
    pub requirement: Option<Requirements>,
}

/// What a received message must look like.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expect {
    #[serde(default = "default_conn")]
    pub conn: String,
    #[serde(rename = "type")]
    pub kind: Option<OneOrMany<TypeName>>,
    pub xid: Option<Value>,
    pub status: Option<OneOrMany<StatusName>>,
    /// "nonzero", "zero", an address or a variable.
    pub ciaddr: Option<Value>,
    /// The hardware address (chaddr up to hlen), hex or a variable.
    #[serde(default, deserialize_with = "checked::optional_hex")]
    pub chaddr: Option<String>,
    #[serde(default, deserialize_with = "checked::options")]
    pub present: Vec<u8>,
    #[serde(default, deserialize_with = "checked::options")]
    pub absent: Vec<u8>,
    pub query_start_time: Option<Value>,
    pub query_end_time: Option<Value>,
    /// base-time (152) must be present and read as the harness's clock, within
    /// the profile's `clock-skew`.
    pub base_time: Option<BaseTimeWanted>,
    /// start-time-of-state (153) must be present and count back from
    /// base-time to a moment the state can have begun.
    pub start_time_of_state: Option<StateStartWanted>,
    /// dhcp-state (156) must be present with this state ("abandoned", ...).
    #[serde(default, deserialize_with = "checked::optional_state")]
    pub dhcp_state: Option<String>,
    /// Each of these options, when present, must hold exactly this value.
    #[serde(default)]
    pub when_present: Vec<OptionValue>,
    /// How many messages of this shape: "3", ">= 1", "0..5", "any".
    pub count: Option<Count>,
    /// Deadline for each message, measured from the end of the previous step.
    pub within: Option<DurationExpr>,
    /// Earliest acceptable arrival (a timer that fires early is below default).
    pub not_before: Option<DurationExpr>,
    /// Let keepalives (ConnectionActive) pass unless they are what is expected.
    pub ignore_keepalives: Option<bool>,
    /// Skip messages that do not match instead of failing on them.
    #[serde(default)]
    pub skip_others: bool,
    /// `within` and `not-before` count from the last message received, skipped
    /// ones included: for timers that run only while a connection is idle
    /// (keepalives, AMB-24).
    #[serde(default)]
    pub idle: bool,
    pub requirement: Option<Requirements>,
    /// Grade a mismatch as this level instead of the requirement's.
    pub level: Option<LevelOverride>,
    /// For a set-up step (no `requirement`): the requirement whose breach
    /// keeps it from holding, named in the inconclusive reason.
    pub relies_on: Option<String>,
    /// What it means when nothing comes in time: silence that more than one
    /// requirement's breach would explain judges none of them.
    #[serde(default)]
    pub if_none: IfNone,
    /// What it means when the target closes the connection first:
    /// `inconclusive` where the step asks on a connection the target was
    /// free to close (RFC 7724 §7.5: either side, at any time).
    #[serde(default)]
    pub if_closed: IfNone,
    /// The requirement a match sooner than `not-before` breaks, where that
    /// is another than the step's (a timer set below its default, ALQ-S-44,
    /// where the step judges that the message came at all).
    pub too_soon: Option<String>,
}

/// What an `expect`'s base-time must read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaseTimeWanted {
    /// Seconds since 1970 on the harness's clock when the message arrived.
    Now,
}

/// What an `expect`'s start-time-of-state must read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateStartWanted {
    /// Seconds back from base-time (or from the arrival, without base-time)
    /// to a start no earlier than 2001 and, after the scenario changed a
    /// lease, no later than its last change.
    Relative,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OptionValue {
    #[serde(deserialize_with = "checked::option")]
    pub code: u8,
    /// The value as hex or a variable.
    #[serde(deserialize_with = "checked::hex")]
    pub hex: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LevelOverride {
    Must,
    Should,
    Info,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CloseKind {
    #[default]
    Any,
    Fin,
    Rst,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExpectClose {
    #[serde(default = "default_conn")]
    pub conn: String,
    pub within: Option<DurationExpr>,
    #[serde(default)]
    pub how: CloseKind,
    /// Grade for messages received before the close (default: should).
    pub messages_before: Option<LevelOverride>,
    /// A server's send can only have blocked once it had more than this many
    /// bytes queued (its send buffer): a connection still open that carried
    /// no more than this from the server stops the scenario inconclusive,
    /// since its send may never have blocked.
    pub blocked_past: Option<Value>,
    pub requirement: Option<Requirements>,
    pub level: Option<LevelOverride>,
    /// As for `expect-silence`: a refusal is the close this step awaits.
    #[serde(default)]
    pub refusal_ok: bool,
    /// For a set-up step (no `requirement`): the requirement whose breach
    /// keeps it from holding, named in the inconclusive reason.
    pub relies_on: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExpectSilence {
    #[serde(default = "default_conn")]
    pub conn: String,
    #[serde(rename = "for")]
    pub duration: DurationExpr,
    /// Whether the peer closing counts as silence.
    #[serde(default)]
    pub close_ok: bool,
    /// Only messages of these types break the silence (any message when absent).
    #[serde(rename = "type")]
    pub kind: Option<OneOrMany<TypeName>>,
    /// Only messages with one of these statuses break the silence.
    pub status: Option<OneOrMany<StatusName>>,
    /// Leave the messages that do not break the silence (and a close that
    /// counts as silence) for the next step to judge, instead of passing
    /// over them.
    #[serde(default)]
    pub keep_others: bool,
    pub requirement: Option<Requirements>,
    pub level: Option<LevelOverride>,
    /// As for `expect`: a close by the target stops the scenario
    /// inconclusive, where the silence it judges needs the connection open.
    #[serde(default)]
    pub if_closed: IfNone,
    /// A target that refused the connection, or closed it before it read
    /// what the harness sent, did what the step awaits (a connection over a
    /// limit); otherwise the step cannot judge an answer that was never
    /// asked for, and the scenario stops inconclusive.
    #[serde(default)]
    pub refusal_ok: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExpectAddresses {
    #[serde(default = "default_conn")]
    pub conn: String,
    /// A list variable, e.g. "${bound}".
    pub include: String,
    /// Addresses that must not be reported (a list variable).
    pub exclude: Option<String>,
    /// Only messages answering this xid count.
    pub xid: Option<Value>,
    /// Skip the check when a message with this status was received (e.g.
    /// DataMissing excuses missing catch-up data).
    pub unless_status: Option<StatusName>,
    /// Each address must have been reported at least once as this type (for
    /// example DHCPLEASEUNASSIGNED after a release). On a busy server a
    /// released address may be bound again at once, so only presence counts.
    pub seen_as: Option<TypeName>,
    /// The latest report of each address to query `xid` is this type: the
    /// current state after every change (needs `xid`).
    pub latest_as: Option<TypeName>,
    pub requirement: Option<Requirements>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Certificate {
    /// Authorised by the target.
    Client,
    /// Signed by the target's CA but not on its allow-list.
    Other,
    /// Self-signed, trusted by no one.
    Untrusted,
    /// No client certificate at all.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    #[default]
    Ok,
    Fail,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StartTls {
    #[serde(default = "default_conn")]
    pub conn: String,
    /// The client certificate shown; every handshake but a `version` one
    /// names it.
    pub cert: Option<Certificate>,
    /// Offer only this version below TLS 1.2, with a ClientHello the harness
    /// writes itself; the server is to refuse it (`expect = "fail"`).
    pub version: Option<crate::net::legacy_tls::LegacyTls>,
    #[serde(default)]
    pub expect: Outcome,
    pub requirement: Option<Requirements>,
}

/// The server side the harness shows a requestor in a TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerCertificate {
    /// A certificate the requestor trusts.
    Valid,
    /// A self-signed certificate no one trusts.
    Untrusted,
    /// No certificate at all: bytes that are not TLS after the ClientHello.
    Garbage,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServeTls {
    #[serde(default = "default_conn")]
    pub conn: String,
    pub cert: ServerCertificate,
    #[serde(default)]
    pub expect: Outcome,
    /// Judges that the requestor's first bytes are a TLS ClientHello.
    pub hello_requirement: Option<String>,
    pub requirement: Option<Requirements>,
}

/// What each connection of an `open-connections` step sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum QuotaQuery {
    /// Nothing: the connections stay idle.
    #[default]
    None,
    /// A bulk query by an unknown MAC; its DHCPLEASEQUERYDONE must come.
    Bulk,
    /// A DHCPACTIVELEASEQUERY for live updates.
    Active,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OpenConnections {
    /// The connections are named `<prefix>1` .. `<prefix>N`.
    pub prefix: String,
    /// How many; the target's connection limit when absent.
    pub count: Option<usize>,
    #[serde(default)]
    pub query: QuotaQuery,
    pub requirement: Option<Requirements>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StopTarget {}

/// Which part of the answers to bulk queries an `answer-bulk` step sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BulkPart {
    /// DHCPLEASEACTIVE replies, round-robin over the queries.
    Bindings,
    /// One DHCPLEASEQUERYDONE per query.
    Done,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AnswerBulk {
    #[serde(default = "default_conn")]
    pub conn: String,
    pub part: BulkPart,
    /// Replies per query for `bindings` (default 2).
    pub rounds: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Trigger {
    /// Bind this many new leases (addresses go to `${bound}`).
    pub bind: Option<usize>,
    /// Renew the first N bound leases.
    pub renew: Option<usize>,
    /// Release the first N bound leases (addresses go to `${released}`).
    pub release: Option<usize>,
    /// Decline the first N bound leases, as their clients would on finding
    /// the address in use (addresses go to `${declined}`).
    pub decline: Option<usize>,
    /// An administrative reload that aborts the server's queries.
    #[serde(default)]
    pub reload: bool,
    /// Options the clients bound by this trigger send in DISCOVER and REQUEST.
    #[serde(default)]
    pub client_options: Vec<OptionValue>,
    /// Repeat the whole trigger this many times.
    pub repeat: Option<usize>,
    /// Repeat the whole trigger until the replies its changes cause, each at
    /// the smallest a framed DHCPLEASEACTIVE can be, add up to more than this
    /// many bytes ("${send_buffer} + 64KiB"-style sums of numbers and
    /// variables): enough to fill any buffer that size. Instead of `repeat`.
    pub fill: Option<Value>,
    /// Also keep the addresses this trigger bound in `${NAME}`.
    pub into: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InconclusiveIf {
    #[serde(default = "default_conn")]
    pub conn: String,
    /// A status received on the connection so far.
    pub status: Option<StatusName>,
    /// Options the last message received on the connection lacks (any of
    /// them): a query without query-start-time cannot be answered with
    /// DataMissing, for one.
    #[serde(default, deserialize_with = "checked::options")]
    pub lacks: Vec<u8>,
    /// Why that status means the scenario cannot judge, for the report.
    pub because: String,
    /// The covered requirements left untested; every one when absent.
    pub about: Option<Requirements>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Field {
    Xid,
    Ciaddr,
    BaseTime,
    QueryStartTime,
    QueryEndTime,
    /// When the binding last changed on the server's clock: base-time
    /// less client-last-transaction-time (RFC 6926 §7.2 "changed").
    LastTransaction,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capture {
    #[serde(default = "default_conn")]
    pub conn: String,
    /// Read from the last message received on the connection.
    pub field: Field,
    pub into: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Wait {
    #[serde(rename = "for")]
    pub duration: DurationExpr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CloseHow {
    /// Shut down the write side and keep reading.
    Half,
    /// Close both directions.
    #[default]
    Full,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Close {
    #[serde(default = "default_conn")]
    pub conn: String,
    #[serde(default)]
    pub how: CloseHow,
}

/// Shows a value as scenario files and profiles spell it, for text a vendor
/// reads.
macro_rules! spelled {
    ($t:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $(Self::$variant => $name,)+
                })
            }
        }
    };
}

spelled!(Need {
    Bulk => "bulk",
    Active => "active",
    Insecure => "insecure",
    Secure => "secure",
    Trigger => "trigger",
    Slow => "slow",
    BulkOnly => "bulk-only",
    AllConfiguredQuery => "all-configured-query",
    SmallHistory => "small-history",
    WithholdsRelayAgentInfo => "withholds-relay-agent-info",
    Stop => "stop",
    Reload => "reload",
    PerRequestorLimitOne => "per-requestor-limit-one",
    ClientOptions => "client-options",
    DeniedSource => "denied-source",
});
spelled!(CloseKind { Any => "any", Fin => "fin", Rst => "rst" });
spelled!(CloseHow { Half => "half", Full => "full" });
spelled!(Role { Requestor => "requestor", Server => "server" });
spelled!(Certificate { Client => "client", Other => "other", Untrusted => "untrusted", None => "none" });
spelled!(ServerCertificate { Valid => "valid", Untrusted => "untrusted", Garbage => "garbage" });
spelled!(Field {
    Xid => "xid",
    Ciaddr => "ciaddr",
    BaseTime => "base-time",
    QueryStartTime => "query-start-time",
    QueryEndTime => "query-end-time",
    LastTransaction => "last-transaction",
});

/// Needs as a profile lists them: "insecure, trigger".
pub fn needs_list(needs: &[Need]) -> String {
    needs
        .iter()
        .map(Need::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod spelling_tests {
    use super::*;

    #[test]
    fn needs_are_shown_as_profiles_spell_them() {
        for (need, name) in [
            (Need::BulkOnly, "bulk-only"),
            (Need::WithholdsRelayAgentInfo, "withholds-relay-agent-info"),
        ] {
            let parsed: Need =
                serde::Deserialize::deserialize(serde::de::value::StrDeserializer::<
                    serde::de::value::Error,
                >::new(name))
                .unwrap();
            assert_eq!(parsed, need);
            assert_eq!(need.to_string(), name);
        }
        assert_eq!(
            needs_list(&[Need::Insecure, Need::Trigger]),
            "insecure, trigger"
        );
    }
}
