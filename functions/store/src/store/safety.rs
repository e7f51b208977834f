//! Blocks and users' standing in the Conversations table: each user's block
//! list (one row, versioned), the pair rows of the `blockers` index, and
//! suspensions and bans, each written with its audit log entry.

use chat_domain::moderation::AuditEntry;
use chat_domain::ports::SafetyStore;
use chat_domain::reports::ReportStatus;
use chat_domain::safety::{BlockChange, BlockList, Saved, Standing};

use super::*;
use crate::items::{BlockItem, BlockListItem, StandingItem};
use crate::tables::BLOCKERS;

/// Who blocks someone is read in pages of this many.
const BLOCKERS_PAGE: u32 = 1_000;

/// The blocker of a pair row, as the keys-only `blockers` index has it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Blocker {
    blocker_id: String,
}

impl DynamoStore {
    fn standing_key(user_id: &str) -> Result<Attrs> {
        to_attrs(&IdKey {
            id: StandingItem::id_of(user_id),
        })
    }

    /// A row of the Conversations table written whatever stands there.
    fn put_always(&self, item: Attrs) -> Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.tables.conversations)
            .set_item(Some(item))
            .build()?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> std::result::Result<(), SdkError<TransactWriteItemsError>> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
    }
}

impl SafetyStore for DynamoStore {
    async fn block_list(&self, user_id: &str) -> chat_domain::error::Result<BlockList> {
        let key = to_attrs(&IdKey {
            id: BlockListItem::id_of(user_id),
        })?;
        let item: Option<BlockListItem> = self.get(&self.tables.conversations, key).await?;
        Ok(item.map(BlockList::from).unwrap_or_default())
    }

    async fn save_block_list(
        &self,
        user_id: &str,
        list: &BlockList,
        change: BlockChange<'_>,
    ) -> chat_domain::error::Result<Saved> {
        let mut write = Put::builder()
            .table_name(&self.tables.conversations)
            .set_item(Some(to_attrs(&BlockListItem::new(user_id, list))?));
        write = match list.version.checked_sub(1) {
            Some(0) | None => write.condition_expression("attribute_not_exists(id)"),
            Some(seen) => write
                .condition_expression("version = :seen")
                .expression_attribute_values(":seen", to_av(&seen)?),
        };
        let put = write.build().map_err(StoreError::from)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        items.push(match change {
            BlockChange::Added(entry) => self.put_always(to_attrs(&BlockItem {
                id: BlockItem::id_of(user_id, &entry.user_id),
                blocker_id: user_id.to_string(),
                blocked_id: entry.user_id.clone(),
                blocked_at: Some(entry.blocked_at.clone()),
            })?)?,
            BlockChange::Removed(blocked) => TransactWriteItem::builder()
                .delete(
                    aws_sdk_dynamodb::types::Delete::builder()
                        .table_name(&self.tables.conversations)
                        .set_key(Some(to_attrs(&IdKey {
                            id: BlockItem::id_of(user_id, blocked),
                        })?))
                        .build()
                        .map_err(StoreError::from)?,
                )
                .build(),
        });
        match self.transact(items).await {
            Ok(()) => Ok(Saved::Saved),
            Err(err) if failed_conditions(&err).is_some_and(|f| failed(&f, 0)) => Ok(Saved::Moved),
            Err(err) => Err(StoreError::from(err).into()),
        }
    }

    async fn blockers_of(&self, user_id: &str) -> chat_domain::error::Result<Vec<String>> {
        let mut blockers = Vec::new();
        let mut page = PageQuery {
            limit: BLOCKERS_PAGE,
            after: None,
        };
        loop {
            let (rows, cursor) = self
                .query::<Blocker>(
                    &self.tables.conversations,
                    Some(BLOCKERS),
                    "blockedId",
                    user_id,
                    &page,
                    true,
                    false,
                )
                .await?;
            blockers.extend(rows.into_iter().map(|r| r.blocker_id));
            match cursor {
                Some(after) => page.after = Some(after),
                None => return Ok(blockers),
            }
        }
    }

    async fn who_block(
        &self,
        user_id: &str,
        users: &[String],
    ) -> chat_domain::error::Result<Vec<String>> {
        let keys: Vec<IdKey> = users
            .iter()
            .map(|u| IdKey {
                id: BlockItem::id_of(u, user_id),
            })
            .collect();
        let rows: Vec<BlockItem> = self.batch_items(&self.tables.conversations, &keys).await?;
        Ok(rows.into_iter().map(|r| r.blocker_id).collect())
    }

    async fn standing(&self, user_id: &str) -> chat_domain::error::Result<Option<Standing>> {
        let item: Option<StandingItem> = self
            .get(&self.tables.conversations, Self::standing_key(user_id)?)
            .await?;
        Ok(item.map(Standing::from))
    }

    async fn set_standing(
        &self,
        standing: &Standing,
        audit: &AuditEntry,
    ) -> chat_domain::error::Result<()> {
        let mut items = vec![
            self.put_always(to_attrs(&StandingItem::from(standing))?)?,
            self.log_action(audit)?,
        ];
        if let Some(id) = &audit.report_id {
            items.push(self.close_report(id, ReportStatus::Actioned, audit)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(err) if failed_conditions(&err).is_some_and(|f| failed(&f, 2)) => {
                Err(chat_domain::Error::NotFound("no such report".into()))
            }
            Err(err) => Err(StoreError::from(err).into()),
        }
    }

    async fn clear_standing(
        &self,
        user_id: &str,
        audit: &AuditEntry,
    ) -> chat_domain::error::Result<Option<Standing>> {
        let Some(standing) = self.standing(user_id).await? else {
            return Ok(None);
        };
        let remove = TransactWriteItem::builder()
            .delete(
                aws_sdk_dynamodb::types::Delete::builder()
                    .table_name(&self.tables.conversations)
                    .set_key(Some(Self::standing_key(user_id)?))
                    .condition_expression("#at = :at")
                    .expression_attribute_names("#at", "at")
                    .expression_attribute_values(":at", to_av(&standing.at)?)
                    .build()
                    .map_err(StoreError::from)?,
            )
            .build();
        match self.transact(vec![remove, self.log_action(audit)?]).await {
            Ok(()) => Ok(Some(standing)),
            // Replaced meanwhile by another moderator's action: that stands.
            Err(err) if failed_conditions(&err).is_some_and(|f| failed(&f, 0)) => {
                Err(chat_domain::Error::Conflict(
                    "another moderator changed this user's standing; read it again".into(),
                ))
            }
            Err(err) => Err(StoreError::from(err).into()),
        }
    }
}
