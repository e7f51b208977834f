//! Push notifications' rows: each user's push row and device claims in the
//! Users table, and each member's level and push slot on their link.

use aws_sdk_dynamodb::types::Delete;
use chat_domain::ports::{PushStore, RegisterDeviceOutcome};
use chat_domain::push::{Device, NotifyLevel, PushProfile, PushSettings};

use super::*;
use crate::items::{DeviceClaimItem, PushItem};

/// Writes of a push row that lose a race read it again, this many times.
const MAX_ROW_ATTEMPTS: u32 = 5;

impl DynamoStore {
    /// The push row as a Put conditioned on the revision it was read at.
    fn put_push_row(&self, read_rev: u64, profile: &PushProfile) -> Result<TransactWriteItem> {
        let item = to_attrs(&PushItem::new(profile, read_rev + 1))?;
        let put = Put::builder()
            .table_name(&self.tables.users)
            .set_item(Some(item));
        let put = if read_rev == 0 {
            put.condition_expression("attribute_not_exists(id)")
        } else {
            put.condition_expression("rev = :rev")
                .expression_attribute_values(":rev", to_av(&read_rev)?)
        };
        Ok(TransactWriteItem::builder().put(put.build()?).build())
    }

    async fn push_row(&self, user_id: &str) -> Result<PushProfile> {
        let key = to_attrs(&IdKey {
            id: PushItem::id_of(user_id),
        })?;
        let item: Option<PushItem> = self.get(&self.tables.users, key).await?;
        Ok(item.map(PushProfile::from).unwrap_or_else(|| PushProfile {
            user_id: user_id.to_string(),
            ..PushProfile::default()
        }))
    }
}

impl PushStore for DynamoStore {
    async fn push_profiles(
        &self,
        user_ids: &[String],
    ) -> chat_domain::error::Result<Vec<PushProfile>> {
        let keys = user_ids
            .iter()
            .map(|id| IdKey {
                id: PushItem::id_of(id),
            })
            .collect::<Vec<_>>();
        let items: Vec<PushItem> = self.batch_items(&self.tables.users, &keys).await?;
        Ok(items.into_iter().map(PushProfile::from).collect())
    }

    async fn register_device(
        &self,
        read: &PushProfile,
        device: &Device,
        claimed_by: Option<&str>,
        max_devices: usize,
    ) -> chat_domain::error::Result<RegisterDeviceOutcome> {
        let mut profile = read.clone();
        let count = profile.devices.len();
        match profile.devices.iter_mut().find(|d| d.id == device.id) {
            Some(known) => *known = device.clone(),
            None if count >= max_devices => return Ok(RegisterDeviceOutcome::TooMany),
            None => profile.devices.push(device.clone()),
        }
        let claim = to_attrs(&DeviceClaimItem {
            id: DeviceClaimItem::id_of(&device.id),
            owner_id: read.user_id.clone(),
            push_until: 0,
        })?;
        let claim = Put::builder()
            .table_name(&self.tables.users)
            .set_item(Some(claim));
        let claim = match claimed_by {
            None => claim.condition_expression("attribute_not_exists(id)"),
            Some(owner) => claim
                .condition_expression("ownerId = :owner")
                .expression_attribute_values(":owner", to_av(&owner)?),
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put_push_row(read.rev, &profile)?)
            .transact_items(
                TransactWriteItem::builder()
                    .put(claim.build().map_err(StoreError::from)?)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(RegisterDeviceOutcome::Registered),
            Err(err) if failed_conditions(&err).is_some_and(|r| r.contains(&true)) => {
                Ok(RegisterDeviceOutcome::Moved)
            }
            Err(err) => Err(StoreError::from(err).into()),
        }
    }

    async fn device_owner(&self, device_id: &str) -> chat_domain::error::Result<Option<String>> {
        let key = to_attrs(&IdKey {
            id: DeviceClaimItem::id_of(device_id),
        })?;
        let claim: Option<DeviceClaimItem> = self.get(&self.tables.users, key).await?;
        Ok(claim.map(|c| c.owner_id))
    }

