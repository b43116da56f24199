//! How a server builds its replies, judged on every message from a server:
//! RFC 6926 §8.3, RFC 4388 §6.4.2 and RFC 7724 §7.4.

use super::{registry, Judgement, Level};
use crate::wire::options::code;
use crate::wire::{DhcpState, Indexed, MessageType, StatusCode};

/// What the harness knows of the connection a server message came on.
#[derive(Debug)]
pub struct ServerConn<'a> {
    /// The connection carries an active query.
    pub active: bool,
    /// The active query asked for catch-up: it carried a query-start-time.
    pub catch_up_asked: bool,
    /// No message with this one's xid came on the connection before it.
    pub first_of_xid: bool,
    /// The lease the harness's trigger was granted for this message's
    /// ciaddr, where it knows one.
    pub granted: Option<Granted>,
    /// xids of the requests sent on it.
    pub sent_xids: &'a [u32],
    /// The parameter request list of the last query sent.
    pub requested: &'a [u8],
    /// This message's (xid, ciaddr) came in a binding reply before it.
    pub repeated: bool,
    /// A DHCPLEASEQUERYDONE for this message's xid came before it.
    pub after_done: bool,
    /// The harness's clock when the message arrived, where the harness has
    /// one to compare the target's times with.
    pub arrival: Option<Arrival>,
}

/// A lease time the target granted through the harness's trigger, and the
/// most of it (and of the renewal and rebinding times, where the grant
/// named them) that can be left when the query was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    pub lease: u32,
    pub left: u32,
    pub t1_left: Option<u32>,
    pub t2_left: Option<u32>,
}

/// When a message arrived and when its connection opened, on the harness's
/// clock, and how far the target's clock may be from it. A server stamps
/// base-time as it sends: no later than the arrival, no sooner than the
/// connection, however long the message sat in buffers between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Seconds since 1970.
    pub at: u32,
    /// Seconds since 1970 when the connection opened.
    pub opened: u32,
    /// The profile's `clock-skew`, in seconds.
    pub skew: u32,
}

/// A message from a server, of a known type, and its connection.
pub struct ServerMessage<'a> {
    pub msg: Indexed<'a>,
    pub kind: MessageType,
    pub conn: &'a ServerConn<'a>,
}

impl ServerMessage<'_> {
    /// DHCPLEASEACTIVE or DHCPLEASEUNASSIGNED: a reply with binding data.
    fn is_binding(&self) -> bool {
        matches!(
            self.kind,
            MessageType::LeaseActive | MessageType::LeaseUnassigned
        )
    }

    fn is_unassigned(&self) -> bool {
        self.kind == MessageType::LeaseUnassigned
    }
}

/// A value of an option that must be relative but looks like seconds since 1970.
const LOOKS_ABSOLUTE: u32 = 1_000_000_000;

const BINDING: &str = "every DHCPLEASEACTIVE and DHCPLEASEUNASSIGNED";
const UNASSIGNED: &str = "every DHCPLEASEUNASSIGNED";
const EVERY: &str = "every message from the server";

