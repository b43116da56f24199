//! Embeds the scenario files in the binary, so it runs the suite from any
//! folder: `$OUT_DIR/embedded_scenarios.rs` lists each file of ../scenarios
//! (its path below that folder and its text), sorted by path. The
//! conformance test also enumerates them at compile time (rstest `#[files]`);
//! both are rebuilt when scenarios are added, removed or edited.

use std::path::{Path, PathBuf};

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // Links are not followed: the embedded set is the checkout's files.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            toml_files(&path, out);
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=../scenarios");
    println!("cargo:rerun-if-changed=build.rs");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.join("../scenarios");
    let mut files = Vec::new();
    toml_files(&root, &mut files);
    files.sort();
    let mut code =
        String::from("/// Every scenario file: its path below `scenarios/` and its text.\n");
    code.push_str("pub const SCENARIOS: &[(&str, &str)] = &[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let relative = file.strip_prefix(&root).unwrap_or(file);
        let absolute = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
        code.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            relative.display().to_string(),
            absolute.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = std::fs::write(out.join("embedded_scenarios.rs"), code) {
        panic!("cannot write the embedded scenario list: {e}");
    }
}
