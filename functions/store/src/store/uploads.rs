//! Uploads' rows in the Conversations table, their place in a message's
//! write, and the sweeper's index (`pendingUploads`).

use aws_sdk_dynamodb::types::{DeleteRequest, ReturnValue, WriteRequest};
use chat_domain::attachments::{Attachment, AttachmentState, Upload};
use chat_domain::ports::UploadStore;

use super::*;
use crate::items::{UploadItem, UPLOAD_SHARDS};
use crate::tables::PENDING_UPLOADS;

/// BatchWriteItem's limit.
const BATCH_WRITE_MAX: usize = 25;

/// When a released upload entered the sweeper's index: before any
/// `before` a sweep asks about, so the next sweep takes it.
const RELEASED_SINCE: &str = "0000";

impl DynamoStore {
    fn upload_key(upload_id: &str) -> Result<Attrs> {
        to_attrs(&IdKey {
            id: UploadItem::id_of(upload_id),
        })
    }

    /// A new message's hold on an upload: the message's id set, the upload
    /// out of the sweeper's index, on the condition that the upload is the
    /// author's, for this conversation, in the state the message carries,
    /// and on no other message. A failed condition cancels the message's
    /// write ([`PutMessageOutcome::UploadsMoved`]).
    pub(super) fn attach_upload(
        &self,
        change: &MessageChange,
        a: &Attachment,
    ) -> Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.tables.conversations)
            .set_key(Some(Self::upload_key(&a.id)?))
            .update_expression("SET messageId = :m REMOVE pendingShard, pendingSince")
            .condition_expression(
                "ownerId = :owner AND conversationId = :c AND #s = :state \
                 AND (attribute_not_exists(messageId) OR messageId = :m) \
                 AND attribute_not_exists(sweeping)",
            )
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":m", to_av(&change.message.id)?)
            .expression_attribute_values(":owner", to_av(&change.message.author_id)?)
            .expression_attribute_values(":c", to_av(&change.conversation_id)?)
            .expression_attribute_values(":state", to_av(&a.state)?)
            .build()?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// An upload let go by its message, into the sweeper's index, due at
    /// its next run.
    pub(super) fn release_upload(&self, upload_id: &str) -> Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.tables.conversations)
            .set_key(Some(Self::upload_key(upload_id)?))
            .update_expression("SET pendingShard = :shard, pendingSince = :since")
            .expression_attribute_values(":shard", to_av(&UploadItem::shard_of(upload_id))?)
            .expression_attribute_values(":since", to_av(&RELEASED_SINCE)?)
            .build()?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

impl UploadStore for DynamoStore {
    async fn put_upload(&self, upload: &Upload) -> chat_domain::error::Result<()> {
        self.client
            .put_item()
            .table_name(&self.tables.conversations)
            .set_item(Some(to_attrs(&UploadItem::new(upload))?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn uploads(&self, ids: &[String]) -> chat_domain::error::Result<Vec<Upload>> {
        let keys: Vec<IdKey> = ids
            .iter()
            .map(|id| IdKey {
                id: UploadItem::id_of(id),
            })
            .collect();
        let items: Vec<UploadItem> = self.batch_items(&self.tables.conversations, &keys).await?;
        Ok(items.into_iter().map(Upload::from).collect())
    }

    async fn finish_upload(&self, done: &Upload) -> chat_domain::error::Result<Option<Upload>> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.conversations)
            .set_key(Some(Self::upload_key(&done.id)?))
            .update_expression(
                "SET #s = :state, thumbnail = :thumb, storedSize = :stored, \
                 width = :w, height = :h, #e = :error",
            )
            .condition_expression("#s = :pending")
            .expression_attribute_names("#s", "state")
            .expression_attribute_names("#e", "error")
            .expression_attribute_values(":state", to_av(&done.state)?)
            .expression_attribute_values(":pending", to_av(&AttachmentState::Pending)?)
            .expression_attribute_values(":thumb", to_av(&done.thumbnail)?)
            .expression_attribute_values(":stored", to_av(&done.stored_size)?)
            .expression_attribute_values(":w", to_av(&done.width)?)
            .expression_attribute_values(":h", to_av(&done.height)?)
            .expression_attribute_values(":error", to_av(&done.error)?)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item: UploadItem = from_attrs(out.attributes.unwrap_or_default())?;
                Ok(Some(item.into()))
            }
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(None),
                _ => Err(StoreError::from(err).into()),
            },
        }
    }

    async fn expired_uploads(
        &self,
        before: &str,
        limit: usize,
    ) -> chat_domain::error::Result<Vec<Upload>> {
        let mut out = Vec::new();
        let mut bare = Vec::new();
        for shard in 0..UPLOAD_SHARDS {
            if out.len() >= limit {
                break;
            }
            let page = self
                .client
                .query()
                .table_name(&self.tables.conversations)
                .index_name(PENDING_UPLOADS)
                .key_condition_expression("pendingShard = :shard AND pendingSince < :before")
                .expression_attribute_values(":shard", to_av(&format!("u{shard}"))?)
                .expression_attribute_values(":before", to_av(&before)?)
                .limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(StoreError::from)?;
            for item in page.items.unwrap_or_default() {
                let id = item.get("id").and_then(|v| v.as_s().ok()).cloned();
                match from_attrs::<UploadItem>(item) {
                    Ok(u) => out.push(Upload::from(u)),
                    // A release of a row removed meanwhile leaves a bare
                    // key in the index, with nothing to remove but itself.
                    Err(_) => bare.extend(
                        id.and_then(|i| i.strip_prefix(UploadItem::PREFIX).map(str::to_string)),
                    ),
                }
            }
        }
        if !bare.is_empty() {
            tracing::info!(rows = bare.len(), "removed bare upload rows");
            self.delete_uploads(&bare).await?;
        }
        Ok(out)
    }

    async fn claim_uploads(&self, ids: &[String]) -> chat_domain::error::Result<Vec<String>> {
        let claims = ids.iter().map(|id| async move {
            let result = self
                .client
                .update_item()
                .table_name(&self.tables.conversations)
                .set_key(Some(Self::upload_key(id)?))
                .update_expression("SET sweeping = :t")
                .condition_expression("attribute_exists(pendingSince)")
                .expression_attribute_values(":t", to_av(&true)?)
                .send()
                .await;
            Ok::<_, StoreError>(updated(result)?.then(|| id.clone()))
        });
        let claimed = futures::future::try_join_all(claims).await?;
        Ok(claimed.into_iter().flatten().collect())
    }

    async fn delete_uploads(&self, ids: &[String]) -> chat_domain::error::Result<()> {
        for chunk in ids.chunks(BATCH_WRITE_MAX) {
            let mut requests = chunk
                .iter()
                .map(|id| {
                    Ok(WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .set_key(Some(Self::upload_key(id)?))
                                .build()?,
                        )
                        .build())
                })
                .collect::<Result<Vec<_>>>()?;
            // Unprocessed writes (throttling) are sent again, a few times.
            for attempt in 0..5u32 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.tables.conversations, requests)
                    .send()
                    .await
                    .map_err(StoreError::from)?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.tables.conversations))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            if !requests.is_empty() {
                return Err(StoreError::Contended("upload rows").into());
            }
        }
        Ok(())
    }
}
