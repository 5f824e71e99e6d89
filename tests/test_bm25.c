/* tests/test_bm25.c - the BM25 baseline (docs/reference-notes.md Sec. 18): the Porter stemmer
   on the examples of Porter's paper and on Lucene's three departures from it; the analyzer
   on hand-made sentences (possessives, stopwords, digits, punctuation, case, UTF-8, long and
   malformed input); BM25 scores on a four-document pool worked out by hand below; argument
   errors; every out-of-memory path of building and scoring, with nothing leaked; and, where
   ../shared/data is present, the Debian test split against an independent Python BM25
   (tests/reference/bm25_reference.py). */
#include "counting_hooks.h"   /* every out-of-memory path of building and scoring, walked */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"

static mmix_ctx *ctx;

/* ---- The stemmer ---- */
static const char *const stem_cases[][2] = {
    /* Porter (1980), the examples of each step */
    {"caresses", "caress"}, {"ponies", "poni"}, {"ties", "ti"}, {"caress", "caress"}, {"cats", "cat"},
    {"feed", "feed"}, {"agreed", "agre"}, {"plastered", "plaster"}, {"bled", "bled"}, {"motoring", "motor"},
    {"sing", "sing"}, {"conflated", "conflat"}, {"troubled", "troubl"}, {"sized", "size"}, {"hopping", "hop"},
    {"tanned", "tan"}, {"falling", "fall"}, {"hissing", "hiss"}, {"fizzed", "fizz"}, {"failing", "fail"},
    {"filing", "file"}, {"happy", "happi"}, {"sky", "sky"}, {"relational", "relat"}, {"conditional", "condit"},
    {"rational", "ration"}, {"valenci", "valenc"}, {"digitizer", "digit"}, {"conformabli", "conform"},
    {"radicalli", "radic"}, {"differentli", "differ"}, {"vileli", "vile"}, {"analogousli", "analog"},
    {"vietnamization", "vietnam"}, {"predication", "predic"}, {"operator", "oper"}, {"feudalism", "feudal"},
    {"decisiveness", "decis"}, {"hopefulness", "hope"}, {"callousness", "callous"}, {"formaliti", "formal"},
    {"sensitiviti", "sensit"}, {"sensibiliti", "sensibl"}, {"triplicate", "triplic"}, {"formative", "form"},
    {"formalize", "formal"}, {"electriciti", "electr"}, {"electrical", "electr"}, {"hopeful", "hope"},
    {"goodness", "good"}, {"revival", "reviv"}, {"allowance", "allow"}, {"inference", "infer"},
    {"airliner", "airlin"}, {"gyroscopic", "gyroscop"}, {"adjustable", "adjust"}, {"defensible", "defens"},
    {"irritant", "irrit"}, {"replacement", "replac"}, {"adjustment", "adjust"}, {"dependent", "depend"},
    {"adoption", "adopt"}, {"homologou", "homolog"}, {"communism", "commun"}, {"activate", "activ"},
    {"angulariti", "angular"}, {"homologous", "homolog"}, {"effective", "effect"}, {"bowdlerize", "bowdler"},
    {"probate", "probat"}, {"rate", "rate"}, {"cease", "ceas"}, {"controll", "control"}, {"roll", "roll"},
    {"generalizations", "gener"}, {"oscillators", "oscil"},
    /* Lucene's (Porter's reference code's) departures from the paper: BLI -> BLE
       ("possibli" -> "possible", then -ible stays (m("poss") = 1) and step 5a drops the e;
       the paper's ABLI rule would leave "possibli"), LOGI -> LOG (m("archaeo") = 1 > 0; the
       paper keeps "archaeologi"), and words of two letters are left alone (the paper makes
       "as" "a"). */
    {"possibly", "possibl"}, {"archaeology", "archaeolog"}, {"biology", "biologi"}, {"as", "as"}, {"is", "is"},
    /* y: a consonant at the start and after a vowel, a vowel after a consonant */
    {"toys", "toi"}, {"yes", "ye"}, {"syzygy", "syzygi"},
    /* step 4's -ion needs s or t before it; ement is the longest of ement/ment/ent */
    {"adoption", "adopt"}, {"opinion", "opinion"}, {"element", "element"}, {"running", "run"}, {"running", "run"},
};

