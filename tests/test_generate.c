/* tests/test_generate.c - generation (paper Sec. 4.2): the cached forward (the mixer's per-layer
   token-mixing inputs, the transformer's KV cache) against full forwards, row by row;
   greedy generation by both methods against an index-walking loop written here from
   mmix_model_logits alone (paper Sec. 4.2); sampling (seeds, top-k, the distribution); errors;
   bounded memory; PyTorch's greedy tokens (fixtures/generate_tokens.txt). Models: random
   mixers with k = 1 and k = 4, a random transformer, GPT-1 (positions offset by the cache)
   and transfixer (its conv over cached attention outputs), and the reference-written fixture files. Logits tolerance: 1e-5 relative to the row's
   largest magnitude. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"

#define MAX_L 64
#define MAX_V 64

typedef struct named_model {
    const char *name;
    mmix_model m;
} named_model;

static int random_model(mmix_ctx *ctx, mmix_model *m, mmix_arch arch, int64_t kernel, uint64_t seed) {
    mmix_model_config c = mmix_model_config_default(arch);
    mmix_rng rng;
    c.vocab = 50;
    c.dim = 32;
    c.depth = 2;
    c.n_ctx = 24;
    c.kernel = kernel;
    c.heads = 4;
    c.ffn_dim = 4 * c.dim;
    if (mmix_model_create(ctx, m, c) != MMIX_OK) return 0;
    mmix_rng_seed(&rng, seed);
    mmix_model_init(m, &rng);
    if (arch == MMIX_ARCH_MIXER) { /* masked entries that are not zero: the mask must do its work */
        int64_t i, o, j, m2, L = c.n_ctx;
        for (i = 0; i < c.depth; i++)
            for (o = 0; o < L; o++)
                for (j = o + 1; j < L; j++)
                    for (m2 = 0; m2 < kernel; m2++)
                        m->mixer[i].conv_w->data[(o * L + j) * kernel + m2] = mmix_rng_uniform(&rng) - 0.5f;
    }
    if (arch == MMIX_ARCH_TRANSFIXER) { /* its convs' masked entries too */
        int64_t i, o, j, L = c.n_ctx;
        for (i = 0; i < c.depth; i++)
            for (o = 0; o < L; o++)
                for (j = o + 1; j < L; j++) m->llama[i].mix_w->data[o * L + j] = mmix_rng_uniform(&rng) - 0.5f;
    }
    if (arch != MMIX_ARCH_MIXER) { /* N(0, 0.02) makes near-uniform logits: sharpen them a bit */
        int64_t i;
        /* a tied head (GPT-1) is the embedding: scaled less, or its own token dominates */
        for (i = 0; i < m->lm_head->n; i++) m->lm_head->data[i] *= m->embed == m->lm_head ? 5.0f : 50.0f;
        for (i = 0; m->embed != m->lm_head && i < m->embed->n; i++) m->embed->data[i] *= 50.0f;
    }
    return 1;
}

/* Logits [T, V] of one sequence by a full forward in eval mode: a fixed window (mixers,
   the transfixer) is always n_ctx (positions from T on hold 0), a transformer runs on T tokens. */
static int full_logits(mmix_ctx *ctx, const mmix_model *m, const int32_t *tokens, int64_t T, float *out) {
    const mmix_model_config *c = &m->config;
    mmix_arch_info info;
    mmix_tensor *ids, *lg;
    int ok, was_training = mmix_is_training(ctx);
    mmix_arch_get(c->arch, &info);
    mmix_set_training(ctx, 0); /* inference, as the generator's: GPT-1's dropout off */
    ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(1, info.fixed_window ? c->n_ctx : T));
    if (!ids) return 0;
    memcpy(ids->ids, tokens, (size_t)T * sizeof(int32_t));
    lg = mmix_model_logits(ctx, m, ids);
    ok = lg != NULL;
    if (ok) memcpy(out, lg->data, (size_t)(T * c->vocab) * sizeof(float));
    mmix_step_reset(ctx);
    mmix_set_training(ctx, was_training);
    return ok;
}

