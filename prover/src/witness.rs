//! circom's WebAssembly witness generators (`circuit.wasm`), run in-process.
//!
//! circom 2 compiles a circuit's witness computation to a WebAssembly module with a small
//! ABI, the one snarkjs's `witness_calculator.js` drives:
//!
//! * imports `runtime.exceptionHandler(code)`, `runtime.printErrorMessage()`,
//!   `runtime.writeBufferMessage()` and `runtime.showSharedRWMemory()`;
//! * exports `init(sanity_check)`, `getFieldNumLen32()`, `getRawPrime()`,
//!   `getWitnessSize()`, `getInputSize()`, `getInputSignalSize(hash_hi, hash_lo)`,
//!   `setInputSignal(hash_hi, hash_lo, index)`, `getWitness(index)`,
//!   `readSharedRWMemory(limb)` / `writeSharedRWMemory(limb, value)` (one field element
//!   as little-endian 32-bit limbs, canonical form) and `getMessageChar()`.
//!
//! An input signal is addressed by the 64-bit FNV-1a hash of its qualified name (`a`,
//! `bus.field`, `arr[2].field`); array values are flattened row-major. The witness is
//! computed while the last input value is set. [`WitnessCalculator`] runs the module with
//! wasmi, an interpreter: slower than a native witness generator, but pure Rust, with no
//! JIT, so an uploaded module can do nothing but compute.

use std::path::Path;
use std::time::Instant;

use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField};
use num_bigint::{BigInt, BigUint, Sign};
use wasmi::{
    Caller, Config, Engine, Instance, Linker, Module, Store, StoreLimits, StoreLimitsBuilder,
    TypedFunc, TypedResumableCall,
};

use crate::ProverError;

/// What a witness generator may spend: generators are uploaded by tenants, and one that
/// loops forever or grows without bound must not hang or exhaust the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Instructions (wasmi fuel) for loading: for instantiation, and again for the
    /// metadata calls that follow it.
    pub load_fuel: u64,
    /// Instructions for computing one witness.
    pub witness_fuel: u64,
    /// Bytes the module's linear memory may grow to.
    pub memory_bytes: usize,
}

impl Default for Limits {
    /// 10^8 instructions to load (circom's loaders take thousands), 2^40 (about 10^12,
    /// tens of minutes in wasmi) per witness, and 2 GiB of memory.
    fn default() -> Self {
        Limits {
            load_fuel: 100_000_000,
            witness_fuel: 1 << 40,
            memory_bytes: 2 << 30,
        }
    }
}

/// Instructions handed to the module at a time: between two slices the calculator checks its
/// deadline, so a computation stops within about one slice (milliseconds) of it.
const FUEL_SLICE: u64 = 1 << 24;

/// What the module's host calls collect while it runs.
struct Host {
    /// Bounds on the module's memory.
    limits: StoreLimits,
    /// Messages the circuit printed before failing (`printErrorMessage`).
    errors: String,
    /// A `log()` line being assembled (`writeBufferMessage`).
    log: String,
}

/// A loaded circom witness generator, ready to compute witnesses for many inputs.
pub struct WitnessCalculator {
    file: String,
    store: Store<Host>,
    limits: Limits,
    instance: Instance,
    witness_size: usize,
    /// Instructions left to the current entry point, beyond those in the store.
    fuel_left: u64,
    /// When the current computation must stop, if ever.
    deadline: Option<Instant>,
}

/// The inputs of one witness computation: qualified signal names with their values,
/// flattened, in the order the input JSON gives them.
pub type Inputs = Vec<(String, Vec<Fr>)>;

impl WitnessCalculator {
    /// Loads `circuit.wasm`.
    pub fn read(path: &Path) -> Result<Self, ProverError> {
        let bytes = crate::binfile::read_file(path)?;
        Self::from_bytes(&path.display().to_string(), &bytes)
    }

    /// Loads a witness generator held in memory, under the default [`Limits`]; `file` names
    /// it in errors.
    pub fn from_bytes(file: &str, wasm: &[u8]) -> Result<Self, ProverError> {
        Self::from_bytes_with(file, wasm, Limits::default())
    }

