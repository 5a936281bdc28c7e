//! `amirange serve`, `amirange replay` and the players' clients `amirange red|blue|white`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use amirange::live::{LiveEngine, Setup};
use amirange_range::client::{self, Client};
use amirange_range::dashboard::Dashboard;
use amirange_range::exercise::Exercise;
use amirange_range::live::Channels;
use amirange_range::messages::{Action, FirmwarePayload, Role, ServerMessage};
use amirange_range::server::{CertSource, Server, ServerConfig};
use amirange_range::session::{Session, parse_journal, replay};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

/// Where and how a player connects.
#[derive(Args, Debug)]
pub struct Connect {
    /// The server's QUIC address, as `amirange serve` printed it.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4433")]
    server: SocketAddr,
    /// The team's token (or set AMIRANGE_TOKEN, which keeps it out of the shell's history).
    #[arg(long, env = "AMIRANGE_TOKEN", hide_env_values = true)]
    token: String,
    /// The server certificate's SHA-256 fingerprint, as `amirange serve` printed it: the
    /// client talks to that certificate only.
    #[arg(long, value_name = "FINGERPRINT", env = "AMIRANGE_PIN")]
    pin: String,
}

/// What the red team can do.
#[derive(Subcommand, Debug)]
pub enum RedCommand {
    /// Phish the holder of an HES account (odds set by the exercise).
    Phish {
        /// The account, e.g. cis-integration.
        account: String,
    },
    /// Disconnect every customer on these feeders through the HES, with a phished account.
    Disconnect {
        /// The account whose password you phished.
        account: String,
        /// Feeder numbers.
        #[arg(required = true)]
        feeders: Vec<u32>,
    },
    /// Push a rogue firmware image through the HES to the meters of feeders, with a phished
    /// account that may update firmware (signed only if the exercise leaks the signing key).
    PushFirmware {
        /// The account whose password you phished.
        account: String,
        /// What the image does: false-readings, brick or disconnect (30 minutes later).
        #[arg(long, value_enum, default_value = "false-readings")]
        payload: Payload,
        /// Feeder numbers.
        #[arg(required = true)]
        feeders: Vec<u32>,
    },
    /// Switch on a jammer at a place (metres east, north; see `snapshot` for the area).
    Jam {
        /// Metres east.
        x_m: f64,
        /// Metres north.
        y_m: f64,
        /// Radius, metres (at most 5,000).
        radius_m: f64,
        /// Share of link success taken inside (0 to 1).
        #[arg(long, default_value_t = 1.0)]
        strength: f64,
        /// How long, minutes.
        #[arg(long, default_value_t = 60)]
        minutes: u32,
    },
    /// Open a meter at its premise and read its DLMS keys over the debug port (odds set by the
    /// exercise); `snapshot` then lists the keys, and the meters they open answer a DLMS
    /// client on your team's DLMS port (see docs/dlms.md).
    Clone {
        /// The meter's number.
        meter: u32,
    },
    /// Red's view now: the clock, what red holds (accounts, keys) and its attacks, as tables
    /// (`--json` for the view as the server sends it).
    Snapshot {
        /// Print the view as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// A live terminal view, redrawn every second (a line a second when piped; Ctrl-C to leave).
    Watch,
}

/// What a pushed image does.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Payload {
    /// Registers record half the true consumption.
    FalseReadings,
    /// The meter stops working until a crew reflashes it.
    Brick,
    /// Every meter running it opens its relay 30 minutes after the push.
    Disconnect,
}

