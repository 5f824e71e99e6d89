/* tests/test_data.c - text datasets (docs/reference-notes.md Sec. 11): documents from the three input formats, with
   errors naming file and line; packed rows are the token stream cut into full rows; padded
   rows are truncated and padded exactly; the split is deterministic; the cache round-trips,
   refuses to be reused for other inputs or settings (naming what changed), and a truncated
   or corrupted cache is an error, never a crash. Files are written under build/. */
#include "counting_hooks.h"   /* every out-of-memory path of the pipeline, walked */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"

static mmix_ctx *ctx;

static int write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, size, f) == size;
    if (f) fclose(f);
    return ok;
}

static int doc_is(const mmix_data_docs *d, int64_t i, const char *text) {
    size_t n = strlen(text);
    return i < d->n && (size_t)(d->offsets[i + 1] - d->offsets[i]) == n && memcmp(d->text + d->offsets[i], text, n) == 0;
}

static mmix_data_options opts(mmix_text_format format, mmix_row_mode rows, int64_t n_ctx, double val) {
    mmix_data_options o = mmix_data_options_default();
    o.format = format; o.rows = rows; o.n_ctx = n_ctx; o.val_fraction = val;
    return o;
}

/* Splits text in memory; returns the result and leaves the documents in *d. */
static mmix_result split(const char *text, mmix_text_format format, const char *field, mmix_data_docs *d) {
    mmix_data_options o = opts(format, MMIX_ROWS_PACKED, 8, 0);
    if (field) o.jsonl_field = field;
    return mmix_data_split_docs(ctx, text, strlen(text), "in.txt", &o, d);
}

/* The call fails with `code` and a message containing `part`. */
#define CHECK_FAILS(call, code, part)                                                                       \
    do {                                                                                                    \
        mmix_result r_ = (call);                                                                            \
        CHECK(r_ == (code) && strstr(mmix_last_error(ctx), (part)) != NULL, "%s -> %s: %s (want '%s')", #call, \
              mmix_result_str(r_), mmix_last_error(ctx), (part));                                           \
        mmix_clear_error(ctx);                                                                              \
    } while (0)

