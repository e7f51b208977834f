//! Local IAM: each function calls AWS with credentials of its own, and the
//! endpoints the functions reach (DynamoDB, `@connections`, Invoke, S3,
//! Secrets Manager) refuse what the function's policy in
//! infra/template.yaml would not allow on AWS.
//!
//! - Every function crate has an access key that names it
//!   (`local-<crate>`), with a secret derived from a seed the data dir
//!   keeps. In-process, a function's invocation runs in its
//!   [`as_function`] scope, and the shared SDK clients' credentials
//!   provider ([`FunctionCredentials`]) signs with that function's key;
//!   outside any function (the gateway's own table setup and stream
//!   pollers, which are Lambda's service on AWS) it signs with the stack's
//!   key, which is not limited. Functions run apart (`make watch`) read
//!   their pair from the file [`write_credential_files`] makes for each.
//! - The DynamoDB front ([`front`]) verifies each request's SigV4 signature
//!   (`crate::sigv4`), maps the call to IAM's actions and resources
//!   ([`dynamodb`]), and evaluates the signer's policy ([`policy`]); a call
//!   the policy does not allow is answered with DynamoDB's
//!   `AccessDeniedException`, and logged with the function, the action and
//!   the resource.
//!
//! # Layout
//!
//! - [`policy`]: statements, wildcards, conditions, and the decision.
//! - [`template`]: each function's statements from the template, resolved.
//! - [`dynamodb`]: a DynamoDB call as IAM sees it.
//! - [`front`]: the HTTP front that checks and forwards to the engine.
//! - [`usage`]: which grants the calls used, to show a policy minimal.

pub mod dynamodb;
pub mod front;
pub mod policy;
pub mod template;
pub mod usage;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::provider::{future, ProvideCredentials};
use aws_credential_types::Credentials;
use axum::http::{HeaderMap, Method, Uri};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::sigv4::{self, Keys, Refusal, Scope};
use dynamodb::KeySchemas;
use policy::{Decision, Policy, PolicyError};

/// The account the local stack's ARNs name.
pub const LOCAL_ACCOUNT: &str = "000000000000";

tokio::task_local! {
    static FUNCTION: &'static str;
}

/// Runs `work` as the function `name`: what it sends to AWS is signed with
/// that function's key.
pub async fn as_function<F: Future>(name: &'static str, work: F) -> F::Output {
    FUNCTION.scope(name, work).await
}

/// The function whose invocation is running on this task, if any.
pub fn current_function() -> Option<&'static str> {
    FUNCTION.try_with(|f| *f).ok()
}

/// One function's identity.
#[derive(Debug)]
pub struct Principal {
    pub function: String,
    /// How AWS names it in an `AccessDeniedException`.
    pub arn: String,
    pub access_key: String,
    secret: String,
    policy: Policy,
}

impl Principal {
    fn credentials(&self) -> Credentials {
        Credentials::new(
            &self.access_key,
            &self.secret,
            None,
            None,
            "chat-gateway-iam",
        )
    }
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Signature(#[from] Refusal),
    #[error("User: {principal} is not authorized to perform: {action} on resource: {resource} because {why}")]
    Denied {
        principal: String,
        function: String,
        action: String,
        resource: String,
        why: String,
    },
    /// The call could not be mapped (DynamoDB would refuse it as malformed).
    #[error("{0}")]
    Unreadable(String),
}

impl Refused {
    /// The error code AWS answers with: the signature's, else
    /// `AccessDeniedException` (or DynamoDB's `ValidationException` for a
    /// call it cannot read).
    pub fn error_type(&self) -> &'static str {
        match self {
            Refused::Signature(r) => r.error_type(),
            Refused::Denied { .. } => "AccessDeniedException",
            Refused::Unreadable(_) => "ValidationException",
        }
    }
}

/// A request as its signature covers it, and when it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'r> {
    pub method: &'r Method,
    pub uri: &'r Uri,
    pub headers: &'r HeaderMap,
    pub body: &'r [u8],
    pub now: SystemTime,
}

