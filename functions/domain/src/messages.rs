//! Messages: `createMessage` (idempotent on a client id, pushed by its
//! writer under a lease), `updateMessage` and `deleteMessage` (tombstones)
//! by their author, and the history (`allMessageConnection`).

use tracing::instrument;

use crate::clock::{next_seq, now, now_ms};
use crate::error::{Error, Result};
use crate::graph::{Known, MessageSel, MessageView};
use crate::lease::push_lease;
use crate::limits;
use crate::model::{Caller, ChangeKind, Conversation, Message, MessageChange};
use crate::page::{Page, PageRequest, Scope, SortDirection};
use crate::ports::{Change, ChangeOutcome, ChatStore, Publisher, PushState, PutMessageOutcome};
use crate::rates::Action;
use crate::service::{contended, ChatService};

/// `createMessage`'s input, as the client sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMessage {
    pub id: Option<String>,
    pub content: String,
    pub conversation_id: String,
    pub author_id: Option<String>,
    /// Upload ids to attach (see [`crate::uploads`]).
    pub attachments: Vec<String>,
}

/// `message` as a tombstone, one version on: no content, reactions,
/// mentions or files; its id and place kept; deleted now, or when its
/// author deleted it already; made by a moderator when `by_moderator`.
pub(crate) fn tombstone(message: &Message, by_moderator: bool) -> Message {
    let now = now();
    Message {
        content: String::new(),
        reactions: Vec::new(),
        mentions: Vec::new(),
        attachments: Vec::new(),
        deleted_at: Some(message.deleted_at.clone().unwrap_or_else(|| now.clone())),
        removed_by_moderator: message.removed_by_moderator || by_moderator,
        updated_at: now,
        version: message.version + 1,
        ..message.clone()
    }
}

