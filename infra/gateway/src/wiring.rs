//! The wiring, read from infra/template.yaml: the one declaration of which
//! function resolves which GraphQL field, which function serves which
//! WebSocket route, which streams trigger which function, what runs on a
//! schedule, and the tables' keys, indexes, streams and TTL. The gateway wires
//! itself from this, and the tests hold it against the code.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Map, Value};

/// infra/template.yaml, built in.
pub const TEMPLATE: &str = include_str!("../../template.yaml");

/// A table as the template declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredTable {
    /// The logical id without its `Table` suffix: `Users`, `Messages`, ...
    pub name: String,
    pub hash: String,
    pub range: Option<String>,
    /// `(index name, hash, range, global)`, sorted by name.
    /// (name, hash, range, global, keys only)
    pub indexes: Vec<(String, String, Option<String>, bool, bool)>,
    pub stream: bool,
    pub ttl: Option<String>,
}

/// Everything the template wires.
#[derive(Debug, Clone, Default)]
pub struct Wiring {
    /// `Type.field` → function crate.
    pub resolvers: BTreeMap<String, String>,
    /// Route key → function crate.
    pub routes: BTreeMap<String, String>,
    /// The stream event source mappings: which table's stream triggers
    /// which function, and how.
    pub mappings: Vec<StreamMapping>,
    /// Function crates run on a schedule.
    pub scheduled: Vec<String>,
    /// S3 event notifications: the function crate each invokes, and the
    /// key prefix it filters on.
    pub s3_events: Vec<(String, String)>,
    /// Every function crate the template deploys.
    pub functions: Vec<String>,
    pub tables: Vec<DeclaredTable>,
    /// The AppSync API's `QueryDepthLimit` and `ResolverCountLimit`.
    pub cost_limits: chat_graphql::cost::CostLimits,
    /// `Type.field` → the code of its resolver on a NONE data source, which
    /// passes on what the root field's function read.
    pub pass_through: BTreeMap<String, String>,
    /// `Type.field` → the runtime and code file of its Lambda resolver's
    /// handlers (`Runtime.Name`, `CodeS3Location`).
    pub resolver_handlers: BTreeMap<String, (String, String)>,
}

/// One DynamoDB stream event source mapping.
#[derive(Debug, Clone)]
pub struct StreamMapping {
    /// The function crate it invokes.
    pub function: String,
    /// The streamed table's logical name (`Messages`, ...).
    pub table: String,
    pub filter: crate::filters::Filter,
    /// `MaximumRecordAgeInSeconds`, if stated.
    pub max_record_age_secs: Option<u64>,
    /// `MaximumRetryAttempts`; `None` for -1 or unstated (until the record
    /// is too old).
    pub max_retry_attempts: Option<u32>,
}

impl Wiring {
    /// The tables whose streams trigger `function`.
    pub fn streams_of(&self, function: &str) -> Vec<String> {
        self.mappings
            .iter()
            .filter(|m| m.function == function)
            .map(|m| m.table.clone())
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("infra/template.yaml: {0}")]
pub struct WiringError(String);

impl WiringError {
    pub fn new(message: impl Into<String>) -> Self {
        WiringError(message.into())
    }
}

static WIRING: LazyLock<Result<Wiring, String>> =
    LazyLock::new(|| Wiring::parse(TEMPLATE).map_err(|e| e.to_string()));

/// The built-in template's wiring.
pub fn wiring() -> Result<&'static Wiring, WiringError> {
    WIRING.as_ref().map_err(|e| WiringError(e.clone()))
}

fn err(msg: impl Into<String>) -> WiringError {
    WiringError(msg.into())
}

/// infra/template.yaml as JSON, the way CloudFormation reads it: a tagged
/// node is the long form's one-key object, with the tagged value as written
/// (`!Ref X` is `{"Ref": "X"}`, `!GetAtt X.Arn` is `{"Fn::GetAtt": "X.Arn"}`,
/// `!Sub '...'` is `{"Fn::Sub": "..."}`).
pub fn template_json(text: &str) -> Result<Value, WiringError> {
    let docs = Yaml::load_from_str(text).map_err(|e| err(e.to_string()))?;
    let doc = docs.first().ok_or_else(|| err("an empty template"))?;
    json_of(doc)
}

fn json_of(node: &Yaml) -> Result<Value, WiringError> {
    Ok(match node {
        Yaml::Value(scalar) => scalar_json(scalar)?,
        Yaml::Sequence(items) => Value::Array(items.iter().map(json_of).collect::<Result<_, _>>()?),
        Yaml::Mapping(entries) => {
            let mut object = Map::new();
            for (key, value) in entries {
                let key = match key {
                    Yaml::Value(Scalar::String(key)) => key.to_string(),
                    Yaml::Value(Scalar::Integer(key)) => key.to_string(),
                    _ => return Err(err(format!("a mapping key that is not a name: {key:?}"))),
                };
                object.insert(key, json_of(value)?);
            }
            Value::Object(object)
        }
        Yaml::Tagged(tag, value) if tag.handle == "!" => {
            let name = if tag.suffix == "Ref" {
                "Ref".to_string()
            } else {
                format!("Fn::{}", tag.suffix)
            };
            Value::Object(Map::from_iter([(name, json_of(value)?)]))
        }
        other => return Err(err(format!("not a template value: {other:?}"))),
    })
}

fn scalar_json(scalar: &Scalar) -> Result<Value, WiringError> {
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::from(*i),
        Scalar::FloatingPoint(f) => serde_json::Number::from_f64(f.into_inner())
            .map(Value::Number)
            .ok_or_else(|| err(format!("a number JSON cannot hold: {f}")))?,
        Scalar::String(text) => Value::String(text.to_string()),
    })
}

