//! The conformance kit: every backend runs these checks against independent reference
//! implementations (naive double-and-add sums and O(n²) transforms for small sizes,
//! arkworks' `VariableBaseMSM` and `Radix2EvaluationDomain` for large ones) on fresh random
//! inputs. Each check takes a seed; [`seed_from_env`] draws a fresh one, prints it, and
//! honours `FORNAX_SEED` to replay a failure.
//!
//! A check returns `Err` with a message naming the backend, the case and the seed.

use ark_bn254::{Fq2, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::{AdditiveGroup, AffineRepr, CurveGroup, PrimeGroup, VariableBaseMSM};
use ark_ff::{Field, PrimeField, UniformRand, Zero};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;

use crate::api::{Backend, KernelError, NttKind};
use crate::scalar;
use crate::words::{GpuCurve, GpuField};

/// A fresh seed, or `FORNAX_SEED` if set; printed either way so a failure can be replayed.
pub fn seed_from_env(what: &str) -> u64 {
    let seed = std::env::var("FORNAX_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("conformance[{what}]: seed {seed} (replay with FORNAX_SEED={seed})");
    seed
}

/// How the scalars of an MSM case are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarShape {
    /// Uniform in Fr.
    Uniform,
    /// All zero.
    Zeros,
    /// All one.
    Ones,
    /// Below 2^16, with about a third zero.
    Small,
    /// Small negative values `r - k`.
    SmallNegative,
    /// A mix: zeros, ones, r-1, small and uniform values.
    Mixed,
}

/// How the bases of an MSM case are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointShape {
    /// Distinct random points.
    Distinct,
    /// Every fourth point is the point at infinity.
    WithInfinity,
    /// Only three distinct points, repeated (forces doublings inside buckets).
    Repeated,
    /// Pairs `P, -P` (forces sums that are the point at infinity).
    Negations,
}

/// Every scalar shape, for tests that run them all.
pub const SCALAR_SHAPES: [ScalarShape; 6] = [
    ScalarShape::Uniform,
    ScalarShape::Zeros,
    ScalarShape::Ones,
    ScalarShape::Small,
    ScalarShape::SmallNegative,
    ScalarShape::Mixed,
];

/// Every point shape, for tests that run them all.
pub const POINT_SHAPES: [PointShape; 4] = [
    PointShape::Distinct,
    PointShape::WithInfinity,
    PointShape::Repeated,
    PointShape::Negations,
];

/// A device's element-wise self-test kernel, as the GPU backends expose it:
/// `(kernel, a, b, items, output words per item)` → the output words.
pub type Selftest<'a> =
    &'a dyn Fn(&str, &[u32], &[u32], usize, usize) -> Result<Vec<u32>, KernelError>;

fn to_words<F: GpuField>(values: &[F]) -> Vec<u32> {
    let mut out = Vec::new();
    for v in values {
        v.push_words(&mut out);
    }
    out
}

// Random field elements with the edge values 0, 1, -1 up front.
fn field_inputs<F: Field + UniformRand>(rng: &mut ChaCha20Rng, n: usize) -> Vec<F> {
    let mut v = vec![F::zero(), F::ONE, -F::ONE];
    v.extend((3..n).map(|_| F::rand(rng)));
    v
}

/// A prime-field self-test kernel (`a+b, a-b, a·b, a², -a, canonical(a)`, 48 words an item)
/// on `n` random pairs with the edge values, against arkworks.
pub fn check_field_selftest<F: PrimeField + GpuField>(
    run: Selftest<'_>,
    kernel: &str,
    seed: u64,
    n: usize,
) -> Result<(), String> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let a: Vec<F> = field_inputs(&mut rng, n);
    let mut b: Vec<F> = field_inputs(&mut rng, n);
    b.rotate_left(1);
    let out = run(kernel, &to_words(&a), &to_words(&b), n, 48).map_err(|e| e.to_string())?;
    for i in 0..n {
        let o = &out[48 * i..48 * (i + 1)];
        let got = |k: usize| F::from_words(&o[8 * k..8 * (k + 1)]);
        let (x, y) = (a[i], b[i]);
        let canon: Vec<u64> = x.into_bigint().as_ref().to_vec();
        let limbs: Vec<u64> = (0..4)
            .map(|k| o[40 + 2 * k] as u64 | (o[41 + 2 * k] as u64) << 32)
            .collect();
        let checks = [
            ("add", got(0) == x + y),
            ("sub", got(1) == x - y),
            ("mul", got(2) == x * y),
            ("sqr", got(3) == x.square()),
            ("neg", got(4) == -x),
            ("from_montgomery", limbs == canon),
        ];
        if let Some((op, _)) = checks.iter().find(|(_, ok)| !ok) {
            return Err(format!(
                "{kernel}: {op} of item #{i} is wrong (seed {seed})"
            ));
        }
    }
    Ok(())
}

