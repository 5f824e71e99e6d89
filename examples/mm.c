/* examples/mm.c - the maskedmixer command-line tool: the BPE tokenizer, and the two models
   of the paper (forward, train, info, generate). Every error is one line on stderr and a
   non-zero exit status.

   How it reads, top to bottom: what mm knows about the architectures (one small table);
   the option machinery (each command lists its options in tables, parsed once, which also
   write --help and the error messages); the commands; the training loop, which any task can
   reuse with its own batches and loss; and at the end the command table and main(). */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#ifdef MMIX_USE_MPI
#include <mpi.h>   /* data-parallel training across processes (make mpi; the section "Data parallel") */
#endif

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <direct.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#endif
#include "emb_file.h"

/* Prefixes every message: "mm train", "mm tokenizer encode"; set by main() from the command. */
static const char *command_name = "mm";

/* ==== the architectures: all from the library's table (MMIX_ARCHITECTURES) ====
   Nothing below this section names an architecture. */
static mmix_arch_info arch_of(mmix_arch a) {
    mmix_arch_info info;
    mmix_arch_get(a, &info);
    return info;
}
/* "mixer|llama": the words --arch takes (an OPT_CHOICE: the index is the mmix_arch). */
static char arch_choices[512];
static void arch_choices_init(void) {
    int i;
    size_t n = 0;
    for (i = 0; i < MMIX_ARCH_COUNT && n < sizeof arch_choices; i++)
        n += (size_t)snprintf(arch_choices + n, sizeof arch_choices - n, "%s%s", i ? "|" : "",
                              arch_of((mmix_arch)i).name);
}
/* info's lines for what only one architecture has. */
static void arch_print_config(const mmix_model_config *c) {
    char lines[512];
    mmix_arch_settings(c, 0, lines, sizeof lines);
    fputs(lines, stdout);
}
/* The sizes beyond width, depth and window that a preset's line in --help names. */
static const char *arch_preset_sizes(mmix_arch a, long long kernel, long long heads, char *buf, size_t size) {
    mmix_model_config c = mmix_model_config_default(a);
    c.kernel = kernel;
    c.heads = heads;
    mmix_arch_settings(&c, 1, buf, size);
    return buf;
}
/* What an architecture's outputs predict, in words (mmix_objective). */
static const char *objective_words(mmix_objective o) {
    switch (o) {
    case MMIX_OBJECTIVE_NEXT_TOKEN: return "next token";
    case MMIX_OBJECTIVE_RECONSTRUCT: return "reconstructs its input (unshifted)";
    case MMIX_OBJECTIVE_NEXT_BIDI: return "next token, from both sides";
    case MMIX_OBJECTIVE_OWN_BIDI: return "each token, from both sides";
    case MMIX_OBJECTIVE_SECOND_HALF: return "the second half, from the first";
    case MMIX_OBJECTIVE_TWO_TOKENS: return "next token, then the one after";
    }
    return "?";
}
/* train --list-archs: each architecture with its paper section and the paper's default
   sizes (mmix_model_config_default), one block each. */
static void arch_list(FILE *out) {
    int i;
    for (i = 0; i < MMIX_ARCH_COUNT; i++) {
        mmix_arch_info info = arch_of((mmix_arch)i);
        mmix_model_config c = mmix_model_config_default((mmix_arch)i);
        char own[256];
        mmix_arch_settings(&c, 1, own, sizeof own);
        fprintf(out, "%s\n  %s, %s (%s)\n  defaults: V %lld, D %lld, n %lld, L %lld, ffn %lld%s; lr %g\n"
                     "  objective: %s; %s\n", info.name, info.title, info.paper, info.reference, (long long)c.vocab,
                (long long)c.dim, (long long)c.depth, (long long)c.n_ctx, (long long)c.ffn_dim, own, info.lr,
                objective_words(info.objective), info.can_generate ? "generates text" : "cannot generate");
    }
}
/* train --help: the default learning rate of each and the settings that only one reads. */
static void arch_help(FILE *out) {
    int i;
    fprintf(out, "Architectures (--arch):\n");
    for (i = 0; i < MMIX_ARCH_COUNT; i++) {
        mmix_arch_info info = arch_of((mmix_arch)i);
        fprintf(out, "  %-15s %s (%s; %s): default --lr %g%s%s\n", info.name, info.title, info.reference,
                info.paper, info.lr, info.own_settings[0] ? "; also reads --" : "", info.own_settings);
    }
}

/* ==== options: tables per command, parsed once ==== */

typedef enum opt_kind {
    OPT_FLAG,                   /* no value: present or not */
    OPT_INT,                    /* a whole number in [lo, hi] */
    OPT_NUM,                    /* a number in [lo, hi] */
    OPT_TEXT,                   /* any word: a path, a name */
    OPT_CHOICE                  /* one of the words of `value` ("linear|constant"); its index is the value */
} opt_kind;
#define NO_MAX 1e300            /* the top of a range that has none */
#define MAX_SIZE 2147483647.0   /* sizes, ids and counts: what an int32 index reaches */
#define MAX_FLOAT 3.4028234663852886e38   /* FLT_MAX: a number the library keeps as a float */
#define MAX_STEPS 1e12          /* optimizer steps: far past any run, and step x tokens fits int64 */

typedef struct opt_spec {
    const char *name;           /* "--steps" */
    opt_kind kind;
    const char *value;          /* what --help shows after the name ("T"); the words of an OPT_CHOICE */
    const char *def;            /* the value when the option is absent, as text, also shown by --help;
                                   NULL: none, or one the command works out (its help says how) */
    double lo, hi;              /* the range of OPT_INT and OPT_NUM, both ends included */
    const char *help;           /* one line */
} opt_spec;
#define OPT_END {NULL, OPT_FLAG, NULL, NULL, 0, 0, NULL}

/* Options several commands share (model loading, data, sampling, runtime) sit in one group. */
typedef struct opt_group {
    const char *title;
    const opt_spec *opts;       /* ends with OPT_END */
} opt_group;
#define GROUP_END {NULL, NULL}

typedef struct opt_value {
    int given;                  /* on the command line, not just the default */
    const char *text;           /* the word (or the default's); NULL for none */
    long long i;                /* OPT_INT; the word's index for OPT_CHOICE; 1 for a given OPT_FLAG */
    double x;                   /* OPT_NUM */
} opt_value;

/* A command line parsed against a command's tables. */
#define MAX_OPTS 64
typedef struct args {
    const opt_spec *spec[MAX_OPTS];
    opt_value val[MAX_OPTS];
    int n;
    const char *word;           /* the plain word of a command that takes one (mm info FILE) */
} args;

typedef struct command {
    const char *name;           /* "train", "tokenizer encode" */
    int (*run)(mmix_ctx *ctx, const args *a);
    const char *synopsis;       /* what follows the name in the usage lines */
    const char *summary;        /* one line for mm --help */
    const char *about;          /* more for the command's --help, or NULL */
    const opt_group *groups;    /* ends with GROUP_END */
    const char *word;           /* the plain word it takes ("W.safetensors"), or NULL */
    void (*more_help)(FILE *out);   /* printed after the options, or NULL */
} command;

/* The index of `s` among the words of "a|b|c", or -1. */
static int choice_index(const char *choices, const char *s) {
    size_t n = strlen(s);
    int k;
    for (k = 0;; k++) {
        const char *bar = strchr(choices, '|');
        size_t len = bar ? (size_t)(bar - choices) : strlen(choices);
        if (len == n && strncmp(choices, s, n) == 0) return k;
        if (!bar) return -1;
        choices = bar + 1;
    }
}
/* "a|b|c" as "a, b or c", for messages. */
static const char *choice_list(const char *choices, char *out, size_t size) {
    size_t n = 0;
    const char *bar, *last = strrchr(choices, '|');
    for (; (bar = strchr(choices, '|')) != NULL && n < size; choices = bar + 1)
        n += (size_t)snprintf(out + n, size - n, "%.*s%s", (int)(bar - choices), choices, bar == last ? " or " : ", ");
    if (n < size) snprintf(out + n, size - n, "%s", choices);
    return out;
}

/* Reads `text` as a value of option `o`; 0 after a one-line error naming the option. */
static int opt_read(const opt_spec *o, const char *text, opt_value *v) {
    char *end, words[256];
    v->text = text;
    switch (o->kind) {
    case OPT_FLAG:
        v->i = 1;
        return 1;
    case OPT_TEXT:
        return 1;
    case OPT_INT:   /* digits only (strtoll alone takes leading blanks and saturates on overflow) */
        errno = 0;
        v->i = strtoll(text, &end, 10);
        if ((isdigit((unsigned char)text[0]) || (text[0] == '-' && isdigit((unsigned char)text[1]))) && !*end &&
            errno == 0 && (double)v->i >= o->lo && (double)v->i <= o->hi)
            return 1;
        if (o->hi < NO_MAX)
            fprintf(stderr, "%s: %s wants an integer from %.0f to %.0f, not '%s'\n", command_name, o->name, o->lo,
                    o->hi, text);
        else fprintf(stderr, "%s: %s wants an integer >= %.0f, not '%s'\n", command_name, o->name, o->lo, text);
        return 0;
    case OPT_NUM:
        v->x = strtod(text, &end);
        if (text[0] && !isspace((unsigned char)text[0]) && end != text && !*end && v->x >= o->lo && v->x <= o->hi)
            return 1;   /* NaN fails both comparisons, and an overflow's infinity the second */
        if (o->hi < NO_MAX)
            fprintf(stderr, "%s: %s wants a number from %g to %g, not '%s'\n", command_name, o->name, o->lo, o->hi,
                    text);
        else fprintf(stderr, "%s: %s wants a number >= %g, not '%s'\n", command_name, o->name, o->lo, text);
        return 0;
    case OPT_CHOICE:
        v->i = choice_index(o->value, text);
        if (v->i >= 0) return 1;
        fprintf(stderr, "%s: %s is %s, not '%s'\n", command_name, o->name, choice_list(o->value, words, sizeof words),
                text);
        return 0;
    }
    return 0;
}

static int find_opt(const args *a, const char *name) {
    int s;
    for (s = 0; s < a->n; s++)
        if (strcmp(a->spec[s]->name, name) == 0) return s;
    return -1;
}

/* Parses argv[from..] against a command's tables: every word must be one of its options
   (with a valid value) or, for a command that takes one, its plain word. A later option
   overrides an earlier one. 0 after a one-line error. */
static int parse_args(const command *c, int argc, char **argv, int from, args *a) {
    int g, k, i;
    memset(a, 0, sizeof *a);
    for (g = 0; c->groups[g].title; g++)
        for (k = 0; c->groups[g].opts[k].name; k++) {
            const opt_spec *o = &c->groups[g].opts[k];
            if (a->n == MAX_OPTS) {
                fprintf(stderr, "%s: internal error: more than %d options\n", command_name, MAX_OPTS);
                return 0;
            }
            a->spec[a->n] = o;
            if (o->def && !opt_read(o, o->def, &a->val[a->n])) return 0;
            a->n++;
        }
    for (i = from; i < argc; i++) {
        int s = find_opt(a, argv[i]);
        const char *value = NULL;
        if (s < 0) {
            if (c->word && !a->word && strncmp(argv[i], "--", 2) != 0) {
                a->word = argv[i];
                continue;
            }
            fprintf(stderr, "%s: unknown argument '%s' (see '%s --help')\n", command_name, argv[i], command_name);
            return 0;
        }
        if (a->spec[s]->kind != OPT_FLAG) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", command_name, argv[i]);
                return 0;
            }
            value = argv[++i];
        }
        a->val[s].given = 1;
        if (!opt_read(a->spec[s], value, &a->val[s])) return 0;
    }
    return 1;
}

/* An option of the running command by name. Asking for one the command does not list is a
   mistake in this file, reported as such. */
static const opt_value *arg(const args *a, const char *name) {
    int s = find_opt(a, name);
    if (s < 0) {
        fprintf(stderr, "%s: internal error: no option %s\n", command_name, name);
        exit(70);
    }
    return &a->val[s];
}
static int given(const args *a, const char *name) { return arg(a, name)->given; }
static const char *text_arg(const args *a, const char *name) { return arg(a, name)->text; }
static long long int_arg(const args *a, const char *name) { return arg(a, name)->i; }
static double num_arg(const args *a, const char *name) { return arg(a, name)->x; }
/* An integer option, or `fallback` when it is not given (a default that depends on others). */
static long long int_or(const args *a, const char *name, long long fallback) {
    return given(a, name) ? int_arg(a, name) : fallback;
}

/* A command's --help: its usage line, what it does, then each group of options with its
   value, help and default, all from the tables. */
static void command_help(const command *c, FILE *out) {
    int g, k;
    fprintf(out, "usage: mm %s %s\n%s\n", c->name, c->synopsis, c->summary);
    if (c->about) fprintf(out, "%s", c->about);
    for (g = 0; c->groups[g].title; g++) {
        fprintf(out, "%s:\n", c->groups[g].title);
        for (k = 0; c->groups[g].opts[k].name; k++) {
            const opt_spec *o = &c->groups[g].opts[k];
            char left[512];
            snprintf(left, sizeof left, "%s%s%s", o->name, o->value ? " " : "", o->value ? o->value : "");
            if (strlen(left) > 26) fprintf(out, "  %s\n  %-26s %s", left, "", o->help); /* a long list of words */
            else fprintf(out, "  %-26s %s", left, o->help);
            if (o->def) fprintf(out, " (default %s)", o->def);
            fprintf(out, "\n");
        }
    }
    if (c->more_help) c->more_help(out);
}

/* The shared groups. */
static const opt_spec load_opts[] = {   /* what a weights file cannot tell */
    {"--heads", OPT_INT, "H", NULL, 1, MAX_SIZE, "attention heads, where the weights file does not say"},
    {"--norm-eps", OPT_NUM, "E", NULL, 1e-30, MAX_FLOAT, "the norm's epsilon, over the file's"},
    {"--rope-theta", OPT_NUM, "T", NULL, 1e-30, MAX_FLOAT, "the RoPE base, over the file's"},
    OPT_END};
static const opt_spec file_arch_opts[] = {   /* files that load as more than one architecture */
    {"--arch", OPT_CHOICE, arch_choices, NULL, 0, 0,
     "load as this architecture, where the file's names fit several (mm info lists them)"},
    OPT_END};
static const opt_spec data_opts[] = {   /* where training rows come from */
    {"--tokens", OPT_TEXT, "IDS.txt", NULL, 0, 0, "token lines: one row per line, whitespace-separated ids"},
    {"--val-tokens", OPT_TEXT, "IDS.txt", NULL, 0, 0, "validation token lines (with --tokens)"},
    {"--data", OPT_TEXT, "TEXT", NULL, 0, 0, "a text file of documents, tokenized into a cached dataset"},
    {"--tokenizer", OPT_TEXT, "TOK", NULL, 0, 0, "the tokenizer (--data; default: learn --vocab ids from it)"},
    {"--format", OPT_CHOICE, "blank-lines|eot|jsonl", "blank-lines", 0, 0,
     "documents separated by blank lines, by <|endoftext|>, or JSONL"},
    {"--jsonl-field", OPT_TEXT, "NAME", "text", 0, 0, "the JSONL field holding the text"},
    {"--rows", OPT_CHOICE, "packed|padded", NULL, 0, 0,
     "documents joined by end-of-text and cut into full rows, or one per row (default: the preset's, else packed)"},
    {"--pad-left", OPT_FLAG, NULL, NULL, 0, 0, "pad padded rows on the left"},
    {"--val-fraction", OPT_NUM, "F", "0.01", 0, 1, "the fraction of documents held out for validation, below 1"},
    {"--split-seed", OPT_INT, "S", "0", 0, NO_MAX, "picks the held-out documents"},
    {"--cache", OPT_TEXT, "PATH", NULL, 0, 0, "the tokenized rows (default DIR/TEXT.cache beside --save)"},
    {"--pad-id", OPT_INT, "P", NULL, 0, MAX_SIZE,
     "targets not counted in the loss (default: the tokenizer's pad with padded rows, else the file's or none)"},
    OPT_END};
static const opt_spec sampling_opts[] = {   /* how a continuation is drawn */
    {"--max-new", OPT_INT, "N", "64", 1, MAX_SIZE, "new tokens at most (the window bounds them too)"},
    {"--temperature", OPT_NUM, "T", "0", 0, MAX_FLOAT, "0: greedy; else sample from softmax(logits / T)"},
    {"--top-k", OPT_INT, "K", "0", 0, MAX_SIZE, "sample among the K likeliest; 0: all"},
    {"--seed", OPT_INT, "S", "0", 0, NO_MAX, "the same seed repeats a sample"},
    {"--method", OPT_CHOICE, "cached|index-walking", "cached", 0, 0,
     "index-walking reruns the whole window per token, as the paper (Sec. 4.2); same tokens, slower"},
    OPT_END};
static const opt_spec runtime_opts[] = {   /* how the arithmetic runs; never what it computes */
    {"--gemm", OPT_CHOICE, "builtin|blas|auto", NULL, 0, 0,
     "the matrix multiply (default: $MMIX_GEMM, else auto in a build with a BLAS: a fixed rule per shape)"},
    OPT_END};

/* --heads, --norm-eps, --rope-theta as the library's load options. */
static mmix_load_options load_options(const args *a) {
    mmix_load_options o = mmix_load_options_default();
    o.heads = int_or(a, "--heads", 0);
    o.norm_eps = given(a, "--norm-eps") ? (float)num_arg(a, "--norm-eps") : 0.0f;
    o.rope_theta = given(a, "--rope-theta") ? (float)num_arg(a, "--rope-theta") : 0.0f;
    if (find_opt(a, "--arch") >= 0 && given(a, "--arch")) o.arch = arch_of((mmix_arch)int_arg(a, "--arch")).name;
    return o;
}

/* --gemm, else the MMIX_GEMM variable: applied before a command runs. 0 after an error. */
static int apply_runtime(const args *a) {
    static const mmix_gemm by_index[] = {MMIX_GEMM_BUILTIN, MMIX_GEMM_CBLAS, MMIX_GEMM_AUTO};
    const char *env = getenv("MMIX_GEMM");
    mmix_gemm want;
    if (find_opt(a, "--gemm") >= 0 && given(a, "--gemm")) want = by_index[int_arg(a, "--gemm")];
    else if (env && env[0]) {
        if (!mmix_gemm_parse(env, &want)) {
            fprintf(stderr, "%s: MMIX_GEMM=%s: it is builtin, blas or auto\n", command_name, env);
            return 0;
        }
    } else
        return 1;
    if (mmix_set_gemm(want) != want) {
        if (want == MMIX_GEMM_AUTO) return 1; /* a build without a BLAS: auto is the built-in GEMM */
        fprintf(stderr, "%s: --gemm blas: this build has no BLAS (install libopenblas-openmp-dev and rebuild)\n",
                command_name);
        return 0;
    }
    return 1;
}

/* One line when the BLAS runs generic kernels on this CPU, with the setting that fixes it;
   nothing otherwise. */
static void print_blas_note(FILE *out) {
    if (!mmix_has_cblas() || !mmix_blas_is_generic()) return;
    fprintf(out, "note: the BLAS runs generic kernels on this CPU (OpenBLAS core %s): OPENBLAS_CORETYPE=%s fixes it; "
                 "until then --gemm auto uses the built-in GEMM\n", mmix_blas_corename(), mmix_blas_coretype_hint());
}

static int fail(mmix_ctx *ctx) {
    fprintf(stderr, "%s: %s\n", command_name, mmix_last_error(ctx));
    return 1;
}
/* A usage error: one line, status 2. */
static int usage_error(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", command_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 2;
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


static const opt_spec tokenizer_train_opts[] = {
    {"--data", OPT_TEXT, "FILE", NULL, 0, 0, "the text to learn from"},
    {"--vocab", OPT_INT, "N", NULL, 0, MAX_SIZE, "the whole vocabulary: 256 bytes + merges + 2 specials"},
    {"--out", OPT_TEXT, "TOK", NULL, 0, 0, "the tokenizer file to write"},
    OPT_END};
static const opt_group tokenizer_train_groups[] = {{"options", tokenizer_train_opts}, GROUP_END};

static int tokenizer_train(mmix_ctx *ctx, const args *a) {
    const char *data_path = text_arg(a, "--data"), *out = text_arg(a, "--out");
    mmix_bpe_train_options opt = mmix_bpe_train_options_default();
    mmix_bpe *bpe = NULL;
    unsigned char *text;
    size_t size;
    FILE *f;
    double t0;
    if (!data_path || !out || !given(a, "--vocab")) return usage_error("needs --data FILE --vocab N --out TOK");
    opt.vocab_size = int_arg(a, "--vocab");
    f = fopen(data_path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open --data '%s'\n", command_name, data_path);
        return 1;
    }
    text = read_stream(f, &size);
    fclose(f);
    if (!text) {
        fprintf(stderr, "%s: cannot read '%s' into memory\n", command_name, data_path);
        return 1;
    }
    t0 = mmix_time_seconds();
    if (mmix_bpe_train(ctx, text, size, &opt, &bpe) != MMIX_OK) {
        free(text);
        return fail(ctx);
    }
    free(text);
    fprintf(stderr, "%s: %.2f s for %llu bytes: %lld merges, vocabulary %lld (eot %d, pad %d)\n", command_name,
            mmix_time_seconds() - t0, (unsigned long long)size, (long long)mmix_bpe_merge_count(bpe),
            (long long)mmix_bpe_vocab_size(bpe), mmix_bpe_eot_id(bpe), mmix_bpe_pad_id(bpe));
    if (mmix_bpe_vocab_size(bpe) < opt.vocab_size)
        fprintf(stderr, "%s: note: the text ran out of pairs to merge before --vocab %lld\n", command_name,
                (long long)opt.vocab_size);
    if (mmix_bpe_save(ctx, bpe, out) != MMIX_OK) {
        mmix_bpe_free(bpe);
        return fail(ctx);
    }
    mmix_bpe_free(bpe);
    return 0;
}

/* A tokenizer file: ours, or a Hugging Face tokenizer.json (a name ending in .json),
   imported on the fly with its own ids, so a reference checkpoint runs with the
   tokenizer it was trained with. */
static mmix_result load_tokenizer(mmix_ctx *ctx, const char *path, mmix_bpe **out) {
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0) return mmix_bpe_import_hf(ctx, path, out);
    return mmix_bpe_load(ctx, path, out);
}

static const opt_spec tokenizer_encode_opts[] = {
    {"--tokenizer", OPT_TEXT, "TOK", NULL, 0, 0, "the tokenizer file (or a Hugging Face tokenizer.json)"},
    {"--allow-special", OPT_FLAG, NULL, NULL, 0, 0, "special tokens' names in the text (<|endoftext|>, <|pad|>, an imported file's added tokens) become their ids"},
    OPT_END};
static const opt_group tokenizer_encode_groups[] = {{"options", tokenizer_encode_opts}, GROUP_END};

static int tokenizer_encode(mmix_ctx *ctx, const args *a) {
    const char *path = text_arg(a, "--tokenizer");
    mmix_bpe *bpe = NULL;
    mmix_bpe_ids ids;
    unsigned char *text;
    size_t size;
    char *line;
    int64_t i;
    size_t used = 0;
    if (!path) return usage_error("needs --tokenizer TOK");
    if (load_tokenizer(ctx, path, &bpe) != MMIX_OK) return fail(ctx);
    text = read_stream(stdin, &size);
    if (!text) {
        mmix_bpe_free(bpe);
        fprintf(stderr, "%s: cannot read stdin\n", command_name);
        return 1;
    }
    memset(&ids, 0, sizeof ids);
    if (mmix_bpe_encode(ctx, bpe, text, size, given(a, "--allow-special") ? MMIX_BPE_ALLOW_SPECIAL : 0,
                        &ids) != MMIX_OK) {
        free(text);
        mmix_bpe_free(bpe);
        return fail(ctx);
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
        fprintf(stderr, "%s: error writing stdout\n", command_name);
        return 1;
    }
    return 0;
}

static const opt_spec tokenizer_decode_opts[] = {
    {"--tokenizer", OPT_TEXT, "TOK", NULL, 0, 0, "the tokenizer file"},
    OPT_END};
static const opt_group tokenizer_decode_groups[] = {{"options", tokenizer_decode_opts}, GROUP_END};

static int tokenizer_decode(mmix_ctx *ctx, const args *a) {
    const char *path = text_arg(a, "--tokenizer");
    mmix_bpe *bpe = NULL;
    mmix_bpe_ids ids;
    mmix_bpe_bytes out;
    unsigned char *text;
    size_t size, pos = 0;
    if (!path) return usage_error("needs --tokenizer TOK");
    if (load_tokenizer(ctx, path, &bpe) != MMIX_OK) return fail(ctx);
    text = read_stream(stdin, &size);
    if (!text) {
        mmix_bpe_free(bpe);
        fprintf(stderr, "%s: cannot read stdin\n", command_name);
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
            fprintf(stderr, "%s: stdin byte %llu: expected a token id (a whole number), found '%.*s'\n", command_name,
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
        return fail(ctx);
    }
    if (out.size) fwrite(out.data, 1, out.size, stdout);
    mmix_bpe_bytes_free(&out);
    mmix_bpe_ids_free(&ids);
    mmix_bpe_free(bpe);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "%s: error writing stdout\n", command_name);
        return 1;
    }
    return 0;
}

