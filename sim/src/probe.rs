//! Where a run's wall time goes. The engine and the drive loop name the phase they enter; a
//! [`PhaseProbe`] set on the engine (the CLI's `bench` sets one holding a clock) measures. The
//! engine never reads a clock itself, and a probe sees nothing of the world, so results are
//! the same with or without one.

/// A phase of stepping a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Calendar events between interval closes: the control plane's commands and messages,
    /// grid switching, outages, route repairs, the frequency model; and, at each close,
    /// protection, the network sensor's floods and the day's communication faults.
    Events,
    /// The per-interval pass over every meter: consumption, read attempts, the MDM, the
    /// interval's row and the missing-read detector.
    DataPlane,
    /// The interval observers (the readings export, the worst moment for the map).
    Observers,
    /// The attacks' turns.
    Attacks,
    /// The defender's looks: detectors and responses.
    Defender,
}

impl Phase {
    /// Every phase, in the order `amirange bench` prints them.
    pub const ALL: [Phase; 5] = [
        Phase::DataPlane,
        Phase::Events,
        Phase::Observers,
        Phase::Attacks,
        Phase::Defender,
    ];

    /// What `amirange bench` calls the phase.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Events => "control plane and grid events",
            Phase::DataPlane => "data plane (all intervals)",
            Phase::Observers => "interval observers",
            Phase::Attacks => "attacks",
            Phase::Defender => "detectors and responses",
        }
    }
}

/// Told of every phase the run enters; the time until the next call belongs to `phase`.
pub trait PhaseProbe: Send + Sync {
    /// The run enters `phase` now.
    fn enter(&mut self, phase: Phase);
}
