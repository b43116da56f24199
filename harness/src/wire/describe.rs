//! Human-readable rendering of messages, for the console and transcripts.

use super::index::Indexed;
use super::options::{code, option_name, DhcpOption, OptionError};
use super::raw::{OptionItem, RawMessage, MAGIC_COOKIE};
use super::types::{MessageType, StatusCode};
use smallvec::SmallVec;
use std::fmt::{self, Write};
use std::net::Ipv4Addr;
use std::time::{Duration, UNIX_EPOCH};

/// Octets as text when every one is printable ASCII, else as colon-separated hex.
pub fn octets(bytes: &[u8]) -> String {
    if !bytes.is_empty() && bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("\"{}\"", String::from_utf8_lossy(bytes))
    } else {
        hex(bytes, ":")
    }
}

pub fn hex(bytes: &[u8], separator: &str) -> String {
    let mut out = String::with_capacity(bytes.len() * (2 + separator.len()));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Octets written as hex, with or without colons or spaces between them
/// ("02:00:00:00:00:10", "020000000010"); `None` when it is not hex.
pub fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if clean.len() % 2 != 0 {
        return None;
    }
    (0..clean.len())
        .step_by(2)
        .map(|i| {
            clean
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

/// An absolute time (seconds since 1970, RFC 6926 §6.2.3) in RFC 3339 form.
pub fn absolute_time(seconds: u32) -> String {
    let when = UNIX_EPOCH + Duration::from_secs(u64::from(seconds));
    humantime::format_rfc3339_seconds(when).to_string()
}

/// A typed option value, without its code.
pub fn option_value(option: &DhcpOption) -> String {
    match option {
        DhcpOption::LeaseTime(v)
        | DhcpOption::RenewalTime(v)
        | DhcpOption::RebindingTime(v)
        | DhcpOption::ClientLastTransactionTime(v)
        | DhcpOption::StartTimeOfState(v) => format!("{v} s"),
        DhcpOption::BaseTime(v) | DhcpOption::QueryStartTime(v) | DhcpOption::QueryEndTime(v) => {
            format!("{v} ({})", absolute_time(*v))
        }
        DhcpOption::MessageType(t) => t.to_string(),
        DhcpOption::ServerId(addr) => addr.to_string(),
        DhcpOption::ParameterRequestList(codes) => codes
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(","),
        DhcpOption::ClientId(id) => hex(id, ":"),
        DhcpOption::RelayAgentInfo(info) => info
            .sub_options
            .iter()
            .map(|(sub, value)| {
                let name = match *sub {
                    1 => "circuit-id".to_string(),
                    2 => "remote-id".to_string(),
                    12 => "relay-id".to_string(),
                    other => format!("sub-{other}"),
                };
                format!("{name}={}", octets(value))
            })
            .collect::<Vec<_>>()
            .join(" "),
        DhcpOption::AssociatedIp(addrs) => addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        DhcpOption::Status(status) => {
            let mut out = format!("{} ({})", status.code, status.code.to_u8());
            if !status.text.is_empty() {
                let _ = write!(out, " {}", octets(&status.text));
            }
            out
        }
        DhcpOption::DhcpState(state) => format!("{state} ({})", state.to_u8()),
        DhcpOption::DataSource(source) => source.to_string(),
        DhcpOption::Vss(vss) => format!("type {} {}", vss.kind, octets(&vss.info)),
        DhcpOption::Other { data, .. } => hex(data, " "),
    }
}

/// One line: type, xid, ciaddr, status and option codes, for transcripts.
pub fn summary(msg: Indexed<'_>) -> String {
    Brief::of(msg).to_string()
}

/// What [`summary`] shows of a message, taken without formatting it and
/// without holding on to the message.
#[derive(Debug, Clone)]
pub struct Brief {
    kind: Option<MessageType>,
    xid: u32,
    ciaddr: Ipv4Addr,
    status: Option<StatusCode>,
    /// Option codes in order of first appearance, without 53.
    codes: SmallVec<[u8; 16]>,
}

impl Brief {
    pub fn of(msg: Indexed<'_>) -> Self {
        Brief {
            kind: msg.kind(),
            xid: msg.xid(),
            ciaddr: msg.ciaddr(),
            status: msg.status().ok().flatten().map(|s| s.code),
            codes: msg
                .option_codes()
                .filter(|c| *c != code::MESSAGE_TYPE)
                .collect(),
        }
    }
}

impl fmt::Display for Brief {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Some(t) => write!(f, "{t}")?,
            None => f.write_str("(no valid message type)")?,
        }
        write!(f, " xid=0x{:08x}", self.xid)?;
        if !self.ciaddr.is_unspecified() {
            write!(f, " ciaddr={}", self.ciaddr)?;
        }
        if let Some(status) = self.status {
            write!(f, " status={status}")?;
        }
        for (i, c) in self.codes.iter().enumerate() {
            let lead = if i == 0 { " options=" } else { "," };
            write!(f, "{lead}{c}")?;
        }
        Ok(())
    }
}

/// Multi-line description of a message: a summary line, one line per option in
/// wire order, and one line per defect found by the typed layer.
pub struct Describe<'a>(pub &'a RawMessage);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = self.0;
        let h = &msg.header;
        let view = super::index::Received::from_raw(msg);
        let kind = match view.message_type() {
            Ok(t) => t.to_string(),
            Err(OptionError::Missing { .. }) => "(no message type)".to_string(),
            Err(e) => format!("(bad message type: {e})"),
        };
        write!(
            f,
            "{kind} xid=0x{:08x} op={} len={} ciaddr={}",
            h.xid,
            h.op,
            msg.encoded_len(),
            h.ciaddr
        )?;
        if h.htype != 0 || h.hlen != 0 {
            write!(
                f,
                " htype={} chaddr={}",
                h.htype,
                hex(h.hardware_address(), ":")
            )?;
        }
        for (label, addr) in [
            ("yiaddr", h.yiaddr),
            ("siaddr", h.siaddr),
            ("giaddr", h.giaddr),
        ] {
            if !addr.is_unspecified() {
                write!(f, " {label}={addr}")?;
            }
        }
        let mut pads = 0usize;
        for item in &msg.options {
            match item {
                OptionItem::Tlv { code: c, data } => {
                    let name = option_name(*c).unwrap_or("option");
                    match DhcpOption::decode(*c, data) {
                        Ok(value) if *c != code::MESSAGE_TYPE => {
                            write!(f, "\n  {c:>3} {name}: {}", option_value(&value))?
                        }
                        Ok(_) => {}
                        Err(e) => write!(
                            f,
                            "\n  {c:>3} {name}: {} !! {e} [{}]",
                            hex(data, " "),
                            e.requirement()
                        )?,
                    }
                }
                OptionItem::Pad => pads += 1,
                OptionItem::End => {}
                OptionItem::Raw(bytes) => write!(f, "\n  raw bytes: {}", hex(bytes, " "))?,
            }
        }
        if pads > 0 {
            write!(f, "\n  ({pads} PAD octets)")?;
        }
        if msg.cookie != MAGIC_COOKIE {
            write!(
                f,
                "\n  !! magic cookie is {} [WIRE-02]",
                hex(&msg.cookie, " ")
            )?;
        }
        if !msg.has_end() {
            write!(f, "\n  !! no END option [WIRE-04]")?;
        }
        if !msg.trailing.is_empty() && msg.trailing.iter().any(|b| *b != 0) {
            write!(
                f,
                "\n  {} bytes after END: {}",
                msg.trailing.len(),
                hex(&msg.trailing, " ")
            )?;
        }
        for dup in msg.duplicate_codes() {
            write!(f, "\n  !! option {dup} appears more than once")?;
        }
        Ok(())
    }
}
