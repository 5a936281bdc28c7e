//! Parameter sweeps: a scenario run over a grid of values of its fields times a number of
//! seeds, each run's chosen measures written to `runs.csv` and summarised per grid point (mean,
//! standard deviation, 95% confidence interval) in `summary.csv`.
//!
//! ```text
//!  plan.ron ──► Plan { scenario, seeds, grid: [(path, values)], measures }
//!                 every (grid point, seed) built and validated before the first run
//!  runs, in parallel on the cores (a shard runs every N-th) ──► runs.csv (by run index)
//!  runs.csv (one sweep, or merged shards) ──► summary.csv (same bytes either way)
//! ```
//!
//! A path names a scenario field as the file writes it, dotted, with `[i]` for list entries:
//! `defenses.command_policy.disconnect_limit_per_account.meters`, `attacks[0].radius_m`; inside
//! an attack the variant's name is skipped. A measure names a number in `metrics.json` the same
//! way: `attacks[0].blast_radius.peak_customers_disconnected`, `supply.customer_minutes_interrupted`.
//! Measures are checked when the plan is parsed, against the shape of `metrics.json` generated
//! from the [`crate::metrics::Metrics`] type ([`metrics_schema`], [`check_measure`]), and an
//! `attacks[i]` measure against every grid point's attacks: a misspelt one is an error naming
//! the plan's line, column and field, and the nearest valid name, before anything runs.
//!
//! `runs.csv` and `summary.csv` are written and read with the `csv` crate (RFC 4180), and the
//! intervals use Student's t from `statrs` ([`t975`]).

use std::path::{Path, PathBuf};

use amirange_files::SourceError;
use amirange_measures::round_to;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::results::CsvText;
use crate::scenario::{self, Overrides, Scenario};

/// Why a sweep could not be prepared, run or merged back. The texts name the plan, the grid
/// point, the run or the `runs.csv` line at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    /// The plan file could not be read.
    #[error(transparent)]
    Read(#[from] amirange_files::ReadError),
    /// The plan or its scenario does not hold (the text says where).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The plan's scenario could not be turned into JSON to set the grid's fields.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A grid point's scenario does not load with one of its seeds.
    #[error("grid point {point} ({values}): {error}")]
    GridPoint {
        /// The grid point's index.
        point: usize,
        /// The point's values, `path = value, ...`.
        values: String,
        /// Why its scenario does not load, blamed on the plan's fields where they are at fault
        /// (boxed: it is large, and a grid point's fault is rare).
        error: Box<SourceError>,
    },
    /// A run failed.
    #[error("run {run}")]
    Run {
        /// The run's index in the plan.
        run: usize,
        /// Why it failed.
        #[source]
        source: crate::run::RunError,
    },
    /// A run's measures could not be turned into JSON.
    #[error("run {run}")]
    RunMetrics {
        /// The run's index in the plan.
        run: usize,
        /// Why serialising failed.
        #[source]
        source: serde_json::Error,
    },
    /// A worker thread panicked.
    #[error("a sweep worker panicked")]
    WorkerPanicked,
    /// `runs.csv` is not CSV.
    #[error("{label}: {error}")]
    RunsCsv {
        /// The file's label.
        label: String,
        /// The reader's complaint.
        error: csv::Error,
    },
    /// `runs.csv` was written for another plan.
    #[error("{label}: runs.csv does not belong to this plan (its header differs)")]
    RunsHeader {
        /// The file's label.
        label: String,
    },
    /// A row of `runs.csv` has no run index in its first cell.
    #[error("{label}: line {line}: no run index")]
    NoRunIndex {
        /// The file's label.
        label: String,
        /// The line the row starts on (1-based).
        line: u64,
    },
    /// A row of `runs.csv` names a run the plan does not have.
    #[error("{label}: line {line}: run {run} is not in this plan ({total} runs)")]
    RunNotInPlan {
        /// The file's label.
        label: String,
        /// The line the row starts on (1-based).
        line: u64,
        /// The run index the row names.
        run: usize,
        /// The plan's number of runs.
        total: usize,
    },
    /// A row of `runs.csv` has another number of cells than the header.
    #[error("{label}: line {line}: {cells} cells, where the header has {width}")]
    RowWidth {
        /// The file's label.
        label: String,
        /// The line the row starts on (1-based).
        line: u64,
        /// The row's cells.
        cells: usize,
        /// The header's cells.
        width: usize,
    },
    /// A measure cell of `runs.csv` is neither empty nor a number.
    #[error("{label}: line {line}: {error}")]
    Cell {
        /// The file's label.
        label: String,
        /// The line the row starts on (1-based).
        line: u64,
        /// The parser's complaint.
        error: std::num::ParseFloatError,
    },
}