static const opt_spec tokenizer_import_hf_opts[] = {
    {"--json", OPT_TEXT, "tokenizer.json", NULL, 0, 0, "a Hugging Face byte-level BPE (its ids are kept)"},
    {"--out", OPT_TEXT, "TOK", NULL, 0, 0, "the tokenizer file to write"},
    OPT_END};
static const opt_group tokenizer_import_hf_groups[] = {{"options", tokenizer_import_hf_opts}, GROUP_END};

static int tokenizer_import_hf(mmix_ctx *ctx, const args *a) {
    const char *json = text_arg(a, "--json"), *out = text_arg(a, "--out");
    mmix_bpe *bpe = NULL;
    if (!json || !out) return usage_error("needs --json tokenizer.json --out TOK");
    if (mmix_bpe_import_hf(ctx, json, &bpe) != MMIX_OK) return fail(ctx);
    if (mmix_bpe_save(ctx, bpe, out) != MMIX_OK) {
        mmix_bpe_free(bpe);
        return fail(ctx);
    }
    fprintf(stderr, "%s: %lld merges, vocabulary %lld\n", command_name, (long long)mmix_bpe_merge_count(bpe),
            (long long)mmix_bpe_vocab_size(bpe));
    mmix_bpe_free(bpe);
    return 0;
}

/* ---- mm forward / info: the two models ---- */

static void log_to_stderr(void *user, const char *message) {
    (void)user;
    fprintf(stderr, "%s: warning: %s\n", command_name, message);
}

/* The line length mmix_read_token_lines must check: the model's window when its weights
   fix one, else 0 (any one length). */
static int64_t fixed_line_length(const mmix_model *m) {
    return arch_of(m->config.arch).fixed_window ? m->config.n_ctx : 0;
}
/* A window that is not in the weights nor in n_ctx metadata is the token file's line length. */
static void window_from_lines(mmix_ctx *ctx, mmix_model *m, const char *weights, int64_t len) {
    mmix_safetensors st;
    if (arch_of(m->config.arch).fixed_window || mmix_safetensors_open(ctx, weights, &st) != MMIX_OK) return;
    if (!mmix_safetensors_meta(&st, "n_ctx")) m->config.n_ctx = len;
    mmix_safetensors_close(&st);
}

static const opt_group info_groups[] = {{"loading", load_opts}, {"architecture", file_arch_opts}, GROUP_END};
static void print_tokenizer_beside(mmix_ctx *ctx, const char *path, int64_t vocab);

static int cmd_info(mmix_ctx *ctx, const args *a) {
    const char *path = a->word;
    mmix_load_options lo = load_options(a);
    mmix_model m;
    mmix_safetensors st;
    int32_t pad;
    int64_t i;
    const mmix_model_config *c = &m.config;
    mmix_arch archs[MMIX_ARCH_COUNT];
    int n_archs = 0, k;
    if (!path) return usage_error("give a weights file (see 'mm info --help')");
    if (mmix_model_load(ctx, &m, path, &lo, &pad) != MMIX_OK || mmix_model_file_archs(ctx, path, archs, &n_archs) != MMIX_OK)
        return fail(ctx);
    printf("file: %s\narch: %s\narchitecture: %s\n", path, arch_of(c->arch).name, arch_of(c->arch).title);
    if (n_archs > 1) { /* reference files whose names fit several models: --arch chooses */
        printf("ambiguous: the names fit");
        for (k = 0; k < n_archs; k++) printf("%s %s", k ? "," : "", arch_of(archs[k]).name);
        printf(" (the first is the default; --arch chooses)\n");
    }
    printf("vocab: %lld\ndim: %lld\ndepth: %lld\nffn: %lld\nn_ctx: %lld\n", (long long)c->vocab, (long long)c->dim,
           (long long)c->depth, (long long)c->ffn_dim, (long long)c->n_ctx);
    arch_print_config(c);
    printf("parameters: %lld in %lld tensors\npad_token_id: %ld\n", (long long)mmix_model_param_count(&m),
           (long long)m.params.count, (long)pad);
    if (mmix_safetensors_open(ctx, path, &st) == MMIX_OK) {
        for (i = 0; i < st.n_meta; i++) printf("metadata %s: %s\n", st.meta_keys[i], st.meta_values[i]);
        mmix_safetensors_close(&st);
    }
    print_tokenizer_beside(ctx, path, c->vocab);
    return 0;
}

/* A batch of token lines as an int32 tensor [rows, len] in the step arena, uploaded
   through the backend (the tensor's data may not be host memory). */
static mmix_tensor *batch_tensor(mmix_ctx *ctx, const int32_t *lines, const int64_t *rows, int64_t n, int64_t len) {
    mmix_tensor *ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(n, len));
    int64_t r;
    for (r = 0; ids && r < n; r++) mmix_tensor_upload(ctx, ids, r * len, lines + rows[r] * len, len);
    return ids;
}

static const opt_spec forward_opts[] = {
    {"--model", OPT_TEXT, "W.safetensors", NULL, 0, 0, "the weights"},
    {"--tokens", OPT_TEXT, "IDS.txt", NULL, 0, 0, "one sequence per line, all of one length (n_ctx where the weights fix it)"},
    {"--pad-id", OPT_INT, "P", NULL, 0, MAX_SIZE, "targets not counted (default: the file's pad_token_id)"},
    {"--logits", OPT_TEXT, "OUT.f32", NULL, 0, 0, "float32 little-endian logits in [line, position, vocab] order"},
    {"--batch", OPT_INT, "B", "16", 1, MAX_SIZE, "lines per forward pass (at most 64 are used)"},
    OPT_END};
static const opt_group forward_groups[] = {
    {"options", forward_opts}, {"loading", load_opts}, {"architecture", file_arch_opts}, {"runtime", runtime_opts},
    GROUP_END};

static int cmd_forward(mmix_ctx *ctx, const args *a) {
    const char *model_path = text_arg(a, "--model"), *tokens_path = text_arg(a, "--tokens");
    const char *logits_path = text_arg(a, "--logits");
    mmix_load_options lo = load_options(a);
    mmix_model m;
    int32_t *lines = NULL, file_pad;
    int64_t n_lines, len, first, rows[64], r, counted[MMIX_LOSS_TERMS_MAX] = {0};
    long long pad_opt, batch = int_arg(a, "--batch");
    float *all_logits = NULL;
    double sum[MMIX_LOSS_TERMS_MAX] = {0}, loss = 0.0;
    int rc = 1, j, n_terms = 0, any = 0;
    if (batch > 64) batch = 64;
    if (!model_path || !tokens_path) return usage_error("--model and --tokens are required (see 'mm forward --help')");
    if (mmix_model_load(ctx, &m, model_path, &lo, &file_pad) != MMIX_OK) return fail(ctx);
    pad_opt = int_or(a, "--pad-id", file_pad);
    if (mmix_read_token_lines(ctx, tokens_path, m.config.vocab, fixed_line_length(&m), &lines, &n_lines, &len) !=
        MMIX_OK)
        return fail(ctx);
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
        int64_t n = n_lines - first < batch ? n_lines - first : batch;
        mmix_tensor *ids, *logits;
        mmix_loss_terms terms;
        for (r = 0; r < n; r++) rows[r] = first + r;
        ids = batch_tensor(ctx, lines, rows, n, len);
        if (!ids || !mmix_model_loss_terms(ctx, &m, ids, (int32_t)pad_opt, &terms, &logits)) goto done_error;
        n_terms = terms.n;
        for (j = 0; j < terms.n; j++) /* each term token-weighted over the file */
            if (terms.mean[j]) {
                sum[j] += (double)mmix_tensor_item(terms.mean[j], 0) * (double)terms.count[j];
                counted[j] += terms.count[j];
            }
        if (all_logits) mmix_tensor_download(ctx, logits, 0, all_logits + first * len * m.config.vocab, logits->n);
        mmix_step_reset(ctx);
    }
    for (j = 0; j < n_terms; j++) /* the objective: the sum of its terms' means */
        if (counted[j] > 0) loss += sum[j] / (double)counted[j], any = 1;
    if (!any) {
        fprintf(stderr, "%s: no position to predict in %s (every target is the pad id %lld)\n", command_name,
                tokens_path, pad_opt);
        goto done;
    }
    if (all_logits && mmix_write_file_atomic(ctx, logits_path, all_logits,
                                             (size_t)(n_lines * len * m.config.vocab) * sizeof(float)) != MMIX_OK)
        goto done_error;
    printf("loss %.9g\n", loss);
    rc = 0;
    goto done;
done_error:
    fail(ctx);
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

/* The presets: the paper's configurations by name (paper Sec. 4, 4.1, 9.4, 9.5; far too large for a
   CPU but selectable), and small ones that train in minutes on two cores. */
typedef struct train_preset {
    const char *name, *about;
    mmix_arch arch;
    long long vocab, dim, depth, ctx, kernel, heads, batch, steps, warmup, eval_every;
    double lr;
    int padded;                 /* one document per row, as the paper's n_ctx = 512 datasets */
} train_preset;
static const train_preset presets[] = {
    {"tinystories-mixer", "the paper's TinyStories mixer (paper Sec. 4): 4 epochs of 2M stories",
     MMIX_ARCH_MIXER, 4096, 1024, 8, 512, 1, 4, 32, 250000, 500, 4000, 5e-4, 1},
    {"tinystories-llama", "the paper's 4-head Llama baseline (paper Sec. 9.4)",
     MMIX_ARCH_LLAMA, 4096, 512, 8, 512, 1, 4, 32, 250000, 500, 4000, 2e-4, 1},
    {"fineweb-mixer", "the paper's FineWeb-edu mixer (paper Sec. 4): global batch 128, 200k steps",
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
    long long grad_accum;       /* micro-batches of `batch` rows per optimizer step */
    long long eval_every, save_every, eval_rows, log_every;
    double lr, weight_decay, clip;
    int shuffle, schedule;      /* schedule: 0 linear, 1 constant */
    int skip_nonfinite;         /* a step with a NaN or Inf loss or gradient is skipped, not fatal */
} train_settings;

/* Where a run is, beside its optimizer: what a checkpoint saves and a resumed run restores. */
typedef struct train_position {
    long long data_position;    /* rows served so far */
    double interval_loss;       /* the sum of the step losses since the last evaluation, */
    long long interval_n;       /* over this many steps */
    double elapsed;             /* seconds of the run before this process */
    long long skipped;          /* steps skipped for a non-finite loss or gradient */
} train_position;

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
/* ---- Data parallel (make mpi: MMIX_USE_MPI) ----
   The paper trained on 4 GPUs with data parallelism (paper Sec. 9.5). Built with MPI, each
   process (rank) of `mpirun -np N mm-mpi train ...` holds the whole model and takes its
   share of every batch: --batch B is the global micro-batch, split into N slices of B/N rows
   (slice r of each micro-batch to rank r), so N ranks see exactly the rows one process with
   --batch B sees. The counted-target totals and the gradient sums are all-reduced over the
   flat gradient buffer, each rank's loss weighted by its share of the global count, so the
   step is the token-weighted mean over the global batch whatever the pads per rank; the clip
   norm is then taken on the summed gradient and every rank takes the same AdamW step. Rank 0
   alone prints and writes files. A collective that waits longer than MM_RANK_TIMEOUT seconds
   (default 300) ends the rank with a message, so a rank that hangs or dies cannot hang the
   others forever (mpirun also ends the job when one rank exits with an error). Without MPI
   these functions are those of a world of one. */
typedef struct dist_world {
    int rank, size;
    unsigned timeout;           /* seconds a collective may wait */
} dist_world;
static dist_world world = {0, 1, 300};

#ifdef MMIX_USE_MPI
static void on_rank_timeout(int sig) {
    static const char msg[] = "mm: no word from the other ranks within MM_RANK_TIMEOUT seconds "
                              "(did one die or hang?); this rank stops\n";
    (void)sig;
    if (write(2, msg, sizeof msg - 1) < 0) _exit(3);
    _exit(3);
}
/* Every collective goes through here: armed with the watchdog, and a failure (the error
   handler returns codes) becomes an error on ctx. */
static int dist_check(mmix_ctx *ctx, int code, const char *what) {
    alarm(0);
    if (code == MPI_SUCCESS) return 1;
    if (ctx) mmix_set_error(ctx, MMIX_ERR_IO, "rank %d: MPI %s failed (code %d)", world.rank, what, code);
    return 0;
}
#endif

/* MPI_Init and the world's size and rank; ranks above 0 print nothing on standard output. */
static int dist_init(int *argc, char ***argv) {
#ifdef MMIX_USE_MPI
    const char *timeout = getenv("MM_RANK_TIMEOUT");
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "mm: MPI_Init failed\n");
        return 0;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world.size);
    if (timeout && atoi(timeout) > 0) world.timeout = (unsigned)atoi(timeout);
    signal(SIGALRM, on_rank_timeout);
    if (world.rank != 0 && !freopen("/dev/null", "w", stdout)) return 0;
#else
    (void)argc, (void)argv;
#endif
    return 1;
}
/* The end of a rank: MPI_Finalize after success; after an error, MPI_Abort, which ends the
   other ranks too (they may be waiting in a collective this rank will never join). */
static void dist_finish(int rc) {
#ifdef MMIX_USE_MPI
    if (rc != 0 && rc != 130 && world.size > 1) MPI_Abort(MPI_COMM_WORLD, rc);
    MPI_Finalize();
#else
    (void)rc;
#endif
}
/* Sums x[0..n) over the ranks, in place, in chunks MPI's int counts can hold. */
static int dist_sum_floats(mmix_ctx *ctx, float *x, int64_t n) {
#ifdef MMIX_USE_MPI
    int64_t at;
    if (world.size == 1) return 1;
    for (at = 0; at < n; at += (int64_t)1 << 30) {
        int part = (int)(n - at < ((int64_t)1 << 30) ? n - at : (int64_t)1 << 30);
        alarm(world.timeout);
        if (!dist_check(ctx, MPI_Allreduce(MPI_IN_PLACE, x + at, part, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
                        "all-reduce of the gradients"))
            return 0;
    }
#else
    (void)ctx, (void)x, (void)n;
#endif
    return 1;
}
static int dist_sum_doubles(mmix_ctx *ctx, double *x, int n) {
#ifdef MMIX_USE_MPI
    if (world.size == 1) return 1;
    alarm(world.timeout);
    return dist_check(ctx, MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "all-reduce");
#else
    (void)ctx, (void)x, (void)n;
    return 1;
#endif
}
static int dist_sum_int64(mmix_ctx *ctx, int64_t *x, int n) {
#ifdef MMIX_USE_MPI
    if (world.size == 1) return 1;
    alarm(world.timeout);
    return dist_check(ctx, MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD), "all-reduce");
#else
    (void)ctx, (void)x, (void)n;
    return 1;
#endif
}
/* 1 when `ok` holds on every rank (0 with ctx's error set when it does not hold here, or
   with "another rank failed" when it fails elsewhere). */
static int dist_all(mmix_ctx *ctx, int ok) {
    int64_t failed = !ok;
    if (!dist_sum_int64(ctx, &failed, 1)) return 0;
    if (failed && ok) mmix_set_error(ctx, MMIX_ERR_IO, "another rank failed (its message is above)");
    return failed == 0;
}
/* 1 when every rank holds the same `h`: the largest h and the largest ~h (the smallest h)
   both equal this rank's exactly when all are equal, so every rank reaches the same answer. */
static int dist_same(mmix_ctx *ctx, uint64_t h) {
#ifdef MMIX_USE_MPI
    uint64_t v[2];
    v[0] = h;
    v[1] = ~h;
    if (world.size == 1) return 1;
    alarm(world.timeout);
    if (!dist_check(ctx, MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD), "all-reduce"))
        return 0;
    return v[0] == h && v[1] == ~h;
#else
    (void)ctx, (void)h;
    return 1;
#endif
}
/* Rank 0 first: the others wait at `before` until rank 0 reaches `after` (files that every
   rank would otherwise write at once, such as the tokenized cache). */
static void dist_rank0_first(int before) {
#ifdef MMIX_USE_MPI
    if (world.size > 1 && (before ? world.rank != 0 : world.rank == 0)) {
        alarm(world.timeout);
        dist_check(NULL, MPI_Barrier(MPI_COMM_WORLD), "barrier");
    }
#else
    (void)before;
#endif
}

