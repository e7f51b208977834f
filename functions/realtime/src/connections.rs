//! The connection store: connections and their subscriptions, in the
//! Connections table (see schema/TABLES.md).
//!
//! | row | `connectionId` | `sk` | `topic` (byTopic) | `pendingPk` (pending) | `userConn` (byUser) |
//! | --- | --- | --- | --- | --- | --- |
//! | connection | id | `conn` | | `PENDING` until `connection_init`, then `EXPIRES` | its user, once initialised |
//! | subscription | id | `sub#<document key>` | e.g. `message:<conversationId>` | | |
//! | subscription id | id | `id#<client id>` | | | |
//!
//! - A subscription row is keyed by its document (topic, query, operation
//!   and variables, hashed), so the same document subscribed twice on one
//!   socket is one subscription; the `id#` row maps the client's id to it.
//! - A push reads a topic's subscribers without their documents, the bulk
//!   of a row: the key in `sk` names the document, and `Documents` keeps
//!   those this environment has read (a key is a hash, so a kept document
//!   is never stale). A topic it has not read yet, or a key it has not
//!   seen, reads the rows whole instead.
//! - The connection row counts its subscriptions (`subscriptions`), so the
//!   cap holds under concurrent `subscribe`s: the count and the rows change
//!   in one transaction.
//! - The `pending` index is the sweeper's due list: `pendingSince` is when
//!   the connection connected while it waits for `connection_init`; after
//!   it, when the sweeper next looks at it: to ping it once it has been
//!   silent a while (it stays due, and is pinged at each sweep, until its
//!   `pong` moves it on), or when its token expires, whichever is first
//!   (see [`crate::sweeper`]).
//!
//! Every row carries `expiresAt`: DynamoDB's TTL removes what a lost
//! `$disconnect` left behind, after API Gateway's 2-hour connection limit.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Delete, Put, Select, TransactWriteItem, Update};
use sha2::Digest;

use chat_store::tables::{CONNECTIONS_BY_TOPIC, CONNECTIONS_BY_USER, CONNECTIONS_PENDING};

use crate::caps::MAX_SUBSCRIPTIONS_PER_CONNECTION;

use crate::error::RealtimeError;
use crate::model::{ConnectedUser, Connection, Subscription};
use crate::sweeper::Liveness;

type Attrs = HashMap<String, AttributeValue>;
type Result<T, E = RealtimeError> = std::result::Result<T, E>;

/// API Gateway closes every connection after two hours.
pub const CONNECTION_TTL_SECS: i64 = 2 * 60 * 60;
const CONNECTION_SK: &str = "conn";
const PENDING: &str = "PENDING";
/// The due-list partition of initialised connections, by token expiry.
const EXPIRES: &str = "EXPIRES";
/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE_MAX: usize = 25;

