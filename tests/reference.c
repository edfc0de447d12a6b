#include "reference.h"

#include <math.h>

void ref_gemm(double alpha, ref_mat a, ref_mat b, double beta, ref_mat c) {
    for (int64_t i = 0; i < c.rows; ++i)
        for (int64_t j = 0; j < c.cols; ++j) {
            double s = 0;
            for (int64_t k = 0; k < a.cols; ++k) s += *ref_at(&a, i, k) * *ref_at(&b, k, j);
            double *out = ref_at(&c, i, j);
            *out = alpha * s + (beta != 0 ? beta * *out : 0.0);
        }
}

double ref_activate(int activation, double x) {
    switch (activation) {
    case 1: return x > 0 ? x : 0;
    case 2: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case 3: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    default: return x;
    }
}
