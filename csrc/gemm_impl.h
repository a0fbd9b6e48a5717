/* The type-generic half of gemm.c, included once per element type with
 *   T      the element type (float, double)
 *   SUF    its suffix (f32, f64), pasted into names by GEMM_NAME
 * The SIMD microkernels are in gemm.c; everything around them (packing with the fused
 * prologue, the blocked loops, the edges, the epilogue for tails, the threads) is here.
 */

#define GEMM_CAT2(a, b) a##_##b
#define GEMM_CAT(a, b) GEMM_CAT2(a, b)
#define GEMM_NAME(name) GEMM_CAT(name, SUF)

typedef void (*GEMM_NAME(ukr_fn))(int64_t kc, const T *a, const T *b, int64_t ldb, T *c,
                                  int64_t ldc, int accumulate, const T *bias, int act, T slope);

/* A dot-product microkernel: the dot_mi x dot_nj dot products of rows a[i] and b[j]
 * (k elements each, contiguous) into out[i * dot_nj + j]. */
typedef void (*GEMM_NAME(dot_fn))(int64_t k, const T *const *a, const T *const *b, T *out);

/* One ISA's kernels for this type: MR x NR outer-product tiles with the cache blocking
 * around them, and (or NULL) the dot-product kernel for row-major A times B stored
 * (n, k), the dense layer's forward. */
struct GEMM_NAME(kernel) {
    GEMM_NAME(ukr_fn) ukr;
    int mr, nr;
    int64_t kc, mc, nc;
    GEMM_NAME(dot_fn) dot;
    int dot_mi, dot_nj;
};

/* The activation derivative of the prologue, written in terms of the activation's
 * output y (the reference's act_backward, elementwise). */
static inline T GEMM_NAME(masked)(T g, T y, int mask_act, T slope)
{
    switch (mask_act) {
    case GEMM_ACT_RELU: return y > 0 ? g : (T)0;
    case GEMM_ACT_LEAKY: return y > 0 ? g : slope * g;
    case GEMM_ACT_SIGMOID: return g * y * ((T)1 - y);
    case GEMM_ACT_TANH: return g * ((T)1 - y * y);
    default: return g;
    }
}

static inline T GEMM_NAME(activate)(T x, int act, T slope)
{
    switch (act) {
    case GEMM_ACT_RELU: return x > 0 || x != x ? x : (T)0; /* NaN stays NaN */
    case GEMM_ACT_LEAKY: return x > 0 ? x : slope * x;
    case GEMM_ACT_SIGMOID: {
        T e = (T)exp(-fabs((double)x));
        return x >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);
    }
    case GEMM_ACT_TANH: return (T)tanh((double)x);
    default: return x;
    }
}

/* out[j] = act(in[j] + bias[j]) for j < n (bias may be NULL): the branches taken once
 * per row, so the common cases are plain loops the compiler vectorises. */
static void GEMM_NAME(epilogue_row)(T *out, const T *in, const T *bias, int64_t n, int act,
                                    T slope)
{
    switch (act) {
    case GEMM_ACT_NONE:
        if (bias)
            for (int64_t j = 0; j < n; ++j) out[j] = in[j] + bias[j];
        else
            for (int64_t j = 0; j < n; ++j) out[j] = in[j];
        return;
    case GEMM_ACT_RELU:
        for (int64_t j = 0; j < n; ++j) {
            T v = bias ? in[j] + bias[j] : in[j];
            out[j] = v > 0 || v != v ? v : (T)0;
        }
        return;
    default:
        for (int64_t j = 0; j < n; ++j)
            out[j] = GEMM_NAME(activate)(bias ? in[j] + bias[j] : in[j], act, slope);
    }
}

/* A matrix operand P (rows x cols, logically) read at P[r * rs + c * cs], with an
 * optional mask of the same layout. */
struct GEMM_NAME(operand) {
    const T *p;
    const T *mask;
    int64_t rs, cs;
};

/* Pack rows [r0, r0 + rows) x columns [c0, c0 + cols) of X into slivers of w rows, each
 * stored column by column (w values per column), the last sliver zero-padded; with a
 * mask, the prologue is applied; with sums, sums[r - r0] += the packed row's total. */
