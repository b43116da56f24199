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
    let areas: [(u8, &[u8], usize); 2] = [
        (1, &msg.header.file, FILE_OFFSET),
        (2, &msg.header.sname, SNAME_OFFSET),
    ];
    for (flag, area, offset) in areas {
        if flags & flag != 0 {
            let area = Bytes::copy_from_slice(area);
            items.extend(
                decode_options(&area, offset)
                    .map_err(OptionError::Overload)?
                    .0,
            );
        }
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
}

/// The typed accessors, on [`Indexed`] and (one lookup at a time) on
/// [`RawMessage`]: each reads one option's value as its typed form.
macro_rules! typed_accessors {
    ($($name:ident: $code:ident => $variant:ident($ty:ty);)*) => {
        impl Indexed<'_> {
            $(
                pub fn $name(&self) -> Result<Option<$ty>, OptionError> {
                    Ok(match self.option(code::$code)? {
                        Some(DhcpOption::$variant(value)) => Some(value),
                        _ => None,
                    })
                }
            )*
        }

        impl RawMessage {
            $(
                pub fn $name(&self) -> Result<Option<$ty>, OptionError> {
                    self.indexed(|m| m.$name())
                }
            )*
        }
    };
}

typed_accessors! {
    lease_time: LEASE_TIME => LeaseTime(u32);
    client_last_transaction_time: CLIENT_LAST_TRANSACTION_TIME => ClientLastTransactionTime(u32);
    base_time: BASE_TIME => BaseTime(u32);
    start_time_of_state: START_TIME_OF_STATE => StartTimeOfState(u32);
    query_start_time: QUERY_START_TIME => QueryStartTime(u32);
    query_end_time: QUERY_END_TIME => QueryEndTime(u32);
    server_id: SERVER_ID => ServerId(Ipv4Addr);
    status: STATUS_CODE => Status(Status);
    dhcp_state: DHCP_STATE => DhcpState(DhcpState);
    data_source: DATA_SOURCE => DataSource(DataSource);
    client_id: CLIENT_ID => ClientId(Bytes);
    parameter_request_list: PARAMETER_REQUEST_LIST => ParameterRequestList(Vec<u8>);
    relay_agent_info: RELAY_AGENT_INFO => RelayAgentInfo(RelayAgentInfo);
    associated_ip: ASSOCIATED_IP => AssociatedIp(Vec<Ipv4Addr>);
    vss: VSS => Vss(Vss);
}

impl RawMessage {
    /// The message read through an index built for this one call; a caller
    /// with several lookups builds an [`OptionIndex`] once instead.
    pub(super) fn indexed<T>(&self, read: impl FnOnce(Indexed<'_>) -> T) -> T {
        let index = OptionIndex::of(self);
        read(Indexed {
            msg: self,
            index: &index,
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
