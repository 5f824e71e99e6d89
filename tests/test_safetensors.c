/* tests/test_safetensors.c - weights files: files built byte by byte here (independently of
   our writer) with known F32/F16/BF16/F64 values, metadata escapes, any entry order and
   padding; every half-precision value against a reference conversion; round trips through
   our writer; every malformed-header error; a seeded mutation fuzz run; and the atomicity
   of writes. Files go to build/ (run from the repository root). */
#define MASKEDMIXER_IMPLEMENTATION
/* A small header cap, so that a valid file above it can be built and must be refused. */
#define MMIX_SAFETENSORS_MAX_HEADER ((uint64_t)1 << 16)
#include "../maskedmixer.h"
#include "test.h"
#include <sys/stat.h>

static mmix_ctx *ctx;
static mmix_rng rng;

/* ---- building files by hand ---- */

static int put_bytes(const char *path, const unsigned char *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    size_t w;
    if (!f) return 0;
    w = fwrite(bytes, 1, n, f);
    return fclose(f) == 0 && w == n;
}

/* 8-byte little-endian `length`, then the header text, then `data`: into out (returns the size). */
static size_t assemble(unsigned char *out, uint64_t length, const char *header, size_t header_size,
                       const unsigned char *data, size_t data_size) {
    int k;
    for (k = 0; k < 8; k++) out[k] = (unsigned char)(length >> (8 * k));
    memcpy(out + 8, header, header_size);
    if (data_size) memcpy(out + 8 + header_size, data, data_size);
    return 8 + header_size + data_size;
}

/* A file whose header is `json` (exactly, the length field true) followed by data_size zero bytes. */
static int put_json(const char *path, const char *json, size_t json_size, size_t data_size) {
    unsigned char *buf = (unsigned char *)calloc(8 + json_size + data_size + 1, 1);
    size_t n = assemble(buf, json_size, json, json_size, NULL, 0) + data_size;
    int ok = put_bytes(path, buf, n);
    free(buf);
    return ok;
}


static uint32_t bits_of(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }
static int exists(const char *path) { struct stat st; return stat(path, &st) == 0; }
static int is_zeroed(const mmix_safetensors *st) {
    return st->file == NULL && st->entries == NULL && st->n_entries == 0 && st->n_meta == 0 && st->meta_keys == NULL;
}

/* ---- the hand-made file ----
   Entries out of order, keys in varied order, white space between tokens, a gap in the
   data (68..72), two empty ranges, metadata in the middle, space padding to 8. */
static const char hand_json[] =
    "{\"f16\":{\"dtype\":\"F16\",\"shape\":[2,4],\"data_offsets\":[16,32]},\n"
    "  \"scalar\" : { \"shape\" : [ ] , \"dtype\" : \"F32\" , \"data_offsets\" : [ 64 , 68 ] },\n"
    "\t\"__metadata__\":{\"format\":\"pt\",\"note\":\"tab\\there \\\"q\\\" \\\\ \\/ \\u00e9 \\ud83d\\ude00 end\\n\"},\r\n"
    "\"bf16\":{\"data_offsets\":[32,40],\"dtype\":\"BF16\",\"shape\":[4]},"
    "\"f32\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
    "\"f64\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[40,64]},"
    "\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[72,88]},"
    "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[88,88]},"
    "\"\\u00e9t\\u00e9\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[88,88]}}";
static const char hand_note[] = "tab\there \"q\" \\ / \xc3\xa9 \xf0\x9f\x98\x80 end\n";
static const uint16_t hand_f16[8] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x7C00, 0xFC00, 0x7E00};
static const uint16_t hand_bf16[4] = {0x3F80, 0xC040, 0x7F80, 0x0001};
static const double hand_f64[3] = {0.1, 1e300, -1e-300};

/* The file's bytes (the caller frees): returns the size. */
static size_t hand_file(unsigned char **out) {
    unsigned char data[88];
    size_t hlen = strlen(hand_json), padded = (hlen + 7) / 8 * 8, i, k;
    char *header = (char *)malloc(padded);
    float f32[4] = {1.5f, -0.25f, 3e38f, 0.0f};
    float scalar = 42.0f;
    int64_t ids[2] = {7, -9};
    unsigned char *buf = (unsigned char *)malloc(8 + padded + sizeof data);
    memcpy(header, hand_json, hlen);
    memset(header + hlen, ' ', padded - hlen);
    memset(data, 0xAB, sizeof data); /* the gap holds junk, which nobody may read */
    f32[3] = ldexpf(1.0f, -149);     /* the smallest float subnormal */
    /* little-endian, byte by byte, whatever the host */
    for (i = 0; i < 4; i++) {
        uint32_t b = bits_of(f32[i]);
        for (k = 0; k < 4; k++) data[4 * i + k] = (unsigned char)(b >> (8 * k));
    }
    for (i = 0; i < 8; i++) { data[16 + 2 * i] = (unsigned char)hand_f16[i]; data[17 + 2 * i] = (unsigned char)(hand_f16[i] >> 8); }
    for (i = 0; i < 4; i++) { data[32 + 2 * i] = (unsigned char)hand_bf16[i]; data[33 + 2 * i] = (unsigned char)(hand_bf16[i] >> 8); }
    for (i = 0; i < 3; i++) {
        uint64_t b;
        memcpy(&b, &hand_f64[i], 8);
        for (k = 0; k < 8; k++) data[40 + 8 * i + k] = (unsigned char)(b >> (8 * k));
    }
    for (k = 0; k < 4; k++) data[64 + k] = (unsigned char)(bits_of(scalar) >> (8 * k));
    for (i = 0; i < 2; i++)
        for (k = 0; k < 8; k++) data[72 + 8 * i + k] = (unsigned char)((uint64_t)ids[i] >> (8 * k));
    *out = buf;
    i = assemble(buf, padded, header, padded, data, sizeof data);
    free(header);
    return i;
}

