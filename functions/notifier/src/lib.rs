//! The notifier: push notifications to offline devices, off the Messages
//! table's stream, so a push never slows `createMessage` or its live
//! delivery. Its event source mapping retries a failing record (a
//! provider down or throttling), then hands it to its on-failure
//! destination.
//!
//! Each batch's records are new messages (pushed to the members who should
//! hear of them, see `chat_domain::notify`) and deleted ones (their pushes
//! withdrawn). Of several new messages of one conversation in a batch only
//! the last is pushed: the rest would be coalesced anyway.
//!
//! Two kinds of failure, two answers. A provider that fails a push (down,
//! throttling) fails the record at once: the mapping retries it twice,
//! then gives it to its failure destination, so one bad provider holds
//! later pushes back for seconds, not an hour. A store that fails (a
//! DynamoDB outage) is waited out here, for up to [`STORE_PATIENCE`], and
//! only then fails the record: an outage shorter than that loses no push
//! and sends nothing to the failure destination.
//!
//! A thin Lambda function: `main` builds the notifier once per cold start
//! and [`handler`] passes each record to `chat-domain`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chat_domain::notify::{Notifier, Report};
use chat_domain::{ChatStore, ErrorKind, Message, PushStore, Pusher};
use chat_store::items::MessageItem;
use lambda_runtime::{Diagnostic, LambdaEvent};
use tracing::instrument;

/// How long one message's handling waits out a failing store before the
/// record is failed: well inside the function's 60 s timeout, with room
/// for the pushes themselves.
pub const STORE_PATIENCE: Duration = Duration::from_secs(40);
/// The first and the longest pause between tries against a failing store.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

/// Runs `attempt` again while it fails for the store's sake (an internal
/// failure), with backoff, until [`STORE_PATIENCE`] is spent.
async fn patiently<F, Fut>(attempt: F) -> chat_domain::error::Result<Report>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = chat_domain::error::Result<Report>>,
{
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        match attempt().await {
            Err(err)
                if err.kind() == ErrorKind::Internal
                    && started.elapsed() + pause < STORE_PATIENCE =>
            {
                tracing::warn!(error = %chat_domain::Chain(&err), "store failing; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
            other => return other,
        }
    }
}

/// The message a record carries; `None` for rows that are not messages
/// (the change log shares the table) or records without a new image.
fn message_of(record: &EventRecord) -> Option<Message> {
    let item: MessageItem = serde_dynamo::from_item(record.change.new_image.clone()).ok()?;
    Some(item.into())
}

#[instrument(skip_all, fields(request_id = %event.context.request_id, records = event.payload.records.len()))]
pub async fn handler<S: ChatStore + PushStore, X: Pusher>(
    notifier: &Notifier<S, X>,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Diagnostic> {
    let records = &event.payload.records;
    let messages: Vec<Option<Message>> = records.iter().map(message_of).collect();
    // The last new message of each conversation in the batch.
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, (record, message)) in records.iter().zip(&messages).enumerate() {
        if let (Some(m), "INSERT") = (message, record.event_name.as_str()) {
            last.insert(m.message_conversation_id.as_str(), i);
        }
    }
    let mut response = DynamoDbEventResponse::default();
    for (i, (record, message)) in records.iter().zip(&messages).enumerate() {
        let Some(message) = message else { continue };
        let outcome = match record.event_name.as_str() {
            "INSERT" if last.get(message.message_conversation_id.as_str()) == Some(&i) => {
                patiently(|| notifier.message_posted(message)).await
            }
            "MODIFY" if message.deleted_at.is_some() => {
                patiently(|| notifier.message_deleted(message)).await
            }
            _ => continue,
        };
        let failed = match outcome {
            Ok(report) => report.failed > 0,
            Err(err) => {
                tracing::warn!(error = %chat_domain::Chain(&err), message = %message.id, "notifying failed");
                true
            }
        };
        if failed {
            // Retried from here: pushes already sent for this message go
            // again, under the same collapse id, so each replaces itself.
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
            break;
        }
    }
    Ok(response)
}
