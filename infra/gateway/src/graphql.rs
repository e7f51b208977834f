//! The AppSync stand-in: `POST /graphql`.
//!
//! Like AppSync it refuses a body over [`MAX_REQUEST_BYTES`] with HTTP 413 and
//! a request without a valid token with HTTP 401,
//! validates the document against the schema, resolves each root field by
//! invoking its function with an AppSync resolver event, shapes the result to
//! the selection set, and returns errors with `errorType`.
//!
//! Execution runs in three steps, because `apollo-compiler`'s async executor
//! is not `Send` and cannot live inside a multi-threaded server:
//! 1. *plan*: a synchronous pass records, for every root field, the event its
//!    function gets (arguments coerced, selection computed by the executor);
//! 2. *invoke*: the functions run (a mutation's fields one after another, a
//!    query's concurrently), as AppSync does;
//! 3. *project*: a second synchronous pass shapes each result to its selection
//!    set and answers introspection.

use chat_graphql::project::Refused;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use apollo_compiler::executable::OperationType;
use apollo_compiler::request::coerce_variable_values;
use apollo_compiler::resolvers::{Execution, FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::JsonMap;
use apollo_compiler::ExecutableDocument;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tracing::instrument;

use chat_auth::VerifiedToken;
use chat_graphql::project::{from_response_json, project, response_key, RootValues};
use chat_graphql::selection::{selection_set_graphql, selection_set_list};
use chat_graphql::{schema, AppSyncError};

use crate::{AppState, MAX_REQUEST_BYTES};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphQLRequest {
    query: String,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    #[serde(default)]
    operation_name: Option<String>,
}

fn errors_only(status: StatusCode, errors: Vec<AppSyncError>) -> Response {
    (status, Json(json!({ "errors": errors }))).into_response()
}

fn unauthorized(message: String) -> Response {
    errors_only(
        StatusCode::UNAUTHORIZED,
        vec![AppSyncError::request(
            "UnauthorizedException",
            message,
            vec![],
        )],
    )
}

/// A refusal that leaves part of the request body unread: the connection
/// cannot carry another request, so the response says `Connection: close`
/// (and the server closes it) instead of leaving a keep-alive client to
/// write into a dead socket.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn too_large() -> Response {
    closing(errors_only(
        StatusCode::PAYLOAD_TOO_LARGE,
        vec![AppSyncError::request(
            "PayloadTooLargeException",
            format!("The request body is larger than {MAX_REQUEST_BYTES} bytes."),
            vec![],
        )],
    ))
}

/// The body, read whole up to [`MAX_REQUEST_BYTES`]: a declared length over
/// it is refused before anything is read.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|err| {
            let over = std::error::Error::source(&err)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if over {
                too_large()
            } else {
                closing(errors_only(
                    StatusCode::BAD_REQUEST,
                    vec![AppSyncError::request(
                        "MalformedHttpRequestException",
                        "The request body could not be read.",
                        vec![],
                    )],
                ))
            }
        })
}

/// Any other path or method: AppSync's error shape, not a bare status.
pub async fn not_found() -> Response {
    errors_only(
        StatusCode::NOT_FOUND,
        vec![AppSyncError::request(
            "NotFoundException",
            "No such endpoint: GraphQL is served by POST /graphql.",
            vec![],
        )],
    )
}

/// How long a browser may keep a preflight's answer, as AppSync says.
const PREFLIGHT_MAX_AGE_SECS: &str = "172800";
/// The response headers a page may read, as AppSync exposes them.
const EXPOSED_HEADERS: &str =
    "x-amzn-RequestId,x-amzn-ErrorType,x-amz-user-agent,x-amzn-ErrorMessage,Date,x-amz-schema-version";
/// The request headers a page may send when its preflight names none.
const ALLOWED_HEADERS: &str =
    "authorization,content-type,x-api-key,x-amz-date,x-amz-security-token,x-amz-user-agent";

