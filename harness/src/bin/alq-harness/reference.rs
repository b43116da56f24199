//! The reference server, requestor, relay agent and test certificates.

use alq_harness::net::clock::Clock;
use alq_harness::net::requestor::{initial_sync, run_active, Report, RequestorRuntime};
use alq_harness::net::server::{RunningServer, ServerRuntime, Shared};
use alq_harness::net::tls::{
    client_config, load_certs, load_key, server_config, server_name, TestPki,
};
use alq_harness::net::transport::{Dial, Incoming};
use alq_harness::reference::config::ServeConfig;
use alq_harness::reference::dhcp_front;
use alq_harness::reference::requestor::{
    RequestorCloseReason, RequestorConfig, RequestorEvent, RequestorPolicy,
};
use alq_harness::reference::server::ServerMode;
use anyhow::{Context, Result};
use serde_json::json;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch};

#[derive(clap::Args)]
pub(crate) struct RelayArgs {
    /// What to do: dora, renew, release or decline.
    #[arg(value_parser = ["dora", "renew", "release", "decline"])]
    action: String,
    /// The DHCP server's UDP address.
    #[arg(long)]
    dhcp: SocketAddr,
    /// The relay agent's address (giaddr), a local address.
    #[arg(long, default_value = "127.0.0.2")]
    giaddr: std::net::Ipv4Addr,
    /// UDP port the relay agent listens on (67 for servers that answer relays
    /// there); 0 picks any.
    #[arg(long, default_value_t = 0)]
    relay_port: u16,
    /// Client hardware address (htype 1): six octets in colon-separated
    /// hex, `02:00:00:00:00:01`.
    #[arg(long)]
    mac: String,
    /// The client's address (renew, release, decline).
    #[arg(long)]
    addr: Option<std::net::Ipv4Addr>,
    /// The server identifier (option 54) a release or decline names; the
    /// --dhcp address when absent.
    #[arg(long)]
    server_id: Option<std::net::Ipv4Addr>,
    /// Client identifier (option 61): its whole value in colon-separated
    /// hex, type octet first, `01:02:00:00:00:00:01`.
    #[arg(long)]
    client_id: Option<String>,
    /// Option 82 sub-option 1 (circuit-id), as text: the sub-option holds
    /// its UTF-8 octets. Without any of the three, no option 82 is sent.
    #[arg(long)]
    circuit_id: Option<String>,
    /// Option 82 sub-option 2 (remote-id), as text: the sub-option holds
    /// its UTF-8 octets.
    #[arg(long)]
    remote_id: Option<String>,
    /// Option 82 sub-option 12 (relay-id, RFC 6925), as text: the
    /// sub-option holds its UTF-8 octets.
    #[arg(long)]
    relay_id: Option<String>,
}

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// A TOML file with a [server] table; flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Leasequery TCP address.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// UDP address of the DHCP front.
    #[arg(long)]
    dhcp: Option<SocketAddr>,
    /// bulk-only, insecure or secure.
    #[arg(long, value_parser = parse_mode)]
    mode: Option<ServerMode>,
    /// Configured addresses, "first-last" (repeatable).
    #[arg(long)]
    pool: Vec<String>,
    /// Change history size for catch-up.
    #[arg(long)]
    history: Option<usize>,
    /// A lease file ([[lease]] tables) to bind at start.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Divide every protocol timer by this factor (for tests).
    #[arg(long)]
    timer_scale: Option<u32>,
    /// Connections served at once (the rest are closed at once).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Run with this deliberate server defect (a name `alq-harness faults`
    /// lists), to see how the harness reports a long-lived defective server.
    #[arg(long)]
    fault: Option<String>,
}

#[derive(clap::Args)]
pub(crate) struct WatchArgs {
    /// The server's leasequery TCP address.
    #[arg(long)]
    server: SocketAddr,
    /// Open connections with DHCPTLS and mutual TLS using ca.pem, client.pem and
    /// client.key from this directory (as written by `alq-harness certs`).
    #[arg(long)]
    tls_dir: Option<PathBuf>,
    /// Name to check in the server certificate.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Skip the initial bulk query for all configured addresses.
    #[arg(long)]
    no_sync: bool,
    /// Divide every protocol timer by this factor (for tests).
    #[arg(long)]
    timer_scale: Option<u32>,
}

fn parse_mode(text: &str) -> Result<ServerMode, String> {
    match text {
        "bulk-only" => Ok(ServerMode::BulkOnly),
        "insecure" => Ok(ServerMode::Insecure),
        "secure" => Ok(ServerMode::Secure),
        other => Err(format!(
            "'{other}' is not one of bulk-only, insecure, secure"
        )),
    }
}

/// Logs to stderr at the levels RUST_LOG names (`info`, `alq_harness=debug`,
/// ...), errors only without it. `Targets` reads the plain
/// `target=level` lists, which is all the reference roles need, without the
/// regular-expression engine a full `EnvFilter` builds in.
fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let targets = match std::env::var("RUST_LOG") {
        Ok(text) => text.parse::<Targets>().unwrap_or_else(|error| {
            eprintln!(
                "RUST_LOG '{text}' is not a list of target=level: {error}; logging errors only"
            );
            Targets::new().with_default(LevelFilter::ERROR)
        }),
        Err(_) => Targets::new().with_default(LevelFilter::ERROR),
    };
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(targets)
        .try_init();
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

