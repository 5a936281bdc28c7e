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
//! The order in which inputs apply, intervals close and the actors outside the engine act
//! between steps is the [ordering contract](crate::drive#ordering-contract), written once in
//! [`crate::drive`]. At each interval close the engine calls its [`IntervalObserver`]s, which
//! see it read-only.

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use rand_distr::{Distribution, StandardNormal};

use crate::calendar::EventCalendar;
use crate::config::{ConfigError, INTERVAL, SimConfig};
use crate::dataplane::{CycleState, ProfileTable, SamplingTables, TickClock, interval_system};
use crate::frequency::{Frequency, TICK_US};
use crate::grid::GridState;
use crate::hes::{AuditRecord, CommandKind, CommandRequest, Credential, Hes, Job};
use crate::mdm::{Detection, OutageRecord};
use crate::model::{
    Cause, CustomerClass, GridPlace, LoadProfileMemory, MdmRecord, Meter, MeterCondition, MeterIdx, Premise, Relay,
};
use crate::network::{
    ConnectionFloodLoad, Fate, Interference, NONE, NetState, Network, NetworkError, PlacedInterference, Via,
};
use crate::probe::Phase;
use crate::records::{AlertRecord, FieldEvent, FieldEventKind, MessageRecord, RunCounters, RunRecords, TruthRecord};
use crate::rng::{Purpose, Stream};
use crate::security::{Fleet, Payload, ReplayedFrame};
use crate::time::SimTime;
use std::collections::BTreeMap;

/// An input to the engine: something scheduled from outside (a scenario script, an attacker, a
/// player in the live range) to happen at a simulated time.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Input {
    /// Operate a meter's remote-disconnect relay directly (at the meter, not through the HES).
    SetRelay {
        /// The meter.
        meter: u32,
        /// The new relay position.
        relay: Relay,
        /// Why (what an open relay's interruption is attributed to).
        cause: Cause,
    },
    /// A request arrives at the HES: it is authenticated, authorised, audited and, when
    /// accepted, fanned out to its meters.
    Command(CommandRequest),
    /// A feeder loses its supply or gets it back.
    FeederSupply {
        /// The feeder.
        feeder: u32,
        /// Whether it is energized from now on.
        energized: bool,
        /// Why it went out (ignored when it comes back).
        cause: Cause,
    },
    /// A distribution transformer loses its own supply or gets it back (a transformer fault,
    /// or a blown fuse on the MV lateral it hangs on), whatever its feeder does.
    TransformerSupply {
        /// The transformer.
        transformer: u32,
        /// Whether it is energized from now on.
        energized: bool,
        /// Why it went out (ignored when it comes back).
        cause: Cause,
    },
    /// A meter's communication module fails (radio down, no reads, no commands) or, once
    /// replaced, works again.
    MeterFailure {
        /// The meter.
        meter: u32,
        /// Whether it is failed from now on.
        failed: bool,
    },
    /// Set a meter's tamper flags (see [`crate::security::tamper`]).
    Tamper {
        /// The meter.
        meter: u32,
        /// The flags from now on.
        flags: u8,
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
    /// A meter running `image` sends it to a mesh neighbour, meter to meter (a worm): the
    /// transfer waits for and then holds the shared channel of the sender's collector for the
    /// image's airtime (its bits over the mesh rate), delaying the read cycles and messages
    /// queued behind it, and when it ends the neighbour installs the image unless it verifies
    /// signatures and the image is unsigned. Nothing is sent if `from` no longer runs the
    /// image or either meter is down, and nothing installed if the neighbour is down by then.
    PeerFirmware {
        /// The meter that sends the image.
        from: u32,
        /// The neighbour that receives it.
        to: u32,
        /// The image (index in the repository).
        image: u16,
    },
    /// Someone with physical access flashes `image` onto a meter through its local port: it
    /// installs it unless it verifies signatures and the image is unsigned, or it is down.
    LocalFirmware {
        /// The meter.
        meter: u32,
        /// The image (index in the repository).
        image: u16,
    },
    /// A client transferred `image` to a meter over its communication link (DLMS image transfer)
    /// and activated it: the image joins the repository (an equal hash is the same image) and
    /// the meter installs it unless it verifies signatures and the image is unsigned (the
    /// refusal is logged), or it is down. A new image past the repository's 65,535 is dropped.
    TransferredFirmware {
        /// The meter.
        meter: u32,
        /// The image.
        image: Box<crate::security::FirmwareImage>,
    },
    /// Someone bypasses a meter physically: from now on its register records only
    /// `registered_share` of the true consumption (1 ends the bypass). The feeder's true load
    /// does not change; the shortfall is theft attributed to `cause`.
    Bypass {
        /// The meter.
        meter: u32,
        /// Share of the true consumption the register still records, 0 to 1.
        registered_share: f32,
        /// Who is behind it.
        cause: Cause,
    },
    /// Readings forged under meter `meter`'s own key (a clone of the meter reports in its
    /// place): from now on its reports carry `reported_share` of its true consumption, 0 to 10
    /// (1 ends the forgery). The feeder's true load does not change. The gap counts as theft
    /// when `theft` is set and the share is below 1, as falsified data otherwise.
    FalseData {
        /// The meter.
        meter: u32,
        /// Share of the true consumption its reports carry.
        reported_share: f32,
        /// Who is behind it.
        cause: Cause,
        /// Whether the customer profits (under-reporting for theft).
        theft: bool,
    },
    /// A captured relay command is transmitted again to its meter from a radio nearby (a
    /// replay): the meter acts on it unless it checks frame counters and `frame` is not above
    /// the last counter it accepted, or it is down.
    Replay {
        /// The meter.
        meter: u32,
        /// The frame counter the captured command carried.
        frame: u32,
        /// The relay position the captured command asked for.
        relay: Relay,
        /// Who replays it.
        cause: Cause,
    },
    /// A device at the premise behind a meter (an EV charger, a heat pump, an inverter) switches
    /// `kw` of load on from now until `until` (whole seconds), beyond the premise's normal
    /// pattern; it replaces any earlier switched load. The meter records it like any load; the
    /// bulk system sees the switch as a load step.
    SwitchLoad {
        /// The meter.
        meter: u32,
        /// Load switched on, kW (negative: generation, such as an inverter feeding in).
        kw: f32,
        /// When it switches off again.
        until: SimTime,
        /// Who switches it.
        cause: Cause,
    },
    /// A radio near the meter asks it to fall back to the legacy security level (a protocol
    /// downgrade): a meter that still accepts that level does, and from then on authenticates
    /// neither the network nor messages and checks no frame counters; the others refuse (and
    /// the refusal is logged). Nothing happens if the meter is down.
    Downgrade {
        /// The meter.
        meter: u32,
        /// Who asks.
        cause: Cause,
    },
    /// A rogue concentrator (or base station) goes on the air for `meters`, the radio meters in
    /// its range, with `mode` (or, with `None`, goes off, releasing every meter it held). Each
    /// meter attaches to it unless it authenticates the network (mutual authentication, and
    /// not downgraded) or is down; mesh meters routing through an attached meter follow it (a
    /// snapshot of the routes at that moment). With [`Intercept::Forge`], the attached meters
    /// get forged disconnect commands at once.
    Intercept {
        /// The meters in range.
        meters: Vec<u32>,
        /// What it does, or `None` to stop.
        mode: Option<crate::network::Intercept>,
        /// Whose it is (an attack).
        cause: Cause,
    },
    /// A connection flood against the HES's front end (`collector: None`) or one collector's
    /// backhaul endpoint starts at `connections_per_s`, or (at 0) stops. While it lasts, the
    /// collectors' uploads and the HES's commands need new connections that the flooded
    /// endpoint accepts only in the share of its capacity the flood leaves.
    ConnectionFlood {
        /// The collector whose endpoint is flooded, or `None` for the HES front end.
        collector: Option<u32>,
        /// Connection attempts per second (0 stops the flood).
        connections_per_s: f64,
        /// Source hosts the attempts come from (a botnet), spread evenly.
        sources: u32,
        /// Whose flood it is.
        cause: Cause,
    },
    /// A response: the HES revokes (or, with `revoked: false`, restores) an account's
    /// credentials; from then on its requests are refused (`revoked`), whoever presents them.
    RevokeCredential {
        /// The account's name.
        account: String,
        /// Whether it is revoked from now on.
        revoked: bool,
    },
    /// A response: the HES freezes bulk commands, refusing requests for more than `above`
    /// meters (`frozen`), or, with `None`, lifts the freeze. Requests from inside the HES go
    /// around it.
    FreezeBulk {
        /// The most meters a request may still name while frozen.
        above: Option<u32>,
    },
    /// A response: the HES is isolated from the networks (or, with `false`, comes back rebuilt
    /// from a clean image, without any attacker's foothold). While isolated it refuses every
    /// request (`isolated`); isolating it drops the jobs waiting in its send queue.
    IsolateHes {
        /// Whether it is isolated from now on.
        isolated: bool,
    },
    /// A response: a crew visits a meter and puts right what it finds: a bypass or a clone's
    /// forged readings end (the register records the true consumption again) and tamper flags
    /// are cleared.
    Inspect {
        /// The meter.
        meter: u32,
    },
    /// A response: a crew with a direction finder searches within `radius_m` of a place and
    /// switches off every radio interference (a jammer) whose centre lies there, now and for
    /// good.
    ClearInterference {
        /// Where the search centres.
        center: crate::network::Point,
        /// How far it reaches, metres.
        radius_m: f32,
    },
    /// A response: the firewall in front of the HES and collectors drops connections from
    /// outside hosts `first` to `first + count - 1` (as [`crate::records::Endpoint::Outside`]
    /// numbers them); floods from them lose their share of connections.
    BlockHosts {
        /// The first host.
        first: u32,
        /// How many.
        count: u32,
    },
    /// A network sensor sees a flow (for the flows the engine does not make itself: an
    /// attacker's session into SCADA, data copied out of the MDM).
    Flow(crate::records::FlowRecord),
    /// An attacker gains (or, with `None`, loses) a foothold on the HES itself: while it holds
    /// one, requests made with [`Credential::hes_process`] pass authentication and
    /// authorisation, as calls from inside the HES do.
    HesFoothold {
        /// The attack holding the foothold, or `None` when it is removed.
        attack: Option<u8>,
    },
}

/// A message from the HES to a meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// Size on the wire, bytes (a command is tens of bytes, a firmware image hundreds of KB).
    pub bytes: u32,
    /// Whether it goes ahead of read cycles and bulk transfers on the collector's channel
    /// (commands do; firmware images and other bulk data do not).
    pub priority: bool,
    /// What the meter does when it arrives.
    pub action: Action,
}

/// What a meter does with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing the engine models (data, an on-demand read request, a firmware block).
    None,
    /// Operate the remote-disconnect relay.
    SetRelay(Relay, Cause),
}

/// Engine-internal events on the calendar, beside the inputs from outside.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    /// Boxed: inputs are rare beside the engine's own events, and large.
    Input(Box<Input>),
    Deliver {
        meter: u32,
        action: Action,
    },
    Interference {
        id: usize,
        on: bool,
    },
    RouteRepair,
    /// A meter-to-meter image transfer ends: the receiver installs it, if it still can.
    PeerInstall {
        to: u32,
        image: u16,
    },
    /// The HES's sender sends the next queued job.
    Send,
    /// A job's message (of this attempt) has arrived and the meter executes it.
    Execute {
        job: u32,
        attempt: u8,
    },
    /// A job's acknowledgement reaches the HES.
    Ack {
        job: u32,
        attempt: u8,
    },
    /// The HES stops waiting for a job's acknowledgement.
    Timeout {
        job: u32,
        attempt: u8,
    },
    /// The first last-gasp message of an outage reaches the MDM.
    OutageDetected {
        outage: u32,
    },
    /// The bulk system's frequency model advances one tick.
    FrequencyTick,
    /// An approved request's jobs join the send queue (after the approval latency).
    Release {
        first: u32,
        count: u32,
    },
    /// A meter's extra switched load ends (if its window still ends now).
    ExtraLoadEnds {
        meter: u32,
        cause: Cause,
    },
    /// A meter's demand-response reduction ends (if its window still ends now).
    DemandResponseEnds {
        meter: u32,
        cause: Cause,
    },
    /// A UFLS stage's relays open its feeders.
    UflsTrip {
        stage: u8,
        cause: Cause,
    },
    /// Operators restore block `block` of `blocks` of the feeders a UFLS stage opened.
    UflsRestore {
        stage: u8,
        block: u8,
        blocks: u8,
    },
    /// The network sensor records the last minute of every connection flood under way.
    FloodFlows,
}

/// A connection flood under way, as the network sensor records it.
#[derive(Debug, Clone, Copy)]
struct FloodSpan {
    collector: Option<u32>,
    per_s: f64,
    sources: u32,
    code: u8,
    /// Recorded up to here.
    since: SimTime,
}

/// A range of outside hosts the firewall blocks: `first` up to, not including, `end` (as
/// [`crate::records::Endpoint::Outside`] numbers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlockedHosts {
    /// The first host blocked.
    first: u32,
    /// The first host after the range.
    end: u32,
    /// Since when.
    since: SimTime,
}

