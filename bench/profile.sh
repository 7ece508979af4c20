#!/usr/bin/env bash
# The figures of issue 12, reqtest beside Hurl in one run, on the shared
# workload (../shared/bench: one token request, then N GET /json with the
# captured Bearer token and a JSONPath assertion, Debian's nginx on loopback):
#
#   - instructions per request, whole process, counted by valgrind's callgrind:
#     total at N=1000 divided by 1000, and the slope from N=100 to N=1000;
#   - instructions at N=1 (start-up);
#   - the same for reqtest on its templated variant (gen.py --templated: a
#     distinct templated URL and header per request, the token a secret);
#   - peak RSS (median of RUNS) at N = 1,000, 10,000, 50,000 and 100,000;
#   - `reqtest demo` wall time (median of RUNS);
#   - eight collections of 1,000 requests side by side against one after
#     another (--test-threads 1), wall time medians.
#
# Run by hand (bench/README.md); wall times at N=1000 under each PIN come from
# bench/run.sh. Needs nginx and valgrind (apt-get install nginx valgrind) and
# Hurl 8.0.1 in $PEERS/hurl (cargo install hurl --version 8.0.1 --locked
# --root ~/peers/hurl).
#
#   bench/profile.sh                      # everything
#   NS_RSS="1000 10000" bench/profile.sh  # fewer sizes
#   HURL= bench/profile.sh                # reqtest alone
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared/bench}"
PEERS="${PEERS:-$HOME/peers}"
HURL="${HURL-$PEERS/hurl/bin/hurl}"
NS_RSS="${NS_RSS:-1000 10000 50000 100000}"
RUNS="${RUNS:-3}"
OUT="${OUT:-$(mktemp -d /tmp/reqtest-profile.XXXXXX)}"
REQTEST="$ROOT/target/release/reqtest"

need() { command -v "$1" >/dev/null || { echo "needs $1: apt-get install $2" >&2; exit 2; }; }
need valgrind valgrind
need nginx nginx
if [ -n "$HURL" ] && [ ! -x "$HURL" ]; then
  echo "no Hurl at $HURL: cargo install hurl --version 8.0.1 --locked --root $PEERS/hurl (or HURL= for reqtest alone)" >&2
  exit 2
fi
(cd "$ROOT" && cargo build --release --quiet)
bash "$SHARED/start-nginx.sh" >/dev/null
trap 'bash "$SHARED/stop-nginx.sh" >/dev/null 2>&1 || true' EXIT

sizes=$(echo 1 100 1000 $NS_RSS | tr ' ' '\n' | sort -nu | tr '\n' ' ')
python3 "$ROOT/bench/gen.py" --out "$OUT" $sizes >/dev/null
python3 "$ROOT/bench/gen.py" --templated --out "$OUT/templated" $sizes >/dev/null
[ -z "$HURL" ] || python3 "$SHARED/gen.py" --out "$OUT" $sizes >/dev/null

# run TOOL N: the command line for the workload of size N.
run() {
  case $1 in
    reqtest) echo "$REQTEST run $OUT/n$2/bench.reqtest.yaml";;
    templated) echo "$REQTEST run $OUT/templated/n$2/bench.reqtest.yaml";;
    hurl) echo "$HURL --test $OUT/n$2/bench.hurl";;
  esac
}

# instructions TOOL N: callgrind's count for the whole process (every thread).
instructions() {
  # shellcheck disable=SC2046
  valgrind --tool=callgrind --callgrind-out-file=/dev/null $(run "$1" "$2") 2>&1 >/dev/null \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

# median CMD...: the median of RUNS values printed by CMD.
median() {
  for _ in $(seq "$RUNS"); do "$@"; done | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}

peak_kib() { /usr/bin/time -f %M $(run "$1" "$2") 2>&1 >/dev/null | tail -1; }
wall() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(((e - s) / 1000)); }

tools="reqtest templated"
[ -z "$HURL" ] || tools="reqtest templated hurl"
{
  echo "| tool | instructions N=1 | instructions N=1000 / 1000 | per request, N=100→1000 | $(for n in $NS_RSS; do printf 'peak MiB N=%s | ' "$n"; done)"
  echo "|---|---|---|---|$(for _ in $NS_RSS; do printf -- '---|'; done)"
  for t in $tools; do
    i1=$(instructions "$t" 1)
    i100=$(instructions "$t" 100)
    i1000=$(instructions "$t" 1000)
    row="| $t | $i1 | $((i1000 / 1000)) | $(((i1000 - i100) / 900)) |"
    for n in $NS_RSS; do
      kib=$(median peak_kib "$t" "$n")
      row="$row $((kib / 1024)) |"
    done
    echo "$row"
  done
} | tee "$OUT/instructions.md"

# Eight collections of 1,000 requests, side by side and one after another.
mkdir -p "$OUT/eight"
for i in 1 2 3 4 5 6 7 8; do
  sed "s/^name: .*/name: c$i/" "$OUT/n1000/bench.reqtest.yaml" >"$OUT/eight/c$i.yaml"
done
side=$(median wall "$REQTEST" run "$OUT/eight")
serial=$(median wall "$REQTEST" run "$OUT/eight" --test-threads 1)
demo=$(median wall "$REQTEST" demo)
{
  echo
  echo "| figure | median |"
  echo "|---|---|"
  echo "| reqtest demo, wall | $((demo / 1000)) ms |"
  echo "| 8 × 1,000 requests side by side, wall | $((side / 1000)) ms |"
  echo "| the same one after another (--test-threads 1), wall | $((serial / 1000)) ms |"
  echo "| speed-up | $(python3 -c "print(f'{$serial / $side:.2f}')") × |"
} | tee -a "$OUT/instructions.md"
echo "results in $OUT/instructions.md" >&2
