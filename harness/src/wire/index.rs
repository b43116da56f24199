//! A received message: its octets, read once into an index of where each
//! option code's instances are, and the typed accessors that read through it.
//!
//! Every instance of a code counts: the options area first, then `file` and
//! `sname` when option 52 overloads them (RFC 2131 §4.1); several instances
//! are concatenated before the value is read (RFC 3396), so a duplicated
//! fixed-length option reads as a wrong length, never as one of its copies.
//! A value held by a single instance is lent from the message's octets, not
//! copied, and a message decoded into an earlier one's allocation (as a
//! stream's are) builds its index without allocating.

use super::options::{
    code, fits, u32_of, u8_of, DhcpOption, LengthRule, OptionError, RelayAgentInfo, Status, Vss,
};
use super::raw::{
    array, repeated_codes, DecodeError, Header, OptionItem, OptionWalk, RawMessage, Walked,
    FILE_OFFSET, HEADER_LEN, OPTIONS_OFFSET, SNAME_OFFSET,
};
use super::types::{DataSource, DhcpState, MessageType};
use bytes::Bytes;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::net::Ipv4Addr;
use std::rc::Rc;

/// One instance of an option: its value is the message's `at..at + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Instance {
    code: u8,
    len: u8,
    at: u32,
}

/// A set of option codes.
#[derive(Debug, Clone, Copy, Default)]
struct Codes([u64; 4]);

impl Codes {
    fn any(&self) -> bool {
        self.0.iter().any(|w| *w != 0)
    }

    #[inline]
    fn contains(&self, code: u8) -> bool {
        let (word, bit) = (usize::from(code >> 6), code & 63);
        self.0.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Adds `code`; false when it was there already.
    #[inline]
    fn insert(&mut self, code: u8) -> bool {
        let (word, bit) = (usize::from(code >> 6), code & 63);
        match self.0.get_mut(word) {
            Some(w) => {
                let new = *w & (1 << bit) == 0;
                *w |= 1 << bit;
                new
            }
            None => false,
        }
    }
}

/// Where each option code's instances are in one message.
#[derive(Debug, Clone)]
pub struct OptionIndex {
    /// Instances of the options area in wire order, then those of `file`
    /// and `sname` when option 52 overloads them. A `Vec`, not an inline
    /// array: a reused index keeps its capacity, and pushing then costs
    /// less than an inline array's check of where its items are.
    instances: Vec<Instance>,
    /// How many of `instances` are in the options area.
    main: usize,
    /// Codes with an instance.
    present: Codes,
    /// Codes with more than one instance.
    repeated: Codes,
    /// Codes with an instance whose length the code's [`LengthRule`] does
    /// not allow (several instances may still join to an allowed length).
    misfit: Codes,
    /// Where the first instance of each code in `present` is in
    /// `instances`; entries of absent codes are stale and never read.
    first: [u32; 256],
    /// Option 52 is malformed or an overloaded area does not decode: every
    /// lookup but option 52's reports it.
    overload_error: Option<Box<OptionError>>,
}

impl Default for OptionIndex {
    fn default() -> Self {
        OptionIndex {
            instances: Vec::new(),
            main: 0,
            present: Codes::default(),
            repeated: Codes::default(),
            misfit: Codes::default(),
            first: [0; 256],
            overload_error: None,
        }
    }
}

impl OptionIndex {
    fn clear(&mut self) {
        self.instances.clear();
        self.main = 0;
        self.present = Codes::default();
        self.repeated = Codes::default();
        self.misfit = Codes::default();
        self.overload_error = None;
    }

    #[inline(always)]
    fn add(&mut self, code: u8, at: usize, len: usize) {
        let place = u32::try_from(self.instances.len()).unwrap_or(u32::MAX);
        self.instances.push(Instance {
            code,
            len: u8::try_from(len).unwrap_or(u8::MAX),
            at: u32::try_from(at).unwrap_or(u32::MAX),
        });
        if self.present.insert(code) {
            if let Some(first) = self.first.get_mut(usize::from(code)) {
                *first = place;
            }
        } else {
            self.repeated.insert(code);
        }
        if !fits(code, len) {
            self.misfit.insert(code);
        }
    }