/// What a UFLS stage's last trip did: the feeders it opened (emptied once the last block is
/// restored) and the cause the trip, and the load coming back, are attributed to.
#[derive(Debug, Clone, PartialEq)]
struct UflsStageTrip {
    /// The feeders the trip opened, by index.
    feeders: Vec<u32>,
    /// The trip's cause.
    cause: Cause,
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
    /// An input names a feeder that does not exist.
    #[error("input names feeder {feeder}, but there are only {n_feeders}")]
    UnknownFeeder {
        /// Feeder index.
        feeder: u32,
        /// How many feeders exist.
        n_feeders: usize,
    },
    /// An input names a transformer that does not exist.
    #[error("input names transformer {transformer}, but there are only {n_transformers}")]
    UnknownTransformer {
        /// Transformer index.
        transformer: u32,
        /// How many transformers exist.
        n_transformers: usize,
    },
    /// An input names a meter that does not exist.
    #[error("input names meter {meter}, but there are only {n_meters}")]
    UnknownMeter {
        /// Meter index.
        meter: u32,
        /// How many meters exist.
        n_meters: usize,
    },
    /// An input names an account the HES does not have.
    #[error("input names account {0:?}, which the HES does not have")]
    UnknownAccount(String),
    /// An input names a collector that does not exist.
    #[error("input names collector {collector}, but there are only {n_collectors}")]
    UnknownCollector {
        /// Collector index.
        collector: u32,
        /// How many exist.
        n_collectors: usize,
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
    /// Connection floods under way, for the network sensor.
    flood_spans: Vec<FloodSpan>,
    /// Whether the sensor's next minute of flood flows is on the calendar.
    flood_flows_scheduled: bool,
    /// Outside hosts the firewall blocks.
    blocked: Vec<BlockedHosts>,
    commands_in_interval: u64,
    horizon: SimTime,
    read_cycle_intervals: u32,
    /// Per feeder: the outage record of the outage in progress.
    open_outage: Vec<Option<u32>>,
    /// Per transformer out on its own: its open outage record.
    open_transformer_outage: BTreeMap<u32, u32>,
    /// The bulk system's frequency.
    frequency: Frequency,
    /// Per feeder: whether a UFLS relay holds it open.
    ufls_open: Vec<bool>,
    /// Per UFLS stage: the feeders its last trip opened, and the cause of that trip.
    ufls_feeders: Vec<UflsStageTrip>,
    /// Called at every interval close (see [`IntervalObserver`]).
    interval_observers: Vec<Box<dyn IntervalObserver>>,
    /// Told of the phases the run enters, for `amirange bench` (see [`crate::probe`]).
    probe: Option<Box<dyn crate::probe::PhaseProbe>>,
}

/// What an interval close tells the [`IntervalObserver`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntervalClose {
    /// The interval that closed (0 for the run's first).
    pub slot: u32,
    /// Whether a read cycle closed with it (its row's missing reads are counted then).
    pub cycle_closed: bool,
}

/// Watches the engine at every interval close, read-only: a report's concern (such as
/// [`WorstMomentWatch`], the blast-radius map's worst moment) kept outside the engine's core.
///
/// The engine calls each observer, in the order they were added, at every interval close,
/// after the data plane has run and the interval's row, the MDM's missing-read detection and
/// the read cycle's bookkeeping are done, and before anything dated at the close's instant
/// applies (see the [ordering contract](crate::drive#ordering-contract)). An observer sees the
/// world through `&Sim` only, so it cannot change the run: results are the same with or
/// without it.
///
/// [`WorstMomentWatch`]: crate::worst_moment::WorstMomentWatch
pub trait IntervalObserver: std::any::Any + Send + Sync {
    /// The interval `close` has just closed; `sim` is at its end.
    fn interval_closed(&mut self, sim: &Sim, close: IntervalClose);

    /// Collectors whose read attempts it needs logged ([`Sim::read_log`]); none by default.
    /// Adding the observer starts the log of these (with those of observers added before).
    fn watches_reads(&self) -> &[u32] {
        &[]
    }
}

pub use crate::worst_moment::WorstMoment;

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
        // One batch whose length is known up front: the world's tables are sized once, rather
        // than grown (and copied, and their fresh pages faulted in again) batch by batch.
        let meters = (0u32..).zip(&network.meters).map(|(idx, site)| {
            let mut premise = draw_premise(seed, idx, site.class, &classes[site.class.index()]);
            // A critical facility is sized as what it is (a hospital takes GWh), around the
            // class mean (its backup supply stays in the network's short list).
            if let Some(kind) = site.facility {
                premise.annual_kwh = (f64::from(premise.annual_kwh) * kind.consumption_weight()) as f32;
            }
            counters.meters_by_class[site.class.index()] += 1;
            counters.meters_by_link[site.link.index()] += 1;
            let annual_wh = (f64::from(premise.annual_kwh) * 1000.0).round() as u64;
            counters.annual_wh_by_class[site.class.index()] += annual_wh;
            if premise.load_group() == crate::interval_metering::INTERVAL_METERED_COMMERCIAL {
                counters.annual_wh_interval_metered_commercial += annual_wh;
            }
            (
                MeterIdx(idx),
                premise,
                Meter::new(),
                LoadProfileMemory {
                    wh: [0; crate::model::LOAD_PROFILE_DEPTH],
                    recorded_until: 0,
                    register_reading_wh: 0,
                    rate_wh: [0; 2],
                },
                GridPlace {
                    feeder: network.transformers[site.transformer as usize].feeder,
                    transformer: site.transformer,
                },
                MdmRecord {
                    tariff: u8::from(
                        Stream::new(seed, Purpose::Tariff, u64::from(idx), 0).bernoulli(config.mdm.time_of_use_share),
                    ),
                    ..MdmRecord::default()
                },
            )
        });
        directory.extend(world.spawn_batch(meters));
        let horizon = SimTime(config.horizon.as_micros());
        let read_cycle_intervals = config.read_cycle_intervals;
        world.insert_resource(crate::dataplane::NoiseState::new(
            network.meters.iter().map(|m| m.class),
        ));
        world.insert_resource(ProfileTable::build(&config));
        world.insert_resource(SamplingTables::build(&config, &network));
        world.insert_resource(Hes::new(seed, config.hes.clone()));
        world.insert_resource(Fleet::new(network.meters.len(), &config.security, seed));
        let mut grid = GridState::new(&network, config.cold_load);
        grid.losses = config.grid.losses;
        grid.protection = config.grid.protection;
        world.insert_resource(grid);
        let open_outage = vec![None; network.feeders.len()];
        let ufls_open = vec![false; network.feeders.len()];
        let frequency = Frequency::new(config.frequency.clone(), 1.0);
        let net_state = NetState::with_comms(
            &network,
            &config.comms,
            seed,
            start_day(&config, 0),
            -i64::from(config.start.second_of_day),
        );
        world.insert_resource(config);
        world.insert_resource(net_state);
        world.insert_resource(network);
        world.insert_resource(CycleState::default());
        world.insert_resource(TickClock::default());
        world.insert_resource(RunRecords::default());
        world.insert_resource(counters);
        world.insert_resource(MeterDirectory(directory));
        let mut data_plane = Schedule::default();
        data_plane.set_executor(SingleThreadedExecutor::new());
        data_plane.add_systems(interval_system);
        let mut sim = Sim {
            world,
            data_plane,
            calendar: EventCalendar::new(),
            next_message: 0,
            now: SimTime::ZERO,
            next_slot: 0,
            cycle_first: 0,
            events_in_interval: 0,
            alerts_in_interval: 0,
            flood_spans: Vec::new(),
            flood_flows_scheduled: false,
            blocked: Vec::new(),
            commands_in_interval: 0,
            horizon,
            read_cycle_intervals,
            open_outage,
            open_transformer_outage: BTreeMap::new(),
            ufls_feeders: vec![
                UflsStageTrip {
                    feeders: Vec::new(),
                    cause: Cause::Operation,
                };
                frequency.config().ufls.len()
            ],
            frequency,
            ufls_open,
            interval_observers: Vec::new(),
            probe: None,
        };
        // The bulk system the area belongs to: its size as configured (the area's share then
        // follows from its own load), or the area's highest expected load over its share.
        let peak_mw = (0..sim.world.resource::<SimConfig>().n_slots())
            .map(|s| sim.expected_kw(s))
            .fold(0.0f64, f64::max)
            / 1000.0;
        let frequency_config = &sim.world.resource::<SimConfig>().frequency;
        let system_mw = match (frequency_config.system_mw, frequency_config.area_share) {
            (_, Some(share)) => (peak_mw / share).max(1.0),
            (Some(mw), None) if mw < peak_mw => {
                return Err(SimError::Config(ConfigError {
                    field: "frequency.system_mw".into(),
                    reason: format!(
                        "the system's load ({mw} MW) must be at least the simulated area's expected peak ({peak_mw:.1} MW)"
                    ),
                }));
            }
            (Some(mw), None) => mw,
            // `SimConfig::check` refuses a configuration with neither.
            (None, None) => peak_mw.max(1.0),
        };
        sim.frequency.system_mw = system_mw;
        Ok(sim)
    }

    /// The configuration the simulation runs with.
    pub fn config(&self) -> &SimConfig {
        self.world.resource::<SimConfig>()
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
        let n_meters = self.n_meters();
        let unknown = |meter: u32| {
            ((meter as usize) >= n_meters)
                .then_some(SimError::UnknownMeter { meter, n_meters })
                .map_or(Ok(()), Err)
        };
        match &input {
            Input::SetRelay { meter, .. }
            | Input::Send { meter, .. }
            | Input::Radio { meter, .. }
            | Input::MeterFailure { meter, .. }
            | Input::Bypass { meter, .. }
            | Input::FalseData { meter, .. }
            | Input::Replay { meter, .. }
            | Input::SwitchLoad { meter, .. }
            | Input::Downgrade { meter, .. }
            | Input::LocalFirmware { meter, .. }
            | Input::TransferredFirmware { meter, .. }
            | Input::Inspect { meter }
            | Input::Tamper { meter, .. } => unknown(*meter)?,
            Input::PeerFirmware { from, to, .. } => {
                unknown(*from)?;
                unknown(*to)?;
            }
            Input::Command(request) => {
                if let Some(&m) = request.meters.iter().find(|&&m| m as usize >= n_meters) {
                    unknown(m)?;
                }
            }
            Input::Intercept { meters, .. } => {
                if let Some(&m) = meters.iter().find(|&&m| m as usize >= n_meters) {
                    unknown(m)?;
                }
            }
            Input::FeederSupply { feeder, .. } => {
                let n_feeders = self.network().feeders.len();
                if *feeder as usize >= n_feeders {
                    return Err(SimError::UnknownFeeder {
                        feeder: *feeder,
                        n_feeders,
                    });
                }
            }
            Input::TransformerSupply { transformer, .. } => {
                let n = self.network().transformers.len();
                if *transformer as usize >= n {
                    return Err(SimError::UnknownTransformer {
                        transformer: *transformer,
                        n_transformers: n,
                    });
                }
            }
            Input::ConnectionFlood { collector: Some(c), .. } => {
                let n = self.network().collectors.len();
                if *c as usize >= n {
                    return Err(SimError::UnknownCollector {
                        collector: *c,
                        n_collectors: n,
                    });
                }
            }
            Input::RevokeCredential { account, .. } => {
                if !self.hes().config.accounts.iter().any(|a| &a.name == account) {
                    return Err(SimError::UnknownAccount(account.clone()));
                }
            }
            Input::Truth(_)
            | Input::Alert(_)
            | Input::HesFoothold { .. }
            | Input::ConnectionFlood { .. }
            | Input::IsolateHes { .. }
            | Input::ClearInterference { .. }
            | Input::BlockHosts { .. }
            | Input::Flow(_)
            | Input::FreezeBulk { .. } => {}
        }
        Ok(self.calendar.insert(at, Event::Input(Box::new(input))))
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
        state.interference.push(PlacedInterference { area, on: false });
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
            self.enter(Phase::Events);
            self.apply_inputs_before(interval_end);
            self.now = interval_end;
            self.close_interval();
        }
        // Inputs up to and including `to` (the interval in progress).
        self.enter(Phase::Events);
        self.apply_inputs_before(SimTime(to.0.saturating_add(1)));
        self.now = self.now.max(to);
        Ok(())
    }

    /// Sets the probe told of every phase the run enters from now on (see [`crate::probe`]).
    pub fn set_probe(&mut self, probe: Box<dyn crate::probe::PhaseProbe>) {
        self.probe = Some(probe);
    }

    /// Tells the probe, if there is one, that the run enters `phase`.
    #[inline]
    pub fn enter(&mut self, phase: Phase) {
        if let Some(probe) = self.probe.as_mut() {
            probe.enter(phase);
        }
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

    /// Applies one calendar entry: counts it, then hands it to the handler of the subsystem it
    /// belongs to (the engine's own events here, inputs from outside in [`Sim::apply_input`]).
    /// Each handler works out one event's semantics and nothing else.
    fn apply(&mut self, at: SimTime, event: Event) {
        self.events_in_interval += 1;
        match event {
            Event::Input(input) => self.apply_input(at, *input),
            // HES and control plane.
            Event::Deliver { meter, action } => self.deliver(at, meter, action),
            Event::Send => self.send_next_job(at),
            Event::Execute { job, attempt } => self.execute(at, job, attempt),
            Event::Ack { job, attempt } => self.ack(at, job, attempt),
            Event::Timeout { job, attempt } => self.timeout(at, job, attempt),
            Event::Release { first, count } => self.release_jobs(at, first, count),
            // Network and radio.
            Event::Interference { id, on } => self.switch_interference(at, id, on),
            Event::RouteRepair => self.repair_routes(),
            Event::PeerInstall { to, image } => self.peer_install(at, to, image),
            // Grid, frequency and outages.
            Event::OutageDetected { outage } => self.outage_detected(at, outage, Detection::LastGasp),
            Event::FrequencyTick => self.frequency_tick(at),
            Event::ExtraLoadEnds { meter, cause } => self.extra_load_ends(at, meter, cause),
            Event::DemandResponseEnds { meter, cause } => self.demand_response_ends(at, meter, cause),
            Event::UflsTrip { stage, cause } => self.ufls_trip(at, stage, cause),
            Event::UflsRestore { stage, block, blocks } => self.ufls_restore(at, stage, block, blocks),
            // Network sensor.
            Event::FloodFlows => self.record_flood_minute(at),
        }
    }

    /// Applies an input from outside: hands it to the handler of the subsystem it acts on.
    fn apply_input(&mut self, at: SimTime, input: Input) {
        match input {
            // HES and control plane.
            Input::Command(request) => self.issue(at, request),
            Input::IsolateHes { isolated } => self.isolate_hes(at, isolated),
            Input::RevokeCredential { account, revoked } => self.revoke_credential(&account, revoked),
            Input::FreezeBulk { above } => self.world.resource_mut::<Hes>().frozen_above = above,
            Input::HesFoothold { attack } => self.world.resource_mut::<Hes>().foothold = attack,
            // Network and radio.
            Input::Send { meter, message } => self.send_message(at, meter, message),
            Input::Radio { meter, up } => self.switch_radio(at, meter, up),
            Input::ClearInterference { center, radius_m } => self.clear_interference(at, center, radius_m),
            Input::Intercept { meters, mode, cause } => self.intercept(at, &meters, mode, cause),
            // Fleet, security and firmware.
            Input::MeterFailure { meter, failed } => self.meter_failure(at, meter, failed),
            Input::Tamper { meter, flags } => self.world.resource_mut::<Fleet>().tamper[meter as usize] = flags,
            Input::Inspect { meter } => self.inspect(meter),
            Input::PeerFirmware { from, to, image } => self.peer_firmware(at, from, to, image),
            Input::LocalFirmware { meter, image } => self.local_firmware(at, meter, image),
            Input::TransferredFirmware { meter, image } => {
                let mut fleet = self.world.resource_mut::<Fleet>();
                // The repository holds at most 65,535 images; a new one past that is dropped.
                let known = fleet.images.iter().any(|x| x.hash == image.hash);
                if known || fleet.images.len() < usize::from(u16::MAX) {
                    let image = fleet.add_image(*image);
                    self.local_firmware(at, meter, image);
                }
            }
            Input::Bypass {
                meter,
                registered_share,
                cause,
            } => self.skew(meter, registered_share.min(1.0), cause, true),
            Input::FalseData {
                meter,
                reported_share,
                cause,
                theft,
            } => self.skew(meter, reported_share, cause, theft),
            Input::Replay {
                meter,
                frame,
                relay,
                cause,
            } => self.replay(at, meter, frame, relay, cause),
            Input::Downgrade { meter, cause } => self.downgrade(at, meter, cause),
            // Grid: relays, feeders and switched load.
            Input::SetRelay { meter, relay, cause } => self.set_relay(at, meter, relay, cause),
            Input::FeederSupply {
                feeder,
                energized,
                cause,
            } => self.operate_feeder(at, feeder, energized, cause),
            Input::TransformerSupply {
                transformer,
                energized,
                cause,
            } => self.transformer_supply(at, transformer, energized, cause),
            Input::SwitchLoad {
                meter,
                kw,
                until,
                cause,
            } => self.switch_load(at, meter, kw, until, cause),
            // Network sensor, firewall and run records.
            Input::ConnectionFlood {
                collector,
                connections_per_s,
                sources,
                cause,
            } => self.connection_flood(at, collector, connections_per_s, sources, cause),
            Input::BlockHosts { first, count } => self.block_hosts(at, first, count),
            Input::Flow(flow) => self.world.resource_mut::<RunRecords>().flows.push(flow),
            Input::Truth(record) => self.world.resource_mut::<RunRecords>().truth.push(record),
            Input::Alert(record) => {
                self.alerts_in_interval += 1;
                self.world.resource_mut::<RunRecords>().alerts.push(record);
            }
        }
    }
}

