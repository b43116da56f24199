//! The health probe: before a scenario against a server under test, a fresh
//! connection over the profile's transport and a query the target declares.
//! A target that refuses the connection, closes it before any answer, or
//! sends nothing in time cannot take part, and the scenario is an error
//! naming what the probe saw, never a verdict on its requirements. What it
//! answers is judged by the per-message checks like any message; its
//! exchanges are in the scenario's transcript and capture.

use super::{Exec, Stop};
use crate::net::stream_reader::StreamEvent;
use crate::outcome::Direction;
use crate::scenario::expr::Shown;
use crate::scenario::model::{CloseHow, Connect, Send, TypeName, Value};
use crate::wire::options::code;
use crate::wire::MessageType;
use tokio::time::Instant;

/// The probe's connection, named so in the transcript.
pub(super) const PROBE_CONN: &str = "probe";
/// A locally administered MAC no DHCP client of the target uses: the bulk
/// query by it has nothing to report and ends in DHCPLEASEQUERYDONE.
const PROBE_MAC: &str = "02:a1:0c:0a:fe:fe";
const PROBE_XID: u32 = 0x0a1a_fe01;
/// Messages read after the probe's close before it stops waiting for the
/// target's close.
const PROBE_TAIL: usize = 64;

/// What the probe asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A bulk query by an unknown MAC (RFC 6926 §8.2: it is answered with
    /// DHCPLEASEQUERYDONE); any answer shows the target takes part.
    Bulk,
    /// A target without bulk: the connection is taken and not closed
    /// within the settle time (no query it must answer at once exists).
    Connection,
}

impl Exec<'_> {
    /// Runs the probe; `Err` says what it saw instead of an answer.
    pub(super) async fn probe(&mut self, probe: Probe) -> Result<(), String> {
        self.log("", Direction::Note, "health probe".into());
        let connect = Connect {
            conn: PROBE_CONN.into(),
            recv_buffer: None,
            reset_on_close: false,
            from: None,
        };
        let said = match self.connect(&connect).await {
            Ok(()) => self.probe_exchange(probe).await,
            // A check failed on what the target sent: it answered.
            Err(Stop::Failed) => Ok(()),
            Err(other) => Err(stopped(other)),
        };
        self.end_probe().await;
        self.log(
            "",
            Direction::Note,
            match &said {
                Ok(()) => "health probe answered".into(),
                Err(why) => format!("health probe not answered: {why}"),
            },
        );
        said
    }

    /// The query and the first sign of an answer.
    async fn probe_exchange(&mut self, probe: Probe) -> Result<(), String> {
        if let Some(why) = self.conn(PROBE_CONN).map_err(stopped)?.unheard.clone() {
            return Err(why);
        }
        let wait = match probe {
            Probe::Bulk => {
                let query = Send {
                    conn: PROBE_CONN.into(),
                    kind: Some(TypeName(MessageType::BulkLeaseQuery)),
                    xid: Some(Value::Number(PROBE_XID)),
                    htype: Some(1),
                    chaddr: Some(PROBE_MAC.into()),
                    prl: Some(vec![code::LEASE_TIME]),
                    ..Send::default()
                };
                self.send(&query).await.map_err(stopped)?;
                if let Some(why) = self.conn(PROBE_CONN).map_err(stopped)?.unheard.clone() {
                    return Err(why);
                }
                self.expect_timeout
            }
            Probe::Connection => self.duration("SETTLE").map_err(stopped)?,
        };
        let deadline = Instant::now() + wait + self.slack;
        let event = match self.receive(PROBE_CONN, deadline).await {
            Ok((event, _)) => event,
            // A per-message check found the answer broken: it answered.
            Err(Stop::Failed) => return Ok(()),
            Err(other) => return Err(stopped(other)),
        };
        let bytes = self.conn(PROBE_CONN).map_err(stopped)?.tap.received();
        match (probe, event) {
            (_, StreamEvent::Message(_) | StreamEvent::Garbage(_)) => Ok(()),
            (_, StreamEvent::Closed(kind)) if bytes == 0 => Err(format!(
                "the target closed the connection ({kind}) before any answer"
            )),
            (_, StreamEvent::Closed(_)) => Ok(()),
            (Probe::Connection, StreamEvent::Timeout) => Ok(()),
            // Part of an answer came.
            (Probe::Bulk, StreamEvent::Timeout) if bytes > 0 => Ok(()),
            (Probe::Bulk, StreamEvent::Timeout) => Err(format!(
                "nothing answered its bulk query within {}",
                Shown(wait)
            )),
        }
    }

    /// Closes the probe's connection with FIN and gives the target the
    /// settle time to close its end (RFC 7724 §8.4), so its connection slot
    /// is free before the scenario opens its own.
    async fn end_probe(&mut self) {
        let Ok(conn) = self.conn(PROBE_CONN) else {
            return;
        };
        if !conn.refused {
            conn.shutdown_write().await;
            self.log(
                PROBE_CONN,
                Direction::Note,
                format!("closed ({})", CloseHow::Half),
            );
            let settle = self.duration("SETTLE").unwrap_or_default();
            let deadline = Instant::now() + settle;
            // A target still streaming is not waited out: it has had its
            // settle time, and at most this many more messages.
            for _ in 0..PROBE_TAIL {
                match self.receive(PROBE_CONN, deadline).await {
                    Ok((StreamEvent::Closed(_) | StreamEvent::Timeout, _)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        if let Ok(conn) = self.conn(PROBE_CONN) {
            conn.drop_stream().await;
        }
        self.retire(PROBE_CONN);
    }
}

/// What a stop inside the probe says.
fn stopped(stop: Stop) -> String {
    match stop {
        Stop::Error(e) | Stop::SetUp(e) => e,
        Stop::Unmet(u) => u.reason,
        Stop::Failed => "a check failed".into(),
    }
}
