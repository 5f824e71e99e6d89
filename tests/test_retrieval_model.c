/* tests/test_retrieval_model.c - the indirect retrieval model, RetrievalMixer (paper Sec. 6.2,
   Fig. 9; reference-notes Sec. 19).
   Against the PyTorch reference of make_fixtures.py (retrieval_model.bin, its initial weights
   in retrieval_model.safetensors, loaded through mmix_retrieval_model_load): the scores, the
   loss, every parameter gradient (1e-5 relative to the tensor's largest), and three AdamW steps
   with warmup, decay, weight decay and clipping (losses and clip norms 1e-5 relative, weights
   1e-5 absolute). Finite differences of the loss for every parameter and for the embeddings.
   No mask: every candidate's score moves when any position, the query's included, changes.
   Files: a save -> load round trip is bit-identical; missing, unknown, misshapen tensors,
   contradicting metadata and a language model's file are refused with messages naming them.
   The batch builder: labels point at the match, the query's own target appears once, no
   other duplicates. And a few hundred AdamW steps on a synthetic set whose answer is known
   (targets = queries + noise) take top-1 accuracy on held-out queries far above chance.
   The evaluation: its figures are its draws' (mmix_retrieval_evaluate's) ranks, ties count
   against the match. The parameter count at the paper's sizes against PyTorch's. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"
#include "fixture.h"

static fixture fx;
static mmix_rng rng;

/* The fixture's sizes (make_fixtures.py RETRIEVAL_SIZES). */
enum { D = 16, DEPTH = 2, C = 6, B = 4 };

static const fixture_tensor *get(const char *what, const char *param) {
    char key[256];
    const fixture_tensor *t;
    snprintf(key, sizeof key, param ? "retrieval/%s/%s" : "retrieval/%s", what, param);
    t = fixture_get(&fx, key);
    CHECK(t != NULL, "fixture tensor %s is present", key);
    return t;
}

/* A step tensor holding a fixture tensor's values (float or int32). */
static mmix_tensor *from_fixture(mmix_ctx *ctx, const fixture_tensor *t) {
    mmix_shape s = mmix_shape0();
    mmix_tensor *x;
    int d;
    if (!t) return NULL;
    s.ndim = t->ndim;
    for (d = 0; d < t->ndim; d++) s.d[d] = t->dims[d];
    x = mmix_tensor_new(ctx, MMIX_STEP, t->is_int ? MMIX_I32 : MMIX_F32, s);
    if (x) memcpy(t->is_int ? (void *)x->ids : (void *)x->data, t->data, (size_t)t->n * 4);
    return x;
}

/* Whether a tensor's gradient is zero in exact arithmetic: the head's bias and the last
   block's patch_ff.2.bias shift every score alike, which the softmax ignores (reference-notes
   Sec. 19). Both sides compute rounding noise there, compared to the case's largest gradient. */
static int cancels(const mmix_retrieval_model *rm, const mmix_tensor *p) {
    return p == rm->head_b || p == rm->blocks[rm->depth - 1].ff_out_b;
}

/* The reference file loads as the fixture's model; forward, gradients and 3 AdamW steps match
   (AdamW eps 1e-3, as the fixture's RETRIEVAL_EPS: the noise of the cancelling gradients, and of
   each conv bias at the query's position, would take steps of the lr's size at 1e-8). */
