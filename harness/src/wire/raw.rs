//! The raw DHCPv4 message: fixed BOOTP header, magic cookie and an ordered list
//! of option items (RFC 2131 §2, RFC 2132 §2).
//!
//! Decoding keeps every byte: option order, duplicates, PAD runs, a missing END,
//! bytes after END and a wrong cookie all survive, so the harness can judge what a
//! peer really sent. Encoding writes exactly what the value holds, so a test can
//! build any malformed message (see [`OptionItem::Raw`]).

use bytes::{BufMut, Bytes};
use std::net::Ipv4Addr;

/// Length of the fixed BOOTP header, up to the magic cookie.
pub const HEADER_LEN: usize = 236;
/// Offset of the first option, after the magic cookie.
pub const OPTIONS_OFFSET: usize = 240;
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
pub const PAD: u8 = 0;
pub const END: u8 = 255;

pub const SNAME_OFFSET: usize = 44;
pub const FILE_OFFSET: usize = 108;

/// Why a byte string is not a DHCPv4 message. Offsets count from the first byte
/// of the message (after any TCP length prefix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message is {len} bytes; the BOOTP header and magic cookie need {needed}")]
    TooShort { len: usize, needed: usize },
    #[error("option {code} at offset {offset} has no length byte")]
    MissingLength { code: u8, offset: usize },
    #[error(
        "option {code} at offset {offset} declares {declared} bytes but only {available} remain"
    )]
    Overrun {
        code: u8,
        offset: usize,
        declared: u8,
        available: usize,
    },
}

impl DecodeError {
    /// Byte offset in the message where the problem was found.
    pub fn offset(&self) -> usize {
        match self {
            DecodeError::TooShort { len, .. } => *len,
            DecodeError::MissingLength { offset, .. } | DecodeError::Overrun { offset, .. } => {
                *offset
            }
        }
    }
}

/// The fixed part of a BOOTP/DHCP message (RFC 2131 §2, figure 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub op: u8,
    pub htype: u8,
    pub hlen: u8,
    pub hops: u8,
    pub xid: u32,
    pub secs: u16,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 16],
    pub sname: [u8; 64],
    pub file: [u8; 128],
}

impl Default for Header {
    fn default() -> Self {
        Header {
            op: 0,
            htype: 0,
            hlen: 0,
            hops: 0,
            xid: 0,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; 16],
            sname: [0; 64],
            file: [0; 128],
        }
    }
}

impl Header {
    /// The hardware address as `hlen` says, clamped to the 16 octets of chaddr.
    pub fn hardware_address(&self) -> &[u8] {
        let len = usize::from(self.hlen).min(self.chaddr.len());
        &self.chaddr[..len]
    }
}

/// One element of the options area, in the order it appeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionItem {
    /// A single PAD octet (code 0).
    Pad,
    /// The END octet (code 255).
    End,
    /// A code-length-value option. Data longer than 255 octets is encoded as
    /// consecutive options with the same code (RFC 3396).
    Tlv { code: u8, data: Bytes },
    /// Bytes written verbatim, for malformed messages: a lying length, a
    /// truncated option, garbage. Decoding never produces this variant.
    Raw(Bytes),
}

impl OptionItem {
    pub fn tlv(code: u8, data: impl Into<Bytes>) -> Self {
        OptionItem::Tlv {
            code,
            data: data.into(),
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            OptionItem::Pad | OptionItem::End => 1,
            OptionItem::Tlv { data, .. } => {
                let chunks = data.len().div_ceil(255).max(1);
                2 * chunks + data.len()
            }
            OptionItem::Raw(bytes) => bytes.len(),
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            OptionItem::Pad => out.push(PAD),
            OptionItem::End => out.push(END),
            OptionItem::Tlv { code, data } if data.is_empty() => {
                out.push(*code);
                out.push(0);
            }
            OptionItem::Tlv { code, data } => {
                for chunk in data.chunks(255) {
                    out.push(*code);
                    // chunks(255) bounds the length, so the cast cannot truncate.
                    out.push(chunk.len() as u8);
                    out.extend_from_slice(chunk);
                }
            }
            OptionItem::Raw(bytes) => out.extend_from_slice(bytes),
        }
    }
}

