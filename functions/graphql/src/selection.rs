//! The selection information AppSync gives a resolver, and how a function reads
//! nested arguments back out of it.
//!
//! AppSync passes `info.selectionSetList` (field paths such as
//! `messages/items/id`) and `info.selectionSetGraphQL` (the selection set as
//! text, variables unresolved). Functions use the list to decide which nested
//! fields to fetch and the text to read nested arguments such as
//! `messages(limit: 10)`.

use std::collections::HashSet;

use apollo_compiler::ast;
use apollo_compiler::executable::{Field, Selection, SelectionSet};
use apollo_compiler::ExecutableDocument;
use serde_json::{Map, Value};

use crate::budget::included;

/// `selectionSetList` for a field: every selected field path below it, by field
/// name (not alias), fragments included, in document order, without duplicates.
/// A field excluded by `@skip` / `@include` (with the request's `variables`)
/// is not listed, nor is anything below it.
///
/// A named fragment spread again at the same path adds nothing new, so it
/// is walked once per path: fragments that spread each other twice over,
/// level after level, cost time linear in the document, not exponential.
pub fn selection_set_list(
    document: &ExecutableDocument,
    fields: &[&Field],
    variables: &Value,
) -> Vec<String> {
    let mut walk = PathWalk {
        document,
        variables,
        out: Vec::new(),
        seen: HashSet::new(),
        spread: HashSet::new(),
    };
    for field in fields {
        walk.set(&field.selection_set, "");
    }
    walk.out
}

struct PathWalk<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Value,
    out: Vec<String>,
    seen: HashSet<String>,
    /// (fragment, path) pairs already walked.
    spread: HashSet<(String, String)>,
}

impl PathWalk<'_> {
    fn set(&mut self, set: &SelectionSet, prefix: &str) {
        for sel in &set.selections {
            if !included(sel.directives(), self.variables) {
                continue;
            }
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
                    if self.seen.insert(path.clone()) {
                        self.out.push(path.clone());
                    }
                    self.set(&f.selection_set, &path);
                }
                Selection::InlineFragment(inline) => self.set(&inline.selection_set, prefix),
                Selection::FragmentSpread(spread) => {
                    let key = (spread.fragment_name.to_string(), prefix.to_string());
                    if !self.spread.insert(key) {
                        continue;
                    }
                    if let Some(frag) = self.document.fragments.get(&spread.fragment_name) {
                        self.set(&frag.selection_set, prefix);
                    }
                }
            }
        }
    }
}

/// `selectionSetGraphQL` for a field: its selection set as text, as AppSync
/// writes it: inline fragments are kept, but a named fragment is only its
/// spread (`...Name`), so what it selects, and the arguments of its fields,
/// are not in the text (its fields are still in `selectionSetList`).
pub fn selection_set_graphql(fields: &[&Field]) -> String {
    let mut out = String::new();
    let sets: Vec<&SelectionSet> = fields.iter().map(|f| &f.selection_set).collect();
    if sets.iter().all(|s| s.selections.is_empty()) {
        return out;
    }
    out.push_str("{\n");
    for set in sets {
        render(set, 1, &mut out);
    }
    out.push('}');
    out
}

fn render(set: &SelectionSet, depth: usize, out: &mut String) {
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
                out.push_str(&directives_text(&f.directives));
                if f.selection_set.selections.is_empty() {
                    out.push('\n');
                } else {
                    out.push_str(" {\n");
                    render(&f.selection_set, depth + 1, out);
                    out.push_str(&indent);
                    out.push_str("}\n");
                }
            }
            Selection::InlineFragment(inline) => {
                out.push_str(&indent);
                match &inline.type_condition {
                    Some(t) => out.push_str(&format!("... on {t}")),
                    None => out.push_str("..."),
                }
                out.push_str(&directives_text(&inline.directives));
                out.push_str(" {\n");
                render(&inline.selection_set, depth + 1, out);
                out.push_str(&indent);
                out.push_str("}\n");
            }
            Selection::FragmentSpread(spread) => {
                out.push_str(&format!(
                    "{indent}...{}{}\n",
                    spread.fragment_name,
                    directives_text(&spread.directives)
                ));
            }
        }
    }
}

/// Whether `selectionSetList` selects `path`.
pub fn selects(list: &[String], path: &str) -> bool {
    list.iter().any(|p| p == path)
}