static volatile sig_atomic_t stop_requested = 0;
static void on_stop_signal(int sig) {
    stop_requested = 1;
    signal(sig, SIG_DFL);
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

/* Where a run's data comes from, as state-file metadata (written with every checkpoint). */
static void source_meta(const train_source *src, meta_list *meta) {
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
}

/* --resume STATE: the settings, data source and weights name of the run it continues. */
static int read_resume_state(mmix_ctx *ctx, const char *resume, train_settings *t, train_source *src,
                             train_position *pos, char *weights, uint64_t *weights_hash) {
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
         meta_ll(ctx, &st, "train_data_position", &pos->data_position);
    t->grad_accum = 1;
    if (ok && mmix_safetensors_meta(&st, "train_grad_accum")) ok = meta_ll(ctx, &st, "train_grad_accum", &t->grad_accum);
    w = mmix_safetensors_meta(&st, "train_weights");
    if (ok && (!w || t->batch < 1 || t->batch > 4096 || t->steps < 1 || t->grad_accum < 1 || t->grad_accum > 4096 ||
               !path_beside(resume, w, weights))) {
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
                 meta_number(ctx, &st, "train_interval_loss", &pos->interval_loss) &&
                 meta_ll(ctx, &st, "train_interval_steps", &pos->interval_n) &&
                 meta_number(ctx, &st, "train_elapsed_seconds", &pos->elapsed);
        meta_text(&st, "train_weights_fnv1a", text, sizeof text);
        *weights_hash = text[0] ? strtoull(text, NULL, 16) : 0;
        t->skip_nonfinite = mmix_safetensors_meta(&st, "train_skip_nonfinite") != NULL;
        if (ok && t->skip_nonfinite) ok = meta_ll(ctx, &st, "train_skipped_nonfinite", &pos->skipped);
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


/* ==== the training loop: any task, given its batches and its loss ==== */

/* The rows a task trains or evaluates on, and how to make a batch of some of them. The
   loop picks the rows (shuffled per epoch); the source turns them into tensors. */
typedef struct batch_source batch_source;
struct batch_source {
    int64_t n;                  /* rows */
    int64_t row_tokens;         /* tokens per row, for "tokens seen" and tokens/s */
    /* The batch of these rows, in the step arena (NULL with the error set). `draw` numbers
       the batch: a source that draws at random (retrieval's negatives) seeds from it, so a
       resumed run draws the same again (the data position in training, the first row in
       evaluation). */
    mmix_tensor *(*batch)(mmix_ctx *ctx, const batch_source *s, const int64_t *rows, int64_t n, uint64_t draw);
    /* How many targets the loss of these rows averages over: its weight in a mean of batches. */
    int64_t (*counted)(const batch_source *s, const int64_t *rows, int64_t n);
    const void *user;
};
/* A loss: the mean over the counted targets of a batch, a scalar on the tape. `model` is the
   job's (an mmix_model, or the indirect retrieval model). */
typedef mmix_tensor *(*loss_fn)(mmix_ctx *ctx, const void *model, mmix_tensor *batch, const void *user);
/* Writes the job's weights to path; 0 with the error set. */
typedef int (*save_fn)(mmix_ctx *ctx, const void *model, const char *path, const void *user);

/* Language modelling on token rows: the batch is the rows, the loss the causal-LM loss,
   the targets counted those that are not the pad. */
typedef struct lm_rows {
    const int32_t *rows;        /* [n x len] */
    int64_t len;
    int32_t pad;                /* -1: none */
    const mmix_model *model;    /* whose objective counts the targets */
} lm_rows;
static mmix_tensor *lm_batch(mmix_ctx *ctx, const batch_source *s, const int64_t *rows, int64_t n, uint64_t draw) {
    const lm_rows *lm = (const lm_rows *)s->user;
    (void)draw;
    return batch_tensor(ctx, lm->rows, rows, n, lm->len);
}
static int64_t lm_counted(const batch_source *s, const int64_t *rows, int64_t n) {
    const lm_rows *lm = (const lm_rows *)s->user;
    int64_t r, c = 0;
    for (r = 0; r < n; r++) c += mmix_model_counted_targets(lm->model, lm->rows + rows[r] * lm->len, 1, lm->len, lm->pad);
    return c;
}
static mmix_tensor *lm_loss(mmix_ctx *ctx, const void *model, mmix_tensor *batch, const void *user) {
    return mmix_model_loss(ctx, (const mmix_model *)model, batch, ((const lm_rows *)user)->pad, NULL);
}
/* A language model's weights, with the pad id of its rows (user: the train_settings). */
static int lm_save(mmix_ctx *ctx, const void *model, const char *path, const void *user) {
    return mmix_model_save(ctx, (const mmix_model *)model, path, (int32_t)((const train_settings *)user)->pad) == MMIX_OK;
}
static batch_source lm_source(const lm_rows *lm, int64_t n) {
    batch_source s;
    s.n = n;
    s.row_tokens = lm->len;
    s.batch = lm_batch;
    s.counted = lm_counted;
    s.user = lm;
    return s;
}

/* The token-weighted mean loss over all of a source's rows, in batches; NaN when no
   target counts. */
static int evaluate(mmix_ctx *ctx, const void *m, const batch_source *src, loss_fn loss_of,
                    const void *loss_user, int64_t batch, double *out) {
    double sum = 0.0;
    int64_t counted = 0, r0, idx[4096], k;
    int was_training = mmix_is_training(ctx), had_grad = mmix_grad_enabled(ctx);
    mmix_set_training(ctx, 0);
    mmix_set_grad_enabled(ctx, 0);
    for (r0 = (int64_t)world.rank * batch; r0 < src->n; r0 += (int64_t)world.size * batch) {   /* batches by turns */
        int64_t nb = src->n - r0 < batch ? src->n - r0 : batch, c;
        mmix_tensor *ids, *loss;
        for (k = 0; k < nb; k++) idx[k] = r0 + k;
        ids = src->batch(ctx, src, idx, nb, (uint64_t)r0);
        c = ids ? src->counted(src, idx, nb) : 0;
        loss = c > 0 ? loss_of(ctx, m, ids, loss_user) : NULL;
        if (loss) sum += (double)mmix_tensor_item(loss, 0) * (double)c, counted += c;
        mmix_step_reset(ctx);
        if (!ids || (c > 0 && !loss)) break;
    }
    mmix_set_training(ctx, was_training);
    mmix_set_grad_enabled(ctx, had_grad);
    if (!dist_all(ctx, mmix_last_result(ctx) == MMIX_OK)) return 0;
    if (!dist_sum_doubles(ctx, &sum, 1) || !dist_sum_int64(ctx, &counted, 1)) return 0;   /* the ranks' shares */
    *out = counted ? sum / (double)counted : NAN;
    return 1;
}

/* One optimizer step's gradient over grad_accum micro-batches of `batch` rows each, as if
   they were one batch: each micro-batch's mean loss is weighted by its share of the step's
   counted targets, and the gradients add up (mmix_backward accumulates until
   mmix_zero_grad), so the step sees the token-weighted mean over all of them, not a mean
   of means. Dropout (GPT-1's) draws from the run's seed and (optimizer step, micro-batch),
   so each forward has its own masks and a resumed run draws the same ones again. Returns
   the step's loss, or NaN with the error set. */
static double accumulate_gradient(mmix_ctx *ctx, mmix_params *params, const void *m, const batch_source *src,
                                  loss_fn loss_of,
                                  const void *loss_user, const int64_t *rows, int64_t batch, int64_t n_micro,
                                  int64_t *counts, uint64_t seed, int64_t step, uint64_t first_position,
                                  int64_t draw_stride) {
    int64_t k, total = 0;
    double step_loss = 0.0;
    for (k = 0; k < n_micro; k++) total += counts[k] = src->counted(src, rows + k * batch, batch);
    if (!dist_sum_int64(ctx, &total, 1)) return NAN;   /* data parallel: shares of the global count */
    mmix_zero_grad(ctx, params);
    for (k = 0; k < n_micro; k++) {
        mmix_tensor *ids, *loss;
        float share;
        /* rows whose targets are all pads add nothing; when none counts at all, the loss
           itself says so (no position to average over) */
        if (counts[k] == 0 && total > 0) continue;
        share = total > 0 ? (float)((double)counts[k] / (double)total) : 1.0f;   /* 1 with one micro-batch */
        mmix_set_dropout_step(ctx, seed, (uint64_t)step * (uint64_t)n_micro + (uint64_t)k);
        ids = src->batch(ctx, src, rows + k * batch, batch, first_position + (uint64_t)(k * draw_stride));
        loss = ids ? loss_of(ctx, m, ids, loss_user) : NULL;
        if (!loss || mmix_backward_from(ctx, loss, &share) != MMIX_OK) return NAN;
        step_loss += (double)mmix_tensor_item(loss, 0) * (double)share;
        if (k + 1 < n_micro) mmix_step_reset(ctx);   /* the gradients are kept; the activations are not */
    }
    /* every rank's weighted gradient adds up to the global batch's (one all-reduce over the
       flat buffer; the shares already divided by the global count) */
    if (!dist_sum_floats(ctx, params->grad, params->numel) || !dist_sum_doubles(ctx, &step_loss, 1)) return NAN;
    return step_loss;
}

/* What train_loop runs: a model and its optimizer, the settings, the data and the loss,
   and where the run's files go. The loop sees the model only through its parameter set
   (zeroed, clipped and stepped), the loss and the save callback, so a language model and
   the indirect retrieval model share it. */
typedef struct train_job {
    const void *model;                  /* what the loss and the save read */
    mmix_params *params;                /* what the optimizer trains */
    mmix_adamw *opt;
    const train_settings *t;
    const batch_source *train, *val;    /* val->n == 0: no validation */
    loss_fn loss;
    const void *loss_user;
    save_fn save_weights;               /* the weights file (the state records its hash) */
    const void *save_user;
    const char *save;                   /* the weights; the state, CSV and plot go beside them */
    const char *title;                  /* the plot's */
    const meta_list *source;            /* where the data comes from, for the state file */
    train_position *pos;                /* restored by a resumed run */
    eval_log *log;                      /* the evaluations so far, appended to */
    int evaluate_first;                 /* a new run: the step-0 evaluation, the "before" of the plot */
} train_job;

/* A job's run and files; the caller adds the data and the loss. */
static train_job train_job_of(const void *model, mmix_params *params, mmix_adamw *opt, const train_settings *t,
                              train_position *pos, eval_log *log, const char *save, const char *title,
                              const meta_list *source, int evaluate_first) {
    train_job job;
    memset(&job, 0, sizeof job);
    job.model = model;
    job.params = params;
    job.opt = opt;
    job.t = t;
    job.pos = pos;
    job.log = log;
    job.save = save;
    job.title = title;
    job.source = source;
    job.evaluate_first = evaluate_first;
    return job;
}

/* MM_TEST_SAVE_PAUSE_MS=N (test-only, tests/test_cli_faults.sh): sleep N ms at each step of
   save_checkpoint, so that a kill at a random moment often lands inside a checkpoint. */
static void test_pause(void) {
    static long ms = -1;
    if (ms < 0) {
        const char *v = getenv("MM_TEST_SAVE_PAUSE_MS");
        ms = v ? strtol(v, NULL, 10) : 0;
        if (ms < 0) ms = 0;
    }
#ifndef _WIN32
    if (ms > 0) {
        struct timespec ts;
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    }
#endif
}

/* A checkpoint is a pair, the weights OUT.safetensors and the state OUT.state.safetensors
   (optimizer, schedule, data position, where the data comes from, and the FNV-1a of the
   weights it goes with), committed as a unit so that a kill at any moment leaves a pair
   that resumes:
     1. the new weights are written to OUT.next.safetensors;
     2. the new state is written over OUT.state.safetensors: this rename is the commit;
     3. OUT.next.safetensors is renamed over OUT.safetensors.
   Every file is itself written to NAME.tmp, synced and renamed, so none is ever half
   written under its own name. Before 2 the previous pair is whole and untouched (a failed
   write, a full disk, leaves it so); between 2 and 3 the state names weights still under
   OUT.next.safetensors, and pair_weights finishes step 3. */
static int save_checkpoint(mmix_ctx *ctx, const train_job *job, double elapsed) {
    const train_settings *t = job->t;
    const train_position *pos = job->pos;
    const meta_list *source = job->source;
    const char *save = job->save;
    char state_path[PATH_CAP], next_path[PATH_CAP];
    uint64_t weights_hash = 0;
    meta_list *meta = (meta_list *)calloc(1, sizeof *meta);
    int64_t i;
    int ok;
    if (!meta) {
        mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "saving: out of memory");
        return 0;
    }
    companion_path(save, ".state.safetensors", state_path);
    companion_path(save, ".next.safetensors", next_path);
    test_pause();
    ok = job->save_weights(ctx, job->model, next_path, job->save_user);
    if (ok && !file_fnv1a(next_path, &weights_hash)) {
        mmix_set_error(ctx, MMIX_ERR_IO, "cannot read back '%s'", next_path);
        ok = 0;
    }
    test_pause();
    meta_add(meta, "train_steps", "%lld", t->steps);
    meta_add(meta, "train_batch", "%lld", t->batch);
    if (t->grad_accum != 1) meta_add(meta, "train_grad_accum", "%lld", t->grad_accum);   /* absent: 1 */
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
    meta_add(meta, "train_data_position", "%lld", pos->data_position);
    meta_add(meta, "train_interval_loss", "%.17g", pos->interval_loss);   /* the next evaluation's training loss */
    meta_add(meta, "train_interval_steps", "%lld", pos->interval_n);
    meta_add(meta, "train_elapsed_seconds", "%.3f", elapsed);
    meta_add(meta, "train_weights", "%s", base_name(save));
    meta_add(meta, "train_weights_fnv1a", "%016llx", (unsigned long long)weights_hash);
    if (t->skip_nonfinite) {   /* absent: 0, 0 */
        meta_add(meta, "train_skip_nonfinite", "1");
        meta_add(meta, "train_skipped_nonfinite", "%lld", pos->skipped);
    }
    for (i = 0; i < source->n; i++) meta_add(meta, source->keys[i], "%s", source->vals[i]);
    ok = ok && mmix_adamw_save(ctx, job->opt, state_path, meta->keys, meta->vals, meta->n) == MMIX_OK;
    if (!ok) remove(next_path);   /* not committed: no state names it */
    if (ok) test_pause();
    ok = ok && mmix_replace_file(ctx, next_path, save) == MMIX_OK;   /* if not, pair_weights will */
    free(meta);
    return ok;
}

/* The weights a state goes with: `weights` when its FNV-1a is the recorded one, else the
   OUT.next.safetensors of a run stopped between steps 2 and 3 of save_checkpoint, renamed
   into place (finishing that checkpoint). 0 after a message. */
static int pair_weights(const char *state, const char *weights, uint64_t hash) {
    char next[PATH_CAP];
    uint64_t h = 0;
    if (!hash) return 1;   /* a state from before the hash was recorded */
    if (file_fnv1a(weights, &h) && h == hash) return 1;
    if (companion_path(weights, ".next.safetensors", next) && file_fnv1a(next, &h) && h == hash) {
        if (rename(next, weights) == 0) {
            fprintf(stderr, "%s: finished the checkpoint a stopped run left: %s -> %s\n", command_name, next, weights);
            return 1;
        }
        fprintf(stderr, "%s: cannot rename %s to %s: %s\n", command_name, next, weights, strerror(errno));
        return 0;
    }
    fprintf(stderr, "%s: %s is not the weights %s was saved with (a run stopped between the two writes?)\n",
            command_name, weights, state);
    return 0;
}

/* MM_TEST_NONFINITE=STEP:NAME (test-only, tests/test_cli_faults.sh): at optimizer step STEP
   (1-based), the first gradient value of the parameter NAME (or the loss, NAME "loss")
   becomes NaN, as a diverging run would make it; once a process. */
static void test_nonfinite(const mmix_params *params, long long step, double *loss) {
    static int done = 0;
    const char *v = getenv("MM_TEST_NONFINITE"), *colon = v ? strchr(v, ':') : NULL;
    mmix_tensor *p;
    if (done || !colon || strtoll(v, NULL, 10) != step) return;
    done = 1;
    if (strcmp(colon + 1, "loss") == 0) *loss = NAN;
    else if ((p = mmix_params_find(params, colon + 1)) != NULL && p->grad) p->grad[0] = NAN;
}

/* Whether step `step` has a NaN or Inf loss or gradient. If so the error names the step and
   the first parameter (in the set's order) whose gradient is not finite, and returns 1;
   else clips the gradients (*norm: their norm) and returns 0. */
static int nonfinite_step(mmix_ctx *ctx, const train_job *job, long long step, double loss, double *norm) {
    const char *what = job->t->skip_nonfinite ? "skipped" : "stopped; the last checkpoint is the last good one";
    int64_t i, j;
    if (!isfinite(loss)) {
        mmix_set_error(ctx, MMIX_ERR_NUMERIC, "step %lld: the loss is %g: %s", step, loss, what);
        return 1;
    }
    if (mmix_clip_grad_norm(ctx, job->params, (float)job->t->clip, norm) == MMIX_OK) return 0;
    if (mmix_last_result(ctx) != MMIX_ERR_NUMERIC) return 1;
    for (i = 0; i < job->params->count; i++) {   /* the gradients are on the host (mm runs on the CPU) */
        const mmix_tensor *p = job->params->tensors[i];
        for (j = 0; p->grad && j < p->n; j++)
            if (!isfinite(p->grad[j])) {
                mmix_set_error(ctx, MMIX_ERR_NUMERIC, "step %lld: the gradient of %s is %g at [%lld]: %s", step,
                               p->name, (double)p->grad[j], (long long)j, what);
                return 1;
            }
    }
    mmix_set_error(ctx, MMIX_ERR_NUMERIC, "step %lld: the gradient norm is not finite: %s", step, what);
    return 1;
}

/* Test only (tests/test_mpi.sh): MM_TEST_RANK_FAULT=kill:R:S or hang:R:S makes rank R die
   by SIGKILL, or stop answering, before step S, to show that the other ranks then end. */
static void rank_fault_test(const char *fault, long long step) {
#ifdef MMIX_USE_MPI
    char what[8];
    int rank;
    long long at;
    if (!fault || sscanf(fault, "%7[a-z]:%d:%lld", what, &rank, &at) != 3 || rank != world.rank || at != step) return;
    if (strcmp(what, "kill") == 0) raise(SIGKILL);
    if (strcmp(what, "hang") == 0)
        for (;;) pause();
#else
    (void)fault, (void)step;
#endif
}

/* A checkpoint in data-parallel training: rank 0 writes it, once the ranks' weights are seen
   to be the same bits (they take identical steps from identical sums; ranks on machines whose
   arithmetic differs would drift apart, which this catches at the first save). */
static int save_by_rank0(mmix_ctx *ctx, const train_job *job, double elapsed) {
    if (world.size > 1) {
        uint64_t h = 1469598103934665603ULL;   /* FNV-1a over the weights' bytes */
        const unsigned char *b = (const unsigned char *)job->params->data;
        size_t i, n = (size_t)job->params->numel * sizeof(float);
        for (i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
        if (!dist_same(ctx, h)) {
            if (mmix_last_result(ctx) == MMIX_OK)
                mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "the ranks' weights differ at step %lld (do all "
                               "ranks run the same binary on the same kind of CPU?)", (long long)job->opt->step);
            return 0;
        }
    }
    return dist_all(ctx, world.rank != 0 || save_checkpoint(ctx, job, elapsed));
}

/* The run: the schedule, a progress line, evaluations logged to the CSV and the plot,
   checkpoints, and Ctrl-C. Returns 0 when the run (or this session of it) ended, 130 when
   interrupted (both saved), 1 on an error (set on ctx). */
static int train_loop(mmix_ctx *ctx, train_job *job) {
    const train_settings *t = job->t;
    train_position *pos = job->pos;
    mmix_adamw *opt = job->opt;
    const int64_t rows_per_step = t->batch * t->grad_accum;
    const long long step_tokens = t->batch * t->grad_accum * job->train->row_tokens;
    char csv_path[PATH_CAP], svg_path[PATH_CAP], state_path[PATH_CAP], clock_a[32], clock_b[32];
    int64_t *order = (int64_t *)malloc((size_t)job->train->n * sizeof(int64_t)), order_epoch = -1, r;
    int64_t *idx = (int64_t *)malloc((size_t)rows_per_step * sizeof(int64_t));
    int64_t *counts = (int64_t *)malloc((size_t)t->grad_accum * sizeof(int64_t));
    const int64_t slice = t->batch / world.size;   /* this rank's rows of each micro-batch */
    int64_t *mine = (int64_t *)malloc((size_t)(slice * t->grad_accum + 1) * sizeof(int64_t)), k;
    double start_time = mmix_time_seconds(), train_seconds = 0.0, last_draw = 0.0;
    long long first_step = opt->step, skipped_in_a_row = 0;
    const char *fault = getenv("MM_TEST_RANK_FAULT");
    int tty = stdout_is_terminal(), opened_line = 0, rc = 1;
    if (!order || !idx || !counts || !mine) {
        mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "out of memory for the row order");
        goto done;
    }
    if (t->batch % world.size != 0) {
        mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "--batch %lld does not split into %d ranks' equal slices",
                       t->batch, world.size);
        goto done;
    }
    companion_path(job->save, ".log.csv", csv_path);   /* fits: --save was checked to leave room for a suffix */
    companion_path(job->save, ".loss.svg", svg_path);
    companion_path(job->save, ".state.safetensors", state_path);
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    print_blas_note(stderr);
    if (job->evaluate_first && job->val->n > 0) {
        eval_record e = {0, 0, NAN, NAN, 0.0, 0.0};
        if (!evaluate(ctx, job->model, job->val, job->loss, job->loss_user, t->batch, &e.val_loss) ||
            !eval_log_push(job->log, e) ||
            !dist_all(ctx, world.rank != 0 || eval_log_write(ctx, job->log, csv_path, svg_path, job->title)))
            goto done;
        printf("eval step 0 tokens 0 val-loss %.6f\n", e.val_loss);
        fflush(stdout);
    }
    while (opt->step < t->stop_at) {
        double norm = 0.0, t0 = mmix_time_seconds(), now, step_loss;
        long long step, first_position = pos->data_position;
        int64_t stop = stop_requested;
        float lr = mmix_schedule_lr(t->schedule ? MMIX_SCHEDULE_CONSTANT : MMIX_SCHEDULE_LINEAR, (float)t->lr,
                                    opt->step, t->warmup, t->steps);
        rank_fault_test(fault, opt->step);
        if (!dist_sum_int64(ctx, &stop, 1)) goto done;   /* a signal to any rank stops all at the same step */
        if (stop) {
            stop_requested = 1;
            break;
        }
        for (r = 0; r < rows_per_step; r++, pos->data_position++) { /* the data position counts rows served */
            int64_t epoch = pos->data_position / job->train->n;
            if (epoch != order_epoch) {
                epoch_order(order, job->train->n, (uint64_t)t->seed, epoch, t->shuffle);
                order_epoch = epoch;
            }
            idx[r] = order[pos->data_position % job->train->n];
        }
        for (k = 0; k < t->grad_accum * slice; k++)   /* slice `rank` of each micro-batch */
            mine[k] = idx[(k / slice) * t->batch + world.rank * slice + k % slice];
        step_loss = accumulate_gradient(ctx, job->params, job->model, job->train, job->loss, job->loss_user, mine,
                                        slice, t->grad_accum, counts, (uint64_t)t->seed, opt->step,
                                        (uint64_t)(first_position + world.rank * slice), t->batch);
        if (mmix_last_result(ctx) != MMIX_OK) goto done;
        test_nonfinite(job->params, opt->step + 1, &step_loss);
        if (nonfinite_step(ctx, job, opt->step + 1, step_loss, &norm)) {
            if (!t->skip_nonfinite || ++skipped_in_a_row > 100) goto done;   /* the last checkpoint stays */
            fprintf(stderr, "%s: %s\n", command_name, mmix_last_error(ctx));
            mmix_clear_error(ctx);
            pos->skipped++;
            mmix_step_reset(ctx);
            continue;
        }
        skipped_in_a_row = 0;
        if (mmix_adamw_step(ctx, opt, lr) != MMIX_OK) goto done;
        step = opt->step;
        pos->interval_loss += step_loss;
        pos->interval_n++;
        mmix_step_reset(ctx);
        now = mmix_time_seconds();
        train_seconds += now - t0;

        /* progress: tokens/s and time left from this run's training steps alone */
        if ((tty && (now - last_draw > 0.2 || step == t->stop_at)) ||
            (!tty && (step % t->log_every == 0 || step == t->stop_at))) {
            double per_step = train_seconds / (double)(step - first_step);
            printf("%sstep %lld/%lld loss %.6f lr %.3g grad-norm %.4g %.0f tok/s elapsed %s left %s%s",
                   tty ? "\r" : "", step, t->steps, step_loss, (double)lr, norm, (double)step_tokens / per_step,
                   clock_text(pos->elapsed + now - start_time, clock_a),
                   clock_text(per_step * (double)(t->stop_at - step), clock_b), tty ? "\x1b[K" : "\n");
            fflush(stdout);
            opened_line = tty;
            last_draw = now;
        }
        if (step % t->eval_every == 0 || step == t->steps) {
            eval_record e;
            e.step = step;
            e.tokens = step * step_tokens;
            e.train_loss = pos->interval_loss / (double)pos->interval_n;
            e.val_loss = NAN;
            e.lr = (double)lr;
            e.seconds = pos->elapsed + now - start_time;
            if ((job->val->n > 0 &&
                 !evaluate(ctx, job->model, job->val, job->loss, job->loss_user, t->batch, &e.val_loss)) ||
                !eval_log_push(job->log, e) ||
                !dist_all(ctx, world.rank != 0 || eval_log_write(ctx, job->log, csv_path, svg_path, job->title)))
                goto done;
            printf("%seval step %lld tokens %lld train-loss %.6f", opened_line ? "\n" : "", step, e.tokens,
                   e.train_loss);
            if (job->val->n > 0) printf(" val-loss %.6f", e.val_loss);
            printf("\n");
            fflush(stdout);
            opened_line = 0;
            pos->interval_loss = 0.0;
            pos->interval_n = 0;
        }
        if (step % t->save_every == 0 && step != t->stop_at &&
            !save_by_rank0(ctx, job, pos->elapsed + mmix_time_seconds() - start_time))
            goto done;
    }
    if (opened_line) printf("\n");
    if (!save_by_rank0(ctx, job, pos->elapsed + mmix_time_seconds() - start_time)) goto done;
    if (pos->skipped) printf("skipped %lld step(s) with a non-finite loss or gradient (--skip-nonfinite)\n", pos->skipped);
    if (stop_requested) {
        printf("interrupted after step %lld of %lld: saved %s and %s; continue with %s --resume %s\n",
               (long long)opt->step, t->steps, job->save, state_path, command_name, state_path);
        rc = 130;
    } else {
        printf("saved %s and %s\n", job->save, state_path);
        rc = 0;
    }
done:
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    free(order);
    free(idx);
    free(counts);
    free(mine);
    return rc;
}

/* ---- mm train ---- */

static const opt_spec train_model_opts[] = {
    {"--preset", OPT_TEXT, "NAME", NULL, 0, 0, "a configuration by name (below); the flags override its settings"},
    {"--arch", OPT_CHOICE, arch_choices, NULL, 0, 0,
     "a new model of this architecture (below); with --init, the one a file that fits several loads as"},
    {"--init", OPT_TEXT, "W.safetensors", NULL, 0, 0, "start from these weights"},
    {"--resume", OPT_TEXT, "STATE", NULL, 0, 0, "continue the run of OUT.state.safetensors, bit for bit"},
    {"--vocab", OPT_INT, "V", NULL, 1, MAX_SIZE, "the model's vocabulary with --tokens; the tokenizer's to learn with --data"},
    {"--dropout", OPT_NUM, "P", NULL, 0, 0.99, "dropout while training a new GPT-1 (default: the architecture's, 0.1)"},
    {"--seed", OPT_INT, "S", "0", 0, NO_MAX, "the initialization and the shuffle"},
    {"--list-archs", OPT_FLAG, NULL, NULL, 0, 0, "print every architecture, its paper section and defaults, and exit"},
    OPT_END};
/* The sizes of a new, untrained model (new_model reads them): mm train's and mm invert's. */
static const opt_spec new_model_opts[] = {
    {"--dim", OPT_INT, "D", NULL, 1, MAX_SIZE, "width of a new model"},
    {"--depth", OPT_INT, "N", NULL, 1, MAX_SIZE, "blocks of a new model (the paper's Fig. 3: 8)"},
    {"--ctx", OPT_INT, "L", NULL, 2, MAX_SIZE, "window of a new model (mm train --data: also the rows' length)"},
    {"--kernel", OPT_INT, "K", NULL, 1, MAX_SIZE, "the token-mixing kernel of a new model (default 1)"},
    {"--expansion", OPT_INT, "E", NULL, 1, 64, "inner tokens per token of a new expanded mixer (default: the architecture's)"},
    OPT_END};
static const opt_spec train_opts[] = {   /* the paper's recipe (paper Sec. 9.5): AdamW, warmup, linear decay */
    {"--save", OPT_TEXT, "OUT.safetensors", NULL, 0, 0, "the weights; the run's other files go beside them"},
    {"--steps", OPT_INT, "T", NULL, 1, MAX_STEPS, "optimizer steps (required without a preset)"},
    {"--batch", OPT_INT, "B", NULL, 1, 4096, "rows per micro-batch (required without a preset)"},
    {"--grad-accum", OPT_INT, "N", "1", 1, 4096,
     "micro-batches per step: one step sees N x B rows, as one batch N times as large"},
    {"--lr", OPT_NUM, "LR", NULL, 0, MAX_FLOAT, "the peak learning rate (default: the preset's, else the architecture's)"},
    {"--warmup", OPT_INT, "W", NULL, 0, MAX_STEPS, "warmup steps (default min(500, T/10))"},
    {"--schedule", OPT_CHOICE, "linear|constant", "linear", 0, 0, "after the warmup: decay to 0 at T, or keep lr"},
    {"--weight-decay", OPT_NUM, "WD", "0", 0, MAX_FLOAT, "AdamW's decoupled weight decay"},
    {"--clip", OPT_NUM, "C", "1.0", 0, MAX_FLOAT, "the gradient norm is clipped to C; 0: no clipping"},
    {"--no-shuffle", OPT_FLAG, NULL, NULL, 0, 0, "rows in file order (default: shuffled per epoch)"},
    {"--reference-masked-grads", OPT_FLAG, NULL, NULL, 0, 0, "the paper code's phantom gradients of masked weights"},
    {"--stop-at", OPT_INT, "S", NULL, 0, MAX_STEPS, "end this session after step S of T (0: evaluate and save only)"},
    {"--skip-nonfinite", OPT_FLAG, NULL, NULL, 0, 0,
     "skip a step whose loss or gradient is NaN or Inf (counted) instead of stopping there"},
    OPT_END};
static const opt_spec progress_opts[] = {
    {"--eval-every", OPT_INT, "N", NULL, 1, MAX_STEPS, "the validation loss every N steps and at the end (default T/10)"},
    {"--save-every", OPT_INT, "N", NULL, 1, MAX_STEPS, "weights and state every N steps and at the end (default --eval-every)"},
    {"--eval-rows", OPT_INT, "N", "0", 0, MAX_SIZE, "validate on the first N rows; 0: all"},
    {"--log-every", OPT_INT, "N", NULL, 1, MAX_STEPS, "a progress line every N steps when not on a terminal (default T/100)"},
    OPT_END};
static const opt_group train_groups[] = {
    {"what to train", train_model_opts}, {"a new model's sizes", new_model_opts}, {"data", data_opts},
    {"training", train_opts},
    {"progress, evaluation, checkpoints", progress_opts}, {"loading (--heads is also a new model's, default 4)", load_opts},
    {"runtime", runtime_opts}, GROUP_END};

static void train_more_help(FILE *out) {
    size_t i;
    char sizes[64];
    fprintf(out, "Files beside OUT: OUT.state.safetensors (optimizer, schedule, data position), OUT.tokenizer.txt,\n"
                 "OUT.log.csv (every evaluation) and OUT.loss.svg (the losses against tokens seen). Ctrl-C saves a\n"
                 "checkpoint after the current step and exits with status 130. A checkpoint is committed as a pair\n"
                 "(OUT.next.safetensors, the state, then the rename), so a run killed at any moment resumes.\n");
    arch_help(out);
    fprintf(out, "Presets:\n");
    for (i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        const train_preset *p = &presets[i];
        fprintf(out, "  %-18s %s\n  %-18s %s V %lld D %lld n %lld L %lld%s, batch %lld, %lld steps, lr %g, %s rows\n",
                p->name, p->about, "", arch_of(p->arch).name, p->vocab, p->dim, p->depth, p->ctx,
                arch_preset_sizes(p->arch, p->kernel, p->heads, sizes, sizeof sizes), p->batch, p->steps, p->lr,
                p->padded ? "padded" : "packed");
    }
}