/// Handlers of the HES and control plane: messages the meters act on, the HES's send queue,
/// and the responses that isolate the HES or revoke an account.
impl Sim {
    /// A message from the HES reaches its meter, which acts on it (only relay commands change
    /// anything the engine models).
    fn deliver(&mut self, at: SimTime, meter: u32, action: Action) {
        if let Action::SetRelay(relay, cause) = action {
            self.set_relay(at, meter, relay, cause);
        }
    }

    /// The HES's sender sends the next queued job, and books its next turn if the queue is not
    /// empty.
    fn send_next_job(&mut self, at: SimTime) {
        let (job, next) = self.world.resource_mut::<Hes>().send_next(at);
        if let Some(next) = next {
            self.calendar.insert(next, Event::Send);
        }
        if let Some(job) = job {
            self.dispatch(at, job);
        }
    }

    /// An approved request's `count` jobs from `first` on join the send queue (after the
    /// approval latency), waking the sender if it was idle.
    fn release_jobs(&mut self, at: SimTime, first: u32, count: u32) {
        let mut hes = self.world.resource_mut::<Hes>();
        hes.awaiting_release = hes.awaiting_release.saturating_sub(count as usize);
        let mut send = None;
        for job in first..first + count {
            send = send.or(hes.enqueue(job, at));
        }
        if let Some(send) = send {
            self.calendar.insert(send, Event::Send);
        }
    }

    /// The HES is isolated from the networks (dropping its send queue) or comes back rebuilt
    /// from a clean image, without any attacker's foothold.
    fn isolate_hes(&mut self, at: SimTime, isolated: bool) {
        let mut hes = self.world.resource_mut::<Hes>();
        hes.isolated = isolated;
        if isolated {
            hes.purge_queue(at);
        } else {
            hes.foothold = None;
        }
    }

    /// The HES revokes (or restores) the credentials of the account named `account`; an
    /// account it does not have changes nothing (`schedule` refuses those).
    fn revoke_credential(&mut self, account: &str, revoked: bool) {
        let mut hes = self.world.resource_mut::<Hes>();
        if let Some(i) = hes.config.accounts.iter().position(|a| a.name == account) {
            hes.revoked[i] = revoked;
        }
    }
}

/// Handlers of the network and its radios: messages on their paths, radios up and down,
/// interference switching on and off, and route repairs.
impl Sim {
    /// The HES sends `message` to `meter`: it travels its path (or is lost, or is held by a
    /// rogue concentrator), its arrival goes on the calendar, and the message is recorded.
    fn send_message(&mut self, at: SimTime, meter: u32, message: Message) {
        let id = self.next_message;
        self.next_message += 1;
        let mut stream = self.message_stream(meter);
        let fate = self.world.resource_scope(|world, mut state: Mut<NetState>| {
            state.transmit(
                world.resource::<Network>(),
                meter,
                message.bytes,
                message.priority,
                at,
                &mut stream,
            )
        });
        let fate = self.intercepted(meter, fate);
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
            job: None,
        });
    }

    /// A meter's radio or modem goes down or comes back; the mesh re-forms around it at the
    /// next route repair.
    fn switch_radio(&mut self, at: SimTime, meter: u32, up: bool) {
        self.world.resource_scope(|world, mut state: Mut<NetState>| {
            let net = world.resource::<Network>();
            if let Some(repair) = state.set_radio(net, meter, up, at) {
                self.calendar.insert(repair, Event::RouteRepair);
            }
        });
    }

    /// Interference area `id` switches on or off as placed; a jammer a crew switched off stays
    /// off.
    fn switch_interference(&mut self, at: SimTime, id: usize, on: bool) {
        if on
            && self
                .net_state()
                .interference
                .get(id)
                .is_some_and(|placed| placed.area.end <= at)
        {
            return;
        }
        self.world.resource_scope(|world, mut state: Mut<NetState>| {
            let net = world.resource::<Network>();
            if let Some(repair) = state.set_interference(net, id, on, at) {
                self.calendar.insert(repair, Event::RouteRepair);
            }
        });
    }

    /// The scheduled route repair re-forms the routes that changed conditions broke.
    fn repair_routes(&mut self) {
        self.world.resource_scope(|world, mut state: Mut<NetState>| {
            state.repair(world.resource::<Network>());
        });
    }

    /// A crew with a direction finder searches within `radius_m` metres of `center`: every
    /// jammer transmitting there now is taken away, with its later switchings at the same place.
    fn clear_interference(&mut self, at: SimTime, center: crate::network::Point, radius_m: f32) {
        // The crew finds the jammers transmitting now, and takes each away: its later
        // switchings at the same place (a periodic jammer) do not happen.
        let areas = &self.net_state().interference;
        let near = |a: &Interference| (a.center.x - center.x).hypot(a.center.y - center.y) <= radius_m;
        let found_at: Vec<crate::network::Point> = areas
            .iter()
            .filter(|placed| placed.on && placed.area.start <= at && at < placed.area.end && near(&placed.area))
            .map(|placed| placed.area.center)
            .collect();
        let found: Vec<(usize, bool)> = areas
            .iter()
            .enumerate()
            .filter(|(_, placed)| placed.area.end > at && found_at.contains(&placed.area.center))
            .map(|(id, placed)| (id, placed.on))
            .collect();
        for (id, on) in found {
            let mut state = self.world.resource_mut::<NetState>();
            let area = &mut state.interference[id].area;
            area.end = at;
            area.start = area.start.min(at);
            if on {
                self.calendar.insert(at, Event::Interference { id, on: false });
            }
        }
    }
}

/// Handlers of the meter fleet and its security: failures, tampering and inspection, firmware
/// installs, replayed commands and protocol downgrades.
impl Sim {
    /// A meter's communication module fails or, once replaced, works again; its radio follows.
    fn meter_failure(&mut self, at: SimTime, meter: u32, failed: bool) {
        {
            let mut fleet = self.world.resource_mut::<Fleet>();
            fleet.failed[meter as usize] = failed;
            fleet.census_version += 1;
        }
        self.world.resource_scope(|world, mut state: Mut<NetState>| {
            let net = world.resource::<Network>();
            if let Some(repair) = state.set_radio(net, meter, !failed, at) {
                self.calendar.insert(repair, Event::RouteRepair);
            }
        });
    }

    /// A crew inspects a meter: a bypass or forged readings end and its tamper flags clear.
    fn inspect(&mut self, meter: u32) {
        self.skew(meter, 1.0, Cause::Operation, false);
        self.world.resource_mut::<Fleet>().tamper[meter as usize] = 0;
    }

    /// Meter `from` offers `image` to its mesh neighbour `to` (a worm): installed when `from`
    /// still runs it, both are up and `to` does not run it already (the install itself checks
    /// signatures).
    fn peer_firmware(&mut self, at: SimTime, from: u32, to: u32, image: u16) {
        let fleet = self.world.resource::<Fleet>();
        let state = self.world.resource::<NetState>();
        let alive = |m: u32| {
            let i = m as usize;
            !(fleet.failed[i] || state.radio_down[i] || state.unpowered[i] || state.dark[i])
        };
        if !(fleet.firmware[from as usize] == image && alive(from) && alive(to) && fleet.firmware[to as usize] != image)
        {
            return;
        }
        // The image takes the sender's collector's channel for its airtime.
        let bytes = fleet.images[usize::from(image)].bytes;
        let done = self.world.resource_scope(|world, mut state: Mut<NetState>| {
            let net = world.resource::<Network>();
            let airtime_us = (f64::from(bytes) * 8.0 / net.params.mesh.bandwidth_bps * 1e6).ceil() as u64;
            let i = from as usize;
            let channel = match state.paths[i].via {
                crate::network::Via::Mesh => state.paths[i].collector,
                _ => state.home_collector.get(i).copied().unwrap_or(crate::network::NONE),
            };
            state.book_transfer(channel, airtime_us, at)
        });
        self.calendar.insert(done, Event::PeerInstall { to, image });
    }

    /// A meter-to-meter image transfer ends at `to`: it installs the image when it is up and
    /// does not run it already.
    fn peer_install(&mut self, at: SimTime, to: u32, image: u16) {
        let fleet = self.world.resource::<Fleet>();
        let state = self.world.resource::<NetState>();
        let i = to as usize;
        let alive = !(fleet.failed[i] || state.radio_down[i] || state.unpowered[i] || state.dark[i]);
        if alive && fleet.firmware[i] != image {
            self.install(at, to, image);
        }
    }

    /// `image` is flashed onto a meter through its local port: installed when the meter is up,
    /// the image exists and the meter does not run it already.
    fn local_firmware(&mut self, at: SimTime, meter: u32, image: u16) {
        let i = meter as usize;
        let fleet = self.world.resource::<Fleet>();
        let up = !(fleet.failed[i] || self.net_state().unpowered[i]);
        if up && usize::from(image) < fleet.images.len() && fleet.firmware[i] != image {
            self.install(at, meter, image);
        }
    }

