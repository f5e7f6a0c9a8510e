#!/usr/bin/env bash
# bench/service.sh - load test of the scanner service (`make bench` runs it).
#
# Starts `modelgate serve` on a free loopback port with a fresh store, makes
# one scan of examples/clean-model, then drives the API with wrk (Debian's
# package, installed when missing) from this machine:
#   1. GET /api/v1/scans/{uuid}  (a stored report: the cached-read path)
#   2. POST /api/v1/scans?wait=true of the same small model (a full scan each)
# and writes throughput, latency percentiles and error counts into the
# "## Service" section of bench/RESULTS.md. Any non-2xx answer or socket
# error is reported as a failure of the run (exit 1).
#
# Environment: MODELGATE (default build/release/modelgate), DURATION (wrk
# seconds, default 10), CONNS (default 32), WRK_THREADS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
WRK_THREADS=${WRK_THREADS:-2}
RESULTS=bench/RESULTS.md
log() { printf 'bench: %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk
fi
if [ -z "${MODELGATE:-}" ]; then
    make -s all
    MODELGATE=build/release/modelgate
fi
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$MODELGATE" serve --listen "127.0.0.1:$port" --data "$work/var" --root "$PWD" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
done
token=$(grep -o 'mg_[0-9a-f]\{64\}' "$work/serve.log" | head -1)
[ -n "$token" ] || { log "no admin token in the service log"; cat "$work/serve.log"; exit 2; }
auth="Authorization: Bearer $token"
uuid=$(curl -sf -H "$auth" -d '{"model_uri": "examples/clean-model"}' \
    "http://127.0.0.1:$port/api/v1/scans?wait=true" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')

# wrk prints non-2xx and socket errors; the latency distribution with --latency
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model_uri": "examples/clean-model"}'
wrk.headers["Content-Type"] = "application/json"
LUA
run_wrk() { # name args...
    local name=$1
    shift
    log "$name"
    wrk --latency -t "$WRK_THREADS" -c "$CONNS" -d "${DURATION}s" -H "$auth" "$@" >"$work/$name.txt"
    cat "$work/$name.txt" >&2
}
run_wrk get "http://127.0.0.1:$port/api/v1/scans/$uuid"
run_wrk post -s "$work/post.lua" "http://127.0.0.1:$port/api/v1/scans?wait=true"

row() { # name label
    local f=$work/$1.txt
    local rps p50 p99 errors
    rps=$(awk '/^Requests\/sec/ {print $2}' "$f")
    p50=$(awk '$1 == "50%" {print $2}' "$f")
    p99=$(awk '$1 == "99%" {print $2}' "$f")
    errors=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$f")
    printf '| %s | %s | %s | %s | %s |\n' "$2" "$rps" "$p50" "$p99" "$errors"
    [ "$errors" = 0 ]
}
ok=0
table=$(
    echo "| case | requests/s | p50 | p99 | errors |"
    echo "|---|---|---|---|---|"
    row get "GET /api/v1/scans/{uuid} (stored report)" || ok=1
    row post "POST /api/v1/scans?wait=true (examples/clean-model, a full scan each)" || ok=1
    exit $ok
) || ok=1
echo "$table"
section=$(
    echo "## Service"
    echo
    echo "wrk ${WRK_THREADS} threads, ${CONNS} connections, ${DURATION} s per case, on this $(nproc)-core machine, service and"
    echo "load generator sharing it; $(date -u +%Y-%m-%d); \`bench/service.sh\`. Target: >= 20,000 stored-report reads/s, p99 < 5 ms."
    echo
    echo "$table"
)
/usr/bin/python3 - "$RESULTS" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read()
pat = re.compile(r"^## Service\n.*?(?=^## |\Z)", re.S | re.M)
text = pat.sub(section + "\n\n", text) if pat.search(text) else text.rstrip() + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
exit $ok
