//! Interoperability with the real circom/snarkjs tools (installed by `ops/setup.sh`):
//! circomlib circuits compiled by circom2, keys from a snarkjs ceremony, proofs checked in
//! both directions, and the CLI's errors for bad files.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{circuit, snarkjs, sub, text, vk};

const CIRCUITS: [&str; 2] = ["poseidon_preimage", "merkle_inclusion"];

fn fornax(args: &[&Path]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_fornax"))
        .args(args)
        .output()
        .expect("fornax runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "fornax panicked: {stderr}");
    out
}

/// Fornax's and snarkjs's proofs of circuit `name`'s fixture witness, written in `dir`:
/// (fornax's proof, its public signals, snarkjs's proof, its public signals).
fn both_proofs(dir: &Path, name: &str) -> [PathBuf; 4] {
    let files = ["proof", "public", "snarkjs-proof", "snarkjs-public"]
        .map(|f| dir.join(format!("{name}.{f}.json")));
    let [proof, public, sproof, spublic] = &files;
    let out = fornax(&[
        sub("prove"),
        &circuit(name, "zkey"),
        &circuit(name, "wtns"),
        proof,
        public,
    ]);
    assert!(out.status.success(), "fornax prove {name}: {}", text(&out));
    // Quiet on success (no device notes, no timings without -v), as a prover should be.
    assert!(
        out.stderr.is_empty(),
        "fornax prove {name} printed on success: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = snarkjs(&[
        sub("groth16"),
        sub("prove"),
        &circuit(name, "zkey"),
        &circuit(name, "wtns"),
        sproof,
        spublic,
    ]);
    assert!(out.status.success(), "snarkjs prove {name}: {}", text(&out));
    files
}

#[test]
fn fornax_proofs_verify_with_snarkjs_and_snarkjs_proofs_with_fornax() {
    let tmp = tempfile::tempdir().unwrap();
    for name in CIRCUITS {
        let [proof, public, sproof, spublic] = both_proofs(tmp.path(), name);
        let out = snarkjs(&[sub("groth16"), sub("verify"), &vk(name), &public, &proof]);
        assert!(
            out.status.success() && text(&out).contains("OK"),
            "snarkjs rejects fornax's {name} proof: {}",
            text(&out)
        );
        let out = fornax(&[sub("verify"), &vk(name), &public, &proof]);
        assert!(
            out.status.success(),
            "fornax rejects its own {name} proof: {}",
            text(&out)
        );

        assert_eq!(
            std::fs::read_to_string(&public)
                .unwrap()
                .split_whitespace()
                .collect::<String>(),
            std::fs::read_to_string(&spublic)
                .unwrap()
                .split_whitespace()
                .collect::<String>(),
            "public signals differ"
        );
        let out = fornax(&[sub("verify"), &vk(name), &spublic, &sproof]);
        assert!(
            out.status.success(),
            "fornax rejects snarkjs's {name} proof: {}",
            text(&out)
        );
    }
}

/// The API's `?format=calldata` (the one encoder in `fornax_prover::calldata`, which the chain
/// adapter also uses) is byte for byte what `snarkjs zkey export soliditycalldata` prints,
/// for fornax's proofs and for snarkjs's.
#[test]
fn calldata_is_what_snarkjs_exports() {
    let tmp = tempfile::tempdir().unwrap();
    for name in CIRCUITS {
        let [proof, public, sproof, spublic] = both_proofs(tmp.path(), name);
        for (proof, public) in [(&proof, &public), (&sproof, &spublic)] {
            let out = snarkjs(&[
                sub("zkey"),
                sub("export"),
                sub("soliditycalldata"),
                public,
                proof,
            ]);
            assert!(
                out.status.success(),
                "snarkjs soliditycalldata: {}",
                text(&out)
            );
            let theirs = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let read = |p: &Path| -> serde_json::Value {
                serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
            };
            let ours = fornax_api::solidity_calldata(&read(proof), &read(public)).unwrap();
            assert_eq!(ours, theirs, "{name}: calldata of {}", proof.display());
        }
    }
}

