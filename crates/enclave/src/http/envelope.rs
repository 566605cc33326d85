//! Vault's answers: the response envelope around `data`, batches, 204s;
//! and what a request's audit entry learns from its answer ([`Facts`]).
//!
//! Wire rules (Vault's): answers with data come in Vault's envelope;
//! writes without data answer 204; errors are `{"errors": [...]}`
//! (`crate::http::error`).

use std::io::Write;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::secret::SecretBuf;
pub use crate::core::transit::Carries;
use crate::core::transit::Done;
use crate::error::Error;
use crate::services::audit::RequestId;

/// What a request's audit entry learns from its answer (a response
/// extension, set by the handler and the guard): the key version the
/// answer names, and whether the request wrote to the store (its entry
/// must then be on disk before the answer leaves).
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts {
    pub key_version: Option<u64>,
    pub durable: bool,
}

impl Facts {
    /// A request that changed state.
    pub const WROTE: Facts = Facts {
        key_version: None,
        durable: true,
    };

    /// A key operation's: the key version its answer names, and whether it
    /// wrote.
    pub fn of<T>(done: &Done<T>) -> Facts {
        Facts {
            key_version: done.shape.key_version,
            durable: done.wrote,
        }
    }

    /// These facts, with `other`'s added.
    pub fn and(self, other: Facts) -> Facts {
        Facts {
            key_version: self.key_version.or(other.key_version),
            durable: self.durable || other.durable,
        }
    }
}

/// Adds `facts` to what `response` already tells the audit entry.
pub fn with_facts(mut response: Response, facts: Facts) -> Response {
    let known = response
        .extensions()
        .get::<Facts>()
        .copied()
        .unwrap_or_default();
    response.extensions_mut().insert(known.and(facts));
    response
}

/// The request id the audit layer gave this request (a fresh one if it
/// was not audited), for the envelope: the log and the answer agree.
impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .copied()
            .unwrap_or_default())
    }
}

/// Vault's response envelope around `data`: the answer to every `/v1`
/// call. Only `request_id`, `data` and `errors` vary, so the rest is
/// written as the constant text it is (serde escaped ten key names and
/// values per answer); `data` and `errors` go through serde_json.
fn write_envelope<W: Write, T: Serialize>(
    mut body: W,
    request_id: RequestId,
    data: &T,
    errors: Option<&[String]>,
) -> serde_json::Result<W> {
    body.write_all(b"{\"request_id\":\"")
        .map_err(serde_json::Error::io)?;
    // Hex digits and dashes: nothing to escape.
    body.write_all(request_id.as_str().as_bytes())
        .map_err(serde_json::Error::io)?;
    body.write_all(b"\",\"lease_id\":\"\",\"renewable\":false,\"lease_duration\":0,\"data\":")
        .map_err(serde_json::Error::io)?;
    serde_json::to_writer(&mut body, data)?;
    body.write_all(b",\"wrap_info\":null,\"warnings\":null,\"auth\":null")
        .map_err(serde_json::Error::io)?;
    if let Some(errors) = errors {
        body.write_all(b",\"errors\":")
            .map_err(serde_json::Error::io)?;
        serde_json::to_writer(&mut body, errors)?;
    }
    body.write_all(b"}").map_err(serde_json::Error::io)?;
    Ok(body)
}

/// axum::Json's buffer starts at 128 bytes and a single answer's envelope
/// is ~300: start at 512 instead of growing it twice.
const ENVELOPE_CAPACITY: usize = 512;

/// The envelope as a plain buffer, for answers without secrets.
fn envelope_bytes<T: Serialize>(
    request_id: RequestId,
    data: &T,
    errors: Option<&[String]>,
) -> serde_json::Result<Vec<u8>> {
    write_envelope(
        Vec::with_capacity(ENVELOPE_CAPACITY),
        request_id,
        data,
        errors,
    )
}

