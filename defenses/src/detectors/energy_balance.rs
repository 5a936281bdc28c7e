//! Per feeder, the energy the MDM holds against what feeder-head SCADA measured; with
//! transformer meters, also per distribution transformer against its own meter.

use amirange_sim::config::INTERVAL;
use amirange_sim::records::{AlertSubject, Severity};
use amirange_sim::time::SimTime;

use super::{Alert, Detector, INTERVALS, Look, ReadCycle, Setting, Setup, setting};
use crate::spec::DetectorKind;

/// The energy-balance detector: its thresholds and what it has learnt per feeder and
/// transformer.
#[derive(Debug)]
pub struct EnergyBalance {
    /// Largest rise of a feeder's unaccounted share over its learnt losses.
    gap: f64,
    /// Intervals in a row beyond it before the alert.
    intervals: u32,
    /// Whether distribution transformers carry their own meters.
    transformer_meters: bool,
    /// Largest unaccounted share of a transformer's energy over a read cycle.
    transformer_gap: f64,
    /// Per feeder: its usual unaccounted share (technical losses), learnt slowly.
    feeder_gap: Vec<Option<f64>>,
    /// Per feeder: intervals in a row beyond the gap.
    feeder_run: Vec<u32>,
    /// Per transformer: true and registered energy at the last read cycle, mWh.
    transformer_last: Vec<(u64, u64)>,
}

/// One feeder's energy over one interval, as the detector weighs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeederEnergy {
    /// What feeder-head SCADA measured, Wh.
    pub scada_wh: f64,
    /// What the MDM holds for the feeder's meters, Wh.
    pub reported_wh: f64,
    /// Whether the interval counts: the feeder energized, outside demand-response events.
    pub counts: bool,
}

impl EnergyBalance {
    /// An energy-balance detector with its thresholds for the world `setup` describes, having
    /// learnt nothing.
    pub fn new(
        gap: f64,
        intervals: u32,
        transformer_meters: bool,
        transformer_gap: f64,
        setup: &Setup,
    ) -> EnergyBalance {
        EnergyBalance {
            gap,
            intervals,
            transformer_meters,
            transformer_gap,
            feeder_gap: vec![None; setup.n_feeders],
            feeder_run: vec![0; setup.n_feeders],
            transformer_last: vec![(0, 0); setup.n_transformers],
        }
    }

    /// Weighs feeder `f`'s energy over one interval: the (gap, learnt gap) of an alert when
    /// the gap has now been beyond the learnt one for `intervals` intervals in a row.
    pub fn feeder_interval(&mut self, f: usize, energy: FeederEnergy) -> Option<(f64, f64)> {
        let (Some(learnt), Some(run)) = (self.feeder_gap.get_mut(f), self.feeder_run.get_mut(f)) else {
            return None;
        };
        if !energy.counts || energy.scada_wh < 1000.0 {
            *run = 0;
            return None;
        }
        let g = 1.0 - energy.reported_wh / energy.scada_wh;
        match *learnt {
            None => *learnt = Some(g),
            Some(base) if (g - base).abs() > self.gap => {
                *run += 1;
                if *run == self.intervals {
                    return Some((g, base));
                }
            }
            Some(base) => {
                *run = 0;
                *learnt = Some(base + 0.05 * (g - base));
            }
        }
        None
    }

    /// The alert about feeder `f` with `gap` unaccounted against `base` usually, at `end`.
    fn feeder_alert(end: SimTime, f: usize, gap: f64, base: f64) -> Alert {
        Alert::once(
            end,
            Self::KIND,
            Severity::Medium,
            AlertSubject::Feeder(f as u32),
            format!(
                "feeder {f}: {:.1}% of the energy SCADA measured is unaccounted for, against {:.1}% usually",
                gap * 100.0,
                base * 100.0
            ),
        )
    }

    /// Weighs the transformers' meters at a read cycle's `end`: `now` holds each one's true
    /// and registered energy so far, mWh. An alert per transformer through which at least
    /// 1 kWh passed since the last cycle with too much of it unaccounted.
    pub fn transformers(&mut self, end: SimTime, now: Vec<(u64, u64)>) -> Vec<Alert> {
        let mut alerts = Vec::new();
        for (t, &(tru, reg)) in now.iter().enumerate() {
            let (t0, r0) = self.transformer_last.get(t).copied().unwrap_or((0, 0));
            let (dt, dr) = (tru.saturating_sub(t0), reg.saturating_sub(r0));
            if dt >= 1_000_000 && (dt as f64 - dr as f64).abs() / dt as f64 > self.transformer_gap {
                let g = 1.0 - dr as f64 / dt as f64;
                alerts.push(Alert::once(
                    end,
                    Self::KIND,
                    Severity::Medium,
                    AlertSubject::Transformer(t as u32),
                    format!(
                        "transformer {t}: its customers' meters recorded {:+.0}% against its own meter",
                        -g * 100.0
                    ),
                ));
            }
        }
        self.transformer_last = now;
        alerts
    }
}