/// One axis of the grid as the plan writes it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// The scenario field.
    pub path: String,
    /// Its values, in order.
    pub values: Vec<Value>,
}

/// A sweep plan (`scenarios/sweeps/*.ron`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename = "Sweep")]
pub struct Plan {
    /// Short name (the default output folder is `results/sweep-<name>`).
    pub name: String,
    /// What it asks.
    #[serde(default)]
    pub description: Option<String>,
    /// The scenario file, relative to the plan.
    pub scenario: String,
    /// Seeds per grid point: `first_seed`, `first_seed + 1`, ...
    pub seeds: u32,
    /// The first seed (the scenario's own by default).
    #[serde(default)]
    pub first_seed: Option<u64>,
    /// Meters, overriding the scenario's.
    #[serde(default)]
    pub meters: Option<i64>,
    /// Duration, overriding the scenario's.
    #[serde(default)]
    pub duration: Option<String>,
    /// A defense preset applied to every run.
    #[serde(default)]
    pub preset: Option<String>,
    /// The axes; every combination of their values is a grid point.
    pub grid: Vec<Axis>,
    /// The measures to record, as paths into `metrics.json` (each checked by
    /// [`check_measure`] when the plan is parsed).
    pub measures: Vec<String>,
}

/// What a sweep's files are laid out by: the plan, its grid points and seeds (written to
/// `sweep.json`, so that shards can be merged without the scenario).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Layout {
    /// The plan.
    pub plan: Plan,
    /// Per grid point, its values (one per axis).
    pub points: Vec<Vec<Value>>,
    /// Seeds.
    pub seeds: Vec<u64>,
}

impl Layout {
    /// Runs in all: grid points times seeds.
    pub fn total(&self) -> usize {
        self.points.len() * self.seeds.len()
    }
}

/// A plan checked and every run's scenario built.
pub struct Prepared {
    /// The layout.
    pub layout: Layout,
    /// Per run (point-major, then seed): its scenario.
    pub scenarios: Vec<Scenario>,
}

/// One run's outcome: its index and its measures (`None` where `metrics.json` has no number).
pub type RunRow = (usize, Vec<Option<f64>>);

/// Sets `path` in `value` to `to`, creating objects on the way; inside an enum's variant (an
/// object with one capitalised key) the variant is skipped.
pub(crate) fn set_path(value: &mut Value, path: &str, to: Value) -> Result<(), String> {
    let mut node = value;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => {
                let n: usize = rest
                    .strip_suffix(']')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("`{part}`: expected name[index]"))?;
                (k, Some(n))
            }
            None => (*part, None),
        };
        // Step into an enum variant (`{"Jamming": {...}}`) when the key is not its name.
        let variant = matches!(&*node, Value::Object(map)
            if map.len() == 1
                && !map.contains_key(key)
                && map.keys().all(|k| k.starts_with(|c: char| c.is_ascii_uppercase())));
        if variant {
            let Value::Object(map) = node else {
                return Err("internal: not a variant".into());
            };
            let Some(inner) = map.values_mut().next() else {
                return Err("internal: empty variant".into());
            };
            node = inner;
        }
        let Value::Object(map) = node else {
            return Err(format!("`{}` is not a section with fields", parts[..i].join(".")));
        };
        let last = i + 1 == parts.len();
        if last && index.is_none() {
            map.insert(key.to_owned(), to);
            return Ok(());
        }
        let entry = map.entry(key.to_owned()).or_insert_with(|| {
            if index.is_some() {
                Value::Array(Vec::new())
            } else {
                Value::Object(Default::default())
            }
        });
        if entry.is_null() {
            *entry = Value::Object(Default::default());
        }
        node = match index {
            Some(n) => {
                let Value::Array(list) = entry else {
                    return Err(format!("`{key}` is not a list"));
                };
                let len = list.len();
                let item = list
                    .get_mut(n)
                    .ok_or_else(|| format!("`{key}` has {len} entries, no [{n}]"))?;
                if last {
                    *item = to;
                    return Ok(());
                }
                item
            }
            None => entry,
        };
    }
    Err("empty path".into())
}

/// One step of a measure's path: a field, and a list index when the step is `name[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Step<'a> {
    key: &'a str,
    index: Option<usize>,
}

