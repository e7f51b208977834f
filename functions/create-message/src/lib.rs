//! `Mutation.createMessage`: posts a message as the caller to a conversation they belong to; idempotent on the client's `id`.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] maps the AppSync event onto one use-case of `chat-domain`.

use chat_domain::{ChatService, ChatStore, Publisher};
use chat_lambda::{output, ResolverError, ResolverEvent};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;

use chat_domain::messages::NewMessage;

#[derive(Deserialize)]
struct Args {
    input: Input,
}

/// `createdAt` is accepted (Chatt sends it) and ignored: the server stamps time
/// and order.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    id: Option<String>,
    content: String,
    message_conversation_id: String,
    author_id: Option<String>,
    /// Upload ids (`createUpload`); `null` or absent: none.
    #[serde(default)]
    attachments: Option<Vec<String>>,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore, P: Publisher>(
    service: &ChatService<S, P>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = service.admit(event.payload.caller()?).await?;
    let args: Args = event.payload.arguments()?;
    let sel = event.payload.message_sel("");
    let input = NewMessage {
        id: args.input.id,
        content: args.input.content,
        conversation_id: args.input.message_conversation_id,
        author_id: args.input.author_id,
        attachments: args.input.attachments.unwrap_or_default(),
    };
    let message = service.create_message(&caller, input, &sel).await?;
    output(&message)
}
