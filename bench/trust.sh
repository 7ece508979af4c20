#!/usr/bin/env bash
# The figures of the "Trust" issue, measured on this machine with a release
# build (run by hand; minutes, not seconds):
#   - peak RSS of reqtest reading a 1 GiB body and an endless stream under
#     the default 64 MiB cap (target: under the cap + 32 MiB);
#   - panics over FUZZ_INPUTS fuzzed inputs (default 1,000,000; target 0);
#   - leaked windows over LEAK_SECRETS generated secrets (target 0);
#   - load (and resolve) time of mappings of 200,000 keys.
# Writes bench/TRUST-RESULTS.md and prints it.
#
#   bench/trust.sh
#   FUZZ_INPUTS=100000 LEAK_SECRETS=16 bench/trust.sh    # quicker
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FUZZ_INPUTS="${FUZZ_INPUTS:-1000000}"
LEAK_SECRETS="${LEAK_SECRETS:-32}"
KEYS="${KEYS:-200000}"
WORK="$(mktemp -d)"
trap 'kill "${SERVER:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install time" >&2; exit 2; }

cargo build --release --quiet
BIN="$ROOT/target/release/reqtest"
OUT="$ROOT/bench/TRUST-RESULTS.md"

# A server of a 1 GiB chunked body and an endless one, on an ephemeral port.
cat > "$WORK/serve.py" <<'PY'
import http.server, socketserver, sys
BLOCK = b"x" * 65536
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        blocks = 16384 if self.path == "/huge" else 10**12
        try:
            for _ in range(blocks):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$WORK/serve.py" > "$WORK/port" &
SERVER=$!
for _ in $(seq 50); do [ -s "$WORK/port" ] && break; sleep 0.1; done
PORT="$(head -1 "$WORK/port")"

peak() { # peak RSS in MiB and wall seconds of reqtest on a collection
    /usr/bin/time -f "%M %e" -o "$WORK/time" "$BIN" run "$1" -q >/dev/null 2>&1 || true
    # GNU time puts "Command exited with non-zero status 1" first.
    tail -1 "$WORK/time" | awk '{printf "%.0f MiB in %.2f s", $1/1024, $2}'

}
for what in huge endless; do
    printf 'requests:\n  - name: r\n    url: http://127.0.0.1:%s/%s\n    timeout: 60s\n' "$PORT" "$what" > "$WORK/$what.yaml"
done
HUGE="$(peak "$WORK/huge.yaml")"
ENDLESS="$(peak "$WORK/endless.yaml")"

# Mappings of $KEYS keys: variables, headers, JSONPath assertions.
python3 - "$WORK" "$KEYS" <<'PY'
import sys
work, n = sys.argv[1], int(sys.argv[2])
req = "requests:\n  - name: r\n    url: http://127.0.0.1:9/\n    ignore: true\n"
open(f"{work}/vars.yaml", "w").write("vars:\n" + "".join(f"  v{i}: {i}\n" for i in range(n)) + req)
open(f"{work}/headers.yaml", "w").write(req + "    headers:\n" + "".join(f"      X-H{i}: v{i}\n" for i in range(n)))
open(f"{work}/json.yaml", "w").write(req + "    expect:\n      json:\n" + "".join(f"        $.k{i}: {i}\n" for i in range(n)))
PY
load() {
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" run "$WORK/$1.yaml" -q >/dev/null 2>&1
    tail -1 "$WORK/time" | awk '{printf "%.2f s, %.0f MiB", $1, $2/1024}'

}
VARS="$(load vars)"; HEADERS="$(load headers)"; JSON="$(load json)"

FUZZ="$(FUZZ_INPUTS="$FUZZ_INPUTS" cargo test --release --quiet --test fuzz 2>&1 | grep '^fuzz ')"
LEAKS="$(LEAK_SECRETS="$LEAK_SECRETS" LEAK_BIN="$BIN" cargo test --release --quiet --test leaks -- --nocapture 2>&1 | grep '^leaks:' || echo 'leaks: FAILED (see cargo test --test leaks)')"

{
    echo "# Trust figures"
    echo
    echo "Measured by \`bench/trust.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, release build at $(git rev-parse --short HEAD)."
    echo
    echo "| what | figure |"
    echo "|---|---|"
    echo "| peak RSS, 1 GiB chunked body, default 64 MiB cap | $HUGE |"
    echo "| peak RSS, endless chunked body, default 64 MiB cap | $ENDLESS |"
    echo "| load + resolve, $KEYS variables | $VARS |"
    echo "| load + resolve, $KEYS headers on one request | $HEADERS |"
    echo "| load + resolve, $KEYS JSONPath assertions on one request | $JSON |"
    echo
    echo '```'
    echo "$FUZZ"
    echo "$LEAKS"
    echo '```'
} | tee "$OUT"
