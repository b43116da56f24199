//! Typed DHCPv4 options used by leasequery (RFC 2132, RFC 3046, RFC 4388,
//! RFC 6926, RFC 6607, RFC 7724), with the length rules a verdict can cite.

use super::types::{DataSource, DhcpState, MessageType, StatusCode};
use bytes::Bytes;
use std::fmt;
use std::net::Ipv4Addr;

/// Option codes.
pub mod code {
    pub const PAD: u8 = 0;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const CLIENT_ID: u8 = 61;
    pub const RELAY_AGENT_INFO: u8 = 82;
    pub const AUTHENTICATION: u8 = 90;
    pub const CLIENT_LAST_TRANSACTION_TIME: u8 = 91;
    pub const ASSOCIATED_IP: u8 = 92;
    pub const STATUS_CODE: u8 = 151;
    pub const BASE_TIME: u8 = 152;
    pub const START_TIME_OF_STATE: u8 = 153;
    pub const QUERY_START_TIME: u8 = 154;
    pub const QUERY_END_TIME: u8 = 155;
    pub const DHCP_STATE: u8 = 156;
    pub const DATA_SOURCE: u8 = 157;
    pub const VSS: u8 = 221;
    pub const END: u8 = 255;
}

/// Relay agent information sub-option codes (RFC 3046, RFC 6925).
pub mod sub_option {
    pub const CIRCUIT_ID: u8 = 1;
    pub const REMOTE_ID: u8 = 2;
    pub const RELAY_ID: u8 = 12;
}

/// The registry name of an option code, for reports.
pub fn option_name(option: u8) -> Option<&'static str> {
    Some(match option {
        code::PAD => "pad",
        code::LEASE_TIME => "lease-time",
        code::OVERLOAD => "option-overload",
        code::MESSAGE_TYPE => "message-type",
        code::SERVER_ID => "server-id",
        code::PARAMETER_REQUEST_LIST => "parameter-request-list",
        code::RENEWAL_TIME => "renewal-time",
        code::REBINDING_TIME => "rebinding-time",
        code::CLIENT_ID => "client-id",
        code::RELAY_AGENT_INFO => "relay-agent-info",
        code::AUTHENTICATION => "authentication",
        code::CLIENT_LAST_TRANSACTION_TIME => "client-last-transaction-time",
        code::ASSOCIATED_IP => "associated-ip",
        code::STATUS_CODE => "status-code",
        code::BASE_TIME => "base-time",
        code::START_TIME_OF_STATE => "start-time-of-state",
        code::QUERY_START_TIME => "query-start-time",
        code::QUERY_END_TIME => "query-end-time",
        code::DHCP_STATE => "dhcp-state",
        code::DATA_SOURCE => "data-source",
        code::VSS => "vss",
        code::END => "end",
        _ => return None,
    })
}

/// The option code a registry name ("base-time") or a number names.
pub fn option_code(name: &str) -> Option<u8> {
    let name = name.trim();
    name.parse().ok().or_else(|| {
        (0..=u8::MAX).find(|c| option_name(*c).is_some_and(|n| n.eq_ignore_ascii_case(name)))
    })
}

/// How long an option's value may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthRule {
    Exactly(usize),
    AtLeast(usize),
    /// A non-empty multiple of the given size.
    MultipleOf(usize),
    Any,
}

impl LengthRule {
    pub const fn allows(self, len: usize) -> bool {
        match self {
            LengthRule::Exactly(n) => len == n,
            LengthRule::AtLeast(n) => len >= n,
            LengthRule::MultipleOf(n) => len >= n && len % n == 0,
            LengthRule::Any => true,
        }
    }
}

impl fmt::Display for LengthRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LengthRule::Exactly(n) => write!(f, "must be {n}"),
            LengthRule::AtLeast(n) => write!(f, "must be at least {n}"),
            LengthRule::MultipleOf(n) => write!(f, "must be a non-zero multiple of {n}"),
            LengthRule::Any => f.write_str("may be anything"),
        }
    }
}

/// The length rule of an option code (catalog WIRE-05; RFC 2132 for 52, 53, 55, 61).
pub fn length_rule(option: u8) -> LengthRule {
    rule_of(option)
}

