/* SPDX-License-Identifier: MIT */
/*
 * compat.h — kernel constants newer than Debian bookworm's glibc headers
 * (io_uring's own are in backend/uring-compat.h). Code that uses them probes
 * and degrades on an older kernel.
 */
#ifndef CORING_COMPAT_H
#define CORING_COMPAT_H

#include <sys/mman.h>

/* Linux 6.13: guard pages that cost no VMA. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif

#endif
