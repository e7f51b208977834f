//! `Query.allMessageConnection`: ChatQL's message history: newest first, `first` at a time, resuming `after`; members only.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] maps the AppSync event onto one use-case of `chat-domain`.

use chat_domain::{ChatService, ChatStore};
use chat_lambda::{output, ResolverError, ResolverEvent};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;

use chat_domain::PageRequest;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Args {
    conversation_id: String,
    after: Option<String>,
    first: Option<i64>,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore>(
    service: &ChatService<S>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = service.admit(event.payload.caller()?).await?;
    let args: Args = event.payload.arguments()?;
    let sel = event.payload.message_sel("messages/");
    let page = PageRequest {
        limit: args.first,
        next_token: args.after,
    };
    let history = service
        .message_history(&caller, &args.conversation_id, page, &sel)
        .await?;
    output(&serde_json::json!({
        "messages": history.items,
        "nextToken": history.next_token,
    }))
}
