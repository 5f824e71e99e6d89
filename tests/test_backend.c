/* tests/test_backend.c - the front end reaches tensor data only through the backend. With
   the shadow backend (tests/shadow_backend.h: every data address poisoned, so a direct
   read or write by ops, models, the generator, the optimizer or the checkpoint code would
   fault) each architecture trains three steps, generates both ways, saves and loads, and
   a gradient check runs, all with the CPU backend's results bit for bit. Also: the CPU
   table has every slot, and a poisoned address really does fault here. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include "test.h"
#include "shadow_backend.h"
#if defined(__unix__) || defined(__APPLE__)
#include <sys/wait.h>
#include <unistd.h>
#define HAVE_FORK 1
#endif

static mmix_backend shadow;

typedef struct run {
    float losses[3];
    float *params;              /* the trained values, downloaded */
    int64_t numel;
    int32_t generated[2][8];    /* greedy tokens: cached, index-walking */
    int64_t n_generated[2];
    float first_logits[4];      /* of a generator fed the prompt */
    int ok;
} run;

static mmix_model_config config_for(mmix_arch arch) {
    mmix_model_config c = mmix_model_config_default(arch);
    c.vocab = 29;
    c.dim = 16;
    c.depth = 2;
    c.n_ctx = 12;
    c.heads = 2;
    c.ffn_dim = 32;
    return c;
}

/* Trains, generates and saves one model with ctx's backend (the CPU one, or the shadow). */
static run train_generate_save(mmix_arch arch, const mmix_backend *backend, const char *save_path) {
    run r;
    mmix_ctx *ctx;
    mmix_model m;
    mmix_adamw opt;
    mmix_rng rng;
    mmix_model_config c = config_for(arch);
    mmix_arch_info info;
    int32_t rows[2 * 12], prompt[3] = {3, 7, 11};
    int64_t i;
    int s, method;
    memset(&r, 0, sizeof r);
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return r;
    mmix_set_backend(ctx, backend);
    mmix_rng_seed(&rng, 17);
    CHECK_OK(ctx, mmix_model_create(ctx, &m, c));
    if (!m.lm_head) goto done;
    mmix_model_init(&m, &rng);
    CHECK_OK(ctx, mmix_adamw_init(ctx, &opt, &m.params, mmix_adamw_config_default()));
    for (i = 0; i < 2 * c.n_ctx; i++) rows[i] = (int32_t)((i * 5 + 2) % c.vocab);
    rows[2 * c.n_ctx - 1] = 1; /* a pad target */
    for (s = 0; s < 3; s++) {
        mmix_tensor *ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape2(2, c.n_ctx)), *loss;
        double norm;
        mmix_zero_grad(ctx, &m.params);
        CHECK_OK(ctx, mmix_tensor_upload(ctx, ids, 0, rows, 2 * c.n_ctx));
        loss = mmix_model_loss(ctx, &m, ids, 1, NULL);
        CHECK(loss && mmix_backward(ctx, loss) == MMIX_OK && mmix_clip_grad_norm(ctx, &m.params, 0.5f, &norm) == MMIX_OK &&
              mmix_adamw_step(ctx, &opt, 1e-2f) == MMIX_OK, "%s step %d: %s", backend ? backend->name : "cpu", s, mmix_last_error(ctx));
        r.losses[s] = mmix_tensor_item(loss, 0);
        mmix_step_reset(ctx);
    }
    mmix_arch_get(arch, &info);
    if (info.can_generate) { /* the others are no causal language models: refused below */
        mmix_generator *g;
        for (method = 0; method < 2; method++)
            CHECK_OK(ctx, mmix_generate(ctx, &m, prompt, 3, 8, -1, NULL,
                                        method ? MMIX_GENERATE_INDEX_WALKING : MMIX_GENERATE_CACHED, r.generated[method],
                                        &r.n_generated[method]));
        if (mmix_generator_create(ctx, &m, MMIX_GENERATE_CACHED, &g) == MMIX_OK) {
            CHECK_OK(ctx, mmix_generator_feed(g, prompt, 3));
            memcpy(r.first_logits, mmix_generator_logits(g), sizeof r.first_logits);
            mmix_generator_destroy(g);
        }
    } else {
        CHECK(mmix_generate(ctx, &m, prompt, 3, 8, -1, NULL, MMIX_GENERATE_CACHED, r.generated[0], &r.n_generated[0]) ==
                  MMIX_ERR_UNSUPPORTED, "%s: generation is refused", info.name);
        mmix_clear_error(ctx);
    }
    CHECK_OK(ctx, mmix_model_save(ctx, &m, save_path, 1));
    r.numel = m.params.numel;
    r.params = (float *)malloc((size_t)r.numel * sizeof(float));
    for (i = 0; r.params && i < m.params.count; i++) {
        mmix_tensor *p = m.params.tensors[i];
        CHECK_OK(ctx, mmix_tensor_download(ctx, p, 0, r.params + (p->data - m.params.data), p->n));
    }
    r.ok = r.params != NULL && mmix_last_result(ctx) == MMIX_OK;
