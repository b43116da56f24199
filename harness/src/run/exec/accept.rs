//! Server role: `accept`, taking the requestor's next connection, or the next
//! one that carries the kind of query the step names. Every connection the
//! requestor opens is accepted as it comes and waits until it shows what it
//! is, all of them at once: the step takes the first to speak (or the one
//! awaited), so a requestor that opens a connection and speaks first on
//! another is never stalled on the quiet one. A connection of another kind
//! is set aside and served, so a requestor that runs its bulk sync beside
//! its active query (RFC 7724 §4, §7.4.1) is never mistaken for one that
//! reconnected.

use super::{Exec, Stop};
use crate::iut::profile::Transport;
use crate::net::stream_reader::StreamEvent;
use crate::net::transport::BoxedIo;
use crate::outcome::Direction;
use crate::run::conns::Conns;
use crate::run::judge::reconnect_spacing;
use crate::scenario::expr::Shown;
use crate::scenario::model::{
    primary, Accept, Beside, CloseHow, ConnKind, IfNone, Send, TypeName, Value,
};
use crate::wire::MessageType;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use tokio::time::Instant;

/// Connections one `accept` sets aside at most, and connections waiting to
/// show what they are at most: a requestor that opens more while the step
/// awaits a kind it never sends is answered with a verdict, not with memory.
const SET_ASIDE_LIMIT: usize = 64;

/// A connection accepted: its name, when, and its kind where it was told.
pub(super) struct Accepted {
    name: String,
    at: Instant,
    kind: Option<ConnKind>,
}

/// A connection accepted that the step has not placed yet: what it is shows
/// only in the first thing it sends (inside TLS, on a TLS target), so until
/// then it has a name no scenario gives.
struct Waiting {
    name: String,
    /// When it was accepted: the requestor's own connection attempt.
    at: Instant,
    /// Its "accepted" line in the transcript.
    frame: usize,
    /// Since when it has said nothing: its acceptance, or the end of its
    /// TLS set-up.
    quiet_since: Instant,
    /// Its transport is up (at once, on a cleartext scenario).
    ready: bool,
    /// It said nothing within the expect timeout: a step awaiting a kind
    /// stops waiting on it, though it may still speak.
    silent: bool,
}

/// What the requestor did next.
enum Sign {
    /// It opened a connection.
    Arrived(BoxedIo, Instant),
    /// Waiting connection `name` showed something (a message, bytes that are
    /// not one, or a close), put back for whichever step reads it.
    Spoke(String),
    /// Nothing, by the time asked.
    Nothing,
}

/// The first of the connections named in `waiting` to show anything by
/// `until`, with what it showed; all are read at once, each read stamped
/// as its bytes arrived.
async fn first_to_speak(
    conns: &mut Conns,
    waiting: &[Waiting],
    until: Instant,
) -> Option<(String, StreamEvent, Option<usize>)> {
    type Read<'a> = Pin<Box<dyn Future<Output = (String, StreamEvent, Option<usize>)> + 'a>>;
    let mut reads: Vec<Read<'_>> = conns
        .iter_mut()
        .filter(|c| waiting.iter().any(|w| w.name == c.name))
        .map(|c| {
            Box::pin(async move {
                let (event, frame) = c.next(until).await;
                (c.name.clone(), event, frame)
            }) as Read<'_>
        })
        .collect();
    if reads.is_empty() {
        tokio::time::sleep_until(until).await;
        return None;
    }
    let (name, event, frame) = std::future::poll_fn(|cx| {
        for read in reads.iter_mut() {
            if let Poll::Ready(out) = read.as_mut().poll(cx) {
                return Poll::Ready(out);
            }
        }
        Poll::Pending
    })
    .await;
    match event {
        StreamEvent::Timeout => None,
        event => Some((name, event, frame)),
    }
}

/// The kind a connection's first event makes it; `None` for a close.
fn kind_of(event: &StreamEvent) -> Option<ConnKind> {
    match event {
        StreamEvent::Message(msg) => Some(ConnKind::of(msg.kind())),
        StreamEvent::Garbage(_) => Some(ConnKind::Other),
        StreamEvent::Closed(_) | StreamEvent::Timeout => None,
    }
}

