//! The messages of protocol version 1, as JSON objects tagged by `"type"` (see
//! `range/PROTOCOL.md`), and who may send which action.
//!
//! Each stream's first message is `hello` with the team's token; until the server answers
//! `welcome`, nothing else is read. Each `request` carries an id the answer repeats: `accepted`
//! (with the simulated time it takes effect) or `refused` (with the reason).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The most bytes one `dlms` action carries: a DLMS port reads its connections' bytes in
/// chunks of at most this many, so a wrapper frame of the largest APDU the meters take (1,024
/// bytes and its 8-byte header) fits in one.
pub const MAX_DLMS_CHUNK: usize = 2048;

/// The slowest pace: simulated seconds per wall second.
pub const MIN_PACE: f64 = 0.1;
/// The fastest pace.
pub const MAX_PACE: f64 = 3600.0;

/// A detector threshold blue may change with `set-threshold`: its range and unit.
///
/// The ranges are policy: wide enough for every tuning an analyst would try (each holds its
/// detector's default with a factor of a hundred or more on either side where that makes
/// sense), narrow enough that no value silences a detector for good (a count past any real
/// fleet's bulk operations) or floods it (a share or band so small that normal operation
/// alerts every interval).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tunable {
    /// The detector's name (as alerts give it, e.g. `command-rate`).
    pub detector: &'static str,
    /// The field, as the scenario's `defenses` section names it.
    pub field: &'static str,
    /// The least value.
    pub min: f64,
    /// The greatest value.
    pub max: f64,
    /// Whether the value is a count (a whole number).
    pub whole: bool,
    /// What the value is, in words with its unit (e.g. `a whole number of meters`).
    pub unit: &'static str,
}

/// Every threshold `set-threshold` may change, with its range and unit: generated from the
/// detectors' own declarations in the defense library (see `tunables_generated.rs`).
pub use crate::tunables_generated::TUNABLES;

impl Tunable {
    /// The tunable field `field` of `detector`, if there is one.
    pub fn find(detector: &str, field: &str) -> Option<&'static Tunable> {
        TUNABLES.iter().find(|t| t.detector == detector && t.field == field)
    }

    /// Checks `value` against the range; the refusal names the field, the value (for people),
    /// the range and the unit.
    pub fn check(&self, value: f64) -> Result<(), String> {
        let in_range = value.is_finite() && value >= self.min && value <= self.max;
        if in_range && (!self.whole || value.fract() == 0.0) {
            return Ok(());
        }
        Err(format!(
            "`{}` of `{}` is {}, at least {} and at most {}, not {}",
            self.field,
            self.detector,
            self.unit,
            for_people(self.min),
            for_people(self.max),
            for_people(value)
        ))
    }
}

/// A number as people read it: at most 6 decimals, or 4 significant digits in scientific
/// notation when very small or very large (never the 300 digits of `1e-308` written out).
pub fn for_people(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-3..1e12).contains(&magnitude) {
        let text = format!("{value:.3e}");
        return match text.split_once('e') {
            Some((mantissa, exponent)) if mantissa.contains('.') => {
                format!("{}e{exponent}", mantissa.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => text,
        };
    }
    let text = format!("{value:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A team's role in an exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Attackers: act through the attack primitives.
    Red,
    /// Defenders: see telemetry and alerts, act through defenses and responses.
    Blue,
    /// Instructors: control the clock, inject events, see ground truth and the scoreboard.
    White,
}

impl Role {
    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Role::Red => "red",
            Role::Blue => "blue",
            Role::White => "white",
        }
    }
}

/// A token as a client presents it: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Presented(pub String);

impl fmt::Debug for Presented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// From a client to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ClientMessage {
    /// The first message: who is calling.
    Hello {
        /// The team's token.
        token: Presented,
        /// The client's name and version, for the journal (free text, at most 64 characters).
        client: String,
    },
    /// An action, to be answered `accepted` or `refused` under the same id.
    Request {
        /// Chosen by the client; answers repeat it.
        id: u64,
        /// What to do.
        action: Action,
    },
    /// The client is leaving.
    Bye {},
}

