// The runtime loop around the AWS SDK futures nests deeper than the
// compiler's default layout limit.
#![recursion_limit = "256"]

use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    chat_lambda::init_tracing();
    let sdk = chat_lambda::sdk_config().await;
    let service = chat_lambda::writer_service(&sdk).await?;
    let media = chat_media::S3Media::from_env(&sdk).ok_or("MEDIA_BUCKET must be set")?;
    let processor = process_upload::Processor {
        service: std::sync::Arc::new(service),
        media,
    };
    run(service_fn(|event| {
        process_upload::handler(&processor, event)
    }))
    .await
}
