//! AWS Signature Version 4, verified as AWS verifies it: the stand-ins
//! refuse a request that the real service would refuse for its signature.
//!
//! [`verify`] rebuilds the canonical request from what arrived (method,
//! path, query, the headers the signature names, the body's SHA-256),
//! derives the signing key from the secret of the access key it names, and
//! compares signatures in constant time. It is written from AWS's
//! description of the algorithm ("Create a signed AWS API request", IAM
//! User Guide), not from the signer the clients use, so a test that both
//! the SDK's and the notifier's requests verify checks two
//! implementations against each other.
//!
//! The refusals carry API Gateway's error types and messages (403 with
//! `x-amzn-ErrorType`): a missing `Authorization` is
//! `MissingAuthenticationTokenException`, an unknown key
//! `UnrecognizedClientException`, a malformed one
//! `IncompleteSignatureException`, and a wrong, stale or tampered
//! signature `InvalidSignatureException`. A signature is good for five
//! minutes either side of its `x-amz-date`, as API Gateway allows.

use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, Method, Uri};
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The region the local stack is in: its clients sign for it.
pub const LOCAL_REGION: &str = "us-east-1";
/// The stack's own key pair: the gateway's calls, tools and tests, the
/// functions under `make watch` and in the cold-start bench, and every
/// in-process function when IAM is not enforced (with it, each signs with
/// its own key: `iam`).
pub const LOCAL_ACCESS_KEY: &str = "local";
pub const LOCAL_SECRET_KEY: &str = "local";

/// How far a signature's time may be from the server's, either way.
pub const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const AMZ_DATE: &str = "%Y%m%dT%H%M%SZ";

/// The keys a stand-in knows: access key id → secret access key.
#[derive(Debug, Clone)]
pub struct Keys(BTreeMap<String, String>);

impl Keys {
    /// The stack's own pair (`dynamo::sdk_config`, `infra/watch.sh`).
    pub fn local() -> Keys {
        Keys(BTreeMap::from([(
            LOCAL_ACCESS_KEY.into(),
            LOCAL_SECRET_KEY.into(),
        )]))
    }

    /// Adds (or replaces) a key.
    pub fn insert(&mut self, access_key: &str, secret: &str) {
        self.0.insert(access_key.into(), secret.into());
    }

    /// Each access key and its secret.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, s)| (k.as_str(), s.as_str()))
    }
}

/// Where a signature must be scoped: the stand-in's region and service.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
}

/// Why a request's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Missing Authentication Token")]
    Missing,
    #[error("{0}")]
    Incomplete(String),
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    #[error("{0}")]
    Invalid(String),
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    Mismatch,
}

impl Refusal {
    /// The `x-amzn-ErrorType` API Gateway answers with; the status is 403.
    pub fn error_type(&self) -> &'static str {
        match self {
            Refusal::Missing => "MissingAuthenticationTokenException",
            Refusal::Incomplete(_) => "IncompleteSignatureException",
            Refusal::UnknownKey => "UnrecognizedClientException",
            Refusal::Invalid(_) | Refusal::Mismatch => "InvalidSignatureException",
        }
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
struct Authorization<'h> {
    access_key: &'h str,
    date: &'h str,
    region: &'h str,
    service: &'h str,
    signed_headers: Vec<&'h str>,
    signature: &'h str,
}

fn parse(header: &str) -> Result<Authorization<'_>, Refusal> {
    let rest = header
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| {
            Refusal::Incomplete(format!(
                "Authorization header requires the {ALGORITHM} algorithm."
            ))
        })?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (key, value) = part.trim().split_once('=').unwrap_or((part.trim(), ""));
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let missing = |what: &str| {
        Refusal::Incomplete(format!(
            "Authorization header requires '{what}' parameter. Authorization={header}"
        ))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = parts[..] else {
        return Err(Refusal::Incomplete(format!(
            "Credential should be scoped to a valid region, service and terminal 'aws4_request'. Credential={credential}"
        )));
    };
    Ok(Authorization {
        access_key,
        date,
        region,
        service,
        signed_headers: signed.split(';').collect(),
        signature,
    })
}

