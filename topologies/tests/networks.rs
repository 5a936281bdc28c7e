//! Generated networks: structure, routability, determinism, and how links behave under
//! interference and contention.

use amirange_sim::config::SimConfig;
use amirange_sim::engine::{Action, Input, Message, Sim};
use amirange_sim::model::LinkKind;
use amirange_sim::network::{Fate, Interference, NONE, NetState, Network, Orphan, Via};
use amirange_sim::time::{CivilDateTime, SimDuration, SimTime};
use amirange_topologies::describe::Summary;
use amirange_topologies::spec::RadioSpec;
use amirange_topologies::{AreaKind, AreaSpec, PRESETS};

const CLASS_KWH: [f64; 4] = [3_500.0, 30_000.0, 400_000.0, 800_000.0];

fn parse(text: &str) -> AreaSpec {
    ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(text)
        .expect("parses")
}

fn generate(spec: &AreaSpec, seed: u64) -> Network {
    spec.resolve()
        .expect("valid spec")
        .generate(seed, CLASS_KWH)
        .expect("generates")
}

/// Checks every structural property of a network with its routes formed.
fn check_properties(net: &Network, state: &NetState, label: &str) {
    let max_hops = net.params.mesh.max_hops;
    let n = net.meters.len() as u32;
    for (i, (site, path)) in net.meters.iter().zip(&state.paths).enumerate() {
        match path.via {
            Via::Orphan(reason) => {
                assert_eq!(path.collector, NONE, "{label}: orphan {i} has a collector");
                assert_eq!(path.success, 0.0);
                match reason {
                    Orphan::NoMeshNeighbour | Orphan::NoRouteToCollector => assert_eq!(site.link, LinkKind::Mesh),
                    Orphan::NoTower => assert_ne!(site.link, LinkKind::Plc),
                    Orphan::RadioDown | Orphan::NoSupply => panic!("{label}: no radio is down at rest"),
                }
            }
            via => {
                let collector = net.collectors[path.collector as usize];
                let expected = match via {
                    Via::Mesh => LinkKind::Mesh,
                    Via::Plc => LinkKind::Plc,
                    _ => LinkKind::Cellular,
                };
                assert_eq!(collector.kind, expected, "{label}: meter {i} read by the wrong kind");
                assert!(path.success > 0.0 && path.success <= 1.0);
                assert!(path.fixed_us.is_finite() && path.mu.is_finite());
                if via == Via::Mesh {
                    assert!(
                        (1..=max_hops).contains(&u32::from(path.hops)),
                        "{label}: {i} has {} hops",
                        path.hops
                    );
                    // Following the parents reaches the collector in exactly `hops` steps.
                    let mut v = i as u32;
                    for _ in 0..path.hops {
                        v = state.routes.parent[v as usize];
                    }
                    assert_eq!(
                        v,
                        n + path.collector,
                        "{label}: route of {i} does not end at its collector"
                    );
                }
            }
        }
    }
    let s = state.reach_summary();
    assert_eq!(s.mesh + s.plc + s.cellular + s.fallback + s.n_orphans(), u64::from(n));
}

/// Property test over seeds, sizes and kinds of area: every meter is routable to the HES or an
/// orphan with a reason; hop counts stay within bounds; the same seed gives the same network.
#[test]
fn every_meter_is_routable_or_an_orphan_with_a_reason() {
    let mut orphans_seen = 0;
    for kind in [AreaKind::Urban, AreaKind::Suburban, AreaKind::Rural] {
        for (meters, seed) in [(1_000u64, 1u64), (2_500, 2), (4_000, 3)] {
            let mut spec = AreaSpec::new(kind, meters);
            if seed == 3 {
                // A weak radio and a tight hop limit, so that orphans occur.
                spec.radio = Some(RadioSpec {
                    tx_power_dbm: Some(5.0),
                    ..RadioSpec::default()
                });
                spec.mesh = Some(amirange_topologies::spec::MeshSpec {
                    max_hops: Some(3),
                    ..Default::default()
                });
                spec.cellular_fallback = Some(0.0);
            }
            let label = format!("{kind:?} {meters} seed {seed}");
            let net = generate(&spec, seed);
            assert_eq!(net.meters.len() as u64, meters);
            let state = NetState::new(&net);
            check_properties(&net, &state, &label);
            orphans_seen += state.reach_summary().n_orphans();
            assert_eq!(net, generate(&spec, seed), "{label}: not deterministic");
        }
    }
    assert!(orphans_seen > 0, "the weak-radio cases should produce orphans");
    let spec = AreaSpec::new(AreaKind::Suburban, 1_500);
    assert_ne!(generate(&spec, 1).meters, generate(&spec, 2).meters);
}

