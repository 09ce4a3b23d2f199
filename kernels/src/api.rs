//! The backend API: traits, handles, device descriptions and errors.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ff::{FftField, Field};

use crate::{G1, G2};

/// The largest NTT the API describes: BN254's Fr has 2-adicity 28.
pub const MAX_NTT_LOG_SIZE: u32 = 28;

/// Errors of the kernel layer.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// More scalars were given than the bases handle holds.
    #[error("MSM with {scalars} scalars but only {bases} bases are resident")]
    LengthMismatch {
        /// Bases held by the handle.
        bases: usize,
        /// Scalars passed to the call.
        scalars: usize,
    },
    /// An NTT input whose length is not the domain's size.
    #[error("NTT over a domain of size {domain} given {values} values")]
    SizeMismatch {
        /// The domain size.
        domain: usize,
        /// The number of values passed.
        values: usize,
    },
    /// A domain larger than the field supports.
    #[error("NTT of size 2^{log_size} exceeds the field's 2-adicity (2^{max})")]
    DomainTooLarge {
        /// Requested log2 size.
        log_size: u32,
        /// The maximum log2 size.
        max: u32,
    },
    /// A handle made by another backend was passed to this one.
    #[error("handle belongs to backend {owner}, not {this}")]
    ForeignHandle {
        /// The backend that created the handle.
        owner: BackendId,
        /// The backend it was passed to.
        this: BackendId,
    },
    /// A raw integer that is not a canonical field element (≥ r).
    #[error("value #{index} is not a field element: it is not below the modulus r")]
    ScalarOutOfRange {
        /// Position of the value in its input.
        index: usize,
    },
    /// The device ran out of memory for this job; it may succeed elsewhere or later.
    #[error("device {device} out of memory: {needed} bytes needed")]
    OutOfMemory {
        /// The device.
        device: BackendId,
        /// Bytes the job needed.
        needed: u64,
    },
    /// An argument the kernels cannot work with (e.g. a zero coset shift).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The device has no kernel for this operation (a wgpu adapter and G2, say); the
    /// registry composes such a device with one that has ([`crate::Composed`]).
    #[error("device {device} does not run {what}")]
    Unsupported {
        /// The device.
        device: BackendId,
        /// The operation it lacks.
        what: &'static str,
    },
    /// A device-level failure (driver error, lost device).
    #[error("device {device} failed: {message}")]
    Device {
        /// The device.
        device: BackendId,
        /// What the driver said.
        message: String,
    },
}

impl KernelError {
    /// Whether retrying the job (possibly on another device) may succeed; `false` means the
    /// input itself is wrong and the task should fail.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            KernelError::OutOfMemory { .. }
                | KernelError::Device { .. }
                | KernelError::Unsupported { .. }
        )
    }
}

/// A stable identifier of one backend instance on this machine, e.g. `cpu:0`, `cuda:1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendId(pub String);

impl fmt::Display for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// Host CPU cores.
    Cpu,
    /// An NVIDIA GPU through CUDA.
    Cuda,
    /// A GPU through wgpu (Vulkan, Metal, DX12).
    Wgpu,
    /// An FPGA card or its co-simulation.
    Fpga,
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
            DeviceKind::Wgpu => "wgpu",
            DeviceKind::Fpga => "fpga",
        })
    }
}

/// What a backend reports about its device.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// Identifier, unique on this machine.
    pub id: BackendId,
    /// The kind of device.
    pub kind: DeviceKind,
    /// Human-readable name (model).
    pub name: String,
    /// Memory the device can give to jobs, in bytes.
    pub memory_bytes: u64,
    /// Parallel lanes (CPU threads, GPU SMs).
    pub parallelism: usize,
}

/// Resident MSM bases of curve `C`, uploaded once with [`MsmBackend::upload_g1`] or
/// [`MsmBackend::upload_g2`] and reused by any number of MSMs. Dropping the last clone frees
/// the device memory.
pub struct Bases<C> {
    owner: BackendId,
    len: usize,
    resident: Arc<dyn Any + Send + Sync>,
    _curve: PhantomData<fn() -> C>,
}

impl<C> Clone for Bases<C> {
    fn clone(&self) -> Self {
        Bases {
            owner: self.owner.clone(),
            len: self.len,
            resident: Arc::clone(&self.resident),
            _curve: PhantomData,
        }
    }
}

impl<C> fmt::Debug for Bases<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bases")
            .field("owner", &self.owner)
            .field("len", &self.len)
            .finish()
    }
}

impl<C> Bases<C> {
    /// Wraps a backend's resident representation. Only backends call this.
    pub fn new(owner: BackendId, len: usize, resident: Arc<dyn Any + Send + Sync>) -> Self {
        Bases {
            owner,
            len,
            resident,
            _curve: PhantomData,
        }
    }

    /// Number of bases.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the handle holds no bases.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The backend that owns the resident data.
    pub fn owner(&self) -> &BackendId {
        &self.owner
    }

