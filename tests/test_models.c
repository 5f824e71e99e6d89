/* tests/test_models.c - the flat masked mixer (k = 1 and k = 4) and the Llama-style
   transformer (H = 4) against the PyTorch reference models of make_fixtures.py: logits,
   loss, every parameter gradient, and three AdamW steps with warmup, linear decay, weight
   decay and clipping. Tolerances: loss 1e-5 relative; logits and gradients 1e-5 relative
   to the tensor's largest magnitude; weights after the steps 1e-5 absolute. The same for
   the zoo.bin models (every other architecture); there, gradients that cancel by the model's
   structure are compared to the case's largest gradient (parity_with; reference-notes Sec.
   13, 14), and weights whose gradient is rounding noise are held to the summed learning
   rates (after_err). And the softmax mixer's weight projection and its side effects
   (reference-notes Sec. 2d).
   Also: causality of every architecture (its objective's promise), parameter counts against the reference state_dicts
   (docs/reference-notes.md Sec. 3, 8), input errors. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"
#include "fixture.h"

static fixture fx;
static mmix_rng rng;

/* A fixture tensor that must be there: a missing key is a failed check, never a pass. */
static const fixture_tensor *get(const char *case_name, const char *what, const char *param) {
    return fixture_need(&fx, case_name, what, param);
}

static mmix_model_config small_config(mmix_arch arch, int64_t kernel) {
    mmix_model_config c = mmix_model_config_default(arch);
    c.vocab = 37;
    c.dim = 16;
    c.depth = 2;
    c.n_ctx = 8;
    c.kernel = kernel;
    c.heads = 4;
    c.ffn_dim = 64;
    return c;
}

/* A model whose every parameter is set from the fixture's state_dict, by name. */
static int load_params(const mmix_model *m, const char *case_name) {
    int64_t i, loaded = 0;
    for (i = 0; i < m->params.count; i++) {
        mmix_tensor *p = m->params.tensors[i];
        const fixture_tensor *t = get(case_name, "param", p->name);
        CHECK(t && t->n == p->n, "%s: parameter %s is in the reference state_dict with the same size", case_name, p->name);
        if (t && t->n == p->n) {
            memcpy(p->data, t->data, (size_t)p->n * 4);
            loaded++;
        }
    }
    return loaded == m->params.count;
}

static const char *tokens_case = "mixer_k1"; /* whose tokens the loaded fixture file holds */
static mmix_tensor *tokens(mmix_ctx *ctx) {
    const fixture_tensor *t = get(tokens_case, "tokens", NULL);
    mmix_tensor *ids;
    if (!t) return NULL;
    ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(t->dims[0], t->dims[1]));
    if (ids) memcpy(ids->ids, t->data, (size_t)t->n * 4);
    return ids;
}

/* Largest |ours - ref| of a weight after the 3 AdamW steps. Adam's step is g / (|g| + eps)
   times lr, so an element whose gradient is tiny moves by up to lr in whichever direction,
   and by how much, its float rounding decides: a gradient that is zero in exact arithmetic
   but rounding noise in floats (about 1e-10: the bidirectional mixer's reverse-conv bias at
   the last position, a constant shift of one token row that reaches the loss only through
   LayerNorms, which remove it), or one so small (1e-7 beside 5e-2) that the errors the
   gradient check allows (1e-5 of the tensor's largest) are a large part of it. Such elements
   (a reference gradient not 0 but below that tolerance, 1e-5 of the tensor's largest; an
   exact 0 stays an exact check) are held only to the summed learning rates, 1.5e-2 (lr 1e-2
   then 5e-3; step 0's is 0), and counted in *noise. */
static double after_err(const mmix_tensor *p, const fixture_tensor *after, const fixture_tensor *grad, int64_t *noise) {
    const float *g = grad && !grad->is_int && grad->n == p->n ? (const float *)grad->data : NULL;
    double scale = 0.0, err = 0.0, d;
    int64_t i;
    if (!after || !g) return fixture_abs_err(p->data, p->n, after);
    for (i = 0; i < p->n; i++) if (fabs(g[i]) > scale) scale = fabs(g[i]);
    for (i = 0; i < p->n && after->n == p->n; i++) {
        d = fabs((double)p->data[i] - ((const float *)after->data)[i]);
        if (g[i] != 0.0f && fabs(g[i]) <= 1e-5 * scale) {
            (*noise)++;
            if (!(d <= 1.5e-2)) return 1e30;
        } else if (!(d <= err)) err = d;
    }
    return after->n == p->n ? err : 1e30;
}


/* parity with AdamW's epsilon eps (the fixture's) and a NULL-terminated list of tensors
   whose gradients cancel ("*" in a pattern: any run of characters): zero, or nearly, in
   exact arithmetic by the model's structure (reference-notes Sec. 13, 14), so both sides
   compute rounding noise of the gradients that flow through them. Those are compared to
   1e-5 of the case's largest reference gradient rather than of their own. */
static void parity_with(const char *case_name, mmix_model_config cfg, float eps, const char *const *cancelling);
static void parity(const char *case_name, mmix_model_config cfg) { parity_with(case_name, cfg, 1e-8f, NULL); }

/* Whether name matches pattern, whose one optional '*' stands for any run of characters. */
static int name_matches(const char *name, const char *pattern) {
    const char *star = strchr(pattern, '*');
    size_t n = strlen(name), head, tail;
    if (!star) return strcmp(name, pattern) == 0;
    head = (size_t)(star - pattern);
    tail = strlen(star + 1);
    return n >= head + tail && strncmp(name, pattern, head) == 0 && strcmp(name + n - tail, star + 1) == 0;
}

