//! A small DHCPv4 server front (RFC 2131) for relayed traffic only: DISCOVER,
//! REQUEST, RELEASE and DECLINE arriving through a relay agent (giaddr set)
//! change the lease store the same way a real server's would, so the harness can
//! drive bindings through the DHCP protocol itself. Option 82 from the relay is
//! stored with the binding (RFC 4388 §6.4.2).

use super::leases::{default_renewal_times, Client, LeaseStore};
use crate::wire::options::code;
use crate::wire::{DhcpOption, DhcpState, MessageBuilder, MessageType, RawMessage, Received};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Requested IP address option (RFC 2132 §9.1).
const REQUESTED_IP: u8 = 50;
const MAX_MESSAGE_SIZE: u8 = 57;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrontError {
    #[error("not relayed (giaddr is 0.0.0.0); only relayed requests are served")]
    NotRelayed,
    #[error("not a BOOTREQUEST")]
    NotRequest,
    #[error("message type: {0}")]
    MessageType(String),
    #[error("{0} is not handled")]
    Unhandled(MessageType),
    #[error(transparent)]
    Lease(#[from] super::leases::LeaseError),
}

/// Options of a client message that drive the DHCP exchange itself rather
/// than describe the client, so they are not kept with its binding.
const EXCHANGE_OPTIONS: &[u8] = &[
    REQUESTED_IP,
    code::LEASE_TIME,
    code::OVERLOAD,
    code::MESSAGE_TYPE,
    code::SERVER_ID,
    code::PARAMETER_REQUEST_LIST,
    MAX_MESSAGE_SIZE,
    code::CLIENT_ID,
    code::RELAY_AGENT_INFO,
];

fn client_of(msg: &Received) -> Client {
    Client {
        htype: msg.header().htype,
        chaddr: msg.hardware_address().to_vec(),
        client_id: msg.client_id().ok().flatten(),
        relay_info: msg.relay_agent_info().ok().flatten(),
        options: msg
            .values()
            .filter(|(c, _)| !EXCHANGE_OPTIONS.contains(c))
            .map(|(c, data)| (c, bytes::Bytes::copy_from_slice(&data)))
            .collect(),
    }
}

fn requested_ip(msg: &Received) -> Option<Ipv4Addr> {
    let data = msg.option_data(REQUESTED_IP).ok().flatten()?;
    let octets: [u8; 4] = data.as_ref().try_into().ok()?;
    Some(Ipv4Addr::from(octets))
}

fn reply(
    kind: MessageType,
    request: &Received,
    yiaddr: Ipv4Addr,
    server_id: Ipv4Addr,
    lease: Option<u32>,
) -> RawMessage {
    let header = request.header();
    let mut b = MessageBuilder::reply(kind, header.xid)
        .hardware(header.htype, header.hardware_address())
        .option(DhcpOption::ServerId(server_id));
    if let Some(t) = lease {
        // T1 and T2 as leasequery replies report them (reference::replies).
        let (t1, t2) = default_renewal_times(t);
        b = b
            .option(DhcpOption::LeaseTime(t))
            .option(DhcpOption::RenewalTime(t1))
            .option(DhcpOption::RebindingTime(t2));
    }
    if let Ok(Some(info)) = request.relay_agent_info() {
        b = b.option(DhcpOption::RelayAgentInfo(info));
    }
    let mut msg = b.build();
    msg.header.yiaddr = yiaddr;
    msg.header.giaddr = header.giaddr;
    msg.header.flags = header.flags;
    msg
}

/// Addresses offered and not yet requested, held for the client they were
/// offered to for [`OFFER_HOLD`] seconds, so concurrent clients do not get the
/// same offer; or, as RFC 2131 §4.3.1 also allows, held for no one: the first
/// REQUEST takes the address and the others get DHCPNAK.
#[derive(Debug)]
pub struct Offers {
    held: HashMap<Ipv4Addr, (Vec<u8>, u32)>,
    hold: u32,
}

pub const OFFER_HOLD: u32 = 10;

impl Default for Offers {
    fn default() -> Self {
        Offers {
            held: HashMap::new(),
            hold: OFFER_HOLD,
        }
    }
}

impl Offers {
    /// Offers that reserve nothing.
    pub fn unreserved() -> Self {
        Offers {
            hold: 0,
            ..Offers::default()
        }
    }

    fn held_for_other(&self, addr: Ipv4Addr, chaddr: &[u8], now: u32) -> bool {
        self.held
            .get(&addr)
            .is_some_and(|(mac, until)| mac != chaddr && *until > now)
    }
}

/// Handles one relayed request at server time `now`; returns the reply to send
/// back to the relay agent, if the message calls for one.
pub fn handle(
    store: &mut LeaseStore,
    offers: &mut Offers,
    msg: &Received,
    server_id: Ipv4Addr,
    now: u32,
) -> Result<Option<RawMessage>, FrontError> {
    let header = msg.header();
    if header.giaddr.is_unspecified() {
        return Err(FrontError::NotRelayed);
    }
    if header.op != crate::wire::message::BOOTREQUEST {
        return Err(FrontError::NotRequest);
    }
    let kind = msg
        .message_type()
        .map_err(|e| FrontError::MessageType(e.to_string()))?;
    let client = client_of(msg);
    let lease_time = store.lease_time();
    match kind {
        MessageType::Discover => {
            let usable = |a: Ipv4Addr| !offers.held_for_other(a, &client.chaddr, now);
            let free = |b: &super::leases::Binding| {
                b.state != DhcpState::Active && b.state != DhcpState::Abandoned
            };
            let offered = requested_ip(msg)
                .filter(|a| {
                    usable(*a)
                        && store.get(*a).is_some_and(|b| {
                            b.state != DhcpState::Active || b.chaddr == client.chaddr
                        })
                })
                .or_else(|| store.pick_address(&client).filter(|a| usable(*a)))
                .or_else(|| {
                    let fresh = store
                        .bindings()
                        .find(|b| free(b) && !b.ever_bound() && usable(b.addr));
                    fresh
                        .or_else(|| store.bindings().find(|b| free(b) && usable(b.addr)))
                        .map(|b| b.addr)
                });
            if let Some(a) = offered.filter(|_| offers.hold > 0) {
                offers
                    .held
                    .insert(a, (client.chaddr.clone(), now.saturating_add(offers.hold)));
            }
            Ok(offered.map(|a| reply(MessageType::Offer, msg, a, server_id, Some(lease_time))))
        }
        MessageType::Request => {
            let wanted = requested_ip(msg)
                .or_else(|| (!msg.ciaddr().is_unspecified()).then_some(msg.ciaddr()));
            let taken_by_other = |a: Ipv4Addr| {
                store
                    .get(a)
                    .is_some_and(|b| b.state == DhcpState::Active && b.chaddr != client.chaddr)
            };
            match wanted {
                Some(a) if store.get(a).is_none() || taken_by_other(a) => Ok(Some(reply(
                    MessageType::Nak,
                    msg,
                    Ipv4Addr::UNSPECIFIED,
                    server_id,
                    None,
                ))),
                _ => {
                    let addr = store.bind(wanted, client, now)?;
                    offers.held.remove(&addr);
                    Ok(Some(reply(
                        MessageType::Ack,
                        msg,
                        addr,
                        server_id,
                        Some(lease_time),
                    )))
                }
            }
        }
        MessageType::Release => {
            let addr = msg.ciaddr();
            if store
                .get(addr)
                .is_some_and(|b| b.chaddr == client.chaddr && b.state == DhcpState::Active)
            {
                store.release(addr, now)?;
            }
            Ok(None)
        }
        MessageType::Decline => {
            if let Some(addr) = requested_ip(msg) {
                store.abandon(addr, now)?;
            }
            Ok(None)
        }
        other => Err(FrontError::Unhandled(other)),
    }
}
