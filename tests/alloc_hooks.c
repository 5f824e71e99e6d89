/* tests/alloc_hooks.c - all three allocator hooks given: every allocation goes through
   them, and everything allocated is freed by mmix_ctx_destroy. */
#include <stdlib.h>
static long live_blocks;
static void *counting_malloc(size_t n) { live_blocks++; return malloc(n); }
static void *counting_realloc(void *p, size_t n) { if (!p) live_blocks++; return realloc(p, n); }
static void counting_free(void *p) { if (p) live_blocks--; free(p); }
#define MMIX_MALLOC(size) counting_malloc(size)
#define MMIX_REALLOC(ptr, size) counting_realloc(ptr, size)
#define MMIX_FREE(ptr) counting_free(ptr)
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"

int main(void) {
    mmix_ctx *ctx;
    mmix_tensor *t;
    long during;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return 1;
    t = mmix_param(ctx, "p", mmix_shape2(300, 1000)); /* bigger than the first block */
    if (!t || !mmix_gelu(ctx, t)) return 1;
    during = live_blocks;
    mmix_ctx_destroy(ctx);
    return (during > 0 && live_blocks == 0) ? 0 : 1;
}
