/* SPDX-License-Identifier: MIT */
/*
 * trace.h — coring's trace points: USDT probes (provider "coring") that
 * perf, bpftrace and SystemTap attach to at run time (docs/observability.md).
 *
 * Each probe site is one nop in the code and a note in the ELF file
 * (.note.stapsdt, see `readelf -n`); its arguments are only read when a
 * tracer has enabled the probe, so an untraced program pays the nop and
 * nothing else (tools/ab-bench.sh shows the micro-benchmarks with them).
 * Without <sys/sdt.h> (Debian's systemtap-sdt-dev, which `make test`
 * installs) or with -DCORING_NO_TRACE, the probes compile to nothing.
 *
 * The probes (arguments in order):
 *   task_create(task id, task*)          loop_iteration(iteration, ready tasks)
 *   task_switch_in(task id, task*)       task_switch_out(task id, state)
 *   task_park(task id, what it waits on: char*)
 *   task_wake(task id, wake code)        task_finish(task id, error or 0)
 *   op_submit(op*, opcode, fd)           op_complete(op*, opcode, result)
 * Any thread that runs a loop fires them, from that loop's thread.
 */
#ifndef CORING_CORE_TRACE_H
#define CORING_CORE_TRACE_H

#if !defined(CORING_NO_TRACE) && defined(__has_include)
#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#define CR__HAVE_TRACE 1
#endif
#endif

#ifdef CR__HAVE_TRACE
#define CR_TRACE2(name, a, b) STAP_PROBE2(coring, name, a, b)
#define CR_TRACE3(name, a, b, c) STAP_PROBE3(coring, name, a, b, c)
#else
#define CR_TRACE2(name, a, b) ((void)0)
#define CR_TRACE3(name, a, b, c) ((void)0)
#endif

#endif
