//! `range/schema.json`, the protocol's JSON Schema for clients in other languages, is what the
//! message types generate: it cannot go stale. `AMIRANGE_BLESS=1 cargo test -p amirange-range
//! --test it schema::` rewrites it after a change to the messages.

use amirange_range::messages::json_schema;

#[test]
fn the_committed_schema_is_the_generated_one() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.json");
    let mut generated = serde_json::to_string_pretty(&json_schema()).expect("json");
    generated.push('\n');
    if std::env::var_os("AMIRANGE_BLESS").is_some() {
        std::fs::write(path, &generated).expect("write schema.json");
    }
    let committed = std::fs::read_to_string(path).expect("range/schema.json");
    assert!(
        committed == generated,
        "range/schema.json is stale: run `AMIRANGE_BLESS=1 cargo test -p amirange-range --test it schema::`"
    );
}

#[test]
fn the_schema_names_every_message_and_action() {
    let text = serde_json::to_string(&json_schema()).expect("json");
    for name in [
        "hello",
        "request",
        "bye",
        "welcome",
        "accepted",
        "refused",
        "error",
        "phish",
        "disconnect",
        "push-firmware",
        "jam",
        "freeze-bulk",
        "revoke-account",
        "isolate-hes",
        "rollback-firmware",
        "dispatch-crews",
        "set-threshold",
        "pause",
        "resume",
        "set-pace",
        "inject-outage",
        "ground-truth",
        "snapshot",
    ] {
        assert!(
            text.contains(&format!("\"{name}\"")),
            "{name} is missing from the schema"
        );
    }
}
