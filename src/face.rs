//! The fleet's DLMS/COSEM face: every meter's security state and every connection's protocol
//! state, so that bytes from a DLMS client become answers from the engine's meters and the
//! engine inputs their methods ask for. Used by `amirange gateway` ([`crate::gateway`]) and
//! by a live exercise's DLMS ports ([`crate::live`]); neither the socket nor the wall clock is
//! here.
//!
//! Meters are addressed by the wrapper's destination wPort through a connection's [`Window`]:
//! as a data concentrator addresses its meters, wPort `w` is meter `first + w - 1` (up to
//! 65,535 meters a port), or, for a port of one meter's own, wPort 1 is that meter. Every meter
//! accepts these clients:
//!
//! | client wPort | authentication | may |
//! | --- | --- | --- |
//! | 16 (public) | none | GET |
//! | 17 (only when a password is configured) | lowest level: the password | GET, ACTION |
//! | 1 | HLS-GMAC with suite 0 ciphering under the meter's keys ([`crate::cosem::meter_keys`]) | GET, ACTION |
//!
//! A meter the field network cannot reach now (no supply, radio or module down, jammed, no
//! path to a collector) answers nothing. With [`FaceConfig::loss`], an exchange with a meter it
//! reaches is lost as its path would lose it: the path's round-trip success `s` (a read's, as
//! the data plane draws it) is split evenly between the two ways, so the request is lost with
//! probability `1 - sqrt(s)` (the meter never sees it) and, if it got through, the answer too
//! (the meter acted; the client hears nothing). A lost exchange is answered by nothing, and
//! the client's own timeout and retry take over. A meter's security state (keys, invocation counters)
//! is made on first use and made again when its key version changes (a rotation): the old keys
//! then open nothing.

use std::collections::BTreeMap;

use amirange_dlms::server::{
    Authentication, ClientPolicy, Closed, Connection, Device, DeviceSecurity, Devices, Limits, Rights,
};
use amirange_sim::engine::{Input, Sim};
use amirange_sim::model::Cause;
use amirange_sim::rng::{Purpose, QuantileTable, Stream};

use crate::cosem::{EngineMeter, meter_keys, meter_system_title};
use crate::image_transfer::{ImageTransfer, MAX_TRANSFERS};

/// The public client's wPort.
pub const PUBLIC_CLIENT: u16 = 16;
/// The password client's wPort.
pub const PASSWORD_CLIENT: u16 = 17;
/// The HLS-GMAC client's wPort.
pub const HLS_CLIENT: u16 = 1;

/// How the meters answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceConfig {
    /// The password of client 17; without one, client 17 is not offered.
    pub password: Option<Vec<u8>>,
    /// Whether exchanges are lost as the meters' paths would lose them.
    pub loss: bool,
    /// Per-connection limits.
    pub limits: Limits,
}

/// The meters a port exposes: wPort `w` is meter `first + w - 1`, for `w` from 1 to `meters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The meter at wPort 1.
    pub first: u32,
    /// How many meters (at most 65,535).
    pub meters: u32,
}

impl Window {
    /// The meter at wPort `address`, if the window holds one there.
    pub fn meter(self, address: u16) -> Option<u32> {
        let offset = u32::from(address).checked_sub(1)?;
        (offset < self.meters).then(|| self.first.checked_add(offset)).flatten()
    }

    /// The wPort of `meter`, if the window holds it.
    pub fn wport(self, meter: u32) -> Option<u16> {
        let offset = meter.checked_sub(self.first)?;
        (offset < self.meters).then(|| u16::try_from(offset + 1).ok()).flatten()
    }

    /// Windows of at most 65,535 meters each that together expose `from` to `n_meters - 1`.
    pub fn blocks(from: u32, n_meters: u32) -> Vec<Window> {
        let block = u32::from(u16::MAX);
        (from..n_meters)
            .step_by(block as usize)
            .map(|first| Window {
                first,
                meters: (n_meters - first).min(block),
            })
            .collect()
    }
}

/// Who operates a meter, for the ground truth and the interruption's booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The ground truth's source (`"dlms"`, or a red team's attack id).
    pub source: String,
    /// What an interruption it causes is booked to.
    pub cause: Cause,
}

/// What one call of [`Face::receive`] gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// The bytes to send back, or why the connection must be closed.
    pub answer: Result<Vec<u8>, Closed>,
    /// The field network's round trip for the meters the bytes addressed (the longest, each
    /// drawn over its current path), simulated µs.
    pub round_trip_us: f64,
    /// Engine inputs the meters' methods asked for, for the caller to schedule at the engine's
    /// present (relay operations and their ground truth).
    pub inputs: Vec<Input>,
}

/// One meter's security state and the key version it was made for.
struct Secured {
    version: u16,
    security: DeviceSecurity,
}

/// The face's state.
pub struct Face {
    config: FaceConfig,
    securities: BTreeMap<u32, Secured>,
    /// Meters' image transfers, kept between requests (only those not at their default).
    transfers: BTreeMap<u32, ImageTransfer>,
    /// How many of them hold blocks (kept as they change, not counted per request).
    holding: usize,
    connections: BTreeMap<u64, Connection>,
    challenges: u64,
    /// Exchanges so far (keys each exchange's latency draw).
    exchanges: u64,
    normal: QuantileTable,
}