    /// The first instance of a present `code`.
    #[inline]
    fn first(&self, code: u8) -> Option<Instance> {
        let place = self.first.get(usize::from(code))?;
        self.instances.get(*place as usize).copied()
    }
}

/// What a lookup found.
enum Found {
    Absent,
    One(Instance),
    Joined(Vec<u8>),
}

/// A message with its index, built once and read by every check.
#[derive(Debug, Clone)]
pub struct Received {
    /// The message as it arrived (or as a built one encodes).
    bytes: Bytes,
    index: OptionIndex,
    has_end: bool,
    /// Where the bytes after the first END start.
    trailing: usize,
    /// Built with items written verbatim ([`OptionItem::Raw`]), which no
    /// lookup sees.
    raw_items: bool,
    /// Option 53 when it reads as a type, read once: every check starts
    /// from it.
    message_type: Option<MessageType>,
}

/// The received message every check reads.
pub type Indexed<'a> = &'a Received;

impl Received {
    /// Decodes one message (without its TCP length prefix); option values
    /// stay in `bytes`.
    pub fn decode(bytes: Bytes) -> Result<Received, DecodeError> {
        let mut received = Received::empty(bytes);
        received.index_octets()?;
        Ok(received)
    }

    /// [`decode`](Self::decode) into shared memory, for a message that is
    /// handed around: indexed where it will stay, not moved there afterwards,
    /// and in the allocation of `spare`, an earlier message, when nothing else
    /// holds it any more (a stream's messages then need no allocation each).
    pub fn decode_shared(
        bytes: Bytes,
        spare: Option<Rc<Received>>,
    ) -> Result<Rc<Received>, DecodeError> {
        let mut shared = match spare {
            Some(mut spare) => match Rc::get_mut(&mut spare) {
                Some(unused) => {
                    unused.reset(bytes);
                    spare
                }
                None => Rc::new(Received::empty(bytes)),
            },
            None => Rc::new(Received::empty(bytes)),
        };
        // The Rc is not shared (new, or unique when reused), so this never
        // copies.
        Rc::make_mut(&mut shared).index_octets()?;
        Ok(shared)
    }

    /// This message in an allocation of its own, no longer sharing the read
    /// buffer it arrived in (for one kept after its connection is done).
    pub fn detached(&self) -> Received {
        let mut copy = self.clone();
        copy.bytes = Bytes::copy_from_slice(&self.bytes);
        copy
    }

    fn reset(&mut self, bytes: Bytes) {
        self.bytes = bytes;
        self.index.clear();
        self.has_end = false;
        self.trailing = 0;
        self.raw_items = false;
        self.message_type = None;
    }

    /// Decodes as much as it can: options up to an undecodable one are
    /// indexed and the rest is opaque ([`has_raw_items`](Self::has_raw_items)),
    /// so the header (xid, message type) can still be judged. `None` when the
    /// message is too short for its header.
    pub fn decode_partial(bytes: Bytes) -> (Option<Received>, Option<DecodeError>) {
        let mut received = Received::empty(bytes);
        match received.index_octets() {
            Ok(()) => (Some(received), None),
            Err(err @ DecodeError::TooShort { .. }) => (None, Some(err)),
            Err(err) => {
                received.raw_items = true;
                received.trailing = received.bytes.len();
                received.finish();
                (Some(received), Some(err))
            }
        }
    }