impl<'r> Signed<'r> {
    /// A request arriving now.
    pub fn arriving(
        method: &'r Method,
        uri: &'r Uri,
        headers: &'r HeaderMap,
        body: &'r [u8],
    ) -> Signed<'r> {
        Signed {
            method,
            uri,
            headers,
            body,
            now: SystemTime::now(),
        }
    }

    /// The access key whose signature over this request verifies, for
    /// `service` in `region`.
    fn verify(&self, keys: &Keys, region: &str, service: &str) -> Result<String, Refusal> {
        let scope = Scope { region, service };
        sigv4::verify(
            keys,
            scope,
            self.method,
            self.uri,
            self.headers,
            self.body,
            self.now,
        )
    }
}

/// Where IAM is not enforced: only the stack's key is accepted, for
/// `service`.
pub fn stack_key_only(service: &str, request: Signed<'_>) -> Result<(), Refused> {
    static LOCAL: std::sync::LazyLock<Keys> = std::sync::LazyLock::new(Keys::local);
    request.verify(&LOCAL, sigv4::LOCAL_REGION, service)?;
    Ok(())
}

/// The keys, the policies, and the tables' key schemas.
#[derive(Debug)]
pub struct Guard {
    keys: Keys,
    principals: HashMap<String, Arc<Principal>>,
    by_function: HashMap<String, Arc<Principal>>,
    schemas: KeySchemas,
    region: String,
    account: String,
    /// `arn:aws:execute-api:{region}:{account}:{api}/{stage}`.
    connections_arn: String,
    /// The template's bucket (its `BucketName`), which the S3 stand-in's
    /// bucket stands for; `None` if the template has not exactly one.
    media_bucket: Option<String>,
    /// Each secret's ARN, by the template's logical id.
    secrets: BTreeMap<String, String>,
    usage: Option<usage::Usage>,
}

impl Guard {
    /// The template's functions and policies for a stack whose tables carry
    /// `table_prefix`; fails on a policy the stack cannot enforce.
    pub fn from_template(
        template: &Value,
        wiring: &crate::wiring::Wiring,
        table_prefix: &str,
    ) -> Result<Guard, PolicyError> {
        let seed = crate::idp::random_hex(32);
        Self::recording(template, wiring, table_prefix, &seed, None)
    }

    /// [`Guard::from_template`] with the functions' secrets derived from
    /// `seed` (the same seed, the same keys: a data dir keeps them across
    /// restarts, so links a function presigned stay good), recording the
    /// grants calls use in `usage`.
    pub fn recording(
        template: &Value,
        wiring: &crate::wiring::Wiring,
        table_prefix: &str,
        seed: &str,
        usage: Option<usage::Usage>,
    ) -> Result<Guard, PolicyError> {
        let locals = template::Locals::new(table_prefix);
        let policies = template::function_policies(template, &locals)?;
        let buckets = template::references(template, &locals, "AWS::S3::Bucket")?;
        let media_bucket = match buckets.values().collect::<Vec<_>>()[..] {
            [one] => Some(one.clone()),
            _ => None,
        };
        let secrets = template::references(template, &locals, "AWS::SecretsManager::Secret")?;
        let mappings = template::mapping_requests(template, &locals)?;
        let mut keys = Keys::local();
        let mut principals = HashMap::new();
        let mut by_function = HashMap::new();
        for (function, policy) in policies {
            let mut mac = Hmac::<Sha256>::new_from_slice(seed.as_bytes()).expect("any key length");
            mac.update(function.as_bytes());
            let secret: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let access_key = format!("local-{function}");
            keys.insert(&access_key, &secret);
            let principal = Arc::new(Principal {
                arn: format!(
                    "arn:aws:sts::{}:assumed-role/{function}-role/{function}",
                    locals.account
                ),
                function: function.clone(),
                access_key: access_key.clone(),
                secret,
                policy,
            });
            principals.insert(access_key, principal.clone());
            by_function.insert(function, principal);
        }
        let guard = Guard {
            keys,
            principals,
            by_function,
            schemas: KeySchemas::declared(&wiring.tables, table_prefix),
            connections_arn: format!(
                "arn:aws:execute-api:{}:{}:{}/{}",
                locals.region,
                locals.account,
                locals.websocket_api,
                template["Parameters"]["StageName"]["Default"]
                    .as_str()
                    .unwrap_or("local")
            ),
            region: locals.region,
            account: locals.account,
            media_bucket,
            secrets,
            usage,
        };
        // What Lambda checks when it creates each stream mapping: a role
        // that lacks it fails here, as the deployment would.
        for (function, action, resource) in mappings {
            let principal = guard
                .by_function
                .get(&function)
                .ok_or_else(|| PolicyError(format!("{function} has no policy")))?;
            guard
                .authorize(principal, vec![guard.request(&action, resource)])
                .map_err(|refused| {
                    PolicyError(format!(
                        "{function}'s stream mapping cannot be created: {refused}"
                    ))
                })?;
        }
        Ok(guard)
    }

