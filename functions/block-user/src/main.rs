// The runtime loop around the AWS SDK futures nests deeper than the
// compiler's default layout limit.
#![recursion_limit = "256"]

use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    chat_lambda::init_tracing();
    let service = chat_lambda::service_from_env().await?;
    run(service_fn(|event| {
        chat_lambda::answer(block_user::handler(&service, event))
    }))
    .await
}
