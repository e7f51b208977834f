//! The WebSocket API's connection-tracking function: every route
//! (`$connect`, `$disconnect`, `connection_init`, `subscribe`, `complete`,
//! `ping`, `$default`) of the graphql-transport-ws protocol.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] passes each API Gateway event to `chat-realtime`.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use chat_domain::{ChatStore, Publisher};
use chat_realtime::{ConnectionService, Connections, Notifier};
use lambda_runtime::{Diagnostic, LambdaEvent};
use tracing::instrument;

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<C: Connections, N: Notifier, S: ChatStore, P: Publisher>(
    service: &ConnectionService<C, N, S, P>,
    event: LambdaEvent<ApiGatewayWebsocketProxyRequest>,
) -> Result<ApiGatewayProxyResponse, Diagnostic> {
    Ok(service.handle(&event.payload).await?)
}
