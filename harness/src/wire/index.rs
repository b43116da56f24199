//! Where each option code's instances are in a message, found in one pass,
//! and the typed accessors that read through it.
//!
//! Every instance of a code counts: the options area first, then `file` and
//! `sname` when option 52 overloads them (RFC 2131 §4.1); several instances
//! are concatenated before the value is read (RFC 3396), so a duplicated
//! fixed-length option reads as a wrong length, never as one of its copies.
//! A value held by a single instance is lent, not copied.

use super::options::{code, DhcpOption, OptionError, RelayAgentInfo, Status, Vss};
use super::raw::{decode_options, OptionItem, RawMessage, FILE_OFFSET, SNAME_OFFSET};
use super::types::{DataSource, DhcpState, MessageType};
use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy)]
struct Entry {
    code: u8,
    /// Instances of the code, saturating at 255.
    count: u8,
    /// Position of the first instance among the message's option items
    /// followed by the overloaded ones.
    first: u16,
}

/// The per-code index of one message; read it through [`Indexed`].
#[derive(Debug, Clone, Default)]
pub struct OptionIndex {
    /// Distinct codes in order of first appearance.
    entries: SmallVec<[Entry; 16]>,
    /// Items decoded from `file`, then `sname`, when option 52 says so.
    overloaded: Vec<OptionItem>,
    /// Option 52 is malformed or an overloaded area does not decode: every
    /// lookup but option 52's reports it.
    overload_error: Option<OptionError>,
    /// Option 53, read once: every check starts from it.
    message_type: Option<Result<MessageType, OptionError>>,
}

impl OptionIndex {
    pub fn of(msg: &RawMessage) -> Self {
        let mut index = OptionIndex::default();
        for (at, item) in msg.options.iter().enumerate() {
            if let OptionItem::Tlv { code: c, .. } = item {
                index.note(*c, at);
            }
        }
        if index.find(code::OVERLOAD).is_some() {
            let view = Indexed { msg, index: &index };
            match view.option_data(code::OVERLOAD) {
                Ok(Some(flags)) => match overloaded_items(msg, &flags) {
                    Ok(items) => index.overloaded = items,
                    Err(e) => index.overload_error = Some(e),
                },
                Ok(None) => {}
                Err(e) => index.overload_error = Some(e),
            }
            let base = msg.options.len();
            let mut extra = Vec::new();
            for (at, item) in index.overloaded.iter().enumerate() {
                match item {
                    // Option 52 means nothing inside the areas it overloads.
                    OptionItem::Tlv { code: c, .. } if *c != code::OVERLOAD => {
                        extra.push((*c, base + at));
                    }
                    _ => {}
                }
            }
            for (c, at) in extra {
                index.note(c, at);
            }
        }
        let message_type = Indexed { msg, index: &index }.read_message_type();
        index.message_type = Some(message_type);
        index
    }

    fn note(&mut self, c: u8, at: usize) {
        match self.entries.iter_mut().find(|e| e.code == c) {
            Some(entry) => entry.count = entry.count.saturating_add(1),
            None => self.entries.push(Entry {
                code: c,
                count: 1,
                first: u16::try_from(at).unwrap_or(u16::MAX),
            }),
        }
    }

    fn find(&self, c: u8) -> Option<Entry> {
        self.entries.iter().find(|e| e.code == c).copied()
    }
}

/// Items of the areas option 52 overloads (`flags` is its value): `file`
/// first, then `sname`.
fn overloaded_items(msg: &RawMessage, flags: &[u8]) -> Result<Vec<OptionItem>, OptionError> {
    let flags = match flags {
        [flags] => *flags,
        _ => {
            return Err(OptionError::WrongLength {
                code: code::OVERLOAD,
                len: flags.len(),
                rule: super::options::LengthRule::Exactly(1),
            })
        }
    };
    let mut items = Vec::new();
    if flags & 1 != 0 {
        let area = Bytes::copy_from_slice(&msg.header.file);
        items.extend(
            decode_options(&area, FILE_OFFSET)
                .map_err(OptionError::Overload)?
                .0,
        );
    }
    if flags & 2 != 0 {
        let area = Bytes::copy_from_slice(&msg.header.sname);
        items.extend(
            decode_options(&area, SNAME_OFFSET)
                .map_err(OptionError::Overload)?
                .0,
        );
    }
    Ok(items)
}

/// A message read through its [`OptionIndex`].
#[derive(Debug, Clone, Copy)]
pub struct Indexed<'a> {
    pub msg: &'a RawMessage,
    pub(super) index: &'a OptionIndex,
}

