//! `Query.getConvo`: reads a conversation, its messages and its links, for members only.
//!
//! A thin Lambda function: `main` builds the service once per cold start and
//! [`handler`] maps the AppSync event onto one use-case of `chat-domain`.

use chat_domain::{ChatService, ChatStore};
use chat_lambda::{output, ResolverError, ResolverEvent};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;

use chat_domain::service::{ConvoQuery, MessagesArgs};

#[derive(Deserialize)]
struct Args {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessagesPage {
    limit: Option<i64>,
    next_token: Option<String>,
    sort_direction: Option<String>,
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore>(
    service: &ChatService<S>,
    event: LambdaEvent<ResolverEvent>,
) -> Result<Value, ResolverError> {
    let caller = event.payload.caller()?;
    let args: Args = event.payload.arguments()?;
    let request = &event.payload;
    let messages = if request.selects("messages") {
        let page: MessagesPage = request.nested_arguments("messages")?;
        Some(MessagesArgs {
            page: chat_domain::PageRequest {
                limit: page.limit,
                next_token: page.next_token,
            },
            direction: page.sort_direction,
            fields: request.message_fields("messages/items/"),
        })
    } else {
        None
    };
    let associated = request.links_args("associated")?;
    let query = ConvoQuery {
        messages,
        associated,
    };
    let conversation = service.get_convo(&caller, &args.id, query).await?;
    output(&conversation)
}
