//! DynamoDB Streams' event source mapping, emulated: reads each streamed
//! table's shards and invokes the fan-out function with DynamoDB stream
//! events in batches, as Lambda does.
//!
//! Like a mapping with `StartingPosition: LATEST`, it starts at the end of
//! each stream. With `FunctionResponseTypes: [ReportBatchItemFailures]` it
//! retries a batch from the first reported record (up to
//! [`MAX_RETRIES`] times, then the records go to the log as the on-failure
//! destination would receive them). The poll interval bounds delivery latency.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::dynamodb::{Event, EventRecord, StreamRecord};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde_json::Value;
use tokio::sync::watch;

use crate::resolvers::Function;

/// Records per invocation at most (the mapping's `BatchSize`).
pub const BATCH_SIZE: i32 = 100;
/// Retries of a failing batch before its records are given up.
pub const MAX_RETRIES: u32 = 5;
/// How often the shard list is refreshed, to follow shard rollovers.
const SHARD_REFRESH: Duration = Duration::from_secs(5);

/// Where the mapping is in one shard.
#[derive(Default)]
struct Shard {
    iterator: Option<String>,
    last_sequence: Option<String>,
    /// The shard is closed and fully read (or was skipped).
    ended: bool,
}

/// One table's stream mapping.
pub struct Mapping {
    pub table: String,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub function: Arc<Function>,
    pub poll_interval: Duration,
}

fn to_event_record(record: Record, stream_arn: &str) -> EventRecord {
    let change = record
        .dynamodb
        .unwrap_or_else(|| aws_sdk_dynamodbstreams::types::StreamRecord::builder().build());
    let mut stream_record = StreamRecord::default();
    stream_record.approximate_creation_date_time = change
        .approximate_creation_date_time
        .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), 0))
        .unwrap_or_default();
    stream_record.keys = change.keys.unwrap_or_default().into();
    stream_record.new_image = change.new_image.unwrap_or_default().into();
    stream_record.old_image = change.old_image.unwrap_or_default().into();
    stream_record.sequence_number = change.sequence_number;
    stream_record.size_bytes = change.size_bytes.unwrap_or_default();
    stream_record.stream_view_type = change
        .stream_view_type
        .and_then(|v| serde_json::from_value(Value::String(v.as_str().to_string())).ok());
    let mut event_record = EventRecord::default();
    event_record.aws_region = record.aws_region.unwrap_or_else(|| "us-east-1".into());
    event_record.change = stream_record;
    event_record.event_id = record.event_id.unwrap_or_default();
    event_record.event_name = record
        .event_name
        .map(|n| n.as_str().to_string())
        .unwrap_or_default();
    event_record.event_source = Some("aws:dynamodb".into());
    event_record.event_version = record.event_version;
    event_record.event_source_arn = Some(stream_arn.to_string());
    event_record
}

