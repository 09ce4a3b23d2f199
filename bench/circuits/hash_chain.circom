pragma circom 2.1.6;

// A benchmark circuit shaped like real ones: a chain of Poseidon hashes, each output also
// decomposed into bits (Num2Bits), so that the witness mixes field elements with many 0/1
// values, as circuits built from circomlib do. 772 constraints per link.
include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/bitify.circom";

template HashChain(links) {
    signal input seed;
    signal output out;
    component hash[links];
    component bits[links];
    signal acc[links + 1];
    acc[0] <== seed;
    for (var i = 0; i < links; i++) {
        hash[i] = Poseidon(2);
        hash[i].inputs[0] <== acc[i];
        hash[i].inputs[1] <== i;
        bits[i] = Num2Bits(254);
        bits[i].in <== hash[i].out;
        acc[i + 1] <== hash[i].out;
    }
    out <== acc[links];
}
