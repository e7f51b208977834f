//! Pagination: page requests, pages, and the `nextToken` codec.
//!
//! A `nextToken` carries the store's resume key, bound to a *scope* (which list
//! of which conversation or user, in which direction) and signed with
//! HMAC-SHA256. A token that was edited, made up, or taken from another list
//! fails verification with a clear `ValidationError` instead of silently
//! returning someone else's page or skipping items.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::limits;

/// The store's resume key, opaque to the domain.
pub type Cursor = serde_json::Value;

/// Which way a list is read. Messages are ordered by their server ULID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SortDirection {
    #[default]
    #[serde(rename = "ASC")]
    Asc,
    #[serde(rename = "DESC")]
    Desc,
}

impl SortDirection {
    pub fn parse(raw: Option<&str>) -> Result<Self> {
        match raw {
            None | Some("ASC") => Ok(SortDirection::Asc),
            Some("DESC") => Ok(SortDirection::Desc),
            Some(other) => Err(Error::validation(format!(
                "sortDirection must be ASC or DESC (got {other:?})"
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            SortDirection::Asc => "ASC",
            SortDirection::Desc => "DESC",
        }
    }
}

/// What a client asked for: a page size and, after the first page, a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: Option<i64>,
    pub next_token: Option<String>,
}

/// A page request the store can run: a checked size and a verified cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct PageQuery {
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// A page of results, serialized as the schema's `Model*Connection` types.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_token: self.next_token,
        }
    }
}

/// The list a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope<'a> {
    Users,
    UserLinks(&'a str),
    ConvoLinks(&'a str),
    Messages(&'a str, SortDirection),
    Inbox(&'a str),
    /// A conversation's change log: `messageChanges` cursors and tokens.
    Changes(&'a str),
    /// The open reports moderators read.
    Reports,
    /// The moderators' audit log.
    Audit,
}

impl Scope<'_> {
    fn render(&self) -> String {
        match self {
            Scope::Users => "users".to_string(),
            Scope::UserLinks(user) => format!("user-links:{user}"),
            Scope::ConvoLinks(convo) => format!("convo-links:{convo}"),
            Scope::Messages(convo, dir) => format!("messages:{convo}:{}", dir.as_str()),
            Scope::Inbox(user) => format!("inbox:{user}"),
            Scope::Changes(convo) => format!("changes:{convo}"),
            Scope::Reports => "reports".to_string(),
            Scope::Audit => "audit".to_string(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    s: String,
    k: Cursor,
}

/// Signs and verifies `nextToken`s. Every function of a deployment must share
/// the same secret, or tokens from one would fail in another.
#[derive(Clone)]
pub struct PageTokens {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens(..)")
    }
}

impl PageTokens {
    /// The secret should be at least 32 random bytes.
    pub fn new(secret: &[u8]) -> Self {
        PageTokens {
            mac: Hmac::new_from_slice(secret).expect("HMAC takes a key of any length"),
        }
    }

    pub fn seal(&self, scope: &Scope<'_>, cursor: &Cursor) -> String {
        let claims = Claims {
            s: scope.render(),
            k: cursor.clone(),
        };
        let body = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims).expect("a JSON value always serializes"));
        let mut mac = self.mac.clone();
        mac.update(body.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{body}.{sig}")
    }

    /// Checks a request's page size and token against the list it is for.
    pub fn open(
        &self,
        scope: &Scope<'_>,
        request: &PageRequest,
        size_field: &str,
    ) -> Result<PageQuery> {
        let limit = limits::page_size(size_field, request.limit)?;
        let after = match request.next_token.as_deref() {
            None => None,
            Some(token) => Some(self.verify(scope, token)?),
        };
        Ok(PageQuery { limit, after })
    }

    fn verify(&self, scope: &Scope<'_>, token: &str) -> Result<Cursor> {
        self.verify_as(
            scope,
            token,
            "nextToken is invalid, or belongs to another list",
        )
    }

    /// Verifies a token that a client passes in a field other than
    /// `nextToken` (a catch-up cursor), refusing it with `refusal`.
    pub fn verify_as(&self, scope: &Scope<'_>, token: &str, refusal: &str) -> Result<Cursor> {
        let invalid = || Error::validation(refusal);
        if token.len() > limits::MAX_NEXT_TOKEN_CHARS {
            return Err(invalid());
        }
        let (body, sig) = token.split_once('.').ok_or_else(invalid)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| invalid())?;
        let mut mac = self.mac.clone();
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).map_err(|_| invalid())?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| invalid())?;
        let claims: Claims = serde_json::from_slice(&raw).map_err(|_| invalid())?;
        if claims.s != scope.render() {
            return Err(invalid());
        }
        Ok(claims.k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(token: &str) -> PageRequest {
        PageRequest {
            limit: None,
            next_token: Some(token.to_string()),
        }
    }

    #[test]
    fn round_trip_in_scope() {
        let t = PageTokens::new(b"secret");
        let scope = Scope::Messages("c1", SortDirection::Asc);
        let token = t.seal(&scope, &json!({"id": "m1"}));
        let q = t.open(&scope, &req(&token), "limit").unwrap();
        assert_eq!(q.after, Some(json!({"id": "m1"})));
        assert_eq!(q.limit, crate::limits::DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn rejects_foreign_scope_forgery_and_other_secret() {
        let t = PageTokens::new(b"secret");
        let token = t.seal(
            &Scope::Messages("c1", SortDirection::Asc),
            &json!({"id": "m1"}),
        );
        // Another conversation, another direction, another list.
        for scope in [
            Scope::Messages("c2", SortDirection::Asc),
            Scope::Messages("c1", SortDirection::Desc),
            Scope::ConvoLinks("c1"),
        ] {
            let err = t.open(&scope, &req(&token), "limit").unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Validation);
        }
        // A forged body with the old signature.
        let (_, sig) = token.split_once('.').unwrap();
        let forged_body = URL_SAFE_NO_PAD.encode(br#"{"s":"messages:c1:ASC","k":{"id":"m9"}}"#);
        let forged = format!("{forged_body}.{sig}");
        let scope = Scope::Messages("c1", SortDirection::Asc);
        assert!(t.open(&scope, &req(&forged), "limit").is_err());
        // Garbage and a token signed with another secret.
        assert!(t.open(&scope, &req("not-a-token"), "limit").is_err());
        let other = PageTokens::new(b"other").seal(&scope, &json!({"id": "m1"}));
        assert!(t.open(&scope, &req(&other), "limit").is_err());
        assert!(t.open(&scope, &req(&"a".repeat(5000)), "limit").is_err());
    }
}
