//! Where a handler's work runs: key operations and fsyncs stay off the I/O
//! threads ([`blocking`]); the key operations choose for themselves
//! ([`crate::core::transit::run`]).

pub use crate::core::transit::blocking;
