//! One error type for every handler, turned into a JSON response
//! `{"error": "...", "error_zh": "...", "detail": ...}` with the right status (the
//! message in English and in Chinese: [`crate::error_zh`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// An error a handler returns.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed; the message says what to fix.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: valid credentials, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such thing.
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 413: too large.
    #[error("{0}")]
    TooLarge(String),
    /// 405: the resource exists but does not take this method (a layer citygrid
    /// maintains itself is not edited through the OGC API).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 412: `If-Match` does not match the resource's current `ETag`.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 415: a body of a media type the route does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 428: the change needs `If-Match`.
    #[error("{0}")]
    PreconditionRequired(String),
    /// 422: well-formed but not acceptable.
    #[error("{0}")]
    Unprocessable(String),
    /// 429: too many attempts (of a `scope`: an account…); `Retry-After` says when
    /// to come back.
    #[error("{message}")]
    TooManyRequests {
        /// What to tell the caller.
        message: String,
        /// Whose budget ran out (`account`).
        scope: &'static str,
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// 503: the database is unavailable; retry later.
    #[error("the database is unavailable; retry later")]
    Unavailable,
    /// 500: a bug or an unexpected failure (logged, not shown in detail).
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The JSON body of an error response: the message in English (`error`) and in
/// Chinese (`error_zh`, [`crate::error_zh`]), and the detail.
pub fn error_body(status: StatusCode, message: &str, detail: Value) -> Json<Value> {
    Json(json!({
        "error": message,
        "error_zh": crate::error_zh::translate(status.as_u16(), message),
        "detail": detail,
    }))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let detail = match &self {
            ApiError::TooManyRequests {
                scope,
                retry_after_secs,
                ..
            } => json!({ "scope": scope, "retry_after_secs": retry_after_secs }),
            _ => Value::Null,
        };
        let mut response = (status, error_body(status, &self.to_string(), detail)).into_response();
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        } = &self
        {
            response.headers_mut().insert(
                "retry-after",
                axum::http::HeaderValue::from(*retry_after_secs),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("5"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Bearer realm=\"citygrid\""),
            );
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => {
                crate::db_health::observe(false);
                ApiError::Unavailable
            }
            sqlx::Error::Database(db) if is_unavailable_code(db.code().as_deref()) => {
                crate::db_health::observe(false);
                ApiError::Unavailable
            }
            sqlx::Error::Database(db) if is_bad_text_code(db.code().as_deref()) => {
                ApiError::BadRequest(format!(
                    "the request holds text PostgreSQL cannot store ({}): remove NUL characters and invalid UTF-8",
                    db.message()
                ))
            }
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

/// A refused filter, or a filter whose evaluation needed more work than one request
/// may do, is the client's to fix (400, the parser's message with its offset or JSON
/// pointer); a cancelled evaluation means the request timed out or its client left,
/// so nobody reads the answer (503).
impl From<citygrid_cql2::Error> for ApiError {
    fn from(e: citygrid_cql2::Error) -> Self {
        match e {
            citygrid_cql2::Error::Text(_)
            | citygrid_cql2::Error::Json(_)
            | citygrid_cql2::Error::Stopped(citygrid_cql2::Stopped::Budget(_)) => {
                ApiError::BadRequest(e.to_string())
            }
            citygrid_cql2::Error::Stopped(citygrid_cql2::Stopped::Cancelled) => {
                tracing::debug!("items evaluation stopped: {e}");
                ApiError::Unavailable
            }
        }
    }
}

/// A tile address outside the tile matrix (zoom above the maximum, column or row
/// out of range) is the client's to fix (400, the message says the valid range).
impl From<citygrid_geo::tms::TmsError> for ApiError {
    fn from(e: citygrid_geo::tms::TmsError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

/// A blocking task (password hashing, evaluation, encoding) that panicked or was
/// cancelled is the server's fault (500, the detail logged).
impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// A shared lock (the layer index) poisoned by a request that panicked while holding it
/// is the server's fault (500).
impl<T> From<std::sync::PoisonError<T>> for ApiError {
    fn from(_: std::sync::PoisonError<T>) -> Self {
        ApiError::Internal("layer index lock poisoned".into())
    }
}

/// A worker task (query, encoding) that ended without answering is the server's fault
/// (500).
impl From<tokio::sync::oneshot::error::RecvError> for ApiError {
    fn from(_: tokio::sync::oneshot::error::RecvError) -> Self {
        ApiError::Internal("the query task stopped".into())
    }
}

fn is_unavailable_code(code: Option<&str>) -> bool {
    // 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now,
    // 08xxx connection exceptions, 53300 too many connections, 25006 read-only
    // transaction (a write reached a standby: during a failover, before the new
    // primary is promoted).
    matches!(code, Some(c) if c.starts_with("57P") || c.starts_with("08") || c == "53300" || c == "25006")
}

fn is_bad_text_code(code: Option<&str>) -> bool {
    // 22021 character not in repertoire, 22P05 untranslatable character (a NUL in text
    // or JSON): the client's input, not a server fault. The router refuses NULs in
    // bodies and URLs up front; this is the backstop.
    matches!(code, Some("22021" | "22P05"))
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
