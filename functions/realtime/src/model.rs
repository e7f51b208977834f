//! Connections, subscriptions, and the topics that tie a new row to its
//! subscribers.

use serde_json::{Map, Value};

/// What a subscription listens to; one stream insert maps to one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// `onCreateMessage(messageConversationId)`
    Messages { conversation_id: String },
    /// `onCreateUser`
    Users,
    /// `onCreateConvoLink(convoLinkUserId)`
    LinksOf { user_id: String },
}

impl Topic {
    /// The stored topic key, the partition key of the `byTopic` index.
    pub fn key(&self) -> String {
        match self {
            Topic::Messages { conversation_id } => format!("message:{conversation_id}"),
            Topic::Users => "user".to_string(),
            Topic::LinksOf { user_id } => format!("link:{user_id}"),
        }
    }
}

/// A WebSocket connection's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub connection_id: String,
    /// Epoch milliseconds, from API Gateway.
    pub connected_at: i64,
    /// Set once `connection_init` is accepted.
    pub user: Option<ConnectedUser>,
    /// The identity from a `?token=` on the upgrade request, if valid.
    pub query_user: Option<ConnectedUser>,
    /// A `?token=` was sent and failed verification.
    pub query_token_rejected: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedUser {
    pub id: String,
    pub username: String,
}

/// One active subscription of a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub connection_id: String,
    /// The client's subscription id (unique per connection).
    pub id: String,
    pub topic: String,
    pub query: String,
    pub operation_name: Option<String>,
    pub variables: Map<String, Value>,
    pub user_id: String,
}
