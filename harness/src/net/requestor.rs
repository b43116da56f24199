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
    SyncBeside,
};
use crate::session::{Action, Session};
use rustls::pki_types::ServerName;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};
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
    /// Told when the server first sends anything on this connection.
    answered: Option<&'a watch::Sender<bool>>,
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
        if let Some(answered) = self.answered {
            answered.send_replace(true);
        }
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

/// When a connection speaks and whom it tells that the server answered.
#[derive(Default)]
struct Cues<'a> {
    /// Nothing is sent on the connection, once open, until this turns true
    /// (or its sender goes).
    speak_after: Option<watch::Receiver<bool>>,
    answered: Option<&'a watch::Sender<bool>>,
    /// Told once the connection is open (or failed to open).
    opened: Option<oneshot::Sender<()>>,
}

/// Connects and runs `session` to its end. Returns whether a gap-filling bulk
/// query completed successfully on it.
async fn run_connection(
    rt: &RequestorRuntime,
    session: RequestorSession,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    run_connection_cued(rt, session, shutdown, Cues::default()).await
}

async fn run_connection_cued(
    rt: &RequestorRuntime,
    session: RequestorSession,
    shutdown: &mut watch::Receiver<bool>,
    cues: Cues<'_>,
) -> bool {
    let active = session.is_active();
    let timeout = rt.policy().config.timers.bulk_data;
    let connected = tokio::time::timeout(timeout, rt.server.connect()).await;
    if let Some(opened) = cues.opened {
        let _ = opened.send(());
    }
    let stream = match connected {
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
    if let Some(mut cue) = cues.speak_after {
        // A shutdown meanwhile is seen as the connection is driven.
        tokio::select! {
            _ = cue.wait_for(|answered| *answered) => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    }
    let mut c = Connection {
        session,
        rt,
        conn,
        gap_filled: false,
        answered: cues.answered,
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
    sync(rt, shutdown, None, None).await
}

/// [`initial_sync`], telling `opened` once its connection is open, and silent
/// on it until `speak_after` turns true.
async fn sync(
    rt: &RequestorRuntime,
    shutdown: &mut watch::Receiver<bool>,
    opened: Option<oneshot::Sender<()>>,
    speak_after: Option<watch::Receiver<bool>>,
) -> bool {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tap = RequestorRuntime {
        reports: tx,
        ..rt.clone()
    };
    let session = rt.policy().start_bulk(None, None, rt.clock.mono());
    let cues = Cues {
        speak_after,
        answered: None,
        opened,
    };
    let done = run_connection_cued(&tap, session, shutdown, cues).await;
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
    let beside = rt.policy().bulk_sync_beside_active();
    let (answered, first_answer) = watch::channel(false);
    if let Some(when) = beside {
        let (rt, mut shutdown) = (rt.clone(), shutdown.clone());
        let (delay, speak_after) = match when {
            SyncBeside::OpenedFirst => (Duration::ZERO, None),
            SyncBeside::OpenedFirstQuiet => (Duration::ZERO, Some(first_answer)),
            SyncBeside::After(delay) => (delay, None),
        };
        let (opened, sync_open) = oneshot::channel();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            sync(&rt, &mut shutdown, Some(opened), speak_after).await
        });
        if delay.is_zero() {
            // The bulk connection opens first.
            let _ = sync_open.await;
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
        let cues = Cues {
            answered: Some(&answered),
            ..Cues::default()
        };
        run_connection_cued(&rt, session, &mut shutdown, cues).await;
        // A sync waiting on this connection's answer waits no longer.
        answered.send_replace(true);
        rt.policy().connection_lost();
    }
}