registry! {
    ServerMessage<'_>;
    binding_has_ciaddr: "ALQ-S-20", Must, BINDING;
    bulk_reports_once: "BLQ-S-19", Must, "binding replies on a bulk connection";
    unassigned_has_requested_state: "BLQ-S-13", Should, "DHCPLEASEUNASSIGNED to a query that asked for dhcp-state";
    xid_of_a_request: "ALQ-S-43", Must, "every message on a connection the harness sent requests on";
    no_lease_unknown: "BLQ-S-15", Must, EVERY;
    data_source_one_octet: "BLQ-S-10", Must, "every data-source (157)";
    unassigned_has_no_renewal_times: "LQ-S-04", Must, UNASSIGNED;
    active_has_no_associated_ip: "ALQ-S-21", Must, "every message on an active connection";
    bulk_has_no_associated_ip: "BLQ-S-03", Must, "every message on a bulk connection";
    status_text: "BLQ-S-04", Must, "every status-code (151)";
    success_status_has_text: "ALQ-S-42", Should, BINDING;
    dhcp_state_assigned: "BLQ-S-07", Should, "every dhcp-state (156)";
    dhcp_state_fits_type: "BLQ-S-08", Must, "binding replies with dhcp-state (156)";
    unassigned_lease_time_needs_timed_state: "LQ-S-03", Should, UNASSIGNED;
    cltt_relative: "LQ-S-07", Must, "every client-last-transaction-time (91)";
    no_authentication: "BLQ-S-37", Must, EVERY;
    active_has_no_done: "ALQ-S-45", Should, "every message on an active connection";
    bulk_base_time: "BLQ-S-05", Must, "binding replies on a bulk connection whose query asked for base-time (152)";
    nothing_after_done: "BLQ-S-16", Must, "every message on a bulk connection";
    active_base_time: "ALQ-S-30", Must, "binding replies on an active connection whose query asked for base-time (152)";
    catch_up_complete_asked_for: "ALQ-S-26", Should, "every CatchUpComplete on an active connection";
    active_first_reply_has_server_id: "BLQ-S-14", Should, "the first message answering an active query";
    lease_time_within_grant: "LQ-S-03", Must, "every DHCPLEASEACTIVE for an address the harness's trigger was granted";
    renewal_times_within_grant: "LQ-S-04", Must, "every DHCPLEASEACTIVE for an address the harness's trigger was granted renewal and rebinding times";
}

fn binding_has_ciaddr(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if m.is_binding() {
        j.unless(m.msg.ciaddr().is_unspecified(), || {
            format!("{} with ciaddr 0.0.0.0", m.kind)
        });
    }
}

fn bulk_reports_once(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    // A binding reply with ciaddr 0.0.0.0 names no address: ALQ-S-20's.
    if m.is_binding() && !m.conn.active && !m.msg.ciaddr().is_unspecified() {
        j.unless(m.conn.repeated, || {
            format!("{} reported twice for one bulk query", m.msg.ciaddr())
        });
    }
}

fn unassigned_has_requested_state(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if m.is_unassigned() && m.conn.requested.contains(&code::DHCP_STATE) {
        j.unless(m.msg.dhcp_state().ok().flatten().is_none(), || {
            "DHCPLEASEUNASSIGNED without the requested dhcp-state".into()
        });
    }
}

fn xid_of_a_request(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if !m.conn.sent_xids.is_empty() {
        let xid = m.msg.xid();
        j.unless(!m.conn.sent_xids.contains(&xid), || {
            // The message's type is in its transcript entry: left out here,
            // one cause reads alike on every type it shows on.
            format!("xid 0x{xid:08x} is the xid of no request sent on this connection")
        });
    }
}

fn no_lease_unknown(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    j.unless(m.kind == MessageType::LeaseUnknown, || {
        "DHCPLEASEUNKNOWN on a leasequery TCP connection".into()
    });
}

fn data_source_one_octet(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if let Ok(Some(source)) = m.msg.option_data(code::DATA_SOURCE) {
        j.unless(source.len() != 1, || {
            format!("data-source (157) is {} octets long, not 1", source.len())
        });
    }
}

fn unassigned_has_no_renewal_times(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if !m.is_unassigned() {
        return;
    }
    for (option, name) in [
        (code::RENEWAL_TIME, "renewal-time (58)"),
        (code::REBINDING_TIME, "rebinding-time (59)"),
    ] {
        if m.msg.has(option) {
            j.broken(format!(
                "DHCPLEASEUNASSIGNED carries {name}: no lease, so no renewal time"
            ));
        }
    }
    j.held();
}

fn carries_associated_ip(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    j.unless(m.msg.has(code::ASSOCIATED_IP), || {
        format!("{} carries associated-ip (92)", m.kind)
    });
}

