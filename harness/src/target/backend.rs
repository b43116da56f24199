//! What a scenario talks to, per run: the in-process reference server or
//! requestor, a server over TCP, or a launched requestor; plus the trigger that
//! changes the target's bindings.

use super::profile::{TargetKind, TargetProfile, TriggerConfig};
use super::relay::{RelayAgent, RelayedClient};
use crate::net::clock::Clock;
use crate::net::requestor::{run_active, RequestorRuntime};
use crate::net::server::{RunningServer, ServerRuntime, Shared};
use crate::net::tls::{
    client_config, load_certs, load_key, server_config, server_config_without_client_auth,
    server_name, PemPair, TestPki,
};
use crate::net::transport::{BoxedIo, Dial, Incoming};
use crate::reference::faults::Fault;
use crate::reference::leases::{Client, LeaseStore};
use crate::scenario::model::{Certificate, Need, Role, Scenario};
use crate::session::requestor::{RequestorConfig, RequestorPolicy};
use crate::session::server::{ServerConfig, ServerMode};
use crate::wire::RelayAgentInfo;
use bytes::Bytes;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsConnector;

/// Server clock of the reference target at the start of every scenario, so
/// runs are repeatable.
pub const REFERENCE_EPOCH: u32 = 1_800_000_000;

fn pki() -> Result<&'static TestPki, String> {
    static PKI: OnceLock<Result<TestPki, String>> = OnceLock::new();
    PKI.get_or_init(|| TestPki::generate().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// Client certificates a TLS scenario can present.
struct ClientCerts {
    ca: Vec<CertificateDer<'static>>,
    by_kind: HashMap<&'static str, (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    server_name: ServerName<'static>,
}

impl ClientCerts {
    fn from_pki(p: &TestPki) -> Result<Self, String> {
        let e = |e: crate::net::tls::TlsError| e.to_string();
        let pair = |p: &PemPair| -> Result<_, String> {
            Ok((p.chain().map_err(e)?, p.private_key().map_err(e)?))
        };
        let mut by_kind = HashMap::new();
        by_kind.insert("client", pair(&p.client)?);
        by_kind.insert("other", pair(&p.other_client)?);
        by_kind.insert("untrusted", pair(&p.untrusted_client)?);
        Ok(ClientCerts {
            ca: p.ca.chain().map_err(e)?,
            by_kind,
            server_name: server_name("localhost").map_err(e)?,
        })
    }

    fn from_profile(profile: &TargetProfile) -> Result<Option<Self>, String> {
        let Some(t) = &profile.tls else {
            return Ok(None);
        };
        let e = |e: crate::net::tls::TlsError| e.to_string();
        let mut by_kind = HashMap::new();
        by_kind.insert(
            "client",
            (
                load_certs(&t.client_cert).map_err(e)?,
                load_key(&t.client_key).map_err(e)?,
            ),
        );
        if let (Some(c), Some(k)) = (&t.other_cert, &t.other_key) {
            by_kind.insert(
                "other",
                (load_certs(c).map_err(e)?, load_key(k).map_err(e)?),
            );
        }
        if let (Some(c), Some(k)) = (&t.untrusted_cert, &t.untrusted_key) {
            by_kind.insert(
                "untrusted",
                (load_certs(c).map_err(e)?, load_key(k).map_err(e)?),
            );
        }
        Ok(Some(ClientCerts {
            ca: load_certs(&t.ca).map_err(e)?,
            by_kind,
            server_name: server_name(&t.server_name).map_err(e)?,
        }))
    }

    fn connector(&self, cert: Certificate) -> Result<(TlsConnector, ServerName<'static>), String> {
        let kind = match cert {
            Certificate::Client => "client",
            Certificate::Other => "other",
            Certificate::Untrusted => "untrusted",
            Certificate::None => {
                let mut roots = rustls::RootCertStore::empty();
                for c in &self.ca {
                    roots.add(c.clone()).map_err(|e| e.to_string())?;
                }
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
                return Ok((
                    TlsConnector::from(Arc::new(config)),
                    self.server_name.clone(),
                ));
            }
        };
        let (chain, key) = self
            .by_kind
            .get(kind)
            .ok_or_else(|| format!("the target profile has no '{kind}' certificate"))?;
        let config =
            client_config(&self.ca, chain.clone(), key.clone_key()).map_err(|e| e.to_string())?;
        Ok((TlsConnector::from(config), self.server_name.clone()))
    }
}

enum Kind {
    ReferenceServer {
        server: RunningServer,
        dial: Dial,
    },
    ReferenceRequestor {
        incoming: Incoming,
        stop: watch::Sender<bool>,
    },
    Tcp {
        address: SocketAddr,
    },
    Launched {
        listener: TcpListener,
        child: tokio::process::Child,
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
    clock: Clock,
    clients: HashMap<Ipv4Addr, RelayedClient>,
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
    }
}

impl Backend {
    pub async fn start(profile: &TargetProfile, scenario: &Scenario) -> Result<Backend, String> {
        let needs = |n: Need| scenario.needs.contains(&n);
        match (profile.kind, scenario.role) {
            (TargetKind::Reference, Role::Requestor) => {
                let mode = if needs(Need::Secure) {
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
                    let e = |e: crate::net::tls::TlsError| e.to_string();
                    let chain = p.server.chain().map_err(e)?;
                    let key = p.server.private_key().map_err(e)?;
                    let config = if profile.faults.has(Fault::NoClientCertificateCheck) {
                        server_config_without_client_auth(chain, key).map_err(e)?
                    } else {
                        server_config(
                            chain,
                            key,
                            &p.ca.chain().map_err(e)?,
                            Some(p.client.chain().map_err(e)?),
                        )
                        .map_err(e)?
                    };
                    Some(tokio_rustls::TlsAcceptor::from(config))
                } else {
                    None
                };
                let rt = ServerRuntime {
                    config: Arc::new(ServerConfig {
                        mode,
                        timers: profile.timers,
                        faults: profile.faults.clone(),
                        ..ServerConfig::default()
                    }),
                    shared,
                    tls,
                    max_connections: crate::session::timers::BULK_LQ_MAX_CONNS,
                };
                let (incoming, dial) = Incoming::memory();
                let server = RunningServer::start(incoming, rt);
                Ok(Backend {
                    kind: Kind::ReferenceServer { server, dial },
                    trigger: Trigger::Reference,
                    certs: Some(ClientCerts::from_pki(p)?),
                    clock,
                    clients: HashMap::new(),
                })
            }
            (TargetKind::Reference, Role::Server) => {
                let clock = Clock::starting_at(REFERENCE_EPOCH);
                let config = RequestorConfig {
                    timers: profile.timers,
                    secure: needs(Need::Secure),
                    faults: profile.faults.clone(),
                    ..RequestorConfig::default()
                };
                let (incoming, dial) = Incoming::memory();
                let (reports, mut drain) = mpsc::unbounded_channel();
                tokio::spawn(async move { while drain.recv().await.is_some() {} });
                let rt = RequestorRuntime {
                    server: dial,
                    tls: None,
                    clock,
                    policy: Arc::new(Mutex::new(RequestorPolicy::new(config, 0x1000))),
                    reports,
                };
                let (stop, rx) = watch::channel(false);
                tokio::spawn(run_active(rt, rx));
                Ok(Backend {
                    kind: Kind::ReferenceRequestor { incoming, stop },
                    trigger: Trigger::None,
                    certs: None,
                    clock,
                    clients: HashMap::new(),
                })
            }
            (TargetKind::Tcp, _) => {
                let address = profile.address.ok_or("the profile has no address")?;
                let trigger = match &profile.trigger {
                    Some(TriggerConfig::Relay { dhcp, giaddr, port }) => Trigger::Relay(
                        RelayAgent::bind(
                            SocketAddr::from((*giaddr, *port)),
                            *dhcp,
                            Duration::from_secs(5),
                        )
                        .await
                        .map_err(|e| format!("relay agent on {giaddr}: {e}"))?,
                    ),
                    Some(TriggerConfig::Shell { command }) => Trigger::Shell(command.clone()),
                    None => Trigger::None,
                };
                Ok(Backend {
                    kind: Kind::Tcp { address },
                    trigger,
                    certs: ClientCerts::from_profile(profile)?,
                    clock: Clock::new(),
                    clients: HashMap::new(),
                })
            }
            (TargetKind::Launch, _) => {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| e.to_string())?;
                let addr = listener.local_addr().map_err(|e| e.to_string())?;
                let command = profile.command.clone().unwrap_or_default();
                let fill = |s: &str| {
                    s.replace("{addr}", &addr.to_string())
                        .replace("{host}", &addr.ip().to_string())
                        .replace("{port}", &addr.port().to_string())
                };
                let (program, args) = command
                    .split_first()
                    .ok_or("the profile has an empty command")?;
                let child = tokio::process::Command::new(fill(program))
                    .args(args.iter().map(|a| fill(a)))
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| format!("cannot start {program}: {e}"))?;
                Ok(Backend {
                    kind: Kind::Launched { listener, child },
                    trigger: Trigger::None,
                    certs: ClientCerts::from_profile(profile)?,
                    clock: Clock::new(),
                    clients: HashMap::new(),
                })
            }
        }
    }

    /// Seconds since 1970 on the harness side (the reference server's clock for
    /// the reference target).
    pub fn epoch(&self) -> u32 {
        self.clock.epoch()
    }

    /// Opens a connection to the target server.
    pub async fn connect(&mut self, recv_buffer: Option<usize>) -> Result<BoxedIo, String> {
        match &self.kind {
            Kind::ReferenceServer { dial, .. } => match (dial, recv_buffer) {
                (Dial::Memory(tx), Some(size)) => {
                    let (ours, theirs) = tokio::io::duplex(size.max(1));
                    tx.send(theirs)
                        .map_err(|_| "the reference server stopped".to_string())?;
                    Ok(Box::new(ours))
                }
                _ => dial.connect().await.map_err(|e| e.to_string()),
            },
            Kind::Tcp { address } => {
                let socket = if address.is_ipv4() {
                    TcpSocket::new_v4()
                } else {
                    TcpSocket::new_v6()
                }
                .map_err(|e| e.to_string())?;
                if let Some(size) = recv_buffer {
                    let _ = socket.set_recv_buffer_size(u32::try_from(size).unwrap_or(u32::MAX));
                }
                let stream =
                    tokio::time::timeout(Duration::from_secs(10), socket.connect(*address))
                        .await
                        .map_err(|_| format!("connect to {address} timed out"))?
                        .map_err(|e| format!("connect to {address}: {e}"))?;
                Ok(Box::new(stream))
            }
            _ => Err("connect needs a server target (role = \"requestor\")".into()),
        }
    }

    /// Waits for the target requestor to connect; `None` when it did not by `deadline`.
    pub async fn accept(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Result<Option<BoxedIo>, String> {
        match &mut self.kind {
            Kind::ReferenceRequestor { incoming, .. } => {
                Ok(tokio::time::timeout_at(deadline, incoming.accept())
                    .await
                    .ok()
                    .flatten()
                    .map(|(io, _)| io))
            }
            Kind::Launched { listener, .. } => {
                match tokio::time::timeout_at(deadline, listener.accept()).await {
                    Ok(Ok((stream, _))) => Ok(Some(Box::new(stream))),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Ok(None),
                }
            }
            _ => Err("accept needs a requestor target (role = \"server\")".into()),
        }
    }

    pub fn tls_connector(
        &self,
        cert: Certificate,
    ) -> Result<(TlsConnector, ServerName<'static>), String> {
        self.certs
            .as_ref()
            .ok_or("the target profile has no TLS material")?
            .connector(cert)
    }

    async fn shell(
        &self,
        command: &str,
        action: &str,
        client: &RelayedClient,
        addr: Option<Ipv4Addr>,
    ) -> Result<String, String> {
        let mac = crate::wire::describe::hex(&client.mac, ":");
        let line = command
            .replace("{action}", action)
            .replace("{mac}", &mac)
            .replace("{addr}", &addr.map(|a| a.to_string()).unwrap_or_default());
        let out = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .output()
            .await
            .map_err(|e| format!("trigger command: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "trigger command '{line}' failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Makes the target bind a new lease; returns its address, the client's
    /// hardware address and client identifier.
    pub async fn bind(&mut self) -> Result<(Ipv4Addr, [u8; 6], Vec<u8>), String> {
        let client = fresh_client();
        let addr = match &mut self.trigger {
            Trigger::Reference => match &self.kind {
                Kind::ReferenceServer { server, .. } => server
                    .control
                    .bind(
                        None,
                        Client {
                            htype: 1,
                            chaddr: client.mac.to_vec(),
                            client_id: client.client_id.clone(),
                            relay_info: Some(client.relay_info.clone()),
                        },
                    )
                    .map_err(|e| e.to_string())?,
                _ => return Err("no reference server".into()),
            },
            Trigger::Relay(agent) => agent.dora(&client).await.map_err(|e| e.to_string())?,
            Trigger::Shell(command) => {
                let command = command.clone();
                let out = self.shell(&command, "bind", &client, None).await?;
                out.parse()
                    .map_err(|_| format!("trigger command printed '{out}', not an address"))?
            }
            Trigger::None => return Err("the target profile has no trigger".into()),
        };
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
        Ok(result)
    }

    pub async fn renew(&mut self, addr: Ipv4Addr) -> Result<(), String> {
        self.change(addr, "renew").await
    }

    pub async fn release(&mut self, addr: Ipv4Addr) -> Result<(), String> {
        self.change(addr, "release").await
    }

    /// Renews or releases a lease this scenario bound.
    async fn change(&mut self, addr: Ipv4Addr, action: &'static str) -> Result<(), String> {
        let client = self
            .clients
            .get(&addr)
            .cloned()
            .ok_or(format!("{addr} was not bound by this scenario"))?;
        let renew = action == "renew";
        match &mut self.trigger {
            Trigger::Reference => {
                let result = match &self.kind {
                    Kind::ReferenceServer { server, .. } if renew => {
                        server.control.renew(addr).map_err(|e| e.to_string())
                    }
                    Kind::ReferenceServer { server, .. } => {
                        server.control.release(addr).map_err(|e| e.to_string())
                    }
                    _ => Err("no reference server".into()),
                };
                // Changes reach the server one at a time, as DHCP traffic would.
                tokio::task::yield_now().await;
                result
            }
            Trigger::Relay(agent) if renew => {
                agent.renew(&client, addr).await.map_err(|e| e.to_string())
            }
            Trigger::Relay(agent) => agent
                .release(&client, addr)
                .await
                .map_err(|e| e.to_string()),
            Trigger::Shell(command) => {
                let command = command.clone();
                self.shell(&command, action, &client, Some(addr))
                    .await
                    .map(|_| ())
            }
            Trigger::None => Err("the target profile has no trigger".into()),
        }
    }

    /// Stops what the backend started.
    pub async fn finish(self) {
        match self.kind {
            Kind::ReferenceServer { server, .. } => server.shutdown().await,
            Kind::ReferenceRequestor { stop, .. } => {
                stop.send_replace(true);
            }
            Kind::Launched { mut child, .. } => {
                let _ = child.kill().await;
            }
            Kind::Tcp { .. } => {}
        }
    }
}

/// Checks that a TCP target answers before any scenario runs.
pub async fn preflight(profile: &TargetProfile) -> Result<(), String> {
    if profile.kind != TargetKind::Tcp {
        return Ok(());
    }
    let address = profile.address.ok_or("the profile has no address")?;
    tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(address),
    )
    .await
    .map_err(|_| {
        format!(
            "target {} ({address}) did not accept a TCP connection within 5 s",
            profile.name
        )
    })?
    .map_err(|e| format!("target {} ({address}) is unreachable: {e}", profile.name))?;
    if let Some(TriggerConfig::Relay { dhcp, giaddr, port }) = &profile.trigger {
        let mut agent = RelayAgent::bind(
            SocketAddr::from((*giaddr, *port)),
            *dhcp,
            Duration::from_secs(5),
        )
        .await
        .map_err(|e| format!("relay trigger: cannot bind {giaddr}: {e}"))?;
        agent.offer(&fresh_client()).await.map_err(|e| {
            format!("relay trigger: the DHCP server at {dhcp} does not answer: {e}")
        })?;
    }
    Ok(())
}
