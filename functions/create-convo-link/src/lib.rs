//! `Mutation.createConvoLink`: adds a member to a conversation the caller belongs to; idempotent.
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
#[serde(rename_all = "camelCase")]
struct Input {
    convo_link_conversation_id: String,
    convo_link_user_id: Option<String>,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore, P: Publisher>(
    service: &ChatService<S, P>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = service.admit(event.payload.caller()?).await?;
    let args: Args = event.payload.arguments()?;
    let sel = event.payload.link_sel("");
    let link = service
        .create_convo_link(
            &caller,
            &args.input.convo_link_conversation_id,
            args.input.convo_link_user_id.as_deref(),
            &sel,
        )
        .await?;
    output(&link)
}
