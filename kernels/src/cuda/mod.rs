//! The CUDA backend: our own kernels (`kernels/cuda/*.cu`), compiled at run time by NVRTC
//! for the device found and driven through cudarc.
//!
//! Nothing about CUDA is needed to build: the driver (`libcuda`) and NVRTC are loaded when
//! [`probe`] runs. A machine without them, or without a device, registers no CUDA backend
//! and says why on stderr; nothing panics. `FORNAX_NO_CUDA=1` skips the probe.
//!
//! The kernels are compiled at most once per process and architecture ([`kernel_image`]).
//! Where `FORNAX_CUDA_CUBIN_DIR` names a folder holding a cubin built ahead of time from
//! exactly this source ([`cubin_file_name`]; `ops/gpu-check.sh stage` builds one with nvcc),
//! the driver loads that machine code and NVRTC is not needed; otherwise NVRTC compiles the
//! source to PTX, which is what a normal install does.
//!
//! * MSM: Pippenger with signed windows, a counting sort of the digits into buckets, a
//!   segmented bucket accumulation that is immune to skewed scalars, and a sliced window
//!   reduction ([`msm`]); bases stay resident across calls; an MSM larger than the device's
//!   free memory runs in chunks ([`plan`]).
//! * NTT: bit reversal and radix-2 stages fused ten at a time through shared memory, with
//!   the twiddles resident in the domain handle ([`ntt`]).

mod msm;
mod ntt;
pub mod source;

/// The memory plan of the MSM (shared with the wgpu backend).
pub use crate::plan;
/// The word layout of field elements and points (shared with the wgpu backend).
pub use crate::words;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use cudarc::driver::{
    result::DriverError, sys, CudaContext, CudaFunction, CudaSlice, CudaStream, DeviceRepr,
    LaunchConfig, PushKernelArg, ValidAsZeroBits,
};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileError, CompileOptions, Ptx};

use crate::api::{
    check_log_size, check_msm_len, check_ntt_len, Backend, BackendId, Bases, DeviceInfo,
    DeviceKind, KernelError, MsmBackend, NttBackend, NttDomain, NttKind,
};
use crate::{G1, G2};

pub use ntt::CudaDomain;

/// Why no CUDA backend is registered on this machine, or `None` if the driver is there
/// (devices may still fail to open, for instance when neither a matching cubin nor NVRTC is
/// found; [`probe`] reports those one by one).
pub fn unavailable_reason() -> Option<String> {
    if std::env::var_os("FORNAX_NO_CUDA").is_some_and(|v| v != "0") {
        return Some("FORNAX_NO_CUDA is set".into());
    }
    // SAFETY: only tries to dlopen the library; every other CUDA call panics without it.
    if !unsafe { sys::is_culib_present() } {
        return Some("no CUDA driver (libcuda) on this machine".into());
    }
    None
}

/// Whether NVRTC (`libnvrtc`) can be loaded on this machine.
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library; every NVRTC call panics without it.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// NVRTC's version as `major.minor`, if NVRTC is present.
pub fn nvrtc_version() -> Option<String> {
    nvrtc_present().then_some(())?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is loaded (checked above); the call writes two ints.
    let status = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    (status == cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS).then(|| format!("{major}.{minor}"))
}

/// The CUDA driver's version as `major.minor` (e.g. `13.0`), if the driver is present.
pub fn driver_version() -> Option<String> {
    unavailable_reason().is_none().then_some(())?;
    let mut v = 0;
    // SAFETY: the driver is loaded (checked above); the call writes one int.
    let status = unsafe { sys::cuDriverGetVersion(&mut v) };
    (status == sys::CUresult::CUDA_SUCCESS).then(|| format!("{}.{}", v / 1000, (v % 1000) / 10))
}

/// The kernels compiled for one architecture: the image the driver loads and where it came
/// from.
#[derive(Clone, Debug)]
pub struct KernelImage {
    /// PTX from NVRTC, or a cubin read from disk.
    ptx: Ptx,
    /// Where the image came from: `cubin <path>` or `NVRTC <version> PTX for compute_XY`.
    pub origin: String,
    /// How long producing the image took in this process (compiling or reading).
    pub took: Duration,
}

