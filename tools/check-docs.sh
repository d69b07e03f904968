#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check-docs.sh — every symbol libcoring.so exports has a man page (make docs
# made them under build/docs/man). CI runs it; it prints what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
so=lib/libcoring.so.0.1.0
[ -f "$so" ] || { echo "check-docs: build the library first (make)"; exit 1; }
mandir=build/docs/man/man3
[ -d "$mandir" ] || { echo "check-docs: run 'make docs' first"; exit 1; }
missing=0
for sym in $(nm -D --defined-only "$so" | awk '$3 ~ /^cr_/ {sub(/@.*/, "", $3); print $3}' | sort -u); do
    if [ ! -e "$mandir/$sym.3coring" ]; then
        echo "check-docs: no man page for $sym"
        missing=$((missing + 1))
    fi
done
n=$(nm -D --defined-only "$so" | awk '$3 ~ /^cr_/' | wc -l)
if [ $missing -ne 0 ]; then
    echo "check-docs: $missing of $n exported symbols have no page"
    exit 1
fi
echo "check-docs: all $n exported symbols have a man page"
