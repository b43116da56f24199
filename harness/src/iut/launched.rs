//! A requestor the harness launches: its output kept for the report, its exit
//! noticed while the harness waits for it, and its stop graceful first.

use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;

/// Output kept per launched requestor: its last bytes, since a long run's
/// beginning matters less than what it said before it stopped.
const KEPT_OUTPUT: usize = 1 << 20;

/// Lines of output an error about the requestor quotes.
const TAIL_LINES: usize = 20;

/// How long a requestor has to exit after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// What a launched requestor wrote on stdout and stderr, interleaved as read.
#[derive(Debug, Clone, Default)]
pub struct Output(Arc<Mutex<Vec<u8>>>);

impl Output {
    /// Copies `from` into the kept output until it ends.
    pub fn collect(&self, mut from: impl AsyncRead + Unpin + Send + 'static) {
        let kept = Arc::clone(&self.0);
        tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = from.read(&mut chunk).await {
                let Some(read) = chunk.get(..n).filter(|r| !r.is_empty()) else {
                    break;
                };
                let Ok(mut kept) = kept.lock() else { break };
                kept.extend_from_slice(read);
                let excess = kept.len().saturating_sub(KEPT_OUTPUT);
                kept.drain(..excess);
            }
        });
    }

    /// Everything kept, as text.
    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|kept| String::from_utf8_lossy(&kept).into_owned())
            .unwrap_or_default()
    }

    /// The last lines kept, for an error message.
    pub fn tail(&self) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(TAIL_LINES);
        lines.get(from..).unwrap_or_default().join("\n")
    }
}

/// Why a launched requestor ended: its exit status in words.
pub fn exit_text(status: ExitStatus) -> String {
    match (status.code(), signal(status)) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        (None, None) => "exited".to_string(),
    }
}

#[cfg(unix)]
fn signal(status: ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(&status)
}

#[cfg(not(unix))]
fn signal(_: ExitStatus) -> Option<i32> {
    None
}

/// Stops `child`: SIGTERM, `grace` to exit ([`STOP_GRACE`] unless the run
/// is being interrupted), then SIGKILL.
pub async fn stop(child: &mut Child, grace: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    if let Some(pid) = child.id() {
        // The kill utility sends the signal without unsafe code here.
        let asked = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .is_ok_and(|s| s.success());
        if asked && tokio::time::timeout(grace, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_output_and_quotes_its_last_lines() {
        let output = Output::default();
        let text: String = (1..=30).map(|n| format!("line {n}\n")).collect();
        let (mut w, r) = tokio::io::duplex(64);
        output.collect(r);
        tokio::io::AsyncWriteExt::write_all(&mut w, text.as_bytes())
            .await
            .unwrap();
        drop(w);
        for _ in 0..100 {
            if output.text().len() == text.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(output.text(), text);
        let tail = output.tail();
        assert!(tail.starts_with("line 11\n"), "{tail}");
        assert!(tail.ends_with("line 30"), "{tail}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_requestor_that_ignores_sigterm_is_killed_after_the_grace() {
        let mut child = tokio::process::Command::new("sh")
            .args(["-c", "trap '' TERM; sleep 30"])
            .spawn()
            .unwrap();
        // Let the shell set its trap before the signal comes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        stop(&mut child, STOP_GRACE).await;
        let status = child.try_wait().unwrap().expect("stopped");
        assert_eq!(signal(status), Some(9), "{}", exit_text(status));
        assert!(started.elapsed() >= STOP_GRACE);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_requestor_that_honours_sigterm_stops_at_once() {
        let mut child = tokio::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        stop(&mut child, STOP_GRACE).await;
        let status = child.try_wait().unwrap().expect("stopped");
        assert_eq!(signal(status), Some(15), "{}", exit_text(status));
    }
}
