//! The step judges as sans-IO cores: `expect`, `expect-silence` and
//! `expect-close` are fed each event of their connection with the time it
//! arrived, say until when to read on, and at the end what the step found.
//! The executor (`run/exec/`) reads sockets and records findings; what an
//! event means is decided here, on any clock (the unit tests below drive
//! them on made-up times, without a runtime).

use crate::capture::tap::Closed;
use crate::scenario::expr::Shown;
use crate::wire::{Indexed, MessageType, Received, StatusCode};
use std::rc::Rc;
use std::time::Duration;
use tokio::time::Instant;

/// A ConnectionActive keepalive (RFC 7724 §7.4).
pub(crate) fn is_keepalive(msg: Indexed<'_>) -> bool {
    msg.is(MessageType::LeaseQueryStatus)
        && matches!(msg.status(), Ok(Some(s)) if s.code == StatusCode::ConnectionActive)
}

/// How an `expect` counts and times what it awaits.
#[derive(Debug, Clone)]
pub(crate) struct ExpectRules {
    pub min: usize,
    pub max: usize,
    /// The step's `count` as written, when it gave one.
    pub count: Option<String>,
    pub within: Duration,
    pub slack: Duration,
    pub not_before: Option<Duration>,
    /// `within` and `not-before` count from the last message of any shape.
    pub idle: bool,
    pub skip_others: bool,
    /// Keepalives pass by unless they are what is awaited.
    pub pass_keepalives: bool,
    /// A DHCPLEASEQUERYDONE with this xid passes by while the step still
    /// awaits the query's data: a DONE ahead of it is BLQ-S-16's, judged on
    /// the data that follows it.
    pub pass_done_of: Option<u32>,
    pub message_limit: usize,
}

/// What an `expect` makes of one message.
#[derive(Debug)]
pub(crate) enum Heard {
    /// Read on (until [`ExpectJudge::deadline`]), unless enough came.
    ReadOn,
    /// A match came sooner than `not-before` after what it counts from.
    TooSoon(String),
    /// A message of another shape after enough matches: it is the next
    /// step's, and this step ends.
    LeaveIt(Rc<Received>),
    /// A message of another shape where the step's own was awaited.
    Mismatch(String),
    /// The peer sent more than the profile's message limit.
    Flooded(String),
}

/// How an `expect` ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ExpectEnd {
    /// As many matches as it awaited; the last one's transcript entry.
    Held {
        matched: usize,
        frame: Option<usize>,
    },
    /// Fewer: what came instead (or that nothing did), and whether nothing
    /// at all came.
    Short {
        what: String,
        silent: bool,
        /// The target closed the connection before enough came.
        closed: bool,
        frame: Option<usize>,
    },
}

/// An `expect` step: `wanted` says why a message, arrived at a time, is not
/// the one awaited (`None` when it is).
pub(crate) struct ExpectJudge<W> {
    wanted: W,
    rules: ExpectRules,
    matched: usize,
    read: usize,
    /// What `within` and `not-before` count from.
    last_progress: Instant,
    last_frame: Option<usize>,
    newest: Option<(Rc<Received>, Instant)>,
    stop_reason: String,
    silent: bool,
    closed: bool,
}