/* A new model from --arch or --preset and the size flags; vocab from the tokenizer when
   there is one. 0 made, 1 failed (error set), 2 a usage error. */
static int new_model(mmix_ctx *ctx, const args *a, const train_preset *p, long long vocab, long long seed,
                     mmix_model *m) {
    mmix_model_config c;
    mmix_rng rng;
    if (!p && !given(a, "--arch")) return usage_error("a new model needs --arch (or a --preset)");
    c = mmix_model_config_default(!p || given(a, "--arch") ? (mmix_arch)int_arg(a, "--arch") : p->arch);
    if (!p && (!given(a, "--dim") || !given(a, "--depth") || !given(a, "--ctx")))
        return usage_error("a new model needs --dim, --depth and --ctx (or a --preset)");
    c.vocab = vocab;
    c.dim = int_or(a, "--dim", p ? p->dim : 0);
    c.ffn_dim = 4 * c.dim;
    c.depth = int_or(a, "--depth", p ? p->depth : 0);
    c.n_ctx = int_or(a, "--ctx", p ? p->ctx : 0);
    c.kernel = int_or(a, "--kernel", p ? p->kernel : 1);
    c.expansion = int_or(a, "--expansion", c.expansion);
    if (find_opt(a, "--dropout") >= 0 && given(a, "--dropout")) c.dropout = (float)num_arg(a, "--dropout");
    c.heads = int_or(a, "--heads", p ? p->heads : 4);
    if (mmix_model_create(ctx, m, c) != MMIX_OK) return fail(ctx);
    mmix_rng_seed(&rng, (uint64_t)seed);
    mmix_model_init(m, &rng);
    return 0;
}

/* A new run's settings: the flags over the preset over the defaults. 0 after an error. */
static int settings_from_args(const args *a, const train_preset *preset, train_settings *t) {
    t->steps = int_or(a, "--steps", preset ? preset->steps : 0);
    t->batch = int_or(a, "--batch", preset ? preset->batch : 0);
    if (!t->steps || !t->batch) {
        usage_error("--steps and --batch are required");
        return 0;
    }
    t->warmup = int_or(a, "--warmup", preset ? preset->warmup : (t->steps / 10 < 500 ? t->steps / 10 : 500));
    t->eval_every = int_or(a, "--eval-every", preset ? preset->eval_every : (t->steps / 10 > 1 ? t->steps / 10 : 1));
    t->save_every = int_or(a, "--save-every", t->eval_every);
    t->eval_rows = int_arg(a, "--eval-rows");
    t->log_every = int_or(a, "--log-every", t->steps / 100 > 1 ? t->steps / 100 : 1);
    t->grad_accum = int_arg(a, "--grad-accum");
    t->schedule = (int)int_arg(a, "--schedule");
    t->weight_decay = num_arg(a, "--weight-decay");
    t->clip = num_arg(a, "--clip");
    t->shuffle = !given(a, "--no-shuffle");
    t->skip_nonfinite = given(a, "--skip-nonfinite");
    return 1;
}

/* Where a run's rows come from, from the data flags. 0 after an error. */
static int source_from_args(const args *a, const train_preset *preset, train_source *src) {
    static const char *const text_only[] = {"--tokenizer", "--format", "--rows", "--jsonl-field", "--cache",
                                            "--pad-left", "--val-fraction", "--split-seed", NULL};
    int k;
    src->opt = mmix_data_options_default();
    snprintf(src->tokens, PATH_CAP, "%s", given(a, "--tokens") ? text_arg(a, "--tokens") : "");
    snprintf(src->val_tokens, PATH_CAP, "%s", given(a, "--val-tokens") ? text_arg(a, "--val-tokens") : "");
    snprintf(src->data, PATH_CAP, "%s", given(a, "--data") ? text_arg(a, "--data") : "");
    snprintf(src->tokenizer, PATH_CAP, "%s", given(a, "--tokenizer") ? text_arg(a, "--tokenizer") : "");
    snprintf(src->cache, PATH_CAP, "%s", given(a, "--cache") ? text_arg(a, "--cache") : "");
    snprintf(src->jsonl_field, sizeof src->jsonl_field, "%s", text_arg(a, "--jsonl-field"));
    src->opt.jsonl_field = src->jsonl_field;   /* before a tokenizer is learned from the documents */
    parse_format(text_arg(a, "--format"), &src->opt.format);
    src->opt.rows = (given(a, "--rows") ? int_arg(a, "--rows") == 1 : preset && preset->padded) ? MMIX_ROWS_PADDED
                                                                                               : MMIX_ROWS_PACKED;
    src->opt.pad_left = given(a, "--pad-left");
    src->opt.val_fraction = num_arg(a, "--val-fraction");
    src->opt.split_seed = (uint64_t)int_arg(a, "--split-seed");
    if (src->opt.val_fraction >= 1.0) {
        usage_error("--val-fraction must be below 1");
        return 0;
    }
    for (k = 0; !src->data[0] && text_only[k]; k++)
        if (given(a, text_only[k])) {
            usage_error("%s goes with --data (text documents), not with token lines", text_only[k]);
            return 0;
        }
    if (src->opt.pad_left && src->opt.rows != MMIX_ROWS_PADDED) {
        usage_error("--pad-left pads one document per row: it goes with --rows padded");
        return 0;
    }
    if (src->data[0] && src->val_tokens[0]) {   /* --data holds its validation documents out itself */
        usage_error("--val-tokens goes with --tokens; with --data, --val-fraction holds documents out");
        return 0;
    }
    return 1;
}

/* A resumed run keeps its own settings and data: these flags would change them. */
static const char *const fixed_on_resume[] = {
    "--steps", "--batch", "--lr", "--warmup", "--schedule", "--seed", "--eval-every", "--save-every",
    "--eval-rows", "--log-every", "--weight-decay", "--clip", "--data", "--tokenizer", "--format", "--rows",
    "--val-fraction", "--split-seed", "--preset", "--grad-accum", "--skip-nonfinite", NULL};
/* The first flag given that a resumed run refuses: one of mm train's fixed_on_resume that
   the command has, or one of the command's own `more` (NULL-ended, or NULL); NULL: none. */
static const char *changed_on_resume(const args *a, const char *const *more) {
    int k;
    for (k = 0; fixed_on_resume[k]; k++)
        if (find_opt(a, fixed_on_resume[k]) >= 0 && given(a, fixed_on_resume[k])) return fixed_on_resume[k];
    for (k = 0; more && more[k]; k++)
        if (given(a, more[k])) return more[k];
    return NULL;
}

/* A run's optimizer: AdamW with the run's lr and weight decay over `params`; a resumed run's
   moments and step from its state, and its evaluations so far from the CSV beside its
   weights. 0 with the error set. */
static int run_optimizer(mmix_ctx *ctx, mmix_adamw *opt, mmix_params *params, const train_settings *t,
                         const char *resume, const char *weights, eval_log *log) {
    mmix_adamw_config acfg = mmix_adamw_config_default();
    acfg.lr = (float)t->lr;
    acfg.weight_decay = (float)t->weight_decay;
    if (mmix_adamw_init(ctx, opt, params, acfg) != MMIX_OK) return 0;
    if (resume) {
        char old_csv[PATH_CAP];
        if (mmix_adamw_load(ctx, opt, resume) != MMIX_OK) return 0;
        companion_path(weights, ".log.csv", old_csv);
        eval_log_read(old_csv, opt->step, log);
    }
    return 1;
}

static int cmd_train(mmix_ctx *ctx, const args *a) {
    const char *init = text_arg(a, "--init"), *resume = text_arg(a, "--resume"), *save = text_arg(a, "--save");
    const char *preset_name = text_arg(a, "--preset");
    const train_preset *preset = NULL;
    char resume_weights[PATH_CAP] = "";
    char title[PATH_CAP + 128];   /* the plot's: what was trained, how */
    train_settings t;
    train_position pos = {0, 0.0, 0, 0.0, 0};
    train_source *src = (train_source *)calloc(1, sizeof *src);
    meta_list *src_meta = (meta_list *)calloc(1, sizeof *src_meta);
    train_rows rows;
    eval_log log = {NULL, 0, 0};
    lm_rows lm_train, lm_val;
    batch_source train_src, val_src;
    train_job job;
    mmix_model m;
    mmix_adamw opt;
    mmix_bpe *bpe = NULL;
    int32_t file_pad = -1;
    long long vocab = 0;
    uint64_t weights_hash = 0;
    int rc = 1, model_made = 0, made;   /* rc: 1 failed, 2 usage */
    /* with --init, --arch picks what a file whose names fit several architectures loads as */
    int sources = (init != NULL) + (resume != NULL) + ((given(a, "--arch") && !init) || preset_name != NULL);
    memset(&t, 0, sizeof t);
    memset(&rows, 0, sizeof rows);
    if (given(a, "--list-archs")) {
        arch_list(stdout);
        rc = 0;
        goto done;
    }
    if (!src || !src_meta) {
        fprintf(stderr, "%s: out of memory\n", command_name);
        goto done;
    }
    if (preset_name && !(preset = find_preset(preset_name))) {
        rc = usage_error("unknown --preset '%s' (see 'mm train --help')", preset_name);
        goto done;
    }
    if (sources != 1 || !save || (!resume && !given(a, "--tokens") == !given(a, "--data"))) {
        rc = usage_error("give one of --preset/--arch, --init, --resume; one of --data, --tokens; and --save "
                         "(see 'mm train --help')");
        goto done;
    }
    if (strlen(save) >= PATH_CAP - 32) {
        rc = usage_error("--save path is too long");
        goto done;
    }
    make_parent_dirs(save);
    t.seed = int_arg(a, "--seed");
    t.pad = int_or(a, "--pad-id", -1);
    t.stop_at = int_or(a, "--stop-at", -1);
    if (given(a, "--reference-masked-grads")) mmix_set_masked_grad_mode(ctx, MMIX_MASKED_GRADS_REFERENCE);
    if (!source_from_args(a, preset, src)) goto usage;

    /* the settings: a resumed run's own, or the flags over the preset over the defaults */
    if (resume) {
        const char *fixed = changed_on_resume(a, NULL);
        if (fixed) {
            rc = usage_error("a resumed run keeps its own settings and data: drop %s", fixed);
            goto done;
        }
        if (!read_resume_state(ctx, resume, &t, src, &pos, resume_weights, &weights_hash)) goto failed;
        if (given(a, "--tokens")) snprintf(src->tokens, PATH_CAP, "%s", text_arg(a, "--tokens"));
        if (!src->tokens[0] && !src->data[0]) {
            rc = usage_error("%s does not say what it trained on: give --tokens", resume);
            goto done;
        }
        if (!pair_weights(resume, resume_weights, weights_hash)) goto done;
        if (mmix_model_load(ctx, &m, resume_weights, NULL, NULL) != MMIX_OK) goto failed;
        model_made = 1;
    } else if (!settings_from_args(a, preset, &t)) {
        goto usage;
    }
    vocab = int_or(a, "--vocab", preset ? preset->vocab : 0);

    /* the model and the rows; a new model's vocabulary is its tokenizer's */
    if (init) {
        mmix_load_options lo = load_options(a);
        if (mmix_model_load(ctx, &m, init, &lo, &file_pad) != MMIX_OK) goto failed;
        model_made = 1;
        if (src->data[0] && !src->tokenizer[0]) {   /* the tokenizer the weights were trained with */
            if (!companion_path(init, ".tokenizer.txt", src->tokenizer) || !file_exists(src->tokenizer)) {
                fprintf(stderr, "%s: --init with --data needs the model's tokenizer: give --tokenizer\n", command_name);
                goto done;
            }
        }
    }
    if (src->data[0]) {
        int64_t n_ctx = model_made ? m.config.n_ctx : int_or(a, "--ctx", preset ? preset->ctx : 0);
        int loaded;
        if (!n_ctx) {
            rc = usage_error("a new model needs --ctx (or a --preset)");
            goto done;
        }
        if (!src->tokenizer[0] && !vocab) {
            rc = usage_error("give --tokenizer TOK, or --vocab V to learn one from %s", src->data);
            goto done;
        }
        dist_rank0_first(1);   /* rank 0 learns the tokenizer and writes the cache; the others then read it */
        loaded = load_text_rows(ctx, src, save, vocab, n_ctx, &bpe, &rows);
        dist_rank0_first(0);
        if (!loaded) goto failed;
        if (!model_made && given(a, "--vocab") && given(a, "--tokenizer") && vocab != mmix_bpe_vocab_size(bpe)) {
            rc = usage_error("--vocab %lld differs from the tokenizer's %lld", vocab, (long long)mmix_bpe_vocab_size(bpe));
            goto done;
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
            rc = usage_error("a new model needs --vocab (or a --preset)");
            goto done;
        }
        made = new_model(ctx, a, preset, vocab, t.seed, &m);   /* 2: usage, 1: failed */
        if (made) {
            rc = made;
            goto done;
        }
        model_made = 1;
    }
    if (src->tokens[0]) {
        if (mmix_read_token_lines(ctx, src->tokens, m.config.vocab, fixed_line_length(&m), &rows.own_train,
                                  &rows.n_train, &rows.len) != MMIX_OK ||
            (src->val_tokens[0] && mmix_read_token_lines(ctx, src->val_tokens, m.config.vocab, rows.len,
                                                         &rows.own_val, &rows.n_val, &rows.len) != MMIX_OK))
            goto failed;
        rows.train = rows.own_train;
        rows.val = rows.own_val;
        if (init) window_from_lines(ctx, &m, init, rows.len);
    }
    if (!resume) {
        t.lr = given(a, "--lr") ? num_arg(a, "--lr") : preset ? preset->lr : arch_of(m.config.arch).lr;
        if (src->tokens[0] && !given(a, "--pad-id")) t.pad = file_pad;
    }
    if (t.stop_at < 0 || t.stop_at > t.steps) t.stop_at = t.steps;
    if (t.eval_every < 1) t.eval_every = t.steps;   /* a state file from before evaluations */
    if (t.save_every < 1) t.save_every = t.eval_every;
    if (t.log_every < 1) t.log_every = 1;
    if (!run_optimizer(ctx, &opt, &m.params, &t, resume, resume_weights, &log)) goto failed;
    if (t.eval_rows > 0 && rows.n_val > t.eval_rows) rows.n_val = t.eval_rows;
    printf("%s: %s, %lld parameters; %lld training rows of %lld tokens, %lld validation rows; steps %lld..%lld of "
           "%lld, batch %lld, lr %g, warmup %lld, %s schedule, weight decay %g, clip %g, pad id %lld, seed %lld, %s",
           command_name, arch_of(m.config.arch).title, (long long)mmix_model_param_count(&m), (long long)rows.n_train,
           (long long)rows.len, (long long)rows.n_val, (long long)opt.step + 1, t.stop_at, t.steps, t.batch, t.lr,
           t.warmup, t.schedule ? "constant" : "linear", t.weight_decay, t.clip, t.pad, t.seed,
           t.shuffle ? "shuffled" : "in file order");
    if (t.grad_accum > 1) printf(", %lld micro-batches per step", t.grad_accum);
    printf("\n");
    fflush(stdout);
    snprintf(title, sizeof title, "%s: %s, %lld parameters, batch %lld x %lld tokens, lr %g", base_name(save),
             arch_of(m.config.arch).title, (long long)mmix_model_param_count(&m), t.batch * t.grad_accum,
             (long long)rows.len, t.lr);

    /* the run: language modelling on the rows */
    lm_train.rows = rows.train;
    lm_val.rows = rows.val;
    lm_train.len = lm_val.len = rows.len;
    lm_train.pad = lm_val.pad = (int32_t)t.pad;
    lm_train.model = lm_val.model = &m;
    train_src = lm_source(&lm_train, rows.n_train);
    val_src = lm_source(&lm_val, rows.n_val);
    source_meta(src, src_meta);
    job = train_job_of(&m, &m.params, &opt, &t, &pos, &log, save, title, src_meta, !resume);
    job.train = &train_src;
    job.val = &val_src;
    job.loss = lm_loss;
    job.loss_user = &lm_train;   /* the loss reads only the pad, the same for both */
    job.save_weights = lm_save;
    job.save_user = &t;
    rc = train_loop(ctx, &job);
    if (rc == 1) goto failed;
    goto done;
usage:
    rc = 2;
    goto done;
failed:
    fail(ctx);
done:
    free(log.r);
    train_rows_free(&rows);
    mmix_bpe_free(bpe);
    free(src);
    free(src_meta);
    return rc;
}

/* ---- mm generate: text after a prompt (paper Sec. 4.2), greedy unless --temperature says otherwise -- */

/* The tokenizer of a weights file: OUT.tokenizer.txt, where mm train puts it, else
   tokenizer.txt in its folder, else a Hugging Face tokenizer.json there (a reference
   checkpoint's folder); NULL (said on stderr unless quiet) when none is there. */
static const char *tokenizer_beside_quiet(const char *model_path, char *buf, int quiet) {
    char other[PATH_CAP], hf[PATH_CAP];
    if (companion_path(model_path, ".tokenizer.txt", buf) && file_exists(buf)) return buf;
    if (path_beside(model_path, "tokenizer.txt", other) && file_exists(other)) {
        memcpy(buf, other, sizeof other);
        return buf;
    }
    if (path_beside(model_path, "tokenizer.json", hf) && file_exists(hf)) {
        memcpy(buf, hf, sizeof hf);
        return buf;
    }
    if (!quiet)
        fprintf(stderr, "%s: no tokenizer beside the weights (none of %s, %s, %s); give --tokenizer TOK\n",
                command_name, buf, other, hf);
    return NULL;
}
static const char *tokenizer_beside(const char *model_path, char *buf) { return tokenizer_beside_quiet(model_path, buf, 0); }

/* mm info's line about the tokenizer mm generate would use. */
static void print_tokenizer_beside(mmix_ctx *ctx, const char *path, int64_t vocab) {
    char tok[PATH_CAP];
    mmix_bpe *bpe = NULL;
    if (!tokenizer_beside_quiet(path, tok, 1)) {
        printf("tokenizer: none beside the weights\n");
    } else if (load_tokenizer(ctx, tok, &bpe) != MMIX_OK) {
        printf("tokenizer: %s (unusable: %s)\n", tok, mmix_last_error(ctx));
        mmix_clear_error(ctx);
    } else {
        printf("tokenizer: %s (split %s, %lld ids, eot %ld, pad %ld)%s\n", tok, mmix_bpe_split_name(bpe),
               (long long)mmix_bpe_vocab_size(bpe), (long)mmix_bpe_eot_id(bpe), (long)mmix_bpe_pad_id(bpe),
               mmix_bpe_vocab_size(bpe) > vocab ? ": more ids than the model's vocabulary" : "");
        mmix_bpe_free(bpe);
    }
}

static const opt_spec generate_opts[] = {
    {"--model", OPT_TEXT, "W.safetensors", NULL, 0, 0, "the weights"},
    {"--prompt", OPT_TEXT, "TEXT", NULL, 0, 0, "the text to continue"},
    {"--tokenizer", OPT_TEXT, "TOK", NULL, 0, 0, "default: W.tokenizer.txt (what mm train writes), else tokenizer.txt or tokenizer.json beside W"},
    OPT_END};
static const opt_group generate_groups[] = {
    {"options", generate_opts}, {"sampling", sampling_opts}, {"loading", load_opts},
    {"architecture", file_arch_opts}, {"runtime", runtime_opts}, GROUP_END};

static int cmd_generate(mmix_ctx *ctx, const args *a) {
    const char *model_path = text_arg(a, "--model"), *tok_path = text_arg(a, "--tokenizer");
    const char *prompt = text_arg(a, "--prompt");
    mmix_generate_method method = int_arg(a, "--method") == 0 ? MMIX_GENERATE_CACHED : MMIX_GENERATE_INDEX_WALKING;
    mmix_sampler sampler = mmix_sampler_default();
    mmix_load_options lo = load_options(a);
    mmix_model m;
    mmix_bpe *bpe = NULL;
    mmix_bpe_ids ids = {NULL, 0, 0};
    mmix_bpe_bytes text = {NULL, 0, 0};
    long long max_new = int_arg(a, "--max-new");
    double t0, seconds;
    int64_t n_new = 0, i, n_prompt;
    int32_t *out = NULL;
    char tok_beside[PATH_CAP];
    int rc = 1;
    if (!model_path || !prompt) return usage_error("--model and --prompt are required (see 'mm generate --help')");
    if (given(a, "--top-k") && int_arg(a, "--top-k") > 0 && !(num_arg(a, "--temperature") > 0.0))
        return usage_error("--top-k draws a sample: give --temperature above 0 (at 0 the likeliest token is taken)");
    if (!tok_path && !(tok_path = tokenizer_beside(model_path, tok_beside))) return 1;
    sampler.temperature = (float)num_arg(a, "--temperature");
    sampler.top_k = int_arg(a, "--top-k");
    sampler.seed = (uint64_t)int_arg(a, "--seed");
    if (load_tokenizer(ctx, tok_path, &bpe) != MMIX_OK || mmix_model_load(ctx, &m, model_path, &lo, NULL) != MMIX_OK)
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
    fail(ctx);
done:
    free(out);
    mmix_bpe_bytes_free(&text);
    mmix_bpe_ids_free(&ids);
    mmix_bpe_free(bpe);
    return rc;
}

/* ==== the commands: what mm --help lists, and main() ==== */

/* ---- mm predict ---- */

static const opt_spec predict_opts[] = {
    {"--model", OPT_TEXT, "W.safetensors", NULL, 0, 0, "the weights"},
    {"--text", OPT_TEXT, "TEXT", NULL, 0, 0, "the input; a fixed window is filled with pads on the left"},
    {"--tokenizer", OPT_TEXT, "TOK", NULL, 0, 0, "default: W.tokenizer.txt (what mm train writes), else tokenizer.txt or tokenizer.json beside W"},
    OPT_END};
static const opt_group predict_groups[] = {
    {"options", predict_opts}, {"loading", load_opts}, {"architecture", file_arch_opts}, GROUP_END};

/* One forward pass over a text and the model's likeliest token at every position, decoded:
   for an autoencoder its reconstruction of the text (paper Sec. 5.3), for a causal model its
   guess of each next token given the true ones before it. */
static int cmd_predict(mmix_ctx *ctx, const args *a) {
    const char *model_path = text_arg(a, "--model"), *tok_path = text_arg(a, "--tokenizer");
    const char *input = text_arg(a, "--text");
    mmix_load_options lo = load_options(a);
    mmix_model m;
    mmix_bpe *bpe = NULL;
    mmix_bpe_ids ids = {NULL, 0, 0}, window = {NULL, 0, 0};
    mmix_bpe_bytes text = {NULL, 0, 0};
    mmix_tensor *t, *logits;
    float *row = NULL;
    char tok_beside[PATH_CAP];
    int32_t file_pad = -1, pad;
    int64_t L, n, first, i, v;
    int rc = 1;
    if (!model_path || !input) return usage_error("--model and --text are required (see 'mm predict --help')");
    if (!tok_path && !(tok_path = tokenizer_beside(model_path, tok_beside))) return 1;
    if (load_tokenizer(ctx, tok_path, &bpe) != MMIX_OK || mmix_model_load(ctx, &m, model_path, &lo, &file_pad) != MMIX_OK ||
        mmix_bpe_encode(ctx, bpe, input, strlen(input), 0, &ids) != MMIX_OK)
        goto done_error;
    if (mmix_bpe_vocab_size(bpe) > m.config.vocab || ids.n == 0) {
        fprintf(stderr, "%s: %s\n", command_name, ids.n == 0 ? "the text is empty"
                : "the tokenizer has more tokens than the model's vocabulary");
        goto done;
    }
    pad = mmix_bpe_pad_id(bpe) >= 0 ? mmix_bpe_pad_id(bpe) : file_pad;
    n = ids.n < m.config.n_ctx ? ids.n : m.config.n_ctx;       /* the first n_ctx tokens */
    L = arch_of(m.config.arch).fixed_window ? m.config.n_ctx : n;
    if (L > n && pad < 0) {
        fprintf(stderr, "%s: the text is shorter than the window of %lld and there is no pad id to fill it\n",
                command_name, (long long)L);
        goto done;
    }
    first = L - n;                                               /* pads on the left */
    for (i = 0; i < L; i++)
        if (mmix_bpe_ids_push(ctx, &window, i < first ? pad : ids.ids[i - first]) != MMIX_OK) goto done_error;
    mmix_set_grad_enabled(ctx, 0);
    mmix_set_training(ctx, 0);
    t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(1, L));
    if (!t || mmix_tensor_upload(ctx, t, 0, window.ids, L) != MMIX_OK || !(logits = mmix_model_logits(ctx, &m, t)))
        goto done_error;
    row = (float *)malloc((size_t)m.config.vocab * sizeof(float));
    if (!row) {
        fprintf(stderr, "%s: out of memory\n", command_name);
        goto done;
    }
    for (i = first; i < L; i++) { /* the argmax (the lowest id of ties) replaces each real token */
        int32_t best = 0;
        if (mmix_tensor_download(ctx, logits, i * m.config.vocab, row, m.config.vocab) != MMIX_OK) goto done_error;
        for (v = 1; v < m.config.vocab; v++)
            if (row[v] > row[best]) best = (int32_t)v;
        window.ids[i] = best;
    }
    if (mmix_bpe_decode(ctx, bpe, window.ids + first, n, &text) != MMIX_OK) goto done_error;
    printf("%s (%s), %lld tokens: the likeliest token at each position\n", arch_of(m.config.arch).name,
           objective_words(arch_of(m.config.arch).objective), (long long)n);
    printf("input:  %s\noutput: ", input);
    fwrite(text.data, 1, text.size, stdout);
    putchar('\n');
    rc = 0;
    goto done;
