//! The floors of the house (ARCHITECTURE.md, README "Architecture"): a module imports only
//! from its own floor or lower ones, no modules import each other in a circle, and `domain`
//! neither touches the database nor reads the clock. Read from the source, so a change that
//! breaks the layering fails the test suite.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Floor of each top-level module, lowest first (the error type shares the ground floor with
/// `domain`: rules report `FieldError`s). A module not listed here fails the check
/// until it is given a floor.
const FLOORS: &[(&str, u8)] = &[
    ("domain", 0),
    ("error", 0),
    ("crypto", 1),
    ("entity", 1),
    ("config", 2),
    ("db", 3),
    ("mailer", 3),
    ("storage", 3),
    ("telemetry", 3),
    ("webhook_client", 3),
    ("state", 4),
    ("store", 5),
    ("service", 6),
    ("jobs", 7),
    ("graphql", 8),
    ("http", 9),
    ("cli", 10),
    ("lib", 10),
    ("main", 10),
];

/// Top-level modules whose files are units of their own in the circle check.
const SPLIT: &[&str] = &["domain", "store", "service", "jobs", "graphql", "http"];

/// What GraphQL and HTTP may not name: resolvers parse, authorize, shape and call services;
/// the SQL is built below them.
const NO_SQL: &[&str] = &["sea_query", "QueryFilter", "QuerySelect", "QueryOrder", "Entity::find", "Condition::"];

/// What `domain` may not name: it gets data and time passed in.
const IMPURE: &[&str] = &["sea_orm", "sqlx", "tokio", "reqwest", "std::fs", "Utc::now", "SystemTime", "Local::now"];

fn floor(top: &str) -> Option<u8> {
    FLOORS.iter().find(|(m, _)| *m == top).map(|(_, f)| *f)
}

/// The module path of a file under `src/`: `service/appeals.rs` → `["service", "appeals"]`.
fn module_of(rel: &str) -> Vec<String> {
    let rel = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if parts.len() > 1 && parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The unit a module path belongs to in the circle check.
fn unit(path: &[String]) -> String {
    match path {
        [top, second, ..] if SPLIT.contains(&top.as_str()) && second.starts_with(|c: char| c.is_lowercase()) => {
            format!("{top}::{second}")
        }
        [top, ..] => top.clone(),
        [] => "lib".into(),
    }
}

/// The code of a file without comments and without its `#[cfg(test)]` module.
fn code_of(source: &str) -> String {
    let source = source.find("#[cfg(test)]").map_or(source, |at| &source[..at]);
    source.lines().map(|l| l.find("//").map_or(l, |at| &l[..at])).collect::<Vec<_>>().join("\n")
}

fn ident_at(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The top-level names of a `{a, b::c, d::{e}}` group starting at `s[0] == '{'`, each with
/// its second segment when it has one.
fn group_names(s: &str) -> Vec<Vec<String>> {
    let mut depth = 0;
    let mut current = String::new();
    let mut names = Vec::new();
    for c in s.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    names.push(std::mem::take(&mut current));
                    break;
                }
            }
            ',' if depth == 1 => {
                names.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    names
        .iter()
        .map(|n| {
            n.trim().split("::").take(2).map(|p| ident_at(p.trim()).to_owned()).filter(|p| !p.is_empty()).collect()
        })
        .filter(|n: &Vec<String>| !n.is_empty())
        .collect()
}

/// Module paths (one or two segments) a file's code names through `crate::` and `super::`.
fn imports(module: &[String], code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if rest.starts_with('{') {
            out.extend(group_names(rest));
        } else {
            let first = ident_at(rest);
            let after = &rest[first.len()..];
            let mut path = vec![first.to_owned()];
            if let Some(next) = after.strip_prefix("::") {
                if next.starts_with('{') {
                    for name in group_names(next) {
                        out.push(vec![first.to_owned(), name[0].clone()]);
                    }
                    continue;
                }
                path.push(ident_at(next).to_owned());
            }
            out.push(path);
        }
    }
    if module.len() >= 2 {
        let parent = &module[..module.len() - 1];
        for (at, _) in code.match_indices("super::") {
            if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[at + "super::".len()..];
            let names = if rest.starts_with('{') {
                group_names(rest).into_iter().map(|n| n[0].clone()).collect()
            } else {
                vec![ident_at(rest).to_owned()]
            };
            for name in names {
                let mut path = parent.to_vec();
                path.push(name);
                out.push(path);
            }
        }
    }
    out
}

