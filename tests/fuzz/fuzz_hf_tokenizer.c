/* A Hugging Face tokenizer.json (mmix_bpe_import_hf reads a path through the same
   mmix_bpe_import_hf_memory). What it imports is one of our tokenizers and must behave as
   one (tok_common.h); what it refuses gets a message naming the file. */
#include "tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mmix_ctx *ctx = fuzz_ctx();
    mmix_bpe *bpe = (mmix_bpe *)1;
    mmix_result r = mmix_bpe_import_hf_memory(ctx, data, size, "fuzz.json", &bpe);
    if (r != MMIX_OK) {
        FUZZ_CHECK(bpe == NULL);
        FUZZ_CHECK_MESSAGE(ctx, "fuzz.json");
        return 0;
    }
    fuzz_check_tokenizer(ctx, bpe, data, size);
    mmix_bpe_free(bpe);
    return 0;
}
