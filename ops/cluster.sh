#!/usr/bin/env bash
# A local cluster on loopback: nats-server (JetStream), one node whose proofs go through
# the queue, and N CPU workers. Runs until Ctrl-C, then stops everything. NATS runs as a
# production one does: a user with a password (made once, kept in the state folder, mode
# 0600, handed to node and workers in the environment) and TLS with a private CA
# (ops/nats-tls.sh); nothing connects without both.
#
#   ops/cluster.sh [WORKERS]        # default 2
#
# Environment: FORNAX_CLUSTER_DIR (state; default .fornax-cache/cluster), NATS_PORT
# (default 4222), FORNAX_LISTEN (default 127.0.0.1:8080), FORNAX_TOKEN (API key alice's
# token; default dev-token). The fornax binary is built (release) if needed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
workers=${1:-2}
dir=${FORNAX_CLUSTER_DIR:-$root/.fornax-cache/cluster}
port=${NATS_PORT:-4222}
listen=${FORNAX_LISTEN:-127.0.0.1:8080}
token=${FORNAX_TOKEN:-dev-token}
mkdir -p "$dir/nats" "$dir/node" "$dir/logs"

nats=$(ops/nats.sh)
cargo build --release --locked -p fornax-scheduler --bin fornax >&2
fornax="$root/target/release/fornax"

worker_pids=()
cleanup() {
  trap - EXIT INT TERM
  # Workers first: SIGTERM drains them (running jobs finish); then the node, then NATS.
  for p in "${worker_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${worker_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for p in "${node_pid:-}" "${nats_pid:-}"; do
    [ -n "$p" ] || continue
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM

# The queue's credentials and certificates, made on the first run.
umask 077
[ -s "$dir/nats.password" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/nats.password"
[ -s "$dir/tls/ca.pem" ] || ops/nats-tls.sh "$dir/tls" >/dev/null
cat >"$dir/nats.conf" <<CONF
authorization { user: fornax, password: "$(cat "$dir/nats.password")" }
tls { cert_file: "$dir/tls/server.pem", key_file: "$dir/tls/server.key" }
CONF
umask 022
export FORNAX_NATS_USER=fornax FORNAX_NATS_PASSWORD
FORNAX_NATS_PASSWORD=$(cat "$dir/nats.password")

"$nats" -c "$dir/nats.conf" -js -a 127.0.0.1 -p "$port" -sd "$dir/nats" -m $((port + 4000)) >"$dir/logs/nats.log" 2>&1 &
nats_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

FORNAX_API_KEYS="alice=$token" "$fornax" node --data-dir "$dir/node" --listen "$listen" \
  --queue "nats://127.0.0.1:$port" --nats-ca "$dir/tls/ca.pem" >"$dir/logs/node.log" 2>&1 &
node_pid=$!
for i in $(seq "$workers"); do
  "$fornax" worker --join "nats://127.0.0.1:$port" --nats-ca "$dir/tls/ca.pem" --devices cpu \
    --id "local-$i" --cache-dir "$dir/cache-$i" >"$dir/logs/worker-$i.log" 2>&1 &
  worker_pids+=($!)
done
for _ in $(seq 100); do grep -q "listening on" "$dir/logs/node.log" 2>/dev/null && break; sleep 0.1; done
echo "cluster up: node http://$listen (FORNAX_TOKEN=$token), nats://127.0.0.1:$port (user fornax, TLS; password in $dir/nats.password), $workers worker(s)"
echo "logs in $dir/logs; metrics at http://$listen/metrics; Ctrl-C stops it"
wait -n "$nats_pid" "$node_pid" "${worker_pids[@]}" || true
echo "a process of the cluster exited; stopping" >&2
