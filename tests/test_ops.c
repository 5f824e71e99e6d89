/* tests/test_ops.c - every op of the tape: forward against a naive double-precision
   reference, backward against central finite differences (mmix_gradcheck), the gradient
   checker itself (it must catch wrong gradients), and the error paths. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"
#include "op_cases.h"

/* ---- forward functions for the gradient checks ---- */
static mmix_tensor *fn_linear_nobias(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_linear(c, in[0], in[1], NULL); }
static mmix_tensor *fn_square(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_mul(c, in[0], in[0]); }
static mmix_tensor *fn_reshape_softmax(mmix_ctx *c, mmix_tensor *const *in, void *u) {
    (void)u; /* reshape, then an op that mixes elements so the layout matters */
    return mmix_softmax(c, mmix_reshape(c, in[0], mmix_shape2(4, 6)));
}
static mmix_tensor *fn_layernorm_plain(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_layernorm(c, in[0], NULL, NULL, 1e-5f); }
/* A small block of the kind the models are made of: composition must be right too. */
static mmix_tensor *fn_block(mmix_ctx *c, mmix_tensor *const *in, void *u) {
    mmix_tensor *h;
    (void)u;
    h = mmix_layernorm(c, in[0], in[1], NULL, 1e-5f);
    h = mmix_gelu(c, mmix_linear(c, h, in[2], NULL));
    return mmix_add(c, in[0], mmix_linear(c, h, mmix_reshape(c, in[2], mmix_shape2(5, 5)), NULL));
}

