//! Checks a document must pass before the library parses or validates it.
//!
//! The parser recurses once per level of nested lists, input objects and selection sets, so
//! an anonymous 4 KB text of 2,000 `[` overflowed the stack and aborted the process; and
//! validation expands fragment spreads, so 730 bytes of fragments spreading each other cost
//! half a minute of CPU. Both are bounded here on the raw text and on the parsed document, in
//! time linear in the size of the text, before anything else looks at it.

use std::collections::HashMap;

use async_graphql::parser::types::{Directive, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Positioned, ServerError};
use async_graphql_value::Value;

use crate::error::code;

/// The deepest nesting of `{`, `[` and `(` a document may have. The introspection query of
/// graphql-js needs 15 levels of selections and 2 of arguments; the server's own depth limit
/// (`MCU_MAX_DEPTH`) for selections is checked later.
pub const MAX_NESTING: usize = 40;

fn error(code: &str, message: String) -> ServerError {
    let mut e = ServerError::new(message, None);
    e.extensions.get_or_insert_with(Default::default).set("code", code);
    e
}

/// Refuses a text nested deeper than [`MAX_NESTING`] before the parser recurses into it.
/// Strings, block strings and comments are skipped as the lexer skips them.
///
/// # Errors
/// `GRAPHQL_PARSE_FAILED` naming the limit.
pub fn check_nesting(text: &str) -> Result<(), ServerError> {
    let bytes = text.as_bytes();
    let (mut i, mut depth, mut deepest) = (0, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped triple quote inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > MAX_NESTING {
                    return Err(error(
                        code::GRAPHQL_PARSE_FAILED,
                        format!(
                            "the document is nested deeper than {MAX_NESTING} levels of braces, brackets and parentheses"
                        ),
                    ));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Refuses a parsed document whose fields, with every fragment spread expanded, number more
/// than `max_fields`, and `@include`/`@skip` whose `if` is not a Boolean. Each fragment is
/// counted once (memoised), so the check itself is linear in the size of the document.
///
/// # Errors
/// `GRAPHQL_VALIDATION_FAILED` naming the limit or the argument.
pub fn check_document(doc: &ExecutableDocument, max_fields: usize, max_depth: usize) -> Result<(), ServerError> {
    let mut counter = Counter { doc, memo: HashMap::new() };
    let mut depths = Depths { doc, memo: HashMap::new() };
    let mut total = 0usize;
    for (_, op) in doc.operations.iter() {
        check_directives(&op.node.directives)?;
        if depths.depth(&op.node.selection_set.node) > max_depth {
            return Err(error(
                code::GRAPHQL_VALIDATION_FAILED,
                format!("the operation is nested deeper than {max_depth} fields (MCU_MAX_DEPTH)"),
            ));
        }
        total = total.saturating_add(counter.count(&op.node.selection_set.node)?);
        if total > max_fields {
            return Err(error(
                code::GRAPHQL_VALIDATION_FAILED,
                format!(
                    "the document selects more than {max_fields} fields once its fragments are expanded (MCU_MAX_FIELDS)"
                ),
            ));
        }
    }
    for fragment in doc.fragments.values() {
        check_directives(&fragment.node.directives)?;
        counter.count_fragment_body(&fragment.node.selection_set.node)?;
    }
    Ok(())
}

fn check_directives(directives: &[Positioned<Directive>]) -> Result<(), ServerError> {
    for d in directives {
        let name = d.node.name.node.as_str();
        if name != "include" && name != "skip" {
            continue;
        }
        let arg = d.node.arguments.iter().find(|(n, _)| n.node.as_str() == "if");
        let ok = matches!(arg.map(|(_, v)| &v.node), Some(Value::Boolean(_) | Value::Variable(_)));
        if !ok {
            let mut e = error(
                code::GRAPHQL_VALIDATION_FAILED,
                format!("Invalid value for argument \"if\" of @{name}, expected type \"Boolean!\""),
            );
            e.locations = vec![d.pos];
            return Err(e);
        }
    }
    Ok(())
}

/// The deepest nesting of fields, fragments expanded (each once, memoised), leaving out what
/// is below `__schema` and `__type`: the standard introspection query of graphql-js needs 15
/// levels, which the library's own limit ([`INTROSPECTION_DEPTH`]) allows there.
struct Depths<'a> {
    doc: &'a ExecutableDocument,
    memo: HashMap<&'a str, Option<usize>>,
}

/// The depth allowed below `__schema` and `__type`.
pub const INTROSPECTION_DEPTH: usize = 20;

impl<'a> Depths<'a> {
    fn depth(&mut self, set: &'a SelectionSet) -> usize {
        let mut deepest = 0;
        for item in &set.items {
            let d = match &item.node {
                Selection::Field(f) => match f.node.name.node.as_str() {
                    "__schema" | "__type" => 1,
                    _ => 1 + self.depth(&f.node.selection_set.node),
                },
                Selection::InlineFragment(f) => self.depth(&f.node.selection_set.node),
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.as_str();
                    match self.memo.get(name) {
                        Some(d) => d.unwrap_or(0),
                        None => match self.doc.fragments.get(&s.node.fragment_name.node) {
                            None => 0,
                            Some(def) => {
                                self.memo.insert(name, None);
                                let d = self.depth(&def.node.selection_set.node);
                                self.memo.insert(name, Some(d));
                                d
                            }
                        },
                    }
                }
            };
            deepest = deepest.max(d);
        }
        deepest
    }
}

struct Counter<'a> {
    doc: &'a ExecutableDocument,
    /// Expanded size of each fragment; `None` while it is being counted (a cycle, which
    /// validation refuses, counts as empty here).
    memo: HashMap<&'a str, Option<usize>>,
}