/// The meters as one call's bytes see them.
struct Meters<'a> {
    sim: &'a Sim,
    config: &'a FaceConfig,
    window: Window,
    securities: &'a mut BTreeMap<u32, Secured>,
    transfers: &'a mut BTreeMap<u32, ImageTransfer>,
    holding: &'a mut usize,
    operator: &'a dyn Fn(u32) -> Operator,
    current: Option<EngineMeter<'a>>,
    inputs: Vec<Input>,
    /// Exchanges with a meter so far (keys each exchange's draws).
    exchanges: u64,
    /// The meters addressed and the number of each exchange, for the answer's latency.
    addressed: Vec<(u32, u64)>,
    /// Whether the field network lost an answer of these bytes.
    answer_lost: bool,
}

impl Meters<'_> {
    /// Takes the current meter's inputs and puts its image transfer back.
    fn take_inputs(&mut self) {
        if let Some(meter) = self.current.as_mut() {
            self.inputs.append(&mut meter.inputs);
            let transfer = std::mem::take(&mut meter.transfer);
            *self.holding += usize::from(!transfer.is_idle());
            if transfer != ImageTransfer::default() {
                self.transfers.insert(meter.meter, transfer);
            }
        }
    }

    fn security_of(config: &FaceConfig, sim: &Sim, meter: u32) -> Option<DeviceSecurity> {
        let keys = meter_keys(sim, meter)?;
        let mut clients = vec![ClientPolicy {
            address: PUBLIC_CLIENT,
            authentication: Authentication::None,
            rights: Rights::Read,
        }];
        if let Some(password) = &config.password {
            clients.push(ClientPolicy {
                address: PASSWORD_CLIENT,
                authentication: Authentication::Password(password.clone()),
                rights: Rights::Manage,
            });
        }
        clients.push(ClientPolicy {
            address: HLS_CLIENT,
            authentication: Authentication::HlsGmac(keys),
            rights: Rights::Manage,
        });
        Some(DeviceSecurity::new(meter_system_title(meter), clients))
    }
}

impl Devices for Meters<'_> {
    fn device(&mut self, address: u16) -> Option<Device<'_>> {
        let meter = self.window.meter(address)?;
        self.meter_device(meter)
    }

    /// Through the gateway protocol, any meter of the fleet, whatever the port's window: network
    /// 0, physical address the meter's serial number (`AMR` and its index in 8 digits, as its
    /// device ID object reads).
    fn physical(&mut self, network: u8, address: &[u8]) -> Option<Device<'_>> {
        let meter = physical_meter(network, address)?;
        self.meter_device(meter)
    }
}

