#!/usr/bin/env bash
# bench/run.sh - the pickle engine benchmark (`make bench` runs it).
#
# Installs what it needs (idempotently), generates the inputs under
# build/bench (once; bench/gen_pickles.py), warms the page cache, times each
# case with hyperfine, measures peak RSS with GNU time (and the heap peak with
# valgrind massif), then prints a table and writes it into bench/RESULTS.md
# (only the "## Pickle engine" section; other sections are kept).
#
# Environment: BENCH_DIR (default build/bench), MODELGATE (default
# build/release/modelgate, built with `make all` when not given),
# RUNS (hyperfine --min-runs, default 10), WARMUP (default 2),
# NO_MASSIF=1 to skip the heap-peak column, QUIET_WAIT (default 60 s) and
# QUIET_PCT (default 10): before each case, wait up to QUIET_WAIT seconds for
# its core(s) to be at most QUIET_PCT% busy with other work (the load seen is
# written next to the result either way).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_DIR=${BENCH_DIR:-build/bench}
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-2}
RESULTS=bench/RESULTS.md

log() { printf 'bench: %s\n' "$*" >&2; }

# ---- dependencies (Debian packages), installed only when missing ----
need_pkgs=(time hyperfine valgrind util-linux openssl python3 python3-numpy python3-sklearn)
missing=()
for p in "${need_pkgs[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ---- the binary ----
# Others may rebuild build/release/modelgate while this runs, so every case
# runs one snapshot of it, copied to $BENCH_DIR/bin/ (its sha256 is recorded).
if [ -z "${MODELGATE:-}" ]; then
    for try in 1 2 3; do
        make -s all && break
        [ "$try" = 3 ] && { log "make all failed 3 times"; exit 2; }
        log "make all failed; retrying in 30 s"
        sleep 30
    done
    MODELGATE=build/release/modelgate
fi
[ -x "$MODELGATE" ] || { log "no binary at $MODELGATE"; exit 2; }
mkdir -p "$BENCH_DIR/bin"
# a sanity scan of one small pickle must produce a report (exit 0 or 1)
printf '\x80\x04K\x01.' >"$BENCH_DIR/bin/sanity.pkl"
for try in 1 2 3; do
    cp "$MODELGATE" "$BENCH_DIR/bin/modelgate.tmp"
    chmod +x "$BENCH_DIR/bin/modelgate.tmp"
    set +e
    "$BENCH_DIR/bin/modelgate.tmp" scan --format json "$BENCH_DIR/bin/sanity.pkl" >"$BENCH_DIR/bin/sanity.json" 2>&1
    rc=$?
    set -e
    [ "$rc" -le 1 ] && break
    if [ "$try" = 3 ]; then
        log "$MODELGATE cannot scan (exit $rc): $(head -c 300 "$BENCH_DIR/bin/sanity.json")"
        log "RESULTS.md left unchanged"
        exit 2
    fi
    sleep 10 # caught mid-link: try again
done
mv "$BENCH_DIR/bin/modelgate.tmp" "$BENCH_DIR/bin/modelgate"
SRC_BIN=$MODELGATE
MODELGATE=$BENCH_DIR/bin/modelgate

# ---- inputs ----
mkdir -p "$BENCH_DIR"
/usr/bin/python3 bench/gen_pickles.py "$BENCH_DIR"

