//! `Mutation.registerDevice`: registers one of the caller's devices for push notifications (a token another user had moves to the caller).
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] maps the AppSync event onto one use-case of `chat-domain`.

use chat_domain::{ChatService, ChatStore, PushStore};
use chat_lambda::{output, ResolverError, ResolverEvent};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;

use chat_domain::push::{NewDevice, Platform};

#[derive(Deserialize)]
struct Args {
    input: Input,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    platform: Platform,
    token: Option<String>,
    app_id: Option<String>,
    endpoint: Option<String>,
    p256dh: Option<String>,
    auth: Option<String>,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore + PushStore, P: Send + Sync>(
    service: &ChatService<S, P>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = service.admit(event.payload.caller()?).await?;
    let args: Args = event.payload.arguments()?;
    let input = args.input;
    let device = NewDevice {
        platform: input.platform,
        token: input.token,
        app_id: input.app_id,
        endpoint: input.endpoint,
        p256dh: input.p256dh,
        auth: input.auth,
    };
    output(&service.register_device(&caller, device).await?)
}