static void parity_with(const char *case_name, mmix_model_config cfg, float eps, const char *const *cancelling) {
    mmix_ctx *ctx;
    mmix_model m;
    mmix_adamw opt;
    mmix_adamw_config acfg = mmix_adamw_config_default();
    mmix_tensor *logits, *loss;
    double worst_grad = 0.0, worst_after = 0.0, worst_loss = 0.0, worst_norm = 0.0, e;
    float first_loss = 0.0f;
    const char *worst_grad_name = "", *worst_after_name = "";
    int64_t i, noise = 0;
    int s;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    /* the reference re-masks in place, so its masked entries carry phantom gradients */
    mmix_set_masked_grad_mode(ctx, MMIX_MASKED_GRADS_REFERENCE);
    CHECK(mmix_model_create(ctx, &m, cfg) == MMIX_OK, "%s: create: %s", case_name, mmix_last_error(ctx));
    if (!load_params(&m, case_name)) { mmix_ctx_destroy(ctx); return; }
    acfg.lr = 1e-2f;
    acfg.weight_decay = 0.01f;
    acfg.eps = eps;
    mmix_adamw_init(ctx, &opt, &m.params, acfg);
    for (s = 0; s < 3; s++) {
        char step[32];
        double norm;
        float norm_f;
        mmix_zero_grad(ctx, &m.params);
        loss = mmix_model_loss(ctx, &m, tokens(ctx), 1, &logits);
        CHECK(loss && mmix_backward(ctx, loss) == MMIX_OK, "%s step %d: %s", case_name, s, mmix_last_error(ctx));
        if (!loss) break;
        if (s == 0) {
            first_loss = loss->data[0];
            e = fixture_rel_err(logits->data, logits->n, get(case_name, "logits", NULL));
            CHECK(e <= 1e-5, "%s: logits vs torch, error %.3g", case_name, e);
            printf("    %s logits %.2e, loss %.2e (relative)\n", case_name, e,
                   fixture_rel_err(loss->data, 1, get(case_name, "loss", NULL)));
            double largest = 0.0; /* the case's largest reference gradient */
            for (i = 0; i < m.params.count; i++) {
                const fixture_tensor *g = get(case_name, "grad", m.params.tensors[i]->name);
                int64_t j;
                for (j = 0; g && j < g->n; j++)
                    if (fabs(((const float *)g->data)[j]) > largest) largest = fabs(((const float *)g->data)[j]);
            }
            for (i = 0; i < m.params.count; i++) {
                mmix_tensor *p = m.params.tensors[i];
                int k, cancels = 0;
                for (k = 0; cancelling && cancelling[k]; k++) cancels |= name_matches(p->name, cancelling[k]);
                e = cancels ? fixture_abs_err(p->grad, p->n, get(case_name, "grad", p->name)) / largest
                            : fixture_rel_err(p->grad, p->n, get(case_name, "grad", p->name));
                CHECK(e <= 1e-5, "%s: gradient of %s vs torch, error %.3g", case_name, p->name, e);
                printf("    %s gradient %-48s worst relative error %.2e\n", case_name, p->name, e);
                if (e > worst_grad) { worst_grad = e; worst_grad_name = p->name; }
            }
        }
        snprintf(step, sizeof step, "step%d", s);
        CHECK(mmix_clip_grad_norm(ctx, &m.params, 1.0f, &norm) == MMIX_OK, "clip");
        norm_f = (float)norm;
        /* a missing fixture reads as error 1e30, failing the checks below */
        if ((e = fixture_rel_err(loss->data, 1, get(case_name, step, "loss"))) > worst_loss) worst_loss = e;
        if ((e = fixture_rel_err(&norm_f, 1, get(case_name, step, "norm"))) > worst_norm) worst_norm = e;
        mmix_adamw_step(ctx, &opt, mmix_schedule_lr(MMIX_SCHEDULE_LINEAR, 1e-2f, s, 1, 3));
        mmix_step_reset(ctx);
    }
    CHECK(worst_loss <= 1e-5, "%s: losses over 3 steps vs torch, worst relative error %.3g", case_name, worst_loss);
    CHECK(worst_norm <= 1e-5, "%s: clip norms vs torch, worst relative error %.3g", case_name, worst_norm);
    for (i = 0; i < m.params.count; i++) {
        mmix_tensor *p = m.params.tensors[i];
        e = after_err(p, get(case_name, "after", p->name), get(case_name, "grad", p->name), &noise);
        CHECK(e <= 1e-5, "%s: %s after 3 AdamW steps vs torch, abs error %.3g", case_name, p->name, e);
        printf("    %s weight   %-48s abs error after 3 steps %.2e\n", case_name, p->name, e);
        if (e > worst_after) { worst_after = e; worst_after_name = p->name; }
    }
    printf("  %-9s loss %.9g; worst gradient error %.2e (%s); worst weight error after 3 steps %.2e (%s)\n",
           case_name, first_loss, worst_grad, worst_grad_name, worst_after, worst_after_name);
    if (noise) printf("  %-9s %lld element(s) with a gradient below the gradient tolerance held to the summed learning rates\n",
                      case_name, (long long)noise);
    mmix_ctx_destroy(ctx);
}

/* Default mode: the kept entries' gradients are the reference's, the masked ones zero. */
static void default_mode_gradients(void) {
    mmix_ctx *ctx;
    mmix_model m;
    mmix_tensor *loss;
    int64_t i, o, j, ok = 1;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    mmix_model_create(ctx, &m, small_config(MMIX_ARCH_MIXER, 1));
    if (!load_params(&m, "mixer_k1")) { mmix_ctx_destroy(ctx); return; }
    mmix_zero_grad(ctx, &m.params);
    loss = mmix_model_loss(ctx, &m, tokens(ctx), 1, NULL);
    CHECK(loss && mmix_backward(ctx, loss) == MMIX_OK, "default-mode backward");
    for (i = 0; loss && i < 2; i++) {
        const fixture_tensor *g = get("mixer_k1", "grad", m.mixer[i].conv_w->name);
        for (o = 0; g && o < 8; o++)
            for (j = 0; j < 8; j++) {
                float ours = m.mixer[i].conv_w->grad[o * 8 + j], theirs = ((const float *)g->data)[o * 8 + j];
                ok &= j > o ? ours == 0.0f : fabsf(ours - theirs) <= 1e-5f * (1.0f + fabsf(theirs));
            }
    }
    CHECK(ok, "default mode: conv gradients equal the reference's where kept and are zero where masked");
    mmix_ctx_destroy(ctx);
}

/* Random non-zero values in every entry of every token-mixing weight (every 3-D parameter
   [R, C, k]), masked entries included, so that only the masks keep the hidden tokens out;
   initialized weights hold zeros there and would hide a forgotten mask. Returns the count. */