/* ---- forward references in double ---- */
static void test_forward(void) {
    static const int32_t ids_v[6] = {3, 0, 3, 6, 1, 3};
    mmix_tensor *x, *W, *b, *y, *ids, *t2;
    double ref[512];
    int64_t r, c, k, i;

    /* embedding: exact copies of rows */
    W = input(mmix_shape2(7, 5), 0);
    ids = ids_tensor(mmix_shape2(2, 3), ids_v);
    y = mmix_embedding(ctx, W, ids);
    CHECK(y && y->shape.ndim == 3 && y->shape.d[0] == 2 && y->shape.d[1] == 3 && y->shape.d[2] == 5,
          "embedding output shape");
    for (i = 0; y && i < 6; i++)
        CHECK(memcmp(y->data + i * 5, W->data + ids_v[i] * 5, 5 * sizeof(float)) == 0, "embedding row %lld", (long long)i);

    /* linear */
    x = input(mmix_shape3(2, 3, 5), 0);
    W = input(mmix_shape2(4, 5), 0);
    b = input(mmix_shape1(4), 0);
    y = mmix_linear(ctx, x, W, b);
    for (r = 0; r < 6; r++)
        for (c = 0; c < 4; c++) {
            ref[r * 4 + c] = b->data[c];
            for (k = 0; k < 5; k++) ref[r * 4 + c] += (double)x->data[r * 5 + k] * W->data[c * 5 + k];
        }
    CHECK(y && y->shape.ndim == 3 && y->shape.d[2] == 4 && test_rel_err(y->data, ref, 24) < 1e-6,
          "linear forward");

    /* batched matmul with transposes: A [2, 5, 3] used as op(A) = A^T [3, 5]; B [2, 4, 5] as B^T */
    x = input(mmix_shape3(2, 5, 3), 0);
    W = input(mmix_shape3(2, 4, 5), 0);
    y = mmix_matmul(ctx, x, W, 1, 1);
    for (i = 0; i < 2; i++)
        for (r = 0; r < 3; r++)
            for (c = 0; c < 4; c++) {
                double s = 0.0;
                for (k = 0; k < 5; k++) s += (double)x->data[i * 15 + k * 3 + r] * W->data[i * 20 + c * 5 + k];
                ref[i * 12 + r * 4 + c] = s;
            }
    CHECK(y && y->shape.d[0] == 2 && y->shape.d[1] == 3 && y->shape.d[2] == 4 &&
          test_rel_err(y->data, ref, 24) < 1e-6, "matmul forward (batched, both transposed)");
    /* a 2-D A shared across a batched B: the token-mixing pattern W [L, L] times X [B, L, D] */
    x = input(mmix_shape2(3, 3), 0);
    W = input(mmix_shape3(2, 3, 4), 0);
    y = mmix_matmul(ctx, x, W, 0, 0);
    for (i = 0; i < 2; i++)
        for (r = 0; r < 3; r++)
            for (c = 0; c < 4; c++) {
                double s = 0.0;
                for (k = 0; k < 3; k++) s += (double)x->data[r * 3 + k] * W->data[i * 12 + k * 4 + c];
                ref[i * 12 + r * 4 + c] = s;
            }
    CHECK(y && y->shape.ndim == 3 && test_rel_err(y->data, ref, 24) < 1e-6, "matmul forward (shared A)");

    /* add, mul, scale, sum, mean */
    x = input(mmix_shape2(3, 4), 0);
    W = input(mmix_shape2(3, 4), 0);
    y = mmix_add(ctx, x, W);
    for (i = 0; i < 12; i++) ref[i] = (double)x->data[i] + W->data[i];
    CHECK(y && test_rel_err(y->data, ref, 12) < 1e-7, "add forward");
    y = mmix_mul(ctx, x, W);
    for (i = 0; i < 12; i++) ref[i] = (double)x->data[i] * W->data[i];
    CHECK(y && test_rel_err(y->data, ref, 12) < 1e-7, "mul forward");
    y = mmix_scale(ctx, x, 0.5f);
    for (i = 0; i < 12; i++) ref[i] = 0.5 * x->data[i];
    CHECK(y && test_rel_err(y->data, ref, 12) == 0.0, "scale forward");
    ref[0] = 0.0;
    for (i = 0; i < 12; i++) ref[0] += x->data[i];
    y = mmix_sum(ctx, x);
    CHECK(y && y->n == 1 && y->shape.ndim == 0 && fabs(y->data[0] - ref[0]) < 1e-6, "sum forward");
    y = mmix_mean(ctx, x);
    CHECK(y && fabs(y->data[0] - ref[0] / 12.0) < 1e-6, "mean forward");
    y = mmix_reshape(ctx, x, mmix_shape3(2, 2, 3));
    CHECK(y && y->data == x->data && y->shape.ndim == 3, "reshape shares data");

    /* layernorm with affine parameters */
    x = input(mmix_shape2(4, 9), 0);
    W = input(mmix_shape1(9), 0);
    b = input(mmix_shape1(9), 0);
    for (i = 0; i < 9; i++) x->data[i] = 100.0f + 0.01f * (float)i; /* large mean, small spread */
    y = mmix_layernorm(ctx, x, W, b, 1e-5f);
    for (r = 0; r < 4; r++) {
        double m = 0, v = 0;
        for (c = 0; c < 9; c++) m += x->data[r * 9 + c];
        m /= 9;
        for (c = 0; c < 9; c++) v += (x->data[r * 9 + c] - m) * (x->data[r * 9 + c] - m);
        v /= 9;
        for (c = 0; c < 9; c++) ref[r * 9 + c] = (x->data[r * 9 + c] - m) / sqrt(v + 1e-5) * W->data[c] + b->data[c];
    }
    CHECK(y && test_rel_err(y->data, ref, 36) < 1e-5, "layernorm forward (rel err %.3g)", y ? test_rel_err(y->data, ref, 36) : -1.0);

    /* gelu over a range that includes large magnitudes */
    x = input(mmix_shape1(41), 0);
    for (i = 0; i < 41; i++) x->data[i] = -10.0f + 0.5f * (float)i;
    y = mmix_gelu(ctx, x);
    for (i = 0; i < 41; i++) ref[i] = 0.5 * x->data[i] * (1.0 + erf(x->data[i] / sqrt(2.0)));
    CHECK(y && test_rel_err(y->data, ref, 41) < 1e-7, "gelu forward");

    /* softmax, with a row of huge logits (must not overflow) */
    x = input(mmix_shape2(3, 7), 0);
    for (c = 0; c < 7; c++) x->data[c] = 1000.0f + (float)c;
    y = mmix_softmax(ctx, x);
    for (r = 0; r < 3; r++) {
        double mx = -1e30, s = 0;
        for (c = 0; c < 7; c++) mx = x->data[r * 7 + c] > mx ? x->data[r * 7 + c] : mx;
        for (c = 0; c < 7; c++) s += exp(x->data[r * 7 + c] - mx);
        for (c = 0; c < 7; c++) ref[r * 7 + c] = exp(x->data[r * 7 + c] - mx) / s;
    }
    CHECK(y && test_rel_err(y->data, ref, 21) < 1e-6, "softmax forward");

    /* cross-entropy with ignored positions: mean over counted rows only */
    {
        static const int32_t tv[5] = {2, -100, 0, 5, -100};
        double total = 0;
        x = input(mmix_shape2(5, 6), 0);
        t2 = ids_tensor(mmix_shape1(5), tv);
        y = mmix_cross_entropy(ctx, x, t2, -100);
        for (r = 0; r < 5; r++) {
            double mx = -1e30, s = 0;
            if (tv[r] == -100) continue;
            for (c = 0; c < 6; c++) mx = x->data[r * 6 + c] > mx ? x->data[r * 6 + c] : mx;
            for (c = 0; c < 6; c++) s += exp(x->data[r * 6 + c] - mx);
            total += mx + log(s) - x->data[r * 6 + tv[r]];
        }
        CHECK(y && fabs(y->data[0] - total / 3.0) < 1e-6 * (1 + fabs(total)), "cross_entropy forward");
    }
    CHECK(mmix_last_result(ctx) == MMIX_OK, "no error in forward tests: %s", mmix_last_error(ctx));
    mmix_step_reset(ctx);
}

