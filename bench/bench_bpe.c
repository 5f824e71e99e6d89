/* bench/bench_bpe.c - the BPE tokenizer on a corpus: training time for a vocabulary of V
   (default 4096), encode throughput with a cold word cache (a freshly loaded tokenizer)
   and a warm one, decode throughput, and a byte-exact round-trip check. Single-threaded.
   Usage: bench_bpe CORPUS [V] [OUT.tok]   (bench/bench_bpe.sh runs it beside sentencepiece)
   Prints "key value" lines after a human-readable summary. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        data = (unsigned char *)malloc((size_t)n + 1);
        if (data && fread(data, 1, (size_t)n, f) != (size_t)n) { free(data); data = NULL; }
        *size = (size_t)n;
    }
    fclose(f);
    return data;
}

int main(int argc, char **argv) {
    const char *corpus = argc > 1 ? argv[1] : "../shared/data/corpus_fiction.txt";
    const char *out = argc > 3 ? argv[3] : "build/bench_bpe.tok";
    mmix_bpe_train_options opt = mmix_bpe_train_options_default();
    mmix_ctx *ctx;
    mmix_bpe *bpe = NULL, *loaded = NULL;
    mmix_bpe_ids ids;
    mmix_bpe_bytes back;
    unsigned char *text;
    size_t size;
    double t, train_s = 1e30, encode_cold_s, encode_warm_s = 1e30, decode_s = 1e30, mb;
    int rep, same;
    opt.vocab_size = argc > 2 ? atoll(argv[2]) : 4096;
    text = read_all(corpus, &size);
    if (!text) {
        printf("bench_bpe: corpus '%s' not found: skipped\n", corpus);
        return 0;
    }
    mb = (double)size / 1e6;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return 1;
    memset(&ids, 0, sizeof ids);
    memset(&back, 0, sizeof back);
    /* training: best of 3 */
    for (rep = 0; rep < 3; rep++) {
        mmix_bpe_free(bpe);
        t = mmix_time_seconds();
        if (mmix_bpe_train(ctx, text, size, &opt, &bpe) != MMIX_OK) {
            printf("bench_bpe: %s\n", mmix_last_error(ctx));
            return 1;
        }
        t = mmix_time_seconds() - t;
        if (t < train_s) train_s = t;
    }
    if (mmix_bpe_save(ctx, bpe, out) != MMIX_OK || mmix_bpe_load(ctx, out, &loaded) != MMIX_OK) {
        printf("bench_bpe: %s\n", mmix_last_error(ctx));
        return 1;
    }
    /* encoding with a cold cache (the freshly loaded tokenizer), then warm: best of 3 */
    t = mmix_time_seconds();
    mmix_bpe_encode(ctx, loaded, text, size, 0, &ids);
    encode_cold_s = mmix_time_seconds() - t;
    for (rep = 0; rep < 3; rep++) {
        ids.n = 0;
        t = mmix_time_seconds();
        mmix_bpe_encode(ctx, loaded, text, size, 0, &ids);
        t = mmix_time_seconds() - t;
        if (t < encode_warm_s) encode_warm_s = t;
    }
    for (rep = 0; rep < 3; rep++) {
        back.size = 0;
        t = mmix_time_seconds();
        mmix_bpe_decode(ctx, loaded, ids.ids, ids.n, &back);
        t = mmix_time_seconds() - t;
        if (t < decode_s) decode_s = t;
    }
    same = back.size == size && memcmp(back.data, text, size) == 0;
    printf("corpus %s: %.2f MB, V = %lld (%lld merges), 1 thread\n", corpus, mb,
           (long long)mmix_bpe_vocab_size(bpe), (long long)mmix_bpe_merge_count(bpe));
    printf("  train        %8.3f s (best of 3)\n", train_s);
    printf("  encode cold  %8.1f MB/s (fresh tokenizer, empty word cache)\n", mb / encode_cold_s);
    printf("  encode warm  %8.1f MB/s (best of 3)\n", mb / encode_warm_s);
    printf("  decode       %8.1f MB/s\n", mb / decode_s);
    printf("  tokens       %lld (%.2f bytes per token); round trip %s\n", (long long)ids.n,
           (double)size / (double)ids.n, same ? "byte-exact" : "FAILED");
    printf("train_s %.4f\nencode_cold_mbs %.2f\nencode_warm_mbs %.2f\ntokens %lld\n", train_s,
           mb / encode_cold_s, mb / encode_warm_s, (long long)ids.n);
    mmix_bpe_ids_free(&ids);
    mmix_bpe_bytes_free(&back);
    mmix_bpe_free(bpe);
    mmix_bpe_free(loaded);
    mmix_ctx_destroy(ctx);
    free(text);
    return same ? 0 : 1;
}
