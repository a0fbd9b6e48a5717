/* 3x3 stride-1 convolution by Winograd F(2x2, 3x3) (fastdl_conv3x3_winograd_f32, see
 * fastdl_cext.h), the C twin of fastdl/backends/cpu/winograd.py's NumPy reference.
 *
 * Each 2x2 block of output (a tile) is A^T [(G g G^T) * (B^T d B)] A, d the 4x4 patch
 * of input it reads, so the 36 multiplies of a tile per channel pair become 16: the
 * element-wise products over channels are 16 GEMMs  M[e] (o, T) = U[e] (o, c) @ V[e]
 * (c, T)  over the T tiles of a chunk of images, on the C GEMM (gemm.c).  The input
 * transform reads x directly (zero padding on the fly: each row of a tile row is first
 * copied into a zero-bordered row buffer), the output transform writes NCHW with the
 * bias added: no im2col, and 2.25x fewer multiplies than the im2col GEMM.
 *
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   A^T = [1 1 1 0; 0 1 -1 -1]
 *
 * The transforms only add and subtract; threads take channels (input transform) or
 * output channels (output transform) from parallel.c's pool.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "clones.h"
#include "fastdl_cext.h"
#include "parallel.h"

/* Floats between consecutive planes e of V, M and Z beyond their size: planes a
 * multiple of 4 KiB apart would put the 16 streams a tile reads or writes in one L1 set
 * (8 ways), a conflict miss per element; this shifts each plane by one line. */
#define PLANE_PAD 16

struct wino {
    const float *x;
    float *v;           /* (16, c, t) */
    const float *m;     /* (16, o, t) */
    const float *bias;  /* (o) or NULL */
    float *out;         /* (n, o, oh, ow) of the whole batch */
    int64_t n0, nb;     /* the chunk: images n0 .. n0 + nb - 1 */
    int64_t c, h, w, o, ph, pw, oh, ow, th, tw, t;
    volatile int failed; /* a task could not allocate its row buffer */
};

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Channels [lo, hi) of the chunk: V[e, ci, tile] = (B^T d B)[e] of each tile. */
FASTDL_CLONES static void input_range(const void *ctx, int64_t lo, int64_t hi)
{
    const struct wino *s = (const struct wino *)ctx;
    int64_t wp = 2 * s->tw + 2; /* a padded row: input columns -pw .. 2 tw + 1 - pw */
    float *buf = malloc((size_t)(5 * wp) * sizeof(float));
    if (buf == NULL) {
        ((struct wino *)ctx)->failed = 1;
        return;
    }
    float *r[4] = {buf, buf + wp, buf + 2 * wp, buf + 3 * wp}, *t4 = buf + 4 * wp;
    int64_t xa = s->pw < 0 ? 0 : min64(s->pw, wp); /* buffer columns holding x */
    int64_t xb = min64(wp, s->w + s->pw);
    int64_t plane = s->c * s->t + PLANE_PAD;
    for (int64_t ci = lo; ci < hi; ++ci) {
        for (int64_t b = 0; b < s->nb; ++b) {
            const float *xp = s->x + ((s->n0 + b) * s->c + ci) * s->h * s->w;
            for (int64_t ty = 0; ty < s->th; ++ty) {
                for (int k = 0; k < 4; ++k) {
                    int64_t py = 2 * ty + k - s->ph;
                    float *d = r[k];
                    if (py < 0 || py >= s->h || xb <= xa) {
                        memset(d, 0, (size_t)wp * sizeof(float));
                        continue;
                    }
                    memset(d, 0, (size_t)xa * sizeof(float));
                    memcpy(d + xa, xp + py * s->w + (xa - s->pw), (size_t)(xb - xa) * sizeof(float));
                    memset(d + xb, 0, (size_t)(wp - xb) * sizeof(float));
                }
                float *vt = s->v + ci * s->t + (b * s->th + ty) * s->tw;
                /* rows of B^T d, then its columns times B, one row k of B^T d at a time */
                const float *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3];
                for (int k = 0; k < 4; ++k) {
                    if (k == 0)
                        for (int64_t z = 0; z < wp; ++z) t4[z] = r0[z] - r2[z];
                    else if (k == 1)
                        for (int64_t z = 0; z < wp; ++z) t4[z] = r1[z] + r2[z];
                    else if (k == 2)
                        for (int64_t z = 0; z < wp; ++z) t4[z] = r2[z] - r1[z];
                    else
                        for (int64_t z = 0; z < wp; ++z) t4[z] = r1[z] - r3[z];
                    float *v0 = vt + (4 * k) * plane, *v1 = v0 + plane, *v2 = v1 + plane,
                          *v3 = v2 + plane;
                    for (int64_t tx = 0; tx < s->tw; ++tx) {
                        const float *q = t4 + 2 * tx;
                        v0[tx] = q[0] - q[2];
                        v1[tx] = q[1] + q[2];
                        v2[tx] = q[2] - q[1];
                        v3[tx] = q[1] - q[3];
                    }
                }
            }
        }
    }
    free(buf);
}

