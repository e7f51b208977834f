//! DynamoDB Streams' event source mapping, emulated: reads a streamed
//! table's shards and invokes its function (the fan-out, or the notifier on
//! the messages) with DynamoDB stream events in batches, as Lambda does.
//!
//! - **Position.** A mapping created on a data dir for the first time starts
//!   at the end of each shard (`StartingPosition: LATEST`). From then on its
//!   position in every shard is a checkpoint file under
//!   `<data dir>/streams/`, written after each batch the function gets, so a
//!   restart resumes after the last record delivered: nothing is skipped and
//!   nothing is sent twice. Progress over records the filter drops is
//!   written with the next batch, the next shard refresh or the stop: a
//!   crash before that only reads them again, and drops them again. A shard
//!   that appears later is read from its start. A shard is
//!   done only when GetRecords says so (no next iterator); the listing's
//!   `EndingSequenceNumber` is not trusted for that, since the embedded
//!   engine reports one on its only, ever-open shard.
//! - **Retries.** With `ReportBatchItemFailures`, a batch is retried from the
//!   first reported record, with exponential backoff, until its oldest record
//!   is older than the mapping's maximum record age (the template's
//!   `MaximumRecordAgeInSeconds`), or until it has been retried
//!   `MaximumRetryAttempts` times; then it goes to the on-failure destination
//!   ([`crate::failures`]) and the shard moves on. A record never overtakes an
//!   earlier one in its shard.
//! - **Polling.** A full batch is followed at once by the next read; a shard
//!   read to its end is polled again every `poll_interval`. Any write
//!   through the gateway's DynamoDB clients wakes the mappings, at once after
//!   a quiet spell and otherwise `poll_interval` after their last read, so
//!   that under load one read takes in many writes; with no writes the
//!   interval doubles up to [`IDLE_POLL`], so an idle stack does next to
//!   nothing.
//! - **Stopping.** On stop, a mapping drains what is already in its shards
//!   (bounded by [`DRAIN_LIMIT`]) before it returns, so what was accepted
//!   before a stop reaches the connections still open. A batch cut off by
//!   the limit is not checkpointed, so the next start delivers it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::dynamodb::{Event, EventRecord, StreamRecord};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::failures::{first_failure, FailedBatch, FailureLog};
use crate::resolvers::Function;

/// Records per invocation at most (the mapping's `BatchSize`).
pub const BATCH_SIZE: i32 = 100;
/// The longest wait between polls of an idle stream.
pub const IDLE_POLL: Duration = Duration::from_secs(1);
/// How long a stopping mapping may keep delivering what its shards hold.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// The first and the longest wait before a failing batch is retried.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// How often the shard list is refreshed, to follow shard rollovers.
const SHARD_REFRESH: Duration = Duration::from_secs(5);
/// GetRecords' largest page, for skipping to the end of a shard.
const MAX_PAGE: i32 = 1000;
/// The maximum record age when the template states none.
pub const DEFAULT_MAX_RECORD_AGE_SECS: u64 = 3600;

/// Where the next read of a shard starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Position {
    /// From the shard's first record.
    Start,
    /// After this sequence number (the last record delivered).
    After(String),
}

/// A mapping's checkpoint: its position in each shard of one stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Checkpoint {
    stream_arn: String,
    shards: BTreeMap<String, Position>,
}

/// Where the mapping is in one shard.
struct Shard {
    position: Position,
    iterator: Option<String>,
    /// GetRecords returned no next iterator: closed and fully read.
    ended: bool,
}

