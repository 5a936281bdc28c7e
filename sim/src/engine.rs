//! The steppable engine: a bevy_ecs world, the data-plane schedule that runs once per interval,
//! and the control-plane calendar of inputs.
//!
//! ```text
//!            schedule(t, input)                      step_until(t)
//!   batch runner / live range ─────────► EventCalendar ─────────► apply inputs in (time, seq)
//!                                                       │ order; at every interval end
//!                                                       └──────► run the data-plane schedule
//! ```
//!
//! Ordering contract: an interval `[a, b)` closes at `b` after every input with time `< b` has
//! been applied; inputs at exactly `b` belong to the next interval. Inputs at the same instant
//! apply in the order they were scheduled.

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use rand_distr::{Distribution, StandardNormal};

use crate::calendar::EventCalendar;
use crate::config::{ConfigError, INTERVAL, SimConfig};
use crate::dataplane::{CycleState, ProfileTable, SamplingTables, TickClock, interval_system};
use crate::model::{CustomerClass, GridPlace, LoadProfileMemory, MdmRecord, Meter, MeterIdx, Premise, Relay};
use crate::network::{Fate, Interference, NetState, Network, NetworkError};
use crate::records::{AlertRecord, MessageRecord, RunCounters, RunRecords, TruthRecord};
use crate::rng::{Purpose, Stream};
use crate::time::SimTime;

/// An input to the engine: something scheduled from outside (a scenario script, an attacker, a
/// player in the live range) to happen at a simulated time.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Input {
    /// Operate a meter's remote-disconnect relay.
    SetRelay {
        /// The meter.
        meter: u32,
        /// The new relay position.
        relay: Relay,
    },
    /// Record ground truth (an attack step or an injected event) at this time.
    Truth(TruthRecord),
    /// Raise an alert at this time.
    Alert(AlertRecord),
    /// The HES sends a message to a meter; it travels its path and arrives later (or is lost).
    Send {
        /// The meter.
        meter: u32,
        /// What is sent.
        message: Message,
    },
    /// Take a meter's radio or modem down, or bring it back (the mesh re-forms around it).
    Radio {
        /// The meter.
        meter: u32,
        /// Whether it works.
        up: bool,
    },
}

/// A message from the HES to a meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// Size on the wire, bytes (a command is tens of bytes, a firmware image hundreds of KB).
    pub bytes: u32,
    /// What the meter does when it arrives.
    pub action: Action,
}

/// What a meter does with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing the engine models (data, an on-demand read request, a firmware block).
    None,
    /// Operate the remote-disconnect relay.
    SetRelay(Relay),
}

/// Engine-internal events on the calendar, beside the inputs from outside.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Input(Input),
    Deliver { meter: u32, action: Action },
    Interference { id: usize, on: bool },
    RouteRepair,
}

/// Errors the engine returns to its driver. Things that happen inside the simulated world are
/// state and records, never errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The configuration is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The network is inconsistent or out of range.
    #[error("invalid network: {0}")]
    Network(#[from] NetworkError),
    /// An interference area is out of range.
    #[error("invalid interference: {0}")]
    Interference(String),
    /// An input was scheduled before the present.
    #[error("cannot schedule an input at {at:?}: the simulation is already at {now:?}")]
    InThePast {
        /// Requested time.
        at: SimTime,
        /// Current time.
        now: SimTime,
    },
    /// An input names a meter that does not exist.
    #[error("input names meter {meter}, but there are only {n_meters}")]
    UnknownMeter {
        /// Meter index.
        meter: u32,
        /// How many meters exist.
        n_meters: usize,
    },
    /// Stepping past the prepared horizon.
    #[error("cannot step to {to:?}: the run was prepared up to {horizon:?}")]
    BeyondHorizon {
        /// Requested time.
        to: SimTime,
        /// The horizon.
        horizon: SimTime,
    },
}

/// Meter entities by dense index.
#[derive(Resource, Debug, Default)]
struct MeterDirectory(Vec<Entity>);

/// The simulation: a world of meters, collectors, HES and MDM, stepped through time.
pub struct Sim {
    world: World,
    data_plane: Schedule,
    calendar: EventCalendar<Event>,
    next_message: u64,
    now: SimTime,
    /// The next interval to close.
    next_slot: u32,
    /// The first slot of the read cycle in progress.
    cycle_first: u32,
    events_in_interval: u64,
    alerts_in_interval: u64,
    horizon: SimTime,
    read_cycle_intervals: u32,
}

