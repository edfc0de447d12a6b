/* vks_eigh where LAPACK cannot be loaded (ctest runs this with LD_LIBRARY_PATH pointing at
 * libraries named like LAPACK but without its symbols, tests/faults/fake_lapack.c): the
 * default method falls back to Jacobi and is still right (vectors and eigenvalues only); asking
 * for the tridiagonal method is VKS_ERROR_UNSUPPORTED naming the library and the way out; the
 * SVD and the Kronecker eigendecomposition keep working. */
#include <math.h>
#include <string.h>

#include "reference_orthogonal.h"
#include "vks_test.h"

static void test_no_lapack_eigh(void **state) {
    (void)state;
    const vks_dtype dt = (vkt->info.features & VKS_FEATURE_FLOAT64) ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
    const int64_t n = 37;
    vkt_rng rng = vkt_rng_seed(7);
    double *a = calloc((size_t)(n * n), sizeof *a), *wr = calloc((size_t)n, sizeof *wr), *vr = calloc((size_t)(n * n), sizeof *vr);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j <= i; ++j) a[i * n + j] = a[j * n + i] = vkt_uniform(&rng, -1, 1);
    vkt_round_to(dt, a, (size_t)(n * n));
    ref_eigh(n, a, wr, vr);
    vks_buffer *A = vkt_upload(dt, a, (size_t)(n * n)), *V = vkt_poisoned(dt, (size_t)(n * n)), *W = vkt_poisoned(dt, (size_t)n);
    vks_tensor ta = vks_tensor_2d(A, dt, n, n), tv = vks_tensor_2d(V, dt, n, n), tw = vks_tensor_1d(W, dt, n);
    vks_eigh_options o = VKS_EIGH_OPTIONS_INIT;
    o.method = VKS_EIGH_TRIDIAGONAL;
    VKT_FAILS(vks_eigh_ex(vkt->ctx, &ta, &tw, &tv, &o), VKS_ERROR_UNSUPPORTED,
              "vks_eigh_ex: options->method = VKS_EIGH_TRIDIAGONAL needs LAPACK (liblapack.so.3");
    assert_non_null(strstr(vks_last_error(NULL), "VKS_EIGH_JACOBI needs none"));
    for (int values_only = 0; values_only < 2; ++values_only) {
        VKT_OK(vks_eigh_ex(vkt->ctx, &ta, &tw, values_only ? NULL : &tv, NULL)); /* AUTO: Jacobi */
        double *w = vkt_download(W, dt, 0, (size_t)n), *v = vkt_download(V, dt, 0, (size_t)(n * n));
        const double tol = dt == VKS_DTYPE_F64 ? 1e-12 : 1e-5;
        for (int64_t i = 0; i < n; ++i)
            if (!(fabs(w[i] - wr[i]) <= tol * fabs(wr[n - 1]) + tol)) fail_msg("w[%lld] = %.9g, want %.9g", (long long)i, w[i], wr[i]);
        if (!values_only) {
            const double orth = ref_orth_error(n, n, v);
            if (!(orth <= 100 * tol)) fail_msg("||V^T V - I|| = %.3g", orth);
        }
        free(w), free(v);
    }
    free(a), free(wr), free(vr);
    vks_buffer_destroy(A), vks_buffer_destroy(V), vks_buffer_destroy(W);
}

int main(void) {
    const struct CMUnitTest tests[] = {VKT_TEST(test_no_lapack_eigh)};
    return VKT_RUN(tests);
}
