//! Attachments: `createUpload` (a presigned upload straight to the bucket),
//! what `createMessage` checks before it attaches an upload, the end of an
//! upload's processing, the links readers get, and the removal of files
//! that no message holds.
//!
//! An upload's life:
//!
//! 1. `createUpload`: a member asks to send a file to a conversation. The
//!    server checks the type and size, names the key, stores the upload
//!    (pending, and in the sweeper's index) and presigns a PUT of exactly
//!    that size and type, good for [`limits::UPLOAD_URL_SECS`].
//! 2. The client sends the bytes to the bucket; they never pass through a
//!    resolver. Their landing invokes the processing function.
//! 3. `createMessage` attaches it: the owner, the conversation and the
//!    first bytes are checked, and the message's write takes the upload out
//!    of the sweeper's index on the condition that it is as read.
//! 4. Processing ends ([`ChatService::upload_processed`]): the upload is
//!    ready or failed, and the message it is on (if any) changes and is
//!    pushed as `PROCESSED`.
//! 5. Deleting the message releases its uploads into the sweeper's index
//!    in the tombstone's write; their files are removed right after, or by
//!    the sweeper's next run if that fails. An upload never attached is
//!    swept [`limits::UNATTACHED_UPLOAD_SECS`] after it was asked for.

use tracing::instrument;

use crate::attachments::{
    file_key, thumbnail_key, Attachment, AttachmentState, Upload, UploadTicket, SNIFF_BYTES,
};
use crate::clock::{next_seq, now, now_ms};
use crate::error::{Error, Result};
use crate::limits;
use crate::model::{Caller, ChangeKind, Message, MessageChange};
use crate::ports::{ChangeOutcome, ChatStore, Media, Publisher};
use crate::service::{contended, ChatService};

/// `createUpload`'s input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewUpload {
    pub conversation_id: String,
    pub content_type: String,
    pub size: i64,
    pub name: String,
}

const NO_MEDIA: &str = "this stack has no storage for attachments";

/// What a removed upload leaves in the bucket, by key.
pub fn object_keys(upload: &Upload) -> [String; 3] {
    [
        upload.upload_key(),
        file_key(&upload.conversation_id, &upload.id),
        thumbnail_key(&upload.conversation_id, &upload.id),
    ]
}

impl<S, P> ChatService<S, P> {
    fn media(&self) -> Result<&dyn Media> {
        self.media
            .as_deref()
            .ok_or_else(|| Error::validation(NO_MEDIA))
    }

    /// Fills in the download links of `messages`' ready attachments. Each
    /// link is signed as of the start of the current
    /// [`limits::DOWNLOAD_URL_WINDOW_SECS`] window, so every read in one
    /// window hands out the same link.
    pub(crate) async fn sign_attachments(&self, messages: &mut [Message]) -> Result<()> {
        let Some(media) = self.media.as_deref() else {
            return Ok(());
        };
        let (lifetime, window) = self.links;
        let now_secs = u64::try_from(now_ms() / 1000).unwrap_or(0);
        let signed_at = now_secs - now_secs % window;
        for message in messages.iter_mut().filter(|m| m.deleted_at.is_none()) {
            let conversation = message.message_conversation_id.clone();
            for a in message
                .attachments
                .iter_mut()
                .filter(|a| a.state == AttachmentState::Ready)
            {
                let disposition = disposition(a);
                a.url = Some(
                    media
                        .presign_download(
                            &file_key(&conversation, &a.id),
                            &disposition,
                            signed_at,
                            lifetime,
                        )
                        .await?,
                );
                if a.thumbnail {
                    a.thumbnail_url = Some(
                        media
                            .presign_download(
                                &thumbnail_key(&conversation, &a.id),
                                "inline",
                                signed_at,
                                lifetime,
                            )
                            .await?,
                    );
                }
            }
        }
        Ok(())
    }
}

/// How a browser is told to show a file: images inline, anything else as a
/// download under its name (so a file never renders as a page of the
/// bucket's origin).
fn disposition(a: &Attachment) -> String {
    let kind = if a.content_type.starts_with("image/") && a.thumbnail {
        "inline"
    } else {
        "attachment"
    };
    // The name in ASCII only (RFC 6266's `filename`; anything else
    // becomes `_`): it is part of the signed link, whose length a live
    // message's payload budgets (see `limits::MAX_LINK_CHARS`).
    let ascii: String = a
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{kind}; filename=\"{ascii}\"")
}