/// Takes the connection named `name` out of `waiting`.
fn take(waiting: &mut Vec<Waiting>, name: &str) -> Result<Waiting, Stop> {
    let place = waiting
        .iter()
        .position(|w| w.name == name)
        .ok_or_else(|| super::not_open(name))?;
    Ok(waiting.remove(place))
}

impl Exec<'_> {
    /// Waits until `wake` for the requestor's next sign: a new connection
    /// or the first word on one of `waiting`.
    async fn next_sign(&mut self, waiting: &[Waiting], wake: Instant) -> Result<Sign, Stop> {
        let room = waiting.len() < SET_ASIDE_LIMIT;
        let (backend, conns) = (&mut self.backend, &mut self.conns);
        let arrived = async {
            if room {
                backend.accept(wake).await
            } else {
                tokio::time::sleep_until(wake).await;
                Ok(None)
            }
        };
        let spoke = tokio::select! {
            biased;
            arrived = arrived => {
                return Ok(match arrived? {
                    Some((io, at)) => Sign::Arrived(io, at),
                    None => Sign::Nothing,
                })
            }
            spoke = first_to_speak(conns, waiting, wake) => spoke,
        };
        let Some((name, event, frame)) = spoke else {
            return Ok(Sign::Nothing);
        };
        if let Some(conn) = self.conns.get_mut(&name) {
            conn.unread(event, frame);
        }
        Ok(Sign::Spoke(name))
    }

    pub(super) async fn accept(&mut self, a: &Accept) -> Result<(), Stop> {
        let within = match &a.within {
            Some(w) => self.duration(w)?,
            None => self.expect_timeout,
        };
        let deadline = self.step_start + within + self.slack;
        let wait = self.expect_timeout + self.slack;
        let mut waiting: Vec<Waiting> = Vec::new();
        let mut set_aside = 0usize;
        let taken = loop {
            let speak_by = waiting
                .iter()
                .filter(|w| !w.silent)
                .map(|w| w.quiet_since + wait)
                .min();
            let wake = speak_by.map_or(deadline, |s| s.min(deadline));
            let name = match self.next_sign(&waiting, wake).await? {
                Sign::Arrived(io, at) => {
                    self.incoming = self.incoming.saturating_add(1);
                    let name = format!("(incoming {})", self.incoming);
                    self.open(&name, io);
                    let frame = self.log(&name, Direction::Note, "accepted".into());
                    waiting.push(Waiting {
                        name,
                        at,
                        frame,
                        quiet_since: at,
                        ready: self.transport != Transport::Tls,
                        silent: false,
                    });
                    continue;
                }
                Sign::Spoke(name) => name,
                Sign::Nothing => {
                    let now = Instant::now();
                    for w in &mut waiting {
                        w.silent |= w.quiet_since + wait <= now;
                    }
                    // A step that awaits any connection takes the first
                    // to stay silent: its silence is for the next steps
                    // to judge.
                    let silent = waiting.iter().find(|w| w.silent);
                    if let (None, Some(w)) = (a.kind, silent) {
                        let name = w.name.clone();
                        break take(&mut waiting, &name)?;
                    }
                    if now < deadline {
                        continue;
                    }
                    self.set_all_aside(waiting, a).await?;
                    return self.none_came(a, within);
                }
            };
            if !waiting.iter().any(|w| w.name == name && w.ready) {
                // A TLS target: the first word is DHCPTLS, and the
                // connection's own first query comes inside TLS.
                if let Err(stop) = self.serve_transport(&name).await {
                    // What it showed is evidence under the step's name.
                    if let Some(conn) = self.conns.remove(&name) {
                        self.keep_as(conn, &a.conn);
                    }
                    return Err(stop);
                }
                let now = Instant::now();
                if let Some(w) = waiting.iter_mut().find(|w| w.name == name) {
                    w.ready = true;
                    w.quiet_since = now;
                    w.silent = false;
                }
                if a.kind.is_some() {
                    continue;
                }
            }
            let spoke = take(&mut waiting, &name)?;
            let Some(wanted) = a.kind else {
                break spoke;
            };
            let kind = self.first_kind(&spoke.name);
            if kind == Some(wanted) {
                break spoke;
            }
            let why = format!("the step awaits the {wanted} connection");
            self.set_aside(spoke, kind, &why).await?;
            set_aside += 1;
            if set_aside == SET_ASIDE_LIMIT {
                self.set_all_aside(waiting, a).await?;
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
        let conn = self
            .conns
            .remove(&taken.name)
            .ok_or_else(|| super::not_open(&taken.name))?;
        self.keep_as(conn, &a.conn);
        let frame = taken.frame;
        // Each connection still waiting opened while the step awaited
        // this one: beside it, not a later step's (a reconnect, a gap fill).
        self.set_all_aside(waiting, a).await?;
        let at = taken.at;
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

    /// The kind of connection `name`, from the first event it read (put
    /// back, to be judged when a step takes it); `None` when it closed or
    /// showed nothing yet.
    fn first_kind(&mut self, name: &str) -> Option<ConnKind> {
        let conn = self.conns.get_mut(name)?;
        let (event, frame) = conn.next_read()?;
        let kind = kind_of(&event);
        conn.unread(event, frame);
        kind
    }

    /// The step's verdict when no connection it awaits came in time.
    fn none_came(&mut self, a: &Accept, within: std::time::Duration) -> Result<(), Stop> {
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
        Err(Stop::Failed)
    }

    /// Sets aside every connection in `waiting`, accepted while step `a`
    /// awaited its connection: each is served as far as what it showed
    /// allows, or closed, as the step says.
    async fn set_all_aside(&mut self, waiting: Vec<Waiting>, a: &Accept) -> Result<(), Stop> {
        for w in waiting {
            let kind = if w.ready {
                self.first_kind(&w.name)
            } else {
                None
            };
            let mut why = format!("it came while the step awaited '{}'", a.conn);
            if !w.ready {
                why.push_str(", its transport not set up");
            }
            let name = self.set_aside(w, kind, &why).await?;
            if a.beside == Beside::Close {
                if let Some(conn) = self.conns.get_mut(&name) {
                    conn.drop_stream().await;
                    let how = CloseHow::Full;
                    self.log(&name, Direction::Note, format!("closed ({how})"));
                }
            }
        }
        Ok(())
    }

    /// Keeps connection `w`, of `kind` where its first message told, under a
    /// name of its own, and serves it: a bulk query is answered with
    /// DHCPLEASEQUERYDONE, anything else is held open. `why` says why the
    /// step did not take it.
    async fn set_aside(
        &mut self,
        w: Waiting,
        kind: Option<ConnKind>,
        why: &str,
    ) -> Result<String, Stop> {
        let conn = self
            .conns
            .remove(&w.name)
            .ok_or_else(|| super::not_open(&w.name))?;
        let shown = kind.map_or("quiet", ConnKind::name);
        let name = format!("{shown}-beside-{}", self.accepted.len() + 1);
        let closed = conn.peer_closed();
        self.keep_as(conn, &name);
        self.accepted.push(Accepted {
            name: name.clone(),
            at: w.at,
            kind,
        });
        let first = match kind {
            Some(k) => format!("its first message makes it a {k} connection"),
            None if closed => "it closed without a word".to_string(),
            None => "it has sent nothing".to_string(),
        };
        self.log(
            &name,
            Direction::Note,
            format!("accepted and set aside: {first}, and {why}"),
        );
        if closed && kind.is_none() {
            // Nothing more will come: only its record stays.
            self.retire(&name);
        }
        if kind != Some(ConnKind::Bulk) {
            return Ok(name);
        }
        let (event, _) = self.receive(&name, Instant::now()).await?;
        let StreamEvent::Message(query) = event else {
            return Ok(name);
        };
        let done = Send {
            conn: name.clone(),
            kind: Some(TypeName(MessageType::LeaseQueryDone)),
            xid: Some(Value::Number(query.xid())),
            ..Send::default()
        };
        self.send(&done).await?;
        Ok(name)
    }
}
