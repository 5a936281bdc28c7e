//! Supply on the grid: which feeders and transformers are energized, when they went out and
//! came back, and the cold-load pickup that follows a restoration; technical losses and the
//! protection that trips overloaded feeders.
//!
//! A feeder outage cuts every premise on the feeder (whatever its relay says), stops its meters'
//! registers and takes their radios and modems down (they have no supply either); the mesh
//! re-forms around them. A transformer outage (a transformer fault, or a blown fuse on the MV
//! lateral it hangs on) does the same to the premises behind that transformer. The data plane
//! looks supply up once per transformer: [`GridState::close_interval`] folds each feeder's state
//! into its transformers', so the per-meter cost does not grow. When the feeder comes back, its load rises above normal for a while:
//! thermostatic loads that lost their diversity during the outage all switch on together
//! (cold-load pickup).

use bevy_ecs::prelude::Resource;
use serde::Serialize;

use crate::config::INTERVAL;
use crate::model::Cause;
use crate::network::Network;
use crate::time::{SimDuration, SimTime};

/// Cold-load pickup after a feeder is restored.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ColdLoadPickup {
    /// Extra load right after restoration, as a share of normal load, reached when the outage
    /// lasted at least `full_after` (proportionally less for shorter outages).
    pub extra: f64,
    /// Time constant of the exponential decay back to normal load.
    pub decay: SimDuration,
    /// Outage length after which the full `extra` applies.
    pub full_after: SimDuration,
}

impl ColdLoadPickup {
    /// Typical values (assumption, in the range reported for residential feeders: load after
    /// an outage of a few hours reaches 1.5 to 2 times the diversified load and decays over one
    /// to two hours).
    pub fn typical() -> ColdLoadPickup {
        ColdLoadPickup {
            extra: 0.6,
            decay: SimDuration::from_minutes(60),
            full_after: SimDuration::from_hours(2),
        }
    }
}

/// Technical losses of the distribution network below the feeder head: MV lines, MV/LV
/// transformers (no-load and load losses) and the LV network behind each transformer.
///
/// Load losses grow with the square of the load of the piece of equipment that carries it,
/// computed once per transformer and once per feeder per interval from the interval's mean load
/// (the variation within 15 minutes is not seen, which underestimates them a little). No-load
/// (iron) losses are the feeder's `no_load_loss_kw` (its transformers'), present while it is
/// energised. With these values a service area loses about 4-6% of the energy delivered into MV
/// (`typical_day_of_a_small_area_loses_four_to_six_percent`), the range of well-meshed western
/// European distribution grids (CEER, 3rd Report on Power Losses, 2025: distribution losses
/// 1.95-22.63% across Europe, the north-west at the low end).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LossModel {
    /// Transformer winding (copper) losses at rated load, as a share of the rating: 0.012
    /// (SimBench 1.6 TransformerType "0.4 MVA 10/0.4 kV": short-circuit losses 4.8 kW of 400 kVA).
    pub transformer_load_loss_at_rating: f64,
    /// Losses in the LV cables behind a transformer when it carries its rated load, as a share
    /// of the rating: 0.07 (assumption: LV networks are planned for a voltage drop of 3-5% at
    /// peak, and a line with load spread along it loses about two thirds of its voltage drop
    /// share, 2-3.3% at peak; a transformer is sized at 1.25 times its planned peak and rounded
    /// up to a standard size, so at peak it carries about 60% of its rating, where 0.07 at rating
    /// gives 0.07 x 0.6 = 2.5% of the load).
    pub lv_load_loss_at_rating: f64,
    /// Losses in the MV lines of a feeder carrying its rating, as a share of the rating: 0.03
    /// (assumption: 20 kV feeders of 7-15 km, SimBench median 7.3 km, p90 14.3 km).
    pub mv_load_loss_at_rating: f64,
    /// Power factor of the load, relating kW to a transformer's kVA: 0.95 (assumption, typical
    /// for residential and commercial LV load).
    pub power_factor: f64,
}

impl LossModel {
    /// The default values (see the fields).
    pub fn typical() -> LossModel {
        LossModel {
            transformer_load_loss_at_rating: 0.012,
            lv_load_loss_at_rating: 0.07,
            mv_load_loss_at_rating: 0.03,
            power_factor: 0.95,
        }
    }

    /// Load losses, kW, in a transformer rated `rating_kva` and the LV network behind it while
    /// it carries `load_kw`.
    pub fn transformer_load_loss_kw(&self, rating_kva: f32, load_kw: f64) -> f64 {
        let rating = f64::from(rating_kva).max(1.0);
        let k = load_kw / self.power_factor / rating;
        (self.transformer_load_loss_at_rating + self.lv_load_loss_at_rating) * rating * k * k
    }

