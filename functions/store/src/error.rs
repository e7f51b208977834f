//! The store's error type. SDK errors are kept whole (as the service-wide
//! `aws_sdk_dynamodb::Error`), so a caller can still tell a throttle from a
//! missing table, and the logs show the real cause.

use aws_sdk_dynamodb::error::SdkError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB request failed")]
    Dynamo(#[source] Box<aws_sdk_dynamodb::Error>),
    #[error("stored item does not match its type")]
    Item(#[from] serde_dynamo::Error),
    #[error("DynamoDB left keys unprocessed after {0} retries")]
    Unprocessed(u32),
    #[error("table {table} did not become active")]
    TableNotActive { table: String },
    #[error("a DynamoDB request could not be built")]
    Build(#[from] aws_sdk_dynamodb::error::BuildError),
    #[error("a message whose id was taken could not be read")]
    Vanished,
    #[error("the {0} kept changing under concurrent writes")]
    Contended(&'static str),
}

impl<E, R> From<SdkError<E, R>> for StoreError
where
    aws_sdk_dynamodb::Error: From<SdkError<E, R>>,
{
    fn from(err: SdkError<E, R>) -> Self {
        StoreError::Dynamo(Box::new(err.into()))
    }
}

impl From<StoreError> for chat_domain::Error {
    fn from(err: StoreError) -> Self {
        chat_domain::Error::store(err)
    }
}
