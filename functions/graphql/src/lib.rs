//! GraphQL for the chat API: the schema, request validation, AppSync-shaped
//! errors, payload projection, and the AppSync resolver `info` that functions
//! read to learn what was selected.
//!
//! Parsing, validation, variable coercion, introspection and execution order
//! are `apollo-compiler`'s (a spec-complete implementation); this crate only
//! adds what AppSync does differently.
//!
//! # Layout
//!
//! - [`schema`]: schema/schema.graphql plus AppSync's built-in scalars and
//!   directives, parsed and validated once.
//! - [`budget`]: `@skip` / `@include`, and the fields and payload bytes a
//!   selection expands to, bounded before any payload is built.
//! - [`cost`]: a request's depth and resolver count, against AppSync's
//!   `QueryDepthLimit` and `ResolverCountLimit`.
//! - [`error`]: errors in AppSync's JSON shape, with `errorType`.
//! - [`project`]: [`project::JsonObject`], which shapes a resolver's JSON result
//!   to the request's selection set (aliases, fragments, `__typename`).
//! - [`selection`]: the `selectionSetList` / `selectionSetGraphQL` that AppSync
//!   puts in a resolver event, and reading nested field arguments back out of it.

pub mod budget;
pub mod cost;
pub mod error;
pub mod project;
pub mod schema;
pub mod selection;

pub use error::{AppSyncError, Location};

/// `{ me { ...F0 } }` where each of `levels` fragments spreads the next
/// twice (2^levels paths) and the last selects `leaf`: the document that
/// blows up a walk that expands every spread.
#[cfg(test)]
pub(crate) fn doubled_fragments(levels: usize, leaf: &str) -> String {
    let mut query = String::from("{ me { ...F0 } }");
    for i in 0..levels {
        let next = i + 1;
        query.push_str(&format!(
            " fragment F{i} on User {{ id ...F{next} ...F{next} }}"
        ));
    }
    query.push_str(&format!(" fragment F{levels} on User {{ {leaf} }}"));
    query
}
pub use schema::schema;