impl<S: ChatStore, P: Send + Sync> ChatService<S, P> {
    /// Asks to send a file to a conversation the caller is a member of: a
    /// presigned PUT of exactly `size` bytes of `content_type`, to a key
    /// the server chooses.
    #[instrument(skip(self, input), fields(caller = %caller.id, conversation = %input.conversation_id))]
    pub async fn create_upload(&self, caller: &Caller, input: NewUpload) -> Result<UploadTicket> {
        let media = self.media()?;
        let conversation_id = limits::id("conversationId", &input.conversation_id)?;
        let (file_type, size, name) = limits::upload(&input.content_type, input.size, &input.name)?;
        let (link, _) = self
            .store
            .membership(&caller.id, &conversation_id, false)
            .await?;
        if link.is_none() {
            return Err(Error::not_member());
        }
        let upload = Upload {
            id: next_seq(),
            conversation_id,
            owner_id: caller.id.clone(),
            content_type: file_type.mime.to_string(),
            name,
            size,
            created_at: now(),
            state: AttachmentState::Pending,
            error: None,
            width: None,
            height: None,
            stored_size: None,
            thumbnail: false,
            message_id: None,
        };
        self.store.put_upload(&upload).await?;
        let presigned = media
            .presign_upload(
                &upload.upload_key(),
                &upload.content_type,
                size,
                limits::UPLOAD_URL_SECS,
            )
            .await?;
        let expires =
            chrono::Utc::now() + chrono::Duration::seconds(limits::UPLOAD_URL_SECS as i64);
        Ok(UploadTicket {
            id: upload.id,
            method: presigned.method,
            url: presigned.url,
            headers: presigned.headers,
            expires_at: expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            max_bytes: limits::MAX_UPLOAD_BYTES,
        })
    }

    /// The attachments a new message `message_id` by the caller in
    /// `conversation_id` may carry, in the order given: each an upload the
    /// caller made for this conversation, not on another message, not
    /// failed, and, if not processed yet, uploaded and beginning as its
    /// type does. An upload that is not the caller's for this
    /// conversation gets the same answer whether it exists or not.
    pub(crate) async fn attachments_for(
        &self,
        caller: &Caller,
        conversation_id: &str,
        message_id: &str,
        ids: &[String],
    ) -> Result<Vec<Attachment>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let media = self.media()?;
        let uploads = self.store.uploads(ids).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let upload = uploads
                .iter()
                .find(|u| &u.id == id)
                .filter(|u| u.owner_id == caller.id && u.conversation_id == conversation_id)
                .ok_or_else(|| {
                    Error::validation(format!(
                        "attachment {id} is not an upload of yours for this conversation"
                    ))
                })?;
            match upload.message_id.as_deref() {
                // A retry of this very message: as attached before.
                Some(m) if m == message_id => {
                    out.push(upload.attachment());
                    continue;
                }
                Some(_) => {
                    return Err(Error::Conflict(format!(
                        "attachment {id} is on another message already"
                    )))
                }
                None => {}
            }
            match upload.state {
                AttachmentState::Failed => {
                    return Err(Error::validation(format!(
                        "attachment {id} failed: {}",
                        upload
                            .error
                            .as_deref()
                            .unwrap_or("it could not be processed")
                    )))
                }
                AttachmentState::Pending => {
                    let Some(head) = media.first_bytes(&upload.upload_key(), SNIFF_BYTES).await?
                    else {
                        // Processing deletes the bytes once it has recorded
                        // its end: an upload gone since the read may be done.
                        let now = self.store.uploads(std::slice::from_ref(id)).await?.pop();
                        match now {
                            Some(done) if done.state == AttachmentState::Ready => {
                                out.push(done.attachment());
                                continue;
                            }
                            Some(done) if done.state == AttachmentState::Failed => {
                                return Err(Error::validation(format!(
                                    "attachment {id} failed: {}",
                                    done.error.as_deref().unwrap_or("it could not be processed")
                                )))
                            }
                            _ => {
                                return Err(Error::validation(format!(
                                    "attachment {id} has not been uploaded yet: send its bytes to its upload url first"
                                )))
                            }
                        }
                    };
                    let declared = crate::attachments::file_type(&upload.content_type);
                    if !declared.is_some_and(|t| t.matches(&head)) {
                        return Err(Error::validation(format!(
                            "attachment {id}'s bytes are not {}",
                            upload.content_type
                        )));
                    }
                }
                AttachmentState::Ready => {}
            }
            out.push(upload.attachment());
        }
        Ok(out)
    }

    /// An upload, by id, for the functions that act on it for the system
    /// (processing); no caller is checked.
    pub async fn upload(&self, id: &str) -> Result<Option<Upload>> {
        Ok(self.store.uploads(&[id.to_string()]).await?.pop())
    }

    /// Removes uploads and their files: those a message let go of, and
    /// those the sweeper found. Each is claimed first, on the condition that
    /// it is still in the sweeper's index, and a claimed upload can no longer
    /// be attached: so a message never gets an upload whose files are going.
    /// Then its files go, and its row last, so a failure leaves the upload
    /// to the next sweep rather than files without a row.
    pub(crate) async fn discard_uploads(&self, uploads: &[Upload]) -> Result<()> {
        if uploads.is_empty() {
            return Ok(());
        }
        let media = self.media()?;
        let ids: Vec<String> = uploads.iter().map(|u| u.id.clone()).collect();
        let claimed = self.store.claim_uploads(&ids).await?;
        let keys: Vec<String> = uploads
            .iter()
            .filter(|u| claimed.contains(&u.id))
            .flat_map(object_keys)
            .collect();
        media.delete(&keys).await?;
        self.store.delete_uploads(&claimed).await
    }

    /// Removes the uploads a change took off their message, with their
    /// files. A failure is logged: the change's write handed them to the
    /// sweeper already.
    pub(crate) async fn release_uploads(&self, ids: &[String]) {
        if ids.is_empty() {
            return;
        }
        let result = async {
            let uploads = self.store.uploads(ids).await?;
            self.discard_uploads(&uploads).await
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %crate::Chain(&err), "released uploads left to the sweeper");
        }
    }

    /// Removes the uploads never attached (asked for over
    /// [`limits::UNATTACHED_UPLOAD_SECS`] before `now_ms`) and those their
    /// message released, with their files, up to `limit` of them; returns
    /// how many.
    #[instrument(skip(self))]
    pub async fn sweep_uploads(&self, now_ms: i64, limit: usize) -> Result<usize> {
        let before =
            chrono::DateTime::from_timestamp_millis(now_ms - limits::UNATTACHED_UPLOAD_SECS * 1000)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let expired = self.store.expired_uploads(&before, limit).await?;
        self.discard_uploads(&expired).await?;
        Ok(expired.len())
    }
}

