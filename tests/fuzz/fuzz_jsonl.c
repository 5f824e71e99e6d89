/* Text datasets: the input split into documents in each of the three formats (blank lines,
   <|endoftext|>-separated, JSONL; mmix_data_read_docs reads a path through the same
   mmix_data_split_docs). What splits gives non-empty documents of valid UTF-8 in order, and
   written back in the same format they split into the same documents; what does not gets a
   message naming the input. */
#include "fuzz.h"

static void same_docs(const mmix_data_docs *a, const mmix_data_docs *b) {
    int64_t i;
    FUZZ_CHECK(a->n == b->n);
    for (i = 0; i <= a->n; i++) FUZZ_CHECK(a->offsets[i] == b->offsets[i]);
    FUZZ_CHECK(memcmp(a->text, b->text, (size_t)a->offsets[a->n]) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const mmix_text_format formats[3] = {MMIX_TEXT_BLANK_LINES, MMIX_TEXT_EOT_SEPARATED, MMIX_TEXT_JSONL};
    mmix_ctx *ctx = fuzz_ctx();
    int f;
    for (f = 0; f < 3; f++) {
        mmix_data_options o = mmix_data_options_default();
        mmix_data_docs d, again;
        mmix_bpe_bytes out;
        int64_t i;
        int round_trip = 1;
        o.format = formats[f];
        memset(&out, 0, sizeof out);
        /* a byte-order mark first, which the reader skips: a first document that itself
           starts with U+FEFF keeps it */
        FUZZ_CHECK(mmix__bytes_append(&out, "\xef\xbb\xbf", 3));
        mmix_clear_error(ctx);
        if (mmix_data_split_docs(ctx, data, size, "fuzz.txt", &o, &d) != MMIX_OK) {
            FUZZ_CHECK(d.n == 0 && d.text == NULL && d.offsets == NULL);
            FUZZ_CHECK_MESSAGE(ctx, "fuzz.txt");
            mmix_bpe_bytes_free(&out);
            continue;
        }
        FUZZ_CHECK(d.n >= 0 && d.offsets[0] == 0);
        for (i = 0; i < d.n; i++) {
            size_t n = (size_t)(d.offsets[i + 1] - d.offsets[i]);
            const unsigned char *t = d.text + d.offsets[i];
            FUZZ_CHECK(d.offsets[i + 1] > d.offsets[i]);
            FUZZ_CHECK(mmix__utf8_invalid_at(t, n) == n);
            /* (a CR that ended a line inside a blank-lines document, before the newline the
               reader joins lines with, is dropped: such text has no spelling that splits back
               into itself) */
            if (o.format == MMIX_TEXT_BLANK_LINES && memchr(t, '\r', n)) round_trip = 0;
            /* the document again in its format: BLANK_LINES and EOT documents trimmed, so
               joining them back with their separators gives the same split */
            if (o.format == MMIX_TEXT_JSONL) {
                FUZZ_CHECK(mmix__bytes_append(&out, "{\"text\": ", 9) && mmix__bytes_append_quoted(&out, t, n, 1) &&
                           mmix__bytes_append(&out, "}\n", 2));
            } else {
                FUZZ_CHECK(mmix__bytes_append(&out, t, n));
                FUZZ_CHECK(o.format == MMIX_TEXT_BLANK_LINES ? mmix__bytes_append(&out, "\n\n", 2)
                                                             : mmix__bytes_append(&out, "<|endoftext|>", 13));
            }
        }
        FUZZ_CHECK(d.text[d.offsets[d.n]] == 0);
        if (round_trip) {
            FUZZ_CHECK(mmix_data_split_docs(ctx, out.data, out.size, "again", &o, &again) == MMIX_OK);
            same_docs(&d, &again);
            mmix_data_docs_free(&again);
        }
        mmix_data_docs_free(&d);
        mmix_bpe_bytes_free(&out);
    }
    return 0;
}