    /// The backend's resident representation, if `this` owns it and it has type `T`.
    pub fn resident<T: Any + Send + Sync>(&self, this: &BackendId) -> Result<&T, KernelError> {
        if &self.owner != this {
            return Err(KernelError::ForeignHandle {
                owner: self.owner.clone(),
                this: this.clone(),
            });
        }
        self.resident
            .downcast_ref::<T>()
            .ok_or_else(|| KernelError::Device {
                device: this.clone(),
                message: "bases handle holds data of an unexpected type".into(),
            })
    }
}

/// An NTT domain of size `2^log_size` with its twiddles resident on the owning device.
#[derive(Clone)]
pub struct NttDomain {
    owner: BackendId,
    log_size: u32,
    resident: Arc<dyn Any + Send + Sync>,
}

impl fmt::Debug for NttDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NttDomain")
            .field("owner", &self.owner)
            .field("log_size", &self.log_size)
            .finish()
    }
}

impl NttDomain {
    /// Wraps a backend's resident twiddles. Only backends call this.
    pub fn new(owner: BackendId, log_size: u32, resident: Arc<dyn Any + Send + Sync>) -> Self {
        NttDomain {
            owner,
            log_size,
            resident,
        }
    }

    /// log2 of the size.
    pub fn log_size(&self) -> u32 {
        self.log_size
    }

    /// The number of points, `2^log_size`.
    pub fn size(&self) -> usize {
        1usize << self.log_size
    }

    /// The domain's generator ω, a primitive `size()`-th root of unity (arkworks' choice,
    /// which is also snarkjs's).
    pub fn generator(&self) -> Fr {
        Fr::get_root_of_unity(self.size() as u64).expect("log_size was checked at creation")
    }

    /// The shift snarkjs and rapidsnark use for the H polynomial: a primitive
    /// `2·size()`-th root of unity, so that the coset holds the odd powers of it.
    pub fn groth16_coset_shift(&self) -> Fr {
        Fr::get_root_of_unity(2 * self.size() as u64).expect("2-adicity checked at creation")
    }

    /// The backend that owns the resident data.
    pub fn owner(&self) -> &BackendId {
        &self.owner
    }

    /// The backend's resident representation, if `this` owns it and it has type `T`.
    pub fn resident<T: Any + Send + Sync>(&self, this: &BackendId) -> Result<&T, KernelError> {
        if &self.owner != this {
            return Err(KernelError::ForeignHandle {
                owner: self.owner.clone(),
                this: this.clone(),
            });
        }
        self.resident
            .downcast_ref::<T>()
            .ok_or_else(|| KernelError::Device {
                device: this.clone(),
                message: "NTT domain handle holds data of an unexpected type".into(),
            })
    }
}

/// Which transform an NTT call performs. All of them take and return natural order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NttKind {
    /// Coefficients → evaluations on the subgroup `{ω^i}`.
    Forward,
    /// Evaluations on `{ω^i}` → coefficients.
    Inverse,
    /// Coefficients → evaluations on the coset `{g·ω^i}` for the given shift `g`.
    CosetForward(Fr),
    /// Evaluations on the coset `{g·ω^i}` → coefficients.
    CosetInverse(Fr),
}

impl NttKind {
    /// The shift of a coset transform, if this is one.
    pub fn shift(&self) -> Option<Fr> {
        match *self {
            NttKind::CosetForward(g) | NttKind::CosetInverse(g) => Some(g),
            _ => None,
        }
    }

    /// Checks that a coset shift is usable (non-zero).
    pub fn validate(&self) -> Result<(), KernelError> {
        match self.shift() {
            Some(g) if g.inverse().is_none() => {
                Err(KernelError::InvalidArgument("coset shift must be non-zero"))
            }
            _ => Ok(()),
        }
    }
}

/// Multi-scalar multiplication `Σ sᵢ·Pᵢ` over BN254 G1 and G2 with resident bases.
///
/// A call with `k` scalars uses the first `k` bases of the handle. Scalars are Fr elements
/// and therefore always below r; raw integers are converted with [`crate::scalar`], which
/// rejects values ≥ r.
pub trait MsmBackend: Send + Sync {
    /// Uploads G1 bases; points at infinity are allowed.
    fn upload_g1(&self, bases: &[G1Affine]) -> Result<Bases<G1>, KernelError>;
    /// Uploads G2 bases; points at infinity are allowed.
    fn upload_g2(&self, bases: &[G2Affine]) -> Result<Bases<G2>, KernelError>;
    /// [`upload_g1`](Self::upload_g1) taking the bases by value, so that a backend that
    /// keeps them in host memory (the CPU) keeps these instead of a copy.
    fn upload_g1_owned(&self, bases: Vec<G1Affine>) -> Result<Bases<G1>, KernelError> {
        self.upload_g1(&bases)
    }
    /// [`upload_g2`](Self::upload_g2) taking the bases by value (see
    /// [`upload_g1_owned`](Self::upload_g1_owned)).
    fn upload_g2_owned(&self, bases: Vec<G2Affine>) -> Result<Bases<G2>, KernelError> {
        self.upload_g2(&bases)
    }
    /// `Σ scalars[i] · bases[i]` in G1.
    fn msm_g1(&self, bases: &Bases<G1>, scalars: &[Fr]) -> Result<G1Projective, KernelError>;
    /// `Σ scalars[i] · bases[i]` in G2.
    fn msm_g2(&self, bases: &Bases<G2>, scalars: &[Fr]) -> Result<G2Projective, KernelError>;

