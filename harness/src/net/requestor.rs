//! The reference requestor's tokio shell: keeps one active query running against
//! a server (reconnecting no faster than ACTIVE_LQ_IDLE_TIMEOUT), fills
//! DataMissing gaps with a bulk query on a separate connection, and reports
//! every event on a channel.

use super::clock::Clock;
use super::driver::{drive, Drive};
use super::transport::Dial;
use crate::reference::faults::Fault;
use crate::reference::requestor::{
    RequestorCloseReason, RequestorEvent, RequestorOutput, RequestorPolicy, RequestorSession,
};
use crate::session::{Action, Session};
use rustls::pki_types::ServerName;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsConnector;

/// What the requestor reports, in order, for each connection it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Connected {
        conn: u64,
        active: bool,
    },
    ConnectFailed {
        error: String,
    },
    Event {
        conn: u64,
        active: bool,
        event: RequestorEvent,
    },
    Closed {
        conn: u64,
        active: bool,
        reason: RequestorCloseReason,
    },
}

/// Where and how the requestor connects.
#[derive(Clone)]
pub struct RequestorRuntime {
    pub server: Dial,
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
    pub clock: Clock,
    pub policy: Arc<Mutex<RequestorPolicy>>,
    pub reports: mpsc::UnboundedSender<Report>,
}

impl RequestorRuntime {
    fn policy(&self) -> MutexGuard<'_, RequestorPolicy> {
        self.policy.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Connection<'a> {
    session: RequestorSession,
    rt: &'a RequestorRuntime,
    conn: u64,
    gap_filled: bool,
}

impl Connection<'_> {
    fn drain_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            let active = self.session.is_active();
            if active {
                self.rt.policy().observe_active(&event);
                let gap = self.rt.policy().gap_to_fill(&event);
                if let Some((start, end)) = gap {
                    tokio::spawn(fill_gap(self.rt.clone(), start, end));
                }
            } else if matches!(event, RequestorEvent::Done { status: None, .. }) {
                self.gap_filled = true;
            }
            let _ = self.rt.reports.send(Report::Event {
                conn: self.conn,
                active,
                event,
            });
        }
    }
}

impl Session for Connection<'_> {
    type Reason = RequestorCloseReason;

    fn poll_action(&mut self, _now: Duration) -> Option<Action<RequestorCloseReason>> {
        Some(match self.session.poll_output()? {
            RequestorOutput::Transmit(bytes) => Action::Transmit(bytes),
            RequestorOutput::StartTls => Action::StartTls,
            RequestorOutput::Close(reason) => Action::Close(reason),
        })
    }

    fn handle_input(&mut self, now: Duration, bytes: &[u8]) {
        self.session.handle_input(now, bytes);
        self.drain_events();
    }

    fn handle_eof(&mut self, now: Duration) {
        self.session.handle_eof(now);
    }

    fn on_write_completed(&mut self, _now: Duration) {}

    fn poll_timeout(&self) -> Option<Duration> {
        self.session.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Duration) {
        self.session.handle_timeout(now);
    }

    fn shutdown(&mut self, now: Duration) {
        self.session.handle_eof(now);
    }

    fn is_closing(&self) -> bool {
        false
    }

    fn graceful(&self, _reason: &RequestorCloseReason) -> bool {
        true
    }
}

static NEXT_CONN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Connects and runs `session` to its end. Returns whether a gap-filling bulk
/// query completed successfully on it.
async fn run_connection(
    rt: &RequestorRuntime,
    session: RequestorSession,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let active = session.is_active();
    let timeout = rt.policy().config.timers.bulk_data;
    let stream = match tokio::time::timeout(timeout, rt.server.connect()).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            let _ = rt.reports.send(Report::ConnectFailed {
                error: e.to_string(),
            });
            return false;
        }
        Err(_) => {
            let _ = rt.reports.send(Report::ConnectFailed {
                error: "connect timed out".into(),
            });
            return false;
        }
    };
    let conn = NEXT_CONN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _ = rt.reports.send(Report::Connected { conn, active });
    let mut c = Connection {
        session,
        rt,
        conn,
        gap_filled: false,
    };
    let reason = drive_with_tls(stream, &mut c, shutdown).await;
    let _ = rt.reports.send(Report::Closed {
        conn,
        active,
        reason,
    });
    c.gap_filled
}

