//! [`ApiGatewayNotifier`]: `PostToConnection` and `DeleteConnection` as one
//! SigV4-signed request each, on one pooled HTTP client.
//!
//! What a call costs is what one signed request must: the credentials
//! (cached until five minutes before they expire), the signature (HMAC over
//! the canonical request, by `aws-sigv4`, the crate the SDK itself signs
//! with), the request on a kept-alive connection, and the status. The
//! client offers HTTP/2 and HTTP/1.1 by ALPN and uses what the endpoint
//! picks, so nothing here assumes which one API Gateway serves.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use reqwest::{Method, StatusCode};

use super::{Notifier, NotifyError, CLOSE_CODE_HEADER, CLOSE_REASON_HEADER};
use super::{POST_ATTEMPTS, RETRY_BACKOFF};
use crate::protocol::Close;
use crate::window::{Deadline, POST_GRACE};

/// The service name API Gateway's management API signs with.
const SERVICE: &str = "execute-api";
/// Credentials are renewed this long before they expire.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);
/// The SDK's default connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// The management API of one WebSocket API stage.
#[derive(Debug, Clone)]
pub struct ApiGatewayNotifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    /// `https://{api}.execute-api.{region}.amazonaws.com/{stage}/@connections/`,
    /// parsed once: each call only appends its connection id.
    connections: reqwest::Url,
    region: String,
    credentials: CachedCredentials,
}

impl ApiGatewayNotifier {
    /// A notifier for the management API at `endpoint` (the WebSocket API's
    /// `https://{api}.execute-api.{region}.amazonaws.com/{stage}`), signing
    /// with `sdk`'s credentials and region (`us-east-1` when it has none, as
    /// only a local stack can).
    pub fn for_endpoint(sdk: &aws_config::SdkConfig, endpoint: &str) -> Result<Self, NotifyError> {
        Self::build(sdk, endpoint, false)
    }

    /// [`ApiGatewayNotifier::for_endpoint`] for a process that hosts several
    /// functions, each with a role of its own (the local stack): `sdk`'s
    /// provider is asked for credentials at every call, so each call signs
    /// as the function making it.
    pub fn for_endpoint_per_caller(
        sdk: &aws_config::SdkConfig,
        endpoint: &str,
    ) -> Result<Self, NotifyError> {
        Self::build(sdk, endpoint, true)
    }

    fn build(
        sdk: &aws_config::SdkConfig,
        endpoint: &str,
        each_call: bool,
    ) -> Result<Self, NotifyError> {
        // As the SDK's own HTTP client: no proxy from the environment, and
        // no redirects (a signed post goes to its endpoint or nowhere). Each
        // also cost every post a lookup or a URL parse.
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let connections =
            reqwest::Url::parse(&format!("{}/@connections/", endpoint.trim_end_matches('/')))
                .map_err(|e| NotifyError::Endpoint(e.to_string()))?;
        Ok(ApiGatewayNotifier {
            inner: Arc::new(Inner {
                http,
                connections,
                region: sdk
                    .region()
                    .map_or_else(|| "us-east-1".to_string(), |r| r.to_string()),
                credentials: CachedCredentials {
                    each_call,
                    ..CachedCredentials::new(sdk.credentials_provider())
                },
            }),
        })
    }

    fn url(&self, connection_id: &str) -> reqwest::Url {
        let mut url = self.inner.connections.clone();
        let path = format!("{}{}", url.path(), encode_label(connection_id));
        url.set_path(&path);
        url
    }

