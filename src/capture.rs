//! `traffic.pcapng`: the packets the network sensor saw, as a capture file real tools read
//! (Wireshark, tshark, Suricata, Zeek).
//!
//! The capture point is the IDS's: behind the utility's firewall, on the path of the HES
//! front end, its command server, the MDM and SCADA (see `defenses::wire` for how flow records
//! become packets). The file holds exactly the packets the built-in IDS observed, in the same
//! order, so Suricata run on it with the same rules raises the same alerts. Times are the
//! scenario's civil time taken as UTC. The same pass can write `flows.csv`, the capture's flows
//! with their labels ([`crate::flows`]).

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use crate::scenario::Scenario;
use amirange_defenses::wire::{self, Tap};
use amirange_sim::engine::Sim;
use amirange_sim::time::SimTime;
use pcap_file::DataLink;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};

/// The capture's file name in a result folder.
pub const FILE: &str = "traffic.pcapng";

/// A capture that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing {path}: {source}")]
pub struct CaptureError {
    /// The file.
    pub path: String,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaptureStats {
    /// Packets written.
    pub packets: u64,
    /// Bytes of packet data (frames, without the file's block overhead).
    pub frame_bytes: u64,
    /// Flows of `flows.csv`: benign, attack.
    pub flows: [u64; 2],
    /// Flows of `flows.csv` per `specific_class` (`benign` or the attack kind).
    pub classes: std::collections::BTreeMap<String, u64>,
}

/// Which files an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wanted {
    /// `traffic.pcapng`.
    pub capture: bool,
    /// `flows.csv` ([`crate::flows`]).
    pub flows: bool,
    /// `field.pcapng` and `field-keys.csv` ([`crate::field`]): streamed during the run by an
    /// interval observer, not by [`export`].
    pub field: bool,
}

/// Writes the packets of `sim`'s flow records before `horizon` into `dir` (the files `wanted`
/// names, created or replaced), in one pass over the wire. `horizon` is the sensor's last
/// horizon when the run had an IDS, so that the files hold exactly what it observed; otherwise
/// the engine's at the end of the run.
pub fn export(
    dir: &Path,
    scenario: &Scenario,
    sim: &Sim,
    horizon: SimTime,
    wanted: Wanted,
) -> Result<CaptureStats, CaptureError> {
    let error = |path: &Path| {
        let path = path.display().to_string();
        move |source: std::io::Error| CaptureError { path, source }
    };
    let pcap_path = dir.join(FILE);
    let flows_path = dir.join(crate::flows::FILE);
    let mut pcap = if wanted.capture {
        let file = File::create(&pcap_path).map_err(error(&pcap_path))?;
        Some(begin(BufWriter::with_capacity(1 << 20, file)).map_err(|e| pcap_error(e, &pcap_path))?)
    } else {
        None
    };
    let mut flows = if wanted.flows {
        let file = File::create(&flows_path).map_err(error(&flows_path))?;
        Some(
            crate::flows::FlowTable::new(BufWriter::with_capacity(1 << 20, file), scenario)
                .map_err(|e| csv_error(e, &flows_path))?,
        )
    } else {
        None
    };
    let start = &sim.config().start;
    let epoch_us = u64::try_from(start.unix_seconds()).unwrap_or(0) * 1_000_000;
    let blocked = |host: u32, at: u64| sim.outside_blocked(host, SimTime(at));
    let records = &sim.records().flows;
    let mut stats = CaptureStats::default();
    let mut pcap_failure: Option<pcap_file::PcapError> = None;
    let mut flows_failure: Option<csv::Error> = None;
    Tap::new().read(records, &blocked, horizon.0, &mut |seg| {
        if let Some(writer) = pcap.as_mut() {
            wire::frames(seg, &mut |time_us, frame| {
                if pcap_failure.is_some() {
                    return;
                }
                let block = EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp: Duration::from_micros(epoch_us + time_us),
                    original_len: frame.len() as u32,
                    data: Cow::Borrowed(frame),
                    options: Vec::new(),
                };
                match writer.write_pcapng_block(block) {
                    Ok(_) => {
                        stats.packets += 1;
                        stats.frame_bytes += frame.len() as u64;
                    }
                    Err(e) => pcap_failure = Some(e),
                }
            });
        }
        if let Some(table) = flows.as_mut()
            && flows_failure.is_none()
            && let Err(e) = table.segment(seg, records)
        {
            flows_failure = Some(e);
        }
    });
    if let Some(e) = pcap_failure {
        return Err(pcap_error(e, &pcap_path));
    }
    if let Some(e) = flows_failure {
        return Err(csv_error(e, &flows_path));
    }
    if let Some(writer) = pcap {
        let file = writer
            .into_inner()
            .into_inner()
            .map_err(|e| error(&pcap_path)(e.into_error()))?;
        file.sync_all().map_err(error(&pcap_path))?;
    }
    if let Some(table) = flows {
        stats.flows = table.counts;
        stats.classes = table.classes.clone();
        let file = table
            .finish()
            .map_err(|e| csv_error(e, &flows_path))?
            .into_inner()
            .map_err(|e| error(&flows_path)(e.into_error()))?;
        file.sync_all().map_err(error(&flows_path))?;
    }
    Ok(stats)
}

fn pcap_error(e: pcap_file::PcapError, path: &Path) -> CaptureError {
    CaptureError {
        path: path.display().to_string(),
        source: match e {
            pcap_file::PcapError::IoError(e) => e,
            other => std::io::Error::other(other),
        },
    }
}

fn csv_error(e: csv::Error, path: &Path) -> CaptureError {
    CaptureError {
        path: path.display().to_string(),
        source: std::io::Error::other(e),
    }
}

/// A pcapng writer on `out` with its section header (amirange and its version) and one
/// Ethernet interface, `name` and `description`, timestamps in nanoseconds: the start of every
/// capture amirange writes.
pub(crate) fn begin_pcapng<W: Write>(
    out: W,
    name: &'static str,
    description: String,
) -> Result<PcapNgWriter<W>, pcap_file::PcapError> {
    let section = SectionHeaderBlock {
        options: vec![SectionHeaderOption::UserApplication(Cow::Owned(format!(
            "amirange {}",
            env!("CARGO_PKG_VERSION")
        )))],
        ..SectionHeaderBlock::default()
    };
    let mut writer = PcapNgWriter::with_section_header(out, section)?;
    writer.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        options: vec![
            InterfaceDescriptionOption::IfName(Cow::Borrowed(name)),
            InterfaceDescriptionOption::IfDescription(Cow::Owned(description)),
            // pcap-file writes timestamps in nanoseconds.
            InterfaceDescriptionOption::IfTsResol(9),
        ],
    })?;
    Ok(writer)
}

/// A pcapng writer on `out` with its section header and the sensor's interface written.
fn begin<W: Write>(out: W) -> Result<PcapNgWriter<W>, pcap_file::PcapError> {
    begin_pcapng(
        out,
        "sensor",
        "amirange network sensor behind the utility's firewall (HES, MDM and SCADA zones)".to_owned(),
    )
}
