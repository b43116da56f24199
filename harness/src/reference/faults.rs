//! Deliberate defects of the reference server and requestor. Running the suite
//! against each proves that some scenario catches it with a verdict naming the
//! requirement it breaks (`alq-harness faults` prints the kill matrix).

use std::collections::BTreeSet;

macro_rules! faults {
    ($($variant:ident => $name:literal, $side:ident, [$($req:literal),+];)+) => {
        /// One deliberate defect.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Fault {
            $($variant,)+
        }

        impl Fault {
            pub const ALL: &'static [Fault] = &[$(Fault::$variant,)+];

            pub fn name(self) -> &'static str {
                match self {
                    $(Fault::$variant => $name,)+
                }
            }

            /// The requirements this defect breaks.
            pub fn breaks(self) -> &'static [&'static str] {
                match self {
                    $(Fault::$variant => &[$($req),+],)+
                }
            }

            pub fn side(self) -> Side {
                match self {
                    $(Fault::$variant => Side::$side,)+
                }
            }

            pub fn from_name(name: &str) -> Option<Fault> {
                Self::ALL.iter().copied().find(|f| f.name() == name)
            }
        }
    };
}

/// Which reference implementation a fault is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Server,
    Requestor,
}

faults! {
    NoCatchUpComplete => "no-catch-up-complete", Server, ["ALQ-S-26"];
    CatchUpCompleteTwice => "catch-up-complete-twice", Server, ["ALQ-S-26"];
    DataMissingWithoutBaseTime => "data-missing-without-base-time", Server, ["ALQ-S-24", "ALQ-S-25"];
    NeverDataMissing => "never-data-missing", Server, ["ALQ-S-24", "ALQ-S-25"];
    ZeroCiaddr => "zero-ciaddr", Server, ["ALQ-S-20"];
    AssociatedIpSent => "associated-ip-sent", Server, ["ALQ-S-21", "BLQ-S-03"];
    WrongXid => "wrong-xid", Server, ["ALQ-S-43"];
    KeepConnectionOnUnsupported => "keep-connection-on-unsupported", Server, ["ALQ-S-16", "ALQ-S-17"];
    TlsAcceptedInInsecureMode => "tls-accepted-in-insecure-mode", Server, ["ALQ-S-04"];
    CleartextServedInSecureMode => "cleartext-served-in-secure-mode", Server, ["ALQ-S-07", "ALQ-S-03"];
    NoClientCertificateCheck => "no-client-certificate-check", Server, ["ALQ-S-08", "ALQ-S-09", "ALQ-S-11"];
    BlockedConnectionNeverClosed => "blocked-connection-never-closed", Server, ["ALQ-S-36"];
    DoneOnActiveConnection => "done-on-active-connection", Server, ["ALQ-S-45"];
    NoKeepalive => "no-keepalive", Server, ["ALQ-S-19"];
    NoServerId => "no-server-id", Server, ["BLQ-S-14"];
    ServerIdInEveryReply => "server-id-in-every-reply", Server, ["BLQ-S-14"];
    NoDone => "no-done", Server, ["BLQ-S-16", "BLQ-S-18"];
    TwoKeysMalformed => "two-keys-malformed", Server, ["BLQ-S-21"];
    NonzeroCiaddrServed => "nonzero-ciaddr-served", Server, ["BLQ-S-20"];
    NoBaseTime => "no-base-time", Server, ["BLQ-S-05", "ALQ-S-30"];
    NoStartTimeOfState => "no-start-time-of-state", Server, ["BLQ-S-06", "ALQ-S-30"];
    BaseTimeFrom1900 => "base-time-from-1900", Server, ["BLQ-S-05", "ALQ-S-30"];
    AbsoluteStartTimeOfState => "absolute-start-time-of-state", Server, ["BLQ-S-06", "ALQ-S-30"];
    NoLeaseTime => "no-lease-time", Server, ["BLQ-S-11", "ALQ-S-30"];
    NoClientLastTransactionTime => "no-client-last-transaction-time", Server, ["BLQ-S-12", "ALQ-S-30"];
    NoRelayAgentInfo => "no-relay-agent-info", Server, ["LQ-S-05"];
    StateMismatch => "state-mismatch", Server, ["BLQ-S-08"];
    AbsoluteClientLastTransactionTime => "absolute-client-last-transaction-time", Server, ["LQ-S-07"];
    NulInStatusText => "nul-in-status-text", Server, ["BLQ-S-04"];
    NoEnd => "no-end", Server, ["WIRE-04"];
    WrongCookie => "wrong-cookie", Server, ["WIRE-02"];
    RequestOpInReplies => "request-op-in-replies", Server, ["WIRE-06"];
    AuthenticationOption => "authentication-option", Server, ["BLQ-S-37", "WIRE-08"];
    StaysOpenAfterRequestorCloses => "stays-open-after-requestor-closes", Server, ["ALQ-S-38", "BLQ-S-34"];
    ReadStallNeverClosed => "read-stall-never-closed", Server, ["ALQ-S-15", "BLQ-S-31"];
    ReadStallRestartsOnEveryByte => "read-stall-restarts-on-every-byte", Server, ["ALQ-S-15"];
    QueryEndTimeAccepted => "query-end-time-accepted", Server, ["ALQ-S-28"];
    MalformedActiveQueryServed => "malformed-active-query-served", Server, ["ALQ-S-29"];
    LeaseUnknownOnBulk => "lease-unknown-on-bulk", Server, ["BLQ-S-15", "BLQ-S-18"];
    SuppressionIgnored => "suppression-ignored", Server, ["ALQ-S-31", "LQ-S-06"];
    SilentShutdown => "silent-shutdown", Server, ["ALQ-S-22", "ALQ-S-39"];
    MessageAfterQueryTerminated => "message-after-query-terminated", Server, ["ALQ-S-23"];
    ReloadKeepsQueries => "reload-keeps-queries", Server, ["ALQ-S-39"];
    NoConnectionLimit => "no-connection-limit", Server, ["ALQ-S-40", "BLQ-S-29"];
    ConnectionSlotNeverReleased => "connection-slot-never-released", Server, ["ALQ-S-37"];
    TlsRefusedAtCapacity => "tls-refused-at-capacity", Server, ["ALQ-S-13"];
    PerRequestorLimitIgnored => "per-requestor-limit-ignored", Server, ["ALQ-S-41"];
    DataSourceTwoOctets => "data-source-two-octets", Server, ["BLQ-S-10"];
    RenewalTimeWhenUnassigned => "renewal-time-when-unassigned", Server, ["LQ-S-04"];
    AbandonedReportedAsExpired => "abandoned-reported-as-expired", Server, ["BLQ-S-09"];
    ClientOptionsNotReturned => "client-options-not-returned", Server, ["BLQ-S-36"];
    AccessControlIgnored => "access-control-ignored", Server, ["BLQ-S-30"];
    KeepaliveWhenActiveOff => "keepalive-when-active-off", Server, ["ALQ-S-02"];
    DropsSecondQueryInOneRead => "drops-second-query-in-one-read", Server, ["BLQ-S-33"];
    DhcpTlsSuccessStatus => "dhcptls-success-status", Server, ["ALQ-S-05"];
    KeepaliveEarly => "keepalive-early", Server, ["ALQ-S-44"];
    DataAfterDone => "data-after-done", Server, ["BLQ-S-16"];
    DoneOneReplyEarly => "done-one-reply-early", Server, ["BLQ-S-16"];
    Tls11Accepted => "tls-1.1-accepted", Server, ["ALQ-S-46"];
    LeaseASecondTooLong => "lease-a-second-too-long", Server, ["LQ-S-03"];
    RenewalTimeASecondTooLong => "renewal-time-a-second-too-long", Server, ["LQ-S-04"];
    CatchUpCompleteUnasked => "catch-up-complete-unasked", Server, ["ALQ-S-26"];
    WindowEndExclusive => "window-end-exclusive", Server, ["BLQ-S-27"];
    ChangeDuringCatchUpDropped => "change-during-catch-up-dropped", Server, ["ALQ-S-27"];
    AddressReportedTwice => "address-reported-twice", Server, ["BLQ-S-19"];
    IdleBulkNeverClosed => "idle-bulk-never-closed", Server, ["BLQ-S-35", "BLQ-S-31"];
    AdoptsBaseTimeDuringCatchUp => "adopts-base-time-during-catch-up", Requestor, ["ALQ-R-21"];
    RetriesTooFast => "retries-too-fast", Requestor, ["ALQ-R-01", "ALQ-R-02"];
    IgnoresTlsRefusal => "ignores-tls-refusal", Requestor, ["ALQ-R-12"];
    BulkOnActiveConnection => "bulk-on-active-connection", Requestor, ["ALQ-R-05", "ALQ-R-04"];
    NoGapFill => "no-gap-fill", Requestor, ["ALQ-R-19"];
    IgnoresCatchUpComplete => "ignores-catch-up-complete", Requestor, ["ALQ-R-22"];
    NoReceiveTimeout => "no-receive-timeout", Requestor, ["ALQ-R-25"];
    KeepsForeignXid => "keeps-foreign-xid", Requestor, ["BLQ-R-01", "WIRE-07"];
    ClientFieldsInActiveQuery => "client-fields-in-active-query", Requestor, ["ALQ-R-17"];
    ShiftedQueryStartTime => "shifted-query-start-time", Requestor, ["BLQ-R-05"];
    OptionsInDhcpTls => "options-in-dhcptls", Requestor, ["ALQ-R-09"];
    ClosesOnDuplicate => "closes-on-duplicate", Requestor, ["ALQ-R-26"];
    AcceptsAnyServerCertificate => "accepts-any-server-certificate", Requestor, ["ALQ-R-14"];
    CleartextAfterDhcpTls => "cleartext-after-dhcptls", Requestor, ["ALQ-R-13", "ALQ-R-16"];
    LingersAfterFailedHandshake => "lingers-after-failed-handshake", Requestor, ["ALQ-R-15"];
    PipelinesWithoutDemux => "pipelines-without-demux", Requestor, ["BLQ-R-11"];
    SkipsDhcpTls => "skips-dhcptls", Requestor, ["ALQ-R-08"];
}

/// The faults a reference implementation runs with (none in normal use).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultSet(BTreeSet<Fault>);

impl FaultSet {
    pub fn one(fault: Fault) -> Self {
        FaultSet(BTreeSet::from([fault]))
    }

    pub fn has(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_has_a_unique_name_and_names_catalog_requirements() {
        let mut names = BTreeSet::new();
        for f in Fault::ALL {
            assert!(names.insert(f.name()), "{}", f.name());
            assert_eq!(Fault::from_name(f.name()), Some(*f));
            for r in f.breaks() {
                assert!(crate::catalog::requirement(r).is_some(), "{r}");
            }
        }
        assert!(Fault::ALL.len() >= 40, "{}", Fault::ALL.len());
    }
}
