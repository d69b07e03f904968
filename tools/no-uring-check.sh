#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# no-uring-check.sh NO_URING TESTBIN... — what a user inside a container
# that refuses io_uring sees, checked end to end (`make test-no-uring`).
#
# Under each refusal tools/no-uring makes (EPERM as Docker's default profile,
# ENOSYS as gVisor, and set-up allowed but enter refused), with no
# CORING_BACKEND set, so the loop's own choice is what runs:
#   - every example starts, says in its debug line that it uses epoll, and
#     does its job with a real client (hello and pipeline run to the end; echo
#     answers over a TCP connection, http to curl, https to curl over TLS);
# then, under the EPERM filter, the whole Criterion suite (TESTBIN...), with
# the automatic choice: the tests that need io_uring skip, in one line each.
#
# Servers bind port 0 and print the port; the script reads their output up to
# that line (no sleeps). The examples must have been built (`make examples`).
set -u
cd "$(dirname "$0")/.."
unset CORING_BACKEND # the loop's own choice is what is checked
nu=$1
shift
rel=build/release/examples
tmp=$(mktemp -d)
SRV_PID=
cleanup() {
    [ -n "${SRV_PID:-}" ] && kill "$SRV_PID" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "no-uring: FAIL: $*"; fails=$((fails + 1)); }

# start NAME CMD...: runs a server in a coprocess and reads its output (10 s
# at most) up to its "listening on HOST:PORT" line. Sets PORT, SAID (what it
# printed up to there: the debug line first) and SRV_PID.
start() {
    local name=$1 line
    shift
    coproc SRV { CORING_DEBUG=1 exec "$@" 2>&1; }
    SAID= PORT=
    while read -r -t 10 line <&"${SRV[0]}"; do
        SAID+="$line"$'\n'
        if [[ $line =~ listening\ on\ .*:([0-9]+) ]]; then
            PORT=${BASH_REMATCH[1]}
            return 0
        fi
    done
    echo "no-uring: $name did not start: $SAID" >&2
    stop
    return 1
}
stop() { [ -n "${SRV_PID:-}" ] && kill "$SRV_PID" 2>/dev/null; wait 2>/dev/null; }
says_epoll() { grep -q "coring: backend: .*using epoll" <<<"$1"; }

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
    -days 1 -subj /CN=localhost >/dev/null 2>&1 || fail "openssl could not make a certificate"

for mode in "" --enosys --enter-only; do
    f=("$nu" $mode --)
    label=${mode:---eperm}
    echo "== examples under no-uring $label"
    out=$(CORING_DEBUG=1 "${f[@]}" examples/hello 2>&1) || fail "$label: hello exited $?"
    says_epoll "$out" || fail "$label: hello did not say epoll: $out"
    out=$(CORING_DEBUG=1 "${f[@]}" examples/pipeline 2>&1) || fail "$label: pipeline exited $?"
    grep -q "sum of squares 1..100 = 338350" <<<"$out" || fail "$label: pipeline: $out"

    if start echo "${f[@]}" $rel/echo 0; then
        exec 3<>"/dev/tcp/127.0.0.1/$PORT"
        printf 'ping %s\n' "$label" >&3
        line=
        read -r -t 10 line <&3
        exec 3<&- 3>&-
        [ "$line" = "ping $label" ] || fail "$label: echo answered '$line'"
        says_epoll "$SAID" || fail "$label: echo did not say epoll: $SAID"
        stop
    else
        fail "$label: echo did not start"
    fi
    if start http "${f[@]}" $rel/http 0; then
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$PORT/")
        [ "$code" = 200 ] || fail "$label: http answered curl with '$code'"
        says_epoll "$SAID" || fail "$label: http did not say epoll: $SAID"
        stop
    else
        fail "$label: http did not start"
    fi
    if start https "${f[@]}" $rel/https "$tmp/cert.pem" "$tmp/key.pem" 0; then
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$tmp/cert.pem" \
            "https://localhost:$PORT/")
        [ "$code" = 200 ] || fail "$label: https answered curl with '$code'"
        says_epoll "$SAID" || fail "$label: https did not say epoll: $SAID"
        stop
    else
        fail "$label: https did not start"
    fi
done

echo "== the suite under no-uring --eperm (the loop's own choice)"
"$nu" -- tools/run-tests.sh "$@" || fail "the suite under the filter"
if [ $fails -ne 0 ]; then
    echo "no-uring: $fails check(s) failed"
    exit 1
fi
echo "no-uring: examples and suite ran on epoll under every refusal"
