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
use super::body::{json_body, Posted};
use super::envelope::{done, ok, Answering, Facts};
use super::layers::{Authed, Named};
use crate::core::crypt::Item;
use crate::core::release::DatakeyBody;
use crate::core::sign;
use crate::core::transit::crypt::{Datakey, Decrypt, Encrypt, Rewrap};
use crate::core::transit::sign::{Kind, Signing};
use crate::core::transit::{self, KeyOp};
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

    /// The body with the path's parameters that stand for body fields, so
    /// that the token's parameter constraints see them.
    fn posted(body: Posted, _path: &Self::Path) -> Posted {
        body
    }

    fn parse(body: Self::Body, path: Self::Path, who: &Identity) -> Result<Self, Error>;
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

    fn parse(body: Item, _: NoPath, _: &Identity) -> Result<Self, Error> {
        Encrypt::new(body)
    }
}

impl Route for Decrypt {
    type Body = Item;
    type Path = NoPath;
    const ON_FAILURE: StatusCode = StatusCode::BAD_REQUEST;

    fn parse(body: Item, _: NoPath, who: &Identity) -> Result<Self, Error> {
        Decrypt::new(body, who)
    }
}

impl Route for Rewrap {
    type Body = Item;
    type Path = NoPath;

    fn parse(body: Item, _: NoPath, _: &Identity) -> Result<Self, Error> {
        Rewrap::new(body)
    }
}

impl Route for Datakey {
    type Body = DatakeyBody;
    type Path = KindPath;

    fn parse(body: DatakeyBody, path: KindPath, who: &Identity) -> Result<Self, Error> {
        Datakey::new(&path.kind, body, who)
    }
}

impl<K: Kind> Route for Signing<K> {
    type Body = sign::Request;
    type Path = AlgPath;

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
    let body = json_body(Op::posted(body, &path)).await?;
    let op = Op::parse(body, path, &who)?;
    let ran = transit::run(&app.state, named.key()?, op).await?;
    let answer = done(id, &ran, Op::ON_FAILURE);
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
    let req: utility::RandomRequest = json_body(body).await?;
    let random = utility::random(source, bytes, req)?;
    Ok(ok(id, &random, Facts::default()))
}

/// `POST /v1/transit/hash[/ALG]`.
pub async fn hash(
    id: Answering,
    Path(path): Path<AlgPath>,
    body: Posted,
) -> Result<Response, Error> {
    let alg = path.alg;
    let req: utility::HashRequest = json_body(body.with_path("algorithm", alg.as_deref())).await?;
    let sum = utility::hash(alg, req)?;
    Ok(ok(id, &sum, Facts::default()))
}
