//! Unit tests of the data plane's stages on hand-built worlds: the consumption step of one
//! meter, one read attempt over a path and its collector's backhaul, one meter's read as the
//! collector, HES and MDM see it (fallback, rogue concentrators, jamming, queues), and the
//! MDM's validation, estimation and backfill of a delivery.

use super::*;
use crate::grid::ColdLoadPickup;
use crate::network::{MeterPath, NetState, Network};
use crate::security::{Fleet, Payload};
use crate::time::{CivilDate, CivilDateTime, SimDuration, SimTime};

/// The interval, µs.
const INTERVAL_US: u32 = 900_000_000;

/// Thursday 2026-01-15, 00:00.
fn thursday() -> CivilDateTime {
    CivilDateTime::parse("2026-01-15").expect("a date")
}

fn config(days: u64) -> SimConfig {
    SimConfig::with_defaults(11, thursday(), SimDuration::from_days(days))
}

fn premise(class: CustomerClass, annual_kwh: f32) -> Premise {
    Premise {
        class,
        shift_slots: 0,
        activity: [0; crate::dataplane::ACTIVITY_PERIODS],
        annual_kwh,
        devices: 0,
        pv_kwp_tenths: 0,
    }
}

const PLACE: GridPlace = GridPlace {
    feeder: 0,
    transformer: 0,
};

/// A load-profile memory holding `wh` for slots `0..wh.len()`, its register at their sum.
fn memory_with(wh: &[u32]) -> LoadProfileMemory {
    let mut memory = LoadProfileMemory {
        wh: [0; LOAD_PROFILE_DEPTH],
        recorded_until: 0,
        register_reading_wh: 0,
        rate_wh: [0; 2],
    };
    for (s, &v) in wh.iter().enumerate() {
        memory.wh[s % LOAD_PROFILE_DEPTH] = v;
        memory.register_reading_wh += u64::from(v);
    }
    memory.recorded_until = wh.len() as u32;
    memory
}

/// A path that always succeeds, with a latency of `fixed_us + 1` µs (sigma 0, so
/// `exp(mu) = 1`).
fn sure_path(collector: u32, via: Via, fixed_us: f32) -> MeterPath {
    MeterPath {
        success: 1.0,
        fixed_us,
        mu: 0.0,
        sigma: 0.0,
        collector,
        via,
        hops: 1,
    }
}

/// A small world: meters on the links given, every collector up with an idle channel.
struct World {
    config: SimConfig,
    network: Network,
    net: NetState,
    cycle: CycleState,
    table: ProfileTable,
    tables: SamplingTables,
    fleet: Fleet,
}

impl World {
    fn new(links: &[LinkKind], edit: impl FnOnce(&mut Network)) -> World {
        let config = config(1);
        let mut network = Network::small(
            crate::network::LinkParams::typical(),
            links.iter().map(|&l| (CustomerClass::Residential, l)),
        );
        edit(&mut network);
        let net = NetState::new(&network);
        let n_collectors = network.collectors.len();
        let cycle = CycleState {
            up: vec![true; n_collectors],
            wait_us: vec![0; n_collectors],
            backhaul_us: vec![0; n_collectors],
            flood_by: vec![0; n_collectors],
            ..CycleState::default()
        };
        let table = ProfileTable::build(&config);
        let tables = SamplingTables::build(&config, &network);
        let fleet = Fleet::new(links.len(), &config.security, config.seed);
        World {
            config,
            network,
            net,
            cycle,
            table,
            tables,
            fleet,
        }
    }

    /// Every meter's first read attempt of the cycle ending with slot `last`, as the pass
    /// ahead of the step draws it.
    fn draws(&self, last: u32) -> ReadDraws {
        let mut draws = ReadDraws::default();
        draws.draw(
            &self.net,
            StreamFamily::new(self.config.seed, Purpose::MeterRead),
            &self.tables.normal,
            last,
        );
        draws
    }

    /// The read step of a cycle over slots `first..=last`, with the first attempts `draws`.
    fn read<'a>(&'a self, first: u32, last: u32, draws: &'a ReadDraws) -> ReadStep<'a> {
        ReadStep {
            first,
            last,
            n: (last - first + 1) as usize,
            n_feeders: self.network.feeders.len(),
            cycle: &self.cycle,
            net: &self.net,
            sites: &self.network.meters,
            deadline_us: self.config.read_deadline.as_micros(),
            table: &self.table,
            normal: &self.tables.normal,
            family: StreamFamily::new(self.config.seed, Purpose::MeterRead),
            cell_mu_sigma: crate::network::cellular_round_trip(&self.network.params),
            silent_cycles: self.config.mdm.silent_cycles,
            fleet: &self.fleet,
            n_collectors: self.network.collectors.len(),
            day_first: super::day_ending(0, first, last),
            draws,
            watched: &[],
        }
    }

    /// Meter 0's noise factor in interval `slot` for premise `premise`, advancing its noise
    /// state `log` (NaN for none yet), as the noise pass ahead of the step draws it.
    fn noise(&self, slot: u32, premise: &Premise, log: &mut f32) -> [f32; 1] {
        [
            DemandStep::new(self.config.seed, &self.table, &self.tables, slot).noise_factor(
                0,
                premise.class.index(),
                log,
            ),
        ]
    }

