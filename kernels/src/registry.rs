//! The devices of this machine. The CPU is always present; device backends that find no
//! device (no driver, no card) are simply not registered. A device that lacks a kernel (a
//! wgpu adapter has no G2 MSM) is registered composed with the CPU for that kernel
//! ([`Composed`]); backends never own one another.

use std::sync::Arc;

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};

use crate::api::{
    Backend, BackendId, Bases, DeviceInfo, DeviceKind, KernelError, MsmBackend, NttBackend,
    NttDomain, NttKind,
};
use crate::cpu::CpuBackend;
use crate::{G1, G2};

/// The backends available on this machine, CPU first.
#[derive(Clone)]
pub struct DeviceRegistry {
    backends: Vec<Arc<dyn Backend>>,
    /// Why device backends are absent (no driver, no device node, a kernel that failed).
    notes: Vec<String>,
}

impl DeviceRegistry {
    /// Probes this machine: the CPU, then every CUDA device whose kernels load, then every
    /// wgpu adapter (Vulkan, Metal, DX12; software adapters only with
    /// `FORNAX_WGPU_SOFTWARE=1`), each composed with the CPU for what it lacks. A machine
    /// without a driver or a device simply has no such backend (the reason is kept in
    /// [`notes`](Self::notes), printed by nothing here); nothing panics.
    pub fn discover() -> Self {
        let cpu: Arc<dyn Backend> = Arc::new(CpuBackend::new());
        #[allow(unused_mut)]
        let mut devices: Vec<Arc<dyn Backend>> = Vec::new();
        #[allow(unused_mut)]
        let mut notes = Vec::new();
        #[cfg(feature = "cuda")]
        for cuda in crate::cuda::probe_noting(&mut notes) {
            devices.push(Arc::new(cuda));
        }
        #[cfg(feature = "wgpu")]
        for wgpu in crate::wgpu::probe_noting(crate::wgpu::ProbeOptions::from_env(), &mut notes) {
            devices.push(Arc::new(wgpu));
        }
        let mut backends = vec![Arc::clone(&cpu)];
        backends.extend(devices.into_iter().map(|d| Composed::complete(d, &cpu)));
        DeviceRegistry { backends, notes }
    }

    /// A registry holding exactly these backends (for tests and custom set-ups).
    pub fn with_backends(backends: Vec<Arc<dyn Backend>>) -> Self {
        DeviceRegistry {
            backends,
            notes: Vec::new(),
        }
    }