#[test]
fn tampered_proofs_and_wrong_public_inputs_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let name = "merkle_inclusion";
    let proof = tmp.path().join("proof.json");
    let public = tmp.path().join("public.json");
    assert!(fornax(&[
        sub("prove"),
        &circuit(name, "zkey"),
        &circuit(name, "wtns"),
        &proof,
        &public
    ])
    .status
    .success());
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();

    // Change one character of each coordinate in turn: the proof must never verify.
    for (field, path) in [
        ("pi_a", vec![0usize]),
        ("pi_a", vec![1]),
        ("pi_c", vec![0]),
        ("pi_b", vec![0, 1]),
        ("pi_b", vec![1, 0]),
    ] {
        let mut p = original.clone();
        let mut v = &mut p[field];
        for i in &path {
            v = &mut v[*i];
        }
        let s = v.as_str().unwrap().to_string();
        let last = s.chars().last().unwrap().to_digit(10).unwrap();
        *v = serde_json::Value::String(format!("{}{}", &s[..s.len() - 1], (last + 1) % 10));
        let tampered = tmp.path().join("tampered.json");
        std::fs::write(&tampered, serde_json::to_string(&p).unwrap()).unwrap();
        let out = fornax(&[sub("verify"), &vk(name), &public, &tampered]);
        assert!(
            !out.status.success(),
            "a proof with {field}{path:?} changed verified"
        );
        assert!(
            text(&out).contains("tampered.json") || text(&out).contains("INVALID"),
            "unclear message: {}",
            text(&out)
        );
        assert!(
            !snarkjs(&[sub("groth16"), sub("verify"), &vk(name), &public, &tampered])
                .status
                .success()
        );
    }

    // A wrong public input: the proof does not verify, exit code 1.
    let mut values: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(&public).unwrap()).unwrap();
    values[0] =
        (values[0].parse::<u128>().map(|v| (v + 1).to_string())).unwrap_or_else(|_| "7".into());
    let wrong = tmp.path().join("wrong-public.json");
    std::fs::write(&wrong, serde_json::to_string(&values).unwrap()).unwrap();
    let out = fornax(&[sub("verify"), &vk(name), &wrong, &proof]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("INVALID"));

    // A public value that is not a field element, and a wrong count: clear errors.
    let r = "21888242871839275222246405745257275088548364400416034343698204186575808495617";
    std::fs::write(&wrong, format!("[\"{r}\", \"1\"]")).unwrap();
    let out = fornax(&[sub("verify"), &vk(name), &wrong, &proof]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("wrong-public.json") && text(&out).contains("not a field element"),
        "{}",
        text(&out)
    );
    std::fs::write(&wrong, "[\"1\"]").unwrap();
    let out = fornax(&[sub("verify"), &vk(name), &wrong, &proof]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("expects 2"), "{}", text(&out));
}

/// Where the payload of section `id` starts in a binfile.
fn section_offset(bytes: &[u8], id: u32) -> usize {
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let mut pos = 12;
    loop {
        let size = u64::from_le_bytes(bytes[pos + 4..pos + 12].try_into().unwrap()) as usize;
        if word(pos) == id {
            return pos + 12;
        }
        pos += 12 + size;
    }
}

