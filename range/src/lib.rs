//! # amirange-range: the live cyber range
//!
//! Red, blue and white teams play an exercise over the network while the engine runs paced by
//! the wall clock. The network never reaches the model: every player action becomes a
//! timestamped engine input, and the exercise's journal replays without it.
//!
//! Built so far: [`protocol`], the wire format (length-prefixed, versioned JSON frames) and its
//! decoder; [`messages`], the messages of version 1 and which role may ask for which action;
//! [`auth`], team tokens (generated, compared in constant time, never printed); [`exercise`],
//! exercise files (scenario, teams, roles, tokens, pace, address) checked with the file, line
//! and field of every fault; [`session`], the exercise session (the engine paced by the wall
//! clock, requests as timestamped engine inputs, the journal and its replay); [`live`], the
//! exercise's own thread; [`server`], the QUIC server (TLS 1.3, a pinned self-signed or the
//! operator's certificate, one `hello` per stream, rate and size limits); [`client`], a client
//! that pins the server's certificate; [`dashboard`], the loopback HTTP page showing a team its
//! view; [`dlms_port`], a red team's TCP port to the meters' DLMS face. The wire protocol is
//! documented for clients in other languages in `range/PROTOCOL.md`.

pub mod auth;
pub mod client;
pub mod dashboard;
pub mod dlms_port;
pub mod exercise;
pub mod live;
pub mod messages;
pub mod protocol;
pub mod server;
pub mod session;
mod tunables_generated;
