//! FPGA acceleration for Fornax: RTL for the MSM and NTT engines (`hw/rtl/`), its
//! cycle-accurate co-simulation driven from Rust (Verilator, built by `build.rs`), and the
//! synthesis reports (`hw/synth.sh` → `hw/reports/`).
//!
//! What is here so far is the first block of the MSM engine, the BN254 base-field
//! Montgomery multiplier ([`sim::FqMulSim`]): fully pipelined, one product accepted per
//! cycle, bit-exact against arkworks' `Fq`. The point adder, the bucket engine, the NTT
//! engine, the `fpga-sim` backend and the XRT driver build on it (issue 27).

pub mod sim;
