/* What a tokenizer that loaded must do, for fuzz_bpe.c and fuzz_hf_tokenizer.c: its file
   text loads again into the same tokenizer (saving that gives the same text), every merged
   token's bytes are those of the two it joins (through an imported file's id map), and
   decode(encode(x)) == x for a piece of text. */
#ifndef MMIX_FUZZ_TOK_COMMON_H
#define MMIX_FUZZ_TOK_COMMON_H
#include "fuzz.h"

/* The file's id of a token in our layout's numbers (mmix_bpe_get_merge gives those; an
   imported tokenizer's id map turns them into the ids mmix_bpe_token_bytes takes). */
static int32_t fuzz_token_id(const mmix_bpe *bpe, int32_t token) { return bpe->id_of ? bpe->id_of[token] : token; }

static void fuzz_check_tokenizer(mmix_ctx *ctx, mmix_bpe *bpe, const uint8_t *text, size_t size) {
    mmix_bpe_bytes saved, again, decoded;
    mmix_bpe *reloaded = NULL;
    mmix_bpe_ids ids;
    int64_t i, vocab = mmix_bpe_vocab_size(bpe), merges = mmix_bpe_merge_count(bpe);
    memset(&saved, 0, sizeof saved);
    memset(&again, 0, sizeof again);
    memset(&decoded, 0, sizeof decoded);
    memset(&ids, 0, sizeof ids);
    FUZZ_CHECK(vocab >= 256 + merges);
    for (i = 0; i < merges; i++) {
        int32_t pair[2];
        size_t la, lb, l;
        const unsigned char *a, *b, *t;
        mmix_bpe_get_merge(bpe, i, pair);
        FUZZ_CHECK(pair[0] >= 0 && pair[0] < 256 + i && pair[1] >= 0 && pair[1] < 256 + i);
        a = mmix_bpe_token_bytes(bpe, fuzz_token_id(bpe, pair[0]), &la);
        b = mmix_bpe_token_bytes(bpe, fuzz_token_id(bpe, pair[1]), &lb);
        t = mmix_bpe_token_bytes(bpe, fuzz_token_id(bpe, (int32_t)(256 + i)), &l);
        FUZZ_CHECK(a && b && t && l == la + lb && memcmp(t, a, la) == 0 && memcmp(t + la, b, lb) == 0);
    }
    FUZZ_CHECK(mmix_bpe_token_bytes(bpe, (int32_t)vocab, NULL) == NULL);
    FUZZ_CHECK(mmix_bpe_save_memory(ctx, bpe, &saved) == MMIX_OK);
    FUZZ_CHECK(mmix_bpe_load_memory(ctx, saved.data, saved.size, "saved", &reloaded) == MMIX_OK);
    FUZZ_CHECK(mmix_bpe_vocab_size(reloaded) == vocab && mmix_bpe_merge_count(reloaded) == merges);
    FUZZ_CHECK(mmix_bpe_eot_id(reloaded) == mmix_bpe_eot_id(bpe) && mmix_bpe_pad_id(reloaded) == mmix_bpe_pad_id(bpe));
    FUZZ_CHECK(mmix_bpe_save_memory(ctx, reloaded, &again) == MMIX_OK);
    FUZZ_CHECK(again.size == saved.size && memcmp(again.data, saved.data, saved.size) == 0);
    /* the round trip, on at most 1 KiB of the input itself (any bytes) */
    if (size > 1024) size = 1024;
    FUZZ_CHECK(mmix_bpe_encode(ctx, bpe, text, size, 0, &ids) == MMIX_OK);
    for (i = 0; i < ids.n; i++) FUZZ_CHECK(ids.ids[i] >= 0 && ids.ids[i] < vocab);
    FUZZ_CHECK(mmix_bpe_decode(ctx, bpe, ids.ids, ids.n, &decoded) == MMIX_OK);
    FUZZ_CHECK(decoded.size == size && (size == 0 || memcmp(decoded.data, text, size) == 0));
    mmix_bpe_ids_free(&ids);
    mmix_bpe_bytes_free(&decoded);
    mmix_bpe_bytes_free(&saved);
    mmix_bpe_bytes_free(&again);
    mmix_bpe_free(reloaded);
}
#endif
