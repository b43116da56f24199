//! `bench`: ingest and push rates measured side by side in one run, each part
//! in its own process so its peak memory is its own.
//!
//! 1. `push`: the reference server streams a bulk query for all configured
//!    addresses (N bindings) over loopback TCP to a reader that only frames;
//!    the bytes are kept in a file.
//! 2. That file is replayed over loopback TCP, as fast as the socket takes it,
//!    to `ceiling` (a plain tokio reader that only frames: the most this
//!    machine can ingest), to `decode` (framing, decoding and indexing every
//!    message, judging nothing) and to `ingest` (the harness requestor running
//!    a scenario that judges every message), the three taking turns for
//!    `--rounds` rounds; each rate is its median round.
//! 3. With `--kea ADDR`: ISC Kea's push rate for a bulk query by relay-id over
//!    the leases `interop/kea/setup.sh DIR N` loaded, to a reader that
//!    decodes each message's type.

use crate::runtime;
use alq_harness::net::clock::Clock;
use alq_harness::net::server::{RunningServer, ServerRuntime, Shared};
use alq_harness::net::transport::Incoming;
use alq_harness::reference::leases::{Client, LeaseStore};
use alq_harness::reference::server::{ServerConfig, ServerMode};
use alq_harness::wire::framing::encode_frame;
use alq_harness::wire::{
    DhcpOption, FrameDecoder, MessageBuilder, MessageType, Received, RelayAgentInfo,
};
use anyhow::{Context, Result};
use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The xid of the benchmark's bulk query.
const XID: u32 = 0xbe7c_0001;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Measured {
    messages: u64,
    seconds: f64,
    peak_rss_kb: u64,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.seconds.max(1e-9)
    }
}

/// The round with the median rate, and the lowest and highest rates.
fn median(rounds: &[Measured]) -> Option<(Measured, f64, f64)> {
    let mut sorted: Vec<&Measured> = rounds.iter().collect();
    sorted.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let middle = (*sorted.get(sorted.len() / 2)?).clone();
    let low = sorted.first()?.rate();
    let high = sorted.last()?.rate();
    Some((middle, low, high))
}

fn measured(messages: u64, started: Instant) -> Measured {
    Measured {
        messages,
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_kb: alq_harness::report::peak_rss_kb().unwrap_or(0),
    }
}

/// The relay-id of every lease `interop/kea/setup.sh DIR N` writes.
const KEA_RELAY_ID: &[u8] = b"alq-bench";

/// How long Kea may take to stream every lease before the part gives up.
const KEA_TIME_LIMIT: Duration = Duration::from_secs(600);

fn query_with(key: Option<DhcpOption>) -> Vec<u8> {
    let mut msg = MessageBuilder::request(MessageType::BulkLeaseQuery, XID);
    if let Some(key) = key {
        msg = msg.option(key);
    }
    let msg = msg
        .option(DhcpOption::ParameterRequestList(vec![
            51, 91, 152, 153, 156,
        ]))
        .build();
    encode_frame(&msg.encode()).unwrap_or_default()
}

/// A bulk query for every configured address.
fn query() -> Vec<u8> {
    query_with(None)
}

/// What a reader does with each frame besides framing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PerFrame {
    Nothing,
    /// Decode it and index its options, as the harness does before judging.
    Decode,
}

/// Where a stream a reader frames ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// After this many messages, the last of them DHCPLEASEQUERYDONE.
    After(u64),
    /// At the first DHCPLEASEQUERYDONE (every message is decoded for its
    /// type; a DHCPLEASEQUERYSTATUS ends the stream as an error).
    AtDone,
}

