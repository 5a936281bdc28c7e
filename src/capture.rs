//! `traffic.pcapng`: the packets the network sensor saw, as a capture file real tools read
//! (Wireshark, tshark, Suricata, Zeek).
//!
//! The capture point is the IDS's: behind the utility's firewall, on the path of the HES
//! front end, its command server, the MDM and SCADA (see `defenses::wire` for how flow records
//! become packets). The file holds exactly the packets the built-in IDS observed, in the same
//! order, so Suricata run on it with the same rules raises the same alerts. Times are the
//! scenario's civil time taken as UTC.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

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

/// What a capture holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CaptureStats {
    /// Packets written.
    pub packets: u64,
    /// Bytes of packet data (frames, without the file's block overhead).
    pub frame_bytes: u64,
}

/// Writes the packets of `sim`'s flow records before `horizon` into `path` (created or
/// replaced). `horizon` is the sensor's last horizon when the run had an IDS, so that the file
/// holds exactly what it observed; otherwise the engine's at the end of the run.
pub fn write(path: &Path, sim: &Sim, horizon: SimTime) -> Result<CaptureStats, CaptureError> {
    let error = |source: std::io::Error| CaptureError {
        path: path.display().to_string(),
        source,
    };
    let file = File::create(path).map_err(error)?;
    let mut stats = CaptureStats::default();
    let written = write_to(BufWriter::with_capacity(1 << 20, file), sim, horizon, &mut stats).map_err(|e| match e {
        pcap_file::PcapError::IoError(e) => error(e),
        other => error(std::io::Error::other(other)),
    })?;
    let file = written.into_inner().map_err(|e| error(e.into_error()))?;
    file.sync_all().map_err(error)?;
    Ok(stats)
}

fn write_to<W: Write>(
    out: W,
    sim: &Sim,
    horizon: SimTime,
    stats: &mut CaptureStats,
) -> Result<W, pcap_file::PcapError> {
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
            InterfaceDescriptionOption::IfName(Cow::Borrowed("sensor")),
            InterfaceDescriptionOption::IfDescription(Cow::Borrowed(
                "amirange network sensor behind the utility's firewall (HES, MDM and SCADA zones)",
            )),
            // pcap-file writes timestamps in nanoseconds.
            InterfaceDescriptionOption::IfTsResol(9),
        ],
    })?;
    let start = &sim.config().start;
    let epoch_us = u64::try_from(start.date.days_since_epoch()).unwrap_or(0) * 86_400_000_000
        + u64::from(start.second_of_day) * 1_000_000;
    let blocked = |host: u32, at: u64| sim.outside_blocked(host, SimTime(at));
    let mut failure: Option<pcap_file::PcapError> = None;
    Tap::new().read(&sim.records().flows, &blocked, horizon.0, &mut |seg| {
        wire::frames(seg, &mut |time_us, frame| {
            if failure.is_some() {
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
                Err(e) => failure = Some(e),
            }
        });
    });
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(writer.into_inner())
}
