//! Target profiles: where the implementation under test is and what it offers.

use crate::scenario::model::Need;
use crate::session::timers::Timers;
use crate::toml_load::LoadError;
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// How the target carries leasequery connections, from what the profile
/// declares: over TLS after DHCPTLS for a target that is secure and not
/// insecure, else in cleartext. A scenario that is not about the transport
/// runs over this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Cleartext,
    Tls,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Cleartext => "cleartext",
            Transport::Tls => "DHCPTLS then TLS",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// The embedded reference server and requestor, in-process.
    Reference,
    /// A server reachable over TCP.
    Tcp,
    /// A requestor started by a command, pointed at the harness.
    Launch,
}

impl TargetKind {
    /// As a profile writes it, and as reports name it.
    pub fn label(self) -> &'static str {
        match self {
            TargetKind::Reference => "reference",
            TargetKind::Tcp => "tcp",
            TargetKind::Launch => "launch",
        }
    }
}

/// How the harness makes the target's bindings change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", tag = "kind")]
pub enum TriggerConfig {
    /// The harness acts as a DHCP relay agent toward the server's UDP port.
    Relay {
        #[serde(deserialize_with = "host_port")]
        dhcp: SocketAddr,
        #[serde(default = "default_giaddr")]
        giaddr: Ipv4Addr,
        /// UDP port the relay agent listens on; servers that answer relays on
        /// port 67 (RFC 2131 §4.1) need 67. 0 picks any.
        #[serde(default)]
        port: u16,
    },
    /// A shell command; `{action}` is bind, renew or release, `{mac}` and
    /// `{addr}` the client. For bind it prints the address bound.
    Shell { command: String },
}

/// `host:port`, with an IP address or a name resolved as the profile loads
/// (its IPv4 address first: the relay and the leasequery paths are IPv4).
fn resolve(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(address) = text.parse() {
        return Ok(address);
    }
    let unresolved =
        |why: String| format!("'{text}' is not host:port with a host that resolves: {why}");
    let all: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| unresolved(e.to_string()))?
        .collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| unresolved("no address".into()))
}

fn host_port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    resolve(&text).map_err(serde::de::Error::custom)
}

fn optional_host_port<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SocketAddr>, D::Error> {
    host_port(d).map(Some)
}

fn default_giaddr() -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2)
}

/// TLS material for secure-mode scenarios (files from `alq-harness certs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TlsProfile {
    pub ca: PathBuf,
    /// Testing a server: what the harness shows as its requestor.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub other_cert: Option<PathBuf>,
    pub other_key: Option<PathBuf>,
    pub untrusted_cert: Option<PathBuf>,
    pub untrusted_key: Option<PathBuf>,
    #[serde(default = "default_server_name")]
    pub server_name: String,
    /// Server role: the certificate and key the harness shows a secure
    /// requestor; the requestor must trust them for `server_name`.
    pub server_cert: Option<PathBuf>,
    pub server_key: Option<PathBuf>,
}

/// Shell commands that act on the whole target server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ControlCommands {
    /// Stops the server gracefully (as SIGTERM would); needs `start`.
    pub stop: Option<String>,
    /// Starts it again after a scenario stopped it.
    pub start: Option<String>,
    /// An administrative action that aborts the server's queries without
    /// stopping it (a reload, disabling Active Leasequery).
    pub reload: Option<String>,
}

impl TlsProfile {
    /// Every file named, with its key.
    pub fn files(&self) -> Vec<(&'static str, &Path)> {
        let mut files = vec![("ca", self.ca.as_path())];
        let optional = [
            ("client-cert", &self.client_cert),
            ("client-key", &self.client_key),
            ("other-cert", &self.other_cert),
            ("other-key", &self.other_key),
            ("untrusted-cert", &self.untrusted_cert),
            ("untrusted-key", &self.untrusted_key),
            ("server-cert", &self.server_cert),
            ("server-key", &self.server_key),
        ];
        files.extend(
            optional
                .into_iter()
                .filter_map(|(key, file)| file.as_deref().map(|f| (key, f))),
        );
        files
    }
}

