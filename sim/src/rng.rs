//! Counter-based random streams keyed by (purpose, entity, slot).
//!
//! Every random number in a run comes from a [`Stream`] opened from the scenario seed and a key:
//! what the number is for ([`Purpose`]), which entity draws it (a meter or collector index), and
//! a time slot (an interval index, or 0 for draws made once). The stream's numbers are a pure
//! function of `(seed, purpose, entity, slot, position)`: there is no shared generator state, so
//!
//! - adding a new consumer of randomness (an attacker, a detector) never shifts the numbers that
//!   any other consumer draws;
//! - iterating over meters in parallel, in any order and on any number of threads, draws exactly
//!   the numbers a serial loop draws.
//!
//! The mixing function is SplitMix64's finaliser applied to a keyed counter, which passes
//! BigCrush as a counter-mode generator and costs a few nanoseconds per draw.

use rand::{Rng, TryRng};
use std::convert::Infallible;

/// What a random number is used for. Each purpose is an independent family of streams.
///
/// The numeric values are part of the reproducibility contract: changing one changes every
/// result that depends on it, so new purposes get new numbers and old ones are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum Purpose {
    /// Customer class of a premise (topology generation).
    TopologyClass = 1,
    /// Link kind of a meter (topology generation).
    TopologyLink = 2,
    /// Annual consumption and routine shift of a premise, drawn once.
    PremiseProfile = 10,
    /// Per-interval consumption noise of a meter.
    ConsumptionNoise = 11,
    /// Whether a collector reads a meter in a read cycle, and how long it takes.
    MeterRead = 20,
    /// Whether a collector's backhaul to the HES is up in a read cycle.
    Backhaul = 21,
    /// Reserved for tests that check stream independence.
    Test = 0xFFFF,
}

/// A random stream: a keyed counter-based generator. Cheap to open (a few multiplies), so open
/// one per (purpose, entity, slot) rather than keeping generators around.
#[derive(Clone, Debug)]
pub struct Stream {
    key: u64,
    counter: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Stream {
    /// Opens the stream for `(purpose, entity, slot)` under `seed`.
    #[inline]
    pub fn new(seed: u64, purpose: Purpose, entity: u64, slot: u64) -> Stream {
        let mut key = mix64(seed ^ GOLDEN);
        key = mix64(key ^ (purpose as u64).wrapping_mul(GOLDEN));
        key = mix64(key ^ entity.wrapping_mul(0xD1B5_4A32_D192_ED03));
        key = mix64(key ^ slot.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7));
        Stream { key, counter: 0 }
    }

    /// A uniform float in `[0, 1)` with 53 bits of precision.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p`.
    #[inline]
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// A uniform integer in `0..n` (`n > 0`), by Lemire's multiply-shift (bias below 2^-32 for
    /// the ranges used here).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

impl TryRng for Stream {
    type Error = Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.next_u64() >> 32) as u32)
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.counter = self.counter.wrapping_add(1);
        Ok(mix64(self.key.wrapping_add(self.counter.wrapping_mul(GOLDEN))))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn streams_are_pure_functions_of_their_key() {
        let a: Vec<u64> = (0..8)
            .map(|_| 0)
            .scan(Stream::new(7, Purpose::MeterRead, 3, 9), |s, _: u64| Some(s.next_u64()))
            .collect();
        let b: Vec<u64> = (0..8)
            .map(|_| 0)
            .scan(Stream::new(7, Purpose::MeterRead, 3, 9), |s, _: u64| Some(s.next_u64()))
            .collect();
        assert_eq!(a, b);
        let mut other_slot = Stream::new(7, Purpose::MeterRead, 3, 10);
        assert_ne!(a[0], other_slot.next_u64());
        let mut other_seed = Stream::new(8, Purpose::MeterRead, 3, 9);
        assert_ne!(a[0], other_seed.next_u64());
    }

    /// Adding a consumer of random numbers (here: a test purpose drawing heavily for the same
    /// entities and slots, interleaved) does not change what another stream draws.
    #[test]
    fn adding_a_consumer_does_not_shift_other_streams() {
        let draw_reads = |with_extra_consumer: bool| -> Vec<u64> {
            let mut out = Vec::new();
            for meter in 0..100u64 {
                for slot in 0..4u64 {
                    if with_extra_consumer {
                        let mut extra = Stream::new(1, Purpose::Test, meter, slot);
                        for _ in 0..17 {
                            extra.next_u64();
                        }
                    }
                    let mut read = Stream::new(1, Purpose::MeterRead, meter, slot);
                    out.push(read.next_u64());
                    out.push(read.next_u64());
                }
            }
            out
        };
        assert_eq!(draw_reads(false), draw_reads(true));
    }

    #[test]
    fn uniform_and_normal_draws_have_the_right_moments() {
        let n = 200_000u64;
        let (mut sum, mut sum_sq, mut normal_sum, mut normal_sq) = (0.0, 0.0, 0.0, 0.0);
        for i in 0..n {
            let mut s = Stream::new(42, Purpose::Test, i, 0);
            let u = s.uniform();
            assert!((0.0..1.0).contains(&u));
            sum += u;
            sum_sq += u * u;
            let z: f64 = StandardNormal.sample(&mut s);
            normal_sum += z;
            normal_sq += z * z;
        }
        let nf = n as f64;
        assert!((sum / nf - 0.5).abs() < 0.005);
        assert!((sum_sq / nf - 1.0 / 3.0).abs() < 0.005);
        assert!((normal_sum / nf).abs() < 0.01);
        assert!((normal_sq / nf - 1.0).abs() < 0.02);
        let mut s = Stream::new(1, Purpose::Test, 0, 0);
        assert!((0..10_000).all(|_| s.below(7) < 7));
    }
}