/// An Fq2 self-test kernel (`a+b, a-b, a·b, a²`, 64 words an item) against arkworks.
pub fn check_fq2_selftest(
    run: Selftest<'_>,
    kernel: &str,
    seed: u64,
    n: usize,
) -> Result<(), String> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let a: Vec<Fq2> = field_inputs(&mut rng, n);
    let b: Vec<Fq2> = field_inputs(&mut rng, n);
    let out = run(kernel, &to_words(&a), &to_words(&b), n, 64).map_err(|e| e.to_string())?;
    for i in 0..n {
        let got = |k: usize| Fq2::from_words(&out[64 * i + 16 * k..64 * i + 16 * (k + 1)]);
        let checks = [
            ("add", got(0) == a[i] + b[i]),
            ("sub", got(1) == a[i] - b[i]),
            ("mul", got(2) == a[i] * b[i]),
            ("sqr", got(3) == a[i].square()),
        ];
        if let Some((op, _)) = checks.iter().find(|(_, ok)| !ok) {
            return Err(format!(
                "{kernel}: {op} of item #{i} is wrong (seed {seed})"
            ));
        }
    }
    Ok(())
}

/// A curve self-test kernel (for affine p, q: p + q mixed, 2p, (p + q) + 2p full, as XYZZ)
/// on `n` random pairs with the special cases P = Q, P = -Q and either at infinity.
pub fn check_curve_selftest<C: GpuCurve>(
    run: Selftest<'_>,
    kernel: &str,
    seed: u64,
    n: usize,
) -> Result<(), String>
where
    C::BaseField: GpuField,
    Projective<C>: PrimeGroup,
{
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let g = Projective::<C>::generator();
    let mut p: Vec<Projective<C>> = (0..n).map(|_| g * Fr::rand(&mut rng)).collect();
    let mut q: Vec<Projective<C>> = (0..n).map(|_| g * Fr::rand(&mut rng)).collect();
    q[0] = p[0];
    q[1] = -p[1];
    p[2] = Projective::zero();
    q[3] = Projective::zero();
    let mut a = Vec::new();
    let mut b = Vec::new();
    for (x, y) in Projective::normalize_batch(&p)
        .iter()
        .zip(&Projective::normalize_batch(&q))
    {
        C::push_affine(x, &mut a);
        C::push_affine(y, &mut b);
    }
    let w = C::XYZZ_WORDS;
    let out = run(kernel, &a, &b, n, 3 * w).map_err(|e| e.to_string())?;
    for i in 0..n {
        let o = &out[3 * w * i..3 * w * (i + 1)];
        let (sum, twice) = (p[i] + q[i], p[i].double());
        let checks = [
            ("P+Q", C::xyzz_to_projective(&o[..w]) == sum),
            ("2P", C::xyzz_to_projective(&o[w..2 * w]) == twice),
            (
                "(P+Q)+2P",
                C::xyzz_to_projective(&o[2 * w..]) == sum + twice,
            ),
        ];
        if let Some((op, _)) = checks.iter().find(|(_, ok)| !ok) {
            return Err(format!(
                "{kernel}: {op} of pair #{i} is wrong (seed {seed})"
            ));
        }
    }
    Ok(())
}

