/* tests/fuzz/fuzz.h - what every libFuzzer harness of tests/fuzz/ shares.

   Each harness is one reader of untrusted bytes, built with
       clang -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
   (make fuzz, make fuzz-ci). Beyond "does not crash", each checks what the format
   promises: a file that loads saves and reloads to the same thing, a rejected one leaves a
   message naming the file. A broken promise is FUZZ_CHECK, which aborts with the line, so
   libFuzzer keeps the input as a crash. */
#ifndef MMIX_FUZZ_H
#define MMIX_FUZZ_H

#define _XOPEN_SOURCE 700   /* mkdtemp */
#define MASKEDMIXER_IMPLEMENTATION
#include "../../maskedmixer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* A rejected input must say why, naming what it read (the path or the memory name). */
#define FUZZ_CHECK_MESSAGE(ctx, name)                                                     \
    do {                                                                                  \
        const char *m_ = mmix_last_error(ctx);                                            \
        if (!m_[0] || !strstr(m_, (name))) {                                              \
            fprintf(stderr, "%s:%d: the error '%s' does not name '%s'\n", __FILE__,       \
                    __LINE__, m_, (name));                                                \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* (Each harness uses some of the helpers; clang builds them all.) */
#define FUZZ_HELPER static __attribute__((unused))

/* One context for the whole run (readers that keep nothing in it). */
FUZZ_HELPER mmix_ctx *fuzz_ctx(void) {
    static mmix_ctx *ctx;
    if (!ctx && mmix_ctx_create(&ctx, NULL) != MMIX_OK) abort();
    mmix_clear_error(ctx);
    return ctx;
}

/* Readers that open a path get the input through a file of a per-process folder, rewritten
   for each input (k: one of four names, for a harness that also writes copies). A folder
   of its own, because a weights reader also looks for a config.json beside the file. */
static char fuzz_dir[256], fuzz_paths[4][300];
FUZZ_HELPER void fuzz_remove_paths(void) {
    int k;
    for (k = 0; k < 4; k++)
        if (fuzz_paths[k][0]) remove(fuzz_paths[k]);
    if (fuzz_dir[0]) rmdir(fuzz_dir);
}
FUZZ_HELPER const char *fuzz_path(int k) {
    if (!fuzz_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/mmix-fuzz-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(fuzz_dir)) {
            perror(fuzz_dir);
            abort();
        }
        atexit(fuzz_remove_paths);
    }
    if (!fuzz_paths[k][0]) snprintf(fuzz_paths[k], sizeof fuzz_paths[k], "%s/input-%d", fuzz_dir, k);
    return fuzz_paths[k];
}
FUZZ_HELPER const char *fuzz_write(int k, const void *data, size_t size) {
    const char *path = fuzz_path(k);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}
/* The whole of a file, for comparing what a writer produced; *size receives its length. */
FUZZ_HELPER unsigned char *fuzz_slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    long n;
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0);
    b = (unsigned char *)malloc((size_t)n + 1);
    FUZZ_CHECK(b != NULL && fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

#endif
