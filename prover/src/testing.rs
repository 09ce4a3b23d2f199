//! Hostile witness generators for tests (feature `testing`): tiny WebAssembly modules,
//! encoded here byte by byte, that behave as an uploaded `circuit.wasm` that never ends.

use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField};

/// `n` as unsigned LEB128.
fn leb(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        out.push(if n == 0 { byte } else { byte | 0x80 });
        if n == 0 {
            return;
        }
    }
}

/// `n` as signed LEB128 (the immediate of `i32.const`).
fn sleb(mut n: i64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        let done = (n == 0 && byte & 0x40 == 0) || (n == -1 && byte & 0x40 != 0);
        out.push(if done { byte } else { byte | 0x80 });
        if done {
            return;
        }
    }
}

/// `bytes` as a WebAssembly vector: its length, then the bytes.
fn vector(bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    leb(bytes.len() as u64, &mut v);
    v.extend(bytes);
    v
}

/// `i32.const n`.
fn i32_const(n: i32) -> Vec<u8> {
    let mut v = vec![0x41];
    sleb(n.into(), &mut v);
    v
}

/// The value type i32.
const I32: u8 = 0x7f;

/// `(loop (br 0))`: runs until stopped.
const LOOP: &[u8] = &[0x03, 0x40, 0x0c, 0x00, 0x0b];

/// An exported function: name, parameter types, result types, body (no locals, no final
/// `end`).
type Export<'a> = (&'a str, &'a [u8], &'a [u8], Vec<u8>);

/// A WebAssembly module with one page of memory holding `data` at address 0 and the
/// functions `funcs`, each exported under its name.
fn module(funcs: &[Export<'_>], data: &[u8]) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    let mut section = |id: u8, items: Vec<Vec<u8>>| {
        let mut body = Vec::new();
        leb(items.len() as u64, &mut body);
        items.iter().for_each(|i| body.extend(i));
        m.push(id);
        leb(body.len() as u64, &mut m);
        m.extend(body);
    };
    let index = |i: usize| {
        let mut v = Vec::new();
        leb(i as u64, &mut v);
        v
    };
    let types = funcs
        .iter()
        .map(|(_, p, r, _)| [vec![0x60], vector(p), vector(r)].concat());
    section(1, types.collect());
    section(3, (0..funcs.len()).map(index).collect());
    section(5, vec![vec![0x00, 0x01]]);
    let exports = funcs
        .iter()
        .enumerate()
        .map(|(i, (name, ..))| [vector(name.as_bytes()), vec![0x00], index(i)].concat());
    section(7, exports.collect());
    let code = funcs
        .iter()
        .map(|(.., body)| vector(&[&[0x00], &body[..], &[0x0b]].concat()));
    section(10, code.collect());
    let segment = [vec![0x00], i32_const(0), vec![0x0b], vector(data)].concat();
    section(11, vec![segment]);
    m
}

/// A module that is refused while loading: its `getFieldNumLen32` loops forever.
pub fn endless_loader() -> Vec<u8> {
    let body = [LOOP, &i32_const(0)].concat();
    module(&[("getFieldNumLen32", &[], &[I32], body)], &[])
}

/// A module that loads as a BN254 witness generator of `wires` wires and no inputs, whose
/// witness computation (`init`) loops forever.
pub fn endless_witness_generator(wires: i32) -> Vec<u8> {
    // The limb at address 4·j: local.get 0, i32.const 2, i32.shl, i32.load.
    let limb = vec![0x20, 0x00, 0x41, 0x02, 0x74, 0x28, 0x02, 0x00];
    let funcs: [Export<'_>; 7] = [
        ("getFieldNumLen32", &[], &[I32], i32_const(8)),
        ("getRawPrime", &[], &[], Vec::new()),
        ("readSharedRWMemory", &[I32], &[I32], limb),
        ("getWitnessSize", &[], &[I32], i32_const(wires)),
        ("getInputSize", &[], &[I32], i32_const(0)),
        ("getInputSignalSize", &[I32, I32], &[I32], i32_const(-1)),
        ("init", &[I32], &[], LOOP.to_vec()),
    ];
    module(&funcs, &Fr::MODULUS.to_bytes_le())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_leb128_round_trips_the_edges() {
        for (n, bytes) in [
            (0, &[0x00][..]),
            (8, &[0x08]),
            (-1, &[0x7f]),
            (63, &[0x3f]),
            (64, &[0xc0, 0x00]),
            (-64, &[0x40]),
            (-65, &[0xbf, 0x7f]),
        ] {
            let mut v = Vec::new();
            sleb(n, &mut v);
            assert_eq!(v, bytes, "{n}");
        }
    }
}
