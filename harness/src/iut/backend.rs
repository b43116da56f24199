//! What a scenario talks to, per run: the in-process reference server or
//! requestor, a server over TCP, or a launched requestor; plus the trigger that
//! changes the target's bindings.

use super::arrivals::Arrivals;
use super::profile::{ControlCommands, TargetKind, TargetProfile, Transport, TriggerConfig};
use super::relay::{RelayAgent, RelayError, RelayedClient, Times};
use crate::net::clock::Clock;
use crate::net::requestor::{run_active, RequestorRuntime};
use crate::net::server::{RunningServer, ServerRuntime, Shared};
use crate::net::tls::{
    client_config, client_config_trusting_anyone, load_certs, load_key, server_config,
    server_config_without_client_auth, server_name, PemPair, TestPki, TlsError, Versions,
    ALL_VERSIONS,
};
use crate::net::transport::{BoxedIo, Dial, Incoming, MEMORY_PEER, MEMORY_PIPE_BYTES};
use crate::reference::faults::Fault;
use crate::reference::leases::{Client, LeaseError, LeaseStore};
use crate::reference::requestor::{RequestorConfig, RequestorPolicy, MINIMAL_PRL, REQUESTOR_PRL};
use crate::reference::server::{ServerConfig, ServerMode};
use crate::reference::variants::{Variant, VariantSet};
use crate::scenario::model::{Certificate, Need, Role, Scenario, ServerCertificate};
use crate::wire::RelayAgentInfo;
use bytes::Bytes;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Why the target, or what the harness needs to reach it, is not there: a
/// set-up failure, never a verdict on the implementation.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("the test certificates could not be made: {0}")]
    Pki(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("the target profile has no {0}")]
    NotInProfile(&'static str),
    #[error("the target profile has no '{0}' certificate")]
    NoCertificate(&'static str),
    #[error("{step} needs a {target} target")]
    WrongTarget {
        step: &'static str,
        target: &'static str,
    },
    #[error("{doing}: {error}")]
    Io {
        doing: String,
        error: std::io::Error,
    },
    #[error("{doing}: {error}")]
    Relay { doing: String, error: RelayError },
    /// A DISCOVER went unanswered: most often a pool with no free address.
    #[error(
        "the relay trigger: {error}; the server's pool may have no free address left: \
         this scenario held {held} of the {binds} it binds, and scenarios running beside \
         it hold theirs (`alq-harness list --target PROFILE --jobs N` shows how many a run \
         binds at once; `pool-size` in the profile makes scenarios wait for addresses)"
    )]
    NoOffer {
        error: RelayError,
        held: usize,
        binds: String,
    },
    #[error("{what} command '{line}' {outcome}")]
    Command {
        what: &'static str,
        line: String,
        outcome: String,
    },
    #[error("the reference server: {0}")]
    Lease(#[from] LeaseError),
    #[error("the launched requestor {how} before connecting; its last output:\n{tail}")]
    RequestorExited { how: String, tail: String },
    #[error("the reference server was stopped")]
    ReferenceStopped,
    #[error("{0} was not bound by this scenario")]
    NotBound(Ipv4Addr),
    #[error("a shell trigger cannot send client options")]
    ShellWithOptions,
    #[error("trigger command printed '{0}', not an address")]
    NotAnAddress(String),
    /// The target answered the connection attempt with a reset: behaviour
    /// the scenario's steps judge, not a set-up failure.
    #[error("{address} refused the connection: {error}")]
    Refused {
        address: SocketAddr,
        error: std::io::Error,
    },
    #[error("target {name} ({address}) {why}")]
    Unreachable {
        name: String,
        address: SocketAddr,
        why: String,
    },
}

impl BackendError {
    fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let doing = doing.into();
        move |error| BackendError::Io { doing, error }
    }

    fn relay(doing: impl Into<String>) -> impl FnOnce(RelayError) -> Self {
        let doing = doing.into();
        move |error| BackendError::Relay { doing, error }
    }
}

/// Server clock of the reference target at the start of every scenario, so
/// runs are repeatable.
pub const REFERENCE_EPOCH: u32 = 1_800_000_000;

/// The address the reference server refuses in access-control scenarios.
const REFERENCE_DENIED_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

fn pki() -> Result<&'static TestPki, BackendError> {
    // Made once per process and shared by every scenario; a failure is kept
    // as its text, since each scenario reports it again.
    static PKI: OnceLock<Result<TestPki, String>> = OnceLock::new();
    PKI.get_or_init(|| TestPki::generate().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| BackendError::Pki(e.clone()))
}

/// Client certificates a TLS scenario can present.
struct ClientCerts {
    ca: Vec<CertificateDer<'static>>,
    by_kind: HashMap<&'static str, (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    server_name: ServerName<'static>,
}

