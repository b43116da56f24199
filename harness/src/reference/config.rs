//! The reference server's configuration file (`alq-harness serve --config`),
//! and its seed lease file.

use super::leases::{Client, LeaseStore};
use crate::reference::server::{ServerConfig, ServerMode};
use crate::session::timers::{Timers, BULK_LQ_MAX_CONNS};
use crate::toml_load::{load_toml, LoadError};
use crate::wire::RelayAgentInfo;
use bytes::Bytes;
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most addresses a pool may hold (each is a binding in memory).
pub const POOL_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    pub server: ServeConfig,
}

/// Everything `alq-harness serve` runs with. Defaults: loopback high ports,
/// bulk-only mode (Active Leasequery must be switched on, RFC 7724 §8.1).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Leasequery TCP address (RFC 6926 §6.3 default port 67 needs privileges).
    pub listen: SocketAddr,
    /// UDP address of the DHCP front for relayed requests; none to disable.
    pub dhcp: Option<SocketAddr>,
    pub server_id: Ipv4Addr,
    pub mode: ServerMode,
    pub max_connections: usize,
    /// Simultaneous connections from one requestor address; no limit of its
    /// own when absent.
    pub per_requestor_connections: Option<usize>,
    /// Entries in the change history kept for catch-up.
    pub history: usize,
    #[serde(with = "humantime_duration")]
    pub lease_time: Duration,
    pub all_configured_query: bool,
    pub suppress: Vec<u8>,
    /// Requestor addresses allowed to connect; everyone when absent.
    pub allowed_requestors: Option<Vec<std::net::IpAddr>>,
    /// Configured addresses: "first-last" ranges or single addresses.
    pub pool: Vec<String>,
    /// Leases to create at start.
    pub seed: Option<PathBuf>,
    pub timers: Timers,
    pub tls: Option<TlsFiles>,
    /// An offered address is held for its client until it requests it;
    /// `false` offers it to anyone who asks meanwhile (RFC 2131 §4.3.1).
    pub reserve_offers: bool,
    /// SO_SNDBUF of leasequery connections, in bytes (Linux doubles it for
    /// its bookkeeping); the kernel's auto-tuned buffer when absent. A small
    /// one lets ALQ-S-36 block the server's sends with fewer lease changes.
    pub send_buffer: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA that signs requestor certificates.
    pub client_ca: PathBuf,
    /// Requestor certificates allowed to use Active Leasequery; all that chain
    /// to `client_ca` when absent.
    pub allowed_clients: Option<Vec<PathBuf>>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 6767)),
            dhcp: Some(SocketAddr::from(([127, 0, 0, 1], 6768))),
            server_id: Ipv4Addr::LOCALHOST,
            mode: ServerMode::BulkOnly,
            max_connections: BULK_LQ_MAX_CONNS,
            per_requestor_connections: None,
            history: 4096,
            lease_time: Duration::from_secs(3600),
            all_configured_query: true,
            suppress: Vec::new(),
            allowed_requestors: None,
            pool: vec!["192.0.2.10-192.0.2.50".to_string()],
            seed: None,
            timers: Timers::default(),
            tls: None,
            reserve_offers: true,
            send_buffer: None,
        }
    }
}

mod humantime_duration {
    use serde::{de::Error, Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        // A lease time goes on the wire in 32-bit seconds (RFC 2132 §9.2).
        let year = Duration::from_secs(365 * 24 * 3600);
        crate::session::timers::parse_duration_at_most(&text, year)
            .map_err(|e| D::Error::custom(format!("'{text}': {e}")))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("pool entry '{entry}' {why}")]
    Pool { entry: String, why: String },
    #[error("secure mode needs a [server.tls] section with cert, key and client_ca")]
    SecureWithoutTls,
    #[error("seed lease {addr}: {reason}")]
    Seed { addr: String, reason: String },
}

