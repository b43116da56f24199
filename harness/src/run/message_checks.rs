//! Checks applied to every message the harness receives, beyond the WIRE
//! checks: reply-construction rules for server messages (RFC 6926 §8.3,
//! RFC 4388 §6.4.2, RFC 7724 §7.4) and request rules for requestor messages
//! (RFC 7724 §7.2-§7.3, RFC 6926 §7.2, §9).

use super::verdict::Verdict;
use crate::wire::options::code;
use crate::wire::{DhcpState, Indexed, MessageType, StatusCode};
use std::collections::HashSet;

/// Every requirement the per-message checks judge: the [`ON_SERVER`] judged
/// on server messages, then those judged on requestor messages. A
/// requirement's place here is its bit in the masks that record what was
/// evaluated.
const PER_MESSAGE: [&str; 26] = [
    "ALQ-S-20", "BLQ-S-03", "ALQ-S-21", "BLQ-S-04", "BLQ-S-07", "BLQ-S-08", "LQ-S-03", "LQ-S-07",
    "BLQ-S-37", "ALQ-S-42", "ALQ-S-45", "ALQ-S-43", "BLQ-S-15", "BLQ-S-19", "BLQ-S-13", "BLQ-S-10",
    "LQ-S-04", //
    "ALQ-R-17", "ALQ-R-18", "BLQ-R-06", "BLQ-R-07", "BLQ-R-12", "ALQ-R-09", "ALQ-R-04", "ALQ-R-05",
    "ALQ-R-03",
];

/// How many of [`PER_MESSAGE`] are judged on server messages.
const ON_SERVER: usize = 17;

// Every requirement needs a bit of the `u32` masks.
const _: () = assert!(PER_MESSAGE.len() <= 32);

/// Requirements judged on every server message, and on every requestor message.
pub const ON_SERVER_MESSAGES: &[&str] = PER_MESSAGE.split_at(ON_SERVER).0;
pub const ON_REQUESTOR_MESSAGES: &[&str] = PER_MESSAGE.split_at(ON_SERVER).1;

/// A requirement of [`PER_MESSAGE`], by its place there.
#[derive(Debug, Clone, Copy)]
struct Req(u8);

impl Req {
    /// `id`'s place in [`PER_MESSAGE`]; used in `const` blocks, so an id
    /// missing from the table fails the build.
    const fn of(id: &str) -> Req {
        let mut i = 0;
        while i < PER_MESSAGE.len() {
            if same(PER_MESSAGE[i].as_bytes(), id.as_bytes()) {
                return Req(i as u8);
            }
            i += 1;
        }
        panic!("requirement missing from PER_MESSAGE")
    }

    fn id(self) -> &'static str {
        PER_MESSAGE
            .get(usize::from(self.0))
            .copied()
            .unwrap_or_default()
    }

    fn bit(self) -> u32 {
        1 << self.0
    }
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// [`Req::of`] at compile time.
macro_rules! req {
    ($id:literal) => {
        const { Req::of($id) }
    };
}

/// A value of an option that must be relative but looks like seconds since 1970.
const LOOKS_ABSOLUTE: u32 = 1_000_000_000;

type Broken = Vec<(&'static str, Verdict, String)>;

/// The requirements one message's checks evaluated, and the broken ones.
#[derive(Default)]
struct Judged {
    evaluated: u32,
    broken: Broken,
}

impl Judged {
    fn judge(&mut self, req: Req, broken: bool, verdict: Verdict, text: &dyn Fn() -> String) {
        self.evaluated |= req.bit();
        if broken {
            self.broken.push((req.id(), verdict, text()));
        }
    }

    fn finish(&mut self, evaluated: &mut Evaluated) -> Broken {
        evaluated.mask |= self.evaluated;
        std::mem::take(&mut self.broken)
    }
}

/// The requirements judged on messages so far.
#[derive(Debug, Default)]
pub struct Evaluated {
    mask: u32,
}

impl Evaluated {
    /// How many requirements were judged.
    pub fn len(&self) -> usize {
        self.mask.count_ones() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.mask == 0
    }

    /// Each requirement once, in order.
    pub fn into_sorted(self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = (0..PER_MESSAGE.len())
            .filter(|i| self.mask & (1 << i) != 0)
            .filter_map(|i| PER_MESSAGE.get(i).copied())
            .collect();
        out.sort_unstable();
        out
    }
}

/// What the harness knows of the connection a server message came on.
#[derive(Debug)]
pub struct ServerConn<'a> {
    /// The connection carries an active query.
    pub active: bool,
    /// xids of the requests sent on it.
    pub sent_xids: &'a [u32],
    /// The parameter request list of the last query sent.
    pub requested: &'a [u8],
    /// This message's (xid, ciaddr) came in a binding reply before it.
    pub repeated: bool,
}

