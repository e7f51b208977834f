// The runtime loop around the AWS SDK futures nests deeper than the
// compiler's default layout limit.
#![recursion_limit = "256"]

use chat_domain::notify::Notifier;
use chat_push::{CredentialsSource, Endpoints, PushService};
use chat_store::{DynamoStore, TableNames};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), TableNames::from_env());
    let pusher = PushService::new(CredentialsSource::from_env(&sdk), Endpoints::from_env())?;
    let mut notifier = Notifier::new(store, pusher);
    // Pushes show a processed photo's thumbnail (MEDIA_BUCKET).
    if let Some(media) = chat_media::S3Media::from_env(&sdk) {
        notifier = notifier.with_media(std::sync::Arc::new(media));
    }
    run(service_fn(|event| notifier::handler(&notifier, event))).await
}
