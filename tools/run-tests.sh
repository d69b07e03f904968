#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run-tests.sh BIN... — run each test binary (Criterion suites and the plain
# ctx self-test), keep going after a failure, and end with one total line.
# The backend is whatever loops choose here; CORING_BACKEND=epoll (or uring)
# forces one for the whole run (.ci/run runs the suite on both).
# Criterion runs verbose so that a skipped test says why in one line
# ([SKIP] suite::name: reason); the per-test RUN/PASS lines are dropped.
set -u
passed=0 failed=0 skipped=0 bad=() why=
jobs=${CRITERION_JOBS:-2}
backend=${CORING_BACKEND:-auto}
echo "== backend: $backend"
for bin in "$@"; do
    name=$(basename "$bin")
    echo "== $name"
    if [[ $name == test-* ]]; then
        out=$("$bin" --jobs="$jobs" --verbose ${TEST_ARGS:-} 2>&1); rc=$?
        [[ " ${TEST_ARGS:-} " == *" --verbose"* ]] || # asked for: keep every line
            out=$(printf '%s\n' "$out" | grep -vE '^\[(RUN |PASS)\] |^\[====\] Running [0-9]+ tests? from|^\[----\] Criterion v')
        skipped=$((skipped + $(printf '%s\n' "$out" | grep -cE '^\[SKIP\] ')))
    else
        out=$("$bin" 2>&1); rc=$?
    fi
    printf '%s\n' "$out" | grep -vE '^\s*$' | tail -n 40
    line=$(printf '%s\n' "$out" | grep -E 'Synthesis: Tested: [0-9]+' | tail -1)
    if [ -n "$line" ]; then
        p=$(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$line")
        f=$(sed -E 's/.*Failing: ([0-9]+).*Crashing: ([0-9]+).*/\1+\2/' <<<"$line")
        passed=$((passed + p)); failed=$((failed + f))
    else
        line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -1)
        if [ -n "$line" ]; then
            p=$(sed -E 's/.*[^0-9]?([0-9]+) passed.*/\1/' <<<"$line")
            f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
            passed=$((passed + p)); failed=$((failed + f))
        fi
    fi
    # Criterion reports a test whose worker LSan flagged at exit as passing
    # (the worker's exit code is ignored): count any sanitizer report as a failure.
    if printf '%s\n' "$out" | grep -qE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:|WARNING: ThreadSanitizer'; then
        echo "$name: sanitizer report above"
        rc=1; line=""
    fi
    if [ $rc -ne 0 ]; then
        bad+=("$name")
        # What failed, kept for the summary: CI shows only the run's last
        # lines, and a failure's own lines scroll away behind later suites.
        why+=$(printf '%s\n' "$out" | grep -E '\[FAIL\]|Assertion Failed|\[----\] +[^ ]|ERROR: |runtime error:|WARNING: ThreadSanitizer' | head -n 12 | sed "s|^|$name: |")$'\n'
        [ -z "$line" ] && failed=$((failed + 1))
    fi
done
[ ${#bad[@]} -eq 0 ] || { printf '== what failed\n%s' "$why"; echo "failing binaries: ${bad[*]}"; }
echo "tests: $passed passed, $failed failed, $skipped skipped (backend: $backend)"
[ ${#bad[@]} -eq 0 ] && [ "$failed" -eq 0 ]
