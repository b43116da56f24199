use alq_harness::capture::{framed_messages, read_pcap, CapturedEvent, Conversation, Sender};
use alq_harness::net::clock::Clock;
use alq_harness::net::requestor::{initial_sync, run_active, Report, RequestorRuntime};
use alq_harness::net::server::{RunningServer, ServerRuntime, Shared};
use alq_harness::net::tls::{
    client_config, load_certs, load_key, server_config, server_name, TestPki,
};
use alq_harness::net::transport::{Dial, Incoming};
use alq_harness::reference::config::ServeConfig;
use alq_harness::session::requestor::{
    RequestorCloseReason, RequestorConfig, RequestorEvent, RequestorPolicy,
};
use alq_harness::session::server::ServerMode;
use alq_harness::wire::describe::Describe;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde_json::json;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// Prints a line to stdout; a closed stdout (`| head`) ends output quietly
/// instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Conformance test harness for DHCPv4 Active Leasequery (RFC 7724) and Bulk
/// Leasequery (RFC 6926).
#[derive(Parser)]
#[command(name = "alq-harness", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the conformance scenarios against a target (the embedded reference
    /// by default). Exit code 0: conformant; 1: non-conformance found; 2: harness
    /// or setup error.
    Run(RunArgs),
    /// List the scenarios with their role, requirements and needs.
    List {
        #[arg(long)]
        scenarios: Option<PathBuf>,
    },
    /// Requirement coverage: each black-box requirement of the catalog, the
    /// scenarios that cover it and, from a report, its last verdict.
    Coverage {
        #[arg(long)]
        scenarios: Option<PathBuf>,
        /// A report.json to take the last verdicts from.
        #[arg(long, default_value = "reports/reference/report.json")]
        report: PathBuf,
    },
    /// The kill matrix: the suite against the reference with each deliberate
    /// defect, and the scenarios and requirements that catch it. Exit code 1 when
    /// a defect escapes.
    Faults {
        #[arg(long)]
        scenarios: Option<PathBuf>,
        #[arg(long, default_value_t = 2)]
        jobs: usize,
    },
    /// Validate scenario files without running them.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print every length-prefixed DHCP message carried over TCP in a pcap file.
    Decode {
        /// A classic pcap file (Ethernet, Linux cooked, raw IP or loopback).
        file: PathBuf,
        /// Only conversations with this TCP port on either side.
        #[arg(long)]
        port: Option<u16>,
    },
    /// Run the reference Active + Bulk Leasequery server (with a DHCP front for
    /// relayed requests). Ctrl-C ends every query with QueryTerminated.
    Serve(ServeArgs),
    /// Run the reference requestor against a server and print one JSON line per
    /// binding change and per status.
    Watch(WatchArgs),
    /// Write a test CA, server and requestor certificates into DIR.
    Certs { dir: PathBuf },
    /// Act as a DHCP relay agent: drive a client's lease on a DHCP server.
    Relay(RelayArgs),
}

#[derive(clap::Args)]
struct RelayArgs {
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
    /// Client hardware address, colon-separated hex (htype 1).
    #[arg(long)]
    mac: String,
    /// The client's address (renew, release, decline).
    #[arg(long)]
    addr: Option<std::net::Ipv4Addr>,
    /// Client identifier, colon-separated hex.
    #[arg(long)]
    client_id: Option<String>,
    /// Option 82 sub-option 1.
    #[arg(long)]
    circuit_id: Option<String>,
    /// Option 82 sub-option 2.
    #[arg(long)]
    remote_id: Option<String>,
    /// Option 82 sub-option 12.
    #[arg(long)]
    relay_id: Option<String>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// A target profile (TOML); the embedded reference target when absent.
    #[arg(long)]
    target: Option<PathBuf>,
    /// The scenario directory.
    #[arg(long)]
    scenarios: Option<PathBuf>,
    /// Only scenarios whose id contains, tag equals or requirement list holds
    /// this (repeatable).
    #[arg(long)]
    filter: Vec<String>,
    /// Scenarios run at once.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// SHOULD-level and lower-case obligations fail instead of warn.
    #[arg(long)]
    strict: bool,
    /// Skip scenarios that wait for a default protocol timer.
    #[arg(long)]
    skip_slow: bool,
    /// Print every finding, not only the broken ones.
    #[arg(long, short)]
    verbose: bool,
    /// Known deviations of the target; by default `<target>.expect.toml` beside
    /// the profile, when it exists.
    #[arg(long)]
    expect: Option<PathBuf>,
    /// Run the embedded reference with this deliberate defect (see
    /// `alq-harness faults`), to see how the harness reports it.
    #[arg(long)]
    fault: Option<String>,
    /// Where reports go: DIR/<target>/{report.json,junit.xml,index.html,pcap/}.
    #[arg(long, default_value = "reports")]
    reports: PathBuf,
}

