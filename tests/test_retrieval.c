/* tests/test_retrieval.c - retrieval (paper Sec. 6): the embeddings of a mixer, a Llama and
   a mixer autoencoder and the InfoNCE loss with every parameter's gradient, against the
   PyTorch reference of make_fixtures.py (retrieval.bin; the loss there is the script's
   literal exp/log form); the candidate draw of Algorithm 1 (its properties and its
   distribution); the top-1 evaluation on methods whose answer is known; input errors.
   Tolerances: embeddings and loss 1e-5 relative; gradients 1e-4 relative to the tensor's
   largest magnitude (tau = 0.02 scales cosines by 50). */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"
#include "fixture.h"

static fixture fx;

static const fixture_tensor *get(const char *case_name, const char *what, const char *param) {
    char key[256];
    const fixture_tensor *t;
    snprintf(key, sizeof key, param ? "%s/%s/%s" : "%s/%s", case_name, what, param);
    t = fixture_get(&fx, key);
    CHECK(t != NULL, "fixture tensor %s is present", key);
    return t;
}

static double rel_err(const float *a, const float *b, int64_t n) {
    double *ref = (double *)malloc((size_t)n * sizeof(double)), e;
    int64_t i;
    for (i = 0; i < n; i++) ref[i] = b[i];
    e = test_rel_err(a, ref, (long)n);
    free(ref);
    return e;
}

/* ---- embeddings and InfoNCE against PyTorch ---- */
static void reference_case(const char *name, mmix_arch arch) {
    mmix_ctx *ctx;
    mmix_model m;
    mmix_model_config c = mmix_model_config_default(arch);
    const fixture_tensor *tok = get(name, "tokens", NULL), *match = get(name, "match", NULL),
                         *emb_ref = get(name, "embedding", NULL), *loss_ref = get(name, "loss", NULL);
    mmix_tensor *ids, *m_t, *emb, *loss;
    float *unit;
    int64_t i, B, c_rows, D, loaded = 0;
    double worst = 0.0;
    if (!tok || !match || !emb_ref || !loss_ref) return;
    c.vocab = 37, c.dim = 16, c.depth = 2, c.n_ctx = 8, c.kernel = 1, c.heads = 4, c.ffn_dim = 64;
    CHECK_OK(ctx, mmix_ctx_create(&ctx, NULL));
    /* the reference re-masks its conv weights in place: their masked entries get gradients too */
    mmix_set_masked_grad_mode(ctx, MMIX_MASKED_GRADS_REFERENCE);
    CHECK_OK(ctx, mmix_model_create(ctx, &m, c));
    for (i = 0; i < m.params.count; i++) {
        const fixture_tensor *t = get(name, "param", m.params.tensors[i]->name);
        if (t && t->n == m.params.tensors[i]->n) memcpy(m.params.tensors[i]->data, t->data, (size_t)t->n * 4), loaded++;
    }
    CHECK(loaded == m.params.count, "%s: every parameter from the reference state_dict", name);
    mmix_model_apply_masks(&m);
    B = match->n, c_rows = tok->dims[0] / B, D = c.dim;
    ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(tok->dims[0], tok->dims[1]));
    m_t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape1(B));
    CHECK_OK(ctx, mmix_tensor_upload(ctx, ids, 0, tok->data, tok->n));
    CHECK_OK(ctx, mmix_tensor_upload(ctx, m_t, 0, match->data, B));
    mmix_zero_grad(ctx, &m.params);
    emb = mmix_model_embedding(ctx, &m, ids);
    CHECK(emb && emb->n == emb_ref->n, "%s: embedding [rows, D] (%s)", name, mmix_last_error(ctx));
    if (!emb || emb->n != emb_ref->n) goto done;
    CHECK(rel_err(emb->data, (const float *)emb_ref->data, emb->n) < 1e-5, "%s: embeddings match PyTorch's (%.3g)",
          name, rel_err(emb->data, (const float *)emb_ref->data, emb->n));
    loss = mmix_infonce_loss(ctx, mmix_reshape(ctx, emb, mmix_shape3(B, c_rows, D)), m_t, 0.02f);
    CHECK(loss != NULL, "%s: infonce loss (%s)", name, mmix_last_error(ctx));
    if (!loss) goto done;
    CHECK(fabs(loss->data[0] - *(const float *)loss_ref->data) <= 1e-5 * fabs(*(const float *)loss_ref->data),
          "%s: InfoNCE loss %.7g, PyTorch's literal form %.7g", name, (double)loss->data[0],
          (double)*(const float *)loss_ref->data);
    CHECK_OK(ctx, mmix_backward(ctx, loss));
    for (i = 0; i < m.params.count; i++) {
        const mmix_tensor *p = m.params.tensors[i];
        const fixture_tensor *g = get(name, "grad", p->name);
        double e;
        if (!g || g->n != p->n) continue;
        e = rel_err(p->grad, (const float *)g->data, p->n);
        if (e > worst) worst = e;
        CHECK(e < 1e-4, "%s: gradient of %s within 1e-4 of PyTorch's (%.3g)", name, p->name, e);
    }
    printf("%s: worst gradient error %.3g\n", name, worst);
    /* the tape-free path: the same rows, normalized, in batches of 3 */
    unit = (float *)malloc((size_t)emb_ref->n * sizeof(float));
    mmix_step_reset(ctx);
    CHECK_OK(ctx, mmix_model_embed_rows(ctx, &m, (const int32_t *)tok->data, tok->dims[0], tok->dims[1], 3, unit, NULL, NULL));
    for (i = 0; i < tok->dims[0]; i++) {
        const float *r = (const float *)emb_ref->data + i * D;
        double norm = 0.0, err = 0.0;
        int64_t j;
        for (j = 0; j < D; j++) norm += (double)r[j] * r[j];
        norm = sqrt(norm);
        for (j = 0; j < D; j++) err = fmax(err, fabs(unit[i * D + j] - r[j] / norm));
        CHECK(err < 1e-5, "%s: row %lld of embed_rows is the unit reference embedding (%.3g)", name, (long long)i, err);
    }
    free(unit);
