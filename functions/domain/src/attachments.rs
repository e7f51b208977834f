//! Attachments' types: what an upload is, what a message carries of it,
//! and the file types the stack takes, each known by its first bytes.
//!
//! A leaf: limits, the model, the ports and the use-cases of
//! [`crate::uploads`] all build on it, and it imports none of them.
//!
//! # Keys
//!
//! The server names every object; a client never does:
//!
//! - `uploads/<conversation>/<upload>`: the bytes as the client sent them.
//!   Their landing starts processing, which deletes them when done.
//! - `media/<conversation>/<upload>/full`: the processed file (an image
//!   re-encoded without its metadata; any other file as sent).
//! - `media/<conversation>/<upload>/thumb`: an image's thumbnail.

use serde::{Deserialize, Serialize};

/// Where an upload is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttachmentState {
    /// Not uploaded yet, or uploaded and being processed.
    Pending,
    /// Processed: its file (and thumbnail, for an image) can be read.
    Ready,
    /// The file was not what it said, or could not be processed: nothing
    /// of it is kept, and `error` says why.
    Failed,
}

/// A file type the stack takes: its MIME type, how its first bytes begin,
/// and whether the processing decodes it as an image.
#[derive(Debug, Clone, Copy)]
pub struct FileType {
    pub mime: &'static str,
    /// Processed as an image: re-encoded without metadata, with a thumbnail.
    pub image: bool,
    sniff: fn(&[u8]) -> bool,
}

impl FileType {
    /// Whether `head` (a file's first [`SNIFF_BYTES`] bytes, or all of a
    /// shorter file) begins as this type does.
    pub fn matches(&self, head: &[u8]) -> bool {
        (self.sniff)(head)
    }
}

/// How many first bytes tell a type.
pub const SNIFF_BYTES: usize = 16;

fn jpeg(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF])
}

fn png(b: &[u8]) -> bool {
    b.starts_with(b"\x89PNG\r\n\x1a\n")
}

fn webp(b: &[u8]) -> bool {
    b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP"
}

fn gif(b: &[u8]) -> bool {
    b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a")
}

/// An ISO BMFF `ftyp` box whose major brand is one of HEIF's image brands.
fn heic(b: &[u8]) -> bool {
    b.len() >= 12
        && &b[4..8] == b"ftyp"
        && matches!(
            &b[8..12],
            b"heic" | b"heix" | b"heim" | b"heis" | b"mif1" | b"msf1"
        )
}

fn pdf(b: &[u8]) -> bool {
    b.starts_with(b"%PDF-")
}

/// The types an upload may declare.
pub const FILE_TYPES: &[FileType] = &[
    FileType {
        mime: "image/jpeg",
        image: true,
        sniff: jpeg,
    },
    FileType {
        mime: "image/png",
        image: true,
        sniff: png,
    },
    FileType {
        mime: "image/webp",
        image: true,
        sniff: webp,
    },
    FileType {
        mime: "image/gif",
        image: true,
        sniff: gif,
    },
    // Taken and kept as a file: the processing strips its metadata but
    // cannot decode HEVC, so it gets no thumbnail (see README).
    FileType {
        mime: "image/heic",
        image: false,
        sniff: heic,
    },
    FileType {
        mime: "application/pdf",
        image: false,
        sniff: pdf,
    },
];

/// The allowed type named `mime`, if any.
pub fn file_type(mime: &str) -> Option<&'static FileType> {
    FILE_TYPES.iter().find(|t| t.mime == mime)
}

/// An upload: a file a member sent for a conversation, before and after it
/// is attached to a message. Stored beside the conversations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    pub id: String,
    pub conversation_id: String,
    /// Who asked for it: the only user who may attach it.
    pub owner_id: String,
    pub content_type: String,
    /// The file's name as the client gave it (shown, never a key).
    pub name: String,
    /// Bytes, as declared and signed into the upload.
    pub size: u64,
    pub created_at: String,
    pub state: AttachmentState,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    /// Size of the processed file, when ready.
    #[serde(default)]
    pub stored_size: Option<u64>,
    #[serde(default)]
    pub thumbnail: bool,
    /// The message it is attached to.
    #[serde(default)]
    pub message_id: Option<String>,
}

