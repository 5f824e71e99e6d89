/* tests/test_invert.c - input representation (paper Sec. 3; reference-notes
   Sec. 17): the abbreviated model, the L1 objective, its gradient with respect to the
   embeddings and three inversion steps against the PyTorch reference of make_fixtures.py
   (invert.bin: a tiny mixer and a tiny Llama; tolerance 1e-5 relative to the largest
   magnitude, embeddings after the steps 1e-5 absolute), the last-token objective, finite
   differences of the abbreviated model, the pseudo-inverse (against torch.linalg.pinv, the
   Penrose conditions of a rank-deficient matrix, exact recovery of tokens from clean
   embeddings at D >= V/2), the normalized Hamming metric on hand-made cases (both variants,
   pads ignored), and the whole procedure: its determinism, what it leaves untouched, and
   its errors. The plain build (no LAPACK) runs the same checks on the Jacobi SVD. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"
#include "fixture.h"

static fixture fx;

static const fixture_tensor *get(const char *case_name, const char *what) {
    char key[256];
    const fixture_tensor *t;
    snprintf(key, sizeof key, "%s/%s", case_name, what);
    t = fixture_get(&fx, key);
    CHECK(t != NULL, "fixture tensor %s is present", key);
    return t;
}

/* invert.bin's sizes: V 37, D 16, depth 2, L 8 (make_fixtures.py INVERT_SIZES). */
static mmix_model_config tiny(mmix_arch arch) {
    mmix_model_config c = mmix_model_config_default(arch);
    c.vocab = 37;
    c.dim = 16;
    c.depth = 2;
    c.n_ctx = 8;
    c.kernel = 1;
    c.heads = 4;
    c.ffn_dim = 64;
    return c;
}

static int load_case(mmix_ctx *ctx, mmix_model *m, mmix_model_config c, const char *name) {
    int64_t i, loaded = 0;
    char key[256];
    if (mmix_model_create(ctx, m, c) != MMIX_OK) return 0;
    for (i = 0; i < m->params.count; i++) {
        const fixture_tensor *t;
        snprintf(key, sizeof key, "%s/param/%s", name, m->params.tensors[i]->name);
        t = fixture_get(&fx, key);
        CHECK(t && t->n == m->params.tensors[i]->n, "%s: parameter %s is in the fixture", name, key);
        if (t && t->n == m->params.tensors[i]->n) {
            memcpy(m->params.tensors[i]->data, t->data, (size_t)t->n * 4);
            loaded++;
        }
    }
    mmix_model_apply_masks(m);
    return loaded == m->params.count;
}

static mmix_tensor *host_tensor(mmix_ctx *ctx, const float *v, int64_t B, int64_t L, int64_t D) {
    mmix_tensor *t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape3(B, L, D));
    if (t) memcpy(t->data, v, (size_t)t->n * 4);
    return t;
}

