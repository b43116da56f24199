//! Golden vectors: bytes computed by hand from RFC 2131 §2 (header layout),
//! RFC 2132 (TLV options) and the leasequery RFCs (option and type numbers),
//! checked in both directions: our encoder must produce them, and our decoder
//! must read the right values out of them.

use alq_harness::wire::options::{code, LengthRule};
use alq_harness::wire::{
    DataSource, DhcpOption, DhcpState, MessageBuilder, MessageType, OptionError, RawMessage,
    Received, RelayAgentInfo, Status, StatusCode, Vss,
};
use bytes::Bytes;
use std::net::Ipv4Addr;

/// The 240 octets before the options, laid out field by field at the offsets of
/// RFC 2131 §2: op@0 htype@1 hlen@2 hops@3 xid@4 secs@8 flags@10 ciaddr@12
/// yiaddr@16 siaddr@20 giaddr@24 chaddr@28 sname@44 file@108 cookie@236.
fn fixed_part(
    op: u8,
    htype: u8,
    hlen: u8,
    xid: [u8; 4],
    ciaddr: [u8; 4],
    chaddr: &[u8],
) -> Vec<u8> {
    let mut v = vec![op, htype, hlen, 0x00];
    v.extend_from_slice(&xid);
    v.extend_from_slice(&[0x00, 0x00, 0x00, 0x00]); // secs, flags
    v.extend_from_slice(&ciaddr);
    v.extend_from_slice(&[0u8; 12]); // yiaddr, siaddr, giaddr
    let mut hw = [0u8; 16];
    hw[..chaddr.len()].copy_from_slice(chaddr);
    v.extend_from_slice(&hw);
    v.extend_from_slice(&[0u8; 64 + 128]); // sname, file
    assert_eq!(v.len(), 236);
    v.extend_from_slice(&[0x63, 0x82, 0x53, 0x63]);
    v
}

fn with_options(mut fixed: Vec<u8>, options: &[&[u8]]) -> Vec<u8> {
    for o in options {
        fixed.extend_from_slice(o);
    }
    fixed
}

#[test]
fn active_query_example_from_catalog_section_2_2() {
    // Catalog §2.2: 240 + 3 + 8 + 1 = 252 octets, prefix 00 FC.
    let msg = MessageBuilder::request(MessageType::ActiveLeaseQuery, 0x0000_1234)
        .option(DhcpOption::ParameterRequestList(vec![
            152, 153, 156, 157, 91, 51,
        ]))
        .build();
    let framed = alq_harness::wire::framing::encode_frame(&msg.encode()).unwrap();
    assert_eq!(&framed[..2], &[0x00, 0xFC]);
    assert_eq!(
        &framed[2..10],
        &[0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34]
    );
    assert_eq!(&framed[238..242], &[0x63, 0x82, 0x53, 0x63]);
    assert_eq!(
        &framed[242..],
        &[0x35, 0x01, 0x10, 0x37, 0x06, 0x98, 0x99, 0x9C, 0x9D, 0x5B, 0x33, 0xFF]
    );
    assert!(framed[10..238].iter().all(|b| *b == 0));
}

struct Vector {
    built: RawMessage,
    bytes: Vec<u8>,
}

/// The vector's bytes as the builder writes them and the item list decodes
/// them, read through the decoded form.
fn check(v: &Vector) -> Received {
    assert_eq!(
        v.built.encode(),
        v.bytes,
        "encoder output differs from the hand-made bytes"
    );
    let decoded = RawMessage::decode(&v.bytes).unwrap();
    assert_eq!(decoded, v.built);
    Received::decode(Bytes::from(v.bytes.clone())).unwrap()
}

#[test]
fn type_10_leasequery() {
    let v = Vector {
        built: MessageBuilder::request(MessageType::LeaseQuery, 0xdead_beef)
            .ciaddr(Ipv4Addr::new(192, 0, 2, 10))
            .option(DhcpOption::ParameterRequestList(vec![51, 61]))
            .build(),
        bytes: with_options(
            fixed_part(1, 0, 0, [0xde, 0xad, 0xbe, 0xef], [192, 0, 2, 10], &[]),
            &[&[53, 1, 10], &[55, 2, 51, 61], &[255]],
        ),
    };
    let m = check(&v);
    assert_eq!(m.message_type(), Ok(MessageType::LeaseQuery));
    assert_eq!(m.xid(), 0xdead_beef);
}

