//! Loads that behave like measured ones: the consumption model against its references,
//! evaluated through the engine's own per-premise demand function
//! ([`amirange_sim::dataplane::DemandStep::demand_wh`]) over sample days, without running
//! whole simulations.

use amirange_sim::config::SimConfig;
use amirange_sim::dataplane::{DemandStep, ProfileTable, SamplingTables};
use amirange_sim::engine::draw_premise;
use amirange_sim::model::{CustomerClass, LinkKind, Premise};
use amirange_sim::network::{LinkParams, Network};
use amirange_sim::profile::{ProfileCalendar, ProfileId, SLOTS_PER_DAY, raw_kw_on};
use amirange_sim::time::{CivilDate, CivilDateTime, DayType, Season, SimDuration};
use amirange_sim::weather::Climate;

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// The engine's configuration for one day from `date`, with `profile` for households.
fn one_day(seed: u64, date: CivilDate, profile: ProfileId) -> SimConfig {
    let start = CivilDateTime { date, second_of_day: 0 };
    let mut config = SimConfig::with_defaults(seed, start, SimDuration::from_days(1));
    config.classes[CustomerClass::Residential.index()].profile = profile;
    config
}

/// The summed demand of `premises` (meter `i` is premise `i`) in each quarter-hour of the
/// run `config` describes, kWh, as the engine computes it.
fn fleet_series(config: &SimConfig, premises: &[Premise]) -> Vec<f64> {
    let table = ProfileTable::build(config);
    let one_meter = Network::small(
        LinkParams::typical(),
        [(CustomerClass::Residential, LinkKind::Cellular)],
    );
    let tables = SamplingTables::build(config, &one_meter);
    let mut noise = vec![f32::NAN; premises.len()];
    (0..config.n_slots())
        .map(|slot| {
            let step = DemandStep::new(config.seed, &table, &tables, slot);
            premises
                .iter()
                .zip(&mut noise)
                .enumerate()
                .map(|(i, (p, x))| step.demand_wh(i as u32, p, x))
                .sum::<f64>()
                / 1000.0
        })
        .collect()
}

/// The aggregate of 5,000 residential meters follows the selected household profile, BDEW 1999
/// (`H0`) or 2025 (`H25`) edition or the US reference (`UsResidential`): its daily curve
/// correlates with the profile's table for the same season (1999) or month and day type at
/// r >= 0.98, for a workday, a Saturday and a Sunday in winter, summer and the transition
/// period of 2026.
#[test]
fn residential_aggregate_follows_the_selected_bdew_profile() {
    let days = [
        ((2026, 1, 14), Season::Winter, DayType::Workday),
        ((2026, 1, 17), Season::Winter, DayType::Saturday),
        ((2026, 1, 18), Season::Winter, DayType::Sunday),
        ((2026, 7, 15), Season::Summer, DayType::Workday),
        ((2026, 7, 18), Season::Summer, DayType::Saturday),
        ((2026, 7, 19), Season::Summer, DayType::Sunday),
        ((2026, 4, 15), Season::Transition, DayType::Workday),
        ((2026, 4, 18), Season::Transition, DayType::Saturday),
        ((2026, 4, 19), Season::Transition, DayType::Sunday),
    ];
    let seed = 11;
    for profile in [ProfileId::H0, ProfileId::H25, ProfileId::UsResidential] {
        let params =
            *one_day(seed, CivilDate::new(2026, 1, 1).expect("valid"), profile).class(CustomerClass::Residential);
        let premises: Vec<Premise> = (0..5_000)
            .map(|i| draw_premise(seed, i, CustomerClass::Residential, &params))
            .collect();
        for ((y, m, d), season, day_type) in days {
            let date = CivilDate::new(y, m, d).expect("valid");
            assert_eq!(date.season(), season);
            assert_eq!(ProfileCalendar::new(Vec::new()).day_type(date), day_type);
            let simulated = fleet_series(&one_day(seed, date, profile), &premises);
            let reference: Vec<f64> = (0..SLOTS_PER_DAY)
                .map(|s| f64::from(raw_kw_on(profile, date, day_type, s)))
                .collect();
            let r = pearson(&simulated, &reference);
            assert!(r >= 0.98, "{profile:?} {date:?} ({season:?}, {day_type:?}): r = {r}");
        }
    }
}

