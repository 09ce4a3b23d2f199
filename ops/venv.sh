#!/usr/bin/env bash
# Makes a Python virtual environment at DIR unless there is one (installing Debian's
# python3-venv first if Python lacks it). Used by ops/cuda-tools.sh and ops/nats.sh.
#   ops/venv.sh DIR
set -euo pipefail
venv=$1
[ -x "$venv/bin/pip" ] && exit 0
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
  python3 -m venv "$venv"
fi
