/* SPDX-License-Identifier: MIT */
/*
 * test-trace.c — the USDT probes of lib/core/trace.h are in the built code.
 *
 * This binary links libcoring.a, so its own ELF notes hold every probe the
 * library defines; `readelf -n` lists them (as perf and bpftrace read them).
 */
#include "helpers.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const probes[] = {
    "task_create", "task_switch_in", "task_switch_out", "task_park", "task_wake",
    "task_finish", "op_submit",      "op_complete",     "loop_iteration",
};

/* Keeps the library's probe sites linked into this binary. */
static int body(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return cr_sleep(0);
}

/* Every probe of docs/observability.md is present as a USDT note, provider coring. */
Test(trace, probes_are_in_the_binary)
{
    RUN_EXPECT(body, NULL, 0);
    char self[4096], cmd[4200];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    cr_assert_gt(len, 0);
    self[len] = 0;
    snprintf(cmd, sizeof cmd, "readelf -n '%s' 2>/dev/null", self);
    FILE *p = popen(cmd, "r"); /* (in popen's shell, /proc/self is the shell) */
    cr_assert_not_null(p);
    static char notes[1 << 20];
    size_t n = fread(notes, 1, sizeof notes - 1, p);
    notes[n] = 0;
    pclose(p);
    if (!strstr(notes, "stapsdt"))
        cr_skip_test("built without <sys/sdt.h> (systemtap-sdt-dev): no probes to find");
    cr_assert(strstr(notes, "Provider: coring"), "provider named coring");
    for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
        char want[64];
        snprintf(want, sizeof want, "Name: %s\n", probes[i]);
        cr_assert(strstr(notes, want), "probe %s missing", probes[i]);
    }
}
