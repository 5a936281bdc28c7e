//! # amirange-viz: charts and the HTML report, from result files alone
//!
//! Everything here reads the files a run or a sweep wrote (`timeseries.csv`, `metrics.json`,
//! `alerts.csv`, `summary.csv`, ...) and knows nothing of the engine: a result folder copied to
//! another machine draws the same charts. Charts are SVG (plotters); the report is one HTML file
//! with the charts inline and no external script, style sheet or font.
//!
//! - [`timeline_svg`]: customers connected, true and reported load, attack windows shaded,
//!   alerts marked.
//! - [`detection_svg`]: time to detect per attack, labelled with the first detector.
//! - [`blast_map_svg`]: meters by condition at the worst moment, jammer areas, affected
//!   feeders, substations and critical facilities.
//! - [`sweep_svg`]: a measure against the first axis of a sweep, with its 95% band.
//! - [`report_html`]: the run's report.
//! - [`topology::topology_svg`]: a generated network's map (`amirange topo map`), from plain
//!   positions and links.
//! - [`numbers`]: numbers for people, shared with the command line's summaries.

pub mod numbers;
pub mod topology;

use plotters::prelude::*;
use serde_json::Value;

/// A result file that cannot be drawn: which, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct VizError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

fn err(file: &str, message: impl Into<String>) -> VizError {
    VizError {
        file: file.to_owned(),
        message: message.into(),
    }
}

/// A CSV file with a header (RFC 4180, read by the `csv` crate: quoted cells may hold commas,
/// doubled quotes and line breaks).
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells (a row may have fewer or more cells than the header).
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Parses `text`. Blank lines are skipped. The text is already UTF-8, so no record can be
    /// refused for its encoding, and rows of any length are kept.
    pub fn parse(text: &str) -> Table {
        let mut records = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes())
            .into_records()
            .filter_map(Result::ok)
            .map(|record| record.iter().map(str::to_owned).collect::<Vec<String>>());
        let header = records.next().unwrap_or_default();
        Table {
            header,
            rows: records.collect(),
        }
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Column `name` as numbers (non-numbers are skipped as `NaN`).
    pub fn numbers(&self, file: &str, name: &str) -> Result<Vec<f64>, VizError> {
        let c = self
            .column(name)
            .ok_or_else(|| err(file, format!("no column `{name}`")))?;
        Ok(self
            .rows
            .iter()
            .map(|r| r.get(c).and_then(|x| x.parse().ok()).unwrap_or(f64::NAN))
            .collect())
    }
}

const WIDTH: u32 = 960;

fn draw_err(file: &str, e: impl std::fmt::Display) -> VizError {
    err(file, format!("drawing failed: {e}"))
}

/// The run's timeline: customers connected (top) and true, reported and SCADA load (bottom),
/// hour by hour, with every attack's window shaded (from its first to its last ground-truth
/// step in `truth.csv`) and every alert marked (`alerts.csv`).
pub fn timeline_svg(timeseries: &str, truth: &str, alerts: &str) -> Result<String, VizError> {
    let ts = Table::parse(timeseries);
    let hours: Vec<f64> = ts.numbers("timeseries.csv", "slot")?.iter().map(|s| s / 4.0).collect();
    if hours.is_empty() {
        return Err(err("timeseries.csv", "no intervals"));
    }
    let connected = ts.numbers("timeseries.csv", "customers_connected")?;
    let true_kw = ts.numbers("timeseries.csv", "true_kw")?;
    let reported_kw = ts.numbers("timeseries.csv", "reported_kw")?;
    let start = ts.rows.first().and_then(|r| r.first()).cloned().unwrap_or_default();
    // Attack windows from the truth, in hours since the start.
    let tr = Table::parse(truth);
    let mut windows: Vec<(String, f64, f64)> = Vec::new();
    if let (Some(t), Some(a)) = (tr.column("time_s"), tr.column("attack")) {
        for r in &tr.rows {
            let (Some(h), Some(id)) = (r.get(t).and_then(|x| x.parse::<f64>().ok()), r.get(a)) else {
                continue;
            };
            let h = h / 3600.0;
            match windows.iter_mut().find(|w| w.0 == *id) {
                Some(w) => {
                    w.1 = w.1.min(h);
                    w.2 = w.2.max(h);
                }
                None => windows.push((id.clone(), h, h)),
            }
        }
    }
    let al = Table::parse(alerts);
    let alert_hours: Vec<f64> = match al.column("time") {
        Some(c) => al
            .rows
            .iter()
            .filter_map(|r| r.get(c))
            .filter_map(|t| hours_between(&start, t))
            .collect(),
        None => Vec::new(),
    };
    let x_max = hours.last().copied().unwrap_or(1.0) + 0.25;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_err("timeline", e))?;
        let (top, bottom) = root.split_vertically(260);
        let max_c = connected.iter().copied().filter(|x| x.is_finite()).fold(1.0, f64::max) * 1.05;
        let mut c = panel(&top, "Customers connected", x_max, max_c, &windows)?;
        c.draw_series(LineSeries::new(
            hours
                .iter()
                .copied()
                .zip(connected.iter().copied())
                .filter(|p| p.1.is_finite()),
            &BLUE,
        ))
        .map_err(|e| draw_err("timeline", e))?
        .label("customers connected")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        for &h in &alert_hours {
            c.draw_series(std::iter::once(PathElement::new(
                vec![(h, 0.0), (h, max_c * 0.08)],
                RED.stroke_width(2),
            )))
            .map_err(|e| draw_err("timeline", e))?;
        }
        let max_kw = true_kw
            .iter()
            .chain(&reported_kw)
            .copied()
            .filter(|x| x.is_finite())
            .fold(1.0, f64::max)
            * 1.1;
        let mut k = panel(
            &bottom,
            "Load, kW (true and as reported to the MDM)",
            x_max,
            max_kw,
            &windows,
        )?;
        for (values, color, label) in [(&true_kw, BLACK, "true load"), (&reported_kw, GREEN, "reported load")] {
            k.draw_series(LineSeries::new(
                hours
                    .iter()
                    .copied()
                    .zip(values.iter().copied())
                    .filter(|p| p.1.is_finite()),
                color,
            ))
            .map_err(|e| draw_err("timeline", e))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        k.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| draw_err("timeline", e))?;
        root.present().map_err(|e| draw_err("timeline", e))?;
    }
    Ok(svg)
}