static void test_hand_made(void) {
    const char *path = "build/test_st_hand.safetensors";
    unsigned char *bytes;
    size_t size = hand_file(&bytes);
    mmix_safetensors st;
    const mmix_st_entry *e;
    float out[8];
    static const char *const order[] = {"f16", "scalar", "bf16", "f32", "f64", "ids", "empty", "\xc3\xa9t\xc3\xa9"};
    int i, ok;
    CHECK(put_bytes(path, bytes, size), "write the hand-made file");
    free(bytes);
    CHECK_OK(ctx, mmix_safetensors_open(ctx, path, &st));
    CHECK(st.n_entries == 8 && st.n_meta == 2 && st.data_start % 8 == 0 && st.data_size == 88,
          "8 entries, 2 metadata, data of 88 bytes (%lld, %lld, %llu)", (long long)st.n_entries, (long long)st.n_meta,
          (unsigned long long)st.data_size);
    for (i = 0, ok = 1; i < 8 && i < st.n_entries; i++) ok = ok && strcmp(st.entries[i].name, order[i]) == 0;
    CHECK(ok, "entries are kept in file order, \\u escapes in names decoded");
    CHECK(mmix_safetensors_meta(&st, "format") && strcmp(mmix_safetensors_meta(&st, "format"), "pt") == 0 &&
          mmix_safetensors_meta(&st, "note") && strcmp(mmix_safetensors_meta(&st, "note"), hand_note) == 0 &&
          mmix_safetensors_meta(&st, "nothing") == NULL, "metadata: escapes, \\u00e9 and a surrogate pair decoded");
    CHECK(mmix_safetensors_find(&st, "nothing") == NULL, "find: an absent name is NULL");

    e = mmix_safetensors_find(&st, "f32");
    CHECK(e && e->dtype == MMIX_ST_F32 && e->ndim == 2 && e->shape[0] == 2 && e->shape[1] == 2 && e->numel == 4 &&
          e->begin == 0 && e->end == 16, "f32 entry");
    if (e) {
        CHECK_OK(ctx, mmix_safetensors_read(ctx, &st, e, out));
        CHECK(out[0] == 1.5f && out[1] == -0.25f && out[2] == 3e38f && out[3] == ldexpf(1.0f, -149), "F32 values");
    }
    e = mmix_safetensors_find(&st, "f16");
    CHECK(e && e->dtype == MMIX_ST_F16 && e->numel == 8, "f16 entry");
    if (e) {
        CHECK_OK(ctx, mmix_safetensors_read(ctx, &st, e, out));
        CHECK(out[0] == 1.0f && out[1] == -2.0f && out[2] == 65504.0f && out[3] == ldexpf(1.0f, -24) &&
              out[4] == ldexpf(1023.0f, -24) && isinf(out[5]) && out[5] > 0 && isinf(out[6]) && out[6] < 0 &&
              bits_of(out[7]) == 0x7FC00000u, "F16: 1, -2, 65504, 2^-24, largest subnormal, inf, -inf, NaN (%g %g %g %g %08x)",
              out[0], out[1], out[2], out[3], (unsigned)bits_of(out[7]));
    }
    e = mmix_safetensors_find(&st, "bf16");
    if (e) {
        CHECK_OK(ctx, mmix_safetensors_read(ctx, &st, e, out));
        CHECK(out[0] == 1.0f && out[1] == -3.0f && isinf(out[2]) && bits_of(out[3]) == 0x00010000u,
              "BF16: 1, -3, inf, a subnormal (%g %g)", out[0], out[1]);
    }
    e = mmix_safetensors_find(&st, "f64");
    if (e) {
        CHECK_OK(ctx, mmix_safetensors_read(ctx, &st, e, out));
        CHECK(out[0] == (float)0.1 && isinf(out[1]) && out[1] > 0 && out[2] == 0.0f && signbit(out[2]),
              "F64: rounded to nearest, overflow to inf, underflow to -0");
    }
    e = mmix_safetensors_find(&st, "scalar");
    CHECK(e && e->ndim == 0 && e->numel == 1, "a scalar: shape [], one element");
    if (e) {
        mmix_tensor *t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape0());
        CHECK(t && mmix_safetensors_read_into(ctx, &st, e, t) == MMIX_OK && t->data[0] == 42.0f, "scalar read_into");
    }
    e = mmix_safetensors_find(&st, "empty");
    CHECK(e && e->numel == 0 && e->ndim == 2 && e->shape[0] == 0, "a zero-sized tensor");
    if (e) CHECK_OK(ctx, mmix_safetensors_read(ctx, &st, e, NULL));
    e = mmix_safetensors_find(&st, "ids");
    CHECK(e && e->dtype == MMIX_ST_I64 && strcmp(mmix_st_dtype_name(e->dtype), "I64") == 0, "I64 entry");
    if (e) {
        CHECK(mmix_safetensors_read(ctx, &st, e, out) == MMIX_ERR_UNSUPPORTED && strstr(mmix_last_error(ctx), "'ids'") &&
              strstr(mmix_last_error(ctx), "I64") && strstr(mmix_last_error(ctx), path),
              "reading I64 as floats is UNSUPPORTED, naming the tensor: %s", mmix_last_error(ctx));
        mmix_clear_error(ctx);
    }
    e = mmix_safetensors_find(&st, "f32");
    if (e) { /* the wrong shape */
        mmix_tensor *t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape2(4, 1));
        mmix_result r = mmix_safetensors_read_into(ctx, &st, e, t);
        char expected[256];
        snprintf(expected, sizeof expected, "%s: tensor 'f32' has shape [2, 2] in the file, the model expects [4, 1]", path);
        CHECK(r == MMIX_ERR_SHAPE && strcmp(mmix_last_error(ctx), expected) == 0, "read_into a wrong shape: %s",
              mmix_last_error(ctx));
        mmix_clear_error(ctx);
    }
    mmix_safetensors_close(&st);
    CHECK(is_zeroed(&st), "close zeroes the struct");
    mmix_safetensors_close(&st); /* twice is fine */
    mmix_step_reset(ctx);
    remove(path);
}

