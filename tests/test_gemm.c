/* tests/test_gemm.c - the built-in GEMM and the backend's GEMM (cblas when built with it)
   against a naive triple loop in double: odd shapes, every transpose combination, leading
   dimensions larger than the rows, alpha and beta, beta = 0 over NaN, K = 0. Then the token
   mixing's fast path (the batched GEMM that skips the masked zeros) against its reference
   kernels (one plain GEMM per sequence, every product): the GEMM alone, the op with every
   mask kind and kernel size, the reference-masked-gradients mode's dense weight gradient,
   and whole mixers (plain, softmax, multi-headed, expanded, bidirectional). */
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

/* The largest |a - b| over n floats, relative to the largest |b| (at least 1). */
static double rel_diff(const float *a, const float *b, int64_t n) {
    double worst = 0.0, scale = 1.0;
    int64_t i;
    for (i = 0; i < n; i++) if (fabs((double)b[i]) > scale) scale = fabs((double)b[i]);
    for (i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d != d || a[i] != a[i]) return 1e30;
        if (d > worst) worst = d;
    }
    return worst / scale;
}

/* mmix__gemm_batched against one mmix_sgemm_builtin per batch: per-batch C (sc != 0) and
   one summed C (sc = 0), A lower-triangular (its zeros skipped) or dense, with a keep mask
   (only kept entries compared, the rest must be untouched or computed). */
static void test_batched_gemm(void) {
    static const int64_t shapes[][4] = {{3, 7, 5, 9}, {4, 70, 33, 130}, {2, 128, 256, 128}, {5, 65, 17, 200}};
    mmix_rng rng;
    int s, ta, tb, summed, tri, masked;
    mmix_rng_seed(&rng, 5);
    for (s = 0; s < 4; s++)
        for (ta = 0; ta < 2; ta++)
            for (tb = 0; tb < 2; tb++)
                for (summed = 0; summed < 2; summed++)
                    for (tri = 0; tri < 2; tri++)
                        for (masked = 0; masked < 2; masked++) {
                            int64_t batch = shapes[s][0], M = shapes[s][1], N = shapes[s][2], K = shapes[s][3];
                            int64_t sa = M * K, sb = K * N, sc = summed ? 0 : M * N, i, b, nc = summed ? M * N : batch * M * N;
                            float *A = (float *)malloc((size_t)(batch * sa) * sizeof(float));
                            float *B = (float *)malloc((size_t)(batch * sb) * sizeof(float));
                            float *C = (float *)malloc((size_t)nc * sizeof(float));
                            float *R = (float *)malloc((size_t)nc * sizeof(float));
                            uint8_t *keep = (uint8_t *)malloc((size_t)(M * N));
                            double d;
                            int ok = 1;
                            for (i = 0; i < batch * sa; i++) {
                                int64_t row = ta ? (i % sa) % M : (i % sa) / K, col = ta ? (i % sa) / M : (i % sa) % K;
                                A[i] = tri && col > row ? 0.0f : 2.0f * mmix_rng_uniform(&rng) - 1.0f;
                            }
                            for (i = 0; i < batch * sb; i++) B[i] = 2.0f * mmix_rng_uniform(&rng) - 1.0f;
                            for (i = 0; i < nc; i++) C[i] = R[i] = 2.0f * mmix_rng_uniform(&rng) - 1.0f;
                            for (i = 0; i < M * N; i++) keep[i] = (uint8_t)(i % N <= i / N);
                            mmix__gemm_batched(ta, tb, batch, M, N, K, 0.5f, A, ta ? M : K, sa, B, tb ? K : N, sb, 0.25f,
                                               C, N, sc, masked ? keep : NULL);
                            for (b = 0; b < batch; b++)
                                mmix_sgemm_builtin(ta, tb, M, N, K, 0.5f, A + b * sa, ta ? M : K, B + b * sb, tb ? K : N,
                                                   !summed || b == 0 ? 0.25f : 1.0f, R + b * sc, N);
                            if (masked) /* only kept entries are promised */
                                for (i = 0; i < nc; i++)
                                    if (!keep[i % (M * N)]) C[i] = R[i];
                            d = rel_diff(C, R, nc);
                            ok = d <= 1e-5;
                            CHECK(ok, "batched gemm %lldx%lldx%lld batch %lld ta %d tb %d %s %s %s: %.3g",
                                  (long long)M, (long long)N, (long long)K, (long long)batch, ta, tb,
                                  summed ? "summed" : "per-batch", tri ? "triangular" : "dense", masked ? "keep" : "all", d);
                            free(A); free(B); free(C); free(R); free(keep);
                        }
}

/* The op's output and its three gradients, by the fast kernels or the reference ones. */
typedef struct mix_run { float *out, *dx, *dW, *db; } mix_run;