static void parity(void) {
    mmix_ctx *ctx;
    mmix_retrieval_model rm;
    mmix_adamw opt;
    mmix_adamw_config acfg = mmix_adamw_config_default();
    mmix_tensor *loss, *scores;
    double e, worst = 0.0;
    int64_t i;
    int s;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_retrieval_model_load(ctx, &rm, "tests/reference/fixtures/retrieval_model.safetensors"));
    if (!rm.head_b) { mmix_ctx_destroy(ctx); return; }
    CHECK(rm.dim == D && rm.depth == DEPTH && rm.n_samples == C && rm.ffn_dim == 4 * D && rm.norm_eps == 1e-5f,
          "the reference file's sizes: dim %lld, depth %lld, n_samples %lld", (long long)rm.dim, (long long)rm.depth,
          (long long)rm.n_samples);
    CHECK(rm.params.count == 10 * DEPTH + 2 && rm.params.used == rm.params.numel &&
          rm.params.numel == mmix_retrieval_model_param_count(&rm),
          "%lld tensors, %lld weights (the count formula: %lld)", (long long)rm.params.count,
          (long long)rm.params.numel, (long long)mmix_retrieval_model_param_count(&rm));
    for (i = 0; i < rm.params.count; i++) {
        const mmix_tensor *p = rm.params.tensors[i];
        e = fixture_abs_err(p->data, p->n, get("param", p->name));
        CHECK(e == 0.0, "%s loads as the reference state_dict holds it (error %.3g)", p->name, e);
    }
    acfg.lr = 1e-2f;
    acfg.weight_decay = 0.01f;
    acfg.eps = 1e-3f;
    CHECK_OK(ctx, mmix_adamw_init(ctx, &opt, &rm.params, acfg));
    for (s = 0; s < 3; s++) {
        char step[32];
        double norm;
        float norm_f;
        mmix_zero_grad(ctx, &rm.params);
        loss = mmix_retrieval_model_loss(ctx, &rm, from_fixture(ctx, get("tokens", NULL)),
                                         from_fixture(ctx, fixture_get(&fx, "retrieval/labels")), &scores);
        CHECK(loss && mmix_backward(ctx, loss) == MMIX_OK, "step %d: %s", s, mmix_last_error(ctx));
        if (!loss) break;
        if (s == 0) {
            e = fixture_rel_err(scores->data, scores->n, get("logits", NULL));
            CHECK(scores->shape.ndim == 2 && scores->shape.d[0] == B && scores->shape.d[1] == C - 1 && e <= 1e-5,
                  "scores [%d, %d] vs torch, error %.3g", B, C - 1, e);
            e = fixture_rel_err(loss->data, 1, get("loss", NULL));
            CHECK(e <= 1e-5, "loss %.7g vs torch, error %.3g", (double)loss->data[0], e);
            printf("  retrieval scores vs torch %.2e, loss %.7g\n", fixture_rel_err(scores->data, scores->n,
                   get("logits", NULL)), (double)loss->data[0]);
            double largest = 0.0;
            for (i = 0; i < rm.params.count; i++) {
                const fixture_tensor *g = get("grad", rm.params.tensors[i]->name);
                int64_t j;
                for (j = 0; g && j < g->n; j++)
                    if (fabs(((const float *)g->data)[j]) > largest) largest = fabs(((const float *)g->data)[j]);
            }
            for (i = 0; i < rm.params.count; i++) {
                const mmix_tensor *p = rm.params.tensors[i];
                e = cancels(&rm, p) ? fixture_abs_err(p->grad, p->n, get("grad", p->name)) / largest
                                    : fixture_rel_err(p->grad, p->n, get("grad", p->name));
                CHECK(e <= 1e-5, "gradient of %s vs torch, error %.3g", p->name, e);
                if (e > worst) worst = e;
                if (cancels(&rm, p)) {
                    double own = 0.0;
                    int64_t j;
                    for (j = 0; j < p->n; j++) own = fabs(p->grad[j]) > own ? fabs(p->grad[j]) : own;
                    CHECK(own <= 1e-6 * largest, "%s shifts every score alike: its gradient %.3g is rounding beside "
                          "the largest %.3g", p->name, own, largest);
                }
            }
            printf("  retrieval gradients of %lld tensors vs torch, worst relative error %.2e\n",
                   (long long)rm.params.count, worst);
        }
        snprintf(step, sizeof step, "step%d", s);
        CHECK_OK(ctx, mmix_clip_grad_norm(ctx, &rm.params, 1.0f, &norm));
        norm_f = (float)norm;
        e = fixture_rel_err(loss->data, 1, get(step, "loss"));
        CHECK(e <= 1e-5, "%s loss vs torch, error %.3g", step, e);
        e = fixture_rel_err(&norm_f, 1, get(step, "norm"));
        CHECK(e <= 1e-5, "%s clip norm vs torch, error %.3g", step, e);
        CHECK_OK(ctx, mmix_adamw_step(ctx, &opt, mmix_schedule_lr(MMIX_SCHEDULE_LINEAR, 1e-2f, s, 1, 3)));
        mmix_step_reset(ctx);
    }
    worst = 0.0;
    for (i = 0; i < rm.params.count; i++) {
        const mmix_tensor *p = rm.params.tensors[i];
        e = fixture_abs_err(p->data, p->n, get("after", p->name));
        CHECK(e <= 1e-5, "%s after 3 AdamW steps vs torch, abs error %.3g", p->name, e);
        if (e > worst) worst = e;
    }
    printf("  retrieval weights after 3 AdamW steps vs torch, worst abs error %.2e\n", worst);
    mmix_ctx_destroy(ctx);
}

/* Embeddings [n, c, D] of one scale, the same every call. */
static mmix_tensor *embeddings(mmix_ctx *ctx, int64_t n, int64_t c, int64_t dim, uint64_t seed) {
    mmix_tensor *x = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape3(n, c, dim));
    mmix_rng r;
    int64_t i;
    mmix_rng_seed(&r, seed);
    for (i = 0; x && i < x->n; i++) x->data[i] = mmix_rng_normal(&r);
    return x;
}

/* Finite differences of the loss against the tape: every parameter tensor (a sample of its
   elements) and the embeddings, with weights of one scale so every gradient stands above
   float rounding (as test_models.c's model_gradcheck). A gradient that is zero in exact
   arithmetic (cancels()) leaves rounding alone in both derivatives: each tensor is judged
   against its own largest gradient, never below 1% of the largest of all. */
