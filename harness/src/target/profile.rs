//! Target profiles: where the implementation under test is and what it offers.

use crate::scenario::model::Need;
use crate::session::timers::Timers;
use crate::toml_load::{load_toml, LoadError};
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

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

/// How the harness makes the target's bindings change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", tag = "kind")]
pub enum TriggerConfig {
    /// The harness acts as a DHCP relay agent toward the server's UDP port.
    Relay {
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

fn default_giaddr() -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2)
}

/// TLS material for secure-mode scenarios (files from `alq-harness certs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TlsProfile {
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub other_cert: Option<PathBuf>,
    pub other_key: Option<PathBuf>,
    pub untrusted_cert: Option<PathBuf>,
    pub untrusted_key: Option<PathBuf>,
    #[serde(default = "default_server_name")]
    pub server_name: String,
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
    /// How long an `expect` waits when the scenario gives no `within`.
    #[serde(default = "default_expect")]
    pub expect_timeout: String,
    pub trigger: Option<TriggerConfig>,
    pub tls: Option<TlsProfile>,
    /// Deliberate defects of the reference target (never from a file).
    #[serde(skip)]
    pub faults: crate::reference::faults::FaultSet,
}

fn default_slack() -> String {
    "1s".to_string()
}

fn default_expect() -> String {
    "5s".to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
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
            ],
            timers: Timers::default(),
            slack: default_slack(),
            expect_timeout: default_expect(),
            trigger: None,
            tls: None,
            faults: Default::default(),
        }
    }

    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let profile: TargetProfile = load_toml(path)?;
        let invalid = |message: &str| ProfileError::Invalid {
            path: path.to_path_buf(),
            message: message.to_string(),
        };
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
        if profile.kind == TargetKind::Tcp
            && profile.features.contains(&Need::Secure)
            && profile.tls.is_none()
        {
            return Err(invalid("feature \"secure\" needs a [tls] table"));
        }
        Ok(profile)
    }

    /// Whether the target offers what a scenario needs.
    pub fn offers(&self, need: Need) -> bool {
        match need {
            Need::Trigger => self.kind == TargetKind::Reference || self.trigger.is_some(),
            other => self.features.contains(&other),
        }
    }
}
