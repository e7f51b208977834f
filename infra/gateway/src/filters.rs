//! Lambda event filtering (`FilterCriteria`) for the local stream mappings:
//! a record reaches the function only when it matches one of the mapping's
//! patterns; the others are dropped as processed, and a batch with nothing
//! left is not invoked at all, as on AWS.
//!
//! The part of the pattern syntax this implements: nested objects, lists of
//! literal values (equality), and `{"exists": true|false}`. A pattern using
//! anything else is refused when the template is read, so a filter is never
//! silently loosened.

use serde_json::Value;

/// The patterns of one event source mapping; none means every record passes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    patterns: Vec<Value>,
}

impl Filter {
    /// From the template's `Pattern` strings.
    pub fn parse<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<Filter, String> {
        let patterns = patterns
            .into_iter()
            .map(|p| {
                let value: Value =
                    serde_json::from_str(p).map_err(|e| format!("filter pattern {p}: {e}"))?;
                check(&value).map_err(|e| format!("filter pattern {p}: {e}"))?;
                Ok(value)
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Filter { patterns })
    }

    /// Whether `record` (as the function would receive it) passes.
    pub fn admits<T: serde::Serialize>(&self, record: &T) -> bool {
        if self.patterns.is_empty() {
            return true;
        }
        let Ok(record) = serde_json::to_value(record) else {
            return true;
        };
        self.patterns
            .iter()
            .any(|pattern| matches(pattern, Some(&record)))
    }
}

fn check(pattern: &Value) -> Result<(), String> {
    match pattern {
        Value::Object(fields) => fields.values().try_for_each(check),
        Value::Array(rules) => rules.iter().try_for_each(|rule| match rule {
            Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => Ok(()),
            Value::Object(op)
                if op.len() == 1 && op.get("exists").is_some_and(Value::is_boolean) =>
            {
                Ok(())
            }
            other => Err(format!("unsupported rule {other}")),
        }),
        other => Err(format!("a pattern holds objects and lists, not {other}")),
    }
}

fn matches(pattern: &Value, value: Option<&Value>) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(key, sub)| matches(sub, value.and_then(|v| v.get(key)))),
        Value::Array(rules) => rules.iter().any(|rule| match rule {
            Value::Object(op) => {
                let exists = value.is_some_and(|v| !v.is_object() && !v.is_array());
                op.get("exists").and_then(Value::as_bool) == Some(exists)
            }
            literal => value == Some(literal),
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WRITER_PUSHES: &str = r#"{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"pushUntil": {"N": [{"exists": false}]}}}}"#;

    fn record(event: &str, image: Value) -> Value {
        json!({ "eventName": event, "dynamodb": { "NewImage": image } })
    }

    #[test]
    fn the_templates_pattern_passes_only_inserts_without_the_writer_mark() {
        let filter = Filter::parse([WRITER_PUSHES]).unwrap();
        assert!(filter.admits(&record("INSERT", json!({ "id": { "S": "a" } }))));
        assert!(!filter.admits(&record(
            "INSERT",
            json!({ "id": { "S": "a" }, "pushUntil": { "N": "1" } })
        )));
        assert!(!filter.admits(&record("MODIFY", json!({ "id": { "S": "a" } }))));
        assert!(!filter.admits(&record("REMOVE", json!({}))));
    }

    #[test]
    fn no_patterns_pass_everything_and_unknown_rules_are_refused() {
        assert!(Filter::default().admits(&record("MODIFY", json!({}))));
        let exists = Filter::parse([r#"{"a": [{"exists": true}]}"#]).unwrap();
        assert!(exists.admits(&json!({ "a": "x" })));
        assert!(!exists.admits(&json!({ "a": { "nested": 1 } })));
        assert!(Filter::parse([r#"{"a": [{"prefix": "x"}]}"#]).is_err());
        assert!(Filter::parse([r#"{"a": "x"}"#]).is_err());
    }
}
