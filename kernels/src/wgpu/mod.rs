//! The wgpu backend: our WGSL kernels (`kernels/wgsl/*.wgsl`) on any GPU that wgpu drives
//! through Vulkan, Metal or DX12 — AMD, Intel, Apple and NVIDIA cards — and, for tests, on
//! a software Vulkan (Mesa's lavapipe).
//!
//! * MSM over G1: the CUDA backend's algorithm (signed windows, a counting sort of
//!   the digits, segmented bucket accumulation immune to skewed scalars, sliced window
//!   reduction; see `msm.wgsl`), with the bases resident across calls and passes sized so
//!   that every buffer fits the adapter's binding limit and the memory budget ([`msm`]).
//! * MSM over G2: the same algorithm and kernels instantiated over Fq2, on hardware
//!   adapters. A software Vulkan takes minutes to compile each fully inlined Fq2 curve
//!   kernel, so on software adapters the backend answers [`KernelError::Unsupported`] for
//!   G2 and [`Backend::runs_g2`] is false (the registry composes it with the CPU backend,
//!   [`crate::Composed`]) unless `FORNAX_WGPU_G2=1` or [`ProbeOptions::g2_on_software`]
//!   asks for it; the G2 conformance suite runs in the GPU check (`gpu_check`'s
//!   `wgpu-conformance` stage).
//! * NTT over Fr: bit reversal, then radix-2 stages fused nine at a time in workgroup
//!   memory, twiddles resident in the domain handle ([`ntt`]).
//! * Field arithmetic in eight 32-bit words, with 64-bit shader integers where the adapter
//!   offers them (SHADER_INT64) and 16-bit halves where it does not ([`source::Mac`]).
//!
//! [`probe`] finds the adapters. No adapter, no Vulkan loader or a failed device means no
//! backend registered, with the reason on stderr; nothing panics. Software adapters (CPU
//! "GPUs" such as lavapipe, ~170× slower than our CPU backend) are left out unless asked for
//! (`FORNAX_WGPU_SOFTWARE=1`, or [`ProbeOptions::allow_software`]), so that a machine with
//! Mesa installed does not send its proofs there. `FORNAX_NO_WGPU=1` skips the probe;
//! `FORNAX_WGPU_NO_INT64=1` forces the 32-bit arithmetic; `FORNAX_WGPU_MEMORY_MB` sets the
//! memory budget (wgpu cannot ask a device how much memory it has; default 4096).

mod msm;
mod ntt;
pub mod source;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ::wgpu as wg;
use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use wg::util::DeviceExt;

use crate::api::{
    check_log_size, check_msm_len, check_ntt_len, Backend, BackendId, Bases, DeviceInfo,
    DeviceKind, KernelError, MsmBackend, NttBackend, NttDomain, NttKind,
};
use crate::{G1, G2};

pub use ntt::WgpuDomain;
pub use source::Mac;

/// The memory budget when `FORNAX_WGPU_MEMORY_MB` is not set, in MiB.
const DEFAULT_BUDGET_MB: u64 = 4096;
/// Most workgroups in one dimension of a dispatch (WebGPU's guaranteed limit).
const MAX_GROUPS_X: u32 = 65535;

/// Which adapters [`probe`] opens.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProbeOptions {
    /// Open software adapters too (lavapipe, WARP, SwiftShader): for tests, not for work.
    pub allow_software: bool,
    /// Compute field products in 32-bit words even where 64-bit integers are available.
    pub force_int32: bool,
    /// Run G2 MSMs on software adapters too (their Fq2 kernels take minutes to compile).
    pub g2_on_software: bool,
}

impl ProbeOptions {
    /// The options the environment asks for (`FORNAX_WGPU_SOFTWARE`, `FORNAX_WGPU_NO_INT64`).
    pub fn from_env() -> Self {
        let on = |name: &str| std::env::var_os(name).is_some_and(|v| v != "0" && !v.is_empty());
        ProbeOptions {
            allow_software: on("FORNAX_WGPU_SOFTWARE"),
            force_int32: on("FORNAX_WGPU_NO_INT64"),
            g2_on_software: on("FORNAX_WGPU_G2"),
        }
    }
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v != "0" && !v.is_empty())
}

