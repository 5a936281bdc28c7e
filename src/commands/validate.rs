//! `amirange validate`: a scenario, exercise, sweep or dataset plan checked without running it.

use std::path::Path;

use amirange::scenario::{self, Overrides, Scenario};
use amirange_viz::numbers::group;
use anyhow::Result;

use crate::CommonArgs;

/// `amirange validate`: a scenario, exercise or sweep plan checked and summarised.
pub(crate) fn cmd_validate(common: &CommonArgs) -> Result<()> {
    // An exercise or a sweep plan is told by its opening struct name; anything else is read as
    // a scenario (whose loader refuses a file that is not one).
    if let Some(path) = &common.scenario {
        let text = amirange_files::read_text(path, "file", amirange_files::MAX_SOURCE_BYTES)?;
        let kind = match amirange_files::opening(&text) {
            amirange_files::Opening::Named(name) if name == "Exercise" => Some("an exercise file"),
            amirange_files::Opening::Named(name) if name == "Sweep" => Some("a sweep plan"),
            amirange_files::Opening::Named(name) if name == "Dataset" => Some("a dataset plan"),
            _ => None,
        };
        if let Some(kind) = kind {
            if common.seed.is_some() || common.meters.is_some() || common.duration.is_some() || common.preset.is_some()
            {
                anyhow::bail!(
                    "--seed, --meters, --duration and --preset apply to scenario files; {} is {kind}",
                    path.display()
                );
            }
            return if kind == "a sweep plan" {
                validate_sweep(path, &text)
            } else if kind == "a dataset plan" {
                validate_dataset(path)
            } else {
                validate_exercise(path, &text)
            };
        }
    }
    let (scenario, label) = common.load()?;
    println!("{label}: ok");
    print_scenario_summary(&scenario);
    Ok(())
}

/// The summary `validate` prints of a scenario: name, seed, size, time, attacks.
fn print_scenario_summary(scenario: &Scenario) {
    println!(
        "  {} · seed {} · {} meters · {} from {} ({} intervals)",
        scenario.name,
        scenario.seed(),
        group(scenario.meters()),
        scenario.duration,
        scenario.sim.start,
        scenario.n_intervals()
    );
    for a in &scenario.attacks {
        let tags = a.tags();
        println!(
            "  attack {}: {} ({} {}, {}) at {:?}",
            a.id(),
            tags.kind,
            tags.technique.id,
            tags.technique.name,
            tags.stride.name(),
            a.at()
        );
    }
}

/// `validate` of a dataset plan: every run's scenario built and checked, one line per run.
fn validate_dataset(path: &Path) -> Result<()> {
    let (plan, _, runs) = amirange::dataset::prepare(path)?;
    println!("{}: ok", path.display());
    println!(
        "  dataset {} · {} run(s) of {} part(s) · exports {:?}",
        plan.name,
        runs.len(),
        plan.parts.len(),
        plan.export
    );
    for (k, run) in runs.iter().enumerate() {
        let kinds: Vec<&str> = run.scenario.attacks.iter().map(|a| a.tags().kind).collect();
        println!(
            "  {} {} · {} · seed {} · {} meters · {}",
            amirange::dataset::run_dir(k),
            run.source,
            run.preset.as_deref().unwrap_or("its own defenses"),
            run.scenario.seed(),
            group(run.scenario.meters()),
            if kinds.is_empty() {
                "no attack".to_owned()
            } else {
                kinds.join(", ")
            }
        );
    }
    Ok(())
}

/// `validate` of an exercise file: the file, then its scenario (scaled to the exercise's
/// `meters`). A token read from an environment variable that is not set here is checked with a
/// stand-in and reported, since `serve` may run where it is set.
fn validate_exercise(path: &Path, text: &str) -> Result<()> {
    let unset = std::cell::RefCell::new(Vec::<String>::new());
    let exercise = amirange_range::exercise::Exercise::load(path, text, |var| {
        std::env::var(var).ok().or_else(|| {
            let mut unset = unset.borrow_mut();
            unset.push(var.to_owned());
            Some(format!("validate-stand-in-token-{}", unset.len()))
        })
    })?;
    let label = path.display().to_string();
    let scenario_label = exercise.scenario.display().to_string();
    let source = scenario::read_source(&exercise.scenario)
        .map_err(|e| amirange_files::field_error(&label, text, "scenario", e.to_string()))?;
    let overrides = Overrides {
        seed: None,
        meters: exercise.meters.and_then(|m| i64::try_from(m).ok()),
        duration: None,
    };
    let scenario = scenario::load(&scenario_label, &source, &overrides)
        .map_err(|e| scenario::blame_on_file(e, "--meters", &label, text, "meters"))?;
    println!("{label}: ok (exercise)");
    println!(
        "  {} · pace {} simulated seconds per second · listens on {} · dashboard on {}",
        exercise.name, exercise.pace, exercise.listen, exercise.dashboard
    );
    if let Some(description) = exercise.description.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        println!("  {description}");
    }
    let unset = unset.into_inner();
    for team in &exercise.teams {
        let token = if team.generated {
            "token generated at start".to_owned()
        } else {
            "token given".to_owned()
        };
        println!("  team {}: {} · {token}", team.name, team.role.name());
    }
    for var in &unset {
        println!("  note: ${var} is not set here; `serve` needs it");
    }
    println!("  scenario {scenario_label}:");
    print_scenario_summary(&scenario);
    Ok(())
}

/// `validate` of a sweep plan: the plan and every run's scenario, built as `sweep` would.
fn validate_sweep(path: &Path, text: &str) -> Result<()> {
    let prepared = amirange::sweep::prepare_source(path, text)?;
    let layout = &prepared.layout;
    let plan = &layout.plan;
    println!("{}: ok (sweep plan)", path.display());
    println!(
        "  {} · scenario {} · {} grid points x {} seeds = {} runs",
        plan.name,
        plan.scenario,
        group(layout.points.len() as u64),
        group(layout.seeds.len() as u64),
        group(layout.total() as u64)
    );
    for axis in &plan.grid {
        let n = axis.values.len();
        println!("  axis {}: {n} value{}", axis.path, if n == 1 { "" } else { "s" });
    }
    println!("  measures: {}", plan.measures.join(", "));
    Ok(())
}
