//! The suite runner: selects scenarios, skips those the target cannot serve,
//! runs the rest (one tokio runtime each, paused for the reference target), in
//! parallel when asked, and grades each scenario per requirement.

use super::budget::Budget;
use super::exec::{Exec, Ran};
use crate::iut::backend::Backend;
use crate::iut::profile::{TargetKind, TargetProfile};
use crate::outcome::{Finding, ScenarioOutcome, Verdict};
use crate::scenario::expr::Shown;
use crate::scenario::load::LoadedScenario;
use crate::scenario::model::{needs_list, Need, Role};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Lower-case obligations and SHOULDs fail instead of warn.
    pub strict: bool,
    /// Scenarios run at once.
    pub jobs: usize,
    /// Keep scenarios whose id contains, tag equals, or covers list holds one
    /// of these (all when empty).
    pub filter: Vec<String>,
    /// Skip scenarios that need `slow`.
    pub skip_slow: bool,
    /// Stops the run from outside (Ctrl-C): no new scenarios, then the
    /// running ones aborted; what finished is kept.
    pub interrupt: super::interrupt::Interrupt,
    /// Known deviations of the target.
    pub expectations: crate::iut::expectations::Expectations,
    /// Where the running scenarios announce each step.
    pub progress: super::progress::Progress,
    /// Milliseconds each scenario took in an earlier run on the same target:
    /// what the schedule expects of it (see `spread::run_planned`).
    pub durations: HashMap<String, u64>,
}

/// Whether scenario `l` matches `pattern`: its id, one of its tags or one of
/// its covered requirements contains it, ignoring case.
pub fn matches(l: &LoadedScenario, pattern: &str) -> bool {
    let pattern = pattern.to_lowercase();
    let s = &l.scenario;
    std::iter::once(&s.id)
        .chain(&s.tags)
        .chain(&s.covers)
        .any(|name| name.to_lowercase().contains(&pattern))
}

/// The scenarios that match one of `filter` (all when it is empty).
pub fn selected<'a>(scenarios: &'a [LoadedScenario], filter: &[String]) -> Vec<&'a LoadedScenario> {
    scenarios
        .iter()
        .filter(|l| filter.is_empty() || filter.iter().any(|f| matches(l, f)))
        .collect()
}

impl ScenarioOutcome {
    /// An outcome for `l` with no findings yet.
    fn empty(l: &LoadedScenario, verdict: Verdict) -> Self {
        let s = &l.scenario;
        ScenarioOutcome {
            title: s.title.clone(),
            path: l.path.clone(),
            covers: s.covers.clone(),
            ..ScenarioOutcome::bare(&s.id, s.role, verdict)
        }
    }
}

fn not_applicable(l: &LoadedScenario, missing: Vec<Need>, skip_slow: bool) -> ScenarioOutcome {
    let findings = l
        .scenario
        .covers
        .iter()
        .map(|r| Finding {
            deviation: None,
            awaited: None,
            requirement: r.clone(),
            verdict: Verdict::NotApplicable,
            message: not_applicable_reason(l, &missing, skip_slow),
            frame: None,
        })
        .collect();
    ScenarioOutcome {
        findings,
        missing,
        ..ScenarioOutcome::empty(l, Verdict::NotApplicable)
    }
}

/// Why a scenario does not apply, in the profile's words.
fn not_applicable_reason(l: &LoadedScenario, missing: &[Need], skip_slow: bool) -> String {
    if missing.is_empty() {
        let plays = match l.scenario.role {
            Role::Requestor => "a server",
            Role::Server => "a requestor",
        };
        return format!("the scenario tests {plays}, and the target is not one");
    }
    let undeclared: Vec<Need> = missing
        .iter()
        .copied()
        .filter(|n| !(skip_slow && *n == Need::Slow))
        .collect();
    let mut reasons = Vec::new();
    if !undeclared.is_empty() {
        reasons.push(format!(
            "the target does not declare {}",
            needs_list(&undeclared)
        ));
    }
    if undeclared.len() < missing.len() {
        reasons.push("--skip-slow leaves out scenarios that wait for protocol timers".into());
    }
    reasons.join("; ")
}

