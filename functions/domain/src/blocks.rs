//! Blocks: a user blocks another (`blockUser`), unblocks them
//! (`unblockUser`) and reads their own list (`blockedUsers`).
//!
//! The rule, which README states for app developers:
//! - The blocker no longer sees the blocked user's messages anywhere: not
//!   in history (`getConvo.messages`, `allMessageConnection`), catch-up
//!   (`messageChanges`), inbox previews and unread counts, live delivery,
//!   or pushes. Their existing messages are hidden too; unblocking shows
//!   them again.
//! - The blocked user cannot start a conversation with the blocker or add
//!   them to one: refused with `Unauthorized`, whose message does not say
//!   why.
//! - The blocked user is not told. They still see the blocker's messages
//!   in the groups they share; nothing they can read changes.
//!
//! The list is one row per user, read strongly consistent by every read
//! the blocker makes of messages (one more small read per request); the
//! writers of a message read the reverse index instead (who blocks its
//! author), concurrently with their own reads, to leave those users out of
//! the push. [`limits::MAX_BLOCKED_USERS`] bounds the list.

use tracing::instrument;

use crate::clock::now;
use crate::error::{Error, Result};
use crate::limits;
use crate::model::Caller;
use crate::ports::{ChatStore, SafetyStore};
use crate::service::{contended, ChatService};

pub use crate::safety::{BlockChange, BlockList, Blocked, Saved};

impl<S: ChatStore, P> ChatService<S, P> {
    /// Blocks `user_id` for the caller. Idempotent: blocking someone
    /// already blocked returns the entry as it stands.
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn block_user(&self, caller: &Caller, user_id: &str) -> Result<Blocked> {
        let user_id = limits::id("userId", user_id)?;
        if user_id == caller.id {
            return Err(Error::validation("you cannot block yourself"));
        }
        let (list, user) = futures::try_join!(
            self.store.block_list(&caller.id),
            self.store.get_user(&user_id)
        )?;
        if user.is_none() {
            return Err(Error::NotFound("no such user".into()));
        }
        let mut list = list;
        let mut attempts = 0;
        loop {
            if let Some(entry) = list.entries.iter().find(|b| b.user_id == user_id) {
                return Ok(entry.clone());
            }
            if list.entries.len() >= limits::MAX_BLOCKED_USERS {
                return Err(Error::LimitExceeded(format!(
                    "you can block at most {} users; unblock someone first",
                    limits::MAX_BLOCKED_USERS
                )));
            }
            let entry = Blocked {
                user_id: user_id.clone(),
                blocked_at: now(),
            };
            let mut next = list.clone();
            next.entries.push(entry.clone());
            next.version += 1;
            match self
                .store
                .save_block_list(&caller.id, &next, BlockChange::Added(&entry))
                .await?
            {
                Saved::Saved => return Ok(entry),
                Saved::Moved => {
                    attempts += 1;
                    contended(attempts)?;
                    list = self.store.block_list(&caller.id).await?;
                }
            }
        }
    }

    /// Unblocks `user_id`: `true` if they were blocked. Idempotent.
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn unblock_user(&self, caller: &Caller, user_id: &str) -> Result<bool> {
        let user_id = limits::id("userId", user_id)?;
        let mut attempts = 0;
        loop {
            let list = self.store.block_list(&caller.id).await?;
            if !list.contains(&user_id) {
                return Ok(false);
            }
            let mut next = list.clone();
            next.entries.retain(|b| b.user_id != user_id);
            next.version += 1;
            match self
                .store
                .save_block_list(&caller.id, &next, BlockChange::Removed(&user_id))
                .await?
            {
                Saved::Saved => return Ok(true),
                Saved::Moved => {
                    attempts += 1;
                    contended(attempts)?;
                }
            }
        }
    }

    /// The caller's block list, oldest first. Only its owner reads it.
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn blocked_users(&self, caller: &Caller) -> Result<Vec<Blocked>> {
        Ok(self.store.block_list(&caller.id).await?.entries)
    }
}

/// What the other features ask of blocks.
impl<S: SafetyStore, P> ChatService<S, P> {
    /// Whose messages `user_id` does not see.
    pub(crate) async fn hidden_for(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(self.store.block_list(user_id).await?.ids())
    }

    /// Refuses `adder` adding any of `members` who block them.
    pub(crate) async fn refuse_blockers(&self, adder: &str, members: &[String]) -> Result<()> {
        let others: Vec<String> = members.iter().filter(|m| *m != adder).cloned().collect();
        if others.is_empty() {
            return Ok(());
        }
        match self.store.who_block(adder, &others).await?.first() {
            Some(blocker) => Err(Error::Unauthorized(format!(
                "you cannot add {blocker} to a conversation"
            ))),
            None => Ok(()),
        }
    }
}
