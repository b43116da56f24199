//! Protocol timers and parameters (RFC 6926 §6.3, RFC 7724 §5.3).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The timer values a peer runs with. Defaults are the RFC values; lower values
/// are allowed for tests and declared targets (catalog ALQ-T-08).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timers {
    /// BULK_LQ_DATA_TIMEOUT: stalled read or bulk send, idle after DONE.
    #[serde(with = "humantime_serde_secs")]
    pub bulk_data: Duration,
    /// ACTIVE_LQ_RCV_TIMEOUT: requestor closes an active connection silent this long.
    #[serde(with = "humantime_serde_secs")]
    pub active_receive: Duration,
    /// ACTIVE_LQ_SEND_TIMEOUT: server closes an active connection blocked this long.
    #[serde(with = "humantime_serde_secs")]
    pub active_send: Duration,
    /// ACTIVE_LQ_IDLE_TIMEOUT: keepalive period; minimum spacing of requestor retries.
    #[serde(with = "humantime_serde_secs")]
    pub active_idle: Duration,
}

/// BULK_LQ_MAX_CONNS default (RFC 6926 §6.3).
pub const BULK_LQ_MAX_CONNS: usize = 10;

impl Default for Timers {
    fn default() -> Self {
        Timers {
            bulk_data: Duration::from_secs(300),
            active_receive: Duration::from_secs(120),
            active_send: Duration::from_secs(120),
            active_idle: Duration::from_secs(60),
        }
    }
}

impl Timers {
    /// Each timer by the name RFC 6926 §6.3 and RFC 7724 §5.3 give it.
    pub fn by_name(&self) -> [(&'static str, Duration); 4] {
        [
            ("BULK_LQ_DATA_TIMEOUT", self.bulk_data),
            ("ACTIVE_LQ_RCV_TIMEOUT", self.active_receive),
            ("ACTIVE_LQ_SEND_TIMEOUT", self.active_send),
            ("ACTIVE_LQ_IDLE_TIMEOUT", self.active_idle),
        ]
    }

    /// Every timer divided by `factor` (at least 1 ms), for real-time test runs.
    pub fn scaled_down(self, factor: u32) -> Self {
        let f = factor.max(1);
        let scale = |d: Duration| (d / f).max(Duration::from_millis(1));
        Timers {
            bulk_data: scale(self.bulk_data),
            active_receive: scale(self.active_receive),
            active_send: scale(self.active_send),
            active_idle: scale(self.active_idle),
        }
    }
}

/// The longest duration any input may give (a timer, a settle time, a
/// `within`): far above the RFC's 300 s, and small enough that no instant it
/// is added to can overflow.
pub const DURATION_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// A humantime duration ("300s", "2m", "150ms") of at most `limit`; the
/// error says what is wrong with `text`, for the caller to name it.
pub fn parse_duration_at_most(text: &str, limit: Duration) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if d > limit {
        return Err(format!(
            "longer than {}, the most a duration may be",
            humantime::format_duration(limit)
        ));
    }
    Ok(d)
}

/// [`parse_duration_at_most`] [`DURATION_LIMIT`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_duration_at_most(text, DURATION_LIMIT)
}

/// Durations written as humantime strings ("300s", "2m", "150ms") in TOML.
mod humantime_serde_secs {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_duration(&text).map_err(|e| D::Error::custom(format!("'{text}': {e}")))
    }
}