typedef struct gradcheck_user {
    const mmix_retrieval_model *rm;
    const int32_t *labels;
    mmix_tensor *x;             /* the embeddings */
} gradcheck_user;
static mmix_tensor *loss_fn(mmix_ctx *ctx, mmix_tensor *const *inputs, void *user) {
    const gradcheck_user *g = (const gradcheck_user *)user;
    mmix_tensor *labels = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape1(3));
    (void)inputs;
    if (labels) memcpy(labels->ids, g->labels, 3 * sizeof(int32_t));
    return labels ? mmix_retrieval_model_loss(ctx, g->rm, g->x, labels, NULL) : NULL;
}
static void gradcheck(void) {
    enum { N_MAX = 10 * 2 + 3 };
    mmix_ctx *ctx;
    mmix_retrieval_model rm;
    mmix_gradcheck_options opt = mmix_gradcheck_options_default();
    gradcheck_user g;
    const int32_t labels[3] = {0, 4, 2};
    double diff[N_MAX], scale[N_MAX], largest = 0.0, worst = 0.0;
    mmix_tensor *checked_tensor[N_MAX];
    int64_t i, j, n = 0, checked = 0, failed = 0, worst_at = 0, ran = 1;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_retrieval_model_create(ctx, &rm, 8, 2, C));
    g.x = mmix_tensor_new(ctx, MMIX_PERSIST, MMIX_F32, mmix_shape3(3, C, 8));
    if (!rm.head_b || !g.x || rm.params.count + 1 > N_MAX) { mmix_ctx_destroy(ctx); return; }
    for (i = 0; i < rm.params.numel; i++) rm.params.data[i] = 0.8f * mmix_rng_uniform(&rng) - 0.4f;
    for (i = 0; i < g.x->n; i++) g.x->data[i] = mmix_rng_normal(&rng);
    CHECK_OK(ctx, mmix_set_requires_grad(ctx, g.x, 1)); /* the embeddings' gradient a caller may want */
    g.rm = &rm;
    g.labels = labels;
    opt.max_elements = 24;
    opt.step = 1.0f / 32;      /* a whole float32 model: its rounding, not the stencil, limits smaller steps */
    opt.tolerance = 5e-2;      /* the ops are checked at 1e-3 (test_ops); a wrong backward is O(1) off */
    opt.seed = 3;
    for (n = 0; n <= rm.params.count; n++) { /* the parameters, then the embeddings */
        mmix_tensor *p = n < rm.params.count ? rm.params.tensors[n] : g.x;
        mmix_gradcheck_report rep;
        memset(&rep, 0, sizeof rep);
        ran &= mmix_gradcheck(ctx, loss_fn, &g, &p, 1, &opt, &rep) == MMIX_OK && rep.checked > 0;
        checked += rep.checked;
        checked_tensor[n] = p;
        diff[n] = fabs(rep.worst_analytic - rep.worst_numeric);
        scale[n] = 0.0;
        for (j = 0; j < p->n; j++) scale[n] = fabs(p->grad[j]) > scale[n] ? fabs(p->grad[j]) : scale[n];
        largest = scale[n] > largest ? scale[n] : largest;
    }
    for (i = 0; i < n; i++) {
        double e = diff[i] / (scale[i] > 1e-2 * largest ? scale[i] : 1e-2 * largest);
        failed += e > opt.tolerance;
        if (e > worst) { worst = e; worst_at = i; }
    }
    CHECK(ran && failed == 0 && checked > 0, "finite differences of the loss match the tape for all %lld parameter "
          "tensors and the embeddings (%lld elements, worst %.3g in %s)", (long long)rm.params.count,
          (long long)checked, worst, checked_tensor[worst_at] == g.x ? "the embeddings" : checked_tensor[worst_at]->name);
    printf("  retrieval gradient check: %lld elements, worst relative error %.2e (%s)\n", (long long)checked, worst,
           checked_tensor[worst_at] == g.x ? "the embeddings" : checked_tensor[worst_at]->name);
    mmix_ctx_destroy(ctx);
}

/* No mask (paper Fig. 9): changing the embedding at any position t, the query's (t = 0)
   included, changes every candidate's score, in every item it is changed in and in no other. */
static void every_position_counts(void) {
    mmix_ctx *ctx;
    mmix_retrieval_model rm;
    mmix_tensor *x, *a, *b;
    int64_t t, j, moved = 0, other_item_moved = 0;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_retrieval_model_create(ctx, &rm, D, DEPTH, C));
    if (!rm.head_b) { mmix_ctx_destroy(ctx); return; }
    mmix_retrieval_model_init(&rm, &rng);
    mmix_set_grad_enabled(ctx, 0);
    for (t = 0; t < C; t++) {
        x = embeddings(ctx, 2, C, D, 11);
        a = mmix_retrieval_model_scores(ctx, &rm, x);
        if (!a) break;
        x->data[t * D + 3] += 0.5f; /* item 0, position t, one feature */
        b = mmix_retrieval_model_scores(ctx, &rm, x);
        if (!b) break;
        for (j = 0; j < C - 1; j++) moved += a->data[j] != b->data[j];
        for (j = C - 1; j < 2 * (C - 1); j++) other_item_moved += a->data[j] != b->data[j];
        mmix_step_reset(ctx);
    }
    CHECK(t == C && moved == C * (C - 1), "a change at any of the %d positions moves all %d scores: %lld of %d moved",
          C, C - 1, (long long)moved, C * (C - 1));
    CHECK(t == C && other_item_moved == 0, "the other item's scores are bit-identical (%lld moved)",
          (long long)other_item_moved);
    mmix_ctx_destroy(ctx);
}

/* The scores at equal embeddings are equal, whatever the weights: a constant-score model's
   loss is chance, ln(c - 1). */
static void chance(void) {
    mmix_ctx *ctx;
    mmix_retrieval_model rm;
    mmix_tensor *x, *labels, *loss;
    int64_t i;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_retrieval_model_create(ctx, &rm, D, DEPTH, C));
    if (!rm.head_b) { mmix_ctx_destroy(ctx); return; }
    mmix_retrieval_model_init(&rm, &rng);
    /* conv rows that are all equal, biases too: every candidate position computes the same */
    for (i = 0; i < DEPTH; i++) {
        mmix_init_constant(rm.blocks[i].conv_w, 0.1f);
        mmix_init_constant(rm.blocks[i].conv_b, -0.2f);
    }
    x = embeddings(ctx, 1, C, D, 3);
    for (i = 2 * D; x && i < x->n; i++) x->data[i] = x->data[D + i % D]; /* every candidate the same */
    labels = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape1(1));
    if (labels) labels->ids[0] = 2;
    loss = mmix_retrieval_model_loss(ctx, &rm, x, labels, NULL);
    CHECK(loss && fabs(loss->data[0] - log((double)(C - 1))) < 1e-5, "equal candidates: the loss is ln(c - 1) = %.6f "
          "(%.6f)", log((double)(C - 1)), loss ? (double)loss->data[0] : -1.0);
    mmix_ctx_destroy(ctx);
}

