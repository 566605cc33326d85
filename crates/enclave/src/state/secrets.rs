//! [`State`]'s reads and durable writes of the KV engine's secrets
//! ([`super::kv`]: the record), apart from the record's model so that the
//! model (which [`super::inner`] holds) imports nothing of the owner.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::kv::Secret;
use super::owner::{State, Step};
use crate::error::Error;
use crate::store::Table;

impl State {
    /// The secret at `path`, if any.
    pub fn secret(&self, path: &str) -> Option<Arc<Secret>> {
        self.lock().secrets.get(path).cloned()
    }

    /// Every secret path under `prefix` (which ends in `/`, or is empty).
    pub fn secret_paths(&self, prefix: &str) -> Vec<String> {
        self.lock()
            .secrets
            .range(prefix.to_string()..)
            .take_while(|(p, _)| p.starts_with(prefix))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Changes the secret at `path` durably: `change` gets the current
    /// secret (if any) and returns the new one (`None` removes it, or
    /// leaves it absent) with its answer. An error from `change` changes
    /// nothing.
    pub fn change_secret<R>(
        &self,
        path: &str,
        mut change: impl FnMut(Option<&Secret>) -> Result<(Option<Secret>, R), Error>,
    ) -> Result<R, Error> {
        self.change(
            Table::Secrets,
            path,
            |inner| {
                let current = inner.secrets.get(path).map(|s| s.as_ref());
                let existed = current.is_some();
                let (next, answer) = change(current)?;
                match next {
                    None if !existed => Ok(Step::Done(answer)),
                    None => Ok(Step::Write(None, (None, answer))),
                    Some(next) => {
                        let record = serialize(&next)?;
                        Ok(Step::Write(Some(record), (Some(Arc::new(next)), answer)))
                    }
                }
            },
            |inner, (next, answer)| {
                match next {
                    Some(next) => inner.secrets.insert(path.to_string(), next),
                    None => inner.secrets.remove(path),
                };
                answer
            },
        )
    }
}

/// The record of `secret`, in a buffer big enough from the start (JSON
/// escapes at most sixfold), so no reallocation leaves copies of values
/// behind.
fn serialize(secret: &Secret) -> Result<Zeroizing<Vec<u8>>, Error> {
    let room: usize = secret
        .versions
        .values()
        .filter_map(|v| v.data.as_ref())
        .map(|d| d.len().saturating_mul(6).saturating_add(128))
        .fold(4096, usize::saturating_add);
    let mut buf = Zeroizing::new(Vec::with_capacity(room));
    serde_json::to_writer(&mut *buf, secret).map_err(|_| Error::failed("secret serialisation"))?;
    Ok(buf)
}