impl<'a> Counter<'a> {
    fn count(&mut self, set: &'a SelectionSet) -> Result<usize, ServerError> {
        let mut n = 0usize;
        for item in &set.items {
            let add = match &item.node {
                Selection::Field(f) => {
                    check_directives(&f.node.directives)?;
                    1usize.saturating_add(self.count(&f.node.selection_set.node)?)
                }
                Selection::InlineFragment(f) => {
                    check_directives(&f.node.directives)?;
                    self.count(&f.node.selection_set.node)?
                }
                Selection::FragmentSpread(s) => {
                    check_directives(&s.node.directives)?;
                    let name = s.node.fragment_name.node.as_str();
                    match self.memo.get(name) {
                        Some(Some(size)) => *size,
                        Some(None) => 0,
                        None => match self.doc.fragments.get(&s.node.fragment_name.node) {
                            None => 0,
                            Some(def) => {
                                self.memo.insert(name, None);
                                let size = self.count(&def.node.selection_set.node)?;
                                self.memo.insert(name, Some(size));
                                size
                            }
                        },
                    }
                }
            };
            n = n.saturating_add(add);
        }
        Ok(n)
    }

    /// Checks the directives of a fragment no operation uses.
    fn count_fragment_body(&mut self, set: &'a SelectionSet) -> Result<(), ServerError> {
        self.count(set).map(|_| ())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn code(e: &ServerError) -> String {
        e.extensions.as_ref().and_then(|x| x.get("code")).map(ToString::to_string).unwrap_or_default()
    }

    #[test]
    fn nesting_is_counted_outside_strings_and_comments() {
        let deep = format!("{{ __typename @include(if: {}true{}) }}", "[".repeat(2000), "]".repeat(2000));
        assert_eq!(code(&check_nesting(&deep).unwrap_err()), "\"GRAPHQL_PARSE_FAILED\"");
        let objects = format!("{{ f(a: {}1{}) }}", "{a:".repeat(1500), "}".repeat(1500));
        assert!(check_nesting(&objects).is_err());
        let fine = format!(
            "{{ f(a: \"{}\") }} # {}\n{{ g(b: \"\"\"{}\\\"\"\"\"\"\") }}",
            "[".repeat(500),
            "{".repeat(500),
            "(".repeat(500)
        );
        check_nesting(&fine).unwrap();
        let at_limit = format!("{}{}", "{".repeat(MAX_NESTING), "}".repeat(MAX_NESTING));
        check_nesting(&at_limit).unwrap();
        let over = format!("{}{}", "{".repeat(MAX_NESTING + 1), "}".repeat(MAX_NESTING + 1));
        assert!(check_nesting(&over).is_err());
    }

    #[test]
    fn fragment_fan_out_is_counted_without_expanding_it() {
        // Eight levels of fragments, each spreading the next ten times: 10^8 fields expanded.
        let mut text = String::from("query { ...F0 }\n");
        for level in 0..8 {
            let spreads = (0..10).map(|_| format!("...F{}", level + 1)).collect::<Vec<_>>().join(" ");
            text.push_str("fragment F");
            text.push_str(&level.to_string());
            text.push_str(" on Query { ");
            text.push_str(&spreads);
            text.push_str(" }\n");
        }
        text.push_str("fragment F8 on Query { __typename }\n");
        let doc = async_graphql::parser::parse_query(&text).unwrap();
        let started = std::time::Instant::now();
        let e = check_document(&doc, 2000, 12).unwrap_err();
        assert!(e.message.contains("2000"), "{}", e.message);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));

        let small =
            async_graphql::parser::parse_query("{ ...A ...A } fragment A on Query { me { id email } }").unwrap();
        check_document(&small, 6, 12).unwrap();
        assert!(check_document(&small, 5, 12).is_err());
        let cycle =
            async_graphql::parser::parse_query("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
                .unwrap();
        check_document(&cycle, 10, 12).unwrap();
    }

    #[test]
    fn depth_counts_through_fragments_but_not_below_introspection() {
        let deep = async_graphql::parser::parse_query(
            "{ ...A } fragment A on Query { a { b { ...B } } } fragment B on X { c { d { e } } }",
        )
        .unwrap();
        check_document(&deep, 100, 5).unwrap();
        assert!(check_document(&deep, 100, 4).is_err());
        let introspection = async_graphql::parser::parse_query(
            "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } }",
        )
        .unwrap();
        check_document(&introspection, 100, 3).unwrap();
    }

    #[test]
    fn include_and_skip_take_a_boolean() {
        for bad in ["{ __typename @include(if: [true]) }", "{ __typename @skip(if: 1) }", "{ __typename @include }"] {
            let doc = async_graphql::parser::parse_query(bad).unwrap();
            assert!(check_document(&doc, 100, 12).is_err(), "{bad}");
        }
        for good in ["{ __typename @include(if: true) }", "query($v: Boolean!) { __typename @skip(if: $v) }"] {
            let doc = async_graphql::parser::parse_query(good).unwrap();
            check_document(&doc, 100, 12).unwrap();
        }
    }
}