    /// A captured relay command with frame counter `frame` is replayed to a meter: a meter that
    /// is up acts on it unless it checks frame counters and has accepted `frame` or a later one
    /// (the refusal is logged).
    fn replay(&mut self, at: SimTime, meter: u32, frame: u32, relay: Relay, cause: Cause) {
        let i = meter as usize;
        let dead = self.world.resource::<Fleet>().failed[i] || self.net_state().unpowered[i];
        if dead {
            return;
        }
        let accepted = {
            let fleet = self.world.resource::<Fleet>();
            !(fleet.checks_frames(meter) && frame <= fleet.frame_counter[i])
        };
        self.world.resource_mut::<RunRecords>().field_events.push(FieldEvent {
            at,
            meter,
            attack: crate::model::attack_code(cause.attack()),
            what: FieldEventKind::Replay { frame, relay, accepted },
        });
        let mut fleet = self.world.resource_mut::<Fleet>();
        if !accepted {
            fleet.refused_frames.push(ReplayedFrame {
                meter_idx: meter,
                frame_counter: frame,
            });
            return;
        }
        fleet.frame_counter[i] = fleet.frame_counter[i].max(frame);
        fleet.accepted_frames.push(ReplayedFrame {
            meter_idx: meter,
            frame_counter: frame,
        });
        self.set_relay(at, meter, relay, cause);
    }

    /// A radio asks a meter to fall back to the legacy security level: a meter that is up and
    /// not yet downgraded does if it still accepts that level, and logs a refusal otherwise.
    fn downgrade(&mut self, at: SimTime, meter: u32, cause: Cause) {
        let i = meter as usize;
        let dead = self.world.resource::<Fleet>().failed[i] || self.net_state().unpowered[i];
        let code = crate::model::attack_code(cause.attack());
        if dead || self.world.resource::<Fleet>().downgraded_by[i] != 0 {
            return;
        }
        let accepted = self.world.resource::<Fleet>().legacy[i];
        self.world.resource_mut::<RunRecords>().field_events.push(FieldEvent {
            at,
            meter,
            attack: code,
            what: FieldEventKind::DowngradeOffer { accepted },
        });
        let mut fleet = self.world.resource_mut::<Fleet>();
        if fleet.legacy[i] {
            fleet.downgraded_by[i] = code.max(1);
            fleet.census_version += 1;
        } else {
            fleet.refused_downgrades.push((meter, code));
        }
    }
}

/// Handlers of the grid, the bulk system's frequency and outages: feeders operated from
/// outside, switched load and demand response ending, and UFLS restoration.
impl Sim {
    /// A feeder is opened or closed from outside. A feeder UFLS holds open is the operators'
    /// (or the attacker's) again: UFLS restoration leaves it alone, and closing it books no
    /// load step (the frequency model brings the stage's load back with its blocks).
    fn operate_feeder(&mut self, at: SimTime, feeder: u32, energized: bool, cause: Cause) {
        let held = (feeder as usize) < self.ufls_open.len() && std::mem::take(&mut self.ufls_open[feeder as usize]);
        self.feeder_supply(at, feeder, energized, cause, !(held && energized));
    }

    /// A device behind a meter switches `kw` of load on until `until` (replacing any earlier
    /// switched load): the bulk system sees the change as a load step, and the end goes on the
    /// calendar.
    fn switch_load(&mut self, at: SimTime, meter: u32, kw: f32, until: SimTime, cause: Cause) {
        let entity = self.world.resource::<MeterDirectory>().0[meter as usize];
        let before = self.meter_kw(entity, at);
        let (from_s, until_s) = ((at.0 / 1_000_000) as u32, (until.0 / 1_000_000) as u32);
        if let Some(mut m) = self.world.get_mut::<Meter>(entity) {
            m.extra_kw = if kw.is_finite() { kw.clamp(-1e5, 1e5) } else { 0.0 };
            m.extra_from_s = from_s;
            m.extra_until_s = until_s.max(from_s);
            m.extra_ended = false;
            m.extra_by = crate::model::attack_code(cause.attack());
        }
        if self.supplied(entity) {
            let kw = self.meter_kw(entity, at) - before;
            self.load_step(at, kw, cause);
        }
        if until_s > from_s {
            let ends = SimTime(u64::from(until_s) * 1_000_000);
            self.calendar.insert(ends, Event::ExtraLoadEnds { meter, cause });
        }
    }

    /// A meter's switched load ends, if its window still ends now (a later switching replaced
    /// it otherwise): the bulk system sees the load drop.
    fn extra_load_ends(&mut self, at: SimTime, meter: u32, cause: Cause) {
        let entity = self.world.resource::<MeterDirectory>().0[meter as usize];
        let Some(m) = self.world.get::<Meter>(entity) else {
            return;
        };
        if u64::from(m.extra_until_s) * 1_000_000 != at.0 || m.extra_ended {
            return;
        }
        let kw = f64::from(m.extra_kw);
        if let Some(mut m) = self.world.get_mut::<Meter>(entity) {
            m.extra_ended = true;
        }
        if kw != 0.0 && self.supplied(entity) {
            self.load_step(at, -kw, cause);
        }
    }

    /// A meter's demand-response reduction ends, if its window still ends now: the load it
    /// shed comes back as a step.
    fn demand_response_ends(&mut self, at: SimTime, meter: u32, cause: Cause) {
        let entity = self.world.resource::<MeterDirectory>().0[meter as usize];
        let Some(m) = self.world.get::<Meter>(entity) else {
            return;
        };
        if m.dr_until_us == at.0 && m.dr_keep < 1.0 && self.supplied(entity) {
            let kw = (1.0 - f64::from(m.dr_keep)) * self.base_kw(entity);
            self.load_step(at, kw, cause);
        }
    }

    /// The frequency model advances one tick: the UFLS trips it decides go on the calendar,
    /// and so does the next tick while the frequency is still moving.
    fn frequency_tick(&mut self, at: SimTime) {
        let (trips, again) = self.frequency.tick(at);
        for t in trips {
            let (stage, cause) = (t.stage as u8, Cause::from_code(t.cause));
            self.calendar.insert(t.at, Event::UflsTrip { stage, cause });
        }
        if again {
            self.calendar.insert(SimTime(at.0 + TICK_US), Event::FrequencyTick);
        }
    }

    /// Operators restore block `block` of `blocks` of the feeders UFLS stage `stage` opened
    /// (those UFLS still holds open). The load that comes back is the trip's cause's doing too.
    fn ufls_restore(&mut self, at: SimTime, stage: u8, block: u8, blocks: u8) {
        let UflsStageTrip { feeders: opened, cause } = self.ufls_feeders[usize::from(stage)].clone();
        let n = opened.len();
        let (b, nb) = (usize::from(block), usize::from(blocks).max(1));
        let feeders: Vec<u32> = opened[n * b / nb..n * (b + 1) / nb]
            .iter()
            .copied()
            .filter(|&f| std::mem::take(&mut self.ufls_open[f as usize]))
            .collect();
        self.feeders_supply(at, &feeders, true, Cause::Operation, false);
        let last = b + 1 == nb;
        if last {
            self.ufls_feeders[usize::from(stage)].feeders.clear();
        }
        if self
            .frequency
            .restore(usize::from(stage), 1.0 / nb as f64, last, cause.code())
        {
            self.schedule_tick(at);
        }
    }
}

/// Handlers of the network sensor and the firewall: connection floods starting and stopping,
/// hosts blocked, and the flows the sensor records of floods under way.
impl Sim {
    /// A connection flood against the HES front end (`collector: None`) or a collector starts
    /// at `connections_per_s` (the share the firewall lets through weighs on the endpoint), or
    /// stops at 0. The sensor closes the span the flood had so far and opens a new one.
    fn connection_flood(
        &mut self,
        at: SimTime,
        collector: Option<u32>,
        connections_per_s: f64,
        sources: u32,
        cause: Cause,
    ) {
        let code = crate::model::attack_code(cause.attack()).max(1);
        let open = self.unblocked_share(code, sources.max(1));
        let mut state = self.world.resource_mut::<NetState>();
        state
            .connection_floods
            .retain(|f| !(f.target == collector && f.attack_code == code));
        let on = connections_per_s.is_finite() && connections_per_s > 0.0;
        if on && open > 0.0 {
            state.connection_floods.push(ConnectionFloodLoad {
                target: collector,
                connections_per_s: connections_per_s * open,
                attack_code: code,
            });
        }
        // The sensor closes the span the flood had so far and opens a new one.
        if let Some(i) = self
            .flood_spans
            .iter()
            .position(|f| f.collector == collector && f.code == code)
        {
            let span = self.flood_spans.remove(i);
            self.record_flood_flow(&span, at);
        }
        if on && open > 0.0 {
            self.flood_spans.push(FloodSpan {
                collector,
                per_s: connections_per_s,
                sources: sources.max(1),
                code,
                since: at,
            });
            if !self.flood_flows_scheduled {
                self.flood_flows_scheduled = true;
                self.calendar.insert(SimTime(at.0 + 60_000_000), Event::FloodFlows);
            }
        }
    }

    /// The firewall starts dropping connections from outside hosts `first` to
    /// `first + count - 1`: floods under way lose the blocked share from now on (the sensor
    /// closes their spans here), and a flood entirely blocked ends.
    fn block_hosts(&mut self, at: SimTime, first: u32, count: u32) {
        self.blocked.push(BlockedHosts {
            first,
            end: first.saturating_add(count),
            since: at,
        });
        // Floods under way lose the blocked share from now on.
        let spans = std::mem::take(&mut self.flood_spans);
        let mut kept = Vec::with_capacity(spans.len());
        for mut span in spans {
            self.record_flood_flow(&span, at);
            span.since = at;
            let open = self.unblocked_share(span.code, span.sources);
            let mut state = self.world.resource_mut::<NetState>();
            for f in state.connection_floods.iter_mut() {
                if f.target == span.collector && f.attack_code == span.code {
                    f.connections_per_s = span.per_s * open;
                }
            }
            state.connection_floods.retain(|f| f.connections_per_s > 0.0);
            if open > 0.0 {
                kept.push(span);
            }
        }
        self.flood_spans = kept;
    }

    /// The sensor records the last minute of every connection flood under way, and books the
    /// next minute while any lasts.
    fn record_flood_minute(&mut self, at: SimTime) {
        let mut spans = std::mem::take(&mut self.flood_spans);
        for span in &mut spans {
            self.record_flood_flow(span, at);
            span.since = at;
        }
        self.flood_spans = spans;
        self.flood_flows_scheduled = !self.flood_spans.is_empty();
        if self.flood_flows_scheduled {
            self.calendar.insert(SimTime(at.0 + 60_000_000), Event::FloodFlows);
        }
    }
}