static int64_t plant_masked_entries(const mmix_model *m) {
    int64_t p, i, planted = 0;
    for (p = 0; p < m->params.count; p++) {
        mmix_tensor *w = m->params.tensors[p];
        if (w->shape.ndim != 3) continue;
        for (i = 0; i < w->n; i++, planted++) w->data[i] = mmix_rng_uniform(&rng) + 0.5f;
    }
    return planted;
}

/* Whether the objective lets output o depend on token t (mmix_objective; L = n_ctx). */
static int may_see(mmix_objective objective, int64_t L, int64_t o, int64_t t) {
    switch (objective) {
    case MMIX_OBJECTIVE_NEXT_TOKEN:
    case MMIX_OBJECTIVE_TWO_TOKENS: return t <= o;
    case MMIX_OBJECTIVE_RECONSTRUCT: return 1;
    case MMIX_OBJECTIVE_NEXT_BIDI: return t != o + 1;
    case MMIX_OBJECTIVE_OWN_BIDI: return t != o;
    case MMIX_OBJECTIVE_SECOND_HALF: return o >= L / 2 ? t < L / 2 : t <= o;
    }
    return 1;
}

/* The promise of the architecture's objective, with every masked weight entry planted:
   changing token t leaves every output that may not see it bit-identical (paper Sec. 3.2),
   and some output that may see it changes. Then the masks: zeroing the masked entries
   (mmix_model_apply_masks) leaves the logits bit-identical, so the forward never reads them
   and the zeroing touches nothing it keeps. */
static void causality(const char *name, mmix_model_config cfg) {
    mmix_ctx *ctx;
    mmix_model m;
    mmix_tensor *ids, *a, *b;
    mmix_arch_info info;
    int64_t t, o, i, L = cfg.n_ctx, V = cfg.vocab, failures = 0, unseen = 0, seen_changed = 0, seeing = 0, planted;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    mmix_arch_get(cfg.arch, &info);
    mmix_model_create(ctx, &m, cfg);
    mmix_model_init(&m, &rng);
    planted = plant_masked_entries(&m);
    /* mixers mask their token-mixing weights; transformers mask attention scores */
    {
        mmix__arch d;
        mmix__arch_describe(cfg.arch, &d);
        CHECK((planted > 0) == (d.apply_masks != NULL), "%s: random values planted in all %lld token-mixing weight "
              "entries, masked ones included", name, (long long)planted);
    }
    mmix_set_grad_enabled(ctx, 0);
    for (t = 0; t < L; t++) {
        int any_sees = 0;
        ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(2, L));
        if (!ids) break;
        for (i = 0; i < 2 * L; i++) ids->ids[i] = (int32_t)((i * 7 + 3) % V);
        a = mmix_model_logits(ctx, &m, ids);
        ids->ids[t] = (ids->ids[t] + 1) % (int32_t)V;              /* row 0, token t */
        ids->ids[L + t] = (ids->ids[L + t] + 5) % (int32_t)V;      /* row 1, token t */
        b = mmix_model_logits(ctx, &m, ids);
        if (!a || !b) break;
        for (o = 0; o < L; o++) {
            int differs = memcmp(a->data + o * V, b->data + o * V, (size_t)V * sizeof(float)) != 0 ||
                          memcmp(a->data + (L + o) * V, b->data + (L + o) * V, (size_t)V * sizeof(float)) != 0;
            if (!may_see(info.objective, L, o, t)) {
                failures += differs;
                unseen++;
            } else {
                any_sees = 1;
                seen_changed += differs;
            }
        }
        seeing += any_sees;
        mmix_step_reset(ctx);
    }
    CHECK(t == L && failures == 0 && (info.objective == MMIX_OBJECTIVE_RECONSTRUCT || unseen > 0),
          "%s keeps its objective's promise: %lld outputs that may not see a changed token are bit-identical "
          "(%lld failures)", name, (long long)unseen, (long long)failures);
    CHECK(seen_changed >= seeing && seeing > 0, "%s: a changed token changes outputs that may see it (%lld of %lld)",
          name, (long long)seen_changed, (long long)seeing);
    if (planted > 0) {
        ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(2, L));
        for (i = 0; ids && i < 2 * L; i++) ids->ids[i] = (int32_t)((i * 5 + 1) % V);
        a = ids ? mmix_model_logits(ctx, &m, ids) : NULL;
        mmix_model_apply_masks(&m);
        b = a ? mmix_model_logits(ctx, &m, ids) : NULL;
        CHECK(a && b && memcmp(a->data, b->data, (size_t)a->n * sizeof(float)) == 0,
              "%s: zeroing the masked entries leaves the logits bit-identical", name);
    }
    mmix_ctx_destroy(ctx);
}

/* Finite differences of the training loss against the tape, for every parameter of a
   small instance of the architecture (a sample of each tensor's elements): the whole
   model's backward, the objective's terms included. Default masked-gradient mode, so the
   masked entries' analytic gradients are zero like their numeric ones. */
