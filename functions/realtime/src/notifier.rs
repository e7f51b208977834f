//! Talking back to clients: the [`Notifier`] port and its adapter over API
//! Gateway's management API (`@connections`).
//!
//! API Gateway's `DeleteConnection` has no close code: on AWS a closed client
//! sees code 1000. The adapter still sends the protocol's code and reason as
//! `X-Close-Code` / `X-Close-Reason` headers, which AWS ignores and the local
//! WebSocket emulator honours, so the protocol's codes (4400, 4403, ...) can be
//! tested end to end.

use std::future::Future;

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

impl ApiGatewayNotifier {
    pub fn new(client: Client) -> Self {
        ApiGatewayNotifier { client }
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
