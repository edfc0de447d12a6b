/*
 * gp-grid-dist: Gaussian-process regression on a 3-D or 4-D grid split over MPI ranks with
 * vkstruct_mpi (the grid slab-decomposed along its first dimension, the kernel factors and
 * their eigendecompositions replicated on every rank).
 *
 *   truth  f(x) = prod_i sin(2 pi x_i) on [0, 1]^d;  data y = f + N(0, 0.05^2) noise (seeded by
 *          the point's index, so every rank makes its own slab without communication)
 *   model  K = K_1 ⊗ ... ⊗ K_d with RBF factors (length-scale 0.2), + s2 I
 *
 * Each rank builds the factors (vks_kron_kernel_matrix) and their eigendecompositions
 * (vks_kron_eigh), then vks_mpi_kron_solve gives its slab of alpha and of the posterior mean,
 * and the log-determinant and log marginal likelihood (reduced over the ranks). Prints per
 * rank the time, the share of the work and the bytes moved; the RMSE of the posterior mean
 * against the truth; and checks alpha, log-det and mll against vks_kron_solve of the whole
 * grid on rank 0's device.
 *
 *   mpirun -np 3 gp-grid-dist [--shape 48,40,36[,k]] [--f32] [--repeat R] [--no-check] [--device D]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vkstruct/mpi.h>
#include <vkstruct/vkstruct.h>

#include "sample_mpi.h"

#define PI 3.14159265358979323846

static int g_rank, g_size;

#define CHECK(call)                                                                                             \
    do {                                                                                                        \
        vks_status check_s_ = (call);                                                                           \
        if (check_s_ != VKS_OK) {                                                                               \
            fprintf(stderr, "gp-grid-dist rank %d: %s: %s\n  %s\n  %s\n", g_rank, #call,                         \
                    vks_status_string(check_s_), vks_mpi_last_error(), vks_last_error(NULL));                   \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                                       \
        }                                                                                                       \
    } while (0)

static double noise_of(int64_t index) { /* N(0, 0.05^2) from the point's index */
    uint64_t z = (uint64_t)index * 0x9E3779B97F4A7C15ull + 12345;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull, z = (z ^ (z >> 27)) * 0x94D049BB133111EBull, z ^= z >> 31;
    const double u1 = ((double)(z >> 11) + 0.5) * 0x1.0p-53;
    z = z * 0x9E3779B97F4A7C15ull + 1, z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull, z ^= z >> 27;
    const double u2 = (double)(z >> 11) * 0x1.0p-53;
    return 0.05 * sqrt(-2 * log(u1)) * cos(2 * PI * u2);
}

/* The truth at grid point `index` (row-major multi-index over n[0..d)). */
static double truth(int32_t d, const int64_t *n, int64_t index) {
    double v = 1;
    for (int32_t i = d - 1; i >= 0; --i) {
        v *= sin(2 * PI * (double)(index % n[i]) / (double)(n[i] - 1));
        index /= n[i];
    }
    return v;
}

/* Values of n points of dtype dt in a new buffer. */
static vks_buffer *upload(vks_context *ctx, vks_dtype dt, const double *x, size_t n) {
    const size_t es = dt == VKS_DTYPE_F64 ? 8 : 4;
    void *h = malloc(n * es + 1);
    for (size_t i = 0; i < n; ++i) {
        if (dt == VKS_DTYPE_F64) ((double *)h)[i] = x[i];
        else ((float *)h)[i] = (float)x[i];
    }
    vks_buffer *b = NULL;
    CHECK(vks_buffer_create(ctx, n * es + 8, &b));
    CHECK(vks_buffer_write(b, 0, h, n * es));
    free(h);
    return b;
}

