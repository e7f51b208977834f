//! Attachments' files: the S3 adapter of the domain's [`Media`] port, and
//! the processing an upload goes through when it lands.
//!
//! # Layout
//!
//! - [`s3`]: [`S3Media`], presigned uploads and downloads, first bytes and
//!   deletes over the unchanged `aws-sdk-s3`.
//! - [`process`]: what becomes of an upload's bytes: its type checked by
//!   its first bytes, an image's size bounded from its header before any
//!   pixel is decoded, the image re-encoded without metadata and turned
//!   upright, and its thumbnail.
//! - [`heic`]: HEIC files, which are kept as sent but for their Exif and
//!   XMP items, overwritten in place.
//!
//! [`Media`]: chat_domain::ports::Media

pub mod heic;
pub mod process;
pub mod s3;

pub use process::{process, Processed, Refusal};
pub use s3::S3Media;
