//! TLS 1.0 and 1.1 handshakes written by hand, which no maintained TLS
//! library offers any more: the ClientHello the harness sends a secure
//! server to see that it refuses them (BCP 195: RFC 8996 forbids
//! negotiating them; RFC 7724 §9 cites RFC 7525), and the ServerHello a
//! deliberately defective reference server answers with. Sans-IO.

use std::fmt;

/// A TLS version below 1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum LegacyTls {
    #[serde(rename = "1.0")]
    Tls10,
    #[serde(rename = "1.1")]
    Tls11,
}

impl LegacyTls {
    /// The version's number on the wire.
    pub fn wire(self) -> u16 {
        match self {
            LegacyTls::Tls10 => 0x0301,
            LegacyTls::Tls11 => 0x0302,
        }
    }
}

impl fmt::Display for LegacyTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LegacyTls::Tls10 => "TLS 1.0",
            LegacyTls::Tls11 => "TLS 1.1",
        })
    }
}

const HANDSHAKE: u8 = 22;
const ALERT: u8 = 21;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
/// Record layer version of a first ClientHello (RFC 5246 Appendix E.1).
const RECORD_VERSION: u16 = 0x0301;
/// CBC suites of the TLS 1.0/1.1 era, ECDHE first, then RSA key exchange.
const SUITES: [u16; 6] = [0xc013, 0xc014, 0xc009, 0xc00a, 0x002f, 0x0035];
const SUITE_CHOSEN: u16 = 0xc013;

fn record(content_type: u8, version: u16, body: &[u8]) -> Vec<u8> {
    let mut out = vec![content_type];
    out.extend(version.to_be_bytes());
    out.extend(u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend(body);
    out
}

fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).unwrap_or(0).to_be_bytes();
    let mut out = vec![kind];
    out.extend(len.get(1..).unwrap_or_default());
    out.extend(body);
    out
}

fn extension(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend(u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
    out.extend(data);
    out
}

/// A ClientHello offering `version` and nothing newer (no
/// supported_versions extension), in one record.
pub fn client_hello(version: LegacyTls) -> Vec<u8> {
    let mut body = version.wire().to_be_bytes().to_vec();
    // A fixed random keeps captures of one scenario alike run to run.
    body.extend([0xa1; 32]);
    body.push(0); // no session id
    let suites: Vec<u8> = SUITES.iter().flat_map(|s| s.to_be_bytes()).collect();
    body.extend(u16::try_from(suites.len()).unwrap_or(0).to_be_bytes());
    body.extend(suites);
    body.extend([1, 0]); // the null compression method only
    let mut extensions = Vec::new();
    // supported_groups: x25519, secp256r1, secp384r1.
    extensions.extend(extension(0x000a, &[0, 6, 0, 0x1d, 0, 0x17, 0, 0x18]));
    // ec_point_formats: uncompressed.
    extensions.extend(extension(0x000b, &[1, 0]));
    // renegotiation_info, empty (RFC 5746).
    extensions.extend(extension(0xff01, &[0]));
    body.extend(u16::try_from(extensions.len()).unwrap_or(0).to_be_bytes());
    body.extend(extensions);
    record(HANDSHAKE, RECORD_VERSION, &handshake(CLIENT_HELLO, &body))
}

/// A ServerHello choosing `version` (what a server that accepts it sends).
pub fn server_hello(version: u16) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend([0x5e; 32]);
    body.push(0);
    body.extend(SUITE_CHOSEN.to_be_bytes());
    body.push(0);
    record(HANDSHAKE, version, &handshake(SERVER_HELLO, &body))
}

/// The version a ClientHello at the start of `bytes` offers at most, where
/// it offers no supported_versions (a TLS 1.3 client names 1.2 there and
/// lists its versions in the extension): `None` when `bytes` is no such
/// ClientHello, or not all of it came yet.
pub fn legacy_client_version(bytes: &[u8]) -> Option<u16> {
    let (&content_type, _) = bytes.split_first()?;
    let body = bytes.get(5..)?;
    if content_type != HANDSHAKE || body.first() != Some(&CLIENT_HELLO) {
        return None;
    }
    let version = u16::from_be_bytes([*body.get(4)?, *body.get(5)?]);
    (version < 0x0303).then_some(version)
}

/// Whether a record header starts a handshake record.
pub fn is_handshake(header: &[u8; 5]) -> bool {
    header[0] == HANDSHAKE
}