/// What the blue team can do.
#[derive(Subcommand, Debug)]
pub enum BlueCommand {
    /// Make the HES refuse bulk commands (more than 10 meters) for a while.
    FreezeBulk {
        /// Minutes.
        minutes: u32,
    },
    /// Revoke an HES account's credentials.
    RevokeAccount {
        /// The account.
        account: String,
    },
    /// Take the HES off the networks; it comes back rebuilt two hours later.
    IsolateHes,
    /// Put meters running firmware the utility never released back on the installed image.
    RollbackFirmware,
    /// Send crews to transformers (inspect their meters, hunt a jammer nearby); with none,
    /// to meters that no longer answer.
    DispatchCrews {
        /// Transformer numbers.
        transformers: Vec<u32>,
    },
    /// Change a detector's threshold, e.g. `command-rate account_meters 50`.
    SetThreshold {
        /// The detector.
        detector: String,
        /// The field.
        field: String,
        /// The new value.
        value: f64,
    },
    /// Investigate: the HES audit log, the meters' relay events, the firmware census, one
    /// meter, or the flows the sensor saw (newest first, a page at a time; changes nothing).
    Query {
        /// Print the answer as JSON, for scripts.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        of: QueryCommand,
    },
    /// Blue's view now: the clock, the load, the newest alerts and responses, as tables (`--json`
    /// for the view as the server sends it).
    Snapshot {
        /// Print the view as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// A live terminal view, redrawn every second (a line a second when piped; Ctrl-C to leave).
    Watch,
}

/// What blue can look at.
#[derive(Subcommand, Debug)]
pub enum QueryCommand {
    /// The HES audit log: every request, by whom, what, how many meters, refused or not.
    Audit {
        /// Only this account's requests.
        #[arg(long)]
        account: Option<String>,
        /// The page, from 0 (the newest 20).
        #[arg(long, default_value_t = 0)]
        page: u32,
    },
    /// The relay events meters pushed.
    Events {
        /// Only this meter's.
        #[arg(long)]
        meter: Option<u32>,
        /// The page, from 0 (the newest 20).
        #[arg(long, default_value_t = 0)]
        page: u32,
    },
    /// The firmware census: meters per image, those not answering, those at the legacy level.
    Census,
    /// One meter: its place, relay, firmware and last 16 interval reads.
    Meter {
        /// The meter's number.
        meter: u32,
    },
    /// The flows the network sensor saw.
    Flows {
        /// Only flows from or to this IPv4 address, e.g. 10.10.0.10.
        #[arg(long)]
        host: Option<String>,
        /// The page, from 0 (the newest 20).
        #[arg(long, default_value_t = 0)]
        page: u32,
    },
}

/// What the white team can do.
#[derive(Subcommand, Debug)]
pub enum WhiteCommand {
    /// Stop the clock.
    Pause,
    /// Start it again.
    Resume,
    /// Change the pace: simulated seconds per wall second (at most 3,600).
    SetPace {
        /// Simulated seconds per wall second.
        pace: f64,
    },
    /// Put a feeder out for a while (a storm).
    InjectOutage {
        /// The feeder.
        feeder: u32,
        /// Minutes.
        minutes: u32,
    },
    /// Ground truth and the scoreboard, as JSON.
    GroundTruth,
    /// Send a message to every team: it shows in every role's view, newest first.
    Broadcast {
        /// The message (1 to 500 characters; the words are joined with spaces).
        #[arg(required = true)]
        words: Vec<String>,
    },
    /// White's view now: the clock, the scoreboard, the newest ground truth, alerts and both
    /// teams' moves, as tables (`--json` for the view as the server sends it).
    Snapshot {
        /// Print the view as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// A live terminal view with the scoreboard, redrawn every second (a line a second when piped;
    /// Ctrl-C to leave).
    Watch,
}

/// `amirange serve`.
pub struct ServeArgs {
    /// The exercise file.
    pub exercise: PathBuf,
    /// The result folder.
    pub out: Option<PathBuf>,
    /// The operator's certificate and key (PEM).
    pub cert: Option<(PathBuf, PathBuf)>,
    /// Scale the fleet.
    pub meters: Option<u64>,
    /// Pace at start, instead of the file's.
    pub pace: Option<f64>,
    /// Stop serving when the run reaches its end.
    pub exit_at_end: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the network runtime")
}

/// A folder under `results/` named after the exercise, suffixed -2, -3, ... when it exists.
fn fresh_dir(name: &str) -> PathBuf {
    amirange::results::free_dir(PathBuf::from("results").join(format!("exercise-{name}")))
}

/// `amirange serve EXERCISE`.
pub fn serve(args: ServeArgs) -> Result<()> {
    let text = amirange_range::exercise::read_exercise(&args.exercise)?;
    let mut exercise = Exercise::load(&args.exercise, &text, |v| std::env::var(v).ok())?;
    if let Some(m) = args.meters {
        exercise.meters = Some(m);
    }
    if let Some(p) = args.pace {
        if !(amirange_range::messages::MIN_PACE..=amirange_range::messages::MAX_PACE).contains(&p) {
            bail!("--pace: simulated seconds per wall second must be at least 0.1 and at most 3600, not {p}");
        }
        exercise.pace = p;
    }
    let setup = Setup::of(&exercise)?;
    eprintln!("building {} ...", exercise.scenario.display());
    let engine = LiveEngine::new(setup)?;
    let dir = args.out.clone().unwrap_or_else(|| fresh_dir(&exercise.name));
    // The folder's path is checked, and a journal or files amirange did not write refused,
    // before anything else; it is made (with amirange's marker, src/outdir.rs) only once the
    // ports are bound.
    amirange::outdir::check_in_place(&dir, amirange::outdir::FolderKind::Exercise)?;
    let exercise = Arc::new(exercise);
    let rt = runtime()?;
    // The ports first: a start that fails (a port in use) leaves nothing behind.
    let channels = Channels::new();
    let (server, dashboard, dlms_ports) = rt.block_on(async {
        let mut cfg = ServerConfig::new(exercise.listen);
        if let Some((cert, key)) = &args.cert {
            cfg.cert = CertSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            };
        }
        let server = Server::bind(cfg, Arc::clone(&exercise), channels.requests(), channels.published())
            .await
            .map_err(|e| each_cause_once(&e))?;
        let dashboard = Dashboard::bind(exercise.dashboard)
            .await
            .with_context(|| format!("the dashboard cannot listen on {}", exercise.dashboard))?;
        let dlms_ports = match &exercise.dlms {
            None => Vec::new(),
            Some(d) => amirange_range::dlms_port::bind(d)
                .await
                .map_err(|(addr, e)| anyhow::anyhow!("the DLMS port cannot listen on {addr}: {e}"))?,
        };
        anyhow::Ok((server, dashboard, dlms_ports))
    })?;
    amirange::outdir::prepare_exercise_folder(&dir)?;
    let session = Session::new(Box::new(engine), &exercise.name, exercise.pace, 0.0);
    let dlms_requests = channels.requests();
    let live = channels.start(session, &dir).map_err(anyhow::Error::msg)?;
    let result = rt.block_on(async {
        let dash_addr = dashboard.local_addr()?;
        println!("exercise {} ({})", exercise.name, exercise.scenario.display());
        println!("  QUIC        {} (ALPN amirange/1)", server.local_addr);
        println!("  pin         {}", server.fingerprint);
        println!("  dashboard   http://{dash_addr}/#<token>");
        println!("  journal     {}", dir.join("journal.jsonl").display());
        if let Some(d) = &exercise.dlms {
            for p in &dlms_ports {
                println!(
                    "  DLMS        {} (TCP, team {}; wPort w is meter {} + w - 1; docs/dlms.md)",
                    p.local_addr, p.team, d.first_meter
                );
            }
        }
        for t in &exercise.teams {
            if t.generated {
                println!("  team {:<12} {:<5} token {}", t.name, t.role.name(), t.token.reveal());
            } else {
                println!("  team {:<12} {:<5} token as configured", t.name, t.role.name());
            }
        }
        println!(
            "  join: amirange {{red|blue|white}} --server {} --pin {} --token TOKEN <action>",
            server.local_addr, server.fingerprint
        );
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let server_task = tokio::spawn(server.run(stopped(stop_rx.clone())));
        let dash_task =
            tokio::spawn(dashboard.serve(Arc::clone(&exercise), live.published(), stopped(stop_rx.clone())));
        let mut dlms_tasks = Vec::new();
        if let Some(d) = &exercise.dlms {
            let shared = amirange_range::dlms_port::Shared {
                requests: dlms_requests,
                published: live.published(),
                next_connection: Arc::new(std::sync::atomic::AtomicU64::new(1)),
                frames_per_s: d.frames_per_s,
                max_connections: d.max_connections,
            };
            for port in dlms_ports {
                dlms_tasks.push(tokio::spawn(port.serve(shared.clone())));
            }
        }
        let published = live.published();
        let mut announced_end = false;
        // The end is noticed within a quarter second; the status line is printed every 5 s.
        let mut ticker = tokio::time::interval(Duration::from_millis(250));
        let mut ticks: u64 = 0;
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            tokio::select! {
                _ = &mut ctrl_c => {
                    eprintln!("stopping (Ctrl-C)");
                    break;
                }
                _ = ticker.tick() => {
                    let status_due = ticks.is_multiple_of(20);
                    ticks += 1;
                    if live.is_finished() {
                        eprintln!("the exercise stopped");
                        break;
                    }
                    let clock = published.read().map(|p| p.clock).unwrap_or_else(|e| e.into_inner().clock);
                    let Some(c) = clock else { continue };
                    if c.finished {
                        if !announced_end {
                            announced_end = true;
                            eprintln!("the run reached its end: metrics.json in {}", dir.display());
                            if args.exit_at_end {
                                break;
                            }
                            eprintln!("still serving the final state; Ctrl-C to stop");
                        }
                    } else if status_due {
                        eprintln!(
                            "sim {:>7} s of {} · pace {} · {}lag at most {:.0} s",
                            c.sim_time_s,
                            c.end_s,
                            c.pace,
                            if c.paused { "paused · " } else { "" },
                            c.max_lag_s.max(0.0)
                        );
                    }
                }
            }
        }
        let _ = stop_tx.send(true);
        for task in &dlms_tasks {
            task.abort();
        }
        let _ = server_task.await;
        let _ = dash_task.await;
        anyhow::Ok(())
    });
    // The network is down: no sender but this handle's remains, so the thread ends.
    drop(rt);
    let ended = live.join().map_err(anyhow::Error::msg)?;
    result?;
    if ended.metrics.is_none() {
        println!(
            "stopped at {} s of {} s; the journal is in {} (`amirange replay` runs it to the end)",
            ended.clock.sim_time_s,
            ended.clock.end_s,
            dir.display()
        );
    } else {
        println!("done: {}", dir.display());
    }
    Ok(())
}

