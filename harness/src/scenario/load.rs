//! Loading and validating scenario files. Every error names the file and, where
//! it can, the line and column, plus the closest valid name.

use super::expr::{check_duration, DURATION_NAMES};
use super::model::{Outcome, Role, Scenario, ServerCertificate, StatusName, Step, StepSource};
use super::repeat::expand;
use crate::catalog::requirement;
use crate::toml_load::{edit_distance, line_column, parse_toml, LoadError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot list scenarios in {}: {error}", path.display())]
    List {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} leads to {}, a folder the scenario walk was in already (a link loop)", path.display(), resolved.display())]
    Loop { path: PathBuf, resolved: PathBuf },
    #[error("scenario id '{id}' is used by both {} and {}", first.display(), second.display())]
    DuplicateId {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
}

/// A scenario and the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub path: PathBuf,
    pub scenario: Scenario,
}

fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle).map_or(1, |at| line_column(text, at).0)
}

/// Lease changes one trigger may ask for: each is a DHCP exchange with the
/// target, so more would keep a scenario running for hours.
const TRIGGER_CHANGE_LIMIT: usize = 1_000_000;

/// The line of the `index`th (0-based) `[[step]]` header.
fn line_of_step(text: &str, index: usize) -> usize {
    text.match_indices("[[step]]")
        .nth(index)
        .map_or(1, |(at, _)| line_column(text, at).0)
}

/// The longest a step's words are quoted in a finding.
const WORDS_LIMIT: usize = 400;

/// The `index`th (0-based) step as the file writes it: the line its body
/// starts on (the `[[step]]` header's when it has none), and the lines after
/// the header up to the next table, comments and blank lines left out, on
/// one line.
fn step_source(text: &str, index: usize) -> StepSource {
    let header_line = line_of_step(text, index);
    let Some((at, header)) = text.match_indices("[[step]]").nth(index) else {
        return StepSource::default();
    };
    let body = text.get(at + header.len()..).unwrap_or_default();
    let lines: Vec<(usize, &str)> = body
        .lines()
        .map(str::trim)
        .enumerate()
        .take_while(|(i, l)| *i == 0 || !l.starts_with('['))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let words: Vec<&str> = lines.iter().map(|(_, l)| *l).collect();
    StepSource {
        // The header's own line is body line 0.
        line: lines.first().map_or(header_line, |(i, _)| header_line + i),
        words: shorten(&words.join(" ")),
    }
}

fn shorten(words: &str) -> String {
    match words.char_indices().nth(WORDS_LIMIT) {
        Some((cut, _)) => format!("{}...", &words[..cut]),
        None => words.to_string(),
    }
}

fn closest_timer(bad: &str) -> Option<&'static str> {
    bad.split(['+', '-', '*', ' '])
        .filter(|t| !t.is_empty())
        .flat_map(|t| {
            DURATION_NAMES
                .iter()
                .filter(move |n| t != **n)
                .map(move |n| (edit_distance(&t.to_ascii_uppercase(), n), *n))
        })
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, n)| n)
}

fn durations(step: &Step) -> Vec<&str> {
    let mut out = Vec::new();
    match step {
        Step::Accept(a) => out.extend([a.within.as_deref(), a.not_before.as_deref()]),
        Step::Expect(e) | Step::Check(e) => {
            out.extend([e.within.as_deref(), e.not_before.as_deref()])
        }
        Step::ExpectClose(e) => out.push(e.within.as_deref()),
        Step::ExpectSilence(e) => out.push(Some(e.duration.as_str())),
        Step::Wait(w) => out.push(Some(w.duration.as_str())),
        Step::Send(s) => {
            if let Some(t) = &s.trickle {
                out.extend([Some(t.every.as_str()), Some(t.duration.as_str())]);
            }
        }
        _ => {}
    }
    out.into_iter().flatten().collect()
}

