//! The chat domain: types, limits, authorization and the use-cases that every
//! resolver function runs.
//!
//! Nothing here talks to AWS. The use-cases depend on the [`ChatStore`] port,
//! which the DynamoDB adapter (`chat-store`) implements, and the use-cases
//! that write also on the [`Publisher`] port, which pushes each new row to its
//! subscribers (`chat-realtime` implements it over API Gateway), so every rule
//! can be unit-tested against in-memory ports and integration-tested against
//! the real ones.
//!
//! # Layout
//!
//! - [`model`]: the domain types, shaped as the GraphQL schema names them.
//! - [`limits`]: every input limit, in one place, with its validation.
//! - [`filter`]: the stack's word filter, Unicode-aware, on what messages say.
//! - [`rate_limits`], [`moderation`] and [`safety`]: the types of per-user
//!   rate limits, of reports and moderators' actions, and of blocks and
//!   suspensions, leaves that the ports use;
//!   [`rates`] counts, as every use-case that is capped asks it to.
//! - [`page`]: page requests and the signed, scope-bound `nextToken`.
//! - [`ports`]: the store ports by aggregate ([`UserStore`],
//!   [`ConversationStore`], [`MessageStore`], together [`ChatStore`]), the
//!   [`Publisher`], and their outcome types.
//! - [`devices`]: the push notifications' types (devices, settings,
//!   levels, what a push says), used by the ports and re-exported by [`push`].
//! - [`clock`], [`lease`] and [`throttle`]: leaves that every module may
//!   use (server time and ULIDs; how long a writer holds a push; the typing
//!   signals' throttle).
//! - [`service`]: [`ChatService`], its construction and what the features
//!   share.
//! - One module per feature, each an `impl ChatService` block with that
//!   feature's root fields and their authorization rules: [`users`],
//!   [`conversations`], [`members`], [`messages`], [`reactions`],
//!   [`reads`], [`changes`], [`inbox`], [`typing`], [`presence`],
//!   [`push`] (devices and settings), [`reports`] (reports and their
//!   moderation), [`blocks`] and [`standing`] (suspensions and bans, and
//!   the admission every request passes).
//! - [`notify`]: the notifier's use-cases (who gets a push for a message,
//!   and what it says), over the store and the [`Pusher`] port.
//! - [`graph`]: what a request selects below its root object, read level by
//!   level in batches, with the same authorization at every level.
//! - [`memory`]: in-memory adapters of the store ports and the publisher,
//!   over which the use-cases' unit tests run (in `tests/`, one file per
//!   feature).
//! - [`error`]: [`Error`], the one error enum, and its client-facing kind.

pub mod attachments;
pub mod blocks;
pub mod changes;
pub mod clock;
pub mod conversations;
pub mod devices;
pub mod error;
pub mod filter;
pub mod graph;
pub mod inbox;
pub mod lease;
pub mod limits;
pub mod members;
pub mod memory;
pub mod messages;
pub mod model;
pub mod moderation;
pub mod notify;
pub mod page;
pub mod ports;
pub mod presence;
pub mod push;
pub mod rate_limits;
pub mod rates;
pub mod reactions;
pub mod reads;
pub mod reports;
pub mod safety;
pub mod service;
pub mod standing;
pub mod throttle;
pub mod typing;
pub mod uploads;
pub mod users;

pub use error::{Chain, Error, ErrorKind};
pub use model::{
    Caller, ChangeKind, Conversation, ConvoLink, MemberChange, MemberChangeKind, Message,
    MessageChange, Presence, Reaction, ReactionView, ReadMarker, Typing, User,
};
pub use page::{Page, PageRequest, PageTokens, SortDirection};
pub use ports::{
    Change, ChatStore, ConversationStore, Media, MessageStore, Publisher, PushStore, Pushed,
    Pusher, RateStore, ReportStore, UploadStore, UserStore,
};
pub use service::{ChatService, Unpublished};

#[cfg(test)]
mod tests;
