/* examples/mm.c - the maskedmixer command-line tool: the BPE tokenizer, and the two models
   of the paper (forward, train, info). Every error is one line on stderr and a non-zero
   exit status. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"

#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <direct.h>
#else
#include <sys/stat.h>
#include <unistd.h>
#endif

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
            "                       convert a Hugging Face byte-level BPE\n"
            "  forward --model W.safetensors --tokens IDS.txt [--pad-id P] [--logits OUT.f32]\n"
            "                       the causal-LM loss (and logits) of a model on token lines\n"
            "  train (--preset NAME | --arch mixer|llama ... | --init W | --resume STATE)\n"
            "        (--data TEXT | --tokens IDS.txt) --save OUT.safetensors [--steps T --batch B]\n"
            "                       train with AdamW on text or token lines, with validation,\n"
            "                       checkpoints, a CSV log and a loss plot (mm train --help)\n"
            "  info W.safetensors   architecture, sizes, parameter count, metadata\n"
            "  generate --model W.safetensors --prompt TEXT [--max-new N] [--temperature T] ...\n"
            "                       continue a prompt (greedy by default; mm generate --help)\n"
            "Each command takes --help.\n",
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

/* Options start after the command words: argv[args_from] ("mm forward ..." from 2,
   "mm tokenizer train ..." from 3). command_name prefixes messages. */
static int args_from = 2;
static const char *command_name = "mm";

/* The value after the last --name in argv (a later flag overrides an earlier one), or NULL. */
static const char *option(int argc, char **argv, const char *name) {
    int i;
    const char *value = NULL;
    for (i = args_from; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) value = argv[++i];
    return value;
}
static int flag(int argc, char **argv, const char *name) {
    int i;
    for (i = args_from; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return 1;
    return 0;
}
/* Every argument must be a known option (with its value) or flag; `positional` of them
   may be plain words (mm info FILE). */
static int check_args_positional(int argc, char **argv, const char *const *with_value, const char *const *flags,
                                 int positional) {
    int i, k;
    for (i = args_from; i < argc; i++) {
        int known = 0;
        for (k = 0; with_value[k]; k++)
            if (strcmp(argv[i], with_value[k]) == 0) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "%s: %s needs a value\n", command_name, argv[i]);
                    return 0;
                }
                known = 1;
                i++;
                break;
            }
        for (k = 0; !known && flags[k]; k++)
            if (strcmp(argv[i], flags[k]) == 0) known = 1;
        if (!known && positional > 0 && strncmp(argv[i], "--", 2) != 0) {
            positional--;
            known = 1;
        }
        if (!known) {
            fprintf(stderr, "%s: unknown argument '%s' (see '%s --help')\n", command_name, argv[i], command_name);
            return 0;
        }
    }
    return 1;
}
static int check_args(int argc, char **argv, const char *const *with_value, const char *const *flags) {
    return check_args_positional(argc, argv, with_value, flags, 0);
}

static int fail(mmix_ctx *ctx, const char *what) {
    (void)what;
    fprintf(stderr, "%s: %s\n", command_name, mmix_last_error(ctx));
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
            size_t end = start;   /* quote the word, not the line break after it */
            while (end < size && end - start < 20 && !isspace(text[end])) end++;
            fprintf(stderr, "mm tokenizer decode: stdin byte %llu: expected a token id (a whole number), found '%.*s'\n",
                    (unsigned long long)start, (int)(end - start), (const char *)text + start);
            free(text);
            mmix_bpe_ids_free(&ids);
            mmix_bpe_free(bpe);
            return 1;
        }
        if (mmix_bpe_ids_push(ctx, &ids, (int32_t)v) != MMIX_OK) break;
    }
    free(text);
    if (mmix_last_result(ctx) != MMIX_OK || mmix_bpe_decode(ctx, bpe, ids.ids, ids.n, &out) != MMIX_OK) {
        mmix_bpe_bytes_free(&out);   /* a failed decode may have appended some bytes */
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
    static char name[64];
    int rc;
    args_from = 3;
    snprintf(name, sizeof name, "mm tokenizer %s", sub);
    command_name = name;
    if (flag(argc, argv, "--help") || strcmp(sub, "--help") == 0) {
        printf("usage: mm tokenizer train --data FILE --vocab N --out TOK\n"
               "       mm tokenizer encode --tokenizer TOK [--allow-special] < text > ids\n"
               "       mm tokenizer decode --tokenizer TOK < ids > text\n"
               "       mm tokenizer import-hf --json tokenizer.json --out TOK\n"
               "N is the whole vocabulary: 256 bytes + merges + <|endoftext|> and <|pad|>. Ids are\n"
               "whitespace-separated; decode is the byte-exact inverse of encode.\n");
        return 0;
    }
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

/* ---- mm forward / info / train: the two models ---- */

static void log_to_stderr(void *user, const char *message) {
    (void)user;
    fprintf(stderr, "%s: warning: %s\n", command_name, message);
}

/* Parses an integer or float option; a malformed value is an error naming the flag. */
static int int_option(int argc, char **argv, const char *name, long long fallback, long long lo, long long *out) {
    const char *v = option(argc, argv, name);
    char *end;
    *out = fallback;
    if (!v) return 1;
    *out = strtoll(v, &end, 10);
    if (end == v || *end || *out < lo) {
        fprintf(stderr, "%s: %s wants an integer >= %lld, not '%s'\n", command_name, name, lo, v);
        return 0;
    }
    return 1;
}
static int float_option(int argc, char **argv, const char *name, double fallback, double lo, double *out) {
    const char *v = option(argc, argv, name);
    char *end;
    *out = fallback;
    if (!v) return 1;
    *out = strtod(v, &end);
    if (end == v || *end || !(*out >= lo)) {
        fprintf(stderr, "%s: %s wants a number >= %g, not '%s'\n", command_name, name, lo, v);
        return 0;
    }
    return 1;
}

/* --heads, --norm-eps, --rope-theta: what a weights file cannot tell. */
static int load_options(int argc, char **argv, mmix_load_options *o) {
    long long heads;
    double eps, theta;
    *o = mmix_load_options_default();
    if (!int_option(argc, argv, "--heads", 0, 1, &heads) || !float_option(argc, argv, "--norm-eps", 0, 1e-30, &eps) ||
        !float_option(argc, argv, "--rope-theta", 0, 1e-30, &theta))
        return 0;
    o->heads = heads;
    o->norm_eps = (float)eps;
    o->rope_theta = (float)theta;
    return 1;
}

/* A transformer's window is not in its weights: without n_ctx metadata it is the token
   file's line length (the mixer's comes from its conv weight). */
static void window_from_lines(mmix_ctx *ctx, mmix_model *m, const char *weights, int64_t len) {
    mmix_safetensors st;
    if (m->config.arch != MMIX_ARCH_LLAMA || mmix_safetensors_open(ctx, weights, &st) != MMIX_OK) return;
    if (!mmix_safetensors_meta(&st, "n_ctx")) m->config.n_ctx = len;
    mmix_safetensors_close(&st);
}

static const char *arch_name(mmix_arch a) { return a == MMIX_ARCH_MIXER ? "masked mixer" : "Llama-style transformer"; }

static int cmd_info(mmix_ctx *ctx, int argc, char **argv) {
    static const char *const with_value[] = {"--heads", "--norm-eps", "--rope-theta", NULL};
    static const char *const flags[] = {NULL};
    const char *path = argc > 2 && strncmp(argv[2], "--", 2) != 0 ? argv[2] : NULL;
    mmix_load_options lo;
    mmix_model m;
    mmix_safetensors st;
    int32_t pad;
    int64_t i;
    const mmix_model_config *c = &m.config;
    if (flag(argc, argv, "--help") || !path) {
        int asked = flag(argc, argv, "--help");
        fprintf(asked ? stdout : stderr, "usage: mm info W.safetensors [--heads H] [--norm-eps E] [--rope-theta T]\n"
                "Prints the architecture, sizes, parameter count and metadata of a weights file.\n");
        return asked ? 0 : 2;
    }
    if (!check_args_positional(argc, argv, with_value, flags, 1) || !load_options(argc, argv, &lo)) return 2;
    if (mmix_model_load(ctx, &m, path, &lo, &pad) != MMIX_OK) return fail(ctx, "info");
    printf("file: %s\narchitecture: %s\n", path, arch_name(c->arch));
    printf("vocab: %lld\ndim: %lld\ndepth: %lld\nffn: %lld\nn_ctx: %lld\n", (long long)c->vocab, (long long)c->dim,
           (long long)c->depth, (long long)c->ffn_dim, (long long)c->n_ctx);
    if (c->arch == MMIX_ARCH_MIXER) printf("kernel: %lld\nlayer_norm_eps: %g\n", (long long)c->kernel, (double)c->norm_eps);
    else printf("heads: %lld\nrms_norm_eps: %g\nrope_theta: %g\n", (long long)c->heads, (double)c->norm_eps, (double)c->rope_theta);
    printf("parameters: %lld in %lld tensors\npad_token_id: %ld\n", (long long)mmix_model_param_count(&m),
           (long long)m.params.count, (long)pad);
    if (mmix_safetensors_open(ctx, path, &st) == MMIX_OK) {
        for (i = 0; i < st.n_meta; i++) printf("metadata %s: %s\n", st.meta_keys[i], st.meta_values[i]);
        mmix_safetensors_close(&st);
    }
    return 0;
}

/* A batch of token lines as an int32 tensor [rows, len] in the step arena. */
static mmix_tensor *batch_tensor(mmix_ctx *ctx, const int32_t *lines, const int64_t *rows, int64_t n, int64_t len) {
    mmix_tensor *ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(n, len));
    int64_t r;
    for (r = 0; ids && r < n; r++) memcpy(ids->ids + r * len, lines + rows[r] * len, (size_t)len * sizeof(int32_t));
    return ids;
}

/* Targets the causal-LM loss counts in a batch: tokens 1..L-1 that are not the pad. */
static int64_t counted_targets(const mmix_tensor *ids, int32_t pad) {
    int64_t B = ids->shape.d[0], L = ids->shape.d[1], b, t, n = 0;
    for (b = 0; b < B; b++)
        for (t = 1; t < L; t++) n += pad < 0 || ids->ids[b * L + t] != pad;
    return n;
}