/// What `selectionSetGraphQL` says of the arguments of the field at `path`
/// (field names, e.g. `conversations/items/conversation/messages`).
#[derive(Debug, Clone, PartialEq)]
pub enum NestedArguments {
    /// Written in the text: its arguments, variables substituted.
    Visible(Map<String, Value>),
    /// Not in the text: inside a named fragment, whose content AppSync does
    /// not write out.
    Hidden,
    /// Written more than once (under aliases) with different arguments; one
    /// invocation returns one value per field name, so they cannot differ.
    Conflicting,
}

/// The arguments of the field at `path` in a `selectionSetGraphQL` text.
pub fn nested_arguments(
    selection_set_graphql: &str,
    path: &str,
    variables: &Value,
) -> NestedArguments {
    let Ok(doc) = ast::Document::parse(selection_set_graphql, "selectionSetGraphQL") else {
        return NestedArguments::Hidden;
    };
    let mut level = top_level(&doc);
    let segments: Vec<&str> = path.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        let fields = fields_named(&level, segment, variables).kept;
        if fields.is_empty() {
            return NestedArguments::Hidden;
        }
        if i + 1 == segments.len() {
            let mut all = fields
                .iter()
                .map(|f| arguments_json(&f.arguments, variables));
            let first = all.next().unwrap_or_default();
            if all.any(|other| other != first) {
                return NestedArguments::Conflicting;
            }
            return NestedArguments::Visible(first);
        }
        level = fields.iter().flat_map(|f| f.selection_set.iter()).collect();
    }
    NestedArguments::Hidden
}

/// The fields named `name` among `selections`, inline fragments included,
/// split into those `@skip` / `@include` keep and those they exclude; and
/// whether a named fragment is spread there (its content is not in the
/// text, so it may select more).
struct Named<'a> {
    kept: Vec<&'a ast::Field>,
    excluded: usize,
    spreads: bool,
}

fn fields_named<'a>(selections: &[&'a ast::Selection], name: &str, variables: &Value) -> Named<'a> {
    let mut out = Named {
        kept: Vec::new(),
        excluded: 0,
        spreads: false,
    };
    for sel in selections {
        match sel {
            ast::Selection::Field(f) if f.name.as_str() == name => {
                if included(&f.directives, variables) {
                    out.kept.push(f.as_ref());
                } else {
                    out.excluded += 1;
                }
            }
            ast::Selection::InlineFragment(inline) => {
                let inner: Vec<&ast::Selection> = inline.selection_set.iter().collect();
                let found = fields_named(&inner, name, variables);
                if included(&inline.directives, variables) {
                    out.kept.extend(found.kept);
                    out.excluded += found.excluded;
                    out.spreads |= found.spreads;
                } else {
                    out.excluded += found.kept.len() + found.excluded;
                }
            }
            ast::Selection::FragmentSpread(spread) => {
                out.spreads |= included(&spread.directives, variables);
            }
            _ => {}
        }
    }
    out
}

/// Whether the text shows the field at `path` excluded by `@skip` /
/// `@include`: written there only under exclusions, or below an excluded
/// field, with no named fragment beside it that could select it anyway.
/// `false` whenever the text cannot tell.
pub fn excluded(selection_set_graphql: &str, path: &str, variables: &Value) -> bool {
    let Ok(doc) = ast::Document::parse(selection_set_graphql, "selectionSetGraphQL") else {
        return false;
    };
    let mut level = top_level(&doc);
    for segment in path.split('/') {
        let named = fields_named(&level, segment, variables);
        if named.spreads {
            return false;
        }
        if named.kept.is_empty() {
            return named.excluded > 0;
        }
        level = named
            .kept
            .iter()
            .flat_map(|f| f.selection_set.iter())
            .collect();
    }
    false
}

