//! What a request costs before it runs: its depth and the resolvers it
//! invokes, checked against AppSync's `QueryDepthLimit` and
//! `ResolverCountLimit` (declared once, in infra/template.yaml).
//!
//! - Depth counts nested field levels, fragments expanded: `{ me { id } }`
//!   is 2. Each named fragment's depth is computed once, so a document that
//!   spreads fragments into each other costs time linear in its size.
//! - Resolvers: in this API only root fields have one (a nested field is
//!   resolved by its root field's function), so a request invokes one per
//!   distinct root response key, aliases included. `__typename` and the
//!   introspection fields invoke nothing. A root field under `@skip` or
//!   `@include` counts too: the count is what the document could cost.

use std::collections::{HashMap, HashSet};

use apollo_compiler::executable::{Operation, Selection, SelectionSet};
use apollo_compiler::ExecutableDocument;

use crate::AppSyncError;

/// The two limits, as the template declares them (`None`: no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CostLimits {
    pub query_depth: Option<usize>,
    pub resolver_count: Option<usize>,
}

/// The nested field levels of `operation`.
pub fn depth(document: &ExecutableDocument, operation: &Operation) -> usize {
    let mut fragments = HashMap::new();
    depth_of(document, &operation.selection_set, &mut fragments)
}

fn depth_of<'doc>(
    document: &'doc ExecutableDocument,
    set: &'doc SelectionSet,
    fragments: &mut HashMap<&'doc str, usize>,
) -> usize {
    let mut deepest = 0;
    for selection in &set.selections {
        let d = match selection {
            Selection::Field(field) => 1 + depth_of(document, &field.selection_set, fragments),
            Selection::InlineFragment(inline) => {
                depth_of(document, &inline.selection_set, fragments)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.fragment_name.as_str();
                if let Some(known) = fragments.get(name) {
                    *known
                } else {
                    // Validation refuses fragment cycles, so this ends.
                    let d = document
                        .fragments
                        .get(name)
                        .map_or(0, |f| depth_of(document, &f.selection_set, fragments));
                    fragments.insert(name, d);
                    d
                }
            }
        };
        deepest = deepest.max(d);
    }
    deepest
}

/// The functions `operation` invokes: its distinct root response keys.
pub fn resolver_count(document: &ExecutableDocument, operation: &Operation) -> usize {
    operation
        .root_fields(document)
        .filter(|f| !f.name.starts_with("__"))
        .map(|f| f.response_key().as_str())
        .collect::<HashSet<_>>()
        .len()
}

/// A request over a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostExceeded {
    #[error("The query has {depth} nested levels; the limit is {limit}.")]
    Depth { depth: usize, limit: usize },
    #[error("The query invokes {count} resolvers (root fields, aliases included); the limit is {limit}.")]
    Resolvers { count: usize, limit: usize },
}

impl CostExceeded {
    pub fn error_type(&self) -> &'static str {
        match self {
            CostExceeded::Depth { .. } => "QueryDepthLimitExceeded",
            CostExceeded::Resolvers { .. } => "ResolverCountLimitExceeded",
        }
    }
}

/// The refusal in AppSync's error shape.
impl From<CostExceeded> for AppSyncError {
    fn from(exceeded: CostExceeded) -> Self {
        AppSyncError::request(exceeded.error_type(), exceeded.to_string(), vec![])
    }
}

impl CostLimits {
    /// Refuses an operation over either limit.
    pub fn check(
        &self,
        document: &ExecutableDocument,
        operation: &Operation,
    ) -> Result<(), CostExceeded> {
        if let Some(limit) = self.query_depth {
            let depth = depth(document, operation);
            if depth > limit {
                return Err(CostExceeded::Depth { depth, limit });
            }
        }
        if let Some(limit) = self.resolver_count {
            let count = resolver_count(document, operation);
            if count > limit {
                return Err(CostExceeded::Resolvers { count, limit });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema;

    fn measure(query: &str) -> (usize, usize) {
        let doc = ExecutableDocument::parse_and_validate(schema(), query, "q.graphql").unwrap();
        let op = doc.operations.get(None).unwrap();
        (depth(&doc, op), resolver_count(&doc, op))
    }

    #[test]
    fn depth_counts_field_levels_through_fragments() {
        assert_eq!(measure("{ me { id } }"), (2, 1));
        assert_eq!(
            measure("{ me { conversations { items { conversation { id } } } } }"),
            (5, 1)
        );
        assert_eq!(
            measure(
                "query { me { ...F } } fragment F on User { conversations { items { ... on ConvoLink { id } } } }"
            ),
            (4, 1)
        );
        assert_eq!(measure("{ __typename }"), (1, 0));
    }

    #[test]
    fn every_alias_of_a_root_field_is_a_resolver_and_repeats_are_not() {
        assert_eq!(measure("{ a: me { id } b: me { id } me { id } }").1, 3);
        assert_eq!(measure("{ me { id } me { username } }").1, 1);
        assert_eq!(
            measure("query { ...R ...R } fragment R on Query { x: me { id } y: listUsers { nextToken } }").1,
            2
        );
    }

    #[test]
    fn doubled_fragments_are_measured_in_linear_time() {
        // 30 levels of fragments that each spread the next twice: 2^30 paths.
        let query = crate::doubled_fragments(30, "conversations { nextToken }");
        let started = std::time::Instant::now();
        assert_eq!(measure(&query).0, 3);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn a_limit_is_refused_one_past_its_edge() {
        let doc = ExecutableDocument::parse_and_validate(
            schema(),
            "{ a: me { id } b: me { id } }",
            "q.graphql",
        )
        .unwrap();
        let op = doc.operations.get(None).unwrap();
        let at = |query_depth, resolver_count| CostLimits {
            query_depth: Some(query_depth),
            resolver_count: Some(resolver_count),
        };
        assert!(at(2, 2).check(&doc, op).is_ok());
        let deep = AppSyncError::from(at(1, 2).check(&doc, op).unwrap_err());
        assert_eq!(deep.error_type, "QueryDepthLimitExceeded");
        let wide = AppSyncError::from(at(2, 1).check(&doc, op).unwrap_err());
        assert_eq!(wide.error_type, "ResolverCountLimitExceeded");
    }
}
