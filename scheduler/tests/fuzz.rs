//! Property-based fuzzing (proptest, stable Rust) of every parser that takes outside bytes:
//! zkey, r1cs and wtns files, circom witness generators (wasm) and their JSON inputs, FHE
//! programs and ciphertexts, TEE quotes, and the API's task JSON. Each input is a valid file
//! mutated (bytes flipped, words overwritten where binary formats keep lengths and counts,
//! cut, spliced, grown) or plain random bytes; the property is that the parser answers with a
//! value or a clear error and never panics, and that the API never answers a client's bytes
//! with a 5xx. JSON inputs are also mutated as JSON (a value anywhere in the document
//! replaced by another of any type, a key dropped or added), so that most reach the code
//! behind the JSON parser.
//!
//! `FORNAX_FUZZ_CASES` inputs per parser (default 256, the CI run: a few seconds); `ops/fuzz.sh N` runs
//! longer and prints how many inputs were tried. The random seed is printed (`FORNAX_SEED`
//! repeats a run); a failure prints the smallest input proptest shrank it to.

mod common;

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Inputs tried per parser.
fn cases() -> u32 {
    std::env::var("FORNAX_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// One change to a valid input.
#[derive(Clone, Debug)]
enum Mutation {
    /// XOR a byte at a position (taken modulo the length).
    Flip(usize, u8),
    /// Overwrite a little-endian u32 at a position: lengths, counts and section sizes.
    Word(usize, u32),
    /// Cut the input at a position.
    Truncate(usize),
    /// Remove a run of bytes.
    Remove(usize, usize),
    /// Insert bytes at a position.
    Insert(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let word = prop_oneof![
        Just(0u32),
        Just(1),
        Just(u32::MAX),
        Just(0x8000_0000),
        any::<u32>()
    ];
    prop_oneof![
        4 => (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        3 => (any::<usize>(), word).prop_map(|(i, w)| Mutation::Word(i, w)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), 1..64usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
    ]
}

/// `seed` with `mutations` applied in turn.
fn mutate(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for m in mutations {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match m {
            Mutation::Flip(i, x) if !v.is_empty() => {
                let i = at(*i, v.len());
                v[i] ^= x;
            }
            Mutation::Word(i, w) if v.len() >= 4 => {
                let i = at(*i, v.len() - 3);
                v[i..i + 4].copy_from_slice(&w.to_le_bytes());
            }
            Mutation::Truncate(i) => v.truncate(at(*i, v.len() + 1)),
            Mutation::Remove(i, n) if !v.is_empty() => {
                let i = at(*i, v.len());
                let end = (i + n).min(v.len());
                v.drain(i..end);
            }
            Mutation::Insert(i, bytes) => {
                let i = at(*i, v.len() + 1);
                v.splice(i..i, bytes.iter().copied());
            }
            _ => {}
        }
    }
    v
}

/// An input: `seed` mutated one to eight times, or (one time in eight) random bytes.
fn input(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        7 => prop::collection::vec(mutation(), 1..8).prop_map(move |ms| mutate(&seed, &ms)),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

/// Any JSON value, up to a few levels deep, favouring the awkward: huge, negative and
/// fractional numbers, numbers as strings, hex, empty and long strings.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!(
            "21888242871839275222246405745257275088548364400416034343698204186575808495617"
        )),
        Just(json!("-1")),
        Just(json!("0x")),
        Just(json!("1e400")),
        Just(json!("")),
        "[a-z0-9_]{0,12}".prop_map(Value::String),
        (0..5000usize).prop_map(|n| Value::String("9".repeat(n))),
    ];
    leaf.prop_recursive(3, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer into `v`, `""` (the whole) included.
fn pointers(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| pointers(x, format!("{at}/{i}"), out)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
            pointers(
                x,
                format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                out,
            )
        }),
        _ => {}
    }
    out.push(at);
}

/// A JSON input: `seed` (a JSON document) with one to four values replaced by arbitrary
/// ones (an object gaining or losing a key counts), or mutated as bytes (one time in four).
fn json_input(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let doc: serde_json::Value = serde_json::from_slice(&seed).expect("a JSON seed");
    let mut paths = Vec::new();
    pointers(&doc, String::new(), &mut paths);
    let edits = prop::collection::vec((any::<usize>(), json_value(), any::<bool>()), 1..5);
    prop_oneof![
        3 => edits.prop_map(move |edits| {
            let mut d = doc.clone();
            for (i, value, drop) in edits {
                let path = &paths[i % paths.len()];
                match (path.rsplit_once('/'), drop) {
                    (Some((parent, key)), true) => {
                        if let Some(serde_json::Value::Object(o)) = d.pointer_mut(parent) {
                            o.remove(key);
                        }
                    }
                    _ => {
                        if let Some(slot) = d.pointer_mut(path) {
                            *slot = value;
                        }
                    }
                }
            }
            serde_json::to_vec(&d).expect("serialisable")
        }),
        1 => input(seed),
    ]
}

