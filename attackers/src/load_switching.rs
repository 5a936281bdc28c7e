//! Coordinated load switching by a botnet of home-area devices.
//!
//! The attacker controls devices behind customers' meters (EV chargers, heat pumps, PV
//! inverters) through a flaw common to one vendor's fleet or its cloud: `infected` is the share
//! of targeted premises that own such a device, drawn from the seed. At `at` it switches every
//! infected device on at once for `on_for` (an inverter is switched off, which adds the output
//! it was feeding in to the premise's net load), then off for `off_for`, `cycles` times. The
//! premises' meters record the load like any other; the bulk system sees each switch as a
//! sudden load step, and its frequency falls (or rises) by the engine's frequency model, down to
//! under-frequency load shedding, which opens feeders in the simulated area.

use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::model::Cause;
use amirange_sim::rng::{Purpose, Stream};
use amirange_sim::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

use crate::tags::{Stride, Tags, Technique};
use crate::targets::{STREAM_SHARE, Targets};
use crate::when::{self, When};
use crate::{Attack, Context, FieldError, Outcome, truth};

/// Tags: manipulation of the load the grid must balance.
pub const TAGS: Tags = Tags {
    kind: "load-switching",
    nescor: &[],
    stride: Stride::DenialOfService,
    technique: Technique::MANIPULATION_OF_CONTROL,
    related: &[
        Technique::INTERNET_ACCESSIBLE_DEVICE,
        Technique::BRUTE_FORCE_I_O,
        Technique::LOSS_OF_AVAILABILITY,
    ],
};

/// The kind of device the botnet is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
pub enum Device {
    /// A wallbox charging an electric vehicle: 7.4 kW (single-phase 32 A).
    EvCharger,
    /// A heat pump's compressor with its backup heater: 3 kW.
    HeatPump,
    /// A rooftop PV inverter switched off while feeding in: 4 kW more net load.
    Inverter,
}

impl Device {
    /// The load one device switches, kW, unless the scenario says otherwise.
    pub fn default_kw(self) -> f32 {
        match self {
            Device::EvCharger => 7.4,
            Device::HeatPump => 3.0,
            Device::Inverter => 4.0,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Device::EvCharger => "EV chargers",
            Device::HeatPump => "heat pumps",
            Device::Inverter => "PV inverters",
        }
    }
}

crate::attack_spec! {
    /// A load-switching botnet as the scenario writes it.
    pub struct Spec {
        /// The premises whose devices the botnet may hold.
        pub targets: Targets,
        /// `EvCharger` (7.4 kW, a single-phase 32 A wallbox), `HeatPump` (3 kW, compressor and backup heater) or
        /// `Inverter` (4 kW, a rooftop PV inverter switched off while feeding in).
        pub device: Device,
        /// Share of targeted premises with an infected device, drawn per premise from the seed: above 0, at most 1.
        pub infected: f64,
        /// Load one device switches, kW: above 0, at most 1,000.
        ///
        /// Default: by `device`.
        #[serde(default)]
        pub kw: Option<f32>,
        /// How long the devices stay switched each cycle: at least 1s (cut at the end of the run).
        pub on_for: String,
        /// Pause between cycles.
        ///
        /// Default: `on_for`.
        #[serde(default)]
        pub off_for: Option<String>,
        /// How many times to switch: 1 to 1,000 (a cycle that would start at or after the end of the run is not made).
        ///
        /// Default: `1`.
        #[serde(default)]
        pub cycles: Option<u32>,
    }
}

