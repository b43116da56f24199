//! Typed access to a [`RawMessage`] (one lookup at a time; the rules are those
//! of [`super::index`]) and a builder for well-formed messages.

use super::options::{DhcpOption, OptionError};
use super::raw::{OptionItem, RawMessage};
use super::types::MessageType;
use bytes::Bytes;
use std::net::Ipv4Addr;

/// BOOTP op codes (RFC 2131 §2).
pub const BOOTREQUEST: u8 = 1;
pub const BOOTREPLY: u8 = 2;

impl RawMessage {
    /// The value of option `option`, all instances concatenated (RFC 3396), or
    /// `None` when it is absent.
    pub fn option_data(&self, option: u8) -> Result<Option<Bytes>, OptionError> {
        self.indexed(|m| Ok(m.option_data(option)?.map(|d| Bytes::copy_from_slice(&d))))
    }

    /// Option `option` decoded to its typed form.
    pub fn option(&self, option: u8) -> Result<Option<DhcpOption>, OptionError> {
        self.indexed(|m| m.option(option))
    }

    /// Every distinct option code present, in order of first appearance.
    pub fn option_codes(&self) -> Vec<u8> {
        self.indexed(|m| m.option_codes().collect())
    }

    /// The message type (option 53); [`OptionError::Missing`] when absent.
    pub fn message_type(&self) -> Result<MessageType, OptionError> {
        self.indexed(|m| m.message_type())
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
    use crate::wire::options::code;
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
