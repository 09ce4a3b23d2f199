//! The prover's errors.

use fornax_kernels::KernelError;

/// Everything that can go wrong while reading keys and witnesses, proving or verifying.
#[derive(Debug, thiserror::Error)]
pub enum ProverError {
    /// A file could not be read or written.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file that does not have the expected format.
    #[error("{file}: {problem}")]
    Format {
        /// The file (or a description of the input).
        file: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Inputs that are each well-formed but do not belong together.
    #[error("{0}")]
    Mismatch(String),
    /// The witness does not satisfy the circuit: the proof would not verify.
    #[error("the witness does not satisfy the circuit in {zkey}: the proof fails verification (a witness for another circuit, or wrong inputs?)")]
    UnsatisfiedWitness {
        /// The key's file name.
        zkey: String,
    },
    /// A kernel failed.
    #[error("kernel: {0}")]
    Kernel(#[from] KernelError),
    /// A job graph that cannot run (a bug or a scheduler misuse).
    #[error("job graph: {0}")]
    Graph(String),
    /// Work stopped because its deadline (the job's timeout) passed before it finished.
    #[error("{what}: stopped at its deadline, unfinished")]
    Deadline {
        /// What was running (the witness generator's file and entry point).
        what: String,
    },
}

impl ProverError {
    /// Builds a [`ProverError::Format`].
    pub fn format(file: impl Into<String>, problem: impl Into<String>) -> Self {
        ProverError::Format {
            file: file.into(),
            problem: problem.into(),
        }
    }

    /// Whether retrying (perhaps on another device) may help; `false` means the input is bad.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProverError::Kernel(k) => k.is_retryable(),
            ProverError::Io { .. } | ProverError::Deadline { .. } => true,
            _ => false,
        }
    }
}
