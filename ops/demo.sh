#!/usr/bin/env bash
# README's demo: compile the sample circom circuits, prove them with fornax (the witness
# computed in-process from circom's circuit.wasm and the input JSON), verify the proofs
# with snarkjs (and fornax), and print the timings next to snarkjs's own prover.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ops/setup.sh
cargo build --release --locked -p fornax-scheduler
fornax=target/release/fornax
snarkjs=ops/js/node_modules/.bin/snarkjs
fixtures=$(ops/circuits.sh | tail -n 1)
out=$(mktemp -d)
ms() { date +%s%N; }
for name in poseidon_preimage merkle_inclusion; do
  dir="$fixtures/$name"
  echo "== $name (zkey $(du -h "$dir/$name.zkey" | cut -f1))"
  t0=$(ms)
  "$fornax" prove "$dir/$name.zkey" "$dir/${name}_js/$name.wasm" "$out/$name.proof.json" "$out/$name.public.json" \
    --input "$dir/input.json" --r1cs "$dir/$name.r1cs"
  t1=$(ms)
  "$snarkjs" groth16 verify "$dir/verification_key.json" "$out/$name.public.json" "$out/$name.proof.json"
  t2=$(ms)
  "$fornax" verify "$dir/verification_key.json" "$out/$name.public.json" "$out/$name.proof.json"
  "$snarkjs" groth16 prove "$dir/$name.zkey" "$dir/$name.wtns" "$out/$name.snarkjs-proof.json" "$out/$name.snarkjs-public.json"
  t3=$(ms)
  echo "public signals: $(tr -d ' \n' < "$out/$name.public.json")"
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
    printf "fornax prove (whole process): %.1f ms | snarkjs verify: %.1f ms | snarkjs prove (whole process): %.1f ms\n\n",
      (b - a) / 1e6, (c - b) / 1e6, (d - c) / 1e6 }' 
done

echo "== the node: fornax node, tasks over HTTP"
data=$(mktemp -d)
log="$out/node.log"
FORNAX_API_KEYS=demo=demo-token "$fornax" node --data-dir "$data" --listen 127.0.0.1:0 >"$log" 2>&1 &
node_pid=$!
trap 'kill $node_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
export FORNAX_NODE=$(sed -n 's/^fornax node listening on //p' "$log") FORNAX_TOKEN=demo-token
echo "node at $FORNAX_NODE (data in $data)"
name=poseidon_preimage
dir="$fixtures/$name"
circuit=$("$fornax" register "$dir/$name.zkey" --wasm "$dir/${name}_js/$name.wasm")
echo "registered $name as $circuit"
ids=()
for k in 1 2 3 4 5; do
  echo "{\"preimage\": [\"$RANDOM$RANDOM\", \"$k\"]}" > "$out/input-$k.json"
  ids+=("$("$fornax" submit "$circuit" --input "$out/input-$k.json")")
done
echo "submitted ${#ids[@]} tasks"
mkdir -p "$out/node-proofs"
"$fornax" wait "${ids[@]}" --out "$out/node-proofs"
for id in "${ids[@]}"; do
  "$snarkjs" groth16 verify "$dir/verification_key.json" "$out/node-proofs/$id.public.json" "$out/node-proofs/$id.proof.json" >/dev/null
  echo "$id: snarkjs verifies the proof"
done
curl -s "$FORNAX_NODE/metrics" 2>/dev/null | grep -E "^fornax_(proofs_total|prove_seconds_total)" || true
echo "proofs and public signals are in $out"
kill $node_pid 2>/dev/null || true
wait $node_pid 2>/dev/null || true

echo
echo "== on chain: a dApp creates a task with a fee; the node proves it; the contract verifies and pays;"
echo "   the node's worker (a SIMULATED TEE here: no TEE on this machine) is registered and signs each result"
data=$(mktemp -d)
log="$out/node-dev.log"
FORNAX_API_KEYS=demo=demo-token "$fornax" node --dev --insecure-simulated-tee --data-dir "$data" --listen 127.0.0.1:0 >"$log" 2>&1 &
node_pid=$!
trap 'kill $node_pid 2>/dev/null || true' EXIT
for _ in $(seq 300); do grep -q "^worker " "$log" && break; sleep 0.1; done
grep -E "^(dev chain|TaskMarket|WorkerRegistry|chain |worker |WARNING: SIMULATED)" "$log" || { cat "$log"; exit 1; }
export FORNAX_NODE=$(sed -n 's/^fornax node listening on //p' "$log") FORNAX_TOKEN=demo-token
rpc=$(sed -n 's/^dev chain: anvil at \([^ ]*\).*/\1/p' "$log")
market=$(sed -n 's/^TaskMarket //p' "$log")
name=merkle_inclusion
dir="$fixtures/$name"
"$fornax" register "$dir/$name.zkey" --wasm "$dir/${name}_js/$name.wasm" >/dev/null
# The dApp's side: anvil's second dev account (a public test key, dev chains only).
export FORNAX_CHAIN_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
circuit_id=$("$fornax" chain register-circuit --rpc "$rpc" --market "$market" --vk "$dir/verification_key.json" --outputs 1)
echo "circuit $name registered on chain as $circuit_id (verifier deployed with it)"
leaf=$((RANDOM * 32768 + RANDOM))
echo "{\"leaf\": \"$leaf\", \"pathElements\": [\"$RANDOM\", \"$RANDOM\", \"$RANDOM\", \"$RANDOM\"], \"pathIndices\": [\"1\", \"0\", \"1\", \"1\"]}" > "$out/chain-input.json"
task=$("$fornax" chain create-task --rpc "$rpc" --market "$market" --circuit-id "$circuit_id" \
  --input "$out/chain-input.json" --public-input "$leaf" --fee-wei 10000000000000000 --ttl-s 600)