static void GEMM_NAME(pack)(const struct GEMM_NAME(operand) *x, int64_t r0, int64_t rows,
                            int64_t c0, int64_t cols, int w, T *dst, T *sums, int mask_act,
                            T slope)
{
    for (int64_t s = 0; s < rows; s += w) {
        int h = rows - s < w ? (int)(rows - s) : w;
        T *sliver = dst + s * cols;
        for (int i = 0; i < h; ++i) {
            const T *src = x->p + (r0 + s + i) * x->rs + c0 * x->cs;
            const T *msk = x->mask ? x->mask + (r0 + s + i) * x->rs + c0 * x->cs : NULL;
            T total = 0;
            if (msk) {
                for (int64_t c = 0; c < cols; ++c) {
                    T v = GEMM_NAME(masked)(src[c * x->cs], msk[c * x->cs], mask_act, slope);
                    sliver[c * w + i] = v;
                    total += v;
                }
            } else if (x->cs == 1) {
                for (int64_t c = 0; c < cols; ++c) {
                    sliver[c * w + i] = src[c];
                    total += src[c];
                }
            } else {
                for (int64_t c = 0; c < cols; ++c) {
                    sliver[c * w + i] = src[c * x->cs];
                    total += src[c * x->cs];
                }
            }
            if (sums) sums[s + i] += total;
        }
        for (int i = h; i < w; ++i)
            for (int64_t c = 0; c < cols; ++c) sliver[c * w + i] = 0;
    }
}

/* sums[r] = the total of row r of X (with the prologue) over its cols columns. */
static void GEMM_NAME(sums)(const struct GEMM_NAME(operand) *x, int64_t rows, int64_t cols,
                            T *sums, int mask_act, T slope)
{
    for (int64_t r = 0; r < rows; ++r) {
        T total = 0;
        for (int64_t c = 0; c < cols; ++c) {
            T v = x->p[r * x->rs + c * x->cs];
            total += x->mask ? GEMM_NAME(masked)(v, x->mask[r * x->rs + c * x->cs], mask_act, slope)
                             : v;
        }
        sums[r] = total;
    }
}

/* Pack columns [c0, c0 + cols) of rows [r0, r0 + rows) of X, whose rows are contiguous
 * (cs == 1), into slivers of w columns stored row by row: the B-side layout when op(B)
 * is stored (k, n). Long contiguous runs; no prologue (the caller packs masked B with
 * GEMM_NAME(pack) on the transposed view). */
static void GEMM_NAME(pack_rows)(const struct GEMM_NAME(operand) *x, int64_t r0, int64_t rows,
                                 int64_t c0, int64_t cols, int w, T *dst)
{
    for (int64_t s = 0; s < cols; s += w) {
        int width = cols - s < w ? (int)(cols - s) : w;
        T *sliver = dst + s * rows;
        for (int64_t r = 0; r < rows; ++r) {
            const T *src = x->p + (r0 + r) * x->rs + c0 + s;
            T *row = sliver + r * w;
            int j = 0;
            for (; j < width; ++j) row[j] = src[j];
            for (; j < w; ++j) row[j] = 0;
        }
    }
}

/* The whole problem, shared by the threads. */
struct GEMM_NAME(problem) {
    const struct GEMM_NAME(kernel) *kern;
    int64_t m, n, k;
    struct GEMM_NAME(operand) a;  /* op(A): m x k */
    struct GEMM_NAME(operand) bt; /* op(B) transposed: n x k */
    T *sum_a, *sum_b;
    int mask_act;
    T slope;
    const T *bias;
    int act;
    T *c;
    int64_t ldc;
    int *failed;         /* set when a thread cannot get its packing buffers */
    int pack_b;          /* 0: the kernel reads op(B) in place (row-major, n % nr == 0) */
    T *a_packed;         /* op(A) rows [row0, row0 + rows) packed, KC block by KC block */
    int64_t row0, rows, rows_pad;
    /* the tasks: tiles_m x tiles_n blocks of C, splitting the slab's MR-row slivers and
     * the NR-column slivers as evenly as whole slivers allow */
    int64_t tiles_m, tiles_n, slivers_m, slivers_n;
};

/* A per-thread buffer of at least count elements, 64-byte aligned: *buffer, grown on
 * demand and kept for the thread's life (NULL when out of memory). */