    /// The consumption step of interval `slot`, with meter 0's noise factor `noise`.
    fn consume<'a>(&'a self, grid: &'a GridState, slot: u32, noise: &'a [f32]) -> ConsumeStep<'a> {
        ConsumeStep {
            slot,
            interval_us: INTERVAL_US,
            demand: DemandStep::new(self.config.seed, &self.table, &self.tables, slot),
            noise,
            peak: self.table.is_peak(slot),
            n_feeders: self.network.feeders.len(),
            grid,
            network: &self.network,
            span_us: (
                u64::from(slot) * u64::from(INTERVAL_US),
                u64::from(slot + 1) * u64::from(INTERVAL_US),
            ),
        }
    }

    fn grid(&self) -> GridState {
        GridState::new(&self.network, ColdLoadPickup::typical())
    }
}

/// One meter's read in a cycle over `first..=last`, with a fresh accumulator.
fn read_meter(
    world: &World,
    meter: u32,
    memory: &LoadProfileMemory,
    record: &mut MdmRecord,
    first: u32,
    last: u32,
) -> CycleAccum {
    let mut acc = CycleAccum::default();
    acc.ensure_len(
        (last - first + 1) as usize,
        world.network.feeders.len(),
        world.network.collectors.len(),
    );
    let draws = world.draws(last);
    world.read(first, last, &draws).meter(
        &MeterIdx(meter),
        &premise(CustomerClass::Residential, 3_500.0),
        &PLACE,
        memory,
        record,
        &mut acc,
    );
    acc
}

/// One meter's consumption in interval `slot`, with a fresh accumulator.
fn consume_meter(world: &World, grid: &GridState, premise: &Premise, meter: &mut Meter, slot: u32) -> TickAccum {
    let mut memory = memory_with(&[]);
    let mut acc = TickAccum::default();
    acc.ensure_len(world.network.transformers.len());
    let noise = world.noise(slot, premise, &mut { f32::NAN });
    world
        .consume(grid, slot, &noise)
        .meter(&MeterIdx(0), premise, &PLACE, meter, &mut memory, &mut acc);
    acc
}

// --- The profile table, billing and SCADA -------------------------------------------------

/// The time-of-use peak covers workday hours from `peak_from_hour` up to (not including)
/// `peak_to_hour`, and neither weekends nor holidays nor slots past the run.
#[test]
fn the_peak_period_is_workday_hours_only() {
    // Thursday, Friday, Saturday.
    let mut config = config(3);
    let table = ProfileTable::build(&config);
    let (from, to) = (
        u32::from(config.mdm.peak_from_hour) * 4,
        u32::from(config.mdm.peak_to_hour) * 4,
    );
    assert!(
        from > 0 && to < 96,
        "the typical peak lies inside the day: {from}..{to}"
    );
    assert!(!table.is_peak(from - 1));
    assert!(table.is_peak(from));
    assert!(table.is_peak(to - 1));
    assert!(!table.is_peak(to));
    assert!(table.is_peak(96 + from), "Friday");
    assert!(!table.is_peak(2 * 96 + from), "Saturday");
    assert!(!table.is_peak(3 * 96 + from), "past the run");
    config.holidays.push(CivilDate::new(2026, 1, 16).expect("a date"));
    let table = ProfileTable::build(&config);
    assert!(table.is_peak(from), "Thursday");
    assert!(!table.is_peak(96 + from), "Friday is now a holiday");
}

/// The substitute value is the class profile scaled to the premise's annual energy, in whole
/// Wh, and the profile is held at its edge beyond the tabulated shift.
#[test]
fn substitute_values_scale_with_annual_energy() {
    let table = ProfileTable::build(&config(1));
    for slot in [0, 30, 72] {
        let small = table.substitute_wh(&premise(CustomerClass::Residential, 2_000.0), slot);
        let large = table.substitute_wh(&premise(CustomerClass::Residential, 20_000.0), slot);
        assert!(small > 0, "slot {slot}");
        assert!(
            large.abs_diff(10 * small) <= 10,
            "slot {slot}: {small} Wh and {large} Wh"
        );
        let kw = f64::from(table.kw(CustomerClass::Residential, i64::from(slot)));
        assert_eq!(large, (20_000.0 * kw * 0.25 + 0.5) as u64);
    }
    for class in CustomerClass::ALL {
        assert_eq!(table.kw(class, -1_000), table.kw(class, -MAX_SHIFT));
        assert_eq!(table.kw(class, 1_000_000), table.kw(class, 96 + MAX_SHIFT - 1));
    }
}

/// Time-of-use meters bill peak slots as peak and the rest as off-peak; flat meters bill
/// everything off-peak; the largest interval is kept.
#[test]
fn billing_follows_the_tariff_and_the_peak() {
    let config = config(1);
    let table = ProfileTable::build(&config);
    let peak = u32::from(config.mdm.peak_from_hour) * 4;
    let mut time_of_use = MdmRecord {
        tariff: 1,
        ..MdmRecord::default()
    };
    bill(&table, &mut time_of_use, peak, 300);
    bill(&table, &mut time_of_use, 0, 200);
    assert_eq!((time_of_use.peak_wh, time_of_use.offpeak_wh), (300, 200));
    assert_eq!(time_of_use.max_interval_wh, 300);
    let mut flat = MdmRecord::default();
    bill(&table, &mut flat, peak, 300);
    bill(&table, &mut flat, 0, u64::from(u32::MAX) + 5);
    assert_eq!((flat.peak_wh, flat.offpeak_wh), (0, u64::from(u32::MAX) + 305));
    assert_eq!(flat.max_interval_wh, u32::MAX, "saturates rather than wraps");
}

