//! Exercise files (RON): which scenario, the teams with their roles and tokens, the pace, where
//! to listen, and the odds of the red team's phishing. Loading checks everything and names the
//! file, line and field of the first fault; tokens are generated, given, or read from an
//! environment variable, and never printed.
//!
//! ```ron
//! Exercise(
//!     name: "disconnect-at-peak",
//!     scenario: "../attacks/mass-disconnect-peak.ron",   // relative to this file
//!     pace: 60.0,                                        // simulated seconds per wall second
//!     teams: [
//!         (name: "red", role: Red),                      // token: Generate (the default)
//!         (name: "blue", role: Blue, token: Env("BLUE_TOKEN")),
//!         (name: "instructor", role: White, token: Given("a-long-token-for-the-class")),
//!     ],
//!     phishing: (success: 0.8, mfa_bypass: 0.1),
//!     scoring: (red_per_customer_hour: 0.1, blue_detection: 500.0),   // the rest by default
//! )
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::Token;
use crate::messages::Role;

/// The default address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4433";
/// The dashboard's default address (always loopback).
pub const DEFAULT_DASHBOARD: &str = "127.0.0.1:4480";

/// An exercise file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "Exercise", deny_unknown_fields)]
struct Raw {
    name: String,
    #[serde(default)]
    description: Option<String>,
    scenario: String,
    #[serde(default = "default_pace")]
    pace: f64,
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    allow_remote: bool,
    teams: Vec<RawTeam>,
    #[serde(default)]
    phishing: Phishing,
    #[serde(default)]
    meters: Option<u64>,
    #[serde(default)]
    leaked_signing_key: bool,
    #[serde(default)]
    dashboard: Option<String>,
    #[serde(default)]
    scoring: Scoring,
    #[serde(default)]
    cloning: Cloning,
    #[serde(default)]
    dlms: Option<RawDlms>,
}

/// The odds of the red team's `clone` action.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cloning {
    /// Probability that reading an opened meter's keys over its debug port works.
    pub extraction: f64,
}

