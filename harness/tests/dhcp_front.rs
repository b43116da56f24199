//! The reference server's DHCP front, driven by the harness's relay agent over
//! UDP on loopback.

use alq_harness::iut::relay::{RelayAgent, RelayedClient};
use alq_harness::net::clock::Clock;
use alq_harness::net::server::Shared;
use alq_harness::net::udp::serve_dhcp;
use alq_harness::reference::dhcp_front;
use alq_harness::reference::leases::LeaseStore;
use alq_harness::wire::{DhcpState, MessageBuilder, MessageType, Received, RelayAgentInfo};
use bytes::Bytes;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

fn client(last: u8, remote: &'static [u8]) -> RelayedClient {
    RelayedClient {
        mac: [2, 0, 0, 0, 0, last],
        client_id: Some(Bytes::from(vec![1, 2, 0, 0, 0, 0, last])),
        relay_info: RelayAgentInfo::default()
            .with(1, Bytes::from(format!("port-{last}")))
            .with(2, remote)
            .with(12, &b"relay-1"[..]),
        options: Vec::new(),
    }
}

async fn front(offers: dhcp_front::Offers) -> (std::sync::Arc<Shared>, SocketAddr) {
    let pool = (10..14).map(|i| Ipv4Addr::new(192, 0, 2, i));
    let shared = Shared::new(
        LeaseStore::new(pool, 64, 600, 1_800_000_000),
        Clock::starting_at(1_800_000_000),
    );
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(serve_dhcp(
        socket,
        shared.clone(),
        Ipv4Addr::LOCALHOST,
        offers,
    ));
    (shared, addr)
}

#[test]
fn dhcp_front_reserves_nothing_and_relays_share_one_port_and_four_doras_at_once_all_bind() {
    // As four scenarios of `--jobs 4` would: four runtimes, one relay
    // address and port, a server that gives every DISCOVER the same offer.
    let port = std::net::UdpSocket::bind("127.0.0.2:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = tokio::runtime::Runtime::new().unwrap();
    let (_shared, addr) = server.block_on(front(dhcp_front::Offers::unreserved()));
    let bound: Vec<Ipv4Addr> = std::thread::scope(|scope| {
        let jobs: Vec<_> = (1..=4u8)
            .map(|n| {
                scope.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        let relay = RelayAgent::new(
                            SocketAddr::from(([127, 0, 0, 2], port)),
                            addr,
                            Duration::from_secs(5),
                        )
                        .unwrap();
                        relay.dora(&client(n, b"remote")).await.map(|b| b.addr)
                    })
                })
            })
            .collect();
        jobs.into_iter()
            .map(|j| j.join().unwrap().unwrap())
            .collect()
    });
    let distinct: std::collections::HashSet<_> = bound.iter().collect();
    assert_eq!(distinct.len(), 4, "{bound:?}");
}

