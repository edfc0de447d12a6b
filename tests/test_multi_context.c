/* Several contexts in one process, the way a host drives several devices: one thread per
 * context running GEMMs and Kronecker products concurrently, one thread interleaving work
 * on two contexts (recording on both before synchronizing either, and handing a result
 * from one device to the other through host memory), buffers that must stay with their
 * context, and per-thread error messages. Contexts go to the usable devices in turn, so on
 * a machine with one device (lavapipe in CI) several contexts on it stand in for several
 * devices. Every result is checked against a float64 oracle. */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "reference.h"
#include "reference_kron.h"
#include "vks_test.h"

enum { NCTX = 3 };

/* Each extra context counts its own validation messages: the callback may run on any
 * thread, so a shared counter would race. */
typedef struct ctx_slot {
    vks_context *ctx;
    uint64_t messages;
    char last[512];
    pthread_mutex_t lock;
} ctx_slot;

static void slot_message(void *user, vks_message_source source, vks_message_severity sev, const char *msg) {
    ctx_slot *s = user;
    if (source != VKS_SOURCE_VALIDATION || sev == VKS_MESSAGE_INFO) return;
    pthread_mutex_lock(&s->lock);
    s->messages++;
    snprintf(s->last, sizeof s->last, "%s", msg);
    pthread_mutex_unlock(&s->lock);
}

/* Device of context i: with VKT_ALL_DEVICES=1, the usable devices in turn (a machine with
 * two GPUs then tests two devices); otherwise -1, i.e. $VKS_DEVICE (lavapipe in CI) for all. */
static int32_t device_for(uint32_t i) {
    if (!getenv("VKT_ALL_DEVICES")) return -1;
    vks_device_info infos[8];
    for (int j = 0; j < 8; ++j) infos[j].struct_size = sizeof infos[j];
    uint32_t count = 0, nu = 0;
    int32_t usable[8];
    if (vks_enumerate_devices(infos, 8, &count) != VKS_OK) return -1;
    for (uint32_t j = 0; j < count && j < 8; ++j)
        if (infos[j].usable) usable[nu++] = (int32_t)infos[j].index;
    return nu ? usable[i % nu] : -1;
}

static void open_slots(ctx_slot *slots) {
    for (uint32_t i = 0; i < NCTX; ++i) {
        memset(&slots[i], 0, sizeof slots[i]);
        pthread_mutex_init(&slots[i].lock, NULL);
        vks_context_options o = vkt_options();
        o.message_callback = slot_message;
        o.message_user = &slots[i];
        o.device_index = device_for(i);
        VKT_OK(vks_context_create(&o, &slots[i].ctx));
    }
}

static void close_slots(ctx_slot *slots) {
    for (uint32_t i = 0; i < NCTX; ++i) {
        VKT_OK(vks_context_destroy(slots[i].ctx));
        if (slots[i].messages) fail_msg("context %u: validation said: %s", i, slots[i].last);
        pthread_mutex_destroy(&slots[i].lock);
    }
}

static vks_buffer *upload(vks_context *ctx, vks_dtype dt, const double *x, size_t n) {
    vks_buffer *b = NULL;
    const size_t es = vkt_dtype_bytes(dt);
    if (vks_buffer_create(ctx, n * es, &b) != VKS_OK) return NULL;
    void *h = malloc(n * es);
    for (size_t i = 0; i < n; ++i) {
        if (dt == VKS_DTYPE_F64) ((double *)h)[i] = x[i];
        else ((float *)h)[i] = (float)x[i];
    }
    vks_status st = vks_buffer_write(b, 0, h, n * es);
    free(h);
    if (st != VKS_OK) {
        vks_buffer_destroy(b);
        return NULL;
    }
    return b;
}

static vks_status download(vks_buffer *b, vks_dtype dt, double *x, size_t n) {
    const size_t es = vkt_dtype_bytes(dt);
    void *h = malloc(n * es);
    vks_status st = vks_buffer_read(b, 0, h, n * es);
    for (size_t i = 0; st == VKS_OK && i < n; ++i) x[i] = dt == VKS_DTYPE_F64 ? ((double *)h)[i] : ((float *)h)[i];
    free(h);
    return st;
}