# CPU use over one second, in percent, of each core: "cpu0 N cpu1 M ..."
# (other sessions may be building or fuzzing on the same cores)
core_busy() {
    local a b
    a=$(grep '^cpu[0-9]' /proc/stat)
    sleep 1
    b=$(grep '^cpu[0-9]' /proc/stat)
    paste <(echo "$a") <(echo "$b") | awk '{
        n = (NF - 2) / 2; ta = 0; tb = 0
        for (i = 2; i <= 1 + n && i <= 9; i++) ta += $i
        for (i = 3 + n; i <= 2 + 2 * n && i <= 10 + n; i++) tb += $i
        ia = $5 + $6; ib = $(5 + n + 1) + $(6 + n + 1)
        t = tb - ta; pct = 0; if (t > 0) pct = 100 * (t - (ib - ia)) / t
        printf "%s %d ", $1, pct
    }'
}
# waits (up to QUIET_WAIT s) until the cores a case uses are idle enough;
# prints "CORE BUSY-OF-THAT-CORE ALL-CORES-LINE": for a pinned case the
# idlest core, for the others the busiest
wait_quiet() {
    local pinned=$1 waited=0 line core pct
    while :; do
        line=$(core_busy)
        if [ "$pinned" = 1 ]; then
            read -r core pct < <(echo "$line" | xargs -n2 | sort -k2 -n | head -1)
        else
            read -r core pct < <(echo "$line" | xargs -n2 | sort -k2 -n | tail -1)
        fi
        [ "$pct" -le "${QUIET_PCT:-10}" ] || [ "$waited" -ge "${QUIET_WAIT:-60}" ] && break
        sleep 4
        waited=$((waited + 5))
    done
    echo "${core#cpu} $pct $line"
}

warm() {
    local p=$1
    if [ -d "$p" ]; then
        find "$p" -type f -print0 | xargs -0 cat >/dev/null
    else
        cat "$p" >/dev/null
    fi
}

# ---- cases: name | input | scan options | unit | target | pin to one core | when ----
# when "prev-incomplete": run only when the case before it stopped early (a
# limit was hit), to show what the whole scan would cost
CASES=(
    "large blob, sha256|large_blob.pkl|-j 1|bytes|gbps2|1"
    "large blob, --no-hash|large_blob.pkl|--no-hash -j 1|bytes|gbps2|1"
    "many dicts, sha256|many_dicts.pkl|-j 1|bytes|mbps200|1"
    "many dicts, --no-hash|many_dicts.pkl|--no-hash -j 1|bytes|mbps200|1"
    "many dicts, --no-hash --max-memory 4096 (not default: lets the scan finish)|many_dicts.pkl|--no-hash -j 1 --max-memory 4096|bytes|mbps200|1|prev-incomplete"
    "sklearn RandomForest, sha256|sklearn_rf.pkl|-j 1|bytes|mbps200|1"
    "sklearn RandomForest, --no-hash|sklearn_rf.pkl|--no-hash -j 1|bytes|mbps200|1"
    "10,000 small pickles, -j 2, sha256|small|-j 2|files|fps20k|0"
    "10,000 small pickles, -j 2, --no-hash|small|--no-hash -j 2|files|fps20k|0"
)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ROWS=$WORK/rows.tsv
printf 'case\tcmd\tsize\tunit\ttarget\tmean\tstddev\tmin\truns\tcpu\trss_kib\theap\texit\toutcome\tcomplete\tnote\n' >"$ROWS"

