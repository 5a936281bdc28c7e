//! Meter security state: keys (per device or shared by a group), frame counters, firmware
//! (version, image hash, signed or not, verification at the meter), tamper flags, and the
//! relay's operating delay.
//!
//! The state lives in one resource of per-meter arrays ([`Fleet`]), because only the control
//! plane touches it, one meter at a time; the data plane never reads it.

use crate::field::FieldError;
use bevy_ecs::prelude::Resource;
use serde::Serialize;

use crate::time::SimDuration;

/// How meters' encryption and authentication keys are provisioned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum KeyModel {
    /// Every meter has its own key: extracting one key unlocks one meter.
    PerDevice,
    /// Meters share a key in groups of `size` consecutive meter numbers (a manufacturing lot
    /// or a provisioning batch): extracting one key unlocks the whole group.
    SharedGroup {
        /// Meters per group.
        size: u32,
    },
}

/// A firmware image the HES's firmware repository holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FirmwareImage {
    /// Version string, e.g. `"4.2.0"`.
    pub version: String,
    /// Hash of the image (a fingerprint; meters report it when asked).
    pub hash: u64,
    /// Whether the image carries a valid vendor signature.
    pub signed: bool,
    /// Size, bytes: what a transfer over the field network must carry.
    pub bytes: u32,
    /// What a meter running the image does beyond metering (nothing, for honest firmware).
    pub payload: Payload,
    /// The attack that built the image, if one did (ground truth: the meter does not know).
    pub owner: Option<u8>,
}

impl FirmwareImage {
    /// An honest image of `bytes` bytes.
    pub fn honest(version: &str, hash: u64, signed: bool, bytes: u32) -> FirmwareImage {
        FirmwareImage {
            version: version.to_owned(),
            hash,
            signed,
            bytes,
            payload: Payload::None,
            owner: None,
        }
    }
}

/// What a meter running an image does besides metering honestly: the behaviours a rogue image
/// can carry. Installing another image ends them (a bricked meter cannot install anything).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Payload {
    /// Nothing: the meter meters honestly.
    None,
    /// The register and interval data record only `share` of the true consumption (the
    /// feeder's true load does not change, so energy balance can see it).
    FalseReadings {
        /// Share of the true consumption recorded, 0 to 1.
        share: f32,
    },
    /// The meter's communication module stops for good: no reads, no commands, until a crew
    /// replaces it.
    Brick,
    /// The meter floods its collector's channel with junk frames: `bytes_per_interval` bytes
    /// every metering interval, queued ahead of the read cycle.
    Flood {
        /// Bytes sent per 15-minute interval.
        bytes_per_interval: u32,
    },
}

/// Tamper flags a meter raises (bits of [`Fleet::tamper`]).
pub mod tamper {
    /// The terminal cover was opened.
    pub const COVER_OPEN: u8 = 1;
    /// A strong magnetic field was detected.
    pub const MAGNETIC: u8 = 2;
    /// Energy flowed backwards through the meter.
    pub const REVERSE_FLOW: u8 = 4;
    /// The neutral was missing (a bypass symptom).
    pub const NEUTRAL_MISSING: u8 = 8;
}

/// The fleet's security posture and relay behaviour.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SecurityConfig {
    /// Key provisioning.
    pub keys: KeyModel,
    /// Whether meters verify a firmware image's signature before installing it.
    pub verify_firmware: bool,
    /// Whether meters check frame counters: a command whose counter is not above the last one
    /// the meter accepted (a replay) is refused.
    pub frame_counters: bool,
    /// Whether the HES's network is segmented from distribution SCADA (a firewall with no path
    /// from the HES to the feeder switches). Without it, a foothold on the HES can reach them.
    pub segmentation: bool,
    /// Whether meters authenticate the network they join (mutual authentication): a meter then
    /// refuses to attach to a rogue concentrator or base station, which cannot prove itself.
    pub mutual_auth: bool,
    /// Share of meters that still accept the legacy security level (no mutual authentication,
    /// no message authentication, no frame counters) when a peer asks for it: what a protocol
    /// downgrade exploits. Drawn per meter from the seed.
    pub legacy_share: f64,
    /// The image every meter runs at the start.
    pub installed: FirmwareImage,
    /// Time from a connect or disconnect command's arrival to the relay's operation
    /// (processing and the mechanical operation).
    pub relay_delay: SimDuration,
    /// Largest extra random delay before a connect or disconnect executes (uniform from zero);
    /// zero turns it off. Spreads a mass operation over time.
    pub random_delay_max: SimDuration,
    /// Time from a firmware image's arrival to the new image running (verification, reboot).
    pub firmware_activation: SimDuration,
}