    /// Load losses, kW, in the MV lines of `feeder` while it carries `load_kw` (its customers'
    /// load and the losses below it).
    pub fn feeder_load_loss_kw(&self, feeder: &crate::network::Feeder, load_kw: f64) -> f64 {
        let rating = f64::from(feeder.rating_kw).max(1.0);
        self.mv_load_loss_at_rating * load_kw * load_kw / rating
    }

    /// What each feeder-head SCADA measures, kW, into `out` (one per feeder): the customer load
    /// of its transformers (`transformer_kw`, mean over the interval), their load losses and the
    /// LV networks', the no-load losses for the share of the interval the feeder was energised
    /// (one less `off_share`, per feeder), and the MV lines' load losses on top.
    pub fn feeder_head_kw(&self, net: &Network, transformer_kw: &[f64], off_share: &[f32], out: &mut Vec<f64>) {
        out.clear();
        out.resize(net.feeders.len(), 0.0);
        for (t, &kw) in net.transformers.iter().zip(transformer_kw) {
            if let Some(o) = out.get_mut(t.feeder as usize) {
                *o += kw + self.transformer_load_loss_kw(t.rating_kva, kw);
            }
        }
        for ((o, f), &off) in out.iter_mut().zip(&net.feeders).zip(off_share) {
            let below = *o + f64::from(f.no_load_loss_kw) * f64::from(1.0 - off);
            *o = below + self.feeder_load_loss_kw(f, below);
        }
    }
}

/// Protection of the grid against overload.
///
/// A feeder's overcurrent relay compares the feeder head's load (customers, cold-load pickup,
/// switched load and losses) with `feeder_pickup` times the feeder's rating and operates on the
/// IEC 60255-151 standard-inverse characteristic, `t = tms x 0.14 / (M^0.02 - 1)` for a load of
/// `M` times the pickup. The engine sees the load as the mean over each 15-minute interval, so
/// the relay's timer advances by the interval's share of its operating time at that load, is
/// reset by an interval below pickup, and a trip takes effect at the end of the interval in
/// which the timer runs out. While a restored feeder's load is raised by cold-load pickup, the
/// relay's pickup is raised too (`cold_load_pickup_multiplier`). A tripped feeder stays open until a crew has found nothing wrong
/// and recloses it by hand, `reclose_after` later (with the cold-load pickup of any
/// restoration; if the overload is still there it trips again).
///
/// A transformer's thermal protection follows its heating: a first-order state in units of
/// the squared loading, `h += (K^2 - h) (1 - exp(-dt / tau))` per interval at loading `K`
/// (kVA over rating), which trips the transformer when it reaches `transformer_trip_loading`
/// squared (the heating of that loading held for good), and cools while it is off. It is
/// reclosed like a feeder.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Protection {
    /// Overcurrent pickup, as a multiple of the feeder's rating: 1.5 (assumption: set above
    /// the emergency load a feeder must carry when it picks up a neighbour's, in the
    /// 1.2-1.5 x rating range of inverse-time feeder protection practice).
    pub feeder_pickup: f64,
    /// Time multiplier setting of the standard-inverse curve: 0.3 (assumption, a typical
    /// grading setting; at twice the pickup the relay operates in 3 s).
    pub feeder_time_multiplier: f64,
    /// Multiplier on the pickup while a feeder's restored load is still above normal
    /// (cold-load pickup): 2 (assumption: feeder relays' cold-load pickup logic raises the
    /// pickup, typically to about twice, for a set time after energisation, so that a
    /// restoration does not trip on its own inrush and lost diversity).
    pub cold_load_pickup_multiplier: f64,
    /// Transformer thermal protection: the loading, as a multiple of the rating, whose
    /// sustained heating trips it: 1.5 (assumption: loading guides allow planned emergency
    /// loading of oil-immersed distribution transformers up to 1.5 x rating, IEC 60076-7 and
    /// IEEE C57.91). Infinite turns it off. Transformers are rated from their premises' planned
    /// peak, an interval-metered premise's from its own consumption, so ordinary days do not
    /// reach it.
    pub transformer_trip_loading: f64,
    /// Thermal time constant of a transformer's heating (oil), the time its temperature takes
    /// to cover 63% of a step: 3 h (IEC 60076-7's oil time constant for ONAN distribution
    /// transformers, 180 min).
    pub transformer_time_constant: SimDuration,
    /// Time from a trip to the manual reclose: 1 h (assumption: a crew drives out, patrols the
    /// feeder and recloses, in the 2-6 h range of a repair's lower end).
    pub reclose_after: SimDuration,
}