typedef struct gradcheck_model {
    const mmix_model *m;
    const int32_t *rows;
    int64_t B, L;
} gradcheck_model;
static mmix_tensor *model_loss_fn(mmix_ctx *ctx, mmix_tensor *const *inputs, void *user) {
    const gradcheck_model *g = (const gradcheck_model *)user;
    mmix_tensor *ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(g->B, g->L));
    (void)inputs;
    if (ids) memcpy(ids->ids, g->rows, (size_t)(g->B * g->L) * sizeof(int32_t));
    return ids ? mmix_model_loss(ctx, g->m, ids, 1, NULL) : NULL;
}
static void model_gradcheck(const char *name, mmix_model_config cfg) {
    mmix_ctx *ctx;
    mmix_model m;
    mmix_gradcheck_options opt = mmix_gradcheck_options_default();
    gradcheck_model g;
    int32_t rows[2 * 8];
    double *diff, *scale, largest = 0.0, worst = 0.0;
    int64_t i, j, checked = 0, failed = 0, ran = 1, worst_at = 0;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_model_create(ctx, &m, cfg));
    if (!m.lm_head) { mmix_ctx_destroy(ctx); return; }
    /* weights of one scale everywhere, so that every gradient stands above float rounding */
    for (i = 0; i < m.params.numel; i++) m.params.data[i] = 0.8f * mmix_rng_uniform(&rng) - 0.4f;
    for (i = 0; i < 2 * cfg.n_ctx; i++) rows[i] = (int32_t)((i * 11 + 2) % cfg.vocab);
    rows[3] = 1; /* a pad target */
    g.m = &m;
    g.rows = rows;
    g.B = 2;
    g.L = cfg.n_ctx;
    opt.max_elements = 24;
    opt.step = 1.0f / 32;      /* a whole float32 model: its rounding, not the stencil, limits smaller steps */
    opt.tolerance = 5e-2;      /* the ops themselves are checked at 1e-3 (test_ops); a wrong backward is O(1) off */
    opt.seed = 3;
    /* a training forward of the softmax mixer rewrites its weights (reference-notes Sec. 2d):
       in eval mode every forward projects the same weights */
    if (cfg.arch == MMIX_ARCH_MIXER_SOFTMAX) mmix_set_training(ctx, 0);
    diff = (double *)calloc((size_t)m.params.count, sizeof(double));
    scale = (double *)calloc((size_t)m.params.count, sizeof(double));
    /* one tensor at a time: its worst |analytic - numeric| and its largest analytic gradient */
    for (i = 0; diff && scale && i < m.params.count; i++) {
        mmix_tensor *p = m.params.tensors[i];
        mmix_gradcheck_report rep;
        memset(&rep, 0, sizeof rep);
        /* the softmax mixer's conv weight gets the gradient of its projection's output, as in
           the reference (reference-notes Sec. 2d; its parity case checks it against PyTorch):
           not the derivative finite differences of the raw weight measure */
        if (cfg.arch == MMIX_ARCH_MIXER_SOFTMAX && strstr(p->name, "conv.weight")) continue;
        ran &= mmix_gradcheck(ctx, model_loss_fn, &g, &p, 1, &opt, &rep) == MMIX_OK && rep.checked > 0;
        checked += rep.checked;
        diff[i] = fabs(rep.worst_analytic - rep.worst_numeric);
        for (j = 0; j < p->n; j++) scale[i] = fabs(p->grad[j]) > scale[i] ? fabs(p->grad[j]) : scale[i];
        largest = scale[i] > largest ? scale[i] : largest;
    }
    /* A gradient that is zero in exact arithmetic (an autoencoder's decoder sees equal rows,
       so its attention ignores q and k) has only rounding left in both derivatives: each
       tensor is judged against its own largest gradient, but never below 1% of the model's. */
    for (i = 0; diff && scale && i < m.params.count; i++) {
        double e = diff[i] / (scale[i] > 1e-2 * largest ? scale[i] : 1e-2 * largest);
        failed += e > opt.tolerance;
        if (e > worst) { worst = e; worst_at = i; }
    }
    CHECK(diff && scale && ran && failed == 0 && checked > 0,
          "%s: finite differences of the loss match the tape for all %lld parameter tensors (%lld elements, worst "
          "%.3g in %s)", name, (long long)m.params.count, (long long)checked, worst, m.params.tensors[worst_at]->name);
    printf("  %-15s gradient check: %lld elements of %lld tensors, worst relative error %.2e (%s)\n", name,
           (long long)checked, (long long)m.params.count, worst, m.params.tensors[worst_at]->name);
    free(diff);
    free(scale);
    mmix_ctx_destroy(ctx);
}

/* Every row of the architecture table has every slot it must have, a unique name that
   finds it again, a valid default config, and a file round trip that records it. */
static void arch_table(void) {
    char path[] = "build/test_models_arch.safetensors";
    int a, b;
    for (a = 0; a < MMIX_ARCH_COUNT; a++) {
        mmix__arch d;
        mmix_arch_info info;
        mmix_arch found = MMIX_ARCH_COUNT;
        mmix_ctx *ctx;
        mmix_model m, back;
        mmix_safetensors st;
        memset(&info, 0, sizeof info);
        CHECK(mmix__arch_describe((mmix_arch)a, &d) && mmix_arch_get((mmix_arch)a, &info) && (int)info.arch == a,
              "architecture %d has a descriptor", a);
        CHECK(d.info.name && d.info.title && d.info.reference && d.info.paper && d.defaults && d.check &&
              d.param_count && d.create && d.init && d.hidden && d.logits && d.terms && d.targets && d.detect && d.read_config &&
              d.write_meta && d.settings && d.info.lr > 0.0 && d.info.own_settings, "%s: every required slot is set", d.info.name ? d.info.name : "?");
        CHECK(!d.info.can_generate || (d.cache_floats && d.block),
              "%s: an architecture that can generate has a cache size and a block forward", d.info.name);
        CHECK(mmix_arch_find(d.info.name, &found) && (int)found == a, "%s is found by its name", d.info.name);
        for (b = 0; b < a; b++) {
            mmix_arch_info other;
            mmix_arch_get((mmix_arch)b, &other);
            CHECK(strcmp(other.name, info.name) != 0, "%s: names are unique", info.name);
        }
        if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) continue;
        CHECK_OK(ctx, mmix_model_create(ctx, &m, small_config((mmix_arch)a, 1)));
        if (m.lm_head) {
            mmix_model_init(&m, &rng);
            CHECK_OK(ctx, mmix_model_save(ctx, &m, path, -1));
        }
        mmix_ctx_destroy(ctx);
        if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) continue;
        CHECK(mmix_safetensors_open(ctx, path, &st) == MMIX_OK && mmix_safetensors_meta(&st, "mmix_arch") &&
              strcmp(mmix_safetensors_meta(&st, "mmix_arch"), info.name) == 0, "%s: our files record mmix_arch",
              info.name);
        mmix_safetensors_close(&st);
        CHECK(mmix_model_load(ctx, &back, path, NULL, NULL) == MMIX_OK && (int)back.config.arch == a,
              "%s: a saved model loads as the same architecture: %s", info.name, mmix_last_error(ctx));
        mmix_ctx_destroy(ctx);
    }
    {
        mmix_arch_info info;
        mmix_arch found;
        CHECK(!mmix_arch_get(MMIX_ARCH_COUNT, &info) && info.name == NULL && !mmix_arch_find("mixxer", &found) &&
              !mmix_arch_find(NULL, &found), "an unknown architecture is refused");
    }
    remove(path);
}

