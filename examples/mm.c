/* examples/mm.c - the maskedmixer command-line tool. Commands arrive with the issues that
   build them (train, generate, ...); today: the version, and the BPE tokenizer. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_usage(FILE *out) {
    fprintf(out,
            "usage: mm <command> [options]\n"
            "\n"
            "maskedmixer %s - masked mixers (arXiv 2409.01482) in one C header.\n"
            "\n"
            "commands:\n"
            "  --version, version   print the version and how this binary was built\n"
            "  --help, help         print this help\n"
            "  tokenizer train --data FILE --vocab N --out TOK\n"
            "                       learn a byte-level BPE; N = 256 bytes + merges + 2 specials\n"
            "  tokenizer encode --tokenizer TOK [--allow-special] < text > ids\n"
            "                       whitespace-separated ids; with --allow-special, the names\n"
            "                       <|endoftext|> and <|pad|> in the text become their ids\n"
            "  tokenizer decode --tokenizer TOK < ids > text   the byte-exact inverse\n"
            "  tokenizer import-hf --json tokenizer.json --out TOK\n"
            "                       convert a Hugging Face byte-level BPE\n",
            MMIX_VERSION_STRING);
}

static void print_version(void) {
    printf("maskedmixer %s\n", MMIX_VERSION_STRING);
    printf("GEMM: %s\n", mmix_has_cblas() ? "cblas_sgemm (BLAS)"
                                         : "built-in (install libopenblas-openmp-dev and rebuild "
                                           "for the faster BLAS path)");
    printf("OpenMP: %s, %d thread(s)\n", mmix_has_openmp() ? "on" : "off", mmix_get_num_threads());
}

/* ---- mm tokenizer ---- */

/* Reads all of a stream (stdin) into memory; NULL when out of memory or on a read error. */
static unsigned char *read_stream(FILE *f, size_t *size) {
    size_t cap = 1 << 20, n = 0, got;
    unsigned char *data = (unsigned char *)malloc(cap);
    while (data && (got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *bigger = (unsigned char *)realloc(data, cap * 2);
            if (!bigger) { free(data); return NULL; }
            data = bigger;
            cap *= 2;
        }
    }
    if (data && ferror(f)) { free(data); return NULL; }
    *size = n;
    return data;
}

/* The value after --name in argv, or NULL. */
static const char *option(int argc, char **argv, const char *name) {
    int i;
    for (i = 3; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return NULL;
}
static int flag(int argc, char **argv, const char *name) {
    int i;
    for (i = 3; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return 1;
    return 0;
}
/* Every argument after the subcommand must be a known option (with its value) or flag. */
static int check_args(int argc, char **argv, const char *const *with_value, const char *const *flags) {
    int i, k;
    for (i = 3; i < argc; i++) {
        int known = 0;
        for (k = 0; with_value[k]; k++)
            if (strcmp(argv[i], with_value[k]) == 0) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "mm tokenizer %s: %s needs a value\n", argv[2], argv[i]);
                    return 0;
                }
                known = 1;
                i++;
            }
        for (k = 0; flags[k]; k++)
            if (strcmp(argv[i], flags[k]) == 0) known = 1;
        if (!known) {
            fprintf(stderr, "mm tokenizer %s: unknown argument '%s' (see 'mm --help')\n", argv[2], argv[i]);
            return 0;
        }
    }
    return 1;
}

static int fail(mmix_ctx *ctx, const char *what) {
    fprintf(stderr, "mm tokenizer %s: %s\n", what, mmix_last_error(ctx));
    return 1;
}