impl Sim {
    fn set_relay(&mut self, at: SimTime, meter: u32, relay: Relay, cause: Cause) {
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
            if relay == Relay::Open {
                // The opening's cause owns the interruption until the relay closes again.
                m.relay_cause = cause;
            }
            // The meter pushes the event to the HES, if it can reach it now (a path to a
            // collector, powered, radio up, not held by a rogue concentrator).
            let reaches = {
                let state = self.world.resource::<NetState>();
                let i = meter as usize;
                state.paths.get(i).is_some_and(|p| p.collector != crate::network::NONE)
                    && !state.unpowered[i]
                    && !state.radio_down[i]
                    && state.interception(i).is_none()
                    && !self.world.resource::<Fleet>().failed[i]
            };
            if reaches {
                self.world
                    .resource_mut::<RunRecords>()
                    .relay_events
                    .push(crate::records::RelayEvent {
                        time: at,
                        meter,
                        open: relay == Relay::Open,
                    });
            }
            if self.feeder_energized(entity) {
                let kw = self.meter_kw(entity, at);
                let kw = if relay == Relay::Open { -kw } else { kw };
                self.load_step(at, kw, cause);
            }
        }
    }

    /// Whether meter `entity`'s feeder and transformer are energized.
    fn feeder_energized(&self, entity: Entity) -> bool {
        let grid = self.world.resource::<GridState>();
        self.world
            .get::<GridPlace>(entity)
            .is_some_and(|p| grid.transformer_supplied(p.transformer))
    }

    /// Whether meter `entity`'s premise has supply: relay closed and feeder energized.
    fn supplied(&self, entity: Entity) -> bool {
        self.world
            .get::<Meter>(entity)
            .is_some_and(|m| m.relay == Relay::Closed)
            && self.feeder_energized(entity)
    }

    /// The premise's expected demand in the present interval, kW: its annual consumption on its
    /// load group's profile (its class's, or the interval-metered commercial shape), shifted by
    /// its routine (what the bulk system sees switch when it does).
    fn base_kw(&self, entity: Entity) -> f64 {
        let Some(p) = self.world.get::<Premise>(entity) else {
            return 0.0;
        };
        let table = self.world.resource::<ProfileTable>();
        let slot = i64::from(self.next_slot) + i64::from(p.shift_slots);
        f64::from(p.annual_kwh) / 1000.0 * f64::from(table.group_kw(p.load_group(), slot))
    }

    /// The premise's load at `at` if it has supply, kW: its expected demand less any active
    /// demand response, plus any extra switched load.
    /// The load, kW, that `meters` take at `at` through closed relays: the step the bulk
    /// system sees when their supply goes or comes back.
    fn closed_load_kw(&self, meters: &[u32], at: SimTime) -> f64 {
        let dir = &self.world.resource::<MeterDirectory>().0;
        meters
            .iter()
            .map(|&m| {
                let e = dir[m as usize];
                match self.world.get::<Meter>(e) {
                    Some(x) if x.relay == Relay::Closed => self.meter_kw(e, at),
                    _ => 0.0,
                }
            })
            .sum()
    }

    fn meter_kw(&self, entity: Entity, at: SimTime) -> f64 {
        let Some(m) = self.world.get::<Meter>(entity) else {
            return 0.0;
        };
        let keep = if m.dr_keep < 1.0 && m.dr_from_us <= at.0 && at.0 < m.dr_until_us {
            f64::from(m.dr_keep)
        } else {
            1.0
        };
        let extra = if m.extra_on(at.0) { f64::from(m.extra_kw) } else { 0.0 };
        self.base_kw(entity) * keep + extra
    }

    /// A sudden change of load of `kw` (positive: more) by `cause`, for the bulk system's
    /// frequency.
    fn load_step(&mut self, at: SimTime, kw: f64, cause: Cause) {
        if self.frequency.step(kw, cause.code()) {
            self.schedule_tick(at);
        }
    }

    /// Puts the frequency model's next tick on the calendar, at the next whole second.
    fn schedule_tick(&mut self, at: SimTime) {
        let next = SimTime((at.0 / TICK_US + 1) * TICK_US);
        self.calendar.insert(next, Event::FrequencyTick);
    }

    /// A UFLS stage's relays open its feeders in the simulated area; operators restore them
    /// together later, stage after stage.
    fn ufls_trip(&mut self, at: SimTime, stage: u8, cause: Cause) {
        let config = self.frequency.config();
        let n_feeders = self.ufls_open.len() as u32;
        let restore =
            at.0 + config.ufls_restore.as_micros() + u64::from(stage) * config.ufls_restore_spacing.as_micros();
        let grid = self.world.resource::<GridState>();
        let opened: Vec<u32> = (0..n_feeders)
            .filter(|&f| config.stage_of(f) == Some(usize::from(stage)) && grid.feeders[f as usize].energized)
            .collect();
        let share = config.ufls.get(usize::from(stage)).map_or(0.0, |s| s.shed_share);
        let blocks = (share / crate::frequency::RESTORE_BLOCK_SHARE).ceil().clamp(1.0, 50.0) as u8;
        let gap = crate::frequency::RESTORE_BLOCK_GAP.as_micros();
        self.feeders_supply(at, &opened, false, cause, false);
        for &f in &opened {
            self.ufls_open[f as usize] = true;
        }
        self.ufls_feeders[usize::from(stage)] = UflsStageTrip { feeders: opened, cause };
        for block in 0..blocks {
            let t = SimTime(restore + u64::from(block) * gap);
            self.calendar.insert(t, Event::UflsRestore { stage, block, blocks });
        }
    }

    fn interval_start(&self) -> SimTime {
        SimTime(u64::from(self.next_slot) * INTERVAL.as_micros())
    }

    /// A request reaches the HES: the policy drops protected critical facilities from a
    /// disconnect, the HES authorises and audits it, and, when it is accepted, fans it out
    /// (after the approval latency where a second person had to approve it).
    fn issue(&mut self, at: SimTime, mut request: CommandRequest) {
        self.commands_in_interval += 1;
        if request.credential.account != Credential::HES_PROCESS {
            // The operator's session from a workstation to the HES's command server.
            self.world
                .resource_mut::<RunRecords>()
                .flows
                .push(crate::records::FlowRecord {
                    time: at,
                    seconds: 0,
                    src: crate::records::Endpoint::Workstation(request.credential.account),
                    sources: 1,
                    dst: crate::records::Endpoint::HesCommands,
                    port: 443,
                    udp: false,
                    connections: 1,
                    established: true,
                    bytes: 400 + 8 * request.meters.len() as u64,
                    cause: request.cause,
                });
        }
        let n_images = self.world.resource::<Fleet>().images.len();
        let (hour, policy) = {
            let c = self.world.resource::<SimConfig>();
            let hour = (c.start.plus(at.since_start()).second_of_day / 3600) as u8;
            (hour, c.hes.policy.clone())
        };
        let inside = request.credential.account == Credential::HES_PROCESS;
        let mut protected = 0u32;
        if policy.protect_critical && request.kind == CommandKind::Disconnect && !inside {
            let net = self.world.resource::<Network>();
            let before = request.meters.len();
            request.meters.retain(|&m| {
                net.meters
                    .get(m as usize)
                    .is_none_or(|s| s.class != CustomerClass::Critical)
            });
            protected = (before - request.meters.len()) as u32;
        }
        let mut hes = self.world.resource_mut::<Hes>();
        let verdict = hes.authorise(&request, n_images, at, hour);
        let approval = !inside
            && policy
                .two_person_above
                .is_some_and(|n| request.meters.len() > n as usize);
        let name = |hes: &Hes, c: Credential| hes.config.accounts.get(usize::from(c.account)).map(|a| a.name.clone());
        let approver = if approval && verdict.is_ok() {
            request.approver.and_then(|a| name(&hes, a))
        } else {
            None
        };
        let account = hes.config.accounts.get(usize::from(request.credential.account));
        let id = hes.audit.len() as u32;
        let record = AuditRecord {
            id,
            time: at,
            account: match account {
                Some(a) => a.name.clone(),
                None if inside => "(hes-process)".to_owned(),
                None => "?".to_owned(),
            },
            role: account.map(|a| a.role),
            kind: request.kind,
            purpose: request.purpose,
            cause: request.cause,
            targets: request.meters.len() as u32,
            refused: verdict.err(),
            acked: 0,
            executed: 0,
            rejected: 0,
            failed: 0,
            retries: 0,
            finished: (verdict.is_err() || request.meters.is_empty()).then_some(at),
            approver,
            protected,
            signed: !inside && verdict.is_ok(),
        };
        hes.audit.push(record);
        if verdict.is_err() {
            return;
        }
        if request.kind == CommandKind::Disconnect && !inside {
            hes.book_disconnects(at, request.credential.account, request.meters.len() as u32);
        }
        let release = if approval {
            SimTime(at.0 + policy.approval_latency.as_micros())
        } else {
            at
        };
        let first = hes.jobs.len() as u32;
        for &meter in &request.meters {
            let job = hes.jobs.len() as u32;
            hes.jobs.push(Job {
                command: id,
                meter,
                attempts: 0,
                first_sent: release,
                last_sent: release,
                executed: None,
                acked: None,
                rejected: false,
                failed: false,
                lost_at_meter: 0,
                deadline: None,
                frame: 0,
                queued: release,
            });
            if release == at
                && let Some(send) = hes.enqueue(job, at)
            {
                self.calendar.insert(send, Event::Send);
            }
        }
        if release > at && !request.meters.is_empty() {
            let count = request.meters.len() as u32;
            hes.awaiting_release += request.meters.len();
            self.calendar.insert(release, Event::Release { first, count });
        }
    }

    /// A job's next attempt leaves the HES: it crosses the network (or is lost), the meter
    /// executes it after its delay, and the acknowledgement or the timeout comes back.
    fn dispatch(&mut self, at: SimTime, job: u32) {
        let (relay_delay, random_delay_max, activation) = {
            let s = &self.world.resource::<SimConfig>().security;
            (s.relay_delay, s.random_delay_max, s.firmware_activation)
        };
        let msg_id = self.next_message;
        self.next_message += 1;
        let target = self.world.resource::<Hes>().jobs[job as usize].meter;
        let mut stream = self.message_stream(target);
        let (j, kind, attempt, timeout, command_bytes) = {
            let mut hes = self.world.resource_mut::<Hes>();
            let config = &hes.config;
            let (command_timeout, firmware_timeout, command_bytes) =
                (config.command_timeout, config.firmware_timeout, config.command_bytes);
            let j = &mut hes.jobs[job as usize];
            j.attempts = j.attempts.saturating_add(1);
            if j.attempts == 1 {
                j.first_sent = at;
            }
            j.last_sent = at;
            let (j, attempt) = (*j, j.attempts);
            let kind = hes.audit[j.command as usize].kind;
            let timeout = if matches!(kind, CommandKind::FirmwareUpdate { .. }) {
                firmware_timeout
            } else {
                command_timeout
            };
            (j, kind, attempt, timeout, command_bytes)
        };
        let (bytes, priority, delay_us, delay_budget_us) = match kind {
            CommandKind::FirmwareUpdate { image } => (
                self.world.resource::<Fleet>().images[usize::from(image)].bytes,
                false,
                activation.as_micros(),
                activation.as_micros(),
            ),
            CommandKind::Connect | CommandKind::Disconnect => {
                let extra = random_delay_max.as_micros();
                let random = if extra == 0 { 0 } else { stream.below(extra + 1) };
                let relay = relay_delay.as_micros();
                (command_bytes, true, relay + random, relay + extra)
            }
            _ => (command_bytes, true, 0, 0),
        };
        let meter = j.meter;
        let (fate, ack_us) = self.world.resource_scope(|world, mut state: Mut<NetState>| {
            let net = world.resource::<Network>();
            let fate = state.transmit(net, meter, bytes, priority, at, &mut stream);
            let ack = state.ack_latency_us(net, meter, &mut stream);
            (fate, ack)
        });
        let fate = self.intercepted(meter, fate);
        let fate = self.through_floods(meter, fate, &mut stream);
        self.world.resource_mut::<RunRecords>().messages.push(MessageRecord {
            id: msg_id,
            meter,
            bytes,
            sent: at,
            fate,
            job: Some(job),
        });
        // The HES allows for the meter's configured execution delay on top of the timeout.
        let deadline = SimTime(at.0 + timeout.as_micros() + delay_budget_us);
        let mut ack_on_time = false;
        if let (Fate::Delivered { at: arrival, .. }, Some(ack_us)) = (fate, ack_us) {
            let executes = SimTime(arrival.0 + delay_us);
            self.calendar.insert(executes, Event::Execute { job, attempt });
            let acked = SimTime(executes.0 + ack_us);
            if acked <= deadline {
                // Inserted before any timeout: an ack at the deadline itself still counts.
                self.calendar.insert(acked, Event::Ack { job, attempt });
                ack_on_time = true;
            }
        }
        // The timeout goes on the calendar only when the ack will not come in time; if the
        // meter turns out unable to act, `execute` puts it there (the deadline is kept).
        let j = &mut self.world.resource_mut::<Hes>().jobs[job as usize];
        j.deadline = Some(deadline);
        if !ack_on_time {
            self.calendar.insert(deadline, Event::Timeout { job, attempt });
            j.deadline = None;
        }
    }

    /// The meter executes a job's command (again, if an earlier attempt's ack was late).
    fn execute(&mut self, at: SimTime, job: u32, attempt: u8) {
        let (j, kind, cause) = {
            let hes = self.world.resource::<Hes>();
            let j = hes.jobs[job as usize];
            let a = &hes.audit[j.command as usize];
            (j, a.kind, a.cause)
        };
        let m = j.meter;
        // A meter that lost its supply or failed since the message left cannot act on it;
        // its acknowledgement never comes and the HES times out.
        let dead = self.world.resource::<Fleet>().failed[m as usize] || self.net_state().unpowered[m as usize];
        if dead {
            if attempt == j.attempts {
                let slot = &mut self.world.resource_mut::<Hes>().jobs[job as usize];
                slot.lost_at_meter = attempt;
                // Its ack will not come: the HES waits until the deadline.
                if let Some(deadline) = slot.deadline.take() {
                    self.calendar.insert(deadline, Event::Timeout { job, attempt });
                }
            }
            return;
        }
        // A meter that verifies the HSM quorum's signature refuses a command without one.
        let unsigned = self.world.resource::<SimConfig>().hes.policy.hsm_quorum
            && !self.world.resource::<Hes>().audit[j.command as usize].signed;
        if unsigned {
            // Counted as rejected when the meter's answer reaches the HES (see `ack`).
            self.world.resource_mut::<Hes>().jobs[job as usize].rejected = true;
            return;
        }
        let mut rejected = false;
        let frame;
        {
            let mut fleet = self.world.resource_mut::<Fleet>();
            fleet.frame_counter[m as usize] = fleet.frame_counter[m as usize].wrapping_add(1);
            frame = fleet.frame_counter[m as usize];
            if let CommandKind::KeyRotation = kind
                && j.executed.is_none()
            {
                fleet.key_version[m as usize] = fleet.key_version[m as usize].wrapping_add(1);
            }
        }
        if let CommandKind::FirmwareUpdate { image } = kind {
            rejected = !self.install(at, m, image);
        }
        let entity = self.world.resource::<MeterDirectory>().0[m as usize];
        match kind {
            CommandKind::Connect => self.set_relay(at, m, Relay::Closed, cause),
            CommandKind::Disconnect => self.set_relay(at, m, Relay::Open, cause),
            CommandKind::DemandResponse { reduction, duration } => {
                let before = self.meter_kw(entity, at);
                if let Some(mut meter) = self.world.get_mut::<Meter>(entity) {
                    meter.dr_keep = (1.0 - reduction).clamp(0.0, 1.0);
                    meter.dr_from_us = at.0;
                    meter.dr_until_us = at.0 + duration.as_micros();
                    meter.dr_by = crate::model::attack_code(cause.attack());
                }
                if self.supplied(entity) {
                    let kw = self.meter_kw(entity, at) - before;
                    self.load_step(at, kw, cause);
                }
                let ends = SimTime(at.0 + duration.as_micros());
                self.calendar
                    .insert(ends, Event::DemandResponseEnds { meter: m, cause });
            }
            CommandKind::TariffChange { tariff } => {
                if let Some(mut record) = self.world.get_mut::<MdmRecord>(entity) {
                    record.tariff = tariff;
                }
            }
            CommandKind::Read | CommandKind::FirmwareUpdate { .. } | CommandKind::KeyRotation => {}
        }
        let mut hes = self.world.resource_mut::<Hes>();
        let first = j.executed.is_none() && !j.rejected;
        let slot = &mut hes.jobs[job as usize];
        if rejected {
            slot.rejected = true;
        } else if slot.executed.is_none() {
            slot.executed = Some(at);
            slot.frame = frame;
        }
        if first && !rejected {
            hes.audit[j.command as usize].executed += 1;
        }
    }

    /// A rogue concentrator of `cause` goes on the air for `meters` with `mode`, or off.
    fn intercept(&mut self, at: SimTime, meters: &[u32], mode: Option<crate::network::Intercept>, cause: Cause) {
        use crate::network::Intercept;
        let code = crate::model::attack_code(cause.attack()).max(1);
        let Some(mode) = mode else {
            // Off: every meter it held is released; altered reports end.
            let held: Vec<u32> = {
                let mut state = self.world.resource_mut::<NetState>();
                if let Some(slot) = state.intercepts.get_mut(usize::from(code - 1)) {
                    *slot = None;
                }
                let held = (0..state.intercepted_by.len() as u32)
                    .filter(|&m| state.intercepted_by[m as usize] == code)
                    .collect();
                for v in state.intercepted_by.iter_mut().filter(|v| **v == code) {
                    *v = 0;
                }
                held
            };
            for m in held {
                let entity = self.world.resource::<MeterDirectory>().0[m as usize];
                if self
                    .world
                    .get::<Meter>(entity)
                    .is_some_and(|x| x.skew_by == code && !x.skew_theft)
                {
                    self.skew(m, 1.0, cause, false);
                }
            }
            return;
        };
        // Who attaches: meters that are up and either do not authenticate the network or were
        // downgraded.
        let mut attached = Vec::new();
        {
            let state = self.world.resource::<NetState>();
            let fleet = self.world.resource::<Fleet>();
            let mut refused = Vec::new();
            for &m in meters {
                let i = m as usize;
                if i >= fleet.failed.len() || fleet.failed[i] || state.unpowered[i] || state.radio_down[i] {
                    continue;
                }
                if fleet.mutual_auth && fleet.downgraded_by[i] == 0 {
                    refused.push((m, code));
                } else {
                    attached.push(m);
                }
            }
            attached.sort_unstable();
            attached.dedup();
            let mut fleet = self.world.resource_mut::<Fleet>();
            fleet.refused_attach.extend(refused);
            fleet.attached.extend(attached.iter().map(|&m| (m, code)));
        }
        {
            let mut state = self.world.resource_mut::<NetState>();
            let k = usize::from(code - 1);
            if state.intercepts.len() <= k {
                state.intercepts.resize(k + 1, None);
            }
            state.intercepts[k] = Some(mode);
            for &m in &attached {
                state.intercepted_by[m as usize] = code;
            }
            // Mesh meters whose route passes through an attached meter follow it.
            if !attached.is_empty() {
                let n = state.intercepted_by.len();
                for m in 0..n {
                    if state.intercepted_by[m] != 0 {
                        continue;
                    }
                    let mut v = state.routes.parent[m];
                    for _ in 0..u8::MAX {
                        let Some(&by) = state.intercepted_by.get(v as usize) else {
                            break;
                        };
                        if by == code && attached.binary_search(&v).is_ok() {
                            state.intercepted_by[m] = code;
                            break;
                        }
                        v = state.routes.parent[v as usize];
                    }
                }
            }
        }
        let fleet = self.world.resource::<Fleet>();
        let held: Vec<u32> = (0..fleet.failed.len() as u32)
            .filter(|&m| self.net_state().intercepted_by[m as usize] == code)
            .collect();
        let (open, sealed): (Vec<u32>, Vec<u32>) =
            held.into_iter().partition(|&m| fleet.downgraded_by[m as usize] != 0);
        match mode {
            Intercept::Alter { reported_share } => {
                // Meters already skewed (bypassed, cloned, rogue firmware) keep their skew.
                let dir = &self.world.resource::<MeterDirectory>().0;
                let honest: Vec<u32> = open
                    .into_iter()
                    .filter(|&m| self.world.get::<Meter>(dir[m as usize]).is_some_and(|x| x.skew_by == 0))
                    .collect();
                for m in honest {
                    self.skew(m, reported_share, cause, false);
                }
            }
            Intercept::Forge => {
                let direct: std::collections::BTreeSet<u32> = attached.iter().copied().collect();
                let refused: Vec<(u32, u8)> = sealed
                    .iter()
                    .filter(|m| direct.contains(m))
                    .map(|&m| (m, code))
                    .collect();
                let open: Vec<u32> = open.into_iter().filter(|m| direct.contains(m)).collect();
                let mut forged: Vec<FieldEvent> = refused
                    .iter()
                    .map(|&(m, _)| (m, false))
                    .chain(open.iter().map(|&m| (m, true)))
                    .map(|(meter, accepted)| FieldEvent {
                        at,
                        meter,
                        attack: code,
                        what: FieldEventKind::Forged { accepted },
                    })
                    .collect();
                forged.sort_unstable_by_key(|e| e.meter);
                self.world.resource_mut::<RunRecords>().field_events.extend(forged);
                self.world.resource_mut::<Fleet>().refused_forgeries.extend(refused);
                for m in open {
                    self.set_relay(at, m, Relay::Open, cause);
                }
            }
            Intercept::Drop | Intercept::Delay(_) => {}
        }
    }

    /// What a rogue concentrator on the way does to a message for `meter` that the network
    /// would deliver: drops it, delays it, or (altered, to a meter that authenticates messages)
    /// gets it refused.
    fn intercepted(&self, meter: u32, fate: Fate) -> Fate {
        use crate::network::{Intercept, LossReason};
        let Fate::Delivered { at, via } = fate else {
            return fate;
        };
        match self.net_state().interception(meter as usize) {
            None | Some((_, Intercept::Forge)) => fate,
            Some((_, Intercept::Drop)) => Fate::Lost(LossReason::Intercepted),
            Some((_, Intercept::Delay(d))) => Fate::Delivered {
                at: SimTime(at.0 + d.as_micros()),
                via,
            },
            Some((_, Intercept::Alter { .. })) => {
                if self.world.resource::<Fleet>().downgraded_by[meter as usize] != 0 {
                    fate
                } else {
                    Fate::Lost(LossReason::Intercepted)
                }
            }
        }
    }

    /// What the connection floods in progress do to a message for `meter` that the network
    /// would deliver: the HES must connect to the meter's collector (or, for a cellular meter,
    /// the meter connects in) through the flooded endpoint, with refused tries costing the
    /// retry wait each, and every try refused losing the message.
    fn through_floods(&mut self, meter: u32, fate: Fate, stream: &mut Stream) -> Fate {
        let Fate::Delivered { at, via } = fate else {
            return fate;
        };
        let hes = &self.world.resource::<SimConfig>().hes;
        let limits = hes.connect_limits();
        let retry = hes.connect_retry.as_micros();
        let state = self.net_state();
        let (tries, by) = state.connect(state.paths[meter as usize].collector, limits, stream);
        match tries {
            Some(0) => fate,
            Some(refused) => Fate::Delivered {
                at: SimTime(at.0 + u64::from(refused) * retry),
                via,
            },
            None => {
                self.world.resource_mut::<NetState>().book_flood(by, 2);
                Fate::Lost(crate::network::LossReason::Backhaul)
            }
        }
    }

    /// Meter `meter`'s reports carry `share` (0 to 10; anything else ends the skew) of its true
    /// consumption from now on, by `cause`; the shortfall is theft when `theft` is set.
    fn skew(&mut self, meter: u32, share: f32, cause: Cause, theft: bool) {
        let entity = self.world.resource::<MeterDirectory>().0[meter as usize];
        if let Some(mut m) = self.world.get_mut::<Meter>(entity) {
            let share = if share.is_finite() { share.clamp(0.0, 10.0) } else { 1.0 };
            m.register_share = share;
            m.skew_by = if share == 1.0 {
                0
            } else {
                crate::model::attack_code(cause.attack())
            };
            m.skew_theft = theft && share < 1.0;
        }
    }

    /// The random stream of the next message to `meter`: keyed by the meter and how many
    /// messages it was sent before, so that messages to other meters (an attack's commands, say)
    /// never shift the draws of this one's.
    fn message_stream(&mut self, meter: u32) -> Stream {
        let seed = self.world.resource::<SimConfig>().seed;
        let mut state = self.world.resource_mut::<NetState>();
        let n = state.messages_to[meter as usize];
        state.messages_to[meter as usize] = n.wrapping_add(1);
        Stream::new(seed, Purpose::Message, u64::from(meter), u64::from(n))
    }

    /// Meter `m` installs `image`, unless it verifies signatures and the image is unsigned (the
    /// refusal is logged). Returns whether it installed it. The image's payload takes effect at
    /// once, and replaces whatever the previous image did.
    fn install(&mut self, at: SimTime, m: u32, image: u16) -> bool {
        let (payload, owner) = {
            let mut fleet = self.world.resource_mut::<Fleet>();
            if !fleet.accepts(image) {
                fleet.refused_images.push((m, image));
                return false;
            }
            let i = m as usize;
            let before = usize::from(fleet.firmware[i]);
            if matches!(fleet.images[before].payload, Payload::Flood { .. }) {
                fleet.flooding.retain(|&x| x != m);
            }
            fleet.firmware[i] = image;
            fleet.census_version += 1;
            let img = &fleet.images[usize::from(image)];
            let (payload, owner) = (img.payload, img.owner);
            fleet.compromised_by[i] = crate::model::attack_code(owner);
            if matches!(payload, Payload::Flood { .. }) {
                fleet.flooding.push(m);
            }
            (payload, owner)
        };
        let entity = self.world.resource::<MeterDirectory>().0[m as usize];
        if let Some(mut meter) = self.world.get_mut::<Meter>(entity) {
            // Firmware governs what the register records, unless theft holds it (a bypass, or a
            // clone under-reporting for theft). Overlapping skews are not stacked: the last
            // writer wins.
            if !meter.skew_theft {
                let (share, by) = match payload {
                    Payload::FalseReadings { share } => (share.clamp(0.0, 1.0), crate::model::attack_code(owner)),
                    _ => (1.0, 0),
                };
                meter.register_share = share;
                meter.skew_by = by;
            }
        }
        if payload == Payload::Brick {
            {
                let mut fleet = self.world.resource_mut::<Fleet>();
                fleet.failed[m as usize] = true;
                fleet.census_version += 1;
            }
            self.world.resource_scope(|world, mut state: Mut<NetState>| {
                let net = world.resource::<Network>();
                if let Some(repair) = state.set_radio(net, m, false, at) {
                    self.calendar.insert(repair, Event::RouteRepair);
                }
            });
        }
        true
    }

    /// Meters running a flooding image queue their junk frames for the interval that starts at
    /// `start` on their collectors' channels, ahead of the read cycle that may close it.
    fn flood(&mut self, start: SimTime) {
        let start = SimTime(start.0 + INTERVAL.as_micros());
        self.world.resource_scope(|world, mut state: Mut<NetState>| {
            state.flooded_by.fill(0);
            let fleet = world.resource::<Fleet>();
            if fleet.flooding.is_empty() {
                return;
            }
            let net = world.resource::<Network>();
            let p = &net.params;
            for &m in &fleet.flooding {
                let i = m as usize;
                let path = state.paths[i];
                if path.collector == NONE || fleet.failed[i] {
                    continue;
                }
                let img = &fleet.images[usize::from(fleet.firmware[i])];
                let Payload::Flood { bytes_per_interval } = img.payload else {
                    continue;
                };
                let bps = match path.via {
                    Via::Mesh => p.mesh.bandwidth_bps,
                    Via::Plc => p.plc.bandwidth_bps,
                    _ => p.cellular.bandwidth_bps,
                };
                let us = (f64::from(bytes_per_interval) * 8.0 / bps * 1e6) as u64;
                state.occupy(path.collector, us, start, crate::model::attack_code(img.owner));
            }
        });
    }

    fn ack(&mut self, at: SimTime, job: u32, attempt: u8) {
        let mut hes = self.world.resource_mut::<Hes>();
        let j = hes.jobs[job as usize];
        if j.acked.is_some() || j.failed || attempt != j.attempts || j.lost_at_meter == attempt {
            return;
        }
        hes.jobs[job as usize].acked = Some(at);
        let record = &mut hes.audit[j.command as usize];
        if j.rejected {
            record.rejected += 1;
        } else {
            record.acked += 1;
        }
        record.settle(at);
    }

    fn timeout(&mut self, at: SimTime, job: u32, attempt: u8) {
        let mut hes = self.world.resource_mut::<Hes>();
        let j = hes.jobs[job as usize];
        if j.acked.is_some() || j.failed || attempt != j.attempts {
            return;
        }
        if u32::from(j.attempts) <= hes.config.retries {
            hes.audit[j.command as usize].retries += 1;
            if let Some(send) = hes.enqueue(job, at) {
                self.calendar.insert(send, Event::Send);
            }
        } else {
            hes.jobs[job as usize].failed = true;
            let record = &mut hes.audit[j.command as usize];
            record.failed += 1;
            record.settle(at);
        }
    }

    /// A feeder goes out or comes back: supply, radios and routes follow; going out, its meters
    /// send their last gasps and an outage record opens.
    fn feeder_supply(&mut self, at: SimTime, feeder: u32, energized: bool, cause: Cause, track: bool) {
        self.feeders_supply(at, &[feeder], energized, cause, track);
    }

    /// [`Sim::feeder_supply`] for several feeders at once: the network's paths are recomputed
    /// once for all of them (a full pass over the meters), not once per feeder.
    fn feeders_supply(&mut self, at: SimTime, feeders: &[u32], energized: bool, cause: Cause, track: bool) {
        let mut switched = Vec::new();
        for &feeder in feeders {
            if let Some(meters) = self.switch_feeder(at, feeder, energized, cause, track) {
                switched.extend(meters);
            }
        }
        if energized {
            // Meters behind a transformer that is out themselves stay without supply.
            let grid = self.world.resource::<GridState>();
            let net = self.world.resource::<Network>();
            switched.retain(|&m| grid.transformers[net.meters[m as usize].transformer as usize].energized);
        }
        if switched.is_empty() {
            return;
        }
        self.world.resource_scope(|world, mut state: Mut<NetState>| {
            let net = world.resource::<Network>();
            if let Some(repair) = state.set_power(net, &switched, energized, at) {
                self.calendar.insert(repair, Event::RouteRepair);
            }
        });
    }

    /// One feeder's grid state, load step, last gasps and outage record; returns its meters if
    /// its supply changed (their radios follow in [`Sim::feeders_supply`]).
    fn switch_feeder(
        &mut self,
        at: SimTime,
        feeder: u32,
        energized: bool,
        cause: Cause,
        track: bool,
    ) -> Option<Vec<u32>> {
        let start = self.interval_start();
        // The load the feeder carries (before it goes out, or once it is back) is a step for the
        // bulk system, unless UFLS itself switches it (the frequency model books that).
        let feeder_kw = |sim: &Sim| sim.closed_load_kw(sim.world.resource::<GridState>().meters_of(feeder), at);
        let before = if track && !energized && (feeder as usize) < self.ufls_open.len() {
            feeder_kw(self)
        } else {
            0.0
        };
        let changed = self
            .world
            .resource_mut::<GridState>()
            .set(feeder, energized, cause, at, start);
        if !changed {
            return None;
        }
        if track {
            let kw = if energized { feeder_kw(self) } else { -before };
            self.load_step(at, kw, cause);
        }
        let meters = self.world.resource::<GridState>().meters_of(feeder).to_vec();
        if energized {
            if let Some(outage) = self.open_outage[feeder as usize].take() {
                self.world.resource_mut::<RunRecords>().outages[outage as usize].end = Some(at);
            }
        } else {
            let outage = self.open_outage_record(at, feeder, None, cause, &meters);
            self.open_outage[feeder as usize] = Some(outage);
        }
        Some(meters)
    }

    /// Opens the outage record of `meters` losing supply at `at` (on `feeder`, behind
    /// `transformer` when only it went out): their last gasps go out over the paths as they
    /// were before the supply went, and the first to arrive detects it. Returns its index.
    fn open_outage_record(
        &mut self,
        at: SimTime,
        feeder: u32,
        transformer: Option<u32>,
        cause: Cause,
        meters: &[u32],
    ) -> u32 {
        let seed = self.world.resource::<SimConfig>().seed;
        let gasp_success = self.world.resource::<SimConfig>().mdm.last_gasp_success;
        let outage = self.world.resource::<RunRecords>().outages.len() as u32;
        let (first_gasp, gasps) = {
            let net = self.world.resource::<Network>();
            let state = self.world.resource::<NetState>();
            let mut first: Option<SimTime> = None;
            let mut n = 0u32;
            for &m in meters {
                let mut stream = Stream::new(seed, Purpose::LastGasp, u64::from(m), u64::from(outage));
                let ok = stream.bernoulli(gasp_success * f64::from(state.paths[m as usize].success));
                if let (true, Some(us)) = (ok, state.ack_latency_us(net, m, &mut stream)) {
                    n += 1;
                    let t = SimTime(at.0 + us);
                    first = Some(first.map_or(t, |f| f.min(t)));
                }
            }
            (first, n)
        };
        let critical = {
            let net = self.world.resource::<Network>();
            meters
                .iter()
                .filter(|&&m| net.meters[m as usize].class == CustomerClass::Critical)
                .count() as u32
        };
        self.world.resource_mut::<RunRecords>().outages.push(OutageRecord {
            feeder,
            transformer,
            cause,
            start: at,
            end: None,
            customers: meters.len() as u32,
            critical,
            last_gasps: gasps,
            detected_at: None,
            detected_by: None,
        });
        if let Some(t) = first_gasp {
            self.calendar.insert(t, Event::OutageDetected { outage });
        }
        outage
    }

    /// A transformer's own supply goes out or comes back (a transformer fault or a blown MV
    /// lateral fuse): while its feeder is energized, its premises' load is a step for the bulk
    /// system and its meters' radios follow; going out, an outage record opens.
    fn transformer_supply(&mut self, at: SimTime, transformer: u32, energized: bool, cause: Cause) {
        let start = self.interval_start();
        let (feeder, feeder_on) = {
            let grid = self.world.resource::<GridState>();
            let f = grid.transformer_feeder[transformer as usize];
            (f, grid.feeders[f as usize].energized)
        };
        let load_kw =
            |sim: &Sim| sim.closed_load_kw(sim.world.resource::<GridState>().meters_of_transformer(transformer), at);
        let before = if feeder_on && !energized { load_kw(self) } else { 0.0 };
        let changed = self
            .world
            .resource_mut::<GridState>()
            .set_transformer(transformer, energized, cause, at, start);
        if !changed {
            return;
        }
        if feeder_on {
            let kw = if energized { load_kw(self) } else { -before };
            self.load_step(at, kw, cause);
        }
        let meters = self
            .world
            .resource::<GridState>()
            .meters_of_transformer(transformer)
            .to_vec();
        if energized {
            if let Some(outage) = self.open_transformer_outage.remove(&transformer) {
                self.world.resource_mut::<RunRecords>().outages[outage as usize].end = Some(at);
            }
        } else if feeder_on {
            let outage = self.open_outage_record(at, feeder, Some(transformer), cause, &meters);
            self.open_transformer_outage.insert(transformer, outage);
        }
        if feeder_on && !meters.is_empty() {
            self.world.resource_scope(|world, mut state: Mut<NetState>| {
                let net = world.resource::<Network>();
                if let Some(repair) = state.set_power(net, &meters, energized, at) {
                    self.calendar.insert(repair, Event::RouteRepair);
                }
            });
        }
    }

    fn outage_detected(&mut self, at: SimTime, outage: u32, by: Detection) {
        let mut records = self.world.resource_mut::<RunRecords>();
        let o = &mut records.outages[outage as usize];
        if o.detected_at.is_none() && o.end.is_none_or(|end| at <= end) {
            o.detected_at = Some(at);
            o.detected_by = Some(by);
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
            commands: self.commands_in_interval,
        };
        self.world.resource_mut::<RunCounters>().events += self.events_in_interval;
        self.events_in_interval = 0;
        self.alerts_in_interval = 0;
        self.commands_in_interval = 0;
        let start = self.interval_start();
        self.enter(Phase::DataPlane);
        self.world
            .resource_mut::<GridState>()
            .close_interval(start, SimTime(start.0 + INTERVAL.as_micros()));
        self.data_plane.run(&mut self.world);
        let (lo, hi) = self.frequency.take_interval();
        if let Some(row) = self.world.resource_mut::<RunRecords>().intervals.last_mut() {
            row.frequency_min_mhz = (lo * 1000.0).round() as u32;
            row.frequency_max_mhz = (hi * 1000.0).round() as u32;
        }
        // The MDM's missing-read detector: feeders with meters newly silent for the configured
        // number of cycles, while an outage there is still undetected.
        let mut silent = std::mem::take(&mut self.world.resource_mut::<RunRecords>().silent_feeders);
        silent.sort_unstable();
        silent.dedup();
        for f in silent {
            if let Some(outage) = self.open_outage[f as usize] {
                self.outage_detected(self.now, outage, Detection::MissingReads);
            }
        }
        if cycle_closes {
            self.cycle_first = slot + 1;
        }
        if !self.interval_observers.is_empty() {
            self.enter(Phase::Observers);
            let close = IntervalClose {
                slot,
                cycle_closed: cycle_closes,
            };
            let mut observers = std::mem::take(&mut self.interval_observers);
            for observer in &mut observers {
                observer.interval_closed(self, close);
            }
            self.interval_observers = observers;
        }
        self.next_slot += 1;
        self.enter(Phase::Events);
        self.flood(self.interval_start());
        self.protect(self.interval_start());
        // A new civil day: the chronic non-communicators change state.
        let config = self.world.resource::<SimConfig>();
        let day = start_day(config, self.next_slot);
        if day != start_day(config, self.next_slot - 1) {
            let now = self.interval_start();
            self.world.resource_scope(|world, mut state: Mut<NetState>| {
                let config = world.resource::<SimConfig>();
                let (faults, seed) = (config.comms, config.seed);
                if let Some(repair) = state.set_comms_day(world.resource::<Network>(), &faults, seed, day, now) {
                    self.calendar.insert(repair, Event::RouteRepair);
                }
            });
        }
    }

    /// Protection at the end of an interval (`at`): transformers whose thermal protection and
    /// feeders whose overcurrent relay operated on the interval's load trip now, recorded with
    /// the cause, and a crew recloses them later.
    fn protect(&mut self, at: SimTime) {
        let mut trips = Vec::new();
        self.world.resource_scope(|world, mut grid: Mut<GridState>| {
            let net = world.resource::<Network>();
            grid.overcurrent(net, INTERVAL.as_micros() as f64 / 1e6, &mut trips);
        });
        let mut hot = Vec::new();
        self.world.resource_scope(|world, mut grid: Mut<GridState>| {
            let net = world.resource::<Network>();
            grid.thermal(net, INTERVAL.as_micros() as f64 / 1e6, &mut hot);
        });
        let reclose = self.world.resource::<GridState>().protection.reclose_after;
        // Transformers first, then feeders: the order the trips are recorded in.
        let tripped = hot
            .into_iter()
            .map(|(t, share)| (crate::records::Equipment::Transformer(t), share))
            .chain(
                trips
                    .into_iter()
                    .map(|(f, share)| (crate::records::Equipment::Feeder(f), share)),
            );
        for (equipment, load_share) in tripped {
            let before = self.world.resource::<RunRecords>().outages.len();
            // Booked to the attack whose load pushed the equipment over, if one did.
            let cause = self
                .world
                .resource::<GridState>()
                .trip_cause(self.world.resource::<Network>(), equipment);
            let reclosing = match equipment {
                crate::records::Equipment::Transformer(transformer) => {
                    self.transformer_supply(at, transformer, false, cause);
                    Input::TransformerSupply {
                        transformer,
                        energized: true,
                        cause,
                    }
                }
                crate::records::Equipment::Feeder(feeder) => {
                    self.feeder_supply(at, feeder, false, cause, true);
                    Input::FeederSupply {
                        feeder,
                        energized: true,
                        cause,
                    }
                }
            };
            let mut records = self.world.resource_mut::<RunRecords>();
            let outage = (records.outages.len() > before).then_some(before as u32);
            records.grid_events.push(crate::records::GridEvent {
                time: at,
                equipment,
                kind: crate::records::GridEventKind::OverloadTrip,
                load_share,
                cause,
                outage,
            });
            self.calendar.insert(at + reclose, Event::Input(Box::new(reclosing)));
        }
    }

    /// Adds `observer`, to be called at every interval close from now on, after those added
    /// before it (see [`IntervalObserver`]).
    pub fn add_interval_observer(&mut self, observer: Box<dyn IntervalObserver>) {
        if !observer.watches_reads().is_empty() {
            let mut watched: Vec<u32> = self
                .interval_observers
                .iter()
                .flat_map(|o| o.watches_reads())
                .copied()
                .collect();
            watched.extend_from_slice(observer.watches_reads());
            self.watch_reads(&watched);
        }
        self.interval_observers.push(observer);
    }

    /// The first interval observer of type `T`, if one was added.
    pub fn interval_observer<T: IntervalObserver>(&self) -> Option<&T> {
        self.interval_observers
            .iter()
            .find_map(|observer| (observer.as_ref() as &dyn std::any::Any).downcast_ref::<T>())
    }

    /// The share of a flood's botnet (attack code `code`, `sources` hosts) the firewall does
    /// not block.
    fn unblocked_share(&self, code: u8, sources: u32) -> f64 {
        let first = u32::from(code) * 10_000;
        let last = first + sources.max(1);
        let mut hosts: Vec<(u32, u32)> = self
            .blocked
            .iter()
            .map(|hosts| (hosts.first.max(first), hosts.end.min(last)))
            .filter(|(a, b)| a < b)
            .collect();
        hosts.sort_unstable();
        let (mut blocked, mut reach) = (0u32, first);
        for (a, b) in hosts {
            let a = a.max(reach);
            if b > a {
                blocked += b - a;
                reach = b;
            }
        }
        1.0 - f64::from(blocked) / f64::from(sources.max(1))
    }

    /// Records the flows of a flood's span from its `since` to `to`: its connections spread over
    /// the span's seconds and its botnet's hosts.
    fn record_flood_flow(&mut self, span: &FloodSpan, to: SimTime) {
        let seconds = (to.0.saturating_sub(span.since.0) / 1_000_000) as u32;
        if seconds == 0 {
            return;
        }
        let (dst, port) = match span.collector {
            None => (crate::records::Endpoint::HesFrontEnd, 1883),
            Some(c) => (crate::records::Endpoint::Collector(c), 4059),
        };
        // Every attempt the botnet makes (the sensor behind the firewall drops what it blocks).
        self.world
            .resource_mut::<RunRecords>()
            .flows
            .push(crate::records::FlowRecord {
                time: span.since,
                seconds,
                src: crate::records::Endpoint::Outside(u32::from(span.code) * 10_000),
                sources: span.sources,
                dst,
                port,
                udp: false,
                connections: (span.per_s * f64::from(seconds)).round() as u64,
                established: false,
                bytes: 0,
                cause: crate::model::Cause::Attack(span.code.saturating_sub(1)),
            });
    }

    /// Raises an alert at once (a detector's finding; its time may lie before the present when
    /// the detector looks back over a span). Returns its index in the run's alerts.
    pub fn raise_alert(&mut self, record: AlertRecord) -> usize {
        self.alerts_in_interval += 1;
        let mut records = self.world.resource_mut::<RunRecords>();
        records.alerts.push(record);
        records.alerts.len() - 1
    }

    /// The detector behind alert `index` fired `times` more times within it, at `severity`
    /// (which raises the alert's when higher).
    pub fn alert_again(&mut self, index: usize, times: u64, severity: crate::records::Severity) {
        if let Some(a) = self.world.resource_mut::<RunRecords>().alerts.get_mut(index) {
            a.count += times;
            a.severity = a.severity.max(severity);
        }
    }

    /// Records ground truth directly, at the time it carries (which may lie in the past: an
    /// attacker that learns of its effects later still dates them when they happened). Result
    /// files order truth by time.
    pub fn record_truth(&mut self, record: TruthRecord) {
        self.world.resource_mut::<RunRecords>().truth.push(record);
    }

    /// The fleet's expected load at interval `slot` from the class profiles (and the
    /// interval-metered commercial premises' own shape) and every premise's annual
    /// consumption, kW (what a planner, or an attacker timing for peak, would reckon).
    pub fn expected_kw(&self, slot: u32) -> f64 {
        let table = self.world.resource::<ProfileTable>();
        let counters = self.world.resource::<RunCounters>();
        let slot = i64::from(slot);
        let large_commercial_wh = counters.annual_wh_interval_metered_commercial as f64;
        let by_class: f64 = CustomerClass::ALL
            .iter()
            .map(|&c| {
                let mut wh = counters.annual_wh_by_class[c.index()] as f64;
                if c == CustomerClass::Commercial {
                    wh -= large_commercial_wh;
                }
                f64::from(table.kw(c, slot)) * wh / 1e6
            })
            .sum();
        by_class
            + f64::from(table.group_kw(crate::interval_metering::INTERVAL_METERED_COMMERCIAL, slot))
                * large_commercial_wh
                / 1e6
    }

    /// The bulk system's frequency: its parameters, size and disturbances so far.
    pub fn frequency(&self) -> &Frequency {
        &self.frequency
    }

    /// Whether the firewall dropped connections from outside host `host` (as
    /// [`crate::records::Endpoint::Outside`] numbers them) at `at`.
    pub fn outside_blocked(&self, host: u32, at: SimTime) -> bool {
        self.blocked
            .iter()
            .any(|b| b.since <= at && (b.first..b.end).contains(&host))
    }

    /// The time before which every flow record is in [`RunRecords::flows`] already: the
    /// present, or the start of the oldest connection-flood span the sensor has yet to record
    /// (it records a flood's minute at the minute's end).
    pub fn sensor_horizon(&self) -> SimTime {
        self.flood_spans.iter().map(|s| s.since).fold(self.now(), SimTime::min)
    }

    /// The records of the run so far: interval rows, ground truth, alerts.
    pub fn records(&self) -> &RunRecords {
        self.world.resource::<RunRecords>()
    }

    /// Watches the field networks of `collectors` (collector or tower indices; others are
    /// ignored): from the next read cycle on, the data plane logs every read attempt through
    /// them ([`Sim::read_log`]). Watching changes nothing in the run.
    pub fn watch_reads(&mut self, collectors: &[u32]) {
        let n = self.world.resource::<Network>().collectors.len();
        let mut cycle = self.world.resource_mut::<CycleState>();
        cycle.watched = vec![false; n];
        for &c in collectors {
            if let Some(w) = cycle.watched.get_mut(c as usize) {
                *w = true;
            }
        }
    }

    /// The read attempts of the last read cycle through the collectors [`Sim::watch_reads`]
    /// watches, by meter: at an [`IntervalClose`] with `cycle_closed`, the cycle that closed.
    pub fn read_log(&self) -> &[crate::dataplane::ReadRecord] {
        &self.world.resource::<CycleState>().reads
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

    /// The condition of every meter now, by meter index, into `out` (reusing its allocation),
    /// as the blast-radius map shows it (ground truth; see [`MeterCondition`]). One pass over
    /// the meters. Off supply is attributed as the data plane attributes it: to the feeder's
    /// cause while the feeder is out (unless a critical facility's backup carries it), else to
    /// the relay's.
    pub(crate) fn meter_conditions_into(&self, out: &mut Vec<MeterCondition>) {
        out.clear();
        out.resize(self.n_meters(), MeterCondition::Normal);
        let now = self.now.as_micros();
        // Every meter is spawned with these components, so the query exists once there are meters.
        let Some(mut query) = self.world.try_query::<(&MeterIdx, &GridPlace, &Meter, &MdmRecord)>() else {
            return;
        };
        let grid = self.world.resource::<GridState>();
        let fleet = self.world.resource::<Fleet>();
        let off_by = |cause: Cause| match cause {
            Cause::Attack(_) => MeterCondition::OffAttack,
            Cause::Outage => MeterCondition::OffOutage,
            Cause::Operation => MeterCondition::OffOperation,
        };
        let n_feeders = grid.feeders.len();
        let network = self.network();
        for (idx, place, meter, mdm) in query.iter(&self.world) {
            let i = idx.0 as usize;
            let feeder = grid.feeders[place.feeder as usize];
            let own = grid.transformers[place.transformer as usize];
            let on_backup = (!feeder.energized || !own.energized)
                && network
                    .backup_of(idx.0)
                    .is_some_and(|b| b.carries(place.feeder as usize, n_feeders, |g| grid.feeders[g].energized));
            out[i] = if !feeder.energized && !on_backup {
                off_by(feeder.cause)
            } else if !own.energized && !on_backup {
                off_by(own.cause)
            } else if meter.relay == Relay::Open {
                off_by(meter.relay_cause)
            } else if fleet.compromised_by[i] != 0
                || fleet.downgraded_by[i] != 0
                || meter.skew_by != 0
                || meter.extra_on(now)
                || (meter.dr_by != 0 && meter.dr_from_us <= now && now < meter.dr_until_us)
            {
                MeterCondition::Compromised
            } else if mdm.missed_cycles > 0 || fleet.failed[i] {
                MeterCondition::Unread
            } else {
                MeterCondition::Normal
            };
        }
    }

    /// Meter `meter`'s load-profile memory as it is now (what its DLMS load profile answers).
    pub fn load_profile_memory(&self, meter: u32) -> Option<LoadProfileMemory> {
        let entity = *self.world.resource::<MeterDirectory>().0.get(meter as usize)?;
        self.world.get::<LoadProfileMemory>(entity).copied()
    }

    /// Mutable access to a meter's load-profile memory (for tests and, later, tamper attacks
    /// that act through `sim`'s API).
    pub fn load_profile_memory_mut(&mut self, meter: u32) -> Option<Mut<'_, LoadProfileMemory>> {
        let entity = *self.world.resource::<MeterDirectory>().0.get(meter as usize)?;
        self.world.get_mut::<LoadProfileMemory>(entity)
    }

    /// The HES: accounts, audit log, jobs.
    pub fn hes(&self) -> &Hes {
        self.world.resource::<Hes>()
    }

    /// The full credential of account `name`, as its rightful holder has it.
    pub fn credential(&self, name: &str) -> Option<Credential> {
        self.hes().credential(name)
    }

    /// The fleet's security state: keys, frame counters, firmware, tamper flags, failures.
    pub fn fleet(&self) -> &Fleet {
        self.world.resource::<Fleet>()
    }

    /// Adds a firmware image to the HES's repository (or finds it); returns its index for
    /// [`CommandKind::FirmwareUpdate`].
    pub fn add_firmware_image(&mut self, image: crate::security::FirmwareImage) -> u16 {
        self.world.resource_mut::<Fleet>().add_image(image)
    }

    /// Supply state of the feeders.
    pub fn grid(&self) -> &GridState {
        self.world.resource::<GridState>()
    }

    /// The grid's state, to change its settings (losses, protection) before stepping.
    pub fn grid_mut(&mut self) -> Mut<'_, GridState> {
        self.world.resource_mut::<GridState>()
    }

    /// The MDM's record of meter `meter` (billing determinants, tariff, silence).
    pub fn mdm_record(&self, meter: u32) -> Option<MdmRecord> {
        let entity = *self.world.resource::<MeterDirectory>().0.get(meter as usize)?;
        self.world.get::<MdmRecord>(entity).copied()
    }

    /// Calls `visit` once for every meter with its index, premise, state, load-profile memory
    /// and MDM record as they are now, in no particular order (one pass over the meters; a
    /// reader that needs an order keys what it keeps by the index). For readers outside the
    /// engine that need every meter at once, such as the per-meter readings export, which an
    /// [`IntervalObserver`] runs at each interval close.
    pub fn visit_meters(&self, mut visit: impl FnMut(u32, &Premise, &Meter, &LoadProfileMemory, &MdmRecord)) {
        // Every meter is spawned with these components, so the query exists once there are meters.
        let Some(mut query) = self
            .world
            .try_query::<(&MeterIdx, &Premise, &Meter, &LoadProfileMemory, &MdmRecord)>()
        else {
            return;
        };
        for (idx, premise, meter, memory, record) in query.iter(&self.world) {
            visit(idx.0, premise, meter, memory, record);
        }
    }

    /// The MDM's substitute value for `premise` in interval `slot`, whole Wh: what it estimates
    /// for an interval it has no reading of, and what a spike is replaced by.
    pub fn substitute_wh(&self, premise: &Premise, slot: u32) -> u64 {
        self.world.resource::<ProfileTable>().substitute_wh(premise, slot)
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
        (self.network().heap_bytes() + self.net_state().heap_bytes() + self.fleet().heap_bytes()) / n
            + size_of::<MeterIdx>()
            + size_of::<Premise>()
            + size_of::<Meter>()
            + size_of::<LoadProfileMemory>()
            + size_of::<GridPlace>()
            + size_of::<MdmRecord>()
            + size_of::<Entity>() * 2
            // The noise state, class and factor (crate::dataplane::NoiseState).
            + size_of::<f32>() * 2
            + size_of::<u8>()
    }
}

