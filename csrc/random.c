/* Counter-based random numbers: the Philox 4x32-10 stream (spec/random.py: philox_uint32,
 * philox_uniform, philox_normal, philox_bernoulli), the C twin of
 * fastdl/backends/reference/random.py and fastdl/backends/cpu/random.py.
 *
 * Word w of the stream keyed by seed is lane w % 4 of the Philox block whose
 * counter is c = w / 4 laid out as (c low 32, c high 32, 0, 0), with key
 * (seed low 32, seed high 32).  Raw words, uniforms and Bernoulli masks are the
 * same bits as the other backends'; normals may differ in the last bits (their
 * log, sin and cos are box_muller's, not libm's).
 *
 * philox_batch computes BATCH consecutive blocks, one block per SIMD lane: the
 * rounds are straight-line code, and each 32x32 -> 64-bit product is one pmuludq
 * (two, four or eight blocks per instruction with the SSE2, AVX2 or AVX-512F
 * code, chosen at run time; portable C elsewhere).  The words go to a small
 * buffer that stays in L1, and a second, vectorised loop turns them into floats.
 *
 * Large outputs are split across nthreads threads (parallel.c); each element
 * depends on its index alone, so the split does not change any bit.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "clones.h"
#include "fastdl_cext.h"
#include "parallel.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* Blocks per batch: 256 words, 1 KiB. */
#define BATCH 64
#define BATCH_WORDS (4 * BATCH)
/* Words per conversion chunk: 4 KiB, a multiple of BATCH_WORDS. */
#define CHUNK_WORDS 1024

#define TWO_POW_M24 (1.0 / 16777216.0)
#define TWO_POW_M53 (1.0 / 9007199254740992.0)
#define TWO_POW_26 67108864.0
#define TWO_PI 6.283185307179586 /* 2 * math.pi, as the other backends use it */

/* One round on lanes (a0, a1, a2, a3) with round keys (K0, K1). */
#define PHILOX_ROUND(K0, K1)                                        \
    do {                                                            \
        uint64_t p0 = (uint64_t)a0 * PHILOX_M0;                     \
        uint64_t p1 = (uint64_t)a2 * PHILOX_M1;                     \
        uint32_t b0 = (uint32_t)(p1 >> 32) ^ a1 ^ (K0);             \
        uint32_t b2 = (uint32_t)(p0 >> 32) ^ a3 ^ (K1);             \
        a1 = (uint32_t)p1;                                          \
        a3 = (uint32_t)p0;                                          \
        a0 = b0;                                                    \
        a2 = b2;                                                    \
    } while (0)

/* The ten round keys: key + r * (W0, W1), modulo 2^32. */
struct philox_key {
    uint32_t k0[10], k1[10];
};

static struct philox_key philox_schedule(uint64_t seed)
{
    struct philox_key key;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; ++r) {
        key.k0[r] = k0;
        key.k1[r] = k1;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    return key;
}

