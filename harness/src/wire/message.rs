//! Typed access to a [`RawMessage`] and a builder for well-formed messages.
//!
//! Accessors follow RFC 3396: every instance of an option code (in the options
//! area, then `file` and `sname` when option 52 overloads them, RFC 2131 §4.1)
//! is concatenated before the value is read. A duplicated fixed-length option
//! therefore reads as a wrong length, never as the first or last copy.

use super::options::{code, DhcpOption, OptionError, RelayAgentInfo, Status, Vss};
use super::raw::{decode_options, OptionItem, RawMessage, FILE_OFFSET, SNAME_OFFSET};
use super::types::{DataSource, DhcpState, MessageType};
use bytes::{Bytes, BytesMut};
use std::net::Ipv4Addr;

/// BOOTP op codes (RFC 2131 §2).
pub const BOOTREQUEST: u8 = 1;
pub const BOOTREPLY: u8 = 2;

impl RawMessage {
    /// Option items from the areas option 52 overloads: `file` first, then `sname`.
    fn overloaded_items(&self) -> Result<Vec<OptionItem>, OptionError> {
        let mut overload = None;
        for (option, data) in self.tlvs() {
            if option == code::OVERLOAD {
                overload = Some(data.clone());
            }
        }
        let Some(data) = overload else {
            return Ok(Vec::new());
        };
        let flags = match &data[..] {
            [flags] => *flags,
            _ => {
                return Err(OptionError::WrongLength {
                    code: code::OVERLOAD,
                    len: data.len(),
                    rule: super::options::LengthRule::Exactly(1),
                })
            }
        };
        let mut items = Vec::new();
        if flags & 1 != 0 {
            let area = Bytes::copy_from_slice(&self.header.file);
            items.extend(
                decode_options(&area, FILE_OFFSET)
                    .map_err(OptionError::Overload)?
                    .0,
            );
        }
        if flags & 2 != 0 {
            let area = Bytes::copy_from_slice(&self.header.sname);
            items.extend(
                decode_options(&area, SNAME_OFFSET)
                    .map_err(OptionError::Overload)?
                    .0,
            );
        }
        Ok(items)
    }

    /// The value of option `option`, all instances concatenated (RFC 3396), or
    /// `None` when it is absent.
    pub fn option_data(&self, option: u8) -> Result<Option<Bytes>, OptionError> {
        let mut found: Option<Bytes> = None;
        let mut joined: Option<BytesMut> = None;
        let mut take = |data: &Bytes| match (&found, &mut joined) {
            (None, _) => found = Some(data.clone()),
            (Some(first), None) => {
                let mut buf = BytesMut::from(&first[..]);
                buf.extend_from_slice(data);
                joined = Some(buf);
            }
            (Some(_), Some(buf)) => buf.extend_from_slice(data),
        };
        for (c, data) in self.tlvs() {
            if c == option {
                take(data);
            }
        }
        if option != code::OVERLOAD {
            for item in self.overloaded_items()? {
                if let OptionItem::Tlv { code: c, data } = &item {
                    if *c == option {
                        take(data);
                    }
                }
            }
        }
        Ok(match joined {
            Some(buf) => Some(buf.freeze()),
            None => found,
        })
    }

    /// Option `option` decoded to its typed form.
    pub fn option(&self, option: u8) -> Result<Option<DhcpOption>, OptionError> {
        match self.option_data(option)? {
            Some(data) => DhcpOption::decode(option, &data).map(Some),
            None => Ok(None),
        }
    }

    /// Every distinct option code present, in order of first appearance.
    pub fn option_codes(&self) -> Vec<u8> {
        let mut seen = [false; 256];
        let mut out = Vec::new();
        let overloaded = self.overloaded_items().unwrap_or_default();
        let all = self.options.iter().chain(overloaded.iter());
        for item in all {
            if let OptionItem::Tlv { code: c, .. } = item {
                let slot = &mut seen[usize::from(*c)];
                if !*slot {
                    *slot = true;
                    out.push(*c);
                }
            }
        }
        out
    }

