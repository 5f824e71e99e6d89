/* tests/test_ops2.c - Core engine II: token mixing (every mask form, kernel sizes 1-4, the
   reference masked-gradient mode), RMSNorm, SiLU, RoPE, attention, L2 normalize, cosine
   similarity, logsumexp, L1 distance, the token-axis ops, linear_in_out (HF Conv1D) and
   dropout - each against finite
   differences - plus forward properties (causality, the 'same' padding) and the
   optimizer's schedule and clipping rules. The PyTorch comparisons are in test_fixtures.c. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"
#include "op_cases.h"

/* mmix_infonce_loss (paper Eqs. 7-8) on 2 items of 5 rows, matches at rows 3 and 1.
   tau = 0.5 here: at the paper's 0.02 the softmax saturates, the true gradient is ~1e-4 and
   float rounding of outputs near 1/tau = 50 would dominate the finite differences. */
static mmix_tensor *fn_infonce(mmix_ctx *c, mmix_tensor *const *in, void *u) {
    static const int32_t match[2] = {3, 1};
    mmix_tensor *m = mmix_tensor_new(c, MMIX_STEP, MMIX_I32, mmix_shape1(2));
    (void)u;
    if (!m || mmix_tensor_upload(c, m, 0, match, 2) != MMIX_OK) return NULL;
    return mmix_reshape(c, mmix_infonce_loss(c, in[0], m, 0.5f), mmix_shape1(1));
}

static void test_token_mix_gradients(void) {
    mmix_tensor *in[3];
    mmix_mask causal = mmix_mask_causal(), none, upper2, custom;
    static const uint8_t keep[4 * 5] = {1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1};
    int64_t k;
    char what[64];
    none.kind = MMIX_MASK_NONE; none.diagonal = 0; none.keep = NULL;
    upper2.kind = MMIX_MASK_UPPER; upper2.diagonal = 2; upper2.keep = NULL;
    custom.kind = MMIX_MASK_CUSTOM; custom.diagonal = 0; custom.keep = keep;
    for (k = 1; k <= 4; k++) {
        in[0] = input(mmix_shape3(2, 5, 7), 1);
        in[1] = input(mmix_shape3(5, 5, k), 1);
        in[2] = input(mmix_shape1(5), 1);
        snprintf(what, sizeof what, "token_mix causal k=%lld", (long long)k);
        gradcheck(what, fn_token_mix, &causal, in, 3);
    }
    in[0] = input(mmix_shape3(2, 4, 6), 1); /* expanded mixer conv.0: [eL, L] = [6... as 6x4] */
    in[1] = input(mmix_shape3(6, 4, 1), 1);
    in[2] = input(mmix_shape1(6), 1);
    gradcheck("token_mix rectangular lower (6 x 4)", fn_token_mix, &causal, in, 3);
    in[0] = input(mmix_shape3(1, 6, 3), 1);
    in[1] = input(mmix_shape3(6, 6, 1), 1);
    in[2] = NULL;
    gradcheck("token_mix upper diagonal 2, no bias", fn_token_mix, &upper2, in, 2);
    in[0] = input(mmix_shape3(2, 5, 3), 1);
    in[1] = input(mmix_shape3(4, 5, 2), 1);
    in[2] = input(mmix_shape1(4), 1);
    gradcheck("token_mix custom mask k=2", fn_token_mix, &custom, in, 3);
    in[0] = input(mmix_shape4(2, 2, 3, 4), 1); /* two leading dims */
    in[1] = input(mmix_shape3(3, 3, 1), 1);
    in[2] = input(mmix_shape1(3), 1);
    gradcheck("token_mix unmasked, 4-D x", fn_token_mix, &none, in, 3);
}

