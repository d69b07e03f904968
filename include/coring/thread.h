/* coring/thread.h — the thread pool, to_thread, run_coroutine_threadsafe, call_soon_threadsafe, loops per core (issue 3).
 * Included by <coring.h>; do not include directly. */
#ifndef CORING_THREAD_H
#define CORING_THREAD_H
#ifndef CORING_H
#error "include <coring.h>"
#endif

#endif
