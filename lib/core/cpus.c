/* SPDX-License-Identifier: MIT */
/*
 * cpus.c — how many CPUs this process may use.
 *
 * sysconf(_SC_NPROCESSORS_ONLN) counts the machine's CPUs. In a container
 * that is the host's count: `docker run --cpuset-cpus=0` leaves one CPU in
 * the affinity mask, `--cpus=1` (Kubernetes' CPU limit) leaves the CPUs but
 * a quota of one CPU's time per period. A pool with a worker per host CPU
 * there wastes memory and contends, and a thread that spins waiting for
 * another can hold the one CPU that other needs. So: the affinity mask, then
 * the cgroup's quota, as Rust's available_parallelism and Go's GOMAXPROCS
 * read them.
 *
 * Invariants: never 0; a file that cannot be read or parsed (no cgroupfs
 * mounted, a sandbox that hides it) means "no limit from it", never an
 * error. Owns nothing; any thread.
 */
#include "core/cpus.h"
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { PATHLEN = 4096 };

static unsigned affinity_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (unsigned)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN); /* a mask wider than cpu_set_t */
    return n > 0 ? (unsigned)n : 1;
}

/* The first line of path, without its newline; false if unreadable. */
static bool read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\n")] = 0;
    return ok;
}

/* CPUs a quota of `quota` per `period` gives, rounded up; 0 = no limit. */
static unsigned quota_cpus(long long quota, long long period)
{
    if (quota <= 0 || period <= 0)
        return 0;
    long long n = (quota + period - 1) / period;
    return n > (long long)UINT_MAX ? 0 : (unsigned)n;
}

/* The limit in one cgroup directory: v2 cpu.max ("max 100000" or "50000
 * 100000"), v1 cpu.cfs_quota_us (-1 = none) and cpu.cfs_period_us. */
static unsigned dir_cpus(const char *dir, bool v2)
{
    char path[PATHLEN + 32], line[64];
    long long quota, period;
    if (v2) {
        snprintf(path, sizeof path, "%s/cpu.max", dir);
        if (!read_line(path, line, sizeof line) || sscanf(line, "%lld %lld", &quota, &period) != 2)
            return 0; /* "max ..." does not scan: no limit */
        return quota_cpus(quota, period);
    }
    snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
    if (!read_line(path, line, sizeof line) || sscanf(line, "%lld", &quota) != 1)
        return 0;
    snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
    if (!read_line(path, line, sizeof line) || sscanf(line, "%lld", &period) != 1)
        return 0;
    return quota_cpus(quota, period);
}

/* Does the comma-separated list `opts` name `word`? */
static bool has_word(const char *opts, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, word, n) && (p[n] == ',' || p[n] == 0))
            return true;
    return false;
}

/* Where the hierarchy holding the CPU controller is mounted (v2: the
 * cgroup2 mount; v1: the cgroup mount whose options name "cpu"), and the
 * cgroup path at that mount's root. */
static bool find_mount(bool v2, char *mnt, char *root)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return false;
    char line[PATHLEN + 512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        /* id parent major:minor root mountpoint options ... - fstype source superopts */
        char r[PATHLEN], m[PATHLEN], fstype[32], super[256];
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", r, m) != 2 ||
            sscanf(dash + 3, "%31s %*s %255s", fstype, super) != 2)
            continue;
        if (v2 ? !strcmp(fstype, "cgroup2") : !strcmp(fstype, "cgroup") && has_word(super, "cpu")) {
            strcpy(mnt, m);
            strcpy(root, r);
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* This process's cgroup path in the v2 hierarchy ("0::/path") or in the v1
 * hierarchy holding "cpu" ("N:cpu,cpuacct:/path"). */
static bool own_cgroup(bool v2, char *path)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return false;
    char line[PATHLEN + 128];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = 0;
        bool is_v2 = !strcmp(line, "0") && c1[1] == 0;
        if (v2 ? is_v2 : !is_v2 && has_word(c1 + 1, "cpu")) {
            snprintf(path, PATHLEN, "%s", c2 + 1);
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* The tightest quota from the process's cgroup up to the mount's root. */
static unsigned cgroup_cpus(bool v2)
{
    char mnt[PATHLEN], root[PATHLEN], cg[PATHLEN];
    if (!own_cgroup(v2, cg) || !find_mount(v2, mnt, root))
        return 0;
    /* A mount of a subtree (a container without a cgroup namespace): its
     * root is a prefix of our path, and the files below it are ours. */
    const char *rel = cg;
    size_t rl = strlen(root);
    if (strcmp(root, "/") && !strncmp(cg, root, rl) && (cg[rl] == '/' || cg[rl] == 0))
        rel = cg + rl;
    char dir[PATHLEN + 8];
    snprintf(dir, sizeof dir, "%s%s", mnt, rel);
    size_t base = strlen(mnt);
    unsigned best = 0;
    for (;;) {
        unsigned n = dir_cpus(dir, v2);
        if (n && (!best || n < best))
            best = n;
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < base)
            break; /* the mount point itself was the last */
        *slash = 0; /* the parent */
    }
    return best;
}

unsigned cr__usable_cpus(void)
{
    unsigned n = affinity_cpus();
    unsigned q = cgroup_cpus(true);
    unsigned q1 = cgroup_cpus(false);
    if (q1 && (!q || q1 < q))
        q = q1;
    return q && q < n ? q : n;
}
