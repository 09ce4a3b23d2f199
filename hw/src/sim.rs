//! Cycle-accurate co-simulation of the RTL: Verilator's C++ models behind a safe API, one
//! call per clock cycle.

use ark_bn254::{Fq, Fr, G1Affine, G1Projective};
use ark_ec::AffineRepr;
use ark_ff::{BigInt, Field, One, Zero};

use crate::card::{check_buffers, EngineCard, EngineShape, EngineStats};
use crate::ntt::{check_run, NttCard, NttStats, Pass};
use crate::HwError;

#[cfg(not(fornax_no_sim))]
use std::ffi::c_void;

/// Clock cycles from the one whose edge takes a multiplier's operands to the one whose
/// edge gives their product, both counted.
pub const FQ_MUL_LATENCY: usize = 5;

/// Clock cycles from the one whose edge takes an addition's operands to the one whose
/// edge gives their sum, both counted (`LATENCY` of `rtl/g1_add_mixed.sv`).
pub const G1_ADD_LATENCY: usize = 13;

/// Which build of a block to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The RTL as written.
    Exact,
    /// The RTL with bit 3 of one result flipped (`FAULT_BIT = 3`: every product of the
    /// multiplier, every X of the bucket engine's adder): what a check that works must
    /// refuse.
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

    macro_rules! engine {
        ($new:ident, $free:ident, $bits:ident, $run:ident) => {
            extern "C" {
                pub fn $new() -> *mut c_void;
                pub fn $free(sim: *mut c_void);
                pub fn $bits() -> u32;
                pub fn $run(
                    sim: *mut c_void,
                    points: *const u32,
                    scalars: *const u32,
                    n: u64,
                    buckets: *mut u32,
                    bucket_count: u64,
                    max_cycles: u64,
                    stats: *mut crate::card::EngineStats,
                ) -> i32;
            }
        };
    }
    engine!(
        fornax_msm_bucket_engine_new,
        fornax_msm_bucket_engine_free,
        fornax_msm_bucket_engine_window_bits,
        fornax_msm_bucket_engine_run
    );
    engine!(
        fornax_msm_bucket_engine_faulty_new,
        fornax_msm_bucket_engine_faulty_free,
        fornax_msm_bucket_engine_faulty_window_bits,
        fornax_msm_bucket_engine_faulty_run
    );

    extern "C" {
        pub fn fornax_ntt_engine_new() -> *mut c_void;
        pub fn fornax_ntt_engine_free(sim: *mut c_void);
        pub fn fornax_ntt_engine_max_log_n() -> u32;
        #[allow(clippy::too_many_arguments)]
        pub fn fornax_ntt_engine_run(
            sim: *mut c_void,
            log_n: u32,
            data: *mut u32,
            twiddles: *const u32,
            factors: *const u32,
            passes: *const u32,
            pass_count: u64,
            max_cycles: u64,
            stats: *mut crate::ntt::NttStats,
        ) -> i32;
    }

    extern "C" {
        pub fn fornax_g1_add_mixed_new() -> *mut c_void;
        pub fn fornax_g1_add_mixed_free(sim: *mut c_void);
        pub fn fornax_g1_add_mixed_cycle(
            sim: *mut c_void,
            in_valid: i32,
            tag: u32,
            p1: *const u32,
            p2: *const u32,
            inf2: i32,
            out_valid: *mut i32,
            out_tag: *mut u32,
            out: *mut u32,
        );
    }
}

/// A Verilated model owned through its shim's C ABI: made by the shim's `new`, freed by its
/// `free` when dropped.
#[cfg(not(fornax_no_sim))]
struct Model {
    ptr: *mut c_void,
    free: unsafe extern "C" fn(*mut c_void),
}

#[cfg(not(fornax_no_sim))]
impl Model {
    /// A fresh model (its pipeline empty) from the shim's constructor and destructor.
    fn new(
        new: unsafe extern "C" fn() -> *mut c_void,
        free: unsafe extern "C" fn(*mut c_void),
    ) -> Self {
        // SAFETY: the shims' constructors take no arguments and return an owned model.
        Model {
            ptr: unsafe { new() },
            free,
        }
    }
}

