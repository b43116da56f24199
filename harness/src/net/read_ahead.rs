//! Reading a connection on another worker while the messages read before are
//! judged: the copy out of the socket then overlaps the judging instead of
//! coming between one read's messages and the next's.
//!
//! The task holds the stream while it runs and gives it back, with every
//! chunk it read and the connection did not take yet, when stopped. Chunks in
//! flight are bounded, so a peer that never stops sending costs
//! [`CHUNKS_IN_FLIGHT`] queued reads, one waiting to be queued and one being
//! read into, beside the one the connection frames; the task keeps at most
//! `RECYCLED` of those buffers to read into again.

use crate::net::transport::BoxedIo;
use bytes::BytesMut;
use std::collections::VecDeque;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Bytes asked of the socket per read at most: a bulk stream's messages are
/// framed and judged from one buffer, not one small read at a time.
pub const READ_SIZE: usize = 256 * 1024;

/// Bytes asked per read of a peer that does not fill its buffer: an open
/// connection with sparse traffic keeps a small buffer.
pub const READ_MIN: usize = 16 * 1024;

/// Reads of fewer than [`READ_MIN`] bytes in a row after which a connection
/// counts as sparse. A stream read as fast as it comes often gives short
/// reads; shrinking the buffer at the first would throw away memory still
/// in the cache, which is what the next read copies into fastest.
const SPARSE_READS: u8 = 8;

/// Reads queued for the connection at most.
pub const CHUNKS_IN_FLIGHT: usize = 4;

/// Buffers of earlier reads kept to read into again once the connection is
/// done with them: more than a read-ahead task can have in flight, so the
/// oldest is usually free by the time it is tried.
const RECYCLED: usize = CHUNKS_IN_FLIGHT + 4;

/// How many bytes the next read asks for: doubled after a read that filled
/// the buffer, up to [`READ_SIZE`], and back to [`READ_MIN`] after
/// [`SPARSE_READS`] short reads.
#[derive(Debug, Clone, Copy)]
pub struct ReadSize {
    size: usize,
    /// Reads of fewer than [`READ_MIN`] bytes since the last longer one.
    short_reads: u8,
}

impl Default for ReadSize {
    fn default() -> Self {
        ReadSize {
            size: READ_MIN,
            short_reads: 0,
        }
    }
}

impl ReadSize {
    pub fn get(&self) -> usize {
        self.size
    }

    /// Sizes the next read after one of `n` bytes.
    pub fn after(&mut self, n: usize) {
        if n >= self.size {
            self.size = (self.size * 2).min(READ_SIZE);
        }
        if n >= READ_MIN {
            self.short_reads = 0;
            return;
        }
        self.short_reads = self.short_reads.saturating_add(1);
        if self.short_reads >= SPARSE_READS {
            self.size = READ_MIN;
        }
    }

    /// The connection has just turned sparse: the buffer of a burst goes at
    /// the next read.
    pub fn shrinks_buffer(&self) -> bool {
        self.short_reads == SPARSE_READS
    }
}

/// One read of a connection, with when it completed.
#[derive(Debug)]
pub enum Chunk {
    Bytes(BytesMut, Instant),
    /// The peer closed (FIN).
    End(Instant),
    /// The read failed: on an established connection, a reset.
    Failed(Instant),
    /// TLS ended without close_notify at a TCP FIN.
    EndWithoutCloseNotify(Instant),
}

impl Chunk {
    /// When the read completed.
    pub fn at(&self) -> Instant {
        match self {
            Chunk::Bytes(_, at)
            | Chunk::End(at)
            | Chunk::Failed(at)
            | Chunk::EndWithoutCloseNotify(at) => *at,
        }
    }

    /// What a read into `buf` that completed `at` came to; `size` learns
    /// how much it brought.
    pub fn of_read(
        read: std::io::Result<usize>,
        buf: BytesMut,
        at: Instant,
        size: &mut ReadSize,
    ) -> Self {
        match read {
            Ok(0) => Chunk::End(at),
            Ok(n) => {
                size.after(n);
                Chunk::Bytes(buf, at)
            }
            // What rustls says of a TCP FIN with no close_notify before it.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Chunk::EndWithoutCloseNotify(at)
            }
            Err(_) => Chunk::Failed(at),
        }
    }
}

/// What a stopped task gives back.
pub struct Stopped {
    /// `None` only if the task panicked.
    pub stream: Option<BoxedIo>,
    pub size: ReadSize,
    /// Chunks read and not taken, in order.
    pub rest: Vec<Chunk>,
}

/// A running read-ahead task.
pub struct ReadAhead {
    chunks: mpsc::Receiver<Chunk>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<(BoxedIo, ReadSize, Option<Chunk>)>,
}