impl<'a> Indexed<'a> {
    fn item(&self, at: usize) -> Option<&'a OptionItem> {
        let main = self.msg.options.len();
        if at < main {
            self.msg.options.get(at)
        } else {
            self.index.overloaded.get(at - main)
        }
    }

    fn data_at(&self, at: usize) -> Option<&'a Bytes> {
        match self.item(at) {
            Some(OptionItem::Tlv { data, .. }) => Some(data),
            _ => None,
        }
    }

    /// The value of option `option`, all instances concatenated (RFC 3396), or
    /// `None` when it is absent.
    pub fn option_data(&self, option: u8) -> Result<Option<Cow<'a, Bytes>>, OptionError> {
        if option != code::OVERLOAD {
            if let Some(e) = &self.index.overload_error {
                return Err(e.clone());
            }
        }
        let Some(entry) = self.index.find(option) else {
            return Ok(None);
        };
        let first = usize::from(entry.first);
        if entry.count == 1 {
            return Ok(self.data_at(first).map(Cow::Borrowed));
        }
        let mut joined = BytesMut::new();
        let main = self.msg.options.len();
        let end = if option == code::OVERLOAD {
            main
        } else {
            main + self.index.overloaded.len()
        };
        for at in first..end {
            if let Some(OptionItem::Tlv { code: c, data }) = self.item(at) {
                if *c == option {
                    joined.extend_from_slice(data);
                }
            }
        }
        Ok(Some(Cow::Owned(joined.freeze())))
    }

    /// Whether option `option` is present (a malformed overload counts as
    /// absent, as it does for every lookup that fails).
    pub fn has(&self, option: u8) -> bool {
        self.option_data(option).ok().flatten().is_some()
    }

    /// Every distinct option code present, in order of first appearance.
    pub fn option_codes(&self) -> impl Iterator<Item = u8> + 'a {
        let index = self.index;
        index.entries.iter().map(|e| e.code)
    }

    /// Option `option` decoded to its typed form.
    pub fn option(&self, option: u8) -> Result<Option<DhcpOption>, OptionError> {
        match self.option_data(option)? {
            Some(data) => DhcpOption::decode(option, &data).map(Some),
            None => Ok(None),
        }
    }

    /// The message type (option 53); [`OptionError::Missing`] when absent.
    pub fn message_type(&self) -> Result<MessageType, OptionError> {
        match &self.index.message_type {
            Some(known) => known.clone(),
            None => self.read_message_type(),
        }
    }

    fn read_message_type(&self) -> Result<MessageType, OptionError> {
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

/// A received message with its index, built once and read by every check.
#[derive(Debug, Clone)]
pub struct Received {
    pub msg: RawMessage,
    index: OptionIndex,
}

impl Received {
    pub fn new(msg: RawMessage) -> Self {
        let index = OptionIndex::of(&msg);
        Received { msg, index }
    }

    pub fn view(&self) -> Indexed<'_> {
        Indexed {
            msg: &self.msg,
            index: &self.index,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MessageBuilder;

    fn received(items: Vec<OptionItem>) -> Received {
        let mut builder = MessageBuilder::reply(MessageType::LeaseActive, 1);
        for item in items {
            builder = builder.item(item);
        }
        Received::new(builder.build())
    }

    #[test]
    fn a_single_instance_is_lent_and_repeats_are_joined_in_order() {
        let r = received(vec![
            OptionItem::tlv(61, vec![1, 2]),
            OptionItem::tlv(82, vec![1, 1, b'a']),
            OptionItem::tlv(61, vec![3]),
        ]);
        let view = r.view();
        assert!(matches!(
            view.option_data(82),
            Ok(Some(Cow::Borrowed(data))) if data.as_ref() == [1, 1, b'a']
        ));
        let joined = view.option_data(61).ok().flatten().map(Cow::into_owned);
        assert_eq!(joined.as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!(view.option_codes().collect::<Vec<_>>(), vec![53, 61, 82]);
        assert_eq!(view.option_data(51), Ok(None));
    }

    #[test]
    fn overloaded_areas_add_instances_after_the_options_area() {
        let mut msg = MessageBuilder::reply(MessageType::LeaseActive, 1)
            .item(OptionItem::tlv(code::OVERLOAD, vec![3]))
            .item(OptionItem::tlv(61, vec![1]))
            .build();
        msg.header.file[..4].copy_from_slice(&[61, 1, 2, 255]);
        msg.header.sname[..4].copy_from_slice(&[61, 1, 3, 255]);
        let r = Received::new(msg);
        let joined = r.view().option_data(61).ok().flatten().map(Cow::into_owned);
        assert_eq!(joined.as_deref(), Some(&[1u8, 2, 3][..]));
    }

    #[test]
    fn a_bad_overload_fails_every_lookup_but_its_own() {
        let r = received(vec![OptionItem::tlv(code::OVERLOAD, vec![1, 2])]);
        let view = r.view();
        assert!(view.message_type().is_err());
        assert!(!view.has(53));
        assert!(view.has(code::OVERLOAD));
    }
}