done:
    mmix_ctx_destroy(ctx);
}

static void embedding_rules(void) {
    mmix_ctx *ctx;
    mmix_model m;
    mmix_model_config c = mmix_model_config_default(MMIX_ARCH_MIXER_BIDI);
    mmix_tensor *ids;
    int a;
    CHECK(mmix_arch_embedding_position(MMIX_ARCH_MIXER) == -2 && mmix_arch_embedding_position(MMIX_ARCH_LLAMA) == -2 &&
              mmix_arch_embedding_position(MMIX_ARCH_GPT1) == -2 && mmix_arch_embedding_position(MMIX_ARCH_MIXER_AE) == -1 &&
              mmix_arch_embedding_position(MMIX_ARCH_LLAMA_AE) == -1,
          "causal LMs embed at -2, autoencoder encoders at -1 (paper Sec. 6.1, 6.4)");
    CHECK(mmix_arch_embedding_position(MMIX_ARCH_MIXER_BIDI) == 0 && mmix_arch_embedding_position(MMIX_ARCH_LLAMA_BIDI) == 0 &&
              mmix_arch_embedding_position(MMIX_ARCH_MIXER_PARALLEL) == 0,
          "bidirectional and parallel models have no retrieval embedding");
    for (a = 0; a < MMIX_ARCH_COUNT; a++) {
        mmix_arch_info info;
        int p = mmix_arch_embedding_position((mmix_arch)a);
        mmix_arch_get((mmix_arch)a, &info);
        CHECK(p != -2 || info.objective == MMIX_OBJECTIVE_NEXT_TOKEN || info.objective == MMIX_OBJECTIVE_TWO_TOKENS,
              "%s: embeds at -2 only as a causal LM", info.name);
    }
    CHECK(mmix_arch_embedding_position((mmix_arch)MMIX_ARCH_COUNT) == 0, "an unknown architecture has none");
    c.vocab = 11, c.dim = 8, c.depth = 1, c.n_ctx = 4, c.ffn_dim = 16;
    CHECK_OK(ctx, mmix_ctx_create(&ctx, NULL));
    CHECK_OK(ctx, mmix_model_create(ctx, &m, c));
    ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(2, 4));
    CHECK(mmix_model_embedding(ctx, &m, ids) == NULL && strstr(mmix_last_error(ctx), "no retrieval embedding"),
          "the bidirectional mixer's embedding is an error: %s", mmix_last_error(ctx));
    mmix_ctx_destroy(ctx);
}