/// Whether option `option` may be `len` octets long under [`length_rule`];
/// a lookup in a table of every code and one-octet length, as it runs for
/// every option of every message.
#[inline]
pub fn fits(option: u8, len: usize) -> bool {
    match u8::try_from(len) {
        Ok(len) => {
            let words = &FITS[usize::from(option)];
            words[usize::from(len >> 6)] & (1 << (len & 63)) != 0
        }
        Err(_) => rule_of(option).allows(len),
    }
}

/// Bit `len` of row `code`: [`rule_of`]`(code)` allows `len`.
const FITS: [[u64; 4]; 256] = {
    let mut table = [[0u64; 4]; 256];
    let mut option = 0;
    while option < 256 {
        let rule = rule_of(option as u8);
        let mut len = 0;
        while len < 256 {
            if rule.allows(len) {
                table[option][len >> 6] |= 1 << (len & 63);
            }
            len += 1;
        }
        option += 1;
    }
    table
};

const fn rule_of(option: u8) -> LengthRule {
    match option {
        code::LEASE_TIME
        | code::SERVER_ID
        | code::RENEWAL_TIME
        | code::REBINDING_TIME
        | code::CLIENT_LAST_TRANSACTION_TIME
        | code::BASE_TIME
        | code::START_TIME_OF_STATE
        | code::QUERY_START_TIME
        | code::QUERY_END_TIME => LengthRule::Exactly(4),
        code::OVERLOAD | code::MESSAGE_TYPE | code::DHCP_STATE | code::DATA_SOURCE => {
            LengthRule::Exactly(1)
        }
        code::ASSOCIATED_IP => LengthRule::MultipleOf(4),
        code::STATUS_CODE | code::PARAMETER_REQUEST_LIST | code::VSS => LengthRule::AtLeast(1),
        code::CLIENT_ID | code::RELAY_AGENT_INFO => LengthRule::AtLeast(2),
        _ => LengthRule::Any,
    }
}

/// A typed accessor could not read an option. Each variant names the catalog
/// requirement a verdict should cite ([`OptionError::requirement`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    #[error("option {code} ({}) has length {len}; its length {rule}", option_label(*code))]
    WrongLength {
        code: u8,
        len: usize,
        rule: LengthRule,
    },
    #[error("option {code} ({}) is missing", option_label(*code))]
    Missing { code: u8 },
    #[error("option 82 sub-option {sub} at offset {offset} of the option declares {declared} bytes but only {available} remain")]
    SubOptionOverrun {
        sub: u8,
        offset: usize,
        declared: u8,
        available: usize,
    },
    #[error(
        "option 82 ends inside the header of sub-option {sub} at offset {offset} of the option"
    )]
    SubOptionTruncated { sub: u8, offset: usize },
    #[error("option 52 (option-overload) names an area that does not decode: {0}")]
    Overload(super::raw::DecodeError),
}

fn option_label(option: u8) -> &'static str {
    option_name(option).unwrap_or("unnamed")
}

impl OptionError {
    /// The catalog requirement broken by a message that makes this error.
    pub fn requirement(&self) -> &'static str {
        match self {
            OptionError::WrongLength { code, .. } | OptionError::Missing { code }
                if *code == code::MESSAGE_TYPE =>
            {
                "WIRE-03"
            }
            OptionError::WrongLength { code, .. }
                if matches!(
                    *code,
                    code::LEASE_TIME
                        | code::SERVER_ID
                        | code::RENEWAL_TIME
                        | code::REBINDING_TIME
                        | code::CLIENT_LAST_TRANSACTION_TIME
                        | code::ASSOCIATED_IP
                        | code::STATUS_CODE
                        | code::BASE_TIME
                        | code::START_TIME_OF_STATE
                        | code::QUERY_START_TIME
                        | code::QUERY_END_TIME
                        | code::DHCP_STATE
                        | code::DATA_SOURCE
                ) =>
            {
                "WIRE-05"
            }
            _ => "WIRE-04",
        }
    }
}

/// Whether `data` has a length option `option` may have ([`length_rule`]).
#[inline]
pub fn check_len(option: u8, data: &[u8]) -> Result<(), OptionError> {
    if fits(option, data.len()) {
        Ok(())
    } else {
        Err(OptionError::WrongLength {
            code: option,
            len: data.len(),
            rule: length_rule(option),
        })
    }
}

pub(crate) fn u32_of(option: u8, data: &[u8]) -> Result<u32, OptionError> {
    check_len(option, data)?;
    let bytes: [u8; 4] = data.try_into().map_err(|_| OptionError::WrongLength {
        code: option,
        len: data.len(),
        rule: LengthRule::Exactly(4),
    })?;
    Ok(u32::from_be_bytes(bytes))
}