#[test]
fn type_11_leaseunassigned() {
    let v = Vector {
        built: MessageBuilder::reply(MessageType::LeaseUnassigned, 7)
            .ciaddr(Ipv4Addr::new(192, 0, 2, 20))
            .option(DhcpOption::BaseTime(0x6b08_87bd))
            .option(DhcpOption::DhcpState(DhcpState::Available))
            .build(),
        bytes: with_options(
            fixed_part(2, 0, 0, [0, 0, 0, 7], [192, 0, 2, 20], &[]),
            &[
                &[53, 1, 11],
                &[152, 4, 0x6b, 0x08, 0x87, 0xbd],
                &[156, 1, 1],
                &[255],
            ],
        ),
    };
    let m = check(&v);
    assert_eq!(m.message_type(), Ok(MessageType::LeaseUnassigned));
    assert_eq!(m.base_time(), Ok(Some(1_795_721_149)));
    assert_eq!(m.dhcp_state(), Ok(Some(DhcpState::Available)));
}

#[test]
fn type_12_leaseunknown() {
    let v = Vector {
        built: MessageBuilder::reply(MessageType::LeaseUnknown, 0x0102_0304).build(),
        bytes: with_options(
            fixed_part(2, 0, 0, [1, 2, 3, 4], [0; 4], &[]),
            &[&[53, 1, 12], &[255]],
        ),
    };
    assert_eq!(check(&v).message_type(), Ok(MessageType::LeaseUnknown));
}

#[test]
fn type_13_leaseactive_as_sent_by_kea() {
    // The first DHCPLEASEACTIVE of the Kea 3.0.4 capture (fixtures/interop), option
    // bytes copied from its transcript.
    let relay = [
        0x01, 0x06, b'p', b'o', b'r', b't', b'-', b'0', 0x02, 0x08, b'r', b'e', b'm', b'o', b't',
        b'e', b'-', b'A', 0x0c, 0x07, b'r', b'e', b'l', b'a', b'y', b'-', b'1',
    ];
    let mut opt82 = vec![82, 27];
    opt82.extend_from_slice(&relay);
    let mac = [0x02, 0, 0, 0, 0, 0x10];
    let v = Vector {
        built: MessageBuilder::reply(MessageType::LeaseActive, 0xa1)
            .ciaddr(Ipv4Addr::new(192, 0, 2, 10))
            .hardware(1, &mac)
            .option(DhcpOption::LeaseTime(3599))
            .option(DhcpOption::ServerId(Ipv4Addr::LOCALHOST))
            .option(DhcpOption::ClientId(Bytes::from_static(&[
                1, 2, 0, 0, 0, 0, 0x10,
            ])))
            .option(DhcpOption::ClientLastTransactionTime(1))
            .option(DhcpOption::BaseTime(0x6b08_87bd))
            .option(DhcpOption::RelayAgentInfo(
                RelayAgentInfo::default()
                    .with(1, &b"port-0"[..])
                    .with(2, &b"remote-A"[..])
                    .with(12, &b"relay-1"[..]),
            ))
            .build(),
        bytes: with_options(
            fixed_part(2, 1, 6, [0, 0, 0, 0xa1], [192, 0, 2, 10], &mac),
            &[
                &[53, 1, 13],
                &[51, 4, 0x00, 0x00, 0x0e, 0x0f],
                &[54, 4, 0x7f, 0x00, 0x00, 0x01],
                &[61, 7, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x10],
                &[91, 4, 0x00, 0x00, 0x00, 0x01],
                &[152, 4, 0x6b, 0x08, 0x87, 0xbd],
                &opt82,
                &[255],
            ],
        ),
    };
    assert_eq!(
        v.bytes.len(),
        306,
        "Kea's frame for this message is 306 bytes"
    );
    let m = check(&v);
    assert_eq!(m.hardware_address(), &mac);
    assert_eq!(m.lease_time(), Ok(Some(3599)));
    assert_eq!(m.server_id(), Ok(Some(Ipv4Addr::LOCALHOST)));
    let info = m.relay_agent_info().unwrap().unwrap();
    assert_eq!(info.circuit_id().map(|b| &b[..]), Some(&b"port-0"[..]));
    assert_eq!(info.remote_id().map(|b| &b[..]), Some(&b"remote-A"[..]));
    assert_eq!(info.relay_id().map(|b| &b[..]), Some(&b"relay-1"[..]));
}

