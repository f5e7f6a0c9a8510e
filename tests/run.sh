#!/usr/bin/env bash
# run.sh - runs every test suite against the sanitizer build and the release
# binary, and ends with one line "N passed, N failed" (the sum of all suites).
set -uo pipefail
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
PY=/usr/bin/python3
total_pass=0
total_fail=0
log=build/test/logs
mkdir -p "$log"

suite() { # name command...
    local name=$1
    shift
    printf '== %s\n' "$name"
    "$@" >"$log/$name.log" 2>&1
    local rc=$?
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log/$name.log" | tail -1)
    grep -E '^(FAIL|not ok)' "$log/$name.log" | head -50
    if [ -z "$line" ]; then
        echo "   $name: no result line (exit $rc); log follows"
        tail -40 "$log/$name.log"
        total_fail=$((total_fail + 1))
        return
    fi
    local p f
    p=${line%% passed*}
    f=${line#*, }
    f=${f%% failed*}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "   $name: exit $rc with no failed test; log follows"
        tail -40 "$log/$name.log"
        f=1
    fi
    echo "   $line"
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
}

replay() { # every fuzz corpus and regression file under the sanitizers
    local pass=0 fail=0
    for bin in build/test/replay_*; do
        local t=${bin#build/test/replay_}
        local dirs=()
        for d in fuzz/corpus/$t fuzz/regress/$t; do [ -d "$d" ] && dirs+=("$d"); done
        [ "$t" = pickle ] && dirs+=(tests/corpus/pickle)
        if "$bin" "${dirs[@]}"; then
            echo "ok replay_$t"
            pass=$((pass + 1))
        else
            echo "FAIL replay_$t"
            fail=$((fail + 1))
        fi
    done
    echo "$pass passed, $fail failed"
}

suite unit build/test/unit
suite corpus "$PY" tests/corpus/check.py build/test/modelgate
suite cli tests/e2e/cli.sh build/test/modelgate
suite docs tests/e2e/docs.sh build/test/modelgate
suite policy "$PY" tests/e2e/policy_test.py build/test/modelgate
suite folders "$PY" tests/e2e/folders_test.py build/test/modelgate
suite noise "$PY" tests/e2e/noise_test.py build/test/modelgate
suite service "$PY" tests/e2e/service_test.py build/test/modelgate
suite service_ops "$PY" tests/e2e/service_ops_test.py build/test/modelgate
suite rescan "$PY" tests/e2e/rescan_test.py build/test/modelgate
suite watch "$PY" tests/e2e/watch_test.py build/test/modelgate
suite client "$PY" tests/e2e/client_test.py build/test/modelgate
suite stage "$PY" tests/e2e/stage_test.py build/test/modelgate
suite s3 "$PY" tests/e2e/s3_test.py build/test/modelgate
suite hub "$PY" tests/e2e/hub_test.py build/test/modelgate
suite gateway "$PY" tests/e2e/gateway_test.py build/test/modelgate
suite ui "$PY" tests/e2e/ui_test.py build/test/modelgate
suite session "$PY" tests/e2e/session_test.py build/test/modelgate
suite store_pg "$PY" tests/e2e/store_pg_test.py build/test/modelgate
suite postgres "$PY" tests/e2e/pg_suites.py build/test/modelgate
suite cluster "$PY" tests/e2e/cluster_test.py build/test/modelgate
suite ratelimit "$PY" tests/e2e/ratelimit_test.py build/test/modelgate
suite systemd "$PY" tests/e2e/systemd_test.py build/test/modelgate
suite replay replay

echo
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
