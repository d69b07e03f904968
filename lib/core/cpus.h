/* SPDX-License-Identifier: MIT */
/*
 * cpus.h — how many CPUs this process may use (cpus.c): what "one per CPU"
 * means for the thread pool and a loop group, and whether spinning can pay.
 * Any thread.
 */
#ifndef CORING_CORE_CPUS_H
#define CORING_CORE_CPUS_H

#include "core/common.h"

/* The CPUs of the calling thread's affinity mask, capped by the CPU quota of
 * the process's cgroup (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us;
 * the tightest along the path to the root, rounded up): what a container's
 * --cpuset-cpus and --cpus leave. At least 1. Reads a few small files: not
 * for a hot path. */
CR_HIDDEN unsigned cr__usable_cpus(void);

#endif
