/* tests/op_cases.h - what the op tests share: a context and generator, random inputs,
   a reporting wrapper around mmix_gradcheck, and one forward function per op (with the
   settings the PyTorch fixtures use), so that test_ops, test_ops2 and test_fixtures run
   the very same calls. Include after maskedmixer.h and test.h. */
#ifndef MMIX_OP_CASES_H
#define MMIX_OP_CASES_H
#define OPS_SHARED static __attribute__((unused))

static mmix_ctx *ctx;
static mmix_rng rng;

OPS_SHARED mmix_tensor *input(mmix_shape shape, int requires_grad) {
    mmix_tensor *t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, shape);
    if (!t) return NULL;
    mmix_init_normal(t, &rng, 0.0f, 1.0f);
    if (requires_grad) mmix_set_requires_grad(ctx, t, 1);
    return t;
}

OPS_SHARED mmix_tensor *ids_tensor(mmix_shape shape, const int32_t *values) {
    mmix_tensor *t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, shape);
    int64_t i;
    for (i = 0; t && i < t->n; i++) t->ids[i] = values[i];
    return t;
}

/* Runs mmix_gradcheck and records one check with the report in the message. */
OPS_SHARED void gradcheck(const char *what, mmix_forward_fn fn, void *user, mmix_tensor **in, int n_in) {
    mmix_gradcheck_report rep;
    mmix_result r = mmix_gradcheck(ctx, fn, user, in, n_in, NULL, &rep);
    CHECK(r == MMIX_OK && rep.ok && rep.checked > 0,
          "gradcheck %s: result=%s checked=%lld failed=%lld worst=%.3g at input %d element %lld "
          "(analytic %.6g numeric %.6g) %s", what, mmix_result_str(r), (long long)rep.checked,
          (long long)rep.failed, rep.worst_error, rep.worst_input, (long long)rep.worst_element,
          rep.worst_analytic, rep.worst_numeric, mmix_last_error(ctx));
    if (r == MMIX_OK) printf("  gradcheck %-28s worst error %.2e over %lld elements\n", what,
                             rep.worst_error, (long long)rep.checked);
    mmix_clear_error(ctx);
    mmix_step_reset(ctx);
}

/* One forward function per op; u carries the op's settings where it has any. */
OPS_SHARED mmix_tensor *fn_embedding(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_embedding(c, in[0], in[1]); }
OPS_SHARED mmix_tensor *fn_linear(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_linear(c, in[0], in[1], in[2]); }
OPS_SHARED mmix_tensor *fn_linear_in_out(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_linear_in_out(c, in[0], in[1], in[2]); }
/* p 0.3 with key 7: the gradient check perturbs inputs, never the mask (it depends on the key only) */
OPS_SHARED mmix_tensor *fn_dropout(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_dropout(c, in[0], 0.3f, 7); }
OPS_SHARED mmix_tensor *fn_attention_dropout(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_attention_dropout(c, in[0], in[1], in[2], 2, 1, 0.3f, 9); }
OPS_SHARED mmix_tensor *fn_matmul(mmix_ctx *c, mmix_tensor *const *in, void *u) { const int *t = (const int *)u; return mmix_matmul(c, in[0], in[1], t[0], t[1]); }
OPS_SHARED mmix_tensor *fn_add(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_add(c, in[0], in[1]); }
OPS_SHARED mmix_tensor *fn_mul(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_mul(c, in[0], in[1]); }
OPS_SHARED mmix_tensor *fn_scale(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_scale(c, in[0], -1.75f); }
OPS_SHARED mmix_tensor *fn_sum(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_sum(c, in[0]); }
OPS_SHARED mmix_tensor *fn_mean(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_mean(c, in[0]); }
OPS_SHARED mmix_tensor *fn_reshape(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_reshape(c, in[0], mmix_shape2(4, 6)); }
OPS_SHARED mmix_tensor *fn_layernorm(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_layernorm(c, in[0], in[1], in[2], 1e-5f); }
OPS_SHARED mmix_tensor *fn_gelu(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_gelu(c, in[0]); }
OPS_SHARED mmix_tensor *fn_softmax(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_softmax(c, in[0]); }
OPS_SHARED mmix_tensor *fn_cross_entropy(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_cross_entropy(c, in[0], in[1], -100); }
OPS_SHARED mmix_tensor *fn_token_mix(mmix_ctx *c, mmix_tensor *const *in, void *u) { return mmix_token_mix(c, in[0], in[1], in[2], *(const mmix_mask *)u); }
OPS_SHARED mmix_tensor *fn_rmsnorm(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_rmsnorm(c, in[0], in[1], 1e-6f); }
OPS_SHARED mmix_tensor *fn_silu(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_silu(c, in[0]); }
OPS_SHARED mmix_tensor *fn_rope(mmix_ctx *c, mmix_tensor *const *in, void *u) { return mmix_rope(c, in[0], 2, 10000.0f, *(const int64_t *)u); }
OPS_SHARED mmix_tensor *fn_attention(mmix_ctx *c, mmix_tensor *const *in, void *u) { return mmix_attention(c, in[0], in[1], in[2], 2, *(const int *)u); }
OPS_SHARED mmix_tensor *fn_l2(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_l2_normalize(c, in[0], 1e-12f); }
OPS_SHARED mmix_tensor *fn_cosine(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_cosine_similarity(c, in[0], in[1], 1e-8f); }
OPS_SHARED mmix_tensor *fn_logsumexp(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_logsumexp(c, in[0]); }
OPS_SHARED mmix_tensor *fn_l1(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_l1_distance(c, in[0], in[1]); }
OPS_SHARED mmix_tensor *fn_slice(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_tokens_slice(c, in[0], -3, 2); }
OPS_SHARED mmix_tensor *fn_select(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_tokens_select(c, in[0], -2); }
OPS_SHARED mmix_tensor *fn_concat(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_tokens_concat(c, in[0], in[1]); }
OPS_SHARED mmix_tensor *fn_repeat(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_tokens_repeat(c, in[0], 4); }
OPS_SHARED mmix_tensor *fn_flip(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_tokens_flip(c, in[0]); }
OPS_SHARED mmix_tensor *fn_zero(mmix_ctx *c, mmix_tensor *const *in, void *u) { (void)u; return mmix_tokens_zero(c, in[0], 2, 4); }
#endif
