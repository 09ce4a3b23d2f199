// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "./lib/Test.sol";
import {deployRuntime} from "./Verifier.t.sol";
import {TaskMarket, ITaskCallback} from "../src/TaskMarket.sol";
import {MerkleInclusionFixtures as M} from "./generated/fixtures_merkle_inclusion.sol";

/// @notice A minimal ERC-20 for the settlement callback.
contract Token {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    function mint(address to, uint256 v) external {
        balanceOf[to] += v;
    }

    function approve(address s, uint256 v) external returns (bool) {
        allowance[msg.sender][s] = v;
        return true;
    }

    function transferFrom(address f, address t, uint256 v) external returns (bool) {
        require(allowance[f][msg.sender] >= v && balanceOf[f] >= v, "insufficient");
        allowance[f][msg.sender] -= v;
        balanceOf[f] -= v;
        balanceOf[t] += v;
        return true;
    }
}

/// @notice Settles a trade when its task's result says so: pays `seller` from `buyer` the
/// amount the circuit computed... here the first output modulo 1000, so tests can steer it.
contract TradeSettlement is ITaskCallback {
    Token public immutable token;
    address public immutable market;
    address public immutable buyer;
    address public immutable seller;

    constructor(Token t, address m, address b, address s) {
        (token, market, buyer, seller) = (t, m, b, s);
    }

    function onTaskResult(uint256, uint256[] calldata outputs) external {
        require(msg.sender == market, "only the market");
        require(token.transferFrom(buyer, seller, outputs[0] % 1000), "transfer failed");
    }
}

/// @notice A verifier that accepts everything: what a careless or hostile circuit registers.
contract AlwaysTrue {
    fallback() external {
        assembly {
            mstore(0, 1)
            return(0, 32)
        }
    }
}

