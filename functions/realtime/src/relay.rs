//! Sharing a large conversation's posts with other invocations, so that a
//! writer's latency stops growing with the number of subscribers.
//!
//! A writer posts to at most [`RelaySettings::above`] subscribers itself. The
//! rest are split into [`RelayBatch`]es of at most that many connections (and
//! at most [`MAX_BATCH_BYTES`] of JSON), and each batch goes to the fan-out
//! function with a synchronous `Invoke`. All of them, and the writer's own
//! posts, run at the same time, so a push takes about as long as one batch
//! whatever the conversation's size; the writer answers once every batch
//! has answered.
//!
//! Waiting for the batches (rather than invoking asynchronously) keeps two
//! promises: a `createMessage` that succeeds has attempted every post, and
//! one sender's messages reach every subscriber in the order they were sent
//! (an asynchronous batch of one message could still be posting when the
//! next message's batch posts to the same connections).
//!
//! A batch that Lambda refuses (throttled, or no such function) never ran,
//! so the writer posts it itself: a refused hand-off costs time, never a
//! delivery. A batch that ran and failed (the invocation died part-way) is
//! counted failed and not posted again, since that could post twice. A batch
//! carries the payloads already shaped (once per distinct subscription
//! document) and the connection and subscription ids, so the relaying
//! invocation reads nothing: it only posts.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use chat_domain::ports::Pushed;

/// The default threshold: subscribers a writer posts to itself, and the
/// posts in one hand-off. It is what a writer of [`POSTING_MEMORY_MB`] posts
/// in 100 ms on AWS: its CPU share (memory ÷ 1,769 MB) pays each post's
/// measured CPU, and its 64 posts in flight each wait a round trip of about
/// 15 ms (BENCHMARKS.md, section 5, derives it from `make bench`'s figure for
/// one post). A conversation of up to this many connections costs no extra
/// invocation.
pub const DEFAULT_RELAY_ABOVE: usize = 300;

/// The memory of every function that posts to subscribers (the writers and
/// the fan-out): where its CPU share posts as fast as the round trips allow,
/// so more memory would cost more and make it no faster (BENCHMARKS.md,
/// section 5).
pub const POSTING_MEMORY_MB: u64 = 256;

/// Largest batch, as JSON: under 256 KB, the smallest of Lambda's payload
/// limits (6 MB for a synchronous invocation), so a batch fits any of them.
pub const MAX_BATCH_BYTES: usize = 240 * 1024;

/// The name of the fan-out function the writers hand batches to.
pub const RELAY_FUNCTION_ENV: &str = "RELAY_FUNCTION";
/// Subscribers a writer posts to itself (default [`DEFAULT_RELAY_ABOVE`]).
pub const RELAY_ABOVE_ENV: &str = "RELAY_ABOVE";

/// One hand-off: posts for some of a row's subscribers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayBatch {
    /// The topic the row was pushed on (for logs).
    pub relay_topic: String,
    /// The distinct payloads (`next` payloads, shaped once per document).
    pub payloads: Vec<Value>,
    pub posts: Vec<RelayPost>,
    /// The writer's [`Deadline`](crate::window::Deadline) (epoch ms): a post
    /// not sent by then waits for a fresh read of the subscribers. A batch
    /// without one (from a writer of an earlier build) gets a window of its
    /// own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_before: Option<i64>,
}

/// One connection's post: which subscription, with which payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayPost {
    pub connection_id: String,
    pub subscription_id: String,
    /// Index into [`RelayBatch::payloads`].
    pub payload: usize,
}

impl RelayBatch {
    /// Splits `posts` into batches of at most `size` posts and at most
    /// [`MAX_BATCH_BYTES`], each carrying only the payloads its posts use.
    pub fn split(
        topic: &str,
        payloads: &[Value],
        posts: &[RelayPost],
        size: usize,
    ) -> Vec<RelayBatch> {
        let size = size.max(1);
        let mut batches = Vec::new();
        let mut current = Builder::new(topic);
        for post in posts {
            let payload = &payloads[post.payload];
            if current.count == size
                || (current.count > 0
                    && current.bytes + current.cost(post, payload) > MAX_BATCH_BYTES)
            {
                batches.push(std::mem::replace(&mut current, Builder::new(topic)).done());
            }
            current.add(post, payload);
        }
        if current.count > 0 {
            batches.push(current.done());
        }
        batches
    }
}

/// Accumulates one batch, re-indexing the payloads it carries.
struct Builder {
    batch: RelayBatch,
    /// Index in the writer's payloads → index in this batch's.
    index: std::collections::HashMap<usize, usize>,
    count: usize,
    bytes: usize,
}

impl Builder {
    fn new(topic: &str) -> Self {
        Builder {
            batch: RelayBatch {
                relay_topic: topic.to_string(),
                payloads: Vec::new(),
                posts: Vec::new(),
                post_before: None,
            },
            index: Default::default(),
            count: 0,
            bytes: topic.len() + 64,
        }
    }

