//! Shapes a resolver's JSON result to the request's selection set.
//!
//! A Lambda resolver returns a whole object; AppSync keeps only the selected
//! fields, under their aliases, with `__typename` and fragments applied, and
//! nulls propagated per the schema. [`JsonObject`] lets `apollo-compiler`'s
//! executor do exactly that walk over plain JSON. The walk is synchronous: all
//! I/O has happened by the time a result is projected.

use apollo_compiler::resolvers::{FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::JsonValue;
use apollo_compiler::schema::Type;
use apollo_compiler::validation::Valid;
use apollo_compiler::Schema;
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
        resolve_json(info.schema(), &info.field_definition().ty, value)
    }
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