/* Output channels [lo, hi): out = A^T M A + bias, cropped to (oh, ow). */
FASTDL_CLONES static void output_range(const void *ctx, int64_t lo, int64_t hi)
{
    const struct wino *s = (const struct wino *)ctx;
    int64_t plane = s->o * s->t + PLANE_PAD;
    float *row = malloc((size_t)(4 * s->tw) * sizeof(float));
    if (row == NULL) {
        ((struct wino *)ctx)->failed = 1;
        return;
    }
    for (int64_t oc = lo; oc < hi; ++oc) {
        float shift = s->bias ? s->bias[oc] : 0.0f;
        for (int64_t b = 0; b < s->nb; ++b) {
            float *op = s->out + ((s->n0 + b) * s->o + oc) * s->oh * s->ow;
            for (int64_t ty = 0; ty < s->th; ++ty) {
                const float *mt = s->m + oc * s->t + (b * s->th + ty) * s->tw;
                float *y0 = row, *y1 = row + 2 * s->tw;
                for (int64_t tx = 0; tx < s->tw; ++tx) {
                    float e[16];
                    for (int q = 0; q < 16; ++q) e[q] = mt[q * plane + tx];
                    float s0[4], s1[4];
                    for (int j = 0; j < 4; ++j) {
                        s0[j] = e[j] + e[4 + j] + e[8 + j];
                        s1[j] = e[4 + j] - e[8 + j] - e[12 + j];
                    }
                    y0[2 * tx] = s0[0] + s0[1] + s0[2] + shift;
                    y0[2 * tx + 1] = s0[1] - s0[2] - s0[3] + shift;
                    y1[2 * tx] = s1[0] + s1[1] + s1[2] + shift;
                    y1[2 * tx + 1] = s1[1] - s1[2] - s1[3] + shift;
                }
                int64_t py = 2 * ty;
                memcpy(op + py * s->ow, y0, (size_t)s->ow * sizeof(float));
                if (py + 1 < s->oh) memcpy(op + (py + 1) * s->ow, y1, (size_t)s->ow * sizeof(float));
            }
        }
    }
    free(row);
}

int fastdl_conv3x3_winograd_f32(const float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                                const float *u, int64_t o, int64_t ph, int64_t pw, int64_t oh,
                                int64_t ow, const float *bias, float *out, int64_t chunk,
                                float *v, float *m, int nthreads)
{
    int64_t th = (oh + 1) / 2, tw = (ow + 1) / 2;
    if (n <= 0 || o <= 0 || oh <= 0 || ow <= 0) return 0;
    if (chunk < 1) chunk = 1;
    for (int64_t n0 = 0; n0 < n; n0 += chunk) {
        int64_t nb = min64(chunk, n - n0), t = nb * th * tw;
        struct wino s = {x, v, m, bias, out, n0, nb, c, h, w, o, ph, pw, oh, ow, th, tw, t, 0};
        fastdl_parallel_tasks(c, nthreads, input_range, &s);
        if (s.failed) return -1;
        for (int e = 0; e < 16; ++e) {
            int status = fastdl_gemm_f32(o, t, c, u + e * o * c, c, 0, NULL, NULL,
                                         v + e * (c * t + PLANE_PAD), t, 0, NULL, NULL, 0, 0.0, NULL, 0,
                                         m + e * (o * t + PLANE_PAD), t, nthreads);
            if (status != 0) return status;
        }
        fastdl_parallel_tasks(o, nthreads, output_range, &s);
        if (s.failed) return -1;
    }
    return 0;
}

/* One tile row of the weight gradient's transform: rows ra, rb (2 tw wide) of grad_out
 * to the 16 planes z + e * plane.  Separate restrict pointers, so it vectorises. */
