//! A builder for well-formed messages. A [`RawMessage`] is read through the
//! one decoded form, [`super::Received`].

use super::options::DhcpOption;
use super::raw::{OptionItem, RawMessage};
use super::types::MessageType;
use std::net::Ipv4Addr;

/// BOOTP op codes (RFC 2131 §2).
pub const BOOTREQUEST: u8 = 1;
pub const BOOTREPLY: u8 = 2;

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
    use crate::wire::{OptionError, Received};

    #[test]
    fn duplicated_fixed_length_option_reads_as_wrong_length() {
        let msg = MessageBuilder::reply(MessageType::LeaseActive, 1)
            .option(DhcpOption::BaseTime(10))
            .option(DhcpOption::BaseTime(11))
            .build();
        let err = Received::from_raw(&msg).base_time().unwrap_err();
        assert_eq!(err.requirement(), "WIRE-05");
        assert!(err.to_string().contains("length 8"), "{err}");
    }

    #[test]
    fn duplicated_message_type_cites_wire_03() {
        let msg = MessageBuilder::reply(MessageType::LeaseActive, 1)
            .option(DhcpOption::MessageType(MessageType::LeaseActive))
            .build();
        assert_eq!(
            Received::from_raw(&msg)
                .message_type()
                .unwrap_err()
                .requirement(),
            "WIRE-03"
        );
        let none = RawMessage::default();
        assert_eq!(
            Received::from_raw(&none).message_type(),
            Err(OptionError::Missing { code: 53 })
        );
    }

    #[test]
    fn overloaded_file_area_is_searched() {
        let mut msg = MessageBuilder::reply(MessageType::LeaseQueryStatus, 9)
            .item(OptionItem::tlv(code::OVERLOAD, vec![1]))
            .build();
        msg.header.file[..4].copy_from_slice(&[151, 1, 6, 255]);
        let view = Received::from_raw(&msg);
        let status = view.status().unwrap().unwrap();
        assert_eq!(status.code, StatusCode::ConnectionActive);
        assert!(view.option_codes().any(|c| c == 151));
    }

    #[test]
    fn overloaded_area_that_overruns_is_an_error() {
        let mut msg = MessageBuilder::reply(MessageType::LeaseQueryStatus, 9)
            .item(OptionItem::tlv(code::OVERLOAD, vec![2]))
            .build();
        msg.header.sname[62..64].copy_from_slice(&[151, 9]);
        let err = Received::from_raw(&msg).status().unwrap_err();
        assert!(err.to_string().contains("offset 106"), "{err}");
    }
}