type Chart<'a> = ChartContext<
    'a,
    SVGBackend<'a>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// One panel of the timeline: hours across, `0..y_max` up, the attack windows shaded.
fn panel<'a>(
    area: &DrawingArea<SVGBackend<'a>, plotters::coord::Shift>,
    caption: &str,
    x_max: f64,
    y_max: f64,
    windows: &[(String, f64, f64)],
) -> Result<Chart<'a>, VizError> {
    let mut c = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| draw_err("timeline", e))?;
    c.configure_mesh()
        .x_desc("hours since start")
        .draw()
        .map_err(|e| draw_err("timeline", e))?;
    shade(&mut c, windows, y_max)?;
    Ok(c)
}

/// Shades attack windows (at least a quarter of an hour wide) over the chart's height.
fn shade(chart: &mut Chart<'_>, windows: &[(String, f64, f64)], top: f64) -> Result<(), VizError> {
    for (_, from, to) in windows {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(*from, 0.0), ((*to).max(from + 0.25), top)],
                RED.mix(0.12).filled(),
            )))
            .map_err(|e| draw_err("timeline", e))?;
    }
    Ok(())
}

/// Hours from `start` to `t`, both `YYYY-MM-DDTHH:MM:SS` (days counted within one month or
/// across month ends by ordinal day).
fn hours_between(start: &str, t: &str) -> Option<f64> {
    let secs = |s: &str| -> Option<i64> {
        let (date, time) = s.split_once('T')?;
        let mut d = date.split('-').map(|x| x.parse::<i64>());
        let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
        let mut hms = time.split(':').map(|x| x.parse::<i64>());
        let (h, mi, se) = (
            hms.next()?.ok()?,
            hms.next()?.ok()?,
            hms.next().and_then(Result::ok).unwrap_or(0),
        );
        // Days since the civil epoch (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Some(days * 86_400 + h * 3600 + mi * 60 + se)
    };
    Some((secs(t)? - secs(start)?) as f64 / 3600.0)
}

/// Time to detect per attack and detector: for each attack (`metrics.json`), a dark bar to its
/// first detection, labelled with the detector, then a lighter bar for every other detector
/// that raised a true alert about it (its first, from `alerts.csv`); attacks not detected
/// say so. `None` when the run had no attacks.
pub fn detection_svg(metrics: &Value, alerts: &str) -> Result<Option<String>, VizError> {
    let Some(attacks) = metrics.get("attacks").and_then(Value::as_array) else {
        return Err(err("metrics.json", "no `attacks` list"));
    };
    if attacks.is_empty() {
        return Ok(None);
    }
    let table = Table::parse(alerts);
    let (time, detector, attack) = (table.column("time"), table.column("detector"), table.column("attack"));
    // (label, seconds to detect, first detection)
    let mut rows: Vec<(String, Option<f64>, bool)> = Vec::new();
    for a in attacks {
        let id = a.get("id").and_then(Value::as_str).unwrap_or("?");
        let first = a.get("first_detector").and_then(Value::as_str);
        match (a.get("time_to_detect_s").and_then(Value::as_f64), first) {
            (Some(t), Some(by)) => rows.push((format!("{id}: {:.1} min by {by}", t / 60.0), Some(t), true)),
            _ => rows.push((format!("{id}: not detected"), None, true)),
        }
        let (Some(start), Some(tc), Some(dc), Some(ac)) =
            (a.get("start").and_then(Value::as_str), time, detector, attack)
        else {
            continue;
        };
        let mut others: Vec<(String, f64)> = Vec::new();
        for r in table.rows.iter().filter(|r| r.get(ac).is_some_and(|x| x == id)) {
            let (Some(d), Some(h)) = (r.get(dc), r.get(tc).and_then(|t| hours_between(start, t))) else {
                continue;
            };
            if Some(d.as_str()) != first && !others.iter().any(|o| o.0 == *d) {
                others.push((d.clone(), (h * 3600.0).max(0.0)));
            }
        }
        others.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        for (d, t) in others {
            rows.push((format!("also {d}: {:.1} min", t / 60.0), Some(t), false));
        }
    }
    let max_min = rows.iter().filter_map(|r| r.1).fold(1.0, f64::max) / 60.0 * 1.2 + 1.0;
    let height = 110 + 32 * rows.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_err("detection", e))?;
        let n = rows.len() as f64;
        let mut c = ChartBuilder::on(&root)
            .caption(
                "Time to detect, minutes (per attack, then per detector)",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(10)
            .build_cartesian_2d(0.0..max_min, 0.0..n)
            .map_err(|e| draw_err("detection", e))?;
        c.configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .x_desc("minutes from the attack's start")
            .draw()
            .map_err(|e| draw_err("detection", e))?;
        for (i, (label, ttd, first)) in rows.iter().enumerate() {
            let y = n - i as f64 - 0.5;
            if let Some(t) = ttd {
                let colour = if *first { BLUE.mix(0.6) } else { BLUE.mix(0.25) };
                c.draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y - 0.3), ((t / 60.0).max(max_min * 0.005), y + 0.3)],
                    colour.filled(),
                )))
                .map_err(|e| draw_err("detection", e))?;
            }
            // Other detectors' rows are indented under their attack's.
            let indent = if *first { 0.02 } else { 0.06 };
            c.draw_series(std::iter::once(Text::new(
                label.clone(),
                (max_min * indent, y),
                ("sans-serif", 14),
            )))
            .map_err(|e| draw_err("detection", e))?;
        }
        root.present().map_err(|e| draw_err("detection", e))?;
    }
    Ok(Some(svg))
}

/// How a sweep chart lays out its horizontal axis.
enum XAxis {
    /// Numbers: the axis (or a number inside its sections) and each row's value.
    Numbers(String, Vec<f64>),
    /// Anything else: the distinct values in grid order, and each row's position among them.
    Categories(String, Vec<String>, Vec<usize>),
}

/// The number at `key` (a dotted path) inside a JSON section.
fn leaf(v: &Value, key: &str) -> Option<f64> {
    key.split('.').try_fold(v, |v, k| v.get(k))?.as_f64()
}

