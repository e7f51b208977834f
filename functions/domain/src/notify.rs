//! Who gets a push for a new message, and what it says: the notifier's
//! use-cases ([`Notifier`]), run off the Messages stream so that a push
//! never slows `createMessage` or its live delivery.
//!
//! For a new message, each member but its author gets a push on each of
//! their devices when all of these hold:
//!
//! - they hold no live connection (their presence is offline: connected
//!   clients have the message already);
//! - they are not in do-not-disturb;
//! - their level for the conversation lets it through: `ALL`; `MENTIONS`
//!   if the message mentions them; `NONE` only for a mention, when their
//!   settings let mentions through a mute;
//! - their last push for this conversation is at least
//!   [`limits::PUSH_INTERVAL_MS`] old (coalescing: a busy conversation
//!   rings once per interval, and under one collapse id a later push
//!   replaces an earlier one on the device).
//!
//! A deleted message's push is withdrawn from whoever it went to: a push
//! of kind `WITHDRAW` under the same collapse id.

use futures::StreamExt;
use tracing::instrument;

use crate::clock::now_ms;
use crate::devices::{Notification, NotificationKind, NotifyLevel, PushProfile, SendOutcome};
use crate::error::Result;
use crate::limits;
use crate::model::{Conversation, ConvoLink, Message, User};
use crate::page::PageQuery;
use crate::ports::{ChatStore, PushStore, Pusher};
use crate::service::without;

/// Recipients pushed to at once, each with their devices.
const RECIPIENT_CONCURRENCY: usize = 16;

/// What one message's pushes did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Pushes accepted by their platform's service.
    pub sent: usize,
    /// Devices the service called gone: removed.
    pub gone: usize,
    /// Pushes that failed: the message is retried.
    pub failed: usize,
    /// Recipients whose push this interval was spent already.
    pub coalesced: usize,
    /// Members with a device who were connected or whose level let this
    /// message pass by, and devices of a platform the stack has no
    /// credentials for.
    pub skipped: usize,
}

impl Report {
    fn add(&mut self, other: Report) {
        self.sent += other.sent;
        self.gone += other.gone;
        self.failed += other.failed;
        self.coalesced += other.coalesced;
        self.skipped += other.skipped;
    }
}

/// The notifier's use-cases, over the store and a [`Pusher`].
#[derive(Debug, Clone)]
pub struct Notifier<S, X> {
    store: S,
    pusher: X,
    interval_ms: i64,
    /// Signs the thumbnail link a push shows (see [`Notification::image`]).
    media: Option<std::sync::Arc<dyn crate::ports::Media>>,
}

/// A member who may get the push, with what deciding needs.
struct Recipient {
    profile: PushProfile,
    user: Option<User>,
    link: Option<ConvoLink>,
}

impl<S: ChatStore + PushStore, X: Pusher> Notifier<S, X> {
    pub fn new(store: S, pusher: X) -> Self {
        Notifier {
            store,
            pusher,
            interval_ms: limits::PUSH_INTERVAL_MS,
            media: None,
        }
    }

    /// What it sends pushes with.
    pub fn pusher(&self) -> &X {
        &self.pusher
    }

    /// The same notifier, with pushes showing a processed photo's
    /// thumbnail from `media`.
    pub fn with_media(mut self, media: std::sync::Arc<dyn crate::ports::Media>) -> Self {
        self.media = Some(media);
        self
    }

    /// A link to the first processed photo's thumbnail of `message`, if any.
    async fn thumbnail_link(&self, message: &Message) -> Result<Option<String>> {
        let Some(media) = self.media.as_deref() else {
            return Ok(None);
        };
        let Some(photo) = message
            .attachments
            .iter()
            .find(|a| a.state == crate::attachments::AttachmentState::Ready && a.thumbnail)
        else {
            return Ok(None);
        };
        let now_secs = u64::try_from(now_ms() / 1000).unwrap_or(0);
        let key = crate::attachments::thumbnail_key(&message.message_conversation_id, &photo.id);
        Ok(Some(
            media
                .presign_download(&key, "inline", now_secs, limits::DOWNLOAD_URL_SECS)
                .await?,
        ))
    }

    /// The same notifier, coalescing over `interval_ms` instead.
    pub fn with_interval_ms(mut self, interval_ms: i64) -> Self {
        self.interval_ms = interval_ms;
        self
    }

