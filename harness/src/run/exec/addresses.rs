//! `expect-addresses`: which addresses a connection has reported so far.

use super::{Exec, Stop};
use crate::outcome::Direction;
use crate::run::reported::ReportedAs;
use crate::scenario::expr;
use crate::scenario::model::{primary, ExpectAddresses, StatusName, TypeName};
use crate::wire::MessageType;

impl Exec<'_> {
    pub(super) fn expect_addresses(&mut self, e: &ExpectAddresses) -> Result<(), Stop> {
        let wanted =
            expr::addresses(&e.include, &self.vars).map_err(|err| Stop::Error(err.to_string()))?;
        let xid = e.xid.as_ref().map(|v| self.number(v)).transpose()?;
        let conn = self.conn(&e.conn)?;
        if let Some(StatusName(Some(excuse))) = e.unless_status {
            if conn.peer.statuses().contains(&excuse) {
                let frame = self.log(
                    &e.conn,
                    Direction::Note,
                    format!("{excuse} received: address check skipped"),
                );
                self.pass(
                    primary(&e.requirement),
                    format!("{excuse} excuses missing data"),
                    Some(frame),
                );
                return Ok(());
            }
        }
        let seen = conn.peer.reported().addresses(xid);
        if let Some(list) = &e.exclude {
            let unwanted =
                expr::addresses(list, &self.vars).map_err(|err| Stop::Error(err.to_string()))?;
            let frame = self.transcript.last_seq();
            if let Some(a) = unwanted.iter().find(|a| seen.contains(a)) {
                return self.judge(
                    primary(&e.requirement),
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
        let frame = self.transcript.last_seq();
        if let (Some(TypeName(want)), true) = (e.seen_as, missing.is_empty()) {
            let kind = binding_kind("seen-as", want)?;
            let conn = self.conn(&e.conn)?;
            let never = wanted
                .iter()
                .find(|a| !conn.peer.reported().reported_as(**a, kind))
                .copied();
            if let Some(addr) = never {
                return self.judge(
                    primary(&e.requirement),
                    None,
                    format!("{addr} was never reported as {want}"),
                    frame,
                );
            }
        }
        if let (Some(TypeName(want)), true) = (e.latest_as, missing.is_empty()) {
            let kind = binding_kind("latest-as", want)?;
            let xid = xid.ok_or_else(|| Stop::Error("latest-as needs xid".into()))?;
            let conn = self.conn(&e.conn)?;
            let stale = wanted
                .iter()
                .find(|a| conn.peer.reported().latest_as(xid, **a) != Some(kind))
                .copied();
            if let Some(addr) = stale {
                return self.judge(
                    primary(&e.requirement),
                    None,
                    format!("the latest report of {addr} is not {want}"),
                    frame,
                );
            }
        }
        if missing.is_empty() {
            self.pass(
                primary(&e.requirement),
                format!("all {} addresses reported", wanted.len()),
                frame,
            );
            Ok(())
        } else {
            self.judge(
                primary(&e.requirement),
                None,
                format!("never reported: {}", missing.join(", ")),
                frame,
            )
        }
    }
}

/// The binding reply type `want` names, for the step's `key`.
fn binding_kind(key: &str, want: MessageType) -> Result<ReportedAs, Stop> {
    ReportedAs::of(want).ok_or_else(|| {
        Stop::Error(format!(
            "{key} {want}: only DHCPLEASEACTIVE or DHCPLEASEUNASSIGNED"
        ))
    })
}