static void test_documents(void) {
    mmix_data_docs d;
    mmix_data_options o = mmix_data_options_default();
    int64_t i;
    CHECK_OK(ctx, split("\n\nA one.\nA two.\n\n\nB one.\r\n \t\r\nC", MMIX_TEXT_BLANK_LINES, NULL, &d));
    CHECK(d.n == 3 && doc_is(&d, 0, "A one.\nA two.") && doc_is(&d, 1, "B one.") && doc_is(&d, 2, "C"),
          "blank-line documents (%lld)", (long long)d.n);
    mmix_data_docs_free(&d);
    CHECK_OK(ctx, split("\xEF\xBB\xBF  first <|endoftext|>\nsecond\n<|endoftext|>\n<|endoftext|> third\n",
                        MMIX_TEXT_EOT_SEPARATED, NULL, &d));
    CHECK(d.n == 3 && doc_is(&d, 0, "first") && doc_is(&d, 1, "second") && doc_is(&d, 2, "third"),
          "end-of-text documents (%lld)", (long long)d.n);
    mmix_data_docs_free(&d);
    CHECK_OK(ctx, split("{\"target\": \"x y\", \"text\": \"no\"}\n", MMIX_TEXT_JSONL, "target", &d));
    CHECK(d.n == 1 && doc_is(&d, 0, "x y"), "the caller's JSONL field");
    mmix_data_docs_free(&d);

    o.format = MMIX_TEXT_JSONL;
    CHECK_OK(ctx, mmix_data_read_docs(ctx, "tests/data/sample.jsonl", &o, &d));
    CHECK(d.n == 3 && doc_is(&d, 0, "The sun rose over the hill.\nBirds began to sing.") &&
          doc_is(&d, 1, "A \"quoted\" word, a tab\there and caf\xC3\xA9.") &&
          doc_is(&d, 2, "An emoji \xF0\x9F\x98\x80 and a slash / done."), "JSONL escapes, \\u, surrogate pairs");
    mmix_data_docs_free(&d);
    o.format = MMIX_TEXT_EOT_SEPARATED;
    CHECK_OK(ctx, mmix_data_read_docs(ctx, "tests/data/sample_eot.txt", &o, &d));
    CHECK(d.n == 3 && doc_is(&d, 1, "Lily saw a little bird in the tree. \"Hello, bird!\" she said."), "sample_eot.txt");
    mmix_data_docs_free(&d);
    o.format = MMIX_TEXT_BLANK_LINES;
    CHECK_OK(ctx, mmix_data_read_docs(ctx, "tests/data/sample.txt", &o, &d));
    CHECK(d.n == 6, "sample.txt: 5 blank lines, 6 documents (%lld)", (long long)d.n);
    for (i = 0; i < d.n; i++)
        CHECK(d.offsets[i + 1] > d.offsets[i] && !strstr((const char *)d.text + d.offsets[i], "\n\n"),
              "document %lld is non-empty and has no blank line", (long long)i);
    mmix_data_docs_free(&d);

    /* Bad input: the file and line are named; nothing is left allocated. */
    CHECK_FAILS(split("ok\nstill ok\nbad \xFF byte\n", MMIX_TEXT_BLANK_LINES, NULL, &d), MMIX_ERR_FORMAT, "in.txt:3:");
    CHECK_FAILS(split("overlong \xC0\xAF", MMIX_TEXT_BLANK_LINES, NULL, &d), MMIX_ERR_FORMAT, "in.txt:1: invalid UTF-8");
    CHECK_FAILS(split("a\n\nsurrogate \xED\xA0\x80", MMIX_TEXT_EOT_SEPARATED, NULL, &d), MMIX_ERR_FORMAT, "in.txt:3:");
    CHECK_FAILS(split("cut \xE2\x82", MMIX_TEXT_BLANK_LINES, NULL, &d), MMIX_ERR_FORMAT, "invalid UTF-8");
    CHECK_FAILS(split("\xF4\x90\x80\x80", MMIX_TEXT_BLANK_LINES, NULL, &d), MMIX_ERR_FORMAT, "invalid UTF-8");
    CHECK_FAILS(split("{\"text\": \"a\"}\n{\"text\": \"b\",}\n", MMIX_TEXT_JSONL, NULL, &d), MMIX_ERR_FORMAT,
                "in.txt:2: malformed JSON: expected a key (a string), found '}' (JSONL text field \"text\", column 14)");
    CHECK_FAILS(split("{\"text\": \"a\"} x", MMIX_TEXT_JSONL, NULL, &d), MMIX_ERR_FORMAT, "in.txt:1: text after");
    CHECK_FAILS(split("{\"id\": 1}", MMIX_TEXT_JSONL, NULL, &d), MMIX_ERR_FORMAT, "in.txt:1: no text field");
    CHECK_FAILS(split("{\"text\": 5}", MMIX_TEXT_JSONL, NULL, &d), MMIX_ERR_FORMAT, "not a string");
    CHECK_FAILS(split("{\"text\": \"a\", \"text\": \"b\"}", MMIX_TEXT_JSONL, NULL, &d), MMIX_ERR_FORMAT, "twice");
    CHECK_FAILS(split("{\"text\": \"a\", \"n\": 01}", MMIX_TEXT_JSONL, NULL, &d), MMIX_ERR_FORMAT,
                "malformed JSON: a number with a leading zero (not JSON) (JSONL text field \"text\", column 20)");
    CHECK_FAILS(split("{\"text\": \"a\", \"n\": nope}", MMIX_TEXT_JSONL, NULL, &d), MMIX_ERR_FORMAT, "malformed");
    CHECK_FAILS(split("{\"text\": \"bad \\x escape\"}", MMIX_TEXT_JSONL, NULL, &d), MMIX_ERR_FORMAT,
                "malformed JSON: invalid escape '\\x' in the text field");
    CHECK_FAILS(split("{\"text\": \"lone \\ud800\"}", MMIX_TEXT_JSONL, NULL, &d), MMIX_ERR_FORMAT,
                "malformed JSON: unpaired UTF-16 surrogate \\uD800 in the text field");
    CHECK_FAILS(split("[\"text\"]", MMIX_TEXT_JSONL, NULL, &d), MMIX_ERR_FORMAT, "malformed");
    CHECK_FAILS(split("{\"text\": \"unterminated", MMIX_TEXT_JSONL, NULL, &d), MMIX_ERR_FORMAT,
                "malformed JSON: unterminated string (the text field) (JSONL text field \"text\", column 10)");
    CHECK(d.n == 0 && d.text == NULL && d.offsets == NULL, "a failed split leaves nothing");
    CHECK_FAILS(mmix_data_read_docs(ctx, "tests/data/no_such_file.txt", &o, &d), MMIX_ERR_FILE_NOT_FOUND, "no_such_file");
    o.n_ctx = 0;
    CHECK_FAILS(mmix_data_read_docs(ctx, "tests/data/sample.txt", &o, &d), MMIX_ERR_INVALID_ARGUMENT, "n_ctx");
}

