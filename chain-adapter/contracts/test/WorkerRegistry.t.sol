// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "./lib/Test.sol";
import {WorkerRegistry} from "../src/WorkerRegistry.sol";

contract WorkerRegistryTest is Test {
    WorkerRegistry reg;
    uint256 constant KEY = 0xA7735E57;
    address worker;
    address operator = address(0x0F);

    function setUp() public {
        reg = new WorkerRegistry();
        worker = vm.addr(KEY);
    }

    function _att(uint64 expiresAt) internal pure returns (WorkerRegistry.Attestation memory a) {
        a.quoteHash = keccak256("quote");
        a.measurement = keccak256("mrtd");
        a.reportData = new bytes(64);
        a.simulated = true;
        a.expiresAt = expiresAt;
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _register() internal {
        WorkerRegistry.Attestation memory a = _att(uint64(block.timestamp + 1 days));
        bytes memory sig = _sign(KEY, reg.registrationHash(worker, operator, a));
        vm.prank(operator);
        reg.register(worker, a, sig);
    }

    function _result(uint64 seq, bytes32 task) internal view returns (bytes memory) {
        return _sign(KEY, reg.resultHash(worker, seq, task, keccak256(abi.encode(task))));
    }

    function test_register_needs_the_key() public {
        WorkerRegistry.Attestation memory a = _att(uint64(block.timestamp + 1 days));
        bytes memory forged = _sign(KEY + 1, reg.registrationHash(worker, operator, a));
        vm.prank(operator);
        vm.expectRevert(WorkerRegistry.BadSignature.selector);
        reg.register(worker, a, forged);
        // a signature for another operator does not transfer
        bytes memory other = _sign(KEY, reg.registrationHash(worker, address(0xBAD), a));
        vm.prank(operator);
        vm.expectRevert(WorkerRegistry.BadSignature.selector);
        reg.register(worker, a, other);
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
}
