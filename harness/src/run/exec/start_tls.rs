//! Requestor role: the TLS handshake the harness starts after a DHCPTLS
//! success, with the certificate the scenario picks.

use super::{Exec, Stop};
use crate::capture::tap::TappedIo;
use crate::net::legacy_tls::{self, LegacyTls};
use crate::net::transport::BoxedIo;
use crate::outcome::Direction;
use crate::scenario::expr::Shown;
use crate::scenario::model::{primary, Outcome, StartTls};
use std::time::Duration;

impl Exec<'_> {
    pub(super) async fn start_tls(&mut self, t: &StartTls) -> Result<(), Stop> {
        if let Some(version) = t.version {
            return self.offer_legacy_tls(t, version).await;
        }
        let Some(cert) = t.cert else {
            return Err(Stop::Error("start-tls without cert".into()));
        };
        let (connector, name) = self.backend.tls_connector(cert)?;
        let stream = self.stream_for_tls(&t.conn).await?;
        let within = self.expect_timeout + self.slack;
        let handshake = tokio::time::timeout(within, connector.connect(name, stream)).await;
        let outcome: Result<(), String> = match handshake {
            Err(_) => Err("handshake timed out".into()),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(mut tls)) => {
                // Under TLS 1.3 a rejected client certificate arrives as an alert
                // after the client's side of the handshake is done.
                use tokio::io::AsyncReadExt;
                let mut probe = [0u8; 1];
                match tokio::time::timeout(
                    Duration::from_millis(500) + self.slack,
                    tls.read(&mut probe),
                )
                .await
                {
                    Ok(Ok(0)) => Err("closed right after the handshake".into()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Ok(Ok(_)) => Err("server sent application data before the query".into()),
                    Err(_) => {
                        self.conn(&t.conn)?.resume_tls(Box::new(tls));
                        Ok(())
                    }
                }
            }
        };
        let frame = self.log(
            &t.conn,
            Direction::Note,
            format!("TLS with cert = \"{cert}\": {}", shown(&outcome)),
        );
        let req = primary(&t.requirement);
        match (outcome, t.expect) {
            (Ok(()), Outcome::Ok) => {
                self.pass(req, "TLS established".into(), Some(frame));
                Ok(())
            }
            (Err(e), Outcome::Fail) => {
                self.conn(&t.conn)?.drop_stream().await;
                self.pass(req, format!("TLS refused: {e}"), Some(frame));
                Ok(())
            }
            (Ok(()), Outcome::Fail) => self.judge(
                req,
                None,
                format!("TLS accepted cert = \"{cert}\""),
                Some(frame),
            ),
            (Err(e), Outcome::Ok) => self.judge(req, None, format!("TLS failed: {e}"), Some(frame)),
        }
    }
}

impl Exec<'_> {
    /// Sends a ClientHello offering only `version` and judges the answer:
    /// a ServerHello choosing it breaks the step's requirement; an alert,
    /// a close or any other answer is a refusal.
    async fn offer_legacy_tls(&mut self, t: &StartTls, version: LegacyTls) -> Result<(), Stop> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = self.stream_for_tls(&t.conn).await?;
        let within = self.expect_timeout + self.slack;
        let hello = legacy_tls::client_hello(version);
        let exchange = async {
            stream.write_all(&hello).await?;
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            loop {
                if let Some(answer) = legacy_tls::answer(&got) {
                    return Ok::<_, std::io::Error>(Some(answer));
                }
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    return Ok(None);
                }
                got.extend(buf.get(..n).unwrap_or_default());
            }
        };
        let said = tokio::time::timeout(within, exchange).await;
        drop(stream);
        self.conn(&t.conn)?.drop_stream().await;
        let text = match &said {
            Ok(Ok(Some(answer))) => format!("{version} offered: {answer}"),
            Ok(Ok(None)) => format!("{version} offered: the server closed the connection"),
            // A reset refuses as much as a close does.
            Ok(Err(e)) => format!("{version} offered: the connection failed ({e})"),
            Err(_) => format!("{version} offered: no answer within {}", Shown(within)),
        };
        let frame = self.log(&t.conn, Direction::Note, text.clone());
        let req = primary(&t.requirement);
        match said {
            Ok(Ok(Some(answer))) if answer.accepts_legacy() => {
                self.judge(req, None, text, Some(frame))
            }
            Ok(_) => {
                self.pass(req, text, Some(frame));
                Ok(())
            }
            // A server that never answers took no old version either, but
            // whether it would have refused is not seen.
            Err(_) => Err(Stop::Unmet(super::Unmet {
                reason: text,
                only: Vec::new(),
            })),
        }
    }
}

impl Exec<'_> {
    /// The stream of `conn`, taken out for a TLS handshake.
    pub(super) async fn stream_for_tls(&mut self, conn: &str) -> Result<TappedIo<BoxedIo>, Stop> {
        self.conn(conn)?
            .take_stream_for_tls()
            .await
            .ok_or_else(|| Stop::Error(format!("connection '{conn}' is closed")))
    }
}

/// A handshake's outcome as a transcript note says it.
pub(super) fn shown(outcome: &Result<(), String>) -> String {
    match outcome {
        Ok(()) => "established".to_string(),
        Err(e) => format!("failed: {e}"),
    }
}
