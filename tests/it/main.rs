//! The root package's integration tests, as one binary: each file below is a module, so the
//! whole stack is linked once rather than once per file. Tests that run the real executable
//! reach it through `CARGO_BIN_EXE_amirange` (see `common`). `tests/inputs.rs` is the one
//! exception and stays its own binary: it installs a capped global allocator, which would cap
//! every other test too.
//!
//! Run one module's tests with a filter: `cargo test --test it golden::`.

mod areas;
mod attacks;
mod browser;
mod cli;
mod common;
mod comms;
mod control_plane;
mod dataset;
mod defenses;
mod detection;
mod dlms_exercise;
mod errors;
mod field;
mod frequency;
mod gateway;
mod golden;
mod grid;
mod gurux;
mod live;
mod loads;
mod range;
mod readings;
mod reference_tables;
mod result_folders;
mod score;
mod slurm;
mod sweep;
mod tidy;
mod traffic;
