//! The crate's one error type; every source is kept.

use chat_domain::Chain;
use lambda_runtime::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum RealtimeError {
    #[error("connection store failed")]
    Store(#[from] chat_store::StoreError),
    #[error("chat store failed")]
    Domain(#[from] chat_domain::Error),
    #[error("stored item does not match its type")]
    Item(#[from] serde_dynamo::Error),
    #[error("posting to a connection failed")]
    Notify(#[from] crate::notifier::NotifyError),
    #[error("a DynamoDB request could not be built")]
    Build(#[from] aws_sdk_dynamodb::error::BuildError),
}

impl RealtimeError {
    /// The `errorType` Lambda reports for the invocation.
    pub fn error_type(&self) -> &'static str {
        match self {
            RealtimeError::Store(_) => "ConnectionStoreError",
            RealtimeError::Domain(_) => "ChatStoreError",
            RealtimeError::Item(_) => "ItemMismatch",
            RealtimeError::Notify(_) => "NotifyError",
            RealtimeError::Build(_) => "ConnectionStoreError",
        }
    }
}

impl<E, R> From<aws_sdk_dynamodb::error::SdkError<E, R>> for RealtimeError
where
    aws_sdk_dynamodb::Error: From<aws_sdk_dynamodb::error::SdkError<E, R>>,
{
    fn from(err: aws_sdk_dynamodb::error::SdkError<E, R>) -> Self {
        RealtimeError::Store(err.into())
    }
}

/// The edge of a real-time function: the failure is logged with its whole
/// cause chain, and the invocation fails with a named `errorType`. Its
/// message goes to the invoker (API Gateway, the stream mapping, the
/// schedule), never to a WebSocket client.
impl From<RealtimeError> for Diagnostic {
    fn from(err: RealtimeError) -> Self {
        let message = Chain(&err).to_string();
        tracing::error!(error_type = err.error_type(), error = %message, "real-time function failed");
        Diagnostic {
            error_type: err.error_type().to_string(),
            error_message: message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diagnostic_names_the_failure_and_keeps_its_causes() {
        let cause = <serde_dynamo::Error as serde::de::Error>::custom("missing field `topic`");
        let diagnostic = Diagnostic::from(RealtimeError::Item(cause));
        assert_eq!(diagnostic.error_type, "ItemMismatch");
        assert_eq!(
            diagnostic.error_message,
            "stored item does not match its type: missing field `topic`"
        );
    }
}
