//! The fan-out function: triggered by the DynamoDB Streams of Messages, Users
//! and ConvoLinks, it pushes each new row to exactly the connections
//! subscribed to it, and reports partial batch failures.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] passes each stream batch to `chat-realtime`.

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
use chat_realtime::{Connections, FanOut, Notifier};
use lambda_runtime::{Diagnostic, LambdaEvent};
use tracing::instrument;

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<C: Connections, N: Notifier>(
    service: &FanOut<C, N>,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Diagnostic> {
    Ok(service.handle(&event.payload).await)
}
