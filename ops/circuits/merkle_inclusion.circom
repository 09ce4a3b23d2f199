pragma circom 2.0.0;

include "circomlib/circuits/poseidon.circom";

// Orders a node and its sibling by the path bit `s` (0: node on the left).
template OrderedPair() {
    signal input node;
    signal input sibling;
    signal input s;
    signal output left;
    signal output right;
    s * (1 - s) === 0;
    left <== (sibling - node) * s + node;
    right <== (node - sibling) * s + sibling;
}

// Inclusion of a public leaf in a Poseidon Merkle tree with the public root as output.
template MerkleInclusion(levels) {
    signal input leaf;
    signal input pathElements[levels];
    signal input pathIndices[levels];
    signal output root;

    component order[levels];
    component hash[levels];
    signal level[levels + 1];
    level[0] <== leaf;
    for (var i = 0; i < levels; i++) {
        order[i] = OrderedPair();
        order[i].node <== level[i];
        order[i].sibling <== pathElements[i];
        order[i].s <== pathIndices[i];
        hash[i] = Poseidon(2);
        hash[i].inputs[0] <== order[i].left;
        hash[i].inputs[1] <== order[i].right;
        level[i + 1] <== hash[i].out;
    }
    root <== level[levels];
}

component main {public [leaf]} = MerkleInclusion(4);