/// The file name of the cubin built ahead from this source for compute capability
/// `major.minor`: `fornax-sm_XY-<source hash>.cubin`, so a stale cubin is never loaded.
pub fn cubin_file_name(major: i32, minor: i32) -> String {
    format!("fornax-sm_{major}{minor}-{}.cubin", source::program_hash())
}

/// The kernels for compute capability `major.minor`, compiled at most once per process:
/// the cubin in `FORNAX_CUDA_CUBIN_DIR` whose name matches this source, else NVRTC's PTX.
/// The error says what was tried.
pub fn kernel_image(major: i32, minor: i32) -> Result<Arc<KernelImage>, String> {
    static IMAGES: OnceLock<Mutex<HashMap<(i32, i32), Arc<KernelImage>>>> = OnceLock::new();
    let images = IMAGES.get_or_init(Default::default);
    // Held while compiling, so that a second device of the same kind waits and reuses it.
    let mut images = images.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(image) = images.get(&(major, minor)) {
        return Ok(Arc::clone(image));
    }
    let started = Instant::now();
    let cubin = std::env::var_os("FORNAX_CUDA_CUBIN_DIR")
        .map(|dir| PathBuf::from(dir).join(cubin_file_name(major, minor)));
    let image = match cubin {
        Some(path) if path.is_file() => {
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("reading the cubin {}: {e}", path.display()))?;
            KernelImage {
                ptx: Ptx::from_binary(bytes),
                origin: format!("cubin {}", path.display()),
                took: started.elapsed(),
            }
        }
        cubin => {
            if let Some(path) = &cubin {
                tracing::info!(
                    cubin = %path.display(),
                    "no cubin for this source; compiling with NVRTC"
                );
            }
            if !nvrtc_present() {
                return Err(format!(
                    "neither NVRTC (libnvrtc) nor a cubin for sm_{major}{minor} of this source \
                     (set FORNAX_CUDA_CUBIN_DIR to a folder holding {})",
                    cubin_file_name(major, minor)
                ));
            }
            let ptx = compile_program(major, minor)
                .map_err(|log| format!("compiling the kernels with NVRTC: {log}"))?;
            let version = nvrtc_version().unwrap_or_else(|| "(version unknown)".into());
            KernelImage {
                ptx,
                origin: format!("NVRTC {version} PTX for compute_{major}{minor}"),
                took: started.elapsed(),
            }
        }
    };
    let image = Arc::new(image);
    images.insert((major, minor), Arc::clone(&image));
    Ok(image)
}

/// Where the time of a device's last MSM or NTT went: moving data between the host and the
/// device (with the host's conversion of it), and the device's kernels between the two.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PhaseTimes {
    /// Seconds spent converting and copying inputs to the device and results back.
    pub transfer_s: f64,
    /// Seconds from the end of the upload to the start of the download (kernels only).
    pub compute_s: f64,
}

/// Opens every CUDA device of this machine, compiling the kernels for each. Devices that
/// fail are left out with a message on stderr (unless `FORNAX_CUDA_QUIET` is set); no
/// driver means an empty list.
pub fn probe() -> Vec<CudaBackend> {
    let mut notes = Vec::new();
    let found = probe_noting(&mut notes);
    if std::env::var_os("FORNAX_CUDA_QUIET").is_none() {
        for n in notes {
            eprintln!("{n}");
        }
    }
    found
}

/// As [`probe`], with why devices are absent added to `notes` instead of printed.
pub fn probe_noting(notes: &mut Vec<String>) -> Vec<CudaBackend> {
    if let Some(reason) = unavailable_reason() {
        notes.push(format!("cuda: no CUDA backend: {reason}"));
        return Vec::new();
    }
    let count = match CudaContext::device_count() {
        Ok(n) => n.max(0) as usize,
        Err(e) => {
            notes.push(format!(
                "cuda: no CUDA backend: counting devices failed: {e}"
            ));
            return Vec::new();
        }
    };
    (0..count)
        .filter_map(|ordinal| match CudaBackend::open(ordinal) {
            Ok(b) => Some(b),
            Err(e) => {
                notes.push(format!("cuda:{ordinal}: not registered: {e}"));
                None
            }
        })
        .collect()
}

