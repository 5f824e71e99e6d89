/* tests/test_fixtures.c - every op, AdamW, both schedules and clipping against PyTorch
   (fixtures from tests/reference/make_fixtures.py, committed; torch is not needed here).
   Tolerances: op outputs and gradients within 1e-5 of the fixture, relative to the
   tensor's largest magnitude; parameters after AdamW steps within 1e-5 absolute. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"
#include "fixture.h"
#include "op_cases.h"

#define OP_TOLERANCE 1e-5
#define PARAM_TOLERANCE 1e-5

static fixture fx;

static const fixture_tensor *need(const char *fmt, const char *a, const char *b) {
    char name[256];
    const fixture_tensor *t;
    snprintf(name, sizeof name, fmt, a, b);
    t = fixture_get(&fx, name);
    CHECK(t != NULL, "fixture tensor %s is present", name);
    return t;
}

/* A tensor of ours holding a fixture tensor; float inputs with a recorded gradient
   require one. */
static mmix_tensor *from_fixture(const fixture_tensor *t, mmix_lifetime where, int requires_grad) {
    mmix_shape shape = mmix_shape0();
    mmix_tensor *out;
    int d;
    shape.ndim = t->ndim;
    for (d = 0; d < t->ndim; d++) shape.d[d] = t->dims[d];
    out = mmix_tensor_new(ctx, where, t->is_int ? MMIX_I32 : MMIX_F32, shape);
    if (!out) return NULL;
    memcpy(t->is_int ? (void *)out->ids : (void *)out->data, t->data, (size_t)t->n * 4);
    if (requires_grad && !t->is_int) mmix_set_requires_grad(ctx, out, 1);
    return out;
}

typedef struct op_case {
    const char *name;
    const char *inputs[3];
    mmix_forward_fn fn;
    const void *user;
} op_case;

/* Forward from the fixture's inputs, compare the output; backward with the fixture's R,
   compare every recorded gradient. */
static void run_case(const op_case *c) {
    mmix_tensor *in[3] = {NULL, NULL, NULL}, *out;
    const fixture_tensor *ref_out = need("%s/out%s", c->name, ""), *R = need("%s/R%s", c->name, "");
    int k, n_in = 0;
    double err;
    if (!ref_out || !R) return;
    for (k = 0; k < 3 && c->inputs[k]; k++, n_in++) {
        const fixture_tensor *t = need("%s/in/%s", c->name, c->inputs[k]);
        if (!t) return;
        in[k] = from_fixture(t, MMIX_STEP, !t->is_int); /* every float input is differentiated */
    }
    out = c->fn(ctx, in, (void *)c->user);
    err = out ? fixture_rel_err(out->data, out->n, ref_out) : 1e30;
    CHECK(out && err <= OP_TOLERANCE, "%s forward vs torch: error %.3g %s", c->name, err, mmix_last_error(ctx));
    if (!out) { mmix_clear_error(ctx); mmix_step_reset(ctx); return; }
    CHECK_OK(ctx, mmix_backward_from(ctx, out, (const float *)R->data));
    for (k = 0; k < n_in; k++) {
        if (in[k]->dtype == MMIX_I32) continue; /* token ids and targets have no gradient */
        err = fixture_rel_err(in[k]->grad, in[k]->n, need("%s/grad/%s", c->name, c->inputs[k]));
        CHECK(err <= OP_TOLERANCE, "%s gradient of %s vs torch: error %.3g", c->name, c->inputs[k], err);
    }
    printf("  %-22s matches torch\n", c->name);
    mmix_step_reset(ctx);
}


