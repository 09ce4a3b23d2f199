//! Quote verification under a policy: Intel DCAP quotes (SGX v3, TDX v4/v5) with
//! `dcap-qvl` against the pinned Intel SGX root CA and the quote's collateral; AMD SEV-SNP
//! reports with `sev` against the pinned AMD roots (Milan, Genoa, Turin) and the VCEK;
//! simulated reports only by a verifier built to accept them.

use std::time::Duration;

use alloy_primitives::{keccak256, B256};
use serde::{Deserialize, Serialize};
use sev::certs::snp::{builtin, ca, Certificate, Chain, Verifiable};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;

use crate::binding::{report_data, BindingContext};
use crate::evidence::Evidence;
use crate::simulated::{self, DevCaPublic};

/// The Intel SGX Provisioning Certification Root CA (DER), pinned: SHA-256
/// `44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3`.
pub const INTEL_SGX_ROOT_CA: &[u8] = include_bytes!("intel_sgx_root_ca.der");

/// A TEE measurement: in an allowlist, or as read from a verified quote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tee", rename_all = "kebab-case")]
pub enum Measurement {
    /// Intel TDX: MRTD and the runtime measurement registers. In an allowlist, `rtmrs`
    /// may name only the first few (RTMR3 is usually extended at run time).
    Tdx {
        /// MRTD (48 bytes).
        #[serde(with = "hex::serde")]
        mrtd: Vec<u8>,
        /// RTMR0…RTMR3 (48 bytes each).
        rtmrs: Vec<HexBytes>,
    },
    /// Intel SGX: MRENCLAVE.
    Sgx {
        /// MRENCLAVE (32 bytes).
        #[serde(with = "hex::serde")]
        mrenclave: Vec<u8>,
    },
    /// AMD SEV-SNP: the launch measurement.
    SevSnp {
        /// MEASUREMENT (48 bytes).
        #[serde(with = "hex::serde")]
        measurement: Vec<u8>,
    },
    /// The simulated TEE's fixed measurement.
    Simulated,
}

/// Bytes that serialize as hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HexBytes(#[serde(with = "hex::serde")] pub Vec<u8>);

impl Measurement {
    /// Whether the allowlist entry `self` admits the measured value `measured`.
    pub fn admits(&self, measured: &Measurement) -> bool {
        match (self, measured) {
            (
                Measurement::Tdx { mrtd, rtmrs },
                Measurement::Tdx {
                    mrtd: m_mrtd,
                    rtmrs: m_rtmrs,
                },
            ) => {
                mrtd == m_mrtd
                    && rtmrs.len() <= m_rtmrs.len()
                    && rtmrs.iter().zip(m_rtmrs).all(|(a, b)| a == b)
            }
            (a, b) => a == b,
        }
    }

    /// The 32-byte digest recorded on chain: keccak256 of a tag and the measured bytes.
    pub fn digest(&self) -> B256 {
        let mut bytes: Vec<u8> = Vec::new();
        match self {
            Measurement::Tdx { mrtd, rtmrs } => {
                bytes.extend_from_slice(b"tdx");
                bytes.extend_from_slice(mrtd);
                rtmrs.iter().for_each(|r| bytes.extend_from_slice(&r.0));
            }
            Measurement::Sgx { mrenclave } => {
                bytes.extend_from_slice(b"sgx");
                bytes.extend_from_slice(mrenclave);
            }
            Measurement::SevSnp { measurement } => {
                bytes.extend_from_slice(b"sev-snp");
                bytes.extend_from_slice(measurement);
            }
            Measurement::Simulated => {
                bytes.extend_from_slice(b"SIMULATED");
                bytes.extend_from_slice(&simulated::simulated_measurement());
            }
        }
        keccak256(bytes)
    }
}

/// The minimum SEV-SNP TCB (each component compared on its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnpTcb {
    /// Boot loader SVN.
    pub bootloader: u8,
    /// PSP OS (TEE) SVN.
    pub tee: u8,
    /// SNP firmware SVN.
    pub snp: u8,
    /// Microcode patch level.
    pub microcode: u8,
}

