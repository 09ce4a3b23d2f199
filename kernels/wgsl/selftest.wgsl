// Kernels that expose the field and curve arithmetic element by element, so that the
// conformance tests can check them against arkworks on random values. Each reads items
// `a[i]`, `b[i]` and writes its outputs at out[i]. p0 = n.

// @kernel selftest_field field
// a+b, a-b, a·b, a², -a, canonical(a): 6 outputs of 8 words.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

fn load(o: u32, which: u32) -> Big {
    var r: Big;
    for (var k = 0u; k < 8u; k++) {
        if (which == 0u) {
            r[k] = a[o + k];
        } else {
            r[k] = b[o + k];
        }
    }
    return r;
}

fn put(o: u32, v: Big) {
    var x = v;
    for (var k = 0u; k < 8u; k++) {
        out[o + k] = x[k];
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid, WG);
    if (i >= prm.p0) {
        return;
    }
    let x = load(8u * i, 0u);
    let y = load(8u * i, 1u);
    let o = 48u * i;
    put(o, $F_add(x, y));
    put(o + 8u, $F_sub(x, y));
    put(o + 16u, $F_mul(x, y));
    put(o + 24u, $F_sqr(x));
    put(o + 32u, $F_neg(x));
    put(o + 40u, $F_from_montgomery(x));
}

// @kernel selftest_fq2 g2
// a+b, a-b, a·b, a² in Fq2: 4 outputs of 16 words.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

fn load(o: u32, which: u32) -> Big {
    var r: Big;
    for (var k = 0u; k < 8u; k++) {
        if (which == 0u) {
            r[k] = a[o + k];
        } else {
            r[k] = b[o + k];
        }
    }
    return r;
}

fn put(o: u32, v: Fq2) {
    var x = v.c0;
    var y = v.c1;
    for (var k = 0u; k < 8u; k++) {
        out[o + k] = x[k];
        out[o + 8u + k] = y[k];
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid, WG);
    if (i >= prm.p0) {
        return;
    }
    let x = Fq2(load(16u * i, 0u), load(16u * i + 8u, 0u));
    let y = Fq2(load(16u * i, 1u), load(16u * i + 8u, 1u));
    let o = 64u * i;
    put(o, fq2_add(x, y));
    put(o + 16u, fq2_sub(x, y));
    put(o + 32u, fq2_mul(x, y));
    put(o + 48u, fq2_sqr(x));
}

// @kernel selftest_curve curve
// @points a:affine b:affine out:xyzz-rw
// For affine p, q: p + q (mixed), 2p, (p + q) + 2p with the full addition: 3 XYZZ outputs.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid, WG);
    if (i >= prm.p0) {
        return;
    }
    let p = load_affine_a(i);
    let q = load_affine_b(i);
    let sum = $C_add_affine($C_from_affine(p), q);
    store_xyzz_out(3u * i, sum);
    let twice = $C_dbl($C_from_affine(p));
    store_xyzz_out(3u * i + 1u, twice);
    store_xyzz_out(3u * i + 2u, $C_add(sum, twice));
}

// @kernel selftest_chain curve
// @points a:affine b:affine out:xyzz-rw
// For each i, Σ_{k<K} a[i·K + k] with the mixed addition (output 2i) and Σ_{k<K} b[i·K + k]
// with the full addition (output 2i+1), K = p1, in loops of K iterations: long chains of
// additions in one invocation, as the bucket accumulation does.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid, WG);
    if (i >= prm.p0) {
        return;
    }
    var mixed = $C_inf();
    var full = $C_inf();
    for (var k = 0u; k < prm.p1; k++) {
        mixed = $C_add_affine(mixed, load_affine_a(i * prm.p1 + k));
        full = $C_add(full, $C_from_affine(load_affine_b(i * prm.p1 + k)));
    }
    store_xyzz_out(2u * i, mixed);
    store_xyzz_out(2u * i + 1u, full);
}
