/* coring/io.h — sockets, files, streams, servers (issue 5).
 * Included by <coring.h>; do not include directly. */
#ifndef CORING_IO_H
#define CORING_IO_H
#ifndef CORING_H
#error "include <coring.h>"
#endif

#endif
