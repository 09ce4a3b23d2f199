//! The prover's commands: `prove`, `witness`, `verify`, `export-vk`, `export-verifier` and
//! `dev-setup`, on files, like snarkjs and rapidsnark.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ark_bn254::Fr;
use fornax_kernels::DeviceRegistry;
use fornax_prover::json::{self, ProofJson, VerificationKeyJson};
use fornax_prover::witness::{self, WitnessCalculator};
use fornax_prover::{r1cs::R1cs, setup, wtns, LocalExecutor, ProvingKey};

/// `fornax witness`: computes a witness like `snarkjs wtns calculate`.
pub fn witness(wasm: &Path, input: &Path, out: &Path, r1cs: Option<&Path>) -> Result<ExitCode> {
    let t = Instant::now();
    let w = compute_witness(wasm, input, r1cs)?;
    std::fs::write(out, wtns::to_bytes(&w))
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "witness of {} values in {:.1} ms",
        w.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(ExitCode::SUCCESS)
}

/// `fornax export-vk`: the verification key of a proving key, as snarkjs writes it.
pub fn export_vk(zkey: &Path, out: &Path) -> Result<ExitCode> {
    let pk = ProvingKey::read(zkey)?;
    json::write_json(out, &VerificationKeyJson::from_key(&pk.verifying_key()))?;
    Ok(ExitCode::SUCCESS)
}

/// `fornax export-verifier`: a Solidity verifier for a verification key, on stdout.
pub fn export_verifier(vk: &Path) -> Result<ExitCode> {
    let file = vk.display().to_string();
    let key = json::read_json::<VerificationKeyJson>(vk)?.to_key(&file)?;
    print!("{}", fornax_prover::solidity::verifier_solidity(&key));
    Ok(ExitCode::SUCCESS)
}

