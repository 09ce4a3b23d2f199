//! The devices of this machine. The CPU is always present; device backends that find no
//! device (no driver, no card) are simply not registered.

use std::sync::Arc;

use crate::api::{Backend, BackendId, DeviceKind};
use crate::cpu::CpuBackend;

/// The backends available on this machine, CPU first.
#[derive(Clone)]
pub struct DeviceRegistry {
    backends: Vec<Arc<dyn Backend>>,
}

impl DeviceRegistry {
    /// Probes this machine: the CPU, then every CUDA device whose kernels compile, then
    /// every wgpu adapter (Vulkan, Metal, DX12; software adapters only with
    /// `FORNAX_WGPU_SOFTWARE=1`). A machine without a driver or a device simply has no such
    /// backend (the reason goes to stderr); nothing panics.
    pub fn discover() -> Self {
        let mut backends: Vec<Arc<dyn Backend>> = vec![Arc::new(CpuBackend::new())];
        for cuda in crate::cuda::probe() {
            backends.push(Arc::new(cuda));
        }
        for wgpu in crate::wgpu::probe(crate::wgpu::ProbeOptions::from_env()) {
            backends.push(Arc::new(wgpu));
        }
        DeviceRegistry { backends }
    }

    /// A registry holding exactly these backends (for tests and custom set-ups).
    pub fn with_backends(backends: Vec<Arc<dyn Backend>>) -> Self {
        DeviceRegistry { backends }
    }

    /// All registered backends.
    pub fn backends(&self) -> &[Arc<dyn Backend>] {
        &self.backends
    }

    /// The backend with this id.
    pub fn get(&self, id: &BackendId) -> Option<Arc<dyn Backend>> {
        self.backends.iter().find(|b| &b.info().id == id).cloned()
    }

    /// The preferred backend: the first accelerator if any, else the CPU.
    pub fn preferred(&self) -> Arc<dyn Backend> {
        self.backends
            .iter()
            .find(|b| b.info().kind != DeviceKind::Cpu)
            .or_else(|| self.backends.first())
            .cloned()
            .expect("the CPU backend is always registered")
    }
}