impl ReadAhead {
    /// Starts reading `stream` on the runtime's workers.
    pub fn start(stream: BoxedIo, size: ReadSize) -> Self {
        let (chunk_tx, chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(read_until_stopped(stream, size, chunk_tx, stopped));
        ReadAhead { chunks, stop, task }
    }

    /// The next chunk; `None` if the task ended without being stopped.
    pub async fn next(&mut self) -> Option<Chunk> {
        self.chunks.recv().await
    }

    /// Stops the task and takes back the stream and what it read.
    pub async fn stop(mut self) -> Stopped {
        let _ = self.stop.send(());
        let (stream, size, undelivered) = match self.task.await {
            Ok((stream, size, undelivered)) => (Some(stream), size, undelivered),
            Err(_) => (None, ReadSize::default(), None),
        };
        let mut rest = Vec::new();
        self.chunks.close();
        while let Ok(chunk) = self.chunks.try_recv() {
            rest.push(chunk);
        }
        rest.extend(undelivered);
        Stopped { stream, size, rest }
    }
}

/// Reads `stream` into chunks until `stopped` fires (or its sender goes);
/// returns the stream with the chunk read and not sent when that happened.
async fn read_until_stopped(
    mut stream: BoxedIo,
    mut size: ReadSize,
    chunks: mpsc::Sender<Chunk>,
    mut stopped: oneshot::Receiver<()>,
) -> (BoxedIo, ReadSize, Option<Chunk>) {
    let mut earlier = Recycled::default();
    loop {
        let mut buf = earlier.buffer(size);
        // Reading is cancel safe: stopped mid-read, nothing was taken.
        let read = tokio::select! {
            biased;
            _ = &mut stopped => return (stream, size, None),
            read = stream.read_buf(&mut buf) => read,
        };
        earlier.keep(&mut buf);
        let chunk = Chunk::of_read(read, buf, Instant::now(), &mut size);
        let last = !matches!(chunk, Chunk::Bytes(..));
        let permit = tokio::select! {
            biased;
            _ = &mut stopped => return (stream, size, Some(chunk)),
            permit = chunks.reserve() => permit,
        };
        match permit {
            Ok(permit) => permit.send(chunk),
            // The connection is gone.
            Err(_) => return (stream, size, Some(chunk)),
        }
        if last {
            let _ = stopped.await;
            return (stream, size, None);
        }
    }
}

/// Handles on the buffers of earlier reads, oldest first: a buffer is read
/// into again once the connection has dropped every message sharing it, so
/// a stream is read into memory already mapped, not a fresh allocation (and
/// its page faults) per read. Both the read-ahead task and a connection's
/// own reads take their buffers here.
#[derive(Default)]
pub struct Recycled {
    handles: VecDeque<BytesMut>,
}

impl Recycled {
    /// A buffer for the next read: the oldest earlier one if it is free,
    /// else a new one.
    pub fn buffer(&mut self, size: ReadSize) -> BytesMut {
        if size.shrinks_buffer() {
            // The connection turned sparse: the buffers of its burst go.
            self.handles.clear();
        }
        if let Some(oldest) = self.handles.front_mut() {
            if oldest.try_reclaim(size.get()) {
                if let Some(free) = self.handles.pop_front() {
                    return free;
                }
            }
        }
        BytesMut::with_capacity(size.get())
    }

