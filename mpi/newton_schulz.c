/* Distributed Newton-Schulz (Muon's and Dion's pattern): whole matrices per rank by a
 * flop-balanced partition, each orthogonalized alone by vks_newton_schulz, then the results
 * all-gathered (replicated inputs) or returned as row slabs by an all-to-all (sharded). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"

/* Per-call state both forms share. */
typedef struct ns_plan {
    int rank, size;
    uint32_t count;
    int32_t *owner;
    double *cost;
    vks_buffer *status; /* i32, one entry per matrix of a batch, for the owned ones */
    int64_t *status_at; /* first status entry of each matrix */
    int64_t statuses;
    vks_mpi_stats *stats;
} ns_plan;

static void plan_free(ns_plan *p) {
    free(p->owner), free(p->cost), free(p->status_at);
    vks_buffer_destroy(p->status);
}

static int64_t batch_of(const vks_tensor *t) { return t->ndim == 3 ? t->shape[0] : 1; }

/* Validation of the options shared by both forms, and their digest. */
static vks_status check_ns_options(const vks_newton_schulz_options *o, const char *fn, uint64_t *hash) {
    if (!o) return VKS_OK;
    if (o->struct_size < sizeof *o)
        return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->struct_size is %zu, expected %zu", fn,
                              o->struct_size, sizeof *o);
    if (o->status)
        return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT,
                              "%s: options->status is set, expected NULL (the call reports NaN/Inf inputs itself)", fn);
    int64_t fields[5] = {o->schedule, o->steps, o->gram, o->gram_restart, o->flags};
    *hash = vks__mpi_hash(*hash, fields, sizeof fields);
    *hash = vks__mpi_hash(*hash, &o->norm_factor, sizeof o->norm_factor);
    *hash = vks__mpi_hash(*hash, &o->eps, sizeof o->eps);
    if (o->schedule == VKS_NS_CUSTOM && o->coefficients && o->steps > 0 && o->steps <= 100)
        *hash = vks__mpi_hash(*hash, o->coefficients, sizeof(double) * 3 * (size_t)o->steps);
    return VKS_OK;
}

/* owner[] by flops, and one status entry per owned matrix of a batch. */
static vks_status plan_make(vks_context *ctx, ns_plan *p, const int64_t *rows, const int64_t *cols,
                            const int64_t *batch, const char *fn) {
    p->owner = malloc((p->count ? p->count : 1) * sizeof *p->owner);
    p->cost = malloc((p->count ? p->count : 1) * sizeof *p->cost);
    p->status_at = malloc((p->count ? p->count : 1) * sizeof *p->status_at);
    if (!p->owner || !p->cost || !p->status_at)
        return vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory for the plan of %u matrices", fn,
                              p->count);
    for (uint32_t i = 0; i < p->count; ++i) p->cost[i] = vks_mpi_ns_step_flops(rows[i], cols[i]) * (double)batch[i];
    vks_status st = vks_mpi_partition(p->count, p->cost, p->size, p->owner, NULL);
    if (st != VKS_OK) return vks__mpi_error(st, "%s: %s", fn, vks_mpi_last_error());
    p->statuses = 0;
    for (uint32_t i = 0; i < p->count; ++i) {
        p->status_at[i] = p->statuses;
        if (p->owner[i] == p->rank) p->statuses += batch[i];
        if (p->owner[i] == p->rank && p->stats) {
            p->stats->items++;
            p->stats->flops += p->cost[i];
        }
    }
    if (p->statuses) {
        st = vks_buffer_create(ctx, (uint64_t)p->statuses * 4, &p->status);
        if (st == VKS_OK) st = vks_buffer_fill(p->status, 0, (uint64_t)p->statuses * 4, 0);
        if (st != VKS_OK) return vks__mpi_core_error(st, fn, "the status buffer");
    }
    return VKS_OK;
}

