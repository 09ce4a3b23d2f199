//! FPGA acceleration for Fornax: RTL for MSM and NTT, testbenches, Verilator co-simulation driven from Rust, and XRT/XDMA host drivers behind features.
//!
//! Nothing lives here yet: the RTL and its co-simulation arrive with the FPGA issue.
