//! The FPGA backend: G1 MSMs on the bucket engine and NTTs on the NTT engine of `fornax-hw`
//! (`hw/rtl/`), through the host interfaces that their co-simulation and a card share
//! ([`fornax_hw::card::EngineCard`], [`fornax_hw::ntt::NttCard`]).
//!
//! What is registered today is `fpga-sim:0`, the engines' cycle-accurate Verilator
//! co-simulation: bit-exact, and about a million times slower than a card, so it is a
//! device for conformance and cycle counts, never one that proves by default
//! ([`Backend::is_simulation`]; name it: `--device fpga-sim:0`). Its NTT memories hold up to
//! 2^12 elements (a larger domain is refused with a message that says so); it has no G2
//! MSM, which the registry composes onto the CPU.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use fornax_hw::card::{pack_points, EngineCard};
use fornax_hw::ntt::{NttCard, Transform, Twiddles};
use fornax_hw::sim::{EngineSim, NttSim, Variant};
use fornax_hw::HwError;

use crate::api::{
    check_ntt_len, Backend, BackendId, Bases, DeviceInfo, DeviceKind, KernelError, MsmBackend,
    NttBackend, NttDomain, NttKind, MAX_NTT_LOG_SIZE,
};
use crate::{G1, G2};

/// The FPGA engines as a backend; each engine's run holds it alone.
pub struct FpgaBackend {
    info: DeviceInfo,
    simulated: bool,
    msm: Mutex<Box<dyn EngineCard>>,
    ntt: Mutex<Box<dyn NttCard>>,
    /// Cycles of the last run of either engine (0: none yet).
    last_cycles: AtomicU64,
}

impl FpgaBackend {
    /// `fpga-sim:0`: the co-simulated engine (the faulty build where `variant` says so, for
    /// the tests that show the conformance kit refuses it).
    pub fn simulated(variant: Variant) -> Result<Self, HwError> {
        let msm = EngineSim::new(variant)?;
        let ntt = NttSim::new()?;
        Ok(FpgaBackend {
            info: DeviceInfo {
                id: BackendId("fpga-sim:0".into()),
                kind: DeviceKind::Fpga,
                name: format!(
                    "{} + NTT engine up to 2^{}",
                    msm.describe(),
                    ntt.max_log_size()
                ),
                memory_bytes: 0,
                parallelism: 1,
            },
            simulated: true,
            msm: Mutex::new(Box::new(msm)),
            ntt: Mutex::new(Box::new(ntt)),
            last_cycles: AtomicU64::new(0),
        })
    }

    fn unsupported(&self, what: &'static str) -> KernelError {
        KernelError::Unsupported {
            device: self.info.id.clone(),
            what,
        }
    }

    fn device_error(&self, e: HwError) -> KernelError {
        KernelError::Device {
            device: self.info.id.clone(),
            message: e.to_string(),
        }
    }
}

/// The FPGA backends of this build: `fpga-sim:0` where the co-simulation was built (with
/// Verilator), else a note saying why not.
pub fn probe_noting(notes: &mut Vec<String>) -> Vec<FpgaBackend> {
    match FpgaBackend::simulated(Variant::Exact) {
        Ok(b) => vec![b],
        Err(e) => {
            notes.push(format!("fpga: no fpga-sim:0: {e}"));
            Vec::new()
        }
    }
}

impl MsmBackend for FpgaBackend {
    fn upload_g1(&self, bases: &[G1Affine]) -> Result<Bases<G1>, KernelError> {
        // The points buffer as the card's memory holds it.
        let points: Vec<u32> = pack_points(bases);
        Ok(Bases::new(
            self.info.id.clone(),
            bases.len(),
            Arc::new(points),
        ))
    }

    fn upload_g2(&self, _: &[G2Affine]) -> Result<Bases<G2>, KernelError> {
        Err(self.unsupported("G2 MSM"))
    }

    fn msm_g1(&self, bases: &Bases<G1>, scalars: &[Fr]) -> Result<G1Projective, KernelError> {
        if scalars.len() > bases.len() {
            return Err(KernelError::LengthMismatch {
                bases: bases.len(),
                scalars: scalars.len(),
            });
        }
        let points = bases.resident::<Vec<u32>>(&self.info.id)?;
        let mut card = self.msm.lock().unwrap_or_else(|e| e.into_inner());
        let (sum, stats) = fornax_hw::msm::msm_g1_packed(card.as_mut(), points, scalars)
            .map_err(|e| self.device_error(e))?;
        self.last_cycles.store(stats.cycles, Ordering::Relaxed);
        Ok(sum)
    }

    fn msm_g2(&self, _: &Bases<G2>, _: &[Fr]) -> Result<G2Projective, KernelError> {
        Err(self.unsupported("G2 MSM"))
    }
}

impl NttBackend for FpgaBackend {
    fn ntt_domain(&self, log_size: u32) -> Result<NttDomain, KernelError> {
        if log_size > MAX_NTT_LOG_SIZE {
            return Err(KernelError::DomainTooLarge {
                log_size,
                max: MAX_NTT_LOG_SIZE,
            });
        }
        let max = self
            .ntt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .max_log_size();
        if log_size > max {
            return Err(self.device_error(HwError::TooLarge { log_size, max }));
        }
        Ok(NttDomain::new(
            self.info.id.clone(),
            log_size,
            Arc::new(Twiddles::new(log_size)),
        ))
    }

    fn ntt(&self, domain: &NttDomain, values: &mut [Fr], kind: NttKind) -> Result<(), KernelError> {
        check_ntt_len(domain, values)?;
        kind.validate()?;
        let twiddles = domain.resident::<Twiddles>(&self.info.id)?;
        let transform = match kind {
            NttKind::Forward => Transform::Forward,
            NttKind::Inverse => Transform::Inverse,
            NttKind::CosetForward(g) => Transform::CosetForward(g),
            NttKind::CosetInverse(g) => Transform::CosetInverse(g),
        };
        let mut card = self.ntt.lock().unwrap_or_else(|e| e.into_inner());
        let stats = fornax_hw::ntt::ntt(card.as_mut(), twiddles, values, transform)
            .map_err(|e| self.device_error(e))?;
        self.last_cycles
            .store(stats.pass_cycles + stats.io_cycles, Ordering::Relaxed);
        Ok(())
    }
}

impl Backend for FpgaBackend {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn runs_g2(&self) -> bool {
        false
    }

    fn is_simulation(&self) -> bool {
        self.simulated
    }

    fn last_run_cycles(&self) -> Option<u64> {
        match self.last_cycles.load(Ordering::Relaxed) {
            0 => None,
            cycles => Some(cycles),
        }
    }
}