/* vks_newton_schulz on one owned matrix, its NaN/Inf flags to the plan's status buffer. */
static vks_status run_one(vks_context *ctx, const ns_plan *p, uint32_t i, const vks_tensor *g, const vks_tensor *out,
                          const vks_newton_schulz_options *options, int64_t batch, const char *fn) {
    vks_newton_schulz_options o = VKS_NEWTON_SCHULZ_OPTIONS_INIT;
    if (options) o = *options, o.struct_size = sizeof o;
    vks_tensor status = vks_tensor_1d(p->status, VKS_DTYPE_I32, batch);
    status.byte_offset = (uint64_t)p->status_at[i] * 4;
    o.status = &status;
    vks_status st = vks_newton_schulz(ctx, g, out, &o);
    if (st != VKS_OK) {
        char what[64];
        snprintf(what, sizeof what, "matrix %u", i);
        return vks__mpi_core_error(st, fn, what);
    }
    return VKS_OK;
}

/* Reads the owned matrices' flags (this synchronizes) and names the first NaN/Inf input. */
static vks_status read_status(const ns_plan *p, const char *fn, const char *arg) {
    if (!p->statuses) return VKS_OK;
    int32_t *flags = malloc((size_t)p->statuses * sizeof *flags);
    if (!flags) return vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory for the statuses", fn);
    vks_status st = vks_buffer_read(p->status, 0, flags, (uint64_t)p->statuses * 4);
    if (st != VKS_OK) st = vks__mpi_core_error(st, fn, "reading the statuses");
    for (uint32_t i = 0; st == VKS_OK && i < p->count; ++i) {
        if (p->owner[i] != p->rank) continue;
        const int64_t n = (i + 1 < p->count ? p->status_at[i + 1] : p->statuses) - p->status_at[i];
        for (int64_t b = 0; b < n; ++b)
            if (flags[p->status_at[i] + b])
                st = vks__mpi_error(VKS_ERROR_NON_FINITE, "%s: %s[%u] holds NaN or Inf (batch entry %lld)", fn, arg, i,
                                    (long long)b);
    }
    free(flags);
    return st;
}

/* ---- replicated inputs: all-gather in rounds ---------------------------------------------- */

/* Calls fn(seg, piece offset in seg, piece bytes, position in the range) for each part of
 * rank r's stream (its owned outputs, in list order) that lies in [a, b). */
typedef vks_status stream_fn(void *user, const vks_tensor *t, uint64_t at, uint64_t bytes, uint64_t pos);

static vks_status walk_stream(const ns_plan *p, const vks_tensor *out, int r, uint64_t a, uint64_t b, stream_fn *fn,
                              void *user) {
    uint64_t pos = 0;
    for (uint32_t i = 0; i < p->count && pos < b; ++i) {
        if (p->owner[i] != r) continue;
        const uint64_t bytes = (uint64_t)vks__mpi_numel(&out[i]) * vks__mpi_dtype_bytes(out[i].dtype);
        const uint64_t lo = a > pos ? a : pos, hi = b < pos + bytes ? b : pos + bytes;
        if (lo < hi) {
            vks_status st = fn(user, &out[i], lo - pos, hi - lo, lo - a);
            if (st != VKS_OK) return st;
        }
        pos += bytes;
    }
    return VKS_OK;
}

typedef struct stage {
    unsigned char *host;
    const char *fn;
} stage;

static vks_status piece_read(void *user, const vks_tensor *t, uint64_t at, uint64_t bytes, uint64_t pos) {
    stage *s = user;
    vks_status st = vks_buffer_read(t->buffer, t->byte_offset + at, s->host + pos, bytes);
    return st == VKS_OK ? VKS_OK : vks__mpi_core_error(st, s->fn, "reading a result");
}

static vks_status piece_write(void *user, const vks_tensor *t, uint64_t at, uint64_t bytes, uint64_t pos) {
    stage *s = user;
    vks_status st = vks_buffer_write(t->buffer, t->byte_offset + at, s->host + pos, bytes);
    return st == VKS_OK ? VKS_OK : vks__mpi_core_error(st, s->fn, "writing a gathered result");
}

/* Host staging of the all-gather, allocated before the agreement that precedes it (a rank
 * without the memory must say so there, not leave the others in MPI_Allgatherv). */
typedef struct gather_bufs {
    uint64_t round, *total;
    int *counts, *displs;
    unsigned char *buf;
} gather_bufs;

