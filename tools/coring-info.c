/* SPDX-License-Identifier: MIT */
/*
 * coring-info.c — what coring gets from this kernel: the backend a loop
 * chooses (and why, if it fell back), the io_uring set-up flags granted and
 * the features probed, like liburing's probe examples; and what a container
 * leaves it: the CPUs the default pool sizes itself by, and how subprocesses
 * are watched (a pidfd, or a thread where pidfd_open is refused).
 *
 *     build/release/tools/coring-info            (make tools)
 *     CORING_BACKEND=epoll build/release/tools/coring-info
 *
 * Exit status: 0, or 1 if no loop could be made (the reason is printed).
 */
#include <coring.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *yes(bool b) { return b ? "yes" : "no"; }

int main(void)
{
    cr_loop *loop;
    int rc = cr_loop_new(&loop, NULL);
    if (rc < 0) {
        fprintf(stderr, "coring-info: no event loop: %s (%s)\n", cr_strerror(rc), cr_setup_error());
        return 1;
    }
    cr_loop_features f;
    cr_loop_get_features(loop, &f);
    char line[512];
    cr_loop_features_str(loop, line, sizeof line);
    printf("coring %s\n", cr_version());
    printf("backend            %s\n", f.backend);
    if (strcmp(f.backend, "io_uring")) {
        /* Why not io_uring: a loop forced onto it fails with the reason. */
        cr_loop *u;
        cr_loop_opts o = {.backend = CR_BACKEND_URING};
        if (cr_loop_new(&u, &o) == 0) {
            cr_loop_free(u);
            printf("io_uring           available (epoll was chosen by CORING_BACKEND)\n");
        } else {
            printf("io_uring           refused: %s\n", cr_setup_error());
        }
    }
    printf("io_uring flags     0x%x (single_issuer %s, defer_taskrun %s, sqpoll %s)\n",
           f.ring_flags, yes(f.single_issuer), yes(f.defer_taskrun), yes(f.sqpoll));
    printf("multishot accept   %s\n", f.multishot_accept ? "kernel" : "emulated");
    printf("multishot recv     %s\n", f.multishot_recv ? "kernel" : "emulated");
    printf("buffer rings       %s\n", f.buffer_rings ? "kernel" : "user space");
    printf("recv bundles       %s\n", yes(f.recv_bundles));
    printf("ns timeouts        %s\n", yes(f.ns_timeouts));
    printf("stack guards       %s\n", f.guard_pages ? "MADV_GUARD_INSTALL" : "mprotect");
    printf("summary            %s\n", line);
    cr_pool *pool;
    if (cr_pool_new(&pool, NULL) == 0) {
        printf("CPUs usable        %u of %ld (the affinity mask, capped by the cgroup CPU quota:\n"
               "                   the default pool's workers)\n",
               cr_pool_workers(pool), sysconf(_SC_NPROCESSORS_ONLN));
        cr_pool_free(pool);
    }
    long pidfd = syscall(SYS_pidfd_open, getpid(), 0);
    if (pidfd >= 0) {
        close((int)pidfd);
        printf("subprocesses       pidfd\n");
    } else {
        printf("subprocesses       a watcher thread per child (pidfd_open: %s)\n", strerror(errno));
    }
    cr_loop_free(loop);
    return 0;
}
