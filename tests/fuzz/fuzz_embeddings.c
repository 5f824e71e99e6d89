/* The embeddings and index files of mm embed / mm index (examples/emb_file.h, the code mm.c
   runs). The input is the file. What parses is within the file everywhere, and written again
   from what was read (emb_bytes, mm's writer) gives the same bytes; what does not gets a
   message naming the file. */
#include "fuzz.h"
#include "../../examples/emb_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mmix_ctx *ctx = fuzz_ctx();
    emb_file f;
    unsigned char *copy = (unsigned char *)malloc(size ? size : 1), *again;
    float *rows;
    uint64_t *offsets, i;
    size_t n;
    FUZZ_CHECK(copy != NULL);
    if (size) memcpy(copy, data, size);   /* (the reader's rows are floats: an aligned copy) */
    memset(&f, 0, sizeof f);
    f.bytes = copy;
    f.size = size;
    if (!emb_parse(ctx, "fuzz.emb", &f)) {
        FUZZ_CHECK_MESSAGE(ctx, "fuzz.emb");
        free(copy);
        return 0;
    }
    FUZZ_CHECK((const unsigned char *)f.rows >= copy && f.offsets + 8 * f.count == copy + size);
    FUZZ_CHECK((const unsigned char *)(f.rows + f.count * f.dim) == f.offsets);
    rows = (float *)malloc((size_t)(f.count * f.dim) * sizeof(float) + 1);
    offsets = (uint64_t *)malloc((size_t)f.count * sizeof(uint64_t) + 1);
    FUZZ_CHECK(rows && offsets);
    for (i = 0; i < f.count * f.dim; i++) {
        uint32_t u = get_u32((const unsigned char *)f.rows + 4 * i);
        memcpy(&rows[i], &u, 4);
    }
    for (i = 0; i < f.count; i++) offsets[i] = get_u64(f.offsets + 8 * i);
    again = emb_bytes(f.model, f.docs, f.field, f.model_hash, f.tokenizer_hash, rows, f.count, f.dim, offsets, &n);
    FUZZ_CHECK(again != NULL);
    /* the same bytes, unless a name held a NUL (kept up to it) or the rows start later than
       the writer puts them (the format allows any multiple of 64) */
    if (n == size && strlen(f.model) == get_u32(data + 56) && strlen(f.docs) == get_u32(data + 60) &&
        strlen(f.field) == get_u32(data + 64))
        FUZZ_CHECK(memcmp(again, data, size) == 0);
    free(again);
    free(rows);
    free(offsets);
    free(copy);
    return 0;
}