done:
    mmix_ctx_destroy(ctx);
    return r;
}

static int same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int ca, cb, same = fa && fb;
    while (same) {
        ca = fgetc(fa);
        cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void architecture(mmix_arch arch) {
    mmix_arch_info info;
    run cpu, sh;
    long calls_before = shadow_kernel_calls;
    mmix_arch_get(arch, &info);
    cpu = train_generate_save(arch, NULL, "build/test_backend_cpu.safetensors");
    sh = train_generate_save(arch, &shadow, "build/test_backend_shadow.safetensors");
    CHECK(cpu.ok && sh.ok, "%s: both runs completed", info.name);
    CHECK(shadow_kernel_calls > calls_before, "%s: the shadow backend ran the kernels (%ld calls)", info.name,
          shadow_kernel_calls - calls_before);
    if (cpu.ok && sh.ok) {
        CHECK(memcmp(cpu.losses, sh.losses, sizeof cpu.losses) == 0, "%s: three training losses bit-identical (%.7f %.7f)",
              info.name, cpu.losses[2], sh.losses[2]);
        CHECK(cpu.numel == sh.numel && memcmp(cpu.params, sh.params, (size_t)cpu.numel * sizeof(float)) == 0,
              "%s: the trained weights bit-identical", info.name);
    }
    if (cpu.ok && sh.ok && info.can_generate) { /* the causal models only */
        CHECK(memcmp(cpu.generated, sh.generated, sizeof cpu.generated) == 0 &&
                  memcmp(cpu.n_generated, sh.n_generated, sizeof cpu.n_generated) == 0 &&
                  cpu.n_generated[0] == (info.can_generate ? 8 : 0),
              "%s: greedy generation, cached and index-walking, gives the same tokens", info.name);
        CHECK(memcmp(cpu.generated[0], cpu.generated[1], sizeof cpu.generated[0]) == 0,
              "%s: the cached generator picks the tokens a whole forward per token picks", info.name);
        CHECK(memcmp(cpu.first_logits, sh.first_logits, sizeof cpu.first_logits) == 0,
              "%s: a generator's logits bit-identical", info.name);
    }
    if (cpu.ok && sh.ok) {
        CHECK(same_file("build/test_backend_cpu.safetensors", "build/test_backend_shadow.safetensors"),
              "%s: the saved files are byte-identical", info.name);
    }
    { /* load the shadow's file into a shadow context: the weights come back */
        mmix_ctx *ctx;
        mmix_model m;
        int64_t i, same = 1;
        float v;
        if (mmix_ctx_create(&ctx, NULL) == MMIX_OK) {
            mmix_set_backend(ctx, &shadow);
            CHECK_OK(ctx, mmix_model_load(ctx, &m, "build/test_backend_shadow.safetensors", NULL, NULL));
            CHECK(shadow_is_poisoned(m.params.data), "%s: a loaded model's values live in the shadow's memory", info.name);
            for (i = 0; cpu.params && mmix_last_result(ctx) == MMIX_OK && i < m.params.numel; i += 7) {
                shadow.download(&v, m.params.data + i, sizeof v);
                same &= memcmp(&v, &cpu.params[i], sizeof v) == 0;
            }
            CHECK(same, "%s: loading through the backend gives the saved weights", info.name);
            mmix_ctx_destroy(ctx);
        }
    }
    free(cpu.params);
    free(sh.params);
    remove("build/test_backend_cpu.safetensors");
    remove("build/test_backend_shadow.safetensors");
}

static mmix_tensor *fn_mixed(mmix_ctx *ctx, mmix_tensor *const *in, void *user) {
    (void)user; /* a little of everything: token mixing, a gather, a norm, a scalar loss */
    return mmix_mean(ctx, mmix_mul(ctx, mmix_layernorm(ctx, mmix_tokens_flip(ctx, mmix_token_mix(ctx, in[0], in[1], NULL,
                                                                                                 mmix_mask_causal())),
                                                        NULL, NULL, 1e-5f),
                                   in[0]));
}

static void gradcheck_through_the_backend(void) {
    mmix_ctx *ctx;
    mmix_rng rng;
    mmix_tensor *in[2];
    mmix_gradcheck_report rep;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return;
    mmix_set_backend(ctx, &shadow);
    mmix_rng_seed(&rng, 3);
    in[0] = mmix_tensor_new(ctx, MMIX_PERSIST, MMIX_F32, mmix_shape3(2, 5, 3));
    in[1] = mmix_tensor_new(ctx, MMIX_PERSIST, MMIX_F32, mmix_shape3(5, 5, 1));
    if (in[0] && in[1]) {
        mmix_init_normal(in[0], &rng, 0.0f, 1.0f);
        mmix_init_normal(in[1], &rng, 0.0f, 0.5f);
        mmix_set_requires_grad(ctx, in[0], 1);
        mmix_set_requires_grad(ctx, in[1], 1);
        CHECK(mmix_gradcheck(ctx, fn_mixed, NULL, in, 2, NULL, &rep) == MMIX_OK && rep.ok && rep.checked == 55,
              "gradcheck through the shadow backend: %lld elements, worst %.3g %s", (long long)rep.checked,
              rep.worst_error, mmix_last_error(ctx));
    }
    mmix_ctx_destroy(ctx);
}

/* Every slot of the CPU table is set (a NULL would be a slot the fill function forgot). */
static void cpu_table_complete(void) {
    mmix_backend b;
    void (*slots[sizeof b / sizeof(void (*)(void))])(void);
    size_t i, n = (sizeof b - sizeof b.name) / sizeof(void (*)(void)), nulls = 0;
    mmix_cpu_backend_fill(&b);
    memcpy(slots, (const char *)&b + sizeof b.name, n * sizeof(void (*)(void)));
    for (i = 0; i < n; i++) nulls += slots[i] == NULL;
    CHECK(nulls == 0 && strcmp(b.name, "cpu") == 0, "the CPU backend fills all %lu slots (%lu NULL)", (unsigned long)n,
          (unsigned long)nulls);
}

/* The poison is real: reading a poisoned address ends a child process with a fault. */
static void poison_faults(void) {
#ifdef HAVE_FORK
    float *real = (float *)shadow_cpu.alloc(64), *poisoned = (float *)shadow_poison(real);
    pid_t pid;
    int status = 0;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        volatile float v;
        if (!freopen("/dev/null", "w", stderr)) _exit(0); /* (a sanitizer's report of the fault) */
        v = *(volatile float *)poisoned;
        (void)v;
        _exit(0); /* reached only if the read did not fault */
    }
    /* killed by the fault, or (under ASan) exited with its error status */
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0),
          "dereferencing a poisoned address faults on this machine");
    shadow_cpu.release(real);
#else
    SKIP("no fork() here: the poison's fault is not checked");
#endif
}

int main(void) {
    int a;
    shadow_backend_fill(&shadow);
    cpu_table_complete();
    poison_faults();
    for (a = 0; a < MMIX_ARCH_COUNT; a++) architecture((mmix_arch)a);
    gradcheck_through_the_backend();
    return test_summary("test_backend");
}
