//! IDS over the simulated network flows: a documented subset of Suricata 7 rule syntax, with
//! Suricata 7's exact `threshold` and `detection_filter` semantics.
//!
//! The IDS sees packets as a sensor captures them, header only: [`Flow`] observations, each a
//! run of packets alike but for their times (and, for a run of connection attempts, their
//! source ports), stamped in microseconds since the run started, with the state Suricata's flow
//! engine gives them (direction, established, first of its flow in its direction). A flood's
//! thousands of attempts a second are one observation; the IDS gives exactly the alerts of its
//! packets taken one by one. [`crate::wire`] renders the engine's flow records into these
//! packets, and the same packets into a capture Suricata can read.
//!
//! ```
//! use amirange_defenses::ids::{Flow, Ids, Proto, RuleSet, Vars};
//! use std::net::Ipv4Addr;
//!
//! let rules = RuleSet::parse(
//!     r#"alert tcp any any -> $HES_NET 1883 (msg:"MQTT excessive connection attempts"; flow:to_server; threshold:type threshold, track by_src, count 10, seconds 60; sid:1000002; rev:1;)"#,
//!     &Vars::ami(),
//! )?;
//! let mut ids = Ids::new(rules);
//! let flood = Flow {
//!     time_us: 5_000_000,
//!     step_us: 40_000, // 25 SYNs over one second...
//!     proto: Proto::Tcp,
//!     src: Ipv4Addr::new(203, 0, 113, 7),
//!     src_port: 49152,
//!     dst: Ipv4Addr::new(10, 10, 0, 10),
//!     dst_port: 1883,
//!     next_port: true, // ...each from the next port, a connection of its own
//!     to_server: true,
//!     established: false,
//!     first: true,
//!     count: 25,
//! };
//! let mut alerts = Vec::new();
//! ids.observe(&flood, &mut alerts);
//! assert_eq!(alerts.len(), 1); // one rule alerted...
//! assert_eq!(alerts[0].fired, 2); // ...twice: at the 10th and the 20th attempt
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Rule files
//!
//! One rule per line. Blank lines and lines whose first non-blank character is `#` are skipped
//! (so `# alert ...` disables a rule). A rule may not span lines: Suricata's trailing-`\`
//! continuation is an error. Line numbers in errors count every line of the text, from 1.
//!
//! ```text
//! rule      = action proto src_addr src_port direction dst_addr dst_port "(" options ")"
//! options   = { option }                     ; every option ends with ";"
//! option    = keyword [ ":" value ] ";"      ; `\;` escapes a ";" inside a value
//! addr      = "any" | a.b.c.d | a.b.c.d/n | "$"NAME | "!" addr | "[" addr { "," addr } "]"
//! port      = "any" | N | N:M | N: | :M | "$"NAME | "!" port | "[" port { "," port } "]"
//! direction = "->" | "<>"
//! ```
//!
//! Header fields are separated by blanks; blanks inside `[...]` groups are allowed. Nothing may
//! follow the closing `)`.
//!
//! ## Header
//!
//! | field | accepted | errors |
//! | --- | --- | --- |
//! | action | `alert` | `drop`, `pass`, `reject*`, `config`: the range's IDS only observes, it never blocks; anything else is unknown |
//! | proto | `tcp`, `udp`, `ip` or `any` (both) | application-layer protocols (`mqtt`, `http`, `dnp3`, `modbus`, `tls`, ...): flows carry no payload, match the transport and port instead; `icmp`, `sctp`, ... are not simulated |
//! | src_addr, dst_addr | see *Addresses* | IPv6, address ranges `a-b`, dotted netmasks, unknown variables, sets that match no address (`!any`) |
//! | src_port, dst_port | see *Ports* | numbers above 65535, `a:b` with `a > b`, unknown variables, sets that match no port |
//! | direction | `->`; `<>` (the rule matches the flow as given or with source and destination swapped) | `<-` (Suricata has no right-to-left rules), anything else |
//!
//! ## Addresses
//!
//! `any`; a dotted IPv4 address; a CIDR block `a.b.c.d/n` (`n` in 0..=32, host bits are
//! ignored); an address variable `$NAME` (see [`Vars`]); a negation `!x`; a group
//! `[x, y, ...]`, which may nest. A group follows Suricata's semantics: it matches an address
//! when at least one of its positive members matches and none of its negated members (`!x`)
//! does; a group made only of negations matches every address none of them matches. So
//! `[10.0.0.0/8, !10.1.0.0/16]` is the 10/8 block without corporate IT, and `!$HOME_NET` is every
//! address outside 10/8. A variable is substituted as written: a variable whose value is `!x`,
//! used as a group member, is a negated member (`[$EXTERNAL_NET, ...]` behaves like
//! `[!$HOME_NET, ...]`). Variables may refer to other variables; a cycle is an error.
//!
//! ## Ports
//!
//! `any`; a number 0..=65535; a range `a:b` (inclusive); open ranges `a:` (a..=65535) and `:b`
//! (0..=b); a port variable `$NAME`; negation and groups exactly as for addresses, e.g.
//! `[80, 443, 1000:2000]` or `[1024:, !4059]`.
//!
//! ## Options
//!
//! Keywords are case-insensitive. Values may be quoted (`msg:"..."`); inside a value `\"`, `\;`
//! and `\\` are escapes, and an unescaped `;` always ends the value (as in Suricata, quotes do not
//! protect it).
//!
//! | keyword | value | notes |
//! | --- | --- | --- |
//! | `msg` | text, usually quoted | optional, default empty; once |
//! | `sid` | integer 1..=4294967295 | **required**; unique across the rule set; once |
//! | `rev` | integer | default 1; once |
//! | `classtype` | name (`[A-Za-z0-9_-]+`) | kept as text (there is no classification.config); once |
//! | `priority` | 1..=255 | once |
//! | `metadata` | text | kept as text, never affects matching (as in Suricata); may repeat |
//! | `reference` | text | kept as text; may repeat |
//! | `flow` | see below | once |
//! | `threshold` | `type limit\|threshold\|both, track by_src\|by_dst\|by_rule\|by_both, count N, seconds S` | the four parts in any order, each exactly once; once per rule; unquoted |
//! | `detection_filter` | `track by_src\|by_dst, count N, seconds S` | the three parts in any order, each exactly once; once per rule; unquoted |
//!
//! As Suricata 7.0.10 takes them: the words are lower case (`type LIMIT` is refused); a
//! threshold's `count` and `seconds` are 0..=4294967295, a detection_filter's 1..=4294967295;
//! a detection_filter tracks by source or destination only; a quoted value is refused. A rule with both `threshold` and
//! `detection_filter` is an error (Suricata refuses it too). Every other keyword (`content`,
//! `pcre`, `dsize`, `flowbits`, `gid`, ...) is an error, `unsupported keyword "content"`: it is
//! never silently ignored, because ignoring a payload condition would make the rule fire on
//! traffic it was written to exclude.
//!
//! ### `flow`
//!
//! A comma-separated list of `to_server`, `from_client`, `to_client`, `from_server`,
//! `established`, `not_established`, `stateless`, matched per packet as Suricata does:
//! `to_server`/`from_client` match packets from the flow's client ([`Flow::to_server`]),
//! `to_client`/`from_server` those from its server; `established` matches packets sent once the
//! flow was established ([`Flow::established`]; for TCP, Suricata counts from the packet after
//! the one completing the handshake), `not_established` the others, and `stateless` all.
//! Repeating an option, or combining `to_server` with `to_client`, or two of `established`,
//! `not_established` and `stateless`, is an error; so is any other option (`only_stream`,
//! `no_frag`, ...).
//!
//! A rule **without** `flow` is matched only against the first packet of each flow in each
//! direction ([`Flow::first`]): Suricata 7 treats a rule made only of addresses, ports and
//! non-matching keywords (`msg`, `sid`, `threshold`, ...) that way, whatever its ports (checked
//! against Suricata 7.0.10). Add `flow:stateless` to match every packet.
//!
//! ## Matching
//!
//! A rule matches a flow when the protocol matches, the `flow` options match, and either
//! `src_addr`/`src_port` match the flow's source and `dst_addr`/`dst_port` its destination, or —
//! with `<>` only — the same holds with source and destination swapped. As Suricata compiles
//! it, a `<>` rule is two signatures with one sid, one each way ([`Rule::two_signatures`]),
//! unless its two sides (addresses and ports) are the same, when it is one signature that
//! matches either way: a flow both signatures match alerts twice. The two signatures share
//! their threshold entries (Suricata keys them by sid and address), except under `track
//! by_rule`, where each signature has its own.
//!
//! A packet carries at most [`PACKET_ALERT_MAX`] alerts (Suricata's `packet-alert-max`
//! default): when more signatures match, each packet keeps the first 15 that alert, by
//! priority (3 when not given) and then rule order, and the others' thresholds still count it.
//!
//! ## Thresholds
//!
//! A rule without `threshold` or `detection_filter` alerts on every match: an observation of
//! `count` attempts produces `count` alerts ([`IdsAlert::fired`]). Otherwise each match goes
//! through Suricata 7's per-packet logic (`ThresholdHandlePacket` in
//! `src/detect-engine-threshold.c`), once per attempt, with one tracking entry per rule and per
//! tracked key:
//!
//! * `by_src`: the flow's source address; `by_dst`: its destination address (the flow's own
//!   addresses, also when a `<>` rule matched it swapped);
//! * `by_both`: the unordered address pair (Suricata tracks an IP pair, and `a→b` and `b→a` are the
//!   same pair);
//! * `by_rule`: one entry for the rule.
//!
//! An entry holds the time its window started, `tv1`, and a counter `c`. A packet at time `t`
//! is *inside* the window when `t <= tv1 + seconds` — inclusive, compared in microseconds as
//! Suricata compares packet times (`SCTIME_CMP_LTE`), so a window of `seconds 60` opened at
//! 0.000000 still covers a packet at 60.000000, and one at 60.000001 starts a new window. With N = `count`:
//!
//! | type | no entry yet, or window expired (`tv1 = t`, `c = 1`) | inside the window (`c += 1` first) |
//! | --- | --- | --- |
//! | `limit` | alert | alert while `c <= N` (the first N in the window) |
//! | `threshold` | no alert (with N = 1: alert, and no entry is kept) | when `c >= N`: alert and `c = 0` — every Nth match; the window is *not* restarted |
//! | `both` | alert only if N = 1 | alert when `c == N` (once per window) |
//! | `detection_filter` | no alert | alert while `c > N` (every match after the first N) |
//!
//! An observation of `count = k` packets gives exactly the alerts, and leaves exactly the state,
//! of its `k` packets observed one by one (computed arithmetically within each window, so a
//! flood's thousands of attempts a second cost one step per window); its alerts are stamped
//! with their whole second ([`IdsAlert::time_s`]).
//! Entries whose window has expired are dropped from time to time (as Suricata's host timeout
//! does); that never changes an alert, since an expired entry restarts exactly like a new one, and
//! it keeps memory bounded by the keys active in the last two windows.
//!
//! # Variables
//!
//! [`Vars::ami`] holds the range's address plan ([`ADDRESS_VARS`]: `$HOME_NET`, `$EXTERNAL_NET`,
//! `$CORP_NET`, `$HES_NET`, `$MDM_NET`, `$SCADA_NET`, `$COLLECTOR_NET`, `$FIELD_NET`) and ports
//! ([`PORT_VARS`]: `$MQTT_PORTS`, `$DLMS_PORTS`, `$HTTP_PORTS`, `$DNP3_PORTS`); see
//! [`crate::addresses`]. Address and port variables are separate namespaces, as in Suricata:
//! `$NAME` in an address field looks up an address variable, in a port field a port variable.
//! An unknown variable is an error naming it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::addresses::{ADDRESS_VARS, PORT_VARS};

// ---------------------------------------------------------------------------------------------
// Flows and alerts
// ---------------------------------------------------------------------------------------------

