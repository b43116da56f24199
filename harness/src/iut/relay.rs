//! The harness as a DHCP relay agent (RFC 2131 §4.1, RFC 3046): relayed DORA,
//! RELEASE and DECLINE sent to a server's UDP port make its bindings change the
//! way real clients would, with option 82 (circuit-id, remote-id, relay-id)
//! when the client has any of them. Each message carries what RFC 2131's
//! Table 5 asks of a client in its state: the server identifier in a
//! selecting REQUEST, a RELEASE and a DECLINE, the requested address in a
//! selecting REQUEST and a DECLINE, neither in a renewal.

use crate::wire::{
    DhcpOption, MessageBuilder, MessageType, OptionItem, RawMessage, Received, RelayAgentInfo,
};
use bytes::Bytes;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::net::UdpSocket;

const REQUESTED_IP: u8 = 50;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("relay socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot bind the relay address {local}: {error}")]
    Bind {
        local: SocketAddr,
        error: std::io::Error,
    },
    #[error("no {expected} from {server} within {}", crate::scenario::expr::Shown(*waited))]
    NoReply {
        expected: &'static str,
        server: SocketAddr,
        waited: Duration,
    },
    #[error("server answered {0} instead of {1}")]
    Unexpected(String, &'static str),
}

/// A client as the relay presents it.
#[derive(Debug, Clone)]
pub struct RelayedClient {
    pub mac: [u8; 6],
    pub client_id: Option<Bytes>,
    pub relay_info: RelayAgentInfo,
    /// Further options the client sends in DISCOVER and REQUEST.
    pub options: Vec<(u8, Bytes)>,
}

pub struct RelayAgent {
    local: SocketAddr,
    server: SocketAddr,
    giaddr: Ipv4Addr,
    wait: Duration,
    /// The server identifier (54) of the DHCPACK that bound each address:
    /// a RELEASE or DECLINE of it names that server.
    server_ids: std::sync::Mutex<std::collections::HashMap<Ipv4Addr, Ipv4Addr>>,
}

/// One relayed exchange at a time in this process. Every scenario running
/// at once relays from the same address and port, and a server that does
/// not reserve what it offers (RFC 2131 §4.3.1) gives DORAs that overlap the
/// same address, so all but one would be refused.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// xids of relayed requests, unique in the process: a late answer to one
/// exchange cannot pass for the answer to the next on the same port.
static NEXT_XID: AtomicU32 = AtomicU32::new(0x5eed_0000);

/// Attempts of a DORA that a DHCPNAK interrupts.
const DORA_ATTEMPTS: u32 = 3;

impl RelayAgent {
    /// An agent that relays from `local` (its address is the giaddr) to
    /// `server`, waiting `wait` for each answer. The socket is bound for
    /// each exchange only, so scenarios running at once share the port.
    pub fn new(local: SocketAddr, server: SocketAddr, wait: Duration) -> Result<Self, RelayError> {
        let giaddr = match local.ip() {
            std::net::IpAddr::V4(a) => a,
            std::net::IpAddr::V6(_) => {
                return Err(RelayError::Io(std::io::Error::other(
                    "the relay address must be IPv4",
                )))
            }
        };
        Ok(RelayAgent {
            local,
            server,
            giaddr,
            wait,
            server_ids: Default::default(),
        })
    }