static vks_status gather_alloc(gather_bufs *b, int n, uint64_t round, const char *fn) {
    b->round = round;
    b->total = calloc((size_t)n, sizeof *b->total);
    b->counts = malloc((size_t)n * sizeof *b->counts), b->displs = malloc((size_t)n * sizeof *b->displs);
    b->buf = malloc((size_t)round * (size_t)n);
    if (!b->total || !b->counts || !b->displs || !b->buf)
        return vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory for %llu staging bytes", fn,
                              (unsigned long long)round * (unsigned long long)n);
    return VKS_OK;
}

static void gather_free(gather_bufs *b) { free(b->total), free(b->counts), free(b->displs), free(b->buf); }

static vks_status allgather_results(MPI_Comm comm, const ns_plan *p, const vks_tensor *out, const gather_bufs *gb,
                                    const char *fn) {
    const int n = p->size;
    const uint64_t round = gb->round;
    uint64_t *total = gb->total;
    int *counts = gb->counts, *displs = gb->displs;
    unsigned char *buf = gb->buf;
    vks_status st = VKS_OK;
    uint64_t longest = 0;
    for (uint32_t i = 0; i < p->count; ++i)
        total[p->owner[i]] += (uint64_t)vks__mpi_numel(&out[i]) * vks__mpi_dtype_bytes(out[i].dtype);
    for (int r = 0; r < n; ++r) longest = total[r] > longest ? total[r] : longest;
    const uint64_t rounds = (longest + round - 1) / round;
    /* A rank that fails staging keeps taking part in every round (the others are waiting in
     * them) and reports at the agreement after the exchange. */
    vks_status local = VKS_OK;
    for (uint64_t t = 0; t < rounds && st == VKS_OK; ++t) {
        int at = 0;
        for (int r = 0; r < n; ++r) {
            const uint64_t lo = t * round, hi = total[r] < lo + round ? total[r] : lo + round;
            counts[r] = hi > lo ? (int)(hi - lo) : 0;
            displs[r] = at;
            at += counts[r];
        }
        stage s = {buf + displs[p->rank], fn};
        if (local == VKS_OK)
            local = walk_stream(p, out, p->rank, t * round, t * round + (uint64_t)counts[p->rank], piece_read, &s);
        const double t0 = vks__mpi_now();
        st = vks__mpi_check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_BYTE, buf, counts, displs, MPI_BYTE, comm), fn,
                            "MPI_Allgatherv");
        if (p->stats) {
            p->stats->exchanges++;
            p->stats->exchange_seconds += vks__mpi_now() - t0;
            p->stats->bytes_sent += (uint64_t)counts[p->rank] * (uint64_t)(n - 1);
            p->stats->bytes_received += (uint64_t)(at - counts[p->rank]);
        }
        for (int r = 0; r < n && st == VKS_OK && local == VKS_OK; ++r) {
            if (r == p->rank || !counts[r]) continue;
            stage w = {buf + displs[r], fn};
            local = walk_stream(p, out, r, t * round, t * round + (uint64_t)counts[r], piece_write, &w);
        }
    }
    return st == VKS_OK ? local : st;
}

