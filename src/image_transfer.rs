//! A simulated meter's image transfer object (COSEM class 18, 0.0.44.0.0.255): a client sends
//! a firmware image in blocks, has the meter verify it, and activates it; activation becomes an
//! engine input ([`Input::TransferredFirmware`]) that installs the image as the engine's
//! firmware model has it.
//!
//! What the engine models of an image is its identity (the identifier the client gave, and a
//! hash of the bytes it sent), its size and whether it carries a vendor signature the meter
//! accepts. An image sent over DLMS is the client's own: it carries none, so a fleet that
//! verifies firmware signatures (`security.verify_firmware`) fails it at `image_verify`, and
//! one that does not installs it, to run nothing beyond metering (the engine cannot run a
//! client's code) while the firmware census and blue's detectors see an image that was never
//! released.
//!
//! Limits, each a policy choice: images of at most [`MAX_IMAGE_BYTES`] (the engine's own images
//! are a few hundred kilobytes), blocks of [`BLOCK_BYTES`] (so that a block with its ciphering
//! fits the meters' 1,024-byte APDUs), and at most [`MAX_TRANSFERS`] meters holding blocks at
//! once per DLMS face; the blocks are kept as they arrive, never allocated ahead, and dropped at
//! verification's failure or at activation.

use std::collections::BTreeMap;

use amirange_dlms::apdu::{GetResult, ResultCode};
use amirange_dlms::data::Data;
use amirange_dlms::obis::Obis;
use amirange_sim::engine::{Input, Sim};
use amirange_sim::model::Cause;
use amirange_sim::records::TruthRecord;
use amirange_sim::security::{FirmwareImage, Payload};
use sha2::{Digest, Sha256};

/// The image transfer object's logical name.
pub const IMAGE_TRANSFER: Obis = Obis([0, 0, 44, 0, 0, 255]);
/// The largest image a meter takes, bytes.
pub const MAX_IMAGE_BYTES: u32 = 1 << 20;
/// The block size the meter asks for (attribute 2), bytes.
pub const BLOCK_BYTES: u32 = 512;
/// Meters with a transfer under way at once, per DLMS face.
pub const MAX_TRANSFERS: usize = 64;
/// The longest image identifier, bytes.
const MAX_IDENTIFIER: usize = 48;

/// `image_transfer_status` (attribute 6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// No transfer initiated.
    #[default]
    NotInitiated = 0,
    /// Initiated: blocks may come.
    Initiated = 1,
    /// Verified: the image may be activated.
    Verified = 3,
    /// Verification failed (blocks missing, or no signature the meter accepts).
    VerificationFailed = 4,
    /// Activated: the engine installs it.
    Activated = 6,
}

/// One meter's image transfer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageTransfer {
    identifier: Vec<u8>,
    size: u32,
    blocks: BTreeMap<u32, Vec<u8>>,
    status: Status,
    /// The image's fingerprint, once verified.
    fingerprint: Option<u64>,
}

impl ImageTransfer {
    /// Whether it holds no blocks (it does not count against the face's limit).
    pub fn is_idle(&self) -> bool {
        self.blocks.is_empty()
    }

    fn block_count(&self) -> u32 {
        self.size.div_ceil(BLOCK_BYTES)
    }

    /// The first block not received yet (the block count when all are).
    fn first_missing(&self) -> u32 {
        (0..self.block_count())
            .find(|n| !self.blocks.contains_key(n))
            .unwrap_or(self.block_count())
    }

    /// The image's bytes, if every block came.
    fn image(&self) -> Option<Vec<u8>> {
        if self.first_missing() < self.block_count() {
            return None;
        }
        Some(self.blocks.values().flatten().copied().collect())
    }

