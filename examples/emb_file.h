/* examples/emb_file.h - the embeddings file of mm embed and mm index: its layout, the bytes
   its writer makes and the checks its reader makes, apart from the rest of mm.c so that the
   fuzz harness (tests/fuzz/fuzz_embeddings.c) runs the very same code. Include it after
   maskedmixer.h; everything here is static.

   Little-endian. A 72-byte head: "MMIXEMB\0", u32 version 1, u32 rows_offset, u64 count,
   u64 dim, u64 model_hash, u64 tokenizer_hash, u64 offsets_offset, then u32 lengths of the
   model path, the documents path and the JSONL field, u32 0 (reserved); those strings; zeros up to
   rows_offset (a multiple of 64); count x dim float32 unit rows; count u64 byte offsets of
   each document's line in the documents file, increasing. */
#ifndef MM_EMB_FILE_H
#define MM_EMB_FILE_H

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EMB_MAGIC "MMIXEMB"
#define EMB_HEAD 72
#define EMB_PATH_CAP 1024           /* the longest path kept, NUL included (mm.c's PATH_CAP) */
#define EMB_MAX_DIM ((uint64_t)1 << 20)
#define EMB_MAX_COUNT ((uint64_t)1 << 40)

typedef struct emb_file {
    unsigned char *bytes;       /* the whole file, mapped or read */
    size_t size;
    int mapped;
    uint64_t count, dim, model_hash, tokenizer_hash;
    const float *rows;
    const unsigned char *offsets;   /* count u64, unaligned-safe reads */
    char model[EMB_PATH_CAP], docs[EMB_PATH_CAP], field[256];
} emb_file;

static void put_u32(unsigned char *p, uint32_t v) {
    int i;
    for (i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    int i;
    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const unsigned char *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

/* The whole file for these contents (calloc'd, *size its length); NULL when out of memory. */
static unsigned char *emb_bytes(const char *model, const char *docs, const char *field, uint64_t model_hash,
                                uint64_t tokenizer_hash, const float *rows, uint64_t count, uint64_t dim,
                                const uint64_t *offsets, size_t *size) {
    size_t lm = strlen(model), ld = strlen(docs), lf = strlen(field), D = (size_t)dim, i;
    size_t rows_offset = (EMB_HEAD + lm + ld + lf + 63) / 64 * 64;
    size_t offsets_offset = rows_offset + (size_t)count * D * 4;
    unsigned char *b;
    *size = offsets_offset + (size_t)count * 8;
    if (!(b = (unsigned char *)calloc(1, *size))) return NULL;
    memcpy(b, EMB_MAGIC, 8);
    put_u32(b + 8, 1);
    put_u32(b + 12, (uint32_t)rows_offset);
    put_u64(b + 16, count);
    put_u64(b + 24, dim);
    put_u64(b + 32, model_hash);
    put_u64(b + 40, tokenizer_hash);
    put_u64(b + 48, (uint64_t)offsets_offset);
    put_u32(b + 56, (uint32_t)lm);
    put_u32(b + 60, (uint32_t)ld);
    put_u32(b + 64, (uint32_t)lf);
    memcpy(b + EMB_HEAD, model, lm);
    memcpy(b + EMB_HEAD + lm, docs, ld);
    memcpy(b + EMB_HEAD + lm + ld, field, lf);
    for (i = 0; i < (size_t)count * D; i++) {   /* little-endian whatever the host */
        uint32_t u;
        memcpy(&u, &rows[i], 4);
        put_u32(b + rows_offset + 4 * i, u);
    }
    for (i = 0; i < (size_t)count; i++) put_u64(b + offsets_offset + 8 * i, offsets[i]);
    return b;
}

/* Checks f->bytes (f->size of them) and fills the other fields: every size is checked
   against the file's length before it is used, in an order that cannot overflow (each
   count is bounded before it multiplies). 0 with the error set, naming path and the
   problem. */
static int emb_parse(mmix_ctx *ctx, const char *path, emb_file *f) {
    const unsigned char *b = f->bytes;
    uint64_t rows_offset, offsets_offset, i, prev = 0;
    uint32_t lm, ld, lf;
    const char *why = NULL;
    if (f->size < EMB_HEAD || memcmp(b, EMB_MAGIC, 8) != 0) {
        why = f->size < EMB_HEAD ? "shorter than the 72-byte head" : "no MMIXEMB magic";
        goto bad;
    }
    if (get_u32(b + 8) != 1) {
        mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: embeddings file version %u, this mm reads 1", path, get_u32(b + 8));
        return 0;
    }
    rows_offset = get_u32(b + 12);
    f->count = get_u64(b + 16);
    f->dim = get_u64(b + 24);
    f->model_hash = get_u64(b + 32);
    f->tokenizer_hash = get_u64(b + 40);
    offsets_offset = get_u64(b + 48);
    lm = get_u32(b + 56), ld = get_u32(b + 60), lf = get_u32(b + 64);
    if (get_u32(b + 68) != 0) why = "the head's last 4 bytes (reserved) are not zero";
    else if (lm >= EMB_PATH_CAP || ld >= EMB_PATH_CAP || lf >= sizeof f->field) why = "a path or field name too long";
    else if ((uint64_t)EMB_HEAD + lm + ld + lf > rows_offset || rows_offset % 64 != 0)
        why = "the rows do not start at a multiple of 64 after the names";
    else if (f->dim < 1 || f->dim > EMB_MAX_DIM) why = "dim outside [1, 2^20]";
    else if (f->count > EMB_MAX_COUNT) why = "more than 2^40 rows";
    else if (offsets_offset != rows_offset + f->count * f->dim * 4 || offsets_offset + f->count * 8 != f->size)
        why = "the sizes in the head do not add up to the file's length (cut short?)";
    if (why) goto bad;
    for (i = EMB_HEAD + lm + ld + lf; i < rows_offset; i++)
        if (b[i] != 0) {
            why = "non-zero bytes between the names and the rows";
            goto bad;
        }
    f->rows = (const float *)(const void *)(b + rows_offset);   /* aligned: mmap and malloc give >= 16 */
    f->offsets = b + offsets_offset;
    /* document offsets: increasing (lines of the documents file, in order), and within what
       fseek takes */
    for (i = 0; i < f->count; i++) {
        uint64_t o = get_u64(f->offsets + 8 * i);
        if ((i > 0 && o <= prev) || o > (uint64_t)LONG_MAX) {
            why = "the document offsets are not increasing";
            goto bad;
        }
        prev = o;
    }
    memcpy(f->model, b + EMB_HEAD, lm);
    f->model[lm] = 0;
    memcpy(f->docs, b + EMB_HEAD + lm, ld);
    f->docs[ld] = 0;
    memcpy(f->field, b + EMB_HEAD + lm + ld, lf);
    f->field[lf] = 0;
    return 1;
bad:
    mmix_set_error(ctx, MMIX_ERR_FORMAT, "%s: not an embeddings file of mm embed / mm index (%s)", path, why);
    return 0;
}
#endif