/// How many runtime measurement registers a TDX allowlist entry must pin: RTMR0 (firmware
/// configuration), RTMR1 (the OS loader and kernel) and RTMR2 (kernel command line and
/// initrd). RTMR3 is left to the workload.
pub const TDX_PINNED_RTMRS: usize = 3;

/// What a verifier accepts. As JSON (`fornax node --tee-policy`), every field may be left
/// out for its default; `max_quote_age` is in seconds. A policy must pass
/// [`Policy::validate`] (the node checks it at start, and a verifier refuses every quote
/// under one that does not): each TDX entry pins MRTD and RTMR0–2, and a policy that admits
/// SEV-SNP names its minimum TCB.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Intel TCB statuses accepted; `["UpToDate"]` by default.
    pub accepted_tcb_statuses: Vec<String>,
    /// Intel security advisories tolerated (e.g. `INTEL-SA-00615`); none by default.
    pub allowed_advisories: Vec<String>,
    /// The measurements accepted. Empty admits none: a deployment names its images.
    pub measurements: Vec<Measurement>,
    /// How old the nonce's block may be when the quote is checked.
    #[serde(with = "seconds")]
    pub max_quote_age: Duration,
    /// The lowest SEV-SNP TCB accepted: required when `measurements` admits SEV-SNP.
    pub min_snp_tcb: Option<SnpTcb>,
    /// The VMPL an SEV-SNP report must come from: 0 by default, the most privileged level
    /// (a report requested from a less privileged level, such as a guest under an SVSM,
    /// speaks for less of the guest; name its level here to accept it).
    pub snp_vmpl: u32,
    /// Accept debug enclaves / TDs / SNP guests (never in production).
    pub allow_debug: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            accepted_tcb_statuses: vec!["UpToDate".into()],
            allowed_advisories: Vec::new(),
            measurements: Vec::new(),
            max_quote_age: Duration::from_secs(3600),
            min_snp_tcb: None,
            snp_vmpl: 0,
            allow_debug: false,
        }
    }
}