static void test_stemmer(void) {
    size_t i;
    char buf[64];
    for (i = 0; i < sizeof stem_cases / sizeof stem_cases[0]; i++) {
        size_t n = strlen(stem_cases[i][0]);
        memcpy(buf, stem_cases[i][0], n);
        n = mmix_porter_stem(buf, n);
        buf[n] = '\0';
        CHECK(strcmp(buf, stem_cases[i][1]) == 0, "stem(%s) = %s, expected %s", stem_cases[i][0], buf,
              stem_cases[i][1]);
    }
    /* UTF-8: the two identical bytes 0x81 0x81 of U+1041 are no double consonant, so step 1b
       removes "ed" and nothing of the character. */
    memcpy(buf, "ab\xE1\x81\x81" "ed", 7);
    CHECK(mmix_porter_stem(buf, 7) == 5 && memcmp(buf, "ab\xE1\x81\x81", 5) == 0, "UTF-8 kept whole");
    CHECK(mmix_porter_stem(buf, 0) == 0 && mmix_porter_stem(NULL, 3) == 3, "empty and NULL words");
}

/* ---- The analyzer ---- */
typedef struct {
    char text[1024];
    size_t len;
    int stop_after;              /* stop after this many terms (0: never) */
    int seen;
} joined;

static int join_term(const char *term, size_t len, void *user) {
    joined *j = (joined *)user;
    if (j->len && j->len < sizeof j->text - 1) j->text[j->len++] = ' ';
    if (j->len + len < sizeof j->text) {
        memcpy(j->text + j->len, term, len);
        j->len += len;
    }
    j->text[j->len] = '\0';
    j->seen++;
    return j->stop_after && j->seen >= j->stop_after;
}

static void check_analyze(const char *text, size_t len, const char *expected, int line) {
    joined j;
    int64_t n;
    memset(&j, 0, sizeof j);
    n = mmix_bm25_analyze(text, len, join_term, &j);
    CHECK(strcmp(j.text, expected) == 0 && n == j.seen && n == mmix_bm25_analyze(text, len, NULL, NULL),
          "line %d: analyze -> \"%s\" (%lld terms), expected \"%s\"", line, j.text, (long long)n, expected);
}
#define ANALYZE(text, expected) check_analyze(text, strlen(text), expected, __LINE__)

static void test_analyzer(void) {
    joined j;
    char longtext[700];
    int64_t n;
    /* possessives: 's and 'S after a letter, with ' U+2019 or U+FF07; other apostrophes split */
    ANALYZE("The Cat's toys aren't John\xE2\x80\x99s, JAMES'S or Mary\xEF\xBC\x87s!", "cat toi aren t john jame mari");
    ANALYZE("it's users' 1990's O'Neil's 'sdk cat'sx", "user 1990 s o neil sdk cat sx");
    /* stopwords: all 33 vanish, case does not matter; near misses stay */
    ANALYZE("a an and are as at be but by for if in into is it no not of on or such that the their then "
            "there these they this to was will with", "");
    ANALYZE("This is NOT a test, but it WILL be. Then: thereby, then's, an's", "test therebi");
    /* digits, punctuation and case: runs of letters and digits, lowercased */
    ANALYZE("Python3.11 supports UTF-8 on x86_64 (64-bit) CPUs; see http://example.org/a+b",
            "python3 11 support utf 8 x86 64 64 bit cpu see http exampl org b");
    ANALYZE("RUNNING Quickly, hopping...", "run quickli hop");
    /* UTF-8: letters stay in tokens (Latin-1 capitals lowered), punctuation and symbols split */
    ANALYZE("Caf\xC3\xA9 na\xC3\xAFve \xE2\x80\x94 r\xC3\xA9sum\xC3\xA9 \xC3\x89" "COLE \xE2\x80\x9Cquoted\xE2\x80\x9D 10\xC2\xB5s",
            "caf\xC3\xA9 na\xC3\xAFv r\xC3\xA9sum\xC3\xA9 \xC3\xA9" "cole quot 10\xC2\xB5");
    ANALYZE("x\xC2\xA0y 3\xC3\x97" "4 \xE2\x80\xA2 item\xEF\xBF\xBC" "end \xCE\xB1\xCE\xB2\xCE\xB3", "x y 3 4 item end \xCE\xB1\xCE\xB2\xCE\xB3");
    /* malformed UTF-8 bytes separate; a cut sequence at the end too */
    ANALYZE("ab\xFF" "cd \xC0\xAF" "ef gh\xC3", "ab cd ef gh");
    check_analyze("cat\0dog", 7, "cat dog", __LINE__);
    ANALYZE("", "");
    CHECK(mmix_bm25_analyze(NULL, 5, NULL, NULL) == 0, "NULL text");
    /* a run longer than 255 bytes is cut into pieces of at most 255 */
    memset(longtext, 'x', 600);
    longtext[600] = '\0';
    memset(&j, 0, sizeof j);
    n = mmix_bm25_analyze(longtext, 600, join_term, &j);
    CHECK(n == 3 && j.len == 600 + 2, "600 x: %lld terms, %zu bytes", (long long)n, j.len);
    /* the callback can stop the walk */
    memset(&j, 0, sizeof j);
    j.stop_after = 2;
    n = mmix_bm25_analyze("one two three four", 18, join_term, &j);
    CHECK(n == 2 && strcmp(j.text, "on two") == 0, "stopped after two: %lld, \"%s\"", (long long)n, j.text);
    CHECK(strstr(mmix_bm25_analyzer_name(), "Porter") != NULL, "analyzer name");
}

