//! The selection information AppSync gives a resolver, and how a function reads
//! nested arguments back out of it.
//!
//! AppSync passes `info.selectionSetList` (field paths such as
//! `messages/items/id`) and `info.selectionSetGraphQL` (the selection set as
//! text, variables unresolved). Functions use the list to decide which nested
//! fields to fetch and the text to read nested arguments such as
//! `messages(limit: 10)`.

use apollo_compiler::ast;
use apollo_compiler::executable::{Field, Selection, SelectionSet};
use apollo_compiler::ExecutableDocument;
use serde_json::{Map, Value};

/// `selectionSetList` for a field: every selected field path below it, by field
/// name (not alias), fragments included, in document order, without duplicates.
pub fn selection_set_list(document: &ExecutableDocument, fields: &[&Field]) -> Vec<String> {
    let mut out = Vec::new();
    for field in fields {
        walk_paths(document, &field.selection_set, "", &mut out);
    }
    out
}

fn walk_paths(
    document: &ExecutableDocument,
    set: &SelectionSet,
    prefix: &str,
    out: &mut Vec<String>,
) {
    for sel in &set.selections {
        match sel {
            Selection::Field(f) => {
                if f.name.as_str() == "__typename" {
                    continue;
                }
                let path = if prefix.is_empty() {
                    f.name.to_string()
                } else {
                    format!("{prefix}/{}", f.name)
                };
                if !out.contains(&path) {
                    out.push(path.clone());
                }
                walk_paths(document, &f.selection_set, &path, out);
            }
            Selection::InlineFragment(inline) => {
                walk_paths(document, &inline.selection_set, prefix, out)
            }
            Selection::FragmentSpread(spread) => {
                if let Some(frag) = document.fragments.get(&spread.fragment_name) {
                    walk_paths(document, &frag.selection_set, prefix, out);
                }
            }
        }
    }
}

/// `selectionSetGraphQL` for a field: its selection set as text. Named
/// fragments are written inline so nested arguments are always visible.
pub fn selection_set_graphql(document: &ExecutableDocument, fields: &[&Field]) -> String {
    let mut out = String::new();
    let sets: Vec<&SelectionSet> = fields.iter().map(|f| &f.selection_set).collect();
    if sets.iter().all(|s| s.selections.is_empty()) {
        return out;
    }
    out.push_str("{\n");
    for set in sets {
        render(document, set, 1, &mut out);
    }
    out.push('}');
    out
}

fn render(document: &ExecutableDocument, set: &SelectionSet, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    for sel in &set.selections {
        match sel {
            Selection::Field(f) => {
                out.push_str(&indent);
                if let Some(alias) = &f.alias {
                    out.push_str(&format!("{alias}: "));
                }
                out.push_str(f.name.as_str());
                if !f.arguments.is_empty() {
                    let args: Vec<String> = f
                        .arguments
                        .iter()
                        .map(|a| format!("{}: {}", a.name, a.value))
                        .collect();
                    out.push_str(&format!("({})", args.join(", ")));
                }
                if f.selection_set.selections.is_empty() {
                    out.push('\n');
                } else {
                    out.push_str(" {\n");
                    render(document, &f.selection_set, depth + 1, out);
                    out.push_str(&indent);
                    out.push_str("}\n");
                }
            }
            Selection::InlineFragment(inline) => {
                out.push_str(&indent);
                match &inline.type_condition {
                    Some(t) => out.push_str(&format!("... on {t} {{\n")),
                    None => out.push_str("... {\n"),
                }
                render(document, &inline.selection_set, depth + 1, out);
                out.push_str(&indent);
                out.push_str("}\n");
            }
            Selection::FragmentSpread(spread) => {
                if let Some(frag) = document.fragments.get(&spread.fragment_name) {
                    out.push_str(&format!("{indent}... on {} {{\n", frag.type_condition()));
                    render(document, &frag.selection_set, depth + 1, out);
                    out.push_str(&indent);
                    out.push_str("}\n");
                }
            }
        }
    }
}

