// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "./lib/Test.sol";
import {Groth16VerifierRuntime} from "../src/Groth16VerifierRuntime.sol";
import {Groth16Verifier as FornaxMerkle} from "./generated/fornax_merkle_inclusion.sol";
import {Groth16Verifier as SnarkjsMerkle} from "./generated/snarkjs_merkle_inclusion.sol";
import {Groth16Verifier as FornaxPoseidon} from "./generated/fornax_poseidon_preimage.sol";
import {Groth16Verifier as SnarkjsPoseidon} from "./generated/snarkjs_poseidon_preimage.sol";
import {MerkleInclusionFixtures as M} from "./generated/fixtures_merkle_inclusion.sol";
import {PoseidonPreimageFixtures as P} from "./generated/fixtures_poseidon_preimage.sol";

interface IVerifier2 {
    function verifyProof(uint256[2] calldata, uint256[2][2] calldata, uint256[2] calldata, uint256[2] calldata)
        external
        view
        returns (bool);
}

interface IVerifier1 {
    function verifyProof(uint256[2] calldata, uint256[2][2] calldata, uint256[2] calldata, uint256[1] calldata)
        external
        view
        returns (bool);
}

/// @notice Deploys the verifier runtime with a key appended, as the Rust side does.
function deployRuntime(bytes memory keyBlob) returns (address v) {
    bytes memory runtime = type(Groth16VerifierRuntime).runtimeCode;
    bytes memory code =
        abi.encodePacked(hex"61", uint16(runtime.length + keyBlob.length), hex"80600c6000396000f3", runtime, keyBlob);
    assembly {
        v := create(0, add(code, 32), mload(code))
    }
    require(v != address(0), "deploy failed");
}