impl<S: ChatStore, P: Publisher> ChatService<S, P> {
    /// Records the end of an upload's processing (`done`: ready or failed)
    /// and, if it is on a message, updates that message's attachment and
    /// pushes it to the conversation as a `PROCESSED` change. Returns the
    /// upload as recorded, or `None` if it was not pending any more (a
    /// repeated event, or removed meanwhile): the caller then removes what
    /// it made.
    #[instrument(skip(self, done), fields(upload = %done.id, state = ?done.state))]
    pub async fn upload_processed(&self, done: &Upload) -> Result<Option<Upload>> {
        let Some(upload) = self.store.finish_upload(done).await? else {
            return Ok(None);
        };
        if let Some(message_id) = upload.message_id.clone() {
            self.refresh_attachment(&upload, &message_id).await?;
        }
        Ok(Some(upload))
    }

    /// Puts the upload's state on the message that carries it.
    async fn refresh_attachment(&self, upload: &Upload, message_id: &str) -> Result<()> {
        let mut attempts = 0;
        loop {
            let (_, _, mut messages) = self
                .store
                .messages_context(
                    &upload.owner_id,
                    &upload.conversation_id,
                    &[message_id.to_string()],
                    false,
                )
                .await?;
            let Some(message) = messages.pop() else {
                return Ok(());
            };
            if message.deleted_at.is_some() {
                return Ok(());
            }
            let attachment = upload.attachment();
            let mut attachments = message.attachments.clone();
            let Some(slot) = attachments.iter_mut().find(|a| a.id == upload.id) else {
                return Ok(());
            };
            if *slot == attachment {
                return Ok(());
            }
            *slot = attachment;
            let entry = MessageChange {
                kind: ChangeKind::Processed,
                conversation_id: upload.conversation_id.clone(),
                // Taken just before the write: see [`crate::changes::CHANGE_SETTLE_MS`].
                key: next_seq(),
                message: Message {
                    attachments,
                    version: message.version + 1,
                    updated_at: now(),
                    ..message
                },
                hidden_from: Vec::new(),
            };
            match self.store.change_message(&entry, &[]).await? {
                ChangeOutcome::Changed => {
                    let mut pushed = entry;
                    self.sign_attachments(std::slice::from_mut(&mut pushed.message))
                        .await?;
                    self.push_change(&mut pushed).await;
                    return Ok(());
                }
                ChangeOutcome::Moved => {
                    attempts += 1;
                    contended(attempts)?;
                }
            }
        }
    }
}