fn rng(seed: u64, case: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Random scalars of the given shape.
pub fn random_scalars(rng: &mut impl Rng, n: usize, shape: ScalarShape) -> Vec<Fr> {
    (0..n)
        .map(|i| match shape {
            ScalarShape::Uniform => Fr::rand(rng),
            ScalarShape::Zeros => Fr::zero(),
            ScalarShape::Ones => Fr::ONE,
            ScalarShape::Small => {
                if rng.gen_ratio(1, 3) {
                    Fr::zero()
                } else {
                    Fr::from(rng.gen_range(0u64..1 << 16))
                }
            }
            ScalarShape::SmallNegative => -Fr::from(rng.gen_range(1u64..1 << 20)),
            ScalarShape::Mixed => match i % 5 {
                0 => Fr::zero(),
                1 => Fr::ONE,
                2 => -Fr::ONE,
                3 => Fr::from(rng.gen::<u32>()),
                _ => Fr::rand(rng),
            },
        })
        .collect()
}

/// Random points of the given shape, made in parallel: chunks of 4096 points, each a random
/// walk (one addition a point) over 16 random steps from a random start of its own, seeded
/// from `rng`, so 2^24 points take seconds and the result depends only on `rng`'s state.
pub fn random_points<C: SWCurveConfig>(
    rng: &mut impl Rng,
    n: usize,
    shape: PointShape,
) -> Vec<Affine<C>>
where
    C::ScalarField: UniformRand,
{
    // Even, so that a `Negations` pair never straddles two chunks.
    const CHUNK: usize = 4096;
    let steps: Vec<Projective<C>> = (0..16).map(|_| Projective::<C>::rand(rng)).collect();
    let seeds: Vec<u64> = (0..n.div_ceil(CHUNK)).map(|_| rng.gen()).collect();
    let mut out = vec![Affine::<C>::identity(); n];
    out.par_chunks_mut(CHUNK)
        .zip(seeds)
        .enumerate()
        .for_each(|(k, (chunk, seed))| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let mut acc = Projective::<C>::rand(&mut rng);
            let mut walk: Vec<Projective<C>> = Vec::with_capacity(chunk.len());
            for j in 0..chunk.len() {
                let i = k * CHUNK + j;
                acc += steps[rng.gen_range(0..steps.len())];
                walk.push(match shape {
                    PointShape::WithInfinity if i % 4 == 3 => Projective::zero(),
                    PointShape::Repeated => steps[i % 3],
                    PointShape::Negations if i % 2 == 1 => -walk[j - 1],
                    _ => acc,
                });
            }
            chunk.copy_from_slice(&Projective::normalize_batch(&walk));
        });
    out
}

/// An independent reference: plain double-and-add for small inputs, arkworks for large.
pub fn reference_msm<C: SWCurveConfig<ScalarField = Fr>>(
    bases: &[Affine<C>],
    scalars: &[Fr],
) -> Projective<C> {
    if scalars.len() <= 64 {
        bases
            .iter()
            .zip(scalars)
            .fold(Projective::zero(), |acc, (p, s)| {
                acc + p.mul_bigint(s.into_bigint())
            })
    } else {
        Projective::<C>::msm(&bases[..scalars.len()], scalars).expect("equal lengths")
    }
}

fn fail(backend: &dyn Backend, seed: u64, case: String, detail: String) -> Result<(), String> {
    Err(format!(
        "backend {}: {case} failed (seed {seed}): {detail}",
        backend.info().id
    ))
}

/// G1 MSM of `n` terms with the given shapes, against the reference.
pub fn check_msm_g1(
    backend: &dyn Backend,
    seed: u64,
    n: usize,
    s: ScalarShape,
    p: PointShape,
) -> Result<(), String> {
    let mut rng = rng(seed, n as u64 * 31 + s as u64 * 7 + p as u64);
    let bases: Vec<G1Affine> = random_points(&mut rng, n, p);
    let scalars = random_scalars(&mut rng, n, s);
    let handle = backend.upload_g1(&bases).map_err(|e| e.to_string())?;
    let got = backend
        .msm_g1(&handle, &scalars)
        .map_err(|e| e.to_string())?;
    let want: G1Projective = reference_msm(&bases, &scalars);
    if got != want {
        return fail(
            backend,
            seed,
            format!("G1 MSM n={n} {s:?} {p:?}"),
            "result differs from the reference".into(),
        );
    }
    Ok(())
}

/// G2 MSM of `n` terms with the given shapes, against the reference.
pub fn check_msm_g2(
    backend: &dyn Backend,
    seed: u64,
    n: usize,
    s: ScalarShape,
    p: PointShape,
) -> Result<(), String> {
    let mut rng = rng(seed, 1 << 40 | (n as u64 * 31 + s as u64 * 7 + p as u64));
    let bases: Vec<G2Affine> = random_points(&mut rng, n, p);
    let scalars = random_scalars(&mut rng, n, s);
    let handle = backend.upload_g2(&bases).map_err(|e| e.to_string())?;
    let got = backend
        .msm_g2(&handle, &scalars)
        .map_err(|e| e.to_string())?;
    let want: G2Projective = reference_msm(&bases, &scalars);
    if got != want {
        return fail(
            backend,
            seed,
            format!("G2 MSM n={n} {s:?} {p:?}"),
            "result differs from the reference".into(),
        );
    }
    Ok(())
}

