//! The one tokio loop that drives any sans-IO session over a byte stream: reads,
//! cancel-safe partial writes, timers on tokio's clock, wake-ups from outside
//! (lease changes), shutdown, and the hand-over to TLS after DHCPTLS.

use super::clock::Clock;
use crate::session::{Action, Session};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

/// How a drive ended.
pub enum Drive<S, R> {
    /// The session asked for TLS; the stream is handed back.
    Upgrade(S),
    Closed(R),
}

/// Sleeps until `deadline`, or forever without one.
pub(crate) async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Drives `session` over `stream` until it closes or asks for TLS.
pub async fn drive<S, T>(
    stream: S,
    session: &mut T,
    clock: Clock,
    mut wake: Option<watch::Receiver<u64>>,
    shutdown: &mut watch::Receiver<bool>,
) -> io::Result<Drive<S, T::Reason>>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Session,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut out: Vec<u8> = Vec::new();
    let mut written = 0usize;
    // A TLS stream takes what is written into its own buffer and sends it
    // only as the socket allows: written bytes are flushed, or a session
    // that goes quiet after a blocked write would never send them.
    let mut unflushed = false;
    let mut buf = vec![0u8; 16 * 1024];
    let mut eof = false;
    let mut stopping = *shutdown.borrow();
    if stopping {
        session.shutdown(clock.mono());
    }
    loop {
        if out.is_empty() || session.is_closing() {
            match session.poll_action(clock.mono()) {
                Some(Action::Transmit(bytes)) => {
                    out = bytes;
                    written = 0;
                    continue;
                }
                Some(Action::StartTls) => return Ok(Drive::Upgrade(reader.unsplit(writer))),
                Some(Action::Close(reason)) => {
                    if session.graceful(&reason) {
                        let _ =
                            tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
                    }
                    return Ok(Drive::Closed(reason));
                }
                None => {}
            }
        }
        let deadline = session.poll_timeout().map(|d| clock.instant(d));
        let wake_fut = async {
            match wake.as_mut() {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            changed = shutdown.changed(), if !stopping => {
                if changed.is_err() || *shutdown.borrow() {
                    stopping = true;
                    out.clear();
                    session.shutdown(clock.mono());
                }
            }
            // Written bytes, or `None` once flushed.
            result = async {
                if out.is_empty() {
                    writer.flush().await.map(|()| None)
                } else {
                    writer.write(out.get(written..).unwrap_or_default()).await.map(Some)
                }
            }, if !out.is_empty() || unflushed => {
                match result? {
                    Some(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Some(n) => {
                        written += n;
                        unflushed = true;
                        if written >= out.len() {
                            out.clear();
                            session.on_write_completed(clock.mono());
                        }
                    }
                    None => unflushed = false,
                }
            }
            result = reader.read(&mut buf), if !eof => {
                let n = result?;
                if n == 0 {
                    eof = true;
                    session.handle_eof(clock.mono());
                } else {
                    session.handle_input(clock.mono(), buf.get(..n).unwrap_or_default());
                }
            }
            _ = wake_fut => session.on_wake(clock.mono()),
            _ = sleep_until_opt(deadline) => session.handle_timeout(clock.mono()),
        }
    }
}