done_error:
    fail(ctx);
done:
    free(row);
    mmix_bpe_free(bpe);
    mmix_bpe_ids_free(&ids);
    mmix_bpe_ids_free(&window);
    mmix_bpe_bytes_free(&text);
    return rc;
}

/* ==== retrieval (paper Sec. 6): pairs, embeddings, InfoNCE, the evaluation, an index ==== */

/* Query/target pairs: one JSON object per line with both fields; line i's query matches
   line i's target. */
typedef struct pair_file {
    mmix_data_docs query, target;
    int64_t n;
} pair_file;
static void pairs_free(pair_file *p) {
    mmix_data_docs_free(&p->query);
    mmix_data_docs_free(&p->target);
    p->n = 0;
}
static int pairs_read(mmix_ctx *ctx, const char *path, pair_file *p) {
    mmix_data_options o = mmix_data_options_default();
    memset(p, 0, sizeof *p);
    o.format = MMIX_TEXT_JSONL;
    o.jsonl_field = "query";
    if (mmix_data_read_docs(ctx, path, &o, &p->query) != MMIX_OK) return 0;
    o.jsonl_field = "target";
    if (mmix_data_read_docs(ctx, path, &o, &p->target) != MMIX_OK) return 0;
    if (p->query.n != p->target.n) {   /* an empty field is skipped: the lines would no longer pair up */
        mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: %lld queries but %lld targets (a line with an empty field?)", path,
                       (long long)p->query.n, (long long)p->target.n);
        return 0;
    }
    p->n = p->query.n;
    if (p->n < 2) {
        mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: %lld pair(s); retrieval needs two at least", path, (long long)p->n);
        return 0;
    }
    return 1;
}

/* The splits, by line ranges (reference-notes Sec. 20): test the last 10,000 lines,
   validation the 1,000 before them, train the rest (--test-lines, --val-lines for a
   smaller file); "all" every line (a file that is all test data). A split may be empty. */
#define SPLIT_WORDS "train|val|test|all"
enum { SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST, SPLIT_ALL };
static const opt_spec split_opts[] = {
    {"--test-lines", OPT_INT, "N", "10000", 0, MAX_SIZE, "the test split: the file's last N lines"},
    {"--val-lines", OPT_INT, "N", "1000", 0, MAX_SIZE, "the validation split: the N lines before them"},
    OPT_END};
static void split_range(int64_t n, int64_t test, int64_t val, int split, int64_t *lo, int64_t *hi) {
    int64_t test_lo = n > test ? n - test : 0, val_lo = test_lo > val ? test_lo - val : 0;
    switch (split) {
    case SPLIT_TRAIN: *lo = 0, *hi = val_lo; break;
    case SPLIT_VAL: *lo = val_lo, *hi = test_lo; break;
    case SPLIT_TEST: *lo = test_lo, *hi = n; break;
    default: *lo = 0, *hi = n; break;
    }
}

/* Documents lo..hi-1 as left-padded rows of len ids (mmix_data_text_row), malloc'd. */
static int32_t *text_rows(mmix_ctx *ctx, mmix_bpe *bpe, const mmix_data_docs *d, int64_t lo, int64_t hi, int64_t len) {
    int32_t *rows = (int32_t *)malloc((size_t)(hi > lo ? hi - lo : 1) * (size_t)len * sizeof(int32_t));
    int64_t i;
    if (!rows) {
        mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "out of memory for %lld rows", (long long)(hi - lo));
        return NULL;
    }
    for (i = lo; i < hi; i++)
        if (mmix_data_text_row(ctx, bpe, d->text + d->offsets[i], (size_t)(d->offsets[i + 1] - d->offsets[i]), len, 1,
                               rows + (i - lo) * len, NULL) != MMIX_OK) {
            free(rows);
            return NULL;
        }
    return rows;
}

/* A progress line on stderr while embedding, redrawn on a terminal, else one line at the end. */
typedef struct progress_state {
    const char *what;
    double start, last;
} progress_state;
static void progress_print(void *user, int64_t done, int64_t total) {
    progress_state *p = (progress_state *)user;
    double now = mmix_time_seconds();
    int tty;
#ifdef _WIN32
    tty = 0;
#else
    tty = isatty(fileno(stderr));
#endif
    if (done < total && (!tty || now - p->last < 0.2)) return;
    p->last = now;
    fprintf(stderr, "%s%s %lld/%lld, %.0f/s%s", tty ? "\r" : "", p->what, (long long)done, (long long)total,
            (double)done / (now - p->start > 1e-9 ? now - p->start : 1e-9), done == total ? "\n" : "");
    fflush(stderr);
}

/* A model that has a retrieval embedding, with its tokenizer. */
typedef struct embedder {
    mmix_model model;
    mmix_bpe *bpe;
    char path[PATH_CAP], tokenizer[PATH_CAP];
    uint64_t model_hash, tokenizer_hash;
} embedder;

/* FNV-1a-64 over the model's parameter values in order, float32 little-endian: what an
   index records of the model that built it. */
static uint64_t params_hash(mmix_ctx *ctx, const mmix_params *p) {
    float chunk[4096];
    uint64_t h = MMIX_FNV1A64_OFFSET;
    int64_t i, j, n;
    for (i = 0; i < p->count; i++)
        for (j = 0; j < p->tensors[i]->n; j += n) {
            n = p->tensors[i]->n - j < 4096 ? p->tensors[i]->n - j : 4096;
            mmix_tensor_download(ctx, p->tensors[i], j, chunk, n);
            h = mmix_fnv1a64(h, chunk, (size_t)n * sizeof(float));
        }
    return h;
}

/* Loads weights and their tokenizer (tok_path, else the one beside them); 0 after a message. */
static void embedder_free(embedder *e) {
    mmix_bpe_free(e->bpe);
    e->bpe = NULL;
}
static int embedder_load(mmix_ctx *ctx, const args *a, const char *path, const char *tok_path, embedder *e) {
    mmix_load_options lo = load_options(a);
    mmix_arch_info info;
    memset(e, 0, sizeof *e);
    snprintf(e->path, sizeof e->path, "%s", path);
    if (tok_path) snprintf(e->tokenizer, sizeof e->tokenizer, "%s", tok_path);
    else if (!(tok_path = tokenizer_beside(path, e->tokenizer))) return 0;
    if (mmix_model_load(ctx, &e->model, path, &lo, NULL) != MMIX_OK || mmix_bpe_load(ctx, tok_path, &e->bpe) != MMIX_OK)
        goto failed;
    mmix_arch_get(e->model.config.arch, &info);
    if (!mmix_arch_embedding_position(info.arch)) {
        fprintf(stderr, "%s: %s: the %s has no retrieval embedding (causal language models and autoencoders have)\n",
                command_name, path, info.title);
        goto bad;
    }
    if (mmix_bpe_vocab_size(e->bpe) > e->model.config.vocab) {
        fprintf(stderr, "%s: the tokenizer %s has %lld ids, the model only %lld\n", command_name, tok_path,
                (long long)mmix_bpe_vocab_size(e->bpe), (long long)e->model.config.vocab);
        goto bad;
    }
    e->model_hash = params_hash(ctx, &e->model.params);
    if (!file_fnv1a(tok_path, &e->tokenizer_hash)) {
        fprintf(stderr, "%s: cannot read %s\n", command_name, tok_path);
        goto bad;
    }
    return 1;
failed:
    fail(ctx);
bad:   /* the tokenizer is the only thing on the heap; the model is on the context's arena */
    embedder_free(e);
    return 0;
}

/* Unit embeddings [(hi - lo) x D] of documents lo..hi-1, malloc'd; NULL after a message. */
static float *embed_docs(mmix_ctx *ctx, embedder *e, const mmix_data_docs *d, int64_t lo, int64_t hi, int64_t batch,
                         const char *what) {
    int64_t L = e->model.config.n_ctx, n = hi - lo;
    int32_t *rows = text_rows(ctx, e->bpe, d, lo, hi, L);
    float *out = rows ? (float *)malloc((size_t)(n > 0 ? n : 1) * (size_t)e->model.config.dim * sizeof(float)) : NULL;
    progress_state p;
    p.what = what, p.start = mmix_time_seconds(), p.last = 0.0;
    if (rows && !out) mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "out of memory for %lld embeddings", (long long)n);
    if (out && mmix_model_embed_rows(ctx, &e->model, rows, n, L, batch, out, what ? progress_print : NULL, &p) != MMIX_OK) {
        free(out);
        out = NULL;
    }
    free(rows);
    if (!out) fail(ctx);
    return out;
}

/* ---- the embeddings file (mm embed, mm index): its layout, writer bytes and checks in emb_file.h ---- */
static int emb_write(mmix_ctx *ctx, const char *path, const embedder *e, const char *docs, const char *field,
                     const float *rows, int64_t count, const uint64_t *offsets) {
    size_t size;
    unsigned char *b = emb_bytes(e->path, docs, field, e->model_hash, e->tokenizer_hash, rows, (uint64_t)count,
                                 (uint64_t)e->model.config.dim, offsets, &size);
    int ok;
    if (!b) return mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "%s: out of memory", path), 0;
    ok = mmix_write_file_atomic(ctx, path, b, size) == MMIX_OK;
    free(b);
    return ok;
}

static void emb_close(emb_file *f) {
#ifndef _WIN32
    if (f->mapped) munmap(f->bytes, f->size);
    else
#endif
        free(f->bytes);
    memset(f, 0, sizeof *f);
}

/* Opens an embeddings file, memory-mapped where the system can; every size is checked
   against the file's length before it is used. 0 with the error set. */
static int emb_open(mmix_ctx *ctx, const char *path, emb_file *f) {
    memset(f, 0, sizeof *f);
#ifndef _WIN32
    {
        int fd = open(path, O_RDONLY);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0) {
            void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p != MAP_FAILED) f->bytes = (unsigned char *)p, f->size = (size_t)st.st_size, f->mapped = 1;
        }
        if (fd >= 0) close(fd);
    }
#endif
    if (!f->bytes) {
        FILE *in = fopen(path, "rb");
        if (!in) return mmix_set_error(ctx, MMIX_ERR_FILE_NOT_FOUND, "%s: cannot open", path), 0;
        f->bytes = read_stream(in, &f->size);
        fclose(in);
        if (!f->bytes) return mmix_set_error(ctx, MMIX_ERR_IO, "%s: cannot read", path), 0;
    }
    if (!emb_parse(ctx, path, f)) {
        emb_close(f);
        return 0;
    }
    return 1;
}

/* The byte offset of each non-blank line of a file (the JSONL documents, in order). */
static uint64_t *line_offsets(mmix_ctx *ctx, const char *path, int64_t expect) {
    FILE *f = fopen(path, "rb");
    uint64_t *off = (uint64_t *)malloc((size_t)(expect > 0 ? expect : 1) * sizeof(uint64_t)), pos = 0, start = 0;
    int64_t n = 0;
    int c, blank = 1;
    if (!f || !off) {
        if (f) fclose(f);
        free(off);
        mmix_set_error(ctx, MMIX_ERR_IO, "%s: cannot read", path);
        return NULL;
    }
    while ((c = getc(f)) != EOF) {
        if (c == '\n') {
            if (!blank && n < expect) off[n] = start;
            n += !blank;
            blank = 1;
            start = pos + 1;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            blank = 0;
        }
        pos++;
    }
    if (!blank && n < expect) off[n] = start;
    n += !blank;
    fclose(f);
    if (n != expect) {
        mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: %lld lines but %lld documents (a line with an empty field?)", path,
                       (long long)n, (long long)expect);
        free(off);
        return NULL;
    }
    return off;
}

/* ---- mm embed, mm index ---- */
static const opt_spec embed_opts[] = {
    {"--model", OPT_TEXT, "W.safetensors", NULL, 0, 0, "the embedding model"},
    {"--field", OPT_TEXT, "NAME", "text", 0, 0, "the JSON field holding each document's text"},
    {"--tokenizer", OPT_TEXT, "TOK", NULL, 0, 0, "default: the one beside the weights (as mm generate)"},
    {"--batch", OPT_INT, "B", "32", 1, 4096, "rows per forward pass"},
    OPT_END};
static const opt_spec embed_files[] = {
    {"--input", OPT_TEXT, "FILE.jsonl", NULL, 0, 0, "the documents, one JSON object per line"},
    {"--out", OPT_TEXT, "EMB", NULL, 0, 0, "the embeddings file"},
    OPT_END};
static const opt_spec index_files[] = {
    {"--docs", OPT_TEXT, "FILE.jsonl", NULL, 0, 0, "the documents, one JSON object per line"},
    {"--out", OPT_TEXT, "INDEX", NULL, 0, 0, "the index"},
    OPT_END};
static const opt_group embed_groups[] = {{"files", embed_files}, {"options", embed_opts}, {"loading", load_opts},
                                         {"runtime", runtime_opts}, GROUP_END};
static const opt_group index_groups[] = {{"files", index_files}, {"options", embed_opts}, {"loading", load_opts},
                                         {"runtime", runtime_opts}, GROUP_END};

/* Both commands: the documents' unit embeddings, with where each document is. */
static int embed_to_file(mmix_ctx *ctx, const args *a, const char *docs_opt) {
    const char *model = text_arg(a, "--model"), *docs = text_arg(a, docs_opt), *out = text_arg(a, "--out");
    const char *field = text_arg(a, "--field");
    mmix_data_options o = mmix_data_options_default();
    mmix_data_docs d = {NULL, NULL, 0};
    embedder e;
    float *rows = NULL;
    uint64_t *offsets = NULL;
    int rc = 1;
    if (!model || !docs || !out) return usage_error("give --model, %s and --out", docs_opt);
    if (!embedder_load(ctx, a, model, text_arg(a, "--tokenizer"), &e)) goto done;
    o.format = MMIX_TEXT_JSONL;
    o.jsonl_field = field;
    if (mmix_data_read_docs(ctx, docs, &o, &d) != MMIX_OK || !(offsets = line_offsets(ctx, docs, d.n))) {
        fail(ctx);
        goto done;
    }
    if (!(rows = embed_docs(ctx, &e, &d, 0, d.n, int_arg(a, "--batch"), "embedding"))) goto done;
    make_parent_dirs(out);
    if (!emb_write(ctx, out, &e, docs, field, rows, d.n, offsets)) {
        fail(ctx);
        goto done;
    }
    printf("%s: %lld documents of %s, %lld-dimensional unit embeddings by %s (position %d) -> %s\n", command_name,
           (long long)d.n, docs, (long long)e.model.config.dim, model,
           mmix_arch_embedding_position(e.model.config.arch), out);
    rc = 0;
done:
    free(rows);
    free(offsets);
    mmix_data_docs_free(&d);
    embedder_free(&e);
    return rc;
}
static int cmd_embed(mmix_ctx *ctx, const args *a) { return embed_to_file(ctx, a, "--input"); }
static int cmd_index(mmix_ctx *ctx, const args *a) { return embed_to_file(ctx, a, "--docs"); }

/* ---- mm search ---- */
static const opt_spec search_opts[] = {
    {"--index", OPT_TEXT, "INDEX", NULL, 0, 0, "an index of mm index (or mm embed)"},
    {"--model", OPT_TEXT, "W.safetensors", NULL, 0, 0, "default: the one the index was built with; another is an error"},
    {"--queries", OPT_TEXT, "FILE", NULL, 0, 0, "one query per line, instead of the query word"},
    {"--top-k", OPT_INT, "K", NULL, 1, MAX_SIZE, "results per query (default 10)"},
    {"-k", OPT_INT, "K", NULL, 1, MAX_SIZE, "short for --top-k"},
    {"--json", OPT_FLAG, NULL, NULL, 0, 0, "one JSON object per result: rank, score, doc, offset"},
    {"--tokenizer", OPT_TEXT, "TOK", NULL, 0, 0, "default: the one beside the weights"},
    OPT_END};
static const opt_group search_groups[] = {{"options", search_opts}, {"loading", load_opts}, {"runtime", runtime_opts},
                                          GROUP_END};

/* The first line of document i's text: its JSON line read back from the documents file. */
static void doc_first_line(mmix_ctx *ctx, FILE *docs, const emb_file *ix, uint64_t i, char *out, size_t size) {
    char line[1 << 16];
    mmix_data_options o = mmix_data_options_default();
    mmix_data_docs d = {NULL, NULL, 0};
    size_t n;
    out[0] = 0;
    if (!docs || fseek(docs, (long)get_u64(ix->offsets + 8 * i), SEEK_SET) != 0 || !fgets(line, sizeof line, docs))
        return;
    o.format = MMIX_TEXT_JSONL;
    o.jsonl_field = ix->field;
    if (mmix_data_split_docs(ctx, line, strlen(line), ix->docs, &o, &d) == MMIX_OK && d.n == 1) {
        n = strcspn((const char *)d.text, "\n");   /* one document: the text's NUL ends it */
        snprintf(out, size, "%.*s", (int)n, (const char *)d.text);
    } else {
        mmix_clear_error(ctx);
    }
    mmix_data_docs_free(&d);
}

static void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c < 0x20) fprintf(out, "\\u%04x", c);
        else fputc(c, out);
    }
    fputc('"', out);
}

/* The k best of n scores into best[], best first; equal scores in document order. */
static int64_t top_k(const float *score, int64_t n, int64_t k, int64_t *best) {
    int64_t have = 0, i, j;
    for (i = 0; i < n; i++) {
        if (have == k && !(score[i] > score[best[k - 1]])) continue;
        j = have < k ? have++ : k - 1;
        for (; j > 0 && score[i] > score[best[j - 1]]; j--) best[j] = best[j - 1];
        best[j] = i;
    }
    return have;
}

static int cmd_search(mmix_ctx *ctx, const args *a) {
    const char *ix_path = text_arg(a, "--index"), *queries_path = text_arg(a, "--queries");
    const int64_t block = 64;   /* queries per GEMM */
    long long k = given(a, "-k") ? int_arg(a, "-k") : int_or(a, "--top-k", 10);
    emb_file ix;
    embedder e;
    mmix_data_docs q = {NULL, NULL, 0};
    char model_path[PATH_CAP], first[512];
    float *emb = NULL, *scores = NULL;
    int64_t *best = NULL, q0, i, r;
    mmix_embedding_scorer sc;
    FILE *docs = NULL;
    double t0;
    int rc = 1, have_model = 0;
    memset(&e, 0, sizeof e);
    if (!ix_path || (!queries_path == !a->word))
        return usage_error("give --index and either a query or --queries FILE");
    if (!emb_open(ctx, ix_path, &ix)) return fail(ctx);
    snprintf(model_path, sizeof model_path, "%s", given(a, "--model") ? text_arg(a, "--model") : ix.model);
    if (!embedder_load(ctx, a, model_path, text_arg(a, "--tokenizer"), &e)) goto done;
    have_model = 1;
    if (e.model_hash != ix.model_hash || (uint64_t)e.model.config.dim != ix.dim) {
        fprintf(stderr, "%s: %s was built with another model (%s); its queries must be embedded by the same one\n",
                command_name, ix_path, ix.model);
        goto done;
    }
    if (e.tokenizer_hash != ix.tokenizer_hash) {
        fprintf(stderr, "%s: %s was built with another tokenizer than %s\n", command_name, ix_path, e.tokenizer);
        goto done;
    }
    {   /* the queries: the word, or a file of lines */
        mmix_data_options o = mmix_data_options_default();
        mmix_result res;
        o.format = MMIX_TEXT_BLANK_LINES;
        if (queries_path) {
            FILE *f = fopen(queries_path, "rb");
            size_t size = 0;
            unsigned char *text = f ? read_stream(f, &size) : NULL, *p;
            if (f) fclose(f);
            if (!text) {
                fprintf(stderr, "%s: cannot read %s\n", command_name, queries_path);
                goto done;
            }
            /* one query per line: every newline a document break */
            for (p = text; p < text + size; p++)
                if (*p == '\r') *p = ' ';
            {
                unsigned char *two = (unsigned char *)malloc(2 * size + 1);
                size_t n = 0, s;
                if (!two) { free(text); goto done; }
                for (s = 0; s < size; s++) {
                    two[n++] = text[s];
                    if (text[s] == '\n') two[n++] = '\n';
                }
                res = mmix_data_split_docs(ctx, two, n, queries_path, &o, &q);
                free(two);
            }
            free(text);
        } else {
            res = mmix_data_split_docs(ctx, a->word, strlen(a->word), "the query", &o, &q);
        }
        if (res != MMIX_OK) {
            fail(ctx);
            goto done;
        }
        if (q.n == 0) {
            fprintf(stderr, "%s: no query text\n", command_name);
            goto done;
        }
    }
    if (k > (long long)ix.count) k = (long long)ix.count;
    docs = fopen(ix.docs, "rb");
    if (!docs) fprintf(stderr, "%s: warning: cannot open the documents %s; results without their text\n", command_name, ix.docs);
    t0 = mmix_time_seconds();
    if (!(emb = embed_docs(ctx, &e, &q, 0, q.n, block, q.n > block ? "embedding queries" : NULL))) goto done;
    scores = (float *)malloc((size_t)block * (size_t)ix.count * sizeof(float));
    best = (int64_t *)malloc((size_t)(k > 0 ? k : 1) * sizeof(int64_t));
    if (!scores || !best) {
        fprintf(stderr, "%s: out of memory\n", command_name);
        goto done;
    }
    sc.queries = emb, sc.n_queries = q.n, sc.targets = ix.rows, sc.pool = (int64_t)ix.count, sc.dim = (int64_t)ix.dim;
    for (q0 = 0; q0 < q.n; q0 += block) {
        int64_t nq = q.n - q0 < block ? q.n - q0 : block;
        if (mmix_embedding_scores(ctx, &sc, q0, nq, scores) != MMIX_OK) {   /* one GEMM per block */
            fail(ctx);
            goto done;
        }
        for (i = 0; i < nq; i++) {
            const float *row = scores + i * (int64_t)ix.count;
            int64_t have = top_k(row, (int64_t)ix.count, (int64_t)k, best);
            if (queries_path && !given(a, "--json"))
                printf("# %.*s\n", (int)(q.offsets[q0 + i + 1] - q.offsets[q0 + i]),
                       (const char *)q.text + q.offsets[q0 + i]);
            for (r = 0; r < have; r++) {
                doc_first_line(ctx, docs, &ix, (uint64_t)best[r], first, sizeof first);
                if (given(a, "--json")) {
                    if (queries_path) printf("{\"query\": %lld, ", (long long)(q0 + i));
                    else printf("{");
                    printf("\"rank\": %lld, \"score\": %.6f, \"doc\": ", (long long)(r + 1), (double)row[best[r]]);
                    json_string(stdout, first);
                    printf(", \"offset\": %llu}\n", (unsigned long long)get_u64(ix.offsets + 8 * best[r]));
                } else {
                    printf("%lld\t%.6f\t%s\n", (long long)(r + 1), (double)row[best[r]], first);
                }
            }
        }
    }
    t0 = mmix_time_seconds() - t0;
    fprintf(stderr, "%s: %lld quer%s against %llu documents in %.3f s (%.1f queries/s)\n", command_name, (long long)q.n,
            q.n == 1 ? "y" : "ies", (unsigned long long)ix.count, t0, (double)q.n / (t0 > 1e-9 ? t0 : 1e-9));
    rc = 0;
done:
    if (docs) fclose(docs);
    free(emb);
    free(scores);
    free(best);
    mmix_data_docs_free(&q);
    if (have_model || e.bpe) embedder_free(&e);
    emb_close(&ix);
    return rc;
}