/* Every half against a reference conversion made differently: sign * mant * 2^(exp - 25). */
static void test_all_halves(void) {
    uint32_t h;
    int bad = 0;
    for (h = 0; h < 65536; h++) {
        uint32_t exp = (h >> 10) & 31, mant = h & 1023;
        float got = mmix__f16_to_f32((uint16_t)h), want;
        if (exp == 31) {
            if (mant == 0) want = (h & 0x8000) ? -(float)HUGE_VAL : (float)HUGE_VAL;
            else { /* a NaN: its payload kept, quiet */
                uint32_t b = ((uint32_t)(h & 0x8000) << 16) | 0x7FC00000u | (mant << 13);
                if (bits_of(got) != b) bad++;
                continue;
            }
        } else {
            want = (float)ldexp(exp ? (double)(mant | 1024) : (double)mant, exp ? (int)exp - 25 : -24);
            if (h & 0x8000) want = -want;
        }
        if (bits_of(got) != bits_of(want)) bad++;
    }
    CHECK(bad == 0, "all 65536 halves convert exactly (%d differ)", bad);
    CHECK(bits_of(mmix__bf16_to_f32(0xFFC1)) == 0xFFC10000u, "BF16 NaN payloads are kept");
    CHECK(mmix__f64_to_f32(3.4028235677973366e38) == (float)HUGE_VAL &&
          mmix__f64_to_f32(3.4028235677973362e38) == 3.4028234663852886e38f && isnan(mmix__f64_to_f32(nan(""))),
          "F64 beyond the float range: ties at FLT_MAX + half an ulp go to inf, just below stay FLT_MAX");
}

