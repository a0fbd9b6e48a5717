/* Packed, cache-blocked GEMM with a fused prologue and epilogue (fastdl_gemm_*).
 *
 * The GotoBLAS/BLIS structure: C is cut into blocks (the tasks the threads take, see
 * gemm_impl.h); within a block, loops over NC columns, KC of the inner dimension and
 * MC rows pack op(A) into MR-row slivers (an MC x KC block that stays in L2) and op(B)
 * into NR-column slivers (KC x NR, in L1 while a column of tiles is computed), and a
 * register-blocked microkernel computes each MR x NR tile of C with its accumulators
 * in vector registers. The microkernels are written with intrinsics per instruction
 * set and chosen at run time (no -march=native: the build runs on any x86-64):
 *
 *   AVX-512F  float 12 x 32, double 12 x 16   (24 zmm accumulators)
 *   AVX2+FMA  float  6 x 16, double  6 x 8    (12 ymm accumulators)
 *   portable  4 x 8 plain C, vectorised by the compiler for the baseline
 *
 * Fusions, which the training step wants and BLAS cannot do:
 *   - epilogue: bias (per column) and relu / leaky_relu are applied to the tile in
 *     registers at its last store; sigmoid and tanh right after, while it is in L1.
 *   - prologue: an operand can be multiplied by an activation's derivative (given
 *     the activation's output) as it is packed, so the backward of a dense layer
 *     needs no separate pass over grad_out, and the operand's sums over k (the
 *     bias gradient) are taken in the same pass.
 *
 * When op(B) is row-major, its column count a multiple of NR and m small (a batch),
 * B is read in place instead of packed: packing would copy k x n elements (the whole
 * weight matrix) to serve a handful of rows.
 *
 * Threads come from parallel.c's pool: the tasks are blocks of C taken from a shared
 * counter, so a thread that starts late (its core busy with an OpenBLAS spinner or a
 * neighbour) takes fewer blocks instead of stalling the call.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fastdl_cext.h"
#include "parallel.h"

enum {
    GEMM_ACT_NONE = 0,
    GEMM_ACT_RELU = 1,
    GEMM_ACT_LEAKY = 2,
    GEMM_ACT_SIGMOID = 3,
    GEMM_ACT_TANH = 4
};

/* The dot-product path serves batches up to this many rows; beyond, packing B pays. */
#ifndef GEMM_DOT_MAX_M
#define GEMM_DOT_MAX_M 512
#endif
/* Products of fewer multiply-adds (m n k) run on one thread: under ~40 us of work a
 * second thread saved little, and it competes with OpenBLAS's waiting threads in
 * steps that mix the two (LeNet's convolutions and small dense layers). */
#ifndef GEMM_MIN_PARALLEL
#define GEMM_MIN_PARALLEL ((int64_t)1 << 22)
#endif
/* Packed A is made a slab of rows at a time, at most this large. */
#define GEMM_SLAB_BYTES ((size_t)32 << 20)

#define T float
#define SUF f32
#include "gemm_impl.h"
#undef T
#undef SUF

#define T double
#define SUF f64
#include "gemm_impl.h"
#undef T
#undef SUF

#if defined(__GNUC__) && defined(__x86_64__) && !defined(FASTDL_NO_CLONES)
#define FASTDL_GEMM_X86 1
#include <immintrin.h>

/* A register-blocked microkernel: acc[MR][NV] vectors of W elements. The loops have
 * constant bounds and are fully unrolled, so the accumulators live in registers. */
#define GEMM_UKR(NAME, TARGET, T, V, MR, NV, W, SETZERO, LOAD, STORE, SET1, FMADD, ADD, MAX, LEAKY) \
    __attribute__((target(TARGET))) static void NAME(int64_t kc, const T *a, const T *b,            \
                                                     int64_t ldb, T *c, int64_t ldc,                 \
                                                     int accumulate, const T *bias, int act,         \
                                                     T slope)                                        \
    {                                                                                                \
        V acc[MR][NV];                                                                               \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; ++i)                                        \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[i][v] = SETZERO();              \
        for (int64_t p = 0; p < kc; ++p) {                                                           \
            V bv[NV];                                                                                \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) bv[v] = LOAD(b + v * W);            \
            _Pragma("GCC unroll 16") for (int i = 0; i < MR; ++i)                                    \
            {                                                                                        \
                V ai = SET1(a[i]);                                                                   \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v)                                 \
                    acc[i][v] = FMADD(ai, bv[v], acc[i][v]);                                         \
            }                                                                                        \
            a += MR;                                                                                 \
            b += ldb;                                                                                \
        }                                                                                            \
        V zero = SETZERO(), vslope = SET1(slope);                                                    \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; ++i)                                        \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v)                                     \
        {                                                                                            \
            T *dst = c + i * ldc + v * W;                                                            \
            V r = acc[i][v];                                                                         \
            if (accumulate) r = ADD(r, LOAD(dst));                                                   \
            if (bias) r = ADD(r, LOAD(bias + v * W));                                                \
            if (act == GEMM_ACT_RELU)                                                                \
                r = MAX(zero, r); /* the second operand when either is NaN: NaN stays */             \
            else if (act == GEMM_ACT_LEAKY)                                                          \
                r = LEAKY(r, zero, vslope);                                                          \
            STORE(dst, r);                                                                           \
        }                                                                                            \
    }

