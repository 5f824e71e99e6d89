/* tests/test_threads.c - no hidden global state: two models trained at the same time in two
   threads of one process, each on its own context, give the same bits (losses and every
   weight) as the same two runs one after the other. What the header promises in section 5,
   "Threads and reproducibility": contexts share nothing mutable; the process-wide settings
   (mmix_set_num_threads, mmix_set_gemm) are set before the threads start. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"
#ifndef _WIN32
#include <pthread.h>
#endif

enum { STEPS = 4, B = 3, L = 16 };

/* One run: a new model of `arch`, seeded, trained STEPS AdamW steps on seeded token rows. */
typedef struct run {
    mmix_arch arch;
    uint64_t seed;
    float losses[STEPS];
    float *weights;             /* every parameter value, in order (malloc'd) */
    int64_t n;
    char error[600];
} run;

static void *train(void *user) {
    run *r = (run *)user;
    mmix_ctx *ctx = NULL;
    mmix_model m;
    mmix_adamw opt;
    mmix_adamw_config acfg = mmix_adamw_config_default();
    mmix_model_config c = mmix_model_config_default(r->arch);
    mmix_rng rng;
    int step;
    int64_t i;
    r->error[0] = 0;
    c.vocab = 64, c.dim = 32, c.ffn_dim = 128, c.depth = 2, c.n_ctx = L, c.heads = 4;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK || mmix_model_create(ctx, &m, c) != MMIX_OK) goto failed;
    mmix_rng_seed(&rng, r->seed);
    mmix_model_init(&m, &rng);
    acfg.lr = 3e-3f;
    if (mmix_adamw_init(ctx, &opt, &m.params, acfg) != MMIX_OK) goto failed;
    for (step = 0; step < STEPS; step++) {
        mmix_tensor *ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(B, L)), *loss;
        double norm;
        if (!ids) goto failed;
        for (i = 0; i < B * L; i++) ids->ids[i] = (int32_t)mmix_rng_below(&rng, (uint32_t)c.vocab);
        mmix_zero_grad(ctx, &m.params);
        loss = mmix_model_loss(ctx, &m, ids, -1, NULL);
        if (!loss || mmix_backward(ctx, loss) != MMIX_OK || mmix_clip_grad_norm(ctx, &m.params, 1.0f, &norm) != MMIX_OK ||
            mmix_adamw_step(ctx, &opt, acfg.lr) != MMIX_OK)
            goto failed;
        r->losses[step] = mmix_tensor_item(loss, 0);
        mmix_step_reset(ctx);
    }
    r->n = m.params.numel;
    r->weights = (float *)malloc((size_t)r->n * sizeof(float));
    if (r->weights) memcpy(r->weights, m.params.data, (size_t)r->n * sizeof(float));
    mmix_ctx_destroy(ctx);
    return NULL;
failed:
    snprintf(r->error, sizeof r->error, "%s", ctx ? mmix_last_error(ctx) : "no context");
    mmix_ctx_destroy(ctx);
    return NULL;
}

static int same_bits(const run *a, const run *b) {
    return a->weights && b->weights && a->n == b->n && memcmp(a->losses, b->losses, sizeof a->losses) == 0 &&
           memcmp(a->weights, b->weights, (size_t)a->n * sizeof(float)) == 0;
}

static void reset(run *r, mmix_arch arch, uint64_t seed) {
    memset(r, 0, sizeof *r);
    r->arch = arch;
    r->seed = seed;
}

int main(void) {
#ifdef _WIN32
    SKIP("no pthreads in this build");
#else
    static const mmix_arch archs[2][2] = {{MMIX_ARCH_MIXER, MMIX_ARCH_LLAMA}, {MMIX_ARCH_MIXER, MMIX_ARCH_MIXER}};
    static const mmix_gemm gemms[2] = {MMIX_GEMM_BUILTIN, MMIX_GEMM_CBLAS};
    int g, pair, k, rep;
    mmix_set_num_threads(1);   /* process-wide: set before any thread starts */
    for (g = 0; g < 2; g++) {
        if (mmix_set_gemm(gemms[g]) != gemms[g]) {
            SKIP("this build has no BLAS: two threads with the BLAS not checked");
            continue;
        }
        for (pair = 0; pair < 2; pair++) {
            run seq[2], par[2];
            pthread_t th[2];
            for (k = 0; k < 2; k++) {   /* one after the other */
                reset(&seq[k], archs[pair][k], 11 + (uint64_t)k);
                train(&seq[k]);
                CHECK(seq[k].weights != NULL, "sequential run %d failed: %s", k, seq[k].error);
            }
            CHECK(pair == 0 || !same_bits(&seq[0], &seq[1]), "two seeds gave the same weights: the check could not fail");
            for (rep = 0; rep < 3; rep++) {   /* at the same time, a few times over */
                int started[2];
                for (k = 0; k < 2; k++) {
                    reset(&par[k], archs[pair][k], 11 + (uint64_t)k);
                    started[k] = pthread_create(&th[k], NULL, train, &par[k]) == 0;
                    CHECK(started[k], "pthread_create failed");
                }
                for (k = 0; k < 2; k++) {
                    if (started[k]) pthread_join(th[k], NULL);
                    CHECK(same_bits(&seq[k], &par[k]),
                          "gemm %s, %s beside %s, repetition %d: run %d in a thread differs from it run alone (%s)",
                          g ? "blas" : "builtin", pair ? "a mixer" : "a llama", "a mixer", rep, k, par[k].error);
                    free(par[k].weights);
                }
            }
            for (k = 0; k < 2; k++) free(seq[k].weights);
        }
    }
#endif
    return test_summary("threads");
}