/// Every G1 case the GPU backends must pass: sizes 1 to 4099 in every scalar and point
/// shape, then 2^16, 2^18 and 2^20 in the shapes that stress the buckets. Returns how many
/// cases ran.
pub fn check_msm_g1_suite(backend: &dyn Backend, seed: u64) -> Result<usize, String> {
    let mut cases = 0;
    for n in [1, 2, 3, 15, 16, 17, 100, 1024, 4099] {
        for s in SCALAR_SHAPES {
            for p in POINT_SHAPES {
                check_msm_g1(backend, seed, n, s, p)?;
                cases += 1;
            }
        }
    }
    for log in [16, 18, 20] {
        for s in [
            ScalarShape::Uniform,
            ScalarShape::Ones,
            ScalarShape::Small,
            ScalarShape::Mixed,
        ] {
            check_msm_g1(backend, seed, 1 << log, s, PointShape::Distinct)?;
            cases += 1;
        }
    }
    Ok(cases)
}

/// Every G2 case the GPU backends must pass: sizes 1 to 1000 in every shape, and 2^16.
/// Returns how many cases ran.
pub fn check_msm_g2_suite(backend: &dyn Backend, seed: u64) -> Result<usize, String> {
    let mut cases = 0;
    for n in [1, 2, 17, 256, 1000] {
        for s in SCALAR_SHAPES {
            for p in POINT_SHAPES {
                check_msm_g2(backend, seed, n, s, p)?;
                cases += 1;
            }
        }
    }
    check_msm_g2(
        backend,
        seed,
        1 << 16,
        ScalarShape::Uniform,
        PointShape::Distinct,
    )?;
    Ok(cases + 1)
}

/// Resident bases reused: several MSMs (single and batched, prefixes of the bases, down to
/// sizes a backend sums naively) over one handle, uploaded by reference or by value, agree
/// with the reference.
pub fn check_msm_resident_reuse(backend: &dyn Backend, seed: u64) -> Result<(), String> {
    let mut rng = rng(seed, 77);
    let n = 1000;
    let bases: Vec<G1Affine> = random_points(&mut rng, n, PointShape::Distinct);
    let sets: Vec<Vec<Fr>> = [n, 999, 500, 17, 16, 15, 1]
        .iter()
        .map(|&k| random_scalars(&mut rng, k, ScalarShape::Uniform))
        .collect();
    let by_value = backend
        .upload_g1_owned(bases.clone())
        .map_err(|e| e.to_string())?;
    for (k, set) in sets.iter().enumerate() {
        let got = backend.msm_g1(&by_value, set).map_err(|e| e.to_string())?;
        if got != reference_msm::<ark_bn254::g1::Config>(&bases, set) {
            return fail(
                backend,
                seed,
                format!(
                    "G1 bases uploaded by value, MSM #{k} of {} terms",
                    set.len()
                ),
                "differs".into(),
            );
        }
    }
    let handle = backend.upload_g1(&bases).map_err(|e| e.to_string())?;
    let refs: Vec<&[Fr]> = sets.iter().map(|s| s.as_slice()).collect();
    let batch = backend
        .msm_g1_batch(&handle, &refs)
        .map_err(|e| e.to_string())?;
    for (k, set) in sets.iter().enumerate() {
        let single = backend.msm_g1(&handle, set).map_err(|e| e.to_string())?;
        let want: G1Projective = reference_msm(&bases, set);
        if single != want || batch[k] != want {
            return fail(
                backend,
                seed,
                format!("resident G1 bases, MSM #{k} of {} terms", set.len()),
                "differs".into(),
            );
        }
    }
    match backend.msm_g1(&handle, &vec![Fr::ONE; n + 1]) {
        Err(KernelError::LengthMismatch {
            bases: 1000,
            scalars: 1001,
        }) => Ok(()),
        other => fail(
            backend,
            seed,
            "more scalars than bases".into(),
            format!("expected LengthMismatch, got {other:?}"),
        ),
    }
}

