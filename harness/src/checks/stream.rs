//! What a connection's bytes and its close are judged against, beyond its
//! messages: the framing of the stream and the way it ends.

use crate::scenario::model::Role;

/// Bytes from a server that do not frame as a DHCP message break BLQ-S-01
/// (RFC 6926 §6.1 framing); bytes from a requestor break WIRE-01.
pub const FRAMING: [&str; 2] = ["BLQ-S-01", "WIRE-01"];

/// A requestor configured secure opens every connection with DHCPTLS
/// (RFC 7724 §7.2), judged where the harness, as server, sets up the
/// target's TLS transport.
pub const SECURE_FIRST: &str = "ALQ-R-08";

/// A TLS-capable server accepts DHCPTLS with a DHCPTLS without status
/// (RFC 7724 §8.1); status Success is taken as acceptance with a warning
/// (AMB-08), judged where the harness, as requestor, sets up TLS.
pub const DHCPTLS_ACCEPTED: &str = "ALQ-S-05";

/// A server closes with a FIN once it has said what it had to, not a reset
/// (RFC 6926 §8.5).
pub const GRACEFUL_CLOSE: &str = "BLQ-S-38";

/// The requirement a close of the wrong kind (RST where FIN was due) breaks
/// when the harness plays `role`: a server's is RFC 6926 §8.5's rule;
/// `None` for a requestor's, judged by the step's own requirement.
pub fn graceful_close(role: Role) -> Option<&'static str> {
    (role == Role::Requestor).then_some(GRACEFUL_CLOSE)
}

/// The requirement unframeable bytes break, from the peer of a harness
/// playing `role`.
pub fn framing(role: Role) -> &'static str {
    match role {
        Role::Requestor => FRAMING[0],
        Role::Server => FRAMING[1],
    }
}
