// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title A Groth16 verifier whose key is appended to its own code
/// @notice Fornax deploys this runtime followed by a verifying key, so a verifier for any
/// circuit can be deployed without a Solidity compiler. It answers `verifyProof` with the
/// ABI of snarkjs's exported verifier (N public signals, N fixed per deployment) and costs
/// the same gas as the verifier `fornax export-verifier` writes, plus about 150 to copy
/// the key from code. Each precompile gets exactly the gas it costs (EIP-1108), so an
/// invalid point costs that much, not all the gas of the call.
/// @dev The key at the end of the code, in 32-byte words: α (x, y), β, γ, δ (each x1, x0,
/// y1, y0: imaginary part first), IC₀ … ICₙ (x, y), the `verifyProof` selector for n
/// signals, and n. Built by `fornax_chain_adapter::verifier::creation_code`.
contract Groth16VerifierRuntime {
    fallback() external {
        assembly {
            let r := 21888242871839275222246405745257275088548364400416034343698204186575808495617
            let q := 21888242871839275222246405745257275088696311157297823662689037894645226208583
            codecopy(0, sub(codesize(), 32), 32)
            let n := mload(0)
            let len := mul(32, add(18, mul(2, n)))
            let v := 0x80
            codecopy(v, sub(codesize(), len), len)
            let selector := mload(add(v, sub(len, 64)))
            if iszero(and(eq(shr(224, calldataload(0)), selector), eq(calldatasize(), add(260, mul(32, n))))) {
                revert(0, 0)
            }
            // Pairing buffer at p: [-A, B], [α, β], [vk_x, γ], [C, δ], 192 bytes a pair.
            let p := add(v, len)
            let ok := 1
            let ic := add(v, 448)
            mstore(add(p, 384), mload(ic))
            mstore(add(p, 416), mload(add(ic, 32)))
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let s := calldataload(add(260, mul(32, i)))
                ok := and(ok, lt(s, r))
                ic := add(ic, 64)
                mstore(add(p, 448), mload(ic))
                mstore(add(p, 480), mload(add(ic, 32)))
                mstore(add(p, 512), s)
                ok := and(ok, staticcall(6000, 7, add(p, 448), 96, add(p, 448), 64))
                ok := and(ok, staticcall(150, 6, add(p, 384), 128, add(p, 384), 64))
            }
            mstore(p, calldataload(4))
            mstore(add(p, 32), mod(sub(q, calldataload(36)), q))
            calldatacopy(add(p, 64), 68, 128)
            mcopy(add(p, 192), v, 192)
            mcopy(add(p, 448), add(v, 192), 128)
            calldatacopy(add(p, 576), 196, 64)
            mcopy(add(p, 640), add(v, 320), 128)
            ok := and(ok, staticcall(181000, 8, p, 768, p, 32))
            mstore(0, and(ok, mload(p)))
            return(0, 32)
        }
    }
}