/// Dotted paths of the numbers inside a JSON section, in key order.
fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(x, &path, out);
            }
        }
        Value::Number(_) => out.push(prefix.to_owned()),
        _ => {}
    }
}

fn x_axis(name: &str, cells: &[&str]) -> XAxis {
    let varies = |xs: &[f64]| xs.windows(2).any(|w| w[0] != w[1]);
    let nums: Option<Vec<f64>> = cells.iter().map(|c| c.parse().ok()).collect();
    if let Some(xs) = nums.filter(|xs| varies(xs)) {
        return XAxis::Numbers(name.to_owned(), xs);
    }
    // Sections: the first number inside them that varies.
    let sections: Option<Vec<Value>> = cells
        .iter()
        .map(|c| serde_json::from_str::<Value>(c).ok().filter(Value::is_object))
        .collect();
    if let Some(sections) = sections {
        // A number inside the sections can be the axis only if it tells every distinct section
        // apart (otherwise different grid points would share an x).
        let distinct = |xs: &[f64]| {
            sections
                .iter()
                .zip(xs)
                .all(|(a, xa)| sections.iter().zip(xs).all(|(b, xb)| (a == b) == (xa == xb)))
        };
        let mut keys = Vec::new();
        leaves(&sections[0], "", &mut keys);
        for key in keys {
            let xs: Option<Vec<f64>> = sections.iter().map(|v| leaf(v, &key)).collect();
            if let Some(xs) = xs.filter(|xs| varies(xs) && distinct(xs)) {
                return XAxis::Numbers(format!("{name}.{key}"), xs);
            }
        }
    }
    let mut labels: Vec<String> = Vec::new();
    let index = cells
        .iter()
        .map(|c| match labels.iter().position(|l| l == c) {
            Some(i) => i,
            None => {
                labels.push((*c).to_owned());
                labels.len() - 1
            }
        })
        .collect();
    XAxis::Categories(name.to_owned(), labels, index)
}

/// A point of a sweep chart: x, mean, and the interval's low and high ends.
type Point = (f64, f64, f64, f64);

/// Series colours (colour-blind safe).
const SERIES: [RGBColor; 6] = [
    RGBColor(0x00, 0x72, 0xb2),
    RGBColor(0xd5, 0x5e, 0x00),
    RGBColor(0x00, 0x9e, 0x73),
    RGBColor(0xcc, 0x79, 0xa7),
    RGBColor(0x56, 0xb4, 0xe9),
    RGBColor(0xe6, 0x9f, 0x00),
];

/// A sweep's `summary.csv`: `measure`'s mean with its 95% confidence band against the first
/// grid axis whose value varies: numbers as they are, sections by the first number inside
/// them that varies (`limit.meters`), anything else as named categories in grid order. Every
/// other axis that varies makes one line per value, with a legend.
pub fn sweep_svg(summary: &str, measure: &str) -> Result<String, VizError> {
    const FILE: &str = "summary.csv";
    let t = Table::parse(summary);
    let m = t.column("measure").ok_or_else(|| err(FILE, "no `measure` column"))?;
    let (Some(mean), Some(lo), Some(hi)) = (t.column("mean"), t.column("ci95_low"), t.column("ci95_high")) else {
        return Err(err(FILE, "no mean or interval columns"));
    };
    let rows: Vec<&Vec<String>> = t
        .rows
        .iter()
        .filter(|r| r.get(m).is_some_and(|x| x == measure))
        .collect();
    if rows.is_empty() {
        return Err(err(FILE, format!("no rows for `{measure}`")));
    }
    let cell = |r: &Vec<String>, c: usize| r.get(c).map_or("", String::as_str).to_owned();
    let varying: Vec<usize> = (1..m)
        .filter(|&c| rows.iter().any(|r| cell(r, c) != cell(rows[0], c)))
        .collect();
    let Some((&xc, others)) = varying.split_first() else {
        return Err(err(FILE, "no grid axis varies: nothing to draw against"));
    };
    let cells: Vec<String> = rows.iter().map(|r| cell(r, xc)).collect();
    let axis = x_axis(&t.header[xc], &cells.iter().map(String::as_str).collect::<Vec<_>>());
    let xs: Vec<f64> = match &axis {
        XAxis::Numbers(_, xs) => xs.clone(),
        XAxis::Categories(_, _, index) => index.iter().map(|&i| i as f64).collect(),
    };
    // One series per combination of the other varying axes, in grid order.
    let mut series: Vec<(String, Vec<Point>)> = Vec::new();
    for (r, x) in rows.iter().zip(&xs) {
        let key = others
            .iter()
            .map(|&c| format!("{} = {}", t.header[c], cell(r, c)))
            .collect::<Vec<_>>()
            .join(", ");
        let num = |c: usize| r.get(c).and_then(|x| x.parse::<f64>().ok());
        let Some(y) = num(mean) else { continue };
        let point = (*x, y, num(lo).unwrap_or(y), num(hi).unwrap_or(y));
        match series.iter_mut().find(|s| s.0 == key) {
            Some(s) => s.1.push(point),
            None => series.push((key, vec![point])),
        }
    }
    if series.is_empty() {
        return Err(err(FILE, format!("no mean for `{measure}` at any grid point")));
    }
    for s in &mut series {
        s.1.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let all = series.iter().flat_map(|s| s.1.iter());
    let (x0, x1) = all
        .clone()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let pad = ((x1 - x0) * 0.05).max(0.5);
    let y1 = all.clone().map(|p| p.3).fold(f64::MIN, f64::max);
    let y0 = all.map(|p| p.2).fold(f64::MAX, f64::min).min(0.0);
    let y1 = if y1 > y0 { y1 * 1.05 } else { y0 + 1.0 };
    let (axis_name, labels) = match &axis {
        XAxis::Numbers(name, _) => (name.clone(), None),
        XAxis::Categories(name, labels, _) => (name.clone(), Some(labels.clone())),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_err("sweep", e))?;
        let mut c = ChartBuilder::on(&root)
            .caption(format!("{measure} (mean, 95% interval)"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d((x0 - pad)..(x1 + pad), y0..y1)
            .map_err(|e| draw_err("sweep", e))?;
        let category = |x: &f64| -> String {
            let i = x.round();
            match &labels {
                Some(l) if (x - i).abs() < 1e-6 && i >= 0.0 => l.get(i as usize).cloned().unwrap_or_default(),
                Some(_) => String::new(),
                None => format!("{x}"),
            }
        };
        let mut mesh = c.configure_mesh();
        mesh.x_desc(axis_name)
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13));
        if let Some(l) = &labels {
            mesh.x_labels(l.len() * 2 + 1).x_label_formatter(&category);
        }
        mesh.draw().map_err(|e| draw_err("sweep", e))?;
        for (k, (key, pts)) in series.iter().enumerate() {
            let colour = SERIES[k % SERIES.len()];
            let band: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| (p.0, p.3))
                .chain(pts.iter().rev().map(|p| (p.0, p.2)))
                .collect();
            c.draw_series(std::iter::once(Polygon::new(band, colour.mix(0.2).filled())))
                .map_err(|e| draw_err("sweep", e))?;
            let line = c
                .draw_series(LineSeries::new(pts.iter().map(|p| (p.0, p.1)), colour.stroke_width(2)))
                .map_err(|e| draw_err("sweep", e))?;
            if series.len() > 1 {
                line.label(key.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
            }
            c.draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 3, colour.filled())))
                .map_err(|e| draw_err("sweep", e))?;
        }
        if series.len() > 1 {
            c.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 12))
                .draw()
                .map_err(|e| draw_err("sweep", e))?;
        }
        root.present().map_err(|e| draw_err("sweep", e))?;
    }
    Ok(svg)
}

