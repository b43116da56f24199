//! Expressions inside scenario files: durations with symbolic protocol timers
//! ("ACTIVE_LQ_IDLE_TIMEOUT + 5s") and values with variables ("${base} + 1").

use super::model::Value;
use crate::session::timers::Timers;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

/// The names a duration expression may use: the protocol timers (RFC 6926
/// §6.3, RFC 7724 §5.3), then the target's settle time.
pub const DURATION_NAMES: &[&str] = &[
    "BULK_LQ_DATA_TIMEOUT",
    "ACTIVE_LQ_RCV_TIMEOUT",
    "ACTIVE_LQ_SEND_TIMEOUT",
    "ACTIVE_LQ_IDLE_TIMEOUT",
    "SETTLE",
];

/// What the names in a duration expression stand for on one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durations {
    pub timers: Timers,
    /// How long the target takes to act on what it was just sent (a query,
    /// a trigger, a reset): `SETTLE`.
    pub settle: Duration,
}

/// The settle time of a target that declares none.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(1);

impl Default for Durations {
    fn default() -> Self {
        Durations {
            timers: Timers::default(),
            settle: DEFAULT_SETTLE,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    #[error("'{0}' is not a duration or timer name (names: {names})", names = DURATION_NAMES.join(", "))]
    BadDuration(String),
    #[error("'{0}' comes to more than 8 days, the most a duration may be")]
    TooLong(String),
    #[error("variable '{0}' is not set (capture it first)")]
    Unset(String),
    #[error("'{0}' is not a number, address or variable")]
    BadValue(String),
    #[error("variable '{0}' holds {1}, not {2}")]
    WrongKind(String, &'static str, &'static str),
}

/// A value a scenario captured or a trigger produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Number(u32),
    Address(Ipv4Addr),
    Addresses(Vec<Ipv4Addr>),
    /// Octets, e.g. a hardware address or client identifier.
    Bytes(Vec<u8>),
}

impl std::fmt::Display for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Var::Number(n) => write!(f, "{n}"),
            Var::Address(a) => write!(f, "{a}"),
            Var::Addresses(all) => {
                let shown: Vec<String> = all.iter().map(Ipv4Addr::to_string).collect();
                f.write_str(&shown.join(", "))
            }
            Var::Bytes(b) => f.write_str(&crate::wire::describe::hex(b, ":")),
        }
    }
}

impl Var {
    fn kind(&self) -> &'static str {
        match self {
            Var::Number(_) => "a number",
            Var::Address(_) => "an address",
            Var::Addresses(_) => "a list of addresses",
            Var::Bytes(_) => "octets",
        }
    }
}

pub type Vars = HashMap<String, Var>;

fn named(name: &str, names: &Durations) -> Option<Duration> {
    if name == "SETTLE" {
        return Some(names.settle);
    }
    names
        .timers
        .by_name()
        .into_iter()
        .find(|(timer, _)| *timer == name)
        .map(|(_, d)| d)
}

/// Splits "a + b - c" into signed terms.
pub(super) fn terms(expr: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut negative = false;
    let mut current = String::new();
    for ch in expr.chars() {
        match ch {
            '+' | '-' if !current.trim().is_empty() => {
                out.push((negative, current.trim().to_string()));
                current.clear();
                negative = ch == '-';
            }
            _ => current.push(ch),
        }
    }
    out.push((negative, current.trim().to_string()));
    out
}

/// Evaluates a duration expression against the target's timers and settle time.
pub fn duration(expr: &str, names: &Durations) -> Result<Duration, ExprError> {
    let bad = || ExprError::BadDuration(expr.to_string());
    let mut total: i128 = 0;
    for (negative, term) in terms(expr) {
        // `k * NAME` (k a whole or decimal number, thousandths at most) or
        // `NAME / k` (k whole): a share of a timer that scales with it.
        let (thousandths, divisor, name) = match (term.split_once('*'), term.split_once('/')) {
            (Some((k, n)), None) => (thousandths_of(k).ok_or_else(bad)?, 1, n.trim()),
            (None, Some((n, k))) => {
                let k = k
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|k| *k > 0)
                    .ok_or_else(bad)?;
                (1000, k, n.trim())
            }
            (None, None) => (1000, 1, term.as_str()),
            (Some(_), Some(_)) => return Err(bad()),
        };
        let d = match named(name, names) {
            Some(d) => d,
            None => humantime::parse_duration(name).map_err(|_| bad())?,
        };
        let ms = i128::try_from(d.as_millis())
            .ok()
            .and_then(|ms| ms.checked_mul(i128::from(thousandths)))
            .map(|ms| ms / 1000 / i128::from(divisor))
            .ok_or_else(bad)?;
        total = total.saturating_add(if negative { -ms } else { ms });
    }
    if total > EXPRESSION_LIMIT.as_millis() as i128 {
        return Err(ExprError::TooLong(expr.to_string()));
    }
    u64::try_from(total.max(0))
        .map(Duration::from_millis)
        .map_err(|_| bad())
}

