//! The one place where errors become HTTP responses.
//!
//! Every handler returns [`ApiError`]; its kind decides the status code and the stable
//! `error` code of the JSON body `{"error": code, "message": text}`. Internal errors are
//! logged with their detail and answered with a generic message: internals never leak.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::core::json::{to_json_string, JsonValue};
use crate::erasure::EraseError;
use crate::log::view::{int, s};
use crate::log::{AppendError, LogError};

/// The kinds of failure a client can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request is malformed (query, path, JSON syntax).
    BadRequest,
    /// 401: no or unknown bearer token.
    Unauthorized,
    /// 403: the token may not do this.
    Forbidden,
    /// 404: no such event, proof, tile or route.
    NotFound,
    /// 409: a different event already has this event_id; the body is already erased.
    Conflict,
    /// 413: the body or an event is too large.
    TooLarge,
    /// 422: well-formed JSON that is not a valid event.
    Invalid,
    /// 429: the token's rate limit is exhausted.
    RateLimited,
    /// 503: storage unavailable (disk full, read-only, I/O error) or shutting down.
    Unavailable,
    /// 500: a bug; details are logged, not sent.
    Internal,
    /// 408: the client was too slow to send its request.
    Timeout,
    /// 405: the route exists, the method does not (the `Allow` header lists the ones that do).
    MethodNotAllowed,
}

impl ErrorKind {
    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Timeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Invalid => "invalid_event",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
            ErrorKind::Timeout => "timeout",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
        }
    }

    /// The kind answered with `status`, if any.
    pub fn from_status(status: StatusCode) -> Option<ErrorKind> {
        [
            ErrorKind::BadRequest,
            ErrorKind::Unauthorized,
            ErrorKind::Forbidden,
            ErrorKind::NotFound,
            ErrorKind::Conflict,
            ErrorKind::TooLarge,
            ErrorKind::Invalid,
            ErrorKind::RateLimited,
            ErrorKind::Unavailable,
            ErrorKind::Internal,
            ErrorKind::Timeout,
            ErrorKind::MethodNotAllowed,
        ]
        .into_iter()
        .find(|k| k.status() == status)
    }
}

/// An error answered to an HTTP client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// What kind.
    pub kind: ErrorKind,
    /// A message safe to show the client.
    pub message: String,
    /// Machine-readable facts added to the body beside `error` and `message`.
    pub fields: Vec<(String, JsonValue)>,
}

impl ApiError {
    /// An error of `kind` with a client-safe message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// Adds a field to the error body.
    pub fn with(mut self, name: &str, value: JsonValue) -> ApiError {
        self.fields.push((name.to_string(), value));
        self
    }

    /// 400.
    pub fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::BadRequest, m)
    }

    /// 404.
    pub fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::NotFound, m)
    }

    /// 422.
    pub fn invalid(m: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Invalid, m)
    }
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> ApiError {
        match e {
            LogError::NotFound(m) => ApiError::not_found(m),
            LogError::Invalid(m) => ApiError::bad_request(m),
            LogError::NoSpace(m) => {
                tracing::error!(error = %m, "storage refuses writes");
                ApiError::new(ErrorKind::Unavailable, "the log cannot write right now (storage full or read-only); nothing was acknowledged: retry later with the same event_id")
            }
            LogError::Closed => ApiError::new(ErrorKind::Unavailable, "the log is shutting down"),
            LogError::Storage(m) => {
                tracing::error!(error = %m, "storage error");
                ApiError::new(
                    ErrorKind::Unavailable,
                    "storage error; retry with the same event_id",
                )
            }
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::new(ErrorKind::Internal, "internal error")
            }
        }
    }
}

impl From<AppendError> for ApiError {
    fn from(e: AppendError) -> ApiError {
        match e {
            AppendError::Invalid(m) => ApiError::invalid(m),
            AppendError::Conflict(_) => ApiError::new(ErrorKind::Conflict, e.to_string()),
        }
    }
}

impl From<EraseError> for ApiError {
    fn from(e: EraseError) -> ApiError {
        match e {
            EraseError::Invalid(m) => ApiError::invalid(m),
            EraseError::IsErasure(_) => ApiError::invalid(e.to_string()),
            EraseError::NoBody(_) => ApiError::new(ErrorKind::Conflict, e.to_string()),
            EraseError::AlreadyErased {
                index,
                ref event_id,
                erased_by,
                ref reason,
            } => {
                let (event_id, reason) = (event_id.clone(), reason.clone());
                ApiError::new(ErrorKind::Conflict, e.to_string())
                    .with("erased_index", int(index))
                    .with("erased_event_id", s(event_id))
                    .with("erased_by", int(erased_by))
                    .with("reason", s(reason))
            }
            EraseError::OtherErasure { erasure, .. } => {
                let err = ApiError::new(ErrorKind::Conflict, e.to_string());
                match erasure {
                    Some(i) => err.with("erasure_index", int(i)),
                    None => err,
                }
            }
            EraseError::Log(l) => l.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut members = vec![
            ("error".to_string(), s(self.kind.code())),
            ("message".to_string(), s(self.message)),
        ];
        members.extend(self.fields);
        let body = to_json_string(&JsonValue::Object(members));
        let mut r = (self.kind.status(), body).into_response();
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        r
    }
}
