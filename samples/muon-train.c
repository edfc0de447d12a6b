/*
 * muon-train: trains a small MLP (two hidden ReLU layers, softmax cross-entropy) on synthetic
 * data (a random teacher network labels Gaussian inputs; fixed seed) three times from the same
 * initial weights and the same minibatches, with
 *   sgd   SGD with momentum 0.9 (Nesterov)
 *   muon  Muon: momentum 0.95 with Nesterov, the update orthogonalized by Newton-Schulz on the
 *         device (one grouped call for all weight matrices), scaled by sqrt(max(1, rows/cols))
 *   auon  AuON (the public code's variant) on the same momentum
 * Biases use SGD with momentum in all three; every learning rate decays linearly to 0. Forward and backward products are vkstruct GEMMs
 * (the forward ones with the bias and ReLU in their epilogue); the small elementwise parts
 * (softmax, ReLU masks, optimizer arithmetic) run on the host.
 *
 *   muon-train [--quick] [--epochs N] [--device D]
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vkstruct/vkstruct.h>

#include "sample_device.h"

#define CHECK(call) SAMPLE_CHECK("muon-train", call)

typedef struct rng { uint64_t s; } rng;
static double uniform(rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}
static double normal(rng *r) { return sqrt(-2 * log(uniform(r) + 1e-300)) * cos(6.283185307179586 * uniform(r)); }

enum { LAYERS = 3 };

typedef struct problem {
    int n, d, h, c, batch; /* samples, input width, hidden width, classes, minibatch */
    float *x;              /* n x d */
    int *y;                /* n */
} problem;

typedef struct net {
    int rows[LAYERS], cols[LAYERS];
    float *w[LAYERS], *b[LAYERS];     /* host copies: w[l] rows x cols (out x in) */
    float *mw[LAYERS], *mb[LAYERS];   /* momentum buffers */
} net;

typedef struct device {
    vks_context *ctx;
    vks_buffer *x, *w[LAYERS], *b[LAYERS], *act[LAYERS], *grad_out[LAYERS], *gw[LAYERS], *gin[LAYERS];
    vks_buffer *upd, *ortho; /* the updates of all weight matrices, packed */
} device;

static float *alloc_f(size_t n) {
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "muon-train: out of memory\n");
        exit(1);
    }
    return p;
}

static void make_problem(problem *p, rng *r) {
    p->x = alloc_f((size_t)p->n * p->d);
    p->y = calloc((size_t)p->n, sizeof *p->y);
    for (int i = 0; i < p->n * p->d; ++i) p->x[i] = (float)normal(r);
    /* Teacher: d -> 32 (tanh) -> c, labels = argmax. */
    const int t = 32;
    float *t1 = alloc_f((size_t)t * p->d), *t2 = alloc_f((size_t)p->c * t);
    for (int i = 0; i < t * p->d; ++i) t1[i] = (float)(normal(r) / sqrt(p->d));
    for (int i = 0; i < p->c * t; ++i) t2[i] = (float)(normal(r) / sqrt(t));
    for (int s = 0; s < p->n; ++s) {
        float hid[32], best = -1e30f;
        for (int j = 0; j < t; ++j) {
            double a = 0;
            for (int k = 0; k < p->d; ++k) a += t1[j * p->d + k] * p->x[s * p->d + k];
            hid[j] = (float)tanh(2 * a);
        }
        for (int o = 0; o < p->c; ++o) {
            double a = 0;
            for (int j = 0; j < t; ++j) a += t2[o * t + j] * hid[j];
            if (a > best) best = (float)a, p->y[s] = o;
        }
    }
    free(t1), free(t2);
}

static void init_net(net *nt, const problem *p, uint64_t seed) {
    const int dims[LAYERS + 1] = {p->d, p->h, p->h, p->c};
    rng r = {seed};
    for (int l = 0; l < LAYERS; ++l) {
        nt->rows[l] = dims[l + 1], nt->cols[l] = dims[l];
        const size_t n = (size_t)dims[l + 1] * dims[l];
        nt->w[l] = alloc_f(n), nt->mw[l] = alloc_f(n), nt->b[l] = alloc_f((size_t)dims[l + 1]), nt->mb[l] = alloc_f((size_t)dims[l + 1]);
        for (size_t i = 0; i < n; ++i) nt->w[l][i] = (float)(normal(&r) * sqrt(2.0 / dims[l]));
    }
}

