//! What every resolver function shares: the AppSync event it receives, the
//! caller it extracts, the arguments and selections it reads, the error it
//! returns to AppSync, and its cold-start setup.
//!
//! # Layout
//!
//! - [`ResolverEvent`]: the event each resolver's request handler builds
//!   (AppSync's Direct Lambda resolver event, with only three headers), with
//!   the Cognito identity read reliably.
//! - [`ResolverError`]: the crate's one error. [`answer`] turns a client's
//!   error into the result AppSync's resolver raises with its `errorType`,
//!   and an internal failure into a failed invocation.
//! - [`config`]: reading configuration and building clients once per cold start.

pub mod config;

use aws_lambda_events::appsync::{AppSyncCognitoIdentity, AppSyncDirectResolverEvent};
use lambda_runtime::Diagnostic;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use chat_domain::graph::{ConvoSel, LinkSel, ListSel, MessageSel, UserSel};
use chat_domain::{Caller, ErrorKind, PageRequest};
use chat_graphql::selection::{nested_arguments, NestedArguments};

pub use config::{
    init_tracing, sdk_config, service, service_from_env, writer_service, writer_service_from_env,
    Service, WriterService,
};

/// A resolver function's event: the shape of AppSync's Direct Lambda
/// resolver event, which each resolver's request handler
/// (`infra/resolvers/invoke.js`) builds with only the headers a function
/// may carry.
///
/// `AppSyncDirectResolverEvent::identity` is an untagged enum whose IAM variant
/// also matches a Cognito identity (and then drops `sub`), so the identity is
/// read here as the Cognito shape this API is configured for.
#[derive(Debug, Clone, Deserialize)]
pub struct ResolverEvent {
    pub identity: Option<AppSyncCognitoIdentity>,
    #[serde(flatten)]
    pub appsync: AppSyncDirectResolverEvent<Value, Value, Value>,
}