/// One CUDA device with its compiled kernels.
pub struct CudaBackend {
    info: DeviceInfo,
    dev: Arc<Device>,
    image: Arc<KernelImage>,
}

/// The device state shared by the backend and its resident handles.
pub(crate) struct Device {
    id: BackendId,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    kernels: HashMap<&'static str, CudaFunction>,
    /// One job at a time: the memory plan of a job assumes it has the device's free memory.
    busy: Mutex<()>,
    /// The phases of the last MSM or NTT.
    phases: Mutex<PhaseTimes>,
}

impl CudaBackend {
    /// Opens device `ordinal` and compiles the kernels for its architecture.
    pub fn open(ordinal: usize) -> Result<CudaBackend, KernelError> {
        let id = BackendId(format!("cuda:{ordinal}"));
        let fail = |what: &str, e: &dyn std::fmt::Display| KernelError::Device {
            device: id.clone(),
            message: format!("{what}: {e}"),
        };
        let ctx = CudaContext::new(ordinal).map_err(|e| fail("creating a context", &e))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(|e| fail("reading the compute capability", &e))?;
        let name = ctx.name().map_err(|e| fail("reading the name", &e))?;
        // SAFETY: the context above is current on this thread and the device is valid.
        let memory = unsafe { cudarc::driver::result::device::total_mem(ctx.cu_device()) }
            .map_err(|e| fail("reading the memory size", &e))?;
        let sms = ctx
            .attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_err(|e| fail("reading the SM count", &e))?;
        let image = kernel_image(major, minor).map_err(|e| fail("preparing the kernels", &e))?;
        let module = ctx
            .load_module(image.ptx.clone())
            .map_err(|e| fail(&format!("loading the kernels ({})", image.origin), &e))?;
        let mut kernels = HashMap::new();
        for name in source::KERNELS
            .iter()
            .chain(source::SELFTEST_KERNELS.iter())
        {
            let f = module
                .load_function(name)
                .map_err(|e| fail(&format!("loading kernel {name}"), &e))?;
            kernels.insert(*name, f);
        }
        let stream = ctx.default_stream();
        let info = DeviceInfo {
            id: id.clone(),
            kind: DeviceKind::Cuda,
            name: format!("{name} (sm_{major}{minor})"),
            memory_bytes: memory as u64,
            parallelism: sms.max(1) as usize,
        };
        Ok(CudaBackend {
            info,
            dev: Arc::new(Device {
                id,
                ctx,
                stream,
                kernels,
                busy: Mutex::new(()),
                phases: Mutex::new(PhaseTimes::default()),
            }),
            image,
        })
    }

    /// Where this device's kernels came from (a cubin's path or NVRTC's version) and how long
    /// producing them took in this process.
    pub fn kernel_image(&self) -> &KernelImage {
        &self.image
    }

