//! Helpers shared by the integration tests that run the real `amirange` executable.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `amirange` with `args` in `cwd`.
pub fn amirange(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_amirange"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the amirange binary runs")
}

/// A file's bytes, or a panic naming it.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