/// A sweep's report: its plan, a chart per measure (or why there is none) and the summary
/// table. Self-contained like the run's report.
pub fn sweep_report_html(
    name: &str,
    description: &str,
    summary: &str,
    charts: &[(String, Result<String, VizError>)],
) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str(&format!("<title>amirange sweep: {}</title>\n", escape(name)));
    h.push_str(STYLE);
    h.push_str("</head>\n<body>\n");
    h.push_str(&format!("<h1>Sweep: {}</h1>\n", escape(name)));
    if !description.is_empty() {
        h.push_str(&format!("<p>{}</p>\n", escape(description)));
    }
    for (k, (measure, chart)) in charts.iter().enumerate() {
        h.push_str(&format!("<h2>{}</h2>\n", escape(measure)));
        match chart {
            Ok(svg) => {
                h.push_str(&format!("<figure id=\"measure-{k}\">\n"));
                h.push_str(&inline_svg(svg));
                h.push_str("\n</figure>\n");
            }
            Err(e) => h.push_str(&format!("<p>No chart: {}</p>\n", escape(&e.to_string()))),
        }
    }
    h.push_str("<h2>Summary</h2>\n<table>\n");
    let t = Table::parse(summary);
    h.push_str("<tr>");
    for c in &t.header {
        h.push_str(&format!("<th>{}</th>", escape(c)));
    }
    h.push_str("</tr>\n");
    for r in &t.rows {
        h.push_str("<tr>");
        for c in r {
            h.push_str(&format!("<td>{}</td>", escape(c)));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n</body>\n</html>\n");
    h
}

/// Colours of the meters' conditions in `map.csv`, worst first (colour-blind safe, apart from
/// grey for the unaffected).
pub const CONDITION_COLOURS: [(&str, &str, RGBColor); 6] = [
    ("off-attack", "off supply by an attack", RGBColor(0xd6, 0x27, 0x28)),
    ("off-outage", "off supply by an outage", RGBColor(0x33, 0x33, 0x33)),
    ("off-operation", "off supply by the utility", RGBColor(0x56, 0xb4, 0xe9)),
    ("compromised", "held by an attack", RGBColor(0x94, 0x67, 0xbd)),
    ("unread", "not read", RGBColor(0xe6, 0x9f, 0x00)),
    ("normal", "supplied and read", RGBColor(0xc8, 0xc8, 0xc8)),
];

/// The blast-radius map at the run's worst moment (`map.csv`, `map.json`): every drawn meter
/// coloured by its condition, the feeders with customers off supply or meters held by an
/// attack drawn from their substation, the jammers' areas (solid while transmitting at that
/// moment, grey otherwise), substations as black squares and critical facilities as large
/// outlined triangles.
pub fn blast_map_svg(map_csv: &str, map_json: &Value) -> Result<String, VizError> {
    const FILE: &str = "map.json";
    let t = Table::parse(map_csv);
    let xs = t.numbers("map.csv", "x_m")?;
    let ys = t.numbers("map.csv", "y_m")?;
    let cond = t
        .column("condition")
        .ok_or_else(|| err("map.csv", "no column `condition`"))?;
    let facility = t
        .column("facility")
        .ok_or_else(|| err("map.csv", "no column `facility`"))?;
    // Each drawable meter once: (x km, y km, a critical facility, its condition); rows whose
    // place is not a number are left out.
    let dots: Vec<(f64, f64, bool, &str)> = t
        .rows
        .iter()
        .zip(xs.iter().zip(&ys))
        .filter(|(_, (x, y))| x.is_finite() && y.is_finite())
        .map(|(row, (x, y))| {
            let critical = row.get(facility).is_some_and(|f| !f.is_empty());
            (
                x / 1000.0,
                y / 1000.0,
                critical,
                row.get(cond).map_or("", String::as_str),
            )
        })
        .collect();
    let in_condition = |name: &'static str, critical: bool| {
        dots.iter()
            .filter(move |d| d.2 == critical && d.3 == name)
            .map(|d| (d.0, d.1))
    };
    let bounds: Vec<f64> = map_json
        .get("bounds")
        .and_then(Value::as_array)
        .map(|b| b.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let [bx0, by0, bx1, by1] = bounds[..] else {
        return Err(err(FILE, "no `bounds` [x_min, y_min, x_max, y_max]"));
    };
    if !(bx0.is_finite() && by0.is_finite() && bx1.is_finite() && by1.is_finite() && bx1 >= bx0 && by1 >= by0) {
        return Err(err(
            FILE,
            "`bounds` must be finite, with x_max >= x_min and y_max >= y_min",
        ));
    }
    let km = |v: f64| v / 1000.0;
    let span = (bx1 - bx0).max(by1 - by0).max(100.0);
    let pad = span * 0.03;
    let (x0, x1, y0, y1) = (km(bx0 - pad), km(bx1 + pad), km(by0 - pad), km(by1 + pad));
    // The plot keeps the map's proportions: metres are as long east as north.
    let (left, right, top, bottom) = (70.0, 10.0, 40.0, 45.0);
    let plot_w = f64::from(WIDTH) - left - right;
    // The span is at least 100 m each way (the padding), so the ratio is finite.
    let plot_h = (plot_w * (y1 - y0) / (x1 - x0)).clamp(300.0, 1100.0);
    let height = (plot_h + top + bottom + 150.0) as u32;
    let moment = map_json.get("moment");
    let when = moment
        .and_then(|m| m.get("time"))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .replace('T', " ");
    let count = |name: &str| -> u64 {
        map_json
            .get("conditions")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find(|c| c.get("condition").and_then(Value::as_str) == Some(name))
            })
            .and_then(|c| c.get("meters"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let stride = map_json.get("stride").and_then(Value::as_u64).unwrap_or(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_err("map", e))?;
        let (map_area, legend_area) = root.split_vertically(height - 150);
        let mut c = ChartBuilder::on(&map_area)
            .caption(format!("Blast radius at {when} (the worst moment)"), ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| draw_err("map", e))?;
        c.configure_mesh()
            .disable_mesh()
            .x_desc("east, km")
            .y_desc("north, km")
            .draw()
            .map_err(|e| draw_err("map", e))?;
        let (px, _) = c.plotting_area().get_pixel_range();
        let px_per_km = f64::from(px.end - px.start) / (x1 - x0);
        // Affected feeders, under the meters.
        if let Some(feeders) = map_json.get("feeders").and_then(Value::as_array) {
            for f in feeders {
                let path: Vec<(f64, f64)> = f
                    .get("path")
                    .and_then(Value::as_array)
                    .map(|p| {
                        p.iter()
                            .filter_map(|q| Some((km(q.get(0)?.as_f64()?), km(q.get(1)?.as_f64()?))))
                            .collect()
                    })
                    .unwrap_or_default();
                c.draw_series(std::iter::once(PathElement::new(
                    path,
                    RGBColor(0x8c, 0x2d, 0x04).stroke_width(2),
                )))
                .map_err(|e| draw_err("map", e))?;
            }
        }
        // Meters, the unaffected first so that the affected are on top.
        let r = (px_per_km * 0.006).clamp(1.0, 3.0) as i32;
        for (name, _, colour) in CONDITION_COLOURS.iter().rev() {
            let pts = in_condition(name, false).map(|p| Circle::new(p, r, colour.filled()));
            c.draw_series(pts).map_err(|e| draw_err("map", e))?;
        }
        // Jammers.
        if let Some(areas) = map_json.get("areas").and_then(Value::as_array) {
            for a in areas {
                let g = |k: &str| a.get(k).and_then(Value::as_f64).unwrap_or(0.0);
                let on = a.get("on").and_then(Value::as_bool).unwrap_or(false);
                let (cx, cy) = (km(g("x")), km(g("y")));
                let radius = (km(g("radius_m")) * px_per_km).max(2.0) as i32;
                let style = if on {
                    RGBColor(0xd6, 0x27, 0x28).stroke_width(3)
                } else {
                    RGBColor(0x80, 0x80, 0x80).stroke_width(2)
                };
                c.draw_series(std::iter::once(Circle::new((cx, cy), radius, style)))
                    .map_err(|e| draw_err("map", e))?;
                c.draw_series(std::iter::once(Cross::new((cx, cy), 6, style)))
                    .map_err(|e| draw_err("map", e))?;
            }
        }
        // Substations.
        if let Some(subs) = map_json.get("substations").and_then(Value::as_array) {
            let pts = subs
                .iter()
                .filter_map(|s| Some((km(s.get(0)?.as_f64()?), km(s.get(1)?.as_f64()?))));
            c.draw_series(pts.map(|p| EmptyElement::at(p) + Rectangle::new([(-5, -5), (5, 5)], BLACK.filled())))
                .map_err(|e| draw_err("map", e))?;
        }
        // Critical facilities, coloured by condition; smaller where there are many, so that a
        // city's thousand do not cover its meters.
        let facilities = dots.iter().filter(|d| d.2).count();
        let (outer, inner) = match facilities {
            0..=60 => (10, 7),
            61..=300 => (7, 5),
            _ => (5, 3),
        };
        for (name, _, colour) in CONDITION_COLOURS.iter().rev() {
            let pts = in_condition(name, true).map(|p| {
                EmptyElement::at(p)
                    + TriangleMarker::new((0, 0), outer, BLACK.filled())
                    + TriangleMarker::new((0, 0), inner, colour.filled())
            });
            c.draw_series(pts).map_err(|e| draw_err("map", e))?;
        }
        // The legend, below the map, with counts over the whole fleet.
        let font = ("sans-serif", 14).into_font();
        let mut y = 10;
        for (k, (name, label, colour)) in CONDITION_COLOURS.iter().enumerate() {
            let x = 20 + (k % 3) as i32 * 310;
            if k == 3 {
                y += 24;
            }
            legend_area
                .draw(&Circle::new((x, y + 7), 6, colour.filled()))
                .map_err(|e| draw_err("map", e))?;
            legend_area
                .draw(&Text::new(
                    format!("{label}: {}", count(name)),
                    (x + 14, y),
                    font.clone(),
                ))
                .map_err(|e| draw_err("map", e))?;
        }
        y += 30;
        let items: [(&str, ShapeStyle); 4] = [
            (
                "feeder with customers off or meters held",
                RGBColor(0x8c, 0x2d, 0x04).stroke_width(2),
            ),
            ("jammer transmitting", RGBColor(0xd6, 0x27, 0x28).stroke_width(3)),
            ("jammer off at that moment", RGBColor(0x80, 0x80, 0x80).stroke_width(2)),
            ("substation", BLACK.filled()),
        ];
        for (k, (label, style)) in items.iter().enumerate() {
            let x = 20 + (k % 2) as i32 * 465;
            let yy = y + (k / 2) as i32 * 24;
            let drawn = match k {
                0 => legend_area.draw(&PathElement::new(vec![(x - 6, yy + 7), (x + 8, yy + 7)], *style)),
                1 | 2 => legend_area.draw(&Circle::new((x, yy + 7), 7, *style)),
                _ => legend_area.draw(&Rectangle::new([(x - 5, yy + 2), (x + 5, yy + 12)], *style)),
            };
            drawn.map_err(|e| draw_err("map", e))?;
            legend_area
                .draw(&Text::new(*label, (x + 14, yy), font.clone()))
                .map_err(|e| draw_err("map", e))?;
        }
        let critical = map_json.get("critical").and_then(Value::as_u64).unwrap_or(0);
        let critical_off = map_json.get("critical_off").and_then(Value::as_u64).unwrap_or(0);
        let thinned = if stride > 1 {
            format!("; one meter in {stride} drawn, every critical facility")
        } else {
            String::new()
        };
        legend_area
            .draw(&TriangleMarker::new((14, y + 55), 9, BLACK.filled()))
            .map_err(|e| draw_err("map", e))?;
        legend_area
            .draw(&Text::new(
                format!("critical facility ({critical}, {critical_off} off supply){thinned}"),
                (28, y + 48),
                font.clone(),
            ))
            .map_err(|e| draw_err("map", e))?;
        root.present().map_err(|e| draw_err("map", e))?;
    }
    // Thousands of dots: drop the attributes that only restate SVG's defaults (a fill without
    // stroke, full opacity), which halves the file.
    Ok(svg
        .replace(" opacity=\"1\" fill=", " fill=")
        .replace(" stroke=\"none\" stroke-width=\"1\"/>", "/>"))
}

/// The reports' style sheet, inline.
const STYLE: &str = "<style>body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}td:first-child,th:first-child{text-align:left}figure{margin:1em 0}</style>\n";

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG document as an inline HTML element (the XML namespace, which HTML does not need, is
/// dropped, so the report names no URL).
pub fn inline_svg(svg: &str) -> String {
    svg.replace(" xmlns=\"http://www.w3.org/2000/svg\"", "")
        .replace("xmlns=\"http://www.w3.org/2000/svg\"", "")
}

fn num(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::String(s)) => escape(s),
        Some(Value::Null) | None => "–".into(),
        Some(other) => escape(&other.to_string()),
    }
}

