#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tsan-stress.sh [ROUNDS] — build libcoring and tests/tsan-stress.c with
# -fsanitize=thread and run it ROUNDS times (default 3). Until the Criterion
# shim lands, this is how the cross-thread code is checked under TSan.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
make -s all SANITIZE=thread LIBDIR=build/san-thread >/dev/null
out=build/san-thread/tests/tsan-stress
mkdir -p "$(dirname "$out")"
${CC:-cc} -std=gnu11 -D_GNU_SOURCE -O1 -g -fsanitize=thread -fno-omit-frame-pointer \
    -Wall -Wextra -Werror -Iinclude -Ilib -o "$out" tests/tsan-stress.c \
    build/san-thread/libcoring.a -luring -lpthread
for i in $(seq "$rounds"); do
    TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" setarch "$(uname -m)" -R "$out"
done
