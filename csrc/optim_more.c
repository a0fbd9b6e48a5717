/* Adadelta and NAdam steps over flat parameter buffers (spec/optim.py: adadelta_step,
 * nadam_step), as torch.optim's single-tensor paths and in the order of
 * fastdl/backends/reference/optim.py (see optim.c for the conventions: scalars formed
 * in double and rounded to the element type once, a branch-free loop per option set,
 * AVX2/AVX-512 clones, large buffers split across threads without changing a result).
 *
 * Per element:
 *   Adadelta  g = sign * grad (+ wd * p); sq = rho sq + (1 - rho) g^2;
 *             delta = sqrt(acc + eps) / sqrt(sq + eps) * g;
 *             acc = rho acc + (1 - rho) delta^2; p -= lr * delta
 *   NAdam     g = sign * grad; decoupled: p *= 1 - lr wd, else g += wd * p;
 *             m += (1 - b1) (g - m); v = b2 v + (1 - b2) g^2;
 *             denom = sqrt(v / (1 - b2^step)) + eps;
 *             p += c_grad * (g / denom); p += c_avg * (m / denom), with
 *             mu_t = b1 (1 - 0.96^(t momentum_decay) / 2), prod = mu_product mu_step,
 *             c_grad = -lr (1 - mu_step) / (1 - prod),
 *             c_avg = -lr mu_(step+1) / (1 - prod mu_(step+1))
 */
#include <math.h>
#include <stddef.h>

#include "clones.h"
#include "fastdl_cext.h"
#include "parallel.h"

/* -- Adadelta ----------------------------------------------------------------------- */

struct adadelta_ctx {
    void *param;
    const void *grad;
    void *sq, *acc;
    double lr, rho, omr, eps, wd, sign;
    int use_wd;
};

#define FASTDL_ADADELTA_LOOP(T, SQRT, WD)                                          \
    for (ptrdiff_t i = 0; i < (ptrdiff_t)n; ++i) {                                 \
        T p = param[i];                                                            \
        T g = sign * grad[i];                                                      \
        if (WD) g = g + wd * p;                                                    \
        T s = rho * sq[i] + omr * (g * g);                                         \
        T delta = SQRT(acc[i] + eps) / SQRT(s + eps) * g;                          \
        sq[i] = s;                                                                 \
        acc[i] = rho * acc[i] + omr * (delta * delta);                             \
        param[i] = p - lr * delta;                                                 \
    }

