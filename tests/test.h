/* tests/test.h - the tiny check harness shared by the test programs.
   Each CHECK counts one check; a failure prints where and why. A program ends with
   SKIP(reason) for a check this build cannot make (said out loud, never silently passed);
   test_summary(), which prints "[name] checks: P passed, F failed, S skipped" (read by
   tests/run.sh, which prints the suite's one closing line) and returns the exit status:
   1 on any failure. */
#ifndef MMIX_TEST_H
#define MMIX_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long test_passed, test_failed, test_skipped;

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (cond) {                                                              \
            test_passed++;                                                       \
        } else {                                                                 \
            test_failed++;                                                       \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                          \
            printf(__VA_ARGS__);                                                 \
            printf("\n");                                                        \
            fflush(stdout);                                                      \
        }                                                                        \
    } while (0)

/* A check that cannot be made in this build: counted and printed, neither passed nor failed. */
#define SKIP(...)                                                                \
    do {                                                                         \
        test_skipped++;                                                          \
        printf("SKIP %s:%d: ", __FILE__, __LINE__);                              \
        printf(__VA_ARGS__);                                                     \
        printf("\n");                                                           \
    } while (0)

/* Checks a call that returns mmix_result, printing the context's message if it fails. */
#define CHECK_OK(ctx, call) CHECK((call) == MMIX_OK, "%s -> %s", #call, mmix_last_error(ctx))

static __attribute__((unused)) int test_summary(const char *name) {
    printf("[%s] checks: %ld passed, %ld failed, %ld skipped\n", name, test_passed, test_failed, test_skipped);
    return test_failed ? 1 : 0;
}

/* Largest |a - b| relative to the largest |b| (the fixture tolerance rule of the project). */
static __attribute__((unused)) double test_rel_err(const float *a, const double *b, long n) {
    double scale = 0.0, err = 0.0;
    long i;
    for (i = 0; i < n; i++)
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
    if (scale == 0.0) scale = 1.0;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= err)) err = e; /* NaN propagates */
    }
    return err / scale;
}
/* A whole file in memory (NULL if it cannot be read); *size is its length. */
static __attribute__((unused)) unsigned char *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    unsigned char *data;
    long n;
    *size = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = (unsigned char *)malloc((size_t)n + 1);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) { free(data); data = NULL; }
    fclose(f);
    *size = (size_t)n;
    return data;
}
#endif
