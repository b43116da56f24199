//! The top-level modules of harness/src form layers that import one way
//! (docs/architecture.md): each may use only the layers above it, so there
//! is no cycle among them. Imports are read from the source text, test
//! modules left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top first: a module may import only those before it.
const LAYERS: &[&str] = &[
    "catalog",
    "toml_load",
    "file_names",
    "wire",
    "capture",
    "session",
    "reference",
    "net",
    "scenario",
    "outcome",
    "checks",
    "iut",
    "run",
    "report",
];

/// Every `.rs` file below `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules `text` names through `crate::`, as
/// `crate::x::…` or `use crate::{x, y::…}`.
fn imported(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            // Only the first name of each top-level item of the group.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group[..end].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_ascii_alphabetic() || c == '_') => {
                        out.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// `text` without its `#[cfg(test)]` modules (they may use any layer).
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

/// Each top-level module of `src` and the top-level modules it imports.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap_or(&file);
        let Some(first) = rel.components().next() else {
            continue;
        };
        let first = first.as_os_str().to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "bin" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let uses = imported(without_tests(&text));
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(uses.into_iter().filter(|m| *m != module));
    }
    graph
}

/// Every import that goes down the layers or to a module not in them, as
/// "from -> to".
fn violations(graph: &BTreeMap<String, BTreeSet<String>>, layers: &[&str]) -> Vec<String> {
    let place = |m: &str| layers.iter().position(|l| *l == m);
    let mut out = Vec::new();
    for (from, tos) in graph {
        let Some(at) = place(from) else {
            out.push(format!("{from} is in no layer"));
            continue;
        };
        for to in tos {
            match place(to) {
                Some(p) if p < at => {}
                _ => out.push(format!("{from} -> {to}")),
            }
        }
    }
    out
}

#[test]
fn every_top_level_module_imports_only_the_layers_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    assert!(graph.len() >= LAYERS.len(), "modules found: {graph:?}");
    let found = violations(&graph, LAYERS);
    assert!(found.is_empty(), "imports against the layers: {found:?}");
}

#[test]
fn an_import_back_up_or_into_no_layer_is_found() {
    let text = "use crate::run::x;\nuse crate::{wire::a, outcome};\nfn f() { crate::nowhere::g() }";
    assert_eq!(
        imported(text),
        ["nowhere", "outcome", "run", "wire"]
            .map(String::from)
            .into()
    );
    let mut graph = BTreeMap::new();
    graph.insert("checks".to_string(), imported(text));
    assert_eq!(
        violations(&graph, LAYERS),
        vec!["checks -> nowhere", "checks -> run"]
    );
    // A test module may use any layer.
    let with_tests = "use crate::wire::a;\n#[cfg(test)]\nmod tests { use crate::run::b; }";
    assert_eq!(
        imported(without_tests(with_tests)),
        ["wire".to_string()].into()
    );
}