/* Gradient, objective and steps of one model against PyTorch. */
static void parity(const char *name, mmix_model_config c) {
    mmix_ctx *ctx;
    mmix_model m;
    const fixture_tensor *tok = get(name, "tokens"), *target = get(name, "target"), *e0 = get(name, "e0");
    int64_t L = c.n_ctx, D = c.dim, n = L * D, i;
    float *e = (float *)malloc((size_t)n * 4), *t_ours = (float *)malloc((size_t)n * 4);
    double loss, worst_e = 0.0;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK || !tok || !target || !e0 || !e || !t_ours) return;
    if (!load_case(ctx, &m, c, name)) goto done;
    { /* the target O(wte(ids)): embeddings through the blocks alone */
        mmix_tensor *ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(1, L)), *h;
        memcpy(ids->ids, tok->data, (size_t)L * 4);
        mmix_set_grad_enabled(ctx, 0);
        h = mmix_model_blocks(ctx, &m, mmix_embedding(ctx, m.embed, ids));
        mmix_set_grad_enabled(ctx, 1);
        CHECK(h && fixture_rel_err(h->data, h->n, target) < 1e-5, "%s: the abbreviated model's output matches "
              "torch (rel err %.3g) -> %s", name, h ? fixture_rel_err(h->data, h->n, target) : -1.0, mmix_last_error(ctx));
        if (h) memcpy(t_ours, h->data, (size_t)n * 4);
        mmix_step_reset(ctx);
    }
    { /* the objective and d/de at e0, full and last token, off the tape of the model */
        int last;
        for (last = 0; last < 2; last++) {
            mmix_tensor *et = host_tensor(ctx, (const float *)e0->data, 1, L, D), *obj;
            const fixture_tensor *want_loss = get(name, last ? "last/loss" : "step0/loss");
            const fixture_tensor *want_grad = get(name, last ? "last/grad0" : "grad0");
            mmix_zero_grad(ctx, &m.params);
            mmix_set_requires_grad(ctx, et, 1);
            obj = mmix_invert_objective(ctx, &m, et, host_tensor(ctx, (const float *)target->data, 1, L, D), last);
            CHECK_OK(ctx, obj ? mmix_backward(ctx, obj) : mmix_last_result(ctx));
            CHECK(obj && want_loss && fixture_rel_err(obj->data, 1, want_loss) < 1e-5,
                  "%s: the %s L1 objective at e0 matches torch (%.9g)", name, last ? "last-token" : "full",
                  obj ? (double)obj->data[0] : -1.0);
            CHECK(et->grad && want_grad && fixture_rel_err(et->grad, et->n, want_grad) < 1e-5,
                  "%s: d(%s objective)/de matches torch (rel err %.3g)", name, last ? "last-token" : "full",
                  et->grad ? fixture_rel_err(et->grad, et->n, want_grad) : -1.0);
            mmix_step_reset(ctx);
        }
    }
    { /* three steps of the reference loop (N = 3): the schedule and the update */
        int64_t s;
        mmix_zero_grad(ctx, &m.params);
        memcpy(e, e0->data, (size_t)n * 4);
        for (s = 0; s < 3; s++) {
            char key[64];
            const fixture_tensor *want_e, *want_loss;
            snprintf(key, sizeof key, "step%d/e", (int)s);
            want_e = get(name, key);
            snprintf(key, sizeof key, "step%d/loss", (int)s);
            want_loss = get(name, key);
            CHECK_OK(ctx, mmix_invert_step(ctx, &m, e, (const float *)target->data, 1, L, mmix_invert_lr(0.02f, s, 3), 0,
                                           &loss));
            {
                float lf = (float)loss;
                CHECK(want_loss && fixture_rel_err(&lf, 1, want_loss) < 1e-5, "%s: step %d's loss %.9g matches torch",
                      name, (int)s, loss);
            }
            if (want_e && fixture_abs_err(e, n, want_e) > worst_e) worst_e = fixture_abs_err(e, n, want_e);
        }
        CHECK(worst_e < 1e-5, "%s: embeddings after each of 3 steps match torch (worst abs err %.3g)", name, worst_e);
        printf("  %-9s objective, gradient and 3 inversion steps match torch (worst embedding error %.2e)\n", name,
               worst_e);
    }
    for (i = 0; i < m.params.numel; i++)
        if (m.params.grad[i] != 0.0f) break;
    CHECK(i == m.params.numel, "%s: the inversion steps left every weight gradient at zero", name);
    for (i = 0; i < m.params.count; i++)
        if (!m.params.tensors[i]->requires_grad) break;
    CHECK(i == m.params.count, "%s: every weight requires its gradient again after mmix_invert_step", name);
done:
    free(e);
    free(t_ours);
    mmix_ctx_destroy(ctx);
}