/// A DHCPv4 message exactly as it is (or will be) on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    pub header: Header,
    /// The four octets at offset 236; [`MAGIC_COOKIE`] in a valid message.
    pub cookie: [u8; 4],
    /// Option items up to and including the first END, in wire order.
    pub options: Vec<OptionItem>,
    /// Bytes after the first END (normally PAD or nothing).
    pub trailing: Bytes,
}

impl Default for RawMessage {
    fn default() -> Self {
        RawMessage {
            header: Header::default(),
            cookie: MAGIC_COOKIE,
            options: Vec::new(),
            trailing: Bytes::new(),
        }
    }
}

fn be_u16(bytes: &[u8], at: usize) -> u16 {
    let mut out = [0u8; 2];
    if let Some(src) = bytes.get(at..at + 2) {
        out.copy_from_slice(src);
    }
    u16::from_be_bytes(out)
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    let mut out = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        out.copy_from_slice(src);
    }
    u32::from_be_bytes(out)
}

pub(crate) fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

/// One element of an options area, as [`OptionWalk`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walked {
    Pad,
    End,
    /// A code-length-value option whose value is `area[start..end]`.
    Tlv {
        code: u8,
        start: usize,
        end: usize,
    },
}

/// Walks an options area (the main area, or `file`/`sname` when overloaded)
/// up to and including the first END, or up to the first element that does
/// not decode, which it yields as an error and stops. `base` is the area's
/// offset in the message, used for error offsets.
pub(crate) struct OptionWalk<'a> {
    area: &'a [u8],
    base: usize,
    pos: usize,
    done: bool,
}

impl<'a> OptionWalk<'a> {
    pub(crate) fn new(area: &'a [u8], base: usize) -> Self {
        OptionWalk {
            area,
            base,
            pos: 0,
            done: false,
        }
    }

    /// Where the walk stands: after the END once it is walked, else the
    /// area's length once every element is.
    pub(crate) fn consumed(&self) -> usize {
        self.pos
    }
}

impl Iterator for OptionWalk<'_> {
    type Item = Result<Walked, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let pos = self.pos;
        let code = *self.area.get(pos)?;
        Some(match code {
            PAD => {
                self.pos = pos + 1;
                Ok(Walked::Pad)
            }
            END => {
                self.pos = pos + 1;
                self.done = true;
                Ok(Walked::End)
            }
            _ => {
                let Some(&declared) = self.area.get(pos + 1) else {
                    self.done = true;
                    return Some(Err(DecodeError::MissingLength {
                        code,
                        offset: self.base + pos,
                    }));
                };
                let start = pos + 2;
                let end = start + usize::from(declared);
                if end > self.area.len() {
                    self.done = true;
                    return Some(Err(DecodeError::Overrun {
                        code,
                        offset: self.base + pos,
                        declared,
                        available: self.area.len().saturating_sub(start),
                    }));
                }
                self.pos = end;
                Ok(Walked::Tlv { code, start, end })
            }
        })
    }
}

/// Decodes an options area into items; see [`OptionWalk`].
pub fn decode_options(area: &Bytes, base: usize) -> Result<(Vec<OptionItem>, usize), DecodeError> {
    let mut items = Vec::with_capacity(16);
    let mut walk = OptionWalk::new(area, base);
    for walked in walk.by_ref() {
        items.push(match walked? {
            Walked::Pad => OptionItem::Pad,
            Walked::End => OptionItem::End,
            Walked::Tlv { code, start, end } => OptionItem::Tlv {
                code,
                data: area.slice(start..end),
            },
        });
    }
    Ok((items, walk.consumed()))
}