async fn drive_with_tls<S>(
    stream: S,
    c: &mut Connection<'_>,
    shutdown: &mut watch::Receiver<bool>,
) -> RequestorCloseReason
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let clock = c.rt.clock;
    let stream = match drive(stream, c, clock, None, shutdown).await {
        Ok(Drive::Closed(reason)) => return reason,
        Ok(Drive::Upgrade(stream)) => stream,
        Err(e) => return RequestorCloseReason::ProtocolError(format!("I/O error: {e}")),
    };
    let faults = c.rt.policy().config.faults.clone();
    if faults.has(Fault::CleartextAfterDhcpTls) {
        c.session.on_tls_established(clock.mono());
        return match drive(stream, c, clock, None, shutdown).await {
            Ok(Drive::Closed(reason)) => reason,
            Ok(Drive::Upgrade(_)) => {
                RequestorCloseReason::ProtocolError("TLS requested twice".into())
            }
            Err(e) => RequestorCloseReason::ProtocolError(format!("I/O error: {e}")),
        };
    }
    let Some((connector, name)) = c.rt.tls.clone() else {
        return RequestorCloseReason::TlsFailed("no TLS material configured".into());
    };
    let timeout = c.rt.policy().config.timers.bulk_data;
    let handshake = connector.connect(name, stream).into_fallible();
    let tls = match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(tls)) => tls,
        Ok(Err((e, stream))) => {
            if faults.has(Fault::LingersAfterFailedHandshake) {
                let _ = shutdown.changed().await;
                drop(stream);
            }
            return RequestorCloseReason::TlsFailed(e.to_string());
        }
        Err(_) => return RequestorCloseReason::TlsFailed("handshake timed out".into()),
    };
    c.session.on_tls_established(clock.mono());
    match drive(tls, c, clock, None, shutdown).await {
        Ok(Drive::Closed(reason)) => reason,
        Ok(Drive::Upgrade(_)) => RequestorCloseReason::ProtocolError("TLS requested twice".into()),
        Err(e) => RequestorCloseReason::ProtocolError(format!("I/O error: {e}")),
    }
}

/// RFC 7724 §7.4.1: a bulk query with query-start-time = the active query's
/// query-start-time and query-end-time = the DataMissing base-time, on its own
/// connection.
async fn fill_gap(rt: RequestorRuntime, start: Option<u32>, end: Option<u32>) {
    let session = rt.policy().start_bulk(start, end, rt.clock.mono());
    let (_keep, mut never) = watch::channel(false);
    if run_connection(&rt, session, &mut never).await {
        rt.policy().gap_filled();
    }
}

/// Runs an initial bulk query for all configured addresses and starts the
/// active query's base-time at the earliest base-time it returned.
pub async fn initial_sync(rt: &RequestorRuntime, shutdown: &mut watch::Receiver<bool>) -> bool {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tap = RequestorRuntime {
        reports: tx,
        ..rt.clone()
    };
    let session = rt.policy().start_bulk(None, None, rt.clock.mono());
    let done = run_connection(&tap, session, shutdown).await;
    let mut earliest: Option<u32> = None;
    while let Ok(report) = rx.try_recv() {
        if let Report::Event {
            event: RequestorEvent::Binding(b),
            ..
        } = &report
        {
            earliest = match (earliest, b.base_time) {
                (Some(e), Some(t)) => Some(e.min(t)),
                (e, t) => e.or(t),
            };
        }
        let _ = rt.reports.send(report);
    }
    if done {
        if let Some(t) = earliest {
            rt.policy().set_base_time(t);
        }
    }
    done
}

/// Keeps an active query running until `shutdown`.
pub async fn run_active(rt: RequestorRuntime, mut shutdown: watch::Receiver<bool>) {
    let sync_after = rt.policy().bulk_sync_beside_active();
    if let Some(delay) = sync_after {
        let (rt, mut shutdown) = (rt.clone(), shutdown.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            initial_sync(&rt, &mut shutdown).await
        });
        if delay.is_zero() {
            // The bulk connection opens first.
            tokio::task::yield_now().await;
        }
    }
    loop {
        if *shutdown.borrow() {
            return;
        }
        let at = rt.clock.instant(rt.policy().next_attempt_at());
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = shutdown.changed() => return,
        }
        let session = rt.policy().start_active(rt.clock.mono());
        run_connection(&rt, session, &mut shutdown).await;
        rt.policy().connection_lost();
    }
}