#[derive(clap::Args)]
struct ServeArgs {
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
}

#[derive(clap::Args)]
struct WatchArgs {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => return run(args),
        Command::List { scenarios } => list(scenarios),
        Command::Check { files } => check(&files),
        Command::Coverage { scenarios, report } => coverage(scenarios, &report),
        Command::Faults { scenarios, jobs } => return faults(scenarios, jobs),
        Command::Decode { file, port } => decode(&file, port),
        Command::Serve(args) => runtime().and_then(|rt| rt.block_on(serve(args))),
        Command::Watch(args) => runtime().and_then(|rt| rt.block_on(watch_server(args))),
        Command::Certs { dir } => certs(&dir),
        Command::Relay(args) => runtime().and_then(|rt| rt.block_on(relay(args))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn scenario_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.unwrap_or_else(|| {
        let local = PathBuf::from("scenarios");
        if local.is_dir() {
            local
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
        }
    })
}

fn run(args: RunArgs) -> ExitCode {
    match run_suite_cli(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_suite_cli(args: RunArgs) -> Result<u8> {
    use alq_harness::run::runner::{exit_code, run_suite, selected, RunOptions};
    use alq_harness::run::verdict::{citation, Verdict};
    use alq_harness::target::profile::TargetProfile;
    let mut profile = match &args.target {
        Some(path) => TargetProfile::load(path)?,
        None => TargetProfile::reference(),
    };
    if let Some(name) = &args.fault {
        use alq_harness::reference::faults::{Fault, FaultSet};
        if args.target.is_some() {
            anyhow::bail!("--fault applies to the embedded reference target only");
        }
        let fault = Fault::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
            anyhow::anyhow!("unknown fault '{name}'; faults: {}", names.join(", "))
        })?;
        profile.faults = FaultSet::one(fault);
    }
    let scenarios = alq_harness::scenario::load::load_dir(&scenario_dir(args.scenarios))?;
    let chosen = selected(&scenarios, &args.filter);
    if chosen.is_empty() {
        anyhow::bail!("no scenario matches the filter {:?}", args.filter);
    }
    runtime()?
        .block_on(alq_harness::target::backend::preflight(&profile))
        .map_err(|e| anyhow::anyhow!(e))?;
    let expect_path = args.expect.clone().or_else(|| {
        args.target
            .as_deref()
            .map(alq_harness::target::expectations::Expectations::beside)
            .filter(|p| p.exists())
    });
    let expectations = match &expect_path {
        Some(p) => alq_harness::target::expectations::Expectations::load(p, &scenarios)?,
        None => Default::default(),
    };
    let options = RunOptions {
        strict: args.strict,
        jobs: args.jobs,
        filter: args.filter.clone(),
        skip_slow: args.skip_slow,
        cancel: Default::default(),
        expectations,
    };
    let cancel = options.cancel.clone();
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(stop_signal());
            eprintln!("interrupted: finishing the scenarios under way, then writing reports");
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let started = std::time::SystemTime::now();
    let clock = std::time::Instant::now();
    let total = chosen.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let verbose = args.verbose;
    let progress = |o: &alq_harness::run::runner::ScenarioOutcome| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let label = match o.verdict {
            Verdict::Pass => "PASS",
            Verdict::Info => "INFO",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
            Verdict::NotApplicable => "N/A",
        };
        let mut text = format!(
            "[{n:>3}/{total}] {label:<5} {} ({:.1} s{})",
            o.id,
            o.elapsed_ms as f64 / 1000.0,
            if profile.kind == alq_harness::target::profile::TargetKind::Reference {
                " virtual"
            } else {
                ""
            }
        );
        if !o.missing.is_empty() {
            text.push_str(&format!(" needs {:?}", o.missing));
        }
        for f in &o.findings {
            let show = verbose || !matches!(f.verdict, Verdict::Pass | Verdict::NotApplicable);
            if show {
                let frame = f
                    .frame
                    .and_then(|i| {
                        o.transcript
                            .get(i)
                            .map(|e| format!(" [#{i} {} {} {}]", e.conn, e.dir, e.text))
                    })
                    .unwrap_or_default();
                text.push_str(&format!(
                    "\n        {} {} ({}): {}{frame}",
                    f.verdict.label(),
                    f.requirement,
                    citation(&f.requirement),
                    f.message
                ));
            }
        }
        say!("{text}");
    };
    let outcomes = run_suite(&chosen, &profile, &options, &progress);
    let interrupted = options.cancel.load(std::sync::atomic::Ordering::Relaxed);
    let code = exit_code(&outcomes, args.strict);
    let count = |v: Verdict| outcomes.iter().filter(|o| o.verdict == v).count();
    say!(
        "{} scenarios against {}: {} pass, {} fail, {} warn, {} not-applicable, {} error",
        outcomes.len(),
        profile.name,
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Warn),
        count(Verdict::NotApplicable),
        count(Verdict::Error)
    );
    let kind = match profile.kind {
        alq_harness::target::profile::TargetKind::Reference => "reference",
        alq_harness::target::profile::TargetKind::Tcp => "tcp",
        alq_harness::target::profile::TargetKind::Launch => "launch",
    };
    let report = alq_harness::report::RunReport::new(
        &profile.name,
        kind,
        started,
        clock.elapsed(),
        args.strict,
        interrupted,
        outcomes,
    );
    let report = alq_harness::report::RunReport {
        coverage: Some(alq_harness::report::coverage::Coverage::of(&scenarios)),
        ..report
    };
    let dir = args.reports.join(&profile.name);
    alq_harness::report::write::write_reports(&dir, &report, started)?;
    say!("reports in {}", dir.display());
    Ok(if interrupted { code.max(2) } else { code })
}

