//! A small model of an SDL document for schema checks.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};

/// A field of an object type: its type and arguments.
pub struct FieldDef {
    pub ty: Type,
    pub args: BTreeMap<String, Type>,
}

/// Types of a schema by kind.
#[derive(Default)]
pub struct Sdl {
    pub objects: BTreeMap<String, BTreeMap<String, FieldDef>>,
    pub inputs: BTreeMap<String, BTreeMap<String, Type>>,
    pub enums: BTreeMap<String, BTreeSet<String>>,
    pub scalars: BTreeSet<String>,
}

impl Sdl {
    pub fn parse(text: &str) -> Self {
        let doc = parse_schema(text).expect("valid SDL");
        let mut sdl = Sdl::default();
        for def in doc.definitions {
            let TypeSystemDefinition::Type(t) = def else {
                continue;
            };
            let t = t.node;
            let name = t.name.node.to_string();
            match t.kind {
                TypeKind::Scalar => {
                    sdl.scalars.insert(name);
                }
                TypeKind::Object(o) => {
                    let fields = o
                        .fields
                        .into_iter()
                        .map(|f| {
                            let f = f.node;
                            let args = f
                                .arguments
                                .into_iter()
                                .map(|a| (a.node.name.node.to_string(), a.node.ty.node))
                                .collect();
                            (f.name.node.to_string(), FieldDef { ty: f.ty.node, args })
                        })
                        .collect();
                    sdl.objects.insert(name, fields);
                }
                TypeKind::InputObject(i) => {
                    let fields = i.fields.into_iter().map(|f| (f.node.name.node.to_string(), f.node.ty.node)).collect();
                    sdl.inputs.insert(name, fields);
                }
                TypeKind::Enum(e) => {
                    sdl.enums.insert(name, e.values.into_iter().map(|v| v.node.value.node.to_string()).collect());
                }
                _ => {}
            }
        }
        sdl
    }
}

/// The named type inside lists and non-null wrappers.
pub fn base_name(t: &Type) -> String {
    match &t.base {
        BaseType::Named(n) => n.to_string(),
        BaseType::List(inner) => base_name(inner),
    }
}

/// An output type may be the contract's type or a non-null version of it.
pub fn output_compatible(contract: &Type, ours: &Type) -> bool {
    if !contract.nullable && ours.nullable {
        return false;
    }
    match (&contract.base, &ours.base) {
        (BaseType::Named(a), BaseType::Named(b)) => a == b,
        (BaseType::List(a), BaseType::List(b)) => output_compatible(a, b),
        _ => false,
    }
}
