//! The trusted side of minikms: everything in this crate runs inside the
//! enclave. The binary built from it is what is measured (MRENCLAVE) and
//! signed (MRSIGNER); the host is not.
//!
//! Layers, bottom-up; each imports only from the layers below it (CI
//! checks that no import cycle exists):
//!
//! 1. [`channel`]: our end of the boundary channel to the host (ECALLs in,
//!    OCALLs out), including the log forwarder. Nothing secret is ever
//!    written there.
//! 2. [`platform`]: what the TEE gives us (identity, sealing keys, quotes),
//!    behind one trait; simulation is one implementation of it.
//! 3. [`store`]: sealed, crash-safe records behind the `Storage` trait; the
//!    redb file is the default backend; the root key and its recovery
//!    shares. [`clock`], [`error`] (the one error type, grouped by fault)
//!    and [`metrics`] (the counters of `/v1/sys/metrics`) serve every
//!    layer from here up.
//! 4. [`state`]: the one owner of the sealed in-memory state: keys, tokens,
//!    policies, sealed singletons, what is known of the recovery shares;
//!    and whether a token may do something.
//! 5. [`core`]: the key service's operations, typed inputs and outputs, no
//!    HTTP.
//! 6. [`services`]: the request classifier, the guard, the audit log, the
//!    CA, attestation evidence, attested join. [`opened`] brings up an
//!    open store's services.
//! 7. [`http`]: routes, Vault's envelope, the one error-to-status map; and
//!    what a sealed enclave answers until recovery shares open its store.
//! 8. [`server`]: TLS (the attested certificate) and the accept loop.
//!
//! [`boot`] puts them together: verify our own signed file (as EINIT
//! would), say hello to the host, wait for `set_up_server`, open the
//! platform, state, audit log and CA, serve until `shutdown`.
//! docs/architecture.md follows one request through the layers.
//!
//! [`fuzzing`] (feature `fuzzing`, for `minikms-fuzz` only) exposes the
//! parsers of untrusted bytes to the fuzz targets.

mod boot;
mod channel;
mod clock;
mod core;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod http;
mod metrics;
mod opened;
mod platform;
mod server;
mod services;
mod state;
mod store;

use std::process::ExitCode;

use minikms_edl::Ocall;

use crate::boot::Start;
use crate::channel::Channel;
use crate::platform::gramine::Gramine;

/// Entry point of the enclave binary.
pub fn main() -> ExitCode {
    // The self-check runs before anything else: an enclave that does not
    // match its signature must not even start its thread pools. Under
    // Gramine the CPU already checked us (EINIT) and tells us who we are.
    let checked = if Gramine::detect() {
        Gramine::open(std::path::Path::new(platform::gramine::DEV_ATTESTATION))
            .map(Start::Gramine)
            .map_err(|e| format!("cannot use Gramine's attestation interface: {e}"))
    } else {
        platform::self_check()
            .map(|(identity, config)| Start::SelfChecked(identity, config))
            .map_err(|e| e.to_string())
    };
    let threads = match &checked {
        Ok(start) => usize::try_from(start.config().num_tcs).unwrap_or(1).max(1),
        Err(_) => 1,
    };
    // NumTCS caps the threads inside the enclave; it is not a wish for
    // that many. Worker threads beyond the CPUs only park, wake and steal
    // from each other.
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.min(cpus))
        .max_blocking_threads(threads)
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        return ExitCode::FAILURE;
    };
    // A panic must still end the process: unwinding would drop the
    // runtime, which waits for the channel reader's blocking read of stdin,
    // and the host would wait for us for ever.
    let serve = std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async move {
            let channel = Channel::open();
            let start = match checked {
                Ok(start) => start,
                Err(e) => {
                    channel
                        .send_and_close(Ocall::Refused {
                            reason: e.to_string(),
                        })
                        .await;
                    return ExitCode::FAILURE;
                }
            };
            channel.install_logger();
            boot::run(channel, start).await
        })
    });
    let code = std::panic::catch_unwind(serve).unwrap_or(ExitCode::FAILURE);
    // The channel reader may sit in a blocking read of stdin: don't wait.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}
