//! The chat service: [`ChatService`], its construction, and what every
//! feature's use-cases share. Each feature adds its root fields in an
//! `impl ChatService` block of its own module (see the crate's layout).

use crate::error::{Error, Result};
use crate::filter::ContentFilter;
use crate::model::{Caller, Conversation};
use crate::page::PageTokens;
use crate::ports::{Change, ChatStore, Media, Publisher};
use crate::rate_limits::RateLimits;
use crate::throttle::Throttle;

/// A changed message whose write lost a race with another change to it
/// (an edit, a delete) reads it again and retries, this many times at most.
pub const MAX_CHANGE_ATTEMPTS: u32 = 10;

/// `list` without `id`.
pub(crate) fn without(list: &[String], id: &str) -> Vec<String> {
    list.iter().filter(|m| *m != id).cloned().collect()
}

/// Refuses a caller who is not an owner of `convo`.
pub(crate) fn owner_only(convo: &Conversation, caller: &Caller, what: &str) -> Result<()> {
    if convo.owners.contains(&caller.id) {
        Ok(())
    } else {
        Err(Error::Unauthorized(format!("only an owner can {what}")))
    }
}

/// After a lost race with another change to the same message: read again,
/// or give up with `Conflict` past [`MAX_CHANGE_ATTEMPTS`].
pub(crate) fn contended(attempts: u32) -> Result<()> {
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
    pub(crate) publisher: P,
    /// Typing signals let through by this instance (see [`crate::typing`]).
    pub(crate) typing: std::sync::Arc<Throttle>,
    /// The origins a Web Push endpoint may be on (see
    /// [`crate::limits::WEB_PUSH_ORIGINS`]).
    pub(crate) web_push_origins: std::sync::Arc<[String]>,
    /// Where attachments' files are kept; `None`: the stack takes none.
    pub(crate) media: Option<std::sync::Arc<dyn Media>>,
    /// How long a download link is good for, and the window links are
    /// signed as of (see [`crate::limits::DOWNLOAD_URL_SECS`]).
    pub(crate) links: (u64, u64),
    /// The stack's word filter on what messages say (see [`crate::filter`]).
    pub(crate) filter: std::sync::Arc<ContentFilter>,
    /// Per-user rate caps (see [`crate::rates`]).
    pub(crate) rates: RateLimits,
}

/// The publisher of a service that only reads: it cannot run a use-case that
/// writes, because it is not a [`Publisher`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Unpublished;

impl<S: ChatStore> ChatService<S> {
    pub fn new(store: S, tokens: PageTokens) -> Self {
        ChatService {
            store,
            tokens,
            publisher: Unpublished,
            typing: std::sync::Arc::new(Throttle::new(crate::limits::TYPING_INTERVAL_MS)),
            web_push_origins: crate::limits::WEB_PUSH_ORIGINS
                .iter()
                .map(|o| o.to_string())
                .collect(),
            media: None,
            links: (
                crate::limits::DOWNLOAD_URL_SECS,
                crate::limits::DOWNLOAD_URL_WINDOW_SECS,
            ),
            filter: std::sync::Arc::new(ContentFilter::none()),
            rates: RateLimits::default(),
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
            web_push_origins: self.web_push_origins,
            media: self.media,
            links: self.links,
            filter: self.filter,
            rates: self.rates,
        }
    }

    /// Download links good for `secs`, signed as of windows of `window`
    /// seconds (a test stack's short links; the stack's are
    /// [`crate::limits::DOWNLOAD_URL_SECS`]).
    pub fn with_link_lifetime(mut self, secs: u64, window: u64) -> Self {
        self.links = (secs, window.clamp(1, secs.max(1)));
        self
    }

    /// The same use-cases, with messages checked against `filter`.
    pub fn with_filter(mut self, filter: std::sync::Arc<ContentFilter>) -> Self {
        self.filter = filter;
        self
    }

    /// The same use-cases, with these per-user rate caps.
    pub fn with_rate_limits(mut self, rates: RateLimits) -> Self {
        self.rates = rates;
        self
    }

    /// The same use-cases, with attachments' files kept in `media`.
    pub fn with_media(mut self, media: std::sync::Arc<dyn Media>) -> Self {
        self.media = Some(media);
        self
    }

    /// Web Push endpoints may also be on these origins (a local stack's
    /// push service, say), besides [`crate::limits::WEB_PUSH_ORIGINS`].
    pub fn with_web_push_origins(mut self, extra: impl IntoIterator<Item = String>) -> Self {
        let mut origins: Vec<String> = self.web_push_origins.to_vec();
        origins.extend(extra);
        self.web_push_origins = origins.into();
        self
    }
}

/// What the writers share.
impl<S, P: Publisher> ChatService<S, P> {
    /// Pushes a new user or link. Its row is written whatever happens here: a
    /// failed lookup of subscribers loses only the live push, which a
    /// client's next read shows.
    pub(crate) async fn push(&self, change: Change<'_>) {
        if let Err(err) = self.publisher.publish(change).await {
            tracing::warn!(error = %crate::Chain(&err), "new row stored but not pushed");
        }
    }
}
