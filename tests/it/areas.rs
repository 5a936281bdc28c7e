//! Service areas that match real ones: each preset's class mix and consumption give an energy
//! split and a winter-workday peak like a real distribution area of its kind (bands and sources
//! in docs/parameters.md, "Service areas and customers").

use amirange::scenario::{Overrides, Scenario};
use amirange_sim::dataplane::ProfileTable;
use amirange_sim::model::CustomerClass;
use amirange_topologies::AreaKind;

/// A one-day scenario on `preset`, starting on a winter Wednesday.
fn scenario_on(preset: &str, meters: i64) -> Scenario {
    let text = format!(
        r#"Scenario(name: "areas", seed: 5, start: "2026-01-14T00:00:00", duration: "1d", topology: Preset("{preset}"))"#
    );
    let overrides = Overrides {
        meters: Some(meters),
        ..Overrides::default()
    };
    amirange::scenario::load("areas.ron", &text, &overrides).unwrap_or_else(|e| panic!("{e}"))
}

/// Each class's share of the area's annual energy, in `CustomerClass::ALL` order, as configured
/// (class share times mean consumption).
fn energy_split(scenario: &Scenario) -> [f64; 4] {
    let energy = CustomerClass::ALL
        .map(|c| scenario.topology.class_mix[c.index()] * scenario.sim.classes[c.index()].mean_annual_kwh);
    let total: f64 = energy.iter().sum();
    energy.map(|e| e / total)
}

/// The fleet's expected load over the scenario's first day (a winter workday), per
/// quarter-hour, kW per meter: every class's profile from the engine's own table, weighted by
/// its share of premises and mean consumption.
fn winter_workday_fleet_kw(scenario: &Scenario) -> Vec<f64> {
    let table = ProfileTable::build(&scenario.sim);
    (0..96)
        .map(|slot| {
            CustomerClass::ALL
                .iter()
                .map(|&c| {
                    scenario.topology.class_mix[c.index()] * scenario.sim.classes[c.index()].mean_annual_kwh / 1_000.0
                        * f64::from(table.kw(c, slot))
                })
                .sum()
        })
        .collect()
}

/// The energy bands per kind of area, residential, commercial, industrial, critical (lowest,
/// highest share of energy), as docs/parameters.md gives them.
fn bands(kind: AreaKind) -> [(f64, f64); 4] {
    match kind {
        AreaKind::Suburban | AreaKind::Rural => [(0.45, 0.60), (0.20, 0.35), (0.10, 0.20), (0.0, 0.10)],
        AreaKind::Urban => [(0.30, 0.45), (0.35, 0.50), (0.10, 0.20), (0.0, 0.10)],
    }
}

/// Every preset's energy split per class falls in the band of its kind of area, and its fleet
/// peaks on a winter workday where an area of that kind does: the residential evening
/// (16:00-21:00) in towns, suburbs and the countryside; during the working day in the
/// commercial-heavy city.
#[test]
fn every_preset_splits_its_energy_and_peaks_like_a_real_area_of_its_kind() {
    for (preset, _) in amirange_topologies::PRESETS {
        let scenario = scenario_on(preset, 1_000);
        let split = energy_split(&scenario);
        for (c, (lo, hi)) in bands(scenario.topology.kind).into_iter().enumerate() {
            assert!(
                (lo..=hi).contains(&split[c]),
                "{preset}: {} takes {:.1}% of the energy, outside {:.0}-{:.0}%",
                CustomerClass::ALL[c].name(),
                split[c] * 100.0,
                lo * 100.0,
                hi * 100.0
            );
        }
        let fleet = winter_workday_fleet_kw(&scenario);
        let peak_slot = (0..fleet.len())
            .max_by(|&a, &b| fleet[a].total_cmp(&fleet[b]).then(b.cmp(&a)))
            .unwrap_or(0);
        let hour = peak_slot as f64 / 4.0;
        let expected = match scenario.topology.kind {
            AreaKind::Urban => 8.0..19.0,
            AreaKind::Suburban | AreaKind::Rural => 16.0..21.0,
        };
        assert!(
            expected.contains(&hour),
            "{preset}: the winter workday peak is at {hour:.2} h, expected {expected:?} ({split:?})"
        );
    }
}

