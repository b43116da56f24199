//! The target's transport. A scenario that is not about the transport (it
//! needs neither `insecure` nor `secure`) runs over the one the profile
//! declares. Against a TLS target every connection first exchanges DHCPTLS
//! and completes a mutual TLS handshake (RFC 7724 §7.2, §8.1): the harness
//! as requestor sends DHCPTLS and shows the profile's client certificate; as
//! server it answers the requestor's DHCPTLS and shows its trusted server
//! certificate. The scenario's steps start inside TLS.

use super::{Exec, Stop};
use crate::capture::tap::Closed;
use crate::checks::stream;
use crate::iut::profile::Transport;
use crate::net::stream_reader::StreamEvent;
use crate::outcome::Direction;
use crate::scenario::expr::Shown;
use crate::scenario::model::{
    Certificate, LevelOverride, Need, Scenario, Send, ServerCertificate, TypeName, Value,
};
use crate::wire::describe::summary;
use crate::wire::{MessageType, StatusCode};
use std::io::ErrorKind;
use tokio::time::Instant;

/// The transport the harness sets up for `scenario` against a target of
/// `target`'s. A scenario whose subject is the transport gets none set up
/// (cleartext): its own steps make whatever handshake it is about.
pub(super) fn of_scenario(scenario: &Scenario, target: Transport) -> Transport {
    let states_its_own = scenario
        .needs
        .iter()
        .any(|n| matches!(n, Need::Insecure | Need::Secure));
    if states_its_own {
        Transport::Cleartext
    } else {
        target
    }
}

/// How the peer closed the connection, when `e` says it did.
fn closed_by_peer(e: &std::io::Error) -> Option<Closed> {
    match e.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => Some(Closed::Rst),
        ErrorKind::UnexpectedEof | ErrorKind::BrokenPipe => Some(Closed::Fin),
        _ => None,
    }
}