impl Detector for EnergyBalance {
    const KIND: DetectorKind = DetectorKind::EnergyBalance;
    const TUNABLES: &'static [Setting<Self>] = &[
        setting!(gap, 0.001, 1.0, whole: false, "a share of a feeder's energy"),
        setting!(intervals, 1.0, 96.0, whole: true, INTERVALS),
        setting!(transformer_gap, 0.001, 1.0, whole: false, "a share of a transformer's energy"),
    ];

    /// Feeders over the cycle's intervals, then transformers over the cycle.
    fn read_cycle_closed(&mut self, look: &Look<'_>, cycle: &ReadCycle, alerts: &mut Vec<Alert>) {
        let sim = look.sim;
        let records = sim.records();
        let grid = sim.grid();
        let nf = sim.network().feeders.len();
        let mut hits = Vec::new();
        for s in cycle.first..=cycle.last {
            let excused = look.context.in_demand_response(
                SimTime(s as u64 * INTERVAL.as_micros()),
                SimTime((s as u64 + 1) * INTERVAL.as_micros()),
            );
            for f in 0..nf {
                let energy = FeederEnergy {
                    // kW over a quarter hour, Wh.
                    scada_wh: f64::from(records.scada_kw.get(s * nf + f).copied().unwrap_or(0.0)) * 250.0,
                    reported_wh: records.feeder_reported_wh.get(s * nf + f).copied().unwrap_or(0) as f64,
                    counts: grid.feeders[f].energized && !excused,
                };
                if let Some((g, base)) = self.feeder_interval(f, energy) {
                    hits.push((f, g, base));
                }
            }
        }
        alerts.extend(
            hits.into_iter()
                .map(|(f, g, base)| Self::feeder_alert(cycle.end, f, g, base)),
        );
        if self.transformer_meters {
            let now = records
                .transformer_mwh
                .iter()
                .map(|t| (t.true_mwh, t.registered_mwh))
                .collect();
            alerts.extend(self.transformers(cycle.end, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use amirange_sim::time::SimDuration;

    use super::*;
    use crate::detectors::Running;

    const END: SimTime = SimTime(3_600_000_000);

    fn detector() -> EnergyBalance {
        let setup = Setup {
            n_meters: 10,
            n_feeders: 2,
            n_transformers: 2,
            nominal_hz: 50.0,
            command_window: SimDuration::from_hours(1),
        };
        EnergyBalance::new(0.08, 2, true, 0.15, &setup)
    }

    fn energy(reported_wh: f64) -> FeederEnergy {
        FeederEnergy {
            scada_wh: 10_000.0,
            reported_wh,
            counts: true,
        }
    }

    #[test]
    fn raises_once_a_feeder_stays_beyond_its_learnt_losses() {
        let mut d = detector();
        assert_eq!(d.feeder_interval(0, energy(9_500.0)), None, "5% losses learnt");
        assert_eq!(d.feeder_interval(0, energy(9_400.0)), None, "within 8 points");
        assert_eq!(d.feeder_interval(0, energy(8_000.0)), None, "one interval beyond");
        let (g, base) = d.feeder_interval(0, energy(8_000.0)).expect("two in a row");
        assert!((g - 0.2).abs() < 1e-9 && base < 0.06, "{g} {base}");
        assert_eq!(d.feeder_interval(0, energy(8_000.0)), None, "raised once per run");
        let alert = EnergyBalance::feeder_alert(END, 0, g, base);
        assert_eq!(alert.subject, AlertSubject::Feeder(0));
    }

    #[test]
    fn stays_quiet_on_small_or_excused_intervals() {
        let mut d = detector();
        assert_eq!(d.feeder_interval(1, energy(9_500.0)), None);
        for _ in 0..3 {
            let excused = FeederEnergy {
                counts: false,
                ..energy(5_000.0)
            };
            assert_eq!(d.feeder_interval(1, excused), None);
            let small = FeederEnergy {
                scada_wh: 900.0,
                reported_wh: 0.0,
                counts: true,
            };
            assert_eq!(d.feeder_interval(1, small), None);
        }
        assert_eq!(d.feeder_interval(7, energy(0.0)), None, "no such feeder");
    }

    #[test]
    fn raises_on_a_transformer_whose_meters_record_too_little() {
        let mut d = detector();
        // Transformer 0: 2 kWh through it, 1 kWh registered; transformer 1: 0.5 kWh, none.
        let alerts = d.transformers(END, vec![(2_000_000, 1_000_000), (500_000, 0)]);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].subject, AlertSubject::Transformer(0));
        assert!(alerts[0].message.contains("-50%"), "{}", alerts[0].message);
        // The next cycle weighs only what passed since: 1 kWh, all registered.
        assert!(
            d.transformers(END, vec![(3_000_000, 2_000_000), (600_000, 0)])
                .is_empty()
        );
    }

    #[test]
    fn its_thresholds_are_tunable_within_their_ranges_only() {
        let mut d = detector();
        d.set_threshold("transformer_gap", 0.9).expect("a share");
        assert!(d.transformers(END, vec![(2_000_000, 1_000_000)]).is_empty());
        for (field, value) in [("gap", 0.0), ("intervals", 0.0), ("transformer_gap", 2.0)] {
            assert!(d.set_threshold(field, value).is_err(), "{field} = {value}");
        }
        assert!(
            d.set_threshold("transformer_meters", 1.0).is_err(),
            "a switch, not a threshold"
        );
    }
}