/// The residential evening is not a tie with the working day in a suburb: its evening peak
/// stands at least 5% above the highest quarter-hour between 08:00 and 15:00.
#[test]
fn the_suburb_evening_peak_clearly_beats_its_working_day() {
    let scenario = scenario_on("suburb-100k", 1_000);
    let fleet = winter_workday_fleet_kw(&scenario);
    let day = fleet[32..60].iter().copied().fold(0.0, f64::max);
    let evening = fleet[64..84].iter().copied().fold(0.0, f64::max);
    assert!(evening > day * 1.05, "evening {evening:.3} kW vs day {day:.3} kW");
}

/// Large customers are interval-metered and follow a measured-style shift-operation shape, not
/// a standard load profile: over a week of 60 factories and 60 homes, every premise above
/// 100,000 kWh/a is interval-metered and no home is; the factories' workday is well above their
/// Sunday; and the factories differ among themselves (their night share of a workday spans a
/// wide range, single-shift to three-shift), where a standard profile would give every one the
/// same shape.
#[test]
fn large_customers_are_interval_metered_on_their_own_shift_shapes() {
    use amirange_sim::config::SimConfig;
    use amirange_sim::engine::Sim;
    use amirange_sim::interval_metering::MeteringKind;
    use amirange_sim::model::LinkKind;
    use amirange_sim::network::{LinkParams, Network};
    use amirange_sim::time::{CivilDateTime, SimDuration, SimTime};

    let n_each = 60u32;
    let classes = (0..2 * n_each).map(|i| {
        let class = if i < n_each {
            CustomerClass::Industrial
        } else {
            CustomerClass::Residential
        };
        (class, LinkKind::Cellular)
    });
    let network = Network::small(LinkParams::typical(), classes);
    // Monday 2026-01-12 to Monday 2026-01-19.
    let start = CivilDateTime::parse("2026-01-12T00:00").expect("valid");
    let mut sim = Sim::new(SimConfig::with_defaults(3, start, SimDuration::from_days(7)), network).expect("valid");
    let hours = |h: u64| SimTime(SimDuration::from_hours(h).as_micros());
    let registers = |sim: &Sim| -> Vec<f64> {
        (0..2 * n_each)
            .map(|m| sim.meter(m).expect("exists").register_wh)
            .collect()
    };
    // Tuesday: the night (00:00-05:00) and the whole day; Sunday: the whole day.
    sim.step_until(hours(24)).expect("steps");
    let tuesday_start = registers(&sim);
    sim.step_until(hours(29)).expect("steps");
    let tuesday_night_end = registers(&sim);
    sim.step_until(hours(48)).expect("steps");
    let tuesday_end = registers(&sim);
    sim.step_until(hours(144)).expect("steps");
    let sunday_start = registers(&sim);
    sim.step_until(hours(168)).expect("steps");
    let sunday_end = registers(&sim);

    let (mut workday_wh, mut sunday_wh) = (0.0, 0.0);
    let mut night_shares = Vec::new();
    for m in 0..2 * n_each {
        let premise = sim.premise(m).expect("exists");
        let expected = if premise.annual_kwh > 100_000.0 {
            MeteringKind::IntervalMetered
        } else {
            MeteringKind::StandardLoadProfile
        };
        assert_eq!(
            premise.metering(),
            expected,
            "meter {m} at {} kWh/a",
            premise.annual_kwh
        );
        let i = m as usize;
        if premise.class == CustomerClass::Industrial {
            workday_wh += tuesday_end[i] - tuesday_start[i];
            sunday_wh += sunday_end[i] - sunday_start[i];
            night_shares.push((tuesday_night_end[i] - tuesday_start[i]) / (tuesday_end[i] - tuesday_start[i]));
        } else {
            assert_eq!(premise.metering(), MeteringKind::StandardLoadProfile, "a home");
        }
    }
    let interval_metered = (0..n_each)
        .filter(|&m| sim.premise(m).expect("exists").metering() == MeteringKind::IntervalMetered)
        .count();
    assert!(
        interval_metered * 10 >= n_each as usize * 8,
        "{interval_metered} of {n_each} factories"
    );
    assert!(
        workday_wh > 2.0 * sunday_wh,
        "workday {workday_wh} Wh, Sunday {sunday_wh} Wh"
    );
    night_shares.sort_by(f64::total_cmp);
    let (low, high) = (night_shares[5], night_shares[night_shares.len() - 6]);
    assert!(high > 1.5 * low, "night shares from {low:.3} to {high:.3}");
}

