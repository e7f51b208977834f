//! Each function's policy, read from infra/template.yaml: the statements of
//! its `Policies` (inline documents, and the `AWS::IAM::ManagedPolicy`
//! resources it names by `!Ref`), with `!Ref`, `!GetAtt` and `!Sub` resolved
//! to the local stack's ARNs. What cannot be resolved, or a policy form this
//! reader does not know (a SAM policy template, an AWS managed policy), is
//! an error at start-up.

use std::collections::BTreeMap;

use serde_json::Value;

use super::policy::{Policy, PolicyError, Statement};

/// The names the local stack gives what the template declares.
#[derive(Debug, Clone)]
pub struct Locals {
    pub region: String,
    pub account: String,
    pub stack: String,
    /// Prefixed to every table name.
    pub table_prefix: String,
    /// The WebSocket API's id.
    pub websocket_api: String,
}

impl Locals {
    pub fn new(table_prefix: &str) -> Locals {
        Locals {
            region: crate::sigv4::LOCAL_REGION.into(),
            account: super::LOCAL_ACCOUNT.into(),
            stack: "chat".into(),
            table_prefix: table_prefix.into(),
            websocket_api: "local".into(),
        }
    }
}

fn bad(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

struct Resolver<'t> {
    template: &'t Value,
    locals: &'t Locals,
}