pub(crate) fn u8_of(option: u8, data: &[u8]) -> Result<u8, OptionError> {
    check_len(option, data)?;
    match data {
        [value] => Ok(*value),
        _ => Err(OptionError::WrongLength {
            code: option,
            len: data.len(),
            rule: LengthRule::Exactly(1),
        }),
    }
}

/// Option 151: a status code and optional UTF-8 text (RFC 6926 §6.2.2). The text
/// is kept as bytes: invalid UTF-8 or a NUL is a finding, not a decode failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: StatusCode,
    pub text: Bytes,
}

impl Status {
    pub fn new(code: StatusCode, text: &str) -> Self {
        Status {
            code,
            text: Bytes::copy_from_slice(text.as_bytes()),
        }
    }

    pub fn text_utf8(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.text)
    }

    /// The text contains a NUL octet (forbidden, BLQ-S-04).
    pub fn text_has_nul(&self) -> bool {
        self.text.contains(&0)
    }
}

/// Option 82: relay agent information, an ordered list of sub-options (RFC 3046).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelayAgentInfo {
    pub sub_options: Vec<(u8, Bytes)>,
}

impl RelayAgentInfo {
    pub fn decode(data: &Bytes) -> Result<Self, OptionError> {
        check_len(code::RELAY_AGENT_INFO, data)?;
        let mut sub_options = Vec::new();
        let mut pos = 0;
        while let Some(&sub) = data.get(pos) {
            let Some(&declared) = data.get(pos + 1) else {
                return Err(OptionError::SubOptionTruncated { sub, offset: pos });
            };
            let start = pos + 2;
            let end = start + usize::from(declared);
            if end > data.len() {
                return Err(OptionError::SubOptionOverrun {
                    sub,
                    offset: pos,
                    declared,
                    available: data.len().saturating_sub(start),
                });
            }
            sub_options.push((sub, data.slice(start..end)));
            pos = end;
        }
        Ok(RelayAgentInfo { sub_options })
    }

    /// Sub-option values longer than 255 octets are truncated to 255.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (sub, value) in &self.sub_options {
            let value = value.get(..value.len().min(255)).unwrap_or_default();
            out.push(*sub);
            out.push(value.len() as u8);
            out.extend_from_slice(value);
        }
        out
    }

    /// Circuit-id (1), remote-id (2) and relay-id (12) given as text; `None`
    /// when none is given.
    pub fn from_text(
        circuit_id: Option<&str>,
        remote_id: Option<&str>,
        relay_id: Option<&str>,
    ) -> Option<Self> {
        let mut info = RelayAgentInfo::default();
        for (sub, value) in [
            (sub_option::CIRCUIT_ID, circuit_id),
            (sub_option::REMOTE_ID, remote_id),
            (sub_option::RELAY_ID, relay_id),
        ] {
            if let Some(v) = value {
                info = info.with(sub, Bytes::copy_from_slice(v.as_bytes()));
            }
        }
        (!info.sub_options.is_empty()).then_some(info)
    }

    pub fn with(mut self, sub: u8, value: impl Into<Bytes>) -> Self {
        self.sub_options.push((sub, value.into()));
        self
    }

    pub fn get(&self, sub: u8) -> Option<&Bytes> {
        self.sub_options
            .iter()
            .find(|(code, _)| *code == sub)
            .map(|(_, value)| value)
    }

    pub fn circuit_id(&self) -> Option<&Bytes> {
        self.get(sub_option::CIRCUIT_ID)
    }

    pub fn remote_id(&self) -> Option<&Bytes> {
        self.get(sub_option::REMOTE_ID)
    }

    pub fn relay_id(&self) -> Option<&Bytes> {
        self.get(sub_option::RELAY_ID)
    }
}

/// Option 221: virtual subnet selection (RFC 6607); type 254 means all VPNs
/// in a bulk query (RFC 6926 §6.2.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vss {
    pub kind: u8,
    pub info: Bytes,
}

impl Vss {
    pub const NVT_ASCII: u8 = 0;
    pub const VPN_ID: u8 = 1;
    pub const ALL_VPNS: u8 = 254;
    pub const GLOBAL: u8 = 255;
}