/// @notice fornax's exported verifier, the runtime verifier and snarkjs's exported verifier
/// accept the same fornax proofs (fresh random inputs, see the fixtures' seed) and reject the
/// same tampered ones; gas per verification of each is logged.
contract VerifierTest is Test {
    uint256 constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 constant Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;

    IVerifier2[3] m;
    IVerifier1[3] p;

    function setUp() public {
        m[0] = IVerifier2(address(new FornaxMerkle()));
        m[1] = IVerifier2(deployRuntime(M.keyBlob()));
        m[2] = IVerifier2(address(new SnarkjsMerkle()));
        p[0] = IVerifier1(address(new FornaxPoseidon()));
        p[1] = IVerifier1(deployRuntime(P.keyBlob()));
        p[2] = IVerifier1(address(new SnarkjsPoseidon()));
    }

    function _split(uint256[8] memory w)
        internal
        pure
        returns (uint256[2] memory a, uint256[2][2] memory b, uint256[2] memory c)
    {
        a = [w[0], w[1]];
        b = [[w[2], w[3]], [w[4], w[5]]];
        c = [w[6], w[7]];
    }

    /// The three merkle verifiers' verdicts must agree; returns the verdict.
    function _merkle(uint256[8] memory w, uint256[2] memory s) internal view returns (bool verdict) {
        (uint256[2] memory a, uint256[2][2] memory b, uint256[2] memory c) = _split(w);
        // snarkjs's verifier burns all the gas it is given on a point off the curve: bound it.
        verdict = m[2].verifyProof{gas: 2_000_000}(a, b, c, s);
        for (uint256 i; i < 2; ++i) {
            assertTrue(m[i].verifyProof{gas: 300_000}(a, b, c, s) == verdict, "fornax and snarkjs verifiers disagree");
        }
    }

    function _poseidon(uint256[8] memory w, uint256[1] memory s) internal view returns (bool verdict) {
        (uint256[2] memory a, uint256[2][2] memory b, uint256[2] memory c) = _split(w);
        verdict = p[2].verifyProof{gas: 2_000_000}(a, b, c, s);
        for (uint256 i; i < 2; ++i) {
            assertTrue(p[i].verifyProof{gas: 300_000}(a, b, c, s) == verdict, "fornax and snarkjs verifiers disagree");
        }
    }

    /// Tampered copies of a valid proof: each must be rejected by every verifier.
    function _tampered(uint256[8] memory w, uint256 k) internal pure returns (uint256[8] memory t) {
        t = w;
        if (k == 0) t[0] = addmod(t[0], 1, Q); // A off the curve
        if (k == 1) t[1] = Q - t[1]; // -A: on the curve, wrong proof
        if (k == 2) (t[2], t[3]) = (t[3], t[2]); // B's coordinates swapped
        if (k == 3) t[7] = Q - t[7]; // -C
        if (k == 4) (t[0], t[1], t[6], t[7]) = (t[6], t[7], t[0], t[1]); // A and C swapped
        if (k == 5) t[5] = addmod(t[5], 1, Q); // B off the curve
    }

    uint256 constant TAMPERINGS = 6;

    function test_merkle_same_verdicts() public view {
        for (uint256 i; i < M.COUNT; ++i) {
            (uint256[8] memory w, uint256[2] memory s) = M.proof(i);
            assertTrue(_merkle(w, s), "a valid proof is rejected");
            for (uint256 k; k < TAMPERINGS; ++k) {
                assertTrue(!_merkle(_tampered(w, k), s), "a tampered proof is accepted");
            }
            uint256[2] memory s2 = s;
            s2[1] = addmod(s2[1], 1, R);
            assertTrue(!_merkle(w, s2), "a proof is accepted for another input");
            s2 = s;
            s2[0] = s2[0] + R;
            assertTrue(!_merkle(w, s2), "a signal out of the field is accepted");
            (uint256[8] memory other,) = M.proof((i + 1) % M.COUNT);
            assertTrue(!_merkle(other, s), "another input's proof is accepted");
        }
    }

    function test_poseidon_same_verdicts() public view {
        for (uint256 i; i < P.COUNT; ++i) {
            (uint256[8] memory w, uint256[1] memory s) = P.proof(i);
            assertTrue(_poseidon(w, s), "a valid proof is rejected");
            for (uint256 k; k < TAMPERINGS; ++k) {
                assertTrue(!_poseidon(_tampered(w, k), s), "a tampered proof is accepted");
            }
            s[0] = addmod(s[0], 1, R);
            assertTrue(!_poseidon(w, s), "a proof is accepted for another output");
        }
    }

    /// A fuzzed signal: all three verifiers agree (and reject unless it is the real one).
    function testFuzz_merkle_signal(uint256 x, bool first) public view {
        (uint256[8] memory w, uint256[2] memory s) = M.proof(0);
        uint256 real = first ? s[0] : s[1];
        vm.assume(x != real);
        if (first) s[0] = x;
        else s[1] = x;
        assertTrue(!_merkle(w, s), "a fuzzed signal is accepted");
    }

    function _gas2(IVerifier2 v, uint256[8] memory w, uint256[2] memory s) internal view returns (uint256 used) {
        (uint256[2] memory a, uint256[2][2] memory b, uint256[2] memory c) = _split(w);
        v.verifyProof(a, b, c, s); // warm the account: a verifier is warm after the first call
        used = gasleft();
        bool ok = v.verifyProof(a, b, c, s);
        used -= gasleft();
        assertTrue(ok, "valid proof rejected");
    }

    function _gas1(IVerifier1 v, uint256[8] memory w, uint256[1] memory s) internal view returns (uint256 used) {
        (uint256[2] memory a, uint256[2][2] memory b, uint256[2] memory c) = _split(w);
        v.verifyProof(a, b, c, s);
        used = gasleft();
        bool ok = v.verifyProof(a, b, c, s);
        used -= gasleft();
        assertTrue(ok, "valid proof rejected");
    }

    /// Gas of one verification (the call included), fornax against snarkjs: at most 200k
    /// with up to 2 public signals, and below snarkjs's.
    function test_gas() public {
        (uint256[8] memory w2, uint256[2] memory s2) = M.proof(0);
        (uint256[8] memory w1, uint256[1] memory s1) = P.proof(0);
        string[3] memory names = ["fornax exported", "fornax runtime", "snarkjs"];
        uint256[3] memory g1;
        uint256[3] memory g2;
        for (uint256 i; i < 3; ++i) {
            g1[i] = _gas1(p[i], w1, s1);
            g2[i] = _gas2(m[i], w2, s2);
            emit log_named_uint(string.concat("gas verifyProof 1 signal, ", names[i]), g1[i]);
            emit log_named_uint(string.concat("gas verifyProof 2 signals, ", names[i]), g2[i]);
        }
        for (uint256 i; i < 2; ++i) {
            assertTrue(g2[i] <= 200_000, "over 200k gas with 2 public signals");
            assertTrue(g1[i] < g1[2] && g2[i] < g2[2], "not below snarkjs's gas");
        }
    }
}