impl Resolver<'_> {
    fn resource(&self, id: &str) -> Result<&Value, PolicyError> {
        let r = &self.template["Resources"][id];
        if r.is_null() {
            return Err(bad(format!("{id} is not a resource of the template")));
        }
        Ok(r)
    }

    fn arn(&self, service: &str, rest: &str) -> String {
        let Locals {
            region, account, ..
        } = self.locals;
        format!("arn:aws:{service}:{region}:{account}:{rest}")
    }

    fn reference(&self, id: &str) -> Result<String, PolicyError> {
        let l = self.locals;
        match id {
            "AWS::Region" => return Ok(l.region.clone()),
            "AWS::AccountId" => return Ok(l.account.clone()),
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::StackName" => return Ok(l.stack.clone()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            _ => {}
        }
        if let Some(parameter) = self.template["Parameters"].get(id) {
            return parameter["Default"]
                .as_str()
                .map(str::to_string)
                .or_else(|| parameter["Default"].as_i64().map(|n| n.to_string()))
                .ok_or_else(|| bad(format!("parameter {id} has no default")));
        }
        let r = self.resource(id)?;
        match r["Type"].as_str().unwrap_or_default() {
            "AWS::DynamoDB::Table" => Ok(self.table(id)),
            "AWS::Serverless::Function" => self.function(id, r),
            "AWS::SecretsManager::Secret" => {
                Ok(self.arn("secretsmanager", &format!("secret:{id}")))
            }
            "AWS::ApiGatewayV2::Api" => Ok(l.websocket_api.clone()),
            // Its `BucketName`, else the name CloudFormation would make.
            "AWS::S3::Bucket" => match r["Properties"].get("BucketName") {
                Some(name) => self
                    .resolve(name)?
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad(format!("{id}'s BucketName is not a string"))),
                None => Ok(format!("{}-{}", l.stack, id.to_lowercase())),
            },
            other => Err(bad(format!("!Ref {id} ({other}) has no local value"))),
        }
    }

    fn table(&self, id: &str) -> String {
        let name = id.strip_suffix("Table").unwrap_or(id);
        format!("{}{name}", self.locals.table_prefix)
    }

    /// The resources of type `kind`, by logical id.
    fn of_type<'s>(
        &'s self,
        kind: &'s str,
    ) -> Result<impl Iterator<Item = (&'s String, &'s Value)>, PolicyError> {
        let Some(resources) = self.template["Resources"].as_object() else {
            return Err(bad("the template has no Resources"));
        };
        Ok(resources.iter().filter(move |(_, r)| r["Type"] == kind))
    }

    /// Each function resource: its logical id, itself, and its crate.
    fn functions(&self) -> Result<Vec<(&str, &Value, String)>, PolicyError> {
        self.of_type("AWS::Serverless::Function")?
            .map(|(id, r)| Ok((id.as_str(), r, self.function(id, r)?)))
            .collect()
    }

    fn function(&self, id: &str, r: &Value) -> Result<String, PolicyError> {
        r["Properties"]["CodeUri"]
            .as_str()
            .and_then(|c| c.strip_prefix("../functions/"))
            .map(str::to_string)
            .ok_or_else(|| bad(format!("{id} has no ../functions/<crate> CodeUri")))
    }

    fn attribute(&self, id: &str, attribute: &str) -> Result<String, PolicyError> {
        let r = self.resource(id)?;
        let kind = r["Type"].as_str().unwrap_or_default();
        match (kind, attribute) {
            ("AWS::DynamoDB::Table", "Arn") => {
                Ok(self.arn("dynamodb", &format!("table/{}", self.table(id))))
            }
            ("AWS::DynamoDB::Table", "StreamArn") => Ok(self.arn(
                "dynamodb",
                &format!("table/{}/stream/local", self.table(id)),
            )),
            ("AWS::Serverless::Function", "Arn") => {
                Ok(self.arn("lambda", &format!("function:{}", self.function(id, r)?)))
            }
            ("AWS::SQS::Queue", "Arn") => Ok(self.arn("sqs", id)),
            ("AWS::S3::Bucket", "Arn") => Ok(format!("arn:aws:s3:::{}", self.reference(id)?)),
            _ => Err(bad(format!(
                "!GetAtt {id}.{attribute} ({kind}) has no local value"
            ))),
        }
    }

    fn sub(&self, text: &str) -> Result<String, PolicyError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| bad(format!("!Sub {text}: an unclosed ${{")))?;
            let name = &rest[start + 2..start + end];
            out.push_str(&match name.split_once('.') {
                Some((id, attribute)) if !name.starts_with("AWS::") => {
                    self.attribute(id, attribute)?
                }
                _ => self.reference(name)?,
            });
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `value` with every intrinsic replaced by its local string.
    fn resolve(&self, value: &Value) -> Result<Value, PolicyError> {
        Ok(match value {
            Value::Object(map) if map.len() == 1 => {
                let (key, inner) = map.iter().next().expect("one entry");
                match key.as_str() {
                    "Ref" => Value::String(self.reference(inner.as_str().unwrap_or_default())?),
                    "Fn::GetAtt" => {
                        let (id, attribute) = match inner {
                            Value::String(s) => s.split_once('.').unwrap_or((s, "")),
                            Value::Array(parts) => (
                                parts[0].as_str().unwrap_or_default(),
                                parts.get(1).and_then(Value::as_str).unwrap_or_default(),
                            ),
                            _ => ("", ""),
                        };
                        Value::String(self.attribute(id, attribute)?)
                    }
                    "Fn::Sub" => match inner {
                        Value::String(s) => Value::String(self.sub(s)?),
                        _ => {
                            return Err(bad(format!(
                                "!Sub with variables is not read locally: {inner}"
                            )))
                        }
                    },
                    k if k.starts_with("Fn::") => {
                        return Err(bad(format!("{k} is not resolved locally")))
                    }
                    _ => Value::Object(
                        map.iter()
                            .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
                            .collect::<Result<_, PolicyError>>()?,
                    ),
                }
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
                    .collect::<Result<_, PolicyError>>()?,
            ),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.resolve(v))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }

    /// The statements of one entry of a function's `Policies`.
    fn policy_entry(&self, function: &str, entry: &Value) -> Result<Vec<Statement>, PolicyError> {
        let (document, source) = if let Some(id) = entry["Ref"].as_str() {
            let r = self.resource(id)?;
            if r["Type"] != "AWS::IAM::ManagedPolicy" {
                return Err(bad(format!(
                    "{function}: !Ref {id} is not an AWS::IAM::ManagedPolicy"
                )));
            }
            (
                &r["Properties"]["PolicyDocument"],
                format!("{function} ({id})"),
            )
        } else if entry.get("Statement").is_some() {
            (entry, function.to_string())
        } else if let Some(document) = entry.get("PolicyDocument") {
            let name = entry["PolicyName"].as_str().unwrap_or("inline");
            (document, format!("{function} ({name})"))
        } else {
            return Err(bad(format!(
                "{function}: the policy {entry} is not enforced locally (a SAM policy template or a managed policy's name); write its statements"
            )));
        };
        let document = self
            .resolve(document)
            .map_err(|e| bad(format!("{source}: {}", e.0)))?;
        let statements = match &document["Statement"] {
            Value::Array(items) => items.clone(),
            single @ Value::Object(_) => vec![single.clone()],
            other => return Err(bad(format!("{source}: Statement {other}"))),
        };
        statements
            .iter()
            .map(|s| Statement::parse(s, &source))
            .collect()
    }
}