impl Exec<'_> {
    /// Requestor role: brings connection `conn`, just opened, to the
    /// scenario's transport. A target that closes the connection meanwhile
    /// leaves the close for the scenario's steps to judge; anything else
    /// that keeps TLS from coming up is a set-up error, not a verdict.
    pub(super) async fn bring_to_transport(&mut self, conn: &str) -> Result<(), Stop> {
        if self.transport != Transport::Tls {
            return Ok(());
        }
        self.next_xid = self.next_xid.wrapping_add(1);
        let hello = Send {
            conn: conn.to_string(),
            kind: Some(TypeName(MessageType::Tls)),
            xid: Some(Value::Number(self.next_xid)),
            ..Send::default()
        };
        self.send(&hello).await?;
        let deadline = Instant::now() + self.expect_timeout + self.slack;
        let setup = |why: String| {
            Stop::Error(format!(
                "the target's transport (DHCPTLS then TLS) on '{conn}': {why}"
            ))
        };
        match self.receive(conn, deadline).await? {
            (StreamEvent::Message(msg), _)
                if msg.is(MessageType::Tls) && matches!(msg.status(), Ok(None)) => {}
            // Status Success is not described; taken as success with a
            // warning (AMB-08), on the requirement it departs from.
            (StreamEvent::Message(msg), frame)
                if msg.is(MessageType::Tls)
                    && matches!(msg.status(), Ok(Some(s)) if s.code == StatusCode::Success) =>
            {
                self.judge(
                    Some(stream::DHCPTLS_ACCEPTED),
                    Some(LevelOverride::Should),
                    "DHCPTLS answered with status Success (0), not without a status: taken as success (AMB-08)".into(),
                    frame,
                )?;
            }
            (StreamEvent::Message(msg), _) => {
                return Err(setup(format!(
                    "DHCPTLS was answered with {}",
                    summary(&msg)
                )))
            }
            (StreamEvent::Closed(how), frame) => {
                self.conn(conn)?.unread(StreamEvent::Closed(how), frame);
                return Ok(());
            }
            (StreamEvent::Timeout, _) => {
                let waited = self.expect_timeout + self.slack;
                return Err(setup(format!(
                    "no answer to DHCPTLS within {}",
                    Shown(waited)
                )));
            }
            (StreamEvent::Garbage(text), _) => return Err(setup(text)),
        }
        let (connector, name) = self
            .backend
            .tls_connector(Certificate::Client)
            .map_err(|e| setup(e.to_string()))?;
        let stream = self
            .conn(conn)?
            .take_stream_for_tls()
            .await
            .ok_or_else(|| setup("the connection is gone".into()))?;
        let within = self.expect_timeout + self.slack;
        let handshake = connector.connect(name, stream).into_fallible();
        match tokio::time::timeout(within, handshake).await {
            Ok(Ok(tls)) => {
                self.conn(conn)?.resume_tls(Box::new(tls));
                self.log(conn, Direction::Note, "TLS established".into());
                Ok(())
            }
            // A server that drops the connection mid-handshake did so as
            // behaviour (a limit, a refusal) the scenario's steps judge; a
            // handshake it answered with an alert is a set-up failure.
            Ok(Err((e, _))) => match closed_by_peer(&e) {
                Some(how) => {
                    self.conn(conn)?.closed_in_handshake(how);
                    self.log(
                        conn,
                        Direction::Note,
                        format!("closed by the target ({how}) during the TLS handshake: {e}"),
                    );
                    Ok(())
                }
                None => Err(setup(format!("the handshake failed: {e}"))),
            },
            Err(_) => Err(setup(format!(
                "the handshake did not finish within {}",
                Shown(within)
            ))),
        }
    }

    /// Server role: answers the DHCPTLS that opens connection `conn`, just
    /// accepted, and serves the TLS handshake. A requestor that sends
    /// something else first breaks [`stream::SECURE_FIRST`], and what it
    /// sent stays for the steps; a close or silence is left for them too. A
    /// handshake that does not come up is a set-up error, not a verdict.
    pub(super) async fn serve_transport(&mut self, conn: &str) -> Result<(), Stop> {
        let deadline = Instant::now() + self.expect_timeout + self.slack;
        let setup = |why: String| {
            Stop::Error(format!(
                "the target's transport (DHCPTLS then TLS) on '{conn}': {why}"
            ))
        };
        let xid = match self.receive(conn, deadline).await? {
            (StreamEvent::Message(msg), _) if msg.is(MessageType::Tls) => msg.xid(),
            (StreamEvent::Message(msg), frame) => {
                let why = format!(
                    "the target is declared secure only, and its first message is {}, not DHCPTLS",
                    summary(&msg)
                );
                self.conn(conn)?.unread(StreamEvent::Message(msg), frame);
                return self.judge(Some(stream::SECURE_FIRST), None, why, frame);
            }
            (event @ StreamEvent::Closed(_), frame) => {
                self.conn(conn)?.unread(event, frame);
                return Ok(());
            }
            (StreamEvent::Timeout | StreamEvent::Garbage(_), _) => return Ok(()),
        };
        let answer = Send {
            conn: conn.to_string(),
            kind: Some(TypeName(MessageType::Tls)),
            xid: Some(Value::Number(xid)),
            ..Send::default()
        };
        self.send(&answer).await?;
        let acceptor = self
            .backend
            .tls_acceptor(ServerCertificate::Valid)
            .map_err(|e| setup(e.to_string()))?
            .ok_or_else(|| setup("no server certificate to show".into()))?;
        let stream = self
            .conn(conn)?
            .take_stream_for_tls()
            .await
            .ok_or_else(|| setup("the connection is gone".into()))?;
        let within = self.expect_timeout + self.slack;
        match tokio::time::timeout(within, acceptor.accept(stream).into_fallible()).await {
            Ok(Ok(tls)) => {
                self.conn(conn)?.resume_tls(Box::new(tls));
                self.log(conn, Direction::Note, "TLS established".into());
                Ok(())
            }
            Ok(Err((e, io))) => {
                self.conn(conn)?.resume_discarding(Box::new(io));
                Err(setup(format!("the handshake failed: {e}")))
            }
            Err(_) => Err(setup(format!(
                "the handshake did not finish within {}",
                Shown(within)
            ))),
        }
    }
}
