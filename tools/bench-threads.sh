#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench-threads.sh — build and run bench/thread-*.c (the thread benchmarks' figures):
# to_thread vs uv_queue_work, cross-thread submission vs libuv's mutex list +
# uv_async_send, and the deque's push/pop and steal. Each program runs coring
# and its peer interleaved in one process and prints medians and ratios.
# ROUNDS=N (default 5) sets the rounds; WORKERS=N sizes both thread pools.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh build
if ! echo '#include <uv.h>' | ${CC:-cc} -E -x c - >/dev/null 2>&1; then
    echo "bench-threads: the libuv peers need libuv1-dev (apt-get install libuv1-dev)" >&2
    exit 1
fi
make -s all
mkdir -p build/bench
for src in bench/thread-*.c; do
    bin=build/bench/$(basename "$src" .c)
    ${CC:-cc} -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Iinclude -Ilib \
        -o "$bin" "$src" lib/libcoring.a -luv -luring -lpthread $(pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
done
for bin in build/bench/thread-to-thread build/bench/thread-submit build/bench/thread-deque; do
    [ -x "$bin" ] && "$bin"
done
