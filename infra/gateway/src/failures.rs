//! The stream mappings' on-failure destination, kept where a developer can
//! see it and replay it.
//!
//! On AWS a batch that is still failing when its oldest record reaches the
//! mapping's `MaximumRecordAgeInSeconds` goes to the `OnFailure` destination
//! (an SQS queue in the template), and so does one retried
//! `MaximumRetryAttempts` times. Locally each such batch becomes one JSON
//! file under `<data dir>/failed-records/`, holding the stream event exactly
//! as its function receives it, so it can be redelivered: `GET
//! /local/failed-records` lists them and `POST /local/failed-records/replay`
//! (`make replay`) invokes the batch's function (the fan-out or the
//! notifier) with each again, removing what succeeds. Without a data dir
//! the batches are kept in memory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::resolvers::Function;

/// One batch given up on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedBatch {
    /// Unique and time-ordered; the file's name without `.json`.
    pub id: String,
    pub table: String,
    /// The function the mapping invokes (batches kept before there were
    /// two are the fan-out's).
    #[serde(default = "fan_out")]
    pub function: String,
    pub stream_arn: String,
    pub shard_id: String,
    /// Why it was given up.
    pub reason: String,
    pub failed_at: String,
    pub records: usize,
    pub first_sequence_number: Option<String>,
    pub last_sequence_number: Option<String>,
    /// The DynamoDB stream event, as the fan-out receives it.
    pub event: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum FailureLogError {
    #[error("could not write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a failed batch")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayReport {
    /// Batches delivered and removed.
    pub replayed: usize,
    /// Batches that failed again and stay.
    pub remaining: usize,
}

/// The destination: a directory, or memory.
#[derive(Debug)]
pub struct FailureLog {
    dir: Option<PathBuf>,
    memory: Mutex<BTreeMap<String, FailedBatch>>,
}

impl FailureLog {
    /// Files under `data_dir/failed-records/`, or memory when `None`.
    pub fn new(data_dir: Option<&PathBuf>) -> Self {
        FailureLog {
            dir: data_dir.map(|d| d.join("failed-records")),
            memory: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn dir(&self) -> Option<&PathBuf> {
        self.dir.as_ref()
    }

    /// Keeps `batch`.
    pub fn record(&self, batch: FailedBatch) -> Result<(), FailureLogError> {
        match &self.dir {
            Some(dir) => {
                let path = dir.join(format!("{}.json", batch.id));
                let write = |path: &PathBuf| {
                    std::fs::create_dir_all(dir)?;
                    let body = serde_json::to_vec_pretty(&batch).map_err(std::io::Error::other)?;
                    std::fs::write(path, body)
                };
                write(&path).map_err(|source| FailureLogError::Write { path, source })
            }
            None => {
                self.memory
                    .lock()
                    .expect("failure log lock")
                    .insert(batch.id.clone(), batch);
                Ok(())
            }
        }
    }

    /// Every batch kept, oldest first.
    pub fn list(&self) -> Result<Vec<FailedBatch>, FailureLogError> {
        let Some(dir) = &self.dir else {
            return Ok(self
                .memory
                .lock()
                .expect("failure log lock")
                .values()
                .cloned()
                .collect());
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(FailureLogError::Read {
                    path: dir.clone(),
                    source,
                })
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|path| {
                let body = std::fs::read(&path).map_err(|source| FailureLogError::Read {
                    path: path.clone(),
                    source,
                })?;
                serde_json::from_slice(&body)
                    .map_err(|source| FailureLogError::Parse { path, source })
            })
            .collect()
    }

    fn remove(&self, id: &str) -> Result<(), FailureLogError> {
        match &self.dir {
            Some(dir) => {
                let path = dir.join(format!("{id}.json"));
                std::fs::remove_file(&path)
                    .map_err(|source| FailureLogError::Write { path, source })
            }
            None => {
                self.memory.lock().expect("failure log lock").remove(id);
                Ok(())
            }
        }
    }

    /// Invokes each batch's function with it, oldest first. A batch that
    /// is delivered whole is removed; one that fails again stays, trimmed to
    /// the records from the first one reported as failed.
    pub async fn replay(
        &self,
        functions: &BTreeMap<String, Arc<Function>>,
    ) -> Result<ReplayReport, FailureLogError> {
        let mut report = ReplayReport::default();
        for mut batch in self.list()? {
            let Some(function) = functions.get(&batch.function) else {
                tracing::warn!(batch = %batch.id, function = %batch.function, "no such function; the batch stays");
                report.remaining += 1;
                continue;
            };
            let failed_from = match function.invoke(batch.event.clone()).await {
                Ok(response) => first_failure(&batch.event, &response),
                Err(d) => {
                    tracing::warn!(batch = %batch.id, error_type = %d.error_type, message = %d.error_message, "replay failed");
                    Some(0)
                }
            };
            match failed_from {
                None => {
                    self.remove(&batch.id)?;
                    report.replayed += 1;
                }
                Some(index) => {
                    if index > 0 {
                        if let Some(records) = batch.event["Records"].as_array_mut() {
                            records.drain(..index);
                            batch.records = records.len();
                            batch.first_sequence_number = records
                                .first()
                                .and_then(|r| r["dynamodb"]["SequenceNumber"].as_str())
                                .map(str::to_string);
                        }
                        self.record(batch)?;
                    }
                    report.remaining += 1;
                }
            }
        }
        Ok(report)
    }
}

fn fan_out() -> String {
    crate::resolvers::FAN_OUT_FN.to_string()
}

/// The index of the first record a `ReportBatchItemFailures` response names,
/// in the event's `Records`.
pub fn first_failure(event: &Value, response: &Value) -> Option<usize> {
    let sequence = response["batchItemFailures"]
        .as_array()?
        .first()?
        .get("itemIdentifier")?
        .as_str()?
        .to_string();
    Some(
        event["Records"]
            .as_array()
            .and_then(|records| {
                records
                    .iter()
                    .position(|r| r["dynamodb"]["SequenceNumber"].as_str() == Some(&sequence))
            })
            // A failure naming no record of the batch: the whole batch again.
            .unwrap_or(0),
    )
}
