// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test, Vm} from "./lib/Test.sol";
import {deployRuntime} from "./Verifier.t.sol";
import {TaskMarket} from "../src/TaskMarket.sol";
import {MerkleInclusionFixtures as M} from "./generated/fixtures_merkle_inclusion.sol";

/// @notice Random sequences of market calls by four actors, with a ghost ledger of what
/// each paid in and what it is entitled to (refunds, and fees it earned with verified proofs;
/// slashed collateral is burned).
contract MarketHandler {
    Vm constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    TaskMarket public immutable market;
    bytes32 public immutable circuit;
    address[4] public actors = [address(0x1001), address(0x1002), address(0x1003), address(0x1004)];
    mapping(uint256 => uint256) public proofOf;
    mapping(address => uint256) public paidIn;
    mapping(address => uint256) public entitled;
    mapping(address => uint256) public startBalance;
    uint256 public escrow;
    /// Collateral slashed so far (the market keeps it, paid to nobody).
    uint256 public burned;
    uint256 public calls;
    uint256 public settled;

    constructor(TaskMarket m, bytes32 c) {
        market = m;
        circuit = c;
        for (uint256 i; i < 4; ++i) {
            vm.deal(actors[i], 1_000 ether);
            startBalance[actors[i]] = 1_000 ether;
        }
    }

    function _task(uint256 seed) internal view returns (uint256) {
        uint256 n = market.taskCount();
        return n == 0 ? 0 : 1 + seed % n;
    }

    function create(uint256 who, uint256 proofIdx, uint256 fee, uint256 ttl) external {
        address a = actors[who % 4];
        fee = 1 + fee % 10 ether;
        proofIdx %= M.COUNT;
        (, uint256[2] memory s) = M.proof(proofIdx);
        uint256[] memory inputs = new uint256[](1);
        inputs[0] = s[1];
        vm.prank(a);
        uint256 id = market.createTask{value: fee}(circuit, inputs, "", uint64(block.timestamp + 1 + ttl % 2 hours));
        proofOf[id] = proofIdx;
        paidIn[a] += fee;
        escrow += fee;
        ++calls;
    }

    function lock(uint256 who, uint256 seed) external {
        uint256 id = _task(seed);
        if (id == 0) return;
        address a = actors[who % 4];
        TaskMarket.Task memory t = market.tasks(id);
        (TaskMarket.Status st, uint96 req) = (t.status, t.requiredCollateral);
        vm.prank(a);
        try market.lockTask{value: req}(id) {
            paidIn[a] += req;
            escrow += req;
            assert(st == TaskMarket.Status.Open);
        } catch {}
        ++calls;
    }

    function submit(uint256 who, uint256 seed, bool tamper) external {
        uint256 id = _task(seed);
        if (id == 0) return;
        address a = actors[who % 4];
        (uint256[8] memory p, uint256[2] memory s) = M.proof(proofOf[id]);
        if (tamper) p[7] = 21888242871839275222246405745257275088696311157297823662689037894645226208583 - p[7];
        uint256[] memory signals = new uint256[](2);
        (signals[0], signals[1]) = (s[0], s[1]);
        TaskMarket.Task memory t = market.tasks(id);
        uint256 owed = uint256(t.fee) + (t.status == TaskMarket.Status.Locked ? t.requiredCollateral : 0);
        vm.prank(a);
        try market.submitResult(id, p, signals) {
            assert(!tamper);
            ++settled;
            entitled[a] += owed;
            escrow -= owed;
        } catch {}
        ++calls;
    }

    function expire(uint256 seed) external {
        uint256 id = _task(seed);
        if (id == 0) return;
        TaskMarket.Task memory t = market.tasks(id);
        uint256 slashed = t.status == TaskMarket.Status.Locked ? t.requiredCollateral : 0;
        try market.expire(id) {
            entitled[t.requester] += t.fee;
            escrow -= uint256(t.fee) + slashed;
            burned += slashed;
        } catch {}
        ++calls;
    }

    function warp(uint256 dt) external {
        vm.warp(block.timestamp + dt % 3 hours);
    }

    function withdraw(uint256 who) external {
        vm.prank(actors[who % 4]);
        try market.withdraw() {} catch {}
    }
}

contract TaskMarketInvariantTest is Test {
    TaskMarket market;
    MarketHandler handler;

    function setUp() public {
        market = new TaskMarket();
        bytes32 circuit = market.registerCircuit(deployRuntime(M.keyBlob()), M.VK_HASH, 2, 1);
        handler = new MarketHandler(market, circuit);
    }

    /// forge fuzzes only the handler's functions.
    function targetContracts() public view returns (address[] memory t) {
        t = new address[](1);
        t[0] = address(handler);
    }

    /// The market holds exactly the escrow of unfinished tasks and the collateral it burned:
    /// nothing stuck, nothing paid out that was not in escrow.
    function invariant_solvent() public view {
        assertEq(address(market).balance, handler.escrow() + handler.burned(), "market balance != escrow + burned");
        assertEq(market.burned(), handler.burned(), "burned collateral miscounted");
    }

    /// The handler's paths do what the campaign relies on: a scripted sequence settles,
    /// expires (with a slash) and refuses a tampered proof, and both invariants hold.
    function test_handler_paths() public {
        handler.create(0, 0, 1 ether, 1 hours);
        handler.create(1, 1, 2 ether, 1 hours);
        handler.lock(2, 1);
        handler.submit(3, 0, true);
        assertEq(handler.settled(), 0, "a tampered proof settled");
        handler.submit(3, 0, false);
        handler.submit(3, 1, false); // locked by actor 2: refused
        assertEq(handler.settled(), 1, "settled tasks");
        handler.warp(2 hours);
        handler.expire(1);
        assertEq(handler.entitled(handler.actors(1)), 2 ether + 1, "the fee back, not the slashed collateral");
        assertEq(handler.burned(), 1 ether, "half the fee, locked as collateral, burned");
        invariant_solvent();
        invariant_nobody_takes_more();
    }

    /// Nobody takes more than they paid in, beyond what the rules give them: fees earned
    /// with verified proofs and refunds (never collateral slashed from a prover).
    function invariant_nobody_takes_more() public view {
        for (uint256 i; i < 4; ++i) {
            address a = handler.actors(i);
            uint256 start = handler.startBalance(a);
            uint256 got = a.balance + handler.paidIn(a);
            assertTrue(got >= start, "an actor lost ether it was not charged");
            assertEq(got - start, handler.entitled(a), "an actor got other than its entitlement");
        }
    }
}