impl Protection {
    /// The default settings (see the fields).
    pub fn typical() -> Protection {
        Protection {
            feeder_pickup: 1.5,
            feeder_time_multiplier: 0.3,
            cold_load_pickup_multiplier: 2.0,
            transformer_trip_loading: 1.5,
            transformer_time_constant: SimDuration::from_hours(3),
            reclose_after: SimDuration::from_hours(1),
        }
    }

    /// Operating time, s, of the standard-inverse characteristic at `multiple` times the
    /// pickup (infinite at or below it).
    pub fn operating_time_s(&self, multiple: f64) -> f64 {
        if multiple <= 1.0 {
            return f64::INFINITY;
        }
        self.feeder_time_multiplier * 0.14 / (multiple.powf(0.02) - 1.0)
    }
}

/// The grid's settings a run may change: technical losses and protection.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct GridConfig {
    /// Technical losses.
    pub losses: LossModel,
    /// Protection against overload.
    pub protection: Protection,
}

impl GridConfig {
    /// The default settings (see [`LossModel::typical`] and [`Protection::typical`]).
    pub fn typical() -> GridConfig {
        GridConfig {
            losses: LossModel::typical(),
            protection: Protection::typical(),
        }
    }

    /// Checks every value, naming the field (`losses.power_factor`, `protection.feeder_pickup`,
    /// ...) of the first that is out of range.
    pub fn check(&self) -> Result<(), crate::field::FieldError> {
        use crate::field::FieldError;
        let within = |field: &str, v: f64, (lo, hi): (f64, f64)| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(FieldError::new(
                    field,
                    format!("must be between {lo} and {hi}, not {v}"),
                ))
            }
        };
        // A threshold: at least `lo`; infinite turns that protection off.
        let threshold = |field: &str, v: f64, lo: f64| {
            if v >= lo {
                Ok(())
            } else {
                Err(FieldError::new(
                    field,
                    format!("must be at least {lo} (inf turns it off), not {v}"),
                ))
            }
        };
        let l = &self.losses;
        within(
            "losses.transformer_load_loss_at_rating",
            l.transformer_load_loss_at_rating,
            (0.0, 0.1),
        )?;
        within("losses.lv_load_loss_at_rating", l.lv_load_loss_at_rating, (0.0, 0.5))?;
        within("losses.mv_load_loss_at_rating", l.mv_load_loss_at_rating, (0.0, 0.5))?;
        within("losses.power_factor", l.power_factor, (0.5, 1.0))?;
        let p = &self.protection;
        threshold("protection.feeder_pickup", p.feeder_pickup, 1.0)?;
        within(
            "protection.feeder_time_multiplier",
            p.feeder_time_multiplier,
            (0.01, 10.0),
        )?;
        within(
            "protection.cold_load_pickup_multiplier",
            p.cold_load_pickup_multiplier,
            (1.0, 10.0),
        )?;
        threshold("protection.transformer_trip_loading", p.transformer_trip_loading, 1.0)?;
        let minutes = |d: SimDuration| d.as_micros() as f64 / 60e6;
        within(
            "protection.transformer_time_constant",
            minutes(p.transformer_time_constant),
            (1.0, 24.0 * 60.0),
        )
        .map_err(|_| FieldError::new("protection.transformer_time_constant", "must be between 1m and 24h"))?;
        within(
            "protection.reclose_after",
            minutes(p.reclose_after),
            (1.0, 7.0 * 24.0 * 60.0),
        )
        .map_err(|_| FieldError::new("protection.reclose_after", "must be between 1m and 7d"))?;
        Ok(())
    }
}

/// One feeder's (or one transformer's own) supply state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeederSupply {
    /// Whether the feeder is energized.
    pub energized: bool,
    /// Why it is out (meaningful while it is).
    pub cause: Cause,
    /// Microseconds it has been out so far in the current interval, up to `changed_at_us`.
    pub off_us_in_interval: u32,
    /// Offset into the current interval of the last change, µs.
    pub changed_at_us: u32,
    /// When it went out last.
    pub out_since: SimTime,
    /// When it was restored last, and the extra load its pickup started with.
    pub pickup: Option<(SimTime, f64)>,
}

