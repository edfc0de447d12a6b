/* vkstruct_mpi's planning functions (pure C, no MPI): the flop-balanced LPT partition
 * against an exhaustive optimum on small lists and Graham's bound on large ones, its
 * determinism and tie-breaking, the block distribution of slabs, the Newton-Schulz cost
 * formula, and every argument error. */
#include <math.h>
#include <string.h>

#include "vkstruct/mpi_plan.h"
#include "vks_test.h"

#define FAILS_MPI(call, status, needle)                                                                     \
    do {                                                                                                    \
        vks_status s_ = (call);                                                                             \
        if (s_ != (status) || !strstr(vks_mpi_last_error(), (needle)))                                      \
            fail_msg("%s: got %s, message \"%s\", expected %s with \"%s\"", #call, vks_status_string(s_),   \
                     vks_mpi_last_error(), vks_status_string(status), (needle));                            \
    } while (0)

static void ns_flops_formula(void **state) {
    (void)state;
    /* m <= n: 4 m^2 n + 2 m^3; a tall matrix costs as its transpose. */
    assert_true(vks_mpi_ns_step_flops(3, 5) == 4.0 * 9 * 5 + 2.0 * 27);
    assert_true(vks_mpi_ns_step_flops(5, 3) == vks_mpi_ns_step_flops(3, 5));
    assert_true(vks_mpi_ns_step_flops(1, 1) == 6.0);
    assert_true(vks_mpi_ns_step_flops(4096, 11008) == 4.0 * 4096.0 * 4096.0 * 11008.0 + 2.0 * 4096.0 * 4096.0 * 4096.0);
    assert_true(vks_mpi_ns_step_flops(0, 7) == 0.0);
}

/* The best makespan by exhaustive search (count small). */
static double best_makespan(uint32_t count, const double *cost, int32_t ranks) {
    double best = INFINITY, load[8];
    uint32_t total = 1;
    for (uint32_t i = 0; i < count; ++i) total *= (uint32_t)ranks;
    for (uint32_t code = 0; code < total; ++code) {
        memset(load, 0, sizeof load);
        uint32_t c = code;
        for (uint32_t i = 0; i < count; ++i, c /= (uint32_t)ranks) load[c % (uint32_t)ranks] += cost[i];
        double worst = 0;
        for (int32_t r = 0; r < ranks; ++r) worst = fmax(worst, load[r]);
        best = fmin(best, worst);
    }
    return best;
}

static void check_partition(uint32_t count, const double *cost, int32_t ranks, const int32_t *owner, const double *load) {
    double *sum = calloc((size_t)ranks, sizeof *sum), total = 0, biggest = 0, worst = 0;
    for (uint32_t i = 0; i < count; ++i) {
        assert_true(owner[i] >= 0 && owner[i] < ranks);
        sum[owner[i]] += cost[i];
        total += cost[i];
        biggest = fmax(biggest, cost[i]);
    }
    for (int32_t r = 0; r < ranks; ++r) {
        if (fabs(sum[r] - load[r]) > 1e-9 * fmax(total, 1)) fail_msg("load[%d] is %g, its jobs sum to %g", r, load[r], sum[r]);
        worst = fmax(worst, sum[r]);
    }
    /* Any greedy list schedule: largest load <= total / ranks + (1 - 1/ranks) largest job. */
    const double bound = total / ranks + (1.0 - 1.0 / ranks) * biggest;
    if (worst > bound * (1 + 1e-12)) fail_msg("largest load %g is past the list-scheduling bound %g", worst, bound);
    free(sum);
}

static void partition_small_lists_near_optimal(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(5);
    for (int trial = 0; trial < 200; ++trial) {
        const uint32_t count = 1 + (uint32_t)(vkt_next(&rng) % 7);
        const int32_t ranks = 1 + (int32_t)(vkt_next(&rng) % 4);
        double cost[8], load[8];
        int32_t owner[8];
        for (uint32_t i = 0; i < count; ++i) {
            const int64_t m = 1 + (int64_t)(vkt_next(&rng) % 64), n = 1 + (int64_t)(vkt_next(&rng) % 64);
            cost[i] = vks_mpi_ns_step_flops(m, n);
        }
        assert_int_equal(vks_mpi_partition(count, cost, ranks, owner, load), VKS_OK);
        check_partition(count, cost, ranks, owner, load);
        double worst = 0;
        for (int32_t r = 0; r < ranks; ++r) worst = fmax(worst, load[r]);
        const double opt = best_makespan(count, cost, ranks);
        if (worst > (4.0 / 3.0 - 1.0 / (3.0 * ranks)) * opt * (1 + 1e-12))
            fail_msg("trial %d: LPT makespan %g, optimum %g: past Graham's 4/3 bound", trial, worst, opt);
    }
}

