//! Which addresses the binding replies of each query reported, and as what.
//!
//! A bulk stream adds one address per message, so this is on the hot path of
//! ingest: addresses are grouped in aligned blocks of 64 with one bit per
//! address and type, so a server walking a pool touches one small entry per
//! 64 replies and the table stays in cache. Scattered addresses cost one entry
//! each, no more than a per-address map.

use crate::wire::MessageType;
use rustc_hash::FxHashMap;
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// How a binding reply reported an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportedAs {
    Active,
    Unassigned,
}

impl ReportedAs {
    /// The binding reply type `kind` is, if it is one.
    pub fn of(kind: MessageType) -> Option<Self> {
        match kind {
            MessageType::LeaseActive => Some(ReportedAs::Active),
            MessageType::LeaseUnassigned => Some(ReportedAs::Unassigned),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Block {
    active: u64,
    unassigned: u64,
    /// Set where the latest report of the address was as unassigned.
    latest_unassigned: u64,
}

impl Block {
    fn bits(&self, kind: ReportedAs) -> u64 {
        match kind {
            ReportedAs::Active => self.active,
            ReportedAs::Unassigned => self.unassigned,
        }
    }

    fn bits_mut(&mut self, kind: ReportedAs) -> &mut u64 {
        match kind {
            ReportedAs::Active => &mut self.active,
            ReportedAs::Unassigned => &mut self.unassigned,
        }
    }
}

/// (xid, address) of every binding reply judged on a connection.
#[derive(Debug, Default)]
pub struct Reported {
    /// Keyed by (xid, address / 64): where its block is in `masks`.
    blocks: FxHashMap<(u32, u32), usize>,
    /// Bit `address % 64` of each mask.
    masks: Vec<Block>,
    /// The key `note` used last and where its block is: a stream walking a
    /// pool stays on one block for 64 replies.
    last: Option<((u32, u32), usize)>,
}

fn split(addr: Ipv4Addr) -> (u32, u64) {
    let n = u32::from(addr);
    (n >> 6, 1u64 << (n & 63))
}

fn join(block: u32, bit: u32) -> Ipv4Addr {
    Ipv4Addr::from((block << 6) | bit)
}

/// The addresses whose bits are set in `mask`.
fn addresses(block: u32, mask: u64) -> impl Iterator<Item = Ipv4Addr> {
    (0..64u32)
        .filter(move |bit| mask & (1u64 << bit) != 0)
        .map(move |bit| join(block, bit))
}

impl Reported {
    /// Records that query `xid` reported `addr` as `kind`; true when the
    /// query had reported `addr` before, as either type.
    pub fn note(&mut self, xid: u32, addr: Ipv4Addr, kind: ReportedAs) -> bool {
        let (block, bit) = split(addr);
        let key = (xid, block);
        let at = match self.last {
            Some((last, at)) if last == key => at,
            _ => {
                let next = self.masks.len();
                let at = *self.blocks.entry(key).or_insert(next);
                if at == next {
                    self.masks.push(Block::default());
                }
                self.last = Some((key, at));
                at
            }
        };
        let Some(entry) = self.masks.get_mut(at) else {
            return false;
        };
        let before = (entry.active | entry.unassigned) & bit != 0;
        *entry.bits_mut(kind) |= bit;
        match kind {
            ReportedAs::Unassigned => entry.latest_unassigned |= bit,
            ReportedAs::Active => entry.latest_unassigned &= !bit,
        }
        before
    }

    /// Whether the latest report of `addr` to query `xid` was as `kind`
    /// (`None` when that query never reported it).
    pub fn latest_as(&self, xid: u32, addr: Ipv4Addr) -> Option<ReportedAs> {
        let (block, bit) = split(addr);
        let m = self.masks.get(*self.blocks.get(&(xid, block))?)?;
        if (m.active | m.unassigned) & bit == 0 {
            return None;
        }
        Some(if m.latest_unassigned & bit != 0 {
            ReportedAs::Unassigned
        } else {
            ReportedAs::Active
        })
    }

    /// Addresses reported (to query `xid` only, when given).
    pub fn addresses(&self, xid: Option<u32>) -> HashSet<Ipv4Addr> {
        self.blocks
            .iter()
            .filter(|((x, _), _)| xid.is_none_or(|want| *x == want))
            .filter_map(|((_, block), at)| Some((*block, self.masks.get(*at)?)))
            .flat_map(|(block, b)| addresses(block, b.active | b.unassigned))
            .collect()
    }

    /// Whether any query reported `addr` as `kind`.
    pub fn reported_as(&self, addr: Ipv4Addr, kind: ReportedAs) -> bool {
        let (block, bit) = split(addr);
        self.blocks.iter().any(|((_, b), at)| {
            *b == block && self.masks.get(*at).is_some_and(|m| m.bits(kind) & bit != 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_report_of_an_address_is_kept_per_query() {
        let mut r = Reported::default();
        let a = Ipv4Addr::new(192, 0, 2, 10);
        assert_eq!(r.latest_as(1, a), None);
        r.note(1, a, ReportedAs::Active);
        r.note(1, a, ReportedAs::Unassigned);
        assert_eq!(r.latest_as(1, a), Some(ReportedAs::Unassigned));
        r.note(1, a, ReportedAs::Active);
        assert_eq!(r.latest_as(1, a), Some(ReportedAs::Active));
        // Another query's reports are its own.
        r.note(2, a, ReportedAs::Unassigned);
        assert_eq!(r.latest_as(1, a), Some(ReportedAs::Active));
        assert_eq!(r.latest_as(2, a), Some(ReportedAs::Unassigned));
        assert_eq!(r.latest_as(1, Ipv4Addr::new(192, 0, 2, 11)), None);
    }

    #[test]
    fn repeats_are_per_query_and_either_type() {
        let mut r = Reported::default();
        let a = Ipv4Addr::new(192, 0, 2, 63);
        let b = Ipv4Addr::new(192, 0, 2, 64);
        assert!(!r.note(1, a, ReportedAs::Active));
        assert!(!r.note(1, b, ReportedAs::Unassigned));
        assert!(!r.note(2, a, ReportedAs::Unassigned));
        assert!(r.note(1, a, ReportedAs::Unassigned));
        assert!(r.reported_as(a, ReportedAs::Active));
        assert!(r.reported_as(a, ReportedAs::Unassigned));
        assert!(!r.reported_as(b, ReportedAs::Active));
        assert_eq!(r.addresses(Some(2)), HashSet::from([a]));
        assert_eq!(r.addresses(None), HashSet::from([a, b]));
    }

    #[test]
    fn the_edges_of_the_address_space_round_trip() {
        let mut r = Reported::default();
        for addr in [Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST] {
            assert!(!r.note(7, addr, ReportedAs::Active));
            assert!(r.note(7, addr, ReportedAs::Active));
        }
        assert_eq!(
            r.addresses(Some(7)),
            HashSet::from([Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST])
        );
    }
}