/// The scenario file chooses a class's profile family: `profile: H0` keeps the 1999 household
/// profile, `UsResidential` makes a US-style area, and the default is the 2025 edition where it
/// has one.
#[test]
fn a_scenario_selects_the_profile_of_each_class() {
    let text = |consumption: &str| {
        format!(
            "Scenario(name: \"p\", seed: 1, start: \"2026-01-15\", duration: \"1h\", \
             topology: Preset(\"town-10k\"), {consumption})"
        )
    };
    let load = |source: &str| {
        amirange::scenario::load("p.ron", source, &amirange::scenario::Overrides::default())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let defaults = load(&text(""));
    let profiles = defaults.sim.classes.map(|c| c.profile);
    // Industry's profile is kept for a scenario that puts it back on a standard shape; by default
    // it is interval-metered on its shift-operation shape.
    assert_eq!(profiles, [ProfileId::H25, ProfileId::G25, ProfileId::G3, ProfileId::G3]);
    assert_eq!(
        defaults.sim.classes[2].shape,
        amirange_sim::interval_metering::LoadShape::ShiftOperation
    );
    let chosen = load(&text(
        "consumption: (residential: (profile: H0), commercial: (profile: G0))",
    ));
    assert_eq!(chosen.sim.classes[0].profile, ProfileId::H0);
    assert_eq!(chosen.sim.classes[1].profile, ProfileId::G0);
    let us = load(&text(
        "consumption: (residential: (profile: UsResidential, mean_annual_kwh: 10_700))",
    ));
    assert_eq!(us.sim.classes[0].profile, ProfileId::UsResidential);
    let chosen = load(&text(
        "consumption: (residential: (profile: H0), commercial: (profile: G0))",
    ));
    assert_eq!(chosen.sim.classes[0].profile, ProfileId::H0);
    assert_eq!(chosen.sim.classes[1].profile, ProfileId::G0);
}

/// Heating and cooling follow the weather of the dates: over four January weeks in Germany
/// (households' electric heating 7% of their energy, the default), 2,000 homes' workday energy
/// falls as the day's mean temperature rises (r <= -0.7); over four July weeks in St. Louis on
/// the US profile with cooling 17.5% of the energy (EIA's share for US homes), it rises with
/// the temperature (r >= 0.7). Without a heating share the weather leaves the load alone.
#[test]
fn heating_and_cooling_follow_the_weather_of_the_dates() {
    let seed = 5;
    let cases = [
        (Climate::Germany, ProfileId::H25, (2026, 1, 5), 0.07, 0.0, -1.0),
        (
            Climate::StLouis,
            ProfileId::UsResidential,
            (2026, 7, 6),
            0.07,
            0.175,
            1.0,
        ),
    ];
    for (climate, profile, (y, m, d), heating, cooling, sign) in cases {
        let start = CivilDate::new(y, m, d).expect("valid");
        let mut config = SimConfig::with_defaults(
            seed,
            CivilDateTime {
                date: start,
                second_of_day: 0,
            },
            SimDuration::from_days(28),
        );
        config.climate = climate;
        let class = &mut config.classes[CustomerClass::Residential.index()];
        class.profile = profile;
        class.heating_share = heating;
        class.cooling_share = cooling;
        let params = *config.class(CustomerClass::Residential);
        let premises: Vec<Premise> = (0..2_000)
            .map(|i| draw_premise(seed, i, CustomerClass::Residential, &params))
            .collect();
        let series = fleet_series(&config, &premises);
        let calendar = ProfileCalendar::new(Vec::new());
        let (mut energy, mut temperature) = (Vec::new(), Vec::new());
        for day in 0..28 {
            let date = CivilDate::from_days_since_epoch(start.days_since_epoch() + day as i64);
            if calendar.day_type(date) != DayType::Workday {
                continue;
            }
            energy.push(
                series[day * SLOTS_PER_DAY..(day + 1) * SLOTS_PER_DAY]
                    .iter()
                    .sum::<f64>(),
            );
            temperature.push(climate.daily_mean_c(seed, date));
        }
        let r = pearson(&energy, &temperature);
        assert!(sign * r >= 0.7, "{climate:?}: r(energy, temperature) = {r}");
    }
    // No heating share: the weather factor is one on every day.
    let start = CivilDateTime::parse("2026-01-05").expect("valid");
    let mut config = SimConfig::with_defaults(seed, start, SimDuration::from_days(3));
    config.classes[CustomerClass::Residential.index()].heating_share = 0.0;
    let table = ProfileTable::build(&config);
    for slot in 0..i64::from(config.n_slots()) {
        assert_eq!(
            table.demand_kw(CustomerClass::Residential, slot),
            table.kw(CustomerClass::Residential, slot)
        );
    }
}

/// The summed demand of `n` homes over the run of `config` with the residential device shares
/// `(pv, ev, heat_pump)`, kWh per quarter-hour.
fn homes_with_devices(config: &SimConfig, n: u32, shares: (f64, f64, f64)) -> Vec<f64> {
    let mut config = config.clone();
    let class = &mut config.classes[CustomerClass::Residential.index()];
    (class.pv_share, class.ev_share, class.heat_pump_share) = shares;
    let params = *config.class(CustomerClass::Residential);
    let premises: Vec<Premise> = (0..n)
        .map(|i| draw_premise(config.seed, i, CustomerClass::Residential, &params))
        .collect();
    fleet_series(&config, &premises)
}

/// Devices behind the meter have their own profiles. Rooftop PV on every home of 500 takes their
/// summer midday import (11:00-14:00) below a fifth of what it is without, and changes nothing
/// at night (the meter registers import only). A heat pump in every home adds exactly its daily
/// electricity, which follows the day's heating degree-days, in January. An EV charger in every
/// home adds nothing before 17:00 and about 6 kWh a day per home after it (11 kW on half the
/// days, 5-20 kWh a session).
#[test]
fn pv_ev_chargers_and_heat_pumps_have_their_own_profiles() {
    let n = 500;
    let week = |date: &str| {
        let start = CivilDateTime::parse(date).expect("valid");
        let mut config = SimConfig::with_defaults(21, start, SimDuration::from_days(7));
        config.classes[CustomerClass::Residential.index()].heating_share = 0.0;
        config
    };
    let july = week("2026-07-06");
    let plain = homes_with_devices(&july, n, (0.0, 0.0, 0.0));
    let pv = homes_with_devices(&july, n, (1.0, 0.0, 0.0));
    for day in 0..7 {
        let at = |s: usize| day * SLOTS_PER_DAY + s;
        let midday = |x: &[f64]| (44..56).map(|s| x[at(s)]).sum::<f64>();
        assert!(
            midday(&pv) < 0.2 * midday(&plain),
            "day {day}: {} against {}",
            midday(&pv),
            midday(&plain)
        );
        for s in 0..16 {
            assert_eq!(pv[at(s)], plain[at(s)], "night slot {s}");
        }
    }
    let january = week("2026-01-05");
    let plain = homes_with_devices(&january, n, (0.0, 0.0, 0.0));
    let heat_pumps = homes_with_devices(&january, n, (0.0, 0.0, 1.0));
    let start = CivilDate::new(2026, 1, 5).expect("valid").days_since_epoch();
    for day in 0..7 {
        let date = CivilDate::from_days_since_epoch(start + day as i64);
        let (hdd, _) = Climate::Germany.degree_days(Climate::Germany.daily_mean_c(21, date));
        let added: f64 = (0..SLOTS_PER_DAY)
            .map(|s| heat_pumps[day * SLOTS_PER_DAY + s] - plain[day * SLOTS_PER_DAY + s])
            .sum();
        let expected = f64::from(n) * amirange_sim::devices::heat_pump_kwh(hdd);
        assert!(
            (added - expected).abs() < 1e-6 * expected,
            "day {day}: {added} against {expected}"
        );
    }
    let ev = homes_with_devices(&january, n, (0.0, 1.0, 0.0));
    let mut evening = 0.0;
    for day in 0..7 {
        for s in 0..SLOTS_PER_DAY {
            let added = ev[day * SLOTS_PER_DAY + s] - plain[day * SLOTS_PER_DAY + s];
            if s < 68 {
                assert!(added.abs() < 1e-9, "day {day} slot {s}: {added}");
            } else {
                evening += added;
            }
        }
    }
    let per_home_day = evening / f64::from(n) / 7.0;
    assert!(
        (5.0..7.5).contains(&per_home_day),
        "{per_home_day} kWh per home and day"
    );
}

/// A load-switching botnet of EV chargers, in an area whose households own chargers (10% of
/// them), takes only premises that own one: every meter it holds has a charger, and it holds
/// about its `infected` share (30%) of the owners, not 30% of all households.
#[test]
fn a_load_switching_botnet_holds_only_premises_that_own_the_device() {
    let text = r#"Scenario(
        name: "ev-botnet", seed: 7, start: "2026-01-15T00:00:00", duration: "1d",
        topology: Preset("town-10k"),
        consumption: (residential: (ev_share: 0.1)),
        attacks: [LoadSwitching(id: "botnet-ev", at: "0d 19:00", targets: Class(Residential),
            device: EvCharger, infected: 0.3, on_for: "15m")],
    )"#;
    let overrides = amirange::scenario::Overrides {
        meters: Some(2_000),
        ..amirange::scenario::Overrides::default()
    };
    let scenario = amirange::scenario::load("ev-botnet.ron", text, &overrides).unwrap_or_else(|e| panic!("{e}"));
    let finished = amirange::run::execute(&scenario, |_, _| {}).expect("runs");
    let sim = &finished.sim;
    let botnet = sim
        .records()
        .truth
        .iter()
        .find(|t| t.kind == "botnet")
        .expect("the botnet is in the ground truth");
    let owns = |m: u32| {
        sim.premise(m)
            .is_some_and(|p| p.devices & amirange_sim::devices::EV_CHARGER != 0)
    };
    assert!(botnet.meters.iter().all(|&m| owns(m)), "a bot without a charger");
    let owners = (0..scenario.meters() as u32)
        .filter(|&m| owns(m) && sim.premise(m).is_some_and(|p| p.class == CustomerClass::Residential))
        .count() as f64;
    let share = botnet.meters.len() as f64 / owners;
    assert!(
        owners > 100.0 && (0.2..0.4).contains(&share),
        "{} bots of {owners} owners",
        botnet.meters.len()
    );
}