/// What the harness knows of the connection a requestor message came on.
#[derive(Debug)]
pub struct RequestorConn<'a> {
    /// xids of the requests received on it before this one.
    pub xids: &'a HashSet<u32>,
    /// An active query came on it before this message.
    pub after_active: bool,
}

/// Checks a message from a server. Every requirement evaluated goes into
/// `evaluated`.
pub fn server_message(
    msg: Indexed<'_>,
    conn: &ServerConn<'_>,
    evaluated: &mut Evaluated,
) -> Broken {
    let Some(kind) = msg.kind() else {
        return Broken::new();
    };
    let binding = matches!(
        kind,
        MessageType::LeaseActive | MessageType::LeaseUnassigned
    );
    let mut judged = Judged::default();
    let mut judge = |req: Req, broken: bool, verdict: Verdict, text: &dyn Fn() -> String| {
        judged.judge(req, broken, verdict, text);
    };
    if binding {
        judge(
            req!("ALQ-S-20"),
            msg.ciaddr().is_unspecified(),
            Verdict::Fail,
            &|| format!("{kind} with ciaddr 0.0.0.0"),
        );
    }
    let active = conn.active;
    if binding && !active {
        judge(req!("BLQ-S-19"), conn.repeated, Verdict::Fail, &|| {
            format!("{} reported twice for one bulk query", msg.ciaddr())
        });
    }
    if kind == MessageType::LeaseUnassigned && conn.requested.contains(&code::DHCP_STATE) {
        let missing = msg.dhcp_state().ok().flatten().is_none();
        judge(req!("BLQ-S-13"), missing, Verdict::Warn, &|| {
            "DHCPLEASEUNASSIGNED without the requested dhcp-state".into()
        });
    }
    if !conn.sent_xids.is_empty() {
        let xid = msg.xid();
        judge(
            req!("ALQ-S-43"),
            !conn.sent_xids.contains(&xid),
            Verdict::Fail,
            &|| format!("{kind} carries xid 0x{xid:08x}, which no request on this connection had"),
        );
    }
    judge(
        req!("BLQ-S-15"),
        kind == MessageType::LeaseUnknown,
        Verdict::Fail,
        &|| "DHCPLEASEUNKNOWN on a leasequery TCP connection".into(),
    );
    let assoc = msg.has(code::ASSOCIATED_IP);
    if binding {
        if let Ok(Some(source)) = msg.option_data(code::DATA_SOURCE) {
            judge(req!("BLQ-S-10"), source.len() != 1, Verdict::Fail, &|| {
                format!("data-source (157) is {} octets long, not 1", source.len())
            });
        }
    }
    if kind == MessageType::LeaseUnassigned {
        for (option, name) in [
            (code::RENEWAL_TIME, "renewal-time (58)"),
            (code::REBINDING_TIME, "rebinding-time (59)"),
        ] {
            let present = msg.has(option);
            judge(req!("LQ-S-04"), present, Verdict::Fail, &|| {
                format!("DHCPLEASEUNASSIGNED carries {name}: no lease, so no renewal time")
            });
        }
    }
    let assoc_req = if active {
        req!("ALQ-S-21")
    } else {
        req!("BLQ-S-03")
    };
    judge(assoc_req, assoc, Verdict::Fail, &|| {
        format!("{kind} carries associated-ip (92)")
    });
    if let Ok(Some(status)) = msg.status() {
        judge(
            req!("BLQ-S-04"),
            status.text_has_nul(),
            Verdict::Fail,
            &|| "status text contains a NUL octet".into(),
        );
        judge(
            req!("BLQ-S-04"),
            status.text_utf8().is_err(),
            Verdict::Warn,
            &|| "status text is not UTF-8".into(),
        );
        if binding {
            judge(
                req!("ALQ-S-42"),
                status.code == StatusCode::Success && status.text.is_empty(),
                Verdict::Warn,
                &|| format!("{kind} carries status Success without text"),
            );
        }
    } else if binding {
        judge(req!("ALQ-S-42"), false, Verdict::Pass, &|| String::new());
    }
    if let Ok(Some(state)) = msg.dhcp_state() {
        let named = state.name().is_some();
        judge(req!("BLQ-S-07"), !named, Verdict::Warn, &|| {
            format!("dhcp-state {} is not an assigned value", state.to_u8())
        });
        let mismatch = match kind {
            MessageType::LeaseActive => state != DhcpState::Active,
            MessageType::LeaseUnassigned => state == DhcpState::Active,
            _ => false,
        };
        if binding {
            judge(req!("BLQ-S-08"), mismatch, Verdict::Fail, &|| {
                format!("{kind} with dhcp-state {state}")
            });
        }
    }
    if kind == MessageType::LeaseUnassigned {
        let state = msg.dhcp_state().ok().flatten();
        let untimed = matches!(state, None | Some(DhcpState::Available));
        let lease = msg.lease_time().ok().flatten().is_some();
        judge(req!("LQ-S-03"), lease && untimed, Verdict::Warn, &|| {
            "DHCPLEASEUNASSIGNED carries a lease time without a timed dhcp-state".into()
        });
    }
    if let Ok(Some(cltt)) = msg.client_last_transaction_time() {
        judge(
            req!("LQ-S-07"),
            cltt >= LOOKS_ABSOLUTE,
            Verdict::Fail,
            &|| format!("client-last-transaction-time {cltt} looks absolute"),
        );
    }
    judge(
        req!("BLQ-S-37"),
        msg.contains_code(code::AUTHENTICATION),
        Verdict::Fail,
        &|| "option 90 (authentication) present".into(),
    );
    if active {
        judge(
            req!("ALQ-S-45"),
            kind == MessageType::LeaseQueryDone,
            Verdict::Warn,
            &|| "DHCPLEASEQUERYDONE on an active connection".into(),
        );
    }
    judged.finish(evaluated)
}

