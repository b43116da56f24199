//! `trigger`: changing the target's bindings and recording what changed.

use super::{Exec, Stop};
use crate::outcome::Direction;
use crate::scenario::expr::{self, Var};
use crate::scenario::model::Trigger;
use bytes::Bytes;
use std::net::Ipv4Addr;

impl Exec<'_> {
    pub(super) async fn trigger(&mut self, t: &Trigger) -> Result<(), Stop> {
        let (mut bound, mut renewed, mut released) = (Vec::new(), 0usize, Vec::new());
        let mut declined = Vec::new();
        let mut options = Vec::new();
        for o in &t.client_options {
            options.push((o.code, Bytes::from(self.bytes(&o.hex)?)));
        }
        for _ in 0..self.rounds(t)? {
            for _ in 0..t.bind.unwrap_or(0) {
                let (addr, mac, client_id) = self.backend.bind(&options).await?;
                if !self.vars.contains_key("mac") {
                    self.vars.insert("mac".into(), Var::Bytes(mac.to_vec()));
                    self.vars.insert("client_id".into(), Var::Bytes(client_id));
                }
                bound.push(addr);
            }
            let all = [
                expr::addresses("${bound}", &self.vars).unwrap_or_default(),
                bound.clone(),
            ]
            .concat();
            for addr in all.iter().take(t.renew.unwrap_or(0)) {
                self.backend.renew(*addr).await?;
                renewed += 1;
            }
            for addr in all.iter().take(t.release.unwrap_or(0)) {
                self.backend.release(*addr).await?;
                released.push(*addr);
            }
            for addr in all.iter().take(t.decline.unwrap_or(0)) {
                self.backend.decline(*addr).await?;
                declined.push(*addr);
            }
        }
        self.changed_at = Some(self.backend.epoch());
        self.changes = self
            .changes
            .saturating_add(bound.len() + renewed + released.len() + declined.len());
        if t.reload {
            self.backend.reload().await?;
        }
        let list = |v: &[Ipv4Addr]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = Vec::new();
        if !bound.is_empty() {
            text.push(format!("bound {}", list(&bound)));
        }
        if renewed > 0 {
            text.push(format!("{renewed} renewals"));
        }
        if !released.is_empty() {
            text.push(format!("released {}", list(&released)));
        }
        if !declined.is_empty() {
            text.push(format!("declined {}", list(&declined)));
        }
        if t.reload {
            text.push("reload".to_string());
        }
        self.log("", Direction::Note, format!("trigger: {}", text.join("; ")));
        if !bound.is_empty() {
            self.vars
                .insert("last".into(), Var::Addresses(bound.clone()));
        }
        if let Some(name) = &t.into {
            self.vars
                .insert(name.clone(), Var::Addresses(bound.clone()));
        }
        for (name, new) in [
            ("bound", bound),
            ("released", released),
            ("declined", declined),
        ] {
            if new.is_empty() {
                continue;
            }
            match self
                .vars
                .entry(name.into())
                .or_insert_with(|| Var::Addresses(Vec::new()))
            {
                Var::Addresses(existing) => existing.extend(new),
                other => *other = Var::Addresses(new),
            }
        }
        self.vars
            .insert("now".into(), Var::Number(self.backend.epoch()));
        Ok(())
    }

    /// How many times `t` runs: `repeat`, or enough rounds that the replies
    /// its changes cause outgrow `fill` bytes.
    fn rounds(&self, t: &Trigger) -> Result<usize, Stop> {
        let Some(fill) = &t.fill else {
            return Ok(t.repeat.unwrap_or(1).max(1));
        };
        let bytes = usize::try_from(self.number(fill)?).unwrap_or(usize::MAX);
        let per_round = [t.bind, t.renew, t.release, t.decline]
            .iter()
            .map(|n| n.unwrap_or(0))
            .fold(0usize, usize::saturating_add);
        let per_round_bytes = per_round.saturating_mul(SMALLEST_REPLY);
        if per_round_bytes == 0 {
            return Err(Stop::Error(
                "a trigger with fill must bind, renew, release or decline".into(),
            ));
        }
        let rounds = bytes / per_round_bytes + 1;
        if rounds.saturating_mul(per_round) > FILL_CHANGE_LIMIT {
            return Err(Stop::Error(format!(
                "filling {bytes} bytes takes more than {FILL_CHANGE_LIMIT} lease changes"
            )));
        }
        Ok(rounds)
    }
}

/// The smallest a framed DHCPLEASEACTIVE can be: the length prefix, the
/// fixed header, the magic cookie, option 53 and the end option.
const SMALLEST_REPLY: usize = 2 + crate::wire::raw::HEADER_LEN + 4 + 3 + 1;

/// Lease changes one trigger with `fill` makes at most.
const FILL_CHANGE_LIMIT: usize = 1_000_000;