/// Parses and validates one scenario file's text.
pub fn parse_scenario(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let mut scenario: Scenario = parse_toml(path, text)?;
    let invalid = |needle: &str, message: String| ScenarioError::Invalid {
        path: path.to_path_buf(),
        line: line_of(text, needle),
        message,
    };
    let mut steps = Vec::with_capacity(scenario.steps.len());
    let mut sources = Vec::with_capacity(scenario.steps.len());
    for (index, step) in std::mem::take(&mut scenario.steps).into_iter().enumerate() {
        let source = step_source(text, index);
        let line = source.line;
        match step {
            Step::Repeat(r) => {
                let expanded = expand(&r).map_err(|e| ScenarioError::Invalid {
                    path: path.to_path_buf(),
                    line: line_of_step(text, index),
                    message: format!("step {}: {e}", index + 1),
                })?;
                for (step, words) in expanded {
                    steps.push(step);
                    sources.push(StepSource {
                        line,
                        words: shorten(&words),
                    });
                }
            }
            other => {
                steps.push(other);
                sources.push(source);
            }
        }
    }
    scenario.steps = steps;
    scenario.sources = sources;
    scenario.file = path.display().to_string();
    if scenario.steps.is_empty() {
        return Err(invalid(
            "id",
            "a scenario needs at least one [[step]]".into(),
        ));
    }
    if scenario.covers.is_empty() {
        return Err(invalid(
            "covers",
            "covers must name at least one requirement".into(),
        ));
    }
    for id in &scenario.covers {
        if requirement(id).is_none() {
            return Err(invalid(
                id,
                format!("covers names '{id}', which is not in the requirement catalog"),
            ));
        }
    }
    if let Err(e) = crate::file_names::check(&scenario.id) {
        return Err(invalid(
            "id",
            format!(
                "id '{}' {e}: it names the scenario's files in the report",
                scenario.id.escape_debug()
            ),
        ));
    }
    let id_requirement = scenario.id.split('-').take(3).collect::<Vec<_>>().join("-");
    let id_requirement2 = scenario.id.split('-').take(2).collect::<Vec<_>>().join("-");
    if requirement(&id_requirement).is_none() && requirement(&id_requirement2).is_none() {
        return Err(invalid(
            "id",
            format!(
                "id '{}' must start with the requirement it tests, e.g. ALQ-S-26-catch-up",
                scenario.id
            ),
        ));
    }
    for (index, step) in scenario.steps.iter().enumerate() {
        let n = index + 1;
        for expr in durations(step) {
            match check_duration(expr) {
                Ok(()) => {}
                Err(too_long @ crate::scenario::expr::ExprError::TooLong(_)) => {
                    return Err(invalid(expr, format!("step {n}: {too_long}")));
                }
                Err(_) => {
                    let hint = closest_timer(expr)
                        .map(|t| format!("; did you mean {t}?"))
                        .unwrap_or_default();
                    return Err(invalid(
                        expr,
                        format!("step {n}: '{expr}' is not a duration or timer name{hint}"),
                    ));
                }
            }
        }
        for req in step.judges().into_iter().chain(step.relies_on()) {
            if requirement(req).is_none() {
                return Err(invalid(
                    req,
                    format!("step {n}: requirement '{req}' is not in the catalog"),
                ));
            }
        }
        if let (Some(relied), Some(judged)) = (step.relies_on(), step.judges().first()) {
            return Err(invalid(
                relied,
                format!(
                    "step {n}: relies-on is for a set-up step; this one judges '{judged}', \
                     so a breach is a finding on it"
                ),
            ));
        }
        if let Step::Send(first) = step {
            let next_sends_there = matches!(
                scenario.steps.get(index + 1),
                Some(Step::Send(next)) if next.conn == first.conn
            );
            if first.with_next && !next_sends_there {
                return Err(invalid(
                    "with-next",
                    format!(
                        "step {n}: a send with with-next = true must be followed by a send on \
                         connection '{}'",
                        first.conn
                    ),
                ));
            }
        }
        if let Step::InconclusiveIf(i) = step {
            // Exactly one of the two conditions.
            let by_status = matches!(i.status, Some(StatusName(Some(_))));
            let by_options = !i.lacks.is_empty();
            if by_status == by_options {
                return Err(invalid(
                    "inconclusive-if",
                    format!(
                        "step {n}: inconclusive-if needs one condition: a status (not none) or \
                         lacks = [options]"
                    ),
                ));
            }
            let about = i.about.as_ref().map(|r| r.as_slice()).unwrap_or_default();
            if let Some(id) = about.iter().find(|id| !scenario.covers.contains(id)) {
                return Err(invalid(
                    id,
                    format!(
                        "step {n}: inconclusive-if is about '{id}', which covers does not name"
                    ),
                ));
            }
        }
        if let Some(first) = step.judges().first() {
            let level = |id: &str| requirement(id).map(|r| r.strength());
            if let Some(other) = step
                .decided_alike()
                .iter()
                .find(|other| level(other) != level(first))
            {
                return Err(invalid(
                    other,
                    format!(
                        "step {n}: requirement '{other}' is listed with '{first}', of another \
                         level; the findings on the first requirement are made on the others \
                         as they are, so they must share one level"
                    ),
                ));
            }
        }
        match (step, scenario.role) {
            (Step::Connect(_) | Step::StartTls(_) | Step::Trigger(_), Role::Server) => {
                return Err(invalid(
                    "connect",
                    format!(
                        "step {n}: connect, start-tls and trigger are for role = \"requestor\""
                    ),
                ));
            }
            (Step::Accept(_), Role::Requestor) => {
                return Err(invalid(
                    "accept",
                    format!("step {n}: accept is for role = \"server\""),
                ));
            }
            _ => {}
        }
        if let Step::ExpectAddresses(e) = step {
            if e.latest_as.is_some() && e.xid.is_none() {
                return Err(invalid(
                    "latest-as",
                    format!("step {n}: latest-as is per query: add xid"),
                ));
            }
        }
        if let Step::StartTls(t) = step {
            if t.version.is_none() && t.cert.is_none() {
                return Err(invalid(
                    "start-tls",
                    format!("step {n}: start-tls needs cert = \"client\", \"other\", \"untrusted\" or \"none\""),
                ));
            }
            if t.version.is_some() && t.expect != Outcome::Fail {
                return Err(invalid(
                    "version",
                    format!(
                        "step {n}: a TLS version below 1.2 is offered to be refused: add expect = \"fail\""
                    ),
                ));
            }
        }
        if let Step::Trigger(t) = step {
            if t.fill.is_some() && t.repeat.is_some() {
                return Err(invalid(
                    "fill",
                    format!("step {n}: a trigger takes repeat or fill, not both"),
                ));
            }
            let changes = [t.bind, t.renew, t.release, t.decline]
                .iter()
                .try_fold(0usize, |sum, n| sum.checked_add(n.unwrap_or(0)))
                .and_then(|per_round| per_round.checked_mul(t.repeat.unwrap_or(1).max(1)));
            if changes == Some(0) && !t.reload {
                return Err(invalid(
                    "trigger",
                    format!("step {n}: a trigger must bind, renew, release, decline or reload"),
                ));
            }
            if changes.is_none_or(|c| c > TRIGGER_CHANGE_LIMIT) {
                return Err(invalid(
                    "trigger",
                    format!(
                        "step {n}: a trigger makes at most {TRIGGER_CHANGE_LIMIT} lease changes \
                         (binds, renewals, releases and declines, times repeat)"
                    ),
                ));
            }
        }
        if let Step::ServeTls(t) = step {
            if t.cert == ServerCertificate::Garbage && t.expect == Outcome::Ok {
                return Err(invalid(
                    "garbage",
                    format!(
                        "step {n}: serve-tls with cert = \"garbage\" cannot expect a handshake \
                         to succeed; say expect = \"fail\""
                    ),
                ));
            }
        }
        let defined = match step {
            Step::Capture(c) => Some(&c.into),
            Step::Trigger(t) => t.into.as_ref(),
            _ => None,
        };
        if let Some(name) = defined {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            if !valid {
                return Err(invalid(
                    name,
                    format!("step {n}: variable name '{name}' must be letters, digits and _"),
                ));
            }
        }
    }
    Ok(scenario)
}

