//! Enumerations carried by leasequery messages: message types (option 53),
//! status codes (option 151), dhcp-state values (option 156) and data-source
//! flags (option 157). Every enumeration keeps unknown values, so decoding never
//! loses what a peer sent.

use std::fmt;
use std::str::FromStr;

/// Error for a name that matches no value of an enumeration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{name}'; expected one of: {expected}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
    pub expected: String,
}

macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal, prefix = $prefix:literal {
            $($variant:ident = $value:literal => $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant,)+
            /// A value with no name in the registry.
            Other(u8),
        }

        impl $name {
            /// Every named value, in numeric order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn from_u8(value: u8) -> Self {
                match value {
                    $($value => $name::$variant,)+
                    other => $name::Other(other),
                }
            }

            pub fn to_u8(self) -> u8 {
                match self {
                    $($name::$variant => $value,)+
                    $name::Other(other) => other,
                }
            }

            /// The registry name, or `None` for an unnamed value.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $($name::$variant => Some($text),)+
                    $name::Other(_) => None,
                }
            }
        }

        impl From<u8> for $name {
            fn from(value: u8) -> Self {
                Self::from_u8(value)
            }
        }

        impl From<$name> for u8 {
            fn from(value: $name) -> u8 {
                value.to_u8()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(text) => f.write_str(text),
                    None => write!(f, "{}({})", $kind, self.to_u8()),
                }
            }
        }

        /// Accepts the registry name in any case, with or without the
        /// conventional prefix, or a decimal number.
        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let trimmed = text.trim();
                if let Ok(number) = trimmed.parse::<u8>() {
                    return Ok(Self::from_u8(number));
                }
                let upper = trimmed.to_ascii_uppercase();
                let bare = upper.strip_prefix($prefix).unwrap_or(&upper);
                for candidate in Self::ALL {
                    if let Some(name) = candidate.name() {
                        let name = name.to_ascii_uppercase();
                        let name_bare = name.strip_prefix($prefix).unwrap_or(&name);
                        if name_bare == bare {
                            return Ok(*candidate);
                        }
                    }
                }
                Err(UnknownName {
                    kind: $kind,
                    name: text.to_string(),
                    expected: Self::ALL
                        .iter()
                        .filter_map(|v| v.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        }
    };
}

code_enum! {
    /// DHCP message type, the value of option 53 (RFC 2132, RFC 4388, RFC 6926, RFC 7724).
    MessageType, "message type", prefix = "DHCP" {
        Discover = 1 => "DHCPDISCOVER",
        Offer = 2 => "DHCPOFFER",
        Request = 3 => "DHCPREQUEST",
        Decline = 4 => "DHCPDECLINE",
        Ack = 5 => "DHCPACK",
        Nak = 6 => "DHCPNAK",
        Release = 7 => "DHCPRELEASE",
        Inform = 8 => "DHCPINFORM",
        ForceRenew = 9 => "DHCPFORCERENEW",
        LeaseQuery = 10 => "DHCPLEASEQUERY",
        LeaseUnassigned = 11 => "DHCPLEASEUNASSIGNED",
        LeaseUnknown = 12 => "DHCPLEASEUNKNOWN",
        LeaseActive = 13 => "DHCPLEASEACTIVE",
        BulkLeaseQuery = 14 => "DHCPBULKLEASEQUERY",
        LeaseQueryDone = 15 => "DHCPLEASEQUERYDONE",
        ActiveLeaseQuery = 16 => "DHCPACTIVELEASEQUERY",
        LeaseQueryStatus = 17 => "DHCPLEASEQUERYSTATUS",
        Tls = 18 => "DHCPTLS",
    }
}

