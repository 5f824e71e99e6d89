/* Weights files: the safetensors reader (mmix_safetensors_open/_read) and, on what it
   accepts, the checkpoint reader above it (mmix_model_load: architecture and sizes from the
   names and shapes). The input is the file. Checks:
   - refused: a message naming the file, and the struct zeroed;
   - opened: every entry lies inside the data section, and its float entries read back;
     written again as F32 (mmix_safetensors_write) they reopen with the same names, shapes,
     metadata and values (F16/BF16/F64 converted, the F32 bits kept, NaNs included);
   - loaded as a model: saved with mmix_model_save, it loads again with the same sizes and
     the same parameters, bit for bit. */
#include "fuzz.h"

/* Inputs larger than this are only opened: reading them is the same loop again. */
#define FUZZ_ST_MAX_READ ((uint64_t)1 << 20)

static void check_model(const char *path) {
    mmix_ctx *ctx;
    mmix_model m, again;
    int32_t pad = 0, pad2 = 0;
    int64_t i;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) abort();
    if (mmix_model_load(ctx, &m, path, NULL, &pad) != MMIX_OK) {
        FUZZ_CHECK_MESSAGE(ctx, path);
        mmix_ctx_destroy(ctx);
        return;
    }
    FUZZ_CHECK(mmix_model_save(ctx, &m, fuzz_path(2), pad) == MMIX_OK);
    FUZZ_CHECK(mmix_model_load(ctx, &again, fuzz_path(2), NULL, &pad2) == MMIX_OK);
    FUZZ_CHECK(pad == pad2 && again.config.arch == m.config.arch && again.config.vocab == m.config.vocab &&
               again.config.dim == m.config.dim && again.config.depth == m.config.depth &&
               again.config.n_ctx == m.config.n_ctx && again.params.count == m.params.count &&
               again.params.numel == m.params.numel);
    for (i = 0; i < m.params.count; i++)
        FUZZ_CHECK(strcmp(m.params.tensors[i]->name, again.params.tensors[i]->name) == 0);
    FUZZ_CHECK(memcmp(m.params.data, again.params.data, (size_t)m.params.numel * sizeof(float)) == 0);
    mmix_ctx_destroy(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mmix_ctx *ctx = fuzz_ctx();
    const char *path = fuzz_write(0, data, size);
    mmix_safetensors st, back;
    mmix_tensor **t;
    const char **names;
    int64_t i, n = 0;
    mmix_result r = mmix_safetensors_open(ctx, path, &st);
    if (r != MMIX_OK) {
        FUZZ_CHECK(st.file == NULL && st.entries == NULL && st.n_entries == 0 && st.n_meta == 0);
        FUZZ_CHECK_MESSAGE(ctx, path);
        return 0;
    }
    FUZZ_CHECK(st.data_start + st.data_size == size);
    t = (mmix_tensor **)calloc((size_t)st.n_entries + 1, sizeof *t);
    names = (const char **)calloc((size_t)st.n_entries + 1, sizeof *names);
    FUZZ_CHECK(t && names);
    for (i = 0; i < st.n_entries; i++) {
        const mmix_st_entry *e = &st.entries[i];
        mmix_shape s;
        int k, zero = 0;
        FUZZ_CHECK(e->begin <= e->end && e->end <= st.data_size && e->ndim >= 0 && e->ndim <= MMIX_MAX_DIMS);
        FUZZ_CHECK(mmix_safetensors_find(&st, e->name) == e);
        if (e->dtype != MMIX_ST_F32 && e->dtype != MMIX_ST_F16 && e->dtype != MMIX_ST_BF16 && e->dtype != MMIX_ST_F64) {
            float dummy;
            FUZZ_CHECK(mmix_safetensors_read(ctx, &st, e, &dummy) == MMIX_ERR_UNSUPPORTED);
            continue;
        }
        if (e->end - e->begin > FUZZ_ST_MAX_READ) continue;
        s.ndim = e->ndim;
        for (k = 0; k < MMIX_MAX_DIMS; k++) {
            s.d[k] = k < e->ndim ? e->shape[k] : 1;
            zero |= s.d[k] == 0;
        }
        if (zero) continue;   /* (no tensor of ours has an empty dim) */
        t[n] = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, s);
        FUZZ_CHECK(t[n] != NULL);
        FUZZ_CHECK(mmix_safetensors_read_into(ctx, &st, e, t[n]) == MMIX_OK);
        names[n++] = e->name;
    }
    FUZZ_CHECK(mmix_safetensors_write(ctx, fuzz_path(1), t, names, n, (const char *const *)st.meta_keys,
                                      (const char *const *)st.meta_values, st.n_meta) == MMIX_OK);
    FUZZ_CHECK(mmix_safetensors_open(ctx, fuzz_path(1), &back) == MMIX_OK);
    FUZZ_CHECK(back.n_entries == n && back.n_meta == st.n_meta);
    for (i = 0; i < st.n_meta; i++)
        FUZZ_CHECK(strcmp(back.meta_keys[i], st.meta_keys[i]) == 0 && strcmp(back.meta_values[i], st.meta_values[i]) == 0);
    for (i = 0; i < n; i++) {
        const mmix_st_entry *e = &back.entries[i];
        float *v = (float *)malloc((size_t)t[i]->n * sizeof(float) + 1);
        FUZZ_CHECK(v && strcmp(e->name, names[i]) == 0 && e->dtype == MMIX_ST_F32 && e->numel == t[i]->n);
        FUZZ_CHECK(mmix_safetensors_read(ctx, &back, e, v) == MMIX_OK);
        FUZZ_CHECK(memcmp(v, t[i]->data, (size_t)t[i]->n * sizeof(float)) == 0);
        free(v);
    }
    mmix_safetensors_close(&back);
    mmix_safetensors_close(&st);
    mmix_step_reset(ctx);
    free(t);
    free(names);
    check_model(path);
    return 0;
}