static vks_buffer *nan_buffer(vks_context *ctx, size_t bytes) {
    vks_buffer *b = NULL;
    if (vks_buffer_create(ctx, bytes, &b) != VKS_OK) return NULL;
    if (vks_buffer_fill(b, 0, bytes, 0x7FC00000u) != VKS_OK) { /* f32 NaN; f64 NaN too */
        vks_buffer_destroy(b);
        return NULL;
    }
    return b;
}

/* ---- one thread per context ----------------------------------------------------------- */

typedef struct worker {
    ctx_slot *slot;
    pthread_barrier_t *start;
    int rounds;
    /* GEMM m x k times k x n in f32; Kronecker product of two factors (p x p, q x q) in f64. */
    int64_t m, n, k, p, q;
    double *a, *b, *c;      /* inputs, result */
    double *fa, *fb, *x, *y;
    vks_status status;
    char message[1024];
    int f64;
} worker;

static vks_status worker_round(worker *w) {
    vks_context *ctx = w->slot->ctx;
    vks_status st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
    vks_buffer *ba = upload(ctx, VKS_DTYPE_F32, w->a, (size_t)(w->m * w->k));
    vks_buffer *bb = upload(ctx, VKS_DTYPE_F32, w->b, (size_t)(w->k * w->n));
    vks_buffer *bc = nan_buffer(ctx, (size_t)(w->m * w->n) * 4);
    vks_buffer *bfa = NULL, *bfb = NULL, *bx = NULL, *by = NULL;
    if (!ba || !bb || !bc) goto done;
    vks_tensor ta = vks_tensor_2d(ba, VKS_DTYPE_F32, w->m, w->k), tb = vks_tensor_2d(bb, VKS_DTYPE_F32, w->k, w->n);
    vks_tensor tc = vks_tensor_2d(bc, VKS_DTYPE_F32, w->m, w->n);
    st = vks_gemm(ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &ta, &tb, 0.0, &tc);
    if (st == VKS_OK && w->f64) {
        st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
        bfa = upload(ctx, VKS_DTYPE_F64, w->fa, (size_t)(w->p * w->p));
        bfb = upload(ctx, VKS_DTYPE_F64, w->fb, (size_t)(w->q * w->q));
        bx = upload(ctx, VKS_DTYPE_F64, w->x, (size_t)(w->p * w->q));
        by = nan_buffer(ctx, (size_t)(w->p * w->q) * 8);
        if (bfa && bfb && bx && by) {
            vks_tensor f0 = vks_tensor_2d(bfa, VKS_DTYPE_F64, w->p, w->p), f1 = vks_tensor_2d(bfb, VKS_DTYPE_F64, w->q, w->q);
            const vks_tensor *factors[2] = {&f0, &f1};
            vks_tensor tx = vks_tensor_1d(bx, VKS_DTYPE_F64, w->p * w->q), ty = vks_tensor_1d(by, VKS_DTYPE_F64, w->p * w->q);
            st = vks_kron_matmul(ctx, 2, factors, VKS_NO_TRANS, 1.0, &tx, 0.0, &ty);
            if (st == VKS_OK) st = download(by, VKS_DTYPE_F64, w->y, (size_t)(w->p * w->q));
        }
    }
    if (st == VKS_OK) st = download(bc, VKS_DTYPE_F32, w->c, (size_t)(w->m * w->n));
done:
    vks_buffer_destroy(ba), vks_buffer_destroy(bb), vks_buffer_destroy(bc);
    vks_buffer_destroy(bfa), vks_buffer_destroy(bfb), vks_buffer_destroy(bx), vks_buffer_destroy(by);
    return st;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    pthread_barrier_wait(w->start);
    w->status = VKS_OK;
    for (int r = 0; r < w->rounds && w->status == VKS_OK; ++r) w->status = worker_round(w);
    if (w->status != VKS_OK) snprintf(w->message, sizeof w->message, "%s", vks_last_error(NULL));
    return NULL;
}

