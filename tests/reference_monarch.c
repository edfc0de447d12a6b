#include "reference_monarch.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"

static double *zeros(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }

double *refm_blockdiag(const double *w, int64_t nb, int64_t rows, int64_t cols) {
    const int64_t R = nb * rows, C = nb * cols;
    double *m = zeros(R * C);
    for (int64_t b = 0; b < nb; ++b)
        for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < cols; ++j) m[(b * rows + i) * C + b * cols + j] = w[(b * rows + i) * cols + j];
    return m;
}

double *refm_perm_swap(int64_t a, int64_t c) {
    const int64_t n = a * c;
    double *pm = zeros(n * n);
    for (int64_t ai = 0; ai < a; ++ai)
        for (int64_t ci = 0; ci < c; ++ci) pm[(ci * a + ai) * n + (ai * c + ci)] = 1.0;
    return pm;
}

double *refm_matmul(const double *a, const double *b, int64_t m, int64_t k, int64_t n) {
    /* Row by row, skipping A's zeros: the factors are permutation and block-diagonal
     * matrices, so this costs nnz(A) * n rather than m * k * n. */
    double *c = zeros(m * n);
    for (int64_t i = 0; i < m; ++i)
        for (int64_t kk = 0; kk < k; ++kk) {
            const double v = a[i * k + kk];
            if (v == 0.0) continue;
            const double *brow = b + kk * n;
            double *crow = c + i * n;
            for (int64_t j = 0; j < n; ++j) crow[j] += v * brow[j];
        }
    return c;
}

double *refm_transpose(const double *a, int64_t rows, int64_t cols) {
    double *t = zeros(rows * cols);
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) t[j * rows + i] = a[i * cols + j];
    return t;
}

/* The three fixed factors of M, each in column-vector form. */
typedef struct factors {
    double *bd1, *pmid, *bd2, *pout;
} factors;

static factors make_factors(const double *w1, int64_t k, int64_t q, int64_t p, const double *w2, int64_t l, int64_t s,
                            int64_t r) {
    factors f;
    f.bd1 = refm_blockdiag(w1, k, q, p);  /* (k q) x (k p) */
    f.pmid = refm_perm_swap(r, l);        /* (l r) x (r l) = 'b (r l) -> b (l r)' */
    f.bd2 = refm_blockdiag(w2, l, s, r);  /* (l s) x (l r) */
    f.pout = refm_perm_swap(l, s);        /* (s l) x (l s) = 'b (l s) -> b (s l)' */
    return f;
}

/* y = A v for a dense rows x cols A. */
static void matvec(const double *a, const double *v, int64_t rows, int64_t cols, double *y) {
    for (int64_t i = 0; i < rows; ++i) {
        double acc = 0;
        const double *row = a + i * cols;
        for (int64_t j = 0; j < cols; ++j) acc += row[j] * v[j];
        y[i] = acc;
    }
}

static void free_factors(factors *f) { free(f->bd1), free(f->pmid), free(f->bd2), free(f->pout); }

double *refm_monarch_dense(const double *w1, int64_t k, int64_t q, int64_t p, const double *w2, int64_t l, int64_t s,
                           int64_t r) {
    factors f = make_factors(w1, k, q, p, w2, l, s, r);
    const int64_t n = k * p, mid = k * q, m = l * s;
    double *t1 = refm_matmul(f.pmid, f.bd1, mid, mid, n); /* P_mid BD1 */
    double *t2 = refm_matmul(f.bd2, t1, m, mid, n);       /* BD2 P_mid BD1 */
    double *mm = refm_matmul(f.pout, t2, m, m, n);        /* P_out BD2 P_mid BD1 */
    free(t1), free(t2);
    free_factors(&f);
    return mm;
}

