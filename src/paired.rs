//! Paired runs: the same scenario and seed with and without its attacks, so that every
//! difference is the attacks' doing.
//!
//! The twin runs the scenario with its `attacks` list emptied. Common random numbers hold
//! because every draw comes from a stream keyed by what it is for: meters, operations, links
//! and the backhaul draw the same numbers in both runs, and attacks draw only from their own
//! streams. Where an attack changes what happens (a meter the HES sends an extra command to,
//! a feeder the attack switched), the draws that follow for that meter or feeder differ, as
//! they would in the world.
//!
//! `paired.csv` lists every numeric measure of `metrics.json` (outside the per-attack list) as
//! attack run, baseline twin and difference; `baseline-metrics.json` is the twin's whole
//! `metrics.json`.

use amirange_measures::round_to;
use serde_json::Value;

use crate::metrics::Metrics;
use crate::results::CsvText;
use crate::scenario::Scenario;

/// The header of `paired.csv`.
pub const PAIRED_HEADER: &str = "measure,attack,baseline,difference";

/// The baseline twin of `scenario`: the same scenario without its attacks.
pub fn twin(scenario: &Scenario) -> Scenario {
    let mut twin = scenario.clone();
    twin.attacks.clear();
    twin
}

/// Every numeric leaf of `value`, as (dotted path, number), in key order. Lists are left out:
/// their entries (rankings such as the worst-hit critical facilities) are not the same things
/// in both runs.
fn leaves(value: &Value, path: &str, out: &mut Vec<(String, f64)>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.push((path.to_owned(), x));
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                leaves(v, &join(k), out);
            }
        }
        _ => {}
    }
}

/// One row per numeric measure: (path, attack run, baseline twin). The per-attack list is left
/// out (the twin has none); a measure only one side has counts as 0 on the other.
pub fn rows(attack: &Metrics, baseline: &Metrics) -> Vec<(String, f64, f64)> {
    let flat = |m: &Metrics| {
        let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            map.remove("attacks");
        }
        let mut out = Vec::new();
        leaves(&v, "", &mut out);
        out
    };
    let a = flat(attack);
    let b: std::collections::BTreeMap<String, f64> = flat(baseline).into_iter().collect();
    let mut rows: Vec<(String, f64, f64)> = a
        .iter()
        .map(|(k, x)| (k.clone(), *x, b.get(k).copied().unwrap_or(0.0)))
        .collect();
    let seen: std::collections::BTreeSet<&String> = a.iter().map(|(k, _)| k).collect();
    rows.extend(
        b.iter()
            .filter(|(k, _)| !seen.contains(k))
            .map(|(k, x)| (k.clone(), 0.0, *x)),
    );
    rows
}

/// Renders `paired.csv`.
pub fn paired_csv(attack: &Metrics, baseline: &Metrics) -> String {
    let mut out = CsvText::with_header(PAIRED_HEADER);
    for (k, a, b) in rows(attack, baseline) {
        // The path may hold a comma (a firmware version or an operation's purpose is a key).
        // Nine decimals round away the last bits of floating-point noise in a difference.
        out.row([k, a.to_string(), b.to_string(), round_to(a - b, 9).to_string()]);
    }
    out.finish()
}
