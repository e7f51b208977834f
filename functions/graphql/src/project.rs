//! Shapes a resolver's JSON result to the request's selection set.
//!
//! A Lambda resolver returns a whole object; AppSync keeps only the selected
//! fields, under their aliases, with `__typename` and fragments applied, and
//! nulls propagated per the schema. [`JsonObject`] lets `apollo-compiler`'s
//! executor do exactly that walk over plain JSON. The walk is synchronous: all
//! I/O has happened by the time a result is projected.

use std::collections::HashMap;

use apollo_compiler::executable::Operation;
use apollo_compiler::resolvers::{Execution, FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::{JsonMap, JsonValue};
use apollo_compiler::schema::Type;
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};

use crate::AppSyncError;
use serde_json::{Map, Value};

/// A JSON object standing for an instance of the object type `type_name`.
pub struct JsonObject {
    type_name: String,
    fields: Map<String, Value>,
}

impl JsonObject {
    pub fn new(type_name: impl Into<String>, fields: Map<String, Value>) -> Self {
        JsonObject {
            type_name: type_name.into(),
            fields,
        }
    }
}

impl ObjectValue for JsonObject {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let value = self
            .fields
            .get(info.field_name())
            .cloned()
            .unwrap_or(Value::Null);
        if let Some(refusal) = refused(&value) {
            return Err(refusal);
        }
        resolve_json(info.schema(), &info.field_definition().ty, value)
    }
}

/// The key under which a function's result carries a nested field it
/// refused: `{"__error": {"errorType": ..., "message": ...}}` in place of the
/// field's value. The field becomes `null` with that error at its path, as
/// AppSync's pass-through resolver on the field makes it (infra/template.yaml).
pub const FIELD_ERROR_KEY: &str = "__error";

/// What a function refused a field with: its `errorType`, message and
/// `errorInfo`, as AppSync's `util.error` takes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub error_type: String,
    pub message: String,
    pub info: Option<Value>,
}

impl Refused {
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Refused {
            error_type: error_type.into(),
            message: message.into(),
            info: None,
        }
    }

    fn field_error(&self) -> FieldError {
        FieldError {
            message: crate::error::typed_message(
                &self.error_type,
                &self.message,
                self.info.as_ref(),
            ),
        }
    }
}

/// What a refused field carries, if `value` is one.
pub fn refusal(value: &Value) -> Option<Refused> {
    let error = value.as_object()?.get(FIELD_ERROR_KEY)?;
    let error_type = error.get("errorType")?.as_str()?;
    let message = error.get("message")?.as_str()?;
    Some(Refused {
        info: error.get("errorInfo").filter(|i| !i.is_null()).cloned(),
        ..Refused::new(error_type, message)
    })
}

/// The error a refused nested field carries, if `value` is one.
fn refused(value: &Value) -> Option<FieldError> {
    Some(refusal(value)?.field_error())
}

/// Turns `value` into a resolved value of type `ty`: objects become
/// [`JsonObject`]s, lists recurse, scalars and enums are leaves.
pub fn resolve_json<'a>(
    schema: &Valid<Schema>,
    ty: &Type,
    value: Value,
) -> Result<ResolvedValue<'a>, FieldError> {
    if value.is_null() {
        return Ok(ResolvedValue::null());
    }
    match ty {
        Type::List(item) | Type::NonNullList(item) => match value {
            Value::Array(items) => {
                let resolved = items
                    .into_iter()
                    .map(|v| resolve_json(schema, item, v))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ResolvedValue::list(resolved))
            }
            _ => Err(FieldError {
                message: format!("resolver returned a non-list for {ty}"),
            }),
        },
        Type::Named(name) | Type::NonNullNamed(name) => {
            if schema.get_object(name).is_some() {
                match value {
                    Value::Object(fields) => Ok(ResolvedValue::object(JsonObject::new(
                        name.as_str(),
                        fields,
                    ))),
                    _ => Err(FieldError {
                        message: format!("resolver returned a non-object for {ty}"),
                    }),
                }
            } else {
                Ok(ResolvedValue::leaf(to_response_json(value)))
            }
        }
    }
}

/// `serde_json` to the JSON type `apollo-compiler` responds with.
pub fn to_response_json(value: Value) -> JsonValue {
    serde_json::from_value(value).expect("JSON converts to JSON")
}

/// The JSON type `apollo-compiler` responds with, back to `serde_json`.
pub fn from_response_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("JSON converts to JSON")
}

/// A root field's outcome: its value, or what it was refused with.
pub type FieldResult = Result<Value, Refused>;

enum RootSource {
    /// Results by response key (alias or field name).
    Keyed(HashMap<String, FieldResult>),
    /// One value for whatever the single root field is (a subscription event).
    Single(Value),
}

/// The root object of a projection pass: the already-computed result of every
/// root field, shaped to the document by `apollo-compiler`'s executor.
pub struct RootValues {
    type_name: String,
    source: RootSource,
}

impl RootValues {
    pub fn keyed(type_name: impl Into<String>, results: HashMap<String, FieldResult>) -> Self {
        RootValues {
            type_name: type_name.into(),
            source: RootSource::Keyed(results),
        }
    }

    pub fn single(type_name: impl Into<String>, value: Value) -> Self {
        RootValues {
            type_name: type_name.into(),
            source: RootSource::Single(value),
        }
    }
}

/// The key a root field's result is stored under: its alias, or its name.
pub fn response_key(info: &ResolveInfo<'_>) -> String {
    info.field_selections()
        .first()
        .map(|f| f.response_key().to_string())
        .unwrap_or_else(|| info.field_name().to_string())
}

impl ObjectValue for RootValues {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let ty = &info.field_definition().ty;
        match &self.source {
            RootSource::Single(value) => resolve_json(info.schema(), ty, value.clone()),
            RootSource::Keyed(results) => match results.get(&response_key(info)) {
                Some(Ok(value)) => resolve_json(info.schema(), ty, value.clone()),
                Some(Err(refused)) => Err(refused.field_error()),
                None => Err(Refused::new(
                    "NotImplemented",
                    format!(
                        "no resolver is wired to {}.{}",
                        self.type_name,
                        info.field_name()
                    ),
                )
                .field_error()),
            },
        }
    }
}

/// Shapes `root` to `operation`'s selection set: the GraphQL response body
/// (`data`, and `errors` in AppSync's shape when there are any).
pub fn project(
    document: &Valid<ExecutableDocument>,
    operation: &Operation,
    variables: &Valid<JsonMap>,
    root: &RootValues,
    introspection: bool,
) -> Value {
    let response = Execution::new(crate::schema(), document)
        .operation(operation)
        .coerced_variable_values(variables)
        .enable_schema_introspection(introspection)
        .execute_sync(root);
    let mut out = Map::new();
    match response {
        Ok(response) => {
            out.insert(
                "data".into(),
                response
                    .data
                    .as_ref()
                    .map(from_response_json)
                    .unwrap_or(Value::Null),
            );
            if !response.errors.is_empty() {
                let errors: Vec<AppSyncError> = response
                    .errors
                    .into_iter()
                    .map(AppSyncError::from_graphql)
                    .collect();
                out.insert("errors".into(), serde_json::json!(errors));
            }
        }
        Err(e) => {
            out.insert("data".into(), Value::Null);
            let error = AppSyncError::from_graphql(e.to_graphql_error(&document.sources));
            out.insert("errors".into(), serde_json::json!([error]));
        }
    }
    Value::Object(out)
}