    /// Why device backends are absent, one line each (`cuda: no CUDA backend: …`), for
    /// the commands that say so: `fornax devices`, `-v`, a node's start.
    pub fn notes(&self) -> &[String] {
        &self.notes
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

/// A device composed with another for the G2 MSMs it does not run: G1 MSMs and NTTs on
/// `device`, G2 MSMs (their bases resident there) on `g2`. It answers to the device's id,
/// and its name says where G2 runs.
pub struct Composed {
    info: DeviceInfo,
    device: Arc<dyn Backend>,
    g2: Arc<dyn Backend>,
}

impl Composed {
    /// `device` as it is if it runs G2 itself, else composed with `g2` for that.
    pub fn complete(device: Arc<dyn Backend>, g2: &Arc<dyn Backend>) -> Arc<dyn Backend> {
        if device.runs_g2() {
            return device;
        }
        let mut info = device.info().clone();
        info.name = format!("{} + G2 on {}", info.name, g2.info().id);
        Arc::new(Composed {
            info,
            device,
            g2: Arc::clone(g2),
        })
    }
}

impl MsmBackend for Composed {
    fn upload_g1(&self, bases: &[G1Affine]) -> Result<Bases<G1>, KernelError> {
        self.device.upload_g1(bases)
    }

    fn upload_g2(&self, bases: &[G2Affine]) -> Result<Bases<G2>, KernelError> {
        self.g2.upload_g2(bases)
    }

    fn upload_g1_owned(&self, bases: Vec<G1Affine>) -> Result<Bases<G1>, KernelError> {
        self.device.upload_g1_owned(bases)
    }

    fn upload_g2_owned(&self, bases: Vec<G2Affine>) -> Result<Bases<G2>, KernelError> {
        self.g2.upload_g2_owned(bases)
    }

    fn msm_g1(&self, bases: &Bases<G1>, scalars: &[Fr]) -> Result<G1Projective, KernelError> {
        self.device.msm_g1(bases, scalars)
    }

    fn msm_g2(&self, bases: &Bases<G2>, scalars: &[Fr]) -> Result<G2Projective, KernelError> {
        self.g2.msm_g2(bases, scalars)
    }

    fn msm_g1_batch(
        &self,
        bases: &Bases<G1>,
        scalars: &[&[Fr]],
    ) -> Result<Vec<G1Projective>, KernelError> {
        self.device.msm_g1_batch(bases, scalars)
    }

    fn msm_g2_batch(
        &self,
        bases: &Bases<G2>,
        scalars: &[&[Fr]],
    ) -> Result<Vec<G2Projective>, KernelError> {
        self.g2.msm_g2_batch(bases, scalars)
    }
}

impl NttBackend for Composed {
    fn ntt_domain(&self, log_size: u32) -> Result<NttDomain, KernelError> {
        self.device.ntt_domain(log_size)
    }

    fn ntt(&self, domain: &NttDomain, values: &mut [Fr], kind: NttKind) -> Result<(), KernelError> {
        self.device.ntt(domain, values, kind)
    }

    fn ntt_batch(
        &self,
        domain: &NttDomain,
        values: &mut [&mut [Fr]],
        kind: NttKind,
    ) -> Result<(), KernelError> {
        self.device.ntt_batch(domain, values, kind)
    }

    fn evals_to_coset(
        &self,
        domain: &NttDomain,
        values: &mut [Fr],
        shift: Fr,
    ) -> Result<(), KernelError> {
        self.device.evals_to_coset(domain, values, shift)
    }
}

impl Backend for Composed {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::{AffineRepr, PrimeGroup};

    /// A CPU backend that claims to lack G2, standing in for a wgpu adapter.
    struct NoG2(CpuBackend);

    impl MsmBackend for NoG2 {
        fn upload_g1(&self, b: &[G1Affine]) -> Result<Bases<G1>, KernelError> {
            self.0.upload_g1(b)
        }
        fn upload_g2(&self, _: &[G2Affine]) -> Result<Bases<G2>, KernelError> {
            Err(KernelError::Unsupported {
                device: self.0.info().id.clone(),
                what: "G2",
            })
        }
        fn msm_g1(&self, b: &Bases<G1>, s: &[Fr]) -> Result<G1Projective, KernelError> {
            self.0.msm_g1(b, s)
        }
        fn msm_g2(&self, _: &Bases<G2>, _: &[Fr]) -> Result<G2Projective, KernelError> {
            unreachable!("the composition never asks")
        }
    }

    impl NttBackend for NoG2 {
        fn ntt_domain(&self, l: u32) -> Result<NttDomain, KernelError> {
            self.0.ntt_domain(l)
        }
        fn ntt(&self, d: &NttDomain, v: &mut [Fr], k: NttKind) -> Result<(), KernelError> {
            self.0.ntt(d, v, k)
        }
    }

    impl Backend for NoG2 {
        fn info(&self) -> &DeviceInfo {
            self.0.info()
        }
        fn runs_g2(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_device_without_g2_is_composed_and_one_with_it_is_not() {
        let cpu: Arc<dyn Backend> = Arc::new(CpuBackend::new());
        let whole: Arc<dyn Backend> = Arc::new(CpuBackend::new());
        assert!(Arc::ptr_eq(
            &Composed::complete(Arc::clone(&whole), &cpu),
            &whole
        ));
        let lacking: Arc<dyn Backend> = Arc::new(NoG2(CpuBackend::new()));
        assert!(lacking.upload_g2(&[G2Affine::generator()]).is_err());
        let composed = Composed::complete(lacking, &cpu);
        assert!(composed.info().name.contains("G2 on cpu:0"));
        let g2 = composed.upload_g2(&[G2Affine::generator()]).unwrap();
        let got = composed.msm_g2(&g2, &[Fr::from(7u64)]).unwrap();
        assert_eq!(got, G2Projective::generator() * Fr::from(7u64));
        let g1 = composed.upload_g1(&[G1Affine::generator()]).unwrap();
        let got = composed.msm_g1(&g1, &[Fr::from(3u64)]).unwrap();
        assert_eq!(got, G1Projective::generator() * Fr::from(3u64));
    }
}
