//! The requirement catalog (docs/leasequery-requirements.md §4): every testable
//! requirement with its RFC reference, level and class. Verdicts cite these.

use std::collections::BTreeMap;
use std::sync::OnceLock;

const CATALOG_MD: &str = include_str!("../../docs/leasequery-requirements.md");

/// How a requirement is graded when broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strength {
    /// An upper-case MUST / MUST NOT: a failure.
    Must,
    /// SHOULD, SHOULD NOT or a lower-case obligation (AMB-06): a warning, a
    /// failure under `--strict`.
    Should,
    /// MAY: informational only.
    May,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Requirement {
    pub id: String,
    /// RFC reference, e.g. "7724 §8.2".
    pub reference: String,
    /// Level as the catalog writes it, e.g. "MUST + SHOULD NOT".
    pub level: String,
    pub text: String,
    /// The catalog's test idea, with its "Fail:" clause where it has one.
    pub test_idea: String,
    /// Test classes: F, S, C, T, A, D.
    pub class: String,
}

impl Requirement {
    /// The strongest obligation the level names: any upper-case MUST makes a
    /// broken check a failure; SHOULD or a lower-case obligation a warning;
    /// MAY alone only information.
    pub fn strength(&self) -> Strength {
        let words: Vec<&str> = self
            .level
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
            .collect();
        if words.contains(&"MUST") {
            Strength::Must
        } else if words.iter().any(|w| *w == "SHOULD" || w.starts_with("lc-")) {
            Strength::Should
        } else {
            Strength::May
        }
    }

    /// Documentation-only requirements get no automated verdict.
    pub fn black_box(&self) -> bool {
        !self.class.contains('D')
    }

    /// The RFC section for grouping, e.g. "RFC 7724 §8.2".
    pub fn rfc_section(&self) -> String {
        let first = self.reference.split(['(', ',']).next().unwrap_or("").trim();
        format!("RFC {first}")
    }
}

impl Requirement {
    /// Where the first section the reference names is on rfc-editor.org,
    /// e.g. "7724 §7.4.1" to `.../rfc7724.html#section-7.4.1`.
    pub fn rfc_link(&self) -> Option<String> {
        let (rfc, rest) = self.reference.trim().split_once(' ')?;
        if rfc.is_empty() || !rfc.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let section: String = rest
            .trim_start()
            .strip_prefix('§')
            .unwrap_or("")
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let section = section.trim_end_matches('.');
        let page = format!("https://www.rfc-editor.org/rfc/rfc{rfc}.html");
        Some(if section.is_empty() {
            page
        } else {
            format!("{page}#section-{section}")
        })
    }
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

fn is_requirement_id(id: &str) -> bool {
    let prefixes = ["ALQ-S-", "ALQ-R-", "BLQ-S-", "BLQ-R-", "LQ-S-", "WIRE-"];
    prefixes.iter().any(|p| {
        id.strip_prefix(p)
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    })
}

fn parse(markdown: &str) -> BTreeMap<String, Requirement> {
    let mut out = BTreeMap::new();
    for line in markdown.lines().filter(|l| l.starts_with("| ")) {
        let c = cells(line);
        // A requirement's row has its reference, level and text; the
        // two-column tables after the catalog (§4.9) name requirements too.
        let Some(id) = c.first().filter(|id| is_requirement_id(id) && c.len() >= 4) else {
            continue;
        };
        let text = c.get(3).cloned().unwrap_or_default();
        let (test_idea, class) = if id.starts_with("WIRE-") {
            (String::new(), "F".to_string())
        } else {
            (
                c.get(4).cloned().unwrap_or_default(),
                c.get(5).cloned().unwrap_or_default(),
            )
        };
        out.insert(
            id.clone(),
            Requirement {
                id: id.clone(),
                reference: c.get(1).cloned().unwrap_or_default(),
                level: c.get(2).cloned().unwrap_or_default(),
                text,
                test_idea,
                class,
            },
        );
    }
    out
}

/// The whole catalog, keyed by requirement ID.
pub fn catalog() -> &'static BTreeMap<String, Requirement> {
    static CATALOG: OnceLock<BTreeMap<String, Requirement>> = OnceLock::new();
    CATALOG.get_or_init(|| parse(CATALOG_MD))
}

pub fn requirement(id: &str) -> Option<&'static Requirement> {
    catalog().get(id)
}

#[cfg(test)]
mod link_tests {
    use super::*;