/// The meter's rate registers split each recorded interval's energy by the time-of-use peak
/// (rate 1) and the rest (rate 2), and together equal the register's recorded reading.
#[test]
fn rate_registers_split_the_recorded_energy_by_the_peak() {
    let mut memory = LoadProfileMemory {
        wh: [0; LOAD_PROFILE_DEPTH],
        recorded_until: 0,
        register_reading_wh: 0,
        rate_wh: [0; 2],
    };
    let mut meter = Meter::new();
    for (slot, (wh, peak)) in [(120.4, false), (300.0, true), (80.0, true), (10.0, false)]
        .into_iter()
        .enumerate()
    {
        meter.register_wh += wh;
        record_interval(&mut memory, &meter, slot as u32, peak);
    }
    // Whole Wh of the register: 120, 420, 500, 510.
    assert_eq!(memory.rate_wh, [380, 130]);
    assert_eq!(memory.rate_wh.iter().sum::<u64>(), memory.register_reading_wh);
    assert_eq!(memory.wh[..4], [120, 300, 80, 10]);
}

/// Feeder-head SCADA: the no-load losses with no load (none while the feeder is out), and
/// load losses that grow with the square of the load, in the MV lines and per transformer.
#[test]
fn scada_adds_no_load_and_load_losses() {
    let network = Network::small(crate::network::LinkParams::typical(), []);
    let losses = crate::grid::LossModel::typical();
    let feeder = network.feeders[0];
    let no_load = f64::from(feeder.no_load_loss_kw);
    let n_t = network.transformers.len();
    let head = |kw: f64, off: f32| {
        let mut per_t = vec![0.0; n_t];
        per_t[0] = kw;
        let mut out = Vec::new();
        losses.feeder_head_kw(&network, &per_t, &[off], &mut out);
        out[0]
    };
    let mv = |kw: f64| losses.mv_load_loss_at_rating * kw * kw / f64::from(feeder.rating_kw);
    assert_eq!(head(0.0, 0.0), no_load + mv(no_load));
    assert_eq!(head(0.0, 1.0), 0.0, "no iron losses without supply");
    let rating_kva = f64::from(network.transformers[0].rating_kva);
    let kw = rating_kva * losses.power_factor;
    let below = kw + (losses.transformer_load_loss_at_rating + losses.lv_load_loss_at_rating) * rating_kva + no_load;
    let expected = below + mv(below);
    assert!((head(kw, 0.0) - expected).abs() < 1e-9, "{}", head(kw, 0.0));
    // Transformer load losses grow with the square of its load.
    let half = losses.transformer_load_loss_kw(network.transformers[0].rating_kva, kw / 2.0);
    let full = losses.transformer_load_loss_kw(network.transformers[0].rating_kva, kw);
    assert!((half * 4.0 - full).abs() < 1e-9);
}

// --- The consumption step -----------------------------------------------------------------

/// A meter with supply registers what its premise takes, and its load-profile memory records
/// the interval; the transformer's true and registered energy agree; the draw depends only on
/// the meter and the slot.
#[test]
fn a_supplied_meter_registers_what_it_consumes() {
    let world = World::new(&[LinkKind::Cellular], |_| {});
    let grid = world.grid();
    let home = premise(CustomerClass::Residential, 3_500.0);
    let mut meter = Meter::new();
    let mut memory = memory_with(&[]);
    let mut acc = TickAccum::default();
    acc.ensure_len(world.network.transformers.len());
    let mut log = f32::NAN;
    let noise = world.noise(40, &home, &mut log);
    let step = world.consume(&grid, 40, &noise);
    step.meter(&MeterIdx(0), &home, &PLACE, &mut meter, &mut memory, &mut acc);
    assert!(meter.register_wh > 0.0);
    let reading = meter.register_wh as u64;
    assert_eq!(memory.register_reading_wh, reading);
    assert_eq!(u64::from(memory.wh[40 % LOAD_PROFILE_DEPTH]), reading);
    assert_eq!(memory.recorded_until, 41);
    assert_eq!(acc.connected, 1);
    assert_eq!(acc.off_by_cause, [0; 3]);
    let true_mwh = acc.true_mwh_by_class[CustomerClass::Residential.index()];
    assert_eq!(true_mwh, (meter.register_wh * 1000.0 + 0.5) as u64);
    assert_eq!(acc.transformers[0].true_mwh, true_mwh);
    assert_eq!(acc.transformers[0].true_mwh, acc.transformers[0].registered_mwh);
    // The next interval adds to the register and records only its own energy.
    let before = memory.register_reading_wh;
    let noise = world.noise(41, &home, &mut log);
    world
        .consume(&grid, 41, &noise)
        .meter(&MeterIdx(0), &home, &PLACE, &mut meter, &mut memory, &mut acc);
    assert_eq!(
        u64::from(memory.wh[41 % LOAD_PROFILE_DEPTH]),
        memory.register_reading_wh - before
    );
    // The same meter and slot draw the same noise, whatever ran before.
    let again = consume_meter(&world, &grid, &home, &mut Meter::new(), 40);
    assert_eq!(again.true_mwh_by_class, {
        let mut v = [0; 4];
        v[CustomerClass::Residential.index()] = true_mwh;
        v
    });
}