/* words[4j + lane] = lane of the block with counter c + j, j < BATCH: portable C. */
static void philox_batch_c(const struct philox_key *key, uint64_t c, uint32_t *restrict words)
{
    for (int j = 0; j < BATCH; ++j) {
        uint64_t cj = c + (uint64_t)j;
        uint32_t a0 = (uint32_t)cj, a1 = (uint32_t)(cj >> 32), a2 = 0, a3 = 0;
        for (int r = 0; r < 10; ++r) PHILOX_ROUND(key->k0[r], key->k1[r]);
        words[4 * j] = a0;
        words[4 * j + 1] = a1;
        words[4 * j + 2] = a2;
        words[4 * j + 3] = a3;
    }
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(FASTDL_NO_CLONES)
/* x86-64: the same batch on SIMD registers, chosen at run time (philox_batch).
 * GCC 12 vectorises philox_batch_c, but with a three-multiply emulation of a
 * 64-bit product for every 32x32 -> 64 one; pmuludq is that product.  Each 64-bit
 * lane holds one block's 32-bit word in its low half: pmuludq reads only low
 * halves, so the high halves may hold garbage, and only low halves are stored. */
#include <immintrin.h>
#define FASTDL_PHILOX_SIMD 1

#define SIMD_ROUND(MUL, SRL, XOR, K0, K1)                 \
    do {                                                  \
        V p0 = MUL(x0, m0);                               \
        V p1 = MUL(x2, m1);                               \
        x0 = XOR(XOR(SRL(p1, 32), x1), K0);               \
        x2 = XOR(XOR(SRL(p0, 32), x3), K1);               \
        x1 = p1;                                          \
        x3 = p0;                                          \
    } while (0)

#define SIMD_ROUNDS(MUL, SRL, XOR)                        \
    for (int r = 0; r < 10; ++r) SIMD_ROUND(MUL, SRL, XOR, k0[r], k1[r])

static void philox_batch_sse2(const struct philox_key *key, uint64_t c, uint32_t *restrict words)
{
    typedef __m128i V;
    V k0[10], k1[10];
    for (int r = 0; r < 10; ++r) {
        k0[r] = _mm_set1_epi64x((long long)key->k0[r]);
        k1[r] = _mm_set1_epi64x((long long)key->k1[r]);
    }
    const V m0 = _mm_set1_epi64x(PHILOX_M0), m1 = _mm_set1_epi64x(PHILOX_M1);
    const V low = _mm_set1_epi64x(0xFFFFFFFFll);
    V counter = _mm_add_epi64(_mm_set1_epi64x((long long)c), _mm_set_epi64x(1, 0));
    for (int j = 0; j < BATCH; j += 2) {
        V x0 = counter, x1 = _mm_srli_epi64(counter, 32);
        V x2 = _mm_setzero_si128(), x3 = _mm_setzero_si128();
        SIMD_ROUNDS(_mm_mul_epu32, _mm_srli_epi64, _mm_xor_si128);
        V t01 = _mm_or_si128(_mm_and_si128(x0, low), _mm_slli_epi64(x1, 32));
        V t23 = _mm_or_si128(_mm_and_si128(x2, low), _mm_slli_epi64(x3, 32));
        _mm_storeu_si128((V *)(words + 4 * j), _mm_unpacklo_epi64(t01, t23));
        _mm_storeu_si128((V *)(words + 4 * j + 4), _mm_unpackhi_epi64(t01, t23));
        counter = _mm_add_epi64(counter, _mm_set1_epi64x(2));
    }
}

__attribute__((target("avx2"))) static void philox_batch_avx2(const struct philox_key *key,
                                                              uint64_t c,
                                                              uint32_t *restrict words)
{
    typedef __m256i V;
    V k0[10], k1[10];
    for (int r = 0; r < 10; ++r) {
        k0[r] = _mm256_set1_epi64x((long long)key->k0[r]);
        k1[r] = _mm256_set1_epi64x((long long)key->k1[r]);
    }
    const V m0 = _mm256_set1_epi64x(PHILOX_M0), m1 = _mm256_set1_epi64x(PHILOX_M1);
    V counter = _mm256_add_epi64(_mm256_set1_epi64x((long long)c), _mm256_set_epi64x(3, 2, 1, 0));
    for (int j = 0; j < BATCH; j += 4) {
        V x0 = counter, x1 = _mm256_srli_epi64(counter, 32);
        V x2 = _mm256_setzero_si256(), x3 = _mm256_setzero_si256();
        SIMD_ROUNDS(_mm256_mul_epu32, _mm256_srli_epi64, _mm256_xor_si256);
        /* 64-bit lane b of t01: (x0, x1) of block b; of t23: (x2, x3). */
        V t01 = _mm256_blend_epi32(x0, _mm256_slli_epi64(x1, 32), 0xAA);
        V t23 = _mm256_blend_epi32(x2, _mm256_slli_epi64(x3, 32), 0xAA);
        V even = _mm256_unpacklo_epi64(t01, t23); /* blocks 0, 2 */
        V odd = _mm256_unpackhi_epi64(t01, t23);  /* blocks 1, 3 */
        _mm256_storeu_si256((V *)(words + 4 * j), _mm256_permute2x128_si256(even, odd, 0x20));
        _mm256_storeu_si256((V *)(words + 4 * j + 8), _mm256_permute2x128_si256(even, odd, 0x31));
        counter = _mm256_add_epi64(counter, _mm256_set1_epi64x(4));
    }
}

__attribute__((target("avx512f"))) static void philox_batch_avx512(const struct philox_key *key,
                                                                   uint64_t c,
                                                                   uint32_t *restrict words)
{
    typedef __m512i V;
    V k0[10], k1[10];
    for (int r = 0; r < 10; ++r) {
        k0[r] = _mm512_set1_epi64((long long)key->k0[r]);
        k1[r] = _mm512_set1_epi64((long long)key->k1[r]);
    }
    const V m0 = _mm512_set1_epi64(PHILOX_M0), m1 = _mm512_set1_epi64(PHILOX_M1);
    const V first = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);  /* blocks 0-3 */
    const V second = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4); /* blocks 4-7 */
    V counter = _mm512_add_epi64(_mm512_set1_epi64((long long)c),
                                 _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
    for (int j = 0; j < BATCH; j += 8) {
        V x0 = counter, x1 = _mm512_srli_epi64(counter, 32);
        V x2 = _mm512_setzero_si512(), x3 = _mm512_setzero_si512();
        SIMD_ROUNDS(_mm512_mul_epu32, _mm512_srli_epi64, _mm512_xor_si512);
        V t01 = _mm512_mask_blend_epi32(0xAAAA, x0, _mm512_slli_epi64(x1, 32));
        V t23 = _mm512_mask_blend_epi32(0xAAAA, x2, _mm512_slli_epi64(x3, 32));
        V even = _mm512_unpacklo_epi64(t01, t23); /* blocks 0, 2, 4, 6 */
        V odd = _mm512_unpackhi_epi64(t01, t23);  /* blocks 1, 3, 5, 7 */
        _mm512_storeu_si512((void *)(words + 4 * j), _mm512_permutex2var_epi64(even, first, odd));
        _mm512_storeu_si512((void *)(words + 4 * j + 16),
                            _mm512_permutex2var_epi64(even, second, odd));
        counter = _mm512_add_epi64(counter, _mm512_set1_epi64(8));
    }
}
#endif