static void test_round_trip(void) {
    const char *path = "build/test_st_rt.safetensors";
    mmix_tensor *t[4];
    const char *keys[3] = {"quote\"back\\slash", "ctl\x01\n\x1f", "\xc3\xa9t\xc3\xa9"};
    const char *values[3] = {"v1", "", "line\r\nnext \xe2\x82\xac"};
    const char *names[4] = {"z.last", "a.first", "m\"id\\dle\t", "s"};
    mmix_safetensors st;
    unsigned char *bytes;
    size_t size;
    uint64_t hlen;
    int i, k, ok;
    t[0] = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape2(3, 4));
    t[1] = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape4(2, 1, 3, 2));
    t[2] = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape1(5));
    t[3] = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape0());
    if (!t[0] || !t[1] || !t[2] || !t[3]) { CHECK(0, "tensors"); return; }
    for (i = 0; i < 4; i++) {
        mmix_init_normal(t[i], &rng, 0.0f, 1.0f);
        mmix_tensor_set_name(t[i], names[i]);
    }
    { /* special values must survive bit for bit */
        uint32_t special[5] = {0x7FC12345u, 0xFF800000u, 0x80000000u, 0x00000001u, 0x7F7FFFFFu};
        for (i = 0; i < 5; i++) memcpy(&t[2]->data[i], &special[i], 4);
    }
    CHECK_OK(ctx, mmix_safetensors_write(ctx, path, t, NULL, 4, keys, values, 3));
    CHECK(!exists("build/test_st_rt.safetensors.tmp"), "no temporary file after a write");
    bytes = read_all(path, &size);
    hlen = bytes && size >= 8 ? (uint64_t)bytes[0] | (uint64_t)bytes[1] << 8 | (uint64_t)bytes[2] << 16 : 0;
    CHECK(hlen % 8 == 0 && size == 8 + hlen + 4 * (12 + 12 + 5 + 1), "header length %llu is a multiple of 8 and the "
          "file is 8 + header + data (%lu bytes)", (unsigned long long)hlen, (unsigned long)size);
    CHECK(bytes && hlen > 0 && bytes[8] == '{' && bytes[8 + hlen - 1] != 0, "the header is a JSON object");
    free(bytes);
    CHECK_OK(ctx, mmix_safetensors_open(ctx, path, &st));
    CHECK(st.n_entries == 4 && st.n_meta == 3, "4 tensors and 3 metadata back");
    for (i = 0, ok = 1; i < 4 && i < st.n_entries; i++) {
        const mmix_st_entry *e = &st.entries[i];
        float *back = (float *)malloc((size_t)t[i]->n * sizeof(float) + 1);
        ok = ok && strcmp(e->name, names[i]) == 0 && e->dtype == MMIX_ST_F32 && e->ndim == t[i]->shape.ndim &&
             e->numel == t[i]->n;
        for (k = 0; ok && k < e->ndim; k++) ok = e->shape[k] == t[i]->shape.d[k];
        ok = ok && mmix_safetensors_read(ctx, &st, e, back) == MMIX_OK &&
             memcmp(back, t[i]->data, (size_t)t[i]->n * sizeof(float)) == 0;
        free(back);
    }
    CHECK(ok, "names (in the given order), shapes and bit-identical floats come back");
    for (i = 0, ok = 1; i < 3; i++) ok = ok && mmix_safetensors_meta(&st, keys[i]) && strcmp(mmix_safetensors_meta(&st, keys[i]), values[i]) == 0;
    CHECK(ok, "escaped metadata comes back");
    mmix_safetensors_close(&st);

    /* names[] overrides the tensors' names; no metadata; nothing at all */
    {
        const char *other[2] = {"x", "y"};
        CHECK_OK(ctx, mmix_safetensors_write(ctx, path, t, other, 2, NULL, NULL, 0));
        CHECK(mmix_safetensors_open(ctx, path, &st) == MMIX_OK && st.n_entries == 2 && st.n_meta == 0 &&
              mmix_safetensors_find(&st, "y") && mmix_safetensors_find(&st, "y")->numel == 12, "names[] are used");
        mmix_safetensors_close(&st);
        CHECK_OK(ctx, mmix_safetensors_write(ctx, path, NULL, NULL, 0, NULL, NULL, 0));
        bytes = read_all(path, &size);
        CHECK(size == 16 && bytes && bytes[0] == 8 && memcmp(bytes + 8, "{}      ", 8) == 0, "an empty file is {} padded");
        free(bytes);
        CHECK(mmix_safetensors_open(ctx, path, &st) == MMIX_OK && st.n_entries == 0, "and it opens");
        mmix_safetensors_close(&st);
    }
    /* the writer's argument errors, each before the file is touched */
    {
        const char *dup[2] = {"w", "w"}, *reserved[1] = {"__metadata__"}, *bad_utf8[1] = {"\xff"};
        const char *dup_keys[2] = {"k", "k"}, *vals[2] = {"1", "2"};
        char long_name[120];
        const char *long_names[1];
        mmix_tensor *ids = mmix_tensor_new(ctx, MMIX_STEP, MMIX_I32, mmix_shape1(2));
        memset(long_name, 'n', sizeof long_name - 1);
        long_name[sizeof long_name - 1] = '\0';
        long_names[0] = long_name;
        CHECK(mmix_safetensors_write(ctx, path, t, dup, 2, NULL, NULL, 0) == MMIX_ERR_INVALID_ARGUMENT &&
              strstr(mmix_last_error(ctx), "'w'"), "duplicate names: %s", mmix_last_error(ctx));
        CHECK(mmix_safetensors_write(ctx, path, t, NULL, 1, dup_keys, vals, 2) == MMIX_ERR_INVALID_ARGUMENT &&
              strstr(mmix_last_error(ctx), "'k'"), "duplicate metadata keys: %s", mmix_last_error(ctx));
        CHECK(mmix_safetensors_write(ctx, path, t, reserved, 1, NULL, NULL, 0) == MMIX_ERR_INVALID_ARGUMENT &&
              strstr(mmix_last_error(ctx), "reserved"), "__metadata__ as a name: %s", mmix_last_error(ctx));
        CHECK(mmix_safetensors_write(ctx, path, t, bad_utf8, 1, NULL, NULL, 0) == MMIX_ERR_INVALID_ARGUMENT &&
              strstr(mmix_last_error(ctx), "UTF-8"), "a name that is not UTF-8: %s", mmix_last_error(ctx));
        CHECK(mmix_safetensors_write(ctx, path, t, long_names, 1, NULL, NULL, 0) == MMIX_ERR_INVALID_ARGUMENT &&
              strstr(mmix_last_error(ctx), "longer"), "a name too long to read back: %s", mmix_last_error(ctx));
        CHECK(ids && mmix_safetensors_write(ctx, path, &ids, dup, 1, NULL, NULL, 0) == MMIX_ERR_INVALID_ARGUMENT,
              "an integer tensor: %s", mmix_last_error(ctx));
        mmix_clear_error(ctx);
    }
    remove(path);
    mmix_step_reset(ctx);
}