/* The reference stream: every document's ids followed by end-of-text, in order. */
static int64_t stream_of(mmix_bpe *bpe, const char *path, mmix_text_format format, mmix_bpe_ids *all,
                         mmix_bpe_ids *starts) {
    mmix_data_docs d;
    mmix_data_options o = opts(format, MMIX_ROWS_PACKED, 8, 0);
    int64_t i;
    if (mmix_data_read_docs(ctx, path, &o, &d) != MMIX_OK) return -1;
    for (i = 0; i < d.n; i++) {
        if (starts) mmix_bpe_ids_push(ctx, starts, (int32_t)all->n);
        mmix_bpe_encode(ctx, bpe, d.text + d.offsets[i], (size_t)(d.offsets[i + 1] - d.offsets[i]), 0, all);
        mmix_bpe_ids_push(ctx, all, mmix_bpe_eot_id(bpe));
    }
    if (starts) mmix_bpe_ids_push(ctx, starts, (int32_t)all->n);
    mmix_data_docs_free(&d);
    return i;
}

static void test_packed(mmix_bpe *bpe) {
    mmix_bpe_ids all = {NULL, 0, 0};
    mmix_dataset ds;
    mmix_data_options o = opts(MMIX_TEXT_BLANK_LINES, MMIX_ROWS_PACKED, 16, 0);
    int64_t docs = stream_of(bpe, "tests/data/sample.txt", MMIX_TEXT_BLANK_LINES, &all, NULL);
    CHECK_OK(ctx, mmix_data_build(ctx, "tests/data/sample.txt", bpe, &o, &ds));
    CHECK(ds.documents == docs && ds.train_documents == docs && ds.val_documents == 0 && ds.val_rows == 0 &&
          ds.val == NULL, "fraction 0: every document trains");
    CHECK(ds.tokens == all.n && ds.train_rows == all.n / 16 && ds.n_ctx == 16, "full rows, tail dropped (%lld of %lld)",
          (long long)ds.train_rows, (long long)all.n);
    CHECK(ds.train && memcmp(ds.train, all.ids, (size_t)(ds.train_rows * 16) * 4) == 0,
          "the rows are the token stream doc1 eot doc2 eot ... cut every 16 ids");
    mmix_data_free(&ds);
    CHECK(ds.train == NULL && ds.train_rows == 0, "mmix_data_free zeroes");
    mmix_bpe_ids_free(&all);
}

