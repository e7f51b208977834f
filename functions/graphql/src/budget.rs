//! Bounds on what shaping a payload can cost, measured before any payload
//! is built.
//!
//! - [`included`]: `@skip` / `@include`, evaluated with the request's
//!   variables, for every walk that decides what is selected.
//! - [`count_fields`]: the fields and aliases a selection expands to,
//!   fragments included, stopping as soon as a cap is passed, so a document
//!   whose fragments double at every level costs at most the cap.
//! - [`projected_bytes`]: the size of the JSON that projecting a value onto
//!   a selection would give, computed without building it and stopping past
//!   a budget: one subscription cannot make the fan-out build megabytes.

use apollo_compiler::ast::{DirectiveList, Value as AstValue};
use apollo_compiler::executable::{Selection, SelectionSet};
use apollo_compiler::ExecutableDocument;
use serde_json::Value;

/// Whether a selection with `directives` is included: not under
/// `@skip(if: true)` and not under `@include(if: false)`. `variables` is
/// the request's variables object. A condition that is not a boolean (which
/// validation refuses) counts as included, so nothing is hidden by mistake.
pub fn included(directives: &DirectiveList, variables: &Value) -> bool {
    let condition = |name: &str| {
        let value = directives.get(name)?.specified_argument_by_name("if")?;
        match value.as_ref() {
            AstValue::Boolean(b) => Some(*b),
            AstValue::Variable(v) => variables.get(v.as_str()).and_then(Value::as_bool),
            _ => None,
        }
    };
    condition("skip") != Some(true) && condition("include") != Some(false)
}

/// What a selection expands to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FieldCount {
    /// Selected fields, at every level, fragments expanded, `__typename`
    /// included.
    pub fields: usize,
    /// Of those, the ones written under an alias.
    pub aliases: usize,
}

/// Nesting deeper than this (fields, fragments, spreads) counts as over
/// any cap: it also stops a walk of a not yet validated document whose
/// fragments spread each other in a cycle.
const MAX_NESTING: usize = 64;

/// Counts the fields of `set`, fragments expanded and `@skip` / `@include`
/// applied, stopping once more than `max_fields` are found (the count is
/// then `max_fields + 1`). Safe on a document not validated yet, so a
/// document can be measured before validation costs anything.
pub fn count_fields(
    document: &ExecutableDocument,
    set: &SelectionSet,
    variables: &Value,
    max_fields: usize,
) -> FieldCount {
    let mut count = FieldCount::default();
    count_in(document, set, variables, max_fields, 0, &mut count);
    count
}

fn count_in(
    document: &ExecutableDocument,
    set: &SelectionSet,
    variables: &Value,
    max: usize,
    depth: usize,
    count: &mut FieldCount,
) {
    if depth > MAX_NESTING {
        count.fields = count.fields.max(max + 1);
        return;
    }
    for selection in &set.selections {
        if count.fields > max {
            return;
        }
        let inner = match selection {
            Selection::Field(f) if included(&f.directives, variables) => {
                count.fields += 1;
                if f.alias.is_some() {
                    count.aliases += 1;
                }
                &f.selection_set
            }
            Selection::InlineFragment(i) if included(&i.directives, variables) => &i.selection_set,
            Selection::FragmentSpread(s) if included(&s.directives, variables) => {
                match document.fragments.get(&s.fragment_name) {
                    Some(fragment) => &fragment.selection_set,
                    None => continue,
                }
            }
            _ => continue,
        };
        count_in(document, inner, variables, max, depth + 1, count);
    }
}

/// An upper bound of the bytes of the JSON object that projecting `value`
/// onto `set` gives, or `None` as soon as it passes `budget`.
///
/// Fields are taken as written (a field selected twice under one key is
/// counted twice), a field the value lacks counts as `null`, and an inline
/// fragment's type condition is not checked: each only overestimates. The
/// work done is bounded by the budget, whatever the document.
pub fn projected_bytes(
    document: &ExecutableDocument,
    set: &SelectionSet,
    variables: &Value,
    value: &Value,
    budget: usize,
) -> Option<usize> {
    let mut used = 0;
    object_bytes(document, set, variables, value, budget, &mut used)?;
    Some(used)
}

fn add(used: &mut usize, bytes: usize, budget: usize) -> Option<()> {
    *used = used.saturating_add(bytes);
    (*used <= budget).then_some(())
}

/// `{ "key": value, ... }`
fn object_bytes(
    document: &ExecutableDocument,
    set: &SelectionSet,
    variables: &Value,
    value: &Value,
    budget: usize,
    used: &mut usize,
) -> Option<()> {
    add(used, 2, budget)?;
    fields_bytes(document, set, variables, value, budget, used)
}

