//! The walk: [`ChatService::expand_user`] and its siblings read a
//! selection level by level (see the module above), then assemble the
//! views from what they read.

use std::collections::{BTreeSet, HashMap, HashSet};

use futures::StreamExt;

use super::*;
use crate::error::{Error, Result};
use crate::model::{Caller, Conversation, ConvoLink, Message, User};
use crate::page::{Cursor, Page, PageQuery, PageRequest, Scope, SortDirection};
use crate::ports::ChatStore;
use crate::service::ChatService;

/// Selections are immutable while a walk runs, so a node's address names it.
fn node<T>(sel: &T) -> usize {
    sel as *const T as usize
}

/// One object of the current level, with what is selected below it.
enum Task<'s> {
    User(&'s UserSel, String),
    Convo(&'s ConvoSel, String),
    Message(&'s MessageSel, Message),
    Link(&'s LinkSel, ConvoLink),
}

/// One connection to read.
enum Read<'s> {
    UserLinks(&'s ListSel<LinkSel>, String),
    ConvoLinks(&'s ListSel<LinkSel>, String),
    Messages(&'s ListSel<MessageSel>, String),
}

type Links = (Vec<ConvoLink>, Option<Cursor>);
/// A connection's items and resume key as read, or its refusal.
type PageRead<'a, T> = std::result::Result<(&'a [T], Option<&'a Cursor>), &'a Refusal>;
type Messages = (Vec<Message>, Option<Cursor>, SortDirection);

/// What a walk has read, by id; connections by (selection node, parent id).
#[derive(Default)]
pub(crate) struct Known {
    /// Who the views are for (a message's reactions say whether they reacted).
    viewer: String,
    users: HashMap<String, Option<User>>,
    convos: HashMap<String, Option<Conversation>>,
    /// Conversations the viewer is known to be in, past what their lists
    /// say: the root's (each root checks its caller's link), and those of
    /// the viewer's own links read on the way.
    joined: HashSet<String>,
    links: HashMap<(usize, String), std::result::Result<Links, Refusal>>,
    messages: HashMap<(usize, String), std::result::Result<Messages, Refusal>>,
    /// The users the viewer blocks, read once per walk at the first level
    /// that reads messages.
    hidden: Option<Vec<String>>,
}

impl Known {
    /// A conversation the caller already holds and is a member of (the
    /// root's, say).
    pub(crate) fn with_conversation(mut self, convo: Conversation) -> Self {
        self.joined.insert(convo.id.clone());
        self.convos.insert(convo.id.clone(), Some(convo));
        self
    }
}

impl<S: ChatStore, P: Send + Sync> ChatService<S, P> {
    /// Reads everything `sel` selects below `user`.
    pub async fn expand_user(
        &self,
        caller: &Caller,
        user: User,
        sel: &UserSel,
    ) -> Result<UserView> {
        let mut known = Known::default();
        self.walk(caller, &mut known, vec![Task::User(sel, user.id.clone())])
            .await?;
        Ok(self.user_view(&known, user, sel))
    }

    /// Reads everything `sel` selects below each of `users`.
    pub async fn expand_users(
        &self,
        caller: &Caller,
        users: Vec<User>,
        sel: &UserSel,
    ) -> Result<Vec<UserView>> {
        let mut known = Known::default();
        let tasks = users
            .iter()
            .map(|u| Task::User(sel, u.id.clone()))
            .collect();
        self.walk(caller, &mut known, tasks).await?;
        Ok(users
            .into_iter()
            .map(|u| self.user_view(&known, u, sel))
            .collect())
    }

    /// Reads everything `sel` selects below `convo`.
    pub async fn expand_conversation(
        &self,
        caller: &Caller,
        convo: Conversation,
        sel: &ConvoSel,
    ) -> Result<ConversationView> {
        let mut known = Known::default().with_conversation(convo.clone());
        self.walk(caller, &mut known, vec![Task::Convo(sel, convo.id.clone())])
            .await?;
        Ok(self.convo_view(&known, convo, sel))
    }

    /// Reads everything `sel` selects below `message`; `known` may already
    /// hold its conversation.
    pub(crate) async fn expand_message(
        &self,
        caller: &Caller,
        mut known: Known,
        mut message: Message,
        sel: &MessageSel,
    ) -> Result<MessageView> {
        self.sign_attachments(std::slice::from_mut(&mut message))
            .await?;
        self.walk(
            caller,
            &mut known,
            vec![Task::Message(sel, message.clone())],
        )
        .await?;
        Ok(self.message_view(&known, message, sel))
    }

    /// Reads everything `sel` selects below each of `messages`; `known`
    /// may already hold their conversation.
    pub(crate) async fn expand_messages(
        &self,
        caller: &Caller,
        mut known: Known,
        mut messages: Vec<Message>,
        sel: &MessageSel,
    ) -> Result<Vec<MessageView>> {
        self.sign_attachments(&mut messages).await?;
        let tasks = messages
            .iter()
            .map(|m| Task::Message(sel, m.clone()))
            .collect();
        self.walk(caller, &mut known, tasks).await?;
        Ok(messages
            .into_iter()
            .map(|m| self.message_view(&known, m, sel))
            .collect())
    }

    /// Reads everything `sel` selects below `link`.
    pub async fn expand_link(
        &self,
        caller: &Caller,
        link: ConvoLink,
        sel: &LinkSel,
    ) -> Result<LinkView> {
        let mut known = Known::default();
        self.walk(caller, &mut known, vec![Task::Link(sel, link.clone())])
            .await?;
        Ok(self.link_view(&known, link, sel))
    }

    /// Reads level by level until no level selects anything more.
    async fn walk<'s>(
        &self,
        caller: &Caller,
        known: &mut Known,
        mut level: Vec<Task<'s>>,
    ) -> Result<()> {
        known.viewer.clone_from(&caller.id);
        while !level.is_empty() {
            let mut users = BTreeSet::new();
            let mut convos = BTreeSet::new();
            let mut reads = Vec::new();
            let mut queued = HashSet::new();
            // Objects read at this level, whose own selections come next.
            let mut fetched: Vec<Task<'s>> = Vec::new();
            let mut seen = HashSet::new();
            let mut fetch_user = |sel: &'s UserSel, id: &str, fetched: &mut Vec<Task<'s>>| {
                if !known.users.contains_key(id) {
                    users.insert(id.to_string());
                }
                if seen.insert((node(sel), id.to_string())) {
                    fetched.push(Task::User(sel, id.to_string()));
                }
            };
            let mut convo_tasks = HashSet::new();
            let mut fetch_convo = |sel: &'s ConvoSel,
                                   id: &str,
                                   convos: &mut BTreeSet<String>,
                                   fetched: &mut Vec<Task<'s>>| {
                if !known.convos.contains_key(id) {
                    convos.insert(id.to_string());
                }
                if convo_tasks.insert((node(sel), id.to_string())) {
                    fetched.push(Task::Convo(sel, id.to_string()));
                }
            };
            for task in level.drain(..) {
                match task {
                    Task::User(sel, id) => {
                        if let Some(c) = &sel.conversations {
                            if queued.insert((node(c), id.clone())) {
                                reads.push(Read::UserLinks(c, id));
                            }
                        }
                    }
                    Task::Convo(sel, id) => {
                        if let Some(c) = &sel.messages {
                            if queued.insert((node(c), id.clone())) {
                                reads.push(Read::Messages(c, id.clone()));
                            }
                        }
                        if let Some(c) = &sel.associated {
                            if queued.insert((node(c), id.clone())) {
                                reads.push(Read::ConvoLinks(c, id));
                            }
                        }
                    }
                    Task::Message(sel, m) => {
                        if let Some(author) = &sel.author {
                            fetch_user(author, &m.author_id, &mut fetched);
                        }
                        if let Some(c) = &sel.conversation {
                            fetch_convo(c, &m.message_conversation_id, &mut convos, &mut fetched);
                        }
                    }
                    Task::Link(sel, l) => {
                        if let Some(user) = &sel.user {
                            fetch_user(user, &l.convo_link_user_id, &mut fetched);
                        }
                        if let Some(c) = &sel.conversation {
                            fetch_convo(
                                c,
                                &l.convo_link_conversation_id,
                                &mut convos,
                                &mut fetched,
                            );
                        }
                    }
                }
            }
            // This level's requests, all at once.
            let batch = async {
                if users.is_empty() && convos.is_empty() {
                    return Ok(Default::default());
                }
                let users: Vec<String> = users.iter().cloned().collect();
                let convos: Vec<String> = convos.iter().cloned().collect();
                self.store.batch_get(&users, &convos).await
            };
            let has_messages = reads.iter().any(|r| matches!(r, Read::Messages(..)));
            let known_ref = &*known;
            // Futures made up front: a stream mapped through a closure that
            // borrows would make this future's `Send` unprovable.
            let pending: Vec<_> = reads
                .into_iter()
                .map(|read| self.read(caller, known_ref, read))
                .collect();
            let connections = async {
                let mut stream = futures::stream::iter(pending).buffer_unordered(QUERY_CONCURRENCY);
                let mut done = Vec::new();
                while let Some(outcome) = stream.next().await {
                    done.push(outcome);
                }
                done
            };
            // The block list, once per walk, beside the first level's
            // message reads.
            let needs_hidden = known.hidden.is_none() && has_messages;
            let hidden = async {
                if needs_hidden {
                    self.hidden_for(&caller.id).await.map(Some)
                } else {
                    Ok(None)
                }
            };
            let (batch, done, hidden) = futures::join!(batch, connections, hidden);
            let batch = batch?;
            if let Some(hidden) = hidden? {
                known.hidden = Some(hidden);
            }
            let hidden = known.hidden.as_deref().unwrap_or_default();
            for id in users {
                let user = batch.users.iter().find(|u| u.id == id).cloned();
                known.users.insert(id, user);
            }
            for id in convos {
                let convo = batch.conversations.iter().find(|c| c.id == id).cloned();
                known.convos.insert(id, convo);
            }
            // The next level: the objects read here that exist, and the
            // items of every connection read here.
            let mut next: Vec<Task<'s>> = fetched
                .into_iter()
                .filter(|task| match task {
                    Task::User(_, id) => matches!(known.users.get(id), Some(Some(_))),
                    Task::Convo(_, id) => matches!(known.convos.get(id), Some(Some(_))),
                    _ => false,
                })
                .collect();
            for outcome in done {
                match outcome? {
                    Done::Links(c, key, result) => {
                        if let Ok((items, _)) = &result {
                            for link in items {
                                if link.convo_link_user_id == known.viewer {
                                    known.joined.insert(link.convo_link_conversation_id.clone());
                                }
                            }
                            next.extend(items.iter().map(|l| Task::Link(&c.items, l.clone())));
                        }
                        known.links.insert(key, result);
                    }
                    Done::Messages(c, key, mut result) => {
                        // Users the caller blocks: a page may come out shorter.
                        if let Ok((items, _, _)) = &mut result {
                            items.retain(|m| !hidden.contains(&m.author_id));
                            next.extend(items.iter().map(|m| Task::Message(&c.items, m.clone())));
                        }
                        known.messages.insert(key, result);
                    }
                }
            }
            level = next;
        }
        Ok(())
    }

    /// Reads one connection. Another user's `conversations` is refused at
    /// its path; anything else that stops a read (invalid arguments, or a
    /// conversation the caller is not in, which a valid path never reaches)
    /// fails the whole root field, as does a store failure.
    async fn read<'s>(&self, caller: &Caller, known: &Known, read: Read<'s>) -> Result<Done<'s>> {
        match read {
            Read::UserLinks(c, user_id) => {
                let key = (node(c), user_id.clone());
                readable(c)?;
                let page = self.page(&Scope::UserLinks(&user_id), &c.page)?;
                let result = if user_id == caller.id {
                    Ok(self.store.links_of_user(&user_id, &page).await?)
                } else {
                    Err(Refusal::from(&Error::Unauthorized(
                        "only the user can read their own conversations".into(),
                    )))
                };
                Ok(Done::Links(c, key, result))
            }
            Read::ConvoLinks(c, convo_id) => {
                let key = (node(c), convo_id.clone());
                readable(c)?;
                let page = self.page(&Scope::ConvoLinks(&convo_id), &c.page)?;
                self.member(caller, known, &convo_id)?;
                let links = self.store.links_of_conversation(&convo_id, &page).await?;
                Ok(Done::Links(c, key, Ok(links)))
            }
            Read::Messages(c, convo_id) => {
                let key = (node(c), convo_id.clone());
                readable(c)?;
                let direction = SortDirection::parse(c.direction.as_deref())?;
                let page = self.page(&Scope::Messages(&convo_id, direction), &c.page)?;
                self.member(caller, known, &convo_id)?;
                let (mut items, cursor) = self.store.messages(&convo_id, &page, direction).await?;
                self.sign_attachments(&mut items).await?;
                Ok(Done::Messages(c, key, Ok((items, cursor, direction))))
            }
        }
    }

    fn page(&self, scope: &Scope<'_>, request: &PageRequest) -> Result<PageQuery> {
        self.tokens.open(scope, request, "limit")
    }

    /// Members only: the conversation row lists them, or, past what it
    /// lists, the walk has seen the caller's link.
    fn member(&self, caller: &Caller, known: &Known, convo_id: &str) -> Result<()> {
        match known.convos.get(convo_id) {
            Some(Some(convo))
                if known.joined.contains(convo_id) || convo.members.contains(&caller.id) =>
            {
                Ok(())
            }
            _ => Err(Error::not_member()),
        }
    }

    /// A connection's page as read, or why it was not.
    fn page_view<T: Clone, V>(
        &self,
        read: Option<PageRead<'_, T>>,
        scope: Scope<'_>,
        view: impl Fn(T) -> V,
    ) -> Nested<Page<V>> {
        match read {
            Some(Ok((items, cursor))) => Nested::Value(Page {
                next_token: cursor.map(|k| self.tokens.seal(&scope, k)),
                items: items.iter().cloned().map(view).collect(),
            }),
            Some(Err(refusal)) => Nested::Refused(refusal.clone()),
            None => Nested::Refused(unread()),
        }
    }

    fn links_view(
        &self,
        known: &Known,
        c: &ListSel<LinkSel>,
        parent: &str,
        scope: Scope<'_>,
    ) -> Nested<Page<LinkView>> {
        let read = known.links.get(&(node(c), parent.to_string())).map(|r| {
            r.as_ref()
                .map(|(items, cursor)| (items.as_slice(), cursor.as_ref()))
        });
        self.page_view(read, scope, |l| self.link_view(known, l, &c.items))
    }

    fn user_view(&self, known: &Known, user: User, sel: &UserSel) -> UserView {
        let conversations = sel
            .conversations
            .as_ref()
            .map(|c| self.links_view(known, c, &user.id, Scope::UserLinks(&user.id)));
        UserView {
            user,
            conversations,
        }
    }

    fn convo_view(&self, known: &Known, convo: Conversation, sel: &ConvoSel) -> ConversationView {
        let id = convo.id.as_str();
        let messages = sel.messages.as_ref().map(|c| {
            let read = known.messages.get(&(node(c), id.to_string()));
            // The direction the page was read in scopes its token.
            let direction = match read {
                Some(Ok((_, _, direction))) => *direction,
                _ => SortDirection::Asc,
            };
            let read = read.map(|r| {
                r.as_ref()
                    .map(|(items, cursor, _)| (items.as_slice(), cursor.as_ref()))
            });
            self.page_view(read, Scope::Messages(id, direction), |m| {
                self.message_view(known, m, &c.items)
            })
        });
        let associated = sel
            .associated
            .as_ref()
            .map(|c| self.links_view(known, c, id, Scope::ConvoLinks(id)));
        ConversationView {
            messages,
            associated,
            conversation: convo,
        }
    }

    fn message_view(&self, known: &Known, message: Message, sel: &MessageSel) -> MessageView {
        MessageView {
            reactions: message.reactions_for(&known.viewer),
            author: sel
                .author
                .as_ref()
                .map(|s| self.known_user(known, &message.author_id, s)),
            conversation: sel
                .conversation
                .as_ref()
                .map(|s| self.known_convo(known, &message.message_conversation_id, s)),
            message,
        }
    }

    fn link_view(&self, known: &Known, link: ConvoLink, sel: &LinkSel) -> LinkView {
        LinkView {
            user: sel
                .user
                .as_ref()
                .map(|s| self.known_user(known, &link.convo_link_user_id, s)),
            conversation: sel
                .conversation
                .as_ref()
                .map(|s| self.known_convo(known, &link.convo_link_conversation_id, s)),
            link,
        }
    }

    fn known_user(&self, known: &Known, id: &str, sel: &UserSel) -> Option<Box<UserView>> {
        let user = known.users.get(id)?.clone()?;
        Some(Box::new(self.user_view(known, user, sel)))
    }

    fn known_convo(
        &self,
        known: &Known,
        id: &str,
        sel: &ConvoSel,
    ) -> Option<Box<ConversationView>> {
        let convo = known.convos.get(id)?.clone()?;
        Some(Box::new(self.convo_view(known, convo, sel)))
    }
}

fn readable<T>(c: &ListSel<T>) -> Result<()> {
    match &c.unreadable {
        Some(why) => Err(Error::validation(why.clone())),
        None => Ok(()),
    }
}

/// A selected connection the walk did not read: cannot happen, since every
/// selected connection of every object assembled was queued; reported as an
/// internal failure at the field rather than as an empty list.
fn unread() -> Refusal {
    Refusal {
        error: FieldError {
            error_type: crate::ErrorKind::Internal.error_type().to_string(),
            message: "internal failure; the field was not read".into(),
            error_info: None,
        },
    }
}

/// A connection read, with the selection of its items.
enum Done<'s> {
    Links(
        &'s ListSel<LinkSel>,
        (usize, String),
        std::result::Result<Links, Refusal>,
    ),
    Messages(
        &'s ListSel<MessageSel>,
        (usize, String),
        std::result::Result<Messages, Refusal>,
    ),
}