static double *download(vks_buffer *b, vks_dtype dt, size_t n) {
    const size_t es = dt == VKS_DTYPE_F64 ? 8 : 4;
    void *h = malloc(n * es + 1);
    double *x = malloc(n * sizeof *x + 1);
    CHECK(vks_buffer_read(b, 0, h, n * es));
    for (size_t i = 0; i < n; ++i) x[i] = dt == VKS_DTYPE_F64 ? ((double *)h)[i] : ((float *)h)[i];
    free(h);
    return x;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    int64_t n[4] = {48, 40, 36, 0};
    int32_t d = 3;
    int repeat = 2, check = 1;
    vks_dtype dt = VKS_DTYPE_F64;
    const char *device = NULL;
    for (int a = 1; a < argc; ++a) {
        if (!strcmp(argv[a], "--shape") && a + 1 < argc) {
            long long v[4] = {0, 0, 0, 0};
            d = (int32_t)sscanf(argv[++a], "%lld,%lld,%lld,%lld", &v[0], &v[1], &v[2], &v[3]);
            for (int i = 0; i < 4; ++i) n[i] = v[i];
        } else if (!strcmp(argv[a], "--f32")) dt = VKS_DTYPE_F32;
        else if (!strcmp(argv[a], "--repeat") && a + 1 < argc) repeat = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--no-check")) check = 0;
        else if (!strcmp(argv[a], "--device") && a + 1 < argc) device = argv[++a];
        else d = 0;
    }
    int ok = d >= 2 && d <= 4 && repeat >= 1;
    for (int32_t i = 0; ok && i < d; ++i) ok = n[i] >= 2;
    if (!ok) {
        if (!g_rank) fprintf(stderr, "usage: gp-grid-dist [--shape n0,n1[,n2[,n3]]] (each >= 2) [--f32] [--repeat R] [--no-check] [--device D]\n");
        MPI_Finalize();
        return 2;
    }
    vks_context *ctx = NULL;
    CHECK(sample_mpi_context(device, &ctx));
    vks_device_info info = {sizeof info};
    CHECK(vks_context_get_device_info(ctx, &info));
    const size_t es = dt == VKS_DTYPE_F64 ? 8 : 4;

    /* Factors and eigendecompositions, replicated. */
    vks_buffer *bx[4], *bk[4], *bq[4], *bl[4];
    vks_tensor tk[4], tq[4], tl[4];
    vks_kernel_desc rbf = VKS_KERNEL_DESC_INIT;
    rbf.lengthscale = 0.2;
    vks_kron_eigh_desc ed = VKS_KRON_EIGH_DESC_INIT;
    ed.d = d;
    ed.jitter = 1e-6;
    const double te0 = MPI_Wtime();
    for (int32_t i = 0; i < d; ++i) {
        double *x = malloc((size_t)n[i] * sizeof *x);
        for (int64_t j = 0; j < n[i]; ++j) x[j] = (double)j / (double)(n[i] - 1);
        bx[i] = upload(ctx, dt, x, (size_t)n[i]);
        free(x);
        CHECK(vks_buffer_create(ctx, (uint64_t)(n[i] * n[i]) * es, &bk[i]));
        CHECK(vks_buffer_create(ctx, (uint64_t)(n[i] * n[i]) * es, &bq[i]));
        CHECK(vks_buffer_create(ctx, (uint64_t)n[i] * es, &bl[i]));
        vks_tensor tx = vks_tensor_1d(bx[i], dt, n[i]);
        tk[i] = vks_tensor_2d(bk[i], dt, n[i], n[i]), tq[i] = vks_tensor_2d(bq[i], dt, n[i], n[i]);
        tl[i] = vks_tensor_1d(bl[i], dt, n[i]);
        CHECK(vks_kron_kernel_matrix(ctx, &rbf, &tx, &tx, &tk[i]));
        ed.factors[i] = &tk[i], ed.eigvecs[i] = &tq[i], ed.eigvals[i] = &tl[i];
    }
    CHECK(vks_kron_eigh(ctx, &ed));
    const double t_eigh = MPI_Wtime() - te0;

    /* This rank's slab of y. */
    int64_t first = 0, rows = 0, rest = 1, points = n[0];
    CHECK(vks_mpi_slab(n[0], g_size, g_rank, &first, &rows));
    for (int32_t i = 1; i < d; ++i) rest *= n[i], points *= n[i];
    const size_t local = (size_t)(rows * rest);
    double *f = malloc(local * sizeof *f + 1), *y = malloc(local * sizeof *y + 1);
    for (size_t e = 0; e < local; ++e) {
        f[e] = truth(d, n, first * rest + (int64_t)e);
        y[e] = f[e] + noise_of(first * rest + (int64_t)e);
    }
    vks_buffer *by = upload(ctx, dt, y, local), *ba = NULL, *bm = NULL;
    CHECK(vks_buffer_create(ctx, local * es + 8, &ba));
    CHECK(vks_buffer_create(ctx, local * es + 8, &bm));
    vks_tensor ty = vks_tensor_1d(by, dt, (int64_t)local), ta = vks_tensor_1d(ba, dt, (int64_t)local);
    vks_tensor tm = vks_tensor_1d(bm, dt, (int64_t)local);
    vks_mpi_kron_solve_desc sd = VKS_MPI_KRON_SOLVE_DESC_INIT;
    double logdet = 0, mll = 0;
    sd.d = d, sd.noise = 0.05 * 0.05;
    for (int32_t i = 0; i < d; ++i) sd.eigvecs[i] = &tq[i], sd.eigvals[i] = &tl[i];
    sd.y = &ty, sd.alpha = &ta, sd.mean = &tm, sd.logdet = &logdet, sd.mll = &mll;
    vks_mpi_stats stats = {sizeof stats};
    vks_mpi_options mo = VKS_MPI_OPTIONS_INIT;
    mo.stats = &stats;
    double best = 1e300;
    for (int r = 0; r < repeat; ++r) {
        MPI_Barrier(MPI_COMM_WORLD);
        const double t0 = MPI_Wtime();
        CHECK(vks_mpi_kron_solve(ctx, MPI_COMM_WORLD, &sd, &mo));
        CHECK(vks_synchronize(ctx));
        const double t = MPI_Wtime() - t0;
        best = t < best ? t : best;
    }
    double *alpha = download(ba, dt, local), *mean = download(bm, dt, local);
    double sq[2] = {0, 0}, sq_all[2];
    for (size_t e = 0; e < local; ++e) sq[0] += (mean[e] - f[e]) * (mean[e] - f[e]), sq[1] += (y[e] - f[e]) * (y[e] - f[e]);
    MPI_Allreduce(sq, sq_all, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);

    double row[8] = {(double)rows, stats.flops, stats.compute_seconds, stats.exchange_seconds, (double)stats.bytes_sent,
                     (double)stats.bytes_received, best, t_eigh};
    double *all = g_rank ? NULL : malloc(sizeof row * (size_t)g_size);
    MPI_Gather(row, 8, MPI_DOUBLE, all, 8, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (!g_rank) {
        char shape[64];
        int at = 0;
        for (int32_t i = 0; i < d; ++i) at += snprintf(shape + at, sizeof shape - (size_t)at, i ? " x %lld" : "%lld", (long long)n[i]);
        double flops = 0;
        for (int r = 0; r < g_size; ++r) flops += all[8 * r + 1];
        printf("gp-grid-dist: %s grid (%lld points), %s, %d ranks, slabs along the first dimension, device %s\n", shape,
               (long long)points, dt == VKS_DTYPE_F64 ? "f64" : "f32", g_size, info.name);
        printf("%4s %6s %8s %10s %11s %10s %12s %9s %9s\n", "rank", "rows", "flops%", "compute s", "exchange s",
               "sent MB", "received MB", "solve s", "eigh s");
        for (int r = 0; r < g_size; ++r) {
            const double *x = all + 8 * r;
            printf("%4d %6.0f %7.1f%% %10.3f %11.3f %10.3f %12.3f %9.3f %9.3f\n", r, x[0], 100 * x[1] / flops, x[2], x[3],
                   x[4] / 1e6, x[5] / 1e6, x[6], x[7]);
        }
        printf("log|K + s2 I| = %.10g, log marginal likelihood = %.10g\n", logdet, mll);
        printf("RMSE of the posterior mean against the truth: %.4g (the data's own: %.4g)\n", sqrt(sq_all[0] / (double)points),
               sqrt(sq_all[1] / (double)points));
        free(all);
    }

    int failed = 0;
    if (check) {
        /* The whole grid on rank 0's device, against the gathered slabs. */
        int *counts = g_rank ? NULL : malloc((size_t)g_size * sizeof(int)), *displs = g_rank ? NULL : malloc((size_t)g_size * sizeof(int));
        for (int r = 0; !g_rank && r < g_size; ++r) {
            int64_t fr, cr;
            vks_mpi_slab(n[0], g_size, r, &fr, &cr);
            counts[r] = (int)(cr * rest), displs[r] = (int)(fr * rest);
        }
        double *gathered = g_rank ? NULL : malloc((size_t)points * sizeof *gathered);
        MPI_Gatherv(alpha, (int)local, MPI_DOUBLE, gathered, counts, displs, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        if (!g_rank) {
            double *yall = malloc((size_t)points * sizeof *yall);
            for (int64_t e = 0; e < points; ++e) yall[e] = truth(d, n, e) + noise_of(e);
            vks_buffer *bya = upload(ctx, dt, yall, (size_t)points), *baa = NULL, *bs = NULL;
            CHECK(vks_buffer_create(ctx, (uint64_t)points * es, &baa));
            CHECK(vks_buffer_create(ctx, 2 * es, &bs));
            vks_tensor ya = vks_tensor_1d(bya, dt, points), aa = vks_tensor_1d(baa, dt, points), ld = vks_tensor_1d(bs, dt, 1);
            vks_tensor ml = ld;
            ml.byte_offset = es;
            vks_kron_solve_desc one = VKS_KRON_SOLVE_DESC_INIT;
            one.d = d, one.noise = sd.noise;
            for (int32_t i = 0; i < d; ++i) one.eigvecs[i] = &tq[i], one.eigvals[i] = &tl[i];
            one.y = &ya, one.alpha = &aa, one.logdet = &ld, one.mll = &ml;
            const double t0 = MPI_Wtime();
            CHECK(vks_kron_solve(ctx, &one));
            CHECK(vks_synchronize(ctx));
            const double t_one = MPI_Wtime() - t0;
            double *a1 = download(baa, dt, (size_t)points), *s1 = download(bs, dt, 2), diff = 0, scale = 0;
            for (int64_t e = 0; e < points; ++e) diff = fmax(diff, fabs(a1[e] - gathered[e])), scale = fmax(scale, fabs(a1[e]));
            const double tol = dt == VKS_DTYPE_F64 ? 1e-10 : 1e-3;
            const double rel = diff / scale, dld = fabs(s1[0] - logdet) / fmax(1, fabs(s1[0]));
            const double dmll = fabs(s1[1] - mll) / fmax(1, fabs(s1[1]));
            failed = !(rel <= tol && dld <= tol && dmll <= tol);
            printf("check against one device (vks_kron_solve of the whole grid, %.3f s): alpha %.2e of max|alpha|, "
                   "log-det %.2e, mll %.2e relative: %s\n",
                   t_one, rel, dld, dmll, failed ? "FAILED" : "agree to round-off");
            free(yall), free(a1), free(s1);
            vks_buffer_destroy(bya), vks_buffer_destroy(baa), vks_buffer_destroy(bs);
        }
        MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
        free(counts), free(displs), free(gathered);
    }
    for (int32_t i = 0; i < d; ++i) vks_buffer_destroy(bx[i]), vks_buffer_destroy(bk[i]), vks_buffer_destroy(bq[i]), vks_buffer_destroy(bl[i]);
    vks_buffer_destroy(by), vks_buffer_destroy(ba), vks_buffer_destroy(bm);
    free(f), free(y), free(alpha), free(mean);
    vks_context_destroy(ctx);
    MPI_Finalize();
    return failed ? 1 : 0;
}