    /// The message type (option 53); [`OptionError::Missing`] when absent.
    pub fn message_type(&self) -> Result<MessageType, OptionError> {
        match self.option(code::MESSAGE_TYPE)? {
            Some(DhcpOption::MessageType(t)) => Ok(t),
            _ => Err(OptionError::Missing {
                code: code::MESSAGE_TYPE,
            }),
        }
    }

    fn u32_option(&self, option: u8) -> Result<Option<u32>, OptionError> {
        Ok(self.option(option)?.and_then(|o| o.as_u32()))
    }

    pub fn lease_time(&self) -> Result<Option<u32>, OptionError> {
        self.u32_option(code::LEASE_TIME)
    }

    pub fn client_last_transaction_time(&self) -> Result<Option<u32>, OptionError> {
        self.u32_option(code::CLIENT_LAST_TRANSACTION_TIME)
    }

    pub fn base_time(&self) -> Result<Option<u32>, OptionError> {
        self.u32_option(code::BASE_TIME)
    }

    pub fn start_time_of_state(&self) -> Result<Option<u32>, OptionError> {
        self.u32_option(code::START_TIME_OF_STATE)
    }

    pub fn query_start_time(&self) -> Result<Option<u32>, OptionError> {
        self.u32_option(code::QUERY_START_TIME)
    }

    pub fn query_end_time(&self) -> Result<Option<u32>, OptionError> {
        self.u32_option(code::QUERY_END_TIME)
    }

    pub fn server_id(&self) -> Result<Option<Ipv4Addr>, OptionError> {
        Ok(match self.option(code::SERVER_ID)? {
            Some(DhcpOption::ServerId(addr)) => Some(addr),
            _ => None,
        })
    }

    pub fn status(&self) -> Result<Option<Status>, OptionError> {
        Ok(match self.option(code::STATUS_CODE)? {
            Some(DhcpOption::Status(status)) => Some(status),
            _ => None,
        })
    }

    pub fn dhcp_state(&self) -> Result<Option<DhcpState>, OptionError> {
        Ok(match self.option(code::DHCP_STATE)? {
            Some(DhcpOption::DhcpState(state)) => Some(state),
            _ => None,
        })
    }

    pub fn data_source(&self) -> Result<Option<DataSource>, OptionError> {
        Ok(match self.option(code::DATA_SOURCE)? {
            Some(DhcpOption::DataSource(source)) => Some(source),
            _ => None,
        })
    }

    pub fn client_id(&self) -> Result<Option<Bytes>, OptionError> {
        Ok(match self.option(code::CLIENT_ID)? {
            Some(DhcpOption::ClientId(id)) => Some(id),
            _ => None,
        })
    }

    pub fn parameter_request_list(&self) -> Result<Option<Vec<u8>>, OptionError> {
        Ok(match self.option(code::PARAMETER_REQUEST_LIST)? {
            Some(DhcpOption::ParameterRequestList(codes)) => Some(codes),
            _ => None,
        })
    }

    pub fn relay_agent_info(&self) -> Result<Option<RelayAgentInfo>, OptionError> {
        Ok(match self.option(code::RELAY_AGENT_INFO)? {
            Some(DhcpOption::RelayAgentInfo(info)) => Some(info),
            _ => None,
        })
    }

    pub fn associated_ip(&self) -> Result<Option<Vec<Ipv4Addr>>, OptionError> {
        Ok(match self.option(code::ASSOCIATED_IP)? {
            Some(DhcpOption::AssociatedIp(addrs)) => Some(addrs),
            _ => None,
        })
    }

    pub fn vss(&self) -> Result<Option<Vss>, OptionError> {
        Ok(match self.option(code::VSS)? {
            Some(DhcpOption::Vss(vss)) => Some(vss),
            _ => None,
        })
    }
}

