//! A deliberately hostile leasequery server and requestor, for testing the
//! harness itself (`harness/tests/suite_against_processes/hostile.rs`,
//! `fixtures/targets/hostile.toml`): every behaviour here is one an
//! implementation under test might show, and the harness must answer each
//! with a verdict, without a panic, a hang or unbounded memory. Not a tool
//! for testing DHCP implementations.

use alq_harness::wire::framing::encode_frame;
use alq_harness::wire::{
    DhcpOption, FrameDecoder, MessageBuilder, MessageType, RawMessage, Received, Status, StatusCode,
};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

#[derive(Parser)]
#[command(name = "alq-hostile")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Accept leasequery connections and misbehave on each; prints
    /// "listening on ADDR" once ready.
    Serve {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        #[arg(long, value_enum)]
        mode: Mode,
    },
    /// Connect to a server and close at once (RST), over and over.
    ConnectCycles {
        #[arg(long)]
        server: SocketAddr,
        #[arg(long, default_value_t = 10_000)]
        cycles: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Bytes that are no DHCP message, then silence.
    Garbage,
    /// A 65,535-byte length prefix, then nothing.
    HugePrefix,
    /// Valid DHCPLEASEACTIVE messages for the first query, without end.
    Endless,
    /// A valid DHCPLEASEQUERYDONE, one byte per second.
    Slow,
    /// Half a message, then RST.
    Reset,
    /// DHCPTLS accepted, then bytes that are not TLS.
    TlsGarbage,
    /// DHCPTLS accepted, then cleartext DHCP where TLS belongs.
    PlaintextAfterTls,
    /// Normal answers, each with a status option (151) of the maximum length.
    LongStatus,
    /// A million one-byte frames after the first query: none a message.
    BadFrames,
    /// Every connection reset as soon as it is accepted.
    ResetAtAccept,
    /// DHCPTLS answered without a status (TLS accepted), then the
    /// connection closed before the handshake.
    CloseAfterDhcptls,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let outcome = rt.block_on(async {
        match cli.command {
            Command::Serve { listen, mode } => serve(listen, mode).await,
            Command::ConnectCycles { server, cycles } => connect_cycles(server, cycles).await,
        }
    });
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn serve(listen: SocketAddr, mode: Mode) -> Result<()> {
    let socket = if listen.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Connections this server closed first may still be in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket
        .bind(listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    let listener = socket.listen(1024)?;
    let addr = listener.local_addr()?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {addr}")?;
    out.flush()?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = misbehave(stream, mode).await;
        });
    }
}

async fn connect_cycles(server: SocketAddr, cycles: usize) -> Result<()> {
    for _ in 0..cycles {
        let socket = TcpSocket::new_v4()?;
        // A full accept queue drops SYNs; give up on this one and go on.
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(200), socket.connect(server)).await
        {
            let _ = stream.set_zero_linger();
        }
    }
    Ok(())
}

/// Deterministic noise (a linear congruential generator).
fn noise(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state.to_be_bytes()[0]
        })
        .collect()
}

fn framed(msg: &RawMessage) -> Vec<u8> {
    encode_frame(&msg.encode()).unwrap_or_default()
}

/// The longest status option: one code octet and 254 octets of text.
fn long_status(code: StatusCode) -> DhcpOption {
    DhcpOption::Status(Status::new(code, &"x".repeat(254)))
}

/// Reads until one whole message arrives; `None` at EOF or after 10 s.
async fn next_message(stream: &mut TcpStream, decoder: &mut FrameDecoder) -> Option<Received> {
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        for frame in decoder.decode(buf.get(..n)?).flatten() {
            if let Ok(msg) = Received::decode(frame.payload) {
                return Some(msg);
            }
        }
    }
}

/// Reads and drops whatever comes until the peer closes.
async fn drain(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
}