#[test]
fn malformed_keys_and_witnesses_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (proof, public) = (tmp.path().join("p.json"), tmp.path().join("q.json"));
    let zkey = std::fs::read(circuit("poseidon_preimage", "zkey")).unwrap();
    let wtns = std::fs::read(circuit("poseidon_preimage", "wtns")).unwrap();

    let truncated = tmp.path().join("truncated.zkey");
    std::fs::write(&truncated, &zkey[..zkey.len() / 2]).unwrap();
    let out = fornax(&[
        sub("prove"),
        &truncated,
        &circuit("poseidon_preimage", "wtns"),
        &proof,
        &public,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("truncated.zkey") && text(&out).contains("truncated"),
        "{}",
        text(&out)
    );

    let garbage = tmp.path().join("garbage.wtns");
    std::fs::write(&garbage, b"this is not a witness file at all").unwrap();
    let out = fornax(&[
        sub("prove"),
        &circuit("poseidon_preimage", "zkey"),
        &garbage,
        &proof,
        &public,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("garbage.wtns") && text(&out).contains("not a .wtns file"),
        "{}",
        text(&out)
    );

    let short = tmp.path().join("short.wtns");
    std::fs::write(&short, &wtns[..wtns.len() - 7]).unwrap();
    let out = fornax(&[
        sub("prove"),
        &circuit("poseidon_preimage", "zkey"),
        &short,
        &proof,
        &public,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("short.wtns"), "{}", text(&out));

    // A witness for the other circuit.
    let out = fornax(&[
        sub("prove"),
        &circuit("merkle_inclusion", "zkey"),
        &circuit("poseidon_preimage", "wtns"),
        &proof,
        &public,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("another circuit"), "{}", text(&out));

    // A zkey with a byte of two H points corrupted, #3 and #1: the error names the first.
    let mut corrupt = zkey.clone();
    let at = section_offset(&zkey, 9) + 70;
    corrupt[at + 2 * 64] ^= 0x77;
    corrupt[at] ^= 0x77;
    let bad = tmp.path().join("corrupt.zkey");
    std::fs::write(&bad, &corrupt).unwrap();
    let out = fornax(&[
        sub("prove"),
        &bad,
        &circuit("poseidon_preimage", "wtns"),
        &proof,
        &public,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("corrupt.zkey") && text(&out).contains("section 9 (H), point #1"),
        "{}",
        text(&out)
    );

    // A missing file.
    let out = fornax(&[
        sub("prove"),
        &tmp.path().join("nope.zkey"),
        &garbage,
        &proof,
        &public,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("nope.zkey"), "{}", text(&out));
}

#[test]
fn fornax_keys_and_verification_keys_match_snarkjs() {
    let tmp = tempfile::tempdir().unwrap();
    for name in CIRCUITS {
        // Fornax reads snarkjs's key exactly as snarkjs does.
        let ours = tmp.path().join(format!("{name}.vk.json"));
        assert!(fornax(&[sub("export-vk"), &circuit(name, "zkey"), &ours])
            .status
            .success());
        let a: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&ours).unwrap()).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(vk(name)).unwrap()).unwrap();
        for field in [
            "nPublic",
            "vk_alpha_1",
            "vk_beta_2",
            "vk_gamma_2",
            "vk_delta_2",
            "IC",
        ] {
            assert_eq!(
                a[field], b[field],
                "{name}: {field} differs from snarkjs's export"
            );
        }

        // A key written by fornax's (insecure) dev setup is read by snarkjs, and the proofs
        // made with it verify there.
        let zkey = tmp.path().join(format!("{name}.dev.zkey"));
        let out = fornax(&[sub("dev-setup"), &circuit(name, "r1cs"), &zkey]);
        assert!(out.status.success(), "{}", text(&out));
        let svk = tmp.path().join(format!("{name}.dev.vk.json"));
        let out = snarkjs(&[
            sub("zkey"),
            sub("export"),
            sub("verificationkey"),
            &zkey,
            &svk,
        ]);
        assert!(
            out.status.success(),
            "snarkjs cannot read fornax's zkey: {}",
            text(&out)
        );
        let (proof, public) = (
            tmp.path().join("dev.proof.json"),
            tmp.path().join("dev.public.json"),
        );
        let out = fornax(&[sub("prove"), &zkey, &circuit(name, "wtns"), &proof, &public]);
        assert!(out.status.success(), "{}", text(&out));
        let out = snarkjs(&[sub("groth16"), sub("verify"), &svk, &public, &proof]);
        assert!(
            out.status.success(),
            "snarkjs rejects a proof under fornax's dev key: {}",
            text(&out)
        );
        let out = snarkjs(&[
            sub("groth16"),
            sub("prove"),
            &zkey,
            &circuit(name, "wtns"),
            &proof,
            &public,
        ]);
        assert!(
            out.status.success(),
            "snarkjs cannot prove with fornax's zkey: {}",
            text(&out)
        );
        assert!(fornax(&[sub("verify"), &svk, &public, &proof])
            .status
            .success());
    }
}

/// A fresh random input for `name`, as circom JSON; the seed is printed by the caller.
fn random_input(name: &str, rng: &mut impl rand::Rng) -> serde_json::Value {
    // Values up to 2^200 exercise multi-limb inputs; a few are negative (reduced mod r).
    let mut value = || {
        let v = num_value(rng);
        serde_json::Value::String(v)
    };
    match name {
        "poseidon_preimage" => serde_json::json!({ "preimage": [value(), value()] }),
        "merkle_inclusion" => {
            let elements: Vec<_> = (0..4).map(|_| value()).collect();
            let leaf = value();
            let indices: Vec<_> = (0..4)
                .map(|_| serde_json::Value::String(rng.gen_range(0..2u8).to_string()))
                .collect();
            serde_json::json!({ "leaf": leaf, "pathElements": elements, "pathIndices": indices })
        }
        other => panic!("no input generator for {other}"),
    }
}

fn num_value(rng: &mut impl rand::Rng) -> String {
    let digits: String = (0..rng.gen_range(1..60))
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect();
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if rng.gen_bool(0.2) {
        format!("-{digits}")
    } else {
        digits.to_string()
    }
}

#[test]
fn witnesses_from_wasm_match_snarkjs_and_prove() {
    use rand::SeedableRng;
    let seed = std::env::var("FORNAX_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("seed {seed} (FORNAX_SEED={seed} replays it)");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().unwrap();
    for name in CIRCUITS {
        let wasm = common::wasm(name);
        for round in 0..3 {
            let input = tmp.path().join(format!("{name}-{round}.input.json"));
            std::fs::write(&input, random_input(name, &mut rng).to_string()).unwrap();
            let ours = tmp.path().join(format!("{name}-{round}.fornax.wtns"));
            let theirs = tmp.path().join(format!("{name}-{round}.snarkjs.wtns"));
            let out = fornax(&[
                sub("witness"),
                &wasm,
                &input,
                &ours,
                sub("--r1cs"),
                &circuit(name, "r1cs"),
            ]);
            assert!(
                out.status.success(),
                "fornax witness {name}: {}",
                text(&out)
            );
            let out = snarkjs(&[sub("wtns"), sub("calculate"), &wasm, &input, &theirs]);
            assert!(
                out.status.success(),
                "snarkjs wtns calculate {name}: {}",
                text(&out)
            );
            assert!(
                std::fs::read(&ours).unwrap() == std::fs::read(&theirs).unwrap(),
                "{name}: fornax's witness differs from snarkjs's for {}",
                std::fs::read_to_string(&input).unwrap()
            );
        }
        // Prove straight from the witness generator; snarkjs accepts the proof.
        let input = tmp.path().join(format!("{name}-0.input.json"));
        let proof = tmp.path().join(format!("{name}.wasm-proof.json"));
        let public = tmp.path().join(format!("{name}.wasm-public.json"));
        let out = fornax(&[
            sub("prove"),
            &circuit(name, "zkey"),
            &wasm,
            &proof,
            &public,
            sub("--input"),
            &input,
            sub("--r1cs"),
            &circuit(name, "r1cs"),
        ]);
        assert!(
            out.status.success(),
            "fornax prove from wasm {name}: {}",
            text(&out)
        );
        let out = snarkjs(&[sub("groth16"), sub("verify"), &vk(name), &public, &proof]);
        assert!(
            out.status.success() && text(&out).contains("OK"),
            "snarkjs rejects {name}: {}",
            text(&out)
        );
    }
}

#[test]
fn bad_circuit_inputs_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let name = "merkle_inclusion";
    let wasm = common::wasm(name);
    let cases = [
        (
            r#"{"leaf": 1, "pathElements": [1,2,3,4], "pathIndices": [0,1,2,0]}"#,
            "assert failed",
        ),
        (
            r#"{"leaf": 1, "pathElements": [1,2,3], "pathIndices": [0,1,1,0]}"#,
            "`pathElements` takes 4 values, the input gives 3",
        ),
        (
            r#"{"leaf": 1, "pathElements": [1,2,3,4], "pathIndices": [0,1,1,0], "nonce": 5}"#,
            "no input signal `nonce`",
        ),
        (
            r#"{"leaf": 1, "pathElements": [1,2,3,4]}"#,
            "only 5 of the circuit's 9 input values",
        ),
        (
            r#"{"leaf": "1e3", "pathElements": [1,2,3,4], "pathIndices": [0,1,1,0]}"#,
            "is not an integer",
        ),
        (r#"[1, 2]"#, "must be a JSON object"),
        (r#"{"leaf": "#, "input.json"),
    ];
    for (k, (json, expect)) in cases.iter().enumerate() {
        let input = tmp.path().join(format!("case{k}.input.json"));
        std::fs::write(&input, json).unwrap();
        let out_file = tmp.path().join("w.wtns");
        let out = fornax(&[sub("witness"), &wasm, &input, &out_file]);
        let msg = text(&out);
        assert_eq!(out.status.code(), Some(2), "{json}: {msg}");
        assert!(
            msg.contains(&input.display().to_string()) && msg.contains(expect),
            "{json}: expected `{expect}` in: {msg}"
        );
    }
    // A wasm that is not a witness generator, and a witness generator without --input.
    let input = tmp.path().join("case0.input.json");
    let out = fornax(&[
        sub("witness"),
        &circuit(name, "zkey"),
        &input,
        &tmp.path().join("w.wtns"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("not a WebAssembly module"),
        "{}",
        text(&out)
    );
    let out = fornax(&[
        sub("prove"),
        &circuit(name, "zkey"),
        &wasm,
        &tmp.path().join("p.json"),
        &tmp.path().join("q.json"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--input"), "{}", text(&out));
    // A witness for another circuit, caught by --r1cs with the constraint it breaks.
    let other = circuit("poseidon_preimage", "wtns");
    let out = fornax(&[
        sub("prove"),
        &circuit(name, "zkey"),
        &other,
        &tmp.path().join("p.json"),
        &tmp.path().join("q.json"),
        sub("--r1cs"),
        &circuit(name, "r1cs"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("wires (another circuit?)"),
        "{}",
        text(&out)
    );
}

/// `fornax bench groth16` runs whole processes side by side: Fornax, snarkjs, ark-groth16
/// (a process of its own), another build (here this one) and a plain command; every proof
/// is checked, the first of each by snarkjs too; a rapidsnark that is not there is left out
/// with the reason; bad arguments are refused with a message, not a panic.
#[test]
fn bench_prove_compares_whole_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("bench.json");
    let me = env!("CARGO_BIN_EXE_fornax");
    let baseline = format!("{me} prove");
    let out = Command::new(me)
        .env(
            "FORNAX_SNARKJS",
            common::root().join("ops/js/node_modules/.bin/snarkjs"),
        )
        .args(["bench", "groth16", "--reps", "2", "--baseline", &baseline])
        .args(["--peer", "snarkjs", "--peer", "ark-groth16"])
        .arg(format!("--peer=fornax={me}"))
        .args(["--peer", "rapidsnark=/nonexistent/prover", "--zkey"])
        .arg(circuit("merkle_inclusion", "zkey"))
        .arg("--wtns")
        .arg(circuit("merkle_inclusion", "wtns"))
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // Progress without a terminal: one plain line per run, no escape codes.
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(progress.contains("rep 2 of 2: ark-groth16"), "{progress}");
    assert!(!progress.contains('\x1b'), "{progress:?}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let row = &doc["rows"][0];
    assert_eq!(row["snarkjs_verified"], true, "{doc}");
    let peers = row["peers"].as_array().unwrap();
    let names: Vec<&str> = peers.iter().map(|p| p["peer"].as_str().unwrap()).collect();
    assert_eq!(names[..2], ["snarkjs", "ark-groth16"], "{doc}");
    assert!(names[2].starts_with("fornax ("), "{doc}");
    assert!(names[3].ends_with("fornax prove"), "{doc}");
    let runs = std::iter::once(&row["fornax"]["runs"]).chain(peers.iter().map(|p| &p["runs"]));
    for side in runs {
        let walls = side["wall_s"].as_array().unwrap();
        let rss = side["peak_rss_mib"].as_array().unwrap();
        assert_eq!((walls.len(), rss.len()), (2, 2), "{doc}");
        assert!(
            rss.iter().all(|m| m.as_f64().unwrap() > 1.0),
            "peak RSS measured: {doc}"
        );
    }
    assert!(
        peers.iter().all(|p| p["speedup"].as_f64().unwrap() > 0.0),
        "{doc}"
    );
    // rapidsnark is in no registry: left out, with the reason.
    assert!(
        doc["skipped"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no package registry")),
        "{doc}"
    );
    // Reproducible: the machine, the libraries' versions and each peer's own version.
    assert!(
        doc["machine"]["logical_cpus"].as_u64().unwrap() >= 1,
        "{doc}"
    );
    assert!(doc["machine"]["cpu"].as_str().is_some(), "{doc}");
    assert!(
        doc["versions"]["ark-groth16"]
            .as_str()
            .is_some_and(|v| v.starts_with("0.")),
        "{doc}"
    );
    assert!(
        peers[0]["version"].as_str().unwrap().contains("snarkjs"),
        "{doc}"
    );
    assert!(
        peers[1]["version"]
            .as_str()
            .unwrap()
            .starts_with("ark-groth16 0."),
        "{doc}"
    );
    assert!(
        peers[2]["version"]
            .as_str()
            .is_some_and(|v| v.contains(env!("CARGO_PKG_VERSION"))),
        "{doc}"
    );

    // A baseline that writes no proof, and no repetitions, are refused.
    for args in [
        vec!["--baseline", "/bin/true", "--reps", "1"],
        vec!["--reps", "0"],
        vec!["--peer", "bellman"],
    ] {
        let out = Command::new(me)
            .args(["bench", "prove"])
            .args(&args)
            .arg("--zkey")
            .arg(circuit("merkle_inclusion", "zkey"))
            .arg("--wtns")
            .arg(circuit("merkle_inclusion", "wtns"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} accepted: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