/// The meter a gateway-request names: network 0, the meter's serial number.
pub fn physical_meter(network: u8, address: &[u8]) -> Option<u32> {
    let digits = address
        .strip_prefix(b"AMR")
        .filter(|d| d.len() == 8 && d.iter().all(u8::is_ascii_digit))?;
    if network != 0 {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl<'a> Meters<'a> {
    /// Meter `meter` as a device, if the field network reaches it now.
    fn meter_device(&mut self, meter: u32) -> Option<Device<'_>> {
        // A meter the field network cannot reach now (no supply, radio down, jammed, no path)
        // answers nothing, as over a real concentrator.
        if meter as usize >= self.sim.n_meters() || !crate::cosem::meter_reachable(self.sim, meter) {
            return None;
        }
        self.exchanges += 1;
        if self.config.loss {
            let success = self
                .sim
                .net_state()
                .paths
                .get(meter as usize)
                .map_or(0.0, |p| p.success);
            let one_way = f64::from(success).clamp(0.0, 1.0).sqrt();
            let mut legs = Stream::new(
                self.sim.config().seed,
                Purpose::DlmsLoss,
                u64::from(meter),
                self.exchanges,
            );
            if !legs.bernoulli(one_way) {
                // The request never reached the meter.
                return None;
            }
            self.answer_lost |= !legs.bernoulli(one_way);
        }
        self.take_inputs();
        self.addressed.push((meter, self.exchanges));
        let version = *self.sim.fleet().key_version.get(meter as usize)?;
        // Made on first use (the keys are derived once), and again after a key rotation.
        let fresh = self.securities.get(&meter).is_none_or(|s| s.version != version);
        if fresh {
            let security = Self::security_of(self.config, self.sim, meter)?;
            self.securities.insert(meter, Secured { version, security });
        }
        let operator = (self.operator)(meter);
        let transfer = self.transfers.remove(&meter).unwrap_or_default();
        *self.holding -= usize::from(!transfer.is_idle());
        let may_start_transfer = *self.holding < MAX_TRANSFERS;
        self.current = Some(EngineMeter {
            sim: self.sim,
            meter,
            inputs: Vec::new(),
            source: operator.source,
            cause: operator.cause,
            transfer,
            may_start_transfer,
        });
        let security = &mut self.securities.get_mut(&meter)?.security;
        // Replays are refused exactly where the engine's replay model refuses them: frame
        // counters in the posture, and the meter not downgraded to the legacy level.
        security.check_counters = self.sim.fleet().checks_frames(meter);
        let objects = self.current.as_mut()?;
        Some(Device { security, objects })
    }
}

impl Face {
    /// A face with no connection yet.
    pub fn new(config: FaceConfig) -> Face {
        Face {
            config,
            securities: BTreeMap::new(),
            transfers: BTreeMap::new(),
            holding: 0,
            connections: BTreeMap::new(),
            challenges: 0,
            exchanges: 0,
            normal: QuantileTable::standard_normal(),
        }
    }

    /// How the meters answer.
    pub fn config(&self) -> &FaceConfig {
        &self.config
    }

    /// Takes bytes (any chunk of the byte stream) from connection `conn`, which reaches the
    /// meters of `window`, and answers them from `sim`'s meters as they are now; `operator`
    /// says who a meter's methods are booked to. On a closing error the connection is
    /// forgotten.
    pub fn receive(
        &mut self,
        sim: &Sim,
        conn: u64,
        window: Window,
        bytes: &[u8],
        operator: &dyn Fn(u32) -> Operator,
    ) -> Exchange {
        let limits = self.config.limits;
        let connection = self.connections.entry(conn).or_insert_with(|| Connection::new(limits));
        let seed = sim.config().seed;
        let challenges = &mut self.challenges;
        let mut challenge = || {
            *challenges += 1;
            Stream::new(seed, Purpose::DlmsChallenge, conn, *challenges)
                .next_u64()
                .to_be_bytes()
        };
        let mut meters = Meters {
            sim,
            config: &self.config,
            window,
            securities: &mut self.securities,
            transfers: &mut self.transfers,
            holding: &mut self.holding,
            operator,
            current: None,
            inputs: Vec::new(),
            exchanges: self.exchanges,
            addressed: Vec::new(),
            answer_lost: false,
        };
        let mut answer = connection.receive(bytes, &mut meters, &mut challenge);
        meters.take_inputs();
        let inputs = std::mem::take(&mut meters.inputs);
        let addressed = std::mem::take(&mut meters.addressed);
        self.exchanges = meters.exchanges;
        if meters.answer_lost
            && let Ok(bytes) = &mut answer
        {
            // The answers these bytes asked for travel back together, and were lost.
            bytes.clear();
        }
        let mut round_trip_us = 0.0f64;
        for (meter, exchange) in addressed {
            round_trip_us = round_trip_us.max(self.round_trip_us(sim, meter, exchange));
        }
        if answer.is_err() {
            self.connections.remove(&conn);
        }
        Exchange {
            answer,
            round_trip_us,
            inputs,
        }
    }

    /// One draw of a request's round trip to `meter` over its current path, simulated µs: the
    /// log-normal part of a read's latency as the data plane draws it (every hop's
    /// transmissions, both ways). The path's fixed part is left out: it is mostly the meter's
    /// place in its collector's polling queue during a read cycle, which an on-demand request
    /// does not wait through.
    fn round_trip_us(&self, sim: &Sim, meter: u32, exchange: u64) -> f64 {
        let Some(path) = sim.net_state().paths.get(meter as usize) else {
            return 0.0;
        };
        let mut stream = Stream::new(sim.config().seed, Purpose::DlmsLatency, u64::from(meter), exchange);
        let z = self.normal.sample(stream.next_u64());
        f64::from(amirange_sim::rng::exp_f32(path.mu + path.sigma * z))
    }

    /// Forgets connection `conn`; whether it held anything.
    pub fn close(&mut self, conn: u64) -> bool {
        self.connections.remove(&conn).is_some()
    }

    /// Connections with protocol state.
    pub fn connections(&self) -> usize {
        self.connections.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_map_wports_to_meters_both_ways_and_blocks_cover_the_fleet() {
        let w = Window { first: 100, meters: 3 };
        assert_eq!(
            (w.meter(0), w.meter(1), w.meter(3), w.meter(4)),
            (None, Some(100), Some(102), None)
        );
        assert_eq!(
            (w.wport(99), w.wport(100), w.wport(102), w.wport(103)),
            (None, Some(1), Some(3), None)
        );
        let blocks = Window::blocks(10, 200_000);
        assert_eq!(blocks.len(), 4);
        assert_eq!((blocks[0].first, blocks[0].meters), (10, 65_535));
        assert_eq!(
            (blocks[3].first, blocks[3].meters),
            (10 + 3 * 65_535, 200_000 - 10 - 3 * 65_535)
        );
        assert_eq!(blocks[3].meter(blocks[3].meters as u16), Some(199_999));
        assert!(Window::blocks(5, 5).is_empty());
        // The last meter a u32 can name.
        let top = Window {
            first: u32::MAX,
            meters: 1,
        };
        assert_eq!((top.meter(1), top.meter(2)), (Some(u32::MAX), None));
    }
}
