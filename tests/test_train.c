/* tests/test_train.c - a small training loop on the tape (embedding, LayerNorm, a GELU
   feed-forward with a residual, a vocabulary head, cross-entropy; plain SGD), sized so
   that the GEMMs and loops run in parallel. It checks what the library promises (the doc
   block's "Threads and reproducibility"):
   - the same seed, thread count and GEMM give bit-identical losses and weights, run to run,
     with the built-in GEMM and, where the build has one, the BLAS;
   - with the built-in GEMM, 1 and 2 threads give bit-identical results too (our loops never
     split a sum). This runs in every build, also one linked with a BLAS (switched with
     mmix_set_gemm); a BLAS promises nothing about thread counts, so it is not asked to;
   - after the first step, a step allocates nothing from the system;
   - the loss falls. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"

enum { V = 300, D = 64, HIDDEN = 256, B = 4, T = 32, STEPS = 6 };

typedef struct run_result {
    float losses[STEPS];
    double weight_checksum;
    int64_t allocations_after_first_step;
    int ok;
} run_result;

static run_result train(uint64_t seed, int threads, mmix_gemm gemm) {
    run_result res;
    mmix_ctx *ctx;
    mmix_rng rng;
    mmix_tensor *wte, *ln_w, *ln_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b, *head, *ids, *targets;
    int64_t i, p;
    int step;
    memset(&res, 0, sizeof res);
    mmix_set_num_threads(threads);
    mmix_set_gemm(gemm);
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return res;
    mmix_rng_seed(&rng, seed);
    wte = mmix_param(ctx, "wte.weight", mmix_shape2(V, D));
    ln_w = mmix_param(ctx, "ln.weight", mmix_shape1(D));
    ln_b = mmix_param(ctx, "ln.bias", mmix_shape1(D));
    fc1_w = mmix_param(ctx, "ff.0.weight", mmix_shape2(HIDDEN, D));
    fc1_b = mmix_param(ctx, "ff.0.bias", mmix_shape1(HIDDEN));
    fc2_w = mmix_param(ctx, "ff.2.weight", mmix_shape2(D, HIDDEN));
    fc2_b = mmix_param(ctx, "ff.2.bias", mmix_shape1(D));
    head = mmix_param(ctx, "lm_head.weight", mmix_shape2(V, D));
    if (!head) goto done;
    mmix_init_normal(wte, &rng, 0.0f, 1.0f);
    mmix_init_constant(ln_w, 1.0f);
    mmix_init_pytorch_linear(fc1_w, fc1_b, &rng);
    mmix_init_pytorch_linear(fc2_w, fc2_b, &rng);
    mmix_init_pytorch_linear(head, NULL, &rng);
    /* A fixed pseudo-text: next token = (3 * token + 1) mod V, so there is something to learn. */
    for (step = 0; step < STEPS; step++) {
        mmix_tensor *x, *h, *loss;
        ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(B, T));
        targets = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(B, T));
        if (!targets) goto done;
        for (i = 0; i < B * T; i++) {
            ids->ids[i] = (int32_t)((i * 7 + 5) % V);
            targets->ids[i] = (int32_t)((3 * ids->ids[i] + 1) % V);
        }
        x = mmix_embedding(ctx, wte, ids);
        h = mmix_layernorm(ctx, x, ln_w, ln_b, 1e-5f);
        h = mmix_linear(ctx, mmix_gelu(ctx, mmix_linear(ctx, h, fc1_w, fc1_b)), fc2_w, fc2_b);
        loss = mmix_cross_entropy(ctx, mmix_linear(ctx, mmix_add(ctx, x, h), head, NULL), targets, -100);
        mmix_zero_grad(ctx, mmix_ctx_params(ctx));
        if (!loss || mmix_backward(ctx, loss) != MMIX_OK) {
            printf("  train failed: %s\n", mmix_last_error(ctx));
            goto done;
        }
        res.losses[step] = loss->data[0];
        for (p = 0; p < mmix_ctx_params(ctx)->count; p++) {
            mmix_tensor *w = mmix_ctx_params(ctx)->tensors[p];
            for (i = 0; i < w->n; i++) w->data[i] -= 0.5f * w->grad[i];
        }
        mmix_step_reset(ctx);
        if (step == 0) res.allocations_after_first_step = mmix_memory_usage(ctx).system_allocations;
    }
    res.allocations_after_first_step = mmix_memory_usage(ctx).system_allocations - res.allocations_after_first_step;
    for (p = 0; p < mmix_ctx_params(ctx)->count; p++) {
        mmix_tensor *w = mmix_ctx_params(ctx)->tensors[p];
        for (i = 0; i < w->n; i++) res.weight_checksum += (double)w->data[i] * (double)((i % 7) + 1);
    }
    res.ok = 1;
done:
    mmix_ctx_destroy(ctx);
    return res;
}

static int same_bits(const run_result *a, const run_result *b) {
    return memcmp(a->losses, b->losses, sizeof a->losses) == 0 &&
           memcmp(&a->weight_checksum, &b->weight_checksum, sizeof(double)) == 0;
}

int main(void) {
    run_result a = train(11, 2, MMIX_GEMM_BUILTIN), b = train(11, 2, MMIX_GEMM_BUILTIN);
    run_result c = train(11, 1, MMIX_GEMM_BUILTIN), d = train(12, 2, MMIX_GEMM_BUILTIN);
    int threads = mmix_set_num_threads(2);
    CHECK(a.ok && b.ok && c.ok && d.ok, "training ran");
    printf("  losses (seed 11, %d threads, built-in GEMM): %.5f -> %.5f; cblas=%d openmp=%d\n", threads,
           a.losses[0], a.losses[STEPS - 1], mmix_has_cblas(), mmix_has_openmp());
    CHECK(a.losses[STEPS - 1] < a.losses[0] - 0.5f, "the loss falls (%.4f -> %.4f)", a.losses[0],
          a.losses[STEPS - 1]);
    CHECK(same_bits(&a, &b), "built-in GEMM, same seed and thread count: bit-identical losses and weights");
    if (threads >= 2)
        CHECK(same_bits(&a, &c), "built-in GEMM, 1 and 2 threads: bit-identical losses and weights");
    else /* without OpenMP both runs use one thread: the check would compare a run with itself */
        SKIP("built-in GEMM, 1 and 2 threads: this build runs %d thread (openmp=%d)", threads, mmix_has_openmp());
    CHECK(!same_bits(&a, &d), "another seed gives another run");
    CHECK(a.allocations_after_first_step == 0, "steps after the first allocate nothing (%lld allocations)",
          (long long)a.allocations_after_first_step);
    if (mmix_has_cblas()) {
        run_result e = train(11, 2, MMIX_GEMM_CBLAS), f = train(11, 2, MMIX_GEMM_CBLAS);
        CHECK(mmix_get_gemm() == MMIX_GEMM_CBLAS, "the BLAS can be chosen back");
        CHECK(e.ok && f.ok, "training ran with the BLAS");
        CHECK(same_bits(&e, &f), "BLAS GEMM, same seed and thread count: bit-identical losses and weights");
        CHECK(fabsf(e.losses[STEPS - 1] - a.losses[STEPS - 1]) <= 1e-4f * fabsf(a.losses[STEPS - 1]),
              "the BLAS and the built-in GEMM train alike (final loss %.7f vs %.7f)", e.losses[STEPS - 1],
              a.losses[STEPS - 1]);
    }
    return test_summary("test_train");
}