impl<W: Fn(Indexed<'_>, Instant) -> Option<String>> ExpectJudge<W> {
    /// A step that started at `start`.
    pub(crate) fn new(wanted: W, rules: ExpectRules, start: Instant) -> Self {
        ExpectJudge {
            wanted,
            rules,
            matched: 0,
            read: 0,
            last_progress: start,
            last_frame: None,
            newest: None,
            stop_reason: String::new(),
            silent: false,
            closed: false,
        }
    }

    /// Whether it has all it awaits.
    pub(crate) fn enough(&self) -> bool {
        self.matched >= self.rules.max
    }

    /// Until when to read for the next message.
    pub(crate) fn deadline(&self) -> Instant {
        self.last_progress + self.rules.within + self.rules.slack
    }

    /// `msg`, transcript entry `frame`, arrived at `arrived`.
    pub(crate) fn on_message(
        &mut self,
        msg: Rc<Received>,
        frame: Option<usize>,
        arrived: Instant,
    ) -> Heard {
        self.read += 1;
        if self.read > self.rules.message_limit {
            return Heard::Flooded(format!(
                "still sending after {} messages (the profile's message-limit) with {} matching",
                self.rules.message_limit, self.matched
            ));
        }
        let why = (self.wanted)(&msg, arrived);
        // Any message ends the idle period the timer measures.
        if self.rules.idle && why.is_some() {
            self.last_progress = arrived;
        }
        if self.rules.pass_keepalives && is_keepalive(&msg) {
            return Heard::ReadOn;
        }
        // Once enough came, a DONE ends a counted step and is the next's.
        let short = self.matched < self.rules.min || self.rules.count.is_none();
        if why.is_some()
            && short
            && self.rules.pass_done_of == Some(msg.xid())
            && msg.is(MessageType::LeaseQueryDone)
        {
            return Heard::ReadOn;
        }
        match why {
            None => {
                self.matched += 1;
                self.last_frame = frame;
                let waited = arrived.saturating_duration_since(self.last_progress);
                self.newest = Some((msg, arrived));
                self.last_progress = arrived;
                match self.rules.not_before {
                    Some(min) if waited + Duration::from_millis(1) < min => {
                        Heard::TooSoon(format!(
                            "arrived after {}, sooner than {}",
                            Shown(waited),
                            Shown(min)
                        ))
                    }
                    _ => Heard::ReadOn,
                }
            }
            Some(_) if self.rules.skip_others => Heard::ReadOn,
            Some(why) if self.matched >= self.rules.min && self.rules.count.is_some() => {
                self.stop_reason = why;
                Heard::LeaveIt(msg)
            }
            Some(why) => Heard::Mismatch(why),
        }
    }

    /// Nothing came by the deadline.
    pub(crate) fn on_quiet(&mut self) {
        self.stop_reason = format!("nothing more within {}", Shown(self.rules.within));
        self.silent = self.matched == 0;
    }

    /// The peer closed the connection.
    pub(crate) fn on_close(&mut self, how: Closed) {
        self.stop_reason = format!("connection closed ({how})");
        self.closed = true;
    }

    /// The last match and when it came, for a later `check`.
    pub(crate) fn take_newest(&mut self) -> Option<(Rc<Received>, Instant)> {
        self.newest.take()
    }

    /// How the step ended, once it reads no more.
    pub(crate) fn end(&self) -> ExpectEnd {
        if self.matched >= self.rules.min {
            return ExpectEnd::Held {
                matched: self.matched,
                frame: self.last_frame,
            };
        }
        let what = match &self.rules.count {
            Some(count) => format!(
                "{} matching messages, expected {count}: {}",
                self.matched, self.stop_reason
            ),
            None => format!("no matching message: {}", self.stop_reason),
        };
        ExpectEnd::Short {
            what,
            silent: self.silent,
            closed: self.closed,
            frame: self.last_frame,
        }
    }
}

/// How an `expect-silence` ended, or that it reads on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Silence {
    /// Not broken by this event: it is passed over, and reading goes on.
    PassOver,
    /// Held: why.
    Held(String),
    /// Broken: what broke it.
    Broken(String),
}

/// An `expect-silence` step: `breaks` says whether a message breaks it.
pub(crate) struct SilenceJudge<B> {
    breaks: B,
    duration: Duration,
    close_ok: bool,
    deadline: Instant,
}

impl<B: Fn(Indexed<'_>, Instant) -> bool> SilenceJudge<B> {
    pub(crate) fn new(breaks: B, duration: Duration, close_ok: bool, start: Instant) -> Self {
        SilenceJudge {
            breaks,
            duration,
            close_ok,
            deadline: start + duration,
        }
    }

    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    pub(crate) fn on_message(&self, msg: Indexed<'_>, arrived: Instant) -> Silence {
        if (self.breaks)(msg, arrived) {
            Silence::Broken(format!(
                "expected silence, got {}",
                crate::wire::describe::summary(msg)
            ))
        } else {
            Silence::PassOver
        }
    }

    pub(crate) fn on_garbage(&self, what: &str) -> Silence {
        Silence::Broken(format!("expected silence, got {what}"))
    }

    pub(crate) fn on_close(&self, how: Closed) -> Silence {
        if self.close_ok {
            Silence::Held("closed, which counts as silence".into())
        } else {
            Silence::Broken(format!(
                "connection closed ({how}) where silence was expected"
            ))
        }
    }

    pub(crate) fn on_quiet(&self) -> Silence {
        Silence::Held(format!("silent for {}", Shown(self.duration)))
    }
}

/// What an `expect-close` saw before the close, and how it closed.
#[derive(Debug, Default)]
pub(crate) struct CloseJudge {
    /// Messages (and frames that were none) before the close.
    pub before: usize,
}

impl CloseJudge {
    /// A message, or a frame that was none, came before the close.
    pub(crate) fn on_message(&mut self) {
        self.before = self.before.saturating_add(1);
    }

    /// What the messages before the close break, if any came.
    pub(crate) fn before_close(&self) -> Option<String> {
        (self.before > 0).then(|| format!("{} message(s) before the close", self.before))
    }
}