static inline void tile_grad(const float *restrict ra, const float *restrict rb,
                             float *restrict z, int64_t plane, int64_t tw)
{
#define ZP(e) float *restrict z##e = z + e * plane
    ZP(0); ZP(1); ZP(2); ZP(3); ZP(4); ZP(5); ZP(6); ZP(7);
    ZP(8); ZP(9); ZP(10); ZP(11); ZP(12); ZP(13); ZP(14); ZP(15);
#undef ZP
    for (int64_t tx = 0; tx < tw; ++tx) {
        float a0 = ra[2 * tx], a1 = ra[2 * tx + 1];
        float b0 = rb[2 * tx], b1 = rb[2 * tx + 1];
        /* rows of A gy: a, a + b, a - b, -b; then each row [p, q] times A^T */
        float p0 = a0, q0 = a1, p1 = a0 + b0, q1 = a1 + b1;
        float p2 = a0 - b0, q2 = a1 - b1, p3 = -b0, q3 = -b1;
        z0[tx] = p0, z1[tx] = p0 + q0, z2[tx] = p0 - q0, z3[tx] = -q0;
        z4[tx] = p1, z5[tx] = p1 + q1, z6[tx] = p1 - q1, z7[tx] = -q1;
        z8[tx] = p2, z9[tx] = p2 + q2, z10[tx] = p2 - q2, z11[tx] = -q2;
        z12[tx] = p3, z13[tx] = p3 + q3, z14[tx] = p3 - q3, z15[tx] = -q3;
    }
}

/* Output channels [lo, hi): Z[e, oc, tile] = (A gy A^T)[e] of each 2x2 tile gy of
 * grad_out (zero past oh, ow), A = (A^T)^T: the weight gradient's transform. */
FASTDL_CLONES static void grad_range(const void *ctx, int64_t lo, int64_t hi)
{
    const struct wino *s = (const struct wino *)ctx;
    int64_t plane = s->o * s->t + PLANE_PAD, ow = s->ow, wp = 2 * s->tw;
    /* the tile row's two rows of grad_out, zero-extended to 2 tw: no branch per tile */
    float *rows = malloc((size_t)(2 * wp) * sizeof(float));
    if (rows == NULL) {
        ((struct wino *)ctx)->failed = 1;
        return;
    }
    float *ra = rows, *rb = rows + wp;
    for (int64_t oc = lo; oc < hi; ++oc) {
        for (int64_t b = 0; b < s->nb; ++b) {
            const float *gp = s->x + ((s->n0 + b) * s->o + oc) * s->oh * ow;
            for (int64_t ty = 0; ty < s->th; ++ty) {
                memcpy(ra, gp + 2 * ty * ow, (size_t)ow * sizeof(float));
                memset(ra + ow, 0, (size_t)(wp - ow) * sizeof(float));
                if (2 * ty + 1 < s->oh) {
                    memcpy(rb, gp + (2 * ty + 1) * ow, (size_t)ow * sizeof(float));
                    memset(rb + ow, 0, (size_t)(wp - ow) * sizeof(float));
                } else {
                    memset(rb, 0, (size_t)wp * sizeof(float));
                }
                float *z0 = s->v + oc * s->t + (b * s->th + ty) * s->tw;
                tile_grad(ra, rb, z0, plane, s->tw);
            }
        }
    }
    free(rows);
}

int fastdl_conv3x3_winograd_grad_weight_f32(const float *x, int64_t n, int64_t c, int64_t h,
                                            int64_t w, const float *grad_out, int64_t o,
                                            int64_t ph, int64_t pw, int64_t oh, int64_t ow,
                                            int64_t chunk, float *v, float *z, float *part,
                                            float *acc, int nthreads)
{
    int64_t th = (oh + 1) / 2, tw = (ow + 1) / 2, size = 16 * o * c;
    for (int64_t k = 0; k < size; ++k) acc[k] = 0.0f;
    if (n <= 0 || o <= 0 || c <= 0 || oh <= 0 || ow <= 0) return 0;
    if (chunk < 1) chunk = 1;
    for (int64_t n0 = 0; n0 < n; n0 += chunk) {
        int64_t nb = min64(chunk, n - n0), t = nb * th * tw;
        struct wino s = {x, v, NULL, NULL, NULL, n0, nb, c, h, w, o, ph, pw, oh, ow, th, tw, t, 0};
        fastdl_parallel_tasks(c, nthreads, input_range, &s);
        if (s.failed) return -1;
        struct wino g = {grad_out, z, NULL, NULL, NULL, n0, nb, c, h, w, o, ph, pw, oh, ow, th, tw, t, 0};
        fastdl_parallel_tasks(o, nthreads, grad_range, &g);
        if (g.failed) return -1;
        for (int e = 0; e < 16; ++e) { /* part[e] (o, c) = Z[e] (o, t) @ V[e]^T */
            int status = fastdl_gemm_f32(o, c, t, z + e * (o * t + PLANE_PAD), t, 0, NULL, NULL,
                                         v + e * (c * t + PLANE_PAD), t, 1, NULL, NULL, 0, 0.0, NULL, 0,
                                         part + e * o * c, c, nthreads);
            if (status != 0) return status;
        }
        for (int64_t k = 0; k < size; ++k) acc[k] += part[k];
    }
    return 0;
}
