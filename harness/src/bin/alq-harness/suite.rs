//! The conformance suite: run, list, coverage, the kill matrix and scenario checks.

use crate::reference::stop_signal;
use crate::runtime;
use alq_harness::run::runner::selected;
use alq_harness::scenario::load::LoadedScenario;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How long scenarios under way may go on after the first Ctrl-C or SIGTERM.
const INTERRUPT_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// A target profile (TOML); the embedded reference target when absent.
    #[arg(long)]
    target: Option<PathBuf>,
    /// The scenario directory.
    #[arg(long)]
    scenarios: Option<PathBuf>,
    /// Only scenarios whose id, a tag or a covered requirement contains
    /// this, ignoring case (repeatable).
    #[arg(long)]
    filter: Vec<String>,
    /// Leave out scenarios that match this as --filter would (repeatable).
    #[arg(long)]
    exclude: Vec<String>,
    /// Scenarios run at once.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// SHOULD-level and lower-case obligations fail instead of warn.
    #[arg(long)]
    strict: bool,
    /// Skip scenarios that wait for a default protocol timer.
    #[arg(long)]
    skip_slow: bool,
    /// Print every finding, not only the broken ones.
    #[arg(long, short)]
    verbose: bool,
    /// Colour on the terminal: auto (unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value = "auto")]
    color: crate::terminal::ColorWhen,
    /// Known deviations of the target; by default `<target>.expect.toml` beside
    /// the profile, when it exists.
    #[arg(long)]
    expect: Option<PathBuf>,
    /// Write an expectations file listing this run's failures and warnings,
    /// each with a reason to fill in; the run then judges without any
    /// expectations file, so that every deviation is in it.
    #[arg(long, value_name = "FILE")]
    write_expect: Option<PathBuf>,
    /// Run the embedded reference with this deliberate defect (see
    /// `alq-harness faults`), to see how the harness reports it.
    #[arg(long)]
    fault: Option<String>,
    /// Run the embedded reference with this conformant choice (one the RFCs
    /// allow and our reference does not make by default): every scenario
    /// that applies must still pass.
    #[arg(long)]
    variant: Option<String>,
    /// Where reports go: DIR/<target>/{report.json,junit.xml,index.html,pcap/}
    /// (DIR/<target>-shard-K-of-N/ for a shard).
    #[arg(long, default_value = "reports")]
    reports: PathBuf,
    /// Run only shard K of N (1-based): every Nth scenario of the selection,
    /// starting with the Kth. `alq-harness merge` joins the shards' reports.
    #[arg(long)]
    shard: Option<alq_harness::report::Shard>,
}

/// "1 scenario", "2 scenarios".
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The scenarios of folder `dir`, or those built into the binary.
pub(crate) fn load_scenarios(
    dir: Option<&Path>,
) -> Result<
    Vec<alq_harness::scenario::load::LoadedScenario>,
    alq_harness::scenario::load::ScenarioError,
> {
    match dir {
        Some(dir) => alq_harness::scenario::load::load_dir(dir),
        None => alq_harness::scenario::load::load_embedded(),
    }
}