/// A decoded option value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhcpOption {
    LeaseTime(u32),
    MessageType(MessageType),
    ServerId(Ipv4Addr),
    ParameterRequestList(Vec<u8>),
    RenewalTime(u32),
    RebindingTime(u32),
    ClientId(Bytes),
    RelayAgentInfo(RelayAgentInfo),
    ClientLastTransactionTime(u32),
    AssociatedIp(Vec<Ipv4Addr>),
    Status(Status),
    BaseTime(u32),
    StartTimeOfState(u32),
    QueryStartTime(u32),
    QueryEndTime(u32),
    DhcpState(DhcpState),
    DataSource(DataSource),
    Vss(Vss),
    /// Any option without a typed form here, kept as bytes.
    Other {
        code: u8,
        data: Bytes,
    },
}

impl DhcpOption {
    pub fn code(&self) -> u8 {
        match self {
            DhcpOption::LeaseTime(_) => code::LEASE_TIME,
            DhcpOption::MessageType(_) => code::MESSAGE_TYPE,
            DhcpOption::ServerId(_) => code::SERVER_ID,
            DhcpOption::ParameterRequestList(_) => code::PARAMETER_REQUEST_LIST,
            DhcpOption::RenewalTime(_) => code::RENEWAL_TIME,
            DhcpOption::RebindingTime(_) => code::REBINDING_TIME,
            DhcpOption::ClientId(_) => code::CLIENT_ID,
            DhcpOption::RelayAgentInfo(_) => code::RELAY_AGENT_INFO,
            DhcpOption::ClientLastTransactionTime(_) => code::CLIENT_LAST_TRANSACTION_TIME,
            DhcpOption::AssociatedIp(_) => code::ASSOCIATED_IP,
            DhcpOption::Status(_) => code::STATUS_CODE,
            DhcpOption::BaseTime(_) => code::BASE_TIME,
            DhcpOption::StartTimeOfState(_) => code::START_TIME_OF_STATE,
            DhcpOption::QueryStartTime(_) => code::QUERY_START_TIME,
            DhcpOption::QueryEndTime(_) => code::QUERY_END_TIME,
            DhcpOption::DhcpState(_) => code::DHCP_STATE,
            DhcpOption::DataSource(_) => code::DATA_SOURCE,
            DhcpOption::Vss(_) => code::VSS,
            DhcpOption::Other { code, .. } => *code,
        }
    }

    /// Decodes the value of option `option`; a wrong length is an [`OptionError`].
    pub fn decode(option: u8, data: &Bytes) -> Result<DhcpOption, OptionError> {
        Self::decode_lent(option, data, || data.clone())
    }

    /// [`decode`](Self::decode) of a value lent as a slice: `owned` gives the
    /// same octets as [`Bytes`], and is called only for the forms that keep
    /// their value (client-id, status text, relay sub-options, VSS, others).
    pub fn decode_lent(
        option: u8,
        data: &[u8],
        owned: impl FnOnce() -> Bytes,
    ) -> Result<DhcpOption, OptionError> {
        Ok(match option {
            code::LEASE_TIME => DhcpOption::LeaseTime(u32_of(option, data)?),
            code::MESSAGE_TYPE => {
                DhcpOption::MessageType(MessageType::from_u8(u8_of(option, data)?))
            }
            code::SERVER_ID => DhcpOption::ServerId(Ipv4Addr::from(u32_of(option, data)?)),
            code::PARAMETER_REQUEST_LIST => {
                check_len(option, data)?;
                DhcpOption::ParameterRequestList(data.to_vec())
            }
            code::RENEWAL_TIME => DhcpOption::RenewalTime(u32_of(option, data)?),
            code::REBINDING_TIME => DhcpOption::RebindingTime(u32_of(option, data)?),
            code::CLIENT_ID => {
                check_len(option, data)?;
                DhcpOption::ClientId(owned())
            }
            code::RELAY_AGENT_INFO => DhcpOption::RelayAgentInfo(RelayAgentInfo::decode(&owned())?),
            code::CLIENT_LAST_TRANSACTION_TIME => {
                DhcpOption::ClientLastTransactionTime(u32_of(option, data)?)
            }
            code::ASSOCIATED_IP => {
                check_len(option, data)?;
                DhcpOption::AssociatedIp(
                    data.chunks_exact(4)
                        .map(|chunk| {
                            let mut octets = [0u8; 4];
                            octets.copy_from_slice(chunk);
                            Ipv4Addr::from(octets)
                        })
                        .collect(),
                )
            }
            code::STATUS_CODE => {
                check_len(option, data)?;
                let first = data.first().copied().unwrap_or_default();
                DhcpOption::Status(Status {
                    code: StatusCode::from_u8(first),
                    text: owned().slice(1..),
                })
            }
            code::BASE_TIME => DhcpOption::BaseTime(u32_of(option, data)?),
            code::START_TIME_OF_STATE => DhcpOption::StartTimeOfState(u32_of(option, data)?),
            code::QUERY_START_TIME => DhcpOption::QueryStartTime(u32_of(option, data)?),
            code::QUERY_END_TIME => DhcpOption::QueryEndTime(u32_of(option, data)?),
            code::DHCP_STATE => DhcpOption::DhcpState(DhcpState::from_u8(u8_of(option, data)?)),
            code::DATA_SOURCE => DhcpOption::DataSource(DataSource(u8_of(option, data)?)),
            code::VSS => {
                check_len(option, data)?;
                let kind = data.first().copied().unwrap_or_default();
                DhcpOption::Vss(Vss {
                    kind,
                    info: owned().slice(1..),
                })
            }
            _ => DhcpOption::Other {
                code: option,
                data: owned(),
            },
        })
    }