#[test]
fn type_14_bulkleasequery_by_relay_id() {
    let v = Vector {
        built: MessageBuilder::request(MessageType::BulkLeaseQuery, 0xa4)
            .option(DhcpOption::RelayAgentInfo(
                RelayAgentInfo::default().with(12, &b"relay-1"[..]),
            ))
            .option(DhcpOption::ParameterRequestList(vec![152, 51, 153, 91]))
            .build(),
        bytes: with_options(
            fixed_part(1, 0, 0, [0, 0, 0, 0xa4], [0; 4], &[]),
            &[
                &[53, 1, 14],
                &[82, 9, 12, 7, b'r', b'e', b'l', b'a', b'y', b'-', b'1'],
                &[55, 4, 152, 51, 153, 91],
                &[255],
            ],
        ),
    };
    let m = check(&v);
    assert_eq!(m.parameter_request_list(), Ok(Some(vec![152, 51, 153, 91])));
}

#[test]
fn type_15_leasequerydone_with_status_text() {
    let v = Vector {
        built: MessageBuilder::reply(MessageType::LeaseQueryDone, 0xa6)
            .option(DhcpOption::ServerId(Ipv4Addr::LOCALHOST))
            .option(DhcpOption::Status(Status::new(
                StatusCode::NotAllowed,
                "two keys",
            )))
            .build(),
        bytes: with_options(
            fixed_part(2, 0, 0, [0, 0, 0, 0xa6], [0; 4], &[]),
            &[
                &[53, 1, 15],
                &[54, 4, 127, 0, 0, 1],
                &[151, 9, 4, b't', b'w', b'o', b' ', b'k', b'e', b'y', b's'],
                &[255],
            ],
        ),
    };
    let status = check(&v).status().unwrap().unwrap();
    assert_eq!(status.code, StatusCode::NotAllowed);
    assert_eq!(status.text_utf8(), Ok("two keys"));
}

#[test]
fn type_16_activeleasequery_with_query_start_time() {
    let v = Vector {
        built: MessageBuilder::request(MessageType::ActiveLeaseQuery, 0x51)
            .option(DhcpOption::QueryStartTime(1_795_717_549))
            .build(),
        bytes: with_options(
            fixed_part(1, 0, 0, [0, 0, 0, 0x51], [0; 4], &[]),
            &[&[53, 1, 16], &[154, 4, 0x6b, 0x08, 0x79, 0xad], &[255]],
        ),
    };
    assert_eq!(check(&v).query_start_time(), Ok(Some(1_795_717_549)));
}

#[test]
fn type_17_leasequerystatus_data_missing() {
    let v = Vector {
        built: MessageBuilder::reply(MessageType::LeaseQueryStatus, 0x51)
            .option(DhcpOption::Status(Status::new(StatusCode::DataMissing, "")))
            .option(DhcpOption::BaseTime(0x6b08_87bd))
            .build(),
        bytes: with_options(
            fixed_part(2, 0, 0, [0, 0, 0, 0x51], [0; 4], &[]),
            &[
                &[53, 1, 17],
                &[151, 1, 5],
                &[152, 4, 0x6b, 0x08, 0x87, 0xbd],
                &[255],
            ],
        ),
    };
    let m = check(&v);
    assert_eq!(
        m.status().unwrap().map(|s| s.code),
        Some(StatusCode::DataMissing)
    );
}

#[test]
fn type_18_dhcptls_refused_and_plain() {
    let refused = Vector {
        built: MessageBuilder::reply(MessageType::Tls, 0x77)
            .option(DhcpOption::Status(Status::new(
                StatusCode::TlsConnectionRefused,
                "",
            )))
            .build(),
        bytes: with_options(
            fixed_part(2, 0, 0, [0, 0, 0, 0x77], [0; 4], &[]),
            &[&[53, 1, 18], &[151, 1, 8], &[255]],
        ),
    };
    let m = check(&refused);
    assert_eq!(
        m.status().unwrap().map(|s| s.code),
        Some(StatusCode::TlsConnectionRefused)
    );
    let plain = Vector {
        built: MessageBuilder::request(MessageType::Tls, 0x77).build(),
        bytes: with_options(
            fixed_part(1, 0, 0, [0, 0, 0, 0x77], [0; 4], &[]),
            &[&[53, 1, 18], &[255]],
        ),
    };
    assert_eq!(check(&plain).status(), Ok(None));
}

