//! The schema, as AppSync sees it.

use std::sync::LazyLock;

use apollo_compiler::validation::Valid;
use apollo_compiler::Schema;

/// schema/schema.graphql, the single source of the API.
pub const SCHEMA_SDL: &str = include_str!("../../../schema/schema.graphql");

/// What AppSync defines implicitly: its scalars and authorization/subscription
/// directives. AppSync rejects a schema that redeclares them, so they live here
/// and not in schema.graphql.
pub const APPSYNC_PRELUDE: &str = include_str!("appsync_prelude.graphql");

static SCHEMA: LazyLock<Valid<Schema>> = LazyLock::new(|| {
    let schema = Schema::builder()
        .parse(APPSYNC_PRELUDE, "appsync_prelude.graphql")
        .parse(SCHEMA_SDL, "schema.graphql")
        .build()
        .unwrap_or_else(|e| panic!("schema/schema.graphql does not build: {}", e.errors));
    schema
        .validate()
        .unwrap_or_else(|e| panic!("schema/schema.graphql is invalid: {}", e.errors))
});

/// The validated schema, parsed on first use.
pub fn schema() -> &'static Valid<Schema> {
    &SCHEMA
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_is_valid_and_has_every_operation() {
        let s = super::schema();
        let query = s.get_object("Query").unwrap();
        for f in [
            "getUser",
            "getConvo",
            "listUsers",
            "me",
            "allMessageConnection",
        ] {
            assert!(query.fields.contains_key(f), "Query.{f}");
        }
        let mutation = s.get_object("Mutation").unwrap();
        for f in [
            "createUser",
            "createConvo",
            "createConvoLink",
            "createMessage",
        ] {
            assert!(mutation.fields.contains_key(f), "Mutation.{f}");
        }
        let sub = s.get_object("Subscription").unwrap();
        for f in ["onCreateMessage", "onCreateUser", "onCreateConvoLink"] {
            assert!(sub.fields.contains_key(f), "Subscription.{f}");
        }
    }
}
