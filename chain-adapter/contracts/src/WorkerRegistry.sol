// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title WorkerRegistry: attested worker keys and the results they sign
/// @notice A worker generates its identity key inside its TEE and registers the key's
/// address once, with the record of the attestation quote that binds it (quote hash,
/// measurement, report data). Every result it signs after that is checked here with
/// `ecrecover` against the registered key, with a per-worker sequence number that must
/// grow by exactly one, so a replayed or reordered result reverts.
/// @dev Quote verification happens off chain (the enclave crate); the operator who deploys
/// the registry can revoke a worker whose quote fails it. A simulated (non-TEE) quote is
/// recorded as such and is visible to everyone who reads the record.
contract WorkerRegistry {
    /// @notice What a worker's attestation quote said, as recorded on chain.
    struct Attestation {
        /// keccak256 of the whole quote.
        bytes32 quoteHash;
        /// The TEE measurement (MRTD / MRENCLAVE / SNP measurement), hashed to 32 bytes.
        bytes32 measurement;
        /// The quote's 64-byte report data, which binds the worker's key.
        bytes reportData;
        /// The quote was produced by the development CA, not a real TEE.
        bool simulated;
        /// When the attestation stops being accepted (re-attest before then).
        uint64 expiresAt;
    }

    /// @notice A registered worker.
    struct Worker {
        address operator;
        uint64 sequence;
        uint64 registeredAt;
        bool revoked;
        Attestation attestation;
    }

    /// @notice The operator allowed to revoke workers.
    address public immutable owner;
    /// @notice Workers by the address of their identity key.
    mapping(address => Worker) internal _workers;

    /// @notice A worker registered or re-attested.
    event WorkerRegistered(
        address indexed worker, address indexed operator, bytes32 quoteHash, bytes32 measurement, bool simulated
    );
    /// @notice A worker's key was revoked.
    event WorkerRevoked(address indexed worker);
    /// @notice A worker's signed result was accepted.
    event ResultRecorded(address indexed worker, uint64 sequence, bytes32 indexed taskId, bytes32 resultDigest);

    error NotOwner();
    error BadSignature();
    error OperatorMismatch(address operator);
    error UnknownWorker(address worker);
    error WorkerIsRevoked(address worker);
    error AttestationExpired(address worker);
    error BadSequence(uint64 expected, uint64 given);

    constructor() {
        owner = msg.sender;
    }

    /// @notice The hash a worker signs to prove it holds its key when registering.
    function registrationHash(address worker, address operator, Attestation calldata a)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                "fornax.worker.register.v1",
                block.chainid,
                address(this),
                worker,
                operator,
                a.quoteHash,
                a.measurement,
                keccak256(a.reportData),
                a.simulated,
                a.expiresAt
            )
        );
    }

    /// @notice The hash a worker signs for a result.
    function resultHash(address worker, uint64 sequence, bytes32 taskId, bytes32 resultDigest)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode("fornax.worker.result.v1", block.chainid, address(this), worker, sequence, taskId, resultDigest)
        );
    }

    /// @notice Registers (or re-attests) `worker`, the address of a key the caller operates,
    /// with `signature` by that key over `registrationHash`. Re-attestation keeps the
    /// sequence number and must come from the same operator.
    function register(address worker, Attestation calldata attestation, bytes calldata signature) external {
        if (_recover(registrationHash(worker, msg.sender, attestation), signature) != worker) revert BadSignature();
        Worker storage w = _workers[worker];
        if (w.operator != address(0) && w.operator != msg.sender) revert OperatorMismatch(w.operator);
        if (w.revoked) revert WorkerIsRevoked(worker);
        w.operator = msg.sender;
        w.registeredAt = uint64(block.timestamp);
        w.attestation = attestation;
        emit WorkerRegistered(worker, msg.sender, attestation.quoteHash, attestation.measurement, attestation.simulated);
    }

    /// @notice Revokes a worker for good (e.g. its quote failed verification).
    function revoke(address worker) external {
        if (msg.sender != owner) revert NotOwner();
        _workers[worker].revoked = true;
        emit WorkerRevoked(worker);
    }

    /// @notice Accepts a result signed by a registered, unrevoked, unexpired worker whose
    /// `sequence` is exactly one more than its last. Anyone may submit it.
    function recordResult(
        address worker,
        uint64 sequence,
        bytes32 taskId,
        bytes32 resultDigest,
        bytes calldata signature
    ) external {
        Worker storage w = _workers[worker];
        if (w.operator == address(0)) revert UnknownWorker(worker);
        if (w.revoked) revert WorkerIsRevoked(worker);
        if (block.timestamp >= w.attestation.expiresAt) revert AttestationExpired(worker);
        if (sequence != w.sequence + 1) revert BadSequence(w.sequence + 1, sequence);
        if (_recover(resultHash(worker, sequence, taskId, resultDigest), signature) != worker) revert BadSignature();
        w.sequence = sequence;
        emit ResultRecorded(worker, sequence, taskId, resultDigest);
    }

    /// @notice A worker's record.
    function workers(address worker) external view returns (Worker memory) {
        return _workers[worker];
    }

    /// @dev ecrecover over a 65-byte (r, s, v) signature; rejects high-s and bad v, and
    /// returns zero for anything that does not recover.
    function _recover(bytes32 digest, bytes calldata sig) internal pure returns (address) {
        if (sig.length != 65) return address(0);
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (v < 27) v += 27;
        if (v != 27 && v != 28) return address(0);
        if (uint256(s) > 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0) return address(0);
        return ecrecover(digest, v, r, s);
    }
}