static T *GEMM_NAME(grow)(T **buffer, size_t *size, size_t count)
{
    if (count > *size) {
        free(*buffer);
        *buffer = NULL;
        *size = 0;
        void *p = NULL;
        if (posix_memalign(&p, 64, count * sizeof(T)) != 0) return NULL;
        *buffer = (T *)p;
        *size = count;
    }
    return *buffer;
}

/* Each thread's packed-B slivers and edge tile (block), and the caller's packed A,
 * which the workers read. */
static __thread T *GEMM_NAME(b_buffer), *GEMM_NAME(a_buffer);
static __thread size_t GEMM_NAME(b_buffer_size), GEMM_NAME(a_buffer_size);

/* C[i, j] for a finished block: the scalar epilogue of the tiles the SIMD kernel does
 * not finish (edges) or cannot (sigmoid, tanh). */
static void GEMM_NAME(finish)(const struct GEMM_NAME(problem) *pr, int64_t i0, int64_t rows,
                              int64_t j0, int64_t cols, int bias_done)
{
    const T *bias = pr->bias && !bias_done ? pr->bias + j0 : NULL;
    for (int64_t i = 0; i < rows; ++i) {
        T *row = pr->c + (i0 + i) * pr->ldc + j0;
        GEMM_NAME(epilogue_row)(row, row, bias, cols, pr->act, pr->slope);
    }
}

/* One block of C, rows [i0, i1) x columns [j0, j1), over the whole k. */
static void GEMM_NAME(block)(const struct GEMM_NAME(problem) *pr, int64_t i0, int64_t i1,
                             int64_t j0, int64_t j1)
{
    const struct GEMM_NAME(kernel) *kern = pr->kern;
    const int mr = kern->mr, nr = kern->nr;
    const int64_t k = pr->k;
    const int64_t kc_max = k < kern->kc ? k : kern->kc;
    const int64_t mc_max = kern->mc, nc_max = kern->nc;
    /* the SIMD epilogue does bias, relu and leaky_relu; sigmoid and tanh are finished here */
    const int simd_act = pr->act == GEMM_ACT_RELU || pr->act == GEMM_ACT_LEAKY ? pr->act : 0;
    T *b_pack = GEMM_NAME(grow)(&GEMM_NAME(b_buffer), &GEMM_NAME(b_buffer_size),
                                (size_t)(nc_max + nr) * kc_max + (size_t)mr * nr);
    if (!b_pack) { /* out of memory: reported by the caller */
        *pr->failed = 1;
        return;
    }
    T *edge = b_pack + (size_t)(nc_max + nr) * kc_max;

    for (int64_t jc = j0; jc < j1; jc += nc_max) {
        int64_t nc = j1 - jc < nc_max ? j1 - jc : nc_max;
        for (int64_t pc = 0; pc < k; pc += kc_max) {
            int64_t kc = k - pc < kc_max ? k - pc : kc_max;
            int first = pc == 0, last = pc + kc == k;
            const T *bsrc;
            int64_t ldb;
            if (pr->pack_b) {
                T *sums = pr->sum_b && i0 == 0 && pr->row0 == 0 ? pr->sum_b + jc : NULL;
                if (pr->bt.mask || sums || pr->bt.rs != 1)
                    GEMM_NAME(pack)(&pr->bt, jc, nc, pc, kc, nr, b_pack, sums, pr->mask_act,
                                    pr->slope);
                else { /* op(B) row-major: copy runs of its rows */
                    struct GEMM_NAME(operand) b = {pr->bt.p, NULL, pr->bt.cs, 1};
                    GEMM_NAME(pack_rows)(&b, pc, kc, jc, nc, nr, b_pack);
                }
                bsrc = b_pack;
                ldb = nr;
            } else {
                bsrc = pr->bt.p + pc * pr->bt.cs + jc;
                ldb = pr->bt.cs;
            }
            for (int64_t ic = i0; ic < i1; ic += mc_max) {
                int64_t mc = i1 - ic < mc_max ? i1 - ic : mc_max;
                const T *a_pack = pr->a_packed + pc * pr->rows_pad + (ic - pr->row0) * kc;
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    int cols = nc - jr < nr ? (int)(nc - jr) : nr;
                    const T *bs = pr->pack_b ? bsrc + jr * kc : bsrc + jr;
                    const T *bias = pr->bias && last ? pr->bias + jc + jr : NULL;
                    for (int64_t ir = 0; ir < mc; ir += mr) {
                        int rows = mc - ir < mr ? (int)(mc - ir) : mr;
                        T *c = pr->c + (ic + ir) * pr->ldc + jc + jr;
                        const T *as = a_pack + ir * kc;
                        if (rows == mr && cols == nr) {
                            kern->ukr(kc, as, bs, ldb, c, pr->ldc, !first, bias,
                                      last ? simd_act : 0, pr->slope);
                        } else {
                            kern->ukr(kc, as, bs, ldb, edge, nr, 0, NULL, 0, pr->slope);
                            for (int i = 0; i < rows; ++i)
                                for (int j = 0; j < cols; ++j) {
                                    T v = edge[i * nr + j];
                                    c[i * pr->ldc + j] = first ? v : c[i * pr->ldc + j] + v;
                                }
                            if (last)
                                GEMM_NAME(finish)(pr, ic + ir, rows, jc + jr, cols, 0);
                        }
                        if (last && rows == mr && cols == nr && simd_act != pr->act)
                            GEMM_NAME(finish)(pr, ic + ir, rows, jc + jr, cols, 1);
                    }
                }
            }
        }
    }
}

