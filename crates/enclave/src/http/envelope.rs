//! Vault's answers: the response envelope around `data`, batches, 204s;
//! and what a request's audit entry learns from its answer ([`Facts`],
//! told through the request's [`Answering`]).
//!
//! Wire rules (Vault's): answers with data come in Vault's envelope;
//! writes without data answer 204; errors are `{"errors": [...]}`
//! (`crate::http::error`).

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

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

/// What a request's audit entry learns from its answer (and from the
/// guard): the key version the answer names, and whether the request
/// wrote to the store (its entry must then be on disk before the answer
/// leaves).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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

/// Where a request's [`Facts`] go: the audit layer puts one in the
/// request, the guard and the answer fill it, and the audit layer reads
/// it once the answer is made (not a response extension: the request
/// carries it from the layer that records it to the code that knows).
#[derive(Debug, Default)]
pub struct FactsSlot(Mutex<Facts>);

impl FactsSlot {
    /// Adds `facts` to those already told.
    pub fn tell(&self, facts: Facts) {
        let mut told = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *told = told.and(facts);
    }

    /// What was told.
    pub fn told(&self) -> Facts {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A handler's side of its request's audit entry: the request id the
/// audit layer gave it (a fresh one if it was not audited), for the
/// envelope (the log and the answer agree), and the slot the answer's
/// [`Facts`] go to. Every envelope function takes it.
pub struct Answering {
    id: RequestId,
    facts: Option<Arc<FactsSlot>>,
}

impl Answering {
    /// Tells the audit entry `facts`.
    pub fn tell(&self, facts: Facts) {
        if let Some(slot) = &self.facts {
            slot.tell(facts);
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Answering {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Answering {
            id: parts
                .extensions
                .get::<RequestId>()
                .copied()
                .unwrap_or_default(),
            // Taken, not cloned: one handler answers.
            facts: parts.extensions.remove::<Arc<FactsSlot>>(),
        })
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
    warnings: Option<&[String]>,
) -> serde_json::Result<W> {
    body.write_all(b"{\"request_id\":\"")
        .map_err(serde_json::Error::io)?;
    // Hex digits and dashes: nothing to escape.
    body.write_all(request_id.as_str().as_bytes())
        .map_err(serde_json::Error::io)?;
    body.write_all(b"\",\"lease_id\":\"\",\"renewable\":false,\"lease_duration\":0,\"data\":")
        .map_err(serde_json::Error::io)?;
    serde_json::to_writer(&mut body, data)?;
    body.write_all(b",\"wrap_info\":null,\"warnings\":")
        .map_err(serde_json::Error::io)?;
    serde_json::to_writer(&mut body, &warnings)?;
    body.write_all(b",\"auth\":null")
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
    warned_envelope_bytes(request_id, data, errors, None)
}

fn warned_envelope_bytes<T: Serialize>(
    request_id: RequestId,
    data: &T,
    errors: Option<&[String]>,
    warnings: Option<&[String]>,
) -> serde_json::Result<Vec<u8>> {
    write_envelope(
        Vec::with_capacity(ENVELOPE_CAPACITY),
        request_id,
        data,
        errors,
        warnings,
    )
}

/// `data` in Vault's envelope with `status` (and `errors`, for a batch
/// with failed items), telling the audit entry `facts`.
pub fn reply<T: Serialize>(
    id: Answering,
    status: StatusCode,
    data: &T,
    errors: Option<&[String]>,
    facts: Facts,
    carries: Carries,
) -> Response {
    reply_warned(id, status, data, errors, None, facts, carries)
}

/// [`reply`] with Vault's `warnings`, if any.
fn reply_warned<T: Serialize>(
    id: Answering,
    status: StatusCode,
    data: &T,
    errors: Option<&[String]>,
    warnings: Option<&[String]>,
    facts: Facts,
    carries: Carries,
) -> Response {
    id.tell(facts);
    let body = match carries {
        Carries::Public => warned_envelope_bytes(id.id, data, errors, warnings).map(Body::from),
        Carries::Secrets => write_envelope(
            SecretBuf::with_capacity(ENVELOPE_CAPACITY),
            id.id,
            data,
            errors,
            warnings,
        )
        .map(SecretBuf::into_body),
    };
    match body {
        Ok(body) => (
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => Error::internal("answer", e).into_response(),
    }
}

/// `data` in Vault's envelope, status 200.
pub fn ok<T: Serialize>(id: Answering, data: &T, facts: Facts) -> Response {
    reply(id, StatusCode::OK, data, None, facts, Carries::Public)
}

/// `data`, which holds secrets, in Vault's envelope, status 200; the body
/// is wiped once sent.
pub fn ok_secret<T: Serialize>(id: Answering, data: &T, facts: Facts) -> Response {
    reply(id, StatusCode::OK, data, None, facts, Carries::Secrets)
}

/// Vault's envelope, status 200, with some top-level fields set (`auth`,
/// or the names Vault repeats at the top level). Rare answers: the
/// envelope is read back into a tree to set them.
pub fn ok_with_fields<T: Serialize>(
    id: Answering,
    data: &T,
    fields: &[(&str, serde_json::Value)],
    facts: Facts,
) -> Response {
    id.tell(facts);
    let body = envelope_bytes(id.id, data, None)
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes));
    match body {
        Ok(mut body) => {
            if let Some(obj) = body.as_object_mut() {
                for (k, v) in fields {
                    obj.insert((*k).to_string(), v.clone());
                }
            }
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(e) => Error::internal("answer", e).into_response(),
    }
}

/// A key operation's answer in the envelope: 200, or `on_failure` for a
/// batch in which an item failed (Vault: 400 for encrypt and decrypt, 200
/// for the rest, the failed items carrying their `error`); the audit entry
/// learns its key version and whether it wrote.
pub fn done<T: Serialize>(id: Answering, done: &Done<T>, on_failure: StatusCode) -> Response {
    let status = if done.shape.failed {
        on_failure
    } else {
        StatusCode::OK
    };
    done_as(id, done, status, None)
}

/// A key operation's answer in the envelope with `status` and Vault's
/// `warnings`, if any.
pub fn done_as<T: Serialize>(
    id: Answering,
    done: &Done<T>,
    status: StatusCode,
    warnings: Option<&[String]>,
) -> Response {
    reply_warned(
        id,
        status,
        &done.output,
        None,
        warnings,
        Facts::of(done),
        done.shape.carries,
    )
}

/// 204, for writes that return nothing.
pub fn no_content(id: Answering) -> Response {
    no_content_after(id, Facts::WROTE)
}

/// 204, for a write whose audit entry names what it did (`facts`).
pub fn no_content_after(id: Answering, facts: Facts) -> Response {
    id.tell(facts);
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::core::batch::Answer;
    use crate::core::transit::Shape;
    use serde_json::{json, Value};

    /// Answers for request `id`, told to no audit entry.
    fn to(id: RequestId) -> Answering {
        Answering { id, facts: None }
    }

    /// A key operation's answer tells the request's slot its key version
    /// and whether it wrote; the guard's write adds to it.
    #[test]
    fn the_answer_tells_the_slot() {
        let slot = Arc::new(FactsSlot::default());
        slot.tell(Facts::WROTE);
        let answering = Answering {
            id: RequestId::new(),
            facts: Some(slot.clone()),
        };
        let ran = Done {
            output: json!({"ciphertext": "vault:v3:AAAA"}),
            shape: Shape {
                key_version: Some(3),
                ..shape(Carries::Public, false)
            },
            wrote: false,
        };
        drop(done(answering, &ran, StatusCode::OK));
        assert_eq!(
            slot.told(),
            Facts {
                key_version: Some(3),
                durable: true
            }
        );
    }

    fn shape(carries: Carries, failed: bool) -> Shape {
        Shape {
            carries,
            key_version: None,
            failed,
            partial: failed,
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

        assert_wiped_after_use(ok_secret(to(id), &data, Facts::default()), &expected);
        let one = |carries| Done {
            output: data.clone(),
            shape: shape(carries, false),
            wrote: false,
        };
        assert_wiped_after_use(
            done(to(id), &one(Carries::Secrets), StatusCode::OK),
            &expected,
        );

        // Encrypt's answers carry no secret: no wipe on that path.
        drop(body_of(ok(to(id), &data, Facts::default())));
        drop(body_of(done(to(id), &one(Carries::Public), StatusCode::OK)));
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
                succeeded: true,
            },
            shape: shape(Carries::Secrets, true),
            wrote: false,
        };
        let response = done(to(id), &batch, StatusCode::BAD_REQUEST);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_wiped_after_use(response, &expected);
    }
}