static mix_run run_token_mix(int reference, int64_t B, int64_t Lo, int64_t Li, int64_t D, int64_t k, mmix_mask mask,
                             int ref_grads, uint64_t seed) {
    mmix_ctx *ctx;
    mmix_rng rng;
    mix_run r;
    mmix_tensor *x, *W, *bias, *R, *y;
    int64_t i;
    mmix_ctx_create(&ctx, NULL);
    mmix_rng_seed(&rng, seed);
    if (ref_grads) mmix_set_masked_grad_mode(ctx, MMIX_MASKED_GRADS_REFERENCE);
    W = mmix_param(ctx, "W", mmix_shape3(Lo, Li, k));
    bias = mmix_param(ctx, "b", mmix_shape1(Lo));
    x = mmix_param(ctx, "x", mmix_shape3(B, Li, D));
    R = mmix_tensor_new(ctx, MMIX_PERSIST, MMIX_F32, mmix_shape3(B, Lo, D));
    for (i = 0; i < W->n; i++) W->data[i] = mmix_rng_normal(&rng);
    for (i = 0; i < bias->n; i++) bias->data[i] = mmix_rng_normal(&rng);
    for (i = 0; i < x->n; i++) x->data[i] = mmix_rng_normal(&rng);
    for (i = 0; i < R->n; i++) R->data[i] = mmix_rng_normal(&rng);
    mmix__token_mix_reference = reference;
    y = mmix_token_mix(ctx, x, W, bias, mask);
    mmix_backward(ctx, mmix_sum(ctx, mmix_mul(ctx, y, R)));
    mmix__token_mix_reference = 0;
    r.out = (float *)malloc((size_t)y->n * sizeof(float));
    r.dx = (float *)malloc((size_t)x->n * sizeof(float));
    r.dW = (float *)malloc((size_t)W->n * sizeof(float));
    r.db = (float *)malloc((size_t)bias->n * sizeof(float));
    memcpy(r.out, y->data, (size_t)y->n * sizeof(float));
    memcpy(r.dx, x->grad, (size_t)x->n * sizeof(float));
    memcpy(r.dW, W->grad, (size_t)W->n * sizeof(float));
    memcpy(r.db, bias->grad, (size_t)bias->n * sizeof(float));
    CHECK(mmix_last_result(ctx) == MMIX_OK, "token mix run: %s", mmix_last_error(ctx));
    mmix_ctx_destroy(ctx);
    return r;
}

static void test_token_mix_fast(void) {
    static const int64_t shapes[][4] = {{2, 8, 8, 5}, {3, 37, 37, 11}, {4, 128, 128, 40}, {2, 70, 35, 9}, {2, 35, 70, 9}};
    static uint8_t custom[128 * 128];
    int s, kk, mk, rg;
    int64_t i;
    for (i = 0; i < 128 * 128; i++) custom[i] = (uint8_t)((i * 7 + i / 70) % 3 != 0);
    for (s = 0; s < 5; s++)
        for (kk = 1; kk <= 4; kk++)
            for (mk = 0; mk < 4; mk++)
                for (rg = 0; rg < 2; rg++) {
                    int64_t B = shapes[s][0], Lo = shapes[s][1], Li = shapes[s][2], D = shapes[s][3];
                    mmix_mask mask = mmix_mask_causal();
                    mix_run f, r;
                    double d[4];
                    const char *names[] = {"lower", "upper 2", "none", "custom"};
                    if (mk == 1) { mask.kind = MMIX_MASK_UPPER; mask.diagonal = 2; }
                    if (mk == 2) mask.kind = MMIX_MASK_NONE;
                    if (mk == 3) { mask.kind = MMIX_MASK_CUSTOM; mask.keep = custom; }
                    f = run_token_mix(0, B, Lo, Li, D, kk, mask, rg, 100 + (uint64_t)s);
                    r = run_token_mix(1, B, Lo, Li, D, kk, mask, rg, 100 + (uint64_t)s);
                    d[0] = rel_diff(f.out, r.out, B * Lo * D);
                    d[1] = rel_diff(f.dx, r.dx, B * Li * D);
                    d[2] = rel_diff(f.dW, r.dW, Lo * Li * kk);
                    d[3] = rel_diff(f.db, r.db, Lo);
                    CHECK(d[0] <= 1e-5 && d[1] <= 1e-5 && d[2] <= 1e-5 && d[3] <= 1e-5,
                          "token mix fast vs reference B %lld L %lldx%lld D %lld k %d mask %s%s: out %.2g dx %.2g dW %.2g db %.2g",
                          (long long)B, (long long)Lo, (long long)Li, (long long)D, kk, names[mk],
                          rg ? " (reference grads)" : "", d[0], d[1], d[2], d[3]);
                    if (rg && mk == 0 && kk == 1) { /* the phantom gradients: masked entries too */
                        int64_t o, in, phantom = 0;
                        for (o = 0; o < Lo; o++)
                            for (in = o + 1; in < Li; in++) phantom += f.dW[o * Li + in] != 0.0f;
                        CHECK(phantom > 0 || Li == 1, "the reference mode keeps its dense weight gradient (%lld nonzero masked)",
                              (long long)phantom);
                    }
                    free(f.out); free(f.dx); free(f.dW); free(f.db);
                    free(r.out); free(r.dx); free(r.dW); free(r.db);
                }
}

