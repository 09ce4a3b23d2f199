//! Eval on a chosen device through tfhe-rs's high-level API: the CPU, or, with the `gpu`
//! feature, a CUDA GPU, where each operation's blocks go to the device as one batch of
//! KS-PBS and the final noise squash runs there too.
//!
//! The same programs as [`Evaluator`](crate::Evaluator), and on the CPU the same results bit
//! for bit (tested), so the code path the GPU runs is checked on every machine. On a GPU the
//! results decrypt to the same values but are not bit-identical to the CPU's (another FFT):
//! digests compare only between workers on the same kind of device.
//!
//! Nodes run one after another in program order (a node reads only earlier values); the
//! parallelism is inside each operation, across its blocks, which is what a GPU wants.

use crate::engine::{check_inputs, outputs_digest, outside_rayon};
use crate::program::{Op, Program};
use crate::threshold::PublicKeySet;
use crate::Error;
use tfhe::integer::RadixCiphertext;
use tfhe::prelude::{
    CastFrom, FheEq, FheMax, FheMin, FheOrd, FheTrivialEncrypt, IfThenElse, SquashNoise,
};
use tfhe::{FheBool, ReRandomizationMetadata, SquashedNoiseFheUint, Tag};

/// The oldest CUDA driver API tfhe-rs's backend runs on here: it is built against the CUDA
/// 13.0 runtime (`ops/fhe-gpu-build.sh`), which an older driver refuses.
#[cfg(feature = "gpu")]
pub const MIN_CUDA_DRIVER: i32 = 13000;

/// Checks that a CUDA driver new enough for tfhe-rs's backend can be loaded. tfhe-rs aborts
/// the process on any CUDA error, so this runs before its first call.
#[cfg(feature = "gpu")]
pub fn check_cuda_driver() -> Result<(), Error> {
    use cudarc::driver::sys;
    // SAFETY: only tries to dlopen libcuda; calls nothing in it.
    if !unsafe { sys::is_culib_present() } {
        return Err(Error::Tfhe(
            "no CUDA driver (libcuda) on this machine".into(),
        ));
    }
    let mut version = 0;
    // SAFETY: the library is present (checked above); the call writes one int.
    let status = unsafe { sys::cuDriverGetVersion(&mut version) };
    if status != sys::CUresult::CUDA_SUCCESS {
        return Err(Error::Tfhe(format!(
            "cuDriverGetVersion failed: {status:?}"
        )));
    }
    if version < MIN_CUDA_DRIVER {
        return Err(Error::Tfhe(format!(
            "the CUDA driver supports CUDA {}.{}, tfhe-rs's backend here needs {}.{}",
            version / 1000,
            version % 1000 / 10,
            MIN_CUDA_DRIVER / 1000,
            MIN_CUDA_DRIVER % 1000 / 10
        )));
    }
    Ok(())
}

/// Where FHE programs are evaluated: the one choice callers make, without `cfg` branches
/// of their own ([`open`] knows which devices this build has).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// The engine on the CPU ([`Evaluator`](crate::Evaluator)): a plan's batches one after
    /// another, the jobs of a batch in parallel.
    #[default]
    Cpu,
    /// tfhe-rs's CUDA backend on the first GPU: each operation's blocks as one batch of
    /// KS-PBS there. Results decrypt the same as the CPU's but are not bit-identical to them,
    /// so digests compare only between workers on GPUs. Needs the `gpu` feature.
    Cuda,
}