pub(crate) fn run(args: RunArgs) -> ExitCode {
    match run_suite_cli(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Where a run's reports go: `reports/<target>`, with the fault or variant
/// the embedded reference runs with in the name, so that a run with a
/// deliberate defect never stands in for a real one.
fn report_name(args: &RunArgs, target: &str) -> String {
    match (&args.fault, &args.variant) {
        (Some(fault), _) => format!("{target}-fault-{fault}"),
        (None, Some(variant)) => format!("{target}-variant-{variant}"),
        (None, None) => target.to_string(),
    }
}

/// Writes report.json, junit.xml and index.html for a run that could not
/// start: one error case naming the profile and the cause, so that a CI step
/// reading the reports shows the error instead of failing on a missing file.
/// Returns where they went; `None` when even that failed (said on stderr).
fn write_set_up_error(args: &RunArgs, target: &Named, error: &anyhow::Error) -> Option<PathBuf> {
    use alq_harness::outcome::{ScenarioOutcome, Verdict};
    let profile = match &args.target {
        Some(path) => format!("profile {}", path.display()),
        None => "the embedded reference".to_string(),
    };
    let mut outcome = ScenarioOutcome::bare(
        "set-up",
        alq_harness::scenario::model::Role::Requestor,
        Verdict::Error,
    );
    outcome.title = format!("Setting up the run against {profile}");
    outcome.error = Some(format!("{profile}: {error:#}"));
    let report = alq_harness::report::RunReport::new(
        &target.name,
        target.kind,
        std::time::SystemTime::now(),
        std::time::Duration::ZERO,
        args.strict,
        false,
        vec![outcome],
    );
    let written = (|| -> Result<PathBuf> {
        let dir = alq_harness::file_names::join(&args.reports, &report_name(args, &target.name))
            .map_err(|e| anyhow::anyhow!("target name '{}' {e}", target.name.escape_debug()))?;
        let staged = alq_harness::report::write::StagedDir::create(&dir)?;
        alq_harness::report::write::write_documents(staged.path(), &report)?;
        Ok(staged.commit()?)
    })();
    match written {
        Ok(dir) => Some(dir),
        Err(e) => {
            eprintln!("error: no report of the set-up error either: {e:#}");
            None
        }
    }
}

/// A command line that asks for what cannot be: said on stderr, with no
/// report, so that a typo never replaces the reports of the last run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Usage(String);

/// The fault or variant `--{what} name` picked, for the embedded reference.
fn reference_choice<T>(
    what: &str,
    name: &str,
    args: &RunArgs,
    found: Option<T>,
    names: impl Iterator<Item = &'static str>,
) -> Result<T> {
    if args.target.is_some() {
        return Err(Usage(format!(
            "--{what} applies to the embedded reference target only"
        ))
        .into());
    }
    found.ok_or_else(|| {
        let names: Vec<&str> = names.collect();
        Usage(format!(
            "unknown {what} '{name}'; {what}s: {}",
            names.join(", ")
        ))
        .into()
    })
}

/// The target as far as the run knows it: its profile's file until the
/// profile is read, then the profile's name and kind.
struct Named {
    name: String,
    kind: &'static str,
}

/// What a run needs before its first scenario.
struct SetUp {
    profile: alq_harness::iut::profile::TargetProfile,
    scenarios: Vec<LoadedScenario>,
    expectations: alq_harness::iut::expectations::Expectations,
    /// The file `expectations` came from.
    expectations_file: Option<PathBuf>,
}

fn run_suite_cli(args: RunArgs) -> Result<u8> {
    crate::terminal::use_color(args.color);
    let mut target = match &args.target {
        Some(path) => Named {
            name: path
                .file_stem()
                .map_or("target".to_string(), |s| s.to_string_lossy().into_owned()),
            kind: "unknown",
        },
        None => Named {
            name: "reference".to_string(),
            kind: alq_harness::iut::profile::TargetKind::Reference.label(),
        },
    };
    match set_up(&args, &mut target) {
        Ok(set_up) => run_set_up(args, set_up),
        Err(e) if e.downcast_ref::<Usage>().is_some() => Err(e),
        Err(e) => match write_set_up_error(&args, &target, &e) {
            Some(dir) => Err(e.context(format!(
                "the run could not start (reported in {})",
                dir.display()
            ))),
            None => Err(e),
        },
    }
}

/// Loads the profile, the scenarios and the expectations, and checks the
/// target answers; `target` takes the profile's name and kind once it is
/// read.
fn set_up(args: &RunArgs, target: &mut Named) -> Result<SetUp> {
    use alq_harness::iut::profile::TargetProfile;
    let mut profile = match &args.target {
        Some(path) => TargetProfile::load(path)?,
        None => TargetProfile::reference(),
    };
    target.name.clone_from(&profile.name);
    target.kind = profile.kind.label();
    if let Some(name) = &args.fault {
        use alq_harness::reference::faults::{Fault, FaultSet};
        let names = Fault::ALL.iter().map(|f| f.name());
        let fault = reference_choice("fault", name, args, Fault::from_name(name), names)?;
        profile.faults = FaultSet::one(fault);
    }
    if let Some(name) = &args.variant {
        use alq_harness::reference::variants::{Variant, VariantSet};
        let names = Variant::ALL.iter().map(|v| v.name());
        let variant = reference_choice("variant", name, args, Variant::from_name(name), names)?;
        profile = TargetProfile {
            faults: profile.faults,
            ..TargetProfile::reference_with(VariantSet::one(variant))
        };
    }
    let scenarios = load_scenarios(args.scenarios.as_deref())?;
    Selection {
        filter: args.filter.clone(),
        exclude: args.exclude.clone(),
    }
    .choose(&scenarios)?;
    runtime()?
        .block_on(alq_harness::iut::backend::preflight(&profile))
        .map_err(|e| anyhow::anyhow!(e))?;
    let expect_path = args.expect.clone().or_else(|| {
        args.target
            .as_deref()
            .map(alq_harness::iut::expectations::Expectations::beside)
            .filter(|p| p.exists())
    });
    let expectations_file = expect_path.filter(|_| args.write_expect.is_none());
    let expectations = match &expectations_file {
        Some(p) => alq_harness::iut::expectations::Expectations::load(p, &scenarios)?,
        None => Default::default(),
    };
    if let Some(file) = &args.write_expect {
        // Fail before the run, not after it, when the file cannot be written.
        let folder = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !folder.is_dir() {
            return Err(Usage(format!(
                "--write-expect {}: the folder {} does not exist",
                file.display(),
                folder.display()
            ))
            .into());
        }
        if file.is_dir() {
            return Err(Usage(format!("--write-expect {}: is a folder", file.display())).into());
        }
    }
    Ok(SetUp {
        profile,
        scenarios,
        expectations,
        expectations_file,
    })
}

fn run_set_up(args: RunArgs, set_up: SetUp) -> Result<u8> {
    use alq_harness::outcome::{citation, Verdict};
    use alq_harness::run::runner::{exit_code, run_suite, RunOptions};
    let SetUp {
        profile,
        scenarios,
        expectations,
        expectations_file,
    } = set_up;
    let expectations_shown = expectations_file.as_ref().map(|p| {
        format!(
            "{} ({})",
            p.display(),
            counted(expectations.deviations.len(), "known deviation")
        )
    });
    let selection = Selection {
        filter: args.filter.clone(),
        exclude: args.exclude.clone(),
    };
    let mut chosen = selection.choose(&scenarios)?;
    if let Some(shard) = args.shard {
        chosen = chosen
            .into_iter()
            .enumerate()
            .filter(|(i, _)| shard.holds(*i))
            .map(|(_, l)| l)
            .collect();
    }
    let name = report_name(&args, &profile.name);
    // What is tested, before anything is: the statement the reports open with.
    let declared = alq_harness::report::Tested::of(
        &profile.features,
        &profile.timers,
        expectations_shown.clone(),
        &[],
    );
    say!(
        "{name}: {}, {}",
        profile.address_label(),
        profile.transport_label()
    );
    for (fact, value) in declared.facts().into_iter().take(3) {
        say!("  {fact}: {value}");
    }
    if let Some(fault) = &args.fault {
        say!(
            "the embedded reference runs with the deliberate defect '{fault}': \
             this run shows how the harness reports it (reports as {name})"
        );
    } else if let Some(variant) = &args.variant {
        say!(
            "the embedded reference makes the conformant choice '{variant}': \
             every scenario that applies must still pass (reports as {name})"
        );
    }
    let dir = match args.shard {
        Some(s) => args
            .reports
            .join(format!("{name}-shard-{}-of-{}", s.index, s.count)),
        None => alq_harness::file_names::join(&args.reports, &name)
            .map_err(|e| anyhow::anyhow!("target name '{}' {e}", name.escape_debug()))?,
    };
    // The report folder is written as a set, beside the old one until the
    // end; a folder that cannot be written fails now, before any scenario.
    let staged = alq_harness::report::write::StagedDir::create(&dir)?;
    let started = std::time::SystemTime::now();
    let options = RunOptions {
        strict: args.strict,
        jobs: args.jobs,
        filter: args.filter.clone(),
        skip_slow: args.skip_slow,
        interrupt: Default::default(),
        expectations,
        progress: Default::default(),
        durations: earlier_durations(&dir),
    };
    let interrupt = options.interrupt.clone();
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(async {
                stop_signal().await;
                eprintln!(
                    "interrupted: no scenario starts now; those under way get {} s to finish \
                     (interrupt again to stop them at once), then reports are written",
                    INTERRUPT_GRACE.as_secs()
                );
                interrupt.stop_starting();
                tokio::select! {
                    () = tokio::time::sleep(INTERRUPT_GRACE) => {}
                    () = stop_signal() => {}
                }
                eprintln!("interrupted: stopping the scenarios under way");
                interrupt.abort();
            });
        }
    });
    let clock = std::time::Instant::now();
    let total = chosen.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let verbose = args.verbose;
    let pcaps = alq_harness::report::write::PcapSink {
        dir: staged.path().to_path_buf(),
        started,
    };
    let live = crate::terminal::Live::start(options.progress.clone(), total);
    let finished = |o: &mut alq_harness::outcome::ScenarioOutcome| {
        pcaps.take(o);
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let label = crate::terminal::label(o.verdict);
        let mut text = format!(
            "[{n:>3}/{total}] {label} {} ({:.1} s{})",
            o.id,
            o.elapsed_ms as f64 / 1000.0,
            if profile.kind == alq_harness::iut::profile::TargetKind::Reference {
                " virtual"
            } else {
                ""
            }
        );
        if !o.missing.is_empty() {
            text.push_str(&format!(
                " needs {}",
                alq_harness::scenario::model::needs_list(&o.missing)
            ));
        }
        if let Some(why) = &o.retried {
            text.push_str(&format!("\n        retried: {why}"));
        }
        for f in &o.findings {
            let show = verbose || !matches!(f.verdict, Verdict::Pass | Verdict::NotApplicable);
            if show {
                let frame = f
                    .frame
                    .and_then(|i| {
                        o.transcript
                            .get(i)
                            .map(|e| format!(" [#{i} {} {} {}]", e.conn, e.dir, e.text))
                    })
                    .unwrap_or_default();
                text.push_str(&format!(
                    "\n        {} {} ({}): {}{frame}",
                    crate::terminal::label(f.verdict),
                    f.requirement,
                    citation(&f.requirement),
                    f.message
                ));
                if let Some(awaited) = &f.awaited {
                    text.push_str(&format!("\n              awaited {awaited}"));
                }
            }
        }
        live.finished(&text);
    };
    let outcomes = run_suite(&chosen, &profile, &options, &finished);
    live.end();
    let interrupted = options.interrupt.stopping();
    let code = exit_code(&outcomes, args.strict);
    let count = |v: Verdict| outcomes.iter().filter(|o| o.verdict == v).count();
    say!(
        "{} against {}: {} pass, {} fail, {} warn, {} not-applicable, {} inconclusive, {} error",
        counted(outcomes.len(), "scenario"),
        name,
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Warn),
        count(Verdict::NotApplicable),
        count(Verdict::Inconclusive),
        count(Verdict::Error)
    );
    if interrupted {
        say!(
            "interrupted: {} stopped before they finished, {} not started",
            counted(
                outcomes.iter().filter(|o| o.interrupted).count(),
                "scenario"
            ),
            total.saturating_sub(outcomes.len())
        );
    }
    if !interrupted && alq_harness::run::runner::nothing_ran(&outcomes) {
        say!(
            "nothing ran: no selected scenario applies to {} (features declared: {})",
            profile.name,
            match alq_harness::scenario::model::needs_list(&profile.features) {
                list if list.is_empty() => "none".to_string(),
                list => list,
            }
        );
    }
    let kind = profile.kind.label();
    let report = alq_harness::report::RunReport::new(
        &name,
        kind,
        started,
        clock.elapsed(),
        args.strict,
        interrupted,
        outcomes,
    );
    let report = alq_harness::report::RunReport {
        address: profile.address_label(),
        transport: profile.transport_label().to_string(),
        coverage: Some(alq_harness::report::coverage::Coverage::of(&scenarios)),
        shard: args.shard,
        peak_rss_kb: alq_harness::report::peak_rss_kb(),
        ..report
    };
    let report = alq_harness::report::RunReport {
        tested: Some(alq_harness::report::Tested::of(
            &profile.features,
            &profile.timers,
            expectations_shown,
            &report.scenarios,
        )),
        ..report
    };
    alq_harness::report::write::write_documents(staged.path(), &report)?;
    let dir = staged.commit()?;
    if let Some(stopped) = &report.stopped_answering {
        say!("\n{stopped}");
    }
    let problems = crate::terminal::closing_list(&report);
    if !problems.is_empty() {
        say!("\nFailures and warnings ({}):", problems.len());
        for line in &problems {
            say!("{line}");
        }
    }
    let overall = report.overall();
    let style = crate::terminal::style(overall.verdict);
    say!("\n{style}{}{style:#}", overall.line);
    say!(
        "reports in {} (open {})",
        dir.display(),
        dir.join("index.html").display()
    );
    if let Some(file) = &args.write_expect {
        let text = alq_harness::iut::expectations::draft(
            &report.scenarios,
            &report.target,
            &report.started,
        )
        .map_err(|e| anyhow::anyhow!("--write-expect: {e}"))?;
        let count = text.matches("[[deviation]]").count();
        std::fs::write(file, text).with_context(|| format!("cannot write {}", file.display()))?;
        say!(
            "{} written to {}: fill in each reason, then pass it with --expect",
            counted(count, "deviation"),
            file.display()
        );
    }
    Ok(if interrupted { code.max(2) } else { code })
}

