//! Presence: a live signal that is never part of the history.
//!
//! A user is online while they hold at least one initialised WebSocket
//! connection. The connection-tracking side calls [`record`] whenever that
//! may have changed (a connection initialised, closed, or found dead); the
//! user's row keeps the latest observation, and a change is pushed
//! (`onPresence`) to the members of the conversations the user is in, and
//! to no one else.

use futures::StreamExt;

use crate::clock::time_at;
use crate::error::Result;
use crate::limits::MAX_PRESENCE_CONVERSATIONS;
use crate::model::Presence;
use crate::page::PageQuery;
use crate::ports::{Change, ConversationStore, Publisher, UserStore};

/// Conversations pushed to at once.
const PUSH_CONCURRENCY: usize = 16;
/// Links read per page while collecting a user's conversations.
const LINK_PAGE: u32 = 100;

/// Records `user_id`'s presence as observed at `at_ms` and, when that
/// changed whether they are online, pushes it to every conversation they
/// are in (their [`MAX_PRESENCE_CONVERSATIONS`] most recently active);
/// returns whether it changed. A push that fails is logged: presence is a
/// hint, and the next change corrects it.
pub async fn record<S: UserStore + ConversationStore, P: Publisher>(
    store: &S,
    publisher: &P,
    user_id: &str,
    online: bool,
    at_ms: i64,
) -> Result<bool> {
    if !store.set_presence(user_id, online, at_ms).await? {
        return Ok(false);
    }
    let mut conversations = Vec::new();
    let mut after = None;
    loop {
        let page = PageQuery {
            limit: LINK_PAGE,
            after,
        };
        let (links, cursor) = store.inbox(user_id, &page).await?;
        conversations.extend(links.into_iter().map(|l| l.convo_link_conversation_id));
        match cursor {
            Some(c) if conversations.len() < MAX_PRESENCE_CONVERSATIONS => after = Some(c),
            _ => break,
        }
    }
    conversations.truncate(MAX_PRESENCE_CONVERSATIONS);
    let last_seen_at = time_at(at_ms);
    futures::stream::iter(conversations)
        .for_each_concurrent(PUSH_CONCURRENCY, |conversation_id| {
            let presence = Presence {
                conversation_id,
                user_id: user_id.to_string(),
                online,
                last_seen_at: last_seen_at.clone(),
            };
            async move {
                if let Err(err) = publisher.publish(Change::Presence(&presence)).await {
                    tracing::warn!(error = %crate::Chain(&err), conversation = %presence.conversation_id, "presence not pushed");
                }
            }
        })
        .await;
    Ok(true)
}
