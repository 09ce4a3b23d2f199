//! NTTs over BN254 Fr on the NTT engine (`rtl/ntt_engine.sv`), one host code path for the
//! co-simulation and a card: the host turns a transform into the engine's passes (the
//! input in bit-reversed order, log2(N) radix-2 butterfly passes, scale passes for a coset's
//! powers and the inverse's 1/N), and the card runs them on its memories.

use ark_bn254::Fr;
use ark_ff::{FftField, Field, One};

use crate::sim::words_fr;
use crate::HwError;

/// Words per element in the engine's buffers.
pub const ELEMENT_WORDS: usize = 8;

/// One pass of the engine over the whole vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Radix-2 butterflies of half-size `2^log_m`: `(x[i], x[i+m]) ← (x[i] + w·x[i+m],
    /// x[i] − w·x[i+m])` with `w = ω^((i mod m)·N/2m)`.
    Butterflies {
        /// log2 of the half-size m.
        log_m: u32,
    },
    /// `x[i] ← x[i] · factor[i]`.
    Scale,
}

impl Pass {
    /// The pass as the card's command word: bit 8 for a scale pass, else `log_m`.
    pub fn word(self) -> u32 {
        match self {
            Pass::Butterflies { log_m } => log_m,
            Pass::Scale => 1 << 8,
        }
    }
}

/// What one run measured, in clock cycles (the layout the C shim writes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NttStats {
    /// Cycles of the passes, from each start to its done.
    pub pass_cycles: u64,
    /// Butterflies and products issued.
    pub issues: u64,
    /// Cycles loading the memories and reading the data back.
    pub io_cycles: u64,
}

/// A device that runs the NTT engine: the co-simulation ([`crate::sim::NttSim`]) or a card.
pub trait NttCard: Send {
    /// The largest transform, as log2 of its length.
    fn max_log_size(&self) -> u32;

    /// Loads `data` (2^log_n elements), the twiddles (ω^t for t < N/2) and the factors (if
    /// any, 2^log_n), runs `passes` in order, and reads the data back into `data`.
    fn run(
        &mut self,
        log_n: u32,
        data: &mut [u32],
        twiddles: &[u32],
        factors: Option<&[u32]>,
        passes: &[Pass],
    ) -> Result<NttStats, HwError>;
}

/// Checks one run's buffers and passes against each other and the engine's largest
/// transform `max_log` (what every [`NttCard`] does before it starts).
pub fn check_run(
    max_log: u32,
    log_n: u32,
    data: &[u32],
    twiddles: &[u32],
    factors: Option<&[u32]>,
    passes: &[Pass],
) -> Result<(), HwError> {
    if log_n > max_log {
        return Err(HwError::TooLarge {
            log_size: log_n,
            max: max_log,
        });
    }
    let n = 1usize << log_n;
    if data.len() != n * ELEMENT_WORDS
        || twiddles.len() != n / 2 * ELEMENT_WORDS
        || factors.is_some_and(|f| f.len() != n * ELEMENT_WORDS)
    {
        return Err(HwError::Buffers(format!(
            "data, twiddle and factor buffers of {}, {} and {:?} words for 2^{log_n} elements",
            data.len(),
            twiddles.len(),
            factors.map(<[u32]>::len)
        )));
    }
    if log_n == 0 && passes.iter().any(|p| *p != Pass::Scale) {
        return Err(HwError::Buffers("butterflies over one element".into()));
    }
    Ok(())
}

/// The transforms of the kernel API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Coefficients → evaluations on `{ω^i}`.
    Forward,
    /// Evaluations on `{ω^i}` → coefficients.
    Inverse,
    /// Coefficients → evaluations on `{g·ω^i}`.
    CosetForward(Fr),
    /// Evaluations on `{g·ω^i}` → coefficients.
    CosetInverse(Fr),
}

/// The twiddle tables of one size, kept on the host beside a card (a backend keeps them
/// resident per domain).
#[derive(Debug, Clone)]
pub struct Twiddles {
    log_n: u32,
    forward: Vec<u32>,
    inverse: Vec<u32>,
}