typedef void (*philox_batch_fn)(const struct philox_key *, uint64_t, uint32_t *restrict);

/* The batch in use: the widest this CPU runs, unless fastdl_philox_select chose
 * another (a benign race: every thread picks the same). */
static philox_batch_fn philox_batch_chosen;

static int philox_level_supported(int level)
{
#ifdef FASTDL_PHILOX_SIMD
    __builtin_cpu_init();
    switch (level) {
    case 0: case 1: return 1;
    case 2: return __builtin_cpu_supports("avx2");
    case 3: return __builtin_cpu_supports("avx512f");
    default: return 0;
    }
#else
    return level == 0;
#endif
}

int fastdl_philox_select(int level)
{
    static const philox_batch_fn batches[] = {
        philox_batch_c,
#ifdef FASTDL_PHILOX_SIMD
        philox_batch_sse2, philox_batch_avx2, philox_batch_avx512,
#endif
    };
    if (level < 0) {
        level = 3;
        while (!philox_level_supported(level)) --level;
    } else if (!philox_level_supported(level)) {
        return -1;
    }
    philox_batch_chosen = batches[level];
    return level;
}

int fastdl_philox_level(void)
{
    if (philox_batch_chosen == NULL) return fastdl_philox_select(-1);
#ifdef FASTDL_PHILOX_SIMD
    if (philox_batch_chosen == philox_batch_avx512) return 3;
    if (philox_batch_chosen == philox_batch_avx2) return 2;
    if (philox_batch_chosen == philox_batch_sse2) return 1;
#endif
    return 0;
}

static void philox_batch(const struct philox_key *key, uint64_t c, uint32_t *restrict words)
{
    if (philox_batch_chosen == NULL) fastdl_philox_select(-1);
    philox_batch_chosen(key, c, words);
}

/* dst[i] = word offset + k + i of the stream, i < n, k >= 0.  The word index is not
 * reduced modulo 2^64: its block is offset / 4 + (offset % 4 + k + i) / 4, as in the
 * reference (the generator never draws past word 2^64 anyway). */
static void philox_fill(const struct philox_key *key, uint64_t offset, int64_t k, int64_t n,
                        uint32_t *dst)
{
    uint32_t tmp[BATCH_WORDS];
    int64_t pos = (int64_t)(offset & 3u) + k; /* from the start of block offset / 4 */
    uint64_t base = offset >> 2;
    int64_t i = 0;
    int64_t lane = pos & 3;
    if (lane != 0 && n > 0) { /* head: the first word is inside a block */
        philox_batch(key, base + (uint64_t)(pos >> 2), tmp);
        i = BATCH_WORDS - lane < n ? BATCH_WORDS - lane : n;
        memcpy(dst, tmp + lane, (size_t)i * sizeof(uint32_t));
    }
    for (; n - i >= BATCH_WORDS; i += BATCH_WORDS) /* body: pos + i is block-aligned */
        philox_batch(key, base + (uint64_t)((pos + i) >> 2), dst + i);
    if (i < n) { /* tail */
        philox_batch(key, base + (uint64_t)((pos + i) >> 2), tmp);
        memcpy(dst + i, tmp, (size_t)(n - i) * sizeof(uint32_t));
    }
}