    /// Pushes a new message to the members who should hear of it.
    #[instrument(skip(self, message), fields(conversation = %message.message_conversation_id, message = %message.id))]
    pub async fn message_posted(&self, message: &Message) -> Result<Report> {
        if message.deleted_at.is_some() {
            return self.message_deleted(message).await;
        }
        let Some((convo, author, recipients)) = self.recipients(message).await? else {
            return Ok(Report::default());
        };
        let now = now_ms();
        let author = author.as_deref();
        // One link for every recipient (a push is signed once, not per device).
        let mut message = message.clone();
        if let Some(link) = self.thumbnail_link(&message).await? {
            if let Some(photo) = message.attachments.iter_mut().find(|a| a.thumbnail) {
                photo.thumbnail_url = Some(link);
            }
        }
        let message = &message;
        // Made first, then run: a stream of futures that borrow the
        // recipients keeps the whole future `Send`.
        let pushes: Vec<_> = recipients
            .iter()
            .map(|r| self.notify_one(message, &convo, author, r, now))
            .collect();
        let reports = futures::stream::iter(pushes)
            .buffer_unordered(RECIPIENT_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        let mut total = Report::default();
        for report in reports {
            total.add(report?);
        }
        tracing::info!(
            sent = total.sent,
            gone = total.gone,
            failed = total.failed,
            coalesced = total.coalesced,
            skipped = total.skipped,
            "notified"
        );
        Ok(total)
    }

    /// One member's push for a new message, if they should get one.
    async fn notify_one(
        &self,
        message: &Message,
        convo: &Conversation,
        author: Option<&str>,
        r: &Recipient,
        now: i64,
    ) -> Result<Report> {
        let mut report = Report::default();
        let user_id = &r.profile.user_id;
        let mention = message.mentions.contains(user_id);
        let settings = &r.profile.settings;
        let allowed = match r.link.as_ref().map(|l| l.notify) {
            // Not a member any more.
            None => false,
            Some(NotifyLevel::All) => true,
            Some(NotifyLevel::Mentions) => mention,
            Some(NotifyLevel::None) => mention && settings.mentions,
        };
        if !allowed || r.user.as_ref().is_none_or(|u| u.online) {
            report.skipped += 1;
            return Ok(report);
        }
        let conversation = &message.message_conversation_id;
        if !self
            .store
            .claim_push(user_id, conversation, &message.id, now, self.interval_ms)
            .await?
        {
            report.coalesced += 1;
            return Ok(report);
        }
        let badge = self.badge(user_id, conversation).await?;
        let notification = compose(
            message,
            convo,
            author,
            settings.hide_content,
            mention,
            badge,
        );
        report.add(self.send_all(&r.profile, &notification).await?);
        Ok(report)
    }

    /// Withdraws a deleted message's push from the members it went to
    /// (those whose last push in the conversation was this message).
    #[instrument(skip(self, message), fields(conversation = %message.message_conversation_id, message = %message.id))]
    pub async fn message_deleted(&self, message: &Message) -> Result<Report> {
        let Some((_, _, recipients)) = self.recipients(message).await? else {
            return Ok(Report::default());
        };
        let mut total = Report::default();
        for r in recipients {
            let was_pushed = r
                .link
                .as_ref()
                .and_then(|l| l.pushed.as_ref())
                .is_some_and(|(id, _)| *id == message.id);
            if !was_pushed {
                continue;
            }
            let badge = self
                .badge(&r.profile.user_id, &message.message_conversation_id)
                .await?;
            let withdraw = Notification {
                kind: NotificationKind::Withdraw,
                conversation_id: message.message_conversation_id.clone(),
                message_id: message.id.clone(),
                title: String::new(),
                body: String::new(),
                badge,
                mention: false,
                image: None,
            };
            total.add(self.send_all(&r.profile, &withdraw).await?);
        }
        Ok(total)
    }

    /// The conversation, the author's username, and the members (not the
    /// author, nor anyone who blocks them) who have a device and are not in
    /// do-not-disturb, each with their profile and link: two batch reads
    /// (the conversation, the others' push rows; between them, past the
    /// members it lists, its links, a Query per thousand), and three more (who of
    /// them blocks the author; their links; their profiles and the
    /// author's) only when someone has a device.
    async fn recipients(
        &self,
        message: &Message,
    ) -> Result<Option<(Conversation, Option<String>, Vec<Recipient>)>> {
        let conversation = &message.message_conversation_id;
        let Some(convo) = self
            .store
            .batch_get(&[], std::slice::from_ref(conversation))
            .await?
            .conversations
            .pop()
        else {
            return Ok(None);
        };
        let others = without(
            &crate::members::all_members(&self.store, &convo).await?,
            &message.author_id,
        );
        if others.is_empty() {
            return Ok(None);
        }
        let now = now_ms();
        let profiles: Vec<PushProfile> = self
            .store
            .push_profiles(&others)
            .await?
            .into_iter()
            .filter(|p| !p.devices.is_empty() && !in_dnd(p, now))
            .collect();
        if profiles.is_empty() {
            return Ok(None);
        }
        // Nobody hears of a message by someone they block.
        let ids: Vec<String> = profiles.iter().map(|p| p.user_id.clone()).collect();
        let blockers = self.store.who_block(&message.author_id, &ids).await?;
        let profiles: Vec<PushProfile> = profiles
            .into_iter()
            .filter(|p| !blockers.contains(&p.user_id))
            .collect();
        if profiles.is_empty() {
            return Ok(None);
        }
        let mut ids: Vec<String> = profiles.iter().map(|p| p.user_id.clone()).collect();
        let links = self.store.links_of(conversation, &ids).await?;
        ids.push(message.author_id.clone());
        let users = self.store.batch_get(&ids, &[]).await?.users;
        let author = users
            .iter()
            .find(|u| u.id == message.author_id)
            .map(|u| u.username.clone());
        let recipients = profiles
            .into_iter()
            .map(|profile| {
                let user = users.iter().find(|u| u.id == profile.user_id).cloned();
                let link = links
                    .iter()
                    .find(|l| l.convo_link_user_id == profile.user_id)
                    .cloned();
                Recipient {
                    profile,
                    user,
                    link,
                }
            })
            .collect();
        Ok(Some((convo, author, recipients)))
    }

    /// Sends `notification` to each of the profile's devices, at once;
    /// removes those the service calls gone.
    async fn send_all(&self, profile: &PushProfile, notification: &Notification) -> Result<Report> {
        let outcomes =
            futures::future::join_all(profile.devices.iter().map(|device| async move {
                (device, self.pusher.send(device, notification).await)
            }))
            .await;
        let mut report = Report::default();
        for (device, outcome) in outcomes {
            match outcome {
                SendOutcome::Sent => report.sent += 1,
                SendOutcome::Gone => {
                    report.gone += 1;
                    tracing::info!(user = %profile.user_id, device = %device.id, platform = ?device.platform, "device gone; removed");
                    self.store
                        .unregister_device(&profile.user_id, &device.id)
                        .await?;
                }
                SendOutcome::Skipped(why) => {
                    report.skipped += 1;
                    tracing::debug!(device = %device.id, why = %why, "push skipped");
                }
                SendOutcome::Failed(why) => {
                    report.failed += 1;
                    tracing::warn!(user = %profile.user_id, device = %device.id, platform = ?device.platform, why = %why, "push failed");
                }
            }
        }
        Ok(report)
    }

    /// The user's total unread, as their inbox counts it: over their
    /// [`limits::BADGE_CONVERSATIONS`] most recently active conversations,
    /// each to [`limits::MAX_UNREAD_COUNT`]. One Query of the inbox with a
    /// read of the user's block list, and one count per conversation with
    /// something after the read marker.
    async fn badge(&self, user_id: &str, conversation_id: &str) -> Result<u32> {
        let page = PageQuery {
            limit: limits::BADGE_CONVERSATIONS,
            after: None,
        };
        let (links, hidden) = futures::try_join!(
            self.store.inbox(user_id, &page),
            self.store.block_list(user_id)
        )?;
        let (links, _) = links;
        let hidden = &hidden.ids();
        let counts = links
            .iter()
            .filter(|l| {
                let read = l.last_read.as_ref().map(|(seq, _)| seq);
                l.convo_link_conversation_id == conversation_id
                    || read.is_none()
                    || l.activity.as_ref() > read
            })
            .map(|l| {
                let after = l.last_read.as_ref().map(|(seq, _)| seq.as_str());
                self.store.count_unread(
                    &l.convo_link_conversation_id,
                    user_id,
                    after,
                    limits::MAX_UNREAD_COUNT,
                    hidden,
                )
            });
        let counts = futures::future::try_join_all(counts).await?;
        Ok(counts
            .into_iter()
            .map(|n| n.min(limits::MAX_UNREAD_COUNT) as u32)
            .sum())
    }
}

fn in_dnd(profile: &PushProfile, now: i64) -> bool {
    profile
        .settings
        .dnd_until
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|until| until.timestamp_millis() > now)
}

