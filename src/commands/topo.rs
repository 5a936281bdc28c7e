//! `amirange topo`: the presets, a generated network's structure, its map.

use std::path::Path;
use std::time::Instant;

use amirange::scenario;
use amirange_sim::model::LinkKind;
use amirange_sim::network::{NONE, NetState, Network, Via};
use amirange_viz::topology::{Link, MapCollector, MapMeter, MapTransformer, TopologyMap};
use anyhow::{Context, Result};

use crate::{TopoArgs, TopoCommand};

/// `amirange topo list`, `describe` and `map`.
pub(crate) fn cmd_topo(command: TopoCommand) -> Result<()> {
    match command {
        TopoCommand::List => {
            for (name, text) in amirange_topologies::PRESETS {
                let about = text
                    .lines()
                    .take_while(|l| l.starts_with("//"))
                    .map(|l| l.trim_start_matches("//").trim())
                    .collect::<Vec<_>>()
                    .join(" ");
                println!("{name:<12} {about}");
            }
            Ok(())
        }
        TopoCommand::Describe { topo } => {
            let started = Instant::now();
            let (network, label) = topo.generate()?;
            let generated = started.elapsed();
            let state = amirange_sim::network::NetState::new(&network);
            let routed = started.elapsed() - generated;
            println!("{label} · seed {}", topo.seed);
            print!("{}", amirange_topologies::describe::Summary::of(&network, &state));
            println!(
                "built in      {:.2} s (placement, grid, radio graph) + {:.2} s (routes and paths)",
                generated.as_secs_f64(),
                routed.as_secs_f64()
            );
            Ok(())
        }
        TopoCommand::Map { topo, out, width } => {
            let (network, label) = topo.generate()?;
            let state = amirange_sim::network::NetState::new(&network);
            let svg = amirange_viz::topology::topology_svg(
                &topology_map(&network, &state),
                &format!("{label} · seed {}", topo.seed),
                f64::from(width),
            );
            // Written beside the target and renamed, so a failure never leaves half a map.
            let partial = out.with_extension("svg.partial");
            std::fs::write(&partial, svg).with_context(|| format!("cannot write {}", partial.display()))?;
            std::fs::rename(&partial, &out).with_context(|| format!("cannot write {}", out.display()))?;
            println!("map: {}", out.display());
            Ok(())
        }
    }
}

impl TopoArgs {
    /// Loads, resolves and generates the topology; returns it with its label.
    fn generate(&self) -> Result<(amirange_topologies::Network, String)> {
        let path = Path::new(&self.topology);
        let (label, text) = if path.is_file() {
            let text = amirange_files::read_text(path, "topology file", amirange_files::MAX_SOURCE_BYTES)?;
            (path.display().to_string(), text)
        } else if let Some(text) = amirange_topologies::preset(&self.topology) {
            (format!("topologies/presets/{}.ron", self.topology), text.to_owned())
        } else {
            let names: Vec<&str> = amirange_topologies::PRESETS.iter().map(|(n, _)| *n).collect();
            anyhow::bail!(
                "{:?} is neither a file nor a preset; built-in presets: {}",
                self.topology,
                names.join(", ")
            );
        };
        let area = scenario::load_area(&label, &text, self.meters)?;
        let network = area
            .generate(self.seed, area.class_annual_kwh)
            .context("generating the topology")?;
        Ok((network, label))
    }
}

/// What `viz` draws of `net` with its routes and paths in `state`: positions, link kinds, mesh
/// routes, orphans, feeders and critical facilities.
fn topology_map(net: &Network, state: &NetState) -> TopologyMap {
    let link = |kind: LinkKind| match kind {
        LinkKind::Mesh => Link::Mesh,
        LinkKind::Plc => Link::Plc,
        LinkKind::Cellular => Link::Cellular,
    };
    let meters = net
        .meters
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let parent = state.routes.parent[i];
            let over_mesh = m.link == LinkKind::Mesh && state.paths[i].via == Via::Mesh && parent != NONE;
            MapMeter {
                place: [m.pos.x, m.pos.y],
                link: link(m.link),
                orphan: matches!(state.paths[i].via, Via::Orphan(_)),
                mesh_parent: over_mesh.then(|| {
                    let p = net.node_pos(parent);
                    [p.x, p.y]
                }),
                facility: m.facility.map(|f| f.name()),
            }
        })
        .collect();
    TopologyMap {
        meters,
        transformers: net
            .transformers
            .iter()
            .map(|t| MapTransformer {
                place: [t.pos.x, t.pos.y],
                feeder: t.feeder,
            })
            .collect(),
        collectors: net
            .collectors
            .iter()
            .map(|c| MapCollector {
                place: [c.pos.x, c.pos.y],
                link: link(c.kind),
            })
            .collect(),
        substations: net.substations.iter().map(|s| [s.pos.x, s.pos.y]).collect(),
        feeders: net.feeders.iter().map(|f| f.substation).collect(),
        orphans: state.reach_summary().n_orphans() as usize,
    }
}
