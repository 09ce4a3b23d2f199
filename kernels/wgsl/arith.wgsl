// Shared by every Fornax WGSL kernel: 256-bit words, the multiply-accumulate step of the
// field arithmetic, kernel parameters and the linear thread index.
//
// The host (kernels/src/wgpu/source.rs) puts this file first and fills in the body of
// `mac`: one 64-bit expression where the adapter has 64-bit shader integers
// (SHADER_INT64), 16-bit halves of 32-bit products where it has not.

// A 256-bit integer as eight 32-bit words, least significant first.
alias Big = array<u32, 8>;

// Eight words of kernel parameters; each kernel says what its words mean.
struct Params {
    p0: u32, p1: u32, p2: u32, p3: u32,
    p4: u32, p5: u32, p6: u32, p7: u32,
}

// Threads a workgroup for the element-wise kernels.
const WG: u32 = 64u;

// The linear index of a thread of a dispatch laid out (x, y) workgroups of `size` threads,
// x at most 65535 (the host splits large dispatches into rows).
fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, size: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * size + lid;
}

// (lo, hi) of t + a·b + c, which always fits in 64 bits.
fn mac(t: u32, a: u32, b: u32, c: u32) -> vec2<u32> {
$MAC
}