/* A model's parameters are views into one buffer (values) and another (gradients), in
   state_dict order with no gaps; two models with the same names live in one context and
   train apart; the optimizer's one call over the buffers is the per-tensor update, bit for
   bit; masked entries stay exactly zero through training. */
static void param_sets(void) {
    mmix_ctx *ctx;
    mmix_model a, b;
    mmix_adamw opt_a, opt_loose;
    mmix_adamw_config acfg = mmix_adamw_config_default();
    mmix_tensor *ids, *loss, **loose;
    int64_t i, j, offset = 0, views = 1, b_unchanged = 1, same_bits = 1, masked_zero = 1;
    float *b_before;
    int s;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_model_create(ctx, &a, small_config(MMIX_ARCH_MIXER, 1)));
    CHECK_OK(ctx, mmix_model_create(ctx, &b, small_config(MMIX_ARCH_MIXER, 1))); /* the same names */
    if (!b.lm_head) { mmix_ctx_destroy(ctx); return; }
    mmix_model_init(&a, &rng);
    mmix_model_init(&b, &rng);
    for (i = 0; i < a.params.count; i++) {
        views &= a.params.tensors[i]->data == a.params.data + offset && a.params.tensors[i]->grad == a.params.grad + offset;
        offset += a.params.tensors[i]->n;
    }
    CHECK(views && offset == a.params.numel && a.params.numel == mmix_model_param_count(&a),
          "every parameter is a view into the model's two buffers, in order, %lld floats", (long long)offset);
    b_before = (float *)malloc((size_t)b.params.numel * sizeof(float));
    loose = (mmix_tensor **)malloc((size_t)a.params.count * sizeof(mmix_tensor *));
    if (!b_before || !loose) { free(b_before); free(loose); mmix_ctx_destroy(ctx); return; }
    memcpy(b_before, b.params.data, (size_t)b.params.numel * sizeof(float));
    /* the same values as the context's own parameters: each its own buffer, per-tensor updates */
    for (i = 0; i < a.params.count; i++) {
        loose[i] = mmix_param(ctx, a.params.tensors[i]->name, a.params.tensors[i]->shape);
        if (loose[i]) memcpy(loose[i]->data, a.params.tensors[i]->data, (size_t)loose[i]->n * sizeof(float));
    }
    acfg.lr = 1e-2f;
    acfg.weight_decay = 0.1f;
    CHECK_OK(ctx, mmix_adamw_init(ctx, &opt_a, &a.params, acfg));
    CHECK_OK(ctx, mmix_adamw_init(ctx, &opt_loose, mmix_ctx_params(ctx), acfg));
    CHECK(opt_a.m_all != NULL && opt_loose.m_all == NULL, "a model's moments are one buffer; the context's own are not");
    for (s = 0; s < 3; s++) {
        mmix_zero_grad(ctx, &a.params);
        ids = tokens(ctx);
        loss = ids ? mmix_model_loss(ctx, &a, ids, 1, NULL) : NULL;
        CHECK(loss && mmix_backward(ctx, loss) == MMIX_OK, "step %d ran: %s", s, mmix_last_error(ctx));
        if (!loss) break;
        for (i = 0; i < a.params.count; i++)
            if (loose[i]) memcpy(loose[i]->grad, a.params.tensors[i]->grad, (size_t)loose[i]->n * sizeof(float));
        CHECK_OK(ctx, mmix_adamw_step(ctx, &opt_a, 1e-2f));
        CHECK_OK(ctx, mmix_adamw_step(ctx, &opt_loose, 1e-2f));
        mmix_step_reset(ctx);
    }
    for (i = 0; i < a.params.count; i++)
        same_bits &= loose[i] && memcmp(loose[i]->data, a.params.tensors[i]->data, (size_t)loose[i]->n * 4) == 0;
    for (i = 0; i < b.params.numel; i++) b_unchanged &= b.params.data[i] == b_before[i];
    for (i = 0; i < a.config.depth; i++)
        for (j = 0; j < 8 * 8; j++)
            if (j % 8 > j / 8) masked_zero &= a.mixer[i].conv_w->data[j] == 0.0f;
    CHECK(same_bits, "one AdamW call over the buffers gives the per-tensor update, bit for bit");
    CHECK(b_unchanged, "training one model leaves another of the same names untouched");
    CHECK(masked_zero, "masked token-mixing entries stay exactly zero through training");
    free(b_before);
    free(loose);
    mmix_ctx_destroy(ctx);
}

/* A block takes its names from its caller's prefix, and a second stream can share the
   first one's patch_layernorm and patch_ff (the bidirectional mixer's streams do). */
static void block_names_and_sharing(void) {
    mmix_ctx *ctx;
    mmix_model m, stream;
    mmix_mixer_block second;
    mmix_model_config c = small_config(MMIX_ARCH_MIXER, 1);
    int64_t own = 2 * c.dim + c.n_ctx * c.n_ctx * c.kernel + c.n_ctx; /* seq_layernorm and conv only */
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_model_create(ctx, &m, c));
    memset(&stream, 0, sizeof stream);
    memset(&second, 0, sizeof second); /* a failed create leaves fields unset */
    stream.config = c;
    CHECK_OK(ctx, mmix_params_create(ctx, &stream.params, own));
    CHECK(m.lm_head && mmix__mixer_block_create(ctx, &stream, &second, "backward_blocks", 0, &m.mixer[0]) &&
              stream.params.used == own && stream.params.count == 4,
          "a sharing block makes only its own 4 tensors (%lld of %lld floats)", (long long)stream.params.used,
          (long long)own);
    CHECK(stream.params.count == 4 && strcmp(stream.params.tensors[0]->name, "backward_blocks.0.seq_layernorm.weight") == 0 &&
              strcmp(stream.params.tensors[3]->name, "backward_blocks.0.conv.bias") == 0,
          "its names come from the caller's prefix");
    CHECK(second.ff_in_w == m.mixer[0].ff_in_w && second.patch_norm_b == m.mixer[0].patch_norm_b &&
              second.conv_w != m.mixer[0].conv_w, "patch_layernorm and patch_ff are shared, the conv is not");
    mmix_ctx_destroy(ctx);
}

static const char *param_name(const mmix_model *m, int64_t i) {
    return i >= 0 && i < m->params.count ? m->params.tensors[i]->name : "";
}

