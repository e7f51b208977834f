//! `Query.messageChanges`: what changed in a conversation after a cursor, oldest first; members only.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] maps the AppSync event onto one use-case of `chat-domain`.

use chat_domain::{ChatService, ChatStore};
use chat_lambda::{output, ResolverError, ResolverEvent};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Args {
    conversation_id: String,
    after: Option<String>,
    limit: Option<i64>,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore>(
    service: &ChatService<S>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = service.admit(event.payload.caller()?).await?;
    let args: Args = event.payload.arguments()?;
    let sel = event.payload.message_sel("items/message/");
    let page = service
        .message_changes(
            &caller,
            &args.conversation_id,
            args.after.as_deref(),
            args.limit,
            &sel,
        )
        .await?;
    output(&page)
}
