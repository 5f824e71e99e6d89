/* Our tokenizer file (section 6 of maskedmixer.h; mmix_bpe_load reads a path through the
   same mmix_bpe_load_memory). A file that loads: see tok_common.h. One that does not: a
   message naming it, and no tokenizer. */
#include "tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mmix_ctx *ctx = fuzz_ctx();
    mmix_bpe *bpe = (mmix_bpe *)1;
    mmix_result r = mmix_bpe_load_memory(ctx, data, size, "fuzz.tok", &bpe);
    if (r != MMIX_OK) {
        FUZZ_CHECK(bpe == NULL);
        FUZZ_CHECK_MESSAGE(ctx, "fuzz.tok");
        return 0;
    }
    fuzz_check_tokenizer(ctx, bpe, data, size);
    mmix_bpe_free(bpe);
    return 0;
}