static int cmd_forward(mmix_ctx *ctx, int argc, char **argv) {
    static const char *const with_value[] = {"--model", "--tokens", "--pad-id", "--logits", "--heads", "--norm-eps",
                                             "--rope-theta", "--batch", NULL};
    static const char *const flags[] = {NULL};
    const char *model_path = option(argc, argv, "--model"), *tokens_path = option(argc, argv, "--tokens");
    const char *logits_path = option(argc, argv, "--logits");
    mmix_load_options lo;
    mmix_model m;
    int32_t *lines = NULL, file_pad;
    int64_t n_lines, len, first, rows[64], r, counted = 0;
    long long pad_opt, batch;
    float *all_logits = NULL;
    double total = 0.0;
    int rc = 1;
    if (flag(argc, argv, "--help")) {
        printf("usage: mm forward --model W.safetensors --tokens IDS.txt [--pad-id P] [--logits OUT.f32]\n"
               "                  [--batch B] [--heads H] [--norm-eps E] [--rope-theta T]\n"
               "IDS.txt: one sequence per line, whitespace-separated ids, all lines of one length (n_ctx for\n"
               "a mixer). Prints the causal-LM loss (SPEC 1.5) over the file, token-weighted; pad targets\n"
               "(--pad-id, or the file's pad_token_id) are not counted. --logits writes float32 little-\n"
               "endian logits in [line, position, vocab] order. --batch: lines per forward pass (16).\n");
        return 0;
    }
    if (!check_args(argc, argv, with_value, flags) || !load_options(argc, argv, &lo) ||
        !int_option(argc, argv, "--pad-id", -1, 0, &pad_opt) || !int_option(argc, argv, "--batch", 16, 1, &batch))
        return 2;
    if (batch > 64) batch = 64;
    if (!model_path || !tokens_path) {
        fprintf(stderr, "%s: --model and --tokens are required (see 'mm forward --help')\n", command_name);
        return 2;
    }
    if (mmix_model_load(ctx, &m, model_path, &lo, &file_pad) != MMIX_OK) return fail(ctx, "forward");
    if (!option(argc, argv, "--pad-id")) pad_opt = file_pad;
    if (mmix_read_token_lines(ctx, tokens_path, m.config.vocab, m.config.arch == MMIX_ARCH_MIXER ? m.config.n_ctx : 0,
                              &lines, &n_lines, &len) != MMIX_OK)
        return fail(ctx, "forward");
    window_from_lines(ctx, &m, model_path, len);
    if (logits_path) {
        all_logits = (float *)malloc((size_t)(n_lines * len * m.config.vocab) * sizeof(float));
        if (!all_logits) {
            fprintf(stderr, "%s: out of memory for the logits\n", command_name);
            goto done;
        }
    }
    mmix_set_grad_enabled(ctx, 0);
    mmix_set_training(ctx, 0);
    for (first = 0; first < n_lines; first += batch) {
        int64_t n = n_lines - first < batch ? n_lines - first : batch, count;
        mmix_tensor *ids, *logits, *loss = NULL;
        for (r = 0; r < n; r++) rows[r] = first + r;
        ids = batch_tensor(ctx, lines, rows, n, len);
        if (!ids) goto done_error;
        count = counted_targets(ids, (int32_t)pad_opt);
        if (count > 0) loss = mmix_model_loss(ctx, &m, ids, (int32_t)pad_opt, &logits);
        else logits = mmix_model_logits(ctx, &m, ids);
        if (!logits || (count > 0 && !loss)) goto done_error;
        if (loss) total += (double)loss->data[0] * (double)count; /* token-weighted over the whole file */
        counted += count;
        if (all_logits) memcpy(all_logits + first * len * m.config.vocab, logits->data, (size_t)logits->n * sizeof(float));
        mmix_step_reset(ctx);
    }
    if (counted == 0) {
        fprintf(stderr, "%s: no position to predict in %s (every target is the pad id %lld)\n", command_name,
                tokens_path, pad_opt);
        goto done;
    }
    if (all_logits && mmix_write_file_atomic(ctx, logits_path, all_logits,
                                             (size_t)(n_lines * len * m.config.vocab) * sizeof(float)) != MMIX_OK)
        goto done_error;
    printf("loss %.9g\n", total / (double)counted);
    rc = 0;
    goto done;
done_error:
    fail(ctx, "forward");
done:
    free(all_logits);
    mmix_free(lines);
    return rc;
}

/* The lines of one epoch in a shuffled order: a Fisher-Yates shuffle with the generator
   seeded from (seed, epoch), so the order is a function of the run's seed and the data
   position alone, and a resumed run needs no other state. */
static void epoch_order(int64_t *order, int64_t n, uint64_t seed, int64_t epoch, int shuffle) {
    mmix_rng rng;
    int64_t i;
    for (i = 0; i < n; i++) order[i] = i;
    if (!shuffle) return;
    mmix_rng_seed(&rng, seed * 1000003ULL + (uint64_t)epoch);
    for (i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)mmix_rng_below(&rng, (uint32_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

#define PATH_CAP 1024

/* A run's files sit beside its weights OUT.safetensors: OUT.state.safetensors (optimizer,
   schedule, data position), OUT.tokenizer.txt, OUT.log.csv (every evaluation) and
   OUT.loss.svg. 0 when the name does not fit. */
static int companion_path(const char *weights, const char *suffix, char *out) {
    size_t n = strlen(weights), ext = strlen(".safetensors");
    if (n > ext && strcmp(weights + n - ext, ".safetensors") == 0) n -= ext;
    return snprintf(out, PATH_CAP, "%.*s%s", (int)n, weights, suffix) < PATH_CAP;
}
/* `name` in the folder of `beside` ("runs/a.safetensors", "x.txt" -> "runs/x.txt"). */
static int path_beside(const char *beside, const char *name, char *out) {
    const char *slash = strrchr(beside, '/');
    return snprintf(out, PATH_CAP, "%.*s%s", slash ? (int)(slash - beside + 1) : 0, beside, name) < PATH_CAP;
}
/* Creates the folders of `path` that do not exist yet ("runs/demo/m.safetensors" -> runs,
   runs/demo), so --save can name a new folder. */
static void make_parent_dirs(const char *path) {
    char dir[PATH_CAP];
    size_t i;
    snprintf(dir, sizeof dir, "%s", path);
    for (i = 1; dir[i]; i++)
        if (dir[i] == '/') {
            dir[i] = 0;
#ifdef _WIN32
            _mkdir(dir);
#else
            mkdir(dir, 0777);
#endif
            dir[i] = '/';
        }
}
static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}
static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* 64-bit FNV-1a of a file, so a state file can tell whether the weights beside it are the
   ones it was written with (a run stopped between the two writes leaves them apart). */
static int file_fnv1a(const char *path, uint64_t *hash) {
    unsigned char buf[1 << 16];
    size_t n, i;
    FILE *f = fopen(path, "rb");
    uint64_t h = MMIX_FNV1A64_OFFSET;
    if (!f) return 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) h = mmix_fnv1a64(h, buf, n);
    i = (size_t)ferror(f);
    fclose(f);
    *hash = h;
    return i == 0;
}

/* The presets: the paper's configurations by name (SPEC 1.9, 3.1, 11; far too large for a
   CPU but selectable), and small ones that train in minutes on two cores. */
typedef struct train_preset {
    const char *name, *about;
    mmix_arch arch;
    long long vocab, dim, depth, ctx, kernel, heads, batch, steps, warmup, eval_every;
    double lr;
    int padded;                 /* one document per row, as the paper's n_ctx = 512 datasets */
} train_preset;
static const train_preset presets[] = {
    {"tinystories-mixer", "the paper's TinyStories mixer (SPEC 1.9): 4 epochs of 2M stories",
     MMIX_ARCH_MIXER, 4096, 1024, 8, 512, 1, 4, 32, 250000, 500, 4000, 5e-4, 1},
    {"tinystories-llama", "the paper's 4-head Llama baseline (SPEC 3.1)",
     MMIX_ARCH_LLAMA, 4096, 512, 8, 512, 1, 4, 32, 250000, 500, 4000, 2e-4, 1},
    {"fineweb-mixer", "the paper's FineWeb-edu mixer (SPEC 1.9): global batch 128, 200k steps",
     MMIX_ARCH_MIXER, 8000, 1024, 16, 512, 1, 4, 128, 200000, 500, 4000, 5e-4, 1},
    {"cpu-mixer", "a 1.1M-parameter mixer, a few minutes on two cores (make demo)",
     MMIX_ARCH_MIXER, 2048, 128, 4, 128, 1, 4, 16, 800, 80, 100, 3e-3, 0},
    {"cpu-llama", "the transformer beside cpu-mixer (same width, depth and window)",
     MMIX_ARCH_LLAMA, 2048, 128, 4, 128, 1, 4, 16, 800, 80, 100, 2e-3, 0},
    {"tiny-mixer", "seconds: for tests and smoke runs",
     MMIX_ARCH_MIXER, 384, 32, 2, 32, 1, 4, 8, 60, 6, 20, 5e-3, 0},
};
static const train_preset *find_preset(const char *name) {
    size_t i;
    for (i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, name) == 0) return &presets[i];
    return NULL;
}

typedef struct train_settings {
    long long steps, batch, warmup, seed, pad, stop_at;
    long long eval_every, save_every, eval_rows, log_every;
    double lr, weight_decay, clip;
    int shuffle, schedule;      /* schedule: 0 linear, 1 constant */
} train_settings;

/* Where a run's rows come from: token lines (--tokens, --val-tokens) or a text file
   (--data) tokenized by the run's tokenizer into a cached dataset. */
typedef struct train_source {
    char tokens[PATH_CAP], val_tokens[PATH_CAP];
    char data[PATH_CAP], tokenizer[PATH_CAP], cache[PATH_CAP], jsonl_field[256];
    mmix_data_options opt;
    uint64_t data_hash;         /* the text file's FNV-1a, checked when a run resumes */
} train_source;

