#include "reference_orthogonal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double *alloc(size_t n) {
    double *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

int ref_cholesky(int64_t n, const double *a, double *l) {
    memset(l, 0, (size_t)(n * n) * sizeof *l);
    for (int64_t j = 0; j < n; ++j) {
        double d = a[j * n + j];
        for (int64_t k = 0; k < j; ++k) d -= l[j * n + k] * l[j * n + k];
        if (!(d > 0) || !isfinite(d)) return (int)j;
        l[j * n + j] = sqrt(d);
        for (int64_t i = j + 1; i < n; ++i) {
            double s = a[i * n + j];
            for (int64_t k = 0; k < j; ++k) s -= l[i * n + k] * l[j * n + k];
            l[i * n + j] = s / l[j * n + j];
        }
    }
    return -1;
}

void ref_trsm(int trans, int64_t n, int64_t k, const double *l, const double *b, double *x) {
    double *y = alloc((size_t)(n * k));
    memcpy(y, b, (size_t)(n * k) * sizeof *y);
    for (int64_t c = 0; c < k; ++c) {
        if (!trans) { /* forward: l y = b */
            for (int64_t i = 0; i < n; ++i) {
                double s = y[i * k + c];
                for (int64_t j = 0; j < i; ++j) s -= l[i * n + j] * y[j * k + c];
                y[i * k + c] = s / l[i * n + i];
            }
        } else { /* backward: l^T y = b, (l^T)(i, j) = l(j, i) */
            for (int64_t i = n - 1; i >= 0; --i) {
                double s = y[i * k + c];
                for (int64_t j = i + 1; j < n; ++j) s -= l[j * n + i] * y[j * k + c];
                y[i * k + c] = s / l[i * n + i];
            }
        }
    }
    memcpy(x, y, (size_t)(n * k) * sizeof *x);
    free(y);
}

/* Sorts the n pairs (w[i], column i of v (rows x n)) by w, ascending (asc) or descending. */
static void sort_pairs(int64_t n, int64_t rows, double *w, double *v, int asc) {
    for (int64_t i = 0; i < n; ++i) {
        int64_t best = i;
        for (int64_t j = i + 1; j < n; ++j)
            if (asc ? w[j] < w[best] : w[j] > w[best]) best = j;
        if (best == i) continue;
        double t = w[i];
        w[i] = w[best], w[best] = t;
        for (int64_t r = 0; r < rows; ++r) {
            t = v[r * n + i];
            v[r * n + i] = v[r * n + best], v[r * n + best] = t;
        }
    }
}

/* A power of two that brings max|x| near 1 (so that squares neither overflow nor underflow). */
static double pow2_scale(const double *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; ++i) m = fmax(m, fabs(x[i]));
    int e = 0;
    if (m > 0) frexp(m, &e);
    return ldexp(1.0, -e);
}

void ref_eigh(int64_t n, const double *a_in, double *w, double *v) {
    double *a = alloc((size_t)(n * n));
    const double sc = pow2_scale(a_in, (size_t)(n * n));
    /* Symmetrize from the lower triangle (what the API reads). */
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j <= i; ++j) a[i * n + j] = a[j * n + i] = a_in[i * n + j] * sc;
    for (int64_t i = 0; i < n * n; ++i) v[i] = 0;
    for (int64_t i = 0; i < n; ++i) v[i * n + i] = 1;
    for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0, tot = 0;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) {
                tot += a[i * n + j] * a[i * n + j];
                if (i != j) off += a[i * n + j] * a[i * n + j];
            }
        if (off <= 1e-30 * tot || off == 0) break;
        for (int64_t p = 0; p < n; ++p)
            for (int64_t q = p + 1; q < n; ++q) {
                double apq = a[p * n + q];
                if (apq == 0) continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int64_t r = 0; r < n; ++r) { /* columns p, q */
                    double ap = a[r * n + p], aq = a[r * n + q];
                    a[r * n + p] = c * ap - s * aq, a[r * n + q] = s * ap + c * aq;
                }
                for (int64_t r = 0; r < n; ++r) { /* rows p, q */
                    double ap = a[p * n + r], aq = a[q * n + r];
                    a[p * n + r] = c * ap - s * aq, a[q * n + r] = s * ap + c * aq;
                }
                for (int64_t r = 0; r < n; ++r) {
                    double vp = v[r * n + p], vq = v[r * n + q];
                    v[r * n + p] = c * vp - s * vq, v[r * n + q] = s * vp + c * vq;
                }
            }
    }
    for (int64_t i = 0; i < n; ++i) w[i] = a[i * n + i] / sc;
    sort_pairs(n, n, w, v, 1);
    free(a);
}