/// The steps of a measure's path (`attacks[0].blast_radius.readings_lost`), or why it is not one.
fn steps(path: &str) -> Result<Vec<Step<'_>>, String> {
    path.split('.')
        .map(|part| {
            let (key, index) = match part.split_once('[') {
                Some((key, rest)) => {
                    let index = rest
                        .strip_suffix(']')
                        .and_then(|n| n.parse::<usize>().ok())
                        .ok_or_else(|| format!("`{part}` is not `name[index]` with a whole number as the index"))?;
                    (key, Some(index))
                }
                None => (part, None),
            };
            if key.is_empty() {
                return Err(format!("`{path}` has an empty name in it"));
            }
            Ok(Step { key, index })
        })
        .collect()
}

/// The number at `path` in `metrics.json`, if there is one (a `true` or `false` is 1 or 0).
pub fn measure(metrics: &Value, path: &str) -> Option<f64> {
    let mut node = metrics;
    for step in steps(path).ok()? {
        node = node.get(step.key)?;
        if let Some(n) = step.index {
            node = node.get(n)?;
        }
    }
    match node {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        other => other.as_f64(),
    }
}

/// The shape of `metrics.json`: the JSON Schema of [`crate::metrics::Metrics`] as it is
/// serialized, generated from the type itself (so a field added, renamed or removed there is
/// seen here without a list to keep).
pub fn metrics_schema() -> Value {
    schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<crate::metrics::Metrics>()
        .to_value()
}

/// What a node of the schema holds.
enum Shape<'a> {
    /// Named fields (`properties`), and the schema of any other key when the object is a map
    /// with free keys (`additionalProperties`).
    Section(Option<&'a serde_json::Map<String, Value>>, Option<&'a Value>),
    /// A list of entries of one schema.
    List(&'a Value),
    /// A number (or a `true`/`false`, written as 1/0), possibly `null`.
    Number,
    /// Text.
    Text,
}

/// The shape of schema `node`, following `$ref`s into `defs` and looking through an `Option`'s
/// `anyOf: [T, null]`.
fn shape<'a>(defs: Option<&'a Value>, mut node: &'a Value) -> Shape<'a> {
    for _ in 0..64 {
        if let Some(name) = node.get("$ref").and_then(Value::as_str) {
            match name.strip_prefix("#/$defs/").and_then(|n| defs?.get(n)) {
                Some(def) => node = def,
                None => break,
            }
            continue;
        }
        if let Some(any) = node.get("anyOf").and_then(Value::as_array) {
            match any
                .iter()
                .find(|s| s.get("type").and_then(Value::as_str) != Some("null"))
            {
                Some(inner) => node = inner,
                None => break,
            }
            continue;
        }
        break;
    }
    let types: Vec<&str> = match node.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if types.contains(&"array") {
        return Shape::List(node.get("items").unwrap_or(&Value::Bool(true)));
    }
    if types.iter().any(|t| ["number", "integer", "boolean"].contains(t)) {
        return Shape::Number;
    }
    if types.contains(&"string") {
        return Shape::Text;
    }
    let extra = node.get("additionalProperties").filter(|a| a.is_object());
    Shape::Section(node.get("properties").and_then(Value::as_object), extra)
}

/// The name among `names` nearest to `wrong` (Jaro-Winkler similarity of at least 0.8), to
/// suggest for a misspelling.
fn nearest<'a>(wrong: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    names
        .into_iter()
        .map(|n| (strsim::jaro_winkler(wrong, n), n))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