/// Frames the stream to its end; returns how many messages it held.
async fn frame_stream(
    stream: &mut TcpStream,
    end: End,
    per_frame: PerFrame,
    mut keep: Option<&mut Vec<u8>>,
) -> Result<u64> {
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::new();
    let mut messages = 0u64;
    let mut spare = None;
    loop {
        buf.clear();
        buf.reserve(256 * 1024);
        let n = stream.read_buf(&mut buf).await?;
        anyhow::ensure!(
            n > 0,
            "the stream ended after {messages} messages, before its end ({end:?})"
        );
        if let Some(keep) = keep.as_deref_mut() {
            keep.extend_from_slice(&buf);
        }
        while let Some(frame) = decoder.next_from(&mut buf) {
            let frame = frame?;
            messages += 1;
            let last = end == End::After(messages);
            if !last && end != End::AtDone {
                if per_frame == PerFrame::Decode {
                    // Into the previous message's allocation, as the harness
                    // connection decodes.
                    let msg = Received::decode_shared(frame.payload, spare.take())?;
                    spare = Some(std::hint::black_box(msg));
                }
                continue;
            }
            let msg = Received::decode(frame.payload)?;
            match msg.message_type() {
                Ok(MessageType::LeaseQueryDone) => return Ok(messages),
                Ok(MessageType::LeaseQueryStatus) if end == End::AtDone => anyhow::bail!(
                    "message {messages} is DHCPLEASEQUERYSTATUS: {:?}",
                    msg.status().ok().flatten()
                ),
                _ if last => anyhow::bail!("message {messages} is not DHCPLEASEQUERYDONE"),
                _ => {}
            }
        }
    }
}

/// Part 3: Kea's push rate for a bulk query by relay-id.
pub(crate) fn kea(server: SocketAddr) -> Result<Measured> {
    runtime()?.block_on(async {
        let mut stream = TcpStream::connect(server)
            .await
            .with_context(|| format!("cannot connect to Kea at {server}"))?;
        let started = Instant::now();
        let relay_id = RelayAgentInfo::default().with(12, KEA_RELAY_ID);
        stream
            .write_all(&query_with(Some(DhcpOption::RelayAgentInfo(relay_id))))
            .await?;
        let messages = tokio::time::timeout(
            KEA_TIME_LIMIT,
            frame_stream(&mut stream, End::AtDone, PerFrame::Decode, None),
        )
        .await
        .map_err(|_| anyhow::anyhow!("Kea did not finish within {KEA_TIME_LIMIT:?}"))??;
        Ok(measured(messages, started))
    })
}

