//! The UDP socket of the reference server's DHCP front: relayed requests in,
//! replies back to the relay agent that sent them.

use super::server::Shared;
use crate::reference::dhcp_front;
use crate::wire::Received;
use std::net::Ipv4Addr;
use std::sync::Arc;
use tokio::net::UdpSocket;

/// Serves relayed DHCP traffic on `socket` until the task is dropped, with
/// `offers` reserving what it offers or not.
pub async fn serve_dhcp(
    socket: UdpSocket,
    shared: Arc<Shared>,
    server_id: Ipv4Addr,
    mut offers: dhcp_front::Offers,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Ok(msg) = Received::decode(bytes::Bytes::copy_from_slice(
            buf.get(..n).unwrap_or_default(),
        )) else {
            tracing::debug!(%from, "undecodable DHCP datagram ignored");
            continue;
        };
        let result = shared
            .update(|store, now| dhcp_front::handle(store, &mut offers, &msg, server_id, now));
        match result {
            Ok(Some(reply)) => {
                if let Err(e) = socket.send_to(&reply.encode(), from).await {
                    tracing::debug!(%from, error = %e, "DHCP reply not sent");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(%from, error = %e, "DHCP request ignored"),
        }
    }
}
