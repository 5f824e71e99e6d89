/* tests/test_checkpoint.c - models and optimizer state in safetensors files: our files
   round-trip bit for bit; reference files load (BF16 too) with their masked entries
   re-zeroed; unknown, missing and misshapen tensors are errors naming them; known buffers
   are skipped with a warning; the token-file reader's errors name file and line. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"

static char warnings[1024];
static void capture(void *user, const char *message) {
    (void)user;
    snprintf(warnings + strlen(warnings), sizeof warnings - strlen(warnings), "%s\n", message);
}

static mmix_model_config tiny(mmix_arch arch) {
    mmix_model_config c = mmix_model_config_default(arch);
    c.vocab = 11; c.dim = 8; c.depth = 2; c.n_ctx = 6; c.kernel = 2; c.heads = 2; c.ffn_dim = 32;
    return c;
}

static int same_params(const mmix_model *ma, const mmix_model *mb) {
    int64_t i;
    if (ma->params.count != mb->params.count) return 0;
    for (i = 0; i < ma->params.count; i++) {
        const mmix_tensor *p = ma->params.tensors[i], *q = mb->params.tensors[i];
        if (!p || !q || strcmp(p->name, q->name) != 0 || p->n != q->n || memcmp(p->data, q->data, (size_t)p->n * 4) != 0)
            return 0;
    }
    return 1;
}

static void round_trip(mmix_arch arch) {
    mmix_ctx *a, *b;
    mmix_model ma, mb;
    mmix_rng rng;
    int32_t pad = -2;
    const char *path = arch == MMIX_ARCH_MIXER ? "build/ckpt_mixer.safetensors" : "build/ckpt_llama.safetensors";
    if (mmix_ctx_create(&a, NULL) != MMIX_OK || mmix_ctx_create(&b, NULL) != MMIX_OK) return;
    mmix_rng_seed(&rng, 1);
    mmix_model_create(a, &ma, tiny(arch));
    mmix_model_init(&ma, &rng);
    CHECK_OK(a, mmix_model_save(a, &ma, path, 7));
    CHECK_OK(b, mmix_model_load(b, &mb, path, NULL, &pad));
    CHECK(same_params(&ma, &mb) && pad == 7, "%s: save then load gives the same names, shapes and bits, and the pad id",
          arch == MMIX_ARCH_MIXER ? "mixer" : "transformer");
    CHECK(mb.config.arch == arch && mb.config.depth == 2 && mb.config.kernel == (arch == MMIX_ARCH_MIXER ? 2 : 1) &&
          (arch == MMIX_ARCH_MIXER || mb.config.heads == 2) && mb.config.n_ctx == 6 && mb.config.ffn_dim == 32,
          "the configuration is inferred from names, shapes and our metadata");
    mmix_ctx_destroy(a);
    mmix_ctx_destroy(b);
}

/* Writes a tiny mixer's tensors plus or minus one, or with one misshapen, and loads it. */
static mmix_result load_variant(int variant, char *message, size_t size) {
    mmix_ctx *a, *b;
    mmix_model ma, mb;
    mmix_rng rng;
    mmix_tensor *list[64], *extra;
    const char *names[64];
    int64_t i, n;
    mmix_result r;
    if (mmix_ctx_create(&a, NULL) != MMIX_OK || mmix_ctx_create(&b, NULL) != MMIX_OK) return MMIX_ERR_OUT_OF_MEMORY;
    mmix_rng_seed(&rng, 2);
    mmix_model_create(a, &ma, tiny(MMIX_ARCH_MIXER));
    mmix_model_init(&ma, &rng);
    for (n = 0; n < ma.params.count; n++) {
        list[n] = ma.params.tensors[n];
        names[n] = list[n]->name;
    }
    extra = mmix_tensor_new(a, MMIX_PERSIST, MMIX_F32, mmix_shape1(4));
    if (variant == 0) { list[n] = extra; names[n++] = "mixerblocks.0.mystery.weight"; }      /* unknown */
    if (variant == 1) n--;                                                                   /* lm_head missing */
    if (variant == 2) { list[n] = extra; names[n++] = "model.rotary_emb.inv_freq"; }         /* known buffer */
    if (variant == 3) for (i = 0; i < n; i++) if (strcmp(names[i], "mixerblocks.1.conv.bias") == 0) list[i] = extra;
    r = mmix_safetensors_write(a, "build/ckpt_variant.safetensors", list, names, n, NULL, NULL, 0);
    if (r == MMIX_OK) {
        warnings[0] = '\0';
        mmix_set_log(b, capture, NULL);
        r = mmix_model_load(b, &mb, "build/ckpt_variant.safetensors", NULL, NULL);
        snprintf(message, size, "%s", mmix_last_error(b));
    }
    mmix_ctx_destroy(a);
    mmix_ctx_destroy(b);
    return r;
}

