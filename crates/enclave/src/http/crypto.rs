//! The routes that use keys (and two that need none) under
//! `/v1/transit`: encrypt, decrypt, rewrap, datakey, sign, verify, hmac,
//! random, hash. Each key route is one operation type of
//! [`crate::core::transit`] and one generic handler ([`transit_op`]): the
//! request is parsed into the operation ([`Route`]), run by
//! [`transit::run`], and its answer written in Vault's envelope.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::app::AppState;
use super::body::{json_body_named, Posted};
use super::envelope::{done_as, ok, ok_with_fields, Answering, Facts};
use super::layers::{Authed, Named};
use crate::core::crypt::Item;
use crate::core::input::unrecognized_warning;
use crate::core::release::DatakeyBody;
use crate::core::sign::{self, Op};
use crate::core::transit::crypt::{Datakey, Decrypt, Encrypt, Rewrap};
use crate::core::transit::sign::{Kind, Signing};
use crate::core::transit::{self, Done, KeyOp};
use crate::core::utility;
use crate::error::Error;
use crate::state::tokens::Identity;

/// How a route's request becomes its operation.
pub trait Route: KeyOp + Sized {
    /// The body it reads.
    type Body: DeserializeOwned + Serialize + Default + Send;
    /// The path's parameters besides the key name.
    type Path: DeserializeOwned + Send;
    /// Vault's status for a batch in which an item failed (400 for encrypt
    /// and decrypt, 200 for the rest).
    const ON_FAILURE: StatusCode = StatusCode::OK;
    /// The body fields the route knows (Vault's, and minikms's own): the
    /// others are ignored with Vault's warning naming them.
    const FIELDS: &'static [&'static str];

    /// The body with the path's parameters that stand for body fields, so
    /// that the token's parameter constraints see them.
    fn posted(body: Posted, _path: &Self::Path) -> Posted {
        body
    }

    fn parse(body: Self::Body, path: Self::Path, who: &Identity) -> Result<Self, Error>;

    /// Vault's `partial_failure_response_code`, on the routes that take it.
    fn partial_failure_code(_body: &Self::Body) -> Result<Option<i64>, Error> {
        Ok(None)
    }
}

/// The answer's status: 200, or for a batch in which an item failed the
/// route's; a batch in which some items failed and others did not answers
/// `partial_failure_response_code` if given, and a code out of 1 to 599
/// the usual status with Vault's warning.
fn status_of<T>(
    ran: &Done<T>,
    on_failure: StatusCode,
    code: Option<i64>,
    warnings: &mut Vec<String>,
) -> StatusCode {
    if !ran.shape.failed {
        return StatusCode::OK;
    }
    let Some(code) = code.filter(|_| ran.shape.partial) else {
        return on_failure;
    };
    let status = u16::try_from(code)
        .ok()
        .filter(|c| (1..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok());
    status.unwrap_or_else(|| {
        warnings.push(format!(
            "invalid HTTP response code override from partial_failure_response_code, reverting to {}",
            on_failure.as_u16()
        ));
        on_failure
    })
}

/// No path parameter besides the key name.
#[derive(Deserialize)]
pub struct NoPath {}

/// `datakey/KIND/NAME`.
#[derive(Deserialize)]
pub struct KindPath {
    kind: String,
}

/// `sign/NAME` or `sign/NAME/ALG` (and verify, hmac).
#[derive(Deserialize)]
pub struct AlgPath {
    alg: Option<String>,
}

impl Route for Encrypt {
    type Body = Item;
    type Path = NoPath;
    const ON_FAILURE: StatusCode = StatusCode::BAD_REQUEST;
    const FIELDS: &'static [&'static str] = &[
        "plaintext",
        "context",
        "key_version",
        "type",
        "convergent_encryption",
        "batch_input",
        "associated_data",
        "partial_failure_response_code",
    ];

    fn parse(body: Item, _: NoPath, _: &Identity) -> Result<Self, Error> {
        Encrypt::new(body)
    }

    fn partial_failure_code(body: &Item) -> Result<Option<i64>, Error> {
        body.partial_failure_code()
    }
}

impl Route for Decrypt {
    type Body = Item;
    type Path = NoPath;
    const ON_FAILURE: StatusCode = StatusCode::BAD_REQUEST;
    // `recipient`: minikms's attested release (docs/key-release.md).
    const FIELDS: &'static [&'static str] = &[
        "ciphertext",
        "context",
        "associated_data",
        "batch_input",
        "partial_failure_response_code",
        "recipient",
    ];

    fn parse(body: Item, _: NoPath, who: &Identity) -> Result<Self, Error> {
        Decrypt::new(body, who)
    }

    fn partial_failure_code(body: &Item) -> Result<Option<i64>, Error> {
        body.partial_failure_code()
    }
}

