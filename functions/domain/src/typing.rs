//! Typing signals: `typing`, members only, throttled per user and
//! conversation in this instance's memory, pushed and never stored.

use tracing::instrument;

use crate::clock::{now_ms, time_at};
use crate::error::{Error, Result};
use crate::limits;
use crate::model::{Caller, Typing};
use crate::ports::{Change, ConversationStore, Publisher};
use crate::service::ChatService;

/// Sending a typing signal.
impl<S: ConversationStore, P: Publisher> ChatService<S, P> {
    /// Tells the conversation's other members that the caller is typing.
    /// At most one signal per user and conversation per
    /// [`limits::TYPING_INTERVAL_MS`] goes out; the others are answered
    /// from this instance's memory with `sent: false`, before any read.
    /// Nothing is stored: a signal is pushed, then forgotten.
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn typing(&self, caller: &Caller, conversation_id: &str) -> Result<Typing> {
        let conversation_id = limits::id("conversationId", conversation_id)?;
        let at = now_ms();
        let mut typing = Typing {
            expires_at: time_at(at + limits::TYPING_SHOWN_MS),
            conversation_id,
            user_id: caller.id.clone(),
            sent: false,
        };
        if !self.typing.admit(&caller.id, &typing.conversation_id, at) {
            return Ok(typing);
        }
        let (link, _) = self
            .store
            .membership(&caller.id, &typing.conversation_id, false)
            .await?;
        link.ok_or_else(Error::not_member)?;
        typing.sent = true;
        self.push(Change::Typing(&typing)).await;
        Ok(typing)
    }
}