    /// Loads a witness generator held in memory under `limits`.
    pub fn from_bytes_with(file: &str, wasm: &[u8], limits: Limits) -> Result<Self, ProverError> {
        let bad = |problem: String| ProverError::format(file, problem);
        if !wasm.starts_with(b"\0asm") {
            return Err(bad(
                "not a WebAssembly module (expected circom's circuit.wasm)".into(),
            ));
        }
        let mut config = Config::default();
        config.consume_fuel(true);
        let engine = Engine::new(&config);
        let module =
            Module::new(&engine, wasm).map_err(|e| bad(format!("invalid WebAssembly: {e}")))?;
        let mut store = Store::new(
            &engine,
            Host {
                limits: StoreLimitsBuilder::new()
                    .memory_size(limits.memory_bytes)
                    .build(),
                errors: String::new(),
                log: String::new(),
            },
        );
        store.limiter(|host| &mut host.limits);
        // Instantiation runs the module's start function: it gets the whole load budget.
        store
            .set_fuel(limits.load_fuel)
            .map_err(|e| bad(format!("fuel: {e}")))?;
        let mut linker = <Linker<Host>>::new(&engine);
        linker
            .func_wrap(
                "runtime",
                "exceptionHandler",
                |caller: Caller<'_, Host>, code: i32| -> Result<(), wasmi::Error> {
                    let what = match code {
                        1 => "signal not found",
                        2 => "too many signals set",
                        3 => "signal already set",
                        4 => "assert failed",
                        5 => "not enough memory",
                        6 => "input signal array access exceeds the size",
                        7 => "out of bounds array access",
                        _ => "unknown error",
                    };
                    let detail = caller.data().errors.trim();
                    Err(wasmi::Error::new(if detail.is_empty() {
                        what.to_string()
                    } else {
                        format!("{what}: {detail}")
                    }))
                },
            )
            .and_then(|l| {
                l.func_wrap(
                    "runtime",
                    "printErrorMessage",
                    |mut caller: Caller<'_, Host>| -> Result<(), wasmi::Error> {
                        let message = read_message(&mut caller)?;
                        let errors = &mut caller.data_mut().errors;
                        errors.push_str(&message);
                        errors.push('\n');
                        Ok(())
                    },
                )
            })
            .and_then(|l| {
                l.func_wrap(
                    "runtime",
                    "writeBufferMessage",
                    |mut caller: Caller<'_, Host>| -> Result<(), wasmi::Error> {
                        // The circuit's `log()`: a line ends with a message "\n".
                        let message = read_message(&mut caller)?;
                        let log = &mut caller.data_mut().log;
                        if message == "\n" {
                            eprintln!("circuit log: {log}");
                            log.clear();
                        } else {
                            if !log.is_empty() {
                                log.push(' ');
                            }
                            log.push_str(&message);
                        }
                        Ok(())
                    },
                )
            })
            .and_then(|l| {
                l.func_wrap(
                    "runtime",
                    "showSharedRWMemory",
                    |mut caller: Caller<'_, Host>| -> Result<(), wasmi::Error> {
                        let value = read_shared(&mut caller)?;
                        let log = &mut caller.data_mut().log;
                        if !log.is_empty() {
                            log.push(' ');
                        }
                        log.push_str(&value.to_string());
                        Ok(())
                    },
                )
            })
            .map_err(|e| bad(format!("linking: {e}")))?;
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .map_err(|e| bad(format!("not a circom 2 witness generator: {e}")))?;
        let mut calc = WitnessCalculator {
            file: file.to_string(),
            store,
            instance,
            witness_size: 0,
            limits,
            fuel_left: 0,
            deadline: None,
        };
        calc.refuel(limits.load_fuel)?;

        let n32: i32 = calc.call("getFieldNumLen32", ())?;
        if n32 != 8 {
            return Err(bad(format!(
                "field elements of {n32} 32-bit limbs; BN254 needs 8"
            )));
        }
        calc.call::<(), ()>("getRawPrime", ())?;
        if calc.read_element()? != BigUint::from(Fr::MODULUS) {
            return Err(bad("the circuit is over another field than BN254's scalar field (compile with -p bn128)".into()));
        }
        let size: i32 = calc.call("getWitnessSize", ())?;
        calc.witness_size =
            usize::try_from(size).map_err(|_| bad(format!("negative witness size {size}")))?;
        Ok(calc)
    }

    /// The number of wires, i.e. of values in each witness.
    pub fn witness_size(&self) -> usize {
        self.witness_size
    }

    /// How many values input signal `name` takes, or `None` if the circuit has no such input.
    pub fn input_signal_size(&mut self, name: &str) -> Result<Option<usize>, ProverError> {
        self.refuel(self.limits.load_fuel)?;
        let hash = fnv1a(name);
        let size: i32 = self.call(
            "getInputSignalSize",
            ((hash >> 32) as u32 as i32, hash as u32 as i32),
        )?;
        Ok((size > 0).then_some(size as usize))
    }

    /// How many input values the circuit takes in all.
    pub fn input_count(&mut self) -> Result<usize, ProverError> {
        self.refuel(self.limits.load_fuel)?;
        let n: i32 = self.call("getInputSize", ())?;
        Ok(n.max(0) as usize)
    }

    /// Checks `inputs` against the circuit's input signals without computing anything:
    /// every name exists, takes as many values as given, and all inputs are given.
    pub fn check_inputs(&mut self, input_file: &str, inputs: &Inputs) -> Result<(), ProverError> {
        let mut given = 0;
        for (name, values) in inputs {
            match self.input_signal_size(name)? {
                None => {
                    return Err(ProverError::format(
                        input_file,
                        format!("the circuit has no input signal `{name}`"),
                    ))
                }
                Some(n) if n != values.len() => {
                    return Err(ProverError::format(
                        input_file,
                        format!(
                            "input signal `{name}` takes {n} values, the input gives {}",
                            values.len()
                        ),
                    ))
                }
                Some(n) => given += n,
            }
        }
        let needed = self.input_count()?;
        if given < needed {
            return Err(ProverError::format(
                input_file,
                format!("only {given} of the circuit's {needed} input values are given"),
            ));
        }
        Ok(())
    }

    /// Computes the witness for `inputs` (see [`parse_inputs`]); `input_file` names them in
    /// errors.
    pub fn calculate(&mut self, input_file: &str, inputs: &Inputs) -> Result<Vec<Fr>, ProverError> {
        self.calculate_until(input_file, inputs, None)
    }

    /// [`calculate`](Self::calculate), stopped with [`ProverError::Deadline`] once `deadline`
    /// passes (a task's timeout: a generator that runs long gives its thread back then, not
    /// when its instruction budget runs out). The calculator stays usable afterwards: each
    /// computation starts with `init`.
    pub fn calculate_until(
        &mut self,
        input_file: &str,
        inputs: &Inputs,
        deadline: Option<Instant>,
    ) -> Result<Vec<Fr>, ProverError> {
        self.deadline = deadline;
        let witness = self.compute(input_file, inputs);
        self.deadline = None;
        witness
    }

    /// The witness computation of [`calculate_until`](Self::calculate_until).
    fn compute(&mut self, input_file: &str, inputs: &Inputs) -> Result<Vec<Fr>, ProverError> {
        let bad_input = |problem: String| ProverError::format(input_file, problem);
        self.store.data_mut().errors.clear();
        self.refuel(self.limits.witness_fuel)?;
        self.call::<i32, ()>("init", 0)?;
        let mut set = 0usize;
        for (name, values) in inputs {
            let hash = fnv1a(name);
            let (hi, lo) = ((hash >> 32) as u32 as i32, hash as u32 as i32);
            let expected: i32 = self.call("getInputSignalSize", (hi, lo))?;
            // Unknown names give a negative size, or 0 in older circom releases.
            if expected <= 0 {
                return Err(bad_input(format!(
                    "the circuit has no input signal `{name}`"
                )));
            }
            if values.len() != expected as usize {
                return Err(bad_input(format!(
                    "input signal `{name}` takes {expected} values, the input gives {}",
                    values.len()
                )));
            }
            for (i, v) in values.iter().enumerate() {
                let limbs = v.into_bigint().to_bytes_le();
                for (j, limb) in limbs.chunks(4).enumerate() {
                    let limb = u32::from_le_bytes(limb.try_into().expect("4 bytes"));
                    self.call::<(i32, i32), ()>("writeSharedRWMemory", (j as i32, limb as i32))?;
                }
                self.call::<(i32, i32, i32), ()>("setInputSignal", (hi, lo, i as i32))
                    .map_err(|e| match e {
                        ProverError::Format { problem, .. } => bad_input(format!(
                            "setting `{name}`[{i}], the witness computation failed: {problem}"
                        )),
                        other => other,
                    })?;
                set += 1;
            }
        }
        let needed: i32 = self.call("getInputSize", ())?;
        if set < needed.max(0) as usize {
            return Err(bad_input(format!(
                "only {set} of the circuit's {needed} input values are given"
            )));
        }
        let mut witness = Vec::with_capacity(self.witness_size);
        for i in 0..self.witness_size {
            // Reading a large witness is millions of short calls, each under one slice.
            if i % 4096 == 0 {
                self.check_deadline("getWitness")?;
            }
            self.call::<i32, ()>("getWitness", i as i32)?;
            let v = self.read_element()?;
            let v = Fr::from_bigint(ark_ff::BigInt::try_from(v).map_err(|_| {
                ProverError::format(&self.file, "a witness value of more than 256 bits")
            })?)
            .ok_or_else(|| {
                ProverError::format(
                    &self.file,
                    format!("witness value #{i} is not below the field modulus"),
                )
            })?;
            witness.push(v);
        }
        Ok(witness)
    }

    /// Gives the module `fuel` instructions for the calls that follow (each public entry
    /// point starts with its own budget, so that a long-lived calculator never runs dry).
    fn refuel(&mut self, fuel: u64) -> Result<(), ProverError> {
        self.fuel_left = fuel;
        self.store
            .set_fuel(0)
            .map_err(|e| ProverError::format(&self.file, format!("fuel: {e}")))
    }

    /// Moves up to one [`FUEL_SLICE`] (at least `needed`) of the budget into the store;
    /// `false` when the budget cannot give `needed`.
    fn next_slice(&mut self, needed: u64) -> Result<bool, ProverError> {
        let in_store = self.store.get_fuel().unwrap_or(0);
        let want = FUEL_SLICE.max(needed).saturating_sub(in_store);
        let give = want.min(self.fuel_left);
        if in_store + give < needed.max(1) {
            return Ok(false);
        }
        self.fuel_left -= give;
        self.store
            .set_fuel(in_store + give)
            .map_err(|e| ProverError::format(&self.file, format!("fuel: {e}")))?;
        Ok(true)
    }

    /// [`ProverError::Deadline`] if the current computation's deadline has passed.
    fn check_deadline(&self, name: &str) -> Result<(), ProverError> {
        match self.deadline {
            Some(d) if Instant::now() >= d => Err(ProverError::Deadline {
                what: format!("{}: `{name}`", self.file),
            }),
            _ => Ok(()),
        }
    }

    /// Calls an export, slice of fuel by slice: between slices it stops the call if the
    /// budget is spent or the deadline has passed. Traps become errors that name the module.
    fn call<P: wasmi::WasmParams, R: wasmi::WasmResults>(
        &mut self,
        name: &str,
        params: P,
    ) -> Result<R, ProverError> {
        let f: TypedFunc<P, R> = self
            .instance
            .get_typed_func(&self.store, name)
            .map_err(|e| {
                ProverError::format(
                    &self.file,
                    format!("not a circom 2 witness generator: export `{name}`: {e}"),
                )
            })?;
        let trapped = |file: &str, e: wasmi::Error| ProverError::format(file, e.to_string());
        let past_budget = |file: &str| {
            ProverError::format(
                file,
                format!("`{name}` ran past its instruction budget (an endless loop?)"),
            )
        };
        if !self.next_slice(0)? {
            return Err(past_budget(&self.file));
        }
        let mut call = f
            .call_resumable(&mut self.store, params)
            .map_err(|e| trapped(&self.file, e))?;
        loop {
            match call {
                TypedResumableCall::Finished(results) => {
                    // What the call left unspent goes back to the entry point's budget.
                    self.fuel_left += self.store.get_fuel().unwrap_or(0);
                    self.store.set_fuel(0).ok();
                    return Ok(results);
                }
                TypedResumableCall::HostTrap(host) => {
                    return Err(ProverError::format(
                        &self.file,
                        host.host_error().to_string(),
                    ))
                }
                TypedResumableCall::OutOfFuel(paused) => {
                    self.check_deadline(name)?;
                    if !self.next_slice(paused.required_fuel())? {
                        return Err(past_budget(&self.file));
                    }
                    call = paused
                        .resume(&mut self.store)
                        .map_err(|e| trapped(&self.file, e))?;
                }
            }
        }
    }

    /// The field element in the module's shared buffer.
    fn read_element(&mut self) -> Result<BigUint, ProverError> {
        let mut limbs = Vec::with_capacity(8);
        for j in 0..8 {
            limbs.push(self.call::<i32, i32>("readSharedRWMemory", j)? as u32);
        }
        Ok(BigUint::from_slice(&limbs))
    }
}