/* ---- malformed headers ---- */
typedef struct bad_case {
    const char *json;
    size_t data_size;
    mmix_result code;
    const char *message;
} bad_case;

#define E1 "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]"
static const bad_case bad_cases[] = {
    /* accepted: what the format allows */
    {"{}", 0, MMIX_OK, ""},
    {"{}      ", 0, MMIX_OK, ""},
    {"{ \"a\" :\n{ \"data_offsets\" : [ 0 , 4 ] ,\t\"shape\" : [ 1 ] , \"dtype\" : \"F32\" } }", 4, MMIX_OK, ""},
    {"{\"__metadata__\":{},\"a\":{" E1 "}}", 10, MMIX_OK, ""},   /* trailing data after the last tensor */
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},\"b\":{\"dtype\":\"BOOL\",\"shape\":[2,0],\"data_offsets\":[4,4]}}", 4, MMIX_OK, ""},
    {"{\"a\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[8,12]},\"b\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 12, MMIX_OK, ""},
    {"{\"\":{" E1 "}}", 4, MMIX_OK, ""},
    /* the object itself */
    {"", 0, MMIX_ERR_FORMAT, "must be a JSON object"},
    {"[]", 0, MMIX_ERR_FORMAT, "must be a JSON object"},
    {" {}", 0, MMIX_ERR_FORMAT, "starting with '{'"},
    {"{\"a\":{" E1 "}", 4, MMIX_ERR_FORMAT, "found the end of the header"},
    {"{\"a\":{" E1 "},}", 4, MMIX_ERR_FORMAT, "expected a tensor name or __metadata__ (a string), found '}'"},
    {"{'a':{}}", 0, MMIX_ERR_FORMAT, "found '''"},
    {"{\"a\" {" E1 "}}", 4, MMIX_ERR_FORMAT, "expected ':' after a tensor name"},
    {"{\"a\":{" E1 "} \"b\":{}}", 4, MMIX_ERR_FORMAT, "expected ',' or '}' between"},
    {"{}x", 0, MMIX_ERR_FORMAT, "'x' after the header's closing '}'"},
    {"{}  \0 ", 0, MMIX_ERR_FORMAT, "byte 0x00 after the header's closing '}'"},
    {"{}\n", 0, MMIX_ERR_FORMAT, "byte 0x0a after"},
    {"{}{}", 0, MMIX_ERR_FORMAT, "'{' after"},
    /* strings */
    {"{\"a", 0, MMIX_ERR_FORMAT, "unterminated string"},
    {"{\"a\\", 0, MMIX_ERR_FORMAT, "unterminated string"},
    {"{\"a\\q\":{" E1 "}}", 4, MMIX_ERR_FORMAT, "invalid escape '\\q'"},
    {"{\"a\\u12G4\":{" E1 "}}", 4, MMIX_ERR_FORMAT, "invalid \\u escape"},
    {"{\"a\\u12\"", 0, MMIX_ERR_FORMAT, "invalid \\u escape"},
    {"{\"a\\ud800\":{" E1 "}}", 4, MMIX_ERR_FORMAT, "unpaired UTF-16 surrogate \\uD800"},
    {"{\"a\\ud800\\u0041\":{" E1 "}}", 4, MMIX_ERR_FORMAT, "unpaired UTF-16 surrogate \\uD800"},
    {"{\"a\\udc00\":{" E1 "}}", 4, MMIX_ERR_FORMAT, "unpaired UTF-16 surrogate \\uDC00"},
    {"{\"a\\u0000\":{" E1 "}}", 4, MMIX_ERR_UNSUPPORTED, "NUL"},
    {"{\"a\x01\":{" E1 "}}", 4, MMIX_ERR_FORMAT, "control byte 0x01"},
    {"{\"a\xc0\x80\":{" E1 "}}", 4, MMIX_ERR_FORMAT, "invalid UTF-8"},
    {"{\"a\xed\xa0\x80\":{" E1 "}}", 4, MMIX_ERR_FORMAT, "invalid UTF-8"},
    {"{\"a\xe2\x82\":{" E1 "}}", 4, MMIX_ERR_FORMAT, "invalid UTF-8"},
    {"{\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\":{" E1 "}}", 4,
     MMIX_ERR_UNSUPPORTED, "tensor name 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...' is 98 bytes"},
    /* entries */
    {"{\"a\":[1]}", 0, MMIX_ERR_FORMAT, "expected '{' (a tensor entry is an object), found '['"},
    {"{\"a\":{}}", 0, MMIX_ERR_FORMAT, "tensor 'a': the key 'dtype' is missing"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, MMIX_ERR_FORMAT, "tensor 'a': the key 'data_offsets' is missing"},
    {"{\"a\":{" E1 ",\"dtype\":\"F32\"}}", 4, MMIX_ERR_FORMAT, "tensor 'a': duplicate key 'dtype'"},
    {"{\"a\":{" E1 ",\"offsets\":[0,4]}}", 4, MMIX_ERR_FORMAT, "tensor 'a': unknown key 'offsets'"},
    {"{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, MMIX_ERR_FORMAT, "tensor 'a': unknown dtype 'F33'"},
    {"{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, MMIX_ERR_FORMAT, "unknown dtype 'f32'"},
    {"{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, MMIX_ERR_FORMAT, "expected the dtype of tensor 'a'"},
    {"{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, MMIX_ERR_UNSUPPORTED, "dtype F8_E4M3 is not supported"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, MMIX_ERR_UNSUPPORTED, "tensor 'a' has 5 dims"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, MMIX_ERR_FORMAT, "dim 0 of tensor 'a''s shape must be an integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1e2],\"data_offsets\":[0,400]}}", 400, MMIX_ERR_FORMAT, "must be an integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4, MMIX_ERR_FORMAT, "leading zero"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[+1],\"data_offsets\":[0,4]}}", 4, MMIX_ERR_FORMAT, "found '+'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, MMIX_ERR_FORMAT, "dim 0 of tensor 'a''s shape is negative"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, MMIX_ERR_FORMAT, "found '\"'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,],\"data_offsets\":[0,4]}}", 4, MMIX_ERR_FORMAT, "found ']'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, MMIX_ERR_FORMAT, "a shape is an array"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[9223372036854775808],\"data_offsets\":[0,4]}}", 4, MMIX_ERR_FORMAT, "larger than 9223372036854775807"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, MMIX_ERR_FORMAT, "more than 2^63 elements"},
    {"{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", 4, MMIX_ERR_FORMAT, "more than 2^64 bytes"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-1,4]}}", 4, MMIX_ERR_FORMAT, "the begin offset of tensor 'a' is negative"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]}}", 4, MMIX_ERR_FORMAT, "end offset of tensor 'a' is larger than"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, MMIX_ERR_FORMAT, "tensor 'a': data_offsets [4, 0] are reversed"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 4, MMIX_ERR_FORMAT, "end beyond the data section (4 bytes)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8, MMIX_ERR_FORMAT, "hold 4 bytes, but 2 elements of F32 need 8"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, MMIX_ERR_FORMAT, "exactly two integers"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 8, MMIX_ERR_FORMAT, "exactly two integers"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
     MMIX_ERR_FORMAT, "tensors 'a' [0, 8] and 'b' [4, 12] overlap"},
    {"{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[5,6]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12,
     MMIX_ERR_FORMAT, "overlap"},
    {"{\"a\":{" E1 "},\"a\":{" E1 "}}", 4, MMIX_ERR_FORMAT, "names tensor 'a' twice"},
    /* __metadata__ */
    {"{\"__metadata__\":{\"k\":1}}", 0, MMIX_ERR_FORMAT, "expected the value of __metadata__ key 'k' (a string), found '1'"},
    {"{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, MMIX_ERR_FORMAT, "value of __metadata__ key 'k'"},
    {"{\"__metadata__\":[]}", 0, MMIX_ERR_FORMAT, "__metadata__ is an object of strings"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, MMIX_ERR_FORMAT, "a second __metadata__"},
    {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, MMIX_ERR_FORMAT, "__metadata__ has the key 'k' twice"},
    {"{\"__metadata__\":{\"k\":\"1\" \"j\":\"2\"}}", 0, MMIX_ERR_FORMAT, "expected ',' or '}' in __metadata__"},
};

