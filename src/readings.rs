//! The per-meter readings export (`amirange run --export readings`): every meter's 15-minute
//! true and reported energy, streamed to `readings.parquet` while the run goes.
//!
//! [`ReadingsExport`] is an [`IntervalObserver`]: at every interval close the engine hands it
//! a read-only view, and it keeps what it needs of each meter. An interval's row is written
//! when the MDM's value for it is final: a read cycle is at most 16 intervals and a meter
//! remembers its last 16 intervals ([`LOAD_PROFILE_DEPTH`]), so once interval `s + 15` has
//! closed, no later read can bring the MDM anything for interval `s`. The export therefore
//! holds 16 intervals of two small numbers per meter, never the table; rows go to the file in
//! row groups of whole intervals (about [`ROW_GROUP_ROWS`] rows), and the last 15 intervals
//! are written from the world's state at the end of the run ([`ReadingsExport::finish`]).
//!
//! Watching changes nothing in the run: the export only reads, and the results of a run are
//! the same with or without it. The file is deterministic (rows in (time, meter) order, no
//! wall time in its metadata, a fixed `created_by`), so runs on any number of threads write
//! the same bytes. Columns and their meaning are in `docs/results.md`.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use amirange_sim::engine::{IntervalClose, IntervalObserver, Sim};
use amirange_sim::model::{Cause, CustomerClass, LOAD_PROFILE_DEPTH, LinkKind, Relay};
use amirange_sim::network::Network;
use parquet::basic::Compression;
use parquet::column::writer::ColumnWriterImpl;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DataType, DoubleType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;

use crate::scenario::Scenario;

/// The file's name in the result folder.
pub const FILE: &str = "readings.parquet";

/// Rows per row group, about: a row group holds whole intervals, and is written once it holds
/// at least this many rows (a 1M-meter run writes one interval per row group).
pub const ROW_GROUP_ROWS: usize = 1 << 17;

/// Strings made at a time when a text column is written.
const STRING_CHUNK: usize = 1 << 14;

/// Label bit: the meter's premise took energy past it (a bypass, a magnet, or a clone that
/// under-reports for theft) at the interval's end.
pub const LABEL_THEFT: u8 = 1;
/// Label bit: the meter's reports came from a clone made with its extracted key.
pub const LABEL_CLONE: u8 = 2;
/// Label bit: the meter's reports were falsified without theft (firmware reporting false
/// readings, a clone inflating or deflating them).
pub const LABEL_FALSIFIED: u8 = 4;
/// Label bit: the meter's relay was held open by an attack at the interval's end.
pub const LABEL_DISCONNECTED: u8 = 8;
/// Label bit: the meter ran an attack's firmware or had been downgraded by one.
pub const LABEL_COMPROMISED: u8 = 16;

/// The label bits with their names, in bit order (the `labels` column joins the names of the
/// bits set with `,`).
pub const LABELS: [(u8, &str); 5] = [
    (LABEL_THEFT, "theft"),
    (LABEL_CLONE, "clone"),
    (LABEL_FALSIFIED, "falsified"),
    (LABEL_DISCONNECTED, "disconnected"),
    (LABEL_COMPROMISED, "compromised"),
];

/// The file's schema (Parquet message type).
const SCHEMA: &str = "message readings {
  required int32 meter (INTEGER(32,false));
  required int64 time (TIMESTAMP(MILLIS,true));
  required double true_kwh;
  required double reported_kwh;
  required boolean estimated;
  required binary class (STRING);
  required int32 feeder (INTEGER(32,false));
  required int32 transformer (INTEGER(32,false));
  required binary link (STRING);
  required int32 attack_labels (INTEGER(8,false));
  required binary labels (STRING);
}";

