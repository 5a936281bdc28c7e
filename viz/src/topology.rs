//! A generated network's map as SVG (`amirange topo map`): meters coloured by how they are
//! reached, mesh routes, collectors, transformers chained along their feeders, substations,
//! critical facilities and orphans.
//!
//! Like the rest of this crate it knows nothing of the engine: the command line turns a
//! network into a [`TopologyMap`] of plain positions and links, and this draws it.

use std::fmt::Write as _;

use crate::escape;

/// How a meter is reached, or what kind of collector a site is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// RF mesh.
    Mesh,
    /// Power-line carrier.
    Plc,
    /// Cellular.
    Cellular,
}

impl Link {
    /// Every link kind, in the legend's order.
    pub const ALL: [Link; 3] = [Link::Mesh, Link::Plc, Link::Cellular];

    /// Its colour, chosen to stay apart from the others for colour-blind readers.
    fn colour(self) -> &'static str {
        match self {
            Link::Mesh => LINK_COLOURS[0],
            Link::Plc => LINK_COLOURS[1],
            Link::Cellular => LINK_COLOURS[2],
        }
    }
}

/// A point on the map, `[east, north]` in metres.
pub type Place = [f32; 2];

/// A meter on the map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapMeter {
    /// Where it is.
    pub place: Place,
    /// Its link kind.
    pub link: Link,
    /// Whether it has no path to any collector.
    pub orphan: bool,
    /// The next node of its mesh route, when it is reached over the mesh.
    pub mesh_parent: Option<Place>,
    /// Its critical facility's kind, if it is one.
    pub facility: Option<&'static str>,
}

/// A distribution transformer on the map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapTransformer {
    /// Where it is.
    pub place: Place,
    /// Its feeder (an index into [`TopologyMap::feeders`]).
    pub feeder: u32,
}

/// A collector (mesh collector, PLC concentrator or cellular tower) on the map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapCollector {
    /// Where it is.
    pub place: Place,
    /// Its kind.
    pub link: Link,
}

/// What the map draws: a network as plain positions and links.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopologyMap {
    /// Every meter, in meter order.
    pub meters: Vec<MapMeter>,
    /// Transformers, in order along each feeder.
    pub transformers: Vec<MapTransformer>,
    /// Collectors.
    pub collectors: Vec<MapCollector>,
    /// Substations.
    pub substations: Vec<Place>,
    /// Per feeder, its substation (an index into `substations`).
    pub feeders: Vec<u32>,
    /// Meters with no path, as the title counts them.
    pub orphans: usize,
}

/// Colours by link kind (mesh, PLC, cellular), chosen to stay apart for colour-blind readers.
const LINK_COLOURS: [&str; 3] = ["#1f77b4", "#e69f00", "#009e73"];
const ORPHAN: &str = "#d62728";
/// Meters drawn at most; larger networks are thinned evenly (the legend says so).
pub const MAX_METERS_DRAWN: usize = 60_000;

