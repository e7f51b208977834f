//! The domain's one error type.
//!
//! Each variant knows its client-facing [`ErrorKind`] (the GraphQL `errorType`)
//! and a message that is safe to show. Store failures keep their source for the
//! logs but are shown to the client only as an internal failure.

use std::fmt;

/// What went wrong, as the client sees it: the GraphQL `errorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input breaks a documented limit or format.
    Validation,
    /// The caller may not do this (not a member, not their identity).
    Unauthorized,
    /// The thing asked for does not exist.
    NotFound,
    /// The request clashes with existing state (taken username, reused id).
    Conflict,
    /// A limit on stored state was reached (members per conversation).
    LimitExceeded,
    /// The caller did this too often; `errorInfo.retryAfterSeconds` says
    /// when it will go through.
    RateLimited,
    /// The caller is suspended or banned; `errorInfo` says until when.
    Suspended,
    /// Something failed on our side; details are in the logs only.
    Internal,
}

/// Shows an error with every source below it (`top: cause: root cause`), for
/// logs: a `Display` of the top error alone loses what actually failed.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'a));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

impl ErrorKind {
    /// The `errorType` string returned to GraphQL clients.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorKind::Validation => "ValidationError",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::LimitExceeded => "LimitExceeded",
            ErrorKind::RateLimited => "RateLimited",
            ErrorKind::Suspended => "UserSuspended",
            ErrorKind::Internal => "InternalFailure",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.error_type())
    }
}

/// Every failure of a use-case.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    LimitExceeded(String),
    /// Over a per-user rate (see [`crate::rates`]): the same request goes
    /// through after `retry_after_secs`.
    #[error("{what}; try again in {retry_after_secs} s")]
    RateLimited { what: String, retry_after_secs: u64 },
    /// A moderator suspended the caller until `until`, or banned them
    /// (`None`): every request is refused (see [`crate::standing`]).
    #[error("{}", suspended_message(.until.as_deref()))]
    Suspended { until: Option<String> },
    /// A storage failure. The source is kept for the logs; the client sees only
    /// that the request failed.
    #[error("storage failure")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The subscribers of a new row could not be read, so nothing was pushed.
    /// The row is stored; a retry with the same id pushes it.
    #[error("pushing to subscribers failed")]
    Push(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    #[error("object storage failure")]
    Media(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Validation(_) => ErrorKind::Validation,
            Error::Unauthorized(_) => ErrorKind::Unauthorized,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::LimitExceeded(_) => ErrorKind::LimitExceeded,
            Error::RateLimited { .. } => ErrorKind::RateLimited,
            Error::Suspended { .. } => ErrorKind::Suspended,
            Error::Store(_) | Error::Push(_) | Error::Media(_) => ErrorKind::Internal,
        }
    }

    /// The message that is safe to return to a client.
    pub fn client_message(&self) -> String {
        match self {
            Error::Store(_) | Error::Media(_) => {
                "internal failure; the request was not completed".to_string()
            }
            Error::Push(_) => {
                "stored, but not yet pushed to subscribers; retry with the same id".to_string()
            }
            other => other.to_string(),
        }
    }

    /// What a client is told besides the message (GraphQL's `errorInfo`):
    /// when a rate-limited request will go through.
    pub fn info(&self) -> Option<serde_json::Value> {
        match self {
            Error::RateLimited {
                retry_after_secs, ..
            } => Some(serde_json::json!({ "retryAfterSeconds": retry_after_secs })),
            Error::Suspended { until } => Some(serde_json::json!({
                "banned": until.is_none(),
                "suspendedUntil": until,
            })),
            _ => None,
        }
    }

    pub fn store(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Store(Box::new(err))
    }

    pub fn media(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Media(Box::new(err))
    }

    pub fn push(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Push(Box::new(err))
    }

    pub(crate) fn validation(msg: impl Into<String>) -> Self {
        Error::Validation(msg.into())
    }

    pub(crate) fn not_member() -> Self {
        Error::Unauthorized("you are not a member of this conversation".to_string())
    }
}

fn suspended_message(until: Option<&str>) -> String {
    match until {
        Some(until) => format!("your account is suspended until {until}"),
        None => "your account is banned".to_string(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
