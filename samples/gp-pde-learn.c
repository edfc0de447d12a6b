/* gp-pde's spectral-mixture kernel learning: see gp-pde-learn.h. */
#include "gp-pde-learn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double two_pi = 6.283185307179586476925;

int sm_init(sm_learner *s, int d, const int64_t *n, const double *extent, int q, vks_sm_base base,
            double envelope_h, double jitter) {
    if (d < 1 || d > SM_MAX_DIMS || q < 1 || q > SM_MAX_Q || !(envelope_h > 0) || !(jitter >= 0)) return -1;
    if (base != VKS_SM_BASE_SE && base != VKS_SM_BASE_MATERN52) return -1;
    memset(s, 0, sizeof *s);
    s->d = d, s->q = q, s->jitter = jitter, s->base = base;
    for (int i = 0; i < d; ++i) {
        if (n[i] < 3 || !(extent[i] > 0)) return -1;
        s->n[i] = n[i];
        s->h[i] = extent[i] / (double)(n[i] - 1);
        const double ell = envelope_h * s->h[i];
        s->rho[i] = base == VKS_SM_BASE_SE ? 1.0 / (2.0 * ell * ell) : 1.0 / ell;
        /* From one cycle per domain to the grid's Nyquist frequency 1/(2h), log-spaced. */
        const double f_lo = 1.0 / extent[i], f_hi = 0.5 / s->h[i];
        for (int k = 0; k < q; ++k) {
            s->freq[i][k] = q == 1 ? f_lo : f_lo * pow(f_hi / f_lo, (double)k / (double)(q - 1));
            s->log_w[i][k] = -log((double)q);
        }
    }
    return 0;
}

static double envelope(const sm_learner *s, int i, double r) {
    if (s->base == VKS_SM_BASE_SE) return exp(-s->rho[i] * r * r);
    const double a = sqrt(5.0) * s->rho[i] * fabs(r);
    return (1 + a + a * a / 3) * exp(-a);
}

/* b[k * n + l] = component k of dimension i at lag l (r = l h), without its weight. */
static void components(const sm_learner *s, int i, double *b) {
    const int64_t n = s->n[i];
    for (int k = 0; k < s->q; ++k)
        for (int64_t l = 0; l < n; ++l) {
            const double r = (double)l * s->h[i];
            b[k * n + l] = envelope(s, i, r) * cos(two_pi * s->freq[i][k] * r);
        }
}

double sm_kernel_value(const sm_learner *s, int i, double r) {
    double sum_w = 0, k = 0;
    for (int c = 0; c < s->q; ++c) sum_w += exp(s->log_w[i][c]);
    for (int c = 0; c < s->q; ++c)
        k += exp(s->log_w[i][c]) / sum_w * envelope(s, i, r) * cos(two_pi * s->freq[i][c] * r);
    return k;
}

void sm_kernel_desc(sm_learner *s, int i, vks_kernel_desc *desc) {
    double sum_w = 0;
    for (int c = 0; c < s->q; ++c) sum_w += exp(s->log_w[i][c]);
    for (int c = 0; c < s->q; ++c) s->weights[i][c] = exp(s->log_w[i][c]) / sum_w, s->rhos[i][c] = s->rho[i];
    *desc = (vks_kernel_desc)VKS_KERNEL_DESC_INIT;
    desc->kind = VKS_KERNEL_SPECTRAL_MIXTURE;
    desc->sm_base = s->base;
    desc->num_mixtures = s->q;
    desc->sm_weights = s->weights[i];
    desc->sm_rhos = s->rhos[i];
    desc->sm_freqs = s->freq[i];
}

/* In-place Cholesky (lower) of the n x n row-major a; returns 0, or -1 if not PD. */
static int cholesky(double *a, int64_t n) {
    for (int64_t j = 0; j < n; ++j) {
        double dj = a[j * n + j];
        for (int64_t k = 0; k < j; ++k) dj -= a[j * n + k] * a[j * n + k];
        if (!(dj > 0)) return -1;
        const double ljj = sqrt(dj);
        a[j * n + j] = ljj;
        for (int64_t r = j + 1; r < n; ++r) {
            double v = a[r * n + j];
            for (int64_t k = 0; k < j; ++k) v -= a[r * n + k] * a[j * n + k];
            a[r * n + j] = v / ljj;
        }
    }
    return 0;
}

/* inv = (L L')^-1 = X' X, X = L^-1, from the factor l (lower); x: n x n scratch. Row
 * oriented so that every inner loop runs along contiguous memory. */
