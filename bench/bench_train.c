/* bench/bench_train.c - training-step speed of the masked mixer and the Llama-style
   transformer at the two shapes of issue 16, as tokens/s, achieved model GFLOP/s against
   this machine's measured GEMM ceiling, and peak resident memory against the analytic
   minimum. Run with `make bench-train` (QUICK=1: the small shape only, fewer steps);
   `make bench-peer` runs PyTorch on the same configurations (bench/torch_peer.py).

   Usage: bench_train                 every configuration, one child process each (so that
                                      each peak RSS is its own), then the table
          bench_train --one NAME      one configuration (mixer-256, llama-256, mixer-512,
                                      llama-512), KEY=value lines only
          bench_train --ceiling       the best sgemm GFLOP/s of this process's GEMMs
   Environment: QUICK=1 (1 warm-up + 3 timed steps, small shape only; otherwise 2 + 5),
   STEPS=n timed steps, OMP_NUM_THREADS, MMIX_GEMM (builtin|blas|auto).

   Step: fresh random token rows [B, L] (V 4096), mmix_model_loss (next-token cross-entropy),
   backward, AdamW (torch.optim.AdamW's defaults: lr 1e-3, betas 0.9/0.999, eps 1e-8,
   weight decay 0.01), mmix_step_reset. The step time is the median over the timed steps.

   Model FLOPs per token (forward; training counts 3x: the backward is two GEMMs per forward
   GEMM), counting multiply-adds as 2 and only the matrix products (norms, activations,
   softmax and the optimizer are left out, under 1% here):
     mixer:  depth * (2 * 2 * D * F            the feed-forward, D -> F -> D
                      + D * (L + 1))           causal token mixing: output t sums t + 1
                                               rows of D, on average (L + 1) / 2
             + 2 * D * V                       the language-model head
     llama:  depth * (4 * 2 * D * D            q, k, v, o projections
                      + 3 * 2 * D * F          gate, up, down
                      + 2 * D * (L + 1))       causal scores and values, (L + 1) / 2 each
             + 2 * D * V
   Only the causal half of the token mixing and of attention is counted: it is the work the
   model needs, whatever a dense implementation spends.

   Analytic minimum memory (bytes) = 4 * (4 P + A): P parameters, each with its gradient and
   the two AdamW moments; A saved activations in floats, what backward must read:
     mixer block: 12 B L D  (block input, its LayerNorm output, the residual sum, the second
                             LayerNorm's output, the F = 4D hidden before and after GELU)
     llama block: 26 B L D + B H L^2  (input, norm output, q k v, attention output, residual,
                             second norm output, gate, up, silu(gate), their product; the
                             attention probabilities)
     and 2 B L V for the logits and their softmax / gradient, B L D for the embedding rows.
   The program's own code and the BLAS's buffers are in the measured RSS too. */
#if !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct config {
    const char *name;
    mmix_arch arch;
    int64_t D, L, B;
} config;

static const config configs[] = {
    {"mixer-256", MMIX_ARCH_MIXER, 256, 128, 16},
    {"llama-256", MMIX_ARCH_LLAMA, 256, 128, 16},
    {"mixer-512", MMIX_ARCH_MIXER, 512, 512, 8},
    {"llama-512", MMIX_ARCH_LLAMA, 512, 512, 8},
};
#define N_CONFIGS ((int)(sizeof configs / sizeof configs[0]))
#define VOCAB 4096
#define DEPTH 8
#define HEADS 4

static int quick(void) {
    const char *q = getenv("QUICK");
    return q && q[0] && strcmp(q, "0") != 0;
}

static double flops_per_token(const config *c) {
    double D = (double)c->D, L = (double)c->L, F = 4.0 * D, V = VOCAB, fwd;
    if (c->arch == MMIX_ARCH_MIXER) fwd = DEPTH * (2.0 * 2.0 * D * F + D * (L + 1.0)) + 2.0 * D * V;
    else fwd = DEPTH * (4.0 * 2.0 * D * D + 3.0 * 2.0 * D * F + 2.0 * D * (L + 1.0)) + 2.0 * D * V;
    return 3.0 * fwd;
}

