//! Reading items back from storage.
//!
//! Items are stored as the JSON that `AttributeValue`'s `Serialize` writes:
//! one member per value, already validated when the request that wrote it
//! was read. `AttributeValue`'s `Deserialize` is the request parser: it
//! reads each value into a `serde_json::Value` first, to check it the way
//! DynamoDB checks a request, and nested lists and maps are cloned and read
//! again at every level. On the read path (a Query of a thousand items, the
//! old image of every write) that parsing was most of the engine's time.
//!
//! [`from_stored`] reads the stored form directly: one pass, each value
//! built where it is read. What it does not recognise as stored form it
//! hands to the request parser, so an item reads as it always did.

use std::collections::HashMap;
use std::fmt;

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::types::{AttributeValue, Item};

/// Parses an item the engine stored.
pub(crate) fn from_stored(json: &str) -> serde_json::Result<Item> {
    match lean(json) {
        Ok(item) => Ok(item),
        Err(_) => serde_json::from_str(json),
    }
}

fn lean(json: &str) -> serde_json::Result<Item> {
    let mut de = serde_json::Deserializer::from_str(json);
    let item = StoredMap::deserialize(&mut de)?.0;
    de.end()?;
    Ok(item)
}

/// A value's one member, as `Serialize` names it.
#[derive(Deserialize)]
#[allow(clippy::upper_case_acronyms)]
enum Member {
    S,
    N,
    B,
    BOOL,
    NULL,
    SS,
    NS,
    BS,
    L,
    M,
}

struct StoredMap(HashMap<String, AttributeValue>);
struct StoredValue(AttributeValue);
struct StoredList(Vec<AttributeValue>);
struct StoredBinary(Vec<u8>);
struct StoredBinaries(Vec<Vec<u8>>);

impl<'de> Deserialize<'de> for StoredMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StoredMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of attribute values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StoredMap, A::Error> {
                let mut out = HashMap::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(name) = map.next_key::<String>()? {
                    let StoredValue(value) = map.next_value()?;
                    out.insert(name, value);
                }
                Ok(StoredMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for StoredValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StoredValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an attribute value with one member")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StoredValue, A::Error> {
                let member = map
                    .next_key::<Member>()?
                    .ok_or_else(|| de::Error::custom("an attribute value without a member"))?;
                let value = match member {
                    Member::S => AttributeValue::S(map.next_value()?),
                    Member::N => AttributeValue::N(map.next_value()?),
                    Member::B => AttributeValue::B(map.next_value::<StoredBinary>()?.0),
                    Member::BOOL => AttributeValue::BOOL(map.next_value()?),
                    Member::NULL => {
                        // The request parser admits only a true NULL.
                        if !map.next_value::<bool>()? {
                            return Err(de::Error::custom("a NULL that is not true"));
                        }
                        AttributeValue::NULL(true)
                    }
                    Member::SS => AttributeValue::SS(map.next_value()?),
                    Member::NS => AttributeValue::NS(map.next_value()?),
                    Member::BS => AttributeValue::BS(map.next_value::<StoredBinaries>()?.0),
                    Member::L => AttributeValue::L(map.next_value::<StoredList>()?.0),
                    Member::M => AttributeValue::M(map.next_value::<StoredMap>()?.0),
                };
                if map.next_key::<IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom("an attribute value with two members"));
                }
                Ok(StoredValue(value))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for StoredList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StoredList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of attribute values")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StoredList, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(StoredValue(value)) = seq.next_element()? {
                    out.push(value);
                }
                Ok(StoredList(out))
            }
        }
        d.deserialize_seq(V)
    }
}

fn decode<E: de::Error>(encoded: &str) -> Result<Vec<u8>, E> {
    BASE64
        .decode(encoded)
        .map_err(|e| E::custom(format!("invalid base64: {e}")))
}

impl<'de> Deserialize<'de> for StoredBinary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let encoded = std::borrow::Cow::<str>::deserialize(d)?;
        decode(&encoded).map(StoredBinary)
    }
}

impl<'de> Deserialize<'de> for StoredBinaries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let encoded = Vec::<std::borrow::Cow<str>>::deserialize(d)?;
        encoded
            .iter()
            .map(|e| decode(e))
            .collect::<Result<_, _>>()
            .map(StoredBinaries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttributeValue as A;

    /// Every kind of value, nested, as a write stores it.
    fn every_kind() -> Item {
        let scalars = |n: usize| -> Item {
            HashMap::from([
                ("s".to_string(), A::S(format!("text \"{n}\" \u{e9}\n"))),
                ("empty".to_string(), A::S(String::new())),
                ("n".to_string(), A::N(format!("-{n}.25E3"))),
                ("b".to_string(), A::B(vec![0, 1, 2, 255, n as u8])),
                ("yes".to_string(), A::BOOL(true)),
                ("no".to_string(), A::BOOL(false)),
                ("null".to_string(), A::NULL(true)),
                ("ss".to_string(), A::SS(vec!["a".into(), "b".into()])),
                ("ns".to_string(), A::NS(vec!["1".into(), "2.5".into()])),
                ("bs".to_string(), A::BS(vec![vec![1], vec![2, 3]])),
            ])
        };
        let mut item = scalars(0);
        let mut deep = A::M(scalars(1));
        for level in 2..20 {
            deep = A::L(vec![A::M(scalars(level)), deep, A::L(Vec::new())]);
        }
        item.insert("deep".into(), deep);
        item.insert("emptyMap".into(), A::M(HashMap::new()));
        item
    }

    #[test]
    fn a_stored_item_reads_as_the_request_parser_reads_it() {
        let item = every_kind();
        let json = serde_json::to_string(&item).unwrap();
        let by_request_parser: Item = serde_json::from_str(&json).unwrap();
        assert_eq!(by_request_parser, item);
        assert_eq!(lean(&json).unwrap(), item, "read in one pass");
        assert_eq!(from_stored(&json).unwrap(), item);
    }

    #[test]
    fn what_is_not_stored_form_goes_to_the_request_parser() {
        // A member set to null is absent to the request parser.
        let json = r#"{"a":{"S":"x","N":null},"b":{"NULL":"true"}}"#;
        assert!(lean(json).is_err());
        let expected: Item = serde_json::from_str(json).unwrap();
        assert_eq!(expected["a"], A::S("x".into()));
        assert_eq!(from_stored(json).unwrap(), expected);
    }

    #[test]
    fn what_neither_reads_is_an_error() {
        for bad in [
            r#"{"a":{}}"#,
            r#"{"a":{"S":"x","N":"1"}}"#,
            r#"{"a":{"X":"1"}}"#,
            r#"{"a":{"B":"not base64!"}}"#,
            r#"{"a":{"S":"x"}} trailing"#,
        ] {
            assert!(from_stored(bad).is_err(), "{bad}");
        }
    }
}