    fn index_octets(&mut self) -> Result<(), DecodeError> {
        if self.bytes.len() < OPTIONS_OFFSET {
            return Err(DecodeError::TooShort {
                len: self.bytes.len(),
                needed: OPTIONS_OFFSET,
            });
        }
        let Received {
            bytes,
            index,
            has_end,
            ..
        } = self;
        let area = bytes.get(OPTIONS_OFFSET..).unwrap_or_default();
        let mut walk = OptionWalk::new(area, OPTIONS_OFFSET);
        for walked in walk.by_ref() {
            match walked? {
                Walked::Pad => {}
                Walked::End => *has_end = true,
                Walked::Tlv { code, start, end } => {
                    index.add(code, OPTIONS_OFFSET + start, end - start)
                }
            }
        }
        self.trailing = OPTIONS_OFFSET + walk.consumed();
        self.finish();
        Ok(())
    }

    fn empty(bytes: Bytes) -> Received {
        Received {
            bytes,
            index: OptionIndex::default(),
            has_end: false,
            trailing: 0,
            raw_items: false,
            message_type: None,
        }
    }

    /// A built message as the peer will read it: every option item, valid or
    /// not, is where the encoding puts it; items written verbatim are not
    /// looked into.
    pub fn from_raw(msg: &RawMessage) -> Received {
        let mut received = Received::empty(Bytes::from(msg.encode()));
        let mut pos = OPTIONS_OFFSET;
        for item in &msg.options {
            match item {
                OptionItem::Pad | OptionItem::End => pos += 1,
                OptionItem::Tlv { code, data } if data.is_empty() => {
                    received.index.add(*code, pos + 2, 0);
                    pos += 2;
                }
                OptionItem::Tlv { code, data } => {
                    // As encoding splits it (RFC 3396).
                    for chunk in data.chunks(255) {
                        received.index.add(*code, pos + 2, chunk.len());
                        pos += 2 + chunk.len();
                    }
                }
                OptionItem::Raw(bytes) => {
                    received.raw_items = true;
                    pos += bytes.len();
                }
            }
        }
        received.has_end = msg.has_end();
        received.trailing = pos;
        received.finish();
        received
    }

    fn finish(&mut self) {
        self.index.main = self.index.instances.len();
        if self.index.present.contains(code::OVERLOAD) {
            self.index_overloaded();
        }
        self.message_type = match self.simple(code::MESSAGE_TYPE) {
            // One octet, as nearly every message has it.
            Some(Some(one)) if one.len == 1 => {
                self.value(one).first().map(|v| MessageType::from_u8(*v))
            }
            _ => self.read_message_type().ok(),
        };
    }

    /// Adds the instances of the areas option 52 overloads: `file` first,
    /// then `sname`; option 52 means nothing inside them.
    fn index_overloaded(&mut self) {
        let flags = match self.option_data(code::OVERLOAD) {
            Ok(Some(flags)) => match flags.as_ref() {
                [flags] => *flags,
                other => {
                    self.index.overload_error = Some(Box::new(OptionError::WrongLength {
                        code: code::OVERLOAD,
                        len: other.len(),
                        rule: LengthRule::Exactly(1),
                    }));
                    return;
                }
            },
            Ok(None) => return,
            Err(e) => {
                self.index.overload_error = Some(Box::new(e));
                return;
            }
        };
        let mut found: SmallVec<[(u8, usize, usize); 8]> = SmallVec::new();
        for (flag, offset, len) in [(1, FILE_OFFSET, 128), (2, SNAME_OFFSET, 64)] {
            if flags & flag == 0 {
                continue;
            }
            let area = self.bytes.get(offset..offset + len).unwrap_or_default();
            for walked in OptionWalk::new(area, offset) {
                match walked {
                    Ok(Walked::Tlv { code, start, end }) if code != code::OVERLOAD => {
                        found.push((code, offset + start, end - start));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        self.index.overload_error = Some(Box::new(OptionError::Overload(e)));
                        return;
                    }
                }
            }
        }
        for (code, at, len) in found {
            self.index.add(code, at, len);
        }
    }

    /// The fixed header, copied out; the accessors below read single fields
    /// without copying it.
    pub fn header(&self) -> Header {
        Header::decode(&self.bytes)
    }

    pub fn op(&self) -> u8 {
        self.bytes.first().copied().unwrap_or_default()
    }

