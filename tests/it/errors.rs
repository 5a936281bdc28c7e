//! The library's typed errors print as the binary prints every error (`error: {:#}` of an
//! `anyhow::Error`): the step that failed, then each cause, `: `-separated.

use std::path::Path;

use amirange::live::LiveError;
use amirange::results::{self, ResultsError};
use amirange::run::RunError;
use amirange::sweep::{self, SweepError};
use amirange_topologies::TopologyError;

/// What the binary prints after `error: ` for `error`.
fn printed(error: impl std::error::Error + Send + Sync + 'static) -> String {
    format!("{:#}", anyhow::Error::from(error))
}

#[test]
fn a_run_error_prints_the_failed_step_then_its_cause() {
    let error = RunError::Topology(TopologyError::Invalid {
        field: "meters".into(),
        reason: "must be at least 1".into(),
    });
    assert_eq!(error.to_string(), "generating the topology");
    assert_eq!(printed(error), "generating the topology: meters: must be at least 1");
    let error = RunError::Detection {
        field: "detection.detectors[0]".into(),
        message: "unknown".into(),
    };
    assert_eq!(printed(error), "detection.detectors[0]: unknown");
    // A live exercise's engine passes a run's error on with its cause.
    let error = LiveError::from(RunError::Topology(TopologyError::Invalid {
        field: "meters".into(),
        reason: "must be at least 1".into(),
    }));
    assert_eq!(printed(error), "generating the topology: meters: must be at least 1");
}

#[test]
fn a_report_error_names_the_file_and_the_parsers_complaint() {
    let error = results::report_files(&[]).expect_err("no files");
    assert!(matches!(error, ResultsError::Missing { .. }), "{error:?}");
    assert_eq!(printed(error), "manifest.json is missing");
    let error = results::report_files(&[("manifest.json", b"{".to_vec())]).expect_err("bad JSON");
    assert_eq!(
        printed(error),
        "reading manifest.json: EOF while parsing an object at line 1 column 1"
    );
    let error = results::report_files(&[("manifest.json", vec![0xff])]).expect_err("not UTF-8");
    assert_eq!(
        printed(error),
        "manifest.json is not UTF-8: invalid utf-8 sequence of 1 bytes from index 0"
    );
}

#[test]
fn a_runs_csv_error_names_the_file_and_the_line() {
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sweeps/jammer-radius.ron");
    let prepared = sweep::prepare(&plan).expect("a shipped plan");
    let layout = &prepared.layout;
    let error = sweep::parse_runs(layout, "run,seed\n", "a/runs.csv").expect_err("another header");
    assert!(matches!(error, SweepError::RunsHeader { .. }), "{error:?}");
    assert_eq!(
        printed(error),
        "a/runs.csv: runs.csv does not belong to this plan (its header differs)"
    );
    let header = sweep::runs_csv(layout, &[]);
    let error = sweep::parse_runs(layout, &format!("{header}x\n"), "a/runs.csv").expect_err("no index");
    assert_eq!(printed(error), "a/runs.csv: line 2: no run index");
    let error = sweep::parse_runs(layout, &format!("{header}999999\n"), "a/runs.csv").expect_err("no such run");
    let total = layout.total();
    assert_eq!(
        printed(error),
        format!("a/runs.csv: line 2: run 999999 is not in this plan ({total} runs)")
    );
}
