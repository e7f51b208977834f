//! Shapes a resolver's JSON result to the request's selection set.
//!
//! A Lambda resolver returns a whole object; AppSync keeps only the selected
//! fields, under their aliases, with `__typename` and fragments applied, and
//! nulls propagated per the schema. [`JsonObject`] lets `apollo-compiler`'s
//! executor do exactly that walk over plain JSON.

use apollo_compiler::resolvers::{AsyncObjectValue, AsyncResolvedValue, FieldError, ResolveInfo};
use apollo_compiler::response::JsonValue;
use apollo_compiler::schema::Type;
use apollo_compiler::validation::Valid;
use apollo_compiler::Schema;
use futures::future::BoxFuture;
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

impl AsyncObjectValue for JsonObject {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> BoxFuture<'a, Result<AsyncResolvedValue<'a>, FieldError>> {
        let value = self
            .fields
            .get(info.field_name())
            .cloned()
            .unwrap_or(Value::Null);
        let resolved = resolve_json(info.schema(), &info.field_definition().ty, value);
        Box::pin(std::future::ready(resolved))
    }
}

/// Turns `value` into a resolved value of type `ty`: objects become
/// [`JsonObject`]s, lists recurse, scalars and enums are leaves.
pub fn resolve_json<'a>(
    schema: &Valid<Schema>,
    ty: &Type,
    value: Value,
) -> Result<AsyncResolvedValue<'a>, FieldError> {
    if value.is_null() {
        return Ok(AsyncResolvedValue::null());
    }
    match ty {
        Type::List(item) | Type::NonNullList(item) => match value {
            Value::Array(items) => {
                let resolved = items
                    .into_iter()
                    .map(|v| resolve_json(schema, item, v))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(AsyncResolvedValue::list(resolved))
            }
            _ => Err(FieldError {
                message: format!("resolver returned a non-list for {ty}"),
            }),
        },
        Type::Named(name) | Type::NonNullNamed(name) => {
            if schema.get_object(name).is_some() {
                match value {
                    Value::Object(fields) => Ok(AsyncResolvedValue::object(JsonObject::new(
                        name.as_str(),
                        fields,
                    ))),
                    _ => Err(FieldError {
                        message: format!("resolver returned a non-object for {ty}"),
                    }),
                }
            } else {
                Ok(AsyncResolvedValue::leaf(to_response_json(value)))
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
