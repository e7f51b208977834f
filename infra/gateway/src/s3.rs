//! The S3 stand-in: the S3 REST API, path-style, over files in the data
//! dir (`s3s` and its file-system backend `s3s-fs`), so the unchanged
//! `aws-sdk-s3` presigns, reads and writes, and a browser uploads with a
//! presigned PUT.
//!
//! - Every request's SigV4 signature (header or presigned query) is
//!   verified as S3 does; a missing, expired or tampered one is refused
//!   with S3's error (`403`, `AccessDenied` or `SignatureDoesNotMatch`).
//! - With IAM enforced, each function's key is accepted, and a call (or a
//!   presigned link, which carries its signer's permissions) must be
//!   allowed by the signer's policy ([`Policies`]); otherwise only the
//!   stack's key is.
//! - CORS as the template's bucket declares it: `GET`, `HEAD` and `PUT`
//!   from any origin, with `content-type`.
//! - Event notifications as the template routes them: each object created
//!   under a routed prefix invokes that function with the event S3 sends,
//!   asynchronously, after the write is answered.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::*;
use s3s::path::S3Path;
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};
use tokio::sync::mpsc;

use crate::iam::{Guard, Refused};
use crate::resolvers::Function;

/// The bucket the stack's functions use (`MEDIA_BUCKET`).
pub const BUCKET: &str = "chat-media";

/// An object created, for the event notifications.
#[derive(Debug, Clone)]
struct Created {
    bucket: String,
    key: String,
    size: i64,
    etag: String,
}

/// `s3s-fs` with event notifications on creation.
struct Notifying {
    fs: s3s_fs::FileSystem,
    created: mpsc::UnboundedSender<Created>,
}

#[async_trait::async_trait]
impl S3 for Notifying {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.fs.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.fs.head_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        mut req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let refused = req.extensions.remove::<RefusedKeys>();
        let mut out = self.fs.delete_objects(req).await?;
        if let Some(RefusedKeys(refused)) = refused.filter(|r| !r.0.is_empty()) {
            out.output
                .errors
                .get_or_insert_with(Default::default)
                .extend(refused);
        }
        Ok(out)
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let bucket = req.input.bucket.clone();
        let key = req.input.key.clone();
        let size = req.input.content_length.unwrap_or(0);
        let out = self.fs.put_object(req).await?;
        let etag = out
            .output
            .e_tag
            .as_ref()
            .map(|e| e.value().to_string())
            .unwrap_or_default();
        let _ = self.created.send(Created {
            bucket,
            key,
            size,
            etag,
        });
        Ok(out)
    }
}

/// The keys of a `DeleteObjects` the signer may not delete.
#[derive(Clone)]
struct RefusedKeys(Vec<s3s::dto::Error>);

/// The functions' policies, checked on each call before it runs.
struct Policies(Arc<Guard>);

impl Policies {
    /// A bucket as the policies name it: this stand-in's as the template's.
    fn as_named<'b>(&'b self, bucket: &'b str) -> &'b str {
        match self.0.media_bucket() {
            Some(named) if bucket == BUCKET => named,
            _ => bucket,
        }
    }
}

/// The IAM action an S3 operation needs: its own name for most, as the
/// "Policy actions for Amazon S3" table lists them; reads of an object's
/// metadata and of a bucket's listing need `s3:GetObject` and
/// `s3:ListBucket`.
fn action_of(operation: &str) -> String {
    match operation {
        "HeadObject" => "s3:GetObject".into(),
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => "s3:ListBucket".into(),
        "ListBuckets" => "s3:ListAllMyBuckets".into(),
        other => format!("s3:{other}"),
    }
}

fn denied(refused: Refused) -> s3s::S3Error {
    s3_error!(AccessDenied, "{refused}")
}

#[async_trait::async_trait]
impl S3Access for Policies {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Anonymous access is forbidden"));
        };
        let operation = cx.s3_op().name();
        // Its keys are in the body: each is checked once it is read.
        if operation == "DeleteObjects" {
            return Ok(());
        }
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => ("*", None),
            S3Path::Bucket { bucket } => (&**bucket, None),
            S3Path::Object { bucket, key } => (&**bucket, Some(&**key)),
        };
        self.0
            .check_s3(
                &credentials.access_key,
                &action_of(operation),
                self.as_named(bucket),
                key,
            )
            .map_err(denied)
    }

    /// `DeleteObjects` needs `s3:DeleteObject` on each key it names; as on
    /// S3, a key the signer may not delete is an `AccessDenied` entry of
    /// the answer's `Errors`, and the others are deleted.
    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        let Some(credentials) = &req.credentials else {
            return Err(s3_error!(AccessDenied, "Anonymous access is forbidden"));
        };
        let mut refused = Vec::new();
        let objects = std::mem::take(&mut req.input.delete.objects);
        for object in objects {
            match self.0.check_s3(
                &credentials.access_key,
                "s3:DeleteObject",
                self.as_named(&req.input.bucket),
                Some(&object.key),
            ) {
                Ok(()) => req.input.delete.objects.push(object),
                Err(why) => refused.push(s3s::dto::Error {
                    code: Some("AccessDenied".into()),
                    key: Some(object.key),
                    message: Some(why.to_string()),
                    ..Default::default()
                }),
            }
        }
        req.extensions.insert(RefusedKeys(refused));
        Ok(())
    }
}