    #[test]
    fn a_reference_links_to_its_first_section_on_rfc_editor_org() {
        let link = |id: &str| requirement(id).and_then(Requirement::rfc_link);
        // "7724 §7.4.1 (server duty implied)" and "6926 §7.2, §8.2".
        assert_eq!(
            link("ALQ-S-27").as_deref(),
            Some("https://www.rfc-editor.org/rfc/rfc7724.html#section-7.4.1")
        );
        assert_eq!(
            link("WIRE-01").as_deref(),
            Some("https://www.rfc-editor.org/rfc/rfc6926.html#section-6.1")
        );
        let bare = Requirement {
            id: "X".into(),
            reference: "4388".into(),
            level: "MUST".into(),
            text: String::new(),
            test_idea: String::new(),
            class: String::new(),
        };
        assert_eq!(bare.rfc_link(), None, "no section and no space: no link");
        let no_section = Requirement {
            reference: "4388 (whole)".into(),
            ..bare
        };
        assert_eq!(
            no_section.rfc_link().as_deref(),
            Some("https://www.rfc-editor.org/rfc/rfc4388.html")
        );
    }
}

/// Each requirement with a value, a time, a bound, an order or a set, and
/// the edge its checks hold it to (docs/leasequery-requirements.md §4.9),
/// in the catalog's order.
pub fn edges() -> Vec<(&'static str, &'static str)> {
    CATALOG_MD
        .split_once("### 4.9 Edges")
        .map_or("", |(_, rest)| rest.split("\n## ").next().unwrap_or(""))
        .lines()
        .filter_map(|l| {
            let mut cells = l.trim().trim_matches('|').split(" | ").map(str::trim);
            let id = cells.next()?;
            let edge = cells.next()?;
            requirement(id).is_some().then_some((id, edge))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The count §4.8's table gives a group (or the total).
    fn stated(label: &str) -> usize {
        CATALOG_MD
            .lines()
            .find(|l| l.starts_with(&format!("| {label} |")))
            .and_then(|l| l.rsplit('|').nth(1))
            .and_then(|n| n.trim().trim_matches('*').parse().ok())
            .unwrap_or_else(|| panic!("§4.8 states no count for {label}"))
    }

    #[test]
    fn catalog_has_the_requirements_section_4_8_counts() {
        let c = catalog();
        let count = |p: &str| c.keys().filter(|k| k.starts_with(p)).count();
        for (prefix, label) in [
            ("ALQ-S-", "ALQ-S (RFC 7724 server)"),
            ("ALQ-R-", "ALQ-R (RFC 7724 requestor)"),
            ("BLQ-S-", "BLQ-S (RFC 6926 server)"),
            ("BLQ-R-", "BLQ-R (RFC 6926 requestor)"),
            ("LQ-S-", "LQ-S (RFC 4388 inherited)"),
            ("WIRE-", "WIRE"),
        ] {
            assert_eq!(count(prefix), stated(label), "{label}");
        }
        assert_eq!(c.len(), stated("**Normative requirements total**"));
        assert_eq!(c.len(), 140);
        let edges = edges();
        assert!(edges.len() > 30, "{edges:?}");
        assert!(edges.contains(&(
            "LQ-S-03",
            "lease time ≤ what is left of the lease the target granted, counted in whole seconds from the grant to the query"
        )));
        assert_eq!(c.values().filter(|r| !r.black_box()).count(), 5);
    }

    #[test]
    fn levels_grade_as_the_catalog_says() {
        let get = |id: &str| requirement(id).unwrap_or_else(|| panic!("{id}"));
        assert_eq!(get("ALQ-S-26").strength(), Strength::Must);
        assert_eq!(get("ALQ-S-19").strength(), Strength::Should);
        assert_eq!(
            get("ALQ-S-24").strength(),
            Strength::Should,
            "lower-case 'will' (AMB-06)"
        );
        assert_eq!(get("WIRE-05").strength(), Strength::Must);
        assert_eq!(get("ALQ-S-16").rfc_section(), "RFC 7724 §8.1.1");
        assert_eq!(
            get("ALQ-R-01").strength(),
            Strength::Should,
            "MAY + lc-should"
        );
        assert_eq!(get("ALQ-S-43").strength(), Strength::Must, "lc-must / MUST");
        assert_eq!(get("BLQ-S-10").strength(), Strength::Must);
        assert_eq!(get("ALQ-R-24").class, "D");
    }
}