pub(crate) async fn serve(args: ServeArgs) -> Result<()> {
    init_logging();
    let mut cfg = match &args.config {
        Some(path) => ServeConfig::load(path)?,
        None => ServeConfig::default(),
    };
    if let Some(listen) = args.listen {
        cfg.listen = listen;
    }
    if let Some(dhcp) = args.dhcp {
        cfg.dhcp = Some(dhcp);
    }
    if let Some(mode) = args.mode {
        cfg.mode = mode;
    }
    if !args.pool.is_empty() {
        cfg.pool = args.pool.clone();
    }
    if let Some(history) = args.history {
        cfg.history = history;
    }
    if let Some(seed) = args.seed {
        cfg.seed = Some(seed);
    }
    if let Some(scale) = args.timer_scale {
        cfg.timers = cfg.timers.scaled_down(scale);
    }
    if let Some(max) = args.max_connections {
        cfg.max_connections = max;
    }
    let mut session_config = cfg.server_config()?;
    if let Some(name) = &args.fault {
        use alq_harness::reference::faults::{Fault, FaultSet, Side};
        let fault = Fault::from_name(name)
            .filter(|f| f.side() == Side::Server)
            .ok_or_else(|| {
                anyhow::anyhow!("'{name}' is not a server fault (alq-harness faults lists them)")
            })?;
        session_config.faults = FaultSet::one(fault);
    }
    let clock = Clock::new();
    let shared = Shared::new(cfg.store(clock.epoch())?, clock);
    let tls = match &cfg.tls {
        Some(files) => {
            let allowed = match &files.allowed_clients {
                Some(paths) => {
                    let mut all = Vec::new();
                    for p in paths {
                        all.extend(load_certs(p)?);
                    }
                    Some(all)
                }
                None => None,
            };
            let config = server_config(
                load_certs(&files.cert)?,
                load_key(&files.key)?,
                &load_certs(&files.client_ca)?,
                allowed,
                alq_harness::net::tls::ALL_VERSIONS,
            )?;
            Some(tokio_rustls::TlsAcceptor::from(config))
        }
        None => None,
    };
    let listener = listen(cfg.listen, cfg.send_buffer)
        .with_context(|| format!("cannot listen on TCP {}", cfg.listen))?;
    let udp = match cfg.dhcp {
        Some(addr) => Some(
            tokio::net::UdpSocket::bind(addr)
                .await
                .with_context(|| format!("cannot listen on UDP {addr}"))?,
        ),
        None => None,
    };
    let tcp_addr = listener.local_addr()?;
    let udp_addr = udp.as_ref().and_then(|s| s.local_addr().ok());
    let rt = ServerRuntime {
        config: Arc::new(session_config),
        shared: shared.clone(),
        tls,
        max_connections: cfg.max_connections,
        per_requestor: cfg.per_requestor_connections,
    };
    let server = RunningServer::start(Incoming::Tcp(listener), rt);
    let front = udp.map(|socket| {
        tokio::spawn(alq_harness::net::udp::serve_dhcp(
            socket,
            shared.clone(),
            cfg.server_id,
            if cfg.reserve_offers {
                dhcp_front::Offers::default()
            } else {
                dhcp_front::Offers::unreserved()
            },
        ))
    });
    let mode = match cfg.mode {
        ServerMode::BulkOnly => "bulk-only",
        ServerMode::Insecure => "insecure",
        ServerMode::Secure => "secure",
    };
    say!(
        "{}",
        json!({
            "event": "listening",
            "leasequery_tcp": tcp_addr.to_string(),
            "dhcp_udp": udp_addr.map(|a| a.to_string()),
            "mode": mode,
            "addresses": shared.store().len(),
        })
    );
    let _ = std::io::stdout().flush();
    stop_signal().await;
    server.shutdown().await;
    if let Some(front) = front {
        front.abort();
    }
    Ok(())
}

/// A leasequery listener whose accepted connections inherit `send_buffer`
/// as their SO_SNDBUF.
fn listen(addr: SocketAddr, send_buffer: Option<u32>) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As TcpListener::bind: a restarted server takes its port back at once.
    socket.set_reuseaddr(true)?;
    if let Some(bytes) = send_buffer {
        socket.set_send_buffer_size(bytes)?;
    }
    socket.bind(addr)?;
    socket.listen(1024)
}

