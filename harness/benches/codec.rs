//! Codec speed beside dhcproto 0.15 on the same bytes: decode and encode of a
//! typical DHCPLEASEACTIVE, and framing plus decoding of a 1 MiB stream. The
//! same message also measures what receiving it costs the harness: decoding
//! it into the index the checks read, its transcript line, the WIRE checks and
//! the reply-construction checks.
//!
//! Run: `cargo bench --manifest-path harness/benches/Cargo.toml --bench codec`. Each group measures both libraries in the
//! same run; the ratio is the quotient of the two reported times.

use alq_harness::wire::framing::encode_frame;
use alq_harness::wire::{
    DhcpOption, DhcpState, FrameDecoder, MessageBuilder, MessageType, RawMessage, Received,
    RelayAgentInfo,
};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use std::hint::black_box;
use std::net::Ipv4Addr;

/// A DHCPLEASEACTIVE as a server sends it: message type plus eight options.
fn lease_active() -> Vec<u8> {
    MessageBuilder::reply(MessageType::LeaseActive, 0x51)
        .ciaddr(Ipv4Addr::new(192, 0, 2, 10))
        .hardware(1, &[2, 0, 0, 0, 0, 0x10])
        .option(DhcpOption::LeaseTime(3599))
        .option(DhcpOption::ServerId(Ipv4Addr::LOCALHOST))
        .option(DhcpOption::ClientId(Bytes::from_static(&[
            1, 2, 0, 0, 0, 0, 0x10,
        ])))
        .option(DhcpOption::RelayAgentInfo(
            RelayAgentInfo::default()
                .with(1, &b"port-0"[..])
                .with(2, &b"remote-A"[..])
                .with(12, &b"relay-1"[..]),
        ))
        .option(DhcpOption::ClientLastTransactionTime(1))
        .option(DhcpOption::BaseTime(1_795_721_149))
        .option(DhcpOption::StartTimeOfState(30))
        .option(DhcpOption::DhcpState(DhcpState::Active))
        .build()
        .encode()
}

fn message(c: &mut Criterion) {
    let bytes = lease_active();
    let mut group = c.benchmark_group("lease_active");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function(BenchmarkId::new("decode", "alq"), |b| {
        b.iter(|| RawMessage::decode(black_box(&bytes)))
    });
    let shared = Bytes::from(bytes.clone());
    group.bench_function(BenchmarkId::new("decode_indexed", "alq"), |b| {
        b.iter(|| Received::decode(black_box(shared.clone())).map(|r| r.len()))
    });
    // As a stream decodes: into the allocation of the message before.
    group.bench_function(BenchmarkId::new("decode_reused", "alq"), |b| {
        let mut spare = None;
        b.iter(|| {
            let msg = Received::decode_shared(black_box(shared.clone()), spare.take());
            spare = msg.ok();
            spare.as_ref().map(|r| r.len())
        })
    });
    let received = Received::decode(shared.clone()).expect("decodes");
    group.bench_function(BenchmarkId::new("brief", "alq"), |b| {
        b.iter(|| alq_harness::wire::describe::Brief::of(black_box(&received)))
    });
    let mut wire_judged = [false; alq_harness::checks::wire::CHECKS.len()];
    group.bench_function(BenchmarkId::new("wire_checks", "alq"), |b| {
        b.iter(|| {
            alq_harness::checks::wire::judge(
                black_box(&received),
                alq_harness::checks::wire::Sender::Server,
                &mut wire_judged,
            )
        })
    });
    let mut judged = alq_harness::checks::Judged::default();
    group.bench_function(BenchmarkId::new("server_message", "alq"), |b| {
        b.iter(|| {
            let conn = alq_harness::checks::reply::ServerConn {
                active: false,
                catch_up_asked: false,
                first_of_xid: false,
                granted: None,
                sent_xids: &[0x51],
                requested: &[51, 91, 152, 153, 156],
                repeated: false,
                after_done: false,
                arrival: None,
            };
            alq_harness::checks::server_message(black_box(&received), &conn, &mut judged)
        })
    });
    group.bench_function(BenchmarkId::new("status", "alq"), |b| {
        b.iter(|| black_box(&received).status())
    });
    group.bench_function(BenchmarkId::new("codes", "alq"), |b| {
        b.iter(|| black_box(&received).option_codes().count())
    });
    group.bench_function(BenchmarkId::new("decode", "dhcproto"), |b| {
        b.iter(|| dhcproto::v4::Message::decode(&mut Decoder::new(black_box(&bytes))))
    });
    let ours = RawMessage::decode(&bytes).expect("benchmark message decodes");
    let theirs =
        dhcproto::v4::Message::decode(&mut Decoder::new(&bytes)).expect("dhcproto decodes it");
    let mut out = Vec::with_capacity(512);
    group.bench_function(BenchmarkId::new("encode", "alq"), |b| {
        b.iter(|| {
            out.clear();
            black_box(&ours).encode_into(&mut out);
            out.len()
        })
    });
    group.bench_function(BenchmarkId::new("encode", "dhcproto"), |b| {
        b.iter(|| {
            out.clear();
            black_box(&theirs)
                .encode(&mut Encoder::new(&mut out))
                .map(|_| out.len())
        })
    });
    group.finish();
}

fn stream(c: &mut Criterion) {
    let frame = encode_frame(&lease_active()).expect("fits a prefix");
    let mut stream = Vec::with_capacity(1 << 20);
    while stream.len() + frame.len() <= 1 << 20 {
        stream.extend_from_slice(&frame);
    }
    let mut group = c.benchmark_group("stream_1mib");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("alq", |b| {
        b.iter(|| {
            let mut decoder = FrameDecoder::new();
            let mut n = 0usize;
            for chunk in black_box(&stream).chunks(64 * 1024) {
                for frame in decoder.decode(chunk).flatten() {
                    n += usize::from(RawMessage::decode_bytes(frame.payload).is_ok());
                }
            }
            n
        })
    });
    group.bench_function("dhcproto", |b| {
        b.iter(|| {
            let mut n = 0usize;
            let mut rest = &black_box(&stream)[..];
            while let [hi, lo, tail @ ..] = rest {
                let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                let Some((body, next)) = tail.split_at_checked(len) else {
                    break;
                };
                n += usize::from(dhcproto::v4::Message::decode(&mut Decoder::new(body)).is_ok());
                rest = next;
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, message, stream);
criterion_main!(benches);