/// A flow's transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// One observation: `count` packets alike but for their times (and, with [`Flow::next_port`],
/// their source ports), `step_us` apart from `time_us` on, as a sensor captures them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flow {
    /// When the first packet was seen, in microseconds since the run started; observations come
    /// in non-decreasing time, packet by packet.
    pub time_us: u64,
    /// Microseconds between one packet and the next (0: all at `time_us`).
    pub step_us: u32,
    /// The transport protocol.
    pub proto: Proto,
    /// The packet's source address.
    pub src: Ipv4Addr,
    /// The first packet's source port.
    pub src_port: u16,
    /// The packet's destination address.
    pub dst: Ipv4Addr,
    /// The packet's destination port.
    pub dst_port: u16,
    /// Whether each packet comes from the next source port ([`Flow::port`]): a run of
    /// connection attempts, each a flow of its own, rather than packets of one flow.
    pub next_port: bool,
    /// Sent by the flow's client (Suricata's `to_server`) rather than by its server.
    pub to_server: bool,
    /// Sent once the flow was established (Suricata's `established`: a TCP packet after the
    /// one that completed the handshake).
    pub established: bool,
    /// The first packet of its flow in its direction. Rules without a `flow` option are matched
    /// against these only, as Suricata matches them once per flow and direction.
    pub first: bool,
    /// How many packets this observation stands for (0 is ignored).
    pub count: u32,
}

/// The first ephemeral port: a run of connection attempts wraps within `EPHEMERAL..=65535`.
pub const EPHEMERAL: u16 = 49152;

impl Flow {
    /// Packet `j`'s source port: [`Flow::src_port`], or with [`Flow::next_port`] the `j`th port
    /// after it (wrapping within the ephemeral ports when it starts among them).
    pub fn port(&self, j: u64) -> u16 {
        if !self.next_port || j == 0 {
            return self.src_port;
        }
        if self.src_port >= EPHEMERAL {
            let span = u64::from(u16::MAX - EPHEMERAL) + 1;
            EPHEMERAL + ((u64::from(self.src_port - EPHEMERAL) + j) % span) as u16
        } else {
            self.src_port.wrapping_add(j as u16)
        }
    }

    /// Packet `j` alone.
    pub fn packet(&self, j: u64) -> Flow {
        Flow {
            time_us: self.time_us + j * u64::from(self.step_us),
            src_port: self.port(j),
            count: 1,
            ..*self
        }
    }
}

/// One rule's alerts for one observation's packets within one second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdsAlert {
    /// When: the whole second (since the run started) of the alerting packets.
    pub time_s: u64,
    /// The rule: an index into [`RuleSet::rules`] (and [`Ids::rules`]).
    pub rule: usize,
    /// The rule's `sid`.
    pub sid: u32,
    /// The flow's source address.
    pub src: Ipv4Addr,
    /// The flow's destination address.
    pub dst: Ipv4Addr,
    /// The source port of the observation's first packet.
    pub src_port: u16,
    /// The flow's destination port.
    pub dst_port: u16,
    /// How many alerts this observation produced for this rule (at least 1).
    pub fired: u32,
}

// ---------------------------------------------------------------------------------------------
// Variables
// ---------------------------------------------------------------------------------------------

/// Address and port variables (`$NAME` in rules), two separate namespaces as in Suricata.
///
/// [`Vars::default`] is empty; [`Vars::ami`] is the range's address plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vars {
    addresses: BTreeMap<String, String>,
    ports: BTreeMap<String, String>,
}

impl Vars {
    /// The range's address plan: [`ADDRESS_VARS`] and [`PORT_VARS`] from [`crate::addresses`].
    pub fn ami() -> Vars {
        Vars {
            addresses: ADDRESS_VARS
                .iter()
                .map(|&(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ports: PORT_VARS.iter().map(|&(n, v)| (n.to_string(), v.to_string())).collect(),
        }
    }

    /// Overrides or adds one variable (`name` with or without the leading `$`).
    ///
    /// An existing variable keeps its namespace; a new one is a port variable when its name ends
    /// in `_PORTS` or `_PORT` (Suricata's convention), an address variable otherwise. Use
    /// [`Vars::set_address`] or [`Vars::set_port`] to choose. The value's syntax is checked at
    /// once; the variables it refers to are looked up when rules are parsed.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let name = name.strip_prefix('$').unwrap_or(name);
        let port = if self.addresses.contains_key(name) {
            false
        } else {
            self.ports.contains_key(name) || name.ends_with("_PORTS") || name.ends_with("_PORT")
        };
        if port {
            self.set_port(name, value)
        } else {
            self.set_address(name, value)
        }
    }

    /// Overrides or adds an address variable.
    pub fn set_address(&mut self, name: &str, value: &str) -> Result<(), String> {
        let name = checked_var_name(name)?;
        parse_expr(value, Domain::Addr).map_err(|e| format!("invalid value for address variable ${name}: {e}"))?;
        self.addresses.insert(name.to_string(), value.trim().to_string());
        Ok(())
    }

    /// Overrides or adds a port variable.
    pub fn set_port(&mut self, name: &str, value: &str) -> Result<(), String> {
        let name = checked_var_name(name)?;
        parse_expr(value, Domain::Port).map_err(|e| format!("invalid value for port variable ${name}: {e}"))?;
        self.ports.insert(name.to_string(), value.trim().to_string());
        Ok(())
    }

    /// An address variable's value, as written.
    pub fn address(&self, name: &str) -> Option<&str> {
        self.addresses
            .get(name.strip_prefix('$').unwrap_or(name))
            .map(String::as_str)
    }

    /// A port variable's value, as written.
    pub fn port(&self, name: &str) -> Option<&str> {
        self.ports
            .get(name.strip_prefix('$').unwrap_or(name))
            .map(String::as_str)
    }
}

fn valid_var_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn checked_var_name(name: &str) -> Result<&str, String> {
    let name = name.strip_prefix('$').unwrap_or(name);
    if valid_var_name(name) {
        Ok(name)
    } else {
        Err(format!("invalid variable name `{name}` (letters, digits and `_` only)"))
    }
}

// ---------------------------------------------------------------------------------------------
// Address and port sets
// ---------------------------------------------------------------------------------------------

/// Which kind of value an expression denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    Addr,
    Port,
}

impl Domain {
    fn max(self) -> u32 {
        match self {
            Domain::Addr => u32::MAX,
            Domain::Port => u32::from(u16::MAX),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Domain::Addr => "address",
            Domain::Port => "port",
        }
    }
}

/// A set of addresses or ports: sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RangeSet(Vec<(u32, u32)>);

impl RangeSet {
    fn full(domain: Domain) -> RangeSet {
        RangeSet(vec![(0, domain.max())])
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn contains(&self, x: u32) -> bool {
        let i = self.0.partition_point(|&(lo, _)| lo <= x);
        i > 0 && self.0[i - 1].1 >= x
    }

    /// Whether every value in `lo..=hi` is in the set.
    fn covers(&self, lo: u32, hi: u32) -> bool {
        let i = self.0.partition_point(|&(a, _)| a <= lo);
        i > 0 && self.0[i - 1].1 >= hi
    }

    fn union(sets: impl IntoIterator<Item = RangeSet>) -> RangeSet {
        let mut all: Vec<(u32, u32)> = sets.into_iter().flat_map(|s| s.0).collect();
        all.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(all.len());
        for (lo, hi) in all {
            match out.last_mut() {
                Some(last) if u64::from(lo) <= u64::from(last.1) + 1 => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        RangeSet(out)
    }

    fn complement(&self, domain: Domain) -> RangeSet {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        let mut next: u64 = 0;
        for &(lo, hi) in &self.0 {
            if u64::from(lo) > next {
                out.push((next as u32, lo - 1));
            }
            next = u64::from(hi) + 1;
        }
        if next <= u64::from(domain.max()) {
            out.push((next as u32, domain.max()));
        }
        RangeSet(out)
    }

    fn minus(&self, other: RangeSet, domain: Domain) -> RangeSet {
        RangeSet::union([self.complement(domain), other]).complement(domain)
    }
}

/// A parsed address or port expression, before variables are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Any,
    Range(u32, u32),
    Var(String),
    Not(Box<Expr>),
    Group(Vec<Expr>),
}

const MAX_NESTING: usize = 32;

fn parse_expr(text: &str, domain: Domain) -> Result<Expr, String> {
    let mut p = ExprParser {
        text,
        pos: 0,
        domain,
        depth: 0,
    };
    let e = p.expr()?;
    p.skip_ws();
    if p.pos < text.len() {
        return Err(format!("unexpected `{}` in `{}`", &text[p.pos..], text.trim()));
    }
    Ok(e)
}

struct ExprParser<'a> {
    text: &'a str,
    pos: usize,
    domain: Domain,
    depth: usize,
}

impl ExprParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err("groups and negations nested too deeply".to_string());
        }
        self.skip_ws();
        let e = match self.peek() {
            None => Err(format!("missing {}", self.domain.noun())),
            Some(b'!') => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.expr()?)))
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    items.push(self.expr()?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            break;
                        }
                        None => return Err(format!("unclosed `[` in `{}`", self.text.trim())),
                        Some(_) => return Err(format!("expected `,` or `]` at `{}`", &self.text[self.pos..])),
                    }
                }
                Ok(Expr::Group(items))
            }
            Some(c @ (b',' | b']')) => Err(format!("missing {} before `{}`", self.domain.noun(), c as char)),
            Some(_) => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b',' | b'[' | b']' | b'!'))
                {
                    self.pos += 1;
                }
                parse_atom(&self.text[start..self.pos], self.domain)
            }
        };
        self.depth -= 1;
        e
    }
}

fn parse_atom(token: &str, domain: Domain) -> Result<Expr, String> {
    if token.eq_ignore_ascii_case("any") {
        return Ok(Expr::Any);
    }
    if let Some(name) = token.strip_prefix('$') {
        if !valid_var_name(name) {
            return Err(format!("invalid variable name `{token}`"));
        }
        return Ok(Expr::Var(name.to_string()));
    }
    match domain {
        Domain::Addr => parse_cidr(token),
        Domain::Port => parse_port_range(token),
    }
}

fn parse_cidr(token: &str) -> Result<Expr, String> {
    if token.contains(':') {
        return Err(format!(
            "IPv6 address `{token}` is not supported (the range's flows are IPv4)"
        ));
    }
    if token.contains('-') {
        return Err(format!(
            "address range `{token}` is not supported (use CIDR blocks a.b.c.d/n)"
        ));
    }
    let (ip, prefix) = match token.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (token, None),
    };
    let ip: Ipv4Addr = ip.parse().map_err(|_| format!("invalid IPv4 address `{token}`"))?;
    let prefix: u32 = match prefix {
        None => 32,
        Some(p) if p.contains('.') => {
            return Err(format!(
                "dotted netmask in `{token}` is not supported (use a prefix length /n)"
            ));
        }
        Some(p) => match p.parse::<u32>() {
            Ok(n) if n <= 32 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("invalid prefix length in `{token}` (0..=32)")),
        },
    };
    let mask: u32 = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    let net = u32::from(ip) & mask;
    Ok(Expr::Range(net, net | !mask))
}

fn parse_port(text: &str, token: &str) -> Result<u32, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port `{token}`"));
    }
    match text.parse::<u16>() {
        Ok(p) => Ok(u32::from(p)),
        Err(_) => Err(format!("port `{token}` out of range (0..=65535)")),
    }
}

fn parse_port_range(token: &str) -> Result<Expr, String> {
    match token.split_once(':') {
        None => {
            let p = parse_port(token, token)?;
            Ok(Expr::Range(p, p))
        }
        Some(("", "")) => Err("invalid port range `:`".to_string()),
        Some((lo, hi)) => {
            let lo = if lo.is_empty() { 0 } else { parse_port(lo, token)? };
            let hi = if hi.is_empty() {
                u32::from(u16::MAX)
            } else {
                parse_port(hi, token)?
            };
            if lo > hi {
                return Err(format!(
                    "invalid port range `{token}` (the first port is above the last)"
                ));
            }
            Ok(Expr::Range(lo, hi))
        }
    }
}

/// Resolves variables and evaluates expressions to sets.
struct Env<'a> {
    vars: &'a BTreeMap<String, String>,
    domain: Domain,
}