/// Loads one scenario file.
pub fn load_scenario(path: &Path) -> Result<LoadedScenario, ScenarioError> {
    let text = crate::toml_load::read_input(path)?;
    Ok(LoadedScenario {
        path: path.to_path_buf(),
        scenario: parse_scenario(path, &text)?,
    })
}

/// Appends every `*.toml` below `dir` to `out`; `entered` holds the folders
/// the walk has been in (resolved), so a link back into one is an error and
/// not a walk without end.
fn collect(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    entered: &mut BTreeSet<PathBuf>,
) -> Result<(), ScenarioError> {
    let list = |error| ScenarioError::List {
        path: dir.to_path_buf(),
        error,
    };
    let resolved = std::fs::canonicalize(dir).map_err(list)?;
    if !entered.insert(resolved.clone()) {
        return Err(ScenarioError::Loop {
            path: dir.to_path_buf(),
            resolved,
        });
    }
    let entries = std::fs::read_dir(dir).map_err(list)?;
    for entry in entries {
        let entry = entry.map_err(|error| ScenarioError::List {
            path: dir.to_path_buf(),
            error,
        })?;
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out, entered)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Every `*.toml` under `dir`, sorted by path; ids must be unique.
pub fn load_dir(dir: &Path) -> Result<Vec<LoadedScenario>, ScenarioError> {
    let mut paths = Vec::new();
    collect(dir, &mut paths, &mut BTreeSet::new())?;
    paths.sort();
    unique(paths.iter().map(|p| load_scenario(p)))
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_scenarios.rs"));
}

/// The scenarios built into the binary (the project's `scenarios/` folder
/// when it was built), each with its path as `scenarios/<role>/<file>`.
pub fn load_embedded() -> Result<Vec<LoadedScenario>, ScenarioError> {
    unique(embedded::SCENARIOS.iter().map(|(relative, text)| {
        let path = Path::new("scenarios").join(relative);
        Ok(LoadedScenario {
            scenario: parse_scenario(&path, text)?,
            path,
        })
    }))
}

/// The text of a scenario as loaded: a built-in one from the binary, one from
/// a folder read again from its file.
pub fn source_text(l: &LoadedScenario) -> Option<std::borrow::Cow<'static, str>> {
    let built_in = l
        .path
        .strip_prefix("scenarios")
        .ok()
        .and_then(|relative| {
            embedded::SCENARIOS
                .iter()
                .find(|(p, _)| Path::new(p) == relative)
        })
        .filter(|_| l.path.is_relative());
    match built_in {
        Some((_, text)) => Some(std::borrow::Cow::Borrowed(text)),
        None => crate::toml_load::read_input(&l.path)
            .ok()
            .map(std::borrow::Cow::Owned),
    }
}