#define FASTDL_ADADELTA_DEFINE(SUFFIX, T, SQRT)                                               \
    FASTDL_CLONES static void adadelta_loop_##SUFFIX(                                         \
        T *restrict param, const T *restrict grad, T *restrict sq, T *restrict acc,           \
        int64_t n, T lr, T rho, T omr, T eps, T wd, T sign, int use_wd)                       \
    {                                                                                         \
        if (use_wd) { FASTDL_ADADELTA_LOOP(T, SQRT, 1) }                                      \
        else { FASTDL_ADADELTA_LOOP(T, SQRT, 0) }                                             \
    }                                                                                         \
                                                                                              \
    static void adadelta_range_##SUFFIX(const void *ctx, int64_t lo, int64_t hi)              \
    {                                                                                         \
        const struct adadelta_ctx *c = (const struct adadelta_ctx *)ctx;                      \
        adadelta_loop_##SUFFIX((T *)c->param + lo, (const T *)c->grad + lo, (T *)c->sq + lo,  \
                               (T *)c->acc + lo, hi - lo, (T)c->lr, (T)c->rho, (T)c->omr,     \
                               (T)c->eps, (T)c->wd, (T)c->sign, c->use_wd);                   \
    }                                                                                         \
                                                                                              \
    void fastdl_adadelta_step_##SUFFIX(T *param, const T *grad, T *square_avg, T *acc_delta,  \
                                       int64_t n, double lr, double rho, double eps,          \
                                       double weight_decay, int maximize, int nthreads)       \
    {                                                                                         \
        struct adadelta_ctx c;                                                                \
        c.param = param;                                                                      \
        c.grad = grad;                                                                        \
        c.sq = square_avg;                                                                    \
        c.acc = acc_delta;                                                                    \
        c.lr = lr;                                                                            \
        c.rho = rho;                                                                          \
        c.omr = 1.0 - rho;                                                                    \
        c.eps = eps;                                                                          \
        c.wd = weight_decay;                                                                  \
        c.sign = maximize ? -1.0 : 1.0;                                                       \
        c.use_wd = weight_decay != 0.0;                                                       \
        fastdl_parallel_for(n, nthreads, adadelta_range_##SUFFIX, &c);                        \
    }

FASTDL_ADADELTA_DEFINE(f32, float, sqrtf)
FASTDL_ADADELTA_DEFINE(f64, double, sqrt)

/* -- NAdam -------------------------------------------------------------------------- */

enum { NADAM_WD_NONE = 0, NADAM_WD_L2 = 1, NADAM_WD_DECOUPLED = 2 };

struct nadam_ctx {
    void *param;
    const void *grad;
    void *m, *v;
    double omb1, b2, omb2, bc2, eps, wd, decay, c_grad, c_avg, sign;
    int wd_mode;
};

#define FASTDL_NADAM_LOOP(T, SQRT, WD)                                             \
    for (ptrdiff_t i = 0; i < (ptrdiff_t)n; ++i) {                                 \
        T p = param[i];                                                            \
        T g = sign * grad[i];                                                      \
        if ((WD) == NADAM_WD_DECOUPLED) p = p * decay;                             \
        if ((WD) == NADAM_WD_L2) g = g + wd * p;                                   \
        T mi = m[i] + omb1 * (g - m[i]);                                           \
        T vi = b2 * v[i] + omb2 * (g * g);                                         \
        T denom = SQRT(vi / bc2) + eps;                                            \
        m[i] = mi;                                                                 \
        v[i] = vi;                                                                 \
        p = p + c_grad * (g / denom);                                              \
        param[i] = p + c_avg * (mi / denom);                                       \
    }

#define FASTDL_NADAM_DEFINE(SUFFIX, T, SQRT)                                                  \
    FASTDL_CLONES static void nadam_loop_##SUFFIX(                                            \
        T *restrict param, const T *restrict grad, T *restrict m, T *restrict v, int64_t n,   \
        T omb1, T b2, T omb2, T bc2, T eps, T wd, T decay, T c_grad, T c_avg, T sign,         \
        int wd_mode)                                                                          \
    {                                                                                         \
        if (wd_mode == NADAM_WD_DECOUPLED) { FASTDL_NADAM_LOOP(T, SQRT, NADAM_WD_DECOUPLED) } \
        else if (wd_mode == NADAM_WD_L2) { FASTDL_NADAM_LOOP(T, SQRT, NADAM_WD_L2) }          \
        else { FASTDL_NADAM_LOOP(T, SQRT, NADAM_WD_NONE) }                                    \
    }                                                                                         \
                                                                                              \
    static void nadam_range_##SUFFIX(const void *ctx, int64_t lo, int64_t hi)                 \
    {                                                                                         \
        const struct nadam_ctx *c = (const struct nadam_ctx *)ctx;                            \
        nadam_loop_##SUFFIX((T *)c->param + lo, (const T *)c->grad + lo, (T *)c->m + lo,      \
                            (T *)c->v + lo, hi - lo, (T)c->omb1, (T)c->b2, (T)c->omb2,        \
                            (T)c->bc2, (T)c->eps, (T)c->wd, (T)c->decay, (T)c->c_grad,        \
                            (T)c->c_avg, (T)c->sign, c->wd_mode);                             \
    }                                                                                         \
                                                                                              \
    void fastdl_nadam_step_##SUFFIX(T *param, const T *grad, T *exp_avg, T *exp_avg_sq,       \
                                    int64_t n, int64_t step, double mu_product, double lr,    \
                                    double beta1, double beta2, double eps,                   \
                                    double weight_decay, double momentum_decay,               \
                                    int decoupled, int maximize, int nthreads)                \
    {                                                                                         \
        struct nadam_ctx c;                                                                   \
        double mu = beta1 * (1.0 - 0.5 * pow(0.96, (double)step * momentum_decay));           \
        double mu_next = beta1 * (1.0 - 0.5 * pow(0.96, (double)(step + 1) * momentum_decay));\
        double prod = mu_product * mu;                                                        \
        c.param = param;                                                                      \
        c.grad = grad;                                                                        \
        c.m = exp_avg;                                                                        \
        c.v = exp_avg_sq;                                                                     \
        c.omb1 = 1.0 - beta1;                                                                 \
        c.b2 = beta2;                                                                         \
        c.omb2 = 1.0 - beta2;                                                                 \
        c.bc2 = 1.0 - pow(beta2, (double)step);                                               \
        c.eps = eps;                                                                          \
        c.wd = weight_decay;                                                                  \
        c.decay = 1.0 - lr * weight_decay;                                                    \
        c.c_grad = -lr * (1.0 - mu) / (1.0 - prod);                                           \
        c.c_avg = (-lr * mu_next) / (1.0 - prod * mu_next);                                   \
        c.sign = maximize ? -1.0 : 1.0;                                                       \
        c.wd_mode = weight_decay == 0.0 ? NADAM_WD_NONE                                       \
                    : decoupled         ? NADAM_WD_DECOUPLED                                  \
                                        : NADAM_WD_L2;                                        \
        fastdl_parallel_for(n, nthreads, nadam_range_##SUFFIX, &c);                           \
    }

FASTDL_NADAM_DEFINE(f32, float, sqrtf)
FASTDL_NADAM_DEFINE(f64, double, sqrt)