static void cholesky_inverse(const double *l, int64_t n, double *inv, double *x) {
    for (int64_t r = 0; r < n; ++r) { /* row r of X: (e_r - sum_{k<r} L[r][k] X[k]) / L[r][r] */
        double *xr = x + r * n;
        for (int64_t c = 0; c < n; ++c) xr[c] = c == r ? 1.0 : 0.0;
        for (int64_t k = 0; k < r; ++k) {
            const double lrk = l[r * n + k], *xk = x + k * n;
            for (int64_t c = 0; c <= k; ++c) xr[c] -= lrk * xk[c];
        }
        for (int64_t c = 0; c <= r; ++c) xr[c] /= l[r * n + r];
    }
    for (int64_t e = 0; e < n * n; ++e) inv[e] = 0;
    for (int64_t k = 0; k < n; ++k) { /* inv += X[k]' X[k], lower half */
        const double *xk = x + k * n;
        for (int64_t i = 0; i <= k; ++i) {
            const double xki = xk[i];
            double *row = inv + i * n;
            for (int64_t j = 0; j <= i; ++j) row[j] += xki * xk[j];
        }
    }
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = i + 1; j < n; ++j) inv[i * n + j] = inv[j * n + i];
}

/* c (m x p) = op(a) op(b), row-major, op(a) m x k, op(b) k x p; ta / tb: a / b given
 * transposed. Inner loops along contiguous rows. */
static void matmul(const double *a, int ta, const double *b, int tb, double *c, int64_t m, int64_t k, int64_t p) {
    for (int64_t i = 0; i < m; ++i) {
        double *ci = c + i * p;
        if (tb) {
            for (int64_t j = 0; j < p; ++j) {
                double v = 0;
                for (int64_t t = 0; t < k; ++t) v += (ta ? a[t * m + i] : a[i * k + t]) * b[j * k + t];
                ci[j] = v;
            }
            continue;
        }
        for (int64_t j = 0; j < p; ++j) ci[j] = 0;
        for (int64_t t = 0; t < k; ++t) {
            const double ait = ta ? a[t * m + i] : a[i * k + t], *bt = b + t * p;
            for (int64_t j = 0; j < p; ++j) ci[j] += ait * bt[j];
        }
    }
}

/* ds[l] = sum over (r, c) with |r - c| = l of m[r][c] (n x n). */
static void diagonal_sums(const double *m, int64_t n, double *ds) {
    for (int64_t l = 0; l < n; ++l) ds[l] = 0;
    for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < n; ++c) ds[r > c ? r - c : c - r] += m[r * n + c];
}