impl Header {
    /// Reads the fixed header of a message of at least [`OPTIONS_OFFSET`]
    /// octets (shorter input reads as zeros).
    pub(crate) fn decode(b: &[u8]) -> Header {
        let [op, htype, hlen, hops] = array::<4>(b, 0);
        Header {
            op,
            htype,
            hlen,
            hops,
            xid: be_u32(b, 4),
            secs: be_u16(b, 8),
            flags: be_u16(b, 10),
            ciaddr: Ipv4Addr::from(array::<4>(b, 12)),
            yiaddr: Ipv4Addr::from(array::<4>(b, 16)),
            siaddr: Ipv4Addr::from(array::<4>(b, 20)),
            giaddr: Ipv4Addr::from(array::<4>(b, 24)),
            chaddr: array(b, 28),
            sname: array(b, SNAME_OFFSET),
            file: array(b, FILE_OFFSET),
        }
    }
}

impl RawMessage {
    /// Decodes one DHCP message (without a TCP length prefix).
    pub fn decode(bytes: &[u8]) -> Result<RawMessage, DecodeError> {
        Self::decode_bytes(Bytes::copy_from_slice(bytes))
    }

    /// Decodes one DHCP message, sharing `bytes` for option data without copying.
    pub fn decode_bytes(bytes: Bytes) -> Result<RawMessage, DecodeError> {
        if bytes.len() < OPTIONS_OFFSET {
            return Err(DecodeError::TooShort {
                len: bytes.len(),
                needed: OPTIONS_OFFSET,
            });
        }
        let b = &bytes[..];
        let header = Header::decode(b);
        let cookie = array(b, HEADER_LEN);
        let area = bytes.slice(OPTIONS_OFFSET..);
        let (options, consumed) = decode_options(&area, OPTIONS_OFFSET)?;
        Ok(RawMessage {
            header,
            cookie,
            options,
            trailing: area.slice(consumed..),
        })
    }

    /// Decodes as much as possible: on an option error, the options read so far
    /// are kept and the undecodable rest becomes one [`OptionItem::Raw`], so the
    /// header (xid, message type) can still be judged. `None` when the message is
    /// too short for the header.
    pub fn decode_partial(bytes: Bytes) -> (Option<RawMessage>, Option<DecodeError>) {
        match Self::decode_bytes(bytes.clone()) {
            Ok(msg) => (Some(msg), None),
            Err(err @ DecodeError::TooShort { .. }) => (None, Some(err)),
            Err(err) => {
                let cut = err.offset().min(bytes.len());
                let Ok(mut msg) = Self::decode_bytes(bytes.slice(..OPTIONS_OFFSET)) else {
                    return (None, Some(err));
                };
                let head = bytes.slice(OPTIONS_OFFSET..cut);
                if let Ok((items, _)) = decode_options(&head, OPTIONS_OFFSET) {
                    msg.options = items;
                }
                msg.options.push(OptionItem::Raw(bytes.slice(cut..)));
                (Some(msg), Some(err))
            }
        }
    }

    /// Number of octets [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        OPTIONS_OFFSET
            + self
                .options
                .iter()
                .map(OptionItem::encoded_len)
                .sum::<usize>()
            + self.trailing.len()
    }

    /// Writes the message exactly as it is held, malformed or not.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let h = &self.header;
        out.reserve(self.encoded_len());
        out.put_u8(h.op);
        out.put_u8(h.htype);
        out.put_u8(h.hlen);
        out.put_u8(h.hops);
        out.put_u32(h.xid);
        out.put_u16(h.secs);
        out.put_u16(h.flags);
        for addr in [h.ciaddr, h.yiaddr, h.siaddr, h.giaddr] {
            out.extend_from_slice(&addr.octets());
        }
        out.extend_from_slice(&h.chaddr);
        out.extend_from_slice(&h.sname);
        out.extend_from_slice(&h.file);
        out.extend_from_slice(&self.cookie);
        for item in &self.options {
            item.encode_into(out);
        }
        out.extend_from_slice(&self.trailing);
    }

    /// True when the options area is terminated by END.
    pub fn has_end(&self) -> bool {
        self.options.last() == Some(&OptionItem::End)
    }

    /// The (code, data) pairs of the main options area, in wire order.
    pub fn tlvs(&self) -> impl Iterator<Item = (u8, &Bytes)> {
        self.options.iter().filter_map(|item| match item {
            OptionItem::Tlv { code, data } => Some((*code, data)),
            _ => None,
        })
    }

    /// Option codes that appear more than once in the main options area, in the
    /// order of their first appearance.
    pub fn duplicate_codes(&self) -> Vec<u8> {
        repeated_codes(self.tlvs().map(|(code, _)| code))
    }
}

