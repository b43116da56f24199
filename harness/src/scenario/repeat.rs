//! Expanding `repeat` steps on loading: each item of the list gives a copy of
//! the repeated steps with its values put in, read as any other step.

use super::model::{Repeat, Step};
use serde::Deserialize;
use toml::{Table, Value};

/// Why a `repeat` did not expand: which item, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("item {item} of the repeat: {message}")]
pub struct RepeatError {
    /// 1-based.
    pub item: usize,
    pub message: String,
}

const MARK: &str = "${each.";

/// The steps `repeat` stands for, item by item, each with its words as the
/// item makes them (what a finding says the step awaited).
pub fn expand(repeat: &Repeat) -> Result<Vec<(Step, String)>, RepeatError> {
    let mut out = Vec::new();
    for (index, item) in repeat.each.iter().enumerate() {
        let error = |message: String| RepeatError {
            item: index + 1,
            message,
        };
        for raw in &repeat.steps {
            let filled = fill(raw, item).map_err(error)?;
            let words = words_of(&filled);
            let step = Step::deserialize(filled).map_err(|e| error(e.to_string()))?;
            if matches!(step, Step::Repeat(_)) {
                return Err(error("a repeat cannot hold another repeat".into()));
            }
            out.push((step, words));
        }
    }
    Ok(out)
}

/// A step table as one line of TOML: `expect = { type = "LEASEACTIVE" }`.
fn words_of(step: &Value) -> String {
    match step {
        Value::Table(t) => t
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// `value` with every `${each.KEY}` replaced by the item's value.
fn fill(value: &Value, item: &Table) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => fill_text(text, item)?,
        Value::Array(values) => Value::Array(
            values
                .iter()
                .map(|v| fill(v, item))
                .collect::<Result<_, _>>()?,
        ),
        Value::Table(table) => Value::Table(
            table
                .iter()
                .map(|(k, v)| Ok((k.clone(), fill(v, item)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn lookup<'i>(key: &str, item: &'i Table) -> Result<&'i Value, String> {
    item.get(key).ok_or_else(|| {
        let keys: Vec<&str> = item.keys().map(String::as_str).collect();
        format!(
            "${{each.{key}}} names no key of the item (it has {})",
            keys.join(", ")
        )
    })
}

fn fill_text(text: &str, item: &Table) -> Result<Value, String> {
    if let Some(key) = text.strip_prefix(MARK).and_then(|t| t.strip_suffix('}')) {
        if !key.contains('}') {
            return lookup(key, item).cloned();
        }
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let after = after.get(MARK.len()..).unwrap_or_default();
        let end = after
            .find('}')
            .ok_or_else(|| format!("'{text}' opens ${{each. without closing it"))?;
        let key = after.get(..end).unwrap_or_default();
        match lookup(key, item)? {
            Value::String(s) => out.push_str(s),
            Value::Integer(n) => out.push_str(&n.to_string()),
            other => {
                return Err(format!(
                    "${{each.{key}}} is a {} and cannot go inside text",
                    other.type_str()
                ))
            }
        }
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::Send;

    fn repeat(text: &str) -> Repeat {
        toml::from_str::<Table>(text)
            .ok()
            .and_then(|t| t.get("repeat").cloned())
            .and_then(|r| Repeat::deserialize(r).ok())
            .unwrap_or_else(|| panic!("not a repeat: {text}"))
    }

    #[test]
    fn each_item_gives_the_steps_with_its_values() {
        let r = repeat(
            r#"repeat = { each = [{ n = 1, type = "DHCPDISCOVER" }, { n = 19, type = 19 }], steps = [{ connect = { conn = "t${each.n}" } }, { send = { conn = "t${each.n}", type = "${each.type}", xid = "${each.n}" } }] }"#,
        );
        let expanded = expand(&r).unwrap();
        assert_eq!(expanded[0].1, "connect = { conn = \"t1\" }");
        let steps: Vec<Step> = expanded.into_iter().map(|(step, _)| step).collect();
        assert_eq!(steps.len(), 4);
        let sends: Vec<&Send> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Send(s) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(sends.len(), 2);
        assert_eq!(sends[0].conn, "t1");
        assert_eq!(sends[1].conn, "t19");
        assert_eq!(sends[1].kind.map(|k| u8::from(k.0)), Some(19));
        // A whole-string mark keeps the item's number a number.
        assert_eq!(
            sends[1].xid,
            Some(crate::scenario::model::Value::Number(19))
        );
    }

    #[test]
    fn a_missing_key_or_a_bad_step_names_the_item() {
        let r = repeat(
            r#"repeat = { each = [{ n = 1 }, { m = 2 }], steps = [{ connect = { conn = "t${each.n}" } }] }"#,
        );
        let err = expand(&r).unwrap_err();
        assert_eq!(err.item, 2);
        assert!(err.message.contains("${each.n} names no key"), "{err}");
        let r = repeat(
            r#"repeat = { each = [{ t = "DHCPDISCOVR" }], steps = [{ send = { type = "${each.t}" } }] }"#,
        );
        let err = expand(&r).unwrap_err();
        assert!(
            err.to_string().starts_with("item 1 of the repeat: "),
            "{err}"
        );
        assert!(err.message.contains("DHCPDISCOVR"), "{err}");
    }
}
