//! The functions the gateway invokes, and which one resolves which field.
//!
//! Each function's handler runs in-process with the JSON event its AWS
//! trigger would send (AppSync, API Gateway, a stream mapping, a schedule);
//! the event goes through the same deserialization as in Lambda, the result
//! is serialized back to JSON, and an error comes back as the same
//! `Diagnostic` (errorType + message).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use lambda_runtime::Diagnostic;
use serde_json::Value;

use chat_lambda::{Service, WriterService};

/// The fan-out function's name: stream mappings, hand-offs and replays
/// name it.
pub(crate) const FAN_OUT_FN: &str = "fan-out";

/// The services the resolver functions run on: the functions that write push
/// what they write, so theirs has a publisher.
pub struct Services {
    pub reader: Arc<Service>,
    pub writer: Arc<WriterService>,
}

pub(crate) type Invoke =
    Box<dyn Fn(Value) -> BoxFuture<'static, Result<Value, Diagnostic>> + Send + Sync>;

/// One deployed function.
pub struct Function {
    /// The function crate's name.
    pub name: &'static str,
    invoke: Invoke,
    invocations: Invocations,
}

impl Function {
    pub(crate) fn new(name: &'static str, invoke: Invoke, invocations: &Invocations) -> Self {
        Function {
            name,
            invoke,
            invocations: invocations.clone(),
        }
    }

    /// A function whose handler is `invoke`, in this process: for tests of
    /// what drives functions (the stream mappings, say).
    pub fn local(
        name: &'static str,
        invocations: &Invocations,
        invoke: impl Fn(Value) -> BoxFuture<'static, Result<Value, Diagnostic>> + Send + Sync + 'static,
    ) -> Self {
        Function::new(name, Box::new(invoke), invocations)
    }