fn default_server_name() -> String {
    "localhost".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TargetProfile {
    pub name: String,
    pub kind: TargetKind,
    /// Tcp: the server's leasequery address.
    #[serde(default, deserialize_with = "optional_host_port")]
    pub address: Option<SocketAddr>,
    /// Launch: the requestor command; `{addr}`, `{host}` and `{port}` are the
    /// harness's listening address.
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub features: Vec<Need>,
    /// The timer values the target runs with.
    #[serde(default)]
    pub timers: Timers,
    /// Added to every `within` deadline.
    #[serde(default = "default_slack")]
    pub slack: String,
    /// How long the target takes to act on what it was just sent: what
    /// `SETTLE` stands for in scenarios, and the pause before and after the
    /// scenarios that must run alone. A plain duration.
    #[serde(default = "default_settle")]
    pub settle: String,
    /// How long an `expect` waits when the scenario gives no `within`.
    #[serde(default = "default_expect")]
    pub expect_timeout: String,
    /// How far the target's clock may be from the harness's: the tolerance of
    /// the base-time checks (RFC 6926 §6.2.3). A plain duration.
    #[serde(default = "default_clock_skew")]
    pub clock_skew: String,
    /// The most the server's socket send buffer can hold, in bytes: a
    /// scenario that needs the server's send to block drives changes past it.
    #[serde(default = "default_send_buffer")]
    pub send_buffer: u32,
    pub trigger: Option<TriggerConfig>,
    pub tls: Option<TlsProfile>,
    /// Connections one requestor can hold at once: the server's connection
    /// limit (RFC 6926 §8.1 default 10), or its per-requestor limit when lower.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Addresses the server can lease to the trigger's clients at once (the
    /// free part of its pool); none: no limit is known.
    pub pool_size: Option<usize>,
    pub control: Option<ControlCommands>,
    /// An address of the harness host the target is configured to refuse
    /// leasequery connections from (RFC 6926 §8.1 access control).
    pub denied_source: Option<std::net::IpAddr>,
    /// Transcript entries kept per scenario: the first half, then the latest.
    #[serde(default = "default_transcript_limit")]
    pub transcript_limit: usize,
    /// Bytes of traffic recorded for the pcap per scenario; later traffic is
    /// judged but not recorded.
    #[serde(default = "default_pcap_limit")]
    pub pcap_limit: usize,
    /// Messages one `expect` step reads at most before it gives up on a peer
    /// that does not stop sending.
    #[serde(default = "default_message_limit")]
    pub message_limit: usize,
    /// Before each scenario against a server, a health probe tells whether
    /// the target can take part (a scenario it fails is an error, not a
    /// verdict); `false` leaves it out.
    #[serde(default = "default_health_probe")]
    pub health_probe: bool,
    /// Deliberate defects of the reference target (never from a file).
    #[serde(skip)]
    pub faults: crate::reference::faults::FaultSet,
    /// Conformant choices of the reference target (never from a file).
    #[serde(skip)]
    pub variants: crate::reference::variants::VariantSet,
}

fn default_health_probe() -> bool {
    true
}

fn default_max_connections() -> usize {
    crate::session::timers::BULK_LQ_MAX_CONNS
}

/// Transcript entries kept per scenario unless the profile says otherwise.
pub const DEFAULT_TRANSCRIPT_LIMIT: usize = 2_000;

fn default_transcript_limit() -> usize {
    DEFAULT_TRANSCRIPT_LIMIT
}

fn default_pcap_limit() -> usize {
    4 << 20
}

fn default_message_limit() -> usize {
    10_000_000
}

fn default_slack() -> String {
    "1s".to_string()
}

fn default_settle() -> String {
    humantime::format_duration(crate::scenario::expr::DEFAULT_SETTLE).to_string()
}

fn default_expect() -> String {
    "5s".to_string()
}

/// Linux's ceiling for an auto-tuned TCP send buffer (`net.ipv4.tcp_wmem`).
fn default_send_buffer() -> u32 {
    4 << 20
}

/// A send buffer no scenario can fill with the lease changes it may make.
const SEND_BUFFER_LIMIT: u32 = 64 << 20;

/// Same host, or hosts kept in step by NTP.
fn default_clock_skew() -> String {
    "5s".to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{}:{line}:{column}: {message}", path.display())]
    InvalidAt {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

impl TargetProfile {
    /// The embedded reference target: every feature, the RFC timers on
    /// tokio's paused clock.
    pub fn reference() -> Self {
        TargetProfile {
            name: "reference".into(),
            kind: TargetKind::Reference,
            address: None,
            command: None,
            features: vec![
                Need::Bulk,
                Need::Active,
                Need::Insecure,
                Need::Secure,
                Need::Trigger,
                Need::Slow,
                Need::BulkOnly,
                Need::AllConfiguredQuery,
                Need::SmallHistory,
                Need::WithholdsRelayAgentInfo,
                Need::Stop,
                Need::Reload,
                Need::PerRequestorLimitOne,
                Need::ClientOptions,
                Need::DeniedSource,
            ],
            timers: Timers::default(),
            slack: default_slack(),
            settle: default_settle(),
            expect_timeout: default_expect(),
            clock_skew: default_clock_skew(),
            health_probe: default_health_probe(),
            send_buffer: default_send_buffer(),
            trigger: None,
            tls: None,
            max_connections: default_max_connections(),
            pool_size: None,
            control: None,
            denied_source: None,
            transcript_limit: default_transcript_limit(),
            pcap_limit: default_pcap_limit(),
            message_limit: default_message_limit(),
            faults: Default::default(),
            variants: Default::default(),
        }
    }

    /// The embedded reference making the conformant choices of `variants`;
    /// a secure-only server offers no cleartext and no bulk-only mode.
    pub fn reference_with(variants: crate::reference::variants::VariantSet) -> Self {
        use crate::reference::variants::Variant;
        let mut profile = TargetProfile::reference();
        if variants.has(Variant::SecureOnly) {
            profile
                .features
                .retain(|f| !matches!(f, Need::Insecure | Need::BulkOnly));
        }
        if variants.has(Variant::LargeSocketBuffers) {
            profile.send_buffer = crate::reference::variants::LARGE_SOCKET_BUFFER;
        }
        profile.variants = variants;
        profile
    }

    /// The transport the target's connections use.
    pub fn transport(&self) -> Transport {
        if self.features.contains(&Need::Secure) && !self.features.contains(&Need::Insecure) {
            Transport::Tls
        } else {
            Transport::Cleartext
        }
    }

    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = crate::toml_load::read_input(path)?;
        Self::parse(path, &text)
    }

    /// Parses and checks the text of the profile at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ProfileError> {
        let profile: TargetProfile = crate::toml_load::parse_toml(path, text)?;
        let invalid = |message: &str| ProfileError::Invalid {
            path: path.to_path_buf(),
            message: message.to_string(),
        };
        // An error about a top-level key, at the key's line where it is set.
        let invalid_at = |key: &str, message: &str| match crate::toml_load::key_line(text, 0, key) {
            Some(offset) => {
                let (line, column) = crate::toml_load::line_column(text, offset);
                ProfileError::InvalidAt {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message: message.to_string(),
                }
            }
            None => invalid(message),
        };
        if let Err(e) = crate::file_names::check(&profile.name) {
            return Err(invalid(&format!(
                "name = \"{}\" {e}: it names the target's report folder",
                profile.name.escape_debug()
            )));
        }
        match profile.kind {
            TargetKind::Tcp if profile.address.is_none() => {
                return Err(invalid("kind = \"tcp\" needs address"))
            }
            TargetKind::Launch if profile.command.as_ref().is_none_or(|c| c.is_empty()) => {
                return Err(invalid("kind = \"launch\" needs command"))
            }
            TargetKind::Reference => {
                return Err(invalid(
                    "kind = \"reference\" is built in; run without --target",
                ))
            }
            _ => {}
        }
        for expr in [&profile.slack, &profile.expect_timeout] {
            crate::scenario::expr::check_duration(expr).map_err(|e| invalid(&e.to_string()))?;
        }
        crate::session::timers::parse_duration(&profile.settle)
            .map_err(|e| invalid(&format!("settle = \"{}\": {e}", profile.settle)))?;
        crate::session::timers::parse_duration(&profile.clock_skew)
            .map_err(|e| invalid(&format!("clock-skew = \"{}\": {e}", profile.clock_skew)))?;
        let has = |n: Need| profile.features.contains(&n);
        if has(Need::Active) && !has(Need::Insecure) && !has(Need::Secure) {
            return Err(invalid_at(
                "features",
                "\"active\" runs over a transport the target declares: add \
                 \"insecure\" (cleartext TCP), \"secure\" (TLS after DHCPTLS, with a [tls] \
                 table) or both, as the target offers (RFC 7724 §8.1)",
            ));
        }
        if profile.kind == TargetKind::Tcp
            && profile.features.contains(&Need::Secure)
            && profile.tls.is_none()
        {
            return Err(invalid_at(
                "features",
                "feature \"secure\" needs a [tls] table",
            ));
        }
        if let Some(t) = &profile.tls {
            // What each role shows its peer: a requestor's certificate to a
            // server under test, a server's to a requestor under test.
            let needed: &[(&str, bool)] = match profile.kind {
                TargetKind::Tcp => &[
                    ("client-cert", t.client_cert.is_some()),
                    ("client-key", t.client_key.is_some()),
                ],
                TargetKind::Launch => &[
                    ("server-cert", t.server_cert.is_some()),
                    ("server-key", t.server_key.is_some()),
                ],
                TargetKind::Reference => &[],
            };
            if let Some((key, _)) = needed.iter().find(|(_, given)| !given) {
                return Err(invalid(&format!(
                    "[tls] needs {key} for a kind = \"{}\" target",
                    profile.kind.label()
                )));
            }
            for (key, file) in t.files() {
                if let Err(e) = std::fs::metadata(file) {
                    return Err(invalid(&format!(
                        "[tls] {key} = \"{}\": {e}",
                        file.display()
                    )));
                }
            }
        }
        if let Some(c) = &profile.control {
            if c.stop.is_some() && c.start.is_none() {
                return Err(invalid(
                    "[control] stop needs start, so later scenarios find the server",
                ));
            }
        }
        if profile.send_buffer > SEND_BUFFER_LIMIT {
            return Err(invalid(&format!(
                "send-buffer = {} is more than the {SEND_BUFFER_LIMIT} bytes a scenario can fill",
                profile.send_buffer
            )));
        }
        if profile.max_connections == 0 {
            return Err(invalid("max-connections must be at least 1"));
        }
        if profile.pool_size == Some(0) {
            return Err(invalid("pool-size must be at least 1"));
        }
        Ok(profile)
    }

    /// What the names in the scenarios' duration expressions stand for here
    /// (`settle` was checked when the profile was loaded).
    pub fn durations(&self) -> crate::scenario::expr::Durations {
        crate::scenario::expr::Durations {
            timers: self.timers,
            settle: humantime::parse_duration(&self.settle)
                .unwrap_or(crate::scenario::expr::DEFAULT_SETTLE),
        }
    }

    /// The tolerance of base-time checks, in whole seconds (checked when the
    /// profile was loaded).
    pub fn clock_skew_secs(&self) -> u32 {
        humantime::parse_duration(&self.clock_skew)
            .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
            .unwrap_or(5)
    }

    /// Where the target is, for reports: the server's address, the command
    /// that starts a requestor, or the embedded reference.
    pub fn address_label(&self) -> String {
        match (self.kind, &self.address, &self.command) {
            (TargetKind::Tcp, Some(address), _) => address.to_string(),
            (TargetKind::Launch, _, Some(command)) => format!("launched: {}", command.join(" ")),
            _ => "embedded, in-process".to_string(),
        }
    }

    /// How leasequery connections are carried, as the profile declares it.
    pub fn transport_label(&self) -> &'static str {
        let secure = self.features.contains(&Need::Secure);
        let clear = self.features.contains(&Need::Insecure) || !secure;
        match (clear, secure) {
            (true, true) => "TCP, and TLS after DHCPTLS",
            (false, true) => "TLS after DHCPTLS",
            _ => "TCP",
        }
    }

    /// A target outside the harness that allows one connection per requestor.
    pub fn one_connection_per_requestor(&self) -> bool {
        self.kind != TargetKind::Reference && self.features.contains(&Need::PerRequestorLimitOne)
    }

    /// Whether the target offers what a scenario needs.
    pub fn offers(&self, need: Need) -> bool {
        match need {
            Need::Trigger => self.kind == TargetKind::Reference || self.trigger.is_some(),
            Need::ClientOptions => {
                self.kind == TargetKind::Reference
                    || matches!(self.trigger, Some(TriggerConfig::Relay { .. }))
            }
            Need::DeniedSource if self.kind == TargetKind::Tcp => self.denied_source.is_some(),
            Need::Stop if self.kind == TargetKind::Tcp => {
                self.control.as_ref().is_some_and(|c| c.stop.is_some())
            }
            Need::Reload if self.kind == TargetKind::Tcp => {
                self.control.as_ref().is_some_and(|c| c.reload.is_some())
            }
            other => self.features.contains(&other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_mistake_is_reported_at_the_line_of_the_key_that_makes_it() {
        let typo = "name = \"t\"\nkind = \"tcp\"\naddress = \"127.0.0.1:1\"\n\n[trigger]\nkind = \"relay\"\ndhcp = \"127.0.0.1:2\"\ngiadr = \"127.0.0.2\"\n\n[control]\nreload = \"true\"\n";
        let said = load_text(typo).map(|_| ()).unwrap_err().to_string();
        assert!(
            said.contains("target.toml:8:1: unknown field `giadr`"),
            "{said}"
        );
        assert!(said.contains("did you mean `giaddr`"), "{said}");
        let no_transport =
            "name = \"t\"\nkind = \"tcp\"\naddress = \"127.0.0.1:1\"\nfeatures = [\"bulk\", \"active\"]\n";
        let said = load_text(no_transport).map(|_| ()).unwrap_err().to_string();
        assert!(said.contains("target.toml:4:1:"), "{said}");
        assert!(
            said.contains("\"insecure\"") && said.contains("\"secure\""),
            "{said}"
        );
    }

    #[test]
    fn addresses_take_a_host_name() {
        let text = "name = \"t\"\nkind = \"tcp\"\naddress = \"localhost:1067\"\n[trigger]\nkind = \"relay\"\ndhcp = \"localhost:1068\"\n";
        let profile = load_text(text).expect("loads");
        assert_eq!(
            profile.address,
            Some(SocketAddr::from(([127, 0, 0, 1], 1067)))
        );
        match profile.trigger {
            Some(TriggerConfig::Relay { dhcp, .. }) => {
                assert_eq!(dhcp, SocketAddr::from(([127, 0, 0, 1], 1068)));
            }
            other => panic!("{other:?}"),
        }
        let unknown = "name = \"t\"\nkind = \"tcp\"\naddress = \"no-such-host.invalid:1\"\n";
        let said = load_text(unknown).map(|_| ()).unwrap_err().to_string();
        assert!(
            said.contains("target.toml:3:") && said.contains("no-such-host.invalid"),
            "{said}"
        );
    }

    fn load_text(text: &str) -> Result<TargetProfile, ProfileError> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("target.toml");
        std::fs::write(&path, text).expect("the profile written");
        TargetProfile::load(&path)
    }

    /// What loading `text` as a profile says is wrong ("" when it loads).
    fn error_of(text: &str) -> String {
        load_text(text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    const TCP: &str = "name = \"t\"\nkind = \"tcp\"\naddress = \"127.0.0.1:67\"\n";

    #[test]
    fn settle_defaults_to_a_second_and_is_the_profiles_when_set() {
        let default = load_text(TCP).map(|p| p.durations().settle);
        assert_eq!(default.ok(), Some(Duration::from_secs(1)));
        let fast = load_text(&format!("{TCP}settle = \"250ms\"\n")).map(|p| p.durations().settle);
        assert_eq!(fast.ok(), Some(Duration::from_millis(250)));
    }

    #[test]
    fn a_settle_that_is_no_duration_names_the_file_and_key() {
        let err = error_of(&format!("{TCP}settle = \"soon\"\n"));
        assert!(err.contains("target.toml"), "{err}");
        assert!(err.contains("settle = \"soon\""), "{err}");
    }

    #[test]
    fn a_missing_tls_file_names_the_profile_the_key_and_the_path() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "").expect("the CA written");
        let table = |key_file: &str| {
            format!(
                "{TCP}[tls]\nca = \"{}\"\nclient-cert = \"{}\"\nclient-key = \"{key_file}\"\n",
                ca.display(),
                ca.display()
            )
        };
        assert!(load_text(&table(&ca.display().to_string())).is_ok());
        let err = error_of(&table("/nonexistent/client.key"));
        assert!(err.contains("target.toml"), "{err}");
        assert!(
            err.contains("client-key = \"/nonexistent/client.key\""),
            "{err}"
        );
    }

    #[test]
    fn tls_asks_each_kind_of_target_for_what_the_harness_shows_it() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "").expect("the CA written");
        let ca = ca.display();
        // A server under test is shown the harness's requestor certificate.
        let err = error_of(&format!("{TCP}[tls]\nca = \"{ca}\"\n"));
        assert!(err.contains("[tls] needs client-cert"), "{err}");
        // A requestor under test is shown its server certificate, only.
        let launch = "name = \"r\"\nkind = \"launch\"\ncommand = [\"true\"]\n";
        let err = error_of(&format!("{launch}[tls]\nca = \"{ca}\"\n"));
        assert!(err.contains("[tls] needs server-cert"), "{err}");
        let served = format!(
            "{launch}[tls]\nca = \"{ca}\"\nserver-cert = \"{ca}\"\nserver-key = \"{ca}\"\n"
        );
        assert!(load_text(&served).is_ok());
    }

    #[test]
    fn a_name_that_could_leave_the_reports_folder_does_not_load() {
        for bad in ["../../x", "/tmp/x", "", ".."] {
            let text = TCP.replace("name = \"t\"", &format!("name = \"{bad}\""));
            let err = error_of(&text);
            assert!(
                err.contains("names the target's report folder"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_timer_or_settle_beyond_the_limit_is_an_error_naming_it() {
        let timer = error_of(&format!("{TCP}[timers]\nbulk_data = \"500000000000y\"\n"));
        assert!(timer.contains("target.toml:"), "{timer}");
        assert!(timer.contains("the most a duration may be"), "{timer}");
        let settle = error_of(&format!("{TCP}settle = \"2d\"\n"));
        assert!(settle.contains("settle = \"2d\""), "{settle}");
        assert!(settle.contains("the most a duration may be"), "{settle}");
    }
}
