//! Building the server's binding replies (RFC 6926 §8.3, RFC 4388 §6.4.2), shared
//! by bulk and active queries.

use crate::reference::faults::{Fault, FaultSet};
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
    /// Deliberate defects (none in normal use).
    pub faults: &'a FaultSet,
}

impl ReplyPolicy<'_> {
    fn wants(&self, option: u8) -> bool {
        let dropped = match option {
            code::BASE_TIME => Fault::NoBaseTime,
            code::START_TIME_OF_STATE => Fault::NoStartTimeOfState,
            code::LEASE_TIME => Fault::NoLeaseTime,
            code::CLIENT_LAST_TRANSACTION_TIME => Fault::NoClientLastTransactionTime,
            code::RELAY_AGENT_INFO => Fault::NoRelayAgentInfo,
            _ => return self.prl.contains(&option) && !self.suppress.contains(&option),
        };
        self.prl.contains(&option) && !self.suppress.contains(&option) && !self.faults.has(dropped)
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
    let ciaddr = if policy.faults.has(Fault::ZeroCiaddr) {
        Ipv4Addr::UNSPECIFIED
    } else {
        binding.addr
    };
    let mut b = MessageBuilder::reply(kind, xid)
        .ciaddr(ciaddr)
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
        let cltt = if policy.faults.has(Fault::AbsoluteClientLastTransactionTime) {
            binding.last_transaction
        } else {
            now.saturating_sub(binding.last_transaction)
        };
        b = b.option(DhcpOption::ClientLastTransactionTime(cltt));
    }
    if policy.wants(code::DHCP_STATE) {
        let state = if active && policy.faults.has(Fault::StateMismatch) {
            DhcpState::Expired
        } else {
            binding.state
        };
        b = b.option(DhcpOption::DhcpState(state));
    }
    if policy.faults.has(Fault::AssociatedIpSent) {
        b = b.option(DhcpOption::AssociatedIp(vec![binding.addr]));
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

/// Applies message-level defects to everything a faulty server sends.
pub fn apply_faults(msg: &mut RawMessage, faults: &FaultSet) {
    use crate::wire::OptionItem;
    if faults.is_empty() {
        return;
    }
    if faults.has(Fault::WrongXid) {
        msg.header.xid = msg.header.xid.wrapping_add(1);
    }
    if faults.has(Fault::RequestOpInReplies) {
        msg.header.op = crate::wire::message::BOOTREQUEST;
    }
    if faults.has(Fault::WrongCookie) {
        msg.cookie = [0; 4];
    }
    let is_server_id =
        |i: &OptionItem| matches!(i, OptionItem::Tlv { code: c, .. } if *c == code::SERVER_ID);
    if faults.has(Fault::NoServerId) {
        msg.options.retain(|i| !is_server_id(i));
    }
    if faults.has(Fault::ServerIdInEveryReply) && !msg.options.iter().any(is_server_id) {
        msg.options.insert(
            1.min(msg.options.len()),
            DhcpOption::ServerId(Ipv4Addr::LOCALHOST).to_item(),
        );
    }
    if faults.has(Fault::NulInStatusText) {
        for item in &mut msg.options {
            if let OptionItem::Tlv { code: c, data } = item {
                if *c == code::STATUS_CODE {
                    let mut text = data.to_vec();
                    text.extend_from_slice(b"a\0b");
                    *data = text.into();
                }
            }
        }
    }
    let end = msg.options.iter().position(|i| *i == OptionItem::End);
    if faults.has(Fault::AuthenticationOption) {
        let auth = OptionItem::tlv(code::AUTHENTICATION, vec![0u8; 11]);
        match end {
            Some(at) => msg.options.insert(at, auth),
            None => msg.options.push(auth),
        }
    }
    if faults.has(Fault::NoEnd) {
        msg.options.retain(|i| *i != OptionItem::End);
    }
}