static vks_status validate_replicated(vks_context *ctx, uint32_t count, const vks_tensor *g, const vks_tensor *out,
                                      const char *fn, uint64_t *hash, int64_t *rows, int64_t *cols, int64_t *batch) {
    if (!ctx) return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
    if (count && (!g || !out))
        return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL with count %u", fn, g ? "out" : "g", count);
    *hash = vks__mpi_hash(*hash, &count, sizeof count);
    for (uint32_t i = 0; i < count; ++i) {
        const vks_tensor *a = &g[i], *o = &out[i];
        if (a->ndim != 2 && a->ndim != 3)
            return vks__mpi_error(VKS_ERROR_SHAPE_MISMATCH, "%s: g[%u] has rank %d, expected 2 or 3", fn, i, (int)a->ndim);
        bool same = o->ndim == a->ndim && o->dtype == a->dtype;
        for (int32_t k = 0; same && k < a->ndim; ++k) same = o->shape[k] == a->shape[k];
        if (!same)
            return vks__mpi_error(VKS_ERROR_SHAPE_MISMATCH, "%s: out[%u] differs from g[%u] in rank, shape or dtype", fn,
                                  i, i);
        for (int32_t k = 0; k < a->ndim; ++k)
            if (a->shape[k] < 1)
                return vks__mpi_error(VKS_ERROR_SHAPE_MISMATCH, "%s: g[%u] has shape[%d] = %lld, expected >= 1", fn, i,
                                      (int)k, (long long)a->shape[k]);
        if (!o->buffer) return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: out[%u].buffer is NULL", fn, i);
        if (!vks__mpi_compact(o))
            return vks__mpi_error(VKS_ERROR_UNSUPPORTED, "%s: out[%u] is not compact row-major (the exchange copies its bytes)",
                                  fn, i);
        if (!vks__mpi_dtype_bytes(o->dtype))
            return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: out[%u].dtype is %d, not a vks_dtype", fn, i,
                                  (int)o->dtype);
        char arg[32];
        snprintf(arg, sizeof arg, "out[%u]", i);
        vks_status st = vks__mpi_check_in_buffer(o, fn, arg);
        if (st != VKS_OK) return st;
        rows[i] = a->shape[a->ndim - 2], cols[i] = a->shape[a->ndim - 1], batch[i] = batch_of(a);
        int64_t key[5] = {a->dtype, a->ndim, batch[i], rows[i], cols[i]};
        *hash = vks__mpi_hash(*hash, key, sizeof key);
    }
    return VKS_OK;
}

vks_status vks_mpi_newton_schulz(vks_context *ctx, MPI_Comm comm, uint32_t count, const vks_tensor *g,
                                 const vks_tensor *out, const vks_newton_schulz_options *options,
                                 const vks_mpi_options *mpi) {
    static const char fn[] = "vks_mpi_newton_schulz";
    ns_plan p = {0};
    gather_bufs gb = {0};
    p.count = count;
    vks_status st = vks__mpi_comm_info(comm, fn, &p.rank, &p.size);
    if (st != VKS_OK) return st;
    const double t0 = vks__mpi_now();
    uint64_t hash = 0xCBF29CE484222325ull;
    int64_t *rows = malloc((count ? count : 1) * sizeof *rows), *cols = malloc((count ? count : 1) * sizeof *cols);
    int64_t *batch = malloc((count ? count : 1) * sizeof *batch);
    if (!rows || !cols || !batch) st = vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory", fn);
    if (st == VKS_OK) st = vks__mpi_check_options(mpi, fn);
    if (st == VKS_OK) p.stats = mpi ? mpi->stats : NULL;
    if (st == VKS_OK) st = check_ns_options(options, fn, &hash);
    if (st == VKS_OK) st = validate_replicated(ctx, count, g, out, fn, &hash, rows, cols, batch);
    st = vks__mpi_agree(comm, st, fn, &hash);
    if (st != VKS_OK) goto done;

    st = plan_make(ctx, &p, rows, cols, batch, fn);
    for (uint32_t i = 0; st == VKS_OK && i < count; ++i)
        if (p.owner[i] == p.rank) st = run_one(ctx, &p, i, &g[i], &out[i], options, batch[i], fn);
    if (st == VKS_OK) st = read_status(&p, fn, "g");
    if (p.stats) p.stats->compute_seconds = vks__mpi_now() - t0;
    if (st == VKS_OK && p.size > 1) st = gather_alloc(&gb, p.size, vks__mpi_round_bytes(mpi, p.size), fn);
    st = vks__mpi_agree(comm, st, fn, NULL);
    if (st != VKS_OK) goto done;

    if (p.size > 1) st = allgather_results(comm, &p, out, &gb, fn);
    /* A rank that failed writing what it received must not leave the others reporting success. */
    st = vks__mpi_agree(comm, st, fn, NULL);
done:
    free(rows), free(cols), free(batch);
    gather_free(&gb);
    plan_free(&p);
    return st;
}

/* ---- sharded inputs: two all-to-alls ------------------------------------------------------ */

