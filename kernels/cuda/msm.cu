// Pippenger's MSM with signed windows, in four steps (the host drives them; see msm.rs):
//
// 1. Digits. Each scalar (Fr, Montgomery form) is turned canonical and cut into `windows`
//    signed c-bit digits d ∈ (-2^(c-1), 2^(c-1)]. A non-zero digit of window w is an entry
//    with key w·B + |d| - 1 (B = 2^(c-1) buckets a window) and value i | sign << 31.
//    `msm_count` histograms the keys; after an exclusive scan of the histogram,
//    `msm_scatter` recomputes the digits and writes every entry at its key's next slot: a
//    one-pass counting (radix) sort. Lanes of a warp that share a key reserve their slots
//    with one atomic, so skewed scalars (all equal, mostly small) do not serialise.
// 2. Buckets. The sorted entries are cut into segments of `seg` entries, one thread each.
//    A thread sums each run of equal keys in its segment. A run wholly inside the segment is
//    its bucket's complete sum and is written to the bucket; a run cut by a segment edge is
//    a partial, appended (in key order) to the next level's list. The next level sums that
//    list the same way, until no partial is left. However the entries are distributed over
//    the buckets, every thread does at most `seg` additions a level and the list shrinks by
//    seg/2 each level: a bucket holding every entry costs log levels, not n serial adds.
// 3. Windows. `msm_window_partials` splits each window's buckets into S slices; a thread
//    computes Σ (b+1)·bucket[b] over its slice with the running-sum trick, and
//    `msm_window_sums` adds the S slice results of each window.
// 4. The host combines the window sums: Σ 2^(c·w)·W_w.

#define MSM_EMPTY 0xffffffffu

// Bits [offset, offset + c) of a 256-bit little-endian integer, for c ≤ 32.
__device__ __forceinline__ u32 msm_bits(const fr_t& s, u32 offset, u32 c) {
    u32 limb = offset >> 5, shift = offset & 31;
    u64 lo = 0, hi = 0;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        if (i == (int)limb) lo = s.v[i];
        if (i == (int)limb + 1) hi = s.v[i];
    }
    u64 both = (hi << 32) | lo;
    return (u32)(both >> shift) & (u32)((1ull << c) - 1);
}

// The key and value of digit `w` of a canonical scalar, updating the signed-digit carry.
__device__ __forceinline__ void msm_digit(const fr_t& s, u32 index, u32 w, u32 c, u32& carry,
                                          u32& key, u32& value) {
    u32 raw = msm_bits(s, w * c, c) + carry;
    u32 half = 1u << (c - 1);
    u32 bucket_count = half;
    if (raw > half) {
        // d = raw - 2^c ≤ 0; it is 0 (no entry) when an all-ones window takes a carry.
        u32 mag = (1u << c) - raw;
        carry = 1;
        key = mag == 0 ? MSM_EMPTY : w * bucket_count + mag - 1;
        value = index | 0x80000000u;
    } else {
        carry = 0;
        key = raw == 0 ? MSM_EMPTY : w * bucket_count + raw - 1;
        value = index;
    }
}

// Reserves one slot at counter[key] for each lane with a key (not MSM_EMPTY) and returns
// the lane's slot. Lanes with equal keys share one atomic. Every lane of the warp must call.
__device__ __forceinline__ u32 msm_reserve(u32* counter, u32 key) {
    u32 peers = __match_any_sync(0xffffffffu, key);
    u32 lane = threadIdx.x & 31;
    int leader = __ffs(peers) - 1;
    u32 rank = __popc(peers & ((1u << lane) - 1));
    u32 base = 0;
    if ((int)lane == leader && key != MSM_EMPTY) base = atomicAdd(counter + key, (u32)__popc(peers));
    base = __shfl_sync(0xffffffffu, base, leader);
    return base + rank;
}

__device__ __forceinline__ fr_t msm_scalar(const u32* scalars, u32 i, u32 n) {
    return i < n ? fr_t::from_montgomery(fr_t::load(scalars + 8 * i)) : fr_t::zero();
}

// Histogram of the keys of all digits. `counts` holds windows·2^(c-1) zeros on entry.
// The block size must be a multiple of 32 (msm_reserve works on whole warps).
extern "C" __global__ void msm_count(const u32* scalars, u32 n, u32 c, u32 windows, u32* counts) {
    u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    fr_t s = msm_scalar(scalars, i, n);
    u32 carry = 0;
    for (u32 w = 0; w < windows; w++) {
        u32 key, value;
        msm_digit(s, i, w, c, carry, key, value);
        msm_reserve(counts, key);
    }
}

// Writes every entry at its slot; `cursors` starts as the exclusive scan of the counts.
extern "C" __global__ void msm_scatter(const u32* scalars, u32 n, u32 c, u32 windows,
                                       u32* cursors, u32* keys, u32* values) {
    u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    fr_t s = msm_scalar(scalars, i, n);
    u32 carry = 0;
    for (u32 w = 0; w < windows; w++) {
        u32 key, value;
        msm_digit(s, i, w, c, carry, key, value);
        u32 slot = msm_reserve(cursors, key);
        if (key != MSM_EMPTY) {
            keys[slot] = key;
            values[slot] = value;
        }
    }
}

// Whether the run [start, end) of key `key` is all of that key in the list of `len`.
__device__ __forceinline__ bool msm_run_complete(const u32* keys, u32 len, u32 key, u32 start, u32 end) {
    return (start == 0 || keys[start - 1] != key) && (end == len || keys[end] != key);
}

