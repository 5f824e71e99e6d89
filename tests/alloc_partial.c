/* tests/alloc_partial.c - must NOT compile: the allocator hooks are all or none. */
#define MMIX_MALLOC(size) malloc(size)
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
int main(void) { return 0; }
