//! The layout variants of what the reference sends: the same options in
//! another order or with padding. What a message says never changes here.

use crate::reference::variants::{Variant, VariantSet};
use crate::wire::{OptionItem, RawMessage};

/// BOOTP's minimum message size (RFC 951), which TCP messages need not meet
/// (AMB-32) but may.
const BOOTP_MINIMUM: usize = 300;

/// Lays `msg` out as the variants ask.
pub fn shape(msg: &mut RawMessage, variants: &VariantSet) {
    if variants.is_empty() {
        return;
    }
    let end = msg.options.iter().position(|i| *i == OptionItem::End);
    if variants.has(Variant::ReversedOptionOrder) {
        let body = end.unwrap_or(msg.options.len());
        msg.options[..body].reverse();
    }
    if variants.has(Variant::PaddedMessages) {
        let mut padded = Vec::with_capacity(msg.options.len() * 2);
        for item in msg.options.drain(..) {
            let tlv = matches!(item, OptionItem::Tlv { .. });
            padded.push(item);
            if tlv {
                padded.push(OptionItem::Pad);
            }
        }
        msg.options = padded;
        let len = msg.encode().len();
        if len < BOOTP_MINIMUM {
            msg.trailing = vec![0; BOOTP_MINIMUM - len].into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DhcpOption, MessageBuilder, MessageType, Received};
    use std::net::Ipv4Addr;

    fn sample() -> RawMessage {
        MessageBuilder::reply(MessageType::LeaseActive, 7)
            .ciaddr(Ipv4Addr::new(192, 0, 2, 10))
            .option(DhcpOption::BaseTime(1000))
            .option(DhcpOption::LeaseTime(60))
            .build()
    }

    #[test]
    fn reversed_options_keep_their_values_and_end_last() {
        let mut msg = sample();
        shape(&mut msg, &VariantSet::one(Variant::ReversedOptionOrder));
        assert_eq!(msg.options.last(), Some(&OptionItem::End));
        let first = msg.options.first().cloned();
        assert_eq!(first, Some(DhcpOption::LeaseTime(60).to_item()));
        let got = Received::from_raw(&msg);
        assert_eq!(got.message_type(), Ok(MessageType::LeaseActive));
        assert_eq!(got.base_time(), Ok(Some(1000)));
    }

    #[test]
    fn padded_messages_reach_the_bootp_minimum_and_still_decode() {
        let mut msg = sample();
        let before = msg.encode().len();
        assert!(before < BOOTP_MINIMUM);
        shape(&mut msg, &VariantSet::one(Variant::PaddedMessages));
        let bytes = msg.encode();
        assert_eq!(bytes.len(), BOOTP_MINIMUM);
        let got = Received::decode(bytes.into()).unwrap();
        assert_eq!(got.lease_time(), Ok(Some(60)));
    }
}
