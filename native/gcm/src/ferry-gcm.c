/*
 * ferry-gcm: the AES-256-GCM segments of Ferry's encrypted object format
 * (src/backends/decorators/encryption-format.ts), sealed and opened straight into buffers the
 * caller owns.
 *
 * Why native: Node's cipher API returns every update's output in a buffer of its own, which
 * the format code then copies where it belongs. For 256 MiB that is 4096 fresh 64 KiB
 * allocations (page faults, garbage collection) and one more copy of every byte; the cipher
 * itself (AES-NI, `openssl speed -evp aes-256-gcm`: 4 GB/s here) is a third of the time
 * sealing took through Node. Here the output goes where the caller says, and each key's
 * AES key schedule is made once per object, not once per segment.
 *
 * The OpenSSL is Node's own (its headers ship in include/node/openssl and the node binary
 * exports the symbols), so there is nothing to link and no second OpenSSL in the process.
 *
 * The cipher itself: Node 20's OpenSSL (3.0) has no AES-GCM for VAES and VPCLMULQDQ (that came
 * with OpenSSL 3.1), so where the processor has them (with AVX-512F/BW/VL, and the OS saves
 * the 512-bit registers: CPUID and XGETBV, checked once when the module loads) the segments
 * go through this addon's own AES-256-GCM in gcm-vaes.c, about twice as fast here
 * (benchmarks/results/encryption.md, 2026-12-05); the bytes are the same. FERRY_GCM_IMPL=openssl
 * (read when the module loads) keeps OpenSSL's; elsewhere it is OpenSSL's anyway.
 *
 * Exports (all buffers are Uint8Arrays; positions are byte offsets into `out`):
 *   newKey(key)                                      -> handle (32-byte key; wiped when collected)
 *   seal(handle, index, last, aad, plain, out, at)   -> at + plain.length + 16  (one whole segment)
 *   sealBegin(handle, index, last, aad)              -> undefined  (a segment given piece by piece)
 *   sealUpdate(handle, plain, out, at)               -> at + plain.length
 *   sealFinal(handle, out, at)                       -> at + 16    (the tag)
 *   open(handle, index, last, aad, sealed, out, at)  -> plain length, or -1 when the segment
 *        does not authenticate with that index and last flag (then nothing of it is left in out)
 *   tuneMalloc(mmapThreshold, trimThreshold)         -> true when glibc took both (mallopt),
 *        false where the C library is not glibc (nothing changed)
 *   implementation                                   -> "vaes-avx512" or "openssl" (a string)
 *
 * A segment's nonce is 7 zero bytes, its index (u32, big-endian) and its last flag (1 byte):
 * the same as nonce() in encryption-format.ts. Every OpenSSL failure other than a tag that
 * does not match throws (and leaves OpenSSL's error queue empty: Node's own crypto reads it).
 * The VAES code cannot fail but on a tag that does not match.
 */
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcm-vaes.h"

#define KEY_BYTES 32
#define NONCE_BYTES 12
#define TAG_BYTES 16

/*
 * The AES-256-GCM in use, chosen once when the module loads: the VAES code (gcm-vaes.c) where
 * the processor and the OS support it, unless FERRY_GCM_IMPL=openssl; OpenSSL's otherwise.
 */
static bool use_vaes;

/* One object's segment key: a cipher context for each direction, keyed once (or the VAES code's key). */
typedef struct {
  EVP_CIPHER_CTX *seal;
  EVP_CIPHER_CTX *open;
  /* With the VAES code: its key and the segment being sealed (the OpenSSL contexts are not made). */
  bool vaes;
  vaes_key vkey;
  vaes_segment vseg;
  /* A segment was begun (sealBegin) and not yet ended (sealFinal): updates are allowed. */
  bool sealing;
  /* Where open() decrypts a segment whose output overlaps its input (decryption in place
     in the caller's buffer): made on first use, as long as the longest such segment. */
  unsigned char *scratch;
  size_t scratch_bytes;
} segment_key;

/* A byte range of a Uint8Array argument. */
typedef struct {
  unsigned char *data;
  size_t length;
} bytes;