/// An error writing the readings file.
#[derive(Debug, thiserror::Error)]
pub enum ReadingsError {
    /// The Parquet writer failed.
    #[error("writing {FILE}: {0}")]
    Parquet(#[from] ParquetError),
    /// The file could not be created, written or synced.
    #[error("writing {FILE}: {0}")]
    Io(#[from] std::io::Error),
    /// The run ended before the export was finished, or it was finished twice.
    #[error("{FILE} was already finished")]
    Finished,
}

/// What one interval's rows need of every meter, by meter index.
#[derive(Debug, Default)]
struct Interval {
    /// True energy, mWh.
    true_mwh: Vec<u64>,
    /// The label bits.
    labels: Vec<u8>,
}

/// The rows of the row group being gathered, column by column.
#[derive(Debug, Default)]
struct Columns {
    meter: Vec<i32>,
    time: Vec<i64>,
    true_kwh: Vec<f64>,
    reported_kwh: Vec<f64>,
    estimated: Vec<bool>,
    /// Index into [`CustomerClass::ALL`] (the strings are made as the group is written).
    class: Vec<u8>,
    feeder: Vec<i32>,
    transformer: Vec<i32>,
    /// Index into [`LinkKind::ALL`].
    link: Vec<u8>,
    /// The label bits (also the index of the `labels` text).
    attack_labels: Vec<u8>,
}

impl Columns {
    fn len(&self) -> usize {
        self.meter.len()
    }

    /// Empties every column, keeping its allocation for the next row group.
    fn clear(&mut self) {
        self.meter.clear();
        self.time.clear();
        self.true_kwh.clear();
        self.reported_kwh.clear();
        self.estimated.clear();
        self.class.clear();
        self.feeder.clear();
        self.transformer.clear();
        self.link.clear();
        self.attack_labels.clear();
    }

    /// Makes room for `more` rows in every column at once, so that no column grows by doubling
    /// (which would hold its old and new buffers together).
    fn reserve(&mut self, more: usize) {
        self.meter.reserve(more);
        self.time.reserve(more);
        self.true_kwh.reserve(more);
        self.reported_kwh.reserve(more);
        self.estimated.reserve(more);
        self.class.reserve(more);
        self.feeder.reserve(more);
        self.transformer.reserve(more);
        self.link.reserve(more);
        self.attack_labels.reserve(more);
    }
}

/// The export's state between interval closes.
struct State {
    writer: Option<SerializedFileWriter<BufWriter<File>>>,
    /// The first error; the export stops at it, and [`ReadingsExport::finish`] returns it.
    error: Option<ReadingsError>,
    /// Meters.
    n: usize,
    /// The run's start, ms since 1970-01-01 UTC.
    start_ms: i64,
    /// Per meter: its class and link kind (indices), feeder and transformer.
    class: Vec<u8>,
    link: Vec<u8>,
    /// The names of the classes and of the link kinds, by index.
    class_names: Vec<ByteArray>,
    link_names: Vec<ByteArray>,
    feeder: Vec<u32>,
    transformer: Vec<u32>,
    /// The `labels` text of every combination of bits.
    label_names: Vec<ByteArray>,
    /// Per attack (by index in the scenario): whether it is a meter-cloning attack.
    cloning: Vec<bool>,
    /// Per meter: the register at the last close, Wh.
    register_wh: Vec<f64>,
    /// Per transformer: the true energy its premises took up to the last close, mWh.
    transformer_mwh: Vec<u64>,
    /// The last [`LOAD_PROFILE_DEPTH`] intervals, by slot modulo the depth.
    ring: Vec<Interval>,
    /// Intervals closed so far.
    closed: u32,
    /// The first interval not yet written.
    next_row: u32,
    /// Scratch: the MDM's final value (Wh) and whether it is estimated, per meter.
    reported: Vec<(u64, bool)>,
    /// Scratch: meters whose true energy the register does not show this interval (their
    /// reports carry none of it), and per transformer the true energy of the others, mWh.
    hidden: Vec<u32>,
    known_mwh: Vec<u64>,
    rows: Columns,
}

/// Streams every meter's 15-minute readings to a Parquet file; add it to the engine with
/// [`Sim::add_interval_observer`] before the run, and call [`ReadingsExport::finish`] with the
/// engine at the end.
pub struct ReadingsExport {
    state: Mutex<State>,
}

impl ReadingsExport {
    /// Creates the file at `path` for a run of `scenario` on `network`.
    pub fn create(path: &Path, scenario: &Scenario, network: &Network) -> Result<ReadingsExport, ReadingsError> {
        let schema = Arc::new(parse_message_type(SCHEMA)?);
        let properties = WriterProperties::builder()
            .set_writer_version(WriterVersion::PARQUET_1_0)
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("amirange {}", env!("CARGO_PKG_VERSION")))
            .set_statistics_enabled(EnabledStatistics::Chunk)
            // Dictionaries only where values repeat (the reported energy is whole Wh); the true
            // energy and the meter index are nearly all distinct, and trying a dictionary on
            // them costs time and memory.
            .set_dictionary_enabled(false)
            .set_column_dictionary_enabled(ColumnPath::from("time"), true)
            .set_column_dictionary_enabled(ColumnPath::from("reported_kwh"), true)
            .set_column_dictionary_enabled(ColumnPath::from("class"), true)
            .set_column_dictionary_enabled(ColumnPath::from("feeder"), true)
            .set_column_dictionary_enabled(ColumnPath::from("transformer"), true)
            .set_column_dictionary_enabled(ColumnPath::from("link"), true)
            .set_column_dictionary_enabled(ColumnPath::from("attack_labels"), true)
            .set_column_dictionary_enabled(ColumnPath::from("labels"), true)
            .set_max_row_group_row_count(None)
            .build();
        let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
        let writer = SerializedFileWriter::new(file, schema, Arc::new(properties))?;
        let class_names = CustomerClass::ALL
            .iter()
            .map(|c| ByteArray::from(c.name().as_bytes().to_vec()))
            .collect();
        let link_names = LinkKind::ALL
            .iter()
            .map(|k| ByteArray::from(k.name().as_bytes().to_vec()))
            .collect();
        let label_names = (0..32u8)
            .map(|bits| {
                let names: Vec<&str> = LABELS
                    .iter()
                    .filter(|(bit, _)| bits & bit != 0)
                    .map(|(_, name)| *name)
                    .collect();
                ByteArray::from(names.join(",").into_bytes())
            })
            .collect();
        let start = scenario.sim.start;
        let start_ms = start.unix_seconds() * 1000;
        let n = network.meters.len();
        let ring = (0..LOAD_PROFILE_DEPTH)
            .map(|_| Interval {
                true_mwh: vec![0; n],
                labels: vec![0; n],
            })
            .collect();
        Ok(ReadingsExport {
            state: Mutex::new(State {
                writer: Some(writer),
                error: None,
                n,
                start_ms,
                class: network.meters.iter().map(|m| m.class.index() as u8).collect(),
                link: network.meters.iter().map(|m| m.link.index() as u8).collect(),
                class_names,
                link_names,
                feeder: network
                    .meters
                    .iter()
                    .map(|m| network.transformers.get(m.transformer as usize).map_or(0, |t| t.feeder))
                    .collect(),
                transformer: network.meters.iter().map(|m| m.transformer).collect(),
                label_names,
                cloning: scenario
                    .attacks
                    .iter()
                    .map(|a| a.tags().kind == amirange_attackers::cloning::TAGS.kind)
                    .collect(),
                register_wh: vec![0.0; n],
                transformer_mwh: vec![0; network.transformers.len()],
                ring,
                closed: 0,
                next_row: 0,
                reported: vec![(0, false); n],
                hidden: Vec::new(),
                known_mwh: vec![0; network.transformers.len()],
                rows: Columns::default(),
            }),
        })
    }

    /// Writes the intervals not yet written, from the world's state at the end of the run, and
    /// completes the file (synced to disk).
    pub fn finish(&self, sim: &Sim) -> Result<(), ReadingsError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(error) = state.error.take() {
            return Err(error);
        }
        while state.next_row < state.closed {
            let slot = state.next_row;
            state.final_values(sim, slot);
            state.push_rows(slot);
            state.next_row += 1;
            // Row groups of the same size as during the run: gathering the last 15 intervals
            // into one would hold 15 intervals of rows (about 600 MB at a million meters).
            if state.rows.len() >= ROW_GROUP_ROWS {
                state.flush()?;
            }
        }
        state.flush()?;
        let writer = state.writer.take().ok_or(ReadingsError::Finished)?;
        let file = writer.into_inner()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(())
    }
}