/* ---- Scores on a pool worked out by hand ----
   k1 = 1.25, b = 0.5 (exact in float, so the expressions below are the same doubles).
     d0 "The cat sat on the mat."        -> cat sat mat           dl = 3
     d1 "Cats and dogs: a dog's life."   -> cat dog dog life      dl = 4
     d2 ""                               -> (nothing)             dl = 0, not counted
     d3 "Dog dog DOG running"            -> dog dog dog run       dl = 4
   N = 3 documents with a term (Lucene's docCount), avgdl = (3 + 4 + 4) / 3 = 11/3.
   df: cat 2, dog 2, sat mat life run 1.
   idf(df 2) = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln(1 + 1.5/2.5) = ln 1.6
   idf(df 1) = ln(1 + (3 - 1 + 0.5) / (1 + 0.5)) = ln(1 + 2.5/1.5) = ln(8/3)
   norm = k1 (1 - b + b dl / avgdl):
     d0: 1.25 (0.5 + 0.5 * 9/11)  = 1.25 * 10/11   = 12.5/11
     d1, d3: 1.25 (0.5 + 0.5 * 12/11) = 1.25 * 11.5/11 = 14.375/11
     d2: 1.25 * 0.5 = 0.625 (no term matches anyway)
   term score = idf tf (k1 + 1) / (tf + norm), k1 + 1 = 2.25:
     cat in d0 (tf 1): ln1.6 * 2.25 / (1 + 12.5/11)     = ln1.6 * 2.25 * 11 / 23.5
     cat in d1 (tf 1): ln1.6 * 2.25 / (1 + 14.375/11)   = ln1.6 * 2.25 * 11 / 25.375
     dog in d1 (tf 2): ln1.6 * 4.5  / (2 + 14.375/11)   = ln1.6 * 4.5 * 11 / 36.375
     dog in d3 (tf 3): ln1.6 * 6.75 / (3 + 14.375/11)   = ln1.6 * 6.75 * 11 / 47.375
     sat in d0 (tf 1): ln(8/3) * 2.25 * 11 / 23.5
   Query "dogs dog cat zebra" -> dog dog cat zebra: dog twice, zebra absent (adds 0):
     d0 = cat(d0); d1 = 2 dog(d1) + cat(d1); d2 = 0; d3 = 2 dog(d3). */