/// An intrinsic function's name (`Ref`, `Fn::GetAtt`, ...) and argument.
fn intrinsic(value: &Value) -> Option<(&str, &Value)> {
    let object = value.as_object()?;
    let (name, argument) = object.iter().next()?;
    (object.len() == 1 && (name == "Ref" || name.starts_with("Fn::")))
        .then_some((name.as_str(), argument))
}

/// The logical id an intrinsic points at: `!Ref X`, `!GetAtt X.Attr`, or the
/// first `${X...}` of a `!Sub`.
fn target(value: &Value) -> Option<String> {
    let (name, argument) = intrinsic(value)?;
    match name {
        "Ref" => argument.as_str().map(str::to_string),
        // The short form's `X.Attr`, or the long form's `[X, Attr]`.
        "Fn::GetAtt" => match argument {
            Value::Array(parts) => parts.first()?.as_str().map(str::to_string),
            _ => argument.as_str()?.split('.').next().map(str::to_string),
        },
        "Fn::Sub" => {
            let inner = argument.as_str()?;
            let start = inner.find("${")? + 2;
            let rest = &inner[start..];
            let end = rest.find(['}', '.'])?;
            Some(rest[..end].to_string())
        }
        _ => None,
    }
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = value;
    for key in path {
        v = v.get(*key)?;
    }
    v.as_str()
}

fn resolver_code(props: &Value) -> String {
    str_at(props, &["Code"]).unwrap_or_default().to_string()
}

fn key_schema(value: Option<&Value>) -> (String, Option<String>) {
    let mut hash = String::new();
    let mut range = None;
    for element in value.and_then(Value::as_array).into_iter().flatten() {
        let name = str_at(element, &["AttributeName"])
            .unwrap_or_default()
            .to_string();
        match str_at(element, &["KeyType"]) {
            Some("HASH") => hash = name,
            Some("RANGE") => range = Some(name),
            _ => {}
        }
    }
    (hash, range)
}

impl Wiring {
    pub fn parse(template: &str) -> Result<Wiring, WiringError> {
        let doc = template_json(template)?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_object)
            .ok_or_else(|| err("no Resources"))?;
        let by_id: BTreeMap<String, &Value> = resources
            .iter()
            .map(|(id, resource)| (id.clone(), resource))
            .collect();
        let kind = |id: &str| {
            by_id
                .get(id)
                .and_then(|r| str_at(r, &["Type"]))
                .unwrap_or_default()
        };
        let props = |id: &str| by_id.get(id).and_then(|r| r.get("Properties"));

