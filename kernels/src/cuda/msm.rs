//! The host side of the CUDA MSM (the kernels and the algorithm are described in `msm.cu`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ark_bn254::Fr;
use ark_ec::short_weierstrass::{Affine, Projective};
use ark_ec::AdditiveGroup;
use ark_ff::Zero;
use cudarc::driver::{CudaSlice, PushKernelArg};

use super::plan::MsmPlan;
use super::words::{fr_limbs, GpuCurve, GpuField};
use super::{grid, Device};
use crate::api::KernelError;

/// Threads a block for the element-wise MSM kernels (a multiple of the warp size).
const BLOCK: u32 = 256;

/// Bases resident on the device: affine words, (0, 0) for infinity.
pub(crate) struct ResidentBases {
    words: CudaSlice<u32>,
    /// The device the words live on, kept alive with them.
    _device: Arc<Device>,
}

// SAFETY: the slice is only used through the device's stream under its lock.
unsafe impl Send for ResidentBases {}
// SAFETY: as above; shared references never touch the slice without the lock.
unsafe impl Sync for ResidentBases {}

impl ResidentBases {
    /// Uploads the bases once; MSMs then refer to them by handle.
    pub(crate) fn upload<C: GpuCurve>(
        dev: &Arc<Device>,
        bases: &[Affine<C>],
    ) -> Result<Self, KernelError>
    where
        C::BaseField: GpuField,
    {
        let mut words = Vec::with_capacity(bases.len() * C::AFFINE_WORDS);
        for p in bases {
            C::push_affine(p, &mut words);
        }
        let _guard = dev.lock();
        Ok(ResidentBases {
            words: dev.upload(&words)?,
            _device: Arc::clone(dev),
        })
    }
}

/// `Σ scalars[i]·bases[i]` on the device, in passes that fit its free memory.
pub(crate) fn msm<C: GpuCurve>(
    dev: &Device,
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
    let plan = MsmPlan::new(scalars.len(), point_bytes, dev.free_memory()?).map_err(|needed| {
        KernelError::OutOfMemory {
            device: dev.id.clone(),
            needed,
        }
    })?;
    let mut total = Projective::<C>::zero();
    let mut phases = (Duration::ZERO, Duration::ZERO);
    for range in plan.passes(scalars.len()) {
        let bases_view = bases.words.slice(range.start * C::AFFINE_WORDS..);
        total += pass::<C>(dev, &plan, &bases_view, &scalars[range], &mut phases)?;
    }
    dev.record_phases(phases.0, phases.1);
    Ok(total)
}

