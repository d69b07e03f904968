/* SPDX-License-Identifier: MIT */
/* micro-threads.h — C bodies of micro.cc's MPSC and deque benchmarks (see
 * micro-threads.c). Each returns how many items came out of its batch
 * (MICRO_BATCH when correct), or -1 on allocation failure. One thread only. */
#ifndef CORING_BENCH_MICRO_THREADS_H
#define CORING_BENCH_MICRO_THREADS_H
#ifdef __cplusplus
extern "C" {
#endif

#define MICRO_BATCH 64

int micro_threads_init(void); /* 0 or -ENOMEM */
void micro_threads_fini(void);
int micro_mpsc_push_pop(void);    /* MICRO_BATCH pushes, then as many pops */
int micro_deque_push_take(void);  /* MICRO_BATCH owner pushes, then takes */
int micro_deque_push_steal(void); /* MICRO_BATCH owner pushes, then steals */

#ifdef __cplusplus
}
#endif
#endif
