/* vks_kron_pde_learn's host float64 learner: see kron_pde_learn_internal.h. */
#include <math.h>
#include <string.h>

#include "kron_pde_learn_internal.h"

static const double two_pi = 6.283185307179586476925;

void vks__sm_init(vks__sm_learner *s, int d, const int64_t *n, const double *extent, int q, vks_sm_base base,
                  double envelope_h, double jitter) {
    memset(s, 0, sizeof *s);
    s->d = d, s->q = q, s->jitter = jitter, s->base = base, s->failed_dim = -1;
    for (int i = 0; i < d; ++i) {
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
}

static double envelope(const vks__sm_learner *s, int i, double r) {
    if (s->base == VKS_SM_BASE_SE) return exp(-s->rho[i] * r * r);
    const double a = sqrt(5.0) * s->rho[i] * fabs(r);
    return (1 + a + a * a / 3) * exp(-a);
}

void vks__sm_kernel_desc(vks__sm_learner *s, int i, vks_kernel_desc *desc) {
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

int64_t vks__host_cholesky(double *a, int64_t n, double *pivot) {
    for (int64_t j = 0; j < n; ++j) {
        double dj = a[j * n + j];
        for (int64_t k = 0; k < j; ++k) dj -= a[j * n + k] * a[j * n + k];
        if (!(dj > 0)) {
            if (pivot) *pivot = dj;
            return j;
        }
        const double ljj = sqrt(dj);
        a[j * n + j] = ljj;
        for (int64_t r = j + 1; r < n; ++r) {
            double v = a[r * n + j];
            for (int64_t k = 0; k < j; ++k) v -= a[r * n + k] * a[j * n + k];
            a[r * n + j] = v / ljj;
        }
    }
    return -1;
}

void vks__host_cholesky_inverse(const double *l, int64_t n, double *inv, double *x) {
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

/* The grid as outer x n_t x inner around mode t (row-major, the first dimension slowest). */
static void split(const vks__sm_learner *s, int t, int64_t *outer, int64_t *inner) {
    *outer = 1, *inner = 1;
    for (int i = 0; i < s->d; ++i) {
        if (i < t) *outer *= s->n[i];
        if (i > t) *inner *= s->n[i];
    }
}

/* y = x along mode t times the symmetric n_t x n_t m: y[p, r, q] = sum_c m[r][c] x[p, c, q]. */
static void mode_product(const vks__sm_learner *s, int t, const double *m, const double *x, double *y) {
    const int64_t n = s->n[t];
    int64_t outer, inner;
    split(s, t, &outer, &inner);
    if (inner == 1) { /* the last mode: rows of x against rows of m, both contiguous */
        for (int64_t p = 0; p < outer; ++p)
            for (int64_t r = 0; r < n; ++r) {
                const double *mr = m + r * n, *xp = x + p * n;
                double v = 0;
                for (int64_t c = 0; c < n; ++c) v += mr[c] * xp[c];
                y[p * n + r] = v;
            }
        return;
    }
    for (int64_t p = 0; p < outer; ++p)
        for (int64_t r = 0; r < n; ++r) {
            double *yr = y + (p * n + r) * inner;
            for (int64_t q = 0; q < inner; ++q) yr[q] = 0;
            for (int64_t c = 0; c < n; ++c) {
                const double mrc = m[r * n + c], *xc = x + (p * n + c) * inner;
                for (int64_t q = 0; q < inner; ++q) yr[q] += mrc * xc[q];
            }
        }
}

/* g (n_t x n_t) = sum over the other indices of a[p, r, q] b[p, c, q]. */
static void mode_gram(const vks__sm_learner *s, int t, const double *a, const double *b, double *g) {
    const int64_t n = s->n[t];
    int64_t outer, inner;
    split(s, t, &outer, &inner);
    for (int64_t e = 0; e < n * n; ++e) g[e] = 0;
    if (inner == 1) { /* the last mode: rank-one updates along contiguous rows */
        for (int64_t p = 0; p < outer; ++p)
            for (int64_t r = 0; r < n; ++r) {
                const double apr = a[p * n + r], *bp = b + p * n;
                double *gr = g + r * n;
                for (int64_t c = 0; c < n; ++c) gr[c] += apr * bp[c];
            }
        return;
    }
    for (int64_t p = 0; p < outer; ++p)
        for (int64_t r = 0; r < n; ++r) {
            const double *ar = a + (p * n + r) * inner;
            for (int64_t c = 0; c < n; ++c) {
                const double *bc = b + (p * n + c) * inner;
                double v = 0;
                for (int64_t q = 0; q < inner; ++q) v += ar[q] * bc[q];
                g[r * n + c] += v;
            }
        }
}

/* ds[l] = sum over (r, c) with |r - c| = l of m[r][c] (n x n). */
static void diagonal_sums(const double *m, int64_t n, double *ds) {
    for (int64_t l = 0; l < n; ++l) ds[l] = 0;
    for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < n; ++c) ds[r > c ? r - c : c - r] += m[r * n + c];
}

typedef struct work_layout {
    double *b[VKS_KRON_MAX_DIMS], *k[VKS_KRON_MAX_DIMS], *kinv[VKS_KRON_MAX_DIMS];
    double *col, *ds, *ds_gram, *alpha, *t1, *t2, *gram;
    size_t total;
} work_layout;

static work_layout layout(const vks__sm_learner *s, double *work) {
    work_layout w;
    memset(&w, 0, sizeof w);
    int64_t big_n = 1, n_max = 0;
    for (int i = 0; i < s->d; ++i) big_n *= s->n[i], n_max = s->n[i] > n_max ? s->n[i] : n_max;
    size_t at = 0;
#define TAKE(ptr, count) ((ptr) = work ? work + at : NULL, at += (size_t)(count))
    for (int i = 0; i < s->d; ++i) {
        TAKE(w.b[i], s->q * s->n[i]);
        TAKE(w.k[i], s->n[i] * s->n[i]);
        TAKE(w.kinv[i], s->n[i] * s->n[i]);
    }
    TAKE(w.col, n_max), TAKE(w.ds, n_max), TAKE(w.ds_gram, n_max);
    TAKE(w.alpha, big_n), TAKE(w.t1, big_n > n_max * n_max ? big_n : n_max * n_max), TAKE(w.t2, big_n);
    TAKE(w.gram, n_max * n_max);
#undef TAKE
    w.total = at;
    return w;
}

size_t vks__sm_work_doubles(const vks__sm_learner *s) { return layout(s, NULL).total; }

double vks__sm_objective(vks__sm_learner *s, const double *u, double *grad, double *work) {
    const int d = s->d, q = s->q;
    const work_layout w = layout(s, work);
    int64_t big_n = 1;
    for (int i = 0; i < d; ++i) big_n *= s->n[i];
    double j_value = 0;
    s->failed_dim = -1;
    for (int i = 0; i < d; ++i) {
        const int64_t n = s->n[i];
        for (int c = 0; c < q; ++c)
            for (int64_t l = 0; l < n; ++l) { /* component c at lag l, without its weight */
                const double r = (double)l * s->h[i];
                w.b[i][c * n + l] = envelope(s, i, r) * cos(two_pi * s->freq[i][c] * r);
            }
        double sum_w = 0;
        for (int c = 0; c < q; ++c) sum_w += exp(s->log_w[i][c]);
        for (int64_t l = 0; l < n; ++l) { /* the Toeplitz column of K_i */
            double v = l == 0 ? s->jitter * sum_w : 0.0;
            for (int c = 0; c < q; ++c) v += exp(s->log_w[i][c]) * w.b[i][c * n + l];
            w.col[l] = v;
        }
        for (int64_t r = 0; r < n; ++r)
            for (int64_t c = 0; c < n; ++c) w.k[i][r * n + c] = w.col[r > c ? r - c : c - r];
        memcpy(w.gram, w.k[i], sizeof(double) * (size_t)(n * n));
        if (vks__host_cholesky(w.gram, n, NULL) >= 0) {
            s->failed_dim = i;
            return NAN;
        }
        double logdet = 0;
        for (int64_t r = 0; r < n; ++r) logdet += 2 * log(w.gram[r * n + r]);
        j_value += 0.5 * (double)(big_n / n) * logdet;
        vks__host_cholesky_inverse(w.gram, n, w.kinv[i], w.t1);
    }
    /* alpha = K^-1 u: one mode product with K_i^-1 per dimension, ping-ponging t1 / alpha. */
    const double *src = u;
    for (int i = 0; i < d; ++i) {
        double *dst = (d - i) % 2 ? w.alpha : w.t1;
        mode_product(s, i, w.kinv[i], src, dst);
        src = dst;
    }
    double quad = 0;
    for (int64_t e = 0; e < big_n; ++e) quad += u[e] * w.alpha[e];
    j_value += 0.5 * quad;
    for (int i = 0; grad && i < d; ++i) {
        const int64_t n = s->n[i];
        /* The Gram matrix of alpha seen from dimension i, G_i = A_(i) (⊗_{j≠i} K_j) A_(i)^T:
         * alpha^T (.. ⊗ B ⊗ ..) alpha = sum B ∘ G_i. */
        const double *t = w.alpha;
        for (int j = 0; j < d; ++j) {
            if (j == i) continue;
            double *dst = t == w.t1 ? w.t2 : w.t1;
            mode_product(s, j, w.k[j], t, dst);
            t = dst;
        }
        mode_gram(s, i, t, w.alpha, w.gram);
        diagonal_sums(w.gram, n, w.ds_gram);
        diagonal_sums(w.kinv[i], n, w.ds);
        const double mult = (double)(big_n / n);
        for (int c = 0; c < q; ++c) {
            /* dK_i/dw_c = B_c + jitter I (the jitter is relative to sum w). */
            double tr_kinv_b = s->jitter * w.ds[0], quad_b = s->jitter * w.ds_gram[0];
            for (int64_t l = 0; l < n; ++l) {
                tr_kinv_b += w.b[i][c * n + l] * w.ds[l];
                quad_b += w.b[i][c * n + l] * w.ds_gram[l];
            }
            grad[i * q + c] = exp(s->log_w[i][c]) * (0.5 * mult * tr_kinv_b - 0.5 * quad_b);
        }
    }
    return j_value;
}

double vks__sm_adam(vks__sm_learner *s, const double *u, int steps, double lr, double *work) {
    double grad[VKS_KRON_MAX_DIMS * VKS_SM_LEARN_MAX_Q];
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int step = 0; step < steps; ++step) {
        if (isnan(vks__sm_objective(s, u, grad, work))) return NAN;
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
    return vks__sm_objective(s, u, NULL, work);
}
