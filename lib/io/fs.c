/* SPDX-License-Identifier: MIT */
/*
 * fs.c — file operations as awaitable single-shot ops on the loop's backend:
 * openat, read/write at an offset, fsync, statx, splice. Each is cancel- and
 * timeout-safe through cr__io_wait (the task stays parked until the kernel
 * has let go of its buffer); an fd opened for a task cancelled meanwhile is
 * closed here, never leaked.
 *
 * Loop thread only.
 */
#include "io/io.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int cr_openat(int dirfd, const char *path, int flags, mode_t mode, double timeout)
{
    if (!path)
        return -EINVAL;
    CR__IO_START(io, CR__OP_OPENAT, dirfd);
    io.op.a.path.path = path;
    io.op.a.path.flags = flags | O_CLOEXEC;
    io.op.a.path.mode = mode;
    return cr__io_fd_result(&io, cr__io_wait(&io, cr__deadline(timeout)));
}

ssize_t cr_read(int fd, void *buf, size_t len, int64_t off, double timeout)
{
    if ((!buf && len) || len > 0x7ffff000 || off < -1)
        return -EINVAL;
    CR__IO_START(io, CR__OP_READ, fd);
    io.op.a.rw.buf = buf;
    io.op.a.rw.len = len;
    io.op.a.rw.off = (uint64_t)off;
    return cr__io_wait(&io, cr__deadline(timeout));
}

ssize_t cr_write(int fd, const void *buf, size_t len, int64_t off, double timeout)
{
    if ((!buf && len) || len > 0x7ffff000 || off < -1)
        return -EINVAL;
    CR__IO_START(io, CR__OP_WRITE, fd);
    io.op.a.rw.buf = (void *)buf;
    io.op.a.rw.len = len;
    io.op.a.rw.off = (uint64_t)off;
    return cr__io_wait(&io, cr__deadline(timeout));
}

int cr_fsync(int fd, bool datasync, double timeout)
{
    CR__IO_START(io, CR__OP_FSYNC, fd);
    io.op.a.rw.flags = datasync ? CR__FSYNC_DATA : 0;
    return cr__io_wait(&io, cr__deadline(timeout));
}

int cr_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out,
             double timeout)
{
    if (!path || !out)
        return -EINVAL;
    CR__IO_START(io, CR__OP_STATX, dirfd);
    io.op.a.path.path = path;
    io.op.a.path.flags = flags;
    io.op.a.path.mask = mask;
    io.op.a.path.out = out;
    return cr__io_wait(&io, cr__deadline(timeout));
}

ssize_t cr_splice(int fd_in, int64_t off_in, int fd_out, int64_t off_out, size_t len,
                  unsigned flags, double timeout)
{
    if (len > 0x7ffff000 || off_in < -1 || off_out < -1)
        return -EINVAL;
    CR__IO_START(io, CR__OP_SPLICE, fd_in);
    io.op.a.splice.off_in = off_in;
    io.op.a.splice.off_out = off_out;
    io.op.a.splice.fd_out = fd_out;
    io.op.a.splice.len = (unsigned)len;
    io.op.a.splice.flags = flags;
    return cr__io_wait(&io, cr__deadline(timeout));
}
