//! The WIRE checks of catalog §4.6, applied to every message the harness
//! receives, in both roles. (WIRE-07, xid matching, is a requestor's duty,
//! judged by scenario.)

use super::{registry, Broken, Judgement, Level};
use crate::wire::options::{check_len, code};
use crate::wire::raw::MAGIC_COOKIE;
use crate::wire::{Indexed, MessageType};

/// Who sent the message judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Server,
    Requestor,
}

/// A received message and who sent it.
pub struct WireMessage<'a> {
    pub msg: Indexed<'a>,
    pub sender: Sender,
}

registry! {
    WireMessage<'_>;
    minimum_length: "WIRE-01", Must, "every message";
    magic_cookie: "WIRE-02", Must, "every message";
    one_allowed_message_type: "WIRE-03", Must, "every message";
    options_decode_to_end: "WIRE-04", Must, "every message";
    option_lengths: "WIRE-05", Must, "every option of a known fixed or minimum length";
    op_code: "WIRE-06", Should, "every message";
    no_authentication: "WIRE-08", Must, "every message";
}

/// Every broken WIRE check of `msg` from `sender`; `judged` marks the checks
/// that judged it.
pub fn judge(msg: Indexed<'_>, sender: Sender, judged: &mut [bool]) -> Vec<Broken> {
    let mut broken = Vec::new();
    judge_each(&WireMessage { msg, sender }, judged, &mut broken);
    broken
}

fn minimum_length(m: &WireMessage<'_>, j: &mut Judgement<'_>) {
    let len = m.msg.len();
    j.unless(len < 244, || {
        format!("message is {len} bytes, below the 244-byte minimum")
    });
}

fn magic_cookie(m: &WireMessage<'_>, j: &mut Judgement<'_>) {
    j.unless(m.msg.cookie() != MAGIC_COOKIE, || {
        "magic cookie is not 63 82 53 63".to_string()
    });
}

fn one_allowed_message_type(m: &WireMessage<'_>, j: &mut Judgement<'_>) {
    let count = m.msg.count_in_options_area(code::MESSAGE_TYPE);
    match m.msg.message_type() {
        // DHCPLEASEUNKNOWN is a server's type, but never on a leasequery
        // connection: BLQ-S-15 alone judges it.
        Ok(MessageType::LeaseUnknown) if count == 1 && m.sender == Sender::Server => j.held(),
        Ok(t) if count == 1 => {
            let allowed = match m.sender {
                Sender::Server => t.allowed_from_server(),
                Sender::Requestor => t.allowed_from_requestor(),
            };
            j.unless(!allowed, || {
                format!("{t} is not allowed from this side on a leasequery connection")
            });
        }
        Ok(_) => j.broken(format!("option 53 appears {count} times")),
        Err(e) => j.broken(e.to_string()),
    }
}

fn options_decode_to_end(m: &WireMessage<'_>, j: &mut Judgement<'_>) {
    if !m.msg.has_end() {
        j.broken_at(Level::Should, "no END option".to_string());
    }
    if m.msg.has_raw_items() {
        j.broken("options do not decode".to_string());
    }
    j.held();
}

fn option_lengths(m: &WireMessage<'_>, j: &mut Judgement<'_>) {
    if m.msg.lengths_may_misfit() {
        for (c, data) in m.msg.values() {
            // data-source's length from a server is BLQ-S-10's, judged on
            // every server message (checks::reply).
            if c == code::DATA_SOURCE && m.sender == Sender::Server {
                continue;
            }
            if let Err(e) = check_len(c, &data) {
                if e.requirement() == "WIRE-05" {
                    j.broken(e.to_string());
                }
            }
        }
    }
    j.held();
}

fn op_code(m: &WireMessage<'_>, j: &mut Judgement<'_>) {
    let expected = match m.sender {
        Sender::Server => 2,
        Sender::Requestor => 1,
    };
    let op = m.msg.op();
    j.unless(op != expected, || {
        format!("op is {op}, expected {expected}")
    });
}

fn no_authentication(m: &WireMessage<'_>, j: &mut Judgement<'_>) {
    j.unless(m.msg.contains_code(code::AUTHENTICATION), || {
        "option 90 (authentication) present".to_string()
    });
}
