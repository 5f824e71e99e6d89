/* bench/bench_generate.c - generation speed (paper Sec. 4.2) at n_ctx = 512: the mixer's cached
   rows against index-walking (a whole-window forward per token, paper Sec. 4.2), and the
   transformer's KV cache against recomputing the tokens so far. Random-init models (the
   speed does not depend on the weights), greedy decoding, one sequence.
   Usage: bench_generate [steps]   steps timed at the end of the window (default 16)
   Prints one line per measurement: tokens per second over the timed steps (a step picks a
   token and feeds it; the prompt before them is fed untimed). */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"

#include <stdio.h>
#include <stdlib.h>

/* Feeds `prompt` tokens untimed, then times `steps` greedy steps. Tokens per second. */
static double rate(mmix_ctx *ctx, const mmix_model *m, mmix_generate_method method, int64_t prompt, int64_t steps) {
    mmix_generator *g;
    int32_t *ids = (int32_t *)malloc((size_t)prompt * sizeof(int32_t)), tok;
    mmix_rng rng;
    double t0, t;
    int64_t i;
    if (!ids || mmix_generator_create(ctx, m, method, &g) != MMIX_OK) {
        free(ids);
        return -1.0;
    }
    mmix_rng_seed(&rng, 1);
    for (i = 0; i < prompt; i++) ids[i] = (int32_t)mmix_rng_below(&rng, (uint32_t)m->config.vocab);
    mmix_generator_feed(g, ids, prompt);
    t0 = mmix_time_seconds();
    for (i = 0; i < steps && mmix_last_result(ctx) == MMIX_OK; i++) {
        mmix_generator_sample(g, NULL, NULL, &tok);
        mmix_generator_feed(g, &tok, 1);
    }
    t = mmix_time_seconds() - t0;
    mmix_generator_destroy(g);
    free(ids);
    if (mmix_last_result(ctx) != MMIX_OK) {
        fprintf(stderr, "bench_generate: %s\n", mmix_last_error(ctx));
        exit(1);
    }
    return (double)steps / t;
}

static void bench(mmix_arch arch, int64_t steps) {
    mmix_model_config c = mmix_model_config_default(arch);
    mmix_ctx *ctx;
    mmix_model m;
    mmix_rng rng;
    int64_t L;
    const char *full = arch == MMIX_ARCH_MIXER ? "index-walking" : "recompute    ";
    c.vocab = 4096;
    c.dim = 256;
    c.depth = 8;
    c.n_ctx = 512;
    c.ffn_dim = 4 * c.dim;
    c.heads = 4;
    c.kernel = 1;
    L = c.n_ctx;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK || mmix_model_create(ctx, &m, c) != MMIX_OK) {
        fprintf(stderr, "bench_generate: cannot create the model\n");
        exit(1);
    }
    mmix_rng_seed(&rng, 1);
    mmix_model_init(&m, &rng);
    printf("%s: V %lld, D %lld, depth %lld, ffn %lld, n_ctx %lld, %s %lld; %.2f M parameters\n",
           arch == MMIX_ARCH_MIXER ? "masked mixer" : "transformer", (long long)c.vocab, (long long)c.dim,
           (long long)c.depth, (long long)c.ffn_dim, (long long)L, arch == MMIX_ARCH_MIXER ? "kernel" : "heads",
           (long long)(arch == MMIX_ARCH_MIXER ? c.kernel : c.heads), (double)mmix_model_param_count(&m) / 1e6);
    printf("  %s  positions %4lld..%4lld (the whole window) %9.1f tokens/s\n",
           arch == MMIX_ARCH_MIXER ? "cached       " : "KV cache     ", 1LL, (long long)(L - 1),
           rate(ctx, &m, MMIX_GENERATE_CACHED, 1, L - 1));
    printf("  %s  positions %4lld..%4lld (window end)   %9.1f tokens/s\n",
           arch == MMIX_ARCH_MIXER ? "cached       " : "KV cache     ", (long long)(L - steps), (long long)(L - 1),
           rate(ctx, &m, MMIX_GENERATE_CACHED, L - steps, steps));
    printf("  %s  positions %4lld..%4lld (window end)   %9.1f tokens/s\n", full, (long long)(L - steps),
           (long long)(L - 1), rate(ctx, &m, MMIX_GENERATE_INDEX_WALKING, L - steps, steps));
    if (arch == MMIX_ARCH_LLAMA)
        printf("  %s  positions %4lld..%4lld (window start) %9.1f tokens/s\n", full, 1LL, (long long)steps,
               rate(ctx, &m, MMIX_GENERATE_INDEX_WALKING, 1, steps));
    fflush(stdout);
    mmix_ctx_destroy(ctx);
}

int main(int argc, char **argv) {
    int64_t steps = argc > 1 ? atoll(argv[1]) : 16;
    if (steps < 1 || steps > 511) {
        fprintf(stderr, "usage: bench_generate [steps, 1..511]\n");
        return 2;
    }
    printf("generation, greedy, one sequence; GEMM %s, %d thread(s)\n", mmix_has_cblas() ? "cblas" : "built-in",
           mmix_get_num_threads());
    bench(MMIX_ARCH_MIXER, steps);
    bench(MMIX_ARCH_LLAMA, steps);
    return 0;
}
