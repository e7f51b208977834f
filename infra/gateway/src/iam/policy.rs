//! Identity-based policy evaluation, as IAM evaluates it for one principal
//! with no boundaries, session policies or SCPs ("Policy evaluation logic",
//! IAM User Guide): an explicit `Deny` in any matching statement wins; else
//! an `Allow` in any matching statement allows; else the request is denied
//! implicitly.
//!
//! A statement matches when its `Action` (or `NotAction`), its `Resource`
//! (or `NotResource`) and every condition match. Actions compare without
//! regard to case; resources with it. `*` matches any run of characters and
//! `?` any one, in both ("IAM JSON policy elements: Action / Resource").
//!
//! Conditions: the operators are `StringEquals`, `StringNotEquals`,
//! `StringLike` and `StringNotLike`, alone or under `ForAllValues:` or
//! `ForAnyValue:` ("Single-valued vs. multivalued context keys"). The keys
//! are those a [`Request`] carries: `dynamodb:LeadingKeys` (multivalued,
//! so only with a set operator) and `aws:RequestedRegion`. Anything else is
//! refused when the policy is read, so the stack never guesses what IAM
//! would decide.

use std::collections::BTreeMap;

use serde_json::Value;

/// What a statement does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// The outcome for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No statement allows it.
    ImplicitDeny,
    /// A statement denies it.
    ExplicitDeny,
}

/// A policy that cannot be enforced as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn bad(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

/// A condition key's values in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextValue {
    One(String),
    Many(Vec<String>),
}

/// What one request asks: an action on a resource, with its context keys
/// (a key absent from `context` is absent from the request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<&'static str, ContextValue>,
}

/// The context keys a condition may name, and whether each is multivalued.
const KEYS: [(&str, bool); 2] = [
    ("dynamodb:leadingkeys", true),
    ("aws:requestedregion", false),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Single,
    ForAll,
    ForAny,
}

#[derive(Debug, Clone)]
struct Condition {
    set: SetOp,
    like: bool,
    negated: bool,
    /// The key as the request context names it.
    key: &'static str,
    values: Vec<String>,
}

impl Condition {
    fn value_matches(&self, value: &str) -> bool {
        let hit = self.values.iter().any(|v| {
            if self.like {
                wildcard(v.as_bytes(), value.as_bytes(), false)
            } else {
                v == value
            }
        });
        hit != self.negated
    }

    fn holds(&self, context: &BTreeMap<&'static str, ContextValue>) -> bool {
        let values: Vec<&str> = match context.get(self.key) {
            Some(ContextValue::One(v)) => vec![v.as_str()],
            Some(ContextValue::Many(vs)) => vs.iter().map(String::as_str).collect(),
            None => Vec::new(),
        };
        match self.set {
            // "If the key is not present in the request context, the values
            // do not match": false, and true for a negated operator.
            SetOp::Single => match values.first() {
                Some(v) => self.value_matches(v),
                None => self.negated,
            },
            // Every value matches: true for none at all (IAM's documented
            // pitfall: a request without the key passes).
            SetOp::ForAll => values.iter().all(|v| self.value_matches(v)),
            SetOp::ForAny => values.iter().any(|v| self.value_matches(v)),
        }
    }
}

/// One statement of an identity-based policy.
#[derive(Debug, Clone)]
pub struct Statement {
    pub effect: Effect,
    /// `NotAction` when true.
    not_action: bool,
    actions: Vec<String>,
    not_resource: bool,
    resources: Vec<String>,
    conditions: Vec<Condition>,
    /// Where it came from, for the log.
    pub source: String,
}

fn strings(value: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad(format!("{what}: {v} is not a string")))
            })
            .collect(),
        other => Err(bad(format!("{what}: {other} is not a string or a list"))),
    }
}

fn condition_key(key: &str) -> Result<(&'static str, bool), PolicyError> {
    let lower = key.to_ascii_lowercase();
    KEYS.iter()
        .find(|(k, _)| *k == lower)
        .map(|&(k, many)| (k, many))
        .ok_or_else(|| {
            bad(format!(
                "condition key {key} is not enforced locally (supported: dynamodb:LeadingKeys, aws:RequestedRegion)"
            ))
        })
}