/// Everything wrong with the layering of these files (path under `src/`, source).
fn violations(files: &[(String, String)]) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, source) in files {
        let module = module_of(rel);
        let Some(own) = floor(&module[0]) else {
            wrong.push(format!("{rel}: module `{}` has no floor in tests/api/layers.rs", module[0]));
            continue;
        };
        let code = code_of(source);
        if module[0] == "domain" {
            for word in IMPURE {
                if code.contains(word) {
                    wrong.push(format!("{rel}: domain is pure but names `{word}`"));
                }
            }
        }
        if module[0] == "graphql" || module[0] == "http" {
            for word in NO_SQL {
                if code.contains(word) {
                    wrong.push(format!("{rel}: resolvers build no SQL but this names `{word}`"));
                }
            }
        }
        let from = unit(&module);
        for target in imports(&module, &code) {
            let Some(theirs) = floor(&target[0]) else {
                continue;
            };
            if theirs > own {
                wrong.push(format!(
                    "{rel}: floor {own} (`{}`) imports floor {theirs} (`{}`)",
                    module[0],
                    target.join("::")
                ));
            }
            let to = unit(&target);
            if to != from && !from.starts_with(&format!("{to}::")) && !to.starts_with(&format!("{from}::")) {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    for circle in circles(&graph) {
        wrong.push(format!("modules import each other in a circle: {}", circle.join(" → ")));
    }
    wrong
}

/// The strongly connected components with more than one unit (Tarjan's algorithm).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.stack.contains(&w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    component.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk { graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            out.push((rel, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

#[test]
fn no_floor_imports_a_higher_one_and_no_modules_import_each_other_in_a_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    assert!(files.len() > 50, "read the sources under src/");
    let wrong = violations(&files);
    assert!(wrong.is_empty(), "the layering is broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_layering_check_finds_an_upward_import_a_circle_and_an_impure_domain() {
    let file = |rel: &str, source: &str| (rel.to_owned(), source.to_owned());
    let files = vec![
        file("domain/rules.rs", "use crate::service::appeals::create;\nfn f() { let _ = chrono::Utc::now(); }"),
        file("service/a.rs", "use super::b::thing;"),
        file("service/c.rs", "use super::{Caller, d};"),
        file("service/d.rs", "use super::c::x;"),
        file("service/b.rs", "use crate::{error::AppError, service::a::other};"),
        file("config.rs", "use crate::{db, domain::password}; // crate::http in a comment is fine"),
        file("newfloor.rs", "fn f() {}"),
        file("graphql/x.rs", "use crate::service::a;\n#[cfg(test)]\nmod tests { use crate::http::y; }"),
        file("http/z.rs", "fn f() { let q = appeal::Entity::find().filter(x); }"),
    ];
    let wrong = violations(&files);
    let has = |needle: &str| wrong.iter().any(|w| w.contains(needle));
    assert!(has("domain/rules.rs: floor 0 (`domain`) imports floor 6 (`service::appeals`)"), "{wrong:#?}");
    assert!(has("domain is pure but names `Utc::now`"), "{wrong:#?}");
    assert!(has("circle: service::a → service::b"), "{wrong:#?}");
    assert!(has("circle: service::c → service::d"), "a `super::{{…}}` group counts: {wrong:#?}");
    assert!(has("config.rs: floor 2 (`config`) imports floor 3 (`db`)"), "{wrong:#?}");
    assert!(has("module `newfloor` has no floor"), "{wrong:#?}");
    assert!(!has("graphql/x.rs"), "a test module may import anything: {wrong:#?}");
    assert!(has("http/z.rs: resolvers build no SQL but this names `Entity::find`"), "{wrong:#?}");
    assert!(!has("crate::http"), "{wrong:#?}");
    assert_eq!(wrong.len(), 7, "{wrong:#?}");
}