contract TaskMarketTest is Test {
    TaskMarket market;
    bytes32 circuit;
    address requester = address(0xA11CE);
    address prover = address(0xB0B);
    address rival = address(0xCAFE);

    function setUp() public {
        market = new TaskMarket();
        circuit = market.registerCircuit(deployRuntime(M.keyBlob()), M.VK_HASH, 2, 1);
        vm.deal(requester, 100 ether);
        vm.deal(prover, 100 ether);
        vm.deal(rival, 100 ether);
    }

    function _proof(uint256 i) internal pure returns (uint256[8] memory p, uint256[] memory signals, uint256[] memory inputs) {
        uint256[2] memory s;
        (p, s) = M.proof(i);
        signals = new uint256[](2);
        (signals[0], signals[1]) = (s[0], s[1]);
        inputs = new uint256[](1);
        inputs[0] = s[1];
    }

    /// The root proof `i` outputs, as a state commitment: proof `i + 1`'s leaf (its public
    /// input) is the same value, so a note made by task i is consumed by task i + 1.
    function _note(uint256 i) internal pure returns (bytes32) {
        (, uint256[] memory signals,) = _proof(i);
        return bytes32(signals[0]);
    }

    function _create(uint256 i, uint256 fee) internal returns (uint256 id) {
        (,, uint256[] memory inputs) = _proof(i);
        vm.prank(requester);
        id = market.createTask{value: fee}(circuit, inputs, "{}", uint64(block.timestamp + 1 hours));
    }

    function test_registration_is_bound_and_unique() public {
        address v = deployRuntime(M.keyBlob());
        bytes32 id = market.registerCircuit(v, M.VK_HASH, 2, 1);
        assertTrue(id == keccak256(abi.encode(v, M.VK_HASH, uint32(2), uint32(1))), "id is not the commitment");
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CircuitExists.selector, id));
        market.registerCircuit(v, M.VK_HASH, 2, 1);
        vm.expectRevert(TaskMarket.BadCircuit.selector);
        market.registerCircuit(address(0x1234), M.VK_HASH, 2, 1);
    }

    function test_lock_submit_pays_prover_once() public {
        uint256 id = _create(0, 1 ether);
        vm.prank(prover);
        market.lockTask{value: 0.5 ether}(id);
        vm.prank(rival);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.NotOpen.selector, id, TaskMarket.Status.Locked));
        market.lockTask{value: 0.5 ether}(id);
        (uint256[8] memory p, uint256[] memory s,) = _proof(0);
        vm.prank(rival);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.LockedByAnother.selector, id, prover));
        market.submitResult(id, p, s);
        uint256 before = prover.balance;
        vm.prank(prover);
        uint256 g = gasleft();
        market.submitResult(id, p, s);
        g -= gasleft();
        emit log_named_uint("gas submitResult (verify + pay), execution", g);
        assertTrue(g <= 260_000, "submitResult over 260k gas");
        assertEq(prover.balance - before, 1.5 ether, "prover paid fee + collateral");
        assertEq(address(market).balance, 0, "market keeps nothing");
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.NotOpen.selector, id, TaskMarket.Status.Settled));
        market.submitResult(id, p, s);
    }

    function test_invalid_proof_and_wrong_inputs_revert() public {
        uint256 id = _create(0, 1 ether);
        (uint256[8] memory p, uint256[] memory s,) = _proof(0);
        uint256[8] memory bad;
        for (uint256 k; k < 8; ++k) bad[k] = p[k];
        bad[7] = 21888242871839275222246405745257275088696311157297823662689037894645226208583 - bad[7];
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.InvalidProof.selector, id));
        market.submitResult(id, bad, s);
        (uint256[8] memory p1, uint256[] memory s1,) = _proof(1);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.InputsMismatch.selector, id));
        market.submitResult(id, p1, s1);
        uint256[] memory wrongOut = new uint256[](2);
        (wrongOut[0], wrongOut[1]) = (s[0] + 1, s[1]);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.InvalidProof.selector, id));
        market.submitResult(id, p, wrongOut);
        // an unlocked task: anyone with a valid proof settles it
        vm.prank(rival);
        market.submitResult(id, p, s);
        assertTrue(market.tasks(id).status == TaskMarket.Status.Settled, "settled");
    }

    function test_expire_refunds_and_slashes() public {
        uint256 id = _create(0, 1 ether);
        vm.prank(prover);
        market.lockTask{value: 0.5 ether}(id);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.DeadlineNotPassed.selector, id));
        market.expire(id);
        vm.warp(block.timestamp + 1 hours + 1);
        (uint256[8] memory p, uint256[] memory s,) = _proof(0);
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.DeadlinePassed.selector, id));
        market.submitResult(id, p, s);
        uint256 before = requester.balance;
        market.expire(id);
        assertEq(requester.balance - before, 1 ether, "the requester gets its fee back, never the collateral");
        assertEq(market.burned(), 0.5 ether, "the collateral is burned");
        assertEq(address(market).balance, 0.5 ether, "the market keeps the burned collateral");
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.NotOpen.selector, id, TaskMarket.Status.Expired));
        market.expire(id);
    }

    function _options(bytes32[] memory ins, bytes32[] memory outs, address cb)
        internal
        pure
        returns (TaskMarket.Options memory o)
    {
        o.requiredCollateral = 0;
        o.inCommitments = ins;
        o.outCommitments = outs;
        o.callback = cb;
    }

    function _createWith(uint256 i, TaskMarket.Options memory o) internal returns (uint256 id) {
        (,, uint256[] memory inputs) = _proof(i);
        vm.prank(requester);
        id = market.createTaskWithOptions{value: 1 ether}(circuit, inputs, "{}", uint64(block.timestamp + 1 hours), o);
    }

    function test_commitments_consumed_once() public {
        bytes32 note = _note(0);
        bytes32[] memory none = new bytes32[](0);
        bytes32[] memory one = _one(note);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CommitmentNotLive.selector, note));
        _createWith(1, _options(one, none, address(0)));
        // a verified result adds the note
        _submit(address(this), _createWith(0, _options(none, one, address(0))), 0);
        assertTrue(market.commitmentOf(circuit, note) == TaskMarket.Commitment.Live, "note live");
        // two tasks spend it; the first verified result consumes it, the second reverts
        uint256 a = _createWith(1, _options(one, none, address(0)));
        uint256 b = _createWith(1, _options(one, none, address(0)));
        _submit(address(this), a, 1);
        assertTrue(market.commitmentOf(circuit, note) == TaskMarket.Commitment.Spent, "note spent");
        (uint256[8] memory p1, uint256[] memory s1,) = _proof(1);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CommitmentNotLive.selector, note));
        market.submitResult(b, p1, s1);
        // an output that already exists cannot be added again: refused at creation
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CommitmentExists.selector, note));
        _createWith(0, _options(none, one, address(0)));
    }

    /// The commitments a task consumes are among its public inputs, and those it adds among
    /// the proof's outputs: a task cannot spend or mint a note its proof says nothing about.
    function test_commitments_must_be_among_the_public_signals() public {
        bytes32 note = _note(0);
        bytes32[] memory none = new bytes32[](0);
        _submit(prover, _createWith(0, _options(none, _one(note), address(0))), 0);
        // Spending the live note with a proof whose public input is another leaf: refused.
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CommitmentNotInSignals.selector, note));
        _createWith(2, _options(_one(note), none, address(0)));
        // Minting a note the proof does not output: the valid proof cannot settle the task.
        bytes32 madeUp = keccak256("a note no proof outputs");
        uint256 id = _createWith(1, _options(_one(note), _one(madeUp), address(0)));
        (uint256[8] memory p, uint256[] memory s,) = _proof(1);
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CommitmentNotInSignals.selector, madeUp));
        market.submitResult(id, p, s);
        assertTrue(market.commitmentOf(circuit, note) == TaskMarket.Commitment.Live, "the input is not spent");
        assertTrue(market.commitmentOf(circuit, madeUp) == TaskMarket.Commitment.None, "nothing minted");
        // The chain as the proofs compute it settles: note 0 spent, note 1 made.
        _submit(prover, _createWith(1, _options(_one(note), _one(_note(1)), address(0))), 1);
        assertTrue(market.commitmentOf(circuit, note) == TaskMarket.Commitment.Spent, "input spent");
        assertTrue(market.commitmentOf(circuit, _note(1)) == TaskMarket.Commitment.Live, "output live");
    }

    /// A circuit with an always-true verifier reaches only its own namespace: it can neither
    /// add notes another circuit's tasks spend, nor spend another circuit's notes.
    function test_commitments_are_namespaced_per_circuit() public {
        bytes32 note = _note(0);
        bytes32 forged = keccak256("note-forged");
        bytes32[] memory none = new bytes32[](0);
        _submit(prover, _createWith(0, _options(none, _one(note), address(0))), 0);
        bytes32 evil = market.registerCircuit(address(new AlwaysTrue()), bytes32(0), 2, 1);
        (uint256[8] memory p, uint256[] memory s, uint256[] memory inputs) = _proof(1);
        // The evil circuit cannot spend the honest note: in its namespace it does not exist.
        vm.prank(rival);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CommitmentNotLive.selector, note));
        market.createTaskWithOptions{value: 1 ether}(
            evil, inputs, "{}", uint64(block.timestamp + 1 hours), _options(_one(note), none, address(0))
        );
        // It can mint a note in its own namespace, with any "proof" and any outputs...
        vm.prank(rival);
        uint256 mint = market.createTaskWithOptions{value: 1 ether}(
            evil, inputs, "{}", uint64(block.timestamp + 1 hours), _options(none, _one(forged), address(0))
        );
        p[0] ^= 1;
        s[0] = uint256(forged);
        vm.prank(rival);
        market.submitResult(mint, p, s);
        assertTrue(market.commitmentOf(evil, forged) == TaskMarket.Commitment.Live, "live for the evil circuit");
        // ...which the honest circuit does not see.
        assertTrue(market.commitmentOf(circuit, forged) == TaskMarket.Commitment.None, "not in the honest namespace");
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CommitmentNotLive.selector, forged));
        _createWith(2, _options(_one(forged), none, address(0)));
        assertTrue(market.commitmentOf(circuit, note) == TaskMarket.Commitment.Live, "the honest note is untouched");
    }

    function test_options_are_checked_at_creation() public {
        bytes32 note = _note(0);
        bytes32 other = keccak256("note-other");
        bytes32[] memory none = new bytes32[](0);
        bytes32[] memory one = new bytes32[](1);
        one[0] = note;
        (uint256[8] memory p0, uint256[] memory s0,) = _proof(0);
        market.submitResult(_createWith(0, _options(none, one, address(0))), p0, s0);
        bytes32[] memory twice = new bytes32[](2);
        (twice[0], twice[1]) = (note, note);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.DuplicateCommitment.selector, note));
        _createWith(1, _options(twice, none, address(0)));
        bytes32[] memory otherTwice = new bytes32[](2);
        (otherTwice[0], otherTwice[1]) = (other, other);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.DuplicateCommitment.selector, other));
        _createWith(1, _options(none, otherTwice, address(0)));
        // an output that exists already
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CommitmentExists.selector, note));
        _createWith(1, _options(none, one, address(0)));
        // an output that is also an input of the same task
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CommitmentExists.selector, note));
        _createWith(1, _options(one, one, address(0)));
        bytes32[] memory many = new bytes32[](17);
        for (uint256 i; i < 17; ++i) many[i] = bytes32(i + 1);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.TooManyCommitments.selector, 16));
        _createWith(1, _options(none, many, address(0)));
    }

    /// Submits proof `i` for task `id` as `who`.
    function _submit(address who, uint256 id, uint256 i) internal {
        (uint256[8] memory p, uint256[] memory s,) = _proof(i);
        vm.prank(who);
        market.submitResult(id, p, s);
    }

    /// As `_submit`, expecting `CommitmentReserved(c, holder)`.
    function _submitReserved(uint256 id, uint256 i, bytes32 c, uint256 holder) internal {
        (uint256[8] memory p, uint256[] memory s,) = _proof(i);
        vm.prank(rival);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CommitmentReserved.selector, c, holder));
        market.submitResult(id, p, s);
    }

    function _one(bytes32 c) internal pure returns (bytes32[] memory v) {
        v = new bytes32[](1);
        v[0] = c;
    }

    /// A requester cannot make a locked task unsettleable by spending its input, or adding its
    /// output, through another task: the lock reserved both.
    function test_lock_reserves_commitments() public {
        bytes32 note = _note(0);
        bytes32 fresh = _note(1);
        bytes32[] memory none = new bytes32[](0);
        _submit(prover, _createWith(0, _options(none, _one(note), address(0))), 0);
        TaskMarket.Options memory o = _options(_one(note), _one(fresh), address(0));
        o.requiredCollateral = 0.5 ether;
        uint256 locked = _createWith(1, o);
        uint256 spender = _createWith(1, _options(_one(note), none, address(0)));
        uint256 minter = _createWith(1, _options(none, _one(fresh), address(0)));
        vm.prank(prover);
        market.lockTask{value: 0.5 ether}(locked);
        // the requester's other tasks cannot consume the reserved input or add the output
        _submitReserved(spender, 1, note, locked);
        _submitReserved(minter, 1, fresh, locked);
        vm.prank(rival);
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CommitmentReserved.selector, note, locked));
        market.lockTask(spender);
        uint256 before = prover.balance;
        _submit(prover, locked, 1);
        assertEq(prover.balance - before, 1.5 ether, "the locked task settles and pays its prover");
        assertTrue(market.commitmentOf(circuit, note) == TaskMarket.Commitment.Spent, "input spent");
        assertTrue(market.commitmentOf(circuit, fresh) == TaskMarket.Commitment.Live, "output live");
    }

    /// A reservation ends with its task's deadline: an abandoned lock does not freeze a note.
    function test_reservation_ends_at_the_deadline() public {
        bytes32 note = _note(0);
        _submit(prover, _createWith(0, _options(new bytes32[](0), _one(note), address(0))), 0);
        uint256 locked = _createWith(1, _options(_one(note), new bytes32[](0), address(0)));
        vm.prank(prover);
        market.lockTask(locked);
        vm.warp(block.timestamp + 30 minutes);
        (,, uint256[] memory inputs) = _proof(1);
        vm.prank(requester);
        uint256 later = market.createTaskWithOptions{value: 1 ether}(
            circuit, inputs, "{}", uint64(block.timestamp + 2 hours), _options(_one(note), new bytes32[](0), address(0))
        );
        vm.warp(block.timestamp + 31 minutes);
        _submit(rival, later, 1);
        assertTrue(market.commitmentOf(circuit, note) == TaskMarket.Commitment.Spent, "spent after the lock lapsed");
    }

    function test_callback_failure_does_not_block_payment() public {
        Token token = new Token();
        address buyer = address(0xB1);
        address seller = address(0x5E);
        TradeSettlement trade = new TradeSettlement(token, address(market), buyer, seller);
        (uint256[8] memory p, uint256[] memory s,) = _proof(0);
        uint256 amount = s[0] % 1000;
        vm.assume(amount > 0);
        uint256 id = _createWith(0, _options(new bytes32[](0), new bytes32[](0), address(trade)));
        // the buyer has not approved: the callback fails, the settlement stands
        uint256 before = address(this).balance;
        vm.expectEmit(true, false, false, false, address(market));
        emit TaskMarket.CallbackFailed(id);
        market.submitResult(id, p, s);
        assertTrue(market.tasks(id).status == TaskMarket.Status.Settled, "settled despite the callback");
        assertEq(address(this).balance - before, 1 ether, "prover paid");
        assertEq(token.balanceOf(seller), 0, "the failed callback moved nothing");
        // an approved buyer: the callback pays the seller in the same transaction
        token.mint(buyer, 5000);
        vm.prank(buyer);
        token.approve(address(trade), 5000);
        (uint256[8] memory p1, uint256[] memory s1,) = _proof(1);
        uint256 id1 = _createWith(1, _options(new bytes32[](0), new bytes32[](0), address(trade)));
        market.submitResult(id1, p1, s1);
        assertEq(token.balanceOf(seller), s1[0] % 1000, "seller paid in the same transaction");
    }

    /// A callback that burns all the gas it gets costs the settlement at most CALLBACK_GAS.
    function test_callback_gas_is_bounded() public {
        uint256 id = _createWith(2, _options(new bytes32[](0), new bytes32[](0), address(new GasBurner())));
        (uint256[8] memory p, uint256[] memory s,) = _proof(2);
        uint256 g = gasleft();
        market.submitResult(id, p, s);
        g -= gasleft();
        assertTrue(g < 260_000 + market.CALLBACK_GAS(), "the callback's gas is bounded");
        assertTrue(market.tasks(id).status == TaskMarket.Status.Settled, "settled despite a gas-burning callback");
    }

    /// A prover that leaves too little gas for the callback cannot starve it.
    function test_callback_cannot_be_starved() public {
        uint256 id = _createWith(2, _options(new bytes32[](0), new bytes32[](0), address(new GasBurner())));
        (uint256[8] memory p, uint256[] memory s,) = _proof(2);
        vm.expectRevert(TaskMarket.GasTooLow.selector);
        market.submitResult{gas: 700_000}(id, p, s);
        assertTrue(market.tasks(id).status == TaskMarket.Status.Open, "still open");
    }

    /// A verifier the requester chose (one that rejects everything, or burns its gas) cannot
    /// earn the requester the prover's collateral, and costs the prover bounded gas.
    function test_hostile_verifier_gains_the_requester_nothing() public {
        bytes32 hostile = market.registerCircuit(address(new GasBurner()), M.VK_HASH, 2, 1);
        (uint256[8] memory p, uint256[] memory s, uint256[] memory inputs) = _proof(0);
        vm.prank(requester);
        uint256 id = market.createTask{value: 1 ether}(hostile, inputs, "{}", uint64(block.timestamp + 1 hours));
        vm.prank(prover);
        market.lockTask{value: 0.5 ether}(id);
        vm.prank(prover);
        uint256 g = gasleft();
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.InvalidProof.selector, id));
        market.submitResult(id, p, s);
        g -= gasleft();
        assertTrue(g < market.VERIFY_GAS_BASE() + 2 * market.VERIFY_GAS_PER_SIGNAL() + 100_000, "verifier gas bounded");
        vm.warp(block.timestamp + 1 hours + 1);
        uint256 before = requester.balance;
        market.expire(id);
        assertEq(requester.balance - before, 1 ether, "fee back only");
    }

    function test_refusing_recipient_is_credited() public {
        uint256 id = _create(0, 1 ether);
        Refuser r = new Refuser(market);
        (uint256[8] memory p, uint256[] memory s,) = _proof(0);
        r.submit(id, p, s);
        assertEq(market.credits(address(r)), 1 ether, "credited");
        r.setAccept(true);
        r.withdraw();
        assertEq(address(r).balance, 1 ether, "withdrawn");
        assertEq(market.credits(address(r)), 0, "credit cleared");
    }

    receive() external payable {}
}

/// @notice Burns all the gas it is given, whatever it is called with.
contract GasBurner {
    fallback() external {
        while (true) {}
    }
}

contract Refuser {
    TaskMarket immutable market;
    bool accept;

    constructor(TaskMarket m) {
        market = m;
    }

    function setAccept(bool a) external {
        accept = a;
    }

    function submit(uint256 id, uint256[8] calldata p, uint256[] calldata s) external {
        market.submitResult(id, p, s);
    }

    function withdraw() external {
        market.withdraw();
    }

    receive() external payable {
        require(accept, "no thanks");
    }
}