impl Default for Cloning {
    /// An assumption: a meter without debug-port protection gives its keys up to someone who
    /// has it open on the bench (the attack library's `MeterCloning` default).
    fn default() -> Cloning {
        Cloning { extraction: 1.0 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDlms {
    ports: Vec<RawPort>,
    #[serde(default)]
    first_meter: u32,
    #[serde(default = "default_dlms_rate")]
    frames_per_s: u32,
    #[serde(default = "default_dlms_connections")]
    max_connections: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    team: String,
    listen: String,
}

/// A connection's chunks of bytes per second on a DLMS port, by default. A policy choice: a
/// head-end reading a meter's day of load profile sends about ten frames, and a red team's
/// client walking a group of 250 meters sends a few per meter, so 50 a second keeps an exchange
/// interactive while a flood from one connection costs the engine little.
pub const DEFAULT_DLMS_FRAMES_PER_S: u32 = 50;
/// Connections one DLMS port holds at once, by default (a policy choice: a team's few tools).
pub const DEFAULT_DLMS_CONNECTIONS: usize = 16;

fn default_dlms_rate() -> u32 {
    DEFAULT_DLMS_FRAMES_PER_S
}

fn default_dlms_connections() -> usize {
    DEFAULT_DLMS_CONNECTIONS
}

/// The meters' DLMS face in an exercise: TCP ports on which a team's DLMS client reaches the
/// meters (wPort `w` is meter `first_meter + w - 1`).
#[derive(Debug, Clone, PartialEq)]
pub struct Dlms {
    /// The ports, each a red team's.
    pub ports: Vec<DlmsPort>,
    /// The meter at wPort 1.
    pub first_meter: u32,
    /// A connection's chunks of bytes handed to the meters per second at most (reading slows
    /// down past it).
    pub frames_per_s: u32,
    /// Connections one port holds at once; one more is closed at once.
    pub max_connections: usize,
}

/// One team's DLMS port.
#[derive(Debug, Clone, PartialEq)]
pub struct DlmsPort {
    /// The team.
    pub team: String,
    /// Where it listens (TCP).
    pub listen: SocketAddr,
}

/// The scoreboard's rules: points for red from the blast radius of its attacks, for blue from
/// detecting them early, from the meters its defenses kept red's commands from, and a penalty
/// for each false action.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scoring {
    /// Red, per customer-hour off supply because of the red team's attacks.
    pub red_per_customer_hour: f64,
    /// Red, per critical-facility-hour (hospitals, water, emergency services) off supply.
    pub red_per_critical_hour: f64,
    /// Blue, per red attack detected: this much if at once, falling linearly to nothing at
    /// `detection_window_h`.
    pub blue_detection: f64,
    /// Hours after which detecting a red attack earns nothing.
    pub detection_window_h: f64,
    /// Blue, per meter named in a red command that the HES refused (bulk frozen, account
    /// revoked, HES isolated): damage contained.
    pub blue_per_meter_refused: f64,
    /// Blue loses this per false action: revoking an account red does not hold, isolating the
    /// HES or freezing bulk commands while no red attack has begun.
    pub false_action: f64,
}

impl Default for Scoring {
    fn default() -> Scoring {
        Scoring {
            red_per_customer_hour: 0.1,
            red_per_critical_hour: 20.0,
            blue_detection: 500.0,
            detection_window_h: 4.0,
            blue_per_meter_refused: 0.5,
            false_action: 100.0,
        }
    }
}

fn default_pace() -> f64 {
    60.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    name: String,
    role: RawRole,
    #[serde(default)]
    token: TokenSource,
}

#[derive(Debug, Clone, Copy, Deserialize)]
enum RawRole {
    Red,
    Blue,
    White,
}

/// Where a team's token comes from.
#[derive(Debug, Clone, Default, Deserialize)]
pub enum TokenSource {
    /// Generated at start and printed once for the operator to hand out.
    #[default]
    Generate,
    /// Written in the file (at least 16 printable characters).
    Given(String),
    /// Read from an environment variable at start.
    Env(String),
}

/// The odds of the red team's `phish` action.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Phishing {
    /// Probability that a phish yields the account's password.
    pub success: f64,
    /// Probability of also getting past the account's second factor, if it has one.
    #[serde(default)]
    pub mfa_bypass: f64,
}

impl Default for Phishing {
    fn default() -> Phishing {
        Phishing {
            success: 0.8,
            mfa_bypass: 0.0,
        }
    }
}

/// A team of the exercise, with its token.
#[derive(Debug, Clone)]
pub struct Team {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its token.
    pub token: Token,
    /// Whether the token was generated (the operator must be shown it).
    pub generated: bool,
}

/// A checked exercise.
#[derive(Debug, Clone)]
pub struct Exercise {
    /// Its name.
    pub name: String,
    /// What it is about.
    pub description: Option<String>,
    /// The scenario file, resolved against the exercise file's folder.
    pub scenario: PathBuf,
    /// Simulated seconds per wall-clock second at start.
    pub pace: f64,
    /// Where the server listens.
    pub listen: SocketAddr,
    /// The teams.
    pub teams: Vec<Team>,
    /// The red team's phishing odds.
    pub phishing: Phishing,
    /// The fleet's size, if the exercise scales the scenario's.
    pub meters: Option<u64>,
    /// Whether red holds the vendor's leaked signing key (its pushed images are signed).
    pub leaked_signing_key: bool,
    /// Where the dashboard listens (loopback).
    pub dashboard: SocketAddr,
    /// The scoreboard's rules.
    pub scoring: Scoring,
    /// The red team's odds of reading an opened meter's keys.
    pub cloning: Cloning,
    /// The meters' DLMS face, if the exercise exposes it.
    pub dlms: Option<Dlms>,
}

/// An exercise file that cannot be used: the file, line, column and field, and why (the same
/// form as a scenario's errors).
pub type ExerciseError = amirange_files::SourceError;

/// The most meters an exercise may ask for: the topology generator's own limit
/// (`amirange_topologies::spec::MAX_METERS`; a test of the root package holds them equal).
pub const MAX_METERS: u64 = 100_000_000;

/// Reads the exercise file at `path` (a regular file of at most
/// [`amirange_files::MAX_SOURCE_BYTES`]).
pub fn read_exercise(path: &Path) -> Result<String, amirange_files::ReadError> {
    amirange_files::read_text(path, "exercise file", amirange_files::MAX_SOURCE_BYTES)
}

impl Exercise {
    /// Parses and checks the exercise `text` of file `path`; `env` looks up environment
    /// variables (for `Env` tokens).
    pub fn load(path: &Path, text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Exercise, ExerciseError> {
        let file = path.display().to_string();
        // Semantic faults are located by their field's key path in the text, like a scenario's.
        let fail = |field: &str, message: String| amirange_files::field_error(&file, text, field, message);
        amirange_files::check_opening(text, "Exercise", "exercise file").map_err(|message| ExerciseError {
            file: file.clone(),
            position: None,
            field: None,
            message,
        })?;
        let raw: Raw = amirange_files::parse_ron(
            &file,
            text,
            ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME),
        )?;
        if raw.name.trim().is_empty() {
            return Err(fail("name", "give the exercise a name".into()));
        }
        if !(crate::messages::MIN_PACE..=crate::messages::MAX_PACE).contains(&raw.pace) {
            return Err(fail(
                "pace",
                format!(
                    "simulated seconds per wall second must be at least 0.1 and at most 3600, not {}",
                    raw.pace
                ),
            ));
        }
        let listen_text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            fail(
                "listen",
                format!("{listen_text:?} is not an address and port, e.g. 127.0.0.1:4433"),
            )
        })?;
        if !listen.ip().is_loopback() && !raw.allow_remote {
            return Err(fail(
                "listen",
                format!("{listen} is not a loopback address: set `allow_remote: true` to listen on the network"),
            ));
        }
        let dashboard_text = raw.dashboard.as_deref().unwrap_or(DEFAULT_DASHBOARD);
        let dashboard: SocketAddr = dashboard_text
            .parse()
            .ok()
            .filter(|a: &SocketAddr| a.ip().is_loopback())
            .ok_or_else(|| {
                fail(
                    "dashboard",
                    format!("{dashboard_text:?} is not a loopback address and port, e.g. 127.0.0.1:4480"),
                )
            })?;
        if let Some(meters) = raw.meters
            && !(1..=MAX_METERS).contains(&meters)
        {
            return Err(fail("meters", format!("must be 1 to {MAX_METERS}, not {meters}")));
        }
        let sc = raw.scoring;
        for (field, v) in [
            ("scoring.red_per_customer_hour", sc.red_per_customer_hour),
            ("scoring.red_per_critical_hour", sc.red_per_critical_hour),
            ("scoring.blue_detection", sc.blue_detection),
            ("scoring.blue_per_meter_refused", sc.blue_per_meter_refused),
            ("scoring.false_action", sc.false_action),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(fail(field, format!("points are a number of at least 0, not {v}")));
            }
        }
        if !(sc.detection_window_h.is_finite() && sc.detection_window_h > 0.0) {
            return Err(fail(
                "scoring.detection_window_h",
                format!("hours above 0, not {}", sc.detection_window_h),
            ));
        }
        for (field, p) in [
            ("phishing.success", raw.phishing.success),
            ("phishing.mfa_bypass", raw.phishing.mfa_bypass),
        ] {
            if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
                return Err(fail(field, format!("a probability is 0 to 1, not {p}")));
            }
        }
        if raw.teams.is_empty() {
            return Err(fail("teams", "list at least one team".into()));
        }
        let mut teams: Vec<Team> = Vec::with_capacity(raw.teams.len());
        for (i, t) in raw.teams.iter().enumerate() {
            let at = |f: &str| format!("teams[{i}].{f}");
            if t.name.trim().is_empty() || t.name.len() > 64 {
                return Err(fail(&at("name"), "a team's name is 1 to 64 characters".into()));
            }
            if teams.iter().any(|u| u.name == t.name) {
                return Err(fail(
                    &at("name"),
                    format!("{:?} is the name of an earlier team", t.name),
                ));
            }
            let (token, generated) = match &t.token {
                TokenSource::Generate => (Token::generate().map_err(|e| fail(&at("token"), e.to_string()))?, true),
                TokenSource::Given(text) => (Token::new(text).map_err(|e| fail(&at("token"), e.to_string()))?, false),
                TokenSource::Env(var) => {
                    let text = env(var)
                        .ok_or_else(|| fail(&at("token"), format!("the environment variable {var} is not set")))?;
                    (
                        Token::new(&text).map_err(|e| fail(&at("token"), format!("{var}: {e}")))?,
                        false,
                    )
                }
            };
            if let Some(u) = teams.iter().find(|u| u.token == token) {
                return Err(fail(&at("token"), format!("the same token as team {:?}", u.name)));
            }
            let role = match t.role {
                RawRole::Red => Role::Red,
                RawRole::Blue => Role::Blue,
                RawRole::White => Role::White,
            };
            teams.push(Team {
                name: t.name.clone(),
                role,
                token,
                generated,
            });
        }
        if !teams.iter().any(|t| t.role == Role::White) {
            return Err(fail(
                "teams",
                "an exercise needs a white team (to control the clock)".into(),
            ));
        }
        let p = raw.cloning.extraction;
        if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
            return Err(fail("cloning.extraction", format!("a probability is 0 to 1, not {p}")));
        }
        let dlms = match &raw.dlms {
            None => None,
            Some(d) => Some(check_dlms(d, &teams, listen, dashboard, raw.allow_remote, &fail)?),
        };
        let scenario = path.parent().unwrap_or(Path::new("")).join(&raw.scenario);
        Ok(Exercise {
            name: raw.name,
            description: raw.description,
            scenario,
            pace: raw.pace,
            listen,
            teams,
            phishing: raw.phishing,
            meters: raw.meters,
            leaked_signing_key: raw.leaked_signing_key,
            dashboard,
            scoring: raw.scoring,
            cloning: raw.cloning,
            dlms,
        })
    }

    /// The team whose token `presented` is, if any (every team is compared, so the time taken
    /// does not tell which one matched).
    pub fn team_of(&self, presented: &str) -> Option<&Team> {
        let mut found = None;
        for t in &self.teams {
            if t.token.matches(presented) && found.is_none() {
                found = Some(t);
            }
        }
        found
    }
}