impl ClientCerts {
    fn from_pki(p: &TestPki) -> Result<Self, BackendError> {
        let pair = |p: &PemPair| -> Result<_, BackendError> { Ok((p.chain()?, p.private_key()?)) };
        let mut by_kind = HashMap::new();
        by_kind.insert("client", pair(&p.client)?);
        by_kind.insert("other", pair(&p.other_client)?);
        by_kind.insert("untrusted", pair(&p.untrusted_client)?);
        Ok(ClientCerts {
            ca: p.ca.chain()?,
            by_kind,
            server_name: server_name("localhost")?,
        })
    }

    fn from_profile(profile: &TargetProfile) -> Result<Option<Self>, BackendError> {
        let Some(t) = &profile.tls else {
            return Ok(None);
        };
        let mut by_kind = HashMap::new();
        if let (Some(c), Some(k)) = (&t.client_cert, &t.client_key) {
            by_kind.insert("client", (load_certs(c)?, load_key(k)?));
        }
        if let (Some(c), Some(k)) = (&t.other_cert, &t.other_key) {
            by_kind.insert("other", (load_certs(c)?, load_key(k)?));
        }
        if let (Some(c), Some(k)) = (&t.untrusted_cert, &t.untrusted_key) {
            by_kind.insert("untrusted", (load_certs(c)?, load_key(k)?));
        }
        Ok(Some(ClientCerts {
            ca: load_certs(&t.ca)?,
            by_kind,
            server_name: server_name(&t.server_name)?,
        }))
    }

    fn connector(
        &self,
        cert: Certificate,
        key_log: Arc<dyn rustls::KeyLog>,
    ) -> Result<(TlsConnector, ServerName<'static>), BackendError> {
        let kind = match cert {
            Certificate::Client => "client",
            Certificate::Other => "other",
            Certificate::Untrusted => "untrusted",
            Certificate::None => {
                let mut roots = rustls::RootCertStore::empty();
                for c in &self.ca {
                    roots.add(c.clone())?;
                }
                let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
                config.key_log = key_log;
                return Ok((
                    TlsConnector::from(Arc::new(config)),
                    self.server_name.clone(),
                ));
            }
        };
        let (chain, key) = self
            .by_kind
            .get(kind)
            .ok_or(BackendError::NoCertificate(kind))?;
        let mut config =
            (*client_config(&self.ca, chain.clone(), key.clone_key(), ALL_VERSIONS)?).clone();
        config.key_log = key_log;
        Ok((
            TlsConnector::from(Arc::new(config)),
            self.server_name.clone(),
        ))
    }
}

/// The certificates the harness shows a requestor when it plays the server.
struct ServerCerts {
    valid: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    untrusted: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
}

impl ServerCerts {
    fn untrusted(
        p: &TestPki,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), BackendError> {
        Ok((
            p.untrusted_server.chain()?,
            p.untrusted_server.private_key()?,
        ))
    }

    fn from_pki(p: &TestPki) -> Result<Self, BackendError> {
        Ok(ServerCerts {
            valid: (p.server.chain()?, p.server.private_key()?),
            untrusted: Self::untrusted(p)?,
        })
    }

    fn from_profile(profile: &TargetProfile) -> Result<Option<Self>, BackendError> {
        let Some(t) = &profile.tls else {
            return Ok(None);
        };
        let (Some(cert), Some(key)) = (&t.server_cert, &t.server_key) else {
            return Ok(None);
        };
        Ok(Some(ServerCerts {
            valid: (load_certs(cert)?, load_key(key)?),
            untrusted: Self::untrusted(pki()?)?,
        }))
    }

    fn acceptor(
        &self,
        cert: ServerCertificate,
        key_log: Arc<dyn rustls::KeyLog>,
    ) -> Result<Option<TlsAcceptor>, BackendError> {
        let (chain, key) = match cert {
            ServerCertificate::Valid => &self.valid,
            ServerCertificate::Untrusted => &self.untrusted,
            ServerCertificate::Garbage => return Ok(None),
        };
        let mut config =
            (*server_config_without_client_auth(chain.clone(), key.clone_key(), ALL_VERSIONS)?)
                .clone();
        config.key_log = key_log;
        Ok(Some(TlsAcceptor::from(Arc::new(config))))
    }
}

/// The TLS versions a reference target offers.
fn tls_versions(variants: &VariantSet) -> Versions {
    static TLS12: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
    static TLS13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    if variants.has(Variant::Tls12Only) {
        &TLS12
    } else if variants.has(Variant::Tls13Only) {
        &TLS13
    } else {
        ALL_VERSIONS
    }
}

enum Kind {
    ReferenceServer {
        /// `None` once a scenario stopped it.
        server: Option<RunningServer>,
        dial: Dial,
        /// Bytes a connection takes before the server's send blocks, at least.
        send_buffer: usize,
    },
    ReferenceRequestor {
        arrivals: Arrivals,
        stop: watch::Sender<bool>,
    },
    Tcp {
        address: SocketAddr,
        control: Option<ControlCommands>,
        /// A scenario stopped the server; `finish` starts it again.
        stopped: bool,
        denied_source: Option<IpAddr>,
    },
    Launched {
        arrivals: Arrivals,
        child: tokio::process::Child,
        output: super::launched::Output,
    },
}

