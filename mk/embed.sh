#!/bin/sh
# embed.sh NAME FILE - prints a C file defining `const char NAME[]` with the
# text of FILE and `NAME_len`, so data files (rules) compile into the library.
set -eu
name=$1
file=$2
printf '/* generated from %s by mk/embed.sh: do not edit */\n#include <stddef.h>\n' "$file"
printf 'const char %s[] =\n' "$name"
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/' "$file"
printf ';\nconst size_t %s_len = sizeof %s - 1;\n' "$name" "$name"