/* ---- mm retrieval-eval ---- */
#define EVAL_N_DEFAULT "32,64,128,256,512,1024,2048,4096,8192"
#define EVAL_N_MAX 32
#define EVAL_METHODS_MAX 8
static const opt_spec reval_opts[] = {
    {"--pairs", OPT_TEXT, "FILE.jsonl", NULL, 0, 0, "query/target pairs: one {\"query\", \"target\"} object per line"},
    {"--split", OPT_CHOICE, SPLIT_WORDS, "test", 0, 0,
     "the lines evaluated: test the last 10,000, val the 1,000 before, train the rest, or all"},
    {"--model", OPT_TEXT, "W[,W...]", NULL, 0, 0, "embedding or indirect retrieval models, comma-separated: rows each"},
    {"--method", OPT_CHOICE, "bm25", NULL, 0, 0, "the lexical baseline too (Lucene/Pyserini BM25), after the models"},
    {"--k1", OPT_NUM, "K1", "0.9", 0, MAX_FLOAT, "BM25's term-frequency saturation"},
    {"--b", OPT_NUM, "B", "0.4", 0, 1, "BM25's length normalization"},
    {"--n", OPT_TEXT, "N,...", EVAL_N_DEFAULT, 0, 0, "candidate counts (the query counted, as paper Table 1)"},
    {"--seed", OPT_INT, "S", "0", 0, NO_MAX, "the candidate draws; every method meets the same ones"},
    {"--tsv", OPT_FLAG, NULL, NULL, 0, 0, "tab-separated rows on stdout, the settings on stderr"},
    {"--tokenizer", OPT_TEXT, "TOK", NULL, 0, 0, "default: the one beside each model's weights"},
    {"--batch", OPT_INT, "B", "32", 1, 4096, "rows per forward pass"},
    {"--embed-model", OPT_TEXT, "G.safetensors", NULL, 0, 0,
     "an indirect model's generative model, if not where its file says (the hash must match)"},
    OPT_END};
static const opt_group reval_groups[] = {{"options", reval_opts}, {"splits", split_opts}, {"loading", load_opts},
                                         {"runtime", runtime_opts}, GROUP_END};

/* "32,64" -> {32, 64}: the count, or 0 after a message. */
static int parse_n_list(const char *text, int64_t *ns) {
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 2 || v > (1LL << 40) || (*end && *end != ',') || n == EVAL_N_MAX)
            return usage_error("--n wants up to %d counts of 2 or more, comma-separated: '%s'", EVAL_N_MAX, text), 0;
        ns[n++] = v;
        p = *end ? end + 1 : end;
    }
    return n;
}

typedef struct eval_method {
    char name[PATH_CAP];
    mmix_retrieval_result res[EVAL_N_MAX];
    double seconds;             /* embedding and scoring */
} eval_method;

/* Whether a weights file is an indirect retrieval model's (mm retrieval-train --mode indirect). */
static int is_retrieval_model_file(mmix_ctx *ctx, const char *path) {
    mmix_safetensors st;
    const char *kind;
    int yes;
    if (!file_exists(path) || mmix_safetensors_open(ctx, path, &st) != MMIX_OK) {
        mmix_clear_error(ctx);   /* not ours to report: the embedding model's loader says what is wrong */
        return 0;
    }
    kind = mmix_safetensors_meta(&st, "mmix_model");
    yes = kind && strcmp(kind, "retrieval-mixer") == 0;
    mmix_safetensors_close(&st);
    return yes;
}

/* An indirect retrieval model's rows: the split embedded by the generative model its file
   records (or --embed-model; the hash must be the recorded one), then its own evaluation
   on the candidate lists every method meets (mmix_retrieval_model_evaluate), which exist
   for n = c alone: the other n are skipped with a note. 0 after a message. */
static int eval_indirect(mmix_ctx *ctx, const args *a, const char *path, const pair_file *pf, int64_t lo, int64_t hi,
                         const int64_t *ns, int n_ns, eval_method *em) {
    char gen[PATH_CAP] = "", tok[PATH_CAP] = "", text[64];
    const char *tok_path = text_arg(a, "--tokenizer");
    uint64_t model_hash = 0, tok_hash = 0;
    mmix_retrieval_model rm;
    mmix_retrieval_result r;
    mmix_safetensors st;
    embedder e;
    float *Q = NULL, *T = NULL;
    int k, found = 0, ok = 0;
    if (mmix_safetensors_open(ctx, path, &st) != MMIX_OK) return fail(ctx), 0;
    meta_text(&st, "retrieval_embed_model", gen, sizeof gen);
    meta_text(&st, "retrieval_embed_tokenizer", tok, sizeof tok);
    meta_text(&st, "retrieval_embed_model_fnv1a", text, sizeof text);
    model_hash = strtoull(text, NULL, 16);
    meta_text(&st, "retrieval_embed_tokenizer_fnv1a", text, sizeof text);
    tok_hash = strtoull(text, NULL, 16);
    mmix_safetensors_close(&st);
    if (given(a, "--embed-model")) snprintf(gen, sizeof gen, "%s", text_arg(a, "--embed-model"));
    if (!gen[0]) {
        fprintf(stderr, "%s: %s does not record its generative model: give --embed-model\n", command_name, path);
        return 0;
    }
    if (!tok_path && tok[0] && file_exists(tok)) tok_path = tok;
    if (mmix_retrieval_model_load(ctx, &rm, path) != MMIX_OK) return fail(ctx), 0;
    if (!embedder_load(ctx, a, gen, tok_path, &e)) return 0;
    if (model_hash && e.model_hash != model_hash) {
        fprintf(stderr, "%s: %s is not the generative model %s was trained on (model hash %016llx, recorded %016llx)\n",
                command_name, gen, path, (unsigned long long)e.model_hash, (unsigned long long)model_hash);
        goto done;
    }
    if (tok_hash && e.tokenizer_hash != tok_hash) {
        fprintf(stderr, "%s: the tokenizer %s is not the one %s was trained with\n", command_name, e.tokenizer, path);
        goto done;
    }
    if (e.model.config.dim != rm.dim) {
        fprintf(stderr, "%s: %s reads %lld-dimensional embeddings, %s makes %lld\n", command_name, path,
                (long long)rm.dim, gen, (long long)e.model.config.dim);
        goto done;
    }
    Q = embed_docs(ctx, &e, &pf->query, lo, hi, int_arg(a, "--batch"), "embedding queries");
    T = Q ? embed_docs(ctx, &e, &pf->target, lo, hi, int_arg(a, "--batch"), "embedding targets") : NULL;
    if (!T) goto done;
    if (mmix_retrieval_model_evaluate(ctx, &rm, Q, T, hi - lo, (uint64_t)int_arg(a, "--seed"), int_arg(a, "--batch"),
                                      &r, NULL, NULL, NULL) != MMIX_OK) {
        fail(ctx);
        goto done;
    }
    for (k = 0; k < n_ns; k++)
        if (ns[k] == rm.n_samples) {
            em->res[k] = r;
            found = 1;
        } else {
            fprintf(stderr, "%s: %s ranks %lld candidates, the n it was trained with: n = %lld skipped\n", command_name,
                    base_name(path), (long long)rm.n_samples, (long long)ns[k]);
        }
    if (!found)
        fprintf(stderr, "%s: %s has rows for n = %lld alone, which --n does not list\n", command_name, base_name(path),
                (long long)rm.n_samples);
    ok = 1;
done:
    free(Q);
    free(T);
    embedder_free(&e);
    return ok;
}

static int cmd_retrieval_eval(mmix_ctx *ctx, const args *a) {
    const char *pairs_path = text_arg(a, "--pairs"), *models = text_arg(a, "--model");
    const int split = (int)int_arg(a, "--split");
    static const char *const split_names[] = {"train", "val", "test", "all"};
    int64_t ns[EVAL_N_MAX], lo, hi, pool;
    int n_ns, n_methods = 0, m, k, rc = 1, tsv = given(a, "--tsv");
    eval_method *methods = (eval_method *)calloc(EVAL_METHODS_MAX, sizeof *methods);
    pair_file pf;
    memset(&pf, 0, sizeof pf);
    if (!methods) return fprintf(stderr, "%s: out of memory\n", command_name), 1;
    if (!pairs_path || (!models && !given(a, "--method"))) {
        rc = usage_error("give --pairs, and --model or --method bm25 (see '%s --help')", command_name);
        goto done;
    }
    if (!(n_ns = parse_n_list(text_arg(a, "--n"), ns))) {
        rc = 2;
        goto done;
    }
    if (!pairs_read(ctx, pairs_path, &pf)) goto failed;
    split_range(pf.n, int_arg(a, "--test-lines"), int_arg(a, "--val-lines"), split, &lo, &hi);
    pool = hi - lo;
    if (pool < 2) {
        fprintf(stderr, "%s: %s: the %s split has %lld pair(s) of %lld lines (use --split all for a small file)\n",
                command_name, pairs_path, split_names[split], (long long)pool, (long long)pf.n);
        goto done;
    }
    {   /* the models, one after another */
        const char *p = models ? models : "";
        while (*p) {
            size_t len = strcspn(p, ",");
            char path[PATH_CAP];
            embedder e;
            float *Q = NULL, *T = NULL;
            mmix_embedding_scorer sc;
            eval_method *em = &methods[n_methods];
            double t0 = mmix_time_seconds();
            int ok;
            if (n_methods == EVAL_METHODS_MAX || len == 0 || len >= PATH_CAP) {
                rc = usage_error("--model wants up to %d paths, comma-separated", EVAL_METHODS_MAX);
                goto done;
            }
            snprintf(path, sizeof path, "%.*s", (int)len, p);
            p += len + (p[len] == ',');
            if (is_retrieval_model_file(ctx, path)) {   /* an indirect model: its own rows, at n = c */
                if (!eval_indirect(ctx, a, path, &pf, lo, hi, ns, n_ns, em)) goto done;
                snprintf(em->name, sizeof em->name, "%s", base_name(path));
                em->seconds = mmix_time_seconds() - t0;
                fprintf(tsv ? stderr : stdout, "%s: %s embedded and scored in %.1f s\n", command_name, em->name,
                        em->seconds);
                n_methods++;
                continue;
            }
            if (!embedder_load(ctx, a, path, text_arg(a, "--tokenizer"), &e)) goto done;
            Q = embed_docs(ctx, &e, &pf.query, lo, hi, int_arg(a, "--batch"), "embedding queries");
            T = Q ? embed_docs(ctx, &e, &pf.target, lo, hi, int_arg(a, "--batch"), "embedding targets") : NULL;
            sc.queries = Q, sc.targets = T, sc.n_queries = sc.pool = pool, sc.dim = e.model.config.dim;
            ok = T && mmix_retrieval_evaluate(ctx, pool, ns, n_ns, (uint64_t)int_arg(a, "--seed"), mmix_embedding_scores,
                                              &sc, em->res, NULL, NULL) == MMIX_OK;
            snprintf(em->name, sizeof em->name, "%s", base_name(path));
            em->seconds = mmix_time_seconds() - t0;
            free(Q);
            free(T);
            embedder_free(&e);
            if (!ok) {
                if (mmix_last_result(ctx) != MMIX_OK) fail(ctx);
                goto done;
            }
            fprintf(tsv ? stderr : stdout, "%s: %s embedded and scored in %.1f s\n", command_name, em->name, em->seconds);
            n_methods++;
        }
    }
    fflush(stdout);
    fprintf(tsv ? stderr : stdout, "%s: %s, split %s: %lld pairs (lines %lld..%lld), seed %lld\n", command_name,
            pairs_path, split_names[split], (long long)pool, (long long)lo + 1, (long long)hi,
            (long long)int_arg(a, "--seed"));
    for (k = 0; k < n_ns; k++)
        if (ns[k] > pool)
            fprintf(stderr, "%s: n = %lld is larger than the pool of %lld: skipped\n", command_name, (long long)ns[k],
                    (long long)pool);
    fflush(stderr);
    if (given(a, "--method")) {   /* BM25 over the split's targets, idf and average length from all of them */
        mmix_bm25 bm;
        mmix_bm25_config cfg = mmix_bm25_config_default();
        mmix_bm25_scorer sc;
        const char **docs = (const char **)malloc((size_t)pool * 2 * sizeof(char *));
        size_t *lens = (size_t *)malloc((size_t)pool * 2 * sizeof(size_t));
        eval_method *em = &methods[n_methods];
        double t0 = mmix_time_seconds();
        int64_t i;
        int ok;
        if (!docs || !lens || n_methods == EVAL_METHODS_MAX) {
            free(docs), free(lens);
            fprintf(stderr, "%s: out of memory\n", command_name);
            goto done;
        }
        for (i = 0; i < pool; i++) {
            docs[i] = (const char *)pf.target.text + pf.target.offsets[lo + i];
            lens[i] = (size_t)(pf.target.offsets[lo + i + 1] - pf.target.offsets[lo + i]);
            docs[pool + i] = (const char *)pf.query.text + pf.query.offsets[lo + i];
            lens[pool + i] = (size_t)(pf.query.offsets[lo + i + 1] - pf.query.offsets[lo + i]);
        }
        cfg.k1 = (float)num_arg(a, "--k1");
        cfg.b = (float)num_arg(a, "--b");
        ok = mmix_bm25_build(ctx, &bm, docs, lens, pool, cfg) == MMIX_OK;
        sc.bm = &bm, sc.queries = docs + pool, sc.query_lens = lens + pool, sc.n_queries = pool;
        ok = ok && mmix_retrieval_evaluate(ctx, pool, ns, n_ns, (uint64_t)int_arg(a, "--seed"), mmix_bm25_scores, &sc,
                                           em->res, NULL, NULL) == MMIX_OK;
        mmix_bm25_free(&bm);
        free(docs);
        free(lens);
        if (!ok) {
            fail(ctx);
            goto done;
        }
        snprintf(em->name, sizeof em->name, "bm25");
        em->seconds = mmix_time_seconds() - t0;
        fprintf(tsv ? stderr : stdout, "%s: bm25: k1 %g, b %g, analyzer: %s; indexed and scored in %.1f s\n",
                command_name, (double)cfg.k1, (double)cfg.b, mmix_bm25_analyzer_name(), em->seconds);
        n_methods++;
    }
    if (tsv) printf("method\tn\ttop1\tmrr10\trecall10\tqueries\n");
    else printf("%-28s %6s %8s %8s %10s %8s\n", "method", "n", "top-1 %", "MRR@10", "recall@10", "queries");
    for (m = 0; m < n_methods; m++)
        for (k = 0; k < n_ns; k++) {
            const mmix_retrieval_result *r = &methods[m].res[k];
            if (!r->queries) continue;
            if (tsv)
                printf("%s\t%lld\t%.2f\t%.2f\t%.2f\t%lld\n", methods[m].name, (long long)r->n, 100 * r->top1,
                       100 * r->mrr10, 100 * r->recall10, (long long)r->queries);
            else
                printf("%-28s %6lld %8.2f %8.2f %10.2f %8lld\n", methods[m].name, (long long)r->n, 100 * r->top1,
                       100 * r->mrr10, 100 * r->recall10, (long long)r->queries);
        }
    rc = 0;
    goto done;
failed:
    fail(ctx);
done:
    pairs_free(&pf);
    free(methods);
    return rc;
}

/* ---- mm retrieval-train: --mode infonce (paper Sec. 6.3), --mode indirect (paper Sec. 6.2) ---- */
enum { RTRAIN_INFONCE, RTRAIN_INDIRECT };
static const opt_spec rtrain_opts[] = {
    {"--mode", OPT_CHOICE, "infonce|indirect", "infonce", 0, 0,
     "fine-tune the embedding model with InfoNCE (Sec. 6.3), or train the indirect model on its embeddings (Sec. 6.2)"},
    {"--init", OPT_TEXT, "W.safetensors", NULL, 0, 0, "infonce: the pretrained model to tune"},
    {"--resume", OPT_TEXT, "STATE", NULL, 0, 0, "continue the run of OUT.state.safetensors, bit for bit"},
    {"--pairs", OPT_TEXT, "FILE.jsonl", NULL, 0, 0, "query/target pairs: trains on the train split, validates on val"},
    {"--candidates", OPT_INT, "C", "32", 2, 4096, "rows per item: the query, its match and C-2 negatives"},
    {"--tau", OPT_NUM, "T", "0.02", 1e-6, MAX_FLOAT, "infonce: the temperature of cos / tau"},
    {"--tokenizer", OPT_TEXT, "TOK", NULL, 0, 0, "default: the one beside --init (or --embed-model)"},
    {"--seed", OPT_INT, "S", "0", 0, NO_MAX, "the item order and the negatives"},
    OPT_END};
/* The indirect model reads the embeddings of a frozen generative model (paper Sec. 6.2): made
   here once, before training, from --embed-model and the pairs, or read from mm embed files. */
static const opt_spec rtrain_indirect_opts[] = {
    {"--embed-model", OPT_TEXT, "G.safetensors", NULL, 0, 0,
     "the frozen generative model (pretrained or InfoNCE-tuned) whose embeddings the model reads"},
    {"--query-embeddings", OPT_TEXT, "Q.emb", NULL, 0, 0, "instead: the pairs' queries by mm embed --field query"},
    {"--target-embeddings", OPT_TEXT, "T.emb", NULL, 0, 0, "and their targets by mm embed --field target"},
    {"--depth", OPT_INT, "N", "8", 1, 4096, "blocks of the retrieval model (the paper's)"},
    {"--embed-batch", OPT_INT, "B", "32", 1, 4096, "rows per forward pass of the generative model"},
    OPT_END};
static const opt_group rtrain_groups[] = {
    {"what to train", rtrain_opts}, {"--mode indirect", rtrain_indirect_opts}, {"splits", split_opts}, {"training (--batch counts items)", train_opts},
    {"progress, evaluation, checkpoints (--eval-rows counts items)", progress_opts}, {"loading", load_opts},
    {"runtime", runtime_opts}, GROUP_END};

/* Items of one split: item i is the query of pair i; its batch rows are the query, then c-1
   candidate targets of the same split with the match at row m (Algorithm 1's draw). */
typedef struct infonce_items {
    const int32_t *queries, *targets;   /* [n x len] each */
    int64_t len, c;
    float tau;
    uint64_t seed;
    mmix_retrieval_sampler sampler;     /* over this split's pool */
    int64_t *slots;                     /* [c] */
    mmix_tensor **match;                /* the last batch's matches, read by the loss: one
                                           variable for both splits' items */
} infonce_items;

static mmix_tensor *infonce_batch(mmix_ctx *ctx, const batch_source *s, const int64_t *rows, int64_t n, uint64_t draw) {
    infonce_items *it = (infonce_items *)s->user;
    int64_t b, j, L = it->len, c = it->c;
    mmix_tensor *ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(n * c, L));
    mmix_tensor *match = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape1(n));
    *it->match = match;
    if (!ids || !match) return NULL;
    for (b = 0; b < n; b++) {
        mmix_rng rng;
        int32_t m;
        /* one stream per served item: a resumed run draws the same negatives again */
        mmix_rng_seed(&rng, it->seed ^ (0x9E3779B97F4A7C15ULL * (draw + (uint64_t)b + 1)));
        m = (int32_t)mmix_retrieval_draw(&it->sampler, &rng, rows[b], c, it->slots);
        if (!m) {
            mmix_set_error(ctx, MMIX_ERR_INVALID_ARGUMENT, "infonce: %lld candidates from a pool of %lld",
                           (long long)c, (long long)it->sampler.n);
            return NULL;
        }
        mmix_tensor_upload(ctx, match, b, &m, 1);
        for (j = 0; j < c; j++)
            mmix_tensor_upload(ctx, ids, (b * c + j) * L, (j == 0 ? it->queries : it->targets) + it->slots[j] * L, L);
    }
    return ids;
}
static int64_t infonce_counted(const batch_source *s, const int64_t *rows, int64_t n) {
    (void)s, (void)rows;
    return n;   /* one query per item: the loss is a mean over items */
}
static mmix_tensor *infonce_loss_of(mmix_ctx *ctx, const void *model, mmix_tensor *batch, const void *user) {
    const infonce_items *it = (const infonce_items *)user;
    const mmix_model *m = (const mmix_model *)model;
    mmix_tensor *emb = mmix_model_embedding(ctx, m, batch);
    int64_t n = batch->shape.d[0] / it->c;
    return emb ? mmix_infonce_loss(ctx, mmix_reshape(ctx, emb, mmix_shape3(n, it->c, m->config.dim)), *it->match,
                                   it->tau)
               : NULL;
}
static batch_source infonce_source(infonce_items *it, int64_t n) {
    batch_source s;
    s.n = n;
    s.row_tokens = it->c * it->len;
    s.batch = infonce_batch;
    s.counted = infonce_counted;
    s.user = it;
    return s;
}

static int copy_file(mmix_ctx *ctx, const char *from, const char *to) {
    FILE *f = fopen(from, "rb");
    size_t size = 0;
    unsigned char *bytes = f ? read_stream(f, &size) : NULL;
    int ok;
    if (f) fclose(f);
    if (!bytes) return mmix_set_error(ctx, MMIX_ERR_IO, "cannot read %s", from), 0;
    ok = mmix_write_file_atomic(ctx, to, bytes, size) == MMIX_OK;
    free(bytes);
    return ok;
}

static const char *const retrieval_fixed_on_resume[] = {"--pairs", "--candidates", "--tau", "--init", "--tokenizer",
                                                        "--test-lines", "--val-lines", NULL};

/* The embeddings the indirect model trains on: the train and validation splits' queries
   and targets [n x dim], and the generative model that made them (what the retrieval
   model's file records, so mm retrieval-eval can embed a test split the same way). */
typedef struct pair_embeddings {
    float *q[2], *t[2];                 /* [0] train, [1] validation */
    int64_t dim;
    char model[PATH_CAP], tokenizer[PATH_CAP];   /* tokenizer: "" when not known */
    uint64_t model_hash, tokenizer_hash;
} pair_embeddings;
static void pair_embeddings_free(pair_embeddings *pe) {
    int k;
    for (k = 0; k < 2; k++) free(pe->q[k]), free(pe->t[k]);
    memset(pe, 0, sizeof *pe);
}

/* Rows lo..hi-1 of an embeddings file, malloc'd. */
static float *emb_rows(mmix_ctx *ctx, const emb_file *f, int64_t lo, int64_t hi) {
    float *out = (float *)malloc((size_t)(hi > lo ? hi - lo : 1) * (size_t)f->dim * sizeof(float));
    if (!out) {
        mmix_set_error(ctx, MMIX_ERR_OUT_OF_MEMORY, "out of memory for %lld embeddings", (long long)(hi - lo));
        return NULL;
    }
    memcpy(out, f->rows + (size_t)lo * f->dim, (size_t)(hi - lo) * (size_t)f->dim * sizeof(float));
    return out;
}

/* From mm embed files of the whole pairs file: both must hold every line, the field named
   as expected, the same width and the same model (and --embed-model, if given, must be it). */
static int pair_embeddings_read(mmix_ctx *ctx, const args *a, const char *qpath, const char *tpath,
                                const char *model, const char *tok, const pair_file *pf, const int64_t *lo,
                                const int64_t *hi, pair_embeddings *pe) {
    emb_file f[2];
    const char *path[2], *field[2] = {"query", "target"};
    int k, ok = 0;
    path[0] = qpath, path[1] = tpath;
    memset(f, 0, sizeof f);
    for (k = 0; k < 2; k++)
        if (!emb_open(ctx, path[k], &f[k])) {
            fail(ctx);
            goto done;
        }
    for (k = 0; k < 2; k++) {
        if (f[k].count != (uint64_t)pf->n) {
            fprintf(stderr, "%s: %s holds %llu embeddings, the pairs file %lld lines: embed the pairs file itself "
                    "(mm embed --input PAIRS --field %s)\n", command_name, path[k], (unsigned long long)f[k].count,
                    (long long)pf->n, field[k]);
            goto done;
        }
        if (strcmp(f[k].field, field[k]) != 0) {
            fprintf(stderr, "%s: %s holds the field \"%s\", not \"%s\"\n", command_name, path[k], f[k].field, field[k]);
            goto done;
        }
    }
    if (f[0].dim != f[1].dim || f[0].model_hash != f[1].model_hash) {
        fprintf(stderr, "%s: %s (%llu-dimensional) and %s (%llu-dimensional) were not made by the same model\n",
                command_name, qpath, (unsigned long long)f[0].dim, tpath, (unsigned long long)f[1].dim);
        goto done;
    }
    pe->dim = (int64_t)f[0].dim;
    pe->model_hash = f[0].model_hash;
    pe->tokenizer_hash = f[0].tokenizer_hash;
    snprintf(pe->model, PATH_CAP, "%s", model ? model : f[0].model);
    pe->tokenizer[0] = 0;
    if (tok) snprintf(pe->tokenizer, PATH_CAP, "%s", tok);
    else if (companion_path(pe->model, ".tokenizer.txt", pe->tokenizer) && !file_exists(pe->tokenizer))
        pe->tokenizer[0] = 0;   /* mm retrieval-eval looks beside the model, or takes --tokenizer */
    if (model) {   /* the generative model named: it must be the one that made the files */
        embedder e;
        int same;
        if (!embedder_load(ctx, a, model, tok, &e)) goto done;
        same = e.model_hash == pe->model_hash;
        embedder_free(&e);
        if (!same) {
            fprintf(stderr, "%s: %s were made by another model than %s\n", command_name, qpath, model);
            goto done;
        }
    }
    for (k = 0; k < 2; k++)
        if (!(pe->q[k] = emb_rows(ctx, &f[0], lo[k], hi[k])) || !(pe->t[k] = emb_rows(ctx, &f[1], lo[k], hi[k]))) {
            fail(ctx);
            goto done;
        }
    ok = 1;
done:
    emb_close(&f[0]);
    emb_close(&f[1]);
    return ok;
}