fn list(dir: Option<PathBuf>) -> Result<()> {
    let scenarios = alq_harness::scenario::load::load_dir(&scenario_dir(dir))?;
    for l in &scenarios {
        let s = &l.scenario;
        let role = match s.role {
            alq_harness::scenario::model::Role::Requestor => "requestor",
            alq_harness::scenario::model::Role::Server => "server",
        };
        say!(
            "{:<48} {:<9} {:<32} {}",
            s.id,
            role,
            s.covers.join(","),
            s.title
        );
    }
    say!("{} scenarios", scenarios.len());
    Ok(())
}

fn coverage(dir: Option<PathBuf>, report: &Path) -> Result<()> {
    let scenarios = alq_harness::scenario::load::load_dir(&scenario_dir(dir))?;
    let cov = alq_harness::report::coverage::Coverage::of(&scenarios);
    let verdicts: std::collections::HashMap<String, String> = std::fs::read(report)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["requirements"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            Some((
                r["id"].as_str()?.to_string(),
                r["verdict"].as_str()?.to_string(),
            ))
        })
        .collect();
    for row in &cov.rows {
        let verdict = verdicts.get(&row.id).map(String::as_str).unwrap_or("-");
        let scenarios = if row.scenarios.is_empty() {
            "(uncovered)".to_string()
        } else {
            row.scenarios.join(", ")
        };
        say!(
            "{:<10} {:<26} {:<5} {:<15} {}",
            row.id,
            row.level,
            row.class,
            verdict,
            scenarios
        );
    }
    say!(
        "covered {} of {} black-box requirements ({:.1}%); uncovered: {}",
        cov.covered,
        cov.total,
        cov.percent(),
        cov.uncovered.join(" ")
    );
    Ok(())
}

