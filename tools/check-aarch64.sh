#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check-aarch64.sh — cross-build the context-switch selftest for AArch64 and
# run it under qemu-user.
#
#   tools/check-aarch64.sh
#
# Needs (installed with apt-get when missing, via sudo when not root):
#   gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
# Environment: CROSS_CC (default aarch64-linux-gnu-gcc), AARCH64_SYSROOT
# (default /usr/aarch64-linux-gnu), QEMU_AARCH64 (default: qemu-aarch64 or
# qemu-aarch64-static from PATH).
#
# Exit status: 0 when everything passed, or when the code assembles and links
# but no usable qemu is available (prints "SKIP: ..."); non-zero otherwise.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CC=${CROSS_CC:-aarch64-linux-gnu-gcc}
SYSROOT=${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}
ASM=lib/arch/aarch64-aapcs64.S
TEST=tests/ctx-selftest.c
CFLAGS=(-O2 -Wall -Wextra -Werror -mbranch-protection=standard)

say() { printf 'check-aarch64: %s\n' "$*"; }
die() { say "FAIL: $*" >&2; exit 1; }

find_qemu() {
    if [ -n "${QEMU_AARCH64:-}" ]; then
        command -v "$QEMU_AARCH64" && return 0
        return 1
    fi
    command -v qemu-aarch64 || command -v qemu-aarch64-static
}

# ---- 1. toolchain ---------------------------------------------------------
missing=()
command -v "$CC" >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu)
[ -e "$SYSROOT/include/stdio.h" ] || missing+=(libc6-dev-arm64-cross)
find_qemu >/dev/null 2>&1 || missing+=(qemu-user)