#[tokio::test]
async fn relayed_dora_release_and_decline_change_the_store() {
    let (shared, addr) = front(dhcp_front::Offers::default()).await;
    let relay = RelayAgent::new(
        SocketAddr::from(([127, 0, 0, 2], 0)),
        addr,
        Duration::from_secs(5),
    )
    .unwrap();
    let first = relay.dora(&client(1, b"remote-A")).await.unwrap();
    let b = relay.dora(&client(2, b"remote-B")).await.unwrap().addr;
    let a = first.addr;
    assert_ne!(a, b);
    // The times the DHCPACK granted come back with the address: the lease,
    // and T1 and T2 at RFC 2131's defaults.
    let lease = shared.store().lease_time();
    let times = first.grant.unwrap();
    assert_eq!(
        (times.lease, times.t1, times.t2),
        (lease, Some(lease / 2), Some(lease / 8 * 7))
    );
    {
        let store = shared.store();
        let binding = store.get(a).unwrap();
        assert_eq!(binding.state, DhcpState::Active);
        assert_eq!(binding.chaddr, vec![2, 0, 0, 0, 0, 1]);
        let info = binding.relay_info.as_ref().unwrap();
        assert_eq!(info.remote_id().map(|r| &r[..]), Some(&b"remote-A"[..]));
        assert_eq!(info.relay_id().map(|r| &r[..]), Some(&b"relay-1"[..]));
    }
    let renewed = relay.renew(&client(1, b"remote-A"), a).await.unwrap();
    assert_eq!(renewed.map(|t| t.lease), Some(lease));
    relay
        .release(&client(1, b"remote-A"), a, None)
        .await
        .unwrap();
    relay
        .decline(&client(2, b"remote-B"), b, None)
        .await
        .unwrap();
    let mut states = (DhcpState::Active, DhcpState::Active);
    for _ in 0..100 {
        states = {
            let store = shared.store();
            (store.get(a).unwrap().state, store.get(b).unwrap().state)
        };
        if states == (DhcpState::Released, DhcpState::Abandoned) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(states, (DhcpState::Released, DhcpState::Abandoned));
    // The same client gets its old address back.
    assert_eq!(relay.dora(&client(1, b"remote-A")).await.unwrap().addr, a);
}

#[test]
fn requests_that_were_not_relayed_are_refused() {
    let mut store = LeaseStore::new([Ipv4Addr::new(192, 0, 2, 10)], 8, 600, 0);
    let discover = MessageBuilder::request(MessageType::Discover, 1)
        .hardware(1, &[2, 0, 0, 0, 0, 1])
        .build();
    let err = dhcp_front::handle(
        &mut store,
        &mut dhcp_front::Offers::default(),
        &Received::from_raw(&discover),
        Ipv4Addr::LOCALHOST,
        0,
    )
    .unwrap_err();
    assert_eq!(err, dhcp_front::FrontError::NotRelayed);
}

#[test]
fn concurrent_discovers_get_different_offers() {
    let mut store = LeaseStore::new((10..12).map(|i| Ipv4Addr::new(192, 0, 2, i)), 8, 600, 0);
    let mut offers = dhcp_front::Offers::default();
    let discover = |mac: u8| {
        let mut m = MessageBuilder::request(MessageType::Discover, 1)
            .hardware(1, &[2, 0, 0, 0, 0, mac])
            .build();
        m.header.giaddr = Ipv4Addr::new(127, 0, 0, 2);
        m
    };
    let mut offer = |mac: u8| {
        dhcp_front::handle(
            &mut store,
            &mut offers,
            &Received::from_raw(&discover(mac)),
            Ipv4Addr::LOCALHOST,
            1,
        )
        .unwrap()
        .map(|m| m.header.yiaddr)
    };
    let first = offer(1);
    let second = offer(2);
    assert!(first.is_some() && second.is_some());
    assert_ne!(first, second);
    assert_eq!(offer(3), None, "both addresses are held");
    assert_eq!(offer(1), first, "a client's own offer is repeated");
}

#[test]
fn unreserved_offers_give_concurrent_discovers_the_same_address() {
    let mut store = LeaseStore::new((10..12).map(|i| Ipv4Addr::new(192, 0, 2, i)), 8, 600, 0);
    let mut offers = dhcp_front::Offers::unreserved();
    let mut offer = |mac: u8| {
        let mut m = MessageBuilder::request(MessageType::Discover, 1)
            .hardware(1, &[2, 0, 0, 0, 0, mac])
            .build();
        m.header.giaddr = Ipv4Addr::new(127, 0, 0, 2);
        dhcp_front::handle(
            &mut store,
            &mut offers,
            &Received::from_raw(&m),
            Ipv4Addr::LOCALHOST,
            1,
        )
        .unwrap()
        .map(|m| m.header.yiaddr)
    };
    let first = offer(1);
    assert!(first.is_some());
    assert_eq!(offer(2), first);
}

#[test]
fn a_request_for_an_address_held_by_another_client_is_nakked() {
    let addr = Ipv4Addr::new(192, 0, 2, 10);
    let mut store = LeaseStore::new([addr], 8, 600, 0);
    let request = |mac: u8| {
        let mut m = MessageBuilder::request(MessageType::Request, 1)
            .hardware(1, &[2, 0, 0, 0, 0, mac])
            .item(alq_harness::wire::OptionItem::tlv(
                50,
                addr.octets().to_vec(),
            ))
            .build();
        m.header.giaddr = Ipv4Addr::new(127, 0, 0, 2);
        m
    };
    let mut offers = dhcp_front::Offers::default();
    let ack = dhcp_front::handle(
        &mut store,
        &mut offers,
        &Received::from_raw(&request(1)),
        Ipv4Addr::LOCALHOST,
        5,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        Received::from_raw(&ack).message_type(),
        Ok(MessageType::Ack)
    );
    assert_eq!(ack.header.yiaddr, addr);
    let nak = dhcp_front::handle(
        &mut store,
        &mut offers,
        &Received::from_raw(&request(2)),
        Ipv4Addr::LOCALHOST,
        6,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        Received::from_raw(&nak).message_type(),
        Ok(MessageType::Nak)
    );
}

/// A DHCP server that records every datagram the relay sends and answers a
/// DISCOVER with an OFFER and a REQUEST with an ACK, both naming server
/// identifier `SERVER_ID`.
async fn recording_server() -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<Received>>>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let msg = Received::decode(Bytes::copy_from_slice(&buf[..n])).unwrap();
            let answer = match msg.message_type().unwrap() {
                MessageType::Discover => Some(MessageType::Offer),
                MessageType::Request => Some(MessageType::Ack),
                _ => None,
            };
            if let Some(kind) = answer {
                let mut reply = MessageBuilder::reply(kind, msg.xid())
                    .option(alq_harness::wire::DhcpOption::ServerId(SERVER_ID))
                    .option(alq_harness::wire::DhcpOption::LeaseTime(600))
                    .build();
                reply.header.yiaddr = LEASED;
                socket.send_to(&reply.encode(), from).await.unwrap();
            }
            record.lock().unwrap().push(msg);
        }
    });
    (addr, seen)
}

