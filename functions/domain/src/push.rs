//! Push notifications' settings: a user's devices (`registerDevice`,
//! `unregisterDevice`), their per-user settings (`updatePushSettings`:
//! do-not-disturb, previews, mentions through a mute) and per-conversation
//! levels (`setConversationNotifications`), all listed to that user alone
//! (`pushSettings`). Who gets a push, and what it says, is [`crate::notify`].

use serde::Serialize;
use tracing::instrument;

pub use crate::devices::{
    device_id, Device, NewDevice, Notification, NotificationKind, NotifyLevel, Platform,
    PushProfile, PushSettings, SendOutcome,
};
use crate::error::{Error, Result};
use crate::limits;
use crate::model::Caller;
use crate::ports::{ChatStore, PushStore, RegisterDeviceOutcome};
use crate::service::ChatService;

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