/* Made here: the generative model's unit embeddings of both splits' queries and targets,
   computed once (the model is frozen, paper Sec. 6.2, so they never change). want_hash: a
   resumed run's model hash (0: any model). */
static int pair_embeddings_make(mmix_ctx *ctx, const args *a, const char *model, const char *tok,
                                const pair_file *pf, const int64_t *lo, const int64_t *hi, int64_t batch,
                                uint64_t want_hash, pair_embeddings *pe) {
    embedder e;
    int k, ok = 1;
    if (!embedder_load(ctx, a, model, tok, &e)) return 0;
    if (want_hash && e.model_hash != want_hash) {
        fprintf(stderr, "%s: %s is not the generative model the run was trained on (model hash %016llx, the run's "
                "%016llx)\n", command_name, model, (unsigned long long)e.model_hash, (unsigned long long)want_hash);
        embedder_free(&e);
        return 0;
    }
    for (k = 0; ok && k < 2; k++)
        ok = (pe->q[k] = embed_docs(ctx, &e, &pf->query, lo[k], hi[k], batch,
                                    k ? "embedding validation queries" : "embedding training queries")) != NULL &&
             (pe->t[k] = embed_docs(ctx, &e, &pf->target, lo[k], hi[k], batch,
                                    k ? "embedding validation targets" : "embedding training targets")) != NULL;
    pe->dim = e.model.config.dim;
    pe->model_hash = e.model_hash;
    pe->tokenizer_hash = e.tokenizer_hash;
    snprintf(pe->model, PATH_CAP, "%s", model);
    snprintf(pe->tokenizer, PATH_CAP, "%s", e.tokenizer);
    embedder_free(&e);
    return ok;
}

/* Items of one split for the indirect model: item i is query i with c-1 candidate targets
   of the split, its own at a uniform slot (paper Algorithm 1, mmix_retrieval_batch). */
typedef struct indirect_items {
    const float *queries, *targets;     /* [n x dim] each */
    int64_t dim, c;
    uint64_t seed;
    mmix_retrieval_sampler sampler;     /* over this split's pool */
    mmix_tensor **labels;               /* the last batch's labels, read by the loss */
} indirect_items;
static mmix_tensor *indirect_batch(mmix_ctx *ctx, const batch_source *s, const int64_t *rows, int64_t n,
                                   uint64_t draw) {
    indirect_items *it = (indirect_items *)s->user;
    mmix_tensor *x;
    mmix_rng rng;
    /* one stream per batch, numbered by its first row's position: a resumed run draws the same */
    mmix_rng_seed(&rng, it->seed ^ (0x9E3779B97F4A7C15ULL * (draw + 1)));
    if (mmix_retrieval_batch(ctx, &it->sampler, &rng, it->queries, it->targets, it->dim, rows, n, it->c, &x,
                             it->labels) != MMIX_OK)
        return NULL;
    return x;
}
static int64_t indirect_counted(const batch_source *s, const int64_t *rows, int64_t n) {
    (void)s, (void)rows;
    return n;   /* the loss is a mean over items */
}
static mmix_tensor *indirect_loss_of(mmix_ctx *ctx, const void *model, mmix_tensor *batch, const void *user) {
    const indirect_items *it = (const indirect_items *)user;
    return mmix_retrieval_model_loss(ctx, (const mmix_retrieval_model *)model, batch, *it->labels, NULL);
}
static batch_source indirect_source(indirect_items *it, int64_t n) {
    batch_source s;
    s.n = n;
    s.row_tokens = it->c;   /* "tokens" seen: embeddings read */
    s.batch = indirect_batch;
    s.counted = indirect_counted;
    s.user = it;
    return s;
}
/* The retrieval model's weights with what they were trained on (user: a meta_list). */
static int indirect_save(mmix_ctx *ctx, const void *model, const char *path, const void *user) {
    const meta_list *m = (const meta_list *)user;
    return mmix_retrieval_model_save_meta(ctx, (const mmix_retrieval_model *)model, path, m->keys, m->vals, m->n) ==
           MMIX_OK;
}

static const char *const indirect_fixed_on_resume[] = {"--pairs", "--candidates", "--depth", "--tokenizer",
                                                       "--query-embeddings", "--target-embeddings", "--test-lines",
                                                       "--val-lines", NULL};

/* mm retrieval-train --mode indirect: the RetrievalMixer (paper Sec. 6.2, Fig. 9) on the
   frozen embeddings of the pairs, on the shared training loop. A state file records where
   the embeddings came from (the generative model and its hash, or the mm embed files), so a
   resumed run makes or reads the same again, and checks that they are. */
static int retrieval_train_indirect(mmix_ctx *ctx, const args *a) {
    const char *resume = text_arg(a, "--resume"), *save = text_arg(a, "--save");
    const char *model = text_arg(a, "--embed-model"), *tok = text_arg(a, "--tokenizer");
    const char *qemb = text_arg(a, "--query-embeddings"), *temb = text_arg(a, "--target-embeddings");
    char pairs_path[PATH_CAP] = "", weights[PATH_CAP] = "", title[PATH_CAP + 128];
    char r_model[PATH_CAP] = "", r_tok[PATH_CAP] = "", r_q[PATH_CAP] = "", r_t[PATH_CAP] = "", text[64];
    train_settings t;
    train_position pos = {0, 0.0, 0, 0.0, 0};
    train_source *src = (train_source *)calloc(1, sizeof *src);
    meta_list *meta = (meta_list *)calloc(1, sizeof *meta), *file_meta = (meta_list *)calloc(1, sizeof *file_meta);
    eval_log log = {NULL, 0, 0};
    indirect_items tr, va;
    mmix_tensor *labels = NULL;
    batch_source train_src, val_src;
    train_job job;
    pair_file pf;
    pair_embeddings pe;
    mmix_retrieval_model rm;
    mmix_adamw opt;
    int64_t lo[2], hi[2], k;
    uint64_t weights_hash = 0, recorded_hash = 0;
    long long c = int_arg(a, "--candidates"), depth = int_arg(a, "--depth");
    long long test_lines = int_arg(a, "--test-lines"), val_lines = int_arg(a, "--val-lines");
    int rc = 1;
    memset(&t, 0, sizeof t);
    memset(&pf, 0, sizeof pf);
    memset(&pe, 0, sizeof pe);
    memset(&tr, 0, sizeof tr);
    memset(&va, 0, sizeof va);
    if (!src || !meta || !file_meta) {
        fprintf(stderr, "%s: out of memory\n", command_name);
        goto done;
    }
    if (given(a, "--init") || given(a, "--tau")) {
        rc = usage_error("--init and --tau go with --mode infonce; the indirect model reads the embeddings of "
                         "--embed-model G");
        goto done;
    }
    if (!save || (!resume && !model == !(qemb || temb)) || (!qemb != !temb)) {
        rc = usage_error("give --embed-model G (or --query-embeddings Q.emb --target-embeddings T.emb), --pairs and "
                         "--save, or --resume STATE (see '%s --help')", command_name);
        goto done;
    }
    if (strlen(save) >= PATH_CAP - 32) {
        rc = usage_error("--save path is too long");
        goto done;
    }
    t.seed = int_arg(a, "--seed");
    t.stop_at = int_or(a, "--stop-at", -1);
    if (resume) {
        const char *fixed = changed_on_resume(a, indirect_fixed_on_resume);
        mmix_safetensors st;
        if (fixed) {
            rc = usage_error("a resumed run keeps its own settings and data: drop %s", fixed);
            goto done;
        }
        if (!read_resume_state(ctx, resume, &t, src, &pos, weights, &weights_hash)) goto failed;
        if (!pair_weights(resume, weights, weights_hash)) goto done;
        if (mmix_safetensors_open(ctx, resume, &st) != MMIX_OK) goto failed;
        meta_text(&st, "retrieval_pairs", pairs_path, sizeof pairs_path);
        meta_text(&st, "retrieval_embed_model", r_model, sizeof r_model);
        meta_text(&st, "retrieval_embed_tokenizer", r_tok, sizeof r_tok);
        meta_text(&st, "retrieval_query_embeddings", r_q, sizeof r_q);
        meta_text(&st, "retrieval_target_embeddings", r_t, sizeof r_t);
        meta_text(&st, "retrieval_embed_model_fnv1a", text, sizeof text);
        recorded_hash = strtoull(text, NULL, 16);
        k = meta_ll(ctx, &st, "retrieval_candidates", &c) && meta_ll(ctx, &st, "retrieval_test_lines", &test_lines) &&
            meta_ll(ctx, &st, "retrieval_val_lines", &val_lines);
        mmix_safetensors_close(&st);
        if (!k || !pairs_path[0] || !r_model[0]) {
            if (mmix_last_result(ctx) == MMIX_OK)
                mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: not the state of a retrieval-train --mode indirect run", resume);
            goto failed;
        }
        if (mmix_retrieval_model_load(ctx, &rm, weights) != MMIX_OK) goto failed;
        if (rm.n_samples != c) {
            mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: %lld candidates, the run's state says %lld", weights,
                           (long long)rm.n_samples, c);
            goto failed;
        }
        if (!model) model = r_model;            /* --embed-model may point at a moved file; the hash decides */
        if (!tok && r_tok[0]) tok = r_tok;
        if (r_q[0]) qemb = r_q, temb = r_t, model = given(a, "--embed-model") ? model : NULL;
    } else {
        if (!given(a, "--pairs")) {
            rc = usage_error("give --pairs FILE.jsonl");
            goto done;
        }
        snprintf(pairs_path, sizeof pairs_path, "%s", text_arg(a, "--pairs"));
        if (!settings_from_args(a, NULL, &t)) goto usage;
        t.lr = given(a, "--lr") ? num_arg(a, "--lr") : 1e-4;   /* the paper's retrieval runs (reference-notes Sec. 19) */
    }
    t.pad = -1;

    /* the pairs, their splits, and the frozen model's embeddings of both */
    if (!pairs_read(ctx, pairs_path, &pf)) goto failed;
    split_range(pf.n, test_lines, val_lines, SPLIT_TRAIN, &lo[0], &hi[0]);
    split_range(pf.n, test_lines, val_lines, SPLIT_VAL, &lo[1], &hi[1]);
    if (hi[0] - lo[0] < c) {
        fprintf(stderr, "%s: %s: the train split has %lld pairs, fewer than --candidates %lld\n", command_name,
                pairs_path, (long long)(hi[0] - lo[0]), c);
        goto done;
    }
    if (qemb ? !pair_embeddings_read(ctx, a, qemb, temb, model, tok, &pf, lo, hi, &pe)
             : !pair_embeddings_make(ctx, a, model, tok, &pf, lo, hi, int_arg(a, "--embed-batch"), recorded_hash, &pe))
        goto done;
    if (resume && pe.model_hash != recorded_hash) {   /* the mm embed files changed since */
        fprintf(stderr, "%s: %s are not the embeddings the run was trained on (model hash %016llx, the run's "
                "%016llx)\n", command_name, qemb, (unsigned long long)pe.model_hash, (unsigned long long)recorded_hash);
        goto done;
    }

    /* the retrieval model: the embeddings' width, --depth blocks, c samples */
    if (!resume) {
        mmix_rng rng;
        if (mmix_retrieval_model_create(ctx, &rm, pe.dim, depth, c) != MMIX_OK) goto failed;
        mmix_rng_seed(&rng, (uint64_t)t.seed);
        mmix_retrieval_model_init(&rm, &rng);
    } else if (rm.dim != pe.dim) {
        fprintf(stderr, "%s: %s reads %lld-dimensional embeddings, %s gives %lld\n", command_name, weights,
                (long long)rm.dim, qemb ? qemb : pe.model, (long long)pe.dim);
        goto done;
    }
    tr.queries = pe.q[0], tr.targets = pe.t[0], va.queries = pe.q[1], va.targets = pe.t[1];
    tr.dim = va.dim = pe.dim;
    tr.c = va.c = c;
    tr.labels = va.labels = &labels;
    tr.seed = (uint64_t)t.seed;
    va.seed = (uint64_t)t.seed ^ 0x5bd1e995u;   /* validation's own fixed draws */
    if (mmix_retrieval_sampler_init(ctx, &tr.sampler, hi[0] - lo[0]) != MMIX_OK) goto failed;
    if (hi[1] - lo[1] >= c && mmix_retrieval_sampler_init(ctx, &va.sampler, hi[1] - lo[1]) != MMIX_OK) goto failed;
    if (t.stop_at < 0 || t.stop_at > t.steps) t.stop_at = t.steps;
    if (!run_optimizer(ctx, &opt, &rm.params, &t, resume, weights, &log)) goto failed;
    make_parent_dirs(save);
    train_src = indirect_source(&tr, hi[0] - lo[0]);
    val_src = indirect_source(&va, va.sampler.n ? hi[1] - lo[1] : 0);
    if (t.eval_rows > 0 && val_src.n > t.eval_rows) val_src.n = t.eval_rows;

    /* what the state records (to resume), and what the weights file records (to evaluate) */
    meta_add(meta, "retrieval_mode", "indirect");
    meta_add(meta, "retrieval_pairs", "%s", pairs_path);
    meta_add(meta, "retrieval_candidates", "%lld", c);
    meta_add(meta, "retrieval_test_lines", "%lld", test_lines);
    meta_add(meta, "retrieval_val_lines", "%lld", val_lines);
    meta_add(meta, "retrieval_embed_model", "%s", pe.model);
    meta_add(meta, "retrieval_embed_model_fnv1a", "%016llx", (unsigned long long)pe.model_hash);
    if (pe.tokenizer[0]) meta_add(meta, "retrieval_embed_tokenizer", "%s", pe.tokenizer);
    if (qemb) {
        meta_add(meta, "retrieval_query_embeddings", "%s", qemb);
        meta_add(meta, "retrieval_target_embeddings", "%s", temb);
    }
    meta_add(file_meta, "retrieval_candidates", "%lld", c);
    meta_add(file_meta, "retrieval_embed_model", "%s", pe.model);
    meta_add(file_meta, "retrieval_embed_model_fnv1a", "%016llx", (unsigned long long)pe.model_hash);
    if (pe.tokenizer[0]) meta_add(file_meta, "retrieval_embed_tokenizer", "%s", pe.tokenizer);
    meta_add(file_meta, "retrieval_embed_tokenizer_fnv1a", "%016llx", (unsigned long long)pe.tokenizer_hash);
    meta_add(file_meta, "retrieval_pairs", "%s", pairs_path);
    printf("%s: indirect retrieval model (paper Sec. 6.2): D %lld, depth %lld, %lld candidates, %lld parameters, on "
           "the embeddings of %s (%016llx); %lld train and %lld validation pairs of %s; steps %lld..%lld of %lld, "
           "%lld item(s) per step, lr %g, warmup %lld, seed %lld\n",
           command_name, (long long)rm.dim, (long long)rm.depth, c, (long long)mmix_retrieval_model_param_count(&rm),
           pe.model, (unsigned long long)pe.model_hash, (long long)(hi[0] - lo[0]), (long long)val_src.n, pairs_path,
           (long long)opt.step + 1, t.stop_at, t.steps, t.batch * t.grad_accum, t.lr, t.warmup, t.seed);
    fflush(stdout);
    snprintf(title, sizeof title, "%s: indirect retrieval model, D %lld, depth %lld, %lld candidates, lr %g",
             base_name(save), (long long)rm.dim, (long long)rm.depth, c, t.lr);
    job = train_job_of(&rm, &rm.params, &opt, &t, &pos, &log, save, title, meta, !resume);
    job.train = &train_src;
    job.val = &val_src;
    job.loss = indirect_loss_of;
    job.loss_user = &tr;   /* the loss reads the batch's labels, the same variable for both splits */
    job.save_weights = indirect_save;
    job.save_user = file_meta;
    rc = train_loop(ctx, &job);
    if (rc == 1) goto failed;
    goto done;
usage:
    rc = 2;
    goto done;
failed:
    fail(ctx);
done:
    mmix_retrieval_sampler_free(&tr.sampler);
    mmix_retrieval_sampler_free(&va.sampler);
    pair_embeddings_free(&pe);
    free(log.r);
    pairs_free(&pf);
    free(src);
    free(meta);
    free(file_meta);
    return rc;
}

/* The mode of a state file (an InfoNCE run's when it does not say, or when it cannot be
   read: that path then says what is wrong with it). */
static int state_mode(mmix_ctx *ctx, const char *state) {
    mmix_safetensors st;
    int mode = RTRAIN_INFONCE;
    if (mmix_safetensors_open(ctx, state, &st) != MMIX_OK) {
        mmix_clear_error(ctx);
        return mode;
    }
    if (mmix_safetensors_meta(&st, "retrieval_mode") && strcmp(mmix_safetensors_meta(&st, "retrieval_mode"), "indirect") == 0)
        mode = RTRAIN_INDIRECT;
    mmix_safetensors_close(&st);
    return mode;
}

static int cmd_retrieval_train(mmix_ctx *ctx, const args *a) {
    static const char *const indirect_only[] = {"--embed-model", "--query-embeddings", "--target-embeddings",
                                                "--depth", "--embed-batch", NULL};
    const char *init = text_arg(a, "--init"), *resume = text_arg(a, "--resume"), *save = text_arg(a, "--save");
    char pairs_path[PATH_CAP] = "", tok_path[PATH_CAP] = "", weights[PATH_CAP] = "", tok_out[PATH_CAP], title[PATH_CAP + 128];
    train_settings t;
    train_position pos = {0, 0.0, 0, 0.0, 0};
    train_source *src = (train_source *)calloc(1, sizeof *src);
    meta_list *meta = (meta_list *)calloc(1, sizeof *meta);
    eval_log log = {NULL, 0, 0};
    infonce_items tr, va;
    mmix_tensor *match = NULL;
    batch_source train_src, val_src;
    train_job job;
    pair_file pf;
    mmix_model m;
    mmix_adamw opt;
    mmix_bpe *bpe = NULL;
    int32_t *rows[4] = {NULL, NULL, NULL, NULL};
    int64_t lo[2], hi[2], k;
    uint64_t weights_hash = 0;
    double tau = num_arg(a, "--tau");
    long long c = int_arg(a, "--candidates"), test_lines = int_arg(a, "--test-lines"), val_lines = int_arg(a, "--val-lines");
    int rc = 1;
    if (resume ? state_mode(ctx, resume) == RTRAIN_INDIRECT : int_arg(a, "--mode") == RTRAIN_INDIRECT) {
        free(src);
        free(meta);
        return retrieval_train_indirect(ctx, a);
    }
    for (k = 0; indirect_only[k]; k++)
        if (given(a, indirect_only[k])) {
            free(src);
            free(meta);
            return usage_error("%s goes with --mode indirect", indirect_only[k]);
        }
    memset(&t, 0, sizeof t);
    memset(&pf, 0, sizeof pf);
    memset(&tr, 0, sizeof tr);
    memset(&va, 0, sizeof va);
    if (!src || !meta) {
        fprintf(stderr, "%s: out of memory\n", command_name);
        goto done;
    }
    if (!save || (!init == !resume)) {
        rc = usage_error("give --init W (or --resume STATE), --pairs and --save (see '%s --help')", command_name);
        goto done;
    }
    if (strlen(save) >= PATH_CAP - 32) {
        rc = usage_error("--save path is too long");
        goto done;
    }
    t.seed = int_arg(a, "--seed");
    t.stop_at = int_or(a, "--stop-at", -1);
    if (resume) {
        const char *fixed = changed_on_resume(a, retrieval_fixed_on_resume);
        mmix_safetensors st;
        double v;
        long long cc;
        if (fixed) {
            rc = usage_error("a resumed run keeps its own settings and data: drop %s", fixed);
            goto done;
        }
        if (!read_resume_state(ctx, resume, &t, src, &pos, weights, &weights_hash)) goto failed;
        if (!pair_weights(resume, weights, weights_hash)) goto done;
        if (mmix_safetensors_open(ctx, resume, &st) != MMIX_OK) goto failed;
        meta_text(&st, "retrieval_pairs", pairs_path, sizeof pairs_path);
        meta_text(&st, "retrieval_tokenizer", tok_path, sizeof tok_path);
        k = meta_number(ctx, &st, "retrieval_tau", &v) && meta_ll(ctx, &st, "retrieval_candidates", &cc) &&
            meta_ll(ctx, &st, "retrieval_test_lines", &test_lines) && meta_ll(ctx, &st, "retrieval_val_lines", &val_lines);
        mmix_safetensors_close(&st);
        if (!k || !pairs_path[0] || !tok_path[0]) {
            if (mmix_last_result(ctx) == MMIX_OK)
                mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: not the state of a retrieval-train run", resume);
            goto failed;
        }
        tau = v, c = cc;
        init = weights;
    } else {
        if (!given(a, "--pairs")) {
            rc = usage_error("give --pairs FILE.jsonl");
            goto done;
        }
        snprintf(pairs_path, sizeof pairs_path, "%s", text_arg(a, "--pairs"));
        if (given(a, "--tokenizer")) snprintf(tok_path, sizeof tok_path, "%s", text_arg(a, "--tokenizer"));
        else if (!tokenizer_beside(init, tok_path)) goto done;
        if (!settings_from_args(a, NULL, &t)) goto usage;
        t.lr = given(a, "--lr") ? num_arg(a, "--lr") : 1e-4;   /* the paper's InfoNCE runs (paper Sec. 6.3) */
    }
    t.pad = -1;
    if (mmix_model_load(ctx, &m, init, NULL, NULL) != MMIX_OK || mmix_bpe_load(ctx, tok_path, &bpe) != MMIX_OK)
        goto failed;
    if (!mmix_arch_embedding_position(m.config.arch)) {
        fprintf(stderr, "%s: %s: the %s has no retrieval embedding\n", command_name, init, arch_of(m.config.arch).title);
        goto done;
    }
    t.pad = mmix_bpe_pad_id(bpe);
    if (!pairs_read(ctx, pairs_path, &pf)) goto failed;
    split_range(pf.n, test_lines, val_lines, SPLIT_TRAIN, &lo[0], &hi[0]);
    split_range(pf.n, test_lines, val_lines, SPLIT_VAL, &lo[1], &hi[1]);
    if (hi[0] - lo[0] < c) {
        fprintf(stderr, "%s: %s: the train split has %lld pairs, fewer than --candidates %lld\n", command_name,
                pairs_path, (long long)(hi[0] - lo[0]), c);
        goto done;
    }
    for (k = 0; k < 2; k++) {   /* each split's query and target rows, left-padded to the window */
        if (!(rows[2 * k] = text_rows(ctx, bpe, &pf.query, lo[k], hi[k], m.config.n_ctx)) ||
            !(rows[2 * k + 1] = text_rows(ctx, bpe, &pf.target, lo[k], hi[k], m.config.n_ctx)))
            goto failed;
    }
    tr.queries = rows[0], tr.targets = rows[1], va.queries = rows[2], va.targets = rows[3];
    tr.len = va.len = m.config.n_ctx;
    tr.c = va.c = c;
    tr.tau = va.tau = (float)tau;
    tr.match = va.match = &match;
    tr.seed = (uint64_t)t.seed;
    va.seed = (uint64_t)t.seed ^ 0x5bd1e995u;   /* validation's own fixed draws */
    tr.slots = (int64_t *)malloc((size_t)c * sizeof(int64_t));
    va.slots = (int64_t *)malloc((size_t)c * sizeof(int64_t));
    if (!tr.slots || !va.slots || mmix_retrieval_sampler_init(ctx, &tr.sampler, hi[0] - lo[0]) != MMIX_OK) goto failed;
    if (hi[1] - lo[1] >= c && mmix_retrieval_sampler_init(ctx, &va.sampler, hi[1] - lo[1]) != MMIX_OK) goto failed;
    if (t.stop_at < 0 || t.stop_at > t.steps) t.stop_at = t.steps;
    if (!run_optimizer(ctx, &opt, &m.params, &t, resume, weights, &log)) goto failed;
    make_parent_dirs(save);
    companion_path(save, ".tokenizer.txt", tok_out);
    if (!dist_all(ctx, world.rank != 0 || strcmp(tok_out, tok_path) == 0 || copy_file(ctx, tok_path, tok_out)))
        goto failed;   /* rank 0 alone writes files */
    train_src = infonce_source(&tr, hi[0] - lo[0]);
    val_src = infonce_source(&va, va.sampler.n ? hi[1] - lo[1] : 0);
    if (t.eval_rows > 0 && val_src.n > t.eval_rows) val_src.n = t.eval_rows;
    meta_add(meta, "retrieval_mode", "infonce");
    meta_add(meta, "retrieval_pairs", "%s", pairs_path);
    meta_add(meta, "retrieval_tokenizer", "%s", tok_out);
    meta_add(meta, "retrieval_candidates", "%lld", c);
    meta_add(meta, "retrieval_tau", "%.9g", tau);
    meta_add(meta, "retrieval_test_lines", "%lld", test_lines);
    meta_add(meta, "retrieval_val_lines", "%lld", val_lines);
    printf("%s: InfoNCE on %s (%s, position %d), %lld train and %lld validation pairs of %s; %lld candidates, tau %g; "
           "steps %lld..%lld of %lld, %lld item(s) per step, lr %g, warmup %lld, seed %lld\n",
           command_name, init, arch_of(m.config.arch).title, mmix_arch_embedding_position(m.config.arch),
           (long long)(hi[0] - lo[0]), (long long)val_src.n, pairs_path, c, tau, (long long)opt.step + 1, t.stop_at,
           t.steps, t.batch * t.grad_accum, t.lr, t.warmup, t.seed);
    fflush(stdout);
    snprintf(title, sizeof title, "%s: InfoNCE, %s, %lld candidates, tau %g, lr %g", base_name(save),
             arch_of(m.config.arch).title, c, tau, t.lr);
    job = train_job_of(&m, &m.params, &opt, &t, &pos, &log, save, title, meta, !resume);
    job.train = &train_src;
    job.val = &val_src;
    job.loss = infonce_loss_of;
    job.loss_user = &tr;   /* the loss reads c, tau and the batch's matches, the same for both splits */
    job.save_weights = lm_save;
    job.save_user = &t;
    rc = train_loop(ctx, &job);
    if (rc == 1) goto failed;
    goto done;
usage:
    rc = 2;
    goto done;
failed:
    fail(ctx);
done:
    for (k = 0; k < 4; k++) free(rows[k]);
    free(tr.slots);
    free(va.slots);
    mmix_retrieval_sampler_free(&tr.sampler);
    mmix_retrieval_sampler_free(&va.sampler);
    free(log.r);
    pairs_free(&pf);
    mmix_bpe_free(bpe);
    free(src);
    free(meta);
    return rc;
}

