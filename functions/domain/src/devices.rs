//! The types of push notifications: a user's devices and settings, a
//! member's level, and what one push says. A leaf: the ports, the limits
//! and the model use these, and [`crate::push`] (the use-cases) and
//! [`crate::notify`] re-export and use them.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::now;

/// The service a device's notifications go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Platform {
    /// Apple Push Notification service, production.
    Apns,
    /// APNs' development environment (apps built for debugging).
    ApnsSandbox,
    /// Firebase Cloud Messaging (HTTP v1).
    Fcm,
    /// A browser's push service (RFC 8030), encrypted per RFC 8291.
    WebPush,
}

/// One registered device of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Derived from the platform and the token, so registering the same
    /// token again is the same device.
    pub id: String,
    pub platform: Platform,
    /// The APNs device token (hex), the FCM registration token, or the
    /// Web Push subscription's endpoint.
    pub token: String,
    /// The APNs topic (the app's bundle id); optional elsewhere.
    pub app_id: Option<String>,
    /// Web Push only: the subscription's P-256 public key and auth secret
    /// (base64url). Never shown back.
    #[serde(skip_serializing, default)]
    pub p256dh: Option<String>,
    #[serde(skip_serializing, default)]
    pub auth: Option<String>,
    pub created_at: String,
}

/// A user's own settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushSettings {
    /// No push at all until then (an ISO 8601 time).
    pub dnd_until: Option<String>,
    /// Pushes carry no content at all: "New message", and the ids.
    pub hide_content: bool,
    /// A mention of the user notifies through a muted conversation.
    pub mentions: bool,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            dnd_until: None,
            hide_content: false,
            mentions: true,
        }
    }
}

/// A user's push row: their devices and settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushProfile {
    pub user_id: String,
    pub devices: Vec<Device>,
    pub settings: PushSettings,
    /// Counts the row's writes: one is made only over the revision read (0:
    /// no row yet).
    pub rev: u64,
}

/// What a member hears of a conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotifyLevel {
    /// Every message.
    #[default]
    All,
    /// Messages that mention them.
    Mentions,
    /// Nothing (muted), unless a mention gets through (see
    /// [`PushSettings::mentions`]).
    None,
}

/// What one push says, whatever the platform (`chat-push` encodes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub kind: NotificationKind,
    pub conversation_id: String,
    pub message_id: String,
    /// "`<author>` in `<conversation>`", or "New message" when the recipient
    /// hides content.
    pub title: String,
    /// The content, cut to [`crate::limits::PUSH_BODY_CHARS`]; empty when hidden.
    pub body: String,
    /// The recipient's total unread (see [`crate::notify`]).
    pub badge: u32,
    /// Whether the recipient is mentioned.
    pub mention: bool,
    /// A link to the message's first photo's thumbnail, when it is
    /// processed by the time of the push and content is not hidden: shown
    /// by the device (APNs through a notification service extension). Good
    /// for [`crate::limits::DOWNLOAD_URL_SECS`].
    pub image: Option<String>,
}

impl Notification {
    /// One per conversation: the thread a device groups the pushes in, and
    /// the collapse id under which a later push replaces an earlier one.
    pub fn collapse_id(&self) -> String {
        // APNs allows 64 bytes; a conversation id is at most 128 characters.
        let digest = Sha256::digest(self.conversation_id.as_bytes());
        hex(&digest[..16])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationKind {
    /// A new message.
    Message,
    /// The message was deleted: replace what was shown of it, and remove it.
    Withdraw,
}

/// How sending one push to one device went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    /// The service says the token is no longer valid (APNs 410
    /// `Unregistered`, FCM `UNREGISTERED` or 404, Web Push 404 or 410): the
    /// device is removed.
    Gone,
    /// The service refused or failed it, or could not be reached: retried
    /// with the message.
    Failed(String),
    /// Not sent, and not to be retried: this stack has no credentials for
    /// the device's platform.
    Skipped(String),
}

/// `registerDevice`'s input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    pub platform: Platform,
    pub token: Option<String>,
    pub app_id: Option<String>,
    pub endpoint: Option<String>,
    pub p256dh: Option<String>,
    pub auth: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A device's id: the platform and the token, hashed.
pub fn device_id(platform: Platform, token: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("{platform:?}\n{token}").as_bytes());
    hex(&hash.finalize()[..16])
}

/// A device as registered now.
pub(crate) fn new_device(
    platform: Platform,
    token: String,
    app_id: Option<String>,
    keys: Option<(String, String)>,
) -> Device {
    let (p256dh, auth) = keys.map_or((None, None), |(p, a)| (Some(p), Some(a)));
    Device {
        id: device_id(platform, &token),
        platform,
        token,
        app_id,
        p256dh,
        auth,
        created_at: now(),
    }
}
