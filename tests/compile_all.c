/* tests/compile_all.c - the program the compile matrix builds in every configuration
   (C99 under gcc and clang, C++ under g++ and clang++, with and without OpenMP and
   OpenBLAS) and then runs: one tiny forward and backward, checked against known values. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"
#include <math.h>

int main(void) {
    mmix_ctx *ctx;
    mmix_tensor *W, *x, *y, *loss;
    int ok;
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return 1;
    W = mmix_param(ctx, "W", mmix_shape2(1, 2));
    x = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape2(1, 2));
    if (!W || !x) return 1;
    W->data[0] = 2.0f; W->data[1] = -1.0f;
    x->data[0] = 3.0f; x->data[1] = 4.0f;
    y = mmix_linear(ctx, x, W, NULL);               /* 2*3 - 4 = 2 */
    loss = mmix_sum(ctx, mmix_mul(ctx, y, y));      /* 4; d/dW = 2 y x = (12, 16) */
    ok = loss && mmix_backward(ctx, loss) == MMIX_OK && loss->data[0] == 4.0f &&
         W->grad[0] == 12.0f && W->grad[1] == 16.0f;
    mmix_ctx_destroy(ctx);
    return ok ? 0 : 1;
}