impl Route for Rewrap {
    type Body = Item;
    type Path = NoPath;
    const FIELDS: &'static [&'static str] =
        &["ciphertext", "context", "key_version", "batch_input"];

    fn parse(body: Item, _: NoPath, _: &Identity) -> Result<Self, Error> {
        Rewrap::new(body)
    }
}

impl Route for Datakey {
    type Body = DatakeyBody;
    type Path = KindPath;
    const FIELDS: &'static [&'static str] = &["context", "bits", "key_version", "recipient"];

    fn parse(body: DatakeyBody, path: KindPath, who: &Identity) -> Result<Self, Error> {
        Datakey::new(&path.kind, body, who)
    }
}

impl<K: Kind> Route for Signing<K> {
    type Body = sign::Request;
    type Path = AlgPath;
    const FIELDS: &'static [&'static str] = match K::OP {
        Op::Hmac => &["input", "key_version", "algorithm", "batch_input"],
        Op::Sign => &[
            "input",
            "context",
            "hash_algorithm",
            "algorithm",
            "key_version",
            "prehashed",
            "signature_algorithm",
            "marshaling_algorithm",
            "salt_length",
            "batch_input",
        ],
        Op::Verify => &[
            "input",
            "signature",
            "hmac",
            "context",
            "hash_algorithm",
            "algorithm",
            "prehashed",
            "signature_algorithm",
            "marshaling_algorithm",
            "salt_length",
            "batch_input",
        ],
    };

    fn posted(body: Posted, path: &AlgPath) -> Posted {
        body.with_path(Self::PATH_FIELD, path.alg.as_deref())
    }

    fn parse(body: sign::Request, path: AlgPath, _: &Identity) -> Result<Self, Error> {
        Signing::new(body, path.alg)
    }
}

/// `POST /v1/transit/OP/...NAME...`: operation `Op` on the key the
/// request's classification names.
pub async fn transit_op<Op: Route>(
    State(app): State<AppState>,
    id: Answering,
    Authed(who): Authed,
    named: Named,
    Path(path): Path<Op::Path>,
    body: Posted,
) -> Result<Response, Error> {
    let (body, names) = json_body_named(Op::posted(body, &path)).await?;
    let code = Op::partial_failure_code(&body)?;
    let op = Op::parse(body, path, &who)?;
    let ran = transit::run(&app.state, named.key()?, op).await?;
    let mut warnings: Vec<String> =
        unrecognized_warning(names.iter().map(String::as_str), Op::FIELDS)
            .into_iter()
            .collect();
    let status = status_of(&ran, Op::ON_FAILURE, code, &mut warnings);
    let warnings = (!warnings.is_empty()).then_some(warnings.as_slice());
    let answer = done_as(id, &ran, status, warnings);
    Ok(match &who.record {
        Some(rec) if ran.shape.released => super::attest::with_attested(answer, None, rec),
        _ => answer,
    })
}

/// `random`, `random/BYTES`, `random/SOURCE` or `random/SOURCE/BYTES`.
#[derive(Deserialize)]
pub struct RandomPath {
    a: Option<String>,
    b: Option<String>,
}

/// `POST /v1/transit/random[/SOURCE][/BYTES]`.
pub async fn random(
    id: Answering,
    Path(path): Path<RandomPath>,
    body: Posted,
) -> Result<Response, Error> {
    let (source, bytes) = match (path.a, path.b) {
        (Some(a), None) if a.bytes().all(|b| b.is_ascii_digit()) => (None, Some(a)),
        (a, b) => (a, b),
    };
    let body = body
        .with_path("source", source.as_deref())
        .with_path("bytes", bytes.as_deref());
    let (req, names): (utility::RandomRequest, _) = json_body_named(body).await?;
    let random = utility::random(source, bytes, req)?;
    Ok(ok_warned(
        id,
        &random,
        &names,
        &["bytes", "format", "source"],
    ))
}

/// `POST /v1/transit/hash[/ALG]`.
pub async fn hash(
    id: Answering,
    Path(path): Path<AlgPath>,
    body: Posted,
) -> Result<Response, Error> {
    let alg = path.alg;
    let (req, names): (utility::HashRequest, _) =
        json_body_named(body.with_path("algorithm", alg.as_deref())).await?;
    let sum = utility::hash(alg, req)?;
    Ok(ok_warned(
        id,
        &sum,
        &names,
        &["input", "algorithm", "format"],
    ))
}

/// `data` in Vault's envelope, with Vault's warning about the body's
/// fields (`names`) the route does not know (`known`), if any.
fn ok_warned<T: Serialize>(id: Answering, data: &T, names: &[String], known: &[&str]) -> Response {
    match unrecognized_warning(names.iter().map(String::as_str), known) {
        None => ok(id, data, Facts::default()),
        Some(w) => ok_with_fields(
            id,
            data,
            &[("warnings", serde_json::json!([w]))],
            Facts::default(),
        ),
    }
}
