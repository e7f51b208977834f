//! Presence and typing: the live signals that are never part of the
//! history.
//!
//! - A user is online while they hold at least one initialised WebSocket
//!   connection. The connection-tracking side calls [`record`] whenever
//!   that may have changed (a connection initialised, closed, or found
//!   dead); the user's row keeps the latest observation, and a change is
//!   pushed (`onPresence`) to the members of the conversations the user is
//!   in, and to no one else.
//! - Typing signals are throttled per user and conversation by
//!   [`Throttle`], in the memory of the instance that receives them, so an
//!   excess signal costs no read and no push.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::StreamExt;

use crate::error::Result;
use crate::limits::MAX_PRESENCE_CONVERSATIONS;
use crate::model::Presence;
use crate::page::PageQuery;
use crate::ports::{Change, ChatStore, Publisher};
use crate::service::time_at;

/// Conversations pushed to at once.
const PUSH_CONCURRENCY: usize = 16;
/// Links read per page while collecting a user's conversations.
const LINK_PAGE: u32 = 100;

/// Records `user_id`'s presence as observed at `at_ms` and, when that
/// changed whether they are online, pushes it to every conversation they
/// are in (their [`MAX_PRESENCE_CONVERSATIONS`] most recently active);
/// returns whether it changed. A push that fails is logged: presence is a
/// hint, and the next change corrects it.
pub async fn record<S: ChatStore, P: Publisher>(
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

/// At most one signal per key per interval, remembered in this process.
/// Bounded: past [`Throttle::MAX_KEYS`] keys, the expired ones are dropped.
#[derive(Debug)]
pub struct Throttle {
    interval_ms: i64,
    last: Mutex<HashMap<(String, String), i64>>,
}

impl Throttle {
    /// Keys remembered before the expired ones are swept.
    pub const MAX_KEYS: usize = 10_000;

    pub fn new(interval_ms: i64) -> Self {
        Throttle {
            interval_ms,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a signal from `user` in `conversation` at `at_ms` may go
    /// out; if so, it is remembered.
    pub fn admit(&self, user: &str, conversation: &str, at_ms: i64) -> bool {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (user.to_string(), conversation.to_string());
        if last
            .get(&key)
            .is_some_and(|&then| at_ms - then < self.interval_ms)
        {
            return false;
        }
        if last.len() >= Self::MAX_KEYS {
            let interval = self.interval_ms;
            last.retain(|_, then| at_ms - *then < interval);
        }
        last.insert(key, at_ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_signal_per_user_and_conversation_per_interval() {
        let throttle = Throttle::new(2_000);
        assert!(throttle.admit("u", "c", 10_000));
        assert!(!throttle.admit("u", "c", 11_999));
        assert!(throttle.admit("u", "other", 11_999));
        assert!(throttle.admit("v", "c", 11_999));
        assert!(throttle.admit("u", "c", 12_000));
        assert!(!throttle.admit("u", "c", 13_000));
    }

    #[test]
    fn expired_keys_are_swept_when_full() {
        let throttle = Throttle::new(10);
        for i in 0..Throttle::MAX_KEYS {
            assert!(throttle.admit(&i.to_string(), "c", 0));
        }
        assert!(throttle.admit("late", "c", 100));
        assert_eq!(throttle.last.lock().unwrap().len(), 1);
    }
}