/* Byte counts of both all-to-alls, from the plan alone (every rank can compute every count). */
typedef struct shard_plan {
    int64_t *first, *rows_of; /* per (matrix, rank): slab of rank r of matrix i at [i * size + r] */
    int *send1, *sdisp1, *recv1, *rdisp1, *send2, *sdisp2, *recv2, *rdisp2;
    unsigned char *sbuf, *rbuf;
    vks_buffer *whole;    /* the owned matrices, whole, one after another */
    uint64_t *whole_at;   /* byte offset of each owned matrix in `whole` */
} shard_plan;

static void shard_free(shard_plan *s) {
    free(s->first), free(s->rows_of), free(s->send1), free(s->sdisp1), free(s->recv1), free(s->rdisp1);
    free(s->send2), free(s->sdisp2), free(s->recv2), free(s->rdisp2), free(s->sbuf), free(s->rbuf), free(s->whole_at);
    vks_buffer_destroy(s->whole);
}

/* Fills counts[peer] with the bytes a rank exchanges with each peer; their sum must fit an
 * int (MPI's counts and displacements). */
static vks_status displacements(const int *counts, int *displs, int n, const char *fn, const char *what) {
    int64_t at = 0;
    for (int r = 0; r < n; ++r) {
        displs[r] = (int)at;
        at += counts[r];
        if (at > INT_MAX)
            return vks__mpi_error(VKS_ERROR_OUT_OF_RANGE,
                                  "%s: this rank's %s exceeds %d bytes (MPI counts are ints): split the list into "
                                  "several calls",
                                  fn, what, INT_MAX);
    }
    return VKS_OK;
}

static vks_status shard_counts(vks_context *ctx, const ns_plan *p, shard_plan *s, const int64_t *rows,
                               const int64_t *cols, const vks_tensor *g, const char *fn) {
    const int n = p->size;
    const size_t pairs = (size_t)p->count * (size_t)n + 1;
    s->first = malloc(pairs * sizeof *s->first), s->rows_of = malloc(pairs * sizeof *s->rows_of);
    int **arrays[8] = {&s->send1, &s->sdisp1, &s->recv1, &s->rdisp1, &s->send2, &s->sdisp2, &s->recv2, &s->rdisp2};
    for (int k = 0; k < 8; ++k) *arrays[k] = calloc((size_t)n, sizeof(int));
    s->whole_at = calloc(p->count + 1u, sizeof *s->whole_at);
    bool ok = s->first && s->rows_of && s->whole_at;
    for (int k = 0; k < 8; ++k) ok = ok && *arrays[k];
    if (!ok) return vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory for the exchange plan", fn);
    int64_t *vol = calloc((size_t)n * 4, sizeof *vol); /* send 1, receive 1, send 2, receive 2 per peer */
    if (!vol) return vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory for the exchange plan", fn);
    int64_t *send1 = vol, *recv1 = vol + n, *send2 = vol + 2 * n, *recv2 = vol + 3 * n;
    uint64_t whole = 0;
    for (uint32_t i = 0; i < p->count; ++i) {
        const int64_t row_bytes = cols[i] * (int64_t)vks__mpi_dtype_bytes(g[i].dtype);
        for (int r = 0; r < n; ++r)
            vks_mpi_slab(rows[i], n, r, &s->first[(size_t)i * n + r], &s->rows_of[(size_t)i * n + r]);
        const int o = p->owner[i];
        send1[o] += s->rows_of[(size_t)i * n + p->rank] * row_bytes; /* my slab to the owner */
        recv2[o] += s->rows_of[(size_t)i * n + p->rank] * row_bytes; /* my slab of the result back */
        if (o == p->rank) {
            s->whole_at[i] = whole;
            whole += (uint64_t)(rows[i] * row_bytes);
            for (int r = 0; r < n; ++r) {
                recv1[r] += s->rows_of[(size_t)i * n + r] * row_bytes;
                send2[r] += s->rows_of[(size_t)i * n + r] * row_bytes;
            }
        }
    }
    for (int r = 0; r < n; ++r) {
        if (send1[r] > INT_MAX || recv1[r] > INT_MAX || send2[r] > INT_MAX || recv2[r] > INT_MAX) {
            free(vol);
            return vks__mpi_error(VKS_ERROR_OUT_OF_RANGE,
                                  "%s: more than %d bytes between this rank and rank %d (MPI counts are ints): split "
                                  "the list into several calls",
                                  fn, INT_MAX, r);
        }
        s->send1[r] = (int)send1[r], s->recv1[r] = (int)recv1[r], s->send2[r] = (int)send2[r], s->recv2[r] = (int)recv2[r];
    }
    free(vol);
    vks_status st = displacements(s->send1, s->sdisp1, n, fn, "send volume");
    if (st == VKS_OK) st = displacements(s->recv1, s->rdisp1, n, fn, "receive volume");
    if (st == VKS_OK) st = displacements(s->send2, s->sdisp2, n, fn, "send volume");
    if (st == VKS_OK) st = displacements(s->recv2, s->rdisp2, n, fn, "receive volume");
    if (st != VKS_OK) return st;
    const size_t sb = (size_t)s->sdisp1[n - 1] + (size_t)s->send1[n - 1], sb2 = (size_t)s->sdisp2[n - 1] + (size_t)s->send2[n - 1];
    const size_t rb = (size_t)s->rdisp1[n - 1] + (size_t)s->recv1[n - 1], rb2 = (size_t)s->rdisp2[n - 1] + (size_t)s->recv2[n - 1];
    s->sbuf = malloc((sb > sb2 ? sb : sb2) + 1), s->rbuf = malloc((rb > rb2 ? rb : rb2) + 1);
    if (!s->sbuf || !s->rbuf)
        return vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory for the staging buffers", fn);
    if (whole) {
        st = vks_buffer_create(ctx, whole, &s->whole);
        if (st != VKS_OK) return vks__mpi_core_error(st, fn, "the buffer of the owned matrices");
    }
    return VKS_OK;
}