/// A relay open for half the interval delivers half the energy of the same meter closed; the
/// other half is energy not served, charged to the relay's cause and its attack.
#[test]
fn an_open_relay_cuts_supply_and_charges_its_cause() {
    let world = World::new(&[LinkKind::Cellular], |_| {});
    let grid = world.grid();
    let critical = premise(CustomerClass::Critical, 800_000.0);
    let c = CustomerClass::Critical.index();
    let closed = consume_meter(&world, &grid, &critical, &mut Meter::new(), 40);
    let full_mwh = closed.true_mwh_by_class[c];
    assert!(full_mwh > 0);

    let mut half = Meter::new();
    half.open_us_in_interval = INTERVAL_US / 2;
    half.relay_cause = Cause::Attack(3);
    let acc = consume_meter(&world, &grid, &critical, &mut half, 40);
    assert!(
        acc.true_mwh_by_class[c].abs_diff(full_mwh / 2) <= 1,
        "{acc:?}",
        acc = acc.true_mwh_by_class
    );
    let attack = Cause::Attack(3).index();
    assert_eq!(acc.interrupted_us_by_cause[attack], u64::from(INTERVAL_US / 2));
    assert!(acc.not_served_mwh_by_cause[attack].abs_diff(full_mwh / 2) <= 1);
    assert_eq!(acc.attacks[3].interrupted_us, u64::from(INTERVAL_US / 2));
    assert_eq!(acc.critical, vec![(0, Cause::Attack(3).code(), INTERVAL_US / 2)]);
    // The relay closed again by the end of the interval: the customer counts as connected.
    assert_eq!(acc.connected, 1);
    assert_eq!(half.open_us_in_interval, 0, "the interval's tally is reset");

    let mut open = Meter::new();
    open.relay = Relay::Open;
    open.relay_cause = Cause::Attack(0);
    let acc = consume_meter(&world, &grid, &critical, &mut open, 40);
    assert_eq!(acc.true_mwh_by_class[c], 0);
    assert_eq!(open.register_wh, 0.0);
    assert_eq!(acc.connected, 0);
    assert_eq!(acc.off_by_cause[Cause::Attack(0).index()], 1);
    assert_eq!(acc.critical_off, 1);
    assert_eq!((acc.attacks[0].customers_off, acc.attacks[0].critical_off), (1, 1));
    assert_eq!(
        acc.interrupted_us_by_cause[Cause::Attack(0).index()],
        u64::from(INTERVAL_US)
    );
}

/// A feeder out for the whole interval takes the meter's supply, charged to the outage.
#[test]
fn a_feeder_out_cuts_supply_and_charges_the_outage() {
    let world = World::new(&[LinkKind::Cellular], |_| {});
    let mut grid = world.grid();
    grid.set(0, false, Cause::Outage, SimTime::ZERO, SimTime::ZERO);
    grid.close_interval(SimTime::ZERO, SimTime(u64::from(INTERVAL_US)));
    assert_eq!(
        (grid.off_share[0], grid.supply_off_share[0], grid.supplied[0]),
        (1.0, 1.0, false)
    );
    let home = premise(CustomerClass::Residential, 3_500.0);
    let acc = consume_meter(&world, &grid, &home, &mut Meter::new(), 40);
    assert_eq!(acc.true_mwh_by_class, [0; 4]);
    assert_eq!(acc.connected, 0);
    assert_eq!(acc.off_by_cause[Cause::Outage.index()], 1);
    assert_eq!(
        acc.interrupted_us_by_cause[Cause::Outage.index()],
        u64::from(INTERVAL_US)
    );
    assert!(acc.not_served_mwh_by_cause[Cause::Outage.index()] > 0);
    assert!(acc.attacks.is_empty(), "no attack is charged");
}

/// A register that records half the true consumption (theft) registers half, the transformer
/// still carries the whole, and the attack is charged the stolen half; demand response sheds
/// its share and charges a forged event's attack.
#[test]
fn skewed_registers_and_demand_response_are_charged_to_their_attack() {
    let world = World::new(&[LinkKind::Cellular], |_| {});
    let grid = world.grid();
    let home = premise(CustomerClass::Residential, 3_500.0);
    let honest = consume_meter(&world, &grid, &home, &mut Meter::new(), 40);
    let true_mwh = honest.transformers[0].true_mwh;

    let mut thief = Meter::new();
    thief.register_share = 0.5;
    thief.skew_by = 2;
    thief.skew_theft = true;
    let acc = consume_meter(&world, &grid, &home, &mut thief, 40);
    assert_eq!(acc.transformers[0].true_mwh, true_mwh);
    assert!(acc.transformers[0].registered_mwh.abs_diff(true_mwh / 2) <= 1);
    assert!(((thief.register_wh * 1000.0) as u64).abs_diff(true_mwh / 2) <= 1);
    assert!(acc.attacks[1].stolen_mwh.abs_diff(true_mwh / 2) <= 1);
    assert_eq!(acc.attacks[1].falsified_mwh, 0);

    let mut shed = Meter::new();
    shed.dr_keep = 0.5;
    shed.dr_from_us = 0;
    shed.dr_until_us = u64::MAX;
    shed.dr_by = 1;
    let acc = consume_meter(&world, &grid, &home, &mut shed, 40);
    assert!(acc.transformers[0].true_mwh.abs_diff(true_mwh / 2) <= 1);
    assert!(acc.dr_curtailed_mwh.abs_diff(true_mwh / 2) <= 1);
    assert_eq!(acc.attacks[0].curtailed_mwh, acc.dr_curtailed_mwh);
}

// --- One read attempt ---------------------------------------------------------------------

