#include "reference_lowrank.h"

#include <stdlib.h>

void ref_lora_delta(int64_t out, int64_t in, int64_t r, double s, const double *b, const double *a, double *delta) {
    for (int64_t o = 0; o < out; ++o)
        for (int64_t k = 0; k < in; ++k) {
            double v = 0;
            for (int64_t q = 0; q < r; ++q) v += b[o * r + q] * a[q * in + k];
            delta[o * in + k] += s * v;
        }
}

void ref_linear(int64_t m, int64_t in, int64_t out, const double *x, int64_t ldx, const double *w, const double *delta,
                const double *bias, double beta, double *y, int64_t ldy) {
    for (int64_t i = 0; i < m; ++i)
        for (int64_t o = 0; o < out; ++o) {
            double v = 0;
            for (int64_t k = 0; k < in; ++k) {
                double wk = (w ? w[o * in + k] : 0.0) + (delta ? delta[o * in + k] : 0.0);
                v += x[i * ldx + k] * wk;
            }
            if (bias) v += bias[o];
            double *dst = &y[i * ldy + o];
            *dst = v + (beta != 0 ? beta * *dst : 0.0);
        }
}

void ref_randlora_delta(int64_t out, int64_t in, int64_t r, int64_t n, const double *a, int64_t lda, const double *b,
                        int64_t nb_alloc, const double *lambda, const double *gamma, double *delta) {
    const int64_t dmin = in < out ? in : out, dmax = in < out ? out : in;
    /* Â_flat (r*n, d_min): row ρ*n + i holds λ[ρ][i] A[ρ][c] γ[i][c]. */
    double *ahat = malloc(sizeof(double) * (size_t)(r * n * dmin));
    for (int64_t rho = 0; rho < r; ++rho)
        for (int64_t i = 0; i < n; ++i)
            for (int64_t c = 0; c < dmin; ++c)
                ahat[(rho * n + i) * dmin + c] = lambda[rho * n + i] * a[rho * lda + c] * gamma[i * dmin + c];
    /* B_flat (d_max, n*r): column i*r + ρ holds B[d][i][ρ] (B sliced to [:d_max, :n, :]). */
    double *bflat = malloc(sizeof(double) * (size_t)(dmax * n * r));
    for (int64_t d = 0; d < dmax; ++d)
        for (int64_t i = 0; i < n; ++i)
            for (int64_t rho = 0; rho < r; ++rho)
                bflat[d * (n * r) + i * r + rho] = b[(d * nb_alloc + i) * r + rho];
    /* P = B_flat Â_flat (d_max, d_min): the flattened index j pairs column j of B_flat
     * with row j of Â_flat. ΔW = P when out = d_max (in <= out), else P^T. */
    for (int64_t d = 0; d < dmax; ++d)
        for (int64_t c = 0; c < dmin; ++c) {
            double v = 0;
            for (int64_t j = 0; j < n * r; ++j) v += bflat[d * (n * r) + j] * ahat[j * dmin + c];
            if (in <= out) delta[d * in + c] = v;
            else delta[c * in + d] = v;
        }
    free(ahat);
    free(bflat);
}
