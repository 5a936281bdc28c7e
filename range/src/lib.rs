//! # amirange-range: the live cyber range
//!
//! Red, blue and white teams play an exercise over the network while the engine runs paced by
//! the wall clock. The network never reaches the model: every player action becomes a
//! timestamped engine input, and the exercise's journal replays without it.
//!
//! Built so far: [`protocol`], the wire format (length-prefixed, versioned JSON frames) and its
//! decoder. The exercise sessions, the QUIC server and clients, the dashboard and replay are
//! not built yet (issue 9).

pub mod protocol;
