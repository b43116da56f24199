//! `expect` and `check`: matching received messages against a scenario's shape.

use super::{Exec, Stop};
use crate::net::clock::Clock;
use crate::net::stream_reader::StreamEvent;
use crate::outcome::Direction;
use crate::run::judge::{closed_first, ExpectEnd, ExpectJudge, ExpectRules, Heard};
use crate::scenario::model::{primary, Expect, IfNone, Value};
use crate::wire::describe::{self, summary};
use crate::wire::{DhcpState, Indexed, MessageType, OptionError, Received, StatusCode};
use std::net::Ipv4Addr;
use std::rc::Rc;
use tokio::time::Instant;

/// What an `expect`'s ciaddr must be.
enum AddressWanted {
    Nonzero,
    Zero,
    Is(Ipv4Addr),
}

/// What an `expect`'s query time must be.
enum TimeWanted {
    Absent,
    Is(u32),
}

/// An `expect` with its expressions worked out: once per step, not once per
/// message it reads.
pub(super) struct Wanted<'e> {
    e: &'e Expect,
    xid: Option<u32>,
    ciaddr: Option<AddressWanted>,
    chaddr: Option<Vec<u8>>,
    dhcp_state: Option<DhcpState>,
    when_present: Vec<(u8, Vec<u8>)>,
    query_start_time: Option<TimeWanted>,
    query_end_time: Option<TimeWanted>,
    clock: ClockCheck,
    /// The connection carries an active query: a status awaited as
    /// DHCPLEASEQUERYSTATUS also matches as DHCPLEASEQUERYDONE, since which
    /// of the two types it comes as is ALQ-S-45's alone, judged on every
    /// message.
    status_as_done: bool,
}

/// What the base-time and start-time-of-state checks judge against.
pub(super) struct ClockCheck {
    pub clock: Clock,
    /// How far the target's clock may be from the harness's, in seconds.
    pub skew: u32,
    /// When the scenario's last trigger completed, seconds since 1970.
    pub changed_at: Option<u32>,
}

/// A start of state before this (2001-09-09) means the value was absolute.
const EARLIEST_STATE_START: u32 = 1_000_000_000;

impl ClockCheck {
    /// Why `msg`'s base-time is not the harness's clock when it arrived
    /// (`now`, seconds since 1970), or `None`.
    fn base_time_mismatch(&self, msg: Indexed<'_>, now: u32) -> Option<String> {
        let got = match msg.base_time() {
            Ok(Some(t)) => t,
            Ok(None) => return Some(format!("base-time (152) is missing from {}", summary(msg))),
            Err(e) => return Some(format!("base-time (152): {e}")),
        };
        let off = got.abs_diff(now);
        (off > self.skew).then(|| {
            let side = if got > now { "ahead of" } else { "behind" };
            format!(
                "base-time {got} ({}) is {off} s {side} the harness clock ({}), more than the {} s clock-skew allows",
                describe::absolute_time(got),
                describe::absolute_time(now),
                self.skew
            )
        })
    }

    /// Why `msg`'s start-time-of-state does not count back to a moment its
    /// state can have begun, or `None`; `now` is when it arrived.
    fn state_start_mismatch(&self, msg: Indexed<'_>, now: u32) -> Option<String> {
        let back = match msg.start_time_of_state() {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Some(format!(
                    "start-time-of-state (153) is missing from {}",
                    summary(msg)
                ))
            }
            Err(e) => return Some(format!("start-time-of-state (153): {e}")),
        };
        // Counted back from base-time, or from the harness clock when there
        // is no base-time to count from (its own check says so).
        let base = match msg.base_time() {
            Ok(Some(t)) if t.abs_diff(now) <= self.skew => t,
            _ => now,
        };
        let began = base
            .checked_sub(back)
            .filter(|b| *b >= EARLIEST_STATE_START);
        let Some(began) = began else {
            return Some(format!(
                "start-time-of-state {back} counts back from {base} to before 2001: it looks absolute, not seconds before base-time"
            ));
        };
        let bound = self.changed_at?;
        (began > bound.saturating_add(self.skew)).then(|| {
            format!(
                "start-time-of-state {back} puts the start of the state at {}, {} s after the scenario's last lease change ({})",
                describe::absolute_time(began),
                began - bound,
                describe::absolute_time(bound)
            )
        })
    }
}

