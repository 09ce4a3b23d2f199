//! The host side of the wgpu MSM (the kernels and the algorithm are described in
//! `msm.wgsl`): the same steps as the CUDA backend, driven through wgpu.

use ark_bn254::Fr;
use ark_ec::short_weierstrass::{Affine, Projective};
use ark_ec::AdditiveGroup;
use ark_ff::Zero;

use super::{groups, whole, Gpu};
use crate::api::KernelError;
use crate::plan::MsmPlan;
use crate::words::{fr_limbs, GpuCurve, GpuField};

/// Bases resident on the device: affine words, (0, 0) for infinity.
pub(crate) struct ResidentBases {
    words: ::wgpu::Buffer,
}

impl ResidentBases {
    /// Uploads the bases once; MSMs then refer to them by handle.
    pub(crate) fn upload<C: GpuCurve>(gpu: &Gpu, bases: &[Affine<C>]) -> Result<Self, KernelError>
    where
        C::BaseField: GpuField,
    {
        let mut words = Vec::with_capacity(bases.len() * C::AFFINE_WORDS);
        for p in bases {
            C::push_affine(p, &mut words);
        }
        Ok(ResidentBases {
            words: gpu.upload(bytemuck::cast_slice(&words))?,
        })
    }
}

/// `Σ scalars[i]·bases[i]` on the device, in passes whose buffers fit the adapter.
pub(crate) fn msm<C: GpuCurve>(
    gpu: &Gpu,
    bases: &ResidentBases,
    scalars: &[Fr],
) -> Result<Projective<C>, KernelError>
where
    C::BaseField: GpuField,
{
    if scalars.is_empty() {
        return Ok(Projective::zero());
    }
    let point_bytes = 4 * C::XYZZ_WORDS as u64;
    let affine_bytes = 4 * C::AFFINE_WORDS as u64;
    let max_binding = gpu
        .limits
        .max_storage_buffer_binding_size
        .min(gpu.limits.max_buffer_size);
    let plan = MsmPlan::with_binding_limit(
        scalars.len(),
        point_bytes,
        affine_bytes,
        gpu.budget,
        max_binding,
    )
    .map_err(|needed| KernelError::OutOfMemory {
        device: gpu.id.clone(),
        needed,
    })?;
    let mut total = Projective::<C>::zero();
    for range in plan.passes(scalars.len()) {
        let view = ::wgpu::BufferBinding {
            buffer: &bases.words,
            offset: range.start as u64 * affine_bytes,
            size: std::num::NonZeroU64::new(range.len() as u64 * affine_bytes),
        };
        total += pass::<C>(gpu, &plan, view, &scalars[range])?;
    }
    Ok(total)
}

/// Exclusive prefix sum of the first `n` counts of `data`, in place; returns their total.
fn scan(gpu: &Gpu, data: &::wgpu::Buffer, n: u32) -> Result<u32, KernelError> {
    if n == 0 {
        return Ok(0);
    }
    const TILE: u32 = 256;
    let tiles = n.div_ceil(TILE);
    let totals = gpu.zeros(4 * tiles as u64)?;
    let mut cmd = gpu.commands();
    cmd.dispatch(
        "scan_tiles",
        &[n, tiles],
        &[whole(data), whole(&totals)],
        tiles,
    )?;
    cmd.submit();
    if tiles == 1 {
        return Ok(gpu.read_u32(&totals, 0, 1)?[0]);
    }
    let total = scan(gpu, &totals, tiles)?;
    let mut cmd = gpu.commands();
    cmd.dispatch(
        "scan_add",
        &[n],
        &[whole(data), whole(&totals)],
        groups(n as u64, 64),
    )?;
    cmd.submit();
    Ok(total)
}

