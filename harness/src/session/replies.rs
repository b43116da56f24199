//! Building the server's binding replies (RFC 6926 §8.3, RFC 4388 §6.4.2), shared
//! by bulk and active queries.

use crate::reference::leases::Binding;
use crate::wire::options::code;
use crate::wire::{
    DhcpOption, DhcpState, MessageBuilder, MessageType, RawMessage, Status, StatusCode,
};
use std::net::Ipv4Addr;

/// Options returned when a query carries no parameter request list (AMB-30:
/// what a DHCPREQUEST would get, plus the leasequery times).
pub const DEFAULT_PRL: &[u8] = &[
    code::LEASE_TIME,
    code::CLIENT_ID,
    code::RELAY_AGENT_INFO,
    code::CLIENT_LAST_TRANSACTION_TIME,
    code::BASE_TIME,
    code::START_TIME_OF_STATE,
    code::DHCP_STATE,
];

/// What a reply about one binding may contain.
#[derive(Debug, Clone)]
pub struct ReplyPolicy<'a> {
    pub prl: &'a [u8],
    /// Server identifier, on the first reply of a query only.
    pub server_id: Option<Ipv4Addr>,
    /// Options never sent, even when requested (RFC 7724 §8.2).
    pub suppress: &'a [u8],
}

impl ReplyPolicy<'_> {
    fn wants(&self, option: u8) -> bool {
        self.prl.contains(&option) && !self.suppress.contains(&option)
    }
}

/// A DHCPLEASEACTIVE (state ACTIVE) or DHCPLEASEUNASSIGNED (any other state) for
/// `binding`, at server time `now`. associated-ip (92) is never included
/// (RFC 6926 §5, RFC 7724 §7.4).
pub fn binding_reply(
    binding: &Binding,
    xid: u32,
    now: u32,
    policy: &ReplyPolicy<'_>,
) -> RawMessage {
    let active = binding.state == DhcpState::Active;
    let kind = if active {
        MessageType::LeaseActive
    } else {
        MessageType::LeaseUnassigned
    };
    let mut b = MessageBuilder::reply(kind, xid)
        .ciaddr(binding.addr)
        .hardware(binding.htype, &binding.chaddr);
    if let Some(id) = policy.server_id {
        b = b.option(DhcpOption::ServerId(id));
    }
    if policy.wants(code::BASE_TIME) {
        b = b.option(DhcpOption::BaseTime(now));
    }
    if policy.wants(code::LEASE_TIME) {
        if let Some(expires) = binding.expires.filter(|_| active) {
            b = b.option(DhcpOption::LeaseTime(expires.saturating_sub(now)));
        }
    }
    let ever_bound = binding.ever_bound();
    if policy.wants(code::START_TIME_OF_STATE) && (ever_bound || binding.state_since > 0) {
        b = b.option(DhcpOption::StartTimeOfState(
            now.saturating_sub(binding.state_since),
        ));
    }
    if policy.wants(code::CLIENT_LAST_TRANSACTION_TIME) && ever_bound {
        b = b.option(DhcpOption::ClientLastTransactionTime(
            now.saturating_sub(binding.last_transaction),
        ));
    }
    if policy.wants(code::DHCP_STATE) {
        b = b.option(DhcpOption::DhcpState(binding.state));
    }
    if policy.wants(code::CLIENT_ID) {
        if let Some(id) = &binding.client_id {
            b = b.option(DhcpOption::ClientId(id.clone()));
        }
    }
    if policy.wants(code::RELAY_AGENT_INFO) {
        if let Some(info) = &binding.relay_info {
            b = b.option(DhcpOption::RelayAgentInfo(info.clone()));
        }
    }
    b.build()
}

/// A DHCPLEASEQUERYDONE or DHCPLEASEQUERYSTATUS, with an optional status and
/// base-time.
pub fn status_reply(
    kind: MessageType,
    xid: u32,
    status: Option<(StatusCode, &str)>,
    base_time: Option<u32>,
    server_id: Option<Ipv4Addr>,
) -> RawMessage {
    let mut b = MessageBuilder::reply(kind, xid);
    if let Some(id) = server_id {
        b = b.option(DhcpOption::ServerId(id));
    }
    if let Some((code, text)) = status {
        b = b.option(DhcpOption::Status(Status::new(code, text)));
    }
    if let Some(t) = base_time {
        b = b.option(DhcpOption::BaseTime(t));
    }
    b.build()
}