/// How an attempt ends: unreachable without a collector, lost with a failed link, lost on the
/// backhaul with the collector down, late past the deadline (queue and backhaul latency
/// included), else delivered with its latency.
#[test]
fn an_attempt_is_unreachable_lost_late_or_delivered() {
    let mut world = World::new(&[LinkKind::Cellular], |_| {});
    let deadline = world.config.read_deadline.as_micros();
    // These attempts draw from their own stream; the draws made ahead are not used.
    let no_draws = ReadDraws::default();
    let mut stream = Stream::new(1, Purpose::MeterRead, 0, 0);
    let read = world.read(0, 0, &no_draws);
    assert!(read.attempt(NONE, 1.0, 0.0, 0.0, 0.0, &mut stream) == Attempt::Unreachable);
    assert!(read.attempt(2, 0.0, 0.0, 0.0, 0.0, &mut stream) == Attempt::Lost);
    assert!(read.attempt(2, 1.0, 1_000.0, 0.0, 0.0, &mut stream) == Attempt::Delivered(1_001));
    assert!(read.attempt(2, 1.0, deadline as f32, 0.0, 0.0, &mut stream) == Attempt::Late(deadline + 1));
    // The collector's queue (its channel busy with other traffic) and its backhaul add up.
    world.cycle.wait_us[2] = 5_000;
    world.cycle.backhaul_us[2] = 700;
    let read = world.read(0, 0, &no_draws);
    assert!(read.attempt(2, 1.0, 1_000.0, 0.0, 0.0, &mut stream) == Attempt::Delivered(6_701));
    world.cycle.wait_us[2] = deadline;
    let read = world.read(0, 0, &no_draws);
    assert!(read.attempt(2, 1.0, 0.0, 0.0, 0.0, &mut stream) == Attempt::Late(deadline + 701));
    world.cycle.up[2] = false;
    let read = world.read(0, 0, &no_draws);
    assert!(read.attempt(2, 1.0, 0.0, 0.0, 0.0, &mut stream) == Attempt::BackhaulLost);
}

/// A link of success probability p loses about 1 - p of the attempts, and a stream keyed by
/// the same (meter, slot) repeats its outcome.
#[test]
fn a_link_loses_reads_at_its_configured_rate() {
    let world = World::new(&[LinkKind::Cellular], |_| {});
    let no_draws = ReadDraws::default();
    let read = world.read(0, 0, &no_draws);
    let family = StreamFamily::new(5, Purpose::MeterRead);
    let n = 20_000u64;
    let lost = (0..n)
        .filter(|&m| read.attempt(2, 0.9, 0.0, 0.0, 0.0, &mut family.stream(m, 7)) == Attempt::Lost)
        .count() as f64;
    let share = lost / n as f64;
    assert!((share - 0.1).abs() < 0.01, "lost share {share}");
    for m in 0..100 {
        let once = read.attempt(2, 0.5, 10.0, 3.0, 1.0, &mut family.stream(m, 7));
        let twice = read.attempt(2, 0.5, 10.0, 3.0, 1.0, &mut family.stream(m, 7));
        assert!(once == twice, "meter {m}");
    }
}

// --- One meter's read: collector, HES, MDM --------------------------------------------------

/// A delivered read: the MDM takes in every interval of the cycle on time, the collector
/// counts a read and no miss, and the meter's record moves to the end of the cycle.
#[test]
fn a_delivered_read_is_taken_in_on_time() {
    let mut world = World::new(&[LinkKind::Cellular], |_| {});
    world.net.paths[0] = sure_path(2, Via::Cellular, 0.0);
    let memory = memory_with(&[100, 0, 120, 90]);
    let mut record = MdmRecord::default();
    let acc = read_meter(&world, 0, &memory, &mut record, 0, 3);
    assert_eq!(acc.on_time, vec![1; 4]);
    assert_eq!(acc.reported_wh, vec![100, 0, 120, 90]);
    assert_eq!(acc.settled_wh, vec![100, 0, 120, 90]);
    assert_eq!(acc.feeder_reported_wh, vec![100, 0, 120, 90]);
    assert_eq!(acc.zero, vec![0, 1, 0, 0]);
    assert_eq!(acc.missing, vec![0; 4]);
    assert_eq!(acc.validation_flags, 0);
    assert_eq!((acc.collector_reads[2], acc.collector_missing[2]), (1, 0));
    let stats = &acc.by_link[LinkKind::Cellular.index()];
    assert_eq!((stats.attempts, stats.successes, stats.late), (1, 1, 0));
    assert_eq!(stats.latency_us_max, 1);
    assert_eq!((record.actual_until, record.valued_until), (4, 4));
    assert_eq!(record.register_at_actual_wh, 310);
    assert_eq!(record.missed_cycles, 0);
}

