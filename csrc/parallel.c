/* fastdl_parallel_for: the optimizer steps over large flat buffers, on all threads.
 *
 * A step over 10M float32 parameters streams 200-280 MB, and one core cannot draw
 * the machine's memory bandwidth alone, so above a size the Python wrapper picks
 * (cext.PARALLEL_MIN_PER_THREAD elements per thread) the range is split. The
 * kernels are elementwise: the result does not depend on the split, it is
 * bit-identical to one call over [0, n).
 *
 * The caller and the workers take chunks of FASTDL_CHUNK elements from a shared
 * counter until none is left, rather than one fixed share each: a worker that
 * wakes late (35-40 us after the post on the 2-core development VM) or runs slowly
 * (its core shared with OpenBLAS's threads, which spin for a while after a matmul,
 * or with another process) costs at most one chunk of waiting, and the caller does
 * the rest; at worst the step takes about as long as on one thread.
 *
 * The worker threads are started on first use and then sleep on a condition
 * variable between calls; they never spin, so they take no core from OpenBLAS or
 * anyone else while idle. (Starting a thread per call cost about 20 us.) In a
 * fork()ed child the workers are gone; the child starts its own on first use.
 * The GIL is not held here (cffi releases it around the call), and the workers
 * never touch Python. Calls from several Python threads take turns.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* pthread_sigmask, sigfillset under -std=c99 */
#endif

#include "parallel.h"

#define FASTDL_MAX_THREADS 64
/* Elements per chunk: 256 KB of each float32 buffer, a multiple of every vector width. */
#ifndef FASTDL_CHUNK
#define FASTDL_CHUNK ((int64_t)1 << 16)
#endif

#if defined(_WIN32)

/* No pthreads with MSVC: one range. */
void fastdl_parallel_for(int64_t n, int nthreads, fastdl_range_fn fn, const void *ctx)
{
    (void)nthreads;
    fn(ctx, 0, n);
}

int fastdl_parallel_workers(void) { return 0; }

#else

#include <pthread.h>
#include <signal.h>

/* The pool. `call_lock` serialises callers; `lock` guards everything below it but
 * next_chunk, which the threads of a job take chunks from atomically. */
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER; /* a new job was posted */
static pthread_cond_t done = PTHREAD_COND_INITIALIZER; /* the last worker left the job */
static int workers;          /* started; worker k is 1-based */
static unsigned long job_id; /* bumped per job */
static int job_open;         /* workers may still join the current job */
static int job_threads;      /* threads allowed on the current job, the caller included */
static int active;           /* workers inside the current job */
static fastdl_range_fn job_fn;
static const void *job_ctx;
static int64_t job_n;
static int64_t next_chunk;
static unsigned long first_seen[FASTDL_MAX_THREADS]; /* job_id when worker k was started */
static int atfork_registered;

static int64_t fastdl_take_chunk(void)
{
#if defined(__GNUC__)
    return __atomic_fetch_add(&next_chunk, 1, __ATOMIC_RELAXED);
#else
    pthread_mutex_lock(&lock);
    int64_t chunk = next_chunk++;
    pthread_mutex_unlock(&lock);
    return chunk;
#endif
}

/* Take chunks until none is left. */
static void fastdl_run_chunks(fastdl_range_fn fn, const void *ctx, int64_t n)
{
    for (;;) {
        int64_t lo = fastdl_take_chunk() * FASTDL_CHUNK;
        if (lo >= n) return;
        fn(ctx, lo, lo + FASTDL_CHUNK < n ? lo + FASTDL_CHUNK : n);
    }
}

static void *fastdl_worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    pthread_mutex_lock(&lock);
    unsigned long seen = first_seen[id]; /* not job_id: the job it was started for may be up */
    for (;;) {
        while (job_id == seen) pthread_cond_wait(&work, &lock);
        seen = job_id;
        if (!job_open || id >= job_threads) continue; /* woke too late, or not wanted */
        ++active;
        fastdl_range_fn fn = job_fn;
        const void *ctx = job_ctx;
        int64_t n = job_n;
        pthread_mutex_unlock(&lock);
        fastdl_run_chunks(fn, ctx, n);
        pthread_mutex_lock(&lock);
        if (--active == 0 && !job_open) pthread_cond_signal(&done);
    }
    return NULL;
}

/* In a fork()ed child only the forking thread exists: forget the workers. */
static void fastdl_after_fork_in_child(void)
{
    pthread_mutex_init(&call_lock, NULL);
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&work, NULL);
    pthread_cond_init(&done, NULL);
    workers = 0;
    job_open = 0;
    active = 0;
}

/* Start workers until there are `wanted` (call with `lock` held). */
static void fastdl_start_workers(int wanted)
{
    if (!atfork_registered) {
        pthread_atfork(NULL, NULL, fastdl_after_fork_in_child);
        atfork_registered = 1;
    }
    if (workers >= wanted) return;
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals go to the caller's threads */
    while (workers < wanted) {
        pthread_t thread;
        void *id = (void *)(intptr_t)(workers + 1);
        first_seen[workers + 1] = job_id;
        if (pthread_create(&thread, &attr, fastdl_worker, id) != 0) break;
        ++workers;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

int fastdl_parallel_workers(void)
{
    pthread_mutex_lock(&lock);
    int count = workers;
    pthread_mutex_unlock(&lock);
    return count;
}

void fastdl_parallel_for(int64_t n, int nthreads, fastdl_range_fn fn, const void *ctx)
{
    if (nthreads > FASTDL_MAX_THREADS) nthreads = FASTDL_MAX_THREADS;
    if (nthreads <= 1 || n <= FASTDL_CHUNK) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&call_lock);
    pthread_mutex_lock(&lock);
    fastdl_start_workers(nthreads - 1);
    job_fn = fn;
    job_ctx = ctx;
    job_n = n;
    next_chunk = 0;
    job_threads = nthreads;
    job_open = 1;
    active = 0;
    ++job_id;
    pthread_cond_broadcast(&work);
    pthread_mutex_unlock(&lock);

    fastdl_run_chunks(fn, ctx, n);

    pthread_mutex_lock(&lock);
    job_open = 0; /* a worker waking from now on leaves this job alone */
    while (active > 0) pthread_cond_wait(&done, &lock);
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&call_lock);
}

#endif