static void sizes_and_errors(void) {
    mmix_ctx *ctx;
    mmix_model m;
    mmix_model_config c;
    mmix_tensor *ids;
    int64_t i, total = 0;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    c = mmix_model_config_default(MMIX_ARCH_MIXER);
    c.dim = 256; c.depth = 2; c.n_ctx = 128; c.ffn_dim = 1024;
    CHECK(mmix_model_create(ctx, &m, c) == MMIX_OK, "reference-size mixer created");
    for (i = 0; i < m.params.count; i++) total += m.params.tensors[i]->n;
    CHECK(total == 3183360 && mmix_model_param_count(&m) == 3183360 && m.params.count == 2 + 2 * 10,
          "LanguageMixer V 4096, D 256, n 2, L 128 has 3,183,360 parameters in 22 tensors (got %lld)", (long long)total);
    CHECK(strcmp(param_name(&m, 0), "wte.weight") == 0 &&
          strcmp(param_name(&m, 1), "mixerblocks.0.patch_layernorm.weight") == 0 &&
          strcmp(param_name(&m, 10), "mixerblocks.0.conv.bias") == 0 &&
          strcmp(param_name(&m, 21), "lm_head.weight") == 0, "mixer state_dict order");
    mmix_ctx_destroy(ctx);
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    c = mmix_model_config_default(MMIX_ARCH_LLAMA);
    c.dim = 256; c.depth = 2; c.ffn_dim = 1024;
    CHECK(mmix_model_create(ctx, &m, c) == MMIX_OK, "reference-size transformer created");
    total = 0;
    for (i = 0; i < m.params.count; i++) total += m.params.tensors[i]->n;
    CHECK(total == 4195584 && mmix_model_param_count(&m) == 4195584,
          "LlamaForCausalLM V 4096, D 256, n 2, H 4 has 4,195,584 parameters (got %lld)", (long long)total);
    c = mmix_model_config_default(MMIX_ARCH_MIXER);
    CHECK(mmix_model_param_count(&m) > 0 && (c.dim = 1024, c.vocab = 8000, c.depth = 16, 1) &&
          (m.config = c, mmix_model_param_count(&m) == 154951680), "FineWeb mixer (V 8000, D 1024, n 16, L 512): 154,951,680 parameters");
    c = mmix_model_config_default(MMIX_ARCH_LLAMA);
    c.heads = 3;
    CHECK(mmix_model_create(ctx, &m, c) == MMIX_ERR_INVALID_ARGUMENT && strstr(mmix_last_error(ctx), "heads"),
          "a dim that does not split into heads is refused: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    {   /* sizes whose parameter count overflows int64 are refused before anything is counted */
        static const mmix_arch archs[] = {MMIX_ARCH_MIXER, MMIX_ARCH_LLAMA, MMIX_ARCH_MIXER_EXPANDED, MMIX_ARCH_GPT1};
        size_t a;
        for (a = 0; a < sizeof archs / sizeof archs[0]; a++) {
            int64_t allocated = mmix_memory_usage(ctx).system_allocations;
            c = mmix_model_config_default(archs[a]);
            c.dim = (int64_t)1 << 32; c.ffn_dim = (int64_t)1 << 34; c.n_ctx = (int64_t)1 << 31;
            CHECK(mmix_model_create(ctx, &m, c) == MMIX_ERR_INVALID_ARGUMENT &&
                  strstr(mmix_last_error(ctx), "overflow") && mmix_memory_usage(ctx).system_allocations == allocated,
                  "arch %d: D 2^32, F 2^34, L 2^31 is refused as an overflow, allocating nothing: %s", (int)archs[a],
                  mmix_last_error(ctx));
            mmix_clear_error(ctx);
        }
    }
    mmix_ctx_destroy(ctx);

    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    mmix_model_create(ctx, &m, small_config(MMIX_ARCH_MIXER, 1));
    mmix_model_init(&m, &rng);
    ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(2, 7));
    CHECK(mmix_model_logits(ctx, &m, ids) == NULL && mmix_last_result(ctx) == MMIX_ERR_SHAPE,
          "a mixer needs exactly n_ctx tokens: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(1, 8));
    if (ids) ids->ids[3] = 37;
    CHECK(mmix_model_logits(ctx, &m, ids) == NULL && mmix_last_result(ctx) == MMIX_ERR_RANGE,
          "a token id >= vocab is a range error: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(1, 8));
    for (i = 0; ids && i < 8; i++) ids->ids[i] = 1;
    CHECK(mmix_model_loss(ctx, &m, ids, 1, NULL) == NULL && mmix_last_result(ctx) == MMIX_ERR_INVALID_ARGUMENT,
          "an all-pad batch has nothing to count: an error");
    mmix_clear_error(ctx);
    mmix_ctx_destroy(ctx);
}

static int warnings;
static void count_warning(void *user, const char *message) {
    (void)user;
    (void)message;
    warnings++;
}

/* The zoo's transformers from their reference files: detection (a transfixer file is not
   a Llama's), settings from metadata or options, GPT-1's tied head (a file with
   lm_head.weight, as a state_dict() holds it, and the causal-mask buffer attn.bias loads with
   a warning each, to the same logits), dropout only while training, reference sizes. */
static void zoo_files(void) {
    const char *gpt_path = "tests/reference/fixtures/gpt1_h4.safetensors";
    const char *fix_path = "tests/reference/fixtures/transfixer_h4.safetensors";
    const char *copy = "build/test_models_gpt1_head.safetensors";
    mmix_ctx *ctx;
    mmix_model m, back;
    mmix_load_options lo = mmix_load_options_default();
    mmix_arch archs[MMIX_ARCH_COUNT];
    mmix_tensor *ids, *a, *b, *mask, *extra[64];
    mmix_model_config c;
    int n, i;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    mmix_set_log(ctx, count_warning, NULL);
    CHECK(mmix_model_load(ctx, &m, gpt_path, NULL, NULL) == MMIX_ERR_INVALID_ARGUMENT &&
          strstr(mmix_last_error(ctx), "--heads"), "a GPT-1 file without metadata asks for the heads: %s",
          mmix_last_error(ctx));
    mmix_clear_error(ctx);
    lo.heads = 4;
    CHECK_OK(ctx, mmix_model_load(ctx, &m, gpt_path, &lo, NULL));
    CHECK(m.config.arch == MMIX_ARCH_GPT1 && m.config.n_ctx == 8 && m.config.heads == 4 && m.config.ffn_dim == 64 &&
          m.lm_head == m.embed && m.config.dropout == 0.1f && warnings == 0,
          "gpt1_h4: GPT-1, n_ctx 8 from positions_embed, 4 heads, F 64, tied head, dropout 0.1 (HF's default)");
    ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(2, 8));
    for (i = 0; ids && i < 16; i++) ids->ids[i] = (int32_t)((i * 7 + 3) % 37);
    mmix_set_training(ctx, 0);
    a = mmix_model_logits(ctx, &m, ids);
    mmix_set_training(ctx, 1);
    b = mmix_model_logits(ctx, &m, ids);
    CHECK(a && b && memcmp(a->data, b->data, (size_t)a->n * sizeof(float)) != 0, "GPT-1's dropout acts while training");
    m.config.dropout = 0.0f;
    b = mmix_model_logits(ctx, &m, ids);
    CHECK(a && b && memcmp(a->data, b->data, (size_t)a->n * sizeof(float)) == 0,
          "eval mode is training with dropout 0, bit for bit");
    /* the same weights plus lm_head.weight and a causal-mask buffer */
    mask = mmix_tensor_new(ctx, MMIX_PERSIST, MMIX_F32, mmix_shape4(1, 1, 8, 8));
    mmix_tensor_set_name(mask, "transformer.h.0.attn.bias");
    for (n = 0; n < m.params.count && n < 60; n++) extra[n] = m.params.tensors[n];
    {
        const char *names[64];
        for (i = 0; i < n; i++) names[i] = m.params.tensors[i]->name;
        extra[n] = m.embed; names[n] = "lm_head.weight";
        extra[n + 1] = mask; names[n + 1] = "transformer.h.0.attn.bias";
        CHECK_OK(ctx, mmix_safetensors_write(ctx, copy, extra, names, n + 2, NULL, NULL, 0));
    }
    CHECK_OK(ctx, mmix_model_load(ctx, &back, copy, &lo, NULL));
    mmix_set_training(ctx, 0);
    b = mmix_model_logits(ctx, &back, ids);
    mmix_set_training(ctx, 1);
    CHECK(warnings == 2 && a && b && memcmp(a->data, b->data, (size_t)a->n * sizeof(float)) == 0,
          "a GPT-1 file with lm_head.weight and attn.bias loads, one warning each (%d), to the same logits", warnings);
    remove(copy);
    mmix_ctx_destroy(ctx);

    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK(mmix_model_file_archs(ctx, fix_path, archs, &n) == MMIX_OK && n == 1 && archs[0] == MMIX_ARCH_TRANSFIXER,
          "a transfixer file is a transfixer's only, not a Llama's (%d found)", n);
    CHECK(mmix_model_file_archs(ctx, "tests/reference/fixtures/llama_h4.safetensors", archs, &n) == MMIX_OK &&
          n == 1 && archs[0] == MMIX_ARCH_LLAMA, "a Llama file is a Llama's only (%d found)", n);
    CHECK_OK(ctx, mmix_model_load(ctx, &m, fix_path, NULL, NULL));
    CHECK(m.config.arch == MMIX_ARCH_TRANSFIXER && m.config.heads == 4 && m.config.n_ctx == 8,
          "transfixer_h4: heads 4 from num_attention_heads metadata, n_ctx 8 from mixer_layer.conv");
    mmix_ctx_destroy(ctx);

    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    c = mmix_model_config_default(MMIX_ARCH_GPT1);
    CHECK(c.dim == 512 && c.heads == 4 && c.n_ctx == 512 && c.dropout == 0.1f && c.norm_eps == 1e-5f,
          "GPT-1's defaults: the paper's OpenAIGPTConfig (D 512, H 4, n_positions 512, dropout 0.1, eps 1e-5)");
    CHECK(mmix_model_create(ctx, &m, c) == MMIX_OK && mmix_model_param_count(&m) == 27578368 &&
          m.params.numel == 27578368 && m.params.count == 2 + 12 * 8,
          "OpenAIGPTLMHeadModel V 4096, D 512, n 8, n_positions 512 has 27,578,368 parameters in 98 tensors (torch)");
    mmix_ctx_destroy(ctx);
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    c = mmix_model_config_default(MMIX_ARCH_TRANSFIXER);
    c.vocab = 8000;
    CHECK(mmix_model_create(ctx, &m, c) == MMIX_OK && mmix_model_param_count(&m) == 43856384,
          "the FineWeb transfixer (V 8000, D 512, n 8, H 4, L 512) has 43,856,384 parameters (torch)");
    mmix_ctx_destroy(ctx);
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    c = small_config(MMIX_ARCH_GPT1, 1);
    c.dropout = 1.0f;
    CHECK(mmix_model_create(ctx, &m, c) == MMIX_ERR_INVALID_ARGUMENT && strstr(mmix_last_error(ctx), "dropout"),
          "a dropout of 1 is refused: %s", mmix_last_error(ctx));
    mmix_ctx_destroy(ctx);
}


