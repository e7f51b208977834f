//! The use-cases. Each public method is one GraphQL root field; it validates
//! input, checks that the caller may do it, and then reads or writes through
//! the [`ChatStore`] port with as few requests as the access pattern allows.

use std::collections::BTreeSet;

use tracing::instrument;
use ulid::Ulid;

use crate::error::{Error, Result};
use crate::graph::{
    ConversationView, ConvoSel, Known, LinkSel, LinkView, MessageSel, MessageView, UserSel,
    UserView,
};
use crate::limits;
use crate::model::{
    Caller, ChangeKind, Conversation, ConvoLink, MemberChange, MemberChangeKind, Message,
    MessageChange, ReadMarker, Typing, User,
};
use crate::page::{Page, PageRequest, PageTokens, Scope, SortDirection};
use crate::ports::{
    AddMemberOutcome, Change, ChangeOutcome, ChatStore, CreateUserOutcome, Publisher, PushState,
    PutMessageOutcome,
};

/// `createMessage`'s input, as the client sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMessage {
    pub id: Option<String>,
    pub content: String,
    pub conversation_id: String,
    pub author_id: Option<String>,
}

/// `updateMessage`'s input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageEdit {
    pub id: String,
    pub conversation_id: String,
    pub content: String,
}

/// A message, by its conversation and id (`deleteMessage`'s input).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageRef {
    pub id: String,
    pub conversation_id: String,
}

/// A changed message whose write lost a race with another change to it
/// (an edit, a delete) reads it again and retries, this many times at most.
pub const MAX_CHANGE_ATTEMPTS: u32 = 10;

/// How far behind now a catch-up cursor stays. A change takes its key (a
/// ULID of the time) just before its write, and the write lands within the
/// functions' timeout (10 s, `Timeout` in infra/template.yaml) or never: so
/// every change whose key is older than this was committed before a
/// catch-up reads, and a cursor this far back can never pass a change that
/// commits later.
pub const CHANGE_SETTLE_MS: i64 = 15_000;

/// The cursor of "everything up to [`CHANGE_SETTLE_MS`] ago".
fn settled_key() -> String {
    let at = u64::try_from(now_ms() - CHANGE_SETTLE_MS).unwrap_or(0);
    Ulid::from_parts(at, 0).to_string()
}

/// `list` without `id`.
fn without(list: &[String], id: &str) -> Vec<String> {
    list.iter().filter(|m| *m != id).cloned().collect()
}

/// Refuses a caller who is not an owner of `convo`.
fn owner_only(convo: &Conversation, caller: &Caller, what: &str) -> Result<()> {
    if convo.owners.contains(&caller.id) {
        Ok(())
    } else {
        Err(Error::Unauthorized(format!("only an owner can {what}")))
    }
}

/// After a lost race with another change to the same message: read again,
/// or give up with `Conflict` past [`MAX_CHANGE_ATTEMPTS`].
fn contended(attempts: u32) -> Result<()> {
    if attempts >= MAX_CHANGE_ATTEMPTS {
        return Err(Error::Conflict(
            "this message is changing too fast; try again".into(),
        ));
    }
    Ok(())
}

/// The chat use-cases over a store, and, for the functions that write, a
/// [`Publisher`] that pushes each new row to its subscribers.
#[derive(Debug, Clone)]
pub struct ChatService<S, P = Unpublished> {
    pub(crate) store: S,
    pub(crate) tokens: PageTokens,
    publisher: P,
    typing: std::sync::Arc<crate::presence::Throttle>,
}

/// The publisher of a service that only reads: it cannot run a use-case that
/// writes, because it is not a [`Publisher`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Unpublished;

/// How long a writer holds a message's push: the functions' timeout
/// (`Timeout` in infra/template.yaml). A retry of the same id takes an
/// unfinished push over only once its holder's time has run out, so the
/// holder and the retry never post it at once.
pub const PUSH_LEASE_MS: i64 = 10_000;

/// Time now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The server's order key: a ULID, strictly increasing within this process
/// (two messages in one millisecond keep their order), so one sender's
/// messages, sent one after another, are stored and shown in that order.
pub fn next_seq() -> String {
    static SEQ: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());
    let generated = SEQ
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .generate();
    // Overflow takes 2^80 ids in one millisecond.
    generated.unwrap_or_else(|_| Ulid::new()).to_string()
}

/// Server time, as AppSync's `AWSDateTime` (RFC 3339, UTC, milliseconds).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An epoch-milliseconds time as an `AWSDateTime`.
pub fn time_at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl<S: ChatStore> ChatService<S> {
    pub fn new(store: S, tokens: PageTokens) -> Self {
        ChatService {
            store,
            tokens,
            publisher: Unpublished,
            typing: std::sync::Arc::new(crate::presence::Throttle::new(limits::TYPING_INTERVAL_MS)),
        }
    }
}

