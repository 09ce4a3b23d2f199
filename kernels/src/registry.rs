//! The devices of this machine. The CPU is always present; device backends that find no
//! device (no driver, no card) are simply not registered. A device that lacks a kernel (a
//! wgpu adapter has no G2 MSM; the FPGA engine has no G2 MSM and no NTT) is registered
//! composed with the CPU for that kernel ([`Composed`]); backends never own one another.

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

impl std::fmt::Debug for DeviceRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = self
            .backends
            .iter()
            .map(|b| b.info().id.to_string())
            .collect();
        f.debug_struct("DeviceRegistry")
            .field("backends", &ids)
            .field("notes", &self.notes)
            .finish()
    }
}

impl DeviceRegistry {
    /// Probes this machine: the CPU, then every CUDA device whose kernels load, then every
    /// wgpu adapter (Vulkan, Metal, DX12; software adapters only with
    /// `FORNAX_WGPU_SOFTWARE=1`), then the FPGA engine's co-simulation `fpga-sim:0` where
    /// this build has it (a simulation: listed, used only where named), each composed with
    /// the CPU for what it lacks. A machine
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
        #[cfg(feature = "fpga")]
        for fpga in crate::fpga::probe_noting(&mut notes) {
            devices.push(Arc::new(fpga));
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

    /// The devices that prove when none are named: every accelerator, or the CPU where
    /// there is none. A CPU beside a GPU is left out: taking whole proofs from the queue at
    /// a fraction of the GPU's speed, it would slow the cluster down. Simulations are left
    /// out too ([`Backend::is_simulation`]). The notes are kept.
    pub fn proving(self) -> Self {
        let accelerators: Vec<Arc<dyn Backend>> = self
            .backends
            .iter()
            .filter(|b| b.info().kind != DeviceKind::Cpu && !b.is_simulation())
            .cloned()
            .collect();
        let backends = match accelerators.is_empty() {
            true => self
                .backends
                .into_iter()
                .filter(|b| !b.is_simulation())
                .collect(),
            false => accelerators,
        };
        DeviceRegistry {
            backends,
            notes: self.notes,
        }
    }

    /// The devices named by `ids`, in that order (ids as `fornax devices` lists them; `cpu`
    /// is `cpu:0`); with none named, [`proving`](Self::proving) of
    /// [`discover`](Self::discover). Accelerators are probed only when one is named. Two or
    /// more CPU ids (`cpu:0,cpu:1`) split the host's threads evenly into lanes, each with a
    /// pool of its own and a share of the host's memory ([`CpuBackend::lane`]); `cpu:0`
    /// alone is the whole CPU. An unknown or repeated id is an error that names the
    /// devices there are.
    pub fn select(ids: &[String]) -> Result<Self, String> {
        if ids.is_empty() {
            return Ok(Self::discover().proving());
        }
        let ids: Vec<String> = ids
            .iter()
            .map(|id| match id.as_str() {
                "cpu" => "cpu:0".to_string(),
                other => other.to_string(),
            })
            .collect();
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                return Err(format!("device {id} is named twice"));
            }
        }
        let lanes: Vec<usize> = ids
            .iter()
            .filter_map(|id| id.strip_prefix("cpu:"))
            .map(|n| {
                n.parse::<usize>()
                    .map_err(|_| format!("no device cpu:{n}: CPU lanes are cpu:0, cpu:1, …"))
            })
            .collect::<Result<_, _>>()?;
        let threads = rayon::current_num_threads() / lanes.len().max(1);
        let discovered = match ids.iter().any(|id| !id.starts_with("cpu:")) {
            true => Some(Self::discover()),
            false => None,
        };
        let mut chosen = Vec::new();
        let mut notes = Vec::new();
        for id in &ids {
            let backend: Arc<dyn Backend> = match id.strip_prefix("cpu:") {
                Some(n) if lanes.len() == 1 && n == "0" => Arc::new(CpuBackend::new()),
                Some(n) => {
                    let index = n.parse().expect("checked above");
                    Arc::new(
                        CpuBackend::lane(index, threads, lanes.len()).map_err(|e| e.to_string())?,
                    )
                }
                None => {
                    let all = discovered.as_ref().expect("probed for a device id");
                    notes = all.notes.clone();
                    all.find(id)?
                }
            };
            chosen.push(backend);
        }
        Ok(DeviceRegistry {
            backends: chosen,
            notes,
        })
    }

    /// The backend with this id, or a message naming the devices there are.
    pub fn find(&self, id: &str) -> Result<Arc<dyn Backend>, String> {
        self.get(&BackendId(id.into())).ok_or_else(|| {
            let ids: Vec<String> = self
                .backends
                .iter()
                .map(|b| b.info().id.to_string())
                .collect();
            let mut message = format!(
                "no device {id} on this machine (devices: {})",
                ids.join(", ")
            );
            if !self.notes.is_empty() {
                message += &format!("; absent: {}", self.notes.join("; "));
            }
            message
        })
    }

    /// The preferred backend: the first accelerator that is not a simulation if any, else
    /// the first backend (the CPU, or the one device a registry was made of).
    pub fn preferred(&self) -> Arc<dyn Backend> {
        self.backends
            .iter()
            .find(|b| b.info().kind != DeviceKind::Cpu && !b.is_simulation())
            .or_else(|| self.backends.first())
            .cloned()
            .expect("the CPU backend is always registered")
    }
}