/// Supply state of every feeder, and the meters each feeder supplies.
#[derive(Resource, Clone, Debug)]
pub struct GridState {
    /// Per feeder.
    pub feeders: Vec<FeederSupply>,
    /// Meters per feeder, CSR: meters of feeder `f` are `meters[offsets[f]..offsets[f + 1]]`.
    pub offsets: Vec<u32>,
    /// See `offsets`.
    pub meters: Vec<u32>,
    /// Per feeder, for the interval being closed: the share of it the feeder was out.
    pub off_share: Vec<f32>,
    /// Per feeder, for the interval being closed: the load multiplier of cold-load pickup.
    pub pickup_factor: Vec<f32>,
    /// Cold-load pickup parameters.
    pub cold_load: ColdLoadPickup,
    /// Per transformer: its own supply state, beside its feeder's.
    pub transformers: Vec<FeederSupply>,
    /// Per transformer: its feeder.
    pub transformer_feeder: Vec<u32>,
    /// Meters per transformer, CSR: meters of transformer `t` are
    /// `transformer_meters[transformer_offsets[t]..transformer_offsets[t + 1]]`.
    pub transformer_offsets: Vec<u32>,
    /// See `transformer_offsets`.
    pub transformer_meters: Vec<u32>,
    /// Per transformer, for the interval being closed: the share of it its premises were
    /// without supply (feeder or transformer out, taken as independent within the interval).
    pub supply_off_share: Vec<f32>,
    /// Per transformer, for the interval being closed: the load multiplier of cold-load pickup.
    pub supply_pickup: Vec<f32>,
    /// Per transformer, for the interval being closed: what its premises' interruption is
    /// attributed to (the feeder's cause if the feeder was out, else the transformer's).
    pub supply_cause: Vec<Cause>,
    /// Per transformer, at the end of the interval being closed: whether its premises have
    /// supply.
    pub supplied: Vec<bool>,
    /// Technical losses.
    pub losses: LossModel,
    /// Per transformer, for the interval last closed: its customers' mean load, kW.
    pub transformer_kw: Vec<f64>,
    /// Per feeder, for the interval last closed: the feeder head's mean load, kW (customers'
    /// load plus technical losses).
    pub feeder_kw: Vec<f64>,
    /// Protection settings.
    pub protection: Protection,
    /// Per feeder: how far its overcurrent relay's timer has run (1 = operate).
    pub relay_timer: Vec<f32>,
    /// Per transformer: its heating, in units of the squared loading (1 = rated load held).
    pub heating: Vec<f32>,
    /// For the interval last closed: the energy attacks' switched load took, per
    /// (transformer, attack index), mWh, sorted, one entry per pair (see
    /// [`GridState::trip_cause`]).
    pub attack_load_mwh: Vec<(u32, u8, u64)>,
}

impl GridState {
    /// Every feeder energized.
    pub fn new(net: &Network, cold_load: ColdLoadPickup) -> GridState {
        let n = net.feeders.len();
        let mut counts = vec![0u32; n + 1];
        let feeder_of = |m: &crate::network::MeterSite| net.transformers[m.transformer as usize].feeder as usize;
        for m in &net.meters {
            counts[feeder_of(m) + 1] += 1;
        }
        for f in 0..n {
            counts[f + 1] += counts[f];
        }
        let mut fill = counts.clone();
        let mut meters = vec![0u32; net.meters.len()];
        for (i, m) in net.meters.iter().enumerate() {
            let f = feeder_of(m);
            meters[fill[f] as usize] = i as u32;
            fill[f] += 1;
        }
        let n_t = net.transformers.len();
        let mut t_offsets = vec![0u32; n_t + 1];
        for m in &net.meters {
            t_offsets[m.transformer as usize + 1] += 1;
        }
        for t in 0..n_t {
            t_offsets[t + 1] += t_offsets[t];
        }
        let mut t_fill = t_offsets.clone();
        let mut t_meters = vec![0u32; net.meters.len()];
        for (i, m) in net.meters.iter().enumerate() {
            let t = m.transformer as usize;
            t_meters[t_fill[t] as usize] = i as u32;
            t_fill[t] += 1;
        }
        let on = FeederSupply {
            energized: true,
            cause: Cause::Outage,
            off_us_in_interval: 0,
            changed_at_us: 0,
            out_since: SimTime::ZERO,
            pickup: None,
        };
        GridState {
            feeders: vec![on; n],
            transformers: vec![on; n_t],
            transformer_feeder: net.transformers.iter().map(|t| t.feeder).collect(),
            transformer_offsets: t_offsets,
            transformer_meters: t_meters,
            supply_off_share: vec![0.0; n_t],
            supply_pickup: vec![1.0; n_t],
            supply_cause: vec![Cause::Outage; n_t],
            supplied: vec![true; n_t],
            offsets: counts,
            meters,
            off_share: vec![0.0; n],
            pickup_factor: vec![1.0; n],
            cold_load,
            losses: LossModel::typical(),
            transformer_kw: vec![0.0; net.transformers.len()],
            feeder_kw: vec![0.0; n],
            protection: Protection::typical(),
            relay_timer: vec![0.0; n],
            heating: vec![0.0; n_t],
            attack_load_mwh: Vec::new(),
        }
    }

    /// The meters feeder `f` supplies.
    pub fn meters_of(&self, f: u32) -> &[u32] {
        let f = f as usize;
        &self.meters[self.offsets[f] as usize..self.offsets[f + 1] as usize]
    }

