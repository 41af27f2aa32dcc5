//! The shape of the code, checked like rust-analyzer's tidy tests: every
//! module says what it owns and what it must never do, stays small enough
//! to read, and every crate's modules import one another without
//! circles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lines of a module, its unit tests left out ("no module over ~600").
const MAX_LINES: usize = 620;

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn crates() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    ["model/src", "store/src", "sync/src", "node/src", "cli/src", "api/src", "mirror/src", "export/src", "forms/src"]
        .iter()
        .map(|d| root.join(d))
        .collect()
}

/// Whether a file holds only tests (`tests.rs`, or a file of a `tests/`
/// folder inside a crate's sources).
fn test_only(file: &Path) -> bool {
    file.ends_with("tests.rs") || file.parent().is_some_and(|d| d.ends_with("tests"))
}

/// The module without its `#[cfg(test)] mod tests` (always at the end).
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    }
}

#[test]
fn every_module_says_what_it_owns_and_must_never_do() {
    let mut missing = vec![];
    for dir in crates() {
        for file in sources(&dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            let header: Vec<&str> =
                text.lines().take_while(|l| l.starts_with("//!")).map(|l| l.trim_start_matches("//!").trim()).collect();
            let header = header.join(" ");
            // the crate root documents the crate (ARCHITECTURE.md has its map)
            let exempt = test_only(&file) || file.ends_with("node/src/lib.rs");
            if header.is_empty() || (!exempt && !(header.contains("Owns:") && header.contains("Must never"))) {
                missing.push(file.display().to_string());
            }
        }
    }
    assert!(missing.is_empty(), "modules without a `//!` header naming what they own and must never do: {missing:#?}");
}

#[test]
fn no_module_is_over_about_600_lines() {
    let mut long = vec![];
    for dir in crates() {
        for file in sources(&dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            let lines = without_tests(&text).lines().count();
            if lines > MAX_LINES && !test_only(&file) {
                long.push(format!("{}: {lines} lines", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "over {MAX_LINES} lines (tests aside): {long:#?}");
}

/// Top-level module → the top-level modules of the same crate it names as
/// `crate::…` (the crate root left out: it names them all).
fn imports_of(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(src) {
        let rel = file.strip_prefix(src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = without_tests(&text);
        let named = imports.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() && name != top {
                named.insert(name);
            }
        }
    }
    imports
}

/// A path of imports from a module back to itself, if there is one.
fn find_cycle(
    at: &str,
    imports: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(i) = path.iter().position(|m| m == at) {
        let mut cycle = path[i..].to_vec();
        cycle.push(at.to_string());
        return Some(cycle);
    }
    if done.contains(at) {
        return None;
    }
    path.push(at.to_string());
    for next in imports.get(at).into_iter().flatten().filter(|m| imports.contains_key(*m)) {
        if let Some(c) = find_cycle(next, imports, path, done) {
            return Some(c);
        }
    }
    path.pop();
    done.insert(at.to_string());
    None
}

#[test]
fn every_crates_modules_import_one_another_without_circles() {
    let mut circles = vec![];
    for src in crates() {
        let imports = imports_of(&src);
        let mut done = BTreeSet::new();
        // the first circle of each crate (one found, others may hide behind it)
        if let Some(cycle) = imports.keys().find_map(|m| find_cycle(m, &imports, &mut vec![], &mut done)) {
            circles.push(format!("{}: {}", src.display(), cycle.join(" → ")));
        }
    }
    assert!(circles.is_empty(), "import circles: {circles:#?}");
}

#[test]
fn the_circle_check_sees_a_circle_and_the_modules() {
    let node = imports_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("node/src"));
    assert!(node.len() > 20 && node["write"].contains("node"), "the scan found the modules: {node:?}");
    let circle: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .iter()
        .map(|(m, n)| (m.to_string(), BTreeSet::from([n.to_string()])))
        .collect();
    assert_eq!(find_cycle("a", &circle, &mut vec![], &mut BTreeSet::new()).unwrap(), ["a", "b", "c", "a"]);
}