/* Throws a JS Error naming the OpenSSL call that failed and OpenSSL's reason; empties the queue. */
static void throw_openssl(napi_env env, const char *call) {
  char reason[256] = "no reason given";
  unsigned long e = ERR_get_error();
  if (e != 0) ERR_error_string_n(e, reason, sizeof reason);
  ERR_clear_error();
  char message[400];
  snprintf(message, sizeof message, "ferry-gcm: %s failed: %s", call, reason);
  napi_throw_error(env, NULL, message);
}

/* Reads argument count and values; false (with a TypeError thrown) when fewer than `want` came. */
static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < want) {
    napi_throw_type_error(env, NULL, "ferry-gcm: too few arguments");
    return false;
  }
  return true;
}

static bool get_bytes(napi_env env, napi_value v, bytes *out) {
  napi_typedarray_type type;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, &out->length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "ferry-gcm: a Uint8Array was expected");
    return false;
  }
  out->data = data;
  return true;
}

static bool get_key(napi_env env, napi_value v, segment_key **key) {
  if (napi_get_value_external(env, v, (void **)key) != napi_ok || *key == NULL) {
    napi_throw_type_error(env, NULL, "ferry-gcm: not a key made by newKey");
    return false;
  }
  return true;
}

/* A position in `out` with room for `need` bytes after it; throws a RangeError otherwise. */
static bool get_position(napi_env env, napi_value v, const bytes *out, size_t need, size_t *at) {
  int64_t value;
  if (napi_get_value_int64(env, v, &value) != napi_ok || value < 0 || (uint64_t)value > out->length || out->length - (size_t)value < need) {
    napi_throw_range_error(env, NULL, "ferry-gcm: the output buffer is too small at that position");
    return false;
  }
  *at = (size_t)value;
  return true;
}

static bool get_nonce(napi_env env, napi_value index, napi_value last, unsigned char nonce[NONCE_BYTES]) {
  uint32_t i;
  bool flag;
  if (napi_get_value_uint32(env, index, &i) != napi_ok || napi_get_value_bool(env, last, &flag) != napi_ok) {
    napi_throw_type_error(env, NULL, "ferry-gcm: a segment index and a last flag were expected");
    return false;
  }
  memset(nonce, 0, NONCE_BYTES);
  nonce[7] = (unsigned char)(i >> 24);
  nonce[8] = (unsigned char)(i >> 16);
  nonce[9] = (unsigned char)(i >> 8);
  nonce[10] = (unsigned char)i;
  nonce[11] = flag ? 1 : 0;
  return true;
}

static bool overlaps(const unsigned char *a, const unsigned char *b, size_t n) {
  return n > 0 && a < b + n && b < a + n;
}

static napi_value number(napi_env env, double value) {
  napi_value v;
  if (napi_create_double(env, value, &v) != napi_ok) return NULL;
  return v;
}

static void free_key(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  segment_key *key = data;
  /* EVP_CIPHER_CTX_free cleanses the key schedule it holds. */
  EVP_CIPHER_CTX_free(key->seal);
  EVP_CIPHER_CTX_free(key->open);
  if (key->scratch != NULL) {
    OPENSSL_cleanse(key->scratch, key->scratch_bytes);
    free(key->scratch);
  }
  OPENSSL_cleanse(key, sizeof *key);
  free(key);
}

static napi_value new_key(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bytes raw;
  if (!get_args(env, info, 1, argv) || !get_bytes(env, argv[0], &raw)) return NULL;
  if (raw.length != KEY_BYTES) {
    napi_throw_range_error(env, NULL, "ferry-gcm: the key must be 32 bytes");
    return NULL;
  }
  segment_key *key = calloc(1, sizeof *key);
  if (key == NULL) {
    napi_throw_error(env, NULL, "ferry-gcm: out of memory");
    return NULL;
  }
  const char *failed = NULL;
  if (use_vaes) {
    key->vaes = true;
    vaes_init(&key->vkey, raw.data);
  } else if ((key->seal = EVP_CIPHER_CTX_new()) == NULL || (key->open = EVP_CIPHER_CTX_new()) == NULL) failed = "EVP_CIPHER_CTX_new";
  else if (EVP_EncryptInit_ex(key->seal, EVP_aes_256_gcm(), NULL, raw.data, NULL) != 1) failed = "EVP_EncryptInit_ex";
  else if (EVP_DecryptInit_ex(key->open, EVP_aes_256_gcm(), NULL, raw.data, NULL) != 1) failed = "EVP_DecryptInit_ex";
  napi_value handle;
  if (failed == NULL && napi_create_external(env, key, free_key, NULL, &handle) == napi_ok) return handle;
  free_key(env, key, NULL);
  if (failed != NULL) throw_openssl(env, failed);
  else napi_throw_error(env, NULL, "ferry-gcm: could not make the key's handle");
  return NULL;
}