/// Draws `net`'s map, `width` pixels wide, with `title` under it.
pub fn topology_svg(net: &TopologyMap, title: &str, width: f64) -> String {
    let (mut lo, mut hi) = ((f32::MAX, f32::MAX), (f32::MIN, f32::MIN));
    let mut grow = |x: f32, y: f32| {
        lo = (lo.0.min(x), lo.1.min(y));
        hi = (hi.0.max(x), hi.1.max(y));
    };
    for m in &net.meters {
        grow(m.place[0], m.place[1]);
    }
    for s in &net.substations {
        grow(s[0], s[1]);
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
    for m in net.meters.iter().step_by(stride) {
        if let Some(p) = m.mesh_parent {
            let _ = write!(
                out,
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
                px(m.place[0]),
                py(m.place[1]),
                px(p[0]),
                py(p[1])
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
        let from = last_on_feeder[f].unwrap_or(net.substations[net.feeders[f] as usize]);
        let _ = write!(
            out,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
            px(from[0]),
            py(from[1]),
            px(t.place[0]),
            py(t.place[1])
        );
        last_on_feeder[f] = Some(t.place);
    }
    let _ = writeln!(out, "</g>");
    // Meters by how they are reached now; orphans in red.
    for kind in Link::ALL {
        let _ = write!(out, r#"<g fill="{}">"#, kind.colour());
        for m in net.meters.iter().step_by(stride) {
            if m.link == kind && !m.orphan {
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="{r:.2}"/>"#,
                    px(m.place[0]),
                    py(m.place[1])
                );
            }
        }
        let _ = writeln!(out, "</g>");
    }
    let _ = write!(out, r#"<g fill="{ORPHAN}">"#);
    for m in net.meters.iter().filter(|m| m.orphan) {
        let _ = write!(
            out,
            r#"<circle cx="{:.1}" cy="{:.1}" r="{:.2}"/>"#,
            px(m.place[0]),
            py(m.place[1]),
            r * 1.5
        );
    }
    let _ = writeln!(out, "</g>");
    // Transformers (small grey squares), collectors, substations, critical facilities.
    let s = (r * 2.2).max(2.5);
    let _ = write!(out, r##"<g fill="#777777">"##);
    for t in &net.transformers {
        let _ = write!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="{s:.1}" height="{s:.1}"/>"#,
            px(t.place[0]) - s / 2.0,
            py(t.place[1]) - s / 2.0
        );
    }
    let _ = writeln!(out, "</g>");
    let c = (r * 4.0).max(5.0);
    for (i, col) in net.collectors.iter().enumerate() {
        let (x, y) = (px(col.place[0]), py(col.place[1]));
        let colour = col.link.colour();
        let _ = match col.link {
            Link::Mesh => write!(
                out,
                r##"<path d="M{x:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z" fill="{colour}" stroke="#000000" stroke-width="1"><title>mesh collector {i}</title></path>"##,
                y - c,
                x - c,
                y + c * 0.8,
                x + c,
                y + c * 0.8
            ),
            Link::Plc => write!(
                out,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}" stroke="#000000" stroke-width="0.8"><title>PLC concentrator {i}</title></rect>"##,
                x - c * 0.45,
                y - c * 0.45,
                c * 0.9,
                c * 0.9
            ),
            Link::Cellular => write!(
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
            px(sub[0]) - c,
            py(sub[1]) - c,
            2.0 * c,
            2.0 * c
        );
    }
    let _ = write!(out, r##"<g fill="none" stroke="#d62728" stroke-width="2">"##);
    for (i, m) in net.meters.iter().enumerate() {
        if let Some(kind) = m.facility {
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="{:.1}"><title>{kind} (meter {i})</title></circle>"#,
                px(m.place[0]),
                py(m.place[1]),
                c * 1.2
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
        net.orphans
    );
    out.push_str("</svg>\n");
    out
}

/// 1, 2 or 5 times a power of ten, at most `x` (the scale bar's length).
fn nice_length(x: f64) -> f64 {
    let p = 10f64.powf(x.max(1.0).log10().floor());
    [5.0, 2.0, 1.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&v| v <= x)
        .unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two meters on one feeder (one reached over the mesh through the other, one a hospital),
    /// an orphan, a collector of each kind.
    fn small() -> TopologyMap {
        let meter = |place: Place, link: Link| MapMeter {
            place,
            link,
            orphan: false,
            mesh_parent: None,
            facility: None,
        };
        TopologyMap {
            meters: vec![
                MapMeter {
                    mesh_parent: Some([0.0, 0.0]),
                    ..meter([100.0, 0.0], Link::Mesh)
                },
                MapMeter {
                    facility: Some("hospital"),
                    ..meter([0.0, 100.0], Link::Plc)
                },
                MapMeter {
                    orphan: true,
                    ..meter([2000.0, 2000.0], Link::Mesh)
                },
            ],
            transformers: vec![MapTransformer {
                place: [50.0, 50.0],
                feeder: 0,
            }],
            collectors: Link::ALL
                .iter()
                .map(|&link| MapCollector {
                    place: [10.0, 10.0],
                    link,
                })
                .collect(),
            substations: vec![[0.0, 0.0]],
            feeders: vec![0],
            orphans: 1,
        }
    }

    #[test]
    fn the_map_draws_every_kind_of_thing_and_says_what_it_shows() {
        let svg = topology_svg(&small(), "preset <town> · seed 1", 1400.0);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert!(svg.contains(r#"width="1400""#));
        for title in [
            "mesh collector 0",
            "PLC concentrator 1",
            "cellular tower 2",
            "substation 0",
            "hospital (meter 1)",
        ] {
            assert!(svg.contains(&format!("{title}</title>")), "{title}");
        }
        // One mesh route, one feeder span, two meters reached, one orphan in red.
        assert_eq!(svg.matches("<line x1=").count(), 2 + 1, "route, feeder span, scale bar");
        assert!(svg.contains(&format!(r#"<g fill="{ORPHAN}"><circle"#)));
        assert!(svg.contains("preset &lt;town&gt; · seed 1 — 3 meters, 3 collectors, 1 feeders, 1 orphans</text>"));
        assert!(!svg.contains("th meter drawn"), "a small network is drawn whole");
    }

    #[test]
    fn a_large_network_is_thinned_and_says_so() {
        let mut map = small();
        let many = MAX_METERS_DRAWN * 2 + 1;
        map.meters = (0..many)
            .map(|i| MapMeter {
                place: [i as f32, 0.0],
                link: Link::Cellular,
                orphan: false,
                mesh_parent: None,
                facility: None,
            })
            .collect();
        let svg = topology_svg(&map, "city", 800.0);
        assert!(svg.contains("every 3th meter drawn"), "the legend says it is thinned");
        let drawn = svg.matches(r#"<circle cx="#).count();
        assert!(drawn <= MAX_METERS_DRAWN + 10, "{drawn} circles");
    }

    #[test]
    fn the_scale_bar_is_a_round_length() {
        assert_eq!(nice_length(740.0), 500.0);
        assert_eq!(nice_length(2600.0), 2000.0);
        assert_eq!(nice_length(1000.0), 1000.0);
        assert_eq!(nice_length(0.2), 1.0);
    }
}