/// A read that does not arrive: the MDM estimates every interval of the cycle from the
/// profile, counts them missing, and after `silent_cycles` misses in a row counts the meter
/// silent; the next delivery recovers the intervals from the meter's memory and backfills
/// the estimates (the retry is the next read cycle).
#[test]
fn a_missed_read_is_estimated_then_backfilled() {
    let mut world = World::new(&[LinkKind::Cellular], |_| {});
    world.net.paths[0].success = 0.0;
    let home = premise(CustomerClass::Residential, 3_500.0);
    let values = [100, 110, 120, 130, 140, 150, 160, 170];
    let mut record = MdmRecord::default();
    let acc = read_meter(&world, 0, &memory_with(&values[..4]), &mut record, 0, 3);
    let estimates: Vec<u64> = (0..4).map(|s| world.table.substitute_wh(&home, s)).collect();
    assert_eq!(acc.reported_wh, estimates);
    assert_eq!((acc.missing.clone(), acc.estimated.clone()), (vec![1; 4], vec![1; 4]));
    assert_eq!((acc.collector_reads[2], acc.collector_missing[2]), (1, 1));
    assert_eq!(
        (record.actual_until, record.valued_until, record.missed_cycles),
        (0, 4, 1)
    );
    assert!(acc.silent.is_empty());
    assert!(acc.attack_missing.is_empty(), "no attack is to blame");
    for _ in 1..world.config.mdm.silent_cycles {
        let acc = read_meter(&world, 0, &memory_with(&values[..4]), &mut record, 4, 4);
        assert_eq!(
            acc.silent.len(),
            usize::from(record.missed_cycles == world.config.mdm.silent_cycles)
        );
    }
    assert_eq!(record.missed_cycles, world.config.mdm.silent_cycles);

    world.net.paths[0] = sure_path(2, Via::Cellular, 0.0);
    let mut record = MdmRecord {
        valued_until: 4,
        missed_cycles: 1,
        ..MdmRecord::default()
    };
    let acc = read_meter(&world, 0, &memory_with(&values), &mut record, 4, 7);
    assert_eq!(acc.reported_wh, vec![140, 150, 160, 170]);
    assert_eq!(acc.backfilled, 4);
    let backfill: Vec<(u32, i64)> = (0..4u32)
        .map(|s| (s, i64::from(values[s as usize]) - estimates[s as usize] as i64))
        .collect();
    assert_eq!(acc.backfill, backfill);
    let error: u64 = (0..4).map(|s| u64::from(values[s]).abs_diff(estimates[s])).sum();
    assert_eq!(acc.estimation_abs_error_wh, error);
    assert_eq!(acc.estimation_actual_wh, 460);
    assert_eq!((record.actual_until, record.missed_cycles), (8, 0));
}

/// A mesh meter whose mesh read fails retries over its cellular modem, and the read counts as
/// delivered by fallback under the meter's own link kind.
#[test]
fn a_failed_mesh_read_falls_back_to_cellular() {
    let mut world = World::new(&[LinkKind::Mesh], |network| {
        network.meters[0].fallback = true;
        network.meters[0].tower = 2;
        network.meters[0].tower_quality = 1.0;
    });
    world.net.paths[0].success = 0.0;
    assert_eq!(world.net.paths[0].via, Via::Mesh);
    let mut record = MdmRecord::default();
    let acc = read_meter(&world, 0, &memory_with(&[50]), &mut record, 0, 0);
    let stats = &acc.by_link[LinkKind::Mesh.index()];
    assert_eq!((stats.attempts, stats.successes, stats.via_fallback), (1, 1, 1));
    assert_eq!(acc.reported_wh, vec![50]);
    // Without a modem the read is lost.
    let mut world = World::new(&[LinkKind::Mesh], |_| {});
    world.net.paths[0].success = 0.0;
    let acc = read_meter(&world, 0, &memory_with(&[50]), &mut MdmRecord::default(), 0, 0);
    assert_eq!(acc.by_link[LinkKind::Mesh.index()].successes, 0);
    assert_eq!(acc.missing, vec![1]);
}

/// A rogue concentrator on the meter's way: dropping loses the read (and the meter does not
/// fall back), delaying makes it late, altering loses it at the HES unless the meter was
/// downgraded to no message authentication; each miss is charged to the rogue's attack.
#[test]
fn a_rogue_concentrator_drops_delays_or_alters_reads() {
    let world_with = |intercept: Intercept| {
        let mut world = World::new(&[LinkKind::Mesh], |network| {
            network.meters[0].fallback = true;
            network.meters[0].tower = 2;
            network.meters[0].tower_quality = 1.0;
        });
        world.net.paths[0] = sure_path(0, Via::Mesh, 0.0);
        world.net.intercepted_by[0] = 2;
        world.net.intercepts = vec![None, Some(intercept)];
        world
    };
    let deadline = config(1).read_deadline;
    for (intercept, delivered, late) in [
        (Intercept::Drop, false, false),
        (Intercept::Delay(SimDuration::from_secs(1)), true, false),
        (Intercept::Delay(deadline), false, true),
        (Intercept::Alter { reported_share: 0.5 }, false, false),
        (Intercept::Forge, true, false),
    ] {
        let world = world_with(intercept);
        let acc = read_meter(&world, 0, &memory_with(&[50, 60]), &mut MdmRecord::default(), 0, 1);
        let stats = &acc.by_link[LinkKind::Mesh.index()];
        assert_eq!(stats.successes == 1, delivered, "{intercept:?}");
        assert_eq!(stats.late == 1, late, "{intercept:?}");
        assert_eq!(
            stats.via_fallback, 0,
            "{intercept:?}: the meter believes it is connected"
        );
        let charged = if delivered { Vec::new() } else { vec![0, 2] };
        assert_eq!(acc.attack_missing, charged, "{intercept:?}");
    }
    let mut world = world_with(Intercept::Alter { reported_share: 0.5 });
    world.fleet.downgraded_by[0] = 2;
    let acc = read_meter(&world, 0, &memory_with(&[50, 60]), &mut MdmRecord::default(), 0, 1);
    assert_eq!(
        acc.reported_wh,
        vec![50, 60],
        "a downgraded meter's altered report is taken in"
    );
}