/// A critical facility with a backup keeps supply while its feeder is out, and the run records
/// it as on its backup: a standby generator whatever the grid does, a second feed while the
/// other feeder of its pair is in; a facility without one is off like every other premise.
#[test]
fn a_facility_with_a_backup_keeps_supply_when_its_feeder_is_out() {
    use amirange_sim::config::SimConfig;
    use amirange_sim::engine::{Input, Sim};
    use amirange_sim::model::{Cause, LinkKind};
    use amirange_sim::network::{BackupSupply, Feeder, LinkParams, Network, Transformer};
    use amirange_sim::time::{CivilDateTime, SimDuration, SimTime};

    let mut network = Network::small(
        LinkParams::typical(),
        [
            CustomerClass::Critical,
            CustomerClass::Critical,
            CustomerClass::Critical,
            CustomerClass::Residential,
        ]
        .map(|c| (c, LinkKind::Cellular)),
    );
    // A second feeder, with the home on it.
    network.feeders.push(Feeder {
        substation: 0,
        rating_kw: 8_000.0,
        no_load_loss_kw: 1.0,
    });
    network.transformers.push(Transformer {
        pos: network.transformers[0].pos,
        feeder: 1,
        rating_kva: 630.0,
    });
    network.meters[3].transformer = 1;
    network.backup_supplies = vec![(0, BackupSupply::StandbyGenerator), (1, BackupSupply::SecondFeed)];
    let start = CivilDateTime::parse("2026-01-14T00:00").expect("valid");
    let mut sim = Sim::new(SimConfig::with_defaults(9, start, SimDuration::from_hours(8)), network).expect("valid");
    let at = |h: u64| SimTime(SimDuration::from_hours(h).as_micros());
    let supply = |feeder: u32, energized: bool| Input::FeederSupply {
        feeder,
        energized,
        cause: Cause::Outage,
    };
    // Feeder 0 out 02:00-05:00; feeder 1 out too 03:00-04:00.
    sim.schedule(at(2), supply(0, false)).expect("valid");
    sim.schedule(at(3), supply(1, false)).expect("valid");
    sim.schedule(at(4), supply(1, true)).expect("valid");
    sim.schedule(at(5), supply(0, true)).expect("valid");
    sim.run_to_end().expect("runs");
    let records = sim.records();
    let hour = SimDuration::from_hours(1).as_micros();
    let outage = Cause::Outage.index();
    // The generator carries its facility through all three hours.
    assert!(
        !records.critical_off_us.contains_key(&0),
        "{:?}",
        records.critical_off_us
    );
    assert_eq!(records.critical_on_backup_us.get(&0), Some(&(3 * hour)));
    // The second feed carries its facility while feeder 1 is in: two of the three hours.
    assert_eq!(records.critical_on_backup_us.get(&1), Some(&(2 * hour)));
    assert_eq!(records.critical_off_us.get(&1).map(|v| v[outage]), Some(hour));
    // No backup: off for the whole outage.
    assert_eq!(records.critical_off_us.get(&2).map(|v| v[outage]), Some(3 * hour));
    assert!(!records.critical_on_backup_us.contains_key(&2));
}

/// Critical facilities are sized as what they are and many have a backup: in a generated
/// suburb of 100,000 meters, every hospital has a second feed or a standby generator, about
/// half of all facilities do, and a hospital takes GWh a year where an emergency station takes
/// around a hundred MWh.
#[test]
fn critical_facilities_are_sized_by_kind_and_hospitals_always_have_a_backup() {
    use amirange_sim::engine::Sim;
    use amirange_sim::network::FacilityKind;

    let scenario = scenario_on("suburb-100k", 100_000);
    let network = amirange::run::generate(&scenario).expect("generates");
    let backup_of = |m: usize| {
        network
            .backup_supplies
            .binary_search_by_key(&(m as u32), |&(meter, _)| meter)
            .is_ok()
    };
    let critical: Vec<usize> = (0..network.meters.len())
        .filter(|&m| network.meters[m].facility.is_some())
        .collect();
    assert!((60..=140).contains(&critical.len()), "{} facilities", critical.len());
    let with_backup = critical.iter().filter(|&&m| backup_of(m)).count();
    assert!(
        (0.35..=0.75).contains(&(with_backup as f64 / critical.len() as f64)),
        "{with_backup} of {} facilities have a backup",
        critical.len()
    );
    let hospitals: Vec<usize> = critical
        .iter()
        .copied()
        .filter(|&m| network.meters[m].facility == Some(FacilityKind::Hospital))
        .collect();
    assert!(!hospitals.is_empty());
    assert!(hospitals.iter().all(|&m| backup_of(m)), "a hospital without a backup");
    let sim = Sim::new(scenario.sim.clone(), network).expect("valid");
    let mean_kwh = |kind: FacilityKind| {
        let of_kind: Vec<f64> = critical
            .iter()
            .filter(|&&m| sim.network().meters[m].facility == Some(kind))
            .map(|&m| f64::from(sim.premise(m as u32).expect("exists").annual_kwh))
            .collect();
        of_kind.iter().sum::<f64>() / of_kind.len().max(1) as f64
    };
    let hospital = mean_kwh(FacilityKind::Hospital);
    let emergency = mean_kwh(FacilityKind::Emergency);
    assert!(
        (700_000.0..5_000_000.0).contains(&hospital),
        "hospital {hospital} kWh/a"
    );
    assert!(
        (60_000.0..250_000.0).contains(&emergency),
        "emergency {emergency} kWh/a"
    );
}