/* Finite differences of sum(O(e) * R) with respect to e: the abbreviated model's tape. */
static const mmix_model *fd_model;
static mmix_tensor *blocks_fn(mmix_ctx *ctx, mmix_tensor *const *inputs, void *user) {
    (void)user;
    return mmix_model_blocks(ctx, fd_model, inputs[0]);
}
static void blocks_gradcheck(const char *name, mmix_arch arch) {
    mmix_ctx *ctx;
    mmix_model m;
    mmix_rng rng;
    mmix_tensor *e;
    mmix_gradcheck_options opt = mmix_gradcheck_options_default();
    mmix_gradcheck_report rep;
    mmix_model_config c = tiny(arch);
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    mmix_rng_seed(&rng, 8);
    CHECK_OK(ctx, mmix_model_create(ctx, &m, c));
    mmix_model_init(&m, &rng);
    e = mmix_tensor_new(ctx, MMIX_PERSIST, MMIX_F32, mmix_shape3(2, c.n_ctx, c.dim));
    mmix_init_normal(e, &rng, 0.0f, 1.0f);
    mmix_set_requires_grad(ctx, e, 1);
    fd_model = &m;
    opt.step = 1.0f / 64;
    opt.tolerance = 1e-2;
    opt.seed = 9;
    memset(&rep, 0, sizeof rep);
    CHECK_OK(ctx, mmix_gradcheck(ctx, blocks_fn, NULL, &e, 1, &opt, &rep));
    CHECK(rep.ok && rep.checked > 0, "%s: finite differences of the abbreviated model match the tape wrt the "
          "embeddings (%lld elements, worst %.3g)", name, (long long)rep.checked, rep.worst_error);
    printf("  %-9s abbreviated-model gradient check: %lld elements, worst relative error %.2e\n", name,
           (long long)rep.checked, rep.worst_error);
    mmix_ctx_destroy(ctx);
}

/* max over elements of |X - Y| / max |Y| for two m x n row-major matrices. */
static double mat_rel(const float *X, const float *Y, int64_t n) {
    double scale = 0.0, err = 0.0;
    int64_t i;
    for (i = 0; i < n; i++) scale = fabs(Y[i]) > scale ? fabs(Y[i]) : scale;
    for (i = 0; i < n; i++) err = fabs((double)X[i] - Y[i]) > err ? fabs((double)X[i] - Y[i]) : err;
    return err / (scale > 0 ? scale : 1.0);
}
/* C [m, p] = A [m, k] B [k, p], in double. */
static void matmul(const float *A, const float *B, float *C, int64_t m, int64_t k, int64_t p) {
    int64_t i, j, l;
    for (i = 0; i < m; i++)
        for (j = 0; j < p; j++) {
            double acc = 0.0;
            for (l = 0; l < k; l++) acc += (double)A[i * k + l] * B[l * p + j];
            C[i * p + j] = (float)acc;
        }
}

