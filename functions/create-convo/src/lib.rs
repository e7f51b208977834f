//! `Mutation.createConvo`: creates a conversation with the caller and the given members, atomically with every member's ConvoLink.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] maps the AppSync event onto one use-case of `chat-domain`.

use chat_domain::{ChatService, ChatStore, Publisher};
use chat_lambda::{output, ResolverError, ResolverEvent};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;

use chat_domain::model::{ConversationView, LinkView};
use chat_domain::Page;

#[derive(Deserialize)]
struct Args {
    input: Input,
}

#[derive(Deserialize)]
struct Input {
    name: String,
    members: Vec<String>,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore, P: Publisher>(
    service: &ChatService<S, P>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = event.payload.caller()?;
    let args: Args = event.payload.arguments()?;
    let (conversation, links) = service
        .create_convo(&caller, &args.input.name, &args.input.members)
        .await?;
    // A new conversation has no messages, and its links were just written.
    let view = ConversationView {
        messages: event.payload.selects("messages").then(|| Page {
            items: vec![],
            next_token: None,
        }),
        associated: event.payload.selects("associated").then(|| Page {
            items: links
                .into_iter()
                .map(|link| LinkView {
                    link,
                    user: None,
                    conversation: None,
                })
                .collect(),
            next_token: None,
        }),
        conversation,
    };
    output(&view)
}