fn report_json(report: &Report) -> serde_json::Value {
    match report {
        Report::Connected { conn, active } => {
            json!({"event": "connected", "conn": conn, "active": active})
        }
        Report::ConnectFailed { error } => json!({"event": "connect-failed", "error": error}),
        Report::Closed {
            conn,
            active,
            reason,
        } => json!({
            "event": "closed", "conn": conn, "active": active, "reason": format!("{reason:?}")
        }),
        Report::Event {
            conn,
            active,
            event,
        } => {
            let mut v = match event {
                RequestorEvent::Binding(b) => {
                    let mut v = serde_json::to_value(b).unwrap_or_default();
                    v["event"] = json!("binding");
                    v
                }
                RequestorEvent::CatchUpComplete { base_time } => {
                    json!({"event": "status", "status": "CatchUpComplete", "base_time": base_time})
                }
                RequestorEvent::DataMissing {
                    query_start,
                    base_time,
                } => json!({
                    "event": "status", "status": "DataMissing", "query_start": query_start, "base_time": base_time
                }),
                RequestorEvent::ConnectionActive => {
                    json!({"event": "status", "status": "ConnectionActive"})
                }
                RequestorEvent::Done { xid, status } => json!({
                    "event": "done", "xid": xid, "status": status.map(|s| s.to_string())
                }),
                RequestorEvent::Status {
                    code,
                    text,
                    base_time,
                } => json!({
                    "event": "status", "status": code.to_string(), "text": text, "base_time": base_time
                }),
            };
            v["conn"] = json!(conn);
            v["active"] = json!(active);
            v
        }
    }
}

pub(crate) async fn watch_server(args: WatchArgs) -> Result<()> {
    init_logging();
    let mut config = RequestorConfig {
        secure: args.tls_dir.is_some(),
        ..RequestorConfig::default()
    };
    if let Some(scale) = args.timer_scale {
        config.timers = config.timers.scaled_down(scale);
    }
    let tls = match &args.tls_dir {
        Some(dir) => {
            let ca = load_certs(&dir.join("ca.pem"))?;
            let client = client_config(
                &ca,
                load_certs(&dir.join("client.pem"))?,
                load_key(&dir.join("client.key"))?,
                alq_harness::net::tls::ALL_VERSIONS,
            )?;
            Some((
                tokio_rustls::TlsConnector::from(client),
                server_name(&args.server_name)?,
            ))
        }
        None => None,
    };
    let first_xid = std::process::id().wrapping_mul(2_654_435_761);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let rt = RequestorRuntime {
        server: Dial::Tcp(args.server),
        tls,
        clock: Clock::new(),
        policy: Arc::new(Mutex::new(RequestorPolicy::new(config, first_xid))),
        reports: tx,
    };
    let (stop, mut shutdown) = watch::channel(false);
    let printer = tokio::spawn(async move {
        let stdout = std::io::stdout();
        while let Some(report) = rx.recv().await {
            let mut out = stdout.lock();
            let _ = writeln!(out, "{}", report_json(&report));
            let _ = out.flush();
            if let Report::Closed {
                reason: RequestorCloseReason::TlsRefused,
                ..
            } = report
            {
                tracing::warn!(
                    "the server refused TLS; retrying no faster than ACTIVE_LQ_IDLE_TIMEOUT"
                );
            }
        }
    });
    let work = async {
        if !args.no_sync {
            initial_sync(&rt, &mut shutdown).await;
        }
        run_active(rt, shutdown).await;
    };
    tokio::select! {
        _ = work => {}
        _ = stop_signal() => {}
    }
    stop.send_replace(true);
    printer.abort();
    Ok(())
}

fn hex_arg(name: &str, text: &str) -> Result<Vec<u8>> {
    alq_harness::wire::describe::parse_hex(text)
        .ok_or_else(|| anyhow::anyhow!("--{name} '{text}' is not colon-separated hex"))
}

pub(crate) async fn relay(args: RelayArgs) -> Result<()> {
    use alq_harness::iut::relay::{RelayAgent, RelayedClient};
    let mac: [u8; 6] = hex_arg("mac", &args.mac)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("--mac '{}' must have 6 octets", args.mac))?;
    let info = alq_harness::wire::RelayAgentInfo::from_text(
        args.circuit_id.as_deref(),
        args.remote_id.as_deref(),
        args.relay_id.as_deref(),
    )
    .unwrap_or_default();
    let client = RelayedClient {
        mac,
        client_id: args
            .client_id
            .as_deref()
            .map(|c| hex_arg("client-id", c))
            .transpose()?
            .map(bytes::Bytes::from),
        relay_info: info,
        options: Vec::new(),
    };
    let agent = RelayAgent::new(
        std::net::SocketAddr::from((args.giaddr, args.relay_port)),
        args.dhcp,
        std::time::Duration::from_secs(5),
    )?;
    let need_addr = || {
        args.addr
            .ok_or_else(|| anyhow::anyhow!("{} needs --addr", args.action))
    };
    match args.action.as_str() {
        "dora" => say!("{}", agent.dora(&client).await?.addr),
        "renew" => {
            agent.renew(&client, need_addr()?).await?;
        }
        "release" => agent.release(&client, need_addr()?, args.server_id).await?,
        _ => agent.decline(&client, need_addr()?, args.server_id).await?,
    }
    Ok(())
}

pub(crate) fn certs(dir: &Path) -> Result<()> {
    let pki = TestPki::generate()?;
    for path in pki.write(dir)? {
        say!("{}", path.display());
    }
    Ok(())
}