/* A transformer's matrices: LPT by flops balances them where a round-robin by count does not. */
static void partition_balances_flops_not_counts(void **state) {
    (void)state;
    enum { LAYERS = 32, PER = 7, COUNT = LAYERS * PER };
    double cost[COUNT], load[64];
    int32_t owner[COUNT], again[COUNT];
    const int64_t shapes[PER][2] = {{4096, 4096}, {4096, 4096}, {4096, 4096}, {4096, 4096},
                                    {11008, 4096}, {11008, 4096}, {4096, 11008}};
    for (int l = 0; l < LAYERS; ++l)
        for (int j = 0; j < PER; ++j) cost[l * PER + j] = vks_mpi_ns_step_flops(shapes[j][0], shapes[j][1]);
    for (int32_t ranks = 1; ranks <= 64; ranks *= 2) {
        assert_int_equal(vks_mpi_partition(COUNT, cost, ranks, owner, load), VKS_OK);
        check_partition(COUNT, cost, ranks, owner, load);
        assert_int_equal(vks_mpi_partition(COUNT, cost, ranks, again, NULL), VKS_OK);
        assert_memory_equal(owner, again, sizeof owner); /* deterministic */
        double total = 0, worst = 0, rr[64] = {0}, rr_worst = 0;
        for (int i = 0; i < COUNT; ++i) total += cost[i], rr[i % ranks] += cost[i];
        for (int32_t r = 0; r < ranks; ++r) worst = fmax(worst, load[r]), rr_worst = fmax(rr_worst, rr[r]);
        /* 224 jobs over <= 64 ranks: LPT is within a few percent of perfect balance... */
        if (ranks <= 16 && worst > 1.05 * total / ranks) fail_msg("%d ranks: largest load %.4g of mean %.4g", ranks, worst, total / ranks);
        /* ... and never worse than assigning by count. */
        assert_true(worst <= rr_worst * (1 + 1e-12));
    }
}

static void partition_ties_by_index_and_rank(void **state) {
    (void)state;
    const double cost[6] = {1, 1, 1, 1, 1, 1};
    int32_t owner[6];
    double load[4];
    assert_int_equal(vks_mpi_partition(6, cost, 4, owner, load), VKS_OK);
    const int32_t want[6] = {0, 1, 2, 3, 0, 1};
    assert_memory_equal(owner, want, sizeof want);
    /* Larger jobs first, whatever their index. */
    const double c2[4] = {1, 5, 3, 5};
    int32_t o2[4];
    assert_int_equal(vks_mpi_partition(4, c2, 2, o2, NULL), VKS_OK);
    /* Order 5 (index 1), 5 (index 3), 3, 1: rank 0, rank 1, then the tie of loads 5 and 5 goes
     * to rank 0 and the last job to the less loaded rank 1. */
    const int32_t w2[4] = {1, 0, 0, 1};
    assert_memory_equal(o2, w2, sizeof w2);
    /* More ranks than jobs: ranks past the jobs get nothing. */
    double load8[8];
    assert_int_equal(vks_mpi_partition(2, c2, 8, o2, load8), VKS_OK);
    assert_true(o2[0] == 1 && o2[1] == 0 && load8[0] == 5 && load8[1] == 1 && load8[2] == 0 && load8[7] == 0);
    assert_int_equal(vks_mpi_partition(0, NULL, 3, NULL, NULL), VKS_OK);
}

static void slabs_cover_and_balance(void **state) {
    (void)state;
    for (int64_t n = 0; n <= 40; ++n)
        for (int32_t ranks = 1; ranks <= 9; ++ranks) {
            int64_t next = 0;
            for (int32_t r = 0; r < ranks; ++r) {
                int64_t first = -1, count = -1;
                assert_int_equal(vks_mpi_slab(n, ranks, r, &first, &count), VKS_OK);
                assert_int_equal(first, next); /* contiguous, in rank order */
                assert_true(count == n / ranks || count == n / ranks + 1);
                assert_true(count == n / ranks + (r < n % ranks ? 1 : 0)); /* numpy.array_split */
                next += count;
            }
            assert_int_equal(next, n);
        }
    int64_t f, c;
    assert_int_equal(vks_mpi_slab(INT64_C(100000000000), 1024, 1023, &f, &c), VKS_OK);
    assert_int_equal(f + c, INT64_C(100000000000));
}

static void argument_errors(void **state) {
    (void)state;
    double cost[2] = {1, NAN};
    int32_t owner[2];
    int64_t f, c;
    FAILS_MPI(vks_mpi_partition(2, cost, 2, owner, NULL), VKS_ERROR_INVALID_ARGUMENT, "vks_mpi_partition: cost[1] is nan");
    cost[1] = -1;
    FAILS_MPI(vks_mpi_partition(2, cost, 2, owner, NULL), VKS_ERROR_INVALID_ARGUMENT, "cost[1] is -1");
    FAILS_MPI(vks_mpi_partition(2, cost, 0, owner, NULL), VKS_ERROR_INVALID_ARGUMENT, "vks_mpi_partition: ranks is 0");
    FAILS_MPI(vks_mpi_partition(2, NULL, 2, owner, NULL), VKS_ERROR_INVALID_ARGUMENT, "cost is NULL");
    FAILS_MPI(vks_mpi_partition(2, cost, 2, NULL, NULL), VKS_ERROR_INVALID_ARGUMENT, "owner is NULL");
    FAILS_MPI(vks_mpi_slab(-1, 2, 0, &f, &c), VKS_ERROR_INVALID_ARGUMENT, "vks_mpi_slab: n is -1");
    FAILS_MPI(vks_mpi_slab(5, 0, 0, &f, &c), VKS_ERROR_INVALID_ARGUMENT, "ranks is 0");
    FAILS_MPI(vks_mpi_slab(5, 2, 2, &f, &c), VKS_ERROR_INVALID_ARGUMENT, "rank is 2, expected 0..1");
    FAILS_MPI(vks_mpi_slab(5, 2, 1, NULL, &c), VKS_ERROR_INVALID_ARGUMENT, "first is NULL");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ns_flops_formula),
        cmocka_unit_test(partition_small_lists_near_optimal),
        cmocka_unit_test(partition_balances_flops_not_counts),
        cmocka_unit_test(partition_ties_by_index_and_rank),
        cmocka_unit_test(slabs_cover_and_balance),
        cmocka_unit_test(argument_errors),
    };
    if (getenv("VKT_FILTER")) cmocka_set_test_filter(getenv("VKT_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