/// Checks `request`'s signature; the access key id it was signed with.
pub fn verify(
    keys: &Keys,
    scope: Scope<'_>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<String, Refusal> {
    let header = headers
        .get("authorization")
        .ok_or(Refusal::Missing)?
        .to_str()
        .map_err(|_| Refusal::Incomplete("Authorization header is not ASCII.".into()))?;
    let auth = parse(header)?;
    let secret = keys.0.get(auth.access_key).ok_or(Refusal::UnknownKey)?;
    if auth.service != scope.service {
        return Err(Refusal::Invalid(format!(
            "Credential should be scoped to correct service: '{}'. ",
            scope.service
        )));
    }
    if auth.region != scope.region {
        return Err(Refusal::Invalid(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            auth.region
        )));
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Refusal::Incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                    .into(),
            )
        })?;
    let signed_at = NaiveDateTime::parse_from_str(amz_date, AMZ_DATE)
        .map_err(|_| {
            Refusal::Incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{amz_date}'."
            ))
        })?
        .and_utc();
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
        return Err(Refusal::Invalid(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP."
                .into(),
        ));
    }
    check_time(signed_at, DateTime::<Utc>::from(now))?;
    if !auth.signed_headers.contains(&"host") {
        return Err(Refusal::Invalid(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }

    let canonical = canonical_request(method, uri, headers, &auth.signed_headers, body)?;
    let credential_scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{credential_scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(secret, auth.date, auth.region, auth.service);
    let expected = hex(&hmac(&key, string_to_sign.as_bytes()));
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(auth.access_key.to_string())
    } else {
        Err(Refusal::Mismatch)
    }
}

/// Signing keys derived already, by secret and scope. A key depends on
/// nothing else and holds for its scope's day, and deriving one takes four
/// HMACs: every `@connections` post is verified, and the same few keys
/// would be derived thousands of times a second. The scope reaching here
/// has passed the region, service and clock checks, so a caller cannot fill
/// this with scopes of its choosing; it is emptied at [`MAX_SIGNING_KEYS`]
/// all the same.
static SIGNING_KEYS: LazyLock<Mutex<HashMap<String, Vec<u8>>>> = LazyLock::new(Mutex::default);
const MAX_SIGNING_KEYS: usize = 256;

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let id = format!("{secret}\n{date}\n{region}\n{service}");
    if let Some(key) = SIGNING_KEYS.lock().expect("signing keys").get(&id) {
        return key.clone();
    }
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let mut keys = SIGNING_KEYS.lock().expect("signing keys");
    if keys.len() >= MAX_SIGNING_KEYS {
        keys.clear();
    }
    keys.insert(id, key.clone());
    key
}

fn check_time(signed_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Refusal> {
    let skew = chrono::Duration::from_std(CLOCK_SKEW).expect("five minutes");
    let stamp = |t: DateTime<Utc>| t.format(AMZ_DATE).to_string();
    if signed_at < now - skew {
        return Err(Refusal::Invalid(format!(
            "Signature expired: {} is now earlier than {} ({} - 5 min.)",
            stamp(signed_at),
            stamp(now - skew),
            stamp(now)
        )));
    }
    if signed_at > now + skew {
        return Err(Refusal::Invalid(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            stamp(signed_at),
            stamp(now + skew),
            stamp(now)
        )));
    }
    Ok(())
}