static void test_scores(void) {
    const char *docs[4] = {"The cat sat on the mat.", "Cats and dogs: a dog's life.", "", "Dog dog DOG running"};
    mmix_bm25_config cfg = mmix_bm25_config_default();
    mmix_bm25 bm;
    double s[4], s2[4], l16 = log(1.6), l83 = log(8.0 / 3.0), e[4];
    int64_t perm[4] = {3, 0, 2, 1}, bad[2] = {0, 4};
    const char *q = "dogs dog cat zebra";
    int i, same;
    CHECK(cfg.k1 == 0.9f && cfg.b == 0.4f, "defaults k1 %g b %g", (double)cfg.k1, (double)cfg.b);
    cfg.k1 = 1.25f;
    cfg.b = 0.5f;
    CHECK_OK(ctx, mmix_bm25_build(ctx, &bm, docs, NULL, 4, cfg));
    CHECK(bm.n_docs == 4 && bm.n_counted == 3 && bm.n_terms == 6 && bm.avgdl == 11.0 / 3.0, "pool: %lld docs, "
          "%lld counted, %lld terms, avgdl %g", (long long)bm.n_docs, (long long)bm.n_counted, (long long)bm.n_terms,
          bm.avgdl);
    CHECK(bm.doc_len[0] == 3 && bm.doc_len[1] == 4 && bm.doc_len[2] == 0 && bm.doc_len[3] == 4, "lengths");
    CHECK(mmix_bm25_term_id(&bm, "dog", 3) >= 0 && bm.df[mmix_bm25_term_id(&bm, "dog", 3)] == 2 &&
          bm.df[mmix_bm25_term_id(&bm, "run", 3)] == 1 && mmix_bm25_term_id(&bm, "the", 3) < 0 &&
          mmix_bm25_term_id(&bm, "dogs", 4) < 0, "dictionary and df");
    CHECK(fabs(bm.idf[mmix_bm25_term_id(&bm, "cat", 3)] - l16) < 1e-15 &&
          fabs(bm.idf[mmix_bm25_term_id(&bm, "life", 4)] - l83) < 1e-15, "idf");

    e[0] = l16 * 2.25 * 11 / 23.5;
    e[1] = 2 * (l16 * 4.5 * 11 / 36.375) + l16 * 2.25 * 11 / 25.375;
    e[2] = 0.0;
    e[3] = 2 * (l16 * 6.75 * 11 / 47.375);
    CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, q, strlen(q), NULL, 4, s));
    for (i = 0; i < 4; i++) CHECK(fabs(s[i] - e[i]) <= 1e-12 * e[i], "d%d: %.17g, by hand %.17g", i, s[i], e[i]);
    CHECK(s[2] == 0.0, "the empty document scores 0");
    /* the same scores in any candidate order, and bit for bit on every call */
    CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, q, strlen(q), perm, 4, s2));
    same = 1;
    for (i = 0; i < 4; i++) same &= memcmp(&s2[i], &s[perm[i]], sizeof(double)) == 0;
    CHECK(same, "a permuted candidate list gives the same scores");
    /* a repeated term counts once per occurrence: "dog dog" is exactly twice "dog" */
    CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, "dog", 3, NULL, 4, s));
    CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, "dog dogs", 8, NULL, 4, s2));
    CHECK(s2[3] == 2 * s[3] && s2[1] == 2 * s[1] && s[0] == 0.0, "repeated term: %g = 2 x %g", s2[3], s[3]);
    /* a long query of repeats: "dog" 5,000 times and "cat" once is 5,000 dog + cat */
    {
        char *big = (char *)malloc(5000 * 4 + 4);
        double one_cat[4];
        for (i = 0; i < 5000; i++) memcpy(big + 4 * i, "dog ", 4);
        memcpy(big + 20000, "cat", 4);
        CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, big, 20003, NULL, 4, s2));
        CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, "cat", 3, NULL, 4, one_cat));
        CHECK(fabs(s2[1] - (5000 * s[1] + one_cat[1])) <= 1e-12 * s2[1] && s2[2] == 0.0,
              "5,000 repeats: %.17g, expected %.17g", s2[1], 5000 * s[1] + one_cat[1]);
        free(big);
    }
    /* a rarer term weighs more: sat (df 1) against cat (df 2) in d0 */
    CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, "Sat", 3, NULL, 1, s));
    CHECK(fabs(s[0] - l83 * 2.25 * 11 / 23.5) <= 1e-12, "sat in d0: %.17g", s[0]);
    /* an empty query, one of stopwords only, one absent from the pool: 0 everywhere */
    CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, "", 0, NULL, 4, s));
    CHECK(s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0, "empty query");
    CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, "the of and", 10, NULL, 4, s));
    CHECK(s[0] == 0 && s[1] == 0 && s[3] == 0, "stopwords only");
    CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, "zebra", 5, NULL, 4, s));
    CHECK(s[0] == 0 && s[1] == 0 && s[3] == 0, "absent term");
    CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, NULL, 0, NULL, 0, NULL));
    /* the harness's method: every query against the pool, rounded to float */
    {
        const char *qs[3] = {"dogs dog cat zebra", "", "sat"};
        mmix_bm25_scorer sc;
        float f[2 * 4];
        double row[4];
        int ok = 1;
        sc.bm = &bm;
        sc.queries = qs;
        sc.query_lens = NULL;
        sc.n_queries = 3;
        CHECK_OK(ctx, mmix_bm25_scores(ctx, &sc, 1, 2, f));
        for (i = 0; i < 2; i++) {
            int k;
            mmix_bm25_score(ctx, &bm, qs[1 + i], strlen(qs[1 + i]), NULL, 4, row);
            for (k = 0; k < 4; k++) ok &= f[i * 4 + k] == (float)row[k];
        }
        CHECK(ok && f[4] > 0.0f && f[0] == 0.0f, "mmix_bm25_scores = the rounded mmix_bm25_score");
        CHECK(mmix_bm25_scores(ctx, &sc, 2, 2, f) == MMIX_ERR_INVALID_ARGUMENT, "queries past the end");
    }
    /* errors */
    CHECK(mmix_bm25_score(ctx, &bm, "cat", 3, bad, 2, s) == MMIX_ERR_RANGE && strstr(mmix_last_error(ctx), "4"),
          "doc id out of range: %s", mmix_last_error(ctx));
    CHECK(mmix_bm25_score(ctx, &bm, "cat", 3, NULL, 2, NULL) == MMIX_ERR_INVALID_ARGUMENT, "NULL scores");
    CHECK(mmix_bm25_score(ctx, NULL, "cat", 3, NULL, 0, s) == MMIX_ERR_INVALID_ARGUMENT, "NULL index");
    mmix_bm25_free(&bm);
    CHECK(bm.n_docs == 0 && bm.doc_len == NULL, "freed and zeroed");
    mmix_bm25_free(&bm);
    cfg.b = 1.5f;
    CHECK(mmix_bm25_build(ctx, &bm, docs, NULL, 4, cfg) == MMIX_ERR_INVALID_ARGUMENT && bm.n_docs == 0, "b > 1");
    cfg.b = 0.5f;
    cfg.k1 = -1.0f;
    CHECK(mmix_bm25_build(ctx, &bm, docs, NULL, 4, cfg) == MMIX_ERR_INVALID_ARGUMENT, "k1 < 0");
    cfg.k1 = 1.25f;
    CHECK(mmix_bm25_build(ctx, &bm, NULL, NULL, 4, cfg) == MMIX_ERR_INVALID_ARGUMENT, "NULL docs");
    CHECK(mmix_bm25_build(ctx, &bm, docs, NULL, -1, cfg) == MMIX_ERR_INVALID_ARGUMENT, "negative count");
    /* an empty pool and a pool of empty documents build and score 0 */
    CHECK_OK(ctx, mmix_bm25_build(ctx, &bm, NULL, NULL, 0, cfg));
    CHECK(bm.n_terms == 0 && bm.avgdl == 0.0, "empty pool");
    mmix_bm25_free(&bm);
    CHECK_OK(ctx, mmix_bm25_build(ctx, &bm, docs + 2, NULL, 1, cfg));
    CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, "cat", 3, NULL, 1, s));
    CHECK(s[0] == 0.0 && bm.n_counted == 0, "pool of one empty document");
    mmix_bm25_free(&bm);
    /* lens: only the first 7 bytes of d0 ("The cat") */
    {
        size_t lens[1] = {7};
        CHECK_OK(ctx, mmix_bm25_build(ctx, &bm, docs, lens, 1, cfg));
        CHECK(bm.n_terms == 1 && bm.doc_len[0] == 1, "explicit lengths");
        mmix_bm25_free(&bm);
    }
}