static void infonce_errors(void) {
    mmix_ctx *ctx;
    mmix_tensor *emb, *match;
    int32_t bad[2] = {0, 5};
    CHECK_OK(ctx, mmix_ctx_create(&ctx, NULL));
    emb = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape3(2, 5, 4));
    match = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape1(2));
    mmix_tensor_upload(ctx, match, 0, bad, 2);
    CHECK(!mmix_infonce_loss(ctx, emb, match, 0.02f) && strstr(mmix_last_error(ctx), "not in 1..4"),
          "a match outside 1..c-1 is an error: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    bad[0] = 1, bad[1] = 4;
    mmix_tensor_upload(ctx, match, 0, bad, 2);
    CHECK(!mmix_infonce_loss(ctx, emb, match, 0.0f) && strstr(mmix_last_error(ctx), "temperature"),
          "tau 0 is an error: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    CHECK(!mmix_infonce_loss(ctx, mmix_reshape(ctx, emb, mmix_shape2(10, 4)), match, 0.02f) &&
              mmix_last_result(ctx) == MMIX_ERR_SHAPE,
          "2-D embeddings are a shape error: %s", mmix_last_error(ctx));
    mmix_ctx_destroy(ctx);
}

/* ---- the candidate draw ---- */
static void sampler_properties(void) {
    mmix_ctx *ctx;
    mmix_retrieval_sampler s;
    mmix_rng rng;
    enum { N = 10, C = 4, DRAWS = 40000 };
    int64_t slots[N], i, j, k, seen_m[C] = {0}, seen[N] = {0}, ok = 1, restored = 1;
    double expect, sd;
    CHECK_OK(ctx, mmix_ctx_create(&ctx, NULL));
    CHECK_OK(ctx, mmix_retrieval_sampler_init(ctx, &s, N));
    mmix_rng_seed(&rng, 7);
    for (k = 0; k < DRAWS; k++) {
        int64_t idx = k % N, m = mmix_retrieval_draw(&s, &rng, idx, C, slots);
        if (m < 1 || m >= C || slots[0] != idx || slots[m] != idx) ok = 0;
        for (i = 1; i < C; i++) {
            if (i == m) continue;
            if (slots[i] == idx || slots[i] < 0 || slots[i] >= N) ok = 0;
            for (j = 1; j < i; j++)
                if (j != m && slots[j] == slots[i]) ok = 0;
            if (idx == 0) seen[slots[i]]++;
        }
        seen_m[m]++;
        for (i = 0; i < N; i++) restored &= s.perm[i] == i;
    }
    CHECK(ok, "every draw: slot 0 the query, slot m its match, c-2 distinct non-matches, none the query");
    CHECK(restored, "the scratch permutation is the identity after every draw");
    /* m uniform in 1..c-1 */
    expect = DRAWS / (double)(C - 1), sd = sqrt(expect * (1.0 - 1.0 / (C - 1)));
    for (i = 1; i < C; i++)
        CHECK(fabs((double)seen_m[i] - expect) < 5 * sd, "m = %lld drawn %lld times of %d (expect %.0f)", (long long)i,
              (long long)seen_m[i], DRAWS, expect);
    /* for query 0, each other index is a non-match with probability (c-2)/(n-1) */
    expect = (DRAWS / N) * (double)(C - 2) / (N - 1), sd = sqrt(expect);
    for (i = 1; i < N; i++)
        CHECK(fabs((double)seen[i] - expect) < 5 * sd, "index %lld among query 0's non-matches %lld times (expect %.0f)",
              (long long)i, (long long)seen[i], expect);
    CHECK(seen[0] == 0, "the query's own target is never a non-match");
    /* c = n: the n-1 others, then one of them overwritten by the match */
    {
        int64_t m = mmix_retrieval_draw(&s, &rng, 4, N, slots), count[N] = {0}, missing = 0;
        for (i = 0; i < N; i++) count[slots[i]]++;
        for (i = 0; i < N; i++) missing += i != 4 && count[i] == 0;
        for (i = 0, ok = 1; i < N; i++) ok &= i == 4 ? count[i] == 2 : count[i] <= 1;
        CHECK(m >= 1 && ok && missing == 1, "c = n: every other index once but the one the match replaced");
    }
    CHECK(mmix_retrieval_draw(&s, &rng, 0, N + 1, slots) == 0 && mmix_retrieval_draw(&s, &rng, N, 2, slots) == 0 &&
              mmix_retrieval_draw(&s, &rng, 0, 1, slots) == 0,
          "c > n, idx outside the pool and c < 2 are refused");
    mmix_retrieval_sampler_free(&s);
    CHECK(mmix_retrieval_sampler_init(ctx, &s, 0) == MMIX_ERR_INVALID_ARGUMENT, "an empty pool is refused");
    mmix_ctx_destroy(ctx);
}

