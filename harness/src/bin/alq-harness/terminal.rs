//! What `run` shows on the terminal: verdict labels in colour where the
//! output takes it (`--color`, NO_COLOR and CLICOLOR_FORCE as anstream reads
//! them), a live line naming the scenario under way, its step and the time
//! that step may wait (only when stdout is a terminal), and at the end every
//! failure and warning with its requirement.

use alq_harness::outcome::{citation, Verdict};
use alq_harness::report::groups::grouped;
use alq_harness::report::RunReport;
use alq_harness::run::progress::Progress;
use anstyle::{AnsiColor, Style};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// When `run` writes colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    Always,
    Never,
}

pub(crate) fn use_color(when: ColorWhen) {
    match when {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::AlwaysAnsi,
        ColorWhen::Never => anstream::ColorChoice::Never,
    }
    .write_global();
}

pub(crate) fn style(v: Verdict) -> Style {
    let color = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
    match v {
        Verdict::Pass => color(AnsiColor::Green),
        Verdict::Info => color(AnsiColor::Blue),
        Verdict::Warn => color(AnsiColor::Yellow).bold(),
        Verdict::Fail => color(AnsiColor::Red).bold(),
        Verdict::Error => color(AnsiColor::Magenta).bold(),
        Verdict::NotApplicable | Verdict::Inconclusive => Style::new().dimmed(),
    }
}

/// The verdict as a fixed-width label, coloured.
pub(crate) fn label(v: Verdict) -> String {
    let text = match v {
        Verdict::Pass => "PASS",
        Verdict::Info => "INFO",
        Verdict::Warn => "WARN",
        Verdict::Fail => "FAIL",
        Verdict::Error => "ERROR",
        Verdict::NotApplicable => "N/A",
        Verdict::Inconclusive => "INCONCLUSIVE",
    };
    let style = style(v);
    format!("{style}{text:<5}{style:#}")
}

/// The live line: drawn on stdout while it is a terminal, hidden otherwise.
pub(crate) struct Live {
    bar: indicatif::ProgressBar,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Live {
    pub(crate) fn start(progress: Progress, total: usize) -> Live {
        let target = if std::io::stdout().is_terminal() {
            indicatif::ProgressDrawTarget::stdout()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        };
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(u64::try_from(total).unwrap_or(u64::MAX)),
            target,
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg}")
        {
            bar.set_style(style);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (bar, stop) = (bar.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    bar.set_message(describe(&progress));
                    bar.tick();
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        Live {
            bar,
            stop,
            ticker: Some(ticker),
        }
    }

    /// Prints a finished scenario's lines above the live line.
    pub(crate) fn finished(&self, text: &str) {
        self.bar.suspend(|| say!("{text}"));
        self.bar.inc(1);
    }

    pub(crate) fn end(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        self.bar.finish_and_clear();
    }
}

/// Every running scenario on a line of its own, the one whose step has run
/// longest first, after the expected end of the run:
/// "about 4m 10s left (expected)" then
/// "ALQ-S-19-keepalive-every-idle-timeout: step 4/9 expect, may wait
/// ACTIVE_LQ_IDLE_TIMEOUT + 5s (38 s so far)".
fn describe(progress: &Progress) -> String {
    let running = progress.running();
    if running.is_empty() {
        return String::new();
    }
    let mut lines = Vec::new();
    if let Some(end) = progress.expected_end() {
        let left = end.saturating_duration_since(std::time::Instant::now());
        let left = Duration::from_secs(left.as_secs());
        lines.push(format!(
            "about {} left (expected)",
            humantime::format_duration(left)
        ));
    }
    for (id, r) in &running {
        let mut text = format!("{id}: step {}/{} {}", r.step, r.steps, r.keyword);
        if let Some(waits) = &r.waits_for {
            text.push_str(&format!(
                ", may wait {waits} ({} s so far)",
                r.since.elapsed().as_secs()
            ));
        }
        lines.push(text);
    }
    lines.join("\n  ")
}

/// Every failure, warning and harness error of the run, one line for each
/// group of findings alike but for numbers, naming the scenarios.
pub(crate) fn closing_list(report: &RunReport) -> Vec<String> {
    grouped(report, Verdict::Warn)
        .into_iter()
        .map(|g| {
            let ids: Vec<&str> = g.places.iter().map(|(id, _)| *id).collect();
            let place = match ids.as_slice() {
                [one] => (*one).to_string(),
                many if many.len() <= 3 => {
                    format!("{} scenarios ({})", many.len(), many.join(", "))
                }
                many => format!(
                    "{} scenarios ({}, and {} more)",
                    many.len(),
                    many[..3].join(", "),
                    many.len() - 3
                ),
            };
            match g.requirement {
                Some(r) => format!(
                    "  {} {r} ({}) in {place}: {}",
                    label(g.verdict),
                    citation(r),
                    g.text
                ),
                None => format!("  {} in {place}: {}", label(g.verdict), g.text),
            }
        })
        .collect()
}