/// The adapters wgpu sees on this machine (name, kind, API), whether or not [`probe`] would
/// open them; for `fornax devices` and for the reasons a probe gives.
pub fn adapters() -> Vec<wg::AdapterInfo> {
    if env_set("FORNAX_NO_WGPU") {
        return Vec::new();
    }
    let instance = instance();
    pollster::block_on(instance.enumerate_adapters(wg::Backends::PRIMARY))
        .iter()
        .map(|a| a.get_info())
        .collect()
}

fn instance() -> wg::Instance {
    let mut desc = wg::InstanceDescriptor::new_without_display_handle();
    desc.backends = wg::Backends::PRIMARY;
    wg::Instance::new(desc)
}

/// Opens every usable adapter of this machine as a backend, `wgpu:0`, `wgpu:1`, … in the
/// order wgpu lists them. Adapters left out, and why, go to stderr (unless
/// `FORNAX_WGPU_QUIET` is set).
pub fn probe(options: ProbeOptions) -> Vec<WgpuBackend> {
    let mut notes = Vec::new();
    let found = probe_noting(options, &mut notes);
    if !env_set("FORNAX_WGPU_QUIET") {
        for n in notes {
            eprintln!("{n}");
        }
    }
    found
}

/// As [`probe`], with why adapters are absent added to `notes` instead of printed.
pub fn probe_noting(options: ProbeOptions, notes: &mut Vec<String>) -> Vec<WgpuBackend> {
    if env_set("FORNAX_NO_WGPU") {
        return Vec::new();
    }
    if !options.allow_software && !gpu_device_nodes_present() {
        // Loading Vulkan's drivers to find nothing costs tens of MiB of resident memory
        // (Mesa's link LLVM) in every process; without a GPU device node there is no
        // hardware adapter to find, and software ones are not registered anyway.
        notes.push(
            "wgpu: no GPU device node (/dev/dri/renderD*, /dev/nvidia*): adapters not probed"
                .into(),
        );
        return Vec::new();
    }
    let instance = instance();
    let adapters = pollster::block_on(instance.enumerate_adapters(wg::Backends::PRIMARY));
    if adapters.is_empty() {
        notes
            .push("wgpu: no wgpu backend: no Vulkan, Metal or DX12 adapter on this machine".into());
    }
    let mut out = Vec::new();
    for adapter in adapters {
        let info = adapter.get_info();
        if info.device_type == wg::DeviceType::Cpu && !options.allow_software {
            notes.push(format!(
                "wgpu: {} ({}) is a software adapter: not registered \
                 (FORNAX_WGPU_SOFTWARE=1 registers it, for tests)",
                info.name, info.driver
            ));
            continue;
        }
        let id = BackendId(format!("wgpu:{}", out.len()));
        match WgpuBackend::open(id.clone(), adapter, options) {
            Ok(b) => out.push(b),
            Err(e) => notes.push(format!("{id}: {} not registered: {e}", info.name)),
        }
    }
    out
}

/// Whether this machine shows a GPU to user space: a DRM render node or an NVIDIA device
/// node on Linux; elsewhere (Metal, DX12) always, as those have no such test.
fn gpu_device_nodes_present() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    let render_node = std::fs::read_dir("/dev/dri").is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    });
    render_node || std::path::Path::new("/dev/nvidia0").exists()
}

/// One adapter with its compiled kernels.
pub struct WgpuBackend {
    info: DeviceInfo,
    gpu: Arc<Gpu>,
    /// Whether G2 MSMs run here (hardware adapters, or software ones when asked).
    g2: bool,
    /// Whether the adapter is a software one.
    software: bool,
}

