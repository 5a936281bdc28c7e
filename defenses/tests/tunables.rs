//! `range/src/tunables_generated.rs`, the live range's table of the thresholds blue may set,
//! is generated from the detectors' declarations (`range` may not depend on the defense
//! library): `AMIRANGE_BLESS=1 cargo test -p amirange-defenses --test tunables` rewrites it
//! after a change to a detector's tunables; without it, the test fails while it is stale.

use amirange_defenses::detectors::{RANGE_TABLE_BLESS, range_table_source};

#[test]
fn the_range_tunables_table_is_the_generated_one() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../range/src/tunables_generated.rs");
    let generated = range_table_source();
    if std::env::var_os("AMIRANGE_BLESS").is_some() {
        std::fs::write(path, &generated).expect("write range/src/tunables_generated.rs");
    }
    let committed = std::fs::read_to_string(path).expect("range/src/tunables_generated.rs");
    assert!(
        committed == generated,
        "range/src/tunables_generated.rs is stale: run `{RANGE_TABLE_BLESS}`"
    );
}