void ref_svd(int64_t m, int64_t n, const double *a, double *s, double *u, double *v) {
    if (m < n) { /* a^T = v s u^T */
        double *at = alloc((size_t)(m * n));
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) at[j * m + i] = a[i * n + j];
        ref_svd(n, m, at, s, v, u);
        free(at);
        return;
    }
    double *g = alloc((size_t)(m * n)); /* columns being orthogonalized */
    const double sc = pow2_scale(a, (size_t)(m * n));
    for (int64_t i = 0; i < m * n; ++i) g[i] = a[i] * sc;
    for (int64_t i = 0; i < n * n; ++i) v[i] = 0;
    for (int64_t i = 0; i < n; ++i) v[i * n + i] = 1;
    for (int sweep = 0; sweep < 100; ++sweep) {
        int rotated = 0;
        for (int64_t p = 0; p < n; ++p)
            for (int64_t q = p + 1; q < n; ++q) {
                double al = 0, be = 0, ga = 0;
                for (int64_t r = 0; r < m; ++r) {
                    al += g[r * n + p] * g[r * n + p];
                    be += g[r * n + q] * g[r * n + q];
                    ga += g[r * n + p] * g[r * n + q];
                }
                if (fabs(ga) <= 1e-15 * sqrt(al * be) || ga == 0) continue;
                rotated = 1;
                double zeta = (be - al) / (2 * ga);
                double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1 + zeta * zeta));
                double c = 1 / sqrt(1 + t * t), sn = c * t;
                for (int64_t r = 0; r < m; ++r) {
                    double gp = g[r * n + p], gq = g[r * n + q];
                    g[r * n + p] = c * gp - sn * gq, g[r * n + q] = sn * gp + c * gq;
                }
                for (int64_t r = 0; r < n; ++r) {
                    double vp = v[r * n + p], vq = v[r * n + q];
                    v[r * n + p] = c * vp - sn * vq, v[r * n + q] = sn * vp + c * vq;
                }
            }
        if (!rotated) break;
    }
    for (int64_t j = 0; j < n; ++j) {
        double nrm = 0;
        for (int64_t r = 0; r < m; ++r) nrm += g[r * n + j] * g[r * n + j];
        s[j] = sqrt(nrm);
    }
    for (int64_t j = 0; j < n; ++j) s[j] /= sc; /* g keeps the scaled columns: u = g / (s sc) */
    /* Sort descending, carrying the columns of g and v. */
    for (int64_t i = 0; i < n; ++i) {
        int64_t best = i;
        for (int64_t j = i + 1; j < n; ++j)
            if (s[j] > s[best]) best = j;
        if (best == i) continue;
        double t = s[i];
        s[i] = s[best], s[best] = t;
        for (int64_t r = 0; r < m; ++r) t = g[r * n + i], g[r * n + i] = g[r * n + best], g[r * n + best] = t;
        for (int64_t r = 0; r < n; ++r) t = v[r * n + i], v[r * n + i] = v[r * n + best], v[r * n + best] = t;
    }
    for (int64_t j = 0; j < n; ++j)
        for (int64_t r = 0; r < m; ++r) u[r * n + j] = s[j] > 0 ? g[r * n + j] / (s[j] * sc) : 0.0;
    free(g);
}

void ref_polar(int64_t m, int64_t n, const double *a, double *p) {
    const int64_t r = m < n ? m : n;
    double *s = alloc((size_t)r), *u = alloc((size_t)(m * r)), *v = alloc((size_t)(n * r));
    ref_svd(m, n, a, s, u, v);
    ref_matmul(m, n, r, u, 0, v, 1, p);
    free(s), free(u), free(v);
}

void ref_matmul(int64_t m, int64_t n, int64_t k, const double *a, int ta, const double *b, int tb, double *c) {
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double s = 0;
            for (int64_t q = 0; q < k; ++q) s += (ta ? a[q * m + i] : a[i * k + q]) * (tb ? b[j * k + q] : b[q * n + j]);
            c[i * n + j] = s;
        }
}

void ref_orthonormalize_columns(int64_t m, int64_t n, double *q) {
    for (int pass = 0; pass < 2; ++pass)
        for (int64_t j = 0; j < n; ++j) {
            for (int64_t p = 0; p < j; ++p) {
                double d = 0;
                for (int64_t r = 0; r < m; ++r) d += q[r * n + p] * q[r * n + j];
                for (int64_t r = 0; r < m; ++r) q[r * n + j] -= d * q[r * n + p];
            }
            double nrm = 0;
            for (int64_t r = 0; r < m; ++r) nrm += q[r * n + j] * q[r * n + j];
            nrm = sqrt(nrm);
            for (int64_t r = 0; r < m; ++r) q[r * n + j] /= nrm;
        }
}

void ref_random_orthonormal(vkt_rng *rng, int64_t m, int64_t n, double *q) {
    for (int64_t i = 0; i < m * n; ++i) q[i] = vkt_normal(rng); /* Gaussian columns */
    ref_orthonormalize_columns(m, n, q);
}

void ref_symmetric_with_spectrum(vkt_rng *rng, int64_t n, const double *w, double *a) {
    double *q = alloc((size_t)(n * n));
    ref_random_orthonormal(rng, n, n, q);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j <= i; ++j) {
            double s = 0;
            for (int64_t k = 0; k < n; ++k) s += q[i * n + k] * w[k] * q[j * n + k];
            a[i * n + j] = a[j * n + i] = s;
        }
    free(q);
}

void ref_matrix_with_singular_values(vkt_rng *rng, int64_t m, int64_t n, const double *s, double *a) {
    const int64_t r = m < n ? m : n;
    double *u = alloc((size_t)(m * r)), *v = alloc((size_t)(n * r));
    ref_random_orthonormal(rng, m, r, u);
    ref_random_orthonormal(rng, n, r, v);
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double t = 0;
            for (int64_t k = 0; k < r; ++k) t += u[i * r + k] * s[k] * v[j * r + k];
            a[i * n + j] = t;
        }
    free(u), free(v);
}

double ref_fro(const double *a, size_t n) { /* scaled: no underflow at 1e-200, no overflow at 1e200 */
    const double sc = pow2_scale(a, n);
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += (a[i] * sc) * (a[i] * sc);
    return sqrt(s) / sc;
}

double ref_max_diff(const double *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; ++i) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        m = fmax(m, fabs(a[i] - b[i]));
    }
    return m;
}

double ref_orth_error(int64_t m, int64_t n, const double *q) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double d = 0;
            for (int64_t r = 0; r < m; ++r) d += q[r * n + i] * q[r * n + j];
            d -= i == j ? 1.0 : 0.0;
            s += d * d;
        }
    return sqrt(s);
}
