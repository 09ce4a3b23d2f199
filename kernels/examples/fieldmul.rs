use ark_bn254::Fq;
use ark_ff::{Field, UniformRand};
use std::time::Instant;
fn main() {
    let mut rng = ark_std::test_rng();
    let mut a = Fq::rand(&mut rng);
    let b = Fq::rand(&mut rng);
    let n = 20_000_000;
    let t = Instant::now();
    for _ in 0..n { a *= b; }
    let e = t.elapsed();
    println!("mul: {:.2} ns (dep chain) {a}", e.as_nanos() as f64 / n as f64);
    let mut xs: Vec<Fq> = (0..1024).map(|_| Fq::rand(&mut rng)).collect();
    let t = Instant::now();
    for _ in 0..n/1024 { for x in xs.iter_mut() { *x *= b; } }
    let e = t.elapsed();
    println!("mul: {:.2} ns (independent) {}", e.as_nanos() as f64 / n as f64, xs[0]);
    let t = Instant::now();
    let mut c = a;
    for _ in 0..n { c.square_in_place(); }
    println!("sq: {:.2} ns {c}", t.elapsed().as_nanos() as f64 / n as f64);
    let t = Instant::now();
    for _ in 0..10000 { c = c.inverse().unwrap() + b; }
    println!("inv: {:.2} ns {c}", t.elapsed().as_nanos() as f64 / 10000.0);
}