/// Builds well-formed messages: the header, option 53 first, the given options in
/// order, then END. Fields stay public on the result, so a test can still break
/// anything afterwards.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    message: RawMessage,
}

impl MessageBuilder {
    fn with_op(op: u8, kind: MessageType, xid: u32) -> Self {
        let mut message = RawMessage::default();
        message.header.op = op;
        message.header.xid = xid;
        message
            .options
            .push(DhcpOption::MessageType(kind).to_item());
        MessageBuilder { message }
    }

    /// A requestor message (op BOOTREQUEST).
    pub fn request(kind: MessageType, xid: u32) -> Self {
        Self::with_op(BOOTREQUEST, kind, xid)
    }

    /// A server message (op BOOTREPLY).
    pub fn reply(kind: MessageType, xid: u32) -> Self {
        Self::with_op(BOOTREPLY, kind, xid)
    }

    pub fn ciaddr(mut self, addr: Ipv4Addr) -> Self {
        self.message.header.ciaddr = addr;
        self
    }

    /// Sets htype, hlen and chaddr. Addresses longer than 16 octets are cut to 16.
    pub fn hardware(mut self, htype: u8, address: &[u8]) -> Self {
        let len = address.len().min(16);
        self.message.header.htype = htype;
        self.message.header.hlen = len as u8;
        self.message.header.chaddr = [0; 16];
        if let (Some(dst), Some(src)) = (
            self.message.header.chaddr.get_mut(..len),
            address.get(..len),
        ) {
            dst.copy_from_slice(src);
        }
        self
    }

    pub fn option(mut self, option: DhcpOption) -> Self {
        self.message.options.push(option.to_item());
        self
    }

    pub fn item(mut self, item: OptionItem) -> Self {
        self.message.options.push(item);
        self
    }

    /// The message with END appended.
    pub fn build(mut self) -> RawMessage {
        self.message.options.push(OptionItem::End);
        self.message
    }

    /// The message as it stands, without END.
    pub fn build_without_end(self) -> RawMessage {
        self.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::types::StatusCode;

    #[test]
    fn duplicated_fixed_length_option_reads_as_wrong_length() {
        let msg = MessageBuilder::reply(MessageType::LeaseActive, 1)
            .option(DhcpOption::BaseTime(10))
            .option(DhcpOption::BaseTime(11))
            .build();
        let err = msg.base_time().unwrap_err();
        assert_eq!(err.requirement(), "WIRE-05");
        assert!(err.to_string().contains("length 8"), "{err}");
    }

    #[test]
    fn duplicated_message_type_cites_wire_03() {
        let msg = MessageBuilder::reply(MessageType::LeaseActive, 1)
            .option(DhcpOption::MessageType(MessageType::LeaseActive))
            .build();
        assert_eq!(msg.message_type().unwrap_err().requirement(), "WIRE-03");
        let none = RawMessage::default();
        assert_eq!(none.message_type(), Err(OptionError::Missing { code: 53 }));
    }

    #[test]
    fn overloaded_file_area_is_searched() {
        let mut msg = MessageBuilder::reply(MessageType::LeaseQueryStatus, 9)
            .item(OptionItem::tlv(code::OVERLOAD, vec![1]))
            .build();
        msg.header.file[..4].copy_from_slice(&[151, 1, 6, 255]);
        let status = msg.status().unwrap().unwrap();
        assert_eq!(status.code, StatusCode::ConnectionActive);
        assert!(msg.option_codes().contains(&151));
    }

    #[test]
    fn overloaded_area_that_overruns_is_an_error() {
        let mut msg = MessageBuilder::reply(MessageType::LeaseQueryStatus, 9)
            .item(OptionItem::tlv(code::OVERLOAD, vec![2]))
            .build();
        msg.header.sname[62..64].copy_from_slice(&[151, 9]);
        let err = msg.status().unwrap_err();
        assert!(err.to_string().contains("offset 106"), "{err}");
    }
}
