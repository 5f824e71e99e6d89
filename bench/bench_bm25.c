/* bench/bench_bm25.c - the BM25 baseline on the Debian retrieval pairs: the time to index the
   test split's targets (the last 10,000 lines) and to score Q queries (default 1,000) against
   N candidates each (default 8,192: the query's own target and N - 1 others drawn without
   replacement from the split, a fixed seed), single-threaded, plus the top-1 accuracy of
   that draw (a tie with the match counts as wrong) as a sanity check; then every test query
   against the whole split, as the evaluation harness scores, and the harness itself
   (mmix_retrieval_evaluate with mmix_bm25_scores) at every n of the paper's Table 1. Not the evaluation
   harness: its draw is SPEC Sec. 7.7's, done by mm retrieval-eval.
   Usage: bench_bm25 [PAIRS.jsonl] [Q] [N]
   Prints "key value" lines after a human-readable summary. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_SPLIT 10000

static int read_field(mmix_ctx *ctx, const char *path, const char *field, mmix_data_docs *out) {
    mmix_data_options o = mmix_data_options_default();
    o.format = MMIX_TEXT_JSONL;
    o.jsonl_field = field;
    if (mmix_data_read_docs(ctx, path, &o, out) != MMIX_OK) {
        fprintf(stderr, "bench_bm25: %s\n", mmix_last_error(ctx));
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "../shared/data/retrieval_debian.jsonl";
    int64_t n_queries = argc > 2 ? atoll(argv[2]) : 1000, n_cand = argc > 3 ? atoll(argv[3]) : 8192;
    mmix_ctx *ctx;
    mmix_data_docs queries, targets;
    mmix_bm25 bm;
    mmix_rng rng;
    const char **docs;
    size_t *lens;
    int64_t first, i, q, *pool, *cand, correct = 0, pairs;
    double *scores, t0, t_build, t_score = 0.0, t_pool, t_eval, checksum = 0.0;
    int64_t float_ties = 0;
    char table[1024];
    int table_len = 0;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return 1;
    if (!read_field(ctx, path, "query", &queries) || !read_field(ctx, path, "target", &targets)) return 1;
    if (queries.n != targets.n || targets.n < TEST_SPLIT) {
        fprintf(stderr, "bench_bm25: %lld queries, %lld targets: need two equal counts >= %d\n",
                (long long)queries.n, (long long)targets.n, TEST_SPLIT);
        return 1;
    }
    first = targets.n - TEST_SPLIT;
    if (n_queries > TEST_SPLIT) n_queries = TEST_SPLIT;
    if (n_cand > TEST_SPLIT) n_cand = TEST_SPLIT;
    docs = (const char **)malloc(TEST_SPLIT * sizeof *docs);
    lens = (size_t *)malloc(TEST_SPLIT * sizeof *lens);
    pool = (int64_t *)malloc(TEST_SPLIT * sizeof *pool);
    cand = (int64_t *)malloc((size_t)n_cand * sizeof *cand);
    scores = (double *)malloc((size_t)n_cand * sizeof *scores);
    if (!docs || !lens || !pool || !cand || !scores) return 1;
    for (i = 0; i < TEST_SPLIT; i++) {
        docs[i] = (const char *)targets.text + targets.offsets[first + i];
        lens[i] = (size_t)(targets.offsets[first + i + 1] - targets.offsets[first + i]);
    }

    t0 = mmix_time_seconds();
    if (mmix_bm25_build(ctx, &bm, docs, lens, TEST_SPLIT, mmix_bm25_config_default()) != MMIX_OK) {
        fprintf(stderr, "bench_bm25: %s\n", mmix_last_error(ctx));
        return 1;
    }
    t_build = mmix_time_seconds() - t0;
    for (pairs = 0, i = 0; i < TEST_SPLIT; i++) pairs += bm.doc_start[i + 1] - bm.doc_start[i];

    mmix_rng_seed(&rng, 0);
    for (q = 0; q < n_queries; q++) {
        const char *text = (const char *)queries.text + queries.offsets[first + q];
        size_t len = (size_t)(queries.offsets[first + q + 1] - queries.offsets[first + q]);
        int64_t best = 0;
        /* candidates: the match first, then n - 1 others by a partial Fisher-Yates shuffle */
        for (i = 0; i < TEST_SPLIT; i++) pool[i] = i;
        pool[q] = TEST_SPLIT - 1;
        pool[TEST_SPLIT - 1] = q;
        cand[0] = q;
        for (i = 0; i + 1 < n_cand; i++) { /* from pool[0 .. TEST_SPLIT - 2], the others */
            int64_t j = i + (int64_t)mmix_rng_below(&rng, (uint32_t)(TEST_SPLIT - 1 - i)), tmp = pool[i];
            pool[i] = pool[j];
            pool[j] = tmp;
            cand[i + 1] = pool[i];
        }
        t0 = mmix_time_seconds();
        if (mmix_bm25_score(ctx, &bm, text, len, cand, n_cand, scores) != MMIX_OK) {
            fprintf(stderr, "bench_bm25: %s\n", mmix_last_error(ctx));
            return 1;
        }
        t_score += mmix_time_seconds() - t0;
        for (i = 1; i < n_cand; i++)
            if (scores[i] >= scores[0]) best = 1; /* ties count as wrong */
        if (!best) correct++;
        for (i = 0; i < n_cand; i++) checksum += scores[i];
    }
    /* the evaluation harness's way: each query against the whole split (the postings); and
       how often rounding to float (the harness's scores) makes a lower-scoring document tie
       with the match */
    {
        double *all = (double *)malloc(TEST_SPLIT * sizeof(double));
        if (!all) return 1;
        t_pool = 0.0;
        for (q = 0; q < TEST_SPLIT; q++) {
            const char *text = (const char *)queries.text + queries.offsets[first + q];
            size_t len = (size_t)(queries.offsets[first + q + 1] - queries.offsets[first + q]);
            t0 = mmix_time_seconds();
            if (mmix_bm25_score(ctx, &bm, text, len, NULL, TEST_SPLIT, all) != MMIX_OK) return 1;
            t_pool += mmix_time_seconds() - t0;
            for (i = 0; i < TEST_SPLIT; i++)
                if (i != q && all[i] < all[q] && (float)all[i] == (float)all[q]) float_ties++;
        }
        free(all);
    }
    /* the harness itself (mmix_retrieval_evaluate: SPEC Sec. 7.7's draw, seed 0) */
    {
        static const int64_t ns[9] = {32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
        mmix_retrieval_result res[9];
        mmix_bm25_scorer sc;
        const char **qtext = (const char **)malloc(TEST_SPLIT * sizeof *qtext);
        size_t *qlen = (size_t *)malloc(TEST_SPLIT * sizeof *qlen);
        int k;
        if (!qtext || !qlen) return 1;
        for (i = 0; i < TEST_SPLIT; i++) {
            qtext[i] = (const char *)queries.text + queries.offsets[first + i];
            qlen[i] = (size_t)(queries.offsets[first + i + 1] - queries.offsets[first + i]);
        }
        sc.bm = &bm;
        sc.queries = qtext;
        sc.query_lens = qlen;
        sc.n_queries = TEST_SPLIT;
        t0 = mmix_time_seconds();
        if (mmix_retrieval_evaluate(ctx, TEST_SPLIT, ns, 9, 0, mmix_bm25_scores, &sc, res, NULL, NULL) != MMIX_OK) {
            fprintf(stderr, "bench_bm25: %s\n", mmix_last_error(ctx));
            return 1;
        }
        t_eval = mmix_time_seconds() - t0;
        for (k = 0; k < 9; k++)
            table_len += snprintf(table + table_len, sizeof table - (size_t)table_len, "  %-5lld %6.2f  %6.2f  %6.2f   %lld\n",
                                  (long long)res[k].n, 100 * res[k].top1, 100 * res[k].mrr10, 100 * res[k].recall10,
                                  (long long)res[k].queries);
        free(qtext);
        free(qlen);
    }
    printf("BM25 (k1 %.2f, b %.2f; %s)\n", (double)bm.config.k1, (double)bm.config.b, mmix_bm25_analyzer_name());
    printf("index: %d documents, %lld terms, %lld (doc, term) pairs, avgdl %.2f, built in %.3f s\n", TEST_SPLIT,
           (long long)bm.n_terms, (long long)pairs, bm.avgdl, t_build);
    printf("score: %lld queries x %lld candidates in %.3f s (%.1f ms a query, %.1f M candidates/s); "
           "top-1 %.2f%%\n", (long long)n_queries, (long long)n_cand, t_score, 1e3 * t_score / (double)n_queries,
           (double)n_queries * (double)n_cand / t_score / 1e6, 100.0 * (double)correct / (double)n_queries);
    printf("whole pool: %d queries x %d documents in %.3f s (%.3f ms a query); %lld (query, document) pairs\n"
           "  score below the match in double and the same in float\n", TEST_SPLIT, TEST_SPLIT, t_pool,
           1e3 * t_pool / TEST_SPLIT, (long long)float_ties);
    printf("mmix_retrieval_evaluate, test split, seed 0 (%.2f s):\n  n      top1   mrr10  recall10  queries\n%s", t_eval,
           table);
    printf("eval_s %.4f\npool_s %.4f\nbuild_s %.4f\nscore_s %.4f\nqueries %lld\ncandidates %lld\ntop1 %.4f\nchecksum %.17g\n",
           t_eval, t_pool, t_build, t_score, (long long)n_queries, (long long)n_cand, (double)correct / (double)n_queries, checksum);
    mmix_bm25_free(&bm);
    mmix_data_docs_free(&queries);
    mmix_data_docs_free(&targets);
    free(docs); free(lens); free(pool); free(cand); free(scores);
    mmix_ctx_destroy(ctx);
    return 0;
}
