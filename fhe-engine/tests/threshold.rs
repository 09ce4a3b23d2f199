//! The FHE engine end to end on real tfhe-rs keys: random programs against plaintext
//! evaluation, k-of-n threshold decryption (k decrypt, k − 1 do not, wrong shares detected
//! and corrected), bit-exact evaluation, and refusal of malformed input. One key set (n = 5,
//! k = 3) is dealt per test binary; seeds are printed.

use fornax_fhe::device::DeviceEvaluator;
use fornax_fhe::engine::Evaluator;
use fornax_fhe::io;
use fornax_fhe::params::{
    delta_log2, squashed_noise_log2_bound, ParamSet, ThresholdParams, STATISTICAL_SECURITY_BITS,
};
use fornax_fhe::threshold::{self, Dealt, KeyHolder, PartialDecryption};
use fornax_fhe::{combine, combine_bounded, input, Error, Program};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::sync::OnceLock;
use tfhe::integer::ciphertext::SquashedNoiseRadixCiphertext;
use tfhe::integer::IntegerCiphertext;
use tfhe::prelude::FheDecrypt;
use tfhe::{ClientKey, SquashedNoiseFheUint};

struct Fixture {
    dealt: Dealt,
    holders: Vec<KeyHolder>,
    evaluator: Evaluator,
    client_key: ClientKey,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let started = std::time::Instant::now();
        let mut rng = ChaCha20Rng::from_entropy();
        let (dealt, client_key) = threshold::setup_insecure_keep_secret(5, 3, &mut rng).unwrap();
        let holders = dealt
            .shares
            .iter()
            .map(|s| KeyHolder::new(s.clone()).unwrap())
            .collect();
        let evaluator = Evaluator::new(&dealt.public);
        eprintln!(
            "set-up (5, 3) and key decompression: {:.1?}",
            started.elapsed()
        );
        Fixture {
            dealt,
            holders,
            evaluator,
            client_key,
        }
    })
}

fn rng() -> ChaCha20Rng {
    let seed: u64 = rand::random();
    println!("seed {seed}");
    ChaCha20Rng::seed_from_u64(seed)
}

fn raw(ct: &SquashedNoiseFheUint) -> SquashedNoiseRadixCiphertext {
    ct.underlying_squashed_noise_ciphertext().clone()
}

fn partials(
    f: &Fixture,
    ct: &SquashedNoiseRadixCiphertext,
    parties: &[usize],
) -> Vec<PartialDecryption> {
    parties
        .iter()
        .map(|&p| f.holders[p - 1].partial_decrypt(ct).unwrap())
        .collect()
}

#[test]
fn random_programs_decrypt_to_their_plaintext_evaluation() {
    let f = fixture();
    let mut rng = rng();
    for (round, bits) in [8u32, 16, 8].into_iter().enumerate() {
        let program = Program::random(bits, 2, 5, &mut rng);
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1 << bits) - 1
        };
        let inputs: Vec<u64> = (0..2).map(|_| rng.gen::<u64>() & mask).collect();
        let expected = program.eval_plain(&inputs).unwrap();
        let cts = inputs
            .iter()
            .map(|&v| f.evaluator.encrypt(&f.dealt.public, v, bits).unwrap())
            .collect();
        let out = f
            .evaluator
            .evaluate(&program, cts, &format!("t{round}"), 2)
            .unwrap();
        assert_eq!(out.outputs.len(), expected.len());
        // Any three of the five parties, a different three for each output.
        for (i, (squashed, want)) in out.outputs.iter().zip(&expected).enumerate() {
            let ct = &raw(squashed);
            let mut parties: Vec<usize> = (1..=5).collect();
            parties.rotate_left(i % 5);
            // Trusting the answers (t = 0): any k decrypt.
            let d =
                combine_bounded(&f.dealt.public, ct, &partials(f, ct, &parties[..3]), 0).unwrap();
            assert_eq!(
                d.value,
                u128::from(*want),
                "program {program:?} inputs {inputs:?} output {i}"
            );
            assert!(d.bad_parties.is_empty());
            // The plain client key agrees (the reference for the threshold path).
            let plain: u64 = squashed.decrypt(&f.client_key);
            assert_eq!(plain, *want);
        }
    }
}