/* The rows one run trains and evaluates on, [n x len] int32, and who owns them. */
typedef struct train_rows {
    const int32_t *train, *val;
    int64_t n_train, n_val, len;
    int32_t *own_train, *own_val;
    mmix_dataset dataset;
} train_rows;
static void train_rows_free(train_rows *r) {
    mmix_free(r->own_train);
    mmix_free(r->own_val);
    mmix_data_free(&r->dataset);
    memset(r, 0, sizeof *r);
}

/* Metadata pairs of a state file, formatted printf-style. */
#define META_MAX 40
typedef struct meta_list {
    const char *keys[META_MAX], *vals[META_MAX];
    char values[META_MAX][PATH_CAP + 32];
    int64_t n;
} meta_list;
static void meta_add(meta_list *m, const char *key, const char *fmt, ...) {
    va_list args;
    if (m->n == META_MAX) return;
    va_start(args, fmt);
    vsnprintf(m->values[m->n], sizeof m->values[0], fmt, args);
    va_end(args);
    m->keys[m->n] = key;
    m->vals[m->n] = m->values[m->n];
    m->n++;
}

/* A required metadata number of a training state file; 0 with the error set if absent or
   malformed. */
static int meta_number(mmix_ctx *ctx, const mmix_safetensors *st, const char *key, double *out) {
    const char *v = mmix_safetensors_meta(st, key);
    char *end;
    if (!v) {
        mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: metadata %s is missing: not a training state file", st->path, key);
        return 0;
    }
    *out = strtod(v, &end);
    if (end == v || *end) {
        mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: metadata %s is not a number", st->path, key);
        return 0;
    }
    return 1;
}
static int meta_ll(mmix_ctx *ctx, const mmix_safetensors *st, const char *key, long long *out) {
    double v;
    if (!meta_number(ctx, st, key, &v)) return 0;
    *out = (long long)v;
    return 1;
}
/* An optional text value (a state file from an older run may lack it). */
static void meta_text(const mmix_safetensors *st, const char *key, char *out, size_t size) {
    const char *v = mmix_safetensors_meta(st, key);
    snprintf(out, size, "%s", v ? v : "");
}

/* ---- the evaluation log: a CSV of every evaluation, and an SVG plot drawn from it ---- */

typedef struct eval_record {
    long long step, tokens;     /* tokens seen: step x batch x n_ctx */
    double train_loss;          /* mean training loss since the previous evaluation; NaN at step 0 */
    double val_loss;            /* NaN without a validation set */
    double lr, seconds;
} eval_record;
typedef struct eval_log {
    eval_record *r;
    int64_t n, cap;
} eval_log;
static int eval_log_push(eval_log *log, eval_record e) {
    if (log->n == log->cap) {
        int64_t cap = log->cap ? 2 * log->cap : 64;
        eval_record *r = (eval_record *)realloc(log->r, (size_t)cap * sizeof *r);
        if (!r) return 0;
        log->r = r;
        log->cap = cap;
    }
    log->r[log->n++] = e;
    return 1;
}

/* Reads a run's CSV back when it resumes, keeping the rows up to the resumed step (a run
   stopped after an evaluation but before its checkpoint must not list that row twice). */
static void eval_log_read(const char *path, long long up_to_step, eval_log *log) {
    char line[512];
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        double v[6];
        char *p = line, *end;
        int k;
        eval_record e;
        for (k = 0; k < 6; k++) {   /* six comma-separated numbers; an empty loss is NaN */
            v[k] = strtod(p, &end);
            if (end == p) {
                if (k != 2 && k != 3) break;
                v[k] = NAN;
            }
            p = end;
            if (k < 5 && *p++ != ',') break;
        }
        if (k < 6) continue;   /* the header, or a line that is not ours */
        e.step = (long long)v[0];
        e.tokens = (long long)v[1];
        e.train_loss = v[2];
        e.val_loss = v[3];
        e.lr = v[4];
        e.seconds = v[5];
        if (e.step <= up_to_step && !eval_log_push(log, e)) break;
    }
    fclose(f);
}

/* A growing text buffer for the files written whole. */
typedef struct text_buf {
    char *p;
    size_t n, cap;
    int failed;
} text_buf;
static void text_add(text_buf *b, const char *fmt, ...) {
    va_list args;
    int need;
    if (b->failed) return;
    va_start(args, fmt);
    need = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (need < 0 || b->n + (size_t)need + 1 > b->cap) {
        size_t cap = (b->cap ? 2 * b->cap : 4096) + (need > 0 ? (size_t)need : 0);
        char *p = need < 0 ? NULL : (char *)realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    va_start(args, fmt);
    vsnprintf(b->p + b->n, b->cap - b->n, fmt, args);
    va_end(args);
    b->n += (size_t)need;
}
static void text_add_number(text_buf *b, double v) {
    if (isfinite(v)) text_add(b, "%.6f", v);
}
/* Text into XML: the run's name is the only text from outside. */
static void text_add_xml(text_buf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '<') text_add(b, "&lt;");
        else if (*s == '>') text_add(b, "&gt;");
        else if (*s == '&') text_add(b, "&amp;");
        else if (*s == '"') text_add(b, "&quot;");
        else text_add(b, "%c", *s);
    }
}

/* A tick spacing of 1, 2 or 5 times a power of ten giving about `ticks` intervals. */
static double nice_step(double range, int ticks) {
    double raw = range / ticks, p = pow(10.0, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1.0 : m < 3.5 ? 2.0 : m < 7.5 ? 5.0 : 10.0) * p;
}
static void text_add_count(text_buf *b, double v) {   /* 1500000 -> "1.5M" */
    if (v >= 1e9) text_add(b, "%gG", v / 1e9);
    else if (v >= 1e6) text_add(b, "%gM", v / 1e6);
    else if (v >= 1e3) text_add(b, "%gk", v / 1e3);
    else text_add(b, "%g", v);
}

/* The loss plot: training and validation loss against tokens seen, one circle per
   evaluation (class "train" or "val") joined by a line. Plain SVG 1.1, no scripts. */
static void svg_plot(text_buf *b, const eval_log *log, const char *title) {
    const double W = 760, H = 460, left = 78, right = 24, top = 44, bottom = 62;
    const double pw = W - left - right, ph = H - top - bottom;
    static const char *const series_class[2] = {"train", "val"}, *const colour[2] = {"#1f77b4", "#e4572e"};
    double xmax = 1, ymin = INFINITY, ymax = -INFINITY, step, v;
    int64_t i;
    int s;
    for (i = 0; i < log->n; i++) {
        const double y[2] = {log->r[i].train_loss, log->r[i].val_loss};
        if ((double)log->r[i].tokens > xmax) xmax = (double)log->r[i].tokens;
        for (s = 0; s < 2; s++)
            if (isfinite(y[s])) {
                ymin = y[s] < ymin ? y[s] : ymin;
                ymax = y[s] > ymax ? y[s] : ymax;
            }
    }
    if (!(ymin <= ymax)) ymin = 0, ymax = 1;
    if (ymax - ymin < 1e-3) ymin -= 0.5, ymax += 0.5;
    step = nice_step(ymax - ymin, 5);
    ymin = floor(ymin / step) * step;
    ymax = ceil(ymax / step) * step;
#define PX(x) (left + pw * (x) / xmax)
#define PY(y) (top + ph * (1.0 - ((y) - ymin) / (ymax - ymin)))
    text_add(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
                "font-family=\"sans-serif\" font-size=\"12\">\n"
                "<rect width=\"%g\" height=\"%g\" fill=\"white\"/>\n<text x=\"%g\" y=\"24\" font-size=\"15\">",
             W, H, W, H, W, H, left);
    text_add_xml(b, title);
    text_add(b, "</text>\n<g stroke=\"#ddd\">\n");
    for (v = ymin; v <= ymax + step / 2; v += step)
        text_add(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, PY(v), left + pw, PY(v));
    text_add(b, "</g>\n<g text-anchor=\"end\">\n");
    for (v = ymin; v <= ymax + step / 2; v += step)
        text_add(b, "<text x=\"%.1f\" y=\"%.1f\">%g</text>\n", left - 6, PY(v) + 4, fabs(v) < step / 2 ? 0.0 : v);
    text_add(b, "</g>\n<g text-anchor=\"middle\">\n");
    step = nice_step(xmax, 6);
    for (v = 0; v <= xmax * (1 + 1e-9); v += step) {
        text_add(b, "<text x=\"%.1f\" y=\"%.1f\">", PX(v), top + ph + 18);
        text_add_count(b, v);
        text_add(b, "</text>\n");
    }
    text_add(b, "<text x=\"%.1f\" y=\"%.1f\">tokens seen</text>\n</g>\n", left + pw / 2, H - 16);
    text_add(b, "<text transform=\"translate(20 %.1f) rotate(-90)\" text-anchor=\"middle\">loss (nats per token)"
                "</text>\n<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#444\"/>\n",
             top + ph / 2, left, top, pw, ph);
    for (s = 0; s < 2; s++) {
        int64_t drawn = 0;
        text_add(b, "<polyline class=\"%s-line\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
                 series_class[s], colour[s]);
        for (i = 0; i < log->n; i++) {
            double y = s ? log->r[i].val_loss : log->r[i].train_loss;
            if (isfinite(y)) text_add(b, "%s%.1f,%.1f", drawn++ ? " " : "", PX((double)log->r[i].tokens), PY(y));
        }
        text_add(b, "\"/>\n");
        for (i = 0; i < log->n; i++) {
            double y = s ? log->r[i].val_loss : log->r[i].train_loss;
            if (isfinite(y))
                text_add(b, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", series_class[s],
                         PX((double)log->r[i].tokens), PY(y), colour[s]);
        }
        text_add(b, "<text x=\"%g\" y=\"%g\" fill=\"%s\">%s loss</text>\n", left + pw - 130, top + 18 + 16 * s,
                 colour[s], s ? "validation" : "training");
    }
    text_add(b, "</svg>\n");
#undef PX
#undef PY
}

