/*
 * fs.c — file operations as awaitable single-shot ops on the loop's ring:
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
    CR__IO_START(io, sqe);
    io_uring_prep_openat(sqe, dirfd, path, flags | O_CLOEXEC, mode);
    return cr__io_fd_result(&io, cr__io_wait(&io, cr__deadline(timeout)));
}

ssize_t cr_read(int fd, void *buf, size_t len, int64_t off, double timeout)
{
    if ((!buf && len) || len > 0x7ffff000 || off < -1)
        return -EINVAL;
    CR__IO_START(io, sqe);
    io_uring_prep_read(sqe, fd, buf, (unsigned)len, (uint64_t)off);
    return cr__io_wait(&io, cr__deadline(timeout));
}

ssize_t cr_write(int fd, const void *buf, size_t len, int64_t off, double timeout)
{
    if ((!buf && len) || len > 0x7ffff000 || off < -1)
        return -EINVAL;
    CR__IO_START(io, sqe);
    io_uring_prep_write(sqe, fd, buf, (unsigned)len, (uint64_t)off);
    return cr__io_wait(&io, cr__deadline(timeout));
}

int cr_fsync(int fd, bool datasync, double timeout)
{
    CR__IO_START(io, sqe);
    io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
    return cr__io_wait(&io, cr__deadline(timeout));
}

int cr_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out,
             double timeout)
{
    if (!path || !out)
        return -EINVAL;
    CR__IO_START(io, sqe);
    io_uring_prep_statx(sqe, dirfd, path, flags, mask, out);
    return cr__io_wait(&io, cr__deadline(timeout));
}

ssize_t cr_splice(int fd_in, int64_t off_in, int fd_out, int64_t off_out, size_t len,
                  unsigned flags, double timeout)
{
    if (len > 0x7ffff000 || off_in < -1 || off_out < -1)
        return -EINVAL;
    CR__IO_START(io, sqe);
    io_uring_prep_splice(sqe, fd_in, off_in, fd_out, off_out, (unsigned)len, flags);
    return cr__io_wait(&io, cr__deadline(timeout));
}
