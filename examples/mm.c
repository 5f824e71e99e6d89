/* examples/mm.c - the maskedmixer command-line tool: the BPE tokenizer, and the two models
   of the paper (forward, train, info). Every error is one line on stderr and a non-zero
   exit status. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"

#include <stdarg.h>
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
            "                       convert a Hugging Face byte-level BPE\n"
            "  forward --model W.safetensors --tokens IDS.txt [--pad-id P] [--logits OUT.f32]\n"
            "                       the causal-LM loss (and logits) of a model on token lines\n"
            "  train (--init W | --resume STATE | --arch mixer|llama ...) --tokens IDS.txt --steps T\n"
            "        --batch B --save OUT.safetensors   train with AdamW (mm train --help)\n"
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

/* The value after --name in argv, or NULL. */
static const char *option(int argc, char **argv, const char *name) {
    int i;
    for (i = args_from; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return NULL;
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
           (long long)m.n_params, (long)pad);
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

/* OUT.safetensors -> OUT.state.safetensors: the optimizer and data state beside the weights. */
static void state_path_for(const char *weights, char *out, size_t size) {
    size_t n = strlen(weights), ext = strlen(".safetensors");
    if (n > ext && strcmp(weights + n - ext, ".safetensors") == 0)
        snprintf(out, size, "%.*s.state.safetensors", (int)(n - ext), weights);
    else
        snprintf(out, size, "%s.state", weights);
}

typedef struct train_settings {
    long long steps, batch, warmup, seed, pad, stop_at;
    double lr, weight_decay, clip;
    int shuffle, schedule;      /* schedule: 0 linear, 1 constant */
} train_settings;

/* Appends one metadata pair, the value formatted printf-style into values[n]. */
static void add_meta(const char **keys, const char **vals, char values[][64], int64_t *n, const char *key,
                     const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(values[*n], 64, fmt, args);
    va_end(args);
    keys[*n] = key;
    vals[*n] = values[*n];
    (*n)++;
}

/* The settings a resumed run takes from its state file, as metadata pairs. */
static int64_t settings_meta(const train_settings *t, long long data_position, const char *weights_name,
                             char values[][64], const char **keys, const char **vals) {
    int64_t n = 0;
    add_meta(keys, vals, values, &n, "train_steps", "%lld", t->steps);
    add_meta(keys, vals, values, &n, "train_batch", "%lld", t->batch);
    add_meta(keys, vals, values, &n, "train_warmup", "%lld", t->warmup);
    add_meta(keys, vals, values, &n, "train_seed", "%lld", t->seed);
    add_meta(keys, vals, values, &n, "train_pad_id", "%lld", t->pad);
    add_meta(keys, vals, values, &n, "train_lr", "%.9g", t->lr);
    add_meta(keys, vals, values, &n, "train_weight_decay", "%.9g", t->weight_decay);
    add_meta(keys, vals, values, &n, "train_clip", "%.9g", t->clip);
    add_meta(keys, vals, values, &n, "train_shuffle", "%d", t->shuffle);
    add_meta(keys, vals, values, &n, "train_schedule", "%s", t->schedule ? "constant" : "linear");
    add_meta(keys, vals, values, &n, "train_data_position", "%lld", data_position);
    add_meta(keys, vals, values, &n, "train_weights", "%s", weights_name);
    return n;
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
static int meta_d(mmix_ctx *ctx, const mmix_safetensors *st, const char *key, double *out) {
    return meta_number(ctx, st, key, out);
}

static int cmd_train(mmix_ctx *ctx, int argc, char **argv) {
    static const char *const with_value[] = {"--init", "--resume", "--arch", "--vocab", "--dim", "--depth", "--ctx",
                                             "--kernel", "--heads", "--seed", "--tokens", "--steps", "--batch", "--lr",
                                             "--warmup", "--schedule", "--weight-decay", "--clip", "--pad-id",
                                             "--save", "--stop-at", "--norm-eps", "--rope-theta", NULL};
    static const char *const flags[] = {"--no-shuffle", "--reference-masked-grads", NULL};
    const char *init = option(argc, argv, "--init"), *resume = option(argc, argv, "--resume");
    const char *arch = option(argc, argv, "--arch"), *tokens_path = option(argc, argv, "--tokens");
    const char *save = option(argc, argv, "--save"), *schedule = option(argc, argv, "--schedule");
    char resume_weights[1024], state_path[1100], values[16][64];
    const char *keys[16], *vals[16];
    train_settings t;
    mmix_model m;
    mmix_adamw opt;
    mmix_adamw_config acfg = mmix_adamw_config_default();
    mmix_rng rng;
    int32_t *lines = NULL, file_pad = -1;
    int64_t n_lines = 0, len = 0, *order = NULL, rows[4096], order_epoch = -1, r;
    long long data_position = 0;
    double start_time;
    int rc = 1, sources = (init != NULL) + (resume != NULL) + (arch != NULL);
    memset(&t, 0, sizeof t);
    if (flag(argc, argv, "--help")) {
        printf("usage: mm train (--init W.safetensors | --resume STATE | --arch mixer|llama --vocab V --dim D\n"
               "                 --depth N --ctx L [--kernel K] [--heads H] [--seed S])\n"
               "                --tokens IDS.txt --steps T --batch B --save OUT.safetensors\n"
               "                [--lr LR] [--warmup W] [--schedule linear|constant] [--weight-decay WD]\n"
               "                [--clip C] [--pad-id P] [--no-shuffle] [--stop-at S] [--reference-masked-grads]\n"
               "Defaults (the paper's recipe, SPEC 11): lr 5e-4 for mixers, 2e-4 for transformers; warmup\n"
               "min(500, T/10); linear schedule; weight decay 0; clip 1.0 (0 = off); seed 0; kernel 1;\n"
               "heads 4; lines shuffled per epoch (--no-shuffle: step s uses lines s*B .. s*B+B-1,\n"
               "wrapping). --init starts from weights with a fresh optimizer; --resume restores the\n"
               "weights, optimizer, schedule and data position of OUT.state.safetensors (written beside\n"
               "OUT.safetensors), continuing the same run bit for bit. --stop-at S ends this run after\n"
               "step S of T (and saves). --reference-masked-grads: the paper code's phantom gradients.\n");
        return 0;
    }
    if (!check_args(argc, argv, with_value, flags)) return 2;
    if (sources != 1 || !tokens_path || !save) {
        fprintf(stderr, "%s: give exactly one of --init, --resume, --arch, plus --tokens and --save (see "
                "'mm train --help')\n", command_name);
        return 2;
    }
    if (!int_option(argc, argv, "--steps", 0, 1, &t.steps) || !int_option(argc, argv, "--batch", 0, 1, &t.batch) ||
        !int_option(argc, argv, "--seed", 0, 0, &t.seed) || !int_option(argc, argv, "--pad-id", -1, 0, &t.pad) ||
        !float_option(argc, argv, "--weight-decay", 0.0, 0.0, &t.weight_decay) ||
        !float_option(argc, argv, "--clip", 1.0, 0.0, &t.clip) || !int_option(argc, argv, "--stop-at", 0, 1, &t.stop_at))
        return 2;
    if (t.batch > 4096) {
        fprintf(stderr, "%s: --batch is at most 4096\n", command_name);
        return 2;
    }
    if (schedule && strcmp(schedule, "linear") != 0 && strcmp(schedule, "constant") != 0) {
        fprintf(stderr, "%s: --schedule is linear or constant, not '%s'\n", command_name, schedule);
        return 2;
    }
    t.schedule = schedule && strcmp(schedule, "constant") == 0;
    t.shuffle = !flag(argc, argv, "--no-shuffle");
    if (flag(argc, argv, "--reference-masked-grads")) mmix_set_masked_grad_mode(ctx, MMIX_MASKED_GRADS_REFERENCE);

    /* the model: from a run's state, from weights, or new */
    if (resume) {
        mmix_safetensors st;
        const char *w, *slash;
        int ok;
        if ((option(argc, argv, "--steps") || option(argc, argv, "--batch") || option(argc, argv, "--lr") ||
                         option(argc, argv, "--warmup") || schedule || option(argc, argv, "--seed"))) {
            fprintf(stderr, "%s: a resumed run keeps its own settings: drop --steps, --batch, --lr, --warmup, "
                    "--schedule and --seed\n", command_name);
            return 2;
        }
        if (mmix_safetensors_open(ctx, resume, &st) != MMIX_OK) return fail(ctx, "train");
        ok = meta_ll(ctx, &st, "train_steps", &t.steps) && meta_ll(ctx, &st, "train_batch", &t.batch) &&
             meta_ll(ctx, &st, "train_warmup", &t.warmup) && meta_ll(ctx, &st, "train_seed", &t.seed) &&
             meta_ll(ctx, &st, "train_pad_id", &t.pad) && meta_d(ctx, &st, "train_lr", &t.lr) &&
             meta_d(ctx, &st, "train_weight_decay", &t.weight_decay) && meta_d(ctx, &st, "train_clip", &t.clip) &&
             meta_ll(ctx, &st, "train_data_position", &data_position);
        w = mmix_safetensors_meta(&st, "train_weights");
        if (ok && (!w || t.batch < 1 || t.batch > 4096 || t.steps < 1)) {
            mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: bad training state (weights name, batch or steps)", resume);
            ok = 0;
        }
        if (ok) {
            const char *shuffle = mmix_safetensors_meta(&st, "train_shuffle");
            const char *sched = mmix_safetensors_meta(&st, "train_schedule");
            t.shuffle = !shuffle || strcmp(shuffle, "0") != 0;
            t.schedule = sched && strcmp(sched, "constant") == 0;
            slash = strrchr(resume, '/'); /* the weights file sits beside the state file */
            snprintf(resume_weights, sizeof resume_weights, "%.*s%s", slash ? (int)(slash - resume + 1) : 0, resume, w);
        }
        mmix_safetensors_close(&st);
        if (!ok) return fail(ctx, "train");
        if (mmix_model_load(ctx, &m, resume_weights, NULL, NULL) != MMIX_OK) return fail(ctx, "train");
    } else if (init) {
        mmix_load_options lo;
        if (!load_options(argc, argv, &lo)) return 2;
        if (mmix_model_load(ctx, &m, init, &lo, &file_pad) != MMIX_OK) return fail(ctx, "train");
    } else {
        mmix_model_config c;
        long long v;
        if (strcmp(arch, "mixer") != 0 && strcmp(arch, "llama") != 0) {
            fprintf(stderr, "%s: --arch is mixer or llama, not '%s'\n", command_name, arch);
            return 2;
        }
        c = mmix_model_config_default(strcmp(arch, "mixer") == 0 ? MMIX_ARCH_MIXER : MMIX_ARCH_LLAMA);
        if (!option(argc, argv, "--vocab") || !option(argc, argv, "--dim") || !option(argc, argv, "--depth") ||
            !option(argc, argv, "--ctx")) {
            fprintf(stderr, "%s: a new model needs --vocab, --dim, --depth and --ctx\n", command_name);
            return 2;
        }
        if (!int_option(argc, argv, "--vocab", 0, 1, &v)) return 2;
        c.vocab = v;
        if (!int_option(argc, argv, "--dim", 0, 1, &v)) return 2;
        c.dim = v;
        c.ffn_dim = 4 * v;
        if (!int_option(argc, argv, "--depth", 0, 1, &v)) return 2;
        c.depth = v;
        if (!int_option(argc, argv, "--ctx", 0, 2, &v)) return 2;
        c.n_ctx = v;
        if (!int_option(argc, argv, "--kernel", 1, 1, &v)) return 2;
        c.kernel = v;
        if (!int_option(argc, argv, "--heads", 4, 1, &v)) return 2;
        c.heads = v;
        if (mmix_model_create(ctx, &m, c) != MMIX_OK) return fail(ctx, "train");
        mmix_rng_seed(&rng, (uint64_t)t.seed);
        mmix_model_init(&m, &rng);
    }
    if (!resume) {
        if (!option(argc, argv, "--steps") || !option(argc, argv, "--batch")) {
            fprintf(stderr, "%s: --steps and --batch are required\n", command_name);
            return 2;
        }
        if (!float_option(argc, argv, "--lr", m.config.arch == MMIX_ARCH_MIXER ? 5e-4 : 2e-4, 0.0, &t.lr) ||
            !int_option(argc, argv, "--warmup", t.steps / 10 < 500 ? t.steps / 10 : 500, 0, &t.warmup))
            return 2;
        if (!option(argc, argv, "--pad-id")) t.pad = file_pad;
    }
    if (t.stop_at == 0 || t.stop_at > t.steps) t.stop_at = t.steps;
    if (mmix_read_token_lines(ctx, tokens_path, m.config.vocab, m.config.arch == MMIX_ARCH_MIXER ? m.config.n_ctx : 0,
                              &lines, &n_lines, &len) != MMIX_OK)
        return fail(ctx, "train");
    if (init) window_from_lines(ctx, &m, init, len);
    acfg.lr = (float)t.lr;
    acfg.weight_decay = (float)t.weight_decay;
    order = (int64_t *)malloc((size_t)n_lines * sizeof(int64_t));
    if (!order || mmix_adamw_init(ctx, &opt, acfg) != MMIX_OK) goto done_error;
    if (resume) {
        state_path_for(resume_weights, state_path, sizeof state_path);
        if (mmix_adamw_load(ctx, &opt, resume) != MMIX_OK) goto done_error;
    }
    printf("%s: %s, %lld parameters; %lld lines of %lld tokens; steps %lld..%lld of %lld, batch %lld, lr %g, warmup "
           "%lld, %s schedule, weight decay %g, clip %g, pad id %lld, seed %lld, %s\n",
           command_name, arch_name(m.config.arch), (long long)mmix_model_param_count(&m), (long long)n_lines,
           (long long)len, (long long)opt.step + 1, t.stop_at, t.steps, t.batch, t.lr, t.warmup,
           t.schedule ? "constant" : "linear", t.weight_decay, t.clip, t.pad, t.seed,
           t.shuffle ? "shuffled" : "in file order");
    start_time = mmix_time_seconds();
    while (opt.step < t.stop_at) {
        mmix_tensor *ids, *loss;
        double norm = 0.0;
        float lr = mmix_schedule_lr(t.schedule ? MMIX_SCHEDULE_CONSTANT : MMIX_SCHEDULE_LINEAR, (float)t.lr, opt.step,
                                    t.warmup, t.steps);
        for (r = 0; r < t.batch; r++, data_position++) { /* the data position counts lines served */
            int64_t epoch = data_position / n_lines;
            if (epoch != order_epoch) {
                epoch_order(order, n_lines, (uint64_t)t.seed, epoch, t.shuffle);
                order_epoch = epoch;
            }
            rows[r] = order[data_position % n_lines];
        }
        ids = batch_tensor(ctx, lines, rows, t.batch, len);
        mmix_zero_grad(ctx);
        loss = mmix_model_loss(ctx, &m, ids, (int32_t)t.pad, NULL);
        if (!loss || mmix_backward(ctx, loss) != MMIX_OK || mmix_clip_grad_norm(ctx, (float)t.clip, &norm) != MMIX_OK ||
            mmix_adamw_step(ctx, &opt, lr) != MMIX_OK)
            goto done_error;
        printf("step %lld/%lld loss %.6f lr %.3g grad-norm %.4g (%.1f s)\n", (long long)opt.step, t.steps,
               (double)loss->data[0], (double)lr, norm, mmix_time_seconds() - start_time);
        fflush(stdout);
        mmix_step_reset(ctx);
    }
    {
        const char *slash = strrchr(save, '/');
        int64_t n_meta = settings_meta(&t, data_position, slash ? slash + 1 : save, values, keys, vals);
        state_path_for(save, state_path, sizeof state_path);
        if (mmix_model_save(ctx, &m, save, (int32_t)t.pad) != MMIX_OK ||
            mmix_adamw_save(ctx, &opt, state_path, keys, vals, n_meta) != MMIX_OK)
            goto done_error;
        printf("saved %s and %s\n", save, state_path);
    }
    rc = 0;
    goto done;
done_error:
    fail(ctx, "train");
done:
    free(order);
    mmix_free(lines);
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
    char *default_tok = NULL;
    FILE *f;
    int rc = 1;
    if (flag(argc, argv, "--help")) {
        printf("usage: mm generate --model W.safetensors --prompt TEXT [--tokenizer TOK] [--max-new N]\n"
               "                   [--temperature T] [--top-k K] [--seed S] [--method cached|index-walking]\n"
               "                   [--heads H] [--norm-eps E] [--rope-theta T]\n"
               "Prints the prompt and its continuation. Greedy by default (temperature 0); --temperature T\n"
               "samples from softmax(logits / T), among the K largest with --top-k K (0: all); --seed S\n"
               "repeats a sample. Stops at end-of-text, after N new tokens (64), or when the model's window\n"
               "is full. The tokenizer defaults to tokenizer.txt beside the weights. --method index-walking\n"
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
    if (!tok_path) { /* <dir of the weights>/tokenizer.txt, where mm train puts it */
        const char *slash = strrchr(model_path, '/');
        size_t dir = slash ? (size_t)(slash - model_path) + 1 : 0;
        default_tok = (char *)malloc(dir + sizeof "tokenizer.txt");
        if (!default_tok) {
            fprintf(stderr, "%s: out of memory\n", command_name);
            return 1;
        }
        memcpy(default_tok, model_path, dir);
        memcpy(default_tok + dir, "tokenizer.txt", sizeof "tokenizer.txt");
        tok_path = default_tok;
        f = fopen(tok_path, "rb");
        if (!f) {
            fprintf(stderr, "%s: no tokenizer beside the weights (%s not found); give --tokenizer TOK\n", command_name,
                    tok_path);
            free(default_tok);
            return 1;
        }
        fclose(f);
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
    free(default_tok);
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
