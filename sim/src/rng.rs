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

use rand::TryRng;
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
    // 2 is retired (it was a per-meter link-kind draw); numbers are never reused.
    /// Placement of settlements, transformers and premises (topology generation).
    Placement = 3,
    /// Shadow fading of a radio link, keyed by the link's node pair.
    Shadowing = 4,
    /// Link technology, fallback modem and facility kind of a premise (topology generation).
    LinkAssignment = 5,
    /// Which thinned sample levels of the radio neighbour search a node belongs to, keyed by
    /// node (topology generation).
    MeshSample = 7,
    /// Noise level of a transformer's PLC channel (topology generation).
    PlcNoise = 6,
    /// Annual consumption and routine shift of a premise, drawn once.
    PremiseProfile = 10,
    /// Per-interval consumption noise of a meter.
    ConsumptionNoise = 11,
    /// Whether a collector reads a meter in a read cycle, and how long it takes.
    MeterRead = 20,
    /// Whether a collector's backhaul to the HES is up in a read cycle, and its latency.
    Backhaul = 21,
    /// The fate and timing of one message sent to a meter, keyed by the meter and how many
    /// messages it was sent before.
    Message = 22,
    /// The tariff a meter starts on, drawn once.
    Tariff = 12,
    /// The day-to-day deviation of the daily mean temperature from its normal, keyed by day.
    Weather = 14,
    /// Which devices (PV, EV charger, heat pump) a premise owns and their sizes, drawn once.
    PremiseDevices = 15,
    /// Whether and when a premise's EV is charged on a day, keyed by meter and day.
    EvCharging = 16,
    /// Whether a meter still accepts the legacy security level, drawn once.
    SecurityLevel = 13,
    /// Communication faults outside the radio physics: which meters are chronic
    /// non-communicators and their phases (keyed by link kind and rank).
    CommsFaults = 24,
    /// Whether a meter's last-gasp message gets out, and how long it takes, keyed by meter and
    /// outage.
    LastGasp = 23,
    /// Operator and service account passwords, keyed by account.
    Credentials = 30,
    /// Legitimate operations (non-payment, moves, campaigns, failures, storms), keyed by kind
    /// and day.
    Operations = 40,
    /// Attack steps (kill-chain draws, worm contacts, target samples), keyed by attack and step.
    Attack = 50,
    /// The simulated DLMS keys of a key group (or of a meter with its own key), keyed by group
    /// and key version.
    DlmsKeys = 60,
    /// The challenges a DLMS meter side sends, keyed by connection and association.
    DlmsChallenge = 61,
    /// The field-network latency of a DLMS exchange with a meter, keyed by meter and exchange.
    DlmsLatency = 62,
    /// Whether a DLMS exchange's request and answer get through a meter's path, keyed by meter
    /// and exchange.
    DlmsLoss = 63,
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

/// The streams of one (seed, purpose): opening a stream from a family skips the two mixing
/// rounds they share, which matters in loops over millions of meters.
#[derive(Clone, Copy, Debug)]
pub struct StreamFamily {
    base: u64,
}

impl StreamFamily {
    /// The family of `purpose` under `seed`.
    #[inline]
    pub fn new(seed: u64, purpose: Purpose) -> StreamFamily {
        let key = mix64(seed ^ GOLDEN);
        StreamFamily {
            base: mix64(key ^ (purpose as u64).wrapping_mul(GOLDEN)),
        }
    }

    /// The stream of `(entity, slot)`; identical to [`Stream::new`] with the same key.
    #[inline]
    pub fn stream(self, entity: u64, slot: u64) -> Stream {
        let mut key = mix64(self.base ^ entity.wrapping_mul(0xD1B5_4A32_D192_ED03));
        key = mix64(key ^ slot.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7));
        Stream { key, counter: 0 }
    }
}

impl Stream {
    /// Opens the stream for `(purpose, entity, slot)` under `seed`.
    #[inline]
    pub fn new(seed: u64, purpose: Purpose, entity: u64, slot: u64) -> Stream {
        StreamFamily::new(seed, purpose).stream(entity, slot)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        mix64(self.key.wrapping_add(self.counter.wrapping_mul(GOLDEN)))
    }

