// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test, Vm} from "./lib/Test.sol";
import {WorkerRegistry} from "../src/WorkerRegistry.sol";

contract WorkerRegistryTest is Test {
    WorkerRegistry reg;
    uint256 constant KEY = 0xA7735E57;
    uint256 constant VERIFIER_KEY = 0xFE11F1E5;
    address worker;
    address operator = address(0x0F);
    bytes publicKey;

    function setUp() public {
        reg = new WorkerRegistry(vm.addr(VERIFIER_KEY), true);
        worker = vm.addr(KEY);
        publicKey = _publicKey(KEY);
        vm.roll(1000);
        vm.setBlockhash(990, keccak256("block 990"));
    }

    /// The uncompressed public key (x || y) of `key`.
    function _publicKey(uint256 key) internal returns (bytes memory) {
        Vm.Wallet memory w = vm.createWallet(key);
        return abi.encodePacked(w.publicKeyX, w.publicKeyY);
    }

    function _att(uint64 expiresAt) internal view returns (WorkerRegistry.Attestation memory a) {
        a.quoteHash = keccak256("quote");
        a.measurement = keccak256("mrtd");
        a.publicKey = publicKey;
        a.nonce = blockhash(990);
        a.nonceBlock = 990;
        a.simulated = true;
        a.expiresAt = expiresAt;
    }
    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _verified(WorkerRegistry.Attestation memory a) internal view returns (bytes memory) {
        return _sign(VERIFIER_KEY, reg.verificationHash(worker, a));
    }

    function _register() internal {
        WorkerRegistry.Attestation memory a = _att(uint64(block.timestamp + 1 days));
        bytes memory sig = _sign(KEY, reg.registrationHash(worker, operator, a));
        bytes memory verified = _verified(a);
        vm.prank(operator);
        reg.register(worker, a, sig, verified);
    }

    function _result(uint64 seq, bytes32 task) internal view returns (bytes memory) {
        return _sign(KEY, reg.resultHash(worker, seq, task, keccak256(abi.encode(task))));
    }

    function test_register_needs_the_key() public {
        WorkerRegistry.Attestation memory a = _att(uint64(block.timestamp + 1 days));
        bytes memory forged = _sign(KEY + 1, reg.registrationHash(worker, operator, a));
        bytes memory verified = _verified(a);
        vm.prank(operator);
        vm.expectRevert(WorkerRegistry.BadSignature.selector);
        reg.register(worker, a, forged, verified);
        // a signature for another operator does not transfer
        bytes memory other = _sign(KEY, reg.registrationHash(worker, address(0xBAD), a));
        vm.prank(operator);
        vm.expectRevert(WorkerRegistry.BadSignature.selector);
        reg.register(worker, a, other, verified);
        _register();
        assertTrue(reg.workers(worker).operator == operator, "registered");
        assertTrue(reg.workers(worker).attestation.simulated, "simulated label kept");
    }

    function test_results_in_sequence_replays_revert() public {
        bytes32 t1 = keccak256("t1");
        bytes32 t2 = keccak256("t2");
        bytes32 d1 = keccak256(abi.encode(t1));
        bytes32 d2 = keccak256(abi.encode(t2));
        // signatures first: expectRevert applies to the next call, and resultHash is one
        bytes memory s1 = _result(1, t1);
        bytes memory s2 = _result(2, t2);
        bytes memory s3 = _result(3, t2);
        vm.expectRevert(abi.encodeWithSelector(WorkerRegistry.UnknownWorker.selector, worker));
        reg.recordResult(worker, 1, t1, d1, s1);
        _register();
        reg.recordResult(worker, 1, t1, d1, s1);
        // replay
        vm.expectRevert(abi.encodeWithSelector(WorkerRegistry.BadSequence.selector, 2, 1));
        reg.recordResult(worker, 1, t1, d1, s1);
        // skipping ahead (reordering)
        vm.expectRevert(abi.encodeWithSelector(WorkerRegistry.BadSequence.selector, 2, 3));
        reg.recordResult(worker, 3, t2, d2, s3);
        // a digest the worker did not sign
        vm.expectRevert(WorkerRegistry.BadSignature.selector);
        reg.recordResult(worker, 2, t2, keccak256("other"), s2);
        reg.recordResult(worker, 2, t2, d2, s2);
        assertEq(reg.workers(worker).sequence, 2, "sequence");
    }

    function test_expiry_reattestation_and_revocation() public {
        _register();
        bytes32 t = keccak256("t");
        bytes32 d = keccak256(abi.encode(t));
        bytes memory s1 = _result(1, t);
        bytes memory s2 = _result(2, t);
        vm.warp(block.timestamp + 2 days);
        vm.expectRevert(abi.encodeWithSelector(WorkerRegistry.AttestationExpired.selector, worker));
        reg.recordResult(worker, 1, t, d, s1);
        _register(); // re-attest: same operator, sequence kept
        reg.recordResult(worker, 1, t, d, s1);
        vm.prank(address(0xBAD));
        vm.expectRevert(WorkerRegistry.NotOwner.selector);
        reg.revoke(worker);
        reg.revoke(worker);
        vm.expectRevert(abi.encodeWithSelector(WorkerRegistry.WorkerIsRevoked.selector, worker));
        reg.recordResult(worker, 2, t, d, s2);
    }

    function testFuzz_high_s_rejected(bytes32 digestSeed) public {
        _register();
        bytes32 t = digestSeed;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(KEY, reg.resultHash(worker, 1, t, t));
        // the malleable twin (n - s, flipped v) recovers the same key: must be refused
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes memory twin = abi.encodePacked(r, bytes32(n - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(WorkerRegistry.BadSignature.selector);
        reg.recordResult(worker, 1, t, t, twin);
        reg.recordResult(worker, 1, t, t, abi.encodePacked(r, s, v));
    }

    function test_a_quote_the_verifier_did_not_pass_is_refused() public {
        WorkerRegistry.Attestation memory a = _att(uint64(block.timestamp + 1 days));
        bytes memory sig = _sign(KEY, reg.registrationHash(worker, operator, a));
        // no verifier signature, one by another key, one over another quote
        bytes memory byStranger = _sign(VERIFIER_KEY + 1, reg.verificationHash(worker, a));
        bytes memory verified = _verified(a);
        vm.startPrank(operator);
        vm.expectRevert(WorkerRegistry.QuoteNotVerified.selector);
        reg.register(worker, a, sig, "");
        vm.expectRevert(WorkerRegistry.QuoteNotVerified.selector);
        reg.register(worker, a, sig, byStranger);
        a.quoteHash = keccak256("another quote");
        vm.expectRevert(WorkerRegistry.QuoteNotVerified.selector);
        reg.register(worker, a, sig, verified);
        vm.stopPrank();
        assertTrue(reg.workers(worker).operator == address(0), "nothing registered");
    }

    function test_key_nonce_and_simulated_rules() public {
        WorkerRegistry.Attestation memory a = _att(uint64(block.timestamp + 1 days));
        // a public key that is not the worker's
        a.publicKey = _publicKey(KEY + 1);
        bytes memory sig = _sign(KEY, reg.registrationHash(worker, operator, a));
        bytes memory verified = _verified(a);
        vm.prank(operator);
        vm.expectRevert(WorkerRegistry.KeyMismatch.selector);
        reg.register(worker, a, sig, verified);
        // a nonce that is not that block's hash, and one older than 256 blocks
        a = _att(uint64(block.timestamp + 1 days));
        a.nonce = keccak256("made up");
        sig = _sign(KEY, reg.registrationHash(worker, operator, a));
        verified = _verified(a);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(WorkerRegistry.StaleNonce.selector, uint64(990)));
        reg.register(worker, a, sig, verified);
        a = _att(uint64(block.timestamp + 1 days));
        sig = _sign(KEY, reg.registrationHash(worker, operator, a));
        verified = _verified(a);
        vm.roll(990 + 257);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(WorkerRegistry.StaleNonce.selector, uint64(990)));
        reg.register(worker, a, sig, verified);
        // a registry deployed for production refuses SIMULATED attestations
        vm.roll(1000);
        WorkerRegistry prod = new WorkerRegistry(vm.addr(VERIFIER_KEY), false);
        sig = _sign(KEY, prod.registrationHash(worker, operator, a));
        verified = _sign(VERIFIER_KEY, prod.verificationHash(worker, a));
        vm.prank(operator);
        vm.expectRevert(WorkerRegistry.SimulatedNotAccepted.selector);
        prod.register(worker, a, sig, verified);
        a.simulated = false;
        sig = _sign(KEY, prod.registrationHash(worker, operator, a));
        verified = _sign(VERIFIER_KEY, prod.verificationHash(worker, a));
        vm.prank(operator);
        prod.register(worker, a, sig, verified);
        assertTrue(!prod.workers(worker).attestation.simulated, "a real attestation registers");
    }

    function test_report_data_binds_key_chain_registry_and_nonce() public {
        bytes memory rd = reg.reportData(publicKey, blockhash(990));
        assertEq(rd.length, 64, "64 bytes");
        bytes memory m = abi.encode("fornax.tee.identity", uint16(1), block.chainid, address(reg), publicKey, blockhash(990));
        assertTrue(bytes32(rd) == keccak256(m), "keccak half");
        assertTrue(keccak256(rd) != keccak256(reg.reportData(publicKey, bytes32(uint256(1)))), "nonce bound");
        WorkerRegistry other = new WorkerRegistry(address(1), true);
        assertTrue(keccak256(rd) != keccak256(other.reportData(publicKey, blockhash(990))), "registry bound");
    }

    function test_a_zero_verifier_is_refused() public {
        // With a zero verifier, a garbage signature (which recovers to zero) would pass.
        vm.expectRevert(WorkerRegistry.ZeroVerifier.selector);
        new WorkerRegistry(address(0), true);
        vm.expectRevert(WorkerRegistry.ZeroVerifier.selector);
        reg.setVerifier(address(0));
        vm.expectRevert(WorkerRegistry.ZeroVerifier.selector);
        reg.applyVerifier();
        WorkerRegistry.Attestation memory a = _att(uint64(block.timestamp + 1 days));
        bytes memory sig = _sign(KEY, reg.registrationHash(worker, operator, a));
        vm.prank(operator);
        vm.expectRevert(WorkerRegistry.QuoteNotVerified.selector);
        reg.register(worker, a, sig, new bytes(65));
    }

    function test_verifier_is_the_owners_to_change_after_a_delay() public {
        vm.prank(address(0xBAD));
        vm.expectRevert(WorkerRegistry.NotOwner.selector);
        reg.setVerifier(address(0xBAD));
        address before = reg.verifier();
        reg.setVerifier(address(0x1234));
        assertTrue(reg.verifier() == before, "not before the delay");
        uint64 due = uint64(block.timestamp + reg.VERIFIER_DELAY());
        vm.expectRevert(abi.encodeWithSelector(WorkerRegistry.VerifierNotDue.selector, due));
        reg.applyVerifier();
        vm.warp(due);
        vm.prank(address(0xBEEF));
        reg.applyVerifier();
        assertTrue(reg.verifier() == address(0x1234), "changed");
        WorkerRegistry.Attestation memory a = _att(uint64(block.timestamp + 1 days));
        bytes memory sig = _sign(KEY, reg.registrationHash(worker, operator, a));
        bytes memory verified = _verified(a);
        vm.prank(operator);
        vm.expectRevert(WorkerRegistry.QuoteNotVerified.selector);
        reg.register(worker, a, sig, verified);
    }
}
