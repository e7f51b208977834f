//! `Query.inbox`: the caller's conversations, most recently active first, with their newest message and the caller's unread count.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] maps the AppSync event onto one use-case of `chat-domain`.

use chat_domain::{ChatService, ChatStore, PageRequest};
use chat_lambda::{output, PageArgs, ResolverError, ResolverEvent};
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tracing::instrument;

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore>(
    service: &ChatService<S>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = service.admit(event.payload.caller()?).await?;
    let args: PageArgs = event.payload.arguments()?;
    let sel = event.payload.message_sel("items/lastMessage/");
    output(
        &service
            .inbox(&caller, PageRequest::from(args), &sel)
            .await?,
    )
}