/* A dot-product microkernel: MI x NJ accumulators of W lanes along k (MI x NJ + MI + 1
 * vector registers: the MI rows of A, then one row of B at a time), summed across
 * lanes at the end; the k % W tail in scalar code. */
#define GEMM_DOT(NAME, TARGET, T, V, W, MI, NJ, SETZERO, LOAD, FMADD, HSUM)                    \
    __attribute__((target(TARGET))) static void NAME(int64_t k, const T *const *a,              \
                                                     const T *const *b, T *out)                 \
    {                                                                                           \
        V acc[MI][NJ];                                                        \
        _Pragma("GCC unroll 8") for (int i = 0; i < MI; ++i)                           \
            _Pragma("GCC unroll 8") for (int j = 0; j < NJ; ++j) acc[i][j] = SETZERO(); \
        int64_t p = 0;                                                                          \
        for (; p + W <= k; p += W) {                                                            \
            V av[MI];                                                                  \
            _Pragma("GCC unroll 8") for (int i = 0; i < MI; ++i) av[i] = LOAD(a[i] + p); \
            _Pragma("GCC unroll 8") for (int j = 0; j < NJ; ++j)                       \
            {                                                                                   \
                V bv = LOAD(b[j] + p);                                                          \
                _Pragma("GCC unroll 8") for (int i = 0; i < MI; ++i)                   \
                    acc[i][j] = FMADD(av[i], bv, acc[i][j]);                                    \
            }                                                                                   \
        }                                                                                       \
        for (int i = 0; i < MI; ++i)                                                   \
            for (int j = 0; j < NJ; ++j) {                                             \
                T total = HSUM(acc[i][j]);                                                      \
                for (int64_t q = p; q < k; ++q) total += a[i][q] * b[j][q];                     \
                out[i * NJ + j] = total;                                               \
            }                                                                                   \
    }

__attribute__((target("avx2"))) static inline float hsum256_ps(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
    return _mm_cvtss_f32(x);
}
__attribute__((target("avx2"))) static inline double hsum256_pd(__m256d v)
{
    __m128d x = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    x = _mm_add_sd(x, _mm_unpackhi_pd(x, x));
    return _mm_cvtsd_f64(x);
}

GEMM_DOT(dot_avx512_f32, "avx512f", float, __m512, 16, 4, 6, _mm512_setzero_ps, _mm512_loadu_ps,
         _mm512_fmadd_ps, _mm512_reduce_add_ps)
GEMM_DOT(dot_avx512_f64, "avx512f", double, __m512d, 8, 4, 6, _mm512_setzero_pd, _mm512_loadu_pd,
         _mm512_fmadd_pd, _mm512_reduce_add_pd)
GEMM_DOT(dot_avx2_f32, "avx2,fma", float, __m256, 8, 3, 3, _mm256_setzero_ps, _mm256_loadu_ps,
         _mm256_fmadd_ps, hsum256_ps)
GEMM_DOT(dot_avx2_f64, "avx2,fma", double, __m256d, 4, 3, 3, _mm256_setzero_pd, _mm256_loadu_pd,
         _mm256_fmadd_pd, hsum256_pd)

__attribute__((target("avx512f"))) static inline __m512 leaky512_ps(__m512 r, __m512 zero,
                                                                    __m512 slope)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(r, zero, _CMP_GT_OQ), _mm512_mul_ps(slope, r), r);
}
__attribute__((target("avx512f"))) static inline __m512d leaky512_pd(__m512d r, __m512d zero,
                                                                     __m512d slope)
{
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(r, zero, _CMP_GT_OQ), _mm512_mul_pd(slope, r), r);
}
__attribute__((target("avx2"))) static inline __m256 leaky256_ps(__m256 r, __m256 zero,
                                                                 __m256 slope)
{
    return _mm256_blendv_ps(_mm256_mul_ps(slope, r), r, _mm256_cmp_ps(r, zero, _CMP_GT_OQ));
}
__attribute__((target("avx2"))) static inline __m256d leaky256_pd(__m256d r, __m256d zero,
                                                                  __m256d slope)
{
    return _mm256_blendv_pd(_mm256_mul_pd(slope, r), r, _mm256_cmp_pd(r, zero, _CMP_GT_OQ));
}