/* ---- the evaluation, with methods whose answer is known ---- */
typedef struct known_method {
    int kind;                   /* 0 perfect, 1 all tied, 2 pseudo-random, 3 match always second best */
    int64_t pool;
    uint64_t salt;
} known_method;
static float pseudo_random(uint64_t salt, int64_t i, int64_t j) {
    uint64_t h = ((uint64_t)i * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)j * 0xC2B2AE3D27D4EB4FULL) ^ salt;
    h ^= h >> 31, h *= 0xBF58476D1CE4E5B9ULL, h ^= h >> 29;
    return (float)(h >> 40) / 16777216.0f;
}
static mmix_result known_scores(mmix_ctx *ctx, void *user, int64_t q0, int64_t nq, float *scores) {
    const known_method *k = (const known_method *)user;
    int64_t i, j;
    (void)ctx;
    for (i = 0; i < nq; i++)
        for (j = 0; j < k->pool; j++) {
            float *s = &scores[i * k->pool + j];
            int64_t q = q0 + i;
            switch (k->kind) {
            case 0: *s = j == q ? 1.0f : 0.0f; break;
            case 1: *s = 0.5f; break;
            case 2: *s = pseudo_random(k->salt, q, j); break;
            default: *s = j == q ? 1.0f : (j == (q + 1) % k->pool ? 2.0f : 0.0f); break;
            }
        }
    return MMIX_OK;
}

static void evaluation_known(void) {
    mmix_ctx *ctx;
    known_method km;
    mmix_retrieval_result res[3], again[3], alone[1];
    const int64_t ns[3] = {32, 64, 3000};
    int64_t pool = 2000;
    double p, sd, mrr;
    int r;
    CHECK_OK(ctx, mmix_ctx_create(&ctx, NULL));
    km.pool = pool, km.salt = 99;
    km.kind = 0;
    CHECK_OK(ctx, mmix_retrieval_evaluate(ctx, pool, ns, 3, 0, known_scores, &km, res, NULL, NULL));
    CHECK(res[0].queries == pool && res[0].top1 == 1.0 && res[0].mrr10 == 1.0 && res[0].recall10 == 1.0 &&
              res[1].top1 == 1.0,
          "a perfect method: top-1, MRR@10 and recall@10 all 1 over every query");
    CHECK(res[2].queries == 0 && res[2].n == 3000, "n larger than the pool is skipped");
    km.kind = 1;
    CHECK_OK(ctx, mmix_retrieval_evaluate(ctx, pool, ns, 2, 0, known_scores, &km, res, NULL, NULL));
    CHECK(res[0].top1 == 0.0 && res[0].recall10 == 0.0 && res[0].mrr10 == 0.0,
          "every score tied: the match ranks last, top-1 0 (ties count as wrong)");
    km.kind = 3;
    CHECK_OK(ctx, mmix_retrieval_evaluate(ctx, pool, ns, 2, 0, known_scores, &km, res, NULL, NULL));
    /* the match is second whenever target q+1 is among the candidates: probability (n-2)/(pool-1) */
    p = (32.0 - 2.0) / (pool - 1);
    CHECK(fabs(res[0].top1 - (1.0 - p)) < 5 * sqrt(p * (1 - p) / pool) && res[0].recall10 == 1.0 &&
              fabs(res[0].mrr10 - (1.0 - p / 2)) < 1e-9 + 5 * sqrt(p * (1 - p) / pool),
          "match beaten by one candidate when present: top-1 %.4f (expect %.4f), MRR@10 %.4f", res[0].top1, 1 - p,
          res[0].mrr10);
    km.kind = 2;
    CHECK_OK(ctx, mmix_retrieval_evaluate(ctx, pool, ns, 2, 5, known_scores, &km, res, NULL, NULL));
    for (r = 0; r < 2; r++) {
        int64_t k, n = ns[r];
        p = 1.0 / (double)(n - 1), sd = sqrt(p * (1 - p) / pool);
        for (mrr = 0.0, k = 1; k <= 10; k++) mrr += 1.0 / (double)k;
        mrr *= p;
        CHECK(fabs(res[r].top1 - p) < 5 * sd, "random scores, n = %lld: top-1 %.4f near chance %.4f", (long long)n,
              res[r].top1, p);
        CHECK(fabs(res[r].recall10 - 10 * p) < 5 * sqrt(10 * p * (1 - 10 * p) / pool),
              "random scores, n = %lld: recall@10 %.4f near %.4f", (long long)n, res[r].recall10, 10 * p);
        CHECK(fabs(res[r].mrr10 - mrr) < 5 * sqrt(mrr / pool), "random scores, n = %lld: MRR@10 %.4f near %.4f",
              (long long)n, res[r].mrr10, mrr);
    }
    CHECK_OK(ctx, mmix_retrieval_evaluate(ctx, pool, ns, 2, 5, known_scores, &km, again, NULL, NULL));
    CHECK_OK(ctx, mmix_retrieval_evaluate(ctx, pool, ns + 1, 1, 5, known_scores, &km, alone, NULL, NULL));
    CHECK(memcmp(res, again, 2 * sizeof again[0]) == 0 && alone[0].top1 == res[1].top1 && alone[0].mrr10 == res[1].mrr10,
          "the same seed draws the same lists, whatever other n are evaluated beside (%.5f %.5f, %.5f %.5f)", res[1].top1,
          alone[0].top1, res[0].top1, again[0].top1);
    CHECK_OK(ctx, mmix_retrieval_evaluate(ctx, pool, ns, 2, 6, known_scores, &km, again, NULL, NULL));
    CHECK(again[0].top1 != res[0].top1 || again[0].mrr10 != res[0].mrr10, "another seed draws other lists");
    CHECK(mmix_retrieval_evaluate(ctx, 1, ns, 1, 0, known_scores, &km, res, NULL, NULL) == MMIX_ERR_INVALID_ARGUMENT,
          "a pool of one is refused");
    mmix_ctx_destroy(ctx);
}

