//! The whole suite against implementations running as processes of their
//! own: the reference server and requestor (`reference`) and a hostile
//! server and requestor (`hostile`). One test binary, so that their runs,
//! which mostly wait on protocol timers and deadlines, overlap.

#[path = "../common/mod.rs"]
mod common;
mod hostile;
mod reference;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A child process, killed when the test is done with it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The checkout, where the scenarios are.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Starts `command` and waits for the first line it prints (servers print
/// where they listen once they do).
fn start(command: &mut Command) -> (Running, String) {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Running(child), line)
}