/* A query of more than 64 distinct terms moves its term list to the heap; its score is the
   sum of the single-term scores (in the order of first occurrence). */
static void test_long_query(void) {
    char doc[2048], query[2048];
    const char *docs[2];
    mmix_bm25 bm;
    double s[2], one[2], sum0 = 0, sum1 = 0;
    int i, len = 0;
    for (i = 0; i < 100; i++) len += sprintf(doc + len, "w%dq ", i);
    docs[0] = doc;
    docs[1] = "w3q w3q w50q other";
    CHECK_OK(ctx, mmix_bm25_build(ctx, &bm, docs, NULL, 2, mmix_bm25_config_default()));
    CHECK(bm.n_terms == 101, "terms %lld", (long long)bm.n_terms);
    strcpy(query, doc);
    CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, query, strlen(query), NULL, 2, s));
    for (i = 0; i < 100; i++) {
        char t[16];
        sprintf(t, "w%dq", i);
        mmix_bm25_score(ctx, &bm, t, strlen(t), NULL, 2, one);
        sum0 += one[0];
        sum1 += one[1];
    }
    CHECK(s[0] == sum0 && s[1] == sum1 && s[1] > 0, "100-term query %.17g %.17g", s[0], sum0);
    /* out of memory while moving it: an error, nothing leaked */
    {
        long before = live_blocks;
        fail_countdown = 1;
        CHECK(mmix_bm25_score(ctx, &bm, query, strlen(query), NULL, 2, s) == MMIX_ERR_OUT_OF_MEMORY, "score oom");
        fail_countdown = 0;
        CHECK(live_blocks == before, "score oom leaks %ld", live_blocks - before);
    }
    mmix_bm25_free(&bm);
}