/// What `!Ref` gives for each resource of `kind` (e.g. a secret's ARN, a
/// bucket's name), by logical id.
pub fn references(
    template: &Value,
    locals: &Locals,
    kind: &str,
) -> Result<BTreeMap<String, String>, PolicyError> {
    let resolver = Resolver { template, locals };
    let found = resolver
        .of_type(kind)?
        .map(|(id, _)| Ok((id.clone(), resolver.reference(id)?)))
        .collect();
    found
}

/// What an event source mapping does with its function's role, by crate:
/// per DynamoDB stream event, the four stream actions on the stream, and
/// `sqs:SendMessage` (or `sns:Publish`) on its on-failure destination.
/// Lambda checks these when the mapping is created ("Process DynamoDB
/// records with Lambda" and "Retaining records from a stream event
/// source", Lambda Developer Guide), so a role without them fails the
/// deployment.
pub fn mapping_requests(
    template: &Value,
    locals: &Locals,
) -> Result<Vec<(String, String, String)>, PolicyError> {
    let resolver = Resolver { template, locals };
    let mut out = Vec::new();
    for (id, r, krate) in resolver.functions()? {
        for (event, e) in r["Properties"]["Events"].as_object().into_iter().flatten() {
            if e["Type"] != "DynamoDB" {
                continue;
            }
            let properties = &e["Properties"];
            let stream = resolver.resolve(&properties["Stream"])?;
            let stream = stream
                .as_str()
                .ok_or_else(|| bad(format!("{id}.{event}: Stream is not an ARN")))?;
            for action in [
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
            ] {
                out.push((krate.clone(), action.into(), stream.into()));
            }
            let on_failure = &properties["DestinationConfig"]["OnFailure"];
            if on_failure.is_null() {
                continue;
            }
            let destination = resolver.resolve(&on_failure["Destination"])?;
            let destination = destination
                .as_str()
                .ok_or_else(|| bad(format!("{id}.{event}: Destination is not an ARN")))?;
            let action = match on_failure["Type"].as_str() {
                Some("SNS") => "sns:Publish",
                _ => "sqs:SendMessage",
            };
            out.push((krate.clone(), action.into(), destination.into()));
        }
    }
    Ok(out)
}