    /// Keeps a handle on the buffer of `chunk`, the bytes just read: the
    /// empty rest of the allocation after them.
    pub fn keep(&mut self, chunk: &mut BytesMut) {
        if self.handles.len() == RECYCLED {
            // Still in use: it is freed with its last message instead.
            self.handles.pop_front();
        }
        self.handles.push_back(chunk.split_off(chunk.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn reads_grow_while_they_fill_and_shrink_only_after_a_run_of_short_ones() {
        let mut size = ReadSize::default();
        assert_eq!(size.get(), READ_MIN);
        let mut sizes = Vec::new();
        while size.get() < READ_SIZE {
            let full = size.get();
            size.after(full);
            sizes.push(size.get());
        }
        assert_eq!(sizes, [32, 64, 128, 256].map(|k| k * 1024));
        // A stream read as fast as it comes: short reads between long ones
        // leave the size alone.
        for _ in 1..SPARSE_READS {
            size.after(100);
        }
        // A long read in between starts the run again.
        size.after(READ_MIN);
        for _ in 1..SPARSE_READS {
            size.after(100);
        }
        assert_eq!((size.get(), size.shrinks_buffer()), (READ_SIZE, false));
        size.after(100);
        assert_eq!((size.get(), size.shrinks_buffer()), (READ_MIN, true));
    }

    /// Whether `buf` lies in the allocation that starts at `start`.
    fn inside(buf: &BytesMut, start: *const u8, len: usize) -> bool {
        let at = buf.as_ptr() as usize;
        (start as usize..start as usize + len).contains(&at)
    }

    #[test]
    fn a_buffer_is_read_into_again_only_once_no_chunk_shares_it() {
        let size = ReadSize::default();
        let mut recycled = Recycled::default();
        let mut first = recycled.buffer(size);
        let (start, capacity) = (first.as_ptr(), first.capacity());
        first.extend_from_slice(&[7; 300]);
        recycled.keep(&mut first);
        let message = first.split_to(200).freeze();
        drop(first);
        // A message of the first chunk is still held: a new buffer.
        let mut second = recycled.buffer(size);
        assert!(!inside(&second, start, capacity));
        second.extend_from_slice(&[8; 300]);
        recycled.keep(&mut second);
        assert_eq!(&message[..], &[7; 200][..]);
        drop(second);
        drop(message);
        // Nothing shares the first buffer any more: it is read into again,
        // empty and as large as asked.
        let third = recycled.buffer(size);
        assert!(inside(&third, start, capacity));
        assert!(third.is_empty() && third.capacity() >= size.get());
    }

    #[test]
    fn the_buffers_of_a_burst_go_when_the_connection_turns_sparse() {
        let mut size = ReadSize::default();
        while size.get() < READ_SIZE {
            size.after(size.get());
        }
        let mut recycled = Recycled::default();
        let mut chunks = Vec::new();
        for _ in 0..2 {
            let mut chunk = recycled.buffer(size);
            chunk.extend_from_slice(&[1; 10]);
            recycled.keep(&mut chunk);
            chunks.push(chunk);
        }
        assert_eq!(recycled.handles.len(), 2);
        drop(chunks);
        while !size.shrinks_buffer() {
            size.after(1);
        }
        let _small = recycled.buffer(size);
        // Neither burst buffer is kept (reusing one would leave the other).
        assert!(recycled.handles.is_empty());
    }

    /// Every byte a peer sends arrives in order, in at most
    /// [`CHUNKS_IN_FLIGHT`] chunks ahead, and the peer's close ends them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_byte_arrives_in_order_then_the_close() {
        let (ours, mut theirs) = tokio::io::duplex(4096);
        let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let to_send = sent.clone();
        let writer = tokio::spawn(async move {
            theirs.write_all(&to_send).await?;
            theirs.shutdown().await
        });
        let mut ahead = ReadAhead::start(Box::new(ours), ReadSize::default());
        let mut got = Vec::new();
        let closed = loop {
            match ahead.next().await {
                Some(Chunk::Bytes(bytes, _)) => got.extend_from_slice(&bytes),
                Some(Chunk::End(_) | Chunk::EndWithoutCloseNotify(_)) => break true,
                Some(Chunk::Failed(_)) | None => break false,
            }
        };
        assert!(closed);
        assert_eq!(got, sent);
        assert!(matches!(writer.await, Ok(Ok(()))));
        let stopped = ahead.stop().await;
        assert!(stopped.stream.is_some());
        assert!(stopped.rest.is_empty());
    }

    /// Stopped while the peer keeps sending: the stream comes back with the
    /// chunks not taken, and what was not read yet is still in the stream.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stopping_gives_back_the_stream_and_every_chunk_not_taken() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let sent: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
        let to_send = sent.clone();
        let writer = tokio::spawn(async move {
            let written = theirs.write_all(&to_send).await;
            (theirs, written)
        });
        let mut ahead = ReadAhead::start(Box::new(ours), ReadSize::default());
        let mut got = Vec::new();
        if let Some(Chunk::Bytes(bytes, _)) = ahead.next().await {
            got.extend_from_slice(&bytes);
        }
        assert!(!got.is_empty());
        let stopped = ahead.stop().await;
        assert!(stopped.rest.len() <= CHUNKS_IN_FLIGHT + 1);
        for chunk in stopped.rest {
            match chunk {
                Chunk::Bytes(bytes, _) => got.extend_from_slice(&bytes),
                other => panic!("unexpected {other:?}"),
            }
        }
        let Some(mut stream) = stopped.stream else {
            panic!("the stream did not come back");
        };
        let mut rest = vec![0u8; sent.len() - got.len()];
        // A chunk lost in stopping leaves the stream short: a failure, not a
        // hang.
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut rest));
        assert!(matches!(read.await, Ok(Ok(_))), "the rest is in the stream");
        got.extend_from_slice(&rest);
        assert_eq!(got, sent);
        assert!(matches!(writer.await, Ok((_, Ok(())))));
    }
}