/// Checks the `dlms` section against the teams and the other addresses.
fn check_dlms(
    d: &RawDlms,
    teams: &[Team],
    quic: SocketAddr,
    dashboard: SocketAddr,
    allow_remote: bool,
    fail: &dyn Fn(&str, String) -> ExerciseError,
) -> Result<Dlms, ExerciseError> {
    if d.ports.is_empty() || d.ports.len() > 16 {
        return Err(fail("dlms.ports", "list 1 to 16 ports".into()));
    }
    if !(1..=10_000).contains(&d.frames_per_s) {
        return Err(fail(
            "dlms.frames_per_s",
            format!("must be 1 to 10000, not {}", d.frames_per_s),
        ));
    }
    if !(1..=1024).contains(&d.max_connections) {
        return Err(fail(
            "dlms.max_connections",
            format!("must be 1 to 1024, not {}", d.max_connections),
        ));
    }
    let mut ports: Vec<DlmsPort> = Vec::with_capacity(d.ports.len());
    for (i, p) in d.ports.iter().enumerate() {
        let at = |f: &str| format!("dlms.ports[{i}].{f}");
        let Some(team) = teams.iter().find(|t| t.name == p.team) else {
            let names: Vec<&str> = teams.iter().map(|t| t.name.as_str()).collect();
            return Err(fail(
                &at("team"),
                format!("no team is called {:?} (the teams: {})", p.team, names.join(", ")),
            ));
        };
        if team.role != Role::Red {
            return Err(fail(
                &at("team"),
                format!("{:?} is a {} team: DLMS ports are red teams'", p.team, team.role.name()),
            ));
        }
        let listen: SocketAddr = p.listen.parse().map_err(|_| {
            fail(
                &at("listen"),
                format!("{:?} is not an address and port, e.g. 127.0.0.1:4059", p.listen),
            )
        })?;
        if !listen.ip().is_loopback() && !allow_remote {
            return Err(fail(
                &at("listen"),
                format!("{listen} is not a loopback address: set `allow_remote: true` to listen on the network"),
            ));
        }
        let taken =
            listen.port() != 0 && (listen == dashboard || listen == quic || ports.iter().any(|q| q.listen == listen));
        if taken {
            return Err(fail(&at("listen"), format!("{listen} is already another port's")));
        }
        ports.push(DlmsPort {
            team: p.team.clone(),
            listen,
        });
    }
    Ok(Dlms {
        ports,
        first_meter: d.first_meter,
        frames_per_s: d.frames_per_s,
        max_connections: d.max_connections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"Exercise(
    name: "disconnect-at-peak",
    scenario: "../attacks/mass-disconnect-peak.ron",
    teams: [
        (name: "red", role: Red),
        (name: "blue", role: Blue, token: Env("BLUE_TOKEN")),
        (name: "instructor", role: White, token: Given("a-long-token-for-the-class")),
    ],
)"#;

    fn env(var: &str) -> Option<String> {
        (var == "BLUE_TOKEN").then(|| "blue-team-token-0123".to_owned())
    }

    #[test]
    fn a_good_file_loads_with_its_defaults() {
        let e = Exercise::load(Path::new("scenarios/exercises/x.ron"), GOOD, env).expect("loads");
        assert_eq!(
            e.scenario,
            Path::new("scenarios/exercises/../attacks/mass-disconnect-peak.ron")
        );
        assert_eq!(e.pace, 60.0);
        assert_eq!(e.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(e.phishing, Phishing::default());
        assert!(e.teams[0].generated && !e.teams[1].generated);
        assert_eq!(e.team_of("blue-team-token-0123").map(|t| t.role), Some(Role::Blue));
        assert_eq!(
            e.team_of("a-long-token-for-the-class").map(|t| t.name.as_str()),
            Some("instructor")
        );
        assert_eq!(e.team_of(e.teams[0].token.reveal()).map(|t| t.role), Some(Role::Red));
        assert!(e.team_of("").is_none() && e.team_of("blue-team-token-012").is_none());
        assert!(!format!("{e:?}").contains("blue-team-token"), "tokens never print");
    }

    #[test]
    fn faults_name_the_line_or_the_field() {
        let cases = [
            (GOOD.replace("name: \"red\"", "nme: \"red\""), ":5:"),
            (
                GOOD.replace("teams: [", "pace: 0.0,\n    teams: ["),
                "field `pace`: simulated seconds",
            ),
            (
                GOOD.replace("teams: [", "listen: \"0.0.0.0:4433\",\n    teams: ["),
                "field `listen`: 0.0.0.0:4433 is not a loopback",
            ),
            (
                GOOD.replace("Given(\"a-long-token-for-the-class\")", "Given(\"short\")"),
                "field `teams[2].token`: a token needs at least 16",
            ),
            (
                GOOD.replace("Env(\"BLUE_TOKEN\")", "Env(\"NOPE\")"),
                "field `teams[1].token`: the environment variable NOPE is not set",
            ),
            (
                GOOD.replace("name: \"blue\"", "name: \"red\""),
                "field `teams[1].name`: \"red\" is the name of an earlier team",
            ),
            (
                GOOD.replace("role: White", "role: Blue"),
                "field `teams`: an exercise needs a white team",
            ),
            (
                GOOD.replace("teams: [", "phishing: (success: 1.5),\n    teams: ["),
                "field `phishing.success`: a probability",
            ),
            (
                GOOD.replace("teams: [", "cloning: (extraction: -1.0),\n    teams: ["),
                "field `cloning.extraction`: a probability",
            ),
            (
                GOOD.replace(
                    "teams: [",
                    "dlms: (ports: [(team: \"blue\", listen: \"127.0.0.1:4059\")]),\n    teams: [",
                ),
                "field `dlms.ports[0].team`: \"blue\" is a blue team",
            ),
            (
                GOOD.replace(
                    "teams: [",
                    "dlms: (ports: [(team: \"reds\", listen: \"127.0.0.1:4059\")]),\n    teams: [",
                ),
                "field `dlms.ports[0].team`: no team is called \"reds\"",
            ),
            (
                GOOD.replace(
                    "teams: [",
                    "dlms: (ports: [(team: \"red\", listen: \"0.0.0.0:4059\")]),\n    teams: [",
                ),
                "field `dlms.ports[0].listen`: 0.0.0.0:4059 is not a loopback",
            ),
            (
                GOOD.replace(
                    "teams: [",
                    "dlms: (ports: [(team: \"red\", listen: \"127.0.0.1:4480\")]),\n    teams: [",
                ),
                "field `dlms.ports[0].listen`: 127.0.0.1:4480 is already another port's",
            ),
            (
                GOOD.replace(
                    "teams: [",
                    "dlms: (ports: [(team: \"red\", listen: \"127.0.0.1:4059\")], frames_per_s: 0),\n    teams: [",
                ),
                "field `dlms.frames_per_s`: must be 1 to 10000",
            ),
        ];
        for (text, expected) in cases {
            let e = Exercise::load(Path::new("ex.ron"), &text, env).expect_err(expected);
            assert!(e.to_string().contains(expected), "{e} (expected {expected})");
            assert!(e.to_string().starts_with("ex.ron"), "{e}");
        }
        // A remote address is allowed when asked for.
        let remote = GOOD.replace(
            "teams: [",
            "listen: \"0.0.0.0:4433\",\n    allow_remote: true,\n    teams: [",
        );
        assert!(Exercise::load(Path::new("ex.ron"), &remote, env).is_ok());
        // A DLMS port with its defaults.
        let dlms = GOOD.replace(
            "teams: [",
            "dlms: (ports: [(team: \"red\", listen: \"127.0.0.1:4059\")], first_meter: 500),\n    teams: [",
        );
        let e = Exercise::load(Path::new("ex.ron"), &dlms, env).expect("loads");
        let d = e.dlms.expect("a DLMS face");
        assert_eq!((d.first_meter, d.frames_per_s, d.max_connections), (500, 50, 16));
        assert_eq!(d.ports[0].listen.to_string(), "127.0.0.1:4059");
        assert_eq!(e.cloning, Cloning::default());
    }

    #[test]
    fn exercise_errors_name_line_and_column() {
        let check = |text: &str, expected: &str| {
            let e = Exercise::load(Path::new("ex.ron"), text, env).expect_err(expected);
            assert_eq!(e.to_string(), expected);
        };
        check(
            &GOOD.replace("Given(\"a-long-token-for-the-class\")", "Given(\"short\")"),
            "ex.ron:7:43: field `teams[2].token`: a token needs at least 16 characters, this one has 5",
        );
        check(
            &GOOD.replace("name: \"blue\"", "name: \"red\""),
            "ex.ron:6:10: field `teams[1].name`: \"red\" is the name of an earlier team",
        );
        check(
            &GOOD.replace("teams: [", "pace: 0.0,\n    teams: ["),
            "ex.ron:4:5: field `pace`: simulated seconds per wall second must be at least 0.1 and at most 3600, not 0",
        );
        check(
            &GOOD.replace("teams: [", "phishing: (success: 1.5),\n    teams: ["),
            "ex.ron:4:16: field `phishing.success`: a probability is 0 to 1, not 1.5",
        );
        check(
            &GOOD.replace("teams: [", "meters: 1000000000,\n    teams: ["),
            "ex.ron:4:5: field `meters`: must be 1 to 100000000, not 1000000000",
        );
        // Syntax faults keep RON's position and name the field before it.
        let e = Exercise::load(Path::new("ex.ron"), &GOOD.replace("role: Red)", "role: Red"), env).expect_err("syntax");
        assert_eq!(e.position.map(|p| p.0), Some(6), "{e}");
        assert_eq!(e.field.as_deref(), Some("role"), "{e}");
        // A byte-order mark is no fault, and a file that is not an exercise is not quoted.
        assert!(Exercise::load(Path::new("ex.ron"), &format!("\u{feff}{GOOD}"), env).is_ok());
        let e = Exercise::load(Path::new("ex.ron"), "root:x:0:0:root:/root:/bin/bash\n", env).expect_err("passwd");
        assert_eq!(
            e.to_string(),
            "ex.ron: not an exercise file: an exercise file opens with `Exercise(`"
        );
    }
}