impl Env<'_> {
    /// Parses a variable's value, checking for cycles.
    fn var(&self, name: &str, stack: &[String]) -> Result<Expr, String> {
        let noun = self.domain.noun();
        let value = self
            .vars
            .get(name)
            .ok_or_else(|| format!("unknown {noun} variable ${name}"))?;
        if stack.iter().any(|n| n == name) {
            return Err(format!("{noun} variable ${name} refers to itself"));
        }
        parse_expr(value, self.domain).map_err(|e| format!("{e} (in ${name})"))
    }

    fn eval(&self, e: &Expr, stack: &mut Vec<String>) -> Result<RangeSet, String> {
        match e {
            Expr::Any => Ok(RangeSet::full(self.domain)),
            Expr::Range(lo, hi) => Ok(RangeSet(vec![(*lo, *hi)])),
            Expr::Var(name) => {
                let sub = self.var(name, stack)?;
                stack.push(name.clone());
                let r = self.eval(&sub, stack);
                stack.pop();
                r
            }
            Expr::Not(x) => Ok(self.eval(x, stack)?.complement(self.domain)),
            Expr::Group(items) => {
                let mut pos = Vec::new();
                let mut neg = Vec::new();
                for item in items {
                    let (negated, set) = self.member(item, stack)?;
                    if negated { neg.push(set) } else { pos.push(set) }
                }
                let pos = if pos.is_empty() {
                    RangeSet::full(self.domain)
                } else {
                    RangeSet::union(pos)
                };
                Ok(pos.minus(RangeSet::union(neg), self.domain))
            }
        }
    }

    /// A group member: whether it is negated, and the set it names (before negation).
    fn member(&self, e: &Expr, stack: &mut Vec<String>) -> Result<(bool, RangeSet), String> {
        match e {
            Expr::Var(name) => {
                let sub = self.var(name, stack)?;
                stack.push(name.clone());
                let r = self.member(&sub, stack);
                stack.pop();
                r
            }
            Expr::Not(x) => Ok((true, self.eval(x, stack)?)),
            _ => Ok((false, self.eval(e, stack)?)),
        }
    }
}

fn compile_set(text: &str, vars: &BTreeMap<String, String>, domain: Domain) -> Result<RangeSet, String> {
    let e = parse_expr(text, domain)?;
    let set = Env { vars, domain }.eval(&e, &mut Vec::new())?;
    if set.is_empty() {
        return Err(format!("`{text}` matches no {}", domain.noun()));
    }
    Ok(set)
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/// A rule file error: the line, the option keyword or header field at fault, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule line {line}: {message}")]
pub struct RuleError {
    /// The line (1-based, counting blank and comment lines).
    pub line: usize,
    /// The option keyword (`threshold`, `content`, `sid`, ...) or header field (`action`,
    /// `proto`, `src_addr`, `src_port`, `direction`, `dst_addr`, `dst_port`, `header`) at fault.
    pub keyword: Option<String>,
    /// What is wrong; it names the keyword or field.
    pub message: String,
}

impl RuleError {
    /// An error about `keyword`, with the message prefixed by it.
    fn at(line: usize, keyword: &str, message: impl fmt::Display) -> RuleError {
        RuleError {
            line,
            keyword: Some(keyword.to_string()),
            message: format!("{keyword}: {message}"),
        }
    }
}

/// How a [`Threshold`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdType {
    /// `threshold: type limit`: the first `count` matches of each window alert.
    Limit,
    /// `threshold: type threshold`: every `count`th match within a window alerts.
    Threshold,
    /// `threshold: type both`: the `count`th match of a window alerts, once.
    Both,
    /// `detection_filter`: every match after the first `count` of a window alerts.
    DetectionFilter,
}

/// What a [`Threshold`] counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Track {
    /// `by_src`: per source address.
    BySrc,
    /// `by_dst`: per destination address.
    ByDst,
    /// `by_rule`: one counter for the rule.
    ByRule,
    /// `by_both`: per (unordered) address pair.
    ByBoth,
}

/// A rule's `threshold` or `detection_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Threshold {
    /// The type (`detection_filter` is [`ThresholdType::DetectionFilter`]).
    pub kind: ThresholdType,
    /// What it counts by.
    pub track: Track,
    /// `count`: at least 1.
    pub count: u32,
    /// `seconds`: the window's length; a window opened at second `t` covers `t..=t + seconds`.
    pub seconds: u32,
}

/// The `flow` keyword's conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct FlowOpts {
    /// `Some(true)` for `to_server`/`from_client`, `Some(false)` for `to_client`/`from_server`.
    to_server: Option<bool>,
    /// `Some(true)` for `established`, `Some(false)` for `not_established`.
    established: Option<bool>,
}

/// One parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `sid`.
    pub sid: u32,
    /// `rev` (1 when absent).
    pub rev: u32,
    /// `msg` (empty when absent).
    pub msg: String,
    /// `classtype`, as written.
    pub classtype: Option<String>,
    /// `priority`.
    pub priority: Option<u8>,
    /// Every `metadata` value, as written.
    pub metadata: Vec<String>,
    /// Every `reference` value, as written.
    pub references: Vec<String>,
    /// `threshold` or `detection_filter`.
    pub threshold: Option<Threshold>,
    /// The rule's line in the rule text (1-based).
    pub line: usize,
    /// The rule as written (trimmed).
    pub text: String,
    proto: Option<Proto>,
    src: RangeSet,
    src_ports: RangeSet,
    dst: RangeSet,
    dst_ports: RangeSet,
    bidirectional: bool,
    /// The `flow` option; `None` when the rule has none (it then matches only the first packet
    /// of a flow in each direction, as Suricata matches such rules).
    flow: Option<FlowOpts>,
}

impl Rule {
    /// Whether the rule's header and `flow` options match `flow` (thresholds aside).
    pub fn matches(&self, flow: &Flow) -> bool {
        let (forward, reverse) = self.hits(flow);
        forward || reverse
    }

    /// Whether the rule could match `flow` whatever the client's port (the source port of a
    /// packet to the server): its header but for that port, and its `flow` options.
    fn matches_but_client_port(&self, flow: &Flow) -> bool {
        if self.proto.is_some_and(|p| p != flow.proto) {
            return false;
        }
        let forward = self.src.contains(u32::from(flow.src))
            && self.dst.contains(u32::from(flow.dst))
            && self.dst_ports.contains(u32::from(flow.dst_port));
        let reverse = self.bidirectional
            && self.src.contains(u32::from(flow.dst))
            && self.src_ports.contains(u32::from(flow.dst_port))
            && self.dst.contains(u32::from(flow.src));
        forward || reverse
    }

    /// Whether a `<>` rule is two signatures, as Suricata compiles it: one each way, unless
    /// both sides are the same.
    pub fn two_signatures(&self) -> bool {
        self.bidirectional && (self.src != self.dst || self.src_ports != self.dst_ports)
    }

    /// Which of the rule's signatures match `flow`: (as written, the reverse of a `<>` rule
    /// that is two signatures). A `<>` rule that is one signature matches either way as
    /// written.
    pub fn hits(&self, flow: &Flow) -> (bool, bool) {
        if self.proto.is_some_and(|p| p != flow.proto) {
            return (false, false);
        }
        let state = match self.flow {
            None => flow.first,
            Some(f) => {
                f.to_server.is_none_or(|d| d == flow.to_server) && f.established.is_none_or(|e| e == flow.established)
            }
        };
        if !state {
            return (false, false);
        }
        let way = |src: Ipv4Addr, sp: u16, dst: Ipv4Addr, dp: u16| {
            self.src.contains(u32::from(src))
                && self.src_ports.contains(u32::from(sp))
                && self.dst.contains(u32::from(dst))
                && self.dst_ports.contains(u32::from(dp))
        };
        let forward = way(flow.src, flow.src_port, flow.dst, flow.dst_port);
        let reverse = self.bidirectional && way(flow.dst, flow.dst_port, flow.src, flow.src_port);
        if self.two_signatures() {
            (forward, reverse)
        } else {
            (forward || reverse, false)
        }
    }
}

/// A parsed rule file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleSet {
    /// The rules, in file order.
    pub rules: Vec<Rule>,
}

impl RuleSet {
    /// One rule per line; blank lines and lines starting with `#` are skipped; a rule may not span
    /// lines. The first error found is returned; see the [module documentation](self) for the
    /// accepted syntax.
    pub fn parse(text: &str, vars: &Vars) -> Result<RuleSet, RuleError> {
        let mut rules: Vec<Rule> = Vec::new();
        let mut sids: BTreeMap<u32, usize> = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let rule = parse_rule(line, trimmed, vars)?;
            if let Some(first) = sids.insert(rule.sid, line) {
                return Err(RuleError::at(
                    line,
                    "sid",
                    format!("duplicate sid {} (already used on line {first})", rule.sid),
                ));
            }
            rules.push(rule);
        }
        Ok(RuleSet { rules })
    }
}

const HEADER_FORMAT: &str = "action proto src_addr src_port direction dst_addr dst_port (options)";

