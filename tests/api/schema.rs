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

/// README's «The decree, clause by clause» names, for each clause of Постановление №219-п the
/// README cites anywhere, the schema's fields that serve it: every `Type.field` and
/// `Enum.VALUE` it names must be in the served schema (except those marked «(landing)»), and
/// every clause cited in the README must have its row.
#[test]
fn the_decree_map_names_only_what_the_schema_serves() {
    let readme = include_str!("../../README.md");
    let title = "## The decree, clause by clause";
    let start = readme.find(title).expect("README has the decree map");
    let rest = &readme[start + title.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| clause") && !l.starts_with("|---"))
        .collect();
    let clause_of = |row: &str| row.split('|').nth(1).unwrap_or_default().trim().to_string();
    let listed: BTreeSet<String> = rows.iter().map(|r| clause_of(r)).collect();

    // Clauses cited anywhere in the README: «1.2б», «3.2в(3)».
    let chars: Vec<char> = readme.chars().collect();
    let mut cited = BTreeSet::new();
    for i in 0..chars.len().saturating_sub(3) {
        let starts = i == 0 || !chars[i - 1].is_alphanumeric() && chars[i - 1] != '.';
        if starts
            && chars[i].is_ascii_digit()
            && chars[i + 1] == '.'
            && chars[i + 2].is_ascii_digit()
            && ('а'..='я').contains(&chars[i + 3])
            && chars.get(i + 4).is_none_or(|c| !c.is_alphabetic())
        {
            let mut clause: String = chars[i..i + 4].iter().collect();
            if chars.get(i + 4) == Some(&'(') && chars.get(i + 6) == Some(&')') {
                clause.extend(&chars[i + 4..i + 7]);
            }
            cited.insert(clause);
        }
    }
    for clause in ["1.2б", "1.2в", "1.2г", "2.2в", "2.4г", "2.5г", "3.2в(3)", "3.2г", "3.2д"] {
        assert!(cited.contains(clause), "the README cites {clause}");
    }
    let unlisted: Vec<&String> = cited.difference(&listed).collect();
    assert!(unlisted.is_empty(), "clauses the README cites without a row in the decree map: {unlisted:?}");

    let ours = Sdl::parse(&mcu::graphql::sdl());
    let mut checked = 0;
    let mut problems = Vec::new();
    for row in &rows {
        let pieces: Vec<&str> = row.split('`').collect();
        for (i, name) in pieces.iter().enumerate().skip(1).step_by(2) {
            if pieces.get(i + 1).is_some_and(|after| after.trim_start().starts_with("(landing)")) {
                continue;
            }
            let Some((owner, member)) = name.split_once('.') else { continue };
            let identifier = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !owner.starts_with(|c: char| c.is_ascii_uppercase()) || !identifier(owner) || !identifier(member) {
                continue;
            }
            checked += 1;
            let found = ours.objects.get(owner).is_some_and(|fields| fields.contains_key(member))
                || ours.enums.get(owner).is_some_and(|values| values.contains(member));
            if !found {
                problems.push(format!("{}: `{name}`", clause_of(row)));
            }
        }
    }
    assert!(checked >= 40, "the map names the schema's fields ({checked} checked)");
    assert!(problems.is_empty(), "the decree map names what the schema does not serve: {problems:?}");
}
