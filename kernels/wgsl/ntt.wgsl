// Radix-2 NTT over Fr, natural order in and out, as the CUDA backend's ntt.cu (the host
// drives it; see kernels/src/wgpu/ntt.rs): `ntt_bit_reverse` permutes, then Cooley-Tukey
// decimation-in-time stages run in passes of up to 9 stages. A pass loads the 2^k elements
// that its k stages mix, which differ only in bits s0..s0+k-1 of their index, into workgroup
// memory (512 elements of 32 bytes: WebGPU's guaranteed 16 KiB), runs the k stages there and
// writes them back. The twiddles ω^i (i < n/2) of the forward and of the inverse transform
// stay on the device with the domain. Scaling (1/n, coset powers) is one element-wise pass.

fn load_fr(o: u32) -> Big {
    var r: Big;
    for (var k = 0u; k < 8u; k++) {
        r[k] = data[8u * o + k];
    }
    return r;
}

fn store_fr(o: u32, v: Big) {
    var x = v;
    for (var k = 0u; k < 8u; k++) {
        data[8u * o + k] = x[k];
    }
}

// @kernel ntt_bit_reverse fr
// p0 = log n.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read_write> data: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid, WG);
    let log_n = prm.p0;
    if (log_n == 0u || i >= (1u << log_n)) {
        return;
    }
    let j = reverseBits(i) >> (32u - log_n);
    if (i < j) {
        let a = load_fr(i);
        let b = load_fr(j);
        store_fr(j, a);
        store_fr(i, b);
    }
}

// @kernel ntt_stages fr
// Stages s0 .. s0+k-1 of the transform of size 2^log_n, on bit-reversed input. Workgroup b
// owns the elements base + t·2^s0 (t < 2^k), base = (b >> s0) << (s0 + k) | (b mod 2^s0);
// its first 2^(k-1) threads do one butterfly each per stage. Stage s pairs index j with
// j + 2^s (bit s of j clear) and multiplies by ω^((j mod 2^s)·2^(log_n-1-s)).
// p0 = log n, p1 = s0, p2 = k, p3 = workgroups (n / 2^k; the dispatch may have more).
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read_write> data: array<u32>;
@group(0) @binding(2) var<storage, read> twiddles: array<u32>;

var<workgroup> sh: array<Big, 512>;

fn twiddle(o: u32) -> Big {
    var r: Big;
    for (var k = 0u; k < 8u; k++) {
        r[k] = twiddles[8u * o + k];
    }
    return r;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let log_n = prm.p0;
    let s0 = prm.p1;
    let k = prm.p2;
    let b = wid.y * nwg.x + wid.x;
    if (b >= prm.p3) {
        return;
    }
    let b_lo = b & ((1u << s0) - 1u);
    let base = ((b >> s0) << (s0 + k)) | b_lo;
    let half = 1u << (k - 1u);
    let busy = lid < half;
    if (busy) {
        sh[lid] = load_fr(base + (lid << s0));
        sh[lid + half] = load_fr(base + ((lid + half) << s0));
    }
    workgroupBarrier();
    for (var ls = 0u; ls < k; ls++) {
        if (busy) {
            let hl = 1u << ls;
            let i0 = ((lid >> ls) << (ls + 1u)) | (lid & (hl - 1u));
            let i1 = i0 + hl;
            let s = s0 + ls;
            let j = ((i0 & (hl - 1u)) << s0) | b_lo;
            let u = sh[i0];
            var v = sh[i1];
            if (j != 0u) {
                v = fr_mul(v, twiddle(j << (log_n - 1u - s)));
            }
            sh[i0] = fr_add(u, v);
            sh[i1] = fr_sub(u, v);
        }
        workgroupBarrier();
    }
    if (busy) {
        store_fr(base + (lid << s0), sh[lid]);
        store_fr(base + ((lid + half) << s0), sh[lid + half]);
    }
}

// @kernel ntt_scale fr
// data[i] *= T0[i & 255]·T1[(i >> 8) & 255]·T2[(i >> 16) & 255]·T3[i >> 24], the four tables
// of 256 elements laid end to end, built by the host as c·h^j, h^(256j), h^(65536j),
// h^(2^24·j), so this is data[i] *= c·h^i. With p1 = 0 only T0[0] = c is used.
// p0 = n, p1 = powers.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read_write> data: array<u32>;
@group(0) @binding(2) var<storage, read> tables: array<u32>;

fn table(o: u32) -> Big {
    var r: Big;
    for (var k = 0u; k < 8u; k++) {
        r[k] = tables[8u * o + k];
    }
    return r;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid, WG);
    if (i >= prm.p0) {
        return;
    }
    var f = table(0u);
    if (prm.p1 != 0u) {
        f = table(i & 255u);
        if (((i >> 8u) & 255u) != 0u) {
            f = fr_mul(f, table(256u + ((i >> 8u) & 255u)));
        }
        if (((i >> 16u) & 255u) != 0u) {
            f = fr_mul(f, table(512u + ((i >> 16u) & 255u)));
        }
        if ((i >> 24u) != 0u) {
            f = fr_mul(f, table(768u + (i >> 24u)));
        }
    }
    store_fr(i, fr_mul(load_fr(i), f));
}