/* Writes OUT.log.csv and OUT.loss.svg whole, atomically, after every evaluation. */
static int eval_log_write(mmix_ctx *ctx, const eval_log *log, const char *csv_path, const char *svg_path,
                          const char *title) {
    text_buf csv = {NULL, 0, 0, 0}, svg = {NULL, 0, 0, 0};
    int64_t i;
    int ok;
    text_add(&csv, "step,tokens,train_loss,val_loss,lr,seconds\n");
    for (i = 0; i < log->n; i++) {
        const eval_record *e = &log->r[i];
        text_add(&csv, "%lld,%lld,", e->step, e->tokens);
        text_add_number(&csv, e->train_loss);
        text_add(&csv, ",");
        text_add_number(&csv, e->val_loss);
        text_add(&csv, ",%.6g,%.1f\n", e->lr, e->seconds);
    }
    svg_plot(&svg, log, title);
    ok = !csv.failed && !svg.failed;
    if (!ok) mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "writing the evaluation log: out of memory");
    ok = ok && mmix_write_file_atomic(ctx, csv_path, csv.p, csv.n) == MMIX_OK &&
         mmix_write_file_atomic(ctx, svg_path, svg.p, svg.n) == MMIX_OK;
    free(csv.p);
    free(svg.p);
    return ok;
}

/* ---- progress ---- */

static int stdout_is_terminal(void) {
#ifdef _WIN32
    return 0;
#else
    return isatty(fileno(stdout));
#endif
}
static const char *clock_text(double seconds, char *buf) {   /* 75 -> "1:15", 3725 -> "1:02:05" */
    long s = seconds > 0 && seconds < 1e8 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600) sprintf(buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else sprintf(buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

/* Ctrl-C (or a termination request) ends the run after the current step, with a
   checkpoint; a second Ctrl-C, with the handler gone, stops it at once (files are written
   atomically, so that leaves the previous checkpoint whole). */
static volatile sig_atomic_t stop_requested = 0;
static void on_stop_signal(int sig) {
    stop_requested = 1;
    signal(sig, SIG_DFL);
}

/* The token-weighted mean loss over the first max_rows rows (0: all), in batches. */
static int evaluate(mmix_ctx *ctx, const mmix_model *m, const int32_t *rows, int64_t n, int64_t len, int64_t batch,
                    int32_t pad, double *out) {
    double sum = 0.0;
    int64_t counted = 0, r0, idx[4096], k;
    int was_training = mmix_is_training(ctx), had_grad = mmix_grad_enabled(ctx);
    mmix_set_training(ctx, 0);
    mmix_set_grad_enabled(ctx, 0);
    for (r0 = 0; r0 < n; r0 += batch) {
        int64_t nb = n - r0 < batch ? n - r0 : batch, c;
        mmix_tensor *ids, *loss;
        for (k = 0; k < nb; k++) idx[k] = r0 + k;
        ids = batch_tensor(ctx, rows, idx, nb, len);
        c = ids ? counted_targets(ids, pad) : 0;
        loss = c > 0 ? mmix_model_loss(ctx, m, ids, pad, NULL) : NULL;
        if (loss) sum += (double)loss->data[0] * (double)c, counted += c;
        mmix_step_reset(ctx);
        if (!ids || (c > 0 && !loss)) break;
    }
    mmix_set_training(ctx, was_training);
    mmix_set_grad_enabled(ctx, had_grad);
    if (mmix_last_result(ctx) != MMIX_OK) return 0;
    *out = counted ? sum / (double)counted : NAN;
    return 1;
}

/* ---- the run's data ---- */

static int parse_format(const char *s, mmix_text_format *f) {
    if (strcmp(s, "blank-lines") == 0) *f = MMIX_TEXT_BLANK_LINES;
    else if (strcmp(s, "eot") == 0) *f = MMIX_TEXT_EOT_SEPARATED;
    else if (strcmp(s, "jsonl") == 0) *f = MMIX_TEXT_JSONL;
    else return 0;
    return 1;
}
static const char *format_name(mmix_text_format f) {
    return f == MMIX_TEXT_JSONL ? "jsonl" : f == MMIX_TEXT_EOT_SEPARATED ? "eot" : "blank-lines";
}

/* Learns a BPE of `vocab` ids from the documents of a text file, joined by blank lines (the
   documents, not the raw file, so a JSONL file's syntax is not learned). */
static int train_tokenizer_on(mmix_ctx *ctx, const train_source *src, long long vocab, mmix_bpe **bpe) {
    mmix_data_docs docs;
    mmix_bpe_train_options o = mmix_bpe_train_options_default();
    unsigned char *text;
    size_t n = 0;
    int64_t i;
    double t0 = mmix_time_seconds();
    int ok;
    if (mmix_data_read_docs(ctx, src->data, &src->opt, &docs) != MMIX_OK) return 0;
    text = (unsigned char *)malloc((size_t)docs.offsets[docs.n] + 2 * (size_t)docs.n + 1);
    if (!text) {
        mmix_data_docs_free(&docs);
        mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: out of memory for the tokenizer's text", src->data);
        return 0;
    }
    for (i = 0; i < docs.n; i++) {
        size_t len = (size_t)(docs.offsets[i + 1] - docs.offsets[i]);
        memcpy(text + n, docs.text + docs.offsets[i], len);
        n += len;
        text[n++] = '\n';
        text[n++] = '\n';
    }
    o.vocab_size = vocab;
    ok = mmix_bpe_train(ctx, text, n, &o, bpe) == MMIX_OK;
    if (ok)
        printf("%s: tokenizer: learned %lld merges from %lld documents of %s in %.2f s (vocabulary %lld)\n",
               command_name, (long long)mmix_bpe_merge_count(*bpe), (long long)docs.n, src->data,
               mmix_time_seconds() - t0, (long long)mmix_bpe_vocab_size(*bpe));
    free(text);
    mmix_data_docs_free(&docs);
    return ok;
}

/* --data: the tokenizer (given, or learned from the file, or the resumed run's), saved as
   OUT.tokenizer.txt beside the weights; then the dataset, from its cache when that matches. */
static int load_text_rows(mmix_ctx *ctx, train_source *src, const char *save, long long vocab, int64_t n_ctx,
                          mmix_bpe **bpe, train_rows *rows) {
    char beside[PATH_CAP];
    int reused = 0;
    if (!src->tokenizer[0] && !train_tokenizer_on(ctx, src, vocab, bpe)) return 0;
    if (src->tokenizer[0] && mmix_bpe_load(ctx, src->tokenizer, bpe) != MMIX_OK) return 0;
    if (!companion_path(save, ".tokenizer.txt", beside)) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "--save path is too long");
        return 0;
    }
    if (strcmp(beside, src->tokenizer) != 0 && mmix_bpe_save(ctx, *bpe, beside) != MMIX_OK) return 0;
    snprintf(src->tokenizer, PATH_CAP, "%s", beside);
    if (!src->cache[0]) {   /* DIR/corpus.txt.cache beside the weights: shared by the runs of a folder */
        char name[PATH_CAP + 8];
        snprintf(name, sizeof name, "%s.cache", base_name(src->data));
        if (!path_beside(save, name, src->cache)) {
            mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "--save path is too long");
            return 0;
        }
    }
    src->opt.n_ctx = n_ctx;
    src->opt.jsonl_field = src->jsonl_field;
    if (mmix_data_load_or_build(ctx, src->data, *bpe, &src->opt, src->cache, &rows->dataset, &reused) != MMIX_OK)
        return 0;
    if (src->data_hash && src->data_hash != rows->dataset.identity.source_hash) {
        mmix_set_error(ctx, MMIX_ERR_STALE, "%s changed since this run started: resume with the same file",
                       src->data);
        return 0;
    }
    src->data_hash = rows->dataset.identity.source_hash;
    rows->train = rows->dataset.train;
    rows->val = rows->dataset.val;
    rows->n_train = rows->dataset.train_rows;
    rows->n_val = rows->dataset.val_rows;
    rows->len = n_ctx;
    printf("%s: data: %s: %lld documents (%lld for validation), %lld tokens; %lld training and %lld validation "
           "rows of %lld (%s%s); %s %s\n",
           command_name, src->data, (long long)rows->dataset.documents, (long long)rows->dataset.val_documents,
           (long long)rows->dataset.tokens, (long long)rows->n_train, (long long)rows->n_val, (long long)n_ctx,
           src->opt.rows == MMIX_ROWS_PACKED ? "packed" : "padded",
           src->opt.rows == MMIX_ROWS_PADDED ? (src->opt.pad_left ? " on the left" : " on the right") : "",
           reused ? "reused the cache" : "tokenized and wrote the cache", src->cache);
    if (rows->n_train == 0) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "%s gives no training row of %lld tokens: use a smaller --ctx "
                       "or more text", src->data, (long long)n_ctx);
        return 0;
    }
    return 1;
}

/* Writes the weights, then the state (optimizer, schedule, data position, where the data
   comes from, and the hash of the weights it goes with). */