impl SecurityConfig {
    /// Typical values: per-device keys, signed firmware verified at the meter, a relay that operates two seconds after the command arrives, no random delay
    /// (assumptions).
    pub fn typical() -> SecurityConfig {
        SecurityConfig {
            keys: KeyModel::PerDevice,
            verify_firmware: true,
            frame_counters: true,
            segmentation: true,
            mutual_auth: true,
            legacy_share: 0.0,
            installed: FirmwareImage::honest("4.1.0", 0x4100_0000_5eed_0001, true, 256 * 1024),
            relay_delay: SimDuration::from_secs(2),
            random_delay_max: SimDuration::ZERO,
            firmware_activation: SimDuration::from_secs(60),
        }
    }

    /// Checks every value; field paths are relative to the security section.
    pub fn check(&self) -> Result<(), FieldError> {
        if let KeyModel::SharedGroup { size } = self.keys
            && size < 2
        {
            return Err(FieldError::new(
                "keys.size",
                format!("a shared key group needs at least 2 meters, not {size}"),
            ));
        }
        if !(0.0..=1.0).contains(&self.legacy_share) {
            return Err(FieldError::new(
                "legacy_share",
                format!("must be between 0 and 1, not {}", self.legacy_share),
            ));
        }
        if self.installed.bytes == 0 {
            return Err(FieldError::new("firmware.image_kb", "must be more than zero"));
        }
        if self.relay_delay > SimDuration::from_hours(1) {
            return Err(FieldError::new("relay_delay", "at most 1h"));
        }
        if self.random_delay_max > SimDuration::from_days(1) {
            return Err(FieldError::new("random_delay_max", "at most 1d"));
        }
        if self.firmware_activation > SimDuration::from_hours(6) {
            return Err(FieldError::new("firmware_activation", "at most 6h"));
        }
        Ok(())
    }
}

/// Identifies a key: the group it belongs to and its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct KeyId {
    /// The key group (the meter's own number under per-device keys).
    pub group: u32,
    /// How many times it has been rotated.
    pub version: u16,
}

/// A replayed relay command's frame at one meter: which meter, and the frame counter it
/// carried (a replay attack's captured frames, and the frames meters refused or acted on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReplayedFrame {
    /// The meter the frame was heard from or replayed to.
    pub meter_idx: u32,
    /// The frame counter the frame carries.
    pub frame_counter: u32,
}

/// Per-meter security state of the whole fleet.
#[derive(Resource, Clone, Debug)]
pub struct Fleet {
    /// The provisioning model.
    pub keys: KeyModel,
    /// Key group of every meter.
    pub key_group: Vec<u32>,
    /// Key version of every meter (rotations so far).
    pub key_version: Vec<u16>,
    /// Last frame counter each meter accepted.
    pub frame_counter: Vec<u32>,
    /// Index into `images` of the firmware each meter runs.
    pub firmware: Vec<u16>,
    /// Tamper flags of each meter (see [`tamper`]).
    pub tamper: Vec<u8>,
    /// Meters whose communication module has failed (until replaced).
    pub failed: Vec<bool>,
    /// The firmware repository: every image known, the installed one first.
    pub images: Vec<FirmwareImage>,
    /// Whether meters verify firmware signatures.
    pub verify_firmware: bool,
    /// Per meter: the attack whose image it runs, as an attack code (0 for none, `k + 1` for
    /// attack `k`; ground truth, the meter does not know).
    pub compromised_by: Vec<u8>,
    /// Meters running an image with a [`Payload::Flood`].
    pub flooding: Vec<u32>,
    /// Images meters refused because the signature did not verify: (meter, image).
    pub refused_images: Vec<(u32, u16)>,
    /// Whether meters check frame counters.
    pub frame_counters: bool,
    /// Replayed frames meters refused because their counter was stale, in the order refused.
    pub refused_frames: Vec<ReplayedFrame>,
    /// Replayed frames meters acted on, in the order accepted.
    pub accepted_frames: Vec<ReplayedFrame>,
    /// Whether meters authenticate the network they join.
    pub mutual_auth: bool,
    /// Per meter: whether it still accepts the legacy security level.
    pub legacy: Vec<bool>,
    /// Per meter: the attack code of the attack that downgraded it to the legacy level (0 for
    /// none). A downgraded meter authenticates neither the network nor messages and checks no
    /// frame counters.
    pub downgraded_by: Vec<u8>,
    /// Downgrade requests meters refused (they accept no legacy level): (meter, attack code).
    pub refused_downgrades: Vec<(u32, u8)>,
    /// Meters that attached to a rogue concentrator: (meter, attack code).
    pub attached: Vec<(u32, u8)>,
    /// Meters that refused to attach to one (mutual authentication): (meter, attack code).
    pub refused_attach: Vec<(u32, u8)>,
    /// Commands a rogue concentrator forged that meters refused (message authentication):
    /// (meter, attack code).
    pub refused_forgeries: Vec<(u32, u8)>,
    /// Moves on whenever a meter's `firmware`, `failed` or `downgraded_by` changes (the engine
    /// moves it where it writes them), so that a census of those may skip a fleet that has
    /// not changed since its last pass.
    pub census_version: u64,
}

