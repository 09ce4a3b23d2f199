//! Cycle-accurate co-simulation of the RTL: Verilator's C++ models behind a safe API, one
//! call per clock cycle.

use ark_bn254::Fq;
#[cfg(not(fornax_no_sim))]
use ark_ff::BigInt;

/// Clock cycles from the one whose edge takes a multiplier's operands to the one whose
/// edge gives their product, both counted.
pub const FQ_MUL_LATENCY: usize = 5;

/// Why a simulation cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    /// This build has no co-simulation models (Verilator was missing when it was built).
    NotBuilt,
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::NotBuilt => write!(
                f,
                "fornax-hw was built without Verilator: no RTL co-simulation (run ops/setup.sh, then rebuild)"
            ),
        }
    }
}

impl std::error::Error for SimError {}

/// Which build of the multiplier to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FqMulModel {
    /// The RTL as written.
    Exact,
    /// The RTL with bit 3 of every result flipped (`FAULT_BIT = 3`): what a check that
    /// works must refuse.
    Faulty,
}

#[cfg(not(fornax_no_sim))]
mod ffi {
    use std::ffi::c_void;

    macro_rules! model {
        ($new:ident, $free:ident, $cycle:ident) => {
            extern "C" {
                pub fn $new() -> *mut c_void;
                pub fn $free(sim: *mut c_void);
                pub fn $cycle(
                    sim: *mut c_void,
                    in_valid: i32,
                    a: *const u32,
                    b: *const u32,
                    out_valid: *mut i32,
                    r: *mut u32,
                );
            }
        };
    }
    model!(
        fornax_fq_mont_mul_new,
        fornax_fq_mont_mul_free,
        fornax_fq_mont_mul_cycle
    );
    model!(
        fornax_fq_mont_mul_faulty_new,
        fornax_fq_mont_mul_faulty_free,
        fornax_fq_mont_mul_faulty_cycle
    );
}

/// The simulated BN254 Fq Montgomery multiplier (`rtl/fq_mont_mul.sv`).
///
/// Each [`cycle`](Self::cycle) is one clock: it may take a pair of operands and may give
/// one product, [`FQ_MUL_LATENCY`] cycles after its operands went in. Operands and
/// results are arkworks elements; the RTL computes on their Montgomery representations
/// (R = 2^256, as arkworks), so equal limbs mean equal elements.
pub struct FqMulSim {
    #[cfg(not(fornax_no_sim))]
    handle: *mut std::ffi::c_void,
    #[cfg(not(fornax_no_sim))]
    model: FqMulModel,
    cycles: u64,
}

// SAFETY: the model is owned by this value alone and used through `&mut self` only.
unsafe impl Send for FqMulSim {}

impl FqMulSim {
    /// A fresh model (pipeline empty).
    pub fn new(model: FqMulModel) -> Result<Self, SimError> {
        #[cfg(fornax_no_sim)]
        {
            let _ = model;
            Err(SimError::NotBuilt)
        }
        #[cfg(not(fornax_no_sim))]
        {
            // SAFETY: the constructors take no arguments and return an owned model.
            let handle = unsafe {
                match model {
                    FqMulModel::Exact => ffi::fornax_fq_mont_mul_new(),
                    FqMulModel::Faulty => ffi::fornax_fq_mont_mul_faulty_new(),
                }
            };
            Ok(FqMulSim {
                handle,
                model,
                cycles: 0,
            })
        }
    }

    /// One clock cycle: `input` enters the pipeline (if any); returns the product that
    /// leaves it this cycle (if any).
    pub fn cycle(&mut self, input: Option<(Fq, Fq)>) -> Option<Fq> {
        self.cycles += 1;
        #[cfg(fornax_no_sim)]
        {
            let _ = input;
            unreachable!("no model exists without the simulation")
        }
        #[cfg(not(fornax_no_sim))]
        {
            let (a, b) = input.map_or(([0u32; 8], [0u32; 8]), |(a, b)| (words(&a), words(&b)));
            let mut out_valid = 0i32;
            let mut r = [0u32; 8];
            // SAFETY: `handle` is a live model of this kind; the pointers are to 8 words
            // each, as the shim reads and writes.
            unsafe {
                let cycle = match self.model {
                    FqMulModel::Exact => ffi::fornax_fq_mont_mul_cycle,
                    FqMulModel::Faulty => ffi::fornax_fq_mont_mul_faulty_cycle,
                };
                cycle(
                    self.handle,
                    input.is_some() as i32,
                    a.as_ptr(),
                    b.as_ptr(),
                    &mut out_valid,
                    r.as_mut_ptr(),
                );
            }
            (out_valid != 0).then(|| from_words(&r))
        }
    }

    /// Clock cycles simulated so far.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    /// Streams `pairs` through the pipeline, one per cycle, and returns the products in
    /// order and the cycles it took (`pairs.len() + FQ_MUL_LATENCY - 1` for a pipeline
    /// that accepts one product per cycle).
    pub fn multiply_all(&mut self, pairs: &[(Fq, Fq)]) -> (Vec<Fq>, u64) {
        let start = self.cycles;
        let mut out = Vec::with_capacity(pairs.len());
        let mut next = pairs.iter();
        // Bounded: a pipeline that never answers must not hang the caller.
        let limit = pairs.len() + 4 * FQ_MUL_LATENCY + 16;
        for _ in 0..limit {
            if out.len() == pairs.len() {
                break;
            }
            if let Some(p) = self.cycle(next.next().copied()) {
                out.push(p);
            }
        }
        (out, self.cycles - start)
    }
}

impl Drop for FqMulSim {
    fn drop(&mut self) {
        #[cfg(not(fornax_no_sim))]
        // SAFETY: `handle` is a live model of this kind, freed once.
        unsafe {
            match self.model {
                FqMulModel::Exact => ffi::fornax_fq_mont_mul_free(self.handle),
                FqMulModel::Faulty => ffi::fornax_fq_mont_mul_faulty_free(self.handle),
            }
        }
    }
}

/// The Montgomery representation of `x` as eight 32-bit words, least significant first
/// (Verilator's layout of a 256-bit port).
#[cfg(not(fornax_no_sim))]
fn words(x: &Fq) -> [u32; 8] {
    let limbs = x.0 .0;
    std::array::from_fn(|k| (limbs[k / 2] >> (32 * (k % 2))) as u32)
}

/// An element from its Montgomery representation's words. The RTL's results are below p;
/// a result that is not is kept as is (wrapped by arkworks' arithmetic), and any check
/// compares it unequal.
#[cfg(not(fornax_no_sim))]
fn from_words(w: &[u32; 8]) -> Fq {
    let limbs: [u64; 4] = std::array::from_fn(|k| w[2 * k] as u64 | (w[2 * k + 1] as u64) << 32);
    Fq::new_unchecked(BigInt(limbs))
}
