/* tests/test_core.c - arenas, step marks, parameters, the RNG against the PCG32 reference
   outputs, the PyTorch-default initializers, atomic file writes. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"
#include <sys/stat.h>

static void test_rng(void) {
    /* pcg32_srandom_r(42, 54) in O'Neill's reference pcg32-demo prints these first outputs. */
    static const uint32_t expected[6] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                                         0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
    mmix_rng a, b;
    double sum = 0, sum2 = 0, usum = 0, umin = 1, umax = 0;
    int i, match = 1, n = 200000, below_ok = 1;
    mmix_rng_seed(&a, 42);
    for (i = 0; i < 6; i++) match &= mmix_rng_u32(&a) == expected[i];
    CHECK(match, "PCG32 matches the reference sequence for seed 42, stream 54");
    mmix_rng_seed(&a, 7);
    mmix_rng_seed(&b, 7);
    match = 1;
    for (i = 0; i < 1000; i++) match &= mmix_rng_u32(&a) == mmix_rng_u32(&b);
    CHECK(match, "same seed, same sequence");
    mmix_rng_seed(&b, 8);
    CHECK(mmix_rng_u32(&a) != mmix_rng_u32(&b), "different seeds differ");
    for (i = 0; i < n; i++) {
        double z = mmix_rng_normal(&a), u = mmix_rng_uniform(&a);
        sum += z;
        sum2 += z * z;
        usum += u;
        if (u < umin) umin = u;
        if (u > umax) umax = u;
        below_ok &= mmix_rng_below(&a, 10) < 10;
    }
    /* 5 standard errors: a broken generator fails, a good one essentially never does */
    CHECK(fabs(sum / n) < 5.0 / sqrt(n), "normal mean %.4f", sum / n);
    CHECK(fabs(sum2 / n - 1.0) < 5.0 * sqrt(2.0 / n), "normal variance %.4f", sum2 / n);
    CHECK(fabs(usum / n - 0.5) < 5.0 * sqrt(1.0 / 12.0 / n) && umin >= 0.0 && umax < 1.0,
          "uniform in [0,1) with mean %.4f", usum / n);
    CHECK(below_ok, "rng_below stays below its bound");
}

static void test_init(mmix_ctx *ctx) {
    mmix_rng rng;
    mmix_tensor *W = mmix_param(ctx, "lin.weight", mmix_shape2(64, 100));
    mmix_tensor *b = mmix_param(ctx, "lin.bias", mmix_shape1(64));
    mmix_tensor *conv = mmix_param(ctx, "conv.weight", mmix_shape3(16, 16, 4));
    mmix_tensor *emb = mmix_param(ctx, "emb.weight", mmix_shape2(200, 50));
    double bound = 0.1, lo = 1, hi = -1, m = 0, v = 0;
    int64_t i;
    int in_bounds = 1;
    mmix_rng_seed(&rng, 1);
    mmix_init_pytorch_linear(W, b, &rng);
    for (i = 0; i < W->n; i++) {
        in_bounds &= fabs(W->data[i]) <= bound;
        if (W->data[i] < lo) lo = W->data[i];
        if (W->data[i] > hi) hi = W->data[i];
    }
    for (i = 0; i < b->n; i++) in_bounds &= fabs(b->data[i]) <= bound;
    CHECK(in_bounds && lo < -0.09 && hi > 0.09, "Linear init is U(+-1/sqrt(fan_in)), fan_in = 100");
    /* Conv1d [Cout, Cin, k]: fan_in = Cin * k = 64, bound 1/8 */
    mmix_init_pytorch_linear(conv, NULL, &rng);
    lo = 1; hi = -1;
    for (i = 0; i < conv->n; i++) {
        if (conv->data[i] < lo) lo = conv->data[i];
        if (conv->data[i] > hi) hi = conv->data[i];
    }
    CHECK(lo >= -0.125 && hi <= 0.125 && lo < -0.12 && hi > 0.12, "Conv1d init bound 1/sqrt(Cin*k)");
    mmix_init_normal(emb, &rng, 0.0f, 0.02f);
    for (i = 0; i < emb->n; i++) m += emb->data[i];
    m /= (double)emb->n;
    for (i = 0; i < emb->n; i++) v += (emb->data[i] - m) * (emb->data[i] - m);
    v = sqrt(v / (double)emb->n);
    CHECK(fabs(m) < 0.002 && fabs(v - 0.02) < 0.001, "N(0, 0.02) init: mean %.5f std %.5f", m, v);
    mmix_init_constant(b, 1.0f);
    CHECK(b->data[0] == 1.0f && b->data[63] == 1.0f, "constant init");
}