    /// A function's identity.
    pub fn principal(&self, function: &str) -> Option<&Arc<Principal>> {
        self.by_function.get(function)
    }

    /// A function's credentials, as its Lambda role would give it.
    pub fn credentials_of(&self, function: &str) -> Option<Credentials> {
        self.by_function.get(function).map(|p| p.credentials())
    }

    /// Every key the stack accepts, with its secret: the stack's own and
    /// each function's.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &str)> {
        self.keys.iter()
    }

    /// Each function's key pair, by crate name.
    pub fn function_keys(&self) -> impl Iterator<Item = (&str, Credentials)> + '_ {
        self.by_function
            .iter()
            .map(|(function, p)| (function.as_str(), p.credentials()))
    }

    /// The credentials provider for the clients the functions share.
    pub fn credentials(&self) -> FunctionCredentials {
        FunctionCredentials {
            by_function: self
                .function_keys()
                .map(|(f, key)| (f.to_string(), key))
                .collect(),
            stack: stack_credentials(),
        }
    }

    /// The principal whose key signed `request` for `service`, after its
    /// signature verifies; `None` for the stack's own key.
    fn signer(
        &self,
        service: &str,
        request: Signed<'_>,
    ) -> Result<Option<&Arc<Principal>>, Refused> {
        let access_key = request.verify(&self.keys, &self.region, service)?;
        Ok(self.principals.get(&access_key))
    }

    /// Every one of `requests` must be allowed by `principal`'s policy.
    fn authorize(
        &self,
        principal: &Principal,
        requests: Vec<policy::Request>,
    ) -> Result<(), Refused> {
        for request in requests {
            let why = match principal.policy.decide(&request) {
                Decision::Allow => {
                    if let Some(usage) = &self.usage {
                        usage.record(&principal.function, principal.policy.used_by(&request));
                    }
                    continue;
                }
                Decision::ImplicitDeny => format!(
                    "no identity-based policy allows the {} action",
                    request.action
                ),
                Decision::ExplicitDeny => {
                    "with an explicit deny in an identity-based policy".to_string()
                }
            };
            tracing::warn!(
                function = %principal.function,
                action = %request.action,
                resource = %request.resource,
                "AccessDenied: the function's policy does not allow this call"
            );
            return Err(Refused::Denied {
                principal: principal.arn.clone(),
                function: principal.function.clone(),
                action: request.action,
                resource: request.resource,
                why,
            });
        }
        Ok(())
    }

    /// Checks one DynamoDB request: its signature, then the signer's policy.
    /// The stack's own key is not limited.
    pub fn check_dynamodb(&self, request: Signed<'_>) -> Result<(), Refused> {
        let Some(principal) = self.signer("dynamodb", request)? else {
            return Ok(());
        };
        let target = request
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let operation = target.rsplit_once('.').map_or(target, |(_, op)| op);
        let body: Value =
            serde_json::from_slice(request.body).map_err(|e| Refused::Unreadable(e.to_string()))?;
        let requests =
            dynamodb::requests(operation, &body, &self.schemas, &self.region, &self.account)
                .map_err(|e| Refused::Unreadable(e.0))?;
        self.authorize(principal, requests)
    }

    /// Checks one Lambda `Invoke` of `function` (a name or an ARN): its
    /// signature, then `lambda:InvokeFunction` on the function's ARN
    /// ("Identity-based IAM policies for Lambda", Lambda Developer Guide).
    pub fn check_invoke(&self, request: Signed<'_>, function: &str) -> Result<(), Refused> {
        let Some(principal) = self.signer("lambda", request)? else {
            return Ok(());
        };
        let resource = if function.starts_with("arn:") {
            function.to_string()
        } else {
            format!(
                "arn:aws:lambda:{}:{}:function:{function}",
                self.region, self.account
            )
        };
        self.authorize(
            principal,
            vec![self.request("lambda:InvokeFunction", resource)],
        )
    }

    fn request(&self, action: &str, resource: String) -> policy::Request {
        policy::Request {
            action: action.into(),
            resource,
            context: std::collections::BTreeMap::from([(
                "aws:requestedregion",
                policy::ContextValue::One(self.region.clone()),
            )]),
        }
    }

    /// Checks one `@connections` request (`PostToConnection`,
    /// `GetConnection`, `DeleteConnection`): its signature, then
    /// `execute-api:ManageConnections` on
    /// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/@connections/{id}`
    /// ("Use @connections commands in your backend service", API Gateway
    /// Developer Guide).
    pub fn check_connections(
        &self,
        request: Signed<'_>,
        connection_id: &str,
    ) -> Result<(), Refused> {
        let Some(principal) = self.signer("execute-api", request)? else {
            return Ok(());
        };
        let request = self.request(
            "execute-api:ManageConnections",
            format!(
                "{}/{}/@connections/{connection_id}",
                self.connections_arn, request.method
            ),
        );
        self.authorize(principal, vec![request])
    }

    /// The template's bucket, which the S3 stand-in's bucket stands for.
    pub fn media_bucket(&self) -> Option<&str> {
        self.media_bucket.as_deref()
    }

    /// Checks one S3 call whose signature the S3 stand-in has verified as
    /// `access_key`'s: `action` on the object `key` of `bucket`, or on the
    /// bucket. Object actions name `arn:aws:s3:::{bucket}/{key}`, bucket
    /// actions `arn:aws:s3:::{bucket}` ("Policy actions for Amazon S3",
    /// Amazon S3 User Guide).
    pub fn check_s3(
        &self,
        access_key: &str,
        action: &str,
        bucket: &str,
        key: Option<&str>,
    ) -> Result<(), Refused> {
        if access_key == sigv4::LOCAL_ACCESS_KEY {
            return Ok(());
        }
        let principal = self
            .principals
            .get(access_key)
            .ok_or(Refused::Signature(Refusal::UnknownKey))?;
        let resource = match key {
            Some(key) => format!("arn:aws:s3:::{bucket}/{key}"),
            None => format!("arn:aws:s3:::{bucket}"),
        };
        self.authorize(principal, vec![self.request(action, resource)])
    }

    /// Checks one Secrets Manager `GetSecretValue` of the template's secret
    /// `secret` (its logical id): the signature, then
    /// `secretsmanager:GetSecretValue` on the secret's ARN ("Actions,
    /// resources, and condition keys for AWS Secrets Manager", Service
    /// Authorization Reference).
    pub fn check_secret(&self, request: Signed<'_>, secret: &str) -> Result<(), Refused> {
        let Some(principal) = self.signer("secretsmanager", request)? else {
            return Ok(());
        };
        let resource = self.secrets.get(secret).cloned().unwrap_or_else(|| {
            format!(
                "arn:aws:secretsmanager:{}:{}:secret:{secret}",
                self.region, self.account
            )
        });
        self.authorize(
            principal,
            vec![self.request("secretsmanager:GetSecretValue", resource)],
        )
    }
}

