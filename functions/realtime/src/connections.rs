//! The connection store: connections and their subscriptions, in the
//! Connections table (see schema/TABLES.md).
//!
//! | row | `connectionId` | `sk` | `topic` (byTopic) | `pendingPk` (pending) |
//! | --- | --- | --- | --- | --- |
//! | connection | id | `conn` | | `PENDING` until `connection_init` |
//! | subscription | id | `sub#<id>` | e.g. `message:<conversationId>` | |
//!
//! Every row carries `expiresAt`: DynamoDB's TTL removes what a lost
//! `$disconnect` left behind, after API Gateway's 2-hour connection limit.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use chat_store::tables::{CONNECTIONS_BY_TOPIC, CONNECTIONS_PENDING};

use crate::error::RealtimeError;
use crate::model::{ConnectedUser, Connection, Subscription};

type Attrs = HashMap<String, AttributeValue>;
type Result<T, E = RealtimeError> = std::result::Result<T, E>;

/// API Gateway closes every connection after two hours.
pub const CONNECTION_TTL_SECS: i64 = 2 * 60 * 60;
const CONNECTION_SK: &str = "conn";
const PENDING: &str = "PENDING";
/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE_MAX: usize = 25;

/// The connection store the routes and the fan-out need.
pub trait Connections: Send + Sync {
    fn put_connection(&self, connection: &Connection) -> impl Future<Output = Result<()>> + Send;
    fn get_connection(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<Option<Connection>>> + Send;
    /// Marks a pending connection acknowledged for `user`; `false` if it was
    /// not pending (already acknowledged, or gone).
    fn acknowledge(
        &self,
        connection_id: &str,
        user: &ConnectedUser,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Stores a subscription; `false` if the connection already has one with its id.
    fn put_subscription(
        &self,
        subscription: &Subscription,
    ) -> impl Future<Output = Result<bool>> + Send;
    fn delete_subscription(
        &self,
        connection_id: &str,
        id: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Every subscription to `topic`.
    fn subscribers(&self, topic: &str) -> impl Future<Output = Result<Vec<Subscription>>> + Send;
    /// Removes a connection and all its subscriptions.
    fn delete_connection(&self, connection_id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Connections still waiting for `connection_init` that connected before
    /// `cutoff_ms` (epoch milliseconds).
    fn pending_before(&self, cutoff_ms: i64) -> impl Future<Output = Result<Vec<String>>> + Send;
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

fn subscription_sk(id: &str) -> String {
    format!("sub#{id}")
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
            pending_pk: pending.then(|| PENDING.into()),
            pending_since: pending.then(|| sortable_ms(c.connected_at)),
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

/// [`Connections`] over the Connections table.
#[derive(Debug, Clone)]
pub struct DynamoConnections {
    client: Client,
    table: String,
}

impl DynamoConnections {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoConnections {
            client,
            table: table.into(),
        }
    }

    fn key(&self, connection_id: &str, sk: &str) -> Result<Attrs> {
        Ok(serde_dynamo::to_item(RowKey {
            connection_id: connection_id.to_string(),
            sk: sk.to_string(),
        })?)
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
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(connection_id, CONNECTION_SK)?))
            .update_expression(
                "SET userId = :u, username = :n, tokenExpiresAt = :e REMOVE pendingPk, pendingSince",
            )
            .condition_expression("attribute_exists(pendingPk)")
            .expression_attribute_values(":u", serde_dynamo::to_attribute_value(&user.id)?)
            .expression_attribute_values(":n", serde_dynamo::to_attribute_value(&user.username)?)
            .expression_attribute_values(
                ":e",
                serde_dynamo::to_attribute_value(user.token_expires_at)?,
            )
            .send()
            .await;
        conditional(result)
    }

    async fn put_subscription(&self, s: &Subscription) -> Result<bool> {
        let item = SubscriptionItem {
            connection_id: s.connection_id.clone(),
            sk: subscription_sk(&s.id),
            id: s.id.clone(),
            topic: s.topic.clone(),
            query: s.query.clone(),
            operation_name: s.operation_name.clone(),
            variables: s.variables.clone(),
            user_id: s.user_id.clone(),
            token_expires_at: s.token_expires_at,
            // Subscriptions die with their connection; 2 h from now bounds that.
            expires_at: now_secs() + CONNECTION_TTL_SECS,
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item)?))
            .condition_expression("attribute_not_exists(sk)")
            .send()
            .await;
        conditional(result)
    }

    async fn delete_subscription(&self, connection_id: &str, id: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(connection_id, &subscription_sk(id))?))
            .send()
            .await?;
        Ok(())
    }

    async fn subscribers(&self, topic: &str) -> Result<Vec<Subscription>> {
        let rows = self
            .query_all(
                Some(CONNECTIONS_BY_TOPIC),
                "topic = :t",
                vec![(":t", serde_dynamo::to_attribute_value(topic)?)],
            )
            .await?;
        rows.into_iter()
            .map(|row| Ok(serde_dynamo::from_item::<_, SubscriptionItem>(row)?.into()))
            .collect()
    }

    async fn delete_connection(&self, connection_id: &str) -> Result<()> {
        let rows = self
            .query_all(
                None,
                "connectionId = :c",
                vec![(":c", serde_dynamo::to_attribute_value(connection_id)?)],
            )
            .await?;
        let keys: Vec<RowKey> = rows
            .into_iter()
            .map(serde_dynamo::from_item::<_, RowKey>)
            .collect::<std::result::Result<_, _>>()?;
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

    async fn pending_before(&self, cutoff_ms: i64) -> Result<Vec<String>> {
        let rows = self
            .query_all(
                Some(CONNECTIONS_PENDING),
                "pendingPk = :p AND pendingSince < :c",
                vec![
                    (":p", serde_dynamo::to_attribute_value(PENDING)?),
                    (
                        ":c",
                        serde_dynamo::to_attribute_value(sortable_ms(cutoff_ms))?,
                    ),
                ],
            )
            .await?;
        rows.into_iter()
            .map(|row| Ok(serde_dynamo::from_item::<_, RowKey>(row)?.connection_id))
            .collect()
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