static void test_params(mmix_ctx *ctx) {
    const mmix_tensor *first = mmix_ctx_params(ctx)->tensors[0], *last = mmix_ctx_params(ctx)->tensors[3];
    CHECK(mmix_ctx_params(ctx)->count == 4, "four parameters registered");
    CHECK(first && last && strcmp(first->name, "lin.weight") == 0 && strcmp(last->name, "emb.weight") == 0,
          "parameters keep creation order");
    CHECK(mmix_params_find(mmix_ctx_params(ctx), "conv.weight") == mmix_ctx_params(ctx)->tensors[2], "find by name");
    CHECK(mmix_params_find(mmix_ctx_params(ctx), "nope") == NULL, "missing parameter");
    CHECK(first && first->grad && first->requires_grad && first->lifetime == MMIX_PERSIST,
          "parameters have persistent gradients");
}

static void test_arena(void) {
    mmix_ctx_config cfg = mmix_ctx_config_default();
    mmix_ctx *ctx;
    mmix_tensor *t = NULL;
    mmix_memory_stats s0, s1;
    mmix_step_mark mark;
    int i, aligned = 1;
    char buf[64];
    cfg.step_bytes = 4096;
    CHECK(mmix_ctx_create(&ctx, &cfg) == MMIX_OK, "context with a 4 KiB step arena");
    if (!ctx) return;
    for (i = 0; i < 40; i++) { /* 40 x 16 KiB: the arena must chain blocks */
        t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape2(64, 64));
        aligned &= t && ((uintptr_t)t->data % 64) == 0;
    }
    CHECK(aligned, "step tensors are 64-byte aligned and allocation grows past the first block");
    s0 = mmix_memory_usage(ctx);
    CHECK(s0.step_capacity >= s0.step_used && s0.step_used >= 40 * 64 * 64 * 4, "usage counts the chain");
    mmix_step_reset(ctx);
    s1 = mmix_memory_usage(ctx);
    CHECK(s1.step_used == 0 && s1.step_capacity == s0.step_capacity, "reset keeps the capacity");
    for (i = 0; i < 40; i++) t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape2(64, 64));
    CHECK(mmix_memory_usage(ctx).system_allocations == s1.system_allocations,
          "the same step after a reset allocates nothing from the system");
    mmix_step_reset(ctx);

    mark = mmix_step_mark_get(ctx);
    t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape1(1000000)); /* beyond the block */
    CHECK(t != NULL, "big tensor");
    mmix_step_rewind(ctx, mark);
    CHECK(mmix_memory_usage(ctx).step_used == 0, "rewind to a mark drops what came after it");
    t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape1(10));
    CHECK(t && t->data[0] == 0.0f && t->data[9] == 0.0f, "new tensors are zeroed after a rewind");

    mmix_step_reset(ctx);
    CHECK_OK(ctx, mmix_ctx_reserve_step(ctx, (size_t)64 << 20));
    CHECK(mmix_memory_usage(ctx).step_capacity >= ((size_t)64 << 20), "reserve grows the step arena");
    s0 = mmix_memory_usage(ctx);
    t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape1(4 << 20));
    CHECK(t && mmix_memory_usage(ctx).system_allocations == s0.system_allocations,
          "a reserved arena serves a 16 MiB tensor without asking the system");
    CHECK(strcmp(mmix_shape_str(mmix_shape3(2, 3, 4), buf, sizeof buf), "[2, 3, 4]") == 0 &&
          strcmp(mmix_shape_str(mmix_shape0(), buf, sizeof buf), "[]") == 0, "shape strings");
    test_init(ctx);
    test_params(ctx);
    mmix_ctx_destroy(ctx);
}

static void test_files(void) {
    mmix_ctx *ctx;
    const char *path = "build/test_core_atomic.bin";
    char back[32];
    FILE *f;
    struct stat st;
    size_t got;
    CHECK(mmix_ctx_create(&ctx, NULL) == MMIX_OK, "context");
    if (!ctx) return;
    CHECK_OK(ctx, mmix_write_file_atomic(ctx, path, "first version", 13));
    CHECK_OK(ctx, mmix_write_file_atomic(ctx, path, "second", 6));
    f = fopen(path, "rb");
    got = f ? fread(back, 1, sizeof back, f) : 0;
    if (f) fclose(f);
    CHECK(got == 6 && memcmp(back, "second", 6) == 0, "the file holds the last version, whole");
    CHECK(stat("build/test_core_atomic.bin.tmp", &st) != 0, "no temporary file is left behind");
    CHECK(mmix_write_file_atomic(ctx, "build/no_such_dir/x.bin", "x", 1) == MMIX_ERR_IO &&
          strstr(mmix_last_error(ctx), "no_such_dir"), "an unwritable path is MMIX_ERR_IO with its name");
    mmix_clear_error(ctx);
    /* the rename fails when the target is a directory: the directory stays, no temp remains */
    CHECK(mmix_write_file_atomic(ctx, "build", "x", 1) == MMIX_ERR_IO && stat("build.tmp", &st) != 0 &&
          stat("build", &st) == 0 && S_ISDIR(st.st_mode), "a failed replace leaves the target and no temp");
    mmix_clear_error(ctx);
    remove(path);
    CHECK(mmix_time_seconds() > 0.0, "monotonic clock");
    mmix_ctx_destroy(ctx);
}

int main(void) {
    test_rng();
    test_arena();
    test_files();
    return test_summary("test_core");
}