/// Checks a message from a requestor.
pub fn requestor_message(
    msg: Indexed<'_>,
    conn: &RequestorConn<'_>,
    evaluated: &mut Evaluated,
) -> Broken {
    let Some(kind) = msg.kind() else {
        return Broken::new();
    };
    let mut judged = Judged::default();
    let mut judge = |req: Req, broken: bool, verdict: Verdict, text: &dyn Fn() -> String| {
        judged.judge(req, broken, verdict, text);
    };
    let prl = msg.parameter_request_list().ok().flatten();
    let after_active = conn.after_active;
    let reused = conn.xids.contains(&msg.xid());
    judge(req!("ALQ-R-03"), reused, Verdict::Fail, &|| {
        format!("xid 0x{:08x} used twice on one connection", msg.xid())
    });
    if after_active {
        judge(req!("ALQ-R-04"), true, Verdict::Fail, &|| {
            format!("{kind} on a connection that carries an active query")
        });
        judge(
            req!("ALQ-R-05"),
            kind == MessageType::BulkLeaseQuery,
            Verdict::Fail,
            &|| "bulk query on the active query's connection".into(),
        );
    }
    match kind {
        MessageType::ActiveLeaseQuery => {
            let h = msg.header();
            let client_fields = !h.ciaddr.is_unspecified()
                || h.chaddr.iter().any(|b| *b != 0)
                || msg.has(code::CLIENT_ID);
            judge(req!("ALQ-R-17"), client_fields, Verdict::Fail, &|| {
                "active query with ciaddr, chaddr or client-identifier".into()
            });
            judge(req!("ALQ-R-18"), prl.is_none(), Verdict::Warn, &|| {
                "active query without a parameter request list".into()
            });
        }
        MessageType::BulkLeaseQuery => {
            let h = msg.header();
            let mut keys = 0;
            keys += usize::from(h.hardware_address().iter().any(|b| *b != 0));
            keys += usize::from(msg.has(code::CLIENT_ID));
            if let Ok(Some(info)) = msg.relay_agent_info() {
                keys += usize::from(info.remote_id().is_some())
                    + usize::from(info.relay_id().is_some());
            }
            let repeated = !msg.duplicate_codes().is_empty();
            judge(
                req!("BLQ-R-06"),
                keys > 1 || repeated,
                Verdict::Fail,
                &|| "bulk query with several primary keys or a repeated option".into(),
            );
            let wanted = [
                code::BASE_TIME,
                code::LEASE_TIME,
                code::START_TIME_OF_STATE,
                code::CLIENT_LAST_TRANSACTION_TIME,
            ];
            let missing = prl
                .as_ref()
                .is_none_or(|p| wanted.iter().any(|c| !p.contains(c)));
            judge(req!("BLQ-R-07"), missing, Verdict::Warn, &|| {
                "bulk query PRL lacks one of 152, 51, 153, 91".into()
            });
        }
        MessageType::Tls => {
            let extra = msg.option_codes().any(|c| c != code::MESSAGE_TYPE);
            judge(req!("ALQ-R-09"), extra, Verdict::Warn, &|| {
                "DHCPTLS carries options besides the message type".into()
            });
        }
        _ => {}
    }
    judge(
        req!("BLQ-R-12"),
        msg.contains_code(code::AUTHENTICATION),
        Verdict::Fail,
        &|| "option 90 (authentication) present".into(),
    );
    judged.finish(evaluated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{MessageBuilder, OptionItem, RawMessage, Received};
    use std::net::Ipv4Addr;

    fn judged(msg: &RawMessage) -> Broken {
        let conn = ServerConn {
            active: false,
            sent_xids: &[7],
            requested: &[code::RENEWAL_TIME, code::DATA_SOURCE],
            repeated: false,
        };
        server_message(&Received::from_raw(msg), &conn, &mut Evaluated::default())
    }

    fn reply(kind: MessageType, extra: OptionItem) -> RawMessage {
        MessageBuilder::reply(kind, 7)
            .ciaddr(Ipv4Addr::new(192, 0, 2, 9))
            .item(extra)
            .build()
    }

    fn names(broken: &Broken) -> Vec<&'static str> {
        broken.iter().map(|(r, _, _)| *r).collect()
    }

    #[test]
    fn a_message_evaluating_what_the_last_one_did_adds_nothing_and_others_add_theirs() {
        let conn = ServerConn {
            active: false,
            sent_xids: &[7],
            requested: &[],
            repeated: false,
        };
        let mut evaluated = Evaluated::default();
        let judge = |msg: RawMessage, evaluated: &mut Evaluated| {
            server_message(&Received::from_raw(&msg), &conn, evaluated);
        };
        let lease_time = OptionItem::tlv(code::LEASE_TIME, vec![0, 0, 0, 60]);
        judge(
            reply(MessageType::LeaseActive, lease_time.clone()),
            &mut evaluated,
        );
        judge(reply(MessageType::LeaseActive, lease_time), &mut evaluated);
        let after_binding = evaluated.len();
        // Only a DHCPLEASEUNASSIGNED is judged for renewal times (LQ-S-04).
        judge(
            reply(
                MessageType::LeaseUnassigned,
                OptionItem::tlv(code::DHCP_STATE, vec![1]),
            ),
            &mut evaluated,
        );
        let all = evaluated.into_sorted();
        assert!(
            all.contains(&"ALQ-S-20") && all.contains(&"LQ-S-04"),
            "{all:?}"
        );
        assert!(all.len() > after_binding, "{all:?}");
        assert!(
            all.iter().all(|r| ON_SERVER_MESSAGES.contains(r)),
            "{all:?}"
        );
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
        assert_eq!(broken.first().map(|b| b.1), Some(Verdict::Fail));
    }
}