/// One table's stream mapping.
pub struct Mapping {
    pub table: String,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub function: Arc<Function>,
    /// How often a busy stream is polled.
    pub poll_interval: Duration,
    /// A batch still failing when its oldest record is this old goes to `failures`.
    pub max_record_age: Duration,
    /// Or once it has been retried this often (`MaximumRetryAttempts`;
    /// `None`: until it is too old).
    pub max_retry_attempts: Option<u32>,
    /// The checkpoint directory (`<data dir>/streams`); `None` keeps it in memory.
    pub checkpoints: Option<PathBuf>,
    pub failures: Arc<FailureLog>,
    /// The mapping's `FilterCriteria`: records it drops are done unseen.
    pub filter: crate::filters::Filter,
    /// Signalled on every write through the gateway's DynamoDB clients.
    pub writes: crate::dynamo::WriteSignal,
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

/// The sequence number of a record, for positions and failure reports.
fn sequence_of(record: &EventRecord) -> Option<String> {
    record.change.sequence_number.clone()
}

/// The moment a stopping mapping gives up delivering, fixed by whichever
/// part of it sees the stop first.
#[derive(Default)]
struct DrainDeadline(Mutex<Option<Instant>>);

impl DrainDeadline {
    fn get(&self) -> Instant {
        *self
            .0
            .lock()
            .expect("deadline lock")
            .get_or_insert_with(|| Instant::now() + DRAIN_LIMIT)
    }
}

/// How far one delivery got.
enum Delivered {
    /// Every record was delivered, or given to the on-failure destination.
    All,
    /// Stopped while retrying: the records before `up_to`'s successor are done.
    Partly { up_to: Option<String> },
}

impl Mapping {
    fn checkpoint_path(&self) -> Option<PathBuf> {
        self.checkpoints
            .as_ref()
            .map(|dir| match self.function.name {
                // The fan-out's checkpoints predate other mappings.
                crate::resolvers::FAN_OUT_FN => dir.join(format!("{}.json", self.table)),
                other => dir.join(format!("{}.{other}.json", self.table)),
            })
    }