/// Who may change a message through [`ChatService::change_own_message`].
pub(crate) enum Editor<'a> {
    /// Any member of its conversation (a reaction).
    Member,
    /// Its author (an edit, a delete).
    Author,
    /// A moderator, member or not, whose change is logged (a removal).
    Moderator(crate::moderation::Removal<'a>),
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

/// Writing messages.
impl<S: ChatStore, P: Publisher> ChatService<S, P> {
    /// Posts a message as the caller. Idempotent on the client's `id`: a retry
    /// returns the stored message and writes nothing.
    #[instrument(skip(self, input, sel), fields(caller = %caller.id, conversation = %input.conversation_id))]
    pub async fn create_message(
        &self,
        caller: &Caller,
        input: NewMessage,
        sel: &MessageSel,
    ) -> Result<MessageView> {
        let attachment_ids = limits::attachments(&input.attachments)?;
        let content = limits::content_with(&input.content, !attachment_ids.is_empty())?;
        let content = self.filter.apply(&content)?;
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
        // The caller's count is taken beside the read: both come before
        // any write.
        // So are those who block the caller, whom its push leaves out.
        let (membership, counted, blockers) = futures::join!(
            self.store.membership(&caller.id, &conversation_id, true),
            self.take_rate(caller, Action::Message, 1),
            self.store.blockers_of(&caller.id)
        );
        let (Some(_), Some(convo)) = membership? else {
            return Err(Error::not_member());
        };
        counted?;
        let blockers = blockers?;
        // Taken just before the write: see [`crate::changes::CHANGE_SETTLE_MS`].
        let mut seq = next_seq();
        let id = client_id.unwrap_or_else(|| seq.clone());
        let mentions = self.mentions(&content, &convo, &caller.id).await?;
        let mut attempts = 0;
        let message = loop {
            let attachments = self
                .attachments_for(caller, &conversation_id, &id, &attachment_ids)
                .await?;
            let now = now();
            let change =
                MessageChange::created(&conversation_id, &id, &caller.id, &content, &seq, &now)
                    .with_mentions(mentions.clone())
                    .with_attachments(attachments);
            let lease = push_lease();
            match self.store.put_message(&change, lease).await? {
                PutMessageOutcome::Created => {
                    let mut pushed = change;
                    pushed.hidden_from = blockers;
                    self.sign_attachments(std::slice::from_mut(&mut pushed.message))
                        .await?;
                    let (pushed_result, ()) = futures::join!(
                        self.push_message(&pushed, lease),
                        self.after_post(&convo, &pushed.message)
                    );
                    pushed_result?;
                    break pushed.message;
                }
                PutMessageOutcome::Exists(original, push) if original.author_id == caller.id => {
                    // A retry. Subscribers get the message once: only a push its
                    // writer never finished, and whose hold ran out, is taken
                    // over and made here.
                    if let PushState::Pending(held_until) = push {
                        if held_until <= now_ms()
                            && self.store.take_push(&original, held_until, lease).await?
                        {
                            let mut retried = MessageChange {
                                kind: ChangeKind::Created,
                                conversation_id: conversation_id.clone(),
                                key: original.seq.clone(),
                                message: (*original).clone(),
                                hidden_from: blockers,
                            };
                            self.sign_attachments(std::slice::from_mut(&mut retried.message))
                                .await?;
                            self.push_message(&retried, lease).await?;
                        }
                    }
                    break *original;
                }
                PutMessageOutcome::Exists(..) => {
                    return Err(Error::Conflict(
                        "this message id is already used in this conversation".into(),
                    ))
                }
                PutMessageOutcome::UploadsMoved => {
                    // An upload's processing ended, or another message took
                    // it, between the read and the write: read them again.
                    attempts += 1;
                    contended(attempts)?;
                    seq = next_seq();
                }
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
        let content = self.filter.apply(&limits::content(&input.content)?)?;
        let named = self.named_users(&content).await?;
        // By their links: the conversation is read below, with the message.
        let named = self
            .named_members(&input.conversation_id, None, named)
            .await?;
        self.change_own_message(
            caller,
            &input.conversation_id,
            &input.id,
            sel,
            Editor::Author,
            |_, message| {
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
                        mentions: others(&named, &caller.id),
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
            Editor::Author,
            |_, message| {
                if message.deleted_at.is_some() {
                    return Ok(None);
                }
                Ok(Some((ChangeKind::Deleted, tombstone(message, false))))
            },
        )
        .await
    }

    /// Applies `change` (given the stored message: the new state, or `None`
    /// for no change) to a message the caller may change as `editor` says,
    /// logs it, and pushes it.
    pub(crate) async fn change_own_message(
        &self,
        caller: &Caller,
        conversation_id: &str,
        message_id: &str,
        sel: &MessageSel,
        editor: Editor<'_>,
        change: impl Fn(&Conversation, &Message) -> Result<Option<(ChangeKind, Message)>>,
    ) -> Result<MessageView> {
        let conversation_id = limits::id("messageConversationId", conversation_id)?;
        let message_id = limits::id("id", message_id)?;
        let mut attempts = 0;
        let (convo, message) = loop {
            let (link, convo, message) = self
                .store
                .message_context(&caller.id, &conversation_id, &message_id)
                .await?;
            let convo = match (link, convo, &editor) {
                (Some(_), Some(convo), _) | (_, Some(convo), Editor::Moderator(_)) => convo,
                (_, None, Editor::Moderator(_)) => {
                    return Err(Error::NotFound("no such conversation".into()))
                }
                _ => return Err(Error::not_member()),
            };
            let message = message
                .ok_or_else(|| Error::NotFound("no such message in this conversation".into()))?;
            if matches!(editor, Editor::Author) && message.author_id != caller.id {
                return Err(Error::Unauthorized(
                    "only its author can change a message".into(),
                ));
            }
            let Some((kind, changed)) = change(&convo, &message)? else {
                break (convo, message);
            };
            let entry = MessageChange {
                kind,
                conversation_id: conversation_id.clone(),
                // Taken just before the write: see [`crate::changes::CHANGE_SETTLE_MS`].
                key: next_seq(),
                message: changed,
                hidden_from: Vec::new(),
            };
            // Attachments the change takes off (a delete takes them all).
            let released: Vec<String> = message
                .attachments
                .iter()
                .filter(|a| !entry.message.attachments.iter().any(|b| b.id == a.id))
                .map(|a| a.id.clone())
                .collect();
            let outcome = match &editor {
                Editor::Moderator(removal) => {
                    let audit = removal.audit(caller, &message);
                    self.store
                        .remove_message(&entry, &released, &audit, removal.report_id)
                        .await?
                }
                _ => self.store.change_message(&entry, &released).await?,
            };
            match outcome {
                ChangeOutcome::Changed => {
                    let mut pushed = entry;
                    self.sign_attachments(std::slice::from_mut(&mut pushed.message))
                        .await?;
                    self.push_change(&mut pushed).await;
                    self.release_uploads(&released).await;
                    break (convo, pushed.message);
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

    /// Pushes a change of a message (an edit, a delete, a removal, an
    /// attachment processed), leaving out whoever blocks its author. It is
    /// stored already: should they not be read, nobody gets it live, and
    /// everyone gets it on catch-up.
    pub(crate) async fn push_change(&self, change: &mut MessageChange) {
        match self.store.blockers_of(&change.message.author_id).await {
            Ok(blockers) => {
                change.hidden_from = blockers;
                self.push(Change::Message(change)).await;
            }
            Err(err) => {
                tracing::warn!(error = %crate::Chain(&err), "change stored, not pushed: who blocks its author could not be read");
            }
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

/// Mentions.
impl<S: ChatStore, P: Send + Sync> ChatService<S, P> {
    /// The users `content`'s `@username`s name, as `(username, id)`: one
    /// batch read of their username claims, none when it names nobody.
    async fn named_users(&self, content: &str) -> Result<Vec<(String, String)>> {
        let names = limits::mentioned_usernames(content);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut owners = self.store.users_by_username(&names).await?;
        owners.sort_by_key(|(name, _)| names.iter().position(|n| n == name));
        Ok(owners)
    }

    /// The members of `convo` other than `author` whom `content` mentions.
    async fn mentions(
        &self,
        content: &str,
        convo: &Conversation,
        author: &str,
    ) -> Result<Vec<String>> {
        let named = self.named_users(content).await?;
        let named = self.named_members(&convo.id, Some(convo), named).await?;
        Ok(others(&named, author))
    }

    /// Of the users named, those who are members of the conversation: by
    /// `convo`'s list when it is whole, otherwise by their links. Naming
    /// anyone else is plain text, so a mention says nothing of who exists.
    async fn named_members(
        &self,
        conversation_id: &str,
        convo: Option<&Conversation>,
        named: Vec<(String, String)>,
    ) -> Result<Vec<String>> {
        let ids: Vec<String> = named.into_iter().map(|(_, id)| id).collect();
        if let Some(convo) = convo.filter(|c| c.lists_all()) {
            return Ok(ids
                .into_iter()
                .filter(|id| convo.members.contains(id))
                .collect());
        }
        if ids.is_empty() {
            return Ok(ids);
        }
        let links = self.store.links_of(conversation_id, &ids).await?;
        Ok(ids
            .into_iter()
            .filter(|id| links.iter().any(|l| l.convo_link_user_id == *id))
            .collect())
    }
}

/// `named` without the author: nobody mentions themselves.
fn others(named: &[String], author: &str) -> Vec<String> {
    named.iter().filter(|id| *id != author).cloned().collect()
}

/// Reading the history.
impl<S: ChatStore, P: Send + Sync> ChatService<S, P> {
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
        let (membership, hidden) = futures::join!(
            self.store
                .membership(&caller.id, &id, sel.conversation.is_some()),
            self.hidden_for(&caller.id)
        );
        let ((link, convo), hidden) = (membership?, hidden?);
        if link.is_none() {
            return Err(Error::not_member());
        }
        let (mut messages, cursor) = self
            .store
            .messages(&id, &query, SortDirection::Desc)
            .await?;
        // A page may come out shorter than asked; its token goes on.
        messages.retain(|m| !hidden.contains(&m.author_id));
        let known = convo.map_or_else(Known::default, |c| Known::default().with_conversation(c));
        Ok(Page {
            next_token: cursor.map(|c| self.tokens.seal(&scope, &c)),
            items: self.expand_messages(caller, known, messages, sel).await?,
        })
    }
}