/// Raw integers ≥ r are rejected with their index; in-range ones round-trip.
pub fn check_scalar_range(seed: u64) -> Result<(), String> {
    let mut rng = rng(seed, 99);
    let mut data = Vec::new();
    for _ in 0..8 {
        data.extend_from_slice(&scalar::fr_to_le_bytes(&Fr::rand(&mut rng)));
    }
    let parsed = scalar::frs_from_le_bytes(&data).map_err(|e| e.to_string())?;
    if parsed.len() != 8 {
        return Err(format!("seed {seed}: parsed {} of 8 scalars", parsed.len()));
    }
    // r itself, r + random, and 2^256 - 1 must all be rejected at their index.
    let modulus = Fr::MODULUS;
    let mut over = [0u8; 32];
    for (i, l) in modulus.0.iter().enumerate() {
        over[8 * i..8 * i + 8].copy_from_slice(&l.to_le_bytes());
    }
    let bump: u8 = rng.gen_range(0..=255);
    let mut bumped = over;
    bumped[0] = bumped[0].wrapping_add(bump);
    if bumped[0] < over[0] {
        bumped[1] = bumped[1].wrapping_add(1);
    }
    for (k, bad) in [over, bumped, [0xff; 32]].into_iter().enumerate() {
        let mut d = data.clone();
        d[3 * 32..4 * 32].copy_from_slice(&bad);
        match scalar::frs_from_le_bytes(&d) {
            Err(KernelError::ScalarOutOfRange { index: 3 }) => {}
            other => {
                return Err(format!(
                    "seed {seed}: value ≥ r #{k} not rejected: {other:?}"
                ))
            }
        }
        let reduced = scalar::fr_from_le_bytes_reduced(&bad);
        let expect = Fr::from_le_bytes_mod_order(&bad);
        if reduced != expect {
            return Err(format!(
                "seed {seed}: explicit reduction of value #{k} is wrong"
            ));
        }
    }
    Ok(())
}

fn naive_ntt(values: &[Fr], root: Fr) -> Vec<Fr> {
    let n = values.len();
    (0..n)
        .map(|k| {
            let wk = root.pow([k as u64]);
            let mut x = Fr::ONE;
            let mut acc = Fr::zero();
            for v in values {
                acc += *v * x;
                x *= wk;
            }
            acc
        })
        .collect()
}

/// The reference transform: O(n²) for n ≤ 64, arkworks' radix-2 domain above.
pub fn reference_ntt(values: &[Fr], kind: NttKind) -> Vec<Fr> {
    let n = values.len();
    let domain = Radix2EvaluationDomain::<Fr>::new(n).expect("power of two within 2-adicity");
    let root = domain.group_gen();
    let scale = |v: &mut [Fr], g: Fr| {
        let mut w = Fr::ONE;
        for x in v.iter_mut() {
            *x *= w;
            w *= g;
        }
    };
    let forward = |v: &[Fr]| {
        if n <= 64 {
            naive_ntt(v, root)
        } else {
            domain.fft(v)
        }
    };
    let inverse = |v: &[Fr]| {
        if n <= 64 {
            let n_inv = Fr::from(n as u64).inverse().expect("n < r");
            naive_ntt(v, root.inverse().expect("non-zero"))
                .into_iter()
                .map(|x| x * n_inv)
                .collect()
        } else {
            domain.ifft(v)
        }
    };
    match kind {
        NttKind::Forward => forward(values),
        NttKind::Inverse => inverse(values),
        NttKind::CosetForward(g) => {
            let mut v = values.to_vec();
            scale(&mut v, g);
            forward(&v)
        }
        NttKind::CosetInverse(g) => {
            let mut v = inverse(values);
            scale(&mut v, g.inverse().expect("non-zero shift"));
            v
        }
    }
}

