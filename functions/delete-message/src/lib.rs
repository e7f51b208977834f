//! `Mutation.deleteMessage`: deletes the caller's own message, leaving a tombstone in its place, and pushes the delete.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] maps the AppSync event onto one use-case of `chat-domain`.

use chat_domain::messages::MessageRef;
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
#[serde(rename_all = "camelCase")]
struct Input {
    id: String,
    message_conversation_id: String,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore, P: Publisher>(
    service: &ChatService<S, P>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = service.admit(event.payload.caller()?).await?;
    let args: Args = event.payload.arguments()?;
    let sel = event.payload.message_sel("");
    let target = MessageRef {
        id: args.input.id,
        conversation_id: args.input.message_conversation_id,
    };
    output(&service.delete_message(&caller, target, &sel).await?)
}