impl Device {
    /// Every device, by its name.
    pub const NAMES: [&'static str; 2] = ["cpu", "cuda"];

    /// Its name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Checks that this build and machine can use the device, before anything slow is
    /// loaded: a build without the `gpu` feature, or a machine without a (new enough) CUDA
    /// driver, fails at once.
    pub fn check(self) -> Result<(), Error> {
        match self {
            Device::Cpu => Ok(()),
            #[cfg(feature = "gpu")]
            Device::Cuda => check_cuda_driver(),
            #[cfg(not(feature = "gpu"))]
            Device::Cuda => Err(no_cuda()),
        }
    }
}

/// Why `cuda` cannot work in a build without the `gpu` feature.
#[cfg(not(feature = "gpu"))]
fn no_cuda() -> Error {
    Error::Tfhe(
        "this fornax was built without tfhe-rs's CUDA backend; build one with \
         `ops/fhe-gpu-build.sh -p fornax-scheduler --features fhe-gpu`"
            .into(),
    )
}

impl std::str::FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda),
            other => Err(format!(
                "unknown FHE device {other} (devices: {})",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// What an evaluation returns, whatever the device.
pub struct Evaluated {
    /// One squashed ciphertext per program output.
    pub outputs: Vec<SquashedNoiseFheUint>,
    /// Digest of all outputs ([`outputs_digest`]): equal digests, bit-identical results.
    pub digest: [u8; 32],
    /// The device it ran on (`cpu`, `cuda`).
    pub device: &'static str,
    /// The batches, jobs and estimated KS-PBS of the plan it ran.
    pub plan: PlanSummary,
}

/// The size of a plan, as a task records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanSummary {
    /// Batches (dependent steps).
    pub batches: usize,
    /// Jobs in all.
    pub jobs: usize,
    /// Estimated KS-PBS (128-bit PBS for the squash).
    pub estimated_pbs: u64,
}

impl PlanSummary {
    /// The summary of `plan`.
    pub fn of(plan: &crate::plan::Plan) -> Self {
        PlanSummary {
            batches: plan.batches.len(),
            jobs: plan.jobs().count(),
            estimated_pbs: plan.estimated_pbs(),
        }
    }
}

/// Eval(pk, program, c) on some device: what a worker holds once per key set and calls per
/// task. Implemented by the engine on the CPU and by [`DeviceEvaluator`]; [`open`] picks.
pub trait Evaluate: Send + Sync {
    /// The device's name (`cpu`, `cuda`).
    fn device(&self) -> &'static str;

    /// Evaluates `program` on `inputs` (checked against it), ending with the noise squash.
    /// `task` names the plan's jobs.
    fn evaluate(
        &self,
        program: &Program,
        inputs: Vec<RadixCiphertext>,
        task: &str,
    ) -> Result<Evaluated, Error>;

    /// Expands a verified input ([`crate::input::verify`]) of `bits` bits into the form
    /// [`evaluate`](Self::evaluate) takes.
    fn expand(
        &self,
        input: &tfhe::ProvenCompactCiphertextList,
        bits: u32,
    ) -> Result<RadixCiphertext, Error>;
}

/// The engine on the CPU, with the jobs of a batch on `threads` threads.
struct CpuEngine {
    evaluator: crate::Evaluator,
    threads: usize,
}

impl Evaluate for CpuEngine {
    fn device(&self) -> &'static str {
        "cpu"
    }

    fn expand(
        &self,
        input: &tfhe::ProvenCompactCiphertextList,
        bits: u32,
    ) -> Result<RadixCiphertext, Error> {
        self.evaluator.expand(input, bits)
    }

    fn evaluate(
        &self,
        program: &Program,
        inputs: Vec<RadixCiphertext>,
        task: &str,
    ) -> Result<Evaluated, Error> {
        let out = self
            .evaluator
            .evaluate(program, inputs, task, self.threads)?;
        Ok(Evaluated {
            outputs: out.outputs,
            digest: out.digest,
            device: "cpu",
            plan: PlanSummary::of(&out.plan),
        })
    }
}

impl Evaluate for DeviceEvaluator {
    fn device(&self) -> &'static str {
        DeviceEvaluator::device(self)
    }

    fn expand(
        &self,
        input: &tfhe::ProvenCompactCiphertextList,
        bits: u32,
    ) -> Result<RadixCiphertext, Error> {
        DeviceEvaluator::expand(self, input, bits)
    }

    fn evaluate(
        &self,
        program: &Program,
        inputs: Vec<RadixCiphertext>,
        task: &str,
    ) -> Result<Evaluated, Error> {
        let out = DeviceEvaluator::evaluate(self, program, inputs)?;
        // One job per batch: the device takes each operation's blocks at once.
        let plan = crate::plan::plan(program, task, 1);
        Ok(Evaluated {
            outputs: out.outputs,
            digest: out.digest,
            device: DeviceEvaluator::device(self),
            plan: PlanSummary::of(&plan),
        })
    }
}