static void test_token_mix_forward(void) {
    mmix_tensor *x = input(mmix_shape3(2, 4, 6), 0), *W = input(mmix_shape3(4, 4, 4), 0);
    mmix_tensor *bias = input(mmix_shape1(4), 0), *y, *x2, *y2;
    double max_err = 0.0;
    int64_t b, o, i, j, m, same = 1;
    y = mmix_token_mix(ctx, x, W, bias, mmix_mask_causal());
    /* direct formula (paper Fig. S5; reference-notes Sec. 2), padding 'same' for k = 4: left 1, right 2 */
    for (b = 0; y && b < 2; b++)
        for (o = 0; o < 4; o++)
            for (j = 0; j < 6; j++) {
                double ref = bias->data[o];
                for (i = 0; i <= o; i++)
                    for (m = 0; m < 4; m++) {
                        int64_t col = j + m - 1;
                        if (col >= 0 && col < 6) ref += (double)W->data[(o * 4 + i) * 4 + m] * x->data[(b * 4 + i) * 6 + col];
                    }
                if (fabs(ref - y->data[(b * 4 + o) * 6 + j]) > max_err) max_err = fabs(ref - y->data[(b * 4 + o) * 6 + j]);
            }
    CHECK(y && max_err < 1e-5, "token_mix k=4 matches the direct formula (max err %.3g)", max_err);
    /* causality: changing token 2 leaves outputs 0 and 1 bit-identical */
    x2 = input(mmix_shape3(2, 4, 6), 0);
    memcpy(x2->data, x->data, sizeof(float) * 48);
    for (j = 0; j < 6; j++) x2->data[2 * 6 + j] += 1.0f;
    y2 = mmix_token_mix(ctx, x2, W, bias, mmix_mask_causal());
    for (i = 0; y && y2 && i < 2 * 6; i++) same &= memcmp(&y->data[i], &y2->data[i], sizeof(float)) == 0;
    CHECK(y2 && same && memcmp(&y->data[2 * 6], &y2->data[2 * 6], sizeof(float)) != 0,
          "token_mix is causal: earlier positions bit-identical, the changed one differs");
    CHECK(mmix_token_mix(ctx, x, input(mmix_shape3(4, 5, 1), 0), NULL, mmix_mask_causal()) == NULL &&
          mmix_last_result(ctx) == MMIX_ERR_SHAPE, "token_mix: L_in must match x's token dim");
    mmix_clear_error(ctx);
    mmix_step_reset(ctx);
}

/* Default mode: masked entries get exactly zero gradient. Reference mode: the forward zeroes
   them in place and they get the gradient of the unmasked op (reference-notes Sec. 1). */
static void test_masked_grad_modes(void) {
    mmix_tensor *W = mmix_param(ctx, "mix.conv.weight", mmix_shape3(5, 5, 1));
    /* x must outlive the step resets below, so it lives in the persistent arena */
    mmix_tensor *x = mmix_tensor_new(ctx, MMIX_PERSIST, MMIX_F32, mmix_shape3(2, 5, 3)), *loss;
    mmix_mask none;
    float ref_grad[25], upper_zero = 1, masked_grad_zero = 1, any_phantom = 0;
    int o, i, equal = 1;
    none.kind = MMIX_MASK_NONE; none.diagonal = 0; none.keep = NULL;
    mmix_init_normal(W, &rng, 0.0f, 1.0f);
    mmix_init_normal(x, &rng, 0.0f, 1.0f);
    mmix_zero_grad(ctx, mmix_ctx_params(ctx));
    loss = mmix_sum(ctx, mmix_gelu(ctx, mmix_token_mix(ctx, x, W, NULL, mmix_mask_causal())));
    CHECK_OK(ctx, mmix_backward(ctx, loss));
    for (o = 0; o < 5; o++)
        for (i = o + 1; i < 5; i++) masked_grad_zero = masked_grad_zero && W->grad[o * 5 + i] == 0.0f;
    CHECK(masked_grad_zero && W->data[1] != 0.0f, "default mode: masked entries get zero gradient, W untouched");
    mmix_step_reset(ctx);

    mmix_set_masked_grad_mode(ctx, MMIX_MASKED_GRADS_REFERENCE);
    CHECK(mmix_get_masked_grad_mode(ctx) == MMIX_MASKED_GRADS_REFERENCE, "mode set");
    mmix_zero_grad(ctx, mmix_ctx_params(ctx));
    loss = mmix_sum(ctx, mmix_gelu(ctx, mmix_token_mix(ctx, x, W, NULL, mmix_mask_causal())));
    CHECK_OK(ctx, mmix_backward(ctx, loss));
    memcpy(ref_grad, W->grad, sizeof ref_grad);
    for (o = 0; o < 5; o++)
        for (i = o + 1; i < 5; i++) {
            upper_zero = upper_zero && W->data[o * 5 + i] == 0.0f;
            any_phantom = any_phantom || ref_grad[o * 5 + i] != 0.0f;
        }
    CHECK(upper_zero, "reference mode zeroes the masked weights in place");
    CHECK(any_phantom, "reference mode gives masked entries their (phantom) gradient");
    mmix_step_reset(ctx);
    /* the phantom gradient is the unmasked op's gradient at the masked weights */
    mmix_set_masked_grad_mode(ctx, MMIX_MASKED_GRADS_ZERO);
    mmix_zero_grad(ctx, mmix_ctx_params(ctx));
    loss = mmix_sum(ctx, mmix_gelu(ctx, mmix_token_mix(ctx, x, W, NULL, none)));
    CHECK_OK(ctx, mmix_backward(ctx, loss));
    for (i = 0; i < 25; i++) equal &= memcmp(&ref_grad[i], &W->grad[i], sizeof(float)) == 0;
    CHECK(equal, "reference-mode gradient == unmasked gradient, bit for bit");
    mmix_step_reset(ctx);
}