/// Draws a premise's annual consumption (mean-preserving log-normal around the class mean), its
/// routine shift and its activity weights, from the premise's own stream.
pub fn draw_premise(seed: u64, idx: u32, class: CustomerClass, params: &crate::model::ClassConsumption) -> Premise {
    let mut stream = Stream::new(seed, Purpose::PremiseProfile, u64::from(idx), 0);
    let annual = draw_annual_kwh_from(&mut stream, params);
    let span = u64::from(params.max_shift_slots) * 2 + 1;
    let shift = stream.below(span) as i64 - i64::from(params.max_shift_slots);
    // Activity weights, uniform in -127..=127 (mean zero over the fleet), drawn after the
    // annual consumption and shift so that those stay what they were.
    let activity = std::array::from_fn(|_| (stream.below(255) as i64 - 127) as i8);
    // Devices from their own stream, so that the draws above stay what they were.
    let (devices, pv_kwp_tenths) = crate::devices::draw(seed, idx, params);
    Premise {
        class,
        shift_slots: shift as i8,
        annual_kwh: annual as f32,
        activity,
        devices,
        pv_kwp_tenths,
    }
}

/// The annual consumption, kWh, that [`draw_premise`] draws for premise `idx` (before a
/// critical facility's weight): what the topology sizes the transformer of an interval-metered
/// premise from.
pub fn draw_annual_kwh(seed: u64, idx: u32, params: &crate::model::ClassConsumption) -> f64 {
    draw_annual_kwh_from(
        &mut Stream::new(seed, Purpose::PremiseProfile, u64::from(idx), 0),
        params,
    )
}

/// The first draw of a premise's stream: its annual consumption, a mean-preserving log-normal
/// around the class mean, kWh.
fn draw_annual_kwh_from(stream: &mut Stream, params: &crate::model::ClassConsumption) -> f64 {
    let z: f64 = StandardNormal.sample(stream);
    let sigma = params.annual_sigma;
    params.mean_annual_kwh * (sigma * z - 0.5 * sigma * sigma).exp()
}

/// The civil day (days since the calendar's epoch) that interval `slot` of a run falls in.
fn start_day(config: &SimConfig, slot: u32) -> u64 {
    let slots = u64::from(config.start.second_of_day / 900) + u64::from(slot);
    config.start.date.days_since_epoch().max(0) as u64 + slots / crate::profile::SLOTS_PER_DAY as u64
}