static int save_checkpoint(mmix_ctx *ctx, const mmix_model *m, const mmix_adamw *opt, const train_settings *t,
                           const train_source *src, long long data_position, double interval_loss,
                           long long interval_n, double elapsed, const char *save) {
    char state_path[PATH_CAP];
    uint64_t weights_hash = 0;
    meta_list *meta = (meta_list *)calloc(1, sizeof *meta);
    int ok;
    if (!meta) {
        mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "saving: out of memory");
        return 0;
    }
    companion_path(save, ".state.safetensors", state_path);
    ok = mmix_model_save(ctx, m, save, (int32_t)t->pad) == MMIX_OK;
    if (ok && !file_fnv1a(save, &weights_hash)) {
        mmix_set_error(ctx, MMIX_ERR_IO, "cannot read back '%s'", save);
        ok = 0;
    }
    meta_add(meta, "train_steps", "%lld", t->steps);
    meta_add(meta, "train_batch", "%lld", t->batch);
    meta_add(meta, "train_warmup", "%lld", t->warmup);
    meta_add(meta, "train_seed", "%lld", t->seed);
    meta_add(meta, "train_pad_id", "%lld", t->pad);
    meta_add(meta, "train_lr", "%.9g", t->lr);
    meta_add(meta, "train_weight_decay", "%.9g", t->weight_decay);
    meta_add(meta, "train_clip", "%.9g", t->clip);
    meta_add(meta, "train_shuffle", "%d", t->shuffle);
    meta_add(meta, "train_schedule", "%s", t->schedule ? "constant" : "linear");
    meta_add(meta, "train_eval_every", "%lld", t->eval_every);
    meta_add(meta, "train_save_every", "%lld", t->save_every);
    meta_add(meta, "train_eval_rows", "%lld", t->eval_rows);
    meta_add(meta, "train_log_every", "%lld", t->log_every);
    meta_add(meta, "train_data_position", "%lld", data_position);
    meta_add(meta, "train_interval_loss", "%.17g", interval_loss);   /* the next evaluation's training loss */
    meta_add(meta, "train_interval_steps", "%lld", interval_n);
    meta_add(meta, "train_elapsed_seconds", "%.3f", elapsed);
    meta_add(meta, "train_weights", "%s", base_name(save));
    meta_add(meta, "train_weights_fnv1a", "%016llx", (unsigned long long)weights_hash);
    if (src->tokens[0]) meta_add(meta, "train_tokens", "%s", src->tokens);
    if (src->val_tokens[0]) meta_add(meta, "train_val_tokens", "%s", src->val_tokens);
    if (src->data[0]) {
        meta_add(meta, "train_data", "%s", src->data);
        meta_add(meta, "train_data_fnv1a", "%016llx", (unsigned long long)src->data_hash);
        meta_add(meta, "train_tokenizer", "%s", base_name(src->tokenizer));
        meta_add(meta, "train_cache", "%s", src->cache);
        meta_add(meta, "train_format", "%s", format_name(src->opt.format));
        meta_add(meta, "train_jsonl_field", "%s", src->jsonl_field);
        meta_add(meta, "train_rows", "%s", src->opt.rows == MMIX_ROWS_PADDED ? "padded" : "packed");
        meta_add(meta, "train_pad_left", "%d", src->opt.pad_left);
        meta_add(meta, "train_val_fraction", "%.17g", src->opt.val_fraction);
        meta_add(meta, "train_split_seed", "%llu", (unsigned long long)src->opt.split_seed);
    }
    ok = ok && mmix_adamw_save(ctx, opt, state_path, meta->keys, meta->vals, meta->n) == MMIX_OK;
    free(meta);
    return ok;
}

/* --resume STATE: the settings, data source and weights name of the run it continues. */
static int read_resume_state(mmix_ctx *ctx, const char *resume, train_settings *t, train_source *src,
                             long long *data_position, double *interval_loss, long long *interval_n,
                             double *elapsed, char *weights, uint64_t *weights_hash) {
    mmix_safetensors st;
    char text[PATH_CAP];
    const char *w;
    int ok;
    if (mmix_safetensors_open(ctx, resume, &st) != MMIX_OK) return 0;
    ok = meta_ll(ctx, &st, "train_steps", &t->steps) && meta_ll(ctx, &st, "train_batch", &t->batch) &&
         meta_ll(ctx, &st, "train_warmup", &t->warmup) && meta_ll(ctx, &st, "train_seed", &t->seed) &&
         meta_ll(ctx, &st, "train_pad_id", &t->pad) && meta_number(ctx, &st, "train_lr", &t->lr) &&
         meta_number(ctx, &st, "train_weight_decay", &t->weight_decay) &&
         meta_number(ctx, &st, "train_clip", &t->clip) &&
         meta_ll(ctx, &st, "train_data_position", data_position);
    w = mmix_safetensors_meta(&st, "train_weights");
    if (ok && (!w || t->batch < 1 || t->batch > 4096 || t->steps < 1 || !path_beside(resume, w, weights))) {
        mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: bad training state (weights name, batch or steps)", resume);
        ok = 0;
    }
    if (ok) {
        const char *shuffle = mmix_safetensors_meta(&st, "train_shuffle");
        const char *sched = mmix_safetensors_meta(&st, "train_schedule");
        t->shuffle = !shuffle || strcmp(shuffle, "0") != 0;
        t->schedule = sched && strcmp(sched, "constant") == 0;
        if (mmix_safetensors_meta(&st, "train_eval_every"))
            ok = meta_ll(ctx, &st, "train_eval_every", &t->eval_every) &&
                 meta_ll(ctx, &st, "train_save_every", &t->save_every) &&
                 meta_ll(ctx, &st, "train_eval_rows", &t->eval_rows) &&
                 meta_ll(ctx, &st, "train_log_every", &t->log_every) &&
                 meta_number(ctx, &st, "train_interval_loss", interval_loss) &&
                 meta_ll(ctx, &st, "train_interval_steps", interval_n) &&
                 meta_number(ctx, &st, "train_elapsed_seconds", elapsed);
        meta_text(&st, "train_weights_fnv1a", text, sizeof text);
        *weights_hash = text[0] ? strtoull(text, NULL, 16) : 0;
        meta_text(&st, "train_tokens", src->tokens, PATH_CAP);
        meta_text(&st, "train_val_tokens", src->val_tokens, PATH_CAP);
        meta_text(&st, "train_data", src->data, PATH_CAP);
    }
    if (ok && src->data[0]) {
        long long pad_left = 0;
        double fraction = 0.0;
        meta_text(&st, "train_data_fnv1a", text, sizeof text);
        src->data_hash = strtoull(text, NULL, 16);
        meta_text(&st, "train_tokenizer", text, sizeof text);
        ok = path_beside(resume, text, src->tokenizer);
        meta_text(&st, "train_cache", src->cache, PATH_CAP);
        meta_text(&st, "train_format", text, sizeof text);
        ok = ok && parse_format(text, &src->opt.format);
        meta_text(&st, "train_jsonl_field", src->jsonl_field, sizeof src->jsonl_field);
        meta_text(&st, "train_rows", text, sizeof text);
        src->opt.rows = strcmp(text, "padded") == 0 ? MMIX_ROWS_PADDED : MMIX_ROWS_PACKED;
        ok = ok && meta_ll(ctx, &st, "train_pad_left", &pad_left) &&
             meta_number(ctx, &st, "train_val_fraction", &fraction);
        meta_text(&st, "train_split_seed", text, sizeof text);
        src->opt.pad_left = (int)pad_left;
        src->opt.val_fraction = fraction;
        src->opt.split_seed = strtoull(text, NULL, 10);
        if (!ok && mmix_last_result(ctx) == MMIX_OK)
            mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: bad data settings in the training state", resume);
    }
    mmix_safetensors_close(&st);
    return ok;
}

static void train_help(void) {
    size_t i;
    printf("usage: mm train (--preset NAME | --arch mixer|llama [sizes] | --init W | --resume STATE)\n"
           "                (--data TEXT [data options] | --tokens IDS.txt [--val-tokens IDS.txt])\n"
           "                --save OUT.safetensors [--steps T] [--batch B] [training options]\n"
           "A new model: --arch with --dim D --depth N --ctx L [--kernel K] [--heads H] [--vocab V] [--seed S],\n"
           "  or --preset NAME, whose settings any of these flags (and --batch, --steps, --lr, --warmup,\n"
           "  --eval-every) override. --vocab: the model's vocabulary with --tokens, the tokenizer's\n"
           "  size to learn with --data.\n"
           "Text (--data FILE): documents separated by blank lines (--format blank-lines), by\n"
           "  <|endoftext|> (--format eot) or JSONL (--format jsonl [--jsonl-field text]). Without\n"
           "  --tokenizer TOK a BPE of --vocab ids is learned from the file's documents. The tokenizer\n"
           "  is saved as OUT.tokenizer.txt; the tokenized rows are cached in DIR/FILE.cache beside\n"
           "  OUT (--cache PATH), reused while the file, tokenizer and settings match. --rows packed\n"
           "  (default: documents joined by end-of-text and cut into full rows) or padded (one\n"
           "  document per row, --pad-left to pad on the left); --val-fraction F (0.01) of the\n"
           "  documents, picked by --split-seed S (0), are held out for validation.\n"
           "Training (the paper's recipe, SPEC 11): AdamW, lr 5e-4 for mixers, 2e-4 for transformers;\n"
           "  --warmup min(500, T/10) then --schedule linear (or constant) decay; --weight-decay 0;\n"
           "  --clip 1.0 (0 = off); rows shuffled per epoch (--no-shuffle: in order).\n"
           "  --reference-masked-grads: the paper code's phantom gradients of masked weights.\n"
           "Progress, evaluation, checkpoints: a progress line (updated in place on a terminal, else\n"
           "  every --log-every steps); the validation loss every --eval-every steps (T/10) and at\n"
           "  the end, over the first --eval-rows rows (0 = all), logged to OUT.log.csv and plotted\n"
           "  against tokens seen in OUT.loss.svg; weights and OUT.state.safetensors every\n"
           "  --save-every steps (= --eval-every) and at the end. --stop-at S ends this session after\n"
           "  step S of T (0: evaluate and save the new model without training). Ctrl-C saves a checkpoint after the current step and exits with status\n"
           "  130; --resume OUT.state.safetensors continues the same run bit for bit.\n"
           "Presets:\n");
    for (i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        const train_preset *p = &presets[i];
        printf("  %-18s %s\n  %-18s %s V %lld D %lld n %lld L %lld%s, batch %lld, %lld steps, lr %g, %s rows\n",
               p->name, p->about, "", p->arch == MMIX_ARCH_MIXER ? "mixer" : "llama", p->vocab, p->dim, p->depth,
               p->ctx, p->arch == MMIX_ARCH_LLAMA ? ", 4 heads" : "", p->batch, p->steps, p->lr,
               p->padded ? "padded" : "packed");
    }
}

/* A new model from --arch or --preset and the size flags; vocab from the tokenizer when
   there is one. */