/* The uniform float64 of a word pair: 27 high bits of a, then 26 of b. */
static inline double uniform64(uint32_t a, uint32_t b)
{
    return ((double)(int32_t)(a >> 5) * TWO_POW_26 + (double)(int32_t)(b >> 6)) * TWO_POW_M53;
}

/* -- conversions of a chunk of words (L1-resident) ------------------------------- */

FASTDL_CLONES static void to_uniform_f32(const uint32_t *restrict w, int64_t n,
                                         float *restrict out)
{
    for (int64_t i = 0; i < n; ++i)
        out[i] = (float)(int32_t)(w[i] >> 8) * (float)TWO_POW_M24;
}

FASTDL_CLONES static void to_uniform_f64(const uint32_t *restrict w, int64_t n,
                                         double *restrict out)
{
    for (int64_t i = 0; i < n; ++i) out[i] = uniform64(w[2 * i], w[2 * i + 1]);
}

/* out[i] = (w[i] >> 8) < threshold: see bernoulli_threshold. */
#define FASTDL_MASK_DEFINE(SUFFIX, T)                                                    \
    FASTDL_CLONES static void to_mask_##SUFFIX(const uint32_t *restrict w, int64_t n,    \
                                               uint32_t threshold, T *restrict out)      \
    {                                                                                    \
        for (int64_t i = 0; i < n; ++i) out[i] = (T)((w[i] >> 8) < threshold);           \
    }

FASTDL_MASK_DEFINE(f32, float)
FASTDL_MASK_DEFINE(f64, double)

/* Box-Muller on a vector-friendly log, sin and cos: fdlibm's (as musl has them),
 * branch-free so that the loop over pairs vectorises (libm's calls do not; with
 * them 10M float32 normals took 130 ms here, three times torch's).  Each is within
 * an ulp or so of glibc's, which the Numba kernel calls: the spec lets normals
 * differ in the last bits. */

/* log(x) for normal x > 0 (u1 is in [2^-53, 1]): x = 2^k (1 + f), 1 + f in
 * [sqrt(2)/2, sqrt(2)), log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f). */
static inline double box_muller_log(double x)
{
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double lg1 = 6.666666666666735130e-01, lg2 = 3.999999999940941908e-01,
                 lg3 = 2.857142874366239149e-01, lg4 = 2.222219843214978396e-01,
                 lg5 = 1.818357216161805012e-01, lg6 = 1.531383769920937332e-01,
                 lg7 = 1.479819860511658591e-01;
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    uint32_t hx = (uint32_t)(bits >> 32) + (0x3ff00000u - 0x3fe6a09eu);
    int32_t k = (int32_t)(hx >> 20) - 0x3ff;
    hx = (hx & 0x000fffffu) + 0x3fe6a09eu;
    bits = (uint64_t)hx << 32 | (bits & 0xffffffffu);
    memcpy(&x, &bits, sizeof x);
    double f = x - 1.0;
    double hfsq = 0.5 * f * f;
    double s = f / (2.0 + f);
    double z = s * s;
    double w = z * z;
    double t1 = w * (lg2 + w * (lg4 + w * lg6));
    double t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)));
    double dk = (double)k;
    return s * (hfsq + (t2 + t1)) + dk * ln2_lo - hfsq + f + dk * ln2_hi;
}

/* sin and cos of 2 pi u, u in [0, 1): the quadrant q comes from u itself,
 * u - q / 4 is exact, and y = 2 pi (u - q / 4) lies in [-pi/4, pi/4]. */
static inline void box_muller_sincos(double u, double *sin_out, double *cos_out)
{
    const double s1 = -1.66666666666666324348e-01, s2 = 8.33333333332248946124e-03,
                 s3 = -1.98412698298579493134e-04, s4 = 2.75573137070700676789e-06,
                 s5 = -2.50507602534068634195e-08, s6 = 1.58969099521155010221e-10;
    const double c1 = 4.16666666666666019037e-02, c2 = -1.38888888888741095749e-03,
                 c3 = 2.48015872894767294178e-05, c4 = -2.75573143513906633035e-07,
                 c5 = 2.08757232129817482790e-09, c6 = -1.13596475577881948265e-11;
    int32_t q = (int32_t)(4.0 * u + 0.5);
    double y = TWO_PI * (u - 0.25 * (double)q);
    double z = y * y;
    double sin_y = y + (z * y) * (s1 + z * (s2 + z * (s3 + z * (s4 + z * (s5 + z * s6)))));
    double w = z * z;
    double r = z * (c1 + z * (c2 + z * c3)) + w * w * (c4 + z * (c5 + z * c6));
    double hz = 0.5 * z;
    double one_minus_hz = 1.0 - hz;
    double cos_y = one_minus_hz + (((1.0 - one_minus_hz) - hz) + z * r);
    /* theta = q pi/2 + y: (sin, cos) = (S, C), (C, -S), (-S, -C), (-C, S) for q % 4. */
    double sn = (q & 1) ? cos_y : sin_y;
    double cs = (q & 1) ? sin_y : cos_y;
    *sin_out = (q & 2) ? -sn : sn;
    *cos_out = ((q + 1) & 2) ? -cs : cs;
}