impl Spec {
    /// Validates the spec against the scenario.
    pub fn check(&self, index: u8, ctx: &Context) -> Result<LoadSwitching, FieldError> {
        let at = when::parse(&self.header.at, ctx.start, ctx.horizon).map_err(|e| FieldError::new("at", e))?;
        self.targets.check().map_err(|e| FieldError::new("targets", e))?;
        let infected = crate::access::probability("infected", self.infected)?;
        if infected == 0.0 {
            return Err(FieldError::new(
                "infected",
                "a botnet needs some infected devices: above 0",
            ));
        }
        let kw = self.kw.unwrap_or(self.device.default_kw());
        if !(kw.is_finite() && kw > 0.0 && kw <= 1000.0) {
            return Err(FieldError::new(
                "kw",
                format!("must be above 0 and at most 1000 kW, not {kw}"),
            ));
        }
        let on_for = when::duration("on_for", &self.on_for, ctx.horizon)?;
        if on_for < SimDuration::from_secs(1) {
            return Err(FieldError::new("on_for", "at least 1s"));
        }
        let off_for = match &self.off_for {
            Some(text) => when::duration("off_for", text, ctx.horizon)?,
            None => on_for,
        };
        let cycles = self.cycles.unwrap_or(1);
        if !(1..=1000).contains(&cycles) {
            return Err(FieldError::new("cycles", format!("must be 1 to 1000, not {cycles}")));
        }
        Ok(LoadSwitching {
            spec: self.clone(),
            k: index,
            at,
            kw,
            on_for,
            off_for,
            cycles,
            start: SimTime::ZERO,
            bots: Vec::new(),
            done: 0,
            wake: None,
        })
    }
}

/// A load-switching botnet at run time.
#[derive(Debug)]
pub struct LoadSwitching {
    spec: Spec,
    k: u8,
    at: When,
    kw: f32,
    on_for: SimDuration,
    off_for: SimDuration,
    cycles: u32,
    start: SimTime,
    /// Meters whose premise holds an infected device, ascending.
    bots: Vec<u32>,
    /// Cycles switched so far.
    done: u32,
    wake: Option<SimTime>,
}

impl LoadSwitching {
    /// The frequency disturbances this attack caused (by the largest share of their steps).
    fn disturbances<'a>(&self, sim: &'a Sim) -> impl Iterator<Item = &'a amirange_sim::frequency::FrequencyEvent> {
        let code = Cause::Attack(self.k).code();
        sim.frequency().events.iter().filter(move |e| e.cause == code)
    }
}

impl Attack for LoadSwitching {
    fn prepare(&mut self, sim: &mut Sim) -> Result<(), FieldError> {
        let mut targets = self.spec.targets.meters(sim, self.k, "targets")?;
        let seed = sim.config().seed;
        // Where the scenario gives premises this kind of device (a share above 0 for some
        // class), only the premises that own one can be infected; otherwise every target is
        // taken to own one.
        let (flag, share): (u8, fn(&amirange_sim::model::ClassConsumption) -> f64) = match self.spec.device {
            Device::EvCharger => (amirange_sim::devices::EV_CHARGER, |c| c.ev_share),
            Device::HeatPump => (amirange_sim::devices::HEAT_PUMP, |c| c.heat_pump_share),
            Device::Inverter => (amirange_sim::devices::PV, |c| c.pv_share),
        };
        if sim.config().classes.iter().any(|c| share(c) > 0.0) {
            targets.retain(|&m| sim.premise(m).is_some_and(|p| p.devices & flag != 0));
        }
        // Which premises own an infected device: a draw per meter, in a slot range of its own
        // (the target share uses STREAM_SHARE's low half).
        let slot = STREAM_SHARE | (1 << 40);
        self.bots = targets
            .into_iter()
            .filter(|&m| {
                Stream::new(seed, Purpose::Attack, u64::from(self.k), slot | u64::from(m)).bernoulli(self.spec.infected)
            })
            .collect();
        self.start = self.at.resolve(sim);
        self.wake = Some(self.start);
        Ok(())
    }

    fn next_wake(&self) -> Option<SimTime> {
        self.wake
    }

    fn wake(&mut self, sim: &mut Sim) -> Result<(), SimError> {
        let now = sim.now();
        if self.done == 0 {
            truth(
                sim,
                now,
                &self.spec.header.id,
                "botnet",
                format!(
                    "{} {} under the attacker's control (T0883)",
                    self.bots.len(),
                    self.spec.device.name()
                ),
                self.bots.clone(),
            );
        }
        self.done += 1;
        let until = SimTime((now.0 + self.on_for.as_micros()).min(sim.horizon().0));
        if !self.bots.is_empty() {
            for &meter in &self.bots {
                sim.schedule(
                    now,
                    Input::SwitchLoad {
                        meter,
                        kw: self.kw,
                        until,
                        cause: Cause::Attack(self.k),
                    },
                )?;
            }
            let mw = f64::from(self.kw) * self.bots.len() as f64 / 1000.0;
            truth(
                sim,
                now,
                &self.spec.header.id,
                "switch",
                format!(
                    "cycle {}: {} {} switched at once, {mw:.1} MW for {} (T0831)",
                    self.done,
                    self.bots.len(),
                    self.spec.device.name(),
                    self.on_for
                ),
                self.bots.clone(),
            );
        }
        let next = SimTime(until.0 + self.off_for.as_micros());
        self.wake = (self.done < self.cycles && !self.bots.is_empty() && next < sim.horizon()).then_some(next);
        Ok(())
    }