static void pinv_checks(void) {
    mmix_ctx *ctx;
    mmix_rng rng;
    const fixture_tensor *wte = get("mixer", "param/wte.weight"), *want = get("mixer", "pinv");
    float *P = (float *)calloc(64 * 64, 4), *A = (float *)calloc(64 * 64, 4), *T1 = (float *)calloc(64 * 64, 4),
          *T2 = (float *)calloc(64 * 64, 4);
    int64_t i, j, V = 64, D = 32, wrong = 0;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK || !P || !A || !T1 || !T2) return;
    printf("  pinv through %s\n", mmix_has_lapacke() ? "LAPACKE_sgesdd" : "the one-sided Jacobi SVD");
    /* torch.linalg.pinv of the tiny mixer's wte [37, 16] */
    if (wte && want) {
        CHECK_OK(ctx, mmix_pinv(ctx, (const float *)wte->data, 37, 16, P));
        CHECK(fixture_rel_err(P, 16 * 37, want) < 1e-4, "pinv of wte [37, 16] matches torch.linalg.pinv (rel err %.3g)",
              fixture_rel_err(P, 16 * 37, want));
    }
    /* a rank-deficient wide matrix (row 2 = row 0 + row 1): the Penrose conditions A A+ A = A
       and A+ A A+ = A+ hold only if the zero singular value is cut */
    mmix_rng_seed(&rng, 3);
    for (i = 0; i < 5 * 9; i++) A[i] = mmix_rng_normal(&rng);
    for (j = 0; j < 9; j++) A[2 * 9 + j] = A[j] + A[9 + j];
    CHECK_OK(ctx, mmix_pinv(ctx, A, 5, 9, P)); /* P [9, 5] */
    matmul(A, P, T1, 5, 9, 5);
    matmul(T1, A, T2, 5, 5, 9);
    CHECK(mat_rel(T2, A, 45) < 1e-4, "rank-deficient 5 x 9: A A+ A = A (rel err %.3g)", mat_rel(T2, A, 45));
    matmul(P, A, T1, 9, 5, 9);
    matmul(T1, P, T2, 9, 9, 5);
    CHECK(mat_rel(T2, P, 45) < 1e-4, "rank-deficient 5 x 9: A+ A A+ = A+ (rel err %.3g)", mat_rel(T2, P, 45));
    /* exact tokens from clean embeddings at D = V/2 (paper Sec. 3.1: W+ W = I at full column rank) */
    for (i = 0; i < V * D; i++) A[i] = mmix_rng_normal(&rng);
    CHECK_OK(ctx, mmix_pinv(ctx, A, V, D, P)); /* [D, V] */
    {
        int32_t ids[40], top[40 * 5];
        float e[40 * 32];
        for (i = 0; i < 40; i++) {
            ids[i] = (int32_t)mmix_rng_below(&rng, (uint32_t)V);
            memcpy(e + i * D, A + ids[i] * D, (size_t)D * 4);
        }
        CHECK_OK(ctx, mmix_pinv_tokens(ctx, P, V, D, e, 40, 5, top));
        for (i = 0; i < 40; i++) wrong += top[i * 5] != ids[i];
        CHECK(wrong == 0, "V %lld, D %lld: every token recovered exactly from its clean embedding (%lld wrong)",
              (long long)V, (long long)D, (long long)wrong);
        CHECK(mmix_hamming(ids, top, 40, 5, -1) == 0.0, "top-5 contains every clean token");
    }
    /* and through a model's own embedding matrix */
    {
        mmix_model m;
        mmix_model_config c = tiny(MMIX_ARCH_MIXER);
        int32_t ids[8] = {3, 9, 27, 0, 63, 5, 5, 41}, top[8];
        float e[8 * 32];
        c.vocab = V;
        c.dim = D;
        CHECK_OK(ctx, mmix_model_create(ctx, &m, c));
        mmix_model_init(&m, &rng);
        CHECK_OK(ctx, mmix_model_embedding_pinv(ctx, &m, P));
        for (i = 0; i < 8; i++) memcpy(e + i * D, m.embed->data + ids[i] * D, (size_t)D * 4);
        CHECK_OK(ctx, mmix_pinv_tokens(ctx, P, V, D, e, 8, 1, top));
        CHECK(memcmp(top, ids, sizeof ids) == 0, "a model's wte: exact tokens from clean embeddings at D = V/2");
    }
    CHECK(mmix_pinv(ctx, A, 0, 4, P) == MMIX_ERR_INVALID_ARGUMENT && strstr(mmix_last_error(ctx), "pinv"),
          "an empty matrix is an error naming pinv");
    mmix_clear_error(ctx);
    {
        int32_t top[5];
        CHECK(mmix_pinv_tokens(ctx, P, V, D, A, 1, 17, top) == MMIX_ERR_INVALID_ARGUMENT, "k > 16 is an error");
        mmix_clear_error(ctx);
    }
    free(P);
    free(A);
    free(T1);
    free(T2);
    mmix_ctx_destroy(ctx);
}

static void hamming_cases(void) {
    /* the paper's metric: top-1 against the input, pads (2) ignored */
    static const int32_t input[6] = {5, 7, 2, 9, 2, 4}, top1[6] = {5, 8, 3, 9, 0, 1};
    /* the code's: reference tokens in the top 5 (two positions shown with k = 5) */
    static const int32_t ref[3] = {11, 12, 2};
    static const int32_t top5[15] = {1, 2, 3, 4, 11, 12, 0, 0, 0, 0, 2, 2, 2, 2, 2};
    static const int32_t pads[3] = {2, 2, 2};
    CHECK(mmix_hamming(input, top1, 6, 1, 2) == 0.5, "paper: 2 of 4 non-pad positions missed, pads ignored (%g)",
          mmix_hamming(input, top1, 6, 1, 2));
    CHECK(fabs(mmix_hamming(input, top1, 6, 1, -1) - 4.0 / 6.0) < 1e-12, "without a pad every position counts");
    CHECK(mmix_hamming(input, input, 6, 1, 2) == 0.0, "the input itself: distance 0");
    CHECK(mmix_hamming(ref, top5, 3, 5, 2) == 0.0, "code: membership in the top 5, anywhere in it, pad ignored");
    CHECK(mmix_hamming(ref, top5 + 5, 2, 5, 2) == 1.0, "code: neither reference token in its row's top 5: distance 1");
    CHECK(mmix_hamming(ref, top5, 2, 1, 2) == 1.0, "code with k = 1: the first entries only, both missed");
    CHECK(isnan(mmix_hamming(pads, pads, 3, 1, 2)), "only pads: NaN (nothing to count)");
}