#[cfg(not(fornax_no_sim))]
impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from the constructor paired with `free`, and is freed once.
        unsafe { (self.free)(self.ptr) }
    }
}

// SAFETY: a model is owned by one value and used through `&mut` only.
#[cfg(not(fornax_no_sim))]
unsafe impl Send for Model {}

/// The simulated BN254 Fq Montgomery multiplier (`rtl/fq_mont_mul.sv`).
///
/// Each [`cycle`](Self::cycle) is one clock: it may take a pair of operands and may give
/// one product, [`FQ_MUL_LATENCY`] cycles after its operands went in. Operands and
/// results are arkworks elements; the RTL computes on their Montgomery representations
/// (R = 2^256, as arkworks), so equal limbs mean equal elements.
pub struct FqMulSim {
    #[cfg(not(fornax_no_sim))]
    model: Model,
    #[cfg(not(fornax_no_sim))]
    step: unsafe extern "C" fn(*mut c_void, i32, *const u32, *const u32, *mut i32, *mut u32),
    cycles: u64,
}

impl FqMulSim {
    /// A fresh model (pipeline empty).
    pub fn new(model: Variant) -> Result<Self, HwError> {
        #[cfg(fornax_no_sim)]
        {
            let _ = model;
            Err(HwError::NotBuilt)
        }
        #[cfg(not(fornax_no_sim))]
        {
            use ffi::*;
            let (model, step) = match model {
                Variant::Exact => (
                    Model::new(fornax_fq_mont_mul_new, fornax_fq_mont_mul_free),
                    fornax_fq_mont_mul_cycle as _,
                ),
                Variant::Faulty => (
                    Model::new(
                        fornax_fq_mont_mul_faulty_new,
                        fornax_fq_mont_mul_faulty_free,
                    ),
                    fornax_fq_mont_mul_faulty_cycle as _,
                ),
            };
            Ok(FqMulSim {
                model,
                step,
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
            // SAFETY: a live model and its own step function; the pointers are to 8 words
            // each, as the shim reads and writes.
            unsafe {
                (self.step)(
                    self.model.ptr,
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

/// The Montgomery representation of `x` as eight 32-bit words, least significant first
/// (Verilator's layout of a 256-bit port, and the card's buffers').
pub(crate) fn words(x: &Fq) -> [u32; 8] {
    let limbs = x.0 .0;
    std::array::from_fn(|k| (limbs[k / 2] >> (32 * (k % 2))) as u32)
}

/// The Montgomery representation of an Fr element as eight 32-bit words, least significant
/// first.
pub(crate) fn words_fr(x: &Fr) -> [u32; 8] {
    let limbs = x.0 .0;
    std::array::from_fn(|k| (limbs[k / 2] >> (32 * (k % 2))) as u32)
}

/// An Fr element from its Montgomery representation's words (see [`from_words`]).
pub(crate) fn from_words_fr(w: &[u32]) -> Fr {
    let limbs: [u64; 4] = std::array::from_fn(|k| w[2 * k] as u64 | (w[2 * k + 1] as u64) << 32);
    Fr::new_unchecked(BigInt(limbs))
}

/// An element from its Montgomery representation's words. The RTL's results are below p;
/// a result that is not is kept as is (wrapped by arkworks' arithmetic), and any check
/// compares it unequal.
pub(crate) fn from_words(w: &[u32]) -> Fq {
    let limbs: [u64; 4] = std::array::from_fn(|k| w[2 * k] as u64 | (w[2 * k + 1] as u64) << 32);
    Fq::new_unchecked(BigInt(limbs))
}

/// A G1 point in the adder's coordinates: homogeneous projective, x = X/Z and y = Y/Z, the
/// identity (0 : 1 : 0). Coordinates in Montgomery form, as arkworks keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Projective {
    /// X.
    pub x: Fq,
    /// Y.
    pub y: Fq,
    /// Z (zero for the identity).
    pub z: Fq,
}

impl Projective {
    /// The identity, (0 : 1 : 0).
    pub fn identity() -> Self {
        Projective {
            x: Fq::zero(),
            y: Fq::one(),
            z: Fq::zero(),
        }
    }

    /// An affine point as (x : y : 1), the identity as (0 : 1 : 0).
    pub fn from_affine(p: &G1Affine) -> Self {
        match p.xy() {
            Some((x, y)) => Projective { x, y, z: Fq::one() },
            None => Self::identity(),
        }
    }

    /// The same point in arkworks' Jacobian coordinates (X·Z, Y·Z², Z): x = X/Z, y = Y/Z.
    pub fn to_group(&self) -> G1Projective {
        if self.z.is_zero() {
            return G1Projective::zero();
        }
        G1Projective::new_unchecked(self.x * self.z, self.y * self.z.square(), self.z)
    }

    /// X, Y, Z as 24 words (the adder's ports, the card's bucket buffer).
    #[cfg_attr(fornax_no_sim, allow(dead_code))]
    pub(crate) fn to_words(self) -> [u32; 24] {
        let mut w = [0u32; 24];
        w[..8].copy_from_slice(&words(&self.x));
        w[8..16].copy_from_slice(&words(&self.y));
        w[16..].copy_from_slice(&words(&self.z));
        w
    }

    /// The point of 24 words (see [`to_words`](Self::to_words)).
    pub(crate) fn from_words(w: &[u32]) -> Self {
        Projective {
            x: from_words(&w[..8]),
            y: from_words(&w[8..16]),
            z: from_words(&w[16..24]),
        }
    }
}

/// One addition for the simulated adder: `p1 + p2` (`p2 = None`: the identity), with a tag
/// that comes back with the sum.
#[derive(Debug, Clone, Copy)]
pub struct Addition {
    /// Travels with the sum (the bucket engine's bucket address; 16 bits).
    pub tag: u16,
    /// The projective operand.
    pub p1: Projective,
    /// The affine operand.
    pub p2: G1Affine,
}

/// The simulated G1 mixed point adder (`rtl/g1_add_mixed.sv`): each
/// [`cycle`](Self::cycle) is one clock, may take an addition and may give one sum,
/// [`G1_ADD_LATENCY`] cycles after its operands went in.
pub struct G1AddSim {
    #[cfg(not(fornax_no_sim))]
    model: Model,
    cycles: u64,
}

impl G1AddSim {
    /// A fresh model (pipeline empty).
    pub fn new() -> Result<Self, HwError> {
        #[cfg(fornax_no_sim)]
        {
            Err(HwError::NotBuilt)
        }
        #[cfg(not(fornax_no_sim))]
        {
            Ok(G1AddSim {
                model: Model::new(ffi::fornax_g1_add_mixed_new, ffi::fornax_g1_add_mixed_free),
                cycles: 0,
            })
        }
    }

    /// One clock cycle: `input` enters the pipeline (if any); returns the tagged sum that
    /// leaves it this cycle (if any).
    pub fn cycle(&mut self, input: Option<Addition>) -> Option<(u16, Projective)> {
        self.cycles += 1;
        #[cfg(fornax_no_sim)]
        {
            let _ = input;
            unreachable!("no model exists without the simulation")
        }
        #[cfg(not(fornax_no_sim))]
        {
            let (tag, p1, p2, inf2) = match input {
                Some(a) => {
                    let mut p2 = [0u32; 16];
                    if let Some((x, y)) = a.p2.xy() {
                        p2[..8].copy_from_slice(&words(&x));
                        p2[8..].copy_from_slice(&words(&y));
                    }
                    (a.tag, a.p1.to_words(), p2, a.p2.is_zero())
                }
                None => (0, [0u32; 24], [0u32; 16], false),
            };
            let mut out_valid = 0i32;
            let mut out_tag = 0u32;
            let mut out = [0u32; 24];
            // SAFETY: a live adder model; the pointers are to 24, 16 and 24 words, as the
            // shim reads and writes.
            unsafe {
                ffi::fornax_g1_add_mixed_cycle(
                    self.model.ptr,
                    input.is_some() as i32,
                    tag as u32,
                    p1.as_ptr(),
                    p2.as_ptr(),
                    inf2 as i32,
                    &mut out_valid,
                    &mut out_tag,
                    out.as_mut_ptr(),
                );
            }
            (out_valid != 0).then(|| (out_tag as u16, Projective::from_words(&out)))
        }
    }

    /// Clock cycles simulated so far.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }
}

/// The simulated MSM bucket engine (`rtl/msm_bucket_engine.sv`) as an [`EngineCard`]: its
/// C shim plays the card's data movers, streaming the buffers in and the buckets out, one
/// clock per step.
pub struct EngineSim {
    #[cfg(not(fornax_no_sim))]
    model: Model,
    #[cfg(not(fornax_no_sim))]
    window_bits: u32,
    #[cfg(not(fornax_no_sim))]
    run: EngineRun,
    variant: Variant,
}

/// The shim's `run` of an engine model (`sim/msm_bucket_engine_shim.cpp`).
#[cfg(not(fornax_no_sim))]
type EngineRun = unsafe extern "C" fn(
    *mut c_void,
    *const u32,
    *const u32,
    u64,
    *mut u32,
    u64,
    u64,
    *mut EngineStats,
) -> i32;

impl EngineSim {
    /// A fresh engine.
    pub fn new(variant: Variant) -> Result<Self, HwError> {
        #[cfg(fornax_no_sim)]
        {
            let _ = variant;
            Err(HwError::NotBuilt)
        }
        #[cfg(not(fornax_no_sim))]
        {
            use ffi::*;
            let (model, bits, run): (_, unsafe extern "C" fn() -> u32, EngineRun) = match variant {
                Variant::Exact => (
                    Model::new(fornax_msm_bucket_engine_new, fornax_msm_bucket_engine_free),
                    fornax_msm_bucket_engine_window_bits,
                    fornax_msm_bucket_engine_run,
                ),
                Variant::Faulty => (
                    Model::new(
                        fornax_msm_bucket_engine_faulty_new,
                        fornax_msm_bucket_engine_faulty_free,
                    ),
                    fornax_msm_bucket_engine_faulty_window_bits,
                    fornax_msm_bucket_engine_faulty_run,
                ),
            };
            Ok(EngineSim {
                model,
                // SAFETY: a function of no arguments returning a constant.
                window_bits: unsafe { bits() },
                run,
                variant,
            })
        }
    }
}

impl EngineCard for EngineSim {
    fn shape(&self) -> EngineShape {
        #[cfg(fornax_no_sim)]
        unreachable!("no model exists without the simulation");
        #[cfg(not(fornax_no_sim))]
        EngineShape {
            window_bits: self.window_bits,
        }
    }

    fn describe(&self) -> String {
        let fault = match self.variant {
            Variant::Exact => "",
            Variant::Faulty => ", faulty build",
        };
        format!(
            "BN254 G1 MSM bucket engine (C = {}), Verilator co-simulation{fault}",
            self.shape().window_bits
        )
    }

    fn accumulate(
        &mut self,
        points: &[u32],
        scalars: &[u32],
        buckets: &mut [u32],
    ) -> Result<EngineStats, HwError> {
        let shape = self.shape();
        let n = check_buffers(shape, points, scalars, buckets)?;
        #[cfg(fornax_no_sim)]
        unreachable!("no model exists without the simulation ({n} points)");
        #[cfg(not(fornax_no_sim))]
        {
            // Generous: every addition serialised behind the one before it, plus the
            // read-out.
            let max_cycles = (n as u64 + 1) * shape.windows() as u64 * (G1_ADD_LATENCY as u64 + 4)
                + 2 * shape.buckets() as u64
                + 1024;
            let mut stats = EngineStats::default();
            // SAFETY: a live engine and its own run; the buffers hold `n` points, `n`
            // scalars and `shape.buckets()` buckets, as checked above.
            let status = unsafe {
                (self.run)(
                    self.model.ptr,
                    points.as_ptr(),
                    scalars.as_ptr(),
                    n as u64,
                    buckets.as_mut_ptr(),
                    shape.buckets() as u64,
                    max_cycles,
                    &mut stats,
                )
            };
            if status != 0 {
                return Err(HwError::Hung { cycles: max_cycles });
            }
            Ok(stats)
        }
    }
}

/// The simulated NTT engine (`rtl/ntt_engine.sv`) as an [`NttCard`]: its C shim plays the
/// card's data movers and pass sequencer, one clock per step.
pub struct NttSim {
    #[cfg(not(fornax_no_sim))]
    model: Model,
}

impl NttSim {
    /// A fresh engine.
    pub fn new() -> Result<Self, HwError> {
        #[cfg(fornax_no_sim)]
        {
            Err(HwError::NotBuilt)
        }
        #[cfg(not(fornax_no_sim))]
        {
            Ok(NttSim {
                model: Model::new(ffi::fornax_ntt_engine_new, ffi::fornax_ntt_engine_free),
            })
        }
    }
}

impl NttCard for NttSim {
    fn max_log_size(&self) -> u32 {
        #[cfg(fornax_no_sim)]
        unreachable!("no model exists without the simulation");
        #[cfg(not(fornax_no_sim))]
        // SAFETY: a function of no arguments returning a constant.
        unsafe {
            ffi::fornax_ntt_engine_max_log_n()
        }
    }

    fn run(
        &mut self,
        log_n: u32,
        data: &mut [u32],
        twiddles: &[u32],
        factors: Option<&[u32]>,
        passes: &[Pass],
    ) -> Result<NttStats, HwError> {
        check_run(self.max_log_size(), log_n, data, twiddles, factors, passes)?;
        #[cfg(fornax_no_sim)]
        unreachable!("no model exists without the simulation");
        #[cfg(not(fornax_no_sim))]
        {
            let words: Vec<u32> = passes.iter().map(|p| p.word()).collect();
            // Each pass issues at most n operations and drains in a few cycles.
            let max_cycles = 2 * (1u64 << log_n) + 64;
            let mut stats = NttStats::default();
            // SAFETY: a live engine; the buffers hold 2^log_n elements (data, factors) and
            // 2^(log_n - 1) (twiddles), as checked above.
            let status = unsafe {
                ffi::fornax_ntt_engine_run(
                    self.model.ptr,
                    log_n,
                    data.as_mut_ptr(),
                    twiddles.as_ptr(),
                    factors.map_or(std::ptr::null(), <[u32]>::as_ptr),
                    words.as_ptr(),
                    words.len() as u64,
                    max_cycles,
                    &mut stats,
                )
            };
            if status != 0 {
                return Err(HwError::Hung { cycles: max_cycles });
            }
            Ok(stats)
        }
    }
}

/// Both simulated engines as one card, as a real card carries both kernels.
pub struct SimCard {
    msm: EngineSim,
    ntt: NttSim,
}

impl SimCard {
    /// The two engines, the MSM engine of `variant`.
    pub fn new(variant: Variant) -> Result<Self, HwError> {
        Ok(SimCard {
            msm: EngineSim::new(variant)?,
            ntt: NttSim::new()?,
        })
    }
}

impl EngineCard for SimCard {
    fn shape(&self) -> EngineShape {
        self.msm.shape()
    }

    fn describe(&self) -> String {
        format!(
            "{} + NTT engine up to 2^{}",
            self.msm.describe(),
            self.ntt.max_log_size()
        )
    }

    fn accumulate(
        &mut self,
        points: &[u32],
        scalars: &[u32],
        buckets: &mut [u32],
    ) -> Result<EngineStats, HwError> {
        self.msm.accumulate(points, scalars, buckets)
    }
}

impl NttCard for SimCard {
    fn max_log_size(&self) -> u32 {
        self.ntt.max_log_size()
    }

    fn run(
        &mut self,
        log_n: u32,
        data: &mut [u32],
        twiddles: &[u32],
        factors: Option<&[u32]>,
        passes: &[Pass],
    ) -> Result<NttStats, HwError> {
        self.ntt.run(log_n, data, twiddles, factors, passes)
    }
}
