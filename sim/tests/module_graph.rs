//! The module graph of `sim/` and `models/` has no cycle: a module that
//! another one builds on never reaches back into it, so each can be read
//! (and tested) from the bottom up. This test reads the sources the way a
//! reviewer would — every `crate::module` path outside comments and test
//! modules, grouped imports included — and fails naming the cycle it finds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Source files one crate may hold; a crate past it is not this workspace.
const FILES_MAX: usize = 1_000;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("a source dir")
        .map(|e| e.expect("an entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
        assert!(out.len() <= FILES_MAX, "more than {FILES_MAX} source files");
    }
}

/// The top-level module a file belongs to (`world` for `world/line.rs`),
/// `None` for the crate root.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (!matches!(name.as_str(), "lib" | "main")).then_some(name)
}

/// Each module a `crate::` path in `code` names: `crate::a::b`, and every
/// head of a group, `crate::{a, b::c}`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `possim_crate::` or similar, not this crate
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let head: String =
                    item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !head.is_empty() {
                    found.push(head);
                }
            }
            continue;
        }
        let head: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !head.is_empty() {
            found.push(head);
        }
    }
    found
}

/// A top-level file's `super::x` is `crate::x`.
fn super_paths(code: &str) -> Vec<String> {
    code.replace("super::super::", "\u{0}")
        .replace("super::", "crate::")
        .replace('\u{0}', "super::super::")
        .split('\n')
        .flat_map(crate_paths)
        .collect()
}

/// The code of a file that a build of the library uses: comments and the
/// `#[cfg(test)]` module (tests may reach anywhere) left out.
fn library_code(text: &str) -> String {
    let cut = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..cut]
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(src, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(src, file) else { continue };
        let code = library_code(&std::fs::read_to_string(file).expect("readable"));
        let top_level = file.parent() == Some(src);
        let mut named = crate_paths(&code);
        if top_level {
            named.extend(super_paths(&code));
        }
        for target in named {
            if target != module && modules.contains(&target) {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    edges
}

/// A cycle through the graph, as the modules along it, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, edges, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

#[test]
fn the_sim_and_models_crates_have_no_module_cycle() {
    for krate in ["sim/src", "models/src"] {
        let edges = graph(&workspace().join(krate));
        assert!(edges.len() >= 5, "{krate}: the reader found too few modules: {edges:?}");
        if let Some(cycle) = find_cycle(&edges) {
            panic!("{krate}: modules in a cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_reader_sees_grouped_imports_and_finds_a_planted_cycle() {
    assert_eq!(crate_paths("use crate::{oracle, trace::Trace};"), ["oracle", "trace"]);
    assert_eq!(crate_paths("possim_crate::x"), Vec::<String>::new());
    assert_eq!(
        library_code("// crate::a\nuse crate::b;\n#[cfg(test)]\nuse crate::c;"),
        "use crate::b;"
    );
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&edges), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
}
