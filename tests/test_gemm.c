/* tests/test_gemm.c - the built-in GEMM and the backend's GEMM (cblas when built with it)
   against a naive triple loop in double: odd shapes, every transpose combination, leading
   dimensions larger than the rows, alpha and beta, beta = 0 over NaN, K = 0. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"

typedef void (*gemm_fn)(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t,
                        const float *, int64_t, float, float *, int64_t);

/* One comparison; returns 1 if every element is within the float rounding bound. */
static int check_gemm(gemm_fn gemm, mmix_rng *rng, int ta, int tb, int64_t M, int64_t N, int64_t K,
                      float alpha, float beta, int nan_in_c, double *worst) {
    /* op(A) is M x K: stored K x M when transposed. Pad every leading dim by 3. */
    int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
    int64_t lda = a_cols + 3, ldb = b_cols + 3, ldc = N + 3, i, j, k;
    float *A = (float *)malloc((size_t)(a_rows * lda + 1) * sizeof(float));
    float *B = (float *)malloc((size_t)(b_rows * ldb + 1) * sizeof(float));
    float *C = (float *)malloc((size_t)(M * ldc + 1) * sizeof(float));
    float *C0 = (float *)malloc((size_t)(M * ldc + 1) * sizeof(float));
    int ok = 1;
    for (i = 0; i < a_rows * lda; i++) A[i] = 2.0f * mmix_rng_uniform(rng) - 1.0f;
    for (i = 0; i < b_rows * ldb; i++) B[i] = 2.0f * mmix_rng_uniform(rng) - 1.0f;
    for (i = 0; i < M * ldc; i++) C0[i] = nan_in_c ? (float)NAN : 2.0f * mmix_rng_uniform(rng) - 1.0f;
    memcpy(C, C0, (size_t)(M * ldc) * sizeof(float));
    gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    for (i = 0; i < M; i++) {
        for (j = 0; j < N; j++) {
            double ref = 0.0, mag = 0.0, err, bound;
            for (k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                ref += a * b;
                mag += fabs(a * b);
            }
            ref *= alpha;
            mag *= fabs(alpha);
            if (beta != 0.0f) {
                ref += (double)beta * C0[i * ldc + j];
                mag += fabs((double)beta * C0[i * ldc + j]);
            }
            err = fabs((double)C[i * ldc + j] - ref);
            bound = (double)(K + 2) * 1.2e-7 * mag + 1e-30;
            if (!(err <= bound)) ok = 0;
            if (mag > 0 && err / mag > *worst) *worst = err / mag;
        }
        /* the padding between rows must be untouched */
        for (j = N; j < ldc && i + 1 < M; j++)
            if (memcmp(&C[i * ldc + j], &C0[i * ldc + j], sizeof(float)) != 0) ok = 0;
    }
    free(A); free(B); free(C); free(C0);
    return ok;
}

static void run_suite(const char *name, gemm_fn gemm) {
    static const int64_t dims[] = {1, 3, 4, 5, 16, 17, 63, 64, 65, 129, 130};
    const int n_dims = (int)(sizeof dims / sizeof dims[0]);
    mmix_rng rng;
    int ta, tb, mi, ni, ki, cases = 0, failed = 0;
    double worst = 0.0;
    mmix_rng_seed(&rng, 7);
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++)
            for (mi = 0; mi < n_dims; mi += 2)
                for (ni = 1; ni < n_dims; ni += 3)
                    for (ki = 0; ki < n_dims; ki += 2) {
                        int ok = check_gemm(gemm, &rng, ta, tb, dims[mi], dims[ni], dims[ki],
                                            1.0f, 0.0f, 0, &worst);
                        cases++;
                        if (!ok) {
                            failed++;
                            printf("  %s mismatch: ta=%d tb=%d M=%lld N=%lld K=%lld\n", name, ta, tb,
                                   (long long)dims[mi], (long long)dims[ni], (long long)dims[ki]);
                        }
                    }
    CHECK(failed == 0, "%s: %d of %d shape/transpose cases out of bounds", name, failed, cases);
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++) {
            CHECK(check_gemm(gemm, &rng, ta, tb, 37, 29, 41, -0.5f, 0.25f, 0, &worst),
                  "%s: alpha=-0.5 beta=0.25 ta=%d tb=%d", name, ta, tb);
            CHECK(check_gemm(gemm, &rng, ta, tb, 70, 150, 300, 1.0f, 1.0f, 0, &worst),
                  "%s: accumulate (beta=1) ta=%d tb=%d, several K panels and tasks", name, ta, tb);
            CHECK(check_gemm(gemm, &rng, ta, tb, 19, 23, 7, 2.0f, 0.0f, 1, &worst),
                  "%s: beta=0 must ignore a C full of NaN, ta=%d tb=%d", name, ta, tb);
        }
    CHECK(check_gemm(gemm, &rng, 0, 0, 9, 11, 0, 1.0f, 0.5f, 0, &worst), "%s: K=0 gives beta*C", name);
    CHECK(check_gemm(gemm, &rng, 0, 1, 256, 200, 96, 1.0f, 0.0f, 0, &worst), "%s: parallel-sized case", name);
    printf("  %s: worst error relative to sum|a*b| = %.3g\n", name, worst);
}

int main(void) {
    mmix_backend cpu;
    mmix_cpu_backend_fill(&cpu);
    mmix_set_num_threads(2);
    run_suite("builtin", mmix_sgemm_builtin);
    if (mmix_has_cblas()) run_suite("cblas", cpu.sgemm);
    /* The built-in GEMM gives the same bits on 1 and 2 threads (no split sums). */
    {
        mmix_rng rng;
        int64_t M = 200, N = 300, K = 250, i, same = 1;
        float *A = (float *)malloc((size_t)(M * K) * sizeof(float));
        float *B = (float *)malloc((size_t)(K * N) * sizeof(float));
        float *C1 = (float *)malloc((size_t)(M * N) * sizeof(float));
        float *C2 = (float *)malloc((size_t)(M * N) * sizeof(float));
        mmix_rng_seed(&rng, 3);
        for (i = 0; i < M * K; i++) A[i] = mmix_rng_normal(&rng);
        for (i = 0; i < K * N; i++) B[i] = mmix_rng_normal(&rng);
        mmix_set_num_threads(1);
        mmix_sgemm_builtin(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C1, N);
        mmix_set_num_threads(2);
        mmix_sgemm_builtin(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C2, N);
        for (i = 0; i < M * N; i++) same &= memcmp(&C1[i], &C2[i], sizeof(float)) == 0;
        CHECK(same, "builtin sgemm differs between 1 and 2 threads");
        /* mmix_set_gemm(MMIX_GEMM_BUILTIN) routes the backend's GEMM through the built-in
           one in every build: the same bits as calling it directly. */
        CHECK(mmix_set_gemm(MMIX_GEMM_BUILTIN) == MMIX_GEMM_BUILTIN, "the built-in GEMM can be chosen");
        cpu.sgemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C1, N);
        for (i = 0, same = 1; i < M * N; i++) same &= memcmp(&C1[i], &C2[i], sizeof(float)) == 0;
        CHECK(same, "after mmix_set_gemm(MMIX_GEMM_BUILTIN) the backend's sgemm is the built-in one");
        CHECK(mmix_set_gemm(MMIX_GEMM_CBLAS) == (mmix_has_cblas() ? MMIX_GEMM_CBLAS : MMIX_GEMM_BUILTIN),
              "asking for the BLAS gives it where the build has one, else keeps the built-in GEMM");
        free(A); free(B); free(C1); free(C2);
    }
    return test_summary("test_gemm");
}
