//! In-memory adapters of the ports, for unit tests of the use-cases: a
//! store that keeps the tables' rules ([`MemoryStore`]) and a publisher
//! that records what it was asked to push ([`MemoryPublisher`]).
//!
//! The store answers as the DynamoDB adapter does, request for request: the
//! same conditions (an id or a username taken, a member already in, a
//! version or a revision moved), the same orders (users by username, links
//! by conversation or user id, the inbox by activity, messages by `seq`, the
//! change log by key) and the same pages (a full page carries a cursor).
//! What it cannot show is what only a real engine does: concurrency between
//! requests, and the request counts. The integration suite holds those,
//! against the embedded engine and Amazon DynamoDB Local.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::clock::{now, now_ms, time_at};
use crate::error::{Error, Result};
use crate::model::{
    Conversation, ConvoLink, MemberChange, Message, MessageChange, Presence, ReadMarker, Typing,
    User,
};
use crate::page::{Cursor, PageQuery, SortDirection};
use crate::ports::{
    AddMemberOutcome, Batch, Change, ChangeOutcome, ConversationStore, CreateUserOutcome,
    MessageStore, Publisher, PushState, Pushed, PutMessageOutcome, UserStore,
};

/// A request the memory store refuses as DynamoDB would fail it (a
/// transaction whose condition failed where the port has no outcome for
/// it): an internal failure, as the adapter reports it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(&'static str);

fn refused(why: &'static str) -> Error {
    Error::Store(Box::new(Refused(why)))
}

#[derive(Debug, Default)]
struct Tables {
    users: BTreeMap<String, User>,
    presence_at: HashMap<String, i64>,
    /// Lowercased username → owner id.
    usernames: HashMap<String, String>,
    conversations: BTreeMap<String, Conversation>,
    /// By (user id, conversation id), the table's key.
    links: BTreeMap<(String, String), ConvoLink>,
    /// By (conversation id, message id), with the push's hold.
    messages: BTreeMap<(String, String), (Message, Option<i64>)>,
    /// By (conversation id, key).
    changes: BTreeMap<(String, String), MessageChange>,
}

/// The store ports over maps in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Tables) -> T) -> T {
        let mut tables = self
            .tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut tables)
    }

    /// Where a stored message's push stands (a test's view of `pushUntil`).
    pub fn push_state(&self, conversation_id: &str, message_id: &str) -> Option<PushState> {
        self.with(|t| {
            t.messages
                .get(&(conversation_id.to_string(), message_id.to_string()))
                .map(|(_, hold)| hold.map_or(PushState::Done, PushState::Pending))
        })
    }

    /// Every change-log entry of a conversation, oldest first.
    pub fn change_log(&self, conversation_id: &str) -> Vec<MessageChange> {
        self.with(|t| {
            t.changes
                .iter()
                .filter(|((c, _), _)| c == conversation_id)
                .map(|(_, change)| change.clone())
                .collect()
        })
    }
}

/// One page of `rows` (sorted by their key, ascending), read after the
/// cursor in `page` in `direction`: a full page carries the cursor of its
/// last row, as DynamoDB's LastEvaluatedKey does.
fn page_of<T: Clone>(
    rows: Vec<(String, T)>,
    page: &PageQuery,
    direction: SortDirection,
) -> (Vec<T>, Option<Cursor>) {
    let after = page
        .after
        .as_ref()
        .and_then(|c| c.as_str())
        .map(str::to_string);
    let mut rows = rows;
    if direction == SortDirection::Desc {
        rows.reverse();
    }
    let rows: Vec<(String, T)> = rows
        .into_iter()
        .filter(|(key, _)| match (&after, direction) {
            (None, _) => true,
            (Some(a), SortDirection::Asc) => key > a,
            (Some(a), SortDirection::Desc) => key < a,
        })
        .take(page.limit as usize)
        .collect();
    let cursor = (rows.len() == page.limit as usize)
        .then(|| rows.last().map(|(key, _)| Cursor::String(key.clone())))
        .flatten();
    (rows.into_iter().map(|(_, row)| row).collect(), cursor)
}

/// A read marker moves forward only, and only on a link that exists.
fn move_marker(link: Option<&mut ConvoLink>, seq: &str, message_id: &str) -> bool {
    match link {
        Some(link)
            if link
                .last_read
                .as_ref()
                .is_none_or(|(at, _)| at.as_str() < seq) =>
        {
            link.last_read = Some((seq.to_string(), message_id.to_string()));
            true
        }
        _ => false,
    }
}

