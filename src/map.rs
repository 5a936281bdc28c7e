//! `amirange topo map`: an SVG map of a network — meters coloured by how they are reached,
//! mesh routes, collectors, transformers chained along their feeders, substations, critical
//! facilities and orphans.

use std::fmt::Write as _;

use amirange_sim::model::LinkKind;
use amirange_sim::network::{NONE, NetState, Network, Via};

/// Colours by link kind (mesh, PLC, cellular), chosen to stay apart for colour-blind readers.
const LINK_COLOURS: [&str; 3] = ["#1f77b4", "#e69f00", "#009e73"];
const ORPHAN: &str = "#d62728";
/// Meters drawn at most; larger networks are thinned evenly (the legend says so).
const MAX_METERS_DRAWN: usize = 60_000;

/// Renders the map, `width` pixels wide.
pub fn svg(net: &Network, state: &NetState, title: &str, width: f64) -> String {
    let (mut lo, mut hi) = ((f32::MAX, f32::MAX), (f32::MIN, f32::MIN));
    let mut grow = |x: f32, y: f32| {
        lo = (lo.0.min(x), lo.1.min(y));
        hi = (hi.0.max(x), hi.1.max(y));
    };
    for m in &net.meters {
        grow(m.pos.x, m.pos.y);
    }
    for s in &net.substations {
        grow(s.pos.x, s.pos.y);
    }
    let pad = 0.03 * f64::from((hi.0 - lo.0).max(hi.1 - lo.1)).max(10.0);
    let (x0, y0) = (f64::from(lo.0) - pad, f64::from(lo.1) - pad);
    let (w_m, h_m) = (f64::from(hi.0) - x0 + pad, f64::from(hi.1) - y0 + pad);
    let scale = width / w_m;
    let legend_h = 150.0;
    let height = h_m * scale;
    // North up: SVG's y grows downward.
    let px = |x: f32| (f64::from(x) - x0) * scale;
    let py = |y: f32| height - (f64::from(y) - y0) * scale;
    let stride = net.meters.len().div_ceil(MAX_METERS_DRAWN).max(1);
    let r = (scale * 6.0).clamp(0.6, 3.0);
    let mut out = String::with_capacity(net.meters.len() / stride * 90 + 10_000);
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{:.0}" viewBox="0 0 {width:.0} {:.0}" font-family="sans-serif" font-size="13">"##,
        height + legend_h,
        height + legend_h
    );
    let _ = writeln!(out, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    // Mesh routes, under everything else.
    let _ = write!(
        out,
        r##"<g stroke="#9ecae1" stroke-width="{:.2}" fill="none">"##,
        (r * 0.35).max(0.3)
    );
    let n_meters = net.meters.len() as u32;
    for (i, m) in net.meters.iter().enumerate().step_by(stride) {
        let parent = state.routes.parent[i];
        if m.link == LinkKind::Mesh && state.paths[i].via == Via::Mesh && parent != NONE {
            let p = net.node_pos(parent);
            let _ = write!(
                out,
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
                px(m.pos.x),
                py(m.pos.y),
                px(p.x),
                py(p.y)
            );
        }
    }
    let _ = writeln!(out, "</g>");
    // Feeders: substation to its transformers, chained in order.
    let _ = write!(
        out,
        r##"<g stroke="#555555" stroke-width="1.2" fill="none" opacity="0.7">"##
    );
    let mut last_on_feeder = vec![None; net.feeders.len()];
    for t in &net.transformers {
        let f = t.feeder as usize;
        let from = last_on_feeder[f].unwrap_or(net.substations[net.feeders[f].substation as usize].pos);
        let _ = write!(
            out,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
            px(from.x),
            py(from.y),
            px(t.pos.x),
            py(t.pos.y)
        );
        last_on_feeder[f] = Some(t.pos);
    }
    let _ = writeln!(out, "</g>");
    // Meters by how they are reached now; orphans in red.
    for (kind, colour) in LinkKind::ALL.iter().zip(LINK_COLOURS) {
        let _ = write!(out, r#"<g fill="{colour}">"#);
        for (i, m) in net.meters.iter().enumerate().step_by(stride) {
            if m.link == *kind && !matches!(state.paths[i].via, Via::Orphan(_)) {
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="{r:.2}"/>"#,
                    px(m.pos.x),
                    py(m.pos.y)
                );
            }
        }
        let _ = writeln!(out, "</g>");
    }
    let _ = write!(out, r#"<g fill="{ORPHAN}">"#);
    for (i, m) in net.meters.iter().enumerate() {
        if matches!(state.paths[i].via, Via::Orphan(_)) {
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="{:.2}"/>"#,
                px(m.pos.x),
                py(m.pos.y),
                r * 1.5
            );
        }
    }
    let _ = writeln!(out, "</g>");
    // Transformers (small grey squares), collectors, substations, critical facilities.
    let s = (r * 2.2).max(2.5);
    let _ = write!(out, r##"<g fill="#777777">"##);
    for t in &net.transformers {
        let _ = write!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="{s:.1}" height="{s:.1}"/>"#,
            px(t.pos.x) - s / 2.0,
            py(t.pos.y) - s / 2.0
        );
    }
    let _ = writeln!(out, "</g>");
    let c = (r * 4.0).max(5.0);
    for (i, col) in net.collectors.iter().enumerate() {
        let (x, y) = (px(col.pos.x), py(col.pos.y));
        let colour = LINK_COLOURS[col.kind.index()];
        let _ = match col.kind {
            LinkKind::Mesh => write!(
                out,
                r##"<path d="M{x:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z" fill="{colour}" stroke="#000000" stroke-width="1"><title>mesh collector {i}</title></path>"##,
                y - c,
                x - c,
                y + c * 0.8,
                x + c,
                y + c * 0.8
            ),
            LinkKind::Plc => write!(
                out,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}" stroke="#000000" stroke-width="0.8"><title>PLC concentrator {i}</title></rect>"##,
                x - c * 0.45,
                y - c * 0.45,
                c * 0.9,
                c * 0.9
            ),
            LinkKind::Cellular => write!(
                out,
                r##"<path d="M{x:.1} {:.1} L{:.1} {y:.1} L{x:.1} {:.1} L{:.1} {y:.1} Z" fill="{colour}" stroke="#000000" stroke-width="1"><title>cellular tower {i}</title></path>"##,
                y - c,
                x + c,
                y + c,
                x - c
            ),
        };
    }
    for (i, sub) in net.substations.iter().enumerate() {
        let _ = write!(
            out,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#000000"><title>substation {i}</title></rect>"##,
            px(sub.pos.x) - c,
            py(sub.pos.y) - c,
            2.0 * c,
            2.0 * c
        );
    }
    let _ = write!(out, r##"<g fill="none" stroke="#d62728" stroke-width="2">"##);
    for (i, m) in net.meters.iter().enumerate() {
        if let Some(kind) = m.facility {
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="{:.1}"><title>{} (meter {i})</title></circle>"#,
                px(m.pos.x),
                py(m.pos.y),
                c * 1.2,
                kind.name()
            );
        }
    }
    let _ = writeln!(out, "</g>");
    // Scale bar and legend.
    let bar_m = nice_length(w_m / 5.0);
    let ly = height + 20.0;
    let _ = writeln!(
        out,
        r##"<line x1="20" y1="{ly:.0}" x2="{:.1}" y2="{ly:.0}" stroke="#000000" stroke-width="3"/><text x="20" y="{:.0}">{}</text>"##,
        20.0 + bar_m * scale,
        ly + 18.0,
        if bar_m >= 1_000.0 {
            format!("{} km", bar_m / 1_000.0)
        } else {
            format!("{bar_m} m")
        }
    );
    let summary = state.reach_summary();
    let items = [
        (LINK_COLOURS[0], "mesh meter (lines: mesh routes)"),
        (LINK_COLOURS[1], "PLC meter"),
        (LINK_COLOURS[2], "cellular meter"),
        (ORPHAN, "orphan (no path)"),
    ];
    for (k, (colour, label)) in items.iter().enumerate() {
        let x = 200.0 + 260.0 * (k % 2) as f64;
        let y = ly - 4.0 + 22.0 * (k / 2) as f64;
        let _ = writeln!(
            out,
            r#"<circle cx="{x:.0}" cy="{y:.0}" r="5" fill="{colour}"/><text x="{:.0}" y="{:.0}">{label}</text>"#,
            x + 10.0,
            y + 5.0
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="200" y="{:.0}">▲ mesh collector   ■ PLC concentrator (orange) / substation (black)   ◆ cellular tower   grey: transformers and feeders   red ring: critical facility</text>"##,
        ly + 48.0
    );
    let thinned = if stride > 1 {
        format!(", every {stride}th meter drawn")
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        r##"<text x="20" y="{:.0}" font-weight="bold">{} — {} meters, {} collectors, {} feeders, {} orphans{thinned}</text>"##,
        ly + 76.0,
        escape(title),
        n_meters,
        net.collectors.len(),
        net.feeders.len(),
        summary.n_orphans()
    );
    out.push_str("</svg>\n");
    out
}

/// 1, 2 or 5 times a power of ten, at most `x`.
fn nice_length(x: f64) -> f64 {
    let p = 10f64.powf(x.max(1.0).log10().floor());
    [5.0, 2.0, 1.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&v| v <= x)
        .unwrap_or(p)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
