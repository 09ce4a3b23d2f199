//! Eval: runs a program's plan over ciphertexts with tfhe-rs, batch after batch, the jobs
//! of a batch in parallel, and ends with the noise squash that threshold decryption needs.
//!
//! **Bit-exact mode.** The parameters are classic KS-PBS (no multi-bit PBS) and every
//! operation is a deterministic function of its inputs, so the same program on the same
//! ciphertexts gives bit-identical results however the jobs are split or scheduled, and
//! [`EvalOutput::digest`] can be compared between workers. (The FFT's rounding could differ
//! between CPU instruction sets; workers compared by digest should share one.)

use crate::plan::{plan, Job, JobKind, Plan};
use crate::program::{Op, Program};
use crate::threshold::{ciphertext_digest, PublicKeySet};
use crate::Error;
use rayon::prelude::*;
use tfhe::integer::ciphertext::BooleanBlock;
use tfhe::integer::{IntegerCiphertext, RadixCiphertext, ServerKey};
use tfhe::prelude::SquashNoise;
use tfhe::{ReRandomizationMetadata, SquashedNoiseFheUint, Tag};

/// KS-PBS run in this process since the last [`reset_pbs_count`] (tfhe-rs's `pbs-stats`
/// counter, over every thread), for benchmarks that count bootstraps beside their time.
pub fn pbs_count() -> u64 {
    tfhe::get_pbs_count()
}

/// Sets [`pbs_count`] back to zero.
pub fn reset_pbs_count() {
    tfhe::reset_pbs_count()
}

/// A value during evaluation.
#[derive(Clone)]
pub enum Value {
    /// An encrypted integer.
    Uint(RadixCiphertext),
    /// An encrypted boolean.
    Bool(BooleanBlock),
}

