//! The layer rule of docs/ARCHITECTURE.md, checked on the source: a module imports only
//! from its own layer or the layers below it, no two files import each other in a circle,
//! and the domain and store layers never name the web framework. A plain scan of `src/`
//! (comments are skipped), so that the rule survives later changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers from the top; a module may use its own layer and every layer after it.
const LAYERS: &[&str] = &["main", "cli", "server", "http", "domain", "access", "store", "base"];

fn rank(module: &str) -> usize {
    let top = module.split("::").next().unwrap_or("");
    LAYERS.iter().position(|l| *l == top).unwrap_or_else(|| panic!("module `{module}` is in no layer: put it in a layer's folder"))
}

/// Every source file with its module path (`domain::sync::feed`).
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap().with_extension("");
        let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
        if parts.last().is_some_and(|l| l == "mod") {
            parts.pop();
        }
        let name = if parts == ["lib"] { String::new() } else { parts.join("::") };
        out.insert(name, f);
    }
    out
}

/// The code of a file without its comments.
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("//") {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules a file refers to by `crate::…` paths, including `use crate::{a, b::c}`.
fn references(src: &str, known: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let resolve = |path: &str| -> Option<String> {
        let parts: Vec<&str> = path.split("::").collect();
        (1..=parts.len()).rev().map(|k| parts[..k].join("::")).find(|m| known.contains_key(m))
    };
    let mut out = BTreeSet::new();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    for (i, _) in src.match_indices("crate::") {
        if src[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &src[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // A group: every item's first segments.
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(j, _)| j)
                .unwrap_or(group.len());
            let mut prefix: Vec<String> = Vec::new();
            let mut token = String::new();
            for c in group[..end].chars() {
                if ident(c) {
                    token.push(c);
                    continue;
                }
                if c == '{' {
                    prefix.push(token.trim_end_matches("::").to_owned());
                } else if !token.is_empty() {
                    let full = prefix.iter().filter(|p| !p.is_empty()).cloned().chain([token.clone()]).collect::<Vec<_>>().join("::");
                    out.extend(resolve(&full));
                }
                if c == '}' {
                    prefix.pop();
                }
                token.clear();
            }
            if !token.is_empty() {
                out.extend(resolve(&token));
            }
        } else {
            let path: String = rest.chars().take_while(|&c| ident(c)).collect();
            out.extend(resolve(path.trim_end_matches("::")));
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let known = modules();
    known
        .iter()
        .map(|(m, path)| {
            let mut refs = references(&code(path), &known);
            refs.remove(m);
            refs.remove("");
            (m.clone(), refs)
        })
        .collect()
}

#[test]
fn imports_only_run_downward() {
    let mut upward = Vec::new();
    for (from, refs) in graph() {
        if from.is_empty() {
            continue; // lib.rs declares the layers
        }
        for to in refs {
            if rank(&to) < rank(&from) {
                upward.push(format!("{from} → {to}"));
            }
        }
    }
    assert!(upward.is_empty(), "imports running up a layer (see docs/ARCHITECTURE.md): {upward:#?}");
}

#[test]
fn no_file_imports_in_a_circle() {
    let g = graph();
    // Depth-first search; a back edge closes a circle.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        found: &mut Vec<String>,
    ) {
        state.insert(m.to_owned(), 1);
        stack.push(m.to_owned());
        for n in g.get(m).into_iter().flatten() {
            match state.get(n.as_str()) {
                Some(1) => {
                    let start = stack.iter().position(|s| s == n).unwrap_or(0);
                    found.push(format!("{} → {n}", stack[start..].join(" → ")));
                }
                Some(_) => {}
                None => visit(n, g, state, stack, found),
            }
        }
        stack.pop();
        state.insert(m.to_owned(), 2);
    }
    let mut state = BTreeMap::new();
    let mut found = Vec::new();
    for m in g.keys() {
        if !state.contains_key(m.as_str()) {
            visit(m, &g, &mut state, &mut Vec::new(), &mut found);
        }
    }
    assert!(found.is_empty(), "files importing each other in a circle: {found:#?}");
}

#[test]
fn domain_and_store_never_name_the_web_framework() {
    let offenders: Vec<String> = modules()
        .into_iter()
        .filter(|(m, _)| m.starts_with("domain") || m.starts_with("store"))
        .filter(|(_, p)| {
            let c = code(p);
            c.contains("actix") || c.contains("HttpResponse") || c.contains("HttpRequest")
        })
        .map(|(m, _)| m)
        .collect();
    assert!(offenders.is_empty(), "domain or store files that use actix-web: {offenders:?}");
}

#[test]
fn the_scan_sees_what_it_checks() {
    // The scan itself must work, or the tests above pass vacuously.
    let g = graph();
    assert!(g.len() > 40, "found only {} modules", g.len());
    assert!(g["http::classes"].contains("domain::classes"));
    assert!(g["domain::records"].contains("store::db"));
    let known = modules();
    let refs = references("use crate::{base::error::{self, ApiError}, store::db};", &known);
    assert_eq!(refs, BTreeSet::from(["base::error".to_owned(), "store::db".to_owned()]));
}
