//! Cold-start setup: configuration is read and clients are built once per
//! execution environment, then shared by every invocation.

use aws_sdk_dynamodb::Client;
use chat_domain::{ChatService, PageTokens};
use chat_store::{DynamoStore, TableNames};

/// The service every resolver function runs.
pub type Service = ChatService<DynamoStore>;

/// Environment variable holding the shared `nextToken` signing secret.
pub const PAGE_TOKEN_SECRET_ENV: &str = "PAGE_TOKEN_SECRET";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{PAGE_TOKEN_SECRET_ENV} must be set to at least 32 characters")]
    MissingSecret,
}

/// Builds the service from the environment: table names (`USERS_TABLE`, ...),
/// the page-token secret, and the AWS SDK's usual configuration chain
/// (`AWS_ENDPOINT_URL_DYNAMODB` included).
pub async fn service_from_env() -> Result<Service, ConfigError> {
    let secret = std::env::var(PAGE_TOKEN_SECRET_ENV).unwrap_or_default();
    if secret.len() < 32 {
        return Err(ConfigError::MissingSecret);
    }
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::new(Client::new(&sdk), TableNames::from_env());
    Ok(ChatService::new(store, PageTokens::new(secret.as_bytes())))
}

/// JSON logs in Lambda (driven by `AWS_LAMBDA_LOG_FORMAT` / `AWS_LAMBDA_LOG_LEVEL`).
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}