/// What keeps the scenario from running on this target (`None` when it can
/// run; an empty list when its role does not fit the target).
fn inapplicable(
    l: &LoadedScenario,
    profile: &TargetProfile,
    options: &RunOptions,
) -> Option<Vec<Need>> {
    let s = &l.scenario;
    let mut missing: Vec<Need> = s
        .needs
        .iter()
        .copied()
        .filter(|n| !profile.offers(*n))
        .collect();
    if options.skip_slow && s.needs.contains(&Need::Slow) && !missing.contains(&Need::Slow) {
        missing.push(Need::Slow);
    }
    let role_fits = match profile.kind {
        TargetKind::Reference => true,
        TargetKind::Tcp => s.role == Role::Requestor,
        TargetKind::Launch => s.role == Role::Server,
    };
    // A scenario for the other role is reported as such, whatever it needs.
    if !role_fits {
        return Some(Vec::new());
    }
    (!missing.is_empty()).then_some(missing)
}

/// Whether scenario `l` runs on `profile`: `Err` holds why not, in the
/// profile's words.
pub fn applies(
    l: &LoadedScenario,
    profile: &TargetProfile,
    options: &RunOptions,
) -> Result<(), String> {
    match inapplicable(l, profile, options) {
        None => Ok(()),
        Some(missing) => Err(not_applicable_reason(l, &missing, options.skip_slow)),
    }
}

/// Runs one scenario to its outcome.
pub fn run_one(
    l: &LoadedScenario,
    profile: &TargetProfile,
    options: &RunOptions,
) -> ScenarioOutcome {
    if let Some(missing) = inapplicable(l, profile, options) {
        return not_applicable(l, missing, options.skip_slow);
    }
    let s = &l.scenario;
    let ran = Backend::runtime(profile)
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(async {
                let backend = Backend::start(profile, s)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut exec = Exec::new(s, profile, backend, options.strict)?;
                exec.progress = options.progress.clone();
                exec.seed_now();
                // Every wait inside is bounded; this bounds the whole scenario too.
                let limit = SCENARIO_LIMIT;
                tokio::time::timeout(limit, exec.run(&options.interrupt))
                    .await
                    .map_err(|_| format!("scenario did not finish within {}", Shown(limit)))
            })
        });
    let ran = ran.unwrap_or_else(|e| Ran {
        error: Some(e),
        ..Ran::default()
    });
    let Ran {
        mut findings,
        judged,
        transcript,
        error,
        unmet,
        elapsed,
        connections,
        iut_output,
        interrupted,
        tls_secrets,
        steps,
        turned_away,
    } = ran;
    let completed = error.is_none()
        && interrupted.is_none()
        && !findings.iter().any(|f| f.verdict == Verdict::Fail);
    if let Some(e) = &error {
        findings.push(Finding {
            deviation: None,
            awaited: None,
            requirement: s.covers.first().cloned().unwrap_or_default(),
            verdict: Verdict::Error,
            message: e.clone(),
            frame: transcript.len().checked_sub(1),
        });
    }
    for req in &s.covers {
        let mine = || findings.iter().filter(move |f| &f.requirement == req);
        if let Some(unmet) = unmet.as_ref().filter(|u| u.leaves(req)) {
            // Checks that held on the way are evidence, not a verdict on
            // what the scenario never got to test.
            if !mine().any(|f| f.verdict >= Verdict::Warn) {
                findings.push(Finding {
                    deviation: None,
                    awaited: None,
                    requirement: req.clone(),
                    verdict: Verdict::Inconclusive,
                    message: format!(
                        "not judged: what it tests did not come about ({})",
                        unmet.reason
                    ),
                    frame: None,
                });
            }
            continue;
        }
        if mine().next().is_some() {
            continue;
        }
        let (verdict, message) = if let Some(at) = &interrupted {
            (
                Verdict::Inconclusive,
                format!("not judged: the run was interrupted at {at}"),
            )
        } else if !completed {
            (
                Verdict::Inconclusive,
                "not judged: the scenario stopped before any step judged it".into(),
            )
        } else if judged.contains(req) {
            (Verdict::Pass, "every step held".into())
        } else {
            (
                Verdict::Inconclusive,
                "nothing judged it: no step names it and nothing it is judged on arrived".into(),
            )
        };
        findings.push(Finding {
            deviation: None,
            awaited: None,
            requirement: req.clone(),
            verdict,
            message,
            frame: None,
        });
    }
    let verdict = findings
        .iter()
        .map(|f| f.verdict)
        .max()
        .unwrap_or(Verdict::Pass);
    ScenarioOutcome {
        verdict: if verdict == Verdict::Info {
            Verdict::Pass
        } else {
            verdict
        },
        findings,
        transcript,
        elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        error,
        connections,
        iut_output,
        tls_secrets,
        steps,
        turned_away,
        interrupted: interrupted.is_some(),
        ..ScenarioOutcome::empty(l, Verdict::Pass)
    }
}

