//! Generated networks: structure, routability, determinism, and how links behave under
//! interference and contention.

use amirange_sim::network::{NetState, Network};
use amirange_topologies::AreaSpec;
use amirange_topologies::describe::Summary;

const CLASS_KWH: [f64; 4] = [3_500.0, 30_000.0, 400_000.0, 800_000.0];

fn preset_spec(name: &str) -> AreaSpec {
    let text = amirange_topologies::preset(name).expect("preset exists");
    ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(text)
        .expect("preset parses")
}

fn generate(spec: &AreaSpec, seed: u64) -> Network {
    spec.resolve()
        .expect("valid spec")
        .generate(seed, CLASS_KWH)
        .expect("generates")
}

#[test]
fn town_summary() {
    let net = generate(&preset_spec("town-10k"), 7);
    let state = NetState::new(&net);
    println!("{}", Summary::of(&net, &state));
}
