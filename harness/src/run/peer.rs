//! The harness's judge of one connection, sans-IO: it is told each message
//! the harness sends and takes each message received, keeps what later
//! messages and steps are judged against (xids, the query's parameter
//! request list, reported addresses, statuses) and returns what each received
//! message breaks. No socket, no clock: tested by feeding it messages.

use super::reported::{Reported, ReportedAs};
use crate::checks::reply::{Arrival, Granted, ServerConn};
use crate::checks::request::RequestorConn;
use crate::checks::{self, Broken, Judged};
use crate::scenario::model::Role;
use crate::wire::options::code;
use crate::wire::{Indexed, MessageType, Received, StatusCode};
use std::collections::HashSet;
use std::rc::Rc;

/// Bulk query xids a connection keeps (a requestor flooding queries is not
/// answered past this).
pub const KEPT_QUERY_XIDS: usize = 1024;

#[derive(Debug)]
pub struct Peer {
    /// The harness's role in the scenario: the peer plays the other.
    role: Role,
    /// A DHCPACTIVELEASEQUERY was sent on this connection.
    active_query_sent: bool,
    /// An active query sent on it carried a query-start-time.
    catch_up_asked: bool,
    /// xids of the messages the harness sent on this connection.
    sent_xids: Vec<u32>,
    /// xids some received message carried, at most [`KEPT_QUERY_XIDS`].
    answered_xids: Vec<u32>,
    /// The parameter request list of the last query sent.
    requested: Vec<u8>,
    /// Status codes of every message received.
    statuses: HashSet<StatusCode>,
    /// xids of the bulk queries received (harness as server), in order, at
    /// most [`KEPT_QUERY_XIDS`].
    bulk_query_xids: Vec<u32>,
    /// xids a DHCPLEASEQUERYDONE ended on this bulk connection, at most
    /// [`KEPT_QUERY_XIDS`].
    done_xids: Vec<u32>,
    /// (xid, ciaddr) of the binding replies received, with their types.
    reported: Reported,
    /// How many binding replies were received, repeats included.
    binding_replies: usize,
    /// xids of the requests received (harness as server).
    request_xids: HashSet<u32>,
    /// An active query was received on this connection (harness as server).
    active_query_received: bool,
    last_received: Option<Rc<Received>>,
}

impl Peer {
    pub fn new(role: Role) -> Self {
        Peer {
            role,
            active_query_sent: false,
            catch_up_asked: false,
            sent_xids: Vec::new(),
            answered_xids: Vec::new(),
            requested: Vec::new(),
            statuses: HashSet::new(),
            bulk_query_xids: Vec::new(),
            done_xids: Vec::new(),
            reported: Reported::default(),
            binding_replies: 0,
            request_xids: HashSet::new(),
            active_query_received: false,
            last_received: None,
        }
    }

    /// The harness sent an active query on this connection.
    pub fn carries_active_query(&self) -> bool {
        self.active_query_sent
    }

    /// The harness sent `msg` on this connection.
    pub fn sent(&mut self, msg: Indexed<'_>) {
        let kind = msg.kind();
        self.active_query_sent |= kind == Some(MessageType::ActiveLeaseQuery);
        self.catch_up_asked |=
            kind == Some(MessageType::ActiveLeaseQuery) && msg.has(code::QUERY_START_TIME);
        self.sent_xids.push(msg.xid());
        if let Ok(Some(prl)) = msg.parameter_request_list() {
            self.requested = prl.to_vec();
        }
    }

    /// Takes `msg`, received on this connection, and returns what it breaks.
    /// `judged` learns which per-message checks judged it.
    /// `arrival` is the harness's clock when it came, where the target's
    /// times are compared with it.
    pub fn received(
        &mut self,
        msg: &Rc<Received>,
        arrival: Option<Arrival>,
        granted: Option<Granted>,
        judged: &mut Judged,
    ) -> Vec<Broken> {
        let kind = msg.kind();
        if let Ok(Some(status)) = msg.status() {
            self.statuses.insert(status.code);
        }
        let xid = msg.xid();
        if kind == Some(MessageType::BulkLeaseQuery)
            && self.bulk_query_xids.len() < KEPT_QUERY_XIDS
            && !self.bulk_query_xids.contains(&xid)
        {
            self.bulk_query_xids.push(xid);
        }
        let repeated = match kind.and_then(ReportedAs::of) {
            Some(reported_as) => {
                self.binding_replies = self.binding_replies.saturating_add(1);
                self.reported.note(xid, msg.ciaddr(), reported_as)
            }
            None => false,
        };
        let broken = match self.role {
            Role::Requestor => {
                let after_done = self.done_xids.contains(&xid);
                let first_of_xid = !self.answered_xids.contains(&xid);
                if first_of_xid && self.answered_xids.len() < KEPT_QUERY_XIDS {
                    self.answered_xids.push(xid);
                }
                if kind == Some(MessageType::LeaseQueryDone)
                    && !self.active_query_sent
                    && !after_done
                    && self.done_xids.len() < KEPT_QUERY_XIDS
                {
                    self.done_xids.push(xid);
                }
                let conn = ServerConn {
                    after_done,
                    active: self.active_query_sent,
                    catch_up_asked: self.catch_up_asked,
                    first_of_xid,
                    granted,
                    sent_xids: &self.sent_xids,
                    requested: &self.requested,
                    repeated,
                    arrival,
                };
                checks::server_message(msg, &conn, judged)
            }
            Role::Server => {
                let conn = RequestorConn {
                    xids: &self.request_xids,
                    after_active: self.active_query_received,
                };
                let broken = checks::requestor_message(msg, &conn, judged);
                self.active_query_received |= kind == Some(MessageType::ActiveLeaseQuery);
                self.request_xids.insert(xid);
                broken
            }
        };
        self.last_received = Some(Rc::clone(msg));
        broken
    }