#[test]
fn presets_parse_resolve_and_generate_small() {
    for (name, text) in PRESETS {
        let mut spec = parse(text);
        let area = spec.resolve().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(area.meters >= 10_000, "{name}");
        spec.meters = 2_000;
        let net = generate(&spec, 5);
        let state = NetState::new(&net);
        check_properties(&net, &state, name);
        let summary = Summary::of(&net, &state);
        assert!(summary.feeders >= 1 && summary.substations >= 1 && summary.transformers >= 1);
        assert!(summary.to_string().contains("orphans"), "{name}");
    }
}

#[test]
fn the_town_has_every_link_kind_and_critical_facilities() {
    let net = generate(&parse(amirange_topologies::preset("town-10k").expect("preset")), 7);
    let state = NetState::new(&net);
    let s = Summary::of(&net, &state);
    assert!(s.by_link.iter().all(|&n| n > 500), "{:?}", s.by_link);
    assert!(s.collectors.iter().all(|&n| n >= 2), "{:?}", s.collectors);
    assert!(s.facilities.iter().sum::<u64>() >= 5, "{:?}", s.facilities);
    assert!(s.hops.len() > 2, "multi-hop mesh: {:?}", s.hops);
    // Transformers are rated above what their premises draw, feeders carry their transformers.
    assert!(net.transformers.iter().all(|t| t.rating_kva >= 50.0));
    assert!(net.feeders.iter().all(|f| f.rating_kw > 0.0 && f.no_load_loss_kw > 0.0));
}

fn config(hours: u64) -> SimConfig {
    let start = CivilDateTime::parse("2026-01-15T00:00").expect("valid");
    let mut config = SimConfig::with_defaults(3, start, SimDuration::from_hours(hours));
    // The network as `NetState::new` forms it: no chronic non-communicators.
    config.comms = amirange_sim::network::CommsFaults::none();
    config
}

/// Every mesh meter whose route passes through node `through`.
fn routed_through(state: &NetState, i: usize, through: &[bool]) -> bool {
    let n = through.len();
    let mut v = state.routes.parent[i];
    while (v as usize) < n {
        if through[v as usize] {
            return true;
        }
        v = state.routes.parent[v as usize];
    }
    false
}

/// An interference field over one area lowers path success for the meters it covers and those
/// routed through them, and nowhere else; after the repair delay routes re-form around it.
#[test]
fn interference_degrades_covered_and_downstream_meters_only_and_routes_reform() {
    let net = generate(&parse(amirange_topologies::preset("town-10k").expect("preset")), 7);
    let before = NetState::new(&net);
    // Centre the jammer on a mesh meter two hops out with many meters routed through it.
    let n = net.meters.len();
    let mut children = vec![0u32; n];
    for &v in &before.routes.order {
        let p = before.routes.parent[v as usize];
        if (p as usize) < n {
            children[p as usize] += 1;
        }
    }
    let centre = (0..n)
        .filter(|&i| before.paths[i].via == Via::Mesh && before.paths[i].hops == 2)
        .max_by_key(|&i| (children[i], std::cmp::Reverse(i)))
        .expect("a two-hop meter");
    let area = Interference {
        center: net.meters[centre].pos,
        radius_m: 60.0,
        strength: 0.9,
        start: SimTime(SimDuration::from_minutes(20).as_micros()),
        end: SimTime(SimDuration::from_hours(3).as_micros()),
        reactive: false,
        owner: None,
    };
    let covered: Vec<bool> = net
        .meters
        .iter()
        .map(|m| m.pos.dist2(area.center) <= area.radius_m * area.radius_m)
        .collect();
    let mut sim = Sim::new(config(4), net.clone()).expect("valid");
    sim.add_interference(area).expect("valid interference");
    // Just after it starts, before the mesh repairs its routes.
    sim.step_until(SimTime(SimDuration::from_minutes(25).as_micros()))
        .expect("steps");
    let jammed = sim.net_state().clone();
    let (mut hit_covered, mut hit_downstream) = (0, 0);
    for i in 0..n {
        let (was, now) = (before.paths[i].success, jammed.paths[i].success);
        let downstream = before.paths[i].via == Via::Mesh && routed_through(&before, i, &covered);
        if covered[i] && net.meters[i].link != LinkKind::Plc {
            assert!(now < was * 0.5, "covered meter {i}: {was} -> {now}");
            hit_covered += 1;
        } else if downstream {
            assert!(now < was, "downstream meter {i}: {was} -> {now}");
            hit_downstream += 1;
        } else {
            assert_eq!(was, now, "meter {i} is neither covered nor downstream but changed");
        }
    }
    assert!(
        hit_covered > 3 && hit_downstream > 3,
        "covered {hit_covered}, downstream {hit_downstream}"
    );
    // After the repair delay: downstream meters outside the area route around it again.
    sim.step_until(SimTime(SimDuration::from_minutes(40).as_micros()))
        .expect("steps");
    let repaired = sim.net_state().clone();
    assert!(repaired.repairs >= 2, "a route repair ran");
    let mut recovered = 0;
    for i in 0..n {
        let downstream = before.paths[i].via == Via::Mesh && routed_through(&before, i, &covered);
        if downstream && !covered[i] {
            assert!(repaired.paths[i].success >= jammed.paths[i].success);
            if !routed_through(&repaired, i, &covered) && repaired.paths[i].success > 0.8 * before.paths[i].success {
                recovered += 1;
            }
        }
    }
    assert!(
        recovered * 2 > hit_downstream,
        "{recovered} of {hit_downstream} routed around the jammer"
    );
    // Reads fail inside the area while it lasts, and the run records it.
    sim.step_until(SimTime(SimDuration::from_hours(4).as_micros()))
        .expect("steps");
    let rows = &sim.records().intervals;
    let missing = |slots: std::ops::Range<usize>| rows[slots].iter().map(|r| r.reads_missing).sum::<u64>();
    assert!(
        missing(4..8) > missing(12..16) + 4,
        "jammed {} vs clear {}",
        missing(4..8),
        missing(12..16)
    );
    // Once it ends, everything is as before.
    assert_eq!(sim.net_state().rf_factor.iter().filter(|f| **f < 1.0).count(), 0);
}