impl<S, P> ChatService<S, P> {
    /// The same use-cases, pushing what they write through `publisher`.
    pub fn with_publisher<Q: Publisher>(self, publisher: Q) -> ChatService<S, Q> {
        ChatService {
            store: self.store,
            tokens: self.tokens,
            publisher,
            typing: self.typing,
        }
    }
}

/// The use-cases that write: each pushes its new rows to their subscribers
/// before it returns.
impl<S: ChatStore, P: Publisher> ChatService<S, P> {
    /// Creates the caller's own profile. Idempotent: a caller who has a profile
    /// with this username gets it back.
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn create_user(&self, caller: &Caller, username: &str) -> Result<User> {
        let username = limits::username(username)?;
        let id = limits::id("caller id", &caller.id)?;
        if let Some(existing) = self.store.get_user(&id).await? {
            return same_username(existing, &username);
        }
        let now = now();
        let user = User {
            id,
            username,
            created_at: now.clone(),
            updated_at: now,
            online: false,
            last_seen_at: None,
        };
        match self.store.create_user(&user).await? {
            CreateUserOutcome::Created => {
                self.push(Change::User(&user)).await;
                Ok(user)
            }
            CreateUserOutcome::UsernameTaken => Err(Error::Conflict(format!(
                "username {:?} is taken",
                user.username
            ))),
            // A concurrent retry of the same request won the race.
            CreateUserOutcome::IdTaken => match self.store.get_user(&user.id).await? {
                Some(existing) => same_username(existing, &user.username),
                None => Err(Error::Conflict("profile is being created; retry".into())),
            },
        }
    }

    /// Creates a conversation with the caller and `members`, and every
    /// member's link, in one transaction.
    #[instrument(skip(self, members), fields(caller = %caller.id, members = members.len()))]
    pub async fn create_convo(
        &self,
        caller: &Caller,
        name: &str,
        members: &[String],
    ) -> Result<(Conversation, Vec<ConvoLink>)> {
        let name = limits::convo_name(name)?;
        let mut ids = vec![limits::id("caller id", &caller.id)?];
        let mut seen: BTreeSet<String> = ids.iter().cloned().collect();
        for m in members {
            let m = limits::id("members", m)?;
            if seen.insert(m.clone()) {
                ids.push(m);
            }
        }
        if ids.len() > limits::MAX_INITIAL_MEMBERS {
            return Err(Error::validation(format!(
                "createConvo takes at most {} members, the caller included (got {}); add more with createConvoLink",
                limits::MAX_INITIAL_MEMBERS,
                ids.len()
            )));
        }
        let found = self.store.batch_get(&ids, &[]).await?;
        let found: BTreeSet<&str> = found.users.iter().map(|u| u.id.as_str()).collect();
        if !found.contains(caller.id.as_str()) {
            return Err(Error::NotFound(
                "you have no profile yet: call createUser first".into(),
            ));
        }
        if let Some(missing) = ids.iter().find(|id| !found.contains(id.as_str())) {
            return Err(Error::NotFound(format!("no user with id {missing:?}")));
        }
        let now = now();
        let convo = Conversation {
            id: Ulid::new().to_string(),
            name,
            owners: vec![caller.id.clone()],
            members: ids,
            created_at: now.clone(),
            updated_at: now.clone(),
            rev: 0,
            activity_at: None,
        };
        let links: Vec<ConvoLink> = convo
            .members
            .iter()
            .map(|m| ConvoLink::new(&convo.id, m, &now))
            .collect();
        self.store.create_conversation(&convo, &links).await?;
        futures::future::join_all(links.iter().map(|l| self.push(Change::Link(l)))).await;
        Ok((convo, links))
    }

    /// Adds a member (by default the caller) to a conversation the caller is in.
    /// Idempotent: adding a member again returns the existing link.
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn create_convo_link(
        &self,
        caller: &Caller,
        conversation_id: &str,
        user_id: Option<&str>,
        sel: &LinkSel,
    ) -> Result<LinkView> {
        let conversation_id = limits::id("convoLinkConversationId", conversation_id)?;
        let user_id = limits::id("convoLinkUserId", user_id.unwrap_or(&caller.id))?;
        let link = if user_id == caller.id {
            // Nobody can join on their own: this only confirms a membership.
            self.existing_link(&caller.id, &conversation_id).await?
        } else {
            let now = now();
            let link = ConvoLink::new(&conversation_id, &user_id, &now);
            match self
                .store
                .add_member(&caller.id, &link, limits::MAX_MEMBERS)
                .await?
            {
                AddMemberOutcome::Added => {
                    let joined = MemberChange {
                        kind: MemberChangeKind::Joined,
                        conversation_id: conversation_id.clone(),
                        user_id: user_id.clone(),
                        by: caller.id.clone(),
                    };
                    futures::join!(
                        self.push(Change::Link(&link)),
                        self.push(Change::Member(&joined))
                    );
                    link
                }
                AddMemberOutcome::AlreadyMember => {
                    self.existing_link(&user_id, &conversation_id).await?
                }
                AddMemberOutcome::CallerNotMember => return Err(Error::not_member()),
                AddMemberOutcome::UserMissing => {
                    return Err(Error::NotFound(format!("no user with id {user_id:?}")))
                }
                AddMemberOutcome::Full => {
                    return Err(Error::LimitExceeded(format!(
                        "the conversation has the maximum of {} members",
                        limits::MAX_MEMBERS
                    )))
                }
            }
        };
        self.expand_link(caller, link, sel).await
    }

