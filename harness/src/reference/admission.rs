//! Which connections the reference server takes (RFC 6926 §8.1, RFC 7724
//! §8.3): an allow-list of requestor addresses, a cap on connections and an
//! optional cap per requestor. Sans-IO: the tokio shell asks on each accept
//! and reports each end.

use crate::reference::faults::{Fault, FaultSet};
use std::collections::HashMap;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Serve it; call [`Admission::release`] when it ends.
    Serve,
    /// Serve it as a cleartext-only server would, outside the count (a
    /// deliberate defect: DHCPTLS refused because of capacity).
    ServeCleartextOnly,
    /// Close it at once.
    Refuse(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotAllowed,
    ConnectionLimit,
    PerRequestorLimit,
}

#[derive(Debug)]
pub struct Admission {
    max_connections: usize,
    per_requestor: Option<usize>,
    allowed: Option<Vec<IpAddr>>,
    faults: FaultSet,
    open: usize,
    by_requestor: HashMap<IpAddr, usize>,
}

impl Admission {
    pub fn new(
        max_connections: usize,
        per_requestor: Option<usize>,
        allowed: Option<Vec<IpAddr>>,
        faults: FaultSet,
    ) -> Self {
        Admission {
            max_connections: max_connections.max(1),
            per_requestor,
            allowed,
            faults,
            open: 0,
            by_requestor: HashMap::new(),
        }
    }

    /// Decides on a connection from `peer`.
    pub fn admit(&mut self, peer: IpAddr) -> Admit {
        let full = self.open >= self.max_connections && !self.faults.has(Fault::NoConnectionLimit);
        if full {
            if self.faults.has(Fault::TlsRefusedAtCapacity) {
                return Admit::ServeCleartextOnly;
            }
            return Admit::Refuse(Refusal::ConnectionLimit);
        }
        let allowed = self
            .allowed
            .as_ref()
            .is_none_or(|list| list.contains(&peer));
        if !allowed && !self.faults.has(Fault::AccessControlIgnored) {
            return Admit::Refuse(Refusal::NotAllowed);
        }
        let mine = self.by_requestor.get(&peer).copied().unwrap_or(0);
        let over = self.per_requestor.is_some_and(|limit| mine >= limit);
        if over && !self.faults.has(Fault::PerRequestorLimitIgnored) {
            return Admit::Refuse(Refusal::PerRequestorLimit);
        }
        self.open += 1;
        *self.by_requestor.entry(peer).or_default() += 1;
        Admit::Serve
    }

    /// A connection admitted with [`Admit::Serve`] ended.
    pub fn release(&mut self, peer: IpAddr) {
        if self.faults.has(Fault::ConnectionSlotNeverReleased) {
            return;
        }
        self.open = self.open.saturating_sub(1);
        if let Some(n) = self.by_requestor.get_mut(&peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_requestor.remove(&peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[test]
    fn the_cap_refuses_one_more_and_a_release_frees_a_slot() {
        let mut a = Admission::new(2, None, None, FaultSet::default());
        assert_eq!(a.admit(ip(1)), Admit::Serve);
        assert_eq!(a.admit(ip(2)), Admit::Serve);
        assert_eq!(a.admit(ip(3)), Admit::Refuse(Refusal::ConnectionLimit));
        a.release(ip(1));
        assert_eq!(a.admit(ip(3)), Admit::Serve);
    }

    #[test]
    fn the_per_requestor_cap_and_the_allow_list_are_per_address() {
        let mut a = Admission::new(10, Some(1), Some(vec![ip(1), ip(2)]), FaultSet::default());
        assert_eq!(a.admit(ip(1)), Admit::Serve);
        assert_eq!(a.admit(ip(1)), Admit::Refuse(Refusal::PerRequestorLimit));
        assert_eq!(a.admit(ip(2)), Admit::Serve);
        assert_eq!(a.admit(ip(3)), Admit::Refuse(Refusal::NotAllowed));
        a.release(ip(1));
        assert_eq!(a.admit(ip(1)), Admit::Serve);
    }

    #[test]
    fn faults_bend_each_rule() {
        let mut leak = Admission::new(
            1,
            None,
            None,
            FaultSet::one(Fault::ConnectionSlotNeverReleased),
        );
        assert_eq!(leak.admit(ip(1)), Admit::Serve);
        leak.release(ip(1));
        assert_eq!(leak.admit(ip(1)), Admit::Refuse(Refusal::ConnectionLimit));
        let mut tls = Admission::new(1, None, None, FaultSet::one(Fault::TlsRefusedAtCapacity));
        tls.admit(ip(1));
        assert_eq!(tls.admit(ip(1)), Admit::ServeCleartextOnly);
        let mut open = Admission::new(
            1,
            None,
            Some(vec![]),
            FaultSet::one(Fault::AccessControlIgnored),
        );
        assert_eq!(open.admit(ip(9)), Admit::Serve);
    }
}