static double row_err(const float *got, const float *want, int64_t V) {
    double scale = 0.0, err = 0.0;
    int64_t i;
    for (i = 0; i < V; i++)
        if (fabs((double)want[i]) > scale) scale = fabs((double)want[i]);
    for (i = 0; i < V; i++) {
        double e = fabs((double)got[i] - (double)want[i]);
        if (!(e <= err)) err = e;
    }
    return err / (scale > 0.0 ? scale : 1.0);
}

static int argmax(const float *x, int64_t V) {
    int64_t i, best = 0;
    for (i = 1; i < V; i++)
        if (x[i] > x[best]) best = i;
    return (int)best;
}

static void random_tokens(int32_t *t, int64_t n, int64_t V, uint64_t seed) {
    mmix_rng rng;
    int64_t i;
    mmix_rng_seed(&rng, seed);
    for (i = 0; i < n; i++) t[i] = (int32_t)mmix_rng_below(&rng, (uint32_t)V);
}

/* (a), (c): each position's logits from a generator, fed one token at a time and in
   chunks, equal the full forward's row. */
static void test_rows(mmix_ctx *ctx, const named_model *nm, mmix_generate_method method) {
    const mmix_model *m = &nm->m;
    int64_t L = m->config.n_ctx, V = m->config.vocab, t, worst_t = 0;
    static float full[MAX_L * MAX_V];
    int32_t seq[MAX_L];
    double worst = 0.0;
    const char *how = method == MMIX_GENERATE_CACHED ? "cached" : "index-walking";
    mmix_generator *g;
    int64_t chunks[4], n_chunks = 0, pos, ci;
    random_tokens(seq, L, V, 11);
    if (!full_logits(ctx, m, seq, L, full) || mmix_generator_create(ctx, m, method, &g) != MMIX_OK) {
        CHECK(0, "%s: setup: %s", nm->name, mmix_last_error(ctx));
        return;
    }
    for (t = 0; t < L; t++) {
        double e;
        if (mmix_generator_feed(g, &seq[t], 1) != MMIX_OK) {
            CHECK(0, "%s %s: feed at %lld: %s", nm->name, how, (long long)t, mmix_last_error(ctx));
            break;
        }
        e = row_err(mmix_generator_logits(g), full + t * V, V);
        if (!(e <= worst)) { worst = e; worst_t = t; }
    }
    CHECK(t == L && worst <= 1e-5, "%s %s: one token at a time, every row within 1e-5 of the full forward: worst "
          "%.3g at position %lld", nm->name, how, worst, (long long)worst_t);
    CHECK(mmix_generator_position(g) == L, "%s %s: the position counts every token fed", nm->name, how);
    CHECK(memcmp(mmix_generator_tokens(g), seq, (size_t)L * sizeof(int32_t)) == 0, "%s %s: tokens kept", nm->name, how);

    /* in chunks: a prompt in one pass, then single tokens, then the rest at once */
    chunks[n_chunks++] = L / 3 > 0 ? L / 3 : 1;
    chunks[n_chunks++] = 1;
    chunks[n_chunks++] = 2;
    chunks[n_chunks++] = L - chunks[0] - 3;
    mmix_generator_reset(g);
    worst = 0.0;
    for (ci = 0, pos = 0; ci < n_chunks; ci++) {
        double e;
        if (mmix_generator_feed(g, seq + pos, chunks[ci]) != MMIX_OK) {
            CHECK(0, "%s %s: feed of %lld at %lld: %s", nm->name, how, (long long)chunks[ci], (long long)pos,
                  mmix_last_error(ctx));
            break;
        }
        pos += chunks[ci];
        e = row_err(mmix_generator_logits(g), full + (pos - 1) * V, V);
        if (!(e <= worst)) worst = e;
    }
    CHECK(pos == L && worst <= 1e-5, "%s %s: fed in chunks, the last row of each within 1e-5: worst %.3g", nm->name,
          how, worst);
    mmix_generator_destroy(g);
}

/* (b): greedy generation by both methods equals index-walking written from full forwards
   (paper Sec. 4.2, as reference-notes Sec. 7 reads it: for j = p..L-1, tokens[j] =
   argmax logits[j - 1]). */
