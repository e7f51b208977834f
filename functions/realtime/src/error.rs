//! The crate's one error type; every source is kept.

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
}

impl<E, R> From<aws_sdk_dynamodb::error::SdkError<E, R>> for RealtimeError
where
    aws_sdk_dynamodb::Error: From<aws_sdk_dynamodb::error::SdkError<E, R>>,
{
    fn from(err: aws_sdk_dynamodb::error::SdkError<E, R>) -> Self {
        RealtimeError::Store(err.into())
    }
}