async fn misbehave(mut stream: TcpStream, mode: Mode) -> std::io::Result<()> {
    let mut decoder = FrameDecoder::new();
    match mode {
        Mode::Garbage => {
            // A 5-byte "message" (below the 240-byte minimum), then noise.
            let mut bytes = vec![0x00, 0x05];
            bytes.extend(noise(4096));
            stream.write_all(&bytes).await?;
            drain(stream).await;
        }
        Mode::ResetAtAccept => {
            stream.set_zero_linger()?;
        }
        Mode::CloseAfterDhcptls => {
            if let Some(msg) = next_message(&mut stream, &mut decoder).await {
                if msg.message_type() == Ok(MessageType::Tls) {
                    let accepted = MessageBuilder::reply(MessageType::Tls, msg.xid()).build();
                    stream.write_all(&framed(&accepted)).await?;
                }
            }
        }
        Mode::BadFrames => {
            let _ = next_message(&mut stream, &mut decoder).await;
            let batch: Vec<u8> = [0x00, 0x01, 0x2a].repeat(10_000);
            for _ in 0..100 {
                stream.write_all(&batch).await?;
            }
            drain(stream).await;
        }
        Mode::HugePrefix => {
            stream.write_all(&[0xff, 0xff]).await?;
            drain(stream).await;
        }
        Mode::Endless => {
            let xid = next_message(&mut stream, &mut decoder)
                .await
                .map_or(0, |m| m.xid());
            let batch: Vec<u8> = (0..64u8)
                .flat_map(|i| {
                    framed(
                        &MessageBuilder::reply(MessageType::LeaseActive, xid)
                            .ciaddr(Ipv4Addr::new(192, 0, 2, 100 + (i % 100)))
                            .option(DhcpOption::LeaseTime(3600))
                            .build(),
                    )
                })
                .collect();
            loop {
                stream.write_all(&batch).await?;
            }
        }
        Mode::Slow => {
            let xid = next_message(&mut stream, &mut decoder)
                .await
                .map_or(0, |m| m.xid());
            let done = framed(&MessageBuilder::reply(MessageType::LeaseQueryDone, xid).build());
            for byte in done {
                stream.write_all(&[byte]).await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            drain(stream).await;
        }
        Mode::Reset => {
            let xid = next_message(&mut stream, &mut decoder)
                .await
                .map_or(0, |m| m.xid());
            let reply = framed(
                &MessageBuilder::reply(MessageType::LeaseActive, xid)
                    .ciaddr(Ipv4Addr::new(192, 0, 2, 100))
                    .build(),
            );
            stream
                .write_all(reply.get(..reply.len() / 2).unwrap_or_default())
                .await?;
            stream.set_zero_linger()?;
        }
        Mode::TlsGarbage | Mode::PlaintextAfterTls | Mode::LongStatus => {
            while let Some(msg) = next_message(&mut stream, &mut decoder).await {
                let xid = msg.xid();
                let long = mode == Mode::LongStatus;
                if msg.message_type() == Ok(MessageType::Tls) {
                    let mut b = MessageBuilder::reply(MessageType::Tls, xid);
                    if long {
                        b = b.option(long_status(StatusCode::TlsConnectionRefused));
                    }
                    stream.write_all(&framed(&b.build())).await?;
                    match mode {
                        Mode::TlsGarbage => stream.write_all(&noise(512)).await?,
                        Mode::PlaintextAfterTls => {
                            let status = MessageBuilder::reply(MessageType::LeaseQueryStatus, xid)
                                .option(DhcpOption::Status(Status::new(
                                    StatusCode::ConnectionActive,
                                    "",
                                )))
                                .build();
                            stream.write_all(&framed(&status)).await?;
                        }
                        _ => {}
                    }
                    continue;
                }
                let mut replies = Vec::new();
                if long {
                    replies.extend(framed(
                        &MessageBuilder::reply(MessageType::LeaseActive, xid)
                            .ciaddr(Ipv4Addr::new(192, 0, 2, 77))
                            .option(long_status(StatusCode::Success))
                            .build(),
                    ));
                }
                let end = if msg.message_type() == Ok(MessageType::ActiveLeaseQuery) {
                    MessageType::LeaseQueryStatus
                } else {
                    MessageType::LeaseQueryDone
                };
                let mut b = MessageBuilder::reply(end, xid);
                if long {
                    b = b.option(long_status(StatusCode::Success));
                }
                replies.extend(framed(&b.build()));
                stream.write_all(&replies).await?;
            }
        }
    }
    Ok(())
}