/* Starts a segment: its nonce, then the associated data (the object's header). */
static bool begin_segment(napi_env env, EVP_CIPHER_CTX *ctx, bool encrypt, const unsigned char nonce[NONCE_BYTES], const bytes *aad) {
  int n;
  if (encrypt ? EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 : EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1) {
    throw_openssl(env, encrypt ? "EVP_EncryptInit_ex" : "EVP_DecryptInit_ex");
    return false;
  }
  if (aad->length > INT32_MAX || (encrypt ? EVP_EncryptUpdate(ctx, NULL, &n, aad->data, (int)aad->length) : EVP_DecryptUpdate(ctx, NULL, &n, aad->data, (int)aad->length)) != 1) {
    throw_openssl(env, encrypt ? "EVP_EncryptUpdate (associated data)" : "EVP_DecryptUpdate (associated data)");
    return false;
  }
  return true;
}

/* The segment sealed by `key` begins: with the VAES code or with the key's OpenSSL context. */
static bool begin_sealing(napi_env env, segment_key *key, const unsigned char nonce[NONCE_BYTES], const bytes *aad) {
  if (!key->vaes) return begin_segment(env, key->seal, true, nonce, aad);
  vaes_begin(&key->vkey, &key->vseg, nonce, aad->data, aad->length);
  return true;
}

/* Encrypts `plain` to `out` (disjoint, or the same bytes); GCM writes exactly as many bytes as it reads. */
static bool seal_bytes(napi_env env, segment_key *key, const bytes *plain, unsigned char *out) {
  if (plain->length == 0) return true;
  if (overlaps(plain->data, out, plain->length) && plain->data != out) {
    napi_throw_range_error(env, NULL, "ferry-gcm: input and output overlap");
    return false;
  }
  if (key->vaes) {
    vaes_seal_update(&key->vkey, &key->vseg, plain->data, out, plain->length);
    return true;
  }
  int n;
  if (plain->length > INT32_MAX || EVP_EncryptUpdate(key->seal, out, &n, plain->data, (int)plain->length) != 1 || (size_t)n != plain->length) {
    throw_openssl(env, "EVP_EncryptUpdate");
    return false;
  }
  return true;
}

/* Ends a segment: its tag to `out`. */
static bool seal_tag(napi_env env, segment_key *key, unsigned char *out) {
  if (key->vaes) {
    vaes_seal_final(&key->vkey, &key->vseg, out);
    return true;
  }
  int n;
  if (EVP_EncryptFinal_ex(key->seal, out, &n) != 1 || n != 0) {
    throw_openssl(env, "EVP_EncryptFinal_ex");
    return false;
  }
  if (EVP_CIPHER_CTX_ctrl(key->seal, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, out) != 1) {
    throw_openssl(env, "EVP_CIPHER_CTX_ctrl (get tag)");
    return false;
  }
  return true;
}

/* Updates and the tag only inside a begun segment: never more bytes under a nonce already ended. */
static bool check_sealing(napi_env env, const segment_key *key) {
  if (!key->sealing) napi_throw_error(env, NULL, "ferry-gcm: no segment is begun (sealBegin)");
  return key->sealing;
}

static napi_value seal(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  segment_key *key;
  unsigned char nonce[NONCE_BYTES];
  bytes aad, plain, out;
  size_t at;
  if (!get_args(env, info, 7, argv) || !get_key(env, argv[0], &key) || !get_nonce(env, argv[1], argv[2], nonce) || !get_bytes(env, argv[3], &aad) ||
      !get_bytes(env, argv[4], &plain) || !get_bytes(env, argv[5], &out) || !get_position(env, argv[6], &out, plain.length + TAG_BYTES, &at)) {
    return NULL;
  }
  key->sealing = false;
  if (!begin_sealing(env, key, nonce, &aad) || !seal_bytes(env, key, &plain, out.data + at) || !seal_tag(env, key, out.data + at + plain.length)) {
    return NULL;
  }
  return number(env, (double)(at + plain.length + TAG_BYTES));
}