/// Reports the not-applicable scenarios, runs the exclusive ones one by one on
/// a target nothing else is using yet, then the others `options.jobs` at a
/// time; outcomes come back in scenario order. `finished` is given each one
/// as it finishes (to report progress, or to write out and drop its capture
/// so that a run holds no capture longer than one scenario).
pub fn run_suite(
    scenarios: &[&LoadedScenario],
    profile: &TargetProfile,
    options: &RunOptions,
    finished: &(dyn Fn(&mut ScenarioOutcome) + Sync),
) -> Vec<ScenarioOutcome> {
    let (skipped, runnable): (Vec<usize>, Vec<usize>) = (0..scenarios.len()).partition(|i| {
        scenarios
            .get(*i)
            .is_some_and(|l| inapplicable(l, profile, options).is_some())
    });
    // A target that allows one connection per requestor cannot serve two
    // scenarios at once, nor one before it has closed the last one's
    // connection: there every scenario runs alone.
    let one_at_a_time = profile.one_connection_per_requestor();
    let (alone, shared): (Vec<usize>, Vec<usize>) = runnable
        .into_iter()
        .partition(|i| one_at_a_time || scenarios.get(*i).is_some_and(|l| l.scenario.exclusive));
    let expected = expected_times(scenarios, &shared, profile, options);
    let shared: Vec<super::spread::Planned<usize>> = shared
        .into_iter()
        .zip(expected)
        .map(|(i, expected)| super::spread::Planned {
            item: i,
            expected,
            // What runs beside it on a shared server keeps its connection
            // from going quiet: it goes after the rest of its worker's.
            last: profile.kind == TargetKind::Tcp
                && scenarios
                    .get(i)
                    .is_some_and(|l| l.scenario.timed_from_idle()),
        })
        .collect();
    let results: Mutex<Vec<Option<ScenarioOutcome>>> = Mutex::new(vec![None; scenarios.len()]);
    let connections = Budget::new(profile.max_connections);
    let addresses = profile.pool_size.map(Budget::new);
    // A server under test is one process for the whole run, shared by the
    // scenarios running side by side.
    let long_lived = profile.kind == TargetKind::Tcp;
    let run = |i: usize| {
        let Some(l) = scenarios.get(i) else { return };
        // The health probe's connection may still hold its slot when the
        // scenario's own connections open, so it counts too.
        let _connections = long_lived.then(|| {
            let probe = usize::from(profile.health_probe);
            connections.take(
                l.scenario
                    .connections_at_once(profile.max_connections)
                    .saturating_add(probe),
            )
        });
        // One whose count depends on the target takes the whole pool.
        let _addresses = addresses
            .as_ref()
            .filter(|_| long_lived)
            .map(|pool| pool.take(l.scenario.addresses_bound().unwrap_or(usize::MAX)));
        let clock = std::time::Instant::now();
        let mut outcome = run_one(l, profile, options);
        if let Some(why) = rerun_reason(&outcome).filter(|_| long_lived) {
            // A long-lived server may still hold the slots of connections
            // closed a moment ago, or serve other requestors: a refusal at
            // the start is tried again once, and a defect shows again.
            let wait = profile.durations().settle.saturating_mul(2);
            std::thread::sleep(wait);
            if !options.interrupt.stopping() {
                outcome = run_one(l, profile, options);
                outcome.retried = Some(format!("{why}; run again after {}", Shown(wait)));
            }
        }
        outcome.wall_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        options.progress.finished(&l.scenario.id);
        options.expectations.apply(&mut outcome);
        finished(&mut outcome);
        if let Some(slot) = results.lock().unwrap_or_else(|e| e.into_inner()).get_mut(i) {
            *slot = Some(outcome);
        }
    };
    for i in skipped {
        run(i);
    }
    // Lets a shared target finish closing the connections of what ran before
    // (the preflight probe, an exclusive scenario) before quotas are counted
    // or the pool fills its slots.
    let settle_time = profile.durations().settle;
    let settle = || {
        if profile.kind != TargetKind::Reference {
            std::thread::sleep(settle_time);
        }
    };
    let ran_alone = !alone.is_empty();
    for i in alone {
        if options.interrupt.stopping() {
            break;
        }
        settle();
        run(i);
    }
    if ran_alone {
        settle();
    }
    let eta = |left: Duration| options.progress.expect_end_in(left);
    super::spread::run_planned(&shared, options.jobs, &eta, |i| {
        if !options.interrupt.stopping() {
            run(*i);
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// The longest a scenario runs: every wait inside is bounded, and this
/// bounds the whole.
const SCENARIO_LIMIT: Duration = Duration::from_secs(3600);

/// How long each of the scenarios at `indices` is expected to take against
/// `profile`: as an earlier run on the same target measured it, else as long
/// as the same steps take against the embedded reference running the
/// profile's timers on the paused clock (a run of milliseconds), which is
/// what the scenario's waits and the timers imply.
fn expected_times(
    scenarios: &[&LoadedScenario],
    indices: &[usize],
    profile: &TargetProfile,
    options: &RunOptions,
) -> Vec<Duration> {
    let measured = |i: &usize| {
        let l = scenarios.get(*i)?;
        // From a report file: no longer than a scenario may run.
        options
            .durations
            .get(&l.scenario.id)
            .map(|ms| Duration::from_millis(*ms).min(SCENARIO_LIMIT))
    };
    if profile.kind == TargetKind::Reference {
        // Virtual time: nothing to plan for.
        return indices
            .iter()
            .map(|i| measured(i).unwrap_or_default())
            .collect();
    }
    let rehearsal = TargetProfile {
        timers: profile.timers,
        slack: profile.slack.clone(),
        settle: profile.settle.clone(),
        expect_timeout: profile.expect_timeout.clone(),
        ..TargetProfile::reference()
    };
    let quiet = RunOptions::default();
    super::spread::map_on_threads(indices, super::spread::cores(), |i| {
        measured(i).unwrap_or_else(|| match scenarios.get(*i) {
            Some(l) => {
                Duration::from_millis(run_one(l, &rehearsal, &quiet).elapsed_ms).min(SCENARIO_LIMIT)
            }
            None => Duration::ZERO,
        })
    })
}

/// Why a scenario is run once more: a connection the target closed before
/// answering anything on it stands behind a verdict other than pass.
fn rerun_reason(outcome: &ScenarioOutcome) -> Option<String> {
    let judged_on_it = matches!(
        outcome.verdict,
        Verdict::Fail | Verdict::Warn | Verdict::Inconclusive
    );
    let why = outcome
        .turned_away
        .as_ref()
        .filter(|_| judged_on_it && !outcome.interrupted)?;
    Some(format!(
        "the first run drew {}: {why}",
        outcome.verdict.label()
    ))
}

/// Every outcome is not applicable: the run judged nothing, which says
/// nothing about conformance.
pub fn nothing_ran(outcomes: &[ScenarioOutcome]) -> bool {
    !outcomes.is_empty() && outcomes.iter().all(|o| o.verdict == Verdict::NotApplicable)
}

/// 0 conformant, 1 non-conformance found, 2 harness or setup error, or
/// nothing ran.
pub fn exit_code(outcomes: &[ScenarioOutcome], strict: bool) -> u8 {
    if nothing_ran(outcomes) {
        return 2;
    }
    let worst = outcomes
        .iter()
        .map(|o| o.verdict)
        .max()
        .unwrap_or(Verdict::Pass);
    match worst {
        Verdict::Error => 2,
        Verdict::Fail => 1,
        Verdict::Warn if strict => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(verdict: Verdict, turned_away: bool) -> ScenarioOutcome {
        ScenarioOutcome {
            turned_away: turned_away.then(|| {
                "the target closed connection 'a' (RST) before it sent anything on it".into()
            }),
            ..ScenarioOutcome::bare("X", Role::Requestor, verdict)
        }
    }

    #[rstest::rstest]
    #[case::warn_on_a_turned_away_connection(Verdict::Warn, true, true)]
    #[case::fail_on_a_turned_away_connection(Verdict::Fail, true, true)]
    #[case::inconclusive_on_a_turned_away_connection(Verdict::Inconclusive, true, true)]
    #[case::a_pass_is_kept(Verdict::Pass, true, false)]
    #[case::a_harness_error_is_kept(Verdict::Error, true, false)]
    #[case::a_warn_on_answered_connections_is_kept(Verdict::Warn, false, false)]
    fn a_verdict_on_a_connection_closed_before_any_answer_is_run_again(
        #[case] verdict: Verdict,
        #[case] turned_away: bool,
        #[case] again: bool,
    ) {
        let why = rerun_reason(&outcome(verdict, turned_away));
        assert_eq!(why.is_some(), again, "{why:?}");
        if let Some(why) = why {
            assert!(why.starts_with(&format!("the first run drew {}: ", verdict.label())));
            assert!(why.contains("connection 'a' (RST)"), "{why}");
        }
    }

    #[test]
    fn an_interrupted_scenario_is_not_run_again() {
        let o = ScenarioOutcome {
            interrupted: true,
            ..outcome(Verdict::Inconclusive, true)
        };
        assert_eq!(rerun_reason(&o), None);
    }
}
