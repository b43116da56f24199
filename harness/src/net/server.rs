//! The reference server's tokio shell: accepts leasequery TCP connections, runs a
//! [`ServerSession`] per connection, upgrades to TLS after DHCPTLS, enforces
//! BULK_LQ_MAX_CONNS, expires leases on time, and ends every query with
//! QueryTerminated on shutdown.

use super::clock::Clock;
use super::driver::{drive, sleep_until_opt, Drive};
use super::legacy_tls;
use super::replay::Replay;
use super::transport::Incoming;
use crate::reference::admission::{Admission, Admit};
use crate::reference::faults::Fault;
use crate::reference::leases::{Client, LeaseError, LeaseStore};
use crate::reference::server::{CloseReason, Output, ServerConfig, ServerMode, ServerSession};
use crate::session::{Action, Session};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Encrypted bytes a TLS connection holds back for the socket at most: about
/// one message, as a TCP connection holds none beyond the socket's buffer.
const TLS_SEND_BUFFER: usize = 1024;

/// The lease store and clock shared by every connection, with a signal that
/// fires on each change.
#[derive(Debug)]
pub struct Shared {
    store: Mutex<LeaseStore>,
    changes: watch::Sender<u64>,
    pub clock: Clock,
}

impl Shared {
    pub fn new(store: LeaseStore, clock: Clock) -> Arc<Self> {
        let (changes, _) = watch::channel(store.next_seq());
        Arc::new(Shared {
            store: Mutex::new(store),
            changes,
            clock,
        })
    }

    /// The store, for reading. A poisoned lock still yields the store: every
    /// store operation leaves it consistent.
    pub fn store(&self) -> MutexGuard<'_, LeaseStore> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `change` on the store at the current server time, then wakes every
    /// connection.
    pub fn update<R>(&self, change: impl FnOnce(&mut LeaseStore, u32) -> R) -> R {
        let (result, seq) = {
            let mut store = self.store();
            let result = change(&mut store, self.clock.epoch());
            (result, store.next_seq())
        };
        self.changes.send_replace(seq);
        result
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

/// The in-process control API of the reference server.
#[derive(Debug, Clone)]
pub struct Control(pub Arc<Shared>);

impl Control {
    pub fn bind(&self, addr: Option<Ipv4Addr>, client: Client) -> Result<Ipv4Addr, LeaseError> {
        self.0.update(|s, now| s.bind(addr, client, now))
    }

    /// The lease time the server grants.
    pub fn lease_time(&self) -> u32 {
        self.0.store().lease_time()
    }

    pub fn renew(&self, addr: Ipv4Addr) -> Result<(), LeaseError> {
        self.0.update(|s, now| s.renew(addr, now))
    }

    pub fn release(&self, addr: Ipv4Addr) -> Result<(), LeaseError> {
        self.0.update(|s, now| s.release(addr, now))
    }

    pub fn expire(&self, addr: Ipv4Addr) -> Result<(), LeaseError> {
        self.0.update(|s, now| s.expire(addr, now))
    }

    pub fn abandon(&self, addr: Ipv4Addr) -> Result<(), LeaseError> {
        self.0.update(|s, now| s.abandon(addr, now))
    }

    pub fn reset(&self, addr: Ipv4Addr) -> Result<(), LeaseError> {
        self.0.update(|s, now| s.reset(addr, now))
    }
}

/// Everything a connection needs.
#[derive(Clone)]
pub struct ServerRuntime {
    pub config: Arc<ServerConfig>,
    pub shared: Arc<Shared>,
    pub tls: Option<TlsAcceptor>,
    pub max_connections: usize,
    /// Simultaneous connections allowed from one requestor address (RFC 7724
    /// §8.3); unlimited below `max_connections` when absent.
    pub per_requestor: Option<usize>,
}

/// A server session with the store and clock it reads from.
struct Connection<'a> {
    session: ServerSession,
    shared: &'a Shared,
}

impl Session for Connection<'_> {
    type Reason = CloseReason;

    fn poll_action(&mut self, now: Duration) -> Option<Action<CloseReason>> {
        let epoch = self.shared.clock.epoch_at(now);
        let store = self.shared.store();
        Some(match self.session.poll_output(now, &store, epoch)? {
            Output::Transmit(bytes) => Action::Transmit(bytes),
            Output::StartTls => Action::StartTls,
            Output::Close(reason) => Action::Close(reason),
        })
    }