static void test_greedy(mmix_ctx *ctx, const named_model *nm) {
    const mmix_model *m = &nm->m;
    int64_t L = m->config.n_ctx, V = m->config.vocab, lens[4], li, j;
    static float full[MAX_L * MAX_V];
    int32_t prompt[MAX_L], want[MAX_L], cached[MAX_L], walking[MAX_L];
    lens[0] = 1;
    lens[1] = 2;
    lens[2] = L / 2;
    lens[3] = L - 1;
    for (li = 0; li < 4; li++) {
        int64_t p = lens[li], n_cached = -1, n_walking = -1, n_want;
        int ok = 1;
        random_tokens(prompt, L, V, 100 + (uint64_t)li);
        memcpy(want, prompt, sizeof want);
        for (j = p; j < L && ok; j++) { /* the reference loop: one full forward per token */
            ok = full_logits(ctx, m, want, j, full);
            if (ok) want[j] = argmax(full + (j - 1) * V, V);
        }
        n_want = L - p;
        CHECK_OK(ctx, mmix_generate(ctx, m, prompt, p, L, -1, NULL, MMIX_GENERATE_CACHED, cached, &n_cached));
        CHECK_OK(ctx, mmix_generate(ctx, m, prompt, p, L, -1, NULL, MMIX_GENERATE_INDEX_WALKING, walking, &n_walking));
        CHECK(ok && n_cached == n_want && n_walking == n_want, "%s: prompt %lld: generation runs to the end of the "
              "window (%lld new tokens): cached %lld, index-walking %lld", nm->name, (long long)p, (long long)n_want,
              (long long)n_cached, (long long)n_walking);
        if (n_cached == n_want && n_walking == n_want) {
            CHECK(memcmp(cached, want + p, (size_t)n_want * 4) == 0, "%s: prompt %lld: cached greedy tokens equal the "
                  "reference index-walking loop's", nm->name, (long long)p);
            CHECK(memcmp(walking, want + p, (size_t)n_want * 4) == 0, "%s: prompt %lld: index-walking greedy tokens "
                  "equal the reference loop's", nm->name, (long long)p);
        }
        if (li == 2) { /* max_new and the stop id cut the same run short */
            int64_t n_short = -1, n_stop = -1;
            int32_t buf[MAX_L];
            CHECK_OK(ctx, mmix_generate(ctx, m, prompt, p, 3, -1, NULL, MMIX_GENERATE_CACHED, buf, &n_short));
            CHECK(n_short == 3 && memcmp(buf, want + p, 12) == 0, "%s: max_new 3 gives the first 3 tokens",
                  nm->name);
            CHECK_OK(ctx, mmix_generate(ctx, m, prompt, p, L, want[p + 2], NULL, MMIX_GENERATE_CACHED, buf, &n_stop));
            for (j = 0; j < 2 && want[p + j] != want[p + 2]; j++) {}
            CHECK(n_stop == j, "%s: the stop id ends generation before it is stored (%lld tokens, expected %lld)",
                  nm->name, (long long)n_stop, (long long)j);
        }
    }
}

/* (c) beyond rows: the KV cache and full recomputation give the same logits at every
   step of a generation. */
static void test_methods_agree(mmix_ctx *ctx, const named_model *nm) {
    const mmix_model *m = &nm->m;
    int64_t L = m->config.n_ctx, V = m->config.vocab, t;
    mmix_generator *a, *b;
    int32_t tok = 3;
    double worst = 0.0;
    int same = 1;
    if (mmix_generator_create(ctx, m, MMIX_GENERATE_CACHED, &a) != MMIX_OK) return;
    if (mmix_generator_create(ctx, m, MMIX_GENERATE_INDEX_WALKING, &b) != MMIX_OK) {
        mmix_generator_destroy(a);
        return;
    }
    for (t = 0; t < L; t++) {
        int32_t ta, tb;
        double e;
        if (mmix_generator_feed(a, &tok, 1) != MMIX_OK || mmix_generator_feed(b, &tok, 1) != MMIX_OK) break;
        e = row_err(mmix_generator_logits(a), mmix_generator_logits(b), V);
        if (!(e <= worst)) worst = e;
        mmix_generator_sample(a, NULL, NULL, &ta);
        mmix_generator_sample(b, NULL, NULL, &tb);
        same &= ta == tb;
        tok = ta;
    }
    CHECK(t == L && worst <= 1e-5 && same, "%s: cached and recomputed logits agree along a greedy run: %lld steps, "
          "worst %.3g, same tokens %d", nm->name, (long long)t, worst, same);
    mmix_generator_destroy(a);
    mmix_generator_destroy(b);
}

