//! One harness-side connection: framed messages in and out, close detection
//! (FIN or RST), and a record of everything received.

use crate::capture::pcap::{TapEvent, TapRecord};
use crate::net::transport::BoxedIo;
use crate::wire::{FrameDecoder, RawMessage};
use std::collections::HashSet;
use std::collections::VecDeque;
use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Fin,
    Rst,
}

/// What reading a connection produced.
#[derive(Debug)]
pub enum Incoming {
    Message(Box<RawMessage>),
    /// Bytes that are not a DHCP message, or a broken length prefix.
    Garbage(String),
    Closed(Closed),
    Timeout,
}

pub struct HarnessConn {
    stream: Option<BoxedIo>,
    decoder: FrameDecoder,
    /// Events read but not yet consumed, with the transcript entry already
    /// written for them (for events put back with `unread`).
    pending: VecDeque<(Incoming, Option<usize>)>,
    pub closed: Option<Closed>,
    pub paused: bool,
    pub write_closed: bool,
    /// Every message received, in order.
    pub received: Vec<RawMessage>,
    /// The last message an `expect` matched; `None` when the last `expect`
    /// matched nothing.
    pub last_matched: Option<RawMessage>,
    /// An `expect` ran on this connection.
    pub any_expect: bool,
    pub opened_at: Instant,
    /// Every byte and close, for the pcap.
    pub tap: Vec<TapRecord>,
    /// The harness is the TCP client of this connection.
    pub harness_is_client: bool,
    /// The stream was upgraded to TLS; later tap bytes are decrypted.
    pub tls: bool,
    /// A TLS handshake failed on the stream: what arrives is not DHCP and is
    /// discarded; only the close counts.
    pub opaque: bool,
    /// Closing this connection sends RST (SO_LINGER 0).
    pub resets: bool,
    /// A DHCPACTIVELEASEQUERY was sent on this connection.
    pub active_query_sent: bool,
    /// xids of the messages the harness sent on this connection.
    pub sent_xids: Vec<u32>,
    /// The parameter request list of the last query sent.
    pub requested: Vec<u8>,
    /// (xid, ciaddr) of the binding replies judged so far.
    pub reported: HashSet<(u32, Ipv4Addr)>,
    /// xids of the requests judged so far (harness as server).
    pub request_xids: HashSet<u32>,
    /// An active query was judged on this connection (harness as server).
    pub active_query_received: bool,
    /// Order of the opening among all tap records of the run.
    pub opened_seq: u64,
    start: Instant,
    order: Arc<AtomicU64>,
}

impl HarnessConn {
    /// A connection opened now; `start` is when the scenario started.
    pub fn new(
        stream: BoxedIo,
        start: Instant,
        harness_is_client: bool,
        order: Arc<AtomicU64>,
    ) -> Self {
        let opened_seq = order.fetch_add(1, Ordering::Relaxed);
        HarnessConn {
            stream: Some(stream),
            decoder: FrameDecoder::new(),
            pending: VecDeque::new(),
            closed: None,
            paused: false,
            write_closed: false,
            received: Vec::new(),
            last_matched: None,
            any_expect: false,
            opened_at: Instant::now(),
            tap: Vec::new(),
            harness_is_client,
            tls: false,
            opaque: false,
            resets: false,
            active_query_sent: false,
            sent_xids: Vec::new(),
            requested: Vec::new(),
            reported: HashSet::new(),
            request_xids: HashSet::new(),
            active_query_received: false,
            opened_seq,
            start,
            order,
        }
    }

    fn record(&mut self, event: TapEvent) {
        self.tap.push(TapRecord {
            at: self.start.elapsed(),
            seq: self.order.fetch_add(1, Ordering::Relaxed),
            event,
        });
    }

    fn ours(&self, bytes: Vec<u8>) -> TapEvent {
        if self.harness_is_client {
            TapEvent::FromClient(bytes)
        } else {
            TapEvent::FromServer(bytes)
        }
    }

    fn theirs(&self, bytes: Vec<u8>) -> TapEvent {
        if self.harness_is_client {
            TapEvent::FromServer(bytes)
        } else {
            TapEvent::FromClient(bytes)
        }
    }

