//! `inconclusive-if`: stops the scenario as inconclusive when the target
//! took a path the RFC allows that keeps the tested situation from arising.

use super::{Exec, Stop, Unmet};
use crate::scenario::model::{InconclusiveIf, StatusName};
use crate::wire::describe::summary;

impl Exec<'_> {
    pub(super) fn inconclusive_if(&mut self, i: &InconclusiveIf) -> Result<(), Stop> {
        let conn = self.conn(&i.conn)?;
        let seen = match i.status {
            Some(StatusName(Some(status))) if conn.peer.statuses().contains(&status) => {
                Some(format!("{status} received"))
            }
            _ => None,
        };
        let lacking = conn.peer.last_received().and_then(|msg| {
            i.lacks
                .iter()
                .find(|c| !msg.has(**c))
                .map(|c| format!("option {c} absent from {}", summary(msg)))
        });
        match seen.or(lacking) {
            Some(what) => Err(Stop::Unmet(Unmet {
                reason: format!("{what}: {}", i.because),
                only: i
                    .about
                    .as_ref()
                    .map(|r| r.as_slice().to_vec())
                    .unwrap_or_default(),
            })),
            None => Ok(()),
        }
    }
}