/// Which scenarios a command takes: --filter and --exclude.
pub(crate) struct Selection {
    pub filter: Vec<String>,
    pub exclude: Vec<String>,
}

impl Selection {
    /// The scenarios that match a filter (all without one) and no exclude;
    /// an error when none is left.
    fn choose<'a>(&self, scenarios: &'a [LoadedScenario]) -> Result<Vec<&'a LoadedScenario>> {
        let mut chosen = selected(scenarios, &self.filter);
        chosen.retain(|l| {
            !self
                .exclude
                .iter()
                .any(|x| alq_harness::run::runner::matches(l, x))
        });
        if chosen.is_empty() {
            return Err(Usage(format!(
                "no scenario matches --filter {:?} and escapes --exclude {:?}",
                self.filter, self.exclude
            ))
            .into());
        }
        Ok(chosen)
    }
}

pub(crate) fn list(
    dir: Option<PathBuf>,
    target: Option<&Path>,
    skip_slow: bool,
    jobs: usize,
    selection: &Selection,
) -> Result<()> {
    use alq_harness::iut::profile::TargetProfile;
    use alq_harness::scenario::model::{needs_list, Role};
    let all = load_scenarios(dir.as_deref())?;
    let scenarios = selection.choose(&all)?;
    let profile = target.map(TargetProfile::load).transpose()?;
    let options = alq_harness::run::runner::RunOptions {
        skip_slow,
        ..Default::default()
    };
    let mut running = 0;
    // What each scenario that runs binds; `None` where the target decides.
    let mut binds: Vec<(&str, Option<usize>)> = Vec::new();
    for l in &scenarios {
        let s = &l.scenario;
        let role = match s.role {
            Role::Requestor => "requestor",
            Role::Server => "server",
        };
        let column = |items: &[String]| match items.join(",") {
            text if text.is_empty() => "-".to_string(),
            text => text,
        };
        let needs = match needs_list(&s.needs) {
            text if text.is_empty() => "-".to_string(),
            text => text.replace(' ', ""),
        };
        let bound = s.addresses_bound();
        let mut line = format!(
            "{:<48} {:<9} {:<28} {:<30} {:<18} {:<9}",
            s.id,
            role,
            column(&s.covers),
            needs,
            column(&s.tags),
            match bound {
                Some(0) => "-".to_string(),
                Some(n) => format!("binds {n}"),
                None => "binds ?".to_string(),
            }
        );
        match &profile {
            Some(profile) => match alq_harness::run::runner::applies(l, profile, &options) {
                Ok(()) => {
                    running += 1;
                    binds.push((&s.id, bound));
                    line.push_str(" runs");
                }
                Err(why) => line.push_str(&format!(" not-applicable: {why}")),
            },
            None => line.push_str(&format!(" {}", s.title)),
        }
        say!("{}", line.trim_end());
    }
    match &profile {
        Some(profile) => {
            say!(
                "{} of {} run against {}",
                counted(running, "scenario"),
                scenarios.len(),
                profile.name
            );
            if let Some(needs) = pool_needs(&binds, jobs, profile.pool_size) {
                say!("{needs}");
            }
        }
        None => say!("{}", counted(scenarios.len(), "scenario")),
    }
    Ok(())
}