enum Trigger {
    Reference,
    Relay(RelayAgent),
    Shell(String),
    None,
}

/// The target of one scenario run.
pub struct Backend {
    kind: Kind,
    trigger: Trigger,
    certs: Option<ClientCerts>,
    /// What the harness shows a secure requestor when it plays the server.
    server_certs: Option<ServerCerts>,
    max_connections: usize,
    clock: Clock,
    clients: HashMap<Ipv4Addr, RelayedClient>,
    /// Addresses the scenario bound and has not released or declined, in
    /// the order bound: given back when it ends.
    held: Vec<Ipv4Addr>,
    /// How many the scenario binds in all, where that does not depend on
    /// the target.
    binds: Option<usize>,
    /// The lease each address the scenario bound was last granted, and when
    /// the grant came: what the target may report as left of it.
    grants: HashMap<Ipv4Addr, Grant>,
    /// The secrets of the TLS sessions the harness makes, for the capture.
    key_log: Arc<crate::net::tls::KeyLogLines>,
}

/// The times the target granted through the trigger, and when the harness
/// got the grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub times: Times,
    pub at: tokio::time::Instant,
}

impl Grant {
    /// The most of each granted time the target may report as left to a
    /// query sent at `asked`: it granted them no later than the harness got
    /// them, and counts whole seconds, so at least the whole seconds
    /// between have passed on its clock.
    pub fn left_at(&self, asked: tokio::time::Instant) -> Times {
        let passed = asked.saturating_duration_since(self.at).as_secs();
        let passed = u32::try_from(passed).unwrap_or(u32::MAX);
        let left = |t: u32| t.saturating_sub(passed);
        Times {
            lease: left(self.times.lease),
            t1: self.times.t1.map(left),
            t2: self.times.t2.map(left),
        }
    }
}

/// What the embedded reference grants: its lease time, with T1 and T2 at
/// RFC 2131's defaults, as its DHCP front puts them in a DHCPACK.
fn reference_times(lease: u32) -> Times {
    let (t1, t2) = crate::reference::leases::default_renewal_times(lease);
    Times {
        lease,
        t1: Some(t1),
        t2: Some(t2),
    }
}

static NEXT_MAC: AtomicU32 = AtomicU32::new(1);

fn fresh_mac() -> [u8; 6] {
    let n = NEXT_MAC.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    let pid = (std::process::id() as u16).to_be_bytes();
    [0x02, pid[0], pid[1], n[1], n[2], n[3]]
}

fn fresh_client() -> RelayedClient {
    let mac = fresh_mac();
    RelayedClient {
        mac,
        client_id: Some(Bytes::from([&[1u8][..], &mac[..]].concat())),
        relay_info: RelayAgentInfo::default()
            .with(1, Bytes::from(format!("port-{}", mac[5])))
            .with(2, &b"alq-remote"[..])
            .with(12, &b"alq-relay"[..]),
        options: Vec::new(),
    }
}

impl Backend {
    /// The runtime a scenario against `profile` runs on. The embedded
    /// reference runs on tokio's paused clock, which needs a single thread,
    /// so its 60, 120 and 300 s timers take no real time; any other target
    /// runs in real time, with a second worker that reads connections while
    /// the scenario judges what they read. Steps and connections behave the
    /// same on both.
    pub fn runtime(profile: &TargetProfile) -> std::io::Result<tokio::runtime::Runtime> {
        let mut builder = if profile.kind == TargetKind::Reference {
            let mut paused = tokio::runtime::Builder::new_current_thread();
            paused.start_paused(true);
            paused
        } else {
            let mut workers = tokio::runtime::Builder::new_multi_thread();
            workers.worker_threads(1);
            workers
        };
        builder.enable_all().build()
    }

