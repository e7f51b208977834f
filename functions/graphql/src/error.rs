//! GraphQL errors as AppSync returns them: `message`, `errorType`, `path`,
//! `locations`, and the `data` / `errorInfo` slots a Lambda resolver can fill.

use apollo_compiler::response::{GraphQLError, ResponseDataPathSegment};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub line: usize,
    pub column: usize,
    pub source_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppSyncError {
    pub path: Option<Vec<Value>>,
    pub data: Option<Value>,
    pub error_type: String,
    pub error_info: Option<Value>,
    pub locations: Vec<Location>,
    pub message: String,
}

/// Brackets the `errorType` inside an execution error's message.
/// `apollo-compiler`'s field errors carry only a (prefixed) message; the
/// gateway embeds the type between two of these and
/// [`AppSyncError::from_graphql`] takes it back out.
const TYPE_MARK: char = '\u{1f}';

/// The message of an execution error that carries `error_type`, and
/// `errorInfo` when it has one (JSON, after a third mark).
pub fn typed_message(error_type: &str, message: &str, info: Option<&Value>) -> String {
    match info {
        Some(info) => format!("{TYPE_MARK}{error_type}{TYPE_MARK}{message}{TYPE_MARK}{info}"),
        None => format!("{TYPE_MARK}{error_type}{TYPE_MARK}{message}"),
    }
}

/// `(errorType, message, errorInfo)` of a typed message.
fn split_typed(message: &str) -> Option<(String, String, Option<Value>)> {
    let (_, rest) = message.split_once(TYPE_MARK)?;
    let (error_type, rest) = rest.split_once(TYPE_MARK)?;
    let (message, info) = match rest.split_once(TYPE_MARK) {
        Some((message, info)) => (message, serde_json::from_str(info).ok()),
        None => (rest, None),
    };
    Some((error_type.to_string(), message.to_string(), info))
}

impl AppSyncError {
    /// A request-level error (no path), e.g. a validation failure.
    pub fn request(error_type: &str, message: impl Into<String>, locations: Vec<Location>) -> Self {
        AppSyncError {
            path: None,
            data: None,
            error_type: error_type.to_string(),
            error_info: None,
            locations,
            message: message.into(),
        }
    }

    /// An error from `apollo-compiler`: validation when it has no path, a field
    /// error (from a resolver, or a null in a non-null field) when it has one.
    pub fn from_graphql(err: GraphQLError) -> Self {
        let locations = err
            .locations
            .iter()
            .map(|l| Location {
                line: l.line,
                column: l.column,
                source_name: None,
            })
            .collect();
        let (error_type, message, error_info) = match split_typed(&err.message) {
            Some(typed) => typed,
            None if err.path.is_empty() => ("ValidationError".to_string(), err.message, None),
            None => ("ExecutionError".to_string(), err.message, None),
        };
        let path = (!err.path.is_empty()).then(|| {
            err.path
                .iter()
                .map(|seg| match seg {
                    ResponseDataPathSegment::Field(name) => Value::String(name.to_string()),
                    ResponseDataPathSegment::ListIndex(i) => Value::from(*i),
                })
                .collect()
        });
        AppSyncError {
            path,
            data: None,
            error_type,
            error_info,
            locations,
            message,
        }
    }
}