/// Why a step whose target closed the connection first, where it was free
/// to, judges nothing.
pub(crate) fn closed_first(what: &str) -> String {
    format!(
        "{what}: the target closed the connection first, which RFC 7724 §7.5 allows either side at any time, so what the step asks was not answered"
    )
}

/// Whether a reconnect `gap` after the earlier connection keeps the
/// `min` spacing: `Ok` and `Err` both say what was seen.
pub(crate) fn reconnect_spacing(gap: Duration, min: Duration) -> Result<String, String> {
    if gap < min {
        Err(format!(
            "reconnected after {}, sooner than {}",
            Shown(gap),
            Shown(min)
        ))
    } else {
        Ok(format!("reconnected after {}", Shown(gap)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DhcpOption, MessageBuilder, Status};

    fn lease_active(xid: u32) -> Rc<Received> {
        Rc::new(Received::from_raw(
            &MessageBuilder::reply(MessageType::LeaseActive, xid).build(),
        ))
    }

    fn keepalive(xid: u32) -> Rc<Received> {
        Rc::new(Received::from_raw(
            &MessageBuilder::reply(MessageType::LeaseQueryStatus, xid)
                .option(DhcpOption::Status(Status::new(
                    StatusCode::ConnectionActive,
                    "",
                )))
                .build(),
        ))
    }

    fn rules() -> ExpectRules {
        ExpectRules {
            min: 1,
            max: 1,
            count: None,
            within: Duration::from_secs(5),
            slack: Duration::from_secs(1),
            not_before: None,
            idle: false,
            skip_others: false,
            pass_keepalives: true,
            pass_done_of: None,
            message_limit: 100,
        }
    }

    /// Matches DHCPLEASEACTIVE with xid 7.
    fn xid_7(msg: Indexed<'_>, _: Instant) -> Option<String> {
        (msg.xid() != 7 || !msg.is(MessageType::LeaseActive)).then(|| "not it".to_string())
    }

    #[test]
    fn a_match_holds_and_nothing_in_time_is_short_and_silent() {
        let t0 = Instant::now();
        let mut j = ExpectJudge::new(xid_7, rules(), t0);
        assert_eq!(j.deadline(), t0 + Duration::from_secs(6));
        assert!(matches!(
            j.on_message(lease_active(7), Some(3), t0 + Duration::from_secs(2)),
            Heard::ReadOn
        ));
        assert!(j.enough());
        assert_eq!(
            j.end(),
            ExpectEnd::Held {
                matched: 1,
                frame: Some(3)
            }
        );

        let mut quiet = ExpectJudge::new(xid_7, rules(), t0);
        quiet.on_quiet();
        assert_eq!(
            quiet.end(),
            ExpectEnd::Short {
                what: "no matching message: nothing more within 5s".into(),
                silent: true,
                closed: false,
                frame: None
            }
        );
    }

    #[test]
    fn another_shape_breaks_the_step_unless_skipped_or_enough_came() {
        let t0 = Instant::now();
        let mut j = ExpectJudge::new(xid_7, rules(), t0);
        assert!(matches!(
            j.on_message(lease_active(8), None, t0),
            Heard::Mismatch(_)
        ));
        let skipping = ExpectRules {
            skip_others: true,
            ..rules()
        };
        let mut j = ExpectJudge::new(xid_7, skipping, t0);
        assert!(matches!(
            j.on_message(lease_active(8), None, t0),
            Heard::ReadOn
        ));
        // With a count met, a stranger ends the step and is left for the next.
        let counted = ExpectRules {
            min: 1,
            max: 5,
            count: Some("1..5".into()),
            ..rules()
        };
        let mut j = ExpectJudge::new(xid_7, counted, t0);
        assert!(matches!(
            j.on_message(lease_active(7), None, t0),
            Heard::ReadOn
        ));
        assert!(matches!(
            j.on_message(lease_active(8), None, t0),
            Heard::LeaveIt(_)
        ));
        assert!(matches!(j.end(), ExpectEnd::Held { matched: 1, .. }));
    }

    #[test]
    fn not_before_counts_from_the_step_or_from_the_last_message_when_idle() {
        let t0 = Instant::now();
        let spaced = ExpectRules {
            max: 2,
            min: 2,
            not_before: Some(Duration::from_secs(60)),
            within: Duration::from_secs(60),
            ..rules()
        };
        let mut j = ExpectJudge::new(xid_7, spaced.clone(), t0);
        // 45 s after the step started: 25% early.
        let early = j.on_message(lease_active(7), None, t0 + Duration::from_secs(45));
        assert!(
            matches!(&early, Heard::TooSoon(why) if why == "arrived after 45s, sooner than 60s"),
            "{early:?}"
        );
        // The next counts from that one, and the deadline moves with it.
        assert_eq!(j.deadline(), t0 + Duration::from_secs(45 + 60 + 1));
        let on_time = j.on_message(lease_active(7), None, t0 + Duration::from_secs(105));
        assert!(matches!(on_time, Heard::ReadOn));
        // Idle: a message of another shape restarts the count.
        let idle = ExpectRules {
            idle: true,
            skip_others: true,
            ..spaced
        };
        let mut j = ExpectJudge::new(xid_7, idle, t0);
        j.on_message(lease_active(8), None, t0 + Duration::from_secs(30));
        let after = j.on_message(lease_active(7), None, t0 + Duration::from_secs(80));
        assert!(matches!(after, Heard::TooSoon(_)), "{after:?}");
    }

    #[test]
    fn keepalives_pass_by_and_a_flood_is_cut_at_the_message_limit() {
        let t0 = Instant::now();
        let limited = ExpectRules {
            message_limit: 3,
            ..rules()
        };
        let mut j = ExpectJudge::new(xid_7, limited, t0);
        for _ in 0..3 {
            assert!(matches!(
                j.on_message(keepalive(7), None, t0),
                Heard::ReadOn
            ));
        }
        assert!(matches!(
            j.on_message(keepalive(7), None, t0),
            Heard::Flooded(_)
        ));
        let mut closed = ExpectJudge::new(xid_7, rules(), t0);
        closed.on_close(Closed::Rst);
        assert!(matches!(
            closed.end(),
            ExpectEnd::Short { silent: false, closed: true, ref what, .. } if what == "no matching message: connection closed (RST)"
        ));
    }

    #[test]
    fn silence_holds_on_quiet_and_on_a_close_where_allowed() {
        let t0 = Instant::now();
        let only_xid_7 = |m: Indexed<'_>, _: Instant| m.xid() == 7;
        let s = SilenceJudge::new(only_xid_7, Duration::from_secs(2), false, t0);
        assert_eq!(s.deadline(), t0 + Duration::from_secs(2));
        assert_eq!(s.on_message(&lease_active(8), t0), Silence::PassOver);
        assert!(matches!(
            s.on_message(&lease_active(7), t0),
            Silence::Broken(_)
        ));
        assert!(matches!(s.on_close(Closed::Fin), Silence::Broken(_)));
        assert_eq!(s.on_quiet(), Silence::Held("silent for 2s".into()));
        let close_ok = SilenceJudge::new(only_xid_7, Duration::from_secs(2), true, t0);
        assert!(matches!(close_ok.on_close(Closed::Fin), Silence::Held(_)));
    }

    #[test]
    fn a_close_counts_what_came_before_it_and_spacing_is_judged_at_its_edge() {
        let mut c = CloseJudge::default();
        assert_eq!(c.before_close(), None);
        c.on_message();
        assert_eq!(
            c.before_close().as_deref(),
            Some("1 message(s) before the close")
        );
        let min = Duration::from_secs(60);
        assert!(reconnect_spacing(Duration::from_secs(60), min).is_ok());
        assert!(reconnect_spacing(Duration::from_millis(59_999), min).is_err());
    }

    #[test]
    fn a_done_ahead_of_the_data_passes_by_until_enough_came() {
        let t0 = Instant::now();
        let done = || {
            Rc::new(Received::from_raw(
                &MessageBuilder::reply(MessageType::LeaseQueryDone, 7).build(),
            ))
        };
        let data = ExpectRules {
            pass_done_of: Some(7),
            ..rules()
        };
        let mut j = ExpectJudge::new(xid_7, data.clone(), t0);
        assert!(matches!(j.on_message(done(), None, t0), Heard::ReadOn));
        assert!(matches!(
            j.on_message(lease_active(7), None, t0),
            Heard::ReadOn
        ));
        assert!(j.enough());
        // Counted: once the count is met, the DONE ends the step.
        let counted = ExpectRules {
            min: 1,
            max: 9,
            count: Some(">= 1".into()),
            ..data
        };
        let mut j = ExpectJudge::new(xid_7, counted, t0);
        assert!(matches!(j.on_message(done(), None, t0), Heard::ReadOn));
        assert!(matches!(
            j.on_message(lease_active(7), None, t0),
            Heard::ReadOn
        ));
        assert!(matches!(j.on_message(done(), None, t0), Heard::LeaveIt(_)));
        // Another query's DONE is a mismatch as before.
        let mut j = ExpectJudge::new(xid_7, rules(), t0);
        assert!(matches!(j.on_message(done(), None, t0), Heard::Mismatch(_)));
    }
}
