//! The control plane on a generated town: the HES's command fan-out over mesh, PLC and cellular,
//! the audit log, and firmware transfers sized by image and bandwidth.

use amirange_sim::config::SimConfig;
use amirange_sim::engine::{Input, Sim};
use amirange_sim::hes::{CommandKind, CommandRequest, Refusal};
use amirange_sim::model::{Cause, CustomerClass, LinkKind, Relay};
use amirange_sim::network::{Network, Via};
use amirange_sim::security::FirmwareImage;
use amirange_sim::time::{CivilDateTime, SimDuration, SimTime};

fn town(seed: u64) -> Network {
    let text = amirange_topologies::preset("town-10k").expect("preset");
    let area = amirange::scenario::load_area("town-10k", text, None).expect("valid preset");
    let kwh = CustomerClass::ALL.map(|c| SimConfig::default_class(c).mean_annual_kwh);
    area.generate(seed, kwh).expect("generates")
}

fn sim(net: Network, hours: u64) -> Sim {
    let start = CivilDateTime::parse("2026-01-15T00:00").expect("valid");
    Sim::new(SimConfig::with_defaults(11, start, SimDuration::from_hours(hours)), net).expect("valid")
}

fn at(hours: u64) -> SimTime {
    SimTime(SimDuration::from_hours(hours).as_micros())
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// 10,000 meters disconnected in 100 commands of 100: every command is in the audit log with the
/// operator who issued it, and the time from the HES sending each meter's command to the relay
/// opening follows the link kind: cellular fastest, PLC slowest.
#[test]
fn a_mass_disconnect_executes_by_link_kind_and_is_audited() {
    let net = town(3);
    let n = net.meters.len() as u32;
    assert!(n >= 10_000);
    let mut sim = sim(net, 4);
    let credential = sim.credential("ops-alice").expect("account");
    for chunk in (0..10_000u32).collect::<Vec<_>>().chunks(100) {
        let request = CommandRequest {
            credential,
            kind: CommandKind::Disconnect,
            meters: chunk.to_vec(),
            cause: Cause::Operation,
            purpose: "test".into(),
            approver: None,
        };
        sim.schedule(at(1), Input::Command(request)).expect("valid");
    }
    sim.run_to_end().expect("runs");
    let hes = sim.hes();
    assert_eq!(hes.audit.len(), 100);
    assert!(
        hes.audit
            .iter()
            .all(|a| a.account == "ops-alice" && a.refused.is_none())
    );
    assert_eq!(hes.audit.iter().map(|a| a.targets).sum::<u32>(), 10_000);
    assert_eq!(hes.jobs.len(), 10_000);
    let mut by_kind: [Vec<u64>; 3] = Default::default();
    for j in &hes.jobs {
        if let Some(done) = j.executed {
            let kind = sim.network().meters[j.meter as usize].link;
            by_kind[kind.index()].push(done.0 - j.first_sent.0);
        }
    }
    let executed: usize = by_kind.iter().map(Vec::len).sum();
    let acked: u32 = hes.audit.iter().map(|a| a.acked).sum();
    let failed: u32 = hes.audit.iter().map(|a| a.failed).sum();
    assert!(executed >= 9_500, "executed {executed}");
    assert!(acked as usize <= executed && acked + failed <= 10_000);
    let open = (0..10_000)
        .filter(|&m| sim.meter(m).map(|x| x.relay) == Some(Relay::Open))
        .count();
    assert_eq!(open, executed, "every executed disconnect opened a relay");
    let med = by_kind.map(|v| median(v) as f64 / 1e6);
    let [mesh, plc, cellular] = med;
    eprintln!("median seconds to execute: mesh {mesh:.2}, plc {plc:.2}, cellular {cellular:.2}");
    assert!(
        cellular < mesh && mesh < plc,
        "mesh {mesh}, plc {plc}, cellular {cellular}"
    );
    // The interval rows see the relays open.
    let last = sim.records().intervals.last().expect("rows");
    assert_eq!(last.customers_off_by_cause[Cause::Operation.index()], executed as u64);
}

/// A refused request is audited and reaches no meter.
#[test]
fn refused_requests_are_audited_and_do_nothing() {
    let mut sim = sim(town(4), 2);
    let mut stolen = sim.credential("admin-carol").expect("account");
    stolen.second_factor = false;
    let ops = sim.credential("ops-alice").expect("account");
    for (credential, kind) in [(stolen, CommandKind::Disconnect), (ops, CommandKind::KeyRotation)] {
        let request = CommandRequest {
            credential,
            kind,
            meters: vec![1, 2, 3],
            cause: Cause::Attack(0),
            purpose: "probe".into(),
            approver: None,
        };
        sim.schedule(at(1), Input::Command(request)).expect("valid");
    }
    sim.run_to_end().expect("runs");
    let audit = &sim.hes().audit;
    assert_eq!(audit[0].refused, Some(Refusal::SecondFactorMissing));
    assert_eq!(audit[1].refused, Some(Refusal::NotPermitted));
    assert!(sim.hes().jobs.is_empty());
    assert_eq!(sim.fleet().key_version[1], 0);
}

/// Seconds from sending an image to `meters` until each has it running, without the
/// activation time.
fn transfer_seconds(net: &Network, meters: &[u32], kb: u32) -> Vec<f64> {
    let mut sim = sim(net.clone(), 24);
    let image = sim.add_firmware_image(FirmwareImage::honest("4.2.0", 0x42, true, kb * 1024));
    let credential = sim.credential("admin-carol").expect("account");
    let request = CommandRequest {
        credential,
        kind: CommandKind::FirmwareUpdate { image },
        meters: meters.to_vec(),
        cause: Cause::Operation,
        purpose: "campaign".into(),
        approver: None,
    };
    // Between read cycles, so that the image does not queue behind the polling.
    let send = SimTime(at(1).0 + SimDuration::from_minutes(7).as_micros());
    sim.schedule(send, Input::Command(request)).expect("valid");
    sim.run_to_end().expect("runs");
    let activation = SimConfig::with_defaults(
        0,
        CivilDateTime::parse("2026-01-01").expect("ok"),
        SimDuration::from_days(1),
    )
    .security
    .firmware_activation;
    let jobs = &sim.hes().jobs;
    assert!(
        meters.iter().all(|&m| sim.fleet().firmware[m as usize] == image),
        "all updated"
    );
    jobs.iter()
        .map(|j| {
            let done = j.executed.expect("executed");
            (done.0 - j.first_sent.0 - activation.as_micros()) as f64 / 1e6
        })
        .collect()
}

/// A firmware campaign over PLC takes longer than over cellular, in proportion to image size
/// and bandwidth: one meter's transfer time is the image's bits over the link's rate (plus
/// latency), and a campaign over a concentrator's meters queues on its line.
#[test]
fn firmware_transfers_follow_image_size_and_bandwidth() {
    let mut net = town(5);
    net.params.backhaul.success = 1.0;
    let params = net.params;
    let pick = |kind: LinkKind, via: Via, n: usize| -> Vec<u32> {
        let state = amirange_sim::network::NetState::new(&net);
        (0..net.meters.len() as u32)
            .filter(|&m| net.meters[m as usize].link == kind && state.paths[m as usize].via == via)
            .filter(|&m| state.paths[m as usize].success > 0.9)
            .take(n)
            .collect()
    };
    let plc_one = pick(LinkKind::Plc, Via::Plc, 1);
    let cell_one = pick(LinkKind::Cellular, Via::Cellular, 1);
    for kb in [64u32, 128] {
        let bits = f64::from(kb * 1024 * 8);
        let plc = transfer_seconds(&net, &plc_one, kb)[0];
        let cell = transfer_seconds(&net, &cell_one, kb)[0];
        let plc_expected = bits / params.plc.bandwidth_bps;
        let cell_expected = bits / params.cellular.bandwidth_bps;
        eprintln!("{kb} KB: plc {plc:.1} s (bits/rate {plc_expected:.1}), cellular {cell:.1} s ({cell_expected:.1})");
        assert!(plc >= plc_expected && plc < plc_expected * 1.6 + 3.0, "plc {plc}");
        assert!(cell >= cell_expected && cell < cell_expected + 5.0, "cellular {cell}");
    }
    let small = transfer_seconds(&net, &plc_one, 64)[0];
    let large = transfer_seconds(&net, &plc_one, 256)[0];
    let ratio = large / small;
    assert!((3.3..=4.2).contains(&ratio), "256 KB vs 64 KB over PLC: {ratio}");
    // A campaign over 40 meters of each kind: PLC takes the longest by far.
    let plc_many = pick(LinkKind::Plc, Via::Plc, 40);
    let cell_many = pick(LinkKind::Cellular, Via::Cellular, 40);
    let last = |v: Vec<f64>| v.into_iter().fold(0.0, f64::max);
    let plc_campaign = last(transfer_seconds(&net, &plc_many, 128));
    let cell_campaign = last(transfer_seconds(&net, &cell_many, 128));
    eprintln!("campaign of 40 x 128 KB: plc {plc_campaign:.0} s, cellular {cell_campaign:.0} s");
    assert!(plc_campaign > 5.0 * cell_campaign);
}

fn within(measured: f64, expected: f64, what: &str) {
    let err = (measured - expected).abs() / expected;
    eprintln!(
        "{what}: {measured} vs configured {expected:.1} ({:+.1}%)",
        100.0 * (measured / expected - 1.0)
    );
    assert!(err <= 0.10, "{what}: {measured} is not within 10% of {expected}");
}

/// Legitimate operations over a simulated week happen at their configured rates (within 10%):
/// the rates are raised so that a week holds about a thousand of each, and the counts come
/// from what the HES executed and what the grid records, not from the plan alone.
#[test]
fn legitimate_operations_over_a_week_follow_their_rates() {
    use amirange_sim::operations::{OperationsConfig, plan};
    let net = town(6);
    let n = net.meters.len() as f64;
    let count = |c: CustomerClass| net.meters.iter().filter(|m| m.class == c).count() as f64;
    let (households, customers) = (
        count(CustomerClass::Residential),
        count(CustomerClass::Residential) + count(CustomerClass::Commercial),
    );
    let start = CivilDateTime::parse("2026-03-02T00:00").expect("valid");
    let mut sim = Sim::new(SimConfig::with_defaults(12, start, SimDuration::from_days(7)), net).expect("valid");
    let mut ops = OperationsConfig::typical();
    ops.nonpayment_per_1000_per_month = 500.0;
    ops.moves_per_1000_per_month = 500.0;
    ops.meter_failures_per_1000_per_year = 5000.0;
    ops.reconnect_median = SimDuration::from_hours(6);
    let counts = plan(&mut sim, &ops).expect("plans");
    sim.run_to_end().expect("runs");
    // 2 to 6 March 2026: five business days.
    let months = 5.0 / (261.0 / 12.0);
    let audit = &sim.hes().audit;
    let executed = |purpose: &str, kind: &str| -> f64 {
        audit
            .iter()
            .filter(|a| a.purpose == purpose && a.kind.name() == kind)
            .map(|a| a.executed)
            .sum::<u32>() as f64
    };
    within(
        executed("non-payment", "disconnect"),
        500.0 / 1000.0 * customers * months,
        "non-payment disconnects executed",
    );
    within(
        executed("move-out", "read"),
        500.0 / 1000.0 * households * months,
        "move-out reads executed",
    );
    within(
        counts.vacant as f64,
        ops.vacant_share * counts.move_outs as f64,
        "move-outs left vacant",
    );
    let failures = sim.fleet().failed.iter().filter(|f| **f).count() as f64 + counts.replacements as f64;
    within(failures, 5000.0 / 1000.0 * n * 7.0 / 365.25, "meter failures");
    // Nightly waves: 5% of the fleet a night from day 2 (six nights), 1% of keys a night.
    let campaign = ops.firmware.as_ref().expect("campaign");
    let updated = sim.fleet().firmware.iter().filter(|&&f| f == 1).count() as f64;
    within(updated, campaign.share_per_day * n * 6.0, "meters on the new firmware");
    let rotated = sim.fleet().key_version.iter().filter(|&&v| v > 0).count() as f64;
    within(rotated, ops.key_rotation_share_per_day * n * 7.0, "keys rotated");
    // Every command of the plan is in the audit log, issued by the right account.
    for a in audit {
        let expected = match a.purpose.as_str() {
            "firmware-campaign" | "key-rotation" => "admin-carol",
            "demand-response" => "sup-bob",
            _ => "cis-integration",
        };
        assert_eq!(a.account, expected, "{}", a.purpose);
        assert!(a.refused.is_none());
    }
}

/// Over a year: demand-response events on the configured share of winter and summer workdays,
/// and storms at their rate per place.
#[test]
fn demand_response_and_storms_follow_their_rates_over_a_year() {
    use amirange_sim::operations::{OperationsConfig, plan};
    let net = town(7);
    let start = CivilDateTime::parse("2026-01-01T00:00").expect("valid");
    let mut sim = Sim::new(SimConfig::with_defaults(12, start, SimDuration::from_days(365)), net).expect("valid");
    let mut ops = OperationsConfig::typical();
    ops.demand_response.day_probability = 0.9;
    ops.storms_per_year_at_a_place = 100.0;
    let counts = plan(&mut sim, &ops).expect("plans");
    // Workdays of 2026 in December to February and June to August.
    let mut eligible = 0.0;
    let first = start.date.days_since_epoch();
    for d in 0..365 {
        let date = amirange_sim::time::CivilDate::from_days_since_epoch(first + d);
        if date.iso_weekday() <= 5 && matches!(date.month, 12 | 1 | 2 | 6 | 7 | 8) {
            eligible += 1.0;
        }
    }
    within(
        counts.demand_response_events as f64,
        0.9 * eligible,
        "demand-response events",
    );
    // Each place lies in 100 storm footprints a year; a town smaller than one footprint sees
    // those at least (and those that only reach part of it).
    assert!(counts.storms >= 80, "{} storms", counts.storms);
}

/// The MDM's energy per feeder at first read adds up to its fleet total, and balances against
/// what feeder-head SCADA measured (which also carries the technical losses): the hook for
/// theft and false-data analytics.
#[test]
fn mdm_energy_per_feeder_balances_against_scada() {
    let mut sim = sim(town(8), 3);
    sim.run_to_end().expect("runs");
    let n_feeders = sim.network().feeders.len();
    let r = sim.records();
    assert_eq!(r.feeder_reported_wh.len(), r.intervals.len() * n_feeders);
    for (i, row) in r.intervals.iter().enumerate() {
        let per_feeder: u64 = r.feeder_reported_wh[i * n_feeders..(i + 1) * n_feeders].iter().sum();
        assert_eq!(per_feeder, row.reported_wh, "interval {i}");
    }
    for f in 0..n_feeders {
        let mdm: f64 = (0..r.intervals.len())
            .map(|i| r.feeder_reported_wh[i * n_feeders + f] as f64)
            .sum();
        let scada_wh: f64 = (0..r.intervals.len())
            .map(|i| f64::from(r.scada_kw[i * n_feeders + f]) * 250.0)
            .sum();
        let ratio = mdm / scada_wh;
        assert!((0.9..1.0).contains(&ratio), "feeder {f}: MDM / SCADA = {ratio}");
    }
}