fn conditions(value: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Some(operators) = value.as_object() else {
        return Err(bad(format!("Condition: {value} is not an object")));
    };
    let mut out = Vec::new();
    for (operator, keys) in operators {
        let (set, op) = match operator.split_once(':') {
            Some(("ForAllValues", op)) => (SetOp::ForAll, op),
            Some(("ForAnyValue", op)) => (SetOp::ForAny, op),
            None => (SetOp::Single, operator.as_str()),
            Some(_) => {
                return Err(bad(format!(
                    "condition operator {operator} is not enforced locally"
                )))
            }
        };
        let (like, negated) = match op {
            "StringEquals" => (false, false),
            "StringNotEquals" => (false, true),
            "StringLike" => (true, false),
            "StringNotLike" => (true, true),
            _ => {
                return Err(bad(format!(
                    "condition operator {operator} is not enforced locally (supported: String[Not]Equals, String[Not]Like, with ForAllValues: or ForAnyValue:)"
                )))
            }
        };
        let Some(keys) = keys.as_object() else {
            return Err(bad(format!(
                "Condition {operator}: {keys} is not an object"
            )));
        };
        for (key, values) in keys {
            let (key, many) = condition_key(key)?;
            if many && set == SetOp::Single {
                return Err(bad(format!(
                    "{key} is multivalued: {operator} needs ForAllValues: or ForAnyValue:"
                )));
            }
            out.push(Condition {
                set,
                like,
                negated,
                key,
                values: strings(values, key)?,
            });
        }
    }
    Ok(out)
}

impl Statement {
    /// Reads one statement whose intrinsics are already resolved.
    pub fn parse(value: &Value, source: &str) -> Result<Statement, PolicyError> {
        let within = |e: PolicyError| bad(format!("{source}: {}", e.0));
        let effect = match value["Effect"].as_str() {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            other => return Err(within(bad(format!("Effect {other:?}")))),
        };
        if value.get("Principal").is_some() || value.get("NotPrincipal").is_some() {
            return Err(within(bad("an identity-based policy names no Principal")));
        }
        let (not_action, actions) = match (value.get("Action"), value.get("NotAction")) {
            (Some(a), None) => (false, strings(a, "Action").map_err(within)?),
            (None, Some(a)) => (true, strings(a, "NotAction").map_err(within)?),
            _ => return Err(within(bad("exactly one of Action and NotAction"))),
        };
        let (not_resource, resources) = match (value.get("Resource"), value.get("NotResource")) {
            (Some(r), None) => (false, strings(r, "Resource").map_err(within)?),
            (None, Some(r)) => (true, strings(r, "NotResource").map_err(within)?),
            _ => return Err(within(bad("exactly one of Resource and NotResource"))),
        };
        let conditions = match value.get("Condition") {
            Some(c) => conditions(c).map_err(within)?,
            None => Vec::new(),
        };
        Ok(Statement {
            effect,
            not_action,
            actions,
            not_resource,
            resources,
            conditions,
            source: source.to_string(),
        })
    }

    /// The actions it names (for the minimality report).
    pub fn actions(&self) -> &[String] {
        if self.not_action {
            &[]
        } else {
            &self.actions
        }
    }

    fn matches(&self, request: &Request) -> bool {
        let action = self
            .actions
            .iter()
            .any(|a| wildcard(a.as_bytes(), request.action.as_bytes(), true));
        let resource = self
            .resources
            .iter()
            .any(|r| wildcard(r.as_bytes(), request.resource.as_bytes(), false));
        action != self.not_action
            && resource != self.not_resource
            && self.conditions.iter().all(|c| c.holds(&request.context))
    }
}

/// One action pattern and one resource pattern of an `Allow` statement:
/// indexes into the policy's statements, the statement's `Action` and its
/// `Resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    pub statement: usize,
    pub action: usize,
    pub resource: usize,
}

/// A principal's statements, from all its policies.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

impl Policy {
    /// Every grant of its `Allow` statements (not those of `NotAction` or
    /// `NotResource`, which name what they exclude).
    pub fn grants(&self) -> Vec<Grant> {
        let mut out = Vec::new();
        for (statement, s) in self.statements.iter().enumerate() {
            if s.effect != Effect::Allow || s.not_action || s.not_resource {
                continue;
            }
            for action in 0..s.actions.len() {
                for resource in 0..s.resources.len() {
                    out.push(Grant {
                        statement,
                        action,
                        resource,
                    });
                }
            }
        }
        out
    }

