/* fastdl C extension: kernels called through cffi (API mode).
 *
 * The contract of every kernel is fastdl/backends/spec.py; the declarations
 * here are repeated verbatim in build_cext.py's cdef.  Arrays are flat,
 * C-contiguous and do not alias one another.
 */
#ifndef FASTDL_CEXT_H
#define FASTDL_CEXT_H

#include <stdint.h>

/* One PyTorch Adam / AdamW step over flat (n,) buffers, in place.
 * step is the step count after this step (>= 1).  vmax (max_exp_avg_sq) is
 * used only when amsgrad != 0; otherwise it may be NULL. */
void fastdl_adam_step_f32(float *param, const float *grad, float *m, float *v, float *vmax,
                          int64_t n, int64_t step, double lr, double beta1, double beta2,
                          double eps, double weight_decay, int amsgrad, int decoupled);
void fastdl_adam_step_f64(double *param, const double *grad, double *m, double *v,
                          double *vmax, int64_t n, int64_t step, double lr, double beta1,
                          double beta2, double eps, double weight_decay, int amsgrad,
                          int decoupled);

#endif