/* Every allocation of a build fails in turn: each failure is MMIX_ERR_OUT_OF_MEMORY with the
   index zeroed and nothing leaked, until the build needs no failure at all. */
static void test_build_oom(void) {
    const char *docs[3] = {"alpha beta gamma beta", "gamma delta", "the empty"};
    mmix_bm25 bm;
    long before = live_blocks, k;
    int ok = 0, bad = 0;
    for (k = 1; k < 200 && !ok; k++) {
        mmix_result r;
        fail_countdown = k;
        r = mmix_bm25_build(ctx, &bm, docs, NULL, 3, mmix_bm25_config_default());
        if (fail_countdown == 0 || r != MMIX_OK) { /* the k-th allocation failed */
            if (r != MMIX_ERR_OUT_OF_MEMORY || bm.doc_len || live_blocks != before) bad++;
        } else {
            ok = 1;
            mmix_bm25_free(&bm);
        }
        fail_countdown = 0;
    }
    CHECK(ok && k > 3, "a build succeeds after %ld failing allocations", k - 2);
    CHECK(bad == 0, "%d failed builds returned the wrong code or leaked", bad);
    CHECK(live_blocks == before, "leaked %ld blocks", live_blocks - before);
}

/* The Debian test split (the last 10,000 targets of ../shared/data/retrieval_debian.jsonl)
   against tests/data/bm25_debian.tsv, written by tests/reference/bm25_reference.py, an
   independent analyzer, stemmer and BM25 in Python: the pool's statistics exactly, and the
   scores of 25 queries x 25 targets within 1e-12. Skipped where the shared data is absent. */