    fn handle_input(&mut self, now: Duration, bytes: &[u8]) {
        let epoch = self.shared.clock.epoch_at(now);
        let store = self.shared.store();
        self.session.handle_input(now, bytes, &store, epoch);
    }

    fn handle_eof(&mut self, now: Duration) {
        self.session.handle_eof(now);
    }

    fn on_write_completed(&mut self, now: Duration) {
        self.session.on_write_completed(now);
    }

    fn poll_timeout(&self) -> Option<Duration> {
        self.session.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Duration) {
        self.session
            .handle_timeout(now, self.shared.clock.epoch_at(now));
    }

    fn shutdown(&mut self, now: Duration) {
        // A write in progress is abandoned by the driver.
        self.session.on_write_completed(now);
        self.session.shutdown(self.shared.clock.epoch_at(now));
    }

    fn is_closing(&self) -> bool {
        self.session.is_closing()
    }

    fn on_wake(&mut self, _now: Duration) {
        let store = self.shared.store();
        self.session.absorb_changes(&store);
    }

    fn graceful(&self, reason: &CloseReason) -> bool {
        *reason != CloseReason::SendBlocked
    }
}

/// Serves one connection to its end and says why it ended.
pub async fn serve_connection<S>(
    stream: S,
    rt: ServerRuntime,
    mut shutdown: watch::Receiver<bool>,
) -> CloseReason
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let clock = rt.shared.clock;
    let mut conn = Connection {
        session: ServerSession::new(rt.config.clone(), clock.mono()),
        shared: &rt.shared,
    };
    let wake = || Some(rt.shared.subscribe());
    let stream = match drive(stream, &mut conn, clock, wake(), &mut shutdown).await {
        Ok(Drive::Closed(reason)) => return reason,
        Ok(Drive::Upgrade(stream)) => stream,
        Err(e) => return CloseReason::Malformed(format!("I/O error: {e}")),
    };
    let Some(acceptor) = rt.tls.clone() else {
        return CloseReason::TlsFailed("no TLS material configured".into());
    };
    let stream = if rt.config.faults.has(Fault::Tls11Accepted) {
        match accept_legacy_tls(stream).await {
            Ok(Ok(version)) => {
                return CloseReason::TlsFailed(format!(
                    "answered a TLS 0x{version:04x} ClientHello"
                ))
            }
            Ok(Err(stream)) => stream,
            Err(e) => return CloseReason::Malformed(format!("I/O error: {e}")),
        }
    } else {
        Replay::new(Vec::new(), stream)
    };
    let handshake = tokio::time::timeout(rt.config.timers.bulk_data, acceptor.accept(stream)).await;
    let mut tls = match handshake {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return CloseReason::TlsFailed(e.to_string()),
        Err(_) => return CloseReason::TlsFailed("handshake timed out".into()),
    };
    // The session learns that its peer stopped reading from writes that
    // block; rustls would otherwise take 64 KiB of them first.
    tls.get_mut().1.set_buffer_limit(Some(TLS_SEND_BUFFER));
    conn.session.on_tls_established(clock.mono());
    match drive(tls, &mut conn, clock, wake(), &mut shutdown).await {
        Ok(Drive::Closed(reason)) => reason,
        Ok(Drive::Upgrade(_)) => CloseReason::Malformed("a second DHCPTLS inside TLS".into()),
        Err(e) => CloseReason::Malformed(format!("I/O error: {e}")),
    }
}

/// The deliberate defect `tls-1.1-accepted`: reads the first TLS record
/// and, when it is a ClientHello offering only a version below 1.2, answers
/// with a ServerHello choosing it (`Ok(version)`); any other record goes to
/// the TLS library as if unread (`Err(stream)`).
async fn accept_legacy_tls<S>(mut stream: S) -> std::io::Result<Result<u16, Replay<S>>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).await?;
    if !legacy_tls::is_handshake(&header) {
        // Not TLS: the TLS library answers it as it would.
        return Ok(Err(Replay::new(header.to_vec(), stream)));
    }
    let mut record = vec![0u8; legacy_tls::record_len(&header)];
    stream.read_exact(&mut record).await?;
    let mut read = header.to_vec();
    read.extend(record);
    match legacy_tls::legacy_client_version(&read) {
        Some(version) => {
            stream.write_all(&legacy_tls::server_hello(version)).await?;
            stream.flush().await?;
            Ok(Ok(version))
        }
        None => Ok(Err(Replay::new(read, stream))),
    }
}

