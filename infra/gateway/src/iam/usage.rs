//! Which grants of each function's policy the calls used, so a policy can
//! be shown minimal: what it grants that nothing exercised.
//!
//! With a usage directory set, each stack appends one JSON line per grant
//! the first time a call uses it, to a file of its own in that directory
//! (so the suite's processes, one per test, never share a file). [`unused`]
//! then reads them all and lists, per function, the DynamoDB grants no line
//! names. Grants are named by their place in the policy (statement, action,
//! resource), which is the same for every stack whatever its table prefix.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::policy::{Grant, Policy};

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
struct Line {
    function: String,
    statement: usize,
    action: usize,
    resource: usize,
}

/// A stack's record of the grants its calls used.
#[derive(Debug)]
pub struct Usage {
    file: Mutex<std::fs::File>,
    seen: Mutex<HashSet<(String, Grant)>>,
}

impl Usage {
    /// A new file in `dir` for this stack.
    pub fn create(dir: &Path) -> std::io::Result<Usage> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!(
            "{}-{}.jsonl",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        Ok(Usage {
            file: Mutex::new(std::fs::File::create(path)?),
            seen: Mutex::new(HashSet::new()),
        })
    }

    /// Notes that `function` used `grants`; writes only the new ones.
    pub fn record(&self, function: &str, grants: Vec<Grant>) {
        let fresh: Vec<Grant> = {
            let mut seen = self.seen.lock().expect("usage lock");
            grants
                .into_iter()
                .filter(|g| seen.insert((function.to_string(), *g)))
                .collect()
        };
        if fresh.is_empty() {
            return;
        }
        let mut out = String::new();
        for g in fresh {
            let line = Line {
                function: function.to_string(),
                statement: g.statement,
                action: g.action,
                resource: g.resource,
            };
            out.push_str(&serde_json::to_string(&line).expect("a line serializes"));
            out.push('\n');
        }
        let mut file = self.file.lock().expect("usage file lock");
        if let Err(err) = file.write_all(out.as_bytes()) {
            tracing::warn!(error = %err, "could not record the policy grants used");
        }
    }
}

/// Per function, each action a statement grants that no recorded call in
/// `dir` used on any of that statement's resources (`action on table/T,
/// table/U (source)`): every service the stack enforces (DynamoDB,
/// `@connections`, Invoke, S3, Secrets Manager, and the stream mappings'
/// own actions, checked at start-up).
pub fn unused(
    dir: &PathBuf,
    policies: &BTreeMap<String, Policy>,
) -> std::io::Result<BTreeMap<String, Vec<String>>> {
    let mut used = BTreeSet::new();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        for line in text.lines() {
            if let Ok(l) = serde_json::from_str::<Line>(line) {
                used.insert((l.function, l.statement, l.action));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (function, policy) in policies {
        // (statement, action) → its resources, in the policy's order.
        let mut actions: BTreeMap<(usize, usize), (String, Vec<String>, String)> = BTreeMap::new();
        for g in policy.grants() {
            let (action, resource, source) = policy.describe(g);
            if used.contains(&(function.clone(), g.statement, g.action)) {
                continue;
            }
            actions
                .entry((g.statement, g.action))
                .or_insert_with(|| (action.to_string(), Vec::new(), source.to_string()))
                .1
                // `table/Users/index/x`, `chat-media-…/media/*`: the
                // partition, account and region are the stack's.
                .push(
                    resource
                        .rsplit_once(':')
                        .map_or(resource, |(_, r)| r)
                        .to_string(),
                );
        }
        let left: Vec<String> = actions
            .into_values()
            .map(|(action, resources, source)| {
                format!("{action} on {} ({source})", resources.join(", "))
            })
            .collect();
        if !left.is_empty() {
            out.insert(function.clone(), left);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::policy::{Request, Statement};
    use serde_json::json;

    #[test]
    fn what_no_stack_used_is_listed_per_function() {
        let policy = Policy {
            statements: vec![
                Statement::parse(
                    &json!({"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": "arn:t/Users"}),
                    "f",
                )
                .unwrap(),
                Statement::parse(
                    &json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
                    "f (other)",
                )
                .unwrap(),
            ],
        };
        let dir = std::env::temp_dir().join(format!("iam-usage-{}", uuid::Uuid::new_v4()));
        let get = Request {
            action: "dynamodb:GetItem".into(),
            resource: "arn:t/Users".into(),
            context: Default::default(),
        };
        // Two stacks (two files), one using the same grant twice.
        for _ in 0..2 {
            let usage = Usage::create(&dir).unwrap();
            usage.record("f", policy.used_by(&get));
            usage.record("f", policy.used_by(&get));
        }
        let policies = BTreeMap::from([
            ("f".to_string(), policy),
            ("g".to_string(), Policy::default()),
        ]);
        let unused = unused(&dir, &policies).unwrap();
        assert_eq!(
            unused,
            BTreeMap::from([(
                "f".to_string(),
                vec![
                    "dynamodb:PutItem on t/Users (f)".to_string(),
                    "s3:GetObject on * (f (other))".to_string()
                ]
            )]),
        );
        let lines: usize = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                std::fs::read_to_string(e.unwrap().path())
                    .unwrap()
                    .lines()
                    .count()
            })
            .sum();
        assert_eq!(lines, 2, "each stack writes a grant once");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