    /// The server identifier a RELEASE or DECLINE of `addr` carries: the
    /// one its DHCPACK named, else `fallback`, else the address the agent
    /// sends to (a server's identifier is one of its addresses).
    fn server_id_for(&self, addr: Ipv4Addr, fallback: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        let learned = self
            .server_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&addr)
            .copied();
        learned.or(fallback).or(match self.server.ip() {
            std::net::IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
            _ => None,
        })
    }

    fn learn_server_id(&self, addr: Ipv4Addr, reply: &RawMessage) {
        if let Ok(Some(id)) = Received::from_raw(reply).server_id() {
            self.server_ids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(addr, id);
        }
    }

    async fn socket(&self) -> Result<UdpSocket, RelayError> {
        UdpSocket::bind(self.local)
            .await
            .map_err(|error| RelayError::Bind {
                local: self.local,
                error,
            })
    }

    fn request(&self, kind: MessageType, client: &RelayedClient) -> MessageBuilder {
        let xid = NEXT_XID.fetch_add(1, Ordering::Relaxed);
        let mut b = MessageBuilder::request(kind, xid).hardware(1, &client.mac);
        if let Some(id) = &client.client_id {
            b = b.option(DhcpOption::ClientId(id.clone()));
        }
        for (code, data) in &client.options {
            b = b.item(crate::wire::OptionItem::tlv(*code, data.to_vec()));
        }
        b
    }

    /// The message as relayed: option 82 last before END, and only when
    /// there is a sub-option to carry (RFC 3046 §2: it holds one or more).
    fn finish(&self, mut b: MessageBuilder, client: &RelayedClient) -> RawMessage {
        if !client.relay_info.sub_options.is_empty() {
            b = b.option(DhcpOption::RelayAgentInfo(client.relay_info.clone()));
        }
        let mut msg = b.build();
        msg.header.giaddr = self.giaddr;
        msg.header.hops = 1;
        msg
    }

    async fn exchange(
        &self,
        socket: &UdpSocket,
        msg: &RawMessage,
        expected: MessageType,
        label: &'static str,
    ) -> Result<RawMessage, RelayError> {
        socket.send_to(&msg.encode(), self.server).await?;
        let mut buf = vec![0u8; 4096];
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            // A server flooding other datagrams keeps recv ready; the
            // deadline still holds.
            let received = crate::net::deadline::by(deadline, socket.recv_from(&mut buf)).await;
            let Some(received) = received else {
                return Err(RelayError::NoReply {
                    expected: label,
                    server: self.server,
                    waited: self.wait,
                });
            };
            let (n, _) = received?;
            let Ok(reply) = RawMessage::decode(buf.get(..n).unwrap_or_default()) else {
                continue;
            };
            if reply.header.xid != msg.header.xid {
                continue;
            }
            return match Received::from_raw(&reply).message_type() {
                Ok(t) if t == expected => Ok(reply),
                Ok(t) => Err(RelayError::Unexpected(t.to_string(), label)),
                Err(e) => Err(RelayError::Unexpected(e.to_string(), label)),
            };
        }
    }

    /// DISCOVER, OFFER, REQUEST, ACK; returns the address bound. A DHCPNAK
    /// (a client elsewhere took the offered address meanwhile) restarts the
    /// exchange after a pause, as a client would, [`DORA_ATTEMPTS`] times
    /// in all.
    pub async fn dora(&self, client: &RelayedClient) -> Result<Bound, RelayError> {
        let _turn = TURN.lock().await;
        let socket = self.socket().await?;
        let mut attempt = 1;
        loop {
            match self.dora_once(&socket, client).await {
                Err(RelayError::Unexpected(got, _))
                    if got == "DHCPNAK" && attempt < DORA_ATTEMPTS =>
                {
                    tokio::time::sleep(Duration::from_millis(100) * attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn dora_once(
        &self,
        socket: &UdpSocket,
        client: &RelayedClient,
    ) -> Result<Bound, RelayError> {
        let discover = self.request(MessageType::Discover, client);
        let discover = self.finish(discover, client);
        let offer = self
            .exchange(socket, &discover, MessageType::Offer, "DHCPOFFER")
            .await?;
        let offered = offer.header.yiaddr;
        let mut request = self
            .request(MessageType::Request, client)
            .item(OptionItem::tlv(REQUESTED_IP, offered.octets().to_vec()));
        if let Ok(Some(id)) = Received::from_raw(&offer).server_id() {
            request = request.option(DhcpOption::ServerId(id));
        }
        let request = self.finish(request, client);
        let ack = self
            .exchange(socket, &request, MessageType::Ack, "DHCPACK")
            .await?;
        self.learn_server_id(ack.header.yiaddr, &ack);
        Ok(Bound {
            addr: ack.header.yiaddr,
            grant: granted(&ack),
        })
    }

    /// A renewal: REQUEST with ciaddr set, answered by ACK; the times the
    /// ACK grants.
    pub async fn renew(
        &self,
        client: &RelayedClient,
        addr: Ipv4Addr,
    ) -> Result<Option<Times>, RelayError> {
        let _turn = TURN.lock().await;
        let socket = self.socket().await?;
        let request = self.request(MessageType::Request, client).ciaddr(addr);
        let request = self.finish(request, client);
        self.exchange(&socket, &request, MessageType::Ack, "DHCPACK")
            .await
            .map(|ack| granted(&ack))
    }

    /// RELEASE of `addr` (no reply is expected), naming the server that
    /// bound it, or `server_id` where this agent did not bind it.
    pub async fn release(
        &self,
        client: &RelayedClient,
        addr: Ipv4Addr,
        server_id: Option<Ipv4Addr>,
    ) -> Result<(), RelayError> {
        let mut release = self.request(MessageType::Release, client).ciaddr(addr);
        if let Some(id) = self.server_id_for(addr, server_id) {
            release = release.option(DhcpOption::ServerId(id));
        }
        let release = self.finish(release, client);
        self.send(&release).await
    }

    /// DECLINE of `addr` (no reply is expected), naming the server as a
    /// RELEASE does.
    pub async fn decline(
        &self,
        client: &RelayedClient,
        addr: Ipv4Addr,
        server_id: Option<Ipv4Addr>,
    ) -> Result<(), RelayError> {
        let mut decline = self
            .request(MessageType::Decline, client)
            .item(OptionItem::tlv(REQUESTED_IP, addr.octets().to_vec()));
        if let Some(id) = self.server_id_for(addr, server_id) {
            decline = decline.option(DhcpOption::ServerId(id));
        }
        let decline = self.finish(decline, client);
        self.send(&decline).await
    }

    async fn send(&self, msg: &RawMessage) -> Result<(), RelayError> {
        let _turn = TURN.lock().await;
        let socket = self.socket().await?;
        socket.send_to(&msg.encode(), self.server).await?;
        Ok(())
    }
}

/// What a DORA bound: the address, and the times its DHCPACK granted,
/// where it carried a lease time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub addr: Ipv4Addr,
    pub grant: Option<Times>,
}

/// The lease time (51) a DHCPACK grants, and its renewal (58) and
/// rebinding (59) times where it carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub lease: u32,
    pub t1: Option<u32>,
    pub t2: Option<u32>,
}

fn granted(ack: &RawMessage) -> Option<Times> {
    let ack = Received::from_raw(ack);
    Some(Times {
        lease: ack.lease_time().ok().flatten()?,
        t1: ack.renewal_time().ok().flatten(),
        t2: ack.rebinding_time().ok().flatten(),
    })
}