static napi_value seal_begin(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  segment_key *key;
  unsigned char nonce[NONCE_BYTES];
  bytes aad;
  if (!get_args(env, info, 4, argv) || !get_key(env, argv[0], &key) || !get_nonce(env, argv[1], argv[2], nonce) || !get_bytes(env, argv[3], &aad)) return NULL;
  key->sealing = false;
  if (!begin_sealing(env, key, nonce, &aad)) return NULL;
  key->sealing = true;
  return NULL; /* undefined */
}

static napi_value seal_update(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  segment_key *key;
  bytes plain, out;
  size_t at;
  if (!get_args(env, info, 4, argv) || !get_key(env, argv[0], &key) || !get_bytes(env, argv[1], &plain) || !get_bytes(env, argv[2], &out) ||
      !get_position(env, argv[3], &out, plain.length, &at) || !check_sealing(env, key)) {
    return NULL;
  }
  if (!seal_bytes(env, key, &plain, out.data + at)) return NULL;
  return number(env, (double)(at + plain.length));
}

static napi_value seal_final(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  segment_key *key;
  bytes out;
  size_t at;
  if (!get_args(env, info, 3, argv) || !get_key(env, argv[0], &key) || !get_bytes(env, argv[1], &out) || !get_position(env, argv[2], &out, TAG_BYTES, &at) ||
      !check_sealing(env, key)) {
    return NULL;
  }
  key->sealing = false;
  if (!seal_tag(env, key, out.data + at)) return NULL;
  return number(env, (double)(at + TAG_BYTES));
}

/* The scratch buffer of at least `n` bytes (grown, never shrunk: segments are at most 64 KiB). */
static unsigned char *scratch(napi_env env, segment_key *key, size_t n) {
  if (key->scratch_bytes >= n) return key->scratch;
  unsigned char *grown = malloc(n);
  if (grown == NULL) {
    napi_throw_error(env, NULL, "ferry-gcm: out of memory");
    return NULL;
  }
  if (key->scratch != NULL) {
    OPENSSL_cleanse(key->scratch, key->scratch_bytes);
    free(key->scratch);
  }
  key->scratch = grown;
  key->scratch_bytes = n;
  return grown;
}

/*
 * Decrypts `n` bytes of ciphertext at `src` to `dst` and checks the tag. The plain bytes go
 * straight to `dst` when it is apart from `src`; otherwise (the caller decrypts in place, its
 * plain bytes a little before their ciphertext) through the scratch buffer, since OpenSSL
 * allows only fully separate or identical input and output, and the ciphertext must stay
 * whole for another try with the other last flag. Returns 1 (authentic), 0 (not), -1 (thrown).
 */
static int open_bytes(napi_env env, segment_key *key, const unsigned char *src, size_t n, const unsigned char tag[TAG_BYTES], unsigned char *dst) {
  unsigned char *target = dst;
  if (overlaps(src, dst, n)) {
    target = scratch(env, key, n);
    if (target == NULL) return -1;
  }
  int len = 0;
  int end;
  if (n > INT32_MAX || (n > 0 && EVP_DecryptUpdate(key->open, target, &len, src, (int)n) != 1) || (size_t)len != n) {
    throw_openssl(env, "EVP_DecryptUpdate");
    return -1;
  }
  if (EVP_CIPHER_CTX_ctrl(key->open, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, (void *)tag) != 1) {
    throw_openssl(env, "EVP_CIPHER_CTX_ctrl (set tag)");
    return -1;
  }
  if (EVP_DecryptFinal_ex(key->open, target + n, &end) != 1) {
    /* The tag does not match: no byte of this segment may be used. */
    ERR_clear_error();
    OPENSSL_cleanse(target, n);
    return 0;
  }
  if (target != dst) memmove(dst, target, n);
  return 1;
}

