#!/usr/bin/env bash
# Renders a report page (default: bench/results/report/index.html, made by
# `fornax bench report bench/results --out bench/results/report`) in headless Chromium and
# writes a screenshot of its first screen (1280×900). Chromium comes from Debian and is
# installed here if missing (apt, idempotent). Fails when the page does not render: no
# screenshot, a console error, or a figure that does not load.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
page=$(realpath "${1:-$root/bench/results/report/index.html}")
out=$(realpath -m "${2:-$root/bench/results/report/first-screen.png}")

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v chromium >/dev/null 2>&1; then
  echo "screenshot: installing chromium (apt)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
flags=(--headless=new --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0)
rm -f "$out"
chromium "${flags[@]}" --window-size=1280,900 --screenshot="$out" "file://$page" 2>"$log" || true
if [ ! -s "$out" ]; then
  cat "$log" >&2
  echo "screenshot: chromium wrote no screenshot of $page" >&2
  exit 1
fi
if grep -E "CONSOLE|Uncaught|Failed to load|ERR_FILE_NOT_FOUND" "$log" >&2; then
  echo "screenshot: the page has errors (above)" >&2
  exit 1
fi
# Every figure the page names is there to load.
dir=$(dirname "$page")
for img in $(grep -o 'src="[^"]*"' "$page" | cut -d'"' -f2); do
  [ -s "$dir/$img" ] || { echo "screenshot: $img is missing" >&2; exit 1; }
done
echo "$out"