/// Splits the header at blanks outside `[...]`.
fn header_fields(header: &str) -> Result<Vec<&str>, String> {
    let mut fields = Vec::new();
    let mut depth: usize = 0;
    let mut start: Option<usize> = None;
    for (i, c) in header.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.checked_sub(1).ok_or_else(|| "unbalanced `]`".to_string())?,
            _ => {}
        }
        if c.is_whitespace() && depth == 0 {
            if let Some(s) = start.take() {
                fields.push(&header[s..i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if depth != 0 {
        return Err("unbalanced `[`".to_string());
    }
    if let Some(s) = start {
        fields.push(&header[s..]);
    }
    Ok(fields)
}

const APP_LAYER_PROTOS: &[&str] = &[
    "http",
    "http1",
    "http2",
    "ftp",
    "ftp-data",
    "smtp",
    "tls",
    "ssl",
    "ssh",
    "imap",
    "pop3",
    "dcerpc",
    "smb",
    "dns",
    "doh2",
    "modbus",
    "enip",
    "cip",
    "dnp3",
    "nfs",
    "ntp",
    "tftp",
    "ike",
    "ikev2",
    "krb5",
    "quic",
    "dhcp",
    "snmp",
    "sip",
    "rfb",
    "mqtt",
    "pgsql",
    "telnet",
    "rdp",
    "bittorrent-dht",
    "websocket",
    "ldap",
    "template",
    "dcerpc-udp",
    "http-any",
];

fn parse_action(line: usize, action: &str) -> Result<(), RuleError> {
    match action.to_ascii_lowercase().as_str() {
        "alert" => Ok(()),
        a @ ("drop" | "pass" | "reject" | "rejectsrc" | "rejectdst" | "rejectboth" | "config") => Err(RuleError::at(
            line,
            "action",
            format!(
                "`{a}` is not supported: only `alert` is supported in the range (the IDS observes, it never blocks)"
            ),
        )),
        _ => Err(RuleError::at(
            line,
            "action",
            format!("unknown action `{action}` (only `alert` is supported)"),
        )),
    }
}

fn parse_proto(line: usize, proto: &str) -> Result<Option<Proto>, RuleError> {
    let p = proto.to_ascii_lowercase();
    match p.as_str() {
        "tcp" => Ok(Some(Proto::Tcp)),
        "udp" => Ok(Some(Proto::Udp)),
        "ip" | "any" => Ok(None),
        "icmp" | "icmpv4" | "icmpv6" | "sctp" | "ipv4" | "ip4" | "ipv6" | "ip6" | "pkthdr" => Err(RuleError::at(
            line,
            "proto",
            format!("protocol `{proto}` is not simulated (flows are tcp or udp; use tcp, udp or ip)"),
        )),
        _ if APP_LAYER_PROTOS.contains(&p.as_str()) => Err(RuleError::at(
            line,
            "proto",
            format!(
                "application-layer protocol `{proto}` is not supported: the range's flows carry no payload, \
                 so match the transport and port instead (e.g. `tcp ... 1883` for MQTT)"
            ),
        )),
        _ => Err(RuleError::at(
            line,
            "proto",
            format!("unknown protocol `{proto}` (use tcp, udp or ip)"),
        )),
    }
}

fn parse_rule(line: usize, text: &str, vars: &Vars) -> Result<Rule, RuleError> {
    if text.ends_with('\\') {
        return Err(RuleError::at(
            line,
            "header",
            "a rule may not span lines (no trailing `\\` continuation)",
        ));
    }
    let Some(open) = text.find('(') else {
        return Err(RuleError::at(
            line,
            "header",
            format!("missing `(options)`: expected `{HEADER_FORMAT}`"),
        ));
    };
    let header = &text[..open];
    let Some(body) = text[open + 1..].strip_suffix(')') else {
        return Err(RuleError::at(
            line,
            "options",
            "the rule must end with `)` closing its options",
        ));
    };
    let fields = header_fields(header).map_err(|e| RuleError::at(line, "header", e))?;
    let [action, proto, src, src_port, direction, dst, dst_port] = fields[..] else {
        return Err(RuleError::at(
            line,
            "header",
            format!("expected `{HEADER_FORMAT}`, found {} header fields", fields.len()),
        ));
    };
    parse_action(line, action)?;
    let proto = parse_proto(line, proto)?;
    let addr = |field: &str, text: &str| {
        compile_set(text, &vars.addresses, Domain::Addr).map_err(|e| RuleError::at(line, field, e))
    };
    let port = |field: &str, text: &str| {
        compile_set(text, &vars.ports, Domain::Port).map_err(|e| RuleError::at(line, field, e))
    };
    let src = addr("src_addr", src)?;
    let src_ports = port("src_port", src_port)?;
    let bidirectional = match direction {
        "->" => false,
        "<>" => true,
        "<-" => {
            return Err(RuleError::at(
                line,
                "direction",
                "`<-` is not a valid direction (Suricata has no right-to-left rules): \
                 swap source and destination and use `->`",
            ));
        }
        other => {
            return Err(RuleError::at(
                line,
                "direction",
                format!("expected `->` or `<>`, found `{other}`"),
            ));
        }
    };
    let dst = addr("dst_addr", dst)?;
    let dst_ports = port("dst_port", dst_port)?;

    let mut b = OptionsBuilder::default();
    for (keyword, value) in split_options(body).map_err(|e| RuleError::at(line, "options", e))? {
        b.add(line, &keyword, value.as_deref())?;
    }
    let Some(sid) = b.sid else {
        return Err(RuleError::at(
            line,
            "sid",
            "missing `sid` (every rule needs a unique sid > 0)",
        ));
    };
    Ok(Rule {
        sid,
        rev: b.rev.unwrap_or(1),
        msg: b.msg.unwrap_or_default(),
        classtype: b.classtype,
        priority: b.priority,
        metadata: b.metadata,
        references: b.references,
        threshold: b.threshold,
        line,
        text: text.to_string(),
        proto,
        src,
        src_ports,
        dst,
        dst_ports,
        bidirectional,
        flow: b.flow,
    })
}

/// Splits the options body into `(keyword, raw value)`, each terminated by an unescaped `;`.
fn split_options(body: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let bytes = body.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return Ok(out);
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b':' && bytes[i] != b';' {
            i += 1;
        }
        let keyword = body[start..i].trim().to_ascii_lowercase();
        if keyword.is_empty() {
            return Err("empty option (a stray `;` or `:`)".to_string());
        }
        if i >= bytes.len() {
            return Err(format!("option `{keyword}` is not terminated by `;`"));
        }
        if bytes[i] == b';' {
            i += 1;
            out.push((keyword, None));
            continue;
        }
        i += 1; // ':'
        let vstart = i;
        while i < bytes.len() && bytes[i] != b';' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        if i >= bytes.len() {
            return Err(format!("option `{keyword}` is not terminated by `;`"));
        }
        let value = body[vstart..i].trim().to_string();
        i += 1;
        out.push((keyword, Some(value)));
    }
}

/// Removes the quotes around a value, if any, and resolves `\"`, `\;` and `\\`.
fn unquote(raw: &str) -> Result<String, String> {
    let (inner, quoted) = match raw.strip_prefix('"') {
        Some(rest) => (rest, true),
        None => (raw, false),
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    let mut closed = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('"' | ';' | '\\')) => out.push(e),
                Some(e) => return Err(format!("invalid escape `\\{e}` (only \\\", \\; and \\\\)")),
                None => return Err("dangling `\\` at the end of the value".to_string()),
            },
            '"' if quoted => {
                if !chars.as_str().trim().is_empty() {
                    return Err(format!(
                        "unexpected text after the closing quote: `{}`",
                        chars.as_str().trim()
                    ));
                }
                closed = true;
                break;
            }
            '"' => return Err("unescaped `\"` inside an unquoted value".to_string()),
            _ => out.push(c),
        }
    }
    if quoted && !closed {
        return Err("unterminated quoted string".to_string());
    }
    Ok(out)
}

#[derive(Default)]
struct OptionsBuilder {
    msg: Option<String>,
    sid: Option<u32>,
    rev: Option<u32>,
    classtype: Option<String>,
    priority: Option<u8>,
    metadata: Vec<String>,
    references: Vec<String>,
    flow: Option<FlowOpts>,
    threshold: Option<Threshold>,
}

fn once<T>(line: usize, keyword: &str, slot: &mut Option<T>, value: T) -> Result<(), RuleError> {
    if slot.is_some() {
        return Err(RuleError::at(line, keyword, format!("duplicate `{keyword}` keyword")));
    }
    *slot = Some(value);
    Ok(())
}

fn parse_u32(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl OptionsBuilder {
    fn add(&mut self, line: usize, keyword: &str, value: Option<&str>) -> Result<(), RuleError> {
        let known = matches!(
            keyword,
            "msg"
                | "sid"
                | "rev"
                | "classtype"
                | "priority"
                | "metadata"
                | "reference"
                | "flow"
                | "threshold"
                | "detection_filter"
        );
        if !known {
            return Err(RuleError {
                line,
                keyword: Some(keyword.to_string()),
                message: format!(
                    "unsupported keyword \"{keyword}\" (the range supports msg, sid, rev, classtype, priority, \
                     metadata, reference, flow, threshold and detection_filter; flows carry no payload)"
                ),
            });
        }
        let Some(raw) = value else {
            return Err(RuleError::at(
                line,
                keyword,
                format!("`{keyword}` needs a value (`{keyword}:...;`)"),
            ));
        };
        let text = unquote(raw).map_err(|e| RuleError::at(line, keyword, e))?;
        let text = text.trim();
        match keyword {
            "msg" => once(line, keyword, &mut self.msg, text.to_string()),
            "sid" => {
                let sid = parse_u32(text)
                    .filter(|&s| s > 0)
                    .ok_or_else(|| RuleError::at(line, keyword, format!("invalid sid `{text}` (1..=4294967295)")))?;
                once(line, keyword, &mut self.sid, sid)
            }
            "rev" => {
                let rev = parse_u32(text)
                    .ok_or_else(|| RuleError::at(line, keyword, format!("invalid rev `{text}` (0..=4294967295)")))?;
                once(line, keyword, &mut self.rev, rev)
            }
            "classtype" => {
                if text.is_empty()
                    || !text
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(RuleError::at(line, keyword, format!("invalid classtype `{text}`")));
                }
                once(line, keyword, &mut self.classtype, text.to_string())
            }
            "priority" => {
                let p = parse_u32(text)
                    .and_then(|p| u8::try_from(p).ok())
                    .filter(|&p| p >= 1)
                    .ok_or_else(|| RuleError::at(line, keyword, format!("invalid priority `{text}` (1..=255)")))?;
                once(line, keyword, &mut self.priority, p)
            }
            "metadata" => {
                self.metadata.push(text.to_string());
                Ok(())
            }
            "reference" => {
                self.references.push(text.to_string());
                Ok(())
            }
            "flow" => {
                let f = parse_flow(text).map_err(|e| RuleError::at(line, keyword, e))?;
                once(line, keyword, &mut self.flow, f)
            }
            _ => {
                // threshold or detection_filter
                let detection = keyword == "detection_filter";
                if let Some(previous) = self.threshold {
                    let message = match (previous.kind == ThresholdType::DetectionFilter, detection) {
                        (false, false) => "multiple `threshold` options are not allowed in the same rule",
                        (true, true) => "multiple `detection_filter` options are not allowed in the same rule",
                        _ => "`detection_filter` and `threshold` are not allowed in the same rule",
                    };
                    return Err(RuleError::at(line, keyword, message));
                }
                if raw.trim_start().starts_with('"') {
                    // Suricata 7 refuses a quoted threshold or detection_filter.
                    return Err(RuleError::at(
                        line,
                        keyword,
                        format!("`{keyword}` takes its value unquoted (`{keyword}:type limit, ...;`)"),
                    ));
                }
                let t = parse_threshold(text, detection).map_err(|e| RuleError::at(line, keyword, e))?;
                self.threshold = Some(t);
                Ok(())
            }
        }
    }
}

fn parse_flow(text: &str) -> Result<FlowOpts, String> {
    let mut f = FlowOpts::default();
    let mut stateless = false;
    let mut seen: Vec<String> = Vec::new();
    for opt in text.split(',') {
        let opt = opt.trim().to_ascii_lowercase();
        if opt.is_empty() {
            return Err(format!("empty option in `{text}`"));
        }
        if seen.contains(&opt) {
            return Err(format!("`{opt}` given twice"));
        }
        let conflict = |what: &str| Err(format!("`{opt}` conflicts with an earlier {what} option in `{text}`"));
        match opt.as_str() {
            "to_server" | "from_client" | "to_client" | "from_server" => {
                let to_server = matches!(opt.as_str(), "to_server" | "from_client");
                if f.to_server.is_some() {
                    return conflict("direction");
                }
                f.to_server = Some(to_server);
            }
            "established" | "not_established" | "stateless" => {
                if f.established.is_some() || stateless {
                    return conflict("state");
                }
                match opt.as_str() {
                    "established" => f.established = Some(true),
                    "not_established" => f.established = Some(false),
                    _ => stateless = true,
                }
            }
            _ => {
                return Err(format!(
                    "unsupported option `{opt}` (to_server, from_client, to_client, from_server, established, \
                     not_established or stateless)"
                ));
            }
        }
        seen.push(opt);
    }
    Ok(f)
}

fn parse_threshold(text: &str, detection: bool) -> Result<Threshold, String> {
    let mut kind: Option<ThresholdType> = if detection {
        Some(ThresholdType::DetectionFilter)
    } else {
        None
    };
    let mut track: Option<Track> = None;
    let mut count: Option<u32> = None;
    let mut seconds: Option<u32> = None;
    for part in text.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let [name, value] = words[..] else {
            return Err(format!("expected `name value`, found `{}`", part.trim()));
        };
        // Suricata 7 matches these words case-sensitively: `type LIMIT` does not load there.
        let (name, value_lc) = (name.to_owned(), value);
        let twice = || Err(format!("`{name}` given twice"));
        match name.as_str() {
            "type" if detection => return Err("detection_filter has no `type`".to_string()),
            "type" => {
                if kind.is_some() {
                    return twice();
                }
                kind = Some(match value_lc {
                    "limit" => ThresholdType::Limit,
                    "threshold" => ThresholdType::Threshold,
                    "both" => ThresholdType::Both,
                    _ => return Err(format!("unknown type `{value}` (limit, threshold or both)")),
                });
            }
            "track" => {
                if track.is_some() {
                    return twice();
                }
                track = Some(match value_lc {
                    "by_src" => Track::BySrc,
                    "by_dst" => Track::ByDst,
                    "by_rule" | "by_both" if detection => {
                        return Err(format!(
                            "detection_filter tracks by_src or by_dst only (as Suricata 7), not `{value}`"
                        ));
                    }
                    "by_rule" => Track::ByRule,
                    "by_both" => Track::ByBoth,
                    _ if detection => return Err(format!("unknown track `{value}` (by_src or by_dst)")),
                    _ => return Err(format!("unknown track `{value}` (by_src, by_dst, by_rule or by_both)")),
                });
            }
            "count" => {
                if count.is_some() {
                    return twice();
                }
                // Suricata takes `count 0` for a threshold, not for a detection_filter.
                let least = u32::from(detection);
                count = Some(
                    parse_u32(value)
                        .filter(|&c| c >= least)
                        .ok_or_else(|| format!("invalid count `{value}` ({least}..=4294967295)"))?,
                );
            }
            "seconds" => {
                if seconds.is_some() {
                    return twice();
                }
                let least = u32::from(detection);
                seconds = Some(
                    parse_u32(value)
                        .filter(|&s| s >= least)
                        .ok_or_else(|| format!("invalid seconds `{value}` ({least}..=4294967295)"))?,
                );
            }
            _ => return Err(format!("unknown part `{name}`")),
        }
    }
    let all = if detection {
        "track, count and seconds are all required"
    } else {
        "type, track, count and seconds are all required"
    };
    let missing = |what: &str| format!("missing `{what}` ({all})");
    Ok(Threshold {
        kind: kind.ok_or_else(|| missing("type"))?,
        track: track.ok_or_else(|| missing("track"))?,
        count: count.ok_or_else(|| missing("count"))?,
        seconds: seconds.ok_or_else(|| missing("seconds"))?,
    })
}

