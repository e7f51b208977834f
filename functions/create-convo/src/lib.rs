//! `Mutation.createConvo`: creates a conversation with the caller and the given members, atomically with every member's ConvoLink.
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
    name: String,
    members: Vec<String>,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore, P: Publisher>(
    service: &ChatService<S, P>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = service.admit(event.payload.caller()?).await?;
    let args: Args = event.payload.arguments()?;
    let (conversation, _links) = service
        .create_convo(&caller, &args.input.name, &args.input.members)
        .await?;
    // Whatever is selected below the new conversation is read as for
    // getConvo (its links were just written; it has no messages yet).
    let view = service
        .expand_conversation(&caller, conversation, &event.payload.convo_sel(""))
        .await?;
    output(&view)
}
