//! The health probe: before a scenario against a server under test, a fresh
//! connection over the profile's transport and a query the target declares,
//! answered as the RFC requires. A target that fails it cannot take part,
//! and the scenario is an error naming what the probe saw, never a verdict
//! on its requirements. Its exchanges are in the scenario's transcript and
//! capture like any other.

use super::{Exec, Stop};
use crate::outcome::Direction;
use crate::scenario::model::{Connect, Expect, ExpectSilence, OneOrMany, Send, TypeName, Value};
use crate::wire::options::code;
use crate::wire::MessageType;

/// The probe's connection, named so in the transcript.
pub(super) const PROBE_CONN: &str = "probe";
/// A locally administered MAC no DHCP client of the target uses: the bulk
/// query by it has nothing to report and ends in DHCPLEASEQUERYDONE.
const PROBE_MAC: &str = "02:a1:0c:0a:fe:fe";
const PROBE_XID: u32 = 0x0a1a_fe01;

/// What the probe asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A bulk query by an unknown MAC, answered with DHCPLEASEQUERYDONE
    /// (RFC 6926 §8.2), with any status.
    Bulk,
    /// A target without bulk: the connection is taken and kept open for
    /// the settle time (no query it must answer at once exists).
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
        let asked = match self.connect(&connect).await {
            Ok(()) => self.probe_exchange(probe).await,
            Err(e) => Err(e),
        };
        let said = match asked {
            Ok(()) => Ok(()),
            Err(Stop::Error(e) | Stop::SetUp(e)) => Err(e),
            Err(Stop::Unmet(u)) => Err(u.reason),
            // A per-message check that failed on the answer: the target
            // answered, and that finding stands.
            Err(Stop::Failed) => Ok(()),
        };
        if let Ok(conn) = self.conn(PROBE_CONN) {
            conn.drop_stream().await;
        }
        self.retire(PROBE_CONN);
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

    async fn probe_exchange(&mut self, probe: Probe) -> Result<(), Stop> {
        self.heard(PROBE_CONN, false)?;
        match probe {
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
                self.send(&query).await?;
                let done = Expect {
                    conn: PROBE_CONN.into(),
                    kind: Some(OneOrMany::One(TypeName(MessageType::LeaseQueryDone))),
                    xid: Some(Value::Number(PROBE_XID)),
                    skip_others: true,
                    ..Expect::default()
                };
                self.expect(&done).await
            }
            Probe::Connection => {
                let open = ExpectSilence {
                    conn: PROBE_CONN.into(),
                    duration: "SETTLE".into(),
                    close_ok: false,
                    kind: None,
                    status: None,
                    keep_others: false,
                    requirement: None,
                    level: None,
                    refusal_ok: false,
                };
                self.expect_silence(&open).await
            }
        }
    }
}
