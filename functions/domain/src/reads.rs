//! Read markers: `markRead`, forward only, pushed to the members (read
//! receipts) and to the caller's other devices.

use tracing::instrument;

use crate::error::{Error, Result};
use crate::limits;
use crate::model::{Caller, ReadMarker};
use crate::ports::{Change, ConversationStore, MessageStore, Publisher};
use crate::service::ChatService;

/// Moving a read marker.
impl<S: ConversationStore + MessageStore, P: Publisher> ChatService<S, P> {
    /// Moves the caller's read marker in a conversation to a message,
    /// forward only, and pushes it (`onReadMarker`) to the members, the
    /// caller's other devices included, so clients can draw read receipts.
    /// Marking an older message, or the same again, changes and pushes
    /// nothing and answers the marker as it stands.
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn mark_read(
        &self,
        caller: &Caller,
        conversation_id: &str,
        message_id: &str,
    ) -> Result<ReadMarker> {
        let conversation_id = limits::id("conversationId", conversation_id)?;
        let message_id = limits::id("messageId", message_id)?;
        let (link, _, message) = self
            .store
            .message_context(&caller.id, &conversation_id, &message_id)
            .await?;
        let link = link.ok_or_else(Error::not_member)?;
        let message = message
            .ok_or_else(|| Error::NotFound("no such message in this conversation".into()))?;
        let marker = ReadMarker {
            conversation_id,
            user_id: caller.id.clone(),
            message_id: message.id,
            seq: message.seq,
        };
        if self.store.mark_read(&marker).await? {
            self.push(Change::Read(&marker)).await;
            return Ok(marker);
        }
        // Already there or further: the marker as it stands.
        Ok(match link.last_read {
            Some((seq, id)) if seq > marker.seq => ReadMarker {
                message_id: id,
                seq,
                ..marker
            },
            _ => marker,
        })
    }
}
