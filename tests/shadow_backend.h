/* tests/shadow_backend.h - a backend whose memory the front end cannot reach: its alloc
   hands out "poisoned" addresses (the real ones plus 2^52, outside every address space
   the program maps, so that a dereference faults), and every kernel and memory entry
   subtracts the poison before calling the CPU backend. The library's ops, models,
   generator, optimizer and checkpoints must give the CPU backend's results with it,
   through the backend alone (tests/test_backend.c). A device backend's CPU emulation can
   start from it: replace the CPU calls by the emulated kernels.
   Include after maskedmixer.h (with the implementation). */
#ifndef MMIX_SHADOW_BACKEND_H
#define MMIX_SHADOW_BACKEND_H
#include <stdint.h>

#define SHADOW_POISON ((uintptr_t)1 << 52)

static mmix_backend shadow_cpu;     /* the real kernels */
static long shadow_kernel_calls;    /* kernels run through the shadow (proof it was used) */

static void *shadow_poison(void *p) { return p ? (void *)((uintptr_t)p + SHADOW_POISON) : NULL; }
static int shadow_is_poisoned(const void *p) { return p && ((uintptr_t)p & SHADOW_POISON) != 0; }
/* The real address of a poisoned one (NULL stays NULL: optional gradients, no bias). */
static void *shadow_real(const void *p) { return p ? (void *)((uintptr_t)p - SHADOW_POISON) : NULL; }
static float *SF(const float *p) { return (float *)shadow_real(p); }
static int32_t *SI(const int32_t *p) { return (int32_t *)shadow_real(p); }

static void *shadow_alloc(size_t bytes) { return shadow_poison(shadow_cpu.alloc(bytes)); }
static void shadow_release(void *p) { shadow_cpu.release(shadow_real(p)); }
static void shadow_upload(void *dst, const void *host, size_t bytes) { shadow_cpu.upload(shadow_real(dst), host, bytes); }
static void shadow_download(void *host, const void *src, size_t bytes) { shadow_cpu.download(host, shadow_real(src), bytes); }
static void shadow_copy(void *dst, const void *src, size_t bytes) { shadow_cpu.copy(shadow_real(dst), shadow_real(src), bytes); }
static void shadow_zero(void *dst, size_t bytes) { shadow_cpu.zero(shadow_real(dst), bytes); }
static void shadow_synchronize(void) { shadow_cpu.synchronize(); }

