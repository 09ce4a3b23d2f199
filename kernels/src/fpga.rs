//! The FPGA backend: G1 MSMs on the bucket engine and NTTs on the NTT engine of `fornax-hw`
//! (`hw/rtl/`), through the host interfaces that their co-simulation and a card share
//! ([`fornax_hw::card::EngineCard`], [`fornax_hw::ntt::NttCard`]).
//!
//! `fpga-sim:0` is the engines' cycle-accurate Verilator co-simulation: bit-exact, and about
//! a million times slower than a card, so it is a device for conformance and cycle counts,
//! never one that proves by default ([`Backend::is_simulation`]; name it: `--device
//! fpga-sim:0`); its NTT memories hold up to 2^12 elements (a larger domain is refused with
//! a message that says so). `fpga:0` is an Alveo card over XRT (feature `fpga-xrt`),
//! registered where `FORNAX_XCLBIN` names its bitstream; the same host code drives both.
//! Neither has a G2 MSM, which the registry composes onto the CPU.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use fornax_hw::card::{pack_points, Card, EngineCard};
use fornax_hw::ntt::{NttCard, Transform, Twiddles};
use fornax_hw::sim::{SimCard, Variant};
use fornax_hw::HwError;

use crate::api::{
    check_ntt_len, Backend, BackendId, Bases, DeviceInfo, DeviceKind, KernelError, MsmBackend,
    NttBackend, NttDomain, NttKind, MAX_NTT_LOG_SIZE,
};
use crate::{G1, G2};

/// The FPGA engines as a backend; a run holds the card alone.
pub struct FpgaBackend {
    info: DeviceInfo,
    simulated: bool,
    card: Mutex<Box<dyn Card>>,
    /// Cycles of the last run of either engine (0: none yet).
    last_cycles: AtomicU64,
}

impl FpgaBackend {
    /// `fpga-sim:0`: the co-simulated engine (the faulty build where `variant` says so, for
    /// the tests that show the conformance kit refuses it).
    pub fn simulated(variant: Variant) -> Result<Self, HwError> {
        Ok(Self::new(
            "fpga-sim:0",
            true,
            Box::new(SimCard::new(variant)?),
        ))
    }

    /// `fpga:INDEX`: Alveo card `index` over XRT, with the bitstream `xclbin` (built with
    /// the engines' parameters `window_bits` and `max_log_ntt`).
    #[cfg(feature = "fpga-xrt")]
    pub fn xrt(
        index: u32,
        xclbin: &std::path::Path,
        window_bits: u32,
        max_log_ntt: u32,
    ) -> Result<Self, HwError> {
        let card = fornax_hw::xrt::XrtCard::open(index, xclbin, window_bits, max_log_ntt)?;
        Ok(Self::new(&format!("fpga:{index}"), false, Box::new(card)))
    }

    fn new(id: &str, simulated: bool, card: Box<dyn Card>) -> Self {
        FpgaBackend {
            info: DeviceInfo {
                id: BackendId(id.into()),
                kind: DeviceKind::Fpga,
                name: card.describe(),
                memory_bytes: 0,
                parallelism: 1,
            },
            simulated,
            card: Mutex::new(card),
            last_cycles: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn Card>> {
        self.card.lock().unwrap_or_else(|e| e.into_inner())
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
/// Verilator); `fpga:0` where `FORNAX_XCLBIN` names the card's bitstream and the card opens
/// (`FORNAX_XCLBIN_C` and `FORNAX_XCLBIN_NTT_LOG`: the parameters it was built with, 13 and
/// 24 unless set). What is absent is noted with the reason.
pub fn probe_noting(notes: &mut Vec<String>) -> Vec<FpgaBackend> {
    let mut found = Vec::new();
    #[cfg(feature = "fpga-xrt")]
    if let Some(xclbin) = std::env::var_os("FORNAX_XCLBIN") {
        let param = |name: &str, default: u32| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let (c, ntt) = (
            param("FORNAX_XCLBIN_C", 13),
            param("FORNAX_XCLBIN_NTT_LOG", 24),
        );
        match FpgaBackend::xrt(0, std::path::Path::new(&xclbin), c, ntt) {
            Ok(b) => found.push(b),
            Err(e) => notes.push(format!("fpga: no fpga:0: {e}")),
        }
    }
    match FpgaBackend::simulated(Variant::Exact) {
        Ok(b) => found.push(b),
        Err(e) => notes.push(format!("fpga: no fpga-sim:0: {e}")),
    }
    found
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
        let mut card = self.lock();
        let engine: &mut dyn EngineCard = card.as_mut();
        let (sum, stats) = fornax_hw::msm::msm_g1_packed(engine, points, scalars)
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
        let max = self.lock().max_log_size();
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
        let mut card = self.lock();
        let engines: &mut dyn NttCard = card.as_mut();
        let stats = fornax_hw::ntt::ntt(engines, twiddles, values, transform)
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