/// One pass: digits, sort, buckets, windows on the device; the windows combined here.
fn pass<C: GpuCurve>(
    gpu: &Gpu,
    plan: &MsmPlan,
    bases: ::wgpu::BufferBinding<'_>,
    scalars: &[Fr],
) -> Result<Projective<C>, KernelError>
where
    C::BaseField: GpuField,
{
    let n = scalars.len() as u32;
    let (c, windows, buckets) = (plan.window_bits, plan.windows, plan.buckets);
    let key_count = windows * buckets;
    let point_bytes = 4 * C::XYZZ_WORDS as u64;
    let thread_groups = groups(n as u64, 64);

    // 1. Digits into buckets: histogram, scan, scatter.
    let scalars_dev = gpu.upload(bytemuck::cast_slice(&fr_limbs(scalars)))?;
    let counts = gpu.zeros(4 * key_count as u64)?;
    let mut cmd = gpu.commands();
    cmd.dispatch(
        "msm_count",
        &[n, c, windows],
        &[whole(&scalars_dev), whole(&counts)],
        thread_groups,
    )?;
    cmd.submit();
    let entries = scan(gpu, &counts, key_count)?;
    if entries == 0 {
        return Ok(Projective::zero());
    }
    let cursors = gpu.zeros(4 * key_count as u64)?;
    let keys = gpu.zeros(4 * entries as u64)?;
    let values = gpu.zeros(4 * entries as u64)?;
    let mut cmd = gpu.commands();
    cmd.copy(&counts, &cursors, 4 * key_count as u64);
    cmd.dispatch(
        "msm_scatter",
        &[n, c, windows],
        &[
            whole(&scalars_dev),
            whole(&cursors),
            whole(&keys),
            whole(&values),
        ],
        thread_groups,
    )?;
    cmd.submit();
    drop((scalars_dev, counts, cursors));

    // 2. Buckets, level by level until no partial sum is left.
    let bucket_sums = gpu.zeros(key_count as u64 * point_bytes)?;
    let seg = plan.segment;
    let mut len = entries;
    let mut level_keys = keys;
    let mut partials: Option<::wgpu::Buffer> = None;
    while len > 0 {
        let threads = len.div_ceil(seg);
        let offsets = gpu.zeros(4 * threads as u64)?;
        let mut cmd = gpu.commands();
        cmd.dispatch(
            "msm_partial_counts",
            &[len, seg, threads],
            &[whole(&level_keys), whole(&offsets)],
            groups(threads as u64, 64),
        )?;
        cmd.submit();
        let next = scan(gpu, &offsets, threads)?;
        let next_keys = gpu.zeros(4 * next as u64)?;
        let next_partials = gpu.zeros(next as u64 * point_bytes)?;
        let mut cmd = gpu.commands();
        match &partials {
            None => cmd.dispatch(
                &format!("msm_accumulate_bases_{}", C::NAME),
                &[len, seg, threads],
                &[
                    whole(&level_keys),
                    whole(&values),
                    bases.clone(),
                    whole(&offsets),
                    whole(&bucket_sums),
                    whole(&next_keys),
                    whole(&next_partials),
                ],
                groups(threads as u64, 64),
            )?,
            Some(previous) => cmd.dispatch(
                &format!("msm_accumulate_partials_{}", C::NAME),
                &[len, seg, threads],
                &[
                    whole(&level_keys),
                    whole(previous),
                    whole(&offsets),
                    whole(&bucket_sums),
                    whole(&next_keys),
                    whole(&next_partials),
                ],
                groups(threads as u64, 64),
            )?,
        }
        cmd.submit();
        level_keys = next_keys;
        partials = Some(next_partials);
        len = next;
    }

    // 3. Windows: slice sums on the device; the slices of each window are added here: at
    //    most 16 × 256 points, cheaper to read back and add than a kernel and its launch.
    let slices = plan.slices;
    let slice_sums = gpu.zeros((windows * slices) as u64 * point_bytes)?;
    let mut cmd = gpu.commands();
    cmd.dispatch(
        &format!("msm_window_partials_{}", C::NAME),
        &[windows, buckets, slices],
        &[whole(&bucket_sums), whole(&slice_sums)],
        groups((windows * slices) as u64, 64),
    )?;
    cmd.submit();
    let words = gpu.read_u32(&slice_sums, 0, (windows * slices) as usize * C::XYZZ_WORDS)?;
    let window_sums: Vec<Projective<C>> = words
        .chunks_exact(slices as usize * C::XYZZ_WORDS)
        .map(|window| {
            window
                .chunks_exact(C::XYZZ_WORDS)
                .map(C::xyzz_to_projective)
                .sum()
        })
        .collect();

    // 4. Σ 2^(c·w)·W_w, from the top window down.
    let mut acc = Projective::<C>::zero();
    for w in (0..windows as usize).rev() {
        for _ in 0..c {
            acc.double_in_place();
        }
        acc += window_sums[w];
    }
    Ok(acc)
}
