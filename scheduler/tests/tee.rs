//! Attested workers end to end on anvil: a SIMULATED worker's quote is verified by the node
//! and registered in the WorkerRegistry; its signed results are accepted in sequence by the
//! node's ledger and by the contract; an unregistered key, a replayed and a reordered result,
//! a quote that fails verification, a verdict not signed by the registry's verifier and a
//! SIMULATED quote on a production registry are each refused, off chain and on chain.

mod common;

use std::time::Duration;

use alloy::primitives::{keccak256, Address, B256};
use fornax_chain_adapter::anvil::{Anvil, DEV_KEY, DEV_KEY_2};
use fornax_chain_adapter::client::signer;
use fornax_chain_adapter::{Chain, ChainError};
use fornax_enclave::{
    Attester, DevCa, Evidence, IdentityKey, Ledger, Measurement, Policy, ResultRejected,
    ResultSigner, SignedResult, Verifier, VerifyError,
};
use fornax_node::tee::{Registrar, TeeError};

fn simulated_policy() -> Policy {
    Policy {
        measurements: vec![Measurement::Simulated],
        max_quote_age: Duration::from_secs(300),
        ..Policy::default()
    }
}

fn registrar(chain: Chain, registry: Address, verifier: Verifier, key: &str) -> Registrar {
    Registrar {
        chain,
        chain_id: 31337,
        registry,
        verifier,
        verifier_key: signer(key).unwrap(),
        validity: Duration::from_secs(3600),
    }
}

fn reverted_with(result: Result<(), TeeError>, reason: &str) {
    match result {
        Err(TeeError::Chain(ChainError::Reverted(r))) => {
            assert!(r.contains(reason), "{r} (wanted {reason})")
        }
        other => panic!("wanted a revert {reason}, got {other:?}"),
    }
}