/// Reads missing under a jammer (on the meter or on a relay of its mesh route), from a meter
/// that rogue firmware bricked, or behind a flooded collector are charged to that attack.
#[test]
fn missing_reads_are_charged_to_the_attack_acting_on_them() {
    let lost = |edit: &dyn Fn(&mut World)| {
        let mut world = World::new(&[LinkKind::Mesh, LinkKind::Mesh], |_| {});
        world.net.paths[0].success = 0.0;
        edit(&mut world);
        read_meter(&world, 0, &memory_with(&[50, 60, 70]), &mut MdmRecord::default(), 1, 2).attack_missing
    };
    assert_eq!(lost(&|_| {}), Vec::<u64>::new());
    assert_eq!(lost(&|w| w.net.jammed_by[0] = 3), vec![0, 0, 2]);
    assert_eq!(
        lost(&|w| {
            w.net.routes.parent[0] = 1;
            w.net.jammed_by[1] = 1;
        }),
        vec![2]
    );
    assert_eq!(
        lost(&|w| {
            let mut image = w.fleet.images[0].clone();
            image.payload = Payload::Brick;
            w.fleet.images.push(image);
            w.fleet.firmware[0] = 1;
            w.fleet.failed[0] = true;
            w.fleet.compromised_by[0] = 2;
        }),
        vec![0, 2]
    );
    assert_eq!(lost(&|w| w.cycle.flood_by[0] = 1), vec![2]);
    assert_eq!(lost(&|w| w.net.flooded_by[0] = 4), vec![0, 0, 0, 2]);
}

/// A collector whose backhaul is down loses its meters' reads on the way to the HES, and
/// they do not count against the collector's own read rate.
#[test]
fn a_collector_without_backhaul_loses_reads_on_the_way() {
    let mut world = World::new(&[LinkKind::Cellular], |_| {});
    world.net.paths[0] = sure_path(2, Via::Cellular, 0.0);
    world.cycle.up[2] = false;
    let acc = read_meter(&world, 0, &memory_with(&[50]), &mut MdmRecord::default(), 0, 0);
    let stats = &acc.by_link[LinkKind::Cellular.index()];
    assert_eq!((stats.attempts, stats.successes, stats.backhaul_lost), (1, 0, 1));
    assert_eq!(acc.missing, vec![1]);
    assert_eq!((acc.collector_reads[2], acc.collector_missing[2]), (0, 0));
}

// --- The MDM's validation, estimation and backfill -----------------------------------------

fn ingest(
    table: &ProfileTable,
    memory: &LoadProfileMemory,
    record: &mut MdmRecord,
    first: u32,
    last: u32,
) -> CycleAccum {
    let mut acc = CycleAccum::default();
    acc.ensure_len((last - first + 1) as usize, 1, 0);
    ingest_delivery(
        &mut acc,
        table,
        &premise(CustomerClass::Residential, 3_500.0),
        memory,
        record,
        first,
        last,
    );
    acc
}

/// A spike (above `SPIKE_FLOOR_WH` and `SPIKE_FACTOR` times the substitute value) fails
/// validation and is replaced by the substitute value.
#[test]
fn a_spike_is_flagged_and_replaced_by_the_substitute() {
    let table = ProfileTable::build(&config(1));
    let est = table.substitute_wh(&premise(CustomerClass::Residential, 3_500.0), 1);
    let spike = (SPIKE_FACTOR * est.max(1) + SPIKE_FLOOR_WH + 1) as u32;
    let memory = memory_with(&[100, spike]);
    let mut record = MdmRecord::default();
    let acc = ingest(&table, &memory, &mut record, 0, 1);
    assert_eq!(acc.reported_wh, vec![100, est]);
    assert_eq!(acc.estimated, vec![0, 1]);
    assert_eq!(acc.validation_flags, 1, "the spike, not the register");
    assert_eq!(record.offpeak_wh + record.peak_wh, 100 + est);
}

/// A register that runs backwards, or intervals that do not add up to its advance, fail
/// validation.
#[test]
fn a_register_that_does_not_add_up_is_flagged() {
    let table = ProfileTable::build(&config(1));
    let mut backwards = memory_with(&[100, 100]);
    backwards.register_reading_wh = 150;
    let mut record = MdmRecord {
        register_at_actual_wh: 500,
        ..MdmRecord::default()
    };
    assert_eq!(ingest(&table, &backwards, &mut record, 0, 1).validation_flags, 1);
    let mut short = memory_with(&[100, 100]);
    short.register_reading_wh = 150;
    assert_eq!(
        ingest(&table, &short, &mut MdmRecord::default(), 0, 1).validation_flags,
        1
    );
    let exact = memory_with(&[100, 100]);
    assert_eq!(
        ingest(&table, &exact, &mut MdmRecord::default(), 0, 1).validation_flags,
        0
    );
}