static void check_gemm(int64_t m, int64_t n, int64_t k, const double *a, const double *b, const double *got,
                       const char *what) {
    double *want = calloc((size_t)(m * n), sizeof *want);
    ref_gemm(1.0, ref_rowmajor((double *)a, m, k), ref_rowmajor((double *)b, k, n), 0.0, ref_rowmajor(want, m, n));
    vkt_assert_close(got, want, (size_t)(m * n), vkt_tol_sum(VKS_DTYPE_F32, k), what);
    free(want);
}

static void check_kron(int64_t p, int64_t q, const double *fa, const double *fb, const double *x, const double *got,
                       const char *what) {
    const int64_t nn = p * q;
    double *dense = calloc((size_t)(nn * nn), sizeof *dense), *want = calloc((size_t)nn, sizeof *want);
    ref_mat f[2] = {ref_rowmajor((double *)fa, p, p), ref_rowmajor((double *)fb, q, q)};
    ref_kron_dense(2, f, dense);
    for (int64_t i = 0; i < nn; ++i) {
        double t = 0;
        for (int64_t j = 0; j < nn; ++j) t += dense[i * nn + j] * x[j];
        want[i] = t;
    }
    vkt_assert_close(got, want, (size_t)nn, vkt_tol(VKS_DTYPE_F64), what);
    free(dense), free(want);
}

static void one_thread_per_context(void **state) {
    (void)state;
    ctx_slot slots[NCTX];
    open_slots(slots);
    const int f64 = (vkt->info.features & VKS_FEATURE_FLOAT64) != 0;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, NCTX);
    worker w[NCTX];
    pthread_t th[NCTX];
    vkt_rng rng = vkt_rng_seed(41);
    /* Ragged shapes, different per thread, so a mix-up between contexts shows. */
    const int64_t shapes[NCTX][5] = {{37, 29, 53, 5, 7}, {1, 64, 17, 9, 3}, {70, 1, 33, 4, 11}};
    for (uint32_t i = 0; i < NCTX; ++i) {
        w[i] = (worker){&slots[i], &start, 3, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], shapes[i][4],
                        NULL, NULL, NULL, NULL, NULL, NULL, NULL, VKS_OK, "", f64};
        w[i].a = vkt_random(&rng, (size_t)(w[i].m * w[i].k), -1, 1);
        w[i].b = vkt_random(&rng, (size_t)(w[i].k * w[i].n), -1, 1);
        vkt_round_to(VKS_DTYPE_F32, w[i].a, (size_t)(w[i].m * w[i].k));
        vkt_round_to(VKS_DTYPE_F32, w[i].b, (size_t)(w[i].k * w[i].n));
        w[i].c = calloc((size_t)(w[i].m * w[i].n), sizeof(double));
        w[i].fa = vkt_random(&rng, (size_t)(w[i].p * w[i].p), -1, 1);
        w[i].fb = vkt_random(&rng, (size_t)(w[i].q * w[i].q), -1, 1);
        w[i].x = vkt_random(&rng, (size_t)(w[i].p * w[i].q), -1, 1);
        w[i].y = calloc((size_t)(w[i].p * w[i].q), sizeof(double));
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (uint32_t i = 0; i < NCTX; ++i) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (uint32_t i = 0; i < NCTX; ++i) {
        char what[64];
        if (w[i].status != VKS_OK) fail_msg("thread %u: %s: %s", i, vks_status_string(w[i].status), w[i].message);
        snprintf(what, sizeof what, "thread %u gemm", i);
        check_gemm(w[i].m, w[i].n, w[i].k, w[i].a, w[i].b, w[i].c, what);
        if (f64) {
            snprintf(what, sizeof what, "thread %u kron_matmul", i);
            check_kron(w[i].p, w[i].q, w[i].fa, w[i].fb, w[i].x, w[i].y, what);
        }
        free(w[i].a), free(w[i].b), free(w[i].c), free(w[i].fa), free(w[i].fb), free(w[i].x), free(w[i].y);
    }
    close_slots(slots);
}

/* ---- one thread driving two contexts ---------------------------------------------------- */

/* Stage 1 on context 0 (c = a b), stage 2 on context 1 (e = c d, with c handed over through
 * host memory), while an independent product runs on context 1 recorded before context 0
 * was synchronized: the pipeline-parallel pattern with one host thread. */