/// The length of the first TLS record in `header` (its first five octets).
pub fn record_len(header: &[u8; 5]) -> usize {
    usize::from(u16::from_be_bytes([header[3], header[4]]))
}

/// What a server answered a legacy ClientHello with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A ServerHello choosing this version.
    Hello(u16),
    /// An alert record: its level and description.
    Alert(u8, u8),
    /// The first bytes are no TLS record this module reads.
    Other,
}

/// Reads the answer at the start of `bytes`; `None` until enough came.
pub fn answer(bytes: &[u8]) -> Option<Answer> {
    let content_type = *bytes.first()?;
    match content_type {
        HANDSHAKE => {
            let kind = *bytes.get(5)?;
            if kind != SERVER_HELLO {
                return Some(Answer::Other);
            }
            Some(Answer::Hello(u16::from_be_bytes([
                *bytes.get(9)?,
                *bytes.get(10)?,
            ])))
        }
        ALERT => Some(Answer::Alert(*bytes.get(5)?, *bytes.get(6)?)),
        _ => Some(Answer::Other),
    }
}

impl Answer {
    /// The server took a version below TLS 1.2.
    pub fn accepts_legacy(&self) -> bool {
        matches!(self, Answer::Hello(v) if *v < 0x0303)
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Hello(0x0301) => f.write_str("a ServerHello choosing TLS 1.0"),
            Answer::Hello(0x0302) => f.write_str("a ServerHello choosing TLS 1.1"),
            Answer::Hello(v) => write!(f, "a ServerHello choosing version 0x{v:04x}"),
            // protocol_version (70) is what RFC 5246 §7.2.2 asks for;
            // handshake_failure (40) comes where no offered suite is kept.
            Answer::Alert(level, 70) => write!(f, "a protocol_version alert (level {level})"),
            Answer::Alert(level, 40) => write!(f, "a handshake_failure alert (level {level})"),
            Answer::Alert(level, d) => write!(f, "alert {d} (level {level})"),
            Answer::Other => f.write_str("bytes that are no ServerHello or alert"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_hello_is_one_record_offering_only_the_old_version() {
        for v in [LegacyTls::Tls10, LegacyTls::Tls11] {
            let hello = client_hello(v);
            let header: [u8; 5] = hello.get(..5).unwrap().try_into().unwrap();
            assert_eq!(record_len(&header), hello.len() - 5);
            assert_eq!(legacy_client_version(&hello), Some(v.wire()));
            // No supported_versions extension (43) among the extensions.
            let ext_start = 5 + 4 + 2 + 32 + 1 + 2 + SUITES.len() * 2 + 2 + 2;
            let mut at = ext_start;
            while at + 4 <= hello.len() {
                let kind = u16::from_be_bytes([hello[at], hello[at + 1]]);
                assert_ne!(kind, 43);
                at += 4 + usize::from(u16::from_be_bytes([hello[at + 2], hello[at + 3]]));
            }
            assert_eq!(at, hello.len());
        }
    }

    #[test]
    fn a_modern_client_hello_is_not_taken_for_a_legacy_one() {
        let mut hello = client_hello(LegacyTls::Tls11);
        // client_version 0x0303, as TLS 1.2 and 1.3 clients write it.
        hello[10] = 0x03;
        assert_eq!(legacy_client_version(&hello), None);
        assert_eq!(legacy_client_version(&hello[..7]), None);
        assert_eq!(legacy_client_version(b"\x17\x03\x03\x00\x01x"), None);
    }

    #[test]
    fn answers_read_back_as_what_they_are() {
        assert_eq!(answer(&server_hello(0x0302)), Some(Answer::Hello(0x0302)));
        assert!(Answer::Hello(0x0301).accepts_legacy());
        assert!(!Answer::Hello(0x0303).accepts_legacy());
        assert!(!Answer::Alert(2, 70).accepts_legacy());
        assert_eq!(answer(&[21, 3, 1, 0, 2, 2, 70]), Some(Answer::Alert(2, 70)));
        assert_eq!(answer(&[21, 3, 1, 0, 2, 2]), None);
        assert_eq!(answer(b"HTTP/1.1"), Some(Answer::Other));
        assert_eq!(
            Answer::Hello(0x0302).to_string(),
            "a ServerHello choosing TLS 1.1"
        );
    }
}