#[test]
fn k_shares_decrypt_and_k_minus_1_do_not() {
    let f = fixture();
    let mut rng = rng();
    let v: u64 = rng.gen::<u16>().into();
    let program =
        Program::from_json(br#"{"bits":16,"inputs":1,"nodes":[],"outputs":[0]}"#).unwrap();
    let out = f
        .evaluator
        .evaluate(
            &program,
            vec![f.evaluator.encrypt(&f.dealt.public, v, 16).unwrap()],
            "k",
            1,
        )
        .unwrap();
    let ct = &raw(&out.outputs[0]);
    for parties in [[1, 2, 3], [3, 4, 5], [1, 3, 5], [2, 4, 5]] {
        let d = combine_bounded(&f.dealt.public, ct, &partials(f, ct, &parties), 0).unwrap();
        assert_eq!(d.value, u128::from(v));
        // Under the scheme's bound (k − 1 = 2 may lie), k answers are not enough.
        match combine(&f.dealt.public, ct, &partials(f, ct, &parties)) {
            Err(Error::NotEnoughShares { needed: 5, got: 3 }) => {}
            other => panic!("three shares under t = 2: {other:?}"),
        }
    }
    // All five agree: decrypted under the scheme's bound.
    let d = combine(&f.dealt.public, ct, &partials(f, ct, &[1, 2, 3, 4, 5])).unwrap();
    assert_eq!(d.value, u128::from(v));
    match combine_bounded(&f.dealt.public, ct, &partials(f, ct, &[2, 4]), 0) {
        Err(Error::NotEnoughShares { needed: 3, got: 2 }) => {}
        other => panic!("two shares: {other:?}"),
    }
    assert!(matches!(
        combine_bounded(&f.dealt.public, ct, &partials(f, ct, &[1, 2, 3, 4, 5]), 3),
        Err(Error::Parameters(_))
    ));
}

#[test]
fn wrong_shares_are_detected_and_corrected() {
    let f = fixture();
    let mut rng = rng();
    let v: u64 = rng.gen::<u16>().into();
    let program =
        Program::from_json(br#"{"bits":16,"inputs":1,"nodes":[{"op":"not","a":0}],"outputs":[1]}"#)
            .unwrap();
    let out = f
        .evaluator
        .evaluate(
            &program,
            vec![f.evaluator.encrypt(&f.dealt.public, v, 16).unwrap()],
            "c",
            1,
        )
        .unwrap();
    let ct = &raw(&out.outputs[0]);
    let want = u128::from(!v & 0xffff);
    let mut all = partials(f, ct, &[1, 2, 3, 4, 5]);
    let liar = rng.gen_range(0..5);
    let block = rng.gen_range(0..all[liar].blocks.len());
    let mut bytes = hex::decode(&all[liar].blocks[block]).unwrap();
    let byte = rng.gen_range(0..bytes.len());
    bytes[byte] ^= 1 << rng.gen_range(0..8);
    all[liar].blocks[block] = hex::encode(bytes);
    // Four honest plus the liar, at most one corrupt: corrected, the liar named.
    let d = combine_bounded(&f.dealt.public, ct, &all, 1).unwrap();
    assert_eq!(d.value, want);
    assert_eq!(d.bad_parties, vec![liar + 1]);
    // Under the scheme's bound (two may lie) four agreeing answers prove nothing: refused.
    assert!(matches!(
        combine(&f.dealt.public, ct, &all),
        Err(Error::Reconstruction(_))
    ));
    // k + 1 with the liar: detected, never a wrong value.
    let honest: Vec<PartialDecryption> = all
        .iter()
        .filter(|p| p.party != liar + 1)
        .cloned()
        .collect();
    let mut four = honest[..3].to_vec();
    four.push(all[liar].clone());
    assert!(matches!(
        combine_bounded(&f.dealt.public, ct, &four, 1),
        Err(Error::Reconstruction(_))
    ));
    // A share for another key set or another ciphertext counts as wrong.
    let mut foreign = all[(liar + 1) % 5].clone();
    foreign.key_id = hex::encode([7u8; 32]);
    let mut set: Vec<PartialDecryption> = honest
        .iter()
        .filter(|p| p.party != foreign.party)
        .cloned()
        .collect();
    set.push(foreign.clone());
    let d = combine_bounded(&f.dealt.public, ct, &set, 0).unwrap();
    assert_eq!(d.value, want);
    assert_eq!(d.bad_parties, vec![foreign.party]);
}

#[test]
fn partial_decryption_is_deterministic_in_the_ciphertext() {
    let f = fixture();
    let program = Program::from_json(br#"{"bits":8,"inputs":1,"nodes":[],"outputs":[0]}"#).unwrap();
    let out = f
        .evaluator
        .evaluate(
            &program,
            vec![f.evaluator.encrypt(&f.dealt.public, 200, 8).unwrap()],
            "d",
            1,
        )
        .unwrap();
    let ct = &raw(&out.outputs[0]);
    let a = f.holders[1].partial_decrypt(ct).unwrap();
    let b = f.holders[1].partial_decrypt(ct).unwrap();
    assert_eq!(a, b);
    // The same mask with another body (the body's bytes changed in the serialized
    // ciphertext): the same answer. A key holder's answer depends on the mask alone (⟨a, s_i⟩
    // and flooding keyed by the mask's hash); noise that moved with the body would give
    // fresh noise for each body, which repeated requests could average away.
    let bytes = fornax_fhe::io::write_squashed(&out.outputs[0]).unwrap();
    let lwe = |c: &SquashedNoiseRadixCiphertext, i: usize| -> Vec<u128> {
        c.packed_blocks()[i].lwe_ciphertext().as_ref().to_vec()
    };
    let body = *lwe(ct, 0).last().unwrap();
    let at = bytes
        .windows(16)
        .position(|w| w == body.to_le_bytes())
        .expect("the body's bytes are in the serialized ciphertext");
    let mut changed = bytes.clone();
    changed[at + 15] ^= 0x40;
    let other = fornax_fhe::io::read_squashed(&changed).unwrap();
    let (mine, theirs) = (lwe(ct, 0), lwe(&other, 0));
    assert_eq!(
        mine[..mine.len() - 1],
        theirs[..theirs.len() - 1],
        "same mask"
    );
    assert_ne!(mine.last(), theirs.last(), "another body");
    let c = f.holders[1].partial_decrypt(&other).unwrap();
    assert_ne!(c.ciphertext, a.ciphertext, "another ciphertext digest");
    assert_eq!(c.blocks, a.blocks, "the same answer");
    // The same message encrypted again (fresh mask a) gets another flooding noise.
    let again = f
        .evaluator
        .evaluate(
            &program,
            vec![f.evaluator.encrypt(&f.dealt.public, 200, 8).unwrap()],
            "d",
            1,
        )
        .unwrap();
    assert_ne!(
        f.holders[1]
            .partial_decrypt(&raw(&again.outputs[0]))
            .unwrap()
            .blocks,
        a.blocks
    );
}

#[test]
fn evaluation_is_bit_exact_however_it_is_split() {
    let f = fixture();
    let mut rng = rng();
    let program = Program::random(8, 3, 6, &mut rng);
    let inputs: Vec<_> = (0..3)
        .map(|_| {
            f.evaluator
                .encrypt(&f.dealt.public, rng.gen::<u8>().into(), 8)
                .unwrap()
        })
        .collect();
    let one = f
        .evaluator
        .evaluate(&program, inputs.clone(), "x", 1)
        .unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let three = pool
        .install(|| f.evaluator.evaluate(&program, inputs, "x", 3))
        .unwrap();
    assert_eq!(one.digest, three.digest, "program {program:?}");
}

/// The device path (tfhe-rs's high-level API, which the `gpu` feature runs on a GPU) computes
/// on the CPU exactly what the engine computes: the same digests, the same plaintexts.
#[test]
fn device_evaluation_on_the_cpu_is_bit_identical_to_the_engine() {
    let f = fixture();
    let mut rng = rng();
    let device = DeviceEvaluator::cpu(&f.dealt.public);
    assert_eq!(device.device(), "cpu");
    for bits in [8u32, 16] {
        let program = Program::random(bits, 3, 8, &mut rng);
        let mask = (1u64 << bits) - 1;
        let clear: Vec<u64> = (0..3).map(|_| rng.gen::<u64>() & mask).collect();
        let inputs: Vec<_> = clear
            .iter()
            .map(|&v| f.evaluator.encrypt(&f.dealt.public, v, bits).unwrap())
            .collect();
        let engine = f
            .evaluator
            .evaluate(&program, inputs.clone(), "d", 2)
            .unwrap();
        let on_device = device.evaluate(&program, inputs).unwrap();
        assert_eq!(on_device.digest, engine.digest, "program {program:?}");
        let expected = program.eval_plain(&clear).unwrap();
        for (ct, want) in on_device.outputs.iter().zip(&expected) {
            let got: u64 = ct.decrypt(&f.client_key);
            assert_eq!(got, *want, "program {program:?} inputs {clear:?}");
        }
    }
    // Inputs that do not fit are refused, as by the engine.
    let program = Program::random(16, 2, 2, &mut rng);
    let eight_bit = f.evaluator.encrypt(&f.dealt.public, 1, 8).unwrap();
    assert!(matches!(
        device.evaluate(&program, vec![eight_bit.clone(), eight_bit]),
        Err(Error::Ciphertext(_))
    ));
}

/// Squashes and evaluations running as rayon jobs, many at once on an oversubscribed pool:
/// tfhe-rs's high-level API keeps its key in a thread-local that each operation holds
/// borrowed while it waits on its own rayon jobs, and a worker waiting there that stole a job
/// setting the key used to panic ("RefCell already borrowed", seen in CI). Every result must
/// equal the same work run alone.
#[test]
fn squashes_and_evaluations_run_concurrently_as_rayon_jobs() {
    use fornax_fhe::engine::outputs_digest;
    use rayon::prelude::*;
    let f = fixture();
    let mut rng = rng();
    let program = Program::from_json(
        br#"{"bits":8,"inputs":2,"nodes":[{"op":"xor","a":0,"b":1},{"op":"and","a":0,"b":1},{"op":"or","a":0,"b":1},{"op":"not","a":0}],"outputs":[2,3,4,5]}"#,
    )
    .unwrap();
    let inputs: Vec<_> = (0..2)
        .map(|_| {
            f.evaluator
                .encrypt(&f.dealt.public, rng.gen::<u8>().into(), 8)
                .unwrap()
        })
        .collect();
    let plan = fornax_fhe::plan::plan(&program, "c", 4);
    let values = f
        .evaluator
        .compute(&program, inputs.clone(), &plan)
        .unwrap();
    let jobs = &plan.batches.last().unwrap().jobs;
    assert_eq!(jobs.len(), 4, "one squash job per output");
    let squash = |job| {
        let out = f.evaluator.run_squash(&program, job, &values).unwrap();
        outputs_digest(&out.into_iter().map(|(_, ct)| ct).collect::<Vec<_>>())
    };
    let alone: Vec<[u8; 32]> = jobs.iter().map(squash).collect();
    let evaluated = f
        .evaluator
        .evaluate(&program, inputs.clone(), "c", 4)
        .unwrap();
    let device = DeviceEvaluator::cpu(&f.dealt.public);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(6)
        .build()
        .unwrap();
    pool.install(|| {
        (0..96).into_par_iter().for_each(|i| {
            if i % 16 == 15 {
                let out = device.evaluate(&program, inputs.clone()).unwrap();
                assert_eq!(out.digest, evaluated.digest, "device evaluation {i}");
            } else {
                assert_eq!(squash(&jobs[i % 4]), alone[i % 4], "squash {i}");
            }
        })
    });
}

/// log2 of the largest noise |e| among a squashed result's blocks, measured with the secret.
fn squashed_noise_log2(client_key: &ClientKey, ct: &SquashedNoiseFheUint) -> f64 {
    let s = threshold::squashed_secret_key(client_key).unwrap();
    let mut worst = 0f64;
    for block in raw(ct).packed_blocks() {
        let data = block.lwe_ciphertext().as_ref();
        let (mask, body) = data.split_at(data.len() - 1);
        let dot = mask
            .iter()
            .zip(&s)
            .fold(0u128, |acc, (a, s)| acc.wrapping_add(a.wrapping_mul(*s)));
        let phase = body[0].wrapping_sub(dot);
        let delta = 1u128 << delta_log2();
        let rounded = phase.wrapping_add(delta / 2) & !(delta - 1);
        let e = phase.wrapping_sub(rounded) as i128;
        worst = worst.max((e.unsigned_abs() as f64).log2());
    }
    worst
}

/// What a decryption reveals is flooded: the noise the decoding meets is as wide as the
/// parameters' flooding, far above the squashed ciphertext's own noise (which alone would
/// leak the key), and within the decoding budget.
#[test]
fn the_flooding_noise_is_as_wide_as_the_parameters_say() {
    let f = fixture();
    let mut rng = rng();
    let params = f.dealt.public.params;
    let program =
        Program::from_json(br#"{"bits":16,"inputs":1,"nodes":[],"outputs":[0]}"#).unwrap();
    for round in 0..4 {
        let v: u64 = rng.gen::<u16>().into();
        let input = f.evaluator.encrypt(&f.dealt.public, v, 16).unwrap();
        let out = f
            .evaluator
            .evaluate(&program, vec![input], &format!("flood{round}"), 1)
            .unwrap();
        let ct = &raw(&out.outputs[0]);
        let d = combine(&f.dealt.public, ct, &partials(f, ct, &[1, 2, 3, 4, 5])).unwrap();
        assert_eq!(d.value, u128::from(v));
        let own = squashed_noise_log2(&f.client_key, &out.outputs[0]);
        println!(
            "round {round}: noise met 2^{:.1}, the ciphertext's own 2^{own:.1}, flooding 2^{} in {} terms",
            d.noise_log2,
            params.flood_bits,
            params.noise_terms()
        );
        // E sums C(5, 2) = 10 terms uniform in ±2^f: the largest of 4 blocks is below
        // 2^(f−8) with probability about 2^-37.
        assert!(
            d.noise_log2 >= (params.flood_bits - 8) as f64,
            "the decryption was not flooded: 2^{:.1}",
            d.noise_log2
        );
        assert!(d.noise_log2 > own + STATISTICAL_SECURITY_BITS as f64);
        assert!(d.noise_log2 <= params.total_noise_log2());
    }
}

/// The flooding noise is out of reach of any t = k − 1 colluders: every set of t parties
/// lacks the PRSS key of at least one set, whose noise term they cannot remove.
#[test]
fn every_set_of_t_parties_lacks_a_prss_key() {
    let f = fixture();
    let params = f.dealt.public.params;
    let (n, t) = (params.parties, params.threshold - 1);
    // Every set's key, as its members hold it: the same key in each member's share.
    let mut keys: std::collections::HashMap<u64, [u8; 32]> = Default::default();
    for share in &f.dealt.shares {
        for set in &share.prss {
            assert!(
                set.members & (1 << (share.party - 1)) != 0,
                "a key of a set it is not in"
            );
            assert_eq!(*keys.entry(set.members).or_insert(set.key), set.key);
        }
    }
    assert_eq!(keys.len() as u64, params.noise_terms());
    for colluders in 0u64..(1 << n) {
        if colluders.count_ones() as usize != t {
            continue;
        }
        let held: std::collections::HashSet<[u8; 32]> = f
            .dealt
            .shares
            .iter()
            .filter(|s| colluders & (1 << (s.party - 1)) != 0)
            .flat_map(|s| s.prss.iter().map(|set| set.key))
            .collect();
        assert!(
            keys.values().any(|k| !held.contains(k)),
            "parties {colluders:#b} hold every PRSS key"
        );
    }
}

#[test]
fn squashed_noise_stays_under_the_bound_the_parameters_assume() {
    let f = fixture();
    let program = Program::from_json(
        br#"{"bits":64,"inputs":1,"nodes":[{"op":"add","a":0,"b":0}],"outputs":[1]}"#,
    )
    .unwrap();
    let out = f
        .evaluator
        .evaluate(
            &program,
            vec![f.evaluator.encrypt(&f.dealt.public, 1234, 64).unwrap()],
            "n",
            1,
        )
        .unwrap();
    let worst = squashed_noise_log2(&f.client_key, &out.outputs[0]);
    let bound = squashed_noise_log2_bound(ParamSet::Classic);
    println!("squashed noise over 16 blocks: largest 2^{worst:.1}, bound 2^{bound:.1}");
    // Under the bound, and the bound not vacuous: 16 samples reach about one standard
    // deviation, which the bound puts 2^3.7 below itself.
    assert!(
        worst < bound,
        "noise 2^{worst:.1} over the bound 2^{bound:.1}"
    );
    assert!(
        bound - worst < 8.0,
        "the bound 2^{bound:.1} is far above the noise 2^{worst:.1}"
    );
}

/// An input as a tenant submits it: its proof of knowledge verifies for that tenant and this
/// key set only; the wrong width, a truncated or altered list, and garbage are refused; and
/// the verified input, expanded, evaluates and decrypts to its plaintext.
#[test]
fn proven_inputs_are_bound_to_their_tenant_and_evaluate_to_their_plaintext() {
    let f = fixture();
    let mut rng = rng();
    let v = rng.gen::<u16>() as u64;
    let started = std::time::Instant::now();
    let bytes = input::encrypt(&f.dealt.public, v, 16, "alice").unwrap();
    eprintln!(
        "a proven 16-bit input: {} bytes in {:.1?}",
        bytes.len(),
        started.elapsed()
    );
    let started = std::time::Instant::now();
    let list = input::verify(&f.dealt.public, &bytes, 16, "alice").unwrap();
    eprintln!("verified in {:.1?}", started.elapsed());
    // Another tenant cannot submit it as theirs, nor can a longer name that starts alike.
    for other in ["bob", "alice2", ""] {
        assert!(
            matches!(
                input::verify(&f.dealt.public, &bytes, 16, other),
                Err(Error::Proof(_))
            ),
            "verified for {other:?}"
        );
    }
    assert!(matches!(
        input::verify(&f.dealt.public, &bytes, 8, "alice"),
        Err(Error::Ciphertext(_))
    ));
    assert!(input::verify(&f.dealt.public, &bytes[..bytes.len() / 2], 16, "alice").is_err());
    assert!(input::verify(&f.dealt.public, b"not an input", 16, "alice").is_err());
    let mut altered = bytes.clone();
    let at = bytes.len() - 40;
    altered[at] ^= 1;
    assert!(input::verify(&f.dealt.public, &altered, 16, "alice").is_err());
    assert!(input::encrypt(&f.dealt.public, 1 << 16, 16, "alice").is_err());
    // Expanded, it is the value it proves.
    let identity =
        Program::from_json(br#"{"bits":16,"inputs":1,"nodes":[],"outputs":[0]}"#).unwrap();
    let ct = f.evaluator.expand(&list, 16).unwrap();
    let out = f
        .evaluator
        .evaluate(&identity, vec![ct], "proven", 1)
        .unwrap();
    let got: u64 = out.outputs[0].decrypt(&f.client_key);
    assert_eq!(got, v);
}

#[test]
fn malformed_and_oversized_input_is_refused() {
    let f = fixture();
    let ct = f.evaluator.encrypt(&f.dealt.public, 77, 16).unwrap();
    let bytes = io::write_radix(&ct, 16).unwrap();
    assert_eq!(
        io::read_radix(&bytes, 16, ParamSet::Classic)
            .unwrap()
            .blocks()
            .len(),
        8
    );
    // Truncated, flipped header, garbage, empty, too large, wrong width.
    assert!(io::read_radix(&bytes[..bytes.len() / 2], 16, ParamSet::Classic).is_err());
    let mut flipped = bytes.clone();
    flipped[3] ^= 0xff;
    assert!(io::read_radix(&flipped, 16, ParamSet::Classic).is_err());
    assert!(io::read_radix(b"not a ciphertext", 16, ParamSet::Classic).is_err());
    assert!(io::read_radix(&[], 16, ParamSet::Classic).is_err());
    assert!(matches!(
        io::read_radix(&vec![0u8; 1 << 22], 16, ParamSet::Classic),
        Err(Error::TooLarge { .. })
    ));
    assert!(
        io::read_radix(&bytes, 8, ParamSet::Classic).is_err(),
        "a 16-bit ciphertext read as 8-bit"
    );
    assert!(io::read_radix(&bytes, 12, ParamSet::Classic).is_err());
    // Squashed results and key shares likewise.
    assert!(io::read_squashed(b"junk").is_err());
    assert!(matches!(
        io::read_squashed(&vec![0u8; 1 << 24]),
        Err(Error::TooLarge { .. })
    ));
    let share = io::write_share(f.holders[0].share()).unwrap();
    assert_eq!(
        io::read_share(&share).unwrap().share(),
        f.holders[0].share()
    );
    assert!(io::read_share(&share[..share.len() - 1]).is_err());
    assert!(io::read_share(b"FORNAX-KEYSHARE-1\n\xff\xff\xff\xff\xff\xff\xff\xff").is_err());
    let mut other = f.holders[0].share().clone();
    other.party = 9;
    assert!(KeyHolder::new(other).is_err());
}

/// The GPU multi-bit parameter set, end to end on the CPU: a key set (3, 2) of its own, a
/// program evaluated by the engine and squashed, each output decrypted by every pair of key
/// holders to the plaintext result, its ciphertexts read back under its parameters, and the
/// squashed noise under the bound computed for it (so that the flooding derived from that
/// bound is at least 2^40 times the real noise).
#[test]
fn the_gpu_multi_bit_set_evaluates_and_threshold_decrypts() {
    let mut rng = rng();
    let started = std::time::Instant::now();
    let params = ThresholdParams::for_set(3, 2, ParamSet::GpuMultiBit).unwrap();
    let (dealt, client_key) = threshold::setup_insecure_keep_secret_for(params, &mut rng).unwrap();
    assert_eq!(dealt.public.params.pbs, ParamSet::GpuMultiBit);
    let holders: Vec<KeyHolder> = dealt
        .shares
        .iter()
        .map(|s| KeyHolder::new(s.clone()).unwrap())
        .collect();
    let evaluator = Evaluator::new(&dealt.public);
    eprintln!("multi-bit set-up (3, 2): {:.1?}", started.elapsed());
    let program = Program::from_json(
        br#"{"bits":16,"inputs":2,"nodes":[{"op":"add","a":0,"b":1},{"op":"and","a":0,"b":1}],"outputs":[2,3]}"#,
    )
    .unwrap();
    let clear = [rng.gen::<u16>() as u64, rng.gen::<u16>() as u64];
    let expected = program.eval_plain(&clear).unwrap();
    // Inputs as a tenant submits them: proven, verified, cast to this set's computation key.
    let inputs = clear
        .iter()
        .map(|&v| {
            let bytes = input::encrypt(&dealt.public, v, 16, "mb").unwrap();
            let list = input::verify(&dealt.public, &bytes, 16, "mb").unwrap();
            evaluator.expand(&list, 16).unwrap()
        })
        .collect();
    let out = evaluator.evaluate(&program, inputs, "mb", 2).unwrap();
    for (i, (squashed, want)) in out.outputs.iter().zip(&expected).enumerate() {
        let ct = raw(squashed);
        for pair in [[1, 2], [2, 3], [1, 3]] {
            let partials: Vec<_> = pair
                .iter()
                .map(|&p| holders[p - 1].partial_decrypt(&ct).unwrap())
                .collect();
            let d = combine_bounded(&dealt.public, &ct, &partials, 0).unwrap();
            assert_eq!(
                d.value,
                u128::from(*want),
                "output {i}, parties {pair:?}, inputs {clear:?}"
            );
        }
    }
    let worst = out
        .outputs
        .iter()
        .map(|ct| squashed_noise_log2(&client_key, ct))
        .fold(0f64, f64::max);
    let bound = squashed_noise_log2_bound(ParamSet::GpuMultiBit);
    println!("multi-bit squashed noise: largest 2^{worst:.1}, bound 2^{bound:.1}");
    assert!(
        worst < bound,
        "noise 2^{worst:.1} over the bound 2^{bound:.1}"
    );
}
