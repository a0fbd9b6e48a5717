/* Adadelta, NAdam, Adamax, RAdam, ASGD and Rprop steps over flat parameter buffers
 * (spec/optim.py: adadelta_step, nadam_step, adamax_step, radam_step, asgd_step,
 * rprop_step), as torch.optim's single-tensor paths and in the order of
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
 *   Adamax    g = sign * grad (+ wd * p); m += (1 - b1) (g - m);
 *             u = max(b2 u, |g| + eps) (NaN kept); p -= lr / (1 - b1^step) * (m / u)
 *   RAdam     weight decay as NAdam's; m, v as NAdam's; rho_t > 5:
 *             p -= m / bc1 * lr * (sqrt(bc2) / (sqrt(v) + eps)) * rect, else
 *             p -= m / bc1 * lr
 *   ASGD      g = sign * grad (+ wd * p); p *= 1 - lambd eta; p -= eta g;
 *             ax += (p - ax) mu where mu != 1, else ax = p
 *   Rprop     g = sign * grad; s = g prev; size = clamp(size * (etaplus if s > 0,
 *             etaminus if s < 0, else 1), min, max); g = 0 where s < 0;
 *             p -= sign(g) size; prev = g
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

/* -- Adamax ------------------------------------------------------------------------- */

struct adamax_ctx {
    void *param;
    const void *grad;
    void *m, *u;
    double omb1, b2, clr, eps, wd, sign;
    int use_wd;
};

#define FASTDL_ADAMAX_LOOP(T, FABS, WD)                                            \
    for (ptrdiff_t i = 0; i < (ptrdiff_t)n; ++i) {                                 \
        T p = param[i];                                                            \
        T g = sign * grad[i];                                                      \
        if (WD) g = g + wd * p;                                                    \
        T mi = m[i] + omb1 * (g - m[i]);                                           \
        T a = b2 * u[i];                                                           \
        T b = FABS(g) + eps;                                                       \
        T ui = (a > b || a != a) ? a : b;                                          \
        m[i] = mi;                                                                 \
        u[i] = ui;                                                                 \
        param[i] = p - clr * (mi / ui);                                            \
    }

