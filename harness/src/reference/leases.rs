//! The reference server's lease store: bindings, a bounded change history for
//! Active Leasequery catch-up (RFC 7724 §8.2), and the control operations that
//! change bindings (bind, renew, release, expire, abandon).
//!
//! Sans-IO: every operation takes the server clock (seconds since 1970) as input.

use crate::wire::{DhcpState, RelayAgentInfo};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;

/// T1 and T2 for a lease of `lease` seconds at RFC 2131 §4.4.5's defaults:
/// half and seven eighths of it.
pub fn default_renewal_times(lease: u32) -> (u32, u32) {
    (lease / 2, lease / 8 * 7)
}

/// One address and what the server knows about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub addr: Ipv4Addr,
    pub state: DhcpState,
    pub htype: u8,
    pub chaddr: Vec<u8>,
    pub client_id: Option<Bytes>,
    pub relay_info: Option<RelayAgentInfo>,
    /// Options the client sent beyond the protocol's own.
    pub client_options: Vec<(u8, Bytes)>,
    /// Absolute time the address entered `state`.
    pub state_since: u32,
    /// Absolute time of the client's last exchange with the server.
    pub last_transaction: u32,
    /// Absolute expiry time while the lease is valid.
    pub expires: Option<u32>,
}

impl Binding {
    fn available(addr: Ipv4Addr) -> Self {
        Binding {
            addr,
            state: DhcpState::Available,
            htype: 0,
            chaddr: Vec::new(),
            client_id: None,
            relay_info: None,
            client_options: Vec::new(),
            state_since: 0,
            last_transaction: 0,
            expires: None,
        }
    }

    /// The latest time the binding changed (RFC 6926 §7.2: client-last-
    /// transaction-time or start-time-of-state).
    pub fn changed_at(&self) -> u32 {
        self.state_since.max(self.last_transaction)
    }

    /// Whether the binding has ever been given to a client.
    pub fn ever_bound(&self) -> bool {
        !self.chaddr.is_empty() || self.client_id.is_some()
    }
}

/// One entry of the change history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub seq: u64,
    pub at: u32,
    pub addr: Ipv4Addr,
}

/// Who a new binding is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    pub htype: u8,
    pub chaddr: Vec<u8>,
    pub client_id: Option<Bytes>,
    pub relay_info: Option<RelayAgentInfo>,
    /// Other options the client sent (vendor class, vendor-identifying
    /// options, ...), returned when a query asks for them (RFC 6926 §8.3).
    pub options: Vec<(u8, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("no free address left in the pool")]
    PoolExhausted,
    #[error("{0} is not a configured address")]
    NotConfigured(Ipv4Addr),
    #[error("{addr} is {state}, not ACTIVE")]
    NotActive { addr: Ipv4Addr, state: DhcpState },
}

/// What catch-up from a query-start-time can deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// History holds every change at or after the time; catch-up starts at `from`.
    Complete { from: u64 },
    /// History does not reach back that far (RFC 7724 §7.4.1: DataMissing).
    Missing,
}

#[derive(Debug)]
pub struct LeaseStore {
    bindings: BTreeMap<Ipv4Addr, Binding>,
    history: VecDeque<Change>,
    capacity: usize,
    next_seq: u64,
    /// History is complete for changes at or after this time.
    tracking_since: u32,
    /// Time of the newest change evicted from the history.
    evicted_up_to: Option<u32>,
    lease_time: u32,
}

impl LeaseStore {
    /// A store for the given configured addresses, all AVAILABLE, tracking
    /// changes from `now` on in a history of `capacity` entries.
    pub fn new(
        pool: impl IntoIterator<Item = Ipv4Addr>,
        capacity: usize,
        lease_time: u32,
        now: u32,
    ) -> Self {
        LeaseStore {
            bindings: pool
                .into_iter()
                .map(|addr| (addr, Binding::available(addr)))
                .collect(),
            history: VecDeque::with_capacity(capacity.min(1 << 16)),
            capacity: capacity.max(1),
            next_seq: 0,
            tracking_since: now,
            evicted_up_to: None,
            lease_time,
        }
    }

    pub fn lease_time(&self) -> u32 {
        self.lease_time
    }

