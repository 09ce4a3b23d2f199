//! The FPGA backend: G1 MSMs on the bucket engine of `fornax-hw` (`hw/rtl/`), through the
//! host interface that its co-simulation and a card share ([`fornax_hw::card::EngineCard`]).
//!
//! What is registered today is `fpga-sim:0`, the engine's cycle-accurate Verilator
//! co-simulation: bit-exact, and about a million times slower than a card, so it is a
//! device for conformance and cycle counts, never one that proves by default
//! ([`Backend::is_simulation`]; name it: `--device fpga-sim:0`). It has no G2 MSM and no
//! NTT engine yet; the registry composes it with the CPU for those.

use std::sync::{Arc, Mutex};

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use fornax_hw::card::{pack_points, EngineCard};
use fornax_hw::sim::{EngineSim, Variant};
use fornax_hw::HwError;

use crate::api::{
    check_ntt_len, Backend, BackendId, Bases, DeviceInfo, DeviceKind, KernelError, MsmBackend,
    NttBackend, NttDomain, NttKind,
};
use crate::{G1, G2};

/// An FPGA engine as a backend: G1 MSMs on the engine; the engine's run holds it alone.
pub struct FpgaBackend {
    info: DeviceInfo,
    simulated: bool,
    card: Mutex<Box<dyn EngineCard>>,
}

impl FpgaBackend {
    /// `fpga-sim:0`: the co-simulated engine (the faulty build where `variant` says so, for
    /// the tests that show the conformance kit refuses it).
    pub fn simulated(variant: Variant) -> Result<Self, HwError> {
        let card = EngineSim::new(variant)?;
        Ok(FpgaBackend {
            info: DeviceInfo {
                id: BackendId("fpga-sim:0".into()),
                kind: DeviceKind::Fpga,
                name: card.describe(),
                memory_bytes: 0,
                parallelism: 1,
            },
            simulated: true,
            card: Mutex::new(Box::new(card)),
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
        let mut card = self.card.lock().unwrap_or_else(|e| e.into_inner());
        fornax_hw::msm::msm_g1_packed(card.as_mut(), points, scalars)
            .map(|(sum, _)| sum)
            .map_err(|e| self.device_error(e))
    }

    fn msm_g2(&self, _: &Bases<G2>, _: &[Fr]) -> Result<G2Projective, KernelError> {
        Err(self.unsupported("G2 MSM"))
    }
}

impl NttBackend for FpgaBackend {
    fn ntt_domain(&self, _: u32) -> Result<NttDomain, KernelError> {
        Err(self.unsupported("NTT"))
    }

    fn ntt(&self, domain: &NttDomain, values: &mut [Fr], _: NttKind) -> Result<(), KernelError> {
        check_ntt_len(domain, values)?;
        Err(self.unsupported("NTT"))
    }
}

impl Backend for FpgaBackend {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn runs_g2(&self) -> bool {
        false
    }

    fn runs_ntt(&self) -> bool {
        false
    }

    fn is_simulation(&self) -> bool {
        self.simulated
    }
}