    /// The meters transformer `t` supplies.
    pub fn meters_of_transformer(&self, t: u32) -> &[u32] {
        let t = t as usize;
        &self.transformer_meters[self.transformer_offsets[t] as usize..self.transformer_offsets[t + 1] as usize]
    }

    /// Switches feeder `f` off or on at `at` (`interval_start` is the start of the interval in
    /// progress). Returns whether anything changed.
    pub fn set(&mut self, f: u32, energized: bool, cause: Cause, at: SimTime, interval_start: SimTime) -> bool {
        let cold = self.cold_load;
        self.feeders
            .get_mut(f as usize)
            .is_some_and(|s| switch(s, energized, cause, at, interval_start, cold))
    }

    /// Switches transformer `t`'s own supply off or on at `at`, as [`GridState::set`] does a
    /// feeder's. Returns whether anything changed.
    pub fn set_transformer(
        &mut self,
        t: u32,
        energized: bool,
        cause: Cause,
        at: SimTime,
        interval_start: SimTime,
    ) -> bool {
        let cold = self.cold_load;
        self.transformers
            .get_mut(t as usize)
            .is_some_and(|s| switch(s, energized, cause, at, interval_start, cold))
    }

    /// Whether the premises behind transformer `t` have supply now (its feeder and itself
    /// energised).
    pub fn transformer_supplied(&self, t: u32) -> bool {
        let t = t as usize;
        self.transformers.get(t).is_some_and(|s| s.energized)
            && self
                .transformer_feeder
                .get(t)
                .is_some_and(|&f| self.feeders[f as usize].energized)
    }

    /// Computes every feeder's and transformer's outage share and pickup factor for the
    /// interval `[start, end)`, folds each feeder's into its transformers' (what the data plane
    /// reads), and resets the per-interval accounting for the next one.
    pub fn close_interval(&mut self, start: SimTime, end: SimTime) {
        let len = (end.0 - start.0) as f64;
        let tau = self.cold_load.decay.as_micros().max(1) as f64;
        for (f, s) in self.feeders.iter_mut().enumerate() {
            let (off, pickup) = close_one(s, start, end, len, tau);
            self.off_share[f] = off;
            self.pickup_factor[f] = pickup;
        }
        for (t, s) in self.transformers.iter_mut().enumerate() {
            let (own_off, own_pickup) = if s.energized && s.off_us_in_interval == 0 && s.pickup.is_none() {
                (0.0, 1.0)
            } else {
                close_one(s, start, end, len, tau)
            };
            let f = self.transformer_feeder[t] as usize;
            let feeder = &self.feeders[f];
            let feeder_off = self.off_share[f];
            self.supply_off_share[t] = 1.0 - (1.0 - feeder_off) * (1.0 - own_off);
            self.supply_pickup[t] = self.pickup_factor[f] * own_pickup;
            self.supply_cause[t] = if !feeder.energized || feeder_off > 0.0 {
                feeder.cause
            } else {
                s.cause
            };
            self.supplied[t] = feeder.energized && s.energized;
        }
    }

    /// Runs every energised feeder's overcurrent relay over the interval just closed (`len_s`
    /// seconds at the load in `feeder_kw`), and puts the feeders whose relay operates into
    /// `trips` with their load as a multiple of their rating.
    pub fn overcurrent(&mut self, net: &Network, len_s: f64, trips: &mut Vec<(u32, f32)>) {
        trips.clear();
        let p = self.protection;
        for (f, (timer, feeder)) in self.relay_timer.iter_mut().zip(&net.feeders).enumerate() {
            let rating = f64::from(feeder.rating_kw).max(1.0);
            let load = self.feeder_kw.get(f).copied().unwrap_or(0.0) / rating;
            let energized = self.feeders.get(f).is_some_and(|s| s.energized);
            let cold = self.pickup_factor.get(f).is_some_and(|&x| x > 1.0);
            let pickup = p.feeder_pickup * if cold { p.cold_load_pickup_multiplier } else { 1.0 };
            let operate = p.operating_time_s(load / pickup);
            if !energized || !operate.is_finite() {
                *timer = 0.0;
                continue;
            }
            *timer += (len_s / operate) as f32;
            if *timer >= 1.0 {
                *timer = 0.0;
                trips.push((f as u32, load as f32));
            }
        }
    }