        let mut wiring = Wiring::default();
        let mut crate_of: BTreeMap<String, String> = BTreeMap::new();
        for (id, resource) in &by_id {
            match kind(id) {
                "AWS::Serverless::Function" => {
                    let code = str_at(resource, &["Properties", "CodeUri"])
                        .ok_or_else(|| err(format!("{id} has no CodeUri")))?;
                    let name = code
                        .trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or(code)
                        .to_string();
                    crate_of.insert(id.clone(), name.clone());
                    wiring.functions.push(name.clone());
                    let events = resource
                        .get("Properties")
                        .and_then(|p| p.get("Events"))
                        .and_then(Value::as_object);
                    for (_, event) in events.into_iter().flatten() {
                        match str_at(event, &["Type"]) {
                            Some("DynamoDB") => {
                                let table = event
                                    .get("Properties")
                                    .and_then(|p| p.get("Stream"))
                                    .and_then(target)
                                    .ok_or_else(|| {
                                        err(format!("{id}: a stream event without a table"))
                                    })?;
                                let table = table.trim_end_matches("Table").to_string();
                                let number = |name: &str| {
                                    event
                                        .get("Properties")
                                        .and_then(|p| p.get(name))
                                        .and_then(Value::as_i64)
                                };
                                let patterns = event
                                    .get("Properties")
                                    .and_then(|p| p.get("FilterCriteria"))
                                    .and_then(|f| f.get("Filters"))
                                    .and_then(Value::as_array)
                                    .into_iter()
                                    .flatten()
                                    .filter_map(|f| str_at(f, &["Pattern"]));
                                let filter = crate::filters::Filter::parse(patterns)
                                    .map_err(|e| err(format!("{id}: {e}")))?;
                                wiring.mappings.push(StreamMapping {
                                    function: name.clone(),
                                    table,
                                    filter,
                                    max_record_age_secs: number("MaximumRecordAgeInSeconds")
                                        .and_then(|n| u64::try_from(n).ok()),
                                    max_retry_attempts: number("MaximumRetryAttempts")
                                        .and_then(|n| u32::try_from(n).ok()),
                                });
                            }
                            Some("Schedule") | Some("ScheduleV2") => {
                                wiring.scheduled.push(name.clone())
                            }
                            Some("S3") => {
                                let prefix = event
                                    .get("Properties")
                                    .and_then(|p| p.get("Filter"))
                                    .and_then(|f| f.get("S3Key"))
                                    .and_then(|k| k.get("Rules"))
                                    .and_then(Value::as_array)
                                    .into_iter()
                                    .flatten()
                                    .find(|r| str_at(r, &["Name"]) == Some("prefix"))
                                    .and_then(|r| str_at(r, &["Value"]))
                                    .unwrap_or_default()
                                    .to_string();
                                wiring.s3_events.push((name.clone(), prefix));
                            }
                            _ => {}
                        }
                    }
                }
                "AWS::AppSync::GraphQLApi" => {
                    let limit = |name: &str| {
                        resource
                            .get("Properties")
                            .and_then(|p| p.get(name))
                            .and_then(Value::as_u64)
                            .filter(|n| *n > 0)
                            .map(|n| n as usize)
                    };
                    wiring.cost_limits = chat_graphql::cost::CostLimits {
                        query_depth: limit("QueryDepthLimit"),
                        resolver_count: limit("ResolverCountLimit"),
                    };
                }
                "AWS::DynamoDB::Table" => {
                    let p = resource
                        .get("Properties")
                        .ok_or_else(|| err(format!("{id} has no Properties")))?;
                    let (hash, range) = key_schema(p.get("KeySchema"));
                    let mut indexes = Vec::new();
                    for (list, global) in [
                        ("GlobalSecondaryIndexes", true),
                        ("LocalSecondaryIndexes", false),
                    ] {
                        for ix in p.get(list).and_then(Value::as_array).into_iter().flatten() {
                            let (h, r) = key_schema(ix.get("KeySchema"));
                            indexes.push((
                                str_at(ix, &["IndexName"]).unwrap_or_default().to_string(),
                                h,
                                r,
                                global,
                                str_at(ix, &["Projection", "ProjectionType"]) == Some("KEYS_ONLY"),
                            ));
                        }
                    }
                    indexes.sort();
                    let ttl = (p
                        .get("TimeToLiveSpecification")
                        .and_then(|t| t.get("Enabled"))
                        .and_then(Value::as_bool)
                        == Some(true))
                    .then(|| {
                        str_at(p, &["TimeToLiveSpecification", "AttributeName"])
                            .unwrap_or_default()
                            .to_string()
                    });
                    wiring.tables.push(DeclaredTable {
                        name: id.trim_end_matches("Table").to_string(),
                        hash,
                        range,
                        indexes,
                        stream: p.get("StreamSpecification").is_some(),
                        ttl,
                    });
                }
                _ => {}
            }
        }
        for id in by_id.keys() {
            match kind(id) {
                "AWS::AppSync::Resolver" => {
                    let p = props(id).ok_or_else(|| err(format!("{id} has no Properties")))?;
                    let field = format!(
                        "{}.{}",
                        str_at(p, &["TypeName"]).unwrap_or_default(),
                        str_at(p, &["FieldName"]).unwrap_or_default()
                    );
                    let source = p
                        .get("DataSourceName")
                        .and_then(target)
                        .ok_or_else(|| err(format!("{id}: no data source")))?;
                    if props(&source).and_then(|d| str_at(d, &["Type"])) == Some("NONE") {
                        wiring.pass_through.insert(field, resolver_code(p));
                        continue;
                    }
                    let function = props(&source)
                        .and_then(|d| d.get("LambdaConfig"))
                        .and_then(|l| l.get("LambdaFunctionArn"))
                        .and_then(target)
                        .ok_or_else(|| err(format!("{source}: not a Lambda data source")))?;
                    let name = crate_of
                        .get(&function)
                        .ok_or_else(|| err(format!("{function}: not a function")))?;
                    wiring.resolver_handlers.insert(
                        field.clone(),
                        (
                            str_at(p, &["Runtime", "Name"])
                                .unwrap_or_default()
                                .to_string(),
                            str_at(p, &["CodeS3Location"])
                                .unwrap_or_default()
                                .to_string(),
                        ),
                    );
                    wiring.resolvers.insert(field, name.clone());
                }
                "AWS::ApiGatewayV2::Route" => {
                    let p = props(id).ok_or_else(|| err(format!("{id} has no Properties")))?;
                    let route = str_at(p, &["RouteKey"]).unwrap_or_default().to_string();
                    let integration = p
                        .get("Target")
                        .and_then(target)
                        .ok_or_else(|| err(format!("{id}: no target")))?;
                    let function = props(&integration)
                        .and_then(|i| i.get("IntegrationUri"))
                        .and_then(intrinsic)
                        .and_then(|(_, uri)| uri.as_str().map(str::to_string))
                        .and_then(|uri| {
                            let start = uri.find("functions/${")? + "functions/${".len();
                            let rest = &uri[start..];
                            Some(rest[..rest.find(['.', '}'])?].to_string())
                        })
                        .ok_or_else(|| err(format!("{integration}: not a Lambda integration")))?;
                    let name = crate_of
                        .get(&function)
                        .ok_or_else(|| err(format!("{function}: not a function")))?;
                    wiring.routes.insert(route, name.clone());
                }
                _ => {}
            }
        }
        wiring.functions.sort();
        wiring.scheduled.sort();
        Ok(wiring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_store::tables::{IndexKind, ALL};
    use serde_json::json;

    #[test]
    fn tags_read_as_cloudformations_long_form_and_scalars_as_yaml_1_2() {
        let doc = template_json(
            "A: !Ref X\nB: !GetAtt X.Arn\nC: !Sub '${X.Arn}/index/*'\n\
             D: !If [Cond, [!Ref Y], !Ref AWS::NoValue]\nE: '128'\nF: 128\nG: yes\nH: true\n\
             I: |\n  line one\n  line two\nJ: {Fn::GetAtt: [Z, Arn]}\n",
        )
        .unwrap();
        assert_eq!(doc["A"], json!({"Ref": "X"}));
        assert_eq!(doc["B"], json!({"Fn::GetAtt": "X.Arn"}));
        assert_eq!(doc["C"], json!({"Fn::Sub": "${X.Arn}/index/*"}));
        assert_eq!(
            doc["D"],
            json!({"Fn::If": ["Cond", [{"Ref": "Y"}], {"Ref": "AWS::NoValue"}]})
        );
        assert_eq!(doc["E"], json!("128"));
        assert_eq!(doc["F"], json!(128));
        // YAML 1.2: `yes` is a string, not a boolean.
        assert_eq!(doc["G"], json!("yes"));
        assert_eq!(doc["H"], json!(true));
        assert_eq!(doc["I"], json!("line one\nline two\n"));
        for (key, id) in [("A", "X"), ("B", "X"), ("C", "X"), ("J", "Z")] {
            assert_eq!(target(&doc[key]).as_deref(), Some(id), "{key}");
        }
        assert!(template_json("A: [unclosed").is_err());
        assert!(template_json("").is_err());
    }

    #[test]
    fn the_template_parses() {
        let w = wiring().unwrap();
        assert_eq!(w.resolvers.len(), 38);
        assert_eq!(
            w.s3_events,
            vec![("process-upload".to_string(), "uploads/".to_string())]
        );
        assert_eq!(w.routes.len(), 7);
        assert_eq!(w.tables.len(), 5);
    }

    /// Local and production tables cannot drift: the template's tables are
    /// exactly the specs the store creates locally.
    #[test]
    fn template_tables_match_the_store_specs() {
        let w = wiring().unwrap();
        let mut declared = w.tables.clone();
        declared.sort_by(|a, b| a.name.cmp(&b.name));
        let mut specs: Vec<DeclaredTable> = ALL
            .iter()
            .map(|s| {
                let mut indexes: Vec<_> = s
                    .indexes
                    .iter()
                    .map(|ix| {
                        (
                            ix.name.to_string(),
                            ix.key.hash.to_string(),
                            ix.key.range.map(str::to_string),
                            ix.kind == IndexKind::Global,
                            ix.keys_only,
                        )
                    })
                    .collect();
                indexes.sort();
                DeclaredTable {
                    name: s.logical.to_string(),
                    hash: s.key.hash.to_string(),
                    range: s.key.range.map(str::to_string),
                    indexes,
                    stream: s.stream,
                    ttl: s.ttl.map(str::to_string),
                }
            })
            .collect();
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(declared, specs);
    }

    /// Every function crate is deployed, and every deployed function has a crate.
    #[test]
    fn every_function_crate_is_wired_and_every_wired_name_has_a_crate() {
        let functions_dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../functions");
        let mut crates: Vec<String> = std::fs::read_dir(&functions_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("src/main.rs").exists())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        crates.sort();
        let w = wiring().unwrap();
        assert_eq!(w.functions, crates);
        // Each is triggered by something.
        for f in &w.functions {
            let triggered = w.resolvers.values().any(|r| r == f)
                || w.routes.values().any(|r| r == f)
                || w.mappings.iter().any(|m| &m.function == f)
                || w.scheduled.contains(f)
                || w.s3_events.iter().any(|(g, _)| g == f);
            assert!(triggered, "{f} is deployed but nothing invokes it");
        }
    }

    /// Every query and mutation field has a resolver, and nothing else does.
    #[test]
    fn every_schema_field_that_needs_a_resolver_has_one() {
        let schema = chat_graphql::schema();
        let mut fields = Vec::new();
        for root in ["Query", "Mutation"] {
            for name in schema.get_object(root).unwrap().fields.keys() {
                fields.push(format!("{root}.{name}"));
            }
        }
        fields.sort();
        let wired: Vec<String> = wiring().unwrap().resolvers.keys().cloned().collect();
        assert_eq!(wired, fields);
    }

    /// The fan-out listens to exactly the streamed tables, and the
    /// notifier to the messages.
    #[test]
    fn streams_trigger_the_fan_out_and_the_notifier() {
        let w = wiring().unwrap();
        let mut streamed: Vec<String> = ALL
            .iter()
            .filter(|s| s.stream)
            .map(|s| s.logical.to_string())
            .collect();
        streamed.sort();
        let mut triggers = w.streams_of("fan-out");
        triggers.sort();
        assert_eq!(triggers, streamed);
        assert_eq!(w.streams_of("notifier"), ["Messages"]);
        assert_eq!(
            w.mappings.len(),
            streamed.len() + 1,
            "no other function reads streams"
        );
        // Every mapping retries until a stated record age, as the local one
        // does; the notifier's gives up after a few retries, so one failing
        // provider does not hold every later push back for an hour.
        for m in &w.mappings {
            assert!(m.max_record_age_secs.is_some(), "{m:?}");
            match m.function.as_str() {
                "fan-out" => assert_eq!(m.max_retry_attempts, None),
                _ => assert!(m.max_retry_attempts.is_some_and(|n| n <= 3), "{m:?}"),
            }
        }
    }

    /// AppSync's own ranges: depth 1–75, resolvers 1–10,000.
    #[test]
    fn the_api_declares_both_cost_limits_within_appsync_ranges() {
        let limits = wiring().unwrap().cost_limits;
        let depth = limits.query_depth.expect("QueryDepthLimit is set");
        let resolvers = limits.resolver_count.expect("ResolverCountLimit is set");
        assert!((1..=75).contains(&depth), "{depth}");
        assert!((1..=10_000).contains(&resolvers), "{resolvers}");
    }

    /// A nested field a function may refuse (the domain's `Nested`) has a
    /// pass-through resolver on AWS that raises the refusal at its path, as
    /// the local projection does.
    #[test]
    fn refusable_nested_fields_have_a_pass_through_resolver() {
        let w = wiring().unwrap();
        let fields: Vec<&String> = w.pass_through.keys().collect();
        assert_eq!(fields, ["User.conversations"]);
        let code = &w.pass_through["User.conversations"];
        let key = chat_graphql::project::FIELD_ERROR_KEY;
        assert!(code.contains(&format!("value.{key}.errorType")), "{code}");
        assert!(code.contains(&format!("value.{key}.errorInfo")), "{code}");
        assert!(code.contains("util.error"), "{code}");
        assert!(code.contains("ctx.source.conversations"), "{code}");
    }

    /// Every Lambda resolver builds its event and reads its answer with
    /// the same handlers, and those carry the gateway's header list and
    /// bound and the functions' error key.
    #[test]
    fn lambda_resolvers_pass_only_the_gateways_headers_and_raise_refusals() {
        let w = wiring().unwrap();
        assert_eq!(w.resolver_handlers.len(), w.resolvers.len());
        for (field, (runtime, code)) in &w.resolver_handlers {
            assert_eq!(runtime, "APPSYNC_JS", "{field}");
            assert_eq!(code, "resolvers/invoke.js", "{field}");
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../resolvers/invoke.js");
        let js = std::fs::read_to_string(path).expect("infra/resolvers/invoke.js");
        let headers: Vec<String> = crate::graphql::EVENT_HEADERS
            .iter()
            .map(|h| format!("'{h}'"))
            .collect();
        assert!(
            js.contains(&format!("const EVENT_HEADERS = [{}];", headers.join(", "))),
            "{js}"
        );
        assert!(js.contains(&format!(
            "const MAX_EVENT_HEADER_BYTES = {};",
            crate::graphql::MAX_EVENT_HEADER_BYTES
        )));
        assert!(js.contains(&format!(
            "const FIELD_ERROR_KEY = '{}';",
            chat_graphql::project::FIELD_ERROR_KEY
        )));
        // errorInfo too: a rate limit's retryAfterSeconds.
        assert!(js.contains(
            "util.error(refused.message, refused.errorType, null, refused.errorInfo || null)"
        ));
    }

    /// Both sides refuse tokens another app client of the pool issued.
    #[test]
    fn tokens_are_bound_to_the_stacks_app_client() {
        let doc = template_json(TEMPLATE).unwrap();
        let resources = &doc["Resources"];
        let regex =
            resources["GraphQLApi"]["Properties"]["UserPoolConfig"]["AppIdClientRegex"].to_string();
        assert!(regex.contains("^${UserPoolClient}$"), "{regex}");
        let verifiers: Vec<&Value> = resources
            .as_object()
            .unwrap()
            .values()
            .filter(|r| !r["Properties"]["Environment"]["Variables"]["COGNITO_ISSUER"].is_null())
            .collect();
        assert!(!verifiers.is_empty());
        for r in verifiers {
            let client =
                r["Properties"]["Environment"]["Variables"]["COGNITO_CLIENT_ID"].to_string();
            assert!(client.contains("UserPoolClient"), "{client}");
        }
    }

    /// The functions that write push what they write, and the stream only
    /// gets rows written outside the API: the template must say both.
    #[test]
    fn the_functions_that_write_may_post_and_the_stream_skips_their_rows() {
        let doc = template_json(TEMPLATE).unwrap();
        let resources = doc["Resources"].as_object().unwrap();
        let code_of = |r: &Value| {
            str_at(r, &["Properties", "CodeUri"])
                .unwrap_or_default()
                .to_string()
        };
        let mut writers = 0;
        for resource in resources.values() {
            let code = code_of(resource);
            let props = &resource["Properties"];
            let text = props.to_string();
            if [
                "create-user",
                "create-convo",
                "create-convo-link",
                "create-message",
                "update-message",
                "delete-message",
                "remove-message",
                "leave-convo",
                "remove-member",
                "promote-member",
                "react",
                "mark-read",
                "typing",
            ]
            .iter()
            .any(|w| code.ends_with(&format!("/{w}")))
            {
                writers += 1;
                assert!(
                    props["Environment"]["Variables"]
                        .get("APIGW_MANAGEMENT_ENDPOINT")
                        .is_some(),
                    "{code} needs the management endpoint"
                );
                assert!(
                    text.contains("execute-api:ManageConnections"),
                    "{code} must be allowed to post"
                );
                assert!(
                    text.contains("ConnectionsTable"),
                    "{code} must read subscribers"
                );
                // A large conversation's posts go to the fan-out, with the
                // threshold the local stack uses.
                let vars = &props["Environment"]["Variables"];
                assert!(
                    vars["RELAY_FUNCTION"]
                        .to_string()
                        .contains("FanOutFunction"),
                    "{code} hands off to the fan-out"
                );
                assert_eq!(
                    vars["RELAY_ABOVE"].as_str(),
                    Some(
                        chat_realtime::relay::DEFAULT_RELAY_ABOVE
                            .to_string()
                            .as_str()
                    ),
                    "{code}"
                );
                assert!(
                    text.contains("lambda:InvokeFunction") && text.contains("FanOutFunction.Arn"),
                    "{code} must be allowed to invoke the fan-out"
                );
            }
            // Whatever posts to subscribers has at least the memory the CPU
            // model chose (the upload processor more, for its images).
            let posts = props["Environment"]["Variables"]
                .get("RELAY_FUNCTION")
                .is_some()
                || code.ends_with("/fan-out");
            if posts {
                let memory = props["MemorySize"].as_u64().unwrap_or(0);
                assert!(
                    memory >= chat_realtime::relay::POSTING_MEMORY_MB,
                    "{code}: {memory} MB"
                );
            }
            if code.ends_with("/fan-out") {
                let events = props["Events"].as_object().unwrap();
                for event in events.values() {
                    let pattern = event["Properties"]["FilterCriteria"].to_string();
                    assert!(
                        pattern.contains("pushUntil") && pattern.contains("exists"),
                        "{pattern}"
                    );
                }
            }
        }
        assert_eq!(writers, 13);
    }

    /// The connection routes and the sweeper agree on when a silent
    /// connection is pinged and closed, and the local stack uses the same.
    #[test]
    fn liveness_is_the_same_everywhere() {
        let template = template_json(TEMPLATE).unwrap();
        let default = chat_realtime::liveness::Liveness::default();
        for name in ["WsConnectionFunction", "ConnectionSweeperFunction"] {
            let vars = &template["Resources"][name]["Properties"]["Environment"]["Variables"];
            assert_eq!(
                vars["LIVENESS_PROBE_SECS"].as_str(),
                Some(default.probe.as_secs().to_string().as_str()),
                "{name}"
            );
            assert_eq!(
                vars["LIVENESS_LIMIT_SECS"].as_str(),
                Some(default.limit.as_secs().to_string().as_str()),
                "{name}"
            );
        }
    }

    /// The functions that take a message's words are the ones that filter
    /// them, from the stack's parameters, whose actions the code reads.
    #[test]
    fn the_message_functions_filter_with_the_stacks_list() {
        let template = template_json(TEMPLATE).unwrap();
        let resources = template["Resources"].as_object().unwrap();
        let mut filtering: Vec<String> = resources
            .iter()
            .filter(|(_, r)| {
                !r["Properties"]["Environment"]["Variables"]["CONTENT_FILTER"].is_null()
            })
            .map(|(name, r)| {
                let vars = &r["Properties"]["Environment"]["Variables"];
                assert_eq!(vars["CONTENT_FILTER"], json!({"Ref": "ContentFilter"}));
                assert_eq!(
                    vars["CONTENT_FILTER_ACTION"],
                    json!({"Ref": "ContentFilterAction"})
                );
                name.to_string()
            })
            .collect();
        filtering.sort();
        assert_eq!(
            filtering,
            ["CreateMessageFunction", "UpdateMessageFunction"]
        );
        let parameter = &template["Parameters"]["ContentFilterAction"];
        for action in parameter["AllowedValues"].as_array().unwrap() {
            let parsed: Result<chat_domain::filter::FilterAction, _> =
                action.as_str().unwrap().parse();
            assert!(parsed.is_ok(), "{action:?}");
        }
        assert_eq!(
            parameter["Default"]
                .as_str()
                .unwrap()
                .parse::<chat_domain::filter::FilterAction>(),
            Ok(chat_domain::filter::FilterAction::default())
        );
        // The stack's own list, as `make dev` reads it, is a list the code takes.
        let list = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../content-filter.txt"
        ))
        .unwrap();
        let filter = chat_domain::filter::ContentFilter::parse(&list, Default::default()).unwrap();
        assert!(!filter.is_empty());
        let joined: String = list
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join(",");
        assert!(
            joined.len() <= parameter_max(&template, "ContentFilter"),
            "the list fits the parameter"
        );
    }