/// The canonical request: method, URI, query, the signed headers, their
/// names, and the payload's hash, one per line.
fn canonical_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    signed: &[&str],
    body: &[u8],
) -> Result<String, Refusal> {
    let mut out = String::with_capacity(512);
    out.push_str(method.as_str());
    out.push('\n');
    // Every service but S3 encodes the path as sent once more.
    out.push_str(&encode(uri.path(), true));
    out.push('\n');
    out.push_str(&canonical_query(uri.query().unwrap_or("")));
    out.push('\n');
    for name in signed {
        out.push_str(name);
        out.push(':');
        let values: Vec<String> = if *name == "host" && !headers.contains_key("host") {
            // HTTP/2 carries the host as `:authority`, which lands in the URI.
            uri.authority().map(|a| a.to_string()).into_iter().collect()
        } else {
            headers
                .get_all(*name)
                .iter()
                .map(|v| {
                    v.to_str()
                        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                        .map_err(|_| Refusal::Mismatch)
                })
                .collect::<Result<_, _>>()?
        };
        if values.is_empty() {
            return Err(Refusal::Mismatch);
        }
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed.join(";"));
    out.push('\n');
    out.push_str(&hex(&Sha256::digest(body)));
    Ok(out)
}

/// `a=1&b=2`, each name and value decoded then encoded strictly, sorted.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode(&decode(k), false), encode(&decode(v), false))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 encoding: every byte but the unreserved ones (and `/` in a path).
fn encode(s: &str, path: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (path && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_pair = (bytes[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex_pair {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Lower-case hex. Every `@connections` post is verified, so this runs
/// twice per delivered copy: one pass over a table, not a `format!` per byte.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// AWS's published SigV4 test suite, `get-vanilla-query-order-key-case`
    /// and `post-x-www-form-urlencoded`: the credentials, time and
    /// signatures of the suite.
    const SUITE_KEY: &str = "AKIDEXAMPLE";
    const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn suite_keys() -> Keys {
        Keys(BTreeMap::from([(SUITE_KEY.into(), SUITE_SECRET.into())]))
    }

    fn at(stamp: &str) -> SystemTime {
        NaiveDateTime::parse_from_str(stamp, AMZ_DATE)
            .unwrap()
            .and_utc()
            .into()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    const SCOPE: Scope<'static> = Scope {
        region: "us-east-1",
        service: "service",
    };

    /// The suite's request, with one part changed by `change`.
    struct Suite {
        keys: Keys,
        method: Method,
        uri: Uri,
        host: &'static str,
        body: &'static [u8],
        now: SystemTime,
    }

    const SUITE_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500";

    impl Suite {
        fn new() -> Suite {
            Suite {
                keys: suite_keys(),
                method: Method::GET,
                uri: "/?Param2=value2&Param1=value1".parse().unwrap(),
                host: "example.amazonaws.com",
                body: b"",
                now: at("20150830T123600Z"),
            }
        }

        fn verify(self) -> Result<String, Refusal> {
            let h = headers(&[
                ("host", self.host),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", SUITE_AUTH),
            ]);
            verify(
                &self.keys,
                SCOPE,
                &self.method,
                &self.uri,
                &h,
                self.body,
                self.now,
            )
        }
    }

    #[test]
    fn the_suites_get_vanilla_query_order_key_case_verifies() {
        assert_eq!(Suite::new().verify(), Ok(SUITE_KEY.to_string()));
    }

    #[test]
    fn a_derived_signing_key_serves_its_own_secret_and_scope_only() {
        // Derived by the first, found by the second.
        assert_eq!(Suite::new().verify(), Ok(SUITE_KEY.to_string()));
        assert_eq!(Suite::new().verify(), Ok(SUITE_KEY.to_string()));
        let mut other = Suite::new();
        other.keys = Keys(BTreeMap::from([(SUITE_KEY.into(), "other".into())]));
        assert_eq!(other.verify(), Err(Refusal::Mismatch));
        assert_eq!(Suite::new().verify(), Ok(SUITE_KEY.to_string()));
        let key = |secret, date, region, service| signing_key(secret, date, region, service);
        let base = key(SUITE_SECRET, "20150830", "us-east-1", "service");
        assert_eq!(base, key(SUITE_SECRET, "20150830", "us-east-1", "service"));
        for other in [
            key("other", "20150830", "us-east-1", "service"),
            key(SUITE_SECRET, "20150831", "us-east-1", "service"),
            key(SUITE_SECRET, "20150830", "eu-west-1", "service"),
            key(SUITE_SECRET, "20150830", "us-east-1", "execute-api"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn a_changed_byte_anywhere_is_a_mismatch() {
        type Change = fn(&mut Suite);
        let changes: [(&str, Change); 5] = [
            ("query", |s| {
                s.uri = "/?Param2=value2&Param1=value3".parse().unwrap()
            }),
            ("host", |s| s.host = "evil.example.com"),
            ("method", |s| s.method = Method::POST),
            ("body", |s| s.body = b"x"),
            ("secret", |s| {
                s.keys = Keys(BTreeMap::from([(SUITE_KEY.into(), "other".into())]))
            }),
        ];
        for (what, change) in changes {
            let mut suite = Suite::new();
            change(&mut suite);
            assert_eq!(suite.verify(), Err(Refusal::Mismatch), "{what}");
        }
    }

    #[test]
    fn refusals_name_what_api_gateway_names() {
        let uri: Uri = "/".parse().unwrap();
        let now = at("20150830T123600Z");
        let keys = suite_keys();
        let check = |h: HeaderMap, now| verify(&keys, SCOPE, &Method::GET, &uri, &h, b"", now);
        assert_eq!(check(headers(&[("host", "h")]), now), Err(Refusal::Missing));
        assert_eq!(
            Refusal::Missing.error_type(),
            "MissingAuthenticationTokenException"
        );
        let signed = |key: &str, region: &str, service: &str| {
            headers(&[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", &format!("AWS4-HMAC-SHA256 Credential={key}/20150830/{region}/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")),
            ])
        };
        assert_eq!(
            check(signed("AKIDOTHER", "us-east-1", "service"), now),
            Err(Refusal::UnknownKey)
        );
        assert_eq!(
            Refusal::UnknownKey.error_type(),
            "UnrecognizedClientException"
        );
        let wrong_service = check(signed(SUITE_KEY, "us-east-1", "s3"), now).unwrap_err();
        assert_eq!(wrong_service.error_type(), "InvalidSignatureException");
        assert!(
            wrong_service.to_string().contains("'service'"),
            "{wrong_service}"
        );
        let wrong_region = check(signed(SUITE_KEY, "eu-west-1", "service"), now).unwrap_err();
        assert_eq!(wrong_region.error_type(), "InvalidSignatureException");
        let incomplete = check(
            headers(&[("host", "h"), ("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request")]),
            now,
        )
        .unwrap_err();
        assert_eq!(incomplete.error_type(), "IncompleteSignatureException");
        assert!(
            incomplete.to_string().contains("'SignedHeaders'"),
            "{incomplete}"
        );
    }

    #[test]
    fn a_signature_is_good_for_five_minutes_either_way() {
        let at_time = |stamp| Suite {
            now: at(stamp),
            ..Suite::new()
        };
        assert!(
            at_time("20150830T124100Z").verify().is_ok(),
            "five minutes later"
        );
        assert!(
            at_time("20150830T123100Z").verify().is_ok(),
            "five minutes earlier"
        );
        let late = at_time("20150830T124101Z").verify().unwrap_err();
        assert_eq!(
            late.to_string(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T124101Z - 5 min.)"
        );
        let early = at_time("20150830T123059Z").verify().unwrap_err();
        assert!(
            early.to_string().starts_with("Signature not yet current"),
            "{early}"
        );
    }

    #[test]
    fn paths_are_encoded_again_and_queries_sorted_strictly() {
        assert_eq!(
            encode("/prod/@connections/abc%3D", true),
            "/prod/%40connections/abc%253D"
        );
        assert_eq!(canonical_query("b=2&a=x%20y&a=1"), "a=1&a=x%20y&b=2");
        assert_eq!(canonical_query(""), "");
    }
}
