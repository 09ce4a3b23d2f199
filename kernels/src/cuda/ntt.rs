//! The host side of the CUDA NTT (kernels in `ntt.cu`): resident twiddles, and the
//! sequences of passes for each transform.

use std::time::Instant;

use ark_bn254::Fr;
use ark_ff::{FftField, Field};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::{grid, Device};
use crate::api::{KernelError, NttKind};
use crate::words::{fr_from_limbs, fr_limbs, powers, scale_tables};

use super::NTT_MAX_FUSED as MAX_FUSED;

/// A domain's twiddles on the device: ω^i and ω^-i for i < n/2, and 1/n.
pub struct CudaDomain {
    log_size: u32,
    forward: CudaSlice<u64>,
    inverse: CudaSlice<u64>,
    n_inv: Fr,
}

// SAFETY: the slices are only used through the device's stream under its lock.
unsafe impl Send for CudaDomain {}
// SAFETY: as above.
unsafe impl Sync for CudaDomain {}

impl CudaDomain {
    /// Computes and uploads the twiddles of the domain of size `2^log_size`.
    pub(crate) fn new(dev: &Device, log_size: u32) -> Result<Self, KernelError> {
        let n = 1usize << log_size;
        let needed = 32 * n as u64 + (64 << 20);
        if dev.free_memory()? < needed {
            return Err(KernelError::OutOfMemory {
                device: dev.id.clone(),
                needed,
            });
        }
        let omega = Fr::get_root_of_unity(n as u64).expect("log_size checked by the caller");
        let half = (n / 2).max(1);
        let forward = powers(omega, half);
        let inverse = powers(omega.inverse().expect("non-zero"), half);
        Ok(CudaDomain {
            log_size,
            forward: dev.upload(&fr_limbs(&forward))?,
            inverse: dev.upload(&fr_limbs(&inverse))?,
            n_inv: Fr::from(n as u64).inverse().expect("n < r"),
        })
    }

    /// One transform of `values` (natural order in and out).
    pub(crate) fn transform(
        &self,
        dev: &Device,
        values: &mut [Fr],
        kind: NttKind,
    ) -> Result<(), KernelError> {
        let started = Instant::now();
        let mut data = dev.upload(&fr_limbs(values))?;
        let uploaded = Self::uploaded(dev)?;
        match kind {
            NttKind::Forward => self.dit(dev, &mut data, &self.forward)?,
            NttKind::Inverse => {
                self.dit(dev, &mut data, &self.inverse)?;
                self.scale(dev, &mut data, self.n_inv, None)?;
            }
            NttKind::CosetForward(g) => {
                self.scale(dev, &mut data, Fr::ONE, Some(g))?;
                self.dit(dev, &mut data, &self.forward)?;
            }
            NttKind::CosetInverse(g) => {
                self.dit(dev, &mut data, &self.inverse)?;
                let g_inv = g.inverse().expect("validated non-zero");
                self.scale(dev, &mut data, self.n_inv, Some(g_inv))?;
            }
        }
        self.finish(dev, &data, values, started, uploaded)
    }

    /// Waits for the upload to land and returns when it did.
    fn uploaded(dev: &Device) -> Result<Instant, KernelError> {
        dev.sync()?;
        Ok(Instant::now())
    }

    /// Inverse NTT then coset NTT, with the scaling of both in one pass between them.
    pub(crate) fn evals_to_coset(
        &self,
        dev: &Device,
        values: &mut [Fr],
        shift: Fr,
    ) -> Result<(), KernelError> {
        let started = Instant::now();
        let mut data = dev.upload(&fr_limbs(values))?;
        let uploaded = Self::uploaded(dev)?;
        self.dit(dev, &mut data, &self.inverse)?;
        self.scale(dev, &mut data, self.n_inv, Some(shift))?;
        self.dit(dev, &mut data, &self.forward)?;
        self.finish(dev, &data, values, started, uploaded)
    }