    /// Heats or cools every transformer over the interval just closed (`len_s` seconds at its
    /// load in `transformer_kw`) and puts those whose thermal protection operates into `trips`
    /// with their loading as a multiple of their rating.
    pub fn thermal(&mut self, net: &Network, len_s: f64, trips: &mut Vec<(u32, f32)>) {
        trips.clear();
        let p = self.protection;
        let tau = p.transformer_time_constant.as_micros() as f64 / 1e6;
        let a = 1.0 - (-len_s / tau.max(1.0)).exp();
        let limit = p.transformer_trip_loading * p.transformer_trip_loading;
        for (t, (h, tr)) in self.heating.iter_mut().zip(&net.transformers).enumerate() {
            let kw = self.transformer_kw.get(t).copied().unwrap_or(0.0);
            let k = kw / self.losses.power_factor / f64::from(tr.rating_kva).max(1.0);
            let next = f64::from(*h) + (k * k - f64::from(*h)) * a;
            *h = next as f32;
            if next >= limit && self.supplied.get(t).copied().unwrap_or(false) {
                trips.push((t as u32, k as f32));
            }
        }
    }

    /// What a protection trip of `equipment` at the end of the interval last closed is booked
    /// to: the attack that pushed the equipment over its protection's threshold, or
    /// [`Cause::Outage`].
    ///
    /// The load attacks added in the interval is each attack's switched load behind the
    /// equipment (a botnet's devices behind its meters) and, while a restored supply's
    /// cold-load pickup lasts after an interruption an attack caused, that pickup's extra load.
    /// If the equipment's load without everything attacks added (for a feeder head, with the
    /// losses recomputed for that smaller load) lies below the threshold (a feeder: its relay's
    /// pickup, raised during cold-load pickup, times its rating; a transformer: its thermal trip
    /// loading times its rating), the attacks pushed it over and the trip is booked to the one
    /// that added the most (the lower index on a tie); otherwise it would have tripped anyway,
    /// and the trip is the grid's own (`outage`).
    pub fn trip_cause(&self, net: &Network, equipment: crate::records::Equipment) -> Cause {
        use crate::records::Equipment;
        let p = self.protection;
        // Per attack: the customer load it added, kW.
        let mut added: Vec<(u8, f64)> = Vec::new();
        let (load_kw, without_kw, limit_kw) = match equipment {
            Equipment::Feeder(f) => {
                let f_idx = f as usize;
                let (Some(feeder), Some(&load)) = (net.feeders.get(f_idx), self.feeder_kw.get(f_idx)) else {
                    return Cause::Outage;
                };
                let pickup = self.pickup_factor.get(f_idx).copied().unwrap_or(1.0);
                let cold_by = self.feeders.get(f_idx).and_then(|s| s.cause.attack());
                let mut below = 0.0;
                for (t, tr) in net.transformers.iter().enumerate().filter(|(_, tr)| tr.feeder == f) {
                    let kw = self.without_attacks_kw(t, pickup, cold_by, &mut added);
                    below += kw + self.losses.transformer_load_loss_kw(tr.rating_kva, kw);
                }
                let off = self.off_share.get(f_idx).copied().unwrap_or(0.0);
                below += f64::from(feeder.no_load_loss_kw) * f64::from(1.0 - off);
                let without = below + self.losses.feeder_load_loss_kw(feeder, below);
                let multiplier = if pickup > 1.0 {
                    p.cold_load_pickup_multiplier
                } else {
                    1.0
                };
                let rating = f64::from(feeder.rating_kw).max(1.0);
                (load, without, p.feeder_pickup * multiplier * rating)
            }
            Equipment::Transformer(t) => {
                let t_idx = t as usize;
                let (Some(tr), Some(&load)) = (net.transformers.get(t_idx), self.transformer_kw.get(t_idx)) else {
                    return Cause::Outage;
                };
                let pickup = self.supply_pickup.get(t_idx).copied().unwrap_or(1.0);
                let cold_by = self.supply_cause.get(t_idx).and_then(|c| c.attack());
                let without = self.without_attacks_kw(t_idx, pickup, cold_by, &mut added);
                let rating_kw = f64::from(tr.rating_kva).max(1.0) * self.losses.power_factor;
                (load, without, p.transformer_trip_loading * rating_kw)
            }
        };
        let largest = added
            .iter()
            .copied()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        match largest {
            Some((k, kw)) if kw > 0.0 && without_kw < limit_kw && load_kw >= without_kw => Cause::Attack(k),
            _ => Cause::Outage,
        }
    }

