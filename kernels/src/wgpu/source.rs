//! The WGSL programs: `kernels/wgsl/*.wgsl` cut into one module per kernel and instantiated
//! for its field or curve. WGSL has no generics, so the field code is written once with the
//! prefix `$F` (made `fr` or `fq`), the curve code once with `$C`/`$K`/`$T` (made `g1` over
//! Fq or `g2` over Fq2), and the field constants are generated from arkworks.
//!
//! A `.wgsl` file is a preamble followed by sections that start with a line
//! `// @kernel NAME KIND`; each section becomes one module: the shared arithmetic, the
//! libraries its KIND needs, the file's preamble, then the section with its bindings and
//! its entry point `main`. KIND is `plain` (no field), `fr` (Fr), `field` (one per prime
//! field: NAME_fr, NAME_fq), `g2` (Fq2) or `curve` (one per curve built: NAME_g1). A line
//! `// @points NAME:affine NAME:xyzz NAME:xyzz-rw …` asks for point accessors of those
//! buffers: `load_affine_NAME`, `load_xyzz_NAME`, and `store_xyzz_NAME` for `xyzz-rw`.

use ark_bn254::{Fq, Fr};
use ark_ff::{Field, PrimeField};

use crate::words::{neg_inverse_u32, u32_limbs};

const ARITH: &str = include_str!("../../wgsl/arith.wgsl");
const FIELD: &str = include_str!("../../wgsl/field.wgsl");
const FQ2: &str = include_str!("../../wgsl/fq2.wgsl");
const CURVE: &str = include_str!("../../wgsl/curve.wgsl");

/// The kernel files, in no particular order.
pub const FILES: [(&str, &str); 4] = [
    ("scan.wgsl", include_str!("../../wgsl/scan.wgsl")),
    ("ntt.wgsl", include_str!("../../wgsl/ntt.wgsl")),
    ("msm.wgsl", include_str!("../../wgsl/msm.wgsl")),
    ("selftest.wgsl", include_str!("../../wgsl/selftest.wgsl")),
];

/// How `mac` (t + a·b + c as two words) is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mac {
    /// One 64-bit product (the adapter offers SHADER_INT64).
    Int64,
    /// Four 16×16-bit products of 32-bit words (any adapter).
    Int32,
}

impl Mac {
    fn body(self) -> &'static str {
        match self {
            Mac::Int64 => {
                "    let s = u64(t) + u64(a) * u64(b) + u64(c);\n    \
                 return vec2<u32>(u32(s), u32(s >> 32u));"
            }
            Mac::Int32 => {
                "    let a0 = a & 0xffffu;\n    let a1 = a >> 16u;\n    \
                 let b0 = b & 0xffffu;\n    let b1 = b >> 16u;\n    \
                 let p00 = a0 * b0;\n    let p01 = a0 * b1;\n    \
                 let p10 = a1 * b0;\n    let p11 = a1 * b1;\n    \
                 // p01 + the two 16-bit carries stays below 2^32.\n    \
                 let mid = p01 + (p00 >> 16u) + (p10 & 0xffffu);\n    \
                 var lo = (mid << 16u) | (p00 & 0xffffu);\n    \
                 var hi = p11 + (mid >> 16u) + (p10 >> 16u);\n    \
                 lo += t;\n    hi += select(0u, 1u, lo < t);\n    \
                 lo += c;\n    hi += select(0u, 1u, lo < c);\n    \
                 return vec2<u32>(lo, hi);"
            }
        }
    }
}

/// One kernel's module: its name (as the backend looks it up) and WGSL text.
#[derive(Clone, Debug)]
pub struct KernelSource {
    /// The kernel's name, with `_fr`/`_fq`/`_g1`/`_g2` for instantiated kinds.
    pub name: String,
    /// The whole module.
    pub wgsl: String,
}

fn words_list(words: &[u32; 8]) -> String {
    let items: Vec<String> = words.iter().map(|w| format!("0x{w:08x}u")).collect();
    format!("array<u32, 8>({})", items.join(", "))
}

/// The field library for prefix `name` with the given modulus and Montgomery one.
fn field(name: &str, modulus: &[u64; 4], one: &[u64; 4]) -> String {
    let p = u32_limbs(modulus);
    let mut s = format!(
        "// {name}: generated from arkworks.\nconst {name}_P = {};\nconst {name}_R = {};\n\
         const {name}_INV: u32 = 0x{:08x}u;\n",
        words_list(&p),
        words_list(&u32_limbs(one)),
        neg_inverse_u32(p[0]),
    );
    s += &FIELD.replace("$F", name);
    s
}

