/* tests/static_a.c + static_b.c: two translation units that each implement the library
   with MMIX_STATIC, linked into one program: no symbol may clash. */
#define MMIX_STATIC
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"

unsigned static_a_first_random(void) {
    mmix_rng rng;
    mmix_rng_seed(&rng, 42);
    return mmix_rng_u32(&rng);
}