impl Sim {
    /// Builds the world: draws every premise's annual consumption and routine from the seed,
    /// spawns the meters in batches, and forms the network's routes.
    pub fn new(config: SimConfig, network: Network) -> Result<Sim, SimError> {
        config.check()?;
        network.check()?;
        // The engine parallelises over the global compute pool; a driver that wants a given
        // thread count initialises it first (see `amirange run --threads`).
        bevy_tasks::ComputeTaskPool::get_or_init(bevy_tasks::TaskPool::default);
        let mut world = World::new();
        let mut counters = RunCounters::default();
        let mut directory = Vec::with_capacity(network.meters.len());
        let seed = config.seed;
        let classes = config.classes;
        let mut batch = Vec::with_capacity(65_536);
        for (idx, site) in (0u32..).zip(&network.meters) {
            let premise = draw_premise(seed, idx, site.class, &classes[site.class.index()]);
            counters.meters_by_class[site.class.index()] += 1;
            counters.meters_by_link[site.link.index()] += 1;
            counters.annual_wh_by_class[site.class.index()] += (f64::from(premise.annual_kwh) * 1000.0).round() as u64;
            batch.push((
                MeterIdx(idx),
                premise,
                Meter {
                    register_wh: 0.0,
                    relay: Relay::Closed,
                    open_us_in_interval: 0,
                    relay_changed_at_us: 0,
                },
                LoadProfileMemory {
                    wh: [0; crate::model::LOAD_PROFILE_DEPTH],
                    recorded_until: 0,
                    register_reading_wh: 0,
                },
                GridPlace {
                    feeder: network.transformers[site.transformer as usize].feeder,
                },
                MdmRecord::default(),
            ));
            if batch.len() == batch.capacity() {
                directory.extend(world.spawn_batch(batch.drain(..)));
            }
        }
        directory.extend(world.spawn_batch(batch.drain(..)));
        let horizon = SimTime(config.horizon.as_micros());
        let read_cycle_intervals = config.read_cycle_intervals;
        world.insert_resource(ProfileTable::build(&config));
        world.insert_resource(SamplingTables::build(&config, &network));
        world.insert_resource(config);
        world.insert_resource(NetState::new(&network));
        world.insert_resource(network);
        world.insert_resource(CycleState::default());
        world.insert_resource(TickClock::default());
        world.insert_resource(RunRecords::default());
        world.insert_resource(counters);
        world.insert_resource(MeterDirectory(directory));
        let mut data_plane = Schedule::default();
        data_plane.set_executor(SingleThreadedExecutor::new());
        data_plane.add_systems(interval_system);
        Ok(Sim {
            world,
            data_plane,
            calendar: EventCalendar::new(),
            next_message: 0,
            now: SimTime::ZERO,
            next_slot: 0,
            cycle_first: 0,
            events_in_interval: 0,
            alerts_in_interval: 0,
            horizon,
            read_cycle_intervals,
        })
    }

    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// The end of the prepared horizon.
    pub fn horizon(&self) -> SimTime {
        self.horizon
    }

    /// Number of meters.
    pub fn n_meters(&self) -> usize {
        self.world.resource::<MeterDirectory>().0.len()
    }

    /// Schedules `input` at `at` (which may equal the present, not precede it).
    pub fn schedule(&mut self, at: SimTime, input: Input) -> Result<u64, SimError> {
        if at < self.now {
            return Err(SimError::InThePast { at, now: self.now });
        }
        if let Input::SetRelay { meter, .. } | Input::Send { meter, .. } | Input::Radio { meter, .. } = &input {
            let n_meters = self.n_meters();
            if *meter as usize >= n_meters {
                return Err(SimError::UnknownMeter {
                    meter: *meter,
                    n_meters,
                });
            }
        }
        Ok(self.calendar.insert(at, Event::Input(input)))
    }

