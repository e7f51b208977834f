//! The Connections table's rows as stored (serde_dynamo items), their
//! keys and the helpers that build them: one place for the keys.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use sha2::Digest;

use super::Result;
use crate::model::{ConnectedUser, ConnectionState, Subscription};

/// API Gateway closes every connection after two hours.
pub const CONNECTION_TTL_SECS: i64 = 2 * 60 * 60;
pub(crate) const CONNECTION_SK: &str = "conn";
pub(crate) const PENDING: &str = "PENDING";
/// The due-list partition of initialised connections, by token expiry.
pub(crate) const EXPIRES: &str = "EXPIRES";
/// BatchWriteItem takes at most 25 requests.
pub(crate) const BATCH_WRITE_MAX: usize = 25;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectionItem {
    pub(crate) connection_id: String,
    pub(crate) sk: String,
    pub(crate) connected_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token_expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) query_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) query_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) query_token_expires_at: Option<i64>,
    #[serde(default)]
    pub(crate) query_token_rejected: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pending_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pending_since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_conn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) subscriptions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seen_at: Option<i64>,
    pub(crate) expires_at: i64,
}

/// Maps a client's subscription id to its subscription row.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IdItem {
    pub(crate) connection_id: String,
    pub(crate) sk: String,
    pub(crate) sub_key: String,
    pub(crate) expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubscriptionItem {
    pub(crate) connection_id: String,
    pub(crate) sk: String,
    pub(crate) id: String,
    pub(crate) topic: String,
    pub(crate) query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) operation_name: Option<String>,
    #[serde(default)]
    pub(crate) variables: Map<String, Value>,
    pub(crate) user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token_expires_at: Option<i64>,
    pub(crate) expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RowKey {
    pub(crate) connection_id: String,
    pub(crate) sk: String,
}

/// A conditional write's outcome: `true` if it happened, `false` if its
/// condition failed; any other failure is an error.
pub(crate) fn conditional<O, E, R>(result: std::result::Result<O, SdkError<E, R>>) -> Result<bool>
where
    E: ProvideErrorMetadata,
    aws_sdk_dynamodb::Error: From<SdkError<E, R>>,
{
    match result {
        Ok(_) => Ok(true),
        Err(err)
            if err.as_service_error().and_then(|e| e.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(err) => Err(err.into()),
    }
}

pub(crate) fn subscription_sk(key: &str) -> String {
    format!("sub#{key}")
}

/// The document key a subscription row's `sk` carries.
pub(crate) fn document_key_of(sk: &str) -> Option<&str> {
    sk.strip_prefix("sub#")
}

pub(crate) fn id_sk(id: &str) -> String {
    format!("id#{id}")
}

/// JSON with every object's keys in order: one document's variables give
/// one key whatever order the client wrote them in.
pub(crate) fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// A subscription's document key: its topic, query, operation and
/// variables, hashed.
pub fn document_key(s: &Subscription) -> String {
    let mut hash = sha2::Sha256::new();
    for part in [
        s.topic.as_str(),
        s.operation_name.as_deref().unwrap_or_default(),
        s.query.as_str(),
        &canonical(&Value::Object(s.variables.clone())).to_string(),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `pendingSince` sorts as a string: epoch milliseconds, zero-padded.
pub(crate) fn sortable_ms(ms: i64) -> String {
    format!("{ms:015}")
}

pub(crate) fn expires_at(connected_at_ms: i64) -> i64 {
    connected_at_ms / 1000 + CONNECTION_TTL_SECS
}

impl From<&ConnectionState> for ConnectionItem {
    fn from(c: &ConnectionState) -> Self {
        let pending = c.user.is_none();
        ConnectionItem {
            connection_id: c.connection_id.clone(),
            sk: CONNECTION_SK.into(),
            connected_at: c.connected_at,
            user_id: c.user.as_ref().map(|u| u.id.clone()),
            username: c.user.as_ref().map(|u| u.username.clone()),
            token_expires_at: c.user.as_ref().map(|u| u.token_expires_at),
            query_user_id: c.query_user.as_ref().map(|u| u.id.clone()),
            query_username: c.query_user.as_ref().map(|u| u.username.clone()),
            query_token_expires_at: c.query_user.as_ref().map(|u| u.token_expires_at),
            query_token_rejected: c.query_token_rejected,
            pending_pk: Some(if pending { PENDING } else { EXPIRES }.into()),
            pending_since: Some(match &c.user {
                None => sortable_ms(c.connected_at),
                Some(u) => sortable_ms(u.token_expires_at.saturating_mul(1000)),
            }),
            user_conn: c.user.as_ref().map(|u| u.id.clone()),
            subscriptions: None,
            seen_at: c.user.as_ref().map(|_| c.seen_at),
            expires_at: expires_at(c.connected_at),
        }
    }
}

pub(crate) fn user_of(
    id: Option<String>,
    username: Option<String>,
    expires_at: Option<i64>,
) -> Option<ConnectedUser> {
    Some(ConnectedUser {
        id: id?,
        username: username?,
        // A row from before tokens were tracked: treated as expired, so the
        // client reconnects with a token whose expiry is known.
        token_expires_at: expires_at.unwrap_or(0),
    })
}

impl From<ConnectionItem> for ConnectionState {
    fn from(c: ConnectionItem) -> Self {
        ConnectionState {
            connection_id: c.connection_id,
            connected_at: c.connected_at,
            user: user_of(c.user_id, c.username, c.token_expires_at),
            query_user: user_of(c.query_user_id, c.query_username, c.query_token_expires_at),
            query_token_rejected: c.query_token_rejected,
            seen_at: c.seen_at.unwrap_or(c.connected_at),
        }
    }
}

impl From<SubscriptionItem> for Subscription {
    fn from(s: SubscriptionItem) -> Self {
        Subscription {
            connection_id: s.connection_id,
            id: s.id,
            topic: s.topic,
            query: s.query,
            operation_name: s.operation_name,
            variables: s.variables,
            user_id: s.user_id,
            token_expires_at: s.token_expires_at,
        }
    }
}

/// A subscription row as a push reads it: everything but its document,
/// which the row's key names (`sub#<document key>`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubscriberItem {
    pub(crate) connection_id: String,
    pub(crate) sk: String,
    pub(crate) id: String,
    pub(crate) user_id: String,
    #[serde(default)]
    pub(crate) token_expires_at: Option<i64>,
}

/// The attributes of [`SubscriberItem`], as a projection.
pub(crate) const SUBSCRIBER_PROJECTION: &str = "#c, #s, #i, #u, #e";
pub(crate) const SUBSCRIBER_NAMES: [(&str, &str); 5] = [
    ("#c", "connectionId"),
    ("#s", "sk"),
    ("#i", "id"),
    ("#u", "userId"),
    ("#e", "tokenExpiresAt"),
];
