//! The minikms client library.
