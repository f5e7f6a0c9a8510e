#!/bin/sh
# embed_dir.sh DIR - prints a C file holding every file under DIR (the
# dashboard, web/) byte for byte, and the table the service serves them from:
#
#   const struct mg_web_file {const char *path; const unsigned char *bytes;
#                             size_t len; const char *type;} mg_web_files[];
#   const size_t mg_web_nfiles;
#
# `path` is relative to DIR ("index.html", "js/scans.js"), `type` the
# Content-Type by extension. Bytes are written as hex numbers, so any file
# (binary or text, NUL bytes included) comes out exactly; each array ends
# with one extra 0 byte that `len` does not count (an empty file is still a
# valid array). Hidden files (editor swap files) and names with characters
# other than [A-Za-z0-9._/-] are skipped: they cannot be asked for by URL
# without escaping, and the dashboard's names never need it. DIR missing or
# empty: an empty table.
set -eu
dir=${1%/}
tab=$(printf '\t')
list=$(cd "$dir" 2>/dev/null && find . -name '.?*' -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort) || list=

type_of() {
    case $1 in
    *.html) echo 'text/html; charset=utf-8' ;;
    *.js | *.mjs) echo 'text/javascript; charset=utf-8' ;;
    *.css) echo 'text/css; charset=utf-8' ;;
    *.svg) echo 'image/svg+xml' ;;
    *.json) echo 'application/json' ;;
    *.txt) echo 'text/plain; charset=utf-8' ;;
    *.png) echo 'image/png' ;;
    *.ico) echo 'image/x-icon' ;;
    *.woff2) echo 'font/woff2' ;;
    *) echo 'application/octet-stream' ;;
    esac
}

printf '/* generated from %s/ by mk/embed_dir.sh: do not edit */\n#include <stddef.h>\n\n' "$dir"
n=0
names=
while IFS= read -r f; do
    [ -n "$f" ] || continue
    case $f in
    *[!A-Za-z0-9._/-]*)
        echo "embed_dir.sh: skipping $dir/$f (characters outside [A-Za-z0-9._/-])" >&2
        continue
        ;;
    esac
    printf 'static const unsigned char web_%d[] = {\n' "$n"
    od -An -v -tx1 "$dir/$f" | sed -e 's/^ *//' -e 's/ *$//' -e '/^$/d' -e 's/  */, 0x/g' -e 's/^/    0x/' -e 's/$/,/'
    printf '    0x00};\n'
    names="$names$n$tab$f$tab$(wc -c <"$dir/$f" | tr -d ' ')$tab$(type_of "$f")
"
    n=$((n + 1))
done <<EOF
$list
EOF
printf '\nconst struct mg_web_file {\n    const char *path;\n    const unsigned char *bytes;\n'
printf '    size_t len;\n    const char *type;\n} mg_web_files[] = {\n'
printf '%s' "$names" | while IFS="$tab" read -r i f len type; do
    printf '    {"%s", web_%s, %s, "%s"},\n' "$f" "$i" "$len" "$type"
done
printf '    {0, 0, 0, 0},\n};\nconst size_t mg_web_nfiles = %d;\n' "$n"
