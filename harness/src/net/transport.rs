//! Byte streams the shells run on: TCP, or in-memory pipes for in-process peers
//! on tokio's paused clock.

use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Any bidirectional byte stream.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type BoxedIo = Box<dyn Io>;

/// Buffer size of each direction of an in-memory connection.
pub const MEMORY_PIPE_BYTES: usize = 64 * 1024;

/// How a requestor reaches a server.
#[derive(Debug, Clone)]
pub enum Dial {
    Tcp(SocketAddr),
    Memory(mpsc::UnboundedSender<DuplexStream>),
}

impl Dial {
    pub async fn connect(&self) -> io::Result<BoxedIo> {
        match self {
            Dial::Tcp(addr) => Ok(Box::new(TcpStream::connect(addr).await?)),
            Dial::Memory(tx) => {
                let (ours, theirs) = tokio::io::duplex(MEMORY_PIPE_BYTES);
                tx.send(theirs).map_err(|_| {
                    io::Error::new(io::ErrorKind::ConnectionRefused, "in-memory server is gone")
                })?;
                Ok(Box::new(ours))
            }
        }
    }
}

/// Where a server takes connections from.
#[derive(Debug)]
pub enum Incoming {
    Tcp(TcpListener),
    Memory(mpsc::UnboundedReceiver<DuplexStream>),
}

impl Incoming {
    /// An in-memory listener and the [`Dial`] that reaches it.
    pub fn memory() -> (Incoming, Dial) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Incoming::Memory(rx), Dial::Memory(tx))
    }

    /// The next connection and a label for its peer; `None` when no more can come.
    pub async fn accept(&mut self) -> Option<(BoxedIo, String)> {
        match self {
            Incoming::Tcp(listener) => loop {
                match listener.accept().await {
                    Ok((stream, peer)) => return Some((Box::new(stream), peer.to_string())),
                    Err(e) => tracing::debug!(error = %e, "accept failed"),
                }
            },
            Incoming::Memory(rx) => rx
                .recv()
                .await
                .map(|s| (Box::new(s) as BoxedIo, "memory".to_string())),
        }
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Incoming::Tcp(listener) => listener.local_addr().ok(),
            Incoming::Memory(_) => None,
        }
    }
}