/* (d) sampling. */
static void test_sampling(mmix_ctx *ctx, const named_model *nm) {
    const mmix_model *m = &nm->m;
    int64_t L = m->config.n_ctx, V = m->config.vocab, n1 = -1, n2 = -1, ng = -1, nk = -1, i, s;
    int32_t prompt[2] = {1, 2}, a[MAX_L], b[MAX_L], greedy[MAX_L], topk1[MAX_L];
    mmix_sampler sm = mmix_sampler_default();
    mmix_generator *g;
    mmix_rng rng;
    int distinct_runs = 0, outside = 0, seen[MAX_V];
    double freq[MAX_V], prob[MAX_V], total = 0.0, worst = 0.0, mx;
    const float *lg;
    sm.temperature = 1.0f;
    sm.seed = 7;
    CHECK_OK(ctx, mmix_generate(ctx, m, prompt, 2, L, -1, &sm, MMIX_GENERATE_CACHED, a, &n1));
    CHECK_OK(ctx, mmix_generate(ctx, m, prompt, 2, L, -1, &sm, MMIX_GENERATE_CACHED, b, &n2));
    CHECK(n1 == n2 && n1 == L - 2 && memcmp(a, b, (size_t)n1 * 4) == 0, "%s: the same seed gives the same sample",
          nm->name);
    CHECK_OK(ctx, mmix_generate(ctx, m, prompt, 2, L, -1, &sm, MMIX_GENERATE_INDEX_WALKING, b, &n2));
    CHECK(n1 == n2 && memcmp(a, b, (size_t)n1 * 4) == 0, "%s: the same seed gives the same sample by both methods",
          nm->name);
    for (s = 8; s < 12; s++) {
        sm.seed = (uint64_t)s;
        CHECK_OK(ctx, mmix_generate(ctx, m, prompt, 2, L, -1, &sm, MMIX_GENERATE_CACHED, b, &n2));
        distinct_runs += n2 != n1 || memcmp(a, b, (size_t)n1 * 4) != 0;
    }
    CHECK(distinct_runs >= 3, "%s: other seeds give other samples (%d of 4 differ)", nm->name, distinct_runs);
    sm.top_k = 1;
    sm.temperature = 1.5f;
    CHECK_OK(ctx, mmix_generate(ctx, m, prompt, 2, L, -1, &sm, MMIX_GENERATE_CACHED, topk1, &nk));
    CHECK_OK(ctx, mmix_generate(ctx, m, prompt, 2, L, -1, NULL, MMIX_GENERATE_CACHED, greedy, &ng));
    CHECK(nk == ng && memcmp(topk1, greedy, (size_t)ng * 4) == 0, "%s: top_k = 1 is greedy", nm->name);

    /* draws from one logits row: top-k draws stay in the top k; plain draws follow softmax */
    if (mmix_generator_create(ctx, m, MMIX_GENERATE_CACHED, &g) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_generator_feed(g, prompt, 2));
    lg = mmix_generator_logits(g);
    mmix_rng_seed(&rng, 5);
    sm.top_k = 5;
    sm.temperature = 3.0f;
    memset(seen, 0, sizeof seen);
    for (i = 0; i < 2000; i++) {
        int32_t tok = -1;
        int64_t above = 0, j;
        if (mmix_generator_sample(g, &sm, &rng, &tok) != MMIX_OK || tok < 0 || tok >= V) { outside++; continue; }
        for (j = 0; j < V; j++) above += lg[j] > lg[tok];
        outside += above >= 5;
        seen[tok] = 1;
    }
    for (i = 0, s = 0; i < V; i++) s += seen[i];
    CHECK(outside == 0 && s == 5, "%s: top_k 5 draws stay within the 5 largest logits (%d outside) and reach all 5 "
          "(%lld seen)", nm->name, outside, (long long)s);
    sm.top_k = 0;
    sm.temperature = 2.0f;
    memset(freq, 0, sizeof freq);
    for (i = 0; i < 40000; i++) {
        int32_t tok = 0;
        mmix_generator_sample(g, &sm, &rng, &tok);
        freq[tok] += 1.0 / 40000.0;
    }
    for (mx = lg[0], i = 1; i < V; i++) mx = lg[i] > mx ? lg[i] : mx;
    for (i = 0; i < V; i++) total += prob[i] = exp(((double)lg[i] - mx) / 2.0);
    for (i = 0; i < V; i++) worst = fabs(freq[i] - prob[i] / total) > worst ? fabs(freq[i] - prob[i] / total) : worst;
    CHECK(worst < 0.01, "%s: temperature-2 draws follow softmax(logits / 2): largest frequency error %.4f", nm->name,
          worst);
    mmix_generator_destroy(g);
}