/// Writes each function's key pair to `dir/<crate>.env`, as the
/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` its Lambda role puts in
/// its environment on AWS: `cargo lambda watch` starts each function with
/// its file (the workspace's `[workspace.metadata.lambda.bin]`).
pub fn write_credential_files<'a>(
    keys: impl IntoIterator<Item = (&'a str, Credentials)>,
    dir: &std::path::Path,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (function, key) in keys {
        let path = dir.join(format!("{function}.env"));
        let text = format!(
            "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
            key.access_key_id(),
            key.secret_access_key()
        );
        // Written whole, then renamed: a function starting now reads the
        // old file or the new one, never half of one.
        let partial = dir.join(format!(".{function}.env.partial"));
        std::fs::write(&partial, text)?;
        std::fs::rename(&partial, &path)?;
    }
    Ok(())
}

/// The stack's own key, which is not limited (and, with IAM not enforced,
/// the only one accepted).
pub fn stack_credentials() -> Credentials {
    Credentials::new(
        sigv4::LOCAL_ACCESS_KEY,
        sigv4::LOCAL_SECRET_KEY,
        None,
        None,
        "chat-gateway",
    )
}

/// Signs as the function whose invocation is running, else as the stack.
#[derive(Debug, Clone)]
pub struct FunctionCredentials {
    by_function: HashMap<String, Credentials>,
    stack: Credentials,
}

impl ProvideCredentials for FunctionCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let credentials = current_function()
            .and_then(|f| self.by_function.get(f))
            .unwrap_or(&self.stack);
        future::ProvideCredentials::ready(Ok(credentials.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `make watch` starts each function with its key pair: the workspace
    /// names each function's file, where `infra/watch.sh` has the gateway
    /// write it, and the file holds that function's key.
    #[test]
    fn every_function_under_watch_starts_with_its_own_key_file() {
        let template = crate::wiring::template_json(crate::wiring::TEMPLATE).unwrap();
        let guard = Guard::from_template(&template, crate::wiring::wiring().unwrap(), "").unwrap();
        let manifest = include_str!("../../../../Cargo.toml");
        let watch = include_str!("../../../watch.sh");
        let dir = ".local/function-credentials";
        assert!(watch.contains(&format!("credentials_dir={dir}\n")));
        assert!(watch.contains("--function-credentials \"$credentials_dir\""));
        let mut functions = 0;
        for (function, _) in guard.function_keys() {
            functions += 1;
            let entry =
                format!("\n{function} = {{ watch = {{ env_file = \"{dir}/{function}.env\" }} }}\n");
            assert!(manifest.contains(&entry), "Cargo.toml lacks {entry}");
        }
        assert!(functions > 40);

        let out = std::env::temp_dir().join(format!("chat-keys-{}", uuid::Uuid::new_v4()));
        write_credential_files(guard.function_keys(), &out).unwrap();
        let file = std::fs::read_to_string(out.join("create-message.env")).unwrap();
        let key = guard.credentials_of("create-message").unwrap();
        assert_eq!(
            file,
            format!(
                "AWS_ACCESS_KEY_ID=local-create-message\nAWS_SECRET_ACCESS_KEY={}\n",
                key.secret_access_key()
            )
        );
        std::fs::remove_dir_all(out).unwrap();
    }

    /// Lambda checks a stream mapping's role when it creates the mapping:
    /// a notifier that may not send to its failure queue stops the stack.
    #[test]
    fn a_stream_mapping_its_role_cannot_serve_stops_the_stack() {
        let template = crate::wiring::template_json(crate::wiring::TEMPLATE).unwrap();
        Guard::from_template(&template, crate::wiring::wiring().unwrap(), "")
            .expect("the template's mappings are served");
        let mut narrowed = template.clone();
        for policy in narrowed["Resources"]["NotifierFunction"]["Properties"]["Policies"]
            .as_array_mut()
            .unwrap()
        {
            if let Some(statements) = policy["Statement"].as_array_mut() {
                statements.retain(|s| s["Action"] != "sqs:SendMessage");
            }
        }
        let err = Guard::from_template(&narrowed, crate::wiring::wiring().unwrap(), "")
            .expect_err("refused");
        assert!(
            err.0.contains("notifier's stream mapping cannot be created")
                && err.0.contains(
                    "sqs:SendMessage on resource: arn:aws:sqs:us-east-1:000000000000:NotifyFailures"
                ),
            "{}",
            err.0
        );
    }

    #[tokio::test]
    async fn a_function_signs_with_its_own_key_and_the_gateway_with_the_stacks() {
        let template = crate::wiring::template_json(crate::wiring::TEMPLATE).unwrap();
        let guard = Guard::from_template(&template, crate::wiring::wiring().unwrap(), "").unwrap();
        let credentials = guard.credentials();
        let outside = credentials.provide_credentials().await.unwrap();
        assert_eq!(outside.access_key_id(), sigv4::LOCAL_ACCESS_KEY);
        let inside = as_function("create-message", async {
            credentials.provide_credentials().await.unwrap()
        })
        .await;
        assert_eq!(inside.access_key_id(), "local-create-message");
        assert_ne!(inside.secret_access_key(), sigv4::LOCAL_SECRET_KEY);
        let other = as_function("inbox", async {
            credentials.provide_credentials().await.unwrap()
        })
        .await;
        assert_ne!(other.secret_access_key(), inside.secret_access_key());
    }
}
