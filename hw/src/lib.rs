//! FPGA acceleration for Fornax: RTL for the MSM and NTT engines (`hw/rtl/`), its
//! cycle-accurate co-simulation driven from Rust (Verilator, built by `build.rs`), the host
//! interface that the co-simulation and a card share ([`card`], [`ntt`]), the host drivers
//! of an MSM and an NTT on it ([`msm`], [`ntt`]), the real card's driver over XRT (`xrt`,
//! feature `xrt`), the performance model ([`model`]), and the synthesis reports
//! (`hw/synth.sh` → `hw/reports/`).
//!
//! Built so far (issue 27): the BN254 base-field Montgomery multiplier
//! ([`sim::FqMulSim`]), the complete mixed point adder ([`sim::G1AddSim`]), the MSM bucket
//! engine ([`sim::EngineSim`], driven by [`msm`]) and the NTT engine ([`sim::NttSim`],
//! driven by [`ntt`]), all fully pipelined and bit-exact against arkworks.

pub mod card;
pub mod model;
pub mod msm;
pub mod ntt;
pub mod sim;
#[cfg(feature = "xrt")]
pub mod xrt;

/// Why the engine cannot run, or did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HwError {
    /// This build has no co-simulation models (Verilator was missing when it was built).
    NotBuilt,
    /// Buffers that do not fit each other or the engine.
    Buffers(String),
    /// The engine did not finish within this many cycles (a broken RTL; never a correct one).
    Hung {
        /// The cycles it was given.
        cycles: u64,
    },
    /// The card (XRT) refused or failed: what it said.
    Card(String),
    /// A transform longer than the engine's memories hold.
    TooLarge {
        /// log2 of the length asked for.
        log_size: u32,
        /// log2 of the longest the engine runs.
        max: u32,
    },
}

impl std::fmt::Display for HwError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HwError::NotBuilt => write!(
                f,
                "fornax-hw was built without Verilator: no RTL co-simulation (run ops/setup.sh, then rebuild)"
            ),
            HwError::Buffers(why) => write!(f, "engine buffers: {why}"),
            HwError::Hung { cycles } => {
                write!(f, "the engine did not finish within {cycles} cycles")
            }
            HwError::Card(why) => write!(f, "FPGA card: {why}"),
            HwError::TooLarge { log_size, max } => write!(
                f,
                "an NTT of 2^{log_size} elements: the engine runs up to 2^{max}"
            ),
        }
    }
}

impl std::error::Error for HwError {}

/// A model (or card) for a test: `Some` when it opened; `None`, with a note, where this
/// build has no co-simulation and the test command did not ask for one
/// (`FORNAX_REQUIRE_VERILATOR=1` makes that a panic, as any other error is).
pub fn for_test<T>(opened: Result<T, HwError>) -> Option<T> {
    match opened {
        Ok(m) => Some(m),
        Err(HwError::NotBuilt)
            if std::env::var("FORNAX_REQUIRE_VERILATOR").as_deref() != Ok("1") =>
        {
            eprintln!("SKIPPED: {}", HwError::NotBuilt);
            None
        }
        Err(e) => panic!("{e}"),
    }
}