/// Part 1: the reference server's push rate; the stream goes to `out`.
pub(crate) fn push(bindings: u32, out: &Path) -> Result<Measured> {
    runtime()?.block_on(async {
        let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
        let pool = (0..bindings).map(|i| Ipv4Addr::from(base + i));
        // The wall clock: the ingest part judges every base-time against it.
        let clock = Clock::new();
        let mut store = LeaseStore::new(pool, 16, 3600, clock.epoch());
        for i in 0..bindings {
            let addr = Ipv4Addr::from(base + i);
            let client = Client {
                htype: 1,
                chaddr: vec![
                    2,
                    0,
                    (i >> 24) as u8,
                    (i >> 16) as u8,
                    (i >> 8) as u8,
                    i as u8,
                ],
                client_id: None,
                relay_info: None,
                options: Vec::new(),
            };
            store.bind(Some(addr), client, clock.epoch())?;
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let rt = ServerRuntime {
            config: std::sync::Arc::new(ServerConfig {
                mode: ServerMode::BulkOnly,
                ..ServerConfig::default()
            }),
            shared: Shared::new(store, clock),
            tls: None,
            max_connections: 10,
            per_requestor: None,
        };
        let server = RunningServer::start(Incoming::Tcp(listener), rt);
        let mut stream = TcpStream::connect(addr).await?;
        let started = Instant::now();
        stream.write_all(&query()).await?;
        let mut kept = Vec::new();
        // One reply per configured address, then DHCPLEASEQUERYDONE.
        let expected = u64::from(bindings) + 1;
        let messages = frame_stream(
            &mut stream,
            End::After(expected),
            PerFrame::Nothing,
            Some(&mut kept),
        )
        .await?;
        let result = measured(messages, started);
        std::fs::write(out, &kept).with_context(|| format!("cannot write {}", out.display()))?;
        drop(stream);
        server.shutdown().await;
        Ok(result)
    })
}

/// Part 2a: a plain reader that only frames.
pub(crate) fn ceiling(server: SocketAddr, messages: u64) -> Result<Measured> {
    read_replay(server, messages, PerFrame::Nothing)
}

/// Part 2b: a reader that frames and decodes every message, judging nothing:
/// how much of the ceiling decoding alone leaves.
pub(crate) fn decode(server: SocketAddr, messages: u64) -> Result<Measured> {
    read_replay(server, messages, PerFrame::Decode)
}

fn read_replay(server: SocketAddr, messages: u64, per_frame: PerFrame) -> Result<Measured> {
    runtime()?.block_on(async {
        let mut stream = TcpStream::connect(server).await?;
        let started = Instant::now();
        stream.write_all(&query()).await?;
        let messages = frame_stream(&mut stream, End::After(messages), per_frame, None).await?;
        Ok(measured(messages, started))
    })
}

/// The scenario of the ingest part (a scenario file like any other).
const INGEST_SCENARIO: &str = include_str!("../../../../fixtures/bench/BLQ-S-26-bench-ingest.toml");

/// Part 2c: the harness requestor running a scenario over the same stream.
pub(crate) fn ingest(server: SocketAddr, messages: u64) -> Result<Measured> {
    use alq_harness::iut::profile::{TargetKind, TargetProfile};
    use alq_harness::outcome::Verdict;
    use alq_harness::run::runner::{run_one, RunOptions};
    use alq_harness::scenario::load::{parse_scenario, LoadedScenario};
    let path = PathBuf::from("fixtures/bench/BLQ-S-26-bench-ingest.toml");
    let scenario = LoadedScenario {
        scenario: parse_scenario(&path, INGEST_SCENARIO)?,
        path,
    };
    let profile = TargetProfile {
        name: "bench".into(),
        kind: TargetKind::Tcp,
        address: Some(server),
        features: Vec::new(),
        // A replay of a stream recorded earlier in the run: its base-times
        // are as old as the recording, and no health probe is owed to it.
        clock_skew: "1h".into(),
        health_probe: false,
        ..TargetProfile::reference()
    };
    let started = Instant::now();
    let outcome = run_one(&scenario, &profile, &RunOptions::default());
    let result = measured(messages, started);
    anyhow::ensure!(
        outcome.verdict == Verdict::Pass,
        "the ingest scenario did not pass: {:?} {:?}",
        outcome.error,
        outcome.findings
    );
    Ok(result)
}

/// Serves `file` to every connection after its first bytes arrive.
async fn replay(listener: TcpListener, file: PathBuf) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let file = file.clone();
        tokio::spawn(async move {
            let mut first = [0u8; 512];
            if stream.read(&mut first).await.is_err() {
                return;
            }
            let Ok(mut source) = tokio::fs::File::open(&file).await else {
                return;
            };
            let mut buf = vec![0u8; 1 << 20];
            while let Ok(n) = source.read(&mut buf).await {
                if n == 0
                    || stream
                        .write_all(buf.get(..n).unwrap_or_default())
                        .await
                        .is_err()
                {
                    break;
                }
            }
        });
    }
}

fn child(args: &[String]) -> Result<Measured> {
    let exe = std::env::current_exe()?;
    let out = Command::new(&exe)
        .arg("bench-part")
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "bench part {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    serde_json::from_slice(&out.stdout).context("bench part printed no measurement")
}