/// With the weather, heat pumps, EV chargers and PV all on, a run gives the same bytes on one
/// and on three threads: per-meter readings, metrics and time series (every draw is keyed by
/// meter, day or slot, none depends on the order meters are visited in).
#[test]
fn loads_with_weather_and_devices_are_the_same_on_any_thread_count() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let scenario = r#"Scenario(
        name: "devices", seed: 3, start: "2026-03-30T00:00:00", duration: "1d",
        topology: Preset("town-10k"),
        consumption: (climate: StLouis, residential: (profile: UsResidential, cooling_share: 0.175,
            pv_share: 0.3, ev_share: 0.2, heat_pump_share: 0.2)),
    )"#;
    std::fs::write(tmp.path().join("devices.ron"), scenario).expect("written");
    for threads in ["1", "3"] {
        let out = format!("t{threads}");
        let args = [
            "run",
            "devices.ron",
            "--meters",
            "300",
            "--threads",
            threads,
            "--out",
            &out,
            "--export",
            "readings",
            "-q",
        ];
        let o = crate::common::amirange(&args, tmp.path());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for file in ["readings.parquet", "metrics.json", "timeseries.csv", "transformers.csv"] {
        let one = crate::common::read(&tmp.path().join("t1").join(file));
        let three = crate::common::read(&tmp.path().join("t3").join(file));
        assert!(one == three, "{file} differs between 1 and 3 threads");
    }
}

