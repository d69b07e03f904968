/* SPDX-License-Identifier: MIT */
/*
 * bindcheck.c — does a loaded object still bind its functions lazily?
 *
 * Why it matters: a lean task runs on a 1 KiB slot (stack.c). The first call
 * through a lazily bound PLT slot enters the dynamic linker's resolver, which
 * saves the whole extended register state on the calling stack (~1 KiB with
 * AVX2, ~2.7 KiB with AVX-512): more than the slot, so the task overflows
 * into its neighbour. Nothing can bind a slot after load from here, but the
 * library can say so: debug mode names the object when a loop first makes a
 * lean task, and the canary's abort message names it too (docs/memory.md).
 *
 * What counts as lazy: an object with PLT relocations (DT_JMPREL) and neither
 * DT_BIND_NOW, DF_BIND_NOW nor DF_1_NOW, unless LD_BIND_NOW is set (then the
 * dynamic linker bound everything at load). The dynamic linker and libc are
 * not named: glibc's own lazy slots are its private calls into ld.so and
 * calloc/realloc kept interposable, which the bodies lean tasks are meant
 * for do not reach first — and naming libc would make the warning fire for
 * every program, -z now or not, and so say nothing.
 *
 * Owns: one answer per process, computed once (pthread_once) and never
 * changed; objects loaded later by dlopen are not looked at. Any thread.
 */
#include "core/internal.h"
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char lazy_name[128]; /* "" = every object that matters binds at load */

static bool skipped(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncmp(base, "ld-linux", 8) == 0 || strncmp(base, "ld-", 3) == 0 ||
           strncmp(base, "libc.so", 7) == 0 || strncmp(base, "linux-vdso", 10) == 0;
}

static int visit(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size, (void)data;
    const char *name = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : NULL;
    if (name && skipped(name))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC)
            continue;
        const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        bool plt = false, now = false;
        for (; d->d_tag != DT_NULL; d++) {
            if (d->d_tag == DT_JMPREL)
                plt = true;
            else if (d->d_tag == DT_BIND_NOW)
                now = true;
            else if (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_BIND_NOW))
                now = true;
            else if (d->d_tag == DT_FLAGS_1 && (d->d_un.d_val & DF_1_NOW))
                now = true;
        }
        if (plt && !now) {
            const char *shown = name ? name : "the main program";
            size_t n = strlen(shown);
            if (n >= sizeof lazy_name)
                shown += n - (sizeof lazy_name - 1); /* keep the file name end */
            memcpy(lazy_name, shown, strlen(shown) + 1);
            return 1; /* the first is enough to name */
        }
    }
    return 0;
}

static void compute(void)
{
    const char *env = getenv("LD_BIND_NOW");
    if (env && *env)
        return;
    dl_iterate_phdr(visit, NULL);
}

const char *cr__lazy_bound_object(void)
{
    pthread_once(&once, compute);
    return lazy_name[0] ? lazy_name : NULL;
}
