/* fastdl C extension: kernels called through cffi (API mode).
 *
 * The contract of every kernel is in fastdl/backends/spec/; build_cext.py reads
 * the declarations here for cffi's cdef (so keep them free of macros).  Arrays are flat,
 * C-contiguous and do not alias one another.  A buffer the options leave unused
 * (momentum_buffer without momentum, max_exp_avg_sq without amsgrad, grad_avg
 * when not centered) may be NULL.  nthreads > 1 splits the buffers across that
 * many threads (parallel.c); the results do not depend on it.
 */
#ifndef FASTDL_CEXT_H
#define FASTDL_CEXT_H

#include <stdint.h>

/* One PyTorch SGD step over flat (n,) buffers, in place.  first_step: the momentum
 * buffer is set to the gradient instead of updated. */
void fastdl_sgd_step_f32(float *param, const float *grad, float *buf, int64_t n, double lr,
                         double momentum, double dampening, double weight_decay, int nesterov,
                         int first_step, int maximize, int nthreads);
void fastdl_sgd_step_f64(double *param, const double *grad, double *buf, int64_t n, double lr,
                         double momentum, double dampening, double weight_decay, int nesterov,
                         int first_step, int maximize, int nthreads);

/* One PyTorch Adam / AdamW step over flat (n,) buffers, in place.
 * step is the step count after this step (>= 1). */
void fastdl_adam_step_f32(float *param, const float *grad, float *m, float *v, float *vmax,
                          int64_t n, int64_t step, double lr, double beta1, double beta2,
                          double eps, double weight_decay, int amsgrad, int decoupled,
                          int nthreads);
void fastdl_adam_step_f64(double *param, const double *grad, double *m, double *v,
                          double *vmax, int64_t n, int64_t step, double lr, double beta1,
                          double beta2, double eps, double weight_decay, int amsgrad,
                          int decoupled, int nthreads);

/* One PyTorch Adagrad step over flat (n,) buffers, in place; step as for Adam. */
void fastdl_adagrad_step_f32(float *param, const float *grad, float *state_sum, int64_t n,
                             int64_t step, double lr, double lr_decay, double weight_decay,
                             double eps, int maximize, int nthreads);
void fastdl_adagrad_step_f64(double *param, const double *grad, double *state_sum, int64_t n,
                             int64_t step, double lr, double lr_decay, double weight_decay,
                             double eps, int maximize, int nthreads);

/* One PyTorch RMSprop step over flat (n,) buffers, in place. */
void fastdl_rmsprop_step_f32(float *param, const float *grad, float *square_avg, float *buf,
                             float *grad_avg, int64_t n, double lr, double alpha, double eps,
                             double weight_decay, double momentum, int centered, int maximize,
                             int nthreads);
void fastdl_rmsprop_step_f64(double *param, const double *grad, double *square_avg,
                             double *buf, double *grad_avg, int64_t n, double lr, double alpha,
                             double eps, double weight_decay, double momentum, int centered,
                             int maximize, int nthreads);

/* Philox 4x32-10 (spec/random.py: philox_*): out[k] for k < n from the stream keyed by seed,
 * starting at word offset (block offset / 4 + (offset % 4 + k) / 4, as in the
 * reference, even past word 2^64).  uint32: the raw words;
 * uniform: [0, 1) from one word (f32) or two (f64); normal: Box-Muller from four
 * words per pair of values; bernoulli: 1 where the float32 uniform of a word is < p
 * (compared in float64), else 0. */
void fastdl_philox_uint32(uint32_t *out, int64_t n, uint64_t seed, uint64_t offset,
                          int nthreads);
void fastdl_philox_uniform_f32(float *out, int64_t n, uint64_t seed, uint64_t offset,
                               int nthreads);
void fastdl_philox_uniform_f64(double *out, int64_t n, uint64_t seed, uint64_t offset,
                               int nthreads);
void fastdl_philox_normal_f32(float *out, int64_t n, uint64_t seed, uint64_t offset,
                              double mean, double std, int nthreads);
void fastdl_philox_normal_f64(double *out, int64_t n, uint64_t seed, uint64_t offset,
                              double mean, double std, int nthreads);
void fastdl_philox_bernoulli_f32(float *out, int64_t n, uint64_t seed, uint64_t offset,
                                 double p, int nthreads);
void fastdl_philox_bernoulli_f64(double *out, int64_t n, uint64_t seed, uint64_t offset,
                                 double p, int nthreads);

/* Which Philox batch code runs: 0 portable C, 1 SSE2, 2 AVX2, 3 AVX-512F (x86-64).
 * fastdl_philox_select(level) switches to it and returns it, or -1 if this CPU or
 * build lacks it; level < 0 picks the widest available (the default).  For tests:
 * every level gives the same words. */
int fastdl_philox_select(int level);
int fastdl_philox_level(void);