static void GEMM_NAME(run_tasks)(const void *ctx, int64_t lo, int64_t hi)
{
    const struct GEMM_NAME(problem) *pr = (const struct GEMM_NAME(problem) *)ctx;
    const int64_t mr = pr->kern->mr, nr = pr->kern->nr;
    for (int64_t t = lo; t < hi; ++t) {
        int64_t ti = t / pr->tiles_n, tj = t % pr->tiles_n;
        int64_t i0 = ti * pr->slivers_m / pr->tiles_m * mr;
        int64_t i1 = (ti + 1) * pr->slivers_m / pr->tiles_m * mr;
        int64_t j0 = tj * pr->slivers_n / pr->tiles_n * nr;
        int64_t j1 = (tj + 1) * pr->slivers_n / pr->tiles_n * nr;
        if (i1 > pr->rows) i1 = pr->rows;
        if (j1 > pr->n) j1 = pr->n;
        if (i0 < i1 && j0 < j1) GEMM_NAME(block)(pr, pr->row0 + i0, pr->row0 + i1, j0, j1);
    }
}

/* Slivers of A packed per task of the packing pass. */
#define GEMM_PACK_SLIVERS 4

/* The packing pass: slivers [lo, hi) of the rows in hand, every KC block, with the
 * prologue and the row sums (each row is one task's, so the sums need no lock). */
static void GEMM_NAME(pack_a_tasks)(const void *ctx, int64_t lo, int64_t hi)
{
    const struct GEMM_NAME(problem) *pr = (const struct GEMM_NAME(problem) *)ctx;
    const int mr = pr->kern->mr;
    const int64_t kc_max = pr->k < pr->kern->kc ? pr->k : pr->kern->kc;
    int64_t r0 = lo * GEMM_PACK_SLIVERS * mr, r1 = hi * GEMM_PACK_SLIVERS * mr;
    if (r1 > pr->rows) r1 = pr->rows;
    for (int64_t pc = 0; pc < pr->k; pc += kc_max) {
        int64_t kc = pr->k - pc < kc_max ? pr->k - pc : kc_max;
        T *sums = pr->sum_a ? pr->sum_a + pr->row0 + r0 : NULL;
        GEMM_NAME(pack)(&pr->a, pr->row0 + r0, r1 - r0, pc, kc, mr,
                        pr->a_packed + pc * pr->rows_pad + r0 * kc, sums, pr->mask_act,
                        pr->slope);
    }
}

/* The dot-product path: C = act(A B + bias) with A (m, k) and B stored (n, k), both
 * row-major, so no operand is packed (packing B, the whole weight matrix, would cost
 * as much as the product at a small batch). Tasks are groups of B rows; each sweeps
 * all of A with a few B rows held in L1. */
#define GEMM_DOT_GROUP 8 /* B row blocks per task */
#define GEMM_DOT_MAX_TILE 32 /* dot_mi * dot_nj at most */

