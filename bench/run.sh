#!/usr/bin/env bash
# Measures reqtest on the shared benchmark workload, beside the peers that are
# installed (Hurl by default), with ../shared/bench/run-peers.sh: the same
# nginx, the same checks (passes at 42, fails at 43, one connection), the same
# timing script. Run by hand; see bench/README.md.
#
#   bench/run.sh                       # reqtest and Hurl, N = 1 100 1000, unpinned
#   PIN=same bench/run.sh              # both on the CPU of nginx's worker
#   TOOLS= RUNS=3 bench/run.sh         # reqtest alone
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared/bench}"
export PEERS="${PEERS:-$HOME/peers}"
export TOOLS="${TOOLS-hurl}"
# run-peers.sh reads an empty TOOLS as "every peer"; a blank runs reqtest alone.
[ -n "$TOOLS" ] || TOOLS=" "
export NS="${NS:-1 100 1000}"
export OUT="${OUT:-$PEERS/results/reqtest-$(date -u +%Y%m%dT%H%M%SZ)}"
export WRK_SECONDS="${WRK_SECONDS:-0}"

command -v nginx >/dev/null || { echo "needs nginx: apt-get install nginx (and wrk for the ceiling)" >&2; exit 2; }
(cd "$ROOT" && cargo build --release --quiet)

# run-peers.sh generates the peers' files into these folders; ours go beside them.
python3 "$ROOT/bench/gen.py" --out "$OUT/workload" $(echo 1 $NS | tr ' ' '\n' | sort -nu) >/dev/null
python3 "$ROOT/bench/gen.py" --out "$OUT/workload-expect43" --expect 43 1 >/dev/null

export EXTRA_NAME=reqtest
export EXTRA_CMD="$ROOT/target/release/reqtest run {dir}/bench.reqtest.yaml"
exec "$SHARED/run-peers.sh"