impl Mapping {
    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let stream_arn = loop {
            match self.stream_arn().await {
                Some(arn) => break arn,
                None => {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
            }
        };
        let mut shards: HashMap<String, Shard> = HashMap::new();
        let mut first_listing = true;
        let mut refreshed = tokio::time::Instant::now() - SHARD_REFRESH;
        loop {
            if *stop.borrow() {
                return;
            }
            if refreshed.elapsed() >= SHARD_REFRESH {
                self.refresh_shards(&stream_arn, &mut shards, first_listing)
                    .await;
                first_listing = false;
                refreshed = tokio::time::Instant::now();
            }
            let mut got_any = false;
            for (shard_id, shard) in shards.iter_mut() {
                if shard.iterator.is_none() && !shard.ended {
                    shard.iterator = self
                        .resume(&stream_arn, shard_id, shard.last_sequence.as_deref())
                        .await;
                }
                let Some(iterator) = shard.iterator.take() else {
                    continue;
                };
                match self
                    .streams
                    .get_records()
                    .shard_iterator(iterator)
                    .limit(BATCH_SIZE)
                    .send()
                    .await
                {
                    Ok(out) => {
                        let records = out.records.unwrap_or_default();
                        if let Some(last) = records
                            .last()
                            .and_then(|r| r.dynamodb.as_ref()?.sequence_number.clone())
                        {
                            shard.last_sequence = Some(last);
                        }
                        if !records.is_empty() {
                            got_any = true;
                            let batch: Vec<EventRecord> = records
                                .into_iter()
                                .map(|r| to_event_record(r, &stream_arn))
                                .collect();
                            self.deliver(batch).await;
                        }
                        shard.ended = out.next_shard_iterator.is_none();
                        shard.iterator = out.next_shard_iterator;
                    }
                    Err(err) => {
                        let err = aws_sdk_dynamodbstreams::Error::from(err);
                        if matches!(
                            err,
                            aws_sdk_dynamodbstreams::Error::TrimmedDataAccessException(_)
                        ) && shard.last_sequence.is_none()
                        {
                            // DynamoDB Local refuses a LATEST iterator on a shard
                            // with no records yet; from its start is the same place.
                            shard.iterator = self
                                .iterator(
                                    &stream_arn,
                                    shard_id,
                                    ShardIteratorType::TrimHorizon,
                                    None,
                                )
                                .await;
                        } else {
                            // An expired or invalid iterator: `resume` picks up
                            // after the last record read.
                            tracing::warn!(table = %self.table, error = %err, "GetRecords failed");
                        }
                    }
                }
            }
            if !got_any {
                tokio::select! {
                    _ = tokio::time::sleep(self.poll_interval) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
    }

    async fn stream_arn(&self) -> Option<String> {
        let out = self
            .dynamodb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .ok()?;
        out.table()?.latest_stream_arn().map(str::to_string)
    }

    /// Adds shards not seen before: at their end on the first listing (like a
    /// mapping created with LATEST), from their start afterwards (a shard that
    /// appears later holds only new records). Shards already closed on the
    /// first listing hold only old records and are skipped.
    async fn refresh_shards(
        &self,
        stream_arn: &str,
        shards: &mut HashMap<String, Shard>,
        first: bool,
    ) {
        let Ok(out) = self
            .streams
            .describe_stream()
            .stream_arn(stream_arn)
            .send()
            .await
        else {
            return;
        };
        let Some(description) = out.stream_description else {
            return;
        };
        for listed in description.shards.unwrap_or_default() {
            let Some(id) = listed.shard_id else { continue };
            if shards.contains_key(&id) {
                continue;
            }
            let closed = listed
                .sequence_number_range
                .as_ref()
                .and_then(|r| r.ending_sequence_number.as_ref())
                .is_some();
            let mut shard = Shard::default();
            if first && closed {
                shard.ended = true;
            } else {
                let kind = if first {
                    ShardIteratorType::Latest
                } else {
                    ShardIteratorType::TrimHorizon
                };
                shard.iterator = self.iterator(stream_arn, &id, kind, None).await;
            }
            shards.insert(id, shard);
        }
    }

    /// A fresh iterator after `last_sequence`, or at the end when nothing was read yet.
    async fn resume(
        &self,
        stream_arn: &str,
        shard_id: &str,
        last_sequence: Option<&str>,
    ) -> Option<String> {
        match last_sequence {
            Some(seq) => {
                self.iterator(
                    stream_arn,
                    shard_id,
                    ShardIteratorType::AfterSequenceNumber,
                    Some(seq),
                )
                .await
            }
            None => {
                self.iterator(stream_arn, shard_id, ShardIteratorType::Latest, None)
                    .await
            }
        }
    }

    async fn iterator(
        &self,
        stream_arn: &str,
        shard_id: &str,
        kind: ShardIteratorType,
        sequence: Option<&str>,
    ) -> Option<String> {
        self.streams
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(shard_id)
            .shard_iterator_type(kind)
            .set_sequence_number(sequence.map(str::to_string))
            .send()
            .await
            .ok()
            .and_then(|o| o.shard_iterator)
    }

    /// Invokes the function with `batch`, retrying from the first reported
    /// failure, as an event source mapping with ReportBatchItemFailures does.
    async fn deliver(&self, mut batch: Vec<EventRecord>) {
        for attempt in 0..=MAX_RETRIES {
            let mut event = Event::default();
            event.records = batch.clone();
            let payload = serde_json::to_value(&event).expect("stream events serialize");
            let failed_from = match self.function.invoke(payload).await {
                Ok(response) => response["batchItemFailures"]
                    .as_array()
                    .and_then(|f| f.first())
                    .and_then(|f| f["itemIdentifier"].as_str())
                    .and_then(|seq| {
                        batch
                            .iter()
                            .position(|r| r.change.sequence_number.as_deref() == Some(seq))
                    }),
                Err(d) => {
                    tracing::warn!(table = %self.table, error_type = %d.error_type, message = %d.error_message, "fan-out failed; retrying the batch");
                    Some(0)
                }
            };
            match failed_from {
                None => return,
                Some(index) => {
                    batch.drain(..index);
                    if attempt < MAX_RETRIES {
                        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    }
                }
            }
        }
        tracing::error!(table = %self.table, records = batch.len(), "records dropped after retries (on-failure destination)");
    }
}