static void free_net(net *nt) {
    for (int l = 0; l < LAYERS; ++l) free(nt->w[l]), free(nt->mw[l]), free(nt->b[l]), free(nt->mb[l]);
}

static vks_tensor mat(vks_buffer *b, int rows, int cols) { return vks_tensor_2d(b, VKS_DTYPE_F32, rows, cols); }

static void upload(vks_buffer *b, const float *x, size_t n) { CHECK(vks_buffer_write(b, 0, x, n * sizeof *x)); }
static void download(vks_buffer *b, float *x, size_t n) { CHECK(vks_buffer_read(b, 0, x, n * sizeof *x)); }

/* One minibatch: forward, loss, backward; leaves the weight gradients in dev->gw and returns
 * the summed cross-entropy (host: db in gb). */
static double step_gradients(device *dev, const net *nt, const problem *p, const int *idx, float **gb, float *scratch) {
    const int B = p->batch;
    float *xb = scratch;
    for (int s = 0; s < B; ++s) memcpy(xb + (size_t)s * p->d, p->x + (size_t)idx[s] * p->d, sizeof(float) * p->d);
    upload(dev->x, xb, (size_t)B * p->d);
    /* Forward: act[l] = act(in W^T + b), ReLU on the hidden layers. */
    for (int l = 0; l < LAYERS; ++l) {
        vks_tensor in = l == 0 ? mat(dev->x, B, p->d) : mat(dev->act[l - 1], B, nt->cols[l]);
        vks_tensor w = mat(dev->w[l], nt->rows[l], nt->cols[l]), out = mat(dev->act[l], B, nt->rows[l]);
        vks_tensor bias = vks_tensor_1d(dev->b[l], VKS_DTYPE_F32, nt->rows[l]);
        vks_gemm_desc g = VKS_GEMM_DESC_INIT;
        g.trans_b = VKS_TRANS, g.a = &in, g.b = &w, g.c = &out, g.bias = &bias;
        g.activation = l + 1 < LAYERS ? VKS_ACT_RELU : VKS_ACT_NONE;
        CHECK(vks_gemm_ex(dev->ctx, &g));
    }
    /* Softmax cross-entropy and its gradient on the host. */
    float *logits = scratch + (size_t)B * p->d, *d = logits + (size_t)B * p->c;
    download(dev->act[LAYERS - 1], logits, (size_t)B * p->c);
    double loss = 0;
    for (int s = 0; s < B; ++s) {
        float mx = -1e30f;
        for (int o = 0; o < p->c; ++o) mx = fmaxf(mx, logits[s * p->c + o]);
        double z = 0;
        for (int o = 0; o < p->c; ++o) z += exp(logits[s * p->c + o] - mx);
        loss += log(z) + mx - logits[s * p->c + p->y[idx[s]]];
        for (int o = 0; o < p->c; ++o)
            d[s * p->c + o] = (float)((exp(logits[s * p->c + o] - mx) / z - (o == p->y[idx[s]])) / B);
    }
    /* Backward: gW = d^T in, db = column sums of d, d_in = d W (masked by ReLU'). */
    for (int l = LAYERS - 1; l >= 0; --l) {
        const int rows = nt->rows[l], cols = nt->cols[l];
        upload(dev->grad_out[l], d, (size_t)B * rows);
        for (int o = 0; o < rows; ++o) {
            double s = 0;
            for (int q = 0; q < B; ++q) s += d[q * rows + o];
            gb[l][o] = (float)s;
        }
        vks_tensor go = mat(dev->grad_out[l], B, rows), in = l == 0 ? mat(dev->x, B, p->d) : mat(dev->act[l - 1], B, cols);
        vks_tensor gw = mat(dev->gw[l], rows, cols);
        CHECK(vks_gemm(dev->ctx, VKS_TRANS, VKS_NO_TRANS, 1.0, &go, &in, 0.0, &gw));
        if (l == 0) break;
        vks_tensor w = mat(dev->w[l], rows, cols), gi = mat(dev->gin[l], B, cols);
        CHECK(vks_gemm(dev->ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &go, &w, 0.0, &gi));
        float *h = d + (size_t)B * p->h, *nd = h + (size_t)B * p->h;
        download(dev->gin[l], nd, (size_t)B * cols);
        download(dev->act[l - 1], h, (size_t)B * cols);
        for (int i = 0; i < B * cols; ++i) nd[i] = h[i] > 0 ? nd[i] : 0;
        memmove(d, nd, sizeof(float) * (size_t)B * cols);
    }
    return loss;
}

