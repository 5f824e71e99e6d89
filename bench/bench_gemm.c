/* bench/bench_gemm.c - GEMM throughput of the built-in kernel and of cblas_sgemm (when
   built with it) on shapes the models use, as GFLOP/s and as a fraction of this machine's
   BLAS peak (the best cblas figure over the shapes below). Run with `make bench`. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include <stdio.h>
#include <stdlib.h>

typedef void (*gemm_fn)(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t,
                        const float *, int64_t, float, float *, int64_t);

typedef struct shape { const char *what; int ta, tb; int64_t M, N, K; } shape;

/* GFLOP/s of C = op(A) op(B), repeated for at least 0.3 s after one warm-up call. */
static double measure(gemm_fn gemm, const shape *s, float *A, float *B, float *C) {
    int64_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    double start, elapsed, flops = 2.0 * (double)s->M * (double)s->N * (double)s->K;
    int reps = 0;
    gemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
    start = mmix_time_seconds();
    do {
        gemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
        reps++;
        elapsed = mmix_time_seconds() - start;
    } while (elapsed < 0.3);
    return flops * reps / elapsed / 1e9;
}

int main(void) {
    /* rows = batch x tokens; D = model width; V = vocabulary; L = context length */
    static const shape shapes[] = {
        {"square 512", 0, 0, 512, 512, 512},
        {"square 1024", 0, 0, 1024, 1024, 1024},
        {"FF up   x W^T  (1024 rows, D 256 -> 1024)", 0, 1, 1024, 1024, 256},
        {"FF down x W^T  (1024 rows, 1024 -> D 256)", 0, 1, 1024, 256, 1024},
        {"FF dW = dY^T X (1024x256 over 1024 rows)", 1, 0, 1024, 256, 1024},
        {"lm_head x W^T  (1024 rows, D 256 -> V 4096)", 0, 1, 1024, 4096, 256},
        {"token mix W X  (L 128 x L 128 x D 256)", 0, 0, 128, 256, 128},
        {"paper FF up    (4096 rows, D 1024 -> 4096)", 0, 1, 4096, 4096, 1024},
    };
    const int n = (int)(sizeof shapes / sizeof shapes[0]);
    double builtin[16], blas[16], peak = 0.0;
    size_t max_elems = (size_t)4096 * 4096;
    float *A = (float *)malloc(max_elems * sizeof(float));
    float *B = (float *)malloc(max_elems * sizeof(float));
    float *C = (float *)malloc(max_elems * sizeof(float));
    mmix_rng rng;
    mmix_backend cpu;
    size_t i;
    int k;
    if (!A || !B || !C) return 1;
    mmix_rng_seed(&rng, 1);
    for (i = 0; i < max_elems; i++) {
        A[i] = mmix_rng_uniform(&rng) - 0.5f;
        B[i] = mmix_rng_uniform(&rng) - 0.5f;
    }
    mmix_cpu_backend_fill(&cpu);
    printf("maskedmixer GEMM bench: %d thread(s), OpenMP %s, cblas %s\n", mmix_get_num_threads(),
           mmix_has_openmp() ? "on" : "off", mmix_has_cblas() ? "on" : "off");
    for (k = 0; k < n; k++) {
        builtin[k] = measure(mmix_sgemm_builtin, &shapes[k], A, B, C);
        blas[k] = mmix_has_cblas() ? measure(cpu.sgemm, &shapes[k], A, B, C) : 0.0;
        if (blas[k] > peak) peak = blas[k];
    }
    printf("%-46s %10s %10s %9s\n", "shape (M x N x K)", "built-in", "cblas", "built/bl");
    for (k = 0; k < n; k++) {
        printf("%-46s %7.1f GF %7.1f GF %8.0f%%\n", shapes[k].what, builtin[k], blas[k],
               blas[k] > 0 ? 100.0 * builtin[k] / blas[k] : 0.0);
    }
    if (peak > 0) {
        printf("BLAS peak on this machine: %.1f GFLOP/s; per shape, as a share of it:\n", peak);
        for (k = 0; k < n; k++)
            printf("  %-44s built-in %3.0f%%  cblas %3.0f%%\n", shapes[k].what, 100.0 * builtin[k] / peak,
                   100.0 * blas[k] / peak);
    }
    free(A); free(B); free(C);
    return 0;
}
