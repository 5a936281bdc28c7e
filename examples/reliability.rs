//! Reliability per preset over a simulated year: the utility's planned equipment faults,
//! storms and crew restoration for each named topology preset, summarised as IEEE 1366 SAIFI
//! and SAIDI with and without major event days (2.5 beta method), beside the published bands
//! they should fall in. Run it in release mode:
//!
//! ```text
//! cargo run --release --example reliability -- town-10k suburb-100k
//! ```
//!
//! `town-10k:40000` resizes a preset to 40,000 meters. With no argument it runs `town-10k`, `rural-50k` and `suburb-100k`. It plans a year
//! (1 January to 31 December 2026) with `operations::plan` on the preset's network, the same
//! planner a run uses, without stepping the data plane (protection trips, which need the load,
//! are not included).

use std::time::Instant;

use amirange_sim::config::SimConfig;
use amirange_sim::engine::Sim;
use amirange_sim::model::CustomerClass;
use amirange_sim::operations::{OperationsConfig, plan, reliability};
use amirange_sim::time::{CivilDateTime, SimDuration};

/// A range of values, low to high.
type Range = (f64, f64);

/// Published bands, excluding major events: (name, SAIFI range, SAIDI range in minutes).
const BANDS: [(&str, Range, Range); 3] = [
    // CEER Benchmarking Report 6.1 (2018): unplanned SAIDI without exceptional events 9-290 min
    // across European countries, most western countries 10-70; Germany (BNetzA, 2023) 12.8 min
    // with a SAIFI of about 0.2-0.3 (derived).
    ("Europe (CEER 6.1, western countries)", (0.1, 1.0), (9.0, 70.0)),
    ("Germany (BNetzA 2023: SAIDI 12.8 min)", (0.1, 0.5), (9.0, 25.0)),
    // EIA Electric Power Annual 2023, Table 11.1 (IEEE 1366 without major event days): SAIFI
    // 1.022, SAIDI 123.9 min; state range SAIFI 0.59-1.98, SAIDI 52-247 min (Table 11.3).
    ("United States (EIA 2023, states)", (0.59, 1.98), (52.0, 247.0)),
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let presets: Vec<String> = if args.is_empty() {
        ["town-10k", "rural-50k", "suburb-100k"].map(String::from).to_vec()
    } else {
        args
    };
    let ops = OperationsConfig::typical();
    let kwh = CustomerClass::ALL.map(|c| SimConfig::default_class(c).mean_annual_kwh);
    let start = CivilDateTime::parse("2026-01-01T00:00").ok_or_else(|| anyhow::anyhow!("bad start"))?;
    println!(
        "{:<12} {:>9} {:>8} {:>6} {:>9} {:>7} {:>7} {:>8} {:>9} {:>9} {:>6} {:>8}",
        "preset",
        "customers",
        "MV km",
        "crews",
        "wait max",
        "outages",
        "storms",
        "SAIFI",
        "SAIDI",
        "SAIDI all",
        "MEDs",
        "seconds"
    );
    for name in &presets {
        let began = Instant::now();
        // `preset:meters` resizes the preset.
        let (name, meters) = match name.split_once(':') {
            Some((n, m)) => (n, Some(m.parse::<i64>()?)),
            None => (name.as_str(), None),
        };
        let text = amirange_topologies::preset(name).ok_or_else(|| anyhow::anyhow!("no preset {name}"))?;
        let area = amirange::scenario::load_area(name, text, meters)?;
        let net = area.generate(2026, kwh)?;
        let customers = net.meters.len() as u64;
        let km = mv_km(&net);
        let mut sim = Sim::new(SimConfig::with_defaults(2026, start, SimDuration::from_days(365)), net)?;
        let counts = plan(&mut sim, &ops)?;
        let r = reliability(&counts.interruptions, customers, 365);
        println!(
            "{:<12} {:>9} {:>8.0} {:>6} {:>9} {:>7} {:>7} {:>8.3} {:>9.1} {:>9.1} {:>6} {:>8.1}",
            name,
            customers,
            km,
            counts.crews,
            format!("{} min", counts.longest_crew_wait_minutes),
            counts.interruptions.len(),
            counts.storms,
            r.saifi_excl_med,
            r.saidi_excl_med_min,
            r.saidi_min,
            r.major_event_days,
            began.elapsed().as_secs_f64()
        );
    }
    println!("\n\"wait max\" is the longest a fault waited for a free crew beyond its travel time.");
    println!("SAIFI (interruptions per customer a year) and SAIDI (minutes a year) exclude major event");
    println!("days (IEEE 1366, 2.5 beta); \"SAIDI all\" includes them. Published bands (excluding major events):");
    for (band, saifi, saidi) in BANDS {
        println!(
            "  {band:<40} SAIFI {:.2}-{:.2}, SAIDI {:.0}-{:.0} min",
            saifi.0, saifi.1, saidi.0, saidi.1
        );
    }
    Ok(())
}

/// Km of MV line: each feeder from its substation through its transformers in turn.
fn mv_km(net: &amirange_sim::network::Network) -> f64 {
    let mut last: Vec<(f32, f32)> = net
        .feeders
        .iter()
        .map(|f| {
            net.substations
                .get(f.substation as usize)
                .map_or((0.0, 0.0), |s| (s.pos.x, s.pos.y))
        })
        .collect();
    let mut km = 0.0f64;
    for t in &net.transformers {
        let l = &mut last[t.feeder as usize];
        km += f64::from((t.pos.x - l.0).hypot(t.pos.y - l.1)) / 1000.0;
        *l = (t.pos.x, t.pos.y);
    }
    km
}
