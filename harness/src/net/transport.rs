//! Byte streams the shells run on: TCP, or in-memory pipes for in-process peers
//! on tokio's paused clock.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Any bidirectional byte stream.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type BoxedIo = Box<dyn Io>;

/// Buffer size of each direction of an in-memory connection.
pub const MEMORY_PIPE_BYTES: usize = 64 * 1024;

/// The address an in-memory connection claims to come from unless told.
pub const MEMORY_PEER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    0,
));

/// How a requestor reaches a server.
#[derive(Debug, Clone)]
pub enum Dial {
    Tcp(SocketAddr),
    /// In-memory pipes, each with the peer address the server sees.
    Memory(mpsc::UnboundedSender<(DuplexStream, SocketAddr)>),
}

impl Dial {
    pub async fn connect(&self) -> io::Result<BoxedIo> {
        match self {
            Dial::Tcp(addr) => Ok(Box::new(TcpStream::connect(addr).await?)),
            Dial::Memory(_) => self.connect_memory(MEMORY_PIPE_BYTES, MEMORY_PEER),
        }
    }

    /// An in-memory connection with `buffer` bytes each way, seen by the
    /// server as coming from `from`.
    pub fn connect_memory(&self, buffer: usize, from: SocketAddr) -> io::Result<BoxedIo> {
        let Dial::Memory(tx) = self else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "not an in-memory server",
            ));
        };
        let (ours, theirs) = tokio::io::duplex(buffer.max(1));
        tx.send((theirs, from)).map_err(|_| {
            io::Error::new(io::ErrorKind::ConnectionRefused, "in-memory server is gone")
        })?;
        Ok(Box::new(ours))
    }
}

/// Where a server takes connections from.
#[derive(Debug)]
pub enum Incoming {
    Tcp(TcpListener),
    Memory(mpsc::UnboundedReceiver<(DuplexStream, SocketAddr)>),
}

impl Incoming {
    /// An in-memory listener and the [`Dial`] that reaches it.
    pub fn memory() -> (Incoming, Dial) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Incoming::Memory(rx), Dial::Memory(tx))
    }

    /// The next connection and its peer's address; `None` when no more can come.
    /// A failed accept (no file descriptor left, EMFILE or ENFILE, leaves the
    /// connection queued and the listener ready) is logged and retried after
    /// a pause that grows while the failures last, instead of at once.
    pub async fn accept(&mut self) -> Option<(BoxedIo, SocketAddr)> {
        match self {
            Incoming::Tcp(listener) => {
                let mut backoff = AcceptBackoff::default();
                loop {
                    match listener.accept().await {
                        Ok((stream, peer)) => return Some((Box::new(stream), peer)),
                        Err(e) => {
                            let pause = backoff.failed();
                            tracing::warn!(
                                error = %e,
                                retry_in_ms = pause.as_millis() as u64,
                                "cannot accept a connection"
                            );
                            tokio::time::sleep(pause).await;
                        }
                    }
                }
            }
            Incoming::Memory(rx) => rx
                .recv()
                .await
                .map(|(s, peer)| (Box::new(s) as BoxedIo, peer)),
        }
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Incoming::Tcp(listener) => listener.local_addr().ok(),
            Incoming::Memory(_) => None,
        }
    }
}

/// The pause after each failed accept in a row: 10 ms, doubling to 1 s.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MOST: Duration = Duration::from_secs(1);

    /// Counts a failure; how long to wait before accepting again.
    pub fn failed(&mut self) -> Duration {
        let pause = Self::FIRST
            .checked_mul(1u32 << self.failures.min(16))
            .unwrap_or(Self::MOST)
            .min(Self::MOST);
        self.failures = self.failures.saturating_add(1);
        pause
    }
}

/// A stream whose first bytes were already read: they are read again first.
pub struct Prefixed<S> {
    head: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    pub fn new(head: Vec<u8>, inner: S) -> Self {
        Prefixed { head, at: 0, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(rest) = this.head.get(this.at..).filter(|r| !r.is_empty()) {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(rest.get(..n).unwrap_or_default());
            this.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn prefixed_reads_the_head_then_the_stream_and_writes_through() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut p = Prefixed::new(b"abc".to_vec(), ours);
        theirs.write_all(b"def").await.unwrap();
        let mut got = [0u8; 6];
        p.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"abcdef");
        p.write_all(b"xy").await.unwrap();
        let mut back = [0u8; 2];
        theirs.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"xy");
    }

    #[test]
    fn accept_failures_in_a_row_wait_longer_up_to_a_second() {
        let mut b = AcceptBackoff::default();
        let pauses: Vec<u128> = (0..10).map(|_| b.failed().as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        for _ in 0..100 {
            b.failed();
        }
        assert_eq!(b.failed(), Duration::from_secs(1));
    }
}