static napi_value open_segment(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  segment_key *key;
  unsigned char nonce[NONCE_BYTES];
  bytes aad, sealed, out;
  size_t at;
  if (!get_args(env, info, 7, argv) || !get_key(env, argv[0], &key) || !get_nonce(env, argv[1], argv[2], nonce) || !get_bytes(env, argv[3], &aad) ||
      !get_bytes(env, argv[4], &sealed) || !get_bytes(env, argv[5], &out)) {
    return NULL;
  }
  if (sealed.length < TAG_BYTES) return number(env, -1);
  size_t n = sealed.length - TAG_BYTES;
  if (!get_position(env, argv[6], &out, n, &at)) return NULL;
  /* The tag is copied first: decrypting in place may overwrite it in the caller's buffer. */
  unsigned char tag[TAG_BYTES];
  memcpy(tag, sealed.data + n, TAG_BYTES);
  if (key->vaes) {
    /* The tag is checked before anything is written where input and output overlap. */
    bool good = vaes_open(&key->vkey, nonce, aad.data, aad.length, sealed.data, n, tag, out.data + at);
    return number(env, good ? (double)n : -1);
  }
  if (!begin_segment(env, key->open, false, nonce, &aad)) return NULL;
  int ok = open_bytes(env, key, sealed.data, n, tag, out.data + at);
  if (ok < 0) return NULL;
  return number(env, ok == 1 ? (double)n : -1);
}

/*
 * The process's allocator, not AES: this addon is the one piece of native code Ferry loads,
 * so the server's allocator setting lives here (src/server/allocator.ts says why). mallopt
 * with M_MMAP_THRESHOLD also turns off glibc's sliding threshold, which otherwise rises to
 * the size of every mmapped block freed (up to 32 MiB) and puts later blocks of that size in
 * the main heap, where freed memory stays in the process.
 */
static napi_value tune_malloc(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint32_t mmap_threshold, trim_threshold;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (napi_get_value_uint32(env, argv[0], &mmap_threshold) != napi_ok || napi_get_value_uint32(env, argv[1], &trim_threshold) != napi_ok) {
    napi_throw_type_error(env, NULL, "ferry-gcm: two byte counts were expected");
    return NULL;
  }
  bool applied = false;
#if defined(__GLIBC__)
  applied = mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, (int)trim_threshold) == 1;
#endif
  napi_value result;
  if (napi_get_boolean(env, applied, &result) != napi_ok) return NULL;
  return result;
}

/*
 * Gives the free memory of every glibc arena back to the system (malloc_trim(0): the free
 * pages inside each heap too, not only what sits at a heap's top, which is all the trim
 * threshold returns). The server calls it once it idles after traffic
 * (src/server/allocator.ts). Returns whether anything was given back; false off glibc.
 */
static napi_value trim_malloc(napi_env env, napi_callback_info info) {
  (void)info;
  bool released = false;
#if defined(__GLIBC__)
  released = malloc_trim(0) == 1;
#endif
  napi_value result;
  if (napi_get_boolean(env, released, &result) != napi_ok) return NULL;
  return result;
}

NAPI_MODULE_INIT() {
  const napi_property_descriptor methods[] = {
      {"newKey", NULL, new_key, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seal", NULL, seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealBegin", NULL, seal_begin, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealUpdate", NULL, seal_update, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealFinal", NULL, seal_final, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, open_segment, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tuneMalloc", NULL, tune_malloc, NULL, NULL, NULL, napi_enumerable, NULL},
      {"trimMalloc", NULL, trim_malloc, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  const char *choice = getenv("FERRY_GCM_IMPL");
  use_vaes = !(choice != NULL && strcmp(choice, "openssl") == 0) && vaes_available();
  napi_value implementation;
  if (napi_create_string_utf8(env, use_vaes ? "vaes-avx512" : "openssl", NAPI_AUTO_LENGTH, &implementation) != napi_ok) return NULL;
  const napi_property_descriptor name = {"implementation", NULL, NULL, NULL, NULL, implementation, napi_enumerable, NULL};
  if (napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods) != napi_ok) return NULL;
  if (napi_define_properties(env, exports, 1, &name) != napi_ok) return NULL;
  return exports;
}