static int new_model(mmix_ctx *ctx, int argc, char **argv, const train_preset *p, const char *arch, long long vocab,
                     long long seed, mmix_model *m) {
    mmix_model_config c;
    mmix_rng rng;
    long long v;
    if (arch && strcmp(arch, "mixer") != 0 && strcmp(arch, "llama") != 0) {
        fprintf(stderr, "%s: --arch is mixer or llama, not '%s'\n", command_name, arch);
        return 2;
    }
    c = mmix_model_config_default(arch ? (strcmp(arch, "mixer") == 0 ? MMIX_ARCH_MIXER : MMIX_ARCH_LLAMA) : p->arch);
    if (!p && (!option(argc, argv, "--dim") || !option(argc, argv, "--depth") || !option(argc, argv, "--ctx"))) {
        fprintf(stderr, "%s: a new model needs --dim, --depth and --ctx (or a --preset)\n", command_name);
        return 2;
    }
    c.vocab = vocab;
    if (!int_option(argc, argv, "--dim", p ? p->dim : 0, 1, &v)) return 2;
    c.dim = v;
    c.ffn_dim = 4 * v;
    if (!int_option(argc, argv, "--depth", p ? p->depth : 0, 1, &v)) return 2;
    c.depth = v;
    if (!int_option(argc, argv, "--ctx", p ? p->ctx : 0, 2, &v)) return 2;
    c.n_ctx = v;
    if (!int_option(argc, argv, "--kernel", p ? p->kernel : 1, 1, &v)) return 2;
    c.kernel = v;
    if (!int_option(argc, argv, "--heads", p ? p->heads : 4, 1, &v)) return 2;
    c.heads = v;
    if (mmix_model_create(ctx, m, c) != MMIX_OK) return fail(ctx, "train");
    mmix_rng_seed(&rng, (uint64_t)seed);
    mmix_model_init(m, &rng);
    return 0;
}

