//! Programs: DAGs of operations over encrypted unsigned integers of one width (8 … 64
//! bits), and their plaintext meaning.
//!
//! A program lists its inputs, then nodes; value `i` is input `i` for `i < inputs`, else
//! node `i − inputs`. A node refers only to earlier values, so the list is a topological
//! order and cycles cannot be written. Comparisons give booleans; `select` takes one. An
//! output that is a boolean is returned as an integer 0 or 1 of the program's width.
//!
//! ```json
//! {"bits": 16, "inputs": 2,
//!  "nodes": [{"op": "gt", "a": 0, "b": 1}, {"op": "select", "cond": 2, "a": 0, "b": 1}],
//!  "outputs": [3]}
//! ```

use crate::Error;
use serde::{Deserialize, Serialize};

/// The most nodes a program may have.
pub const MAX_NODES: usize = 4096;
/// The most inputs a program may take.
pub const MAX_INPUTS: usize = 256;

/// One operation. `a`, `b`, `cond` name earlier values; `value` is a constant and `by` a
/// shift amount, both of the program's width.
#[allow(missing_docs)] // the fields are described above, once for every variant
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// a + b (wrapping).
    Add { a: usize, b: usize },
    /// a − b (wrapping).
    Sub { a: usize, b: usize },
    /// a · b (wrapping).
    Mul { a: usize, b: usize },
    /// a + constant (wrapping).
    AddConst { a: usize, value: u64 },
    /// a · constant (wrapping).
    MulConst { a: usize, value: u64 },
    /// Bitwise and.
    And { a: usize, b: usize },
    /// Bitwise or.
    Or { a: usize, b: usize },
    /// Bitwise exclusive or.
    Xor { a: usize, b: usize },
    /// Bitwise not.
    Not { a: usize },
    /// a << by (constant; bits shifted out are lost).
    Shl { a: usize, by: u32 },
    /// a >> by (constant, logical).
    Shr { a: usize, by: u32 },
    /// a == b (boolean).
    Eq { a: usize, b: usize },
    /// a != b (boolean).
    Ne { a: usize, b: usize },
    /// a < b (boolean).
    Lt { a: usize, b: usize },
    /// a <= b (boolean).
    Le { a: usize, b: usize },
    /// a > b (boolean).
    Gt { a: usize, b: usize },
    /// a >= b (boolean).
    Ge { a: usize, b: usize },
    /// min(a, b).
    Min { a: usize, b: usize },
    /// max(a, b).
    Max { a: usize, b: usize },
    /// cond ? a : b, cond a boolean.
    Select { cond: usize, a: usize, b: usize },
    /// A constant (a trivial ciphertext).
    Const { value: u64 },
}

/// The type of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An unsigned integer of the program's width.
    Uint,
    /// A boolean (one block).
    Bool,
}

impl Op {
    /// The values this operation reads.
    pub fn args(&self) -> Vec<usize> {
        use Op::*;
        match *self {
            Add { a, b }
            | Sub { a, b }
            | Mul { a, b }
            | And { a, b }
            | Or { a, b }
            | Xor { a, b }
            | Eq { a, b }
            | Ne { a, b }
            | Lt { a, b }
            | Le { a, b }
            | Gt { a, b }
            | Ge { a, b }
            | Min { a, b }
            | Max { a, b } => vec![a, b],
            AddConst { a, .. } | MulConst { a, .. } | Not { a } | Shl { a, .. } | Shr { a, .. } => {
                vec![a]
            }
            Select { cond, a, b } => vec![cond, a, b],
            Const { .. } => vec![],
        }
    }

    /// The type of the result.
    pub fn kind(&self) -> Kind {
        use Op::*;
        match self {
            Eq { .. } | Ne { .. } | Lt { .. } | Le { .. } | Gt { .. } | Ge { .. } => Kind::Bool,
            _ => Kind::Uint,
        }
    }