/// `data` in Vault's envelope with `status` (and `errors`, for a batch
/// with failed items), telling the audit entry `facts`.
pub fn reply<T: Serialize>(
    id: RequestId,
    status: StatusCode,
    data: &T,
    errors: Option<&[String]>,
    facts: Facts,
    carries: Carries,
) -> Response {
    let body = match carries {
        Carries::Public => envelope_bytes(id, data, errors).map(Body::from),
        Carries::Secrets => write_envelope(
            SecretBuf::with_capacity(ENVELOPE_CAPACITY),
            id,
            data,
            errors,
        )
        .map(SecretBuf::into_body),
    };
    match body {
        Ok(body) => with_facts(
            (
                status,
                [(
                    axum::http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            facts,
        ),
        Err(e) => Error::internal("answer", e).into_response(),
    }
}

/// `data` in Vault's envelope, status 200.
pub fn ok<T: Serialize>(id: RequestId, data: &T, facts: Facts) -> Response {
    reply(id, StatusCode::OK, data, None, facts, Carries::Public)
}

/// `data`, which holds secrets, in Vault's envelope, status 200; the body
/// is wiped once sent.
pub fn ok_secret<T: Serialize>(id: RequestId, data: &T, facts: Facts) -> Response {
    reply(id, StatusCode::OK, data, None, facts, Carries::Secrets)
}

/// Vault's envelope, status 200, with some top-level fields set (`auth`,
/// or the names Vault repeats at the top level). Rare answers: the
/// envelope is read back into a tree to set them.
pub fn ok_with_fields<T: Serialize>(
    id: RequestId,
    data: &T,
    fields: &[(&str, serde_json::Value)],
    facts: Facts,
) -> Response {
    let body = envelope_bytes(id, data, None)
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes));
    match body {
        Ok(mut body) => {
            if let Some(obj) = body.as_object_mut() {
                for (k, v) in fields {
                    obj.insert((*k).to_string(), v.clone());
                }
            }
            with_facts((StatusCode::OK, axum::Json(body)).into_response(), facts)
        }
        Err(e) => Error::internal("answer", e).into_response(),
    }
}

/// A key operation's answer in the envelope: 200, or `on_failure` for a
/// batch in which an item failed (Vault: 400 for encrypt and decrypt, 200
/// for the rest, the failed items carrying their `error`); the audit entry
/// learns its key version and whether it wrote.
pub fn done<T: Serialize>(id: RequestId, done: &Done<T>, on_failure: StatusCode) -> Response {
    let status = if done.shape.failed {
        on_failure
    } else {
        StatusCode::OK
    };
    reply(
        id,
        status,
        &done.output,
        None,
        Facts::of(done),
        done.shape.carries,
    )
}

/// 204, for writes that return nothing.
pub fn no_content() -> Response {
    with_facts(StatusCode::NO_CONTENT.into_response(), Facts::WROTE)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::core::batch::Answer;
    use crate::core::transit::Shape;
    use serde_json::{json, Value};

    fn shape(carries: Carries, failed: bool) -> Shape {
        Shape {
            carries,
            key_version: None,
            failed,
            released: false,
        }
    }

    #[test]
    fn the_envelope_is_vaults_json() {
        let id = RequestId::new();
        let data = json!({"ciphertext": "vault:v1:AAAA", "note": "a \"quoted\"\n\\ line"});
        let body: Value =
            serde_json::from_slice(&envelope_bytes(id, &data, None).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "request_id": id.as_str(),
                "lease_id": "",
                "renewable": false,
                "lease_duration": 0,
                "data": data,
                "wrap_info": null,
                "warnings": null,
                "auth": null,
            })
        );
        // Vault's key order, as serde wrote it from a struct before.
        let text = String::from_utf8(envelope_bytes(id, &data, None).unwrap()).unwrap();
        let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
        let order = [
            "request_id",
            "lease_id",
            "renewable",
            "lease_duration",
            "data",
            "wrap_info",
            "warnings",
            "auth",
        ];
        assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{text}");

        let errors = ["item 1: bad \"input\"".to_string()];
        let body: Value =
            serde_json::from_slice(&envelope_bytes(id, &json!({}), Some(&errors)).unwrap())
                .unwrap();
        assert_eq!(body["errors"], json!(errors));
        assert_eq!(body["auth"], Value::Null);
    }

    #[test]
    fn secret_answers_are_wiped_after_use_and_public_ones_are_left() {
        use crate::http::secret::tests::{assert_wiped_after_use, body_of, wiped};
        let id = RequestId::new();
        let data = json!({"plaintext": "c2VjcmV0"});
        let expected = envelope_bytes(id, &data, None).unwrap();

        assert_wiped_after_use(ok_secret(id, &data, Facts::default()), &expected);
        let one = |carries| Done {
            output: data.clone(),
            shape: shape(carries, false),
            wrote: false,
        };
        assert_wiped_after_use(done(id, &one(Carries::Secrets), StatusCode::OK), &expected);

        // Encrypt's answers carry no secret: no wipe on that path.
        drop(body_of(ok(id, &data, Facts::default())));
        drop(body_of(done(id, &one(Carries::Public), StatusCode::OK)));
        assert_eq!(wiped(), []);
    }

    #[test]
    fn a_batch_with_secrets_is_wiped_even_when_an_item_failed() {
        use crate::http::secret::tests::assert_wiped_after_use;
        #[derive(Serialize)]
        struct Batch<'a> {
            batch_results: &'a [Value],
        }
        let id = RequestId::new();
        let results = vec![json!({"plaintext": "c2VjcmV0"}), json!({"error": "bad"})];
        let expected = envelope_bytes(
            id,
            &Batch {
                batch_results: &results,
            },
            None,
        )
        .unwrap();
        let batch = Done {
            output: Answer::Batch {
                results,
                first_error: Some("item 1: bad".to_string()),
            },
            shape: shape(Carries::Secrets, true),
            wrote: false,
        };
        let response = done(id, &batch, StatusCode::BAD_REQUEST);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_wiped_after_use(response, &expected);
    }
}
