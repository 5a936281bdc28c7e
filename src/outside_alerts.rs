//! Alerts from a detector that is not amirange's (a researcher's model trained on a run's
//! readings or flows), read from a CSV file so that `amirange score` can judge them against the
//! run's ground truth exactly as the built-in detectors are judged
//! ([`amirange_measures::detection::judge`]).
//!
//! The file is CSV with a header row naming at least `time`, `detector` and `subject`, and
//! optionally `meters`; other columns are not read, so a run's own `alerts.csv` is a valid input
//! (and scores as `metrics.json` says). Per row:
//!
//! - `time`: when the alert was raised, either seconds since the run's start (`3600`,
//!   `3600.5`) or the scenario's local time (`2026-01-15T18:03:00`, as `alerts.csv` writes it);
//!   within the run;
//! - `detector`: its name, which groups its alerts into one detector's score;
//! - `subject`: what it points at: `meter N`, `transformer N`, `feeder N`, `collector N` (whose
//!   meters an attack must have touched for the alert to match it), or anything else (an
//!   account, a host, `fleet`), which matches an attack by time alone, as the built-in
//!   detectors' alerts about such subjects do;
//! - `meters` (optional): meter indices it points at, `;`-separated, each `N` or `A-B`; when
//!   given they take the place of the subject's.
//!
//! Suricata's EVE output (`eve.json`, one JSON object a line) is read too, when the file's
//! first character is `{`: its `alert` events (other events are skipped) become alerts of
//! detector `suricata:<signature_id>`, about their source address, at their `timestamp`
//! converted to UTC (a capture's times are the scenario's civil time taken as UTC). When the
//! scenario's `ids_rules` has the rule, an alert is about what the rule tracks (its destination
//! under `track by_dst`, the address pair under `by_both`, the rule under `by_rule`) with the
//! severity of its `priority` (2, medium, when not given), as the built-in IDS's alerts are;
//! otherwise about its source, with the severity Suricata gives (1 high, 2 medium, 3 low). Suricata alerts per packet; its alerts of one rule about one
//! subject are coalesced as the built-in detectors' are (an alert that fires again within the
//! hour counts into the open one, for at most six hours), so its precision counts what a person
//! would see.

use std::path::Path;

use amirange_defenses::ids::{Rule, Track};
use amirange_sim::engine::Sim;
use amirange_sim::records::{AlertRecord, AlertSubject, Severity};
use amirange_sim::time::{CivilDateTime, SimTime};

/// Meters one alert may list at most (a policy choice: a whole fleet of ten million).
const MAX_METERS: usize = 10_000_000;

/// Why an alerts file could not be read: its path, the line and field when one is at fault,
/// and why.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct AlertsError {
    /// The file.
    pub file: String,
    /// The line (1 is the header).
    pub line: Option<u64>,
    /// What is wrong, naming the field.
    pub message: String,
}

/// Reads the alerts of `path` for the run of `sim` (its start and horizon bound the times, its
/// network the subjects' indices); `rules`, the scenario's IDS rules, give an EVE alert of one
/// of them the subject the built-in IDS gives it (what the rule tracks).
pub fn read(path: &Path, sim: &Sim, rules: &[Rule]) -> Result<Vec<AlertRecord>, AlertsError> {
    let file = path.display().to_string();
    let text = amirange_files::read_text(path, "alerts file", 1 << 30).map_err(|e| AlertsError {
        file: file.clone(),
        line: None,
        message: e.to_string(),
    })?;
    parse(&file, &text, sim, rules)
}

/// [`read`] on the file's text.
pub fn parse(file: &str, text: &str, sim: &Sim, rules: &[Rule]) -> Result<Vec<AlertRecord>, AlertsError> {
    let fail = |line: Option<u64>, message: String| AlertsError {
        file: file.to_owned(),
        line,
        message,
    };
    if text.trim_start().starts_with('{') {
        return parse_eve(text, sim, rules).map_err(|(line, message)| fail(Some(line), message));
    }
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| fail(Some(1), e.to_string()))?.clone();
    let column = |name: &str| header.iter().position(|h| h.trim() == name);
    let (Some(time_col), Some(detector_col), Some(subject_col)) =
        (column("time"), column("detector"), column("subject"))
    else {
        return Err(fail(
            Some(1),
            format!(
                "the header names {:?}: it needs at least `time`, `detector` and `subject` (and may have `meters`)",
                header.iter().collect::<Vec<_>>()
            ),
        ));
    };
    let meters = column("meters");
    let start = sim.config().start;
    let horizon = sim.horizon();
    let net = sim.network();
    let mut alerts = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| fail(e.position().map(|p| p.line()), e.to_string()))?;
        let line = record.position().map(|p| p.line());
        let at = |field: &str, message: String| fail(line, format!("field `{field}`: {message}"));
        let get = |i: usize| record.get(i).unwrap_or("").trim();
        let time = instant(get(time_col), start).map_err(|m| at("time", m))?;
        if time > horizon {
            return Err(at(
                "time",
                format!("{} is after the run's end ({} s)", get(time_col), horizon.0 / 1_000_000),
            ));
        }
        let name = get(detector_col);
        if name.is_empty() {
            return Err(at("detector", "give the detector a name".into()));
        }
        let (subject, mut listed) = place(get(subject_col), net).map_err(|m| at("subject", m))?;
        if let Some(i) = meters
            && !get(i).is_empty()
        {
            listed = indices(get(i), sim.n_meters()).map_err(|m| at("meters", m))?;
        }
        alerts.push(AlertRecord {
            time,
            detector: name.to_owned(),
            severity: Severity::Medium,
            message: String::new(),
            subject,
            count: 1,
            meters: listed,
        });
    }
    Ok(alerts)
}