/// The connection store the routes and the fan-out need.
pub trait Connections: Send + Sync {
    fn put_connection(&self, connection: &Connection) -> impl Future<Output = Result<()>> + Send;
    fn get_connection(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<Option<Connection>>> + Send;
    /// Marks a pending connection acknowledged for `user`, seen now; `false`
    /// if it was not pending (already acknowledged, or gone).
    fn acknowledge(
        &self,
        connection_id: &str,
        user: &ConnectedUser,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Records that an initialised connection's client is alive now: the
    /// sweeper looks at it again a probe interval from now.
    fn touch(&self, connection_id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Stores a subscription, within the connection's cap.
    fn put_subscription(
        &self,
        subscription: &Subscription,
    ) -> impl Future<Output = Result<Stored>> + Send;
    /// Removes the subscription the client knows as `id`, if there is one.
    fn delete_subscription(
        &self,
        connection_id: &str,
        id: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Every subscription to `topic`.
    fn subscribers(&self, topic: &str) -> impl Future<Output = Result<Vec<Subscription>>> + Send;
    /// Removes a connection and all its subscriptions; returns its user, if
    /// it was initialised (whose presence may have changed).
    fn delete_connection(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;
    /// For a connection a push found gone: removes its subscriptions, so no
    /// push posts to it again, and puts it on the sweeper's due list now.
    /// The connection row stays for its `$disconnect`, or the sweeper, to
    /// remove and update its user's presence.
    fn drop_gone(&self, connection_id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Connections still waiting for `connection_init` that connected before
    /// `cutoff_ms` (epoch milliseconds).
    fn pending_before(&self, cutoff_ms: i64) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Initialised connections due for the sweeper's look before
    /// `cutoff_ms` (epoch milliseconds): to ping, to close as silent, or
    /// because their token expired. Read from an index: a connection may
    /// have moved on since (a `pong` just in), so re-read one before acting
    /// on its silence.
    fn due_before(&self, cutoff_ms: i64) -> impl Future<Output = Result<Vec<Connection>>> + Send;
    /// How many initialised connections `user_id` holds.
    fn user_connections(&self, user_id: &str) -> impl Future<Output = Result<usize>> + Send;
}

/// What storing a subscription did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Added,
    /// The connection already has a subscription with this id.
    DuplicateId,
    /// The connection holds [`MAX_SUBSCRIPTIONS_PER_CONNECTION`] already
    /// (or is gone).
    Full,
    /// The connection had subscribed the same document as `old_id`: that
    /// subscription now answers to the new id instead.
    Replaced {
        old_id: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionItem {
    connection_id: String,
    sk: String,
    connected_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query_token_expires_at: Option<i64>,
    #[serde(default)]
    query_token_rejected: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_conn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subscriptions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen_at: Option<i64>,
    expires_at: i64,
}

/// Maps a client's subscription id to its subscription row.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdItem {
    connection_id: String,
    sk: String,
    sub_key: String,
    expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionItem {
    connection_id: String,
    sk: String,
    id: String,
    topic: String,
    query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Map<String, Value>,
    user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_expires_at: Option<i64>,
    expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RowKey {
    connection_id: String,
    sk: String,
}

/// A conditional write's outcome: `true` if it happened, `false` if its
/// condition failed; any other failure is an error.
fn conditional<O, E, R>(result: std::result::Result<O, SdkError<E, R>>) -> Result<bool>
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

fn subscription_sk(key: &str) -> String {
    format!("sub#{key}")
}

/// The document key a subscription row's `sk` carries.
fn document_key_of(sk: &str) -> Option<&str> {
    sk.strip_prefix("sub#")
}

fn id_sk(id: &str) -> String {
    format!("id#{id}")
}

/// JSON with every object's keys in order: one document's variables give
/// one key whatever order the client wrote them in.
fn canonical(value: &Value) -> Value {
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
fn sortable_ms(ms: i64) -> String {
    format!("{ms:015}")
}

fn expires_at(connected_at_ms: i64) -> i64 {
    connected_at_ms / 1000 + CONNECTION_TTL_SECS
}

impl From<&Connection> for ConnectionItem {
    fn from(c: &Connection) -> Self {
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

fn user_of(
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

impl From<ConnectionItem> for Connection {
    fn from(c: ConnectionItem) -> Self {
        Connection {
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
struct SubscriberItem {
    connection_id: String,
    sk: String,
    id: String,
    user_id: String,
    #[serde(default)]
    token_expires_at: Option<i64>,
}

/// The attributes of [`SubscriberItem`], as a projection.
const SUBSCRIBER_PROJECTION: &str = "#c, #s, #i, #u, #e";
const SUBSCRIBER_NAMES: [(&str, &str); 5] = [
    ("#c", "connectionId"),
    ("#s", "sk"),
    ("#i", "id"),
    ("#u", "userId"),
    ("#e", "tokenExpiresAt"),
];

/// A subscription's document: what its key is the hash of.
#[derive(Debug)]
struct Document {
    topic: String,
    query: String,
    operation_name: Option<String>,
    variables: Map<String, Value>,
}

/// Documents by key, kept for the next pushes. A key is a hash of its
/// document, so a kept entry is never stale: a push reads its subscribers
/// without their documents (a few hundred bytes each, the bulk of a row)
/// and takes each distinct one from here.
#[derive(Debug, Default)]
struct Documents(std::sync::Mutex<Kept>);

#[derive(Debug, Default)]
struct Kept {
    by_key: HashMap<String, Arc<Document>>,
    /// Topics read whole since the cache started: a topic not among them
    /// is read whole straight away, not read twice.
    topics: std::collections::HashSet<String>,
}

/// Documents (and topics) kept at most; past it the cache starts afresh.
/// One per conversation and document in use, so a few thousand serve a
/// busy execution environment.
const DOCUMENTS_KEPT: usize = 4096;

impl Documents {
    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps the documents of a topic's subscriptions, read whole.
    fn keep(&self, topic: &str, subscriptions: &[SubscriptionItem]) {
        let mut kept = self.lock();
        if kept.by_key.len() + kept.topics.len() >= DOCUMENTS_KEPT {
            kept.by_key.clear();
            kept.topics.clear();
        }
        kept.topics.insert(topic.to_string());
        for s in subscriptions {
            let Some(key) = document_key_of(&s.sk) else {
                continue;
            };
            if kept.by_key.contains_key(key) {
                continue;
            }
            let document = Document {
                topic: s.topic.clone(),
                query: s.query.clone(),
                operation_name: s.operation_name.clone(),
                variables: s.variables.clone(),
            };
            kept.by_key.insert(key.to_string(), Arc::new(document));
        }
    }
}

/// [`Connections`] over the Connections table.
#[derive(Debug, Clone)]
pub struct DynamoConnections {
    client: Client,
    table: String,
    liveness: Liveness,
    documents: Arc<Documents>,
}

impl DynamoConnections {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoConnections {
            client,
            table: table.into(),
            liveness: Liveness::default(),
            documents: Arc::default(),
        }
    }

    /// The same store, pinging and closing silent connections on `liveness`'s
    /// intervals (the sweeper must be given the same).
    pub fn with_liveness(mut self, liveness: Liveness) -> Self {
        self.liveness = liveness;
        self
    }

    /// When the sweeper should next look at a connection whose token
    /// expires at `token_expires_at` (epoch seconds), if all is well at
    /// `at_ms`: the earlier of that and the first second in which the token
    /// counts as expired ([`crate::model::token_expired`], leeway included).
    fn next_look(token_expires_at: i64, at_ms: i64) -> i64 {
        let expired = (token_expires_at + chat_auth::LEEWAY_SECS as i64 + 1).saturating_mul(1000);
        at_ms.min(expired)
    }

    fn key(&self, connection_id: &str, sk: &str) -> Result<Attrs> {
        Ok(serde_dynamo::to_item(RowKey {
            connection_id: connection_id.to_string(),
            sk: sk.to_string(),
        })?)
    }

    /// A topic's subscriptions read whole, keeping their documents.
    async fn subscribers_whole(&self, topic: &str) -> Result<Vec<Subscription>> {
        let rows = self
            .query_all(
                Some(CONNECTIONS_BY_TOPIC),
                "topic = :t",
                vec![(":t", serde_dynamo::to_attribute_value(topic)?)],
            )
            .await?;
        let subscriptions = rows
            .into_iter()
            .map(serde_dynamo::from_item::<_, SubscriptionItem>)
            .collect::<Result<Vec<_>, _>>()?;
        self.documents.keep(topic, &subscriptions);
        Ok(subscriptions.into_iter().map(Subscription::from).collect())
    }

    /// Every connection the table holds. A Scan, so never on a request
    /// path: the local gateway calls it once at start-up, to deliver the
    /// `$disconnect`s of connections a killed gateway left behind.
    pub async fn all_connection_ids(&self) -> Result<Vec<String>> {
        let mut ids = std::collections::BTreeSet::new();
        let mut start: Option<Attrs> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .projection_expression("connectionId, sk")
                .set_exclusive_start_key(start.take())
                .send()
                .await?;
            for row in out.items.unwrap_or_default() {
                ids.insert(serde_dynamo::from_item::<_, RowKey>(row)?.connection_id);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(ids.into_iter().collect()),
            }
        }
    }

    async fn query_all(
        &self,
        index: Option<&str>,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Vec<Attrs>> {
        self.query_projected(index, condition, values, None).await
    }

    /// [`Self::query_all`], reading only the attributes `projection` names
    /// (an expression and its `#name` placeholders).
    async fn query_projected(
        &self,
        index: Option<&str>,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        projection: Option<(&str, &[(&str, &str)])>,
    ) -> Result<Vec<Attrs>> {
        let mut rows = Vec::new();
        let mut start: Option<Attrs> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                .key_condition_expression(condition)
                .set_exclusive_start_key(start.take());
            for (name, value) in &values {
                query = query.expression_attribute_values(*name, value.clone());
            }
            if let Some((expression, names)) = projection {
                query = query.projection_expression(expression);
                for (placeholder, name) in names {
                    query = query.expression_attribute_names(*placeholder, *name);
                }
            }
            let out = query.send().await?;
            rows.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(rows),
            }
        }
    }
}

impl Connections for DynamoConnections {
    async fn put_connection(&self, connection: &Connection) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(ConnectionItem::from(
                connection,
            ))?))
            .send()
            .await?;
        Ok(())
    }

    async fn get_connection(&self, connection_id: &str) -> Result<Option<Connection>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(connection_id, CONNECTION_SK)?))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out
            .item
            .map(serde_dynamo::from_item::<_, ConnectionItem>)
            .transpose()?
            .map(Connection::from))
    }

    async fn acknowledge(&self, connection_id: &str, user: &ConnectedUser) -> Result<bool> {
        let now = now_ms();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(connection_id, CONNECTION_SK)?))
            .update_expression(
                "SET userId = :u, username = :n, tokenExpiresAt = :e, userConn = :u, pendingPk = :due, pendingSince = :at, seenAt = :now",
            )
            .condition_expression("pendingPk = :pending")
            .expression_attribute_values(":u", serde_dynamo::to_attribute_value(&user.id)?)
            .expression_attribute_values(":n", serde_dynamo::to_attribute_value(&user.username)?)
            .expression_attribute_values(
                ":e",
                serde_dynamo::to_attribute_value(user.token_expires_at)?,
            )
            .expression_attribute_values(":due", serde_dynamo::to_attribute_value(EXPIRES)?)
            .expression_attribute_values(
                ":at",
                serde_dynamo::to_attribute_value(sortable_ms(Self::next_look(
                    user.token_expires_at,
                    now + self.liveness.probe_ms(),
                )))?,
            )
            .expression_attribute_values(":now", serde_dynamo::to_attribute_value(now)?)
            .expression_attribute_values(":pending", serde_dynamo::to_attribute_value(PENDING)?)
            .send()
            .await;
        conditional(result)
    }

    async fn touch(&self, connection_id: &str) -> Result<()> {
        let now = now_ms();
        let next = now + self.liveness.probe_ms();
        // The next look is a probe interval away unless the token expires
        // first; the row holds the expiry, so the condition tells which.
        let ahead = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(connection_id, CONNECTION_SK)?))
            .update_expression("SET seenAt = :now, pendingSince = :next")
            .condition_expression("pendingPk = :due AND tokenExpiresAt >= :next_secs")
            .expression_attribute_values(":now", serde_dynamo::to_attribute_value(now)?)
            .expression_attribute_values(
                ":next",
                serde_dynamo::to_attribute_value(sortable_ms(next))?,
            )
            .expression_attribute_values(
                ":next_secs",
                serde_dynamo::to_attribute_value(next / 1000)?,
            )
            .expression_attribute_values(":due", serde_dynamo::to_attribute_value(EXPIRES)?)
            .send()
            .await;
        if conditional(ahead)? {
            return Ok(());
        }
        // The token expires sooner (the next look is its expiry already),
        // or the connection is not initialised or gone.
        let seen = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(connection_id, CONNECTION_SK)?))
            .update_expression("SET seenAt = :now")
            .condition_expression("pendingPk = :due")
            .expression_attribute_values(":now", serde_dynamo::to_attribute_value(now)?)
            .expression_attribute_values(":due", serde_dynamo::to_attribute_value(EXPIRES)?)
            .send()
            .await;
        conditional(seen)?;
        Ok(())
    }

    async fn put_subscription(&self, s: &Subscription) -> Result<Stored> {
        let key = document_key(s);
        // Subscriptions die with their connection; 2 h from now bounds that.
        let expires_at = now_secs() + CONNECTION_TTL_SECS;
        let item = SubscriptionItem {
            connection_id: s.connection_id.clone(),
            sk: subscription_sk(&key),
            id: s.id.clone(),
            topic: s.topic.clone(),
            query: s.query.clone(),
            operation_name: s.operation_name.clone(),
            variables: s.variables.clone(),
            user_id: s.user_id.clone(),
            token_expires_at: s.token_expires_at,
            expires_at,
        };
        let id_item = IdItem {
            connection_id: s.connection_id.clone(),
            sk: id_sk(&s.id),
            sub_key: key.clone(),
            expires_at,
        };
        // A concurrent `subscribe` or `complete` of the same document can
        // change the rows between the attempts; a few tries settle it.
        for _ in 0..3 {
            let add = self
                .client
                .transact_write_items()
                .transact_items(self.put_new(&id_item)?)
                .transact_items(self.count(&s.connection_id, 1)?)
                .transact_items(self.put_new(&item)?)
                .send()
                .await;
            match failed_conditions(add)? {
                None => return Ok(Stored::Added),
                Some(failed) if failed[0] => return Ok(Stored::DuplicateId),
                Some(failed) if failed[1] => return Ok(Stored::Full),
                Some(_) => {}
            }
            // The same document is subscribed already: it moves to the new id.
            let Some(old) = self
                .get::<SubscriptionItem>(&s.connection_id, &item.sk)
                .await?
            else {
                continue;
            };
            let replace = self
                .client
                .transact_write_items()
                .transact_items(self.put_new(&id_item)?)
                .transact_items(
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(&self.table)
                                .set_item(Some(serde_dynamo::to_item(&item)?))
                                .condition_expression("id = :old")
                                .expression_attribute_values(
                                    ":old",
                                    serde_dynamo::to_attribute_value(&old.id)?,
                                )
                                .build()?,
                        )
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .delete(
                            Delete::builder()
                                .table_name(&self.table)
                                .set_key(Some(self.key(&s.connection_id, &id_sk(&old.id))?))
                                .build()?,
                        )
                        .build(),
                )
                .send()
                .await;
            match failed_conditions(replace)? {
                None => return Ok(Stored::Replaced { old_id: old.id }),
                Some(failed) if failed[0] => return Ok(Stored::DuplicateId),
                Some(_) => {}
            }
        }
        Ok(Stored::Full)
    }

    async fn delete_subscription(&self, connection_id: &str, id: &str) -> Result<()> {
        let Some(mapping) = self.get::<IdItem>(connection_id, &id_sk(id)).await? else {
            return Ok(());
        };
        let remove_sub = || -> Result<TransactWriteItem> {
            Ok(TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(
                            self.key(connection_id, &subscription_sk(&mapping.sub_key))?,
                        ))
                        .condition_expression("id = :id")
                        .expression_attribute_values(":id", serde_dynamo::to_attribute_value(id)?)
                        .build()?,
                )
                .build())
        };
        let remove_id = || -> Result<TransactWriteItem> {
            Ok(TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(self.key(connection_id, &id_sk(id))?))
                        .build()?,
                )
                .build())
        };
        let removed = self
            .client
            .transact_write_items()
            .transact_items(remove_id()?)
            .transact_items(remove_sub()?)
            .transact_items(self.count(connection_id, -1)?)
            .send()
            .await;
        if failed_conditions(removed)?.is_some() {
            // Raced with a replacement, or the connection row is gone: the
            // id's own rows still go; the count is the connection's.
            self.client
                .transact_write_items()
                .transact_items(remove_id()?)
                .send()
                .await?;
            let _ = failed_conditions(
                self.client
                    .transact_write_items()
                    .transact_items(remove_sub()?)
                    .send()
                    .await,
            )?;
        }
        Ok(())
    }

    async fn subscribers(&self, topic: &str) -> Result<Vec<Subscription>> {
        if !self.documents.lock().topics.contains(topic) {
            return self.subscribers_whole(topic).await;
        }
        let rows = self
            .query_projected(
                Some(CONNECTIONS_BY_TOPIC),
                "topic = :t",
                vec![(":t", serde_dynamo::to_attribute_value(topic)?)],
                Some((SUBSCRIBER_PROJECTION, &SUBSCRIBER_NAMES)),
            )
            .await?;
        let rows = rows
            .into_iter()
            .map(|row| Ok(serde_dynamo::from_item::<_, SubscriberItem>(row)?))
            .collect::<Result<Vec<_>>>()?;
        let documents = {
            let kept = self.documents.lock();
            rows.iter()
                .map(|row| document_key_of(&row.sk).and_then(|key| kept.by_key.get(key).cloned()))
                .collect::<Option<Vec<_>>>()
        };
        let Some(documents) = documents else {
            // A subscriber with a document this environment has not read
            // yet: the whole rows, and every document in them is kept.
            return self.subscribers_whole(topic).await;
        };
        Ok(rows
            .into_iter()
            .zip(documents)
            .map(|(row, document)| Subscription {
                connection_id: row.connection_id,
                id: row.id,
                topic: document.topic.clone(),
                query: document.query.clone(),
                operation_name: document.operation_name.clone(),
                variables: document.variables.clone(),
                user_id: row.user_id,
                token_expires_at: row.token_expires_at,
            })
            .collect())
    }

    async fn delete_connection(&self, connection_id: &str) -> Result<Option<String>> {
        let (connection, keys) = self.rows_of(connection_id).await?;
        self.delete_rows(&keys).await?;
        Ok(connection.and_then(|c| c.user_id))
    }

    async fn drop_gone(&self, connection_id: &str) -> Result<()> {
        let (connection, keys) = self.rows_of(connection_id).await?;
        if connection.is_none() {
            // Its `$disconnect` has removed it already.
            return Ok(());
        }
        let others: Vec<RowKey> = keys.into_iter().filter(|k| k.sk != CONNECTION_SK).collect();
        self.delete_rows(&others).await?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(connection_id, CONNECTION_SK)?))
            .update_expression("SET pendingSince = :now, subscriptions = :zero")
            .condition_expression("attribute_exists(sk)")
            .expression_attribute_values(":now", serde_dynamo::to_attribute_value(sortable_ms(0))?)
            .expression_attribute_values(":zero", serde_dynamo::to_attribute_value(0)?)
            .send()
            .await;
        conditional(result)?;
        Ok(())
    }

    async fn pending_before(&self, cutoff_ms: i64) -> Result<Vec<String>> {
        self.due(PENDING, cutoff_ms).await
    }

    async fn due_before(&self, cutoff_ms: i64) -> Result<Vec<Connection>> {
        let rows = self.due_rows(EXPIRES, cutoff_ms).await?;
        rows.into_iter()
            .map(|row| Ok(serde_dynamo::from_item::<_, ConnectionItem>(row)?.into()))
            .collect()
    }

    async fn user_connections(&self, user_id: &str) -> Result<usize> {
        let mut count = 0;
        let mut start: Option<Attrs> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(CONNECTIONS_BY_USER)
                .key_condition_expression("userConn = :u")
                .expression_attribute_values(":u", serde_dynamo::to_attribute_value(user_id)?)
                .select(Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await?;
            count += out.count.max(0) as usize;
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(count),
            }
        }
    }
}