static void check_open_fails(const char *path, mmix_result code, const char *message, const char *what) {
    mmix_safetensors st;
    mmix_result r = mmix_safetensors_open(ctx, path, &st);
    CHECK(r == code && (r == MMIX_OK || (strstr(mmix_last_error(ctx), message) &&
                                         strstr(mmix_last_error(ctx), path) && is_zeroed(&st))), "%s: got %s '%s', expected %s with '%s'", what, mmix_result_str(r),
          mmix_last_error(ctx), mmix_result_str(code), message);
    mmix_clear_error(ctx);
    mmix_safetensors_close(&st);
}

static void test_malformed(void) {
    const char *path = "build/test_st_bad.safetensors";
    size_t c;
    char what[64];
    unsigned char buf[256];
    for (c = 0; c < sizeof bad_cases / sizeof bad_cases[0]; c++) {
        const bad_case *b = &bad_cases[c];
        /* the NUL case holds a NUL: its length is written out */
        size_t len = strcmp(b->json, "{}  ") == 0 ? 6 : strlen(b->json);
        CHECK(put_json(path, b->json, len, b->data_size), "write case %d", (int)c);
        snprintf(what, sizeof what, "case %d", (int)c);
        check_open_fails(path, b->code, b->message, what);
    }
    /* the file around the header */
    CHECK(put_bytes(path, (const unsigned char *)"\x02\0\0\0\0", 5), "write");
    check_open_fails(path, MMIX_ERR_FORMAT, "has 5 bytes, fewer than the 8", "truncated before 8 bytes");
    CHECK(put_bytes(path, buf, 0), "write");
    check_open_fails(path, MMIX_ERR_FORMAT, "has 0 bytes", "an empty file");
    CHECK(put_bytes(path, buf, assemble(buf, 100, "{}", 2, NULL, 0)), "write");
    check_open_fails(path, MMIX_ERR_FORMAT, "header length 100 runs past the end of the file (10 bytes)", "length beyond the file");
    CHECK(put_bytes(path, buf, assemble(buf, (uint64_t)1 << 62, "{}", 2, NULL, 0)), "write");
    check_open_fails(path, MMIX_ERR_FORMAT, "above the limit of 65536 bytes", "a huge header length");
    { /* a valid header just above the cap, wholly inside the file */
        size_t n = ((size_t)1 << 16) + 8;
        char *big = (char *)malloc(n);
        memset(big, ' ', n);
        memcpy(big, "{}", 2);
        CHECK(put_json(path, big, n, 0), "write");
        check_open_fails(path, MMIX_ERR_FORMAT, "header length 65544 is above the limit", "a header above the cap");
        CHECK(put_json(path, big, n - 8, 0), "write");
        check_open_fails(path, MMIX_OK, "", "a header at the cap");
        free(big);
    }
    /* nesting bombs fail at once, at the second bracket */
    {
        size_t n = 20000;
        char *bomb = (char *)malloc(n + 64);
        double t0 = mmix_time_seconds();
        memset(bomb, '[', n);
        CHECK(put_json(path, bomb, n, 0), "write");
        check_open_fails(path, MMIX_ERR_FORMAT, "must be a JSON object", "a top-level [[[[ bomb");
        memcpy(bomb, "{\"a\":{\"shape\":", 14);
        CHECK(put_json(path, bomb, n, 0), "write");
        check_open_fails(path, MMIX_ERR_FORMAT, "header byte 15: expected dim 0 of tensor 'a''s shape", "a shape [[[[ bomb");
        memcpy(bomb, "{\"__metadata__\":{\"k\":", 21);
        CHECK(put_json(path, bomb, n, 0), "write");
        check_open_fails(path, MMIX_ERR_FORMAT, "header byte 21: expected the value of __metadata__ key 'k'", "a metadata bomb");
        CHECK(mmix_time_seconds() - t0 < 1.0, "bombs are rejected quickly");
        free(bomb);
    }
    check_open_fails("build/no-such-file.safetensors", MMIX_ERR_FILE_NOT_FOUND, "build/no-such-file.safetensors", "missing file");
    {
        mmix_safetensors st;
        CHECK(mmix_safetensors_open(ctx, NULL, &st) == MMIX_ERR_INVALID_ARGUMENT && is_zeroed(&st), "NULL path");
        mmix_clear_error(ctx);
    }
    remove(path);
}