fn active_has_no_associated_ip(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if m.conn.active {
        carries_associated_ip(m, j);
    }
}

fn bulk_has_no_associated_ip(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if !m.conn.active {
        carries_associated_ip(m, j);
    }
}

/// A bulk query's DHCPLEASEQUERYDONE is its last message (RFC 6926 §8.2).
fn nothing_after_done(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if !m.conn.active {
        j.unless(m.conn.after_done, || {
            format!(
                "{} for xid 0x{:08x} after that query's DHCPLEASEQUERYDONE",
                m.kind,
                m.msg.xid()
            )
        });
    }
}

fn bulk_base_time(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if !m.conn.active {
        base_time_when_asked(m, j);
    }
}

fn active_base_time(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if m.conn.active {
        base_time_when_asked(m, j);
    }
}

/// A binding reply to a query that asked for base-time carries it, four
/// octets of seconds since 1970 on the server's clock (RFC 6926 §6.2.3):
/// within the clock-skew of the harness's clock when it arrived.
fn base_time_when_asked(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if !m.is_binding() || !m.conn.requested.contains(&code::BASE_TIME) {
        return;
    }
    let got = match m.msg.base_time() {
        Ok(Some(t)) => t,
        Ok(None) => {
            j.broken(format!(
                "{} without the base-time (152) its query asked for",
                m.kind
            ));
            return;
        }
        Err(e) => {
            j.broken(format!("base-time (152): {e}"));
            return;
        }
    };
    if let Some(a) = m.conn.arrival {
        let shown = crate::wire::describe::absolute_time;
        let early = a.opened.saturating_sub(a.skew);
        let late = a.at.saturating_add(a.skew);
        if got > late {
            j.broken(format!(
                "base-time {got} ({}) is {} s ahead of the harness clock when it arrived ({}), more than the {} s clock-skew allows",
                shown(got),
                got - a.at,
                shown(a.at),
                a.skew
            ));
            return;
        }
        if got < early {
            j.broken(format!(
                "base-time {got} ({}) is {} s before the connection opened ({}), more than the {} s clock-skew allows",
                shown(got),
                a.opened - got,
                shown(a.opened),
                a.skew
            ));
            return;
        }
    }
    j.held();
}

fn status_text(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    let Ok(Some(status)) = m.msg.status() else {
        return;
    };
    if status.text_has_nul() {
        j.broken("status text contains a NUL octet".into());
    }
    if status.text_utf8().is_err() {
        j.broken_at(Level::Should, "status text is not UTF-8".into());
    }
    j.held();
}

fn success_status_has_text(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if !m.is_binding() {
        return;
    }
    match m.msg.status() {
        Ok(Some(status)) => j.unless(
            status.code == StatusCode::Success && status.text.is_empty(),
            || format!("{} carries status Success without text", m.kind),
        ),
        _ => j.held(),
    }
}

fn dhcp_state_assigned(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if let Ok(Some(state)) = m.msg.dhcp_state() {
        j.unless(state.name().is_none(), || {
            format!("dhcp-state {} is not an assigned value", state.to_u8())
        });
    }
}

fn dhcp_state_fits_type(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if !m.is_binding() {
        return;
    }
    if let Ok(Some(state)) = m.msg.dhcp_state() {
        let mismatch = match m.kind {
            MessageType::LeaseActive => state != DhcpState::Active,
            _ => state == DhcpState::Active,
        };
        j.unless(mismatch, || format!("{} with dhcp-state {state}", m.kind));
    }
}

fn unassigned_lease_time_needs_timed_state(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if !m.is_unassigned() {
        return;
    }
    let state = m.msg.dhcp_state().ok().flatten();
    let untimed = matches!(state, None | Some(DhcpState::Available));
    let lease = m.msg.lease_time().ok().flatten().is_some();
    j.unless(lease && untimed, || {
        "DHCPLEASEUNASSIGNED carries a lease time without a timed dhcp-state".into()
    });
}