/* One wrapper per kernel: the CPU kernel on the real addresses. */
static void shadow_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                         const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    shadow_kernel_calls++;
    shadow_cpu.sgemm(ta, tb, M, N, K, alpha, SF(A), lda, SF(B), ldb, beta, SF(C), ldc);
}
static void shadow_fill(float *x, int64_t n, float v) { shadow_kernel_calls++; shadow_cpu.fill(SF(x), n, v); }
static void shadow_axpy(float *y, const float *x, float a, int64_t n) { shadow_kernel_calls++; shadow_cpu.axpy(SF(y), SF(x), a, n); }
static void shadow_add_forward(float *o, const float *a, const float *b, int64_t n) { shadow_kernel_calls++; shadow_cpu.add_forward(SF(o), SF(a), SF(b), n); }
static void shadow_mul_forward(float *o, const float *a, const float *b, int64_t n) { shadow_kernel_calls++; shadow_cpu.mul_forward(SF(o), SF(a), SF(b), n); }
static void shadow_mul_acc(float *y, const float *a, const float *b, int64_t n) { shadow_kernel_calls++; shadow_cpu.mul_acc(SF(y), SF(a), SF(b), n); }
static void shadow_scale_forward(float *o, const float *x, float s, int64_t n) { shadow_kernel_calls++; shadow_cpu.scale_forward(SF(o), SF(x), s, n); }
static double shadow_sum_forward(const float *x, int64_t n) { shadow_kernel_calls++; return shadow_cpu.sum_forward(SF(x), n); }
static void shadow_add_scalar_acc(float *y, float v, int64_t n) { shadow_kernel_calls++; shadow_cpu.add_scalar_acc(SF(y), v, n); }
static void shadow_embedding_forward(float *o, const float *t, const int32_t *ids, int64_t n, int64_t D) {
    shadow_kernel_calls++;
    shadow_cpu.embedding_forward(SF(o), SF(t), SI(ids), n, D);
}
static void shadow_embedding_backward(float *dt, const float *dout, const int32_t *ids, int64_t n, int64_t D) {
    shadow_kernel_calls++;
    shadow_cpu.embedding_backward(SF(dt), SF(dout), SI(ids), n, D);
}
static void shadow_add_bias_rows(float *o, const float *b, int64_t r, int64_t c) { shadow_kernel_calls++; shadow_cpu.add_bias_rows(SF(o), SF(b), r, c); }
static void shadow_sum_rows_acc(float *db, const float *dout, int64_t r, int64_t c) { shadow_kernel_calls++; shadow_cpu.sum_rows_acc(SF(db), SF(dout), r, c); }
static void shadow_layernorm_forward(float *o, float *mean, float *rstd, const float *x, const float *w, const float *b,
                                     int64_t r, int64_t c, float eps) {
    shadow_kernel_calls++;
    shadow_cpu.layernorm_forward(SF(o), SF(mean), SF(rstd), SF(x), SF(w), SF(b), r, c, eps);
}
static void shadow_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x, const float *mean,
                                      const float *rstd, const float *w, int64_t r, int64_t c) {
    shadow_kernel_calls++;
    shadow_cpu.layernorm_backward(SF(dx), SF(dw), SF(db), SF(dout), SF(x), SF(mean), SF(rstd), SF(w), r, c);
}
static void shadow_gelu_forward(float *o, const float *x, int64_t n) { shadow_kernel_calls++; shadow_cpu.gelu_forward(SF(o), SF(x), n); }
static void shadow_gelu_backward(float *dx, const float *dout, const float *x, int64_t n) { shadow_kernel_calls++; shadow_cpu.gelu_backward(SF(dx), SF(dout), SF(x), n); }
static void shadow_softmax_forward(float *o, const float *x, int64_t r, int64_t c) { shadow_kernel_calls++; shadow_cpu.softmax_forward(SF(o), SF(x), r, c); }
static void shadow_softmax_backward(float *dx, const float *dout, const float *y, int64_t r, int64_t c) {
    shadow_kernel_calls++;
    shadow_cpu.softmax_backward(SF(dx), SF(dout), SF(y), r, c);
}
static void shadow_cross_entropy_forward(float *loss, float *lse, const float *logits, const int32_t *t, int64_t rows, int64_t V,
                                         int32_t ignore) {
    shadow_kernel_calls++;
    shadow_cpu.cross_entropy_forward(SF(loss), SF(lse), SF(logits), SI(t), rows, V, ignore);
}
static void shadow_cross_entropy_backward(float *dl, const float *logits, const float *lse, const int32_t *t, int64_t rows,
                                          int64_t V, int32_t ignore, float scale) {
    shadow_kernel_calls++;
    shadow_cpu.cross_entropy_backward(SF(dl), SF(logits), SF(lse), SI(t), rows, V, ignore, scale);
}
static void shadow_argmax_rows(int32_t *o, const float *x, int64_t rows, int64_t cols) {
    shadow_kernel_calls++;
    shadow_cpu.argmax_rows(SI(o), SF(x), rows, cols);
}
static void shadow_token_mix_pack(float *Wt, const float *W, const uint8_t *keep, int64_t Lo, int64_t Li, int64_t k) {
    shadow_kernel_calls++;
    shadow_cpu.token_mix_pack(SF(Wt), SF(W), (const uint8_t *)shadow_real(keep), Lo, Li, k);
}
static void shadow_token_mix_unpack_grad(float *dW, const float *dWt, const uint8_t *keep, int64_t Lo, int64_t Li, int64_t k) {
    shadow_kernel_calls++;
    shadow_cpu.token_mix_unpack_grad(SF(dW), SF(dWt), (const uint8_t *)shadow_real(keep), Lo, Li, k);
}
static void shadow_token_mix_mask_inplace(float *W, const uint8_t *keep, int64_t Lo, int64_t Li, int64_t k) {
    shadow_kernel_calls++;
    shadow_cpu.token_mix_mask_inplace(SF(W), (const uint8_t *)shadow_real(keep), Lo, Li, k);
}
static void shadow_token_mix_softmax(float *dst, const float *src, int64_t Lo, int64_t Li, int64_t k) {
    shadow_kernel_calls++;
    shadow_cpu.token_mix_softmax(SF(dst), SF(src), Lo, Li, k);
}
static void shadow_token_mix_forward(float *o, const float *x, const float *Wt, const float *bias, int64_t B, int64_t Lo,
                                     int64_t Li, int64_t D, int64_t k) {
    shadow_kernel_calls++;
    shadow_cpu.token_mix_forward(SF(o), SF(x), SF(Wt), SF(bias), B, Lo, Li, D, k);
}
static void shadow_token_mix_backward(float *dx, float *dWt, float *db, const float *dout, const float *x, const float *Wt,
                                      const uint8_t *keep, int64_t B, int64_t Lo, int64_t Li, int64_t D, int64_t k) {
    shadow_kernel_calls++;
    shadow_cpu.token_mix_backward(SF(dx), SF(dWt), SF(db), SF(dout), SF(x), SF(Wt), (const uint8_t *)shadow_real(keep),
                                  B, Lo, Li, D, k);
}
static void shadow_rmsnorm_forward(float *o, float *rrms, const float *x, const float *w, int64_t r, int64_t c, float eps) {
    shadow_kernel_calls++;
    shadow_cpu.rmsnorm_forward(SF(o), SF(rrms), SF(x), SF(w), r, c, eps);
}
static void shadow_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *rrms, const float *w,
                                    int64_t r, int64_t c) {
    shadow_kernel_calls++;
    shadow_cpu.rmsnorm_backward(SF(dx), SF(dw), SF(dout), SF(x), SF(rrms), SF(w), r, c);
}
static void shadow_silu_forward(float *o, const float *x, int64_t n) { shadow_kernel_calls++; shadow_cpu.silu_forward(SF(o), SF(x), n); }
static void shadow_silu_backward(float *dx, const float *dout, const float *x, int64_t n) { shadow_kernel_calls++; shadow_cpu.silu_backward(SF(dx), SF(dout), SF(x), n); }
static void shadow_rope(float *o, const float *x, int64_t B, int64_t L, int64_t H, int64_t hd, float theta, int64_t pos0,
                        int inverse) {
    shadow_kernel_calls++;
    shadow_cpu.rope(SF(o), SF(x), B, L, H, hd, theta, pos0, inverse);
}
static void shadow_attention_forward(float *o, float *probs, const float *q, const float *k, const float *v, int64_t B,
                                     int64_t Lq, int64_t Lk, int64_t H, int64_t hd, int causal, mmix_dropout_draw drop) {
    shadow_kernel_calls++;
    shadow_cpu.attention_forward(SF(o), SF(probs), SF(q), SF(k), SF(v), B, Lq, Lk, H, hd, causal, drop);
}
static void shadow_attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *q,
                                      const float *k, const float *v, const float *probs, int64_t B, int64_t Lq, int64_t Lk,
                                      int64_t H, int64_t hd, mmix_dropout_draw drop) {
    shadow_kernel_calls++;
    shadow_cpu.attention_backward(SF(dq), SF(dk), SF(dv), SF(scratch), SF(dout), SF(q), SF(k), SF(v), SF(probs), B, Lq, Lk, H,
                                  hd, drop);
}
static void shadow_l2_normalize_forward(float *o, float *norm, const float *x, int64_t r, int64_t c, float eps) {
    shadow_kernel_calls++;
    shadow_cpu.l2_normalize_forward(SF(o), SF(norm), SF(x), r, c, eps);
}
static void shadow_l2_normalize_backward(float *dx, const float *dout, const float *x, const float *norm, int64_t r, int64_t c,
                                         float eps) {
    shadow_kernel_calls++;
    shadow_cpu.l2_normalize_backward(SF(dx), SF(dout), SF(x), SF(norm), r, c, eps);
}
static void shadow_cosine_forward(float *o, float *na, float *nb, const float *a, const float *b, int64_t r, int64_t c,
                                  float eps) {
    shadow_kernel_calls++;
    shadow_cpu.cosine_forward(SF(o), SF(na), SF(nb), SF(a), SF(b), r, c, eps);
}
static void shadow_cosine_backward(float *da, float *db, const float *dout, const float *a, const float *b, const float *na,
                                   const float *nb, int64_t r, int64_t c, float eps) {
    shadow_kernel_calls++;
    shadow_cpu.cosine_backward(SF(da), SF(db), SF(dout), SF(a), SF(b), SF(na), SF(nb), r, c, eps);
}
static void shadow_logsumexp_forward(float *o, const float *x, int64_t r, int64_t c) { shadow_kernel_calls++; shadow_cpu.logsumexp_forward(SF(o), SF(x), r, c); }
static void shadow_logsumexp_backward(float *dx, const float *dout, const float *x, const float *o, int64_t r, int64_t c) {
    shadow_kernel_calls++;
    shadow_cpu.logsumexp_backward(SF(dx), SF(dout), SF(x), SF(o), r, c);
}
static double shadow_l1_forward(const float *a, const float *b, int64_t n) { shadow_kernel_calls++; return shadow_cpu.l1_forward(SF(a), SF(b), n); }
static void shadow_l1_backward(float *da, float *db, float dout, const float *a, const float *b, int64_t n) {
    shadow_kernel_calls++;
    shadow_cpu.l1_backward(SF(da), SF(db), dout, SF(a), SF(b), n);
}
static void shadow_token_gather_forward(float *o, const float *a, const float *b, const int64_t *map, int64_t g, int64_t Lo,
                                        int64_t La, int64_t Lb, int64_t D) {
    shadow_kernel_calls++;
    shadow_cpu.token_gather_forward(SF(o), SF(a), SF(b), (const int64_t *)shadow_real(map), g, Lo, La, Lb, D);
}
static void shadow_token_gather_backward(float *da, float *db, const float *dout, const int64_t *map, int64_t g, int64_t Lo,
                                         int64_t La, int64_t Lb, int64_t D) {
    shadow_kernel_calls++;
    shadow_cpu.token_gather_backward(SF(da), SF(db), SF(dout), (const int64_t *)shadow_real(map), g, Lo, La, Lb, D);
}
static void shadow_adamw_update(float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2,
                                float eps, float wd, double bc1, double bc2) {
    shadow_kernel_calls++;
    shadow_cpu.adamw_update(SF(p), SF(g), SF(m), SF(v), n, lr, b1, b2, eps, wd, bc1, bc2);
}
static double shadow_sum_squares(const float *x, int64_t n) { shadow_kernel_calls++; return shadow_cpu.sum_squares(SF(x), n); }
static void shadow_dropout_forward(float *o, const float *x, int64_t n, mmix_dropout_draw drop) {
    shadow_kernel_calls++;
    shadow_cpu.dropout_forward(SF(o), SF(x), n, drop);
}
static void shadow_dropout_backward(float *dx, const float *dout, int64_t n, mmix_dropout_draw drop) {
    shadow_kernel_calls++;
    shadow_cpu.dropout_backward(SF(dx), SF(dout), n, drop);
}