fn faults(dir: Option<PathBuf>, jobs: usize) -> ExitCode {
    let scenarios = match alq_harness::scenario::load::load_dir(&scenario_dir(dir)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut escaped = 0;
    for fault in alq_harness::reference::faults::Fault::ALL {
        let row = alq_harness::run::kill_matrix::run_fault(*fault, &scenarios, jobs);
        let caught: Vec<String> = row
            .caught_by
            .iter()
            .map(|(r, s, v)| format!("{r} by {s} ({})", v.label()))
            .collect();
        if row.caught() {
            say!("caught   {:<40} {}", fault.name(), caught.join("; "));
        } else {
            escaped += 1;
            say!(
                "ESCAPED  {:<40} breaks {}; other findings: {:?}",
                fault.name(),
                fault.breaks().join(", "),
                row.also
            );
        }
    }
    let total = alq_harness::reference::faults::Fault::ALL.len();
    say!("{} of {total} faults caught", total - escaped);
    ExitCode::from(u8::from(escaped > 0))
}

fn check(files: &[PathBuf]) -> Result<()> {
    let mut bad = 0;
    for f in files {
        match alq_harness::scenario::load::load_scenario(f) {
            Ok(l) => say!("ok {} ({})", f.display(), l.scenario.id),
            Err(e) => {
                eprintln!("error: {e}");
                bad += 1;
            }
        }
    }
    if bad > 0 {
        anyhow::bail!("{bad} of {} scenario files do not load", files.len());
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
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

async fn serve(args: ServeArgs) -> Result<()> {
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
    let session_config = cfg.server_config()?;
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
            )?;
            Some(tokio_rustls::TlsAcceptor::from(config))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
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

async fn watch_server(args: WatchArgs) -> Result<()> {
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

async fn relay(args: RelayArgs) -> Result<()> {
    use alq_harness::target::relay::{RelayAgent, RelayedClient};
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
    let mut agent = RelayAgent::bind(
        std::net::SocketAddr::from((args.giaddr, args.relay_port)),
        args.dhcp,
        std::time::Duration::from_secs(5),
    )
    .await?;
    let need_addr = || {
        args.addr
            .ok_or_else(|| anyhow::anyhow!("{} needs --addr", args.action))
    };
    match args.action.as_str() {
        "dora" => say!("{}", agent.dora(&client).await?),
        "renew" => agent.renew(&client, need_addr()?).await?,
        "release" => agent.release(&client, need_addr()?).await?,
        _ => agent.decline(&client, need_addr()?).await?,
    }
    Ok(())
}

fn certs(dir: &Path) -> Result<()> {
    let pki = TestPki::generate()?;
    for path in pki.write(dir)? {
        say!("{}", path.display());
    }
    Ok(())
}

fn decode(file: &std::path::Path, port: Option<u16>) -> Result<()> {
    let conversations: Vec<Conversation> = read_pcap(file)?
        .into_iter()
        .filter(|c| port.is_none_or(|p| c.client.port() == p || c.server.port() == p))
        .collect();
    let messages = framed_messages(&conversations);
    let origin = conversations
        .iter()
        .map(|c| c.started)
        .min()
        .unwrap_or_default();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for m in &messages {
        let Some(conv) = conversations.iter().find(|c| c.index == m.conversation) else {
            continue;
        };
        let (from, to) = match m.sender {
            Sender::Client => (conv.client, conv.server),
            Sender::Server => (conv.server, conv.client),
        };
        let elapsed = m.time.saturating_sub(origin).as_secs_f64();
        write!(
            out,
            "+{elapsed:.6}s conn {} {from} -> {to} @{}: ",
            conv.index, m.offset
        )?;
        match &m.event {
            CapturedEvent::Message(msg) => writeln!(out, "{}", Describe(msg))?,
            CapturedEvent::Undecodable { payload_len, error } => writeln!(
                out,
                "{payload_len}-byte frame is not a DHCP message: {error}"
            )?,
            CapturedEvent::Framing(error) => writeln!(out, "framing error: {error}")?,
        }
    }
    for conv in &conversations {
        let ends = |fin: bool, rst: bool| match (fin, rst) {
            (_, true) => "RST",
            (true, false) => "FIN",
            (false, false) => "open",
        };
        write!(
            out,
            "conn {}: {} -> {}: client sent {} bytes ({}), server sent {} bytes ({})",
            conv.index,
            conv.client,
            conv.server,
            conv.to_server.data.len(),
            ends(conv.to_server.fin, conv.to_server.rst),
            conv.to_client.data.len(),
            ends(conv.to_client.fin, conv.to_client.rst),
        )?;
        let unplaced = conv.to_server.unplaced + conv.to_client.unplaced;
        if unplaced > 0 {
            write!(out, "; {unplaced} bytes after a gap in the capture")?;
        }
        writeln!(out)?;
    }
    let decoded = messages
        .iter()
        .filter(|m| matches!(m.event, CapturedEvent::Message(_)))
        .count();
    writeln!(
        out,
        "{decoded} messages decoded, {} problems, {} TCP conversations",
        messages.len() - decoded,
        conversations.len()
    )?;
    Ok(())
}