static void count_exchange(const ns_plan *p, const int *send, const int *recv, double t0) {
    if (!p->stats) return;
    p->stats->exchanges++;
    p->stats->exchange_seconds += vks__mpi_now() - t0;
    for (int r = 0; r < p->size; ++r)
        if (r != p->rank) p->stats->bytes_sent += (uint64_t)send[r], p->stats->bytes_received += (uint64_t)recv[r];
}

static vks_status validate_sharded(vks_context *ctx, const ns_plan *p, const int64_t *rows, const int64_t *cols,
                                   const vks_tensor *g, const vks_tensor *out, const char *fn, uint64_t *hash) {
    if (!ctx) return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
    if (p->count && (!rows || !cols || !g || !out))
        return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL with count %u", fn,
                              !rows ? "rows" : !cols ? "cols" : !g ? "g_shards" : "out_shards", p->count);
    *hash = vks__mpi_hash(*hash, &p->count, sizeof p->count);
    for (uint32_t i = 0; i < p->count; ++i) {
        if (rows[i] < 1 || cols[i] < 1)
            return vks__mpi_error(VKS_ERROR_SHAPE_MISMATCH, "%s: matrix %u is %lld x %lld, expected at least 1 x 1", fn,
                                  i, (long long)rows[i], (long long)cols[i]);
        int64_t first = 0, mine = 0;
        vks_mpi_slab(rows[i], p->size, p->rank, &first, &mine);
        const vks_tensor *pair[2] = {&g[i], &out[i]};
        const char *names[2] = {"g_shards", "out_shards"};
        for (int k = 0; k < 2; ++k) {
            const vks_tensor *t = pair[k];
            if (!vks__mpi_dtype_bytes(t->dtype) || t->dtype != g[i].dtype)
                return vks__mpi_error(VKS_ERROR_DTYPE_MISMATCH, "%s: %s[%u].dtype is %d, expected g_shards[%u]'s (%d)",
                                      fn, names[k], i, (int)t->dtype, i, (int)g[i].dtype);
            if (!mine) continue;
            if (t->ndim != 2 || t->shape[0] != mine || t->shape[1] != cols[i])
                return vks__mpi_error(VKS_ERROR_SHAPE_MISMATCH,
                                      "%s: %s[%u] is %lld x %lld (rank %d), expected this rank's slab %lld x %lld (rows "
                                      "%lld..%lld of %lld)",
                                      fn, names[k], i, (long long)(t->ndim >= 1 ? t->shape[0] : 0),
                                      (long long)(t->ndim >= 2 ? t->shape[1] : 0), (int)t->ndim, (long long)mine,
                                      (long long)cols[i], (long long)first, (long long)(first + mine - 1),
                                      (long long)rows[i]);
            if (!t->buffer) return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s[%u].buffer is NULL", fn, names[k], i);
            if (!vks__mpi_compact(t))
                return vks__mpi_error(VKS_ERROR_UNSUPPORTED, "%s: %s[%u] is not compact row-major", fn, names[k], i);
            char arg[40];
            snprintf(arg, sizeof arg, "%s[%u]", names[k], i);
            vks_status st = vks__mpi_check_in_buffer(t, fn, arg);
            if (st != VKS_OK) return st;
        }
        int64_t key[3] = {g[i].dtype, rows[i], cols[i]};
        *hash = vks__mpi_hash(*hash, key, sizeof key);
    }
    return VKS_OK;
}

