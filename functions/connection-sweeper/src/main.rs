// The runtime loop around the AWS SDK futures nests deeper than the
// compiler's default layout limit.
#![recursion_limit = "256"]

use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let service = chat_realtime::config::sweeper_from_env().await?;
    run(service_fn(|event| {
        connection_sweeper::handler(&service, event)
    }))
    .await
}