    pub fn xid(&self) -> u32 {
        u32::from_be_bytes(array(&self.bytes, 4))
    }

    pub fn ciaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(&self.bytes, 12))
    }

    /// The hardware address as `hlen` says, clamped to the 16 octets of chaddr.
    pub fn hardware_address(&self) -> &[u8] {
        let hlen = usize::from(self.bytes.get(2).copied().unwrap_or_default());
        self.bytes.get(28..28 + hlen.min(16)).unwrap_or_default()
    }

    /// The four octets at offset 236; the magic cookie in a valid message.
    pub fn cookie(&self) -> [u8; 4] {
        array(&self.bytes, HEADER_LEN)
    }

    /// Length of the message in octets.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// True when the options area is terminated by END.
    pub fn has_end(&self) -> bool {
        self.has_end
    }

    /// The bytes after the first END (normally PAD or nothing).
    pub fn trailing(&self) -> &[u8] {
        self.bytes.get(self.trailing..).unwrap_or_default()
    }

    /// The message holds option items written verbatim, not options.
    pub fn has_raw_items(&self) -> bool {
        self.raw_items
    }

    fn value(&self, instance: Instance) -> &[u8] {
        let at = instance.at as usize;
        self.bytes
            .get(at..at + usize::from(instance.len))
            .unwrap_or_default()
    }

    fn value_bytes(&self, instance: Instance) -> Bytes {
        let at = instance.at as usize;
        let end = at + usize::from(instance.len);
        if end <= self.bytes.len() {
            self.bytes.slice(at..end)
        } else {
            Bytes::new()
        }
    }

    /// The (code, value) pairs of the options area, in wire order.
    pub fn tlvs(&self) -> impl Iterator<Item = (u8, &[u8])> {
        let main = self.index.instances.get(..self.index.main);
        main.unwrap_or_default()
            .iter()
            .map(|i| (i.code, self.value(*i)))
    }

    /// Option codes that appear more than once in the options area, in the
    /// order of their first appearance.
    pub fn duplicate_codes(&self) -> Vec<u8> {
        repeated_codes(self.tlvs().map(|(code, _)| code))
    }

    /// The answer of a lookup that needs no joining and has no broken
    /// overload to report, as most lookups of a check are: `Some(None)` when
    /// `option` is absent, `Some(Some(instance))` for its one instance. The
    /// hot accessors try it before [`find`](Self::find), which costs a
    /// [`Found`] for every answer (about 380 instructions per message of a
    /// bulk stream, by callgrind).
    #[inline]
    fn simple(&self, option: u8) -> Option<Option<Instance>> {
        if option != code::OVERLOAD && self.index.overload_error.is_some() {
            return None;
        }
        if !self.index.present.contains(option) {
            return Some(None);
        }
        if self.index.repeated.contains(option) {
            return None;
        }
        Some(self.index.first(option))
    }

    /// Every lookup: [`simple`](Self::simple)'s answer, else the broken
    /// overload's error or the instances joined.
    fn find(&self, option: u8) -> Result<Found, OptionError> {
        if let Some(simple) = self.simple(option) {
            return Ok(simple.map_or(Found::Absent, Found::One));
        }
        if option != code::OVERLOAD {
            if let Some(e) = &self.index.overload_error {
                return Err(OptionError::clone(e));
            }
        }
        let mut joined = Vec::new();
        for instance in self.index.instances.iter().filter(|i| i.code == option) {
            joined.extend_from_slice(self.value(*instance));
        }
        Ok(Found::Joined(joined))
    }

    /// The value of option `option`, all instances concatenated (RFC 3396), or
    /// `None` when it is absent.
    pub fn option_data(&self, option: u8) -> Result<Option<Cow<'_, [u8]>>, OptionError> {
        if let Some(simple) = self.simple(option) {
            return Ok(simple.map(|i| Cow::Borrowed(self.value(i))));
        }
        Ok(match self.find(option)? {
            Found::Absent => None,
            Found::One(instance) => Some(Cow::Borrowed(self.value(instance))),
            Found::Joined(joined) => Some(Cow::Owned(joined)),
        })
    }

    /// Whether option `option` is present (a malformed overload counts as
    /// absent, as it does for every lookup that fails).
    pub fn has(&self, option: u8) -> bool {
        (option == code::OVERLOAD || self.index.overload_error.is_none())
            && self.index.present.contains(option)
    }

    /// Whether any instance of `option` is in the message, readable or not.
    pub fn contains_code(&self, option: u8) -> bool {
        self.index.present.contains(option)
    }

    /// Whether some option's value may have a length its [`LengthRule`] does
    /// not allow: one instance has such a length, or a code has several
    /// instances, which are joined before their length counts. When false,
    /// every value fits its rule and [`values`](Self::values) need not be
    /// checked one by one.
    pub fn lengths_may_misfit(&self) -> bool {
        self.index.misfit.any() || self.index.repeated.any()
    }

    /// Every distinct option code present, in order of first appearance.
    pub fn option_codes(&self) -> impl Iterator<Item = u8> + '_ {
        let repeats = self.index.repeated.any();
        let mut seen = Codes::default();
        self.index
            .instances
            .iter()
            .filter(move |i| !repeats || seen.insert(i.code))
            .map(|i| i.code)
    }

    /// Each distinct option code present with its value (instances
    /// concatenated), in order of first appearance; nothing but option 52
    /// when the overload is broken.
    pub fn values(&self) -> impl Iterator<Item = (u8, Cow<'_, [u8]>)> + '_ {
        let broken = self.index.overload_error.is_some();
        let repeats = self.index.repeated.any();
        let mut seen = Codes::default();
        self.index
            .instances
            .iter()
            .filter(move |i| {
                (!repeats || seen.insert(i.code)) && !(broken && i.code != code::OVERLOAD)
            })
            .map(move |i| {
                let joined = match repeats && self.index.repeated.contains(i.code) {
                    true => self.find(i.code).ok(),
                    false => None,
                };
                let value = match joined {
                    Some(Found::Joined(joined)) => Cow::Owned(joined),
                    _ => Cow::Borrowed(self.value(*i)),
                };
                (i.code, value)
            })
    }

    /// Instances of `option` in the options area (not in an overloaded one).
    pub fn count_in_options_area(&self, option: u8) -> usize {
        if !self.index.present.contains(option) {
            return 0;
        }
        if !self.index.repeated.contains(option) {
            let place = self.index.first.get(usize::from(option)).copied();
            return usize::from(place.is_some_and(|p| (p as usize) < self.index.main));
        }
        let main = self.index.instances.get(..self.index.main);
        main.unwrap_or_default()
            .iter()
            .filter(|i| i.code == option)
            .count()
    }

    /// Option `option` decoded to its typed form.
    pub fn option(&self, option: u8) -> Result<Option<DhcpOption>, OptionError> {
        Ok(match self.find(option)? {
            Found::Absent => None,
            Found::One(instance) => Some(DhcpOption::decode_lent(
                option,
                self.value(instance),
                || self.value_bytes(instance),
            )?),
            Found::Joined(joined) => Some(DhcpOption::decode(option, &Bytes::from(joined))?),
        })
    }

    /// The message type when option 53 reads as one (read once, when the
    /// message was indexed).
    pub fn kind(&self) -> Option<MessageType> {
        self.message_type
    }

    /// Whether the message type (option 53) reads as `kind`.
    pub fn is(&self, kind: MessageType) -> bool {
        self.message_type == Some(kind)
    }

    /// The message type (option 53); [`OptionError::Missing`] when absent.
    pub fn message_type(&self) -> Result<MessageType, OptionError> {
        match self.message_type {
            Some(known) => Ok(known),
            None => self.read_message_type(),
        }
    }

    fn read_message_type(&self) -> Result<MessageType, OptionError> {
        let kind = self.fixed(code::MESSAGE_TYPE, |c, d| {
            u8_of(c, d).map(MessageType::from_u8)
        })?;
        kind.ok_or(OptionError::Missing {
            code: code::MESSAGE_TYPE,
        })
    }
}