static void GEMM_NAME(dot_tasks)(const void *ctx, int64_t lo, int64_t hi)
{
    const struct GEMM_NAME(problem) *pr = (const struct GEMM_NAME(problem) *)ctx;
    const int64_t m = pr->m, n = pr->n, k = pr->k;
    const int mi = pr->kern->dot_mi, nj = pr->kern->dot_nj;
    int64_t j_end = hi * GEMM_DOT_GROUP * nj;
    if (j_end > n) j_end = n;
    T tile[GEMM_DOT_MAX_TILE];
    const T *arows[GEMM_DOT_MAX_TILE], *brows[GEMM_DOT_MAX_TILE];
    for (int64_t j0 = lo * GEMM_DOT_GROUP * nj; j0 < j_end; j0 += nj) {
        int cols = n - j0 < nj ? (int)(n - j0) : nj;
        for (int j = 0; j < nj; ++j) /* past the edge: repeat the last row */
            brows[j] = pr->bt.p + (j0 + (j < cols ? j : cols - 1)) * pr->bt.rs;
        for (int64_t i0 = 0; i0 < m; i0 += mi) {
            int rows = m - i0 < mi ? (int)(m - i0) : mi;
            for (int i = 0; i < mi; ++i)
                arows[i] = pr->a.p + (i0 + (i < rows ? i : rows - 1)) * pr->a.rs;
            pr->kern->dot(k, arows, brows, tile);
            const T *bias = pr->bias ? pr->bias + j0 : NULL;
            for (int i = 0; i < rows; ++i)
                GEMM_NAME(epilogue_row)(pr->c + (i0 + i) * pr->ldc + j0, tile + i * nj, bias,
                                        cols, pr->act, pr->slope);
        }
    }
}

/* Round x up to a multiple of q. */
static int64_t GEMM_NAME(round_up)(int64_t x, int64_t q) { return (x + q - 1) / q * q; }

