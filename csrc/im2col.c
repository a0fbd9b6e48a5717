/* im2col / col2im for Conv2d (spec/conv.py: im2col, col2im; see fastdl_cext.h), the C twin
 * of fastdl/backends/reference/conv.py and fastdl/backends/cpu/conv.py.
 *
 * Column row r = (c, i, j) of image b holds, at y * rw + z, the input pixel
 * (y * sh - ph + i * dh, z * sw - pw + j * dw) for z < ow (zero outside x), and zero
 * for ow <= z < rw: the padding is applied on the fly, no padded copy of x is made.  A
 * column row is one run per output row: zeros, a copy, zeros.  Where all of a tap's
 * output rows read whole runs of x (stride 1, rw = w, the tap's columns inside x), the
 * rows of x are consecutive in the columns too, and the column row of an image is
 * one copy of x (the columns ow <= z < rw then get the wrapped-around pixels, as in
 * conv.py's flat im2col).
 *
 * col2im is a scatter-add in tap order (i, j) into zeroed planes of x, so every pixel
 * is 0 + its taps in that order, the other backends' sums bit for bit.  Threads take
 * ranges of x in channel-major order (planes (c, b) with c outer): writes never
 * collide, and each range reads the few column rows of its channels.  im2col's ranges
 * of cols split freely too.  Both only copy or add: no FMA, no reassociation.
 */
#include <string.h>

#include "clones.h"
#include "fastdl_cext.h"
#include "parallel.h"

/* Tap columns whose valid z range is computed once per call (see tap_z). */
#define TAPS_KEPT 32

struct unfold {
    const void *src;
    void *dst;
    int64_t n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, rw;
    int64_t zlo[TAPS_KEPT], zhi[TAPS_KEPT]; /* valid_z of tap column j */
};

/* Short runs (an output row is often 8-32 elements) are copied inline, 32 bytes at a
 * time: a libc call per run cost more than the copy.  (A plain loop would do, but GCC
 * turns it into a memcpy/memset call; fixed-size memcpys are inlined as moves.)  Runs
 * at least MEMCPY_RUN long go to memcpy (rep movsb writes whole lines unread). */
#define MEMCPY_RUN 256

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* The z of output row with tap column offset off = j * dw - pw that read x:
 * [*lo, *hi), 0 <= z < ow with 0 <= z * sw + off < w (empty: *lo == *hi). */
static void valid_z(const struct unfold *u, int64_t off, int64_t *lo, int64_t *hi)
{
    int64_t first = off >= 0 ? 0 : (-off + u->sw - 1) / u->sw;
    int64_t last = u->w - 1 - off; /* z * sw <= last */
    int64_t end = last < 0 ? 0 : min64(last / u->sw + 1, u->ow);
    *lo = min64(first, end);
    *hi = end;
}

/* valid_z of tap column j, from the table for the first TAPS_KEPT. */
static void tap_z(const struct unfold *u, int64_t j, int64_t *lo, int64_t *hi)
{
    if (j < TAPS_KEPT) {
        *lo = u->zlo[j];
        *hi = u->zhi[j];
    } else {
        valid_z(u, j * u->dw - u->pw, lo, hi);
    }
}

static void fill_taps(struct unfold *u)
{
    for (int64_t j = 0; j < u->kw && j < TAPS_KEPT; ++j)
        valid_z(u, j * u->dw - u->pw, &u->zlo[j], &u->zhi[j]);
}

