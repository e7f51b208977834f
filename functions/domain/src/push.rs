//! Push notifications' settings: a user's devices (`registerDevice`,
//! `unregisterDevice`), their per-user settings (`updatePushSettings`:
//! do-not-disturb, previews, mentions through a mute) and per-conversation
//! levels (`setConversationNotifications`), all listed to that user alone
//! (`pushSettings`). Who gets a push, and what it says, is [`crate::notify`].

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::instrument;

use crate::clock::now;
use crate::error::{Error, Result};
use crate::limits;
use crate::model::Caller;
use crate::ports::{ChatStore, PushStore, RegisterDeviceOutcome};
use crate::service::ChatService;

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
    /// "<author> in <conversation>", or "New message" when the recipient
    /// hides content.
    pub title: String,
    /// The content, cut to [`limits::PUSH_BODY_CHARS`]; empty when hidden.
    pub body: String,
    /// The recipient's total unread (see [`crate::notify`]).
    pub badge: u32,
    /// Whether the recipient is mentioned.
    pub mention: bool,
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

/// `updatePushSettings`'s input: what is absent stays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsChange {
    /// `Some(None)` clears do-not-disturb.
    pub dnd_until: Option<Option<String>>,
    pub hide_content: Option<bool>,
    pub mentions: Option<bool>,
}

/// `pushSettings`: the caller's devices and settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    pub devices: Vec<Device>,
    #[serde(flatten)]
    pub settings: PushSettings,
}

/// `setConversationNotifications`' answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationNotifications {
    pub conversation_id: String,
    pub level: NotifyLevel,
}

/// Registering the same token twice races at most this often before the
/// request gives up with `Conflict`.
const MAX_REGISTER_ATTEMPTS: u32 = 5;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A device's id: the platform and the token, hashed.
pub fn device_id(platform: Platform, token: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("{platform:?}\n{token}").as_bytes());
    hex(&hash.finalize()[..16])
}

impl<S: ChatStore + PushStore, P: Send + Sync> ChatService<S, P> {
    /// Registers one of the caller's devices. The same token again is the
    /// same device (its keys renewed); a token another user registered is
    /// moved to the caller (the phone changed hands), so it never gets
    /// their pushes again.
    #[instrument(skip(self, input), fields(caller = %caller.id))]
    pub async fn register_device(&self, caller: &Caller, input: NewDevice) -> Result<Device> {
        let mut device = limits::device(input, &self.web_push_origins)?;
        for _ in 0..MAX_REGISTER_ATTEMPTS {
            let profile = self.push_profile(&caller.id).await?;
            if let Some(known) = profile.devices.iter().find(|d| d.id == device.id) {
                device.created_at = known.created_at.clone();
            }
            let owner = self.store.device_owner(&device.id).await?;
            if let Some(other) = owner.as_deref().filter(|o| *o != caller.id) {
                // The phone changed hands: it must never get the other
                // user's pushes again.
                self.store.unregister_device(other, &device.id).await?;
            }
            match self
                .store
                .register_device(&profile, &device, owner.as_deref(), limits::MAX_DEVICES)
                .await?
            {
                RegisterDeviceOutcome::Registered => return Ok(device),
                RegisterDeviceOutcome::TooMany => {
                    return Err(Error::LimitExceeded(format!(
                        "a user may register at most {} devices; unregister one first",
                        limits::MAX_DEVICES
                    )))
                }
                RegisterDeviceOutcome::Moved => continue,
            }
        }
        Err(Error::Conflict(
            "this device is being registered concurrently; try again".into(),
        ))
    }

    /// Removes one of the caller's devices; `NotFound` when the caller has
    /// no device with this id (another user's included: nothing changes).
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn unregister_device(&self, caller: &Caller, device_id: &str) -> Result<bool> {
        let device_id = limits::id("id", device_id)?;
        if self.store.unregister_device(&caller.id, &device_id).await? {
            Ok(true)
        } else {
            Err(Error::NotFound("you have no device with this id".into()))
        }
    }

    /// The caller's devices and settings.
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn push_settings(&self, caller: &Caller) -> Result<SettingsView> {
        let profile = self.push_profile(&caller.id).await?;
        Ok(SettingsView {
            devices: profile.devices,
            settings: profile.settings,
        })
    }

    /// Changes the caller's settings; what the input leaves out stays.
    #[instrument(skip(self, change), fields(caller = %caller.id))]
    pub async fn update_push_settings(
        &self,
        caller: &Caller,
        change: SettingsChange,
    ) -> Result<SettingsView> {
        let dnd_until = change
            .dnd_until
            .map(|until| until.as_deref().map(limits::time).transpose())
            .transpose()?;
        let mut profile = self.push_profile(&caller.id).await?;
        let settings = &mut profile.settings;
        if let Some(until) = dnd_until {
            settings.dnd_until = until;
        }
        if let Some(hide) = change.hide_content {
            settings.hide_content = hide;
        }
        if let Some(mentions) = change.mentions {
            settings.mentions = mentions;
        }
        self.store.set_push_settings(&caller.id, settings).await?;
        Ok(SettingsView {
            devices: profile.devices,
            settings: profile.settings,
        })
    }

    /// Sets what the caller hears of one of their conversations.
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn set_conversation_notifications(
        &self,
        caller: &Caller,
        conversation_id: &str,
        level: NotifyLevel,
    ) -> Result<ConversationNotifications> {
        let conversation_id = limits::id("conversationId", conversation_id)?;
        if !self
            .store
            .set_notify_level(&caller.id, &conversation_id, level)
            .await?
        {
            return Err(Error::not_member());
        }
        Ok(ConversationNotifications {
            conversation_id,
            level,
        })
    }

    async fn push_profile(&self, user_id: &str) -> Result<PushProfile> {
        let found = self.store.push_profiles(&[user_id.to_string()]).await?;
        Ok(found.into_iter().next().unwrap_or_else(|| PushProfile {
            user_id: user_id.to_string(),
            ..PushProfile::default()
        }))
    }
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