    /// A function served elsewhere behind the Lambda Invoke API
    /// (`POST /2015-03-31/functions/{name}/invocations`), such as
    /// `cargo lambda watch`.
    pub(crate) fn remote(
        name: &'static str,
        endpoint: &str,
        http: reqwest::Client,
        invocations: &Invocations,
    ) -> Self {
        let url = format!(
            "{}/2015-03-31/functions/{name}/invocations",
            endpoint.trim_end_matches('/')
        );
        let invoke: Invoke = Box::new(move |event: Value| {
            let (http, url) = (http.clone(), url.clone());
            Box::pin(async move {
                let response = http
                    .post(&url)
                    .json(&event)
                    .send()
                    .await
                    .map_err(|e| unhandled(format!("invoke failed: {e}")))?;
                let failed = !response.status().is_success()
                    || response.headers().contains_key("x-amz-function-error");
                let body: Value = response
                    .json()
                    .await
                    .map_err(|e| unhandled(format!("invoke returned no JSON: {e}")))?;
                if failed {
                    return Err(Diagnostic {
                        error_type: body["errorType"]
                            .as_str()
                            .unwrap_or("Lambda:Unhandled")
                            .to_string(),
                        error_message: body["errorMessage"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    });
                }
                Ok(body)
            })
        });
        Function::new(name, invoke, invocations)
    }

    /// Invokes the function with a JSON event; returns its JSON result.
    pub async fn invoke(&self, event: Value) -> Result<Value, Diagnostic> {
        self.invocations.record(self.name);
        (self.invoke)(event).await
    }
}

/// Per-function invocation counts.
#[derive(Debug, Clone, Default)]
pub struct Invocations(Arc<Mutex<BTreeMap<&'static str, u64>>>);

impl Invocations {
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.0.lock().expect("invocations lock").clone()
    }

    pub fn total(&self) -> u64 {
        self.0.lock().expect("invocations lock").values().sum()
    }

    fn record(&self, name: &'static str) {
        *self
            .0
            .lock()
            .expect("invocations lock")
            .entry(name)
            .or_default() += 1;
    }
}

/// `Type.field` → function.
pub struct Resolvers {
    by_field: HashMap<String, Function>,
    invocations: Invocations,
}

pub(crate) fn unhandled(message: String) -> Diagnostic {
    Diagnostic {
        error_type: "Lambda:Unhandled".into(),
        error_message: message,
    }
}

/// A handler's outcome as the Lambda runtime reports it: its error becomes
/// the invocation's `Diagnostic`.
pub(crate) async fn failed<O, E: Into<Diagnostic>>(
    handled: impl std::future::Future<Output = Result<O, E>>,
) -> Result<O, Diagnostic> {
    handled.await.map_err(Into::into)
}

/// Wraps a function crate's `handler` as an in-process invocation: JSON event
/// in, JSON result or `Diagnostic` out, as the Lambda runtime would see it
/// from the function's `main`, which answers through `$answer` (a
/// resolver's through `chat_lambda::answer`).
macro_rules! in_process {
    ($invocations:expr, $name:literal, $service:expr, $krate:ident) => {
        $crate::resolvers::in_process!(
            $invocations,
            $name,
            $service,
            $krate,
            $crate::resolvers::failed
        )
    };
    ($invocations:expr, $name:literal, $service:expr, $krate:ident, $answer:path) => {{
        let service = $service.clone();
        let invoke: $crate::resolvers::Invoke = Box::new(move |event: serde_json::Value| {
            let service = service.clone();
            Box::pin(async move {
                let payload = serde_json::from_value(event).map_err(|e| {
                    $crate::resolvers::unhandled(format!("event does not deserialize: {e}"))
                })?;
                let mut context = lambda_runtime::Context::default();
                context.request_id = uuid::Uuid::new_v4().to_string();
                let output = $crate::iam::as_function(
                    $name,
                    $answer($krate::handler(
                        &service,
                        lambda_runtime::LambdaEvent::new(payload, context),
                    )),
                )
                .await?;
                serde_json::to_value(output).map_err(|e| {
                    $crate::resolvers::unhandled(format!("result does not serialize: {e}"))
                })
            })
                as futures::future::BoxFuture<
                    'static,
                    Result<serde_json::Value, lambda_runtime::Diagnostic>,
                >
        });
        $crate::resolvers::Function::new($name, invoke, &$invocations)
    }};
}
pub(crate) use in_process;

/// The attachments' functions: what each S3 event route invokes (the
/// processor, with the writers' service and the bucket), and the upload
/// sweeper.
pub fn media_functions(
    wiring: &crate::wiring::Wiring,
    runner: &Runner,
    services: &Services,
    media: &chat_media::S3Media,
    invocations: &Invocations,
) -> (Vec<(String, Arc<Function>)>, Arc<Function>) {
    let processor = process_upload::Processor {
        service: services.writer.clone(),
        media: media.clone(),
    };
    let local_process = in_process!(invocations, "process-upload", processor, process_upload);
    let local_sweeper = in_process!(
        invocations,
        "upload-sweeper",
        services.reader,
        upload_sweeper
    );
    let (process, sweeper) = match runner {
        Runner::InProcess => (local_process, local_sweeper),
        Runner::Remote { endpoint } => {
            let http = reqwest::Client::new();
            (
                Function::remote(local_process.name, endpoint, http.clone(), invocations),
                Function::remote(local_sweeper.name, endpoint, http, invocations),
            )
        }
    };
    let process = Arc::new(process);
    let routes = wiring
        .s3_events
        .iter()
        .filter(|(f, _)| f == "process-upload")
        .map(|(_, prefix)| (prefix.clone(), process.clone()))
        .collect();
    (routes, Arc::new(sweeper))
}

/// The in-process handler of a resolver function crate.
fn resolver_function(
    name: &str,
    services: &Services,
    invocations: &Invocations,
) -> Option<Function> {
    let (service, writer) = (&services.reader, &services.writer);
    Some(match name {
        "create-user" => in_process!(
            invocations,
            "create-user",
            writer,
            create_user,
            chat_lambda::answer
        ),
        "create-convo" => in_process!(
            invocations,
            "create-convo",
            writer,
            create_convo,
            chat_lambda::answer
        ),
        "create-convo-link" => {
            in_process!(
                invocations,
                "create-convo-link",
                writer,
                create_convo_link,
                chat_lambda::answer
            )
        }
        "create-message" => in_process!(
            invocations,
            "create-message",
            writer,
            create_message,
            chat_lambda::answer
        ),
        "update-message" => in_process!(
            invocations,
            "update-message",
            writer,
            update_message,
            chat_lambda::answer
        ),
        "delete-message" => in_process!(
            invocations,
            "delete-message",
            writer,
            delete_message,
            chat_lambda::answer
        ),
        "message-changes" => in_process!(
            invocations,
            "message-changes",
            service,
            message_changes,
            chat_lambda::answer
        ),
        "leave-convo" => in_process!(
            invocations,
            "leave-convo",
            writer,
            leave_convo,
            chat_lambda::answer
        ),
        "remove-member" => in_process!(
            invocations,
            "remove-member",
            writer,
            remove_member,
            chat_lambda::answer
        ),
        "promote-member" => in_process!(
            invocations,
            "promote-member",
            writer,
            promote_member,
            chat_lambda::answer
        ),
        "react" => in_process!(invocations, "react", writer, react, chat_lambda::answer),
        "inbox" => in_process!(invocations, "inbox", service, inbox, chat_lambda::answer),
        "mark-read" => in_process!(
            invocations,
            "mark-read",
            writer,
            mark_read,
            chat_lambda::answer
        ),
        "typing" => in_process!(invocations, "typing", writer, typing, chat_lambda::answer),
        "report-message" => in_process!(
            invocations,
            "report-message",
            service,
            report_message,
            chat_lambda::answer
        ),
        "report-user" => in_process!(
            invocations,
            "report-user",
            service,
            report_user,
            chat_lambda::answer
        ),
        "open-reports" => in_process!(
            invocations,
            "open-reports",
            service,
            open_reports,
            chat_lambda::answer
        ),
        "dismiss-report" => in_process!(
            invocations,
            "dismiss-report",
            service,
            dismiss_report,
            chat_lambda::answer
        ),
        "block-user" => in_process!(
            invocations,
            "block-user",
            service,
            block_user,
            chat_lambda::answer
        ),
        "unblock-user" => in_process!(
            invocations,
            "unblock-user",
            service,
            unblock_user,
            chat_lambda::answer
        ),
        "blocked-users" => in_process!(
            invocations,
            "blocked-users",
            service,
            blocked_users,
            chat_lambda::answer
        ),
        "suspend-user" => in_process!(
            invocations,
            "suspend-user",
            writer,
            suspend_user,
            chat_lambda::answer
        ),
        "ban-user" => in_process!(
            invocations,
            "ban-user",
            writer,
            ban_user,
            chat_lambda::answer
        ),
        "reinstate-user" => in_process!(
            invocations,
            "reinstate-user",
            service,
            reinstate_user,
            chat_lambda::answer
        ),
        "remove-message" => in_process!(
            invocations,
            "remove-message",
            writer,
            remove_message,
            chat_lambda::answer
        ),
        "audit-log" => in_process!(
            invocations,
            "audit-log",
            service,
            audit_log,
            chat_lambda::answer
        ),
        "create-upload" => in_process!(
            invocations,
            "create-upload",
            service,
            create_upload,
            chat_lambda::answer
        ),
        "register-device" => in_process!(
            invocations,
            "register-device",
            service,
            register_device,
            chat_lambda::answer
        ),
        "unregister-device" => in_process!(
            invocations,
            "unregister-device",
            service,
            unregister_device,
            chat_lambda::answer
        ),
        "push-settings" => in_process!(
            invocations,
            "push-settings",
            service,
            push_settings,
            chat_lambda::answer
        ),
        "update-push-settings" => in_process!(
            invocations,
            "update-push-settings",
            service,
            update_push_settings,
            chat_lambda::answer
        ),
        "set-conversation-notifications" => in_process!(
            invocations,
            "set-conversation-notifications",
            service,
            set_conversation_notifications,
            chat_lambda::answer
        ),
        "get-user" => in_process!(
            invocations,
            "get-user",
            service,
            get_user,
            chat_lambda::answer
        ),
        "get-convo" => in_process!(
            invocations,
            "get-convo",
            service,
            get_convo,
            chat_lambda::answer
        ),
        "list-users" => in_process!(
            invocations,
            "list-users",
            service,
            list_users,
            chat_lambda::answer
        ),
        "me" => in_process!(invocations, "me", service, me, chat_lambda::answer),
        "all-message-connection" => in_process!(
            invocations,
            "all-message-connection",
            service,
            all_message_connection,
            chat_lambda::answer
        ),
        _ => return None,
    })
}

/// How the gateway runs the functions.
#[derive(Debug, Clone)]
pub enum Runner {
    /// Each function's handler, in this process.
    InProcess,
    /// Behind a Lambda Invoke API endpoint, e.g. `cargo lambda watch`.
    Remote { endpoint: String },
}

impl Resolvers {
    /// Wires every field to its function as `wiring` (infra/template.yaml) declares.
    pub fn new(
        wiring: &crate::wiring::Wiring,
        runner: &Runner,
        services: Services,
        invocations: &Invocations,
    ) -> Result<Self, crate::wiring::WiringError> {
        let mut by_field = HashMap::new();
        let http = reqwest::Client::new();
        for (field, name) in &wiring.resolvers {
            let local = resolver_function(name, &services, invocations).ok_or_else(|| {
                crate::wiring::WiringError::new(format!(
                    "{field} is wired to {name}, which is not a resolver function crate"
                ))
            })?;
            let function = match runner {
                Runner::InProcess => local,
                Runner::Remote { endpoint } => {
                    Function::remote(local.name, endpoint, http.clone(), invocations)
                }
            };
            by_field.insert(field.clone(), function);
        }
        Ok(Resolvers {
            by_field,
            invocations: invocations.clone(),
        })
    }

    pub fn invocations(&self) -> &Invocations {
        &self.invocations
    }

    /// Invokes the function wired to `field` (`Type.field`) with `event`.
    pub async fn invoke(&self, field: &str, event: Value) -> Option<Result<Value, Diagnostic>> {
        Some(self.by_field.get(field)?.invoke(event).await)
    }
}