/// Whether `selectionSetList` selects `path`.
pub fn selects(list: &[String], path: &str) -> bool {
    list.iter().any(|p| p == path)
}

/// The arguments of the first top-level field named `field` in a
/// `selectionSetGraphQL` text, with variables taken from `variables`.
/// Returns an empty map when the field is absent or the text does not parse
/// (a named fragment on AppSync hides its arguments: defaults apply then).
pub fn nested_arguments(
    selection_set_graphql: &str,
    field: &str,
    variables: &Value,
) -> Map<String, Value> {
    if selection_set_graphql.trim().is_empty() {
        return Map::new();
    }
    let Ok(doc) = ast::Document::parse(selection_set_graphql, "selectionSetGraphQL") else {
        return Map::new();
    };
    for def in &doc.definitions {
        if let ast::Definition::OperationDefinition(op) = def {
            if let Some(args) = find_args(&op.selection_set, field, variables) {
                return args;
            }
        }
    }
    Map::new()
}

/// A field's arguments as JSON, variables substituted from `variables`.
pub fn arguments_json(
    arguments: &[apollo_compiler::Node<ast::Argument>],
    variables: &Value,
) -> Map<String, Value> {
    arguments
        .iter()
        .map(|a| (a.name.to_string(), ast_to_json(&a.value, variables)))
        .collect()
}

fn find_args(
    selections: &[ast::Selection],
    field: &str,
    variables: &Value,
) -> Option<Map<String, Value>> {
    for sel in selections {
        match sel {
            ast::Selection::Field(f) if f.name.as_str() == field => {
                return Some(arguments_json(&f.arguments, variables));
            }
            ast::Selection::InlineFragment(inline) => {
                if let Some(args) = find_args(&inline.selection_set, field, variables) {
                    return Some(args);
                }
            }
            _ => {}
        }
    }
    None
}

fn ast_to_json(value: &ast::Value, variables: &Value) -> Value {
    match value {
        ast::Value::Null => Value::Null,
        ast::Value::Enum(name) => Value::String(name.to_string()),
        ast::Value::Variable(name) => variables.get(name.as_str()).cloned().unwrap_or(Value::Null),
        ast::Value::String(s) => Value::String(s.clone()),
        ast::Value::Float(f) => f.try_to_f64().map(Value::from).unwrap_or(Value::Null),
        ast::Value::Int(i) => i
            .as_str()
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::Null),
        ast::Value::Boolean(b) => Value::Bool(*b),
        ast::Value::List(items) => {
            Value::Array(items.iter().map(|v| ast_to_json(v, variables)).collect())
        }
        ast::Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), ast_to_json(v, variables)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selection_info_round_trips_nested_arguments() {
        let schema = crate::schema();
        let query = r#"
            query($n: Int) {
              getConvo(id: "c1") {
                id
                ...Msgs
                members: associated(limit: 5) { items { id } }
              }
            }
            fragment Msgs on Conversation {
              messages(limit: $n, sortDirection: DESC) { items { id author { username } } }
            }"#;
        let doc = ExecutableDocument::parse_and_validate(schema, query, "q.graphql").unwrap();
        let op = doc.operations.get(None).unwrap();
        let Selection::Field(root) = &op.selection_set.selections[0] else {
            panic!()
        };
        let fields = [root.as_ref()];
        let list = selection_set_list(&doc, &fields);
        assert_eq!(
            list,
            [
                "id",
                "messages",
                "messages/items",
                "messages/items/id",
                "messages/items/author",
                "messages/items/author/username",
                "associated",
                "associated/items",
                "associated/items/id"
            ]
        );
        let text = selection_set_graphql(&doc, &fields);
        let vars = json!({"n": 7});
        let args = nested_arguments(&text, "messages", &vars);
        assert_eq!(
            Value::Object(args),
            json!({"limit": 7, "sortDirection": "DESC"})
        );
        let args = nested_arguments(&text, "associated", &vars);
        assert_eq!(Value::Object(args), json!({"limit": 5}));
        assert!(nested_arguments(&text, "nothing", &vars).is_empty());
    }
}