/* Save -> load: the same weights, bit for bit, the same scores; the metadata says the sizes. */
static void round_trip(void) {
    const char *path = "build/test_retrieval_model.safetensors";
    mmix_ctx *ctx;
    mmix_retrieval_model rm, back;
    mmix_safetensors st;
    mmix_tensor *x, *a, *b;
    int64_t i, same = 0;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_retrieval_model_create(ctx, &rm, D, 3, 7));
    if (!rm.head_b) { mmix_ctx_destroy(ctx); return; }
    mmix_retrieval_model_init(&rm, &rng);
    rm.norm_eps = 1e-6f;
    CHECK_OK(ctx, mmix_retrieval_model_save(ctx, &rm, path));
    CHECK_OK(ctx, mmix_retrieval_model_load(ctx, &back, path));
    if (!back.head_b) { mmix_ctx_destroy(ctx); return; }
    CHECK(back.dim == D && back.depth == 3 && back.n_samples == 7 && back.norm_eps == 1e-6f &&
          back.params.count == rm.params.count, "the loaded model's sizes and eps are the saved one's");
    for (i = 0; i < rm.params.count; i++)
        same += strcmp(rm.params.tensors[i]->name, back.params.tensors[i]->name) == 0 &&
                memcmp(rm.params.tensors[i]->data, back.params.tensors[i]->data, (size_t)rm.params.tensors[i]->n * 4) == 0;
    CHECK(same == rm.params.count, "every tensor comes back with its name and its bits (%lld of %lld)", (long long)same,
          (long long)rm.params.count);
    x = embeddings(ctx, 2, 7, D, 9);
    a = mmix_retrieval_model_scores(ctx, &rm, x);
    b = mmix_retrieval_model_scores(ctx, &back, x);
    CHECK(a && b && memcmp(a->data, b->data, (size_t)a->n * 4) == 0, "the loaded model's scores are bit-identical");
    if (mmix_safetensors_open(ctx, path, &st) == MMIX_OK) {
        const char *v[4];
        v[0] = mmix_safetensors_meta(&st, "mmix_model");
        v[1] = mmix_safetensors_meta(&st, "dim");
        v[2] = mmix_safetensors_meta(&st, "depth");
        v[3] = mmix_safetensors_meta(&st, "n_samples");
        CHECK(v[0] && strcmp(v[0], "retrieval-mixer") == 0 && v[1] && strcmp(v[1], "16") == 0 && v[2] &&
              strcmp(v[2], "3") == 0 && v[3] && strcmp(v[3], "7") == 0,
              "metadata mmix_model, dim, depth, n_samples are written");
        CHECK(mmix_safetensors_find(&st, "mixerblocks.2.conv.weight") && mmix_safetensors_find(&st, "mixerblocks.2.conv.weight")->shape[0] == 7 &&
              mmix_safetensors_find(&st, "retrieval_head.weight") && mmix_safetensors_find(&st, "retrieval_head.bias"),
              "the reference's names and shapes are written");
        mmix_safetensors_close(&st);
    }
    mmix_ctx_destroy(ctx);
}

/* A load that must fail with `code` and a message containing `words`. */
static void refused(const char *path, mmix_result code, const char *words, const char *why) {
    mmix_ctx *ctx;
    mmix_retrieval_model rm;
    mmix_result r;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    r = mmix_retrieval_model_load(ctx, &rm, path);
    CHECK(r == code && strstr(mmix_last_error(ctx), words) != NULL, "%s is refused (%s, want %s): \"%s\" names '%s'",
          why, mmix_result_str(r), mmix_result_str(code), mmix_last_error(ctx), words);
    mmix_ctx_destroy(ctx);
}

