//! [`DynamoConnections`]: the adapter's client, its constructors and the
//! requests its methods share.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use serde::Serialize;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

use chat_store::tables::{CONNECTIONS_BY_TOPIC, CONNECTIONS_PENDING};

use crate::caps::MAX_SUBSCRIPTIONS_PER_CONNECTION;

use super::documents::*;
use super::items::*;
use super::{Attrs, Result};
use crate::liveness::Liveness;
use crate::model::Subscription;

#[derive(Debug, Clone)]
pub struct DynamoConnections {
    pub(crate) client: Client,
    pub(crate) table: String,
    pub(crate) liveness: Liveness,
    pub(crate) documents: Arc<Documents>,
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
    pub(super) fn next_look(token_expires_at: i64, at_ms: i64) -> i64 {
        let expired = (token_expires_at + chat_auth::LEEWAY_SECS as i64 + 1).saturating_mul(1000);
        at_ms.min(expired)
    }

    pub(super) fn key(&self, connection_id: &str, sk: &str) -> Result<Attrs> {
        Ok(serde_dynamo::to_item(RowKey {
            connection_id: connection_id.to_string(),
            sk: sk.to_string(),
        })?)
    }

    /// A topic's subscriptions read whole, keeping their documents.
    pub(super) async fn subscribers_whole(&self, topic: &str) -> Result<Vec<Subscription>> {
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

    pub(super) async fn query_all(
        &self,
        index: Option<&str>,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Vec<Attrs>> {
        self.query_projected(index, condition, values, None).await
    }

    /// [`Self::query_all`], reading only the attributes `projection` names
    /// (an expression and its `#name` placeholders).
    pub(super) async fn query_projected(
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

/// Which of a transaction's actions failed their condition (the first
/// three, padded), `None` when it went through; any other failure is an
/// error. The store's [`chat_store::failed_conditions`] reads the reasons.
pub(crate) fn condition_failures<O, R>(
    result: std::result::Result<O, SdkError<TransactWriteItemsError, R>>,
) -> Result<Option<Vec<bool>>>
where
    aws_sdk_dynamodb::Error: From<SdkError<TransactWriteItemsError, R>>,
{
    let err = match result {
        Ok(_) => return Ok(None),
        Err(err) => err,
    };
    match chat_store::failed_conditions(&err) {
        Some(mut failed) if failed.contains(&true) => {
            failed.resize(3, false);
            Ok(Some(failed))
        }
        _ => Err(err.into()),
    }
}

impl DynamoConnections {
    /// The connection's row, and the keys of all its rows.
    pub(super) async fn rows_of(
        &self,
        connection_id: &str,
    ) -> Result<(Option<ConnectionItem>, Vec<RowKey>)> {
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
    pub(super) async fn delete_rows(&self, keys: &[RowKey]) -> Result<()> {
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
    pub(super) async fn due(&self, partition: &str, cutoff_ms: i64) -> Result<Vec<String>> {
        let rows = self.due_rows(partition, cutoff_ms).await?;
        rows.into_iter()
            .map(|row| Ok(serde_dynamo::from_item::<_, RowKey>(row)?.connection_id))
            .collect()
    }

    /// The rows on the due list `partition` since before `cutoff_ms` (the
    /// index holds whole rows).
    pub(super) async fn due_rows(&self, partition: &str, cutoff_ms: i64) -> Result<Vec<Attrs>> {
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

    pub(super) async fn get<T: serde::de::DeserializeOwned>(
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
    pub(super) fn put_new<T: Serialize>(&self, item: &T) -> Result<TransactWriteItem> {
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
    pub(super) fn count(&self, connection_id: &str, by: i32) -> Result<TransactWriteItem> {
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