/* Unit embeddings: targets near their queries retrieve them; independent ones are chance. */
static void evaluation_embeddings(void) {
    enum { POOL = 600, D = 16 };
    mmix_ctx *ctx;
    mmix_rng rng;
    mmix_embedding_scorer sc;
    mmix_retrieval_result res[2];
    const int64_t ns[2] = {32, 512};
    float *Q = (float *)malloc(POOL * D * sizeof(float)), *T = (float *)malloc(POOL * D * sizeof(float));
    int64_t i, j;
    CHECK_OK(ctx, mmix_ctx_create(&ctx, NULL));
    mmix_rng_seed(&rng, 3);
    for (i = 0; i < POOL; i++) {
        double nq = 0, nt = 0;
        for (j = 0; j < D; j++) {
            Q[i * D + j] = mmix_rng_normal(&rng);
            T[i * D + j] = Q[i * D + j] + 0.05f * mmix_rng_normal(&rng);
            nq += (double)Q[i * D + j] * Q[i * D + j], nt += (double)T[i * D + j] * T[i * D + j];
        }
        for (j = 0; j < D; j++) Q[i * D + j] /= (float)sqrt(nq), T[i * D + j] /= (float)sqrt(nt);
    }
    sc.queries = Q, sc.targets = T, sc.n_queries = sc.pool = POOL, sc.dim = D;
    CHECK_OK(ctx, mmix_retrieval_evaluate(ctx, POOL, ns, 2, 0, mmix_embedding_scores, &sc, res, NULL, NULL));
    CHECK(res[0].top1 > 0.99 && res[1].top1 > 0.95, "near-copies retrieve their queries: top-1 %.3f (32), %.3f (512)",
          res[0].top1, res[1].top1);
    for (i = 0; i < POOL * D; i++) T[i] = Q[(i + 7 * D) % (POOL * D)]; /* target i is query i+7: unrelated */
    CHECK_OK(ctx, mmix_retrieval_evaluate(ctx, POOL, ns, 1, 0, mmix_embedding_scores, &sc, res, NULL, NULL));
    CHECK(res[0].top1 < 0.1, "unrelated targets: top-1 %.3f, near chance 1/31", res[0].top1);
    free(Q);
    free(T);
    mmix_ctx_destroy(ctx);
}

int main(void) {
    char err[512];
    if (!fixture_load("tests/reference/fixtures/retrieval.bin", &fx, err, sizeof err)) {
        CHECK(0, "%s", err);
        return test_summary("test_retrieval");
    }
    reference_case("mixer_ret", MMIX_ARCH_MIXER);
    reference_case("llama_ret", MMIX_ARCH_LLAMA);
    reference_case("mixer_ae_ret", MMIX_ARCH_MIXER_AE);
    embedding_rules();
    infonce_errors();
    sampler_properties();
    evaluation_known();
    evaluation_embeddings();
    fixture_free(&fx);
    return test_summary("test_retrieval");
}