impl ServeConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Ok(load_toml::<ServeFile>(path)?.server)
    }

    /// Parses the text of the configuration file at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        Ok(crate::toml_load::parse_toml::<ServeFile>(path, text)?.server)
    }

    /// The configured addresses, in order.
    pub fn addresses(&self) -> Result<Vec<Ipv4Addr>, ConfigError> {
        let mut out = Vec::new();
        for entry in &self.pool {
            let bad = |why: &str| ConfigError::Pool {
                entry: entry.clone(),
                why: why.to_string(),
            };
            let not_an_address = || bad("is not an address or a first-last range");
            let (a, b) = match entry.split_once('-') {
                Some((first, last)) => {
                    let first: Ipv4Addr = first.trim().parse().map_err(|_| not_an_address())?;
                    let last: Ipv4Addr = last.trim().parse().map_err(|_| not_an_address())?;
                    (u32::from(first), u32::from(last))
                }
                None => {
                    let one: Ipv4Addr = entry.trim().parse().map_err(|_| not_an_address())?;
                    (u32::from(one), u32::from(one))
                }
            };
            if b < a {
                return Err(bad("ends before it starts"));
            }
            let count = usize::try_from(b - a)
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            if out.len().saturating_add(count) > POOL_LIMIT {
                return Err(bad(&format!(
                    "takes the pool past {POOL_LIMIT} addresses, the most it may hold"
                )));
            }
            out.extend((a..=b).map(Ipv4Addr::from));
        }
        Ok(out)
    }

    pub fn server_config(&self) -> Result<ServerConfig, ConfigError> {
        if self.mode == ServerMode::Secure && self.tls.is_none() {
            return Err(ConfigError::SecureWithoutTls);
        }
        Ok(ServerConfig {
            server_id: self.server_id,
            mode: self.mode,
            timers: self.timers,
            all_configured_query: self.all_configured_query,
            suppress: self.suppress.clone(),
            allowed_requestors: self.allowed_requestors.clone(),
            faults: Default::default(),
            variants: Default::default(),
            first_active_query: Default::default(),
        })
    }

    /// A store over the pool, tracking from `now`, with the seed leases bound.
    pub fn store(&self, now: u32) -> Result<LeaseStore, ConfigError> {
        let lease_time = u32::try_from(self.lease_time.as_secs()).unwrap_or(u32::MAX);
        let mut store = LeaseStore::new(self.addresses()?, self.history, lease_time, now);
        if let Some(path) = &self.seed {
            for lease in SeedFile::load(path)?.lease {
                let addr = lease.addr;
                let client = lease.client().map_err(|reason| ConfigError::Seed {
                    addr: addr.to_string(),
                    reason,
                })?;
                store
                    .bind(Some(addr), client, now)
                    .map_err(|e| ConfigError::Seed {
                        addr: addr.to_string(),
                        reason: e.to_string(),
                    })?;
            }
        }
        Ok(store)
    }
}

/// A lease file: `[[lease]]` tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    pub lease: Vec<SeedLease>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedLease {
    pub addr: Ipv4Addr,
    /// Hardware address as colon-separated hex, htype 1.
    pub mac: String,
    pub client_id: Option<String>,
    pub circuit_id: Option<String>,
    pub remote_id: Option<String>,
    pub relay_id: Option<String>,
}

fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    crate::wire::describe::parse_hex(text)
        .ok_or_else(|| format!("'{text}' is not colon-separated hex"))
}

impl SeedFile {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Ok(load_toml(path)?)
    }
}

impl SeedLease {
    pub fn client(&self) -> Result<Client, String> {
        Ok(Client {
            options: Vec::new(),
            htype: 1,
            chaddr: parse_hex(&self.mac)?,
            client_id: self
                .client_id
                .as_deref()
                .map(parse_hex)
                .transpose()?
                .map(Bytes::from),
            relay_info: RelayAgentInfo::from_text(
                self.circuit_id.as_deref(),
                self.remote_id.as_deref(),
                self.relay_id.as_deref(),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_fixture_binds_three_leases_with_relay_information() {
        let cfg = ServeConfig {
            seed: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/leases/three.toml")),
            ..ServeConfig::default()
        };
        let store = cfg.store(1000).unwrap();
        let active: Vec<_> = store
            .bindings()
            .filter(|b| b.state == crate::wire::DhcpState::Active)
            .collect();
        assert_eq!(active.len(), 3);
        let first = store.get(Ipv4Addr::new(192, 0, 2, 10)).unwrap();
        assert_eq!(first.chaddr, vec![2, 0, 0, 0, 0, 0x10]);
        let relay = first.relay_info.as_ref().unwrap();
        assert_eq!(relay.remote_id().map(|r| &r[..]), Some(&b"remote-A"[..]));
        assert_eq!(store.len(), 41);
    }

    #[test]
    fn pool_ranges_expand_and_bad_ones_are_named() {
        let cfg = ServeConfig {
            pool: vec!["10.0.0.1-10.0.0.3".into(), "10.0.0.9".into()],
            ..ServeConfig::default()
        };
        assert_eq!(cfg.addresses().unwrap().len(), 4);
        let bad = ServeConfig {
            pool: vec!["10.0.0.3-10.0.0.1".into()],
            ..ServeConfig::default()
        };
        assert!(bad
            .addresses()
            .unwrap_err()
            .to_string()
            .contains("10.0.0.3-10.0.0.1"));
    }
}