/// `error` as one message that names each cause once: a library error whose text already
/// ends with its source's (`cannot listen on ADDR: CAUSE`) would print it twice in anyhow's
/// chain.
fn each_cause_once(error: &(dyn std::error::Error + 'static)) -> anyhow::Error {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    anyhow::Error::msg(text)
}

/// `amirange replay JOURNAL`: re-runs the exercise without the network and writes its
/// `metrics.json`; compares it with the one beside the journal when there is one.
pub fn replay_journal(journal: &Path, out: Option<&Path>) -> Result<bool> {
    let text = amirange_files::read_text(journal, "journal", amirange_files::MAX_JOURNAL_BYTES)?;
    let (header, entries) = parse_journal(&journal.display().to_string(), &text)?;
    let setup: Setup = serde_json::from_value(header.setup)
        .with_context(|| format!("{}:1: the header's `setup`", journal.display()))?;
    let requests = entries.iter().filter(|l| l.request().is_some()).count();
    eprintln!(
        "replaying {} ({requests} journalled requests, {} summaries of refusals) ...",
        header.exercise,
        entries.len() - requests
    );
    let engine = LiveEngine::new(setup)?;
    let metrics = replay(Box::new(engine), &entries).map_err(anyhow::Error::msg)?;
    let beside = journal.with_file_name("metrics.json");
    let out = out.map_or_else(|| journal.with_file_name("replay-metrics.json"), Path::to_owned);
    amirange_range::live::write_atomically(&out, &metrics).map_err(anyhow::Error::msg)?;
    println!("wrote {}", out.display());
    match std::fs::read(&beside) {
        Ok(original) if original == metrics => {
            println!("identical to {}", beside.display());
            Ok(true)
        }
        Ok(_) => {
            println!("DIFFERS from {}", beside.display());
            Ok(false)
        }
        Err(_) => Ok(true),
    }
}

fn print_answer(answer: &ServerMessage) -> Result<()> {
    match answer {
        ServerMessage::Accepted { at_s, result, .. } => {
            if result.is_null() {
                println!("accepted at {}", sim_time(*at_s));
            } else if result.get("view").is_some() || result.get("time").is_some() {
                // A state (`snapshot`, `ground-truth`): JSON alone, for tools to read.
                println!("{}", serde_json::to_string_pretty(result)?);
            } else {
                println!("accepted at {}: {result}", sim_time(*at_s));
            }
            Ok(())
        }
        ServerMessage::Refused { reason, .. } => bail!("refused: {reason}"),
        ServerMessage::Error { message } => bail!("the server: {message}"),
        ServerMessage::Welcome { .. } => bail!("the server answered with a second welcome"),
    }
}

fn sim_time(s: f64) -> String {
    let s = s.max(0.0) as u64;
    format!(
        "day {} {:02}:{:02}:{:02} into the run",
        s / 86_400,
        s % 86_400 / 3600,
        s % 3600 / 60,
        s % 60
    )
}

async fn join(conn: &Connect, role: Role) -> Result<Client> {
    let name = format!("amirange-{} {}", role.name(), env!("CARGO_PKG_VERSION"));
    let client = client::connect(conn.server, &conn.pin, &conn.token, &name).await?;
    if client.welcome.role != role {
        bail!(
            "this token is team {}'s, a {} team: use `amirange {}`",
            client.welcome.team,
            client.welcome.role.name(),
            client.welcome.role.name()
        );
    }
    Ok(client)
}

/// On a terminal, the role's snapshot as tables, redrawn in place every second; piped, one line
/// per second with what the role should see first (and, for blue and white, each new alert).
async fn watch(client: &mut Client, role: Role) -> Result<()> {
    use std::io::{IsTerminal, Write};
    let redraw = std::io::stdout().is_terminal();
    println!(
        "team {} ({}) in exercise {}; Ctrl-C to leave",
        client.welcome.team,
        role.name(),
        client.welcome.exercise
    );
    // Alerts are told once each, by when, which detector and about what.
    let mut told = std::collections::BTreeSet::new();
    let mut told_messages = std::collections::BTreeSet::new();
    loop {
        let answer = client.request(Action::Snapshot {}).await?;
        let ServerMessage::Accepted { result, .. } = answer else {
            return print_answer(&answer);
        };
        let (clock, view) = (&result["clock"], &result["view"]);
        if redraw {
            // Home the cursor and clear the screen, then the view.
            print!(
                "\x1b[H\x1b[2Jteam {} ({}) in exercise {}; Ctrl-C to leave\n{}",
                client.welcome.team,
                role.name(),
                client.welcome.exercise,
                amirange::live_text::view_text(role, &result)
            );
            std::io::stdout().flush()?;
            if clock["finished"] == Value::Bool(true) {
                println!("the exercise is over");
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let mut line = format!(
            "{} · pace {}{}",
            view["time"].as_str().unwrap_or("?"),
            clock["pace"],
            if clock["paused"] == Value::Bool(true) {
                " · PAUSED"
            } else {
                ""
            }
        );
        let alerts = view["alerts"].as_array().cloned().unwrap_or_default();
        if role == Role::Red {
            let held = view["held"].as_array().map_or(0, Vec::len);
            let attacks = view["attacks"].as_array().map_or(0, Vec::len);
            line.push_str(&format!(" · credentials held {held} · attacks launched {attacks}"));
        } else {
            let load = view["timeline"]["load_kw"].as_array().and_then(|a| a.last().cloned());
            line.push_str(&format!(
                " · load {} kW · {} alerts",
                load.unwrap_or(Value::Null),
                alerts.len()
            ));
            for t in view["scoreboard"]["teams"].as_array().into_iter().flatten() {
                line.push_str(&format!(" · {} {}", t["team"].as_str().unwrap_or("?"), t["points"]));
            }
        }
        println!("{line}");
        for m in view["messages"].as_array().into_iter().flatten() {
            if told_messages.insert((m["at_s"].as_u64(), m["message"].to_string())) {
                println!(
                    "  FROM WHITE {}: {}",
                    sim_time(m["at_s"].as_f64().unwrap_or(0.0)),
                    m["message"].as_str().unwrap_or("")
                );
            }
        }
        for a in &alerts {
            if !told.insert((a["t_s"].as_u64(), a["detector"].to_string(), a["subject"].to_string())) {
                continue;
            }
            println!(
                "  ALERT {} {} {} ({}x): {}",
                sim_time(a["t_s"].as_f64().unwrap_or(0.0)),
                a["severity"].as_str().unwrap_or(""),
                a["detector"].as_str().unwrap_or(""),
                a["count"],
                a["message"].as_str().unwrap_or("")
            );
        }
        if clock["finished"] == Value::Bool(true) {
            println!("the exercise is over");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn one(conn: &Connect, role: Role, action: Option<Action>) -> Result<()> {
    let mut client = join(conn, role).await?;
    let outcome = match action {
        Some(a) => {
            let answer = client.request(a).await?;
            print_answer(&answer)
        }
        None => {
            let ctrl_c = tokio::signal::ctrl_c();
            tokio::select! {
                r = watch(&mut client, role) => r,
                _ = ctrl_c => Ok(()),
            }
        }
    };
    client.close().await;
    outcome
}

/// `blue query`: the answer as tables for people or (`json`) as the server sends it.
fn ask_query(conn: &Connect, query: amirange_range::messages::Query, json: bool) -> Result<()> {
    runtime()?.block_on(async {
        let mut client = join(conn, Role::Blue).await?;
        let answer = client.request(Action::Query { query }).await;
        client.close().await;
        match answer? {
            ServerMessage::Accepted { result, .. } if !json => {
                print!("{}", amirange::live_text::query_text(&result));
                Ok(())
            }
            ServerMessage::Accepted { result, .. } => {
                println!("{}", serde_json::to_string_pretty(&result)?);
                Ok(())
            }
            other => print_answer(&other),
        }
    })
}

/// `snapshot`: the role's view, as tables for people or (`json`) as the server sends it.
fn snapshot(conn: &Connect, role: Role, json: bool) -> Result<()> {
    runtime()?.block_on(async {
        let mut client = join(conn, role).await?;
        let answer = client.request(Action::Snapshot {}).await;
        client.close().await;
        match answer? {
            ServerMessage::Accepted { result, .. } if !json => {
                print!("{}", amirange::live_text::view_text(role, &result));
                Ok(())
            }
            other => print_answer(&other),
        }
    })
}

/// `amirange red`.
pub fn red(conn: &Connect, command: RedCommand) -> Result<()> {
    let action = match command {
        RedCommand::Phish { account } => Some(Action::Phish { account }),
        RedCommand::Disconnect { account, feeders } => Some(Action::Disconnect { account, feeders }),
        RedCommand::PushFirmware {
            account,
            payload,
            feeders,
        } => Some(Action::PushFirmware {
            account,
            feeders,
            payload: match payload {
                Payload::FalseReadings => FirmwarePayload::FalseReadings,
                Payload::Brick => FirmwarePayload::Brick,
                Payload::Disconnect => FirmwarePayload::Disconnect,
            },
        }),
        RedCommand::Jam {
            x_m,
            y_m,
            radius_m,
            strength,
            minutes,
        } => Some(Action::Jam {
            x_m,
            y_m,
            radius_m,
            strength,
            minutes,
        }),
        RedCommand::Clone { meter } => Some(Action::Clone { meter }),
        RedCommand::Snapshot { json } => return snapshot(conn, Role::Red, json),
        RedCommand::Watch => None,
    };
    runtime()?.block_on(one(conn, Role::Red, action))
}

/// `amirange blue`.
pub fn blue(conn: &Connect, command: BlueCommand) -> Result<()> {
    let action = match command {
        BlueCommand::FreezeBulk { minutes } => Some(Action::FreezeBulk { minutes }),
        BlueCommand::RevokeAccount { account } => Some(Action::RevokeAccount { account }),
        BlueCommand::IsolateHes => Some(Action::IsolateHes {}),
        BlueCommand::RollbackFirmware => Some(Action::RollbackFirmware {}),
        BlueCommand::DispatchCrews { transformers } => Some(Action::DispatchCrews { transformers }),
        BlueCommand::SetThreshold { detector, field, value } => Some(Action::SetThreshold { detector, field, value }),
        BlueCommand::Snapshot { json } => return snapshot(conn, Role::Blue, json),
        BlueCommand::Query { json, of } => {
            use amirange_range::messages::Query;
            let query = match of {
                QueryCommand::Audit { account, page } => Query::Audit { account, page },
                QueryCommand::Events { meter, page } => Query::Events { meter, page },
                QueryCommand::Census => Query::Census {},
                QueryCommand::Meter { meter } => Query::Meter { meter },
                QueryCommand::Flows { host, page } => Query::Flows { host, page },
            };
            return ask_query(conn, query, json);
        }
        BlueCommand::Watch => None,
    };
    runtime()?.block_on(one(conn, Role::Blue, action))
}

/// `amirange white`.
pub fn white(conn: &Connect, command: WhiteCommand) -> Result<()> {
    let action = match command {
        WhiteCommand::Pause => Some(Action::Pause {}),
        WhiteCommand::Resume => Some(Action::Resume {}),
        WhiteCommand::SetPace { pace } => Some(Action::SetPace {
            sim_seconds_per_second: pace,
        }),
        WhiteCommand::InjectOutage { feeder, minutes } => Some(Action::InjectOutage { feeder, minutes }),
        WhiteCommand::GroundTruth => Some(Action::GroundTruth {}),
        WhiteCommand::Broadcast { words } => Some(Action::Broadcast {
            message: words.join(" "),
        }),
        WhiteCommand::Snapshot { json } => return snapshot(conn, Role::White, json),
        WhiteCommand::Watch => None,
    };
    runtime()?.block_on(one(conn, Role::White, action))
}
