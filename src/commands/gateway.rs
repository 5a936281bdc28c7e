//! `amirange gateway`: a scenario paced by the wall clock, its meters answering DLMS/COSEM on a
//! loopback port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use amirange::gateway::{
    Gateway, GatewayConfig, HLS_CLIENT, MAX_PORTS, PASSWORD_CLIENT, PUBLIC_CLIENT, Ports, Window, serve,
};
use amirange::run::{Stepper, generate};
use amirange_dlms::server::Limits;
use amirange_viz::numbers::group;
use anyhow::{Context, Result, bail};

use crate::{CommonArgs, ThreadArgs};

/// The gateway's flags beyond the scenario's.
pub(crate) struct GatewayArgs {
    pub listen: SocketAddr,
    pub port_per_meter: Option<u32>,
    pub max_frames_per_s: u32,
    pub lossless: bool,
    pub pace: f64,
    pub password: String,
    pub first_meter: u32,
    pub from: Option<String>,
    pub max_connections: usize,
    pub exit_at_end: bool,
    pub keys: Option<u32>,
}

/// `amirange gateway`.
pub(crate) fn cmd_gateway(common: &CommonArgs, threads: &ThreadArgs, args: GatewayArgs) -> Result<()> {
    if !args.listen.ip().is_loopback() {
        bail!(
            "--listen {}: the gateway serves loopback only (127.0.0.1 or ::1); simulated meters answer anyone who connects",
            args.listen
        );
    }
    if !(0.1..=3600.0).contains(&args.pace) {
        bail!(
            "--pace: simulated seconds per wall second must be at least 0.1 and at most 3600, not {}",
            args.pace
        );
    }
    if let Some(n) = args.port_per_meter
        && !(1..=MAX_PORTS as u32).contains(&n)
    {
        bail!("--port-per-meter: 1 to {MAX_PORTS} meters, not {n}");
    }
    if args.max_frames_per_s == 0 {
        bail!("--max-frames-per-s: at least 1");
    }
    if !(8..=64).contains(&args.password.len()) {
        bail!("--password: lowest-level security passwords here are 8 to 64 bytes");
    }
    threads.init_threads();
    let (scenario, label) = common.load()?;
    let network = generate(&scenario).with_context(|| format!("generating the network of {label}"))?;
    let n_meters = network.meters.len();
    let mut stepper = Stepper::new(&scenario, network, false).with_context(|| format!("building {label}"))?;
    if let Some(meter) = args.keys {
        let keys = amirange::cosem::meter_keys(&stepper.sim, meter)
            .with_context(|| format!("--keys {meter}: the scenario has {} meters", group(n_meters as u64)))?;
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
        let block = u32::from(u16::MAX);
        println!(
            "meter {meter} (wPort {} of port {} when --first-meter is 0: 65,535 meters a port)",
            meter % block + 1,
            meter / block + 1
        );
        println!(
            "  system title        {}",
            hex(&amirange::cosem::meter_system_title(meter))
        );
        println!("  block cipher key    {}", hex(&keys.encryption));
        println!("  authentication key  {}", hex(&keys.authentication));
        return Ok(());
    }
    if args.first_meter as usize >= n_meters {
        bail!(
            "--first-meter {}: the scenario has {} meters",
            args.first_meter,
            group(n_meters as u64)
        );
    }
    if let Some(text) = &args.from {
        let from = amirange_sim::time::SimDuration::parse(text).map_err(|e| anyhow::anyhow!("--from {text:?}: {e}"))?;
        let horizon = stepper.sim.config().horizon;
        if from.as_micros() >= horizon.as_micros() {
            bail!(
                "--from {text}: the run lasts {} s of simulated time",
                horizon.as_micros() / 1_000_000
            );
        }
        stepper
            .step_to(amirange_sim::time::SimTime(from.as_micros()))
            .with_context(|| format!("running {label} to {text}"))?;
    }
    let gateway = Gateway::new(
        stepper,
        GatewayConfig {
            listen: args.listen,
            ports: args.port_per_meter.map_or(Ports::Blocks, Ports::PerMeter),
            frames_per_s: args.max_frames_per_s,
            loss: !args.lossless,
            pace: args.pace,
            password: args.password.into_bytes(),
            first_meter: args.first_meter,
            limits: Limits::default(),
            max_connections: args.max_connections,
            exit_at_end: args.exit_at_end,
        },
    );
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                let _ = runtime.block_on(tokio::signal::ctrl_c());
            }
            stop.store(true, Ordering::Relaxed);
        });
    }
    let gateway = serve(
        gateway,
        stop,
        |ports| {
            eprintln!(
                "{label}: DLMS/COSEM (IEC 62056-47 wrapper over TCP) on {} port{}, pace {}",
                ports.len(),
                if ports.len() == 1 { "" } else { "s" },
                args.pace
            );
            for line in port_lines(ports) {
                eprintln!("  {line}");
            }
            eprintln!(
                "  clients: {PUBLIC_CLIENT} public (read), {PASSWORD_CLIENT} password (read, operate), {HLS_CLIENT} HLS-GMAC with suite 0 (read, operate; `amirange gateway --keys METER` prints a meter's keys)"
            );
            eprintln!("  Ctrl-C stops");
        },
        |report| eprint!("\r  {}   ", summary(report)),
    )?;
    eprintln!("\nstopped: {}", summary(&gateway.report()));
    Ok(())
}

/// One line per port (the first four and the last two of a long list, with how many are left
/// out between).
fn port_lines(ports: &[(SocketAddr, Window)]) -> Vec<String> {
    let line = |(addr, w): &(SocketAddr, Window)| {
        if w.meters == 1 {
            format!("{addr}  meter {} at wPort 1", group(u64::from(w.first)))
        } else {
            format!(
                "{addr}  meters {} to {} (wPort w is meter {} + w - 1)",
                group(u64::from(w.first)),
                group(u64::from(w.first) + u64::from(w.meters) - 1),
                w.first
            )
        }
    };
    if ports.len() <= 8 {
        return ports.iter().map(line).collect();
    }
    let mut lines: Vec<String> = ports[..4].iter().map(line).collect();
    lines.push(format!("… {} more ports …", ports.len() - 6));
    lines.extend(ports[ports.len() - 2..].iter().map(line));
    lines
}

/// What a gateway did so far, in one line.
fn summary(report: &amirange::gateway::GatewayReport) -> String {
    format!(
        "sim {} s · {} connections · {} requests · {} relay operations",
        group(report.reached.as_micros() / 1_000_000),
        group(report.connections),
        group(report.requests),
        group(report.relay_operations)
    )
}