/// Intervals the meter no longer remembers (older than `LOAD_PROFILE_DEPTH`) are
/// unrecoverable: their share of the register's advance is spread over them in proportion to
/// the profile, so the settled energy still adds up to the register.
#[test]
fn intervals_past_the_memory_are_spread_over_the_register_advance() {
    let table = ProfileTable::build(&config(1));
    let depth = LOAD_PROFILE_DEPTH as u32;
    let lost = 4u32;
    let values: Vec<u32> = (0..depth + lost).map(|s| 100 + s).collect();
    let mut memory = memory_with(&values);
    // Every slot's energy, the lost ones included, went into the register.
    assert_eq!(memory.recorded_until, depth + lost);
    let remembered: u64 = values[lost as usize..].iter().map(|&v| u64::from(v)).sum();
    memory.register_reading_wh = remembered + 1_000;
    let (first, last) = (depth + lost - 1, depth + lost - 1);
    let mut record = MdmRecord::default();
    let acc = ingest(&table, &memory, &mut record, first, last);
    assert_eq!(acc.unrecoverable, u64::from(lost));
    // The lost slots are settled by deltas against their estimates that add up to the gap.
    let home = premise(CustomerClass::Residential, 3_500.0);
    let estimated: i64 = (0..lost).map(|s| table.substitute_wh(&home, s) as i64).sum();
    let lost_deltas: i64 = acc.backfill.iter().filter(|(s, _)| *s < lost).map(|(_, d)| d).sum();
    assert_eq!(lost_deltas + estimated, 1_000);
    assert_eq!(record.offpeak_wh + record.peak_wh, remembered + 1_000);
    assert_eq!(
        acc.backfilled,
        u64::from(depth - 1),
        "remembered slots before the cycle"
    );
    assert_eq!(record.register_at_actual_wh, memory.register_reading_wh);
}

// --- The accumulators ---------------------------------------------------------------------

/// Resetting the accumulators zeroes every sum and keeps the vectors' lengths for the next
/// interval or cycle; an attack's sums grow on first use.
#[test]
fn accumulators_reset_to_zero_and_grow_on_first_use() {
    let mut tick = TickAccum::default();
    attack_slot(&mut tick.attacks, 4).customers_off = 3;
    assert_eq!(tick.attacks.len(), 5);
    tick.transformers = vec![
        TransformerEnergy {
            true_mwh: 7,
            registered_mwh: 8
        };
        2
    ];
    tick.critical.push((1, 2, 3));
    tick.connected = 9;
    tick.reset();
    assert_eq!(tick.attacks, vec![AttackTick::default(); 5]);
    assert_eq!(
        (tick.transformers.clone(), tick.critical.len(), tick.connected),
        (vec![TransformerEnergy::default(); 2], 0, 0)
    );

    let mut cycle = CycleAccum::default();
    cycle.ensure_len(3, 2, 0);
    cycle.reported_wh[2] = 5;
    cycle.feeder_reported_wh[5] = 6;
    cycle.backfill.push((0, 1));
    cycle.validation_flags = 2;
    cycle.collector_reads = vec![1, 2];
    cycle.reset();
    assert_eq!(cycle.reported_wh, vec![0; 3]);
    assert_eq!(cycle.feeder_reported_wh, vec![0; 6]);
    assert_eq!(cycle.n_feeders, 2);
    assert!(cycle.backfill.is_empty());
    assert_eq!(cycle.validation_flags, 0);
    assert_eq!(cycle.collector_reads, vec![0, 0]);

    let mut records = RunRecords::default();
    let busy = AttackTick {
        customers_off: 1,
        ..AttackTick::default()
    };
    push_attack_ticks(&mut records, 9, &[AttackTick::default(), busy]);
    assert_eq!(records.attack_ticks, vec![(9, 1, busy)]);
}

/// The consumption noise is a stationary AR(1) process in the log: its factor averages one,
/// its log has the configured spread and lag-1 autocorrelation, and it starts from the
/// stationary law.
#[test]
fn consumption_noise_persists_with_mean_one() {
    let noise = LogNoise::new(0.55, 0.7);
    let normal = QuantileTable::standard_normal();
    let family = StreamFamily::new(3, Purpose::ConsumptionNoise);
    let n = 200_000u64;
    let mut x = f32::NAN;
    let logs: Vec<f64> = (0..n)
        .map(|t| {
            x = noise.step(x, normal.sample(family.stream(0, t).next_u64()));
            f64::from(x)
        })
        .collect();
    let mean_factor = logs.iter().map(|&l| f64::from(noise.factor(l as f32))).sum::<f64>() / n as f64;
    assert!((mean_factor - 1.0).abs() < 0.02, "mean factor {mean_factor}");
    let mean = logs.iter().sum::<f64>() / n as f64;
    let var = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n as f64;
    assert!((var.sqrt() - 0.55).abs() < 0.02, "sigma {}", var.sqrt());
    let lag1 = logs.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum::<f64>() / (n - 1) as f64 / var;
    assert!((lag1 - 0.7).abs() < 0.02, "lag-1 {lag1}");
    // Without persistence the draws are independent; the first draw is the stationary one.
    let white = LogNoise::new(0.55, 0.0);
    assert_eq!(white.step(2.0, 0.5), 0.55 * 0.5);
    assert_eq!(noise.step(f32::NAN, 1.0), 0.55);
}

/// A read cycle counts a meter-day when a civil day ends within it, from the day's first slot
/// (or the run's start, for a run that starts mid-day).
#[test]
fn a_read_cycle_counts_the_day_that_ends_within_it() {
    assert_eq!(super::day_ending(0, 95, 95), Some(0));
    assert_eq!(super::day_ending(0, 0, 0), None);
    assert_eq!(super::day_ending(0, 94, 94), None);
    assert_eq!(super::day_ending(0, 188, 191), Some(96));
    assert_eq!(super::day_ending(0, 192, 195), None);
    // A run that starts at noon: its first day ends at slot 47 and counts from slot 0.
    assert_eq!(super::day_ending(48, 44, 47), Some(0));
    assert_eq!(super::day_ending(48, 140, 143), Some(48));
}
