//! Communications as a utility sees them: daily read rates per link kind with chronic
//! non-communicators dark for days.

use amirange::run::Finished;
use amirange::scenario::{Overrides, Scenario};
use amirange_sim::model::LinkKind;
use amirange_sim::network::Orphan;

/// A town of 3,000 meters over three winter days, without operations or attacks (so that
/// nothing but communication faults keeps meters from being read).
fn quiet_town(days: u32) -> Scenario {
    town_with(days, "")
}

/// The same town with `metering` fields set.
fn town_with(days: u32, metering: &str) -> Scenario {
    let text = format!(
        r#"Scenario(
    name: "comms",
    description: "daily read rate",
    seed: 7,
    start: "2026-01-15T00:00:00",
    duration: "{days}d",
    topology: Preset("town-10k"),
    metering: ({metering}),
    operations: None,
    attacks: [],
)"#
    );
    let overrides = Overrides {
        meters: Some(3_000),
        ..Overrides::default()
    };
    amirange::scenario::load("comms.ron", &text, &overrides).unwrap_or_else(|e| panic!("{e}"))
}

fn run(scenario: &Scenario) -> Finished {
    amirange::run::execute(scenario, |_, _| {}).expect("runs")
}

/// By default the daily read rate of every link kind (meter-days whose register reached the
/// HES that day) lies between 98 % and 99.5 %, as in deployed AMI fleets, and the misses come
/// from chronic non-communicators: a few per cent of meters, each dark for days on end, some
/// dark now.
#[test]
fn the_daily_read_rate_of_every_link_kind_is_between_98_and_99_5_percent_with_chronic_non_communicators() {
    let scenario = quiet_town(3);
    let finished = run(&scenario);
    let reads = &finished.metrics.reads;
    for kind in LinkKind::ALL {
        let l = &reads.by_link[kind.name()];
        assert_eq!(
            l.meter_days,
            l.meters * 3,
            "{}: three whole days per meter",
            kind.name()
        );
        assert!(
            (98.0..=99.5).contains(&l.daily_read_pct),
            "{}: daily read rate {}%",
            kind.name(),
            l.daily_read_pct
        );
    }
    let state = finished.sim.net_state();
    let n = finished.sim.network().meters.len();
    let chronic = state.chronic.len();
    assert!(
        (n / 100..=n * 3 / 100).contains(&chronic),
        "{chronic} chronic non-communicators among {n} meters"
    );
    // Dark ones now are unreachable with their radio down, and nothing else is.
    let dark = state.dark.iter().filter(|&&d| d).count();
    assert!(dark > 0 && dark < chronic, "{dark} of {chronic} dark at the end");
    let orphans = state.reach_summary().orphans;
    let radio_down = orphans[Orphan::ALL
        .iter()
        .position(|&o| o == Orphan::RadioDown)
        .expect("listed")];
    assert_eq!(radio_down, dark as u64);
    // Their intervals were estimated; those still in memory when a meter came back were
    // backfilled, the rest reconciled from its register.
    assert!(reads.unrecoverable > 0 && reads.backfilled > 0);
}

/// A collector outage darkens all its meters for hours at once: with an outage a day at every
/// collector (6 hours on average), some collector reads none of its meters for at least two
/// hours in a row, and reads are lost to outages on every link kind.
#[test]
fn a_collector_outage_darkens_all_its_meters_for_hours() {
    let scenario = town_with(
        1,
        "chronic_share: (mesh: 0.0, plc: 0.0, cellular: 0.0), collector_outages_per_year: 365.0, collector_outage_mean: \"6h\"",
    );
    let finished = run(&scenario);
    for kind in LinkKind::ALL {
        let l = &finished.metrics.reads.by_link[kind.name()];
        assert!(l.backhaul_lost * 10 > l.attempts, "{}: {l:?}", kind.name());
    }
    // Per cycle and collector: the meters it read (none while it is out).
    let records = finished.sim.records();
    let n = finished.sim.network().collectors.len();
    let longest_dark = (0..n)
        .map(|c| {
            let reads: Vec<u32> = records.collector_reads.iter().skip(c).step_by(n).copied().collect();
            let (mut run, mut best) = (0, 0);
            for &r in &reads {
                run = if r == 0 { run + 1 } else { 0 };
                best = best.max(run);
            }
            if reads.iter().any(|&r| r > 0) { best } else { 0 }
        })
        .max()
        .unwrap_or(0);
    assert!(
        longest_dark >= 8,
        "longest dark spell of a collector: {longest_dark} cycles"
    );
}