/// What a run of the scenarios binding `binds` needs of the target's pool
/// at `jobs`, and whether `pool_size` holds it; `None` when none binds.
fn pool_needs(
    binds: &[(&str, Option<usize>)],
    jobs: usize,
    pool_size: Option<usize>,
) -> Option<String> {
    if binds.iter().all(|(_, n)| *n == Some(0)) {
        return None;
    }
    let mut known: Vec<usize> = binds.iter().filter_map(|(_, n)| *n).collect();
    known.sort_unstable_by(|a, b| b.cmp(a));
    let side_by_side: usize = known.iter().take(jobs.max(1)).sum();
    let largest = known.first().copied().unwrap_or(0);
    let unknown: Vec<&str> = binds
        .iter()
        .filter(|(_, n)| n.is_none())
        .map(|(id, _)| *id)
        .collect();
    let mut text = format!(
        "addresses the trigger binds: at most {side_by_side} at once at --jobs {jobs} \
         (each scenario releases its leases when it ends), {largest} for the largest scenario alone"
    );
    if !unknown.is_empty() {
        text.push_str(&format!(
            "; {} bind as many as the target's send buffer takes",
            unknown.join(", ")
        ));
    }
    match pool_size {
        Some(pool) if largest > pool => text.push_str(&format!(
            "; pool-size {pool} is less than the largest scenario needs"
        )),
        Some(pool) => text.push_str(&format!(
            "; pool-size {pool}: scenarios wait for addresses to fit"
        )),
        None => text.push_str("; declare pool-size in the profile to keep a run within the pool"),
    }
    Some(text)
}