// How many partials the segment of thread t emits (0, 1 or 2): runs cut by its edges.
extern "C" __global__ void msm_partial_counts(const u32* keys, u32 len, u32 seg, u32 threads, u32* counts) {
    u32 t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= threads) return;
    u32 start = t * seg;
    u32 end = min(start + seg, len);
    u32 emitted = 0;
    u32 cur = keys[start], run = start;
    for (u32 e = start + 1; e < end; e++) {
        u32 k = keys[e];
        if (k != cur) {
            emitted += msm_run_complete(keys, len, cur, run, e) ? 0 : 1;
            cur = k;
            run = e;
        }
    }
    emitted += msm_run_complete(keys, len, cur, run, end) ? 0 : 1;
    counts[t] = emitted;
}

// One level of bucket accumulation (see the top of this file). Level 0 reads entries
// (base index and sign) and adds affine bases; later levels read the previous level's
// partial sums. `offsets` is the exclusive scan of msm_partial_counts.
template <class F, bool FROM_BASES>
__device__ __forceinline__ void msm_accumulate(const u32* keys, u32 len, u32 seg, u32 threads,
                                               const u32* values, const u32* bases,
                                               const u32* partials, const u32* offsets,
                                               u32* buckets, u32* next_keys, u32* next_partials) {
    typedef Xyzz<F> P;
    u32 t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= threads) return;
    u32 start = t * seg;
    u32 end = min(start + seg, len);
    u32 out = offsets[t];
    P acc = P::inf();
    u32 cur = keys[start], run = start;
    for (u32 e = start; e <= end; e++) {
        u32 k = e < end ? keys[e] : MSM_EMPTY;
        if (e == end || k != cur) {
            if (msm_run_complete(keys, len, cur, run, e)) {
                acc.store(buckets + (u64)cur * P::WORDS);
            } else {
                next_keys[out] = cur;
                acc.store(next_partials + (u64)out * P::WORDS);
                out++;
            }
            if (e == end) break;
            acc = P::inf();
            cur = k;
            run = e;
        }
        if (FROM_BASES) {
            u32 v = values[e];
            Affine<F> a = Affine<F>::load(bases + (u64)(v & 0x7fffffffu) * Affine<F>::WORDS);
            if (v >> 31) a.y = -a.y;
            acc.add_affine(a);
        } else {
            acc.add(P::load(partials + (u64)e * P::WORDS));
        }
    }
}

// Σ (b + 1)·bucket[b] over slice s of window w's buckets, for thread w·slices + s.
template <class F>
__device__ __forceinline__ void msm_window_partial(const u32* buckets, u32 windows, u32 bucket_count,
                                                   u32 slices, u32* out) {
    typedef Xyzz<F> P;
    u32 t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= windows * slices) return;
    u32 w = t / slices, s = t % slices;
    u32 per = bucket_count / slices;
    u32 lo = s * per;
    const u32* base = buckets + ((u64)w * bucket_count) * P::WORDS;
    // running = Σ_{b ≥ j} bucket[b]; sum accumulates running for each j, so bucket b is
    // counted (b - lo + 1) times; lo·running adds the rest of its weight b + 1.
    P running = P::inf(), sum = P::inf();
    for (u32 j = per; j-- > 0;) {
        running.add(P::load(base + (u64)(lo + j) * P::WORDS));
        sum.add(running);
    }
    running.mul_small(lo);
    sum.add(running);
    sum.store(out + (u64)t * P::WORDS);
}

// The sum of each window's slice results, for thread w.
template <class F>
__device__ __forceinline__ void msm_window_sum(const u32* partials, u32 windows, u32 slices, u32* out) {
    typedef Xyzz<F> P;
    u32 w = blockIdx.x * blockDim.x + threadIdx.x;
    if (w >= windows) return;
    P acc = P::inf();
    for (u32 s = 0; s < slices; s++) acc.add(P::load(partials + ((u64)w * slices + s) * P::WORDS));
    acc.store(out + (u64)w * P::WORDS);
}

#define MSM_CURVE_KERNELS(NAME, F)                                                                 \
    extern "C" __global__ void msm_accumulate_bases_##NAME(                                       \
        const u32* keys, u32 len, u32 seg, u32 threads, const u32* values, const u32* bases,      \
        const u32* offsets, u32* buckets, u32* next_keys, u32* next_partials) {                   \
        msm_accumulate<F, true>(keys, len, seg, threads, values, bases, 0, offsets, buckets,      \
                                next_keys, next_partials);                                         \
    }                                                                                              \
    extern "C" __global__ void msm_accumulate_partials_##NAME(                                    \
        const u32* keys, u32 len, u32 seg, u32 threads, const u32* partials, const u32* offsets,  \
        u32* buckets, u32* next_keys, u32* next_partials) {                                        \
        msm_accumulate<F, false>(keys, len, seg, threads, 0, 0, partials, offsets, buckets,       \
                                 next_keys, next_partials);                                        \
    }                                                                                              \
    extern "C" __global__ void msm_window_partials_##NAME(const u32* buckets, u32 windows,        \
                                                          u32 bucket_count, u32 slices, u32* out) { \
        msm_window_partial<F>(buckets, windows, bucket_count, slices, out);                        \
    }                                                                                              \
    extern "C" __global__ void msm_window_sums_##NAME(const u32* partials, u32 windows,           \
                                                      u32 slices, u32* out) {                      \
        msm_window_sum<F>(partials, windows, slices, out);                                         \
    }

MSM_CURVE_KERNELS(g1, fq_t)
MSM_CURVE_KERNELS(g2, fq2_t)