/* ---- mm invert ---- */

static const opt_spec invert_model_opts[] = {
    {"--model", OPT_TEXT, "W.safetensors", NULL, 0, 0, "the weights (a trained model)"},
    {"--arch", OPT_CHOICE, arch_choices, NULL, 0, 0,
     "without --model: an untrained model of this architecture, initialized from --seed as mm train would"},
    {"--vocab", OPT_INT, "V", NULL, 1, MAX_SIZE, "vocabulary of the untrained model (default: the tokenizer's)"},
    OPT_END};
static const opt_spec invert_input_opts[] = {
    {"--text", OPT_TEXT, "TEXT", NULL, 0, 0, "the input, tokenized; its first n_ctx tokens"},
    {"--tokenizer", OPT_TEXT, "TOK", NULL, 0, 0, "for --text and to print text (default: the one beside --model)"},
    {"--tokens", OPT_TEXT, "IDS.txt", NULL, 0, 0, "token lines instead: one input per line, all of one length"},
    {"--pad-id", OPT_INT, "P", NULL, 0, MAX_SIZE,
     "fills inputs shorter than n_ctx on the right; not counted by the metric (default: the tokenizer's, else the file's)"},
    OPT_END};
static const opt_spec invert_opts[] = {   /* paper Sec. 3, Eq. 2; reference-notes Sec. 17 */
    {"--iters", OPT_INT, "N", "500", 0, MAX_SIZE, "gradient-descent steps on the embeddings"},
    {"--lr", OPT_NUM, "ETA", "0.02", 0, MAX_FLOAT, "the first step size; it falls linearly to ETA / 10"},
    {"--last-token", OPT_FLAG, NULL, NULL, 0, 0, "match the last position's hidden layer only (paper Fig. 3b)"},
    {"--start", OPT_CHOICE, "code|paper", "code", 0, 0, "the random start: N(0, 1) as the reference code, or N(1/2, 1/20^2)"},
    {"--metric", OPT_CHOICE, "paper|code", "paper", 0, 0,
     "hamming: top-1 against the input (Eq. 6), or the code's top-5 against noised-embedding tokens"},
    {"--seed", OPT_INT, "S", "0", 0, NO_MAX, "the untrained model's initialization and the random start"},
    OPT_END};
static const opt_group invert_groups[] = {
    {"model", invert_model_opts}, {"an untrained model's sizes", new_model_opts}, {"input", invert_input_opts}, {"inversion", invert_opts},
    {"loading (--heads is also an untrained model's, default 4)", load_opts}, {"runtime", runtime_opts}, GROUP_END};

/* ids as text (newlines shown as \n), or without a tokenizer as numbers `width` wide, so that
   the original and the recovered ids line up position by position. */
static void print_tokens(mmix_ctx *ctx, const mmix_bpe *bpe, const int32_t *ids, int64_t n, int width) {
    mmix_bpe_bytes text = {NULL, 0, 0};
    size_t i;
    int64_t j;
    if (bpe && mmix_bpe_decode(ctx, bpe, ids, n, &text) == MMIX_OK) {
        for (i = 0; i < text.size; i++)
            if (text.data[i] == '\n') fputs("\\n", stdout);
            else putchar(text.data[i]);
    } else {
        for (j = 0; j < n; j++) printf("%s%*ld", j ? " " : "", width, (long)ids[j]);
    }
    putchar('\n');
    mmix_bpe_bytes_free(&text);
    mmix_clear_error(ctx);
}

/* Inverts the last hidden layer of a model back to its input (paper Sec. 3, Fig. 3): gradient
   descent on the embeddings, tokens through the embedding's pseudo-inverse, and the
   normalized Hamming distance of what came back. */
static int cmd_invert(mmix_ctx *ctx, const args *a) {
    const char *model_path = text_arg(a, "--model"), *tok_path = text_arg(a, "--tokenizer");
    const char *input = text_arg(a, "--text"), *tokens_path = text_arg(a, "--tokens");
    mmix_load_options lo = load_options(a);
    mmix_invert_options o = mmix_invert_options_default();
    mmix_model m;
    mmix_bpe *bpe = NULL;
    mmix_bpe_ids enc = {NULL, 0, 0};
    int32_t *lines = NULL, *rows = NULL, *rec = NULL, file_pad = -1, pad;
    float *pinv = NULL;
    mmix_invert_result *res = NULL;
    int64_t n_lines = 1, len = 0, L, i, j, first;
    double t0, sum_h = 0.0, sum_l1 = 0.0, sum_eps = 0.0;
    char tok_beside[PATH_CAP];
    int rc = 1, made, code_metric = int_arg(a, "--metric") == 1, n_h = 0, width;
    if (!model_path && !given(a, "--arch"))
        return usage_error("give --model, or --arch with --dim, --depth and --ctx (see 'mm invert --help')");
    if (!input == !tokens_path) return usage_error("give --text or --tokens, one of them");
    if (model_path) {
        static const char *const sizes[] = {"--vocab", "--dim", "--depth", "--ctx", "--kernel", "--expansion", NULL};
        for (i = 0; sizes[i]; i++)
            if (given(a, sizes[i])) return usage_error("%s is an untrained model's size: it goes with --arch, not --model", sizes[i]);
    }
    o.iters = int_arg(a, "--iters");
    o.lr = (float)num_arg(a, "--lr");
    o.last_token = given(a, "--last-token");
    o.start = int_arg(a, "--start") == 1 ? MMIX_INVERT_START_PAPER : MMIX_INVERT_START_CODE;
    o.seed = (uint64_t)int_arg(a, "--seed");
    if (!tok_path && model_path && input && !(tok_path = tokenizer_beside(model_path, tok_beside))) return 1;
    if (!tok_path && input) return usage_error("--text with an untrained model needs --tokenizer");
    if (tok_path && mmix_bpe_load(ctx, tok_path, &bpe) != MMIX_OK) goto done_error;
    if (model_path) {
        if (mmix_model_load(ctx, &m, model_path, &lo, &file_pad) != MMIX_OK) goto done_error;
    } else {
        if (!given(a, "--vocab") && !bpe) return usage_error("an untrained model needs --vocab (or --tokenizer)");
        made = new_model(ctx, a, NULL, int_or(a, "--vocab", bpe ? mmix_bpe_vocab_size(bpe) : 0), int_arg(a, "--seed"), &m);
        if (made) {
            mmix_bpe_free(bpe);
            return made;
        }
    }
    if (bpe && mmix_bpe_vocab_size(bpe) > m.config.vocab) {
        fprintf(stderr, "%s: the tokenizer %s has %lld tokens, more than the model's vocabulary of %lld\n", command_name,
                tok_path, (long long)mmix_bpe_vocab_size(bpe), (long long)m.config.vocab);
        goto done;
    }
    L = m.config.n_ctx;
    pad = (int32_t)int_or(a, "--pad-id", bpe && mmix_bpe_pad_id(bpe) >= 0 ? mmix_bpe_pad_id(bpe) : file_pad);
    if (pad >= m.config.vocab) {
        fprintf(stderr, "%s: --pad-id %ld is outside the vocabulary of %lld\n", command_name, (long)pad,
                (long long)m.config.vocab);
        goto done;
    }
    if (input) { /* one line: the text's first n_ctx tokens */
        if (mmix_bpe_encode(ctx, bpe, input, strlen(input), 0, &enc) != MMIX_OK) goto done_error;
        if (enc.n == 0) {
            fprintf(stderr, "%s: the text is empty\n", command_name);
            goto done;
        }
        len = enc.n < L ? enc.n : L;
        lines = enc.ids;
    } else {
        if (mmix_read_token_lines(ctx, tokens_path, m.config.vocab, 0, &lines, &n_lines, &len) != MMIX_OK)
            goto done_error;
        if (len > L) {
            fprintf(stderr, "%s: the lines of %s hold %lld tokens, more than the window of %lld\n", command_name,
                    tokens_path, (long long)len, (long long)L);
            goto done;
        }
    }
    if (len < L && pad < 0) {
        fprintf(stderr, "%s: the input has %lld tokens, fewer than the window of %lld, and there is no pad id to "
                "fill it (give --pad-id)\n", command_name, (long long)len, (long long)L);
        goto done;
    }
    rows = (int32_t *)malloc((size_t)(2 * n_lines * L) * sizeof(int32_t));
    res = (mmix_invert_result *)calloc((size_t)n_lines, sizeof *res);
    pinv = (float *)malloc((size_t)(m.config.vocab * m.config.dim) * sizeof(float));
    if (!rows || !res || !pinv) {
        fprintf(stderr, "%s: out of memory\n", command_name);
        goto done;
    }
    rec = rows + n_lines * L;
    for (i = 0; i < n_lines; i++) /* right-padded to the window (reference-notes Sec. 17) */
        for (j = 0; j < L; j++) rows[i * L + j] = j < len ? lines[(input ? 0 : i * len) + j] : pad;
    t0 = mmix_time_seconds();
    if (mmix_model_embedding_pinv(ctx, &m, pinv) != MMIX_OK) goto done_error;
    for (first = 0; first < n_lines; first += 8) { /* up to 8 inputs per batch: rows are independent */
        int64_t n = n_lines - first < 8 ? n_lines - first : 8;
        if (mmix_invert(ctx, &m, pinv, rows + first * L, n, L, pad, &o, rec + first * L, res + first) != MMIX_OK)
            goto done_error;
    }
    width = snprintf(NULL, 0, "%lld", (long long)(m.config.vocab - 1));
    printf("%s, %lld input(s) of %lld tokens (%lld padded), %lld steps from lr %g%s\n", arch_of(m.config.arch).name,
           (long long)n_lines, (long long)L, (long long)(L - len), (long long)o.iters, (double)o.lr,
           o.last_token ? ", last token only" : "");
    for (i = 0; i < n_lines; i++) {
        if (n_lines > 1) printf("input %lld\n", (long long)(i + 1));
        printf("  original:  ");
        print_tokens(ctx, bpe, rows + i * L, len, width);
        printf("  recovered: ");
        print_tokens(ctx, bpe, rec + i * L, len, width);
        if (!isnan(code_metric ? res[i].hamming_code : res[i].hamming))
            sum_h += code_metric ? res[i].hamming_code : res[i].hamming, n_h++;
        sum_l1 += res[i].l1;
        sum_eps += res[i].epsilon;
    }
    printf("hamming %.6f\nl1 %.6f\nepsilon %.6f\n", n_h ? sum_h / n_h : NAN, sum_l1 / (double)n_lines,
           sum_eps / (double)n_lines);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "%s: error writing stdout\n", command_name);
        goto done;
    }
    fprintf(stderr, "%s: %lld input(s), %lld steps in %.3f s (hamming: the %s metric; l1 %s epsilon)\n",
            command_name, (long long)n_lines, (long long)o.iters, mmix_time_seconds() - t0,
            code_metric ? "reference code's top-5" : "paper's top-1", sum_l1 < sum_eps ? "below" : "not below");
    rc = 0;
    goto done;
done_error:
    fail(ctx);
done:
    if (lines != enc.ids) mmix_free(lines);
    mmix_bpe_ids_free(&enc);
    free(rows);
    free(res);
    free(pinv);
    mmix_bpe_free(bpe);
    return rc;
}

static const command commands[] = {
    {"tokenizer train", tokenizer_train, "--data FILE --vocab N --out TOK",
     "learn a byte-level BPE; N = 256 bytes + merges + 2 specials", NULL, tokenizer_train_groups, NULL, NULL},
    {"tokenizer encode", tokenizer_encode, "--tokenizer TOK [--allow-special] < text > ids",
     "whitespace-separated ids; with --allow-special, special tokens' names become their ids", NULL,
     tokenizer_encode_groups, NULL, NULL},
    {"tokenizer decode", tokenizer_decode, "--tokenizer TOK < ids > text", "the byte-exact inverse of encode", NULL,
     tokenizer_decode_groups, NULL, NULL},
    {"tokenizer import-hf", tokenizer_import_hf, "--json tokenizer.json --out TOK",
     "convert a Hugging Face byte-level BPE, keeping its ids", NULL, tokenizer_import_hf_groups, NULL, NULL},
    {"forward", cmd_forward, "--model W.safetensors --tokens IDS.txt [--pad-id P] [--logits OUT.f32]",
     "the loss of the model's own objective (and its logits) on token lines",
     "The loss (paper Sec. 3.2) is over the whole file, token-weighted; pad targets are not counted. An objective\n"
     "of several terms (two-token prediction) is the sum of each term's token-weighted mean.\n", forward_groups,
     NULL, NULL},
    {"train", cmd_train,
     "(--preset NAME | --arch ARCH ... | --init W | --resume STATE)\n"
     "                (--data TEXT | --tokens IDS.txt) --save OUT.safetensors [--steps T --batch B]",
     "train with AdamW on text or token lines, with validation, checkpoints, a CSV log and a loss plot",
     "A new model: --arch with --dim, --depth, --ctx and --vocab, or a --preset. With --data the text is\n"
     "tokenized (a BPE of --vocab ids is learned from it without --tokenizer) and cached beside OUT.\n",
     train_groups, NULL, train_more_help},
    {"info", cmd_info, "W.safetensors [--heads H] [--norm-eps E] [--rope-theta T]",
     "architecture, sizes, parameter count, metadata", NULL, info_groups, "W.safetensors", NULL},
    {"generate", cmd_generate, "--model W.safetensors --prompt TEXT [--max-new N] [--temperature T] ...",
     "continue a prompt (greedy by default); speed goes to stderr", NULL, generate_groups, NULL, NULL},
    {"predict", cmd_predict, "--model W.safetensors --text TEXT",
     "the likeliest token at each position of a text: an autoencoder's reconstruction", NULL, predict_groups, NULL,
     NULL},
    {"embed", cmd_embed, "--model W.safetensors --input FILE.jsonl [--field NAME] --out EMB",
     "unit retrieval embeddings of documents (paper Sec. 6.1) into an embeddings file",
     "The embedding is the last hidden layer at position L-2 for a causal language model, the encoder's last\n"
     "position for an autoencoder, of each document left-padded to the window (reference-notes Sec. 20).\n",
     embed_groups, NULL, NULL},
    {"index", cmd_index, "--model W.safetensors --docs FILE.jsonl [--field NAME] --out INDEX",
     "an index for mm search: the documents' embeddings, where each one is, and the model's hashes", NULL,
     index_groups, NULL, NULL},
    {"search", cmd_search, "--index INDEX [--model W] \"query text\" [-k 10] [--json]  (or --queries FILE)",
     "the documents nearest a query by cosine similarity: rank, score, first line", NULL, search_groups,
     "\"query text\"", NULL},
    {"retrieval-train", cmd_retrieval_train,
     "--mode infonce --init W.safetensors --pairs FILE.jsonl --save OUT.safetensors --steps T --batch B\n"
     "                (or --mode indirect --embed-model G.safetensors ...)",
     "fine-tune an embedding model with InfoNCE (paper Sec. 6.3), or train the indirect model (Sec. 6.2)",
     "Each item is a query, its match and C-2 negatives drawn from the train split (paper Algorithm 1); the\n"
     "loss is -log softmax of cos / tau at the match. Validation: the val split's items, drawn once.\n"
     "--mode indirect: a bidirectional mixer over the C embeddings of an item, made once by the frozen\n"
     "--embed-model (or read from mm embed files of the pairs file), scores the C-1 candidates; the loss is\n"
     "their cross-entropy at the match. The weights record the generative model (path, hash, tokenizer) and C,\n"
     "so mm retrieval-eval --model OUT.safetensors embeds the evaluated split the same way.\n",
     rtrain_groups, NULL, NULL},
    {"retrieval-eval", cmd_retrieval_eval, "--pairs FILE.jsonl [--split test] (--model W[,W...] | --method bm25) [--n 32,...] [--tsv]",
     "top-1 accuracy, MRR@10 and recall@10 among n candidates (paper Table 1)",
     "For each query: its match and n-2 other targets of the split, drawn from (seed, n, query) alone, so every\n"
     "method meets the same lists; a tie with the match counts against it. --method bm25 adds BM25 (k1, b;\n"
     "lowercased alphanumeric tokens, possessive 's removed, Lucene's 33 English stopwords, Porter stemming),\n"
     "with idf and the average length over the split's targets.\n",
     reval_groups, NULL, NULL},
    {"invert", cmd_invert,
     "(--model W | --arch NAME --vocab V --dim D --depth N --ctx L [--heads H] [--expansion E])\n"
     "                (--text TEXT [--tokenizer T] | --tokens IDS.txt) [--iters N] [--lr ETA] [--last-token] [--seed S]",
     "recover the input from the last hidden layer; hamming, l1 and epsilon (paper Sec. 3, Fig. 3)",
     "Gradient descent on the embeddings until the blocks' output (no head, no final norm) matches the input's,\n"
     "then tokens through the pseudo-inverse of the embedding matrix. Prints the original and recovered tokens,\n"
     "then 'hamming H' (the fraction of non-pad positions recovered wrong), 'l1' (the distance reached) and\n"
     "'epsilon' (the distance of the input plus N(0, 1/20^2) noise, paper Sec. 3.1), means over the inputs.\n",
     invert_groups, NULL, NULL},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void print_usage(FILE *out) {
    int i;
    fprintf(out, "usage: mm <command> [options]\n\n"
                 "maskedmixer %s - masked mixers (arXiv 2409.01482) in one C header.\n\n"
                 "commands:\n"
                 "  --version, version   print the version and how this binary was built\n"
                 "  --help, help         print this help\n"
                 "  --list-options       every command's options, one tab-separated line each\n",
            MMIX_VERSION_STRING);
    for (i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %s %s\n%23s%s\n", commands[i].name, commands[i].synopsis, "", commands[i].summary);
    fprintf(out, "Each command takes --help.\n");
}

static void print_version(void) {
    const char *env = getenv("MMIX_GEMM");
    mmix_gemm g;
    if (env && mmix_gemm_parse(env, &g)) mmix_set_gemm(g);
    printf("maskedmixer %s\n", MMIX_VERSION_STRING);
    printf("GEMM: %s, now %s; built-in tile %s\n", mmix_has_cblas() ? "cblas_sgemm (BLAS) and built-in"
                                         : "built-in (install libopenblas-openmp-dev and rebuild "
                                           "for the faster BLAS path)", mmix_gemm_name(mmix_get_gemm()), mmix_gemm_tile());
    if (mmix_has_cblas())
        printf("BLAS core: %s\n", mmix_blas_corename()[0] ? mmix_blas_corename() : "unknown (not OpenBLAS)");
    print_blas_note(stdout);
    printf("OpenMP: %s, %d thread(s)\n", mmix_has_openmp() ? "on" : "off", mmix_get_num_threads());
#ifdef MMIX_USE_MPI
    printf("MPI: on (data-parallel mm train under mpirun)\n");
#else
    printf("MPI: off (make mpi builds ./mm-mpi with it)\n");
#endif
}

/* mm --list-options: every option of every command, one tab-separated line each (command,
   option, kind, lowest, highest, value words, default), for scripts, shell completion and
   the table-driven test of the command line (tests/test_cli_args.sh). */
static void print_options(void) {
    static const char *const kinds[] = {"flag", "int", "num", "text", "choice"};
    int i, g, k;
    printf("command\toption\tkind\tlo\thi\tvalue\tdefault\n");
    for (i = 0; i < N_COMMANDS; i++)
        for (g = 0; commands[i].groups[g].title; g++)
            for (k = 0; commands[i].groups[g].opts[k].name; k++) {
                const opt_spec *o = &commands[i].groups[g].opts[k];
                int ranged = o->kind == OPT_INT || o->kind == OPT_NUM;
                printf("%s\t%s\t%s\t", commands[i].name, o->name, kinds[o->kind]);
                if (ranged) printf("%.17g\t", o->lo);
                else printf("-\t");
                if (ranged && o->hi < NO_MAX) printf("%.17g\t", o->hi);
                else printf("-\t");
                printf("%s\t%s\n", o->value ? o->value : "-", o->def ? o->def : "-");
            }
}

/* How many words of argv (from argv[1]) spell the command's name ("tokenizer encode": 2),
   or 0 when they do not. */
static int name_words(const char *name, int argc, char **argv) {
    int w;
    for (w = 1;; w++) {
        const char *space = strchr(name, ' ');
        size_t len = space ? (size_t)(space - name) : strlen(name);
        if (w >= argc || strlen(argv[w]) != len || strncmp(argv[w], name, len) != 0) return 0;
        if (!space) return w;
        name = space + 1;
    }
}

/* "mm tokenizer" without a known second word: the family's usage lines on --help, else
   an error listing its subcommands. -1 when argv[1] starts no family. */
static int command_family(int argc, char **argv) {
    size_t n = strlen(argv[1]);
    int i, found = 0, help = argc < 3 || strcmp(argv[2], "--help") == 0;
    char choices[256] = "", list[256];
    for (i = 0; i < N_COMMANDS; i++) {
        const char *name = commands[i].name;
        if (strncmp(name, argv[1], n) != 0 || name[n] != ' ') continue;
        if (help && argc >= 3) printf("%s mm %s %s\n", found ? "      " : "usage:", name, commands[i].synopsis);
        snprintf(choices + strlen(choices), sizeof choices - strlen(choices), "%s%s", found ? "|" : "", name + n + 1);
        found++;
    }
    if (!found) return -1;
    if (help && argc >= 3) {
        printf("Each takes --help.\n");
        return 0;
    }
    fprintf(stderr, "mm %s: unknown subcommand '%s' (%s)\n", argv[1], argc > 2 ? argv[2] : "",
            choice_list(choices, list, sizeof list));
    return 2;
}

int main(int argc, char **argv) {
    static char name[64];
    const command *c = NULL;
    mmix_ctx *ctx;
    args a;
    int i, words = 0, rc;
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        print_version();
        return 0;
    }
    if (strcmp(argv[1], "--list-options") == 0) {
        arch_choices_init();
        print_options();
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        print_usage(stdout);
        return 0;
    }
    for (i = 0; i < N_COMMANDS && !c; i++)
        if ((words = name_words(commands[i].name, argc, argv)) > 0) c = &commands[i];
    if (!c) {
        rc = command_family(argc, argv);
        if (rc >= 0) return rc;
        fprintf(stderr, "mm: unknown command '%s' (see 'mm --help')\n", argv[1]);
        return 2;
    }
    snprintf(name, sizeof name, "mm %s", c->name);
    command_name = name;
    arch_choices_init();
    for (i = 1 + words; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0) {
            command_help(c, stdout);
            return 0;
        }
    if (!parse_args(c, argc, argv, 1 + words, &a) || !apply_runtime(&a)) return 2;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) {
        fprintf(stderr, "mm: out of memory\n");
        return 1;
    }
    mmix_set_log(ctx, log_to_stderr, NULL);
    if (!dist_init(&argc, &argv)) return 1;
    rc = c->run(ctx, &a);
    mmix_ctx_destroy(ctx);
    dist_finish(rc);
    return rc;
}
