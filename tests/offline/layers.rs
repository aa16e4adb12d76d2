//! Dependencies point down: the modules of `src/`, drawn as a graph from
//! the paths their code names (`use crate::...`, `crate::x::y`,
//! `super::...`), have no arrow back up and no circle. The top-level
//! modules are ranked in [`LAYERS`]; inside each module, its parts must not
//! import each other in a circle. A part may use its parent (the module
//! that contains it) and a parent its parts. Unit tests (`#[cfg(test)]`)
//! are left out: they may reach for whatever they check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules, highest first: a module may name only those
/// below it (docs/architecture.md draws the same picture).
const LAYERS: &[&str] = &[
    "commands",
    "printer",
    "notify",
    "settings",
    "cli",
    "completion",
    "error",
    "typos",
    "report",
    "engine",
    "plan",
    "playbook",
    "steps",
    "sources",
    "migrations",
    "template",
    "inventory",
    "vault",
    "transport",
    "project",
    "serving",
    "gitref",
    "rollout",
    "suggest",
    "glob",
    "redact",
    "cancel",
];

/// A module's path below the crate (`["steps", "kind"]`).
type ModulePath = Vec<String>;

/// One name of a module in another's code.
#[derive(Debug)]
struct Reference {
    from: ModulePath,
    to: ModulePath,
    file: PathBuf,
    line: usize,
}

#[test]
fn dependencies_point_down_with_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = check(&src, LAYERS);
    assert!(
        problems.is_empty(),
        "the layering of src/ is broken:\n{}",
        problems.join("\n")
    );
}

/// The check can fail: a leaf that imports a module above it is named,
/// and so is a circle between two parts of one module.
#[test]
fn an_import_back_up_or_a_circle_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path();
    std::fs::create_dir_all(src.join("engine")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod engine;\npub mod glob;\n").unwrap();
    std::fs::write(src.join("glob.rs"), "use crate::engine::run;\n").unwrap();
    std::fs::write(
        src.join("engine/mod.rs"),
        "mod a;\nmod b;\npub fn run() {}\n",
    )
    .unwrap();
    std::fs::write(src.join("engine/a.rs"), "use super::b::B;\npub struct A;\n").unwrap();
    std::fs::write(
        src.join("engine/b.rs"),
        "pub struct B(crate::engine::a::A);\n#[cfg(test)]\nmod tests { use crate::glob; }\n",
    )
    .unwrap();
    let problems = check(src, &["engine", "glob"]);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].contains("glob.rs:1: `glob` imports `engine`, a layer above it"),
        "{problems:#?}"
    );
    assert!(
        problems[1].contains("a circle in `engine`: a -> b -> a"),
        "{problems:#?}"
    );
}

/// What is wrong with the layering of the crate in `src`.
fn check(src: &Path, layers: &[&str]) -> Vec<String> {
    let modules = modules(src);
    let known: BTreeSet<ModulePath> = modules.iter().map(|(m, _)| m.clone()).collect();
    let references: Vec<Reference> = modules
        .iter()
        .flat_map(|(module, file)| references(module, file, &known))
        .collect();
    let mut problems = Vec::new();
    let rank = |name: &str| layers.iter().position(|l| *l == name);
    for top in known.iter().filter(|m| m.len() == 1) {
        if rank(&top[0]).is_none() {
            problems.push(format!(
                "`{}` is in no layer: add it to LAYERS in {}",
                top[0],
                file!()
            ));
        }
    }
    // Edges between the parts of one parent, for the circles.
    let mut siblings: BTreeMap<ModulePath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for r in &references {
        let common = r.from.iter().zip(&r.to).take_while(|(a, b)| a == b).count();
        let (Some(from), Some(to)) = (r.from.get(common), r.to.get(common)) else {
            continue; // a part and its parent
        };
        if common == 0 {
            if let (Some(a), Some(b)) = (rank(from), rank(to))
                && a >= b
            {
                problems.push(format!(
                    "{}:{}: `{from}` imports `{to}`, a layer above it",
                    r.file.display(),
                    r.line
                ));
            }
            continue;
        }
        siblings
            .entry(r.from[..common].to_vec())
            .or_default()
            .entry(from.clone())
            .or_default()
            .insert(to.clone());
    }
    for (parent, edges) in &siblings {
        if let Some(circle) = find_circle(edges) {
            problems.push(format!(
                "a circle in `{}`: {}",
                parent.join("::"),
                circle.join(" -> ")
            ));
        }
    }
    problems
}