static void errors(void) {
    char msg[512];
    mmix_ctx *ctx;
    mmix_model m;
    int32_t *ids;
    int64_t lines, len;
    FILE *f;
    CHECK(load_variant(0, msg, sizeof msg) == MMIX_ERR_FORMAT && strstr(msg, "unknown tensor 'mixerblocks.0.mystery.weight'"),
          "an unknown tensor is an error naming it: %s", msg);
    CHECK(load_variant(1, msg, sizeof msg) == MMIX_ERR_FORMAT && strstr(msg, "'lm_head.weight'") && strstr(msg, "missing"),
          "a missing tensor is an error naming it: %s", msg);
    CHECK(load_variant(2, msg, sizeof msg) == MMIX_OK && strstr(warnings, "model.rotary_emb.inv_freq"),
          "a known buffer is skipped with a warning: %s", warnings);
    CHECK(load_variant(3, msg, sizeof msg) == MMIX_ERR_SHAPE && strstr(msg, "mixerblocks.1.conv.bias") && strstr(msg, "[4]") &&
          strstr(msg, "[6]"), "a misshapen tensor is a shape error with both shapes: %s", msg);
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK(mmix_model_load(ctx, &m, "build/no_such_file.safetensors", NULL, NULL) == MMIX_ERR_FILE_NOT_FOUND,
          "a missing weights file is MMIX_ERR_FILE_NOT_FOUND");
    mmix_clear_error(ctx);
    f = fopen("build/ckpt_tokens.txt", "w");
    if (f) { fputs("1 2 3\n4 5 6\n\n7 8\n", f); fclose(f); }
    CHECK(mmix_read_token_lines(ctx, "build/ckpt_tokens.txt", 11, 0, &ids, &lines, &len) == MMIX_ERR_SHAPE &&
          strstr(mmix_last_error(ctx), "ckpt_tokens.txt:4: 2 tokens, expected 3"), "uneven lines: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    f = fopen("build/ckpt_tokens.txt", "w");
    if (f) { fputs("1 2 3\r\n4 5 x\n", f); fclose(f); }
    CHECK(mmix_read_token_lines(ctx, "build/ckpt_tokens.txt", 11, 3, &ids, &lines, &len) == MMIX_ERR_FORMAT &&
          strstr(mmix_last_error(ctx), ":2:"), "a stray character: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    f = fopen("build/ckpt_tokens.txt", "w");
    if (f) { fputs("1 2 3\r\n4 5 10\n", f); fclose(f); }
    CHECK(mmix_read_token_lines(ctx, "build/ckpt_tokens.txt", 11, 3, &ids, &lines, &len) == MMIX_OK && lines == 2 && len == 3 &&
          ids[5] == 10, "CRLF lines and the largest id read back");
    mmix_free(ids);
    CHECK(mmix_read_token_lines(ctx, "build/ckpt_tokens.txt", 10, 3, &ids, &lines, &len) == MMIX_ERR_RANGE,
          "an id equal to the vocabulary size is out of range");
    mmix_ctx_destroy(ctx);
}

/* The reference's file carries unmasked upper triangles; loading zeroes them. */
static void reference_files(void) {
    mmix_ctx *ctx;
    mmix_model m, m16;
    mmix_safetensors st;
    int64_t o, i, zero = 1, kept_equal = 1, bf16_close = 1;
    float raw[64];
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_model_load(ctx, &m, "tests/reference/fixtures/mixer_k1.safetensors", NULL, NULL));
    if (mmix_safetensors_open(ctx, "tests/reference/fixtures/mixer_k1.safetensors", &st) == MMIX_OK) {
        const mmix_st_entry *e = mmix_safetensors_find(&st, "mixerblocks.0.conv.weight");
        CHECK(e && mmix_safetensors_read(ctx, &st, e, raw) == MMIX_OK, "read the raw conv weight");
        for (o = 0; o < 8; o++)
            for (i = 0; i < 8; i++) {
                if (i > o) zero &= m.mixer[0].conv_w->data[o * 8 + i] == 0.0f;
                else kept_equal &= m.mixer[0].conv_w->data[o * 8 + i] == raw[o * 8 + i];
            }
        CHECK(raw[1] != 0.0f, "the reference file's upper triangle is not zero");
        mmix_safetensors_close(&st);
    }
    CHECK(zero && kept_equal, "loading re-masks: the upper triangle is zero, the rest is the file's");
    mmix_ctx_destroy(ctx);
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_model_load(ctx, &m, "tests/reference/fixtures/mixer_k1.safetensors", NULL, NULL));
    {   /* the BF16 copy holds the same weights rounded to 8 significant bits */
        mmix_ctx *c2;
        if (mmix_ctx_create(&c2, NULL) == MMIX_OK) {
            CHECK_OK(c2, mmix_model_load(c2, &m16, "tests/reference/fixtures/mixer_k1_bf16.safetensors", NULL, NULL));
            for (i = 0; i < m.embed->n; i++)
                bf16_close &= fabsf(m.embed->data[i] - m16.embed->data[i]) <= fabsf(m.embed->data[i]) * (1.0f / 256.0f);
            CHECK(bf16_close && memcmp(m.embed->data, m16.embed->data, 64) != 0, "BF16 weights are the F32 ones rounded");
            mmix_ctx_destroy(c2);
        }
    }
    mmix_ctx_destroy(ctx);
}

