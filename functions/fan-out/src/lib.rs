//! The fan-out function, with two triggers:
//! - the DynamoDB Streams of Messages, Users and ConvoLinks: it pushes each
//!   row written outside the API to exactly the connections subscribed to
//!   it, and reports partial batch failures;
//! - a writer's synchronous `Invoke` with a batch of a large conversation's
//!   posts (`chat_realtime::relay`): it posts them and answers what it did,
//!   which the writer waits for.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] passes each event to `chat-realtime`.

use chat_realtime::fanout::{FanOutEvent, FanOutResponse};
use chat_realtime::{Connections, FanOut, Notifier};
use lambda_runtime::{Diagnostic, LambdaEvent};
use tracing::instrument;

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<C: Connections, N: Notifier>(
    service: &FanOut<C, N>,
    event: LambdaEvent<FanOutEvent>,
) -> Result<FanOutResponse, Diagnostic> {
    Ok(service.handle_event(&event.payload).await)
}