/* ---- gradient checks of every op ---- */
static void test_gradients(void) {
    static const int32_t ids_v[6] = {3, 0, 3, 6, 1, 3}; /* id 3 three times: accumulation */
    static const int32_t tv[6] = {2, -100, 0, 5, 1, -100};
    static const int transposes[4][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
    mmix_tensor *in[3];
    int t;
    char what[64];

    in[0] = input(mmix_shape2(7, 5), 1);
    in[1] = ids_tensor(mmix_shape2(2, 3), ids_v);
    gradcheck("embedding", fn_embedding, NULL, in, 2);

    in[0] = input(mmix_shape3(2, 3, 5), 1);
    in[1] = input(mmix_shape2(4, 5), 1);
    in[2] = input(mmix_shape1(4), 1);
    gradcheck("linear", fn_linear, NULL, in, 3);
    in[0] = input(mmix_shape2(3, 6), 1);
    in[1] = input(mmix_shape2(2, 6), 1);
    gradcheck("linear (no bias)", fn_linear_nobias, NULL, in, 2);
    in[0] = input(mmix_shape2(3, 6), 0); /* gradient w.r.t. W only */
    in[1] = input(mmix_shape2(2, 6), 1);
    gradcheck("linear (x constant)", fn_linear_nobias, NULL, in, 2);

    for (t = 0; t < 4; t++) {
        int ta = transposes[t][0], tb = transposes[t][1];
        in[0] = input(ta ? mmix_shape3(2, 4, 3) : mmix_shape3(2, 3, 4), 1);
        in[1] = input(tb ? mmix_shape3(2, 5, 4) : mmix_shape3(2, 4, 5), 1);
        snprintf(what, sizeof what, "matmul batched ta=%d tb=%d", ta, tb);
        gradcheck(what, fn_matmul, (void *)transposes[t], in, 2);
        in[0] = input(ta ? mmix_shape2(4, 3) : mmix_shape2(3, 4), 1);
        in[1] = input(tb ? mmix_shape3(2, 5, 4) : mmix_shape3(2, 4, 5), 1);
        snprintf(what, sizeof what, "matmul shared A ta=%d tb=%d", ta, tb);
        gradcheck(what, fn_matmul, (void *)transposes[t], in, 2);
        in[0] = input(ta ? mmix_shape3(2, 4, 3) : mmix_shape3(2, 3, 4), 1);
        in[1] = input(tb ? mmix_shape2(5, 4) : mmix_shape2(4, 5), 1);
        snprintf(what, sizeof what, "matmul shared B ta=%d tb=%d", ta, tb);
        gradcheck(what, fn_matmul, (void *)transposes[t], in, 2);
    }

    in[0] = input(mmix_shape2(3, 4), 1);
    in[1] = input(mmix_shape2(3, 4), 1);
    gradcheck("add", fn_add, NULL, in, 2);
    in[0] = input(mmix_shape2(3, 4), 1);
    in[1] = input(mmix_shape2(3, 4), 1);
    gradcheck("mul", fn_mul, NULL, in, 2);
    in[0] = input(mmix_shape2(3, 4), 1);
    gradcheck("mul (x * x)", fn_square, NULL, in, 1);
    in[0] = input(mmix_shape3(2, 2, 3), 1);
    gradcheck("scale", fn_scale, NULL, in, 1);
    in[0] = input(mmix_shape2(3, 5), 1);
    gradcheck("sum", fn_sum, NULL, in, 1);
    in[0] = input(mmix_shape2(3, 5), 1);
    gradcheck("mean", fn_mean, NULL, in, 1);
    in[0] = input(mmix_shape3(2, 3, 4), 1);
    gradcheck("reshape", fn_reshape_softmax, NULL, in, 1);

    in[0] = input(mmix_shape3(2, 3, 8), 1);
    in[1] = input(mmix_shape1(8), 1);
    in[2] = input(mmix_shape1(8), 1);
    gradcheck("layernorm", fn_layernorm, NULL, in, 3);
    in[0] = input(mmix_shape2(4, 16), 1);
    gradcheck("layernorm (no affine)", fn_layernorm_plain, NULL, in, 1);

    in[0] = input(mmix_shape2(5, 9), 1);
    mmix_init_uniform(in[0], &rng, -4.0f, 4.0f);
    gradcheck("gelu", fn_gelu, NULL, in, 1);
    in[0] = input(mmix_shape2(4, 7), 1);
    gradcheck("softmax", fn_softmax, NULL, in, 1);
    in[0] = input(mmix_shape3(2, 3, 6), 1);
    in[1] = ids_tensor(mmix_shape2(2, 3), tv);
    gradcheck("cross_entropy (ignore label)", fn_cross_entropy, NULL, in, 2);

    in[0] = input(mmix_shape2(3, 5), 1);
    in[1] = input(mmix_shape1(5), 1);
    in[2] = input(mmix_shape2(25, 1), 1);
    {   /* in[2] is [25, 1] reshaped to [5, 5] inside; give linear a [5, 5] view first */
        mmix_tensor *w = input(mmix_shape2(5, 5), 1);
        in[2] = w;
    }
    gradcheck("block (ln, linear, gelu, add)", fn_block, NULL, in, 3);
}

/* ---- the gradient checker must catch wrong gradients ---- */
static void square_forward(mmix_tensor *out, mmix_tensor *const *in, int n_in, void *user) {
    int64_t i;
    (void)n_in; (void)user;
    for (i = 0; i < out->n; i++) out->data[i] = in[0]->data[i] * in[0]->data[i];
}
static void square_backward(const mmix_tensor *out, mmix_tensor *const *in, int n_in, void *user) {
    /* user points at the factor: 2 is right; anything else is a deliberate bug */
    float factor = *(const float *)user;
    int64_t i;
    (void)n_in;
    if (!in[0]->grad) return;
    for (i = 0; i < out->n; i++) in[0]->grad[i] += factor * in[0]->data[i] * out->grad[i];
}
static const mmix_custom_op square_op = {"square", square_forward, square_backward};
static mmix_tensor *fn_custom_square(mmix_ctx *c, mmix_tensor *const *in, void *u) {
    return mmix_custom(c, &square_op, u, in[0]->shape, in, 1);
}

/* A LayerNorm backward that forgets the mean(g * xhat) term: plausible, and wrong. */
static void bad_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                                   const float *mean, const float *rstd, const float *w,
                                   int64_t rows, int64_t cols) {
    int64_t r, c;
    for (r = 0; r < rows; r++) {
        double g_mean = 0.0;
        for (c = 0; c < cols; c++) g_mean += dout[r * cols + c] * (w ? w[c] : 1.0f);
        g_mean /= (double)cols;
        for (c = 0; c < cols; c++)
            if (dx) dx[r * cols + c] += (float)(rstd[r] * (dout[r * cols + c] * (w ? w[c] : 1.0f) - g_mean));
    }
    (void)dw; (void)db; (void)x; (void)mean;
}