/* The softmax mixer's forwards (reference-notes Sec. 2d): one without gradients or in eval
   mode projects a copy, so the weights stay and repeated forwards agree bit for bit; a
   training forward writes the projection into the weights, as the reference's every forward. */
static void softmax_forwards(void) {
    mmix_ctx *ctx;
    mmix_model m;
    mmix_tensor *ids, *a, *b;
    float before[8 * 8];
    int mode, same_weights = 1, same_logits = 1;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_model_create(ctx, &m, small_config(MMIX_ARCH_MIXER_SOFTMAX, 1)));
    if (!m.lm_head || !load_params(&m, "mixer_soft")) { mmix_ctx_destroy(ctx); return; }
    memcpy(before, m.mixer[0].conv_w->data, sizeof before);
    for (mode = 0; mode < 2; mode++) { /* no gradients in training mode; eval mode with gradients */
        mmix_set_grad_enabled(ctx, mode);
        mmix_set_training(ctx, !mode);
        ids = tokens(ctx);
        a = mmix_model_logits(ctx, &m, ids);
        b = mmix_model_logits(ctx, &m, ids);
        same_logits &= a && b && memcmp(a->data, b->data, (size_t)a->n * sizeof(float)) == 0;
        same_weights &= memcmp(before, m.mixer[0].conv_w->data, sizeof before) == 0;
        mmix_step_reset(ctx);
    }
    CHECK(same_logits && same_weights, "softmax mixer: forwards that do not train leave the weights and agree");
    mmix_set_training(ctx, 1);
    a = mmix_model_logits(ctx, &m, tokens(ctx));
    CHECK(a && fixture_rel_err(m.mixer[0].conv_w->data, 64, get("mixer_soft", "projected", m.mixer[0].conv_w->name)) <= 1e-6,
          "softmax mixer: a training forward writes the projection into the weights");
    mmix_ctx_destroy(ctx);
}