/* (e) errors: a message, no crash, the generator unchanged. */
static void test_errors(mmix_ctx *ctx, const named_model *nm) {
    const mmix_model *m = &nm->m;
    int64_t L = m->config.n_ctx, V = m->config.vocab, n = -1;
    int32_t prompt[MAX_L + 1], out[MAX_L];
    mmix_sampler bad = mmix_sampler_default();
    mmix_generator *g;
    mmix_result r;
    memset(prompt, 0, sizeof prompt);
    prompt[1] = (int32_t)V;
    r = mmix_generate(ctx, m, prompt, 3, 4, -1, NULL, MMIX_GENERATE_CACHED, out, &n);
    CHECK(r == MMIX_ERR_RANGE && strstr(mmix_last_error(ctx), "vocabulary") && n == 0,
          "%s: a token id = vocab is a range error: '%s'", nm->name, mmix_last_error(ctx));
    prompt[1] = 1;
    r = mmix_generate(ctx, m, prompt, 3, 4, -1, NULL, MMIX_GENERATE_CACHED, out, &n);
    CHECK(r == MMIX_ERR_RANGE, "%s: the error is sticky until cleared", nm->name);
    mmix_clear_error(ctx);
    prompt[2] = -1;
    r = mmix_generate(ctx, m, prompt, 3, 4, -1, NULL, MMIX_GENERATE_INDEX_WALKING, out, &n);
    CHECK(r == MMIX_ERR_RANGE && strstr(mmix_last_error(ctx), "-1"), "%s: a negative id: '%s'", nm->name,
          mmix_last_error(ctx));
    mmix_clear_error(ctx);
    prompt[2] = 1;
    r = mmix_generate(ctx, m, prompt, 0, 4, -1, NULL, MMIX_GENERATE_CACHED, out, &n);
    CHECK(r == MMIX_ERR_INVALID_ARGUMENT && strstr(mmix_last_error(ctx), "empty"), "%s: an empty prompt: '%s'",
          nm->name, mmix_last_error(ctx));
    mmix_clear_error(ctx);
    r = mmix_generate(ctx, m, prompt, L, 4, -1, NULL, MMIX_GENERATE_CACHED, out, &n);
    CHECK(r == MMIX_ERR_RANGE && strstr(mmix_last_error(ctx), "window"), "%s: a prompt of n_ctx tokens: '%s'",
          nm->name, mmix_last_error(ctx));
    mmix_clear_error(ctx);
    r = mmix_generate(ctx, m, prompt, L + 1, 4, -1, NULL, MMIX_GENERATE_INDEX_WALKING, out, &n);
    CHECK(r == MMIX_ERR_RANGE, "%s: a prompt longer than the window", nm->name);
    mmix_clear_error(ctx);
    bad.temperature = -1.0f;
    r = mmix_generate(ctx, m, prompt, 2, 4, -1, &bad, MMIX_GENERATE_CACHED, out, &n);
    CHECK(r == MMIX_ERR_INVALID_ARGUMENT && strstr(mmix_last_error(ctx), "temperature"),
          "%s: a negative temperature: '%s'", nm->name, mmix_last_error(ctx));
    mmix_clear_error(ctx);
    bad.temperature = 1.0f;
    bad.top_k = -2;
    r = mmix_generate(ctx, m, prompt, 2, 4, -1, &bad, MMIX_GENERATE_CACHED, out, &n);
    CHECK(r == MMIX_ERR_INVALID_ARGUMENT, "%s: a negative top_k", nm->name);
    mmix_clear_error(ctx);

    if (mmix_generator_create(ctx, m, MMIX_GENERATE_CACHED, &g) != MMIX_OK) return;
    {
        int32_t tok;
        r = mmix_generator_sample(g, NULL, NULL, &tok);
        CHECK(r == MMIX_ERR_INVALID_ARGUMENT, "%s: sampling before any feed is an error", nm->name);
        mmix_clear_error(ctx);
    }
    CHECK_OK(ctx, mmix_generator_feed(g, prompt, L - 1));
    prompt[0] = (int32_t)V + 5;
    r = mmix_generator_feed(g, prompt, 1);
    CHECK(r == MMIX_ERR_RANGE && mmix_generator_position(g) == L - 1, "%s: a bad id leaves the generator where it was",
          nm->name);
    mmix_clear_error(ctx);
    prompt[0] = 1;
    r = mmix_generator_feed(g, prompt, 2);
    CHECK(r == MMIX_ERR_RANGE && strstr(mmix_last_error(ctx), "window"), "%s: feeding past the window: '%s'",
          nm->name, mmix_last_error(ctx));
    mmix_clear_error(ctx);
    r = mmix_generator_feed(g, prompt, 0);
    CHECK(r == MMIX_ERR_INVALID_ARGUMENT, "%s: feeding nothing", nm->name);
    mmix_clear_error(ctx);
    CHECK_OK(ctx, mmix_generator_feed(g, prompt, 1));
    CHECK(mmix_generator_position(g) == L, "%s: the last position of the window can be fed", nm->name);
    mmix_generator_destroy(g);
    CHECK(mmix_is_training(ctx) && mmix_grad_enabled(ctx), "%s: training mode and gradients are restored", nm->name);
}