    /// Where the time of this device's last MSM or NTT went.
    pub fn last_phases(&self) -> PhaseTimes {
        *self.dev.phases.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a self-test kernel (`selftest_fr`, `selftest_fq`, `selftest_fq2`, `selftest_g1`,
    /// `selftest_g2`) over the word arrays `a` and `b` of `n` items, returning `out_words`
    /// words per item. The conformance tests compare the result with arkworks.
    pub fn selftest(
        &self,
        kernel: &str,
        a: &[u32],
        b: &[u32],
        n: usize,
        out_words: usize,
    ) -> Result<Vec<u32>, KernelError> {
        let dev = &self.dev;
        let _guard = dev.lock();
        let a = dev.upload(a)?;
        let b = dev.upload(b)?;
        let mut out = dev.zeros::<u32>(n * out_words)?;
        let n32 = n as u32;
        let f = dev.kernel(kernel)?;
        let mut launch = dev.stream.launch_builder(f);
        launch.arg(&a).arg(&b).arg(&mut out).arg(&n32);
        // SAFETY: the kernel reads n items of `a` and `b` and writes n·out_words words.
        unsafe { launch.launch(grid(n, 256)) }.map_err(|e| dev.err(e))?;
        dev.download(&out)
    }
}

/// Compiles the program ([`source::program`]) with NVRTC into PTX for compute capability
/// `major.minor`; the driver turns it into the device's machine code when it is loaded.
/// Needs only NVRTC, no driver or device. The error is NVRTC's log.
pub fn compile_program(major: i32, minor: i32) -> Result<Ptx, String> {
    let options = CompileOptions {
        options: vec![
            format!("--gpu-architecture=compute_{major}{minor}"),
            "--std=c++17".into(),
        ],
        name: Some("fornax.cu".into()),
        ..Default::default()
    };
    compile_ptx_with_opts(source::program(), options).map_err(|e| match e {
        CompileError::CompileError { log, .. } => log.to_string_lossy().into_owned(),
        other => other.to_string(),
    })
}

/// Threads a block of `scan_tiles` (`SCAN_TILE` in `scan.cu`).
pub(crate) const SCAN_TILE: usize = 1024;

/// Stages fused into one NTT pass through shared memory (`NTT_MAX_FUSED` in `ntt.cu`); a
/// pass launches 2^(NTT_MAX_FUSED − 1) threads a block.
pub(crate) const NTT_MAX_FUSED: u32 = 10;

/// A one-dimensional launch of `n` threads in blocks of `block`.
pub(crate) fn grid(n: usize, block: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: ((n as u64).div_ceil(block as u64).max(1) as u32, 1, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    }
}

impl Device {
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.busy.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the device's queued work (so that a host clock can time it).
    pub(crate) fn sync(&self) -> Result<(), KernelError> {
        self.stream.synchronize().map_err(|e| self.err(e))
    }

    /// Records the phases of the job that just ended.
    pub(crate) fn record_phases(&self, transfer: Duration, compute: Duration) {
        *self.phases.lock().unwrap_or_else(|p| p.into_inner()) = PhaseTimes {
            transfer_s: transfer.as_secs_f64(),
            compute_s: compute.as_secs_f64(),
        };
    }

    pub(crate) fn err(&self, e: DriverError) -> KernelError {
        if e.0 == sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY {
            let needed = cudarc::driver::result::mem_get_info()
                .map(|(free, _)| free as u64 + 1)
                .unwrap_or(0);
            return KernelError::OutOfMemory {
                device: self.id.clone(),
                needed,
            };
        }
        KernelError::Device {
            device: self.id.clone(),
            message: e.to_string(),
        }
    }

    pub(crate) fn kernel(&self, name: &str) -> Result<&CudaFunction, KernelError> {
        self.kernels.get(name).ok_or_else(|| KernelError::Device {
            device: self.id.clone(),
            message: format!("kernel {name} is not loaded"),
        })
    }

    /// Free device memory in bytes.
    pub(crate) fn free_memory(&self) -> Result<u64, KernelError> {
        self.ctx.bind_to_thread().map_err(|e| self.err(e))?;
        cudarc::driver::result::mem_get_info()
            .map(|(free, _)| free as u64)
            .map_err(|e| self.err(e))
    }

    pub(crate) fn upload<T: DeviceRepr>(&self, data: &[T]) -> Result<CudaSlice<T>, KernelError> {
        if data.is_empty() {
            // A zero-byte allocation is not portable; keep one element instead.
            // SAFETY: never read; callers pass lengths separately.
            return unsafe { self.stream.alloc::<T>(1) }.map_err(|e| self.err(e));
        }
        self.stream.clone_htod(data).map_err(|e| self.err(e))
    }

    pub(crate) fn zeros<T: DeviceRepr + ValidAsZeroBits>(
        &self,
        len: usize,
    ) -> Result<CudaSlice<T>, KernelError> {
        self.stream
            .alloc_zeros::<T>(len.max(1))
            .map_err(|e| self.err(e))
    }

    pub(crate) fn download<T: DeviceRepr + Default + Clone>(
        &self,
        data: &CudaSlice<T>,
    ) -> Result<Vec<T>, KernelError> {
        self.stream.clone_dtoh(data).map_err(|e| self.err(e))
    }

    /// Exclusive prefix sum of the first `n` counts, in place; returns their total.
    pub(crate) fn scan(&self, data: &mut CudaSlice<u32>, n: usize) -> Result<u32, KernelError> {
        if n == 0 {
            return Ok(0);
        }
        const TILE: usize = SCAN_TILE;
        let tiles = n.div_ceil(TILE);
        let mut totals = self.zeros::<u32>(tiles)?;
        let n32 = n as u32;
        let mut launch = self.stream.launch_builder(self.kernel("scan_tiles")?);
        launch.arg(&mut *data).arg(&n32).arg(&mut totals);
        let cfg = LaunchConfig {
            grid_dim: (tiles as u32, 1, 1),
            block_dim: (TILE as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: `tiles` blocks of 1024 threads cover n; one total per tile.
        unsafe { launch.launch(cfg) }.map_err(|e| self.err(e))?;
        if tiles == 1 {
            let total = self
                .stream
                .clone_dtoh(&totals.slice(0..1))
                .map_err(|e| self.err(e))?;
            return Ok(total[0]);
        }
        let total = self.scan(&mut totals, tiles)?;
        let mut launch = self.stream.launch_builder(self.kernel("scan_add")?);
        launch.arg(&mut *data).arg(&n32).arg(&totals);
        // SAFETY: one thread per element; `totals` holds one offset per tile.
        unsafe { launch.launch(grid(n, 256)) }.map_err(|e| self.err(e))?;
        Ok(total)
    }
}

impl MsmBackend for CudaBackend {
    fn upload_g1(&self, bases: &[G1Affine]) -> Result<Bases<G1>, KernelError> {
        let resident = msm::ResidentBases::upload(&self.dev, bases)?;
        Ok(Bases::new(
            self.info.id.clone(),
            bases.len(),
            Arc::new(resident),
        ))
    }

    fn upload_g2(&self, bases: &[G2Affine]) -> Result<Bases<G2>, KernelError> {
        let resident = msm::ResidentBases::upload(&self.dev, bases)?;
        Ok(Bases::new(
            self.info.id.clone(),
            bases.len(),
            Arc::new(resident),
        ))
    }

    fn msm_g1(&self, bases: &Bases<G1>, scalars: &[Fr]) -> Result<G1Projective, KernelError> {
        check_msm_len(bases, scalars)?;
        let resident: &msm::ResidentBases = bases.resident(&self.info.id)?;
        let _guard = self.dev.lock();
        msm::msm::<G1>(&self.dev, resident, scalars)
    }

    fn msm_g2(&self, bases: &Bases<G2>, scalars: &[Fr]) -> Result<G2Projective, KernelError> {
        check_msm_len(bases, scalars)?;
        let resident: &msm::ResidentBases = bases.resident(&self.info.id)?;
        let _guard = self.dev.lock();
        msm::msm::<G2>(&self.dev, resident, scalars)
    }
}

impl NttBackend for CudaBackend {
    fn ntt_domain(&self, log_size: u32) -> Result<NttDomain, KernelError> {
        check_log_size(log_size)?;
        let _guard = self.dev.lock();
        let domain = CudaDomain::new(&self.dev, log_size)?;
        Ok(NttDomain::new(
            self.info.id.clone(),
            log_size,
            Arc::new(domain),
        ))
    }

    fn ntt(&self, domain: &NttDomain, values: &mut [Fr], kind: NttKind) -> Result<(), KernelError> {
        check_ntt_len(domain, values)?;
        kind.validate()?;
        let d: &CudaDomain = domain.resident(&self.info.id)?;
        let _guard = self.dev.lock();
        d.transform(&self.dev, values, kind)
    }

    fn evals_to_coset(
        &self,
        domain: &NttDomain,
        values: &mut [Fr],
        shift: Fr,
    ) -> Result<(), KernelError> {
        check_ntt_len(domain, values)?;
        NttKind::CosetForward(shift).validate()?;
        let d: &CudaDomain = domain.resident(&self.info.id)?;
        let _guard = self.dev.lock();
        d.evals_to_coset(&self.dev, values, shift)
    }
}

impl Backend for CudaBackend {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }
}