impl State {
    /// Takes in the interval `slot` that just closed: every meter's true energy and labels,
    /// and, once the MDM's values for interval `slot - 15` are final, that interval's rows.
    fn interval_closed(&mut self, sim: &Sim, slot: u32) -> Result<(), ReadingsError> {
        let depth = LOAD_PROFILE_DEPTH as u32;
        let fleet = sim.fleet();
        let now = &mut self.ring[slot as usize % LOAD_PROFILE_DEPTH];
        let (register_wh, known_mwh, hidden, cloning) = (
            &mut self.register_wh,
            &mut self.known_mwh,
            &mut self.hidden,
            &self.cloning,
        );
        let transformer = &self.transformer;
        known_mwh.iter_mut().for_each(|v| *v = 0);
        hidden.clear();
        let final_slot = (slot + 1).checked_sub(depth);
        let reported = &mut self.reported;
        sim.visit_meters(|m, premise, meter, memory, record| {
            let i = m as usize;
            if i >= register_wh.len() {
                return;
            }
            let delta = meter.register_wh - register_wh[i];
            register_wh[i] = meter.register_wh;
            let share = f64::from(meter.register_share);
            if share > 0.0 {
                // The data plane adds `true * share` to the register, and the share in force at
                // the close is the one it used for the whole interval.
                let mwh = ((delta / share).max(0.0) * 1000.0 + 0.5) as u64;
                now.true_mwh[i] = mwh;
                if let Some(t) = known_mwh.get_mut(transformer[i] as usize) {
                    *t += mwh;
                }
            } else {
                now.true_mwh[i] = 0;
                hidden.push(m);
            }
            let mut bits = 0u8;
            if meter.skew_by != 0 {
                bits |= if meter.skew_theft { LABEL_THEFT } else { LABEL_FALSIFIED };
                if cloning.get(usize::from(meter.skew_by - 1)).copied().unwrap_or(false) {
                    bits |= LABEL_CLONE;
                }
            }
            if meter.relay == Relay::Open && matches!(meter.relay_cause, Cause::Attack(_)) {
                bits |= LABEL_DISCONNECTED;
            }
            if fleet.compromised_by.get(i).is_some_and(|&by| by != 0)
                || fleet.downgraded_by.get(i).is_some_and(|&by| by != 0)
            {
                bits |= LABEL_COMPROMISED;
            }
            now.labels[i] = bits;
            if let Some(s) = final_slot {
                reported[i] = final_value(sim, premise, memory, record, s);
            }
        });
        self.attribute_hidden(sim, slot);
        self.closed = slot + 1;
        if let Some(s) = final_slot {
            self.push_rows(s);
            self.next_row = s + 1;
            if self.rows.len() >= ROW_GROUP_ROWS {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Meters whose register shows none of their consumption (a full bypass): their true
    /// energy is what their transformer's premises took less what the others took, shared
    /// equally among such meters of the transformer.
    fn attribute_hidden(&mut self, sim: &Sim, slot: u32) {
        let energies = &sim.records().transformer_mwh;
        let slot = slot as usize % LOAD_PROFILE_DEPTH;
        let mut per_transformer = vec![0u64; 0];
        if !self.hidden.is_empty() {
            self.hidden.sort_unstable();
            per_transformer = vec![0; self.transformer_mwh.len()];
            for &m in &self.hidden {
                if let Some(c) = per_transformer.get_mut(self.transformer[m as usize] as usize) {
                    *c += 1;
                }
            }
        }
        for (t, energy) in energies.iter().enumerate() {
            let Some(before) = self.transformer_mwh.get_mut(t) else {
                continue;
            };
            let delta = energy.true_mwh.saturating_sub(*before);
            *before = energy.true_mwh;
            if let Some(&count) = per_transformer.get(t)
                && count > 0
            {
                let rest = delta.saturating_sub(self.known_mwh[t]) / count;
                for &m in &self.hidden {
                    if self.transformer[m as usize] as usize == t {
                        self.ring[slot].true_mwh[m as usize] = rest;
                    }
                }
            }
        }
    }

    /// Every meter's final MDM value for interval `slot`, from the world now (the end of the
    /// run, or the close of interval `slot + 15`), into `self.reported`.
    fn final_values(&mut self, sim: &Sim, slot: u32) {
        let reported = &mut self.reported;
        sim.visit_meters(|m, premise, _, memory, record| {
            if let Some(r) = reported.get_mut(m as usize) {
                *r = final_value(sim, premise, memory, record, slot);
            }
        });
    }

    /// Appends interval `slot`'s rows, meter by meter, from the ring and `self.reported`.
    fn push_rows(&mut self, slot: u32) {
        let interval = &self.ring[slot as usize % LOAD_PROFILE_DEPTH];
        let time = self.start_ms + i64::from(slot) * 900_000;
        let rows = &mut self.rows;
        rows.reserve(self.n);
        for i in 0..self.n {
            let (reported_wh, estimated) = self.reported[i];
            let bits = interval.labels[i];
            rows.meter.push(i as u32 as i32);
            rows.time.push(time);
            rows.true_kwh.push(interval.true_mwh[i] as f64 / 1e6);
            rows.reported_kwh.push(reported_wh as f64 / 1e3);
            rows.estimated.push(estimated);
            rows.class.push(self.class[i]);
            rows.feeder.push(self.feeder[i] as i32);
            rows.transformer.push(self.transformer[i] as i32);
            rows.link.push(self.link[i]);
            rows.attack_labels.push(bits);
        }
    }

    /// Writes the gathered rows as one row group.
    fn flush(&mut self) -> Result<(), ReadingsError> {
        if self.rows.len() == 0 {
            return Ok(());
        }
        let writer = self.writer.as_mut().ok_or(ReadingsError::Finished)?;
        let mut group = writer.next_row_group()?;
        let rows = &self.rows;
        let mut index = 0;
        while let Some(mut column) = group.next_column()? {
            match index {
                0 => write_all(column.typed::<Int32Type>(), &rows.meter)?,
                1 => write_all(column.typed::<Int64Type>(), &rows.time)?,
                2 => write_all(column.typed::<DoubleType>(), &rows.true_kwh)?,
                3 => write_all(column.typed::<DoubleType>(), &rows.reported_kwh)?,
                4 => write_all(column.typed::<BoolType>(), &rows.estimated)?,
                5 => write_names(column.typed::<ByteArrayType>(), &rows.class, &self.class_names)?,
                6 => write_all(column.typed::<Int32Type>(), &rows.feeder)?,
                7 => write_all(column.typed::<Int32Type>(), &rows.transformer)?,
                8 => write_names(column.typed::<ByteArrayType>(), &rows.link, &self.link_names)?,
                9 => {
                    let bits: Vec<i32> = rows.attack_labels.iter().map(|&b| i32::from(b)).collect();
                    write_all(column.typed::<Int32Type>(), &bits)?;
                }
                _ => write_names(column.typed::<ByteArrayType>(), &rows.attack_labels, &self.label_names)?,
            }
            column.close()?;
            index += 1;
        }
        group.close()?;
        self.rows.clear();
        Ok(())
    }
}

/// Writes `values` to a required column.
fn write_all<T: DataType>(column: &mut ColumnWriterImpl<'_, T>, values: &[T::T]) -> Result<(), ParquetError> {
    column.write_batch(values, None, None)?;
    Ok(())
}

/// Writes a text column from codes: each code's name from `names`, made a chunk at a time so
/// that the row group's rows stay a few bytes each until they are written.
fn write_names(
    column: &mut ColumnWriterImpl<'_, ByteArrayType>,
    codes: &[u8],
    names: &[ByteArray],
) -> Result<(), ParquetError> {
    for chunk in codes.chunks(STRING_CHUNK) {
        let values: Vec<ByteArray> = chunk
            .iter()
            .map(|&code| names.get(usize::from(code)).cloned().unwrap_or_default())
            .collect();
        column.write_batch(&values, None, None)?;
    }
    Ok(())
}

/// The MDM's final value for one meter's interval `slot` (Wh) and whether it is estimated:
/// the interval energy the meter recorded when the MDM got it from the meter (on time, or
/// backfilled later from the meter's memory), unless validation replaced it as a spike; the
/// MDM's substitute value when it never did.
fn final_value(
    sim: &Sim,
    premise: &amirange_sim::model::Premise,
    memory: &amirange_sim::model::LoadProfileMemory,
    record: &amirange_sim::model::MdmRecord,
    slot: u32,
) -> (u64, bool) {
    let substitute = sim.substitute_wh(premise, slot);
    if record.actual_until <= slot {
        return (substitute, true);
    }
    let recorded = u64::from(memory.wh[slot as usize % LOAD_PROFILE_DEPTH]);
    let spike = recorded > amirange_sim::dataplane::SPIKE_FLOOR_WH
        && recorded > amirange_sim::dataplane::SPIKE_FACTOR * substitute.max(1);
    if spike { (substitute, true) } else { (recorded, false) }
}

impl IntervalObserver for ReadingsExport {
    fn interval_closed(&mut self, sim: &Sim, close: IntervalClose) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if state.error.is_some() {
            return;
        }
        if let Err(error) = state.interval_closed(sim, close.slot) {
            state.error = Some(error);
        }
    }
}