/// `OPTIONS /graphql`: a browser's preflight. AppSync lets any origin call
/// its endpoint (the token, not the origin, is what authorizes), and so
/// does the local stack, so a front end served from another port or host
/// (Vite, Expo web, a query explorer) calls it as it would call AppSync.
pub async fn preflight(headers: HeaderMap) -> Response {
    // The headers the page asks to send, when they are header names.
    let asked = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            v.split(',').all(|name| {
                let name = name.trim();
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
        })
        .unwrap_or(ALLOWED_HEADERS)
        .to_string();
    let mut response = StatusCode::OK.into_response();
    let out = response.headers_mut();
    out.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST,OPTIONS"),
    );
    if let Ok(value) = HeaderValue::from_str(&asked) {
        out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
    }
    out.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE_SECS),
    );
    response
}

/// Every `/graphql` answer, the preflight's included, may be read by a
/// page of any origin.
pub async fn cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
    response
}

/// `GET /graphql`: the query explorer (GraphiQL), as the AppSync console
/// has a query editor; without the web client's files, a 405 as any other
/// method gets.
pub async fn explorer(State(state): State<Arc<AppState>>) -> Response {
    match &state.web {
        Some(web) => match web.explorer().await {
            Some(page) => page,
            None => method_not_allowed().await,
        },
        None => method_not_allowed().await,
    }
}

/// `/graphql` with a method other than POST (or GET, for the explorer).
pub async fn method_not_allowed() -> Response {
    let mut response = errors_only(
        StatusCode::METHOD_NOT_ALLOWED,
        vec![AppSyncError::request(
            "MethodNotAllowedException",
            "GraphQL requests are sent with POST.",
            vec![],
        )],
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// `GET /local/failed-records`: the stream mappings' on-failure destination.
pub async fn failed_records(State(state): State<Arc<AppState>>) -> Response {
    match state.failures.list() {
        Ok(batches) => {
            let listed: Vec<Value> = batches
                .into_iter()
                .map(|mut b| {
                    // The list is a summary; the files hold the events.
                    b.event = Value::Null;
                    serde_json::to_value(b).unwrap_or_default()
                })
                .collect();
            Json(json!({ "failedBatches": listed })).into_response()
        }
        Err(err) => {
            tracing::error!(error = %chat_domain::Chain(&err), "could not list failed records");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "message": "could not list failed records" })),
            )
                .into_response()
        }
    }
}

/// `POST /local/failed-records/replay`: redelivers every failed batch.
pub async fn replay_failed_records(State(state): State<Arc<AppState>>) -> Response {
    match state.failures.replay(&state.stream_functions).await {
        Ok(report) => Json(report).into_response(),
        Err(err) => {
            tracing::error!(error = %chat_domain::Chain(&err), "could not replay failed records");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "message": "could not replay failed records" })),
            )
                .into_response()
        }
    }
}

/// The request headers a resolver event carries. No function reads any, so
/// only a short list a log line may want is passed, each value cut to
/// [`MAX_EVENT_HEADER_BYTES`]: what a client sends in headers never
/// multiplies into every event of a request. On AWS each resolver's
/// request handler (infra/resolvers/invoke.js) does the same, from the same
/// list; a wiring test holds the two equal.
pub const EVENT_HEADERS: [&str; 3] = ["content-type", "user-agent", "x-amzn-trace-id"];
pub const MAX_EVENT_HEADER_BYTES: usize = 256;

fn event_headers(headers: &HeaderMap) -> Map<String, Value> {
    EVENT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?.to_str().ok()?;
            let mut end = value.len().min(MAX_EVENT_HEADER_BYTES);
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            Some((name.to_string(), Value::String(value[..end].to_string())))
        })
        .collect()
}

