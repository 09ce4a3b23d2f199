// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title WorkerRegistry: attested worker keys and the results they sign
/// @notice A worker generates its identity key inside its TEE and registers it once, with
/// the record of the attestation quote that binds it. The registry checks on chain what it
/// can: that the quote's report data binds this key to this chain, this registry and a
/// recent block hash (so no quote was made ahead of time); that the key signed the
/// registration; that the registry's quote verifier (which runs the DCAP / SEV-SNP checks
/// off chain, under its policy) signed that this quote passed; and that a simulated quote
/// is only accepted where the registry was deployed to accept them. Every result a worker
/// signs after that is checked with `ecrecover` against its key, with a sequence number that
/// must grow by exactly one, so a replayed or reordered result reverts.
contract WorkerRegistry {
    /// @notice The domain of the report-data binding (also in the enclave crate).
    string public constant BINDING_DOMAIN = "fornax.tee.identity";
    /// @notice The version of the report-data binding.
    uint16 public constant BINDING_VERSION = 1;

    /// @notice What a worker's attestation quote said, as recorded on chain.
    struct Attestation {
        /// keccak256 of the whole quote.
        bytes32 quoteHash;
        /// The TEE measurement (MRTD and RTMRs / MRENCLAVE / SNP measurement), hashed.
        bytes32 measurement;
        /// The worker's identity key, uncompressed without prefix (x || y, 64 bytes).
        bytes publicKey;
        /// The nonce bound into the quote: the hash of block `nonceBlock`.
        bytes32 nonce;
        /// The block whose hash is the nonce (one of the last 256).
        uint64 nonceBlock;
        /// The quote was produced by the development CA, not a real TEE (SIMULATED).
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

    /// @notice The operator allowed to revoke workers and to change the quote verifier.
    address public immutable owner;
    /// @notice Whether SIMULATED attestations are accepted (development chains only).
    bool public immutable acceptsSimulated;
    /// @notice The key that signs, for each quote that passed verification, its record.
    /// Never zero (a signature that does not recover gives zero).
    address public verifier;
    /// @notice How long a new quote verifier waits before it can take over, so that workers
    /// and requesters see a change coming.
    uint256 public constant VERIFIER_DELAY = 2 days;
    /// @notice The verifier the owner proposed (zero: none), and from when it may take over.
    address public pendingVerifier;
    /// @notice See `pendingVerifier`.
    uint64 public pendingVerifierAt;
    /// @notice Workers by the address of their identity key.
    mapping(address => Worker) internal _workers;

    /// @notice A worker registered or re-attested.
    event WorkerRegistered(
        address indexed worker, address indexed operator, bytes32 quoteHash, bytes32 measurement, bool simulated
    );
    /// @notice A worker's key was revoked.
    event WorkerRevoked(address indexed worker);
    /// @notice The quote verifier changed.
    event VerifierChanged(address verifier);
    /// @notice A new quote verifier was proposed; it may take over at `at`.
    event VerifierProposed(address verifier, uint64 at);
    /// @notice A worker's signed result was accepted.
    event ResultRecorded(address indexed worker, uint64 sequence, bytes32 indexed taskId, bytes32 resultDigest);

    error NotOwner();
    error BadSignature();
    error OperatorMismatch(address operator);
    error UnknownWorker(address worker);
    error WorkerIsRevoked(address worker);
    error AttestationExpired(address worker);
    error BadSequence(uint64 expected, uint64 given);
    error KeyMismatch();
    error StaleNonce(uint64 nonceBlock);
    error SimulatedNotAccepted();
    error QuoteNotVerified();
    error ZeroVerifier();
    error VerifierNotDue(uint64 at);

    constructor(address verifier_, bool acceptsSimulated_) {
        if (verifier_ == address(0)) revert ZeroVerifier();
        owner = msg.sender;
        verifier = verifier_;
        acceptsSimulated = acceptsSimulated_;
        emit VerifierChanged(verifier_);
    }

    /// @notice Proposes a new quote verifier; it takes over once `applyVerifier` is called
    /// `VERIFIER_DELAY` later (registrations already made stand). Owner only.
    function setVerifier(address verifier_) external {
        if (msg.sender != owner) revert NotOwner();
        if (verifier_ == address(0)) revert ZeroVerifier();
        pendingVerifier = verifier_;
        pendingVerifierAt = uint64(block.timestamp + VERIFIER_DELAY);
        emit VerifierProposed(verifier_, pendingVerifierAt);
    }

    /// @notice Lets the proposed verifier take over once its delay has passed. Anyone may
    /// call it: the owner decided when it proposed.
    function applyVerifier() external {
        address next = pendingVerifier;
        if (next == address(0)) revert ZeroVerifier();
        if (block.timestamp < pendingVerifierAt) revert VerifierNotDue(pendingVerifierAt);
        verifier = next;
        pendingVerifier = address(0);
        emit VerifierChanged(next);
    }

    /// @notice The 64 bytes a quote must carry as its report data for `publicKey` and
    /// `nonce`: keccak256(m) || sha256(m), m = abi.encode(domain, version, chain id, this
    /// registry, public key, nonce).
    function reportData(bytes memory publicKey, bytes32 nonce) public view returns (bytes memory) {
        bytes memory m = abi.encode(BINDING_DOMAIN, BINDING_VERSION, block.chainid, address(this), publicKey, nonce);
        return abi.encodePacked(keccak256(m), sha256(m));
    }

    /// @notice The hash the quote verifier signs for a quote that passed verification.
    function verificationHash(address worker, Attestation calldata a) public view returns (bytes32) {
        return keccak256(
            abi.encode(
                "fornax.worker.verified.v1",
                block.chainid,
                address(this),
                worker,
                a.quoteHash,
                a.measurement,
                keccak256(a.publicKey),
                a.nonce,
                a.nonceBlock,
                a.simulated,
                a.expiresAt
            )
        );
    }

    /// @notice The hash a worker signs to prove it holds its key when registering.
    function registrationHash(address worker, address operator, Attestation calldata a)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode("fornax.worker.register.v1", block.chainid, address(this), worker, operator, verificationHash(worker, a))
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

    /// @notice Registers (or re-attests) `worker`, the address of `attestation.publicKey`,
    /// operated by the caller: `workerSignature` by that key over `registrationHash`, and
    /// `verifierSignature` by the quote verifier over `verificationHash`. Re-attestation keeps
    /// the sequence number and must come from the same operator.
    function register(
        address worker,
        Attestation calldata attestation,
        bytes calldata workerSignature,
        bytes calldata verifierSignature
    ) external {
        if (attestation.publicKey.length != 64 || address(uint160(uint256(keccak256(attestation.publicKey)))) != worker) {
            revert KeyMismatch();
        }
        if (attestation.simulated && !acceptsSimulated) revert SimulatedNotAccepted();
        // blockhash is zero beyond the last 256 blocks: an old nonce cannot match.
        if (attestation.nonce == bytes32(0) || blockhash(attestation.nonceBlock) != attestation.nonce) {
            revert StaleNonce(attestation.nonceBlock);
        }
        if (attestation.expiresAt <= block.timestamp) revert AttestationExpired(worker);
        address passedBy = _recover(verificationHash(worker, attestation), verifierSignature);
        if (passedBy == address(0) || passedBy != verifier) revert QuoteNotVerified();
        if (_recover(registrationHash(worker, msg.sender, attestation), workerSignature) != worker) {
            revert BadSignature();
        }
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
