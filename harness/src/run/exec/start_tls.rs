//! Requestor role: the TLS handshake the harness starts after a DHCPTLS
//! success, with the certificate the scenario picks.

use super::{Exec, Stop};
use crate::outcome::Direction;
use crate::scenario::model::{primary, Outcome, StartTls};
use std::time::Duration;

impl Exec<'_> {
    pub(super) async fn start_tls(&mut self, t: &StartTls) -> Result<(), Stop> {
        let (connector, name) = self.backend.tls_connector(t.cert)?;
        let stream = self
            .conn(&t.conn)?
            .take_stream_for_tls()
            .await
            .ok_or_else(|| Stop::Error(format!("connection '{}' is closed", t.conn)))?;
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
            format!("TLS with cert = \"{}\": {}", t.cert, shown(&outcome)),
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
                format!("TLS accepted cert = \"{}\"", t.cert),
                Some(frame),
            ),
            (Err(e), Outcome::Ok) => self.judge(req, None, format!("TLS failed: {e}"), Some(frame)),
        }
    }
}

/// A handshake's outcome as a transcript note says it.
pub(super) fn shown(outcome: &Result<(), String>) -> String {
    match outcome {
        Ok(()) => "established".to_string(),
        Err(e) => format!("failed: {e}"),
    }
}
