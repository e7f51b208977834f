//! Cold-start setup: configuration is read and clients are built once per
//! execution environment, then shared by every invocation.

use aws_sdk_dynamodb::Client;
use chat_domain::filter::ContentFilter;
use chat_domain::rates::RateLimits;
use chat_domain::{ChatService, PageTokens};
use chat_realtime::config::FanOutService;
use chat_store::{DynamoStore, TableNames};

/// The service the resolver functions that only read run.
pub type Service = ChatService<DynamoStore>;
/// The service the resolver functions that write run: each pushes its new
/// rows to their subscribers before it returns.
pub type WriterService = ChatService<DynamoStore, FanOutService>;

/// Environment variable naming the Secrets Manager secret (its ARN or
/// name) that signs `nextToken`s and cursors: what the template sets.
pub const PAGE_TOKEN_SECRET_ARN_ENV: &str = "PAGE_TOKEN_SECRET_ARN";
/// Environment variable holding that secret itself, where no Secrets
/// Manager is at hand (a function run by hand against a local DynamoDB).
pub const PAGE_TOKEN_SECRET_ENV: &str = "PAGE_TOKEN_SECRET";
/// The shortest secret taken, in characters.
pub const MIN_PAGE_TOKEN_SECRET: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{PAGE_TOKEN_SECRET_ARN_ENV} (or {PAGE_TOKEN_SECRET_ENV}) must give a secret of at least {MIN_PAGE_TOKEN_SECRET} characters")]
    MissingSecret,
    /// Secrets Manager would not give the page-token secret (kept whole:
    /// AccessDenied and ResourceNotFound read differently in the log).
    #[error("could not read the page-token secret from Secrets Manager")]
    SecretRead(
        #[source]
        Box<
            aws_sdk_secretsmanager::error::SdkError<
                aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError,
            >,
        >,
    ),
    /// What pushing needs (`APIGW_MANAGEMENT_ENDPOINT`: the functions that
    /// write push to subscribers).
    #[error("the push configuration is incomplete")]
    Push(#[from] chat_realtime::config::ConfigError),
    /// A rate limit's variable is not a whole number.
    #[error("{0} must be a whole number (0: no limit)")]
    RateLimit(&'static str),
    /// `CONTENT_FILTER` or `CONTENT_FILTER_ACTION` cannot be used.
    #[error("the word filter cannot be used")]
    Filter(#[from] chat_domain::filter::FilterError),
}

/// Builds the service from the environment: table names (`USERS_TABLE`, ...),
/// the page-token secret, and the AWS SDK's usual configuration chain
/// (`AWS_ENDPOINT_URL_DYNAMODB` included).
pub async fn service_from_env() -> Result<Service, ConfigError> {
    service(&sdk_config().await).await
}

/// The AWS SDK's configuration from its usual chain.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The service over `sdk`'s clients. With `MEDIA_BUCKET` set, messages'
/// attachments are kept there and their links are signed by this
/// function's role (see `chat_media::S3Media::from_env`).
pub async fn service(sdk: &aws_config::SdkConfig) -> Result<Service, ConfigError> {
    let secret = page_token_secret(sdk).await?;
    let store = DynamoStore::new(Client::new(sdk), TableNames::from_env());
    let service = ChatService::new(store, PageTokens::new(secret.as_bytes()))
        .with_web_push_origins(web_push_origins())
        .with_filter(std::sync::Arc::new(content_filter()?))
        .with_rate_limits(rate_limits()?);
    Ok(match chat_media::S3Media::from_env(sdk) {
        Some(media) => service.with_media(std::sync::Arc::new(media)),
        None => service,
    })
}

/// As [`service_from_env`], plus what pushing needs: `CONNECTIONS_TABLE`,
/// `APIGW_MANAGEMENT_ENDPOINT`, and for large conversations `RELAY_FUNCTION`
/// and `RELAY_ABOVE` (see `chat_realtime::relay`).
pub async fn writer_service_from_env() -> Result<WriterService, ConfigError> {
    writer_service(&sdk_config().await).await
}

/// As [`writer_service_from_env`], over `sdk`'s clients.
pub async fn writer_service(sdk: &aws_config::SdkConfig) -> Result<WriterService, ConfigError> {
    let publisher = chat_realtime::config::writer_fan_out_from_env(sdk).await?;
    Ok(service(sdk).await?.with_publisher(publisher))
}

/// The page-token secret: read from Secrets Manager when
/// `PAGE_TOKEN_SECRET_ARN` names it (once per cold start), else taken from
/// `PAGE_TOKEN_SECRET`. Shorter than [`MIN_PAGE_TOKEN_SECRET`] stops the
/// cold start.
pub async fn page_token_secret(sdk: &aws_config::SdkConfig) -> Result<String, ConfigError> {
    match std::env::var(PAGE_TOKEN_SECRET_ARN_ENV) {
        Ok(id) if !id.is_empty() => read_page_token_secret(sdk, &id).await,
        _ => long_enough(std::env::var(PAGE_TOKEN_SECRET_ENV).unwrap_or_default()),
    }
}

/// The page-token secret from Secrets Manager, by its ARN or name.
pub async fn read_page_token_secret(
    sdk: &aws_config::SdkConfig,
    id: &str,
) -> Result<String, ConfigError> {
    let secret = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| ConfigError::SecretRead(Box::new(e)))?
        .secret_string
        .unwrap_or_default();
    long_enough(secret)
}

fn long_enough(secret: String) -> Result<String, ConfigError> {
    if secret.chars().count() < MIN_PAGE_TOKEN_SECRET {
        return Err(ConfigError::MissingSecret);
    }
    Ok(secret)
}

/// Environment variable holding the stack's word filter: entries separated
/// by commas or new lines (see `chat_domain::filter`).
pub const CONTENT_FILTER_ENV: &str = "CONTENT_FILTER";
/// Environment variable holding what a match does: `refuse` (the default)
/// or `mask`.
pub const CONTENT_FILTER_ACTION_ENV: &str = "CONTENT_FILTER_ACTION";

/// The word filter from `CONTENT_FILTER` and `CONTENT_FILTER_ACTION`; a
/// list that cannot be used stops the cold start, so a mistyped list is
/// seen at once, not as messages let through.
pub fn content_filter() -> Result<ContentFilter, ConfigError> {
    let action = std::env::var(CONTENT_FILTER_ACTION_ENV)
        .unwrap_or_default()
        .parse()?;
    Ok(ContentFilter::parse(
        &std::env::var(CONTENT_FILTER_ENV).unwrap_or_default(),
        action,
    )?)
}

/// Variables that change a per-user rate limit from the stack's default
/// (`chat_domain::rates::RateLimits`); 0 turns it off.
pub const RATE_LIMIT_ENV: [&str; 5] = [
    "MESSAGES_PER_10_SECONDS",
    "MESSAGES_PER_MINUTE",
    "CONVERSATIONS_PER_HOUR",
    "INVITES_PER_HOUR",
    "REPORTS_PER_HOUR",
];

/// The per-user rate limits: the stack's defaults, or what the
/// environment sets.
pub fn rate_limits() -> Result<RateLimits, ConfigError> {
    let mut limits = RateLimits::default();
    let fields = [
        &mut limits.message_burst,
        &mut limits.message_sustained,
        &mut limits.conversations_per_hour,
        &mut limits.invites_per_hour,
        &mut limits.reports_per_hour,
    ];
    for (name, field) in RATE_LIMIT_ENV.into_iter().zip(fields) {
        if let Ok(value) = std::env::var(name) {
            *field = value
                .trim()
                .parse()
                .map_err(|_| ConfigError::RateLimit(name))?;
        }
    }
    Ok(limits)
}

/// Environment variable listing further origins a Web Push endpoint may
/// be on (comma-separated), besides the public push services.
pub const WEB_PUSH_ORIGINS_ENV: &str = "WEB_PUSH_ORIGINS";

fn web_push_origins() -> Vec<String> {
    std::env::var(WEB_PUSH_ORIGINS_ENV)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect()
}

/// JSON logs in Lambda (driven by `AWS_LAMBDA_LOG_FORMAT` / `AWS_LAMBDA_LOG_LEVEL`).
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_token_secret_is_taken_from_32_characters_on() {
        assert!(matches!(
            long_enough(String::new()),
            Err(ConfigError::MissingSecret)
        ));
        assert!(matches!(
            long_enough("s".repeat(31)),
            Err(ConfigError::MissingSecret)
        ));
        // Characters, not bytes: 31 two-byte characters are still too few.
        assert!(matches!(
            long_enough("é".repeat(31)),
            Err(ConfigError::MissingSecret)
        ));
        assert_eq!(long_enough("s".repeat(32)).unwrap(), "s".repeat(32));
    }
}