static void test_core1_ops(void) {
    static const int t00[2] = {0, 0}, t01[2] = {0, 1}, t10[2] = {1, 0}, t11[2] = {1, 1};
    static const op_case cases[] = {
        {"embedding", {"table", "ids", NULL}, fn_embedding, NULL},
        {"linear", {"x", "W", "b"}, fn_linear, NULL},
        {"matmul_t00", {"A", "B", NULL}, fn_matmul, t00},
        {"matmul_t01", {"A", "B", NULL}, fn_matmul, t01},
        {"matmul_t10", {"A", "B", NULL}, fn_matmul, t10},
        {"matmul_t11", {"A", "B", NULL}, fn_matmul, t11},
        {"matmul_sharedA", {"A", "B", NULL}, fn_matmul, t00},
        {"add", {"a", "b", NULL}, fn_add, NULL},
        {"mul", {"a", "b", NULL}, fn_mul, NULL},
        {"scale", {"x", NULL, NULL}, fn_scale, NULL},
        {"sum", {"x", NULL, NULL}, fn_sum, NULL},
        {"mean", {"x", NULL, NULL}, fn_mean, NULL},
        {"reshape", {"x", NULL, NULL}, fn_reshape, NULL},
        {"layernorm", {"x", "w", "b"}, fn_layernorm, NULL},
        {"gelu", {"x", NULL, NULL}, fn_gelu, NULL},
        {"softmax", {"x", NULL, NULL}, fn_softmax, NULL},
        {"cross_entropy", {"logits", "targets", NULL}, fn_cross_entropy, NULL},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

static void test_core2_ops(void) {
    static mmix_mask causal, upper2;
    static const int64_t pos0 = 0, pos5 = 5;
    static const int yes = 1, no = 0;
    static const char *mix_cases[] = {"token_mix_k1", "token_mix_k2", "token_mix_k3", "token_mix_k4", "token_mix_rect"};
    op_case c;
    size_t i;
    causal = mmix_mask_causal();
    upper2.kind = MMIX_MASK_UPPER; upper2.diagonal = 2; upper2.keep = NULL;
    {
        static const op_case cases[] = {
            {"rmsnorm", {"x", "w", NULL}, fn_rmsnorm, NULL},
            {"silu", {"x", NULL, NULL}, fn_silu, NULL},
            {"rope_pos0", {"x", NULL, NULL}, fn_rope, &pos0},
            {"rope_pos5", {"x", NULL, NULL}, fn_rope, &pos5},
            {"attention_causal", {"q", "k", "v"}, fn_attention, &yes},
            {"attention_full", {"q", "k", "v"}, fn_attention, &no},
            {"attention_cached", {"q", "k", "v"}, fn_attention, &yes},
            {"l2_normalize", {"x", NULL, NULL}, fn_l2, NULL},
            {"cosine_similarity", {"a", "b", NULL}, fn_cosine, NULL},
            {"logsumexp", {"x", NULL, NULL}, fn_logsumexp, NULL},
            {"l1_distance", {"a", "b", NULL}, fn_l1, NULL},
            {"tokens_slice", {"x", NULL, NULL}, fn_slice, NULL},
            {"tokens_select", {"x", NULL, NULL}, fn_select, NULL},
            {"tokens_concat", {"a", "b", NULL}, fn_concat, NULL},
            {"tokens_repeat", {"x", NULL, NULL}, fn_repeat, NULL},
            {"tokens_flip", {"x", NULL, NULL}, fn_flip, NULL},
            {"tokens_zero", {"x", NULL, NULL}, fn_zero, NULL},
            {"linear_in_out", {"x", "W", "b"}, fn_linear_in_out, NULL},
        };
        for (i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
    }
    c.inputs[0] = "x"; c.inputs[1] = "W"; c.inputs[2] = "bias";
    c.fn = fn_token_mix;
    for (i = 0; i < 6; i++) {
        c.name = i < 5 ? mix_cases[i] : "token_mix_upper2";
        c.user = i < 5 ? (const void *)&causal : (const void *)&upper2;
        run_case(&c);
    }
    /* the reference mode's phantom gradients match the paper code's (in-place masking) */
    mmix_set_masked_grad_mode(ctx, MMIX_MASKED_GRADS_REFERENCE);
    for (i = 0; i < 6; i++) {
        const char *name = i < 5 ? mix_cases[i] : "token_mix_upper2";
        const fixture_tensor *x = need("%s/in/%s", name, "x"), *W = need("%s/in/%s", name, "W");
        const fixture_tensor *b = need("%s/in/%s", name, "bias"), *R = need("%s/R%s", name, "");
        const fixture_tensor *g = need("%s/grad/%s", name, "W_reference");
        mmix_tensor *tx, *tW, *tb, *out;
        double err;
        if (!x || !W || !b || !R || !g) continue;
        tx = from_fixture(x, MMIX_STEP, 0);
        tW = from_fixture(W, MMIX_STEP, 1);
        tb = from_fixture(b, MMIX_STEP, 0);
        out = mmix_token_mix(ctx, tx, tW, tb, i < 5 ? causal : upper2);
        CHECK(out && mmix_backward_from(ctx, out, (const float *)R->data) == MMIX_OK, "%s reference mode ran", name);
        err = out ? fixture_rel_err(tW->grad, tW->n, g) : 1e30;
        CHECK(err <= OP_TOLERANCE, "%s reference-mode W gradient vs torch: error %.3g", name, err);
        mmix_step_reset(ctx);
    }
    mmix_set_masked_grad_mode(ctx, MMIX_MASKED_GRADS_ZERO);
}

/* argmax: torch's indices exactly (ties: the lowest; a NaN wins), and no gradient even for an
   input that requires one. */
static void test_argmax(void) {
    const fixture_tensor *x = need("%s/in/%s", "argmax", "x"), *ref = need("%s/out%s", "argmax", "");
    mmix_tensor *in, *out;
    int32_t ids[64];
    int64_t i, same = 0;
    if (!x || !ref || ref->n > 64) return;
    in = from_fixture(x, MMIX_STEP, 1);
    out = in ? mmix_argmax(ctx, in) : NULL;
    CHECK(out && out->dtype == MMIX_I32 && out->n == ref->n && out->shape.ndim == 2 && !out->requires_grad,
          "argmax: int32 [3, 4] with no gradient: %s", mmix_last_error(ctx));
    if (out && out->n == ref->n && mmix_tensor_download(ctx, out, 0, ids, out->n) == MMIX_OK)
        for (i = 0; i < out->n; i++) same += ids[i] == ((const int32_t *)ref->data)[i];
    CHECK(same == ref->n, "argmax: torch's indices (%lld of %lld)", (long long)same, (long long)ref->n);
    mmix_step_reset(ctx);
}

/* Replays a recorded gradient sequence through clipping, the schedule and AdamW. */
static void adamw_case(const char *name, mmix_schedule schedule, float lr, int64_t warmup, int64_t total,
                       float wd, float beta1, float beta2, float eps, float max_norm) {
    mmix_ctx *c;
    mmix_adamw opt;
    mmix_adamw_config cfg = mmix_adamw_config_default();
    mmix_tensor *p[2];
    char key[64];
    int64_t s, i;
    double worst_param = 0.0, worst_norm = 0.0, worst_lr = 0.0;
    if (mmix_ctx_create(&c, NULL) != MMIX_OK) return;
    for (i = 0; i < 2; i++) {
        const fixture_tensor *init;
        snprintf(key, sizeof key, "%lld", (long long)i);
        init = need("%s/init/%s", name, key);
        if (!init) { mmix_ctx_destroy(c); return; }
        p[i] = mmix_param(c, i ? "b" : "W", init->ndim == 2 ? mmix_shape2(init->dims[0], init->dims[1]) : mmix_shape1(init->dims[0]));
        memcpy(p[i]->data, init->data, (size_t)init->n * 4);
    }
    cfg.lr = lr; cfg.beta1 = beta1; cfg.beta2 = beta2; cfg.eps = eps; cfg.weight_decay = wd;
    CHECK(mmix_adamw_init(c, &opt, mmix_ctx_params(c), cfg) == MMIX_OK, "%s: adamw init", name);
    for (s = 0; s < total; s++) {
        double norm, d;
        float step_lr;
        char sname[64];
        const fixture_tensor *ref_norm, *ref_lr;
        snprintf(sname, sizeof sname, "%s/step%lld", name, (long long)s);
        for (i = 0; i < 2; i++) {
            const fixture_tensor *g;
            snprintf(key, sizeof key, "%lld", (long long)i);
            g = need("%s/grad/%s", sname, key);
            if (g) memcpy(p[i]->grad, g->data, (size_t)g->n * 4);
        }
        CHECK(mmix_clip_grad_norm(c, mmix_ctx_params(c), max_norm, &norm) == MMIX_OK, "%s: clip", sname);
        step_lr = mmix_schedule_lr(schedule, lr, s, warmup, total);
        ref_norm = need("%s/norm%s", sname, "");
        ref_lr = need("%s/lr%s", sname, "");
        if (ref_norm) { d = fabs(norm - ((const float *)ref_norm->data)[0]) / ((const float *)ref_norm->data)[0]; if (d > worst_norm) worst_norm = d; }
        if (ref_lr) { d = fabs(step_lr - ((const float *)ref_lr->data)[0]); if (d > worst_lr) worst_lr = d; }
        CHECK(mmix_adamw_step(c, &opt, step_lr) == MMIX_OK, "%s: step", sname);
        for (i = 0; i < 2; i++) {
            snprintf(key, sizeof key, "%lld", (long long)i);
            d = fixture_abs_err(p[i]->data, p[i]->n, need("%s/param/%s", sname, key));
            if (d > worst_param) worst_param = d;
        }
    }
    CHECK(worst_norm <= 1e-6, "%s: gradient norms vs torch, worst relative error %.3g", name, worst_norm);
    CHECK(worst_lr <= 1e-9, "%s: scheduled learning rates vs the HF lambda, worst error %.3g", name, worst_lr);
    CHECK(worst_param <= PARAM_TOLERANCE, "%s: parameters after %lld steps vs torch, worst abs error %.3g", name,
          (long long)total, worst_param);
    printf("  %-22s params within %.2g of torch after %lld steps\n", name, worst_param, (long long)total);
    mmix_ctx_destroy(c);
}

/* A causal token-mixing layer trained 3 steps; reference mode must replay the paper code
   (in-place masking, phantom gradients in the clip norm), default mode the masked product. */
static void masked_training_case(const char *name, mmix_masked_grad_mode mode) {
    mmix_ctx *c;
    mmix_adamw opt;
    mmix_adamw_config cfg = mmix_adamw_config_default();
    mmix_tensor *W, *bias, *x, *target;
    const fixture_tensor *fW = need("%s/init/%s", name, "W"), *fb = need("%s/init/%s", name, "bias");
    const fixture_tensor *fx_x = need("%s/%s", name, "x"), *ft = need("%s/%s", name, "target");
    double worst = 0.0, worst_loss = 0.0, worst_norm = 0.0;
    int s;
    if (!fW || !fb || !fx_x || !ft || mmix_ctx_create(&c, NULL) != MMIX_OK) return;
    mmix_set_masked_grad_mode(c, mode);
    W = mmix_param(c, "conv.weight", mmix_shape3(4, 4, 1));
    bias = mmix_param(c, "conv.bias", mmix_shape1(4));
    memcpy(W->data, fW->data, 16 * 4);
    memcpy(bias->data, fb->data, 4 * 4);
    x = mmix_tensor_new(c, MMIX_PERSIST, MMIX_F32, mmix_shape3(2, 4, 3));
    target = mmix_tensor_new(c, MMIX_PERSIST, MMIX_F32, mmix_shape3(2, 4, 3));
    memcpy(x->data, fx_x->data, 24 * 4);
    memcpy(target->data, ft->data, 24 * 4);
    cfg.lr = 1e-2f;
    cfg.weight_decay = 0.01f;
    mmix_adamw_init(c, &opt, mmix_ctx_params(c), cfg);
    for (s = 0; s < 3; s++) {
        char sname[64];
        mmix_tensor *y, *diff, *loss;
        double norm, d;
        const fixture_tensor *rl, *rn;
        snprintf(sname, sizeof sname, "%s/step%d", name, s);
        mmix_zero_grad(c, mmix_ctx_params(c));
        y = mmix_token_mix(c, x, W, bias, mmix_mask_causal());
        diff = mmix_add(c, y, mmix_scale(c, target, -1.0f));
        loss = mmix_sum(c, mmix_mul(c, diff, diff));
        CHECK(loss && mmix_backward(c, loss) == MMIX_OK && mmix_clip_grad_norm(c, mmix_ctx_params(c), 1.0f, &norm) == MMIX_OK &&
              mmix_adamw_step(c, &opt, 1e-2f) == MMIX_OK, "%s ran: %s", sname, mmix_last_error(c));
        if (!loss) break;
        rl = need("%s/loss%s", sname, "");
        rn = need("%s/norm%s", sname, "");
        if (rl) { d = fabs(loss->data[0] - ((const float *)rl->data)[0]) / fabs(((const float *)rl->data)[0]); if (d > worst_loss) worst_loss = d; }
        if (rn) { d = fabs(norm - ((const float *)rn->data)[0]) / ((const float *)rn->data)[0]; if (d > worst_norm) worst_norm = d; }
        d = fixture_abs_err(W->data, 16, need("%s/W%s", sname, ""));
        if (d > worst) worst = d;
        d = fixture_abs_err(bias->data, 4, need("%s/bias%s", sname, ""));
        if (d > worst) worst = d;
        mmix_step_reset(c);
    }
    CHECK(worst_loss <= 1e-5, "%s: losses vs torch, worst relative error %.3g", name, worst_loss);
    CHECK(worst_norm <= 1e-5, "%s: clip norms vs torch, worst relative error %.3g", name, worst_norm);
    CHECK(worst <= PARAM_TOLERANCE, "%s: W (masked entries included) and bias vs torch, worst abs error %.3g", name, worst);
    printf("  %-22s weights within %.2g of torch after 3 steps\n", name, worst);
    mmix_ctx_destroy(c);
}

static int load(const char *path) {
    char err[256];
    fixture_free(&fx);
    if (!fixture_load(path, &fx, err, sizeof err)) {
        CHECK(0, "fixture: %s", err);
        return 0;
    }
    CHECK(strstr(fx.settings, "torch:") != NULL, "%s records the settings that produced it", path);
    return 1;
}

int main(void) {
    CHECK(mmix_ctx_create(&ctx, NULL) == MMIX_OK, "context");
    if (!ctx) return test_summary("test_fixtures");
    if (load("tests/reference/fixtures/ops_core1.bin")) test_core1_ops();
    if (load("tests/reference/fixtures/ops_core2.bin")) {
        test_core2_ops();
        test_argmax();
    }
    if (load("tests/reference/fixtures/adamw.bin")) {
        adamw_case("linear_wd_clip", MMIX_SCHEDULE_LINEAR, 1e-2f, 2, 6, 0.01f, 0.9f, 0.999f, 1e-8f, 1.0f);
        adamw_case("constant_noclip", MMIX_SCHEDULE_CONSTANT, 1e-2f, 2, 5, 0.0f, 0.9f, 0.999f, 1e-8f, 0.0f);
        adamw_case("linear_betas", MMIX_SCHEDULE_LINEAR, 1e-2f, 0, 4, 0.1f, 0.8f, 0.99f, 1e-6f, 0.5f);
        masked_training_case("masked_reference", MMIX_MASKED_GRADS_REFERENCE);
        masked_training_case("masked_default", MMIX_MASKED_GRADS_ZERO);
    }
    fixture_free(&fx);
    mmix_ctx_destroy(ctx);
    return test_summary("test_fixtures");
}
