//! The fan-out: a new row in, `next` messages out to exactly the connections
//! subscribed to it.
//!
//! [`FanOut::deliver`] finds the topic's subscribers (one Query on the
//! `byTopic` index), shapes the row once per distinct subscription document,
//! and posts to every subscriber concurrently (bounded). A 410 Gone removes
//! that connection; throttling and 5xx answers are retried by the management
//! client (see [`crate::notifier`]); a post that still fails is logged and
//! never stops delivery to the rest.
//!
//! Two callers: the functions that write (through [`Publisher`], before they
//! return), and the stream function, for rows written outside the API. Each
//! row has exactly one of them: the API marks every row it writes
//! (`pushUntil`, see chat-store's items), and [`FanOut::handle`] skips marked
//! rows, so no row is pushed by both.
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
use tracing::{debug, info, instrument, warn};

use chat_domain::ports::{Change, Publisher, Pushed};
use chat_domain::{Chain, ChangeKind, ConvoLink, Message, MessageChange, User};
use chat_store::items::{LinkItem, MessageItem, UserItem};
use chat_store::TableNames;

use crate::caps::MAX_PAYLOAD_BYTES;
use crate::connections::Connections;
use crate::model::{token_expired, Subscription, Topic};
use crate::notifier::{Notifier, NotifyError};
use crate::protocol::{NextPayload, ServerMessage};
use crate::relay::{RelayBatch, RelayError, RelayPost, RelaySettings};
use crate::subscribe::{self, Unshaped};
use crate::topics::{self, Push};
use crate::window::Deadline;
use chat_graphql::AppSyncError;
use serde_json::json;

/// The attribute of the rows whose writer pushes them.
const WRITER_PUSHES: &str = "pushUntil";

/// Posts in flight at once per record.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// Subscribers that get the same payload: one document (query, operation,
/// variables) and, when a push is personal, one user.
type ShapeKey<'s> = (&'s str, Option<&'s str>, String, &'s str);

/// What one row's delivery did.
pub type Delivery = Pushed;