static void test_padded(mmix_bpe *bpe) {
    mmix_bpe_ids all = {NULL, 0, 0}, starts = {NULL, 0, 0};
    int32_t pad = mmix_bpe_pad_id(bpe), eot = mmix_bpe_eot_id(bpe);
    int64_t docs = stream_of(bpe, "tests/data/sample_eot.txt", MMIX_TEXT_EOT_SEPARATED, &all, &starts);
    int64_t n_ctx, i, k;
    int left;
    CHECK(docs == 3 && pad >= 0 && eot >= 0, "three stories");
    for (n_ctx = 8; n_ctx <= 64; n_ctx *= 8)
        for (left = 0; left <= 1; left++) {
            mmix_dataset ds;
            mmix_data_options o = opts(MMIX_TEXT_EOT_SEPARATED, MMIX_ROWS_PADDED, n_ctx, 0);
            int exact = 1;
            o.pad_left = left;
            CHECK_OK(ctx, mmix_data_build(ctx, "tests/data/sample_eot.txt", bpe, &o, &ds));
            CHECK(ds.train_rows == 3 && ds.val_rows == 0, "one row per document");
            for (i = 0; ds.train && i < 3; i++) {
                int64_t len = starts.ids[i + 1] - starts.ids[i], keep = len < n_ctx ? len : n_ctx;
                int64_t lead = left ? n_ctx - keep : 0;
                const int32_t *row = ds.train + i * n_ctx;
                for (k = 0; k < n_ctx; k++) {
                    int32_t want = k >= lead && k < lead + keep ? all.ids[starts.ids[i] + k - lead] : pad;
                    exact &= row[k] == want;
                }
                if (n_ctx == 64) exact &= row[left ? n_ctx - 1 : keep - 1] == eot && len < n_ctx;
            }
            CHECK(exact, "n_ctx %lld, pad %s: truncated, end-of-text after short documents, pads exactly placed",
                  (long long)n_ctx, left ? "left" : "right");
            mmix_data_free(&ds);
        }
    mmix_bpe_ids_free(&all);
    mmix_bpe_ids_free(&starts);
}

static int same_rows(const mmix_dataset *a, const mmix_dataset *b) {
    return a->n_ctx == b->n_ctx && a->train_rows == b->train_rows && a->val_rows == b->val_rows &&
           a->documents == b->documents && a->train_documents == b->train_documents &&
           a->val_documents == b->val_documents && a->tokens == b->tokens &&
           (a->train_rows == 0 || memcmp(a->train, b->train, (size_t)(a->train_rows * a->n_ctx) * 4) == 0) &&
           (a->val_rows == 0 || memcmp(a->val, b->val, (size_t)(a->val_rows * a->n_ctx) * 4) == 0);
}