    /// JSON bytes `post` adds, with its payload if this batch lacks it.
    fn cost(&self, post: &RelayPost, payload: &Value) -> usize {
        let own = post.connection_id.len() + post.subscription_id.len() + 64;
        if self.index.contains_key(&post.payload) {
            own
        } else {
            own + payload.to_string().len()
        }
    }

    fn add(&mut self, post: &RelayPost, payload: &Value) {
        self.bytes += self.cost(post, payload);
        let next = self.batch.payloads.len();
        let at = *self.index.entry(post.payload).or_insert(next);
        if at == next {
            self.batch.payloads.push(payload.clone());
        }
        self.batch.posts.push(RelayPost {
            payload: at,
            ..post.clone()
        });
        self.count += 1;
    }

    fn done(self) -> RelayBatch {
        self.batch
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("the batch could not be encoded")]
    Encode(#[from] serde_json::Error),
    /// Lambda did not run the batch (throttled, no such function, or not
    /// reachable): nothing was posted, so the caller may post it.
    #[error("Lambda did not run the batch in {function}")]
    Refused {
        function: String,
        #[source]
        source: Box<aws_sdk_lambda::Error>,
    },
    /// The batch ran and failed part-way: some posts may have been made.
    #[error("the batch failed in {function}: {error}")]
    Failed { function: String, error: String },
}

/// Where a writer hands batches, and above how many subscribers.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    pub relay: LambdaRelay,
    pub above: usize,
}

/// Hands batches to a function with `aws-sdk-lambda`'s `Invoke`.
#[derive(Debug, Clone)]
pub struct LambdaRelay {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl LambdaRelay {
    pub fn new(client: aws_sdk_lambda::Client, function: impl Into<String>) -> Self {
        LambdaRelay {
            client,
            function: function.into(),
        }
    }

    /// A relay to `function` behind the Lambda API at `endpoint` (the local
    /// stack's); on AWS, [`LambdaRelay::new`] with the default endpoint.
    pub fn for_endpoint(sdk: &aws_config::SdkConfig, endpoint: &str, function: &str) -> Self {
        let config = aws_sdk_lambda::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        LambdaRelay::new(aws_sdk_lambda::Client::from_conf(config), function)
    }

    /// Runs `batch` in the function and returns what its posts did.
    pub async fn hand_off(&self, batch: &RelayBatch) -> Result<Pushed, RelayError> {
        let payload = serde_json::to_vec(batch)?;
        let out = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|err| RelayError::Refused {
                function: self.function.clone(),
                source: Box::new(err.into()),
            })?;
        let body = out.payload.map(Blob::into_inner).unwrap_or_default();
        if let Some(error) = out.function_error {
            return Err(RelayError::Failed {
                function: self.function.clone(),
                error: format!("{error}: {}", String::from_utf8_lossy(&body)),
            });
        }
        serde_json::from_slice(&body).map_err(|err| RelayError::Failed {
            function: self.function.clone(),
            error: format!("unreadable answer: {err}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn posts(n: usize, payload: usize) -> Vec<RelayPost> {
        (0..n)
            .map(|i| RelayPost {
                connection_id: format!("c{i}"),
                subscription_id: "1".into(),
                payload,
            })
            .collect()
    }

    #[test]
    fn batches_hold_at_most_size_posts_and_only_the_payloads_they_use() {
        let payloads = vec![json!({"a": 1}), json!({"b": 2})];
        let mut all = posts(5, 0);
        all.extend(posts(2, 1));
        let batches = RelayBatch::split("t", &payloads, &all, 3);
        let sizes: Vec<usize> = batches.iter().map(|b| b.posts.len()).collect();
        assert_eq!(sizes, [3, 3, 1]);
        assert_eq!(batches[0].payloads, [json!({"a": 1})]);
        // The second batch mixes both payloads, re-indexed.
        assert_eq!(batches[1].payloads, [json!({"a": 1}), json!({"b": 2})]);
        assert_eq!(
            batches[1]
                .posts
                .iter()
                .map(|p| p.payload)
                .collect::<Vec<_>>(),
            [0, 0, 1]
        );
        assert_eq!(batches[2].payloads, [json!({"b": 2})]);
        assert_eq!(batches[2].posts[0].payload, 0);
    }

    #[test]
    fn a_batch_stays_under_the_invoke_payload_limit() {
        // Distinct 100 KB payloads: two fit in one batch, a third does not.
        let payloads: Vec<Value> = (0..5)
            .map(|i| json!({ "content": format!("{i}{}", "x".repeat(100 * 1024)) }))
            .collect();
        let all: Vec<RelayPost> = (0..5).flat_map(|i| posts(1, i)).collect();
        let batches = RelayBatch::split("t", &payloads, &all, 250);
        assert_eq!(batches.len(), 3);
        for batch in &batches {
            assert!(serde_json::to_vec(batch).unwrap().len() <= MAX_BATCH_BYTES);
        }
        let total: usize = batches.iter().map(|b| b.posts.len()).sum();
        assert_eq!(total, 5);
    }
}