/// (typed value, its TLV bytes written out by hand)
fn option_vectors() -> Vec<(DhcpOption, Vec<u8>)> {
    vec![
        (
            DhcpOption::LeaseTime(3600),
            vec![51, 4, 0x00, 0x00, 0x0e, 0x10],
        ),
        (
            DhcpOption::MessageType(MessageType::LeaseActive),
            vec![53, 1, 13],
        ),
        (
            DhcpOption::ServerId(Ipv4Addr::new(127, 0, 0, 1)),
            vec![54, 4, 127, 0, 0, 1],
        ),
        (
            DhcpOption::ParameterRequestList(vec![152, 153, 156, 157, 91, 51]),
            vec![55, 6, 0x98, 0x99, 0x9c, 0x9d, 0x5b, 0x33],
        ),
        (
            DhcpOption::ClientId(Bytes::from_static(&[1, 2, 0, 0, 0, 0, 0x10])),
            vec![61, 7, 1, 2, 0, 0, 0, 0, 0x10],
        ),
        (
            DhcpOption::RelayAgentInfo(
                RelayAgentInfo::default()
                    .with(1, &b"c"[..])
                    .with(2, &b"rr"[..])
                    .with(12, &[0xaa, 0xbb, 0xcc][..]),
            ),
            vec![
                82, 12, 1, 1, b'c', 2, 2, b'r', b'r', 12, 3, 0xaa, 0xbb, 0xcc,
            ],
        ),
        (
            DhcpOption::ClientLastTransactionTime(1),
            vec![91, 4, 0, 0, 0, 1],
        ),
        (
            DhcpOption::AssociatedIp(vec![
                Ipv4Addr::new(192, 0, 2, 10),
                Ipv4Addr::new(192, 0, 2, 11),
            ]),
            vec![92, 8, 192, 0, 2, 10, 192, 0, 2, 11],
        ),
        (
            DhcpOption::Status(Status::new(StatusCode::Success, "")),
            vec![151, 1, 0],
        ),
        (
            DhcpOption::Status(Status::new(StatusCode::QueryTerminated, "bye")),
            vec![151, 4, 2, b'b', b'y', b'e'],
        ),
        (
            DhcpOption::BaseTime(1_795_721_149),
            vec![152, 4, 0x6b, 0x08, 0x87, 0xbd],
        ),
        (
            DhcpOption::StartTimeOfState(60),
            vec![153, 4, 0, 0, 0, 0x3c],
        ),
        (
            DhcpOption::QueryStartTime(1_795_717_549),
            vec![154, 4, 0x6b, 0x08, 0x79, 0xad],
        ),
        (
            DhcpOption::QueryEndTime(1_795_724_749),
            vec![155, 4, 0x6b, 0x08, 0x95, 0xcd],
        ),
        (DhcpOption::DhcpState(DhcpState::Active), vec![156, 1, 2]),
        (
            DhcpOption::DhcpState(DhcpState::Transitioning),
            vec![156, 1, 8],
        ),
        (
            DhcpOption::DataSource(DataSource(DataSource::REMOTE)),
            vec![157, 1, 0x01],
        ),
        (
            DhcpOption::Vss(Vss {
                kind: Vss::ALL_VPNS,
                info: Bytes::new(),
            }),
            vec![221, 1, 254],
        ),
        (
            DhcpOption::Vss(Vss {
                kind: Vss::NVT_ASCII,
                info: Bytes::from_static(b"vpn1"),
            }),
            vec![221, 5, 0, b'v', b'p', b'n', b'1'],
        ),
    ]
}

#[test]
fn every_option_encodes_to_its_hand_made_bytes_and_back() {
    for (typed, bytes) in option_vectors() {
        let mut encoded = vec![typed.code()];
        let value = typed.encode_value();
        encoded.push(value.len() as u8);
        encoded.extend_from_slice(&value);
        assert_eq!(encoded, bytes, "encoding {typed:?}");
        let decoded = DhcpOption::decode(bytes[0], &Bytes::copy_from_slice(&bytes[2..])).unwrap();
        assert_eq!(decoded, typed, "decoding {bytes:?}");
    }
}

#[test]
fn options_read_from_a_message_match_their_hand_made_bytes() {
    for (typed, bytes) in option_vectors() {
        let mut message = fixed_part(2, 0, 0, [0; 4], [0; 4], &[]);
        message.extend_from_slice(&bytes);
        message.push(255);
        let m = Received::decode(Bytes::from(message)).unwrap();
        assert_eq!(m.option(bytes[0]), Ok(Some(typed)));
    }
}

