#!/usr/bin/env bash
# docs.sh BINARY - the threat catalog, the code and docs/threats/ agree:
# every id the engine can emit is in the catalog and has a page, and no page
# or catalog entry is left that the engine never emits.
set -u
BIN=$1
cd "$(dirname "$0")/../.."
pass=0
fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

catalog=$("$BIN" threats | awk '{print $1}' | sort -u)
# ids used by the engine outside the catalog file itself
emitted=$(grep -rhoE '"MG-[A-Z]+-[0-9]{3}"' src/lib --include=*.c | grep -v -f <(echo __none__) | tr -d '"' | sort -u)
emitted_code=$(grep -rhoE '"MG-[A-Z]+-[0-9]{3}"' $(ls src/lib/*.c src/lib/*/*.c | grep -v threats.c) | tr -d '"' | sort -u)
pages=$(ls docs/threats/ 2>/dev/null | grep -E '^MG-.*\.md$' | sed 's/\.md$//' | sort -u)

for id in $emitted_code; do
    grep -qx "$id" <<<"$catalog" && ok "$id is in the catalog" || bad "$id is emitted but not in the catalog"
done
for id in $catalog; do
    grep -qx "$id" <<<"$emitted_code" && ok "$id is emitted by the engine" || bad "$id is in the catalog but never emitted"
    grep -qx "$id" <<<"$pages" && ok "$id has docs/threats/$id.md" || bad "$id has no page in docs/threats/"
done
for id in $pages; do
    grep -qx "$id" <<<"$catalog" || bad "docs/threats/$id.md documents an id the catalog does not have"
done
[ -n "$emitted" ] || bad "no ids found in the source"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