/// What a rogue image pushed by red does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FirmwarePayload {
    /// Registers record half of the true consumption.
    FalseReadings,
    /// The meter stops working until a crew reflashes it.
    Brick,
    /// Every meter running it opens its relay 30 minutes after the push.
    Disconnect,
}

/// What blue investigates, as a utility's SOC queries its systems: newest first, a page of
/// [`QUERY_PAGE`] rows at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "of", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Query {
    /// The HES audit log: every request, by whom, what, how many meters, refused or not.
    Audit {
        /// Only this account's requests.
        #[serde(default)]
        account: Option<String>,
        /// The page, from 0 (the newest).
        #[serde(default)]
        page: u32,
    },
    /// The relay events meters pushed (opened, closed).
    Events {
        /// Only this meter's.
        #[serde(default)]
        meter: Option<u32>,
        /// The page, from 0 (the newest).
        #[serde(default)]
        page: u32,
    },
    /// The firmware census: meters per image as they report it, the meters that stopped
    /// answering, and those at the legacy security level.
    Census {},
    /// One meter: its place in the grid, relay, firmware, and its last 16 interval reads.
    Meter {
        /// The meter.
        meter: u32,
    },
    /// The flows the network sensor saw.
    Flows {
        /// Only flows from or to this IPv4 address.
        #[serde(default)]
        host: Option<String>,
        /// The page, from 0 (the newest).
        #[serde(default)]
        page: u32,
    },
}

/// White's broadcasts every view shows: the newest this many.
pub const MESSAGES_KEPT: usize = 20;

/// Rows in one page of a [`Query`]'s answer.
pub const QUERY_PAGE: usize = 20;

/// What a player asks for. Each action belongs to one role, except `snapshot` (every role,
/// each seeing its own view).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    /// Red: phish the holder of an HES account (succeeds with the exercise's odds).
    Phish {
        /// The HES account.
        account: String,
    },
    /// Red: disconnect the customers of feeders through the HES, with a credential stolen
    /// before.
    Disconnect {
        /// The stolen account to present.
        account: String,
        /// Feeder indices.
        feeders: Vec<u32>,
    },
    /// Red: push a rogue firmware image through the HES's firmware update to the meters of
    /// feeders, with a credential stolen before (the channel); signed only if the exercise
    /// gives red a leaked signing key.
    PushFirmware {
        /// The stolen account to present.
        account: String,
        /// Feeder indices.
        feeders: Vec<u32>,
        /// What the image does.
        payload: FirmwarePayload,
    },
    /// Red: switch a jammer on at a place, for a while.
    Jam {
        /// Where, metres east.
        x_m: f64,
        /// Where, metres north.
        y_m: f64,
        /// Radius, metres (above 0, at most 5,000).
        radius_m: f64,
        /// Share of link success lost inside (above 0, at most 1).
        strength: f64,
        /// How long, minutes (1 to 1,440).
        minutes: u32,
    },
    /// Red: open a meter at its premise and read its DLMS keys over the debug port (succeeds
    /// with the exercise's odds). Under per-device keys the key opens that meter alone, under
    /// a shared group key every meter of its group; `snapshot` lists the keys red holds.
    Clone {
        /// The meter.
        meter: u32,
    },
    /// Red, from a team's DLMS port only: bytes a DLMS client sent on connection `connection`
    /// of the port, hexadecimal; the meters' answer comes back in the result (`bytes`).
    Dlms {
        /// The connection, numbered by the server.
        connection: u64,
        /// The bytes, hexadecimal (at most [`MAX_DLMS_CHUNK`] bytes).
        bytes: String,
    },
    /// Red, from a team's DLMS port only: connection `connection` closed.
    DlmsClosed {
        /// The connection.
        connection: u64,
    },
    /// Blue: refuse bulk commands (more than a few meters at once) for a while.
    FreezeBulk {
        /// How long, minutes (1 to 1,440).
        minutes: u32,
    },
    /// Blue: revoke an HES account.
    RevokeAccount {
        /// The account.
        account: String,
    },
    /// Blue: take the HES off the network and rebuild it.
    IsolateHes {},
    /// Blue: roll meters running an unreleased image back to the released one.
    RollbackFirmware {},
    /// Blue: send crews to transformers (inspect meters, hunt a jammer near the closest
    /// collector); with none, to meters that no longer answer (reflash them).
    DispatchCrews {
        /// Transformer indices.
        transformers: Vec<u32>,
    },
    /// Blue: change a detector's threshold.
    SetThreshold {
        /// The detector's name (e.g. `command-rate`).
        detector: String,
        /// Its field (e.g. `per_account`).
        field: String,
        /// The new value.
        value: f64,
    },
    /// Blue: investigate (the audit log, meters' events, the firmware census, a meter, the
    /// flows): answered from the engine's state, changing nothing.
    Query {
        /// What to look at.
        query: Query,
    },
    /// White: stop the clock.
    Pause {},
    /// White: start the clock again.
    Resume {},
    /// White: change the pace.
    SetPace {
        /// Simulated seconds per wall-clock second (0.1 to 3,600).
        sim_seconds_per_second: f64,
    },
    /// White: put a feeder out (a storm), for a while.
    InjectOutage {
        /// The feeder.
        feeder: u32,
        /// How long, minutes (1 to 1,440).
        minutes: u32,
    },
    /// White: the ground truth and the scoreboard.
    GroundTruth {},
    /// White: a message to every team, shown in every view (the newest [`MESSAGES_KEPT`]).
    Broadcast {
        /// The message (1 to 500 characters).
        message: String,
    },
    /// Any role: the state as that role may see it.
    Snapshot {},
}

