//! Building the server's binding replies (RFC 6926 §8.3, RFC 4388 §6.4.2), shared
//! by bulk and active queries.

use crate::reference::faults::{Fault, FaultSet};
use crate::reference::leases::{default_renewal_times, Binding};
use crate::reference::variants::{Variant, VariantSet};
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

/// Options a binding reply fills in itself, never from what the client sent.
const LEASEQUERY_OWN: &[u8] = &[
    code::SERVER_ID,
    code::LEASE_TIME,
    code::RENEWAL_TIME,
    code::REBINDING_TIME,
    code::CLIENT_ID,
    code::RELAY_AGENT_INFO,
    code::CLIENT_LAST_TRANSACTION_TIME,
    code::ASSOCIATED_IP,
    code::BASE_TIME,
    code::START_TIME_OF_STATE,
    code::DHCP_STATE,
    code::DATA_SOURCE,
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
    /// Conformant choices (none by default).
    pub variants: &'a VariantSet,
}

impl ReplyPolicy<'_> {
    fn wants(&self, option: u8) -> bool {
        let suppressed =
            self.suppress.contains(&option) && !self.faults.has(Fault::SuppressionIgnored);
        let dropped = match option {
            code::BASE_TIME => Fault::NoBaseTime,
            code::START_TIME_OF_STATE => Fault::NoStartTimeOfState,
            code::LEASE_TIME => Fault::NoLeaseTime,
            code::CLIENT_LAST_TRANSACTION_TIME => Fault::NoClientLastTransactionTime,
            code::RELAY_AGENT_INFO => Fault::NoRelayAgentInfo,
            _ => return self.prl.contains(&option) && !suppressed,
        };
        self.prl.contains(&option) && !suppressed && !self.faults.has(dropped)
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
    // A DHCPLEASEUNASSIGNED may or may not name the previous client (AMB-25).
    let names_client = active || !policy.variants.has(Variant::UnassignedWithoutClient);
    let mut b = MessageBuilder::reply(kind, xid).ciaddr(ciaddr);
    if names_client {
        b = b.hardware(binding.htype, &binding.chaddr);
    }
    if let Some(id) = policy.server_id {
        b = b.option(DhcpOption::ServerId(id));
    }
    if policy.variants.has(Variant::SuccessStatusWithText) {
        b = b.option(DhcpOption::Status(Status::new(
            StatusCode::Success,
            "binding reported",
        )));
    }
    if policy.wants(code::BASE_TIME) {
        b = b.option(DhcpOption::BaseTime(now));
    }
    if policy.wants(code::LEASE_TIME) {
        if let Some(expires) = binding.expires.filter(|_| active) {
            let mut left = expires.saturating_sub(now);
            if policy.faults.has(Fault::LeaseASecondTooLong) {
                left = left.saturating_add(1);
            }
            b = b.option(DhcpOption::LeaseTime(left));
        }
    }
    // T1 and T2 (RFC 2131 defaults: half and seven eighths of the lease)
    // only while the lease is active and they are still ahead (RFC 4388 §6.4.2).
    let lease_times = match binding.expires.filter(|_| active) {
        Some(expires) => {
            let granted = expires.saturating_sub(binding.last_transaction);
            let (t1, t2) = default_renewal_times(granted);
            Some((
                binding.last_transaction.saturating_add(t1),
                binding.last_transaction.saturating_add(t2),
            ))
        }
        None if policy.faults.has(Fault::RenewalTimeWhenUnassigned) => {
            Some((now.saturating_add(1800), now.saturating_add(3150)))
        }
        None => None,
    };
    if let Some((t1, t2)) = lease_times {
        if policy.wants(code::RENEWAL_TIME) && t1 > now {
            let late = u32::from(policy.faults.has(Fault::RenewalTimeASecondTooLong));
            b = b.option(DhcpOption::RenewalTime((t1 - now).saturating_add(late)));
        }
        if policy.wants(code::REBINDING_TIME) && t2 > now {
            b = b.option(DhcpOption::RebindingTime(t2 - now));
        }
    }
    let ever_bound = binding.ever_bound();
    if policy.wants(code::START_TIME_OF_STATE) && (ever_bound || binding.state_since > 0) {
        let since = if policy.faults.has(Fault::AbsoluteStartTimeOfState) {
            binding.state_since
        } else {
            now.saturating_sub(binding.state_since)
        };
        b = b.option(DhcpOption::StartTimeOfState(since));
    }
    if policy.wants(code::CLIENT_LAST_TRANSACTION_TIME) && ever_bound {
        let cltt = if policy.faults.has(Fault::AbsoluteClientLastTransactionTime) {
            binding.last_transaction
        } else {
            now.saturating_sub(binding.last_transaction)
        };
        b = b.option(DhcpOption::ClientLastTransactionTime(cltt));
    }
    let state_left_out = active && policy.variants.has(Variant::NoStateInLeaseActive);
    if policy.wants(code::DHCP_STATE) && !state_left_out {
        let state = match binding.state {
            DhcpState::Active if policy.faults.has(Fault::StateMismatch) => DhcpState::Expired,
            DhcpState::Abandoned if policy.faults.has(Fault::AbandonedReportedAsExpired) => {
                DhcpState::Expired
            }
            other => other,
        };
        b = b.option(DhcpOption::DhcpState(state));
    }
    if policy.wants(code::DATA_SOURCE) {
        // A single server: no flag is set (RFC 6926 §6.2.8).
        if policy.faults.has(Fault::DataSourceTwoOctets) {
            b = b.item(crate::wire::OptionItem::tlv(code::DATA_SOURCE, vec![0, 0]));
        } else {
            b = b.option(DhcpOption::DataSource(crate::wire::DataSource(0)));
        }
    }
    if policy.faults.has(Fault::AssociatedIpSent) {
        b = b.option(DhcpOption::AssociatedIp(vec![binding.addr]));
    }
    if !names_client {
        return b.build();
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
    // Options the client itself sent carry the client's value (RFC 6926
    // §8.3); the leasequery options above are the server's own.
    let own = |c: u8| LEASEQUERY_OWN.contains(&c);
    if !policy.faults.has(Fault::ClientOptionsNotReturned) {
        for (c, data) in &binding.client_options {
            if policy.wants(*c) && !own(*c) {
                b = b.item(crate::wire::OptionItem::tlv(*c, data.to_vec()));
            }
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
        // The top bit flipped: an xid no request had, never a neighbour's.
        msg.header.xid ^= 0x8000_0000;
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
    if faults.has(Fault::BaseTimeFrom1900) {
        // Seconds from 1900 to 1970, the offset of the NTP epoch.
        const FROM_1900: u32 = 2_208_988_800;
        for item in &mut msg.options {
            if let OptionItem::Tlv { code: c, data } = item {
                if let (code::BASE_TIME, Ok(bytes)) = (*c, <[u8; 4]>::try_from(data.as_ref())) {
                    let shifted = u32::from_be_bytes(bytes).wrapping_add(FROM_1900);
                    *data = shifted.to_be_bytes().to_vec().into();
                }
            }
        }
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
        // A PAD in END's place keeps the message at its size: the defect is
        // the missing END (WIRE-04), not a message below 244 octets (WIRE-01).
        for item in &mut msg.options {
            if *item == OptionItem::End {
                *item = OptionItem::Pad;
            }
        }
    }
}