/// `fornax dev-setup`: an insecure single-party setup, for tests and benchmarks.
pub fn dev_setup(r1cs: &Path, zkey: &Path) -> Result<ExitCode> {
    let circuit = R1cs::read(r1cs)?;
    eprintln!("WARNING: insecure single-party setup; for tests and benchmarks only");
    let pk = setup::insecure_setup(&circuit, &mut rand::rngs::OsRng);
    std::fs::write(zkey, pk.to_bytes()).with_context(|| format!("writing {}", zkey.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `circuit.wasm` on `input.json`; with `r1cs`, checks the witness against the circuit.
fn compute_witness(wasm: &Path, input: &Path, r1cs: Option<&Path>) -> Result<Vec<Fr>> {
    let input_name = input.display().to_string();
    let json: serde_json::Value = json::read_json(input)?;
    let inputs = witness::parse_inputs(&input_name, &json)?;
    let mut calc = WitnessCalculator::read(wasm)?;
    let w = calc.calculate(&input_name, &inputs)?;
    if let Some(path) = r1cs {
        check_witness(
            path,
            &w,
            &format!(
                "the witness computed by {} from {}",
                wasm.display(),
                input.display()
            ),
        )?;
    }
    Ok(w)
}

/// Checks `w` against the constraints in `r1cs`; `what` names the witness in errors.
fn check_witness(r1cs: &Path, w: &[Fr], what: &str) -> Result<()> {
    let circuit = R1cs::read(r1cs)?;
    if circuit.n_wires != w.len() {
        bail!(
            "{what} has {} values but {} has {} wires (another circuit?)",
            w.len(),
            r1cs.display(),
            circuit.n_wires
        );
    }
    if let Err(k) = circuit.check(w) {
        bail!("{what} breaks constraint #{k} of {}", r1cs.display());
    }
    Ok(())
}

/// Peak resident memory since the last reset (`VmHWM`), MiB, then resets it (Linux; `None`
/// elsewhere).
fn peak_mib_and_reset() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // "5" resets the peak to the current resident size.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    Some(kib / 1024.0)
}

/// `fornax prove`.
pub fn prove(
    zkey: &Path,
    witness: &Path,
    input: Option<&Path>,
    r1cs: Option<&Path>,
    verbose: bool,
    proof: &Path,
    public: &Path,
) -> Result<ExitCode> {
    let mut phases: Vec<(&str, Option<f64>)> = Vec::new();
    let t = Instant::now();
    let pk = ProvingKey::read(zkey)?;
    let is_wasm = std::fs::File::open(witness)
        .and_then(|mut f| {
            let mut magic = [0u8; 4];
            std::io::Read::read_exact(&mut f, &mut magic).map(|_| magic == *b"\0asm")
        })
        .unwrap_or(false);
    let w = match (is_wasm, input) {
        (true, Some(input)) => compute_witness(witness, input, r1cs)?,
        (true, None) => bail!(
            "{} is a witness generator: give the circuit's input with --input input.json",
            witness.display()
        ),
        (false, Some(_)) => bail!(
            "--input needs circom's circuit.wasm in place of the witness, not {}",
            witness.display()
        ),
        (false, None) => {
            let w = wtns::read(witness)?;
            if let Some(path) = r1cs {
                check_witness(path, &w, &witness.display().to_string())?;
            }
            w
        }
    };
    let load = t.elapsed();
    phases.push(("load", peak_mib_and_reset()));
    let registry = DeviceRegistry::discover();
    if verbose {
        for note in registry.notes() {
            eprintln!("{note}");
        }
    }
    let exec = LocalExecutor::new(registry);
    let t = Instant::now();
    let key = exec.prepare(&zkey.display().to_string(), pk)?;
    let prepare = t.elapsed();
    phases.push(("upload", peak_mib_and_reset()));
    if w.len() != key.shape().n_vars {
        bail!(
            "{} has {} values but {} expects {} (a witness for another circuit?)",
            witness.display(),
            w.len(),
            zkey.display(),
            key.shape().n_vars
        );
    }
    let (p, publics, timings) = exec.prove(&key, w, &mut rand::rngs::OsRng)?;
    json::write_json(proof, &ProofJson::from_proof(&p))?;
    json::write_json(public, &json::public_to_json(&publics))?;
    phases.push(("prove", peak_mib_and_reset()));
    // Quiet on success, as provers are; -v says where the time and the memory went.
    if verbose {
        eprintln!(
            "proved (domain 2^{}, {} wires) in {:.1} ms (load {:.1} ms, upload {:.1} ms)",
            key.shape().domain_size.trailing_zeros(),
            key.shape().n_vars,
            timings.total.as_secs_f64() * 1e3,
            load.as_secs_f64() * 1e3,
            prepare.as_secs_f64() * 1e3
        );
        for (role, device, d) in &timings.jobs {
            eprintln!("  {role:<14} {device:<8} {:>9.2} ms", d.as_secs_f64() * 1e3);
        }
        for (phase, peak) in phases {
            match peak {
                Some(mib) => eprintln!("  peak resident memory while {phase:<7} {mib:>8.1} MiB"),
                None => eprintln!("  peak resident memory while {phase:<7} unknown (no /proc)"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `fornax verify`: checks a proof like `snarkjs groth16 verify`.
pub fn verify(vk: &Path, public: &Path, proof: &Path) -> Result<ExitCode> {
    let vk_json: VerificationKeyJson = json::read_json(vk)?;
    let key = vk_json.to_key(&vk.display().to_string())?;
    let public_values: Vec<serde_json::Value> = json::read_json(public)?;
    let inputs = json::public_from_json(&public.display().to_string(), &public_values)?;
    let proof_json: ProofJson = json::read_json(proof)?;
    let p = proof_json.to_proof(&proof.display().to_string())?;
    if inputs.len() != key.n_public() {
        bail!(
            "{} holds {} public signals but {} expects {}",
            public.display(),
            inputs.len(),
            vk.display(),
            key.n_public()
        );
    }
    if fornax_prover::verify(&key, &inputs, &p)? {
        println!("OK: the proof is valid");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("INVALID: the proof does not verify for these public signals");
        Ok(ExitCode::from(1))
    }
}