/* Files and inputs that are not the model's: each an error that says what is wrong. */
static void bad_files_and_inputs(void) {
    const char *path = "build/test_retrieval_bad.safetensors";
    mmix_ctx *ctx;
    mmix_retrieval_model rm;
    mmix_tensor *list[32], *wrong, *x, *labels;
    const char *names[32];
    const char *k_wrong[] = {"n_samples"}, *v_wrong[] = {"7"};
    mmix_model lm;
    mmix_model_config lc;
    int64_t i, n;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_retrieval_model_create(ctx, &rm, D, DEPTH, C));
    if (!rm.head_b) { mmix_ctx_destroy(ctx); return; }
    mmix_retrieval_model_init(&rm, &rng);
    n = rm.params.count;
    for (i = 0; i < n; i++) { list[i] = rm.params.tensors[i]; names[i] = list[i]->name; }
    /* the last tensor left out */
    CHECK_OK(ctx, mmix_safetensors_write(ctx, path, list, names, n - 1, NULL, NULL, 0));
    refused(path, MMIX_ERR_FORMAT, "'retrieval_head.bias' of the retrieval mixer is missing", "a file without the head's bias");
    /* one tensor more */
    list[n] = rm.head_b;
    names[n] = "retrieval_head.extra";
    CHECK_OK(ctx, mmix_safetensors_write(ctx, path, list, names, n + 1, NULL, NULL, 0));
    refused(path, MMIX_ERR_FORMAT, "unknown tensor 'retrieval_head.extra'", "a file with an unknown tensor");
    /* a misshapen tensor: block 1's conv bias of c + 1 entries */
    wrong = mmix_tensor_new(ctx, MMIX_PERSIST, MMIX_F32, mmix_shape1(C + 1));
    for (i = 0; i < n; i++) if (strcmp(names[i], "mixerblocks.1.conv.bias") == 0) list[i] = wrong;
    CHECK_OK(ctx, mmix_safetensors_write(ctx, path, list, names, n, NULL, NULL, 0));
    refused(path, MMIX_ERR_SHAPE, "'mixerblocks.1.conv.bias' has shape [7]", "a misshapen tensor");
    for (i = 0; i < n; i++) list[i] = rm.params.tensors[i];
    /* a conv over the samples that is not square */
    wrong = mmix_tensor_new(ctx, MMIX_PERSIST, MMIX_F32, mmix_shape3(C, C, 2));
    list[8] = wrong; /* mixerblocks.0.conv.weight */
    CHECK(strcmp(names[8], "mixerblocks.0.conv.weight") == 0, "tensor 8 is block 0's conv weight (%s)", names[8]);
    CHECK_OK(ctx, mmix_safetensors_write(ctx, path, list, names, n, NULL, NULL, 0));
    refused(path, MMIX_ERR_SHAPE, "'mixerblocks.0.conv.weight' must be [c, c, 1]", "a conv with kernel 2");
    list[8] = rm.params.tensors[8];
    /* metadata that contradicts the tensors */
    CHECK_OK(ctx, mmix_safetensors_write(ctx, path, list, names, n, k_wrong, v_wrong, 1));
    refused(path, MMIX_ERR_FORMAT, "metadata n_samples = 7, but the tensors say 6", "contradicting metadata");
    /* a language model's files: the reference's, and ours */
    refused("tests/reference/fixtures/mixer_k1.safetensors", MMIX_ERR_FORMAT, "'retrieval_head.weight' is missing",
            "a LanguageMixer state_dict");
    lc = mmix_model_config_default(MMIX_ARCH_MIXER);
    lc.vocab = 11; lc.dim = 8; lc.ffn_dim = 32; lc.depth = 1; lc.n_ctx = 4;
    CHECK_OK(ctx, mmix_model_create(ctx, &lm, lc));
    CHECK_OK(ctx, mmix_model_save(ctx, &lm, path, -1));
    refused(path, MMIX_ERR_FORMAT, "a language model's file (mmix_arch mixer)", "our language model's file");
    refused("build/no_such_retrieval_model.safetensors", MMIX_ERR_FILE_NOT_FOUND, "no_such_retrieval_model",
            "a missing file");
    /* bad sizes and inputs */
    {
        mmix_retrieval_model bad;
        CHECK(mmix_retrieval_model_create(ctx, &bad, D, DEPTH, 1) == MMIX_ERR_INVALID_ARGUMENT &&
              strstr(mmix_last_error(ctx), "n_samples at least 2"), "n_samples 1 is refused: %s", mmix_last_error(ctx));
        mmix_clear_error(ctx);
        CHECK(mmix_retrieval_model_create(ctx, &bad, 0, DEPTH, C) == MMIX_ERR_INVALID_ARGUMENT, "dim 0 is refused");
        mmix_clear_error(ctx);
    }
    x = embeddings(ctx, 2, C + 1, D, 1);
    CHECK(!mmix_retrieval_model_scores(ctx, &rm, x) && mmix_last_result(ctx) == MMIX_ERR_SHAPE &&
          strstr(mmix_last_error(ctx), "[2, 7, 16] must be [batch, n_samples = 6, dim = 16]"),
          "embeddings of another c are refused: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    x = embeddings(ctx, 2, C, D, 1);
    labels = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape1(3));
    CHECK(!mmix_retrieval_model_loss(ctx, &rm, x, labels, NULL) && mmix_last_result(ctx) == MMIX_ERR_SHAPE &&
          strstr(mmix_last_error(ctx), "labels [3] must be [batch = 2]"), "labels of another batch are refused: %s",
          mmix_last_error(ctx));
    mmix_clear_error(ctx);
    labels = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape1(2));
    labels->ids[1] = C - 1; /* class c - 1 is the query's position's: no candidate */
    CHECK(!mmix_retrieval_model_loss(ctx, &rm, x, labels, NULL) && mmix_last_result(ctx) == MMIX_ERR_RANGE,
          "a label outside [0, c - 1) is refused: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    mmix_ctx_destroy(ctx);
}

/* The batch builder on embeddings that say whose they are: Q[i] = (i, 0.5, ...), T[i] =
   (1000 + i, ...), so each row of a batch names its pool index. In every item: slot 0 is the
   query, the label points at its own target, which appears exactly once, and no other target
   appears twice; every label value occurs; the same seed gives the same batch. */