/// Every NTT kind at size `2^log_size` against the reference, plus the round trip and the
/// fused evaluations-to-coset step.
pub fn check_ntt(backend: &dyn Backend, seed: u64, log_size: u32) -> Result<(), String> {
    let mut rng = rng(seed, 5000 + log_size as u64);
    let n = 1usize << log_size;
    let domain = backend.ntt_domain(log_size).map_err(|e| e.to_string())?;
    let input: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
    let shift = Fr::rand(&mut rng);
    let kinds = [
        NttKind::Forward,
        NttKind::Inverse,
        NttKind::CosetForward(shift),
        NttKind::CosetInverse(shift),
        NttKind::CosetForward(domain.groth16_coset_shift()),
    ];
    for kind in kinds {
        let mut got = input.clone();
        backend
            .ntt(&domain, &mut got, kind)
            .map_err(|e| e.to_string())?;
        if got != reference_ntt(&input, kind) {
            return fail(
                backend,
                seed,
                format!("NTT 2^{log_size} {kind:?}"),
                "differs from the reference".into(),
            );
        }
    }
    let mut round = input.clone();
    backend
        .ntt(&domain, &mut round, NttKind::Forward)
        .map_err(|e| e.to_string())?;
    backend
        .ntt(&domain, &mut round, NttKind::Inverse)
        .map_err(|e| e.to_string())?;
    if round != input {
        return fail(
            backend,
            seed,
            format!("NTT 2^{log_size} round trip"),
            "inverse(forward(x)) != x".into(),
        );
    }
    let mut coset = input.clone();
    backend
        .evals_to_coset(&domain, &mut coset, shift)
        .map_err(|e| e.to_string())?;
    let want = reference_ntt(
        &reference_ntt(&input, NttKind::Inverse),
        NttKind::CosetForward(shift),
    );
    if coset != want {
        return fail(
            backend,
            seed,
            format!("NTT 2^{log_size} evals_to_coset"),
            "differs".into(),
        );
    }
    Ok(())
}

/// Batched NTTs equal single ones; wrong lengths and zero shifts are refused, not panics.
pub fn check_ntt_batch_and_errors(backend: &dyn Backend, seed: u64) -> Result<(), String> {
    let mut rng = rng(seed, 6000);
    let domain = backend.ntt_domain(8).map_err(|e| e.to_string())?;
    let mut vs: Vec<Vec<Fr>> = (0..3)
        .map(|_| (0..256).map(|_| Fr::rand(&mut rng)).collect())
        .collect();
    let want: Vec<Vec<Fr>> = vs
        .iter()
        .map(|v| reference_ntt(v, NttKind::Forward))
        .collect();
    let mut refs: Vec<&mut [Fr]> = vs.iter_mut().map(|v| v.as_mut_slice()).collect();
    backend
        .ntt_batch(&domain, &mut refs, NttKind::Forward)
        .map_err(|e| e.to_string())?;
    if vs != want {
        return fail(
            backend,
            seed,
            "batched NTT".into(),
            "differs from single transforms".into(),
        );
    }
    let mut short = vec![Fr::ONE; 255];
    if !matches!(
        backend.ntt(&domain, &mut short, NttKind::Forward),
        Err(KernelError::SizeMismatch { .. })
    ) {
        return fail(
            backend,
            seed,
            "NTT of wrong length".into(),
            "not refused".into(),
        );
    }
    let mut ok = vec![Fr::ONE; 256];
    if !matches!(
        backend.ntt(&domain, &mut ok, NttKind::CosetForward(Fr::zero())),
        Err(KernelError::InvalidArgument(_))
    ) {
        return fail(
            backend,
            seed,
            "coset NTT with zero shift".into(),
            "not refused".into(),
        );
    }
    if !matches!(
        backend.ntt_domain(29),
        Err(KernelError::DomainTooLarge { .. })
    ) {
        return fail(
            backend,
            seed,
            "NTT domain of 2^29".into(),
            "not refused".into(),
        );
    }
    Ok(())
}

/// Points at infinity and the identity come out as the identity.
pub fn check_identity_results(backend: &dyn Backend, seed: u64) -> Result<(), String> {
    let mut rng = rng(seed, 7000);
    let bases: Vec<G1Affine> = vec![G1Affine::identity(); 100];
    let scalars = random_scalars(&mut rng, 100, ScalarShape::Uniform);
    let h = backend.upload_g1(&bases).map_err(|e| e.to_string())?;
    let got = backend.msm_g1(&h, &scalars).map_err(|e| e.to_string())?;
    if !got.is_zero() {
        return fail(
            backend,
            seed,
            "MSM over points at infinity".into(),
            "not the identity".into(),
        );
    }
    let got = backend.msm_g1(&h, &[]).map_err(|e| e.to_string())?;
    if !got.into_affine().is_zero() {
        return fail(backend, seed, "empty MSM".into(), "not the identity".into());
    }
    Ok(())
}