#[test]
fn a_simulated_worker_registers_and_its_signed_results_are_checked_on_and_off_chain() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let anvil =
            Anvil::spawn(&Anvil::binary(&common::root()), 1).expect("anvil (run ops/setup.sh)");
        let operator = Chain::connect(&anvil.url(), DEV_KEY).unwrap();
        let d = operator.deploy(true).await.unwrap();
        let ca = DevCa::from_seed(b"tee e2e");
        let attester: Attester = Attester::Simulated(DevCa::from_seed(b"tee e2e"));
        let node = registrar(
            operator.clone(),
            d.registry,
            Verifier::insecure_accepting_simulated(simulated_policy(), ca.public()),
            DEV_KEY,
        );

        // Registration: verified, posted, recorded with its SIMULATED label.
        let mut worker = node.attest_new_worker(&attester).await.expect("registers");
        assert!(matches!(worker.evidence, Evidence::Simulated { .. }));
        assert!(worker.verified.simulated);
        let record = operator.worker(d.registry, worker.address()).await.unwrap();
        assert_eq!(record.operator, operator.from);
        assert!(
            record.attestation.simulated,
            "the chain record says SIMULATED"
        );
        assert_eq!(record.attestation.quoteHash, worker.evidence.quote_hash());
        // The binding the quote carries is the one the contract computes.
        let on_chain = operator
            .report_data(
                d.registry,
                &worker.signer.key().public_key(),
                record.attestation.nonce,
            )
            .await
            .unwrap();
        assert_eq!(
            on_chain, worker.verified.report_data,
            "Rust and Solidity agree on the binding"
        );

        // Results in sequence: the node's ledger and the contract both accept them.
        let mut ledger = Ledger::new(node.domain());
        ledger.register(worker.address());
        let task = |i: u8| B256::repeat_byte(i);
        let r1 = worker.signer.sign(task(1), keccak256(b"proof 1"));
        let r2 = worker.signer.sign(task(2), keccak256(b"proof 2"));
        let r3 = worker.signer.sign(task(3), keccak256(b"proof 3"));
        node.record(&mut ledger, &r1).await.expect("first result");
        // Replayed: the ledger refuses it, and so does the contract when posted anyway.
        assert!(matches!(
            node.record(&mut ledger, &r1).await,
            Err(TeeError::ResultRejected(ResultRejected::BadSequence { .. }))
        ));
        reverted_with(
            post(&operator, d.registry, &r1)
                .await
                .map_err(TeeError::from),
            "BadSequence",
        );
        // Reordered: 3 before 2.
        assert!(matches!(
            node.record(&mut ledger, &r3).await,
            Err(TeeError::ResultRejected(ResultRejected::BadSequence { .. }))
        ));
        reverted_with(
            post(&operator, d.registry, &r3)
                .await
                .map_err(TeeError::from),
            "BadSequence",
        );
        node.record(&mut ledger, &r2).await.expect("second result");
        node.record(&mut ledger, &r3).await.expect("third result");
        assert_eq!(
            operator
                .worker(d.registry, worker.address())
                .await
                .unwrap()
                .sequence,
            3
        );

        // Re-attestation before expiry: a fresh quote for the same key; the sequence goes on.
        let before = worker.expires_at;
        assert!(worker.needs_reattestation(before, Duration::from_secs(3600)));
        anvil_advance(&operator).await;
        node.reattest(&attester, &mut worker)
            .await
            .expect("re-attests");
        assert!(worker.expires_at >= before);
        let r4 = worker.signer.sign(task(4), keccak256(b"proof 4"));
        node.record(&mut ledger, &r4)
            .await
            .expect("sequence continues after re-attestation");

        // An unregistered key: refused by the ledger and by the contract.
        let mut stranger = ResultSigner::new(IdentityKey::generate(), node.domain(), 0);
        let forged = stranger.sign(task(9), keccak256(b"forged"));
        assert!(matches!(
            node.record(&mut ledger, &forged).await,
            Err(TeeError::ResultRejected(ResultRejected::UnknownWorker(_)))
        ));
        reverted_with(
            post(&operator, d.registry, &forged)
                .await
                .map_err(TeeError::from),
            "UnknownWorker",
        );

        // A quote that fails verification is never posted: the production verifier
        // refuses every SIMULATED quote.
        let strict = registrar(
            operator.clone(),
            d.registry,
            Verifier::production(simulated_policy()),
            DEV_KEY,
        );
        match strict.attest_new_worker(&attester).await {
            Err(TeeError::QuoteRejected(VerifyError::Simulated)) => {}
            other => panic!("wanted a SIMULATED rejection, got {other:?}"),
        }
        // A node whose key is not the registry's quote verifier cannot vouch for a quote.
        let impostor_chain = Chain::connect(&anvil.url(), DEV_KEY_2).unwrap();
        let impostor = registrar(
            impostor_chain,
            d.registry,
            Verifier::insecure_accepting_simulated(simulated_policy(), ca.public()),
            DEV_KEY_2,
        );
        reverted_with(
            impostor.attest_new_worker(&attester).await.map(|_| ()),
            "QuoteNotVerified",
        );

        // A production registry (SIMULATED not accepted) refuses the simulated worker.
        let prod = operator.deploy(false).await.unwrap();
        let node = registrar(
            operator.clone(),
            prod.registry,
            Verifier::insecure_accepting_simulated(simulated_policy(), ca.public()),
            DEV_KEY,
        );
        reverted_with(
            node.attest_new_worker(&attester).await.map(|_| ()),
            "SimulatedNotAccepted",
        );
    });
}

/// Posts a signed result straight to the registry, past the node's ledger.
async fn post(chain: &Chain, registry: Address, r: &SignedResult) -> Result<(), ChainError> {
    chain
        .record_result(
            registry,
            r.worker,
            r.sequence,
            r.task_id,
            r.result_digest,
            &r.signature,
        )
        .await
}

/// Waits for the next block, so the re-attestation's nonce is a new block hash.
async fn anvil_advance(chain: &Chain) {
    let start = chain.nonce_block().await.unwrap().number;
    while chain.nonce_block().await.unwrap().number == start {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
