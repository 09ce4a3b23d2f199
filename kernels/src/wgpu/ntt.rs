//! The host side of the wgpu NTT (kernels in `ntt.wgsl`): resident twiddles, and the
//! sequences of passes for each transform.

use ark_bn254::Fr;
use ark_ff::{FftField, Field};

use super::{groups, whole, Gpu};
use crate::api::{KernelError, NttKind};
use crate::words::{fr_from_limbs, fr_limbs, powers, scale_tables};

/// Stages fused into one pass through workgroup memory (512 elements of 32 bytes).
const MAX_FUSED: u32 = 9;

/// A domain's twiddles on the device: ω^i and ω^-i for i < n/2, and 1/n.
pub struct WgpuDomain {
    log_size: u32,
    forward: ::wgpu::Buffer,
    inverse: ::wgpu::Buffer,
    n_inv: Fr,
}

impl WgpuDomain {
    /// Computes and uploads the twiddles of the domain of size `2^log_size`.
    pub(crate) fn new(gpu: &Gpu, log_size: u32) -> Result<Self, KernelError> {
        let n = 1usize << log_size;
        // The twiddles (two halves) and one vector being transformed.
        let needed = 64 * n as u64;
        if needed > gpu.budget {
            return Err(KernelError::OutOfMemory {
                device: gpu.id.clone(),
                needed,
            });
        }
        let omega = Fr::get_root_of_unity(n as u64).expect("log_size checked by the caller");
        let half = (n / 2).max(1);
        let forward = powers(omega, half);
        let inverse = powers(omega.inverse().expect("non-zero"), half);
        Ok(WgpuDomain {
            log_size,
            forward: gpu.upload(bytemuck::cast_slice(&fr_limbs(&forward)))?,
            inverse: gpu.upload(bytemuck::cast_slice(&fr_limbs(&inverse)))?,
            n_inv: Fr::from(n as u64).inverse().expect("n < r"),
        })
    }

    /// One transform of `values` (natural order in and out).
    pub(crate) fn transform(
        &self,
        gpu: &Gpu,
        values: &mut [Fr],
        kind: NttKind,
    ) -> Result<(), KernelError> {
        let data = gpu.upload(bytemuck::cast_slice(&fr_limbs(values)))?;
        let mut cmd = gpu.commands();
        match kind {
            NttKind::Forward => self.dit(&mut cmd, &data, &self.forward)?,
            NttKind::Inverse => {
                self.dit(&mut cmd, &data, &self.inverse)?;
                self.scale(gpu, &mut cmd, &data, self.n_inv, None)?;
            }
            NttKind::CosetForward(g) => {
                self.scale(gpu, &mut cmd, &data, Fr::ONE, Some(g))?;
                self.dit(&mut cmd, &data, &self.forward)?;
            }
            NttKind::CosetInverse(g) => {
                self.dit(&mut cmd, &data, &self.inverse)?;
                let g_inv = g.inverse().expect("validated non-zero");
                self.scale(gpu, &mut cmd, &data, self.n_inv, Some(g_inv))?;
            }
        }
        cmd.submit();
        self.finish(gpu, &data, values)
    }

    /// Inverse NTT then coset NTT, with the scaling of both in one pass between them.
    pub(crate) fn evals_to_coset(
        &self,
        gpu: &Gpu,
        values: &mut [Fr],
        shift: Fr,
    ) -> Result<(), KernelError> {
        let data = gpu.upload(bytemuck::cast_slice(&fr_limbs(values)))?;
        let mut cmd = gpu.commands();
        self.dit(&mut cmd, &data, &self.inverse)?;
        self.scale(gpu, &mut cmd, &data, self.n_inv, Some(shift))?;
        self.dit(&mut cmd, &data, &self.forward)?;
        cmd.submit();
        self.finish(gpu, &data, values)
    }

    fn finish(
        &self,
        gpu: &Gpu,
        data: &::wgpu::Buffer,
        values: &mut [Fr],
    ) -> Result<(), KernelError> {
        let words = gpu.read_u32(data, 0, 8 * values.len())?;
        let limbs: Vec<u64> = words
            .chunks_exact(2)
            .map(|w| w[0] as u64 | (w[1] as u64) << 32)
            .collect();
        fr_from_limbs(&limbs, values);
        Ok(())
    }

    /// Bit reversal, then every radix-2 stage with these twiddles, fused in passes.
    fn dit(
        &self,
        cmd: &mut super::Commands<'_>,
        data: &::wgpu::Buffer,
        twiddles: &::wgpu::Buffer,
    ) -> Result<(), KernelError> {
        let log_n = self.log_size;
        if log_n == 0 {
            return Ok(());
        }
        let n = 1u64 << log_n;
        cmd.dispatch("ntt_bit_reverse", &[log_n], &[whole(data)], groups(n, 64))?;
        let mut s0 = 0;
        while s0 < log_n {
            let k = MAX_FUSED.min(log_n - s0);
            let blocks = (n >> k) as u32;
            cmd.dispatch(
                "ntt_stages",
                &[log_n, s0, k, blocks],
                &[whole(data), whole(twiddles)],
                blocks,
            )?;
            s0 += k;
        }
        Ok(())
    }

    /// data[i] *= c·h^i (or c when `h` is `None`).
    fn scale(
        &self,
        gpu: &Gpu,
        cmd: &mut super::Commands<'_>,
        data: &::wgpu::Buffer,
        c: Fr,
        h: Option<Fr>,
    ) -> Result<(), KernelError> {
        let n = 1u64 << self.log_size;
        let tables = gpu.upload(bytemuck::cast_slice(&fr_limbs(&scale_tables(
            c,
            h.unwrap_or(Fr::ONE),
        ))))?;
        cmd.dispatch(
            "ntt_scale",
            &[n as u32, h.is_some() as u32],
            &[whole(data), whole(&tables)],
            groups(n, 64),
        )
    }
}