    /// A grant's action and resource patterns, and where it came from.
    pub fn describe(&self, grant: Grant) -> (&str, &str, &str) {
        let s = &self.statements[grant.statement];
        (
            &s.actions[grant.action],
            &s.resources[grant.resource],
            &s.source,
        )
    }

    /// The grants that allow `request` (empty unless it is allowed).
    pub fn used_by(&self, request: &Request) -> Vec<Grant> {
        if self.decide(request) != Decision::Allow {
            return Vec::new();
        }
        self.grants()
            .into_iter()
            .filter(|&g| {
                let s = &self.statements[g.statement];
                wildcard(
                    s.actions[g.action].as_bytes(),
                    request.action.as_bytes(),
                    true,
                ) && wildcard(
                    s.resources[g.resource].as_bytes(),
                    request.resource.as_bytes(),
                    false,
                ) && s.conditions.iter().all(|c| c.holds(&request.context))
            })
            .collect()
    }

    pub fn decide(&self, request: &Request) -> Decision {
        let mut allowed = false;
        for statement in self.statements.iter().filter(|s| s.matches(request)) {
            match statement.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

/// IAM's wildcard match: `*` any run (empty too), `?` any one character.
fn wildcard(pattern: &[u8], text: &[u8], fold_case: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if fold_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    // Iterative, with one backtrack point: the last `*` seen.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len()
            && (pattern[p] == b'?' || (pattern[p] != b'*' && eq(pattern[p], text[t])))
        {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(statements: Value) -> Policy {
        Policy {
            statements: statements
                .as_array()
                .unwrap()
                .iter()
                .map(|s| Statement::parse(s, "test").unwrap())
                .collect(),
        }
    }

    fn request(action: &str, resource: &str) -> Request {
        Request {
            action: action.into(),
            resource: resource.into(),
            context: BTreeMap::new(),
        }
    }

    fn keyed(action: &str, resource: &str, keys: &[&str]) -> Request {
        let mut r = request(action, resource);
        r.context.insert(
            "dynamodb:leadingkeys",
            ContextValue::Many(keys.iter().map(|k| k.to_string()).collect()),
        );
        r
    }

    const USERS: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/Users";

    #[test]
    fn wildcards_match_as_iam_matches() {
        assert!(wildcard(b"dynamodb:*", b"dynamodb:GetItem", true));
        assert!(wildcard(b"DynamoDB:getitem", b"dynamodb:GetItem", true));
        assert!(!wildcard(b"Users", b"users", false), "resources keep case");
        assert!(wildcard(
            b"table/Users/index/*",
            b"table/Users/index/byName",
            false
        ));
        assert!(!wildcard(
            b"table/Users",
            b"table/Users/index/byName",
            false
        ));
        assert!(wildcard(b"dynamodb:???Item", b"dynamodb:PutItem", true));
        assert!(!wildcard(b"dynamodb:???Item", b"dynamodb:GetItems", true));
        assert!(wildcard(b"*", b"", false));
        assert!(wildcard(b"a*b*c", b"aXbYbZc", false));
        assert!(!wildcard(b"a*b*c", b"aXbYbZ", false));
    }

    #[test]
    fn allow_implicit_deny_and_explicit_deny() {
        let p = policy(json!([
            {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Put*"], "Resource": USERS},
            {"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": "*"},
        ]));
        assert_eq!(
            p.decide(&request("dynamodb:GetItem", USERS)),
            Decision::Allow
        );
        assert_eq!(
            p.decide(&request("dynamodb:PutItem", USERS)),
            Decision::ExplicitDeny
        );
        assert_eq!(
            p.decide(&request("dynamodb:DeleteItem", USERS)),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.decide(&request(
                "dynamodb:GetItem",
                &format!("{USERS}/index/byName")
            )),
            Decision::ImplicitDeny,
            "an index is not its table"
        );
        assert_eq!(
            Policy::default().decide(&request("dynamodb:GetItem", USERS)),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn a_request_uses_the_grants_that_allow_it() {
        let p = policy(json!([
            {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": [USERS, format!("{USERS}/index/*")]},
            {"Effect": "Allow", "Action": "dynamodb:Get*", "Resource": "*"},
        ]));
        assert_eq!(p.grants().len(), 5);
        let used = p.used_by(&request("dynamodb:GetItem", USERS));
        let described: Vec<_> = used.iter().map(|&g| p.describe(g)).collect();
        assert_eq!(
            described,
            [
                ("dynamodb:GetItem", USERS, "test"),
                ("dynamodb:Get*", "*", "test")
            ]
        );
        assert!(p.used_by(&request("dynamodb:PutItem", USERS)).is_empty());
    }

    #[test]
    fn not_action_and_not_resource_invert_the_match() {
        let p = policy(json!([
            {"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "Resource": USERS},
            {"Effect": "Deny", "Action": "*", "NotResource": [USERS, format!("{USERS}/*")]},
        ]));
        assert_eq!(p.decide(&request("dynamodb:Query", USERS)), Decision::Allow);
        assert_eq!(
            p.decide(&request("dynamodb:DeleteItem", USERS)),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.decide(&request(
                "dynamodb:Query",
                "arn:aws:dynamodb:us-east-1:000000000000:table/Other"
            )),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn leading_keys_conditions_hold_for_every_key_or_any() {
        let p = policy(json!([{
            "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": USERS,
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["BLOCKS#*", "STANDING#*"]}},
        }]));
        assert_eq!(
            p.decide(&keyed("dynamodb:GetItem", USERS, &["BLOCKS#u1"])),
            Decision::Allow
        );
        assert_eq!(
            p.decide(&keyed(
                "dynamodb:GetItem",
                USERS,
                &["BLOCKS#u1", "STANDING#u2"]
            )),
            Decision::Allow
        );
        assert_eq!(
            p.decide(&keyed("dynamodb:GetItem", USERS, &["BLOCKS#u1", "USER#u2"])),
            Decision::ImplicitDeny,
            "one key outside the patterns"
        );
        // IAM's documented pitfall, kept: no keys at all passes ForAllValues.
        assert_eq!(
            p.decide(&request("dynamodb:GetItem", USERS)),
            Decision::Allow
        );

        let any = policy(json!([{
            "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": USERS,
            "Condition": {"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": "a"}},
        }]));
        assert_eq!(
            any.decide(&keyed("dynamodb:GetItem", USERS, &["b", "a"])),
            Decision::Allow
        );
        assert_eq!(
            any.decide(&keyed("dynamodb:GetItem", USERS, &["b"])),
            Decision::ImplicitDeny
        );
        assert_eq!(
            any.decide(&request("dynamodb:GetItem", USERS)),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn single_valued_conditions_and_a_missing_key() {
        let p = policy(json!([
            {"Effect": "Allow", "Action": "*", "Resource": "*",
             "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}},
            {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*",
             "Condition": {"StringNotLike": {"aws:RequestedRegion": "us-*"}}},
        ]));
        let mut r = request("dynamodb:DeleteItem", USERS);
        assert_eq!(
            p.decide(&r),
            Decision::ExplicitDeny,
            "absent: equals is false, not-like true"
        );
        r.context
            .insert("aws:requestedregion", ContextValue::One("us-east-1".into()));
        assert_eq!(p.decide(&r), Decision::Allow);
        r.context
            .insert("aws:requestedregion", ContextValue::One("eu-west-1".into()));
        assert_eq!(p.decide(&r), Decision::ExplicitDeny);
    }

    #[test]
    fn what_cannot_be_enforced_is_refused_when_read() {
        for (statement, says) in [
            (
                json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:SourceIp": "1.2.3.4"}}}),
                "aws:SourceIp",
            ),
            (
                json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4"}}}),
                "IpAddress",
            ),
            (
                json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringLike": {"dynamodb:LeadingKeys": "a*"}}}),
                "multivalued",
            ),
            (
                json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}),
                "Principal",
            ),
            (
                json!({"Effect": "Maybe", "Action": "*", "Resource": "*"}),
                "Effect",
            ),
            (json!({"Effect": "Allow", "Action": "*"}), "Resource"),
            (
                json!({"Effect": "Allow", "Action": "*", "Resource": {"Fn::GetAtt": "X.Arn"}}),
                "not a string",
            ),
        ] {
            let err = Statement::parse(&statement, "Fn").unwrap_err();
            assert!(err.0.contains(says), "{err}");
            assert!(err.0.starts_with("Fn: "), "{err}");
        }
    }
}