static double min_bytes(const config *c, double params) {
    double B = (double)c->B, L = (double)c->L, D = (double)c->D, V = VOCAB, act;
    if (c->arch == MMIX_ARCH_MIXER) act = DEPTH * 12.0 * B * L * D;
    else act = DEPTH * (26.0 * B * L * D + B * HEADS * L * L);
    act += 2.0 * B * L * V + B * L * D;
    return 4.0 * (4.0 * params + act);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The best GFLOP/s of square sgemms (512, 1024, 2048) through f, each repeated >= 0.3 s. */
typedef void (*gemm_fn)(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t,
                        const float *, int64_t, float, float *, int64_t);
static double best_square(gemm_fn f) {
    static const int64_t sizes[] = {512, 1024, 2048};
    double best = 0.0;
    int s;
    for (s = 0; s < 3; s++) {
        int64_t n = sizes[s], i;
        float *A = (float *)malloc((size_t)(n * n) * sizeof(float));
        float *Bm = (float *)malloc((size_t)(n * n) * sizeof(float));
        float *C = (float *)malloc((size_t)(n * n) * sizeof(float));
        double t0, el, g;
        int reps = 0;
        if (!A || !Bm || !C) exit(1);
        for (i = 0; i < n * n; i++) { A[i] = (float)(i % 7) - 3.0f; Bm[i] = (float)(i % 5) - 2.0f; }
        f(0, 0, n, n, n, 1.0f, A, n, Bm, n, 0.0f, C, n);
        t0 = mmix_time_seconds();
        do {
            f(0, 0, n, n, n, 1.0f, A, n, Bm, n, 0.0f, C, n);
            reps++;
            el = mmix_time_seconds() - t0;
        } while (el < 0.3);
        g = 2.0 * (double)n * (double)n * (double)n * reps / el / 1e9;
        if (g > best) best = g;
        free(A); free(Bm); free(C);
    }
    return best;
}

static int ceiling(void) {
    mmix_backend cpu;
    mmix_cpu_backend_fill(&cpu);
    printf("CEIL_BUILTIN=%.1f\n", best_square(mmix_sgemm_builtin));
    if (mmix_has_cblas()) {
        mmix_set_gemm(MMIX_GEMM_CBLAS);
        printf("CEIL_BLAS=%.1f\nBLAS_CORE=%s\n", best_square(cpu.sgemm), mmix_blas_corename());
    }
    return 0;
}

static int one(const config *c) {
    int warm = quick() ? 1 : 2, timed = quick() ? 3 : 5, s, total;
    const char *steps_env = getenv("STEPS");
    mmix_model_config mc = mmix_model_config_default(c->arch);
    mmix_ctx *ctx;
    mmix_model m;
    mmix_adamw opt;
    mmix_rng rng;
    double *times, median, tok_s, params;
    int64_t allocs_warm = 0, allocs_end;
    struct rusage ru;
    if (steps_env && atoi(steps_env) > 0) timed = atoi(steps_env);
    total = warm + timed;
    mc.vocab = VOCAB; mc.dim = c->D; mc.depth = DEPTH; mc.n_ctx = c->L; mc.ffn_dim = 4 * c->D;
    mc.heads = HEADS; mc.kernel = 1;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK || mmix_model_create(ctx, &m, mc) != MMIX_OK ||
        mmix_adamw_init(ctx, &opt, &m.params, mmix_adamw_config_default()) != MMIX_OK) {
        fprintf(stderr, "bench_train: %s: cannot create the model: %s\n", c->name, ctx ? mmix_last_error(ctx) : "");
        return 1;
    }
    mmix_rng_seed(&rng, 1);
    mmix_model_init(&m, &rng);
    times = (double *)malloc((size_t)total * sizeof(double));
    if (!times) return 1;
    for (s = 0; s < total; s++) {
        mmix_tensor *ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(c->B, c->L));
        double t0 = mmix_time_seconds();
        int64_t i;
        if (s == warm) allocs_warm = mmix_memory_usage(ctx).system_allocations;
        if (!ids) break;
        for (i = 0; i < ids->n; i++) ids->ids[i] = (int32_t)mmix_rng_below(&rng, VOCAB);
        t0 = mmix_time_seconds();
        mmix_zero_grad(ctx, &m.params);
        mmix_backward(ctx, mmix_model_loss(ctx, &m, ids, -1, NULL));
        mmix_adamw_step(ctx, &opt, 1e-3f);
        times[s] = mmix_time_seconds() - t0;
        mmix_step_reset(ctx);
        if (mmix_last_result(ctx) != MMIX_OK) break;
    }
    if (mmix_last_result(ctx) != MMIX_OK) {
        fprintf(stderr, "bench_train: %s: %s\n", c->name, mmix_last_error(ctx));
        return 1;
    }
    allocs_end = mmix_memory_usage(ctx).system_allocations;
    qsort(times + warm, (size_t)timed, sizeof(double), cmp_double);
    median = timed % 2 ? times[warm + timed / 2] : 0.5 * (times[warm + timed / 2 - 1] + times[warm + timed / 2]);
    tok_s = (double)(c->B * c->L) / median;
    params = (double)mmix_model_param_count(&m);
    getrusage(RUSAGE_SELF, &ru);
    printf("CONFIG=%s\nARCH=%s\nD=%lld\nN_CTX=%lld\nBATCH=%lld\nDEPTH=%d\nVOCAB=%d\nPARAMS=%.0f\n", c->name,
           c->arch == MMIX_ARCH_MIXER ? "mixer" : "llama", (long long)c->D, (long long)c->L, (long long)c->B,
           DEPTH, VOCAB, params);
    printf("WARMUP_STEPS=%d\nTIMED_STEPS=%d\nSTEP_MEDIAN_S=%.4f\nSTEP_MIN_S=%.4f\nTOKENS_PER_S=%.1f\n", warm, timed,
           median, times[warm], tok_s);
    printf("FLOPS_PER_TOKEN=%.0f\nGFLOPS=%.2f\n", flops_per_token(c), flops_per_token(c) * tok_s / 1e9);
    printf("PEAK_RSS_MB=%.1f\nMIN_MB=%.1f\nSTEADY_ALLOCS_PER_STEP=%.2f\n", (double)ru.ru_maxrss / 1024.0,
           min_bytes(c, params) / (1024.0 * 1024.0), (double)(allocs_end - allocs_warm) / timed);
    free(times);
    mmix_ctx_destroy(ctx);
    return 0;
}

