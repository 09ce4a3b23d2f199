//! Verification on real quotes: Intel's SGX v3 and TDX v4/v5 sample quotes with their
//! collateral (shipped by dcap-qvl) and AMD's Milan SEV-SNP sample report with its VCEK
//! (shipped by sev), at pinned times (see tests/data/README.md). A valid quote passes; a
//! changed byte, expired collateral, an outdated TCB, a wrong root and a genuine quote that
//! does not bind our key each fail with their own reason. Simulated quotes: accepted only by
//! a verifier built to accept them.

use std::time::Duration;

use alloy_primitives::{Address, B256};
use fornax_enclave::verify::{AmdRoot, HexBytes, SnpTcb, INTEL_SGX_ROOT_CA};
use fornax_enclave::{
    Attester, BindingContext, DevCa, Evidence, Expected, IdentityKey, Measurement, Policy,
    Verifier, VerifyError,
};
use sha2::{Digest, Sha256};

const SGX_QUOTE: &[u8] = include_bytes!("data/sgx_quote");
const SGX_COLLATERAL: &[u8] = include_bytes!("data/sgx_quote_collateral.json");
const TDX_QUOTE: &[u8] = include_bytes!("data/tdx_quote");
const TDX_COLLATERAL: &[u8] = include_bytes!("data/tdx_quote_collateral.json");
const TDX_OUTDATED_QUOTE: &[u8] = include_bytes!("data/tdx_quote_outdated");
const TDX_OUTDATED_COLLATERAL: &[u8] = include_bytes!("data/tdx_quote_outdated_collateral.json");
const SNP_REPORT_HEX: &str = include_str!("data/report_milan.hex");
const SNP_VCEK: &[u8] = include_bytes!("data/vcek_milan.der");

/// One second before the first of the SGX collateral's next updates (2025-07-19T10:01:17Z).
const SGX_NOW: u64 = 1_752_919_277;
/// Likewise for the TDX v4 collateral (2025-07-19T10:00:34Z).
const TDX_NOW: u64 = 1_752_919_234;
/// Likewise for the TDX v5 "outdated" collateral (2026-03-20).
const TDX_OUTDATED_NOW: u64 = 1_774_003_274;
/// Inside the Milan VCEK's validity (2023-04-03 … 2030-04-03): 2024-01-01.
const SNP_NOW: u64 = 1_704_067_200;

fn tdx() -> Evidence {
    Evidence::IntelDcap {
        quote: TDX_QUOTE.to_vec(),
        collateral: Some(serde_json::from_slice(TDX_COLLATERAL).unwrap()),
    }
}

fn sgx() -> Evidence {
    Evidence::IntelDcap {
        quote: SGX_QUOTE.to_vec(),
        collateral: Some(serde_json::from_slice(SGX_COLLATERAL).unwrap()),
    }
}

fn snp(report: Vec<u8>) -> Evidence {
    Evidence::AmdSevSnp {
        report,
        vcek: SNP_VCEK.to_vec(),
    }
}

fn snp_report() -> Vec<u8> {
    hex::decode(SNP_REPORT_HEX.trim()).unwrap()
}

fn tdx_mrtd() -> Vec<u8> {
    hex::decode("91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7").unwrap()
}

fn snp_measurement() -> Vec<u8> {
    hex::decode("7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f").unwrap()
}

/// The TDX v4 sample's RTMR0…RTMR3, read from the quote's body.
fn tdx_rtmrs() -> Vec<HexBytes> {
    let quote = dcap_qvl::quote::Quote::parse(TDX_QUOTE).unwrap();
    let td = quote.report.as_td10().unwrap();
    [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3]
        .iter()
        .map(|r| HexBytes(r.to_vec()))
        .collect()
}

/// The Milan sample's reported TCB.
const SNP_SAMPLE_TCB: SnpTcb = SnpTcb {
    bootloader: 3,
    tee: 0,
    snp: 8,
    microcode: 115,
};

/// A policy that admits the samples' measurements (and only those).
fn policy() -> Policy {
    Policy {
        measurements: vec![
            Measurement::Tdx {
                mrtd: tdx_mrtd(),
                rtmrs: tdx_rtmrs()[..3].to_vec(),
            },
            Measurement::SevSnp {
                measurement: snp_measurement(),
            },
            Measurement::Sgx {
                mrenclave: hex::decode(
                    "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb",
                )
                .unwrap(),
            },
        ],
        min_snp_tcb: Some(SNP_SAMPLE_TCB),
        ..Policy::default()
    }
}

fn production() -> Verifier {
    Verifier::production(policy())
}