/// `k` as thousandths: "3" is 3000, "0.9" is 900, "0.125" is 125; `None`
/// for anything else, a fourth decimal or a factor past a million.
fn thousandths_of(k: &str) -> Option<u64> {
    let k = k.trim();
    let (whole, fraction) = k.split_once('.').unwrap_or((k, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.len() > 3 {
        return None;
    }
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction: u64 = format!("{fraction:0<3}").parse().ok()?;
    whole
        .checked_mul(1000)?
        .checked_add(fraction)
        .filter(|t| *t <= 1_000_000_000)
}

/// The longest a duration expression may come to: a few timers of the
/// longest an input may give, summed or multiplied.
pub const EXPRESSION_LIMIT: Duration = Duration::from_secs(8 * 24 * 3600);

/// A duration as a vendor reads it, in the units scenarios write: seconds
/// to the millisecond ("60s", "59.998s"), milliseconds below a second
/// ("250ms"), microseconds below that ("899µs").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown(pub Duration);

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.0;
        if d >= Duration::from_secs(1) {
            let millis = d.subsec_millis();
            if millis == 0 {
                write!(f, "{}s", d.as_secs())
            } else {
                let fraction = format!("{millis:03}");
                write!(f, "{}.{}s", d.as_secs(), fraction.trim_end_matches('0'))
            }
        } else if d >= Duration::from_millis(1) {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{}µs", d.as_micros())
        }
    }
}

/// Checks a duration expression's names without evaluating it.
pub fn check_duration(expr: &str) -> Result<(), ExprError> {
    duration(expr, &Durations::default()).map(|_| ())
}

fn lookup<'a>(name: &str, vars: &'a Vars) -> Result<&'a Var, ExprError> {
    vars.get(name)
        .ok_or_else(|| ExprError::Unset(name.to_string()))
}

pub(super) fn variable_name(term: &str) -> Option<&str> {
    term.strip_prefix("${").and_then(|t| t.strip_suffix('}'))
}

/// Evaluates a numeric value: a number, or "${var}" terms with offsets.
pub fn number(value: &Value, vars: &Vars) -> Result<u32, ExprError> {
    let text = match value {
        Value::Number(n) => return Ok(*n),
        Value::Text(t) => t,
    };
    let mut total: i64 = 0;
    for (negative, term) in terms(text) {
        let v = match variable_name(&term) {
            Some(name) => match lookup(name, vars)? {
                Var::Number(n) => i64::from(*n),
                Var::Address(a) => i64::from(u32::from(*a)),
                other => {
                    return Err(ExprError::WrongKind(
                        name.to_string(),
                        other.kind(),
                        "a number",
                    ))
                }
            },
            None => parse_int(&term).ok_or_else(|| ExprError::BadValue(text.clone()))?,
        };
        total += if negative { -v } else { v };
    }
    u32::try_from(total.clamp(0, i64::from(u32::MAX)))
        .map_err(|_| ExprError::BadValue(text.clone()))
}

