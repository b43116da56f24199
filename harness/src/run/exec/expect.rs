//! `expect` and `check`: matching received messages against a scenario's shape.

use super::{Exec, Stop};
use crate::run::conn::Incoming;
use crate::scenario::model::{Expect, Value};
use crate::wire::describe::summary;
use crate::wire::{DhcpState, Indexed, MessageType, OptionError, Received, StatusCode};
use std::sync::Arc;
use std::time::Duration;

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

fn is_keepalive(msg: Indexed<'_>) -> bool {
    msg.message_type() == Ok(MessageType::LeaseQueryStatus)
        && matches!(msg.status(), Ok(Some(s)) if s.code == StatusCode::ConnectionActive)
}

impl Exec<'_> {
    /// Why `msg` does not match `e`, or `None` when it does.
    pub(super) fn mismatch(&self, e: &Expect, view: Indexed<'_>) -> Result<Option<String>, Stop> {
        let msg = view;
        let kind = view.message_type().ok();
        if let Some(kinds) = &e.kind {
            let kinds = kinds.as_slice();
            if kind.is_none_or(|k| !kinds.iter().any(|want| want.0 == k)) {
                let want: Vec<String> = kinds.iter().map(|k| k.0.to_string()).collect();
                return Ok(Some(format!(
                    "expected {}, got {}",
                    want.join(" or "),
                    summary(msg)
                )));
            }
        }
        if let Some(x) = &e.xid {
            let want = self.number(x)?;
            if msg.xid() != want {
                return Ok(Some(format!(
                    "expected xid 0x{want:08x}, got 0x{:08x}",
                    msg.xid()
                )));
            }
        }
        if let Some(statuses) = &e.status {
            let got = view.status().ok().flatten().map(|s| s.code);
            let wants = statuses.as_slice();
            if !wants.iter().any(|s| s.0 == got) {
                let show = |s: Option<StatusCode>| {
                    s.map_or("no status".to_string(), |c| format!("status {c}"))
                };
                let want: Vec<String> = wants.iter().map(|s| show(s.0)).collect();
                return Ok(Some(format!(
                    "expected {}, got {}",
                    want.join(" or "),
                    show(got)
                )));
            }
        }
        if let Some(c) = &e.ciaddr {
            let got = msg.ciaddr();
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
            if msg.hardware_address() != want.as_slice() {
                return Ok(Some(format!(
                    "chaddr {} is not {}",
                    crate::wire::describe::hex(msg.hardware_address(), ":"),
                    crate::wire::describe::hex(&want, ":")
                )));
            }
        }
        for c in &e.present {
            if !view.has(*c) {
                return Ok(Some(format!("option {c} is missing from {}", summary(msg))));
            }
        }
        for c in &e.absent {
            if view.has(*c) {
                return Ok(Some(format!("option {c} is present in {}", summary(msg))));
            }
        }
        if let Some(want) = &e.dhcp_state {
            let want: DhcpState = want
                .parse()
                .map_err(|e: crate::wire::types::UnknownName| Stop::Error(e.to_string()))?;
            let got = view.dhcp_state().ok().flatten();
            if got != Some(want) {
                let got = got.map_or("no dhcp-state".to_string(), |g| format!("dhcp-state {g}"));
                return Ok(Some(format!("expected dhcp-state {want}, got {got}")));
            }
        }
        for v in &e.when_present {
            let want = self.bytes(&v.hex)?;
            if let Some(got) = view.option_data(v.code).ok().flatten() {
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
        type Read = fn(&Received) -> Result<Option<u32>, OptionError>;
        let times: [(_, Read, _); 2] = [
            (
                &e.query_start_time,
                Received::query_start_time,
                "query-start-time",
            ),
            (
                &e.query_end_time,
                Received::query_end_time,
                "query-end-time",
            ),
        ];
        for (want, read, name) in times {
            let Some(want) = want else { continue };
            let got = read(view).ok().flatten();
            match want {
                Value::Text(t) if t == "none" => {
                    if let Some(g) = got {
                        return Ok(Some(format!("{name} {g} present, expected none")));
                    }
                }
                v => {
                    let want = self.number(v)?;
                    if got != Some(want) {
                        return Ok(Some(format!("{name} is {got:?}, expected {want}")));
                    }
                }
            }
        }
        Ok(None)
    }

    pub(super) async fn expect(&mut self, e: &Expect) -> Result<(), Stop> {
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
            s.as_slice()
                .iter()
                .any(|s| s.0 == Some(StatusCode::ConnectionActive))
        });
        let ignore_keepalives = e.ignore_keepalives.unwrap_or(!expects_keepalive);
        let req = e.requirement.as_deref();
        let mut matched = 0usize;
        let mut last_progress = self.step_start;
        let mut last_frame = None;
        let mut stop_reason = String::new();
        let mut read = 0usize;
        // The latest match, given to the connection when the step ends.
        let mut newest: Option<Arc<Received>> = None;
        while matched < max {
            let deadline = last_progress + within + self.slack;
            let (event, frame) = match self.receive_read(&e.conn)? {
                Some(read) => read,
                None => self.receive(&e.conn, deadline).await?,
            };
            match event {
                Incoming::Message(msg) => {
                    read += 1;
                    if read > self.message_limit {
                        self.keep_matched(&e.conn, newest);
                        return self.judge(
                            req,
                            e.level,
                            format!(
                                "still sending after {} messages (the profile's message-limit) with {matched} matching",
                                self.message_limit
                            ),
                            frame,
                        );
                    }
                    if e.idle {
                        // Any message ends the idle period the timer measures.
                        if self.mismatch(e, &msg)?.is_some() {
                            last_progress = self.arrived;
                        }
                    }
                    if ignore_keepalives && is_keepalive(&msg) && !expects_keepalive {
                        continue;
                    }
                    match self.mismatch(e, &msg)? {
                        None => {
                            matched += 1;
                            last_frame = frame;
                            newest = Some(msg);
                            let now = self.arrived;
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
                        Some(why) => {
                            self.keep_matched(&e.conn, newest);
                            return self.judge(req, e.level, why, frame);
                        }
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
                Incoming::Garbage(_) => {
                    self.keep_matched(&e.conn, newest);
                    return Err(Stop::Failed);
                }
            }
        }
        self.keep_matched(&e.conn, newest);
        if matched < min {
            let what = if e.count.is_some() {
                format!(
                    "{matched} matching messages, expected {}: {stop_reason}",
                    e.count.as_deref().unwrap_or("1")
                )
            } else {
                format!("no matching message: {stop_reason}")
            };
            let frame = last_frame.or(self.transcript.last_seq());
            return self.judge(req, e.level, what, frame);
        }
        self.pass(req, format!("{matched} matching message(s)"), last_frame);
        Ok(())
    }

    /// What a later `check` on `conn` judges: the last message an `expect`
    /// matched (`None` keeps the `None` the step started with).
    fn keep_matched(&mut self, conn: &str, newest: Option<Arc<Received>>) {
        if let (Some(msg), Ok(c)) = (newest, self.conn(conn)) {
            c.last_matched = Some(msg);
        }
    }

    pub(super) fn check(&mut self, e: &Expect) -> Result<(), Stop> {
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
        let conn = self.transcript.find_conn(&e.conn);
        let frame = self
            .transcript
            .rposition(|t| Some(t.conn) == conn && t.dir == "recv");
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
}