/// Checks that `path` names a number in `metrics.json`, by the shape `schema` (from
/// [`metrics_schema`]): every field exists (or is a key of a map with free keys, such as
/// `fleet.firmware`), lists are indexed and nothing else is, and the path ends at a number or
/// a `true`/`false`. The error says what is wrong and, for a misspelt field, the nearest one.
pub fn check_measure(schema: &Value, path: &str) -> Result<(), String> {
    let defs = schema.get("$defs");
    let mut node = schema;
    let mut at = String::new();
    for step in steps(path)? {
        let here = if at.is_empty() {
            "metrics.json".to_owned()
        } else {
            format!("`{at}`")
        };
        node = match shape(defs, node) {
            Shape::Section(fields, extra) => match (fields.and_then(|f| f.get(step.key)), extra) {
                (Some(field), _) => field,
                (None, Some(any)) => any,
                (None, None) => {
                    let names = fields
                        .map(|f| f.keys().map(String::as_str).collect::<Vec<_>>())
                        .unwrap_or_default();
                    let hint = match nearest(step.key, names.iter().copied()) {
                        Some(n) => format!(" (did you mean `{}`?)", join(&at, n)),
                        None => format!(
                            "; it has {}",
                            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                        ),
                    };
                    return Err(format!("{here} has no `{}`{hint}", step.key));
                }
            },
            Shape::List(_) => {
                return Err(format!("{here} is a list: name an entry, as `{at}[0]`"));
            }
            Shape::Number | Shape::Text => {
                return Err(format!(
                    "{here} is a single value, with nothing inside it named `{}`",
                    step.key
                ));
            }
        };
        at = join(&at, step.key);
        if let Some(i) = step.index {
            node = match shape(defs, node) {
                Shape::List(items) => items,
                _ => return Err(format!("`{at}` is not a list: drop `[{i}]`")),
            };
            at = format!("{at}[{i}]");
        }
    }
    match shape(defs, node) {
        Shape::Number => Ok(()),
        Shape::Text => Err(format!("`{at}` is text, not a number")),
        Shape::List(_) => Err(format!(
            "`{at}` is a list, not a number: name a number in one of its entries (`{at}[0]` is the first)"
        )),
        Shape::Section(fields, _) => {
            let names = fields.map(|f| f.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "));
            Err(match names.filter(|n| !n.is_empty()) {
                Some(names) => format!("`{at}` is a section, not a number: name one of its fields ({names})"),
                None => format!("`{at}` is a section, not a number: name one of its keys"),
            })
        }
    }
}

/// `prefix.name`, or `name` at the top.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Where measure `k` of the plan is written in its `text`: the position of its string in the
/// `measures` list when it can be found there, else of the `measures` field.
fn measure_position(text: &str, plan: &Plan, k: usize) -> Option<(usize, usize)> {
    let body = amirange_files::without_bom(text);
    let field = amirange_files::locate(text, &["measures"])?;
    // The byte offset of the `measures` key, from its 1-based line and column (in characters).
    let line_start: usize = body.split_inclusive('\n').take(field.0 - 1).map(str::len).sum();
    let key_offset = line_start
        + body[line_start..]
            .chars()
            .take(field.1 - 1)
            .map(char::len_utf8)
            .sum::<usize>();
    // The k-th measure's quoted text after it (an earlier equal measure is skipped over).
    let mut from = key_offset;
    let mut found = None;
    for m in &plan.measures[..=k] {
        let quoted = format!("\"{m}\"");
        let at = from + body.get(from..)?.find(&quoted)?;
        found = Some(at);
        from = at + quoted.len();
    }
    let at = found?;
    let before = &body[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, column))
}

/// An error about measure `k` of the plan, at its position in the plan file.
fn measure_error(label: &str, text: &str, plan: &Plan, k: usize, message: String) -> SourceError {
    let mut e = amirange_files::field_error(label, text, &format!("measures[{k}]"), message);
    e.position = measure_position(text, plan, k).or(e.position);
    e
}

/// The most seeds one grid point may have: 10,000.
///
/// Why this value: the seeds are the replicates of one grid point, and a confidence interval
/// narrows with their square root, so past a few hundred more seeds buy little; 10,000 leaves
/// room for any study while a typo (`seeds: 100000000`) is refused before anything is built.
pub const MAX_SEEDS: u32 = 10_000;

/// The most runs (grid points times seeds) one plan may have: 100,000.
///
/// Why this value: every run's scenario is built and validated before the first run and held
/// until the sweep ends (about 2.1 KB each for `jamming-constant.ron`, so a plan at the limit
/// holds about 210 MB, built in a few seconds), and even at one second a run, 100,000 runs are
/// more than a day on 1 core. A larger study is several plans, or shards of one.
pub const MAX_RUNS: u64 = 100_000;

/// Grid points times seeds of `plan`, or `None` past `u64` (the plan is refused either way).
pub fn planned_runs(plan: &Plan) -> Option<u64> {
    plan.grid
        .iter()
        .try_fold(u64::from(plan.seeds), |n, a| n.checked_mul(a.values.len() as u64))
}

