/* SPDX-License-Identifier: MIT */
/*
 * seccomp-helpers.h — a seccomp filter that refuses some system calls with
 * one errno and allows everything else: how the tests stand in for a
 * container's profile (Docker's refuses io_uring; older ones pidfd_open too).
 *
 * A filter stays with the process that installs it and its children, so a
 * Criterion test (a worker process of its own) may install one for itself.
 */
#ifndef CORING_TESTS_SECCOMP_HELPERS_H
#define CORING_TESTS_SECCOMP_HELPERS_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>

#if defined(__x86_64__)
#define THIS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

enum { SECCOMP_REFUSE_MAX = 8 };

/* Refuse the n (<= SECCOMP_REFUSE_MAX) system calls nrs[] with err. 0, or a
 * negative errno. Sets no_new_privs, as an unprivileged filter must. */
static inline int seccomp_refuse(int err, const long *nrs, int n)
{
    if (n < 0 || n > SECCOMP_REFUSE_MAX)
        return -EINVAL;
    struct sock_filter f[SECCOMP_REFUSE_MAX + 6];
    int k = 0;
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_AUDIT_ARCH, 1, 0);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (int i = 0; i < n; i++) /* a match jumps past the rest and the ALLOW */
        f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nrs[i],
                                              (unsigned char)(n - i), 0);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                          SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA));
    struct sock_fprog prog = {.len = (unsigned short)k, .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0 ? -errno : 0;
}

#endif