impl Action {
    /// The role that may ask for it; `None` for an action every role may ask for.
    pub fn role(&self) -> Option<Role> {
        match self {
            Action::Phish { .. }
            | Action::Disconnect { .. }
            | Action::PushFirmware { .. }
            | Action::Jam { .. }
            | Action::Clone { .. }
            | Action::Dlms { .. }
            | Action::DlmsClosed { .. } => Some(Role::Red),
            Action::FreezeBulk { .. }
            | Action::RevokeAccount { .. }
            | Action::IsolateHes {}
            | Action::RollbackFirmware {}
            | Action::DispatchCrews { .. }
            | Action::SetThreshold { .. }
            | Action::Query { .. } => Some(Role::Blue),
            Action::Pause {}
            | Action::Resume {}
            | Action::SetPace { .. }
            | Action::InjectOutage { .. }
            | Action::GroundTruth {}
            | Action::Broadcast { .. } => Some(Role::White),
            Action::Snapshot {} => None,
        }
    }

    /// Its name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Phish { .. } => "phish",
            Action::Disconnect { .. } => "disconnect",
            Action::PushFirmware { .. } => "push-firmware",
            Action::Jam { .. } => "jam",
            Action::Clone { .. } => "clone",
            Action::Dlms { .. } => "dlms",
            Action::DlmsClosed { .. } => "dlms-closed",
            Action::FreezeBulk { .. } => "freeze-bulk",
            Action::RevokeAccount { .. } => "revoke-account",
            Action::IsolateHes {} => "isolate-hes",
            Action::RollbackFirmware {} => "rollback-firmware",
            Action::DispatchCrews { .. } => "dispatch-crews",
            Action::SetThreshold { .. } => "set-threshold",
            Action::Query { .. } => "query",
            Action::Pause {} => "pause",
            Action::Resume {} => "resume",
            Action::SetPace { .. } => "set-pace",
            Action::InjectOutage { .. } => "inject-outage",
            Action::GroundTruth {} => "ground-truth",
            Action::Broadcast { .. } => "broadcast",
            Action::Snapshot {} => "snapshot",
        }
    }

    /// Checks that `role` may ask for it and that its values are in range; the refusal's
    /// reason otherwise.
    pub fn check(&self, role: Role) -> Result<(), String> {
        if let Some(needed) = self.role()
            && needed != role
        {
            return Err(format!(
                "`{}` is a {} action; this token is {}'s",
                self.name(),
                needed.name(),
                role.name()
            ));
        }
        let minutes = |m: u32| {
            if (1..=1440).contains(&m) {
                Ok(())
            } else {
                Err(format!("`minutes` must be 1 to 1440, not {m}"))
            }
        };
        let name = |field: &str, s: &str| {
            if s.is_empty() || s.len() > 64 {
                Err(format!("`{field}` must be 1 to 64 characters"))
            } else {
                Ok(())
            }
        };
        match self {
            Action::Phish { account } | Action::RevokeAccount { account } => name("account", account),
            Action::Disconnect { account, feeders } | Action::PushFirmware { account, feeders, .. } => {
                name("account", account)?;
                if feeders.is_empty() || feeders.len() > 10_000 {
                    return Err("`feeders` must list 1 to 10,000 feeders".into());
                }
                Ok(())
            }
            Action::Jam {
                x_m,
                y_m,
                radius_m,
                strength,
                minutes: m,
            } => {
                if !(x_m.is_finite() && y_m.is_finite()) {
                    return Err("`x_m` and `y_m` must be numbers".into());
                }
                if !(*radius_m > 0.0 && *radius_m <= 5000.0) {
                    return Err(format!("`radius_m` must be above 0 and at most 5000, not {radius_m}"));
                }
                if !(*strength > 0.0 && *strength <= 1.0) {
                    return Err(format!("`strength` must be above 0 and at most 1, not {strength}"));
                }
                minutes(*m)
            }
            Action::FreezeBulk { minutes: m } | Action::InjectOutage { minutes: m, .. } => minutes(*m),
            Action::Dlms { bytes, .. } => {
                if bytes.len() > 2 * MAX_DLMS_CHUNK
                    || bytes.len() % 2 != 0
                    || !bytes.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(format!(
                        "`bytes` must be at most {MAX_DLMS_CHUNK} bytes written as pairs of hexadecimal digits"
                    ));
                }
                Ok(())
            }
            Action::Clone { .. } | Action::DlmsClosed { .. } => Ok(()),
            Action::DispatchCrews { transformers } => {
                if transformers.len() > 1000 {
                    return Err("`transformers` must list at most 1,000 transformers".into());
                }
                Ok(())
            }
            Action::SetThreshold { detector, field, value } => {
                name("detector", detector)?;
                name("field", field)?;
                match Tunable::find(detector, field) {
                    Some(tunable) => tunable.check(*value),
                    None if TUNABLES.iter().any(|t| t.detector == detector) => {
                        let fields: Vec<&str> = TUNABLES
                            .iter()
                            .filter(|t| t.detector == detector)
                            .map(|t| t.field)
                            .collect();
                        Err(format!(
                            "`{detector}` has no tunable field `{field}` (it has: {})",
                            fields.join(", ")
                        ))
                    }
                    None => {
                        let mut detectors: Vec<&str> = TUNABLES.iter().map(|t| t.detector).collect();
                        detectors.dedup();
                        Err(format!(
                            "no detector `{detector}` has tunable thresholds (those that do: {})",
                            detectors.join(", ")
                        ))
                    }
                }
            }
            Action::SetPace { sim_seconds_per_second } => {
                if (MIN_PACE..=MAX_PACE).contains(sim_seconds_per_second) {
                    Ok(())
                } else {
                    Err(format!(
                        "`sim_seconds_per_second` must be at least {MIN_PACE} and at most {MAX_PACE}, not {sim_seconds_per_second}"
                    ))
                }
            }
            Action::IsolateHes {}
            | Action::RollbackFirmware {}
            | Action::Pause {}
            | Action::Resume {}
            | Action::GroundTruth {} => Ok(()),
            Action::Snapshot {} => Ok(()),
            Action::Broadcast { message } => {
                let n = message.chars().count();
                if n == 0 || n > 500 || message.chars().any(|c| c.is_control() && c != '\n') {
                    return Err(
                        "`message` must be 1 to 500 characters, without control characters but line feeds".into(),
                    );
                }
                Ok(())
            }
            Action::Query { query } => match query {
                Query::Audit { account, page } => {
                    if let Some(a) = account {
                        name("account", a)?;
                    }
                    query_page(*page)
                }
                Query::Events { page, .. } | Query::Flows { page, host: None } => query_page(*page),
                Query::Flows { host: Some(h), page } => {
                    if h.parse::<std::net::Ipv4Addr>().is_err() {
                        return Err(format!("`host` must be an IPv4 address such as 10.10.0.10, not {h:?}"));
                    }
                    query_page(*page)
                }
                Query::Census {} | Query::Meter { .. } => Ok(()),
            },
        }
    }
}