pub(crate) fn audit(dir: Option<PathBuf>, output: Option<&Path>) -> Result<()> {
    let scenarios = load_scenarios(dir.as_deref())?;
    let audit = alq_harness::report::audit::requirements_audit(&scenarios)?;
    match output {
        Some(path) => std::fs::write(path, audit)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
        None => say!("{}", audit.trim_end()),
    }
    Ok(())
}

pub(crate) fn coverage(dir: Option<PathBuf>, report: Option<&Path>) -> Result<()> {
    let scenarios = load_scenarios(dir.as_deref())?;
    let cov = alq_harness::report::coverage::Coverage::of(&scenarios);
    // A report asked for must be read; the default one only if it is there.
    let default = Path::new("reports/reference/report.json");
    let report = match report {
        Some(path) => Some(read_report(path)?),
        None if default.is_file() => Some(read_report(default)?),
        None => None,
    };
    let verdicts: std::collections::HashMap<String, String> = report
        .map(|r| {
            r.requirements
                .iter()
                .map(|row| (row.id.clone(), row.verdict.label().to_string()))
                .collect()
        })
        .unwrap_or_default();
    for row in &cov.rows {
        let verdict = verdicts.get(&row.id).map(String::as_str).unwrap_or("-");
        let scenarios = if row.scenarios.is_empty() {
            "(uncovered)".to_string()
        } else {
            row.scenarios.join(", ")
        };
        say!(
            "{:<10} {:<26} {:<5} {:<15} {}",
            row.id,
            row.level,
            row.class,
            verdict,
            scenarios
        );
    }
    say!(
        "covered {} of {} black-box requirements ({:.1}%); uncovered: {}",
        cov.covered,
        cov.total,
        cov.percent(),
        cov.uncovered.join(" ")
    );
    Ok(())
}