    pub fn get(&self, addr: Ipv4Addr) -> Option<&Binding> {
        self.bindings.get(&addr)
    }

    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.values()
    }

    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// Sequence number the next change will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Sequence number of the oldest change still held.
    pub fn oldest_seq(&self) -> u64 {
        self.history.front().map_or(self.next_seq, |c| c.seq)
    }

    /// The change with sequence number `seq`, if still held.
    pub fn change(&self, seq: u64) -> Option<Change> {
        let index = seq.checked_sub(self.oldest_seq())?;
        self.history.get(usize::try_from(index).ok()?).copied()
    }

    /// Whether catch-up from `start` (an absolute time) can be complete.
    pub fn coverage(&self, start: u32) -> Coverage {
        if start < self.tracking_since || self.evicted_up_to.is_some_and(|t| t >= start) {
            return Coverage::Missing;
        }
        let from = self
            .history
            .iter()
            .find(|c| c.at >= start)
            .map_or(self.next_seq, |c| c.seq);
        Coverage::Complete { from }
    }

    fn record(&mut self, addr: Ipv4Addr, at: u32) {
        if self.history.len() >= self.capacity {
            if let Some(old) = self.history.pop_front() {
                self.evicted_up_to = Some(self.evicted_up_to.map_or(old.at, |t| t.max(old.at)));
            }
        }
        self.history.push_back(Change {
            seq: self.next_seq,
            at,
            addr,
        });
        self.next_seq += 1;
    }

    fn binding_mut(&mut self, addr: Ipv4Addr) -> Result<&mut Binding, LeaseError> {
        self.bindings
            .get_mut(&addr)
            .ok_or(LeaseError::NotConfigured(addr))
    }

    /// The address a client holds or last held, else the first never-used free one,
    /// else any free one.
    pub fn pick_address(&self, client: &Client) -> Option<Ipv4Addr> {
        let same_client = |b: &&Binding| {
            (!client.chaddr.is_empty() && b.chaddr == client.chaddr && b.htype == client.htype)
                || (client.client_id.is_some() && b.client_id == client.client_id)
        };
        let free = |b: &&Binding| b.state != DhcpState::Active && b.state != DhcpState::Abandoned;
        self.bindings
            .values()
            .find(|b| same_client(b) && (b.state == DhcpState::Active || free(b)))
            .or_else(|| self.bindings.values().find(|b| free(b) && !b.ever_bound()))
            .or_else(|| self.bindings.values().find(free))
            .map(|b| b.addr)
    }

    /// Gives `addr` (or a picked address) to `client` as ACTIVE.
    pub fn bind(
        &mut self,
        addr: Option<Ipv4Addr>,
        client: Client,
        now: u32,
    ) -> Result<Ipv4Addr, LeaseError> {
        let addr = match addr {
            Some(addr) => addr,
            None => self
                .pick_address(&client)
                .ok_or(LeaseError::PoolExhausted)?,
        };
        let lease_time = self.lease_time;
        let binding = self.binding_mut(addr)?;
        if binding.state != DhcpState::Active {
            binding.state = DhcpState::Active;
            binding.state_since = now;
        }
        binding.htype = client.htype;
        binding.chaddr = client.chaddr;
        binding.client_id = client.client_id;
        if client.relay_info.is_some() {
            binding.relay_info = client.relay_info;
        }
        if !client.options.is_empty() {
            binding.client_options = client.options;
        }
        binding.last_transaction = now;
        binding.expires = Some(now.saturating_add(lease_time));
        self.record(addr, now);
        Ok(addr)
    }

    /// Extends an ACTIVE lease.
    pub fn renew(&mut self, addr: Ipv4Addr, now: u32) -> Result<(), LeaseError> {
        let lease_time = self.lease_time;
        let binding = self.binding_mut(addr)?;
        if binding.state != DhcpState::Active {
            return Err(LeaseError::NotActive {
                addr,
                state: binding.state,
            });
        }
        binding.last_transaction = now;
        binding.expires = Some(now.saturating_add(lease_time));
        self.record(addr, now);
        Ok(())
    }

    fn leave_active(
        &mut self,
        addr: Ipv4Addr,
        state: DhcpState,
        client_spoke: bool,
        now: u32,
    ) -> Result<(), LeaseError> {
        let binding = self.binding_mut(addr)?;
        binding.state = state;
        binding.state_since = now;
        binding.expires = None;
        if client_spoke {
            binding.last_transaction = now;
        }
        self.record(addr, now);
        Ok(())
    }

    /// The client gave the address back (DHCPRELEASE).
    pub fn release(&mut self, addr: Ipv4Addr, now: u32) -> Result<(), LeaseError> {
        self.leave_active(addr, DhcpState::Released, true, now)
    }

    /// The lease ran out.
    pub fn expire(&mut self, addr: Ipv4Addr, now: u32) -> Result<(), LeaseError> {
        self.leave_active(addr, DhcpState::Expired, false, now)
    }

    /// The address was declined or found in use.
    pub fn abandon(&mut self, addr: Ipv4Addr, now: u32) -> Result<(), LeaseError> {
        self.leave_active(addr, DhcpState::Abandoned, true, now)
    }

    /// An administrator freed the address.
    pub fn reset(&mut self, addr: Ipv4Addr, now: u32) -> Result<(), LeaseError> {
        self.leave_active(addr, DhcpState::Reset, false, now)
    }

    /// The earliest expiry time of an ACTIVE lease.
    pub fn next_expiry(&self) -> Option<u32> {
        self.bindings
            .values()
            .filter(|b| b.state == DhcpState::Active)
            .filter_map(|b| b.expires)
            .min()
    }

    /// Expires every ACTIVE lease whose time is up; returns how many.
    pub fn expire_due(&mut self, now: u32) -> usize {
        let due: Vec<Ipv4Addr> = self
            .bindings
            .values()
            .filter(|b| b.state == DhcpState::Active && b.expires.is_some_and(|e| e <= now))
            .map(|b| b.addr)
            .collect();
        for addr in &due {
            let _ = self.expire(*addr, now);
        }
        due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: u8) -> Vec<Ipv4Addr> {
        (10..10 + n).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect()
    }

    fn client(last: u8) -> Client {
        Client {
            htype: 1,
            chaddr: vec![2, 0, 0, 0, 0, last],
            ..Client::default()
        }
    }

    #[test]
    fn bind_picks_fresh_addresses_and_rebinds_the_same_client() {
        let mut store = LeaseStore::new(pool(4), 8, 3600, 1000);
        let a = store.bind(None, client(1), 1001).unwrap();
        let b = store.bind(None, client(2), 1002).unwrap();
        assert_ne!(a, b);
        assert_eq!(store.bind(None, client(1), 1003).unwrap(), a);
        let binding = store.get(a).unwrap();
        assert_eq!(binding.state, DhcpState::Active);
        assert_eq!(binding.state_since, 1001);
        assert_eq!(binding.last_transaction, 1003);
        assert_eq!(binding.expires, Some(4603));
    }

    #[test]
    fn coverage_is_missing_before_tracking_started_or_after_eviction() {
        let mut store = LeaseStore::new(pool(4), 2, 3600, 1000);
        assert_eq!(store.coverage(999), Coverage::Missing);
        assert_eq!(store.coverage(1000), Coverage::Complete { from: 0 });
        let a = store.bind(None, client(1), 1010).unwrap();
        store.renew(a, 1020).unwrap();
        assert_eq!(store.coverage(1015), Coverage::Complete { from: 1 });
        store.release(a, 1030).unwrap();
        // The change at 1010 was evicted: nothing at or before 1010 is complete.
        assert_eq!(store.coverage(1010), Coverage::Missing);
        assert_eq!(store.coverage(1011), Coverage::Complete { from: 1 });
        assert_eq!(store.oldest_seq(), 1);
        assert_eq!(store.change(2).map(|c| c.at), Some(1030));
        assert_eq!(store.change(0), None);
    }

    #[test]
    fn leaving_active_records_state_and_time() {
        let mut store = LeaseStore::new(pool(2), 8, 60, 0);
        let a = store.bind(None, client(1), 10).unwrap();
        assert_eq!(store.expire_due(69), 0);
        assert_eq!(store.expire_due(70), 1);
        let b = store.get(a).unwrap();
        assert_eq!(
            (b.state, b.state_since, b.last_transaction),
            (DhcpState::Expired, 70, 10)
        );
        assert!(matches!(
            store.renew(a, 80),
            Err(LeaseError::NotActive { .. })
        ));
        assert_eq!(
            store.release(Ipv4Addr::new(10, 0, 0, 1), 80),
            Err(LeaseError::NotConfigured(Ipv4Addr::new(10, 0, 0, 1)))
        );
    }
}
