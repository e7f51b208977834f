//! The publisher, in memory: it records what it was asked to push.

use super::*;

/// What a [`MemoryPublisher`] was asked to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    Message(MessageChange),
    Member(MemberChange),
    Read(ReadMarker),
    User(User),
    Link(ConvoLink),
    Typing(Typing),
    Presence(Presence),
    /// A user's live subscriptions to a conversation were ended.
    Revoked {
        conversation_id: String,
        user_id: String,
    },
    /// A user's sockets were closed.
    Disconnected(String),
}

/// A publisher that records every push and revocation. Each push reaches
/// `subscribers` connections (none by default), or fails when `failing`.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    log: Mutex<Vec<Published>>,
    /// Connections each push is posted to.
    pub subscribers: usize,
    /// Every push fails, as when the subscribers cannot be read.
    pub failing: bool,
}

impl MemoryPublisher {
    /// A publisher whose every push fails, as when the subscribers cannot
    /// be read.
    pub fn failing() -> Self {
        MemoryPublisher {
            failing: true,
            ..Self::default()
        }
    }

    pub fn reaching(subscribers: usize) -> Self {
        MemoryPublisher {
            subscribers,
            ..Self::default()
        }
    }

    /// What was published so far, in order.
    pub fn published(&self) -> Vec<Published> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn record(&self, published: Published) {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(published);
    }
}

impl Publisher for MemoryPublisher {
    async fn publish(&self, change: Change<'_>) -> Result<Pushed> {
        if self.failing {
            return Err(Error::push(Refused("the subscribers cannot be read")));
        }
        self.record(match change {
            Change::Message(m) => Published::Message(m.clone()),
            Change::Member(m) => Published::Member(m.clone()),
            Change::Read(r) => Published::Read(r.clone()),
            Change::User(u) => Published::User(u.clone()),
            Change::Link(l) => Published::Link(l.clone()),
            Change::Typing(t) => Published::Typing(t.clone()),
            Change::Presence(p) => Published::Presence(p.clone()),
        });
        Ok(Pushed {
            sent: self.subscribers,
            ..Pushed::default()
        })
    }

    async fn revoke(&self, conversation_id: &str, user_id: &str) -> Result<usize> {
        self.record(Published::Revoked {
            conversation_id: conversation_id.to_string(),
            user_id: user_id.to_string(),
        });
        Ok(0)
    }

    async fn disconnect(&self, user_id: &str) -> Result<usize> {
        if self.failing {
            return Err(Error::push(Refused("the connections cannot be read")));
        }
        self.record(Published::Disconnected(user_id.to_string()));
        Ok(0)
    }
}