/* Memory: a generation leaves the step arena empty, and a second one of the same size
   allocates nothing but its generator. */
static void test_memory(mmix_ctx *ctx, const named_model *nm) {
    const mmix_model *m = &nm->m;
    int32_t prompt[3] = {1, 2, 3}, out[MAX_L];
    int64_t n, before;
    mmix_memory_stats st;
    CHECK_OK(ctx, mmix_generate(ctx, m, prompt, 3, 100, -1, NULL, MMIX_GENERATE_CACHED, out, &n));
    before = mmix_memory_usage(ctx).system_allocations;
    CHECK_OK(ctx, mmix_generate(ctx, m, prompt, 3, 100, -1, NULL, MMIX_GENERATE_CACHED, out, &n));
    st = mmix_memory_usage(ctx);
    CHECK(st.system_allocations - before == 1 && st.step_used == 0 && st.tape_len == 0,
          "%s: generation allocates once (%lld) and leaves the step arena empty (%lld bytes, tape %lld)", nm->name,
          (long long)(st.system_allocations - before), (long long)st.step_used, (long long)st.tape_len);
}

/* Greedy tokens of the PyTorch reference (make_fixtures.py: index-walking for the mixer,
   the append-the-argmax loop for the transformer) on the fixture files' weights. */
static void test_reference(mmix_ctx *ctx, const named_model *nm, const char *case_name) {
    FILE *f = fopen("tests/reference/fixtures/generate_tokens.txt", "r");
    char line[1024], name[64];
    int cases = 0;
    if (!f) {
        CHECK(0, "tests/reference/fixtures/generate_tokens.txt can be read");
        return;
    }
    while (fgets(line, sizeof line, f)) {
        int32_t prompt[MAX_L], want[MAX_L], got[MAX_L];
        int64_t p, n_want, n_got, i, method;
        char *at = line;
        int used, ok = 1;
        if (line[0] == '#' || sscanf(at, "%63s %lld%n", name, (long long *)&p, &used) != 2 || strcmp(name, case_name))
            continue;
        at += used;
        for (i = 0; ok && i < p; i++, at += used) ok = sscanf(at, "%d%n", &prompt[i], &used) == 1;
        ok = ok && sscanf(at, "%lld%n", (long long *)&n_want, &used) == 1;
        at += used;
        for (i = 0; ok && i < n_want; i++, at += used) ok = sscanf(at, "%d%n", &want[i], &used) == 1;
        CHECK(ok && p < MAX_L && n_want < MAX_L, "%s: a well-formed reference line", nm->name);
        if (!ok) continue;
        for (method = 0; method < 2; method++) {
            mmix_generate_method how = method ? MMIX_GENERATE_INDEX_WALKING : MMIX_GENERATE_CACHED;
            CHECK_OK(ctx, mmix_generate(ctx, &nm->m, prompt, p, MAX_L, -1, NULL, how, got, &n_got));
            CHECK(n_got == n_want && memcmp(got, want, (size_t)n_want * 4) == 0, "%s, %s: prompt of %lld: PyTorch's "
                  "greedy tokens", nm->name, method ? "index-walking" : "cached", (long long)p);
        }
        cases++;
    }
    fclose(f);
    CHECK(cases == 4, "%s: 4 reference cases (found %d)", nm->name, cases);
}