/// Each function crate's policy, by crate name.
pub fn function_policies(
    template: &Value,
    locals: &Locals,
) -> Result<BTreeMap<String, Policy>, PolicyError> {
    let resolver = Resolver { template, locals };
    let mut out = BTreeMap::new();
    for (id, r, krate) in resolver.functions()? {
        let mut policy = Policy::default();
        for entry in r["Properties"]["Policies"].as_array().into_iter().flatten() {
            policy.statements.extend(resolver.policy_entry(id, entry)?);
        }
        out.insert(krate, policy);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::policy::{Decision, Request};
    use serde_json::json;

    fn locals() -> Locals {
        Locals::new("t-")
    }

    fn asks(action: &str, resource: &str) -> Request {
        Request {
            action: action.into(),
            resource: resource.into(),
            context: Default::default(),
        }
    }

    #[test]
    fn intrinsics_resolve_to_the_local_stacks_arns() {
        let template = json!({
            "Parameters": {"StageName": {"Type": "String", "Default": "prod"}},
            "Resources": {
                "UsersTable": {"Type": "AWS::DynamoDB::Table"},
                "Api": {"Type": "AWS::ApiGatewayV2::Api"},
                "Shared": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {
                    "Statement": [{"Effect": "Allow", "Action": "dynamodb:Query", "Resource": {"Fn::Sub": "${UsersTable.Arn}/index/*"}}]
                }}},
                "AFunction": {"Type": "AWS::Serverless::Function", "Properties": {
                    "CodeUri": "../functions/a",
                    "Policies": [
                        {"Ref": "Shared"},
                        {"Version": "2012-10-17", "Statement": [
                            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Fn::GetAtt": "UsersTable.Arn"}},
                            {"Effect": "Allow", "Action": "execute-api:ManageConnections",
                             "Resource": {"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/${StageName}/POST/@connections/*"}},
                            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Fn::GetAtt": ["AFunction", "Arn"]}},
                        ]},
                    ],
                }},
            },
        });
        let policies = function_policies(&template, &locals()).unwrap();
        let a = &policies["a"];
        let table = "arn:aws:dynamodb:us-east-1:000000000000:table/t-Users";
        assert_eq!(a.decide(&asks("dynamodb:GetItem", table)), Decision::Allow);
        assert_eq!(
            a.decide(&asks("dynamodb:Query", &format!("{table}/index/byName"))),
            Decision::Allow
        );
        assert_eq!(
            a.decide(&asks("dynamodb:Query", table)),
            Decision::ImplicitDeny
        );
        assert_eq!(
            a.decide(&asks(
                "execute-api:ManageConnections",
                "arn:aws:execute-api:us-east-1:000000000000:local/prod/POST/@connections/abc="
            )),
            Decision::Allow
        );
        assert_eq!(
            a.decide(&asks(
                "lambda:InvokeFunction",
                "arn:aws:lambda:us-east-1:000000000000:function:a"
            )),
            Decision::Allow
        );
    }

    #[test]
    fn a_bucket_is_named_by_its_bucket_name_and_a_secret_by_its_arn() {
        let template = crate::wiring::template_json(crate::wiring::TEMPLATE).unwrap();
        let buckets = references(&template, &locals(), "AWS::S3::Bucket").unwrap();
        assert_eq!(
            buckets["MediaBucket"], "chat-media-000000000000-us-east-1",
            "the template's `${{AWS::StackName}}-media-${{AWS::AccountId}}-${{AWS::Region}}`"
        );
        let secrets = references(&template, &locals(), "AWS::SecretsManager::Secret").unwrap();
        assert_eq!(
            secrets["PageTokenSecret"],
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:PageTokenSecret"
        );
        assert!(secrets.contains_key("PushCredentials"));
    }

    #[test]
    fn what_has_no_local_meaning_is_an_error_naming_it() {
        for (policies, says) in [
            (
                json!(["arn:aws:iam::aws:policy/AdministratorAccess"]),
                "not enforced locally",
            ),
            (
                json!([{"DynamoDBCrudPolicy": {"TableName": "x"}}]),
                "SAM policy template",
            ),
            (
                json!([{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": {"Fn::GetAtt": "Nope.Arn"}}]}]),
                "Nope",
            ),
            (
                json!([{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": {"Fn::ImportValue": "x"}}]}]),
                "Fn::ImportValue",
            ),
        ] {
            let template = json!({"Resources": {"F": {"Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "../functions/f", "Policies": policies}}}});
            let err = function_policies(&template, &locals()).unwrap_err();
            assert!(err.0.contains(says), "{err}");
        }
    }

    /// Every function in infra/template.yaml has a policy the stack enforces.
    #[test]
    fn every_functions_policy_in_the_template_is_read() {
        let template = crate::wiring::template_json(crate::wiring::TEMPLATE).unwrap();
        let policies = function_policies(&template, &Locals::new("")).unwrap();
        let wiring = crate::wiring::wiring().unwrap();
        for function in &wiring.functions {
            let policy = policies
                .get(function)
                .unwrap_or_else(|| panic!("{function} has a policy"));
            assert!(
                !policy.statements.is_empty(),
                "{function} is granted something"
            );
        }
    }
}
