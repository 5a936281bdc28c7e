//! `amirange dataset`: a plan's runs in one folder with their exports, a card and a manifest
//! whose checksums hold; the shipped plan covers every attack kind; a bad plan is refused with
//! its file and field.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::common::{amirange, read};

/// A two-part plan at 2,000 meters: the quickstart's mass disconnect, and a connection flood
/// scaled down by a setting.
const PLAN: &str = r#"Dataset(
    name: "tiny",
    meters: 2000,
    duration: "1d",
    presets: ["typical-utility"],
    parts: [
        (scenario: "attacks/mass-disconnect-peak.ron"),
        (scenario: "attacks/connection-flood.ron", set: [(path: "attacks[0].connections_per_s", value: 5)]),
    ],
)"#;

fn write_plan(dir: &Path, text: &str) {
    let attacks = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/attacks");
    std::fs::create_dir_all(dir.join("attacks")).expect("folder");
    for file in ["mass-disconnect-peak.ron", "connection-flood.ron"] {
        std::fs::copy(attacks.join(file), dir.join("attacks").join(file)).expect("copied");
    }
    std::fs::write(dir.join("plan.ron"), text).expect("plan written");
}

#[test]
fn a_dataset_holds_every_run_with_its_exports_a_card_and_true_checksums() {
    let tmp = tempfile::tempdir().expect("temp dir");
    write_plan(tmp.path(), PLAN);
    let o = amirange(
        &["dataset", "plan.ron", "--out", "ds", "-q", "--threads", "2"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ds = tmp.path().join("ds");
    for k in ["000", "001"] {
        for file in [
            "metrics.json",
            "truth.csv",
            "traffic.pcapng",
            "flows.csv",
            "readings.parquet",
        ] {
            assert!(ds.join("parts").join(k).join(file).is_file(), "parts/{k}/{file}");
        }
    }
    assert_eq!(read(&ds.join("plan.ron")), PLAN.as_bytes());
    let card = String::from_utf8(read(&ds.join("dataset.md"))).expect("text");
    assert!(
        card.contains("| connection-flood |") && card.contains("| benign |"),
        "{card}"
    );
    assert!(card.contains("attacks/connection-flood.ron"), "{card}");
    // Every file is in the manifest with its true size and SHA-256, and nothing else is.
    let manifest: serde_json::Value = serde_json::from_slice(&read(&ds.join("manifest.json"))).expect("JSON");
    let files = manifest["files"].as_array().expect("files");
    let mut on_disk = Vec::new();
    let mut stack = vec![ds.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("folder") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(&ds)
                    .expect("inside")
                    .to_string_lossy()
                    .replace('\\', "/");
                if rel != "manifest.json" && !rel.starts_with(".amirange") {
                    on_disk.push(rel);
                }
            }
        }
    }
    on_disk.sort();
    let listed: Vec<String> = files
        .iter()
        .map(|f| f["path"].as_str().expect("path").to_owned())
        .collect();
    assert_eq!(listed, on_disk);
    for f in files {
        let bytes = read(&ds.join(f["path"].as_str().expect("path")));
        assert_eq!(f["bytes"].as_u64(), Some(bytes.len() as u64));
        assert_eq!(f["sha256"].as_str(), Some(hex::encode(Sha256::digest(&bytes)).as_str()));
    }
    // The flood's flows are labelled with it, the disconnect's request with its attack.
    let flows = String::from_utf8(read(&ds.join("parts/001/flows.csv"))).expect("text");
    assert!(flows.lines().filter(|l| l.contains(",connection-flood,")).count() > 1_000);
    let flows = String::from_utf8(read(&ds.join("parts/000/flows.csv"))).expect("text");
    assert!(
        flows.lines().any(|l| l.contains(",mass-disconnect,md-peak,")),
        "{flows}"
    );
    // Again on one thread: every file the same but the runs' manifests (wall time, threads).
    let o = amirange(
        &["dataset", "plan.ron", "--out", "ds1", "-q", "--threads", "1"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for rel in &on_disk {
        if rel.ends_with("/manifest.json") || rel == "dataset.md" {
            continue;
        }
        assert!(
            read(&ds.join(rel)) == read(&tmp.path().join("ds1").join(rel)),
            "{rel} differs"
        );
    }
    // In two shards, merged: the same card and files, and a manifest whose checksums hold.
    for (shard, out) in [("1/2", "s1"), ("2/2", "s2")] {
        let o = amirange(
            &["dataset", "plan.ron", "--shard", shard, "--out", out, "-q"],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(tmp.path().join("s1/parts/000").is_dir() && !tmp.path().join("s1/parts/001").exists());
    assert!(
        !tmp.path().join("s1/dataset.md").exists(),
        "a shard has no card of its own"
    );
    for (dirs, expected) in [
        (&["s1"][..], "shard 2 of 2 is missing"),
        (&["s1", "s1"][..], "appears in both"),
    ] {
        let mut args = vec!["merge"];
        args.extend_from_slice(dirs);
        args.extend(["--out", "bad"]);
        let o = amirange(&args, tmp.path());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(expected), "{expected}: {err}");
        assert!(!tmp.path().join("bad").exists());
    }
    let o = amirange(&["merge", "s2", "s1", "--out", "merged"], tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let merged = tmp.path().join("merged");
    for rel in on_disk.iter().filter(|rel| !rel.ends_with("/manifest.json")) {
        assert!(
            read(&ds.join(rel)) == read(&merged.join(rel)),
            "{rel} differs when merged"
        );
    }
    let manifest: serde_json::Value = serde_json::from_slice(&read(&merged.join("manifest.json"))).expect("JSON");
    let listed: Vec<String> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            let rel = f["path"].as_str().expect("path");
            let bytes = read(&merged.join(rel));
            assert_eq!(
                f["sha256"].as_str(),
                Some(hex::encode(Sha256::digest(&bytes)).as_str()),
                "{rel}"
            );
            rel.to_owned()
        })
        .collect();
    assert_eq!(listed, on_disk, "the merged dataset lists the whole dataset's files");
}

#[test]
fn the_shipped_plan_covers_every_attack_kind_and_a_bad_plan_is_located() {
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/datasets/ami-small.ron");
    let (plan, _, runs) = amirange::dataset::prepare(&plan).unwrap_or_else(|e| panic!("{e}"));
    let mut kinds: Vec<&str> = runs
        .iter()
        .flat_map(|r| r.scenario.attacks.iter().map(|a| a.tags().kind))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut all: Vec<&str> = amirange_attackers::ALL_TAGS.iter().map(|t| t.kind).collect();
    all.sort_unstable();
    assert_eq!(kinds, all, "the plan {} covers every attack kind", plan.name);

    let tmp = tempfile::tempdir().expect("temp dir");
    write_plan(
        tmp.path(),
        &PLAN.replace("attacks[0].connections_per_s", "attacks[3].connections_per_s"),
    );
    let o = amirange(&["dataset", "plan.ron", "--out", "ds"], tmp.path());
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("plan.ron") && err.contains("parts[1].set[0].path"),
        "{err}"
    );
    assert!(!tmp.path().join("ds").exists(), "nothing written");
}
