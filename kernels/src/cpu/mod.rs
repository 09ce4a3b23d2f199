//! The CPU backend: rayon-parallel MSM and NTT. Always registered; it is also the reference
//! that other backends are measured and checked against.

#[cfg(target_arch = "x86_64")]
mod ifma;
mod msm;
mod ntt;
#[cfg(target_arch = "x86_64")]
mod ntt_ifma;

use std::sync::Arc;

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
#[cfg(not(target_arch = "x86_64"))]
use ark_ec::short_weierstrass::SWCurveConfig;
use ark_ec::short_weierstrass::{Affine, Projective};

pub use msm::{msm, window_bits};
pub use ntt::CpuDomain;

use crate::api::{
    check_log_size, check_msm_len, check_ntt_len, Backend, BackendId, Bases, DeviceInfo,
    DeviceKind, KernelError, MsmBackend, NttBackend, NttDomain, NttKind,
};
use crate::{G1, G2};

/// The CPU backend: `cpu:0` on rayon's global thread pool, or a lane (`cpu:N`) with a pool
/// of its own.
pub struct CpuBackend {
    info: DeviceInfo,
    /// A lane's own threads; `None`: rayon's global pool.
    pool: Option<rayon::ThreadPool>,
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuBackend {
    /// The backend `cpu:0`, using all of rayon's threads.
    pub fn new() -> Self {
        CpuBackend {
            info: DeviceInfo {
                id: BackendId("cpu:0".into()),
                kind: DeviceKind::Cpu,
                name: cpu_model().unwrap_or_else(|| "host CPU".into()),
                memory_bytes: host_memory_bytes().unwrap_or(0),
                parallelism: rayon::current_num_threads(),
            },
            pool: None,
        }
    }

    /// A lane of the host CPU: the backend `cpu:<index>` with `threads` threads of its own
    /// (see [`Backend::thread_pool`]) and a `1/lanes` share of the host's memory (the lanes
    /// share it, so each admits jobs against its part). A machine split into lanes runs one
    /// job on each at once, e.g. two parts of one proof, without their threads contending.
    pub fn lane(index: usize, threads: usize, lanes: usize) -> Result<Self, KernelError> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |i| format!("fornax-cpu{index}-{i}"))
            .build()
            .map_err(|e| KernelError::Device {
                device: BackendId(format!("cpu:{index}")),
                message: format!("starting its threads: {e}"),
            })?;
        let mut backend = CpuBackend::new();
        backend.info.id = BackendId(format!("cpu:{index}"));
        backend.info.parallelism = threads;
        backend.info.memory_bytes /= lanes.max(1) as u64;
        backend.pool = Some(pool);
        Ok(backend)
    }
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split(':').nth(1)?.trim().to_string())
}

fn host_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Which arithmetic the MSMs (G1 and G2) use on this machine: `"avx512-ifma"` or
/// `"scalar"` (IFMA needs the CPU's support and no `FORNAX_NO_IFMA` in the environment).
pub fn msm_path() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if ifma::available() {
        return "avx512-ifma";
    }
    "scalar"
}

/// Bases as the CPU keeps them: affine, and, where the CPU has AVX-512 IFMA, also packed for
/// the IFMA path (64 bytes a G1 point, 128 a G2 point, cache-line aligned), converted once
/// at upload.
#[cfg(target_arch = "x86_64")]
struct Resident<C: ifma::IfmaCurve> {
    affine: Vec<Affine<C>>,
    packed: Option<Vec<C::Packed>>,
}

/// Bases as the CPU keeps them: affine.
#[cfg(not(target_arch = "x86_64"))]
struct Resident<C: SWCurveConfig> {
    affine: Vec<Affine<C>>,
}