/// Suricata's EVE lines: its alert events, coalesced per rule and source. Errors carry the line.
fn parse_eve(text: &str, sim: &Sim, rules: &[Rule]) -> Result<Vec<AlertRecord>, (u64, String)> {
    use amirange_defenses::monitor::{COALESCE, EPISODE_MAX};
    let start = sim.config().start;
    let horizon = sim.horizon();
    let mut events: Vec<(SimTime, u64, AlertSubject, Severity, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let event: serde_json::Value =
            serde_json::from_str(line).map_err(|e| (n, format!("not an EVE record (JSON): {e}")))?;
        if event["event_type"] != "alert" {
            continue;
        }
        let field = |name: &str, message: String| (n, format!("field `{name}`: {message}"));
        let stamp = event["timestamp"]
            .as_str()
            .ok_or_else(|| field("timestamp", "missing".into()))?;
        let time = eve_time(stamp, start).map_err(|m| field("timestamp", m))?;
        if time > horizon {
            return Err(field(
                "timestamp",
                format!("{stamp} is after the run's end ({} s)", horizon.0 / 1_000_000),
            ));
        }
        let sid = event["alert"]["signature_id"]
            .as_u64()
            .ok_or_else(|| field("alert.signature_id", "missing or not a number".into()))?;
        let address = |name: &str| {
            let text = event[name].as_str().ok_or_else(|| field(name, "missing".into()))?;
            text.parse::<std::net::Ipv4Addr>().map_err(|_| {
                field(
                    name,
                    format!("{text:?} is not an IPv4 address (the range's plan has no other)"),
                )
            })
        };
        let (src, dst) = (address("src_ip")?, address("dest_ip")?);
        // What the rule tracks, as the built-in IDS's alert names it; by source otherwise.
        let rule = rules.iter().find(|r| u64::from(r.sid) == sid);
        let track = rule.and_then(|r| r.threshold.map(|t| t.track));
        let subject = match track {
            Some(Track::ByDst) => AlertSubject::Host(dst),
            Some(Track::ByBoth) => AlertSubject::HostPair { src, dst },
            Some(Track::ByRule) => AlertSubject::Rule(sid as u32),
            Some(Track::BySrc) | None => AlertSubject::Host(src),
        };
        // The built-in IDS's severity for a rule it has (a rule without `priority` is medium
        // there, where Suricata gives it 3), Suricata's otherwise.
        let priority = match rule {
            Some(r) => Some(r.priority.map_or(2, u64::from)),
            None => event["alert"]["severity"].as_u64(),
        };
        let severity = match priority {
            Some(1) => Severity::High,
            Some(2) | None => Severity::Medium,
            Some(_) => Severity::Low,
        };
        let message = event["alert"]["signature"].as_str().unwrap_or_default().to_owned();
        events.push((time, sid, subject, severity, message));
    }
    events.sort_by_key(|e| e.0);
    let mut alerts: Vec<AlertRecord> = Vec::new();
    // Per (rule, subject): the open alert's index, its first and last firing.
    let mut open: std::collections::BTreeMap<(u64, AlertSubject), (usize, SimTime, SimTime)> = Default::default();
    for (time, sid, subject, severity, message) in events {
        let key = (sid, subject);
        if let Some((index, first, last)) = open.get_mut(&key)
            && time.0 <= last.0 + COALESCE.as_micros()
            && time.0 <= first.0 + EPISODE_MAX.as_micros()
        {
            *last = time;
            let alert = &mut alerts[*index];
            alert.count += 1;
            alert.severity = alert.severity.max(severity);
            continue;
        }
        let subject = key.1.clone();
        open.insert(key, (alerts.len(), time, time));
        alerts.push(AlertRecord {
            time,
            detector: format!("suricata:{sid}"),
            severity,
            message,
            subject,
            count: 1,
            meters: Vec::new(),
        });
    }
    Ok(alerts)
}