/* Reads this rank's slabs into the first send buffer, grouped by owner. */
static vks_status stage_shards(const ns_plan *p, shard_plan *s, const int64_t *cols, const vks_tensor *g,
                               const char *fn) {
    int *at = calloc((size_t)p->size, sizeof *at);
    if (!at) return vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory", fn);
    vks_status st = VKS_OK;
    for (uint32_t i = 0; st == VKS_OK && i < p->count; ++i) {
        const int o = p->owner[i];
        const uint64_t bytes = (uint64_t)(s->rows_of[(size_t)i * p->size + p->rank] * cols[i]) * vks__mpi_dtype_bytes(g[i].dtype);
        if (!bytes) continue;
        st = vks_buffer_read(g[i].buffer, g[i].byte_offset, s->sbuf + s->sdisp1[o] + at[o], bytes);
        if (st != VKS_OK) st = vks__mpi_core_error(st, fn, "reading a shard");
        at[o] += (int)bytes;
    }
    free(at);
    return st;
}

vks_status vks_mpi_newton_schulz_sharded(vks_context *ctx, MPI_Comm comm, uint32_t count, const int64_t *rows,
                                         const int64_t *cols, const vks_tensor *g_shards, const vks_tensor *out_shards,
                                         const vks_newton_schulz_options *options, const vks_mpi_options *mpi) {
    static const char fn[] = "vks_mpi_newton_schulz_sharded";
    ns_plan p = {0};
    shard_plan s = {0};
    p.count = count;
    vks_status st = vks__mpi_comm_info(comm, fn, &p.rank, &p.size);
    if (st != VKS_OK) return st;
    const double t0 = vks__mpi_now();
    uint64_t hash = 0xCBF29CE484222325ull;
    int64_t *batch = malloc((count ? count : 1) * sizeof *batch);
    if (!batch) st = vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory", fn);
    for (uint32_t i = 0; batch && i < count; ++i) batch[i] = 1;
    if (st == VKS_OK) st = vks__mpi_check_options(mpi, fn);
    if (st == VKS_OK) p.stats = mpi ? mpi->stats : NULL;
    if (st == VKS_OK) st = check_ns_options(options, fn, &hash);
    if (st == VKS_OK) st = validate_sharded(ctx, &p, rows, cols, g_shards, out_shards, fn, &hash);
    if (st == VKS_OK) st = plan_make(ctx, &p, rows, cols, batch, fn);
    if (st == VKS_OK) st = shard_counts(ctx, &p, &s, rows, cols, g_shards, fn);
    if (st == VKS_OK) st = stage_shards(&p, &s, cols, g_shards, fn);
    st = vks__mpi_agree(comm, st, fn, &hash);
    if (st != VKS_OK) goto done;

    /* 1: every slab to its matrix's owner, which assembles the matrix row block by row block. */
    double tx = vks__mpi_now();
    st = vks__mpi_check(MPI_Alltoallv(s.sbuf, s.send1, s.sdisp1, MPI_BYTE, s.rbuf, s.recv1, s.rdisp1, MPI_BYTE, comm),
                        fn, "MPI_Alltoallv (slabs to owners)");
    if (st != VKS_OK) goto done;
    count_exchange(&p, s.send1, s.recv1, tx);
    vks_status local = VKS_OK;
    for (int r = 0, at = 0; r < p.size; ++r, at = 0)
        for (uint32_t i = 0; local == VKS_OK && i < count; ++i) {
            if (p.owner[i] != p.rank) continue;
            const uint64_t row_bytes = (uint64_t)cols[i] * vks__mpi_dtype_bytes(g_shards[i].dtype);
            const uint64_t bytes = (uint64_t)s.rows_of[(size_t)i * p.size + r] * row_bytes;
            if (!bytes) continue;
            local = vks_buffer_write(s.whole, s.whole_at[i] + (uint64_t)s.first[(size_t)i * p.size + r] * row_bytes,
                                     s.rbuf + s.rdisp1[r] + at, bytes);
            if (local != VKS_OK) local = vks__mpi_core_error(local, fn, "writing a received slab");
            at += (int)bytes;
        }
    for (uint32_t i = 0; local == VKS_OK && i < count; ++i) {
        if (p.owner[i] != p.rank) continue;
        vks_tensor w = vks_tensor_2d(s.whole, g_shards[i].dtype, rows[i], cols[i]);
        w.byte_offset = s.whole_at[i];
        local = run_one(ctx, &p, i, &w, &w, options, 1, fn);
    }
    if (local == VKS_OK) local = read_status(&p, fn, "matrix");
    /* 2: the owners' results back as row slabs (read while staging). */
    for (int r = 0, at = 0; local == VKS_OK && r < p.size; ++r, at = 0)
        for (uint32_t i = 0; local == VKS_OK && i < count; ++i) {
            if (p.owner[i] != p.rank) continue;
            const uint64_t row_bytes = (uint64_t)cols[i] * vks__mpi_dtype_bytes(g_shards[i].dtype);
            const uint64_t bytes = (uint64_t)s.rows_of[(size_t)i * p.size + r] * row_bytes;
            if (!bytes) continue;
            local = vks_buffer_read(s.whole, s.whole_at[i] + (uint64_t)s.first[(size_t)i * p.size + r] * row_bytes,
                                    s.sbuf + s.sdisp2[r] + at, bytes);
            if (local != VKS_OK) local = vks__mpi_core_error(local, fn, "reading a result");
            at += (int)bytes;
        }
    if (p.stats) p.stats->compute_seconds = vks__mpi_now() - t0 - p.stats->exchange_seconds;
    st = vks__mpi_agree(comm, local, fn, NULL);
    if (st != VKS_OK) goto done;
    tx = vks__mpi_now();
    st = vks__mpi_check(MPI_Alltoallv(s.sbuf, s.send2, s.sdisp2, MPI_BYTE, s.rbuf, s.recv2, s.rdisp2, MPI_BYTE, comm),
                        fn, "MPI_Alltoallv (results to slabs)");
    if (st != VKS_OK) goto done;
    count_exchange(&p, s.send2, s.recv2, tx);
    int *at = calloc((size_t)p.size, sizeof *at);
    local = at ? VKS_OK : vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory", fn);
    for (uint32_t i = 0; local == VKS_OK && i < count; ++i) {
        const int o = p.owner[i];
        const uint64_t bytes = (uint64_t)(s.rows_of[(size_t)i * p.size + p.rank] * cols[i]) *
                               vks__mpi_dtype_bytes(g_shards[i].dtype);
        if (!bytes) continue;
        local = vks_buffer_write(out_shards[i].buffer, out_shards[i].byte_offset, s.rbuf + s.rdisp2[o] + at[o], bytes);
        if (local != VKS_OK) local = vks__mpi_core_error(local, fn, "writing a result slab");
        at[o] += (int)bytes;
    }
    free(at);
    st = vks__mpi_agree(comm, local, fn, NULL);
done:
    free(batch);
    shard_free(&s);
    plan_free(&p);
    return st;
}