#[test]
fn the_pinned_intel_root_is_intels() {
    assert_eq!(
        hex::encode(Sha256::digest(INTEL_SGX_ROOT_CA)),
        "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"
    );
}

#[test]
fn tdx_v4_sample_quote_passes() {
    let verified = production()
        .verify_quote(&tdx(), TDX_NOW)
        .expect("the sample verifies");
    assert_eq!(verified.tcb_status, "UpToDate");
    assert!(!verified.simulated);
    assert!(
        matches!(&verified.measurement, Measurement::Tdx { mrtd, rtmrs } if *mrtd == tdx_mrtd() && rtmrs.len() == 4)
    );
    assert_eq!(
        verified.report_data,
        TDX_QUOTE[568..632].to_vec(),
        "report data read from the body"
    );
}

#[test]
fn tdx_measurement_allowlist_pins_mrtd_and_rtmrs() {
    let Measurement::Tdx { rtmrs, .. } = production()
        .verify_quote(&tdx(), TDX_NOW)
        .unwrap()
        .measurement
    else {
        panic!("a TDX measurement")
    };
    let with_rtmrs = |rtmrs: Vec<HexBytes>| Policy {
        measurements: vec![Measurement::Tdx {
            mrtd: tdx_mrtd(),
            rtmrs,
        }],
        ..Policy::default()
    };
    assert!(Verifier::production(with_rtmrs(rtmrs[..3].to_vec()))
        .verify_quote(&tdx(), TDX_NOW)
        .is_ok());
    let mut wrong = rtmrs[..3].to_vec();
    wrong[1].0[0] ^= 1;
    let err = Verifier::production(with_rtmrs(wrong))
        .verify_quote(&tdx(), TDX_NOW)
        .unwrap_err();
    assert!(
        matches!(err, VerifyError::MeasurementNotAllowed(_)),
        "{err}"
    );
    let err = Verifier::production(Policy::default())
        .verify_quote(&tdx(), TDX_NOW)
        .unwrap_err();
    assert!(
        matches!(err, VerifyError::MeasurementNotAllowed(_)),
        "an empty allowlist admits nothing: {err}"
    );
}

#[test]
fn weak_policies_are_refused() {
    // A TDX entry with MRTD alone admits any kernel and command line on that firmware.
    let mrtd_only = Policy {
        measurements: vec![Measurement::Tdx {
            mrtd: tdx_mrtd(),
            rtmrs: tdx_rtmrs()[..2].to_vec(),
        }],
        ..Policy::default()
    };
    let err = mrtd_only.validate().unwrap_err();
    assert!(
        matches!(err, VerifyError::WeakPolicy(ref m) if m.contains("RTMR0 to RTMR2")),
        "{err}"
    );
    assert!(matches!(
        Verifier::production(mrtd_only).verify_quote(&tdx(), TDX_NOW),
        Err(VerifyError::WeakPolicy(_))
    ));
    // SEV-SNP without a minimum TCB.
    let no_minimum = Policy {
        min_snp_tcb: None,
        ..policy()
    };
    let err = Verifier::production(no_minimum)
        .verify_quote(&snp(snp_report()), SNP_NOW)
        .unwrap_err();
    assert!(
        matches!(err, VerifyError::WeakPolicy(ref m) if m.contains("min_snp_tcb")),
        "{err}"
    );
    // The sample comes from VMPL 0; a policy for VMPL 2 (a guest under an SVSM) refuses it.
    let err = Verifier::production(Policy {
        snp_vmpl: 2,
        ..policy()
    })
    .verify_quote(&snp(snp_report()), SNP_NOW)
    .unwrap_err();
    assert_eq!(
        err,
        VerifyError::WrongVmpl {
            reported: 0,
            required: 2
        }
    );
    // A policy from JSON is checked the same way, and the full one passes.
    let json = r#"{"measurements":[{"tee":"sev-snp","measurement":"00"}]}"#;
    let parsed: Policy = serde_json::from_str(json).unwrap();
    assert!(parsed.validate().is_err());
    policy().validate().unwrap();
}

#[test]
fn one_changed_byte_fails_the_signature() {
    let Evidence::IntelDcap {
        mut quote,
        collateral,
    } = tdx()
    else {
        unreachable!()
    };
    quote[600] ^= 1; // inside the report data
    let err = production()
        .verify_quote(&Evidence::IntelDcap { quote, collateral }, TDX_NOW)
        .unwrap_err();
    assert!(matches!(err, VerifyError::BadSignature(_)), "{err}");

    let mut report = snp_report();
    report[0x50] ^= 1; // report data
    let err = production()
        .verify_quote(&snp(report), SNP_NOW)
        .unwrap_err();
    assert!(matches!(err, VerifyError::BadSignature(_)), "{err}");
    let mut report = snp_report();
    report[0x3A] ^= 1; // a reserved byte the parser would silently drop
    let err = production()
        .verify_quote(&snp(report), SNP_NOW)
        .unwrap_err();
    assert!(matches!(err, VerifyError::Malformed(_)), "{err}");
}