/* ---- mutation fuzz ---- */
static void test_fuzz(void) {
    const char *path = "build/test_st_fuzz.safetensors";
    unsigned char *base, *copy;
    size_t base_size = hand_file(&base);
    uint64_t hlen = (uint64_t)base[0] | (uint64_t)base[1] << 8;
    static const char alphabet[] = "{}[]\",:0123456789-.eE \\u/ntF1BI";
    int trial, clean = 1, opened = 0, reads = 0;
    float *out = (float *)malloc(4096 * sizeof(float));
    double t0 = mmix_time_seconds();
    copy = (unsigned char *)malloc(base_size);
    for (trial = 0; trial < 3000; trial++) {
        mmix_safetensors st;
        mmix_result r;
        size_t n = base_size;
        int kind = trial % 4, k;
        memcpy(copy, base, base_size);
        if (kind == 0) { /* a few bytes of the header changed, to JSON-ish or random bytes */
            for (k = 0; k < 1 + (int)mmix_rng_below(&rng, 3); k++)
                copy[8 + mmix_rng_below(&rng, (uint32_t)hlen)] = trial % 8 == 0 ? (unsigned char)mmix_rng_below(&rng, 256)
                                                                                 : (unsigned char)alphabet[mmix_rng_below(&rng, sizeof alphabet - 1)];
        } else if (kind == 1) { /* a byte anywhere flipped */
            copy[mmix_rng_below(&rng, (uint32_t)base_size)] ^= (unsigned char)(1u << mmix_rng_below(&rng, 8));
        } else if (kind == 2) { /* truncated */
            n = mmix_rng_below(&rng, (uint32_t)base_size);
        } else { /* the header length edited: nearby, random, or a random byte of it */
            uint64_t len = hlen;
            if (trial % 3 == 0) len = hlen + mmix_rng_below(&rng, 33) - 16;
            else if (trial % 3 == 1) len = (uint64_t)mmix_rng_u32(&rng) << 32 | mmix_rng_u32(&rng);
            else len = hlen ^ ((uint64_t)mmix_rng_below(&rng, 256) << (8 * mmix_rng_below(&rng, 8)));
            for (k = 0; k < 8; k++) copy[k] = (unsigned char)(len >> (8 * k));
        }
        if (!put_bytes(path, copy, n)) { clean = 0; break; }
        r = mmix_safetensors_open(ctx, path, &st);
        if (r == MMIX_OK) {
            int64_t i;
            opened++;
            for (i = 0; i < st.n_entries; i++) {
                const mmix_st_entry *e = &st.entries[i];
                mmix_result rr;
                if (e->numel > 4096 || e->end > st.data_size) { clean = 0; continue; } /* checked at open */
                rr = mmix_safetensors_read(ctx, &st, e, out);
                if (rr == MMIX_OK) reads++;
                else if (rr != MMIX_ERR_UNSUPPORTED || !mmix_last_error(ctx)[0]) clean = 0;
                mmix_clear_error(ctx);
            }
        } else if (!((r == MMIX_ERR_FORMAT || r == MMIX_ERR_UNSUPPORTED) && strstr(mmix_last_error(ctx), path) &&
                     is_zeroed(&st))) {
            clean = 0;
            printf("  fuzz trial %d: %s: %s\n", trial, mmix_result_str(r), mmix_last_error(ctx));
        }
        mmix_clear_error(ctx);
        mmix_safetensors_close(&st);
    }
    CHECK(clean, "3000 mutated files: each opens (and reads) or fails cleanly (%d opened, %d reads)", opened, reads);
    CHECK(opened > 100 && opened < 2900, "the fuzz run reaches both outcomes (%d opened)", opened);
    printf("  fuzz: %.2f s\n", mmix_time_seconds() - t0);
    free(copy);
    free(base);
    free(out);
    remove(path);
}

