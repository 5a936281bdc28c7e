//! # amirange-range: the live cyber range
//!
//! Red, blue and white teams play an exercise over the network while the engine runs paced by
//! the wall clock. The network never reaches the model: every player action becomes a
//! timestamped engine input, and the exercise's journal replays without it.
//!
//! Built so far, without the network: [`protocol`], the wire format (length-prefixed,
//! versioned JSON frames) and its decoder; [`messages`], the messages of version 1 and which
//! role may ask for which action; [`auth`], team tokens (generated, compared in constant time,
//! never printed); [`exercise`], exercise files (scenario, teams, roles, tokens, pace, address)
//! checked with the file, line and field of every fault. The exercise sessions, the QUIC server and clients, the dashboard, the
//! scoreboard and replay are not built yet (issue 9).

pub mod auth;
pub mod exercise;
pub mod messages;
pub mod protocol;