#[test]
fn wrong_lengths_are_typed_errors_citing_wire_05() {
    let cases: &[(&[u8], LengthRule)] = &[
        (&[152, 3, 1, 2, 3], LengthRule::Exactly(4)),
        (&[153, 5, 1, 2, 3, 4, 5], LengthRule::Exactly(4)),
        (&[154, 3, 1, 2, 3], LengthRule::Exactly(4)),
        (&[155, 0], LengthRule::Exactly(4)),
        (&[156, 2, 2, 2], LengthRule::Exactly(1)),
        (&[157, 0], LengthRule::Exactly(1)),
        (&[151, 0], LengthRule::AtLeast(1)),
        (&[91, 2, 0, 1], LengthRule::Exactly(4)),
        (&[92, 6, 1, 2, 3, 4, 5, 6], LengthRule::MultipleOf(4)),
        (&[54, 3, 127, 0, 0], LengthRule::Exactly(4)),
        (&[51, 8, 0, 0, 0, 1, 0, 0, 0, 1], LengthRule::Exactly(4)),
    ];
    for (tlv, rule) in cases {
        let mut message = fixed_part(2, 0, 0, [0; 4], [0; 4], &[]);
        message.extend_from_slice(&[53, 1, 13]);
        message.extend_from_slice(tlv);
        message.push(255);
        let m = Received::decode(Bytes::from(message)).unwrap();
        let err = m.option(tlv[0]).unwrap_err();
        assert_eq!(
            err,
            OptionError::WrongLength {
                code: tlv[0],
                len: usize::from(tlv[1]),
                rule: *rule
            }
        );
        assert_eq!(err.requirement(), "WIRE-05", "{err}");
    }
}

#[test]
fn relay_sub_option_overrun_is_reported_with_its_offset() {
    let data = Bytes::from_static(&[1, 2, b'a', b'b', 2, 9, b'x']);
    let err = RelayAgentInfo::decode(&data).unwrap_err();
    assert_eq!(
        err,
        OptionError::SubOptionOverrun {
            sub: 2,
            offset: 4,
            declared: 9,
            available: 1
        }
    );
    assert_eq!(code::RELAY_AGENT_INFO, 82);
}

#[test]
fn malformed_messages_are_written_exactly_as_held() {
    use alq_harness::wire::OptionItem;
    let mut m = MessageBuilder::request(MessageType::ActiveLeaseQuery, 1)
        .option(DhcpOption::MessageType(MessageType::BulkLeaseQuery))
        .item(OptionItem::Raw(Bytes::from_static(&[154, 9, 1, 2])))
        .build_without_end();
    m.cookie = [0, 0, 0, 0];
    let bytes = m.encode();
    assert_eq!(&bytes[236..240], &[0, 0, 0, 0]);
    assert_eq!(&bytes[240..], &[53, 1, 16, 53, 1, 14, 154, 9, 1, 2]);
    let err = RawMessage::decode(&bytes).unwrap_err();
    assert_eq!(err.offset(), 246);
}

#[test]
fn registry_values_match_the_catalog_tables() {
    // Catalog §1.1 (message types), §1.2 (status codes), §1.4 (dhcp-state).
    let types = [
        (1, "DHCPDISCOVER"),
        (2, "DHCPOFFER"),
        (3, "DHCPREQUEST"),
        (4, "DHCPDECLINE"),
        (5, "DHCPACK"),
        (6, "DHCPNAK"),
        (7, "DHCPRELEASE"),
        (8, "DHCPINFORM"),
        (9, "DHCPFORCERENEW"),
        (10, "DHCPLEASEQUERY"),
        (11, "DHCPLEASEUNASSIGNED"),
        (12, "DHCPLEASEUNKNOWN"),
        (13, "DHCPLEASEACTIVE"),
        (14, "DHCPBULKLEASEQUERY"),
        (15, "DHCPLEASEQUERYDONE"),
        (16, "DHCPACTIVELEASEQUERY"),
        (17, "DHCPLEASEQUERYSTATUS"),
        (18, "DHCPTLS"),
    ];
    for (value, name) in types {
        assert_eq!(MessageType::from_u8(value).name(), Some(name));
        assert_eq!(name.parse::<MessageType>().map(|t| t.to_u8()), Ok(value));
    }
    assert_eq!(MessageType::from_u8(19).name(), None);
    let statuses = [
        (0, "Success"),
        (1, "UnspecFail"),
        (2, "QueryTerminated"),
        (3, "MalformedQuery"),
        (4, "NotAllowed"),
        (5, "DataMissing"),
        (6, "ConnectionActive"),
        (7, "CatchUpComplete"),
        (8, "TLSConnectionRefused"),
    ];
    for (value, name) in statuses {
        assert_eq!(StatusCode::from_u8(value).name(), Some(name));
    }
    let states = [
        (1, "AVAILABLE"),
        (2, "ACTIVE"),
        (3, "EXPIRED"),
        (4, "RELEASED"),
        (5, "ABANDONED"),
        (6, "RESET"),
        (7, "REMOTE"),
        (8, "TRANSITIONING"),
    ];
    for (value, name) in states {
        assert_eq!(DhcpState::from_u8(value).name(), Some(name));
    }
    assert_eq!(DhcpState::from_u8(0).name(), None);
}