    async fn unregister_device(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> chat_domain::error::Result<bool> {
        for _ in 0..MAX_ROW_ATTEMPTS {
            let read = self.push_row(user_id).await?;
            let mut profile = read.clone();
            profile.devices.retain(|d| d.id != device_id);
            if profile.devices.len() == read.devices.len() {
                return Ok(false);
            }
            // The claim goes with the device, unless someone else holds it.
            let claim = Delete::builder()
                .table_name(&self.tables.users)
                .set_key(Some(to_attrs(&IdKey {
                    id: DeviceClaimItem::id_of(device_id),
                })?))
                .condition_expression("attribute_not_exists(id) OR ownerId = :owner")
                .expression_attribute_values(":owner", to_av(&user_id)?)
                .build()
                .map_err(StoreError::from)?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(self.put_push_row(read.rev, &profile)?)
                .transact_items(TransactWriteItem::builder().delete(claim).build())
                .send()
                .await;
            match result {
                Ok(_) => return Ok(true),
                Err(err) => match failed_conditions(&err) {
                    Some(r) if failed(&r, 0) => continue,
                    // Claimed by another user already: theirs to keep.
                    Some(r) if failed(&r, 1) => {
                        let result = self
                            .client
                            .transact_write_items()
                            .transact_items(self.put_push_row(read.rev, &profile)?)
                            .send()
                            .await;
                        match result {
                            Ok(_) => return Ok(true),
                            Err(err) if failed_conditions(&err).is_some() => continue,
                            Err(err) => return Err(StoreError::from(err).into()),
                        }
                    }
                    _ => return Err(StoreError::from(err).into()),
                },
            }
        }
        Err(StoreError::Contended("push row").into())
    }

    async fn set_push_settings(
        &self,
        user_id: &str,
        settings: &PushSettings,
    ) -> chat_domain::error::Result<()> {
        for _ in 0..MAX_ROW_ATTEMPTS {
            let read = self.push_row(user_id).await?;
            let profile = PushProfile {
                settings: settings.clone(),
                ..read.clone()
            };
            let result = self
                .client
                .transact_write_items()
                .transact_items(self.put_push_row(read.rev, &profile)?)
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(err) if failed_conditions(&err).is_some() => continue,
                Err(err) => return Err(StoreError::from(err).into()),
            }
        }
        Err(StoreError::Contended("push row").into())
    }

    async fn set_notify_level(
        &self,
        user_id: &str,
        conversation_id: &str,
        level: NotifyLevel,
    ) -> chat_domain::error::Result<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.convo_links)
            .set_key(Some(to_attrs(&LinkKey::new(user_id, conversation_id))?))
            .update_expression("SET notify = :level")
            .condition_expression("attribute_exists(convoLinkUserId)")
            .expression_attribute_values(":level", to_av(&level)?)
            .send()
            .await;
        Ok(updated(result)?)
    }

    async fn claim_push(
        &self,
        user_id: &str,
        conversation_id: &str,
        message_id: &str,
        now_ms: i64,
        interval_ms: i64,
    ) -> chat_domain::error::Result<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.convo_links)
            .set_key(Some(to_attrs(&LinkKey::new(user_id, conversation_id))?))
            .update_expression("SET pushedId = :id, pushedAt = :now")
            .condition_expression(
                "attribute_exists(convoLinkUserId) AND (attribute_not_exists(pushedAt) OR pushedAt <= :cut OR pushedId = :id)",
            )
            .expression_attribute_values(":id", to_av(&message_id)?)
            .expression_attribute_values(":now", to_av(&now_ms)?)
            .expression_attribute_values(":cut", to_av(&(now_ms - interval_ms))?)
            .send()
            .await;
        Ok(updated(result)?)
    }
}