    /// Transformer `t`'s customer load in the interval last closed without the load attacks
    /// added, kW; adds each attack's part to `added` (see [`GridState::trip_cause`]). `pickup`
    /// is the cold-load pickup factor of its supply, and `cold_by` the attack that caused the
    /// interruption it follows, if one did.
    fn without_attacks_kw(&self, t: usize, pickup: f32, cold_by: Option<u8>, added: &mut Vec<(u8, f64)>) -> f64 {
        let mut add = |k: u8, kw: f64| match added.iter_mut().find(|(a, _)| *a == k) {
            Some((_, sum)) => *sum += kw,
            None => added.push((k, kw)),
        };
        let load = self.transformer_kw.get(t).copied().unwrap_or(0.0);
        let mut switched = 0.0;
        // The entries are sorted by transformer: find this one's.
        let first = self.attack_load_mwh.partition_point(|&(at, _, _)| (at as usize) < t);
        for &(_, k, mwh) in self.attack_load_mwh[first..]
            .iter()
            .take_while(|&&(at, _, _)| at as usize == t)
        {
            // mWh in a quarter-hour x 4 / 10^6 = mean kW.
            let kw = mwh as f64 * 4e-6;
            switched += kw;
            add(k, kw);
        }
        let mut without = (load - switched).max(0.0);
        if let (true, Some(k)) = (pickup > 1.0, cold_by) {
            let cold = without * (1.0 - 1.0 / f64::from(pickup));
            add(k, cold);
            without -= cold;
        }
        without
    }

    /// Feeders out now.
    pub fn feeders_out(&self) -> usize {
        self.feeders.iter().filter(|s| !s.energized).count()
    }
}

/// Switches one supply state at `at`; see [`GridState::set`].
fn switch(
    s: &mut FeederSupply,
    energized: bool,
    cause: Cause,
    at: SimTime,
    interval_start: SimTime,
    cold: ColdLoadPickup,
) -> bool {
    let offset = (at.0 - interval_start.0).min(INTERVAL.as_micros()) as u32;
    if s.energized == energized {
        return false;
    }
    if !s.energized {
        s.off_us_in_interval += offset - s.changed_at_us;
        let out_for = at.0 - s.out_since.0;
        let scale = (out_for as f64 / cold.full_after.as_micros().max(1) as f64).min(1.0);
        s.pickup = Some((at, cold.extra * scale));
    } else {
        s.cause = cause;
        s.out_since = at;
    }
    s.energized = energized;
    s.changed_at_us = offset;
    true
}