    /// One attempt: signs and sends, and reads an error's type and message.
    async fn attempt(
        &self,
        method: &Method,
        url: &reqwest::Url,
        headers: &[(&'static str, String)],
        body: &Bytes,
        deadline: Option<Deadline>,
    ) -> Result<Answer, NotifyError> {
        let credentials = self.inner.credentials.get().await?;
        let identity = Identity::from(credentials);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.inner.region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            url.as_str(),
            headers.iter().map(|(k, v)| (*k, v.as_str())),
            SignableBody::Bytes(body),
        )?;
        let (signature, _) = sign(signable, &params)?.into_parts();
        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .body(body.clone());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        for (name, value) in signature.headers() {
            request = request.header(name, value);
        }
        if deadline.is_some() {
            request = request.timeout(POST_GRACE);
        }
        let response = match request.send().await {
            Err(err) if err.is_timeout() => return Err(NotifyError::Unanswered),
            other => other?,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(Answer::Done);
        }
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            // `Type:uri` in some answers; the type is before the colon.
            .map(|v| v.split(':').next().unwrap_or(v).to_string())
            .unwrap_or_default();
        let message = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
            .unwrap_or_default();
        Ok(Answer::Failed(NotifyError::Refused {
            status: status.as_u16(),
            error_type,
            message,
        }))
    }

    /// Sends with the retry policy of [`super`]: throttling, 5xx and a
    /// connection that could not be made are retried, anything else is
    /// final; with a `deadline`, no attempt starts after it.
    async fn send(
        &self,
        method: Method,
        connection_id: &str,
        headers: &[(&'static str, String)],
        body: Bytes,
        deadline: Option<Deadline>,
    ) -> Result<(), NotifyError> {
        let url = self.url(connection_id);
        let mut attempt = 1;
        loop {
            if deadline.is_some_and(|d| d.remaining().is_none()) {
                return Err(NotifyError::Late);
            }
            let error = match self.attempt(&method, &url, headers, &body, deadline).await {
                Ok(Answer::Done) => return Ok(()),
                Ok(Answer::Failed(error)) | Err(error) => error,
            };
            if attempt == POST_ATTEMPTS || !retryable(&error) {
                return Err(match error {
                    NotifyError::Refused { status: 410, .. } => NotifyError::Gone,
                    NotifyError::Refused { status: 413, .. } => NotifyError::TooLarge,
                    other => other,
                });
            }
            tokio::time::sleep(backoff(attempt)).await;
            attempt += 1;
        }
    }
}

enum Answer {
    Done,
    Failed(NotifyError),
}

fn retryable(error: &NotifyError) -> bool {
    match error {
        NotifyError::Refused { status, .. } => {
            *status == StatusCode::TOO_MANY_REQUESTS.as_u16() || (500..600).contains(status)
        }
        // Only a request that never left: one that may have landed is not
        // sent twice.
        NotifyError::Transport(err) => err.is_connect(),
        _ => false,
    }
}

/// Full jitter: a random wait up to [`RETRY_BACKOFF`] doubled per attempt
/// made so far.
fn backoff(attempt: u32) -> Duration {
    let ceiling = RETRY_BACKOFF.saturating_mul(1 << (attempt - 1).min(10));
    // A fresh `RandomState` is randomly keyed: random enough for jitter.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    ceiling.mul_f64((random % 10_000) as f64 / 10_000.0)
}

/// A path label as the SDK writes it: every byte but the unreserved ones
/// percent-encoded (connection ids hold `=` on AWS).
fn encode_label(label: &str) -> String {
    let mut out = String::with_capacity(label.len() + 8);
    for b in label.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Notifier for ApiGatewayNotifier {
    async fn post(&self, connection_id: &str, data: Vec<u8>) -> Result<(), NotifyError> {
        self.send(Method::POST, connection_id, &[], Bytes::from(data), None)
            .await
    }

    async fn post_before(
        &self,
        connection_id: &str,
        data: Vec<u8>,
        deadline: Deadline,
    ) -> Result<(), NotifyError> {
        self.send(
            Method::POST,
            connection_id,
            &[],
            Bytes::from(data),
            Some(deadline),
        )
        .await
    }

    async fn close(&self, connection_id: &str, close: &Close) -> Result<(), NotifyError> {
        // Header values must be visible ASCII; reasons are ours and are.
        let headers = [
            (CLOSE_CODE_HEADER, close.code.to_string()),
            (CLOSE_REASON_HEADER, close.reason.clone()),
        ];
        match self
            .send(Method::DELETE, connection_id, &headers, Bytes::new(), None)
            .await
        {
            Err(NotifyError::Gone) => Ok(()),
            other => other,
        }
    }
}

/// The SDK chain's credentials, kept until shortly before they expire (on
/// Lambda, the execution role's, from the environment).
#[derive(Debug)]
struct CachedCredentials {
    provider: Option<SharedCredentialsProvider>,
    /// Asks the provider every time, keeping nothing.
    each_call: bool,
    current: RwLock<Option<Credentials>>,
    renewing: tokio::sync::Mutex<()>,
}

impl CachedCredentials {
    fn new(provider: Option<SharedCredentialsProvider>) -> Self {
        CachedCredentials {
            provider,
            each_call: false,
            current: RwLock::new(None),
            renewing: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self) -> Option<Credentials> {
        let current = self.current.read().expect("credentials lock");
        current
            .as_ref()
            .filter(|c| {
                c.expiry()
                    .is_none_or(|at| at > SystemTime::now() + RENEW_BEFORE)
            })
            .cloned()
    }

    async fn get(&self) -> Result<Credentials, CredentialsError> {
        if self.each_call {
            let provider = self.provider.as_ref().ok_or_else(|| {
                CredentialsError::not_loaded("the SDK configuration has no credentials provider")
            })?;
            return provider.provide_credentials().await;
        }
        if let Some(credentials) = self.fresh() {
            return Ok(credentials);
        }
        // One renewal at a time; the others wait for it and use its result.
        let _renewing = self.renewing.lock().await;
        if let Some(credentials) = self.fresh() {
            return Ok(credentials);
        }
        let provider = self.provider.as_ref().ok_or_else(|| {
            CredentialsError::not_loaded("the SDK configuration has no credentials provider")
        })?;
        let credentials = provider.provide_credentials().await?;
        *self.current.write().expect("credentials lock") = Some(credentials.clone());
        Ok(credentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_encoded_as_the_sdk_encodes_them() {
        assert_eq!(encode_label("L0SM9cOFvHcCIhw="), "L0SM9cOFvHcCIhw%3D");
        assert_eq!(encode_label("a/b c"), "a%2Fb%20c");
        assert_eq!(encode_label("01J~x-y_z.w"), "01J~x-y_z.w");
    }

    #[test]
    fn backoff_stays_under_its_doubling_ceiling() {
        for attempt in 1..POST_ATTEMPTS {
            let ceiling = RETRY_BACKOFF * (1 << (attempt - 1));
            for _ in 0..100 {
                assert!(backoff(attempt) <= ceiling);
            }
        }
    }

    #[test]
    fn throttling_and_server_errors_are_retried_and_refusals_are_not() {
        let refused = |status| NotifyError::Refused {
            status,
            error_type: String::new(),
            message: String::new(),
        };
        for status in [429, 500, 502, 503, 504] {
            assert!(retryable(&refused(status)), "{status}");
        }
        for status in [400, 403, 404, 410, 413] {
            assert!(!retryable(&refused(status)), "{status}");
        }
        assert!(!retryable(&NotifyError::Gone));
    }

    #[tokio::test]
    async fn credentials_are_kept_until_five_minutes_before_they_expire() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        #[derive(Debug)]
        struct Counting(Arc<AtomicUsize>, Duration);
        impl ProvideCredentials for Counting {
            fn provide_credentials<'a>(
                &'a self,
            ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
            where
                Self: 'a,
            {
                self.0.fetch_add(1, Ordering::SeqCst);
                let expiry = SystemTime::now() + self.1;
                aws_credential_types::provider::future::ProvideCredentials::ready(Ok(
                    Credentials::new("AKID", "secret", None, Some(expiry), "test"),
                ))
            }
        }
        // Credentials for an hour are fetched once; for four minutes, each time.
        for (lifetime, fetches) in [(3600, 1), (240, 3)] {
            let calls = Arc::new(AtomicUsize::new(0));
            let cache = CachedCredentials::new(Some(SharedCredentialsProvider::new(Counting(
                calls.clone(),
                Duration::from_secs(lifetime),
            ))));
            for _ in 0..3 {
                cache.get().await.unwrap();
            }
            assert_eq!(calls.load(Ordering::SeqCst), fetches, "{lifetime} s");
        }
        // Per caller: asked every time, whatever the lifetime.
        let calls = Arc::new(AtomicUsize::new(0));
        let each = CachedCredentials {
            each_call: true,
            ..CachedCredentials::new(Some(SharedCredentialsProvider::new(Counting(
                calls.clone(),
                Duration::from_secs(3600),
            ))))
        };
        for _ in 0..3 {
            each.get().await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let none = CachedCredentials::new(None);
        assert!(none.get().await.is_err());
    }
}