    /// Skips `n` draws: the stream as it is after `n` draws, without making them (for a step
    /// that continues a stream whose first draws were made elsewhere).
    #[inline]
    pub fn skip(&mut self, n: u64) {
        self.counter = self.counter.wrapping_add(n);
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
        Ok((Stream::next_u64(self) >> 32) as u32)
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(Stream::next_u64(self))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = Stream::next_u64(self).to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

/// Bins of a [`QuantileTable`].
const TABLE_BINS: usize = 4096;

/// A distribution tabulated by quantile bins, sampled with one 64-bit draw and a lookup: the
/// hot loops use it instead of a normal draw and an `exp` per meter and interval.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantileTable {
    values: Vec<f32>,
}

impl QuantileTable {
    /// A mean-one log-normal factor `exp(sigma z - sigma^2 / 2)`, capped at `cap`. Each bin
    /// holds the distribution's conditional mean over that bin, and the table is rescaled so that
    /// its mean is exactly one, so the noise never shifts the expected energy.
    pub fn lognormal_mean_one(sigma: f64, cap: f64) -> QuantileTable {
        let b = TABLE_BINS as f64;
        let mut values: Vec<f64> = (0..TABLE_BINS)
            .map(|i| {
                if sigma == 0.0 {
                    return 1.0;
                }
                let za = if i == 0 {
                    f64::NEG_INFINITY
                } else {
                    inverse_normal_cdf(i as f64 / b)
                };
                let zb = if i + 1 == TABLE_BINS {
                    f64::INFINITY
                } else {
                    inverse_normal_cdf((i + 1) as f64 / b)
                };
                (b * (normal_cdf(zb - sigma) - normal_cdf(za - sigma))).min(cap)
            })
            .collect();
        let mean = values.iter().sum::<f64>() / b;
        for v in &mut values {
            *v /= mean;
        }
        QuantileTable {
            values: values.into_iter().map(|v| v as f32).collect(),
        }
    }

    /// A log-normal `median * exp(sigma z)`, one value per bin at the bin's middle quantile.
    pub fn lognormal(median: f64, sigma: f64) -> QuantileTable {
        let b = TABLE_BINS as f64;
        QuantileTable {
            values: (0..TABLE_BINS)
                .map(|i| (median * (sigma * inverse_normal_cdf((i as f64 + 0.5) / b)).exp()) as f32)
                .collect(),
        }
    }

    /// The standard normal distribution, one value per bin at the bin's middle quantile.
    pub fn standard_normal() -> QuantileTable {
        let b = TABLE_BINS as f64;
        QuantileTable {
            values: (0..TABLE_BINS)
                .map(|i| inverse_normal_cdf((i as f64 + 0.5) / b) as f32)
                .collect(),
        }
    }

    /// The value for a uniform 64-bit draw.
    #[inline]
    pub fn sample(&self, draw: u64) -> f32 {
        self.values[(draw >> 52) as usize]
    }

    /// The table's mean.
    pub fn mean(&self) -> f64 {
        self.values.iter().map(|&v| f64::from(v)).sum::<f64>() / self.values.len() as f64
    }
}

/// The standard normal CDF, by the complementary error function (W. J. Cody's rational
/// approximation as given in Numerical Recipes' `erfc`, relative error below 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    if z == f64::INFINITY {
        return 1.0;
    }
    if z == f64::NEG_INFINITY {
        return 0.0;
    }
    let x = -z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let erfc = if x >= 0.0 { erfc } else { 2.0 - erfc };
    0.5 * erfc
}