/// Reads the message the module queued, character by character.
fn read_message(caller: &mut Caller<'_, Host>) -> Result<String, wasmi::Error> {
    let f = caller
        .get_export("getMessageChar")
        .and_then(|e| e.into_func())
        .ok_or_else(|| wasmi::Error::new("the module exports no getMessageChar"))?
        .typed::<(), i32>(&*caller)?;
    let mut message = String::new();
    loop {
        let c = f.call(&mut *caller, ())?;
        if c == 0 || message.len() > 1 << 16 {
            return Ok(message);
        }
        message.push(char::from_u32(c as u32).unwrap_or('?'));
    }
}

/// Reads the field element in the shared buffer from inside a host call.
fn read_shared(caller: &mut Caller<'_, Host>) -> Result<BigUint, wasmi::Error> {
    let f = caller
        .get_export("readSharedRWMemory")
        .and_then(|e| e.into_func())
        .ok_or_else(|| wasmi::Error::new("the module exports no readSharedRWMemory"))?
        .typed::<i32, i32>(&*caller)?;
    let mut limbs = Vec::with_capacity(8);
    for j in 0..8 {
        limbs.push(f.call(&mut *caller, j)? as u32);
    }
    Ok(BigUint::from_slice(&limbs))
}

/// 64-bit FNV-1a of a signal name, as circom hashes them.
fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Parses a circom input JSON (an object of signals) into qualified names and values.
///
/// Values are integers: JSON numbers, or strings in decimal (optionally negative) or
/// `0x` hexadecimal, reduced modulo r; arrays nest; objects (circom buses) and arrays of
/// objects qualify their fields as `name.field` and `name[i].field`.
pub fn parse_inputs(file: &str, json: &serde_json::Value) -> Result<Inputs, ProverError> {
    let serde_json::Value::Object(map) = json else {
        return Err(ProverError::format(
            file,
            "the input must be a JSON object of signal names to values",
        ));
    };
    let mut out = Vec::new();
    for (k, v) in map {
        qualify(file, k, v, &mut out)?;
    }
    Ok(out)
}

