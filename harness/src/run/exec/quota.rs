//! Requestor role: filling the target's connection quota.

use super::{Exec, Stop};
use crate::net::stream_reader::StreamEvent;
use crate::outcome::Direction;
use crate::scenario::model::{
    Connect, Expect, IfNone, OneOrMany, OpenConnections, QuotaQuery, Send, TypeName, Value,
};
use crate::wire::options::code;
use crate::wire::MessageType;

/// xids of the quota connections' queries: 0x0c0a0000 + connection number.
const QUOTA_XID: u32 = 0x0c0a_0000;

impl Exec<'_> {
    /// Opens `<prefix>1` .. `<prefix>N` (N = the target's connection limit
    /// unless given), each with SO_LINGER 0 so a `close` resets it, and sends
    /// each its query.
    pub(super) async fn open_connections(&mut self, o: &OpenConnections) -> Result<(), Stop> {
        let count = o.count.unwrap_or_else(|| self.backend.max_connections());
        for n in 1..=count {
            let name = format!("{}{n}", o.prefix);
            let connect = Connect {
                conn: name.clone(),
                recv_buffer: None,
                reset_on_close: true,
                from: None,
            };
            self.connect(&connect).await?;
            let xid = QUOTA_XID + u32::try_from(n).unwrap_or(u32::MAX - QUOTA_XID);
            let query = match o.query {
                QuotaQuery::None => continue,
                QuotaQuery::Bulk => Send {
                    conn: name.clone(),
                    kind: Some(TypeName(MessageType::BulkLeaseQuery)),
                    xid: Some(Value::Number(xid)),
                    htype: Some(1),
                    // A locally administered MAC no DHCP client of the target uses.
                    chaddr: Some(format!(
                        "02:a1:0c:0a:{:02x}:{:02x}",
                        (n >> 8) & 0xff,
                        n & 0xff
                    )),
                    prl: Some(vec![code::LEASE_TIME]),
                    ..Send::default()
                },
                QuotaQuery::Active => Send {
                    conn: name.clone(),
                    kind: Some(TypeName(MessageType::ActiveLeaseQuery)),
                    xid: Some(Value::Number(xid)),
                    prl: Some(vec![code::LEASE_TIME, code::BASE_TIME]),
                    ..Send::default()
                },
            };
            self.send(&query).await?;
            if o.query == QuotaQuery::Bulk {
                let done = Expect {
                    conn: name.clone(),
                    kind: Some(OneOrMany::One(TypeName(MessageType::LeaseQueryDone))),
                    xid: Some(Value::Number(xid)),
                    requirement: o.requirement.clone(),
                    // A close breaks the quota; silence may be a DONE the
                    // target never sends (BLQ-S-16) as much as a refusal.
                    if_none: IfNone::Inconclusive,
                    ..Expect::default()
                };
                self.expect(&done).await?;
            }
        }
        self.log(
            "",
            Direction::Note,
            format!(
                "{count} connections open ({}1..{}{count})",
                o.prefix, o.prefix
            ),
        );
        self.quota_still_held(&o.prefix, count).await
    }

    /// Stops the scenario inconclusive when the target closed one of the
    /// quota's connections (after its DHCPLEASEQUERYDONE, say: RFC 7724
    /// §7.5 lets it): the limit the scenario tests was never reached.
    async fn quota_still_held(&mut self, prefix: &str, count: usize) -> Result<(), Stop> {
        tokio::time::sleep(self.duration("SETTLE")?).await;
        for n in 1..=count {
            let name = format!("{prefix}{n}");
            // What already came: a read that waits no longer than it takes.
            let by = tokio::time::Instant::now() + std::time::Duration::from_millis(10);
            loop {
                match self.receive(&name, by).await?.0 {
                    StreamEvent::Closed(how) => {
                        return Err(Stop::Unmet(super::Unmet {
                            reason: format!(
                                "the target closed connection '{name}' ({how}) of the {count} the scenario holds, as RFC 7724 §7.5 allows, so its connection limit was never reached"
                            ),
                            only: Vec::new(),
                        }));
                    }
                    StreamEvent::Timeout => break,
                    StreamEvent::Message(_) | StreamEvent::Garbage(_) => {}
                }
            }
        }
        Ok(())
    }
}