/* Masked entries that start at zero stay exactly zero through AdamW with weight decay:
   zero gradient, zero moments, zero update, and decay of zero is zero. */
static void test_masked_entries_stay_zero(void) {
    mmix_ctx *c;
    mmix_adamw opt;
    mmix_adamw_config cfg = mmix_adamw_config_default();
    mmix_tensor *W, *x, *loss;
    int step, o, i, zero = 1, moved = 1;
    float before[25];
    if (mmix_ctx_create(&c, NULL) != MMIX_OK) return;
    W = mmix_param(c, "conv.weight", mmix_shape3(5, 5, 1));
    mmix_init_normal(W, &rng, 0.0f, 1.0f);
    for (o = 0; o < 5; o++)
        for (i = o + 1; i < 5; i++) W->data[o * 5 + i] = 0.0f;
    memcpy(before, W->data, sizeof before);
    cfg.lr = 0.05f;
    cfg.weight_decay = 0.1f;
    mmix_adamw_init(c, &opt, mmix_ctx_params(c), cfg);
    for (step = 0; step < 5; step++) {
        x = mmix_tensor_new(c, MMIX_STEP, MMIX_F32, mmix_shape3(2, 5, 4));
        if (x) mmix_init_normal(x, &rng, 0.0f, 1.0f);
        mmix_zero_grad(c, mmix_ctx_params(c));
        loss = mmix_sum(c, mmix_gelu(c, mmix_token_mix(c, x, W, NULL, mmix_mask_causal())));
        if (!loss || mmix_backward(c, loss) != MMIX_OK || mmix_clip_grad_norm(c, mmix_ctx_params(c), 1.0f, NULL) != MMIX_OK ||
            mmix_adamw_step(c, &opt, 0.05f) != MMIX_OK)
            break;
        mmix_step_reset(c);
    }
    for (o = 0; o < 5; o++)
        for (i = 0; i < 5; i++) {
            if (i > o) zero &= W->data[o * 5 + i] == 0.0f;
            else moved &= W->data[o * 5 + i] != before[o * 5 + i];
        }
    CHECK(step == 5 && zero && moved, "after 5 AdamW steps (weight decay 0.1) masked entries are exactly 0 and "
          "the kept ones moved");
    mmix_ctx_destroy(c);
}