/// The scenarios in `loaded`, in order, once no two share an id.
fn unique(
    loaded: impl Iterator<Item = Result<LoadedScenario, ScenarioError>>,
) -> Result<Vec<LoadedScenario>, ScenarioError> {
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut out = Vec::new();
    for loaded in loaded {
        let loaded = loaded?;
        let path = loaded.path.clone();
        if let Some(first) = seen.insert(loaded.scenario.id.clone(), path.clone()) {
            return Err(ScenarioError::DuplicateId {
                id: loaded.scenario.id,
                first,
                second: path,
            });
        }
        out.push(loaded);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "ALQ-S-16-example"
title = "t"
role = "requestor"
covers = ["ALQ-S-16"]

[[step]]
connect = {}

[[step]]
send = { type = "DHCPDISCOVER" }

[[step]]
expect-close = { within = "5s" }
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        parse_scenario(Path::new("s.toml"), text)
    }

    #[test]
    fn a_good_scenario_loads() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.steps.len(), 3);
    }

    #[test]
    fn a_misspelt_key_names_line_column_and_the_closest_key() {
        let text = GOOD.replace("expect-close = { within", "expect-close = { withn");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("s.toml:14:18: "), "{err}");
        assert!(
            err.contains("withn") && err.contains("did you mean `within`?"),
            "{err}"
        );
    }

    #[test]
    fn a_misspelt_step_names_the_closest_step() {
        let text = GOOD.replace("expect-close =", "expect-clse =");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("did you mean `expect-close`?"), "{err}");
    }

    #[test]
    fn an_unknown_message_type_is_an_error_with_its_line() {
        let text = GOOD.replace("DHCPDISCOVER", "DHCPLEASEACTIV");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("s.toml:11:17: "), "{err}");
        assert!(
            err.contains("unknown message type 'DHCPLEASEACTIV'"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_timer_and_requirement_are_errors() {
        let err = parse(&GOOD.replace("\"5s\"", "\"ACTIVE_LQ_IDL_TIMEOUT\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("s.toml:14:") && err.contains("did you mean ACTIVE_LQ_IDLE_TIMEOUT?"),
            "{err}"
        );
        let err = parse(&GOOD.replace("\"5s\"", "\"settle\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean SETTLE?"), "{err}");
        let err = parse(&GOOD.replace("[\"ALQ-S-16\"]", "[\"ALQ-S-99\"]"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'ALQ-S-99', which is not in the requirement catalog"),
            "{err}"
        );
    }

    /// Each value `run` would reject fails to load, at the line and column
    /// of the value itself.
    #[test]
    fn a_bad_value_is_an_error_at_its_line_and_column() {
        let expect = "expect-close = { within = \"5s\" }";
        let cases = [
            ("expect = { count = \"several\" }", "count 'several'"),
            ("expect = { count = \"5..2\" }", "count '5..2'"),
            ("expect = { dhcp-state = \"actve\" }", "actve"),
            (
                "expect = { ciaddr = \"192.0.2.300\" }",
                "'192.0.2.300' is not a value",
            ),
            ("expect = { xid = \"${x\" }", "'${x' is not a value"),
            (
                "expect = { present = [\"base-tim\"] }",
                "'base-tim' is not an option name",
            ),
            (
                "expect = { chaddr = \"02:zz\" }",
                "'02:zz' is not hex octets",
            ),
            ("expect = { xid = 4294967296 }", "does not fit in 32 bits"),
        ];
        for (step, says) in cases {
            let text = GOOD.replace(expect, step);
            let err = parse(&text).unwrap_err().to_string();
            let column = step.find("= ").unwrap_or(0);
            assert!(err.starts_with("s.toml:14:"), "{step}: {err}");
            assert!(err.contains(says), "{step}: {err}");
            // The column points into the step's table, past its key.
            let at: usize = err
                .split(':')
                .nth(2)
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or(0);
            assert!(at > column, "{step}: {err}");
        }
    }

    #[test]
    fn option_names_load_as_their_codes() {
        let text = GOOD.replace(
            "expect-close = { within = \"5s\" }",
            "expect = { present = [\"base-time\", 153], absent = [\"Client-ID\"] }",
        );
        let s = parse(&text).unwrap();
        let Some(Step::Expect(e)) = s.steps.get(2) else {
            panic!("{:?}", s.steps.get(2));
        };
        assert_eq!(e.present, [152, 153]);
        assert_eq!(e.absent, [61]);
    }

    #[test]
    fn a_garbage_server_side_cannot_expect_a_handshake() {
        let text = "id = \"ALQ-R-15-x\"\ntitle = \"t\"\nrole = \"server\"\ncovers = [\"ALQ-R-15\"]\n\n[[step]]\naccept = {}\n\n[[step]]\nserve-tls = { cert = \"garbage\" }\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.starts_with("s.toml:10: ") && err.contains("expect = \"fail\""),
            "{err}"
        );
    }

    #[test]
    fn a_trigger_that_does_nothing_or_too_much_does_not_load() {
        let with = |trigger: &str| {
            let text = GOOD.replace(
                "[[step]]\nconnect = {}",
                &format!("[[step]]\ntrigger = {trigger}\n\n[[step]]\nconnect = {{}}"),
            );
            parse(&text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(with("{}").contains("must bind, renew"), "{}", with("{}"));
        let huge = with("{ bind = 18446744073709551615, renew = 1 }");
        assert!(huge.contains("at most 1000000 lease changes"), "{huge}");
        let repeated = with("{ renew = 40, repeat = 30000 }");
        assert!(repeated.contains("at most 1000000"), "{repeated}");
        assert_eq!(with("{ renew = 40, repeat = 300 }"), "");
        let both = with(r#"{ renew = 40, repeat = 3, fill = "${send_buffer}" }"#);
        assert!(both.contains("repeat or fill, not both"), "{both}");
        assert_eq!(
            with(r#"{ renew = 40, fill = "${send_buffer} + 262144" }"#),
            ""
        );
    }

    #[test]
    fn an_id_that_could_name_a_file_outside_the_report_does_not_load() {
        let text = GOOD.replace("ALQ-S-16-example", "ALQ-S-16-x/../../escaped");
        let err = parse(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("s.toml:2: "), "{err}");
        assert!(err.contains("has '/'"), "{err}");
    }

    #[test]
    fn links_back_into_the_scenarios_folder_are_a_loop_error() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("a.toml"), GOOD).expect("written");
        std::os::unix::fs::symlink(".", dir.path().join("again")).expect("a link");
        std::os::unix::fs::symlink(".", dir.path().join("more")).expect("a link");
        let err = load_dir(dir.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("a link loop"), "{err}");
    }

    #[test]
    fn a_duration_beyond_the_limit_is_an_error_at_its_line() {
        let text = GOOD.replace("within = \"5s\"", "within = \"500000000000y\"");
        let err = parse(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("more than 8 days"), "{err}");
        assert!(err.starts_with("s.toml:"), "{err}");
    }
}
