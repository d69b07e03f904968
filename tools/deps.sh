#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deps.sh build|test|bench|bench-peers [install|check] — make sure the Debian
# packages a make target needs are installed. `install` (what make test and
# make bench use) installs what is missing with apt-get (through sudo when not
# root); `check` (plain make, make install) only names what is missing and
# fails. When it cannot install, it names exactly what to install and fails.
set -euo pipefail
what=${1:-build}
mode=${2:-install}

# `make -j` runs deps-build and deps-test side by side; two apt-get calls at once
# fail on dpkg's lock, so the checks and installs of every caller take turns.
if command -v flock >/dev/null 2>&1; then
    exec 9>"${TMPDIR:-/tmp}/coring-deps.lock"
    flock 9
fi

need=()
have_hdr() { echo "#include <$1>" | ${CC:-gcc} -E -x c - >/dev/null 2>&1; }
have_cmd() { command -v "$1" >/dev/null 2>&1; }

have_cmd gcc || need+=(build-essential)
have_hdr liburing.h || need+=(liburing-dev)
have_hdr openssl/ssl.h || need+=(libssl-dev) # TLS streams
case $what in
test)
    have_hdr criterion/criterion.h || need+=(libcriterion-dev)
    have_cmd curl || need+=(curl) # the HTTP server test's real client
    have_cmd openssl || need+=(openssl) # TLS peers and test certificates
    have_hdr sys/sdt.h || need+=(systemtap-sdt-dev) # USDT probes (core/trace.h)
    ;;
docs)
    have_cmd doxygen || need+=(doxygen) # make docs: the API reference and man pages
    ;;
bench)
    have_cmd g++ || need+=(g++)
    have_hdr benchmark/benchmark.h || need+=(libbenchmark-dev)
    have_cmd python3 || need+=(python3)
    have_cmd hyperfine || need+=(hyperfine)
    have_cmd gnuplot || need+=(gnuplot-nox)
    have_hdr boost/context/detail/fcontext.hpp || need+=(libboost-context-dev)
    have_hdr uv.h || need+=(libuv1-dev)
    have_cmd pkg-config || need+=(pkg-config)
    ;;
bench-peers)
    # The benchmark peers (bench/run.py). Best effort: run.py reports a peer
    # it cannot run as skipped, so a failure here does not stop the suite.
    have_cmd go || need+=(golang-go)
    /usr/bin/python3 -c 'import uvloop' >/dev/null 2>&1 || need+=(python3-uvloop)
    have_cmd wrk || need+=(wrk)                # HTTP load generator
    have_cmd h2load || need+=(nghttp2-client)  # a second HTTP client: validates bench/loadgen
    have_cmd valgrind || need+=(valgrind)      # callgrind: user-space instructions per request
    have_cmd nginx || need+=(nginx-light)      # HTTP peer
    have_cmd perf || need+=(linux-perf)        # syscalls per request
    have_cmd taskset || need+=(util-linux)     # server and load generator pinned apart
    if [ "${WITH_TOKIO:-}" = 1 ]; then
        [ -x /usr/bin/cargo ] || need+=(cargo)
        ls -d /usr/share/cargo/registry/tokio-1* >/dev/null 2>&1 || need+=(librust-tokio-dev)
        ls -d /usr/share/cargo/registry/httparse-1* >/dev/null 2>&1 || need+=(librust-httparse-dev)
    fi
    ;;
esac

[ ${#need[@]} -eq 0 ] && exit 0

echo "coring: '$what' needs these Debian packages: ${need[*]}" >&2
if [ "$mode" = check ]; then
    echo "coring: install them (sudo apt-get install ${need[*]}), or run 'make test', which does" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif have_cmd sudo && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "coring: cannot install them (not root, no passwordless sudo). Run:" >&2
    echo "    sudo apt-get install ${need[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q "${need[@]}" >/tmp/coring-apt.log 2>&1; then
    $SUDO apt-get update -q >/dev/null 2>&1 || true
    if ! $SUDO apt-get install -y -q "${need[@]}" >>/tmp/coring-apt.log 2>&1; then
        echo "coring: apt-get install ${need[*]} failed; see /tmp/coring-apt.log" >&2
        tail -5 /tmp/coring-apt.log >&2
        exit 1
    fi
fi
echo "coring: installed ${need[*]}" >&2