static void batches(void) {
    enum { N = 40, W = 3, NB = 64, NC = 8 };
    mmix_ctx *ctx;
    mmix_retrieval_sampler sampler;
    mmix_rng r1, r2;
    mmix_tensor *x, *labels, *x2, *labels2;
    static float Q[N * W], T[N * W];
    int64_t items[NB], i, b, j, k, bad_query = 0, bad_label = 0, own_not_once = 0, duplicates = 0, not_target = 0;
    int64_t label_seen[NC - 1] = {0}, labels_covered = 0;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    for (i = 0; i < N; i++)
        for (j = 0; j < W; j++) {
            Q[i * W + j] = j == 0 ? (float)i : 0.5f;
            T[i * W + j] = j == 0 ? (float)(1000 + i) : -0.5f;
        }
    for (b = 0; b < NB; b++) items[b] = (b * 7) % N;
    CHECK_OK(ctx, mmix_retrieval_sampler_init(ctx, &sampler, N));
    mmix_rng_seed(&r1, 8);
    CHECK_OK(ctx, mmix_retrieval_batch(ctx, &sampler, &r1, Q, T, W, items, NB, NC, &x, &labels));
    if (!x || !labels) { mmix_retrieval_sampler_free(&sampler); mmix_ctx_destroy(ctx); return; }
    CHECK(x->shape.ndim == 3 && x->shape.d[0] == NB && x->shape.d[1] == NC && x->shape.d[2] == W &&
          labels->shape.ndim == 1 && labels->shape.d[0] == NB, "x [%d, %d, %d], labels [%d]", NB, NC, W, NB);
    for (b = 0; b < NB; b++) {
        const float *item = x->data + b * NC * W;
        int64_t own = 0, label = labels->ids[b];
        bad_query += item[0] != (float)items[b] || item[1] != 0.5f;
        bad_label += label < 0 || label >= NC - 1 || item[(label + 1) * W] != (float)(1000 + items[b]);
        for (j = 1; j < NC; j++) {
            own += item[j * W] == (float)(1000 + items[b]);
            not_target += item[j * W] < 1000.0f || item[j * W] >= 1000.0f + N || item[j * W + 2] != -0.5f;
            for (k = 1; k < j; k++) duplicates += item[j * W] == item[k * W];
        }
        own_not_once += own != 1;
        if (label >= 0 && label < NC - 1) label_seen[label]++;
    }
    for (j = 0; j < NC - 1; j++) labels_covered += label_seen[j] > 0;
    CHECK(bad_query == 0, "slot 0 of every item is its query (%lld wrong)", (long long)bad_query);
    CHECK(bad_label == 0, "every label m - 1 points at the item's own target (%lld wrong)", (long long)bad_label);
    CHECK(own_not_once == 0, "the query's own target appears exactly once among the candidates (%lld items not)",
          (long long)own_not_once);
    CHECK(duplicates == 0 && not_target == 0, "the candidates are distinct targets of the pool (%lld duplicates, %lld "
          "other rows)", (long long)duplicates, (long long)not_target);
    CHECK(labels_covered == NC - 1, "every label 0..%d occurs in %d items (%lld do)", NC - 2, NB,
          (long long)labels_covered);
    mmix_rng_seed(&r2, 8);
    CHECK_OK(ctx, mmix_retrieval_batch(ctx, &sampler, &r2, Q, T, W, items, NB, NC, &x2, &labels2));
    CHECK(x2 && labels2 && memcmp(x->data, x2->data, (size_t)x->n * 4) == 0 &&
          memcmp(labels->ids, labels2->ids, (size_t)NB * 4) == 0, "the same seed draws the same batch");
    CHECK_OK(ctx, mmix_retrieval_batch(ctx, &sampler, &r2, Q, T, W, items, NB, NC, &x2, &labels2));
    CHECK(x2 && memcmp(x->data, x2->data, (size_t)x->n * 4) != 0, "the next call draws new candidates");
    items[3] = N;
    CHECK(mmix_retrieval_batch(ctx, &sampler, &r2, Q, T, W, items, NB, NC, &x2, &labels2) == MMIX_ERR_RANGE && !x2 &&
          strstr(mmix_last_error(ctx), "item 3 is 40, outside the pool [0, 40)"), "an item outside the pool is "
          "refused: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    items[3] = 0;
    CHECK(mmix_retrieval_batch(ctx, &sampler, &r2, Q, T, W, items, NB, N + 1, &x2, &labels2) ==
          MMIX_ERR_INVALID_ARGUMENT, "more candidates than the pool holds are refused: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    mmix_retrieval_sampler_free(&sampler);
    mmix_ctx_destroy(ctx);
}

/* The evaluation: on a small pool and a random model, top-1, MRR@10, recall@10 and the loss
   equal those recomputed query by query from the draws of mmix_retrieval_evaluate (the seed
   of (seed, n = c, query) and mmix_retrieval_draw), in uneven batches; equal scores rank
   the match last (ties count against it); a pool smaller than c is skipped. */
static void evaluation(void) {
    enum { POOL = 30 };
    mmix_ctx *ctx;
    mmix_retrieval_model rm;
    mmix_retrieval_sampler sampler;
    mmix_retrieval_result res, tied;
    static float Q[POOL * D], T[POOL * D];
    int64_t i, j, slots[C];
    double top1 = 0.0, mrr = 0.0, recall = 0.0, total = 0.0, loss = -1.0, tied_loss = -1.0;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    for (i = 0; i < POOL * D; i++) { Q[i] = mmix_rng_normal(&rng); T[i] = mmix_rng_normal(&rng); }
    CHECK_OK(ctx, mmix_retrieval_model_create(ctx, &rm, D, DEPTH, C));
    CHECK_OK(ctx, mmix_retrieval_sampler_init(ctx, &sampler, POOL));
    if (!rm.head_b || !sampler.perm) { mmix_retrieval_sampler_free(&sampler); mmix_ctx_destroy(ctx); return; }
    mmix_retrieval_model_init(&rm, &rng);
    CHECK_OK(ctx, mmix_retrieval_model_evaluate(ctx, &rm, Q, T, POOL, 77, 7, &res, &loss, NULL, NULL));
    mmix_set_grad_enabled(ctx, 0);
    for (i = 0; i < POOL; i++) {
        mmix_rng r;
        mmix_tensor *x = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape3(1, C, D)), *labels, *l, *sc;
        int64_t m, rank = 1;
        mmix_rng_seed(&r, mmix__retrieval_draw_seed(77, C, i));
        m = mmix_retrieval_draw(&sampler, &r, i, C, slots);
        memcpy(x->data, Q + i * D, D * sizeof(float));
        for (j = 1; j < C; j++) memcpy(x->data + j * D, T + slots[j] * D, D * sizeof(float));
        labels = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape1(1));
        labels->ids[0] = (int32_t)(m - 1);
        l = mmix_retrieval_model_loss(ctx, &rm, x, labels, &sc);
        if (!l) break;
        for (j = 0; j < C - 1; j++) rank += j != m - 1 && !(sc->data[j] < sc->data[m - 1]);
        top1 += rank == 1;
        recall += rank <= 10;
        mrr += rank <= 10 ? 1.0 / (double)rank : 0.0;
        total += l->data[0];
        mmix_step_reset(ctx);
    }
    mmix_set_grad_enabled(ctx, 1);
    CHECK(i == POOL && res.n == C && res.queries == POOL && res.top1 == top1 / POOL && res.mrr10 == mrr / POOL &&
          res.recall10 == recall / POOL && fabs(loss - total / POOL) < 1e-5,
          "the evaluation is its draws' ranks and losses (top-1 %.4f vs %.4f, MRR@10 %.4f vs %.4f, loss %.6f vs %.6f)",
          res.top1, top1 / POOL, res.mrr10, mrr / POOL, loss, total / POOL);
    CHECK(mmix_grad_enabled(ctx), "the evaluation leaves gradient recording as it found it");
    /* a head that ignores its input: every score equal, so the match ranks last of c - 1 = 5 */
    mmix_init_constant(rm.head_w, 0.0f);
    CHECK_OK(ctx, mmix_retrieval_model_evaluate(ctx, &rm, Q, T, POOL, 77, 64, &tied, &tied_loss, NULL, NULL));
    CHECK(tied.queries == POOL && tied.top1 == 0.0 && tied.recall10 == 1.0 && fabs(tied.mrr10 - 0.2) < 1e-12 &&
          fabs(tied_loss - log(5.0)) < 1e-5, "equal scores: the match ranks 5th of 5 (top-1 %.3f, MRR@10 %.3f), the loss "
          "is ln 5 (%.6f)", tied.top1, tied.mrr10, tied_loss);
    CHECK_OK(ctx, mmix_retrieval_model_evaluate(ctx, &rm, Q, T, C - 1, 77, 8, &tied, NULL, NULL, NULL));
    CHECK(tied.n == C && tied.queries == 0, "a pool smaller than c is skipped (%lld queries)", (long long)tied.queries);
    mmix_retrieval_sampler_free(&sampler);
    mmix_ctx_destroy(ctx);
}

