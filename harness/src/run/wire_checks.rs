//! The WIRE checks of catalog §4.6, applied to every message the harness
//! receives, in both roles.

use super::verdict::Verdict;
use crate::scenario::model::Role;
use crate::wire::options::{check_len, code};
use crate::wire::raw::MAGIC_COOKIE;
use crate::wire::Indexed;

/// The WIRE requirements judged on every message (WIRE-07, xid matching, is a
/// requestor's duty, tested by scenario).
pub const WIRE_CHECKED: &[&str] = &[
    "WIRE-01", "WIRE-02", "WIRE-03", "WIRE-04", "WIRE-05", "WIRE-06", "WIRE-08", "BLQ-S-01",
];

/// (requirement, verdict, message) for each broken check.
pub fn check(msg: Indexed<'_>, role: Role) -> Vec<(&'static str, Verdict, String)> {
    let mut out = Vec::new();
    let len = msg.len();
    if len < 244 {
        out.push((
            "WIRE-01",
            Verdict::Fail,
            format!("message is {len} bytes, below the 244-byte minimum"),
        ));
    }
    if msg.cookie() != MAGIC_COOKIE {
        out.push((
            "WIRE-02",
            Verdict::Fail,
            "magic cookie is not 63 82 53 63".to_string(),
        ));
    }
    let count53 = msg.count_in_options_area(code::MESSAGE_TYPE);
    let from_server = role == Role::Requestor;
    match msg.message_type() {
        Ok(t) if count53 == 1 => {
            let allowed = if from_server {
                t.allowed_from_server()
            } else {
                t.allowed_from_requestor()
            };
            if !allowed {
                out.push((
                    "WIRE-03",
                    Verdict::Fail,
                    format!("{t} is not allowed from this side on a leasequery connection"),
                ));
            }
        }
        Ok(_) => out.push((
            "WIRE-03",
            Verdict::Fail,
            format!("option 53 appears {count53} times"),
        )),
        Err(e) => out.push(("WIRE-03", Verdict::Fail, e.to_string())),
    }
    if !msg.has_end() {
        out.push(("WIRE-04", Verdict::Warn, "no END option".to_string()));
    }
    if msg.has_raw_items() {
        out.push((
            "WIRE-04",
            Verdict::Fail,
            "options do not decode".to_string(),
        ));
    }
    if msg.lengths_may_misfit() {
        for (c, data) in msg.values() {
            if let Err(e) = check_len(c, &data) {
                if e.requirement() == "WIRE-05" {
                    out.push(("WIRE-05", Verdict::Fail, e.to_string()));
                }
            }
        }
    }
    let expected_op = if from_server { 2 } else { 1 };
    if msg.op() != expected_op {
        out.push((
            "WIRE-06",
            Verdict::Warn,
            format!("op is {}, expected {expected_op}", msg.op()),
        ));
    }
    if msg.contains_code(code::AUTHENTICATION) {
        out.push((
            "WIRE-08",
            Verdict::Fail,
            "option 90 (authentication) present".to_string(),
        ));
    }
    out
}
