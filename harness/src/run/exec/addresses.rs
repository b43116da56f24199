//! `expect-addresses`: which addresses a connection has reported so far.

use super::{Exec, Stop};
use crate::scenario::expr;
use crate::scenario::model::{ExpectAddresses, StatusName, TypeName};
use crate::wire::MessageType;
use std::net::Ipv4Addr;

impl Exec<'_> {
    pub(super) fn expect_addresses(&mut self, e: &ExpectAddresses) -> Result<(), Stop> {
        let wanted =
            expr::addresses(&e.include, &self.vars).map_err(|err| Stop::Error(err.to_string()))?;
        let conn = self.conn(&e.conn)?;
        let received = conn.received.clone();
        if let Some(StatusName(Some(excuse))) = e.unless_status {
            if received
                .iter()
                .any(|m| matches!(m.status(), Ok(Some(s)) if s.code == excuse))
            {
                let frame = self.log(
                    &e.conn,
                    "note",
                    format!("{excuse} received: address check skipped"),
                );
                self.pass(
                    e.requirement.as_deref(),
                    format!("{excuse} excuses missing data"),
                    Some(frame),
                );
                return Ok(());
            }
        }
        let xid = e.xid.as_ref().map(|v| self.number(v)).transpose()?;
        let seen: Vec<Ipv4Addr> = received
            .iter()
            .filter(|m| xid.is_none_or(|x| m.header.xid == x))
            .filter(|m| {
                matches!(
                    m.message_type(),
                    Ok(MessageType::LeaseActive | MessageType::LeaseUnassigned)
                )
            })
            .map(|m| m.header.ciaddr)
            .collect();
        if let Some(list) = &e.exclude {
            let unwanted =
                expr::addresses(list, &self.vars).map_err(|err| Stop::Error(err.to_string()))?;
            let frame = self.transcript.len().checked_sub(1);
            if let Some(a) = unwanted.iter().find(|a| seen.contains(a)) {
                return self.judge(
                    e.requirement.as_deref(),
                    None,
                    format!("{a} was reported but should not match"),
                    frame,
                );
            }
        }
        let missing: Vec<String> = wanted
            .iter()
            .filter(|a| !seen.contains(a))
            .map(ToString::to_string)
            .collect();
        let frame = self.transcript.len().checked_sub(1);
        if let (Some(TypeName(want)), true) = (e.seen_as, missing.is_empty()) {
            for addr in &wanted {
                let seen = received
                    .iter()
                    .any(|m| m.header.ciaddr == *addr && m.message_type() == Ok(want));
                if !seen {
                    return self.judge(
                        e.requirement.as_deref(),
                        None,
                        format!("{addr} was never reported as {want}"),
                        frame,
                    );
                }
            }
        }
        if missing.is_empty() {
            self.pass(
                e.requirement.as_deref(),
                format!("all {} addresses reported", wanted.len()),
                frame,
            );
            Ok(())
        } else {
            self.judge(
                e.requirement.as_deref(),
                None,
                format!("never reported: {}", missing.join(", ")),
                frame,
            )
        }
    }
}
