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
        for _ in 0..t.repeat.unwrap_or(1).max(1) {
            for _ in 0..t.bind.unwrap_or(0) {
                let (addr, mac, client_id) = self.backend.bind(&options).await?;
                if !self.vars.contains_key("mac") {
                    self.vars.insert("mac".into(), Var::Bytes(mac.to_vec()));
                    self.vars.insert("client_id".into(), Var::Bytes(client_id));
                }
                bound.push(addr);
                self.bound_at = Some(self.backend.epoch());
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
}
