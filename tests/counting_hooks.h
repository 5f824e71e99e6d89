/* tests/counting_hooks.h - allocator hooks that count live blocks and can fail the n-th
   allocation from now on (fail_countdown = n), to walk every out-of-memory path of what a
   test calls and check that nothing leaks. Include before maskedmixer.h, in place of its
   default allocator. */
#ifndef MMIX_COUNTING_HOOKS_H
#define MMIX_COUNTING_HOOKS_H
#include <stdlib.h>
static long live_blocks, fail_countdown;
static void *hook_malloc(size_t n) {
    if (fail_countdown > 0 && --fail_countdown == 0) return NULL;
    live_blocks++;
    return malloc(n);
}
static void *hook_realloc(void *p, size_t n) {
    void *q;
    if (fail_countdown > 0 && --fail_countdown == 0) return NULL;
    q = realloc(p, n);
    if (!p && q) live_blocks++;
    return q;
}
static void hook_free(void *p) {
    if (p) live_blocks--;
    free(p);
}
#define MMIX_MALLOC(size) hook_malloc(size)
#define MMIX_REALLOC(ptr, size) hook_realloc(ptr, size)
#define MMIX_FREE(ptr) hook_free(ptr)
#endif