    /// Places an area of radio interference (a jammer): it switches on at `area.start` and off
    /// at `area.end`. Returns its id.
    pub fn add_interference(&mut self, area: Interference) -> Result<usize, SimError> {
        if area.start < self.now {
            return Err(SimError::InThePast {
                at: area.start,
                now: self.now,
            });
        }
        if area.end <= area.start {
            return Err(SimError::Interference("must end after it starts".into()));
        }
        if !(area.radius_m.is_finite() && area.radius_m > 0.0) {
            return Err(SimError::Interference(format!(
                "radius must be a positive number of metres, not {}",
                area.radius_m
            )));
        }
        if !(0.0..=1.0).contains(&area.strength) {
            return Err(SimError::Interference(format!(
                "strength must be between 0 and 1, not {}",
                area.strength
            )));
        }
        let mut state = self.world.resource_mut::<NetState>();
        let id = state.interference.len();
        state.interference.push((area, false));
        self.calendar.insert(area.start, Event::Interference { id, on: true });
        self.calendar.insert(area.end, Event::Interference { id, on: false });
        Ok(id)
    }

    /// Advances the simulation to `to`: applies every input before it in (time, sequence) order
    /// and closes every interval that ends at or before it.
    pub fn step_until(&mut self, to: SimTime) -> Result<(), SimError> {
        if to > self.horizon {
            return Err(SimError::BeyondHorizon {
                to,
                horizon: self.horizon,
            });
        }
        loop {
            let interval_end = SimTime(u64::from(self.next_slot + 1) * INTERVAL.as_micros());
            if interval_end > to {
                break;
            }
            self.apply_inputs_before(interval_end);
            self.now = interval_end;
            self.close_interval();
        }
        // Inputs up to and including `to` (the interval in progress).
        self.apply_inputs_before(SimTime(to.0.saturating_add(1)));
        self.now = self.now.max(to);
        Ok(())
    }

    /// Runs to the end of the horizon.
    pub fn run_to_end(&mut self) -> Result<(), SimError> {
        self.step_until(self.horizon)
    }

    fn apply_inputs_before(&mut self, limit: SimTime) {
        while let Some(entry) = self.calendar.pop_before(limit) {
            self.now = entry.time;
            self.apply(entry.time, entry.payload);
        }
    }

    fn apply(&mut self, at: SimTime, event: Event) {
        self.events_in_interval += 1;
        let input = match event {
            Event::Input(input) => input,
            Event::Deliver { meter, action } => {
                if let Action::SetRelay(relay) = action {
                    self.set_relay(at, meter, relay);
                }
                return;
            }
            Event::Interference { id, on } => {
                self.world.resource_scope(|world, mut state: Mut<NetState>| {
                    let net = world.resource::<Network>();
                    if let Some(repair) = state.set_interference(net, id, on, at) {
                        self.calendar.insert(repair, Event::RouteRepair);
                    }
                });
                return;
            }
            Event::RouteRepair => {
                self.world.resource_scope(|world, mut state: Mut<NetState>| {
                    state.repair(world.resource::<Network>());
                });
                return;
            }
        };
        match input {
            Input::Send { meter, message } => {
                let id = self.next_message;
                self.next_message += 1;
                let seed = self.world.resource::<SimConfig>().seed;
                let mut stream = Stream::new(seed, Purpose::Message, id, 0);
                let fate = self.world.resource_scope(|world, mut state: Mut<NetState>| {
                    state.transmit(world.resource::<Network>(), meter, message.bytes, at, &mut stream)
                });
                if let Fate::Delivered { at: arrival, .. } = fate {
                    self.calendar.insert(
                        arrival,
                        Event::Deliver {
                            meter,
                            action: message.action,
                        },
                    );
                }
                self.world.resource_mut::<RunRecords>().messages.push(MessageRecord {
                    id,
                    meter,
                    bytes: message.bytes,
                    sent: at,
                    fate,
                });
            }
            Input::Radio { meter, up } => {
                self.world.resource_scope(|world, mut state: Mut<NetState>| {
                    let net = world.resource::<Network>();
                    if let Some(repair) = state.set_radio(net, meter, up, at) {
                        self.calendar.insert(repair, Event::RouteRepair);
                    }
                });
            }
            Input::SetRelay { meter, relay } => self.set_relay(at, meter, relay),
            Input::Truth(record) => self.world.resource_mut::<RunRecords>().truth.push(record),
            Input::Alert(record) => {
                self.alerts_in_interval += 1;
                self.world.resource_mut::<RunRecords>().alerts.push(record);
            }
        }
    }