    pub async fn start(
        profile: &TargetProfile,
        scenario: &Scenario,
    ) -> Result<Backend, BackendError> {
        let needs = |n: Need| scenario.needs.contains(&n);
        match (profile.kind, scenario.role) {
            (TargetKind::Reference, Role::Requestor) => {
                let mode = if needs(Need::Secure) || profile.transport() == Transport::Tls {
                    ServerMode::Secure
                } else if needs(Need::BulkOnly) {
                    ServerMode::BulkOnly
                } else {
                    ServerMode::Insecure
                };
                let clock = Clock::starting_at(REFERENCE_EPOCH);
                let pool = (10..=50).map(|i| Ipv4Addr::new(192, 0, 2, i));
                let history = scenario.reference.history.unwrap_or(4096);
                let shared =
                    Shared::new(LeaseStore::new(pool, history, 3600, REFERENCE_EPOCH), clock);
                let p = pki()?;
                let tls = if mode == ServerMode::Secure {
                    let chain = p.server.chain()?;
                    let key = p.server.private_key()?;
                    let versions = tls_versions(&profile.variants);
                    let config = if profile.faults.has(Fault::NoClientCertificateCheck) {
                        server_config_without_client_auth(chain, key, versions)?
                    } else {
                        let allowed = Some(p.client.chain()?);
                        server_config(chain, key, &p.ca.chain()?, allowed, versions)?
                    };
                    Some(tokio_rustls::TlsAcceptor::from(config))
                } else {
                    None
                };
                let suppress = if needs(Need::WithholdsRelayAgentInfo) {
                    vec![crate::wire::options::code::RELAY_AGENT_INFO]
                } else {
                    Vec::new()
                };
                let rt = ServerRuntime {
                    config: Arc::new(ServerConfig {
                        mode,
                        timers: profile.timers,
                        suppress,
                        allowed_requestors: needs(Need::DeniedSource)
                            .then(|| vec![MEMORY_PEER.ip()]),
                        faults: profile.faults.clone(),
                        variants: profile.variants.clone(),
                        ..ServerConfig::default()
                    }),
                    shared,
                    tls,
                    max_connections: profile.max_connections,
                    per_requestor: needs(Need::PerRequestorLimitOne).then_some(1),
                };
                let (incoming, dial) = Incoming::memory();
                let server = Some(RunningServer::start(incoming, rt));
                Ok(Backend {
                    kind: Kind::ReferenceServer {
                        server,
                        dial,
                        send_buffer: if profile.variants.has(Variant::LargeSocketBuffers) {
                            usize::try_from(crate::reference::variants::LARGE_SOCKET_BUFFER)
                                .unwrap_or(usize::MAX)
                        } else {
                            0
                        },
                    },
                    trigger: Trigger::Reference,
                    certs: Some(ClientCerts::from_pki(p)?),
                    server_certs: None,
                    max_connections: profile.max_connections,
                    clock,
                    clients: HashMap::new(),
                    held: Vec::new(),
                    binds: scenario.addresses_bound(),
                    grants: HashMap::new(),
                    key_log: Default::default(),
                })
            }
            (TargetKind::Reference, Role::Server) => {
                let clock = Clock::starting_at(REFERENCE_EPOCH);
                let config = RequestorConfig {
                    timers: profile.timers,
                    secure: needs(Need::Secure) || profile.transport() == Transport::Tls,
                    faults: profile.faults.clone(),
                    variants: profile.variants.clone(),
                    prl: if profile.variants.has(Variant::MinimalPrl) {
                        MINIMAL_PRL.to_vec()
                    } else {
                        REQUESTOR_PRL.to_vec()
                    },
                };
                let p = pki()?;
                let tls = if config.secure {
                    let chain = p.client.chain()?;
                    let key = p.client.private_key()?;
                    let versions = tls_versions(&profile.variants);
                    let tls = if config.faults.has(Fault::AcceptsAnyServerCertificate) {
                        client_config_trusting_anyone(chain, key, versions)?
                    } else {
                        client_config(&p.ca.chain()?, chain, key, versions)?
                    };
                    Some((TlsConnector::from(tls), server_name("localhost")?))
                } else {
                    None
                };
                let (incoming, dial) = Incoming::memory();
                let (reports, mut drain) = mpsc::unbounded_channel();
                tokio::spawn(async move { while drain.recv().await.is_some() {} });
                let rt = RequestorRuntime {
                    server: dial,
                    tls,
                    clock,
                    policy: Arc::new(Mutex::new(RequestorPolicy::new(config, 0x1000))),
                    reports,
                };
                let (stop, rx) = watch::channel(false);
                tokio::spawn(run_active(rt, rx));
                Ok(Backend {
                    kind: Kind::ReferenceRequestor {
                        arrivals: Arrivals::start(incoming),
                        stop,
                    },
                    trigger: Trigger::None,
                    certs: None,
                    server_certs: Some(ServerCerts::from_pki(p)?),
                    max_connections: profile.max_connections,
                    clock,
                    clients: HashMap::new(),
                    held: Vec::new(),
                    binds: scenario.addresses_bound(),
                    grants: HashMap::new(),
                    key_log: Default::default(),
                })
            }
            (TargetKind::Tcp, _) => {
                let address = profile
                    .address
                    .ok_or(BackendError::NotInProfile("address"))?;
                let trigger = match &profile.trigger {
                    Some(TriggerConfig::Relay { dhcp, giaddr, port }) => Trigger::Relay(
                        RelayAgent::new(
                            SocketAddr::from((*giaddr, *port)),
                            *dhcp,
                            Duration::from_secs(5),
                        )
                        .map_err(BackendError::relay(format!("relay agent on {giaddr}")))?,
                    ),
                    Some(TriggerConfig::Shell { command }) => Trigger::Shell(command.clone()),
                    None => Trigger::None,
                };
                Ok(Backend {
                    kind: Kind::Tcp {
                        address,
                        control: profile.control.clone(),
                        stopped: false,
                        denied_source: profile.denied_source,
                    },
                    trigger,
                    certs: ClientCerts::from_profile(profile)?,
                    server_certs: None,
                    max_connections: profile.max_connections,
                    clock: Clock::new(),
                    clients: HashMap::new(),
                    held: Vec::new(),
                    binds: scenario.addresses_bound(),
                    grants: HashMap::new(),
                    key_log: Default::default(),
                })
            }
            (TargetKind::Launch, _) => {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(BackendError::io("listening for the launched requestor"))?;
                let addr = listener
                    .local_addr()
                    .map_err(BackendError::io("listening for the launched requestor"))?;
                let command = profile.command.clone().unwrap_or_default();
                let fill = |s: &str| {
                    s.replace("{addr}", &addr.to_string())
                        .replace("{host}", &addr.ip().to_string())
                        .replace("{port}", &addr.port().to_string())
                };
                let (program, args) = command
                    .split_first()
                    .ok_or(BackendError::NotInProfile("command to launch"))?;
                let mut child = tokio::process::Command::new(fill(program))
                    .args(args.iter().map(|a| fill(a)))
                    // A group of its own: Ctrl-C at the terminal reaches the
                    // harness, which ends the scenario in flight as
                    // interrupted and then stops the requestor itself.
                    .process_group(0)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(BackendError::io(format!("cannot start {program}")))?;
                let output = super::launched::Output::default();
                if let Some(out) = child.stdout.take() {
                    output.collect(out);
                }
                if let Some(err) = child.stderr.take() {
                    output.collect(err);
                }
                Ok(Backend {
                    kind: Kind::Launched {
                        arrivals: Arrivals::start(Incoming::Tcp(listener)),
                        child,
                        output,
                    },
                    trigger: Trigger::None,
                    certs: ClientCerts::from_profile(profile)?,
                    server_certs: ServerCerts::from_profile(profile)?,
                    max_connections: profile.max_connections,
                    clock: Clock::new(),
                    clients: HashMap::new(),
                    held: Vec::new(),
                    binds: scenario.addresses_bound(),
                    grants: HashMap::new(),
                    key_log: Default::default(),
                })
            }
        }
    }

