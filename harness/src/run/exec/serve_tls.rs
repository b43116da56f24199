//! Server role: the TLS handshake a secure requestor starts after a DHCPTLS
//! success, answered with a trusted, an untrusted or a garbage server side.

use super::{Exec, Stop};
use crate::net::transport::Prefixed;
use crate::outcome::Direction;
use crate::scenario::expr::Shown;
use crate::scenario::model::{primary, Outcome, ServeTls, ServerCertificate};
use crate::wire::describe::hex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the harness sends instead of a ServerHello: no TLS record type starts
/// with 0x00, so every TLS stack rejects it at once.
const GARBAGE: &[u8] = b"\x00\xff\x00\x10not a ServerHello";

/// Length of a TLS record header: type, version, length.
const RECORD_HEADER: usize = 5;

/// Reads up to a record header's worth of bytes, stopping early at EOF or
/// when `within` runs out.
async fn read_head(stream: &mut (impl tokio::io::AsyncRead + Unpin), within: Duration) -> Vec<u8> {
    let mut head = Vec::with_capacity(RECORD_HEADER);
    let deadline = tokio::time::Instant::now() + within;
    while head.len() < RECORD_HEADER {
        let mut buf = [0u8; RECORD_HEADER];
        let want = RECORD_HEADER - head.len();
        let Some(room) = buf.get_mut(..want) else {
            break;
        };
        match tokio::time::timeout_at(deadline, stream.read(room)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(room.get(..n).unwrap_or_default()),
            _ => break,
        }
    }
    head
}

/// A TLS handshake record of TLS 1.0 or later (ClientHello comes first).
fn is_handshake_record(head: &[u8]) -> bool {
    head.first() == Some(&0x16) && head.get(1) == Some(&0x03)
}

impl Exec<'_> {
    pub(super) async fn serve_tls(&mut self, t: &ServeTls) -> Result<(), Stop> {
        if t.cert == ServerCertificate::Garbage && t.expect == Outcome::Ok {
            return Err(Stop::Error(
                "serve-tls with cert = \"garbage\" cannot expect a handshake to succeed".into(),
            ));
        }
        let acceptor = self.backend.tls_acceptor(t.cert)?;
        let mut stream = self.stream_for_tls(&t.conn).await?;
        let within = self.expect_timeout + self.slack;
        let head = read_head(&mut stream, within).await;
        let shown = if head.is_empty() {
            "nothing".to_string()
        } else {
            hex(&head, " ")
        };
        let frame = self.log(
            &t.conn,
            Direction::Note,
            format!("first bytes after DHCPTLS: {shown}"),
        );
        let req = primary(&t.requirement);
        if !is_handshake_record(&head) {
            // Whatever came (cleartext DHCP, most likely) stays readable.
            self.conn(&t.conn)?
                .resume(Box::new(Prefixed::new(head, stream)));
            let why = format!("the requestor sent {shown} after DHCPTLS, not a TLS ClientHello");
            if let Some(hello) = t.hello_requirement.as_deref() {
                self.judge(Some(hello), None, why.clone(), Some(frame))?;
            }
            // No handshake began: nothing the step judges of one can be.
            return Err(Stop::SetUp(why));
        }
        if let Some(hello) = t.hello_requirement.as_deref() {
            self.pass(Some(hello), "TLS ClientHello".into(), Some(frame));
        }
        let io = Prefixed::new(head, stream);
        let Some(acceptor) = acceptor else {
            let mut io = io;
            let written = match io.write_all(GARBAGE).await {
                Ok(()) => "sent".to_string(),
                Err(e) => format!("not sent: {e}"),
            };
            self.conn(&t.conn)?.resume_discarding(Box::new(io));
            self.log(
                &t.conn,
                Direction::Note,
                format!(
                    "answered the ClientHello with {} bytes that are not TLS ({written})",
                    GARBAGE.len()
                ),
            );
            return Ok(());
        };
        let handshake = tokio::time::timeout(within, acceptor.accept(io).into_fallible()).await;
        let outcome = match handshake {
            Ok(Ok(tls)) => {
                self.conn(&t.conn)?.resume_tls(Box::new(tls));
                Ok(())
            }
            Ok(Err((e, io))) => {
                self.conn(&t.conn)?.resume_discarding(Box::new(io));
                Err(e.to_string())
            }
            Err(_) => {
                let frame = self.log(&t.conn, Direction::Note, "TLS handshake stalled".into());
                return self.judge(
                    req,
                    Some(crate::scenario::model::LevelOverride::Must),
                    format!(
                        "the requestor neither finished nor abandoned the handshake within {}",
                        Shown(within)
                    ),
                    Some(frame),
                );
            }
        };
        let frame = self.log(
            &t.conn,
            Direction::Note,
            format!(
                "TLS with cert = \"{}\": {}",
                t.cert,
                super::start_tls::shown(&outcome)
            ),
        );
        match (outcome, t.expect) {
            (Ok(()), Outcome::Ok) => {
                self.pass(req, "TLS established".into(), Some(frame));
                Ok(())
            }
            (Err(e), Outcome::Fail) => {
                self.pass(req, format!("the requestor refused: {e}"), Some(frame));
                Ok(())
            }
            (Ok(()), Outcome::Fail) => self.judge(
                req,
                None,
                format!("the requestor completed TLS with cert = \"{}\"", t.cert),
                Some(frame),
            ),
            (Err(e), Outcome::Ok) => self.judge(req, None, format!("TLS failed: {e}"), Some(frame)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::transport::BoxedIo;

    #[test]
    fn a_client_hello_record_is_recognised_and_a_dhcp_frame_is_not() {
        assert!(is_handshake_record(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(!is_handshake_record(&[0x01, 0x2c, 0x01, 0x01, 0x06]));
        assert!(!is_handshake_record(&[0x16]));
        assert!(!is_handshake_record(&[]));
    }

    #[tokio::test]
    async fn read_head_stops_at_five_bytes_or_at_eof() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        theirs.write_all(&[1, 2, 3, 4, 5, 6, 7]).await.unwrap();
        let mut ours: BoxedIo = Box::new(ours);
        assert_eq!(
            read_head(&mut ours, Duration::from_secs(1)).await,
            vec![1, 2, 3, 4, 5]
        );
        drop(theirs);
        let mut rest = Vec::new();
        ours.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, vec![6, 7]);
    }
}
