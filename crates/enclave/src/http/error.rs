//! The one place an [`Error`] becomes an HTTP answer: its status, and
//! `{"errors": [message]}` (Vault's shape). Client-side errors say what is
//! wrong; for our own faults the client learns only what failed, and the
//! detail goes to the log.

use axum::extract::Request;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::error::Error;

/// The status each kind of error answers with.
pub fn status(e: &Error) -> StatusCode {
    match e {
        Error::Invalid(_) => StatusCode::BAD_REQUEST,
        Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
        Error::Busy(_) | Error::Sealed(_) | Error::Conflict(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::WrongMethod(_) => StatusCode::METHOD_NOT_ALLOWED,
        Error::Denied | Error::Unauthenticated | Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Storage { .. } | Error::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        Error::Platform { .. } => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if matches!(
            self,
            Error::Storage { .. } | Error::Platform { .. } | Error::Internal { .. }
        ) {
            tracing::error!("{self}");
        }
        let mut response = (
            status(&self),
            Json(serde_json::json!({ "errors": [self.public_message()] })),
        )
            .into_response();
        match self {
            Error::RateLimited(seconds) => {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(seconds));
                response.extensions_mut().insert(NoValidToken);
            }
            Error::Unauthenticated => {
                response.extensions_mut().insert(NoValidToken);
            }
            Error::Busy(_) => crate::metrics::get().refused(crate::metrics::Limit::Busy),
            _ => {}
        }
        response
    }
}

/// On an answer refused for want of a valid token (403 or 429): the audit
/// layer counts it per address instead of recording it alone.
#[derive(Clone, Copy, Debug)]
pub struct NoValidToken;

/// Paths are echoed back shortened, so an error never mirrors a huge input.
fn shown_path(req: &Request) -> String {
    let path = req.uri().path();
    match path.char_indices().nth(100) {
        Some((cut, _)) => format!("{}...", &path[..cut]),
        None => path.to_string(),
    }
}

/// Any path that is no route of ours.
pub async fn not_found(req: Request) -> Error {
    Error::not_found(format!(
        "no such route: {} {}",
        req.method(),
        shown_path(&req)
    ))
}

/// A route of ours, with a method it does not take.
pub async fn method_not_allowed(req: Request) -> Error {
    Error::WrongMethod(format!(
        "method {} is not allowed on {}",
        req.method(),
        shown_path(&req)
    ))
}