fn cltt_relative(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if let Ok(Some(cltt)) = m.msg.client_last_transaction_time() {
        j.unless(cltt >= LOOKS_ABSOLUTE, || {
            format!("client-last-transaction-time {cltt} looks absolute")
        });
    }
}

fn no_authentication(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    j.unless(m.msg.contains_code(code::AUTHENTICATION), || {
        "option 90 (authentication) present".into()
    });
}

fn active_has_no_done(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    if m.conn.active {
        j.unless(m.kind == MessageType::LeaseQueryDone, || {
            "DHCPLEASEQUERYDONE on an active connection".into()
        });
    }
}

fn catch_up_complete_asked_for(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    let complete = matches!(m.msg.status(), Ok(Some(s)) if s.code == StatusCode::CatchUpComplete);
    // RFC 7724 §8.2 ends a catch-up for a query-start-time with it; with
    // no query-start-time there is none to end (AMB-19: a warning).
    if m.conn.active && complete {
        j.unless(!m.conn.catch_up_asked, || {
            "CatchUpComplete answering an active query without a query-start-time (154)".into()
        });
    }
}

fn lease_time_within_grant(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    // RFC 4388 §6.4.2: the lease time is what is left of the lease.
    let (Some(granted), MessageType::LeaseActive) = (m.conn.granted, m.kind) else {
        return;
    };
    if let Ok(Some(lease)) = m.msg.lease_time() {
        j.unless(lease > granted.left, || {
            format!(
                "lease time {lease} s, more than the {} s left of the {} s lease the target granted",
                granted.left, granted.lease
            )
        });
    }
}

fn renewal_times_within_grant(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    // RFC 4388 §6.4.2: T1 and T2 are what is left until them.
    let (Some(granted), MessageType::LeaseActive) = (m.conn.granted, m.kind) else {
        return;
    };
    let times = [
        ("renewal", m.msg.renewal_time(), granted.t1_left),
        ("rebinding", m.msg.rebinding_time(), granted.t2_left),
    ];
    for (name, reported, left) in times {
        if let (Ok(Some(reported)), Some(left)) = (reported, left) {
            j.unless(reported > left, || {
                format!("{name} time {reported} s, more than the {left} s left of what the target granted")
            });
        }
    }
}

