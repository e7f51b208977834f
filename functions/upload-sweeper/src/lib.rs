//! The upload sweeper: on a schedule, removes the uploads never attached
//! to a message (a day after they were asked for) and those a deleted
//! message let go of, with their files.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] runs one sweep per scheduled event.

use chat_domain::{ChatService, ChatStore};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use tracing::instrument;

/// Uploads removed per round; a sweep runs rounds until one is short.
const ROUND: usize = 500;
/// Rounds per invocation, at most: the rest waits for the next run.
const MAX_ROUNDS: usize = 20;

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore, P: Send + Sync>(
    service: &ChatService<S, P>,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic> {
    let now = chat_domain::clock::now_ms();
    let mut removed = 0;
    for _ in 0..MAX_ROUNDS {
        let n = service
            .sweep_uploads(now, ROUND)
            .await
            .map_err(|e| Diagnostic {
                error_type: e.kind().error_type().to_string(),
                error_message: chat_domain::Chain(&e).to_string(),
            })?;
        removed += n;
        if n < ROUND {
            break;
        }
    }
    tracing::info!(removed, "uploads swept");
    Ok(json!({ "removed": removed }))
}
