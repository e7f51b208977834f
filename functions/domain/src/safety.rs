//! The types of blocks and of a user's standing (suspensions and bans),
//! which the ports use. A leaf: it imports nothing of the crate; the
//! use-cases are [`crate::blocks`] and [`crate::standing`].

use serde::{Deserialize, Serialize};

/// One user the owner of a block list has blocked, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blocked {
    pub user_id: String,
    pub blocked_at: String,
}

/// A user's block list as stored: its entries, oldest first, and the
/// version a write of it must find (optimistic concurrency: two blocks at
/// once never lose one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockList {
    pub entries: Vec<Blocked>,
    /// 0: never written.
    pub version: u64,
}

impl BlockList {
    pub fn contains(&self, user_id: &str) -> bool {
        self.entries.iter().any(|b| b.user_id == user_id)
    }

    /// The blocked users' ids.
    pub fn ids(&self) -> Vec<String> {
        self.entries.iter().map(|b| b.user_id.clone()).collect()
    }
}

/// What a write of a block list changes besides the list: the reverse
/// index's pair row (`blocker` blocks `blocked`), which the writers of a
/// message read to leave out whoever blocks its author.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockChange<'a> {
    Added(&'a Blocked),
    Removed(&'a str),
}

/// How a write of a block list ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Saved,
    /// The list changed since it was read: read again and retry.
    Moved,
}

/// What stands against a user: a suspension until a time, or a ban.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Standing {
    pub user_id: String,
    /// Set on a ban: it has no end.
    #[serde(default)]
    pub banned: bool,
    /// A suspension's end (RFC 3339); `None` on a ban.
    #[serde(default)]
    pub suspended_until: Option<String>,
    /// The moderator who decided it, and when.
    pub by: String,
    pub at: String,
    #[serde(default)]
    pub reason: Option<String>,
}

impl Standing {
    /// Whether it bars its user at `now` (RFC 3339, as [`crate::clock::now`]
    /// writes it: fixed width, so strings compare as times).
    pub fn bars(&self, now: &str) -> bool {
        self.banned
            || self
                .suspended_until
                .as_deref()
                .is_some_and(|until| until > now)
    }
}