fn active_first_reply_has_server_id(m: &ServerMessage<'_>, j: &mut Judgement<'_>) {
    // AMB-18: the first message of any kind for the active query's xid,
    // a keepalive or a status as much as data; a warning only.
    let answers_the_query = m.conn.sent_xids.contains(&m.msg.xid());
    if m.conn.active && m.conn.first_of_xid && answers_the_query {
        j.unless(!m.msg.has(code::SERVER_ID), || {
            format!(
                "the first message answering the active query ({}) has no server-identifier (54)",
                m.kind
            )
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Broken;
    use crate::wire::{MessageBuilder, OptionItem, RawMessage, Received};
    use std::net::Ipv4Addr;

    const BULK: ServerConn<'static> = ServerConn {
        active: false,
        catch_up_asked: false,
        first_of_xid: false,
        granted: None,
        sent_xids: &[7],
        requested: &[code::RENEWAL_TIME, code::DATA_SOURCE],
        repeated: false,
        after_done: false,
        arrival: None,
    };

    /// What the reply checks break in `msg` on `conn`; `judged` collects
    /// which checks judged it.
    fn judge_on(msg: &RawMessage, conn: &ServerConn<'_>, judged: &mut [bool]) -> Vec<Broken> {
        let received = Received::from_raw(msg);
        let Some(kind) = received.kind() else {
            return Vec::new();
        };
        let mut broken = Vec::new();
        let subject = ServerMessage {
            msg: &received,
            kind,
            conn,
        };
        judge_each(&subject, judged, &mut broken);
        broken
    }

    fn judged(msg: &RawMessage) -> Vec<Broken> {
        judge_on(msg, &BULK, &mut [false; CHECKS.len()])
    }

    fn reply(kind: MessageType, extra: OptionItem) -> RawMessage {
        MessageBuilder::reply(kind, 7)
            .ciaddr(Ipv4Addr::new(192, 0, 2, 9))
            .item(extra)
            .build()
    }

    fn names(broken: &[Broken]) -> Vec<&'static str> {
        broken.iter().map(|b| b.requirement).collect()
    }

    fn marked(judged: &[bool]) -> Vec<&'static str> {
        CHECKS
            .iter()
            .zip(judged)
            .filter(|(_, m)| **m)
            .map(|(c, _)| c.requirement)
            .collect()
    }

    #[test]
    fn a_lease_time_past_what_is_left_of_the_grant_breaks_lq_s_03() {
        let granted = ServerConn {
            granted: Some(Granted {
                lease: 600,
                left: 597,
                t1_left: Some(297),
                t2_left: None,
            }),
            ..BULK
        };
        let lease = |secs: u32| {
            reply(
                MessageType::LeaseActive,
                OptionItem::tlv(code::LEASE_TIME, secs.to_be_bytes().to_vec()),
            )
        };
        let names_on = |msg: &RawMessage, conn: &ServerConn<'_>| {
            names(&judge_on(msg, conn, &mut [false; CHECKS.len()]))
        };
        assert!(!names_on(&lease(597), &granted).contains(&"LQ-S-03"));
        let over = judge_on(&lease(598), &granted, &mut [false; CHECKS.len()]);
        let found: Vec<_> = over.iter().filter(|b| b.requirement == "LQ-S-03").collect();
        assert_eq!(found.len(), 1, "{over:?}");
        assert!(found[0].message.contains("598 s"), "{}", found[0].message);
        // Without a grant the harness knows, nothing to compare with.
        assert!(!names_on(&lease(100_000), &BULK).contains(&"LQ-S-03"));
        // T1 past what is left of the granted one breaks LQ-S-04; T2 was
        // not granted, so any is taken.
        let renewal = |t1: u32, t2: u32| {
            MessageBuilder::reply(MessageType::LeaseActive, 7)
                .ciaddr(Ipv4Addr::new(192, 0, 2, 9))
                .item(OptionItem::tlv(
                    code::RENEWAL_TIME,
                    t1.to_be_bytes().to_vec(),
                ))
                .item(OptionItem::tlv(
                    code::REBINDING_TIME,
                    t2.to_be_bytes().to_vec(),
                ))
                .build()
        };
        assert!(!names_on(&renewal(297, 100_000), &granted).contains(&"LQ-S-04"));
        assert!(names_on(&renewal(298, 100_000), &granted).contains(&"LQ-S-04"));
    }

    #[test]
    fn a_message_judging_what_the_last_one_did_adds_nothing_and_others_add_theirs() {
        let conn = ServerConn {
            requested: &[],
            ..BULK
        };
        let mut judged = [false; CHECKS.len()];
        let lease_time = OptionItem::tlv(code::LEASE_TIME, vec![0, 0, 0, 60]);
        let active = reply(MessageType::LeaseActive, lease_time);
        judge_on(&active, &conn, &mut judged);
        let after_one = marked(&judged);
        judge_on(&active, &conn, &mut judged);
        assert_eq!(marked(&judged), after_one);
        assert!(after_one.contains(&"ALQ-S-20"), "{after_one:?}");
        // Only a DHCPLEASEUNASSIGNED is judged for renewal times (LQ-S-04).
        assert!(!after_one.contains(&"LQ-S-04"), "{after_one:?}");
        let unassigned = reply(
            MessageType::LeaseUnassigned,
            OptionItem::tlv(code::DHCP_STATE, vec![1]),
        );
        judge_on(&unassigned, &conn, &mut judged);
        let all = marked(&judged);
        assert!(all.contains(&"LQ-S-04"), "{all:?}");
        assert!(all.len() > after_one.len(), "{all:?}");
    }

    #[test]
    fn data_source_must_be_one_octet() {
        let one = reply(
            MessageType::LeaseActive,
            OptionItem::tlv(code::DATA_SOURCE, vec![0]),
        );
        let two = reply(
            MessageType::LeaseActive,
            OptionItem::tlv(code::DATA_SOURCE, vec![0, 0]),
        );
        assert!(!names(&judged(&one)).contains(&"BLQ-S-10"));
        assert_eq!(names(&judged(&two)), vec!["BLQ-S-10"]);
    }

    #[test]
    fn renewal_times_only_in_lease_active() {
        let t1 = || OptionItem::tlv(code::RENEWAL_TIME, 1800u32.to_be_bytes().to_vec());
        assert!(judged(&reply(MessageType::LeaseActive, t1())).is_empty());
        let broken = judged(&reply(MessageType::LeaseUnassigned, t1()));
        assert_eq!(names(&broken), vec!["LQ-S-04"]);
        assert_eq!(
            broken.first().map(|b| b.level),
            Some(crate::checks::Level::Must)
        );
    }

    #[test]
    fn associated_ip_breaks_the_requirement_of_the_connection_kind() {
        let assoc = reply(
            MessageType::LeaseActive,
            OptionItem::tlv(code::ASSOCIATED_IP, vec![192, 0, 2, 1]),
        );
        assert_eq!(names(&judged(&assoc)), vec!["BLQ-S-03"]);
        let active = ServerConn {
            active: true,
            ..BULK
        };
        let broken = judge_on(&assoc, &active, &mut [false; CHECKS.len()]);
        assert_eq!(names(&broken), vec!["ALQ-S-21"]);
    }

    #[test]
    fn base_time_asked_for_is_there_and_between_the_connection_and_the_arrival() {
        let asked = ServerConn {
            requested: &[code::BASE_TIME],
            arrival: Some(Arrival {
                at: 2_000_000_100,
                opened: 2_000_000_000,
                skew: 5,
            }),
            ..BULK
        };
        let stamped = |t: u32| {
            reply(
                MessageType::LeaseActive,
                OptionItem::tlv(code::BASE_TIME, t.to_be_bytes().to_vec()),
            )
        };
        let broken = |msg: &RawMessage, conn: &ServerConn<'_>| {
            names(&judge_on(msg, conn, &mut [false; CHECKS.len()]))
        };
        // Sent any time from the opening to the arrival, give or take the skew.
        for t in [1_999_999_995, 2_000_000_050, 2_000_000_105] {
            assert!(broken(&stamped(t), &asked).is_empty(), "{t}");
        }
        // One second past either edge; seconds since 1900; missing.
        for t in [1_999_999_994, 2_000_000_106, 2_000_000_050 + 2_208_988_800] {
            assert_eq!(broken(&stamped(t), &asked), ["BLQ-S-05"], "{t}");
        }
        let none = reply(MessageType::LeaseActive, OptionItem::Pad);
        assert_eq!(broken(&none, &asked), ["BLQ-S-05"]);
        // Not asked for: not judged. On an active connection: ALQ-S-30.
        assert!(broken(&none, &BULK).is_empty());
        let active = ServerConn {
            active: true,
            ..asked
        };
        assert_eq!(broken(&none, &active), ["ALQ-S-30"]);
    }

    #[test]
    fn a_message_after_its_querys_done_breaks_blq_s_16_on_a_bulk_connection() {
        let late = ServerConn {
            after_done: true,
            ..BULK
        };
        let done = MessageBuilder::reply(MessageType::LeaseQueryDone, 7).build();
        let broken = judge_on(&done, &late, &mut [false; CHECKS.len()]);
        assert_eq!(names(&broken), vec!["BLQ-S-16"]);
        assert!(judge_on(&done, &BULK, &mut [false; CHECKS.len()]).is_empty());
    }
}
