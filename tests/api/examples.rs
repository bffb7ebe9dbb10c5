//! The example operations of `examples/*.graphql` (one file per role) parse, pass validation
//! against the live schema and are allowed for the role they are written for: each operation
//! is run on a server with demo data, as that role, with variables of the right types.

use std::collections::BTreeMap;

use async_graphql::parser::parse_query;
use async_graphql::parser::types::{BaseType, DocumentOperations, Type};
use serde_json::{Value, json};

use crate::helpers::spawn_app;
use crate::sdl::Sdl;

/// A variable of an operation: name, type, whether it has a default.
type Variable = (String, Type, bool);

/// Who runs the operations of each file: anonymous, a demo user or the integration token.
enum Caller {
    Anonymous,
    Demo(&'static str),
    Integration,
}

const FILES: &[(&str, Caller)] = &[
    ("session.graphql", Caller::Anonymous),
    ("citizen.graphql", Caller::Anonymous),
    ("curator.graphql", Caller::Demo("curator@demo.mcu")),
    ("coordinator.graphql", Caller::Demo("pos@demo.mcu")),
    ("executor.graphql", Caller::Demo("zhkh@demo.mcu")),
    ("head.graphql", Caller::Demo("head@demo.mcu")),
    ("integration.graphql", Caller::Integration),
];

/// A value of type `ty` (required fields of input objects filled in, one list element):
/// enough to get past validation to the resolvers, which may then refuse the value.
fn value_of(sdl: &Sdl, ty: &Type, name: &str) -> Value {
    match &ty.base {
        BaseType::List(inner) => json!([value_of(sdl, inner, name)]),
        BaseType::Named(n) => match n.as_str() {
            "ID" => json!("1"),
            "Int" => json!(1),
            "Float" => json!(1.5),
            "Boolean" => json!(false),
            "Date" => json!("2026-01-05"),
            "DateTime" => json!("2026-01-05T09:00:00+07:00"),
            "String" => match name {
                "email" => json!("curator@demo.mcu"),
                "password" => json!(mcu::service::seed::DEMO_PASSWORD),
                _ => json!("Текст примера"),
            },
            // The channel the demo coordinator (pos@demo.mcu) coordinates.
            "Channel" => json!("POS"),
            other => {
                if let Some(values) = sdl.enums.get(other) {
                    json!(values.iter().next().unwrap())
                } else if let Some(fields) = sdl.inputs.get(other) {
                    let object: serde_json::Map<String, Value> = fields
                        .iter()
                        .filter(|(_, t)| !t.nullable)
                        .map(|(field, t)| (field.clone(), value_of(sdl, t, field)))
                        .collect();
                    Value::Object(object)
                } else {
                    panic!("no example value for type {other}")
                }
            }
        },
    }
}

#[tokio::test]
async fn every_example_operation_is_valid_and_allowed_for_its_role() {
    let app = spawn_app().await;
    mcu::service::seed::seed_demo(&app.state, 40, 3).await.unwrap();
    let admin = app.admin().await;
    let r = app
        .gql(
            Some(&admin),
            "mutation{createApiToken(input:{name:\"example\",scopes:[ANALYTICS_READ,APPEALS_INGEST,APPEALS_READ]}){secret}}",
            json!({}),
        )
        .await;
    let integration = r.data()["createApiToken"]["secret"].as_str().unwrap().to_string();
    let sdl = Sdl::parse(&mcu::graphql::sdl());
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");

    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".graphql"))
        .collect();
    on_disk.sort();
    let mut known: Vec<String> = FILES.iter().map(|(f, _)| (*f).to_string()).collect();
    known.sort();
    assert_eq!(on_disk, known, "every example file has a role in this test");

    let mut names: BTreeMap<String, &str> = BTreeMap::new();
    let mut failures = Vec::new();
    for (file, caller) in FILES {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        let doc = parse_query(&text).unwrap_or_else(|e| panic!("{file} does not parse: {e}"));
        let operations: Vec<(String, Vec<Variable>)> = match &doc.operations {
            DocumentOperations::Single(_) => panic!("{file}: name every operation (codegen needs the names)"),
            DocumentOperations::Multiple(ops) => ops
                .iter()
                .map(|(name, op)| {
                    let vars = op
                        .node
                        .variable_definitions
                        .iter()
                        .map(|v| {
                            let v = &v.node;
                            (v.name.node.to_string(), v.var_type.node.clone(), v.default_value.is_some())
                        })
                        .collect();
                    (name.to_string(), vars)
                })
                .collect(),
        };
        assert!(!operations.is_empty(), "{file} has no operation");
        let token = match caller {
            Caller::Anonymous => None,
            Caller::Demo(email) => Some(app.login(email, mcu::service::seed::DEMO_PASSWORD).await.0),
            Caller::Integration => Some(integration.clone()),
        };
        for (name, vars) in operations {
            if let Some(other) = names.insert(name.clone(), file) {
                failures.push(format!("{file}: operation {name} is also in {other} (codegen needs unique names)"));
            }
            let variables: serde_json::Map<String, Value> = vars
                .iter()
                .filter(|(_, ty, has_default)| !ty.nullable && !has_default)
                .map(|(var, ty, _)| (var.clone(), value_of(&sdl, ty, var)))
                .collect();
            failures.extend(
                problems(&app, &text, &name, Value::Object(variables), token.as_deref())
                    .await
                    .into_iter()
                    .map(|p| format!("{file} {name}: {p}")),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The check itself catches what it is for: an unknown field, a syntax error, an operation
    // of another role.
    let broken = problems(&app, "query Broken { appeals { nope } }", "Broken", json!({}), None).await;
    assert!(broken.iter().any(|p| p.starts_with("GRAPHQL_VALIDATION_FAILED")), "{broken:?}");
    let broken = problems(&app, "query Broken { appeals { ", "Broken", json!({}), None).await;
    assert!(broken.iter().any(|p| p.starts_with("GRAPHQL_PARSE_FAILED")), "{broken:?}");
    let (head, _) = app.login("head@demo.mcu", mcu::service::seed::DEMO_PASSWORD).await;
    let q = "mutation W($i: AppealActionInput!) { startWork(input: $i) { id } }";
    let wrong = problems(&app, q, "W", json!({"i": {"id": "1", "version": 1}}), Some(&head)).await;
    assert!(wrong.iter().any(|p| p.starts_with("FORBIDDEN")), "{wrong:?}");
}

/// Runs one operation and returns what makes it a bad example: a parse or validation error,
/// a refusal of the caller's role, no answer at all. Errors of the data (NOT_FOUND,
/// BAD_USER_INPUT, CONFLICT for the made-up values) are fine.
async fn problems(
    app: &crate::helpers::TestApp,
    text: &str,
    name: &str,
    variables: Value,
    token: Option<&str>,
) -> Vec<String> {
    let mut request = app.client.post(format!("{}/graphql", app.base)).json(&json!({
        "query": text,
        "operationName": name,
        "variables": variables,
    }));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let body: Value = request.send().await.unwrap().json().await.unwrap();
    let mut found = Vec::new();
    for error in body["errors"].as_array().into_iter().flatten() {
        let code = error["extensions"]["code"].as_str().unwrap_or_default();
        let refused = match code {
            "GRAPHQL_PARSE_FAILED" | "GRAPHQL_VALIDATION_FAILED" | "FORBIDDEN" => true,
            "UNAUTHENTICATED" => token.is_some(),
            _ => false,
        };
        if refused {
            found.push(format!("{code}: {}", error["message"]));
        }
    }
    if body.get("data").is_none_or(Value::is_null) && body["errors"].as_array().is_none_or(Vec::is_empty) {
        found.push(format!("neither data nor errors: {body}"));
    }
    found
}