/// Sends a small command to each `(meter, time)` and returns the delivery times (µs after
/// sending) of those that arrive.
fn command_times(sim: &mut Sim, sends: &[(u32, SimTime)]) -> Vec<u64> {
    let first = sim.records().messages.len();
    for &(meter, at) in sends {
        let message = Message {
            bytes: 120,
            priority: true,
            action: Action::None,
        };
        sim.schedule(at, Input::Send { meter, message }).expect("valid");
    }
    let last = sends.iter().map(|s| s.1).max().expect("something to send");
    sim.step_until(SimTime(last.0 + SimDuration::from_minutes(10).as_micros()))
        .expect("steps");
    sim.records().messages[first..]
        .iter()
        .filter_map(|r| match r.fate {
            Fate::Delivered { at: arrival, .. } => Some(arrival.0 - r.sent.0),
            Fate::Lost(_) => None,
        })
        .collect()
}

/// A command to every meter on one PLC transformer or one cellular tower queues on the shared
/// channel and takes measurably longer than a command to one meter.
#[test]
fn plc_and_cellular_contention_slow_down_fan_out() {
    let mut net = generate(&parse(amirange_topologies::preset("town-10k").expect("preset")), 7);
    net.params.backhaul.success = 1.0;
    for (kind, label) in [
        (LinkKind::Plc, "PLC transformer"),
        (LinkKind::Cellular, "cellular tower"),
    ] {
        let state = NetState::new(&net);
        // The busiest collector of this kind.
        let mut load = vec![0u32; net.collectors.len()];
        for p in &state.paths {
            if p.collector != NONE {
                load[p.collector as usize] += 1;
            }
        }
        let busiest = (0..net.collectors.len())
            .filter(|&c| net.collectors[c].kind == kind)
            .max_by_key(|&c| load[c])
            .expect("a collector of this kind");
        let group: Vec<u32> = (0..net.meters.len() as u32)
            .filter(|&m| state.paths[m as usize].collector == busiest as u32)
            .collect();
        assert!(group.len() >= 20, "{label}: only {} meters", group.len());
        // Send at minute 16 of a fresh run, clear of the read cycle at minute 15.
        let at = SimTime(SimDuration::from_minutes(16).as_micros());
        // One command at a time to seven meters, 20 s apart: the median is the baseline.
        let mut one = Sim::new(config(2), net.clone()).expect("valid");
        let sends: Vec<(u32, SimTime)> = (0..7)
            .map(|k| {
                (
                    group[k],
                    SimTime(at.0 + SimDuration::from_secs(20 * k as u64).as_micros()),
                )
            })
            .collect();
        let mut singles = command_times(&mut one, &sends);
        singles.sort_unstable();
        let single = singles[singles.len() / 2];
        let mut all = Sim::new(config(2), net.clone()).expect("valid");
        let fan_out = command_times(&mut all, &group.iter().map(|&m| (m, at)).collect::<Vec<_>>());
        let slowest = *fan_out.iter().max().expect("fan-out commands arrive");
        assert!(
            fan_out.len() * 10 >= group.len() * 8,
            "{label}: most arrive ({} of {})",
            fan_out.len(),
            group.len()
        );
        // Each message holds the shared channel for at least 10 ms (a tower serves 50 per
        // second; a PLC frame takes longer), so the last of the fan-out waits for the others.
        let queued = group.len() as u64 * 10_000;
        assert!(
            slowest > 2 * single && slowest > single + queued,
            "{label}: slowest of {} took {slowest} µs, one alone {single} µs",
            group.len()
        );
    }
}