pub(super) fn parse_int(text: &str) -> Option<i64> {
    match text.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Evaluates an address: dotted quad or "${var}".
pub fn address(value: &Value, vars: &Vars) -> Result<Ipv4Addr, ExprError> {
    match value {
        Value::Number(n) => Ok(Ipv4Addr::from(*n)),
        Value::Text(t) => match variable_name(t.trim()) {
            Some(name) => match lookup(name, vars)? {
                Var::Address(a) => Ok(*a),
                Var::Number(n) => Ok(Ipv4Addr::from(*n)),
                Var::Addresses(list) => list.first().copied().ok_or_else(|| {
                    ExprError::WrongKind(name.to_string(), "an empty list", "an address")
                }),
                other @ Var::Bytes(_) => Err(ExprError::WrongKind(
                    name.to_string(),
                    other.kind(),
                    "an address",
                )),
            },
            None => t.trim().parse().map_err(|_| ExprError::BadValue(t.clone())),
        },
    }
}

/// Evaluates octets: colon-separated or plain hex, or "${var}".
pub fn bytes(text: &str, vars: &Vars) -> Result<Vec<u8>, ExprError> {
    if let Some(name) = variable_name(text.trim()) {
        return match lookup(name, vars)? {
            Var::Bytes(b) => Ok(b.clone()),
            other => Err(ExprError::WrongKind(
                name.to_string(),
                other.kind(),
                "octets",
            )),
        };
    }
    crate::wire::describe::parse_hex(text).ok_or_else(|| ExprError::BadValue(text.to_string()))
}

/// Evaluates a list of addresses: "${var}".
pub fn addresses(text: &str, vars: &Vars) -> Result<Vec<Ipv4Addr>, ExprError> {
    let name = variable_name(text.trim()).ok_or_else(|| ExprError::BadValue(text.to_string()))?;
    match lookup(name, vars)? {
        Var::Addresses(list) => Ok(list.clone()),
        Var::Address(a) => Ok(vec![*a]),
        other => Err(ExprError::WrongKind(
            name.to_string(),
            other.kind(),
            "a list of addresses",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_show_in_the_units_scenarios_write() {
        let shown = |d: Duration| Shown(d).to_string();
        assert_eq!(shown(Duration::from_secs(60)), "60s");
        assert_eq!(shown(Duration::from_millis(59_998)), "59.998s");
        assert_eq!(shown(Duration::from_millis(1_500)), "1.5s");
        assert_eq!(shown(Duration::from_nanos(1_000_999_999)), "1s");
        assert_eq!(shown(Duration::from_millis(250)), "250ms");
        assert_eq!(shown(Duration::from_micros(899)), "899µs");
        assert_eq!(shown(Duration::ZERO), "0µs");
    }

    #[test]
    fn a_timer_scales_by_a_decimal_factor_or_a_whole_divisor() {
        let t = Durations::default();
        let ms = |e: &str| duration(e, &t).map(|d| d.as_millis());
        // BULK_LQ_DATA_TIMEOUT is 300 s by default.
        assert_eq!(ms("0.9 * BULK_LQ_DATA_TIMEOUT"), Ok(270_000));
        assert_eq!(ms("BULK_LQ_DATA_TIMEOUT / 150"), Ok(2_000));
        assert_eq!(ms("0.125 * 8s + 1s"), Ok(2_000));
        assert_eq!(ms("3 * 2s"), Ok(6_000));
        for bad in [
            "0.0001 * 1s",
            "1s / 0",
            "1s / 1.5",
            ". * 1s",
            "2 * 1s / 2",
            "-1 * 1s",
        ] {
            assert!(duration(bad, &t).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_huge_timer_multiple_is_an_error_not_an_overflow() {
        let t = Durations::default();
        // The product passes u64::MAX seconds: multiplying would panic.
        assert!(duration("4294967295 * 5000000000000000000s", &t).is_err());
        assert!(check_duration("4294967295 * 5000000000000000000s").is_err());
    }

    #[test]
    fn durations_add_timers_and_literals() {
        let t = Durations::default();
        assert_eq!(
            duration("ACTIVE_LQ_IDLE_TIMEOUT", &t),
            Ok(Duration::from_secs(60))
        );
        assert_eq!(
            duration("BULK_LQ_DATA_TIMEOUT + 10s", &t),
            Ok(Duration::from_secs(310))
        );
        assert_eq!(
            duration("ACTIVE_LQ_IDLE_TIMEOUT - 1s", &t),
            Ok(Duration::from_secs(59))
        );
        assert_eq!(
            duration("2 * ACTIVE_LQ_IDLE_TIMEOUT + 500ms", &t),
            Ok(Duration::from_millis(120_500))
        );
        assert!(duration("ACTIVE_LQ_IDL_TIMEOUT", &t).is_err());
    }

    #[test]
    fn settle_is_the_targets() {
        let fast = Durations {
            settle: Duration::from_millis(250),
            ..Durations::default()
        };
        assert_eq!(duration("SETTLE", &fast), Ok(Duration::from_millis(250)));
        assert_eq!(
            duration("2 * SETTLE", &fast),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(
            duration("SETTLE", &Durations::default()),
            Ok(Duration::from_secs(1))
        );
    }

    #[test]
    fn numbers_resolve_variables_and_offsets() {
        let mut vars = Vars::new();
        vars.insert("base".into(), Var::Number(1000));
        assert_eq!(number(&Value::Text("${base} + 5".into()), &vars), Ok(1005));
        assert_eq!(number(&Value::Text("${base} - 1".into()), &vars), Ok(999));
        assert_eq!(number(&Value::Text("0x51".into()), &vars), Ok(0x51));
        assert_eq!(
            number(&Value::Text("${nope}".into()), &vars),
            Err(ExprError::Unset("nope".into()))
        );
    }
}