static void optimizer_state(void) {
    mmix_ctx *a, *b;
    mmix_model ma, mb;
    mmix_adamw oa, ob;
    mmix_rng rng;
    mmix_tensor *ids, *loss;
    const char *keys[1] = {"note"}, *vals[1] = {"hello"};
    int64_t i, same = 1;
    if (mmix_ctx_create(&a, NULL) != MMIX_OK || mmix_ctx_create(&b, NULL) != MMIX_OK) return;
    mmix_rng_seed(&rng, 3);
    mmix_model_create(a, &ma, tiny(MMIX_ARCH_LLAMA));
    mmix_model_init(&ma, &rng);
    mmix_adamw_init(a, &oa, &ma.params, mmix_adamw_config_default());
    ids = mmix_tensor_new(a, MMIX_STEP, MMIX_I32, mmix_shape2(2, 6));
    for (i = 0; ids && i < 12; i++) ids->ids[i] = (int32_t)(i % 11);
    loss = mmix_model_loss(a, &ma, ids, -1, NULL);
    CHECK(loss && mmix_backward(a, loss) == MMIX_OK && mmix_adamw_step(a, &oa, 1e-3f) == MMIX_OK, "one step");
    CHECK_OK(a, mmix_adamw_save(a, &oa, "build/ckpt_state.safetensors", keys, vals, 1));
    mmix_model_create(b, &mb, tiny(MMIX_ARCH_LLAMA));
    mmix_adamw_init(b, &ob, &mb.params, mmix_adamw_config_default());
    CHECK_OK(b, mmix_adamw_load(b, &ob, "build/ckpt_state.safetensors"));
    for (i = 0; i < oa.n_params; i++)
        same &= memcmp(oa.m[i]->data, ob.m[i]->data, (size_t)oa.m[i]->n * 4) == 0 &&
                memcmp(oa.v[i]->data, ob.v[i]->data, (size_t)oa.v[i]->n * 4) == 0;
    CHECK(same && ob.step == 1 && ob.config.weight_decay == oa.config.weight_decay, "moments, step and settings round-trip");
    CHECK(mmix_adamw_load(b, &ob, "build/ckpt_llama.safetensors") == MMIX_ERR_FORMAT, "a weights file is not a state file");
    mmix_ctx_destroy(a);
    mmix_ctx_destroy(b);
}

/* Found by tests/fuzz/fuzz_safetensors.c: metadata numbers that no count or setting can hold
   (their conversion to an integer was undefined behaviour) are refused, naming key and file.
   The files are that harness's committed regression inputs (tests/fuzz/make_corpus.sh). */
static void hostile_metadata(void) {
    static const struct { const char *file, *message; } cases[] = {
        {"tests/fuzz/corpus/safetensors/meta_nctx_1e300.safetensors", "metadata n_ctx = \"1e300\" is not a finite number"},
        {"tests/fuzz/corpus/safetensors/meta_heads_nan.safetensors", "metadata num_attention_heads = \"nan\" is not a finite"},
        {"tests/fuzz/corpus/safetensors/meta_pad_1e12.safetensors", "metadata pad_token_id = 1e+12 is not a token id"},
    };
    size_t i;
    mmix_ctx *ctx;
    mmix_model valid;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    CHECK_OK(ctx, mmix_model_load(ctx, &valid, "tests/fuzz/corpus/safetensors/llama_tiny.safetensors", NULL, NULL));
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mmix_model m;
        int32_t pad;
        mmix_result r = mmix_model_load(ctx, &m, cases[i].file, NULL, &pad);
        CHECK(r == MMIX_ERR_FORMAT && strstr(mmix_last_error(ctx), cases[i].message) &&
              strstr(mmix_last_error(ctx), cases[i].file), "hostile metadata %d: got %s '%s'", (int)i,
              mmix_result_str(r), mmix_last_error(ctx));
        mmix_clear_error(ctx);
    }
    mmix_ctx_destroy(ctx);
}

int main(void) {
    hostile_metadata();
    round_trip(MMIX_ARCH_MIXER);
    round_trip(MMIX_ARCH_LLAMA);
    errors();
    reference_files();
    optimizer_state();
    return test_summary("test_checkpoint");
}