/// A meter that other meters route through fails: after the repair delay its subtree finds
/// new routes locally, reaching exactly what a full re-route reaches at the same cost; when
/// it is replaced it rejoins at once. A leaf that fails disturbs nobody.
#[test]
fn a_failed_relay_meter_is_repaired_locally_like_a_full_reroute() {
    let net = generate(&parse("Area(kind: Suburban, meters: 3000)"), 4);
    let mut state = NetState::new(&net);
    let n = net.meters.len();
    let at_rest: Vec<Via> = state.paths.iter().map(|p| p.via).collect();
    let load_at_rest = state.read_load_us.clone();
    // The routed meter with the most children.
    let mut children = vec![0u32; n];
    for i in 0..n {
        let p = state.routes.parent[i] as usize;
        if state.routes.gateway[i] != NONE && p < n {
            children[p] += 1;
        }
    }
    let relay = (0..n)
        .max_by_key(|&i| (children[i], std::cmp::Reverse(i)))
        .expect("meters") as u32;
    assert!(children[relay as usize] >= 2, "a relay with children");
    let leaf = (0..n as u32)
        .find(|&i| state.paths[i as usize].via == Via::Mesh && children[i as usize] == 0)
        .expect("a routed leaf");
    let now = SimTime(1);
    assert_eq!(state.set_radio(&net, leaf, false, now), None, "a leaf needs no repair");
    assert_eq!(state.paths[leaf as usize].via, Via::Orphan(Orphan::RadioDown));
    let repair = state.set_radio(&net, relay, false, now).expect("a repair is due");
    assert!(repair > now);
    let before = state.repairs;
    state.repair(&net);
    assert_eq!(state.repairs, before + 1);
    let mut full = state.clone();
    full.reroute(&net);
    let (mut mesh, mut same_route) = (0, 0);
    for i in 0..n {
        let (a, b) = (&state.paths[i], &full.paths[i]);
        assert_eq!(a.via == Via::Mesh, b.via == Via::Mesh, "meter {i} reachable either way");
        if a.via == Via::Mesh {
            assert_eq!(state.routes.dist[i], full.routes.dist[i], "meter {i} at the same cost");
            assert_eq!(a.hops, b.hops);
            // Routes of equal cost may differ (ties between neighbours); the same route has
            // the same success.
            let chain = |s: &NetState| {
                let mut v = i as u32;
                let mut chain = vec![v];
                while (v as usize) < n {
                    v = s.routes.parent[v as usize];
                    chain.push(v);
                }
                chain
            };
            mesh += 1;
            if chain(&state) == chain(&full) {
                same_route += 1;
                assert!((a.success - b.success).abs() < 1e-5, "meter {i}");
            }
        }
    }
    assert!(same_route * 10 >= mesh * 9, "{same_route} of {mesh} on the same route");
    // Replaced: both rejoin through a routed neighbour straight away, and so does every meter
    // that was cut off behind the relay.
    for m in [relay, leaf] {
        assert_eq!(state.set_radio(&net, m, true, now), None);
        assert_eq!(state.paths[m as usize].via, Via::Mesh, "meter {m} rejoined");
    }
    for (i, (path, rest)) in state.paths.iter().zip(&at_rest).enumerate() {
        assert_eq!(
            path.via == Via::Mesh,
            *rest == Via::Mesh,
            "meter {i} is reached as at rest"
        );
    }
    // Meters that moved to another collector meanwhile stay there (they are routed), so the
    // polling load may have moved between collectors, but in total it is what it was.
    let (total, at_rest_total): (u64, u64) = (state.read_load_us.iter().sum(), load_at_rest.iter().sum());
    assert!(
        total.abs_diff(at_rest_total) <= state.read_load_us.len() as u64,
        "{total} µs of polling vs {at_rest_total} µs at rest"
    );
}