/// `text` cut to `max` characters, with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A push's text for a message: its content, or, when it has none, what
/// it carries ("Photo", "3 photos", "File", "2 files").
fn body_of(message: &Message) -> String {
    if !message.content.is_empty() || message.attachments.is_empty() {
        return message.content.clone();
    }
    let n = message.attachments.len();
    let photos = message
        .attachments
        .iter()
        .all(|a| a.content_type.starts_with("image/"));
    match (photos, n) {
        (true, 1) => "Photo".to_string(),
        (true, n) => format!("{n} photos"),
        (false, 1) => "File".to_string(),
        (false, n) => format!("{n} files"),
    }
}

/// What a new message's push says to one recipient.
pub fn compose(
    message: &Message,
    convo: &Conversation,
    author: Option<&str>,
    hide_content: bool,
    mention: bool,
    badge: u32,
) -> Notification {
    let (title, body) = if hide_content {
        ("New message".to_string(), String::new())
    } else {
        let author = author.unwrap_or("Someone");
        let title = if mention {
            format!("{author} mentioned you in {}", convo.name)
        } else {
            format!("{author} in {}", convo.name)
        };
        (title, cut(&body_of(message), limits::PUSH_BODY_CHARS))
    };
    let image = (!hide_content)
        .then(|| {
            message
                .attachments
                .iter()
                .find_map(|a| a.thumbnail_url.clone())
        })
        .flatten();
    Notification {
        kind: NotificationKind::Message,
        conversation_id: message.message_conversation_id.clone(),
        message_id: message.id.clone(),
        title,
        body,
        badge,
        mention,
        image,
    }
}