#[test]
fn expired_collateral_fails() {
    let err = production()
        .verify_quote(&tdx(), TDX_NOW + 7 * 86_400)
        .unwrap_err();
    assert!(matches!(err, VerifyError::Expired(_)), "{err}");
    // Today the samples' root CA CRL (next update 2026-04-03) has lapsed: stale collateral
    // is refused, not trusted forever.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let err = production().verify_quote(&tdx(), now).unwrap_err();
    assert!(matches!(err, VerifyError::Expired(_)), "{err}");
    // SEV-SNP: the VCEK's validity ends 2030-04-03.
    let err = production()
        .verify_quote(&snp(snp_report()), 1_924_992_000)
        .unwrap_err();
    assert!(
        matches!(err, VerifyError::Expired(ref m) if m.contains("VCEK")),
        "{err}"
    );
}

#[test]
fn an_outdated_tcb_fails() {
    // The SGX sample's platform needs configuration and software hardening (two advisories).
    let err = production().verify_quote(&sgx(), SGX_NOW).unwrap_err();
    assert_eq!(
        err,
        VerifyError::TcbNotAccepted {
            status: "ConfigurationAndSWHardeningNeeded".into(),
            advisories: vec!["INTEL-SA-00289".into(), "INTEL-SA-00615".into()],
        }
    );
    // An explicit allowlist of that status and its advisories admits it.
    let lenient = Policy {
        accepted_tcb_statuses: vec![
            "UpToDate".into(),
            "ConfigurationAndSWHardeningNeeded".into(),
        ],
        allowed_advisories: vec!["INTEL-SA-00289".into()],
        ..policy()
    };
    let err = Verifier::production(lenient.clone())
        .verify_quote(&sgx(), SGX_NOW)
        .unwrap_err();
    assert!(
        matches!(err, VerifyError::TcbNotAccepted { .. }),
        "one advisory not allowed: {err}"
    );
    let all = Policy {
        allowed_advisories: vec!["INTEL-SA-00289".into(), "INTEL-SA-00615".into()],
        ..lenient
    };
    let verified = Verifier::production(all)
        .verify_quote(&sgx(), SGX_NOW)
        .unwrap();
    assert_eq!(&verified.report_data[..13], b"Hello, world!");
    // The TDX v5 sample's platform is below every TCB level its collateral lists.
    let outdated = Evidence::IntelDcap {
        quote: TDX_OUTDATED_QUOTE.to_vec(),
        collateral: Some(serde_json::from_slice(TDX_OUTDATED_COLLATERAL).unwrap()),
    };
    let err = production()
        .verify_quote(&outdated, TDX_OUTDATED_NOW)
        .unwrap_err();
    assert!(matches!(err, VerifyError::TcbNotAccepted { .. }), "{err}");
    // SEV-SNP: the Milan sample reports SNP firmware SVN 8; a policy asking for 9 refuses it.
    let strict = Policy {
        min_snp_tcb: Some(SnpTcb {
            bootloader: 3,
            tee: 0,
            snp: 9,
            microcode: 115,
        }),
        ..policy()
    };
    let err = Verifier::production(strict)
        .verify_quote(&snp(snp_report()), SNP_NOW)
        .unwrap_err();
    assert!(matches!(err, VerifyError::TcbTooLow { .. }), "{err}");
}

#[test]
fn a_wrong_root_fails() {
    // Intel: a genuine Intel certificate that is not the root (the PCK platform CA).
    let quote = dcap_qvl::quote::Quote::parse(TDX_QUOTE).unwrap();
    let chain = dcap_qvl::intel::extract_cert_chain(&quote).unwrap();
    let verifier = Verifier::with_roots(policy(), chain[1].clone(), AmdRoot::pinned());
    let err = verifier.verify_quote(&tdx(), TDX_NOW).unwrap_err();
    assert!(matches!(err, VerifyError::UntrustedRoot(_)), "{err}");
    // AMD: a Milan VCEK against the Genoa and Turin roots only.
    let others: Vec<AmdRoot> = AmdRoot::pinned()
        .into_iter()
        .filter(|r| r.name != "Milan")
        .collect();
    let verifier = Verifier::with_roots(policy(), INTEL_SGX_ROOT_CA.to_vec(), others);
    let err = verifier
        .verify_quote(&snp(snp_report()), SNP_NOW)
        .unwrap_err();
    assert!(matches!(err, VerifyError::UntrustedRoot(_)), "{err}");
}

