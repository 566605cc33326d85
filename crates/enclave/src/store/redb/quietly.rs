//! redb asserts, rather than returning an error, on some damaged files:
//! opening runs inside [`quietly`], so such a file is refused as corrupt
//! instead of crashing the enclave.

/// A panic caught by [`quietly`]: its message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Panicked(pub String);

/// Runs `f`; a panic becomes its message, unprinted (the caller reports
/// it). redb asserts, rather than returning an error, on some damaged
/// files: that is a corrupt file to refuse, not a bug to crash on.
pub fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    result.map_err(|payload| {
        Panicked(
            payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "an internal check failed".into()),
        )
    })
}