/// Expires leases when their time is up.
pub async fn expire_leases(shared: Arc<Shared>) {
    let mut changes = shared.subscribe();
    loop {
        let next = shared.store().next_expiry();
        let wait = next.map(|at| {
            let now = shared.clock.epoch();
            Duration::from_secs(u64::from(at.saturating_sub(now)))
        });
        tokio::select! {
            _ = changes.changed() => {}
            _ = sleep_until_opt(wait.map(|w| tokio::time::Instant::now() + w)) => {
                shared.update(|store, now| store.expire_due(now));
            }
        }
    }
}

/// A server running on a listener.
pub struct RunningServer {
    /// The TCP address, when listening on TCP.
    pub addr: Option<SocketAddr>,
    pub control: Control,
    shutdown: watch::Sender<bool>,
    reload: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Starts accepting connections.
    pub fn start(incoming: Incoming, rt: ServerRuntime) -> Self {
        let addr = incoming.local_addr();
        let (shutdown, rx) = watch::channel(false);
        let (reload, reloads) = watch::channel(0);
        let control = Control(rt.shared.clone());
        let task = tokio::spawn(accept_loop(incoming, rt, rx, reloads));
        RunningServer {
            addr,
            control,
            shutdown,
            reload,
            task,
        }
    }

    /// An administrative reload: every open query ends with QueryTerminated
    /// and its connection closes; the server keeps accepting.
    pub fn reload(&self) {
        self.reload.send_modify(|n| *n += 1);
    }

    /// Ends every query with QueryTerminated, closes every connection and stops.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        let _ = self.task.await;
    }
}

async fn accept_loop(
    mut incoming: Incoming,
    rt: ServerRuntime,
    mut shutdown: watch::Receiver<bool>,
    mut reloads: watch::Receiver<u64>,
) {
    let faults = &rt.config.faults;
    let mut admission = Admission::new(
        rt.max_connections,
        rt.per_requestor,
        rt.config.allowed_requestors.clone(),
        faults.clone(),
    );
    let mut connections = JoinSet::new();
    let expiry = tokio::spawn(expire_leases(rt.shared.clone()));
    // Connections end their queries when this fires; a reload replaces it so
    // later connections are not affected.
    let (mut stop_connections, _) = watch::channel(false);
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            Ok(()) = reloads.changed() => {
                if faults.has(Fault::ReloadKeepsQueries) {
                    continue;
                }
                stop_connections.send_replace(true);
                stop_connections = watch::channel(false).0;
            }
            accepted = incoming.accept() => {
                let Some((stream, peer)) = accepted else { break };
                let rt = match admission.admit(peer.ip()) {
                    Admit::Serve => rt.clone(),
                    // The defect is in how a secure server at capacity
                    // answers DHCPTLS; a cleartext one refuses as usual.
                    Admit::ServeCleartextOnly if rt.config.mode != ServerMode::Secure => {
                        tracing::info!(%peer, "connection over the limit; closing");
                        drop(stream);
                        continue;
                    }
                    Admit::ServeCleartextOnly => {
                        let mut config = (*rt.config).clone();
                        config.mode = ServerMode::Insecure;
                        let rt = ServerRuntime { config: Arc::new(config), ..rt.clone() };
                        let rx = stop_connections.subscribe();
                        connections.spawn(async move {
                            serve_connection(stream, rt, rx).await;
                            None
                        });
                        continue;
                    }
                    Admit::Refuse(why) => {
                        tracing::info!(%peer, ?why, "connection refused; closing");
                        drop(stream);
                        continue;
                    }
                };
                let rx = stop_connections.subscribe();
                connections.spawn(async move {
                    let reason = serve_connection(stream, rt, rx).await;
                    tracing::debug!(%peer, ?reason, "connection closed");
                    Some(peer.ip())
                });
            }
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                if let Ok(Some(peer)) = ended {
                    admission.release(peer);
                }
            }
        }
    }
    stop_connections.send_replace(true);
    drop(incoming);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        connections.abort_all();
    }
    expiry.abort();
}