/// Runs `check` on [`cases`] inputs derived from `seed`; a panic in it fails the test with
/// the smallest input found. `check` says whether the input was accepted (counted, to show
/// that mutations reach past the first check).
fn fuzz(name: &str, seed: Vec<u8>, check: impl Fn(&[u8]) -> bool) {
    fuzz_with(name, input(seed), check)
}

/// [`fuzz`] for a JSON seed, mutated as JSON ([`json_input`]).
fn fuzz_json(name: &str, seed: Vec<u8>, check: impl Fn(&[u8]) -> bool) {
    fuzz_with(name, json_input(seed), check)
}

fn fuzz_with(name: &str, inputs: impl Strategy<Value = Vec<u8>>, check: impl Fn(&[u8]) -> bool) {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&common::seed().to_le_bytes());
    key[8..8 + name.len().min(24)].copy_from_slice(&name.as_bytes()[..name.len().min(24)]);
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
    let start = std::time::Instant::now();
    let (tried, accepted) = (std::cell::Cell::new(0u64), std::cell::Cell::new(0u64));
    let result = runner.run(&inputs, |bytes| {
        tried.set(tried.get() + 1);
        if check(&bytes) {
            accepted.set(accepted.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    assert!(
        tried.get() >= cases() as u64,
        "{name}: only {} inputs tried",
        tried.get()
    );
    eprintln!(
        "fuzz {name}: {} inputs ({} accepted) in {:.2} s, no panic",
        tried.get(),
        accepted.get(),
        start.elapsed().as_secs_f64()
    );
}

fn fixture(name: &str, ext: &str) -> Vec<u8> {
    std::fs::read(common::circuit(name, ext)).unwrap()
}

/// The circuit's valid input (circom input JSON).
fn fixture_input(name: &str) -> Vec<u8> {
    std::fs::read(common::circuit(name, "zkey").with_file_name("input.json")).unwrap()
}

#[test]
fn circom_binary_files_never_panic() {
    use fornax_prover::{r1cs::R1cs, wtns, ProvingKey};
    fuzz("zkey", fixture("merkle_inclusion", "zkey"), |b| {
        ProvingKey::from_bytes("fuzz.zkey", b).is_ok()
    });
    fuzz("r1cs", fixture("merkle_inclusion", "r1cs"), |b| {
        R1cs::from_bytes("fuzz.r1cs", b).is_ok()
    });
    fuzz("wtns", fixture("merkle_inclusion", "wtns"), |b| {
        wtns::from_bytes("fuzz.wtns", b).is_ok()
    });
}

#[test]
fn witness_generators_and_their_inputs_never_panic() {
    use fornax_prover::witness::{parse_inputs, Limits, WitnessCalculator};
    let wasm = std::fs::read(common::wasm("merkle_inclusion")).unwrap();
    let input = fixture_input("merkle_inclusion");
    // Loading, and running with the valid input, under a small budget: a mutated
    // generator may loop or ask for much memory.
    let limits = || Limits {
        witness_fuel: 50_000_000,
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    let valid: serde_json::Value = serde_json::from_slice(&input).unwrap();
    let valid = parse_inputs("input.json", &valid).unwrap();
    fuzz("circom wasm", wasm.clone(), |b| {
        WitnessCalculator::from_bytes_with("fuzz.wasm", b, limits())
            .is_ok_and(|mut calc| calc.calculate("input.json", &valid).is_ok())
    });
    let calc =
        std::cell::RefCell::new(WitnessCalculator::from_bytes("merkle.wasm", &wasm).unwrap());
    fuzz_json("circuit input JSON", input, |b| {
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(b) else {
            return false;
        };
        parse_inputs("fuzz.json", &json)
            .is_ok_and(|inputs| calc.borrow_mut().calculate("fuzz.json", &inputs).is_ok())
    });
}

#[test]
fn fhe_programs_and_ciphertexts_never_panic() {
    use fornax_fhe::{io as fio, Program};
    let program = std::fs::read(common::root().join("ops/fhe/auction.json")).unwrap();
    fuzz_json("FHE program", program, |b| {
        Program::from_json(b).is_ok_and(|p| {
            p.validate().is_ok() && p.inputs <= 64 && p.eval_plain(&vec![1; p.inputs]).is_ok()
        })
    });
    // Inputs as the node reads them: proven lists, verified for their tenant.
    let dealt = fornax_fhe::setup(3, 2, &mut rand::rngs::OsRng).unwrap();
    let public = &dealt.public;
    let bytes = fornax_fhe::input::encrypt(public, 42, 8, "alice").unwrap();
    assert!(
        fornax_fhe::input::verify(public, &bytes, 8, "alice").is_ok(),
        "the seed is valid"
    );
    fuzz("FHE input", bytes.clone(), |b| {
        let squashed = fio::read_squashed(b).is_ok();
        fornax_fhe::input::verify(public, b, 8, "alice").is_ok() || squashed
    });
}

#[test]
fn tee_quotes_never_panic() {
    use fornax_enclave::{Evidence, Policy, Verifier};
    let data = common::root().join("enclave/tests/data");
    let verifier = Verifier::production(Policy::default());
    let report = hex::decode(
        std::fs::read_to_string(data.join("report_milan.hex"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let vcek = std::fs::read(data.join("vcek_milan.der")).unwrap();
    fuzz("SEV-SNP report", report, |b| {
        let evidence = Evidence::AmdSevSnp {
            report: b.to_vec(),
            vcek: vcek.clone(),
        };
        verifier.verify_quote(&evidence, 1_704_067_200).is_ok()
    });
    let collateral: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("tdx_quote_collateral.json")).unwrap())
            .unwrap();
    fuzz(
        "TDX quote",
        std::fs::read(data.join("tdx_quote")).unwrap(),
        |b| {
            let evidence = Evidence::IntelDcap {
                quote: b.to_vec(),
                collateral: Some(serde_json::from_value(collateral.clone()).unwrap()),
            };
            verifier.verify_quote(&evidence, 1_752_919_234).is_ok()
        },
    );
    // Evidence as JSON, as it arrives from a worker.
    let json = serde_json::to_vec(&Evidence::AmdSevSnp {
        report: vec![1, 2, 3],
        vcek: vec![4, 5],
    })
    .unwrap();
    fuzz_json("evidence JSON", json, |b| {
        serde_json::from_slice::<Evidence>(b).is_ok()
    });
}

#[test]
fn the_api_never_answers_a_clients_bytes_with_a_server_error() {
    let data = tempfile::tempdir().unwrap();
    let node = common::Node::start_until(
        data.path(),
        &["--rate-limit", "0"],
        &[("FORNAX_API_KEYS", "fuzz=fuzz-token")],
        "fornax node listening on ",
    );
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let zkey = fixture("merkle_inclusion", "zkey");
    let wasm = std::fs::read(common::wasm("merkle_inclusion")).unwrap();
    let form = reqwest::blocking::multipart::Form::new()
        .part("zkey", reqwest::blocking::multipart::Part::bytes(zkey))
        .part("wasm", reqwest::blocking::multipart::Part::bytes(wasm));
    let r = c
        .post(format!("{}/v1/circuits", node.url))
        .bearer_auth("fuzz-token")
        .multipart(form)
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let circuit = r.json::<serde_json::Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let input: serde_json::Value =
        serde_json::from_slice(&fixture_input("merkle_inclusion")).unwrap();
    let body = serde_json::to_vec(&serde_json::json!({
        "circuit": circuit, "input": input, "timeout_s": 600
    }))
    .unwrap();
    let post = |path: &str, b: &[u8]| {
        let r = c
            .post(format!("{}{path}", node.url))
            .bearer_auth("fuzz-token")
            .header("content-type", "application/json")
            .body(b.to_vec())
            .send()
            .unwrap();
        let status = r.status();
        assert!(
            !status.is_server_error(),
            "{path} answered {status} to {:?}: {}",
            String::from_utf8_lossy(b),
            r.text().unwrap_or_default()
        );
        status.is_success()
    };
    fuzz_json("task JSON (POST /v1/tasks)", body, |b| post("/v1/tasks", b));
    use base64::Engine as _;
    let witness =
        base64::engine::general_purpose::STANDARD.encode(fixture("merkle_inclusion", "wtns"));
    let body =
        serde_json::to_vec(&serde_json::json!({ "circuit": circuit, "witness": witness })).unwrap();
    fuzz_json("witness task JSON (POST /v1/tasks)", body, |b| {
        post("/v1/tasks", b)
    });
}