i=0
complete=yes
for c in "${CASES[@]}"; do
    IFS='|' read -r name input opts unit target pin when <<<"$c"
    i=$((i + 1))
    if [ "${when:-}" = prev-incomplete ] && [ "$complete" = yes ]; then
        log "[$i/${#CASES[@]}] $name: skipped (the default scan finished)"
        continue
    fi
    path=$BENCH_DIR/$input
    if [ "$unit" = files ]; then
        size=$(find "$path" -type f | wc -l)
    else
        size=$(stat -c %s "$path")
    fi
    warm "$path"
    read -r core _ load < <(wait_quiet "$pin")
    cmd="$MODELGATE scan --format json $opts $path"
    [ "$pin" = 1 ] && command -v taskset >/dev/null && cmd="taskset -c $core $cmd"
    log "[$i/${#CASES[@]}] $name: $cmd (busy before: $load)"

    # one checked run: exit code, outcome, and whether the scan covered everything
    set +e
    $cmd >"$WORK/report.json" 2>"$WORK/stderr"
    rc=$?
    set -e
    IFS=$'\t' read -r outcome complete note < <(python3 bench/results.py check "$WORK/report.json")

    # timing (exit 1 = BLOCKED is a normal outcome, hence -i)
    hyperfine -N -i --warmup "$WARMUP" --min-runs "$RUNS" --style basic \
        --export-json "$WORK/hf.json" "$cmd" >&2
    load_after=$(core_busy)
    read -r mean sd min runs cpu < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(r["mean"], r["stddev"] or 0, r["min"], len(r["times"]), r["user"] + r["system"])' "$WORK/hf.json")
    note="$note; CPU busy per core (%) in the second before timing: ${load% }, in the second after: ${load_after% }"

    # peak RSS: the largest of 3 runs
    rss=0
    for _ in 1 2 3; do
        /usr/bin/time -f %M -o "$WORK/rss" $cmd >/dev/null 2>&1 || true
        r=$(tail -1 "$WORK/rss")
        [ "$r" -gt "$rss" ] && rss=$r
    done

    # heap peak (private memory the scanner allocates), on the --no-hash runs
    heap=""
    if [ -z "${NO_MASSIF:-}" ] && [[ "$opts" == *--no-hash* ]] && [[ "$opts" != *--max-memory* ]]; then
        valgrind --tool=massif --massif-out-file="$WORK/massif.out" \
            $MODELGATE scan --format json $opts "$path" >/dev/null 2>"$WORK/vg.err" || true
        heap=$(python3 bench/results.py massif "$WORK/massif.out")
    fi

    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$name" "$cmd" "$size" "$unit" "$target" "$mean" "$sd" "$min" "$runs" "$cpu" "$rss" "$heap" \
        "$rc" "$outcome" "$complete" "$note" >>"$ROWS"
done

# ---- machine info and the table ----
# the ceiling for any hashing case: OpenSSL's own SHA-256 speed on one core
read -r core _ < <(wait_quiet 1)
sha_ceiling=$(taskset -c "$core" openssl speed -bytes 8388608 -seconds 3 -evp sha256 2>/dev/null |
    awk '/^sha256/ {sub(/k$/, "", $2); printf "%.2f GB/s", $2 * 1000 / 1e9}')

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- src include Makefile mk 2>/dev/null)" ]; then
    commit="$commit (plus uncommitted changes in the work tree)"
fi
python3 - "$WORK/meta.json" "$BENCH_DIR" "$MODELGATE" "$commit" "$WARMUP" "$SRC_BIN" "$sha_ceiling" <<'EOF'
import hashlib, json, os, platform, subprocess, sys, time
out, bench_dir, binary, commit, warmup, src_bin, sha_ceiling = sys.argv[1:8]
def sh(c):
    return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
cpu = sh("lscpu | sed -n 's/^Model name: *//p' | head -1") or sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
flags = open("/proc/cpuinfo").read()
ext = [f for f in ("sha_ni", "avx2", "avx512f") if f" {f}" in flags]
meta = {
    "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    "cpu": f"{cpu.strip()} ({', '.join(ext)})" if ext else cpu.strip(),
    "nproc": sh("nproc"),
    "memory": sh("free -h | awk '/^Mem:/ {print $2}'"),
    "kernel": platform.release(),
    "cc": sh("cc --version | head -1"),
    "hyperfine": sh("hyperfine --version").split()[-1],
    "warmup": warmup,
    "sha_ceiling": sha_ceiling or "?",
    "binary": binary,
    "src_binary": src_bin,
    "binary_sha256": hashlib.sha256(open(binary, "rb").read()).hexdigest()[:16],
    "commit": commit,
    "bench_dir": bench_dir,
}
try:
    meta["inputs"] = json.load(open(os.path.join(bench_dir, "inputs.json")))
except OSError:
    meta["inputs"] = {}
json.dump(meta, open(out, "w"), indent=1)
EOF
python3 bench/results.py render "$ROWS" "$WORK/meta.json" "$RESULTS"
log "results written to $RESULTS"
