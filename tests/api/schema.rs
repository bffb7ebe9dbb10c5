//! The committed schema is the generated one, and it honours the client contract.

use std::collections::BTreeSet;

use crate::sdl::{Sdl, base_name, output_compatible};

#[test]
fn committed_schema_graphql_is_up_to_date() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap_or_default();
    assert!(
        committed == mcu::graphql::sdl(),
        "schema.graphql differs from the code; regenerate it with: cargo run -- schema > schema.graphql"
    );
}

#[test]
fn the_contract_copy_matches_the_design_when_present() {
    let ours = include_str!("api-contract.graphql");
    let design = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/design/api-contract.graphql");
    if let Ok(text) = std::fs::read_to_string(design) {
        assert_eq!(text, ours, "tests/api/api-contract.graphql is out of date: copy {design}");
    }
}

/// Root fields of the contract that are built so far; later work adds to these lists until
/// they hold the whole contract.
const QUERY: &[&str] = &[
    "me",
    "users",
    "apiTokens",
    "auditLog",
    "recipients",
    "categories",
    "territories",
    "appeals",
    "appeal",
    "appealByNumber",
    "suggestCategory",
    "possibleDuplicates",
    "imports",
    "roadmaps",
    "roadmap",
    "polls",
    "poll",
    "publicPoll",
    "analytics",
];
const MUTATION: &[&str] = &[
    "login",
    "refreshToken",
    "logout",
    "changePassword",
    "createUser",
    "updateUser",
    "createApiToken",
    "revokeApiToken",
    "createRecipient",
    "createCategory",
    "createTerritory",
    "createAppeal",
    "updateAppeal",
    "registerAppeal",
    "assignAppeal",
    "redirectAppeal",
    "startWork",
    "extendDeadline",
    "answerAppeal",
    "assessAnswer",
    "leaveWithoutAnswer",
    "recordFeedback",
    "submitFeedback",
    "reopenAppeal",
    "markDuplicate",
    "closeAppeal",
    "ingestAppeals",
    "importAppeals",
    "createRoadmap",
    "updateRoadmap",
    "addMeasure",
    "updateMeasure",
    "submitRoadmap",
    "approveRoadmap",
    "returnRoadmap",
    "startRoadmap",
    "completeRoadmap",
    "createPoll",
    "publishPoll",
    "closePoll",
    "generatePollInvites",
    "castVote",
    "addPollComment",
    "moderatePollComment",
];

#[test]
fn the_schema_contains_the_built_part_of_the_contract_with_compatible_types() {
    let contract = Sdl::parse(include_str!("api-contract.graphql"));
    let ours = Sdl::parse(&mcu::graphql::sdl());
    let mut problems = Vec::new();
    let mut todo: Vec<String> = Vec::new();
    for (root, names) in [("Query", QUERY), ("Mutation", MUTATION)] {
        for name in names {
            let Some(c) = contract.objects[root].get(*name) else {
                problems.push(format!("{root}.{name} is not in the contract"));
                continue;
            };
            let Some(o) = ours.objects[root].get(*name) else {
                problems.push(format!("{root}.{name} is missing"));
                continue;
            };
            check_field(&mut problems, &format!("{root}.{name}"), c, o);
            todo.push(base_name(&c.ty));
            todo.extend(c.args.values().map(base_name));
        }
    }
    let mut seen = BTreeSet::new();
    while let Some(t) = todo.pop() {
        if !seen.insert(t.clone()) {
            continue;
        }
        if let Some(fields) = contract.objects.get(&t) {
            let Some(our_fields) = ours.objects.get(&t) else {
                problems.push(format!("type {t} is missing"));
                continue;
            };
            for (name, c) in fields {
                match our_fields.get(name) {
                    None => problems.push(format!("{t}.{name} is missing")),
                    Some(o) => check_field(&mut problems, &format!("{t}.{name}"), c, o),
                }
                todo.push(base_name(&c.ty));
                todo.extend(c.args.values().map(base_name));
            }
        } else if let Some(fields) = contract.inputs.get(&t) {
            let Some(our_fields) = ours.inputs.get(&t) else {
                problems.push(format!("input {t} is missing"));
                continue;
            };
            for (name, c) in fields {
                match our_fields.get(name) {
                    None => problems.push(format!("{t}.{name} is missing")),
                    Some(o) if o.to_string() != c.to_string() => {
                        problems.push(format!("{t}.{name}: {o} instead of {c}"));
                    }
                    Some(_) => {}
                }
                todo.push(base_name(c));
            }
            for (name, o) in our_fields {
                if !fields.contains_key(name) && !o.nullable {
                    problems.push(format!("{t}.{name} is an extra required input field"));
                }
            }
        } else if let Some(values) = contract.enums.get(&t) {
            match ours.enums.get(&t) {
                None => problems.push(format!("enum {t} is missing")),
                Some(v) if !values.is_subset(v) => {
                    problems.push(format!("enum {t} lacks {:?}", values.difference(v).collect::<Vec<_>>()));
                }
                Some(_) => {}
            }
        } else if contract.scalars.contains(&t) && !ours.scalars.contains(&t) {
            problems.push(format!("scalar {t} is missing"));
        }
    }
    assert!(problems.is_empty(), "contract problems:\n{}", problems.join("\n"));
}

fn check_field(problems: &mut Vec<String>, at: &str, c: &crate::sdl::FieldDef, o: &crate::sdl::FieldDef) {
    if !output_compatible(&c.ty, &o.ty) {
        problems.push(format!("{at}: returns {} instead of {}", o.ty, c.ty));
    }
    for (arg, ct) in &c.args {
        match o.args.get(arg) {
            None => problems.push(format!("{at}({arg}) is missing")),
            Some(ot) if ot.to_string() != ct.to_string() => {
                problems.push(format!("{at}({arg}): {ot} instead of {ct}"));
            }
            Some(_) => {}
        }
    }
    for (arg, ot) in &o.args {
        if !c.args.contains_key(arg) && !ot.nullable {
            problems.push(format!("{at}({arg}) is an extra required argument"));
        }
    }
}