/// A query's page, at most 100,000 (two million rows in).
fn query_page(page: u32) -> Result<(), String> {
    if page <= 100_000 {
        Ok(())
    } else {
        Err(format!("`page` must be at most 100000, not {page}"))
    }
}

/// From the server to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ServerMessage {
    /// The answer to a valid `hello`.
    Welcome {
        /// The protocol version the server speaks.
        protocol: u8,
        /// The exercise's name.
        exercise: String,
        /// The caller's team and role.
        team: String,
        /// Its role.
        role: Role,
        /// Simulated seconds since the exercise's start.
        sim_time_s: f64,
    },
    /// A request taken: it becomes an engine input at this simulated time.
    Accepted {
        /// The request's id.
        id: u64,
        /// Simulated seconds since the start.
        at_s: f64,
        /// What the action returned: `null`, an outcome (e.g. a phish's), or a state (a
        /// `snapshot`'s, `ground-truth`'s).
        result: serde_json::Value,
    },
    /// A request refused, and why (the refusal is journalled).
    Refused {
        /// The request's id.
        id: u64,
        /// Why.
        reason: String,
    },
    /// A fault that ends the connection: a bad frame, no `hello` first, a wrong token.
    Error {
        /// What was wrong.
        message: String,
    },
}

/// The protocol's JSON Schema: what a client sends (`client`) and what the server answers
/// (`server`), generated from the message types (`range/schema.json` is this, kept current by
/// a test).
pub fn json_schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "amirange range protocol, version 1",
        "description": "Each frame's JSON body (see range/PROTOCOL.md): a client sends `client`, the server answers `server`.",
        "client": schemars::schema_for!(ClientMessage),
        "server": schemars::schema_for!(ServerMessage),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Decoder, FrameError, encode};

    fn decode<T: for<'de> Deserialize<'de>>(json: &str) -> Result<T, FrameError> {
        let mut d = Decoder::new(1024);
        d.push(&encode(&serde_json::from_str::<serde_json::Value>(json).expect("json")));
        d.next_message::<T>().map(|m| m.expect("a whole frame"))
    }

    #[test]
    fn the_documented_examples_parse() {
        let hello: ClientMessage =
            decode(r#"{"type":"hello","token":"s3cret-s3cret-s3cret","client":"aioquic"}"#).expect("hello");
        assert_eq!(
            hello,
            ClientMessage::Hello {
                token: Presented("s3cret-s3cret-s3cret".into()),
                client: "aioquic".into()
            }
        );
        assert!(!format!("{hello:?}").contains("s3cret"), "tokens never print");
        let req: ClientMessage = decode(
            r#"{"type":"request","id":7,"action":{"action":"disconnect","account":"cis-integration","feeders":[0,1]}}"#,
        )
        .expect("request");
        let ClientMessage::Request { id: 7, action } = req else {
            panic!("a request");
        };
        assert_eq!(action.role(), Some(Role::Red));
        let welcome = ServerMessage::Welcome {
            protocol: 1,
            exercise: "x".into(),
            team: "blue-1".into(),
            role: Role::Blue,
            sim_time_s: 0.0,
        };
        assert_eq!(
            serde_json::to_string(&welcome).expect("json"),
            r#"{"type":"welcome","protocol":1,"exercise":"x","team":"blue-1","role":"blue","sim_time_s":0.0}"#
        );
    }

    #[test]
    fn unknown_types_fields_and_actions_are_refused() {
        for bad in [
            r#"{"type":"shout"}"#,
            r#"{"type":"bye","extra":1}"#,
            r#"{"type":"request","id":1,"action":{"action":"teleport"}}"#,
            r#"{"type":"request","id":-1,"action":{"action":"pause"}}"#,
            r#"{"type":"request","id":1,"action":{"action":"jam","x_m":0,"y_m":0}}"#,
            r#"{"type":"request","id":1,"action":{"action":"pause","x":1}}"#,
            r#"{"type":"hello","client":"c"}"#,
        ] {
            assert!(
                matches!(decode::<ClientMessage>(bad), Err(FrameError::Message(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn each_role_may_ask_only_for_its_own_actions() {
        let red = Action::Disconnect {
            account: "ops".into(),
            feeders: vec![0],
        };
        let blue = Action::FreezeBulk { minutes: 30 };
        let white = Action::GroundTruth {};
        assert!(red.check(Role::Red).is_ok() && blue.check(Role::Blue).is_ok() && white.check(Role::White).is_ok());
        let e = red.check(Role::Blue).expect_err("blue asks for a red action");
        assert_eq!(e, "`disconnect` is a red action; this token is blue's");
        assert!(white.check(Role::Red).is_err(), "red asks for ground truth");
        assert!(blue.check(Role::White).is_err());
        for role in [Role::Red, Role::Blue, Role::White] {
            assert!(Action::Snapshot {}.check(role).is_ok());
        }
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_field() {
        let jam = |radius_m, strength, minutes| Action::Jam {
            x_m: 0.0,
            y_m: 0.0,
            radius_m,
            strength,
            minutes,
        };
        assert!(jam(400.0, 0.9, 60).check(Role::Red).is_ok());
        assert!(
            jam(0.0, 0.9, 60)
                .check(Role::Red)
                .expect_err("radius")
                .contains("radius_m")
        );
        assert!(
            jam(400.0, 1.5, 60)
                .check(Role::Red)
                .expect_err("strength")
                .contains("strength")
        );
        assert!(
            jam(400.0, 0.9, 0)
                .check(Role::Red)
                .expect_err("minutes")
                .contains("minutes")
        );
        let pace = Action::SetPace {
            sim_seconds_per_second: f64::NAN,
        };
        assert!(pace.check(Role::White).is_err());
        let empty = Action::Disconnect {
            account: "ops".into(),
            feeders: vec![],
        };
        assert!(empty.check(Role::Red).expect_err("feeders").contains("feeders"));
    }

    #[test]
    fn set_threshold_refuses_out_of_range_values_with_unit() {
        let set = |detector: &str, field: &str, value: f64| {
            Action::SetThreshold {
                detector: detector.into(),
                field: field.into(),
                value,
            }
            .check(Role::Blue)
        };
        assert!(set("command-rate", "account_meters", 50.0).is_ok());
        assert!(set("zero-at-peak", "share", 0.005).is_ok());
        assert_eq!(
            set("command-rate", "account_meters", 4_294_967_295.0).expect_err("a count that silences"),
            "`account_meters` of `command-rate` is a whole number of meters per window, at least 1 and at most 100000, not 4294967295"
        );
        assert_eq!(
            set("zero-at-peak", "share", 1e-308).expect_err("a share that floods"),
            "`share` of `zero-at-peak` is a share of the fleet, at least 0.001 and at most 1, not 1e-308"
        );
        assert_eq!(
            set("frequency-excursion", "deviation_hz", 0.001).expect_err("a band that floods"),
            "`deviation_hz` of `frequency-excursion` is a deviation from nominal in Hz, at least 0.05 and at most 2.5, not 0.001"
        );
        let fraction = set("command-rate", "account_meters", 50.5).expect_err("a fraction of a count");
        assert!(
            fraction.contains("whole number") && fraction.contains("not 50.5"),
            "{fraction}"
        );
        assert!(
            set("command-rate", "account_meters", 0.0)
                .expect_err("zero")
                .contains("at least 1")
        );
        assert!(
            set("energy-balance", "intervals", f64::NAN)
                .expect_err("NaN")
                .contains("not NaN")
        );
        assert_eq!(
            set("command-rate", "window", 60.0).expect_err("not tunable"),
            "`command-rate` has no tunable field `window` (it has: account_meters, account_requests, fleet_meters)"
        );
        assert!(
            set("nonsense", "x", 1.0)
                .expect_err("no detector")
                .starts_with("no detector `nonsense`")
        );
        // No refusal is longer than a line, whatever the value.
        for value in [f64::MAX, f64::MIN_POSITIVE, -1e300, 5e-324] {
            let refusal = set("zero-at-peak", "share", value).expect_err("out of range");
            assert!(refusal.len() < 120, "{refusal}");
        }
    }
}
