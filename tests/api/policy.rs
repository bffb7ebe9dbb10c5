//! Every root field declares who may call it; anonymous callers are refused everywhere else.

use serde_json::{Value, json};

use crate::helpers::spawn_app;
use crate::sdl::{Sdl, base_name};
use async_graphql::parser::types::{BaseType, Type};
use mcu::domain::access::Access;

fn root_fields(sdl: &Sdl) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for root in ["Query", "Mutation"] {
        for name in sdl.objects[root].keys() {
            out.push((root.to_string(), name.clone()));
        }
    }
    out
}

#[test]
fn every_root_field_has_an_access_rule() {
    let sdl = Sdl::parse(&mcu::graphql::sdl());
    let missing: Vec<String> = root_fields(&sdl)
        .into_iter()
        .map(|(r, f)| format!("{r}.{f}"))
        .filter(|f| mcu::graphql::policy::rule_for(f).is_none())
        .collect();
    assert!(missing.is_empty(), "root fields without an access rule in graphql/policy.rs: {missing:?}");
}

/// A literal value of the given input type, good enough to pass validation.
fn dummy(sdl: &Sdl, t: &Type) -> String {
    match &t.base {
        BaseType::List(inner) => format!("[{}]", dummy(sdl, inner)),
        BaseType::Named(n) => match n.as_str() {
            "ID" => "\"1\"".into(),
            "String" => "\"x\"".into(),
            "Int" => "1".into(),
            "Float" => "1.0".into(),
            "Boolean" => "true".into(),
            "DateTime" => "\"2026-01-01T00:00:00+07:00\"".into(),
            "Date" => "\"2026-01-01\"".into(),
            "JSON" => "\"{}\"".into(),
            other if sdl.enums.contains_key(other) => sdl.enums[other].iter().next().cloned().unwrap_or_default(),
            other if sdl.inputs.contains_key(other) => {
                let fields: Vec<String> = sdl.inputs[other]
                    .iter()
                    .filter(|(_, ty)| !ty.nullable)
                    .map(|(name, ty)| format!("{name}: {}", dummy(sdl, ty)))
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }
            other => panic!("no dummy value for {other}"),
        },
    }
}

fn selection(sdl: &Sdl, t: &Type) -> &'static str {
    if sdl.objects.contains_key(&base_name(t)) { " { __typename }" } else { "" }
}

#[tokio::test]
async fn anonymous_callers_are_refused_on_every_non_public_root_field() {
    let app = spawn_app().await;
    let sdl = Sdl::parse(&mcu::graphql::sdl());
    let mut checked = 0;
    for (root, field) in root_fields(&sdl) {
        let rule = mcu::graphql::policy::rule_for(&format!("{root}.{field}")).unwrap();
        if rule == Access::Public {
            continue;
        }
        let def = &sdl.objects[&root][&field];
        if def.args.values().any(|t| base_name(t) == "Upload") {
            continue; // covered by the import tests, which need a multipart body
        }
        let args: Vec<String> =
            def.args.iter().filter(|(_, t)| !t.nullable).map(|(n, t)| format!("{n}: {}", dummy(&sdl, t))).collect();
        let args = if args.is_empty() { String::new() } else { format!("({})", args.join(", ")) };
        let op = if root == "Mutation" { "mutation" } else { "query" };
        let query = format!("{op} {{ {field}{args}{} }}", selection(&sdl, &def.ty));
        let r = app.gql(None, &query, json!({})).await;
        assert_eq!(
            r.body["errors"][0]["extensions"]["code"],
            Value::from("UNAUTHENTICATED"),
            "{root}.{field}: {query} -> {}",
            r.body
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} fields checked");
}