/// The scenarios a fault or variant matrix runs; `None` (said on stderr)
/// when they do not load.
fn matrix_scenarios(
    dir: Option<PathBuf>,
) -> Option<Vec<alq_harness::scenario::load::LoadedScenario>> {
    load_scenarios(dir.as_deref())
        .map_err(|e| eprintln!("error: {e}"))
        .ok()
}

pub(crate) fn faults(dir: Option<PathBuf>, jobs: usize) -> ExitCode {
    let Some(scenarios) = matrix_scenarios(dir) else {
        return ExitCode::from(2);
    };
    let mut escaped = 0;
    let mut beyond = 0;
    for row in alq_harness::run::kill_matrix::kill_matrix(&scenarios, jobs) {
        let fault = row.fault;
        let caught: Vec<String> = row
            .caught_by
            .iter()
            .map(|(r, s, v)| format!("{r} by {s} ({})", v.label()))
            .collect();
        if row.caught() {
            say!("caught   {:<40} {}", fault.name(), caught.join("; "));
        } else {
            escaped += 1;
            say!(
                "ESCAPED  {:<40} breaks {}",
                fault.name(),
                fault.breaks().join(", "),
            );
        }
        // A finding outside what the fault breaks is a false verdict the
        // harness gave a defect it does not have.
        for (requirement, scenario) in &row.also {
            say!("  beyond {:<40} {requirement} in {scenario}", fault.name());
        }
        beyond += row.also.len();
    }
    let total = alq_harness::reference::faults::Fault::ALL.len();
    say!(
        "{} of {total} faults caught, {beyond} findings beyond what they break",
        total - escaped
    );
    ExitCode::from(u8::from(escaped > 0 || beyond > 0))
}