/* The shadow backend, every slot by name (a slot left out would be the CPU one, which
   would fault on a poisoned address: the test would notice). */
static void shadow_backend_fill(mmix_backend *b) {
    mmix_cpu_backend_fill(&shadow_cpu);
    *b = shadow_cpu;
    b->name = "shadow";
    b->alloc = shadow_alloc;
    b->release = shadow_release;
    b->upload = shadow_upload;
    b->download = shadow_download;
    b->copy = shadow_copy;
    b->zero = shadow_zero;
    b->synchronize = shadow_synchronize;
    b->sgemm = shadow_sgemm;
    b->fill = shadow_fill;
    b->axpy = shadow_axpy;
    b->add_forward = shadow_add_forward;
    b->mul_forward = shadow_mul_forward;
    b->mul_acc = shadow_mul_acc;
    b->scale_forward = shadow_scale_forward;
    b->sum_forward = shadow_sum_forward;
    b->add_scalar_acc = shadow_add_scalar_acc;
    b->embedding_forward = shadow_embedding_forward;
    b->embedding_backward = shadow_embedding_backward;
    b->add_bias_rows = shadow_add_bias_rows;
    b->sum_rows_acc = shadow_sum_rows_acc;
    b->layernorm_forward = shadow_layernorm_forward;
    b->layernorm_backward = shadow_layernorm_backward;
    b->gelu_forward = shadow_gelu_forward;
    b->gelu_backward = shadow_gelu_backward;
    b->softmax_forward = shadow_softmax_forward;
    b->softmax_backward = shadow_softmax_backward;
    b->cross_entropy_forward = shadow_cross_entropy_forward;
    b->cross_entropy_backward = shadow_cross_entropy_backward;
    b->argmax_rows = shadow_argmax_rows;
    b->token_mix_pack = shadow_token_mix_pack;
    b->token_mix_unpack_grad = shadow_token_mix_unpack_grad;
    b->token_mix_mask_inplace = shadow_token_mix_mask_inplace;
    b->token_mix_softmax = shadow_token_mix_softmax;
    b->token_mix_forward = shadow_token_mix_forward;
    b->token_mix_backward = shadow_token_mix_backward;
    b->rmsnorm_forward = shadow_rmsnorm_forward;
    b->rmsnorm_backward = shadow_rmsnorm_backward;
    b->silu_forward = shadow_silu_forward;
    b->silu_backward = shadow_silu_backward;
    b->rope = shadow_rope;
    b->attention_forward = shadow_attention_forward;
    b->attention_backward = shadow_attention_backward;
    b->l2_normalize_forward = shadow_l2_normalize_forward;
    b->l2_normalize_backward = shadow_l2_normalize_backward;
    b->cosine_forward = shadow_cosine_forward;
    b->cosine_backward = shadow_cosine_backward;
    b->logsumexp_forward = shadow_logsumexp_forward;
    b->logsumexp_backward = shadow_logsumexp_backward;
    b->l1_forward = shadow_l1_forward;
    b->l1_backward = shadow_l1_backward;
    b->token_gather_forward = shadow_token_gather_forward;
    b->token_gather_backward = shadow_token_gather_backward;
    b->adamw_update = shadow_adamw_update;
    b->sum_squares = shadow_sum_squares;
    b->dropout_forward = shadow_dropout_forward;
    b->dropout_backward = shadow_dropout_backward;
}
#endif