/* Runs this program again with `args` (and `env` before it), and reads the value of KEY=
   from its output; -1 when absent. */
static int run_child(const char *self, const char *env, const char *args, char *out, size_t size) {
    char cmd[1024];
    FILE *p;
    size_t n = 0;
    snprintf(cmd, sizeof cmd, "%s '%s' %s", env, self, args);
    p = popen(cmd, "r");
    if (!p) return -1;
    while (n + 1 < size && fgets(out + n, (int)(size - n), p)) n += strlen(out + n);
    out[n] = '\0';
    return pclose(p);
}

static double value_of(const char *text, const char *key) {
    char pat[64];
    const char *at;
    snprintf(pat, sizeof pat, "%s=", key);
    for (at = text; (at = strstr(at, pat)) != NULL; at++)
        if (at == text || at[-1] == '\n') return atof(at + strlen(pat));
    return -1.0;
}

static void string_of(const char *text, const char *key, char *buf, size_t size) {
    char pat[64];
    const char *at;
    size_t n = 0;
    snprintf(pat, sizeof pat, "\n%s=", key);
    buf[0] = '\0';
    at = strstr(text, pat);
    if (!at) return;
    at += strlen(pat);
    while (at[n] && at[n] != '\n' && n + 1 < size) { buf[n] = at[n]; n++; }
    buf[n] = '\0';
}

static void cpu_model(char *buf, size_t size) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(buf, size, "unknown");
    if (!f) return;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            if (v) {
                v += 2;
                v[strcspn(v, "\n")] = '\0';
                snprintf(buf, size, "%s", v);
            }
            break;
        }
    fclose(f);
}

static void load(char *buf, size_t size) {
    FILE *f = fopen("/proc/loadavg", "r");
    snprintf(buf, size, "?");
    if (f) {
        if (fgets(buf, (int)size, f)) buf[strcspn(buf, " ")] = '\0';
        fclose(f);
    }
}