#[cfg(target_arch = "x86_64")]
impl<C: ifma::IfmaCurve<ScalarField = Fr>> Resident<C> {
    /// Keeps `bases`; with the IFMA form computed, only the few affine points that MSMs
    /// too small for it read (the first [`msm::NAIVE_THRESHOLD`]) stay, the rest are freed.
    fn new(bases: Vec<Affine<C>>) -> Self {
        let packed = ifma::available().then(|| msm::ifma_bases(&bases));
        let mut affine = bases;
        if packed.is_some() {
            affine.truncate(msm::NAIVE_THRESHOLD);
            affine.shrink_to_fit();
        }
        Resident { affine, packed }
    }

    fn msm(&self, scalars: &[Fr]) -> Projective<C> {
        match &self.packed {
            Some(packed) => msm::msm_ifma(&self.affine, packed, scalars),
            None => msm(&self.affine, scalars),
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl<C: SWCurveConfig<ScalarField = Fr>> Resident<C> {
    fn new(bases: Vec<Affine<C>>) -> Self {
        Resident { affine: bases }
    }

    fn msm(&self, scalars: &[Fr]) -> Projective<C> {
        msm(&self.affine, scalars)
    }
}

impl MsmBackend for CpuBackend {
    fn upload_g1(&self, bases: &[G1Affine]) -> Result<Bases<G1>, KernelError> {
        self.upload_g1_owned(bases.to_vec())
    }

    fn upload_g2(&self, bases: &[G2Affine]) -> Result<Bases<G2>, KernelError> {
        self.upload_g2_owned(bases.to_vec())
    }

    fn upload_g1_owned(&self, bases: Vec<G1Affine>) -> Result<Bases<G1>, KernelError> {
        let len = bases.len();
        Ok(Bases::new(
            self.info.id.clone(),
            len,
            Arc::new(Resident::new(bases)),
        ))
    }

    fn upload_g2_owned(&self, bases: Vec<G2Affine>) -> Result<Bases<G2>, KernelError> {
        let len = bases.len();
        Ok(Bases::new(
            self.info.id.clone(),
            len,
            Arc::new(Resident::new(bases)),
        ))
    }

    fn msm_g1(&self, bases: &Bases<G1>, scalars: &[Fr]) -> Result<G1Projective, KernelError> {
        check_msm_len(bases, scalars)?;
        let resident: &Resident<ark_bn254::g1::Config> = bases.resident(&self.info.id)?;
        Ok(resident.msm(scalars))
    }

    fn msm_g2(&self, bases: &Bases<G2>, scalars: &[Fr]) -> Result<G2Projective, KernelError> {
        check_msm_len(bases, scalars)?;
        let resident: &Resident<ark_bn254::g2::Config> = bases.resident(&self.info.id)?;
        Ok(resident.msm(scalars))
    }
}

impl NttBackend for CpuBackend {
    fn ntt_domain(&self, log_size: u32) -> Result<NttDomain, KernelError> {
        check_log_size(log_size)?;
        Ok(NttDomain::new(
            self.info.id.clone(),
            log_size,
            Arc::new(CpuDomain::new(log_size)),
        ))
    }

    fn ntt(&self, domain: &NttDomain, values: &mut [Fr], kind: NttKind) -> Result<(), KernelError> {
        check_ntt_len(domain, values)?;
        kind.validate()?;
        let d: &CpuDomain = domain.resident(&self.info.id)?;
        match kind {
            NttKind::Forward => d.forward(values),
            NttKind::Inverse => d.inverse(values),
            NttKind::CosetForward(g) => d.coset_forward(values, g),
            NttKind::CosetInverse(g) => d.coset_inverse(values, g),
        }
        Ok(())
    }

    fn evals_to_coset(
        &self,
        domain: &NttDomain,
        values: &mut [Fr],
        shift: Fr,
    ) -> Result<(), KernelError> {
        check_ntt_len(domain, values)?;
        NttKind::CosetForward(shift).validate()?;
        let d: &CpuDomain = domain.resident(&self.info.id)?;
        d.evals_to_coset(values, shift);
        Ok(())
    }
}

impl Backend for CpuBackend {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn thread_pool(&self) -> Option<&rayon::ThreadPool> {
        self.pool.as_ref()
    }
}