/// Runs `f`, which uses tfhe-rs's high-level API, where that is safe: outside rayon's pools.
///
/// tfhe-rs keeps the high-level server key in a thread-local `RefCell` that each operation
/// holds borrowed while it waits on its rayon jobs. A rayon worker waiting there steals other
/// jobs; one that sets the key (another squash, another evaluation) finds the cell borrowed
/// and panics. So `f` runs in place on a thread outside rayon's pools (such a thread runs no
/// stolen jobs), and on a rayon worker it runs on a fresh thread of its own. `f` sets the key
/// it needs; the key is unset after, so no thread keeps a key set alive.
pub(crate) fn outside_rayon<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let run = || {
        let result = f();
        tfhe::unset_server_key();
        result
    };
    if rayon::current_thread_index().is_none() {
        return run();
    }
    std::thread::scope(|scope| match scope.spawn(run).join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// The result of Eval.
pub struct EvalOutput {
    /// One squashed ciphertext per program output.
    pub outputs: Vec<SquashedNoiseFheUint>,
    /// Digest of all outputs: equal digests, bit-identical results.
    pub digest: [u8; 32],
    /// The plan that was run.
    pub plan: Plan,
}

/// Holds the evaluation keys, decompressed once and reused across tasks.
pub struct Evaluator {
    /// The integer key that runs the operations.
    server_key: ServerKey,
    /// tfhe-rs's high-level key (the same keys, shared, plus the noise-squashing key): the
    /// squash goes through it so results are tfhe-rs's `SquashedNoiseFheUint`.
    high_level: tfhe::ServerKey,
}

impl Evaluator {
    /// Decompresses the public key set's evaluation keys.
    pub fn new(public: &PublicKeySet) -> Self {
        let (
            server_key,
            cpk,
            compression,
            decompression,
            squash,
            squash_compression,
            rerand,
            oprf,
            transciphering,
            tag,
        ) = public.server_key.decompress().into_raw_parts();
        let high_level = tfhe::ServerKey::from_raw_parts(
            server_key.clone(),
            cpk,
            compression,
            decompression,
            squash,
            squash_compression,
            rerand,
            oprf,
            transciphering,
            tag,
        );
        Evaluator {
            server_key,
            high_level,
        }
    }

    /// An input, verified ([`crate::input::verify`]), expanded into the engine's form: cast
    /// to the computation key and unpacked (a few bootstraps).
    pub fn expand(
        &self,
        input: &tfhe::ProvenCompactCiphertextList,
        bits: u32,
    ) -> Result<RadixCiphertext, Error> {
        outside_rayon(|| {
            tfhe::set_server_key(self.high_level.clone());
            crate::input::expand(input, bits)
        })
    }

    /// Encrypt(pk, d) without a proof, expanded at once: `value` as a `bits`-bit integer
    /// under `public`'s encryption key, cast to the computation key. For those who hold
    /// both ends (benchmarks, tests of the engine); a node takes only proven inputs
    /// ([`crate::input`]).
    pub fn encrypt(
        &self,
        public: &PublicKeySet,
        value: u64,
        bits: u32,
    ) -> Result<RadixCiphertext, Error> {
        crate::input::check_value(value, bits)?;
        let list = tfhe::CompactCiphertextList::builder(&public.public_key)
            .push_with_num_bits(value, bits as usize)
            .map_err(|e| Error::Program(e.to_string()))?
            .build_packed();
        outside_rayon(|| {
            tfhe::set_server_key(self.high_level.clone());
            let expanded = list.expand().map_err(|e| Error::Tfhe(e.to_string()))?;
            crate::input::first_of(&expanded, bits)
        })
    }

    /// The integer server key (for callers that run tfhe-rs operations directly).
    pub fn server_key(&self) -> &ServerKey {
        &self.server_key
    }

    /// Eval(pk, program, c): plans the program for `workers` parallel jobs and runs it.
    pub fn evaluate(
        &self,
        program: &Program,
        inputs: Vec<RadixCiphertext>,
        task_id: &str,
        workers: usize,
    ) -> Result<EvalOutput, Error> {
        check_inputs(program, &inputs)?;
        let plan = plan(program, task_id, workers);
        let values = self.compute(program, inputs, &plan)?;
        let squash_batch = plan
            .batches
            .last()
            .expect("a plan ends with its squash batch");
        let mut outputs: Vec<Option<SquashedNoiseFheUint>> = vec![None; program.outputs.len()];
        // One job after another: each squash is parallel over its blocks inside tfhe-rs,
        // and the high-level squash must not run as a rayon job (see `outside_rayon`).
        let squashed: Vec<Vec<(usize, SquashedNoiseFheUint)>> = outside_rayon(|| {
            tfhe::set_server_key(self.high_level.clone());
            squash_batch
                .jobs
                .iter()
                .map(|job| self.squash(program, job, &values))
                .collect::<Result<_, _>>()
        })?;
        for (o, ct) in squashed.into_iter().flatten() {
            outputs[o] = Some(ct);
        }
        let outputs: Vec<SquashedNoiseFheUint> = outputs
            .into_iter()
            .map(|o| o.expect("every output squashed"))
            .collect();
        let digest = outputs_digest(&outputs);
        Ok(EvalOutput {
            outputs,
            digest,
            plan,
        })
    }

    /// Runs the compute batches of `plan` (all but the final squash), the jobs of each batch
    /// in parallel, and returns every value. `inputs` must fit the program (checked by
    /// [`evaluate`](Self::evaluate)).
    pub fn compute(
        &self,
        program: &Program,
        inputs: Vec<RadixCiphertext>,
        plan: &Plan,
    ) -> Result<Vec<Option<Value>>, Error> {
        let mut values: Vec<Option<Value>> =
            inputs.into_iter().map(|c| Some(Value::Uint(c))).collect();
        values.resize(program.inputs + program.nodes.len(), None);
        let compute = &plan.batches[..plan.batches.len().saturating_sub(1)];
        for batch in compute {
            let results: Vec<Vec<(usize, Value)>> = batch
                .jobs
                .par_iter()
                .map(|job| self.run_nodes(program, job, &values))
                .collect::<Result<_, _>>()?;
            for (v, value) in results.into_iter().flatten() {
                values[v] = Some(value);
            }
        }
        Ok(values)
    }

    /// Runs one job of computing nodes, reading the values it needs from `values`.
    pub fn run_nodes(
        &self,
        program: &Program,
        job: &Job,
        values: &[Option<Value>],
    ) -> Result<Vec<(usize, Value)>, Error> {
        let JobKind::Nodes(nodes) = &job.kind else {
            return Err(Error::Program(format!("job {} is not a node job", job.id)));
        };
        nodes
            .iter()
            .map(|&v| {
                let op = &program.nodes[v - program.inputs];
                Ok((v, self.apply(program, op, values)?))
            })
            .collect()
    }

    /// Runs one squash job. Safe to call from any thread, rayon's workers included.
    pub fn run_squash(
        &self,
        program: &Program,
        job: &Job,
        values: &[Option<Value>],
    ) -> Result<Vec<(usize, SquashedNoiseFheUint)>, Error> {
        outside_rayon(|| {
            tfhe::set_server_key(self.high_level.clone());
            self.squash(program, job, values)
        })
    }

    /// Runs one squash job on the calling thread, whose high-level server key must be
    /// this evaluator's (tfhe-rs's high-level squash reads it).
    fn squash(
        &self,
        program: &Program,
        job: &Job,
        values: &[Option<Value>],
    ) -> Result<Vec<(usize, SquashedNoiseFheUint)>, Error> {
        let JobKind::Squash(outputs) = &job.kind else {
            return Err(Error::Program(format!(
                "job {} is not a squash job",
                job.id
            )));
        };
        outputs
            .iter()
            .map(|&o| {
                let radix = match value(values, program.outputs[o])? {
                    Value::Uint(c) => c.clone(),
                    Value::Bool(b) => b.clone().into_radix(program.blocks(), &self.server_key),
                };
                let squashed = crate::io::by_width!(program.bits, Id => {
                    tfhe::FheUint::<Id>::from_raw_parts(radix, Id::default(), Tag::default(), ReRandomizationMetadata::default())
                        .squash_noise()
                        .map_err(|e| Error::Tfhe(e.to_string()))
                })?;
                Ok((o, squashed))
            })
            .collect()
    }

    /// Applies one operation.
    pub fn apply(
        &self,
        program: &Program,
        op: &Op,
        values: &[Option<Value>],
    ) -> Result<Value, Error> {
        let sk = &self.server_key;
        let uint = |v: usize| -> Result<&RadixCiphertext, Error> {
            match value(values, v)? {
                Value::Uint(c) => Ok(c),
                Value::Bool(_) => Err(Error::Program(format!("value {v} is a boolean"))),
            }
        };
        use Op::*;
        Ok(match *op {
            Add { a, b } => Value::Uint(sk.add_parallelized(uint(a)?, uint(b)?)),
            Sub { a, b } => Value::Uint(sk.sub_parallelized(uint(a)?, uint(b)?)),
            Mul { a, b } => Value::Uint(sk.mul_parallelized(uint(a)?, uint(b)?)),
            AddConst { a, value } => Value::Uint(sk.scalar_add_parallelized(uint(a)?, value)),
            MulConst { a, value } => Value::Uint(sk.scalar_mul_parallelized(uint(a)?, value)),
            And { a, b } => Value::Uint(sk.bitand_parallelized(uint(a)?, uint(b)?)),
            Or { a, b } => Value::Uint(sk.bitor_parallelized(uint(a)?, uint(b)?)),
            Xor { a, b } => Value::Uint(sk.bitxor_parallelized(uint(a)?, uint(b)?)),
            Not { a } => Value::Uint(sk.bitnot(uint(a)?)),
            Shl { a, by } => Value::Uint(sk.scalar_left_shift_parallelized(uint(a)?, by)),
            Shr { a, by } => Value::Uint(sk.scalar_right_shift_parallelized(uint(a)?, by)),
            Eq { a, b } => Value::Bool(sk.eq_parallelized(uint(a)?, uint(b)?)),
            Ne { a, b } => Value::Bool(sk.ne_parallelized(uint(a)?, uint(b)?)),
            Lt { a, b } => Value::Bool(sk.lt_parallelized(uint(a)?, uint(b)?)),
            Le { a, b } => Value::Bool(sk.le_parallelized(uint(a)?, uint(b)?)),
            Gt { a, b } => Value::Bool(sk.gt_parallelized(uint(a)?, uint(b)?)),
            Ge { a, b } => Value::Bool(sk.ge_parallelized(uint(a)?, uint(b)?)),
            Min { a, b } => Value::Uint(sk.min_parallelized(uint(a)?, uint(b)?)),
            Max { a, b } => Value::Uint(sk.max_parallelized(uint(a)?, uint(b)?)),
            Select { cond, a, b } => {
                let Value::Bool(c) = value(values, cond)? else {
                    return Err(Error::Program(format!(
                        "select condition {cond} is not a boolean"
                    )));
                };
                Value::Uint(sk.cmux_parallelized(c, uint(a)?, uint(b)?))
            }
            Const { value } => Value::Uint(sk.create_trivial_radix(value, program.blocks())),
        })
    }
}

/// Validates `program` and checks that `inputs` fit it: their number and their blocks.
pub(crate) fn check_inputs(program: &Program, inputs: &[RadixCiphertext]) -> Result<(), Error> {
    program.validate()?;
    if inputs.len() != program.inputs {
        return Err(Error::Program(format!(
            "{} inputs given, {} expected",
            inputs.len(),
            program.inputs
        )));
    }
    if let Some((i, ct)) = inputs
        .iter()
        .enumerate()
        .find(|(_, c)| c.blocks().len() != program.blocks())
    {
        return Err(Error::Ciphertext(format!(
            "input {i} has {} blocks; a {}-bit program takes {}",
            ct.blocks().len(),
            program.bits,
            program.blocks()
        )));
    }
    Ok(())
}

fn value(values: &[Option<Value>], v: usize) -> Result<&Value, Error> {
    values
        .get(v)
        .and_then(Option::as_ref)
        .ok_or_else(|| Error::Program(format!("value {v} is not computed yet")))
}

/// Digest of a list of squashed outputs, in order.
pub fn outputs_digest(outputs: &[SquashedNoiseFheUint]) -> [u8; 32] {
    digest_of(
        outputs
            .iter()
            .map(|o| ciphertext_digest(&o.underlying_squashed_noise_ciphertext())),
    )
}

/// [`outputs_digest`] of outputs as read back ([`crate::io::read_squashed`]): whoever
/// stores a worker's outputs recomputes the digest the worker reported.
pub fn squashed_digest(
    outputs: &[tfhe::integer::ciphertext::SquashedNoiseRadixCiphertext],
) -> [u8; 32] {
    digest_of(outputs.iter().map(ciphertext_digest))
}

fn digest_of(digests: impl Iterator<Item = [u8; 32]>) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"fornax/fhe-outputs/v1");
    for d in digests {
        hasher.update(&d);
    }
    *hasher.finalize().as_bytes()
}