    fn finish(&mut self, sim: &mut Sim) {
        let shed: Vec<(SimTime, f64, f64, Vec<u8>)> = self
            .disturbances(sim)
            .filter(|e| e.shed_mw > 0.0)
            .map(|e| (e.start, e.nadir_hz, e.shed_mw, e.stages.clone()))
            .collect();
        for (start, nadir, mw, stages) in shed {
            truth(
                sim,
                start,
                &self.spec.header.id,
                "load-shed",
                format!(
                    "frequency fell to {nadir:.3} Hz; under-frequency relays shed {mw:.0} MW in {} stage(s) (T0826)",
                    stages.len()
                ),
                Vec::new(),
            );
        }
    }

    fn report(&self, sim: &Sim) -> Outcome {
        let nominal = sim.config().frequency.nominal_hz;
        let worst = self
            .disturbances(sim)
            .map(|e| (e.nadir_hz, e.peak_hz, e.shed_mw))
            .fold((nominal, nominal, 0.0f64), |a, e| {
                (a.0.min(e.0), a.1.max(e.1), a.2 + e.2)
            });
        let failure_reason = if self.done == 0 {
            Some("the botnet had not switched when the run ended".to_owned())
        } else if self.bots.is_empty() {
            Some("no targeted premise held an infected device".to_owned())
        } else {
            None
        };
        let outcome = match failure_reason {
            None => Ok(format!(
                "switched {} {} ({:.1} MW) {} time(s); frequency {:.3} to {:.3} Hz, {:.0} MW shed by UFLS",
                self.bots.len(),
                self.spec.device.name(),
                f64::from(self.kw) * self.bots.len() as f64 / 1000.0,
                self.done,
                worst.0,
                worst.1,
                worst.2
            )),
            Some(why) => Err(why),
        };
        Outcome::new(self.start, self.bots.len() as u64, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttackSpec;
    use crate::testing::{check, header, run, run_in, sim_with};

    fn spec(targets: Targets, infected: f64, cycles: Option<u32>) -> Spec {
        Spec {
            header: header("botnet", "0d 01:00"),
            targets,
            device: Device::EvCharger,
            infected,
            kw: None,
            on_for: "15m".into(),
            off_for: None,
            cycles,
        }
    }

    #[test]
    fn a_botnet_refuses_no_infection_bad_loads_short_switches_and_cycle_counts() {
        let field = |spec: Spec| check(&AttackSpec::LoadSwitching(spec)).map_err(|e| e.field);
        assert_eq!(field(spec(Targets::All, 0.0, None)), Err("infected".into()));
        assert_eq!(field(spec(Targets::All, 1.5, None)), Err("infected".into()));
        assert_eq!(field(spec(Targets::All, 0.5, Some(0))), Err("cycles".into()));
        assert_eq!(field(spec(Targets::All, 0.5, Some(1001))), Err("cycles".into()));
        assert_eq!(field(spec(Targets::Share(0.0), 0.5, None)), Err("targets".into()));
        let mut huge = spec(Targets::All, 0.5, None);
        huge.kw = Some(2_000.0);
        assert_eq!(field(huge), Err("kw".into()));
        let mut blink = spec(Targets::All, 0.5, None);
        blink.on_for = "500ms".into();
        assert_eq!(field(blink), Err("on_for".into()));
        assert_eq!(field(spec(Targets::All, 0.5, Some(3))), Ok(()));
    }

    /// A world of 20 meters in an interconnection of 10 GW, which 0.15 MW does not move.
    fn stiff_system() -> Sim {
        sim_with(20, |config| config.frequency.system_mw = Some(10_000.0))
    }

    #[test]
    fn every_infected_charger_switches_on_at_once_each_cycle() {
        // Two cycles of 15 minutes on, 15 off: 01:00 and 01:30.
        let botnet = AttackSpec::LoadSwitching(spec(Targets::All, 1.0, Some(2)));
        let (attacked, report) = run_in(botnet, stiff_system());
        assert!(report.succeeded, "{report:?}");
        assert_eq!(report.meters_targeted, 20);
        assert!(
            report
                .summary
                .starts_with("switched 20 EV chargers (0.1 MW) 2 time(s); frequency "),
            "{}",
            report.summary
        );
        assert!(
            report
                .summary
                .ends_with("frequency 50.000 to 50.000 Hz, 0 MW shed by UFLS"),
            "{}",
            report.summary
        );
        let steps: Vec<(&str, u64, usize)> = attacked
            .records()
            .truth
            .iter()
            .map(|t| (t.kind.as_str(), t.time.0 / 60_000_000, t.meters.len()))
            .collect();
        assert_eq!(steps, [("botnet", 60, 20), ("switch", 60, 20), ("switch", 90, 20)]);
        // Against the same world left alone (the same draws), the chargers add energy in the
        // two quarter-hours they are on, the same in each, and none before, between or after.
        let mut quiet = stiff_system();
        let end = quiet.horizon();
        quiet.step_until(end).expect("runs");
        let extra_mwh: Vec<i64> = (attacked.records().intervals.iter())
            .zip(quiet.records().intervals.iter())
            .map(|(a, q)| a.true_mwh as i64 - q.true_mwh as i64)
            .collect();
        // 20 chargers of 7.4 kW for a quarter-hour: 37 kWh (to a few mWh of rounding).
        for (slot, extra) in extra_mwh.iter().enumerate() {
            let expected = if slot == 4 || slot == 6 { 37_000_000 } else { 0 };
            assert!((extra - expected).abs() <= 20, "slot {slot}: {extra_mwh:?}");
        }
    }

    #[test]
    fn a_switch_large_for_the_system_trips_under_frequency_load_shedding() {
        // A world that is a tenth of its island system (sized from its own load), so 0.15 MW
        // of chargers is a step the reserve does not catch before 49 Hz, where UFLS stages
        // trip from the first.
        let island = sim_with(20, |config| {
            config.frequency.system_mw = None;
            config.frequency.area_share = Some(0.1);
        });
        let (sim, report) = run_in(AttackSpec::LoadSwitching(spec(Targets::All, 1.0, None)), island);
        assert!(report.succeeded, "{report:?}");
        let events = &sim.frequency().events;
        assert_eq!(events.len(), 1, "{events:?}");
        let event = &events[0];
        assert_eq!((event.cause, event.start.0 / 60_000_000), (Cause::Attack(0).code(), 60));
        assert!(event.nadir_hz < 49.0 && event.shed_mw > 0.0, "{event:?}");
        assert_eq!(event.stages.first(), Some(&0), "{event:?}");
        let shed: Vec<&str> = (sim.records().truth.iter())
            .filter(|t| t.kind == "load-shed")
            .map(|t| t.detail.as_str())
            .collect();
        assert_eq!(
            shed,
            [format!(
                "frequency fell to {:.3} Hz; under-frequency relays shed {:.0} MW in {} stage(s) (T0826)",
                event.nadir_hz,
                event.shed_mw,
                event.stages.len()
            )]
        );
        let range = format!("frequency {:.3} to {:.3} Hz", event.nadir_hz, event.peak_hz);
        assert!(report.summary.contains(&range), "{}", report.summary);
    }

    #[test]
    fn a_botnet_with_no_infected_premise_fails_and_says_so() {
        let unlucky = spec(Targets::Meters(vec![0]), 1e-9, None);
        let (sim, report) = run(AttackSpec::LoadSwitching(unlucky), 4);
        assert!(!report.succeeded);
        assert_eq!(
            report.failure_reason.as_deref(),
            Some("no targeted premise held an infected device")
        );
        assert_eq!(report.meters_targeted, 0);
        let kinds: Vec<&str> = sim.records().truth.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(kinds, ["botnet"], "no switch without a bot");
    }
}
