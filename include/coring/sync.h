/* coring/sync.h — Event, Semaphore, Condition, Barrier, Queue, TaskGroup, timeouts, signals, subprocesses, debug (issue 4).
 * Included by <coring.h>; do not include directly. */
#ifndef CORING_SYNC_H
#define CORING_SYNC_H
#ifndef CORING_H
#error "include <coring.h>"
#endif

#endif