typedef enum opt_kind { OPT_SGD, OPT_MUON, OPT_AUON } opt_kind;
static const char *const opt_names[] = {"sgd", "muon", "auon"};

/* Applies one optimizer step to every layer; `decay` scales every learning rate (linear decay
 * to 0 over the run, the same for the three optimizers). */
static void optimizer_step(device *dev, net *nt, opt_kind kind, float **gb, float *scratch, double decay) {
    /* Tuned once on --quick (constant rates); normalized updates need the decay to settle. */
    const double lr_sgd = 0.05 * decay, lr_muon = 0.05 * decay, lr_auon = 1.0 * decay, bias_lr = 0.05 * decay;
    size_t off[LAYERS + 1] = {0};
    for (int l = 0; l < LAYERS; ++l) off[l + 1] = off[l] + (size_t)nt->rows[l] * nt->cols[l];
    float *g = scratch, *u = g + off[LAYERS];
    for (int l = 0; l < LAYERS; ++l) download(dev->gw[l], g + off[l], off[l + 1] - off[l]);
    for (int l = 0; l < LAYERS; ++l) {
        const size_t n = off[l + 1] - off[l];
        for (int o = 0; o < nt->rows[l]; ++o) { /* biases: SGD with Nesterov momentum 0.9 */
            nt->mb[l][o] = 0.9f * nt->mb[l][o] + gb[l][o];
            nt->b[l][o] -= (float)(bias_lr * (gb[l][o] + 0.9f * nt->mb[l][o]));
        }
        if (kind == OPT_SGD) {
            for (size_t i = 0; i < n; ++i) {
                nt->mw[l][i] = 0.9f * nt->mw[l][i] + g[off[l] + i];
                nt->w[l][i] -= (float)(lr_sgd * (g[off[l] + i] + 0.9f * nt->mw[l][i]));
            }
        } else { /* Muon's momentum: buf = lerp(buf, g, 0.05); update = lerp(g, buf, 0.95) (Nesterov) */
            for (size_t i = 0; i < n; ++i) {
                nt->mw[l][i] += 0.05f * (g[off[l] + i] - nt->mw[l][i]);
                u[off[l] + i] = g[off[l] + i] + 0.95f * (nt->mw[l][i] - g[off[l] + i]);
            }
        }
    }
    if (kind != OPT_SGD) {
        /* All weight matrices orthogonalized in one grouped call (they have different shapes). */
        upload(dev->upd, u, off[LAYERS]);
        vks_tensor in[LAYERS], out[LAYERS];
        for (int l = 0; l < LAYERS; ++l) {
            in[l] = mat(dev->upd, nt->rows[l], nt->cols[l]), in[l].byte_offset = off[l] * sizeof(float);
            out[l] = mat(dev->ortho, nt->rows[l], nt->cols[l]), out[l].byte_offset = off[l] * sizeof(float);
        }
        if (kind == OPT_MUON) {
            vks_newton_schulz_options o = VKS_NEWTON_SCHULZ_OPTIONS_INIT; /* Muon, 5 steps */
            CHECK(vks_newton_schulz_grouped(dev->ctx, LAYERS, in, out, &o));
        } else {
            vks_auon_options o = VKS_AUON_OPTIONS_INIT; /* the public code's variant */
            CHECK(vks_auon_grouped(dev->ctx, LAYERS, in, out, &o));
        }
        download(dev->ortho, u, off[LAYERS]);
        for (int l = 0; l < LAYERS; ++l) {
            const double scale = kind == OPT_MUON ? lr_muon * sqrt(fmax(1.0, (double)nt->rows[l] / nt->cols[l])) : lr_auon;
            for (size_t i = 0; i < off[l + 1] - off[l]; ++i) nt->w[l][i] -= (float)(scale * u[off[l] + i]);
        }
    }
    for (int l = 0; l < LAYERS; ++l) {
        upload(dev->w[l], nt->w[l], off[l + 1] - off[l]);
        upload(dev->b[l], nt->b[l], (size_t)nt->rows[l]);
    }
}

