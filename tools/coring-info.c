/* SPDX-License-Identifier: MIT */
/*
 * coring-info.c — what coring gets from this kernel: the backend a loop
 * chooses (and why, if it fell back), the io_uring set-up flags granted and
 * the features probed, like liburing's probe examples.
 *
 *     build/release/tools/coring-info            (make tools)
 *     CORING_BACKEND=epoll build/release/tools/coring-info
 *
 * Exit status: 0, or 1 if no loop could be made (the reason is printed).
 */
#include <coring.h>
#include <stdio.h>

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
    printf("io_uring flags     0x%x (single_issuer %s, defer_taskrun %s, sqpoll %s)\n",
           f.ring_flags, yes(f.single_issuer), yes(f.defer_taskrun), yes(f.sqpoll));
    printf("multishot accept   %s\n", f.multishot_accept ? "kernel" : "emulated");
    printf("multishot recv     %s\n", f.multishot_recv ? "kernel" : "emulated");
    printf("buffer rings       %s\n", f.buffer_rings ? "kernel" : "user space");
    printf("recv bundles       %s\n", yes(f.recv_bundles));
    printf("ns timeouts        %s\n", yes(f.ns_timeouts));
    printf("stack guards       %s\n", f.guard_pages ? "MADV_GUARD_INSTALL" : "mprotect");
    printf("summary            %s\n", line);
    cr_loop_free(loop);
    return 0;
}
