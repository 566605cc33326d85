//! The tests of the real processes, one module per area, in one test
//! binary: the tests of every area then run side by side (most of their
//! time is spent waiting for servers), and the harness is linked once.
//! `cargo test -p minikms-testkit --test suite replicas::` runs one area.
//!
//! The differential test against OpenBao stays a binary of its own
//! (`--test interop_openbao`), as its documented command says.

mod attestation;
mod attested_tls;
mod audit;
mod audit_rotation;
mod bench;
mod byok;
mod common;
mod damaged_store;
mod docs_run;
mod enclave_ca;
mod floods;
mod hashes;
mod interop_hvac;
mod join;
mod key_release;
mod kv;
mod operator_cli;
mod ops;
mod policy_attacks;
mod recovery;
mod refusals;
mod replicas;
mod replicas_far;
mod rollback;
mod sealing;
mod serve;
mod slow_clients;
mod store_format;
mod tokens;
mod transit;
mod tsm;
mod vault_conformance;