static int tokenizer_train(mmix_ctx *ctx, int argc, char **argv) {
    static const char *const with_value[] = {"--data", "--vocab", "--out", NULL}, *const flags[] = {NULL};
    const char *data_path = option(argc, argv, "--data"), *out = option(argc, argv, "--out");
    const char *vocab_text = option(argc, argv, "--vocab");
    mmix_bpe_train_options opt = mmix_bpe_train_options_default();
    mmix_bpe *bpe = NULL;
    unsigned char *text;
    size_t size;
    char *end = NULL;
    FILE *f;
    double t0;
    if (!check_args(argc, argv, with_value, flags)) return 2;
    if (!data_path || !out || !vocab_text) {
        fprintf(stderr, "mm tokenizer train: needs --data FILE --vocab N --out TOK\n");
        return 2;
    }
    opt.vocab_size = strtoll(vocab_text, &end, 10);
    if (!*vocab_text || *end) {
        fprintf(stderr, "mm tokenizer train: --vocab '%s' is not a whole number\n", vocab_text);
        return 2;
    }
    f = fopen(data_path, "rb");
    if (!f) {
        fprintf(stderr, "mm tokenizer train: cannot open --data '%s'\n", data_path);
        return 1;
    }
    text = read_stream(f, &size);
    fclose(f);
    if (!text) {
        fprintf(stderr, "mm tokenizer train: cannot read '%s' into memory\n", data_path);
        return 1;
    }
    t0 = mmix_time_seconds();
    if (mmix_bpe_train(ctx, text, size, &opt, &bpe) != MMIX_OK) {
        free(text);
        return fail(ctx, "train");
    }
    free(text);
    fprintf(stderr, "mm tokenizer train: %.2f s for %llu bytes: %lld merges, vocabulary %lld (eot %d, pad %d)\n",
            mmix_time_seconds() - t0, (unsigned long long)size, (long long)mmix_bpe_merge_count(bpe),
            (long long)mmix_bpe_vocab_size(bpe), mmix_bpe_eot_id(bpe), mmix_bpe_pad_id(bpe));
    if (mmix_bpe_vocab_size(bpe) < opt.vocab_size)
        fprintf(stderr, "mm tokenizer train: note: the text ran out of pairs to merge before --vocab %lld\n",
                (long long)opt.vocab_size);
    if (mmix_bpe_save(ctx, bpe, out) != MMIX_OK) {
        mmix_bpe_free(bpe);
        return fail(ctx, "train");
    }
    mmix_bpe_free(bpe);
    return 0;
}

static int tokenizer_encode(mmix_ctx *ctx, int argc, char **argv) {
    static const char *const with_value[] = {"--tokenizer", NULL}, *const flags[] = {"--allow-special", NULL};
    const char *path = option(argc, argv, "--tokenizer");
    mmix_bpe *bpe = NULL;
    mmix_bpe_ids ids;
    unsigned char *text;
    size_t size;
    char *line;
    int64_t i;
    size_t used = 0;
    if (!check_args(argc, argv, with_value, flags)) return 2;
    if (!path) {
        fprintf(stderr, "mm tokenizer encode: needs --tokenizer TOK\n");
        return 2;
    }
    if (mmix_bpe_load(ctx, path, &bpe) != MMIX_OK) return fail(ctx, "encode");
    text = read_stream(stdin, &size);
    if (!text) {
        mmix_bpe_free(bpe);
        fprintf(stderr, "mm tokenizer encode: cannot read stdin\n");
        return 1;
    }
    memset(&ids, 0, sizeof ids);
    if (mmix_bpe_encode(ctx, bpe, text, size, flag(argc, argv, "--allow-special") ? MMIX_BPE_ALLOW_SPECIAL : 0,
                        &ids) != MMIX_OK) {
        free(text);
        mmix_bpe_free(bpe);
        return fail(ctx, "encode");
    }
    free(text);
    /* ids separated by spaces, a newline at the end; formatted by hand (printf is slow) */
    line = (char *)malloc(1 << 16);
    for (i = 0; line && i < ids.n; i++) {
        char digits[12];
        int k = 0;
        uint32_t v = (uint32_t)ids.ids[i];
        do { digits[k++] = (char)('0' + v % 10); v /= 10; } while (v);
        while (k) line[used++] = digits[--k];
        line[used++] = i + 1 < ids.n ? ' ' : '\n';
        if (used > (1 << 16) - 16) { fwrite(line, 1, used, stdout); used = 0; }
    }
    if (line) fwrite(line, 1, used, stdout);
    free(line);
    mmix_bpe_ids_free(&ids);
    mmix_bpe_free(bpe);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "mm tokenizer encode: error writing stdout\n");
        return 1;
    }
    return 0;
}

