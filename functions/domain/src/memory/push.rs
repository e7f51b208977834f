//! Push rows and levels in memory, and a pusher that records what it sent.

use std::collections::{HashMap, HashSet};

use super::*;

impl PushStore for MemoryStore {
    async fn push_profiles(&self, user_ids: &[String]) -> Result<Vec<PushProfile>> {
        Ok(self.with(|t| {
            user_ids
                .iter()
                .filter_map(|id| t.push.get(id).cloned())
                .collect()
        }))
    }

    async fn register_device(
        &self,
        read: &PushProfile,
        device: &Device,
        claimed_by: Option<&str>,
        max_devices: usize,
    ) -> Result<RegisterDeviceOutcome> {
        Ok(self.with(|t| {
            let stored_rev = t.push.get(&read.user_id).map_or(0, |p| p.rev);
            let owner = t.device_owners.get(&device.id).map(String::as_str);
            if stored_rev != read.rev || owner != claimed_by {
                return RegisterDeviceOutcome::Moved;
            }
            let mut profile = read.clone();
            let count = profile.devices.len();
            match profile.devices.iter_mut().find(|d| d.id == device.id) {
                Some(known) => *known = device.clone(),
                None if count >= max_devices => return RegisterDeviceOutcome::TooMany,
                None => profile.devices.push(device.clone()),
            }
            profile.rev += 1;
            t.device_owners
                .insert(device.id.clone(), read.user_id.clone());
            t.push.insert(read.user_id.clone(), profile);
            RegisterDeviceOutcome::Registered
        }))
    }

    async fn device_owner(&self, device_id: &str) -> Result<Option<String>> {
        Ok(self.with(|t| t.device_owners.get(device_id).cloned()))
    }

    async fn unregister_device(&self, user_id: &str, device_id: &str) -> Result<bool> {
        Ok(self.with(|t| {
            let Some(profile) = t.push.get_mut(user_id) else {
                return false;
            };
            let before = profile.devices.len();
            profile.devices.retain(|d| d.id != device_id);
            if profile.devices.len() == before {
                return false;
            }
            profile.rev += 1;
            if t.device_owners.get(device_id).map(String::as_str) == Some(user_id) {
                t.device_owners.remove(device_id);
            }
            true
        }))
    }

    async fn set_push_settings(&self, user_id: &str, settings: &PushSettings) -> Result<()> {
        self.with(|t| {
            let profile = t
                .push
                .entry(user_id.to_string())
                .or_insert_with(|| PushProfile {
                    user_id: user_id.to_string(),
                    ..PushProfile::default()
                });
            profile.settings = settings.clone();
            profile.rev += 1;
        });
        Ok(())
    }

    async fn set_notify_level(
        &self,
        user_id: &str,
        conversation_id: &str,
        level: NotifyLevel,
    ) -> Result<bool> {
        Ok(
            self.with(|t| match t.links.get_mut(&key(user_id, conversation_id)) {
                Some(link) => {
                    link.notify = level;
                    true
                }
                None => false,
            }),
        )
    }

    async fn claim_push(
        &self,
        user_id: &str,
        conversation_id: &str,
        message_id: &str,
        now_ms: i64,
        interval_ms: i64,
    ) -> Result<bool> {
        Ok(self.with(|t| {
            let Some(link) = t.links.get_mut(&key(user_id, conversation_id)) else {
                return false;
            };
            let free = link
                .pushed
                .as_ref()
                .is_none_or(|(id, at)| id == message_id || *at <= now_ms - interval_ms);
            if free {
                link.pushed = Some((message_id.to_string(), now_ms));
            }
            free
        }))
    }
}

/// A pusher that records each push and answers as it is told: devices
/// marked gone answer [`SendOutcome::Gone`], failing ones a failure.
#[derive(Debug, Default)]
pub struct MemoryPusher {
    sent: Mutex<Vec<(Device, Notification)>>,
    gone: Mutex<HashSet<String>>,
    failing: Mutex<HashMap<String, String>>,
}

impl MemoryPusher {
    /// Every push sent so far, with its device.
    pub fn sent(&self) -> Vec<(Device, Notification)> {
        self.sent.lock().expect("pusher lock").clone()
    }

    /// The service calls this device's token gone from now on.
    pub fn mark_gone(&self, device_id: &str) {
        self.gone
            .lock()
            .expect("pusher lock")
            .insert(device_id.into());
    }

    /// The service fails this device's pushes from now on.
    pub fn fail(&self, device_id: &str, why: &str) {
        self.failing
            .lock()
            .expect("pusher lock")
            .insert(device_id.into(), why.into());
    }
}

impl Pusher for MemoryPusher {
    async fn send(&self, device: &Device, notification: &Notification) -> SendOutcome {
        if self.gone.lock().expect("pusher lock").contains(&device.id) {
            return SendOutcome::Gone;
        }
        if let Some(why) = self.failing.lock().expect("pusher lock").get(&device.id) {
            return SendOutcome::Failed(why.clone());
        }
        self.sent
            .lock()
            .expect("pusher lock")
            .push((device.clone(), notification.clone()));
        SendOutcome::Sent
    }
}