// ---------------------------------------------------------------------------------------------
// Threshold state (Suricata 7 semantics)
// ---------------------------------------------------------------------------------------------

/// Alerts one packet carries at most: Suricata 7's `packet-alert-max` default.
pub const PACKET_ALERT_MAX: usize = 15;

/// One tracking entry: Suricata's `DetectThresholdEntry` (`tv1`, `current_count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    tv1: u64,
    count: u64,
}

impl Threshold {
    /// The last microsecond inside the window of an entry opened at `tv1` (microseconds).
    fn window_end(&self, tv1: u64) -> u64 {
        tv1.saturating_add(u64::from(self.seconds) * 1_000_000)
    }

    /// Whether a packet at `t` is inside the window of an entry opened at `tv1`, both in
    /// microseconds (`SCTIME_CMP_LTE(p->ts, tv1 + seconds)`).
    fn in_window(&self, tv1: u64, t: u64) -> bool {
        t <= self.window_end(tv1)
    }

    /// One matching packet at `t`: Suricata 7's `ThresholdHandlePacket` (src/detect-engine-threshold.c,
    /// OISF/suricata 7.0.x), cases TYPE_LIMIT, TYPE_THRESHOLD, TYPE_BOTH and TYPE_DETECTION, with
    /// the entry creation of `AddEntryToHostStorage`/`AddEntryToIPPairStorage`/
    /// `ThresholdHandlePacketRule` (`tv1 = p->ts`, `current_count = 1`). Returns whether it alerts
    /// (Suricata's `ret == 1`; `ret == 2`, a silent match, does not alert).
    fn step(&self, slot: &mut Option<Entry>, t: u64) -> bool {
        let n = u64::from(self.count);
        if let Some(e) = slot.as_mut()
            && self.in_window(e.tv1, t)
        {
            e.count = e.count.saturating_add(1);
            return match self.kind {
                ThresholdType::Limit => e.count <= n,
                ThresholdType::Threshold => {
                    if e.count >= n {
                        e.count = 0;
                        true
                    } else {
                        false
                    }
                }
                ThresholdType::Both => e.count == n,
                ThresholdType::DetectionFilter => e.count > n,
            };
        }
        // No entry, or the window expired: Suricata resets (`tv1 = p->ts; current_count = 1`) or
        // allocates a new entry with the same values; the two branches decide alike.
        if self.kind == ThresholdType::Threshold && n == 1 && slot.is_none() {
            // TYPE_THRESHOLD with count 1 alerts without allocating an entry.
            return true;
        }
        *slot = Some(Entry { tv1: t, count: 1 });
        match self.kind {
            ThresholdType::Limit => true,
            ThresholdType::Threshold | ThresholdType::DetectionFilter => false,
            ThresholdType::Both => n == 1,
        }
    }

    /// `k` packets, `step` microseconds apart from `t` on, each matching `mult` signatures that
    /// share this entry: the same alerts and final state as `k * mult` calls of
    /// [`Threshold::step`], computed arithmetically within each window (so a flood's thousands
    /// of attempts cost one call per window). Returns the number of alerts.
    fn apply(&self, slot: &mut Option<Entry>, t: u64, step: u64, k: u64, mult: u64) -> u64 {
        let total = k * mult;
        let mut i = 0;
        let mut fired = 0;
        while i < total {
            fired += u64::from(self.step(slot, t + (i / mult) * step));
            i += 1;
            let Some(e) = slot.as_ref() else {
                // Only TYPE_THRESHOLD with count 1 keeps no entry: every match alerts.
                return fired + (total - i);
            };
            // The matches after it inside the window the entry has now.
            let end = self.window_end(e.tv1);
            let packets_inside = if step == 0 {
                k
            } else if end < t {
                0
            } else {
                ((end - t) / step + 1).min(k)
            };
            let m = (packets_inside * mult).saturating_sub(i);
            fired += self.inside(slot, m);
            i += m;
        }
        fired
    }

    /// `m` more matches inside the window of the entry in `slot`: their alerts, arithmetically.
    fn inside(&self, slot: &mut Option<Entry>, m: u64) -> u64 {
        let Some(e) = slot.as_mut() else {
            return 0;
        };
        if m == 0 {
            return 0;
        }
        let n = u64::from(self.count);
        let c0 = e.count;
        let fired = match self.kind {
            // Matches j = 1..=m alert while c0 + j <= n.
            ThresholdType::Limit => n.saturating_sub(c0).min(m),
            // Every time the counter reaches n it alerts and restarts from 0; c0 < n always.
            // With count 0 every match after the window's first alerts (the counter is always
            // at least 0) and restarts it.
            ThresholdType::Threshold if n == 0 => {
                e.count = 0;
                return m;
            }
            ThresholdType::Threshold => {
                debug_assert!(c0 < n, "threshold counter {c0} not below count {n}");
                let total = c0.saturating_add(m);
                e.count = total % n;
                return total / n;
            }
            // Exactly one match brings the counter to n, if any does.
            ThresholdType::Both => u64::from(c0 < n && n <= c0.saturating_add(m)),
            // Matches j = 1..=m alert once c0 + j > n.
            ThresholdType::DetectionFilter => m.saturating_sub(n.saturating_sub(c0)),
        };
        e.count = c0.saturating_add(m);
        fired
    }

    /// The tracking key of a flow for this threshold's `track`.
    fn key(&self, flow: &Flow) -> u64 {
        let (s, d) = (u32::from(flow.src), u32::from(flow.dst));
        match self.track {
            Track::BySrc => u64::from(s),
            Track::ByDst => u64::from(d),
            // Suricata's IP pair is unordered (ippair.c `IPPairCompare` compares both ways).
            Track::ByBoth => (u64::from(s.min(d)) << 32) | u64::from(s.max(d)),
            Track::ByRule => 0,
        }
    }
}

/// One rule's tracking entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Tracker {
    entries: BTreeMap<u64, Entry>,
    /// The first microsecond at which expired entries are dropped again.
    next_sweep: u64,
}

/// The IDS: a rule set and its threshold state.
#[derive(Debug, Clone)]
pub struct Ids {
    rules: Vec<Rule>,
    /// Per rule: its entries, and those of its reverse signature under `track by_rule`.
    trackers: Vec<[Tracker; 2]>,
    /// One observation's matching rules and their alerts, kept between observations so that
    /// a flood's million observations allocate nothing.
    hits: Vec<(usize, bool, bool)>,
    fired: Vec<u64>,
    /// Whether expired entries are dropped (always, except in tests comparing with a run that
    /// keeps them).
    sweep: bool,
    /// Per rule, whether its match depends on a client's ephemeral port, so that a run of
    /// connection attempts from successive ports it could match must be taken packet by packet.
    port_sensitive: Vec<bool>,
}

impl Ids {
    /// An IDS running `rules`, with no threshold state yet.
    pub fn new(rules: RuleSet) -> Ids {
        let trackers = vec![[Tracker::default(), Tracker::default()]; rules.rules.len()];
        let ephemeral = |ports: &RangeSet| ports.covers(u32::from(EPHEMERAL), 65535);
        let port_sensitive = rules
            .rules
            .iter()
            .map(|r| !ephemeral(&r.src_ports) || (r.bidirectional && !ephemeral(&r.dst_ports)))
            .collect();
        Ids {
            rules: rules.rules,
            trackers,
            hits: Vec::new(),
            fired: Vec::new(),
            sweep: true,
            port_sensitive,
        }
    }

    /// The rules, in rule-file order ([`IdsAlert::rule`] indexes them).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How many threshold tracking entries are held (over all rules).
    pub fn tracking_entries(&self) -> usize {
        self.trackers.iter().flatten().map(|t| t.entries.len()).sum()
    }

    /// Forgets all threshold state, as if no flow had been observed.
    pub fn reset(&mut self) {
        for t in self.trackers.iter_mut().flatten() {
            *t = Tracker::default();
        }
    }

    /// Matches the flow against every rule, applies each rule's threshold/detection_filter, and
    /// pushes one [`IdsAlert`] per rule that produced at least one alert, in rule order.
    ///
    /// A `<>` rule that is two signatures ([`Rule::two_signatures`]) alerts once per signature
    /// that matches; its two signatures share their threshold entries (Suricata keys them by
    /// sid and address), except under `track by_rule`, where each has its own. A packet carries
    /// at most [`PACKET_ALERT_MAX`] alerts: when more signatures match one observation, its
    /// packets are taken one by one and each keeps the first [`PACKET_ALERT_MAX`] that alert, by
    /// priority (3 when not given), then rule order; the others still count in their
    /// thresholds, as in Suricata, where thresholds are applied before the alert queue is cut.
    pub fn observe(&mut self, flow: &Flow, out: &mut Vec<IdsAlert>) {
        // An alert names its second: an observation running into the next second is taken in
        // parts, one per second.
        let mut rest = *flow;
        while rest.count > 0 {
            let step = u64::from(rest.step_us);
            let k = u64::from(rest.count);
            let second = rest.time_us / 1_000_000;
            let part = if step > 0 && (rest.time_us + (k - 1) * step) / 1_000_000 != second {
                ((second + 1) * 1_000_000 - rest.time_us).div_ceil(step)
            } else {
                k
            };
            let this = Flow {
                count: part as u32,
                ..rest
            };
            self.observe_within_second(&this, out);
            rest = Flow {
                time_us: rest.time_us + part * step,
                src_port: rest.port(part),
                count: rest.count - part as u32,
                ..rest
            };
        }
    }

    /// [`Ids::observe`] of packets all within one second.
    fn observe_within_second(&mut self, flow: &Flow, out: &mut Vec<IdsAlert>) {
        let step = u64::from(flow.step_us);
        let k = u64::from(flow.count);
        let second = flow.time_us / 1_000_000;
        // A run of attempts from successive ports is taken packet by packet when a rule that
        // looks at the client's port could match it.
        if flow.next_port
            && k > 1
            && self
                .rules
                .iter()
                .zip(&self.port_sensitive)
                .any(|(r, &sensitive)| sensitive && r.matches_but_client_port(flow))
        {
            for j in 0..k {
                self.observe_within_second(&flow.packet(j), out);
            }
            return;
        }
        let mut hits = std::mem::take(&mut self.hits);
        hits.clear();
        hits.extend(self.rules.iter().enumerate().filter_map(|(index, rule)| {
            let (forward, reverse) = rule.hits(flow);
            (forward || reverse).then_some((index, forward, reverse))
        }));
        let signatures: usize = hits.iter().map(|&(_, f, r)| usize::from(f) + usize::from(r)).sum();
        let mut fired = std::mem::take(&mut self.fired);
        fired.clear();
        fired.resize(hits.len(), 0);
        if signatures <= PACKET_ALERT_MAX {
            for (j, &(index, forward, reverse)) in hits.iter().enumerate() {
                fired[j] = self.fire(index, forward, reverse, flow, flow.time_us, k);
            }
        } else {
            let mut order: Vec<usize> = (0..hits.len()).collect();
            order.sort_by_key(|&j| (self.rules[hits[j].0].priority.unwrap_or(3), hits[j].0));
            for p in 0..k {
                let mut room = PACKET_ALERT_MAX as u64;
                for &j in &order {
                    let (index, forward, reverse) = hits[j];
                    let n = self.fire(index, forward, reverse, flow, flow.time_us + p * step, 1);
                    let kept = n.min(room);
                    fired[j] += kept;
                    room -= kept;
                }
            }
        }
        for (&(index, ..), &n) in hits.iter().zip(&fired) {
            if n > 0 {
                out.push(IdsAlert {
                    time_s: second,
                    rule: index,
                    sid: self.rules[index].sid,
                    src: flow.src,
                    dst: flow.dst,
                    src_port: flow.src_port,
                    dst_port: flow.dst_port,
                    fired: u32::try_from(n).unwrap_or(u32::MAX),
                });
            }
        }
        self.hits = hits;
        self.fired = fired;
    }