    async fn existing_link(&self, user_id: &str, conversation_id: &str) -> Result<ConvoLink> {
        match self
            .store
            .membership(user_id, conversation_id, false)
            .await?
        {
            (Some(link), _) => Ok(link),
            (None, _) => Err(Error::not_member()),
        }
    }

    /// Posts a message as the caller. Idempotent on the client's `id`: a retry
    /// returns the stored message and writes nothing.
    #[instrument(skip(self, input, sel), fields(caller = %caller.id, conversation = %input.conversation_id))]
    pub async fn create_message(
        &self,
        caller: &Caller,
        input: NewMessage,
        sel: &MessageSel,
    ) -> Result<MessageView> {
        let content = limits::content(&input.content)?;
        let conversation_id = limits::id("messageConversationId", &input.conversation_id)?;
        let client_id = input
            .id
            .as_deref()
            .map(|id| limits::id("id", id))
            .transpose()?;
        if let Some(author) = input.author_id.as_deref() {
            if author != caller.id {
                return Err(Error::Unauthorized(
                    "authorId must be the caller's own id".into(),
                ));
            }
        }
        // The conversation comes with the membership (one request): its
        // members' inboxes move it up.
        let (link, convo) = self
            .store
            .membership(&caller.id, &conversation_id, true)
            .await?;
        let (Some(_), Some(convo)) = (link, convo) else {
            return Err(Error::not_member());
        };
        // Taken just before the write: see [`CHANGE_SETTLE_MS`].
        let seq = next_seq();
        let now = now();
        let change = MessageChange {
            kind: ChangeKind::Created,
            conversation_id: conversation_id.clone(),
            key: seq.clone(),
            message: Message {
                id: client_id.unwrap_or_else(|| seq.clone()),
                message_conversation_id: conversation_id.clone(),
                author_id: caller.id.clone(),
                content,
                seq,
                created_at: now.clone(),
                updated_at: now,
                edited_at: None,
                deleted_at: None,
                version: 1,
                reactions: Vec::new(),
            },
        };
        let lease = now_ms() + PUSH_LEASE_MS;
        let message = match self.store.put_message(&change, lease).await? {
            PutMessageOutcome::Created => {
                let (pushed, ()) = futures::join!(
                    self.push_message(&change, lease),
                    self.after_post(&convo, &change.message)
                );
                pushed?;
                change.message
            }
            PutMessageOutcome::Exists(original, push) if original.author_id == caller.id => {
                // A retry. Subscribers get the message once: only a push its
                // writer never finished, and whose hold ran out, is taken
                // over and made here.
                if let PushState::Pending(held_until) = push {
                    if held_until <= now_ms()
                        && self.store.take_push(&original, held_until, lease).await?
                    {
                        let retried = MessageChange {
                            kind: ChangeKind::Created,
                            conversation_id: conversation_id.clone(),
                            key: original.seq.clone(),
                            message: (*original).clone(),
                        };
                        self.push_message(&retried, lease).await?;
                    }
                }
                *original
            }
            PutMessageOutcome::Exists(..) => {
                return Err(Error::Conflict(
                    "this message id is already used in this conversation".into(),
                ))
            }
        };
        let known = Known::default().with_conversation(convo);
        self.expand_message(caller, known, message, sel).await
    }

    /// What a new message does besides its push: its conversation moves up
    /// in its members' inboxes (its author's read marker moved with the
    /// message's write). Failing does not lose the message; it is logged.
    async fn after_post(&self, convo: &Conversation, message: &Message) {
        if let Err(err) = self
            .store
            .bump_activity(convo, &message.seq, limits::ACTIVITY_WINDOW_MS)
            .await
        {
            tracing::warn!(error = %crate::Chain(&err), "message stored, inboxes not moved");
        }
    }

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

