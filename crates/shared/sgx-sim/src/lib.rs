//! The simulated SGX platform (see Cargo.toml description).
