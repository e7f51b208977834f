//! What a DynamoDB request asks of IAM: each action, on each resource, with
//! the partition keys it touches (`dynamodb:LeadingKeys`).
//!
//! The mapping is the one "Amazon DynamoDB API permissions: Actions,
//! resources, and conditions reference" (DynamoDB Developer Guide) and
//! "Using IAM with DynamoDB transactions" document:
//!
//! | operation | action | resource |
//! | --- | --- | --- |
//! | `GetItem`, `PutItem`, `UpdateItem`, `DeleteItem` | the same name | the table |
//! | `Query`, `Scan` | the same name | the table, or `table/T/index/I` with `IndexName` |
//! | `BatchGetItem`, `BatchWriteItem` | the same name | each table it names |
//! | `TransactWriteItems` | per item: `PutItem`, `UpdateItem`, `DeleteItem`, `ConditionCheckItem` | each item's table |
//! | `TransactGetItems` | `GetItem` per item | each item's table |
//! | Streams' `DescribeStream`, `GetShardIterator`, `GetRecords` | the same name | the stream |
//! | anything else | the same name | the table it names, else `*` |
//!
//! `dynamodb:LeadingKeys` is the set of partition key values a request
//! reads or writes in that table or index: the `Key` or `Item`'s, each
//! batch or transaction entry's for its table, and a `Query`'s equality on
//! the partition key. A `Scan` has none (so a `ForAllValues` condition
//! passes it, as on AWS).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::policy::{ContextValue, Request};

/// The partition key of each table and index, by the table's name.
#[derive(Debug, Clone, Default)]
pub struct KeySchemas(HashMap<String, TableKeys>);

#[derive(Debug, Clone, Default)]
struct TableKeys {
    hash: String,
    indexes: HashMap<String, String>,
}

impl KeySchemas {
    /// The template's tables, named as the stack names them.
    pub fn declared(tables: &[crate::wiring::DeclaredTable], prefix: &str) -> KeySchemas {
        KeySchemas(
            tables
                .iter()
                .map(|t| {
                    let keys = TableKeys {
                        hash: t.hash.clone(),
                        indexes: t
                            .indexes
                            .iter()
                            .map(|(name, hash, ..)| (name.clone(), hash.clone()))
                            .collect(),
                    };
                    (format!("{prefix}{}", t.name), keys)
                })
                .collect(),
        )
    }

    fn hash_of(&self, table: &str, index: Option<&str>) -> Option<&str> {
        let keys = self.0.get(table)?;
        match index {
            Some(index) => keys.indexes.get(index).map(String::as_str),
            None => Some(&keys.hash),
        }
    }
}

/// A request the mapping cannot read (IAM would never see it: DynamoDB
/// refuses it as malformed first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// Where the stack's tables live: `arn:aws:dynamodb:{region}:{account}:table/`.
pub fn table_arn(region: &str, account: &str, table: &str) -> String {
    format!("arn:aws:dynamodb:{region}:{account}:table/{table}")
}