    /// Edits the caller's own message: a new content, `editedAt` set, the
    /// same id and place in the history. Editing it to what it says already
    /// changes and pushes nothing (a retry). No time limit: an author may
    /// fix a typo in any message of theirs that is not deleted.
    #[instrument(skip(self, input, sel), fields(caller = %caller.id))]
    pub async fn update_message(
        &self,
        caller: &Caller,
        input: MessageEdit,
        sel: &MessageSel,
    ) -> Result<MessageView> {
        let content = limits::content(&input.content)?;
        self.change_own_message(
            caller,
            &input.conversation_id,
            &input.id,
            sel,
            true,
            |message| {
                if message.deleted_at.is_some() {
                    return Err(Error::Conflict("a deleted message cannot be edited".into()));
                }
                if message.content == content {
                    return Ok(None);
                }
                let now = now();
                Ok(Some((
                    ChangeKind::Edited,
                    Message {
                        content: content.clone(),
                        edited_at: Some(now.clone()),
                        updated_at: now,
                        version: message.version + 1,
                        ..message.clone()
                    },
                )))
            },
        )
        .await
    }

    /// Deletes the caller's own message, leaving a tombstone: the id and
    /// place in the history stay, the content goes, `deletedAt` is set.
    /// Deleting a tombstone changes and pushes nothing (a retry).
    #[instrument(skip(self, input, sel), fields(caller = %caller.id))]
    pub async fn delete_message(
        &self,
        caller: &Caller,
        input: MessageRef,
        sel: &MessageSel,
    ) -> Result<MessageView> {
        self.change_own_message(
            caller,
            &input.conversation_id,
            &input.id,
            sel,
            true,
            |message| {
                if message.deleted_at.is_some() {
                    return Ok(None);
                }
                let now = now();
                Ok(Some((
                    ChangeKind::Deleted,
                    Message {
                        content: String::new(),
                        reactions: Vec::new(),
                        deleted_at: Some(now.clone()),
                        updated_at: now,
                        version: message.version + 1,
                        ..message.clone()
                    },
                )))
            },
        )
        .await
    }

