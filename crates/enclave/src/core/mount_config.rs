//! The transit mount's settings: `transit/config/keys` (`disable_upsert`:
//! whether encrypt may create a missing key) and `transit/cache-config`
//! (Vault's key cache size: minikms holds every key in memory, so its
//! size is always 0, "no limit", and cannot be set).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::input::lenient_bool;
use crate::error::Error;
use crate::state::State;

/// The meta record the settings are sealed in.
const RECORD_ID: &str = "transit-config-keys";

/// `transit/config/keys`, as stored and as answered.
#[derive(Clone, Copy, Default, Serialize, Deserialize)]
pub struct KeysConfig {
    pub disable_upsert: bool,
}

/// The settings in force (the default until written).
pub fn keys_config(state: &State) -> Result<KeysConfig, Error> {
    match state.meta_record(RECORD_ID) {
        None => Ok(KeysConfig::default()),
        Some(record) => {
            serde_json::from_slice(&record).map_err(|_| Error::failed("transit configuration"))
        }
    }
}

#[derive(Default, Deserialize, Serialize)]
pub struct KeysConfigRequest {
    #[serde(default, deserialize_with = "lenient_bool")]
    disable_upsert: Option<bool>,
}

/// Changes `transit/config/keys`; the settings now in force.
pub fn set_keys_config(state: &State, req: KeysConfigRequest) -> Result<KeysConfig, Error> {
    let mut config = keys_config(state)?;
    if let Some(b) = req.disable_upsert {
        config.disable_upsert = b;
    }
    let record = serde_json::to_vec(&config).map_err(|_| Error::failed("transit configuration"))?;
    state.put_meta_record(RECORD_ID, Zeroizing::new(record))?;
    Ok(config)
}

/// `transit/cache-config`'s answer.
#[derive(Serialize)]
pub struct CacheConfig {
    pub size: u64,
}

#[derive(Default, Deserialize, Serialize)]
pub struct CacheConfigRequest {
    size: Option<serde_json::Value>,
}

/// Every key is always in memory: a size other than 0 is refused.
pub fn set_cache_config(req: CacheConfigRequest) -> Result<(), Error> {
    match req.size {
        None => Ok(()),
        Some(v) if v == 0 || v == "0" => Ok(()),
        Some(_) => Err(Error::invalid(
            "the key cache cannot be sized: minikms keeps every key in memory (size 0)",
        )),
    }
}