/* Each model in its own context (parameter names are unique per context). */
static int make_model(mmix_ctx *ctx, int which, named_model *nm) {
    mmix_load_options lo = mmix_load_options_default();
    int32_t pad;
    switch (which) {
    case 0: nm->name = "mixer k=1"; return random_model(ctx, &nm->m, MMIX_ARCH_MIXER, 1, 1);
    case 1: nm->name = "mixer k=4"; return random_model(ctx, &nm->m, MMIX_ARCH_MIXER, 4, 2);
    case 2: nm->name = "llama"; return random_model(ctx, &nm->m, MMIX_ARCH_LLAMA, 1, 3);
    case 3:
        nm->name = "fixture mixer_k1";
        return mmix_model_load(ctx, &nm->m, "tests/reference/fixtures/mixer_k1.safetensors", NULL, &pad) == MMIX_OK;
    case 4:
        nm->name = "fixture llama_h4";
        lo.heads = 4;
        lo.n_ctx = 8; /* the file has no window; 8 is the reference's sequence length */
        return mmix_model_load(ctx, &nm->m, "tests/reference/fixtures/llama_h4.safetensors", &lo, &pad) == MMIX_OK;
    case 5: nm->name = "gpt1"; return random_model(ctx, &nm->m, MMIX_ARCH_GPT1, 1, 4);
    default: nm->name = "transfixer"; return random_model(ctx, &nm->m, MMIX_ARCH_TRANSFIXER, 1, 5);
    }
}

int main(void) {
    int which;
    for (which = 0; which < 7; which++) {
        mmix_ctx *ctx;
        named_model nm;
        if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return 1;
        if (!make_model(ctx, which, &nm)) {
            CHECK(0, "model %d: %s", which, mmix_last_error(ctx));
            mmix_ctx_destroy(ctx);
            continue;
        }
        CHECK(nm.m.config.n_ctx <= MAX_L && nm.m.config.vocab <= MAX_V, "%s fits the test's buffers", nm.name);
        test_rows(ctx, &nm, MMIX_GENERATE_CACHED);
        test_rows(ctx, &nm, MMIX_GENERATE_INDEX_WALKING);
        test_greedy(ctx, &nm);
        test_methods_agree(ctx, &nm);
        test_sampling(ctx, &nm);
        test_errors(ctx, &nm);
        test_memory(ctx, &nm);
        if (which == 3 || which == 4) test_reference(ctx, &nm, which == 3 ? "mixer_k1" : "llama_h4");
        mmix_ctx_destroy(ctx);
    }
    return test_summary("generate");
}