pub(crate) fn variants(dir: Option<PathBuf>, jobs: usize) -> ExitCode {
    use alq_harness::reference::variants::{Side, Variant};
    let Some(scenarios) = matrix_scenarios(dir) else {
        return ExitCode::from(2);
    };
    let mut drew = 0;
    for row in alq_harness::run::variant_matrix::variant_matrix(&scenarios, jobs) {
        let variant = row.variant;
        let side = match variant.side() {
            Side::Server => "server",
            Side::Requestor => "requestor",
            Side::Both => "both",
        };
        let status = if row.clean() { "clean" } else { "DREW" };
        say!(
            "{status:<6} {:<32} {side:<9} {:>2} ran, {} inconclusive, {} failures/warnings ({})",
            variant.name(),
            row.ran,
            row.inconclusive.len(),
            row.false_verdicts.len(),
            variant.basis()
        );
        if !row.inconclusive.is_empty() {
            say!("         inconclusive: {}", row.inconclusive.join(" "));
        }
        for f in &row.false_verdicts {
            say!(
                "         {} {} in {}: {}",
                f.verdict.label(),
                f.requirement,
                f.scenario,
                f.message
            );
        }
        if !row.clean() {
            drew += 1;
        }
    }
    let total = Variant::ALL.len();
    say!(
        "{} of {total} variants drew no failure, warning or error",
        total - drew
    );
    ExitCode::from(u8::from(drew > 0))
}

