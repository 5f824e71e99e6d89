/* The tokenized-dataset cache (mmix_data_load_cache; the layout is in >>api_data). The input
   is the cache file. It is loaded twice: against an identity that matches nothing (a stale or
   malformed file must be refused before any id is read), and against the identity its own
   header claims, so that the fuzzer reaches the ids. A cache that loads must be consistent
   (rows, documents, ids below the vocabulary) and save back to exactly the same bytes. */
#include "fuzz.h"

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    int k;
    for (k = 7; k >= 0; k--) v = (v << 8) | p[k];
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mmix_ctx *ctx = fuzz_ctx();
    const char *path = fuzz_write(0, data, size);
    mmix_data_identity id;
    mmix_dataset d;
    mmix_result r;
    memset(&id, 0, sizeof id);
    r = mmix_data_load_cache(ctx, path, &id, &d);
    FUZZ_CHECK(d.train == NULL && d.val == NULL && d.train_rows == 0);   /* zeroed unless it loaded */
    if (r == MMIX_OK) mmix_data_free(&d);                                  /* (an all-zero identity?) */
    else FUZZ_CHECK_MESSAGE(ctx, path);
    if (size < 16 + 8 * 11) return 0;
    id.source_size = le64(data + 16);
    id.source_hash = le64(data + 24);
    id.tokenizer_hash = le64(data + 32);
    id.vocab_size = (int64_t)le64(data + 40);
    id.n_ctx = (int64_t)le64(data + 48);
    id.format = (int32_t)le64(data + 56);
    id.rows = (int32_t)le64(data + 64);
    id.pad_left = (int32_t)le64(data + 72);
    id.jsonl_field_hash = le64(data + 80);
    {
        uint64_t bits = le64(data + 88);
        memcpy(&id.val_fraction, &bits, sizeof bits);
    }
    id.split_seed = le64(data + 96);
    mmix_clear_error(ctx);
    r = mmix_data_load_cache(ctx, path, &id, &d);
    if (r != MMIX_OK) {
        FUZZ_CHECK(d.train == NULL && d.val == NULL);
        FUZZ_CHECK_MESSAGE(ctx, path);
        return 0;
    }
    {
        int64_t i;
        size_t n;
        unsigned char *saved;
        FUZZ_CHECK(d.n_ctx >= 1 && d.train_rows >= 0 && d.val_rows >= 0);
        FUZZ_CHECK(d.documents == d.train_documents + d.val_documents);
        FUZZ_CHECK((d.train_rows == 0) == (d.train == NULL) && (d.val_rows == 0) == (d.val == NULL));
        for (i = 0; i < d.train_rows * d.n_ctx; i++) FUZZ_CHECK(d.train[i] >= 0 && d.train[i] < id.vocab_size);
        for (i = 0; i < d.val_rows * d.n_ctx; i++) FUZZ_CHECK(d.val[i] >= 0 && d.val[i] < id.vocab_size);
        FUZZ_CHECK(mmix_data_save_cache(ctx, fuzz_path(1), &d) == MMIX_OK);
        saved = fuzz_slurp(fuzz_path(1), &n);
        FUZZ_CHECK(n == size && memcmp(saved, data, size) == 0);
        free(saved);
    }
    mmix_data_free(&d);
    return 0;
}
