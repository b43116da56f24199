use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Prints a line to stdout; a closed stdout (`| head`) ends output quietly
/// instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(anstream::stdout(), $($arg)*);
    }};
}

mod bench;
mod decode;
mod explain;
mod reference;
mod suite;
mod terminal;

use reference::{RelayArgs, ServeArgs, WatchArgs};
use suite::RunArgs;

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
    /// or setup error, or no selected scenario applied.
    Run(RunArgs),
    /// List the scenarios with their role, requirements, needs and tags, and
    /// with --target whether each runs against that profile and why not.
    List {
        #[arg(long)]
        scenarios: Option<PathBuf>,
        /// A target profile: say for each scenario whether it runs.
        #[arg(long)]
        target: Option<PathBuf>,
        /// As for run: scenarios that wait for protocol timers do not run.
        #[arg(long)]
        skip_slow: bool,
        /// As for run: only scenarios whose id, a tag or a covered
        /// requirement contains this, ignoring case (repeatable).
        #[arg(long)]
        filter: Vec<String>,
        /// As for run: leave out scenarios that match this (repeatable).
        #[arg(long)]
        exclude: Vec<String>,
        /// As for run: scenarios run at once, for the addresses a run binds
        /// at once.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
    },
    /// Requirement coverage: each black-box requirement of the catalog, the
    /// scenarios that cover it and, from a report, its last verdict.
    Coverage {
        #[arg(long)]
        scenarios: Option<PathBuf>,
        /// A report.json to take the last verdicts from (by default
        /// reports/reference/report.json, when there is one).
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// The requirements audit (docs/requirements-audit.md): for every
    /// black-box requirement, what judges it, the defects that prove it and
    /// the variants it passes. Printed, or written to --output.
    Audit {
        #[arg(long)]
        scenarios: Option<PathBuf>,
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// The kill matrix: the suite against the reference with each deliberate
    /// defect, and the scenarios and requirements that catch it. Exit code 1 when
    /// a defect escapes.
    Faults {
        #[arg(long)]
        scenarios: Option<PathBuf>,
        /// Defects checked at once, each one's scenarios one at a
        /// time; the machine's cores by default.
        #[arg(long, default_value_t = alq_harness::run::spread::cores())]
        jobs: usize,
    },
    /// The variant matrix: the suite against the reference making each
    /// conformant choice the RFCs allow, and any failure, warning or error it
    /// drew (there should be none). Exit code 1 when a variant drew one.
    Variants {
        #[arg(long)]
        scenarios: Option<PathBuf>,
        /// Variants checked at once, each one's scenarios one at a
        /// time; the machine's cores by default.
        #[arg(long, default_value_t = alq_harness::run::spread::cores())]
        jobs: usize,
    },
    /// Join the reports of a sharded run (`run --shard K/N`) into one:
    /// DIR/<target>/ with report.json, junit.xml, index.html and the pcaps.
    /// Exit code as for `run` over the whole suite.
    Merge {
        /// Each shard's report.json, or the directory holding it.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        #[arg(long = "reports-dir", default_value = "reports")]
        out: PathBuf,
    },
    /// Rates side by side in one run: the reference server's bulk push, a
    /// framing-only reader (the ceiling) and the harness requestor judging
    /// every message of the same stream, with each one's peak memory.
    Bench {
        #[arg(long, default_value_t = 1_000_000)]
        bindings: u32,
        /// Also measure ISC Kea's bulk leasequery rate at this address, over
        /// the leases `bash interop/kea/setup.sh DIR BINDINGS` loaded.
        #[arg(long)]
        kea: Option<std::net::SocketAddr>,
        /// Rounds of the replay parts (ceiling, decode, ingest, one after the
        /// other in each round); each rate is the median over the rounds.
        #[arg(long, default_value_t = 9)]
        rounds: usize,
    },
    /// One part of `bench`, in its own process.
    #[command(hide = true)]
    BenchPart {
        #[command(subcommand)]
        part: BenchPart,
    },
    /// Everything about one requirement: the catalog's text and test idea,
    /// the scenarios and step lines that judge it, the per-message checks,
    /// the defects and variants that prove them, and with --report its last
    /// verdict.
    Explain {
        /// A requirement ID of the catalog, e.g. ALQ-S-26.
        id: String,
        #[arg(long)]
        scenarios: Option<PathBuf>,
        /// A report.json to show the last verdict from.
        #[arg(long)]
        report: Option<PathBuf>,
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

#[derive(Subcommand)]
enum BenchPart {
    Push {
        #[arg(long)]
        bindings: u32,
        #[arg(long)]
        out: PathBuf,
    },
    Ceiling {
        #[arg(long)]
        server: std::net::SocketAddr,
        #[arg(long)]
        messages: u64,
    },
    Decode {
        #[arg(long)]
        server: std::net::SocketAddr,
        #[arg(long)]
        messages: u64,
    },
    Ingest {
        #[arg(long)]
        server: std::net::SocketAddr,
        #[arg(long)]
        messages: u64,
    },
    Kea {
        #[arg(long)]
        server: std::net::SocketAddr,
    },
}

fn bench_part(part: BenchPart) -> Result<()> {
    let measured = match part {
        BenchPart::Push { bindings, out } => bench::push(bindings, &out)?,
        BenchPart::Ceiling { server, messages } => bench::ceiling(server, messages)?,
        BenchPart::Decode { server, messages } => bench::decode(server, messages)?,
        BenchPart::Ingest { server, messages } => bench::ingest(server, messages)?,
        BenchPart::Kea { server } => bench::kea(server)?,
    };
    say!("{}", serde_json::to_string(&measured)?);
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => return suite::run(args),
        Command::List {
            scenarios,
            target,
            skip_slow,
            filter,
            exclude,
            jobs,
        } => suite::list(
            scenarios,
            target.as_deref(),
            skip_slow,
            jobs,
            &suite::Selection { filter, exclude },
        ),
        Command::Check { files } => suite::check(&files),
        Command::Explain {
            id,
            scenarios,
            report,
        } => explain::explain(&id, scenarios.as_deref(), report.as_deref()),
        Command::Coverage { scenarios, report } => suite::coverage(scenarios, report.as_deref()),
        Command::Audit { scenarios, output } => suite::audit(scenarios, output.as_deref()),
        Command::Faults { scenarios, jobs } => return suite::faults(scenarios, jobs),
        Command::Variants { scenarios, jobs } => return suite::variants(scenarios, jobs),
        Command::Merge { reports, out } => return suite::merge(&reports, &out),
        Command::Bench {
            bindings,
            kea,
            rounds,
        } => bench::bench(bindings, kea, rounds),
        Command::BenchPart { part } => bench_part(part),
        Command::Decode { file, port } => decode::decode(&file, port),
        Command::Serve(args) => runtime().and_then(|rt| rt.block_on(reference::serve(args))),
        Command::Watch(args) => runtime().and_then(|rt| rt.block_on(reference::watch_server(args))),
        Command::Certs { dir } => reference::certs(&dir),
        Command::Relay(args) => runtime().and_then(|rt| rt.block_on(reference::relay(args))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