/// A device composed with another for the kernels it does not run: G1 MSMs on `device`,
/// G2 MSMs (their bases resident there) and NTTs (their twiddles) on `device` where it runs
/// them, else on the helper. It answers to the device's id, and its name says what runs
/// where.
pub struct Composed {
    info: DeviceInfo,
    device: Arc<dyn Backend>,
    /// Where the G2 MSMs run: the device or the helper.
    g2: Arc<dyn Backend>,
    /// Where the NTTs run: the device or the helper.
    ntt: Arc<dyn Backend>,
}

impl Composed {
    /// `device` as it is if it runs G2 and NTTs itself, else composed with `helper` for
    /// what it lacks.
    pub fn complete(device: Arc<dyn Backend>, helper: &Arc<dyn Backend>) -> Arc<dyn Backend> {
        if device.runs_g2() && device.runs_ntt() {
            return device;
        }
        let pick = |runs: bool| match runs {
            true => Arc::clone(&device),
            false => Arc::clone(helper),
        };
        let (g2, ntt) = (pick(device.runs_g2()), pick(device.runs_ntt()));
        let lacks: Vec<&str> = [(!device.runs_g2(), "G2"), (!device.runs_ntt(), "NTT")]
            .into_iter()
            .filter_map(|(lacks, what)| lacks.then_some(what))
            .collect();
        let mut info = device.info().clone();
        info.name = format!(
            "{} + {} on {}",
            info.name,
            lacks.join(", "),
            helper.info().id
        );
        Arc::new(Composed {
            info,
            device,
            g2,
            ntt,
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
        self.ntt.ntt_domain(log_size)
    }

    fn ntt(&self, domain: &NttDomain, values: &mut [Fr], kind: NttKind) -> Result<(), KernelError> {
        self.ntt.ntt(domain, values, kind)
    }

    fn ntt_batch(
        &self,
        domain: &NttDomain,
        values: &mut [&mut [Fr]],
        kind: NttKind,
    ) -> Result<(), KernelError> {
        self.ntt.ntt_batch(domain, values, kind)
    }

    fn evals_to_coset(
        &self,
        domain: &NttDomain,
        values: &mut [Fr],
        shift: Fr,
    ) -> Result<(), KernelError> {
        self.ntt.evals_to_coset(domain, values, shift)
    }
}

impl Backend for Composed {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn is_simulation(&self) -> bool {
        self.device.is_simulation()
    }

    fn last_run_cycles(&self) -> Option<u64> {
        self.device.last_run_cycles()
    }

    fn thread_pool(&self) -> Option<&rayon::ThreadPool> {
        self.device.thread_pool()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::{AffineRepr, PrimeGroup};
    use ark_std::UniformRand;

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

    /// A CPU backend that claims to be a simulation without NTTs, standing in for
    /// `fpga-sim:0`.
    struct SimNoNtt(CpuBackend, DeviceInfo);

    impl MsmBackend for SimNoNtt {
        fn upload_g1(&self, b: &[G1Affine]) -> Result<Bases<G1>, KernelError> {
            self.0.upload_g1(b)
        }
        fn upload_g2(&self, b: &[G2Affine]) -> Result<Bases<G2>, KernelError> {
            self.0.upload_g2(b)
        }
        fn msm_g1(&self, b: &Bases<G1>, s: &[Fr]) -> Result<G1Projective, KernelError> {
            self.0.msm_g1(b, s)
        }
        fn msm_g2(&self, b: &Bases<G2>, s: &[Fr]) -> Result<G2Projective, KernelError> {
            self.0.msm_g2(b, s)
        }
    }

    impl NttBackend for SimNoNtt {
        fn ntt_domain(&self, _: u32) -> Result<NttDomain, KernelError> {
            Err(KernelError::Unsupported {
                device: self.1.id.clone(),
                what: "NTT",
            })
        }
        fn ntt(&self, _: &NttDomain, _: &mut [Fr], _: NttKind) -> Result<(), KernelError> {
            unreachable!("the composition never asks")
        }
    }

    impl Backend for SimNoNtt {
        fn info(&self) -> &DeviceInfo {
            &self.1
        }
        fn runs_ntt(&self) -> bool {
            false
        }
        fn is_simulation(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_simulation_without_ntt_is_composed_and_never_proves_unnamed() {
        let cpu: Arc<dyn Backend> = Arc::new(CpuBackend::new());
        let mut info = cpu.info().clone();
        info.id = BackendId("fpga-sim:0".into());
        info.kind = DeviceKind::Fpga;
        let sim = Composed::complete(Arc::new(SimNoNtt(CpuBackend::new(), info)), &cpu);
        assert!(
            sim.info().name.ends_with(" + NTT on cpu:0"),
            "{}",
            sim.info().name
        );
        assert!(sim.is_simulation(), "the composition is still a simulation");
        // Its NTTs run on the helper.
        let domain = sim.ntt_domain(3).expect("the CPU's domain");
        let mut values: Vec<Fr> = (0..8u64).map(Fr::from).collect();
        let mut want = values.clone();
        sim.ntt(&domain, &mut values, NttKind::Forward).unwrap();
        cpu.ntt(&domain, &mut want, NttKind::Forward).unwrap();
        assert_eq!(values, want);
        // Present, but neither preferred nor proving when nothing is named.
        let registry = DeviceRegistry::with_backends(vec![Arc::clone(&cpu), Arc::clone(&sim)]);
        assert_eq!(registry.preferred().info().id.0, "cpu:0");
        let proving: Vec<String> = registry
            .clone()
            .proving()
            .backends()
            .iter()
            .map(|b| b.info().id.0.clone())
            .collect();
        assert_eq!(proving, ["cpu:0"]);
        assert!(registry.find("fpga-sim:0").is_ok(), "found where named");
        // Named alone, it is the one a registry of it uses.
        assert_eq!(
            DeviceRegistry::with_backends(vec![sim])
                .preferred()
                .info()
                .id
                .0,
            "fpga-sim:0"
        );
    }

    #[test]
    fn named_cpu_ids_become_lanes_with_threads_of_their_own() {
        let ids = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // `cpu` alone is the whole CPU on the global pool.
        let whole = DeviceRegistry::select(&ids(&["cpu"])).unwrap();
        assert_eq!(whole.backends().len(), 1);
        assert_eq!(whole.backends()[0].info().id.0, "cpu:0");
        assert!(whole.backends()[0].thread_pool().is_none());
        // Two lanes: ids as named, the threads split between them.
        let two = DeviceRegistry::select(&ids(&["cpu:1", "cpu"])).unwrap();
        let got: Vec<String> = two
            .backends()
            .iter()
            .map(|b| b.info().id.0.clone())
            .collect();
        assert_eq!(got, ["cpu:1", "cpu:0"]);
        let per_lane = (rayon::current_num_threads() / 2).max(1);
        let host = whole.backends()[0].info().memory_bytes;
        for b in two.backends() {
            // The lanes share the host's memory: each admits jobs against half of it.
            assert_eq!(b.info().memory_bytes, host / 2);
            let pool = b.thread_pool().expect("a lane has its own pool");
            assert_eq!(pool.current_num_threads(), per_lane);
            assert_eq!(b.info().parallelism, per_lane);
            assert_eq!(pool.install(rayon::current_num_threads), per_lane);
        }
        // A lane computes what the whole CPU computes.
        let seed: u64 = rand::random();
        println!("seed {seed}");
        let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(seed);
        let bases: Vec<G1Affine> = (0..300)
            .map(|_| (G1Projective::generator() * Fr::rand(&mut rng)).into())
            .collect();
        let scalars: Vec<Fr> = (0..300).map(|_| Fr::rand(&mut rng)).collect();
        let reference = crate::cpu::msm(&bases, &scalars);
        let lane = &two.backends()[0];
        let resident = lane.upload_g1(&bases).unwrap();
        assert_eq!(lane.msm_g1(&resident, &scalars).unwrap(), reference);
        // Mistakes name what is wrong.
        assert!(DeviceRegistry::select(&ids(&["cpu", "cpu:0"]))
            .unwrap_err()
            .contains("named twice"));
        assert!(DeviceRegistry::select(&ids(&["cpu:x"]))
            .unwrap_err()
            .contains("no device cpu:x"));
    }
}