impl Upload {
    /// Where the client's bytes land.
    pub fn upload_key(&self) -> String {
        upload_key(&self.conversation_id, &self.id)
    }

    /// What this upload is as a message shows it.
    pub fn attachment(&self) -> Attachment {
        Attachment {
            id: self.id.clone(),
            name: self.name.clone(),
            content_type: self.content_type.clone(),
            size: self.stored_size.unwrap_or(self.size),
            state: self.state,
            error: self.error.clone(),
            width: self.width,
            height: self.height,
            thumbnail: self.thumbnail,
            url: None,
            thumbnail_url: None,
        }
    }
}

/// Where the client's bytes for `upload_id` land.
pub fn upload_key(conversation_id: &str, upload_id: &str) -> String {
    format!("uploads/{conversation_id}/{upload_id}")
}

/// Where the processed file of `upload_id` is kept.
pub fn file_key(conversation_id: &str, upload_id: &str) -> String {
    format!("media/{conversation_id}/{upload_id}/full")
}

/// Where the thumbnail of `upload_id` is kept.
pub fn thumbnail_key(conversation_id: &str, upload_id: &str) -> String {
    format!("media/{conversation_id}/{upload_id}/thumb")
}

/// The conversation and upload ids of an upload's key, if it is one.
pub fn parse_upload_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("uploads/")?;
    let (conversation, upload) = rest.split_once('/')?;
    (!conversation.is_empty() && !upload.is_empty() && !upload.contains('/'))
        .then_some((conversation, upload))
}

/// A file on a message, as readers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Its upload's id.
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub state: AttachmentState,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    /// Whether it has a thumbnail (a processed image).
    #[serde(default)]
    pub thumbnail: bool,
    /// A short-lived link to the file, made for each read (ready only).
    #[serde(default)]
    pub url: Option<String>,
    /// A short-lived link to the thumbnail, made for each read.
    #[serde(default)]
    pub thumbnail_url: Option<String>,
}

/// A presigned upload: where and how the client sends the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresignedUpload {
    pub method: String,
    pub url: String,
    /// Headers the request must carry as they are: they are signed.
    pub headers: Vec<Header>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// `createUpload`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadTicket {
    pub id: String,
    pub method: String,
    pub url: String,
    pub headers: Vec<Header>,
    pub expires_at: String,
    pub max_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_knows_its_first_bytes_and_no_other_types() {
        let samples: &[(&str, &[u8])] = &[
            ("image/jpeg", b"\xFF\xD8\xFF\xE0\0\x10JFIF\0"),
            ("image/png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            ("image/webp", b"RIFF\x10\0\0\0WEBPVP8 "),
            ("image/gif", b"GIF89a\x01\0\x01\0"),
            ("image/heic", b"\0\0\0\x18ftypheic\0\0\0\0"),
            ("application/pdf", b"%PDF-1.7\n"),
        ];
        for (mime, head) in samples {
            for t in FILE_TYPES {
                assert_eq!(t.matches(head), t.mime == *mime, "{} on {mime}", t.mime);
            }
        }
        // An executable named .png is none of them.
        for exe in [&b"MZ\x90\0\x03\0\0\0"[..], b"\x7fELF\x02\x01\x01\0", b""] {
            assert!(FILE_TYPES.iter().all(|t| !t.matches(exe)));
        }
    }

    #[test]
    fn upload_keys_parse_back_and_nothing_else_does() {
        let key = upload_key("c1", "u1");
        assert_eq!(parse_upload_key(&key), Some(("c1", "u1")));
        for bad in [
            "media/c1/u1/full",
            "uploads/c1",
            "uploads//u1",
            "uploads/c1/u1/x",
        ] {
            assert_eq!(parse_upload_key(bad), None, "{bad}");
        }
    }
}
