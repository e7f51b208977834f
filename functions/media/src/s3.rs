//! The media bucket over `aws-sdk-s3`.

use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use futures::future::BoxFuture;
use futures::FutureExt;

use chat_domain::attachments::{Header, PresignedUpload};
use chat_domain::error::Result;
use chat_domain::ports::Media;
use chat_domain::Error;

/// The bucket's name, in every function that reads or writes attachments.
pub const MEDIA_BUCKET_ENV: &str = "MEDIA_BUCKET";

/// DeleteObjects' limit.
const DELETE_MAX: usize = 1000;

/// The media bucket.
#[derive(Debug, Clone)]
pub struct S3Media {
    client: Client,
    bucket: String,
}

impl S3Media {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Media {
            client,
            bucket: bucket.into(),
        }
    }

    /// The bucket `MEDIA_BUCKET` names, if set. An endpoint set for S3
    /// (`AWS_ENDPOINT_URL_S3`: the local stack's) is addressed by path, as
    /// a local endpoint has no bucket subdomains.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Option<Self> {
        let bucket = std::env::var(MEDIA_BUCKET_ENV)
            .ok()
            .filter(|b| !b.is_empty())?;
        let path_style = std::env::var("AWS_ENDPOINT_URL_S3").is_ok_and(|e| !e.is_empty());
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(path_style)
            .build();
        Some(S3Media::new(Client::from_conf(config), bucket))
    }

    /// Stores `bytes` at `key` as `content_type`.
    pub async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(bytes.into())
            .send()
            .await
            .map_err(Error::media)?;
        Ok(())
    }

    /// The whole object at `key` (at most `max` bytes: a larger one is an
    /// error), or `None` if there is none.
    pub async fn get(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) if no_such_key(&err) => return Ok(None),
            Err(err) => return Err(Error::media(err)),
        };
        let size = u64::try_from(out.content_length.unwrap_or(0)).unwrap_or(0);
        if size > max {
            return Err(Error::media(TooLarge(size)));
        }
        let bytes = out.body.collect().await.map_err(Error::media)?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }
}

/// An object over what its reader takes.
#[derive(Debug, thiserror::Error)]
#[error("the object is {0} bytes, over the limit")]
pub struct TooLarge(pub u64);

/// No object at the key (HeadObject and a ranged GET of a missing key
/// may answer a bare 404).
fn no_such_key(err: &SdkError<GetObjectError, aws_sdk_s3::config::http::HttpResponse>) -> bool {
    matches!(err.as_service_error(), Some(GetObjectError::NoSuchKey(_)))
        || err
            .raw_response()
            .is_some_and(|r| r.status().as_u16() == 404)
}

fn presigned_upload(request: PresignedRequest) -> PresignedUpload {
    PresignedUpload {
        method: request.method().to_string(),
        url: request.uri().to_string(),
        headers: request
            .headers()
            .map(|(name, value)| Header {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
    }
}

impl Media for S3Media {
    fn presign_upload<'a>(
        &'a self,
        key: &'a str,
        content_type: &'a str,
        size: u64,
        expires_secs: u64,
    ) -> BoxFuture<'a, Result<PresignedUpload>> {
        async move {
            let config = PresigningConfig::expires_in(Duration::from_secs(expires_secs))
                .map_err(Error::media)?;
            // The length and the type are signed: S3 refuses a body of any
            // other size, and a type other than the one checked here.
            let request = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .content_length(i64::try_from(size).unwrap_or(i64::MAX))
                .presigned(config)
                .await
                .map_err(Error::media)?;
            Ok(presigned_upload(request))
        }
        .boxed()
    }

    fn presign_download<'a>(
        &'a self,
        key: &'a str,
        disposition: &'a str,
        signed_at: u64,
        expires_secs: u64,
    ) -> BoxFuture<'a, Result<String>> {
        async move {
            let config = PresigningConfig::builder()
                .start_time(UNIX_EPOCH + Duration::from_secs(signed_at))
                .expires_in(Duration::from_secs(expires_secs))
                .build()
                .map_err(Error::media)?;
            let request = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .response_content_disposition(disposition)
                .presigned(config)
                .await
                .map_err(Error::media)?;
            Ok(request.uri().to_string())
        }
        .boxed()
    }

    fn first_bytes<'a>(&'a self, key: &'a str, n: usize) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        async move {
            let range = format!("bytes=0-{}", n.saturating_sub(1));
            let out = match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .range(range)
                .send()
                .await
            {
                Ok(out) => out,
                Err(err) if no_such_key(&err) => return Ok(None),
                Err(err) => return Err(Error::media(err)),
            };
            let bytes = out.body.collect().await.map_err(Error::media)?;
            let mut bytes = bytes.into_bytes().to_vec();
            bytes.truncate(n);
            Ok(Some(bytes))
        }
        .boxed()
    }

    fn delete<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<()>> {
        async move {
            for chunk in keys.chunks(DELETE_MAX) {
                let objects = chunk
                    .iter()
                    .map(|k| ObjectIdentifier::builder().key(k).build())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(Error::media)?;
                let delete = Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .map_err(Error::media)?;
                let out = self
                    .client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(Error::media)?;
                if let Some(e) = out.errors().first() {
                    return Err(Error::media(NotDeleted(
                        e.key().unwrap_or_default().to_string(),
                        e.code().unwrap_or_default().to_string(),
                    )));
                }
            }
            Ok(())
        }
        .boxed()
    }
}

/// An object DeleteObjects did not delete.
#[derive(Debug, thiserror::Error)]
#[error("{0} was not deleted: {1}")]
pub struct NotDeleted(pub String, pub String);