/* The whole procedure on untrained models. */
static void procedure(void) {
    mmix_ctx *ctx;
    mmix_model m, llama, ae;
    mmix_rng rng;
    mmix_invert_options o = mmix_invert_options_default();
    mmix_invert_result r1[2], r2[2], r3[1];
    mmix_model_config c = tiny(MMIX_ARCH_MIXER), cl = tiny(MMIX_ARCH_LLAMA);
    int32_t ids[16], rec1[16], rec2[16];
    int64_t i;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    c.vocab = cl.vocab = 48;
    c.dim = cl.dim = 32;
    mmix_rng_seed(&rng, 11);
    CHECK_OK(ctx, mmix_model_create(ctx, &m, c));
    mmix_model_init(&m, &rng);
    CHECK_OK(ctx, mmix_model_create(ctx, &llama, cl));
    mmix_model_init(&llama, &rng);
    for (i = 0; i < 16; i++) ids[i] = (int32_t)(3 + (i * 7) % 45);
    ids[7] = ids[15] = 1; /* a right pad in each row */
    o.iters = 150;
    o.seed = 4;
    CHECK_OK(ctx, mmix_invert(ctx, &m, NULL, ids, 2, 8, 1, &o, rec1, r1));
    CHECK_OK(ctx, mmix_invert(ctx, &m, NULL, ids, 2, 8, 1, &o, rec2, r2));
    CHECK(memcmp(rec1, rec2, sizeof rec1) == 0 && memcmp(r1, r2, sizeof r1) == 0,
          "the same seed gives the same inversion, bit for bit");
    for (i = 0; i < 2; i++)
        CHECK(r1[i].l1 < 0.2 * r1[i].l1_start && r1[i].epsilon > 0.0 && r1[i].hamming >= 0.0 && r1[i].hamming <= 1.0,
              "mixer row %d: 150 steps cut the L1 distance fivefold (%.4g -> %.4g; epsilon %.4g; hamming %.3f, code "
              "%.3f)", (int)i, r1[i].l1_start, r1[i].l1, r1[i].epsilon, r1[i].hamming, r1[i].hamming_code);
    printf("  untrained mixer V 48 D 32 L 8, 150 steps: hamming %.3f %.3f, code %.3f %.3f, l1 %.4g (epsilon %.4g)\n",
           r1[0].hamming, r1[1].hamming, r1[0].hamming_code, r1[1].hamming_code, r1[0].l1, r1[0].epsilon);
    for (i = 0; i < m.params.numel; i++)
        if (m.params.grad[i] != 0.0f) break;
    CHECK(i == m.params.numel, "mmix_invert leaves the weights' gradients at zero");
    CHECK(mmix_grad_enabled(ctx) && mmix_is_training(ctx), "mmix_invert restores gradient and training modes");
    o.seed = 5;
    CHECK_OK(ctx, mmix_invert(ctx, &m, NULL, ids, 1, 8, 1, &o, rec2, r2));
    CHECK(r2[0].l1_start != r1[0].l1_start, "another seed, another start");
    o.iters = 0;
    CHECK_OK(ctx, mmix_invert(ctx, &m, NULL, ids, 1, 8, 1, &o, NULL, r3));
    CHECK(r3[0].l1 == r3[0].l1_start, "no iteration: the final distance is the start's");
    o.start = MMIX_INVERT_START_PAPER;
    CHECK_OK(ctx, mmix_invert(ctx, &m, NULL, ids, 1, 8, 1, &o, NULL, r3));
    CHECK(r3[0].l1_start != r2[0].l1_start, "the paper's start differs from the code's");
    /* the transformer (causal: L may be below n_ctx) and the last-token objective */
    o = mmix_invert_options_default();
    o.iters = 100;
    o.last_token = 1;
    CHECK_OK(ctx, mmix_invert(ctx, &llama, NULL, ids, 1, 6, 1, &o, rec1, r3));
    CHECK(r3[0].l1 < r3[0].l1_start, "llama, last token only, 6 of 8 positions: the distance falls (%.4g -> %.4g)",
          r3[0].l1_start, r3[0].l1);
    /* errors */
    ids[3] = 48;
    CHECK(mmix_invert(ctx, &m, NULL, ids, 1, 8, 1, &o, NULL, r3) == MMIX_ERR_RANGE &&
              strstr(mmix_last_error(ctx), "outside the vocabulary"),
          "a token outside the vocabulary is MMIX_ERR_RANGE: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    ids[3] = 4;
    CHECK(mmix_invert(ctx, &m, NULL, ids, 1, 6, 1, &o, NULL, r3) == MMIX_ERR_SHAPE,
          "a mixer's window is fixed: 6 of 8 tokens is MMIX_ERR_SHAPE: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    CHECK(mmix_invert(ctx, &m, NULL, ids, 1, 9, 1, &o, NULL, r3) == MMIX_ERR_SHAPE, "more than n_ctx tokens: an error");
    mmix_clear_error(ctx);
    {
        mmix_model_config ca = tiny(MMIX_ARCH_MIXER_AE);
        CHECK_OK(ctx, mmix_model_create(ctx, &ae, ca));
        mmix_model_init(&ae, &rng);
        for (i = 0; i < 8; i++) ids[i] = (int32_t)(i + 2);
        CHECK(mmix_invert(ctx, &ae, NULL, ids, 1, 8, 1, &o, NULL, r3) == MMIX_ERR_UNSUPPORTED &&
                  strstr(mmix_last_error(ctx), "mixer-ae"),
              "an encoder-decoder has no abbreviated model: %s", mmix_last_error(ctx));
        mmix_clear_error(ctx);
        for (i = 0; i < ae.params.count; i++)
            if (!ae.params.tensors[i]->requires_grad) break;
        CHECK(i == ae.params.count, "after a failed inversion every weight requires its gradient again");
    }
    {
        mmix_tensor *bad = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape3(1, 8, 5));
        CHECK(mmix_model_blocks(ctx, &m, bad) == NULL && mmix_last_result(ctx) == MMIX_ERR_SHAPE,
              "embeddings of the wrong width: MMIX_ERR_SHAPE: %s", mmix_last_error(ctx));
        mmix_clear_error(ctx);
    }
    CHECK(fabsf(mmix_invert_lr(0.02f, 0, 500) - 0.02f) < 1e-9f &&
              fabsf(mmix_invert_lr(0.02f, 250, 500) - 0.011f) < 1e-9f &&
              fabsf(mmix_invert_lr(0.02f, 499, 500) - (0.02f * 1 / 500 + 0.002f * 499 / 500)) < 1e-9f,
          "the step size falls linearly from eta_0 towards eta_0 / 10");
    mmix_ctx_destroy(ctx);
}

int main(void) {
    char err[256];
    if (!fixture_load("tests/reference/fixtures/invert.bin", &fx, err, sizeof err)) {
        CHECK(0, "fixture: %s", err);
        return test_summary("test_invert");
    }
    parity("mixer", tiny(MMIX_ARCH_MIXER));
    parity("llama_h4", tiny(MMIX_ARCH_LLAMA));
    blocks_gradcheck("mixer", MMIX_ARCH_MIXER);
    blocks_gradcheck("llama", MMIX_ARCH_LLAMA);
    pinv_checks();
    hamming_cases();
    procedure();
    fixture_free(&fx);
    return test_summary("test_invert");
}
