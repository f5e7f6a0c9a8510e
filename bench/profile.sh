#!/usr/bin/env bash
# bench/profile.sh - where the pickle engine spends its time, per benchmark
# shape, on inputs ~10x smaller than bench/run.sh's (gen_pickles.py --profile).
#
#   bench/profile.sh [CASE...]   CASE: dicts dicts-hash rf blob-hash small (default: all)
#
# The profiled binary is built here from a snapshot of the sources, with the
# Makefile's own release flags (read from the Makefile, not copied), so the
# line numbers in the profile match the code even while others edit src/.
# Tool: valgrind callgrind (instruction counts; this machine's perf has no
# hardware counters). The function list is mostly mg_pickle_stream because
# lex/step/memo code is inlined into it, so the costliest source lines are
# listed too, each with the function it is written in. When
# `perf record -e cpu-clock` works, a sampled profile of the full-size input
# is added (shows kernel time: page faults, madvise, which callgrind cannot).
# Output: build/bench/profile/<case>.* and a summary on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_DIR=${BENCH_DIR:-build/bench}
PROF=$BENCH_DIR/profile
TOP=${TOP:-15}

log() { printf 'profile: %s\n' "$*" >&2; }

for p in valgrind python3-numpy python3-sklearn; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p"
    }
done
/usr/bin/python3 bench/gen_pickles.py --profile "$PROF"
/usr/bin/python3 bench/gen_pickles.py "$BENCH_DIR"

# ---- a snapshot build with the release flags ----
mkvar() { make -s --no-print-directory -f Makefile -f <(printf 'print-%%:\n\t@echo $($*)\n') "print-$1"; }
SNAP=$ROOT/$PROF/snap
build_snapshot() {
    make -s all >/dev/null || return 1
    local cflags ldflags libs srcs cc
    cflags=$(mkvar RELEASE_CFLAGS) ldflags=$(mkvar RELEASE_LDFLAGS) libs=$(mkvar LIBS)
    srcs="$(mkvar LIB_SRC) $(mkvar CLI_SRC) $(mkvar GEN_SRC)" cc=$(mkvar CC)
    rm -rf "$SNAP" && mkdir -p "$SNAP/build/gen"
    cp -r src include "$SNAP/"
    cp build/gen/*.c "$SNAP/build/gen/"
    (
        cd "$SNAP"
        for f in $srcs; do
            mkdir -p "obj/$(dirname "$f")"
            echo "$cc $cflags -c $f -o obj/${f%.c}.o"
        done | xargs -P "$(nproc)" -I{} sh -c '{}' &&
            $cc $ldflags -o modelgate $(for f in $srcs; do echo "obj/${f%.c}.o"; done) $libs
    )
}
for try in 1 2 3; do
    build_snapshot && break
    [ "$try" = 3 ] && { log "the snapshot does not build"; exit 2; }
    log "build failed (sources mid-edit?); retrying in 30 s"
    sleep 30
done
BIN=$SNAP/modelgate
log "profiling $BIN (sources: $SNAP, from $(git rev-parse --short HEAD) + work tree)"

declare -A INPUT=([dicts]=many_dicts.pkl [dicts-hash]=many_dicts.pkl [rf]=sklearn_rf.pkl
    [blob-hash]=large_blob.pkl [small]=small)
declare -A OPTS=([dicts]="--no-hash -j 1" [dicts-hash]="-j 1" [rf]="--no-hash -j 1"
    [blob-hash]="-j 1" [small]="-j 2")
cases=("$@")
((${#cases[@]})) || cases=(dicts dicts-hash rf blob-hash small)

perf_ok=0
perf record -q -e cpu-clock -o /dev/null true >/dev/null 2>&1 && perf_ok=1

for c in "${cases[@]}"; do
    in=${INPUT[$c]:?unknown case $c}
    out=$PROF/$c
    echo "=== $c: callgrind: modelgate scan --format json ${OPTS[$c]} $PROF/$in"
    valgrind --tool=callgrind --callgrind-out-file="$out.callgrind" \
        "$BIN" scan --format json ${OPTS[$c]} "$PROF/$in" >/dev/null 2>"$out.vg.err" || true
    callgrind_annotate "$out.callgrind" >"$out.functions.txt" 2>/dev/null || true
    callgrind_annotate --inclusive=yes "$out.callgrind" >"$out.inclusive.txt" 2>/dev/null || true
    callgrind_annotate --auto=yes --show-percs=yes "$out.callgrind" >"$out.annotated.txt" 2>/dev/null || true
    grep -m1 'PROGRAM TOTALS' "$out.functions.txt" || true
    echo "--- functions (self cost)"
    awk '/file:function/ {on=1; next} on && /^-+$/ {if (seen) exit; next} on && NF {seen=1; print}' \
        "$out.functions.txt" | head -"$TOP" | sed "s#$SNAP/##g" || true
    echo "--- costliest source lines (function they are written in)"
    python3 bench/results.py hotlines "$out.annotated.txt" "$TOP" | sed "s#$SNAP/##g" || true
    if ((perf_ok)); then
        echo "--- perf cpu-clock, full-size input $BENCH_DIR/$in: by object, then by symbol"
        perf record -q -e cpu-clock -F 4000 -o "$out.perf.data" -- \
            "$BIN" scan --format json ${OPTS[$c]} "$BENCH_DIR/$in" >/dev/null 2>&1 || true
        perf report -i "$out.perf.data" --sort dso --stdio 2>/dev/null | grep '%' | grep -v '^#' |
            head -6 >"$out.perf.txt" || true
        perf report -i "$out.perf.data" --sort dso,sym --stdio 2>/dev/null | grep '%' | grep -v '^#' |
            head -"$TOP" >>"$out.perf.txt" || true
        cat "$out.perf.txt"
    fi
    echo
done