    /// The value of the 4-octet time options (51, 58, 59, 91, 152-155).
    pub fn as_u32(&self) -> Option<u32> {
        match self {
            DhcpOption::LeaseTime(v)
            | DhcpOption::RenewalTime(v)
            | DhcpOption::RebindingTime(v)
            | DhcpOption::ClientLastTransactionTime(v)
            | DhcpOption::BaseTime(v)
            | DhcpOption::StartTimeOfState(v)
            | DhcpOption::QueryStartTime(v)
            | DhcpOption::QueryEndTime(v) => Some(*v),
            _ => None,
        }
    }

    /// The option's value bytes (without code and length).
    pub fn encode_value(&self) -> Vec<u8> {
        if let Some(v) = self.as_u32() {
            return v.to_be_bytes().to_vec();
        }
        match self {
            DhcpOption::MessageType(t) => vec![t.to_u8()],
            DhcpOption::ServerId(addr) => addr.octets().to_vec(),
            DhcpOption::ParameterRequestList(codes) => codes.clone(),
            DhcpOption::ClientId(id) => id.to_vec(),
            DhcpOption::RelayAgentInfo(info) => info.encode(),
            DhcpOption::AssociatedIp(addrs) => addrs.iter().flat_map(|a| a.octets()).collect(),
            DhcpOption::Status(status) => {
                let mut out = Vec::with_capacity(1 + status.text.len());
                out.push(status.code.to_u8());
                out.extend_from_slice(&status.text);
                out
            }
            DhcpOption::DhcpState(state) => vec![state.to_u8()],
            DhcpOption::DataSource(source) => vec![source.0],
            DhcpOption::Vss(vss) => {
                let mut out = Vec::with_capacity(1 + vss.info.len());
                out.push(vss.kind);
                out.extend_from_slice(&vss.info);
                out
            }
            DhcpOption::Other { data, .. } => data.to_vec(),
            // The time options are written above.
            DhcpOption::LeaseTime(_)
            | DhcpOption::RenewalTime(_)
            | DhcpOption::RebindingTime(_)
            | DhcpOption::ClientLastTransactionTime(_)
            | DhcpOption::BaseTime(_)
            | DhcpOption::StartTimeOfState(_)
            | DhcpOption::QueryStartTime(_)
            | DhcpOption::QueryEndTime(_) => Vec::new(),
        }
    }

    /// The option as a raw item, ready to place in a [`RawMessage`](super::RawMessage).
    pub fn to_item(&self) -> super::OptionItem {
        super::OptionItem::tlv(self.code(), self.encode_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_length_table_agrees_with_every_rule() {
        for option in 0..=u8::MAX {
            let rule = length_rule(option);
            for len in 0..600 {
                assert_eq!(fits(option, len), rule.allows(len), "{option} {len}");
            }
        }
        assert!(fits(code::ASSOCIATED_IP, 8));
        assert!(!fits(code::ASSOCIATED_IP, 6));
        assert!(!fits(code::ASSOCIATED_IP, 0));
        assert!(!fits(code::LEASE_TIME, 3));
        assert!(fits(code::STATUS_CODE, 400));
    }
}
