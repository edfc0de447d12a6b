#include "reference_kron.h"

#include <math.h>

void ref_kron_dense(int d, const ref_mat *factors, double *out) {
    int64_t rows = 1, cols = 1;
    for (int t = 0; t < d; ++t) rows *= factors[t].rows, cols *= factors[t].cols;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
            /* Peel the multi-indices off from the last (fastest) dimension. */
            double v = 1.0;
            int64_t rr = r, cc = c;
            for (int t = d - 1; t >= 0; --t) {
                const int64_t j = rr % factors[t].rows, i = cc % factors[t].cols;
                rr /= factors[t].rows, cc /= factors[t].cols;
                v *= *ref_at(&factors[t], j, i);
            }
            out[r * cols + c] = v;
        }
}

ref_kron_kernel ref_kron_kernel_rbf(double lengthscale, double outputscale) {
    ref_kron_kernel k = {.base = 0, .q = 1};
    k.w[0] = outputscale, k.rho[0] = 1.0 / (2.0 * lengthscale * lengthscale), k.f[0] = 0.0;
    return k;
}

ref_kron_kernel ref_kron_kernel_matern52(double lengthscale, double outputscale) {
    ref_kron_kernel k = {.base = 1, .q = 1};
    k.w[0] = outputscale, k.rho[0] = 1.0 / lengthscale, k.f[0] = 0.0;
    return k;
}

static long double kernel_ld(const ref_kron_kernel *k, long double r) {
    const long double two_pi = 6.283185307179586476925286766559L;
    long double g = 0;
    for (int q = 0; q < k->q; ++q) {
        long double phi;
        if (k->base == 0) {
            phi = expl(-(long double)k->rho[q] * r * r);
        } else {
            const long double s = sqrtl(5.0L) * (long double)k->rho[q] * fabsl(r);
            phi = (1 + s + s * s / 3) * expl(-s);
        }
        g += (long double)k->w[q] * phi * cosl(two_pi * (long double)k->f[q] * r);
    }
    return g;
}

double ref_kron_kernel_value(const ref_kron_kernel *k, double x, double xp) { return (double)kernel_ld(k, (long double)x - xp); }

/* n-th derivative of g at r by the central stencil of spacing h (error O(h^2)). */
static long double central(const ref_kron_kernel *k, int n, long double r, long double h) {
    const long double m2 = kernel_ld(k, r - 2 * h), m1 = kernel_ld(k, r - h), z = kernel_ld(k, r);
    const long double p1 = kernel_ld(k, r + h), p2 = kernel_ld(k, r + 2 * h);
    switch (n) {
    case 0: return z;
    case 1: return (p1 - m1) / (2 * h);
    case 2: return (p1 - 2 * z + m1) / (h * h);
    case 3: return (p2 - 2 * p1 + 2 * m1 - m2) / (2 * h * h * h);
    default: return (p2 - 4 * p1 + 6 * z - 4 * m1 + m2) / (h * h * h * h);
    }
}

double ref_kron_kernel_derivative_fd(const ref_kron_kernel *k, int dx1, int dx2, double x, double xp, double step) {
    /* k(x, x') = g(x - x'): d/dx = d/dr, d/dx' = -d/dr. */
    const int n = dx1 + dx2;
    const long double r = (long double)x - xp, h = step;
    const long double d = (4 * central(k, n, r, h / 2) - central(k, n, r, h)) / 3;
    return (double)((dx2 % 2) ? -d : d);
}

double ref_kron_kernel_derivative_at_zero(const ref_kron_kernel *k, int dx1, int dx2) {
    const int n = dx1 + dx2;
    if (n % 2) return 0.0; /* g is even */
    double g = 0;
    for (int q = 0; q < k->q; ++q) {
        /* Taylor coefficients at 0, times j!: SE e^(-rho r^2) = 1 - rho r^2 + rho^2 r^4 / 2;
         * Matern 1 - u^2/6 + u^4/24 - ..., u = sqrt5 rho r; cos(w r) = 1 - w^2 r^2/2 + w^4 r^4/24. */
        const double rho = k->rho[q], c2 = 5.0 * rho * rho, om2 = pow(2 * M_PI * k->f[q], 2);
        const double phi[5] = {1, 0, k->base == 0 ? -2 * rho : -c2 / 3, 0, k->base == 0 ? 12 * rho * rho : c2 * c2};
        const double cs[5] = {1, 0, -om2, 0, om2 * om2};
        const double binom[5][5] = {{1}, {1, 1}, {1, 2, 1}, {1, 3, 3, 1}, {1, 4, 6, 4, 1}};
        double t = 0;
        for (int j = 0; j <= n; ++j) t += binom[n][j] * phi[j] * cs[n - j];
        g += k->w[q] * t;
    }
    return (dx2 % 2) ? -g : g;
}

int ref_kron_cholesky(int64_t n, const double *a, double *l) {
    for (int64_t i = 0; i < n * n; ++i) l[i] = 0;
    for (int64_t j = 0; j < n; ++j) {
        double s = a[j * n + j];
        for (int64_t p = 0; p < j; ++p) s -= l[j * n + p] * l[j * n + p];
        if (!(s > 0)) return (int)j + 1;
        const double djj = sqrt(s);
        l[j * n + j] = djj;
        for (int64_t i = j + 1; i < n; ++i) {
            double t = a[i * n + j];
            for (int64_t p = 0; p < j; ++p) t -= l[i * n + p] * l[j * n + p];
            l[i * n + j] = t / djj;
        }
    }
    return 0;
}

void ref_kron_cholesky_solve(int64_t n, const double *l, double *b, int64_t k) {
    for (int64_t c = 0; c < k; ++c) {
        for (int64_t i = 0; i < n; ++i) { /* l z = b */
            double s = b[i * k + c];
            for (int64_t p = 0; p < i; ++p) s -= l[i * n + p] * b[p * k + c];
            b[i * k + c] = s / l[i * n + i];
        }
        for (int64_t i = n - 1; i >= 0; --i) { /* l^T x = z */
            double s = b[i * k + c];
            for (int64_t p = i + 1; p < n; ++p) s -= l[p * n + i] * b[p * k + c];
            b[i * k + c] = s / l[i * n + i];
        }
    }
}

double ref_kron_cholesky_logdet(int64_t n, const double *l) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += 2 * log(l[i * n + i]);
    return s;
}

/* Dense Gaussian elimination with partial pivoting: a (n x n) x = b, in place. */
void ref_dense_solve(int64_t n, double *a, double *b) {
    for (int64_t c = 0; c < n; ++c) {
        int64_t p = c;
        for (int64_t r = c + 1; r < n; ++r)
            if (fabs(a[r * n + c]) > fabs(a[p * n + c])) p = r;
        for (int64_t j = 0; j < n; ++j) {
            const double t = a[c * n + j];
            a[c * n + j] = a[p * n + j], a[p * n + j] = t;
        }
        const double t = b[c];
        b[c] = b[p], b[p] = t;
        for (int64_t r = c + 1; r < n; ++r) {
            const double f = a[r * n + c] / a[c * n + c];
            for (int64_t j = c; j < n; ++j) a[r * n + j] -= f * a[c * n + j];
            b[r] -= f * b[c];
        }
    }
    for (int64_t r = n - 1; r >= 0; --r) {
        double s = b[r];
        for (int64_t j = r + 1; j < n; ++j) s -= a[r * n + j] * b[j];
        b[r] = s / a[r * n + r];
    }
}