impl ResolverEvent {
    /// The verified caller, as AppSync passes the Cognito claims.
    pub fn caller(&self) -> Result<Caller, ResolverError> {
        let identity = self.identity.as_ref().ok_or(ResolverError::NoIdentity)?;
        let sub = identity.sub.clone().filter(|s| !s.is_empty());
        let username = identity
            .username
            .clone()
            .or_else(|| {
                identity
                    .claims
                    .get("cognito:username")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .filter(|s| !s.is_empty());
        match (sub, username) {
            // On AWS, AppSync verified the token but not the subject's
            // shape: it becomes a table key, so it must be an id.
            (Some(id), Some(username)) => Ok(Caller {
                id: chat_domain::limits::id("the token's sub", &id)?,
                username,
                // Cognito's groups (moderators): a claim of the verified
                // token, as AppSync passes every claim.
                groups: identity
                    .claims
                    .get("cognito:groups")
                    .and_then(Value::as_array)
                    .map(|groups| {
                        groups
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            _ => Err(ResolverError::NoIdentity),
        }
    }

    /// The field's arguments, typed.
    pub fn arguments<T: DeserializeOwned>(&self) -> Result<T, ResolverError> {
        let args = self
            .appsync
            .arguments
            .clone()
            .unwrap_or(Value::Object(Map::new()));
        serde_json::from_value(args).map_err(ResolverError::Arguments)
    }

    /// Whether the request selected this field path (e.g. `messages/items/author`):
    /// listed in `selectionSetList`, and not shown excluded by `@skip` /
    /// `@include` in `selectionSetGraphQL`, so a skipped field costs no read
    /// however the list was made.
    pub fn selects(&self, path: &str) -> bool {
        let info = &self.appsync.info;
        chat_graphql::selection::selects(&info.selection_set_list, path)
            && !chat_graphql::selection::excluded(
                &info.selection_set_graphql,
                path,
                &info.variables,
            )
    }

    /// What is selected below a user at `prefix` (`""` for the root, or a
    /// path ending in `/`).
    pub fn user_sel(&self, prefix: &str) -> UserSel {
        UserSel {
            conversations: self.connection(prefix, "conversations", Self::link_sel),
        }
    }

    /// What is selected below a conversation at `prefix`.
    pub fn convo_sel(&self, prefix: &str) -> ConvoSel {
        ConvoSel {
            messages: self.connection(prefix, "messages", Self::message_sel),
            associated: self.connection(prefix, "associated", Self::link_sel),
        }
    }

    /// What is selected below a message at `prefix`.
    pub fn message_sel(&self, prefix: &str) -> MessageSel {
        MessageSel {
            author: self
                .object(prefix, "author")
                .map(|p| Box::new(self.user_sel(&p))),
            conversation: self
                .object(prefix, "conversation")
                .map(|p| Box::new(self.convo_sel(&p))),
        }
    }

    /// What is selected below a membership link at `prefix`.
    pub fn link_sel(&self, prefix: &str) -> LinkSel {
        LinkSel {
            user: self
                .object(prefix, "user")
                .map(|p| Box::new(self.user_sel(&p))),
            conversation: self
                .object(prefix, "conversation")
                .map(|p| Box::new(self.convo_sel(&p))),
        }
    }

    /// The prefix below `field` when it is selected.
    fn object(&self, prefix: &str, field: &str) -> Option<String> {
        let path = format!("{prefix}{field}");
        self.selects(&path).then(|| format!("{path}/"))
    }

    /// A selected connection, with its arguments from `selectionSetGraphQL`.
    /// AppSync does not write a named fragment's content there, so a
    /// connection selected only through one has arguments nobody can read:
    /// it is refused at its path rather than read with defaults.
    fn connection<T>(
        &self,
        prefix: &str,
        field: &str,
        items: impl FnOnce(&Self, &str) -> T,
    ) -> Option<ListSel<T>> {
        let path = format!("{prefix}{field}");
        if !self.selects(&path) {
            return None;
        }
        let info = &self.appsync.info;
        let mut unreadable = None;
        let args = match nested_arguments(&info.selection_set_graphql, &path, &info.variables) {
            NestedArguments::Visible(args) => {
                serde_json::from_value::<ConnectionArgs>(Value::Object(args)).unwrap_or_else(|_| {
                    unreadable = Some(format!("the arguments of {field} do not match the schema"));
                    ConnectionArgs::default()
                })
            }
            NestedArguments::Hidden => {
                unreadable = Some(format!(
                    "{field} is selected inside a named fragment, whose arguments AppSync does not pass to resolvers; write it in place or in an inline fragment (... on Type {{ }})"
                ));
                ConnectionArgs::default()
            }
            NestedArguments::Conflicting => {
                unreadable = Some(format!(
                    "{field} is selected more than once with different arguments; one request can read one page of it per object"
                ));
                ConnectionArgs::default()
            }
        };
        Some(ListSel {
            page: PageRequest {
                limit: args.limit,
                next_token: args.next_token,
            },
            direction: args.sort_direction,
            items: items(self, &format!("{path}/items/")),
            unreadable,
        })
    }
}

/// A nested connection's arguments (`sortDirection` on `messages` only).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionArgs {
    limit: Option<i64>,
    next_token: Option<String>,
    sort_direction: Option<String>,
}

/// A page request as the schema's `limit` / `nextToken` arguments carry it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageArgs {
    pub limit: Option<i64>,
    pub next_token: Option<String>,
}

impl From<PageArgs> for chat_domain::PageRequest {
    fn from(p: PageArgs) -> Self {
        chat_domain::PageRequest {
            limit: p.limit,
            next_token: p.next_token,
        }
    }
}

/// Every failure of a resolver function.
#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    #[error(transparent)]
    Domain(#[from] chat_domain::Error),
    #[error("arguments do not match the schema")]
    Arguments(#[source] serde_json::Error),
    #[error("the request carries no Cognito identity")]
    NoIdentity,
    #[error("the result could not be serialized")]
    Output(#[source] serde_json::Error),
}

impl ResolverError {
    fn kind(&self) -> ErrorKind {
        match self {
            ResolverError::Domain(e) => e.kind(),
            ResolverError::Arguments(_) => ErrorKind::Validation,
            ResolverError::NoIdentity => ErrorKind::Unauthorized,
            ResolverError::Output(_) => ErrorKind::Internal,
        }
    }
}

/// What a resolver function answers AppSync: the edge where an error gets
/// its `errorType`.
///
/// Each resolver's response handler (`infra/resolvers/invoke.js`) is handed
/// the function's result, but of a failed invocation only a message, not
/// its `errorType`. So a client's error (bad input, not a member, not
/// found, ...) is a successful invocation whose result is
/// `{"__error": {"errorType", "message"}}`, which the handler raises with
/// `util.error`, and which the gateway reads the same way. An internal
/// failure stays a failed invocation, so Lambda's error metrics count it;
/// the handler reports it as `InternalFailure`, with the message made safe
/// here. A client's mistake then never counts as a function error.
pub async fn answer(
    handled: impl std::future::Future<Output = Result<Value, ResolverError>>,
) -> Result<Value, Diagnostic> {
    match handled.await {
        Ok(value) => Ok(value),
        Err(err) if err.kind() != ErrorKind::Internal => {
            let refusal = chat_domain::graph::Refusal {
                error: chat_domain::graph::FieldError {
                    error_type: err.kind().error_type().to_string(),
                    message: client_message(&err),
                    error_info: match &err {
                        ResolverError::Domain(e) => e.info(),
                        _ => None,
                    },
                },
            };
            serde_json::to_value(refusal).map_err(|e| ResolverError::Output(e).into())
        }
        Err(err) => Err(err.into()),
    }
}

fn client_message(err: &ResolverError) -> String {
    match err {
        ResolverError::Domain(e) => e.client_message(),
        other => other.to_string(),
    }
}

/// A failed invocation, as the Lambda runtime reports it. Internal failures
/// are logged with their whole cause chain and reported without details.
impl From<ResolverError> for Diagnostic {
    fn from(err: ResolverError) -> Self {
        let kind = err.kind();
        let message = client_message(&err);
        if kind == ErrorKind::Internal {
            tracing::error!(error = %chat_domain::Chain(&err), "resolver failed");
        }
        Diagnostic {
            error_type: kind.error_type().to_string(),
            error_message: message,
        }
    }
}

/// Serializes a resolver's result.
pub fn output<T: serde::Serialize>(value: &T) -> Result<Value, ResolverError> {
    serde_json::to_value(value).map_err(ResolverError::Output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_cognito_identity_and_selection() {
        let event: ResolverEvent = serde_json::from_value(json!({
            "arguments": {"id": "c1"},
            "identity": {
                "sub": "u-1", "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/pool",
                "username": "alice", "claims": {"cognito:username": "alice"},
                "sourceIp": ["1.2.3.4"], "defaultAuthStrategy": "ALLOW", "groups": null
            },
            "source": null,
            "request": {"headers": {}, "domainName": null},
            "prev": null,
            "info": {
                "selectionSetList": ["id", "messages", "messages/items"],
                "selectionSetGraphQL": "{\n  id\n  messages(limit: $n) {\n    items { id }\n  }\n}",
                "parentTypeName": "Query", "fieldName": "getConvo", "variables": {"n": 3}
            },
            "stash": {}
        }))
        .unwrap();
        assert_eq!(
            event.caller().unwrap(),
            Caller {
                id: "u-1".into(),
                username: "alice".into(),
                groups: Vec::new(),
            }
        );
        assert!(event.selects("messages/items"));
        assert!(!event.selects("associated"));
        let sel = event.convo_sel("");
        let messages = sel.messages.expect("messages are selected");
        assert_eq!(messages.page.limit, Some(3));
        assert_eq!(messages.unreadable, None);
        assert!(sel.associated.is_none());
    }

    /// A client's error is the result, under the key the resolver's
    /// response handler raises; an internal failure is a failed invocation.
    #[tokio::test]
    async fn a_clients_error_is_answered_and_an_internal_failure_fails() {
        let refused = answer(async {
            Err(ResolverError::Domain(chat_domain::Error::Validation(
                "limit is 1 to 100".into(),
            )))
        })
        .await
        .unwrap();
        assert_eq!(
            refused,
            json!({ "__error": { "errorType": "ValidationError", "message": "limit is 1 to 100" } })
        );
        assert_eq!(
            answer(async { Err(ResolverError::NoIdentity) })
                .await
                .unwrap()["__error"]["errorType"],
            "Unauthorized"
        );
        let failed = answer(async {
            Err(ResolverError::Domain(chat_domain::Error::store(
                std::io::Error::other("connection reset"),
            )))
        })
        .await
        .unwrap_err();
        assert_eq!(failed.error_type, "InternalFailure");
        assert!(!failed.error_message.contains("connection reset"));
        assert_eq!(
            answer(async { Ok(json!({ "id": "c1" })) }).await.unwrap(),
            json!({ "id": "c1" })
        );
    }

    #[test]
    fn a_subject_that_is_not_an_id_is_a_validation_error() {
        for sub in ["USERNAME#alice", &"a".repeat(3000)] {
            let event: ResolverEvent = serde_json::from_value(json!({
                "arguments": {}, "source": null, "request": {"headers": {}}, "prev": null, "stash": {},
                "identity": {"sub": sub, "issuer": "i", "username": "alice", "claims": {},
                             "sourceIp": [], "defaultAuthStrategy": "ALLOW", "groups": null},
                "info": {"selectionSetList": [], "selectionSetGraphQL": "", "parentTypeName": "Query",
                         "fieldName": "me", "variables": {}}
            }))
            .unwrap();
            let diag: Diagnostic = event.caller().unwrap_err().into();
            assert_eq!(diag.error_type, "ValidationError", "{sub}");
        }
    }

    #[test]
    fn no_identity_is_unauthorized() {
        let event: ResolverEvent = serde_json::from_value(json!({
            "arguments": {}, "identity": null, "source": null,
            "request": {"headers": {}}, "prev": null, "stash": {},
            "info": {"selectionSetList": [], "selectionSetGraphQL": "", "parentTypeName": "Query",
                     "fieldName": "me", "variables": {}}
        }))
        .unwrap();
        let diag: Diagnostic = event.caller().unwrap_err().into();
        assert_eq!(diag.error_type, "Unauthorized");
    }
}