/// An EVE timestamp (`2026-01-15T18:03:00.123456+0000`, local time with its offset) as a time
/// of the run whose capture took the scenario's civil time as UTC.
fn eve_time(text: &str, start: CivilDateTime) -> Result<SimTime, String> {
    let bad = || format!("{text:?} is not an EVE timestamp such as 2026-01-15T18:03:00.123456+0000");
    let civil = text.get(..19).and_then(CivilDateTime::parse).ok_or_else(bad)?;
    let rest = &text[19..];
    let (fraction, zone) = match rest.strip_prefix('.') {
        Some(r) => {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            (&r[..digits], &r[digits..])
        }
        None => ("", rest),
    };
    let micros: u64 = if fraction.is_empty() {
        0
    } else {
        let padded = format!("{:0<6}", &fraction[..fraction.len().min(6)]);
        padded.parse().map_err(|_| bad())?
    };
    let offset_s: i64 = match zone {
        "" | "Z" => 0,
        z if z.len() == 5 && z.is_ascii() && (z.starts_with('+') || z.starts_with('-')) => {
            let hours: i64 = z.get(1..3).unwrap_or("").parse().map_err(|_| bad())?;
            let minutes: i64 = z.get(3..5).unwrap_or("").parse().map_err(|_| bad())?;
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return Err(bad()),
    };
    let seconds = civil.unix_seconds() - start.unix_seconds() - offset_s;
    u64::try_from(seconds)
        .map(|s| SimTime(s * 1_000_000 + micros))
        .map_err(|_| format!("{text} is before the run's start ({start})"))
}

/// An alert's time: seconds since the start, or the scenario's local time.
fn instant(text: &str, start: CivilDateTime) -> Result<SimTime, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        if !(seconds.is_finite() && seconds >= 0.0) {
            return Err(format!("{text:?} is not a time of the run (seconds from 0)"));
        }
        return Ok(SimTime((seconds * 1e6).round() as u64));
    }
    let civil = CivilDateTime::parse(text).ok_or_else(|| {
        format!("{text:?} is neither seconds since the start nor a local time such as 2026-01-15T18:03:00")
    })?;
    let seconds = civil.unix_seconds() - start.unix_seconds();
    u64::try_from(seconds)
        .map(|s| SimTime(s * 1_000_000))
        .map_err(|_| format!("{text} is before the run's start ({start})"))
}

/// A subject's words as the alert's subject and the meters it names itself.
fn place(text: &str, net: &amirange_sim::network::Network) -> Result<(AlertSubject, Vec<u32>), String> {
    let numbered = |what: &str, limit: usize| -> Result<Option<u32>, String> {
        let Some(rest) = text.strip_prefix(what).and_then(|r| r.strip_prefix(' ')) else {
            return Ok(None);
        };
        let n: u32 = rest
            .trim()
            .parse()
            .map_err(|_| format!("{text:?}: `{what}` takes a number, e.g. `{what} 3`"))?;
        if n as usize >= limit {
            return Err(format!("there is no {what} {n}: the run has {limit}"));
        }
        Ok(Some(n))
    };
    if let Some(m) = numbered("meter", net.meters.len())? {
        return Ok((AlertSubject::Fleet, vec![m]));
    }
    if let Some(n) = numbered("feeder", net.feeders.len())? {
        return Ok((AlertSubject::Feeder(n), Vec::new()));
    }
    if let Some(n) = numbered("transformer", net.transformers.len())? {
        return Ok((AlertSubject::Transformer(n), Vec::new()));
    }
    if let Some(n) = numbered("collector", net.collectors.len())? {
        return Ok((AlertSubject::Collector(n), Vec::new()));
    }
    // Anything else matches by time alone; its words are kept.
    Ok((AlertSubject::Account(text.to_owned()), Vec::new()))
}

/// `;`-separated meter indices and ranges (`0-4999;5003`), each below `n`.
fn indices(text: &str, n: usize) -> Result<Vec<u32>, String> {
    let mut out: Vec<u32> = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |s: &str| -> Result<u32, String> {
            let m: u32 = s
                .trim()
                .parse()
                .map_err(|_| format!("{part:?} is not a meter index or a range such as 0-4999"))?;
            if m as usize >= n {
                return Err(format!("there is no meter {m}: the run has {n}"));
            }
            Ok(m)
        };
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let m = number(part)?;
                (m, m)
            }
        };
        if a > b {
            return Err(format!("{part:?}: a range runs upwards"));
        }
        if out.len() + (b - a) as usize + 1 > MAX_METERS {
            return Err(format!("more than {MAX_METERS} meters"));
        }
        out.extend(a..=b);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}