    /// Several G1 MSMs over the same bases, one result per scalar vector.
    fn msm_g1_batch(
        &self,
        bases: &Bases<G1>,
        scalars: &[&[Fr]],
    ) -> Result<Vec<G1Projective>, KernelError> {
        scalars.iter().map(|s| self.msm_g1(bases, s)).collect()
    }

    /// Several G2 MSMs over the same bases, one result per scalar vector.
    fn msm_g2_batch(
        &self,
        bases: &Bases<G2>,
        scalars: &[&[Fr]],
    ) -> Result<Vec<G2Projective>, KernelError> {
        scalars.iter().map(|s| self.msm_g2(bases, s)).collect()
    }
}

/// Number-theoretic transforms over BN254 Fr with resident twiddles.
pub trait NttBackend: Send + Sync {
    /// Prepares (and keeps resident) the twiddles of the domain of size `2^log_size`.
    fn ntt_domain(&self, log_size: u32) -> Result<NttDomain, KernelError>;

    /// Transforms `values` (length `domain.size()`) in place.
    fn ntt(&self, domain: &NttDomain, values: &mut [Fr], kind: NttKind) -> Result<(), KernelError>;

    /// Transforms several vectors of the domain's size.
    fn ntt_batch(
        &self,
        domain: &NttDomain,
        values: &mut [&mut [Fr]],
        kind: NttKind,
    ) -> Result<(), KernelError> {
        values
            .iter_mut()
            .try_for_each(|v| self.ntt(domain, v, kind))
    }

    /// Evaluations on the domain → evaluations on the coset `shift·{ω^i}` of the same
    /// polynomial: the inverse NTT followed by a coset NTT. Groth16's H polynomial uses this
    /// three times per proof; a backend may fuse the two steps.
    fn evals_to_coset(
        &self,
        domain: &NttDomain,
        values: &mut [Fr],
        shift: Fr,
    ) -> Result<(), KernelError> {
        self.ntt(domain, values, NttKind::Inverse)?;
        self.ntt(domain, values, NttKind::CosetForward(shift))
    }
}

/// A device backend: its description plus the kernels it runs.
pub trait Backend: MsmBackend + NttBackend {
    /// What the device is.
    fn info(&self) -> &DeviceInfo;

    /// Whether the device runs G2 MSMs itself; one that does not answers
    /// [`KernelError::Unsupported`] and is composed with one that does.
    fn runs_g2(&self) -> bool {
        true
    }

    /// Whether the device runs NTTs itself; one that does not answers
    /// [`KernelError::Unsupported`] and is composed with one that does.
    fn runs_ntt(&self) -> bool {
        true
    }

    /// Whether the device is a simulation (the FPGA engine's co-simulation): bit-exact but
    /// far too slow to prove with, so it is used only where it is named
    /// ([`crate::DeviceRegistry::proving`] and [`crate::DeviceRegistry::preferred`] pass it
    /// over).
    fn is_simulation(&self) -> bool {
        false
    }

    /// Clock cycles of this device's last kernel run, where the device counts them (the
    /// FPGA co-simulation): what a simulation's wall time cannot tell. `None` elsewhere.
    fn last_run_cycles(&self) -> Option<u64> {
        None
    }

    /// The host threads this device's work runs on, when it has a pool of its own (a CPU
    /// lane, [`crate::CpuBackend::lane`]); `None`: rayon's global pool. Callers that run a
    /// whole proof on the device (the prover's executor) run it inside this pool, so that
    /// two lanes of one machine do not share threads.
    fn thread_pool(&self) -> Option<&rayon::ThreadPool> {
        None
    }
}

/// Checks an NTT call's length against its domain.
pub fn check_ntt_len(domain: &NttDomain, values: &[Fr]) -> Result<(), KernelError> {
    if values.len() != domain.size() {
        return Err(KernelError::SizeMismatch {
            domain: domain.size(),
            values: values.len(),
        });
    }
    Ok(())
}

/// Checks an MSM call's length against its bases.
pub fn check_msm_len<C>(bases: &Bases<C>, scalars: &[Fr]) -> Result<(), KernelError> {
    if scalars.len() > bases.len() {
        return Err(KernelError::LengthMismatch {
            bases: bases.len(),
            scalars: scalars.len(),
        });
    }
    Ok(())
}

/// Checks a requested domain size against the field's 2-adicity.
pub fn check_log_size(log_size: u32) -> Result<(), KernelError> {
    if log_size > MAX_NTT_LOG_SIZE {
        return Err(KernelError::DomainTooLarge {
            log_size,
            max: MAX_NTT_LOG_SIZE,
        });
    }
    Ok(())
}
