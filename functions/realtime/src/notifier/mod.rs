//! Talking back to clients: the [`Notifier`] port and its adapter over API
//! Gateway's management API (`@connections`).
//!
//! The adapter, [`ApiGatewayNotifier`], is one SigV4-signed HTTPS request
//! per call on a pooled client, signed by the maintained `aws-sigv4` crate
//! with credentials from the SDK's chain. A fan-out is hundreds of posts in
//! a row to one endpoint, and the SDK's per-call pipeline (configuration
//! layers, endpoint resolution, interceptors, the user agent) cost more CPU
//! than the signature and the request together; `make bench` measures both
//! side by side (BENCHMARKS.md, "One post").
//!
//! A post that meets throttling (429), a 5xx answer or a connection that
//! could not be made is retried with exponential backoff and full jitter:
//! [`POST_ATTEMPTS`] attempts from [`RETRY_BACKOFF`], as the SDK's standard
//! retry mode does. A 410 Gone is final and never retried; nor is a refusal
//! (403, 400), nor a request that was sent and not answered, which may have
//! landed: a frame twice is worse than one lost. Within a push's window
//! ([`Notifier::post_before`]) no attempt starts after the window, and one
//! under way is given the window's grace to be answered.
//!
//! API Gateway's `DeleteConnection` has no close code: on AWS a closed client
//! sees code 1000. The adapter still sends the protocol's code and reason as
//! `X-Close-Code` / `X-Close-Reason` headers, which AWS ignores and the local
//! WebSocket emulator honours, so the protocol's codes (4400, 4403, ...) can be
//! tested end to end.
//!
//! # Layout
//!
//! - this module: the port, its errors and the retry policy;
//! - [`signed`]: the adapter, its credentials cache and its signing.

use std::future::Future;

use crate::protocol::Close;
use crate::window::{Deadline, POST_GRACE};

mod signed;

pub use signed::ApiGatewayNotifier;

/// Header carrying the protocol close code on `DeleteConnection`.
pub const CLOSE_CODE_HEADER: &str = "x-close-code";
/// Header carrying the close reason on `DeleteConnection`.
pub const CLOSE_REASON_HEADER: &str = "x-close-reason";

/// Attempts per post (the first and its retries) on throttling, 5xx and
/// transport errors.
pub const POST_ATTEMPTS: u32 = 4;
/// The first retry's backoff ceiling; each next one doubles (full jitter).
pub const RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_millis(20);

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The connection no longer exists (HTTP 410).
    #[error("connection is gone")]
    Gone,
    /// The message exceeds API Gateway's 128 KB limit (HTTP 413).
    #[error("message is larger than API Gateway accepts")]
    TooLarge,
    /// API Gateway answered with an error that retrying does not cure, or
    /// still answered with one after every attempt.
    #[error("API Gateway answered {status} {error_type}: {message}")]
    Refused {
        status: u16,
        /// `x-amzn-ErrorType`, e.g. `ForbiddenException`.
        error_type: String,
        message: String,
    },
    /// The endpoint is not a URL.
    #[error("the management endpoint is not a URL: {0}")]
    Endpoint(String),
    /// The request did not get an answer (connect, TLS, timeout, reset).
    #[error("the management API could not be reached")]
    Transport(#[from] reqwest::Error),
    /// The SDK's credential chain gave no credentials.
    #[error("no credentials to sign with")]
    Credentials(#[from] aws_credential_types::provider::error::CredentialsError),
    #[error("the request could not be signed")]
    Signing(#[from] aws_sigv4::http_request::SigningError),
    #[error("the signing parameters are incomplete")]
    SigningParams(#[from] aws_sigv4::sign::v4::signing_params::BuildError),
    /// Not sent: its window ended before an attempt could start (see
    /// [`Notifier::post_before`]).
    #[error("the push window ended before the post was sent")]
    Late,
    /// Sent, and unanswered after [`crate::window::POST_GRACE`]: it may or
    /// may not have landed, so it is not sent again.
    #[error("the post was sent and not answered within its grace")]
    Unanswered,
}

/// Sends to and closes client connections.
pub trait Notifier: Send + Sync {
    fn post(
        &self,
        connection_id: &str,
        data: Vec<u8>,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;

    /// Posts within a push's window ([`crate::window`]): no attempt, first
    /// or retry, starts after `deadline` ([`NotifyError::Late`]: not sent,
    /// so it may go after a fresh read of the subscribers), and an attempt
    /// under way is given [`POST_GRACE`] to be answered
    /// ([`NotifyError::Unanswered`]). This default bounds the whole post,
    /// retries included, by what is left of the window and the grace.
    ///
    /// [`POST_GRACE`]: crate::window::POST_GRACE
    fn post_before(
        &self,
        connection_id: &str,
        data: Vec<u8>,
        deadline: Deadline,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send {
        async move {
            let left = deadline.remaining().ok_or(NotifyError::Late)?;
            tokio::time::timeout(left + POST_GRACE, self.post(connection_id, data))
                .await
                .unwrap_or(Err(NotifyError::Unanswered))
        }
    }

    fn close(
        &self,
        connection_id: &str,
        close: &Close,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;
}
