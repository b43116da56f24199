//! `expect-close` and `expect-silence`: how and when a peer ends or keeps quiet.

use super::{Exec, Stop, Unmet};
use crate::capture::tap::Closed;
use crate::checks::stream;
use crate::net::stream_reader::StreamEvent;
use crate::outcome::Direction;
use crate::run::judge::{closed_first, CloseJudge, Silence, SilenceJudge};
use crate::scenario::expr::Shown;
use crate::scenario::model::{
    primary, CloseKind, Expect, ExpectClose, ExpectSilence, IfNone, LevelOverride,
};
use crate::wire::Indexed;

impl Exec<'_> {
    pub(super) async fn expect_close(&mut self, e: &ExpectClose) -> Result<(), Stop> {
        let within = match &e.within {
            Some(w) => self.duration(w)?,
            None => self.expect_timeout,
        };
        let deadline = self.step_start + within + self.slack;
        self.heard(&e.conn, e.refusal_ok)?;
        let req = primary(&e.requirement);
        let mut close = CloseJudge::default();
        loop {
            let (event, frame) = self.receive(&e.conn, deadline).await?;
            match event {
                StreamEvent::Message(_) | StreamEvent::Garbage(_) => close.on_message(),
                StreamEvent::Closed(kind) => {
                    // Where messages before the close are only of note, they
                    // go into the pass: whether a peer got one out before
                    // closing can differ between identical runs, and the
                    // verdict must not.
                    let mut noted = None;
                    if let Some(why) = close.before_close() {
                        match e.messages_before {
                            Some(LevelOverride::Info) => noted = Some(why),
                            level => {
                                let level = level.or(Some(LevelOverride::Should));
                                self.judge(req, level, why, frame)?;
                            }
                        }
                    }
                    let ok = match e.how {
                        CloseKind::Any => true,
                        CloseKind::Fin => kind.is_fin(),
                        CloseKind::Rst => kind == Closed::Rst,
                    };
                    if ok {
                        let text = match noted {
                            Some(why) => format!("closed ({kind}); {why}"),
                            None => format!("closed ({kind})"),
                        };
                        self.pass(req, text, frame);
                        return Ok(());
                    }
                    return self.judge(
                        stream::graceful_close(self.scenario.role).or(req),
                        Some(LevelOverride::Should),
                        format!("closed with {kind}, expected {}", e.how),
                        frame,
                    );
                }
                StreamEvent::Timeout => {
                    let frame = self.log(&e.conn, Direction::Note, "still open".into());
                    self.never_blocked(e)?;
                    return self.judge(
                        req,
                        e.level,
                        format!("connection still open after {}", Shown(within)),
                        Some(frame),
                    );
                }
            }
        }
    }

    /// Stops the scenario inconclusive when nothing shows the server's send
    /// blocked: it sent no more on the connection than `e.blocked_past`
    /// (all of it fits the buffers) and reported every change the scenario
    /// made since the connection opened (a server loses transitions only
    /// while blocked, RFC 7724 §6).
    fn never_blocked(&mut self, e: &ExpectClose) -> Result<(), Stop> {
        let Some(past) = &e.blocked_past else {
            return Ok(());
        };
        let past = u64::from(self.number(past)?);
        let changes = self.changes;
        let conn = self.conn(&e.conn)?;
        let received = conn.tap.received();
        let made = changes.saturating_sub(conn.changes_before);
        if received > past || conn.peer.binding_replies() < made {
            return Ok(());
        }
        Err(Stop::Unmet(Unmet {
            reason: format!(
                "the server sent {received} bytes on '{}' in all, which a {past}-byte send buffer holds, and reported each of the {made} changes: its send may never have blocked",
                e.conn
            ),
            only: Vec::new(),
        }))
    }

    pub(super) async fn expect_silence(&mut self, e: &ExpectSilence) -> Result<(), Stop> {
        self.heard(&e.conn, e.refusal_ok)?;
        let mut passed_over = Vec::new();
        let judged = self.judge_silence(e, &mut passed_over).await;
        // A close that counts as silence is always left for the next step.
        let conn = self.conn(&e.conn)?;
        for (event, frame) in passed_over.into_iter().rev() {
            if e.keep_others || matches!(event, StreamEvent::Closed(_)) {
                conn.unread(event, frame);
            }
        }
        judged
    }

    /// Judges the silence `e` asks for; the events that did not break it go
    /// to `passed_over`, in order.
    async fn judge_silence(
        &mut self,
        e: &ExpectSilence,
        passed_over: &mut Vec<(StreamEvent, Option<usize>)>,
    ) -> Result<(), Stop> {
        let d = self.duration(&e.duration)?;
        let req = primary(&e.requirement);
        let filter = Expect {
            kind: e.kind.clone(),
            status: e.status.clone(),
            ..Expect::default()
        };
        let wanted = self.wanted(&filter)?;
        let silence = SilenceJudge::new(
            |msg: Indexed<'_>, at| wanted.mismatch(msg, at).is_none(),
            d,
            e.close_ok,
            self.step_start,
        );
        loop {
            let (event, frame) = self.receive(&e.conn, silence.deadline()).await?;
            let (said, event) = match event {
                StreamEvent::Timeout => (silence.on_quiet(), None),
                StreamEvent::Closed(kind) => {
                    (silence.on_close(kind), Some(StreamEvent::Closed(kind)))
                }
                StreamEvent::Message(msg) => (
                    silence.on_message(&msg, self.arrived),
                    Some(StreamEvent::Message(msg)),
                ),
                StreamEvent::Garbage(g) => (silence.on_garbage(&g), None),
            };
            match (said, event) {
                (Silence::PassOver, Some(event)) => passed_over.push((event, frame)),
                (Silence::PassOver, None) => {}
                (Silence::Held(why), event) => {
                    // A close that counts as silence is the next step's too.
                    passed_over.extend(event.map(|e| (e, frame)));
                    self.pass(req, why, frame);
                    return Ok(());
                }
                (Silence::Broken(why), event) => {
                    let closed = matches!(event, Some(StreamEvent::Closed(_)));
                    if let Some(closed @ StreamEvent::Closed(_)) = event {
                        self.conn(&e.conn)?.unread(closed, frame);
                    }
                    if closed && e.if_closed == IfNone::Inconclusive {
                        return Err(Stop::Unmet(super::Unmet {
                            reason: closed_first(&why),
                            only: Vec::new(),
                        }));
                    }
                    if closed {
                        self.close_once(&e.conn)?;
                    }
                    return self.judge(req, e.level, why, frame);
                }
            }
        }
    }
}