static void test_gradcheck_catches_bugs(void) {
    mmix_tensor *in[3];
    mmix_gradcheck_report rep;
    float right = 2.0f, off_by_1pct = 2.02f, zero = 0.0f;
    static mmix_backend broken; /* a context keeps the backend that owns its blocks: it must outlive them */

    in[0] = input(mmix_shape2(4, 5), 1);
    CHECK_OK(ctx, mmix_gradcheck(ctx, fn_custom_square, &right, in, 1, NULL, &rep));
    CHECK(rep.ok && rep.failed == 0, "a correct custom backward passes (worst %.3g)", rep.worst_error);
    CHECK_OK(ctx, mmix_gradcheck(ctx, fn_custom_square, &off_by_1pct, in, 1, NULL, &rep));
    CHECK(!rep.ok && rep.failed > 0, "a backward 1%% off must fail (worst %.3g)", rep.worst_error);
    CHECK_OK(ctx, mmix_gradcheck(ctx, fn_custom_square, &zero, in, 1, NULL, &rep));
    CHECK(!rep.ok && rep.failed == rep.checked, "a zero backward must fail everywhere");
    mmix_step_reset(ctx);

    mmix_cpu_backend_fill(&broken);
    broken.layernorm_backward = bad_layernorm_backward;
    mmix_set_backend(ctx, &broken);
    in[0] = input(mmix_shape2(3, 8), 1);
    CHECK_OK(ctx, mmix_gradcheck(ctx, fn_layernorm_plain, NULL, in, 1, NULL, &rep));
    CHECK(!rep.ok, "a LayerNorm backward missing a term must fail (worst %.3g)", rep.worst_error);
    mmix_set_backend(ctx, NULL);
    mmix_step_reset(ctx);
}