    fn load_checkpoint(&self) -> Option<Checkpoint> {
        let path = self.checkpoint_path()?;
        let body = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&body) {
            Ok(checkpoint) => Some(checkpoint),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "unreadable stream checkpoint; starting at the end of the stream");
                None
            }
        }
    }

    /// Writes the checkpoint atomically (a new file renamed over the old).
    fn save_checkpoint(&self, stream_arn: &str, shards: &BTreeMap<String, Shard>) {
        let Some(path) = self.checkpoint_path() else {
            return;
        };
        let checkpoint = Checkpoint {
            stream_arn: stream_arn.to_string(),
            shards: shards
                .iter()
                .map(|(id, s)| (id.clone(), s.position.clone()))
                .collect(),
        };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            let body = serde_json::to_vec_pretty(&checkpoint).map_err(std::io::Error::other)?;
            std::fs::write(&tmp, body)?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(err) = write() {
            tracing::error!(path = %path.display(), error = %err, "could not save the stream checkpoint");
        }
    }

    /// Runs until `stop` turns true, then drains and returns.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut writes = self.writes.subscribe();
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
        // A checkpoint of another stream (the table was created anew) does
        // not apply, and all of the new stream is new.
        let (checkpoint, fresh) = match self.load_checkpoint() {
            Some(c) if c.stream_arn == stream_arn => (Some(c), false),
            Some(_) => (None, true),
            None => (None, false),
        };
        let mut resumed = checkpoint.is_some() || fresh;
        let mut known = checkpoint.map(|c| c.shards).unwrap_or_default();
        let mut shards: BTreeMap<String, Shard> = BTreeMap::new();
        let mut refreshed: Option<Instant> = None;
        let mut interval = self.poll_interval;
        let drain = DrainDeadline::default();
        let mut draining = false;
        let mut read_failing = false;
        loop {
            let stopping = *stop.borrow();
            // A drain looks for new shards first; so does a mapping that
            // knows none yet (DynamoDB Local lists a stream's first shard
            // only once it has a record).
            let mut refresh_now = shards.is_empty();
            if stopping && !draining {
                draining = true;
                refresh_now = true;
            }
            if refresh_now || refreshed.is_none_or(|at| at.elapsed() >= SHARD_REFRESH) {
                if self
                    .refresh_shards(&stream_arn, &mut shards, &mut known, resumed)
                    .await
                {
                    resumed = true;
                    self.save_checkpoint(&stream_arn, &shards);
                }
                refreshed = Some(Instant::now());
            }
            writes.borrow_and_update();
            let read_at = Instant::now();
            let mut got_any = false;
            let mut more_waiting = false;
            let mut interrupted = false;
            let ids: Vec<String> = shards.keys().cloned().collect();
            for shard_id in &ids {
                let Some(shard) = shards.get_mut(shard_id) else {
                    continue;
                };
                if shard.ended {
                    continue;
                }
                if shard.iterator.is_none() {
                    shard.iterator = self.resume(&stream_arn, shard_id, &shard.position).await;
                }
                let Some(iterator) = shard.iterator.take() else {
                    continue;
                };
                let out = match self
                    .streams
                    .get_records()
                    .shard_iterator(iterator)
                    .limit(BATCH_SIZE)
                    .send()
                    .await
                {
                    Ok(out) => {
                        if read_failing {
                            tracing::info!(table = %self.table, "stream reads work again");
                            read_failing = false;
                        }
                        out
                    }
                    Err(err) => {
                        // An expired iterator or an outage: the next round
                        // resumes after the last record delivered.
                        let err = aws_sdk_dynamodbstreams::Error::from(err);
                        if !read_failing {
                            tracing::warn!(table = %self.table, error = %crate::Chain(&err), "GetRecords failed; retrying");
                            read_failing = true;
                        }
                        continue;
                    }
                };
                let records = out.records.unwrap_or_default();
                let next = out.next_shard_iterator;
                tracing::trace!(table = %self.table, shard = %shard_id, records = records.len(), next = next.is_some(), "GetRecords");
                if records.is_empty() {
                    shard.ended = next.is_none();
                    // DynamoDB Local's iterator on a shard that was empty
                    // when it was made never sees later records: until the
                    // first one is read, each poll starts at the horizon anew.
                    if shard.position != Position::Start {
                        shard.iterator = next;
                    }
                    continue;
                }
                got_any = true;
                more_waiting |= records.len() >= BATCH_SIZE as usize;
                let batch: Vec<EventRecord> = records
                    .into_iter()
                    .map(|r| to_event_record(r, &stream_arn))
                    .collect();
                let last = batch.last().and_then(sequence_of);
                let batch: Vec<EventRecord> = batch
                    .into_iter()
                    .filter(|r| self.filter.admits(r))
                    .collect();
                // All filtered out: done, without an invocation.
                let invoked = !batch.is_empty();
                let delivered = if !invoked {
                    Delivered::All
                } else {
                    self.deliver(&stream_arn, shard_id, batch, &stop, &drain)
                        .await
                };
                match delivered {
                    Delivered::All => {
                        if let Some(last) = last {
                            shard.position = Position::After(last);
                        }
                        shard.ended = next.is_none();
                        shard.iterator = next;
                    }
                    Delivered::Partly { up_to } => {
                        if let Some(seq) = up_to {
                            shard.position = Position::After(seq);
                        }
                        interrupted = true;
                    }
                }
                // Records the filter dropped are read again after a crash
                // and dropped again, so their progress waits for the next
                // save: the next invocation, the next shard refresh (every
                // few seconds) or the stop. What was invoked is saved now.
                if invoked {
                    self.save_checkpoint(&stream_arn, &shards);
                }
                if interrupted {
                    break;
                }
            }
            // Interrupted: told to stop, or the stack is gone.
            if interrupted {
                return;
            }
            if stopping {
                let out_of_time = Instant::now() >= drain.get();
                if !got_any || out_of_time || read_failing {
                    self.save_checkpoint(&stream_arn, &shards);
                    return;
                }
                continue;
            }
            if got_any {
                interval = self.poll_interval;
                // A full batch may have more behind it: read on. Otherwise
                // the shard is read up to its end, and reading again now
                // would find nothing; the next write (or the interval, for
                // writes made around the gateway) wakes the mapping.
                if more_waiting {
                    continue;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {
                    interval = (interval * 2).min(IDLE_POLL.max(self.poll_interval));
                }
                _ = writes.changed() => {
                    interval = self.poll_interval;
                    // While writes keep coming, a shard is read at most once
                    // per interval, so that one read takes in the records of
                    // several writes, as Lambda's poller reads a shard a few
                    // times a second rather than once per write. After a
                    // quiet spell the first write is read at once.
                    tokio::select! {
                        _ = tokio::time::sleep_until(read_at + self.poll_interval) => {}
                        changed = stop.changed() => {
                            if changed.is_err() {
                                return;
                            }
                        }
                    }
                }
                changed = stop.changed() => {
                    if changed.is_err() {
                        // The stack was dropped without stopping.
                        return;
                    }
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

    /// Adds the shards not seen before in this run. A shard in the
    /// checkpoint resumes where it was; a shard that is new to a mapping
    /// that has run before starts at its first record; on the mapping's very
    /// first run every shard starts at its end. Returns whether it listed.
    async fn refresh_shards(
        &self,
        stream_arn: &str,
        shards: &mut BTreeMap<String, Shard>,
        known: &mut BTreeMap<String, Position>,
        resumed: bool,
    ) -> bool {
        let description = match self
            .streams
            .describe_stream()
            .stream_arn(stream_arn)
            .send()
            .await
        {
            Ok(out) => out.stream_description,
            Err(err) => {
                tracing::debug!(table = %self.table, error = %crate::Chain(&aws_sdk_dynamodbstreams::Error::from(err)), "DescribeStream failed");
                return false;
            }
        };
        for listed in description.and_then(|d| d.shards).unwrap_or_default() {
            let Some(id) = listed.shard_id else { continue };
            if shards.contains_key(&id) {
                continue;
            }
            let position = match known.remove(&id) {
                Some(position) => position,
                None if resumed => Position::Start,
                None => {
                    let ending = listed
                        .sequence_number_range
                        .and_then(|r| r.ending_sequence_number);
                    self.end_of(stream_arn, &id, ending).await
                }
            };
            tracing::debug!(table = %self.table, shard = %id, ?position, "new shard");
            shards.insert(
                id,
                Shard {
                    position,
                    iterator: None,
                    ended: false,
                },
            );
        }
        true
    }

    /// The position after a shard's last record, for a mapping that starts
    /// at LATEST: the listed ending sequence number when there is one, or
    /// else the last record found by reading the shard through.
    async fn end_of(&self, stream_arn: &str, shard_id: &str, ending: Option<String>) -> Position {
        if let Some(seq) = ending {
            return Position::After(seq);
        }
        let mut position = Position::Start;
        let mut iterator = self.resume(stream_arn, shard_id, &position).await;
        while let Some(it) = iterator {
            let Ok(out) = self
                .streams
                .get_records()
                .shard_iterator(it)
                .limit(MAX_PAGE)
                .send()
                .await
            else {
                break;
            };
            let records = out.records.unwrap_or_default();
            match records
                .last()
                .and_then(|r| r.dynamodb.as_ref()?.sequence_number.clone())
            {
                Some(seq) => position = Position::After(seq),
                None => break,
            }
            iterator = out.next_shard_iterator;
        }
        position
    }

    /// A fresh iterator at `position`.
    async fn resume(
        &self,
        stream_arn: &str,
        shard_id: &str,
        position: &Position,
    ) -> Option<String> {
        let (kind, sequence) = match position {
            Position::Start => (ShardIteratorType::TrimHorizon, None),
            Position::After(seq) => (ShardIteratorType::AfterSequenceNumber, Some(seq.clone())),
        };
        let result = self
            .streams
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(shard_id)
            .shard_iterator_type(kind)
            .set_sequence_number(sequence)
            .send()
            .await;
        match result {
            Ok(out) => out.shard_iterator,
            Err(err) => {
                let err = aws_sdk_dynamodbstreams::Error::from(err);
                if matches!(
                    err,
                    aws_sdk_dynamodbstreams::Error::TrimmedDataAccessException(_)
                ) && *position != Position::Start
                {
                    // The checkpoint's record was trimmed (older than the
                    // stream's 24 hours): what is left starts at the horizon.
                    tracing::warn!(table = %self.table, shard = %shard_id, "checkpoint trimmed from the stream; reading from its oldest record");
                    return Box::pin(self.resume(stream_arn, shard_id, &Position::Start)).await;
                }
                tracing::debug!(table = %self.table, error = %crate::Chain(&err), "GetShardIterator failed");
                None
            }
        }
    }

    /// Invokes the function with `batch`, retrying from the first reported
    /// failure with backoff until the oldest record left is older than the
    /// maximum record age, then sends what is left to the on-failure
    /// destination. Stops retrying when `stop` turns true, and abandons an
    /// invocation still running at the drain deadline: that batch stays in
    /// the stream, and is delivered after the next start.
    async fn deliver(
        &self,
        stream_arn: &str,
        shard_id: &str,
        mut batch: Vec<EventRecord>,
        stop: &watch::Receiver<bool>,
        drain: &DrainDeadline,
    ) -> Delivered {
        let first_seen = Instant::now();
        let mut wait = FIRST_RETRY;
        let mut up_to: Option<String> = None;
        let mut attempts = 0u32;
        loop {
            let mut event = Event::default();
            event.records = batch.clone();
            let payload = serde_json::to_value(&event).expect("stream events serialize");
            attempts += 1;
            let cutoff = async {
                let mut stop = stop.clone();
                let _ = stop.wait_for(|s| *s).await;
                tokio::time::sleep_until(drain.get()).await;
            };
            let result = tokio::select! {
                result = self.function.invoke(payload.clone()) => result,
                _ = cutoff => {
                    tracing::warn!(table = %self.table, records = batch.len(), "stopped before this batch was delivered; it is delivered after the next start");
                    return Delivered::Partly { up_to };
                }
            };
            let failed_from = match result {
                Ok(response) => first_failure(&payload, &response),
                Err(d) => {
                    tracing::warn!(table = %self.table, function = self.function.name, error_type = %d.error_type, message = %d.error_message, attempts, "invocation failed; retrying the batch");
                    Some(0)
                }
            };
            let Some(index) = failed_from else {
                if attempts > 1 {
                    tracing::info!(table = %self.table, attempts, "batch delivered after retries");
                }
                return Delivered::All;
            };
            if index > 0 {
                up_to = sequence_of(&batch[index - 1]);
                batch.drain(..index);
            }
            let age = record_age(&batch[0]).max(first_seen.elapsed());
            let retried_out = self
                .max_retry_attempts
                .is_some_and(|retries| attempts > retries);
            if age >= self.max_record_age || retried_out {
                self.give_up(stream_arn, shard_id, batch, attempts, age);
                return Delivered::All;
            }
            let mut stop = stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return Delivered::Partly { up_to },
            }
            wait = (wait * 2).min(MAX_RETRY_WAIT);
        }
    }

    fn give_up(
        &self,
        stream_arn: &str,
        shard_id: &str,
        batch: Vec<EventRecord>,
        attempts: u32,
        age: Duration,
    ) {
        let now = chrono::Utc::now();
        let first = batch.first().and_then(sequence_of);
        let last = batch.last().and_then(sequence_of);
        let records = batch.len();
        let mut event = Event::default();
        event.records = batch;
        let failed = FailedBatch {
            id: format!(
                "{}-{}-{}-{}",
                now.format("%Y%m%dT%H%M%S%.3fZ"),
                self.table,
                self.function.name,
                first.as_deref().unwrap_or("0")
            ),
            table: self.table.clone(),
            function: self.function.name.to_string(),
            stream_arn: stream_arn.to_string(),
            shard_id: shard_id.to_string(),
            reason: format!(
                "still failing after {attempts} attempts (at most {}), oldest record {}s old (maximum record age {}s)",
                self.max_retry_attempts.map_or("unlimited".to_string(), |n| (n + 1).to_string()),
                age.as_secs(),
                self.max_record_age.as_secs()
            ),
            failed_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            records,
            first_sequence_number: first,
            last_sequence_number: last,
            event: serde_json::to_value(&event).expect("stream events serialize"),
        };
        let id = failed.id.clone();
        match self.failures.record(failed) {
            Ok(()) => tracing::error!(
                table = %self.table,
                records,
                batch = %id,
                destination = %self.failures.dir().map(|d| d.display().to_string()).unwrap_or_else(|| "memory".into()),
                "records given to the on-failure destination; replay with `make replay`"
            ),
            Err(err) => {
                tracing::error!(table = %self.table, records, error = %crate::Chain(&err), "records given up and could not be kept")
            }
        }
    }
}

/// How long ago a record was written, by its approximate creation time.
fn record_age(record: &EventRecord) -> Duration {
    let created = record.change.approximate_creation_date_time;
    if created.timestamp() <= 0 {
        return Duration::ZERO;
    }
    (chrono::Utc::now() - created)
        .to_std()
        .unwrap_or(Duration::ZERO)
}