int main(int argc, char **argv) {
    static char out[8192], core_out[1024];
    char cpu[256], core[64], tuned_core[64], env[128], ld[32];
    double ceil_builtin, ceil_blas, ceil_tuned = -1.0, ceil;
    int c, n_run;
    if (argc == 2 && strcmp(argv[1], "--ceiling") == 0) return ceiling();
    if (argc == 3 && strcmp(argv[1], "--one") == 0) {
        for (c = 0; c < N_CONFIGS; c++)
            if (strcmp(argv[2], configs[c].name) == 0) return one(&configs[c]);
        fprintf(stderr, "bench_train: no configuration %s (mixer-256, llama-256, mixer-512, llama-512)\n", argv[2]);
        return 2;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: bench_train [--one NAME | --ceiling]\n");
        return 2;
    }
    cpu_model(cpu, sizeof cpu);
    if (run_child(argv[0], "", "--ceiling", out, sizeof out) != 0) return 1;
    ceil_builtin = value_of(out, "CEIL_BUILTIN");
    ceil_blas = value_of(out, "CEIL_BLAS");
    string_of(out, "BLAS_CORE", core, sizeof core);
    snprintf(tuned_core, sizeof tuned_core, "%s", mmix_blas_coretype_hint());
    if (mmix_has_cblas() && tuned_core[0]) {
        snprintf(env, sizeof env, "OPENBLAS_CORETYPE=%s", tuned_core);
        if (run_child(argv[0], env, "--ceiling", core_out, sizeof core_out) == 0)
            ceil_tuned = value_of(core_out, "CEIL_BLAS");
    }
    ceil = ceil_builtin;
    if (ceil_blas > ceil) ceil = ceil_blas;
    if (ceil_tuned > ceil) ceil = ceil_tuned;
    printf("CPU=%s\nTHREADS=%d\nGEMM=%s\nBLAS_CORE=%s\nBLAS_CORE_HINT=%s\n", cpu, mmix_get_num_threads(),
           mmix_gemm_name(mmix_get_gemm()), core[0] ? core : "none", tuned_core[0] ? tuned_core : "none");
    printf("CEIL_BUILTIN_GFLOPS=%.1f\nCEIL_BLAS_GFLOPS=%.1f\nCEIL_BLAS_TUNED_GFLOPS=%.1f\nCEIL_GFLOPS=%.1f\n",
           ceil_builtin, ceil_blas, ceil_tuned, ceil);
    printf("%-10s %9s %10s %10s %8s %6s %9s %8s %6s %6s %5s\n", "config", "step s", "tokens/s", "MFLOP/tok",
           "GFLOP/s", "ceil%", "RSS MB", "min MB", "RSS/min", "alloc", "load");
    fflush(stdout);
    n_run = quick() ? 2 : N_CONFIGS;
    for (c = 0; c < n_run; c++) {
        char args[64], name[64];
        double tok, gf, rss, mn;
        snprintf(args, sizeof args, "--one %s", configs[c].name);
        load(ld, sizeof ld);
        if (run_child(argv[0], "", args, out, sizeof out) != 0) {
            printf("%-10s failed\n", configs[c].name);
            continue;
        }
        snprintf(name, sizeof name, "%s", configs[c].name);
        tok = value_of(out, "TOKENS_PER_S");
        gf = value_of(out, "GFLOPS");
        rss = value_of(out, "PEAK_RSS_MB");
        mn = value_of(out, "MIN_MB");
        printf("%-10s %9.3f %10.1f %10.2f %8.1f %5.0f%% %9.1f %8.1f %6.2f %6.1f %5s\n", name,
               value_of(out, "STEP_MEDIAN_S"), tok, value_of(out, "FLOPS_PER_TOKEN") / 1e6, gf, 100.0 * gf / ceil,
               rss, mn, rss / mn, value_of(out, "STEADY_ALLOCS_PER_STEP"), ld);
        printf("%s.TOKENS_PER_S=%.1f\n%s.STEP_MEDIAN_S=%.4f\n%s.GFLOPS=%.2f\n%s.CEIL_SHARE=%.3f\n%s.PEAK_RSS_MB=%.1f\n"
               "%s.MIN_MB=%.1f\n%s.RSS_OVER_MIN=%.2f\n%s.STEADY_ALLOCS_PER_STEP=%.2f\n%s.LOAD=%s\n",
               name, tok, name, value_of(out, "STEP_MEDIAN_S"), name, gf, name, gf / ceil, name, rss, name, mn, name,
               rss / mn, name, value_of(out, "STEADY_ALLOCS_PER_STEP"), name, ld);
        fflush(stdout);
    }
    return 0;
}
