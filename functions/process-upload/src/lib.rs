//! The upload processor: S3 invokes it when an upload lands
//! (`s3:ObjectCreated:*` under `uploads/`). For each upload it checks the
//! bytes against the declared type, makes the file to keep (an image
//! without its metadata) and a thumbnail, records the upload ready or
//! failed, updates the message it is on and pushes that change, and
//! deletes the bytes as sent.
//!
//! A thin Lambda function: `main` builds the service and the bucket's
//! client once per cold start and [`handler`] runs each record of an event.
//! The work on pixels runs on a blocking thread, one upload at a time.

use aws_lambda_events::s3::{S3Event, S3EventRecord};
use chat_domain::attachments::{
    file_key, file_type, parse_upload_key, thumbnail_key, AttachmentState, Upload,
};
use chat_domain::{ChatService, ChatStore, Publisher};
use chat_media::{process, S3Media};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use tracing::instrument;

/// A record that could not be handled: the event fails, and S3's
/// asynchronous invocation retries it.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Domain(#[from] chat_domain::Error),
    #[error("the processing thread failed")]
    Join(#[from] tokio::task::JoinError),
}

impl From<ProcessError> for Diagnostic {
    fn from(e: ProcessError) -> Self {
        Diagnostic {
            error_type: "ProcessError".into(),
            error_message: chat_domain::Chain(&e).to_string(),
        }
    }
}

/// An S3 event's object key, which S3 sends URL-encoded (`+` for space).
fn decoded_key(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&raw[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the processor works with: the service (store and pushes) and the
/// bucket.
#[derive(Debug)]
pub struct Processor<S, P> {
    pub service: std::sync::Arc<ChatService<S, P>>,
    pub media: S3Media,
}

impl<S, P> Clone for Processor<S, P> {
    fn clone(&self) -> Self {
        Processor {
            service: self.service.clone(),
            media: self.media.clone(),
        }
    }
}

#[instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handler<S: ChatStore, P: Publisher>(
    processor: &Processor<S, P>,
    event: LambdaEvent<S3Event>,
) -> Result<Value, ProcessError> {
    let mut outcomes = Vec::new();
    for record in &event.payload.records {
        outcomes.push(process_record(&processor.service, &processor.media, record).await?);
    }
    Ok(json!({ "processed": outcomes }))
}

/// One landed object: its upload ready or failed, or nothing (not an
/// upload, or processed already).
async fn process_record<S: ChatStore, P: Publisher>(
    service: &ChatService<S, P>,
    media: &S3Media,
    record: &S3EventRecord,
) -> Result<Value, ProcessError> {
    let Some(raw) = record.s3.object.key.as_deref() else {
        return Ok(Value::Null);
    };
    let key = decoded_key(raw);
    let Some((conversation_id, upload_id)) = parse_upload_key(&key) else {
        tracing::warn!(key, "not an upload's key; left alone");
        return Ok(Value::Null);
    };
    let Some(upload) = service
        .upload(upload_id)
        .await?
        .filter(|u| u.conversation_id == conversation_id)
    else {
        // Nobody asked for it (or it was swept): it goes.
        tracing::warn!(key, "an object no upload names; deleted");
        chat_domain::ports::Media::delete(media, std::slice::from_ref(&key)).await?;
        return Ok(json!({ "key": key, "state": "UNKNOWN" }));
    };
    if upload.state != AttachmentState::Pending {
        return Ok(json!({ "id": upload.id, "state": upload.state }));
    }
    let declared = file_type(&upload.content_type);
    let bytes = media
        .get(&key, chat_domain::limits::MAX_UPLOAD_BYTES)
        .await?;
    let Some(bytes) = bytes else {
        // Processed by an earlier delivery of this event.
        return Ok(Value::Null);
    };
    let sent_size = bytes.len() as u64;
    let result = match declared {
        Some(t) => tokio::task::spawn_blocking(move || process(t, &bytes)).await?,
        None => Err(chat_media::Refusal::NotItsType("allowed")),
    };
    let done = match result {
        Ok(p) => {
            let file = file_key(conversation_id, upload_id);
            let stored_size = p.file.len() as u64;
            media.put(&file, &upload.content_type, p.file).await?;
            let thumbnail = match p.thumbnail {
                Some(t) => {
                    media
                        .put(&thumbnail_key(conversation_id, upload_id), "image/jpeg", t)
                        .await?;
                    true
                }
                None => false,
            };
            Upload {
                state: AttachmentState::Ready,
                width: p.width,
                height: p.height,
                stored_size: Some(stored_size),
                thumbnail,
                ..upload.clone()
            }
        }
        Err(refusal) => {
            tracing::info!(upload = %upload.id, why = %refusal, "upload refused");
            Upload {
                state: AttachmentState::Failed,
                error: Some(chat_domain::notify::cut(&refusal.to_string(), 200)),
                ..upload.clone()
            }
        }
    };
    let recorded = service.upload_processed(&done).await?;
    let mut gone = vec![key.clone()];
    // Not pending any more: another delivery of this event finished it
    // (its files are these keys: they stay), or it was removed meanwhile
    // (what this run made goes too).
    if recorded.is_none() && service.upload(upload_id).await?.is_none() {
        gone.push(file_key(conversation_id, upload_id));
        gone.push(thumbnail_key(conversation_id, upload_id));
    }
    chat_domain::ports::Media::delete(media, &gone).await?;
    tracing::info!(upload = %upload.id, state = ?done.state, sent_size, "upload processed");
    Ok(json!({ "id": upload.id, "state": done.state, "error": done.error }))
}

#[cfg(test)]
mod tests {
    use super::decoded_key;

    #[test]
    fn event_keys_are_url_decoded() {
        assert_eq!(decoded_key("uploads/c%3A1/u+1"), "uploads/c:1/u 1");
        assert_eq!(decoded_key("a%"), "a%");
        assert_eq!(decoded_key("a%zz"), "a%zz");
    }
}