int main(int argc, char **argv) {
    bool quick = false;
    int epochs = 0;
    const char *device_name = NULL;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--quick")) quick = true;
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device_name = argv[++i];
        else {
            printf("usage: muon-train [--quick] [--epochs N] [--device D]\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    problem p = {.n = quick ? 1024 : 4096, .d = 32, .h = quick ? 64 : 128, .c = 10, .batch = 128};
    if (epochs <= 0) epochs = quick ? 6 : 20;
    rng r = {2024};
    make_problem(&p, &r);

    vks_context_options o = VKS_CONTEXT_OPTIONS_INIT;
    o.device_name = device_name;
    device dev = {0};
    CHECK(vks_context_create(&o, &dev.ctx));
    vks_device_info info = {.struct_size = sizeof info};
    CHECK(vks_context_get_device_info(dev.ctx, &info));
    printf("muon-train on %s: MLP %d-%d-%d-%d, %d samples, batch %d, %d epochs\n", info.name, p.d, p.h, p.h, p.c, p.n,
           p.batch, epochs);

    net proto;
    init_net(&proto, &p, 7);
    size_t wtotal = 0;
    for (int l = 0; l < LAYERS; ++l) {
        const size_t n = (size_t)proto.rows[l] * proto.cols[l];
        wtotal += n;
        CHECK(vks_buffer_create(dev.ctx, n * 4, &dev.w[l]));
        CHECK(vks_buffer_create(dev.ctx, n * 4, &dev.gw[l]));
        CHECK(vks_buffer_create(dev.ctx, (size_t)proto.rows[l] * 4, &dev.b[l]));
        CHECK(vks_buffer_create(dev.ctx, (size_t)p.batch * proto.rows[l] * 4, &dev.act[l]));
        CHECK(vks_buffer_create(dev.ctx, (size_t)p.batch * proto.rows[l] * 4, &dev.grad_out[l]));
        CHECK(vks_buffer_create(dev.ctx, (size_t)p.batch * proto.cols[l] * 4, &dev.gin[l]));
    }
    CHECK(vks_buffer_create(dev.ctx, (size_t)p.batch * p.d * 4, &dev.x));
    CHECK(vks_buffer_create(dev.ctx, wtotal * 4, &dev.upd));
    CHECK(vks_buffer_create(dev.ctx, wtotal * 4, &dev.ortho));
    float *scratch = alloc_f(2 * wtotal + (size_t)p.batch * (p.d + 2 * p.c + 3 * p.h) + 1024);
    float *gb[LAYERS];
    for (int l = 0; l < LAYERS; ++l) gb[l] = alloc_f((size_t)proto.rows[l]);
    const int steps = p.n / p.batch;
    int *order = calloc((size_t)p.n, sizeof *order);
    double final_loss[3];

    for (int k = 0; k < 3; ++k) {
        net nt;
        init_net(&nt, &p, 7); /* the same initial weights for every optimizer */
        for (int l = 0; l < LAYERS; ++l) {
            upload(dev.w[l], nt.w[l], (size_t)nt.rows[l] * nt.cols[l]);
            upload(dev.b[l], nt.b[l], (size_t)nt.rows[l]);
        }
        rng shuffle = {99}; /* the same minibatches too */
        printf("%-5s loss per epoch:", opt_names[k]);
        double loss = 0;
        for (int e = 0; e < epochs; ++e) {
            for (int i = 0; i < p.n; ++i) order[i] = i;
            for (int i = p.n - 1; i > 0; --i) {
                int j = (int)(uniform(&shuffle) * (i + 1)), t = order[i];
                order[i] = order[j], order[j] = t;
            }
            loss = 0;
            for (int s = 0; s < steps; ++s) {
                loss += step_gradients(&dev, &nt, &p, order + s * p.batch, gb, scratch);
                optimizer_step(&dev, &nt, (opt_kind)k, gb, scratch, 1.0 - (double)(e * steps + s) / (epochs * steps));
            }
            loss /= (double)steps * p.batch;
            printf(" %.4f", loss);
            fflush(stdout);
        }
        printf("\n");
        final_loss[k] = loss;
        free_net(&nt);
    }
    printf("final training loss: sgd %.4f, muon %.4f, auon %.4f\n", final_loss[0], final_loss[1], final_loss[2]);
    free(order), free(scratch);
    for (int l = 0; l < LAYERS; ++l) free(gb[l]);
    free_net(&proto);
    free(p.x), free(p.y);
    vks_context_destroy(dev.ctx); /* destroys the buffers too */
    return 0;
}
