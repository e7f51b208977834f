//! Which function resolves which field, and how the gateway invokes it.
//!
//! Each function's handler runs in-process with the JSON event AppSync would
//! send; the event goes through the same deserialization as in Lambda, and an
//! error comes back as the same `Diagnostic` (errorType + message).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::Value;

use chat_lambda::{ResolverEvent, Service};

type Invoke = Box<dyn Fn(Value) -> BoxFuture<'static, Result<Value, Diagnostic>> + Send + Sync>;

/// One deployed function.
pub struct Function {
    /// The function crate's name.
    pub name: &'static str,
    invoke: Invoke,
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
    by_field: HashMap<&'static str, Function>,
    invocations: Invocations,
}

/// Wraps a function crate's `handler` as an in-process invocation.
macro_rules! in_process {
    ($service:expr, $krate:ident) => {{
        let service = $service.clone();
        Box::new(move |event: Value| {
            let service = service.clone();
            Box::pin(async move {
                let payload: ResolverEvent =
                    serde_json::from_value(event).map_err(|e| Diagnostic {
                        error_type: "Lambda:Unhandled".into(),
                        error_message: format!("event does not deserialize: {e}"),
                    })?;
                let mut context = Context::default();
                context.request_id = uuid::Uuid::new_v4().to_string();
                $krate::handler(&service, LambdaEvent::new(payload, context))
                    .await
                    .map_err(Diagnostic::from)
            }) as BoxFuture<'static, Result<Value, Diagnostic>>
        }) as Invoke
    }};
}

impl Resolvers {
    /// The wiring of every query and mutation to its function crate.
    pub fn in_process(service: Arc<Service>) -> Self {
        let wiring: Vec<(&'static str, &'static str, Invoke)> = vec![
            (
                "Mutation.createUser",
                "create-user",
                in_process!(service, create_user),
            ),
            (
                "Mutation.createConvo",
                "create-convo",
                in_process!(service, create_convo),
            ),
            (
                "Mutation.createConvoLink",
                "create-convo-link",
                in_process!(service, create_convo_link),
            ),
            (
                "Mutation.createMessage",
                "create-message",
                in_process!(service, create_message),
            ),
            ("Query.getUser", "get-user", in_process!(service, get_user)),
            (
                "Query.getConvo",
                "get-convo",
                in_process!(service, get_convo),
            ),
            (
                "Query.listUsers",
                "list-users",
                in_process!(service, list_users),
            ),
            ("Query.me", "me", in_process!(service, me)),
            (
                "Query.allMessageConnection",
                "all-message-connection",
                in_process!(service, all_message_connection),
            ),
        ];
        Resolvers {
            by_field: wiring
                .into_iter()
                .map(|(field, name, invoke)| (field, Function { name, invoke }))
                .collect(),
            invocations: Invocations::default(),
        }
    }

    pub fn invocations(&self) -> &Invocations {
        &self.invocations
    }

    /// The fields that have a resolver, as `Type.field`.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.by_field.keys().copied()
    }

    /// Invokes the function wired to `field` (`Type.field`) with `event`.
    pub async fn invoke(&self, field: &str, event: Value) -> Option<Result<Value, Diagnostic>> {
        let function = self.by_field.get(field)?;
        self.invocations.record(function.name);
        Some((function.invoke)(event).await)
    }
}