/// The standard normal quantile function (Acklam's algorithm, relative error below 1.2e-9).
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// `e^x` in `f32` by ordinary multiplications and additions only: Cody–Waite reduction to
/// `x = k ln 2 + r` with `|r| <= ln 2 / 2`, the Taylor polynomial of `e^r` to degree 6
/// (truncation error below 1.2e-7 relative), and `2^k` put into the exponent bits. Relative
/// error within 3e-7 (two units in the last place) for `x` in `[-87, 88]`; inputs outside are
/// clamped there.
///
/// Two reasons to have it rather than `f32::exp`: the libm's exponential is chosen at run time
/// by the processor's features (with or without fused multiply-add), which may round the last
/// bit differently on another machine, where these operations give the same bits on every
/// IEEE-754 machine; and a loop over a slice of these vectorises, where a loop of library calls
/// does not.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that k * LN2_HI is exact for |k| < 2^8.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5 x 2^23 rounds to the nearest integer (ties to even).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let k = (x * LOG2_E + ROUND) - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let p =
        1.0 + r * (1.0 + r * (1.0 / 2.0 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    f32::from_bits((p.to_bits() as i32).wrapping_add((k as i32) << 23) as u32)
}

/// `log10(x)` in `f32` by ordinary arithmetic only, for positive normal `x`: `x = 2^e m` with
/// `m` in `[sqrt(1/2), sqrt(2))`, `ln m = 2 atanh(s)` with `s = (m - 1) / (m + 1)` by its series
/// to the ninth power (truncation below 1e-9), then `(e ln 2 + ln m) log10(e)`. Absolute error
/// within 2e-7. For the same reasons as [`exp_f32`]: the same bits on every machine, and it
/// vectorises.
#[inline(always)]
pub fn log10_f32(x: f32) -> f32 {
    const SQRT_2: f32 = std::f32::consts::SQRT_2;
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let high = m > SQRT_2;
    m = if high { m * 0.5 } else { m };
    e += i32::from(high);
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let ln_m = 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0)))));
    (e as f32 * std::f32::consts::LN_2 + ln_m) * std::f32::consts::LOG10_E
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decimal logarithm keeps within 2e-7 of `f64::log10` from 1e-30 to 1e30, and is
    /// exact at powers of ten that matter (1 and 10 within a unit in the last place).
    #[test]
    fn log10_f32_is_within_2e_7() {
        assert_eq!(log10_f32(1.0), 0.0);
        assert!((log10_f32(10.0) - 1.0).abs() <= f32::EPSILON);
        let mut worst = 0.0f64;
        for i in 0..=1_000_000 {
            let x = 10f64.powf(-30.0 + 60.0 * f64::from(i) / 1e6) as f32;
            let want = f64::from(x).log10();
            worst = worst.max((f64::from(log10_f32(x)) - want).abs() / want.abs().max(1.0));
        }
        assert!(worst < 2e-7, "worst error {worst:e}");
    }

    /// The exponential keeps to two units in the last place of `f32` over the whole clamped
    /// range (checked against `f64::exp` at a million points), and is exact at zero.
    #[test]
    fn exp_f32_is_within_two_ulp() {
        assert_eq!(exp_f32(0.0), 1.0);
        let mut worst = 0.0f64;
        for i in 0..=1_000_000 {
            let x = -87.0 + 175.0 * f64::from(i) / 1e6;
            let x = x as f32;
            let want = f64::from(x).exp();
            let got = f64::from(exp_f32(x));
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst:e}");
        // Clamped, not overflowing or going to zero.
        assert!(exp_f32(200.0).is_finite() && exp_f32(-200.0) > 0.0);
    }
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
    fn quantile_tables_reproduce_their_distributions() {
        for z in [-3.0, -1.0, 0.0, 0.5, 2.0] {
            assert!((inverse_normal_cdf(normal_cdf(z)) - z).abs() < 1e-5, "{z}");
        }
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        let noise = QuantileTable::lognormal_mean_one(0.55, 6.0);
        assert!((noise.mean() - 1.0).abs() < 1e-6);
        // Sampled mean and the fraction below the median match the log-normal.
        let mut s = Stream::new(5, Purpose::Test, 0, 0);
        let n = 400_000;
        let draws: Vec<f64> = (0..n).map(|_| f64::from(noise.sample(s.next_u64()))).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 0.005, "{mean}");
        let median = (-0.5f64 * 0.55 * 0.55).exp();
        let below = draws.iter().filter(|&&d| d < median).count() as f64 / n as f64;
        assert!((below - 0.5).abs() < 0.005, "{below}");
        let latency = QuantileTable::lognormal(3.0, 0.7);
        assert!((f64::from(latency.sample(1u64 << 63)) - 3.0).abs() < 0.01);
        // The family shortcut opens exactly the stream `Stream::new` opens.
        let mut a = StreamFamily::new(9, Purpose::MeterRead).stream(4, 5);
        let mut b = Stream::new(9, Purpose::MeterRead, 4, 5);
        assert_eq!(a.next_u64(), b.next_u64());
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