    /// Downloads the result into `values` and records the job's phases.
    fn finish(
        &self,
        dev: &Device,
        data: &CudaSlice<u64>,
        values: &mut [Fr],
        started: Instant,
        uploaded: Instant,
    ) -> Result<(), KernelError> {
        dev.sync()?;
        let computed = Instant::now();
        let limbs = dev.download(data)?;
        fr_from_limbs(&limbs, values);
        dev.record_phases(
            (uploaded - started) + computed.elapsed(),
            computed - uploaded,
        );
        Ok(())
    }

    /// Bit reversal, then every radix-2 stage with these twiddles, fused in passes.
    fn dit(
        &self,
        dev: &Device,
        data: &mut CudaSlice<u64>,
        twiddles: &CudaSlice<u64>,
    ) -> Result<(), KernelError> {
        let log_n = self.log_size;
        if log_n == 0 {
            return Ok(());
        }
        let n = 1usize << log_n;
        let mut launch = dev.stream.launch_builder(dev.kernel("ntt_bit_reverse")?);
        launch.arg(&mut *data).arg(&log_n);
        // SAFETY: one thread per element, each swapping with its bit reverse once.
        unsafe { launch.launch(grid(n, 256)) }.map_err(|e| dev.err(e))?;
        let mut s0 = 0;
        while s0 < log_n {
            let k = MAX_FUSED.min(log_n - s0);
            let cfg = LaunchConfig {
                grid_dim: ((n >> k) as u32, 1, 1),
                block_dim: (1 << (k - 1), 1, 1),
                shared_mem_bytes: 0,
            };
            let mut launch = dev.stream.launch_builder(dev.kernel("ntt_stages")?);
            launch
                .arg(&mut *data)
                .arg(twiddles)
                .arg(&log_n)
                .arg(&s0)
                .arg(&k);
            // SAFETY: n / 2^k blocks each own 2^k distinct elements; twiddle indices < n/2.
            unsafe { launch.launch(cfg) }.map_err(|e| dev.err(e))?;
            s0 += k;
        }
        Ok(())
    }

    /// data[i] *= c·h^i (or c when `h` is `None`).
    fn scale(
        &self,
        dev: &Device,
        data: &mut CudaSlice<u64>,
        c: Fr,
        h: Option<Fr>,
    ) -> Result<(), KernelError> {
        let n = 1usize << self.log_size;
        let tables = dev.upload(&fr_limbs(&scale_tables(c, h.unwrap_or(Fr::ONE))))?;
        let (n32, powers) = (n as u32, h.is_some() as u32);
        let mut launch = dev.stream.launch_builder(dev.kernel("ntt_scale")?);
        launch.arg(&mut *data).arg(&n32).arg(&tables).arg(&powers);
        // SAFETY: one thread per element; table indices below 1024.
        unsafe { launch.launch(grid(n, 256)) }.map_err(|e| dev.err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::UniformRand;
    use rand::{Rng, SeedableRng};

    // The host half of ntt_scale: the product of the four table entries is c·h^i.
    #[test]
    fn scale_tables_give_c_times_h_to_the_i() {
        let seed = crate::conformance::seed_from_env("cuda_scale_tables");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let (c, h) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
        let t = scale_tables(c, h);
        assert_eq!(t.len(), 1024);
        for _ in 0..50 {
            let i: u32 = rng.gen_range(0..1 << 28);
            let f = t[(i & 255) as usize]
                * t[256 + ((i >> 8) & 255) as usize]
                * t[512 + ((i >> 16) & 255) as usize]
                * t[768 + (i >> 24) as usize];
            assert_eq!(f, c * h.pow([i as u64]), "i = {i}");
        }
        let p = powers(h, 40_000);
        assert_eq!(p[0], Fr::ONE);
        assert_eq!(p[39_999], h.pow([39_999]));
        assert_eq!(p[16_384], h.pow([16_384]));
    }
}