impl Wanted<'_> {
    /// Why `msg` does not match, or `None` when it does.
    /// Why `msg`, which arrived at `arrived`, is not what the step awaits.
    pub(super) fn mismatch(&self, msg: Indexed<'_>, arrived: Instant) -> Option<String> {
        let e = self.e;
        let kind = msg.kind();
        if let Some(kinds) = &e.kind {
            let kinds = kinds.as_slice();
            let as_wanted = |k: MessageType| {
                kinds.iter().any(|want| {
                    want.0 == k
                        || (self.status_as_done
                            && want.0 == MessageType::LeaseQueryStatus
                            && k == MessageType::LeaseQueryDone)
                })
            };
            if kind.is_none_or(|k| !as_wanted(k)) {
                let want: Vec<String> = kinds.iter().map(|k| k.0.to_string()).collect();
                return Some(format!(
                    "expected {}, got {}",
                    want.join(" or "),
                    summary(msg)
                ));
            }
        }
        if let Some(want) = self.xid {
            if msg.xid() != want {
                return Some(format!(
                    "expected xid 0x{want:08x}, got 0x{:08x}",
                    msg.xid()
                ));
            }
        }
        if let Some(statuses) = &e.status {
            let got = msg.status().ok().flatten().map(|s| s.code);
            let wants = statuses.as_slice();
            if !wants.iter().any(|s| s.0 == got) {
                let show = |s: Option<StatusCode>| {
                    s.map_or("no status".to_string(), |c| format!("status {c}"))
                };
                let want: Vec<String> = wants.iter().map(|s| show(s.0)).collect();
                return Some(format!("expected {}, got {}", want.join(" or "), show(got)));
            }
        }
        if let Some(want) = &self.ciaddr {
            let got = msg.ciaddr();
            let ok = match want {
                AddressWanted::Nonzero => !got.is_unspecified(),
                AddressWanted::Zero => got.is_unspecified(),
                AddressWanted::Is(addr) => got == *addr,
            };
            if !ok {
                let shown = match want {
                    AddressWanted::Nonzero => "nonzero".to_string(),
                    AddressWanted::Zero => "zero".to_string(),
                    AddressWanted::Is(addr) => addr.to_string(),
                };
                return Some(format!("ciaddr {got} does not match {shown}"));
            }
        }
        if let Some(want) = &self.chaddr {
            if msg.hardware_address() != want.as_slice() {
                return Some(format!(
                    "chaddr {} is not {}",
                    crate::wire::describe::hex(msg.hardware_address(), ":"),
                    crate::wire::describe::hex(want, ":")
                ));
            }
        }
        for c in &e.present {
            if !msg.has(*c) {
                return Some(format!("option {c} is missing from {}", summary(msg)));
            }
        }
        for c in &e.absent {
            if msg.has(*c) {
                return Some(format!("option {c} is present in {}", summary(msg)));
            }
        }
        if let Some(want) = self.dhcp_state {
            let got = msg.dhcp_state().ok().flatten();
            if got != Some(want) {
                let got = got.map_or("no dhcp-state".to_string(), |g| format!("dhcp-state {g}"));
                return Some(format!("expected dhcp-state {want}, got {got}"));
            }
        }
        for (code, want) in &self.when_present {
            if let Some(got) = msg.option_data(*code).ok().flatten() {
                if got.as_ref() != want.as_slice() {
                    return Some(format!(
                        "option {code} is {}, expected {}",
                        crate::wire::describe::hex(&got, " "),
                        crate::wire::describe::hex(want, " ")
                    ));
                }
            }
        }
        let now = || self.clock.clock.epoch_of(arrived);
        if e.base_time.is_some() {
            if let Some(why) = self.clock.base_time_mismatch(msg, now()) {
                return Some(why);
            }
        }
        if e.start_time_of_state.is_some() {
            if let Some(why) = self.clock.state_start_mismatch(msg, now()) {
                return Some(why);
            }
        }
        type Read = fn(&Received) -> Result<Option<u32>, OptionError>;
        let times: [(_, Read, _); 2] = [
            (
                &self.query_start_time,
                Received::query_start_time,
                "query-start-time",
            ),
            (
                &self.query_end_time,
                Received::query_end_time,
                "query-end-time",
            ),
        ];
        for (want, read, name) in times {
            let Some(want) = want else { continue };
            let got = read(msg).ok().flatten();
            match want {
                TimeWanted::Absent => {
                    if let Some(g) = got {
                        return Some(format!("{name} {g} present, expected none"));
                    }
                }
                TimeWanted::Is(want) => {
                    if got != Some(*want) {
                        let got = got.map_or("absent".to_string(), |g| g.to_string());
                        return Some(format!("{name} is {got}, expected {want}"));
                    }
                }
            }
        }
        None
    }
}

