//! Conformant choices of the reference server and requestor where the RFCs
//! allow more than one behaviour. The mirror of [`super::faults`]: a fault
//! must be caught, a variant must pass every scenario that applies, so a
//! check that fires on a variant judges our reference's habits, not the RFC
//! (`alq-harness variants` prints the matrix).

use std::collections::BTreeSet;

/// What a connection of the reference server takes before its send blocks
/// under [`Variant::LargeSocketBuffers`].
pub const LARGE_SOCKET_BUFFER: u32 = 16 << 20;

/// Which reference implementation a variant changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Server,
    Requestor,
    Both,
}

macro_rules! variants {
    ($($variant:ident => $name:literal, $side:ident, $basis:literal, $what:literal;)+) => {
        /// One conformant choice.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Variant {
            $($variant,)+
        }

        impl Variant {
            pub const ALL: &'static [Variant] = &[$(Variant::$variant,)+];

            pub fn name(self) -> &'static str {
                match self {
                    $(Variant::$variant => $name,)+
                }
            }

            pub fn side(self) -> Side {
                match self {
                    $(Variant::$variant => Side::$side,)+
                }
            }

            /// Where the catalog or the RFC allows this choice.
            pub fn basis(self) -> &'static str {
                match self {
                    $(Variant::$variant => $basis,)+
                }
            }

            /// What the reference does differently, in a sentence.
            pub fn description(self) -> &'static str {
                match self {
                    $(Variant::$variant => $what,)+
                }
            }

            pub fn from_name(name: &str) -> Option<Variant> {
                Self::ALL.iter().copied().find(|v| v.name() == name)
            }
        }
    };
}

variants! {
    SecureOnly => "secure-only", Both, "RFC 7724 §8.1, AMB-12",
        "bulk and active queries only over TLS after DHCPTLS, no cleartext mode; the requestor opens every connection with DHCPTLS";
    BulkSyncBesideActive => "bulk-sync-beside-active", Requestor, "RFC 7724 §4, §8.3",
        "the requestor runs an all-configured bulk sync on a connection of its own, opened before its active query";
    BulkSyncAfterActive => "bulk-sync-after-active", Requestor, "RFC 7724 §4, §8.3",
        "the requestor opens its bulk sync connection after its active query is sent";
    SyncConnectionFirst => "sync-connection-first", Requestor, "RFC 7724 §4, §8.3",
        "the requestor opens its bulk sync connection before its active one and sends nothing on it until the server has answered on the active one";
    ReversedOptionOrder => "reversed-option-order", Both, "RFC 2131 §4.1, RFC 2132 §2",
        "options are written in the reverse of the reference's order (END still last)";
    PaddedMessages => "padded-messages", Both, "RFC 2132 §3.1, AMB-32",
        "PAD options between options and up to BOOTP's 300-octet minimum";
    SuccessStatusWithText => "success-status-with-text", Server, "ALQ-T-07, RFC 7724 §5.2.2",
        "every binding reply and every DHCPLEASEQUERYDONE of a query that succeeded carries status Success with a text";
    NoStateInLeaseActive => "no-state-in-lease-active", Server, "ALQ-T-09, RFC 6926 §8.3(1)",
        "dhcp-state is left out of every DHCPLEASEACTIVE even when requested";
    CatchUpBeforeLive => "catch-up-before-live", Server, "ALQ-T-02, RFC 7724 §7.4.1",
        "live updates wait until the catch-up has been sent and CatchUpComplete or DataMissing ended it";
    CatchUpFixedOnArrival => "catch-up-fixed-on-arrival", Server, "ALQ-T-02, RFC 7724 §7.4.1",
        "the catch-up set is the addresses changed since query-start-time, taken when the query arrives and sent whole even if the history moves on";
    MessagePerChange => "message-per-change", Server, "ALQ-T-03, RFC 7724 §6",
        "a message for every change, never coalescing changes of one address, even after a blocked send";
    KeepaliveLate => "keepalive-late", Server, "ALQ-S-19, RFC 7724 §7.4",
        "ConnectionActive half a second after ACTIVE_LQ_IDLE_TIMEOUT of silence, within the profile's slack, rather than at once";
    StatusWithoutBaseTime => "status-without-base-time", Server, "AMB-17, RFC 7724 §7.4",
        "ConnectionActive and CatchUpComplete carry no base-time (only DataMissing and QueryTerminated must)";
    RefusesByClose => "refuses-by-close", Server, "ALQ-T-12, AMB-15, RFC 6926 §8.1",
        "a second active query on a connection is refused by closing, without a status";
    BulkRepliesReversed => "bulk-replies-reversed", Server, "ALQ-T-10, RFC 6926 §8.2",
        "bulk replies come in descending address order";
    UnassignedWithoutClient => "unassigned-without-client", Server, "ALQ-T-11, AMB-25, RFC 4388 §6.4.2",
        "a DHCPLEASEUNASSIGNED carries no chaddr and no client options of the previous client";
    HistoryFromFirstActiveQuery => "history-from-first-active-query", Server, "ALQ-T-04, RFC 7724 §8.2",
        "the change history starts with the first active query the server receives";
    Tls12Only => "tls-1.2-only", Both, "RFC 7724 §8.1, AMB-11",
        "TLS 1.2 only, on whichever side the reference plays";
    Tls13Only => "tls-1.3-only", Both, "RFC 7724 §8.1, AMB-11",
        "TLS 1.3 only, on whichever side the reference plays";
    RetriesLater => "retries-later", Requestor, "ALQ-T-13, RFC 7724 §7.1",
        "the requestor waits one and a half ACTIVE_LQ_IDLE_TIMEOUTs between connection attempts";
    MinimalPrl => "minimal-prl", Requestor, "BLQ-R-07, RFC 6926 §7.2",
        "the requestor asks for base-time, lease time, start-time-of-state and client-last-transaction-time only";
    LargeSocketBuffers => "large-socket-buffers", Server, "ALQ-S-36, RFC 7724 §8.2",
        "a connection takes 16 MiB before the server's send blocks (its profile declares that send-buffer)";
    HardwareTypeInActiveQuery => "hardware-type-in-active-query", Requestor, "AMB-31",
        "active and bulk queries carry htype 1 with hlen 0 and an empty chaddr";
    ClosesAfterDone => "closes-after-done", Server, "RFC 7724 §7.5, §8.4",
        "a bulk connection is closed with FIN right after its last DHCPLEASEQUERYDONE, no further query awaited";
}

/// The variants a reference target runs with (none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariantSet(BTreeSet<Variant>);

impl VariantSet {
    pub fn one(variant: Variant) -> Self {
        VariantSet(BTreeSet::from([variant]))
    }

    /// Several conformant choices at once.
    pub fn of(variants: &[Variant]) -> Self {
        VariantSet(variants.iter().copied().collect())
    }

    pub fn has(&self, variant: Variant) -> bool {
        self.0.contains(&variant)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
