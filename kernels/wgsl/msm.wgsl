// Pippenger's MSM with signed windows, the same algorithm as the CUDA backend's msm.cu, in
// four steps that the host drives (kernels/src/wgpu/msm.rs):
//
// 1. Digits. Each scalar (Fr, Montgomery form) is made canonical and cut into `windows`
//    signed c-bit digits d ∈ (-2^(c-1), 2^(c-1)] (plan::signed_digit is the model). A
//    non-zero digit of window w is an entry with key w·B + |d| - 1 (B = 2^(c-1) buckets a
//    window) and value i | sign << 31. `msm_count` histograms the keys with atomics; after
//    an exclusive scan, `msm_scatter` recomputes the digits and writes each entry at its
//    key's next slot: a one-pass counting sort.
// 2. Buckets. The sorted entries are cut into segments of `seg` entries, one thread each. A
//    thread sums each run of equal keys in its segment; a run wholly inside the segment is
//    its bucket's complete sum and is written to the bucket, a run cut by a segment edge is a
//    partial, appended in key order to the next level's list, which is summed the same way
//    until no partial is left. Every thread does at most `seg` additions a level whatever the
//    distribution of the scalars, so skewed inputs cost levels, not serial additions.
// 3. Windows. `msm_window_partials` splits each window's buckets into S slices; a thread
//    computes Σ (b+1)·bucket[b] over its slice with the running-sum trick; the host adds
//    each window's S slice results.
// 4. The host combines the window sums: Σ 2^(c·w)·W_w.
//
// Each `// @kernel` section below becomes one compute pipeline; `// @points` names the
// point buffers whose accessors the host generates for the section's curve (see
// kernels/src/wgpu/source.rs).

const EMPTY: u32 = 0xffffffffu;

// Bits [offset, offset + c) of a 256-bit little-endian integer, c ≤ 16.
fn msm_bits(s_in: Big, offset: u32, c: u32) -> u32 {
    var s = s_in;
    let limb = offset >> 5u;
    let shift = offset & 31u;
    var bits = 0u;
    if (limb < 8u) {
        bits = s[limb] >> shift;
    }
    if (shift != 0u && limb + 1u < 8u) {
        bits |= s[limb + 1u] << (32u - shift);
    }
    return bits & ((1u << c) - 1u);
}

// An entry of the sort: key (EMPTY for a zero digit) and value, with the carry onward.
struct Digit {
    key: u32,
    value: u32,
    carry: u32,
}

// Digit `w` of the canonical scalar `s` (of index `index`), given the carry from below.
fn msm_digit(s: Big, index: u32, w: u32, c: u32, carry: u32) -> Digit {
    let raw = msm_bits(s, w * c, c) + carry;
    let half = 1u << (c - 1u);
    if (raw > half) {
        // d = raw - 2^c ≤ 0; zero (no entry) when an all-ones window takes a carry.
        let mag = (1u << c) - raw;
        if (mag == 0u) {
            return Digit(EMPTY, index, 1u);
        }
        return Digit(w * half + mag - 1u, index | 0x80000000u, 1u);
    }
    if (raw == 0u) {
        return Digit(EMPTY, index, 0u);
    }
    return Digit(w * half + raw - 1u, index, 0u);
}

// @kernel msm_count fr
// Histogram of the keys of all digits. p0 = n, p1 = c, p2 = windows.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> scalars: array<u32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid, WG);
    if (i >= prm.p0) {
        return;
    }
    var raw: Big;
    for (var k = 0u; k < 8u; k++) {
        raw[k] = scalars[8u * i + k];
    }
    let s = fr_from_montgomery(raw);
    var carry = 0u;
    for (var w = 0u; w < prm.p2; w++) {
        let d = msm_digit(s, i, w, prm.p1, carry);
        carry = d.carry;
        if (d.key != EMPTY) {
            atomicAdd(&counts[d.key], 1u);
        }
    }
}

// @kernel msm_scatter fr
// Writes every entry at its slot; `cursors` starts as the exclusive scan of the counts.
// p0 = n, p1 = c, p2 = windows.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> scalars: array<u32>;
@group(0) @binding(2) var<storage, read_write> cursors: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> keys: array<u32>;
@group(0) @binding(4) var<storage, read_write> values: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid, WG);
    if (i >= prm.p0) {
        return;
    }
    var raw: Big;
    for (var k = 0u; k < 8u; k++) {
        raw[k] = scalars[8u * i + k];
    }
    let s = fr_from_montgomery(raw);
    var carry = 0u;
    for (var w = 0u; w < prm.p2; w++) {
        let d = msm_digit(s, i, w, prm.p1, carry);
        carry = d.carry;
        if (d.key != EMPTY) {
            let slot = atomicAdd(&cursors[d.key], 1u);
            keys[slot] = d.key;
            values[slot] = d.value;
        }
    }
}

// @kernel msm_partial_counts plain
// How many partials each segment emits (0, 1 or 2): the runs cut by its edges.
// p0 = len (entries in the list), p1 = seg, p2 = threads.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> counts: array<u32>;