static void one_thread_interleaved(void **state) {
    (void)state;
    ctx_slot slots[NCTX];
    open_slots(slots);
    vks_context *c0 = slots[0].ctx, *c1 = slots[1].ctx;
    vkt_rng rng = vkt_rng_seed(42);
    const int64_t m = 23, k = 41, n = 19, p = 13;
    double *a = vkt_random(&rng, (size_t)(m * k), -1, 1), *b = vkt_random(&rng, (size_t)(k * n), -1, 1);
    double *d = vkt_random(&rng, (size_t)(n * p), -1, 1), *g = vkt_random(&rng, (size_t)(p * m), -1, 1);
    vkt_round_to(VKS_DTYPE_F32, a, (size_t)(m * k)), vkt_round_to(VKS_DTYPE_F32, b, (size_t)(k * n));
    vkt_round_to(VKS_DTYPE_F32, d, (size_t)(n * p)), vkt_round_to(VKS_DTYPE_F32, g, (size_t)(p * m));
    vks_buffer *ba = upload(c0, VKS_DTYPE_F32, a, (size_t)(m * k)), *bb = upload(c0, VKS_DTYPE_F32, b, (size_t)(k * n));
    vks_buffer *bc = nan_buffer(c0, (size_t)(m * n) * 4);
    vks_buffer *bd = upload(c1, VKS_DTYPE_F32, d, (size_t)(n * p)), *bg = upload(c1, VKS_DTYPE_F32, g, (size_t)(p * m));
    vks_buffer *bh = nan_buffer(c1, (size_t)(p * k) * 4), *bc1 = nan_buffer(c1, (size_t)(m * n) * 4);
    vks_buffer *be = nan_buffer(c1, (size_t)(m * p) * 4);
    assert_true(ba && bb && bc && bd && bg && bh && bc1 && be);
    vks_tensor ta = vks_tensor_2d(ba, VKS_DTYPE_F32, m, k), tb = vks_tensor_2d(bb, VKS_DTYPE_F32, k, n);
    vks_tensor tc = vks_tensor_2d(bc, VKS_DTYPE_F32, m, n), td = vks_tensor_2d(bd, VKS_DTYPE_F32, n, p);
    vks_tensor tg = vks_tensor_2d(bg, VKS_DTYPE_F32, p, m), th = vks_tensor_2d(bh, VKS_DTYPE_F32, p, k);
    vks_tensor tc1 = vks_tensor_2d(bc1, VKS_DTYPE_F32, m, n), te = vks_tensor_2d(be, VKS_DTYPE_F32, m, p);
    vks_tensor ta1; /* a again, on context 1, for h = g a */
    vks_buffer *ba1 = upload(c1, VKS_DTYPE_F32, a, (size_t)(m * k));
    assert_non_null(ba1);
    ta1 = vks_tensor_2d(ba1, VKS_DTYPE_F32, m, k);

    VKT_OK(vks_gemm(c0, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &ta, &tb, 0.0, &tc));   /* recorded on 0 */
    VKT_OK(vks_gemm(c1, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &tg, &ta1, 0.0, &th));  /* recorded on 1 */
    float *hc = malloc((size_t)(m * n) * 4);
    VKT_OK(vks_buffer_read(bc, 0, hc, (size_t)(m * n) * 4));                    /* runs 0 only */
    VKT_OK(vks_buffer_write(bc1, 0, hc, (size_t)(m * n) * 4));                  /* hand-over */
    VKT_OK(vks_gemm(c1, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &tc1, &td, 0.0, &te));
    VKT_OK(vks_synchronize(c1));

    double *got_c = calloc((size_t)(m * n), sizeof(double)), *got_e = calloc((size_t)(m * p), sizeof(double));
    double *got_h = calloc((size_t)(p * k), sizeof(double)), *c = calloc((size_t)(m * n), sizeof(double));
    VKT_OK(download(bc, VKS_DTYPE_F32, got_c, (size_t)(m * n)));
    VKT_OK(download(be, VKS_DTYPE_F32, got_e, (size_t)(m * p)));
    VKT_OK(download(bh, VKS_DTYPE_F32, got_h, (size_t)(p * k)));
    check_gemm(m, n, k, a, b, got_c, "context 0: c = a b");
    check_gemm(p, k, m, g, a, got_h, "context 1: h = g a");
    /* Stage 2's oracle starts from the f32 c the device handed over. */
    for (int64_t i = 0; i < m * n; ++i) c[i] = hc[i];
    check_gemm(m, p, n, c, d, got_e, "context 1: e = c d");

    free(hc), free(got_c), free(got_e), free(got_h), free(c), free(a), free(b), free(d), free(g);
    vks_buffer *all[] = {ba, bb, bc, bd, bg, bh, bc1, be, ba1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) VKT_OK(vks_buffer_destroy(all[i]));
    close_slots(slots);
}

