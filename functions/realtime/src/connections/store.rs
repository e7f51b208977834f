//! The [`Connections`] port over DynamoDB, one method per route's need.

use aws_sdk_dynamodb::types::{Delete, Put, Select, TransactWriteItem};

use chat_store::tables::{CONNECTIONS_BY_TOPIC, CONNECTIONS_BY_USER};

use super::dynamo::*;
use super::items::*;
use super::port::*;
use super::{Attrs, Result};
use crate::clock::{now_ms, now_secs};
use crate::model::{ConnectedUser, ConnectionState, Subscription};

impl Connections for DynamoConnections {
    async fn put_connection(&self, connection: &ConnectionState) -> Result<()> {
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

    async fn get_connection(&self, connection_id: &str) -> Result<Option<ConnectionState>> {
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
            .map(ConnectionState::from))
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
            match condition_failures(add)? {
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
            match condition_failures(replace)? {
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
        if condition_failures(removed)?.is_some() {
            // Raced with a replacement, or the connection row is gone: the
            // id's own rows still go; the count is the connection's.
            self.client
                .transact_write_items()
                .transact_items(remove_id()?)
                .send()
                .await?;
            let _ = condition_failures(
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

    async fn due_before(&self, cutoff_ms: i64) -> Result<Vec<ConnectionState>> {
        let rows = self.due_rows(EXPIRES, cutoff_ms).await?;
        rows.into_iter()
            .map(|row| Ok(serde_dynamo::from_item::<_, ConnectionItem>(row)?.into()))
            .collect()
    }

    async fn connection_ids_of(&self, user_id: &str) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Row {
            connection_id: String,
        }
        let mut ids = Vec::new();
        let mut start: Option<Attrs> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(CONNECTIONS_BY_USER)
                .key_condition_expression("userConn = :u")
                .expression_attribute_values(":u", serde_dynamo::to_attribute_value(user_id)?)
                .set_exclusive_start_key(start.take())
                .send()
                .await?;
            for item in out.items.unwrap_or_default() {
                ids.push(serde_dynamo::from_item::<_, Row>(item)?.connection_id);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(ids),
            }
        }
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