#[test]
fn snp_milan_sample_report_passes() {
    let verified = production()
        .verify_quote(&snp(snp_report()), SNP_NOW)
        .expect("the sample verifies");
    assert_eq!(verified.tee, "amd-sev-snp");
    assert_eq!(verified.report_data, snp_report()[0x50..0x90].to_vec());
}

#[test]
fn a_genuine_quote_that_does_not_bind_our_key_fails() {
    let ctx = BindingContext {
        chain_id: 1,
        registry: Address::repeat_byte(0x42),
        nonce: B256::repeat_byte(7),
    };
    let key = IdentityKey::generate();
    let expected = Expected {
        ctx,
        public_key: key.public_key(),
        nonce_time: TDX_NOW - 10,
    };
    assert_eq!(
        production().verify(&tdx(), &expected, TDX_NOW).unwrap_err(),
        VerifyError::BindingMismatch
    );
    let expected = Expected {
        nonce_time: SNP_NOW - 10,
        ..expected
    };
    assert_eq!(
        production()
            .verify(&snp(snp_report()), &expected, SNP_NOW)
            .unwrap_err(),
        VerifyError::BindingMismatch
    );
}

fn simulated_setup() -> (IdentityKey, DevCa, Expected, u64) {
    let key = IdentityKey::generate();
    let ca = DevCa::from_seed(b"test seed");
    let now = 1_800_000_000;
    let expected = Expected {
        ctx: BindingContext {
            chain_id: 31337,
            registry: Address::repeat_byte(0x11),
            nonce: B256::repeat_byte(0x22),
        },
        public_key: key.public_key(),
        nonce_time: now - 12,
    };
    (key, ca, expected, now)
}

fn simulated_policy() -> Policy {
    Policy {
        measurements: vec![Measurement::Simulated],
        max_quote_age: Duration::from_secs(600),
        ..Policy::default()
    }
}

#[test]
fn simulated_quotes_are_labelled_and_the_production_verifier_rejects_them() {
    let (key, ca, expected, now) = simulated_setup();
    let attester: Attester = Attester::Simulated(ca);
    let evidence = attester.evidence(&key, &expected.ctx).unwrap();
    assert!(evidence.is_simulated());
    assert!(serde_json::to_string(&evidence)
        .unwrap()
        .contains(r#""kind":"SIMULATED""#));
    assert!(evidence.to_string().starts_with("SIMULATED"));
    // Production: rejected as simulated, even with a policy that lists the simulated measurement.
    let production = Verifier::production(simulated_policy());
    assert_eq!(
        production.verify(&evidence, &expected, now).unwrap_err(),
        VerifyError::Simulated
    );
    // Relabelled as a real SEV-SNP report (with a real VCEK), it fails the signature.
    let relabelled = snp(evidence.quote().to_vec());
    let err = production.verify_quote(&relabelled, SNP_NOW).unwrap_err();
    assert!(matches!(err, VerifyError::BadSignature(_)), "{err}");
    // The insecure verifier accepts it, and still checks binding, age and signer.
    let Attester::Simulated(ca) = attester else {
        unreachable!()
    };
    let insecure = Verifier::insecure_accepting_simulated(simulated_policy(), ca.public());
    let verified = insecure.verify(&evidence, &expected, now).unwrap();
    assert!(verified.simulated);
    assert_eq!(verified.tee, "SIMULATED");
    let stale = Expected {
        nonce_time: now - 601,
        ..expected
    };
    assert!(matches!(
        insecure.verify(&evidence, &stale, now),
        Err(VerifyError::TooOld { .. })
    ));
    let other_key = Expected {
        public_key: IdentityKey::generate().public_key(),
        ..expected
    };
    assert_eq!(
        insecure.verify(&evidence, &other_key, now).unwrap_err(),
        VerifyError::BindingMismatch
    );
    let stranger = Verifier::insecure_accepting_simulated(
        simulated_policy(),
        DevCa::from_seed(b"other").public(),
    );
    assert!(matches!(
        stranger.verify(&evidence, &expected, now),
        Err(VerifyError::BadSignature(_))
    ));
    // A simulated report is SEV-SNP's real format: the sev crate parses it.
    use sev::parser::ByteParser;
    let parsed = sev::firmware::guest::AttestationReport::from_bytes(evidence.quote()).unwrap();
    assert_eq!(&parsed.family_id, b"FORNAX-SIMULATED");
    assert_eq!(
        parsed.report_data.to_vec(),
        fornax_enclave::report_data(&expected.ctx, &key.public_key()).to_vec()
    );
}
