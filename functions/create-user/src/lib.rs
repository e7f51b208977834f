//! `Mutation.createUser`: creates the caller's own profile; idempotent, usernames unique.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] maps the AppSync event onto one use-case of `chat-domain`.

use chat_domain::{ChatService, ChatStore, Publisher};
use chat_lambda::{output, ResolverError, ResolverEvent};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;

#[derive(Deserialize)]
struct Args {
    input: Input,
}

#[derive(Deserialize)]
struct Input {
    username: String,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore, P: Publisher>(
    service: &ChatService<S, P>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = service.admit(event.payload.caller()?).await?;
    let args: Args = event.payload.arguments()?;
    let user = service.create_user(&caller, &args.input.username).await?;
    // Whatever is selected below the profile is read as for `me`: a retry
    // by a user who is in conversations already lists them.
    let view = service
        .expand_user(&caller, user, &event.payload.user_sel(""))
        .await?;
    output(&view)
}