/* z[2j], z[2j + 1] from the word quadruple w[4j..4j+3], j < pairs. */
FASTDL_CLONES static void box_muller(const uint32_t *restrict w, int64_t pairs,
                                     double *restrict z)
{
    for (int64_t j = 0; j < pairs; ++j) {
        double u1 = 1.0 - uniform64(w[4 * j], w[4 * j + 1]);
        double u2 = uniform64(w[4 * j + 2], w[4 * j + 3]);
        double r = sqrt(-2.0 * box_muller_log(u1));
        double sn, cs;
        box_muller_sincos(u2, &sn, &cs);
        z[2 * j] = r * cs;
        z[2 * j + 1] = r * sn;
    }
}

/* Normals from pairs first_pair.. of the chunk's words; out[k] = mean + std * z is
 * written for k in [lo, hi) only (out points at element 0 of the whole output). */
#define FASTDL_NORMAL_DEFINE(SUFFIX, T)                                                  \
    static void to_normal_##SUFFIX(const uint32_t *w, int64_t first_pair, int64_t pairs, \
                                   int64_t lo, int64_t hi, double mean, double std,      \
                                   T *out)                                               \
    {                                                                                    \
        double z[CHUNK_WORDS / 2];                                                       \
        box_muller(w, pairs, z);                                                         \
        int64_t k0 = 2 * first_pair;                                                     \
        int64_t from = lo > k0 ? lo : k0;                                                \
        int64_t to = hi < k0 + 2 * pairs ? hi : k0 + 2 * pairs;                          \
        for (int64_t k = from; k < to; ++k) out[k] = (T)(mean + std * z[k - k0]);        \
    }

FASTDL_NORMAL_DEFINE(f32, float)
FASTDL_NORMAL_DEFINE(f64, double)

/* -- kernels ------------------------------------------------------------------------ */

struct philox_ctx {
    void *out;
    struct philox_key key;
    uint64_t offset;
    double a, b; /* mean and std for normals */
    uint32_t threshold;  /* Bernoulli */
};

static void uint32_range(const void *ctx, int64_t lo, int64_t hi)
{
    const struct philox_ctx *c = (const struct philox_ctx *)ctx;
    philox_fill(&c->key, c->offset, lo, hi - lo, (uint32_t *)c->out + lo);
}

static void uniform_f32_range(const void *ctx, int64_t lo, int64_t hi)
{
    const struct philox_ctx *c = (const struct philox_ctx *)ctx;
    uint32_t buf[CHUNK_WORDS];
    for (int64_t i = lo; i < hi; i += CHUNK_WORDS) {
        int64_t m = hi - i < CHUNK_WORDS ? hi - i : CHUNK_WORDS;
        philox_fill(&c->key, c->offset, i, m, buf);
        to_uniform_f32(buf, m, (float *)c->out + i);
    }
}

static void uniform_f64_range(const void *ctx, int64_t lo, int64_t hi)
{
    const struct philox_ctx *c = (const struct philox_ctx *)ctx;
    uint32_t buf[CHUNK_WORDS];
    for (int64_t i = lo; i < hi; i += CHUNK_WORDS / 2) {
        int64_t m = hi - i < CHUNK_WORDS / 2 ? hi - i : CHUNK_WORDS / 2;
        philox_fill(&c->key, c->offset, 2 * i, 2 * m, buf);
        to_uniform_f64(buf, m, (double *)c->out + i);
    }
}

