//! `Mutation.setConversationNotifications`: sets what the caller hears of one of their conversations by push; members only.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] maps the AppSync event onto one use-case of `chat-domain`.

use chat_domain::{ChatService, ChatStore, PushStore};
use chat_lambda::{output, ResolverError, ResolverEvent};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;

use chat_domain::push::NotifyLevel;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Args {
    conversation_id: String,
    level: NotifyLevel,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore + PushStore, P: Send + Sync>(
    service: &ChatService<S, P>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = service.admit(event.payload.caller()?).await?;
    let args: Args = event.payload.arguments()?;
    output(
        &service
            .set_conversation_notifications(&caller, &args.conversation_id, args.level)
            .await?,
    )
}