static int cmd_train(mmix_ctx *ctx, int argc, char **argv) {
    static const char *const with_value[] = {
        "--init", "--resume", "--arch", "--preset", "--vocab", "--dim", "--depth", "--ctx", "--kernel", "--heads",
        "--seed", "--tokens", "--val-tokens", "--data", "--tokenizer", "--format", "--jsonl-field", "--rows",
        "--val-fraction", "--split-seed", "--cache", "--steps", "--batch", "--lr", "--warmup", "--schedule",
        "--weight-decay", "--clip", "--pad-id", "--save", "--stop-at", "--norm-eps", "--rope-theta",
        "--eval-every", "--save-every", "--eval-rows", "--log-every", NULL};
    static const char *const flags[] = {"--no-shuffle", "--reference-masked-grads", "--pad-left", NULL};
    const char *init = option(argc, argv, "--init"), *resume = option(argc, argv, "--resume");
    const char *arch = option(argc, argv, "--arch"), *preset_name = option(argc, argv, "--preset");
    const char *save = option(argc, argv, "--save"), *schedule = option(argc, argv, "--schedule");
    const train_preset *preset = NULL;
    char resume_weights[PATH_CAP] = "", csv_path[PATH_CAP], svg_path[PATH_CAP], clock_a[32], clock_b[32];
    char title[PATH_CAP + 128];   /* the plot's: what was trained, how */
    train_settings t;
    train_source *src = (train_source *)calloc(1, sizeof *src);
    train_rows rows;
    eval_log log = {NULL, 0, 0};
    mmix_model m;
    mmix_adamw opt;
    mmix_adamw_config acfg = mmix_adamw_config_default();
    mmix_bpe *bpe = NULL;
    int32_t file_pad = -1;
    int64_t *order = NULL, idx[4096], order_epoch = -1, r;
    long long data_position = 0, vocab = 0, first_step, interval_n = 0;
    uint64_t weights_hash = 0;
    double start_time = mmix_time_seconds(), elapsed_before = 0.0; /* seconds of the run before this process */
    double train_seconds = 0.0, interval_loss = 0.0, last_draw = 0.0;
    int rc = 1, tty = stdout_is_terminal(), opened_line = 0, model_made = 0;   /* rc: 1 failed, 2 usage */
    int sources = (init != NULL) + (resume != NULL) + (arch != NULL || preset_name != NULL);
    memset(&t, 0, sizeof t);
    memset(&rows, 0, sizeof rows);
    if (!src) return fail(ctx, "train");
    if (flag(argc, argv, "--help")) {
        train_help();
        free(src);
        return 0;
    }
    if (!check_args(argc, argv, with_value, flags)) goto usage;
    if (preset_name && !(preset = find_preset(preset_name))) {
        fprintf(stderr, "%s: unknown --preset '%s' (see 'mm train --help')\n", command_name, preset_name);
        goto usage;
    }
    if (sources != 1 || !save || (!resume && !option(argc, argv, "--tokens") == !option(argc, argv, "--data"))) {
        fprintf(stderr, "%s: give one of --preset/--arch, --init, --resume; one of --data, --tokens; and --save "
                "(see 'mm train --help')\n", command_name);
        goto usage;
    }
    if (strlen(save) >= PATH_CAP - 32) {
        fprintf(stderr, "%s: --save path is too long\n", command_name);
        goto usage;
    }
    make_parent_dirs(save);
    if (!int_option(argc, argv, "--seed", 0, 0, &t.seed) || !int_option(argc, argv, "--pad-id", -1, 0, &t.pad) ||
        !float_option(argc, argv, "--weight-decay", 0.0, 0.0, &t.weight_decay) ||
        !float_option(argc, argv, "--clip", 1.0, 0.0, &t.clip) || !int_option(argc, argv, "--stop-at", -1, 0, &t.stop_at))
        goto usage;
    if (schedule && strcmp(schedule, "linear") != 0 && strcmp(schedule, "constant") != 0) {
        fprintf(stderr, "%s: --schedule is linear or constant, not '%s'\n", command_name, schedule);
        goto usage;
    }
    t.schedule = schedule && strcmp(schedule, "constant") == 0;
    t.shuffle = !flag(argc, argv, "--no-shuffle");
    if (flag(argc, argv, "--reference-masked-grads")) mmix_set_masked_grad_mode(ctx, MMIX_MASKED_GRADS_REFERENCE);

    /* where the rows come from */
    {
        const char *format = option(argc, argv, "--format"), *row_mode = option(argc, argv, "--rows");
        const char *field = option(argc, argv, "--jsonl-field");
        long long split_seed;
        src->opt = mmix_data_options_default();
        snprintf(src->tokens, PATH_CAP, "%s", option(argc, argv, "--tokens") ? option(argc, argv, "--tokens") : "");
        snprintf(src->val_tokens, PATH_CAP, "%s", option(argc, argv, "--val-tokens") ? option(argc, argv, "--val-tokens") : "");
        snprintf(src->data, PATH_CAP, "%s", option(argc, argv, "--data") ? option(argc, argv, "--data") : "");
        snprintf(src->tokenizer, PATH_CAP, "%s", option(argc, argv, "--tokenizer") ? option(argc, argv, "--tokenizer") : "");
        snprintf(src->cache, PATH_CAP, "%s", option(argc, argv, "--cache") ? option(argc, argv, "--cache") : "");
        snprintf(src->jsonl_field, sizeof src->jsonl_field, "%s", field ? field : "text");
        if (format && !parse_format(format, &src->opt.format)) {
            fprintf(stderr, "%s: --format is blank-lines, eot or jsonl, not '%s'\n", command_name, format);
            goto usage;
        }
        if (row_mode && strcmp(row_mode, "packed") != 0 && strcmp(row_mode, "padded") != 0) {
            fprintf(stderr, "%s: --rows is packed or padded, not '%s'\n", command_name, row_mode);
            goto usage;
        }
        src->opt.rows = (row_mode ? strcmp(row_mode, "padded") == 0 : preset && preset->padded) ? MMIX_ROWS_PADDED
                                                                                              : MMIX_ROWS_PACKED;
        src->opt.pad_left = flag(argc, argv, "--pad-left");
        if (!float_option(argc, argv, "--val-fraction", 0.01, 0.0, &src->opt.val_fraction) ||
            !int_option(argc, argv, "--split-seed", 0, 0, &split_seed))
            goto usage;
        if (src->opt.val_fraction >= 1.0) {
            fprintf(stderr, "%s: --val-fraction must be below 1\n", command_name);
            goto usage;
        }
        src->opt.split_seed = (uint64_t)split_seed;
        if (!src->data[0] && (src->tokenizer[0] || format || row_mode || field || src->cache[0])) {
            fprintf(stderr, "%s: --tokenizer, --format, --rows, --jsonl-field and --cache go with --data\n",
                    command_name);
            goto usage;
        }
    }

    /* the settings: a resumed run's own, or the flags over the preset over the defaults */
    if (resume) {
        static const char *const fixed[] = {"--steps", "--batch", "--lr", "--warmup", "--schedule", "--seed",
                                            "--eval-every", "--save-every", "--eval-rows", "--log-every",
                                            "--weight-decay", "--clip", "--data", "--tokenizer", "--format",
                                            "--rows", "--val-fraction", "--split-seed", "--preset", NULL};
        int k;
        for (k = 0; fixed[k]; k++)
            if (option(argc, argv, fixed[k])) {
                fprintf(stderr, "%s: a resumed run keeps its own settings and data: drop %s\n", command_name,
                        fixed[k]);
                goto usage;
            }
        if (!read_resume_state(ctx, resume, &t, src, &data_position, &interval_loss, &interval_n, &elapsed_before,
                               resume_weights,
                               &weights_hash)) {
            goto failed;
        }
        if (option(argc, argv, "--tokens")) snprintf(src->tokens, PATH_CAP, "%s", option(argc, argv, "--tokens"));
        if (!src->tokens[0] && !src->data[0]) {
            fprintf(stderr, "%s: %s does not say what it trained on: give --tokens\n", command_name, resume);
            goto usage;
        }
        if (weights_hash) {
            uint64_t h = 0;
            if (!file_fnv1a(resume_weights, &h) || h != weights_hash) {
                fprintf(stderr, "%s: %s is not the weights %s was saved with (a run stopped between the two "
                        "writes?)\n", command_name, resume_weights, resume);
                goto done;
            }
        }
        if (mmix_model_load(ctx, &m, resume_weights, NULL, NULL) != MMIX_OK) {
            goto failed;
        }
        model_made = 1;
    } else {
        if (!int_option(argc, argv, "--steps", preset ? preset->steps : 0, 1, &t.steps) ||
            !int_option(argc, argv, "--batch", preset ? preset->batch : 0, 1, &t.batch))
            goto usage;
        if (!t.steps || !t.batch) {
            fprintf(stderr, "%s: --steps and --batch are required\n", command_name);
            goto usage;
        }
        if (!int_option(argc, argv, "--warmup", preset ? preset->warmup : (t.steps / 10 < 500 ? t.steps / 10 : 500), 0,
                        &t.warmup) ||
            !int_option(argc, argv, "--eval-every", preset ? preset->eval_every : (t.steps / 10 > 1 ? t.steps / 10 : 1),
                        1, &t.eval_every) ||
            !int_option(argc, argv, "--save-every", t.eval_every, 1, &t.save_every) ||
            !int_option(argc, argv, "--eval-rows", 0, 0, &t.eval_rows) ||
            !int_option(argc, argv, "--log-every", t.steps / 100 > 1 ? t.steps / 100 : 1, 1, &t.log_every))
            goto usage;
    }
    if (t.batch > 4096) {
        fprintf(stderr, "%s: --batch is at most 4096\n", command_name);
        goto usage;
    }
    if (!int_option(argc, argv, "--vocab", preset ? preset->vocab : 0, 1, &vocab)) goto usage;

    /* the model and the rows; a new model's vocabulary is its tokenizer's */
    if (init) {
        mmix_load_options lo;
        if (!load_options(argc, argv, &lo)) {
            goto usage;
        }
        if (mmix_model_load(ctx, &m, init, &lo, &file_pad) != MMIX_OK) {
            goto failed;
        }
        model_made = 1;
        if (src->data[0] && !src->tokenizer[0]) {   /* the tokenizer the weights were trained with */
            if (!companion_path(init, ".tokenizer.txt", src->tokenizer) || !file_exists(src->tokenizer)) {
                fprintf(stderr, "%s: --init with --data needs the model's tokenizer: give --tokenizer\n", command_name);
                goto done;
            }
        }
    }
    if (src->data[0]) {
        int64_t n_ctx = model_made ? m.config.n_ctx : 0;
        long long v = 0;
        if (!model_made && !int_option(argc, argv, "--ctx", preset ? preset->ctx : 0, 2, &v)) {
            goto usage;
        }
        if (!model_made) n_ctx = v;
        if (!model_made && !n_ctx) {
            fprintf(stderr, "%s: a new model needs --ctx (or a --preset)\n", command_name);
            goto usage;
        }
        if (!src->tokenizer[0] && !vocab) {
            fprintf(stderr, "%s: give --tokenizer TOK, or --vocab V to learn one from %s\n", command_name, src->data);
            goto usage;
        }
        if (!load_text_rows(ctx, src, save, vocab, n_ctx, &bpe, &rows)) {
            goto failed;
        }
        if (!model_made && option(argc, argv, "--vocab") && option(argc, argv, "--tokenizer") &&
            vocab != mmix_bpe_vocab_size(bpe)) {
            fprintf(stderr, "%s: --vocab %lld differs from the tokenizer's %lld\n", command_name, vocab,
                    (long long)mmix_bpe_vocab_size(bpe));
            goto usage;
        }
        vocab = mmix_bpe_vocab_size(bpe);
        if (model_made && m.config.vocab < vocab) {
            fprintf(stderr, "%s: the tokenizer has %lld ids, the model only %lld\n", command_name, vocab,
                    (long long)m.config.vocab);
            goto done;
        }
        if (!resume) t.pad = src->opt.rows == MMIX_ROWS_PADDED ? mmix_bpe_pad_id(bpe) : -1;
    }
    if (!model_made) {
        if (!vocab) {
            fprintf(stderr, "%s: a new model needs --vocab (or a --preset)\n", command_name);
            goto usage;
        }
        int made = new_model(ctx, argc, argv, preset, arch, vocab, t.seed, &m);   /* 2: usage, 1: failed */
        if (made == 2) goto usage;
        if (made) goto done;
        model_made = 1;
    }
    if (src->tokens[0]) {
        if (mmix_read_token_lines(ctx, src->tokens, m.config.vocab,
                                  m.config.arch == MMIX_ARCH_MIXER ? m.config.n_ctx : 0, &rows.own_train,
                                  &rows.n_train, &rows.len) != MMIX_OK ||
            (src->val_tokens[0] && mmix_read_token_lines(ctx, src->val_tokens, m.config.vocab, rows.len,
                                                         &rows.own_val, &rows.n_val, &rows.len) != MMIX_OK)) {
            goto failed;
        }
        rows.train = rows.own_train;
        rows.val = rows.own_val;
        if (init) window_from_lines(ctx, &m, init, rows.len);
    }
    if (!resume) {
        if (!float_option(argc, argv, "--lr", preset ? preset->lr : m.config.arch == MMIX_ARCH_MIXER ? 5e-4 : 2e-4,
                          0.0, &t.lr)) {
            goto usage;
        }
        if (src->tokens[0] && !option(argc, argv, "--pad-id")) t.pad = file_pad;
    }
    if (t.stop_at < 0 || t.stop_at > t.steps) t.stop_at = t.steps;
    if (t.eval_every < 1) t.eval_every = t.steps;   /* a state file from before evaluations */
    if (t.save_every < 1) t.save_every = t.eval_every;
    if (t.log_every < 1) t.log_every = 1;
    acfg.lr = (float)t.lr;
    acfg.weight_decay = (float)t.weight_decay;
    order = (int64_t *)malloc((size_t)rows.n_train * sizeof(int64_t));
    if (!order || mmix_adamw_init(ctx, &opt, &m.params, acfg) != MMIX_OK) {
        goto failed;
    }
    if (resume && mmix_adamw_load(ctx, &opt, resume) != MMIX_OK) {
        goto failed;
    }
    companion_path(save, ".log.csv", csv_path);   /* fits: --save was checked to leave room for a suffix */
    companion_path(save, ".loss.svg", svg_path);
    if (resume) {
        char old_csv[PATH_CAP];
        companion_path(resume_weights, ".log.csv", old_csv);
        eval_log_read(old_csv, opt.step, &log);
    }
    if (t.eval_rows > 0 && rows.n_val > t.eval_rows) rows.n_val = t.eval_rows;
    printf("%s: %s, %lld parameters; %lld training rows of %lld tokens, %lld validation rows; steps %lld..%lld of "
           "%lld, batch %lld, lr %g, warmup %lld, %s schedule, weight decay %g, clip %g, pad id %lld, seed %lld, %s\n",
           command_name, arch_name(m.config.arch), (long long)mmix_model_param_count(&m), (long long)rows.n_train,
           (long long)rows.len, (long long)rows.n_val, (long long)opt.step + 1, t.stop_at, t.steps, t.batch, t.lr,
           t.warmup, t.schedule ? "constant" : "linear", t.weight_decay, t.clip, t.pad, t.seed,
           t.shuffle ? "shuffled" : "in file order");
    fflush(stdout);

    snprintf(title, sizeof title, "%s: %s, %lld parameters, batch %lld x %lld tokens, lr %g", base_name(save),
             arch_name(m.config.arch), (long long)mmix_model_param_count(&m), t.batch, (long long)rows.len, t.lr);

    /* the run */
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    start_time = mmix_time_seconds();
    first_step = opt.step;
    if (!resume && rows.n_val > 0) {   /* where the run starts: the "before" of the plot */
        eval_record e = {0, 0, NAN, NAN, 0.0, 0.0};
        if (!evaluate(ctx, &m, rows.val, rows.n_val, rows.len, t.batch, (int32_t)t.pad, &e.val_loss) ||
            !eval_log_push(&log, e) || !eval_log_write(ctx, &log, csv_path, svg_path, title)) {
            goto failed;
        }
        printf("eval step 0 tokens 0 val-loss %.6f\n", e.val_loss);
        fflush(stdout);
    }
    while (opt.step < t.stop_at && !stop_requested) {
        mmix_tensor *ids, *loss;
        double norm = 0.0, t0 = mmix_time_seconds(), now, step_loss;
        long long step;
        float lr = mmix_schedule_lr(t.schedule ? MMIX_SCHEDULE_CONSTANT : MMIX_SCHEDULE_LINEAR, (float)t.lr, opt.step,
                                    t.warmup, t.steps);
        for (r = 0; r < t.batch; r++, data_position++) { /* the data position counts rows served */
            int64_t epoch = data_position / rows.n_train;
            if (epoch != order_epoch) {
                epoch_order(order, rows.n_train, (uint64_t)t.seed, epoch, t.shuffle);
                order_epoch = epoch;
            }
            idx[r] = order[data_position % rows.n_train];
        }
        ids = batch_tensor(ctx, rows.train, idx, t.batch, rows.len);
        mmix_zero_grad(ctx, &m.params);
        loss = mmix_model_loss(ctx, &m, ids, (int32_t)t.pad, NULL);
        if (!loss || mmix_backward(ctx, loss) != MMIX_OK || mmix_clip_grad_norm(ctx, &m.params, (float)t.clip, &norm) != MMIX_OK ||
            mmix_adamw_step(ctx, &opt, lr) != MMIX_OK) {
            goto failed;
        }
        step = opt.step;
        step_loss = (double)loss->data[0];
        interval_loss += step_loss;
        interval_n++;
        mmix_step_reset(ctx);
        now = mmix_time_seconds();
        train_seconds += now - t0;

        /* progress: tokens/s and time left from this run's training steps alone */
        if ((tty && (now - last_draw > 0.2 || step == t.stop_at)) || (!tty && (step % t.log_every == 0 ||
                                                                              step == t.stop_at))) {
            double per_step = train_seconds / (double)(step - first_step);
            printf("%sstep %lld/%lld loss %.6f lr %.3g grad-norm %.4g %.0f tok/s elapsed %s left %s%s",
                   tty ? "\r" : "", step, t.steps, step_loss, (double)lr, norm,
                   (double)(t.batch * rows.len) / per_step, clock_text(elapsed_before + now - start_time, clock_a),
                   clock_text(per_step * (double)(t.stop_at - step), clock_b), tty ? "\x1b[K" : "\n");
            fflush(stdout);
            opened_line = tty;
            last_draw = now;
        }
        if (step % t.eval_every == 0 || step == t.steps) {
            eval_record e;
            e.step = step;
            e.tokens = step * t.batch * rows.len;
            e.train_loss = interval_loss / (double)interval_n;
            e.val_loss = NAN;
            e.lr = (double)lr;
            e.seconds = elapsed_before + now - start_time;
            if ((rows.n_val > 0 &&
                 !evaluate(ctx, &m, rows.val, rows.n_val, rows.len, t.batch, (int32_t)t.pad, &e.val_loss)) ||
                !eval_log_push(&log, e) || !eval_log_write(ctx, &log, csv_path, svg_path, title)) {
                goto failed;
            }
            printf("%seval step %lld tokens %lld train-loss %.6f", opened_line ? "\n" : "", step, e.tokens,
                   e.train_loss);
            if (rows.n_val > 0) printf(" val-loss %.6f", e.val_loss);
            printf("\n");
            fflush(stdout);
            opened_line = 0;
            interval_loss = 0.0;
            interval_n = 0;
        }
        if (step % t.save_every == 0 && step != t.stop_at) {
            if (!save_checkpoint(ctx, &m, &opt, &t, src, data_position, interval_loss, interval_n,
                                 elapsed_before + mmix_time_seconds() - start_time, save)) {
                goto failed;
            }
        }
    }
    if (opened_line) printf("\n");
    if (!save_checkpoint(ctx, &m, &opt, &t, src, data_position, interval_loss, interval_n,
                                 elapsed_before + mmix_time_seconds() - start_time, save)) {
        goto failed;
    }
    {
        char state_path[PATH_CAP];
        companion_path(save, ".state.safetensors", state_path);
        if (stop_requested) {
            printf("interrupted after step %lld of %lld: saved %s and %s; continue with mm train --resume %s\n",
                   (long long)opt.step, t.steps, save, state_path, state_path);
            rc = 130;
        } else {
            printf("saved %s and %s\n", save, state_path);
            rc = 0;
        }
    }
    goto done;
usage:
    rc = 2;
    goto done;
failed:
    fail(ctx, "train");
done:
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    free(order);
    free(log.r);
    train_rows_free(&rows);
    mmix_bpe_free(bpe);
    free(src);
    return rc;
}

