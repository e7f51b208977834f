//! Reactions: `addReaction` and `removeReaction`, one emoji per call,
//! idempotent, capped per message and per user.

use tracing::instrument;

use crate::error::{Error, Result};
use crate::graph::{MessageSel, MessageView};
use crate::limits;
use crate::messages::{Editor, MessageRef};
use crate::model::{Caller, ChangeKind, Message};
use crate::ports::{ChatStore, Publisher};
use crate::service::ChatService;

/// Putting and taking off reactions.
impl<S: ChatStore, P: Publisher> ChatService<S, P> {
    /// Puts the caller's reaction on a message of a conversation they
    /// belong to (`add`), or takes it off. Idempotent: a reaction the caller
    /// has put already, or has not, changes and pushes nothing. A message
    /// holds at most [`limits::MAX_REACTION_KINDS`] different reactions,
    /// [`limits::MAX_REACTIONS_PER_MESSAGE`] in all, and
    /// [`limits::MAX_REACTIONS_PER_USER`] of any one user.
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn react(
        &self,
        caller: &Caller,
        target: MessageRef,
        emoji: &str,
        add: bool,
        sel: &MessageSel,
    ) -> Result<MessageView> {
        let emoji = limits::reaction(emoji)?;
        self.change_own_message(caller, &target.conversation_id, &target.id, sel, Editor::Member, |_, message| {
            if message.deleted_at.is_some() {
                return Err(Error::Conflict("a deleted message takes no reactions".into()));
            }
            let mut reactions = message.reactions.clone();
            let at = reactions.iter().position(|r| r.emoji == emoji);
            let mine = |r: &crate::model::Reaction| r.users.contains(&caller.id);
            match (add, at) {
                (true, Some(i)) if mine(&reactions[i]) => return Ok(None),
                (false, None) => return Ok(None),
                (false, Some(i)) if !mine(&reactions[i]) => return Ok(None),
                (true, _) => {
                    if reactions.iter().filter(|r| mine(r)).count() >= limits::MAX_REACTIONS_PER_USER {
                        return Err(Error::LimitExceeded(format!(
                            "you have put {} reactions on this message, the most one user can; take one off first",
                            limits::MAX_REACTIONS_PER_USER
                        )));
                    }
                    if reactions.iter().map(|r| r.users.len()).sum::<usize>() >= limits::MAX_REACTIONS_PER_MESSAGE {
                        return Err(Error::LimitExceeded(format!(
                            "this message has {} reactions, the most it can hold",
                            limits::MAX_REACTIONS_PER_MESSAGE
                        )));
                    }
                    match at {
                        Some(i) => reactions[i].users.push(caller.id.clone()),
                        None if reactions.len() >= limits::MAX_REACTION_KINDS => {
                            return Err(Error::LimitExceeded(format!(
                                "this message has {} different reactions, the most it can hold; add one of those",
                                limits::MAX_REACTION_KINDS
                            )))
                        }
                        None => reactions.push(crate::model::Reaction {
                            emoji: emoji.clone(),
                            users: vec![caller.id.clone()],
                        }),
                    }
                }
                (false, Some(i)) => {
                    reactions[i].users.retain(|u| u != &caller.id);
                    if reactions[i].users.is_empty() {
                        reactions.remove(i);
                    }
                }
            }
            Ok(Some((
                ChangeKind::Reacted,
                Message {
                    reactions,
                    version: message.version + 1,
                    ..message.clone()
                },
            )))
        })
        .await
    }
}
