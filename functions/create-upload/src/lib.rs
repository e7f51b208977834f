//! `Mutation.createUpload`: a presigned upload of one file to a conversation the caller is a member of; the bytes go straight to the bucket.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] maps the AppSync event onto one use-case of `chat-domain`.

use chat_domain::uploads::NewUpload;
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
    conversation_id: String,
    content_type: String,
    size: i64,
    name: String,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore, P: Send + Sync>(
    service: &ChatService<S, P>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = service.admit(event.payload.caller()?).await?;
    let args: Args = event.payload.arguments()?;
    let input = NewUpload {
        conversation_id: args.input.conversation_id,
        content_type: args.input.content_type,
        size: args.input.size,
        name: args.input.name,
    };
    output(&service.create_upload(&caller, input).await?)
}