static int tokenizer_decode(mmix_ctx *ctx, int argc, char **argv) {
    static const char *const with_value[] = {"--tokenizer", NULL}, *const flags[] = {NULL};
    const char *path = option(argc, argv, "--tokenizer");
    mmix_bpe *bpe = NULL;
    mmix_bpe_ids ids;
    mmix_bpe_bytes out;
    unsigned char *text;
    size_t size, pos = 0;
    if (!check_args(argc, argv, with_value, flags)) return 2;
    if (!path) {
        fprintf(stderr, "mm tokenizer decode: needs --tokenizer TOK\n");
        return 2;
    }
    if (mmix_bpe_load(ctx, path, &bpe) != MMIX_OK) return fail(ctx, "decode");
    text = read_stream(stdin, &size);
    if (!text) {
        mmix_bpe_free(bpe);
        fprintf(stderr, "mm tokenizer decode: cannot read stdin\n");
        return 1;
    }
    memset(&ids, 0, sizeof ids);
    memset(&out, 0, sizeof out);
    /* whitespace-separated decimal ids; anything else is an error naming the byte offset */
    while (pos < size) {
        int64_t v = 0;
        size_t start;
        if (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\t' || text[pos] == '\r') { pos++; continue; }
        start = pos;
        while (pos < size && text[pos] >= '0' && text[pos] <= '9' && v <= INT32_MAX) v = 10 * v + (text[pos++] - '0');
        if (pos == start || v > INT32_MAX ||
            (pos < size && text[pos] != ' ' && text[pos] != '\n' && text[pos] != '\t' && text[pos] != '\r')) {
            fprintf(stderr, "mm tokenizer decode: stdin byte %llu: expected a token id (a whole number), found '%.20s'\n",
                    (unsigned long long)start, (const char *)text + start);
            free(text);
            mmix_bpe_ids_free(&ids);
            mmix_bpe_free(bpe);
            return 1;
        }
        if (mmix_bpe_ids_push(ctx, &ids, (int32_t)v) != MMIX_OK) break;
    }
    free(text);
    if (mmix_last_result(ctx) != MMIX_OK || mmix_bpe_decode(ctx, bpe, ids.ids, ids.n, &out) != MMIX_OK) {
        mmix_bpe_ids_free(&ids);
        mmix_bpe_free(bpe);
        return fail(ctx, "decode");
    }
    if (out.size) fwrite(out.data, 1, out.size, stdout);
    mmix_bpe_bytes_free(&out);
    mmix_bpe_ids_free(&ids);
    mmix_bpe_free(bpe);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "mm tokenizer decode: error writing stdout\n");
        return 1;
    }
    return 0;
}

static int tokenizer_import_hf(mmix_ctx *ctx, int argc, char **argv) {
    static const char *const with_value[] = {"--json", "--out", NULL}, *const flags[] = {NULL};
    const char *json = option(argc, argv, "--json"), *out = option(argc, argv, "--out");
    mmix_bpe *bpe = NULL;
    if (!check_args(argc, argv, with_value, flags)) return 2;
    if (!json || !out) {
        fprintf(stderr, "mm tokenizer import-hf: needs --json tokenizer.json --out TOK\n");
        return 2;
    }
    if (mmix_bpe_import_hf(ctx, json, &bpe) != MMIX_OK) return fail(ctx, "import-hf");
    if (mmix_bpe_save(ctx, bpe, out) != MMIX_OK) {
        mmix_bpe_free(bpe);
        return fail(ctx, "import-hf");
    }
    fprintf(stderr, "mm tokenizer import-hf: %lld merges, vocabulary %lld\n", (long long)mmix_bpe_merge_count(bpe),
            (long long)mmix_bpe_vocab_size(bpe));
    mmix_bpe_free(bpe);
    return 0;
}

static int cmd_tokenizer(int argc, char **argv) {
    mmix_ctx *ctx;
    const char *sub = argc > 2 ? argv[2] : "";
    int rc;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) {
        fprintf(stderr, "mm: out of memory\n");
        return 1;
    }
    if (strcmp(sub, "train") == 0) rc = tokenizer_train(ctx, argc, argv);
    else if (strcmp(sub, "encode") == 0) rc = tokenizer_encode(ctx, argc, argv);
    else if (strcmp(sub, "decode") == 0) rc = tokenizer_decode(ctx, argc, argv);
    else if (strcmp(sub, "import-hf") == 0) rc = tokenizer_import_hf(ctx, argc, argv);
    else {
        fprintf(stderr, "mm tokenizer: unknown subcommand '%s' (train, encode, decode or import-hf)\n", sub);
        rc = 2;
    }
    mmix_ctx_destroy(ctx);
    return rc;
}

int main(int argc, char **argv) {
    const char *cmd;
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        print_version();
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        print_usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "tokenizer") == 0) return cmd_tokenizer(argc, argv);
    fprintf(stderr, "mm: unknown command '%s' (see 'mm --help')\n", cmd);
    return 2;
}