/// The whole benchmark: prints one table of rates, ratios and peak memory.
pub(crate) fn bench(bindings: u32, kea_server: Option<SocketAddr>, rounds: usize) -> Result<()> {
    anyhow::ensure!(rounds > 0, "--rounds must be at least 1");
    let dir = tempfile_dir()?;
    let stream_file = dir.join("stream.bin");
    let push = child(&[
        "push".into(),
        "--bindings".into(),
        bindings.to_string(),
        "--out".into(),
        stream_file.display().to_string(),
    ])?;
    let rt = runtime()?;
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    rt.spawn(replay(listener, stream_file.clone()));
    // The parts that read the replayed stream.
    let reader = |part: &str| {
        child(&[
            part.into(),
            "--server".into(),
            addr.to_string(),
            "--messages".into(),
            push.messages.to_string(),
        ])
    };
    // The parts take turns, so a slow spell of a shared machine falls on
    // all of them rather than on one.
    let mut runs: [Vec<Measured>; 3] = Default::default();
    for _ in 0..rounds {
        for (part, kept) in ["ceiling", "decode", "ingest"].iter().zip(runs.iter_mut()) {
            kept.push(reader(part)?);
        }
    }
    let [ceiling, decode, ingest] = runs.map(|kept| median(&kept).context("no round ran"));
    let (ceiling, ceiling_low, ceiling_high) = ceiling?;
    let (decode, decode_low, decode_high) = decode?;
    let (ingest, ingest_low, ingest_high) = ingest?;
    let kea = kea_server
        .map(|server| child(&["kea".into(), "--server".into(), server.to_string()]))
        .transpose()?;
    let bytes = std::fs::metadata(&stream_file)
        .map(|m| m.len())
        .unwrap_or(0);
    let _ = std::fs::remove_dir_all(&dir);
    say!(
        "bulk stream of {} bindings ({} messages, {:.1} MB)",
        bindings,
        push.messages,
        bytes as f64 / 1e6
    );
    say!("replay parts: median of {rounds} rounds taken in turn (lowest-highest rate)");
    say!("| part | messages/s | seconds | peak RSS |");
    say!("|---|---|---|---|");
    say!(
        "| reference server push (framing reader) | {:.0} | {:.2} | {:.1} MB |",
        push.rate(),
        push.seconds,
        push.peak_rss_kb as f64 / 1024.0
    );
    for (name, m, low, high) in [
        (
            "ceiling: replay to a framing-only tokio reader",
            &ceiling,
            ceiling_low,
            ceiling_high,
        ),
        (
            "replay to a reader that also decodes and indexes",
            &decode,
            decode_low,
            decode_high,
        ),
        (
            "harness requestor ingest (every message judged)",
            &ingest,
            ingest_low,
            ingest_high,
        ),
    ] {
        say!(
            "| {name} | {:.0} ({low:.0}-{high:.0}) | {:.2} | {:.1} MB |",
            m.rate(),
            m.seconds,
            m.peak_rss_kb as f64 / 1024.0
        );
    }
    if let Some(kea) = &kea {
        say!(
            "| ISC Kea bulk leasequery by relay-id (reader checking each type) | {:.0} | {:.2} | {:.1} MB (reader) |",
            kea.rate(),
            kea.seconds,
            kea.peak_rss_kb as f64 / 1024.0
        );
    }
    say!(
        "ingest / ceiling = {:.2}; decode only / ceiling = {:.2}; push / ceiling = {:.2}",
        ingest.rate() / ceiling.rate(),
        decode.rate() / ceiling.rate(),
        push.rate() / ceiling.rate()
    );
    if let Some(kea) = &kea {
        say!(
            "Kea / reference push = {:.3}; ingest / Kea = {:.1}",
            kea.rate() / push.rate(),
            ingest.rate() / kea.rate()
        );
        if kea.messages != push.messages {
            say!(
                "Kea sent {} messages, the reference {}: load {} leases with interop/kea/setup.sh DIR {}",
                kea.messages,
                push.messages,
                bindings,
                bindings
            );
        }
    }
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("alq-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taking(seconds: f64) -> Measured {
        Measured {
            messages: 1_000,
            seconds,
            peak_rss_kb: 0,
        }
    }

    #[test]
    fn the_median_round_is_the_middle_rate_with_the_extremes_beside_it() {
        // Rates 1,000, 250 and 500 messages/s.
        let rounds = [taking(1.0), taking(4.0), taking(2.0)];
        let (middle, low, high) = median(&rounds).unwrap();
        assert_eq!(middle.seconds, 2.0);
        assert_eq!((low, high), (250.0, 1_000.0));
        assert!(median(&[]).is_none());
    }
}
