//! Reading any selection, at any depth, level by level and in batches.
//!
//! A root field's function reads its root object, then hands the rest of
//! the request's selection ([`UserSel`], [`ConvoSel`], [`MessageSel`],
//! [`LinkSel`]) to [`ChatService::expand_user`](crate::ChatService::expand_user) and its siblings. They walk
//! the selection one level at a time. Per level:
//!
//! - one `batch_get` for every user and conversation the level references
//!   (authors, link ends, message conversations) that is not known yet;
//! - one query per connection opened (a user's `conversations`, a
//!   conversation's `messages` or `associated`), run concurrently, at most
//!   [`QUERY_CONCURRENCY`] at once.
//!
//! So the requests of a read grow with its depth and with the connections it
//! opens, never with the number of items. Then the views are assembled from
//! what was read, without further requests.
//!
//! Authorization is the same at every level: a conversation's `messages` and
//! `associated` are read for its members only (the conversation row's
//! `members`, so checking costs nothing), and a user's `conversations` for
//! that user only.
//!
//! Another user's `conversations` is the one nested field a valid request
//! can reach and not see (through a message's `author` or a link's `user`):
//! it becomes a [`Nested::Refused`], `null` with an `Unauthorized` error at
//! its path (see [`FIELD_ERROR_KEY`]), and the rest is answered. A nested
//! conversation's `messages` and `associated` are only reachable through
//! that conversation's own messages and links, so by a member; should a
//! check there ever fail, or a nested connection's arguments be invalid,
//! the whole root field fails with that error instead of answering part.

use serde::Serialize;

use crate::error::Error;
use crate::model::{Conversation, ConvoLink, Message, User};
use crate::page::{Page, PageRequest};

/// Queries in flight at once within one level.
pub const QUERY_CONCURRENCY: usize = 8;

/// The key under which a refused nested field carries its error, in a
/// function's result: `{"__error": {"errorType": ..., "message": ...}}`. The
/// gateway (and, on AWS, the `User.conversations` resolver) turns it into
/// `null` plus an error at the field's path.
pub const FIELD_ERROR_KEY: &str = "__error";

/// A nested connection: its page, and what is selected of its items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListSel<T> {
    pub page: PageRequest,
    /// `sortDirection`, on `messages` only.
    pub direction: Option<String>,
    pub items: T,
    /// Why its arguments cannot be known (see `chat_lambda`): the field is
    /// then refused at its path with a `ValidationError`, never read with
    /// defaults it was not asked for.
    pub unreadable: Option<String>,
}

/// What is selected below a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSel {
    pub conversations: Option<ListSel<LinkSel>>,
}

/// What is selected below a conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConvoSel {
    pub messages: Option<ListSel<MessageSel>>,
    pub associated: Option<ListSel<LinkSel>>,
}

/// What is selected below a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageSel {
    pub author: Option<Box<UserSel>>,
    pub conversation: Option<Box<ConvoSel>>,
}

/// What is selected below a membership link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkSel {
    pub user: Option<Box<UserSel>>,
    pub conversation: Option<Box<ConvoSel>>,
}

/// A nested field's value, or why the caller gets `null` instead.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Nested<T> {
    Value(T),
    Refused(Refusal),
}

/// A refused nested field, as it travels in a function's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    #[serde(rename = "__error")]
    pub error: FieldError,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    pub error_type: String,
    pub message: String,
    /// GraphQL's `errorInfo` (a rate limit's `retryAfterSeconds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_info: Option<serde_json::Value>,
}

impl From<&Error> for Refusal {
    fn from(err: &Error) -> Self {
        Refusal {
            error: FieldError {
                error_type: err.kind().error_type().to_string(),
                message: err.client_message(),
                error_info: err.info(),
            },
        }
    }
}

/// A user, with what was selected below it.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    #[serde(flatten)]
    pub user: User,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversations: Option<Nested<Page<LinkView>>>,
}

/// A conversation, with what was selected below it.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationView {
    #[serde(flatten)]
    pub conversation: Conversation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Nested<Page<MessageView>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub associated: Option<Nested<Page<LinkView>>>,
}

/// A message, with what was selected below it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    #[serde(flatten)]
    pub message: Message,
    /// As the caller sees them.
    pub reactions: Vec<crate::model::ReactionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<Option<Box<UserView>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<Option<Box<ConversationView>>>,
}

/// A membership link, with what was selected below it.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    #[serde(flatten)]
    pub link: ConvoLink,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Option<Box<UserView>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<Option<Box<ConversationView>>>,
}

mod walk;

pub(crate) use walk::Known;