#define FASTDL_ADAMAX_DEFINE(SUFFIX, T, FABS)                                                 \
    FASTDL_CLONES static void adamax_loop_##SUFFIX(T *restrict param, const T *restrict grad, \
                                                   T *restrict m, T *restrict u, int64_t n,   \
                                                   T omb1, T b2, T clr, T eps, T wd, T sign,  \
                                                   int use_wd)                                \
    {                                                                                         \
        if (use_wd) { FASTDL_ADAMAX_LOOP(T, FABS, 1) }                                        \
        else { FASTDL_ADAMAX_LOOP(T, FABS, 0) }                                               \
    }                                                                                         \
                                                                                              \
    static void adamax_range_##SUFFIX(const void *ctx, int64_t lo, int64_t hi)                \
    {                                                                                         \
        const struct adamax_ctx *c = (const struct adamax_ctx *)ctx;                          \
        adamax_loop_##SUFFIX((T *)c->param + lo, (const T *)c->grad + lo, (T *)c->m + lo,     \
                             (T *)c->u + lo, hi - lo, (T)c->omb1, (T)c->b2, (T)c->clr,        \
                             (T)c->eps, (T)c->wd, (T)c->sign, c->use_wd);                     \
    }                                                                                         \
                                                                                              \
    void fastdl_adamax_step_##SUFFIX(T *param, const T *grad, T *exp_avg, T *exp_inf,         \
                                     int64_t n, int64_t step, double lr, double beta1,        \
                                     double beta2, double eps, double weight_decay,           \
                                     int maximize, int nthreads)                              \
    {                                                                                         \
        struct adamax_ctx c;                                                                  \
        c.param = param;                                                                      \
        c.grad = grad;                                                                        \
        c.m = exp_avg;                                                                        \
        c.u = exp_inf;                                                                        \
        c.omb1 = 1.0 - beta1;                                                                 \
        c.b2 = beta2;                                                                         \
        c.clr = lr / (1.0 - pow(beta1, (double)step));                                        \
        c.eps = eps;                                                                          \
        c.wd = weight_decay;                                                                  \
        c.sign = maximize ? -1.0 : 1.0;                                                       \
        c.use_wd = weight_decay != 0.0;                                                       \
        fastdl_parallel_for(n, nthreads, adamax_range_##SUFFIX, &c);                          \
    }

FASTDL_ADAMAX_DEFINE(f32, float, fabsf)
FASTDL_ADAMAX_DEFINE(f64, double, fabs)

/* -- RAdam -------------------------------------------------------------------------- */

struct radam_ctx {
    void *param;
    const void *grad;
    void *m, *v;
    double omb1, b2, omb2, bc1, lr, bc2_sqrt, eps, rect, wd, decay, sign;
    int wd_mode, rectify;
};

#define FASTDL_RADAM_LOOP(T, SQRT, WD, RECT)                                       \
    for (ptrdiff_t i = 0; i < (ptrdiff_t)n; ++i) {                                 \
        T p = param[i];                                                            \
        T g = sign * grad[i];                                                      \
        if ((WD) == NADAM_WD_DECOUPLED) p = p * decay;                             \
        if ((WD) == NADAM_WD_L2) g = g + wd * p;                                   \
        T mi = m[i] + omb1 * (g - m[i]);                                           \
        T vi = b2 * v[i] + omb2 * (g * g);                                         \
        T corrected = mi / bc1;                                                    \
        m[i] = mi;                                                                 \
        v[i] = vi;                                                                 \
        if (RECT)                                                                  \
            param[i] = p - corrected * lr * (bc2_sqrt / (SQRT(vi) + eps)) * rect;  \
        else                                                                       \
            param[i] = p - corrected * lr;                                         \
    }

#define FASTDL_RADAM_BY_WD(T, SQRT, RECT)                                                     \
    if (wd_mode == NADAM_WD_DECOUPLED) { FASTDL_RADAM_LOOP(T, SQRT, NADAM_WD_DECOUPLED, RECT) } \
    else if (wd_mode == NADAM_WD_L2) { FASTDL_RADAM_LOOP(T, SQRT, NADAM_WD_L2, RECT) }          \
    else { FASTDL_RADAM_LOOP(T, SQRT, NADAM_WD_NONE, RECT) }

#define FASTDL_RADAM_DEFINE(SUFFIX, T, SQRT)                                                  \
    FASTDL_CLONES static void radam_loop_##SUFFIX(                                            \
        T *restrict param, const T *restrict grad, T *restrict m, T *restrict v, int64_t n,   \
        T omb1, T b2, T omb2, T bc1, T lr, T bc2_sqrt, T eps, T rect, T wd, T decay, T sign,  \
        int wd_mode, int rectify)                                                             \
    {                                                                                         \
        if (rectify) { FASTDL_RADAM_BY_WD(T, SQRT, 1) }                                       \
        else { FASTDL_RADAM_BY_WD(T, SQRT, 0) }                                               \
    }                                                                                         \
                                                                                              \
    static void radam_range_##SUFFIX(const void *ctx, int64_t lo, int64_t hi)                 \
    {                                                                                         \
        const struct radam_ctx *c = (const struct radam_ctx *)ctx;                            \
        radam_loop_##SUFFIX((T *)c->param + lo, (const T *)c->grad + lo, (T *)c->m + lo,      \
                            (T *)c->v + lo, hi - lo, (T)c->omb1, (T)c->b2, (T)c->omb2,        \
                            (T)c->bc1, (T)c->lr, (T)c->bc2_sqrt, (T)c->eps, (T)c->rect,       \
                            (T)c->wd, (T)c->decay, (T)c->sign, c->wd_mode, c->rectify);       \
    }                                                                                         \
                                                                                              \
    void fastdl_radam_step_##SUFFIX(T *param, const T *grad, T *exp_avg, T *exp_avg_sq,       \
                                    int64_t n, int64_t step, double lr, double beta1,         \
                                    double beta2, double eps, double weight_decay,            \
                                    int decoupled, int maximize, int nthreads)                \
    {                                                                                         \
        struct radam_ctx c;                                                                   \
        double bc2 = 1.0 - pow(beta2, (double)step);                                          \
        double rho_inf = 2.0 / (1.0 - beta2) - 1.0;                                           \
        double rho_t = rho_inf - 2.0 * (double)step * pow(beta2, (double)step) / bc2;         \
        c.param = param;                                                                      \
        c.grad = grad;                                                                        \
        c.m = exp_avg;                                                                        \
        c.v = exp_avg_sq;                                                                     \
        c.omb1 = 1.0 - beta1;                                                                 \
        c.b2 = beta2;                                                                         \
        c.omb2 = 1.0 - beta2;                                                                 \
        c.bc1 = 1.0 - pow(beta1, (double)step);                                               \
        c.lr = lr;                                                                            \
        c.bc2_sqrt = sqrt(bc2);                                                               \
        c.eps = eps;                                                                          \
        c.rectify = rho_t > 5.0;                                                              \
        c.rect = c.rectify ? sqrt((rho_t - 4) * (rho_t - 2) * rho_inf                         \
                                  / ((rho_inf - 4) * (rho_inf - 2) * rho_t))                  \
                           : 0.0;                                                             \
        c.wd = weight_decay;                                                                  \
        c.decay = 1.0 - lr * weight_decay;                                                    \
        c.sign = maximize ? -1.0 : 1.0;                                                       \
        c.wd_mode = weight_decay == 0.0 ? NADAM_WD_NONE                                       \
                    : decoupled         ? NADAM_WD_DECOUPLED                                  \
                                        : NADAM_WD_L2;                                        \
        fastdl_parallel_for(n, nthreads, radam_range_##SUFFIX, &c);                           \
    }

FASTDL_RADAM_DEFINE(f32, float, sqrtf)
FASTDL_RADAM_DEFINE(f64, double, sqrt)

/* -- ASGD --------------------------------------------------------------------------- */

struct asgd_ctx {
    void *param;
    const void *grad;
    void *ax;
    double eta, decay, mu, wd, sign;
    int use_wd, average;
};

#define FASTDL_ASGD_LOOP(T, WD, AVG)                                               \
    for (ptrdiff_t i = 0; i < (ptrdiff_t)n; ++i) {                                 \
        T p = param[i];                                                            \
        T g = sign * grad[i];                                                      \
        if (WD) g = g + wd * p;                                                    \
        p = p * decay;                                                             \
        p = p - eta * g;                                                           \
        param[i] = p;                                                              \
        ax[i] = (AVG) ? ax[i] + (p - ax[i]) * mu : p;                              \
    }

#define FASTDL_ASGD_DEFINE(SUFFIX, T)                                                         \
    FASTDL_CLONES static void asgd_loop_##SUFFIX(T *restrict param, const T *restrict grad,   \
                                                 T *restrict ax, int64_t n, T eta, T decay,   \
                                                 T mu, T wd, T sign, int use_wd, int average) \
    {                                                                                         \
        if (use_wd) {                                                                         \
            if (average) { FASTDL_ASGD_LOOP(T, 1, 1) }                                        \
            else { FASTDL_ASGD_LOOP(T, 1, 0) }                                                \
        } else {                                                                              \
            if (average) { FASTDL_ASGD_LOOP(T, 0, 1) }                                        \
            else { FASTDL_ASGD_LOOP(T, 0, 0) }                                                \
        }                                                                                     \
    }                                                                                         \
                                                                                              \
    static void asgd_range_##SUFFIX(const void *ctx, int64_t lo, int64_t hi)                  \
    {                                                                                         \
        const struct asgd_ctx *c = (const struct asgd_ctx *)ctx;                              \
        asgd_loop_##SUFFIX((T *)c->param + lo, (const T *)c->grad + lo, (T *)c->ax + lo,      \
                           hi - lo, (T)c->eta, (T)c->decay, (T)c->mu, (T)c->wd, (T)c->sign,   \
                           c->use_wd, c->average);                                            \
    }                                                                                         \
                                                                                              \
    void fastdl_asgd_step_##SUFFIX(T *param, const T *grad, T *ax, int64_t n, double eta,     \
                                   double mu, double lambd, double weight_decay,              \
                                   int maximize, int nthreads)                                \
    {                                                                                         \
        struct asgd_ctx c;                                                                    \
        c.param = param;                                                                      \
        c.grad = grad;                                                                        \
        c.ax = ax;                                                                            \
        c.eta = eta;                                                                          \
        c.decay = 1.0 - lambd * eta;                                                          \
        c.mu = mu;                                                                            \
        c.wd = weight_decay;                                                                  \
        c.sign = maximize ? -1.0 : 1.0;                                                       \
        c.use_wd = weight_decay != 0.0;                                                       \
        c.average = mu != 1.0;                                                                \
        fastdl_parallel_for(n, nthreads, asgd_range_##SUFFIX, &c);                            \
    }

FASTDL_ASGD_DEFINE(f32, float)
FASTDL_ASGD_DEFINE(f64, double)

/* -- Rprop -------------------------------------------------------------------------- */

struct rprop_ctx {
    void *param;
    const void *grad;
    void *prev, *size;
    double etaminus, etaplus, size_min, size_max, sign;
};

#define FASTDL_RPROP_DEFINE(SUFFIX, T)                                                        \
    FASTDL_CLONES static void rprop_loop_##SUFFIX(T *restrict param, const T *restrict grad,  \
                                                  T *restrict prev, T *restrict size,         \
                                                  int64_t n, T etaminus, T etaplus,           \
                                                  T size_min, T size_max, T sign)             \
    {                                                                                         \
        for (ptrdiff_t i = 0; i < (ptrdiff_t)n; ++i) {                                        \
            T p = param[i];                                                                   \
            T g = sign * grad[i];                                                             \
            T s = g * prev[i];                                                                \
            T factor = s > 0 ? etaplus : s < 0 ? etaminus : s - s + 1;                        \
            T z = size[i] * factor;                                                           \
            z = z < size_min ? size_min : z;                                                  \
            z = z > size_max ? size_max : z;                                                  \
            if (s < 0) g = g - g;                                                             \
            if (g > 0) p = p - z;                                                             \
            else if (g < 0) p = p + z;                                                        \
            else if (g != g) p = p + g;                                                       \
            param[i] = p;                                                                     \
            prev[i] = g;                                                                      \
            size[i] = z;                                                                      \
        }                                                                                     \
    }                                                                                         \
                                                                                              \
    static void rprop_range_##SUFFIX(const void *ctx, int64_t lo, int64_t hi)                 \
    {                                                                                         \
        const struct rprop_ctx *c = (const struct rprop_ctx *)ctx;                            \
        rprop_loop_##SUFFIX((T *)c->param + lo, (const T *)c->grad + lo, (T *)c->prev + lo,   \
                            (T *)c->size + lo, hi - lo, (T)c->etaminus, (T)c->etaplus,        \
                            (T)c->size_min, (T)c->size_max, (T)c->sign);                      \
    }                                                                                         \
                                                                                              \
    void fastdl_rprop_step_##SUFFIX(T *param, const T *grad, T *prev, T *step_size,           \
                                    int64_t n, double etaminus, double etaplus,               \
                                    double step_size_min, double step_size_max, int maximize, \
                                    int nthreads)                                             \
    {                                                                                         \
        struct rprop_ctx c;                                                                   \
        c.param = param;                                                                      \
        c.grad = grad;                                                                        \
        c.prev = prev;                                                                        \
        c.size = step_size;                                                                   \
        c.etaminus = etaminus;                                                                \
        c.etaplus = etaplus;                                                                  \
        c.size_min = step_size_min;                                                           \
        c.size_max = step_size_max;                                                           \
        c.sign = maximize ? -1.0 : 1.0;                                                       \
        fastdl_parallel_for(n, nthreads, rprop_range_##SUFFIX, &c);                           \
    }

FASTDL_RPROP_DEFINE(f32, float)
FASTDL_RPROP_DEFINE(f64, double)
