//! `Mutation.reportUser`: reports a user, with a reason and an optional note; answers a receipt.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] maps the AppSync event onto one use-case of `chat-domain`.

use chat_domain::reports::ReportReason;
use chat_domain::{ChatService, ChatStore};
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
    user_id: String,
    reason: ReportReason,
    note: Option<String>,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore, P: Send + Sync>(
    service: &ChatService<S, P>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = service.admit(event.payload.caller()?).await?;
    let Args { input } = event.payload.arguments()?;
    output(
        &service
            .report_user(&caller, &input.user_id, input.reason, input.note.as_deref())
            .await?,
    )
}
