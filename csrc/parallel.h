/* Split an elementwise loop over [0, n) across threads (internal to fastdl._cext). */
#ifndef FASTDL_PARALLEL_H
#define FASTDL_PARALLEL_H

#include <stdint.h>

/* Runs fn(ctx, lo, hi) over ranges that cover [0, n) exactly once. */
typedef void (*fastdl_range_fn)(const void *ctx, int64_t lo, int64_t hi);

/* Run fn over [0, n) on up to nthreads threads, the caller's included: each takes
 * chunks (contiguous, a multiple of 64 elements but the last) until none is left;
 * all are done when it returns. nthreads <= 1, n within one chunk, or no threads on
 * this platform: one call fn(ctx, 0, n). The caller chooses nthreads (the Python
 * wrapper keeps it at 1 for small n, where waking a thread costs more than it saves). */
void fastdl_parallel_for(int64_t n, int nthreads, fastdl_range_fn fn, const void *ctx);

/* Run fn(ctx, t, t + 1) for each task t in [0, ntasks) on up to nthreads threads, each
 * taking the next task from a shared counter (so a thread that starts late or runs
 * slowly takes fewer tasks instead of stalling the others). fn may be called with a
 * wider range [lo, hi) (one thread, or no threads on this platform): it runs tasks lo..hi-1. */
void fastdl_parallel_tasks(int64_t ntasks, int nthreads, fastdl_range_fn fn, const void *ctx);

/* Declared in fastdl_cext.h (it is part of the cffi interface): workers started so far. */
int fastdl_parallel_workers(void);

#endif