    /// A flood from one address is stopped in front of the API, by a WAF
    /// rate-based rule on it.
    #[test]
    fn the_api_has_a_per_ip_rate_rule_in_front() {
        let template = template_json(TEMPLATE).unwrap();
        let resources = &template["Resources"];
        let association = &resources["GraphQLWebAclAssociation"]["Properties"];
        assert_eq!(
            association["ResourceArn"],
            json!({"Fn::GetAtt": "GraphQLApi.Arn"})
        );
        assert_eq!(
            association["WebACLArn"],
            json!({"Fn::GetAtt": "GraphQLWebAcl.Arn"})
        );
        let rule = &resources["GraphQLWebAcl"]["Properties"]["Rules"][0];
        let statement = &rule["Statement"]["RateBasedStatement"];
        assert_eq!(statement["AggregateKeyType"].as_str(), Some("IP"));
        assert_eq!(
            statement["Limit"],
            json!({"Ref": "RequestsPerIpPer5Minutes"})
        );
        assert_eq!(
            rule["Action"]["Block"]["CustomResponse"]["ResponseCode"].as_u64(),
            Some(429)
        );
    }

    /// The functions whose requests are rate-limited may write the count
    /// (an UpdateItem of the Conversations table, `chat_store`'s rates).
    #[test]
    fn the_rate_limited_functions_may_count() {
        let template = template_json(TEMPLATE).unwrap();
        let resources = template["Resources"].as_object().unwrap();
        for name in [
            "create-message",
            "create-convo",
            "create-convo-link",
            "report-message",
            "report-user",
        ] {
            let function = resources
                .values()
                .find(|r| {
                    str_at(r, &["Properties", "CodeUri"])
                        .is_some_and(|c| c.ends_with(&format!("/{name}")))
                })
                .unwrap_or_else(|| panic!("{name} is in the template"));
            let statements: Vec<&Value> = function["Properties"]["Policies"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["Statement"].as_array())
                .flatten()
                .collect();
            let may = statements.iter().any(|st| {
                st["Action"].to_string().contains("dynamodb:UpdateItem")
                    && st["Resource"]
                        .to_string()
                        .contains("ConversationsTable.Arn")
            });
            assert!(may, "{name} may UpdateItem the Conversations table");
        }
    }