impl Twiddles {
    /// The tables of ω = the 2^log_n-th root of unity of arkworks (and of ω^-1).
    pub fn new(log_n: u32) -> Self {
        let n = 1usize << log_n;
        let omega = Fr::get_root_of_unity(n as u64).expect("Fr has 2-adicity 28");
        let table = |w: Fr| {
            let mut out = Vec::with_capacity(n / 2 * ELEMENT_WORDS);
            let mut t = Fr::one();
            for _ in 0..n / 2 {
                out.extend_from_slice(&words_fr(&t));
                t *= w;
            }
            out
        };
        Twiddles {
            log_n,
            forward: table(omega),
            inverse: table(omega.inverse().expect("a root of unity is invertible")),
        }
    }

    /// log2 of the transform's length.
    pub fn log_size(&self) -> u32 {
        self.log_n
    }
}

/// `values` transformed in place on `card` (natural order in and out); `values.len()` is
/// the twiddles' size.
pub fn ntt(
    card: &mut dyn NttCard,
    twiddles: &Twiddles,
    values: &mut [Fr],
    transform: Transform,
) -> Result<NttStats, HwError> {
    let log_n = twiddles.log_n;
    let n = 1usize << log_n;
    if values.len() != n {
        return Err(HwError::Buffers(format!(
            "{} values for a transform of {n}",
            values.len()
        )));
    }
    if log_n > card.max_log_size() {
        return Err(HwError::TooLarge {
            log_size: log_n,
            max: card.max_log_size(),
        });
    }
    let rev = |i: usize| match log_n {
        0 => 0,
        _ => i.reverse_bits() >> (usize::BITS - log_n),
    };
    // The input in bit-reversed order, as decimation in time wants it.
    let mut data = vec![0u32; n * ELEMENT_WORDS];
    for (i, v) in values.iter().enumerate() {
        let at = rev(i) * ELEMENT_WORDS;
        data[at..at + ELEMENT_WORDS].copy_from_slice(&words_fr(v));
    }
    let butterflies = (0..log_n).map(|log_m| Pass::Butterflies { log_m });
    let n_inv = Fr::from(n as u64).inverse().expect("n < r");
    let powers = |g: Fr, scale: Fr, permuted: bool| {
        let mut factors = vec![0u32; n * ELEMENT_WORDS];
        let mut f = scale;
        for i in 0..n {
            let at = if permuted { rev(i) } else { i } * ELEMENT_WORDS;
            factors[at..at + ELEMENT_WORDS].copy_from_slice(&words_fr(&f));
            f *= g;
        }
        factors
    };
    let (table, factors, passes): (&[u32], Option<Vec<u32>>, Vec<Pass>) = match transform {
        Transform::Forward => (&twiddles.forward, None, butterflies.collect()),
        Transform::Inverse => (
            &twiddles.inverse,
            Some(powers(Fr::one(), n_inv, false)),
            butterflies.chain([Pass::Scale]).collect(),
        ),
        // x_i·g^i first (the data sits bit-reversed: the factors too), then the transform.
        Transform::CosetForward(g) => (
            &twiddles.forward,
            Some(powers(g, Fr::one(), true)),
            [Pass::Scale].into_iter().chain(butterflies).collect(),
        ),
        // The inverse transform, then y_i·g^-i/N.
        Transform::CosetInverse(g) => {
            let g_inv = g
                .inverse()
                .ok_or(HwError::Buffers("a coset shift of zero".into()))?;
            (
                &twiddles.inverse,
                Some(powers(g_inv, n_inv, false)),
                butterflies.chain([Pass::Scale]).collect(),
            )
        }
    };
    let stats = card.run(log_n, &mut data, table, factors.as_deref(), &passes)?;
    for (i, v) in values.iter_mut().enumerate() {
        *v = crate::sim::from_words_fr(&data[i * ELEMENT_WORDS..(i + 1) * ELEMENT_WORDS]);
    }
    Ok(stats)
}