    /// The latest message received.
    pub fn last_received(&self) -> Option<&Rc<Received>> {
        self.last_received.as_ref()
    }

    /// Lets go of the latest message (its connection is done with).
    pub fn detach_last_received(&mut self) {
        if let Some(msg) = &mut self.last_received {
            *msg = Rc::new(msg.detached());
        }
    }

    pub fn statuses(&self) -> &HashSet<StatusCode> {
        &self.statuses
    }

    pub fn bulk_query_xids(&self) -> &[u32] {
        &self.bulk_query_xids
    }

    pub fn reported(&self) -> &Reported {
        &self.reported
    }

    /// How many DHCPLEASEACTIVE and DHCPLEASEUNASSIGNED were received.
    pub fn binding_replies(&self) -> usize {
        self.binding_replies
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::options::code;
    use crate::wire::{MessageBuilder, OptionItem, RawMessage};
    use std::net::Ipv4Addr;

    fn received(msg: &RawMessage) -> Rc<Received> {
        Rc::new(Received::from_raw(msg))
    }

    fn names(broken: &[Broken]) -> Vec<&'static str> {
        broken.iter().map(|b| b.requirement).collect()
    }

    fn lease_active(xid: u32, last: u8) -> RawMessage {
        MessageBuilder::reply(MessageType::LeaseActive, xid)
            .ciaddr(Ipv4Addr::new(192, 0, 2, last))
            .build()
    }

    #[test]
    fn a_reply_is_judged_against_the_requests_sent_on_its_connection() {
        let mut peer = Peer::new(Role::Requestor);
        let query = MessageBuilder::request(MessageType::BulkLeaseQuery, 0x51).build();
        peer.sent(&Received::from_raw(&query));
        let mut judged = Judged::default();
        assert!(peer
            .received(&received(&lease_active(0x51, 10)), None, None, &mut judged)
            .is_empty());
        // Another xid than the query's, and an address reported twice.
        let foreign = peer.received(&received(&lease_active(0x52, 11)), None, None, &mut judged);
        assert_eq!(names(&foreign), vec!["ALQ-S-43"]);
        let twice = peer.received(&received(&lease_active(0x51, 10)), None, None, &mut judged);
        assert_eq!(names(&twice), vec!["BLQ-S-19"]);
        assert_eq!(peer.last_received().map(|m| m.xid()), Some(0x51));
        assert!(judged.construction().contains(&"ALQ-S-20"));
    }

    #[test]
    fn a_requestor_message_is_judged_against_what_came_before_it_on_its_connection() {
        let mut peer = Peer::new(Role::Server);
        let mut judged = Judged::default();
        let tls = MessageBuilder::request(MessageType::Tls, 1).build();
        assert!(peer
            .received(&received(&tls), None, None, &mut judged)
            .is_empty());
        let active = MessageBuilder::request(MessageType::ActiveLeaseQuery, 2)
            .item(OptionItem::tlv(code::PARAMETER_REQUEST_LIST, vec![51]))
            .build();
        assert!(peer
            .received(&received(&active), None, None, &mut judged)
            .is_empty());
        // A bulk query after the active one on the same connection.
        let bulk = MessageBuilder::request(MessageType::BulkLeaseQuery, 3).build();
        let broken = peer.received(&received(&bulk), None, None, &mut judged);
        assert!(names(&broken).contains(&"ALQ-R-05"), "{broken:?}");
        assert_eq!(peer.bulk_query_xids(), &[3]);
        // The same xid again.
        let again = peer.received(&received(&bulk), None, None, &mut judged);
        assert!(names(&again).contains(&"ALQ-R-03"), "{again:?}");
    }
}
