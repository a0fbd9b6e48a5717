/* Gradient norms over a flat buffer (spec/clip.py: grad_norm) on the C pool, and the
 * in-place scaling of clip_grad_norm_.
 *
 * The buffer is cut into blocks of CLIP_BLOCK elements, one pool task each (threads
 * take the next block from the pool's shared counter); each block's partial goes to
 * its own slot and the partials are combined in block order, so the result does not
 * depend on the thread count. Within a block the float64 accumulation runs in LANES
 * independent lanes combined at the end: the lanes let GCC vectorise the loop without
 * reassociating any sum (-O3, no -ffast-math), which a single accumulator forbids.
 * p = inf takes the maximum of |x| on the bit patterns, as the Numba kernel: with the
 * sign cleared a float's bits order as the float does and every NaN lies above inf,
 * so an integer maximum is exact, NaN-keeping and vectorises.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clones.h"
#include "fastdl_cext.h"
#include "parallel.h"

#define CLIP_BLOCK ((int64_t)1 << 16)
#define LANES 32
#define STACK_PARTIALS 256

enum { NORM_L1 = 0, NORM_L2, NORM_LP, NORM_INF };

struct norm_ctx {
    const void *x;
    int64_t n;
    double p;
    int kind;
    double *partials;
};

#define FASTDL_NORM_DEFINE(SUFFIX, T, BITS, MASK)                                           \
    FASTDL_CLONES static double sum_abs_##SUFFIX(const T *restrict x, int64_t n)            \
    {                                                                                       \
        double acc[LANES] = {0};                                                            \
        int64_t i = 0;                                                                      \
        for (; i + LANES <= n; i += LANES)                                                  \
            for (int j = 0; j < LANES; ++j) acc[j] += fabs((double)x[i + j]);               \
        double total = 0.0;                                                                 \
        for (int j = 0; j < LANES; ++j) total += acc[j];                                    \
        for (; i < n; ++i) total += fabs((double)x[i]);                                     \
        return total;                                                                       \
    }                                                                                       \
                                                                                            \
    FASTDL_CLONES static double sum_squares_##SUFFIX(const T *restrict x, int64_t n)        \
    {                                                                                       \
        double acc[LANES] = {0};                                                            \
        int64_t i = 0;                                                                      \
        for (; i + LANES <= n; i += LANES)                                                  \
            for (int j = 0; j < LANES; ++j) {                                               \
                double v = (double)x[i + j];                                                \
                acc[j] += v * v;                                                            \
            }                                                                               \
        double total = 0.0;                                                                 \
        for (int j = 0; j < LANES; ++j) total += acc[j];                                    \
        for (; i < n; ++i) total += (double)x[i] * (double)x[i];                            \
        return total;                                                                       \
    }                                                                                       \
                                                                                            \
    static double sum_powers_##SUFFIX(const T *restrict x, int64_t n, double p)             \
    {                                                                                       \
        double total = 0.0;                                                                 \
        for (int64_t i = 0; i < n; ++i) total += pow(fabs((double)x[i]), p);                \
        return total;                                                                       \
    }                                                                                       \
                                                                                            \
    /* max |x| through the bits (see the file's comment), returned as a double. */          \
    FASTDL_CLONES static double max_abs_##SUFFIX(const T *restrict x, int64_t n)            \
    {                                                                                       \
        const BITS *restrict bits = (const BITS *)x;                                        \
        BITS top = 0;                                                                       \
        for (int64_t i = 0; i < n; ++i) {                                                   \
            BITS b = bits[i] & (BITS)MASK;                                                  \
            top = b > top ? b : top;                                                        \
        }                                                                                   \
        T value;                                                                            \
        memcpy(&value, &top, sizeof value);                                                 \
        return (double)value;                                                               \
    }                                                                                       \
                                                                                            \
    static void norm_blocks_##SUFFIX(const void *ctx, int64_t lo, int64_t hi)               \
    {                                                                                       \
        const struct norm_ctx *c = (const struct norm_ctx *)ctx;                            \
        const T *x = (const T *)c->x;                                                       \
        for (int64_t b = lo; b < hi; ++b) {                                                 \
            int64_t start = b * CLIP_BLOCK;                                                 \
            int64_t len = c->n - start < CLIP_BLOCK ? c->n - start : CLIP_BLOCK;            \
            double part;                                                                    \
            switch (c->kind) {                                                              \
            case NORM_L1: part = sum_abs_##SUFFIX(x + start, len); break;                   \
            case NORM_L2: part = sum_squares_##SUFFIX(x + start, len); break;               \
            case NORM_LP: part = sum_powers_##SUFFIX(x + start, len, c->p); break;          \
            default: part = max_abs_##SUFFIX(x + start, len); break;                        \
            }                                                                               \
            c->partials[b] = part;                                                          \
        }                                                                                   \
    }                                                                                       \
                                                                                            \
    int fastdl_grad_norm_##SUFFIX(const T *x, int64_t n, double norm_type, double *out,     \
                                  int nthreads)                                             \
    {                                                                                       \
        struct norm_ctx c;                                                                  \
        return fastdl_grad_norm_run(&c, x, n, norm_type, out, nthreads,                     \
                                    norm_blocks_##SUFFIX);                                  \
    }                                                                                       \
                                                                                            \
    FASTDL_CLONES static void scale_loop_##SUFFIX(T *restrict x, int64_t n, T coef)         \
    {                                                                                       \
        for (int64_t i = 0; i < n; ++i) x[i] = x[i] * coef;                                 \
    }                                                                                       \
                                                                                            \
    static void scale_range_##SUFFIX(const void *ctx, int64_t lo, int64_t hi)               \
    {                                                                                       \
        const struct scale_ctx *c = (const struct scale_ctx *)ctx;                          \
        scale_loop_##SUFFIX((T *)c->x + lo, hi - lo, (T)c->coef);                           \
    }                                                                                       \
                                                                                            \
    void fastdl_scale_##SUFFIX(T *x, int64_t n, double coef, int nthreads)                  \
    {                                                                                       \
        struct scale_ctx c;                                                                 \
        c.x = x;                                                                            \
        c.coef = coef;                                                                      \
        fastdl_parallel_for(n, nthreads, scale_range_##SUFFIX, &c);                         \
    }

struct scale_ctx {
    void *x;
    double coef;
};

/* The shared driver: blocks on the pool, then the partials combined in block order. */
static int fastdl_grad_norm_run(struct norm_ctx *c, const void *x, int64_t n, double norm_type,
                                double *out, int nthreads, fastdl_range_fn blocks_fn)
{
    double stack[STACK_PARTIALS];
    int64_t blocks = (n + CLIP_BLOCK - 1) / CLIP_BLOCK;
    c->x = x;
    c->n = n;
    c->p = norm_type;
    c->kind = isinf(norm_type) ? NORM_INF
              : norm_type == 1.0 ? NORM_L1
              : norm_type == 2.0 ? NORM_L2
                                 : NORM_LP;
    c->partials = blocks <= STACK_PARTIALS ? stack : malloc((size_t)blocks * sizeof(double));
    if (c->partials == NULL) return -1;
    fastdl_parallel_tasks(blocks, nthreads, blocks_fn, c);
    double total = 0.0;
    for (int64_t b = 0; b < blocks; ++b) {
        double part = c->partials[b];
        if (c->kind != NORM_INF)
            total += part;
        else if (isnan(part) || part > total || isnan(total))
            total = isnan(total) ? total : part;
    }
    if (c->partials != stack) free(c->partials);
    if (c->kind == NORM_L2)
        total = sqrt(total);
    else if (c->kind == NORM_LP)
        total = pow(total, 1.0 / norm_type);
    out[0] = total;
    return 0;
}

FASTDL_NORM_DEFINE(f32, float, int32_t, 0x7FFFFFFF)
FASTDL_NORM_DEFINE(f64, double, int64_t, 0x7FFFFFFFFFFFFFFFLL)