    fn set_relay(&mut self, at: SimTime, meter: u32, relay: Relay) {
        let interval_start = u64::from(self.next_slot) * INTERVAL.as_micros();
        let offset = (at.0 - interval_start).min(INTERVAL.as_micros()) as u32;
        let Some(&entity) = self.world.resource::<MeterDirectory>().0.get(meter as usize) else {
            return;
        };
        if let Some(mut m) = self.world.get_mut::<Meter>(entity)
            && m.relay != relay
        {
            if m.relay == Relay::Open {
                m.open_us_in_interval += offset - m.relay_changed_at_us;
            }
            m.relay = relay;
            m.relay_changed_at_us = offset;
        }
    }

    fn close_interval(&mut self) {
        let slot = self.next_slot;
        let last_slot = self.horizon.0 / INTERVAL.as_micros() - 1;
        let cycle_closes = (slot + 1 - self.cycle_first) >= self.read_cycle_intervals || u64::from(slot) == last_slot;
        let cycle_first_slot = cycle_closes.then_some(self.cycle_first);
        *self.world.resource_mut::<TickClock>() = TickClock {
            slot,
            cycle_first_slot,
            events: self.events_in_interval,
            alerts: self.alerts_in_interval,
        };
        self.world.resource_mut::<RunCounters>().events += self.events_in_interval;
        self.events_in_interval = 0;
        self.alerts_in_interval = 0;
        self.data_plane.run(&mut self.world);
        if cycle_closes {
            self.cycle_first = slot + 1;
        }
        self.next_slot += 1;
    }

    /// The records of the run so far: interval rows, ground truth, alerts.
    pub fn records(&self) -> &RunRecords {
        self.world.resource::<RunRecords>()
    }

    /// Run-wide counters so far.
    pub fn counters(&self) -> &RunCounters {
        self.world.resource::<RunCounters>()
    }

    /// The premise of meter `meter`, if it exists.
    pub fn premise(&self, meter: u32) -> Option<Premise> {
        let entity = *self.world.resource::<MeterDirectory>().0.get(meter as usize)?;
        self.world.get::<Premise>(entity).copied()
    }

    /// The state of meter `meter`, if it exists.
    pub fn meter(&self, meter: u32) -> Option<Meter> {
        let entity = *self.world.resource::<MeterDirectory>().0.get(meter as usize)?;
        self.world.get::<Meter>(entity).copied()
    }

    /// Mutable access to a meter's load-profile memory (for tests and, later, tamper attacks
    /// that act through `sim`'s API).
    pub fn load_profile_memory_mut(&mut self, meter: u32) -> Option<Mut<'_, LoadProfileMemory>> {
        let entity = *self.world.resource::<MeterDirectory>().0.get(meter as usize)?;
        self.world.get_mut::<LoadProfileMemory>(entity)
    }

    /// The grid and network as built.
    pub fn network(&self) -> &Network {
        self.world.resource::<Network>()
    }

    /// What the network is doing now: routes, paths, radio conditions.
    pub fn net_state(&self) -> &NetState {
        self.world.resource::<NetState>()
    }

    /// Approximate bytes of world state per meter (component tables and entity bookkeeping,
    /// plus the network's structure and state: sites, graph, routes, paths), for benchmarks.
    pub fn bytes_per_meter(&self) -> usize {
        use std::mem::size_of;
        let n = self.n_meters().max(1);
        (self.network().heap_bytes() + self.net_state().heap_bytes()) / n
            + size_of::<MeterIdx>()
            + size_of::<Premise>()
            + size_of::<Meter>()
            + size_of::<LoadProfileMemory>()
            + size_of::<GridPlace>()
            + size_of::<MdmRecord>()
            + size_of::<Entity>() * 2
    }
}

/// Draws a premise's annual consumption (mean-preserving log-normal around the class mean) and
/// its routine shift, from the premise's own stream.
pub(crate) fn draw_premise(
    seed: u64,
    idx: u32,
    class: CustomerClass,
    params: &crate::model::ClassConsumption,
) -> Premise {
    let mut stream = Stream::new(seed, Purpose::PremiseProfile, u64::from(idx), 0);
    let z: f64 = StandardNormal.sample(&mut stream);
    let sigma = params.annual_sigma;
    let annual = params.mean_annual_kwh * (sigma * z - 0.5 * sigma * sigma).exp();
    let span = u64::from(params.max_shift_slots) * 2 + 1;
    let shift = stream.below(span) as i64 - i64::from(params.max_shift_slots);
    Premise {
        class,
        shift_slots: shift as i8,
        annual_kwh: annual as f32,
    }
}