fn qualify(
    file: &str,
    prefix: &str,
    v: &serde_json::Value,
    out: &mut Inputs,
) -> Result<(), ProverError> {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            for (k, field) in map {
                qualify(file, &format!("{prefix}.{k}"), field, out)?;
            }
        }
        Value::Array(items) if first_leaf_is_object(items) => {
            for (i, item) in items.iter().enumerate() {
                qualify(file, &format!("{prefix}[{i}]"), item, out)?;
            }
        }
        _ => {
            let mut values = Vec::new();
            flatten(file, prefix, v, &mut values)?;
            out.push((prefix.to_string(), values));
        }
    }
    Ok(())
}

fn first_leaf_is_object(items: &[serde_json::Value]) -> bool {
    match items.first() {
        Some(serde_json::Value::Array(inner)) => first_leaf_is_object(inner),
        Some(serde_json::Value::Object(_)) => true,
        _ => false,
    }
}

fn flatten(
    file: &str,
    name: &str,
    v: &serde_json::Value,
    out: &mut Vec<Fr>,
) -> Result<(), ProverError> {
    match v {
        serde_json::Value::Array(items) => items
            .iter()
            .try_for_each(|item| flatten(file, name, item, out)),
        leaf => {
            out.push(field_value(leaf).ok_or_else(|| {
                ProverError::format(file, format!("signal `{name}`: {leaf} is not an integer (a number, or a decimal or 0x string)"))
            })?);
            Ok(())
        }
    }
}