/// The xid whose data (binding replies, not DHCPLEASEQUERYDONE) step `e`
/// awaits: its DONE passes by until enough came.
fn awaits_data_of(e: &Expect, wanted: &Wanted<'_>) -> Option<u32> {
    let kinds = e.kind.as_ref()?.as_slice();
    let data = kinds
        .iter()
        .all(|k| matches!(k.0, MessageType::LeaseActive | MessageType::LeaseUnassigned));
    data.then_some(wanted.xid?)
}

impl Exec<'_> {
    /// `e` with its expressions worked out against the scenario's variables.
    pub(super) fn wanted<'e>(&self, e: &'e Expect) -> Result<Wanted<'e>, Stop> {
        let time = |v: &Option<Value>| -> Result<Option<TimeWanted>, Stop> {
            Ok(match v {
                None => None,
                Some(Value::Text(t)) if t == "none" => Some(TimeWanted::Absent),
                Some(v) => Some(TimeWanted::Is(self.number(v)?)),
            })
        };
        Ok(Wanted {
            e,
            xid: e.xid.as_ref().map(|x| self.number(x)).transpose()?,
            ciaddr: match &e.ciaddr {
                None => None,
                Some(Value::Text(t)) if t == "nonzero" => Some(AddressWanted::Nonzero),
                Some(Value::Text(t)) if t == "zero" => Some(AddressWanted::Zero),
                Some(other) => Some(AddressWanted::Is(self.address(other)?)),
            },
            chaddr: e.chaddr.as_deref().map(|hw| self.bytes(hw)).transpose()?,
            dhcp_state: e
                .dhcp_state
                .as_deref()
                .map(|want| {
                    want.parse()
                        .map_err(|e: crate::wire::types::UnknownName| Stop::Error(e.to_string()))
                })
                .transpose()?,
            when_present: e
                .when_present
                .iter()
                .map(|v| Ok((v.code, self.bytes(&v.hex)?)))
                .collect::<Result<_, Stop>>()?,
            query_start_time: time(&e.query_start_time)?,
            query_end_time: time(&e.query_end_time)?,
            status_as_done: self
                .conns
                .get(&e.conn)
                .is_some_and(|c| c.peer.carries_active_query()),
            clock: ClockCheck {
                clock: self.backend.clock(),
                skew: self.clock_skew,
                changed_at: self.changed_at,
            },
        })
    }

    /// Why `msg` does not match `e`, or `None` when it does.
    pub(super) fn mismatch(
        &self,
        e: &Expect,
        msg: Indexed<'_>,
        arrived: Instant,
    ) -> Result<Option<String>, Stop> {
        Ok(self.wanted(e)?.mismatch(msg, arrived))
    }

    pub(super) async fn expect(&mut self, e: &Expect) -> Result<(), Stop> {
        if self.conn(&e.conn)?.paused {
            return Err(Stop::Error(format!(
                "connection '{}' is paused; resume-reading first",
                e.conn
            )));
        }
        let (min, max) = e.count.as_ref().map_or((1, 1), |c| (c.min, c.max));
        // With none required, absence judges nothing either way.
        self.heard(&e.conn, min == 0)?;
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
            .map(|d| self.duration(d).map(|d| self.early(d)))
            .transpose()?;
        let expects_keepalive = e.status.as_ref().is_some_and(|s| {
            s.as_slice()
                .iter()
                .any(|s| s.0 == Some(StatusCode::ConnectionActive))
        });
        let ignore_keepalives = e.ignore_keepalives.unwrap_or(!expects_keepalive);
        let req = primary(&e.requirement);
        let wanted = self.wanted(e)?;
        let rules = ExpectRules {
            min,
            max,
            count: e.count.as_ref().map(ToString::to_string),
            within,
            slack: self.slack,
            not_before,
            idle: e.idle,
            skip_others: e.skip_others,
            pass_keepalives: ignore_keepalives && !expects_keepalive,
            pass_done_of: awaits_data_of(e, &wanted),
            message_limit: self.message_limit,
        };
        let mut judge = ExpectJudge::new(
            |msg: Indexed<'_>, at: Instant| wanted.mismatch(msg, at),
            rules,
            self.step_start,
        );
        while !judge.enough() {
            let (event, frame) = match self.receive_read(&e.conn)? {
                Some(read) => read,
                None => self.receive(&e.conn, judge.deadline()).await?,
            };
            match event {
                StreamEvent::Message(msg) => match judge.on_message(msg, frame, self.arrived) {
                    Heard::ReadOn => {}
                    Heard::TooSoon(why) => {
                        if let Err(stop) =
                            self.judge(e.too_soon.as_deref().or(req), e.level, why, frame)
                        {
                            self.keep_matched(&e.conn, judge.take_newest());
                            return Err(stop);
                        }
                    }
                    Heard::LeaveIt(msg) => {
                        self.conn(&e.conn)?.unread(StreamEvent::Message(msg), frame);
                        break;
                    }
                    Heard::Mismatch(why) | Heard::Flooded(why) => {
                        self.keep_matched(&e.conn, judge.take_newest());
                        return self.judge(req, e.level, why, frame);
                    }
                },
                StreamEvent::Timeout => {
                    judge.on_quiet();
                    break;
                }
                StreamEvent::Closed(kind) => {
                    self.conn(&e.conn)?.unread(StreamEvent::Closed(kind), frame);
                    judge.on_close(kind);
                    break;
                }
                StreamEvent::Garbage(_) => {
                    self.keep_matched(&e.conn, judge.take_newest());
                    return Err(Stop::Failed);
                }
            }
        }
        self.keep_matched(&e.conn, judge.take_newest());
        match judge.end() {
            ExpectEnd::Held { matched, frame } => {
                self.pass(req, format!("{matched} matching message(s)"), frame);
                Ok(())
            }
            ExpectEnd::Short { what, closed, .. }
                if closed && e.if_closed == IfNone::Inconclusive =>
            {
                Err(Stop::Unmet(super::Unmet {
                    reason: closed_first(&what),
                    only: Vec::new(),
                }))
            }
            ExpectEnd::Short { what, silent, .. }
                if silent && e.if_none == IfNone::Inconclusive =>
            {
                Err(Stop::Unmet(super::Unmet {
                    reason: format!(
                        "{what}: silence alone does not show which requirement the target broke"
                    ),
                    only: Vec::new(),
                }))
            }
            ExpectEnd::Short {
                what,
                frame,
                closed,
                ..
            } => {
                if closed {
                    self.close_once(&e.conn)?;
                }
                let frame = frame.or(self.transcript.last_seq());
                self.judge(req, e.level, what, frame)
            }
        }
    }

    /// What a later `check` on `conn` judges: the last message an `expect`
    /// matched (`None` keeps the `None` the step started with).
    fn keep_matched(&mut self, conn: &str, newest: Option<(Rc<Received>, Instant)>) {
        if let (Some(matched), Ok(c)) = (newest, self.conn(conn)) {
            c.last_matched = Some(matched);
        }
    }

    pub(super) fn check(&mut self, e: &Expect) -> Result<(), Stop> {
        let conn = self.conn(&e.conn)?;
        let Some((msg, arrived)) = conn.last_matched.clone() else {
            if !conn.any_expect {
                return Err(Stop::Error(format!(
                    "check on '{}' needs an expect before it",
                    e.conn
                )));
            }
            // The expect before it was graded a warning and matched nothing.
            self.log(
                &e.conn,
                Direction::Note,
                "check skipped: the expect before it matched nothing".into(),
            );
            return Ok(());
        };
        let conn = self.transcript.find_conn(&e.conn);
        let frame = self
            .transcript
            .rposition(|t| Some(t.conn) == conn && t.dir == Direction::Recv);
        match self.mismatch(e, &msg, arrived)? {
            None => {
                self.pass(primary(&e.requirement), "holds".into(), frame);
                Ok(())
            }
            Some(why) => match self.judge(primary(&e.requirement), e.level, why, frame) {
                Err(Stop::Failed) | Ok(()) => Ok(()),
                Err(other) => Err(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DhcpOption, MessageBuilder};

    const NOW: u32 = 1_800_000_000;

    fn check(changed_at: Option<u32>) -> ClockCheck {
        ClockCheck {
            clock: Clock::starting_at(NOW),
            skew: 5,
            changed_at,
        }
    }

    fn active(options: &[DhcpOption]) -> Received {
        let mut b =
            MessageBuilder::reply(MessageType::LeaseActive, 7).ciaddr(Ipv4Addr::new(192, 0, 2, 9));
        for o in options {
            b = b.option(o.clone());
        }
        Received::from_raw(&b.build())
    }

    #[tokio::test(start_paused = true)]
    async fn base_time_holds_within_the_skew_and_fails_beyond_it() {
        let c = check(None);
        for (base, holds) in [
            (NOW, true),
            (NOW + 5, true),
            (NOW - 5, true),
            (NOW + 6, false),
            (NOW - 6, false),
            // The NTP epoch, and a relative number.
            (NOW.wrapping_add(2_208_988_800), false),
            (300, false),
        ] {
            let msg = active(&[DhcpOption::BaseTime(base)]);
            assert_eq!(c.base_time_mismatch(&msg, NOW).is_none(), holds, "{base}");
        }
        assert!(c.base_time_mismatch(&active(&[]), NOW).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn start_time_of_state_must_count_back_to_a_start_after_2001_and_not_after_the_bind() {
        let bound = NOW - 60;
        let c = check(Some(bound));
        let with = |back: u32| {
            active(&[
                DhcpOption::BaseTime(NOW),
                DhcpOption::StartTimeOfState(back),
            ])
        };
        // Begun at the bind, or at an earlier bind of a lease renewed since.
        assert!(c.state_start_mismatch(&with(60), NOW).is_none());
        assert!(c.state_start_mismatch(&with(86_400), NOW).is_none());
        // Within the skew of the bind, and not after it.
        assert!(c.state_start_mismatch(&with(55), NOW).is_none());
        assert!(c.state_start_mismatch(&with(50), NOW).is_some());
        // The start itself, seconds since 1970, is no duration.
        assert!(c.state_start_mismatch(&with(bound), NOW).is_some());
        // Past 1970 altogether.
        assert!(c.state_start_mismatch(&with(NOW + 1), NOW).is_some());
        // Without a bind, only an absolute value fails.
        assert!(check(None).state_start_mismatch(&with(0), NOW).is_none());
        assert!(check(None)
            .state_start_mismatch(&with(bound), NOW)
            .is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn start_time_of_state_counts_from_the_harness_clock_when_base_time_is_off() {
        let msg = active(&[
            DhcpOption::BaseTime(NOW.wrapping_add(2_208_988_800)),
            DhcpOption::StartTimeOfState(30),
        ]);
        assert!(check(Some(NOW - 30))
            .state_start_mismatch(&msg, NOW)
            .is_none());
    }
}