impl Fleet {
    /// A fleet of `n` meters as provisioned: keys by the model, every meter on the installed
    /// image, counters at zero, no tamper flags.
    pub fn new(n: usize, config: &SecurityConfig, seed: u64) -> Fleet {
        let key_group = match config.keys {
            KeyModel::PerDevice => (0..n as u32).collect(),
            KeyModel::SharedGroup { size } => (0..n as u32).map(|i| i / size).collect(),
        };
        Fleet {
            keys: config.keys,
            key_group,
            key_version: vec![0; n],
            frame_counter: vec![0; n],
            firmware: vec![0; n],
            tamper: vec![0; n],
            failed: vec![false; n],
            images: vec![config.installed.clone()],
            verify_firmware: config.verify_firmware,
            compromised_by: vec![0; n],
            flooding: Vec::new(),
            refused_images: Vec::new(),
            frame_counters: config.frame_counters,
            refused_frames: Vec::new(),
            accepted_frames: Vec::new(),
            mutual_auth: config.mutual_auth,
            legacy: (0..n as u64)
                .map(|m| {
                    config.legacy_share > 0.0
                        && crate::rng::Stream::new(seed, crate::rng::Purpose::SecurityLevel, m, 0)
                            .bernoulli(config.legacy_share)
                })
                .collect(),
            downgraded_by: vec![0; n],
            refused_downgrades: Vec::new(),
            attached: Vec::new(),
            refused_attach: Vec::new(),
            refused_forgeries: Vec::new(),
            census_version: 0,
        }
    }

    /// Whether meter `m` checks frame counters now (they are on, and it was not downgraded).
    pub fn checks_frames(&self, m: u32) -> bool {
        self.frame_counters && self.downgraded_by[m as usize] == 0
    }

    /// Meters running an image of attack `k` now.
    pub fn compromised(&self, k: u8) -> usize {
        let code = k.saturating_add(1);
        self.compromised_by.iter().filter(|&&c| c == code).count()
    }

    /// Whether meter `m` accepts `image`: always, unless meters verify signatures and the
    /// image is unsigned.
    pub fn accepts(&self, image: u16) -> bool {
        !self.verify_firmware || self.images.get(usize::from(image)).is_some_and(|i| i.signed)
    }

    /// The key meter `m` holds now.
    pub fn key_of(&self, m: u32) -> KeyId {
        KeyId {
            group: self.key_group[m as usize],
            version: self.key_version[m as usize],
        }
    }

    /// Every meter that holds the same key as meter `m` (itself included): what extracting
    /// `m`'s key unlocks. Under per-device keys that is `m` alone.
    pub fn meters_sharing_key(&self, m: u32) -> Vec<u32> {
        let key = self.key_of(m);
        match self.keys {
            KeyModel::PerDevice => vec![m],
            KeyModel::SharedGroup { size } => {
                let first = key.group * size;
                let last = (first + size).min(self.key_group.len() as u32);
                (first..last).filter(|&o| self.key_of(o) == key).collect()
            }
        }
    }

    /// Adds an image to the repository (or finds it by hash); returns its index.
    pub fn add_image(&mut self, image: FirmwareImage) -> u16 {
        if let Some(i) = self.images.iter().position(|x| x.hash == image.hash) {
            return i as u16;
        }
        self.images.push(image);
        (self.images.len() - 1) as u16
    }

    /// Meters per firmware image, in repository order.
    pub fn firmware_census(&self) -> Vec<u64> {
        let mut n = vec![0u64; self.images.len()];
        for &f in &self.firmware {
            n[usize::from(f)] += 1;
        }
        n
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.key_group.capacity() * 4
            + self.key_version.capacity() * 2
            + self.frame_counter.capacity() * 4
            + self.firmware.capacity() * 2
            + self.tamper.capacity()
            + self.failed.capacity()
            + self.compromised_by.capacity()
            + self.legacy.capacity()
            + self.downgraded_by.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_keys_are_known_and_per_device_keys_are_not_shared() {
        let mut config = SecurityConfig::typical();
        let per_device = Fleet::new(1000, &config, 7);
        assert_eq!(per_device.meters_sharing_key(17), vec![17]);
        config.keys = KeyModel::SharedGroup { size: 100 };
        let mut shared = Fleet::new(1000, &config, 7);
        let group: Vec<u32> = (100..200).collect();
        assert_eq!(shared.meters_sharing_key(150), group);
        assert_eq!(shared.meters_sharing_key(100), group);
        // A rotated meter no longer shares the old key, and the others no longer share its key.
        shared.key_version[150] += 1;
        assert_eq!(shared.meters_sharing_key(150), vec![150]);
        assert_eq!(shared.meters_sharing_key(151).len(), 99);
        // A partial last group.
        let small = Fleet::new(250, &config, 7);
        assert_eq!(small.meters_sharing_key(249).len(), 50);
    }
}
