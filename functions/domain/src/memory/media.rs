//! Object storage in memory: objects by key, and presigned links that say
//! what they were signed for.

use futures::future::BoxFuture;
use futures::FutureExt;

use crate::attachments::{Header, PresignedUpload};
use crate::ports::Media;

use super::*;

/// A bucket in memory. Clones share the objects.
#[derive(Debug, Default, Clone)]
pub struct MemoryMedia {
    objects: std::sync::Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl MemoryMedia {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores an object, as a client's upload or the processing would.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        self.lock().insert(key.to_string(), bytes.to_vec());
    }

    /// The keys held, in order.
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Media for MemoryMedia {
    fn presign_upload<'a>(
        &'a self,
        key: &'a str,
        content_type: &'a str,
        size: u64,
        expires_secs: u64,
    ) -> BoxFuture<'a, Result<PresignedUpload>> {
        async move {
            Ok(PresignedUpload {
                method: "PUT".into(),
                url: format!("memory://{key}?expires={expires_secs}"),
                headers: vec![
                    Header {
                        name: "content-length".into(),
                        value: size.to_string(),
                    },
                    Header {
                        name: "content-type".into(),
                        value: content_type.into(),
                    },
                ],
            })
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
            Ok(format!(
                "memory://{key}?signed={signed_at}&expires={expires_secs}&disposition={disposition}"
            ))
        }
        .boxed()
    }

    fn first_bytes<'a>(&'a self, key: &'a str, n: usize) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        async move { Ok(self.lock().get(key).map(|b| b[..b.len().min(n)].to_vec())) }.boxed()
    }

    fn delete<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<()>> {
        async move {
            let mut objects = self.lock();
            for key in keys {
                objects.remove(key);
            }
            Ok(())
        }
        .boxed()
    }
}