/// Parses and checks the sweep plan `text` read from `label`, before anything is built: its
/// fields, the limits on seeds ([`MAX_SEEDS`]) and runs ([`MAX_RUNS`]), and the first seed
/// when the plan gives one. Errors name the file, line, column and field.
pub fn parse_plan(label: &str, text: &str) -> Result<Plan, SourceError> {
    amirange_files::check_opening(text, "Sweep", "sweep plan").map_err(|message| SourceError {
        file: label.to_owned(),
        position: None,
        field: None,
        message,
    })?;
    let plan: Plan = amirange_files::parse_ron(
        label,
        text,
        ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME),
    )?;
    let fail = |field: &str, message: String| Err(amirange_files::field_error(label, text, field, message));
    if plan.seeds == 0 {
        return fail("seeds", "at least 1 seed per grid point".into());
    }
    if plan.seeds > MAX_SEEDS {
        return fail(
            "seeds",
            format!("{} seeds per grid point is over the limit of {MAX_SEEDS}", plan.seeds),
        );
    }
    if plan.grid.is_empty() {
        return fail("grid", "give at least one axis".into());
    }
    if let Some(i) = plan.grid.iter().position(|a| a.values.is_empty()) {
        return fail(&format!("grid[{i}].values"), "give the axis at least one value".into());
    }
    match planned_runs(&plan) {
        Some(runs) if runs <= MAX_RUNS => {}
        runs => {
            let points = plan
                .grid
                .iter()
                .map(|a| a.values.len().to_string())
                .collect::<Vec<_>>()
                .join(" x ");
            let runs = runs.map_or_else(|| "more than 18446744073709551615".to_owned(), |r| r.to_string());
            return fail(
                "grid",
                format!(
                    "{points} grid points times {} seeds is {runs} runs, over the limit of {MAX_RUNS} runs per plan",
                    plan.seeds
                ),
            );
        }
    }
    if let Some(first) = plan.first_seed {
        check_seeds(first, plan.seeds).map_err(|m| amirange_files::field_error(label, text, "first_seed", m))?;
    }
    if plan.measures.is_empty() {
        return fail("measures", "name at least one measure of metrics.json".into());
    }
    // Paths and measures head CSV columns and name the charts: keep them free of what CSV would
    // have to quote in a header. (Grid values may hold anything: CSV quotes them.)
    let bad = |t: &str| t.is_empty() || t.contains([',', '"', '\n', '\r']);
    if let Some(i) = plan.grid.iter().position(|a| bad(&a.path)) {
        return fail(
            &format!("grid[{i}].path"),
            format!(
                "axis path {:?} is empty or holds a comma, quote or line break",
                plan.grid[i].path
            ),
        );
    }
    if let Some(k) = plan.measures.iter().position(|m| bad(m)) {
        let m = &plan.measures[k];
        return Err(measure_error(
            label,
            text,
            &plan,
            k,
            format!("{m:?} is empty or holds a comma, quote or line break"),
        ));
    }
    let schema = metrics_schema();
    for (k, m) in plan.measures.iter().enumerate() {
        check_measure(&schema, m).map_err(|why| {
            measure_error(
                label,
                text,
                &plan,
                k,
                format!("no measure `{m}` in metrics.json: {why}"),
            )
        })?;
    }
    Ok(plan)
}

/// Checks that seeds `first`, `first + 1`, ... (`count` of them) all fit in a `u64`.
fn check_seeds(first: u64, count: u32) -> Result<(), String> {
    match first.checked_add(u64::from(count) - 1) {
        Some(_) => Ok(()),
        None => Err(format!(
            "{count} seeds from {first} pass the largest seed, {}: start at {} or below",
            u64::MAX,
            u64::MAX - (u64::from(count) - 1)
        )),
    }
}

/// Reads the sweep plan at `path` (a regular file of at most
/// [`amirange_files::MAX_SOURCE_BYTES`]).
pub fn read_plan(path: &Path) -> Result<String, amirange_files::ReadError> {
    amirange_files::read_text(path, "sweep plan", amirange_files::MAX_SOURCE_BYTES)
}

/// Loads and checks `plan_path`: every grid point and seed is built and validated before
/// anything runs.
pub fn prepare(plan_path: &Path) -> Result<Prepared, SweepError> {
    let text = read_plan(plan_path)?;
    prepare_source(plan_path, &text)
}

