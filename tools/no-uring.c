/* SPDX-License-Identifier: MIT */
/*
 * no-uring.c — runs a command where io_uring is refused, as a container's
 * seccomp profile refuses it (Docker's default since 25.0, containerd's and
 * Kubernetes' RuntimeDefault), so that anything can be tried there by hand or
 * from CI:
 *
 *     no-uring [--enosys] [--enter-only] [--] command [args...]
 *
 * By default io_uring_setup, io_uring_enter and io_uring_register answer
 * EPERM (Docker's answer; also what kernel.io_uring_disabled=2 gives).
 * --enosys answers ENOSYS instead (gVisor, kernels built without io_uring).
 * --enter-only lets io_uring_setup through and refuses the other two: a
 * filter that only a real submit-and-wait round trip catches.
 *
 * The filter is inherited by every child and cannot be lifted: the command
 * and everything it starts run under it. It sets no_new_privs first, as an
 * unprivileged filter must, so set-uid programs run without their privilege.
 * A call of another architecture's numbering (i386 or x32 on x86-64) is let
 * through: coring never makes one.
 */
#include "../tests/seccomp-helpers.h" /* the filter the tests install, the same code */
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int usage(void)
{
    fprintf(stderr, "usage: no-uring [--enosys] [--enter-only] [--] command [args...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int err = EPERM, enter_only = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else if (!strcmp(argv[i], "--enosys")) {
            err = ENOSYS;
        } else if (!strcmp(argv[i], "--enter-only")) {
            enter_only = 1;
        } else {
            return usage();
        }
    }
    if (i >= argc)
        return usage();
    /* Setup last, so that --enter-only is the first two. */
    const long nrs[] = {__NR_io_uring_enter, __NR_io_uring_register, __NR_io_uring_setup};
    int rc = seccomp_refuse(err, nrs, enter_only ? 2 : 3);
    if (rc < 0) {
        fprintf(stderr, "no-uring: cannot install the seccomp filter: %s\n", strerror(-rc));
        return 1;
    }
    execvp(argv[i], argv + i);
    fprintf(stderr, "no-uring: %s: %s\n", argv[i], strerror(errno));
    return 127;
}