/* The softmax mixer's weight projection (reference-notes Sec. 2d) against torch's of the same
   initial weights: tril(softmax over the output tokens of tril(W))), into a copy and in place. */
static void softmax_projection(void) {
    mmix_ctx *ctx;
    mmix_model m;
    int64_t i;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_model_create(ctx, &m, small_config(MMIX_ARCH_MIXER_SOFTMAX, 1)));
    if (!m.lm_head || !load_params(&m, "mixer_soft")) { mmix_ctx_destroy(ctx); return; }
    for (i = 0; i < m.config.depth; i++) {
        mmix_tensor *W = m.mixer[i].conv_w;
        const fixture_tensor *want = get("mixer_soft", "projected", W->name);
        float copy[8 * 8];
        double e_copy, e_inplace;
        ctx->backend->token_mix_softmax(copy, W->data, 8, 8, 1);
        ctx->backend->token_mix_softmax(W->data, W->data, 8, 8, 1);
        e_copy = fixture_rel_err(copy, 64, want);
        e_inplace = fixture_rel_err(W->data, 64, want);
        CHECK(e_copy <= 1e-6 && e_inplace <= 1e-6 && memcmp(copy, W->data, sizeof copy) == 0,
              "%s: the softmax projection is torch's (errors %.2e, in place %.2e) and in place the same bits",
              W->name, e_copy, e_inplace);
    }
    mmix_ctx_destroy(ctx);
    softmax_forwards();
}

int main(void) {
    char err[256];
    int a;
    mmix_rng_seed(&rng, 5);
    if (!fixture_load("tests/reference/fixtures/models.bin", &fx, err, sizeof err)) {
        CHECK(0, "fixture: %s", err);
        return test_summary("test_models");
    }
    parity("mixer_k1", small_config(MMIX_ARCH_MIXER, 1));
    parity("mixer_k4", small_config(MMIX_ARCH_MIXER, 4));
    parity("llama_h4", small_config(MMIX_ARCH_LLAMA, 1));
    default_mode_gradients();
    for (a = 0; a < MMIX_ARCH_COUNT; a++) { /* every architecture of the table */
        mmix_arch_info info;
        mmix_arch_get((mmix_arch)a, &info);
        causality(info.name, small_config((mmix_arch)a, 1));
        /* two-token prediction feeds pass 1's argmax to pass 2, a step function of the weights:
           finite differences across a flipped token mean nothing. Each pass is the mixer's or
           the Llama's forward (checked here), and parity with PyTorch checks their sum. */
        if (info.objective != MMIX_OBJECTIVE_TWO_TOKENS) model_gradcheck(info.name, small_config((mmix_arch)a, 1));
    }
    causality("mixer k=4", small_config(MMIX_ARCH_MIXER, 4));
    arch_table();
    param_sets();
    block_names_and_sharing();
    sizes_and_errors();
    fixture_free(&fx);
    /* the zoo: the other models of the paper, from zoo.bin */
    if (!fixture_load("tests/reference/fixtures/zoo.bin", &fx, err, sizeof err)) {
        CHECK(0, "fixture: %s", err);
        return test_summary("test_models");
    }
    tokens_case = "mixer_e2";
    parity("mixer_e2", small_config(MMIX_ARCH_MIXER_EXPANDED, 1));
    {
        mmix_model_config heads2 = small_config(MMIX_ARCH_MIXER_HEADS, 1);
        heads2.heads = 2; /* D / H = 8 */
        parity("mixer_h2", heads2);
    }
    softmax_projection();
    parity("mixer_soft", small_config(MMIX_ARCH_MIXER_SOFTMAX, 1));
    {
        mmix_model_config gpt = small_config(MMIX_ARCH_GPT1, 1);
        gpt.dropout = 0.0f; /* the reference ran in eval mode */
        parity("gpt1_h4", gpt);
    }
    parity("transfixer_h4", small_config(MMIX_ARCH_TRANSFIXER, 1));
    { /* the encoder-decoders: AdamW eps 1e-3, as make_fixtures.py's ENCODER_DECODER_EPS */
        /* a constant shift of an encoder row reaches the loss through no LayerNorm */
        static const char *const mixer_cancelling[] = {"encoderblocks.*.conv.bias", NULL};
        /* the decoder's rows are all equal: attention returns v whatever q and k are */
        static const char *const llama_ae_cancelling[] = {"decoder.*.q_proj.weight", "decoder.*.k_proj.weight", NULL};
        parity_with("mixer_ae", small_config(MMIX_ARCH_MIXER_AE, 1), 1e-3f, mixer_cancelling);
        parity_with("llama_ae_h4", small_config(MMIX_ARCH_LLAMA_AE, 1), 1e-3f, llama_ae_cancelling);
        parity_with("mixer_par", small_config(MMIX_ARCH_MIXER_PARALLEL, 1), 1e-3f, mixer_cancelling);
        parity_with("llama_par_h4", small_config(MMIX_ARCH_LLAMA_PARALLEL, 1), 1e-3f, NULL);
    }
    parity("mixer_bidi", small_config(MMIX_ARCH_MIXER_BIDI, 1));
    parity("llama_bidi_h4", small_config(MMIX_ARCH_LLAMA_BIDI, 1));
    parity("mixer_mtp", small_config(MMIX_ARCH_MIXER_MTP, 1));
    parity("llama_mtp_h4", small_config(MMIX_ARCH_LLAMA_MTP, 1));
    zoo_files();
    fixture_free(&fx);
    return test_summary("test_models");
}