/// [`prepare`] for a plan's `text` read from `plan_path` (its scenario is read relative to it).
pub fn prepare_source(plan_path: &Path, text: &str) -> Result<Prepared, SweepError> {
    let label = plan_path.display().to_string();
    let plan = parse_plan(&label, text)?;
    let scenario_path: PathBuf = plan_path.parent().unwrap_or(Path::new("")).join(&plan.scenario);
    let scenario_label = scenario_path.display().to_string();
    let source = scenario::read_source(&scenario_path)
        .map_err(|e| amirange_files::field_error(&label, text, "scenario", e.to_string()))?;
    let raw = scenario::parse_raw(&scenario_label, &source)?;
    let first_seed = match plan.first_seed {
        Some(first) => first,
        None => {
            check_seeds(raw.seed, plan.seeds).map_err(|m| {
                amirange_files::field_error(&label, text, "seeds", format!("from the scenario's seed: {m}"))
            })?;
            raw.seed
        }
    };
    let raw_json = serde_json::to_value(&raw)?;
    let mut points: Vec<Vec<Value>> = vec![Vec::new()];
    for axis in &plan.grid {
        points = points
            .into_iter()
            .flat_map(|p| {
                axis.values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push(v.clone());
                    q
                })
            })
            .collect();
    }
    let seeds: Vec<u64> = (0..u64::from(plan.seeds)).map(|i| first_seed + i).collect();
    let overrides = Overrides {
        seed: None,
        meters: plan.meters,
        duration: plan.duration.clone(),
    };
    // The plan's `meters` and `duration` reach the scenario as overrides: blame their faults on
    // the plan's fields, not on command-line flags.
    let blame_plan = |e: scenario::ScenarioError| {
        let e = scenario::blame_on_file(e, "--meters", &label, text, "meters");
        scenario::blame_on_file(e, "--duration", &label, text, "duration")
    };
    let mut scenarios = Vec::with_capacity(points.len() * seeds.len());
    for (p, values) in points.iter().enumerate() {
        let mut json = raw_json.clone();
        for (i, (axis, v)) in plan.grid.iter().zip(values).enumerate() {
            set_path(&mut json, &axis.path, v.clone())
                .map_err(|e| amirange_files::field_error(&label, text, &format!("grid[{i}].path"), e))?;
        }
        let point_raw: scenario::RawScenario = serde_json::from_value(json).map_err(|e| {
            amirange_files::field_error(
                &label,
                text,
                "grid",
                format!(
                    "grid point {p} ({}): the scenario does not take these values: {e}",
                    describe(&plan, values)
                ),
            )
        })?;
        // A measure of `attacks[i]` needs the point's scenario to have an attack `i`.
        for (k, m) in plan.measures.iter().enumerate() {
            let first = steps(m).ok().and_then(|s| s.first().copied());
            if let Some(Step {
                key: "attacks",
                index: Some(i),
            }) = first
            {
                let n = point_raw.attacks.len();
                if i >= n {
                    return Err(measure_error(
                        &label,
                        text,
                        &plan,
                        k,
                        format!(
                            "no measure `{m}` in metrics.json: grid point {p} ({}) has {n} attack{}, no attacks[{i}]",
                            describe(&plan, values),
                            if n == 1 { "" } else { "s" }
                        ),
                    )
                    .into());
                }
            }
        }
        for &seed in &seeds {
            let mut raw = point_raw.clone();
            raw.seed = seed;
            let mut s =
                scenario::load_raw(&scenario_label, &source, raw, &overrides).map_err(|e| SweepError::GridPoint {
                    point: p,
                    values: describe(&plan, values),
                    error: Box::new(blame_plan(e)),
                })?;
            if let Some(preset) = &plan.preset {
                s.apply_preset(preset).map_err(|e| {
                    amirange_files::field_error(&label, text, "preset", format!("{}: {}", e.field, e.message))
                })?;
            }
            scenarios.push(s);
        }
    }
    Ok(Prepared {
        layout: Layout { plan, points, seeds },
        scenarios,
    })
}