void refm_monarch_forward(const double *x, int64_t batch, int64_t n_in, int64_t ldx, const double *w1, int64_t k,
                          int64_t q, int64_t p, const double *w2, int64_t l, int64_t s, int64_t r, int64_t m_out,
                          const double *bias, int activation, double *y) {
    factors f = make_factors(w1, k, q, p, w2, l, s, r);
    const int64_t n = k * p, mid = k * q, m = l * s;
    double *v0 = zeros(n), *v1 = zeros(mid), *v2 = zeros(mid), *v3 = zeros(m), *v4 = zeros(m);
    for (int64_t b = 0; b < batch; ++b) {
        for (int64_t i = 0; i < n; ++i) v0[i] = i < n_in ? x[b * ldx + i] : 0.0; /* zero padding */
        matvec(f.bd1, v0, mid, n, v1);
        matvec(f.pmid, v1, mid, mid, v2);
        matvec(f.bd2, v2, m, mid, v3);
        matvec(f.pout, v3, m, m, v4);
        for (int64_t o = 0; o < m_out; ++o) y[b * m_out + o] = ref_activate(activation, v4[o] + (bias ? bias[o] : 0.0));
    }
    free(v0), free(v1), free(v2), free(v3), free(v4);
    free_factors(&f);
}

void refm_linear(const double *x, int64_t batch, int64_t n_in, int64_t ldx, const double *m, int64_t mcols,
                 int64_t m_out, const double *bias, int activation, double *y) {
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t o = 0; o < m_out; ++o) {
            double acc = 0;
            for (int64_t i = 0; i < n_in; ++i) acc += m[o * mcols + i] * x[b * ldx + i];
            y[b * m_out + o] = ref_activate(activation, acc + (bias ? bias[o] : 0.0));
        }
}

void refm_monarch_grads(const double *x, const double *dy, int64_t batch, int64_t n_in, int64_t m_out,
                        const double *w1, int64_t k, int64_t q, int64_t p, const double *w2, int64_t l, int64_t s,
                        int64_t r, double *dx, double *dw1, double *dw2) {
    const int64_t n = k * p, mid = k * q, m = l * s;
    /* Zero-extended x (batch, n) and dy (batch, m). */
    double *xe = zeros(batch * n), *dye = zeros(batch * m);
    for (int64_t b = 0; b < batch; ++b) {
        memcpy(xe + b * n, x + b * n_in, (size_t)n_in * sizeof(double));
        memcpy(dye + b * m, dy + b * m_out, (size_t)m_out * sizeof(double));
    }
    factors f = make_factors(w1, k, q, p, w2, l, s, r);
    double *dyt = refm_transpose(dye, batch, m);
    double *gm = refm_matmul(dyt, xe, m, batch, n); /* dL/dM = dy^T x  (m x n) */
    if (dx) {
        double *mm = refm_monarch_dense(w1, k, q, p, w2, l, s, r);
        double *dxe = refm_matmul(dye, mm, batch, m, n);
        for (int64_t b = 0; b < batch; ++b) memcpy(dx + b * n_in, dxe + b * n, (size_t)n_in * sizeof(double));
        free(mm), free(dxe);
    }
    if (dw1) { /* dBD1 = (P_out BD2 P_mid)^T dL/dM */
        double *a = refm_matmul(f.bd2, f.pmid, m, mid, mid);
        double *b = refm_matmul(f.pout, a, m, m, mid);
        double *bt = refm_transpose(b, m, mid);
        double *g = refm_matmul(bt, gm, mid, m, n);
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < q; ++j)
                for (int64_t a2 = 0; a2 < p; ++a2) dw1[(i * q + j) * p + a2] = g[(i * q + j) * n + i * p + a2];
        free(a), free(b), free(bt), free(g);
    }
    if (dw2) { /* dBD2 = P_out^T dL/dM (P_mid BD1)^T */
        double *pt = refm_transpose(f.pout, m, m);
        double *c = refm_matmul(f.pmid, f.bd1, mid, mid, n);
        double *ct = refm_transpose(c, mid, n);
        double *t = refm_matmul(pt, gm, m, m, n);
        double *g = refm_matmul(t, ct, m, n, mid);
        for (int64_t li = 0; li < l; ++li)
            for (int64_t t2 = 0; t2 < s; ++t2)
                for (int64_t rho = 0; rho < r; ++rho) dw2[(li * s + t2) * r + rho] = g[(li * s + t2) * mid + li * r + rho];
        free(pt), free(c), free(ct), free(t), free(g);
    }
    free(dyt), free(gm), free(xe), free(dye);
    free_factors(&f);
}