double sm_objective(const sm_learner *s, const double *u, double *grad) {
    const int d = s->d, q = s->q;
    int64_t big_n = 1, n_max = 0;
    for (int i = 0; i < d; ++i) big_n *= s->n[i], n_max = s->n[i] > n_max ? s->n[i] : n_max;
    double *b[SM_MAX_DIMS] = {NULL}, *k[SM_MAX_DIMS] = {NULL}, *kinv[SM_MAX_DIMS] = {NULL};
    double *col = malloc(sizeof(double) * (size_t)n_max), *ds = malloc(sizeof(double) * (size_t)n_max);
    const int64_t tmp_size = big_n > n_max * n_max ? big_n : n_max * n_max;
    double *alpha = malloc(sizeof(double) * (size_t)big_n), *tmp = malloc(sizeof(double) * (size_t)tmp_size);
    double *gram = malloc(sizeof(double) * (size_t)(n_max * n_max));
    double j_value = 0;
    for (int i = 0; i < d && !isnan(j_value); ++i) {
        const int64_t n = s->n[i];
        b[i] = malloc(sizeof(double) * (size_t)(q * n));
        k[i] = malloc(sizeof(double) * (size_t)(n * n));
        kinv[i] = malloc(sizeof(double) * (size_t)(n * n));
        components(s, i, b[i]);
        double sum_w = 0;
        for (int c = 0; c < q; ++c) sum_w += exp(s->log_w[i][c]);
        for (int64_t l = 0; l < n; ++l) { /* the Toeplitz column of K_i */
            double v = l == 0 ? s->jitter * sum_w : 0.0;
            for (int c = 0; c < q; ++c) v += exp(s->log_w[i][c]) * b[i][c * n + l];
            col[l] = v;
        }
        for (int64_t r = 0; r < n; ++r)
            for (int64_t c = 0; c < n; ++c) k[i][r * n + c] = col[r > c ? r - c : c - r];
        memcpy(kinv[i], k[i], sizeof(double) * (size_t)(n * n));
        if (cholesky(kinv[i], n)) {
            j_value = NAN;
            break;
        }
        double logdet = 0;
        for (int64_t r = 0; r < n; ++r) logdet += 2 * log(kinv[i][r * n + r]);
        j_value += 0.5 * (double)(big_n / n) * logdet;
        memcpy(gram, kinv[i], sizeof(double) * (size_t)(n * n));
        cholesky_inverse(gram, n, kinv[i], tmp);
    }
    if (!isnan(j_value)) {
        /* alpha = K^-1 u: K_1^-1 U (K_2^-1)' for a row-major n_1 x n_2 U (K_2^-1 symmetric). */
        if (d == 1) {
            matmul(kinv[0], 0, u, 0, alpha, s->n[0], s->n[0], 1);
        } else {
            matmul(kinv[0], 0, u, 0, tmp, s->n[0], s->n[0], s->n[1]);
            matmul(tmp, 0, kinv[1], 0, alpha, s->n[0], s->n[1], s->n[1]);
        }
        double quad = 0;
        for (int64_t e = 0; e < big_n; ++e) quad += u[e] * alpha[e];
        j_value += 0.5 * quad;
    }
    for (int i = 0; grad && !isnan(j_value) && i < d; ++i) {
        const int64_t n = s->n[i];
        /* The Gram matrix of alpha seen from dimension i: alpha' (.. ⊗ B ⊗ ..) alpha = sum B ∘ G_i. */
        if (d == 1) {
            for (int64_t r = 0; r < n; ++r)
                for (int64_t c = 0; c < n; ++c) gram[r * n + c] = alpha[r] * alpha[c];
        } else if (i == 0) { /* G_1 = A K_2 A' */
            matmul(alpha, 0, k[1], 0, tmp, s->n[0], s->n[1], s->n[1]);
            matmul(tmp, 0, alpha, 1, gram, s->n[0], s->n[1], s->n[0]);
        } else { /* G_2 = A' K_1 A = (K_1 A)' A */
            matmul(k[0], 0, alpha, 0, tmp, s->n[0], s->n[0], s->n[1]);
            matmul(tmp, 1, alpha, 0, gram, s->n[1], s->n[0], s->n[1]);
        }
        double *ds_gram = malloc(sizeof(double) * (size_t)n);
        diagonal_sums(gram, n, ds_gram);
        diagonal_sums(kinv[i], n, ds);
        const double mult = (double)(big_n / n);
        for (int c = 0; c < q; ++c) {
            /* dK_i/dw_c = B_c + jitter I (the jitter is relative to sum w). */
            double tr_kinv_b = s->jitter * ds[0], quad_b = s->jitter * ds_gram[0];
            for (int64_t l = 0; l < n; ++l) {
                tr_kinv_b += b[i][c * n + l] * ds[l];
                quad_b += b[i][c * n + l] * ds_gram[l];
            }
            grad[i * q + c] = exp(s->log_w[i][c]) * (0.5 * mult * tr_kinv_b - 0.5 * quad_b);
        }
        free(ds_gram);
    }
    for (int i = 0; i < d; ++i) free(b[i]), free(k[i]), free(kinv[i]);
    free(col), free(ds), free(alpha), free(tmp), free(gram);
    return j_value;
}

double sm_adam(sm_learner *s, const double *u, int steps, double lr) {
    double grad[SM_MAX_DIMS * SM_MAX_Q];
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int step = 0; step < steps; ++step) {
        if (isnan(sm_objective(s, u, grad))) return NAN;
        ++s->adam_t;
        for (int i = 0; i < s->d; ++i)
            for (int c = 0; c < s->q; ++c) {
                const double g = grad[i * s->q + c];
                s->adam_m[i][c] = b1 * s->adam_m[i][c] + (1 - b1) * g;
                s->adam_v[i][c] = b2 * s->adam_v[i][c] + (1 - b2) * g * g;
                const double mh = s->adam_m[i][c] / (1 - pow(b1, s->adam_t));
                const double vh = s->adam_v[i][c] / (1 - pow(b2, s->adam_t));
                s->log_w[i][c] -= lr * mh / (sqrt(vh) + eps);
            }
    }
    return sm_objective(s, u, NULL);
}