/// A measure for people, as [`numbers::significant`] writes a number; anything else as [`num`]
/// writes it.
fn measure(v: Option<&Value>) -> String {
    let Some(Value::Number(n)) = v else {
        return num(v);
    };
    match n.as_f64() {
        Some(x) => numbers::significant(x, n.is_f64()),
        None => n.to_string(),
    }
}

/// The run's report: scenario, headline measures, the charts inline, the attacks and detectors
/// tables, and with `outside` (`outside.json`, as `amirange score --into` writes it) the
/// outside detectors beside the built-in ones. Self-contained: no script, no external style
/// sheet, font or image.
pub fn report_html(
    manifest: &Value,
    metrics: &Value,
    timeline: &str,
    map: Option<&str>,
    detection: Option<&str>,
    outside: Option<&Value>,
) -> String {
    let name = manifest.get("scenario").and_then(Value::as_str).unwrap_or("run");
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str(&format!("<title>amirange: {}</title>\n", escape(name)));
    h.push_str(STYLE);
    h.push_str("</head>\n<body>\n");
    h.push_str(&format!("<h1>{}</h1>\n", escape(name)));
    h.push_str("<table>\n");
    for (label, key) in [
        ("seed", "seed"),
        ("meters", "meters"),
        ("start", "start"),
        ("duration", "duration"),
        ("source", "scenario_source"),
        ("amirange", "amirange_version"),
    ] {
        h.push_str(&format!(
            "<tr><td>{label}</td><td>{}</td></tr>\n",
            num(manifest.get(key))
        ));
    }
    h.push_str("</table>\n<h2>Summary</h2>\n<table>\n");
    let path = |p: &str| -> Option<&Value> {
        let mut v = metrics;
        for k in p.split('.') {
            v = v.get(k)?;
        }
        Some(v)
    };
    for (label, p) in [
        ("customer-minutes interrupted", "supply.customer_minutes_interrupted"),
        ("fewest customers connected", "supply.min_customers_connected"),
        (
            "most customers off by attacks at once",
            "supply.by_cause.attack.peak_customers_off",
        ),
        ("reads on time, %", "reads.on_time_pct"),
        ("alerts", "defense.alerts"),
        ("false positives per day", "defense.false_positives_per_day"),
        ("lowest frequency, Hz", "frequency.min_hz"),
    ] {
        h.push_str(&format!("<tr><td>{label}</td><td>{}</td></tr>\n", measure(path(p))));
    }
    h.push_str("</table>\n<h2>Timeline</h2>\n<figure id=\"timeline\">\n");
    h.push_str(&inline_svg(timeline));
    h.push_str("\n</figure>\n");
    if let Some(svg) = map {
        h.push_str("<h2>Blast radius</h2>\n<figure id=\"map\">\n");
        h.push_str(&inline_svg(svg));
        h.push_str("\n</figure>\n");
    }
    if let Some(svg) = detection {
        h.push_str("<h2>Detection</h2>\n<figure id=\"detection\">\n");
        h.push_str(&inline_svg(svg));
        h.push_str("\n</figure>\n");
    }
    if let Some(attacks) = metrics
        .get("attacks")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        h.push_str("<h2>Attacks</h2>\n<table>\n<tr><th>attack</th><th>kind</th><th>worked</th><th>detected</th><th>time to detect, s</th><th>first detector</th><th>peak customers off</th><th>customer-minutes</th><th>readings lost</th><th>time to restore, s</th></tr>\n");
        for a in attacks {
            let b = a.get("blast_radius");
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                num(a.get("id")),
                num(a.get("kind")),
                num(a.get("succeeded")),
                num(a.get("detected")),
                measure(a.get("time_to_detect_s")),
                num(a.get("first_detector")),
                measure(b.and_then(|b| b.get("peak_customers_disconnected"))),
                measure(b.and_then(|b| b.get("customer_minutes_interrupted"))),
                measure(b.and_then(|b| b.get("readings_lost"))),
                measure(b.and_then(|b| b.get("time_to_restore_s"))),
            ));
        }
        h.push_str("</table>\n");
    }
    if let Some(ds) = metrics
        .get("detectors")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
    {
        h.push_str("<h2>Detectors</h2>\n<table>\n<tr><th>detector</th><th>alerts</th><th>true positives</th><th>false positives</th><th>precision</th><th>recall</th><th>false positives per day</th></tr>\n");
        for d in ds {
            h.push_str(&format!("<tr>{}</tr>\n", detector_cells(d)));
        }
        h.push_str("</table>\n");
    }
    if let Some(outside) = outside {
        outside_section(&mut h, outside);
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// A detector's scores as table cells: name, alerts, true and false positives, precision,
/// recall, false positives per day.
fn detector_cells(d: &Value) -> String {
    format!(
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
        num(d.get("name")),
        measure(d.get("alerts")),
        measure(d.get("true_positives")),
        measure(d.get("false_positives")),
        measure(d.get("precision")),
        measure(d.get("recall")),
        measure(d.get("false_positives_per_day")),
    )
}

/// The outside detectors' scores (`outside.json`): per detector as the built-in ones are
/// scored, with their false positives per day on the baseline twin when it was scored, and per
/// attack the built-in and outside first detections side by side.
fn outside_section(h: &mut String, outside: &Value) {
    let twin_rate = |whose: &str, name: Option<&Value>| -> Option<Value> {
        let list = outside.get("twin")?.get(whose)?.as_array()?;
        let d = list.iter().find(|d| d.get("name") == name)?;
        d.get("false_positives_per_day").cloned()
    };
    let alerts = outside.get("outside").and_then(|o| o.get("alerts"));
    h.push_str("<h2 id=\"outside\">Outside detectors</h2>\n");
    h.push_str(&format!(
        "<p>{} alert(s) from detectors outside amirange, judged against this run's ground truth as the built-in detectors are (<code>amirange score</code>).</p>\n",
        measure(alerts)
    ));
    h.push_str("<table>\n<tr><th>detector</th><th>alerts</th><th>true positives</th><th>false positives</th><th>precision</th><th>recall</th><th>false positives per day</th><th>on the baseline twin, per day</th><th></th></tr>\n");
    for (whose, list) in [
        ("outside", outside.get("outside").and_then(|o| o.get("detectors"))),
        ("built_in", outside.get("built_in").and_then(|o| o.get("detectors"))),
    ] {
        for d in list.and_then(Value::as_array).into_iter().flatten() {
            h.push_str(&format!(
                "<tr>{}<td>{}</td><td>{}</td></tr>\n",
                detector_cells(d),
                measure(twin_rate(whose, d.get("name")).as_ref()),
                if whose == "outside" { "outside" } else { "built-in" },
            ));
        }
    }
    h.push_str("</table>\n");
    let attacks = outside
        .get("attacks")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    if let Some(attacks) = attacks {
        h.push_str("<table>\n<tr><th>attack</th><th>kind</th><th>built-in: first detector</th><th>time to detect, s</th><th>outside: first detector</th><th>time to detect, s</th></tr>\n");
        for a in attacks {
            let (b, o) = (a.get("built_in"), a.get("outside"));
            let first = |side: Option<&Value>| match side.and_then(|s| s.get("detected")) {
                Some(Value::Bool(true)) => num(side.and_then(|s| s.get("first_detector"))),
                _ => "not detected".to_owned(),
            };
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                num(a.get("id")),
                num(a.get("kind")),
                first(b),
                measure(b.and_then(|b| b.get("time_to_detect_s"))),
                first(o),
                measure(o.and_then(|o| o.get("time_to_detect_s"))),
            ));
        }
        h.push_str("</table>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &str = "time,slot,true_kw,reported_kw,customers_connected\n\
2026-01-15T00:00:00,0,100,98,10\n2026-01-15T00:15:00,1,110,107,10\n2026-01-15T00:30:00,2,120,0,4\n";
    const TRUTH: &str =
        "time,time_s,attack,step\n2026-01-15T00:15:00,900,md,request\n2026-01-15T00:30:00,1800,md,relay-open\n";
    const ALERTS: &str = "time,detector,message\n2026-01-15T00:20:00,command-rate,\"a, b\"\n";

    #[test]
    fn the_timeline_draws_every_interval_the_attack_window_and_the_alert() {
        let svg = timeline_svg(TS, TRUTH, ALERTS).expect("draws");
        assert!(svg.starts_with("<svg"), "{}", &svg[..60]);
        // Three lines (customers, true, reported) of three points each.
        let lines: Vec<&str> = svg.split("<polyline").skip(1).collect();
        assert!(lines.len() >= 3, "{}", lines.len());
        assert!(svg.contains("Customers connected") && svg.contains("true load"));
        // The attack window: a shaded rectangle in each panel; the alert: a red mark.
        assert!(
            svg.matches("fill-opacity=\"0.12\"").count() >= 2 || svg.contains("opacity=\"0.12\""),
            "{svg}"
        );
        assert!(svg.contains("#FF0000"), "the alert mark");
    }

    #[test]
    fn detection_and_sweep_charts_carry_their_data() {
        let metrics: Value = serde_json::from_str(
            r#"{"attacks":[{"id":"md","start":"2026-01-15T10:00:00","time_to_detect_s":600.0,"first_detector":"command-rate"},{"id":"jam","time_to_detect_s":null}]}"#,
        )
        .expect("json");
        let alerts = "time,detector,severity,subject,count,true_positive,attack,message,meters\n\
2026-01-15T10:10:00,command-rate,high,x,1,true,md,m,\n2026-01-15T10:30:00,zero-at-peak,high,x,1,true,md,m,\n\
2026-01-15T10:40:00,zero-at-peak,high,x,1,true,md,m,\n2026-01-15T10:20:00,ids,low,x,1,false,,m,\n";
        let svg = detection_svg(&metrics, alerts).expect("draws").expect("attacks");
        assert!(
            svg.contains("md: 10.0 min by command-rate") && svg.contains("jam: not detected"),
            "{svg}"
        );
        // The other detector that caught md, at its first alert; the false positive is not drawn.
        assert!(
            svg.contains("also zero-at-peak: 30.0 min") && !svg.contains("ids"),
            "{svg}"
        );
        let summary = "point,attacks[0].radius_m,measure,n,mean,sd,ci95_low,ci95_high\n\
0,200,lost,5,10,1,9,11\n1,400,lost,5,40,2,38,42\n1,400,other,5,1,0,1,1\n";
        let svg = sweep_svg(summary, "lost").expect("draws");
        assert!(svg.contains("<polygon") && svg.contains("<circle"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2, "one point per grid value");
        assert!(sweep_svg(summary, "missing").is_err());
        // Words are categories in grid order.
        let summary = "point,mode,measure,n,mean,sd,ci95_low,ci95_high\n\
0,constant,lost,5,10,1,9,11\n1,reactive,lost,5,4,1,3,5\n";
        let svg = sweep_svg(summary, "lost").expect("draws");
        assert!(svg.contains("\nconstant\n") && svg.contains("\nreactive\n"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
        // Sections whose first varying number does not tell them apart are categories.
        let summary = "point,limit,measure,n,mean,sd,ci95_low,ci95_high\n\
0,\"{\"\"meters\"\":50,\"\"per\"\":\"\"1h\"\"}\",lost,5,10,1,9,11\n\
1,\"{\"\"meters\"\":50,\"\"per\"\":\"\"2h\"\"}\",lost,5,6,1,5,7\n\
2,\"{\"\"meters\"\":100,\"\"per\"\":\"\"1h\"\"}\",lost,5,4,1,3,5\n";
        let svg = sweep_svg(summary, "lost").expect("draws");
        assert_eq!(
            svg.matches("<circle").count(),
            3,
            "three grid points, three x positions"
        );
        assert!(!svg.contains("limit.meters"), "meters does not tell the sections apart");
        // Nothing varies: no chart, and the reason.
        let summary = "point,mode,measure,n,mean,sd,ci95_low,ci95_high\n0,constant,lost,5,10,1,9,11\n";
        let e = sweep_svg(summary, "lost").expect_err("nothing to draw against");
        assert!(e.to_string().contains("no grid axis varies"), "{e}");
    }

    #[test]
    fn the_map_draws_each_meter_in_its_condition_the_jammer_and_the_feeder() {
        let csv = "meter,x_m,y_m,feeder,transformer,class,facility,condition\n\
0,0,0,0,0,residential,,off-attack\n1,100,50,0,0,residential,,off-attack\n\
2,900,900,1,1,residential,,normal\n3,500,500,1,1,critical,hospital,unread\n";
        let json: Value = serde_json::from_str(
            r#"{"moment":{"slot":3,"time":"2026-01-15T01:00:00"},"stride":1,"bounds":[0,0,900,900],
            "conditions":[{"condition":"off-attack","meters":2},{"condition":"normal","meters":1},{"condition":"unread","meters":1}],
            "critical":1,"critical_off":0,"substations":[[450,450]],
            "feeders":[{"id":0,"path":[[450,450],[0,0],[100,50]]}],
            "areas":[{"x":50,"y":25,"radius_m":200,"on":true}]}"#,
        )
        .expect("json");
        let svg = blast_map_svg(csv, &json).expect("draws");
        assert!(svg.contains("Blast radius at 2026-01-15 01:00:00"), "{svg}");
        // Two red meters and one grey, plus their legend entries; the hospital is a triangle.
        assert_eq!(svg.matches("fill=\"#D62728\"/>").count(), 2 + 1);
        assert_eq!(svg.matches("fill=\"#C8C8C8\"/>").count(), 1 + 1);
        assert!(svg.contains("off supply by an attack: 2") && svg.contains("critical facility (1, 0 off supply)"));
        // The transmitting jammer: a thick red ring.
        assert!(svg.contains("stroke=\"#D62728\" stroke-width=\"3\""), "{svg}");
        // The affected feeder: a polyline through the substation and its two transformers.
        assert!(svg.contains("stroke=\"#8C2D04\" stroke-width=\"2\" points=\""));
        assert!(blast_map_svg(csv, &serde_json::json!({})).is_err(), "no bounds");
        assert!(
            blast_map_svg(csv, &serde_json::json!({"bounds": [6, 6, 0, 0]})).is_err(),
            "inverted bounds"
        );
        assert!(blast_map_svg("meter,x_m\n", &json).is_err(), "no columns");
    }

    #[test]
    fn the_report_is_self_contained() {
        let svg = timeline_svg(TS, TRUTH, ALERTS).expect("draws");
        let manifest: Value = serde_json::from_str(r#"{"scenario":"s <x>","seed":7}"#).expect("json");
        let metrics: Value = serde_json::from_str(r#"{"attacks":[],"detectors":[]}"#).expect("json");
        let html = report_html(&manifest, &metrics, &svg, None, None, None);
        assert!(!html.contains("http://") && !html.contains("https://"), "no URL");
        assert!(html.contains("<svg") && html.contains("s &lt;x&gt;"));
        assert!(!html.contains("<script") && !html.contains("<link"));
    }

    #[test]
    fn the_reports_measures_are_formatted_for_people_and_exist() {
        let svg = timeline_svg(TS, TRUTH, ALERTS).expect("draws");
        let manifest: Value = serde_json::from_str(r#"{"scenario":"s","seed":7}"#).expect("json");
        let metrics: Value = serde_json::from_str(
            r#"{"supply":{"customer_minutes_interrupted":2829651.30953,"min_customers_connected":6801,
                "by_cause":{"attack":{"peak_customers_off":3199}}},
               "reads":{"on_time_pct":98.871146},"defense":{"alerts":0,"false_positives_per_day":0.0},
               "frequency":{"min_hz":49.951234},"attacks":[],"detectors":[]}"#,
        )
        .expect("json");
        let html = report_html(&manifest, &metrics, &svg, None, None, None);
        for row in [
            "<td>customer-minutes interrupted</td><td>2,829,651</td>",
            "<td>fewest customers connected</td><td>6,801</td>",
            "<td>most customers off by attacks at once</td><td>3,199</td>",
            "<td>reads on time, %</td><td>98.87</td>",
            "<td>false positives per day</td><td>0</td>",
            "<td>lowest frequency, Hz</td><td>49.95</td>",
        ] {
            assert!(html.contains(row), "{row} missing from the summary");
        }
        let m = |x: f64| measure(Some(&serde_json::json!(x)));
        assert_eq!(
            (m(0.857142), m(-1234.6), m(0.0004), m(-0.0001)),
            ("0.857".into(), "-1,235".into(), "0".into(), "0".into())
        );
        assert_eq!(measure(Some(&serde_json::json!(1234567))), "1,234,567");
        assert_eq!(measure(None), "–");
    }
}
