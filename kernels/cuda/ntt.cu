// Radix-2 NTT over Fr, natural order in and out (the host drives it; see ntt.rs):
// `ntt_bit_reverse` permutes, then Cooley-Tukey decimation-in-time stages run in passes of up
// to NTT_MAX_FUSED stages. A pass loads the 2^k elements that its k stages mix, which
// differ only in bits s0..s0+k-1 of their index, into shared memory, runs the k stages
// there, and writes them back: log n / 10 round trips to global memory instead of log n.
// The twiddles ω^i (i < n/2) of the forward and of the inverse transform stay on the device
// with the domain. Scaling (1/n, coset powers) is one element-wise pass, `ntt_scale`.

#define NTT_MAX_FUSED 10

extern "C" __global__ void ntt_bit_reverse(u32* data, u32 log_n) {
    u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (log_n == 0 || i >= (1u << log_n)) return;
    u32 j = __brev(i) >> (32 - log_n);
    if (i < j) {
        fr_t a = fr_t::load(data + 8 * (u64)i);
        fr_t b = fr_t::load(data + 8 * (u64)j);
        a.store(data + 8 * (u64)j);
        b.store(data + 8 * (u64)i);
    }
}

// Stages s0 .. s0+k-1 of the transform of size 2^log_n, on bit-reversed input. Block b
// owns the elements base + t·2^s0 (t < 2^k), base = (b >> s0) << (s0 + k) | (b mod 2^s0);
// its 2^(k-1) threads do one butterfly each per stage. Stage s pairs index j with j + 2^s
// (bit s of j clear) and multiplies by ω^((j mod 2^s)·2^(log_n-1-s)).
extern "C" __global__ void __launch_bounds__(512) ntt_stages(u32* data, const u32* twiddles, u32 log_n, u32 s0, u32 k) {
    __shared__ fr_t sh[1 << NTT_MAX_FUSED];
    u32 tid = threadIdx.x;
    u32 b = blockIdx.x;
    u32 lo_mask = (1u << s0) - 1;
    u32 b_lo = b & lo_mask;
    u64 base = ((u64)(b >> s0) << (s0 + k)) | b_lo;
    u32 half = 1u << (k - 1);

    sh[tid] = fr_t::load(data + 8 * (base + ((u64)tid << s0)));
    sh[tid + half] = fr_t::load(data + 8 * (base + ((u64)(tid + half) << s0)));
    __syncthreads();

    for (u32 ls = 0; ls < k; ls++) {
        u32 hl = 1u << ls;
        u32 i0 = ((tid >> ls) << (ls + 1)) | (tid & (hl - 1));
        u32 i1 = i0 + hl;
        u32 s = s0 + ls;
        u64 j = ((u64)(i0 & (hl - 1)) << s0) | b_lo;
        fr_t u = sh[i0];
        fr_t v = sh[i1];
        if (j != 0) v = v * fr_t::load(twiddles + 8 * (j << (log_n - 1 - s)));
        sh[i0] = u + v;
        sh[i1] = u - v;
        __syncthreads();
    }

    sh[tid].store(data + 8 * (base + ((u64)tid << s0)));
    sh[tid + half].store(data + 8 * (base + ((u64)(tid + half) << s0)));
}

// data[i] *= T0[i & 255]·T1[(i >> 8) & 255]·T2[(i >> 16) & 255]·T3[i >> 24], the four
// tables of 256 elements laid end to end. The host builds them as c·h^j, h^(256j),
// h^(65536j), h^(2^24·j), so this is data[i] *= c·h^i. With `powers` zero only T0[0] = c
// is used.
extern "C" __global__ void ntt_scale(u32* data, u32 n, const u32* tables, u32 powers) {
    u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    fr_t x = fr_t::load(data + 8 * (u64)i);
    if (powers) {
        fr_t f = fr_t::load(tables + 8 * (i & 255));
        if ((i >> 8) & 255) f = f * fr_t::load(tables + 8 * (256 + ((i >> 8) & 255)));
        if ((i >> 16) & 255) f = f * fr_t::load(tables + 8 * (512 + ((i >> 16) & 255)));
        if (i >> 24) f = f * fr_t::load(tables + 8 * (768 + (i >> 24)));
        x = x * f;
    } else {
        x = x * fr_t::load(tables);
    }
    x.store(data + 8 * (u64)i);
}