    /// Puts the caller's reaction on a message of a conversation they
    /// belong to (`add`), or takes it off. Idempotent: a reaction the caller
    /// has put already, or has not, changes and pushes nothing. A message
    /// holds at most [`limits::MAX_REACTION_KINDS`] different reactions, and
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
        self.change_own_message(caller, &target.conversation_id, &target.id, sel, false, |message| {
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

    /// Applies `change` (given the stored message: the new state, or `None`
    /// for no change) to a message in a conversation the caller belongs to
    /// (and wrote, when `author_only`), logs it, and pushes it.
    async fn change_own_message(
        &self,
        caller: &Caller,
        conversation_id: &str,
        message_id: &str,
        sel: &MessageSel,
        author_only: bool,
        change: impl Fn(&Message) -> Result<Option<(ChangeKind, Message)>>,
    ) -> Result<MessageView> {
        let conversation_id = limits::id("messageConversationId", conversation_id)?;
        let message_id = limits::id("id", message_id)?;
        let mut attempts = 0;
        let (convo, message) = loop {
            let (link, convo, message) = self
                .store
                .message_context(&caller.id, &conversation_id, &message_id)
                .await?;
            let (Some(_), Some(convo)) = (link, convo) else {
                return Err(Error::not_member());
            };
            let message = message
                .ok_or_else(|| Error::NotFound("no such message in this conversation".into()))?;
            if author_only && message.author_id != caller.id {
                return Err(Error::Unauthorized(
                    "only its author can change a message".into(),
                ));
            }
            let Some((kind, changed)) = change(&message)? else {
                break (convo, message);
            };
            let entry = MessageChange {
                kind,
                conversation_id: conversation_id.clone(),
                // Taken just before the write: see [`CHANGE_SETTLE_MS`].
                key: next_seq(),
                message: changed,
            };
            match self.store.change_message(&entry).await? {
                ChangeOutcome::Changed => {
                    self.push(Change::Message(&entry)).await;
                    break (convo, entry.message);
                }
                ChangeOutcome::Moved => {
                    attempts += 1;
                    contended(attempts)?;
                }
            }
        };
        let known = Known::default().with_conversation(convo);
        self.expand_message(caller, known, message, sel).await
    }

    /// The caller leaves a conversation. Their live subscriptions to it end
    /// before this returns, and the members see it pushed. The last owner
    /// cannot leave while others remain: they promote someone first.
    /// Leaving a conversation one is not in changes nothing (a retry).
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn leave_convo(
        &self,
        caller: &Caller,
        conversation_id: &str,
    ) -> Result<MemberChange> {
        let conversation_id = limits::id("conversationId", conversation_id)?;
        let change = MemberChange {
            kind: MemberChangeKind::Left,
            conversation_id,
            user_id: caller.id.clone(),
            by: caller.id.clone(),
        };
        self.change_membership(caller, &change, |convo| {
            if !convo.members.contains(&caller.id) {
                return Ok(None);
            }
            if convo.owners == [caller.id.clone()] && convo.members.len() > 1 {
                return Err(Error::Conflict(
                    "you are the last owner: promote another member (promoteMember) before you leave".into(),
                ));
            }
            Ok(Some((without(&convo.members, &caller.id), without(&convo.owners, &caller.id))))
        })
        .await
    }

    /// An owner removes a member who is not an owner. The member's live
    /// subscriptions to the conversation end before this returns, and the
    /// members see it pushed. Removing someone who is not a member changes
    /// nothing (a retry).
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn remove_member(
        &self,
        caller: &Caller,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<MemberChange> {
        let conversation_id = limits::id("conversationId", conversation_id)?;
        let user_id = limits::id("userId", user_id)?;
        if user_id == caller.id {
            return Err(Error::validation("to remove yourself, use leaveConvo"));
        }
        let change = MemberChange {
            kind: MemberChangeKind::Removed,
            conversation_id,
            user_id: user_id.clone(),
            by: caller.id.clone(),
        };
        self.change_membership(caller, &change, |convo| {
            owner_only(convo, caller, "remove members")?;
            if !convo.members.contains(&user_id) {
                return Ok(None);
            }
            if convo.owners.contains(&user_id) {
                return Err(Error::Unauthorized(
                    "an owner cannot be removed; an owner can leave".into(),
                ));
            }
            Ok(Some((
                without(&convo.members, &user_id),
                convo.owners.clone(),
            )))
        })
        .await
    }

    /// An owner makes another member an owner too. Promoting an owner
    /// changes nothing (a retry).
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn promote_member(
        &self,
        caller: &Caller,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<MemberChange> {
        let conversation_id = limits::id("conversationId", conversation_id)?;
        let user_id = limits::id("userId", user_id)?;
        let change = MemberChange {
            kind: MemberChangeKind::Promoted,
            conversation_id,
            user_id: user_id.clone(),
            by: caller.id.clone(),
        };
        self.change_membership(caller, &change, |convo| {
            owner_only(convo, caller, "promote members")?;
            if !convo.members.contains(&user_id) {
                return Err(Error::NotFound(format!(
                    "{user_id:?} is not a member of this conversation"
                )));
            }
            if convo.owners.contains(&user_id) {
                return Ok(None);
            }
            let mut owners = convo.owners.clone();
            owners.push(user_id.clone());
            Ok(Some((convo.members.clone(), owners)))
        })
        .await
    }

    /// Applies a membership change computed by `next` from the conversation
    /// as read (new members and owners, or `None` for no change), over that
    /// read, then pushes it and ends the live subscriptions of whoever is no
    /// longer a member. A caller who is not a member learns nothing of the
    /// conversation: leaving answers as if done, the rest are refused.
    async fn change_membership(
        &self,
        caller: &Caller,
        change: &MemberChange,
        next: impl Fn(&Conversation) -> Result<Option<(Vec<String>, Vec<String>)>>,
    ) -> Result<MemberChange> {
        let mut attempts = 0;
        loop {
            let (link, convo) = self
                .store
                .membership(&caller.id, &change.conversation_id, true)
                .await?;
            let (Some(_), Some(convo)) = (link, convo) else {
                return match change.kind {
                    MemberChangeKind::Left => self.settled(change).await,
                    _ => Err(Error::not_member()),
                };
            };
            let Some((members, owners)) = next(&convo)? else {
                return self.settled(change).await;
            };
            let leaving = (!members.contains(&change.user_id)).then_some(change.user_id.as_str());
            if self
                .store
                .change_members(&convo, &members, &owners, leaving)
                .await?
            {
                self.push(Change::Member(change)).await;
                if let Some(user) = leaving {
                    if let Err(err) = self.publisher.revoke(&change.conversation_id, user).await {
                        tracing::warn!(error = %crate::Chain(&err), "membership changed, but live subscriptions not ended");
                        return Err(err);
                    }
                }
                return Ok(change.clone());
            }
            attempts += 1;
            contended(attempts)?;
        }
    }

    /// A membership change that was made already (a retry): whoever is no
    /// longer a member has their live subscriptions ended again, in case
    /// the first attempt failed between its write and that.
    async fn settled(&self, change: &MemberChange) -> Result<MemberChange> {
        if matches!(
            change.kind,
            MemberChangeKind::Left | MemberChangeKind::Removed
        ) {
            self.publisher
                .revoke(&change.conversation_id, &change.user_id)
                .await?;
        }
        Ok(change.clone())
    }

    /// Pushes a new user or link. Its row is written whatever happens here: a
    /// failed lookup of subscribers loses only the live push, which a
    /// client's next read shows.
    async fn push(&self, change: Change<'_>) {
        if let Err(err) = self.publisher.publish(change).await {
            tracing::warn!(error = %crate::Chain(&err), "new row stored but not pushed");
        }
    }

    /// Pushes a message whose push this writer holds until `lease`, then
    /// records it done. When the subscribers cannot be read, nothing was
    /// posted: the hold is handed back so that the client's retry pushes.
    async fn push_message(&self, change: &MessageChange, lease: i64) -> Result<()> {
        let message = &change.message;
        match self.publisher.publish(Change::Message(change)).await {
            Ok(pushed) => {
                tracing::debug!(
                    sent = pushed.sent,
                    gone = pushed.gone,
                    failed = pushed.failed,
                    relayed = pushed.relayed,
                    "pushed"
                );
                if pushed.reached_nobody() {
                    // Nobody was subscribed, so nobody can get it twice: a
                    // retry after the hold posts it to whoever is subscribed
                    // then, a first copy for each, and records that push.
                    // A conversation with every member offline saves a write
                    // per message.
                    return Ok(());
                }
                if let Err(err) = self.store.finish_push(message).await {
                    // Posted already, and the client gets its answer, so it
                    // has no reason to retry; one that retried after the hold
                    // ran out would have it posted again.
                    tracing::warn!(error = %crate::Chain(&err), "pushed, but the push is not recorded done");
                }
                Ok(())
            }
            Err(err) => {
                if let Err(hand_back) = self.store.take_push(message, lease, 0).await {
                    tracing::warn!(error = %crate::Chain(&hand_back), "could not hand the push back; a retry takes it after the hold");
                }
                Err(err)
            }
        }
    }
}

/// The use-cases that read. Each reads its root object, then whatever the
/// request selects below it (see [`crate::graph`]).
impl<S: ChatStore, P: Send + Sync> ChatService<S, P> {
    /// Any signed-in user can read a profile; only its owner can read its
    /// conversations (another user's are refused at their path).
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn get_user(
        &self,
        caller: &Caller,
        id: &str,
        sel: &UserSel,
    ) -> Result<Option<UserView>> {
        let id = limits::id("id", id)?;
        match self.store.get_user(&id).await? {
            Some(user) => Ok(Some(self.expand_user(caller, user, sel).await?)),
            None => Ok(None),
        }
    }

    /// A conversation, for its members only, with what is selected below it.
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn get_convo(
        &self,
        caller: &Caller,
        id: &str,
        sel: &ConvoSel,
    ) -> Result<ConversationView> {
        let id = limits::id("id", id)?;
        let (link, convo) = self.store.membership(&caller.id, &id, true).await?;
        if link.is_none() {
            return Err(Error::not_member());
        }
        let convo = convo.ok_or_else(|| Error::NotFound("no such conversation".into()))?;
        self.expand_conversation(caller, convo, sel).await
    }

    /// Users ordered by username. Any signed-in user may list them (to start a
    /// conversation, as Chatt does).
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn list_users(
        &self,
        caller: &Caller,
        page: PageRequest,
        sel: &UserSel,
    ) -> Result<Page<UserView>> {
        let query = self.tokens.open(&Scope::Users, &page, "limit")?;
        let (users, cursor) = self.store.list_users(&query).await?;
        Ok(Page {
            items: self.expand_users(caller, users, sel).await?,
            next_token: cursor.map(|c| self.tokens.seal(&Scope::Users, &c)),
        })
    }

    /// The caller's own profile, or `None` before `createUser`.
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn me(&self, caller: &Caller, sel: &UserSel) -> Result<Option<UserView>> {
        match self.store.get_user(&caller.id).await? {
            Some(user) => Ok(Some(self.expand_user(caller, user, sel).await?)),
            None => Ok(None),
        }
    }

    /// ChatQL's history: newest first, `first` at a time, resuming `after`.
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn message_history(
        &self,
        caller: &Caller,
        conversation_id: &str,
        page: PageRequest,
        sel: &MessageSel,
    ) -> Result<Page<MessageView>> {
        let id = limits::id("conversationId", conversation_id)?;
        let scope = Scope::Messages(&id, SortDirection::Desc);
        let query = self.tokens.open(&scope, &page, "first")?;
        let (link, convo) = self
            .store
            .membership(&caller.id, &id, sel.conversation.is_some())
            .await?;
        if link.is_none() {
            return Err(Error::not_member());
        }
        let (messages, cursor) = self
            .store
            .messages(&id, &query, SortDirection::Desc)
            .await?;
        let known = convo.map_or_else(Known::default, |c| Known::default().with_conversation(c));
        Ok(Page {
            next_token: cursor.map(|c| self.tokens.seal(&scope, &c)),
            items: self.expand_messages(caller, known, messages, sel).await?,
        })
    }
}

/// A page of a conversation's change log (`messageChanges`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangePage {
    pub items: Vec<ChangeView>,
    /// Where to catch up from next time.
    pub cursor: String,
    /// When the page is full: pass it as `after` to read on.
    pub next_token: Option<String>,
}

/// One change, with what is selected below its message.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeView {
    pub kind: ChangeKind,
    pub conversation_id: String,
    pub message: MessageView,
}

/// Where a `messageChanges` read starts: after `from`, with the cursor it
/// hands back kept at or before `cap`. Sealed into the cursors and tokens
/// the pages hand out, under the conversation's [`Scope::Changes`], so a
/// client can only resume where a page of the same conversation left off.
#[derive(serde::Serialize, serde::Deserialize)]
struct ChangeRead {
    from: String,
    /// A cursor has none: its read is capped at the settled key of the time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cap: Option<String>,
}

const NOT_A_CURSOR: &str =
    "after must be a cursor or nextToken that messageChanges returned for this conversation";

impl<S, P> ChatService<S, P> {
    /// Hands out `read` as a cursor or token of `conversation_id`'s log.
    fn seal_read(&self, conversation_id: &str, read: &ChangeRead) -> String {
        let value = serde_json::to_value(read).expect("a ChangeRead always serializes");
        self.tokens.seal(&Scope::Changes(conversation_id), &value)
    }

    /// `after` is a cursor or a page's `nextToken`: a read that goes on
    /// over several pages keeps the cap of its first, so its cursor never
    /// passes a change that commits while it reads.
    fn open_read(&self, conversation_id: &str, after: &str, settled: &str) -> Result<ChangeRead> {
        let sealed =
            self.tokens
                .verify_as(&Scope::Changes(conversation_id), after, NOT_A_CURSOR)?;
        let read: ChangeRead =
            serde_json::from_value(sealed).map_err(|_| Error::validation(NOT_A_CURSOR))?;
        let cap = read
            .cap
            .map_or_else(|| settled.to_string(), |cap| cap.min(settled.to_string()));
        Ok(ChangeRead {
            from: read.from,
            cap: Some(cap),
        })
    }
}

impl<S: ChatStore, P: Send + Sync> ChatService<S, P> {
    /// What changed in a conversation after `after` (a cursor or nextToken
    /// an earlier page gave), oldest first: which messages were created,
    /// edited, deleted or reacted to, each as it stands now. Without
    /// `after`: no changes, and the cursor to start from, for a client
    /// about to read the history.
    ///
    /// Each entry carries the message as the read finds it, not as the
    /// change left it: a message deleted since reads as its tombstone in
    /// every entry it has, and an edited one in its latest version, so
    /// catching up never brings back what its author took away.
    ///
    /// A cursor never passes [`CHANGE_SETTLE_MS`] ago, so a change that
    /// commits after a page was read, with a key older than the page's
    /// newest, still comes in the next read; a change can therefore come
    /// twice, and a client keeps the higher `version` of a message.
    #[instrument(skip(self, after, sel), fields(caller = %caller.id))]
    pub async fn message_changes(
        &self,
        caller: &Caller,
        conversation_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
        sel: &MessageSel,
    ) -> Result<ChangePage> {
        let id = limits::id("conversationId", conversation_id)?;
        let limit = limits::page_size("limit", limit)?;
        // Taken before the read: what it covers was committed by then.
        let settled = settled_key();
        let Some(read) = after
            .map(|a| self.open_read(&id, a, &settled))
            .transpose()?
        else {
            let (link, _) = self.store.membership(&caller.id, &id, false).await?;
            if link.is_none() {
                return Err(Error::not_member());
            }
            return Ok(ChangePage {
                items: Vec::new(),
                cursor: self.seal_read(
                    &id,
                    &ChangeRead {
                        from: settled,
                        cap: None,
                    },
                ),
                next_token: None,
            });
        };
        let cap = read.cap.unwrap_or(settled);
        let changes = self.store.changes(&id, &read.from, limit).await?;
        // The messages as they are now, with the membership, in one read
        // after the log's: a delete or a removal that commits before it is
        // seen.
        let ids: Vec<String> = changes
            .iter()
            .map(|c| c.message.id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let (link, convo, current) = self
            .store
            .messages_context(&caller.id, &id, &ids, sel.conversation.is_some())
            .await?;
        if link.is_none() {
            return Err(Error::not_member());
        }
        let (cursor, next_token) = match changes.last() {
            Some(last) if changes.len() == limit as usize => (
                ChangeRead {
                    from: last.key.clone().min(cap.clone()),
                    cap: None,
                },
                Some(ChangeRead {
                    from: last.key.clone(),
                    cap: Some(cap),
                }),
            ),
            // The end of the log: everything up to the cap has been read.
            _ => (
                ChangeRead {
                    from: cap,
                    cap: None,
                },
                None,
            ),
        };
        let now: std::collections::HashMap<&str, &Message> =
            current.iter().map(|m| (m.id.as_str(), m)).collect();
        let (meta, messages): (Vec<_>, Vec<_>) = changes
            .into_iter()
            .filter_map(|c| {
                // A log entry is written with its message, which is never
                // removed: one missing is skipped, never shown as logged.
                let message = now.get(c.message.id.as_str())?;
                Some(((c.kind, c.conversation_id), Message::clone(message)))
            })
            .unzip();
        let known = convo.map_or_else(Known::default, |c| Known::default().with_conversation(c));
        let views = self.expand_messages(caller, known, messages, sel).await?;
        Ok(ChangePage {
            items: meta
                .into_iter()
                .zip(views)
                .map(|((kind, conversation_id), message)| ChangeView {
                    kind,
                    conversation_id,
                    message,
                })
                .collect(),
            cursor: self.seal_read(&id, &cursor),
            next_token: next_token.map(|t| self.seal_read(&id, &t)),
        })
    }
}

/// One conversation in a user's inbox.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxEntry {
    pub conversation_id: String,
    pub name: String,
    pub members: Vec<String>,
    pub owners: Vec<String>,
    /// Its newest message (a tombstone when deleted), if any.
    pub last_message: Option<MessageView>,
    /// Messages by others after the caller's read marker, not deleted, up
    /// to [`limits::MAX_UNREAD_COUNT`].
    pub unread_count: usize,
    /// Whether there are more unread than `unread_count` says ("99+").
    pub more_unread: bool,
    /// The last message the caller read.
    pub last_read_message_id: Option<String>,
}

/// A page of an inbox.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxPage {
    pub items: Vec<InboxEntry>,
    pub next_token: Option<String>,
}

impl<S: ChatStore, P: Send + Sync> ChatService<S, P> {
    /// The caller's conversations, most recently active first, each with
    /// its newest message and the caller's unread count. A page of n costs
    /// 2 + 2n requests, whatever the conversations' lengths: the links by
    /// activity, their conversations in one batch, then per conversation
    /// its newest message and its unread count (concurrently).
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn inbox(
        &self,
        caller: &Caller,
        page: PageRequest,
        sel: &MessageSel,
    ) -> Result<InboxPage> {
        let page = PageRequest {
            limit: Some(i64::from(limits::inbox_page_size(page.limit)?)),
            ..page
        };
        let scope = Scope::Inbox(&caller.id);
        let query = self.tokens.open(&scope, &page, "limit")?;
        let (links, cursor) = self.store.inbox(&caller.id, &query).await?;
        let ids: Vec<String> = links
            .iter()
            .map(|l| l.convo_link_conversation_id.clone())
            .collect();
        let convos = if ids.is_empty() {
            Vec::new()
        } else {
            self.store.batch_get(&[], &ids).await?.conversations
        };
        let reads = links.iter().map(|link| async move {
            let convo = &link.convo_link_conversation_id;
            let after = link.last_read.as_ref().map(|(seq, _)| seq.as_str());
            futures::try_join!(
                self.store.latest_message(convo),
                self.store
                    .count_unread(convo, &caller.id, after, limits::MAX_UNREAD_COUNT)
            )
        });
        let read = futures::future::try_join_all(reads).await?;
        let mut known = Known::default();
        for convo in &convos {
            known = known.with_conversation(convo.clone());
        }
        let latest: Vec<Message> = read.iter().filter_map(|(m, _)| m.clone()).collect();
        let mut previews = self
            .expand_messages(caller, known, latest, sel)
            .await?
            .into_iter();
        let mut items = Vec::with_capacity(links.len());
        for (link, (latest, unread)) in links.iter().zip(read) {
            // The index is exact to within `ACTIVITY_WINDOW_MS`; the newest
            // message, just read, is exact, so it orders the page.
            let active = std::cmp::max(
                link.activity.clone(),
                latest.as_ref().map(|m| m.seq.clone()),
            );
            // Previews come in the order of the links that have one.
            let last_message = latest.and_then(|_| previews.next());
            let Some(convo) = convos
                .iter()
                .find(|c| c.id == link.convo_link_conversation_id)
            else {
                continue;
            };
            items.push((
                active,
                InboxEntry {
                    conversation_id: convo.id.clone(),
                    name: convo.name.clone(),
                    members: convo.members.clone(),
                    owners: convo.owners.clone(),
                    last_message,
                    unread_count: unread.min(limits::MAX_UNREAD_COUNT),
                    more_unread: unread > limits::MAX_UNREAD_COUNT,
                    last_read_message_id: link.last_read.as_ref().map(|(_, id)| id.clone()),
                },
            ));
        }
        // Stable: entries equally recent keep the index's order.
        items.sort_by(|a, b| b.0.cmp(&a.0));
        Ok(InboxPage {
            items: items.into_iter().map(|(_, entry)| entry).collect(),
            next_token: cursor.map(|c| self.tokens.seal(&scope, &c)),
        })
    }
}

fn same_username(existing: User, asked: &str) -> Result<User> {
    if existing.username == asked {
        Ok(existing)
    } else {
        Err(Error::Conflict(format!(
            "you already have a profile, with username {:?}",
            existing.username
        )))
    }
}
