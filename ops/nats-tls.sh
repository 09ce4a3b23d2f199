#!/usr/bin/env bash
# Makes a private CA and a TLS certificate for a NATS server on this machine (openssl), for
# local clusters and tests: DIR/ca.pem (give it to nodes and workers: --nats-ca), and
# DIR/server.pem, DIR/server.key (nats-server --tls --tlscert … --tlskey …), valid for
# 127.0.0.1, ::1, localhost and the names given after DIR, for 30 days. In production use
# your own CA; the node and workers need only its root certificate.
#
#   ops/nats-tls.sh DIR [NAME ...]
set -euo pipefail
dir=${1:?usage: ops/nats-tls.sh DIR [NAME ...]}
shift
command -v openssl >/dev/null || { echo "nats-tls: openssl missing (apt install openssl)" >&2; exit 1; }
mkdir -p "$dir"
umask 077
san="IP:127.0.0.1,IP:::1,DNS:localhost"
for name in "$@"; do san="$san,DNS:$name"; done
curve=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${curve[@]}" -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 30 \
  -subj "/CN=fornax NATS CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign" 2>/dev/null
openssl req "${curve[@]}" -keyout "$dir/server.key" -out "$dir/server.csr" \
  -subj "/CN=fornax NATS" 2>/dev/null
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" >"$dir/server.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
  -CAcreateserial -out "$dir/server.pem" -days 30 -extfile "$dir/server.ext" 2>/dev/null
rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
chmod 644 "$dir/ca.pem" "$dir/server.pem"
echo "$dir"
