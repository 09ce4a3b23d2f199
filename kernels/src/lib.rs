//! The device kernel API of Fornax and its CPU reference backend.
//!
//! Every device that Fornax schedules work on (CPU, CUDA, wgpu, FPGA) plugs in through the
//! traits of [`api`]: multi-scalar multiplication over BN254 G1 and G2 ([`MsmBackend`]) and
//! number-theoretic transforms over BN254 Fr ([`NttBackend`]). The traits are synchronous;
//! data that is reused across calls (MSM bases, NTT twiddles) is uploaded once and referred
//! to by handles ([`Bases`], [`NttDomain`]) so that it can stay resident on a device.
//!
//! * [`cpu`]: the rayon-parallel CPU backend (Pippenger with signed windows and batch-affine
//!   bucket accumulation; cache-blocked radix-2/4 NTT). It is always registered.
//! * [`cuda`] (feature `cuda`, on by default): our CUDA kernels (NVRTC or a cubin at run
//!   time, cudarc); registered when a device and the driver are found, never a build
//!   requirement.
//! * [`wgpu`] (feature `wgpu`, on by default): our WGSL kernels on any GPU with Vulkan, Metal
//!   or DX12 (and on a software Vulkan for tests); registered when an adapter is found.
//! * [`fpga`] (feature `fpga`, on by default): G1 MSMs on the FPGA bucket engine of
//!   `fornax-hw`; today its Verilator co-simulation `fpga-sim:0`, registered where the build
//!   had Verilator and used only where named.
//! * [`registry`]: the devices this machine has, composed where a device lacks a kernel
//!   (G1 and NTT on a wgpu adapter, G2 on the CPU).
//! * [`plan`] and [`words`]: the memory plan and the data layout both GPU backends share.
//! * [`conformance`]: the kit that every backend runs against independent reference
//!   implementations on fresh random inputs, with the seed printed.
//! * [`scalar`]: checked conversion of raw 256-bit integers into field elements.

pub mod api;
pub mod conformance;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(feature = "fpga")]
pub mod fpga;
pub mod plan;
pub mod registry;
pub mod scalar;
#[cfg(feature = "wgpu")]
pub mod wgpu;
pub mod words;

pub use api::{
    Backend, BackendId, Bases, DeviceInfo, DeviceKind, KernelError, MsmBackend, NttBackend,
    NttDomain, NttKind, MAX_NTT_LOG_SIZE,
};
pub use ark_bn254::{Fq, Fq2, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
pub use cpu::CpuBackend;
#[cfg(feature = "cuda")]
pub use cuda::CudaBackend;
#[cfg(feature = "fpga")]
pub use fpga::FpgaBackend;
pub use registry::{Composed, DeviceRegistry};
#[cfg(feature = "wgpu")]
pub use wgpu::WgpuBackend;

/// The BN254 G1 curve configuration, used as the type parameter of G1 handles.
pub type G1 = ark_bn254::g1::Config;
/// The BN254 G2 curve configuration, used as the type parameter of G2 handles.
pub type G2 = ark_bn254::g2::Config;