fn top_level(doc: &ast::Document) -> Vec<&ast::Selection> {
    doc.definitions
        .iter()
        .filter_map(|d| match d {
            ast::Definition::OperationDefinition(op) => Some(op.selection_set.iter()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// `@name(args)` for each directive, as written.
fn directives_text(directives: &ast::DirectiveList) -> String {
    directives
        .iter()
        .map(|d| {
            let args: Vec<String> = d
                .arguments
                .iter()
                .map(|a| format!("{}: {}", a.name, a.value))
                .collect();
            if args.is_empty() {
                format!(" @{}", d.name)
            } else {
                format!(" @{}({})", d.name, args.join(", "))
            }
        })
        .collect()
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
        let vars = json!({"n": 7});
        let list = selection_set_list(&doc, &fields, &vars);
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
        let text = selection_set_graphql(&fields);
        // As on AppSync, the named fragment is only its spread: what it
        // selects is in the list, its arguments are nowhere.
        assert!(text.contains("...Msgs"), "{text}");
        assert_eq!(
            nested_arguments(&text, "messages", &vars),
            NestedArguments::Hidden
        );
        assert_eq!(
            nested_arguments(&text, "associated", &vars),
            NestedArguments::Visible(json!({"limit": 5}).as_object().unwrap().clone())
        );
        assert_eq!(
            nested_arguments(&text, "nothing", &vars),
            NestedArguments::Hidden
        );
    }

    #[test]
    fn doubled_fragment_spreads_are_listed_in_linear_time() {
        let schema = crate::schema();
        // 30 levels of fragments that each spread the next twice.
        let query = crate::doubled_fragments(30, "username");
        let doc = ExecutableDocument::parse_and_validate(schema, &query, "q.graphql").unwrap();
        let op = doc.operations.get(None).unwrap();
        let Selection::Field(root) = &op.selection_set.selections[0] else {
            panic!()
        };
        let started = std::time::Instant::now();
        assert_eq!(
            selection_set_list(&doc, &[root.as_ref()], &json!({})),
            ["id", "username"]
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn nested_arguments_are_found_by_path_and_conflicts_are_named() {
        let text = "{\n  conversations(limit: 2) {\n    items {\n      ... on ConvoLink {\n        conversation {\n          a: messages(limit: $n) { items { id } }\n          b: messages(limit: $n) { nextToken }\n          c: associated(limit: 1) { nextToken }\n          d: associated(limit: 2) { nextToken }\n        }\n      }\n    }\n  }\n}";
        let vars = json!({"n": 3});
        let at = |path| nested_arguments(text, path, &vars);
        assert_eq!(
            at("conversations"),
            NestedArguments::Visible(json!({"limit": 2}).as_object().unwrap().clone())
        );
        assert_eq!(
            at("conversations/items/conversation/messages"),
            NestedArguments::Visible(json!({"limit": 3}).as_object().unwrap().clone())
        );
        assert_eq!(
            at("conversations/items/conversation/associated"),
            NestedArguments::Conflicting
        );
    }

    #[test]
    fn skip_and_include_hide_fields_from_the_list_the_text_and_the_arguments() {
        let schema = crate::schema();
        let query = r#"
            query($no: Boolean!, $yes: Boolean!) {
              getUser(id: "u") {
                id
                conversations @skip(if: $yes) { items { id } }
                ... on User @include(if: $no) { username }
                conversation: conversations(limit: 2) @include(if: $no) { nextToken }
              }
            }"#;
        let doc = ExecutableDocument::parse_and_validate(schema, query, "q.graphql").unwrap();
        let op = doc.operations.get(None).unwrap();
        let Selection::Field(root) = &op.selection_set.selections[0] else {
            panic!()
        };
        let fields = [root.as_ref()];
        let text = selection_set_graphql(&fields);
        assert!(text.contains("conversations @skip(if: $yes)"), "{text}");

        let none = json!({"no": false, "yes": true});
        assert_eq!(selection_set_list(&doc, &fields, &none), ["id"]);
        assert!(excluded(&text, "conversations", &none));
        assert!(excluded(&text, "conversations/items/id", &none));
        assert!(excluded(&text, "username", &none));
        assert!(!excluded(&text, "id", &none));

        let one = json!({"no": true, "yes": true});
        assert_eq!(
            selection_set_list(&doc, &fields, &one),
            ["id", "username", "conversations", "conversations/nextToken"]
        );
        assert!(!excluded(&text, "conversations", &one));
        assert_eq!(
            nested_arguments(&text, "conversations", &one),
            NestedArguments::Visible(json!({"limit": 2}).as_object().unwrap().clone())
        );

        let both = json!({"no": true, "yes": false});
        assert_eq!(
            nested_arguments(&text, "conversations", &both),
            NestedArguments::Conflicting
        );
        // A named fragment beside it may select it: the text cannot tell.
        assert!(!excluded(
            "{\n  conversations @skip(if: true) { nextToken }\n  ...More\n}",
            "conversations",
            &none
        ));
    }
}