static int GEMM_NAME(gemm)(const struct GEMM_NAME(kernel) *kern, int64_t m, int64_t n,
                            int64_t k, const T *a, int64_t lda, int trans_a, const T *mask_a,
                            T *sum_a, const T *b, int64_t ldb, int trans_b, const T *mask_b,
                            T *sum_b, int mask_act, double slope, const T *bias, int act, T *c,
                            int64_t ldc, int nthreads)
{
    int failed = 0;
    if (sum_a)
        for (int64_t i = 0; i < m; ++i) sum_a[i] = 0;
    if (sum_b)
        for (int64_t j = 0; j < n; ++j) sum_b[j] = 0;
    struct GEMM_NAME(problem) pr;
    pr.kern = kern;
    pr.m = m;
    pr.n = n;
    pr.k = k;
    pr.a.p = a;
    pr.a.mask = mask_a;
    pr.a.rs = trans_a ? 1 : lda;
    pr.a.cs = trans_a ? lda : 1;
    /* op(B)^T (n x k): element (j, p) is op(B)[p, j] */
    pr.bt.p = b;
    pr.bt.mask = mask_b;
    pr.bt.rs = trans_b ? ldb : 1;
    pr.bt.cs = trans_b ? 1 : ldb;
    pr.sum_a = sum_a;
    pr.sum_b = sum_b;
    pr.mask_act = mask_act;
    pr.slope = (T)slope;
    pr.bias = bias;
    pr.act = act;
    pr.c = c;
    pr.ldc = ldc;
    pr.failed = &failed;
    if (m <= 0 || n <= 0) { /* no C, but the sums of the other operand are still asked for */
        if (sum_a && n <= 0) GEMM_NAME(sums)(&pr.a, m, k, sum_a, mask_act, pr.slope);
        if (sum_b && m <= 0) GEMM_NAME(sums)(&pr.bt, n, k, sum_b, mask_act, pr.slope);
        return 0;
    }
    if (k == 0) { /* C = act(bias), sums stay 0 */
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = 0;
        GEMM_NAME(finish)(&pr, 0, m, 0, n, 0);
        return 0;
    }
    int threads = nthreads < 1 ? 1 : nthreads;
    if (m * n * k < GEMM_MIN_PARALLEL) threads = 1;

    if (kern->dot && trans_b && !trans_a && !mask_a && !mask_b && !sum_a && !sum_b &&
        m <= GEMM_DOT_MAX_M) {
        int64_t per_task = GEMM_DOT_GROUP * kern->dot_nj;
        int64_t groups = (n + per_task - 1) / per_task;
        if (threads > 1 && groups > 1)
            fastdl_parallel_tasks(groups, threads, GEMM_NAME(dot_tasks), &pr);
        else
            GEMM_NAME(dot_tasks)(&pr, 0, groups);
        return 0;
    }

    /* op(B) read in place when it is row-major and whole slivers: packing would copy
     * k x n elements to save little when m is small; otherwise packed. */
    pr.pack_b = trans_b || mask_b || sum_b || n % kern->nr != 0 || m > kern->mc;

    /* A is packed once, by all threads, a slab of rows at a time (the slab's packed
     * size capped at GEMM_SLAB_BYTES); then the tasks, blocks of the slab's rows of C,
     * share it. The blocks split n first (each packs only its own columns of B), then m. */
    int64_t slab = (int64_t)(GEMM_SLAB_BYTES / sizeof(T)) / k / kern->mr * kern->mr;
    if (slab < kern->mr) slab = kern->mr;
    for (pr.row0 = 0; pr.row0 < m; pr.row0 += slab) {
        pr.rows = m - pr.row0 < slab ? m - pr.row0 : slab;
        pr.rows_pad = GEMM_NAME(round_up)(pr.rows, kern->mr);
        pr.a_packed = GEMM_NAME(grow)(&GEMM_NAME(a_buffer), &GEMM_NAME(a_buffer_size),
                                      (size_t)pr.rows_pad * k);
        if (!pr.a_packed) return -1;
        int64_t pack_tasks = (pr.rows_pad / kern->mr + GEMM_PACK_SLIVERS - 1) / GEMM_PACK_SLIVERS;
        if (threads > 1 && pack_tasks > 1)
            fastdl_parallel_tasks(pack_tasks, threads, GEMM_NAME(pack_a_tasks), &pr);
        else
            GEMM_NAME(pack_a_tasks)(&pr, 0, pack_tasks);

        pr.slivers_m = pr.rows_pad / kern->mr;
        pr.slivers_n = GEMM_NAME(round_up)(n, kern->nr) / kern->nr;
        pr.tiles_m = pr.tiles_n = 1;
        if (threads > 1) {
            int64_t want = 2 * (int64_t)threads; /* two tasks each, for balance */
            pr.tiles_n = pr.slivers_n < want ? pr.slivers_n : want;
            if (pr.tiles_n < want) {
                int64_t split_m = (want + pr.tiles_n - 1) / pr.tiles_n;
                pr.tiles_m = pr.slivers_m < split_m ? pr.slivers_m : split_m;
            }
        }
        int64_t tiles = pr.tiles_m * pr.tiles_n;
        if (threads > 1 && tiles > 1)
            fastdl_parallel_tasks(tiles, threads, GEMM_NAME(run_tasks), &pr);
        else
            GEMM_NAME(block)(&pr, pr.row0, pr.row0 + pr.rows, 0, n);
    }
    return failed ? -1 : 0;
}

/* The portable kernel: plain C over a 4 x 8 tile that the compiler vectorises for the
 * baseline instruction set. */
#define GEMM_PORTABLE_MR 4
#define GEMM_PORTABLE_NR 8
static void GEMM_NAME(ukr_portable)(int64_t kc, const T *a, const T *b, int64_t ldb, T *c,
                                    int64_t ldc, int accumulate, const T *bias, int act,
                                    T slope)
{
    T acc[GEMM_PORTABLE_MR][GEMM_PORTABLE_NR] = {{0}};
    for (int64_t p = 0; p < kc; ++p) {
        const T *bp = b + p * ldb;
        const T *ap = a + p * GEMM_PORTABLE_MR;
        for (int i = 0; i < GEMM_PORTABLE_MR; ++i)
            for (int j = 0; j < GEMM_PORTABLE_NR; ++j) acc[i][j] += ap[i] * bp[j];
    }
    for (int i = 0; i < GEMM_PORTABLE_MR; ++i)
        for (int j = 0; j < GEMM_PORTABLE_NR; ++j) {
            T v = acc[i][j];
            if (accumulate) v += c[i * ldc + j];
            if (bias) v += bias[j];
            c[i * ldc + j] = GEMM_NAME(activate)(v, act, slope);
        }
}

#undef GEMM_CAT2
#undef GEMM_CAT
#undef GEMM_NAME