/* ---- atomicity ---- */
static void test_atomic(void) {
    const char *path = "build/test_st_atomic.safetensors";
    mmix_tensor *t = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape2(2, 3));
    const char *names[2] = {"w", "w"};
    unsigned char *before, *after;
    size_t n_before, n_after;
    if (!t) { CHECK(0, "tensor"); return; }
    mmix_init_normal(t, &rng, 0.0f, 1.0f);
    mmix_tensor_set_name(t, "w");
    CHECK(mmix_safetensors_write(ctx, "build/no_such_dir/x.safetensors", &t, NULL, 1, NULL, NULL, 0) == MMIX_ERR_IO &&
          strstr(mmix_last_error(ctx), "no_such_dir") && !exists("build/no_such_dir/x.safetensors.tmp"),
          "a missing directory is MMIX_ERR_IO: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    CHECK_OK(ctx, mmix_safetensors_write(ctx, path, &t, NULL, 1, NULL, NULL, 0));
    before = read_all(path, &n_before);
    { /* a failed write (duplicate names) over it: the old file is intact, no temporary */
        mmix_tensor *two[2];
        two[0] = two[1] = t;
        CHECK(mmix_safetensors_write(ctx, path, two, names, 2, NULL, NULL, 0) == MMIX_ERR_INVALID_ARGUMENT, "duplicate");
        mmix_clear_error(ctx);
    }
    after = read_all(path, &n_after);
    CHECK(before && after && n_before == n_after && memcmp(before, after, n_before) == 0 &&
          !exists("build/test_st_atomic.safetensors.tmp"), "a failed write leaves the old file as it was");
    free(before);
    free(after);
    /* a failed rename (the target is a directory): the directory stays, no temporary */
    mkdir("build/test_st_dir", 0777);
    CHECK(mmix_safetensors_write(ctx, "build/test_st_dir", &t, NULL, 1, NULL, NULL, 0) == MMIX_ERR_IO &&
          !exists("build/test_st_dir.tmp") && exists("build/test_st_dir"), "a failed rename: %s", mmix_last_error(ctx));
    mmix_clear_error(ctx);
    remove("build/test_st_dir");
    { /* a file cut short after it was opened: the read is MMIX_ERR_IO, not garbage */
        mmix_tensor *big = mmix_tensor_new(ctx, MMIX_STEP, MMIX_F32, mmix_shape1(100000));
        mmix_safetensors st;
        unsigned char *bytes;
        size_t size;
        mmix_result r;
        mmix_tensor_set_name(big, "big");
        CHECK_OK(ctx, mmix_safetensors_write(ctx, path, &big, NULL, 1, NULL, NULL, 0));
        CHECK_OK(ctx, mmix_safetensors_open(ctx, path, &st));
        bytes = read_all(path, &size);
        CHECK(bytes && put_bytes(path, bytes, (size_t)st.data_start + 1000), "cut the file");
        r = st.n_entries == 1 ? mmix_safetensors_read(ctx, &st, &st.entries[0], big->data) : MMIX_ERR_FORMAT;
        CHECK(r == MMIX_ERR_IO && strstr(mmix_last_error(ctx), "'big'") && strstr(mmix_last_error(ctx), " of 400000 bytes"),
              "a short read: %s", mmix_last_error(ctx));
        mmix_clear_error(ctx);
        mmix_safetensors_close(&st);
        free(bytes);
    }
    remove(path);
    mmix_step_reset(ctx);
}

int main(void) {
    if (mmix_ctx_create(&ctx, NULL) != MMIX_OK) return 1;
    mmix_rng_seed(&rng, 4);
    mkdir("build", 0777);
    test_hand_made();
    test_all_halves();
    test_round_trip();
    test_malformed();
    test_fuzz();
    test_atomic();
    mmix_ctx_destroy(ctx);
    return test_summary("test_safetensors");
}