    /// Seconds since 1970 on the harness side (the reference server's clock for
    /// the reference target).
    pub fn epoch(&self) -> u32 {
        self.clock.epoch()
    }

    /// The clock [`Backend::epoch`] reads.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Opens a connection to the target server.
    pub async fn connect(
        &mut self,
        recv_buffer: Option<usize>,
        reset_on_close: bool,
        from_denied: bool,
    ) -> Result<BoxedIo, BackendError> {
        match &self.kind {
            Kind::ReferenceServer {
                dial, send_buffer, ..
            } => {
                let from = if from_denied {
                    SocketAddr::from((REFERENCE_DENIED_SOURCE, 0))
                } else {
                    MEMORY_PEER
                };
                let buffer = recv_buffer.unwrap_or(MEMORY_PIPE_BYTES).max(*send_buffer);
                dial.connect_memory(buffer, from)
                    .map_err(BackendError::io("connecting to the reference server"))
            }
            Kind::Tcp {
                address,
                denied_source,
                ..
            } => {
                let socket = if address.is_ipv4() {
                    TcpSocket::new_v4()
                } else {
                    TcpSocket::new_v6()
                }
                .map_err(BackendError::io("a socket"))?;
                if from_denied {
                    let source =
                        denied_source.ok_or(BackendError::NotInProfile("denied-source"))?;
                    socket
                        .bind(SocketAddr::new(source, 0))
                        .map_err(BackendError::io(format!(
                            "cannot bind the denied source {source}"
                        )))?;
                }
                if let Some(size) = recv_buffer {
                    let _ = socket.set_recv_buffer_size(u32::try_from(size).unwrap_or(u32::MAX));
                }
                let stream =
                    tokio::time::timeout(Duration::from_secs(10), socket.connect(*address))
                        .await
                        .map_err(|_| BackendError::Io {
                            doing: format!("connect to {address}"),
                            error: std::io::ErrorKind::TimedOut.into(),
                        })?
                        .map_err(|error| match error.kind() {
                            std::io::ErrorKind::ConnectionRefused
                            | std::io::ErrorKind::ConnectionReset => BackendError::Refused {
                                address: *address,
                                error,
                            },
                            _ => BackendError::Io {
                                doing: format!("connect to {address}"),
                                error,
                            },
                        })?;
                if reset_on_close {
                    stream.set_zero_linger().map_err(BackendError::io(format!(
                        "SO_LINGER on a connection to {address}"
                    )))?;
                }
                Ok(Box::new(stream))
            }
            _ => Err(BackendError::WrongTarget {
                step: "connect",
                target: "server (role = \"requestor\")",
            }),
        }
    }

