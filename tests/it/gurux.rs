//! Helpers for the tests that run the Gurux DLMS client for Python (tests/gurux/), an
//! external program.

use std::process::Command;

/// The Python interpreter for the Gurux DLMS client: `AMIRANGE_PYTHON`, or `python3`.
pub fn python() -> String {
    std::env::var("AMIRANGE_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Whether a test that runs the Gurux DLMS client (an external program: tests/gurux/) can
/// run: `false` (the test is skipped, and says so) when Python's `gurux-dlms` is not
/// installed, unless `AMIRANGE_REQUIRE_GURUX=1` (as in CI, which installs it): then a panic.
pub fn gurux_or_skip() -> bool {
    let has = Command::new(python())
        .args(["-c", "import gurux_dlms"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        assert_ne!(
            std::env::var("AMIRANGE_REQUIRE_GURUX").as_deref(),
            Ok("1"),
            "AMIRANGE_REQUIRE_GURUX=1 but `{} -c 'import gurux_dlms'` fails: pip install gurux-dlms==1.0.203",
            python()
        );
        eprintln!("skipped: Python's gurux-dlms is not installed (pip install gurux-dlms==1.0.203 to run this test)");
    }
    has
}

/// A command running the Gurux test program `tests/gurux/<name>`, writing no byte-code cache
/// into the source tree.
pub fn gurux_script(name: &str) -> Command {
    let mut command = Command::new(python());
    command
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/gurux")
                .join(name),
        )
        .env("PYTHONDONTWRITEBYTECODE", "1");
    command
}