GEMM_UKR(ukr_avx512_f32, "avx512f", float, __m512, 12, 2, 16, _mm512_setzero_ps, _mm512_loadu_ps,
         _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_max_ps,
         leaky512_ps)
GEMM_UKR(ukr_avx512_f64, "avx512f", double, __m512d, 12, 2, 8, _mm512_setzero_pd,
         _mm512_loadu_pd, _mm512_storeu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd,
         _mm512_max_pd, leaky512_pd)
GEMM_UKR(ukr_avx2_f32, "avx2,fma", float, __m256, 6, 2, 8, _mm256_setzero_ps, _mm256_loadu_ps,
         _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_max_ps,
         leaky256_ps)
GEMM_UKR(ukr_avx2_f64, "avx2,fma", double, __m256d, 6, 2, 4, _mm256_setzero_pd,
         _mm256_loadu_pd, _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd,
         _mm256_max_pd, leaky256_pd)
#endif

#ifndef GEMM_KC_512
#define GEMM_KC_512 256
#endif
#ifndef GEMM_MC_512
#define GEMM_MC_512 384
#endif

/* Kernels by level (0 portable, 2 AVX2+FMA, 3 AVX-512F; 1 is unused, as SSE2 is the
 * portable baseline on x86-64). KC x NR of B fits L1 and MC x KC of A about half of L2. */
static const struct kernel_f32 kernels_f32[4] = {
    {ukr_portable_f32, GEMM_PORTABLE_MR, GEMM_PORTABLE_NR, 256, 128, 1024, NULL, 0, 0},
    {0, 0, 0, 0, 0, 0, NULL, 0, 0},
#ifdef FASTDL_GEMM_X86
    {ukr_avx2_f32, 6, 16, 256, 192, 1024, dot_avx2_f32, 3, 3},
    {ukr_avx512_f32, 12, 32, GEMM_KC_512, GEMM_MC_512, 1024, dot_avx512_f32, 4, 6},
#endif
};
static const struct kernel_f64 kernels_f64[4] = {
    {ukr_portable_f64, GEMM_PORTABLE_MR, GEMM_PORTABLE_NR, 256, 64, 512, NULL, 0, 0},
    {0, 0, 0, 0, 0, 0, NULL, 0, 0},
#ifdef FASTDL_GEMM_X86
    {ukr_avx2_f64, 6, 8, 256, 96, 512, dot_avx2_f64, 3, 3},
    {ukr_avx512_f64, 12, 16, 256, 192, 512, dot_avx512_f64, 4, 6},
#endif
};

static int gemm_level = -1; /* chosen on first use */

static int gemm_level_supported(int level)
{
#ifdef FASTDL_GEMM_X86
    __builtin_cpu_init();
    switch (level) {
    case 0: return 1;
    case 2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case 3: return __builtin_cpu_supports("avx512f");
    default: return 0;
    }
#else
    return level == 0;
#endif
}

int fastdl_gemm_select(int level)
{
    if (level < 0) {
        level = 3;
        while (!gemm_level_supported(level)) --level;
    } else if (level > 3 || !gemm_level_supported(level)) {
        return -1;
    }
    gemm_level = level;
    return level;
}

int fastdl_gemm_level(void)
{
    if (gemm_level < 0) fastdl_gemm_select(-1);
    return gemm_level;
}

int fastdl_gemm_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, int trans_a,
                    const float *mask_a, float *sum_a, const float *b, int64_t ldb, int trans_b,
                    const float *mask_b, float *sum_b, int mask_act, double slope,
                    const float *bias, int act, float *c, int64_t ldc, int nthreads)
{
    return gemm_f32(&kernels_f32[fastdl_gemm_level()], m, n, k, a, lda, trans_a, mask_a, sum_a, b,
                    ldb, trans_b, mask_b, sum_b, mask_act, slope, bias, act, c, ldc, nthreads);
}

int fastdl_gemm_f64(int64_t m, int64_t n, int64_t k, const double *a, int64_t lda, int trans_a,
                    const double *mask_a, double *sum_a, const double *b, int64_t ldb,
                    int trans_b, const double *mask_b, double *sum_b, int mask_act, double slope,
                    const double *bias, int act, double *c, int64_t ldc, int nthreads)
{
    return gemm_f64(&kernels_f64[fastdl_gemm_level()], m, n, k, a, lda, trans_a, mask_a, sum_a, b,
                    ldb, trans_b, mask_b, sum_b, mask_act, slope, bias, act, c, ldc, nthreads);
}