static void test_other_gradients(void) {
    mmix_tensor *in[3];
    int64_t pos0 = 0, pos3 = 3;
    int causal = 1, full = 0;
    in[0] = input(mmix_shape3(2, 3, 8), 1);
    in[1] = input(mmix_shape1(8), 1);
    gradcheck("rmsnorm", fn_rmsnorm, NULL, in, 2);
    in[0] = input(mmix_shape2(4, 9), 1);
    mmix_init_uniform(in[0], &rng, -5.0f, 5.0f);
    gradcheck("silu", fn_silu, NULL, in, 1);
    in[0] = input(mmix_shape3(2, 5, 16), 1);
    gradcheck("rope pos0=0", fn_rope, &pos0, in, 1);
    in[0] = input(mmix_shape3(1, 4, 16), 1);
    gradcheck("rope pos0=3", fn_rope, &pos3, in, 1);
    in[0] = input(mmix_shape3(2, 5, 8), 1);
    in[1] = input(mmix_shape3(2, 5, 8), 1);
    in[2] = input(mmix_shape3(2, 5, 8), 1);
    gradcheck("attention causal", fn_attention, &causal, in, 3);
    in[0] = input(mmix_shape3(2, 4, 8), 1);
    in[1] = input(mmix_shape3(2, 4, 8), 1);
    in[2] = input(mmix_shape3(2, 4, 8), 1);
    gradcheck("attention non-causal", fn_attention, &full, in, 3);
    in[0] = input(mmix_shape3(1, 2, 8), 1); /* 2 new queries after 3 cached keys */
    in[1] = input(mmix_shape3(1, 5, 8), 1);
    in[2] = input(mmix_shape3(1, 5, 8), 1);
    gradcheck("attention causal, Lq=2 < Lk=5", fn_attention, &causal, in, 3);
    in[0] = input(mmix_shape2(3, 6), 1);
    gradcheck("l2_normalize", fn_l2, NULL, in, 1);
    in[0] = input(mmix_shape2(3, 6), 1);
    in[1] = input(mmix_shape2(3, 6), 1);
    gradcheck("cosine_similarity", fn_cosine, NULL, in, 2);
    in[0] = input(mmix_shape3(2, 3, 5), 1);
    gradcheck("logsumexp", fn_logsumexp, NULL, in, 1);
    in[0] = input(mmix_shape2(3, 4), 1);
    in[1] = input(mmix_shape2(3, 4), 1);
    {   /* keep a and b apart so the finite differences never straddle the kink of |a - b| */
        int64_t i;
        for (i = 0; i < 12; i++) in[1]->data[i] = in[0]->data[i] + (i % 2 ? 0.5f : -0.5f) + 0.3f * in[1]->data[i] * 0.1f;
    }
    gradcheck("l1_distance", fn_l1, NULL, in, 2);
    in[0] = input(mmix_shape3(2, 5, 3), 1);
    gradcheck("tokens_slice (-3, 2)", fn_slice, NULL, in, 1);
    in[0] = input(mmix_shape3(2, 5, 3), 1);
    gradcheck("tokens_select (-2)", fn_select, NULL, in, 1);
    in[0] = input(mmix_shape3(2, 2, 3), 1);
    in[1] = input(mmix_shape3(2, 3, 3), 1);
    gradcheck("tokens_concat", fn_concat, NULL, in, 2);
    in[0] = input(mmix_shape2(2, 3), 1);
    gradcheck("tokens_repeat (4)", fn_repeat, NULL, in, 1);
    in[0] = input(mmix_shape3(2, 5, 3), 1);
    gradcheck("tokens_flip", fn_flip, NULL, in, 1);
    in[0] = input(mmix_shape3(2, 5, 3), 1);
    gradcheck("tokens_zero [2, 4)", fn_zero, NULL, in, 1);
    in[0] = input(mmix_shape3(2, 5, 6), 1);
    gradcheck("infonce_loss", fn_infonce, NULL, in, 1);
    in[0] = input(mmix_shape3(2, 3, 5), 1);
    in[1] = input(mmix_shape2(5, 7), 1);
    in[2] = input(mmix_shape1(7), 1);
    gradcheck("linear_in_out (Conv1D)", fn_linear_in_out, NULL, in, 3);
    in[0] = input(mmix_shape2(6, 9), 1);
    gradcheck("dropout p=0.3", fn_dropout, NULL, in, 1);
    in[0] = input(mmix_shape3(2, 5, 8), 1);
    in[1] = input(mmix_shape3(2, 5, 8), 1);
    in[2] = input(mmix_shape3(2, 5, 8), 1);
    gradcheck("attention causal, dropout p=0.3", fn_attention_dropout, NULL, in, 3);
}

/* Dropout draws x's mask (of n elements, p = 0.1 at key 5) into out[]: its rate and
   scaling against the binomial, the same for 1 and 2 threads and for the same key and
   step, another for another step or key, the identity in eval mode. */
static mmix_tensor *dropout_of(mmix_tensor *x, uint64_t step, uint64_t key) {
    mmix_set_dropout_step(ctx, 11, step);
    return mmix_dropout(ctx, x, 0.1f, key);
}

