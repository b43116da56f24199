//! One harness-side connection: framed messages in and out, close detection
//! (FIN or RST), and a record of everything received.

use crate::net::transport::BoxedIo;
use crate::wire::{FrameDecoder, RawMessage};
use std::collections::VecDeque;
use std::io;
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
    pending: VecDeque<Incoming>,
    pub closed: Option<Closed>,
    pub paused: bool,
    pub write_closed: bool,
    /// Every message received, in order.
    pub received: Vec<RawMessage>,
    /// The last message an `expect` matched.
    pub last_matched: Option<RawMessage>,
    pub opened_at: Instant,
}

impl HarnessConn {
    pub fn new(stream: BoxedIo) -> Self {
        HarnessConn {
            stream: Some(stream),
            decoder: FrameDecoder::new(),
            pending: VecDeque::new(),
            closed: None,
            paused: false,
            write_closed: false,
            received: Vec::new(),
            last_matched: None,
            opened_at: Instant::now(),
        }
    }

    /// Takes the stream out (for a TLS upgrade); put it back with [`replace`](Self::replace).
    pub fn take_stream(&mut self) -> Option<BoxedIo> {
        self.stream.take()
    }

    pub fn replace(&mut self, stream: BoxedIo) {
        self.stream = Some(stream);
        self.decoder = FrameDecoder::new();
    }

    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
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
        self.write_closed = true;
    }

    pub fn drop_stream(&mut self) {
        self.stream = None;
        self.closed.get_or_insert(Closed::Fin);
    }

    /// Puts an event back so the next read returns it first.
    pub fn unread(&mut self, event: Incoming) {
        self.pending.push_front(event);
    }

    /// The next event, waiting until `deadline` at most.
    pub async fn next(&mut self, deadline: Instant) -> Incoming {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            if let Some(kind) = self.closed {
                return Incoming::Closed(kind);
            }
            let Some(stream) = self.stream.as_mut() else {
                return Incoming::Closed(Closed::Fin);
            };
            let mut buf = [0u8; 16 * 1024];
            let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Err(_) => return Incoming::Timeout,
                Ok(Ok(0)) => {
                    self.closed = Some(Closed::Fin);
                    continue;
                }
                Ok(Ok(n)) => n,
                Ok(Err(_)) => {
                    // A read error on an established connection is a reset.
                    self.closed = Some(Closed::Rst);
                    continue;
                }
            };
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
                self.pending.push_back(incoming);
            }
        }
    }
}
