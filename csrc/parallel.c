/* The C extension's one thread pool: the optimizer steps and Philox over large flat
 * buffers (fastdl_parallel_for), the GEMM's blocks (fastdl_parallel_tasks).
 *
 * A step over 10M float32 parameters streams 200-280 MB, and one core cannot draw
 * the machine's memory bandwidth alone, so above a size the Python wrapper picks
 * (cext.PARALLEL_MIN_PER_THREAD elements per thread) the range is split. The
 * elementwise kernels do not depend on the split: bit-identical to one call over
 * [0, n). The GEMM's blocks each own their part of C, so it does not either.
 *
 * The caller and the workers take chunks (or tasks) from a shared counter until none
 * is left, rather than one fixed share each: a worker that wakes late (35-40 us after
 * the post on the 2-core development VM) or runs slowly (its core shared with
 * OpenBLAS's threads, which spin for a while after a matmul, or with another process)
 * costs at most one chunk of waiting, and the caller does the rest; at worst a call
 * takes about as long as on one thread. This is why mixing the pool with OpenBLAS
 * never stalls, where OpenBLAS followed by Numba's own parallel threads took 8 ms for
 * a 450 us step (benchmarks/bench_gemm.py, "mixed").
 *
 * The worker threads are started on first use. After a job each watches for the next
 * for FASTDL_SPIN_US (100 us; the environment variable of that name overrides it),
 * yielding its core at every look (see fastdl_watch), then sleeps on a condition
 * variable, taking no core from OpenBLAS or anyone else. A training step calls the
 * GEMM every few tens of microseconds, so its workers stay awake through the step.
 * The caller, once its share is done, likewise waits awake for a worker finishing its
 * last chunk. (Starting a thread per call cost about 20 us.) In a fork()ed child the
 * workers are gone; the child starts its own on first use. The GIL is not held here
 * (cffi releases it around the call), and the workers never touch Python. Calls from
 * several Python threads take turns.
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

void fastdl_parallel_tasks(int64_t ntasks, int nthreads, fastdl_range_fn fn, const void *ctx)
{
    (void)nthreads;
    fn(ctx, 0, ntasks);
}

int fastdl_parallel_workers(void) { return 0; }

#else

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#ifndef FASTDL_SPIN_US
#define FASTDL_SPIN_US 100.0
#endif

/* FASTDL_SPIN_US, or the environment's FASTDL_SPIN_US (read when the first job starts). */
static double spin_us = -1;

static void fastdl_read_spin(void)
{
    const char *text = getenv("FASTDL_SPIN_US");
    double value = text ? atof(text) : FASTDL_SPIN_US;
    spin_us = value >= 0 ? value : FASTDL_SPIN_US;
}

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
static int64_t job_chunk; /* elements per chunk of the current job */
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
static void fastdl_run_chunks(fastdl_range_fn fn, const void *ctx, int64_t n, int64_t chunk)
{
    for (;;) {
        int64_t lo = fastdl_take_chunk() * chunk;
        if (lo >= n) return;
        fn(ctx, lo, lo + chunk < n ? lo + chunk : n);
    }
}

static unsigned long fastdl_job_id(void)
{
#if defined(__GNUC__)
    return __atomic_load_n(&job_id, __ATOMIC_ACQUIRE);
#else
    return job_id;
#endif
}

/* `active` changes under `lock`, and the caller also reads it unlocked while it waits. */
static int fastdl_active(void)
{
#if defined(__GNUC__)
    return __atomic_load_n(&active, __ATOMIC_ACQUIRE);
#else
    return 0;
#endif
}

static int fastdl_add_active(int delta)
{
#if defined(__GNUC__)
    return __atomic_add_fetch(&active, delta, __ATOMIC_RELEASE);
#else
    return active += delta;
#endif
}

static double fastdl_now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

