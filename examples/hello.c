/* examples/hello.c - the smallest complete program: build a tiny masked mixer, train it for
   a few steps on one string, and generate from it. Tokens are the string's bytes (ids 0..255),
   so no tokenizer is needed; mm train/generate show the BPE path.
   Build: cc -std=c99 -O2 examples/hello.c -lm -o hello   (add -fopenmp and OpenBLAS at will) */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"

#include <stdio.h>
#include <string.h>

static int check(mmix_ctx *ctx, mmix_result r) {
    if (r != MMIX_OK) fprintf(stderr, "hello: %s\n", mmix_last_error(ctx));
    return r == MMIX_OK;
}

int main(void) {
    static const char *const sentences[4] = {"the cat sat on the mat.", "the dog sat on the log.",
                                             "a bird sang in the tree.", "a fish swam in the sea."};
    static const char *const prompts[2] = {"the d", "a b"};
    enum { n_ctx = 32 };   /* the window: every row and every generation fits in 32 tokens */
    const int64_t batch = 4, steps = 200;
    mmix_ctx *ctx;
    mmix_model model;
    mmix_model_config config = mmix_model_config_default(MMIX_ARCH_MIXER);
    mmix_adamw_config adamw = mmix_adamw_config_default();
    mmix_adamw opt;
    mmix_rng rng;
    int32_t prompt[n_ctx], out[n_ctx];
    int64_t step, b, t, n_out = 0;
    float first_loss = 0.0f, loss_value = 0.0f;

    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return 1;
    /* A flat masked mixer (paper Sec. 3.2): bytes in, 32 dimensions, 2 blocks, a 32-token window. */
    config.vocab = 256;
    config.dim = 32;
    config.ffn_dim = 4 * config.dim;
    config.depth = 2;
    config.n_ctx = n_ctx;
    mmix_rng_seed(&rng, 1);
    if (!check(ctx, mmix_model_create(ctx, &model, config))) return 1;
    mmix_model_init(&model, &rng);
    adamw.lr = 3e-3f;
    if (!check(ctx, mmix_adamw_init(ctx, &opt, &model.params, adamw))) return 1;

    /* Training: one row per sentence, its bytes then zeros; byte 0 is the pad, which the
       next-token cross-entropy (paper Sec. 3.2) skips as a target. */
    for (step = 0; step < steps; step++) {
        mmix_tensor *ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(batch, n_ctx)), *loss;
        for (b = 0; ids && b < batch; b++)
            for (t = 0; t < n_ctx; t++)
                ids->ids[b * n_ctx + t] = t < (int64_t)strlen(sentences[b]) ? (unsigned char)sentences[b][t] : 0;
        mmix_zero_grad(ctx, &model.params);
        loss = mmix_model_loss(ctx, &model, ids, 0, NULL);
        if (!loss || !check(ctx, mmix_backward(ctx, loss)) ||
            !check(ctx, mmix_adamw_step(ctx, &opt, mmix_schedule_lr(MMIX_SCHEDULE_LINEAR, adamw.lr, step, 20, steps))))
            return 1;
        loss_value = loss->data[0];
        if (step == 0) first_loss = loss_value;
        mmix_step_reset(ctx);   /* frees this step's activations */
    }
    printf("loss %.3f -> %.3f after %lld steps\n", first_loss, loss_value, (long long)steps);

    /* Generation (paper Sec. 4.2): greedy continuations of two prompts, stopping at '.'. */
    for (b = 0; b < 2; b++) {
        int64_t n_prompt = (int64_t)strlen(prompts[b]);
        for (t = 0; t < n_prompt; t++) prompt[t] = (unsigned char)prompts[b][t];
        if (!check(ctx, mmix_generate(ctx, &model, prompt, n_prompt, n_ctx - 1 - n_prompt, '.', NULL,
                                      MMIX_GENERATE_CACHED, out, &n_out)))
            return 1;
        printf("%s", prompts[b]);
        for (t = 0; t < n_out; t++) putchar(out[t]);
        printf(".\n");
    }
    mmix_ctx_destroy(ctx);
    return 0;
}
