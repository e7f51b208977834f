//! `Mutation.addReaction` and `Mutation.removeReaction`: puts the caller's reaction on a message of a conversation they belong to, or takes it off, and pushes the change.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] maps the AppSync event onto one use-case of `chat-domain`.
//! Both fields are one use-case, so one function resolves them (one data
//! source, two resolvers): the field name says which way.

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
    message_conversation_id: String,
    message_id: String,
    emoji: String,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore, P: Publisher>(
    service: &ChatService<S, P>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = service.admit(event.payload.caller()?).await?;
    let args: Args = event.payload.arguments()?;
    let add = event.payload.appsync.info.field_name != "removeReaction";
    let sel = event.payload.message_sel("");
    let target = MessageRef {
        id: args.input.message_id,
        conversation_id: args.input.message_conversation_id,
    };
    output(
        &service
            .react(&caller, target, &args.input.emoji, add, &sel)
            .await?,
    )
}