/* ---- backward semantics ---- */
static void test_backward_semantics(void) {
    mmix_tensor *W = mmix_param(ctx, "sem.W", mmix_shape2(3, 4));
    mmix_tensor *x, *loss;
    float first[12];
    int i, same = 1, doubled = 1;
    mmix_init_normal(W, &rng, 0.0f, 1.0f);
    x = input(mmix_shape2(2, 4), 1);
    mmix_zero_grad(ctx, mmix_ctx_params(ctx));
    loss = mmix_sum(ctx, mmix_gelu(ctx, mmix_linear(ctx, x, W, NULL)));
    CHECK_OK(ctx, mmix_backward(ctx, loss));
    memcpy(first, W->grad, sizeof first);
    CHECK(x->grad != NULL, "a leaf input marked requires_grad receives a gradient");
    /* A second backward of the same loss adds the same gradient once more, no more. */
    CHECK_OK(ctx, mmix_backward(ctx, loss));
    for (i = 0; i < 12; i++) doubled &= fabsf(W->grad[i] - 2.0f * first[i]) <= 1e-6f * (1.0f + fabsf(first[i]));
    CHECK(doubled, "two backward passes accumulate exactly twice the gradient into parameters");
    mmix_step_reset(ctx);

    /* gradients off: nothing is recorded, outputs do not require gradients */
    mmix_set_grad_enabled(ctx, 0);
    x = input(mmix_shape2(2, 4), 1);
    loss = mmix_sum(ctx, mmix_linear(ctx, x, W, NULL));
    CHECK(loss && !loss->requires_grad && mmix_memory_usage(ctx).tape_len == 0, "no tape when disabled");
    CHECK(mmix_backward(ctx, loss) == MMIX_ERR_INVALID_ARGUMENT, "backward without a tape is an error");
    mmix_clear_error(ctx);
    mmix_set_grad_enabled(ctx, 1);
    mmix_step_reset(ctx);

    /* zero_grad clears parameter gradients */
    mmix_zero_grad(ctx, mmix_ctx_params(ctx));
    for (i = 0; i < 12; i++) same &= W->grad[i] == 0.0f;
    CHECK(same, "zero_grad zeroes parameter gradients");
    mmix_set_training(ctx, 0);
    CHECK(!mmix_is_training(ctx), "eval mode");
    mmix_set_training(ctx, 1);
    CHECK(mmix_is_training(ctx), "training mode");
}

