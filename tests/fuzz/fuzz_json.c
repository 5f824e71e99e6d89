/* The JSON reader of >>json, under every reader of text (the safetensors header, the
   tokenizer.json import, JSONL). The input is one JSON text. Checks: a text is accepted
   only as a whole value with white space around it; an accepted text still is inside an
   array; every string the reader unescapes, quoted again, reads back to the same bytes. */
#include "fuzz.h"

static int accepts(const uint8_t *data, size_t size) {
    mmix__json j;
    mmix__json_init(&j, data, size, "the end");
    if (!mmix__json_skip(&j)) {
        FUZZ_CHECK(j.code != MMIX_OK && j.err[0] && j.err_at <= size);
        return 0;
    }
    FUZZ_CHECK(j.code == MMIX_OK && j.i <= size && j.depth == 0);
    return mmix__json_peek(&j) < 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mmix__json j;
    mmix_bpe_bytes s, quoted, again;
    memset(&s, 0, sizeof s);
    memset(&quoted, 0, sizeof quoted);
    memset(&again, 0, sizeof again);
    if (accepts(data, size) && size < 4096) {
        /* inside an array it is one element (up to the depth limit) */
        unsigned char *wrapped = (unsigned char *)malloc(size + 2);
        FUZZ_CHECK(wrapped != NULL);
        wrapped[0] = '[';
        memcpy(wrapped + 1, data, size);
        wrapped[size + 1] = ']';
        {
            mmix__json w;
            mmix__json_init(&w, wrapped, size + 2, "the end");
            if (!mmix__json_skip(&w)) FUZZ_CHECK(strstr(w.err, "nested deeper") != NULL);
        }
        free(wrapped);
    }
    /* A string at the start: unescape, quote, unescape again. */
    mmix__json_init(&j, data, size, "the end");
    if (mmix__json_string(&j, "a string", &s)) {
        mmix__json k;
        FUZZ_CHECK(s.data != NULL && s.data[s.size] == 0);
        FUZZ_CHECK(mmix__bytes_append_quoted(&quoted, s.data, s.size, 1));
        mmix__json_init(&k, quoted.data, quoted.size, "the end");
        FUZZ_CHECK(mmix__json_string(&k, "a string", &again));
        FUZZ_CHECK(k.i == quoted.size && again.size == s.size && memcmp(again.data, s.data, s.size) == 0);
    }
    /* An unsigned integer at the start: what it read is what the digits say. */
    {
        uint64_t v;
        mmix__json_init(&j, data, size, "the end");
        if (mmix__json_uint(&j, UINT64_MAX, &v, "a number")) {
            char text[32];
            size_t start = 0;
            while (start < size && (data[start] == ' ' || data[start] == '\t' || data[start] == '\n' || data[start] == '\r'))
                start++;
            snprintf(text, sizeof text, "%llu", (unsigned long long)v);
            FUZZ_CHECK(j.i - start == strlen(text) && memcmp(data + start, text, j.i - start) == 0);
        }
    }
    mmix_bpe_bytes_free(&s);
    mmix_bpe_bytes_free(&quoted);
    mmix_bpe_bytes_free(&again);
    return 0;
}
