//! The connection sweeper: on a schedule, closes WebSocket connections that
//! never sent `connection_init` (close code 4408), whose token expired
//! (4401), or that stopped answering its pings (4408), and pings those that
//! have been silent a while; presence follows.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] runs one sweep per scheduled event.

use chat_domain::{ChatStore, Publisher};
use chat_realtime::sweeper::Sweeper;
use chat_realtime::{Connections, Notifier};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use tracing::instrument;

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<C: Connections, N: Notifier, S: ChatStore, P: Publisher>(
    service: &Sweeper<C, N, S, P>,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic> {
    let swept = service.sweep().await?;
    Ok(json!({ "closed": swept.closed, "pinged": swept.pinged }))
}