/// One supply state's outage share and pickup factor over `[start, end)` (`len` µs long,
/// cold-load time constant `tau` µs), resetting its per-interval accounting.
fn close_one(s: &mut FeederSupply, start: SimTime, end: SimTime, len: f64, tau: f64) -> (f32, f32) {
    let mut off = s.off_us_in_interval;
    if !s.energized {
        off += (INTERVAL.as_micros() as u32).saturating_sub(s.changed_at_us);
    }
    let off_share = (f64::from(off) / len).min(1.0) as f32;
    s.off_us_in_interval = 0;
    s.changed_at_us = 0;
    let pickup = match s.pickup {
        Some((restored, extra)) if s.energized && extra > 0.0 => {
            // Mean of 1 + extra * exp(-(t - restored) / tau) over the supplied part.
            let a = restored.0.max(start.0);
            let span = (end.0 - a) as f64;
            let e0 = (-((a - restored.0) as f64) / tau).exp();
            let e1 = (-((end.0 - restored.0) as f64) / tau).exp();
            if e1 < 1e-3 {
                s.pickup = None;
            }
            (1.0 + extra * tau / span * (e0 - e1)) as f32
        }
        _ => 1.0,
    };
    (off_share, pickup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CustomerClass, LinkKind};
    use crate::network::LinkParams;

    /// The standard-inverse relay: no operation at or below pickup, 3 s at twice the pickup
    /// with the default time multiplier; an interval above pickup trips a feeder, one below
    /// resets its timer, and a feeder that is out never trips.
    #[test]
    fn overcurrent_trips_above_pickup_only() {
        let p = Protection::typical();
        assert!(p.operating_time_s(1.0).is_infinite());
        assert!(
            (p.operating_time_s(2.0) - 3.01).abs() < 0.01,
            "{}",
            p.operating_time_s(2.0)
        );
        let net = Network::small(
            LinkParams::typical(),
            (0..10).map(|_| (CustomerClass::Residential, LinkKind::Cellular)),
        );
        let mut g = GridState::new(&net, ColdLoadPickup::typical());
        let rating = f64::from(net.feeders[0].rating_kw);
        let mut trips = Vec::new();
        g.feeder_kw[0] = rating * 1.4;
        g.overcurrent(&net, 900.0, &mut trips);
        assert!(trips.is_empty() && g.relay_timer[0] == 0.0, "below pickup");
        g.feeder_kw[0] = rating * 1.6;
        g.overcurrent(&net, 900.0, &mut trips);
        assert_eq!(trips.len(), 1);
        assert_eq!(trips[0].0, 0);
        assert!((trips[0].1 - 1.6).abs() < 1e-6);
        g.set(0, false, Cause::Outage, SimTime::ZERO, SimTime::ZERO);
        g.overcurrent(&net, 900.0, &mut trips);
        assert!(trips.is_empty(), "a feeder that is out does not trip");
    }

    /// A transformer at twice its rating trips once its heating passes 1.5 squared (2.5 h from
    /// cold with a 3 h time constant); at its rating it never trips.
    #[test]
    fn thermal_protection_trips_a_sustained_overload() {
        let net = Network::small(
            LinkParams::typical(),
            (0..10).map(|_| (CustomerClass::Residential, LinkKind::Cellular)),
        );
        let mut g = GridState::new(&net, ColdLoadPickup::typical());
        let rated_kw = f64::from(net.transformers[0].rating_kva) * g.losses.power_factor;
        let mut trips = Vec::new();
        g.transformer_kw[0] = rated_kw;
        for _ in 0..96 {
            g.thermal(&net, 900.0, &mut trips);
            assert!(trips.is_empty(), "rated load never trips");
        }
        g.heating[0] = 0.0;
        g.transformer_kw[0] = 2.0 * rated_kw;
        let mut intervals = 0;
        while trips.is_empty() && intervals < 100 {
            g.thermal(&net, 900.0, &mut trips);
            intervals += 1;
        }
        assert_eq!(intervals, 10, "2.5 h at twice the rating");
        assert_eq!(trips[0].0, 0);
        assert!((trips[0].1 - 2.0).abs() < 1e-5);
    }

    /// A transformer out on its own cuts only its premises; its feeder out cuts every
    /// transformer's, attributed to the feeder's cause.
    #[test]
    fn supply_is_folded_per_transformer() {
        let mut net = Network::small(
            LinkParams::typical(),
            (0..4).map(|_| (CustomerClass::Residential, LinkKind::Cellular)),
        );
        net.transformers.push(net.transformers[0]);
        net.meters[3].transformer = 1;
        let mut g = GridState::new(&net, ColdLoadPickup::typical());
        assert_eq!(
            (g.meters_of_transformer(0), g.meters_of_transformer(1)),
            (&[0, 1, 2][..], &[3][..])
        );
        let iv = SimTime(INTERVAL.as_micros());
        assert!(g.set_transformer(1, false, Cause::Attack(2), SimTime::ZERO, SimTime::ZERO));
        g.close_interval(SimTime::ZERO, iv);
        assert_eq!((g.supply_off_share[0], g.supply_off_share[1]), (0.0, 1.0));
        assert_eq!((g.supplied[0], g.supplied[1]), (true, false));
        assert_eq!(g.supply_cause[1], Cause::Attack(2));
        assert!(!g.transformer_supplied(1) && g.transformer_supplied(0));
        assert!(g.set(0, false, Cause::Operation, iv, iv));
        g.close_interval(iv, SimTime(2 * iv.0));
        assert_eq!((g.supply_off_share[0], g.supply_off_share[1]), (1.0, 1.0));
        assert_eq!(
            (g.supply_cause[0], g.supply_cause[1]),
            (Cause::Operation, Cause::Operation)
        );
    }

    #[test]
    fn outage_share_and_pickup_follow_the_clock() {
        let net = Network::small(
            LinkParams::typical(),
            (0..10).map(|_| (CustomerClass::Residential, LinkKind::Cellular)),
        );
        let mut g = GridState::new(&net, ColdLoadPickup::typical());
        assert_eq!(g.meters_of(0).len(), 10);
        let iv = INTERVAL.as_micros();
        // Out from 5 minutes into interval 0 until 5 hours later.
        let out = SimTime(5 * 60 * 1_000_000);
        assert!(g.set(0, false, Cause::Outage, out, SimTime::ZERO));
        g.close_interval(SimTime::ZERO, SimTime(iv));
        assert!((g.off_share[0] - 2.0 / 3.0).abs() < 1e-6);
        g.close_interval(SimTime(iv), SimTime(2 * iv));
        assert_eq!(g.off_share[0], 1.0);
        let back = SimTime(out.0 + 5 * 3_600_000_000);
        let interval_start = SimTime(back.0 / iv * iv);
        assert!(g.set(0, true, Cause::Outage, back, interval_start));
        g.close_interval(interval_start, SimTime(interval_start.0 + iv));
        assert!(g.off_share[0] > 0.0 && g.off_share[0] < 1.0);
        let first = g.pickup_factor[0];
        assert!(first > 1.5 && first < 1.6, "{first}");
        let mut t = interval_start.0 + iv;
        g.close_interval(SimTime(t), SimTime(t + iv));
        assert_eq!(g.off_share[0], 0.0);
        assert!(g.pickup_factor[0] < first && g.pickup_factor[0] > 1.0);
        for _ in 0..40 {
            t += iv;
            g.close_interval(SimTime(t), SimTime(t + iv));
        }
        assert_eq!(g.pickup_factor[0], 1.0, "pickup decays away");
    }
}
