//! Attestation evidence verification (see Cargo.toml description).
