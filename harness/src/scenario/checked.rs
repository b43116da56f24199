//! Scenario values checked as they are read: a value `run` would reject is a
//! load error at its exact line and column (the TOML reader places serde's
//! errors), so `check` rejects it too. What depends on a variable is checked
//! for its shape here and resolved when the step runs.

use super::expr::{parse_int, terms, variable_name};
use super::model::Value;
use crate::wire::describe::parse_hex;
use crate::wire::options::option_code;
use crate::wire::DhcpState;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use std::net::Ipv4Addr;

/// `${name}`, the whole of `term`, with a name steps can set.
fn is_variable(term: &str) -> bool {
    variable_name(term).is_some_and(|name| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The words some fields take instead of a value.
const VALUE_WORDS: &[&str] = &["none", "zero", "nonzero"];

/// Whether `text` is a value expression: one of [`VALUE_WORDS`], a dotted
/// quad, or numbers and `${variables}` joined by `+` and `-`.
pub fn is_value_text(text: &str) -> bool {
    let t = text.trim();
    if VALUE_WORDS.contains(&t) || t.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    terms(t).iter().all(|(_, term)| {
        is_variable(term) || parse_int(term).is_some_and(|n| u32::try_from(n).is_ok())
    })
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => u32::try_from(n).map(Value::Number).map_err(|_| {
                D::Error::custom(format!("{n} does not fit in 32 bits (0 to 4294967295)"))
            }),
            Raw::Text(t) if is_value_text(&t) => Ok(Value::Text(t)),
            Raw::Text(t) => Err(D::Error::custom(format!(
                "'{t}' is not a value: a number, an address, \"${{name}}\" with + or - \
                 offsets, or none, zero, nonzero"
            ))),
        }
    }
}

/// Octets as hex ("02:00:00:00:00:10", "c0ffee") or a `${variable}`.
pub fn hex<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if is_variable(text.trim()) || parse_hex(&text).is_some() {
        Ok(text)
    } else {
        Err(D::Error::custom(format!(
            "'{text}' is not hex octets (\"02:00:5e\", \"c0ffee\") or a \"${{name}}\""
        )))
    }
}

/// [`hex`], when present.
pub fn optional_hex<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    hex(d).map(Some)
}

/// A DHCP state by name ("active", "ABANDONED") or number.
pub fn optional_state<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse::<DhcpState>()
        .map(|_| Some(text))
        .map_err(|e| D::Error::custom(e.to_string()))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CodeOrName {
    Code(u8),
    Name(String),
}

fn code_of<E: serde::de::Error>(c: CodeOrName) -> Result<u8, E> {
    match c {
        CodeOrName::Code(code) => Ok(code),
        CodeOrName::Name(name) => option_code(&name).ok_or_else(|| {
            E::custom(format!(
                "'{name}' is not an option name (base-time, client-id, dhcp-state, ...) or a code 0-255"
            ))
        }),
    }
}

/// An option by code or registry name ("base-time").
pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    code_of(CodeOrName::deserialize(d)?)
}

/// Options by code or registry name.
pub fn options<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    Vec::<CodeOrName>::deserialize(d)?
        .into_iter()
        .map(code_of)
        .collect()
}

/// [`options`], when present.
pub fn optional_options<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    options(d).map(Some)
}

/// How many messages an `expect` takes: at least `min`, at most `max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub min: usize,
    pub max: usize,
    /// As the scenario wrote it.
    pub text: String,
}

impl Count {
    /// "N", ">= N", "N..M", "N.." or "any".
    pub fn parse(text: &str) -> Option<Count> {
        let t = text.trim();
        let (min, max) = if t == "any" {
            (0, usize::MAX)
        } else if let Some(n) = t.strip_prefix(">=") {
            (n.trim().parse().ok()?, usize::MAX)
        } else if let Some((a, b)) = t.split_once("..") {
            let min = a.trim().parse().ok()?;
            let max = match b.trim() {
                "" => usize::MAX,
                b => b.parse().ok()?,
            };
            (min, max)
        } else {
            let n = t.parse().ok()?;
            (n, n)
        };
        (min <= max).then(|| Count {
            min,
            max,
            text: t.to_string(),
        })
    }
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(usize),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(t) => t,
        };
        Count::parse(&text).ok_or_else(|| {
            D::Error::custom(format!(
                "count '{text}' is not N, >= N, N..M (N <= M), N.. or any"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_text_takes_expressions_addresses_and_words_only() {
        for good in [
            "${x}",
            "${x} + 1",
            "${now} + 86400",
            "0x17",
            "192.0.2.10",
            "none",
            "zero",
            "7 - ${t}",
        ] {
            assert!(is_value_text(good), "{good}");
        }
        for bad in [
            "${x",
            "${} + 1",
            "192.0.2.300",
            "0x1g",
            "nonzer",
            "${x} * 2",
            "",
            "1 +",
        ] {
            assert!(!is_value_text(bad), "{bad}");
        }
    }

    #[test]
    fn counts_parse_and_an_empty_range_does_not() {
        assert_eq!(
            Count::parse(">= 2").map(|c| (c.min, c.max)),
            Some((2, usize::MAX))
        );
        assert_eq!(Count::parse("0..5").map(|c| (c.min, c.max)), Some((0, 5)));
        assert_eq!(Count::parse("3").map(|c| (c.min, c.max)), Some((3, 3)));
        assert_eq!(
            Count::parse("any").map(|c| (c.min, c.max)),
            Some((0, usize::MAX))
        );
        assert!(Count::parse("5..2").is_none());
        assert!(Count::parse("several").is_none());
    }
}