    /// The operation's name, as in JSON.
    pub fn name(&self) -> &'static str {
        use Op::*;
        match self {
            Add { .. } => "add",
            Sub { .. } => "sub",
            Mul { .. } => "mul",
            AddConst { .. } => "add_const",
            MulConst { .. } => "mul_const",
            And { .. } => "and",
            Or { .. } => "or",
            Xor { .. } => "xor",
            Not { .. } => "not",
            Shl { .. } => "shl",
            Shr { .. } => "shr",
            Eq { .. } => "eq",
            Ne { .. } => "ne",
            Lt { .. } => "lt",
            Le { .. } => "le",
            Gt { .. } => "gt",
            Ge { .. } => "ge",
            Min { .. } => "min",
            Max { .. } => "max",
            Select { .. } => "select",
            Const { .. } => "const",
        }
    }
}

/// A program over encrypted unsigned integers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// The width of every integer: 8, 16, 32 or 64.
    pub bits: u32,
    /// How many encrypted inputs it takes.
    pub inputs: usize,
    /// The operations, in order.
    pub nodes: Vec<Op>,
    /// The values it returns.
    pub outputs: Vec<usize>,
}

impl Program {
    /// Parses and validates a program from JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let program: Program = serde_json::from_slice(bytes)
            .map_err(|e| Error::Program(format!("not a program: {e}")))?;
        program.validate()?;
        Ok(program)
    }

    /// Radix blocks per integer (2 bits each).
    pub fn blocks(&self) -> usize {
        (self.bits / crate::params::BLOCK_BITS) as usize
    }

    /// The type of value `v` (valid programs only).
    pub fn kind_of(&self, v: usize) -> Kind {
        if v < self.inputs {
            Kind::Uint
        } else {
            self.nodes[v - self.inputs].kind()
        }
    }

    /// Checks the width, the sizes, that every reference is to an earlier value, and the
    /// types (booleans only where a condition is expected, and as outputs).
    pub fn validate(&self) -> Result<(), Error> {
        if ![8, 16, 32, 64].contains(&self.bits) {
            return Err(Error::Program(format!(
                "bits must be 8, 16, 32 or 64, not {}",
                self.bits
            )));
        }
        if self.inputs > MAX_INPUTS {
            return Err(Error::Program(format!(
                "{} inputs; at most {MAX_INPUTS}",
                self.inputs
            )));
        }
        if self.nodes.len() > MAX_NODES {
            return Err(Error::Program(format!(
                "{} nodes; at most {MAX_NODES}",
                self.nodes.len()
            )));
        }
        if self.outputs.is_empty() || self.outputs.len() > MAX_INPUTS {
            return Err(Error::Program(format!(
                "1..={MAX_INPUTS} outputs, not {}",
                self.outputs.len()
            )));
        }
        let mask = self.mask();
        for (i, op) in self.nodes.iter().enumerate() {
            let me = self.inputs + i;
            for v in op.args() {
                if v >= me {
                    return Err(Error::Program(format!(
                        "node {i} ({}) reads value {v}, which is not defined before it",
                        op.name()
                    )));
                }
            }
            let uint_args: Vec<usize> = match *op {
                Op::Select { cond, a, b } => {
                    if self.kind_of(cond) != Kind::Bool {
                        return Err(Error::Program(format!(
                            "node {i}: select's cond {cond} is not a boolean"
                        )));
                    }
                    vec![a, b]
                }
                _ => op.args(),
            };
            if let Some(v) = uint_args.iter().find(|&&v| self.kind_of(v) != Kind::Uint) {
                return Err(Error::Program(format!(
                    "node {i} ({}) reads boolean {v} where an integer is expected",
                    op.name()
                )));
            }
            match *op {
                Op::Shl { by, .. } | Op::Shr { by, .. } if by >= self.bits => {
                    return Err(Error::Program(format!(
                        "node {i}: shift by {by} ≥ {} bits",
                        self.bits
                    )))
                }
                Op::Const { value } | Op::AddConst { value, .. } | Op::MulConst { value, .. }
                    if value & !mask != 0 =>
                {
                    return Err(Error::Program(format!(
                        "node {i}: constant {value} exceeds {} bits",
                        self.bits
                    )))
                }
                _ => {}
            }
        }
        let values = self.inputs + self.nodes.len();
        if let Some(v) = self.outputs.iter().find(|&&v| v >= values) {
            return Err(Error::Program(format!(
                "output {v} is not a value (there are {values})"
            )));
        }
        Ok(())
    }

    fn mask(&self) -> u64 {
        if self.bits == 64 {
            u64::MAX
        } else {
            (1u64 << self.bits) - 1
        }
    }

    /// Evaluates the program on plaintexts: the reference the encrypted evaluation must equal.
    pub fn eval_plain(&self, inputs: &[u64]) -> Result<Vec<u64>, Error> {
        if inputs.len() != self.inputs {
            return Err(Error::Program(format!(
                "{} inputs given, {} expected",
                inputs.len(),
                self.inputs
            )));
        }
        let mask = self.mask();
        let mut values: Vec<u64> = inputs.iter().map(|v| v & mask).collect();
        for op in &self.nodes {
            let v = |i: usize| values[i];
            use Op::*;
            let r = match *op {
                Add { a, b } => v(a).wrapping_add(v(b)),
                Sub { a, b } => v(a).wrapping_sub(v(b)),
                Mul { a, b } => v(a).wrapping_mul(v(b)),
                AddConst { a, value } => v(a).wrapping_add(value),
                MulConst { a, value } => v(a).wrapping_mul(value),
                And { a, b } => v(a) & v(b),
                Or { a, b } => v(a) | v(b),
                Xor { a, b } => v(a) ^ v(b),
                Not { a } => !v(a),
                Shl { a, by } => v(a) << by,
                Shr { a, by } => v(a) >> by,
                Eq { a, b } => u64::from(v(a) == v(b)),
                Ne { a, b } => u64::from(v(a) != v(b)),
                Lt { a, b } => u64::from(v(a) < v(b)),
                Le { a, b } => u64::from(v(a) <= v(b)),
                Gt { a, b } => u64::from(v(a) > v(b)),
                Ge { a, b } => u64::from(v(a) >= v(b)),
                Min { a, b } => v(a).min(v(b)),
                Max { a, b } => v(a).max(v(b)),
                Select { cond, a, b } => {
                    if v(cond) != 0 {
                        v(a)
                    } else {
                        v(b)
                    }
                }
                Const { value } => value,
            };
            values.push(r & mask);
        }
        Ok(self.outputs.iter().map(|&o| values[o]).collect())
    }

    /// The depth of every value: inputs 0, a node one more than its deepest argument (a
    /// constant 1). Nodes of equal depth are independent.
    pub fn depths(&self) -> Vec<usize> {
        let mut depth = vec![0usize; self.inputs + self.nodes.len()];
        for (i, op) in self.nodes.iter().enumerate() {
            depth[self.inputs + i] = op.args().iter().map(|&a| depth[a] + 1).max().unwrap_or(1);
        }
        depth
    }

    /// A random valid program (for tests and benchmarks): `nodes` operations over `inputs`
    /// inputs, every kind of operation drawn, outputs the last few values.
    pub fn random(bits: u32, inputs: usize, nodes: usize, rng: &mut impl rand::Rng) -> Program {
        let mut p = Program {
            bits,
            inputs,
            nodes: Vec::new(),
            outputs: Vec::new(),
        };
        let mask = p.mask();
        for i in 0..nodes {
            let values = inputs + i;
            let pick = |rng: &mut dyn rand::RngCore, p: &Program, kind: Kind| -> Option<usize> {
                let candidates: Vec<usize> =
                    (0..values).filter(|&v| p.kind_of(v) == kind).collect();
                (!candidates.is_empty())
                    .then(|| candidates[(rng.next_u32() as usize) % candidates.len()])
            };
            let a = pick(rng, &p, Kind::Uint).unwrap_or(0);
            let b = pick(rng, &p, Kind::Uint).unwrap_or(0);
            let op = match rng.gen_range(0..21) {
                0 => Op::Add { a, b },
                1 => Op::Sub { a, b },
                2 => Op::Mul { a, b },
                3 => Op::AddConst {
                    a,
                    value: rng.gen::<u64>() & mask,
                },
                4 => Op::MulConst {
                    a,
                    value: rng.gen::<u64>() & mask,
                },
                5 => Op::And { a, b },
                6 => Op::Or { a, b },
                7 => Op::Xor { a, b },
                8 => Op::Not { a },
                9 => Op::Shl {
                    a,
                    by: rng.gen_range(0..bits),
                },
                10 => Op::Shr {
                    a,
                    by: rng.gen_range(0..bits),
                },
                11 => Op::Eq { a, b },
                12 => Op::Ne { a, b },
                13 => Op::Lt { a, b },
                14 => Op::Le { a, b },
                15 => Op::Gt { a, b },
                16 => Op::Ge { a, b },
                17 => Op::Min { a, b },
                18 => Op::Max { a, b },
                19 => match pick(rng, &p, Kind::Bool) {
                    Some(cond) => Op::Select { cond, a, b },
                    None => Op::Lt { a, b },
                },
                _ => Op::Const {
                    value: rng.gen::<u64>() & mask,
                },
            };
            p.nodes.push(op);
        }
        let values = inputs + nodes;
        p.outputs = (values.saturating_sub(3)..values).collect();
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn json_round_trip_and_plain_evaluation() {
        let json = br#"{"bits": 16, "inputs": 2,
            "nodes": [{"op": "gt", "a": 0, "b": 1}, {"op": "select", "cond": 2, "a": 0, "b": 1},
                      {"op": "add_const", "a": 3, "value": 65535}],
            "outputs": [3, 2, 4]}"#;
        let p = Program::from_json(json).unwrap();
        assert_eq!(p.eval_plain(&[7, 9]).unwrap(), vec![9, 0, 8]);
        assert_eq!(p.eval_plain(&[900, 9]).unwrap(), vec![900, 1, 899]);
        assert_eq!(p.depths(), vec![0, 0, 1, 2, 3]);
        let again = Program::from_json(&serde_json::to_vec(&p).unwrap()).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn invalid_programs_are_refused_with_a_reason() {
        let bad: [&[u8]; 9] = [
            br#"{"bits": 12, "inputs": 1, "nodes": [], "outputs": [0]}"#,
            br#"{"bits": 8, "inputs": 1, "nodes": [{"op": "add", "a": 0, "b": 1}], "outputs": [1]}"#,
            br#"{"bits": 8, "inputs": 1, "nodes": [{"op": "add", "a": 0, "b": 0}], "outputs": [2]}"#,
            br#"{"bits": 8, "inputs": 2, "nodes": [{"op": "select", "cond": 0, "a": 0, "b": 1}], "outputs": [2]}"#,
            br#"{"bits": 8, "inputs": 2, "nodes": [{"op": "lt", "a": 0, "b": 1}, {"op": "add", "a": 2, "b": 1}], "outputs": [3]}"#,
            br#"{"bits": 8, "inputs": 1, "nodes": [{"op": "shl", "a": 0, "by": 8}], "outputs": [1]}"#,
            br#"{"bits": 8, "inputs": 1, "nodes": [{"op": "const", "value": 256}], "outputs": [1]}"#,
            br#"{"bits": 8, "inputs": 1, "nodes": [{"op": "pow", "a": 0}], "outputs": [0]}"#,
            br#"{"bits": 8, "inputs": 1, "nodes": [], "outputs": []}"#,
        ];
        for b in bad {
            match Program::from_json(b) {
                Err(Error::Program(msg)) => assert!(!msg.is_empty()),
                other => panic!("{} accepted: {other:?}", String::from_utf8_lossy(b)),
            }
        }
    }

    #[test]
    fn random_programs_are_valid() {
        let seed: u64 = rand::random();
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        for bits in [8, 16, 32, 64] {
            for _ in 0..50 {
                let p = Program::random(bits, 3, 12, &mut rng);
                p.validate().unwrap();
                let inputs: Vec<u64> = (0..3).map(|_| rand::Rng::gen(&mut rng)).collect();
                assert_eq!(p.eval_plain(&inputs).unwrap().len(), 3);
            }
        }
    }
}