static uint64_t splitmix64(uint64_t x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The documented rule, written out again: document i validates when u(i) < val_fraction,
   u(i) = the top 53 bits of splitmix64(splitmix64(i) ^ seed) / 2^53. */
static int follows_rule(const mmix_dataset *split, const mmix_dataset *all, double fraction, uint64_t seed) {
    int64_t i, t = 0, v = 0, n = all->n_ctx;
    for (i = 0; i < all->train_rows; i++) {
        double u = (double)(splitmix64(splitmix64((uint64_t)i) ^ seed) >> 11) / 9007199254740992.0;
        const int32_t *row = all->train + i * n;
        if (u < fraction) { if (v >= split->val_rows || memcmp(split->val + v++ * n, row, (size_t)n * 4) != 0) return 0; }
        else if (t >= split->train_rows || memcmp(split->train + t++ * n, row, (size_t)n * 4) != 0) return 0;
    }
    return t == split->train_rows && v == split->val_rows;
}

static void test_split(mmix_bpe *bpe) {
    mmix_dataset a, b, c;
    mmix_data_options o = opts(MMIX_TEXT_BLANK_LINES, MMIX_ROWS_PADDED, 32, 0.0);
    CHECK_OK(ctx, mmix_data_build(ctx, "tests/data/sample.txt", bpe, &o, &c));
    o.split_seed = 1;
    o.val_fraction = 0.3;
    CHECK_OK(ctx, mmix_data_build(ctx, "tests/data/sample.txt", bpe, &o, &a));
    CHECK(follows_rule(&a, &c, 0.3, 1) && a.val_rows > 0, "the split follows the documented rule, in document order");
    mmix_data_free(&c);
    CHECK_OK(ctx, mmix_data_build(ctx, "tests/data/sample.txt", bpe, &o, &b));
    CHECK(same_rows(&a, &b), "the same file and settings give the same split");
    CHECK(a.train_documents + a.val_documents == a.documents && a.val_documents > 0 && a.train_documents > 0 &&
          a.train_rows == a.train_documents && a.val_rows == a.val_documents,
          "the counts add up (%lld train + %lld val)", (long long)a.train_documents, (long long)a.val_documents);
    o.split_seed = 2;
    CHECK_OK(ctx, mmix_data_build(ctx, "tests/data/sample.txt", bpe, &o, &c));
    CHECK(c.documents == a.documents && !same_rows(&a, &c), "another seed, another split");
    mmix_data_free(&a); mmix_data_free(&b); mmix_data_free(&c);
    o.val_fraction = 0.01; /* three documents: no u(i) below 0.01 is likely, yet one must validate */
    o.format = MMIX_TEXT_EOT_SEPARATED;
    CHECK_OK(ctx, mmix_data_build(ctx, "tests/data/sample_eot.txt", bpe, &o, &a));
    CHECK(a.val_documents == 1 && a.train_documents == 2 && a.val_rows == 1, "a tiny corpus keeps one validation document");
    mmix_data_free(&a);
    o.val_fraction = 1.5;
    CHECK_FAILS(mmix_data_build(ctx, "tests/data/sample_eot.txt", bpe, &o, &a), MMIX_ERR_INVALID_ARGUMENT, "val_fraction");
}

/* Loading `cache` for `opt` (and the tokenizer) is refused as stale, naming `what`. */
static void check_stale(const char *src, const char *cache, mmix_bpe *bpe, const mmix_data_options *opt, const char *what) {
    mmix_data_identity id;
    mmix_dataset ds;
    CHECK_OK(ctx, mmix_data_identity_of(ctx, src, bpe, opt, &id));
    CHECK_FAILS(mmix_data_load_cache(ctx, cache, &id, &ds), MMIX_ERR_STALE, what);
    CHECK(ds.train == NULL && ds.val == NULL, "a refused cache leaves nothing");
}

static void test_cache(mmix_bpe *bpe, mmix_bpe *other_bpe) {
    const char *src = "build/data_src.txt", *cache = "build/data_src.cache";
    mmix_data_options o = opts(MMIX_TEXT_EOT_SEPARATED, MMIX_ROWS_PACKED, 16, 0.34), p;
    mmix_data_identity id;
    mmix_dataset built, loaded;
    unsigned char *bytes, *text;
    size_t size, text_size, cut, at;
    int reused = -1, all_fail = 1, flips_fail = 1;

    text = read_all("tests/data/sample_eot.txt", &text_size);
    CHECK(text && write_file(src, text, text_size), "a source file to change");
    remove(cache);
    CHECK_OK(ctx, mmix_data_build(ctx, src, bpe, &o, &built));
    CHECK_OK(ctx, mmix_data_save_cache(ctx, cache, &built));
    CHECK_OK(ctx, mmix_data_identity_of(ctx, src, bpe, &o, &id));
    CHECK_OK(ctx, mmix_data_load_cache(ctx, cache, &id, &loaded));
    CHECK(same_rows(&built, &loaded) && built.val_rows > 0 && built.train_rows > 0, "save then load: the same rows");
    mmix_data_free(&loaded);

    /* Every setting the rows depend on is checked; the message names the one that changed. */
    p = o; p.n_ctx = 8;            check_stale(src, cache, bpe, &p, "n_ctx is 16 in the cache, 8 requested");
    p = o; p.rows = MMIX_ROWS_PADDED; check_stale(src, cache, bpe, &p, "row mode is packed in the cache, padded");
    p = o; p.val_fraction = 0.5;   check_stale(src, cache, bpe, &p, "val_fraction");
    p = o; p.split_seed = 7;       check_stale(src, cache, bpe, &p, "split_seed");
    p = o; p.format = MMIX_TEXT_BLANK_LINES; check_stale(src, cache, bpe, &p, "text format");
    check_stale(src, cache, other_bpe, &o, "tokenizer");
    p = o; p.rows = MMIX_ROWS_PADDED;
    CHECK_OK(ctx, mmix_data_build(ctx, src, bpe, &p, &loaded));
    CHECK_OK(ctx, mmix_data_save_cache(ctx, "build/data_pad.cache", &loaded));
    mmix_data_free(&loaded);
    p.pad_left = 1;                check_stale(src, "build/data_pad.cache", bpe, &p, "padding side is right in the cache, left");
    text[5] = text[5] == 'x' ? 'y' : 'x'; /* same size, other content */
    CHECK(write_file(src, text, text_size), "change one byte");
    check_stale(src, cache, bpe, &o, "content hash differs");
    CHECK(write_file(src, text, text_size - 1), "change the size");
    check_stale(src, cache, bpe, &o, "size is");
    CHECK(write_file(src, text, text_size), "restore the size");

    /* load_or_build: a stale cache is rebuilt, a matching one reused. */
    CHECK_OK(ctx, mmix_data_load_or_build(ctx, src, bpe, &o, cache, &loaded, &reused));
    CHECK(reused == 0 && loaded.train_rows > 0, "a stale cache is rebuilt");
    mmix_data_free(&loaded);
    CHECK_OK(ctx, mmix_data_load_or_build(ctx, src, bpe, &o, cache, &loaded, &reused));
    CHECK(reused == 1, "a matching cache is reused");
    mmix_data_free(&built);
    CHECK_OK(ctx, mmix_data_build(ctx, src, bpe, &o, &built));
    CHECK(same_rows(&built, &loaded), "the reused rows equal a fresh build");
    mmix_data_free(&loaded);
    p = o; p.n_ctx = 12;
    CHECK_OK(ctx, mmix_data_load_or_build(ctx, src, bpe, &p, cache, &loaded, &reused));
    CHECK(reused == 0 && loaded.n_ctx == 12, "new settings rebuild");
    mmix_data_free(&loaded);
    remove("build/data_missing.cache");
    CHECK_OK(ctx, mmix_data_load_or_build(ctx, src, bpe, &o, "build/data_missing.cache", &loaded, &reused));
    CHECK(reused == 0 && same_rows(&built, &loaded), "a missing cache is built");
    mmix_data_free(&loaded);
    CHECK_FAILS(mmix_data_load_cache(ctx, "build/data_nothing.cache", &id, &loaded), MMIX_ERR_FILE_NOT_FOUND, "data_nothing");

    /* Corruption: every truncation and every flipped byte is an error, never a crash. */
    CHECK_OK(ctx, mmix_data_save_cache(ctx, cache, &built));
    bytes = read_all(cache, &size);
    CHECK(bytes && size == 168 + (size_t)(built.train_rows + built.val_rows) * 16 * 4 + 8, "the documented size");
    for (cut = 0; bytes && cut < size; cut++) {
        mmix_result r;
        write_file("build/data_bad.cache", bytes, cut);
        r = mmix_data_load_cache(ctx, "build/data_bad.cache", &id, &loaded);
        all_fail &= r == MMIX_ERR_FORMAT && loaded.train == NULL;
        mmix_clear_error(ctx);
    }
    for (at = 0; bytes && at < size; at++) {
        mmix_result r;
        bytes[at] ^= (unsigned char)(1u << (at % 8));
        write_file("build/data_bad.cache", bytes, size);
        bytes[at] ^= (unsigned char)(1u << (at % 8));
        r = mmix_data_load_cache(ctx, "build/data_bad.cache", &id, &loaded);
        flips_fail &= r == MMIX_ERR_FORMAT && loaded.train == NULL;
        mmix_clear_error(ctx);
    }
    CHECK(all_fail, "every truncation of the cache is MMIX_ERR_FORMAT");
    CHECK(flips_fail, "every flipped bit is MMIX_ERR_FORMAT");
    CHECK_OK(ctx, mmix_data_load_or_build(ctx, src, bpe, &o, "build/data_bad.cache", &loaded, &reused));
    CHECK(reused == 0 && same_rows(&built, &loaded), "load_or_build replaces a corrupt cache");
    mmix_data_free(&loaded);
    CHECK_FAILS(mmix_data_load_or_build(ctx, src, bpe, &o, src, &loaded, &reused), MMIX_ERR_FORMAT,
                "not a dataset cache");
    free(bytes);
    bytes = read_all(src, &size);
    CHECK(bytes && size == text_size && memcmp(bytes, text, size) == 0, "a file that is not a cache is never replaced");
    mmix_data_free(&built);
    free(bytes);
    free(text);
}

/* Failing each allocation in turn: every call fails cleanly (no crash, nothing leaked,
   *out zeroed), until enough allocations succeed. */
static void test_out_of_memory(mmix_bpe *bpe) {
    mmix_data_options o = opts(MMIX_TEXT_JSONL, MMIX_ROWS_PADDED, 16, 0.5);
    mmix_dataset ds;
    long k, before;
    int pass, reused = -1;
    for (pass = 0; pass < 2; pass++) { /* 0: build and write the cache; 1: load it */
        if (pass == 0) remove("build/data_oom.cache");
        for (k = 1; k < 100000; k++) {
            mmix_result r;
            before = live_blocks;
            fail_countdown = k;
            r = mmix_data_load_or_build(ctx, "tests/data/sample.jsonl", bpe, &o, "build/data_oom.cache", &ds, &reused);
            fail_countdown = 0;
            if (r == MMIX_OK) break;
            CHECK(r == MMIX_ERR_OUT_OF_MEMORY && ds.train == NULL && ds.val == NULL && live_blocks == before,
                  "pass %d, allocation %ld fails: %s (%s), %ld blocks leaked", pass, k, mmix_result_str(r),
                  mmix_last_error(ctx), live_blocks - before);
            mmix_clear_error(ctx);
        }
        CHECK(k > 1 && reused == pass, "pass %d: succeeds after %ld failed allocations", pass, k - 1);
        mmix_data_free(&ds);
    }
}

/* The hash of sources and caches against the published FNV-1a test vectors (Noll), and
   fed in pieces as mm train hashes a file. */
static void test_fnv1a(void) {
    const char *text = "foobar";
    CHECK(mmix_fnv1a64(MMIX_FNV1A64_OFFSET, "", 0) == 0xcbf29ce484222325ULL, "FNV-1a of the empty string");
    CHECK(mmix_fnv1a64(MMIX_FNV1A64_OFFSET, "a", 1) == 0xaf63dc4c8601ec8cULL, "FNV-1a of 'a'");
    CHECK(mmix_fnv1a64(MMIX_FNV1A64_OFFSET, text, 6) == 0x85944171f73967e8ULL, "FNV-1a of 'foobar'");
    CHECK(mmix_fnv1a64(mmix_fnv1a64(MMIX_FNV1A64_OFFSET, text, 2), text + 2, 4) ==
              mmix_fnv1a64(MMIX_FNV1A64_OFFSET, text, 6), "FNV-1a fed in two pieces equals one piece");
}

int main(void) {
    mmix_bpe *bpe = NULL, *other = NULL;
    mmix_bpe_train_options t = mmix_bpe_train_options_default();
    unsigned char *sample;
    size_t size;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return 1;
    test_fnv1a();
    test_documents();
    sample = read_all("tests/data/sample.txt", &size);
    CHECK(sample != NULL, "tests/data/sample.txt");
    t.vocab_size = 300;
    if (sample) CHECK_OK(ctx, mmix_bpe_train(ctx, sample, size, &t, &bpe));
    t.vocab_size = 290;
    if (sample) CHECK_OK(ctx, mmix_bpe_train(ctx, sample, size, &t, &other));
    if (bpe && other) {
        test_packed(bpe);
        test_padded(bpe);
        test_split(bpe);
        test_cache(bpe, other);
        test_out_of_memory(bpe);
    }
    mmix_bpe_free(bpe);
    mmix_bpe_free(other);
    free(sample);
    mmix_ctx_destroy(ctx);
    return test_summary("test_data");
}