#define FASTDL_RANGES_DEFINE(SUFFIX, T)                                                   \
    static void bernoulli_##SUFFIX##_range(const void *ctx, int64_t lo, int64_t hi)       \
    {                                                                                     \
        const struct philox_ctx *c = (const struct philox_ctx *)ctx;                      \
        uint32_t buf[CHUNK_WORDS];                                                        \
        for (int64_t i = lo; i < hi; i += CHUNK_WORDS) {                                  \
            int64_t m = hi - i < CHUNK_WORDS ? hi - i : CHUNK_WORDS;                      \
            philox_fill(&c->key, c->offset, i, m, buf);                                   \
            to_mask_##SUFFIX(buf, m, c->threshold, (T *)c->out + i);                      \
        }                                                                                 \
    }                                                                                     \
                                                                                          \
    /* Pairs lo / 2 .. (hi + 1) / 2 cover [lo, hi); parallel_for gives an even lo. */     \
    static void normal_##SUFFIX##_range(const void *ctx, int64_t lo, int64_t hi)          \
    {                                                                                     \
        const struct philox_ctx *c = (const struct philox_ctx *)ctx;                      \
        uint32_t buf[CHUNK_WORDS];                                                        \
        int64_t end = (hi + 1) / 2;                                                       \
        for (int64_t j = lo / 2; j < end; j += CHUNK_WORDS / 4) {                         \
            int64_t m = end - j < CHUNK_WORDS / 4 ? end - j : CHUNK_WORDS / 4;            \
            philox_fill(&c->key, c->offset, 4 * j, 4 * m, buf);                           \
            to_normal_##SUFFIX(buf, j, m, lo, hi, c->a, c->b, (T *)c->out);               \
        }                                                                                 \
    }

FASTDL_RANGES_DEFINE(f32, float)
FASTDL_RANGES_DEFINE(f64, double)

static struct philox_ctx philox_context(void *out, uint64_t seed, uint64_t offset)
{
    struct philox_ctx c;
    c.out = out;
    c.key = philox_schedule(seed);
    c.offset = offset;
    c.a = 0.0;
    c.b = 0.0;
    c.threshold = 0;
    return c;
}

/* (w >> 8) * 2^-24 < p in float64 <=> (w >> 8) < threshold, with the 24-bit
 * integer k = w >> 8: k * 2^-24 < p <=> k < p * 2^24 (exact: a power-of-two
 * scaling up) <=> k < ceil(p * 2^24).  NaN or p <= 0: never; p * 2^24 >= 2^24: always. */
static uint32_t bernoulli_threshold(double p)
{
    double t = p * 16777216.0;
    if (!(t > 0.0)) return 0;
    if (t >= 16777216.0) return 16777216u;
    uint32_t k = (uint32_t)t; /* floor: t > 0 */
    return (double)k < t ? k + 1 : k;
}

void fastdl_philox_uint32(uint32_t *out, int64_t n, uint64_t seed, uint64_t offset,
                          int nthreads)
{
    struct philox_ctx c = philox_context(out, seed, offset);
    fastdl_parallel_for(n, nthreads, uint32_range, &c);
}

void fastdl_philox_uniform_f32(float *out, int64_t n, uint64_t seed, uint64_t offset,
                               int nthreads)
{
    struct philox_ctx c = philox_context(out, seed, offset);
    fastdl_parallel_for(n, nthreads, uniform_f32_range, &c);
}

void fastdl_philox_uniform_f64(double *out, int64_t n, uint64_t seed, uint64_t offset,
                               int nthreads)
{
    struct philox_ctx c = philox_context(out, seed, offset);
    fastdl_parallel_for(n, nthreads, uniform_f64_range, &c);
}

#define FASTDL_PHILOX_API_DEFINE(SUFFIX, T)                                                \
    void fastdl_philox_normal_##SUFFIX(T *out, int64_t n, uint64_t seed, uint64_t offset,  \
                                       double mean, double std, int nthreads)              \
    {                                                                                      \
        struct philox_ctx c = philox_context(out, seed, offset);                           \
        c.a = mean;                                                                        \
        c.b = std;                                                                         \
        fastdl_parallel_for(n, nthreads, normal_##SUFFIX##_range, &c);                     \
    }                                                                                      \
                                                                                           \
    void fastdl_philox_bernoulli_##SUFFIX(T *out, int64_t n, uint64_t seed,                \
                                          uint64_t offset, double p, int nthreads)         \
    {                                                                                      \
        struct philox_ctx c = philox_context(out, seed, offset);                           \
        c.threshold = bernoulli_threshold(p);                                              \
        fastdl_parallel_for(n, nthreads, bernoulli_##SUFFIX##_range, &c);                  \
    }

FASTDL_PHILOX_API_DEFINE(f32, float)
FASTDL_PHILOX_API_DEFINE(f64, double)