pub(crate) fn check(files: &[PathBuf]) -> Result<()> {
    let mut bad = 0;
    for f in files {
        match alq_harness::scenario::load::load_scenario(f) {
            Ok(l) => {
                let unjudged = alq_harness::checks::scenario::unjudged(&l.scenario);
                if unjudged.is_empty() {
                    say!("ok {} ({})", f.display(), l.scenario.id);
                } else {
                    eprintln!(
                        "error: {}: covers {}, which no step names and no check judges \
                         in role = \"{}\"; it would be reported inconclusive",
                        f.display(),
                        unjudged.join(", "),
                        l.scenario.role
                    );
                    bad += 1;
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                bad += 1;
            }
        }
    }
    if bad > 0 {
        anyhow::bail!("{bad} of {} scenario files do not load", files.len());
    }
    Ok(())
}

/// How long each scenario that ran took in the report already in `dir` (an
/// earlier run on the same target); empty when there is none or it does not
/// read, as it only orders the run.
fn earlier_durations(dir: &Path) -> std::collections::HashMap<String, u64> {
    let Ok(report) = read_report(&dir.join("report.json")) else {
        return Default::default();
    };
    report
        .scenarios
        .into_iter()
        .filter(|o| o.verdict != alq_harness::outcome::Verdict::NotApplicable)
        .map(|o| (o.id, o.elapsed_ms))
        .collect()
}

pub(crate) fn read_report(path: &Path) -> Result<alq_harness::report::RunReport> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not an alq-harness report", path.display()))
}

/// A report.json path, or a directory holding one.
fn report_file(arg: &Path) -> PathBuf {
    if arg.is_dir() {
        arg.join("report.json")
    } else {
        arg.to_path_buf()
    }
}

/// Joins the reports of a sharded run into DIR/<target>/ and exits as the
/// whole run would have.
pub(crate) fn merge(inputs: &[PathBuf], reports: &Path) -> ExitCode {
    let merged = (|| -> Result<(PathBuf, u8)> {
        let mut loaded = Vec::new();
        for input in inputs {
            let path = report_file(input);
            let report = read_report(&path)?;
            loaded.push((path, report));
        }
        let shard_dirs: Vec<PathBuf> = loaded
            .iter()
            .map(|(p, _)| p.parent().unwrap_or(Path::new(".")).to_path_buf())
            .collect();
        let report = alq_harness::report::merge::merge(loaded)?;
        let dir = alq_harness::file_names::join(reports, &report.target).map_err(|e| {
            anyhow::anyhow!(
                "the shard reports name their target '{}', which {e}",
                report.target.escape_debug()
            )
        })?;
        let staged = alq_harness::report::write::StagedDir::create(&dir)?;
        for s in &report.scenarios {
            let bad_id = |e| {
                anyhow::anyhow!(
                    "a shard report names scenario '{}', which {e}",
                    s.id.escape_debug()
                )
            };
            let names = [
                alq_harness::report::pcap_name(&s.id).map_err(bad_id)?,
                alq_harness::report::iut_log_name(&s.id).map_err(bad_id)?,
            ];
            for name in names {
                let Some(from) = shard_dirs
                    .iter()
                    .map(|d| d.join(&name))
                    .find(|p| p.is_file())
                else {
                    continue;
                };
                let bytes = std::fs::read(&from)
                    .with_context(|| format!("cannot read {}", from.display()))?;
                alq_harness::report::write::write_new(&staged.path().join(&name), &bytes)?;
            }
        }
        alq_harness::report::write::write_documents(staged.path(), &report)?;
        let dir = staged.commit()?;
        let code = alq_harness::run::runner::exit_code(&report.scenarios, report.strict);
        let c = &report.scenario_counts;
        say!(
            "{} against {} from {}: {} pass, {} fail, {} warn, {} not-applicable, {} error",
            counted(report.scenarios.len(), "scenario"),
            report.target,
            counted(inputs.len(), "shard"),
            c.pass,
            c.fail,
            c.warn,
            c.not_applicable,
            c.error
        );
        Ok((
            dir,
            if report.interrupted {
                code.max(2)
            } else {
                code
            },
        ))
    })();
    match merged {
        Ok((dir, code)) => {
            say!("reports in {}", dir.display());
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod counted_tests {
    use super::counted;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(counted(1, "scenario"), "1 scenario");
        assert_eq!(counted(0, "scenario"), "0 scenarios");
        assert_eq!(counted(64, "shard"), "64 shards");
    }
}