    /// The target requestor's next connection and when it was accepted;
    /// `None` when none came by `deadline`.
    pub async fn accept(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Result<Option<(BoxedIo, tokio::time::Instant)>, BackendError> {
        match &mut self.kind {
            Kind::ReferenceRequestor { arrivals, .. } => Ok(arrivals.next(deadline).await),
            Kind::Launched {
                arrivals,
                child,
                output,
            } => {
                // A requestor that exited cannot connect: waiting for it
                // would blame the requirement for a set-up failure.
                let exited = async {
                    match child.wait().await {
                        Ok(status) => super::launched::exit_text(status),
                        Err(e) => format!("cannot be waited for: {e}"),
                    }
                };
                tokio::select! {
                    accepted = arrivals.next(deadline) => Ok(accepted),
                    how = exited => {
                        // What it wrote last may still be in the pipes.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Err(BackendError::RequestorExited {
                            how,
                            tail: output.tail(),
                        })
                    }
                }
            }
            _ => Err(BackendError::WrongTarget {
                step: "accept",
                target: "requestor (role = \"server\")",
            }),
        }
    }

    pub fn tls_connector(
        &self,
        cert: Certificate,
    ) -> Result<(TlsConnector, ServerName<'static>), BackendError> {
        self.certs
            .as_ref()
            .ok_or(BackendError::NotInProfile("[tls] material"))?
            .connector(cert, self.key_log.clone())
    }

    async fn shell(
        &self,
        command: &str,
        action: &str,
        client: &RelayedClient,
        addr: Option<Ipv4Addr>,
    ) -> Result<String, BackendError> {
        run_command(&shell_line(command, action, client, addr), "trigger").await
    }

    /// Makes the target bind a new lease; returns its address, the client's
    /// hardware address and client identifier.
    pub async fn bind(
        &mut self,
        options: &[(u8, Bytes)],
    ) -> Result<(Ipv4Addr, [u8; 6], Vec<u8>), BackendError> {
        let client = RelayedClient {
            options: options.to_vec(),
            ..fresh_client()
        };
        let (addr, lease) = match &mut self.trigger {
            Trigger::Reference => {
                let control = &self.reference()?.control;
                let addr = control.bind(
                    None,
                    Client {
                        htype: 1,
                        chaddr: client.mac.to_vec(),
                        client_id: client.client_id.clone(),
                        relay_info: Some(client.relay_info.clone()),
                        options: client.options.clone(),
                    },
                )?;
                (addr, Some(reference_times(control.lease_time())))
            }
            Trigger::Relay(agent) => {
                let bound = agent.dora(&client).await.map_err(|error| match error {
                    RelayError::NoReply {
                        expected: "DHCPOFFER",
                        ..
                    } => BackendError::NoOffer {
                        error,
                        held: self.held.len(),
                        binds: self
                            .binds
                            .map_or("number depending on the target".into(), |n| n.to_string()),
                    },
                    error => BackendError::relay("the relay trigger")(error),
                })?;
                (bound.addr, bound.grant)
            }
            Trigger::Shell(_) if !options.is_empty() => return Err(BackendError::ShellWithOptions),
            Trigger::Shell(command) => {
                let command = command.clone();
                let out = self.shell(&command, "bind", &client, None).await?;
                let addr = out
                    .parse()
                    .map_err(|_| BackendError::NotAnAddress(printable(&out)))?;
                (addr, None)
            }
            Trigger::None => return Err(BackendError::NotInProfile("trigger")),
        };
        self.granted(addr, lease);
        if matches!(self.trigger, Trigger::Reference) {
            // Changes reach the server one at a time, as DHCP traffic would.
            tokio::task::yield_now().await;
        }
        let result = (
            addr,
            client.mac,
            client.client_id.as_deref().unwrap_or_default().to_vec(),
        );
        self.clients.insert(addr, client);
        self.held.push(addr);
        Ok(result)
    }

    pub async fn renew(&mut self, addr: Ipv4Addr) -> Result<(), BackendError> {
        self.change(addr, Change::Renew).await
    }

    pub async fn release(&mut self, addr: Ipv4Addr) -> Result<(), BackendError> {
        self.change(addr, Change::Release).await
    }

    pub async fn decline(&mut self, addr: Ipv4Addr) -> Result<(), BackendError> {
        self.change(addr, Change::Decline).await
    }

    /// The running reference server.
    fn reference(&self) -> Result<&RunningServer, BackendError> {
        match &self.kind {
            Kind::ReferenceServer {
                server: Some(server),
                ..
            } => Ok(server),
            Kind::ReferenceServer { server: None, .. } => Err(BackendError::ReferenceStopped),
            _ => Err(BackendError::WrongTarget {
                step: "a reference trigger",
                target: "reference server",
            }),
        }
    }

    /// Changes a lease this scenario bound, as its client would.
    async fn change(&mut self, addr: Ipv4Addr, change: Change) -> Result<(), BackendError> {
        let client = self
            .clients
            .get(&addr)
            .cloned()
            .ok_or(BackendError::NotBound(addr))?;
        let lease = match &mut self.trigger {
            Trigger::Reference => {
                let control = &self.reference()?.control;
                let result = match change {
                    Change::Renew => control.renew(addr),
                    Change::Release => control.release(addr),
                    Change::Decline => control.abandon(addr),
                };
                // Changes reach the server one at a time, as DHCP traffic would.
                tokio::task::yield_now().await;
                result?;
                Some(reference_times(control.lease_time()))
            }
            Trigger::Relay(agent) => match change {
                Change::Renew => agent.renew(&client, addr).await,
                Change::Release => agent.release(&client, addr, None).await.map(|()| None),
                Change::Decline => agent.decline(&client, addr, None).await.map(|()| None),
            }
            .map_err(BackendError::relay("the relay trigger"))?,
            Trigger::Shell(command) => {
                let command = command.clone();
                self.shell(&command, change.action(), &client, Some(addr))
                    .await?;
                None
            }
            Trigger::None => return Err(BackendError::NotInProfile("trigger")),
        };
        match change {
            Change::Renew => self.granted(addr, lease),
            Change::Release | Change::Decline => {
                self.grants.remove(&addr);
                self.held.retain(|held| *held != addr);
            }
        }
        Ok(())
    }

    /// Releases every lease the scenario bound through a relay or shell
    /// trigger and still holds, as its clients would on leaving, so a
    /// long-lived server's pool is as the scenario found it (an address
    /// it declined stays with the server, which decides when to lease it
    /// again: RFC 2131 §4.3.3). Returns how many it released, and the
    /// first failure.
    pub async fn give_back(&mut self) -> (usize, Option<BackendError>) {
        if !matches!(self.trigger, Trigger::Relay(_) | Trigger::Shell(_)) {
            return (0, None);
        }
        let (mut released, mut failed) = (0, None);
        for addr in std::mem::take(&mut self.held) {
            match self.change(addr, Change::Release).await {
                Ok(()) => released += 1,
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        (released, failed)
    }

    /// Keeps `times`, granted now to `addr`; unknown ones forget any
    /// earlier grant.
    fn granted(&mut self, addr: Ipv4Addr, times: Option<Times>) {
        match times {
            Some(times) => {
                let at = tokio::time::Instant::now();
                self.grants.insert(addr, Grant { times, at });
            }
            None => {
                self.grants.remove(&addr);
            }
        }
    }

    /// The lease last granted to `addr` through the trigger.
    pub fn grant(&self, addr: Ipv4Addr) -> Option<Grant> {
        self.grants.get(&addr).copied()
    }

    /// The connection limit the target runs with.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Stops the target server gracefully.
    pub async fn stop(&mut self) -> Result<(), BackendError> {
        match &mut self.kind {
            Kind::ReferenceServer { server, .. } => match server.take() {
                Some(s) => {
                    s.shutdown().await;
                    Ok(())
                }
                None => Err(BackendError::ReferenceStopped),
            },
            Kind::Tcp {
                control, stopped, ..
            } => {
                let command = control
                    .as_ref()
                    .and_then(|c| c.stop.clone())
                    .ok_or(BackendError::NotInProfile("[control] stop command"))?;
                *stopped = true;
                run_command(&command, "stop").await.map(|_| ())
            }
            _ => Err(BackendError::WrongTarget {
                step: "stop-target",
                target: "server",
            }),
        }
    }

    /// An administrative action that aborts the server's queries.
    pub async fn reload(&mut self) -> Result<(), BackendError> {
        match &self.kind {
            Kind::ReferenceServer { .. } => {
                self.reference()?.reload();
                tokio::task::yield_now().await;
                Ok(())
            }
            Kind::Tcp { control, .. } => {
                let command = control
                    .as_ref()
                    .and_then(|c| c.reload.clone())
                    .ok_or(BackendError::NotInProfile("[control] reload command"))?;
                run_command(&command, "reload").await.map(|_| ())
            }
            _ => Err(BackendError::WrongTarget {
                step: "a reload",
                target: "server",
            }),
        }
    }

    /// The secrets of every TLS session the harness made so far, as NSS key
    /// log lines.
    pub fn tls_secrets(&self) -> Vec<String> {
        self.key_log.lines()
    }

    /// What the harness shows a secure requestor; `None` for garbage.
    pub fn tls_acceptor(
        &self,
        cert: ServerCertificate,
    ) -> Result<Option<TlsAcceptor>, BackendError> {
        self.server_certs
            .as_ref()
            .ok_or(BackendError::NotInProfile(
                "[tls] server-cert and server-key",
            ))?
            .acceptor(cert, self.key_log.clone())
    }

    /// Stops what the backend started (a launched requestor gets `grace` to
    /// exit after SIGTERM); returns what a launched requestor wrote, for the
    /// report.
    pub async fn finish(self, grace: Duration) -> Option<String> {
        match self.kind {
            Kind::ReferenceServer { server, .. } => {
                if let Some(server) = server {
                    server.shutdown().await;
                }
            }
            Kind::ReferenceRequestor { stop, .. } => {
                stop.send_replace(true);
            }
            Kind::Launched {
                mut child, output, ..
            } => {
                super::launched::stop(&mut child, grace).await;
                let how = match child.try_wait() {
                    Ok(Some(status)) => super::launched::exit_text(status),
                    _ => "did not stop".to_string(),
                };
                return Some(format!("{}\n[the requestor {how}]\n", output.text()));
            }
            Kind::Tcp {
                address,
                control: Some(control),
                stopped: true,
                ..
            } => {
                if let Some(start) = &control.start {
                    if let Err(e) = run_command(start, "start").await {
                        tracing::warn!("{e}");
                    }
                    wait_until_listening(address).await;
                }
            }
            Kind::Tcp { .. } => {}
        }
        None
    }
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Renew,
    Release,
    Decline,
}

impl Change {
    /// The `{action}` of a shell trigger.
    fn action(self) -> &'static str {
        match self {
            Change::Renew => "renew",
            Change::Release => "release",
            Change::Decline => "decline",
        }
    }
}