/// Which actions of a cancelled transaction failed their condition; `None`
/// when it went through. Any other failure is an error.
fn failed_conditions<O, R>(
    result: std::result::Result<O, SdkError<TransactWriteItemsError, R>>,
) -> Result<Option<Vec<bool>>>
where
    aws_sdk_dynamodb::Error: From<SdkError<TransactWriteItemsError, R>>,
{
    match result {
        Ok(_) => Ok(None),
        Err(err) => match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                let mut failed: Vec<bool> = e
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code() == Some("ConditionalCheckFailed"))
                    .collect();
                if !failed.contains(&true) {
                    return Err(err.into());
                }
                failed.resize(3, false);
                Ok(Some(failed))
            }
            _ => Err(err.into()),
        },
    }
}

impl DynamoConnections {
    /// The connection's row, and the keys of all its rows.
    async fn rows_of(&self, connection_id: &str) -> Result<(Option<ConnectionItem>, Vec<RowKey>)> {
        let rows = self
            .query_all(
                None,
                "connectionId = :c",
                vec![(":c", serde_dynamo::to_attribute_value(connection_id)?)],
            )
            .await?;
        let mut connection = None;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let key: RowKey = serde_dynamo::from_item(row.clone())?;
            if key.sk == CONNECTION_SK {
                connection = Some(serde_dynamo::from_item::<_, ConnectionItem>(row)?);
            }
            keys.push(key);
        }
        Ok((connection, keys))
    }

    /// Deletes rows, 25 to a BatchWriteItem, retrying what is unprocessed.
    async fn delete_rows(&self, keys: &[RowKey]) -> Result<()> {
        for chunk in keys.chunks(BATCH_WRITE_MAX) {
            let mut requests = Vec::with_capacity(chunk.len());
            for key in chunk {
                requests.push(
                    WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .set_key(Some(serde_dynamo::to_item(key)?))
                                .build()
                                .expect("key is set"),
                        )
                        .build(),
                );
            }
            let mut pending = HashMap::from([(self.table.clone(), requests)]);
            for attempt in 0..8u32 {
                let out = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(pending))
                    .send()
                    .await?;
                match out.unprocessed_items {
                    Some(rest) if !rest.is_empty() => {
                        pending = rest;
                        tokio::time::sleep(std::time::Duration::from_millis(20 << attempt.min(6)))
                            .await;
                    }
                    _ => break,
                }
            }
        }
        Ok(())
    }

    /// Connections on the due list `partition` since before `cutoff_ms`.
    async fn due(&self, partition: &str, cutoff_ms: i64) -> Result<Vec<String>> {
        let rows = self.due_rows(partition, cutoff_ms).await?;
        rows.into_iter()
            .map(|row| Ok(serde_dynamo::from_item::<_, RowKey>(row)?.connection_id))
            .collect()
    }

    /// The rows on the due list `partition` since before `cutoff_ms` (the
    /// index holds whole rows).
    async fn due_rows(&self, partition: &str, cutoff_ms: i64) -> Result<Vec<Attrs>> {
        self.query_all(
            Some(CONNECTIONS_PENDING),
            "pendingPk = :p AND pendingSince < :c",
            vec![
                (":p", serde_dynamo::to_attribute_value(partition)?),
                (
                    ":c",
                    serde_dynamo::to_attribute_value(sortable_ms(cutoff_ms))?,
                ),
            ],
        )
        .await
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        connection_id: &str,
        sk: &str,
    ) -> Result<Option<T>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(connection_id, sk)?))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out.item.map(serde_dynamo::from_item).transpose()?)
    }

    /// A Put of a row that must not exist yet.
    fn put_new<T: Serialize>(&self, item: &T) -> Result<TransactWriteItem> {
        Ok(TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(serde_dynamo::to_item(item)?))
                    .condition_expression("attribute_not_exists(sk)")
                    .build()?,
            )
            .build())
    }

    /// Changes the connection's subscription count by `by`, within
    /// `0..=MAX_SUBSCRIPTIONS_PER_CONNECTION`; fails its condition when the
    /// connection is gone.
    fn count(&self, connection_id: &str, by: i32) -> Result<TransactWriteItem> {
        let (condition, bound) = if by > 0 {
            (
                "attribute_exists(sk) AND (attribute_not_exists(subscriptions) OR subscriptions < :bound)",
                MAX_SUBSCRIPTIONS_PER_CONNECTION,
            )
        } else {
            ("attribute_exists(sk) AND subscriptions > :bound", 0)
        };
        Ok(TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(self.key(connection_id, CONNECTION_SK)?))
                    .update_expression(
                        "SET subscriptions = if_not_exists(subscriptions, :zero) + :by",
                    )
                    .condition_expression(condition)
                    .expression_attribute_values(":zero", serde_dynamo::to_attribute_value(0)?)
                    .expression_attribute_values(":by", serde_dynamo::to_attribute_value(by)?)
                    .expression_attribute_values(":bound", serde_dynamo::to_attribute_value(bound)?)
                    .build()?,
            )
            .build())
    }
}

/// Epoch seconds now.
pub fn now_secs() -> i64 {
    now_ms() / 1000
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