/// The codes that come more than once, in the order of their first coming.
pub(crate) fn repeated_codes(codes: impl Iterator<Item = u8>) -> Vec<u8> {
    let mut seen = [0u8; 256];
    let mut out = Vec::new();
    for code in codes {
        let count = &mut seen[usize::from(code)];
        *count = count.saturating_add(1);
        if *count == 2 {
            out.push(code);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Vec<u8> {
        let mut bytes = vec![0u8; OPTIONS_OFFSET];
        bytes[236..240].copy_from_slice(&MAGIC_COOKIE);
        bytes
    }

    #[test]
    fn too_short_reports_length() {
        let err = RawMessage::decode(&[0u8; 239]).unwrap_err();
        assert_eq!(
            err,
            DecodeError::TooShort {
                len: 239,
                needed: 240
            }
        );
        assert_eq!(err.offset(), 239);
    }

    #[test]
    fn overrun_names_option_and_offset() {
        let mut bytes = minimal();
        bytes.extend_from_slice(&[53, 1, 16, 154, 4, 0, 0]);
        let err = RawMessage::decode(&bytes).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Overrun {
                code: 154,
                offset: 243,
                declared: 4,
                available: 2
            }
        );
    }

    #[test]
    fn lone_code_at_end_has_no_length() {
        let mut bytes = minimal();
        bytes.push(53);
        let err = RawMessage::decode(&bytes).unwrap_err();
        assert_eq!(
            err,
            DecodeError::MissingLength {
                code: 53,
                offset: 240
            }
        );
    }

    #[test]
    fn keeps_pads_duplicates_missing_end_and_wrong_cookie() {
        let mut bytes = minimal();
        bytes[236..240].copy_from_slice(&[1, 2, 3, 4]);
        bytes.extend_from_slice(&[0, 0, 53, 1, 13, 53, 1, 11]);
        let msg = RawMessage::decode(&bytes).unwrap();
        assert_eq!(msg.cookie, [1, 2, 3, 4]);
        assert!(!msg.has_end());
        assert_eq!(msg.options.len(), 4);
        assert_eq!(msg.duplicate_codes(), vec![53]);
        assert_eq!(msg.encode(), bytes);
    }

    #[test]
    fn bytes_after_end_are_trailing() {
        let mut bytes = minimal();
        bytes.extend_from_slice(&[53, 1, 13, 255, 0, 0, 7]);
        let msg = RawMessage::decode(&bytes).unwrap();
        assert!(msg.has_end());
        assert_eq!(&msg.trailing[..], &[0, 0, 7]);
        assert_eq!(msg.encode(), bytes);
    }

    #[test]
    fn partial_decode_keeps_header_and_options_before_the_error() {
        let mut bytes = minimal();
        bytes[4..8].copy_from_slice(&[0, 0, 0, 9]);
        bytes.extend_from_slice(&[53, 1, 14, 154, 4, 0, 0]);
        let (msg, err) = RawMessage::decode_partial(Bytes::from(bytes.clone()));
        let msg = msg.unwrap();
        assert_eq!(err.map(|e| e.offset()), Some(243));
        assert_eq!(msg.header.xid, 9);
        assert_eq!(msg.options.first(), Some(&OptionItem::tlv(53, vec![14])));
        assert_eq!(msg.encode(), bytes);
    }

    #[test]
    fn long_tlv_is_split_per_rfc_3396() {
        let msg = RawMessage {
            options: vec![OptionItem::tlv(61, vec![7u8; 300])],
            ..RawMessage::default()
        };
        let bytes = msg.encode();
        assert_eq!(bytes.len(), msg.encoded_len());
        assert_eq!(&bytes[240..242], &[61, 255]);
        assert_eq!(&bytes[497..499], &[61, 45]);
    }
}
