//! How a requestor builds its requests, judged on every message from a
//! requestor: RFC 7724 §7.2-§7.3, RFC 6926 §7.2 and §9.

use super::{registry, Judgement};
use crate::wire::options::code;
use crate::wire::{Indexed, MessageType};
use std::collections::HashSet;

/// What the harness knows of the connection a requestor message came on.
#[derive(Debug)]
pub struct RequestorConn<'a> {
    /// xids of the requests received on it before this one.
    pub xids: &'a HashSet<u32>,
    /// An active query came on it before this message.
    pub after_active: bool,
}

/// A message from a requestor, of a known type, and its connection.
pub struct RequestorMessage<'a> {
    pub msg: Indexed<'a>,
    pub kind: MessageType,
    pub conn: &'a RequestorConn<'a>,
}

const AFTER_ACTIVE: &str = "every message after an active query on its connection";

registry! {
    RequestorMessage<'_>;
    fresh_xid: "ALQ-R-03", Must, "every message from the requestor";
    nothing_after_active: "ALQ-R-04", Must, AFTER_ACTIVE;
    no_bulk_after_active: "ALQ-R-05", Must, AFTER_ACTIVE;
    active_query_has_no_client_fields: "ALQ-R-17", Must, "every DHCPACTIVELEASEQUERY";
    active_query_has_prl: "ALQ-R-18", Should, "every DHCPACTIVELEASEQUERY";
    bulk_query_one_key: "BLQ-R-06", Must, "every DHCPBULKLEASEQUERY";
    bulk_query_asks_for_times: "BLQ-R-07", Should, "every DHCPBULKLEASEQUERY";
    dhcptls_has_no_options: "ALQ-R-09", Should, "every DHCPTLS";
    no_authentication: "BLQ-R-12", Must, "every message from the requestor";
}

fn fresh_xid(m: &RequestorMessage<'_>, j: &mut Judgement<'_>) {
    let xid = m.msg.xid();
    j.unless(m.conn.xids.contains(&xid), || {
        format!("xid 0x{xid:08x} used twice on one connection")
    });
}

fn nothing_after_active(m: &RequestorMessage<'_>, j: &mut Judgement<'_>) {
    if m.conn.after_active {
        j.broken(format!(
            "{} on a connection that carries an active query",
            m.kind
        ));
    }
}

fn no_bulk_after_active(m: &RequestorMessage<'_>, j: &mut Judgement<'_>) {
    if m.conn.after_active {
        j.unless(m.kind == MessageType::BulkLeaseQuery, || {
            "bulk query on the active query's connection".into()
        });
    }
}

fn active_query_has_no_client_fields(m: &RequestorMessage<'_>, j: &mut Judgement<'_>) {
    if m.kind != MessageType::ActiveLeaseQuery {
        return;
    }
    let h = m.msg.header();
    let client_fields = !h.ciaddr.is_unspecified()
        || h.chaddr.iter().any(|b| *b != 0)
        || m.msg.has(code::CLIENT_ID);
    j.unless(client_fields, || {
        "active query with ciaddr, chaddr or client-identifier".into()
    });
}

fn active_query_has_prl(m: &RequestorMessage<'_>, j: &mut Judgement<'_>) {
    if m.kind == MessageType::ActiveLeaseQuery {
        let prl = m.msg.parameter_request_list().ok().flatten();
        j.unless(prl.is_none(), || {
            "active query without a parameter request list".into()
        });
    }
}

fn bulk_query_one_key(m: &RequestorMessage<'_>, j: &mut Judgement<'_>) {
    if m.kind != MessageType::BulkLeaseQuery {
        return;
    }
    let h = m.msg.header();
    let mut keys = usize::from(h.hardware_address().iter().any(|b| *b != 0));
    keys += usize::from(m.msg.has(code::CLIENT_ID));
    if let Ok(Some(info)) = m.msg.relay_agent_info() {
        keys += usize::from(info.remote_id().is_some()) + usize::from(info.relay_id().is_some());
    }
    let repeated = !m.msg.duplicate_codes().is_empty();
    j.unless(keys > 1 || repeated, || {
        "bulk query with several primary keys or a repeated option".into()
    });
}

fn bulk_query_asks_for_times(m: &RequestorMessage<'_>, j: &mut Judgement<'_>) {
    if m.kind != MessageType::BulkLeaseQuery {
        return;
    }
    let wanted = [
        code::BASE_TIME,
        code::LEASE_TIME,
        code::START_TIME_OF_STATE,
        code::CLIENT_LAST_TRANSACTION_TIME,
    ];
    let prl = m.msg.parameter_request_list().ok().flatten();
    let missing = prl
        .as_ref()
        .is_none_or(|p| wanted.iter().any(|c| !p.contains(c)));
    j.unless(missing, || {
        "bulk query PRL lacks one of 152, 51, 153, 91".into()
    });
}

fn dhcptls_has_no_options(m: &RequestorMessage<'_>, j: &mut Judgement<'_>) {
    if m.kind == MessageType::Tls {
        let extra = m.msg.option_codes().any(|c| c != code::MESSAGE_TYPE);
        j.unless(extra, || {
            "DHCPTLS carries options besides the message type".into()
        });
    }
}

fn no_authentication(m: &RequestorMessage<'_>, j: &mut Judgement<'_>) {
    j.unless(m.msg.contains_code(code::AUTHENTICATION), || {
        "option 90 (authentication) present".into()
    });
}