void refm_singular_values(const double *a, int64_t m, int64_t n, double *sv) {
    /* One-sided Jacobi on the columns of A (or of A^T when it is wider than tall). */
    const bool wide = n > m;
    const int64_t rows = wide ? n : m, cols = wide ? m : n;
    double *u = zeros(rows * cols);
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) u[i * cols + j] = wide ? a[j * n + i] : a[i * n + j];
    for (int sweep = 0; sweep < 60; ++sweep) {
        double off = 0;
        for (int64_t c1 = 0; c1 < cols; ++c1)
            for (int64_t c2 = c1 + 1; c2 < cols; ++c2) {
                double al = 0, be = 0, ga = 0;
                for (int64_t i = 0; i < rows; ++i) {
                    al += u[i * cols + c1] * u[i * cols + c1];
                    be += u[i * cols + c2] * u[i * cols + c2];
                    ga += u[i * cols + c1] * u[i * cols + c2];
                }
                if (fabs(ga) <= 1e-300 || fabs(ga) <= 1e-17 * sqrt(al * be)) continue;
                off = fmax(off, fabs(ga) / sqrt(al * be));
                const double zeta = (be - al) / (2 * ga);
                const double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1 + zeta * zeta));
                const double c = 1 / sqrt(1 + t * t), sn = c * t;
                for (int64_t i = 0; i < rows; ++i) {
                    double x1 = u[i * cols + c1], x2 = u[i * cols + c2];
                    u[i * cols + c1] = c * x1 - sn * x2;
                    u[i * cols + c2] = sn * x1 + c * x2;
                }
            }
        if (off < 1e-15) break;
    }
    for (int64_t j = 0; j < cols; ++j) {
        double s2 = 0;
        for (int64_t i = 0; i < rows; ++i) s2 += u[i * cols + j] * u[i * cols + j];
        sv[j] = sqrt(s2);
    }
    /* Descending (insertion sort: small counts). */
    for (int64_t i = 1; i < cols; ++i)
        for (int64_t j = i; j > 0 && sv[j] > sv[j - 1]; --j) {
            double t = sv[j];
            sv[j] = sv[j - 1], sv[j - 1] = t;
        }
    free(u);
}

double refm_projection_bound(const double *mat, int64_t m_rows, int64_t n_cols, int64_t k, int64_t q, int64_t p,
                             int64_t l, int64_t s, int64_t r, int *max_rank) {
    (void)r;
    /* Rank of block (l_idx, i): intermediate channels c = 0 .. k*q-1 come out of w1's block
     * c / q; P_mid sends channel c = rho*l + l_idx to w2's block l_idx. */
    int *rank = calloc((size_t)(l * k), sizeof(int));
    for (int64_t c = 0; c < k * q; ++c) rank[(c % l) * k + c / q]++;
    double total = 0, rest = 0;
    double *blk = zeros(s * p), *sv = zeros(s + p);
    int mr = 0;
    for (int64_t li = 0; li < l; ++li)
        for (int64_t i = 0; i < k; ++i) {
            for (int64_t t = 0; t < s; ++t)
                for (int64_t a = 0; a < p; ++a) {
                    const int64_t row = t * l + li, col = i * p + a;
                    const double v = row < m_rows && col < n_cols ? mat[row * n_cols + col] : 0.0;
                    blk[t * p + a] = v;
                    total += v * v;
                }
            refm_singular_values(blk, s, p, sv);
            const int rk = rank[li * k + i];
            mr = rk > mr ? rk : mr;
            for (int64_t j = rk; j < (s < p ? s : p); ++j) rest += sv[j] * sv[j];
        }
    free(rank), free(blk), free(sv);
    if (max_rank) *max_rank = mr;
    return total > 0 ? sqrt(rest / total) : 0.0;
}
