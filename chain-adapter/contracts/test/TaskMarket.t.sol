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
        assertEq(requester.balance - before, 1.5 ether, "refund + slashed collateral");
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
        bytes32 note = keccak256("note-1");
        bytes32[] memory none = new bytes32[](0);
        bytes32[] memory one = new bytes32[](1);
        one[0] = note;
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CommitmentNotLive.selector, note));
        _createWith(0, _options(one, none, address(0)));
        // a verified result adds the note
        uint256 mint = _createWith(0, _options(none, one, address(0)));
        (uint256[8] memory p0, uint256[] memory s0,) = _proof(0);
        market.submitResult(mint, p0, s0);
        assertTrue(market.commitments(note) == TaskMarket.Commitment.Live, "note live");
        // two tasks spend it; the first verified result consumes it, the second reverts
        uint256 a = _createWith(1, _options(one, none, address(0)));
        uint256 b = _createWith(2, _options(one, none, address(0)));
        (uint256[8] memory p1, uint256[] memory s1,) = _proof(1);
        (uint256[8] memory p2, uint256[] memory s2,) = _proof(2);
        market.submitResult(a, p1, s1);
        assertTrue(market.commitments(note) == TaskMarket.Commitment.Spent, "note spent");
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CommitmentNotLive.selector, note));
        market.submitResult(b, p2, s2);
        // an output that already exists cannot be added again
        uint256 c = _createWith(2, _options(none, one, address(0)));
        vm.expectRevert(abi.encodeWithSelector(TaskMarket.CommitmentExists.selector, note));
        market.submitResult(c, p2, s2);
    }

    function test_callback_settles_atomically() public {
        Token token = new Token();
        address buyer = address(0xB1);
        address seller = address(0x5E);
        TradeSettlement trade = new TradeSettlement(token, address(market), buyer, seller);
        (uint256[8] memory p, uint256[] memory s,) = _proof(0);
        uint256 amount = s[0] % 1000;
        vm.assume(amount > 0);
        uint256 id = _createWith(0, _options(new bytes32[](0), new bytes32[](0), address(trade)));
        // the buyer has not approved: the callback fails, the whole settlement reverts
        vm.expectRevert(bytes("insufficient"));
        market.submitResult(id, p, s);
        assertTrue(market.tasks(id).status == TaskMarket.Status.Open, "task still open after a failed callback");
        token.mint(buyer, 5000);
        vm.prank(buyer);
        token.approve(address(trade), 5000);
        uint256 before = address(this).balance;
        market.submitResult(id, p, s);
        assertEq(token.balanceOf(seller), amount, "seller paid in the same transaction");
        assertEq(address(this).balance - before, 1 ether, "prover paid");
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
