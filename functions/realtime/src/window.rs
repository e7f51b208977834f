//! How long a push may post to the subscribers it read, and so how long the
//! server waits before it ends a subscription for the client.
//!
//! graphql-transport-ws allows nothing for a subscription id after the
//! server's `error` or `complete` for it. On AWS the posts to one socket
//! come from many invocations at once: a writer that read a topic's
//! subscribers just before a removal deleted one could still be posting to
//! it when the removal tells the client. So both sides keep to a window:
//!
//! - **A push** sends no post later than [`POST_WINDOW`] after it started
//!   reading the subscribers it posts to (a [`Deadline`], which travels
//!   with a relayed batch). Posts it has not sent by then, throttled retries
//!   included, wait for a fresh read of the subscribers, and go only to
//!   those still subscribed, within a new window. A post sent within the
//!   window has [`POST_GRACE`] to be answered, and is never sent twice.
//! - **Ending a subscription** from the server (a removal, a payload too
//!   large, a document moved to a new id) deletes its rows first, then waits
//!   [`END_WAIT`], then sends `error` or `complete`. Every push that read the
//!   rows before they went has sent its last post by then, and
//!   [`POST_GRACE`] covers that post's way to API Gateway, the clocks of two
//!   invocations, and the subscriber index catching up with the delete.
//!
//! The price is that a removal with live subscriptions answers about
//! [`END_WAIT`] later; one without any does not wait.

use std::time::Duration;

/// How long after it starts reading its subscribers a push may post.
pub const POST_WINDOW: Duration = Duration::from_millis(1_000);

/// What a post sent within the window may still take to land, and the
/// byTopic index to drop a deleted row: in-region `PostToConnection` takes
/// tens of milliseconds, and DynamoDB's index lag is a fraction of a second.
pub const POST_GRACE: Duration = Duration::from_millis(1_000);

/// Fresh reads in a row, each followed by a window that sent nothing,
/// before a push counts the rest failed. A push keeps reading while its
/// windows send (a busy stack delivers late rather than not at all); one
/// whose store or management API answers slower than a window would
/// otherwise keep reading for ever.
pub const MAX_REREADS: usize = 3;

/// How long ending a subscription waits between deleting its rows and
/// telling the client.
pub const END_WAIT: Duration = Duration::from_millis(2_000);

const _: () = assert!(END_WAIT.as_millis() == POST_WINDOW.as_millis() + POST_GRACE.as_millis());

/// The time, in epoch milliseconds, after which a push sends nothing more
/// to the subscribers it read. Wall-clock, so that a relayed batch keeps
/// the writer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(pub i64);

impl Deadline {
    /// The deadline of a read of subscribers that starts now.
    pub fn for_read_now() -> Self {
        Deadline(crate::clock::now_ms() + POST_WINDOW.as_millis() as i64)
    }

    /// How long is left; `None` once it has passed.
    pub fn remaining(self) -> Option<Duration> {
        let left = self.0 - crate::clock::now_ms();
        (left > 0).then(|| Duration::from_millis(left as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_runs_out_after_the_window() {
        let fresh = Deadline::for_read_now();
        let left = fresh.remaining().expect("a fresh deadline has time left");
        assert!(left <= POST_WINDOW);
        assert_eq!(Deadline(crate::clock::now_ms() - 1).remaining(), None);
    }
}
