//! A sealed enclave's HTTP API: its store is one this CPU cannot unseal
//! (another machine), so until k recovery shares rebuild the root key it
//! answers only `GET /`, `sys/health`, `sys/seal-status`, `sys/leader`, `sys/unseal` and `sys/init`
//! (initialised), and 503 "sealed" to everything else. Once unsealed, the
//! store opens, the opener (from [`crate::boot`]) brings up the services
//! and every request goes to the whole API from then on.

use std::sync::{Arc, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;

use super::body::json_body;
use super::sys::{seal_status, storage_type, UnsealRequest};
use crate::error::Error;
use crate::opened::NotOpened;
use crate::platform::BoxFuture;
use crate::store::opening::{Locked, Unsealed};
use crate::store::recovery::{Given, Progress, RecoveryInfo};

/// Brings up the services of an unsealed store; answers the whole API.
pub type Opener =
    Box<dyn Fn(Unsealed) -> BoxFuture<'static, Result<Router, NotOpened>> + Send + Sync>;

const SEALED: &str = "minikms is sealed: this machine cannot unseal its key store; \
     give recovery shares with `minikms unseal` (or PUT /v1/sys/unseal) until the threshold is reached";

/// The sealed server's state.
pub struct Sealed {
    store: tokio::sync::Mutex<Option<Box<dyn Locked>>>,
    info: Option<RecoveryInfo>,
    storage_type: &'static str,
    progress: Progress,
    full: OnceLock<Router>,
    opener: Opener,
    status: Bytes,
}

impl Sealed {
    pub fn router(store: Box<dyn Locked>, status: Bytes, opener: Opener) -> Router {
        let info = store.recovery().and_then(RecoveryInfo::parse);
        let storage_type = storage_type(store.is_shared());
        let sealed = Arc::new(Self {
            store: tokio::sync::Mutex::new(Some(store)),
            info,
            storage_type,
            progress: Progress::default(),
            full: OnceLock::new(),
            opener,
            status,
        });
        Router::new().fallback(dispatch).with_state(sealed)
    }

    fn status(&self) -> Response {
        seal_status(
            true,
            true,
            self.info.as_ref(),
            self.progress.count(),
            self.storage_type,
        )
    }
}

async fn dispatch(State(sealed): State<Arc<Sealed>>, req: Request) -> Response {
    if let Some(full) = sealed.full.get() {
        let Ok(response) = full.clone().oneshot(req).await;
        return response;
    }
    let method = req.method().clone();
    match (req.uri().path(), method) {
        ("/", Method::GET) => {
            const JSON: HeaderValue = HeaderValue::from_static("application/json");
            ([(CONTENT_TYPE, JSON)], sealed.status.clone()).into_response()
        }
        ("/v1/sys/seal-status", Method::GET) => sealed.status(),
        // `bao operator unseal` reads it after each share.
        ("/v1/sys/leader", Method::GET) => super::sys::leader(),
        ("/v1/sys/health", Method::GET | Method::HEAD) => {
            super::sys::health(true, true, None, None, req.uri().query())
        }
        ("/v1/sys/init", Method::GET) => {
            axum::Json(serde_json::json!({ "initialized": true })).into_response()
        }
        ("/v1/sys/unseal", Method::PUT | Method::POST) => {
            match unseal(&sealed, req.into_body()).await {
                Ok(response) => response,
                Err(e) => e.into_response(),
            }
        }
        _ => Error::Sealed(SEALED.into()).into_response(),
    }
}

async fn unseal(sealed: &Sealed, body: Body) -> Result<Response, Error> {
    let req: UnsealRequest = json_body(body).await?;
    if req.reset {
        sealed.progress.reset();
    }
    let Some(key) = req.key else {
        if req.reset {
            return Ok(sealed.status());
        }
        return Err(Error::invalid(
            "key: missing: give one recovery share (hex or base64), or reset: true",
        ));
    };
    let given = sealed.progress.give(sealed.info.as_ref(), &key);
    let root = match given {
        Ok(Given::Kept(n)) => {
            tracing::info!("unseal: share accepted ({n} given)");
            return Ok(sealed.status());
        }
        Ok(Given::Rebuilt(root)) => root,
        Err(e) => {
            tracing::warn!("unseal: share refused: {e}");
            return Err(e);
        }
    };
    let mut slot = sealed.store.lock().await;
    if sealed.full.get().is_some() {
        return Ok(sealed.status());
    }
    let store = slot.take().ok_or_else(|| {
        Error::Sealed(
            "the key store failed to open at an earlier unseal: restart the server".into(),
        )
    })?;
    if !store.is_root(&root)? {
        *slot = Some(store);
        return Err(Error::invalid(
            "the shares given rebuild a key that does not open this store (one of them is wrong); \
             progress was reset: give the shares again",
        ));
    }
    let unsealed = tokio::task::spawn_blocking(move || store.unseal(root))
        .await
        .map_err(|e| Error::internal("unsealing", e))??;
    let router = (sealed.opener)(unsealed)
        .await
        .map_err(|e| Error::internal("opening the unsealed key store", e))?;
    let _ = sealed.full.set(router);
    tracing::info!("unsealed: the root key is rebuilt and now sealed under this machine's key");
    Ok(seal_status(
        true,
        false,
        sealed.info.as_ref(),
        0,
        sealed.storage_type,
    ))
}