/// On a day of bad weather RF reads lose their share of success and PLC reads do not.
#[test]
fn bad_weather_degrades_radio_reads_but_not_powerline() {
    let clear = run(&town_with(
        1,
        "chronic_share: (mesh: 0.0, plc: 0.0, cellular: 0.0), weather_day_share: 0.0",
    ));
    let stormy = run(&town_with(
        1,
        "chronic_share: (mesh: 0.0, plc: 0.0, cellular: 0.0), weather_day_share: 1.0, weather_success: 0.5",
    ));
    let (c, s) = (&clear.metrics.reads.by_link, &stormy.metrics.reads.by_link);
    assert_eq!(c["plc"], s["plc"]);
    for kind in ["mesh", "cellular"] {
        assert!(
            s[kind].success_pct < 0.7 * c[kind].success_pct,
            "{kind}: {} clear, {} stormy",
            c[kind].success_pct,
            s[kind].success_pct
        );
    }
}

/// The town with a mesh worm flashed by hand onto the mesh meters near collector 0 at 06:00,
/// infecting on every contact, carrying an image of `image_kb`, over a mesh of `mesh_bps`.
fn worm_town(image_kb: u32, mesh_bps: f64, worm: bool) -> Scenario {
    let attacks = if worm {
        format!(
            r#"RogueFirmware(
            id: "worm",
            at: "0d 06:00",
            delivery: Worm(entry: Area(center: Collector(0), radius_m: 150), infection: 1.0, hop_delay: "5m"),
            signing: LeakedKey,
            payload: FalseReadings(share: 0.5),
            image_kb: {image_kb},
        ),"#
        )
    } else {
        String::new()
    };
    let text = format!(
        r#"Scenario(
    name: "worm",
    description: "worm airtime",
    seed: 7,
    start: "2026-01-15T00:00:00",
    duration: "1d",
    topology: Preset("town-10k"),
    operations: None,
    attacks: [{attacks}],
)"#
    );
    let overrides = Overrides {
        meters: Some(3_000),
        ..Overrides::default()
    };
    let mut scenario = amirange::scenario::load("worm.ron", &text, &overrides).unwrap_or_else(|e| panic!("{e}"));
    scenario.topology.links.mesh.bandwidth_bps = mesh_bps;
    scenario
}

/// Hours from the worm's start until it has infected `n` meters (its truth records), if it did.
fn hours_to_infect(finished: &Finished, n: usize) -> Option<f64> {
    let mut infected = 0;
    for t in &finished.sim.records().truth {
        if t.source == "worm" && t.kind == "infected" {
            infected += t.meters.len();
            if infected >= n {
                return Some(t.time.0 as f64 / 3.6e9 - 6.0);
            }
        }
    }
    None
}

/// A worm's images take airtime on the shared channel of each sender's collector, one after
/// another and with the read cycles: it spreads more slowly with a larger image and faster
/// over a faster mesh, and while images flow the mesh's reads queue behind them (late, so
/// estimated), while PLC and cellular reads do not notice.
#[test]
fn a_worm_spreads_at_the_pace_of_its_airtime_and_crowds_out_reads() {
    let base = run(&worm_town(256, 50_000.0, true));
    let small = run(&worm_town(64, 50_000.0, true));
    let fast = run(&worm_town(256, 150_000.0, true));
    let quiet = run(&worm_town(256, 50_000.0, false));
    let n = 600;
    let hours = |f: &Finished| hours_to_infect(f, n).unwrap_or(f64::INFINITY);
    let (t_base, t_small, t_fast) = (hours(&base), hours(&small), hours(&fast));
    // A 256 KiB image is 42 s per transfer at 50 kbit/s: hundreds of meters take hours.
    assert!(t_base > 2.0 && t_base.is_finite(), "{n} meters in {t_base} h");
    assert!(t_small < 0.6 * t_base, "64 KiB: {t_small} h, 256 KiB: {t_base} h");
    assert!(t_fast < 0.6 * t_base, "150 kbit/s: {t_fast} h, 50 kbit/s: {t_base} h");
    let (w, q) = (&base.metrics.reads.by_link, &quiet.metrics.reads.by_link);
    assert!(
        w["mesh"].success_pct < q["mesh"].success_pct - 10.0,
        "mesh reads on time: {} with the worm, {} without",
        w["mesh"].success_pct,
        q["mesh"].success_pct
    );
    assert!(w["mesh"].late > 0 && w["mesh"].mean_latency_ms > 2.0 * q["mesh"].mean_latency_ms);
    assert_eq!(w["plc"], q["plc"]);
    assert_eq!(w["cellular"], q["cellular"]);
}