/* Whole models whose token mixing goes through these kernels: loss and every gradient. */
static void test_token_mix_models(void) {
    static const mmix_arch archs[] = {MMIX_ARCH_MIXER, MMIX_ARCH_MIXER_SOFTMAX, MMIX_ARCH_MIXER_HEADS,
                                      MMIX_ARCH_MIXER_EXPANDED, MMIX_ARCH_MIXER_BIDI};
    int a, reference;
    for (a = 0; a < 5; a++) {
        float loss[2] = {0, 0}, *grad[2] = {NULL, NULL};
        int64_t numel = 0;
        for (reference = 0; reference < 2; reference++) {
            mmix_ctx *ctx;
            mmix_model m;
            mmix_rng rng;
            mmix_tensor *ids, *l;
            mmix_model_config c = mmix_model_config_default(archs[a]);
            int64_t i;
            c.vocab = 50; c.dim = 24; c.ffn_dim = 96; c.depth = 2; c.n_ctx = 40; c.kernel = archs[a] == MMIX_ARCH_MIXER ? 3 : 1;
            c.heads = 4; c.expansion = 2;
            mmix_ctx_create(&ctx, NULL);
            mmix_rng_seed(&rng, 9);
            if (mmix_model_create(ctx, &m, c) != MMIX_OK) {
                CHECK(0, "model %d: %s", a, mmix_last_error(ctx));
                mmix_ctx_destroy(ctx);
                break;
            }
            mmix_model_init(&m, &rng);
            ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(3, 40));
            for (i = 0; i < ids->n; i++) ids->ids[i] = (int32_t)mmix_rng_below(&rng, 50);
            mmix__token_mix_reference = reference;
            mmix_zero_grad(ctx, &m.params);
            l = mmix_model_loss(ctx, &m, ids, -1, NULL);
            mmix_backward(ctx, l);
            mmix__token_mix_reference = 0;
            CHECK(mmix_last_result(ctx) == MMIX_OK, "model %d: %s", a, mmix_last_error(ctx));
            loss[reference] = l ? l->data[0] : 0.0f;
            numel = m.params.numel;
            grad[reference] = (float *)malloc((size_t)numel * sizeof(float));
            memcpy(grad[reference], m.params.grad, (size_t)numel * sizeof(float));
            mmix_ctx_destroy(ctx);
        }
        if (grad[0] && grad[1]) {
            double d = rel_diff(grad[0], grad[1], numel);
            CHECK(fabs((double)loss[0] - (double)loss[1]) <= 1e-5 * fabs((double)loss[1]) && d <= 1e-5,
                  "model arch %d: fast and reference token mixing agree (loss %.7g vs %.7g, gradients %.2g)", (int)archs[a],
                  (double)loss[0], (double)loss[1], d);
        }
        free(grad[0]); free(grad[1]);
    }
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
    /* The run-time switch: names, auto, and auto's products against the triple loop. */
    {
        mmix_gemm g = MMIX_GEMM_BUILTIN;
        CHECK(mmix_gemm_parse("auto", &g) && g == MMIX_GEMM_AUTO, "auto parses");
        CHECK(mmix_gemm_parse("blas", &g) && g == MMIX_GEMM_CBLAS, "blas parses");
        CHECK(mmix_gemm_parse("builtin", &g) && g == MMIX_GEMM_BUILTIN, "builtin parses");
        CHECK(!mmix_gemm_parse("fast", &g) && !mmix_gemm_parse(NULL, &g), "anything else is refused");
        CHECK(strcmp(mmix_gemm_name(MMIX_GEMM_AUTO), "auto") == 0 && strcmp(mmix_gemm_name(MMIX_GEMM_CBLAS), "blas") == 0,
              "names as mm --gemm spells them");
        CHECK(mmix_set_gemm(MMIX_GEMM_AUTO) == (mmix_has_cblas() ? MMIX_GEMM_AUTO : MMIX_GEMM_BUILTIN),
              "auto can be chosen in a BLAS build; a plain build keeps the built-in GEMM");
        run_suite("auto", cpu.sgemm);
        CHECK(!mmix_blas_is_generic() || mmix_blas_coretype_hint()[0], "a generic BLAS comes with the setting that fixes it");
        printf("  built-in tile %s, BLAS core '%s', generic %d, OPENBLAS_CORETYPE hint '%s'\n", mmix_gemm_tile(),
               mmix_blas_corename(), mmix_blas_is_generic(), mmix_blas_coretype_hint());
    }
    test_batched_gemm();
    test_token_mix_fast();
    test_token_mix_models();
    return test_summary("test_gemm");
}