/* A synthetic set whose answer is known: queries random unit vectors, each target its query
   plus noise, renormalized. Trained on the first 3/4 of the pool with batches of
   mmix_retrieval_batch (AdamW, warmup and linear decay, clipping), the model must rank the
   match first for held-out queries among candidates drawn from the held-out quarter far
   more often than chance 1/(c-1), and its held-out loss must fall below half of ln(c-1). */
static void unit_rows(float *v, int64_t n, int64_t w) {
    int64_t i, j;
    for (i = 0; i < n; i++) {
        double s = 0.0;
        for (j = 0; j < w; j++) s += (double)v[i * w + j] * v[i * w + j];
        for (j = 0; j < w; j++) v[i * w + j] = (float)(v[i * w + j] / sqrt(s));
    }
}
static void learns(void) {
    enum { N = 512, W = 16, NC = 8, BATCH = 16, STEPS = 300, HELD = N / 4 };
    mmix_ctx *ctx;
    mmix_retrieval_model rm;
    mmix_retrieval_sampler train_pool, held_pool;
    mmix_adamw opt;
    mmix_adamw_config acfg = mmix_adamw_config_default();
    mmix_tensor *x, *labels, *scores, *loss, *guess;
    static float Q[N * W], T[N * W];
    int64_t items[HELD], i, s, right = 0;
    double first_loss = 0.0, held_loss = 0.0, chance = log((double)(NC - 1)), t0;
    float lr = 3e-3f;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    for (i = 0; i < N * W; i++) Q[i] = mmix_rng_normal(&rng);
    unit_rows(Q, N, W);
    for (i = 0; i < N * W; i++) T[i] = Q[i] + 0.5f * mmix_rng_normal(&rng) / 4.0f; /* noise of norm about 0.5 */
    unit_rows(T, N, W);
    CHECK_OK(ctx, mmix_retrieval_model_create(ctx, &rm, W, 2, NC));
    CHECK_OK(ctx, mmix_retrieval_sampler_init(ctx, &train_pool, N - HELD));
    CHECK_OK(ctx, mmix_retrieval_sampler_init(ctx, &held_pool, HELD));
    if (!rm.head_b || !train_pool.perm || !held_pool.perm) goto done;
    mmix_retrieval_model_init(&rm, &rng);
    acfg.lr = lr;
    acfg.weight_decay = 0.0f;
    CHECK_OK(ctx, mmix_adamw_init(ctx, &opt, &rm.params, acfg));
    t0 = mmix_time_seconds();
    for (s = 0; s < STEPS; s++) {
        for (i = 0; i < BATCH; i++) items[i] = (int64_t)mmix_rng_below(&rng, N - HELD);
        if (mmix_retrieval_batch(ctx, &train_pool, &rng, Q, T, W, items, BATCH, NC, &x, &labels) != MMIX_OK) break;
        mmix_zero_grad(ctx, &rm.params);
        loss = mmix_retrieval_model_loss(ctx, &rm, x, labels, NULL);
        if (!loss || mmix_backward(ctx, loss) != MMIX_OK) break;
        if (s == 0) first_loss = loss->data[0];
        if (mmix_clip_grad_norm(ctx, &rm.params, 1.0f, NULL) != MMIX_OK ||
            mmix_adamw_step(ctx, &opt, mmix_schedule_lr(MMIX_SCHEDULE_LINEAR, lr, s, STEPS / 10, STEPS)) != MMIX_OK)
            break;
        mmix_step_reset(ctx);
    }
    CHECK(s == STEPS, "%d training steps ran: %s", STEPS, mmix_last_error(ctx));
    /* the held-out quarter: its own queries, candidates from it alone (rows N - HELD.. of Q, T) */
    for (i = 0; i < HELD; i++) items[i] = i;
    mmix_set_grad_enabled(ctx, 0);
    if (mmix_retrieval_batch(ctx, &held_pool, &rng, Q + (N - HELD) * W, T + (N - HELD) * W, W, items, HELD, NC, &x,
                             &labels) == MMIX_OK &&
        (loss = mmix_retrieval_model_loss(ctx, &rm, x, labels, &scores)) != NULL &&
        (guess = mmix_argmax(ctx, scores)) != NULL) {
        held_loss = loss->data[0];
        for (i = 0; i < HELD; i++) right += guess->ids[i] == labels->ids[i];
    }
    printf("  retrieval training: %d steps (%.1f steps/s), first loss %.3f, held-out loss %.3f (chance ln %d = %.3f), "
           "held-out top-1 %.1f%% (chance %.1f%%)\n", STEPS, STEPS / (mmix_time_seconds() - t0), first_loss,
           held_loss, NC - 1, chance, 100.0 * right / HELD, 100.0 / (NC - 1));
    CHECK(right >= HELD * 6 / 10, "held-out top-1 accuracy %lld of %d, at least 60%% (chance %.0f%%)", (long long)right,
          HELD, 100.0 / (NC - 1));
    CHECK(held_loss > 0.0 && held_loss < chance / 2, "held-out loss %.3f below half of chance %.3f", held_loss, chance);
    { /* the same held-out quarter through the evaluation's fixed draws */
        mmix_retrieval_result res;
        double eval_loss = -1.0;
        CHECK_OK(ctx, mmix_retrieval_model_evaluate(ctx, &rm, Q + (N - HELD) * W, T + (N - HELD) * W, HELD, 0, 50,
                                                    &res, &eval_loss, NULL, NULL));
        printf("  retrieval evaluation of the held-out quarter (n = %d, seed 0): top-1 %.1f%%, MRR@10 %.1f%%, "
               "loss %.3f\n", NC, 100.0 * res.top1, 100.0 * res.mrr10, eval_loss);
        CHECK(res.queries == HELD && res.top1 >= 0.6 && eval_loss < chance / 2,
              "mmix_retrieval_model_evaluate agrees: top-1 %.3f, loss %.3f", res.top1, eval_loss);
    }
done:
    mmix_retrieval_sampler_free(&train_pool);
    mmix_retrieval_sampler_free(&held_pool);
    mmix_ctx_destroy(ctx);
}