/* GEMM with a fused prologue and epilogue (gemm.c), row-major, C (m, n) overwritten:
 *   C[i, j] = act(sum_p A'[i, p] * B'[p, j] + bias[j])
 * op(A) (m x k) is A stored (m, k) with row stride lda, or with trans_a its transpose,
 * stored (k, m); op(B) (k x n) likewise. A' is op(A), or with mask_a (laid out as A,
 * same lda) op(A) times the derivative of activation mask_act written in terms of its
 * output y = mask: relu y > 0 ? a : 0; leaky_relu y > 0 ? a : slope * a; sigmoid
 * a * y * (1 - y); tanh a * (1 - y * y). B' likewise with mask_b. sum_a (m) gets the
 * row sums of A' and sum_b (n) the column sums of B' when not NULL. act and mask_act:
 * 0 none, 1 relu, 2 leaky_relu (slope), 3 sigmoid, 4 tanh. bias (n) may be NULL.
 * Runs on up to nthreads threads. Returns 0, or -1 when out of memory (C undefined). */
int fastdl_gemm_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, int trans_a,
                    const float *mask_a, float *sum_a, const float *b, int64_t ldb, int trans_b,
                    const float *mask_b, float *sum_b, int mask_act, double slope,
                    const float *bias, int act, float *c, int64_t ldc, int nthreads);
int fastdl_gemm_f64(int64_t m, int64_t n, int64_t k, const double *a, int64_t lda, int trans_a,
                    const double *mask_a, double *sum_a, const double *b, int64_t ldb,
                    int trans_b, const double *mask_b, double *sum_b, int mask_act, double slope,
                    const double *bias, int act, double *c, int64_t ldc, int nthreads);

/* Which GEMM microkernel runs, numbered as for Philox (1 unused): 0 portable C,
 * 2 AVX2+FMA, 3 AVX-512F. Select and level as for Philox; results agree to rounding. */
int fastdl_gemm_select(int level);
int fastdl_gemm_level(void);

/* Worker threads the optimizer steps have started in this process (0 before the
 * first split step, and in a fork()ed child until its first). */
int fastdl_parallel_workers(void);

/* im2col / col2im of Conv2d (spec/conv.py: im2col, col2im).  x (n, c, h, w); cols
 * (c*kh*kw, n, oh*rw), row (ci, i, j), column (image, y*rw + z): x's pixel
 * (y*sh - ph + i*dh, z*sw - pw + j*dw) for z < ow, zero outside x.  rw >= ow: the
 * wider output rows of conv.py's flat GEMM (the spec's kernels have rw = ow); columns
 * ow <= z < rw hold zeros or, where a tap's rows are one run of x (stride 1, rw = w),
 * the wrapped-around pixels.  ph, pw may be negative (rows/columns of x skipped).
 * col2im is the adjoint: x = 0, then every column element z < ow added to the pixel
 * it reads, in tap order (i, j); columns z >= ow are not read. */
void fastdl_im2col_f32(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh,
                       int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                       int64_t dw, int64_t oh, int64_t ow, int64_t rw, float *cols,
                       int nthreads);
void fastdl_im2col_f64(const double *x, int64_t n, int64_t c, int64_t h, int64_t w,
                       int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                       int64_t dh, int64_t dw, int64_t oh, int64_t ow, int64_t rw,
                       double *cols, int nthreads);
void fastdl_col2im_f32(const float *cols, int64_t n, int64_t c, int64_t h, int64_t w,
                       int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                       int64_t dh, int64_t dw, int64_t oh, int64_t ow, int64_t rw, float *x,
                       int nthreads);
void fastdl_col2im_f64(const double *cols, int64_t n, int64_t c, int64_t h, int64_t w,
                       int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                       int64_t dh, int64_t dw, int64_t oh, int64_t ow, int64_t rw, double *x,
                       int nthreads);

/* csrc/optim_more.c.  One PyTorch Adadelta step over flat (n,) buffers, in place. */
void fastdl_adadelta_step_f32(float *param, const float *grad, float *square_avg,
                              float *acc_delta, int64_t n, double lr, double rho, double eps,
                              double weight_decay, int maximize, int nthreads);
void fastdl_adadelta_step_f64(double *param, const double *grad, double *square_avg,
                              double *acc_delta, int64_t n, double lr, double rho, double eps,
                              double weight_decay, int maximize, int nthreads);

/* One PyTorch NAdam step over flat (n,) buffers, in place; step as for Adam,
 * mu_product the product of mu over the steps before this one. */
void fastdl_nadam_step_f32(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                           int64_t n, int64_t step, double mu_product, double lr, double beta1,
                           double beta2, double eps, double weight_decay, double momentum_decay,
                           int decoupled, int maximize, int nthreads);
void fastdl_nadam_step_f64(double *param, const double *grad, double *exp_avg,
                           double *exp_avg_sq, int64_t n, int64_t step, double mu_product,
                           double lr, double beta1, double beta2, double eps,
                           double weight_decay, double momentum_decay, int decoupled,
                           int maximize, int nthreads);

