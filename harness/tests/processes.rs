//! `alq-harness serve` and `alq-harness watch` as separate processes on loopback
//! high ports: three relayed DORAs drive bindings, and watch prints them.

use alq_harness::iut::relay::{RelayAgent, RelayedClient};
use alq_harness::wire::RelayAgentInfo;
use bytes::Bytes;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> (Running, mpsc::Receiver<Value>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_alq-harness"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    (Running(child), rx)
}

/// The next line matching `want`; generous bound so a broken build fails
/// instead of hanging.
fn wait_for(rx: &mpsc::Receiver<Value>, want: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("expected output line");
        if want(&v) {
            return v;
        }
    }
}

fn sigterm(child: &Running) {
    let _ = Command::new("kill").arg(child.0.id().to_string()).status();
}

#[test]
fn serve_and_watch_as_processes_report_three_relayed_doras() {
    let (server, server_out) = spawn(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--dhcp",
        "127.0.0.1:0",
        "--mode",
        "insecure",
    ]);
    let listening = wait_for(&server_out, |v| v["event"] == "listening");
    let tcp = listening["leasequery_tcp"].as_str().unwrap().to_string();
    let udp: SocketAddr = listening["dhcp_udp"].as_str().unwrap().parse().unwrap();

    let (_watch, watch_out) = spawn(&["watch", "--server", &tcp]);
    wait_for(&watch_out, |v| {
        v["event"] == "connected" && v["active"] == true
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bound: Vec<Ipv4Addr> = rt.block_on(async {
        let relay = RelayAgent::new(
            SocketAddr::from(([127, 0, 0, 2], 0)),
            udp,
            Duration::from_secs(10),
        )
        .unwrap();
        let mut out = Vec::new();
        for last in 1..=3u8 {
            let client = RelayedClient {
                mac: [2, 0, 0, 0, 0, last],
                client_id: None,
                relay_info: RelayAgentInfo::default()
                    .with(1, Bytes::from(format!("port-{last}")))
                    .with(2, &b"remote-A"[..])
                    .with(12, &b"relay-1"[..]),
                options: Vec::new(),
            };
            out.push(relay.dora(&client).await.unwrap().addr);
        }
        out
    });

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let v = wait_for(&watch_out, |v| {
            v["event"] == "binding" && v["active"] == true
        });
        assert_eq!(v["state"], "ACTIVE");
        assert_eq!(v["remote_id"], "72:65:6d:6f:74:65:2d:41");
        seen.push(v["addr"].as_str().unwrap().parse::<Ipv4Addr>().unwrap());
    }
    assert_eq!(seen, bound);

    // Stopping the server ends the active query with QueryTerminated.
    sigterm(&server);
    // (CatchUpComplete may still be ahead of it in watch's output.)
    let status = wait_for(&watch_out, |v| {
        v["event"] == "status" && v["status"] != "CatchUpComplete"
    });
    assert_eq!(status["status"], "QueryTerminated");
    assert!(status["base_time"].as_u64().is_some());
}

#[test]
fn a_bad_config_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[server]\nlistn = \"127.0.0.1:1\"\n", "did you mean `listen`?"),
        ("[server]\nlisten = \"127.0.0.1:99999\"\n", "bad.toml:2:10: invalid socket address"),
        (
            "[server]\nmode = \"secure\"\n[server.tls]\ncert = \"/nonexistent/server.pem\"\nkey = \"/nonexistent/server.key\"\nclient_ca = \"/nonexistent/ca.pem\"\n",
            "/nonexistent/server.pem",
        ),
        ("[server]\npool = [\"192.0.2.50-192.0.2.10\"]\n", "pool entry '192.0.2.50-192.0.2.10' ends before it starts"),
        ("[server]\npool = [\"10.0.0.0-10.255.255.255\"]\n", "takes the pool past 1048576 addresses"),
        ("[server]\nlease_time = \"2y\"\n", "the most a duration may be"),
        ("[server.timers]\nbulk_data = \"500000000000y\"\n", "bad.toml:2:13: '500000000000y': longer than"),
    ];
    for (text, needle) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_alq-harness"))
            .args(["serve", "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
}

/// CPU time (user + system, in clock ticks) the process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn serve_out_of_file_descriptors_waits_between_accepts_and_recovers() {
    // `serve` with 18 descriptors: the connections below use up the rest, and
    // each accept after that fails with EMFILE while the backlog stays full.
    let mut child = Command::new("sh")
        .args([
            "-c",
            "ulimit -n 18 && exec \"$0\" serve --listen 127.0.0.1:0 --dhcp 127.0.0.1:0",
            env!("CARGO_BIN_EXE_alq-harness"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Running(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let listening: Value = serde_json::from_str(&line).unwrap();
    let tcp: SocketAddr = listening["leasequery_tcp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let held: Vec<std::net::TcpStream> = (0..40)
        .filter_map(|_| std::net::TcpStream::connect(tcp).ok())
        .collect();
    assert!(held.len() >= 30, "{} connections", held.len());
    std::thread::sleep(Duration::from_millis(500));
    let pid = server.0.id();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    // 2 s at 100 ticks per second is 200 ticks: a spinning accept loop
    // takes them all, one that waits a second between tries next to none.
    assert!(used < 40, "{used} ticks of CPU in 2 s out of descriptors");
    drop(held);
    // With descriptors free again, a new connection is served: the server
    // answers a query with an unknown MAC with DHCPLEASEQUERYDONE.
    std::thread::sleep(Duration::from_millis(1500));
    let mut fresh = std::net::TcpStream::connect(tcp).unwrap();
    fresh
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let query = alq_harness::wire::MessageBuilder::request(
        alq_harness::wire::MessageType::BulkLeaseQuery,
        7,
    )
    .hardware(1, &[2, 0, 0, 0, 0x99, 0x99])
    .build()
    .encode();
    let frame = alq_harness::wire::framing::encode_frame(&query).unwrap();
    std::io::Write::write_all(&mut fresh, &frame).unwrap();
    let mut len = [0u8; 2];
    std::io::Read::read_exact(&mut fresh, &mut len).unwrap();
    assert!(u16::from_be_bytes(len) >= 240);
}
