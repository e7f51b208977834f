//! The fan-out: DynamoDB Streams batches in, `next` messages out.
//!
//! For each inserted row, in stream order: find the topic's subscribers (one
//! Query on the `byTopic` index), shape the row once per distinct subscription
//! document, and post to every subscriber concurrently (bounded). A 410 Gone
//! removes that connection; any other failure on one connection is logged and
//! never stops delivery to the rest.
//!
//! Retries never re-send: a record is reported as failed
//! (`ReportBatchItemFailures`) only when its subscribers could not be read,
//! which happens before anything for it is posted; processing stops there,
//! so Lambda retries from that record and every record before it is done.
//! Posts that fail for other reasons are not retried by re-running the batch.

use std::collections::HashMap;

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::StreamExt;
use serde_json::Value;
use tracing::{info, instrument, warn};

use chat_domain::{Chain, ConvoLink, Message, User};
use chat_store::items::{LinkItem, MessageItem, UserItem};
use chat_store::TableNames;

use crate::connections::Connections;
use crate::model::Topic;
use crate::notifier::{Notifier, NotifyError};
use crate::protocol::ServerMessage;
use crate::subscribe;

/// Posts in flight at once per record.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// What one record's delivery did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    pub gone: usize,
    pub failed: usize,
}

pub struct FanOut<C, N> {
    connections: C,
    notifier: N,
    tables: TableNames,
    concurrency: usize,
}

/// The table a stream record came from: `arn:...:table/<name>/stream/<label>`.
fn table_of(record: &EventRecord) -> Option<&str> {
    let arn = record.event_source_arn.as_deref()?;
    let rest = arn.split_once(":table/")?.1;
    Some(rest.split_once("/stream").map_or(rest, |(name, _)| name))
}

impl<C: Connections, N: Notifier> FanOut<C, N> {
    pub fn new(connections: C, notifier: N, tables: TableNames, concurrency: usize) -> Self {
        FanOut {
            connections,
            notifier,
            tables,
            concurrency: concurrency.max(1),
        }
    }

    /// The topic and GraphQL value of an inserted row, if it is one that is pushed.
    fn event_of(&self, record: &EventRecord) -> Option<(Topic, Value)> {
        if record.event_name != "INSERT" {
            return None;
        }
        let image = record.change.new_image.clone();
        let table = table_of(record)?;
        if table == self.tables.messages {
            let message: Message = serde_dynamo::from_item::<_, MessageItem>(image)
                .ok()?
                .into();
            let topic = Topic::Messages {
                conversation_id: message.message_conversation_id.clone(),
            };
            Some((topic, serde_json::to_value(message).ok()?))
        } else if table == self.tables.users {
            // Username claims share the table and are not users.
            let user: User = serde_dynamo::from_item::<_, UserItem>(image).ok()?.into();
            Some((Topic::Users, serde_json::to_value(user).ok()?))
        } else if table == self.tables.convo_links {
            let link: ConvoLink = serde_dynamo::from_item::<_, LinkItem>(image).ok()?.into();
            let topic = Topic::LinksOf {
                user_id: link.convo_link_user_id.clone(),
            };
            Some((topic, serde_json::to_value(link).ok()?))
        } else {
            None
        }
    }

    /// Handles one stream batch.
    #[instrument(skip_all, fields(records = event.records.len()))]
    pub async fn handle(&self, event: &Event) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for record in &event.records {
            let Some((topic, value)) = self.event_of(record) else {
                continue;
            };
            match self.deliver(&topic, value).await {
                Ok(delivery) => {
                    info!(topic = %topic.key(), sent = delivery.sent, gone = delivery.gone, failed = delivery.failed, "delivered")
                }
                Err(err) => {
                    warn!(error = %Chain(&err), topic = %topic.key(), "subscriber lookup failed; the batch resumes here");
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = record.change.sequence_number.clone();
                    response.batch_item_failures.push(failure);
                    break;
                }
            }
        }
        response
    }

    /// Sends one new row to every subscriber of its topic.
    pub async fn deliver(
        &self,
        topic: &Topic,
        value: Value,
    ) -> Result<Delivery, crate::RealtimeError> {
        let subscribers = self.connections.subscribers(&topic.key()).await?;
        // Shape once per distinct document: subscribers mostly share one.
        let mut shaped: HashMap<(String, Option<String>, String), Option<Value>> = HashMap::new();
        let mut posts = Vec::with_capacity(subscribers.len());
        for sub in subscribers {
            let key = (
                sub.query.clone(),
                sub.operation_name.clone(),
                Value::Object(sub.variables.clone()).to_string(),
            );
            let payload = shaped
                .entry(key)
                .or_insert_with(|| {
                    match subscribe::shape(
                        &sub.query,
                        sub.operation_name.as_deref(),
                        &sub.variables,
                        value.clone(),
                    ) {
                        Ok(payload) => Some(payload),
                        Err(refusal) => {
                            // Validated at subscribe time; only a schema change gets here.
                            warn!(errors = ?refusal.0, "a stored subscription no longer validates");
                            None
                        }
                    }
                })
                .clone();
            if let Some(payload) = payload {
                posts.push((
                    sub.connection_id,
                    ServerMessage::Next {
                        id: sub.id,
                        payload,
                    }
                    .to_bytes(),
                ));
            }
        }
        let outcomes: Vec<(String, Result<(), NotifyError>)> = futures::stream::iter(posts)
            .map(|(connection_id, bytes)| async move {
                let result = self.notifier.post(&connection_id, bytes).await;
                (connection_id, result)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut delivery = Delivery::default();
        for (connection_id, result) in outcomes {
            match result {
                Ok(()) => delivery.sent += 1,
                Err(NotifyError::Gone) => {
                    delivery.gone += 1;
                    if let Err(err) = self.connections.delete_connection(&connection_id).await {
                        warn!(error = %Chain(&err), connection = %connection_id, "could not remove a gone connection");
                    }
                }
                Err(err) => {
                    delivery.failed += 1;
                    warn!(error = %Chain(&err), connection = %connection_id, "post failed");
                }
            }
        }
        Ok(delivery)
    }
}