static int64_t differing(const mmix_tensor *a, const mmix_tensor *b) {
    int64_t i, n = 0;
    for (i = 0; i < a->n; i++) n += (a->data[i] == 0.0f) != (b->data[i] == 0.0f);
    return n;
}

static void test_dropout(void) {
    const int64_t n = 200000;
    const float p = 0.1f, scale = 1.0f / (1.0f - p);
    mmix_tensor *x = input(mmix_shape2(n / 100, 100), 0), *y, *again, *other_step, *other_key, *one, *two;
    int64_t i, dropped = 0, wrong = 0;
    double rate, bound = 5.0 * sqrt((double)p * (1.0 - p) / (double)n);
    int threads = mmix_get_num_threads();
    mmix_init_uniform(x, &rng, 0.5f, 1.5f); /* no zeros of its own */
    y = dropout_of(x, 3, 5);
    for (i = 0; y && i < n; i++) {
        if (y->data[i] == 0.0f) dropped++;
        else wrong += y->data[i] != x->data[i] * scale || fabs(y->data[i] - x->data[i] / (1.0 - p)) > 1e-6 * x->data[i];
    }
    rate = (double)dropped / (double)n;
    CHECK(y && fabs(rate - p) <= bound, "dropout drops %.4f of %lld elements, p = %.2f within 5 sigma (%.4f)", rate,
          (long long)n, (double)p, bound);
    CHECK(y && wrong == 0, "dropout keeps the rest as x / (1 - p) (%lld wrong)", (long long)wrong);
    mmix_set_num_threads(1);
    one = dropout_of(x, 3, 5);
    mmix_set_num_threads(2);
    two = dropout_of(x, 3, 5);
    mmix_set_num_threads(threads);
    CHECK(one && two && memcmp(one->data, two->data, (size_t)n * sizeof(float)) == 0 &&
          memcmp(one->data, y->data, (size_t)n * sizeof(float)) == 0, "dropout's mask is the same for 1 and 2 threads");
    again = dropout_of(x, 3, 5);
    other_step = dropout_of(x, 4, 5);
    other_key = dropout_of(x, 3, 6);
    CHECK(again && memcmp(again->data, y->data, (size_t)n * sizeof(float)) == 0, "the same seed, step and key: the same mask");
    CHECK(other_step && differing(y, other_step) > n / 10, "another step draws another mask (%lld of %lld differ)",
          (long long)(other_step ? differing(y, other_step) : 0), (long long)n);
    CHECK(other_key && differing(y, other_key) > n / 10, "another key draws another mask (%lld of %lld differ)",
          (long long)(other_key ? differing(y, other_key) : 0), (long long)n);
    mmix_set_training(ctx, 0);
    CHECK(dropout_of(x, 3, 5) == x, "in eval mode dropout is the identity (x itself)");
    mmix_set_training(ctx, 1);
    CHECK(mmix_dropout(ctx, x, 0.0f, 5) == x, "p = 0 is the identity");
    CHECK(mmix_dropout(ctx, x, 1.0f, 5) == NULL && mmix_last_result(ctx) == MMIX_ERR_INVALID_ARGUMENT &&
          strstr(mmix_last_error(ctx), "[0, 1)"), "p = 1 is refused: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    mmix_set_dropout_step(ctx, 0, 0);
    mmix_step_reset(ctx);
}

/* Attention dropout with v the identity (one head, hd = Lk), so the output is the dropped
   probabilities themselves: each is 0 or P / (1 - p) of the undropped P, about p of the
   visible ones are 0, the masked ones stay 0, and eval mode is mmix_attention bit for bit. */
static void test_attention_dropout(void) {
    const int64_t L = 64;
    const float p = 0.25f, scale = 1.0f / (1.0f - p);
    mmix_tensor *q = input(mmix_shape3(1, L, L), 0), *k = input(mmix_shape3(1, L, L), 0);
    mmix_tensor *v = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape3(1, L, L)), *P, *D, *E;
    int64_t i, j, visible = 0, dropped = 0, wrong = 0;
    double rate, bound;
    for (i = 0; v && i < L; i++) v->data[i * L + i] = 1.0f;
    P = mmix_attention(ctx, q, k, v, 1, 1);
    mmix_set_dropout_step(ctx, 5, 2);
    D = mmix_attention_dropout(ctx, q, k, v, 1, 1, p, 3);
    for (i = 0; P && D && i < L; i++)
        for (j = 0; j < L; j++) {
            float pij = P->data[i * L + j], dij = D->data[i * L + j];
            if (j > i) { wrong += dij != 0.0f; continue; }
            visible++;
            if (dij == 0.0f) dropped++;
            else wrong += dij != pij * scale;
        }
    rate = visible ? (double)dropped / (double)visible : 0.0;
    bound = 5.0 * sqrt((double)p * (1.0 - p) / (double)(visible ? visible : 1));
    CHECK(P && D && wrong == 0, "attention dropout: each probability is 0 or P / (1 - p), masked ones 0 (%lld wrong)",
          (long long)wrong);
    CHECK(fabs(rate - p) <= bound, "attention dropout drops %.3f of %lld visible probabilities (p %.2f, 5 sigma %.3f)",
          rate, (long long)visible, (double)p, bound);
    mmix_set_training(ctx, 0);
    E = mmix_attention_dropout(ctx, q, k, v, 1, 1, p, 3);
    mmix_set_training(ctx, 1);
    CHECK(P && E && memcmp(P->data, E->data, (size_t)P->n * sizeof(float)) == 0,
          "attention dropout in eval mode is mmix_attention, bit for bit");
    mmix_set_dropout_step(ctx, 0, 0);
    mmix_step_reset(ctx);
}