/// S3's URL encoding of a key in an event (`/` kept).
fn event_key(key: &str) -> String {
    key.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The event S3 sends a function for one created object.
fn event(c: &Created) -> serde_json::Value {
    let now = chrono::Utc::now();
    serde_json::json!({ "Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "local"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "local",
            "bucket": {
                "name": c.bucket,
                "ownerIdentity": {"principalId": "local"},
                "arn": format!("arn:aws:s3:::{}", c.bucket),
            },
            "object": {
                "key": event_key(&c.key),
                "size": c.size,
                "eTag": c.etag.trim_matches('"'),
                "sequencer": format!("{:016X}", now.timestamp_nanos_opt().unwrap_or(0)),
            },
        },
    }]})
}

/// CORS as the template's `CorsConfiguration` says.
async fn cors(request: Request, next: Next) -> Response {
    let origin = request.headers().get("origin").cloned();
    if request.method() == Method::OPTIONS {
        let mut response = StatusCode::OK.into_response();
        let h = response.headers_mut();
        h.insert(
            "access-control-allow-origin",
            origin.unwrap_or(HeaderValue::from_static("*")),
        );
        h.insert(
            "access-control-allow-methods",
            HeaderValue::from_static("GET, HEAD, PUT"),
        );
        h.insert(
            "access-control-allow-headers",
            HeaderValue::from_static("content-type"),
        );
        h.insert("access-control-max-age", HeaderValue::from_static("3600"));
        return response;
    }
    let mut response = next.run(request).await;
    if origin.is_some() {
        let h = response.headers_mut();
        h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        h.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("etag"),
        );
    }
    response
}

/// Where the routed functions are: (key prefix, function).
pub type Routes = Vec<(String, Arc<Function>)>;

/// Serves S3 on `listener` over `root` until `stop`, invoking each route's
/// function for objects created under its prefix; with `iam`, each
/// function's key is accepted and its policy enforced.
pub fn serve(
    listener: tokio::net::TcpListener,
    root: &Path,
    routes: Routes,
    iam: Option<Arc<Guard>>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), std::io::Error> {
    let addr = listener.local_addr()?;
    std::fs::create_dir_all(root.join(BUCKET))?;
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let (created, mut landed) = mpsc::unbounded_channel::<Created>();
    let service = {
        let mut builder = s3s::service::S3ServiceBuilder::new(Notifying { fs, created });
        match iam {
            Some(guard) => {
                let mut auth = s3s::auth::SimpleAuth::new();
                for (access_key, secret) in guard.keys() {
                    auth.register(access_key.into(), secret.into());
                }
                builder.set_auth(auth);
                builder.set_access(Policies(guard));
            }
            None => builder.set_auth(s3s::auth::SimpleAuth::from_single(
                crate::sigv4::LOCAL_ACCESS_KEY,
                crate::sigv4::LOCAL_SECRET_KEY,
            )),
        }
        builder.build()
    };
    let service = axum::error_handling::HandleError::new(service, |e: s3s::HttpError| async move {
        tracing::warn!(error = ?e, "S3 stand-in failed a request");
        StatusCode::INTERNAL_SERVER_ERROR
    });
    let app = axum::Router::new()
        .fallback_service(service)
        .layer(axum::middleware::from_fn(cors));
    tokio::spawn(async move {
        while let Some(c) = landed.recv().await {
            for (prefix, function) in &routes {
                if c.bucket == BUCKET && c.key.starts_with(prefix.as_str()) {
                    let function = function.clone();
                    let event = event(&c);
                    // S3 invokes asynchronously: the upload is answered first.
                    tokio::spawn(async move {
                        if let Err(d) = function.invoke(event).await {
                            tracing::warn!(error_type = %d.error_type, message = %d.error_message, "an S3 event's function failed");
                        }
                    });
                }
            }
        }
    });
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "the S3 stand-in stopped");
        }
    });
    Ok((addr, task))
}

#[cfg(test)]
mod tests {
    use super::action_of;

    /// "Policy actions for Amazon S3": most operations need the action of
    /// their own name; HEAD of an object needs `s3:GetObject`, and the
    /// listings and HEAD of a bucket `s3:ListBucket`.
    #[test]
    fn each_operation_needs_the_action_s3_documents() {
        for (operation, action) in [
            ("GetObject", "s3:GetObject"),
            ("HeadObject", "s3:GetObject"),
            ("PutObject", "s3:PutObject"),
            ("DeleteObject", "s3:DeleteObject"),
            ("ListObjectsV2", "s3:ListBucket"),
            ("ListObjects", "s3:ListBucket"),
            ("HeadBucket", "s3:ListBucket"),
            ("ListBuckets", "s3:ListAllMyBuckets"),
            ("CreateBucket", "s3:CreateBucket"),
        ] {
            assert_eq!(action_of(operation), action, "{operation}");
        }
    }
}
