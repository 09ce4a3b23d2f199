//! What a worker hands in to be registered: its quote (or report) and what it is verified
//! against, and how a worker produces it.

use alloy_primitives::{keccak256, B256};
use serde::{Deserialize, Serialize};

use crate::binding::{report_data, BindingContext};
use crate::identity::IdentityKey;
use crate::simulated::DevCa;
use crate::tsm::{self, ConfigFs, Provider, TsmClient, TsmError};

/// Attestation evidence, as it travels (JSON, byte strings in hex). A simulated one is
/// labelled `"kind": "SIMULATED"` and prints as `SIMULATED …` wherever it appears.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Evidence {
    /// An Intel DCAP quote (SGX v3, TDX v4/v5) and, once fetched from Intel PCS or a
    /// PCCS, its collateral.
    #[serde(rename = "intel-dcap")]
    IntelDcap {
        /// The quote.
        #[serde(with = "hex::serde")]
        quote: Vec<u8>,
        /// TCB info, QE identity, CRLs and their chains.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        collateral: Option<dcap_qvl::QuoteCollateralV3>,
    },
    /// An AMD SEV-SNP attestation report and the VCEK that signed it.
    #[serde(rename = "amd-sev-snp")]
    AmdSevSnp {
        /// The 1184-byte report.
        #[serde(with = "hex::serde")]
        report: Vec<u8>,
        /// The VCEK certificate (DER).
        #[serde(with = "hex::serde")]
        vcek: Vec<u8>,
    },
    /// A report in SEV-SNP's format signed by the development CA: no TEE stands behind it.
    #[serde(rename = "SIMULATED")]
    Simulated {
        /// The 1184-byte report.
        #[serde(with = "hex::serde")]
        report: Vec<u8>,
    },
}

impl Evidence {
    /// Whether this is simulated evidence (no TEE behind it).
    pub fn is_simulated(&self) -> bool {
        matches!(self, Evidence::Simulated { .. })
    }

    /// The quote or report bytes.
    pub fn quote(&self) -> &[u8] {
        match self {
            Evidence::IntelDcap { quote, .. } => quote,
            Evidence::AmdSevSnp { report, .. } | Evidence::Simulated { report } => report,
        }
    }

    /// keccak256 of the quote (the registry's `quoteHash`).
    pub fn quote_hash(&self) -> B256 {
        keccak256(self.quote())
    }

    /// The label used in logs, the API and the chain record: `SIMULATED` or the TEE.
    pub fn label(&self) -> &'static str {
        match self {
            Evidence::IntelDcap { .. } => "intel-dcap",
            Evidence::AmdSevSnp { .. } => "amd-sev-snp",
            Evidence::Simulated { .. } => "SIMULATED",
        }
    }
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} quote {}", self.label(), self.quote_hash())
    }
}

/// Why a worker could not produce evidence.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// The configfs-tsm request failed.
    #[error(transparent)]
    Tsm(#[from] TsmError),
    /// SEV-SNP without the VCEK in the certificate table.
    #[error("the SEV-SNP host provided no VCEK in the certificate table (auxblob); provision it on the host (snphost) or fetch it from AMD's KDS")]
    NoVcek,
}

/// How a worker attests.
pub enum Attester<F: ConfigFs = tsm::RealFs> {
    /// A real TEE, through configfs-tsm.
    Tee(TsmClient<F>),
    /// No TEE: the development CA signs. Only with `--insecure-simulated-tee`.
    Simulated(DevCa),
}

impl<F: ConfigFs> Attester<F> {
    /// Evidence binding `key` in `ctx`. Takes the key by reference to a type that can only
    /// be generated in this process, so a handed-in key cannot be attested.
    pub fn evidence(
        &self,
        key: &IdentityKey,
        ctx: &BindingContext,
    ) -> Result<Evidence, AttestError> {
        let data = report_data(ctx, &key.public_key());
        match self {
            Attester::Simulated(ca) => Ok(Evidence::Simulated {
                report: ca.report(&data).to_vec(),
            }),
            Attester::Tee(client) => {
                let report = client.report(&data)?;
                Ok(match report.provider {
                    Provider::Tdx => Evidence::IntelDcap {
                        quote: report.outblob,
                        collateral: None,
                    },
                    Provider::SevSnp => Evidence::AmdSevSnp {
                        vcek: tsm::vcek_from_cert_table(&report.auxblob)
                            .ok_or(AttestError::NoVcek)?,
                        report: report.outblob,
                    },
                })
            }
        }
    }
}