#define FASTDL_IM2COL_DEFINE(SUFFIX, T)                                                       \
    static inline void zero_##SUFFIX(T *restrict d, int64_t n)                                \
    {                                                                                         \
        static const T zeros[32 / sizeof(T)];                                                 \
        int64_t k = 0;                                                                        \
        for (; k + (int64_t)(32 / sizeof(T)) <= n; k += 32 / sizeof(T)) memcpy(d + k, zeros, 32); \
        for (; k < n; ++k) memcpy(d + k, zeros, sizeof(T));                                   \
    }                                                                                         \
                                                                                              \
    static inline void copy_##SUFFIX(T *restrict d, const T *restrict s, int64_t n)           \
    {                                                                                         \
        if (n >= MEMCPY_RUN) {                                                                \
            memcpy(d, s, (size_t)n * sizeof(T));                                              \
            return;                                                                           \
        }                                                                                     \
        int64_t k = 0;                                                                        \
        for (; k + (int64_t)(32 / sizeof(T)) <= n; k += 32 / sizeof(T)) memcpy(d + k, s + k, 32); \
        for (; k < n; ++k) memcpy(d + k, s + k, sizeof(T));                                   \
    }                                                                                         \
                                                                                              \
    /* d += s in blocks of 8 and 4 (whole vectors), then at most 3 scalar steps. */        \
    static inline void add_##SUFFIX(T *restrict d, const T *restrict s, int64_t n)            \
    {                                                                                         \
        int64_t k = 0;                                                                        \
        for (; k + 8 <= n; k += 8)                                                            \
            for (int l = 0; l < 8; ++l) d[k + l] += s[k + l];                                 \
        if (k + 4 <= n) {                                                                     \
            for (int l = 0; l < 4; ++l) d[k + l] += s[k + l];                                 \
            k += 4;                                                                           \
        }                                                                                     \
        for (; k < n; ++k) d[k] += s[k];                                                      \
    }                                                                                         \
                                                                                              \
    /* Column row (r, b) of oh * rw elements as one run of x when that is what it is          \
     * (stride 1, rw == w, every tap column inside x): rows of x are then consecutive, and   \
     * the extra columns get the wrapped-around pixels.  Returns 0 when it is not. */        \
    static inline int im2col_flat_##SUFFIX(const struct unfold *u, const T *plane,          \
                                           int64_t i, int64_t off, T *d)                      \
    {                                                                                         \
        if (u->sh != 1 || u->sw != 1 || u->rw != u->w || off < 0 || u->ow + off > u->w)       \
            return 0;                                                                         \
        int64_t shift = i * u->dh - u->ph; /* py = y + shift */                               \
        int64_t ya = min64(max64(-shift, 0), u->oh), yb = max64(min64(u->h - shift, u->oh), ya); \
        int64_t a = ya * u->rw, e = yb > ya ? (yb - 1) * u->rw + u->ow : a;                   \
        zero_##SUFFIX(d, a);                                                                  \
        copy_##SUFFIX(d + a, plane + (ya + shift) * u->w + off, e - a);                       \
        zero_##SUFFIX(d + e, u->oh * u->rw - e);                                              \
        return 1;                                                                             \
    }                                                                                         \
                                                                                              \
    /* cols elements [lo, hi): whole or partial runs of column rows (r, b, y). */              \
    FASTDL_CLONES static void im2col_range_##SUFFIX(const void *ctx, int64_t lo, int64_t hi) \
    {                                                                                         \
        const struct unfold *u = (const struct unfold *)ctx;                                  \
        const T *x = (const T *)u->src;                                                       \
        T *cols = (T *)u->dst;                                                                \
        int64_t rw = u->rw, q = lo / rw, z0 = lo % rw;                                        \
        int64_t y = q % u->oh, b = (q / u->oh) % u->n, r = q / u->oh / u->n;                  \
        while (q * rw < hi) {                                                                 \
            int64_t j = r % u->kw, i = (r / u->kw) % u->kh, c = r / (u->kw * u->kh);          \
            int64_t off = j * u->dw - u->pw, zl, zh;                                          \
            tap_z(u, j, &zl, &zh);                                                            \
            for (; b < u->n && q * rw < hi; ++b, y = 0) {                                     \
                const T *plane = x + (b * u->c + c) * u->h * u->w;                            \
                if (y == 0 && z0 == 0 && (q + u->oh) * rw <= hi                               \
                    && im2col_flat_##SUFFIX(u, plane, i, off, cols + q * rw)) {               \
                    q += u->oh;                                                               \
                    continue;                                                                 \
                }                                                                             \
                for (; y < u->oh && q * rw < hi; ++y, ++q, z0 = 0) {                          \
                    T *d = cols + q * rw;                                                     \
                    int64_t z1 = min64(rw, hi - q * rw);                                      \
                    int64_t py = y * u->sh - u->ph + i * u->dh;                               \
                    int64_t a = z0, e = z0;                                                   \
                    if (py >= 0 && py < u->h) {                                               \
                        a = min64(max64(zl, z0), z1);                                         \
                        e = max64(min64(zh, z1), a);                                          \
                    }                                                                         \
                    zero_##SUFFIX(d + z0, a - z0);                                            \
                    if (e > a) {                                                              \
                        const T *s = plane + py * u->w;                                       \
                        if (u->sw == 1) {                                                     \
                            copy_##SUFFIX(d + a, s + a + off, e - a);                         \
                        } else if (u->sw == 2) { /* a constant stride: vectorised */          \
                            const T *s2 = s + off;                                            \
                            for (int64_t z = a; z < e; ++z) d[z] = s2[2 * z];                 \
                        } else {                                                              \
                            for (int64_t z = a; z < e; ++z) d[z] = s[z * u->sw + off];        \
                        }                                                                     \
                    }                                                                         \
                    zero_##SUFFIX(d + e, z1 - e);                                             \
                }                                                                             \
            }                                                                                 \
            b = 0;                                                                            \
            ++r;                                                                              \
        }                                                                                     \
    }                                                                                         \
                                                                                              \
    /* Element k of a range is pixel k % (h * w) of plane (b, c) = (k / (h * w) % n,       \
     * k / (n * h * w)): channel-major.  Per channel the part of the range is zeroed,      \
     * then every tap (i, j) adds its column rows of each image to the rows of x they      \
     * read: cols is read in order (a scatter), the taps in order. */                      \
    FASTDL_CLONES static void col2im_range_##SUFFIX(const void *ctx, int64_t lo, int64_t hi) \
    {                                                                                         \
        const struct unfold *u = (const struct unfold *)ctx;                                  \
        const T *cols = (const T *)u->src;                                                    \
        T *x = (T *)u->dst;                                                                   \
        int64_t w = u->w, size = u->h * w, sw = u->sw, per_channel = u->n * size;             \
        for (int64_t k = lo; k < hi;) {                                                       \
            int64_t c = k / per_channel, end = min64(hi, (c + 1) * per_channel);              \
            for (int64_t m = k; m < end;) { /* zero the planes' parts */                      \
                int64_t b = m / size % u->n, e0 = m % size, e1 = min64(size, e0 + end - m);   \
                zero_##SUFFIX(x + (b * u->c + c) * size + e0, e1 - e0);                       \
                m += e1 - e0;                                                                 \
            }                                                                                 \
            for (int64_t i = 0; i < u->kh; ++i) {                                             \
                int64_t base = i * u->dh - u->ph; /* py = y * sh + base */                    \
                for (int64_t j = 0; j < u->kw; ++j) {                                         \
                    int64_t off = j * u->dw - u->pw, zl, zh;                                  \
                    tap_z(u, j, &zl, &zh);                                                    \
                    int64_t r = (c * u->kh + i) * u->kw + j;                                  \
                    for (int64_t m = k; m < end;) {                                           \
                        int64_t b = m / size % u->n, e0 = m % size;                           \
                        int64_t e1 = min64(size, e0 + end - m);                               \
                        m += e1 - e0;                                                         \
                        T *d = x + (b * u->c + c) * size;                                     \
                        const T *s = cols + (r * u->n + b) * u->oh * u->rw;                   \
                        int64_t row0 = e0 / w, row1 = (e1 - 1) / w; /* inclusive */           \
                        int64_t ya = row0 - base <= 0 ? 0 : (row0 - base + u->sh - 1) / u->sh; \
                        int64_t yb = row1 - base < 0 ? 0 : (row1 - base) / u->sh + 1;        \
                        yb = min64(yb, u->oh);                                                \
                        for (int64_t y = ya; y < yb; ++y) {                                   \
                            int64_t py = y * u->sh + base;                                    \
                            int64_t p0 = py == row0 ? e0 - row0 * w : 0;                      \
                            int64_t p1 = py == row1 ? e1 - row1 * w : w;                      \
                            T *dr = d + py * w;                                               \
                            const T *sr = s + y * u->rw;                                      \
                            if (sw == 1) { /* px = z + off */                                 \
                                int64_t a = max64(zl + off, p0), e = min64(zh + off, p1);     \
                                if (e > a) add_##SUFFIX(dr + a, sr + (a - off), e - a);       \
                            } else { /* px = z * sw + off, z in [zl, zh), px in [p0, p1) */   \
                                int64_t z = zl;                                               \
                                if (z * sw + off < p0) z = (p0 - off + sw - 1) / sw;          \
                                for (; z < zh && z * sw + off < p1; ++z)                      \
                                    dr[z * sw + off] += sr[z];                                \
                            }                                                                 \
                        }                                                                     \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
            k = end;                                                                          \
        }                                                                                     \
    }                                                                                         \
                                                                                              \
    void fastdl_im2col_##SUFFIX(const T *x, int64_t n, int64_t c, int64_t h, int64_t w,        \
                                int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,   \
                                int64_t pw, int64_t dh, int64_t dw, int64_t oh, int64_t ow,   \
                                int64_t rw, T *cols, int nthreads)                            \
    {                                                                                         \
        struct unfold u = {x, cols, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, rw,   \
                           {0}, {0}};                                                         \
        int64_t total = c * kh * kw * n * oh * rw;                                            \
        fill_taps(&u);                                                                        \
        if (total > 0) fastdl_parallel_for(total, nthreads, im2col_range_##SUFFIX, &u);      \
    }                                                                                         \
                                                                                              \
    void fastdl_col2im_##SUFFIX(const T *cols, int64_t n, int64_t c, int64_t h, int64_t w,     \
                                int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,   \
                                int64_t pw, int64_t dh, int64_t dw, int64_t oh, int64_t ow,   \
                                int64_t rw, T *x, int nthreads)                               \
    {                                                                                         \
        struct unfold u = {cols, x, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, rw,   \
                           {0}, {0}};                                                         \
        int64_t total = n * c * h * w;                                                        \
        fill_taps(&u);                                                                        \
        if (total > 0) fastdl_parallel_for(total, nthreads, col2im_range_##SUFFIX, &u);      \
    }

FASTDL_IM2COL_DEFINE(f32, float)
FASTDL_IM2COL_DEFINE(f64, double)