    /// What an operator needs from the template: tables that survive
    /// `sam delete` and can be restored to any second of the last 35 days,
    /// logs that are kept for a stated time, and traces.
    #[test]
    fn tables_are_retained_and_recoverable_and_logs_and_traces_are_on() {
        let template = template_json(TEMPLATE).unwrap();
        let resources = template["Resources"].as_object().unwrap();
        let tables: Vec<&Value> = resources
            .values()
            .filter(|r| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
            .collect();
        assert_eq!(tables.len(), ALL.len());
        for table in tables {
            assert_eq!(table["DeletionPolicy"].as_str(), Some("Retain"));
            assert_eq!(table["UpdateReplacePolicy"].as_str(), Some("Retain"));
            assert_eq!(
                table["Properties"]["PointInTimeRecoverySpecification"]
                    ["PointInTimeRecoveryEnabled"]
                    .as_bool(),
                Some(true)
            );
        }
        let globals = &template["Globals"]["Function"];
        assert_eq!(globals["Tracing"].as_str(), Some("Active"));
        assert_eq!(
            globals["LoggingConfig"]["LogGroup"],
            json!({"Ref": "FunctionLogs"})
        );
        for (name, r) in resources {
            let props = &r["Properties"];
            assert!(
                props.get("LoggingConfig").is_none(),
                "{name:?} logs to the shared group"
            );
        }
        // The WebSocket stage's access log, through the account's logging role.
        let stage = &template["Resources"]["WebSocketStage"];
        assert_eq!(
            stage["Properties"]["AccessLogSettings"]["DestinationArn"],
            json!({"Fn::GetAtt": "WebSocketAccessLogs.Arn"})
        );
        let format = stage["Properties"]["AccessLogSettings"]["Format"]
            .as_str()
            .unwrap();
        let fields: Value = serde_json::from_str(format).expect("the access log is JSON");
        for field in [
            "connectionId",
            "routeKey",
            "status",
            "integrationLatency",
            "error",
        ] {
            assert!(fields.get(field).is_some(), "{field} is logged");
        }
        assert_eq!(stage["DependsOn"], json!("ApiGatewayAccount"));
        assert_eq!(
            template["Resources"]["ApiGatewayAccount"]["Properties"]["CloudWatchRoleArn"],
            json!({"Fn::GetAtt": "ApiGatewayLogsRole.Arn"})
        );
        for group in ["FunctionLogs", "AppSyncLogs", "WebSocketAccessLogs"] {
            assert_eq!(
                template["Resources"][group]["Properties"]["RetentionInDays"],
                json!({"Ref": "LogRetentionDays"})
            );
        }
        let api = &template["Resources"]["GraphQLApi"]["Properties"];
        assert_eq!(api["XrayEnabled"].as_bool(), Some(true));
        assert_eq!(api["LogConfig"]["FieldLogLevel"].as_str(), Some("ERROR"));
        assert_eq!(
            api["LogConfig"]["ExcludeVerboseContent"].as_bool(),
            Some(true)
        );
    }

    /// What goes wrong unseen otherwise raises an alarm, sent to the
    /// deployer's topic: every failure queue's depth, the API's 5xx,
    /// functions' errors and throttles, and every table's throttling.
    #[test]
    fn failures_raise_alarms_to_the_deployers_topic() {
        let template = template_json(TEMPLATE).unwrap();
        let resources = template["Resources"].as_object().unwrap();
        let alarms: Vec<(&str, &Value)> = resources
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
            .map(|(name, r)| (name.as_str(), &r["Properties"]))
            .collect();
        for (name, alarm) in &alarms {
            assert_eq!(
                alarm["AlarmActions"],
                json!({"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}),
                "{name}"
            );
        }
        let text = |v: &Value| v.to_string();
        // Every queue that collects what was given up on is watched.
        for (queue, r) in resources {
            if r["Type"].as_str() != Some("AWS::SQS::Queue") {
                continue;
            }
            let queue = queue.as_str();
            assert!(
                alarms.iter().any(|(_, a)| {
                    a["MetricName"].as_str() == Some("ApproximateNumberOfMessagesVisible")
                        && text(&a["Dimensions"]).contains(&format!("{queue}.QueueName"))
                }),
                "{queue} has an alarm on its depth"
            );
        }
        let metric = |namespace: &str, name: &str| {
            alarms.iter().any(|(_, a)| {
                a["Namespace"].as_str() == Some(namespace) && a["MetricName"].as_str() == Some(name)
            })
        };
        assert!(metric("AWS/AppSync", "5XXError"));
        assert!(metric("AWS/Lambda", "Errors"));
        assert!(metric("AWS/Lambda", "Throttles"));
        // Both kinds of throttling of every table, in one sum.
        let throttles = alarms
            .iter()
            .find(|(name, _)| *name == "TableThrottlesAlarm")
            .expect("a table throttling alarm")
            .1;
        let all = text(&throttles["Metrics"]);
        for table in ALL {
            for kind in ["ReadThrottleEvents", "WriteThrottleEvents"] {
                assert!(
                    all.contains(&format!(r#"{{"Ref":"{}Table"}}"#, table.logical)),
                    "{} is watched",
                    table.logical
                );
                assert!(all.contains(kind));
            }
        }
    }

    /// The page-token secret is made by Secrets Manager, never a parameter
    /// or a variable's value, and exactly the functions whose code builds
    /// the chat service (which signs and opens page tokens) may read it.
    #[test]
    fn the_page_token_secret_is_generated_and_read_by_the_functions_that_sign_tokens() {
        let template = template_json(TEMPLATE).unwrap();
        assert!(template["Parameters"].get("PageTokenSecret").is_none());
        let resources = template["Resources"].as_object().unwrap();
        let secret = &resources["PageTokenSecret"];
        assert_eq!(secret["Type"], json!("AWS::SecretsManager::Secret"));
        let generated = &secret["Properties"]["GenerateSecretString"];
        assert!(generated["PasswordLength"].as_u64().unwrap() >= 32);
        let statement =
            &resources["PageTokenSecretReadPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
        assert_eq!(statement["Action"], json!("secretsmanager:GetSecretValue"));
        assert_eq!(statement["Resource"], json!({"Ref": "PageTokenSecret"}));
        let mut readers = 0;
        for (name, r) in resources {
            if r["Type"] != json!("AWS::Serverless::Function") {
                continue;
            }
            let props = &r["Properties"];
            let vars = &props["Environment"]["Variables"];
            assert!(vars.get("PAGE_TOKEN_SECRET").is_none(), "{name}");
            let code = props["CodeUri"].as_str().unwrap();
            // CodeUri is relative to infra/, this crate's parent.
            let main = std::fs::read_to_string(format!(
                "{}/../{code}/src/main.rs",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let signs = main.contains("service_from_env") || main.contains("writer_service(");
            let reads = !vars["PAGE_TOKEN_SECRET_ARN"].is_null();
            assert_eq!(reads, signs, "{name} ({code})");
            if reads {
                readers += 1;
                assert_eq!(
                    vars["PAGE_TOKEN_SECRET_ARN"],
                    json!({"Ref": "PageTokenSecret"})
                );
                assert!(
                    props["Policies"]
                        .as_array()
                        .unwrap()
                        .contains(&json!({"Ref": "PageTokenSecretReadPolicy"})),
                    "{name} may read the secret"
                );
            }
        }
        assert!(readers > 30, "{readers}");
    }

    /// `make deploy` deploys what `make build` built by pointing each
    /// function's CodeUri from `../functions/<crate>` to
    /// `../target/lambda/<crate>`: that holds only if every function's code is
    /// a function crate with a binary (what `make build` builds).
    #[test]
    fn every_function_is_a_crate_make_build_builds() {
        let template = template_json(TEMPLATE).unwrap();
        let mut functions = 0;
        for (name, r) in template["Resources"].as_object().unwrap() {
            if r["Type"] != json!("AWS::Serverless::Function") {
                continue;
            }
            functions += 1;
            let code = r["Properties"]["CodeUri"].as_str().unwrap();
            let krate = code
                .strip_prefix("../functions/")
                .unwrap_or_else(|| panic!("{name}: {code} is not ../functions/<crate>"));
            assert!(!krate.contains('/'), "{name}: {code}");
            let main = format!(
                "{}/../../functions/{krate}/src/main.rs",
                env!("CARGO_MANIFEST_DIR")
            );
            assert!(std::path::Path::new(&main).exists(), "{name}: no {main}");
            assert_eq!(
                r["Metadata"]["BuildMethod"],
                json!("rust-cargolambda"),
                "{name}: sam build builds it the same way"
            );
        }
        assert!(functions > 40, "{functions}");
    }

    /// README's API table names every query, mutation and subscription the
    /// schema has, so a newcomer sees all of them on one screen.
    #[test]
    fn the_readme_lists_every_operation() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let schema = std::fs::read_to_string(format!("{root}/schema/schema.graphql")).unwrap();
        let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
        let api = &readme[readme.find("## The API").expect("an API section")..];
        // Descriptions (between triple quotes) and comments are not fields.
        let code: String = schema
            .split(r#"""""#)
            .step_by(2)
            .collect::<Vec<_>>()
            .join("");
        let mut operations = 0;
        for root_type in ["Query", "Mutation", "Subscription"] {
            let start = code.find(&format!("type {root_type} ")).unwrap();
            let body = &code[start..];
            let body = &body[body.find('{').unwrap() + 1..body.find("\n}").unwrap()];
            for line in body.lines() {
                let line = line.split('#').next().unwrap();
                let Some(field) = line.strip_prefix("  ") else {
                    continue;
                };
                if field.starts_with(' ') {
                    continue;
                }
                let name: String = field
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name.is_empty() {
                    continue;
                }
                operations += 1;
                assert!(
                    api.contains(&format!("`{name}`")),
                    "README's API table does not name {root_type}.{name}"
                );
            }
        }
        assert!(operations > 40, "{operations}");
    }

    /// The dashboard reads what the functions write: each metric of
    /// `chat_realtime::metrics`' records, in its namespace, by the one
    /// dimension the records carry.
    #[test]
    fn the_dashboard_shows_the_metrics_the_functions_emit() {
        use chat_realtime::fanout::Delivery;
        use chat_realtime::metrics::{record, NAMESPACE};
        let template = template_json(TEMPLATE).unwrap();
        let body = template["Resources"]["DeliveryDashboard"]["Properties"]["DashboardBody"]
            ["Fn::Sub"]
            .as_str()
            .expect("a !Sub body");
        // The substitutions, as CloudFormation would make them.
        let body = body
            .replace("${AWS::Region}", "us-east-1")
            .replace("${GraphQLApi.ApiId}", "api");
        assert!(!body.contains("${"), "every substitution is known: {body}");
        let dashboard: Value = serde_json::from_str(&body).expect("the body is JSON");
        let metrics: Vec<&Value> = dashboard["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|w| w["properties"]["metrics"].as_array().unwrap())
            .collect();
        let expressions: Vec<&str> = metrics
            .iter()
            .filter_map(|m| m[0]["expression"].as_str())
            .collect();
        let emitted = record("f", &Delivery::default(), Default::default(), 0);
        let directive = &emitted["_aws"]["CloudWatchMetrics"][0];
        let dimensions: Vec<&str> = directive["Dimensions"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        let search = format!("{{{NAMESPACE},{}}}", dimensions.join(","));
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            let wanted = format!(r#"SEARCH('{search} MetricName="{name}"'"#);
            assert!(
                expressions.iter().any(|e| e.contains(&wanted)),
                "the dashboard shows {name}: {expressions:?}"
            );
        }
        let text = dashboard.to_string();
        assert!(text.contains("5XXError"));
    }

    fn parameter_max(template: &Value, name: &str) -> usize {
        template["Parameters"][name]["MaxLength"].as_u64().unwrap() as usize
    }
}