echo "task $task created on chain with a fee of 0.01 ETH (leaf $leaf)"
for _ in $(seq 600); do
  status=$("$fornax" chain task --rpc "$rpc" --market "$market" --id "$task")
  echo "$status" | grep -q '"status":"settled"' && break
  sleep 0.2
done
echo "$status"
echo "$status" | grep -q '"status":"settled"' || { echo "the task did not settle"; cat "$log"; exit 1; }
node_task=$(curl -s -H "authorization: Bearer demo-token" "$FORNAX_NODE/v1/tasks?state=settled" | grep -o '"id":"t[0-9a-f]*"' | head -1 | cut -d'"' -f4 || true)
for _ in $(seq 100); do
  view=$(curl -s -H "authorization: Bearer demo-token" "$FORNAX_NODE/v1/tasks/$node_task")
  echo "$view" | grep -q '"signed"' && break
  sleep 0.2
done
echo "the node's view of it: $(echo "$view" | head -c 600)"
echo "signed by the worker: $(echo "$view" | grep -o '"signed":{[^}]*}')"
echo "the Merkle root (the result) was verified on chain and the prover was paid in the same transaction"
kill $node_pid 2>/dev/null || true
wait $node_pid 2>/dev/null || true

echo
echo "== encrypted computation: a sealed-bid auction. Three bids are encrypted; the node finds the"
echo "   highest bid and its bidder without decrypting anything; key holders (any 3 of 7 hold the key;"
echo "   5 agreeing answers are needed, so that 2 corrupt holders can neither change nor block a result)"
fhe="$out/fhe"
# Each key holder makes its own identity; the dealer sees only the public keys and seals
# each share to its holder's key (no share is ever written in the clear).
mkdir -p "$fhe"
holder_keys=()
for i in 1 2 3 4 5 6 7; do
  "$fornax" fhe holder-key "$fhe/holder-$i.key" >/dev/null
  holder_keys+=(--holder "$i=$fhe/holder-$i.key.pub")
done
"$fornax" fhe keygen --parties 7 --threshold 3 "${holder_keys[@]}" --out "$fhe"
holder_pids=()
holder_urls=()
for i in 1 2 3 4 5 6 7; do
  "$fornax" keyholder --share "$fhe/share-$i.sealed" --identity "$fhe/holder-$i.key" --node-key "$fhe/keyset/node.pub" \
    --listen 127.0.0.1:0 >"$out/keyholder-$i.log" 2>&1 &
  holder_pids+=($!)
done
trap 'kill $node_pid ${holder_pids[*]} 2>/dev/null || true' EXIT
for i in 1 2 3 4 5 6 7; do
  for _ in $(seq 100); do grep -q "listening on" "$out/keyholder-$i.log" && break; sleep 0.1; done
  holder_urls+=(--keyholder "$(sed -n 's/^fornax keyholder listening on //p' "$out/keyholder-$i.log")")
done
data=$(mktemp -d)
log="$out/node-fhe.log"
FORNAX_API_KEYS=demo=demo-token "$fornax" node --data-dir "$data" --listen 127.0.0.1:0 --fhe-keys "$fhe/keyset" --fhe-node-key "$fhe/node.key" "${holder_urls[@]}" >"$log" 2>&1 &
node_pid=$!
for _ in $(seq 600); do grep -q "listening on" "$log" && break; sleep 0.1; done
grep "^fhe key set" "$log"
export FORNAX_NODE=$(sed -n 's/^fornax node listening on //p' "$log") FORNAX_TOKEN=demo-token
bids=($((RANDOM % 60000)) $((RANDOM % 60000)) $((RANDOM % 60000)))
for i in 0 1 2; do "$fornax" fhe encrypt --keys "$fhe/keyset" --bits 16 "${bids[$i]}" "$fhe/bid-$i.ct"; done
echo "bids (known only to their bidders): ${bids[*]}; each is a $(du -h "$fhe/bid-0.ct" | cut -f1) ciphertext"
"$fornax" fhe submit --program ops/fhe/auction.json "$fhe/bid-0.ct" "$fhe/bid-1.ct" "$fhe/bid-2.ct" --wait > "$fhe/task.json"
task=$(grep -o '"id": "[^"]*"' "$fhe/task.json" | head -1 | cut -d'"' -f4)
echo "task $task done: $(grep -E '"(digest|eval_ms)"' "$fhe/task.json" | tr -d ' \n')"
echo "one key holder goes down; the remaining 6 answer, 5 agreeing answers are enough"
kill "${holder_pids[6]}"
result=($("$fornax" fhe decrypt "$task"))
echo "highest bid ${result[0]}, by bidder ${result[1]}"
best=0
for i in 1 2; do [ "${bids[$i]}" -gt "${bids[$best]}" ] && best=$i; done
[ "${result[0]}" = "${bids[$best]}" ] && [ "${result[1]}" = "$best" ] || { echo "wrong result"; exit 1; }
echo "matches the plaintext auction"