fn fields_bytes(
    document: &ExecutableDocument,
    set: &SelectionSet,
    variables: &Value,
    value: &Value,
    budget: usize,
    used: &mut usize,
) -> Option<()> {
    for selection in &set.selections {
        match selection {
            Selection::Field(f) if included(&f.directives, variables) => {
                // "key": and a comma.
                add(used, string_bytes(f.response_key().as_str()) + 2, budget)?;
                if f.name == "__typename" {
                    // The longest type name a payload carries.
                    add(used, string_bytes("Conversation"), budget)?;
                } else {
                    let field_value = value.get(f.name.as_str()).unwrap_or(&Value::Null);
                    value_bytes(document, f, variables, field_value, budget, used)?;
                }
            }
            Selection::InlineFragment(i) if included(&i.directives, variables) => {
                fields_bytes(document, &i.selection_set, variables, value, budget, used)?
            }
            Selection::FragmentSpread(s) if included(&s.directives, variables) => {
                if let Some(fragment) = document.fragments.get(&s.fragment_name) {
                    fields_bytes(
                        document,
                        &fragment.selection_set,
                        variables,
                        value,
                        budget,
                        used,
                    )?
                }
            }
            _ => {}
        }
    }
    Some(())
}

fn value_bytes(
    document: &ExecutableDocument,
    field: &apollo_compiler::executable::Field,
    variables: &Value,
    value: &Value,
    budget: usize,
    used: &mut usize,
) -> Option<()> {
    match value {
        Value::Object(_) if !field.selection_set.selections.is_empty() => object_bytes(
            document,
            &field.selection_set,
            variables,
            value,
            budget,
            used,
        ),
        Value::Array(items) => {
            add(used, 2, budget)?;
            for item in items {
                add(used, 1, budget)?;
                value_bytes(document, field, variables, item, budget, used)?;
            }
            Some(())
        }
        Value::String(s) => add(used, string_bytes(s), budget),
        Value::Null => add(used, 4, budget),
        Value::Bool(_) => add(used, 5, budget),
        Value::Number(n) => add(used, n.to_string().len(), budget),
        // A leaf that is an object (a JSON scalar): its serialized size.
        Value::Object(_) => add(used, value.to_string().len(), budget),
    }
}

/// The bytes of `s` as a JSON string, quotes and escapes included.
pub fn string_bytes(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use apollo_compiler::executable::Operation;
    use serde_json::json;

    fn parsed(query: &str) -> apollo_compiler::validation::Valid<ExecutableDocument> {
        ExecutableDocument::parse_and_validate(crate::schema(), query, "q.graphql").unwrap()
    }

    fn op(doc: &ExecutableDocument) -> &Operation {
        doc.operations.get(None).unwrap()
    }

    #[test]
    fn skip_and_include_follow_literals_and_variables() {
        let doc = parsed(
            "query($yes: Boolean!, $no: Boolean!) { me { id a: username @skip(if: $yes) b: username @include(if: $no) c: username @skip(if: false) @include(if: true) } }",
        );
        let vars = json!({"yes": true, "no": false});
        let count = count_fields(&doc, &op(&doc).selection_set, &vars, 100);
        assert_eq!(
            count,
            FieldCount {
                fields: 3,
                aliases: 1
            }
        );
        let vars = json!({"yes": false, "no": true});
        let count = count_fields(&doc, &op(&doc).selection_set, &vars, 100);
        assert_eq!(count.fields, 5);
    }

    #[test]
    fn counting_stops_past_the_cap_whatever_the_fragments() {
        let query = crate::doubled_fragments(30, "username");
        let doc = parsed(&query);
        let started = std::time::Instant::now();
        let count = count_fields(&doc, &op(&doc).selection_set, &json!({}), 50);
        assert_eq!(count.fields, 51);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn a_fragment_cycle_in_an_unvalidated_document_counts_as_over_the_cap() {
        let doc = match ExecutableDocument::parse(
            crate::schema(),
            "{ me { ...A } } fragment A on User { ...B } fragment B on User { ...A }",
            "q.graphql",
        ) {
            Ok(doc) => doc,
            Err(e) => e.partial,
        };
        let set = &doc.operations.get(None).unwrap().selection_set;
        assert_eq!(count_fields(&doc, set, &json!({}), 50).fields, 51);
    }

    #[test]
    fn projected_bytes_match_the_projection_and_stop_at_the_budget() {
        let query = "subscription { onCreateMessage(messageConversationId: \"c\") { __typename id text: content author { username } } }";
        let doc = parsed(query);
        let field = match &op(&doc).selection_set.selections[0] {
            Selection::Field(f) => f.clone(),
            _ => panic!(),
        };
        let value = json!({"id": "m1", "content": "say \"hi\"\n", "authorId": "u"});
        let bytes = projected_bytes(&doc, &field.selection_set, &json!({}), &value, 10_000)
            .expect("within the budget");
        let actual =
            json!({"__typename": "Message", "id": "m1", "text": "say \"hi\"\n", "author": null})
                .to_string()
                .len();
        assert!(bytes >= actual, "{bytes} < {actual}");
        assert!(bytes <= actual + 16, "{bytes} is far above {actual}");
        assert_eq!(
            projected_bytes(&doc, &field.selection_set, &json!({}), &value, 20),
            None
        );
    }

    #[test]
    fn json_string_sizes_count_escapes() {
        assert_eq!(string_bytes("ab"), 4);
        assert_eq!(string_bytes("\"\n"), 6);
        assert_eq!(string_bytes("\u{1}"), 8);
        assert_eq!(string_bytes("é"), 4);
        assert_eq!(
            string_bytes("a\"\u{1}é"),
            serde_json::to_string("a\"\u{1}é").unwrap().len()
        );
    }
}