/// `POST /graphql`
#[instrument(skip_all)]
pub async fn handle(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Read first, so that every refusal below leaves the connection usable.
    let body = match read_body(&headers, body).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let Some(token) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return unauthorized("Valid authorization header not provided.".into());
    };
    let identity = match state.verifier.verify(token).await {
        Ok(identity) => identity,
        Err(err) => return unauthorized(format!("Unauthorized: {err}.")),
    };
    let request: GraphQLRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(err) => {
            return errors_only(
                StatusCode::BAD_REQUEST,
                vec![AppSyncError::request(
                    "MalformedHttpRequestException",
                    format!("The request body is not a GraphQL request: {err}"),
                    vec![],
                )],
            )
        }
    };
    let request_headers = event_headers(&headers);
    let body = execute(&state, &identity, request, request_headers).await;
    Json(body).into_response()
}

async fn execute(
    state: &Arc<AppState>,
    identity: &VerifiedToken,
    request: GraphQLRequest,
    headers: Map<String, Value>,
) -> Value {
    let schema = schema();
    let document =
        match ExecutableDocument::parse_and_validate(schema, &request.query, "request.graphql") {
            Ok(doc) => doc,
            Err(invalid) => {
                let errors: Vec<AppSyncError> = invalid
                    .errors
                    .iter()
                    .map(|d| AppSyncError::from_graphql(d.to_json()))
                    .collect();
                return json!({ "data": null, "errors": errors });
            }
        };
    let request_error = |e: apollo_compiler::request::RequestError| json!({ "data": null, "errors": [AppSyncError::from_graphql(e.to_graphql_error(&document.sources))] });
    let operation = match document.operations.get(request.operation_name.as_deref()) {
        Ok(op) => op,
        Err(e) => return request_error(e),
    };
    if operation.operation_type == OperationType::Subscription {
        return json!({ "data": null, "errors": [AppSyncError::request(
            "UnsupportedOperation",
            "subscriptions are served over the WebSocket API, not HTTP",
            vec![],
        )]});
    }
    if let Err(e) = apollo_compiler::introspection::check_max_depth(&document, operation) {
        return request_error(e);
    }
    // AppSync's QueryDepthLimit and ResolverCountLimit, from the template:
    // refused before any function runs.
    if let Err(refusal) = state.cost_limits.check(&document, operation) {
        return json!({ "data": null, "errors": [AppSyncError::from(refusal)] });
    }
    let raw_variables: JsonMap = match serde_json::from_value(Value::Object(
        request.variables.clone().unwrap_or_default(),
    )) {
        Ok(v) => v,
        Err(_) => {
            return json!({ "data": null, "errors": [AppSyncError::request("ValidationError", "variables must be a JSON object", vec![])] })
        }
    };
    let variables = match coerce_variable_values(schema, operation, &raw_variables) {
        Ok(v) => v,
        Err(e) => return request_error(e),
    };
    let context = EventContext {
        type_name: operation.object_type().to_string(),
        identity: identity.clone(),
        headers,
        variables: from_response_json(&*variables),
    };
    // 1. Plan.
    let planner = Planner {
        context: &context,
        planned: RefCell::new(Vec::new()),
    };
    if let Err(e) = Execution::new(schema, &document)
        .operation(operation)
        .coerced_variable_values(&variables)
        .execute_sync(&planner)
    {
        return request_error(e);
    }
    let planned = planner.planned.into_inner();
    // 2. Invoke.
    let results: HashMap<String, Option<Result<Value, lambda_runtime::Diagnostic>>> =
        if operation.operation_type == OperationType::Mutation {
            let mut results = HashMap::new();
            for call in planned {
                let result = state.resolvers.invoke(&call.field, call.event).await;
                results.insert(call.key, result);
            }
            results
        } else {
            let calls = planned.into_iter().map(|call| async move {
                let result = state.resolvers.invoke(&call.field, call.event).await;
                (call.key, result)
            });
            futures::future::join_all(calls).await.into_iter().collect()
        };
    // 3. Project.
    let results = results
        .into_iter()
        .map(|(key, result)| {
            // What each resolver's response handler does on AWS
            // (infra/resolvers/invoke.js): a client's error comes as the
            // result, an internal failure as a failed invocation.
            let result = match result {
                Some(Ok(value)) => match chat_graphql::project::refusal(&value) {
                    Some(refused) => Err(refused),
                    None => Ok(value),
                },
                Some(Err(d)) => Err(Refused::new(d.error_type, d.error_message)),
                None => Err(Refused::new(
                    "NotImplemented",
                    "no resolver is wired to this field",
                )),
            };
            (key, result)
        })
        .collect();
    let root = RootValues::keyed(context.type_name.clone(), results);
    project(&document, operation, &variables, &root, true)
}

