#!/usr/bin/env bash
# cli.sh BINARY - the real `modelgate` binary end to end: exit codes, output
# formats, --output, --show-globals, folders, names that lie about content.
# Prints ok/FAIL per check and a closing "N passed, N failed" line.
set -u
BIN=$1
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
expect_rc() { # name want cmd...
    local name=$1 want=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then ok "$name"; else bad "$name (exit $rc, want $want: $(head -c 300 "$T/err"))"; fi
}
jq_py() { # file python-expression-on-r
    "$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"
}

# fixtures written here, byte by byte: never by unpickling anything
printf 'cposix\nsystem\n(S'"'"'echo x'"'"'\ntR.' >"$T/evil.pkl"
printf '\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s.' >"$T/clean.pkl"
mkdir -p "$T/repo/sub"
cp "$T/clean.pkl" "$T/repo/weights.bin"
cp "$T/evil.pkl" "$T/repo/sub/extra_data"
echo '{"model_type": "x"}' >"$T/repo/config.json"

expect_rc "version" 0 "$BIN" --version
grep -q '^modelgate [0-9]' "$T/out" && ok "version text" || bad "version text"
expect_rc "help scan" 0 "$BIN" help scan
grep -q -- '--show-globals' "$T/out" && ok "help scan mentions --show-globals" || bad "help scan text"
expect_rc "no args is a usage error" 2 "$BIN"
expect_rc "unknown command" 2 "$BIN" frobnicate
expect_rc "scan without path" 2 "$BIN" scan
expect_rc "bad format" 2 "$BIN" scan --format yaml "$T/clean.pkl"
expect_rc "bad option value" 2 "$BIN" scan --threads zero "$T/clean.pkl"
expect_rc "clean pickle allowed" 0 "$BIN" scan --format json "$T/clean.pkl"
jq_py "$T/out" 'r["eval_outcome"]=="ALLOWED" and r["files"][0]["format"]=="pickle" and r["policy_violations"] is None' \
    && ok "clean report fields" || bad "clean report fields"
expect_rc "malicious pickle blocked" 1 "$BIN" scan --format json "$T/evil.pkl"
jq_py "$T/out" 'r["files"][0]["findings"][0]["threat"]=="MG-PKL-100" and r["files"][0]["findings"][0]["operator"]=="posix.system" and r["files"][0]["findings"][0]["offset"]==0 and len(r["files"][0]["sha256"])==64' \
    && ok "malicious report names posix.system at offset 0" || bad "malicious report content"
expect_rc "missing file is an error" 2 "$BIN" scan --format json "$T/does-not-exist"
jq_py "$T/out" 'r["eval_outcome"]=="ERROR" and r["files"][0]["status"]=="ERROR"' && ok "missing file reported ERROR" \
    || bad "missing file report"

for name in model.bin model.pt model.safetensors notes.txt noext; do
    cp "$T/evil.pkl" "$T/$name"
    expect_rc "pickle named $name still scanned" 1 "$BIN" scan --format json "$T/$name"
done

expect_rc "folder with a hidden payload blocked" 1 "$BIN" scan --format json "$T/repo"
jq_py "$T/out" 'sorted(f["path"] for f in r["files"])==["config.json","sub/extra_data","weights.bin"] and [f for f in r["files"] if f["path"]=="sub/extra_data"][0]["findings"]' \
    && ok "folder report names files relative to the folder" || bad "folder report paths"
rm "$T/repo/sub/extra_data"
expect_rc "folder passes once the payload is removed" 0 "$BIN" scan --format json "$T/repo"

expect_rc "--output writes the report" 1 "$BIN" scan --format json --output "$T/report.json" "$T/evil.pkl"
jq_py "$T/report.json" 'r["eval_outcome"]=="BLOCKED"' && ok "--output content" || bad "--output content"
[ ! -s "$T/out" ] && ok "--output leaves stdout empty" || bad "--output leaves stdout empty"

expect_rc "--show-globals json" 1 "$BIN" scan --format json --show-globals "$T/evil.pkl"
jq_py "$T/out" 'r["files"][0]["globals"][0]["name"]=="posix.system" and r["files"][0]["globals"][0]["verdict"]=="dangerous"' \
    && ok "--show-globals lists the import with its verdict" || bad "--show-globals json"
expect_rc "--show-globals text" 1 "$BIN" scan --format text --show-globals "$T/evil.pkl"
grep -q 'dangerous *posix.system' "$T/out" && ok "--show-globals text" || bad "--show-globals text"

expect_rc "text output" 1 "$BIN" scan --format text "$T/evil.pkl"
head -1 "$T/out" | grep -q '^BLOCKED' && ok "text starts with the outcome" || bad "text outcome first"
grep -q 'MG-PKL-100 at byte 0' "$T/out" && ok "text names threat and offset" || bad "text threat/offset"
expect_rc "quiet output" 1 "$BIN" scan --format text --quiet "$T/evil.pkl"
[ "$(wc -l <"$T/out")" -eq 1 ] && ok "--quiet prints one line" || bad "--quiet"

expect_rc "sarif output" 1 "$BIN" scan --format sarif "$T/evil.pkl"
jq_py "$T/out" 'r["version"]=="2.1.0" and r["runs"][0]["tool"]["driver"]["rules"][0]["id"]=="MG-PKL-100" and r["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["byteOffset"]==0' \
    && ok "sarif has rule, result and byte offset" || bad "sarif structure"

expect_rc "threats" 0 "$BIN" threats
grep -q '^MG-PKL-100 *CRITICAL' "$T/out" && ok "threats lists MG-PKL-100" || bad "threats list"

# a hostile name must not reach the terminal raw
esc=$(printf 'evil\033[2Jname')
cp "$T/evil.pkl" "$T/$esc"
expect_rc "control bytes in a file name" 1 "$BIN" scan --format text "$T/$esc"
if grep -q $'\033' "$T/out"; then bad "text output escapes control bytes"; else ok "text output escapes control bytes"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