/// A curve instantiation: its prefix, field prefix, field type and words of an element.
#[derive(Clone, Copy)]
struct CurveDef {
    name: &'static str,
    field: &'static str,
    ty: &'static str,
    words: u32,
}

const G1: CurveDef = CurveDef {
    name: "g1",
    field: "fq",
    ty: "Big",
    words: 8,
};
/// G2 over Fq2 (its kernels take a software Vulkan minutes each to compile: see the
/// module docs of `wgpu`).
const G2: CurveDef = CurveDef {
    name: "g2",
    field: "fq2",
    ty: "Fq2",
    words: 16,
};

/// The curves whose kernels are built.
const CURVES: [CurveDef; 2] = [G1, G2];

fn instantiate_curve(text: &str, c: CurveDef) -> String {
    text.replace("$C", c.name)
        .replace("$K", c.field)
        .replace("$T", c.ty)
}

/// Load and store functions for the point buffer `buf` of curve `c`.
fn point_accessors(c: CurveDef, buf: &str, kind: &str) -> String {
    let w = c.words;
    // Field-element loads and stores of this buffer, then points from them.
    let mut s = format!(
        "fn fq_load_{buf}(o: u32) -> Big {{\n    var r: Big;\n    \
         for (var k = 0u; k < 8u; k++) {{\n        r[k] = {buf}[o + k];\n    }}\n    return r;\n}}\n"
    );
    let writable = kind == "xyzz-rw";
    if writable {
        s += &format!(
            "fn fq_store_{buf}(o: u32, v: Big) {{\n    var x = v;\n    \
             for (var k = 0u; k < 8u; k++) {{\n        {buf}[o + k] = x[k];\n    }}\n}}\n"
        );
    }
    if c.ty == "Fq2" {
        s += &format!(
            "fn fq2_load_{buf}(o: u32) -> Fq2 {{\n    \
             return Fq2(fq_load_{buf}(o), fq_load_{buf}(o + 8u));\n}}\n"
        );
        if writable {
            s += &format!(
                "fn fq2_store_{buf}(o: u32, v: Fq2) {{\n    fq_store_{buf}(o, v.c0);\n    \
                 fq_store_{buf}(o + 8u, v.c1);\n}}\n"
            );
        }
    }
    let (n, f) = (c.name, c.field);
    if kind == "affine" {
        s += &format!(
            "fn load_affine_{buf}(i: u32) -> {n}_affine {{\n    let o = i * {aw}u;\n    \
             return {n}_affine({f}_load_{buf}(o), {f}_load_{buf}(o + {w}u));\n}}\n",
            aw = 2 * w
        );
        return s;
    }
    let (xw, w2, w3) = (4 * w, 2 * w, 3 * w);
    s += &format!(
        "fn load_xyzz_{buf}(i: u32) -> {n}_xyzz {{\n    let o = i * {xw}u;\n    \
         return {n}_xyzz({f}_load_{buf}(o), {f}_load_{buf}(o + {w}u), \
         {f}_load_{buf}(o + {w2}u), {f}_load_{buf}(o + {w3}u));\n}}\n"
    );
    if writable {
        s += &format!(
            "fn store_xyzz_{buf}(i: u32, p: {n}_xyzz) {{\n    let o = i * {xw}u;\n    \
             {f}_store_{buf}(o, p.x);\n    {f}_store_{buf}(o + {w}u, p.y);\n    \
             {f}_store_{buf}(o + {w2}u, p.zz);\n    {f}_store_{buf}(o + {w3}u, p.zzz);\n}}\n"
        );
    }
    s
}