/// Transformers and feeders are sized from their connected load with headroom, and the
/// customers per transformer and per feeder spread as configured: on a town's winter workday no
/// feeder's simulated SCADA load exceeds its rating, nor does any feeder's planned peak (its
/// premises' class means on the class shapes); the customers per transformer stay within the
/// configured spread of the mean, and feeders differ in size.
#[test]
fn feeders_carry_their_winter_peak_within_rating_and_differ_in_customers() {
    use amirange_sim::engine::Sim;

    let scenario = scenario_on("town-10k", 10_000);
    let network = amirange::run::generate(&scenario).expect("generates");
    let area = &scenario.topology;
    let n_feeders = network.feeders.len();
    // Planned peak per feeder.
    let table = ProfileTable::build(&scenario.sim);
    let mut energy_mwh = vec![[0.0f64; 4]; n_feeders];
    let mut customers = vec![0u64; n_feeders];
    let mut per_transformer = vec![0u64; network.transformers.len()];
    for site in &network.meters {
        let f = network.transformers[site.transformer as usize].feeder as usize;
        let weight = site.facility.map_or(1.0, |kind| kind.consumption_weight());
        energy_mwh[f][site.class.index()] +=
            scenario.sim.classes[site.class.index()].mean_annual_kwh * weight / 1_000.0;
        customers[f] += 1;
        per_transformer[site.transformer as usize] += 1;
    }
    for (f, feeder) in network.feeders.iter().enumerate() {
        let planned_kw = (0..96)
            .map(|slot| {
                CustomerClass::ALL
                    .iter()
                    .map(|&c| energy_mwh[f][c.index()] * f64::from(table.kw(c, slot)))
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        assert!(
            planned_kw <= f64::from(feeder.rating_kw),
            "feeder {f}: planned peak {planned_kw:.0} kW over its rating {} kW",
            feeder.rating_kw
        );
    }
    // Customers per transformer within 1 ± spread of the mean (a little slack for sharing out).
    let mean = network.meters.len() as f64 / network.transformers.len() as f64;
    let spread = area.meters_per_transformer_spread;
    for (t, &n) in per_transformer.iter().enumerate() {
        let n = n as f64;
        assert!(
            n >= mean * (1.0 - spread) * 0.9 && n <= mean * (1.0 + spread) * 1.1,
            "transformer {t}: {n} customers, mean {mean:.0}"
        );
    }
    let (lo, hi) = (
        customers.iter().min().copied().unwrap_or(0),
        customers.iter().max().copied().unwrap_or(0),
    );
    assert!(hi as f64 >= lo as f64 * 1.2, "customers per feeder {lo}..{hi}");
    // The simulated winter workday.
    let mut sim = Sim::new(scenario.sim.clone(), network).expect("valid");
    sim.run_to_end().expect("runs");
    let ratings: Vec<f32> = sim.network().feeders.iter().map(|f| f.rating_kw).collect();
    for (i, kw) in sim.records().scada_kw.iter().enumerate() {
        let f = i % n_feeders;
        assert!(
            *kw <= ratings[f],
            "feeder {f} at {kw:.0} kW over its rating {} kW in interval {}",
            ratings[f],
            i / n_feeders
        );
    }
}
