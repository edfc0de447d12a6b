/*
 * muon-dist: one Muon optimizer step's Newton-Schulz work spread over MPI ranks with
 * vkstruct_mpi, as data-parallel Muon does it (every rank holds the averaged gradients; each
 * orthogonalizes whole matrices of a flop-balanced partition; the results are all-gathered)
 * or, with --sharded, as Dion/FSDP do it (row shards; two all-to-alls). The model is a
 * scaled-down transformer: per layer q, k, v, o (W x W), MLP up and gate (F x W) and down
 * (W x F), F = 8W/3 rounded to 64, plus an embedding-sized (V x W) matrix.
 *
 *   mpirun -np 3 muon-dist [--layers L] [--width W] [--vocab V] [--steps S] [--sharded]
 *                          [--dtype f32|bf16] [--no-check] [--device D]
 *
 * Prints per rank: matrices, share of the flops, compute and exchange seconds, bytes sent
 * and received; then checks every result bit for bit against vks_newton_schulz of that
 * matrix on one device (each rank checks the matrices, or slabs, it holds).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vkstruct/mpi.h>
#include <vkstruct/vkstruct.h>

#include "sample_mpi.h"

static int g_rank, g_size;

#define CHECK(call)                                                                                           \
    do {                                                                                                      \
        vks_status check_s_ = (call);                                                                         \
        if (check_s_ != VKS_OK) {                                                                             \
            fprintf(stderr, "muon-dist rank %d: %s: %s\n  %s%s\n", g_rank, #call, vks_status_string(check_s_), \
                    vks_mpi_last_error(), vks_last_error(NULL));                                              \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                                     \
        }                                                                                                     \
    } while (0)

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Gradient entry (i, r, c): the same on every rank without communication. */
static float grad_value(uint32_t i, int64_t r, int64_t c, int64_t cols) {
    const uint64_t z = mix(((uint64_t)i << 40) ^ (uint64_t)(r * cols + c) ^ 0x5EEDull);
    return (float)((double)(z >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static uint16_t to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

/* Rows first..first+count of matrix i in dtype dt, into a new buffer. */
static vks_buffer *make_rows(vks_context *ctx, vks_dtype dt, uint32_t i, int64_t first, int64_t count, int64_t cols) {
    const size_t es = dt == VKS_DTYPE_BF16 ? 2 : 4, n = (size_t)(count * cols);
    void *h = malloc(n * es + 1);
    for (int64_t r = 0; r < count; ++r)
        for (int64_t c = 0; c < cols; ++c) {
            const float v = grad_value(i, first + r, c, cols);
            if (dt == VKS_DTYPE_BF16) ((uint16_t *)h)[r * cols + c] = to_bf16(v);
            else ((float *)h)[r * cols + c] = v;
        }
    vks_buffer *b = NULL;
    CHECK(vks_buffer_create(ctx, n * es + 4, &b));
    CHECK(vks_buffer_write(b, 0, h, n * es));
    free(h);
    return b;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    int layers = 2, width = 128, vocab = 512, steps = 2, sharded = 0, check = 1;
    const char *device = NULL;
    vks_dtype dt = VKS_DTYPE_F32;
    for (int a = 1; a < argc; ++a) {
        if (!strcmp(argv[a], "--layers") && a + 1 < argc) layers = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--width") && a + 1 < argc) width = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--vocab") && a + 1 < argc) vocab = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--steps") && a + 1 < argc) steps = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--sharded")) sharded = 1;
        else if (!strcmp(argv[a], "--no-check")) check = 0;
        else if (!strcmp(argv[a], "--device") && a + 1 < argc) device = argv[++a];
        else if (!strcmp(argv[a], "--dtype") && a + 1 < argc) dt = !strcmp(argv[++a], "bf16") ? VKS_DTYPE_BF16 : VKS_DTYPE_F32;
        else {
            if (!g_rank) fprintf(stderr, "usage: muon-dist [--layers L] [--width W] [--vocab V] [--steps S] [--sharded] [--dtype f32|bf16] [--no-check] [--device D]\n");
            MPI_Finalize();
            return 2;
        }
    }
    if (layers < 1 || width < 8 || vocab < 1 || steps < 1) {
        if (!g_rank) fprintf(stderr, "muon-dist: --layers, --width, --vocab and --steps must be positive (width >= 8)\n");
        MPI_Finalize();
        return 2;
    }
    vks_context *ctx = NULL;
    CHECK(sample_mpi_context(device, &ctx));
    const int ffn = ((8 * width / 3 + 63) / 64) * 64;
    const uint32_t count = (uint32_t)(7 * layers + 1);
    int64_t *rows = malloc(count * sizeof *rows), *cols = malloc(count * sizeof *cols);
    for (int l = 0; l < layers; ++l) {
        const int64_t shapes[7][2] = {{width, width}, {width, width}, {width, width}, {width, width},
                                      {ffn, width},   {ffn, width},   {width, ffn}};
        for (int j = 0; j < 7; ++j) rows[7 * l + j] = shapes[j][0], cols[7 * l + j] = shapes[j][1];
    }
    rows[count - 1] = vocab, cols[count - 1] = width;
    const size_t es = dt == VKS_DTYPE_BF16 ? 2 : 4;

    /* Inputs: all matrices (replicated) or this rank's row slabs (sharded). */
    vks_buffer **gb = calloc(count, sizeof *gb), **ob = calloc(count, sizeof *ob);
    vks_tensor *g = calloc(count, sizeof *g), *o = calloc(count, sizeof *o);
    int64_t *first = calloc(count, sizeof *first), *mine = calloc(count, sizeof *mine);
    double total_bytes = 0, total_flops = 0;
    for (uint32_t i = 0; i < count; ++i) {
        first[i] = 0, mine[i] = rows[i];
        if (sharded) CHECK(vks_mpi_slab(rows[i], g_size, g_rank, &first[i], &mine[i]));
        total_bytes += (double)(rows[i] * cols[i]) * (double)es;
        total_flops += vks_mpi_ns_step_flops(rows[i], cols[i]);
        if (mine[i]) {
            gb[i] = make_rows(ctx, dt, i, first[i], mine[i], cols[i]);
            CHECK(vks_buffer_create(ctx, (uint64_t)(mine[i] * cols[i]) * es + 4, &ob[i]));
        }
        g[i] = vks_tensor_2d(gb[i], dt, mine[i], cols[i]);
        o[i] = vks_tensor_2d(ob[i], dt, mine[i], cols[i]);
    }
    vks_newton_schulz_options ns = VKS_NEWTON_SCHULZ_OPTIONS_INIT; /* Muon, 5 steps */
    vks_mpi_stats stats = {sizeof stats};
    vks_mpi_options mo = VKS_MPI_OPTIONS_INIT;
    mo.stats = &stats;
    double best = 1e300;
    for (int s = 0; s < steps; ++s) {
        MPI_Barrier(MPI_COMM_WORLD);
        const double t0 = MPI_Wtime();
        if (sharded) CHECK(vks_mpi_newton_schulz_sharded(ctx, MPI_COMM_WORLD, count, rows, cols, g, o, &ns, &mo));
        else CHECK(vks_mpi_newton_schulz(ctx, MPI_COMM_WORLD, count, g, o, &ns, &mo));
        const double t = MPI_Wtime() - t0;
        best = t < best ? t : best;
    }

    /* Per-rank figures of the last step, printed by rank 0 in rank order. */
    double row[7] = {(double)stats.items, stats.flops, stats.compute_seconds, stats.exchange_seconds,
                     (double)stats.bytes_sent, (double)stats.bytes_received, best};
    double *all = g_rank ? NULL : malloc(sizeof row * (size_t)g_size);
    MPI_Gather(row, 7, MPI_DOUBLE, all, 7, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (!g_rank) {
        vks_device_info info = {sizeof info};
        vks_context_get_device_info(ctx, &info);
        printf("muon-dist: %u matrices (%d layers, width %d, ffn %d, vocab %d), %s, %.1f MB, %.3g GFLOP per Newton-Schulz iteration (5 per step), "
               "%d ranks, %s, device %s\n",
               count, layers, width, ffn, vocab, dt == VKS_DTYPE_BF16 ? "bf16" : "f32", total_bytes / 1e6,
               total_flops / 1e9, g_size, sharded ? "sharded (2 all-to-alls)" : "replicated (all-gather)", info.name);
        printf("%4s %9s %9s %10s %11s %12s %12s %9s\n", "rank", "matrices", "flops%", "compute s", "exchange s",
               "sent MB", "received MB", "step s");
        for (int r = 0; r < g_size; ++r) {
            const double *x = all + 7 * r;
            printf("%4d %9.0f %8.1f%% %10.3f %11.3f %12.3f %12.3f %9.3f\n", r, x[0], 100 * x[1] / total_flops, x[2],
                   x[3], x[4] / 1e6, x[5] / 1e6, x[6]);
        }
        free(all);
    }

    int bad = 0;
    if (check) {
        for (uint32_t i = 0; i < count; ++i) {
            if (!mine[i]) continue;
            /* The whole matrix on this device, orthogonalized alone. */
            vks_buffer *full = make_rows(ctx, dt, i, 0, rows[i], cols[i]), *res = NULL;
            CHECK(vks_buffer_create(ctx, (uint64_t)(rows[i] * cols[i]) * es + 4, &res));
            vks_tensor tf = vks_tensor_2d(full, dt, rows[i], cols[i]), tr = vks_tensor_2d(res, dt, rows[i], cols[i]);
            CHECK(vks_newton_schulz(ctx, &tf, &tr, &ns));
            const size_t bytes = (size_t)(mine[i] * cols[i]) * es;
            unsigned char *want = malloc(bytes), *got = malloc(bytes);
            CHECK(vks_buffer_read(res, (uint64_t)(first[i] * cols[i]) * es, want, bytes));
            CHECK(vks_buffer_read(ob[i], 0, got, bytes));
            if (memcmp(want, got, bytes)) bad++;
            free(want), free(got);
            vks_buffer_destroy(full), vks_buffer_destroy(res);
        }
        int any = 0;
        MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        if (!g_rank)
            printf("check: %s (every rank compared what it holds with vks_newton_schulz on one device, bit for bit)\n",
                   any ? "FAILED" : "bit-identical");
        bad = any;
    }
    for (uint32_t i = 0; i < count; ++i) vks_buffer_destroy(gb[i]), vks_buffer_destroy(ob[i]);
    free(gb), free(ob), free(g), free(o), free(first), free(mine), free(rows), free(cols);
    vks_context_destroy(ctx);
    MPI_Finalize();
    return bad ? 1 : 0;
}