fn describe(plan: &Plan, values: &[Value]) -> String {
    plan.grid
        .iter()
        .zip(values)
        .map(|(a, v)| format!("{} = {v}", a.path))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which runs shard `i` of `n` (1-based) does: every run whose index is `i - 1` modulo `n`.
pub fn shard_runs(total: usize, shard: Option<(usize, usize)>) -> Vec<usize> {
    match shard {
        None => (0..total).collect(),
        Some((i, n)) => (0..total).filter(|r| r % n == i - 1).collect(),
    }
}

/// Runs `runs` of the prepared sweep on `workers` threads; `done(run)` after each, with the
/// run's index. Returns the rows by run index and each run's `metrics.json`.
pub fn execute(
    prepared: &Prepared,
    runs: &[usize],
    workers: usize,
    done: impl Fn(usize) + Sync,
) -> Result<Vec<(RunRow, Vec<u8>)>, SweepError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::with_capacity(runs.len()));
    let failed: std::sync::Mutex<Option<SweepError>> = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&run) = runs.get(k) else { break };
                    if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                        break;
                    }
                    let scenario = &prepared.scenarios[run];
                    let outcome = crate::run::generate(scenario)
                        .and_then(|network| {
                            // A sweep keeps metrics.json only: no map to draw.
                            crate::run::execute_on(scenario, network, std::time::Instant::now(), false, |_, _| {})
                        })
                        .map_err(|source| SweepError::Run { run, source })
                        .and_then(|f| {
                            let metrics_error = |source| SweepError::RunMetrics { run, source };
                            let json = serde_json::to_value(&f.metrics).map_err(metrics_error)?;
                            let row: Vec<Option<f64>> = prepared
                                .layout
                                .plan
                                .measures
                                .iter()
                                .map(|m| measure(&json, m))
                                .collect();
                            let mut bytes = serde_json::to_vec_pretty(&f.metrics).map_err(metrics_error)?;
                            bytes.push(b'\n');
                            Ok(((run, row), bytes))
                        });
                    match outcome {
                        Ok(r) => {
                            if let Ok(mut v) = results.lock() {
                                v.push(r);
                            }
                            done(run);
                        }
                        Err(e) => {
                            if let Ok(mut f) = failed.lock() {
                                f.get_or_insert(e);
                            }
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().map_err(|_| SweepError::WorkerPanicked)? {
        return Err(e);
    }
    let mut rows = results.into_inner().map_err(|_| SweepError::WorkerPanicked)?;
    rows.sort_by_key(|((run, _), _)| *run);
    Ok(rows)
}

/// A sweep's charts and report, drawn from its summary: `plots/measure-K.svg` for each measure
/// that can be drawn (see [`amirange_viz::sweep_svg`]) and `report.html` with every chart, the
/// reason for any missing one, and the summary table.
pub fn report_files(layout: &Layout, summary: &str) -> Vec<(String, Vec<u8>)> {
    let plan = &layout.plan;
    let charts: Vec<(String, Result<String, amirange_viz::VizError>)> = plan
        .measures
        .iter()
        .map(|m| (m.clone(), amirange_viz::sweep_svg(summary, m)))
        .collect();
    let html = amirange_viz::sweep_report_html(
        &plan.name,
        plan.description.as_deref().unwrap_or_default(),
        summary,
        &charts,
    );
    let mut files: Vec<(String, Vec<u8>)> = charts
        .into_iter()
        .enumerate()
        .filter_map(|(k, (_, svg))| Some((format!("plots/measure-{k}.svg"), svg.ok()?.into_bytes())))
        .collect();
    files.push(("report.html".into(), html.into_bytes()));
    files
}

/// The columns of `runs.csv` for `plan`: run, point, seed, each axis's path, each measure.
pub fn runs_header(plan: &Plan) -> Vec<String> {
    let mut h: Vec<String> = ["run", "point", "seed"].map(String::from).into();
    h.extend(plan.grid.iter().map(|a| a.path.clone()));
    h.extend(plan.measures.iter().cloned());
    h
}

/// A grid value as a CSV cell's text: strings bare, numbers and sections as JSON (the CSV
/// writer quotes it when it must).
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders `runs.csv`: one row per run, in run order.
pub fn runs_csv(layout: &Layout, rows: &[RunRow]) -> String {
    let mut out = CsvText::new();
    out.row(runs_header(&layout.plan));
    let n_seeds = layout.seeds.len();
    for (run, measures) in rows {
        let point = run / n_seeds;
        let mut row = vec![
            run.to_string(),
            point.to_string(),
            layout.seeds[run % n_seeds].to_string(),
        ];
        row.extend(layout.points[point].iter().map(value_text));
        row.extend(measures.iter().map(|m| m.map_or_else(String::new, |x| x.to_string())));
        out.row(row);
    }
    out.finish()
}

/// Parses a `runs.csv` written by [`runs_csv`] for `layout` back into rows (the `csv` crate
/// reads it, so quoted values may hold commas, quotes and line breaks); a row of another
/// length, or a run the plan does not have, is an error naming the line it starts on.
pub fn parse_runs(layout: &Layout, text: &str, label: &str) -> Result<Vec<RunRow>, SweepError> {
    let plan = &layout.plan;
    let total = layout.total();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = records
        .next()
        .transpose()
        .map_err(|error| SweepError::RunsCsv {
            label: label.to_string(),
            error,
        })?
        .unwrap_or_default();
    if !header.iter().eq(runs_header(plan).iter().map(String::as_str)) {
        return Err(SweepError::RunsHeader {
            label: label.to_string(),
        });
    }
    let skip = 3 + plan.grid.len();
    let width = skip + plan.measures.len();
    records
        .map(|record| {
            let record = record.map_err(|error| SweepError::RunsCsv {
                label: label.to_string(),
                error,
            })?;
            let line = record.position().map_or(0, csv::Position::line);
            let run: usize = record
                .get(0)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| SweepError::NoRunIndex {
                    label: label.to_string(),
                    line,
                })?;
            if run >= total {
                return Err(SweepError::RunNotInPlan {
                    label: label.to_string(),
                    line,
                    run,
                    total,
                });
            }
            if record.len() != width {
                return Err(SweepError::RowWidth {
                    label: label.to_string(),
                    line,
                    cells: record.len(),
                    width,
                });
            }
            let measures = record
                .iter()
                .skip(skip)
                .map(|c| {
                    if c.is_empty() {
                        Ok(None)
                    } else {
                        c.parse::<f64>().map(Some)
                    }
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| SweepError::Cell {
                    label: label.to_string(),
                    line,
                    error,
                })?;
            Ok((run, measures))
        })
        .collect()
}

/// The two-sided 95% quantile of Student's t (its 97.5th percentile) with `df` degrees of
/// freedom, from `statrs`; `None` for no degrees of freedom.
pub fn t975(df: usize) -> Option<f64> {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    StudentsT::new(0.0, 1.0, df as f64).ok().map(|t| t.inverse_cdf(0.975))
}

/// Renders `summary.csv` from every run's rows: per grid point and measure, the number of runs
/// with a value, mean, sample standard deviation and the 95% confidence interval of the mean
/// (Student's t with n - 1 degrees of freedom, [`t975`]).
pub fn summary_csv(layout: &Layout, rows: &[RunRow]) -> String {
    let plan = &layout.plan;
    let mut out = CsvText::new();
    let mut header = vec!["point".to_owned()];
    header.extend(plan.grid.iter().map(|a| a.path.clone()));
    header.extend(["measure", "n", "mean", "sd", "ci95_low", "ci95_high"].map(String::from));
    out.row(header);
    let n_seeds = layout.seeds.len();
    let round = |x: f64| round_to(x, 9).to_string();
    for (p, values) in layout.points.iter().enumerate() {
        for (k, m) in plan.measures.iter().enumerate() {
            let xs: Vec<f64> = rows
                .iter()
                .filter(|(run, _)| run / n_seeds == p)
                .filter_map(|(_, ms)| ms[k])
                .collect();
            let n = xs.len();
            let mut row = vec![p.to_string()];
            row.extend(values.iter().map(value_text));
            row.extend([m.clone(), n.to_string()]);
            // mean, sd, ci95_low, ci95_high: blank where there are too few values.
            let mut cells = [String::new(), String::new(), String::new(), String::new()];
            if n > 0 {
                let mean = xs.iter().sum::<f64>() / n as f64;
                cells[0] = round(mean);
                if n > 1 {
                    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
                    let sd = var.sqrt();
                    cells[1] = round(sd);
                    if let Some(t) = t975(n - 1) {
                        let half = t * sd / (n as f64).sqrt();
                        cells[2] = round(mean - half);
                        cells[3] = round(mean + half);
                    }
                }
            }
            row.extend(cells);
            out.row(row);
        }
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Student's t from `statrs` agrees with the closed forms for 1 and 2 degrees of freedom,
    /// with the printed 3-decimal table the summary used before (within its rounding), and
    /// tends to the normal 1.96 for many degrees of freedom.
    #[test]
    fn t975_agrees_with_the_closed_forms_and_the_printed_table() {
        let t = |df: usize| t975(df).expect("a quantile");
        // df = 1 is the Cauchy distribution: tan(pi (p - 1/2)).
        assert!((t(1) - (std::f64::consts::PI * 0.475).tan()).abs() < 1e-9, "{}", t(1));
        // df = 2: (2p - 1) / sqrt(2 p (1 - p)).
        assert!(
            (t(2) - 0.95 / (2.0 * 0.975 * 0.025_f64).sqrt()).abs() < 1e-9,
            "{}",
            t(2)
        );
        let printed = [
            12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
            2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
        ];
        for (i, p) in printed.iter().enumerate() {
            assert!(
                (t(i + 1) - p).abs() <= 0.0005 + 1e-12,
                "df {}: {} against {p}",
                i + 1,
                t(i + 1)
            );
        }
        assert!((t(100_000) - 1.959_964).abs() < 1e-4);
        assert_eq!(t975(0), None);
    }

    /// A measure's path is refused by name when it is malformed.
    #[test]
    fn malformed_measure_paths_are_refused() {
        let schema = metrics_schema();
        assert!(check_measure(&schema, "reads.missing").is_ok());
        assert!(check_measure(&schema, "attacks[0].blast_radius.readings_lost").is_ok());
        for (path, expected) in [
            ("attacks[x].start_s", "`attacks[x]` is not `name[index]`"),
            ("attacks[0.start_s", "is not `name[index]`"),
            ("reads..missing", "has an empty name in it"),
            ("attacks.start_s", "`attacks` is a list"),
            ("reads[0].missing", "`reads` is not a list: drop `[0]`"),
            ("reads.missing.x", "`reads.missing` is a single value"),
        ] {
            let err = check_measure(&schema, path).expect_err(path);
            assert!(err.contains(expected), "{path}: {err}");
        }
    }
}