/* mm generate: text after a prompt (SPEC 9), greedy unless --temperature says otherwise. */
static int cmd_generate(mmix_ctx *ctx, int argc, char **argv) {
    static const char *const with_value[] = {"--model", "--tokenizer", "--prompt", "--max-new", "--temperature",
                                             "--top-k", "--seed", "--method", "--heads", "--norm-eps",
                                             "--rope-theta", NULL};
    static const char *const flags[] = {NULL};
    const char *model_path = option(argc, argv, "--model"), *tok_path = option(argc, argv, "--tokenizer");
    const char *prompt = option(argc, argv, "--prompt"), *method_name = option(argc, argv, "--method");
    mmix_generate_method method = MMIX_GENERATE_CACHED;
    mmix_sampler sampler = mmix_sampler_default();
    mmix_load_options lo;
    mmix_model m;
    mmix_bpe *bpe = NULL;
    mmix_bpe_ids ids = {NULL, 0, 0};
    mmix_bpe_bytes text = {NULL, 0, 0};
    long long max_new, top_k, seed;
    double temperature, t0, seconds;
    int64_t n_new = 0, i, n_prompt;
    int32_t *out = NULL;
    char tok_beside[PATH_CAP];
    int rc = 1;
    if (flag(argc, argv, "--help")) {
        printf("usage: mm generate --model W.safetensors --prompt TEXT [--tokenizer TOK] [--max-new N]\n"
               "                   [--temperature T] [--top-k K] [--seed S] [--method cached|index-walking]\n"
               "                   [--heads H] [--norm-eps E] [--rope-theta T]\n"
               "Prints the prompt and its continuation. Greedy by default (temperature 0); --temperature T\n"
               "samples from softmax(logits / T), among the K largest with --top-k K (0: all); --seed S\n"
               "repeats a sample. Stops at end-of-text, after N new tokens (64), or when the model's window\n"
               "is full. The tokenizer defaults to W.tokenizer.txt (what mm train writes), else tokenizer.txt\n"
               "in the folder of the weights. --method index-walking\n"
               "reruns the whole window per token as the paper does (SPEC 9.1); cached (the default) gives\n"
               "the same tokens faster. Speed goes to stderr.\n");
        return 0;
    }
    if (!check_args(argc, argv, with_value, flags) || !load_options(argc, argv, &lo) ||
        !int_option(argc, argv, "--max-new", 64, 1, &max_new) || !int_option(argc, argv, "--top-k", 0, 0, &top_k) ||
        !int_option(argc, argv, "--seed", 0, 0, &seed) ||
        !float_option(argc, argv, "--temperature", 0.0, 0.0, &temperature))
        return 2;
    if (method_name && strcmp(method_name, "cached") != 0) {
        if (strcmp(method_name, "index-walking") != 0) {
            fprintf(stderr, "%s: --method wants cached or index-walking, not '%s'\n", command_name, method_name);
            return 2;
        }
        method = MMIX_GENERATE_INDEX_WALKING;
    }
    if (!model_path || !prompt) {
        fprintf(stderr, "%s: --model and --prompt are required (see 'mm generate --help')\n", command_name);
        return 2;
    }
    if (!tok_path) { /* OUT.tokenizer.txt, where mm train puts it, else tokenizer.txt in its folder */
        if (!companion_path(model_path, ".tokenizer.txt", tok_beside) || !file_exists(tok_beside)) {
            char other[PATH_CAP];
            if (!path_beside(model_path, "tokenizer.txt", other) || !file_exists(other)) {
                fprintf(stderr, "%s: no tokenizer beside the weights (neither %s nor %s); give --tokenizer TOK\n",
                        command_name, tok_beside, other);
                return 1;
            }
            memcpy(tok_beside, other, sizeof other);
        }
        tok_path = tok_beside;
    }
    sampler.temperature = (float)temperature;
    sampler.top_k = top_k;
    sampler.seed = (uint64_t)seed;
    if (mmix_bpe_load(ctx, tok_path, &bpe) != MMIX_OK || mmix_model_load(ctx, &m, model_path, &lo, NULL) != MMIX_OK)
        goto done_error;
    if (mmix_bpe_vocab_size(bpe) > m.config.vocab) {
        fprintf(stderr, "%s: the tokenizer %s has %lld tokens, more than the model's vocabulary of %lld\n",
                command_name, tok_path, (long long)mmix_bpe_vocab_size(bpe), (long long)m.config.vocab);
        goto done;
    }
    if (mmix_bpe_encode(ctx, bpe, prompt, strlen(prompt), 0, &ids) != MMIX_OK) goto done_error;
    n_prompt = ids.n;
    if (max_new > m.config.n_ctx) max_new = m.config.n_ctx; /* the window bounds it anyway */
    out = (int32_t *)malloc((size_t)max_new * sizeof(int32_t));
    if (!out) {
        fprintf(stderr, "%s: out of memory\n", command_name);
        goto done;
    }
    t0 = mmix_time_seconds();
    if (mmix_generate(ctx, &m, ids.ids, n_prompt, max_new, mmix_bpe_eot_id(bpe), &sampler, method, out, &n_new) !=
        MMIX_OK)
        goto done_error;
    seconds = mmix_time_seconds() - t0;
    for (i = 0; i < n_new; i++)
        if (mmix_bpe_ids_push(ctx, &ids, out[i]) != MMIX_OK) goto done_error;
    if (mmix_bpe_decode(ctx, bpe, ids.ids, ids.n, &text) != MMIX_OK) goto done_error;
    fwrite(text.data, 1, text.size, stdout);
    putchar('\n');
    if (fflush(stdout) != 0) {
        fprintf(stderr, "%s: error writing stdout\n", command_name);
        goto done;
    }
    fprintf(stderr, "%s: %lld prompt + %lld new tokens in %.3f s (%.1f new tokens/s, %s, %s)\n", command_name,
            (long long)n_prompt, (long long)n_new, seconds, seconds > 0 ? (double)n_new / seconds : 0.0,
            method == MMIX_GENERATE_CACHED ? "cached" : "index-walking",
            n_new == max_new ? "--max-new reached" : n_prompt + n_new >= m.config.n_ctx ? "window full" : "end of text");
    rc = 0;
    goto done;
done_error:
    fail(ctx, "generate");
done:
    free(out);
    mmix_bpe_bytes_free(&text);
    mmix_bpe_ids_free(&ids);
    mmix_bpe_free(bpe);
    return rc;
}

static int cmd_model(int argc, char **argv, int (*run)(mmix_ctx *, int, char **), const char *name) {
    mmix_ctx *ctx;
    int rc;
    args_from = 2;
    command_name = name;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) {
        fprintf(stderr, "mm: out of memory\n");
        return 1;
    }
    mmix_set_log(ctx, log_to_stderr, NULL);
    rc = run(ctx, argc, argv);
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
    if (strcmp(cmd, "forward") == 0) return cmd_model(argc, argv, cmd_forward, "mm forward");
    if (strcmp(cmd, "train") == 0) return cmd_model(argc, argv, cmd_train, "mm train");
    if (strcmp(cmd, "info") == 0) return cmd_model(argc, argv, cmd_info, "mm info");
    if (strcmp(cmd, "generate") == 0) return cmd_model(argc, argv, cmd_generate, "mm generate");
    fprintf(stderr, "mm: unknown command '%s' (see 'mm --help')\n", cmd);
    return 2;
}