    /// Reads attribute `attribute` (2 to 7).
    pub fn get(&self, attribute: i8) -> GetResult {
        GetResult::Data(match attribute {
            2 => Data::DoubleLongUnsigned(BLOCK_BYTES),
            3 => {
                let n = self.block_count() as usize;
                let mut bytes = vec![0u8; n.div_ceil(8)];
                for &b in self.blocks.keys() {
                    bytes[b as usize / 8] |= 0x80 >> (b % 8);
                }
                Data::BitString { bits: n, bytes }
            }
            4 => Data::DoubleLongUnsigned(self.first_missing()),
            5 => Data::Boolean(true),
            6 => Data::Enum(self.status as u8),
            7 => match (self.status, self.fingerprint) {
                (Status::Verified | Status::Activated, Some(fingerprint)) => Data::Array(vec![Data::Structure(vec![
                    Data::DoubleLongUnsigned(self.size),
                    Data::OctetString(self.identifier.clone()),
                    Data::OctetString(fingerprint.to_be_bytes().to_vec()),
                ])]),
                _ => Data::Array(Vec::new()),
            },
            _ => return GetResult::Error(ResultCode::OBJECT_UNDEFINED),
        })
    }

    /// Invokes method `method` (1 initiate, 2 block transfer, 3 verify, 4 activate) for meter
    /// `meter` of `sim`, by `source` booked to `cause`; `may_start` says whether a meter
    /// holding no blocks may take its first (the face's limit). Activation pushes the engine's
    /// inputs.
    #[allow(clippy::too_many_arguments, reason = "the call's whole context, each used once")]
    pub fn invoke(
        &mut self,
        method: i8,
        parameters: Option<&Data>,
        sim: &Sim,
        meter: u32,
        source: &str,
        cause: Cause,
        may_start: bool,
        inputs: &mut Vec<Input>,
    ) -> ResultCode {
        match (method, parameters) {
            (1, Some(Data::Structure(fields))) => {
                let [Data::OctetString(id), Data::DoubleLongUnsigned(size)] = fields.as_slice() else {
                    return ResultCode::TYPE_UNMATCHED;
                };
                if id.is_empty() || id.len() > MAX_IDENTIFIER || !(1..=MAX_IMAGE_BYTES).contains(size) {
                    return ResultCode::OTHER_REASON;
                }
                *self = ImageTransfer {
                    identifier: id.clone(),
                    size: *size,
                    blocks: BTreeMap::new(),
                    status: Status::Initiated,
                    fingerprint: None,
                };
                ResultCode::SUCCESS
            }
            (2, Some(Data::Structure(fields))) => {
                let [Data::DoubleLongUnsigned(n), Data::OctetString(bytes)] = fields.as_slice() else {
                    return ResultCode::TYPE_UNMATCHED;
                };
                if self.status != Status::Initiated {
                    return ResultCode::TEMPORARY_FAILURE;
                }
                let expected = if *n + 1 == self.block_count() {
                    self.size - n * BLOCK_BYTES
                } else {
                    BLOCK_BYTES
                };
                if *n >= self.block_count() || bytes.len() != expected as usize {
                    return ResultCode::OTHER_REASON;
                }
                if !may_start && self.blocks.is_empty() {
                    return ResultCode::TEMPORARY_FAILURE;
                }
                self.blocks.insert(*n, bytes.clone());
                ResultCode::SUCCESS
            }
            (3, _) => {
                if self.status == Status::NotInitiated {
                    return ResultCode::TEMPORARY_FAILURE;
                }
                // A client's image carries no vendor signature a verifying meter accepts.
                match self.image() {
                    Some(image) if !sim.fleet().verify_firmware => {
                        self.fingerprint = Some(hash(&image));
                        self.status = Status::Verified;
                        ResultCode::SUCCESS
                    }
                    _ => {
                        // Failed: the client starts again from `image_transfer_initiate`.
                        self.status = Status::VerificationFailed;
                        self.blocks.clear();
                        ResultCode::OTHER_REASON
                    }
                }
            }
            (4, _) => {
                let (Status::Verified, Some(fingerprint)) = (self.status, self.fingerprint) else {
                    return ResultCode::TEMPORARY_FAILURE;
                };
                let version = String::from_utf8_lossy(&self.identifier).into_owned();
                inputs.push(Input::TransferredFirmware {
                    meter,
                    image: Box::new(FirmwareImage {
                        version: version.clone(),
                        hash: fingerprint,
                        signed: false,
                        bytes: self.size,
                        payload: Payload::None,
                        owner: cause.attack(),
                    }),
                });
                inputs.push(Input::Truth(TruthRecord {
                    time: sim.now(),
                    source: source.to_owned(),
                    kind: "firmware-transfer".to_owned(),
                    detail: format!(
                        "image {version:?} ({} bytes, hash {fingerprint:016X}) transferred to meter {meter} over DLMS and activated",
                        self.size
                    ),
                    meters: vec![meter],
                }));
                self.status = Status::Activated;
                // The blocks are not needed any more.
                self.blocks.clear();
                ResultCode::SUCCESS
            }
            (1 | 2, _) => ResultCode::TYPE_UNMATCHED,
            _ => ResultCode::OBJECT_UNDEFINED,
        }
    }
}

