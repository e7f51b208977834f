//! Talking back to clients: the [`Notifier`] port and its adapter over API
//! Gateway's management API (`@connections`).
//!
//! A post that meets throttling (429) or a 5xx answer is retried by the
//! client, with exponential backoff and jitter: [`POST_ATTEMPTS`] attempts
//! from [`RETRY_BACKOFF`]. A 410 Gone is final and never retried.
//!
//! API Gateway's `DeleteConnection` has no close code: on AWS a closed client
//! sees code 1000. The adapter still sends the protocol's code and reason as
//! `X-Close-Code` / `X-Close-Reason` headers, which AWS ignores and the local
//! WebSocket emulator honours, so the protocol's codes (4400, 4403, ...) can be
//! tested end to end.

use std::future::Future;

use aws_sdk_apigatewaymanagement::config::retry::RetryConfig;
use aws_sdk_apigatewaymanagement::operation::delete_connection::DeleteConnectionError;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::Client;

use crate::protocol::Close;

/// Header carrying the protocol close code on `DeleteConnection`.
pub const CLOSE_CODE_HEADER: &str = "x-close-code";
/// Header carrying the close reason on `DeleteConnection`.
pub const CLOSE_REASON_HEADER: &str = "x-close-reason";

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The connection no longer exists (HTTP 410).
    #[error("connection is gone")]
    Gone,
    /// The message exceeds API Gateway's 128 KB limit (HTTP 413).
    #[error("message is larger than API Gateway accepts")]
    TooLarge,
    #[error("posting to the connection failed")]
    Post(#[source] Box<aws_sdk_apigatewaymanagement::Error>),
}

/// Sends to and closes client connections.
pub trait Notifier: Send + Sync {
    fn post(
        &self,
        connection_id: &str,
        data: Vec<u8>,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;
    fn close(
        &self,
        connection_id: &str,
        close: &Close,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

/// [`Notifier`] over `aws-sdk-apigatewaymanagement`.
#[derive(Debug, Clone)]
pub struct ApiGatewayNotifier {
    client: Client,
}

/// Attempts per post (the first and its retries) on throttling and 5xx.
pub const POST_ATTEMPTS: u32 = 4;
/// The first retry's backoff; each next one doubles (with jitter).
pub const RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_millis(20);

impl ApiGatewayNotifier {
    pub fn new(client: Client) -> Self {
        ApiGatewayNotifier { client }
    }

    /// A notifier for the management API at `endpoint` (the WebSocket API's
    /// `https://{api}.execute-api.{region}.amazonaws.com/{stage}`), with the
    /// retries above.
    pub fn for_endpoint(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(POST_ATTEMPTS)
                    .with_initial_backoff(RETRY_BACKOFF),
            )
            .build();
        ApiGatewayNotifier::new(Client::from_conf(config))
    }
}

impl Notifier for ApiGatewayNotifier {
    async fn post(&self, connection_id: &str, data: Vec<u8>) -> Result<(), NotifyError> {
        match self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => Err(match err.as_service_error() {
                Some(PostToConnectionError::GoneException(_)) => NotifyError::Gone,
                Some(PostToConnectionError::PayloadTooLargeException(_)) => NotifyError::TooLarge,
                _ => NotifyError::Post(Box::new(err.into())),
            }),
        }
    }

    async fn close(&self, connection_id: &str, close: &Close) -> Result<(), NotifyError> {
        let code = close.code.to_string();
        let reason = close.reason.clone();
        match self
            .client
            .delete_connection()
            .connection_id(connection_id)
            .customize()
            .mutate_request(move |req| {
                req.headers_mut().insert(CLOSE_CODE_HEADER, code.clone());
                // Header values must be visible ASCII; reasons are ours and are.
                req.headers_mut()
                    .insert(CLOSE_REASON_HEADER, reason.clone());
            })
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(DeleteConnectionError::GoneException(_)) => Ok(()),
                _ => Err(NotifyError::Post(Box::new(err.into()))),
            },
        }
    }
}