const SERVER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
const LEASED: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);
const CLIENT_ID: u8 = 61;
const REQUESTED_IP: u8 = 50;
const SERVER_IDENTIFIER: u8 = 54;
const RELAY_AGENT_INFO: u8 = 82;

/// What the relay sends, held to RFC 2131 (Table 5: which options a client
/// message carries in each state; §4.1: giaddr and hops from a relay) and
/// RFC 3046 (option 82 holds one or more sub-options and comes last).
#[tokio::test]
async fn what_the_relay_sends_conforms_to_rfc_2131_and_rfc_3046() {
    let (server, seen) = recording_server().await;
    let relay = RelayAgent::new(
        "127.0.0.1:0".parse().unwrap(),
        server,
        Duration::from_secs(2),
    )
    .unwrap();
    let bare = RelayedClient {
        relay_info: RelayAgentInfo::default(),
        ..client(3, b"unused")
    };
    let tagged = client(4, b"remote-B");
    for c in [&bare, &tagged] {
        let bound = relay.dora(c).await.unwrap();
        assert_eq!(bound.addr, LEASED);
        relay.renew(c, LEASED).await.unwrap();
        relay.release(c, LEASED, None).await.unwrap();
        relay.decline(c, LEASED, None).await.unwrap();
    }
    for _ in 0..100 {
        if seen.lock().unwrap().len() == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = seen.lock().unwrap();
    let kinds: Vec<MessageType> = seen.iter().map(|m| m.message_type().unwrap()).collect();
    use MessageType::*;
    assert_eq!(
        kinds,
        [Discover, Request, Request, Release, Decline].repeat(2),
        "DORA, renewal, release and decline of each client"
    );
    for (i, msg) in seen.iter().enumerate() {
        let kind = kinds[i];
        let renewing = kind == Request && i % 5 == 2;
        let selecting = kind == Request && !renewing;
        let h = msg.header();
        assert_eq!(h.op, 1, "{kind}: BOOTREQUEST");
        assert_eq!((h.htype, h.hlen), (1, 6), "{kind}");
        assert_eq!(
            h.giaddr,
            Ipv4Addr::LOCALHOST,
            "{kind}: giaddr is the relay's"
        );
        assert!(h.hops >= 1, "{kind}: a relay counts its hop");
        assert!(msg.has(CLIENT_ID), "{kind}: the client identifier is kept");
        // Table 5, column by column.
        let ciaddr_set = matches!(kind, Release) || renewing;
        assert_eq!(
            h.ciaddr,
            if ciaddr_set {
                LEASED
            } else {
                Ipv4Addr::UNSPECIFIED
            },
            "{kind} (renewing: {renewing}): ciaddr"
        );
        assert_eq!(
            msg.has(REQUESTED_IP),
            selecting || kind == Decline,
            "{kind} (renewing: {renewing}): requested IP address"
        );
        assert_eq!(
            msg.has(SERVER_IDENTIFIER),
            selecting || matches!(kind, Release | Decline),
            "{kind} (renewing: {renewing}): server identifier"
        );
        if msg.has(SERVER_IDENTIFIER) {
            assert_eq!(msg.server_id().unwrap(), Some(SERVER_ID), "{kind}");
        }
        // RFC 3046: present only with sub-options, each one whole, and
        // last before END.
        let codes: Vec<u8> = msg.option_codes().collect();
        if i < 5 {
            assert!(
                !msg.has(RELAY_AGENT_INFO),
                "{kind}: no sub-option, no option 82"
            );
        } else {
            assert_eq!(codes.last(), Some(&RELAY_AGENT_INFO), "{kind}: {codes:?}");
            let info = msg.relay_agent_info().unwrap().unwrap();
            assert_eq!(info.sub_options.len(), 3, "{kind}");
            assert!(
                info.sub_options.iter().all(|(_, v)| !v.is_empty()),
                "{kind}"
            );
        }
        assert!(msg.has_end(), "{kind}");
    }
}
