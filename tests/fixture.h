/* tests/fixture.h - reads the PyTorch fixture files written by tests/reference/make_fixtures.py
   (format described there). Strict: every length and shape is checked against the file. */
#ifndef MMIX_FIXTURE_H
#define MMIX_FIXTURE_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture_tensor {
    char name[128];
    int is_int;                 /* 0: float32, 1: int32 */
    int ndim;
    int64_t dims[4];
    int64_t n;
    void *data;
} fixture_tensor;

typedef struct fixture {
    char settings[4096];
    int count;
    fixture_tensor *tensors;
    unsigned char *blob;        /* the whole file */
} fixture;

static int fixture__read(const unsigned char *blob, size_t size, size_t *pos, void *out, size_t n) {
    if (n > size - *pos) return 0;
    memcpy(out, blob + *pos, n);
    *pos += n;
    return 1;
}

/* Returns 1 on success; on failure 0 with a message in err. Assumes a little-endian host. */
static __attribute__((unused)) int fixture_load(const char *path, fixture *fx, char *err, size_t err_size) {
    FILE *f = fopen(path, "rb");
    size_t size, pos = 0;
    uint32_t version, len, count, u;
    int i, d;
    memset(fx, 0, sizeof *fx);
    if (!f) { snprintf(err, err_size, "%s: cannot open (run from the repository root)", path); return 0; }
    fseek(f, 0, SEEK_END);
    size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    fx->blob = (unsigned char *)malloc(size ? size : 1);
    if (!fx->blob || fread(fx->blob, 1, size, f) != size) { fclose(f); snprintf(err, err_size, "%s: read failed", path); return 0; }
    fclose(f);
    if (size < 12 || memcmp(fx->blob, "MMIXFIX\0", 8) != 0) { snprintf(err, err_size, "%s: bad magic", path); return 0; }
    pos = 8;
    if (!fixture__read(fx->blob, size, &pos, &version, 4) || version != 1) { snprintf(err, err_size, "%s: version %u, want 1", path, version); return 0; }
    if (!fixture__read(fx->blob, size, &pos, &len, 4) || len >= sizeof fx->settings || len > size - pos) { snprintf(err, err_size, "%s: bad settings length", path); return 0; }
    fixture__read(fx->blob, size, &pos, fx->settings, len);
    if (!fixture__read(fx->blob, size, &pos, &count, 4) || count > 100000) { snprintf(err, err_size, "%s: bad tensor count", path); return 0; }
    fx->tensors = (fixture_tensor *)calloc(count ? count : 1, sizeof(fixture_tensor));
    fx->count = (int)count;
    for (i = 0; i < (int)count; i++) {
        fixture_tensor *t = &fx->tensors[i];
        if (!fixture__read(fx->blob, size, &pos, &len, 4) || len >= sizeof t->name ||
            !fixture__read(fx->blob, size, &pos, t->name, len)) { snprintf(err, err_size, "%s: tensor %d: bad name", path, i); return 0; }
        if (!fixture__read(fx->blob, size, &pos, &u, 4) || u > 1) { snprintf(err, err_size, "%s: %s: bad dtype", path, t->name); return 0; }
        t->is_int = (int)u;
        if (!fixture__read(fx->blob, size, &pos, &u, 4) || u > 4) { snprintf(err, err_size, "%s: %s: bad ndim", path, t->name); return 0; }
        t->ndim = (int)u;
        t->n = 1;
        for (d = 0; d < t->ndim; d++) {
            if (!fixture__read(fx->blob, size, &pos, &t->dims[d], 8) || t->dims[d] < 1 || t->dims[d] > (1 << 24)) { snprintf(err, err_size, "%s: %s: bad dim", path, t->name); return 0; }
            t->n *= t->dims[d];
        }
        if ((size_t)t->n * 4 > size - pos) { snprintf(err, err_size, "%s: %s: data past the end", path, t->name); return 0; }
        t->data = malloc((size_t)t->n * 4); /* own copy: the blob offset may be misaligned */
        if (!t->data) { snprintf(err, err_size, "%s: out of memory", path); return 0; }
        memcpy(t->data, fx->blob + pos, (size_t)t->n * 4);
        pos += (size_t)t->n * 4;
    }
    if (pos != size) { snprintf(err, err_size, "%s: %lu trailing bytes", path, (unsigned long)(size - pos)); return 0; }
    return 1;
}

static __attribute__((unused)) const fixture_tensor *fixture_get(const fixture *fx, const char *name) {
    int i;
    for (i = 0; i < fx->count; i++)
        if (strcmp(fx->tensors[i].name, name) == 0) return &fx->tensors[i];
    return NULL;
}

/* Largest |ours - ref| relative to the largest |ref| (the project's fixture tolerance
   rule); 1e30, failing any tolerance, when the fixture is missing or its size differs. */
static __attribute__((unused)) double fixture_rel_err(const float *ours, int64_t n, const fixture_tensor *ref) {
    double scale = 0.0, err = 0.0;
    const float *r;
    int64_t i;
    if (!ours || !ref || ref->is_int || ref->n != n) return 1e30;
    r = (const float *)ref->data;
    for (i = 0; i < n; i++) if (fabs(r[i]) > scale) scale = fabs(r[i]);
    if (scale == 0.0) scale = 1.0;
    for (i = 0; i < n; i++) if (!(fabs((double)ours[i] - r[i]) <= err)) err = fabs((double)ours[i] - r[i]);
    return err / scale;
}

/* Largest |ours - ref| (parameters after optimizer steps); 1e30 on a missing fixture. */
static __attribute__((unused)) double fixture_abs_err(const float *ours, int64_t n, const fixture_tensor *ref) {
    double err = 0.0;
    const float *r;
    int64_t i;
    if (!ours || !ref || ref->is_int || ref->n != n) return 1e30;
    r = (const float *)ref->data;
    for (i = 0; i < n; i++) if (!(fabs((double)ours[i] - r[i]) <= err)) err = fabs((double)ours[i] - r[i]);
    return err;
}

#ifdef MMIX_TEST_H
/* The tensor "CASE/WHAT/PARAM" (or "CASE/WHAT" when param is NULL), which must be there: a
   missing key is a failed check, never a pass. */
static __attribute__((unused)) const fixture_tensor *fixture_need(const fixture *fx, const char *case_name,
                                                                  const char *what, const char *param) {
    char key[256];
    const fixture_tensor *t;
    snprintf(key, sizeof key, param ? "%s/%s/%s" : "%s/%s", case_name, what, param);
    t = fixture_get(fx, key);
    CHECK(t != NULL, "fixture tensor %s is present", key);
    return t;
}
#endif

static __attribute__((unused)) void fixture_free(fixture *fx) {
    int i;
    for (i = 0; fx->tensors && i < fx->count; i++) free(fx->tensors[i].data);
    free(fx->tensors);
    free(fx->blob);
    memset(fx, 0, sizeof *fx);
}
#endif