// Whether the run [start, end) of `key` is all of that key in the list.
fn run_complete(key: u32, start: u32, end: u32) -> bool {
    return (start == 0u || keys[start - 1u] != key) && (end == prm.p0 || keys[end] != key);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wid, nwg, lid, WG);
    if (t >= prm.p2) {
        return;
    }
    let start = t * prm.p1;
    let end = min(start + prm.p1, prm.p0);
    var emitted = 0u;
    var cur = keys[start];
    var run = start;
    for (var e = start + 1u; e < end; e++) {
        let k = keys[e];
        if (k != cur) {
            emitted += select(1u, 0u, run_complete(cur, run, e));
            cur = k;
            run = e;
        }
    }
    emitted += select(1u, 0u, run_complete(cur, run, end));
    counts[t] = emitted;
}

// @kernel msm_accumulate_bases curve
// @points bases:affine buckets:xyzz-rw next_partials:xyzz-rw
// Level 0 of the bucket sums: entries (base index and sign) summed run by run.
// p0 = len, p1 = seg, p2 = threads.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read> values: array<u32>;
@group(0) @binding(3) var<storage, read> bases: array<u32>;
@group(0) @binding(4) var<storage, read> offsets: array<u32>;
@group(0) @binding(5) var<storage, read_write> buckets: array<u32>;
@group(0) @binding(6) var<storage, read_write> next_keys: array<u32>;
@group(0) @binding(7) var<storage, read_write> next_partials: array<u32>;

fn run_complete(key: u32, start: u32, end: u32) -> bool {
    return (start == 0u || keys[start - 1u] != key) && (end == prm.p0 || keys[end] != key);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wid, nwg, lid, WG);
    if (t >= prm.p2) {
        return;
    }
    let start = t * prm.p1;
    let end = min(start + prm.p1, prm.p0);
    var out = offsets[t];
    var acc = $C_inf();
    var cur = keys[start];
    var run = start;
    for (var e = start; e <= end; e++) {
        var k = EMPTY;
        if (e < end) {
            k = keys[e];
        }
        if (e == end || k != cur) {
            if (run_complete(cur, run, e)) {
                store_xyzz_buckets(cur, acc);
            } else {
                next_keys[out] = cur;
                store_xyzz_next_partials(out, acc);
                out++;
            }
            acc = $C_inf();
            cur = k;
            run = e;
        }
        if (e < end) {
            let v = values[e];
            var a = load_affine_bases(v & 0x7fffffffu);
            if ((v >> 31u) != 0u) {
                a.y = $K_neg(a.y);
            }
            acc = $C_add_affine(acc, a);
        }
    }
}

// @kernel msm_accumulate_partials curve
// @points partials:xyzz buckets:xyzz-rw next_partials:xyzz-rw
// Later levels of the bucket sums: the previous level's partials summed run by run.
// p0 = len, p1 = seg, p2 = threads.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read> partials: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read_write> buckets: array<u32>;
@group(0) @binding(5) var<storage, read_write> next_keys: array<u32>;
@group(0) @binding(6) var<storage, read_write> next_partials: array<u32>;

fn run_complete(key: u32, start: u32, end: u32) -> bool {
    return (start == 0u || keys[start - 1u] != key) && (end == prm.p0 || keys[end] != key);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wid, nwg, lid, WG);
    if (t >= prm.p2) {
        return;
    }
    let start = t * prm.p1;
    let end = min(start + prm.p1, prm.p0);
    var out = offsets[t];
    var acc = $C_inf();
    var cur = keys[start];
    var run = start;
    for (var e = start; e <= end; e++) {
        var k = EMPTY;
        if (e < end) {
            k = keys[e];
        }
        if (e == end || k != cur) {
            if (run_complete(cur, run, e)) {
                store_xyzz_buckets(cur, acc);
            } else {
                next_keys[out] = cur;
                store_xyzz_next_partials(out, acc);
                out++;
            }
            acc = $C_inf();
            cur = k;
            run = e;
        }
        if (e < end) {
            acc = $C_add(acc, load_xyzz_partials(e));
        }
    }
}

// @kernel msm_window_partials curve
// @points buckets:xyzz out:xyzz-rw
// Σ (b + 1)·bucket[b] over slice s of window w's buckets, for thread w·slices + s.
// p0 = windows, p1 = buckets a window, p2 = slices.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> buckets: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wid, nwg, lid, WG);
    if (t >= prm.p0 * prm.p2) {
        return;
    }
    let w = t / prm.p2;
    let s = t % prm.p2;
    let per = prm.p1 / prm.p2;
    let lo = s * per;
    let first = w * prm.p1 + lo;
    // running = Σ_{b ≥ j} bucket[b]; sum adds running for each j, so bucket b is counted
    // (b - lo + 1) times; lo·running adds the rest of its weight b + 1.
    var running = $C_inf();
    var sum = $C_inf();
    for (var j = per; j > 0u; j--) {
        running = $C_add(running, load_xyzz_buckets(first + j - 1u));
        sum = $C_add(sum, running);
    }
    sum = $C_add(sum, $C_mul_small(running, lo));
    store_xyzz_out(t, sum);
}