/// Every module of the crate and its file (the crate root left out).
fn modules(src: &Path) -> Vec<(ModulePath, PathBuf)> {
    fn walk(dir: &Path, prefix: &[String], found: &mut Vec<(ModulePath, PathBuf)>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(name);
                walk(&path, &inner, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut module = prefix.to_vec();
                match name.as_str() {
                    "mod" => {}
                    "lib" | "main" if prefix.is_empty() => continue,
                    _ => module.push(name),
                }
                found.push((module, path));
            }
        }
    }
    let mut found = Vec::new();
    walk(src, &[], &mut found);
    found
}

/// The modules `file` (module `module`) names, outside its unit tests.
fn references(module: &ModulePath, file: &Path, known: &BTreeSet<ModulePath>) -> Vec<Reference> {
    let text = code_only(&std::fs::read_to_string(file).unwrap());
    let mut found = Vec::new();
    for (at, _) in text
        .match_indices("crate::")
        .chain(text.match_indices("super::"))
    {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let line = text[..at].matches('\n').count() + 1;
        for path in use_tree(&text[at..]) {
            // `super` is the module that holds this one; `crate` the root.
            let ups = path.iter().take_while(|w| *w == "super").count();
            let mut target: ModulePath = if ups > 0 {
                module[..module.len().saturating_sub(ups)].to_vec()
            } else {
                Vec::new()
            };
            let mut deepest = None;
            for word in &path[ups.max(1)..] {
                target.push(word.clone());
                if !known.contains(&target) {
                    break;
                }
                deepest = Some(target.clone());
            }
            if let Some(to) = deepest.filter(|to| to != module) {
                found.push(Reference {
                    from: module.clone(),
                    to,
                    file: file.to_owned(),
                    line,
                });
            }
        }
    }
    found
}

/// The paths a `use` tree (or a plain path) at the start of `text` names,
/// each as its words: `crate::{a::b, c}` gives `crate a b` and `crate c`.
fn use_tree(text: &str) -> Vec<Vec<String>> {
    fn parse(text: &[u8], at: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let mut path = prefix.to_vec();
        loop {
            skip_space(text, at);
            if text.get(*at) == Some(&b'{') {
                *at += 1;
                loop {
                    skip_space(text, at);
                    match text.get(*at) {
                        Some(b'}') => {
                            *at += 1;
                            return;
                        }
                        Some(b',') => *at += 1,
                        None => return,
                        _ => parse(text, at, &path, out),
                    }
                }
            }
            let start = *at;
            while text
                .get(*at)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
            {
                *at += 1;
            }
            if start == *at {
                out.push(path);
                return;
            }
            path.push(String::from_utf8_lossy(&text[start..*at]).into_owned());
            skip_space(text, at);
            if text[*at..].starts_with(b"::") {
                *at += 2;
            } else {
                out.push(path);
                return;
            }
        }
    }
    fn skip_space(text: &[u8], at: &mut usize) {
        while text.get(*at).is_some_and(u8::is_ascii_whitespace) {
            *at += 1;
        }
    }
    let mut out = Vec::new();
    parse(text.as_bytes(), &mut 0, &[], &mut out);
    out
}

/// `text` with comments, string and character literals blanked (newlines
/// kept, so lines still count) and `#[cfg(test)]` items cut.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('"' | '#')) && !ident_before(&chars, i) {
            // A raw string: r"...", r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            let end: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while j < chars.len() && !chars[j..].starts_with(&end) {
                out.push(blank(chars[j]));
                j += 1;
            }
            i = j + end.len();
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    cut_test_items(&out)
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// Whether the `'` at `i` opens a character literal (not a lifetime).
fn is_char_literal(chars: &[char], i: usize) -> bool {
    matches!(
        (chars.get(i + 1), chars.get(i + 2)),
        (Some('\\'), _) | (Some(_), Some('\''))
    )
}

/// `text` without the items marked `#[cfg(test)]` (up to their closing
/// brace, or their `;`).
fn cut_test_items(text: &str) -> String {
    let mut out = text.to_owned();
    while let Some(at) = out.find("#[cfg(test)]") {
        let rest = &out[at..];
        let open = rest.find('{');
        let semi = rest.find(';');
        let end = match (open, semi) {
            (Some(o), Some(s)) if s < o => at + s + 1,
            (Some(o), _) => {
                let mut depth = 0;
                let mut end = out.len();
                for (k, c) in out[at + o..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = at + o + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, Some(s)) => at + s + 1,
            (None, None) => out.len(),
        };
        let kept_lines = "\n".repeat(out[at..end].matches('\n').count());
        out.replace_range(at..end, &kept_lines);
    }
    out
}

/// A circle in `edges` (each part and the parts it names), as the names
/// along it with the first repeated at the end.
fn find_circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut circle = stack[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, stack, done) {
                return Some(circle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}
