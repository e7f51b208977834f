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
pub struct ConnectionState {
    pub connection_id: String,
    /// Epoch milliseconds, from API Gateway.
    pub connected_at: i64,
    /// Set once `connection_init` is accepted.
    pub user: Option<ConnectedUser>,
    /// The identity from a `?token=` on the upgrade request, if valid.
    pub query_user: Option<ConnectedUser>,
    /// A `?token=` was sent and failed verification.
    pub query_token_rejected: bool,
    /// When the client last showed it is alive (epoch milliseconds): its
    /// `connection_init`, then each `pong` and `ping` (see
    /// [`crate::liveness::Liveness`]). `0` before `connection_init`.
    pub seen_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedUser {
    pub id: String,
    pub username: String,
    /// When the token the user connected with expires (epoch seconds): the
    /// connection receives nothing after it (see [`ConnectedUser::expired`]).
    pub token_expires_at: i64,
}

impl ConnectedUser {
    /// Whether the token is past its `exp` (with the verifier's leeway).
    pub fn expired(&self) -> bool {
        token_expired(self.token_expires_at)
    }
}

/// Whether a token that expires at `expires_at` (epoch seconds) has, with
/// the verifier's leeway.
pub fn token_expired(expires_at: i64) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    now > expires_at + chat_auth::LEEWAY_SECS as i64
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
    /// Its connection's token `exp` (epoch seconds), copied so the fan-out
    /// can tell without reading the connection. `None` on rows stored
    /// before tokens were tracked.
    pub token_expires_at: Option<i64>,
}
