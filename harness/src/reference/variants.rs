//! Conformant choices of the reference server and requestor where the RFCs
//! allow more than one behaviour. The mirror of [`super::faults`]: a fault
//! must be caught, a variant must pass every scenario that applies, so a
//! check that fires on a variant judges our reference's habits, not the RFC.

use std::collections::BTreeSet;

/// One conformant choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    /// The requestor starts a bulk sync on a connection of its own beside
    /// its active query (RFC 7724 §4), opening it first.
    BulkSyncBesideActive,
    /// Secure only, RFC 7724 §8.1's default: the server takes bulk and
    /// active queries only over TLS after DHCPTLS, with no cleartext mode,
    /// and the requestor opens every connection with DHCPTLS.
    SecureOnly,
}

impl Variant {
    pub const ALL: &'static [Variant] = &[Variant::BulkSyncBesideActive, Variant::SecureOnly];

    pub fn name(self) -> &'static str {
        match self {
            Variant::BulkSyncBesideActive => "bulk-sync-beside-active",
            Variant::SecureOnly => "secure-only",
        }
    }

    pub fn from_name(name: &str) -> Option<Variant> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }
}

/// The variants a reference target runs with (none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariantSet(BTreeSet<Variant>);

impl VariantSet {
    pub fn one(variant: Variant) -> Self {
        VariantSet(BTreeSet::from([variant]))
    }

    pub fn has(&self, variant: Variant) -> bool {
        self.0.contains(&variant)
    }
}