pub struct FanOut<C, N> {
    connections: C,
    notifier: N,
    tables: TableNames,
    concurrency: usize,
    shapes: subscribe::Shapes,
    relay: Option<RelaySettings>,
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
            shapes: subscribe::Shapes::default(),
            relay: None,
        }
    }

    /// Hands the posts beyond `settings.above` subscribers to other
    /// invocations (see [`crate::relay`]).
    pub fn with_relay(mut self, settings: RelaySettings) -> Self {
        self.relay = Some(settings);
        self
    }

    /// The topic and GraphQL value of an inserted row, if it is one that the
    /// stream pushes: one written outside the API.
    fn event_of(&self, record: &EventRecord) -> Option<(Topic, Push)> {
        if record.event_name != "INSERT" {
            return None;
        }
        let image = record.change.new_image.clone();
        if image.contains_key(WRITER_PUSHES) {
            return None;
        }
        let table = table_of(record)?;
        let change = if table == self.tables.messages {
            // Change-log rows share the table, are marked, and are not messages.
            let message: Message = serde_dynamo::from_item::<_, MessageItem>(image)
                .ok()?
                .into();
            // Written outside the API: the change log does not have it.
            topics::of_change(Change::Message(&MessageChange {
                kind: ChangeKind::Created,
                conversation_id: message.message_conversation_id.clone(),
                key: message.seq.clone(),
                message,
                hidden_from: Vec::new(),
            }))
        } else if table == self.tables.users {
            // Username claims share the table and are not users.
            let user: User = serde_dynamo::from_item::<_, UserItem>(image).ok()?.into();
            topics::of_change(Change::User(&user))
        } else if table == self.tables.convo_links {
            let link: ConvoLink = serde_dynamo::from_item::<_, LinkItem>(image).ok()?.into();
            topics::of_change(Change::Link(&link))
        } else {
            return None;
        };
        change.ok()
    }

    /// Handles one stream batch.
    #[instrument(skip_all, fields(records = event.records.len()))]
    pub async fn handle(&self, event: &Event) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for record in &event.records {
            let Some((topic, value)) = self.event_of(record) else {
                continue;
            };
            match self.deliver(&topic, &value).await {
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

    /// Sends one new row to every subscriber of its topic: beyond the
    /// relay's threshold, other invocations post to the rest (see
    /// [`crate::relay`]).
    pub async fn deliver(
        &self,
        topic: &Topic,
        push: &Push,
    ) -> Result<Delivery, crate::RealtimeError> {
        let started = std::time::Instant::now();
        let deadline = Deadline::for_read_now();
        let subscribers = self.connections.subscribers(&topic.key()).await?;
        let looked_up = started.elapsed();
        // A connection whose token has expired gets nothing more: it is
        // closed instead, and its client reconnects with a fresh token.
        let (expired, subscribers): (Vec<Subscription>, Vec<Subscription>) = subscribers
            .into_iter()
            .partition(|s| s.token_expires_at.is_some_and(token_expired));
        let (payloads, posts, too_large) = self.shape(&subscribers, push);
        let shaped_at = started.elapsed();
        let (delivery, (), ()) = futures::join!(
            self.post_with_relays(topic, &payloads, posts, deadline),
            self.close_expired(&expired),
            self.drop_too_large(&too_large)
        );
        let relayed = delivery.relayed;
        // Where a delivery's time goes, for profiling (`RUST_LOG=chat_realtime=debug`).
        debug!(
            topic = %topic.key(),
            subscribers = subscribers.len(),
            relayed,
            lookup_us = looked_up.as_micros() as u64,
            shape_us = (shaped_at - looked_up).as_micros() as u64,
            post_us = (started.elapsed() - shaped_at).as_micros() as u64,
            "delivery timing"
        );
        crate::metrics::emit(&delivery, started.elapsed());
        Ok(delivery)
    }

    /// Posts a batch another invocation handed over.
    #[instrument(skip_all, fields(topic = %batch.relay_topic, posts = batch.posts.len()))]
    pub async fn relay(&self, batch: &RelayBatch) -> Delivery {
        let (posts, broken): (Vec<RelayPost>, Vec<RelayPost>) = batch
            .posts
            .iter()
            .cloned()
            .partition(|p| p.payload < batch.payloads.len());
        let deadline = batch
            .post_before
            .map_or_else(Deadline::for_read_now, Deadline);
        let mut delivery = self
            .post_all(&batch.relay_topic, &batch.payloads, posts, deadline)
            .await;
        if !broken.is_empty() {
            warn!(
                posts = broken.len(),
                "relayed posts name a payload the batch lacks"
            );
            delivery.failed += broken.len();
        }
        info!(
            sent = delivery.sent,
            gone = delivery.gone,
            failed = delivery.failed,
            "relayed"
        );
        delivery
    }

    /// The row's distinct payloads, shaped once per distinct subscription
    /// document (subscribers mostly share one; per subscriber's user when
    /// the push is [`Push::personal`]), each subscriber's post, and the
    /// subscriptions whose payload would be too large to send.
    fn shape<'s>(
        &self,
        subscribers: &'s [Subscription],
        push: &Push,
    ) -> (Vec<Value>, Vec<RelayPost>, Vec<&'s Subscription>) {
        // A document's payload index; `Err(true)`: too large; `Err(false)`: not sent.
        let mut index: HashMap<ShapeKey<'s>, Result<usize, bool>> = HashMap::new();
        let shared = (!push.personal()).then(|| push.values_for(""));
        let mut payloads = Vec::new();
        let mut posts = Vec::with_capacity(subscribers.len());
        let mut too_large = Vec::new();
        for sub in subscribers {
            if push.skip_user.as_deref() == Some(sub.user_id.as_str())
                || push.hidden_from.contains(&sub.user_id)
            {
                continue;
            }
            let viewer = if shared.is_some() {
                ""
            } else {
                sub.user_id.as_str()
            };
            let key = (
                sub.query.as_str(),
                sub.operation_name.as_deref(),
                Value::Object(sub.variables.clone()).to_string(),
                viewer,
            );
            let at = *index.entry(key).or_insert_with(|| {
                let personal;
                let values = match &shared {
                    Some(values) => values,
                    None => {
                        personal = push.values_for(viewer);
                        &personal
                    }
                };
                match self.shapes.shape(
                    &sub.query,
                    sub.operation_name.as_deref(),
                    &sub.variables,
                    values,
                ) {
                    Ok(Some(payload)) => {
                        payloads.push(payload);
                        Ok(payloads.len() - 1)
                    }
                    // Not a change this subscription's field carries.
                    Ok(None) => Err(false),
                    Err(Unshaped::Invalid(refusal)) => {
                        // Validated at subscribe time; only a schema change gets here.
                        warn!(errors = ?refusal.0, "a stored subscription no longer validates");
                        Err(false)
                    }
                    Err(Unshaped::TooLarge) => Err(true),
                }
            });
            match at {
                Ok(payload) => posts.push(RelayPost {
                    connection_id: sub.connection_id.clone(),
                    subscription_id: sub.id.clone(),
                    payload,
                }),
                Err(true) => too_large.push(sub),
                Err(false) => {}
            }
        }
        (payloads, posts, too_large)
    }
}

/// What invokes the fan-out function: a stream batch from an event source
/// mapping, or a writer's hand-off (a synchronous `Invoke`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum FanOutEvent {
    Relay(RelayBatch),
    Stream(Event),
}

/// The function's answer: the stream mapping reads the batch's failures; a
/// hand-off's answer (what it posted) is read by the writer that waits for
/// it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum FanOutResponse {
    Stream(DynamoDbEventResponse),
    Relay(Delivery),
}

impl<C: Connections, N: Notifier> FanOut<C, N> {
    /// Handles either kind of event.
    pub async fn handle_event(&self, event: &FanOutEvent) -> FanOutResponse {
        match event {
            FanOutEvent::Stream(batch) => FanOutResponse::Stream(self.handle(batch).await),
            FanOutEvent::Relay(batch) => FanOutResponse::Relay(self.relay(batch).await),
        }
    }
}

/// Delivery from the function that wrote the row.
impl<C: Connections, N: Notifier> Publisher for FanOut<C, N> {
    async fn publish(&self, change: Change<'_>) -> chat_domain::error::Result<Pushed> {
        let (topic, values) = topics::of_change(change).map_err(chat_domain::Error::push)?;
        let delivery = self
            .deliver(&topic, &values)
            .await
            .map_err(chat_domain::Error::push)?;
        Ok(delivery)
    }

    async fn revoke(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> chat_domain::error::Result<usize> {
        let topic = Topic::Messages {
            conversation_id: conversation_id.to_string(),
        };
        self.end_subscriptions(&topic, user_id)
            .await
            .map_err(chat_domain::Error::push)
    }

    async fn disconnect(&self, user_id: &str) -> chat_domain::error::Result<usize> {
        self.close_user(user_id)
            .await
            .map_err(chat_domain::Error::push)
    }
}

mod posting;