/// The device state shared by the backend and its resident handles.
pub(crate) struct Gpu {
    pub(crate) id: BackendId,
    device: wg::Device,
    queue: wg::Queue,
    /// The WGSL of every kernel, compiled on first use (a software Vulkan takes seconds for
    /// each curve kernel, and a job needs only some of them).
    sources: HashMap<String, String>,
    pipelines: Mutex<HashMap<String, wg::ComputePipeline>>,
    pub(crate) limits: wg::Limits,
    /// Bytes one job may use (`FORNAX_WGPU_MEMORY_MB`).
    pub(crate) budget: u64,
    /// One job at a time: a job's memory plan assumes it has the budget to itself.
    busy: Mutex<()>,
    /// The first error wgpu reported outside an error scope (a lost device, say).
    failure: Arc<Mutex<Option<String>>>,
}

impl WgpuBackend {
    /// Opens `adapter` as backend `id`; its kernels compile on first use.
    pub fn open(
        id: BackendId,
        adapter: wg::Adapter,
        options: ProbeOptions,
    ) -> Result<WgpuBackend, KernelError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| KernelError::Device {
            device: id.clone(),
            message: format!("{what}: {e}"),
        };
        let info = adapter.get_info();
        let software = info.device_type == wg::DeviceType::Cpu;
        let g2 = !software || options.g2_on_software;
        let int64 = adapter.features().contains(wg::Features::SHADER_INT64) && !options.force_int32;
        let mut desc = wg::DeviceDescriptor {
            label: Some("fornax"),
            required_features: wg::Features::empty(),
            // Everything the adapter can do: large buffers and bindings matter for the MSM.
            required_limits: adapter.limits(),
            ..Default::default()
        };
        if int64 {
            desc.required_features |= wg::Features::SHADER_INT64;
        }
        let (device, queue) = pollster::block_on(adapter.request_device(&desc))
            .map_err(|e| fail("requesting a device", &e))?;
        let failure: Arc<Mutex<Option<String>>> = Arc::default();
        let sink = Arc::clone(&failure);
        device.on_uncaptured_error(Arc::new(move |e: wg::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| e.to_string());
        }));
        let sink = Arc::clone(&failure);
        device.set_device_lost_callback(move |reason, message| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| format!("device lost ({reason:?}): {message}"));
        });
        let mac = if int64 { Mac::Int64 } else { Mac::Int32 };
        let sources = source::kernels(mac)
            .into_iter()
            .map(|k| (k.name, k.wgsl))
            .collect();
        let budget = std::env::var("FORNAX_WGPU_MEMORY_MB")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(DEFAULT_BUDGET_MB)
            << 20;
        let limits = device.limits();
        let info = DeviceInfo {
            id: id.clone(),
            kind: DeviceKind::Wgpu,
            name: format!(
                "{} ({:?}, {}, {})",
                info.name,
                info.backend,
                info.driver,
                if int64 { "int64" } else { "int32" }
            ),
            memory_bytes: budget,
            parallelism: 1,
        };
        Ok(WgpuBackend {
            info,
            gpu: Arc::new(Gpu {
                id,
                device,
                queue,
                sources,
                pipelines: Mutex::default(),
                limits,
                budget,
                busy: Mutex::new(()),
                failure,
            }),
            g2,
            software,
        })
    }

    /// Refuses G2 work on an adapter that does not run it.
    fn check_g2(&self) -> Result<(), KernelError> {
        if self.g2 {
            return Ok(());
        }
        Err(KernelError::Unsupported {
            device: self.info.id.clone(),
            what: "G2 MSMs on a software adapter (FORNAX_WGPU_G2=1 runs them)",
        })
    }

    /// Whether this is a software adapter (a CPU "GPU" such as lavapipe).
    pub fn is_software(&self) -> bool {
        self.software
    }

    /// Whether the kernels use 64-bit shader integers on this adapter.
    pub fn uses_int64(&self) -> bool {
        self.info.name.ends_with("int64)")
    }

    /// Runs a self-test kernel (`selftest_field_fr`, `selftest_field_fq`, `selftest_fq2`,
    /// `selftest_curve_g1`) over the word arrays `a` and `b` of `n`
    /// items, returning `out_words` words per item; the conformance tests compare the
    /// result with arkworks.
    pub fn selftest(
        &self,
        kernel: &str,
        a: &[u32],
        b: &[u32],
        n: usize,
        out_words: usize,
    ) -> Result<Vec<u32>, KernelError> {
        self.selftest_with(kernel, a, b, n, out_words, &[n as u32])
    }

    /// [`WgpuBackend::selftest`] with explicit parameter words (p0 = n first).
    pub fn selftest_with(
        &self,
        kernel: &str,
        a: &[u32],
        b: &[u32],
        n: usize,
        out_words: usize,
        params: &[u32],
    ) -> Result<Vec<u32>, KernelError> {
        self.gpu.job(|gpu| {
            let a = gpu.upload(bytemuck::cast_slice(a))?;
            let b = gpu.upload(bytemuck::cast_slice(b))?;
            let out = gpu.zeros((n * out_words * 4) as u64)?;
            let mut cmd = gpu.commands();
            cmd.dispatch(
                kernel,
                params,
                &[whole(&a), whole(&b), whole(&out)],
                groups(n as u64, 64),
            )?;
            cmd.submit();
            gpu.read_u32(&out, 0, n * out_words)
        })
    }
}