/* The count formula at the paper's sizes, against PyTorch's sum of numel() of
   RefRetrievalMixer(D, depth, c).parameters() (FineMath's 1024, 8, 32; TinyStories' 512, 8, 512;
   and 256, 8, 32): no model is made. */
static void param_counts(void) {
    static const int64_t sizes[3][4] = {{1024, 8, 32, 67192065}, {512, 8, 512, 18915841}, {256, 8, 32, 4221441}};
    int k;
    for (k = 0; k < 3; k++) {
        mmix_retrieval_model rm;
        memset(&rm, 0, sizeof rm);
        rm.dim = sizes[k][0];
        rm.depth = sizes[k][1];
        rm.n_samples = sizes[k][2];
        rm.ffn_dim = 4 * rm.dim;
        CHECK(mmix_retrieval_model_param_count(&rm) == sizes[k][3], "RetrievalMixer(%lld, %lld, %lld) has %lld weights "
              "(torch: %lld)", (long long)sizes[k][0], (long long)sizes[k][1], (long long)sizes[k][2],
              (long long)mmix_retrieval_model_param_count(&rm), (long long)sizes[k][3]);
    }
}

int main(void) {
    char err[256];
    mmix_rng_seed(&rng, 19);
    if (!fixture_load("tests/reference/fixtures/retrieval_model.bin", &fx, err, sizeof err)) {
        CHECK(0, "fixture: %s", err);
        return test_summary("test_retrieval_model");
    }
    parity();
    fixture_free(&fx);
    param_counts();
    gradcheck();
    every_position_counts();
    chance();
    round_trip();
    bad_files_and_inputs();
    batches();
    evaluation();
    learns();
    return test_summary("test_retrieval_model");
}
