//! `Mutation.updatePushSettings`: changes the caller's push settings (do-not-disturb, previews, mentions through a mute).
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] maps the AppSync event onto one use-case of `chat-domain`.

use chat_domain::{ChatService, ChatStore, PushStore};
use chat_lambda::{output, ResolverError, ResolverEvent};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;

use chat_domain::push::SettingsChange;

#[derive(Deserialize)]
struct Args {
    input: serde_json::Map<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Input {
    dnd_until: Option<String>,
    hide_content: Option<bool>,
    mentions: Option<bool>,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore + PushStore, P: Send + Sync>(
    service: &ChatService<S, P>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = service.admit(event.payload.caller()?).await?;
    let args: Args = event.payload.arguments()?;
    // `dndUntil: null` ends do-not-disturb; leaving it out keeps it.
    let clears = args.input.contains_key("dndUntil");
    let input: Input =
        serde_json::from_value(Value::Object(args.input)).map_err(ResolverError::Arguments)?;
    let change = SettingsChange {
        dnd_until: clears.then_some(input.dnd_until),
        hide_content: input.hide_content,
        mentions: input.mentions,
    };
    output(&service.update_push_settings(&caller, change).await?)
}