/// The whole of a buffer as a binding.
pub(crate) fn whole(buffer: &wg::Buffer) -> wg::BufferBinding<'_> {
    buffer.as_entire_buffer_binding()
}

/// Workgroups for `threads` threads in groups of `size`.
pub(crate) fn groups(threads: u64, size: u64) -> u32 {
    threads.div_ceil(size).max(1) as u32
}

/// A command encoder with the dispatches of one step.
pub(crate) struct Commands<'a> {
    gpu: &'a Gpu,
    encoder: wg::CommandEncoder,
}

impl Commands<'_> {
    /// Dispatches `kernel` over `groups` workgroups (laid out in rows of at most 65535), its
    /// parameters in binding 0 and `buffers` in bindings 1, 2, ….
    pub(crate) fn dispatch(
        &mut self,
        kernel: &str,
        params: &[u32],
        buffers: &[wg::BufferBinding<'_>],
        groups: u32,
    ) -> Result<(), KernelError> {
        let gpu = self.gpu;
        let pipeline = &gpu.pipeline(kernel)?;
        let mut words = [0u32; 8];
        words[..params.len()].copy_from_slice(params);
        let uniform = gpu
            .device
            .create_buffer_init(&wg::util::BufferInitDescriptor {
                label: Some("params"),
                contents: bytemuck::cast_slice(&words),
                usage: wg::BufferUsages::UNIFORM,
            });
        let mut entries = vec![wg::BindGroupEntry {
            binding: 0,
            resource: uniform.as_entire_binding(),
        }];
        for (k, b) in buffers.iter().enumerate() {
            entries.push(wg::BindGroupEntry {
                binding: k as u32 + 1,
                resource: wg::BindingResource::Buffer(b.clone()),
            });
        }
        let group = gpu.device.create_bind_group(&wg::BindGroupDescriptor {
            label: Some(kernel),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let x = groups.clamp(1, MAX_GROUPS_X);
        let y = groups.div_ceil(x).max(1);
        let mut pass = self.encoder.begin_compute_pass(&wg::ComputePassDescriptor {
            label: Some(kernel),
            timestamp_writes: None,
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(x, y, 1);
        Ok(())
    }

    /// Copies `bytes` bytes from the start of `from` to the start of `to`.
    pub(crate) fn copy(&mut self, from: &wg::Buffer, to: &wg::Buffer, bytes: u64) {
        self.encoder.copy_buffer_to_buffer(from, 0, to, 0, bytes);
    }

    /// Sends the commands to the device (they run in order with later submissions).
    pub(crate) fn submit(self) {
        self.gpu.queue.submit([self.encoder.finish()]);
    }
}

impl Gpu {
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.busy.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one job under the device lock, turning what wgpu reports into kernel errors:
    /// running out of memory is retryable, anything else is a device failure.
    pub(crate) fn job<T>(
        &self,
        f: impl FnOnce(&Gpu) -> Result<T, KernelError>,
    ) -> Result<T, KernelError> {
        let _guard = self.lock();
        if let Some(message) = self.failure() {
            return Err(KernelError::Device {
                device: self.id.clone(),
                message,
            });
        }
        let validation = self.device.push_error_scope(wg::ErrorFilter::Validation);
        let memory = self.device.push_error_scope(wg::ErrorFilter::OutOfMemory);
        let result = f(self);
        let oom = pollster::block_on(memory.pop());
        let invalid = pollster::block_on(validation.pop());
        if let Some(e) = oom {
            tracing::warn!(device = %self.id, error = %e, "out of memory");
            return Err(KernelError::OutOfMemory {
                device: self.id.clone(),
                needed: self.budget,
            });
        }
        if let Some(e) = invalid {
            return Err(KernelError::Device {
                device: self.id.clone(),
                message: e.to_string(),
            });
        }
        if let Some(message) = self.failure() {
            return Err(KernelError::Device {
                device: self.id.clone(),
                message,
            });
        }
        result
    }

    /// The pipeline of `kernel`, compiled now if this is its first use. A compilation
    /// error surfaces through the job's error scope.
    fn pipeline(&self, kernel: &str) -> Result<wg::ComputePipeline, KernelError> {
        let mut compiled = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = compiled.get(kernel) {
            return Ok(p.clone());
        }
        let wgsl = self
            .sources
            .get(kernel)
            .ok_or_else(|| KernelError::Device {
                device: self.id.clone(),
                message: format!("no kernel named {kernel}"),
            })?;
        let module = self
            .device
            .create_shader_module(wg::ShaderModuleDescriptor {
                label: Some(kernel),
                source: wg::ShaderSource::Wgsl(wgsl.as_str().into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wg::ComputePipelineDescriptor {
                label: Some(kernel),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
        compiled.insert(kernel.to_string(), pipeline.clone());
        Ok(pipeline)
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn commands(&self) -> Commands<'_> {
        Commands {
            gpu: self,
            encoder: self
                .device
                .create_command_encoder(&wg::CommandEncoderDescriptor { label: None }),
        }
    }

    fn check_size(&self, bytes: u64) -> Result<(), KernelError> {
        if bytes > self.limits.max_buffer_size {
            return Err(KernelError::OutOfMemory {
                device: self.id.clone(),
                needed: bytes,
            });
        }
        Ok(())
    }

    /// A zeroed storage buffer of `bytes` bytes (at least 4: bindings cannot be empty).
    pub(crate) fn zeros(&self, bytes: u64) -> Result<wg::Buffer, KernelError> {
        let size = bytes.max(4).next_multiple_of(4);
        self.check_size(size)?;
        Ok(self.device.create_buffer(&wg::BufferDescriptor {
            label: None,
            size,
            usage: wg::BufferUsages::STORAGE
                | wg::BufferUsages::COPY_SRC
                | wg::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }))
    }

    /// A storage buffer holding `data` (at least 4 bytes).
    pub(crate) fn upload(&self, data: &[u8]) -> Result<wg::Buffer, KernelError> {
        if data.is_empty() {
            return self.zeros(4);
        }
        self.check_size(data.len() as u64)?;
        Ok(self
            .device
            .create_buffer_init(&wg::util::BufferInitDescriptor {
                label: None,
                contents: data,
                usage: wg::BufferUsages::STORAGE
                    | wg::BufferUsages::COPY_SRC
                    | wg::BufferUsages::COPY_DST,
            }))
    }

    /// Reads `words` 32-bit words of `buffer` from word `first`, waiting for the work
    /// submitted before.
    pub(crate) fn read_u32(
        &self,
        buffer: &wg::Buffer,
        first: usize,
        words: usize,
    ) -> Result<Vec<u32>, KernelError> {
        let bytes = 4 * words as u64;
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wg::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wg::BufferUsages::MAP_READ | wg::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wg::CommandEncoderDescriptor { label: None });
        encoder.copy_buffer_to_buffer(buffer, 4 * first as u64, &staging, 0, bytes);
        self.queue.submit([encoder.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wg::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wg::PollType::Wait {
                submission_index: None,
                timeout: None,
            })
            .map_err(|e| self.device_error(&e))?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.device_error(&e)),
            Err(_) => return Err(self.device_error(&"the read-back never completed")),
        }
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| self.device_error(&e))?;
        let out = bytemuck::cast_slice::<u8, u32>(&view).to_vec();
        drop(view);
        staging.unmap();
        Ok(out)
    }

    pub(crate) fn device_error(&self, e: &dyn std::fmt::Display) -> KernelError {
        KernelError::Device {
            device: self.id.clone(),
            message: e.to_string(),
        }
    }
}

impl MsmBackend for WgpuBackend {
    fn upload_g1(&self, bases: &[G1Affine]) -> Result<Bases<G1>, KernelError> {
        let resident = self.gpu.job(|gpu| msm::ResidentBases::upload(gpu, bases))?;
        Ok(Bases::new(
            self.info.id.clone(),
            bases.len(),
            Arc::new(resident),
        ))
    }

    fn upload_g2(&self, bases: &[G2Affine]) -> Result<Bases<G2>, KernelError> {
        self.check_g2()?;
        let resident = self
            .gpu
            .job(|gpu| msm::ResidentBases::upload::<G2>(gpu, bases))?;
        Ok(Bases::new(
            self.info.id.clone(),
            bases.len(),
            Arc::new(resident),
        ))
    }

    fn msm_g1(&self, bases: &Bases<G1>, scalars: &[Fr]) -> Result<G1Projective, KernelError> {
        check_msm_len(bases, scalars)?;
        let resident: &msm::ResidentBases = bases.resident(&self.info.id)?;
        self.gpu.job(|gpu| msm::msm::<G1>(gpu, resident, scalars))
    }

    fn msm_g2(&self, bases: &Bases<G2>, scalars: &[Fr]) -> Result<G2Projective, KernelError> {
        self.check_g2()?;
        check_msm_len(bases, scalars)?;
        let resident: &msm::ResidentBases = bases.resident(&self.info.id)?;
        self.gpu.job(|gpu| msm::msm::<G2>(gpu, resident, scalars))
    }
}

impl NttBackend for WgpuBackend {
    fn ntt_domain(&self, log_size: u32) -> Result<NttDomain, KernelError> {
        check_log_size(log_size)?;
        let domain = self.gpu.job(|gpu| WgpuDomain::new(gpu, log_size))?;
        Ok(NttDomain::new(
            self.info.id.clone(),
            log_size,
            Arc::new(domain),
        ))
    }

    fn ntt(&self, domain: &NttDomain, values: &mut [Fr], kind: NttKind) -> Result<(), KernelError> {
        check_ntt_len(domain, values)?;
        kind.validate()?;
        let d: &WgpuDomain = domain.resident(&self.info.id)?;
        self.gpu.job(|gpu| d.transform(gpu, values, kind))
    }

    fn evals_to_coset(
        &self,
        domain: &NttDomain,
        values: &mut [Fr],
        shift: Fr,
    ) -> Result<(), KernelError> {
        check_ntt_len(domain, values)?;
        NttKind::CosetForward(shift).validate()?;
        let d: &WgpuDomain = domain.resident(&self.info.id)?;
        self.gpu.job(|gpu| d.evals_to_coset(gpu, values, shift))
    }
}

impl Backend for WgpuBackend {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn runs_g2(&self) -> bool {
        self.g2
    }
}