/// Large commercial premises (above the 100,000 kWh/a interval-metering threshold) follow
/// their own measured-style opening-hours shape, not the class's standard profile: over a
/// week from Monday 2026-01-12, the large ones' aggregate rests at about 40% of its open-hours
/// load at night and on Sunday, where the standard-profile premises below the threshold follow
/// G25 (about 25% at night); the large ones differ from each other (the interquartile range of
/// their own night-to-midday ratios exceeds 0.1); and their substitute values follow the same
/// shape.
#[test]
fn large_commercial_premises_follow_their_own_opening_hours_shape() {
    use amirange_sim::interval_metering::{INTERVAL_METERED_COMMERCIAL, MeteringKind};
    let seed = 7;
    let monday = CivilDate::new(2026, 1, 12).expect("valid");
    let start = CivilDateTime {
        date: monday,
        second_of_day: 0,
    };
    let config = SimConfig::with_defaults(seed, start, SimDuration::from_days(7));
    let params = *config.class(CustomerClass::Commercial);
    let drawn: Vec<Premise> = (0..12_000)
        .map(|i| draw_premise(seed, i, CustomerClass::Commercial, &params))
        .collect();
    let (large, small): (Vec<Premise>, Vec<Premise>) = drawn
        .into_iter()
        .partition(|p| p.metering() == MeteringKind::IntervalMetered);
    assert!(large.len() >= 200, "{} large premises", large.len());
    assert!(large.iter().all(|p| p.load_group() == INTERVAL_METERED_COMMERCIAL));
    let small = &small[..2_000];
    // Per premise, per slot of the week, kWh (the premises share no meter index).
    let table = ProfileTable::build(&config);
    let one_meter = Network::small(LinkParams::typical(), [(CustomerClass::Commercial, LinkKind::Cellular)]);
    let tables = SamplingTables::build(&config, &one_meter);
    let series = |premises: &[Premise]| -> Vec<Vec<f64>> {
        let mut noise = vec![f32::NAN; premises.len()];
        let mut per_premise = vec![Vec::with_capacity(config.n_slots() as usize); premises.len()];
        for slot in 0..config.n_slots() {
            let step = DemandStep::new(seed, &table, &tables, slot);
            for (i, (p, x)) in premises.iter().zip(&mut noise).enumerate() {
                per_premise[i].push(step.demand_wh(i as u32, p, x) / 1000.0);
            }
        }
        per_premise
    };
    let sum = |per_premise: &[Vec<f64>]| -> Vec<f64> {
        (0..per_premise[0].len())
            .map(|s| per_premise.iter().map(|p| p[s]).sum())
            .collect()
    };
    // Mean of `series` over hours `from..to` of day `day` of the week.
    let mean_over = |series: &[f64], day: usize, from: usize, to: usize| -> f64 {
        let slots = day * SLOTS_PER_DAY + from * 4..day * SLOTS_PER_DAY + to * 4;
        let n = slots.len() as f64;
        series[slots].iter().sum::<f64>() / n
    };
    let large_series = series(&large);
    let large_sum = sum(&large_series);
    let small_sum = sum(&series(small));
    // Workday nights (00:00-05:00) against workday middays (09:00-17:00), Monday to Friday.
    let ratio = |s: &[f64]| {
        let night: f64 = (0..5).map(|d| mean_over(s, d, 0, 5)).sum();
        let midday: f64 = (0..5).map(|d| mean_over(s, d, 9, 17)).sum();
        night / midday
    };
    let large_night = ratio(&large_sum);
    assert!((0.3..=0.5).contains(&large_night), "large night/midday {large_night}");
    let large_sunday =
        mean_over(&large_sum, 6, 9, 17) / (0..5).map(|d| mean_over(&large_sum, d, 9, 17)).sum::<f64>() * 5.0;
    assert!(
        (0.3..=0.5).contains(&large_sunday),
        "large Sunday/workday midday {large_sunday}"
    );
    // The standard-profile premises keep G25, whose night is lower (about a quarter of its
    // midday).
    let small_night = ratio(&small_sum);
    assert!(
        (small_night - large_night).abs() > 0.1,
        "small premises' night/midday {small_night}"
    );
    // Each business its own: the night-to-midday ratios of single premises spread out.
    let mut ratios: Vec<f64> = large_series.iter().map(|s| ratio(s)).collect();
    ratios.sort_by(f64::total_cmp);
    let (q1, q3) = (ratios[ratios.len() / 4], ratios[3 * ratios.len() / 4]);
    assert!(q3 - q1 > 0.1, "interquartile range of night/midday {q1}..{q3}");
    // The MDM's substitute value follows the premise's own shape.
    let p = large[0];
    let night = table.substitute_wh(&p, 12) as f64;
    let noon = table.substitute_wh(&p, 48) as f64;
    assert!(
        (night / noon - 0.4).abs() < 0.02,
        "substitute night {night} noon {noon}"
    );
}