code_enum! {
    /// Status code, the first octet of option 151 (RFC 6926 §6.2.2, RFC 7724 §5.2.2).
    StatusCode, "status", prefix = "" {
        Success = 0 => "Success",
        UnspecFail = 1 => "UnspecFail",
        QueryTerminated = 2 => "QueryTerminated",
        MalformedQuery = 3 => "MalformedQuery",
        NotAllowed = 4 => "NotAllowed",
        DataMissing = 5 => "DataMissing",
        ConnectionActive = 6 => "ConnectionActive",
        CatchUpComplete = 7 => "CatchUpComplete",
        TlsConnectionRefused = 8 => "TLSConnectionRefused",
    }
}

code_enum! {
    /// Lease state, the value of option 156 (RFC 6926 §6.2.7). 0 is reserved.
    DhcpState, "dhcp-state", prefix = "" {
        Available = 1 => "AVAILABLE",
        Active = 2 => "ACTIVE",
        Expired = 3 => "EXPIRED",
        Released = 4 => "RELEASED",
        Abandoned = 5 => "ABANDONED",
        Reset = 6 => "RESET",
        Remote = 7 => "REMOTE",
        Transitioning = 8 => "TRANSITIONING",
    }
}

impl MessageType {
    /// Types a requestor may send on a leasequery TCP connection (catalog §2.4,
    /// AMB-14). DHCPTLS is allowed only as the first message.
    pub fn allowed_from_requestor(self) -> bool {
        matches!(
            self,
            MessageType::BulkLeaseQuery | MessageType::ActiveLeaseQuery | MessageType::Tls
        )
    }

    /// Types a server may send on a leasequery TCP connection (catalog §2.4).
    pub fn allowed_from_server(self) -> bool {
        matches!(
            self,
            MessageType::LeaseUnassigned
                | MessageType::LeaseActive
                | MessageType::LeaseQueryDone
                | MessageType::LeaseQueryStatus
                | MessageType::Tls
        )
    }
}

/// Flags of option 157 (RFC 6926 §6.2.8). Only the least significant bit is
/// assigned; the other bits are kept and must be ignored by receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DataSource(pub u8);

impl DataSource {
    pub const REMOTE: u8 = 0x01;

    pub fn remote(self) -> bool {
        self.0 & Self::REMOTE != 0
    }

    pub fn unassigned_bits(self) -> u8 {
        self.0 & !Self::REMOTE
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = if self.remote() { "REMOTE" } else { "local" };
        if self.unassigned_bits() == 0 {
            f.write_str(origin)
        } else {
            write!(f, "{origin} (octet 0x{:02x})", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_names_round_trip_through_from_str() {
        for t in MessageType::ALL {
            let name = t.name().unwrap_or_default();
            assert_eq!(name.parse::<MessageType>(), Ok(*t));
            let bare = name.trim_start_matches("DHCP").to_ascii_lowercase();
            assert_eq!(bare.parse::<MessageType>(), Ok(*t));
        }
        assert_eq!("200".parse::<MessageType>(), Ok(MessageType::Other(200)));
        assert!("LEASEACTIV".parse::<MessageType>().is_err());
    }

    #[test]
    fn status_code_values_match_rfc_7724_registry() {
        assert_eq!(StatusCode::DataMissing.to_u8(), 5);
        assert_eq!(StatusCode::ConnectionActive.to_u8(), 6);
        assert_eq!(StatusCode::CatchUpComplete.to_u8(), 7);
        assert_eq!(StatusCode::TlsConnectionRefused.to_u8(), 8);
        assert_eq!(
            "tlsconnectionrefused".parse::<StatusCode>(),
            Ok(StatusCode::TlsConnectionRefused)
        );
        assert_eq!(StatusCode::from_u8(9), StatusCode::Other(9));
    }

    #[test]
    fn dhcp_state_zero_is_not_a_named_state() {
        assert_eq!(DhcpState::from_u8(0), DhcpState::Other(0));
        assert_eq!(DhcpState::from_u8(8), DhcpState::Transitioning);
    }

    #[test]
    fn data_source_uses_least_significant_bit() {
        assert!(DataSource(0x01).remote());
        assert!(!DataSource(0xfe).remote());
        assert_eq!(DataSource(0xfe).unassigned_bits(), 0xfe);
    }
}