impl Policy {
    /// Checks that the policy says enough to be safe: every TDX entry pins a 48-byte MRTD
    /// and at least [`TDX_PINNED_RTMRS`] runtime registers (an entry with MRTD alone admits
    /// any kernel and command line on that firmware), SGX and SEV-SNP measurements have
    /// their lengths, and a policy admitting SEV-SNP names `min_snp_tcb` (without it, a
    /// guest on firmware with known holes would pass).
    pub fn validate(&self) -> Result<(), VerifyError> {
        let weak = |why: String| Err(VerifyError::WeakPolicy(why));
        for m in &self.measurements {
            match m {
                Measurement::Tdx { mrtd, rtmrs } => {
                    if mrtd.len() != 48 || rtmrs.iter().any(|r| r.0.len() != 48) {
                        return weak("a TDX entry's MRTD and RTMRs are 48 bytes each".into());
                    }
                    if rtmrs.len() < TDX_PINNED_RTMRS {
                        return weak(format!(
                            "a TDX entry names {} RTMRs: it must pin RTMR0 to RTMR{} (firmware, kernel, command line), not MRTD alone",
                            rtmrs.len(),
                            TDX_PINNED_RTMRS - 1
                        ));
                    }
                }
                Measurement::Sgx { mrenclave } if mrenclave.len() != 32 => {
                    return weak("an SGX entry's MRENCLAVE is 32 bytes".into());
                }
                Measurement::SevSnp { measurement } => {
                    if measurement.len() != 48 {
                        return weak("an SEV-SNP entry's measurement is 48 bytes".into());
                    }
                    if self.min_snp_tcb.is_none() {
                        return weak(
                            "the policy admits SEV-SNP but names no min_snp_tcb (bootloader, tee, snp, microcode)".into(),
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A duration as whole seconds.
mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// Why evidence was rejected. Each variant is one precise reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bytes are not a quote / report / certificate of the kind claimed.
    #[error("malformed evidence: {0}")]
    Malformed(String),
    /// Simulated evidence reached a verifier that does not accept it.
    #[error("SIMULATED quote rejected: no TEE stands behind it (only a node run with --insecure-simulated-tee accepts one)")]
    Simulated,
    /// A signature over the quote, report or collateral does not verify.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The certificate chain does not end at a pinned root.
    #[error("untrusted root: {0}")]
    UntrustedRoot(String),
    /// Collateral or a certificate is outside its validity at the time of checking.
    #[error("expired: {0}")]
    Expired(String),
    /// An Intel quote came without its collateral.
    #[error("no collateral for the Intel quote (fetch it from Intel PCS or a PCCS)")]
    MissingCollateral,
    /// The TCB status or its advisories are not accepted by the policy.
    #[error("TCB status {status} not accepted (advisories: {})", advisories.join(", "))]
    TcbNotAccepted {
        /// The status the collateral gave.
        status: String,
        /// Its advisories.
        advisories: Vec<String>,
    },
    /// The policy does not say enough to be safe ([`Policy::validate`]).
    #[error("the TEE policy is too weak: {0}")]
    WeakPolicy(String),
    /// The SEV-SNP report comes from another VMPL than the policy's.
    #[error("the SEV-SNP report comes from VMPL {reported}, the policy accepts VMPL {required}")]
    WrongVmpl {
        /// The report's VMPL.
        reported: u32,
        /// The policy's.
        required: u32,
    },
    /// The SEV-SNP TCB is below the policy's minimum.
    #[error("SEV-SNP TCB {reported} is below the minimum {minimum}")]
    TcbTooLow {
        /// The reported TCB.
        reported: String,
        /// The policy's minimum.
        minimum: String,
    },
    /// A debug enclave / TD / guest.
    #[error("debug mode is enabled in the TEE")]
    Debug,
    /// The measurement is not on the allowlist.
    #[error("measurement not allowed: {0}")]
    MeasurementNotAllowed(String),
    /// The report data does not bind the expected key, chain, registry and nonce.
    #[error("the quote's report data does not bind this worker's key (chain, registry and nonce included)")]
    BindingMismatch,
    /// The nonce's block is older than the policy allows.
    #[error("quote too old: its nonce is {age_s} s old, at most {max_s} s allowed")]
    TooOld {
        /// The age in seconds.
        age_s: u64,
        /// The policy's maximum.
        max_s: u64,
    },
    /// The nonce's block lies in the future.
    #[error("the nonce's block time lies in the future")]
    NonceFromFuture,
    /// Anything else the DCAP library reported.
    #[error("quote verification failed: {0}")]
    Other(String),
}

/// What a verified quote says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// `intel-dcap`, `amd-sev-snp` or `SIMULATED`.
    pub tee: String,
    /// No TEE behind it.
    pub simulated: bool,
    /// The measurement.
    pub measurement: Measurement,
    /// The 64-byte report data.
    #[serde(with = "hex::serde")]
    pub report_data: Vec<u8>,
    /// The TCB status (Intel), or the reported TCB (AMD).
    pub tcb_status: String,
    /// Intel security advisories that apply.
    pub advisories: Vec<String>,
    /// keccak256 of the quote.
    pub quote_hash: B256,
}

/// What the report data must bind.
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    /// Chain, registry and nonce.
    pub ctx: BindingContext,
    /// The worker's public key (`x ‖ y`).
    pub public_key: [u8; 64],
    /// The timestamp of the block whose hash is the nonce (seconds since the epoch).
    pub nonce_time: u64,
}

/// A pinned AMD root: ARK and ASK of one processor generation.
#[derive(Clone, Debug)]
pub struct AmdRoot {
    /// The generation's name (`Milan`, …).
    pub name: &'static str,
    /// AMD Root Key certificate.
    pub ark: Certificate,
    /// AMD SEV Key certificate.
    pub ask: Certificate,
}

impl AmdRoot {
    /// The roots pinned in the `sev` crate: Milan, Genoa, Turin.
    pub fn pinned() -> Vec<AmdRoot> {
        let root =
            |name, ark: std::io::Result<Certificate>, ask: std::io::Result<Certificate>| AmdRoot {
                name,
                ark: ark.expect("pinned ARK parses"),
                ask: ask.expect("pinned ASK parses"),
            };
        vec![
            root("Milan", builtin::milan::ark(), builtin::milan::ask()),
            root("Genoa", builtin::genoa::ark(), builtin::genoa::ask()),
            root("Turin", builtin::turin::ark(), builtin::turin::ask()),
        ]
    }
}

/// Verifies evidence under a [`Policy`].
pub struct Verifier {
    policy: Policy,
    intel_root: Vec<u8>,
    amd_roots: Vec<AmdRoot>,
    simulated: Option<DevCaPublic>,
}

impl Verifier {
    /// The production verifier: pinned Intel and AMD roots; rejects every simulated quote.
    pub fn production(policy: Policy) -> Verifier {
        Verifier::with_roots(policy, INTEL_SGX_ROOT_CA.to_vec(), AmdRoot::pinned())
    }

    /// A verifier with other roots (tests of a wrong root).
    pub fn with_roots(
        policy: Policy,
        intel_root_der: Vec<u8>,
        amd_roots: Vec<AmdRoot>,
    ) -> Verifier {
        Verifier {
            policy,
            intel_root: intel_root_der,
            amd_roots,
            simulated: None,
        }
    }

    /// INSECURE: the production verifier that also accepts reports of the development CA
    /// `ca` (labelled SIMULATED). For `--insecure-simulated-tee` only.
    pub fn insecure_accepting_simulated(policy: Policy, ca: DevCaPublic) -> Verifier {
        Verifier {
            simulated: Some(ca),
            ..Verifier::production(policy)
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Verifies the quote itself at time `now` (seconds since the epoch): signatures,
    /// chain, collateral, TCB and measurement. Does not look at what the report data binds.
    /// Under a policy that fails [`Policy::validate`], every quote is refused.
    pub fn verify_quote(&self, evidence: &Evidence, now: u64) -> Result<Verified, VerifyError> {
        self.policy.validate()?;
        let verified = match evidence {
            Evidence::IntelDcap { quote, collateral } => {
                self.verify_intel(quote, collateral.as_ref(), now)?
            }
            Evidence::AmdSevSnp { report, vcek } => self.verify_snp(report, vcek, now)?,
            Evidence::Simulated { report } => self.verify_simulated(report)?,
        };
        if !self
            .policy
            .measurements
            .iter()
            .any(|m| m.admits(&verified.measurement))
        {
            return Err(VerifyError::MeasurementNotAllowed(
                serde_json::to_string(&verified.measurement).unwrap_or_default(),
            ));
        }
        Ok(verified)
    }

    /// Verifies the quote ([`Verifier::verify_quote`]), that its report data binds
    /// `expected`, and that its nonce is recent enough.
    pub fn verify(
        &self,
        evidence: &Evidence,
        expected: &Expected,
        now: u64,
    ) -> Result<Verified, VerifyError> {
        let verified = self.verify_quote(evidence, now)?;
        if verified.report_data[..] != report_data(&expected.ctx, &expected.public_key)[..] {
            return Err(VerifyError::BindingMismatch);
        }
        if expected.nonce_time > now + 60 {
            return Err(VerifyError::NonceFromFuture);
        }
        let age = now.saturating_sub(expected.nonce_time);
        if age > self.policy.max_quote_age.as_secs() {
            return Err(VerifyError::TooOld {
                age_s: age,
                max_s: self.policy.max_quote_age.as_secs(),
            });
        }
        Ok(verified)
    }

    fn verify_intel(
        &self,
        quote: &[u8],
        collateral: Option<&dcap_qvl::QuoteCollateralV3>,
        now: u64,
    ) -> Result<Verified, VerifyError> {
        let collateral = collateral.ok_or(VerifyError::MissingCollateral)?;
        let report = dcap_qvl::verify::QuoteVerifier::new(self.intel_root.clone())
            .allow_debug(self.policy.allow_debug)
            .verify(quote, collateral, now)
            .map_err(|e| classify_dcap(format!("{e:#}")))?;
        let accepted = self.policy.accepted_tcb_statuses.contains(&report.status)
            && report
                .advisory_ids
                .iter()
                .all(|a| self.policy.allowed_advisories.contains(a));
        if !accepted {
            return Err(VerifyError::TcbNotAccepted {
                status: report.status,
                advisories: report.advisory_ids,
            });
        }
        use dcap_qvl::quote::Report;
        let (measurement, data) = match &report.report {
            Report::SgxEnclave(r) => (
                Measurement::Sgx {
                    mrenclave: r.mr_enclave.to_vec(),
                },
                r.report_data,
            ),
            other => {
                let td = other
                    .as_td10()
                    .ok_or_else(|| VerifyError::Malformed("unknown report body".into()))?;
                (
                    Measurement::Tdx {
                        mrtd: td.mr_td.to_vec(),
                        rtmrs: [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3]
                            .iter()
                            .map(|r| HexBytes(r.to_vec()))
                            .collect(),
                    },
                    td.report_data,
                )
            }
        };
        Ok(Verified {
            tee: "intel-dcap".into(),
            simulated: false,
            measurement,
            report_data: data.to_vec(),
            tcb_status: report.status,
            advisories: report.advisory_ids,
            quote_hash: keccak256(quote),
        })
    }

    fn verify_snp(&self, raw: &[u8], vcek_der: &[u8], now: u64) -> Result<Verified, VerifyError> {
        let report = parse_snp(raw)?;
        let vcek = Certificate::from_der(vcek_der)
            .map_err(|e| VerifyError::Malformed(format!("VCEK: {e}")))?;
        check_validity(&vcek, now)?;
        let root = self
            .amd_roots
            .iter()
            .find(|root| {
                let chain = Chain {
                    ca: ca::Chain {
                        ark: root.ark.clone(),
                        ask: root.ask.clone(),
                    },
                    vek: vcek.clone(),
                };
                chain.verify().is_ok()
            })
            .ok_or_else(|| {
                let names: Vec<_> = self.amd_roots.iter().map(|r| r.name).collect();
                VerifyError::UntrustedRoot(format!(
                    "the VCEK does not chain to a pinned AMD root ({})",
                    names.join(", ")
                ))
            })?;
        (&vcek, &report).verify().map_err(|e| {
            VerifyError::BadSignature(format!(
                "the {} VCEK does not sign the report: {e}",
                root.name
            ))
        })?;
        if report.policy.debug_allowed() && !self.policy.allow_debug {
            return Err(VerifyError::Debug);
        }
        if report.vmpl != self.policy.snp_vmpl {
            return Err(VerifyError::WrongVmpl {
                reported: report.vmpl,
                required: self.policy.snp_vmpl,
            });
        }
        let tcb = report.reported_tcb;
        let reported = format!(
            "bootloader {} tee {} snp {} microcode {}",
            tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode
        );
        // `validate` made `min_snp_tcb` present for any policy admitting SEV-SNP; a policy
        // admitting none refuses the measurement below anyway.
        if let Some(min) = self.policy.min_snp_tcb {
            if tcb.bootloader < min.bootloader
                || tcb.tee < min.tee
                || tcb.snp < min.snp
                || tcb.microcode < min.microcode
            {
                return Err(VerifyError::TcbTooLow {
                    reported,
                    minimum: format!(
                        "bootloader {} tee {} snp {} microcode {}",
                        min.bootloader, min.tee, min.snp, min.microcode
                    ),
                });
            }
        }
        Ok(Verified {
            tee: "amd-sev-snp".into(),
            simulated: false,
            measurement: Measurement::SevSnp {
                measurement: report.measurement.to_vec(),
            },
            report_data: report.report_data.to_vec(),
            tcb_status: reported,
            advisories: Vec::new(),
            quote_hash: keccak256(raw),
        })
    }

    fn verify_simulated(&self, raw: &[u8]) -> Result<Verified, VerifyError> {
        let ca = self.simulated.as_ref().ok_or(VerifyError::Simulated)?;
        if !ca.signed(raw) {
            return Err(VerifyError::BadSignature(
                "the SIMULATED report is not signed by this node's development CA".into(),
            ));
        }
        let report = parse_snp(raw)?;
        if &report.family_id != simulated::SIMULATED_FAMILY_ID
            || report.measurement != simulated::simulated_measurement()
        {
            return Err(VerifyError::Malformed("not a SIMULATED report".into()));
        }
        Ok(Verified {
            tee: "SIMULATED".into(),
            simulated: true,
            measurement: Measurement::Simulated,
            report_data: report.report_data.to_vec(),
            tcb_status: "SIMULATED".into(),
            advisories: Vec::new(),
            quote_hash: keccak256(raw),
        })
    }
}

/// Parses an SEV-SNP report strictly: 1184 bytes that re-encode to themselves (the parser
/// drops reserved bits, and the signature is checked over the re-encoding).
fn parse_snp(raw: &[u8]) -> Result<AttestationReport, VerifyError> {
    let report = AttestationReport::from_bytes(raw)
        .map_err(|e| VerifyError::Malformed(format!("SEV-SNP report: {e}")))?;
    let canonical = report
        .to_bytes()
        .map_err(|e| VerifyError::Malformed(format!("SEV-SNP report: {e}")))?;
    // The signature field's unused tail (0x330..) is not covered; everything signed must match.
    if canonical[..0x2A0 + 144] != raw[..0x2A0 + 144] {
        return Err(VerifyError::Malformed(
            "SEV-SNP report has bytes its format does not allow (reserved fields set)".into(),
        ));
    }
    Ok(report)
}

/// Checks a certificate's notBefore/notAfter against `now`.
fn check_validity(cert: &Certificate, now: u64) -> Result<(), VerifyError> {
    let x509: x509_cert::Certificate = cert.clone().into();
    let validity = &x509.tbs_certificate.validity;
    let not_before = validity.not_before.to_unix_duration().as_secs();
    let not_after = validity.not_after.to_unix_duration().as_secs();
    if now < not_before {
        return Err(VerifyError::Expired(format!(
            "the VCEK is not valid before {not_before} (checked at {now})"
        )));
    }
    if now > not_after {
        return Err(VerifyError::Expired(format!(
            "the VCEK expired at {not_after} (checked at {now})"
        )));
    }
    Ok(())
}

/// Maps dcap-qvl's messages (it has no typed errors) onto our reasons.
fn classify_dcap(message: String) -> VerifyError {
    let m = message.as_str();
    if m.contains("Debug mode") {
        VerifyError::Debug
    } else if m.contains("root CA CRL") || m.contains("root ca") || m.contains("UnknownIssuer") {
        VerifyError::UntrustedRoot(message)
    } else if m.contains("expired")
        || m.contains("Expired")
        || m.contains("in the future")
        || m.contains("NotValidYet")
    {
        VerifyError::Expired(message)
    } else if m.contains("ignature") {
        VerifyError::BadSignature(message)
    } else if m.contains("No matching TCB level") {
        VerifyError::TcbNotAccepted {
            status:
                "no TCB level matches (the platform is below every level Intel lists: out of date)"
                    .into(),
            advisories: Vec::new(),
        }
    } else if m.contains("Revoked") {
        VerifyError::TcbNotAccepted {
            status: "Revoked".into(),
            advisories: Vec::new(),
        }
    } else if m.contains("decode") || m.contains("Unsupported") || m.contains("Invalid") {
        VerifyError::Malformed(message)
    } else {
        VerifyError::Other(message)
    }
}