/// What every resolver event of one request shares.
struct EventContext {
    type_name: String,
    identity: VerifiedToken,
    headers: Map<String, Value>,
    variables: Value,
}

/// One function invocation for one root field (by response key).
struct PlannedCall {
    key: String,
    field: String,
    event: Value,
}

/// The planning pass's root object: records each root field's invocation.
struct Planner<'c> {
    context: &'c EventContext,
    planned: RefCell<Vec<PlannedCall>>,
}

impl ObjectValue for Planner<'_> {
    fn type_name(&self) -> &str {
        &self.context.type_name
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let key = response_key(info);
        let mut planned = self.planned.borrow_mut();
        if !planned.iter().any(|c| c.key == key) {
            planned.push(PlannedCall {
                field: format!("{}.{}", self.context.type_name, info.field_name()),
                event: self.context.event(info),
                key,
            });
        }
        Ok(ResolvedValue::null())
    }
}

impl EventContext {
    /// The event AppSync sends a Direct Lambda resolver.
    fn event(&self, info: &ResolveInfo<'_>) -> Value {
        let claims = &self.identity.claims;
        json!({
            "arguments": from_response_json(info.arguments()),
            "identity": {
                "sub": self.identity.sub,
                "issuer": self.identity.issuer,
                "username": self.identity.username,
                "claims": claims,
                "sourceIp": ["127.0.0.1"],
                "defaultAuthStrategy": "ALLOW",
                "groups": claims.get("cognito:groups").cloned().unwrap_or(Value::Null),
            },
            "source": null,
            "request": { "headers": self.headers, "domainName": null },
            "prev": null,
            "info": {
                "selectionSetList": selection_set_list(info.document(), info.field_selections(), &self.variables),
                "selectionSetGraphQL": selection_set_graphql(info.field_selections()),
                "parentTypeName": self.type_name,
                "fieldName": info.field_name(),
                "variables": self.variables,
            },
            "stash": {},
        })
    }
}

/// `GET /local/stats`: function invocations and DynamoDB requests so far, of
/// the query and mutation functions and of the real-time ones (WebSocket
/// routes, fan-out, sweeper), counted where they happen.
pub async fn stats(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "invocations": state.resolvers.invocations().snapshot(),
        "dynamodbRequests": state.requests.snapshot(),
        "realtime": {
            "invocations": state.realtime_invocations.snapshot(),
            "dynamodbRequests": state.realtime_requests.snapshot(),
        },
        "pushes": state.push.stats(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_events_carry_only_short_allowed_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("secret"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let padding = "x".repeat(300 * 1024);
        headers.insert("x-padding", HeaderValue::from_str(&padding).unwrap());
        headers.insert("user-agent", HeaderValue::from_str(&padding).unwrap());
        let event = event_headers(&headers);
        assert_eq!(
            event.keys().collect::<Vec<_>>(),
            ["content-type", "user-agent"]
        );
        assert_eq!(event["content-type"], "application/json");
        assert_eq!(
            event["user-agent"].as_str().unwrap().len(),
            MAX_EVENT_HEADER_BYTES
        );
    }
}