static void test_debian(void) {
    const char *pairs = "../shared/data/retrieval_debian.jsonl";
    mmix_data_options o = mmix_data_options_default();
    mmix_data_docs queries, targets;
    mmix_bm25 bm;
    const char *docs[10000];
    size_t lens[10000];
    int64_t first, i, n_docs = 0, n_counted = 0, n_terms = 0;
    double avgdl = 0, worst = 0;
    int checked = 0, q, d, bad = 0;
    char line[256];
    FILE *f = fopen(pairs, "rb"), *ref;
    if (!f) {
        SKIP("%s is absent: no comparison with the Python reference", pairs);
        return;
    }
    fclose(f);
    ref = fopen("tests/data/bm25_debian.tsv", "r");
    CHECK(ref != NULL, "tests/data/bm25_debian.tsv");
    if (!ref) return;
    o.format = MMIX_TEXT_JSONL;
    o.jsonl_field = "query";
    CHECK_OK(ctx, mmix_data_read_docs(ctx, pairs, &o, &queries));
    o.jsonl_field = "target";
    CHECK_OK(ctx, mmix_data_read_docs(ctx, pairs, &o, &targets));
    CHECK(queries.n == 25928 && targets.n == 25928, "%lld queries, %lld targets", (long long)queries.n,
          (long long)targets.n);
    first = targets.n - 10000;
    for (i = 0; i < 10000; i++) {
        docs[i] = (const char *)targets.text + targets.offsets[first + i];
        lens[i] = (size_t)(targets.offsets[first + i + 1] - targets.offsets[first + i]);
    }
    CHECK_OK(ctx, mmix_bm25_build(ctx, &bm, docs, lens, 10000, mmix_bm25_config_default()));
    while (fgets(line, sizeof line, ref)) {
        double want, got[1];
        int64_t id;
        if (line[0] == '#') continue;
        if (sscanf(line, "pool\t%lld\t%lld\t%lld\t%lf", (long long *)&n_docs, (long long *)&n_counted,
                   (long long *)&n_terms, &avgdl) == 4)
            continue;
        if (sscanf(line, "%d\t%d\t%lf", &q, &d, &want) != 3) { bad++; continue; }
        id = d;
        mmix_bm25_score(ctx, &bm, (const char *)queries.text + queries.offsets[first + q],
                        (size_t)(queries.offsets[first + q + 1] - queries.offsets[first + q]), &id, 1, got);
        if (fabs(got[0] - want) > 1e-12 * (want > 1 ? want : 1)) {
            if (bad++ < 5) printf("  query %d doc %d: C %.17g, Python %.17g\n", q, d, got[0], want);
        }
        if (fabs(got[0] - want) > worst) worst = fabs(got[0] - want);
        checked++;
    }
    fclose(ref);
    CHECK(n_docs == bm.n_docs && n_counted == bm.n_counted && n_terms == bm.n_terms && fabs(avgdl - bm.avgdl) < 1e-12,
          "pool: Python %lld/%lld docs, %lld terms, avgdl %.17g; C %lld/%lld, %lld, %.17g", (long long)n_docs,
          (long long)n_counted, (long long)n_terms, avgdl, (long long)bm.n_docs, (long long)bm.n_counted,
          (long long)bm.n_terms, bm.avgdl);
    CHECK(checked == 625 && bad == 0, "%d scores compared, %d differ (worst %g)", checked, bad, worst);
    /* the whole pool through the postings gives the same bits as a list of every document */
    {
        double *all = (double *)malloc(10000 * sizeof(double)), *listed = (double *)malloc(10000 * sizeof(double));
        int64_t *ids = (int64_t *)malloc(10000 * sizeof(int64_t));
        int same = 1;
        for (i = 0; i < 10000; i++) ids[i] = i;
        for (q = 0; q < 25; q++) {
            const char *text = (const char *)queries.text + queries.offsets[first + q];
            size_t len = (size_t)(queries.offsets[first + q + 1] - queries.offsets[first + q]);
            CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, text, len, NULL, 10000, all));
            CHECK_OK(ctx, mmix_bm25_score(ctx, &bm, text, len, ids, 10000, listed));
            same &= memcmp(all, listed, 10000 * sizeof(double)) == 0;
        }
        CHECK(same, "the postings and the term counts give the same scores");
        free(all); free(listed); free(ids);
    }
    mmix_bm25_free(&bm);
    mmix_data_docs_free(&queries);
    mmix_data_docs_free(&targets);
}

int main(void) {
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return 1;
    test_stemmer();
    test_analyzer();
    test_scores();
    test_long_query();
    test_build_oom();
    test_debian();
    mmix_ctx_destroy(ctx);
    return test_summary("test_bm25");
}