/* One PyTorch Adamax step over flat (n,) buffers, in place; step as for Adam. */
void fastdl_adamax_step_f32(float *param, const float *grad, float *exp_avg, float *exp_inf,
                            int64_t n, int64_t step, double lr, double beta1, double beta2,
                            double eps, double weight_decay, int maximize, int nthreads);
void fastdl_adamax_step_f64(double *param, const double *grad, double *exp_avg,
                            double *exp_inf, int64_t n, int64_t step, double lr, double beta1,
                            double beta2, double eps, double weight_decay, int maximize,
                            int nthreads);

/* One PyTorch RAdam step over flat (n,) buffers, in place; step as for Adam. */
void fastdl_radam_step_f32(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                           int64_t n, int64_t step, double lr, double beta1, double beta2,
                           double eps, double weight_decay, int decoupled, int maximize,
                           int nthreads);
void fastdl_radam_step_f64(double *param, const double *grad, double *exp_avg,
                           double *exp_avg_sq, int64_t n, int64_t step, double lr, double beta1,
                           double beta2, double eps, double weight_decay, int decoupled,
                           int maximize, int nthreads);

/* One PyTorch ASGD step over flat (n,) buffers, in place, with the state's eta and mu. */
void fastdl_asgd_step_f32(float *param, const float *grad, float *ax, int64_t n, double eta,
                          double mu, double lambd, double weight_decay, int maximize,
                          int nthreads);
void fastdl_asgd_step_f64(double *param, const double *grad, double *ax, int64_t n, double eta,
                          double mu, double lambd, double weight_decay, int maximize,
                          int nthreads);

/* One PyTorch Rprop step over flat (n,) buffers, in place. */
void fastdl_rprop_step_f32(float *param, const float *grad, float *prev, float *step_size,
                           int64_t n, double etaminus, double etaplus, double step_size_min,
                           double step_size_max, int maximize, int nthreads);
void fastdl_rprop_step_f64(double *param, const double *grad, double *prev, double *step_size,
                           int64_t n, double etaminus, double etaplus, double step_size_min,
                           double step_size_max, int maximize, int nthreads);
/* Gradient norm of a flat (n,) buffer (spec/clip.py: grad_norm), into out[0]:
 * (sum |x|^norm_type)^(1/norm_type) accumulated in float64, or max |x| for an infinite
 * norm_type; 0 for n = 0. The result does not depend on nthreads. Returns 0, or -1
 * when out of memory (out untouched). */
int fastdl_grad_norm_f32(const float *x, int64_t n, double norm_type, double *out,
                         int nthreads);
int fastdl_grad_norm_f64(const double *x, int64_t n, double norm_type, double *out,
                         int nthreads);

/* x[i] = x[i] * coef over a flat (n,) buffer, coef rounded to the element type first
 * (as NumPy multiplies by a one-element array of that type). */
void fastdl_scale_f32(float *x, int64_t n, double coef, int nthreads);
void fastdl_scale_f64(double *x, int64_t n, double coef, int nthreads);
/* Conv2d with a 3x3 kernel, stride 1, dilation 1, one group, by Winograd F(2x2, 3x3)
 * (conv_winograd.c; spec/conv.py: conv2d).  x (n, c, h, w); u (16, o, c) the
 * transformed weight G g G^T, element e = 4 * a + b at u[e]; ph, pw the zero rows /
 * columns above / left of x (may be negative); out (n, o, oh, ow) = the convolution
 * + bias (bias (o) or NULL).  chunk images at a time; v and m are scratch of 16 planes
 * c * chunk * th * tw + 16 and o * chunk * th * tw + 16 floats, th = (oh + 1) / 2,
 * tw = (ow + 1) / 2.
 * Returns 0, or -1 when out of memory (out undefined). */
int fastdl_conv3x3_winograd_f32(const float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                                const float *u, int64_t o, int64_t ph, int64_t pw, int64_t oh,
                                int64_t ow, const float *bias, float *out, int64_t chunk,
                                float *v, float *m, int nthreads);

/* The weight gradient of the same convolution: acc (16, o, c) = the sum over the tiles
 * of (A gy A^T) * (B^T d B), gy the 2x2 tiles of grad_out (n, o, oh, ow); the gradient
 * is then G^T acc G.  v and z (planes as for m above) and part (16, o, c) are scratch.  Returns 0, or -1 when out of memory. */
int fastdl_conv3x3_winograd_grad_weight_f32(const float *x, int64_t n, int64_t c, int64_t h,
                                            int64_t w, const float *grad_out, int64_t o,
                                            int64_t ph, int64_t pw, int64_t oh, int64_t ow,
                                            int64_t chunk, float *v, float *z, float *part,
                                            float *acc, int nthreads);

#endif