/// The key set's evaluation keys decompressed onto `device` (checked first, see
/// [`Device::check`]); on the CPU the jobs of a batch run on `threads` threads. Takes
/// seconds and about a GiB.
pub fn open(
    device: Device,
    public: &PublicKeySet,
    threads: usize,
) -> Result<Box<dyn Evaluate>, Error> {
    device.check()?;
    match device {
        Device::Cpu => Ok(Box::new(CpuEngine {
            evaluator: crate::Evaluator::new(public),
            threads: threads.max(1),
        })),
        #[cfg(feature = "gpu")]
        Device::Cuda => Ok(Box::new(DeviceEvaluator::cuda(public)?)),
        #[cfg(not(feature = "gpu"))]
        Device::Cuda => Err(no_cuda()),
    }
}

/// Where a [`DeviceEvaluator`] runs.
#[derive(Clone)]
enum DeviceKey {
    Cpu(tfhe::ServerKey),
    #[cfg(feature = "gpu")]
    Cuda(tfhe::CudaServerKey),
}

/// Evaluation keys on one device, decompressed once and reused across programs.
#[derive(Clone)]
pub struct DeviceEvaluator {
    key: DeviceKey,
}

/// What a device evaluation returns.
pub struct DeviceOutput {
    /// One squashed ciphertext per program output.
    pub outputs: Vec<SquashedNoiseFheUint>,
    /// Digest of all outputs (as [`EvalOutput::digest`](crate::EvalOutput::digest)).
    pub digest: [u8; 32],
}

impl DeviceEvaluator {
    /// The key set's evaluation keys on the CPU.
    pub fn cpu(public: &PublicKeySet) -> Self {
        DeviceEvaluator {
            key: DeviceKey::Cpu(public.server_key.decompress()),
        }
    }

    /// The key set's evaluation keys on the first CUDA GPU. Fails (instead of tfhe-rs's
    /// abort) when no CUDA driver, too old a driver, or no GPU is visible.
    #[cfg(feature = "gpu")]
    pub fn cuda(public: &PublicKeySet) -> Result<Self, Error> {
        check_cuda_driver()?;
        if tfhe::core_crypto::gpu::get_number_of_gpus() == 0 {
            return Err(Error::Tfhe("no CUDA GPU is visible".into()));
        }
        Ok(DeviceEvaluator {
            key: DeviceKey::Cuda(public.server_key.decompress_to_gpu()),
        })
    }

    /// The device's name, for the record.
    pub fn device(&self) -> &'static str {
        match self.key {
            DeviceKey::Cpu(_) => "cpu",
            #[cfg(feature = "gpu")]
            DeviceKey::Cuda(_) => "cuda",
        }
    }

    /// An input, verified ([`crate::input::verify`]), expanded on this device into the
    /// engine's form.
    pub fn expand(
        &self,
        input: &tfhe::ProvenCompactCiphertextList,
        bits: u32,
    ) -> Result<RadixCiphertext, Error> {
        outside_rayon(|| {
            self.set_key();
            crate::input::expand(input, bits)
        })
    }

    /// Sets this device's key as tfhe-rs's server key of the calling thread.
    fn set_key(&self) {
        match &self.key {
            DeviceKey::Cpu(key) => tfhe::set_server_key(key.clone()),
            #[cfg(feature = "gpu")]
            DeviceKey::Cuda(key) => tfhe::set_server_key(key.clone()),
        }
    }

    /// Eval(pk, program, c) on this device, ending with the noise squash. Safe to call from
    /// any thread, rayon's workers included (tfhe-rs's high-level API runs outside rayon's
    /// pools, see `engine::outside_rayon`).
    pub fn evaluate(
        &self,
        program: &Program,
        inputs: Vec<RadixCiphertext>,
    ) -> Result<DeviceOutput, Error> {
        check_inputs(program, &inputs)?;
        let outputs = outside_rayon(|| {
            self.set_key();
            match program.bits {
                8 => eval_u8(program, inputs),
                16 => eval_u16(program, inputs),
                32 => eval_u32(program, inputs),
                64 => eval_u64(program, inputs),
                other => Err(Error::Program(format!(
                    "bits must be 8, 16, 32 or 64, not {other}"
                ))),
            }
        })?;
        let digest = outputs_digest(&outputs);
        Ok(DeviceOutput { outputs, digest })
    }
}