/// The typed accessors of [`Received`]: each reads one option's value as its typed form, a
/// fixed-length value straight from its octets by `parse`, any other through
/// its [`DhcpOption`] variant.
macro_rules! typed_accessors {
    (
        fixed { $($fname:ident: $fcode:ident => $fty:ty = $parse:expr;)* }
        typed { $($tname:ident: $tcode:ident => $variant:ident($tty:ty);)* }
    ) => {
        impl Received {
            $(
                pub fn $fname(&self) -> Result<Option<$fty>, OptionError> {
                    self.fixed(code::$fcode, $parse)
                }
            )*
            $(
                pub fn $tname(&self) -> Result<Option<$tty>, OptionError> {
                    self.typed(code::$tcode, |o| match o {
                        DhcpOption::$variant(v) => Some(v),
                        _ => None,
                    })
                }
            )*
        }

    };
}

typed_accessors! {
    fixed {
        lease_time: LEASE_TIME => u32 = u32_of;
        renewal_time: RENEWAL_TIME => u32 = u32_of;
        rebinding_time: REBINDING_TIME => u32 = u32_of;
        client_last_transaction_time: CLIENT_LAST_TRANSACTION_TIME => u32 = u32_of;
        base_time: BASE_TIME => u32 = u32_of;
        start_time_of_state: START_TIME_OF_STATE => u32 = u32_of;
        query_start_time: QUERY_START_TIME => u32 = u32_of;
        query_end_time: QUERY_END_TIME => u32 = u32_of;
        server_id: SERVER_ID => Ipv4Addr = |c, d| u32_of(c, d).map(Ipv4Addr::from);
        dhcp_state: DHCP_STATE => DhcpState = |c, d| u8_of(c, d).map(DhcpState::from_u8);
        data_source: DATA_SOURCE => DataSource = |c, d| u8_of(c, d).map(DataSource);
    }
    typed {
        status: STATUS_CODE => Status(Status);
        client_id: CLIENT_ID => ClientId(Bytes);
        parameter_request_list: PARAMETER_REQUEST_LIST => ParameterRequestList(Vec<u8>);
        relay_agent_info: RELAY_AGENT_INFO => RelayAgentInfo(RelayAgentInfo);
        associated_ip: ASSOCIATED_IP => AssociatedIp(Vec<Ipv4Addr>);
        vss: VSS => Vss(Vss);
    }
}

