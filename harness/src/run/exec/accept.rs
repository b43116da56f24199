//! Server role: `accept`, taking the requestor's next connection, or the next
//! one that carries the kind of query the step names. A connection of
//! another kind that comes first is set aside and served, so a requestor
//! that runs its bulk sync beside its active query (RFC 7724 §4, §7.4.1) is
//! never mistaken for one that reconnected.

use super::{Exec, Stop};
use crate::iut::profile::Transport;
use crate::net::stream_reader::StreamEvent;
use crate::outcome::Direction;
use crate::run::conn::HarnessConn;
use crate::run::judge::reconnect_spacing;
use crate::scenario::expr::Shown;
use crate::scenario::model::{primary, Accept, ConnKind, IfNone, Send, TypeName, Value};
use crate::wire::MessageType;
use tokio::time::Instant;

/// Connections one `accept` sets aside at most: a requestor that opens more
/// while the step awaits a kind it never sends is answered with a verdict,
/// not with memory.
const SET_ASIDE_LIMIT: usize = 64;

/// A connection accepted: its name, when, and its kind where it was told.
pub(super) struct Accepted {
    name: String,
    at: Instant,
    kind: Option<ConnKind>,
}

impl Exec<'_> {
    pub(super) async fn accept(&mut self, a: &Accept) -> Result<(), Stop> {
        let within = match &a.within {
            Some(w) => self.duration(w)?,
            None => self.expect_timeout,
        };
        let deadline = self.step_start + within + self.slack;
        let mut set_aside = 0usize;
        let (conn, at) = loop {
            let Some((io, at)) = self.backend.accept(deadline).await? else {
                let frame = self.log(&a.conn, Direction::Note, "no connection".into());
                let what = a.kind.map_or(String::new(), |k| match k {
                    ConnKind::Active => "with an active query ".to_string(),
                    other => format!("with a {other} query "),
                });
                let message = format!(
                    "the requestor did not connect {what}within {}",
                    Shown(within)
                );
                if a.if_none == IfNone::Inconclusive {
                    return Err(Stop::Unmet(super::Unmet {
                        reason: message,
                        only: Vec::new(),
                    }));
                }
                self.judge(primary(&a.requirement), None, message, Some(frame))?;
                // Later steps need the connection.
                return Err(Stop::Failed);
            };
            // Which connection this is shows only in its first query (inside
            // TLS, on a TLS target): until then it has a name no scenario
            // gives, and takes its own once it is told.
            let provisional = format!("(incoming {})", self.accepted.len() + 1);
            let mut conn = if self.transport == Transport::Tls {
                self.open(&provisional, io);
                if let Err(stop) = self.serve_transport(&provisional).await {
                    // What it showed is evidence under the step's name.
                    if let Some(conn) = self.conns.remove(&provisional) {
                        self.keep_as(conn, &a.conn);
                    }
                    return Err(stop);
                }
                self.conns
                    .remove(&provisional)
                    .ok_or_else(|| super::not_open(&provisional))?
            } else {
                self.new_conn(&provisional, io)
            };
            let Some(wanted) = a.kind else {
                break (conn, at);
            };
            let kind = self.first_kind(&mut conn, at).await;
            if kind == Some(wanted) {
                break (conn, at);
            }
            self.set_aside(conn, kind, at, wanted).await?;
            set_aside += 1;
            if set_aside == SET_ASIDE_LIMIT {
                let frame = self.transcript.last_seq();
                self.judge(
                    primary(&a.requirement),
                    None,
                    format!("{set_aside} connections came and none carried a {wanted} query"),
                    frame,
                )?;
                return Err(Stop::Failed);
            }
        };
        self.keep_as(conn, &a.conn);
        let frame = self.log(&a.conn, Direction::Note, "accepted".into());
        if let Some(min) = &a.not_before {
            let min = self.early(self.duration(min)?);
            let since = self
                .accepted
                .iter()
                .rev()
                .find(|earlier| match &a.since {
                    Some(name) => &earlier.name == name,
                    // The last connection of the kind awaited: one of
                    // another kind beside it is no reconnect.
                    None => a.kind.is_none() || earlier.kind == a.kind,
                })
                .map(|earlier| earlier.at);
            if let Some(since) = since {
                match reconnect_spacing(at - since, min) {
                    Ok(held) => self.pass(primary(&a.requirement), held, Some(frame)),
                    Err(why) => self.judge(primary(&a.requirement), None, why, Some(frame))?,
                }
            }
        }
        self.accepted.push(Accepted {
            name: a.conn.clone(),
            at,
            kind: a.kind,
        });
        Ok(())
    }

    /// The kind of `conn`'s first message, read (and put back, to be judged
    /// when a step takes it) within the expect timeout of its acceptance at
    /// `at`; `None` when nothing came.
    async fn first_kind(&self, conn: &mut HarnessConn, at: Instant) -> Option<ConnKind> {
        let (event, _) = conn.next(at + self.expect_timeout + self.slack).await;
        let kind = match &event {
            StreamEvent::Message(msg) => Some(ConnKind::of(msg.kind())),
            StreamEvent::Garbage(_) => Some(ConnKind::Other),
            StreamEvent::Closed(_) | StreamEvent::Timeout => None,
        };
        if !matches!(event, StreamEvent::Timeout) {
            conn.unread(event, None);
        }
        kind
    }

    /// Keeps `conn`, accepted at `at` while a step awaited a `wanted`
    /// connection, under a name of its own, and serves it: a bulk query is
    /// answered with DHCPLEASEQUERYDONE, anything else is held open.
    async fn set_aside(
        &mut self,
        conn: HarnessConn,
        kind: Option<ConnKind>,
        at: Instant,
        wanted: ConnKind,
    ) -> Result<(), Stop> {
        let shown = kind.map_or("quiet", ConnKind::name);
        let name = format!("{shown}-beside-{}", self.accepted.len() + 1);
        let closed = kind.is_none() && conn.peer_closed();
        self.keep_as(conn, &name);
        self.accepted.push(Accepted {
            name: name.clone(),
            at,
            kind,
        });
        let first = match kind {
            Some(k) => format!("its first message makes it a {k} connection"),
            None => "it sent nothing".to_string(),
        };
        self.log(
            &name,
            Direction::Note,
            format!("accepted and set aside: {first}, and the step awaits the {wanted} connection"),
        );
        if closed {
            // Nothing more will come: only its record stays.
            self.retire(&name);
        }
        if kind != Some(ConnKind::Bulk) {
            return Ok(());
        }
        let (event, _) = self.receive(&name, Instant::now()).await?;
        let StreamEvent::Message(query) = event else {
            return Ok(());
        };
        let done = Send {
            conn: name,
            kind: Some(TypeName(MessageType::LeaseQueryDone)),
            xid: Some(Value::Number(query.xid())),
            ..Send::default()
        };
        self.send(&done).await
    }
}
