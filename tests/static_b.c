/* See static_a.c. */
#define MMIX_STATIC
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"

unsigned static_a_first_random(void);

int main(void) {
    mmix_rng rng;
    mmix_rng_seed(&rng, 42);
    return mmix_rng_u32(&rng) == static_a_first_random() ? 0 : 1;
}