impl Received {
    /// A fixed-length option's value, read by `parse` (which checks its
    /// length as [`DhcpOption::decode`] does).
    fn fixed<T>(
        &self,
        option: u8,
        parse: fn(u8, &[u8]) -> Result<T, OptionError>,
    ) -> Result<Option<T>, OptionError> {
        if let Some(simple) = self.simple(option) {
            return simple.map(|i| parse(option, self.value(i))).transpose();
        }
        Ok(match self.find(option)? {
            Found::Absent => None,
            Found::One(instance) => Some(parse(option, self.value(instance))?),
            Found::Joined(joined) => Some(parse(option, &joined)?),
        })
    }

    fn typed<T>(
        &self,
        option: u8,
        pick: fn(DhcpOption) -> Option<T>,
    ) -> Result<Option<T>, OptionError> {
        if let Some(None) = self.simple(option) {
            return Ok(None);
        }
        Ok(self.option(option)?.and_then(pick))
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
        Received::from_raw(&builder.build())
    }

    #[test]
    fn a_single_instance_is_lent_and_repeats_are_joined_in_order() {
        let r = received(vec![
            OptionItem::tlv(61, vec![1, 2]),
            OptionItem::tlv(82, vec![1, 1, b'a']),
            OptionItem::tlv(61, vec![3]),
        ]);
        let view = &r;
        assert!(matches!(
            view.option_data(82),
            Ok(Some(Cow::Borrowed(data))) if data == [1, 1, b'a']
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
        let r = Received::from_raw(&msg);
        let joined = r.option_data(61).ok().flatten().map(Cow::into_owned);
        assert_eq!(joined.as_deref(), Some(&[1u8, 2, 3][..]));
    }

    #[test]
    fn lengths_are_left_unchecked_only_when_every_value_fits_alone() {
        let fitting = received(vec![OptionItem::tlv(code::LEASE_TIME, vec![0, 0, 0, 60])]);
        assert!(!fitting.lengths_may_misfit());
        // Lease time is exactly 4 octets.
        let short = received(vec![OptionItem::tlv(code::LEASE_TIME, vec![0, 60])]);
        assert!(short.lengths_may_misfit());
        // Two pieces that join to 4 octets: each misfits alone, so the
        // joined value has to be checked.
        let split = received(vec![
            OptionItem::tlv(code::LEASE_TIME, vec![0, 0]),
            OptionItem::tlv(code::LEASE_TIME, vec![0, 60]),
        ]);
        assert!(split.lengths_may_misfit());
        assert_eq!(split.lease_time(), Ok(Some(60)));
        // Client identifier is at least 2 octets: a repeat of fitting pieces
        // still asks for the check, as it is the join that counts.
        let repeated = received(vec![
            OptionItem::tlv(code::CLIENT_ID, vec![1, 2]),
            OptionItem::tlv(code::CLIENT_ID, vec![3, 4]),
        ]);
        assert!(repeated.lengths_may_misfit());
    }

    #[test]
    fn message_type_instances_are_counted_in_the_options_area_only() {
        assert_eq!(received(vec![]).count_in_options_area(53), 1);
        let twice = received(vec![OptionItem::tlv(53, vec![16])]);
        assert_eq!(twice.count_in_options_area(53), 2);
        let mut msg = RawMessage {
            options: vec![OptionItem::tlv(code::OVERLOAD, vec![1]), OptionItem::End],
            ..RawMessage::default()
        };
        msg.header.file[..4].copy_from_slice(&[53, 1, 16, 255]);
        let in_file = Received::from_raw(&msg);
        assert!(in_file.contains_code(53));
        assert_eq!(in_file.count_in_options_area(53), 0);
    }

    #[test]
    fn a_bad_overload_fails_every_lookup_but_its_own() {
        let r = received(vec![OptionItem::tlv(code::OVERLOAD, vec![1, 2])]);
        let view = &r;
        assert!(view.message_type().is_err());
        assert!(!view.has(53));
        assert!(view.has(code::OVERLOAD));
    }

    #[test]
    fn a_decoded_message_reads_as_the_message_it_was_built_from() {
        let mut built = MessageBuilder::reply(MessageType::LeaseUnassigned, 0x0102_0304)
            .ciaddr(Ipv4Addr::new(192, 0, 2, 7))
            .hardware(1, &[2, 0, 0, 0, 0, 9])
            .item(OptionItem::Pad)
            .item(OptionItem::tlv(code::DHCP_STATE, vec![4]))
            .item(OptionItem::tlv(61, vec![5u8; 300]))
            .item(OptionItem::tlv(code::LEASE_TIME, vec![0, 0, 1]))
            .build();
        built.trailing = Bytes::from_static(&[0, 7]);
        let from_raw = Received::from_raw(&built);
        let decoded = Received::decode(Bytes::from(built.encode())).unwrap();
        for r in [&from_raw, &decoded] {
            assert_eq!(r.xid(), 0x0102_0304);
            assert_eq!(r.ciaddr(), Ipv4Addr::new(192, 0, 2, 7));
            assert_eq!(r.hardware_address(), &[2, 0, 0, 0, 0, 9]);
            assert_eq!(r.op(), 2);
            assert_eq!(r.len(), built.encoded_len());
            assert_eq!(r.trailing(), &[0, 7]);
            assert!(r.has_end());
            assert_eq!(r.message_type(), Ok(MessageType::LeaseUnassigned));
            assert_eq!(r.dhcp_state(), Ok(Some(DhcpState::Released)));
            // 300 octets travel as two instances (RFC 3396) and read as one value.
            assert_eq!(r.client_id().ok().flatten().map(|b| b.len()), Some(300));
            assert!(matches!(
                r.lease_time(),
                Err(OptionError::WrongLength { len: 3, .. })
            ));
            let values: Vec<(u8, usize)> = r.values().map(|(c, v)| (c, v.len())).collect();
            assert_eq!(values, vec![(53, 1), (156, 1), (61, 300), (51, 3)]);
            assert_eq!(r.duplicate_codes(), vec![61]);
        }
    }

    #[test]
    fn a_broken_overload_leaves_only_option_52_readable_but_every_code_counted() {
        let r = received(vec![
            OptionItem::tlv(code::OVERLOAD, vec![7, 7]),
            OptionItem::tlv(code::AUTHENTICATION, vec![1]),
        ]);
        assert!(r.contains_code(code::AUTHENTICATION));
        assert!(!r.has(code::AUTHENTICATION));
        let readable: Vec<u8> = r.values().map(|(c, _)| c).collect();
        assert_eq!(readable, vec![code::OVERLOAD]);
    }

    #[test]
    fn a_message_decoded_into_a_spare_reads_as_a_fresh_one_and_a_held_one_is_left_alone() {
        let encoded = |items: Vec<OptionItem>| {
            let mut builder = MessageBuilder::reply(MessageType::LeaseActive, 1);
            for item in items {
                builder = builder.item(item);
            }
            Bytes::from(builder.build().encode())
        };
        // A broken overload and a repeated option, then a plain message: none
        // of the first one's index may show through in the second.
        let first = encoded(vec![
            OptionItem::tlv(code::OVERLOAD, vec![7, 7]),
            OptionItem::tlv(61, vec![1]),
            OptionItem::tlv(61, vec![2]),
        ]);
        let second = encoded(vec![OptionItem::tlv(code::DHCP_STATE, vec![2])]);
        let spare = Received::decode_shared(first.clone(), None).unwrap();
        let spare_at = Rc::as_ptr(&spare);
        let reused = Received::decode_shared(second.clone(), Some(spare)).unwrap();
        assert_eq!(
            Rc::as_ptr(&reused),
            spare_at,
            "the spare's allocation is reused"
        );
        let fresh = Received::decode(second).unwrap();
        for code in 0..=255u8 {
            assert_eq!(reused.option_data(code), fresh.option_data(code));
            assert_eq!(reused.contains_code(code), fresh.contains_code(code));
        }
        assert!(reused.duplicate_codes().is_empty());

        let held = Received::decode_shared(first, None).unwrap();
        let also_held = Rc::clone(&held);
        let next = Received::decode_shared(encoded(Vec::new()), Some(also_held)).unwrap();
        assert!(!Rc::ptr_eq(&next, &held));
        assert_eq!(held.duplicate_codes(), vec![61]);
    }

    #[test]
    fn a_detached_message_reads_alike_from_octets_of_its_own() {
        let mut read = bytes::BytesMut::new();
        let msg = MessageBuilder::reply(MessageType::LeaseActive, 9)
            .item(OptionItem::tlv(code::DHCP_STATE, vec![2]))
            .build()
            .encode();
        read.extend_from_slice(&msg);
        read.extend_from_slice(&[0; 4096]);
        let shared = Received::decode(read.split_to(msg.len()).freeze()).unwrap();
        let own = shared.detached();
        assert_ne!(own.bytes.as_ptr(), shared.bytes.as_ptr());
        assert_eq!(own.bytes, shared.bytes);
        assert_eq!(own.dhcp_state(), Ok(Some(DhcpState::Active)));
        assert_eq!(own.xid(), 9);
    }
}