/// Splits a kernel file into its preamble and its sections `(name, kind, text)`.
fn sections(file: &str) -> (String, Vec<(String, String, String)>) {
    let mut preamble = String::new();
    let mut out: Vec<(String, String, String)> = Vec::new();
    for line in file.lines() {
        if let Some(rest) = line.strip_prefix("// @kernel ") {
            let mut parts = rest.split_whitespace();
            let name = parts.next().unwrap_or_default().to_string();
            let kind = parts.next().unwrap_or("plain").to_string();
            out.push((name, kind, String::new()));
            continue;
        }
        match out.last_mut() {
            Some((_, _, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {
                preamble.push_str(line);
                preamble.push('\n');
            }
        }
    }
    (preamble, out)
}

/// Every kernel module, with `mac` computed as `mac` says.
pub fn kernels(mac: Mac) -> Vec<KernelSource> {
    let arith = ARITH.replace("$MAC", mac.body());
    let fr = field("fr", &Fr::MODULUS.0, &Fr::ONE.0 .0);
    let fq = field("fq", &Fq::MODULUS.0, &Fq::ONE.0 .0);
    let mut out = Vec::new();
    for (_, file) in FILES {
        let (preamble, parts) = sections(file);
        for (name, kind, text) in parts {
            let points: Vec<(String, String)> = text
                .lines()
                .filter_map(|l| l.strip_prefix("// @points "))
                .flat_map(|l| l.split_whitespace())
                .filter_map(|p| p.split_once(':'))
                .map(|(b, k)| (b.to_string(), k.to_string()))
                .collect();
            let body = format!("{preamble}\n{text}");
            match kind.as_str() {
                "plain" => out.push(KernelSource {
                    name,
                    wgsl: format!("{arith}\n{body}"),
                }),
                "fr" => out.push(KernelSource {
                    name,
                    wgsl: format!("{arith}\n{fr}\n{body}"),
                }),
                "field" => {
                    for (suffix, lib) in [("fr", &fr), ("fq", &fq)] {
                        out.push(KernelSource {
                            name: format!("{name}_{suffix}"),
                            wgsl: format!("{arith}\n{lib}\n{}", body.replace("$F", suffix)),
                        });
                    }
                }
                "g2" => out.push(KernelSource {
                    name,
                    wgsl: format!("{arith}\n{fq}\n{FQ2}\n{body}"),
                }),
                "curve" => {
                    for c in CURVES {
                        let mut wgsl = format!("{arith}\n{fq}\n");
                        if c.ty == "Fq2" {
                            wgsl += FQ2;
                        }
                        wgsl += &instantiate_curve(CURVE, c);
                        for (buf, k) in &points {
                            wgsl += &point_accessors(c, buf, k);
                        }
                        wgsl += &instantiate_curve(&body, c);
                        out.push(KernelSource {
                            name: format!("{name}_{}", c.name),
                            wgsl,
                        });
                    }
                }
                other => panic!("kernel {name}: unknown kind {other}"),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module parses and validates with naga (as wgpu does before any device sees
    /// it), with both ways of computing `mac`; so does nothing when the crate has no device.
    #[test]
    fn every_kernel_module_validates() {
        for mac in [Mac::Int64, Mac::Int32] {
            let all = kernels(mac);
            let mut names: Vec<&str> = all.iter().map(|k| k.name.as_str()).collect();
            names.sort_unstable();
            assert_eq!(
                names,
                [
                    "msm_accumulate_bases_g1",
                    "msm_accumulate_bases_g2",
                    "msm_accumulate_partials_g1",
                    "msm_accumulate_partials_g2",
                    "msm_count",
                    "msm_partial_counts",
                    "msm_scatter",
                    "msm_window_partials_g1",
                    "msm_window_partials_g2",
                    "ntt_bit_reverse",
                    "ntt_scale",
                    "ntt_stages",
                    "scan_add",
                    "scan_tiles",
                    "selftest_chain_g1",
                    "selftest_chain_g2",
                    "selftest_curve_g1",
                    "selftest_curve_g2",
                    "selftest_field_fq",
                    "selftest_field_fr",
                    "selftest_fq2",
                ]
            );
            for k in &all {
                assert!(!k.wgsl.contains('$'), "{}: a placeholder is left", k.name);
                let module = ::wgpu::naga::front::wgsl::parse_str(&k.wgsl).unwrap_or_else(|e| {
                    panic!("{} ({mac:?}): {}", k.name, e.emit_to_string(&k.wgsl))
                });
                let caps = if mac == Mac::Int64 {
                    ::wgpu::naga::valid::Capabilities::SHADER_INT64
                } else {
                    ::wgpu::naga::valid::Capabilities::empty()
                };
                ::wgpu::naga::valid::Validator::new(
                    ::wgpu::naga::valid::ValidationFlags::all(),
                    caps,
                )
                .validate(&module)
                .unwrap_or_else(|e| panic!("{} ({mac:?}): {}", k.name, e.emit_to_string(&k.wgsl)));
            }
        }
    }

    #[test]
    fn field_constants_come_from_arkworks() {
        let text = field("fq", &Fq::MODULUS.0, &Fq::ONE.0 .0);
        for w in u32_limbs(&Fq::MODULUS.0) {
            assert!(text.contains(&format!("0x{w:08x}u")));
        }
        let inv = <ark_bn254::FqConfig as ark_ff::MontConfig<4>>::INV as u32;
        assert!(text.contains(&format!("const fq_INV: u32 = 0x{inv:08x}u;")));
        assert_eq!(Fq::from_bigint(Fq::ONE.0), Some(Fq::from(2u64).pow([256])));
    }
}
