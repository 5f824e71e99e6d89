/* Token-id files (mmix_read_token_lines: one sequence per line, as mm forward and mm train
   --tokens read them). The input is the file, read with a vocabulary of 1000 and any line
   length. What loads is rectangular with every id in the vocabulary, and written back one
   line per row it reads back to the same ids; what does not gets a message naming the file. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mmix_ctx *ctx = fuzz_ctx();
    const char *path = fuzz_write(0, data, size);
    int32_t *ids = NULL, *again = NULL;
    int64_t lines = -1, len = -1, lines2, len2, i;
    FILE *f;
    if (mmix_read_token_lines(ctx, path, 1000, 0, &ids, &lines, &len) != MMIX_OK) {
        FUZZ_CHECK(ids == NULL && lines == 0 && len == 0);
        FUZZ_CHECK_MESSAGE(ctx, path);
        return 0;
    }
    FUZZ_CHECK(ids != NULL && lines >= 1 && len >= 1);
    for (i = 0; i < lines * len; i++) FUZZ_CHECK(ids[i] >= 0 && ids[i] < 1000);
    f = fopen(fuzz_path(1), "wb");
    FUZZ_CHECK(f != NULL);
    for (i = 0; i < lines * len; i++) fprintf(f, "%d%c", (int)ids[i], (i + 1) % len ? ' ' : '\n');
    FUZZ_CHECK(fclose(f) == 0);
    /* and with its own length demanded, as a model's n_ctx would */
    FUZZ_CHECK(mmix_read_token_lines(ctx, fuzz_path(1), 1000, len, &again, &lines2, &len2) == MMIX_OK);
    FUZZ_CHECK(lines2 == lines && len2 == len && memcmp(again, ids, (size_t)(lines * len) * sizeof *ids) == 0);
    mmix_free(ids);
    mmix_free(again);
    return 0;
}
