// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice A contract a verified result calls in the same transaction, with at most
/// `TaskMarket.CALLBACK_GAS` gas. Its failure does not undo the settlement: the prover is
/// paid and the commitments change all the same, and the market emits `CallbackFailed`.
interface ITaskCallback {
    /// @param taskId The settled task.
    /// @param outputs The circuit's outputs: the first `nOutputs` public signals.
    function onTaskResult(uint256 taskId, uint256[] calldata outputs) external;
}

/// @title TaskMarket: verifiable-computation tasks, escrowed, verified and paid on chain
/// @notice A requester creates a task for a registered circuit with a fee in escrow. A
/// prover may lock it by posting collateral, so that two provers do not race. Whoever holds
/// the task (or anyone, while it is unlocked) settles it with a Groth16 proof: the circuit's
/// verifier checks it, the public inputs must be the task's, and the prover is paid the fee
/// and its collateral back in the same transaction. After the deadline, `expire` refunds the
/// requester's fee; the collateral of a prover who locked the task and did not deliver is
/// burned (kept by the market, counted in `burned`, paid to nobody), so that a requester
/// gains nothing by making a locked task unsettleable.
/// @dev Nothing the requester controls can stop a locked task from settling: its options
/// are checked at creation, its commitments are reserved at lock, its callback runs with
/// bounded gas and cannot revert the settlement, and the verifier runs with bounded gas (a
/// verifier that rejects valid proofs is the circuit registrant's; provers check the
/// verifiers they trust before locking).
/// @dev Public signals are circom's: the circuit's outputs first, then its public inputs.
/// A task fixes the public inputs (by hash); the outputs are the result. Payments are pushed;
/// a recipient that refuses ether is credited instead and calls `withdraw`.
contract TaskMarket {
    /// @notice Where a task is in its life.
    enum Status {
        None,
        Open,
        Locked,
        Settled,
        Expired
    }

    /// @notice A registered circuit: its verifier and the shape of its public signals.
    struct Circuit {
        address verifier;
        uint32 nPublic;
        uint32 nOutputs;
        bytes4 selector;
    }

    /// @notice A task, packed so that `submitResult` reads four cold slots and writes one.
    /// The circuit is copied in at creation (saving a lookup); `prover` is set by `lockTask`
    /// only: whoever settles an unlocked task is named in `TaskSettled`, not stored.
    struct Task {
        address requester;
        uint96 fee;
        Circuit circuit;
        bytes32 inputsHash;
        uint64 deadline;
        Status status;
        bool hasOptions;
        /// Collateral a prover must post to lock it; held in escrow once locked.
        uint96 requiredCollateral;
        address prover;
    }

    /// @notice What `createTaskWithOptions` adds to a plain task.
    struct Options {
        /// Collateral a prover must post to lock the task (plain tasks: half the fee).
        uint96 requiredCollateral;
        /// Commitments that must be live and that a verified result consumes, each spent once
        /// in the task's circuit's namespace. Each must be one of the task's public inputs
        /// (as a field element), so the proof is about the state it consumes.
        bytes32[] inCommitments;
        /// Commitments that a verified result adds. Each must be one of the proof's
        /// outputs, so only the state the proof computed becomes live.
        bytes32[] outCommitments;
        /// Called with the outputs in the settling transaction; zero for none.
        address callback;
    }

    /// @notice The life of a state commitment.
    enum Commitment {
        None,
        Live,
        Spent
    }

    /// @notice Gas a settlement's callback may use.
    uint256 public constant CALLBACK_GAS = 500_000;
    /// @notice Gas a verifier may use: this much, plus `VERIFY_GAS_PER_SIGNAL` per public signal.
    uint256 public constant VERIFY_GAS_BASE = 400_000;
    /// @notice See `VERIFY_GAS_BASE`.
    uint256 public constant VERIFY_GAS_PER_SIGNAL = 10_000;
    /// @notice The most commitments a task may consume, and the most it may add.
    uint256 public constant MAX_COMMITMENTS = 16;

    /// @notice Circuits by id: `keccak256(abi.encode(verifier, vkHash, nPublic, nOutputs))`.
    mapping(bytes32 => Circuit) public circuits;
    /// @notice The hash of each circuit's verifying key, as registered.
    mapping(bytes32 => bytes32) public vkHashes;
    /// @notice Tasks by id (ids count up from 1).
    mapping(uint256 => Task) internal _tasks;
    mapping(uint256 => Options) internal _options;
    /// @notice State commitments (notes): live once added, spent once consumed. Keyed by
    /// `keccak256(abi.encode(circuitId, commitment))`: each circuit has a namespace of its
    /// own, so a circuit with a careless (or always-true) verifier reaches only its own
    /// notes, never another circuit's. Read them with `commitmentOf`.
    mapping(bytes32 => Commitment) public commitments;
    /// @notice Ether owed to accounts that refused a pushed payment.
    mapping(address => uint256) public credits;
    /// @notice The number of tasks created so far.
    uint256 public taskCount;
    /// @notice Collateral slashed from provers who locked a task and did not deliver: it
    /// stays in the market and is paid to nobody.
    uint256 public burned;
    /// @notice The task that reserved each (namespaced) commitment when it was locked (0 for
    /// none). A reservation holds while that task is locked and before its deadline.
    mapping(bytes32 => uint256) public reservedBy;
    /// The circuit whose namespace a task with options uses.
    mapping(uint256 => bytes32) internal _circuitOf;

    bool transient _entered;

    /// @notice A circuit was registered.
    event CircuitRegistered(
        bytes32 indexed circuitId, address verifier, bytes32 vkHash, uint32 nPublic, uint32 nOutputs
    );
    /// @notice A task was created. `input` is the circuit's input as its requester gave it
    /// (e.g. circom's input JSON, including any private inputs it chooses to publish).
    event TaskCreated(
        uint256 indexed taskId,
        bytes32 indexed circuitId,
        address indexed requester,
        uint256 fee,
        uint64 deadline,
        uint256[] publicInputs,
        bytes input
    );
    /// @notice A prover locked a task with collateral.
    event TaskLocked(uint256 indexed taskId, address indexed prover, uint256 collateral);
    /// @notice A task was settled by a verified proof; `outputs` is its result.
    event TaskSettled(uint256 indexed taskId, address indexed prover, uint256 paid, uint256[] outputs);
    /// @notice A task passed its deadline unsettled; its requester got `refund` back.
    event TaskExpired(uint256 indexed taskId, uint256 refund, uint256 slashed);
    /// @notice A settled task's callback reverted or ran out of its gas; the settlement stands.
    event CallbackFailed(uint256 indexed taskId);
    /// @notice A payment could not be pushed and was credited instead.
    event Credited(address indexed account, uint256 amount);

    error UnknownCircuit(bytes32 circuitId);
    error CircuitExists(bytes32 circuitId);
    error BadCircuit();
    error NoFee();
    error FeeTooLarge();
    error DeadlineInPast();
    error WrongInputCount(uint256 expected, uint256 given);
    error NotOpen(uint256 taskId, Status status);
    error DeadlinePassed(uint256 taskId);
    error DeadlineNotPassed(uint256 taskId);
    error WrongCollateral(uint256 required, uint256 given);
    error LockedByAnother(uint256 taskId, address prover);
    error WrongSignalCount(uint256 expected, uint256 given);
    error InputsMismatch(uint256 taskId);
    error InvalidProof(uint256 taskId);
    error CommitmentNotLive(bytes32 commitment);
    error CommitmentExists(bytes32 commitment);
    error DuplicateCommitment(bytes32 commitment);
    error TooManyCommitments(uint256 max);
    error CommitmentReserved(bytes32 commitment, uint256 taskId);
    error CommitmentNotInSignals(bytes32 commitment);
    error GasTooLow();
    error Reentrancy();
    error NothingToWithdraw();

    modifier nonReentrant() {
        if (_entered) revert Reentrancy();
        _entered = true;
        _;
        _entered = false;
    }

    /// @notice Registers a circuit's verifier. Anyone may; the id commits to the verifier,
    /// the key's hash and the signal shape, so nobody can register a circuit under another's id.
    /// @param verifier A contract with snarkjs's `verifyProof(uint[2],uint[2][2],uint[2],uint[nPublic])`.
    /// @param nPublic The number of public signals.
    /// @param nOutputs How many of them are outputs (they come first).
    function registerCircuit(address verifier, bytes32 vkHash, uint32 nPublic, uint32 nOutputs)
        external
        returns (bytes32 circuitId)
    {
        if (verifier.code.length == 0 || nOutputs > nPublic) revert BadCircuit();
        circuitId = keccak256(abi.encode(verifier, vkHash, nPublic, nOutputs));
        if (circuits[circuitId].verifier != address(0)) revert CircuitExists(circuitId);
        bytes4 selector = bytes4(
            keccak256(
                abi.encodePacked("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[", _decimal(nPublic), "])")
            )
        );
        circuits[circuitId] = Circuit(verifier, nPublic, nOutputs, selector);
        vkHashes[circuitId] = vkHash;
        emit CircuitRegistered(circuitId, verifier, vkHash, nPublic, nOutputs);
    }

    /// @notice Creates a task with `msg.value` as its fee, in escrow until it settles or expires.
    /// @param publicInputs The circuit's public inputs, which the proof must carry.
    /// @param input The circuit's whole input for the prover (circom input JSON).
    /// @param deadline The time after which the task can no longer settle.
    function createTask(bytes32 circuitId, uint256[] calldata publicInputs, bytes calldata input, uint64 deadline)
        external
        payable
        returns (uint256 taskId)
    {
        taskId = _create(circuitId, publicInputs, input, deadline, uint96(msg.value / 2), false);
    }

    /// @notice `createTask` with collateral, state commitments and a callback.
    function createTaskWithOptions(
        bytes32 circuitId,
        uint256[] calldata publicInputs,
        bytes calldata input,
        uint64 deadline,
        Options calldata options
    ) external payable returns (uint256 taskId) {
        _checkOptions(circuitId, publicInputs, options);
        taskId = _create(circuitId, publicInputs, input, deadline, options.requiredCollateral, true);
        _options[taskId] = options;
        _circuitOf[taskId] = circuitId;
    }

    /// Reverts unless `options` can settle: at most `MAX_COMMITMENTS` of each kind, no
    /// duplicates, inputs live in `circuitId`'s namespace and among `publicInputs`, outputs
    /// new (that they are among the proof's outputs is checked at settlement).
    function _checkOptions(bytes32 circuitId, uint256[] calldata publicInputs, Options calldata options)
        internal
        view
    {
        bytes32[] calldata ins = options.inCommitments;
        bytes32[] calldata outs = options.outCommitments;
        if (ins.length > MAX_COMMITMENTS || outs.length > MAX_COMMITMENTS) revert TooManyCommitments(MAX_COMMITMENTS);
        for (uint256 i; i < ins.length; ++i) {
            if (commitments[_key(circuitId, ins[i])] != Commitment.Live) revert CommitmentNotLive(ins[i]);
            if (!_among(ins[i], publicInputs)) revert CommitmentNotInSignals(ins[i]);
            for (uint256 j; j < i; ++j) {
                if (ins[j] == ins[i]) revert DuplicateCommitment(ins[i]);
            }
        }
        for (uint256 i; i < outs.length; ++i) {
            if (commitments[_key(circuitId, outs[i])] != Commitment.None) revert CommitmentExists(outs[i]);
            for (uint256 j; j < i; ++j) {
                if (outs[j] == outs[i]) revert DuplicateCommitment(outs[i]);
            }
        }
    }

    function _create(
        bytes32 circuitId,
        uint256[] calldata publicInputs,
        bytes calldata input,
        uint64 deadline,
        uint96 requiredCollateral,
        bool hasOptions
    ) internal returns (uint256 taskId) {
        Circuit memory c = circuits[circuitId];
        if (c.verifier == address(0)) revert UnknownCircuit(circuitId);
        if (msg.value == 0) revert NoFee();
        if (msg.value > type(uint96).max) revert FeeTooLarge();
        if (deadline <= block.timestamp) revert DeadlineInPast();
        if (publicInputs.length != c.nPublic - c.nOutputs) {
            revert WrongInputCount(c.nPublic - c.nOutputs, publicInputs.length);
        }
        taskId = ++taskCount;
        _tasks[taskId] = Task({
            requester: msg.sender,
            fee: uint96(msg.value),
            circuit: c,
            inputsHash: keccak256(abi.encodePacked(publicInputs)),
            deadline: deadline,
            status: Status.Open,
            hasOptions: hasOptions,
            requiredCollateral: requiredCollateral,
            prover: address(0)
        });
        emit TaskCreated(taskId, circuitId, msg.sender, msg.value, deadline, publicInputs, input);
    }

    /// @notice Reserves an open task for the caller until its deadline, with exactly the
    /// task's required collateral as `msg.value`. The task's commitments are reserved with
    /// it: while it is locked no other task consumes its inputs or adds its outputs, so a
    /// valid proof always settles it.
    function lockTask(uint256 taskId) external payable {
        Task storage t = _tasks[taskId];
        if (t.status != Status.Open) revert NotOpen(taskId, t.status);
        if (block.timestamp > t.deadline) revert DeadlinePassed(taskId);
        if (msg.value != t.requiredCollateral) revert WrongCollateral(t.requiredCollateral, msg.value);
        if (t.hasOptions) {
            Options storage o = _options[taskId];
            bytes32 ns = _circuitOf[taskId];
            for (uint256 i; i < o.inCommitments.length; ++i) {
                bytes32 c = o.inCommitments[i];
                if (commitments[_key(ns, c)] != Commitment.Live) revert CommitmentNotLive(c);
                _reserve(ns, c, taskId);
            }
            for (uint256 i; i < o.outCommitments.length; ++i) {
                bytes32 c = o.outCommitments[i];
                if (commitments[_key(ns, c)] != Commitment.None) revert CommitmentExists(c);
                _reserve(ns, c, taskId);
            }
        }
        t.status = Status.Locked;
        t.prover = msg.sender;
        emit TaskLocked(taskId, msg.sender, msg.value);
    }

    /// @notice Settles a task with a proof: the verifier must accept it, the public inputs
    /// must be the task's, and the caller must hold the lock if there is one. Pays the caller
    /// the fee and its collateral, applies the task's commitments and calls its callback.
    /// @param proof A, B, C as snarkjs's `verifyProof` takes them, flattened.
    /// @param publicSignals The outputs, then the public inputs.
    function submitResult(uint256 taskId, uint256[8] calldata proof, uint256[] calldata publicSignals)
        external
        nonReentrant
    {
        Task storage t = _tasks[taskId];
        Status status = t.status;
        uint256 paid = t.fee;
        if (status == Status.Locked) {
            if (t.prover != msg.sender) revert LockedByAnother(taskId, t.prover);
            paid += t.requiredCollateral;
        } else if (status != Status.Open) {
            revert NotOpen(taskId, status);
        }
        if (block.timestamp > t.deadline) revert DeadlinePassed(taskId);
        Circuit memory c = t.circuit;
        if (publicSignals.length != c.nPublic) revert WrongSignalCount(c.nPublic, publicSignals.length);
        if (keccak256(abi.encodePacked(publicSignals[c.nOutputs:])) != t.inputsHash) revert InputsMismatch(taskId);
        if (!_verify(c, proof, publicSignals)) revert InvalidProof(taskId);

        t.status = Status.Settled;
        uint256[] calldata outputs = publicSignals[:c.nOutputs];
        if (t.hasOptions) _applyOptions(taskId, outputs);
        emit TaskSettled(taskId, msg.sender, paid, outputs);
        _pay(msg.sender, paid);
    }

    /// @notice Ends a task whose deadline passed unsettled: the requester gets the fee back;
    /// if a prover locked the task, that prover's collateral is burned. Anyone may call it.
    function expire(uint256 taskId) external nonReentrant {
        Task storage t = _tasks[taskId];
        Status status = t.status;
        if (status != Status.Open && status != Status.Locked) revert NotOpen(taskId, status);
        if (block.timestamp <= t.deadline) revert DeadlineNotPassed(taskId);
        t.status = Status.Expired;
        uint256 slashed = status == Status.Locked ? t.requiredCollateral : 0;
        burned += slashed;
        emit TaskExpired(taskId, t.fee, slashed);
        _pay(t.requester, t.fee);
    }

    /// @notice Pays out what was credited to the caller.
    function withdraw() external nonReentrant {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credits[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "withdraw failed");
    }

    /// @notice Task `taskId` (all zero if there is none).
    function tasks(uint256 taskId) external view returns (Task memory) {
        return _tasks[taskId];
    }

    /// @notice A task's options (collateral, commitments, callback).
    function taskOptions(uint256 taskId) external view returns (Options memory) {
        return _options[taskId];
    }

    /// @notice The state of `commitment` in circuit `circuitId`'s namespace.
    function commitmentOf(bytes32 circuitId, bytes32 commitment) external view returns (Commitment) {
        return commitments[_key(circuitId, commitment)];
    }

    function _verify(Circuit memory c, uint256[8] calldata proof, uint256[] calldata publicSignals)
        internal
        view
        returns (bool valid)
    {
        bytes memory input = abi.encodePacked(c.selector, proof, publicSignals);
        uint256 gasLimit = VERIFY_GAS_BASE + VERIFY_GAS_PER_SIGNAL * c.nPublic;
        address verifier = c.verifier;
        bool ok;
        uint256 word;
        assembly ("memory-safe") {
            // Only the first 32 bytes of the answer are copied: a hostile verifier cannot make
            // the market pay for a huge return value.
            mstore(0, 0)
            ok := staticcall(gasLimit, verifier, add(input, 32), mload(input), 0, 32)
            word := mload(0)
            if lt(returndatasize(), 32) { ok := 0 }
        }
        valid = ok && word == 1;
    }

    /// Spends task `taskId`'s in-commitments, adds its out-commitments (each must be among
    /// the proof's `outputs`) and calls its callback.
    function _applyOptions(uint256 taskId, uint256[] calldata outputs) internal {
        Options storage o = _options[taskId];
        bytes32 ns = _circuitOf[taskId];
        for (uint256 i; i < o.inCommitments.length; ++i) {
            bytes32 c = o.inCommitments[i];
            bytes32 k = _key(ns, c);
            if (commitments[k] != Commitment.Live) revert CommitmentNotLive(c);
            _checkNotReserved(k, c, taskId);
            commitments[k] = Commitment.Spent;
        }
        for (uint256 i; i < o.outCommitments.length; ++i) {
            bytes32 c = o.outCommitments[i];
            if (!_among(c, outputs)) revert CommitmentNotInSignals(c);
            bytes32 k = _key(ns, c);
            if (commitments[k] != Commitment.None) revert CommitmentExists(c);
            _checkNotReserved(k, c, taskId);
            commitments[k] = Commitment.Live;
        }
        address callback = o.callback;
        if (callback == address(0)) return;
        // EIP-150 forwards at most 63/64 of what is left: a caller who leaves too little would
        // starve the callback, so the settlement needs enough gas for all of it.
        if (gasleft() < CALLBACK_GAS + CALLBACK_GAS / 63 + 10_000) revert GasTooLow();
        bytes memory data = abi.encodeCall(ITaskCallback.onTaskResult, (taskId, outputs));
        bool ok;
        assembly ("memory-safe") {
            // No return data is copied (a callback cannot make the market pay for it).
            ok := call(CALLBACK_GAS, callback, 0, add(data, 32), mload(data), 0, 0)
        }
        if (!ok) emit CallbackFailed(taskId);
    }

    /// Whether commitment `c` is one of `signals` (as a field element).
    function _among(bytes32 c, uint256[] calldata signals) internal pure returns (bool) {
        for (uint256 i; i < signals.length; ++i) {
            if (bytes32(signals[i]) == c) return true;
        }
        return false;
    }

    /// The storage key of commitment `c` in circuit `circuitId`'s namespace.
    function _key(bytes32 circuitId, bytes32 c) internal pure returns (bytes32) {
        return keccak256(abi.encode(circuitId, c));
    }

    /// Reserves commitment `c` of namespace `ns` for locked task `taskId`.
    function _reserve(bytes32 ns, bytes32 c, uint256 taskId) internal {
        bytes32 k = _key(ns, c);
        _checkNotReserved(k, c, taskId);
        reservedBy[k] = taskId;
    }

    /// Reverts if another task holds a live reservation of commitment `c` (storage key `k`).
    function _checkNotReserved(bytes32 k, bytes32 c, uint256 taskId) internal view {
        uint256 holder = reservedBy[k];
        if (holder == 0 || holder == taskId) return;
        Task storage h = _tasks[holder];
        if (h.status == Status.Locked && block.timestamp <= h.deadline) revert CommitmentReserved(c, holder);
    }

    function _pay(address to, uint256 amount) internal {
        if (amount == 0) return;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) {
            credits[to] += amount;
            emit Credited(to, amount);
        }
    }

    function _decimal(uint256 v) internal pure returns (bytes memory out) {
        if (v == 0) return "0";
        uint256 len;
        for (uint256 x = v; x != 0; x /= 10) ++len;
        out = new bytes(len);
        for (; v != 0; v /= 10) out[--len] = bytes1(uint8(48 + v % 10));
    }
}