/* A buffer belongs to the context that made it: another context's op refuses it (data moves
 * between devices through host memory, or the host's own peer-to-peer copies). */
static void buffers_stay_with_their_context(void **state) {
    (void)state;
    ctx_slot slots[NCTX];
    open_slots(slots);
    vks_buffer *b0 = NULL, *b1 = NULL;
    VKT_OK(vks_buffer_create(slots[0].ctx, 64 * 4, &b0));
    VKT_OK(vks_buffer_create(slots[1].ctx, 64 * 4, &b1));
    vks_tensor x = vks_tensor_2d(b0, VKS_DTYPE_F32, 8, 8), y = vks_tensor_2d(b1, VKS_DTYPE_F32, 8, 8);
    VKT_FAILS(vks_gemm(slots[1].ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &x, &y, 0.0, &y), VKS_ERROR_INVALID_ARGUMENT,
              "belongs to another context");
    VKT_FAILS(vks_buffer_copy(b0, 0, b1, 0, 64), VKS_ERROR_INVALID_ARGUMENT, "different contexts");
    VKT_OK(vks_buffer_destroy(b0));
    VKT_OK(vks_buffer_destroy(b1));
    close_slots(slots);
}

/* ---- per-thread messages ------------------------------------------------------------------- */

typedef struct msg_worker {
    vks_context *ctx;
    pthread_barrier_t *start;
    int64_t rows;
    int ok;
} msg_worker;

static void *msg_main(void *arg) {
    msg_worker *w = arg;
    vks_buffer *b = NULL;
    w->ok = vks_buffer_create(w->ctx, 4096, &b) == VKS_OK;
    pthread_barrier_wait(w->start);
    char want[64];
    snprintf(want, sizeof want, "%lld", (long long)w->rows);
    for (int r = 0; r < 200 && w->ok; ++r) {
        /* rows x 3 times 4 x 2: inner dimensions differ; the message names this thread's rows. */
        vks_tensor a = vks_tensor_2d(b, VKS_DTYPE_F32, w->rows, 3), bb = vks_tensor_2d(b, VKS_DTYPE_F32, 4, 2);
        vks_tensor c = vks_tensor_2d(b, VKS_DTYPE_F32, w->rows, 2);
        vks_status st = vks_gemm(w->ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &a, &bb, 0.0, &c);
        const char *msg = vks_last_error(NULL);
        w->ok = st == VKS_ERROR_SHAPE_MISMATCH && strncmp(msg, "vks_gemm", 8) == 0 && strstr(msg, want) != NULL;
    }
    vks_buffer_destroy(b);
    return NULL;
}

static void messages_are_per_thread(void **state) {
    (void)state;
    ctx_slot slots[NCTX];
    open_slots(slots);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, NCTX);
    msg_worker w[NCTX];
    pthread_t th[NCTX];
    for (uint32_t i = 0; i < NCTX; ++i) {
        w[i] = (msg_worker){slots[i].ctx, &start, 11 + 100 * (int64_t)i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, msg_main, &w[i]), 0);
    }
    for (uint32_t i = 0; i < NCTX; ++i) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (uint32_t i = 0; i < NCTX; ++i)
        if (!w[i].ok) fail_msg("thread %u saw another thread's message or a wrong status", i);
    close_slots(slots);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(one_thread_per_context),
        VKT_TEST(one_thread_interleaved),
        VKT_TEST(buffers_stay_with_their_context),
        VKT_TEST(messages_are_per_thread),
    };
    return VKT_RUN(tests);
}