/* ---- errors: input mistakes get a code and a message, never a crash ---- */
static void test_errors(void) {
    static const int32_t bad_ids[3] = {0, 7, 2};
    static const int32_t all_ignored[2] = {-100, -100};
    static const int32_t bad_target[2] = {1, 9};
    mmix_tensor *x = input(mmix_shape2(8, 5), 0), *W = input(mmix_shape2(3, 4), 0), *y, *table, *ids;

    y = mmix_linear(ctx, x, W, NULL);
    CHECK(!y && mmix_last_result(ctx) == MMIX_ERR_SHAPE, "linear shape mismatch is MMIX_ERR_SHAPE");
    CHECK(strstr(mmix_last_error(ctx), "[8, 5]") && strstr(mmix_last_error(ctx), "[3, 4]") &&
          strstr(mmix_last_error(ctx), "linear"), "the message names the op and both shapes: %s",
          mmix_last_error(ctx));
    /* the error is sticky: later ops refuse to run, so NULL cannot pass for an absent bias */
    CHECK(mmix_gelu(ctx, x) == NULL, "ops refuse to run while an error is pending");
    CHECK(mmix_backward(ctx, x) == MMIX_ERR_SHAPE, "backward reports the pending error");
    mmix_clear_error(ctx);
    CHECK(mmix_gelu(ctx, x) != NULL && mmix_last_error(ctx)[0] == '\0', "clear_error lets ops run again");
    CHECK(mmix_gelu(ctx, NULL) == NULL && mmix_last_result(ctx) == MMIX_ERR_INVALID_ARGUMENT, "NULL input");
    mmix_clear_error(ctx);

    W = mmix_param(ctx, "errors.wte", mmix_shape2(5, 3));
    table = W;
    ids = ids_tensor(mmix_shape1(3), bad_ids);
    CHECK(mmix_embedding(ctx, table, ids) == NULL && mmix_last_result(ctx) == MMIX_ERR_RANGE,
          "out-of-range token id is MMIX_ERR_RANGE");
    CHECK(strstr(mmix_last_error(ctx), "7") && strstr(mmix_last_error(ctx), "errors.wte"),
          "the message names the id and the table: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    CHECK(mmix_embedding(ctx, table, x) == NULL && mmix_last_result(ctx) == MMIX_ERR_INVALID_ARGUMENT,
          "embedding with float ids");
    mmix_clear_error(ctx);

    x = input(mmix_shape2(2, 4), 0);
    CHECK(mmix_cross_entropy(ctx, x, ids_tensor(mmix_shape1(2), all_ignored), -100) == NULL &&
          mmix_last_result(ctx) == MMIX_ERR_INVALID_ARGUMENT, "all targets ignored is an error");
    mmix_clear_error(ctx);
    CHECK(mmix_cross_entropy(ctx, x, ids_tensor(mmix_shape1(2), bad_target), -100) == NULL &&
          mmix_last_result(ctx) == MMIX_ERR_RANGE, "target outside the classes is an error");
    mmix_clear_error(ctx);
    CHECK(mmix_cross_entropy(ctx, x, ids_tensor(mmix_shape1(1), bad_target), -100) == NULL &&
          mmix_last_result(ctx) == MMIX_ERR_SHAPE, "target count must match rows");
    mmix_clear_error(ctx);
    CHECK(mmix_matmul(ctx, input(mmix_shape2(2, 3), 0), input(mmix_shape2(4, 2), 0), 0, 0) == NULL &&
          mmix_last_result(ctx) == MMIX_ERR_SHAPE, "matmul inner dims");
    mmix_clear_error(ctx);
    CHECK(mmix_matmul(ctx, input(mmix_shape3(2, 2, 3), 0), input(mmix_shape3(3, 3, 2), 0), 0, 0) == NULL &&
          mmix_last_result(ctx) == MMIX_ERR_SHAPE, "matmul batch dims");
    mmix_clear_error(ctx);
    CHECK(mmix_add(ctx, input(mmix_shape2(2, 3), 0), input(mmix_shape2(3, 2), 0)) == NULL &&
          mmix_last_result(ctx) == MMIX_ERR_SHAPE, "add shapes");
    mmix_clear_error(ctx);
    CHECK(mmix_reshape(ctx, x, mmix_shape2(3, 3)) == NULL && mmix_last_result(ctx) == MMIX_ERR_SHAPE,
          "reshape element count");
    mmix_clear_error(ctx);
    CHECK(mmix_layernorm(ctx, x, input(mmix_shape1(3), 0), NULL, 1e-5f) == NULL &&
          mmix_last_result(ctx) == MMIX_ERR_SHAPE, "layernorm weight shape");
    mmix_clear_error(ctx);
    CHECK(mmix_layernorm(ctx, x, NULL, NULL, 0.0f) == NULL &&
          mmix_last_result(ctx) == MMIX_ERR_INVALID_ARGUMENT, "layernorm eps must be positive");
    mmix_clear_error(ctx);
    y = mmix_gelu(ctx, input(mmix_shape2(2, 2), 1));
    CHECK(mmix_backward(ctx, y) == MMIX_ERR_SHAPE, "backward of a non-scalar needs backward_from");
    mmix_clear_error(ctx);
    CHECK(mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape2(0, 3)) == NULL &&
          mmix_last_result(ctx) == MMIX_ERR_SHAPE, "a zero dim is rejected");
    mmix_clear_error(ctx);
    {
        mmix_shape s = mmix_shape4(1, 2, 3, 4);
        s.ndim = 5;
        CHECK(mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, s) == NULL, "5 dims are rejected");
        mmix_clear_error(ctx);
    }
    CHECK(mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape2(INT64_MAX / 2, 4)) == NULL &&
          mmix_last_result(ctx) == MMIX_ERR_SHAPE, "an overflowing size is rejected, not allocated");
    mmix_clear_error(ctx);
    CHECK(mmix_param(ctx, "errors.wte", mmix_shape1(2)) == NULL, "duplicate parameter name");
    mmix_clear_error(ctx);
    CHECK(mmix_set_requires_grad(ctx, ids, 1) == MMIX_ERR_INVALID_ARGUMENT, "int tensors have no gradient");
    mmix_clear_error(ctx);
    CHECK(mmix_argmax(ctx, ids) == NULL && mmix_last_result(ctx) == MMIX_ERR_INVALID_ARGUMENT &&
          strstr(mmix_last_error(ctx), "argmax"), "argmax takes floats: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    {
        static const float row[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
        mmix_tensor *v = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape1(5)), *best;
        if (v) memcpy(v->data, row, sizeof row);
        best = v ? mmix_argmax(ctx, v) : NULL;
        CHECK(best && best->shape.ndim == 0 && best->n == 1 && best->ids[0] == 1,
              "argmax of a 1-D row: one index, the first of two equal largest values");
    }
    CHECK(strcmp(mmix_result_str(MMIX_ERR_SHAPE), "shape mismatch") == 0 &&
          strcmp(mmix_result_str((mmix_result)999), "unknown result code") == 0, "result descriptions");
    CHECK(strcmp(mmix_op_name(MMIX_OP_CROSS_ENTROPY), "cross_entropy") == 0, "op names");
    mmix_step_reset(ctx);
}

int main(void) {
    CHECK(mmix_ctx_create(&ctx, NULL) == MMIX_OK, "context");
    if (!ctx) return test_summary("test_ops");
    mmix_rng_seed(&rng, 2024);
    test_forward();
    test_gradients();
    test_gradcheck_catches_bugs();
    test_backward_semantics();
    test_errors();
    mmix_ctx_destroy(ctx);
    return test_summary("test_ops");
}
