//! The range crate's integration tests, as one binary: each file below is a module, so the
//! crate and its QUIC stack are linked once. Run one file's tests with a filter:
//! `cargo test -p amirange-range --test it schema::`.

mod common;
mod fairness;
mod interop;
mod loopback;
mod schema;