fn key(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

impl UserStore for MemoryStore {
    async fn get_user(&self, id: &str) -> Result<Option<User>> {
        Ok(self.with(|t| t.users.get(id).cloned()))
    }

    async fn create_user(&self, user: &User) -> Result<CreateUserOutcome> {
        Ok(self.with(|t| {
            if t.users.contains_key(&user.id) {
                return CreateUserOutcome::IdTaken;
            }
            match t.usernames.entry(user.username.to_lowercase()) {
                std::collections::hash_map::Entry::Occupied(_) => CreateUserOutcome::UsernameTaken,
                std::collections::hash_map::Entry::Vacant(claim) => {
                    claim.insert(user.id.clone());
                    t.users.insert(user.id.clone(), user.clone());
                    CreateUserOutcome::Created
                }
            }
        }))
    }

    async fn list_users(&self, page: &PageQuery) -> Result<(Vec<User>, Option<Cursor>)> {
        Ok(self.with(|t| {
            let mut rows: Vec<(String, User)> = t
                .users
                .values()
                .map(|u| (u.username.clone(), u.clone()))
                .collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            page_of(rows, page, SortDirection::Asc)
        }))
    }

    async fn set_presence(&self, user_id: &str, online: bool, at_ms: i64) -> Result<bool> {
        Ok(self.with(|t| {
            let later = t.presence_at.get(user_id).is_some_and(|&at| at >= at_ms);
            let Some(user) = t.users.get_mut(user_id).filter(|_| !later) else {
                return false;
            };
            let was = user.online;
            user.online = online;
            user.last_seen_at = Some(time_at(at_ms));
            t.presence_at.insert(user_id.to_string(), at_ms);
            was != online
        }))
    }
}

impl ConversationStore for MemoryStore {
    async fn batch_get(&self, user_ids: &[String], conversation_ids: &[String]) -> Result<Batch> {
        Ok(self.with(|t| Batch {
            users: user_ids
                .iter()
                .filter_map(|id| t.users.get(id).cloned())
                .collect(),
            conversations: conversation_ids
                .iter()
                .filter_map(|id| t.conversations.get(id).cloned())
                .collect(),
        }))
    }

    async fn membership(
        &self,
        user_id: &str,
        conversation_id: &str,
        with_conversation: bool,
    ) -> Result<(Option<ConvoLink>, Option<Conversation>)> {
        Ok(self.with(|t| {
            let link = t.links.get(&key(user_id, conversation_id)).cloned();
            let convo = with_conversation
                .then(|| t.conversations.get(conversation_id).cloned())
                .flatten();
            (link, convo)
        }))
    }

    async fn create_conversation(
        &self,
        conversation: &Conversation,
        links: &[ConvoLink],
    ) -> Result<()> {
        self.with(|t| {
            let taken = t.conversations.contains_key(&conversation.id)
                || links.iter().any(|l| {
                    t.links
                        .contains_key(&key(&l.convo_link_user_id, &l.convo_link_conversation_id))
                });
            if taken {
                return Err(refused("the conversation or a link exists"));
            }
            t.conversations
                .insert(conversation.id.clone(), conversation.clone());
            for link in links {
                t.links.insert(
                    key(&link.convo_link_user_id, &link.convo_link_conversation_id),
                    link.clone(),
                );
            }
            Ok(())
        })
    }

    async fn add_member(
        &self,
        caller_id: &str,
        link: &ConvoLink,
        max_members: usize,
    ) -> Result<AddMemberOutcome> {
        Ok(self.with(|t| {
            let convo_id = &link.convo_link_conversation_id;
            let user_id = &link.convo_link_user_id;
            if !t.links.contains_key(&key(caller_id, convo_id)) {
                return AddMemberOutcome::CallerNotMember;
            }
            if !t.users.contains_key(user_id) {
                return AddMemberOutcome::UserMissing;
            }
            if t.links.contains_key(&key(user_id, convo_id)) {
                return AddMemberOutcome::AlreadyMember;
            }
            match t.conversations.get_mut(convo_id) {
                Some(c) if c.members.len() < max_members && !c.members.contains(user_id) => {
                    c.members.push(user_id.clone());
                    c.updated_at = link.created_at.clone();
                    c.rev += 1;
                }
                _ => return AddMemberOutcome::Full,
            }
            t.links.insert(key(user_id, convo_id), link.clone());
            AddMemberOutcome::Added
        }))
    }

    async fn links_of_user(
        &self,
        user_id: &str,
        page: &PageQuery,
    ) -> Result<(Vec<ConvoLink>, Option<Cursor>)> {
        Ok(self.with(|t| {
            let rows = t
                .links
                .iter()
                .filter(|((u, _), _)| u == user_id)
                .map(|((_, c), link)| (c.clone(), link.clone()))
                .collect();
            page_of(rows, page, SortDirection::Asc)
        }))
    }

    async fn links_of_conversation(
        &self,
        conversation_id: &str,
        page: &PageQuery,
    ) -> Result<(Vec<ConvoLink>, Option<Cursor>)> {
        Ok(self.with(|t| {
            let mut rows: Vec<(String, ConvoLink)> = t
                .links
                .iter()
                .filter(|((_, c), _)| c == conversation_id)
                .map(|((u, _), link)| (u.clone(), link.clone()))
                .collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            page_of(rows, page, SortDirection::Asc)
        }))
    }

    async fn change_members(
        &self,
        read: &Conversation,
        members: &[String],
        owners: &[String],
        remove: Option<&str>,
    ) -> Result<bool> {
        Ok(self.with(|t| {
            let Some(convo) = t
                .conversations
                .get_mut(&read.id)
                .filter(|c| c.rev == read.rev)
            else {
                return false;
            };
            convo.members = members.to_vec();
            convo.owners = owners.to_vec();
            convo.rev = read.rev + 1;
            convo.updated_at = now();
            if let Some(user) = remove {
                t.links.remove(&key(user, &read.id));
            }
            true
        }))
    }

    async fn inbox(
        &self,
        user_id: &str,
        page: &PageQuery,
    ) -> Result<(Vec<ConvoLink>, Option<Cursor>)> {
        Ok(self.with(|t| {
            // The activity index holds only links with an activity.
            let mut rows: Vec<(String, ConvoLink)> = t
                .links
                .iter()
                .filter(|((u, _), _)| u == user_id)
                .filter_map(|(_, link)| Some((link.activity.clone()?, link.clone())))
                .collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            page_of(rows, page, SortDirection::Desc)
        }))
    }

    async fn mark_read(&self, marker: &ReadMarker) -> Result<bool> {
        Ok(self.with(|t| {
            let link = t
                .links
                .get_mut(&key(&marker.user_id, &marker.conversation_id));
            move_marker(link, &marker.seq, &marker.message_id)
        }))
    }

    async fn bump_activity(
        &self,
        conversation: &Conversation,
        seq: &str,
        window_ms: i64,
    ) -> Result<usize> {
        Ok(self.with(|t| {
            if window_ms > 0 {
                let now = now_ms();
                let claimed = |at: Option<i64>| at.is_some_and(|at| at >= now - window_ms);
                if claimed(conversation.activity_at) {
                    return 0;
                }
                match t.conversations.get_mut(&conversation.id) {
                    Some(c) if !claimed(c.activity_at) => c.activity_at = Some(now),
                    _ => return 0,
                }
            }
            let mut moved = 0;
            for member in &conversation.members {
                if let Some(link) = t.links.get_mut(&key(member, &conversation.id)) {
                    if link.activity.as_deref().is_none_or(|a| a < seq) {
                        link.activity = Some(seq.to_string());
                        moved += 1;
                    }
                }
            }
            moved
        }))
    }
}

impl MessageStore for MemoryStore {
    async fn latest_message(&self, conversation_id: &str) -> Result<Option<Message>> {
        Ok(self.with(|t| {
            t.messages
                .iter()
                .filter(|((c, _), _)| c == conversation_id)
                .map(|(_, (m, _))| m)
                .max_by(|a, b| a.seq.cmp(&b.seq))
                .cloned()
        }))
    }

    async fn count_unread(
        &self,
        conversation_id: &str,
        user_id: &str,
        after: Option<&str>,
        cap: usize,
    ) -> Result<usize> {
        Ok(self.with(|t| {
            t.messages
                .iter()
                .filter(|((c, _), (m, _))| {
                    c == conversation_id
                        && after.is_none_or(|a| m.seq.as_str() > a)
                        && m.author_id != user_id
                        && m.deleted_at.is_none()
                })
                .count()
                .min(cap + 1)
        }))
    }

    async fn put_message(
        &self,
        change: &MessageChange,
        push_until: i64,
    ) -> Result<PutMessageOutcome> {
        Ok(self.with(|t| {
            let message = &change.message;
            let at = key(&change.conversation_id, &message.id);
            if let Some((existing, hold)) = t.messages.get(&at) {
                let push = hold.map_or(PushState::Done, PushState::Pending);
                return PutMessageOutcome::Exists(Box::new(existing.clone()), push);
            }
            t.messages.insert(at, (message.clone(), Some(push_until)));
            t.changes
                .insert(key(&change.conversation_id, &change.key), change.clone());
            let author = t
                .links
                .get_mut(&key(&message.author_id, &change.conversation_id));
            move_marker(author, &message.seq, &message.id);
            PutMessageOutcome::Created
        }))
    }

    async fn message_context(
        &self,
        user_id: &str,
        conversation_id: &str,
        message_id: &str,
    ) -> Result<(Option<ConvoLink>, Option<Conversation>, Option<Message>)> {
        let (link, convo, mut messages) = self
            .messages_context(user_id, conversation_id, &[message_id.to_string()], true)
            .await?;
        Ok((link, convo, messages.pop()))
    }

    async fn messages_context(
        &self,
        user_id: &str,
        conversation_id: &str,
        message_ids: &[String],
        with_conversation: bool,
    ) -> Result<(Option<ConvoLink>, Option<Conversation>, Vec<Message>)> {
        let (link, convo) = self
            .membership(user_id, conversation_id, with_conversation)
            .await?;
        let messages = self.with(|t| {
            message_ids
                .iter()
                .filter_map(|id| t.messages.get(&key(conversation_id, id)))
                .map(|(m, _)| m.clone())
                .collect()
        });
        Ok((link, convo, messages))
    }

    async fn change_message(&self, change: &MessageChange) -> Result<ChangeOutcome> {
        Ok(self.with(|t| {
            let new = &change.message;
            let at = key(&change.conversation_id, &new.id);
            let Some((stored, _)) = t
                .messages
                .get_mut(&at)
                .filter(|(m, _)| m.version == new.version.saturating_sub(1))
            else {
                return ChangeOutcome::Moved;
            };
            stored.content = new.content.clone();
            stored.updated_at = new.updated_at.clone();
            stored.version = new.version;
            stored.reactions = new.reactions.clone();
            if new.edited_at.is_some() {
                stored.edited_at = new.edited_at.clone();
            }
            if new.deleted_at.is_some() {
                stored.deleted_at = new.deleted_at.clone();
            }
            t.changes
                .insert(key(&change.conversation_id, &change.key), change.clone());
            ChangeOutcome::Changed
        }))
    }

    async fn changes(
        &self,
        conversation_id: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<MessageChange>> {
        Ok(self.with(|t| {
            t.changes
                .range(key(conversation_id, after)..)
                .filter(|((c, k), _)| c == conversation_id && k.as_str() > after)
                .take(limit as usize)
                .map(|(_, change)| change.clone())
                .collect()
        }))
    }

    async fn finish_push(&self, message: &Message) -> Result<()> {
        self.with(|t| {
            match t
                .messages
                .get_mut(&key(&message.message_conversation_id, &message.id))
            {
                Some((_, hold)) => {
                    *hold = None;
                    Ok(())
                }
                None => Err(refused("no such message")),
            }
        })
    }

    async fn take_push(&self, message: &Message, held_until: i64, until: i64) -> Result<bool> {
        Ok(self.with(|t| {
            match t
                .messages
                .get_mut(&key(&message.message_conversation_id, &message.id))
            {
                Some((_, hold)) if *hold == Some(held_until) => {
                    *hold = Some(until);
                    true
                }
                _ => false,
            }
        }))
    }

    async fn messages(
        &self,
        conversation_id: &str,
        page: &PageQuery,
        direction: SortDirection,
    ) -> Result<(Vec<Message>, Option<Cursor>)> {
        Ok(self.with(|t| {
            let mut rows: Vec<(String, Message)> = t
                .messages
                .iter()
                .filter(|((c, _), _)| c == conversation_id)
                .map(|(_, (m, _))| (m.seq.clone(), m.clone()))
                .collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            page_of(rows, page, direction)
        }))
    }
}

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
}