/// One input value reduced modulo r, or `None` if it is not an integer.
fn field_value(v: &serde_json::Value) -> Option<Fr> {
    let n: BigInt = match v {
        serde_json::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                BigInt::from(u)
            } else {
                BigInt::from(n.as_i64()?)
            }
        }
        serde_json::Value::String(s) => {
            let s = s.trim();
            let (negative, digits) = match s.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, s),
            };
            let magnitude = match digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0X"))
            {
                Some(hex) if !hex.is_empty() => BigUint::parse_bytes(hex.as_bytes(), 16)?,
                Some(_) => return None,
                None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    BigUint::parse_bytes(digits.as_bytes(), 10)?
                }
                None => return None,
            };
            BigInt::from_biguint(if negative { Sign::Minus } else { Sign::Plus }, magnitude)
        }
        serde_json::Value::Bool(b) => BigInt::from(*b as u8),
        _ => return None,
    };
    let r = BigInt::from(BigUint::from(Fr::MODULUS));
    let reduced = ((n % &r) + &r) % &r;
    let (_, bytes) = reduced.to_bytes_le();
    Some(Fr::from_le_bytes_mod_order(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::{endless_loader, endless_witness_generator};

    #[test]
    fn a_witness_computation_stops_at_its_deadline() {
        let mut calc = WitnessCalculator::from_bytes("spin.wasm", &endless_witness_generator(1))
            .expect("loads: its metadata calls return");
        assert_eq!(calc.witness_size(), 1);
        for _ in 0..2 {
            // Stopped twice: the calculator stays usable after an interrupted computation.
            let started = Instant::now();
            let limit = std::time::Duration::from_millis(300);
            let err = calc
                .calculate_until("input", &Vec::new(), Some(started + limit))
                .expect_err("stopped");
            let took = started.elapsed();
            assert!(matches!(&err, ProverError::Deadline { .. }), "{err}");
            assert!(
                err.is_retryable() && err.to_string().contains("`init`"),
                "{err}"
            );
            assert!(took >= limit, "stopped after {took:?}, before its deadline");
            // One fuel slice is milliseconds; seconds leave room for a loaded machine.
            assert!(took < limit + std::time::Duration::from_secs(5), "{took:?}");
        }
        // Without a deadline, the instruction budget still ends it.
        let small = Limits {
            witness_fuel: 3 * FUEL_SLICE + 5,
            ..Limits::default()
        };
        let mut calc =
            WitnessCalculator::from_bytes_with("spin.wasm", &endless_witness_generator(1), small)
                .expect("loads");
        let err = calc.calculate("input", &Vec::new()).expect_err("refused");
        assert!(err.to_string().contains("instruction budget"), "{err}");
    }

    #[test]
    fn an_endless_witness_generator_runs_out_of_fuel() {
        let started = std::time::Instant::now();
        let err = WitnessCalculator::from_bytes("loop.wasm", &endless_loader())
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("loop.wasm") && err.contains("instruction budget"),
            "{err}"
        );
        // 10^8 instructions take well under a minute even unoptimised.
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        let small = Limits {
            load_fuel: 1000,
            ..Limits::default()
        };
        let err = WitnessCalculator::from_bytes_with("loop.wasm", &endless_loader(), small)
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("instruction budget"), "{err}");
    }

    #[test]
    fn fnv_matches_circom() {
        // snarkjs: fnvHash("in") — the offset basis xor 'i', times the prime, xor 'n', times the prime.
        let manual = ((0xcbf2_9ce4_8422_2325u64 ^ b'i' as u64).wrapping_mul(0x100_0000_01b3)
            ^ b'n' as u64)
            .wrapping_mul(0x100_0000_01b3);
        assert_eq!(fnv1a("in"), manual);
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(
            fnv1a("a"),
            0xaf63_dc4c_8601_ec8c,
            "the published FNV-1a 64 test vector"
        );
    }

    #[test]
    fn input_values_are_reduced_and_qualified() {
        let json: serde_json::Value = serde_json::from_str(
            r#"{"a": 5, "b": ["-1", "0x10", [true, "21888242871839275222246405745257275088548364400416034343698204186575808495618"]],
                "bus": {"x": "7", "ys": [{"z": 1}, {"z": 2}]}}"#,
        )
        .unwrap();
        let inputs = parse_inputs("input.json", &json).unwrap();
        let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b", "bus.x", "bus.ys[0].z", "bus.ys[1].z"]);
        assert_eq!(inputs[0].1, vec![Fr::from(5u64)]);
        assert_eq!(
            inputs[1].1,
            vec![
                -Fr::from(1u64),
                Fr::from(16u64),
                Fr::from(1u64),
                Fr::from(1u64)
            ]
        );
        assert_eq!(inputs[4].1, vec![Fr::from(2u64)]);
        for bad in [
            r#"{"a": 1.5}"#,
            r#"{"a": "12x"}"#,
            r#"{"a": null}"#,
            r#"[1]"#,
            r#"{"a": "0x"}"#,
        ] {
            let json: serde_json::Value = serde_json::from_str(bad).unwrap();
            let err = parse_inputs("input.json", &json).unwrap_err().to_string();
            assert!(err.starts_with("input.json: "), "{bad}: {err}");
        }
    }
}