/// The requests IAM evaluates for one DynamoDB call; each must be allowed.
pub fn requests(
    operation: &str,
    body: &Value,
    schemas: &KeySchemas,
    region: &str,
    account: &str,
) -> Result<Vec<Request>, Unreadable> {
    let arn = |table: &str, index: Option<&str>| {
        let table_arn = table_arn(region, account, table);
        match index {
            Some(index) => format!("{table_arn}/index/{index}"),
            None => table_arn,
        }
    };
    let make = |action: &str, resource: String, keys: Option<Vec<String>>| {
        let mut context =
            BTreeMap::from([("aws:requestedregion", ContextValue::One(region.to_string()))]);
        if let Some(keys) = keys {
            context.insert("dynamodb:leadingkeys", ContextValue::Many(keys));
        }
        Request {
            action: format!("dynamodb:{action}"),
            resource,
            context,
        }
    };
    let table_of = |value: &Value| -> Result<String, Unreadable> {
        value["TableName"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Unreadable(format!("{operation} names no TableName")))
    };
    let key_of = |table: &str, item: &Value| -> Vec<String> {
        schemas
            .hash_of(table, None)
            .and_then(|hash| leading(&item[hash]))
            .into_iter()
            .collect()
    };
    Ok(match operation {
        "GetItem" | "UpdateItem" | "DeleteItem" | "PutItem" => {
            let table = table_of(body)?;
            let item = if operation == "PutItem" {
                &body["Item"]
            } else {
                &body["Key"]
            };
            let keys = key_of(&table, item);
            vec![make(operation, arn(&table, None), Some(keys))]
        }
        "Query" | "Scan" => {
            let table = table_of(body)?;
            let index = body["IndexName"].as_str();
            let keys = if operation == "Query" {
                let hash = schemas.hash_of(&table, index);
                Some(hash.and_then(|h| query_key(body, h)).into_iter().collect())
            } else {
                None
            };
            vec![make(operation, arn(&table, index), keys)]
        }
        "BatchGetItem" | "BatchWriteItem" => {
            let Some(tables) = body["RequestItems"].as_object() else {
                return Err(Unreadable(format!("{operation} has no RequestItems")));
            };
            tables
                .iter()
                .map(|(table, entries)| {
                    let keys: Vec<String> = if operation == "BatchGetItem" {
                        entries["Keys"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .flat_map(|k| key_of(table, k))
                            .collect()
                    } else {
                        entries
                            .as_array()
                            .into_iter()
                            .flatten()
                            .flat_map(|e| {
                                let item = if e.get("PutRequest").is_some() {
                                    &e["PutRequest"]["Item"]
                                } else {
                                    &e["DeleteRequest"]["Key"]
                                };
                                key_of(table, item)
                            })
                            .collect()
                    };
                    make(operation, arn(table, None), Some(keys))
                })
                .collect()
        }
        "TransactWriteItems" | "TransactGetItems" => {
            let Some(items) = body["TransactItems"].as_array() else {
                return Err(Unreadable(format!("{operation} has no TransactItems")));
            };
            items
                .iter()
                .map(|entry| {
                    let (kind, inner) = entry
                        .as_object()
                        .and_then(|o| o.iter().next())
                        .ok_or_else(|| Unreadable(format!("{operation}: an empty item")))?;
                    let action = match kind.as_str() {
                        "Put" => "PutItem",
                        "Update" => "UpdateItem",
                        "Delete" => "DeleteItem",
                        "ConditionCheck" => "ConditionCheckItem",
                        "Get" => "GetItem",
                        other => {
                            return Err(Unreadable(format!("{operation}: an item of kind {other}")))
                        }
                    };
                    let table = table_of(inner)?;
                    let item = if kind == "Put" {
                        &inner["Item"]
                    } else {
                        &inner["Key"]
                    };
                    let keys = key_of(&table, item);
                    Ok(make(action, arn(&table, None), Some(keys)))
                })
                .collect::<Result<_, _>>()?
        }
        "DescribeStream" | "GetShardIterator" | "GetRecords" => {
            let resource = body["StreamArn"]
                .as_str()
                .or(body["ShardIterator"].as_str().map(|_| "*"))
                .unwrap_or("*");
            vec![make(operation, resource.to_string(), None)]
        }
        other => {
            let resource = body["TableName"]
                .as_str()
                .map(|t| arn(t, None))
                .unwrap_or_else(|| "*".into());
            vec![make(other, resource, None)]
        }
    })
}

/// An attribute value's partition key form: the string, number or base64.
fn leading(value: &Value) -> Option<String> {
    let object = value.as_object()?;
    ["S", "N", "B"]
        .iter()
        .find_map(|t| object.get(*t).and_then(Value::as_str))
        .map(str::to_string)
}

/// A Query's partition key value: the `#k = :v` equality on `hash` in its
/// `KeyConditionExpression`, or its legacy `KeyConditions`' `EQ`.
fn query_key(body: &Value, hash: &str) -> Option<String> {
    if let Some(conditions) = body["KeyConditions"].as_object() {
        let condition = &conditions.get(hash)?;
        return (condition["ComparisonOperator"] == "EQ")
            .then(|| leading(&condition["AttributeValueList"][0]))
            .flatten();
    }
    let expression = body["KeyConditionExpression"].as_str()?;
    let tokens = tokens(expression);
    let name_of = |token: &str| -> String {
        if token.starts_with('#') {
            body["ExpressionAttributeNames"][token]
                .as_str()
                .unwrap_or(token)
                .to_string()
        } else {
            token.to_string()
        }
    };
    tokens.windows(3).find_map(|w| {
        let (left, right) = match w {
            [l, "=", r] => (l, r),
            _ => return None,
        };
        let (name, value) = if right.starts_with(':') {
            (left, right)
        } else {
            (right, left)
        };
        (value.starts_with(':') && name_of(name) == hash)
            .then(|| leading(&body["ExpressionAttributeValues"][*value]))
            .flatten()
    })
}

/// A key condition expression's tokens: names, placeholders, operators.
fn tokens(expression: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = expression.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() || c == b'(' || c == b')' || c == b',' {
            i += 1;
        } else if b"=<>".contains(&c) {
            let start = i;
            while i < bytes.len() && b"=<>".contains(&bytes[i]) {
                i += 1;
            }
            out.push(&expression[start..i]);
        } else {
            let start = i;
            while i < bytes.len()
                && !bytes[i].is_ascii_whitespace()
                && !b"=<>(),".contains(&bytes[i])
            {
                i += 1;
            }
            out.push(&expression[start..i]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas() -> KeySchemas {
        KeySchemas(HashMap::from([
            (
                "Users".to_string(),
                TableKeys {
                    hash: "id".into(),
                    indexes: HashMap::from([("byName".into(), "username".into())]),
                },
            ),
            (
                "Links".to_string(),
                TableKeys {
                    hash: "userId".into(),
                    indexes: HashMap::new(),
                },
            ),
        ]))
    }

    const T: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/";

    /// (action, resource, leading keys) of each request.
    fn mapped(op: &str, body: Value) -> Vec<(String, String, Option<Vec<String>>)> {
        requests(op, &body, &schemas(), "us-east-1", "000000000000")
            .unwrap()
            .into_iter()
            .map(|r| {
                let keys = match r.context.get("dynamodb:leadingkeys") {
                    Some(ContextValue::Many(k)) => Some(k.clone()),
                    _ => None,
                };
                (r.action, r.resource.replace(T, ""), keys)
            })
            .collect()
    }

    fn one(a: &str, r: &str, keys: &[&str]) -> (String, String, Option<Vec<String>>) {
        (
            a.into(),
            r.into(),
            Some(keys.iter().map(|k| k.to_string()).collect()),
        )
    }

    #[test]
    fn item_operations_map_to_their_own_action_on_the_table_with_the_key() {
        assert_eq!(
            mapped(
                "GetItem",
                json!({"TableName": "Users", "Key": {"id": {"S": "u1"}}})
            ),
            [one("dynamodb:GetItem", "Users", &["u1"])]
        );
        assert_eq!(
            mapped(
                "PutItem",
                json!({"TableName": "Users", "Item": {"id": {"S": "u2"}, "n": {"N": "1"}}})
            ),
            [one("dynamodb:PutItem", "Users", &["u2"])]
        );
        assert_eq!(
            mapped(
                "UpdateItem",
                json!({"TableName": "Links", "Key": {"userId": {"N": "7"}}})
            ),
            [one("dynamodb:UpdateItem", "Links", &["7"])]
        );
        assert_eq!(
            mapped(
                "DeleteItem",
                json!({"TableName": "Users", "Key": {"id": {"S": "u3"}}})
            ),
            [one("dynamodb:DeleteItem", "Users", &["u3"])]
        );
    }

    #[test]
    fn a_query_on_an_index_is_on_the_index_arn_with_its_partition_key() {
        assert_eq!(
            mapped(
                "Query",
                json!({
                    "TableName": "Users", "IndexName": "byName",
                    "KeyConditionExpression": "#n = :n",
                    "ExpressionAttributeNames": {"#n": "username"},
                    "ExpressionAttributeValues": {":n": {"S": "alice"}},
                })
            ),
            [one("dynamodb:Query", "Users/index/byName", &["alice"])]
        );
        // The sort key's BETWEEN ... AND ... is not the partition key.
        assert_eq!(
            mapped(
                "Query",
                json!({
                    "TableName": "Users",
                    "KeyConditionExpression": "(id=:id) AND #s BETWEEN :a AND :b",
                    "ExpressionAttributeNames": {"#s": "sk"},
                    "ExpressionAttributeValues": {":id": {"S": "u1"}, ":a": {"S": "a"}, ":b": {"S": "b"}},
                })
            ),
            [one("dynamodb:Query", "Users", &["u1"])]
        );
        assert_eq!(
            mapped(
                "Query",
                json!({
                    "TableName": "Users",
                    "KeyConditions": {"id": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "u9"}]}},
                })
            ),
            [one("dynamodb:Query", "Users", &["u9"])]
        );
        assert_eq!(
            mapped("Scan", json!({"TableName": "Users", "IndexName": "byName"})),
            [("dynamodb:Scan".into(), "Users/index/byName".into(), None)]
        );
    }

    #[test]
    fn batches_are_one_request_per_table_with_all_its_keys() {
        let mut tables = mapped(
            "BatchGetItem",
            json!({"RequestItems": {
                "Users": {"Keys": [{"id": {"S": "a"}}, {"id": {"S": "b"}}]},
                "Links": {"Keys": [{"userId": {"S": "c"}}]},
            }}),
        );
        tables.sort();
        assert_eq!(
            tables,
            [
                one("dynamodb:BatchGetItem", "Links", &["c"]),
                one("dynamodb:BatchGetItem", "Users", &["a", "b"])
            ]
        );
        assert_eq!(
            mapped(
                "BatchWriteItem",
                json!({"RequestItems": {"Users": [
                    {"PutRequest": {"Item": {"id": {"S": "a"}}}},
                    {"DeleteRequest": {"Key": {"id": {"S": "b"}}}},
                ]}})
            ),
            [one("dynamodb:BatchWriteItem", "Users", &["a", "b"])]
        );
    }

    #[test]
    fn transactions_are_checked_by_each_items_own_action() {
        assert_eq!(
            mapped(
                "TransactWriteItems",
                json!({"TransactItems": [
                    {"Put": {"TableName": "Users", "Item": {"id": {"S": "a"}}}},
                    {"Update": {"TableName": "Links", "Key": {"userId": {"S": "b"}}}},
                    {"Delete": {"TableName": "Users", "Key": {"id": {"S": "c"}}}},
                    {"ConditionCheck": {"TableName": "Users", "Key": {"id": {"S": "d"}}}},
                ]})
            ),
            [
                one("dynamodb:PutItem", "Users", &["a"]),
                one("dynamodb:UpdateItem", "Links", &["b"]),
                one("dynamodb:DeleteItem", "Users", &["c"]),
                one("dynamodb:ConditionCheckItem", "Users", &["d"]),
            ]
        );
        assert_eq!(
            mapped(
                "TransactGetItems",
                json!({"TransactItems": [
                    {"Get": {"TableName": "Users", "Key": {"id": {"S": "a"}}}},
                ]})
            ),
            [one("dynamodb:GetItem", "Users", &["a"])]
        );
    }

    #[test]
    fn table_operations_name_the_table_and_streams_the_stream() {
        assert_eq!(
            mapped("DescribeTable", json!({"TableName": "Users"})),
            [("dynamodb:DescribeTable".into(), "Users".into(), None)]
        );
        assert_eq!(
            mapped("ListTables", json!({})),
            [("dynamodb:ListTables".into(), "*".into(), None)]
        );
        let stream = "arn:aws:dynamodb:us-east-1:000000000000:table/Users/stream/x";
        assert_eq!(
            mapped("DescribeStream", json!({"StreamArn": stream})),
            [(
                "dynamodb:DescribeStream".into(),
                "Users/stream/x".into(),
                None
            )]
        );
    }

    #[test]
    fn a_request_without_its_parts_is_unreadable() {
        for (op, body) in [
            ("GetItem", json!({})),
            ("BatchGetItem", json!({})),
            (
                "TransactWriteItems",
                json!({"TransactItems": [{"Explode": {"TableName": "Users"}}]}),
            ),
        ] {
            assert!(
                requests(op, &body, &schemas(), "us-east-1", "0").is_err(),
                "{op}"
            );
        }
    }
}