static void test_shapes_and_errors(void) {
    mmix_tensor *x = input(mmix_shape3(2, 5, 3), 0), *y;
    y = mmix_tokens_select(ctx, x, -2);
    CHECK(y && y->shape.ndim == 2 && y->shape.d[1] == 3 && memcmp(y->data, x->data + 3 * 3, 3 * sizeof(float)) == 0,
          "tokens_select(-2) picks position L-2");
    y = mmix_tokens_flip(ctx, x);
    CHECK(y && memcmp(y->data, x->data + 4 * 3, 3 * sizeof(float)) == 0, "tokens_flip reverses");
    y = mmix_tokens_zero(ctx, x, 3, 5);
    CHECK(y && y->data[3 * 3] == 0.0f && y->data[14] == 0.0f && y->data[8] == x->data[8], "tokens_zero range");
    CHECK(mmix_tokens_slice(ctx, x, 4, 2) == NULL && mmix_last_result(ctx) == MMIX_ERR_RANGE, "slice past the end");
    mmix_clear_error(ctx);
    CHECK(mmix_tokens_select(ctx, x, 5) == NULL && mmix_last_result(ctx) == MMIX_ERR_RANGE, "select out of range");
    mmix_clear_error(ctx);
    CHECK(mmix_tokens_concat(ctx, x, input(mmix_shape3(2, 5, 4), 0)) == NULL && mmix_last_result(ctx) == MMIX_ERR_SHAPE,
          "concat feature mismatch");
    mmix_clear_error(ctx);
    CHECK(mmix_rope(ctx, input(mmix_shape3(1, 2, 6), 0), 2, 10000.0f, 0) == NULL && mmix_last_result(ctx) == MMIX_ERR_SHAPE,
          "rope needs an even head dim");
    mmix_clear_error(ctx);
    CHECK(mmix_attention(ctx, input(mmix_shape3(1, 4, 8), 0), input(mmix_shape3(1, 3, 8), 0), input(mmix_shape3(1, 3, 8), 0), 2, 1) == NULL &&
          mmix_last_result(ctx) == MMIX_ERR_SHAPE, "attention needs Lk >= Lq");
    mmix_clear_error(ctx);
    {   /* RoPE at position 0 is the identity; attention rows sum to one over visible keys */
        mmix_tensor *q = input(mmix_shape3(1, 1, 8), 0), *r = mmix_rope(ctx, q, 2, 10000.0f, 0);
        CHECK(r && memcmp(r->data, q->data, 8 * sizeof(float)) == 0, "rope at position 0 is the identity");
    }
    mmix_step_reset(ctx);
}