    fn close_event(&self, ours: bool, kind: Closed) -> TapEvent {
        match (ours == self.harness_is_client, kind) {
            (true, Closed::Fin) => TapEvent::ClientFin,
            (true, Closed::Rst) => TapEvent::ClientRst,
            (false, Closed::Fin) => TapEvent::ServerFin,
            (false, Closed::Rst) => TapEvent::ServerRst,
        }
    }

    fn peer_closed(&mut self, kind: Closed) {
        if self.closed.is_none() {
            self.closed = Some(kind);
            let event = self.close_event(false, kind);
            self.record(event);
        }
    }

    /// Takes the stream out (for a TLS upgrade); put it back with [`replace`](Self::replace).
    pub fn take_stream(&mut self) -> Option<BoxedIo> {
        self.stream.take()
    }

    /// Puts the stream back as it was (no TLS happened on it).
    pub fn replace_plain(&mut self, stream: BoxedIo) {
        self.stream = Some(stream);
    }

    /// Puts the stream back after a failed TLS handshake.
    pub fn replace_opaque(&mut self, stream: BoxedIo) {
        self.stream = Some(stream);
        self.opaque = true;
    }

    /// Puts the stream back after a successful TLS upgrade.
    pub fn replace(&mut self, stream: BoxedIo) {
        self.stream = Some(stream);
        self.decoder = FrameDecoder::new();
        self.tls = true;
    }

    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let event = self.ours(bytes.to_vec());
        self.record(event);
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        stream.write_all(bytes).await?;
        stream.flush().await
    }

    pub async fn shutdown_write(&mut self) {
        if let Some(s) = self.stream.as_mut() {
            let _ = s.shutdown().await;
        }
        if !self.write_closed {
            let event = self.close_event(true, Closed::Fin);
            self.record(event);
        }
        self.write_closed = true;
    }

    pub fn drop_stream(&mut self) {
        if self.stream.take().is_some() && !self.write_closed {
            let kind = if self.resets {
                Closed::Rst
            } else {
                Closed::Fin
            };
            let event = self.close_event(true, kind);
            self.record(event);
            self.write_closed = true;
        }
        self.closed.get_or_insert(Closed::Fin);
    }

    /// Puts an event back so the next read returns it first; `frame` is the
    /// transcript entry already written for it.
    pub fn unread(&mut self, event: Incoming, frame: Option<usize>) {
        self.pending.push_front((event, frame));
    }

    /// The next event, waiting until `deadline` at most, with its transcript
    /// entry when it was read before and put back.
    pub async fn next(&mut self, deadline: Instant) -> (Incoming, Option<usize>) {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            if let Some(kind) = self.closed {
                return (Incoming::Closed(kind), None);
            }
            let Some(stream) = self.stream.as_mut() else {
                return (Incoming::Closed(Closed::Fin), None);
            };
            let mut buf = [0u8; 16 * 1024];
            let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Err(_) => return (Incoming::Timeout, None),
                Ok(Ok(0)) => {
                    self.peer_closed(Closed::Fin);
                    continue;
                }
                Ok(Ok(n)) => n,
                Ok(Err(_)) => {
                    // A read error on an established connection is a reset.
                    self.peer_closed(Closed::Rst);
                    continue;
                }
            };
            if self.opaque {
                continue;
            }
            let event = self.theirs(buf.get(..n).unwrap_or_default().to_vec());
            self.record(event);
            for event in self.decoder.decode(buf.get(..n).unwrap_or_default()) {
                let incoming = match event {
                    Ok(frame) => match RawMessage::decode_bytes(frame.payload) {
                        Ok(msg) => {
                            self.received.push(msg.clone());
                            Incoming::Message(Box::new(msg))
                        }
                        Err(e) => Incoming::Garbage(format!(
                            "frame at stream offset {}: {e}",
                            frame.offset
                        )),
                    },
                    Err(e) => Incoming::Garbage(e.to_string()),
                };
                self.pending.push_back((incoming, None));
            }
        }
    }
}