/* After a job, a worker watches for the next one for FASTDL_SPIN_US before it sleeps:
 * a training step calls the GEMM every few tens of microseconds, and waking a
 * sleeping thread costs 35-40 us here. The watch yields the core between looks
 * (sched_yield), so a thread runnable on that core (an OpenBLAS worker, the Python
 * thread) runs at once instead of waiting for the watch to end. */
static void fastdl_watch(unsigned long seen)
{
    double until = fastdl_now_us() + spin_us;
    while (fastdl_job_id() == seen) {
        for (int i = 0; i < 64 && fastdl_job_id() == seen; ++i) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
            __builtin_ia32_pause();
#endif
        }
        if (fastdl_now_us() > until) return;
        sched_yield();
    }
}

static void *fastdl_worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    pthread_mutex_lock(&lock);
    unsigned long seen = first_seen[id]; /* not job_id: the job it was started for may be up */
    for (;;) {
        if (job_id == seen) {
            pthread_mutex_unlock(&lock);
            fastdl_watch(seen);
            pthread_mutex_lock(&lock);
        }
        while (job_id == seen) pthread_cond_wait(&work, &lock);
        seen = job_id;
        if (!job_open || id >= job_threads) continue; /* woke too late, or not wanted */
        fastdl_add_active(1);
        fastdl_range_fn fn = job_fn;
        const void *ctx = job_ctx;
        int64_t n = job_n, chunk = job_chunk;
        pthread_mutex_unlock(&lock);
        fastdl_run_chunks(fn, ctx, n, chunk);
        pthread_mutex_lock(&lock);
        if (fastdl_add_active(-1) == 0 && !job_open) pthread_cond_signal(&done);
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

/* Run fn over [0, n) in chunks of `chunk` on up to nthreads threads. */
static void fastdl_parallel_chunks(int64_t n, int64_t chunk, int nthreads, fastdl_range_fn fn,
                                   const void *ctx)
{
    if (nthreads > FASTDL_MAX_THREADS) nthreads = FASTDL_MAX_THREADS;
    if (nthreads <= 1 || n <= chunk) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&call_lock);
    pthread_mutex_lock(&lock);
    if (spin_us < 0) fastdl_read_spin();
    fastdl_start_workers(nthreads - 1);
    job_fn = fn;
    job_ctx = ctx;
    job_n = n;
    job_chunk = chunk;
    next_chunk = 0;
    job_threads = nthreads;
    job_open = 1;
    active = 0;
#if defined(__GNUC__)
    __atomic_store_n(&job_id, job_id + 1, __ATOMIC_RELEASE); /* watchers read it unlocked */
#else
    ++job_id;
#endif
    pthread_cond_broadcast(&work);
    pthread_mutex_unlock(&lock);

    fastdl_run_chunks(fn, ctx, n, chunk);

    pthread_mutex_lock(&lock);
    job_open = 0; /* a worker waking from now on leaves this job alone */
    if (active > 0) {
        /* A worker is finishing its last chunk: wait for it awake (being woken from
         * pthread_cond_wait costs this thread 35-40 us here), up to FASTDL_SPIN_US. */
        pthread_mutex_unlock(&lock);
        double until = fastdl_now_us() + spin_us;
        while (fastdl_active() > 0 && fastdl_now_us() < until) {
            for (int i = 0; i < 64 && fastdl_active() > 0; ++i) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
                __builtin_ia32_pause();
#endif
            }
        }
        pthread_mutex_lock(&lock);
    }
    while (active > 0) pthread_cond_wait(&done, &lock);
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&call_lock);
}

void fastdl_parallel_for(int64_t n, int nthreads, fastdl_range_fn fn, const void *ctx)
{
    fastdl_parallel_chunks(n, FASTDL_CHUNK, nthreads, fn, ctx);
}

void fastdl_parallel_tasks(int64_t ntasks, int nthreads, fastdl_range_fn fn, const void *ctx)
{
    fastdl_parallel_chunks(ntasks, 1, nthreads, fn, ctx);
}

#endif
