#!/usr/bin/env bash
# Fleet mode measured with real processes on loopback (README "Fleets"): one fake control
# plane, two relay runtimesds, SIDECARS sidecar runtimesds. Every process it starts is killed
# by its PID when it ends, on failure too.
#
#   bash bench/fleet.sh                                   # the full run: 100 sidecars, 1,000 parked followers
#   SIDECARS=8 FOLLOWERS=200 WINDOW=10s CHANGES=3 bash bench/fleet.sh   # CI's brief run
set -euo pipefail
cd "$(dirname "$0")/.."
SIDECARS=${SIDECARS:-100} FOLLOWERS=${FOLLOWERS:-1000} WINDOW=${WINDOW:-60s} CHANGES=${CHANGES:-5}
SCHEDULE=${SCHEDULE:-@every 30s}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/runtimesd" ./cmd/runtimesd
go build -o "$dir/fleet" ./bench/fleet
"$dir/fleet" -bin "$dir/runtimesd" -sidecars "$SIDECARS" -followers "$FOLLOWERS" -window "$WINDOW" \
  -changes "$CHANGES" -schedule "$SCHEDULE"