    /// `k` packets of `flow`, from time `t` on (microseconds), through rule `index`'s matching
    /// signatures and its threshold; the alerts they raise.
    fn fire(&mut self, index: usize, forward: bool, reverse: bool, flow: &Flow, t: u64, k: u64) -> u64 {
        let rule = &self.rules[index];
        let ways = u64::from(forward) + u64::from(reverse);
        let Some(th) = rule.threshold else {
            return k * ways;
        };
        let step = u64::from(flow.step_us);
        let key = th.key(flow);
        let sweep = self.sweep;
        let [own, reversed] = &mut self.trackers[index];
        if th.track == Track::ByRule && rule.two_signatures() {
            let mut n = 0;
            if forward {
                n += own.apply(&th, key, t, step, k, 1, sweep);
            }
            if reverse {
                n += reversed.apply(&th, key, t, step, k, 1, sweep);
            }
            n
        } else {
            own.apply(&th, key, t, step, k, ways, sweep)
        }
    }
}

impl Tracker {
    /// `k` packets, `step` microseconds apart from `t` on, each matching `mult` signatures, on
    /// the entry of `key`, after dropping expired entries when a sweep is due; the alerts they
    /// raise.
    #[expect(
        clippy::too_many_arguments,
        reason = "one packet run's whole description, used in one place"
    )]
    fn apply(&mut self, th: &Threshold, key: u64, t: u64, step: u64, k: u64, mult: u64, sweep: bool) -> u64 {
        if sweep && t >= self.next_sweep {
            // Suricata's ThresholdTimeoutCheck: an entry is kept while `ts <= tv1 + seconds`;
            // dropping one restarts it exactly as a reset would.
            self.entries.retain(|_, e| th.in_window(e.tv1, t));
            self.next_sweep = th.window_end(t).saturating_add(1);
        }
        let mut slot = self.entries.get(&key).copied();
        let fired = th.apply(&mut slot, t, step, k, mult);
        match slot {
            Some(e) => {
                self.entries.insert(key, e);
            }
            None => {
                self.entries.remove(&key);
            }
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addresses::{HES_FRONT_END, MQTT, collector, outside};

    const MQTT_RULE: &str = r#"alert tcp any any -> $HES_NET 1883 (msg:"MQTT excessive connection attempts"; flow:to_server; threshold:type threshold, track by_src, count 10, seconds 60; sid:1000002; rev:1;)"#;

    fn ids(text: &str) -> Ids {
        Ids::new(RuleSet::parse(text, &Vars::ami()).expect("rules parse"))
    }

    fn parse_err(text: &str) -> RuleError {
        RuleSet::parse(text, &Vars::ami()).expect_err("the rule set must be refused")
    }

    /// `count` connection attempts at second `time_s`, all at that instant.
    fn flow(time_s: u64, src: Ipv4Addr, dst: Ipv4Addr, dst_port: u16, count: u32) -> Flow {
        Flow {
            time_us: time_s * 1_000_000,
            step_us: 0,
            proto: Proto::Tcp,
            src,
            src_port: 40000,
            dst,
            dst_port,
            next_port: false,
            to_server: true,
            established: false,
            first: true,
            count,
        }
    }

    /// Total alerts from one observation.
    fn fire(ids: &mut Ids, f: Flow) -> u32 {
        let mut out = Vec::new();
        ids.observe(&f, &mut out);
        out.iter().map(|a| a.fired).sum()
    }

    #[test]
    fn mqtt_example_rule() {
        let rules = RuleSet::parse(MQTT_RULE, &Vars::ami()).expect("parses");
        let r = &rules.rules[0];
        assert_eq!(
            (r.sid, r.rev, r.msg.as_str()),
            (1000002, 1, "MQTT excessive connection attempts")
        );
        assert_eq!(
            r.threshold,
            Some(Threshold {
                kind: ThresholdType::Threshold,
                track: Track::BySrc,
                count: 10,
                seconds: 60
            })
        );
        let attacker = outside(3);

        // 10 connections within 60 s fire once; 9 do not.
        let mut i = Ids::new(rules.clone());
        let fired: Vec<u32> = (0..10)
            .map(|k| fire(&mut i, flow(k * 6, attacker, HES_FRONT_END, MQTT, 1)))
            .collect();
        assert_eq!(fired, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let mut i = Ids::new(rules.clone());
        let total: u32 = (0..9)
            .map(|k| fire(&mut i, flow(k * 6, attacker, HES_FRONT_END, MQTT, 1)))
            .sum();
        assert_eq!(total, 0);

        // 20 fire twice, whether one at a time or in one observation.
        let mut i = Ids::new(rules.clone());
        let total: u32 = (0..20)
            .map(|k| fire(&mut i, flow(k * 3, attacker, HES_FRONT_END, MQTT, 1)))
            .sum();
        assert_eq!(total, 2);
        let mut i = Ids::new(rules.clone());
        let mut out = Vec::new();
        i.observe(&flow(7, attacker, HES_FRONT_END, MQTT, 20), &mut out);
        assert_eq!(
            out,
            [IdsAlert {
                time_s: 7,
                rule: 0,
                sid: 1000002,
                src: attacker,
                dst: HES_FRONT_END,
                src_port: 40000,
                dst_port: MQTT,
                fired: 2
            }]
        );

        // Two sources with 9 each do not fire (by_src).
        let mut i = Ids::new(rules.clone());
        let total: u32 = (0..9)
            .map(|k| {
                fire(&mut i, flow(k, outside(1), HES_FRONT_END, MQTT, 1))
                    + fire(&mut i, flow(k, outside(2), HES_FRONT_END, MQTT, 1))
            })
            .sum();
        assert_eq!(total, 0);

        // Port 443 never matches; nor does a collector at its normal pace.
        let mut i = Ids::new(rules.clone());
        assert_eq!(fire(&mut i, flow(0, attacker, HES_FRONT_END, 443, 1000)), 0);
        let total: u32 = (0..200)
            .map(|k| fire(&mut i, flow(k * 900, collector(5), HES_FRONT_END, MQTT, 1)))
            .sum();
        assert_eq!(total, 0);
        // Outside the HES network: no match.
        assert_eq!(
            fire(&mut i, flow(0, attacker, Ipv4Addr::new(10, 11, 0, 10), MQTT, 1000)),
            0
        );

        // The window is inclusive (Suricata compares `ts <= tv1 + seconds`): 9 at second 0 and
        // one at second 60 fire; one at second 61 restarts the window instead.
        let mut i = Ids::new(rules.clone());
        assert_eq!(fire(&mut i, flow(0, attacker, HES_FRONT_END, MQTT, 9)), 0);
        assert_eq!(fire(&mut i, flow(60, attacker, HES_FRONT_END, MQTT, 1)), 1);
        let mut i = Ids::new(rules);
        assert_eq!(fire(&mut i, flow(0, attacker, HES_FRONT_END, MQTT, 9)), 0);
        assert_eq!(fire(&mut i, flow(61, attacker, HES_FRONT_END, MQTT, 1)), 0);
        assert_eq!(fire(&mut i, flow(62, attacker, HES_FRONT_END, MQTT, 8)), 0);
        assert_eq!(fire(&mut i, flow(63, attacker, HES_FRONT_END, MQTT, 1)), 1);
    }

    /// Runs `(time, count)` observations from one source through `rule` and returns the fired
    /// counts.
    fn run(rule: &str, seq: &[(u64, u32)]) -> Vec<u32> {
        let mut i = ids(rule);
        seq.iter()
            .map(|&(t, k)| fire(&mut i, flow(t, outside(0), HES_FRONT_END, 80, k)))
            .collect()
    }

    fn th_rule(options: &str) -> String {
        format!("alert tcp any any -> any any ({options}; sid:7;)")
    }

    #[test]
    fn limit_sequence() {
        let rule = th_rule("threshold: type limit, track by_src, count 3, seconds 10");
        // t0 new entry: alert (c=1); t1 c=2 alert; t2 c=3 alert; t3 c=4 silent; t10 c=5 silent
        // (10 <= 0+10); t11 expired: reset, alert (c=1, tv1=11); t12 x5: c=2,3 alert, c=4..6 not.
        let seq = [(0, 1), (1, 1), (2, 1), (3, 1), (10, 1), (11, 1), (12, 5)];
        assert_eq!(run(&rule, &seq), [1, 1, 1, 0, 0, 1, 2]);
        // count 1: once per window.
        let rule = th_rule("threshold: type limit, track by_src, count 1, seconds 0");
        assert_eq!(run(&rule, &[(0, 4), (1, 4), (1, 1), (2, 1)]), [1, 1, 0, 1]);
    }

    #[test]
    fn threshold_sequence() {
        let rule = th_rule("threshold: type threshold, track by_src, count 3, seconds 10");
        // t0 new c=1; t1 c=2; t2 c=3 alert, c=0; t3 c=1; t4 c=2; t5 c=3 alert, c=0; t10 c=1 (the
        // window is not restarted by an alert, 10 <= 0+10); t11 expired: c=1, tv1=11; t12 c=2;
        // t21 c=3 alert (21 <= 11+10); t22 x7: expired, c=1, then c=2,3 alert,1,2,3 alert,1.
        let seq = [
            (0, 1),
            (1, 1),
            (2, 1),
            (3, 1),
            (4, 1),
            (5, 1),
            (10, 1),
            (11, 1),
            (12, 1),
            (21, 1),
            (22, 7),
        ];
        assert_eq!(run(&rule, &seq), [0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 2]);
        // count 1: every match alerts, and no entry is kept.
        let rule = th_rule("threshold: type threshold, track by_src, count 1, seconds 10");
        let mut i = ids(&rule);
        assert_eq!(fire(&mut i, flow(0, outside(0), HES_FRONT_END, 80, 5)), 5);
        assert_eq!(i.tracking_entries(), 0);
    }

    #[test]
    fn both_sequence() {
        let rule = th_rule("threshold: type both, track by_src, count 3, seconds 10");
        // t0 new c=1; t1 c=2; t2 c=3 alert; t3 c=4 silent; t10 c=5 silent; t11 expired c=1;
        // t12 x4: c=2, 3 alert, 4, 5.
        let seq = [(0, 1), (1, 1), (2, 1), (3, 1), (10, 1), (11, 1), (12, 4)];
        assert_eq!(run(&rule, &seq), [0, 0, 1, 0, 0, 0, 1]);
        // count 1: the first match of each window.
        let rule = th_rule("threshold: type both, track by_src, count 1, seconds 5");
        assert_eq!(run(&rule, &[(0, 3), (5, 1), (6, 2), (20, 1)]), [1, 0, 1, 1]);
    }

    #[test]
    fn detection_filter_sequence() {
        let rule = th_rule("detection_filter: track by_src, count 2, seconds 10");
        // t0 new c=1; t1 c=2 (not > 2); t2 c=3 alert; t3 c=4 alert; t10 c=5 alert; t11 expired
        // c=1; t12 x3: c=2 no, 3 and 4 alert.
        let seq = [(0, 1), (1, 1), (2, 1), (3, 1), (10, 1), (11, 1), (12, 3)];
        assert_eq!(run(&rule, &seq), [0, 0, 1, 1, 1, 0, 2]);
        // count 1: never the first of a window.
        let rule = th_rule("detection_filter: track by_src, count 1, seconds 1");
        assert_eq!(run(&rule, &[(0, 1), (0, 1), (2, 3)]), [0, 1, 2]);
    }

    #[test]
    fn no_threshold_alerts_on_every_match() {
        assert_eq!(run(&th_rule("msg:\"any\""), &[(0, 1), (0, 1000), (5, 3)]), [1, 1000, 3]);
    }

    #[test]
    fn tracking_keys() {
        let a = Ipv4Addr::new(203, 0, 113, 1);
        let b = Ipv4Addr::new(10, 10, 0, 10);
        let c = Ipv4Addr::new(10, 10, 0, 11);
        let rule = |track: &str| {
            ids(&format!(
                "alert tcp any any <> any any (threshold: type threshold, track {track}, count 2, seconds 60; sid:9;)"
            ))
        };
        // by_dst: two sources to one destination share an entry.
        let mut i = rule("by_dst");
        assert_eq!(fire(&mut i, flow(0, a, b, 1, 1)) + fire(&mut i, flow(1, c, b, 1, 1)), 1);
        // by_src: they do not.
        let mut i = rule("by_src");
        assert_eq!(fire(&mut i, flow(0, a, b, 1, 1)) + fire(&mut i, flow(1, c, b, 1, 1)), 0);
        // by_both: the pair is unordered, a→b and b→a share an entry; a→c does not.
        let mut i = rule("by_both");
        assert_eq!(fire(&mut i, flow(0, a, b, 1, 1)) + fire(&mut i, flow(1, a, c, 1, 1)), 0);
        assert_eq!(fire(&mut i, flow(2, b, a, 1, 1)), 1);
        // by_rule: everything shares one entry.
        let mut i = rule("by_rule");
        assert_eq!(fire(&mut i, flow(0, a, b, 1, 1)) + fire(&mut i, flow(1, c, a, 7, 1)), 1);
        assert_eq!(i.tracking_entries(), 1);
    }

    /// A `<>` rule is two signatures, as Suricata compiles it (the minimal cases Suricata 7.0.10
    /// was checked on): a flow both signatures match alerts twice; under `track by_rule` each
    /// signature counts alone; other tracks share their entries; a rule whose two sides are the
    /// same is one signature.
    #[test]
    fn a_bidirectional_rule_is_two_signatures() {
        let (a, b, c) = (
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 3),
        );
        let mut i =
            ids("alert tcp [10.0.0.1,10.0.0.2] any <> [10.0.0.1,10.0.0.2,10.0.0.3] any (flow:to_server; sid:1;)");
        assert_eq!(fire(&mut i, flow(0, a, b, 80, 1)), 2, "both signatures match a→b");
        assert_eq!(
            fire(&mut i, flow(0, a, c, 80, 1)),
            1,
            "only the one as written matches a→c"
        );
        assert_eq!(fire(&mut i, flow(0, c, a, 80, 1)), 1, "only the reverse matches c→a");
        let mut i = ids(
            "alert tcp 10.0.0.1 any <> 10.0.0.3 any (threshold:type limit, track by_rule, count 1, seconds 60; sid:1;)",
        );
        assert_eq!(
            fire(&mut i, flow(0, a, c, 80, 1)) + fire(&mut i, flow(1, c, a, 80, 1)),
            2
        );
        let mut i = ids(
            "alert tcp 10.0.0.1 any <> 10.0.0.3 any (threshold:type threshold, track by_both, count 2, seconds 60; sid:1;)",
        );
        assert_eq!(fire(&mut i, flow(0, a, c, 80, 1)), 0);
        assert_eq!(fire(&mut i, flow(1, c, a, 80, 1)), 1, "the pair's one entry reached 2");
        let mut i = ids("alert tcp [10.0.0.1,10.0.0.2] any <> [10.0.0.2,10.0.0.1] any (sid:1;)");
        assert!(!i.rules()[0].two_signatures());
        assert_eq!(fire(&mut i, flow(0, a, b, 80, 1)), 1, "the same sides: one signature");
    }

    /// A packet carries at most 15 alerts: with 20 rules matching, 15 alert per packet, by
    /// priority and then rule order, while every rule's threshold still counts the packet.
    #[test]
    fn a_packet_carries_at_most_fifteen_alerts() {
        let mut text: Vec<String> = (1..=19)
            .map(|sid| format!("alert tcp any any -> any any (sid:{sid};)"))
            .collect();
        text.push("alert tcp any any -> any any (priority:1; sid:20;)".to_owned());
        let mut i = ids(&text.join("\n"));
        let mut out = Vec::new();
        i.observe(&flow(0, outside(0), HES_FRONT_END, 80, 2), &mut out);
        assert_eq!(out.iter().map(|a| a.fired).sum::<u32>(), 2 * PACKET_ALERT_MAX as u32);
        let sids: Vec<u32> = out.iter().map(|a| a.sid).collect();
        assert_eq!(sids, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 20]);
        // A threshold left out of a packet's alerts still counted it.
        let mut text: Vec<String> = (1..=15)
            .map(|sid| format!("alert tcp any any -> any any (priority:1; sid:{sid};)"))
            .collect();
        text.push(
            "alert tcp any any -> any any (threshold: type both, track by_src, count 2, seconds 60; sid:16;)"
                .to_owned(),
        );
        let mut i = ids(&text.join("\n"));
        let mut out = Vec::new();
        i.observe(&flow(0, outside(0), HES_FRONT_END, 80, 1), &mut out);
        i.observe(&flow(1, outside(0), HES_FRONT_END, 80, 1), &mut out);
        assert!(out.iter().all(|a| a.sid != 16), "its second match fell on full packets");
        assert_eq!(i.tracking_entries(), 1);
    }

    #[test]
    fn large_counts_are_arithmetic() {
        let mut i = ids(&th_rule(
            "threshold: type threshold, track by_src, count 10, seconds 60",
        ));
        assert_eq!(
            fire(&mut i, flow(0, outside(0), HES_FRONT_END, 1883, 1_000_003)),
            100_000
        );
        assert_eq!(fire(&mut i, flow(1, outside(0), HES_FRONT_END, 1883, 7)), 1);
        let mut i = ids(&th_rule("detection_filter: track by_src, count 100, seconds 1"));
        assert_eq!(
            fire(&mut i, flow(0, outside(0), HES_FRONT_END, 1883, u32::MAX)),
            u32::MAX - 100
        );
    }

    #[test]
    fn state_stays_bounded() {
        let mut i = ids(&th_rule("threshold: type threshold, track by_src, count 5, seconds 10"));
        for t in 0..10_000u64 {
            // A new source every second, never seen again.
            fire(&mut i, flow(t, outside(t as u32), HES_FRONT_END, 1883, 2));
        }
        assert!(i.tracking_entries() <= 2 * 11 + 1, "{} entries", i.tracking_entries());
    }

    /// A tiny deterministic generator (xorshift64*).
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn count_k_equals_k_singles() {
        let types = [
            "threshold: type limit",
            "threshold: type threshold",
            "threshold: type both",
            "detection_filter:",
        ];
        let tracks = ["by_src", "by_dst", "by_rule", "by_both"];
        let hosts = [
            Ipv4Addr::new(203, 0, 113, 1),
            Ipv4Addr::new(203, 0, 113, 2),
            Ipv4Addr::new(10, 10, 0, 10),
        ];
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for ty in types {
            let detection = ty.starts_with("detection");
            for track in tracks {
                if detection && (track == "by_rule" || track == "by_both") {
                    continue;
                }
                for _ in 0..12 {
                    // Thresholds take count 0; a detection_filter needs a count and a window.
                    let count = rng.below(5) + u64::from(detection);
                    let seconds = rng.below(6) + u64::from(detection);
                    let sep = if ty.ends_with(':') { " " } else { ", " };
                    let rule = th_rule(&format!("{ty}{sep}track {track}, count {count}, seconds {seconds}"));
                    let mut aggregated = ids(&rule);
                    let mut expanded = ids(&rule);
                    let mut unswept = ids(&rule);
                    unswept.sweep = false;
                    let mut agg_unswept = ids(&rule);
                    agg_unswept.sweep = false;
                    let mut t = 0;
                    for _ in 0..150 {
                        let k = if rng.below(10) == 0 {
                            1 + rng.below(60)
                        } else {
                            1 + rng.below(6)
                        } as u32;
                        // Runs at one instant, or spread over up to three seconds (the IDS
                        // splits them at each second), some exactly on window edges.
                        let step_us = match rng.below(4) {
                            0 => 0,
                            1 => 1_000_000,
                            2 => 250_000,
                            _ => 1 + rng.below(90_000),
                        } as u32;
                        let f = Flow {
                            time_us: t,
                            step_us,
                            proto: if rng.below(2) == 0 { Proto::Tcp } else { Proto::Udp },
                            src: hosts[rng.below(3) as usize],
                            src_port: 1000,
                            dst: hosts[rng.below(3) as usize],
                            dst_port: 80,
                            next_port: true,
                            to_server: true,
                            established: false,
                            first: true,
                            count: k,
                        };
                        let agg = fire(&mut aggregated, f);
                        let exp: u32 = (0..u64::from(k)).map(|j| fire(&mut expanded, f.packet(j))).sum();
                        let uns: u32 = (0..u64::from(k)).map(|j| fire(&mut unswept, f.packet(j))).sum();
                        t = f.packet(u64::from(k) - 1).time_us + [0, 1, 1_000_000, 250_000][rng.below(4) as usize];
                        let agg_uns = fire(&mut agg_unswept, f);
                        assert_eq!(agg, exp, "{rule}: {f:?}");
                        assert_eq!(agg, uns, "{rule}: {f:?} (against a run that keeps expired entries)");
                        assert_eq!(agg, agg_uns, "{rule}: {f:?}");
                        // Kept entries are the same whether packets came one by one or in runs
                        // (sweeps happen at different packets, so only unswept states compare).
                        assert_eq!(agg_unswept.trackers, unswept.trackers, "{rule}: {f:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn parse_errors_name_line_and_keyword() {
        let cases: [(&str, &str, &str); 12] = [
            (
                "alert tcp any any -> any any (content:\"GET\"; sid:1;)",
                "content",
                "unsupported keyword \"content\"",
            ),
            ("alert tcp any any -> $NOPE_NET any (sid:1;)", "dst_addr", "$NOPE_NET"),
            (
                "alert tcp any $NOPE_PORTS -> any any (sid:1;)",
                "src_port",
                "$NOPE_PORTS",
            ),
            (
                "drop tcp any any -> any any (sid:1;)",
                "action",
                "only `alert` is supported in the range",
            ),
            (
                "alert mqtt any any -> any any (sid:1;)",
                "proto",
                "flows carry no payload",
            ),
            (
                "alert tcp any any -> any any (threshold: type limit, track by_src, count 3; sid:1;)",
                "threshold",
                "missing `seconds`",
            ),
            (
                "alert tcp any any -> any any (threshold: type limit, track by_src, count 3, seconds 1; detection_filter: track by_src, count 1, seconds 1; sid:1;)",
                "detection_filter",
                "not allowed in the same rule",
            ),
            (
                "alert tcp any any -> any any (threshold: type limit, track by_src, count 3, seconds 1; threshold: type both, track by_src, count 3, seconds 1; sid:1;)",
                "threshold",
                "multiple `threshold`",
            ),
            ("alert tcp any any <- any any (sid:1;)", "direction", "`<-`"),
            ("alert tcp 2001:db8::1 any -> any any (sid:1;)", "src_addr", "IPv6"),
            ("alert tcp any any -> any any (msg:\"no sid\";)", "sid", "missing `sid`"),
            ("alert tcp any any -> any 70000 (sid:1;)", "dst_port", "out of range"),
        ];
        for (rule, keyword, needle) in cases {
            let text = format!("# comment\n\n{rule}\n");
            let e = parse_err(&text);
            assert_eq!(e.line, 3, "{rule}");
            assert_eq!(e.keyword.as_deref(), Some(keyword), "{rule}: {e}");
            assert!(e.message.contains(needle), "{rule}: {e}");
            assert!(e.message.contains(keyword), "{rule}: {e}");
            assert!(e.to_string().starts_with("rule line 3: "), "{e}");
        }

        let e = parse_err("alert tcp any any -> any any (sid:5;)\n#\nalert udp any any -> any any (sid:5;)");
        assert_eq!((e.line, e.keyword.as_deref()), (3, Some("sid")));
        assert!(
            e.message.contains("duplicate sid 5") && e.message.contains("line 1"),
            "{e}"
        );
        assert_eq!(
            parse_err("alert tcp any any -> any any (content:\"x\"; sid:1;)").to_string(),
            "rule line 1: unsupported keyword \"content\" (the range supports msg, sid, rev, classtype, priority, \
             metadata, reference, flow, threshold and detection_filter; flows carry no payload)"
        );

        // Other refusals.
        for bad in [
            "alert tcp any any -> any any (sid:0;)",
            "alert tcp any any -> any any (sid:1; sid:2;)",
            "alert tcp any any -> any any (sid:1)",
            "alert tcp any any -> any any (msg:\"a;b\"; sid:1;)",
            "alert tcp any any -> any any (sid:1;) trailing",
            "alert tcp any any -> any any (priority:0; sid:1;)",
            "alert tcp any any -> any any (flow:to_server,to_client; sid:1;)",
            "alert tcp any any -> any any (flow:established,stateless; sid:1;)",
            "alert tcp any any -> any any (flow:only_stream; sid:1;)",
            "alert tcp any any -> any any (detection_filter: track by_src, count 0, seconds 1; sid:1;)",
            // What Suricata 7.0.10 refuses too: detection_filter by rule or by pair, or over no
            // time; upper-case words; a quoted value.
            "alert tcp any any -> any any (detection_filter: track by_rule, count 1, seconds 1; sid:1;)",
            "alert tcp any any -> any any (detection_filter: track by_both, count 1, seconds 1; sid:1;)",
            "alert tcp any any -> any any (detection_filter: track by_src, count 1, seconds 0; sid:1;)",
            "alert tcp any any -> any any (threshold: type LIMIT, track by_src, count 1, seconds 1; sid:1;)",
            "alert tcp any any -> any any (threshold: type limit, track BY_SRC, count 1, seconds 1; sid:1;)",
            "alert tcp any any -> any any (threshold: TYPE limit, track by_src, count 1, seconds 1; sid:1;)",
            "alert tcp any any -> any any (threshold:\"type limit, track by_src, count 1, seconds 1\"; sid:1;)",
            "alert tcp any any -> any any (threshold: type limit, track by_src, count 1, count 2, seconds 1; sid:1;)",
            "alert tcp any any -> any any (threshold: type limit, track by_flow, count 1, seconds 1; sid:1;)",
            "alert tcp any any -> any any (detection_filter: type limit, track by_src, count 1, seconds 1; sid:1;)",
            "alert tcp !any any -> any any (sid:1;)",
            "alert tcp [10.0.0.0/8, !10.0.0.0/8] any -> any any (sid:1;)",
            "alert tcp 10.0.0.0/33 any -> any any (sid:1;)",
            "alert tcp 10.0.0.1-10.0.0.9 any -> any any (sid:1;)",
            "alert tcp any 2000:1000 -> any any (sid:1;)",
            "alert tcp [10.0.0.0/8 any -> any any (sid:1;)",
            "alert tcp any any -> any (sid:1;)",
            "alert tcp any any -> any any (sid:1;) \\",
            "alert icmp any any -> any any (sid:1;)",
            "pass tcp any any -> any any (sid:1;)",
            "alert tcp any any -> any any (msg:\"x\\q\"; sid:1;)",
        ] {
            let e = parse_err(bad);
            assert!(e.keyword.is_some(), "{bad}: {e}");
            assert_eq!(e.line, 1, "{bad}");
        }
    }

    #[test]
    fn options_and_escapes() {
        let text = r#"alert udp $FIELD_NET any -> $COLLECTOR_NET $DLMS_PORTS (msg:"say \"hi\"\; ok"; classtype:attempted-dos; priority:2; metadata: created_at 2026_01_01; reference:url,example.invalid; reference:cve,2026-1; sid:42;)"#;
        let rules = RuleSet::parse(text, &Vars::ami()).expect("parses");
        let r = &rules.rules[0];
        assert_eq!(r.msg, "say \"hi\"; ok");
        assert_eq!(r.rev, 1);
        assert_eq!(r.classtype.as_deref(), Some("attempted-dos"));
        assert_eq!(r.priority, Some(2));
        assert_eq!(r.metadata, ["created_at 2026_01_01"]);
        assert_eq!(r.references.len(), 2);
        assert_eq!(r.threshold, None);
        let f = Flow {
            time_us: 0,
            step_us: 0,
            proto: Proto::Udp,
            src: crate::addresses::meter(9),
            src_port: 5000,
            dst: collector(1),
            dst_port: 4059,
            next_port: false,
            to_server: true,
            established: true,
            first: true,
            count: 1,
        };
        assert!(r.matches(&f));
        assert!(!r.matches(&Flow { proto: Proto::Tcp, ..f }));
        assert!(!r.matches(&Flow { dst_port: 4060, ..f }));
    }

    #[test]
    fn negation_groups_and_ports() {
        let a = |s: &str| s.parse::<Ipv4Addr>().expect("address");
        let rules = RuleSet::parse(
            "alert tcp !$HOME_NET any -> any any (sid:1;)\n\
             alert tcp [10.0.0.0/8, !10.1.0.0/16] any -> any any (sid:2;)\n\
             alert tcp [!10.1.0.0/16, ![192.168.0.0/16, 172.16.0.0/12]] any -> any any (sid:3;)\n\
             alert tcp $EXTERNAL_NET any -> any [80, 443, 1000:2000] (sid:4;)\n\
             alert tcp any [1024:, !4059] -> any :1023 (sid:5;)\n\
             alert tcp any any -> any ![$HTTP_PORTS, 1883] (sid:6;)\n\
             alert tcp [$HOME_NET, !$CORP_NET] any -> any any (sid:7;)\n\
             alert tcp 10.1.2.3/16 any -> any any (sid:8;)",
            &Vars::ami(),
        )
        .expect("parses");
        let m = |i: usize, src: &str, sp: u16, dp: u16| {
            rules.rules[i].matches(&Flow {
                time_us: 0,
                step_us: 0,
                proto: Proto::Tcp,
                src: a(src),
                src_port: sp,
                dst: a("10.10.0.10"),
                dst_port: dp,
                next_port: false,
                to_server: true,
                established: false,
                first: true,
                count: 1,
            })
        };
        assert!(m(0, "203.0.113.5", 1, 1) && !m(0, "10.9.9.9", 1, 1));
        assert!(m(1, "10.2.0.1", 1, 1) && !m(1, "10.1.0.1", 1, 1) && !m(1, "11.0.0.1", 1, 1));
        assert!(m(2, "8.8.8.8", 1, 1) && !m(2, "10.1.5.5", 1, 1) && !m(2, "172.20.0.1", 1, 1));
        assert!(!m(2, "192.168.1.1", 1, 1) && m(2, "10.2.0.1", 1, 1));
        assert!(m(3, "203.0.113.5", 1, 80) && m(3, "203.0.113.5", 1, 1500) && m(3, "203.0.113.5", 1, 2000));
        assert!(!m(3, "203.0.113.5", 1, 999) && !m(3, "10.0.0.1", 1, 443));
        assert!(m(4, "1.1.1.1", 1024, 0) && m(4, "1.1.1.1", 65535, 1023) && !m(4, "1.1.1.1", 4059, 22));
        assert!(!m(4, "1.1.1.1", 1023, 22) && !m(4, "1.1.1.1", 5000, 1024));
        assert!(m(5, "1.1.1.1", 1, 80) && !m(5, "1.1.1.1", 1, 443) && !m(5, "1.1.1.1", 1, 1883));
        assert!(m(6, "10.10.0.1", 1, 1) && !m(6, "10.1.0.1", 1, 1) && !m(6, "11.0.0.1", 1, 1));
        assert!(m(7, "10.1.200.200", 1, 1) && !m(7, "10.2.0.0", 1, 1));

        // A variable whose value is a negation is a negated member inside a group.
        let set = compile_set("[$EXTERNAL_NET, 10.1.0.0/16]", &Vars::ami().addresses, Domain::Addr);
        assert!(set.is_err(), "10.1/16 minus $HOME_NET is empty: {set:?}");
    }

    /// A run of attempts from successive ports against a rule on a range of client ports:
    /// exactly the packets whose port is in the range alert, and a rule that cannot match the
    /// run does not make the IDS take it packet by packet.
    #[test]
    fn a_run_meets_a_rule_on_client_ports() {
        let mut i = ids("alert tcp any [49152:49160] -> any 1883 (flow:to_server; sid:1;)\n\
             alert tcp any 80 -> any 22 (flow:to_server; sid:2;)");
        let run = Flow {
            step_us: 1_000,
            src_port: 65530,
            next_port: true,
            ..flow(3, outside(1), HES_FRONT_END, MQTT, 20)
        };
        // Ports 65530..=65535, then 49152 onward: 49152..=49160 are 9 of them.
        assert_eq!(fire(&mut i, run), 9);
        assert!(!i.rules[1].matches_but_client_port(&run));
        assert!(i.rules[0].matches_but_client_port(&run));
    }

    #[test]
    fn flow_options_and_direction() {
        let rules = RuleSet::parse(
            "alert tcp 203.0.113.0/24 any -> 10.10.0.10 1883 (flow:to_server,established; sid:1;)\n\
             alert tcp 203.0.113.0/24 any -> 10.10.0.10 1883 (flow:to_client; sid:2;)\n\
             alert tcp 203.0.113.0/24 any -> 10.10.0.10 1883 (flow:from_client,not_established; sid:3;)\n\
             alert ip 10.10.0.10 1883 <> 203.0.113.0/24 any (flow:stateless; sid:4;)\n\
             alert tcp 10.10.0.10 1883 -> 203.0.113.0/24 any (sid:5;)",
            &Vars::ami(),
        )
        .expect("parses");
        let f = flow(0, Ipv4Addr::new(203, 0, 113, 9), HES_FRONT_END, MQTT, 1);
        let matched = |f: &Flow| {
            rules
                .rules
                .iter()
                .filter(|r| r.matches(f))
                .map(|r| r.sid)
                .collect::<Vec<_>>()
        };
        assert_eq!(matched(&f), [3, 4]);
        assert_eq!(
            matched(&Flow {
                established: true,
                first: false,
                ..f
            }),
            [1, 4]
        );
        assert_eq!(matched(&Flow { proto: Proto::Udp, ..f }), [4]);
        // The server's answer: sid 5 has no `flow`, so it matches the first answer only.
        let answer = Flow {
            src: HES_FRONT_END,
            src_port: MQTT,
            dst: f.src,
            dst_port: f.src_port,
            to_server: false,
            ..f
        };
        assert_eq!(matched(&answer), [4, 5]);
        assert_eq!(matched(&Flow { first: false, ..answer }), [4]);
        // A rule with `flow:to_client` written from the server's side matches answers.
        let rules = RuleSet::parse(
            "alert tcp $HES_NET 1883 -> any any (flow:to_client,established; sid:6;)",
            &Vars::ami(),
        )
        .expect("parses");
        assert!(!rules.rules[0].matches(&answer));
        assert!(rules.rules[0].matches(&Flow {
            established: true,
            ..answer
        }));
        assert!(!rules.rules[0].matches(&Flow {
            established: true,
            first: false,
            ..f
        }));
    }

    #[test]
    fn vars_set() {
        let mut v = Vars::ami();
        v.set("HES_NET", "10.10.0.10").expect("override");
        v.set("$SSH_PORTS", "[22, 2222]").expect("new port var");
        v.set("LAB_NET", "[192.168.0.0/16, !192.168.1.0/24]")
            .expect("new address var");
        assert_eq!(v.port("SSH_PORTS"), Some("[22, 2222]"));
        assert_eq!(v.address("$HES_NET"), Some("10.10.0.10"));
        assert!(v.set("BAD NAME", "any").is_err());
        assert!(v.set("X_NET", "[1.2.3.4").is_err());
        assert!(v.set("X_PORTS", "99999").is_err());
        let rules = RuleSet::parse(
            "alert tcp $LAB_NET any -> $HES_NET $SSH_PORTS (sid:1;)\nalert tcp any any -> any $HES_NET (sid:2;)",
            &v,
        );
        let e = rules.expect_err("$HES_NET is not a port variable");
        assert_eq!((e.line, e.keyword.as_deref()), (2, Some("dst_port")));
        assert!(e.message.contains("unknown port variable $HES_NET"), "{e}");
        let rules = RuleSet::parse("alert tcp $LAB_NET any -> $HES_NET $SSH_PORTS (sid:1;)", &v).expect("parses");
        let f = |src: [u8; 4], dst: [u8; 4], port: u16| Flow {
            time_us: 0,
            step_us: 0,
            proto: Proto::Tcp,
            src: Ipv4Addr::from(src),
            src_port: 1,
            dst: Ipv4Addr::from(dst),
            dst_port: port,
            next_port: false,
            to_server: true,
            established: true,
            first: true,
            count: 1,
        };
        let r = &rules.rules[0];
        assert!(r.matches(&f([192, 168, 2, 1], [10, 10, 0, 10], 2222)));
        assert!(!r.matches(&f([192, 168, 1, 1], [10, 10, 0, 10], 22)));
        assert!(!r.matches(&f([192, 168, 2, 1], [10, 10, 0, 11], 22)));

        // Cycles are refused.
        let mut v = Vars::default();
        v.set("A_NET", "[$B_NET, 1.2.3.4]").expect("syntax ok");
        v.set("B_NET", "!$A_NET").expect("syntax ok");
        let e = RuleSet::parse("alert tcp $A_NET any -> any any (sid:1;)", &v).expect_err("cycle");
        assert!(e.message.contains("refers to itself"), "{e}");
    }
}