/// A shell trigger's `command` with its placeholders filled in.
fn shell_line(
    command: &str,
    action: &str,
    client: &RelayedClient,
    addr: Option<Ipv4Addr>,
) -> String {
    let mac = crate::wire::describe::hex(&client.mac, ":");
    command
        .replace("{action}", action)
        .replace("{mac}", &mac)
        .replace("{addr}", &addr.map(|a| a.to_string()).unwrap_or_default())
}

/// Runs a profile's control command through `sh -c`.
async fn run_command(line: &str, what: &'static str) -> Result<String, BackendError> {
    let failed = |outcome: String| BackendError::Command {
        what,
        line: line.to_string(),
        outcome,
    };
    let run = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(line)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(COMMAND_TIME, run)
        .await
        .map_err(|_| {
            failed(format!(
                "did not finish within {} s",
                COMMAND_TIME.as_secs()
            ))
        })?
        .map_err(|e| failed(format!("did not run: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(failed(format!(
            "{}: {}",
            super::launched::exit_text(out.status),
            printable(stderr.trim())
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `text` from a command of the target's, with control characters (escape
/// sequences, line breaks) shown escaped: it goes to a terminal and into
/// one-line errors.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// How long a trigger or control command may take: one that hangs would
/// hold its scenario forever.
const COMMAND_TIME: Duration = Duration::from_secs(60);

/// Waits up to 30 s for a restarted server to accept TCP again.
async fn wait_until_listening(address: SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tracing::warn!(%address, "the target did not listen again within 30 s of its start command");
}

/// Checks that a TCP target answers before any scenario runs.
pub async fn preflight(profile: &TargetProfile) -> Result<(), BackendError> {
    if profile.kind != TargetKind::Tcp {
        return Ok(());
    }
    let address = profile
        .address
        .ok_or(BackendError::NotInProfile("address"))?;
    let unreachable = |why: String| BackendError::Unreachable {
        name: profile.name.clone(),
        address,
        why,
    };
    let reached = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(address),
    )
    .await
    .map_err(|_| unreachable("did not accept a TCP connection within 5 s".into()))?
    .map_err(|e| unreachable(format!("is unreachable: {e}")))?;
    // Nothing was said on it, so there is no conversation to end with FIN;
    // a reset frees the target's slot at once, even on a target that keeps
    // connections their peer closed (a defect ALQ-S-38 judges, once).
    let _ = reached.set_zero_linger();
    // The trigger binds one lease and releases it, as every scenario does.
    match &profile.trigger {
        Some(TriggerConfig::Relay { dhcp, giaddr, port }) => {
            let agent = RelayAgent::new(
                SocketAddr::from((*giaddr, *port)),
                *dhcp,
                Duration::from_secs(5),
            )
            .map_err(BackendError::relay(format!("relay trigger on {giaddr}")))?;
            let client = fresh_client();
            let bound = agent
                .dora(&client)
                .await
                .map_err(BackendError::relay(format!(
                    "relay trigger: binding a lease through the DHCP server at {dhcp}"
                )))?;
            agent
                .release(&client, bound.addr, None)
                .await
                .map_err(BackendError::relay(format!(
                    "relay trigger: releasing {} at the DHCP server at {dhcp}",
                    bound.addr
                )))?;
        }
        Some(TriggerConfig::Shell { command }) => {
            let client = fresh_client();
            let out = run_command(&shell_line(command, "bind", &client, None), "trigger").await?;
            let addr: Ipv4Addr = out
                .parse()
                .map_err(|_| BackendError::NotAnAddress(printable(&out)))?;
            let release = shell_line(command, "release", &client, Some(addr));
            run_command(&release, "trigger").await?;
        }
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn what_is_left_of_a_grant_loses_only_whole_seconds_passed() {
        let at = tokio::time::Instant::now();
        let grant = Grant {
            times: Times {
                lease: 600,
                t1: Some(300),
                t2: None,
            },
            at,
        };
        let after = |ms: u64| grant.left_at(at + Duration::from_millis(ms)).lease;
        assert_eq!(after(0), 600);
        assert_eq!(after(999), 600);
        assert_eq!(after(2_500), 598);
        assert_eq!(after(10_000_000), 0);
        // A query sent before the grant came: all of it may be left.
        let before = at.checked_sub(Duration::from_secs(5)).unwrap_or(at);
        assert_eq!(grant.left_at(before).lease, 600);
        let later = grant.left_at(at + Duration::from_millis(2_500));
        assert_eq!((later.t1, later.t2), (Some(298), None));
    }
}