/// One evaluation function per width: tfhe-rs's scalar operations take the clear type of
/// the width (`FheUint8` with `u8`, …), so the body is stamped out for each pair.
macro_rules! eval_width {
    ($name:ident, $fhe:ty, $clear:ty) => {
        fn $name(
            program: &Program,
            inputs: Vec<RadixCiphertext>,
        ) -> Result<Vec<SquashedNoiseFheUint>, Error> {
            enum Value {
                Uint($fhe),
                Bool(FheBool),
            }
            let mut values: Vec<Value> = inputs
                .into_iter()
                .map(|c| {
                    Value::Uint(<$fhe>::from_raw_parts(
                        c,
                        Default::default(),
                        Tag::default(),
                        ReRandomizationMetadata::default(),
                    ))
                })
                .collect();
            values.reserve(program.nodes.len());
            // Values are validated (`check_inputs`): every read is of an earlier value of the
            // kind the operation needs; the errors below are for a program that skipped it.
            let kind_error = |v: usize| Error::Program(format!("value {v} has the wrong kind"));
            for op in &program.nodes {
                let uint = |v: usize| match values.get(v) {
                    Some(Value::Uint(c)) => Ok(c),
                    _ => Err(kind_error(v)),
                };
                // Constants wrap to the width, as in `eval_plain`.
                let clear = |value: u64| value as $clear;
                use Op::*;
                let value = match *op {
                    Add { a, b } => Value::Uint(uint(a)? + uint(b)?),
                    Sub { a, b } => Value::Uint(uint(a)? - uint(b)?),
                    Mul { a, b } => Value::Uint(uint(a)? * uint(b)?),
                    AddConst { a, value } => Value::Uint(uint(a)? + clear(value)),
                    MulConst { a, value } => Value::Uint(uint(a)? * clear(value)),
                    And { a, b } => Value::Uint(uint(a)? & uint(b)?),
                    Or { a, b } => Value::Uint(uint(a)? | uint(b)?),
                    Xor { a, b } => Value::Uint(uint(a)? ^ uint(b)?),
                    Not { a } => Value::Uint(std::ops::Not::not(uint(a)?)),
                    Shl { a, by } => Value::Uint(uint(a)? << by as $clear),
                    Shr { a, by } => Value::Uint(uint(a)? >> by as $clear),
                    Eq { a, b } => Value::Bool(FheEq::eq(uint(a)?, uint(b)?)),
                    Ne { a, b } => Value::Bool(FheEq::ne(uint(a)?, uint(b)?)),
                    Lt { a, b } => Value::Bool(FheOrd::lt(uint(a)?, uint(b)?)),
                    Le { a, b } => Value::Bool(FheOrd::le(uint(a)?, uint(b)?)),
                    Gt { a, b } => Value::Bool(FheOrd::gt(uint(a)?, uint(b)?)),
                    Ge { a, b } => Value::Bool(FheOrd::ge(uint(a)?, uint(b)?)),
                    Min { a, b } => Value::Uint(FheMin::min(uint(a)?, uint(b)?)),
                    Max { a, b } => Value::Uint(FheMax::max(uint(a)?, uint(b)?)),
                    Select { cond, a, b } => {
                        let Some(Value::Bool(c)) = values.get(cond) else {
                            return Err(kind_error(cond));
                        };
                        Value::Uint(c.select(uint(a)?, uint(b)?))
                    }
                    Const { value } => Value::Uint(<$fhe>::encrypt_trivial(clear(value))),
                };
                values.push(value);
            }
            program
                .outputs
                .iter()
                .map(|&o| {
                    let out = match values.get(o) {
                        Some(Value::Uint(c)) => c.clone(),
                        Some(Value::Bool(b)) => <$fhe>::cast_from(b.clone()),
                        None => return Err(kind_error(o)),
                    };
                    out.squash_noise().map_err(|e| Error::Tfhe(e.to_string()))
                })
                .collect()
        }
    };
}

eval_width!(eval_u8, tfhe::FheUint8, u8);
eval_width!(eval_u16, tfhe::FheUint16, u16);
eval_width!(eval_u32, tfhe::FheUint32, u32);
eval_width!(eval_u64, tfhe::FheUint64, u64);