/// One pass: digits, sort, buckets, windows on the device; the windows combined here.
/// `phases` gains the pass's (transfer, compute) time.
fn pass<C: GpuCurve>(
    dev: &Device,
    plan: &MsmPlan,
    bases: &cudarc::driver::CudaView<'_, u32>,
    scalars: &[Fr],
    phases: &mut (Duration, Duration),
) -> Result<Projective<C>, KernelError>
where
    C::BaseField: GpuField,
{
    let stream = &dev.stream;
    let err = |e| dev.err(e);
    let n = scalars.len() as u32;
    let (c, windows, buckets) = (plan.window_bits, plan.windows, plan.buckets);
    let key_count = (windows * buckets) as usize;

    // 1. Digits into buckets: histogram, scan, scatter.
    let started = Instant::now();
    let scalars_dev = dev.upload(&fr_limbs(scalars))?;
    dev.sync()?;
    let uploaded = Instant::now();
    phases.0 += uploaded - started;
    let mut counts = dev.zeros::<u32>(key_count)?;
    let mut launch = stream.launch_builder(dev.kernel("msm_count")?);
    launch
        .arg(&scalars_dev)
        .arg(&n)
        .arg(&c)
        .arg(&windows)
        .arg(&mut counts);
    // SAFETY: one thread per scalar (whole warps); keys < windows·buckets = counts.len().
    unsafe { launch.launch(grid(scalars.len(), BLOCK)) }.map_err(err)?;
    let entries = dev.scan(&mut counts, key_count)?;
    if entries == 0 {
        phases.1 += uploaded.elapsed();
        return Ok(Projective::zero());
    }
    let mut cursors = stream.clone_dtod(&counts).map_err(err)?;
    let mut keys = dev.zeros::<u32>(entries as usize)?;
    let mut values = dev.zeros::<u32>(entries as usize)?;
    let mut launch = stream.launch_builder(dev.kernel("msm_scatter")?);
    launch
        .arg(&scalars_dev)
        .arg(&n)
        .arg(&c)
        .arg(&windows)
        .arg(&mut cursors)
        .arg(&mut keys)
        .arg(&mut values);
    // SAFETY: slots come from the scanned counts, so each is below `entries`.
    unsafe { launch.launch(grid(scalars.len(), BLOCK)) }.map_err(err)?;
    drop(scalars_dev);
    drop(cursors);
    drop(counts);

    // 2. Buckets, level by level until no partial sum is left.
    let mut bucket_sums = dev.zeros::<u32>(key_count * C::XYZZ_WORDS)?;
    let seg = plan.segment;
    let mut len = entries;
    let mut partials: Option<CudaSlice<u32>> = None;
    while len > 0 {
        let threads = len.div_ceil(seg);
        let mut offsets = dev.zeros::<u32>(threads as usize)?;
        let mut launch = stream.launch_builder(dev.kernel("msm_partial_counts")?);
        launch
            .arg(&keys)
            .arg(&len)
            .arg(&seg)
            .arg(&threads)
            .arg(&mut offsets);
        // SAFETY: thread t reads keys[t·seg ..] below len and writes counts[t].
        unsafe { launch.launch(grid(threads as usize, BLOCK)) }.map_err(err)?;
        let next_len = dev.scan(&mut offsets, threads as usize)?;
        let mut next_keys = dev.zeros::<u32>(next_len as usize)?;
        let mut next_partials = dev.zeros::<u32>(next_len as usize * C::XYZZ_WORDS)?;
        match &partials {
            None => {
                let name = format!("msm_accumulate_bases_{}", C::NAME);
                let mut launch = stream.launch_builder(dev.kernel(&name)?);
                launch
                    .arg(&keys)
                    .arg(&len)
                    .arg(&seg)
                    .arg(&threads)
                    .arg(&values)
                    .arg(bases)
                    .arg(&offsets)
                    .arg(&mut bucket_sums)
                    .arg(&mut next_keys)
                    .arg(&mut next_partials);
                // SAFETY: entries index bases of this pass; outputs sized by the scan.
                unsafe { launch.launch(grid(threads as usize, BLOCK)) }.map_err(err)?;
            }
            Some(input) => {
                let name = format!("msm_accumulate_partials_{}", C::NAME);
                let mut launch = stream.launch_builder(dev.kernel(&name)?);
                launch
                    .arg(&keys)
                    .arg(&len)
                    .arg(&seg)
                    .arg(&threads)
                    .arg(input)
                    .arg(&offsets)
                    .arg(&mut bucket_sums)
                    .arg(&mut next_keys)
                    .arg(&mut next_partials);
                // SAFETY: as above, reading the previous level's `len` partial sums.
                unsafe { launch.launch(grid(threads as usize, BLOCK)) }.map_err(err)?;
            }
        }
        keys = next_keys;
        partials = Some(next_partials);
        len = next_len;
    }
    drop(values);
    drop(partials);

    // 3. Window sums.
    let slices = plan.slices;
    let mut slice_sums = dev.zeros::<u32>((windows * slices) as usize * C::XYZZ_WORDS)?;
    let name = format!("msm_window_partials_{}", C::NAME);
    let mut launch = stream.launch_builder(dev.kernel(&name)?);
    launch
        .arg(&bucket_sums)
        .arg(&windows)
        .arg(&buckets)
        .arg(&slices)
        .arg(&mut slice_sums);
    // SAFETY: thread w·slices + s reads window w's buckets and writes slot t.
    unsafe { launch.launch(grid((windows * slices) as usize, 64)) }.map_err(err)?;
    let mut window_sums = dev.zeros::<u32>(windows as usize * C::XYZZ_WORDS)?;
    let name = format!("msm_window_sums_{}", C::NAME);
    let mut launch = stream.launch_builder(dev.kernel(&name)?);
    launch
        .arg(&slice_sums)
        .arg(&windows)
        .arg(&slices)
        .arg(&mut window_sums);
    // SAFETY: one thread per window.
    unsafe { launch.launch(grid(windows as usize, 32)) }.map_err(err)?;
    dev.sync()?;
    let computed = Instant::now();
    phases.1 += computed - uploaded;
    let words = dev.download(&window_sums)?;
    phases.0 += computed.elapsed();

    // 4. Σ 2^(c·w)·W_w, from the top window down.
    let mut acc = Projective::<C>::zero();
    for w in (0..windows as usize).rev() {
        for _ in 0..c {
            acc.double_in_place();
        }
        acc += C::xyzz_to_projective(&words[w * C::XYZZ_WORDS..(w + 1) * C::XYZZ_WORDS]);
    }
    Ok(acc)
}