/// An image's fingerprint as the engine keeps it: the first eight bytes of its SHA-256.
fn hash(image: &[u8]) -> u64 {
    let digest = Sha256::digest(image);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosem::EngineMeter;
    use crate::run::{Stepper, generate};
    use crate::scenario::{Overrides, load};
    use amirange_dlms::apdu::MethodDescriptor;
    use amirange_dlms::server::{Caller, Objects, Rights};
    use amirange_sim::time::SimTime;

    /// The quickstart's town cut to 100 meters, with meters that verify firmware signatures or
    /// not (and no defenses, whose presets set it).
    fn run(verify: bool) -> Stepper {
        let text = format!(
            "Scenario(name: \"t\", seed: 7, start: \"2026-01-15T00:00:00\", duration: \"2h\", \
             topology: Preset(\"town-10k\"), security: (verify_firmware: {verify}))"
        );
        let overrides = Overrides {
            meters: Some(100),
            ..Overrides::default()
        };
        let scenario = load("quickstart", &text, &overrides).expect("the scenario loads");
        let network = generate(&scenario).expect("a network");
        Stepper::new(&scenario, network, false).expect("a run")
    }

    const MANAGER: Caller = Caller {
        client: 17,
        rights: Rights::Manage,
        system_title: None,
        invocation_counter: None,
    };

    fn call(meter: &mut EngineMeter<'_>, caller: &Caller, method: i8, parameters: Data) -> ResultCode {
        let m = MethodDescriptor {
            class_id: 18,
            instance: IMAGE_TRANSFER,
            method,
        };
        meter.action(caller, &m, Some(&parameters)).0
    }

    /// Sends a 1,300-byte image named `red-1.0` in three blocks and asks the meter to verify
    /// it; returns the verification's result.
    fn send_image(meter: &mut EngineMeter<'_>) -> ResultCode {
        let image: Vec<u8> = (0..1300u32).map(|i| (i * 7 % 251) as u8).collect();
        let initiate = Data::Structure(vec![
            Data::OctetString(b"red-1.0".to_vec()),
            Data::DoubleLongUnsigned(1300),
        ]);
        assert_eq!(call(meter, &MANAGER, 1, initiate), ResultCode::SUCCESS);
        // A block of the wrong size, or past the image, is refused.
        let block = |n: u32, bytes: &[u8]| {
            Data::Structure(vec![Data::DoubleLongUnsigned(n), Data::OctetString(bytes.to_vec())])
        };
        assert_eq!(
            call(meter, &MANAGER, 2, block(0, &image[..100])),
            ResultCode::OTHER_REASON
        );
        assert_eq!(
            call(meter, &MANAGER, 2, block(3, &image[..10])),
            ResultCode::OTHER_REASON
        );
        for (n, chunk) in image.chunks(BLOCK_BYTES as usize).enumerate() {
            assert_eq!(call(meter, &MANAGER, 2, block(n as u32, chunk)), ResultCode::SUCCESS);
        }
        assert_eq!(
            meter.transfer.get(4),
            GetResult::Data(Data::DoubleLongUnsigned(3)),
            "every block came"
        );
        call(meter, &MANAGER, 3, Data::Integer(0))
    }

    #[test]
    fn an_image_sent_over_dlms_installs_where_meters_do_not_verify_signatures() {
        let mut stepper = run(false);
        let released = stepper.sim.fleet().firmware[4];
        let inputs = {
            let mut meter = EngineMeter {
                sim: &stepper.sim,
                meter: 4,
                inputs: Vec::new(),
                source: "red-clone-0".to_owned(),
                cause: Cause::Attack(0),
                transfer: ImageTransfer::default(),
                may_start_transfer: true,
            };
            // Reading is for everyone; the transfer is for a managing client.
            let reader = Caller {
                rights: Rights::Read,
                ..MANAGER
            };
            assert_eq!(
                call(&mut meter, &reader, 3, Data::Integer(0)),
                ResultCode::READ_WRITE_DENIED
            );
            assert_eq!(
                call(&mut meter, &MANAGER, 4, Data::Integer(0)),
                ResultCode::TEMPORARY_FAILURE
            );
            assert_eq!(send_image(&mut meter), ResultCode::SUCCESS);
            assert_eq!(
                meter.transfer.get(6),
                GetResult::Data(Data::Enum(Status::Verified as u8))
            );
            let GetResult::Data(Data::Array(info)) = meter.transfer.get(7) else {
                panic!("the image to activate");
            };
            assert_eq!(info.len(), 1);
            assert_eq!(call(&mut meter, &MANAGER, 4, Data::Integer(0)), ResultCode::SUCCESS);
            assert_eq!(
                meter.transfer.get(6),
                GetResult::Data(Data::Enum(Status::Activated as u8))
            );
            std::mem::take(&mut meter.inputs)
        };
        assert_eq!(inputs.len(), 2, "the image and its ground truth: {inputs:?}");
        let now = stepper.sim.now();
        for input in inputs {
            stepper.sim.schedule(now, input).expect("schedules");
        }
        stepper.step_to(SimTime(now.0 + 60_000_000)).expect("steps");
        let fleet = stepper.sim.fleet();
        let running = &fleet.images[usize::from(fleet.firmware[4])];
        assert_ne!(fleet.firmware[4], released);
        assert_eq!(
            (running.version.as_str(), running.signed, running.bytes),
            ("red-1.0", false, 1300)
        );
        assert_eq!(running.owner, Some(0), "booked to the attack that held the key");
        assert!(
            stepper
                .sim
                .records()
                .truth
                .iter()
                .any(|t| t.kind == "firmware-transfer" && t.meters == [4] && t.source == "red-clone-0")
        );
    }

    #[test]
    fn a_meter_that_verifies_signatures_fails_a_clients_image_and_the_limit_holds() {
        let stepper = run(true);
        let mut meter = EngineMeter {
            sim: &stepper.sim,
            meter: 4,
            inputs: Vec::new(),
            source: "dlms".to_owned(),
            cause: Cause::Operation,
            transfer: ImageTransfer::default(),
            may_start_transfer: true,
        };
        assert_eq!(send_image(&mut meter), ResultCode::OTHER_REASON);
        assert_eq!(
            meter.transfer.get(6),
            GetResult::Data(Data::Enum(Status::VerificationFailed as u8))
        );
        assert!(meter.transfer.is_idle(), "a failed image's blocks are dropped");
        assert_eq!(
            call(&mut meter, &MANAGER, 4, Data::Integer(0)),
            ResultCode::TEMPORARY_FAILURE
        );
        assert!(meter.inputs.is_empty());
        // Over the face's limit, a meter holding no blocks takes none.
        meter.may_start_transfer = false;
        let initiate = Data::Structure(vec![Data::OctetString(b"x".to_vec()), Data::DoubleLongUnsigned(10)]);
        assert_eq!(call(&mut meter, &MANAGER, 1, initiate), ResultCode::SUCCESS);
        let block = Data::Structure(vec![Data::DoubleLongUnsigned(0), Data::OctetString(vec![0; 10])]);
        assert_eq!(call(&mut meter, &MANAGER, 2, block), ResultCode::TEMPORARY_FAILURE);
        // Sizes out of range, and parameters of the wrong shape.
        let huge = Data::Structure(vec![
            Data::OctetString(b"x".to_vec()),
            Data::DoubleLongUnsigned(MAX_IMAGE_BYTES + 1),
        ]);
        assert_eq!(call(&mut meter, &MANAGER, 1, huge), ResultCode::OTHER_REASON);
        assert_eq!(
            call(&mut meter, &MANAGER, 1, Data::Integer(0)),
            ResultCode::TYPE_UNMATCHED
        );
        assert_eq!(
            call(&mut meter, &MANAGER, 9, Data::Integer(0)),
            ResultCode::OBJECT_UNDEFINED
        );
    }
}