static void test_schedule_and_clip(void) {
    mmix_tensor *a = mmix_param(ctx, "clip.a", mmix_shape1(3)), *b = mmix_param(ctx, "clip.b", mmix_shape2(2, 2));
    double norm;
    int64_t i, p;
    /* HF linear schedule, T = 10, W = 4, lr 1: 0, .25, .5, .75, then (10 - s) / 6 */
    CHECK(mmix_schedule_lr(MMIX_SCHEDULE_LINEAR, 1.0f, 0, 4, 10) == 0.0f &&
          mmix_schedule_lr(MMIX_SCHEDULE_LINEAR, 1.0f, 1, 4, 10) == 0.25f &&
          mmix_schedule_lr(MMIX_SCHEDULE_LINEAR, 1.0f, 4, 4, 10) == 1.0f &&
          fabsf(mmix_schedule_lr(MMIX_SCHEDULE_LINEAR, 1.0f, 7, 4, 10) - 0.5f) < 1e-7f &&
          mmix_schedule_lr(MMIX_SCHEDULE_LINEAR, 1.0f, 10, 4, 10) == 0.0f &&
          mmix_schedule_lr(MMIX_SCHEDULE_LINEAR, 1.0f, 12, 4, 10) == 0.0f, "linear warmup and decay");
    CHECK(mmix_schedule_lr(MMIX_SCHEDULE_CONSTANT, 2.0f, 2, 4, 10) == 1.0f &&
          mmix_schedule_lr(MMIX_SCHEDULE_CONSTANT, 2.0f, 9, 4, 10) == 2.0f &&
          mmix_schedule_lr(MMIX_SCHEDULE_LINEAR, 2.0f, 0, 0, 10) == 2.0f, "constant schedule; no warmup");
    /* clipping: gradients (3, 4, 0) and (0, 0, 0, 12): norm 13 */
    mmix_zero_grad(ctx, mmix_ctx_params(ctx));
    for (p = 0; p < mmix_ctx_params(ctx)->count; p++) mmix_init_constant(mmix_ctx_params(ctx)->tensors[p], 0.0f);
    a->grad[0] = 3.0f; a->grad[1] = 4.0f; b->grad[3] = 12.0f;
    for (p = 0; p < mmix_ctx_params(ctx)->count; p++)
        if (mmix_ctx_params(ctx)->tensors[p] != a && mmix_ctx_params(ctx)->tensors[p] != b) mmix_init_constant(mmix_ctx_params(ctx)->tensors[p], 0.0f);
    CHECK_OK(ctx, mmix_clip_grad_norm(ctx, mmix_ctx_params(ctx), 0.0f, &norm));
    CHECK(fabs(norm - 13.0) < 1e-9 && a->grad[0] == 3.0f, "max_norm 0 measures but does not clip");
    CHECK_OK(ctx, mmix_clip_grad_norm(ctx, mmix_ctx_params(ctx), 100.0f, &norm));
    CHECK(a->grad[1] == 4.0f, "a norm under max_norm is left alone");
    CHECK_OK(ctx, mmix_clip_grad_norm(ctx, mmix_ctx_params(ctx), 1.0f, &norm));
    CHECK(fabs(a->grad[0] - 3.0 / (13.0 + 1e-6)) < 1e-7 && fabs(b->grad[3] - 12.0 / (13.0 + 1e-6)) < 1e-6,
          "clipped by max_norm / (norm + 1e-6)");
    b->grad[0] = (float)NAN;
    CHECK(mmix_clip_grad_norm(ctx, mmix_ctx_params(ctx), 1.0f, &norm) == MMIX_ERR_NUMERIC, "a NaN gradient norm is an error");
    mmix_clear_error(ctx);
    for (i = 0; i < 4; i++) b->grad[i] = 0.0f;
}

int main(void) {
    CHECK(mmix_ctx_create(&ctx, NULL) == MMIX_OK, "context");
    if (!ctx) return test_summary("test_ops2");
    mmix_rng_seed(&rng, 99);
    test_token_mix_gradients();
    test_token_mix_forward();
    test_masked_grad_modes();
    test_masked_entries_stay_zero();
    test_other_gradients();
    test_dropout();
    test_attention_dropout();
    test_shapes_and_errors();
    test_schedule_and_clip();
    mmix_ctx_destroy(ctx);
    return test_summary("test_ops2");
}