if [ ${#missing[@]} -gt 0 ]; then
    say "missing: ${missing[*]}"
    SUDO=()
    can_install=1
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            SUDO=(sudo -n)
        else
            can_install=0
        fi
    fi
    if [ $can_install = 0 ]; then
        say "not root and no password-less sudo; install them with:"
        say "  sudo apt-get install -y ${missing[*]}"
    elif ! command -v apt-get >/dev/null 2>&1; then
        say "no apt-get here; install the equivalents of: ${missing[*]}"
    else
        export DEBIAN_FRONTEND=noninteractive
        say "installing: ${SUDO[*]} apt-get install -y ${missing[*]}"
        if ! "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
            say "install failed; retrying after apt-get update"
            if ! { "${SUDO[@]}" apt-get update &&
                "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; }; then
                say "could not install: ${missing[*]}"
            fi
        fi
    fi
fi

command -v "$CC" >/dev/null 2>&1 ||
    die "no AArch64 cross compiler ($CC); needed: apt-get install -y gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
[ -e "$SYSROOT/include/stdio.h" ] ||
    die "no AArch64 C library headers in $SYSROOT; needed: apt-get install -y libc6-dev-arm64-cross"

OUT=$(mktemp -d "${TMPDIR:-/tmp}/check-aarch64.XXXXXX") || die "mktemp"
trap 'rm -rf "$OUT"' EXIT
cd "$ROOT" || die "cd $ROOT"

# ---- 2. assemble, check the BTI/PAC marking, link -------------------------
say "$CC ${CFLAGS[*]} -c $ASM"
"$CC" "${CFLAGS[@]}" -c "$ASM" -o "$OUT/ctx.o" || die "assembling $ASM"
READELF=${CC%gcc}readelf
if command -v "$READELF" >/dev/null 2>&1; then
    notes=$("$READELF" -n "$OUT/ctx.o")
    grep -q 'BTI' <<<"$notes" ||
        die "$ASM: no BTI in .note.gnu.property (the linker would drop BTI for the whole binary)"
    say "object marked: $(grep -o 'AArch64 feature:.*' <<<"$notes")"
fi

LINK=static
say "$CC ${CFLAGS[*]} -static $TEST $ASM"
if ! "$CC" "${CFLAGS[@]}" -static "$TEST" "$ASM" -o "$OUT/ctx-selftest" 2>"$OUT/static.err"; then
    cat "$OUT/static.err" >&2
    say "static link failed; trying a dynamic link (run with -L $SYSROOT)"
    LINK=dynamic
    "$CC" "${CFLAGS[@]}" "$TEST" "$ASM" -o "$OUT/ctx-selftest" ||
        die "building $TEST"
fi

# Freestanding BTI smoke test. Debian/Ubuntu's AArch64 libc is not built with
# BTI landing pads, so a libc-linked binary can't be run with BTI enforced.
# This one links no libc, so every object is BTI-marked and qemu maps its code
# PROT_BTI: a resume through `br x30` to a caller's return address (no landing
# pad there) would die with SIGILL. The probe variant makes an indirect call
# to a function without a landing pad, to learn whether BTI is enforced at all.
cat >"$OUT/bti.c" <<'EOF'
#include "ctx.h"

static long sys_call3(long nr, long a, long b, long c)
{
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}

#ifdef PROBE
__attribute__((noinline, target("branch-protection=none"))) static long unpadded(long x)
{
    return x + 1;
}
static long (*volatile fp)(long) = unpadded;
#else
static void *main_sp, *co_sp;
static char stack[16384] __attribute__((aligned(16)));

static void co(void *arg)
{
    long n = *(long *)arg;
    for (;;)
        n = (long)cr__ctx_switch(&co_sp, main_sp, (void *)(n + 1));
}
#endif

void _start(void)
{
    int ok = 1;
#ifdef PROBE
    ok = fp(1) == 2;
#else
    long start = 100;
    co_sp = cr__ctx_make(stack + sizeof stack, co, &start);
    ok &= cr__ctx_switch(&main_sp, co_sp, 0) == (void *)101;
    for (long i = 0; i < 100; i++)
        ok &= cr__ctx_switch(&main_sp, co_sp, (void *)i) == (void *)(i + 1);
#endif
    sys_call3(64 /* write */, 1, (long)(ok ? "ok\n" : "bad\n"), ok ? 3 : 4);
    sys_call3(93 /* exit */, !ok, 0, 0);
    for (;;)
        ;
}
EOF
BTIFLAGS=(-O2 -Wall -Wextra -Werror -mbranch-protection=standard -ffreestanding
          -fno-stack-protector -fno-tree-loop-distribute-patterns -nostdlib
          -static -fno-pie -no-pie -I "$ROOT/lib/arch")
"$CC" "${BTIFLAGS[@]}" "$OUT/bti.c" "$ASM" -o "$OUT/bti" || die "building the BTI smoke test"
"$CC" "${BTIFLAGS[@]}" -DPROBE "$OUT/bti.c" "$ASM" -o "$OUT/bti-probe" ||
    die "building the BTI probe"
if command -v "$READELF" >/dev/null 2>&1; then
    "$READELF" -n "$OUT/bti" | grep -q 'BTI' || die "BTI smoke test binary is not BTI-marked"
fi
say "built OK ($LINK selftest, freestanding BTI smoke test)"

# ---- 3. run ---------------------------------------------------------------
QEMU=$(find_qemu 2>/dev/null)
if [ -z "$QEMU" ]; then
    say "SKIP: no qemu-aarch64 (apt-get install -y qemu-user); built and linked only"
    exit 0
fi
cat >"$OUT/hello.c" <<'EOF'
int main(void) { return 0; }
EOF
if ! "$CC" -static "$OUT/hello.c" -o "$OUT/hello" 2>/dev/null &&
    ! "$CC" "$OUT/hello.c" -o "$OUT/hello"; then
    die "cannot link a trivial AArch64 program"
fi
if ! "$QEMU" -L "$SYSROOT" "$OUT/hello" >/dev/null 2>&1; then
    say "SKIP: $QEMU cannot run a trivial AArch64 program here; built and linked only"
    exit 0
fi

say "$QEMU -L $SYSROOT ctx-selftest"
"$QEMU" -L "$SYSROOT" "$OUT/ctx-selftest"
rc=$?
[ $rc -eq 0 ] || die "ctx-selftest exited with status $rc"

if { "$QEMU" "$OUT/bti-probe"; } >/dev/null 2>&1; then
    say "note: this qemu does not enforce BTI; the BTI smoke test runs unguarded"
    bti_mode=unguarded
else
    bti_mode=enforced
fi
out=$("$QEMU" "$OUT/bti" 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ "$out" != ok ]; then
    die "BTI smoke test (BTI $bti_mode) failed: status $rc: $out"
fi
say "BTI smoke test passed (BTI $bti_mode)"
say "PASS"
